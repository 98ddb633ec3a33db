/* Sampling policies: compiler and evaluator (see policy.h for the semantics). */
#include "policy.h"

#include <errno.h>
#include <math.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

enum kind {
    K_ALWAYS,
    K_STATUS,
    K_LATENCY,
    K_STRING,
    K_NUMERIC,
    K_BOOLEAN,
    K_PROBABILISTIC,
    K_RATE,
    K_BYTES,
    K_SPAN_COUNT,
    K_AND,
    K_DROP,
};

struct kind_info {
    const char *type;
    enum kind kind;
    const char *const keys[6]; /* keys besides name and type, NULL-terminated */
};

static const struct kind_info kinds[] = {
    {"always_sample", K_ALWAYS, {NULL}},
    {"status_code", K_STATUS, {"status_codes", NULL}},
    {"latency", K_LATENCY, {"threshold", "upper_threshold", NULL}},
    {"string_attribute", K_STRING, {"key", "values", "regex", "invert", NULL}},
    {"numeric_attribute", K_NUMERIC, {"key", "min", "max", "invert", NULL}},
    {"boolean_attribute", K_BOOLEAN, {"key", "value", "invert", NULL}},
    {"probabilistic", K_PROBABILISTIC, {"percentage", "hash_salt", NULL}},
    {"rate_limiting", K_RATE, {"spans_per_second", NULL}},
    {"bytes_limiting", K_BYTES, {"bytes_per_second", NULL}},
    {"span_count", K_SPAN_COUNT, {"min_spans", "max_spans", NULL}},
    {"and", K_AND, {"policies", NULL}},
    {"drop", K_DROP, {"policies", NULL}},
};

/* One compiled policy. Invariants: slot >= 0 exactly for span predicates (status and the
 * attribute kinds); bucket >= 0 exactly for limiters; children only for and/drop. */
struct node {
    enum kind kind;
    char *name;
    int slot;
    int bucket;
    int invert;
    int regex; /* string_attribute: values are POSIX extended regexes */
    unsigned status_mask; /* bit (1 << status code) */
    int64_t threshold_ns, upper_ns; /* upper_ns < 0: none */
    char *key;
    char **values;
    regex_t *regexes; /* n_values compiled patterns when regex */
    size_t n_values;
    int has_min, has_max;
    double min, max;
    int bool_value;
    uint64_t seed;
    uint64_t hash_threshold; /* sampled when hash < threshold, or always when all */
    int all;
    double probability;
    int64_t limit;
    int64_t min_spans, max_spans; /* max_spans < 0: none */
    struct node **children;
    size_t n_children;
};

struct ts_policies {
    enum ts_mode mode;
    struct node **top;
    size_t n_top;
    struct node **slots; /* span predicates by slot */
    size_t n_slots;
    size_t n_buckets;
};

/* ---- compiler ------------------------------------------------------------------------ */

struct compiler {
    struct ts_policies *p;
    ts_report_fn report;
    void *opaque;
    int errors;
    const char *path;
};

static void error_at(struct compiler *c, const struct bc_node *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void error_at(struct compiler *c, const struct bc_node *at, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    c->errors++;
    if (c->report != NULL) {
        c->report(c->opaque, at, msg);
    }
}

static void node_free(struct node *n)
{
    if (n == NULL) {
        return;
    }
    free(n->name);
    free(n->key);
    for (size_t i = 0; i < n->n_values; i++) {
        free(n->values[i]);
        if (n->regexes != NULL) {
            regfree(&n->regexes[i]);
        }
    }
    free(n->values);
    free(n->regexes);
    for (size_t i = 0; i < n->n_children; i++) {
        node_free(n->children[i]);
    }
    free(n->children);
    free(n);
}

static const struct bc_node *scalar(struct compiler *c, const struct bc_node *rule,
                                    const char *key, const char *what, int required)
{
    const struct bc_node *v = bc_node_get(rule, key);
    if (v == NULL) {
        if (required) {
            error_at(c, rule, "%s: needs %s (%s)", c->path, key, what);
        }
        return NULL;
    }
    if (v->kind != BC_NODE_SCALAR || v->is_null) {
        error_at(c, v, "%s: %s must be %s, not %s", c->path, key, what, bc_node_kind_name(v));
        return NULL;
    }
    return v;
}

static int parse_double(const char *s, double *out)
{
    char *end = NULL;
    errno = 0;
    double d = strtod(s, &end);
    if (end == s || *end != '\0' || errno != 0 || !isfinite(d)) {
        return -1;
    }
    *out = d;
    return 0;
}

static int parse_int(const char *s, int64_t *out)
{
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (end == s || *end != '\0' || errno != 0) {
        return -1;
    }
    *out = v;
    return 0;
}

static int parse_bool(const char *s, int *out)
{
    if (strcmp(s, "true") == 0) {
        *out = 1;
    } else if (strcmp(s, "false") == 0) {
        *out = 0;
    } else {
        return -1;
    }
    return 0;
}

static void opt_bool(struct compiler *c, const struct bc_node *rule, const char *key, int *out)
{
    const struct bc_node *v = scalar(c, rule, key, "true or false", 0);
    if (v != NULL && parse_bool(v->scalar, out) != 0) {
        error_at(c, v, "%s: %s must be true or false, not '%s'", c->path, key, v->scalar);
    }
}

static int64_t duration_ns(struct compiler *c, const struct bc_node *rule, const char *key,
                           int required)
{
    const struct bc_node *v = scalar(c, rule, key, "a duration (e.g. 2s)", required);
    int64_t ms = -1;
    if (v != NULL && bc_duration_parse(v->scalar, &ms) != 0) {
        error_at(c, v, "%s: %s must be a duration (e.g. 2s), not '%s'", c->path, key,
                 v->scalar);
        return -1;
    }
    return ms < 0 ? -1 : ms * 1000000;
}

static int64_t positive_int(struct compiler *c, const struct bc_node *rule, const char *key,
                            int size, int required)
{
    const struct bc_node *v = scalar(c, rule, key, "a positive integer", required);
    int64_t x = -1;
    if (v == NULL) {
        return -1;
    }
    int rc = size ? bc_size_parse(v->scalar, &x) : parse_int(v->scalar, &x);
    if (rc != 0 || x < (size ? 1 : 0)) {
        error_at(c, v, "%s: %s must be a %s, not '%s'", c->path, key,
                 size ? "positive size (e.g. 1MiB)" : "non-negative integer", v->scalar);
        return -1;
    }
    return x;
}

static void status_codes(struct compiler *c, const struct bc_node *rule, struct node *n)
{
    const struct bc_node *v = bc_node_get(rule, "status_codes");
    if (v == NULL) {
        error_at(c, rule, "%s: needs status_codes (a list of ERROR, OK, UNSET)", c->path);
        return;
    }
    size_t count = v->kind == BC_NODE_SEQ ? v->n : 1;
    for (size_t i = 0; i < count; i++) {
        const struct bc_node *item = v->kind == BC_NODE_SEQ ? v->values[i] : v;
        static const char *const names[] = {"UNSET", "OK", "ERROR"};
        int code = -1;
        for (int k = 0; item->kind == BC_NODE_SCALAR && k < 3; k++) {
            if (strcmp(item->scalar, names[k]) == 0) {
                code = k;
            }
        }
        if (code < 0) {
            error_at(c, item, "%s: status code must be ERROR, OK or UNSET, not %s%s%s", c->path,
                     item->kind == BC_NODE_SCALAR ? "'" : "",
                     item->kind == BC_NODE_SCALAR ? item->scalar : bc_node_kind_name(item),
                     item->kind == BC_NODE_SCALAR ? "'" : "");
            continue;
        }
        n->status_mask |= 1u << code;
    }
    if (count == 0) {
        error_at(c, v, "%s: status_codes must not be empty", c->path);
    }
}

static void string_values(struct compiler *c, const struct bc_node *rule, struct node *n)
{
    const struct bc_node *v = bc_node_get(rule, "values");
    if (v == NULL) {
        error_at(c, rule, "%s: needs values (a list of strings)", c->path);
        return;
    }
    size_t count = v->kind == BC_NODE_SEQ ? v->n : 1;
    if (count == 0) {
        error_at(c, v, "%s: values must not be empty", c->path);
        return;
    }
    n->values = calloc(count, sizeof(*n->values));
    if (n->regex) {
        n->regexes = calloc(count, sizeof(*n->regexes));
    }
    if (n->values == NULL || (n->regex && n->regexes == NULL)) {
        error_at(c, v, "%s: out of memory", c->path);
        return;
    }
    for (size_t i = 0; i < count; i++) {
        const struct bc_node *item = v->kind == BC_NODE_SEQ ? v->values[i] : v;
        if (item->kind != BC_NODE_SCALAR || item->is_null) {
            error_at(c, item, "%s: values must be strings, not %s", c->path,
                     bc_node_kind_name(item));
            continue;
        }
        if (n->regex) {
            int rc = regcomp(&n->regexes[n->n_values], item->scalar, REG_EXTENDED | REG_NOSUB);
            if (rc != 0) {
                char why[128];
                regerror(rc, &n->regexes[n->n_values], why, sizeof(why));
                regfree(&n->regexes[n->n_values]);
                error_at(c, item, "%s: bad regex '%s': %s", c->path, item->scalar, why);
                continue;
            }
        }
        n->values[n->n_values++] = strdup(item->scalar);
    }
}

static struct node *compile_one(struct compiler *c, const struct bc_node *rule, int depth);

static void compile_children(struct compiler *c, const struct bc_node *rule, struct node *n,
                             int depth)
{
    const struct bc_node *list = bc_node_get(rule, "policies");
    if (list == NULL || list->kind != BC_NODE_SEQ || list->n == 0) {
        error_at(c, list != NULL ? list : rule, "%s: needs policies (a non-empty list)", c->path);
        return;
    }
    n->children = calloc(list->n, sizeof(*n->children));
    if (n->children == NULL) {
        error_at(c, list, "%s: out of memory", c->path);
        return;
    }
    for (size_t i = 0; i < list->n; i++) {
        struct node *child = compile_one(c, list->values[i], depth + 1);
        if (child != NULL) {
            if (child->kind == K_DROP) {
                error_at(c, list->values[i], "%s: a drop policy must be at the top level",
                         c->path);
                node_free(child);
                continue;
            }
            n->children[n->n_children++] = child;
        }
    }
}

static int add_slot(struct compiler *c, struct node *n)
{
    struct node **slots = realloc(c->p->slots, (c->p->n_slots + 1) * sizeof(*slots));
    if (slots == NULL) {
        return -1;
    }
    c->p->slots = slots;
    slots[c->p->n_slots] = n;
    return (int)c->p->n_slots++;
}

static struct node *compile_one(struct compiler *c, const struct bc_node *rule, int depth)
{
    if (rule->kind != BC_NODE_MAP) {
        error_at(c, rule, "%s: a policy must be a map, not %s", c->path, bc_node_kind_name(rule));
        return NULL;
    }
    if (depth > 8) {
        error_at(c, rule, "%s: policies nested too deep", c->path);
        return NULL;
    }
    const struct bc_node *name = scalar(c, rule, "name", "a string", 1);
    const struct bc_node *type = scalar(c, rule, "type", "a policy type", 1);
    if (name == NULL || type == NULL) {
        return NULL;
    }
    const struct kind_info *info = NULL;
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        if (strcmp(kinds[i].type, type->scalar) == 0) {
            info = &kinds[i];
        }
    }
    if (info == NULL) {
        error_at(c, type,
                 "%s: unknown policy type '%s' (expected one of: always_sample, status_code, "
                 "latency, string_attribute, numeric_attribute, boolean_attribute, "
                 "probabilistic, rate_limiting, bytes_limiting, span_count, and, drop)",
                 c->path, type->scalar);
        return NULL;
    }
    for (size_t i = 0; i < rule->n; i++) {
        const char *k = rule->keys[i]->scalar;
        int ok = strcmp(k, "name") == 0 || strcmp(k, "type") == 0;
        for (size_t j = 0; !ok && info->keys[j] != NULL; j++) {
            ok = strcmp(k, info->keys[j]) == 0;
        }
        if (!ok) {
            char allowed[160] = "name, type";
            for (size_t j = 0; info->keys[j] != NULL; j++) {
                strncat(allowed, ", ", sizeof(allowed) - strlen(allowed) - 1);
                strncat(allowed, info->keys[j], sizeof(allowed) - strlen(allowed) - 1);
            }
            error_at(c, rule->keys[i], "%s: unknown key '%s' in a %s policy (expected one of: %s)",
                     c->path, k, info->type, allowed);
        }
    }
    struct node *n = calloc(1, sizeof(*n));
    if (n == NULL) {
        error_at(c, rule, "%s: out of memory", c->path);
        return NULL;
    }
    n->kind = info->kind;
    n->name = strdup(name->scalar);
    n->slot = -1;
    n->bucket = -1;
    n->upper_ns = -1;
    n->max_spans = -1;
    n->probability = 1.0;
    int errors = c->errors;
    switch (n->kind) {
    case K_ALWAYS:
        break;
    case K_STATUS:
        status_codes(c, rule, n);
        break;
    case K_LATENCY:
        n->threshold_ns = duration_ns(c, rule, "threshold", 1);
        n->upper_ns = duration_ns(c, rule, "upper_threshold", 0);
        if (n->upper_ns >= 0 && n->upper_ns < n->threshold_ns) {
            error_at(c, bc_node_get(rule, "upper_threshold"),
                     "%s: upper_threshold must not be below threshold", c->path);
        }
        break;
    case K_STRING:
    case K_NUMERIC:
    case K_BOOLEAN: {
        const struct bc_node *key = scalar(c, rule, "key", "an attribute name", 1);
        n->key = key != NULL ? strdup(key->scalar) : NULL;
        opt_bool(c, rule, "invert", &n->invert);
        if (n->kind == K_STRING) {
            opt_bool(c, rule, "regex", &n->regex);
            string_values(c, rule, n);
        } else if (n->kind == K_NUMERIC) {
            const struct bc_node *min = scalar(c, rule, "min", "a number", 0);
            const struct bc_node *max = scalar(c, rule, "max", "a number", 0);
            if (min != NULL && parse_double(min->scalar, &n->min) != 0) {
                error_at(c, min, "%s: min must be a number, not '%s'", c->path, min->scalar);
            }
            if (max != NULL && parse_double(max->scalar, &n->max) != 0) {
                error_at(c, max, "%s: max must be a number, not '%s'", c->path, max->scalar);
            }
            n->has_min = min != NULL;
            n->has_max = max != NULL;
            if (!n->has_min && !n->has_max) {
                error_at(c, rule, "%s: needs min or max (or both)", c->path);
            } else if (n->has_min && n->has_max && n->max < n->min) {
                error_at(c, max, "%s: max must not be below min", c->path);
            }
        } else {
            const struct bc_node *v = scalar(c, rule, "value", "true or false", 1);
            if (v != NULL && parse_bool(v->scalar, &n->bool_value) != 0) {
                error_at(c, v, "%s: value must be true or false, not '%s'", c->path, v->scalar);
            }
        }
        break;
    }
    case K_PROBABILISTIC: {
        const struct bc_node *pct = scalar(c, rule, "percentage", "a number from 0 to 100", 1);
        double p = 0;
        if (pct != NULL && (parse_double(pct->scalar, &p) != 0 || p < 0 || p > 100)) {
            error_at(c, pct, "%s: percentage must be a number from 0 to 100, not '%s'", c->path,
                     pct->scalar);
        }
        n->probability = p / 100.0;
        n->all = p >= 100;
        n->hash_threshold = n->all ? UINT64_MAX : (uint64_t)ldexp(p / 100.0, 64);
        const struct bc_node *salt = scalar(c, rule, "hash_salt", "a string", 0);
        n->seed = salt != NULL ? XXH3_64bits(salt->scalar, strlen(salt->scalar)) : 0;
        break;
    }
    case K_RATE:
        n->limit = positive_int(c, rule, "spans_per_second", 0, 1);
        if (bc_node_get(rule, "spans_per_second") != NULL && n->limit == 0) {
            error_at(c, bc_node_get(rule, "spans_per_second"),
                     "%s: spans_per_second must be at least 1", c->path);
        }
        break;
    case K_BYTES:
        n->limit = positive_int(c, rule, "bytes_per_second", 1, 1);
        break;
    case K_SPAN_COUNT:
        n->min_spans = positive_int(c, rule, "min_spans", 0, 1);
        n->max_spans = positive_int(c, rule, "max_spans", 0, 0);
        if (n->max_spans >= 0 && n->max_spans < n->min_spans) {
            error_at(c, bc_node_get(rule, "max_spans"),
                     "%s: max_spans must not be below min_spans", c->path);
        }
        break;
    case K_AND:
    case K_DROP:
        compile_children(c, rule, n, depth);
        break;
    }
    if (c->errors != errors) {
        node_free(n);
        return NULL;
    }
    if (n->kind == K_STATUS || n->kind == K_STRING || n->kind == K_NUMERIC ||
        n->kind == K_BOOLEAN) {
        n->slot = add_slot(c, n);
    } else if (n->kind == K_RATE || n->kind == K_BYTES) {
        n->bucket = (int)c->p->n_buckets++;
    }
    return n;
}

int ts_policies_compile(const struct bc_node *list, enum ts_mode mode, ts_report_fn report,
                        void *opaque, struct ts_policies **out)
{
    struct compiler c = {.report = report, .opaque = opaque, .path = "policies"};
    *out = NULL;
    c.p = calloc(1, sizeof(*c.p));
    if (c.p == NULL) {
        error_at(&c, list, "out of memory");
        return c.errors;
    }
    c.p->mode = mode;
    if (list == NULL || list->kind != BC_NODE_SEQ || list->n == 0) {
        error_at(&c, list, "policies: must be a non-empty list of policies");
        ts_policies_destroy(c.p);
        return c.errors;
    }
    c.p->top = calloc(list->n, sizeof(*c.p->top));
    if (c.p->top == NULL) {
        error_at(&c, list, "out of memory");
        ts_policies_destroy(c.p);
        return c.errors;
    }
    for (size_t i = 0; i < list->n; i++) {
        struct node *n = compile_one(&c, list->values[i], 0);
        if (n == NULL) {
            continue;
        }
        for (size_t j = 0; j < c.p->n_top; j++) {
            if (strcmp(c.p->top[j]->name, n->name) == 0) {
                error_at(&c, bc_node_get(list->values[i], "name"),
                         "policies: duplicate policy name '%s'", n->name);
            }
        }
        c.p->top[c.p->n_top++] = n;
    }
    if (c.errors != 0) {
        ts_policies_destroy(c.p);
        return c.errors;
    }
    *out = c.p;
    return 0;
}

void ts_policies_destroy(struct ts_policies *p)
{
    if (p == NULL) {
        return;
    }
    for (size_t i = 0; i < p->n_top; i++) {
        node_free(p->top[i]);
    }
    free(p->top);
    free(p->slots);
    free(p);
}

size_t ts_acc_size(const struct ts_policies *p)
{
    size_t size = sizeof(struct ts_acc) + p->n_slots;
    return (size + 7) & ~(size_t)7;
}

size_t ts_policies_slots(const struct ts_policies *p)
{
    return p->n_slots;
}

size_t ts_policies_buckets(const struct ts_policies *p)
{
    return p->n_buckets;
}

int ts_policies_read_attributes(const struct ts_policies *p)
{
    for (size_t i = 0; i < p->n_slots; i++) {
        if (p->slots[i]->kind != K_STATUS) {
            return 1; /* an attribute predicate (span_matches) */
        }
    }
    return 0;
}

size_t ts_policies_count(const struct ts_policies *p)
{
    return p->n_top;
}

const char *ts_policies_name(const struct ts_policies *p, size_t i)
{
    return i < p->n_top ? p->top[i]->name : NULL;
}

/* ---- accumulation -------------------------------------------------------------------- */

void ts_acc_init(const struct ts_policies *p, struct ts_acc *acc)
{
    memset(acc, 0, ts_acc_size(p));
}

static int attr_matches(const struct node *n, const struct ts_attr *a)
{
    switch (n->kind) {
    case K_STRING:
        if (a->type != TS_ATTR_STRING) {
            return 0;
        }
        for (size_t i = 0; i < n->n_values; i++) {
            if (n->regexes != NULL ? regexec(&n->regexes[i], a->s, 0, NULL, 0) == 0
                                   : strcmp(n->values[i], a->s) == 0) {
                return 1;
            }
        }
        return 0;
    case K_NUMERIC: {
        double v;
        if (a->type == TS_ATTR_LONG) {
            v = (double)a->i;
        } else if (a->type == TS_ATTR_DOUBLE) {
            v = a->d;
        } else {
            return 0;
        }
        return (!n->has_min || v >= n->min) && (!n->has_max || v <= n->max);
    }
    case K_BOOLEAN:
        return a->type == TS_ATTR_BOOL && (a->i != 0) == (n->bool_value != 0);
    default:
        return 0;
    }
}

static int span_matches(const struct node *n, const struct ts_span *span)
{
    if (n->kind == K_STATUS) {
        return span->status >= 0 && span->status < 3 && (n->status_mask & (1u << span->status));
    }
    for (size_t i = 0; i < span->attr_count; i++) {
        if (strcmp(span->attrs[i].key, n->key) == 0 && attr_matches(n, &span->attrs[i])) {
            return 1;
        }
    }
    return 0;
}

void ts_acc_add(const struct ts_policies *p, struct ts_acc *acc, const struct ts_span *span)
{
    if (acc->spans == 0 || span->start_ns < acc->min_start_ns) {
        acc->min_start_ns = span->start_ns;
    }
    if (acc->spans == 0 || span->end_ns > acc->max_end_ns) {
        acc->max_end_ns = span->end_ns;
    }
    acc->spans++;
    acc->bytes += span->bytes;
    for (size_t i = 0; i < p->n_slots; i++) {
        if (!acc->match[i] && span_matches(p->slots[i], span)) {
            acc->match[i] = 1;
        }
    }
}

/* ---- decision ------------------------------------------------------------------------ */

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static enum ts_verdict eval(const struct node *n, const struct ts_acc *acc,
                            const uint8_t trace_id[16], struct ts_bucket *buckets,
                            int32_t partitions, double *prob)
{
    *prob = 1.0;
    switch (n->kind) {
    case K_ALWAYS:
        return TS_SAMPLED;
    case K_STATUS:
    case K_STRING:
    case K_NUMERIC:
    case K_BOOLEAN: {
        int m = acc->match[n->slot];
        if (n->invert) {
            return m ? TS_INVERT_NOT_SAMPLED : TS_INVERT_SAMPLED;
        }
        return m ? TS_SAMPLED : TS_NOT_SAMPLED;
    }
    case K_LATENCY: {
        if (acc->spans == 0) {
            return TS_NOT_SAMPLED;
        }
        int64_t d = acc->max_end_ns - acc->min_start_ns;
        return d >= n->threshold_ns && (n->upper_ns < 0 || d <= n->upper_ns) ? TS_SAMPLED
                                                                             : TS_NOT_SAMPLED;
    }
    case K_PROBABILISTIC: {
        *prob = n->probability;
        if (n->all) {
            return TS_SAMPLED;
        }
        uint64_t h = XXH3_64bits_withSeed(trace_id, 16, n->seed);
        return h < n->hash_threshold ? TS_SAMPLED : TS_NOT_SAMPLED;
    }
    case K_RATE:
    case K_BYTES: {
        struct ts_bucket *b = &buckets[n->bucket];
        int64_t second = floor_div(acc->max_end_ns, 1000000000);
        if (second > b->second) {
            b->second = second;
            b->used = 0;
        }
        int64_t units = n->kind == K_RATE ? (int64_t)acc->spans : (int64_t)acc->bytes;
        if (partitions < 1) {
            partitions = 1;
        }
        /* The per-partition share of the global budget, kept exact in integers. */
        if ((b->used + units) * (int64_t)partitions <= n->limit) {
            b->used += units;
            return TS_SAMPLED;
        }
        return TS_NOT_SAMPLED;
    }
    case K_SPAN_COUNT:
        return (int64_t)acc->spans >= n->min_spans &&
                       (n->max_spans < 0 || (int64_t)acc->spans <= n->max_spans)
                   ? TS_SAMPLED
                   : TS_NOT_SAMPLED;
    case K_AND:
    case K_DROP: {
        double p = 1.0;
        for (size_t i = 0; i < n->n_children; i++) {
            double cp;
            enum ts_verdict v = eval(n->children[i], acc, trace_id, buckets, partitions, &cp);
            if (v != TS_SAMPLED && v != TS_INVERT_SAMPLED) {
                return TS_NOT_SAMPLED;
            }
            p *= cp;
        }
        *prob = p;
        return n->kind == K_DROP ? TS_DROPPED : TS_SAMPLED;
    }
    }
    return TS_NOT_SAMPLED;
}

void ts_decide(const struct ts_policies *p, const struct ts_acc *acc, const uint8_t trace_id[16],
               struct ts_bucket *buckets, int32_t partitions, struct ts_decision *out)
{
    double prob;
    for (size_t i = 0; i < p->n_top; i++) {
        const struct node *n = p->top[i];
        if (n->kind == K_DROP &&
            eval(n, acc, trace_id, buckets, partitions, &prob) == TS_DROPPED) {
            *out = (struct ts_decision){0, TS_DROPPED, n->name, 1.0};
            return;
        }
    }
    const struct node *inv_not = NULL, *sampled = NULL, *inv_sampled = NULL;
    double sampled_prob = 1.0, inv_prob = 1.0;
    for (size_t i = 0; i < p->n_top; i++) {
        const struct node *n = p->top[i];
        if (n->kind == K_DROP) {
            continue;
        }
        enum ts_verdict v = eval(n, acc, trace_id, buckets, partitions, &prob);
        if (v == TS_INVERT_NOT_SAMPLED && inv_not == NULL) {
            inv_not = n;
        } else if (v == TS_SAMPLED) {
            if (sampled == NULL) {
                sampled = n;
                sampled_prob = prob;
            }
            if (p->mode == TS_FIRST_MATCH) {
                break;
            }
        } else if (v == TS_INVERT_SAMPLED && inv_sampled == NULL) {
            inv_sampled = n;
            inv_prob = prob;
        }
    }
    if (inv_not != NULL) {
        *out = (struct ts_decision){0, TS_INVERT_NOT_SAMPLED, inv_not->name, 1.0};
    } else if (sampled != NULL) {
        *out = (struct ts_decision){1, TS_SAMPLED, sampled->name, sampled_prob};
    } else if (inv_sampled != NULL) {
        *out = (struct ts_decision){1, TS_INVERT_SAMPLED, inv_sampled->name, inv_prob};
    } else {
        *out = (struct ts_decision){0, TS_NOT_SAMPLED, "", 1.0};
    }
}

/* Hex digit values plus 1; 0 for any other byte. */
static const uint8_t hex_value[256] = {
    ['0'] = 1,  ['1'] = 2,  ['2'] = 3,  ['3'] = 4,  ['4'] = 5,  ['5'] = 6,  ['6'] = 7,
    ['7'] = 8,  ['8'] = 9,  ['9'] = 10, ['a'] = 11, ['b'] = 12, ['c'] = 13, ['d'] = 14,
    ['e'] = 15, ['f'] = 16, ['A'] = 11, ['B'] = 12, ['C'] = 13, ['D'] = 14, ['E'] = 15,
    ['F'] = 16};

int ts_trace_id_parse(const char *hex, size_t len, uint8_t out[16])
{
    if (len != 32) {
        return -1;
    }
    int bad = 0;
    for (size_t i = 0; i < 16; i++) {
        unsigned hi = hex_value[(uint8_t)hex[2 * i]], lo = hex_value[(uint8_t)hex[2 * i + 1]];
        bad |= hi == 0 || lo == 0;
        out[i] = (uint8_t)((hi - 1u) << 4 | (lo - 1u)); /* garbage when bad: not used */
    }
    return bad ? -1 : 0;
}
