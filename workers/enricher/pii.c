/* PII rules: compilation from YAML, value detectors, Luhn, masking, HMAC tokens (pii.h). */
#include <arpa/inet.h>
#include <ctype.h>
#include <fnmatch.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "bc_options.h"
#include "pii.h"

/* ---- buffers ---------------------------------------------------------------------------- */

void pii_buf_free(struct pii_buf *b)
{
    if (b != NULL) {
        free(b->data);
        memset(b, 0, sizeof(*b));
    }
}

static void buf_reserve(struct pii_buf *b, size_t extra)
{
    if (b->len + extra + 1 <= b->cap) {
        return;
    }
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->len + extra + 1) {
        cap *= 2;
    }
    char *data = realloc(b->data, cap);
    if (data == NULL) {
        abort();
    }
    b->data = data;
    b->cap = cap;
}

static void buf_append(struct pii_buf *b, const char *s, size_t len)
{
    buf_reserve(b, len);
    memcpy(b->data + b->len, s, len);
    b->len += len;
    b->data[b->len] = '\0';
}

static void buf_set(struct pii_buf *b, const char *s, size_t len)
{
    b->len = 0;
    buf_append(b, s, len);
}

/* ---- building blocks -------------------------------------------------------------------- */

int pii_luhn(const char *digits, size_t n)
{
    if (n == 0) {
        return 0;
    }
    int sum = 0;
    for (size_t i = 0; i < n; i++) {
        int d = digits[n - 1 - i] - '0';
        if (i % 2 == 1) {
            d *= 2;
            if (d > 9) {
                d -= 9;
            }
        }
        sum += d;
    }
    return sum % 10 == 0;
}

void pii_token(const void *key, size_t key_len, const char *s, size_t len,
               char out[PII_TOKEN_LEN + 1])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    HMAC(EVP_sha256(), key, (int)key_len, (const unsigned char *)s, len, md, &md_len);
    memcpy(out, "tok_", 4);
    for (size_t i = 0; i < 16; i++) {
        out[4 + 2 * i] = hex[md[i] >> 4];
        out[5 + 2 * i] = hex[md[i] & 15];
    }
    out[PII_TOKEN_LEN] = '\0';
}

void pii_mask_append(struct pii_buf *out, const char *s, size_t len, int keep_last)
{
    size_t chars = 0;
    for (size_t i = 0; i < len; i++) {
        chars += ((unsigned char)s[i] & 0xC0) != 0x80;
    }
    /* A value no longer than what would be kept is masked whole: keeping it all leaks it. */
    size_t masked = chars > (size_t)keep_last ? chars - (size_t)keep_last : chars;
    size_t seen = 0, i = 0;
    buf_reserve(out, len + masked);
    for (; i < len; i++) {
        if (((unsigned char)s[i] & 0xC0) != 0x80) {
            if (seen == masked) {
                break;
            }
            seen++;
            out->data[out->len++] = '*';
        }
    }
    out->data[out->len] = '\0';
    buf_append(out, s + i, len - i);
}

/* ---- detectors ------------------------------------------------------------------------ */

static int is_local_char(int c)
{
    return isalnum(c) || c == '.' || c == '_' || c == '%' || c == '+' || c == '-';
}

static int is_domain_char(int c)
{
    return isalnum(c) || c == '.' || c == '-';
}

static int find_email(const char *s, size_t len, size_t from, size_t *start, size_t *end)
{
    for (size_t at = from + 1; at + 1 < len; at++) {
        /* the next '@' (memchr: most values have none) */
        const char *p = memchr(s + at, '@', len - 1 - at);
        if (p == NULL) {
            return 0;
        }
        at = (size_t)(p - s);
        size_t a = at;
        while (a > from && is_local_char((unsigned char)s[a - 1])) {
            a--;
        }
        size_t b = at + 1;
        while (b < len && is_domain_char((unsigned char)s[b])) {
            b++;
        }
        while (b > at + 1 && (s[b - 1] == '.' || s[b - 1] == '-')) {
            b--;
        }
        if (a == at || b == at + 1) {
            continue;
        }
        /* The domain needs a dot and a top-level label of two letters or more; labels that
         * do not fit are cut from the right ("a@b.example.eyJx" is "a@b.example"). */
        int ok = 0;
        while (b > at + 1 && !ok) {
            size_t dot = b;
            while (dot > at + 1 && s[dot - 1] != '.') {
                dot--;
            }
            if (dot == at + 1) {
                break; /* no dot left */
            }
            int alpha = b - dot >= 2;
            for (size_t i = dot; i < b && alpha; i++) {
                alpha = isalpha((unsigned char)s[i]) != 0;
            }
            if (alpha && s[dot - 2] != '.' && s[at + 1] != '.' && s[at + 1] != '-') {
                ok = 1;
            } else {
                b = dot - 1; /* drop the last label and its dot */
                while (b > at + 1 && (s[b - 1] == '.' || s[b - 1] == '-')) {
                    b--;
                }
            }
        }
        if (!ok) {
            continue;
        }
        *start = a;
        *end = b;
        return 1;
    }
    return 0;
}

/* Card numbers: 13-19 digits in groups separated by single spaces or dashes, Luhn-valid,
 * with no letter or digit right before or after. Within a longer run of groups ("order 12
 * 4111 1111 1111 1111"), any consecutive groups may form the number. */
/* Whether s[from, len) holds at least n characters c with lo <= c <= hi: a cheap test that a
 * detector cannot match (fewer than 13 digits: no card). */
static int has_at_least(const char *s, size_t len, size_t from, char lo, char hi, size_t n)
{
    size_t seen = 0;
    for (size_t i = from; i < len; i++) {
        seen += (unsigned char)(s[i] - lo) <= (unsigned char)(hi - lo);
        if (seen >= n) {
            return 1;
        }
    }
    return 0;
}

/* Whether s[from, len) holds at least n bytes c (memchr: fast when it holds none). */
static int has_chars(const char *s, size_t len, size_t from, char c, int n)
{
    const char *p = s + from, *e = s + len;
    for (int k = 0; k < n; k++) {
        if (p >= e || (p = memchr(p, c, (size_t)(e - p))) == NULL) {
            return 0;
        }
        p++;
    }
    return 1;
}

static int find_card(const char *s, size_t len, size_t from, size_t *start, size_t *end)
{
    if (!has_at_least(s, len, from, '0', '9', 13)) { /* a card has 13 digits or more */
        return 0;
    }
    size_t i = from;
    while (i < len) {
        if (!isdigit((unsigned char)s[i]) ||
            (i > 0 && (isalnum((unsigned char)s[i - 1]) || s[i - 1] == '.' || s[i - 1] == ','))) {
            i++;
            continue;
        }
        /* The run of groups starting at i. */
        enum { MAX_GROUPS = 40 };
        size_t gs[MAX_GROUPS], ge[MAX_GROUPS], ng = 0;
        size_t j = i;
        for (;;) {
            size_t g = j;
            while (j < len && isdigit((unsigned char)s[j])) {
                j++;
            }
            if (ng < MAX_GROUPS) {
                gs[ng] = g;
                ge[ng] = j;
                ng++;
            }
            if (j + 1 < len && (s[j] == ' ' || s[j] == '-') && isdigit((unsigned char)s[j + 1])) {
                j++;
                continue;
            }
            break;
        }
        int bad_tail = j < len && (isalpha((unsigned char)s[j]) || s[j] == '_');
        for (size_t a = 0; a < ng && !bad_tail; a++) {
            char digits[20];
            size_t nd = 0;
            size_t best = 0;
            for (size_t b = a; b < ng; b++) {
                size_t glen = ge[b] - gs[b];
                if (nd + glen > 19) {
                    break;
                }
                memcpy(digits + nd, s + gs[b], glen);
                nd += glen;
                if (nd >= 13 && pii_luhn(digits, nd)) {
                    best = b + 1;
                }
            }
            if (best > 0) {
                *start = gs[a];
                *end = ge[best - 1];
                return 1;
            }
        }
        i = j;
    }
    return 0;
}

static int find_ipv4(const char *s, size_t len, size_t from, size_t *start, size_t *end)
{
    if (!has_chars(s, len, from, '.', 3)) { /* a dotted quad has three dots */
        return 0;
    }
    for (size_t i = from; i < len; i++) {
        if (!isdigit((unsigned char)s[i]) ||
            (i > 0 && (isalnum((unsigned char)s[i - 1]) || s[i - 1] == '.'))) {
            continue;
        }
        size_t j = i;
        int parts = 0, ok = 1;
        while (parts < 4) {
            size_t d = j;
            int v = 0;
            while (j < len && isdigit((unsigned char)s[j]) && j - d < 4) {
                v = v * 10 + (s[j] - '0');
                j++;
            }
            if (j == d || j - d > 3 || v > 255) {
                ok = 0;
                break;
            }
            parts++;
            if (parts < 4) {
                if (j < len && s[j] == '.') {
                    j++;
                } else {
                    ok = 0;
                    break;
                }
            }
        }
        if (!ok ||
            (j < len && (isalnum((unsigned char)s[j]) ||
                         (s[j] == '.' && j + 1 < len && isdigit((unsigned char)s[j + 1]))))) {
            continue;
        }
        *start = i;
        *end = j;
        return 1;
    }
    return 0;
}

static int is_v6_char(int c)
{
    return isxdigit(c) || c == ':' || c == '.';
}

static int find_ipv6(const char *s, size_t len, size_t from, size_t *start, size_t *end)
{
    if (!has_chars(s, len, from, ':', 2)) { /* an address has two colons or more */
        return 0;
    }
    size_t i = from;
    while (i < len) {
        if (!is_v6_char((unsigned char)s[i])) {
            i++;
            continue;
        }
        size_t j = i;
        int colons = 0, digits = 0;
        while (j < len && is_v6_char((unsigned char)s[j])) {
            colons += s[j] == ':';
            digits += isxdigit((unsigned char)s[j]) != 0;
            j++;
        }
        size_t b = j;
        while (b > i && s[b - 1] == '.') {
            b--;
        }
        int bounded = (i == 0 || !isalnum((unsigned char)s[i - 1])) &&
                      (j == len || !isalnum((unsigned char)s[j]));
        /* "::" alone is the unspecified address: nobody's. */
        if (bounded && colons >= 2 && digits > 0 && b - i <= 45) {
            char tmp[46];
            unsigned char addr[16];
            memcpy(tmp, s + i, b - i);
            tmp[b - i] = '\0';
            if (inet_pton(AF_INET6, tmp, addr) == 1) {
                *start = i;
                *end = b;
                return 1;
            }
        }
        i = j;
    }
    return 0;
}

static int is_token_char(int c)
{
    return isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/';
}

static int is_b64url(int c)
{
    return isalnum(c) || c == '-' || c == '_';
}

/* A bare JWT at i: eyJ<b64url>.<b64url>.<b64url>*; returns its end or 0. */
static size_t jwt_at(const char *s, size_t len, size_t i)
{
    if (i + 3 > len || memcmp(s + i, "eyJ", 3) != 0 ||
        (i > 0 && is_b64url((unsigned char)s[i - 1]))) {
        return 0;
    }
    size_t j = i;
    for (int part = 0; part < 3; part++) {
        size_t p = j;
        while (j < len && is_b64url((unsigned char)s[j])) {
            j++;
        }
        if (j == p && part < 2) {
            return 0;
        }
        if (part < 2) {
            if (j >= len || s[j] != '.') {
                return 0;
            }
            j++;
        }
    }
    return j;
}

static int find_bearer(const char *s, size_t len, size_t from, size_t *start, size_t *end)
{
    for (size_t i = from; i < len; i++) {
        /* Only an 'e' can start a JWT ("eyJ") and only a 'b' or 'B' "Bearer". */
        size_t e = s[i] == 'e' ? jwt_at(s, len, i) : 0;
        if (e > 0) {
            *start = i;
            *end = e;
            return 1;
        }
        if ((s[i] | 0x20) == 'b' && i + 7 <= len && strncasecmp(s + i, "bearer", 6) == 0 &&
            s[i + 6] == ' ' &&
            (i == 0 || !isalnum((unsigned char)s[i - 1]))) {
            size_t j = i + 6;
            while (j < len && s[j] == ' ') {
                j++;
            }
            size_t t = j;
            while (j < len && is_token_char((unsigned char)s[j])) {
                j++;
            }
            while (j < len && s[j] == '=') {
                j++;
            }
            if (j > t) {
                *start = t;
                *end = j;
                return 1;
            }
        }
    }
    return 0;
}

int pii_find(const struct pii_rule *rule, const char *s, size_t len, size_t from, size_t *start,
             size_t *end)
{
    typedef int (*finder)(const char *, size_t, size_t, size_t *, size_t *);
    static const struct {
        unsigned bit;
        finder fn;
    } finders[] = {
        {PII_DETECT_EMAIL, find_email},   {PII_DETECT_CARD, find_card},
        {PII_DETECT_IPV4, find_ipv4},     {PII_DETECT_IPV6, find_ipv6},
        {PII_DETECT_BEARER, find_bearer},
    };
    int found = 0;
    size_t best_a = 0, best_b = 0;
    /* the rule's detectors only: bit k of detect is finders[k] */
    for (unsigned bits = rule->detect & ((1u << sizeof(finders) / sizeof(finders[0])) - 1);
         bits != 0; bits &= bits - 1) {
        int k = __builtin_ctz(bits);
        size_t a, b;
        if (finders[k].fn(s, len, from, &a, &b) &&
            (!found || a < best_a || (a == best_a && b > best_b))) {
            found = 1;
            best_a = a;
            best_b = b;
        }
    }
    if (rule->has_regex) {
        /* regexec needs a NUL-terminated string: values handed to pii_apply are. */
        size_t pos = from;
        while (pos <= len) {
            regmatch_t m;
            if (regexec(&rule->re, s + pos, 1, &m, pos > 0 ? REG_NOTBOL : 0) != 0) {
                break;
            }
            size_t a = pos + (size_t)m.rm_so, b = pos + (size_t)m.rm_eo;
            if (b == a) { /* an empty match redacts nothing: look further */
                pos = a + 1;
                continue;
            }
            if (!found || a < best_a || (a == best_a && b > best_b)) {
                found = 1;
                best_a = a;
                best_b = b;
            }
            break;
        }
    }
    if (found) {
        *start = best_a;
        *end = best_b;
    }
    return found;
}

/* ---- rules ---------------------------------------------------------------------------- */

/* Whether a fnmatch pattern has special characters; one without matches only itself. */
static int is_glob(const char *pattern)
{
    return strpbrk(pattern, "*?[\\") != NULL;
}

/* Whether s matches one of n patterns (exact, or fnmatch where glob[i]). */
static int any_matches(char *const *patterns, const unsigned char *glob, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(patterns[i], s) == 0 || (glob[i] && fnmatch(patterns[i], s, 0) == 0)) {
            return 1;
        }
    }
    return 0;
}

static int key_matches(const struct pii_rule *r, const char *key)
{
    return any_matches(r->keys, r->keys_glob, r->n_keys, key);
}

static int allowed(struct pii_rules *rules, const struct pii_rule *r, const char *s, size_t len)
{
    if (r->n_allow == 0) {
        return 0;
    }
    buf_set(&rules->scratch_text, s, len);
    return any_matches(r->allow, r->allow_glob, r->n_allow, rules->scratch_text.data);
}

static void redact_append(struct pii_rules *rules, struct pii_rule *r, struct pii_buf *out,
                          const char *s, size_t len)
{
    if (r->action == PII_MASK) {
        pii_mask_append(out, s, len, r->keep_last);
    } else if (r->action == PII_TOKENIZE) {
        char token[PII_TOKEN_LEN + 1];
        pii_token(rules->key, rules->key_len, s, len, token);
        buf_append(out, token, PII_TOKEN_LEN);
    } else {
        buf_append(out, "[REDACTED:", 10);
        buf_append(out, r->name, strlen(r->name));
        buf_append(out, "]", 1);
    }
}

enum pii_result pii_apply(struct pii_rules *rules, enum pii_scope scope, const char *key,
                          const char *s, size_t len, struct pii_buf *out)
{
    const char *cur = s;
    size_t cur_len = len;
    struct pii_buf *next = &rules->scratch_a, *other = &rules->scratch_b;
    int changed = 0;
    for (size_t i = 0; i < rules->n; i++) {
        struct pii_rule *r = &rules->v[i];
        if (!(r->scopes & scope) || (r->n_keys > 0 && (key == NULL || !key_matches(r, key)))) {
            continue;
        }
        if (r->detect == 0 && !r->has_regex) {
            /* A keys-only rule decides the whole value. */
            if (r->action == PII_ALLOW || allowed(rules, r, cur, cur_len)) {
                break;
            }
            r->hits++;
            if (r->action == PII_DROP && key != NULL) {
                return PII_DROPPED;
            }
            next->len = 0;
            redact_append(rules, r, next, cur, cur_len);
            cur = next->data;
            cur_len = next->len;
            changed = 1;
            break;
        }
        size_t pos = 0, a, b;
        int any = 0;
        next->len = 0;
        while (pos < cur_len && pii_find(r, cur, cur_len, pos, &a, &b)) {
            if (allowed(rules, r, cur + a, b - a)) {
                buf_append(next, cur + pos, b - pos);
                pos = b;
                continue;
            }
            r->hits++;
            if (r->action == PII_DROP && key != NULL) {
                return PII_DROPPED;
            }
            buf_append(next, cur + pos, a - pos);
            redact_append(rules, r, next, cur + a, b - a);
            pos = b;
            any = 1;
        }
        if (any) {
            buf_append(next, cur + pos, cur_len - pos);
            cur = next->data;
            cur_len = next->len;
            struct pii_buf *t = next;
            next = other;
            other = t;
            changed = 1;
        }
    }
    if (!changed) {
        return PII_KEEP;
    }
    buf_set(out, cur, cur_len);
    return PII_CHANGED;
}

int pii_key_action(struct pii_rules *rules, enum pii_scope scope, const char *key)
{
    for (size_t i = 0; i < rules->n; i++) {
        struct pii_rule *r = &rules->v[i];
        if ((r->scopes & scope) && r->n_keys > 0 && r->detect == 0 && !r->has_regex &&
            key_matches(r, key)) {
            if (r->action != PII_ALLOW) {
                r->hits++;
            }
            return (int)r->action;
        }
    }
    return -1;
}

/* ---- compilation ---------------------------------------------------------------------- */

/* Where and why a rule does not compile. */
struct rule_err {
    const struct bc_node *at;
    char *why;
    size_t why_size;
};

__attribute__((format(printf, 3, 4))) static int
rule_error(struct rule_err *e, const struct bc_node *at, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->why, e->why_size, fmt, ap);
    va_end(ap);
    e->at = at;
    return -1;
}

/* Per pattern, whether it is a glob (is_glob): a new array of n flags (at least 1 byte). */
static unsigned char *glob_flags(char *const *patterns, size_t n)
{
    unsigned char *glob = calloc(n ? n : 1, 1);
    for (size_t i = 0; glob != NULL && i < n; i++) {
        glob[i] = (unsigned char)is_glob(patterns[i]);
    }
    return glob;
}

/* A scalar or a list of scalars into a new string array. */
static int string_list(const struct bc_node *node, char ***out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (node == NULL || (node->kind == BC_NODE_SCALAR && node->is_null)) {
        return 0;
    }
    size_t count = node->kind == BC_NODE_SCALAR ? 1 : node->kind == BC_NODE_SEQ ? node->n : 0;
    if (node->kind == BC_NODE_MAP) {
        return -1;
    }
    char **v = calloc(count ? count : 1, sizeof(*v));
    if (v == NULL) {
        return -1;
    }
    for (size_t i = 0; i < count; i++) {
        const struct bc_node *item = node->kind == BC_NODE_SCALAR ? node : node->values[i];
        if (item->kind != BC_NODE_SCALAR || (v[i] = strdup(item->scalar)) == NULL) {
            for (size_t k = 0; k < i; k++) {
                free(v[k]);
            }
            free(v);
            return -1;
        }
    }
    *out = v;
    *n = count;
    return 0;
}

static const struct {
    const char *name;
    unsigned bits;
} detectors[] = {
    {"email", PII_DETECT_EMAIL},
    {"card", PII_DETECT_CARD},
    {"ipv4", PII_DETECT_IPV4},
    {"ipv6", PII_DETECT_IPV6},
    {"ip", PII_DETECT_IPV4 | PII_DETECT_IPV6},
    {"bearer", PII_DETECT_BEARER},
};

static const char *const action_names[] = {"drop", "mask", "tokenize", "allow", NULL};

static int compile_rule(struct pii_rule *r, const struct bc_node *node, struct rule_err *e)
{
    const struct bc_node *name = bc_node_get(node, "name");
    if (node->kind != BC_NODE_MAP || name == NULL || name->kind != BC_NODE_SCALAR) {
        return rule_error(e, node, "a PII rule needs a name");
    }
    if ((r->name = strdup(name->scalar)) == NULL) {
        return -1;
    }
    const struct bc_node *action = bc_node_get(node, "action");
    int act = -1;
    for (int i = 0; action != NULL && action->kind == BC_NODE_SCALAR && action_names[i]; i++) {
        if (strcmp(action->scalar, action_names[i]) == 0) {
            act = i;
        }
    }
    if (act < 0) {
        return rule_error(e, action ? action : node,
                          "action must be one of: drop, mask, tokenize, allow");
    }
    r->action = (enum pii_action)act;
    r->scopes = PII_IN_ATTRIBUTES;
    const struct bc_node *in = bc_node_get(node, "in");
    if (in != NULL) {
        char **scopes;
        size_t n;
        if (string_list(in, &scopes, &n) != 0) {
            return rule_error(e, in, "in must be a name or a list");
        }
        r->scopes = 0;
        int bad = 0;
        for (size_t i = 0; i < n; i++) {
            if (strcmp(scopes[i], "attributes") == 0) {
                r->scopes |= PII_IN_ATTRIBUTES;
            } else if (strcmp(scopes[i], "resource") == 0) {
                r->scopes |= PII_IN_RESOURCE;
            } else if (strcmp(scopes[i], "body") == 0) {
                r->scopes |= PII_IN_BODY;
            } else if (strcmp(scopes[i], "all") == 0) {
                r->scopes |= PII_IN_ATTRIBUTES | PII_IN_RESOURCE | PII_IN_BODY;
            } else {
                bad = 1;
            }
            free(scopes[i]);
        }
        free(scopes);
        if (bad || r->scopes == 0) {
            return rule_error(e, in, "in must be attributes, resource, body or all");
        }
    }
    if (string_list(bc_node_get(node, "keys"), &r->keys, &r->n_keys) != 0) {
        return rule_error(e, bc_node_get(node, "keys"), "keys must be a name or a list of names");
    }
    if ((r->keys_glob = glob_flags(r->keys, r->n_keys)) == NULL) {
        return rule_error(e, node, "out of memory");
    }
    const struct bc_node *detect = bc_node_get(node, "detect");
    char **names;
    size_t n_names;
    if (string_list(detect, &names, &n_names) != 0) {
        return rule_error(e, detect, "detect must be a list");
    }
    int bad = 0;
    for (size_t i = 0; i < n_names; i++) {
        unsigned bits = 0;
        for (size_t k = 0; k < sizeof(detectors) / sizeof(detectors[0]); k++) {
            if (strcmp(names[i], detectors[k].name) == 0) {
                bits = detectors[k].bits;
            }
        }
        bad |= bits == 0;
        r->detect |= bits;
        free(names[i]);
    }
    free(names);
    if (bad) {
        return rule_error(e, detect, "detect takes email, card, ipv4, ipv6, ip, bearer");
    }
    const struct bc_node *pattern = bc_node_get(node, "pattern");
    if (pattern != NULL) {
        if (pattern->kind != BC_NODE_SCALAR) {
            return rule_error(e, pattern, "pattern must be a string");
        }
        int rc = regcomp(&r->re, pattern->scalar, REG_EXTENDED);
        if (rc != 0) {
            char why[128];
            regerror(rc, &r->re, why, sizeof(why));
            return rule_error(e, pattern, "bad pattern: %s", why);
        }
        r->has_regex = 1;
    }
    if (r->n_keys == 0 && r->detect == 0 && !r->has_regex) {
        return rule_error(e, node, "needs keys, detect or pattern");
    }
    if (r->action == PII_ALLOW && (r->detect != 0 || r->has_regex)) {
        return rule_error(e, node,
                          "action allow takes keys only (use `allow:` on a rule to "
                          "exempt matched values)");
    }
    if (string_list(bc_node_get(node, "allow"), &r->allow, &r->n_allow) != 0) {
        return rule_error(e, bc_node_get(node, "allow"),
                          "allow must be a value or a list of values");
    }
    if ((r->allow_glob = glob_flags(r->allow, r->n_allow)) == NULL) {
        return rule_error(e, node, "out of memory");
    }
    r->keep_last = PII_DEFAULT_KEEP_LAST;
    const struct bc_node *keep = bc_node_get(node, "keep_last");
    if (keep != NULL) {
        char *endp;
        long v = keep->kind == BC_NODE_SCALAR ? strtol(keep->scalar, &endp, 10) : -1;
        if (keep->kind != BC_NODE_SCALAR || *endp != '\0' || v < 0 || v > 64) {
            return rule_error(e, keep, "keep_last must be an integer from 0 to 64");
        }
        r->keep_last = (int)v;
    }
    return 0;
}

int pii_rules_need_key(const struct bc_node *node)
{
    if (node == NULL || node->kind != BC_NODE_SEQ) {
        return 0;
    }
    for (size_t i = 0; i < node->n; i++) {
        const struct bc_node *action = bc_node_get(node->values[i], "action");
        if (action != NULL && action->kind == BC_NODE_SCALAR &&
            strcmp(action->scalar, "tokenize") == 0) {
            return 1;
        }
    }
    return 0;
}

static void format_error(const struct rule_err *e, char *errstr, size_t errstr_size)
{
    if (e->at != NULL && e->at->pos.line > 0) {
        snprintf(errstr, errstr_size, "%s:%d:%d: %s", e->at->pos.file ? e->at->pos.file : "?",
                 e->at->pos.line, e->at->pos.column, e->why);
    } else {
        snprintf(errstr, errstr_size, "%s", e->why);
    }
}

static void rule_free(struct pii_rule *r)
{
    free(r->name);
    for (size_t k = 0; k < r->n_keys; k++) {
        free(r->keys[k]);
    }
    free(r->keys);
    free(r->keys_glob);
    for (size_t k = 0; k < r->n_allow; k++) {
        free(r->allow[k]);
    }
    free(r->allow);
    free(r->allow_glob);
    if (r->has_regex) {
        regfree(&r->re);
    }
}

int pii_rule_check(const struct bc_node *rule, const struct bc_node **at, char *why,
                   size_t why_size)
{
    struct pii_rule r;
    memset(&r, 0, sizeof(r));
    struct rule_err e = {.at = NULL, .why = why, .why_size = why_size};
    int rc = compile_rule(&r, rule, &e);
    rule_free(&r);
    *at = e.at != NULL ? e.at : rule;
    return rc;
}

struct pii_rules *pii_rules_new(const struct bc_node *node, const void *key, size_t key_len,
                                char *errstr, size_t errstr_size)
{
    char why[256];
    struct rule_err e = {.at = NULL, .why = why, .why_size = sizeof(why)};
    struct pii_rules *rules = calloc(1, sizeof(*rules));
    if (rules == NULL) {
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    if (node == NULL || (node->kind == BC_NODE_SCALAR && node->is_null)) {
        return rules;
    }
    if (node->kind != BC_NODE_SEQ) {
        rule_error(&e, node, "pii must be a list of rules");
        goto fail;
    }
    if ((rules->v = calloc(node->n ? node->n : 1, sizeof(*rules->v))) == NULL) {
        rule_error(&e, NULL, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < node->n; i++) {
        rules->n++;
        if (compile_rule(&rules->v[i], node->values[i], &e) != 0) {
            if (rules->v[i].name != NULL) {
                char tmp[sizeof(why)];
                memcpy(tmp, why, sizeof(tmp));
                snprintf(why, sizeof(why), "rule %.64s: %.180s", rules->v[i].name, tmp);
            }
            goto fail;
        }
        if (rules->v[i].action == PII_TOKENIZE && (key == NULL || key_len == 0)) {
            rule_error(&e, node->values[i], "rule %s: tokenize needs an HMAC key, and none is set",
                       rules->v[i].name);
            goto fail;
        }
    }
    if (key != NULL && key_len > 0) {
        if ((rules->key = malloc(key_len)) == NULL) {
            rule_error(&e, NULL, "out of memory");
            goto fail;
        }
        memcpy(rules->key, key, key_len);
        rules->key_len = key_len;
    }
    return rules;
fail:
    format_error(&e, errstr, errstr_size);
    pii_rules_destroy(rules);
    return NULL;
}

void pii_rules_destroy(struct pii_rules *rules)
{
    if (rules == NULL) {
        return;
    }
    for (size_t i = 0; i < rules->n; i++) {
        rule_free(&rules->v[i]);
    }
    free(rules->v);
    pii_buf_free(&rules->scratch_a);
    pii_buf_free(&rules->scratch_b);
    pii_buf_free(&rules->scratch_text);
    if (rules->key != NULL) {
        OPENSSL_cleanse(rules->key, rules->key_len);
        free(rules->key);
    }
    free(rules);
}
