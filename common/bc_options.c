/* Option tables (bc_options.h): the error list, duration and size parsing, validation of a
 * YAML node against a table, typed getters, the markdown reference and the worker registry. */
#include "bc_options.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "bc_config.h"

/* ---- small allocation helpers (configs are small: OOM aborts) ----------------------- */

void *bc_xcalloc(size_t n, size_t size)
{
    void *p = calloc(n == 0 ? 1 : n, size == 0 ? 1 : size);
    if (p == NULL) {
        fprintf(stderr, "breadcrumb: out of memory\n");
        abort();
    }
    return p;
}

char *bc_xstrdup(const char *s)
{
    char *p = strdup(s);
    if (p == NULL) {
        fprintf(stderr, "breadcrumb: out of memory\n");
        abort();
    }
    return p;
}

/* ---- errors -------------------------------------------------------------------------- */

static void errors_vadd(struct bc_errors *errs, const struct bc_pos *pos, const char *fmt,
                        va_list ap)
{
    if (errs->n == errs->cap) {
        size_t cap = errs->cap == 0 ? 16 : errs->cap * 2;
        struct bc_error *v = realloc(errs->v, cap * sizeof(*v));
        if (v == NULL) {
            fprintf(stderr, "breadcrumb: out of memory\n");
            abort();
        }
        errs->v = v;
        errs->cap = cap;
    }
    struct bc_error *e = &errs->v[errs->n++];
    memset(e, 0, sizeof(*e));
    if (pos != NULL && pos->file != NULL) {
        e->file = bc_xstrdup(pos->file);
    }
    if (pos != NULL) {
        e->line = pos->line;
        e->column = pos->column;
    }
    if (vasprintf(&e->message, fmt, ap) < 0) {
        fprintf(stderr, "breadcrumb: out of memory\n");
        abort();
    }
}

void bc_errors_add(struct bc_errors *errs, const struct bc_pos *pos, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    errors_vadd(errs, pos, fmt, ap);
    va_end(ap);
}

void bc_errors_sort(struct bc_errors *errs)
{
    /* Insertion sort: stable, and lists are short. */
    for (size_t i = 1; i < errs->n; i++) {
        struct bc_error e = errs->v[i];
        size_t j = i;
        while (j > 0) {
            const struct bc_error *p = &errs->v[j - 1];
            int c = strcmp(p->file ? p->file : "", e.file ? e.file : "");
            if (c == 0) {
                c = p->line != e.line ? (p->line > e.line ? 1 : -1)
                                      : (p->column > e.column ? 1 : 0);
            }
            if (c <= 0) {
                break;
            }
            errs->v[j] = errs->v[j - 1];
            j--;
        }
        errs->v[j] = e;
    }
}

void bc_errors_print(const struct bc_errors *errs, FILE *out)
{
    for (size_t i = 0; i < errs->n; i++) {
        const struct bc_error *e = &errs->v[i];
        if (e->file != NULL && e->line > 0) {
            fprintf(out, "%s:%d:%d: error: %s\n", e->file, e->line, e->column, e->message);
        } else if (e->file != NULL) {
            fprintf(out, "%s: error: %s\n", e->file, e->message);
        } else {
            fprintf(out, "error: %s\n", e->message);
        }
    }
}

void bc_errors_clear(struct bc_errors *errs)
{
    for (size_t i = 0; i < errs->n; i++) {
        free(errs->v[i].file);
        free(errs->v[i].message);
    }
    free(errs->v);
    memset(errs, 0, sizeof(*errs));
}

/* ---- nodes ----------------------------------------------------------------------------- */

const struct bc_node *bc_node_get(const struct bc_node *map, const char *key)
{
    if (map == NULL || map->kind != BC_NODE_MAP) {
        return NULL;
    }
    for (size_t i = 0; i < map->n; i++) {
        if (strcmp(map->keys[i]->scalar, key) == 0) {
            return map->values[i];
        }
    }
    return NULL;
}

const char *bc_node_kind_name(const struct bc_node *node)
{
    if (node == NULL) {
        return "nothing";
    }
    switch (node->kind) {
    case BC_NODE_MAP:
        return "a map";
    case BC_NODE_SEQ:
        return "a list";
    case BC_NODE_SCALAR:
        return node->is_null ? "null" : "a scalar";
    }
    return "?";
}

/* ---- durations and sizes --------------------------------------------------------------- */

int bc_duration_parse(const char *s, int64_t *ms)
{
    static const struct {
        const char *unit;
        int64_t ms;
    } units[] = {{"ms", 1},         {"s", BC_SECOND_MS}, {"m", BC_MINUTE_MS},
                 {"h", BC_HOUR_MS}, {"d", BC_DAY_MS},    {"w", 7 * BC_DAY_MS}};
    int64_t total = 0;
    const char *p = s;
    if (*p == '\0') {
        return -1;
    }
    while (*p != '\0') {
        if (!isdigit((unsigned char)*p)) {
            return -1;
        }
        errno = 0;
        char *end;
        unsigned long long n = strtoull(p, &end, 10);
        if (errno != 0 || n > INT64_MAX) {
            return -1;
        }
        size_t ulen = 0;
        while (isalpha((unsigned char)end[ulen])) {
            ulen++;
        }
        int64_t mult = 0;
        for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
            if (strlen(units[i].unit) == ulen && strncmp(end, units[i].unit, ulen) == 0) {
                mult = units[i].ms;
            }
        }
        if (mult == 0 || (int64_t)n > (INT64_MAX - total) / mult) {
            return -1;
        }
        total += (int64_t)n * mult;
        p = end + ulen;
    }
    *ms = total;
    return 0;
}

int bc_size_parse(const char *s, int64_t *bytes)
{
    static const struct {
        const char *unit;
        int64_t mult;
    } units[] = {{"", 1},
                 {"B", 1},
                 {"KiB", BC_KIB},
                 {"MiB", BC_MIB},
                 {"GiB", BC_GIB},
                 {"TiB", BC_GIB * 1024},
                 {"KB", 1000},
                 {"kB", 1000},
                 {"MB", 1000000},
                 {"GB", 1000000000},
                 {"TB", 1000000000000LL}};
    if (!isdigit((unsigned char)*s)) {
        return -1;
    }
    errno = 0;
    char *end;
    double v = strtod(s, &end);
    if (errno != 0 || end == s) {
        return -1;
    }
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (strcmp(end, units[i].unit) == 0) {
            double b = v * (double)units[i].mult;
            if (b > 9.0e18 || b != b) {
                return -1;
            }
            if (units[i].mult == 1 && b != (double)(int64_t)b) {
                return -1; /* fractional bytes */
            }
            *bytes = (int64_t)b;
            return 0;
        }
    }
    return -1;
}

void bc_duration_format(int64_t ms, char *buf, size_t size)
{
    static const struct {
        const char *unit;
        int64_t ms;
    } units[] = {
        {"d", BC_DAY_MS}, {"h", BC_HOUR_MS}, {"m", BC_MINUTE_MS}, {"s", BC_SECOND_MS}, {"ms", 1}};
    if (ms <= 0) {
        snprintf(buf, size, ms == 0 ? "0s" : "%" PRId64 "ms", ms);
        return;
    }
    size_t len = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]) && ms > 0; i++) {
        if (ms >= units[i].ms) {
            int n = snprintf(buf + len, len < size ? size - len : 0, "%" PRId64 "%s",
                             ms / units[i].ms, units[i].unit);
            len += (size_t)(n > 0 ? n : 0);
            ms %= units[i].ms;
        }
    }
}

void bc_size_format(int64_t bytes, char *buf, size_t size)
{
    static const struct {
        const char *unit;
        int64_t mult;
    } units[] = {{"GiB", BC_GIB}, {"MiB", BC_MIB}, {"KiB", BC_KIB}};
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (bytes >= units[i].mult && bytes % units[i].mult == 0) {
            snprintf(buf, size, "%" PRId64 "%s", bytes / units[i].mult, units[i].unit);
            return;
        }
    }
    snprintf(buf, size, "%" PRId64, bytes);
}

/* ---- values ---------------------------------------------------------------------------- */

static void value_free(struct bc_value *v)
{
    free(v->s);
    for (size_t i = 0; i < v->n; i++) {
        if (v->list != NULL) {
            free(v->list[i]);
        }
        if (v->names != NULL) {
            free(v->names[i]);
        }
        if (v->kv_values != NULL) {
            free(v->kv_values[i]);
        }
        if (v->entries != NULL) {
            bc_values_destroy(v->entries[i]);
        }
    }
    free(v->list);
    free(v->names);
    free(v->kv_values);
    free(v->entries);
    bc_values_destroy(v->sub);
}

void bc_values_destroy(struct bc_values *vals)
{
    if (vals == NULL) {
        return;
    }
    for (size_t i = 0; i < vals->n; i++) {
        value_free(&vals->v[i]);
    }
    free(vals->v);
    free(vals);
}

static const char *type_name(const struct bc_option *opt)
{
    switch (opt->type) {
    case BC_OPT_BOOL:
        return "a boolean (true or false)";
    case BC_OPT_INT:
        return "an integer";
    case BC_OPT_SIZE:
        return "a size (e.g. 64MiB)";
    case BC_OPT_DURATION:
        return "a duration (e.g. 500ms, 10s, 10m)";
    case BC_OPT_STRING:
    case BC_OPT_ENUM:
        return "a string";
    case BC_OPT_TOPIC:
        return "a topic name";
    case BC_OPT_LIST:
        return "a list of strings";
    case BC_OPT_TABLE:
    case BC_OPT_ENTRIES:
    case BC_OPT_KV:
        return "a map";
    case BC_OPT_NODE:
        return "a value";
    }
    return "?";
}

static void format_bound(const struct bc_option *opt, int64_t x, char *buf, size_t size)
{
    if (opt->type == BC_OPT_DURATION) {
        bc_duration_format(x, buf, size);
    } else if (opt->type == BC_OPT_SIZE) {
        bc_size_format(x, buf, size);
    } else {
        snprintf(buf, size, "%" PRId64, x);
    }
}

static void enum_list(const struct bc_option *opt, char *buf, size_t size)
{
    size_t len = 0;
    buf[0] = '\0';
    for (size_t i = 0; opt->values[i] != NULL; i++) {
        int n =
            snprintf(buf + len, len < size ? size - len : 0, "%s%s", i ? ", " : "", opt->values[i]);
        len += (size_t)(n > 0 ? n : 0);
    }
}

/* Parses text as opt's scalar type into v. Returns 0, or -1 with why filled. */
static int parse_scalar(const struct bc_option *opt, const char *text, struct bc_value *v,
                        char *why, size_t whysize)
{
    switch (opt->type) {
    case BC_OPT_BOOL:
        if (strcmp(text, "true") == 0 || strcmp(text, "True") == 0 || strcmp(text, "TRUE") == 0) {
            v->i = 1;
        } else if (strcmp(text, "false") == 0 || strcmp(text, "False") == 0 ||
                   strcmp(text, "FALSE") == 0) {
            v->i = 0;
        } else {
            snprintf(why, whysize, "expected true or false, got '%s'", text);
            return -1;
        }
        return 0;
    case BC_OPT_INT: {
        char *end;
        errno = 0;
        long long n = strtoll(text, &end, 10);
        if (*text == '\0' || *end != '\0' || errno != 0) {
            snprintf(why, whysize, "expected an integer, got '%s'", text);
            return -1;
        }
        v->i = n;
        return 0;
    }
    case BC_OPT_SIZE:
        if (bc_size_parse(text, &v->i) != 0) {
            snprintf(why, whysize,
                     "expected a size (bytes, or with a unit: KiB, MiB, GiB, KB, MB, GB), "
                     "got '%s'",
                     text);
            return -1;
        }
        return 0;
    case BC_OPT_DURATION:
        if (bc_duration_parse(text, &v->i) != 0) {
            snprintf(why, whysize,
                     "expected a duration with a unit (ms, s, m, h, d, w; e.g. 500ms, 10m), "
                     "got '%s'",
                     text);
            return -1;
        }
        return 0;
    case BC_OPT_ENUM:
        for (size_t i = 0; opt->values[i] != NULL; i++) {
            if (strcmp(opt->values[i], text) == 0) {
                v->s = bc_xstrdup(text);
                return 0;
            }
        }
        {
            char list[512];
            enum_list(opt, list, sizeof(list));
            snprintf(why, whysize, "'%s' is not one of: %s", text, list);
        }
        return -1;
    case BC_OPT_STRING:
    case BC_OPT_TOPIC:
        v->s = bc_xstrdup(text);
        return 0;
    default:
        snprintf(why, whysize, "not a scalar option");
        return -1;
    }
}

/* Bounds of INT/SIZE/DURATION. Returns 0, or -1 with why filled. */
static int check_bounds(const struct bc_option *opt, int64_t x, char *why, size_t whysize)
{
    if (opt->min == 0 && opt->max == 0) {
        return 0;
    }
    if (x < opt->min || x > opt->max) {
        char lo[32], hi[32], got[32];
        format_bound(opt, opt->min, lo, sizeof(lo));
        format_bound(opt, opt->max, hi, sizeof(hi));
        format_bound(opt, x, got, sizeof(got));
        snprintf(why, whysize, "%s is out of range (%s .. %s)", got, lo, hi);
        return -1;
    }
    return 0;
}

/* Applies opt's default to v (which is zeroed). Aborts on a malformed default: tables are
 * code, and test_config checks every default of every table. */
static void apply_default(const struct bc_option *opt, struct bc_value *v)
{
    char why[256];
    v->opt = opt;
    if (opt->type == BC_OPT_TABLE) {
        struct bc_check ck = {0};
        struct bc_errors errs = {0};
        ck.errs = &errs;
        v->sub = bc_options_validate(&ck, NULL, opt->name, opt->sub, NULL);
        v->has = 1;
        if (errs.n > 0) {
            fprintf(stderr, "breadcrumb: bad defaults in table '%s': %s\n", opt->name,
                    errs.v[0].message);
            abort();
        }
        return;
    }
    if (opt->def == NULL) {
        return;
    }
    v->has = 1;
    if (opt->type == BC_OPT_LIST) {
        char *copy = bc_xstrdup(opt->def);
        v->list = bc_xcalloc(strlen(copy) / 2 + 2, sizeof(char *));
        for (char *save = NULL, *t = strtok_r(copy, ",", &save); t != NULL;
             t = strtok_r(NULL, ",", &save)) {
            v->list[v->n++] = bc_xstrdup(t);
        }
        free(copy);
        return;
    }
    if (parse_scalar(opt, opt->def, v, why, sizeof(why)) != 0 ||
        check_bounds(opt, v->i, why, sizeof(why)) != 0) {
        fprintf(stderr, "breadcrumb: bad default for option '%s': %s\n", opt->name, why);
        abort();
    }
}

static char *join_path(const char *path, const char *name)
{
    char *s;
    if (asprintf(&s, "%s%s%s", path != NULL && *path ? path : "", path != NULL && *path ? "." : "",
                 name) < 0) {
        abort();
    }
    return s;
}

static void key_list(const struct bc_option *table, char *buf, size_t size)
{
    size_t len = 0;
    buf[0] = '\0';
    for (size_t i = 0; table[i].name != NULL; i++) {
        int n =
            snprintf(buf + len, len < size ? size - len : 0, "%s%s", i ? ", " : "", table[i].name);
        len += (size_t)(n > 0 ? n : 0);
    }
}

static const char *where(const char *path)
{
    return path != NULL && *path ? path : "the top level";
}

/* Validates one present node as opt into v. Returns the number of errors added. */
static int validate_value(struct bc_check *ck, const struct bc_option *opt,
                          const struct bc_node *node, const char *path, struct bc_value *v)
{
    char why[768];
    int before = (int)ck->errs->n;
    if (node->invalid) {
        /* The substitution error is all there is to say: keep a value, check nothing. */
        apply_default(opt, v);
        if ((opt->type == BC_OPT_STRING || opt->type == BC_OPT_TOPIC) && v->s == NULL) {
            v->s = bc_xstrdup(node->scalar);
            v->has = 1;
        }
        v->node = node;
        v->set = 1;
        return 0;
    }
    v->node = node;
    v->set = 1;
    v->has = 1;
    switch (opt->type) {
    case BC_OPT_BOOL:
    case BC_OPT_INT:
    case BC_OPT_SIZE:
    case BC_OPT_DURATION:
    case BC_OPT_STRING:
    case BC_OPT_ENUM:
    case BC_OPT_TOPIC:
        if (node->kind != BC_NODE_SCALAR || node->is_null) {
            bc_errors_add(ck->errs, &node->pos, "%s: expected %s, got %s", path, type_name(opt),
                          bc_node_kind_name(node));
            v->has = 0;
            break;
        }
        if (parse_scalar(opt, node->scalar, v, why, sizeof(why)) != 0 ||
            check_bounds(opt, v->i, why, sizeof(why)) != 0) {
            bc_errors_add(ck->errs, &node->pos, "%s: %s", path, why);
            break;
        }
        if (opt->type == BC_OPT_TOPIC && ck->config != NULL) {
            struct bc_check sub = *ck;
            sub.path = path;
            bc_check_topic(&sub, node);
        }
        break;
    case BC_OPT_LIST:
        if (node->kind == BC_NODE_SCALAR && !node->is_null) {
            v->list = bc_xcalloc(1, sizeof(char *));
            v->list[v->n++] = bc_xstrdup(node->scalar);
        } else if (node->kind == BC_NODE_SEQ) {
            v->list = bc_xcalloc(node->n, sizeof(char *));
            for (size_t i = 0; i < node->n; i++) {
                const struct bc_node *item = node->values[i];
                if (item->kind != BC_NODE_SCALAR || item->is_null) {
                    bc_errors_add(ck->errs, &item->pos, "%s: expected a string item, got %s", path,
                                  bc_node_kind_name(item));
                    continue;
                }
                v->list[v->n++] = bc_xstrdup(item->scalar);
            }
        } else {
            bc_errors_add(ck->errs, &node->pos, "%s: expected %s, got %s", path, type_name(opt),
                          bc_node_kind_name(node));
        }
        break;
    case BC_OPT_TABLE:
        v->sub = bc_options_validate(ck, node, path, opt->sub, NULL);
        if (v->sub == NULL) {
            v->sub = bc_options_validate(ck, NULL, path, opt->sub, NULL);
        }
        break;
    case BC_OPT_ENTRIES:
    case BC_OPT_KV:
        if (node->kind == BC_NODE_SCALAR && node->is_null) {
            break; /* an empty map */
        }
        if (node->kind != BC_NODE_MAP) {
            bc_errors_add(ck->errs, &node->pos, "%s: expected a map, got %s", path,
                          bc_node_kind_name(node));
            break;
        }
        v->names = bc_xcalloc(node->n, sizeof(char *));
        if (opt->type == BC_OPT_ENTRIES) {
            v->entries = bc_xcalloc(node->n, sizeof(struct bc_values *));
        } else {
            v->kv_values = bc_xcalloc(node->n, sizeof(char *));
        }
        for (size_t i = 0; i < node->n; i++) {
            const struct bc_node *val = node->values[i];
            char *sub_path = join_path(path, node->keys[i]->scalar);
            if (opt->type == BC_OPT_ENTRIES) {
                const struct bc_node *m = val->kind == BC_NODE_SCALAR && val->is_null ? NULL : val;
                struct bc_values *e =
                    bc_options_validate(ck, m, sub_path, opt->sub, &node->keys[i]->pos);
                if (e == NULL) {
                    /* Not a map (reported): keep the entry with defaults, so references
                     * to it do not add errors; its own missing keys are not news. */
                    struct bc_errors ignored = {0};
                    struct bc_check quiet = *ck;
                    quiet.errs = &ignored;
                    e = bc_options_validate(&quiet, NULL, sub_path, opt->sub, &node->keys[i]->pos);
                    bc_errors_clear(&ignored);
                    e->invalid = 1;
                }
                e->pos = node->keys[i]->pos;
                v->entries[v->n] = e;
            } else {
                if (val->kind != BC_NODE_SCALAR) {
                    bc_errors_add(ck->errs, &val->pos, "%s: expected a scalar, got %s", sub_path,
                                  bc_node_kind_name(val));
                    free(sub_path);
                    continue;
                }
                v->kv_values[v->n] = bc_xstrdup(val->scalar);
            }
            v->names[v->n++] = bc_xstrdup(node->keys[i]->scalar);
            free(sub_path);
        }
        break;
    case BC_OPT_NODE:
        break;
    }
    if ((int)ck->errs->n == before && opt->check != NULL) {
        struct bc_check sub = *ck;
        sub.path = path;
        opt->check(&sub, node);
    }
    return (int)ck->errs->n - before;
}

struct bc_values *bc_options_validate(struct bc_check *ck, const struct bc_node *node,
                                      const char *path, const struct bc_option *table,
                                      const struct bc_pos *parent_pos)
{
    if (node != NULL && node->kind == BC_NODE_SCALAR && node->is_null) {
        node = NULL;
    }
    if (node != NULL && node->kind != BC_NODE_MAP) {
        bc_errors_add(ck->errs, &node->pos, "%s: expected a map, got %s", where(path),
                      bc_node_kind_name(node));
        return NULL;
    }
    size_t n = 0;
    while (table[n].name != NULL) {
        n++;
    }
    struct bc_values *vals = bc_xcalloc(1, sizeof(*vals));
    vals->table = table;
    vals->n = n;
    vals->v = bc_xcalloc(n, sizeof(struct bc_value));
    if (node != NULL) {
        vals->pos = node->pos;
    } else if (parent_pos != NULL) {
        vals->pos = *parent_pos;
    }
    if (node != NULL) {
        for (size_t k = 0; k < node->n; k++) {
            const char *key = node->keys[k]->scalar;
            size_t i = 0;
            while (i < n && strcmp(table[i].name, key) != 0) {
                i++;
            }
            if (i == n) {
                char keys[1024];
                key_list(table, keys, sizeof(keys));
                bc_errors_add(ck->errs, &node->keys[k]->pos,
                              "unknown key '%s' in %s (expected one of: %s)", key, where(path),
                              keys);
                continue;
            }
            char *sub_path = join_path(path, key);
            vals->v[i].opt = &table[i];
            vals->v[i].key = node->keys[k];
            struct bc_value *v = &vals->v[i];
            if (validate_value(ck, &table[i], node->values[k], sub_path, v) > 0 &&
                table[i].type <= BC_OPT_TOPIC) {
                /* A bad scalar reads as its default, so later checks see a sane value. */
                const struct bc_node *at = v->node, *key_node = v->key;
                value_free(v);
                memset(v, 0, sizeof(*v));
                apply_default(&table[i], v);
                v->node = at;
                v->key = key_node;
                v->set = 1;
            }
            free(sub_path);
        }
    }
    for (size_t i = 0; i < n; i++) {
        struct bc_value *v = &vals->v[i];
        v->opt = &table[i];
        if (v->set) {
            continue;
        }
        if (table[i].flags & BC_OPT_REQUIRED) {
            const struct bc_pos *pos = parent_pos != NULL ? parent_pos
                                       : node != NULL     ? &node->pos
                                                          : NULL;
            bc_errors_add(ck->errs, pos, "missing required key '%s' in %s", table[i].name,
                          where(path));
            continue;
        }
        apply_default(&table[i], v);
    }
    return vals;
}

/* ---- getters ----------------------------------------------------------------------------- */

const struct bc_value *bc_values_find(const struct bc_values *vals, const char *path)
{
    while (vals != NULL) {
        const char *dot = strchr(path, '.');
        size_t len = dot != NULL ? (size_t)(dot - path) : strlen(path);
        const struct bc_value *found = NULL;
        for (size_t i = 0; i < vals->n; i++) {
            if (strlen(vals->table[i].name) == len &&
                strncmp(vals->table[i].name, path, len) == 0) {
                found = &vals->v[i];
            }
        }
        if (found == NULL || dot == NULL) {
            return found;
        }
        vals = found->sub;
        path = dot + 1;
    }
    return NULL;
}

static const struct bc_value *get_typed(const struct bc_values *vals, const char *path,
                                        unsigned types)
{
    const struct bc_value *v = bc_values_find(vals, path);
    if (v == NULL || !(types & (1u << v->opt->type))) {
        fprintf(stderr, "breadcrumb: option '%s' is %s\n", path,
                v == NULL ? "not declared" : "read with the wrong type");
        abort();
    }
    return v;
}

int bc_values_bool(const struct bc_values *vals, const char *path)
{
    return (int)get_typed(vals, path, 1u << BC_OPT_BOOL)->i;
}

int64_t bc_values_int(const struct bc_values *vals, const char *path)
{
    return get_typed(vals, path, 1u << BC_OPT_INT | 1u << BC_OPT_SIZE | 1u << BC_OPT_DURATION)->i;
}

const char *bc_values_str(const struct bc_values *vals, const char *path)
{
    return get_typed(vals, path, 1u << BC_OPT_STRING | 1u << BC_OPT_ENUM | 1u << BC_OPT_TOPIC)->s;
}

const char *const *bc_values_list(const struct bc_values *vals, const char *path, size_t *n)
{
    const struct bc_value *v = get_typed(vals, path, 1u << BC_OPT_LIST);
    *n = v->n;
    return (const char *const *)v->list;
}

const struct bc_node *bc_values_node(const struct bc_values *vals, const char *path)
{
    return get_typed(vals, path, 1u << BC_OPT_NODE)->node;
}

/* ---- checks -------------------------------------------------------------------------- */

void bc_check_error(struct bc_check *ck, const struct bc_node *node, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    const struct bc_pos *pos = node != NULL ? &node->pos : NULL;
    if (pos == NULL && ck->worker != NULL) {
        pos = &ck->worker->pos;
    }
    errors_vadd(ck->errs, pos, fmt, ap);
    va_end(ap);
}

int bc_check_topic(struct bc_check *ck, const struct bc_node *node)
{
    if (node == NULL || node->kind != BC_NODE_SCALAR || node->is_null) {
        bc_check_error(ck, node, "%s: expected a topic name, got %s", where(ck->path),
                       bc_node_kind_name(node));
        return -1;
    }
    if (ck->config != NULL && !ck->config->topics_invalid &&
        bc_config_topic(ck->config, node->scalar) == NULL) {
        bc_check_error(ck, node, "%s: topic '%s' is not declared in topics", where(ck->path),
                       node->scalar);
        return -1;
    }
    return 0;
}

static int in_list(const char *const *list, const char *s)
{
    for (size_t i = 0; list != NULL && list[i] != NULL; i++) {
        if (strcmp(list[i], s) == 0) {
            return 1;
        }
    }
    return 0;
}

int bc_check_keys(struct bc_check *ck, const struct bc_node *map, const char *what,
                  const char *const *allowed, const char *const *required)
{
    int errors = 0;
    if (map == NULL || map->kind != BC_NODE_MAP) {
        bc_check_error(ck, map, "%s: expected a map, got %s", what, bc_node_kind_name(map));
        return 1;
    }
    for (size_t i = 0; i < map->n; i++) {
        if (!in_list(allowed, map->keys[i]->scalar)) {
            char keys[1024];
            size_t len = 0;
            keys[0] = '\0';
            for (size_t j = 0; allowed[j] != NULL; j++) {
                int n = snprintf(keys + len, len < sizeof(keys) ? sizeof(keys) - len : 0, "%s%s",
                                 j ? ", " : "", allowed[j]);
                len += (size_t)(n > 0 ? n : 0);
            }
            bc_check_error(ck, map->keys[i], "unknown key '%s' in %s (expected one of: %s)",
                           map->keys[i]->scalar, what, keys);
            errors++;
        }
    }
    for (size_t i = 0; required != NULL && required[i] != NULL; i++) {
        if (bc_node_get(map, required[i]) == NULL) {
            bc_check_error(ck, map, "missing required key '%s' in %s", required[i], what);
            errors++;
        }
    }
    return errors;
}

int bc_check_table(struct bc_check *ck, const struct bc_node *node, const char *path,
                   const struct bc_option *table)
{
    size_t before = ck->errs->n;
    bc_values_destroy(bc_options_validate(ck, node, path, table, NULL));
    return (int)(ck->errs->n - before);
}

int bc_check_named_list(struct bc_check *ck, const struct bc_node *node, const char *what,
                        int (*each_rule)(struct bc_check *ck, const struct bc_node *rule))
{
    size_t before = ck->errs->n;
    if (node == NULL || node->kind != BC_NODE_SEQ) {
        bc_check_error(ck, node, "%s: expected a list of rules, got %s", what,
                       bc_node_kind_name(node));
        return 1;
    }
    for (size_t i = 0; i < node->n; i++) {
        const struct bc_node *rule = node->values[i];
        if (rule->kind != BC_NODE_MAP) {
            bc_check_error(ck, rule, "%s[%zu]: expected a map with a name, got %s", what, i,
                           bc_node_kind_name(rule));
            continue;
        }
        const struct bc_node *name = bc_node_get(rule, "name");
        if (name == NULL) {
            bc_check_error(ck, rule, "%s[%zu]: missing required key 'name'", what, i);
            continue;
        }
        if (name->kind != BC_NODE_SCALAR || name->is_null || name->scalar[0] == '\0') {
            bc_check_error(ck, name, "%s[%zu].name: expected a string, got %s", what, i,
                           bc_node_kind_name(name));
            continue;
        }
        int dup = 0;
        for (size_t j = 0; j < i && !dup; j++) {
            const struct bc_node *other = bc_node_get(node->values[j], "name");
            if (other != NULL && other->kind == BC_NODE_SCALAR &&
                strcmp(other->scalar, name->scalar) == 0) {
                bc_check_error(ck, name, "%s: duplicate rule name '%s' (first at line %d)", what,
                               name->scalar, other->pos.line);
                dup = 1;
            }
        }
        if (!dup && each_rule != NULL) {
            each_rule(ck, rule);
        }
    }
    return (int)(ck->errs->n - before);
}

/* ---- reference ------------------------------------------------------------------------ */

static void type_doc(const struct bc_option *opt, int markdown, char *buf, size_t size)
{
    switch (opt->type) {
    case BC_OPT_BOOL:
        snprintf(buf, size, "bool");
        break;
    case BC_OPT_INT:
        snprintf(buf, size, "int");
        break;
    case BC_OPT_SIZE:
        snprintf(buf, size, "size");
        break;
    case BC_OPT_DURATION:
        snprintf(buf, size, "duration");
        break;
    case BC_OPT_STRING:
        snprintf(buf, size, "string");
        break;
    case BC_OPT_ENUM: {
        size_t len = 0;
        buf[0] = '\0';
        for (size_t i = 0; opt->values[i] != NULL; i++) {
            int n = snprintf(buf + len, len < size ? size - len : 0, markdown ? "%s`%s`" : "%s%s",
                             i ? (markdown ? " \\| " : "|") : "", opt->values[i]);
            len += (size_t)(n > 0 ? n : 0);
        }
        break;
    }
    case BC_OPT_LIST:
        snprintf(buf, size, "list of strings");
        break;
    case BC_OPT_TOPIC:
        snprintf(buf, size, "topic");
        break;
    case BC_OPT_TABLE:
        snprintf(buf, size, "map");
        break;
    case BC_OPT_ENTRIES:
        snprintf(buf, size, "map of name → map");
        break;
    case BC_OPT_KV:
        snprintf(buf, size, "map of string");
        break;
    case BC_OPT_NODE:
        snprintf(buf, size, "rules (YAML)");
        break;
    }
}

void bc_options_reference_table(FILE *out, const struct bc_option *table, const char *prefix)
{
    if (prefix == NULL) {
        fprintf(out, "| key | type | default | bounds | description |\n");
        fprintf(out, "|---|---|---|---|---|\n");
        prefix = "";
    }
    for (size_t i = 0; table[i].name != NULL; i++) {
        const struct bc_option *opt = &table[i];
        char type[512], def[128] = "", bounds[96] = "";
        type_doc(opt, 1, type, sizeof(type));
        if (opt->doc_type != NULL) {
            snprintf(type, sizeof(type), "%s", opt->doc_type);
        }
        if (opt->flags & BC_OPT_REQUIRED) {
            snprintf(def, sizeof(def), "*required*");
        } else if (opt->def != NULL && opt->type == BC_OPT_LIST) {
            char list[100];
            size_t len = 0;
            for (const char *c = opt->def; *c != '\0' && len + 3 < sizeof(list); c++) {
                if (*c == ',') {
                    list[len++] = ',';
                    list[len++] = ' '; /* "a,b" -> "[a, b]", which reads as YAML */
                } else {
                    list[len++] = *c;
                }
            }
            list[len] = '\0';
            snprintf(def, sizeof(def), "`[%s]`", list);
        } else if (opt->def != NULL) {
            snprintf(def, sizeof(def), "`%s`", opt->def);
        }
        if (opt->min != 0 || opt->max != 0) {
            char lo[32], hi[32];
            format_bound(opt, opt->min, lo, sizeof(lo));
            format_bound(opt, opt->max, hi, sizeof(hi));
            snprintf(bounds, sizeof(bounds), "%s .. %s", lo, hi);
        }
        fprintf(out, "| `%s%s` | %s | %s | %s | %s |\n", prefix, opt->name, type, def, bounds,
                opt->description != NULL ? opt->description : "");
        if (opt->type == BC_OPT_TABLE || opt->type == BC_OPT_ENTRIES) {
            char *sub;
            if (asprintf(&sub, "%s%s%s.", prefix, opt->name,
                         opt->type == BC_OPT_ENTRIES ? ".<name>" : "") < 0) {
                abort();
            }
            bc_options_reference_table(out, opt->sub, sub);
            free(sub);
        }
    }
}

void bc_options_help(FILE *out, const struct bc_worker_type *type)
{
    fprintf(out, "%s: %s\n\noptions (workers.<name>.options in the topology):\n", type->name,
            type->summary);
    for (size_t i = 0; type->options[i].name != NULL; i++) {
        const struct bc_option *opt = &type->options[i];
        char t[512];
        type_doc(opt, 0, t, sizeof(t));
        if (opt->doc_type != NULL) {
            snprintf(t, sizeof(t), "%s", opt->doc_type);
        }
        fprintf(out, "  %-28s %s%s%s\n      %s\n", opt->name, t,
                opt->def != NULL ? ", default " : "", opt->def != NULL ? opt->def : "",
                opt->description);
    }
}

/* ---- registry ------------------------------------------------------------------------ */

extern const struct bc_worker_type bc_normalizer_type;
extern const struct bc_worker_type bc_deduplicator_type;
extern const struct bc_worker_type bc_enricher_type;
extern const struct bc_worker_type bc_tail_sampler_type;
extern const struct bc_worker_type bc_router_type;
extern const struct bc_worker_type bc_lineage_builder_type;

const struct bc_worker_type *const bc_worker_types[] = {
    &bc_normalizer_type,
    &bc_deduplicator_type,
    &bc_enricher_type,
    &bc_tail_sampler_type,
    &bc_router_type,
    &bc_lineage_builder_type,
    NULL,
};

const struct bc_worker_type *bc_worker_type_find(const char *name)
{
    for (size_t i = 0; bc_worker_types[i] != NULL; i++) {
        if (strcmp(bc_worker_types[i]->name, name) == 0) {
            return bc_worker_types[i];
        }
    }
    return NULL;
}
