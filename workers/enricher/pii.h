/*
 * PII redaction rules of the enricher: compiled once from the `pii:` option (a YAML list),
 * applied to one string at a time. Kafka-free and Avro-free: the stage walks attributes,
 * resource attributes and bodies and calls pii_apply() on every string it finds.
 *
 * A rule: {name, keys: [exact names or globs], detect: [email|card|ipv4|ipv6|ip|bearer],
 * pattern: POSIX extended regex, action: drop|mask|tokenize|allow, keep_last: N (mask),
 * allow: [globs of matched text left alone], in: attributes|resource|body|all}.
 *   - keys only: the rule decides the whole value of a matching key (terminal).
 *   - detect and/or pattern: the rule acts on every match inside the value (of a matching
 *     key when keys are given too); the next rules then see the result.
 *   - action allow (keys only): values of matching keys are left alone by every later rule.
 * Rules are evaluated in order. `drop` of a match removes the whole attribute (or, in a
 * body string that belongs to no key, replaces the match with "[REDACTED:<rule>]"). `mask`
 * replaces every character but the last keep_last (default 4) with '*'. `tokenize`
 * replaces the text by "tok_" + the first 32 hex digits of HMAC-SHA256(key, text): the
 * same text always gives the same token, so joins on tokenized values still work.
 *
 * The HMAC key is handed in by the caller (the stage reads it from the environment); it is
 * never copied into a message, log line or token other than through HMAC.
 */
#ifndef ENRICHER_PII_H
#define ENRICHER_PII_H

#include <regex.h>
#include <stddef.h>
#include <stdint.h>

struct bc_node;

enum pii_action { PII_DROP = 0, PII_MASK, PII_TOKENIZE, PII_ALLOW };

/* Where a value was found (a rule's `in:`). */
enum pii_scope { PII_IN_ATTRIBUTES = 1, PII_IN_RESOURCE = 2, PII_IN_BODY = 4 };

/* Built-in value detectors (a rule's `detect:`). */
enum pii_detector {
    PII_DETECT_EMAIL = 1,
    PII_DETECT_CARD = 2, /* 13-19 digits, single spaces or dashes between, Luhn-valid */
    PII_DETECT_IPV4 = 4,
    PII_DETECT_IPV6 = 8,
    PII_DETECT_BEARER = 16, /* the token after "Bearer ", and bare JWTs (eyJ...x.y.z) */
};

#define PII_TOKEN_LEN 36 /* "tok_" + 32 hex */
#define PII_DEFAULT_KEEP_LAST 4

/* A growable string buffer for results; zero-init, free with pii_buf_free. */
struct pii_buf {
    char *data;
    size_t len;
    size_t cap;
};
void pii_buf_free(struct pii_buf *b);

struct pii_rule {
    char *name;             /* new */
    enum pii_action action; /* PII_ALLOW only with keys and no value patterns */
    unsigned scopes;        /* enum pii_scope bits, never 0 */
    char **keys;            /* new; exact names or fnmatch globs; n_keys may be 0 */
    size_t n_keys;
    unsigned char *keys_glob; /* new; n_keys flags: keys[i] has fnmatch specials (else only
                                 strcmp can match it) */
    unsigned detect; /* enum pii_detector bits */
    int has_regex;   /* 1: re is compiled (regfree it) */
    regex_t re;      /* `pattern:` */
    char **allow;    /* new; fnmatch globs of matched text the rule leaves alone */
    size_t n_allow;
    unsigned char *allow_glob; /* new; n_allow flags, as keys_glob */
    int keep_last; /* mask: characters kept at the end */
    uint64_t hits; /* redactions done by this rule (values or matches) */
};

struct pii_rules {
    struct pii_rule *v; /* new, n rules in order */
    size_t n;
    unsigned char *key; /* new copy of the HMAC key, or NULL when no rule tokenizes */
    size_t key_len;
    struct pii_buf scratch_a, scratch_b, scratch_text; /* pii_apply's intermediate results */
};

/* Compiles the rules of a `pii:` node (a list of maps; NULL: no rules). key/key_len is the
 * HMAC key (borrowed, copied); it is required when a rule tokenizes. Returns new rules, or
 * NULL with errstr naming the rule and what is wrong (positions as FILE:LINE:COL). */
struct pii_rules *pii_rules_new(const struct bc_node *node, const void *key, size_t key_len,
                                char *errstr, size_t errstr_size);
void pii_rules_destroy(struct pii_rules *rules);
/* Compiles one rule alone, for `breadcrumb validate` (options.c). Returns 0, or -1 with the
 * message in why and the offending node in *at. */
int pii_rule_check(const struct bc_node *rule, const struct bc_node **at, char *why,
                   size_t why_size);
/* 1 when some rule tokenizes (so a key is needed). */
int pii_rules_need_key(const struct bc_node *node);

/* What pii_apply did. */
enum pii_result { PII_KEEP = 0, PII_CHANGED = 1, PII_DROPPED = 2 };

/* Applies every rule of `scope` to the string s (len bytes, UTF-8) found under attribute
 * key `key` (NULL: a body string outside any key-value pair). Returns PII_KEEP (s is left
 * alone), PII_CHANGED (out holds the new value, NUL-terminated), or PII_DROPPED (the whole
 * attribute must go; never when key is NULL). Counts hits on the rules. */
enum pii_result pii_apply(struct pii_rules *rules, enum pii_scope scope, const char *key,
                          const char *s, size_t len, struct pii_buf *out);

/* For a non-string value (number, bool, bytes) under key: the action of the first keys-only
 * rule matching key in scope (PII_DROP, PII_MASK, PII_TOKENIZE, PII_ALLOW), or -1 when no
 * such rule. Counts a hit unless allow. The caller renders the value as text for mask and
 * tokenize and calls pii_apply on it. */
int pii_key_action(struct pii_rules *rules, enum pii_scope scope, const char *key);

/* ---- building blocks, exposed for tests ----------------------------------------------- */

/* 1 when the digits (ASCII '0'-'9', n of them) pass the Luhn check. */
int pii_luhn(const char *digits, size_t n);
/* Finds the first match of the rule's detectors or pattern in s[from..len). Returns 1 and
 * sets [*start, *end), or 0. */
int pii_find(const struct pii_rule *rule, const char *s, size_t len, size_t from, size_t *start,
             size_t *end);
/* Writes "tok_" + 32 hex of HMAC-SHA256(key, s) and a NUL into out. */
void pii_token(const void *key, size_t key_len, const char *s, size_t len,
               char out[PII_TOKEN_LEN + 1]);
/* Appends s masked (every UTF-8 character but the last keep_last replaced by '*'). */
void pii_mask_append(struct pii_buf *out, const char *s, size_t len, int keep_last);

#endif
