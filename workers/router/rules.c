/*
 * The router's rule compiler and evaluator (rules.h). Field references resolve to
 * TrackingEvent field indexes (bc_event.h) at compile time; literals are parsed to the
 * field's type there, so a type mismatch the YAML already shows is a validation error, and
 * one only the data can show (an attribute holding a string compared with a number) is
 * simply "no match".
 */
#include "rules.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "bc_config.h"
#include "bc_event.h"

/* ---- fields ------------------------------------------------------------------------ */

/* What a field holds, for type checks of literals and operators. */
enum ftype {
    FT_STRING,   /* text */
    FT_NUMBER,   /* long, int or double */
    FT_ENUM,     /* symbols[], matched case-insensitively */
    FT_DURATION, /* nanoseconds, literals written as durations ("2s") */
    FT_SEVERITY, /* OTLP severity number, literals as numbers or names ("WARN") */
    FT_ANY,      /* an AnyValue: typed by the data (attributes, body) */
    FT_STRLIST,  /* an array of strings (flags): eq/in mean "contains" */
};

/* Where a field's value is read from. */
enum fsrc {
    FS_STRING,      /* a (nullable) string field idx */
    FS_LONG,        /* a (nullable) long field idx */
    FS_INT,         /* a (nullable) int field idx */
    FS_ENUM,        /* a (nullable) enum field idx */
    FS_STATUS_CODE, /* status.code */
    FS_STATUS_MSG,  /* status.message */
    FS_DURATION,    /* end_time_ns - start_time_ns */
    FS_SUB,         /* field sub of the (nullable) record field idx, of kind vk */
    FS_ATTR,        /* attributes[key] */
    FS_RESOURCE,    /* resource_attributes[key] */
    FS_BODY,        /* body (an AnyValue) */
    FS_FLAGS,       /* flags */
};

static const char *const kind_symbols[] = {"SPAN", "LOG", "EVENT", NULL};
static const char *const span_kind_symbols[] = {"UNSPECIFIED", "INTERNAL", "SERVER", "CLIENT",
                                                "PRODUCER",    "CONSUMER", NULL};
static const char *const status_symbols[] = {"UNSET", "OK", "ERROR", NULL};

/* Nothing in this list may be dropped by a projection unless marked: the TrackingEvent
 * schema requires it. */
struct field_def {
    const char *name;
    enum fsrc src;
    enum ftype type;
    int idx;
    int sub;
    char vk; /* FS_SUB: 's' string, 'l' long, 'i' int, 'd' double */
    const char *const *symbols;
    int droppable; /* 'n': set to null, 'a': empty the array, 'm': status.message = "" */
};

static const struct field_def field_defs[] = {
    {"event_id", FS_STRING, FT_STRING, BC_EV_EVENT_ID, 0, 0, NULL, 0},
    {"kind", FS_ENUM, FT_ENUM, BC_EV_KIND, 0, 0, kind_symbols, 0},
    {"trace_id", FS_STRING, FT_STRING, BC_EV_TRACE_ID, 0, 0, NULL, 'n'},
    {"span_id", FS_STRING, FT_STRING, BC_EV_SPAN_ID, 0, 0, NULL, 'n'},
    {"parent_span_id", FS_STRING, FT_STRING, BC_EV_PARENT_SPAN_ID, 0, 0, NULL, 'n'},
    {"correlation_id", FS_STRING, FT_STRING, BC_EV_CORRELATION_ID, 0, 0, NULL, 'n'},
    {"name", FS_STRING, FT_STRING, BC_EV_NAME, 0, 0, NULL, 0},
    {"service", FS_STRING, FT_STRING, BC_EV_SERVICE, 0, 0, NULL, 0},
    {"start_time_ns", FS_LONG, FT_NUMBER, BC_EV_START_TIME_NS, 0, 0, NULL, 0},
    {"end_time_ns", FS_LONG, FT_NUMBER, BC_EV_END_TIME_NS, 0, 0, NULL, 0},
    {"observed_time_ns", FS_LONG, FT_NUMBER, BC_EV_OBSERVED_TIME_NS, 0, 0, NULL, 'n'},
    {"duration", FS_DURATION, FT_DURATION, 0, 0, 0, NULL, 0},
    {"span_kind", FS_ENUM, FT_ENUM, BC_EV_SPAN_KIND, 0, 0, span_kind_symbols, 'n'},
    {"status", FS_STATUS_CODE, FT_ENUM, BC_EV_STATUS, 0, 0, status_symbols, 0},
    {"status.code", FS_STATUS_CODE, FT_ENUM, BC_EV_STATUS, 0, 0, status_symbols, 0},
    {"status.message", FS_STATUS_MSG, FT_STRING, BC_EV_STATUS, 1, 0, NULL, 'm'},
    {"severity", FS_INT, FT_SEVERITY, BC_EV_SEVERITY_NUMBER, 0, 0, NULL, 'n'},
    {"severity_number", FS_INT, FT_SEVERITY, BC_EV_SEVERITY_NUMBER, 0, 0, NULL, 'n'},
    {"severity_text", FS_STRING, FT_STRING, BC_EV_SEVERITY_TEXT, 0, 0, NULL, 'n'},
    {"scope", FS_SUB, FT_STRING, BC_EV_SCOPE, 0, 's', NULL, 'n'},
    {"scope.name", FS_SUB, FT_STRING, BC_EV_SCOPE, 0, 's', NULL, 0},
    {"scope.version", FS_SUB, FT_STRING, BC_EV_SCOPE, 1, 's', NULL, 0},
    {"body", FS_BODY, FT_ANY, BC_EV_BODY, 0, 0, NULL, 'n'},
    {"source.topic", FS_SUB, FT_STRING, BC_EV_SOURCE, 0, 's', NULL, 0},
    {"source.partition", FS_SUB, FT_NUMBER, BC_EV_SOURCE, 1, 'i', NULL, 0},
    {"source.offset", FS_SUB, FT_NUMBER, BC_EV_SOURCE, 2, 'l', NULL, 0},
    {"source.index", FS_SUB, FT_NUMBER, BC_EV_SOURCE, 3, 'i', NULL, 0},
    {"flags", FS_FLAGS, FT_STRLIST, BC_EV_FLAGS, 0, 0, NULL, 'a'},
    {"owner", FS_STRING, FT_STRING, BC_EV_OWNER, 0, 0, NULL, 'n'},
    {"team", FS_STRING, FT_STRING, BC_EV_TEAM, 0, 0, NULL, 'n'},
    {"tier", FS_STRING, FT_STRING, BC_EV_TIER, 0, 0, NULL, 'n'},
    {"cost_center", FS_STRING, FT_STRING, BC_EV_COST_CENTER, 0, 0, NULL, 'n'},
    {"on_call", FS_STRING, FT_STRING, BC_EV_ON_CALL, 0, 0, NULL, 'n'},
    {"deploy", FS_SUB, FT_STRING, BC_EV_DEPLOY, 0, 's', NULL, 'n'},
    {"deploy.deploy_id", FS_SUB, FT_STRING, BC_EV_DEPLOY, 0, 's', NULL, 0},
    {"deploy.version", FS_SUB, FT_STRING, BC_EV_DEPLOY, 1, 's', NULL, 0},
    {"deploy.commit", FS_SUB, FT_STRING, BC_EV_DEPLOY, 2, 's', NULL, 0},
    {"deploy.deployed_at_ns", FS_SUB, FT_NUMBER, BC_EV_DEPLOY, 3, 'l', NULL, 0},
    {"sampling", FS_SUB, FT_STRING, BC_EV_SAMPLING, 0, 's', NULL, 'n'},
    {"sampling.policy", FS_SUB, FT_STRING, BC_EV_SAMPLING, 0, 's', NULL, 0},
    {"sampling.probability", FS_SUB, FT_NUMBER, BC_EV_SAMPLING, 1, 'd', NULL, 0},
    {"span_events", FS_FLAGS, FT_STRLIST, BC_EV_SPAN_EVENTS, 0, 0, NULL, 'a'},
    {"links", FS_FLAGS, FT_STRLIST, BC_EV_LINKS, 0, 0, NULL, 'a'},
    {NULL, 0, 0, 0, 0, 0, NULL, 0},
};

/* Record-valued entries ("scope", "deploy", "sampling") and arrays of records are there for
 * projections only; conditions on them use their sub-fields. */
static int condition_field(const struct field_def *d)
{
    return strcmp(d->name, "scope") != 0 && strcmp(d->name, "deploy") != 0 &&
           strcmp(d->name, "sampling") != 0 && strcmp(d->name, "span_events") != 0 &&
           strcmp(d->name, "links") != 0;
}

struct field {
    const struct field_def *def;
    enum fsrc src;
    enum ftype type;
    char *key; /* FS_ATTR, FS_RESOURCE: the attribute key (new) */
    char *path; /* as written (new) */
};

/* A value read from an event. Numbers keep both forms: is_int says i is exact. */
enum vtype { V_NONE, V_STR, V_NUM, V_BOOL, V_OTHER };
struct val {
    enum vtype t;
    const char *s; /* V_STR: NUL-terminated, borrowed from the event */
    size_t len;
    int is_int;
    int64_t i;
    double d;
};

/* ---- conditions -------------------------------------------------------------------- */

enum op {
    OP_EQ,
    OP_NE,
    OP_IN,
    OP_NOT_IN,
    OP_PREFIX,
    OP_SUFFIX,
    OP_CONTAINS,
    OP_REGEX,
    OP_EXISTS,
    OP_GT,
    OP_GE,
    OP_LT,
    OP_LE,
};

static const char *const op_names[] = {"eq",     "ne",       "in",    "not_in", "prefix",
                                       "suffix", "contains", "regex", "exists", "gt",
                                       "ge",     "lt",       "le",    NULL};

/* A literal of a condition, in the form comparisons need. */
struct lit {
    enum vtype t; /* V_STR, V_NUM or V_BOOL */
    char *s;      /* V_STR (new) */
    size_t len;
    int is_int;
    int64_t i;
    double d;
};

struct test {
    struct field field;
    enum op op;
    struct lit *lits; /* EQ, NE: 1; IN, NOT_IN: n; string ops: 1 (V_STR); comparisons: 1 */
    size_t n_lits;
    int exists; /* OP_EXISTS: the wanted answer */
    int has_re;
    regex_t re;
};

enum cop { C_ALL, C_ANY, C_NOT, C_TEST };
struct cond {
    enum cop op;
    struct cond **kids; /* ALL, ANY: n; NOT: 1 */
    size_t n;
    struct test *test; /* C_TEST */
};

/* ---- projections and rules --------------------------------------------------------- */

struct keypat {
    char *key; /* new */
    size_t len;
    int prefix; /* written as "key*": every key starting with it */
};

struct projection {
    uint64_t null_mask;  /* nullable fields set to null */
    uint64_t clear_mask; /* arrays emptied */
    int clear_status_message;
    struct keypat *attrs; /* attributes removed by key */
    size_t n_attrs;
    struct keypat *res; /* resource attributes removed by key */
    size_t n_res;
};

struct router_rule {
    char *name; /* new */
    struct bc_pos pos;
    struct cond *when; /* NULL: matches everything */
    int drop;
    size_t *targets; /* indexes into the table's targets, unique, in `to` order */
    size_t n_targets;
    int has_key;
    struct field key;
    int projects;
    struct projection proj;
    uint64_t matched;
};

struct router_table {
    enum router_mode mode;
    struct router_rule *rules;
    size_t n_rules;
    struct router_target *targets;
    size_t n_targets;
    int default_target; /* -1: unmatched records are dead-lettered */
};

/* The compiler's state: where errors go and the path prefix of messages. */
struct compiler {
    struct bc_check *ck;
    char path[256]; /* "<options path>.rules" */
    int errors;
};

__attribute__((format(printf, 3, 4))) static void err(struct compiler *c,
                                                      const struct bc_node *node,
                                                      const char *fmt, ...)
{
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    bc_check_error(c->ck, node, "%s: %s", c->path, msg);
    c->errors++;
}

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n == 0 ? 1 : n, size);
    if (p == NULL) {
        abort();
    }
    return p;
}

static char *xstrdup(const char *s)
{
    char *p = strdup(s);
    if (p == NULL) {
        abort();
    }
    return p;
}

static char *xstrndup(const char *s, size_t n)
{
    char *p = strndup(s, n);
    if (p == NULL) {
        abort();
    }
    return p;
}

static void field_free(struct field *f)
{
    free(f->key);
    free(f->path);
}

static void test_free(struct test *t)
{
    if (t == NULL) {
        return;
    }
    field_free(&t->field);
    for (size_t i = 0; i < t->n_lits; i++) {
        free(t->lits[i].s);
    }
    free(t->lits);
    if (t->has_re) {
        regfree(&t->re);
    }
    free(t);
}

static void cond_free(struct cond *c)
{
    if (c == NULL) {
        return;
    }
    for (size_t i = 0; i < c->n; i++) {
        cond_free(c->kids[i]);
    }
    free(c->kids);
    test_free(c->test);
    free(c);
}

/* Resolves a field path. Returns 0, or -1 (error added) for an unknown field. */
static int field_resolve(struct compiler *c, const struct bc_node *node, const char *path,
                         int for_condition, struct field *f)
{
    memset(f, 0, sizeof(*f));
    static const struct {
        const char *prefix;
        enum fsrc src;
    } maps[] = {{"attributes.", FS_ATTR},
                {"resource.", FS_RESOURCE},
                {"resource_attributes.", FS_RESOURCE}};
    for (size_t i = 0; i < sizeof(maps) / sizeof(maps[0]); i++) {
        size_t n = strlen(maps[i].prefix);
        if (strncmp(path, maps[i].prefix, n) == 0) {
            if (path[n] == '\0') {
                err(c, node, "field '%s' needs an attribute key after the dot", path);
                return -1;
            }
            f->src = maps[i].src;
            f->type = FT_ANY;
            f->key = xstrdup(path + n);
            f->path = xstrdup(path);
            return 0;
        }
    }
    for (const struct field_def *d = field_defs; d->name != NULL; d++) {
        if (strcmp(d->name, path) == 0 && (!for_condition || condition_field(d))) {
            f->def = d;
            f->src = d->src;
            f->type = d->type;
            f->path = xstrdup(path);
            return 0;
        }
    }
    err(c, node,
        "unknown field '%s' (a TrackingEvent field such as name, service, kind, status, "
        "duration, severity, tier, or attributes.<key>, resource.<key>)",
        path);
    return -1;
}

/* ---- literals ---------------------------------------------------------------------- */

static int parse_int(const char *s, int64_t *out)
{
    if (*s == '\0') {
        return -1;
    }
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0') {
        return -1;
    }
    *out = v;
    return 0;
}

static int parse_double(const char *s, double *out)
{
    if (*s == '\0' || isspace((unsigned char)*s)) {
        return -1;
    }
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno != 0 || *end != '\0' || v != v) {
        return -1;
    }
    *out = v;
    return 0;
}

static void lit_number(struct lit *l, const char *s)
{
    int64_t i;
    l->t = V_NUM;
    if (parse_int(s, &i) == 0) {
        l->is_int = 1;
        l->i = i;
        l->d = (double)i;
    } else {
        parse_double(s, &l->d);
    }
}

static int is_number(const char *s)
{
    int64_t i;
    double d;
    return parse_int(s, &i) == 0 || parse_double(s, &d) == 0;
}

static void lit_string(struct lit *l, const char *s)
{
    l->t = V_STR;
    l->s = xstrdup(s);
    l->len = strlen(s);
}

static const struct {
    const char *name;
    int number;
} severities[] = {{"TRACE", 1}, {"DEBUG", 5}, {"INFO", 9}, {"WARN", 13}, {"WARNING", 13},
                  {"ERROR", 17}, {"FATAL", 21}};

/* Parses a scalar literal for field f and operator op (a string operator wants text, a
 * comparison a number). Returns 0, or -1 (error added). */
static int lit_parse(struct compiler *c, const struct field *f, enum op op,
                     const struct bc_node *node, struct lit *l)
{
    memset(l, 0, sizeof(*l));
    if (node->kind != BC_NODE_SCALAR) {
        err(c, node, "%s: %s wants a single value, got %s", f->path, op_names[op],
            bc_node_kind_name(node));
        return -1;
    }
    if (node->is_null) {
        err(c, node, "%s: %s null: write `exists: false` to match a missing field", f->path,
            op_names[op]);
        return -1;
    }
    const char *s = node->scalar;
    int string_op = op == OP_PREFIX || op == OP_SUFFIX || op == OP_CONTAINS || op == OP_REGEX;
    int compare_op = op == OP_GT || op == OP_GE || op == OP_LT || op == OP_LE;
    switch (f->type) {
    case FT_STRING:
    case FT_STRLIST:
        if (compare_op) {
            err(c, node, "%s: %s compares numbers, but %s is a string field", f->path,
                op_names[op], f->path);
            return -1;
        }
        lit_string(l, s);
        return 0;
    case FT_NUMBER:
        if (string_op) {
            err(c, node, "%s: %s needs a string field, but %s is a number", f->path,
                op_names[op], f->path);
            return -1;
        }
        if (!is_number(s)) {
            err(c, node, "%s: expected a number, got '%s'", f->path, s);
            return -1;
        }
        lit_number(l, s);
        return 0;
    case FT_DURATION: {
        if (string_op) {
            err(c, node, "%s: %s needs a string field, but duration is a duration", f->path,
                op_names[op]);
            return -1;
        }
        int64_t ms;
        if (bc_duration_parse(s, &ms) != 0) {
            err(c, node, "%s: expected a duration such as 250ms or 2s, got '%s'", f->path, s);
            return -1;
        }
        l->t = V_NUM;
        l->is_int = 1;
        l->i = ms * 1000000;
        l->d = (double)l->i;
        return 0;
    }
    case FT_SEVERITY:
        if (string_op) {
            err(c, node, "%s: %s needs a string field, but severity is a number", f->path,
                op_names[op]);
            return -1;
        }
        for (size_t i = 0; i < sizeof(severities) / sizeof(severities[0]); i++) {
            if (strcasecmp(s, severities[i].name) == 0) {
                l->t = V_NUM;
                l->is_int = 1;
                l->i = severities[i].number;
                l->d = (double)l->i;
                return 0;
            }
        }
        if (!is_number(s)) {
            err(c, node,
                "%s: expected a severity number or one of TRACE, DEBUG, INFO, WARN, ERROR, "
                "FATAL, got '%s'",
                f->path, s);
            return -1;
        }
        lit_number(l, s);
        return 0;
    case FT_ENUM: {
        const char *const *sym = f->def->symbols;
        if (string_op || compare_op) {
            err(c, node, "%s: %s does not apply to %s (one of its symbols; use eq, ne, in, "
                         "not_in or exists)",
                f->path, op_names[op], f->path);
            return -1;
        }
        for (int i = 0; sym[i] != NULL; i++) {
            if (strcasecmp(sym[i], s) == 0) {
                l->t = V_NUM;
                l->is_int = 1;
                l->i = i;
                l->d = i;
                return 0;
            }
        }
        char list[256] = "";
        for (int i = 0; sym[i] != NULL; i++) {
            size_t n = strlen(list);
            snprintf(list + n, sizeof(list) - n, "%s%s", i ? ", " : "", sym[i]);
        }
        err(c, node, "%s: '%s' is not one of %s", f->path, s, list);
        return -1;
    }
    case FT_ANY:
        if (string_op || node->quoted) {
            if (compare_op) {
                err(c, node, "%s: %s compares numbers, got the string '%s'", f->path,
                    op_names[op], s);
                return -1;
            }
            lit_string(l, s);
            return 0;
        }
        if (strcmp(s, "true") == 0 || strcmp(s, "false") == 0) {
            if (compare_op) {
                err(c, node, "%s: %s compares numbers, got %s", f->path, op_names[op], s);
                return -1;
            }
            l->t = V_BOOL;
            l->is_int = 1;
            l->i = s[0] == 't';
            return 0;
        }
        if (is_number(s)) {
            lit_number(l, s);
            return 0;
        }
        if (compare_op) {
            err(c, node, "%s: %s compares numbers, got '%s'", f->path, op_names[op], s);
            return -1;
        }
        lit_string(l, s);
        return 0;
    }
    return -1;
}

/* ---- compiling conditions ---------------------------------------------------------- */

static struct cond *cond_new(enum cop op, size_t n)
{
    struct cond *cd = xcalloc(1, sizeof(*cd));
    cd->op = op;
    cd->kids = xcalloc(n, sizeof(*cd->kids));
    return cd;
}

static struct cond *compile_map(struct compiler *c, const struct bc_node *map, int depth);

/* One operator of a field: `op: value`. */
static struct cond *compile_test(struct compiler *c, const struct field *f, enum op op,
                                 const struct bc_node *val)
{
    struct test *t = xcalloc(1, sizeof(*t));
    t->field = *f;
    t->field.key = f->key != NULL ? xstrdup(f->key) : NULL;
    t->field.path = xstrdup(f->path);
    t->op = op;
    int ok = 1;
    if (f->type == FT_STRLIST && op != OP_EQ && op != OP_NE && op != OP_IN && op != OP_NOT_IN &&
        op != OP_EXISTS) {
        err(c, val, "%s: %s does not apply to a list of strings (use eq, ne, in, not_in or "
                    "exists)",
            f->path, op_names[op]);
        ok = 0;
    } else if (op == OP_EXISTS) {
        if (val->kind != BC_NODE_SCALAR ||
            (strcmp(val->scalar, "true") != 0 && strcmp(val->scalar, "false") != 0)) {
            err(c, val, "%s: exists must be true or false", f->path);
            ok = 0;
        } else {
            t->exists = val->scalar[0] == 't';
        }
    } else if (op == OP_IN || op == OP_NOT_IN) {
        if (val->kind != BC_NODE_SEQ || val->n == 0) {
            err(c, val, "%s: %s wants a non-empty list, got %s", f->path, op_names[op],
                val->kind == BC_NODE_SEQ ? "an empty list" : bc_node_kind_name(val));
            ok = 0;
        } else {
            t->lits = xcalloc(val->n, sizeof(*t->lits));
            for (size_t i = 0; i < val->n; i++) {
                if (lit_parse(c, f, op, val->values[i], &t->lits[t->n_lits]) != 0) {
                    ok = 0;
                    continue;
                }
                t->n_lits++;
            }
        }
    } else {
        t->lits = xcalloc(1, sizeof(*t->lits));
        if (lit_parse(c, f, op, val, &t->lits[0]) != 0) {
            ok = 0;
        } else {
            t->n_lits = 1;
            if (op == OP_REGEX) {
                int rc = regcomp(&t->re, t->lits[0].s, REG_EXTENDED | REG_NOSUB);
                if (rc != 0) {
                    char msg[256];
                    regerror(rc, &t->re, msg, sizeof(msg));
                    err(c, val, "%s: bad regex '%s': %s", f->path, t->lits[0].s, msg);
                    ok = 0;
                } else {
                    t->has_re = 1;
                }
            }
        }
    }
    if (!ok) {
        test_free(t);
        return NULL;
    }
    struct cond *cd = cond_new(C_TEST, 0);
    cd->test = t;
    return cd;
}

/* `field: value` (eq), `field: [values]` (in) or `field: {op: value, ...}` (all hold). */
static struct cond *compile_field(struct compiler *c, const struct bc_node *key,
                                  const struct bc_node *val)
{
    struct field f;
    if (field_resolve(c, key, key->scalar, 1, &f) != 0) {
        return NULL;
    }
    struct cond *out = NULL;
    if (val->kind == BC_NODE_SCALAR) {
        out = compile_test(c, &f, OP_EQ, val);
    } else if (val->kind == BC_NODE_SEQ) {
        out = compile_test(c, &f, OP_IN, val);
    } else if (val->n == 0) {
        err(c, val, "%s: an empty map of operators", f.path);
    } else {
        struct cond *all = cond_new(C_ALL, val->n);
        int ok = 1;
        for (size_t i = 0; i < val->n; i++) {
            const char *name = val->keys[i]->scalar;
            int op = -1;
            for (int k = 0; op_names[k] != NULL; k++) {
                if (strcmp(op_names[k], name) == 0) {
                    op = k;
                }
            }
            if (op < 0) {
                err(c, val->keys[i],
                    "%s: unknown operator '%s' (expected one of: eq, ne, in, not_in, prefix, "
                    "suffix, contains, regex, exists, gt, ge, lt, le)",
                    f.path, name);
                ok = 0;
                continue;
            }
            struct cond *kid = compile_test(c, &f, (enum op)op, val->values[i]);
            if (kid == NULL) {
                ok = 0;
                continue;
            }
            all->kids[all->n++] = kid;
        }
        if (!ok) {
            cond_free(all);
        } else if (all->n == 1) {
            out = all->kids[0];
            all->n = 0;
            cond_free(all);
        } else {
            out = all;
        }
    }
    field_free(&f);
    return out;
}

/* `all: [conditions]`, `any: [conditions]`. */
static struct cond *compile_list(struct compiler *c, enum cop op, const struct bc_node *key,
                                 const struct bc_node *val, int depth)
{
    if (val->kind != BC_NODE_SEQ) {
        err(c, val, "%s must be a list of conditions, got %s", key->scalar,
            bc_node_kind_name(val));
        return NULL;
    }
    struct cond *cd = cond_new(op, val->n);
    int ok = 1;
    for (size_t i = 0; i < val->n; i++) {
        struct cond *kid = compile_map(c, val->values[i], depth + 1);
        if (kid == NULL) {
            ok = 0;
            continue;
        }
        cd->kids[cd->n++] = kid;
    }
    if (!ok) {
        cond_free(cd);
        return NULL;
    }
    return cd;
}

#define MAX_DEPTH 32

/* A map of conditions, all of which must hold. */
static struct cond *compile_map(struct compiler *c, const struct bc_node *map, int depth)
{
    if (map->kind != BC_NODE_MAP) {
        err(c, map, "a condition must be a map, got %s", bc_node_kind_name(map));
        return NULL;
    }
    if (depth > MAX_DEPTH) {
        err(c, map, "conditions nested deeper than %d levels", MAX_DEPTH);
        return NULL;
    }
    struct cond *all = cond_new(C_ALL, map->n);
    int ok = 1;
    for (size_t i = 0; i < map->n; i++) {
        const struct bc_node *key = map->keys[i];
        const struct bc_node *val = map->values[i];
        struct cond *kid;
        if (strcmp(key->scalar, "all") == 0) {
            kid = compile_list(c, C_ALL, key, val, depth);
        } else if (strcmp(key->scalar, "any") == 0) {
            kid = compile_list(c, C_ANY, key, val, depth);
        } else if (strcmp(key->scalar, "not") == 0) {
            struct cond *inner = compile_map(c, val, depth + 1);
            kid = NULL;
            if (inner != NULL) {
                kid = cond_new(C_NOT, 1);
                kid->kids[kid->n++] = inner;
            }
        } else {
            kid = compile_field(c, key, val);
        }
        if (kid == NULL) {
            ok = 0;
            continue;
        }
        all->kids[all->n++] = kid;
    }
    if (!ok) {
        cond_free(all);
        return NULL;
    }
    if (all->n == 1) {
        struct cond *only = all->kids[0];
        all->n = 0;
        cond_free(all);
        return only;
    }
    return all;
}

/* ---- compiling rules --------------------------------------------------------------- */

/* The target index of topic, added when new. */
static size_t target_add(struct router_table *t, const char *topic)
{
    for (size_t i = 0; i < t->n_targets; i++) {
        if (strcmp(t->targets[i].topic, topic) == 0) {
            return i;
        }
    }
    struct router_target *v = realloc(t->targets, (t->n_targets + 1) * sizeof(*v));
    if (v == NULL) {
        abort();
    }
    t->targets = v;
    memset(&v[t->n_targets], 0, sizeof(*v));
    v[t->n_targets].topic = xstrdup(topic);
    return t->n_targets++;
}

static void keypat_add(struct keypat **v, size_t *n, const char *key)
{
    *v = realloc(*v, (*n + 1) * sizeof(**v));
    if (*v == NULL) {
        abort();
    }
    struct keypat *k = &(*v)[(*n)++];
    size_t len = strlen(key);
    k->prefix = len > 0 && key[len - 1] == '*';
    k->key = xstrndup(key, k->prefix ? len - 1 : len);
    k->len = k->prefix ? len - 1 : len;
}

/* A router writing to its own input would route every copy again, forever. Returns 1 (error
 * added) when topic is one of the worker's inputs. */
static int check_not_input(struct compiler *c, const struct bc_node *node, const char *topic)
{
    const struct bc_worker *w = c->ck->worker;
    for (size_t i = 0; w != NULL && i < w->n_inputs; i++) {
        if (strcmp(w->inputs[i], topic) == 0) {
            bc_check_error(c->ck, node, "%s: topic '%s' is the router's input: its copies would "
                           "be routed again, forever", c->path, topic);
            return 1;
        }
    }
    return 0;
}

/* One `drop:` entry. Returns 0, or -1 (error added). */
static int projection_add(struct compiler *c, struct projection *p, const struct bc_node *node)
{
    if (node->kind != BC_NODE_SCALAR || node->is_null) {
        err(c, node, "drop: expected a field name, got %s", bc_node_kind_name(node));
        return -1;
    }
    const char *s = node->scalar;
    if (strcmp(s, "attributes") == 0) {
        p->clear_mask |= 1ULL << BC_EV_ATTRIBUTES;
        return 0;
    }
    if (strcmp(s, "resource") == 0 || strcmp(s, "resource_attributes") == 0) {
        p->clear_mask |= 1ULL << BC_EV_RESOURCE_ATTRIBUTES;
        return 0;
    }
    struct field f;
    if (field_resolve(c, node, s, 0, &f) != 0) {
        return -1;
    }
    int rc = 0;
    if (f.src == FS_ATTR) {
        keypat_add(&p->attrs, &p->n_attrs, f.key);
    } else if (f.src == FS_RESOURCE) {
        keypat_add(&p->res, &p->n_res, f.key);
    } else if (f.def->droppable == 'n') {
        p->null_mask |= 1ULL << f.def->idx;
    } else if (f.def->droppable == 'a') {
        p->clear_mask |= 1ULL << f.def->idx;
    } else if (f.def->droppable == 'm') {
        p->clear_status_message = 1;
    } else {
        err(c, node, "drop: cannot drop %s: %s", s,
            f.src == FS_DURATION ? "it is computed from the times, not a field"
            : f.src == FS_SUB && f.def->idx != BC_EV_SOURCE
                ? "drop the whole record field (scope, deploy, sampling) or nothing"
                : "every TrackingEvent has it (the schema requires it)");
        rc = -1;
    }
    field_free(&f);
    return rc;
}

static void projection_free(struct projection *p)
{
    for (size_t i = 0; i < p->n_attrs; i++) {
        free(p->attrs[i].key);
    }
    for (size_t i = 0; i < p->n_res; i++) {
        free(p->res[i].key);
    }
    free(p->attrs);
    free(p->res);
}

static void rule_free(struct router_rule *r)
{
    free(r->name);
    cond_free(r->when);
    free(r->targets);
    if (r->has_key) {
        field_free(&r->key);
    }
    projection_free(&r->proj);
}

static const char *const rule_keys[] = {"name", "when", "to", "action", "key", "drop", NULL};
static const char *const rule_required[] = {"name", NULL};

/* Compiles one well-shaped rule (a map with a unique name) into r. Returns 0 or -1. */
static int rule_compile(struct compiler *c, struct router_table *t, const struct bc_node *node,
                        struct router_rule *r)
{
    int before = c->errors;
    c->errors += bc_check_keys(c->ck, node, "a router rule", rule_keys, rule_required);
    const struct bc_node *name = bc_node_get(node, "name");
    r->name = xstrdup(name->scalar);
    r->pos = name->pos;

    const struct bc_node *action = bc_node_get(node, "action");
    if (action != NULL) {
        if (action->kind == BC_NODE_SCALAR && strcmp(action->scalar, "drop") == 0) {
            r->drop = 1;
        } else if (action->kind != BC_NODE_SCALAR || strcmp(action->scalar, "route") != 0) {
            err(c, action, "action must be route or drop");
        }
    }

    const struct bc_node *when = bc_node_get(node, "when");
    if (when != NULL && when->kind != BC_NODE_MAP) {
        err(c, when, "when must be a map of conditions, got %s", bc_node_kind_name(when));
    } else if (when != NULL && when->n > 0) {
        r->when = compile_map(c, when, 0);
    }

    const struct bc_node *to = bc_node_get(node, "to");
    if (r->drop && to != NULL) {
        err(c, to, "rule '%s' drops its records: it has no `to`", r->name);
    } else if (!r->drop && to == NULL) {
        err(c, node, "rule '%s': missing required key 'to' (or `action: drop`)", r->name);
    } else if (to != NULL) {
        size_t n = to->kind == BC_NODE_SEQ ? to->n : 1;
        r->targets = xcalloc(n, sizeof(*r->targets));
        if (to->kind == BC_NODE_SEQ && to->n == 0) {
            err(c, to, "rule '%s': `to` lists no topic", r->name);
        }
        for (size_t i = 0; i < n; i++) {
            const struct bc_node *topic = to->kind == BC_NODE_SEQ ? to->values[i] : to;
            if (bc_check_topic(c->ck, topic) != 0 || check_not_input(c, topic, topic->scalar)) {
                c->errors++;
                continue;
            }
            size_t idx = target_add(t, topic->scalar);
            int dup = 0;
            for (size_t j = 0; j < r->n_targets; j++) {
                dup |= r->targets[j] == idx;
            }
            if (!dup) {
                r->targets[r->n_targets++] = idx;
            }
        }
    }

    const struct bc_node *key = bc_node_get(node, "key");
    if (key != NULL) {
        if (key->kind != BC_NODE_SCALAR || key->is_null) {
            err(c, key, "key: expected a field name, got %s", bc_node_kind_name(key));
        } else if (field_resolve(c, key, key->scalar, 1, &r->key) == 0) {
            r->has_key = 1;
            if (r->key.type == FT_STRLIST) {
                err(c, key, "key: %s is a list, not a value", key->scalar);
            }
        }
    }

    const struct bc_node *drop = bc_node_get(node, "drop");
    if (drop != NULL) {
        if (r->drop) {
            err(c, drop, "rule '%s' drops its records: a projection (drop: fields) has no use",
                r->name);
        } else if (drop->kind == BC_NODE_MAP) {
            err(c, drop, "drop: expected a list of fields, got a map");
        } else {
            size_t n = drop->kind == BC_NODE_SEQ ? drop->n : 1;
            for (size_t i = 0; i < n; i++) {
                projection_add(c, &r->proj, drop->kind == BC_NODE_SEQ ? drop->values[i] : drop);
            }
            r->projects = 1;
        }
    }
    return c->errors == before ? 0 : -1;
}

/* A rule that matches everything: no `when`, `when: {}`, or `all: []`. */
static int catch_all(const struct router_rule *r)
{
    return r->when == NULL || (r->when->op == C_ALL && r->when->n == 0);
}

struct router_table *router_table_compile(struct bc_check *ck, const struct bc_values *opts)
{
    struct compiler c = {0};
    struct bc_check local = *ck;
    snprintf(c.path, sizeof(c.path), "%s.rules", ck->path != NULL ? ck->path : "router");
    local.path = c.path;
    c.ck = &local;
    struct router_table *t = xcalloc(1, sizeof(*t));
    t->default_target = -1;
    t->mode = strcmp(bc_values_str(opts, "mode"), "all_matches") == 0 ? ROUTER_ALL_MATCHES
                                                                      : ROUTER_FIRST_MATCH;
    const struct bc_node *rules = bc_values_node(opts, "rules");
    if (rules == NULL || rules->kind != BC_NODE_SEQ) {
        err(&c, rules, "a router needs a list of rules");
        goto done;
    }
    t->rules = xcalloc(rules->n, sizeof(*t->rules));
    const struct router_rule *everything = NULL; /* a catch-all that hides what follows */
    for (size_t i = 0; i < rules->n; i++) {
        const struct bc_node *node = rules->values[i];
        const struct bc_node *name = bc_node_get(node, "name");
        if (node->kind != BC_NODE_MAP || name == NULL || name->kind != BC_NODE_SCALAR ||
            name->is_null || name->scalar[0] == '\0') {
            continue; /* the option's shape check (options.c) reports it */
        }
        int dup = 0;
        for (size_t j = 0; j < t->n_rules; j++) {
            dup |= strcmp(t->rules[j].name, name->scalar) == 0;
        }
        if (dup) {
            continue; /* as above */
        }
        struct router_rule *r = &t->rules[t->n_rules++];
        int ok = rule_compile(&c, t, node, r) == 0;
        if (everything != NULL) {
            err(&c, name,
                "rule '%s' is unreachable: rule '%s' (line %d) matches everything before it%s",
                r->name, everything->name, everything->pos.line,
                t->mode == ROUTER_ALL_MATCHES ? " and drops it" : "");
        } else if (ok && catch_all(r) && (t->mode == ROUTER_FIRST_MATCH || r->drop)) {
            everything = r;
        }
    }

    const char *unmatched = bc_values_str(opts, "unmatched");
    const struct bc_value *def = bc_values_find(opts, "default");
    snprintf(c.path, sizeof(c.path), "%s", ck->path != NULL ? ck->path : "router");
    if (strcmp(unmatched, "dlq") == 0) {
        if (def->has) {
            err(&c, def->node, "default: is unused with unmatched: dlq (remove one)");
        }
    } else if (!def->has) {
        err(&c, def->node, "unmatched: default needs a default topic");
    } else {
        if (check_not_input(&c, def->node, def->s)) {
            c.errors++;
        }
        t->default_target = (int)target_add(t, def->s);
    }

    const struct bc_node *sinks = bc_values_node(opts, "sinks");
    for (size_t i = 0; sinks != NULL && sinks->kind == BC_NODE_MAP && i < sinks->n; i++) {
        const char *topic = sinks->keys[i]->scalar;
        size_t idx = 0;
        while (idx < t->n_targets && strcmp(t->targets[idx].topic, topic) != 0) {
            idx++;
        }
        if (idx == t->n_targets) {
            err(&c, sinks->keys[i], "sinks.%s: no rule and not the default writes this topic",
                topic);
            continue;
        }
        const struct bc_node *format = bc_node_get(sinks->values[i], "format");
        if (format != NULL && format->kind == BC_NODE_SCALAR &&
            strcmp(format->scalar, "json") == 0) {
            t->targets[idx].format = ROUTER_FORMAT_JSON;
        }
    }
done:
    if (c.errors > 0) {
        router_table_destroy(t);
        return NULL;
    }
    return t;
}

void router_table_destroy(struct router_table *t)
{
    if (t == NULL) {
        return;
    }
    for (size_t i = 0; i < t->n_rules; i++) {
        rule_free(&t->rules[i]);
    }
    free(t->rules);
    for (size_t i = 0; i < t->n_targets; i++) {
        free(t->targets[i].topic);
    }
    free(t->targets);
    free(t);
}

enum router_mode router_table_mode(const struct router_table *t)
{
    return t->mode;
}

size_t router_table_rule_count(const struct router_table *t)
{
    return t->n_rules;
}

const struct router_rule *router_table_rule(const struct router_table *t, size_t i)
{
    return i < t->n_rules ? &t->rules[i] : NULL;
}

size_t router_table_target_count(const struct router_table *t)
{
    return t->n_targets;
}

struct router_target *router_table_target(struct router_table *t, size_t i)
{
    return i < t->n_targets ? &t->targets[i] : NULL;
}

int router_table_default(const struct router_table *t)
{
    return t->default_target;
}

const char *router_rule_name(const struct router_rule *r)
{
    return r->name;
}

int router_rule_is_drop(const struct router_rule *r)
{
    return r->drop;
}

uint64_t router_rule_matched(const struct router_rule *r)
{
    return r->matched;
}

int router_rule_projects(const struct router_rule *r)
{
    return r->projects;
}

/* ---- evaluation -------------------------------------------------------------------- */

static void any_val(avro_value_t *any, struct val *v)
{
    avro_value_t inner;
    const char *s = NULL;
    size_t size = 0;
    int b = 0;
    switch (bc_any_get(any, &inner)) {
    case BC_ANY_STRING:
        if (avro_value_get_string(&inner, &s, &size) == 0) {
            v->t = V_STR;
            v->s = s != NULL ? s : "";
            v->len = size > 0 ? size - 1 : 0;
        }
        break;
    case BC_ANY_BOOL:
        if (avro_value_get_boolean(&inner, &b) == 0) {
            v->t = V_BOOL;
            v->i = b != 0;
        }
        break;
    case BC_ANY_LONG:
        if (avro_value_get_long(&inner, &v->i) == 0) {
            v->t = V_NUM;
            v->is_int = 1;
            v->d = (double)v->i;
        }
        break;
    case BC_ANY_DOUBLE:
        if (avro_value_get_double(&inner, &v->d) == 0) {
            v->t = V_NUM;
        }
        break;
    case BC_ANY_BYTES:
    case BC_ANY_ARRAY:
    case BC_ANY_KVLIST:
        v->t = V_OTHER;
        break;
    default:
        break; /* null or unset: absent */
    }
}

static void set_int(struct val *v, int64_t i)
{
    v->t = V_NUM;
    v->is_int = 1;
    v->i = i;
    v->d = (double)i;
}

/* Reads field f of ev into v (V_NONE when null or absent). */
static void fetch(const struct field *f, avro_value_t *ev, struct val *v)
{
    memset(v, 0, sizeof(*v));
    avro_value_t fv, rec, x;
    int64_t l, l2;
    int32_t i32;
    int e;
    switch (f->src) {
    case FS_STRING:
        v->s = bc_event_get_string(ev, (enum bc_event_field)f->def->idx, &v->len);
        v->t = v->s != NULL ? V_STR : V_NONE;
        return;
    case FS_LONG:
        if (bc_event_get_long(ev, (enum bc_event_field)f->def->idx, &l) == 0) {
            set_int(v, l);
        }
        return;
    case FS_INT:
        if (bc_event_get_int(ev, (enum bc_event_field)f->def->idx, &i32) == 0) {
            set_int(v, i32);
        }
        return;
    case FS_ENUM:
        if (bc_event_get_enum(ev, (enum bc_event_field)f->def->idx, &e) == 0) {
            set_int(v, e);
        }
        return;
    case FS_STATUS_CODE:
    case FS_STATUS_MSG:
        if (bc_event_field(ev, BC_EV_STATUS, &rec) != 0 ||
            avro_value_get_by_index(&rec, f->src == FS_STATUS_CODE ? 0 : 1, &x, NULL) != 0) {
            return;
        }
        if (f->src == FS_STATUS_CODE) {
            if (avro_value_get_enum(&x, &e) == 0) {
                set_int(v, e);
            }
        } else {
            size_t size;
            if (avro_value_get_string(&x, &v->s, &size) == 0) {
                v->t = V_STR;
                v->s = v->s != NULL ? v->s : "";
                v->len = size > 0 ? size - 1 : 0;
            }
        }
        return;
    case FS_DURATION:
        if (bc_event_get_long(ev, BC_EV_START_TIME_NS, &l) == 0 &&
            bc_event_get_long(ev, BC_EV_END_TIME_NS, &l2) == 0) {
            set_int(v, l2 - l);
        }
        return;
    case FS_SUB:
        if (avro_value_get_by_index(ev, (size_t)f->def->idx, &fv, NULL) != 0) {
            return;
        }
        if (avro_value_get_type(&fv) == AVRO_UNION) {
            if (avro_value_get_discriminant(&fv, &e) != 0 || e <= 0 ||
                avro_value_get_current_branch(&fv, &rec) != 0) {
                return;
            }
        } else {
            rec = fv;
        }
        if (avro_value_get_by_index(&rec, (size_t)f->def->sub, &x, NULL) != 0) {
            return;
        }
        switch (f->def->vk) {
        case 's': {
            size_t size;
            if (avro_value_get_string(&x, &v->s, &size) == 0) {
                v->t = V_STR;
                v->s = v->s != NULL ? v->s : "";
                v->len = size > 0 ? size - 1 : 0;
            }
            return;
        }
        case 'l':
            if (avro_value_get_long(&x, &l) == 0) {
                set_int(v, l);
            }
            return;
        case 'i':
            if (avro_value_get_int(&x, &i32) == 0) {
                set_int(v, i32);
            }
            return;
        case 'd':
            if (avro_value_get_double(&x, &v->d) == 0) {
                v->t = V_NUM;
            }
            return;
        }
        return;
    case FS_ATTR:
    case FS_RESOURCE:
        if (bc_event_field(ev, f->src == FS_ATTR ? BC_EV_ATTRIBUTES : BC_EV_RESOURCE_ATTRIBUTES,
                           &fv) == 0 &&
            bc_event_kv_find(&fv, f->key, &x) == 0) {
            any_val(&x, v);
        }
        return;
    case FS_BODY:
        if (avro_value_get_by_index(ev, BC_EV_BODY, &fv, NULL) == 0 &&
            avro_value_get_discriminant(&fv, &e) == 0 && e > 0 &&
            avro_value_get_current_branch(&fv, &rec) == 0) {
            any_val(&rec, v);
        }
        return;
    case FS_FLAGS:
        return; /* lists are tested by list_test */
    }
}

static int num_cmp(const struct val *v, const struct lit *l)
{
    if (v->is_int && l->is_int) {
        return (v->i > l->i) - (v->i < l->i);
    }
    return (v->d > l->d) - (v->d < l->d);
}

/* Equal in type and value (numbers: numerically, long or double). */
static int lit_eq(const struct lit *l, const struct val *v)
{
    if (l->t != v->t) {
        return 0;
    }
    switch (l->t) {
    case V_STR:
        return l->len == v->len && memcmp(l->s, v->s, l->len) == 0;
    case V_NUM:
        return v->d == v->d && num_cmp(v, l) == 0;
    case V_BOOL:
        return l->i == v->i;
    default:
        return 0;
    }
}

static int lits_any_eq(const struct test *t, const struct val *v)
{
    for (size_t i = 0; i < t->n_lits; i++) {
        if (lit_eq(&t->lits[i], v)) {
            return 1;
        }
    }
    return 0;
}

/* A test on an array of strings: eq/in "contains one of", ne/not_in "contains none of". */
static int list_test(const struct test *t, avro_value_t *ev)
{
    avro_value_t arr, item;
    size_t n = 0;
    if (bc_event_field(ev, (enum bc_event_field)t->field.def->idx, &arr) != 0 ||
        avro_value_get_size(&arr, &n) != 0) {
        n = 0;
    }
    if (t->op == OP_EXISTS) {
        return (n > 0) == t->exists;
    }
    int found = 0;
    for (size_t i = 0; i < n && !found; i++) {
        struct val v = {0};
        size_t size;
        if (avro_value_get_by_index(&arr, i, &item, NULL) == 0 &&
            avro_value_get_string(&item, &v.s, &size) == 0) {
            v.t = V_STR;
            v.s = v.s != NULL ? v.s : "";
            v.len = size > 0 ? size - 1 : 0;
            found = lits_any_eq(t, &v);
        }
    }
    return t->op == OP_EQ || t->op == OP_IN ? found : !found;
}

static int test_eval(const struct test *t, avro_value_t *ev)
{
    if (t->field.src == FS_FLAGS) {
        return list_test(t, ev);
    }
    struct val v;
    fetch(&t->field, ev, &v);
    const struct lit *l = t->n_lits > 0 ? &t->lits[0] : NULL;
    switch (t->op) {
    case OP_EXISTS:
        return (v.t != V_NONE) == t->exists;
    case OP_EQ:
    case OP_IN:
        return lits_any_eq(t, &v);
    case OP_NE:
    case OP_NOT_IN:
        return !lits_any_eq(t, &v);
    case OP_PREFIX:
        return v.t == V_STR && v.len >= l->len && memcmp(v.s, l->s, l->len) == 0;
    case OP_SUFFIX:
        return v.t == V_STR && v.len >= l->len &&
               memcmp(v.s + v.len - l->len, l->s, l->len) == 0;
    case OP_CONTAINS:
        return v.t == V_STR && memmem(v.s, v.len, l->s, l->len) != NULL;
    case OP_REGEX:
        return v.t == V_STR && regexec(&t->re, v.s, 0, NULL, 0) == 0;
    case OP_GT:
        return v.t == V_NUM && v.d == v.d && num_cmp(&v, l) > 0;
    case OP_GE:
        return v.t == V_NUM && v.d == v.d && num_cmp(&v, l) >= 0;
    case OP_LT:
        return v.t == V_NUM && v.d == v.d && num_cmp(&v, l) < 0;
    case OP_LE:
        return v.t == V_NUM && v.d == v.d && num_cmp(&v, l) <= 0;
    }
    return 0;
}

static int cond_eval(const struct cond *cd, avro_value_t *ev)
{
    switch (cd->op) {
    case C_ALL:
        for (size_t i = 0; i < cd->n; i++) {
            if (!cond_eval(cd->kids[i], ev)) {
                return 0;
            }
        }
        return 1;
    case C_ANY:
        for (size_t i = 0; i < cd->n; i++) {
            if (cond_eval(cd->kids[i], ev)) {
                return 1;
            }
        }
        return 0;
    case C_NOT:
        return !cond_eval(cd->kids[0], ev);
    case C_TEST:
        return test_eval(cd->test, ev);
    }
    return 0;
}

int router_rule_matches(const struct router_table *t, size_t i, avro_value_t *event)
{
    const struct router_rule *r = &t->rules[i];
    return r->when == NULL || cond_eval(r->when, event);
}

struct router_decision *router_decision_new(const struct router_table *t)
{
    struct router_decision *d = calloc(1, sizeof(*d));
    if (d == NULL) {
        return NULL;
    }
    d->copies = calloc(t->n_targets + 1, sizeof(*d->copies));
    d->seen = calloc(t->n_targets + 1, 1);
    if (d->copies == NULL || d->seen == NULL) {
        router_decision_destroy(d);
        return NULL;
    }
    return d;
}

void router_decision_destroy(struct router_decision *d)
{
    if (d == NULL) {
        return;
    }
    free(d->copies);
    free(d->seen);
    free(d);
}

int router_route(struct router_table *t, avro_value_t *event, struct router_decision *d)
{
    d->n = 0;
    d->dropped_by = NULL;
    d->unmatched_dlq = 0;
    memset(d->seen, 0, t->n_targets);
    int matched = 0;
    for (size_t i = 0; i < t->n_rules; i++) {
        struct router_rule *r = &t->rules[i];
        if (r->when != NULL && !cond_eval(r->when, event)) {
            continue;
        }
        r->matched++;
        matched = 1;
        if (r->drop) {
            if (d->n == 0) {
                d->dropped_by = r;
            }
            break;
        }
        for (size_t k = 0; k < r->n_targets; k++) {
            size_t target = r->targets[k];
            if (!d->seen[target]) {
                d->seen[target] = 1;
                d->copies[d->n].rule = r;
                d->copies[d->n].target = target;
                d->n++;
            }
        }
        if (t->mode == ROUTER_FIRST_MATCH) {
            break;
        }
    }
    if (!matched) {
        if (t->default_target >= 0) {
            d->copies[0].rule = NULL;
            d->copies[0].target = (size_t)t->default_target;
            d->n = 1;
        } else {
            d->unmatched_dlq = 1;
        }
    }
    return 0;
}

int router_rule_key(const struct router_rule *r, avro_value_t *event, char *buf, size_t cap)
{
    if (r == NULL || !r->has_key) {
        return -1;
    }
    struct val v;
    fetch(&r->key, event, &v);
    int n = -1;
    switch (v.t) {
    case V_STR:
        if (v.len >= cap) {
            return -1;
        }
        memcpy(buf, v.s, v.len);
        buf[v.len] = '\0';
        return (int)v.len;
    case V_NUM:
        if (r->key.type == FT_ENUM) {
            n = snprintf(buf, cap, "%s", r->key.def->symbols[v.i]);
        } else if (v.is_int) {
            n = snprintf(buf, cap, "%" PRId64, v.i);
        } else {
            n = snprintf(buf, cap, "%.17g", v.d);
        }
        break;
    case V_BOOL:
        n = snprintf(buf, cap, "%s", v.i ? "true" : "false");
        break;
    default:
        return -1;
    }
    return n >= 0 && (size_t)n < cap ? n : -1;
}

static int keypat_match(const struct keypat *pats, size_t n, const char *key, size_t len)
{
    for (size_t i = 0; i < n; i++) {
        if (pats[i].prefix ? len >= pats[i].len && memcmp(key, pats[i].key, pats[i].len) == 0
                           : len == pats[i].len && memcmp(key, pats[i].key, len) == 0) {
            return 1;
        }
    }
    return 0;
}

/* dst (an array of KeyValue, emptied) receives src's entries whose keys match no pattern. */
static int kvs_filter(avro_value_t *dst, avro_value_t *src, const struct keypat *pats, size_t n)
{
    size_t size = 0;
    if (avro_value_reset(dst) != 0 || avro_value_get_size(src, &size) != 0) {
        return -1;
    }
    for (size_t i = 0; i < size; i++) {
        avro_value_t kv, k, out;
        const char *key = NULL;
        size_t key_size = 0;
        if (avro_value_get_by_index(src, i, &kv, NULL) != 0 ||
            avro_value_get_by_index(&kv, 0, &k, NULL) != 0 ||
            avro_value_get_string(&k, &key, &key_size) != 0) {
            return -1;
        }
        if (keypat_match(pats, n, key, key_size > 0 ? key_size - 1 : 0)) {
            continue;
        }
        if (avro_value_append(dst, &out, NULL) != 0 || avro_value_copy_fast(&out, &kv) != 0) {
            return -1;
        }
    }
    return 0;
}

avro_value_t *router_rule_project(const struct router_rule *r, avro_value_t *event,
                                  avro_value_t *scratch)
{
    if (r == NULL || !r->projects) {
        return event;
    }
    const struct projection *p = &r->proj;
    if (avro_value_reset(scratch) != 0 || avro_value_copy_fast(scratch, event) != 0) {
        return NULL;
    }
    for (int f = 0; f < BC_EV_FIELD_COUNT; f++) {
        avro_value_t arr;
        if ((p->null_mask >> f & 1) && bc_event_set_null(scratch, (enum bc_event_field)f) != 0) {
            return NULL;
        }
        if ((p->clear_mask >> f & 1) &&
            (bc_event_field(scratch, (enum bc_event_field)f, &arr) != 0 ||
             avro_value_reset(&arr) != 0)) {
            return NULL;
        }
    }
    if (p->clear_status_message) {
        avro_value_t st, msg;
        if (bc_event_field(scratch, BC_EV_STATUS, &st) != 0 ||
            avro_value_get_by_index(&st, 1, &msg, NULL) != 0 ||
            avro_value_set_string(&msg, "") != 0) {
            return NULL;
        }
    }
    static const struct {
        enum bc_event_field field;
        int res;
    } lists[] = {{BC_EV_ATTRIBUTES, 0}, {BC_EV_RESOURCE_ATTRIBUTES, 1}};
    for (size_t i = 0; i < 2; i++) {
        const struct keypat *pats = lists[i].res ? p->res : p->attrs;
        size_t n = lists[i].res ? p->n_res : p->n_attrs;
        avro_value_t dst, src;
        if (n == 0 || (p->clear_mask >> lists[i].field & 1)) {
            continue;
        }
        if (bc_event_field(scratch, lists[i].field, &dst) != 0 ||
            bc_event_field(event, lists[i].field, &src) != 0 ||
            kvs_filter(&dst, &src, pats, n) != 0) {
            return NULL;
        }
    }
    return scratch;
}
