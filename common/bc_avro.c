/*
 * The Avro registry (schemas/manifest.json), the schema compiler (avro-c schema + .avsc JSON
 * -> bc_avro_node graph with binary defaults), resolution plans and the compatibility
 * checks. Encoding and decoding are in bc_avro_codec.c, JSON in bc_avro_json.c.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bc_avro_internal.h"

struct bc_avro_registry {
    char *dir;
    struct bc_avro_schema **schemas; /* manifest order */
    size_t nschemas;
};

static void set_err(char *errstr, size_t errstr_size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_err(char *errstr, size_t errstr_size, const char *fmt, ...)
{
    if (errstr == NULL || errstr_size == 0) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errstr, errstr_size, fmt, ap);
    va_end(ap);
}

const char *bc_avro_strerror(int status)
{
    switch (status) {
    case BC_AVRO_OK:
        return "ok";
    case BC_AVRO_ERR_BAD_MAGIC:
        return "bad_magic";
    case BC_AVRO_ERR_UNKNOWN_ID:
        return "unknown_id";
    case BC_AVRO_ERR_TRUNCATED:
        return "truncated";
    case BC_AVRO_ERR_TRAILING:
        return "trailing_bytes";
    case BC_AVRO_ERR_MALFORMED:
        return "malformed";
    case BC_AVRO_ERR_INCOMPATIBLE:
        return "incompatible";
    case BC_AVRO_ERR_VALUE:
        return "invalid_value";
    case BC_AVRO_ERR_ARG:
        return "invalid_argument";
    default:
        return "unknown_error";
    }
}

/* Reads a whole file into a NUL-terminated string (new). Returns NULL and sets errno. */
static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *text = NULL;
    size_t len = 0, cap = 0;
    if (f == NULL) {
        return NULL;
    }
    for (;;) {
        if (cap - len < 4096) {
            cap = cap ? cap * 2 : 8192;
            char *grown = realloc(text, cap);
            if (grown == NULL) {
                free(text);
                fclose(f);
                errno = ENOMEM;
                return NULL;
            }
            text = grown;
        }
        size_t n = fread(text + len, 1, cap - len - 1, f);
        len += n;
        if (n == 0) {
            break;
        }
    }
    int failed = ferror(f);
    fclose(f);
    if (failed) {
        free(text);
        errno = EIO;
        return NULL;
    }
    text[len] = '\0';
    return text;
}

static char **strv_from_json(json_t *array, size_t *count)
{
    *count = 0;
    if (!json_is_array(array) || json_array_size(array) == 0) {
        return NULL;
    }
    char **v = calloc(json_array_size(array), sizeof(*v));
    if (v == NULL) {
        return NULL;
    }
    size_t i;
    json_t *item;
    json_array_foreach(array, i, item)
    {
        if (json_is_string(item)) {
            v[(*count)++] = strdup(json_string_value(item));
        }
    }
    return v;
}

static void strv_free(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(v[i]);
    }
    free(v);
}

/* ---------------------------------------------------------------------------------------
 * Schema compiler */

static int is_named_type(const char *type)
{
    return strcmp(type, "record") == 0 || strcmp(type, "error") == 0 || strcmp(type, "enum") == 0 ||
           strcmp(type, "fixed") == 0;
}

/* Records every named type definition of the .avsc JSON in defs (full name -> object),
 * following Avro's namespace rules. */
static void collect_named(json_t *j, const char *ns, json_t *defs)
{
    if (json_is_array(j)) {
        size_t i;
        json_t *item;
        json_array_foreach(j, i, item)
        {
            collect_named(item, ns, defs);
        }
        return;
    }
    if (!json_is_object(j)) {
        return;
    }
    json_t *type = json_object_get(j, "type");
    char full[512];
    const char *child_ns = ns;
    char child_ns_buf[512];
    if (json_is_string(type) && is_named_type(json_string_value(type))) {
        const char *name = json_string_value(json_object_get(j, "name"));
        const char *space = json_string_value(json_object_get(j, "namespace"));
        if (name != NULL) {
            if (strchr(name, '.') != NULL) {
                snprintf(full, sizeof(full), "%s", name);
            } else if (space != NULL && space[0] != '\0') {
                snprintf(full, sizeof(full), "%s.%s", space, name);
            } else if (space == NULL && ns != NULL && ns[0] != '\0') {
                snprintf(full, sizeof(full), "%s.%s", ns, name);
            } else {
                snprintf(full, sizeof(full), "%s", name);
            }
            json_object_set(defs, full, j);
            const char *dot = strrchr(full, '.');
            if (dot != NULL) {
                snprintf(child_ns_buf, sizeof(child_ns_buf), "%.*s", (int)(dot - full), full);
                child_ns = child_ns_buf;
            } else {
                child_ns = "";
            }
        }
    } else if (type != NULL && !json_is_string(type)) {
        collect_named(type, ns, defs);
    }
    json_t *fields = json_object_get(j, "fields");
    if (json_is_array(fields)) {
        size_t i;
        json_t *field;
        json_array_foreach(fields, i, field)
        {
            collect_named(json_object_get(field, "type"), child_ns, defs);
        }
    }
    collect_named(json_object_get(j, "items"), child_ns, defs);
    collect_named(json_object_get(j, "values"), child_ns, defs);
}

struct compile_ctx {
    struct bc_avro_compiled *c;
    json_t *defs;
    char *errstr;
    size_t errstr_size;
};

static struct bc_avro_node *node_add(struct bc_avro_compiled *c)
{
    if (c->nnodes == c->nodes_cap) {
        size_t cap = c->nodes_cap ? c->nodes_cap * 2 : 32;
        struct bc_avro_node **grown = realloc(c->nodes, cap * sizeof(*grown));
        if (grown == NULL) {
            return NULL;
        }
        c->nodes = grown;
        c->nodes_cap = cap;
    }
    struct bc_avro_node *node = calloc(1, sizeof(*node));
    if (node != NULL) {
        node->enum_default = -1;
        c->nodes[c->nnodes++] = node;
    }
    return node;
}

static const char *primitive_name(avro_type_t type)
{
    switch (type) {
    case AVRO_STRING:
        return "string";
    case AVRO_BYTES:
        return "bytes";
    case AVRO_INT32:
        return "int";
    case AVRO_INT64:
        return "long";
    case AVRO_FLOAT:
        return "float";
    case AVRO_DOUBLE:
        return "double";
    case AVRO_BOOLEAN:
        return "boolean";
    case AVRO_NULL:
        return "null";
    case AVRO_ARRAY:
        return "array";
    case AVRO_MAP:
        return "map";
    case AVRO_UNION:
        return "union";
    default:
        return "?";
    }
}

static struct bc_avro_node *compile_node(struct compile_ctx *cx, avro_schema_t s)
{
    while (avro_typeof(s) == AVRO_LINK) {
        s = avro_schema_link_target(s);
    }
    avro_type_t type = avro_typeof(s);
    int named = type == AVRO_RECORD || type == AVRO_ENUM || type == AVRO_FIXED;
    if (named) {
        for (size_t i = 0; i < cx->c->nnodes; i++) {
            if (cx->c->nodes[i]->schema == s) {
                return cx->c->nodes[i];
            }
        }
    }
    struct bc_avro_node *node = node_add(cx->c);
    if (node == NULL) {
        set_err(cx->errstr, cx->errstr_size, "out of memory");
        return NULL;
    }
    node->type = type;
    node->schema = s;
    node->name = primitive_name(type);
    json_t *def = NULL;
    if (named) {
        const char *space = avro_schema_namespace(s);
        const char *name = avro_schema_type_name(s);
        size_t size = strlen(name) + (space ? strlen(space) : 0) + 2;
        node->fullname = malloc(size);
        if (node->fullname == NULL) {
            set_err(cx->errstr, cx->errstr_size, "out of memory");
            return NULL;
        }
        if (space != NULL && space[0] != '\0') {
            snprintf(node->fullname, size, "%s.%s", space, name);
        } else {
            snprintf(node->fullname, size, "%s", name);
        }
        const char *dot = strrchr(node->fullname, '.');
        node->name = dot ? dot + 1 : node->fullname;
        def = json_object_get(cx->defs, node->fullname);
        if (def == NULL) {
            set_err(cx->errstr, cx->errstr_size, "%s: definition not found in the schema text",
                    node->fullname);
            return NULL;
        }
        node->aliases = strv_from_json(json_object_get(def, "aliases"), &node->naliases);
    }
    switch (type) {
    case AVRO_RECORD: {
        node->n = avro_schema_record_size(s);
        json_t *jfields = json_object_get(def, "fields");
        if (json_array_size(jfields) != node->n) {
            set_err(cx->errstr, cx->errstr_size, "%s: field count mismatch", node->fullname);
            return NULL;
        }
        node->fields = calloc(node->n ? node->n : 1, sizeof(*node->fields));
        if (node->fields == NULL) {
            set_err(cx->errstr, cx->errstr_size, "out of memory");
            return NULL;
        }
        for (size_t i = 0; i < node->n; i++) {
            struct bc_avro_field *f = &node->fields[i];
            json_t *jf = json_array_get(jfields, i);
            f->name = strdup(avro_schema_record_field_name(s, (int)i));
            f->aliases = strv_from_json(json_object_get(jf, "aliases"), &f->naliases);
            json_t *d = json_object_get(jf, "default");
            f->default_json = d ? json_incref(d) : NULL;
            f->type = compile_node(cx, avro_schema_record_field_get_by_index(s, (int)i));
            if (f->name == NULL || f->type == NULL) {
                return NULL;
            }
        }
        break;
    }
    case AVRO_ENUM: {
        node->n = (size_t)avro_schema_enum_number_of_symbols(s);
        node->symbols = calloc(node->n ? node->n : 1, sizeof(*node->symbols));
        if (node->symbols == NULL) {
            set_err(cx->errstr, cx->errstr_size, "out of memory");
            return NULL;
        }
        for (size_t i = 0; i < node->n; i++) {
            node->symbols[i] = strdup(avro_schema_enum_get(s, (int)i));
        }
        const char *dflt = json_string_value(json_object_get(def, "default"));
        if (dflt != NULL) {
            node->enum_default = avro_schema_enum_get_by_name(s, dflt);
            if (node->enum_default < 0) {
                set_err(cx->errstr, cx->errstr_size, "%s: default \"%s\" is not a symbol",
                        node->fullname, dflt);
                return NULL;
            }
        }
        break;
    }
    case AVRO_FIXED:
        node->n = (size_t)avro_schema_fixed_size(s);
        break;
    case AVRO_ARRAY:
        node->items = compile_node(cx, avro_schema_array_items(s));
        if (node->items == NULL) {
            return NULL;
        }
        break;
    case AVRO_MAP:
        node->items = compile_node(cx, avro_schema_map_values(s));
        if (node->items == NULL) {
            return NULL;
        }
        break;
    case AVRO_UNION:
        node->n = avro_schema_union_size(s);
        node->branches = calloc(node->n ? node->n : 1, sizeof(*node->branches));
        if (node->branches == NULL) {
            set_err(cx->errstr, cx->errstr_size, "out of memory");
            return NULL;
        }
        for (size_t i = 0; i < node->n; i++) {
            node->branches[i] = compile_node(cx, avro_schema_union_branch(s, (int)i));
            if (node->branches[i] == NULL) {
                return NULL;
            }
        }
        break;
    default:
        break;
    }
    return node;
}

#define MIN_SIZE_VISITING SIZE_MAX
#define MIN_SIZE_UNKNOWN (SIZE_MAX - 1)

static size_t compute_min_size(struct bc_avro_node *node)
{
    if (node->min_size == MIN_SIZE_VISITING) {
        return 0; /* recursion: an underestimate is safe */
    }
    if (node->min_size != MIN_SIZE_UNKNOWN) {
        return node->min_size;
    }
    node->min_size = MIN_SIZE_VISITING;
    size_t size = 0;
    switch (node->type) {
    case AVRO_NULL:
        size = 0;
        break;
    case AVRO_FLOAT:
        size = 4;
        break;
    case AVRO_DOUBLE:
        size = 8;
        break;
    case AVRO_FIXED:
        size = node->n;
        break;
    case AVRO_RECORD:
        for (size_t i = 0; i < node->n; i++) {
            size += compute_min_size(node->fields[i].type);
        }
        break;
    case AVRO_UNION:
        for (size_t i = 0; i < node->n; i++) {
            compute_min_size(node->branches[i]);
        }
        size = 1;
        break;
    case AVRO_ARRAY:
    case AVRO_MAP:
        compute_min_size(node->items);
        size = 1;
        break;
    default:
        size = 1;
        break;
    }
    node->min_size = size;
    return size;
}

void bc_avro_compiled_free(struct bc_avro_compiled *c)
{
    if (c == NULL) {
        return;
    }
    for (size_t i = 0; i < c->nnodes; i++) {
        struct bc_avro_node *node = c->nodes[i];
        free(node->fullname);
        strv_free(node->aliases, node->naliases);
        if (node->fields != NULL) {
            for (size_t k = 0; k < node->n; k++) {
                free(node->fields[k].name);
                strv_free(node->fields[k].aliases, node->fields[k].naliases);
                json_decref(node->fields[k].default_json);
                free(node->fields[k].default_bin);
            }
            free(node->fields);
        }
        if (node->symbols != NULL) {
            strv_free(node->symbols, node->n);
        }
        free(node->branches);
        free(node);
    }
    free(c->nodes);
    free(c->canonical);
    json_decref(c->json);
    if (c->schema != NULL) {
        avro_schema_decref(c->schema);
    }
    memset(c, 0, sizeof(*c));
}

/* ---------------------------------------------------------------------------------------
 * Parsing Canonical Form and its CRC-64-AVRO fingerprint (Avro specification): names in
 * full, only name/type/fields/symbols/items/values/size in that order, no whitespace, a named
 * type written out once and referred to by its full name after. */

static int pcf_put(struct bc_avro_buf *out, const char *s)
{
    return bc_avro_buf_put(out, s, strlen(s));
}

static int pcf_node(struct bc_avro_buf *out, const struct bc_avro_node *node,
                    const struct bc_avro_node **seen, size_t *nseen, size_t cap)
{
    int rc = 0;
    if (node->fullname != NULL) {
        for (size_t i = 0; i < *nseen; i++) {
            if (seen[i] == node) {
                return pcf_put(out, "\"") | pcf_put(out, node->fullname) | pcf_put(out, "\"");
            }
        }
        if (*nseen == cap) {
            return -1;
        }
        seen[(*nseen)++] = node;
    }
    switch (node->type) {
    case AVRO_RECORD:
        rc |= pcf_put(out, "{\"name\":\"") | pcf_put(out, node->fullname) |
              pcf_put(out, "\",\"type\":\"record\",\"fields\":[");
        for (size_t i = 0; i < node->n; i++) {
            rc |= pcf_put(out, i ? ",{\"name\":\"" : "{\"name\":\"") |
                  pcf_put(out, node->fields[i].name) | pcf_put(out, "\",\"type\":");
            rc |= pcf_node(out, node->fields[i].type, seen, nseen, cap) | pcf_put(out, "}");
        }
        return rc | pcf_put(out, "]}");
    case AVRO_ENUM:
        rc |= pcf_put(out, "{\"name\":\"") | pcf_put(out, node->fullname) |
              pcf_put(out, "\",\"type\":\"enum\",\"symbols\":[");
        for (size_t i = 0; i < node->n; i++) {
            rc |= pcf_put(out, i ? ",\"" : "\"") | pcf_put(out, node->symbols[i]) |
                  pcf_put(out, "\"");
        }
        return rc | pcf_put(out, "]}");
    case AVRO_FIXED: {
        char size[32];
        snprintf(size, sizeof(size), "%zu", node->n);
        return pcf_put(out, "{\"name\":\"") | pcf_put(out, node->fullname) |
               pcf_put(out, "\",\"type\":\"fixed\",\"size\":") | pcf_put(out, size) |
               pcf_put(out, "}");
    }
    case AVRO_ARRAY:
    case AVRO_MAP:
        rc |= pcf_put(out, node->type == AVRO_ARRAY ? "{\"type\":\"array\",\"items\":"
                                                    : "{\"type\":\"map\",\"values\":");
        return rc | pcf_node(out, node->items, seen, nseen, cap) | pcf_put(out, "}");
    case AVRO_UNION:
        rc |= pcf_put(out, "[");
        for (size_t i = 0; i < node->n; i++) {
            rc |= (i ? pcf_put(out, ",") : 0) | pcf_node(out, node->branches[i], seen, nseen, cap);
        }
        return rc | pcf_put(out, "]");
    default:
        return pcf_put(out, "\"") | pcf_put(out, node->name) | pcf_put(out, "\"");
    }
}

static uint64_t crc64_avro(const uint8_t *data, size_t len)
{
    static const uint64_t empty = 0xc15d213aa4d7a795ULL;
    uint64_t table[256];
    for (int i = 0; i < 256; i++) {
        uint64_t fp = (uint64_t)i;
        for (int j = 0; j < 8; j++) {
            fp = (fp >> 1) ^ (empty & (0 - (fp & 1)));
        }
        table[i] = fp;
    }
    uint64_t fp = empty;
    for (size_t i = 0; i < len; i++) {
        fp = (fp >> 8) ^ table[(fp ^ data[i]) & 0xff];
    }
    return fp;
}

static int canonical_form(struct bc_avro_compiled *c, char *errstr, size_t errstr_size)
{
    struct bc_avro_buf out = {0};
    const struct bc_avro_node **seen = calloc(c->nnodes + 1, sizeof(*seen));
    size_t nseen = 0;
    if (seen == NULL || pcf_node(&out, c->root, seen, &nseen, c->nnodes + 1) != 0 ||
        bc_avro_buf_put(&out, "", 1) != 0) {
        free(seen);
        bc_avro_buf_free(&out);
        set_err(errstr, errstr_size, "out of memory");
        return -1;
    }
    free(seen);
    c->canonical = (char *)out.data;
    c->fingerprint = crc64_avro(out.data, out.len - 1);
    return 0;
}

int bc_avro_compile(const char *text, struct bc_avro_compiled *c, char *errstr, size_t errstr_size)
{
    memset(c, 0, sizeof(*c));
    json_t *defs = NULL;
    json_error_t jerr;
    c->json = json_loads(text, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);
    if (c->json == NULL) {
        set_err(errstr, errstr_size, "line %d column %d: %s", jerr.line, jerr.column, jerr.text);
        goto fail;
    }
    if (avro_schema_from_json_length(text, strlen(text), &c->schema) != 0) {
        c->schema = NULL;
        set_err(errstr, errstr_size, "%s", avro_strerror());
        goto fail;
    }
    defs = json_object();
    if (defs == NULL) {
        set_err(errstr, errstr_size, "out of memory");
        goto fail;
    }
    collect_named(c->json, NULL, defs);
    struct compile_ctx cx = {c, defs, errstr, errstr_size};
    c->root = compile_node(&cx, c->schema);
    if (c->root == NULL) {
        goto fail;
    }
    for (size_t i = 0; i < c->nnodes; i++) {
        c->nodes[i]->min_size = MIN_SIZE_UNKNOWN;
    }
    for (size_t i = 0; i < c->nnodes; i++) {
        compute_min_size(c->nodes[i]);
    }
    /* Defaults last: a default of a recursive type needs the whole graph. */
    for (size_t i = 0; i < c->nnodes; i++) {
        struct bc_avro_node *node = c->nodes[i];
        if (node->type != AVRO_RECORD) {
            continue;
        }
        for (size_t k = 0; k < node->n; k++) {
            struct bc_avro_field *f = &node->fields[k];
            if (f->default_json == NULL) {
                continue;
            }
            struct bc_avro_buf buf = {0};
            char why[256];
            if (bc_avro_json_to_binary(f->type, f->default_json, 1, &buf, why, sizeof(why)) != 0) {
                bc_avro_buf_free(&buf);
                set_err(errstr, errstr_size, "%s.%s: invalid default: %s", node->fullname, f->name,
                        why);
                goto fail;
            }
            f->default_bin = buf.data;
            f->default_len = buf.len;
        }
    }
    if (canonical_form(c, errstr, errstr_size) != 0) {
        goto fail;
    }
    json_decref(defs);
    return 0;
fail:
    json_decref(defs);
    bc_avro_compiled_free(c);
    return -1;
}

int bc_avro_fingerprint(const char *text, uint64_t *fingerprint, char **canonical, char *errstr,
                        size_t errstr_size)
{
    struct bc_avro_compiled c;
    if (bc_avro_compile(text, &c, errstr, errstr_size) != 0) {
        return -1;
    }
    *fingerprint = c.fingerprint;
    if (canonical != NULL) {
        *canonical = c.canonical;
        c.canonical = NULL;
    }
    bc_avro_compiled_free(&c);
    return 0;
}

/* ---------------------------------------------------------------------------------------
 * Resolution plans */

static void plan_problem(struct bc_avro_plan *plan, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void plan_problem(struct bc_avro_plan *plan, const char *path, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    size_t need = strlen(path) + strlen(msg) + 4;
    char *grown = realloc(plan->problems, plan->problems_len + need + 1);
    if (grown == NULL) {
        return;
    }
    plan->problems = grown;
    plan->problems_len += (size_t)snprintf(plan->problems + plan->problems_len, need + 1,
                                           "%s: %s\n", path[0] ? path : "(root)", msg);
}

static int names_match(const struct bc_avro_node *w, const struct bc_avro_node *r)
{
    if (strcmp(w->name, r->name) == 0) {
        return 1;
    }
    for (size_t i = 0; i < r->naliases; i++) {
        const char *alias = r->aliases[i];
        if (strcmp(alias, w->fullname) == 0 || strcmp(alias, w->name) == 0) {
            return 1;
        }
    }
    return 0;
}

/* Whether data of primitive writer type can be read as primitive reader type. */
static int promotable(avro_type_t w, avro_type_t r)
{
    if (w == r) {
        return 1;
    }
    switch (w) {
    case AVRO_INT32:
        return r == AVRO_INT64 || r == AVRO_FLOAT || r == AVRO_DOUBLE;
    case AVRO_INT64:
        return r == AVRO_FLOAT || r == AVRO_DOUBLE;
    case AVRO_FLOAT:
        return r == AVRO_DOUBLE;
    case AVRO_STRING:
        return r == AVRO_BYTES;
    case AVRO_BYTES:
        return r == AVRO_STRING;
    default:
        return 0;
    }
}

static int is_primitive(avro_type_t t)
{
    return t == AVRO_STRING || t == AVRO_BYTES || t == AVRO_INT32 || t == AVRO_INT64 ||
           t == AVRO_FLOAT || t == AVRO_DOUBLE || t == AVRO_BOOLEAN || t == AVRO_NULL;
}

/* How well writer type w matches reader type r for choosing a reader union branch:
 * 2 exact (same type, same name), 1 by promotion or alias, 0 not at all. */
static int branch_match(const struct bc_avro_node *w, const struct bc_avro_node *r)
{
    if (is_primitive(w->type)) {
        if (w->type == r->type) {
            return 2;
        }
        return is_primitive(r->type) && promotable(w->type, r->type) ? 1 : 0;
    }
    if (w->type != r->type) {
        return 0;
    }
    if (w->type == AVRO_ARRAY || w->type == AVRO_MAP) {
        return 2;
    }
    if (strcmp(w->fullname, r->fullname) == 0) {
        return 2;
    }
    return names_match(w, r) ? 1 : 0;
}

static struct bc_avro_res *res_get(struct bc_avro_plan *plan, const struct bc_avro_node *w,
                                   const struct bc_avro_node *r, const char *path);

static struct bc_avro_res *res_fail(struct bc_avro_plan *plan, struct bc_avro_res *res,
                                    const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static struct bc_avro_res *res_fail(struct bc_avro_plan *plan, struct bc_avro_res *res,
                                    const char *path, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    res->op = BC_RES_FAIL;
    free(res->message);
    res->message = malloc(strlen(path) + strlen(msg) + 16);
    if (res->message != NULL) {
        sprintf(res->message, "%s: %s", path[0] ? path : "(root)", msg);
    }
    plan_problem(plan, path, "%s", msg);
    return res;
}

static const char *type_label(const struct bc_avro_node *node)
{
    return node->fullname ? node->fullname : node->name;
}

static int res_record(struct bc_avro_plan *plan, struct bc_avro_res *res, const char *path)
{
    const struct bc_avro_node *w = res->writer, *r = res->reader;
    char sub[1024];
    res->fields = calloc(w->n ? w->n : 1, sizeof(*res->fields));
    int *matched = calloc(r->n ? r->n : 1, sizeof(*matched));
    if (res->fields == NULL || matched == NULL) {
        free(matched);
        return -1;
    }
    for (size_t i = 0; i < w->n; i++) {
        const struct bc_avro_field *wf = &w->fields[i];
        res->fields[i].reader_index = -1;
        for (size_t k = 0; k < r->n && res->fields[i].reader_index < 0; k++) {
            const struct bc_avro_field *rf = &r->fields[k];
            int hit = strcmp(rf->name, wf->name) == 0;
            for (size_t a = 0; !hit && a < rf->naliases; a++) {
                hit = strcmp(rf->aliases[a], wf->name) == 0;
            }
            if (hit && !matched[k]) {
                matched[k] = 1;
                res->fields[i].reader_index = (int)k;
                snprintf(sub, sizeof(sub), "%s%s%s", path, path[0] ? "." : "", rf->name);
                res->fields[i].res = res_get(plan, wf->type, rf->type, sub);
                if (res->fields[i].res == NULL) {
                    free(matched);
                    return -1;
                }
            }
        }
    }
    for (size_t k = 0; k < r->n; k++) {
        if (!matched[k]) {
            res->ndefaults++;
        }
    }
    res->defaults = calloc(res->ndefaults ? res->ndefaults : 1, sizeof(*res->defaults));
    if (res->defaults == NULL) {
        free(matched);
        return -1;
    }
    size_t d = 0;
    int missing = 0;
    for (size_t k = 0; k < r->n; k++) {
        if (matched[k]) {
            continue;
        }
        const struct bc_avro_field *rf = &r->fields[k];
        snprintf(sub, sizeof(sub), "%s%s%s", path, path[0] ? "." : "", rf->name);
        if (rf->default_bin == NULL) {
            /* Every such field is a problem of its own; the record fails once. */
            res_fail(plan, res, sub, "field missing from the writer's %s and has no default",
                     w->fullname);
            missing = 1;
            continue;
        }
        res->defaults[d].reader_index = (int)k;
        res->defaults[d].field = rf;
        res->defaults[d].res = res_get(plan, rf->type, rf->type, sub);
        if (res->defaults[d].res == NULL) {
            free(matched);
            return -1;
        }
        d++;
    }
    free(matched);
    if (missing) {
        res->op = BC_RES_FAIL;
    }
    return 0;
}

static struct bc_avro_res *res_get(struct bc_avro_plan *plan, const struct bc_avro_node *w,
                                   const struct bc_avro_node *r, const char *path)
{
    for (size_t i = 0; i < plan->nall; i++) {
        if (plan->all[i]->writer == w && plan->all[i]->reader == r) {
            return plan->all[i];
        }
    }
    if (plan->nall == plan->cap) {
        size_t cap = plan->cap ? plan->cap * 2 : 32;
        struct bc_avro_res **grown = realloc(plan->all, cap * sizeof(*grown));
        if (grown == NULL) {
            return NULL;
        }
        plan->all = grown;
        plan->cap = cap;
    }
    struct bc_avro_res *res = calloc(1, sizeof(*res));
    if (res == NULL) {
        return NULL;
    }
    plan->all[plan->nall++] = res;
    res->writer = w;
    res->reader = r;
    char sub[1024];

    if (w->type == AVRO_UNION) {
        res->op = BC_RES_WUNION;
        res->branches = calloc(w->n ? w->n : 1, sizeof(*res->branches));
        if (res->branches == NULL) {
            return NULL;
        }
        for (size_t i = 0; i < w->n; i++) {
            res->branches[i] = res_get(plan, w->branches[i], r, path);
            if (res->branches[i] == NULL) {
                return NULL;
            }
        }
        return res;
    }
    if (r->type == AVRO_UNION) {
        int best = -1, best_score = 0;
        for (size_t i = 0; i < r->n; i++) {
            int score = branch_match(w, r->branches[i]);
            if (score > best_score) {
                best = (int)i;
                best_score = score;
            }
        }
        if (best < 0) {
            return res_fail(plan, res, path, "writer type %s is not a branch of the reader's union",
                            type_label(w));
        }
        res->op = BC_RES_RUNION;
        res->reader_branch = best;
        res->inner = res_get(plan, w, r->branches[best], path);
        return res->inner ? res : NULL;
    }
    if (is_primitive(w->type)) {
        if (w->type == AVRO_NULL && r->type != AVRO_NULL) {
            return res_fail(plan, res, path,
                            "null cannot be read as %s (a nullable field "
                            "became required?)",
                            type_label(r));
        }
        if (!is_primitive(r->type) || !promotable(w->type, r->type)) {
            return res_fail(plan, res, path, "type changed from %s to %s", type_label(w),
                            type_label(r));
        }
        res->op = BC_RES_PRIM;
        return res;
    }
    if (w->type != r->type) {
        return res_fail(plan, res, path, "type changed from %s to %s", type_label(w),
                        type_label(r));
    }
    switch (w->type) {
    case AVRO_RECORD:
        if (!names_match(w, r)) {
            return res_fail(plan, res, path, "record %s renamed to %s without an alias",
                            w->fullname, r->fullname);
        }
        res->op = BC_RES_RECORD;
        return res_record(plan, res, path) == 0 ? res : NULL;
    case AVRO_ENUM:
        if (!names_match(w, r)) {
            return res_fail(plan, res, path, "enum %s renamed to %s without an alias", w->fullname,
                            r->fullname);
        }
        res->op = BC_RES_ENUM;
        res->enum_map = calloc(w->n ? w->n : 1, sizeof(*res->enum_map));
        if (res->enum_map == NULL) {
            return NULL;
        }
        for (size_t i = 0; i < w->n; i++) {
            res->enum_map[i] = r->enum_default;
            for (size_t k = 0; k < r->n; k++) {
                if (strcmp(w->symbols[i], r->symbols[k]) == 0) {
                    res->enum_map[i] = (int)k;
                    break;
                }
            }
            if (res->enum_map[i] < 0) {
                plan_problem(plan, path, "enum symbol %s removed and %s has no default",
                             w->symbols[i], r->fullname);
            }
        }
        return res;
    case AVRO_FIXED:
        if (!names_match(w, r) || w->n != r->n) {
            return res_fail(plan, res, path, "fixed %s(%zu) does not match %s(%zu)", w->fullname,
                            w->n, r->fullname, r->n);
        }
        res->op = BC_RES_FIXED;
        return res;
    case AVRO_ARRAY:
    case AVRO_MAP:
        res->op = w->type == AVRO_ARRAY ? BC_RES_ARRAY : BC_RES_MAP;
        snprintf(sub, sizeof(sub), "%s[]", path);
        res->inner = res_get(plan, w->items, r->items, sub);
        return res->inner ? res : NULL;
    default:
        return res_fail(plan, res, path, "unsupported type");
    }
}

void bc_avro_plan_free(struct bc_avro_plan *plan)
{
    if (plan == NULL) {
        return;
    }
    for (size_t i = 0; i < plan->nall; i++) {
        struct bc_avro_res *res = plan->all[i];
        free(res->message);
        free(res->fields);
        free(res->defaults);
        free(res->enum_map);
        free(res->branches);
        free(res);
    }
    free(plan->all);
    free(plan->problems);
    free(plan);
}

struct bc_avro_plan *bc_avro_plan_build(const struct bc_avro_node *writer,
                                        const struct bc_avro_node *reader)
{
    struct bc_avro_plan *plan = calloc(1, sizeof(*plan));
    if (plan == NULL) {
        return NULL;
    }
    plan->root = res_get(plan, writer, reader, "");
    if (plan->root == NULL) {
        bc_avro_plan_free(plan);
        return NULL;
    }
    return plan;
}

int bc_avro_check_compat(const char *old_text, const char *new_text, char *errs, size_t errs_size)
{
    struct bc_avro_compiled old_c, new_c;
    char why[512];
    if (bc_avro_compile(old_text, &old_c, why, sizeof(why)) != 0) {
        set_err(errs, errs_size, "old schema: %s", why);
        return -1;
    }
    if (bc_avro_compile(new_text, &new_c, why, sizeof(why)) != 0) {
        bc_avro_compiled_free(&old_c);
        set_err(errs, errs_size, "new schema: %s", why);
        return -1;
    }
    struct bc_avro_plan *plan = bc_avro_plan_build(old_c.root, new_c.root);
    int rc;
    if (plan == NULL) {
        set_err(errs, errs_size, "out of memory");
        rc = -1;
    } else if (plan->problems != NULL) {
        set_err(errs, errs_size, "%s", plan->problems);
        rc = 1;
    } else {
        set_err(errs, errs_size, "%s", "");
        rc = 0;
    }
    bc_avro_plan_free(plan);
    bc_avro_compiled_free(&old_c);
    bc_avro_compiled_free(&new_c);
    return rc;
}

/* ---------------------------------------------------------------------------------------
 * Registry */

static void schema_free(struct bc_avro_schema *s)
{
    if (s == NULL) {
        return;
    }
    for (size_t i = 0; i < s->nplans; i++) {
        bc_avro_plan_free(s->plans[i]);
    }
    free(s->plans);
    free(s->writers);
    if (s->iface != NULL) {
        avro_value_iface_decref(s->iface);
    }
    bc_avro_compiled_free(&s->compiled);
    free(s->subject);
    free(s->file);
    free(s->text);
    free(s);
}

void bc_avro_registry_destroy(struct bc_avro_registry *reg)
{
    if (reg == NULL) {
        return;
    }
    for (size_t i = 0; i < reg->nschemas; i++) {
        schema_free(reg->schemas[i]);
    }
    free(reg->schemas);
    free(reg->dir);
    free(reg);
}

/* One manifest entry, read leniently so that the checker can report every problem. */
struct manifest_entry {
    const char *subject;
    const char *file;
    const char *fingerprint; /* 16 lowercase hex digits, or NULL when absent */
    json_int_t version;
    json_int_t id;
};

typedef void (*problem_fn)(void *opaque, const char *message);

/* Reads dir/manifest.json. Returns the parsed JSON (new) and its entries (new array) in
 * *entries, or NULL after reporting. Entries with problems are reported and left out. */
static json_t *manifest_read(const char *dir, struct manifest_entry **entries, size_t *count,
                             problem_fn report, void *opaque, int *problems)
{
    char path[4096], msg[4608];
    snprintf(path, sizeof(path), "%s/manifest.json", dir);
    json_error_t jerr;
    json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    *entries = NULL;
    *count = 0;
    if (root == NULL) {
        snprintf(msg, sizeof(msg), "%s:%d:%d: %s", path, jerr.line, jerr.column, jerr.text);
        report(opaque, msg);
        (*problems)++;
        return NULL;
    }
    json_t *list = json_object_get(root, "schemas");
    if (!json_is_array(list)) {
        snprintf(msg, sizeof(msg), "%s: \"schemas\" must be an array", path);
        report(opaque, msg);
        (*problems)++;
        json_decref(root);
        return NULL;
    }
    *entries = calloc(json_array_size(list) + 1, sizeof(**entries));
    if (*entries == NULL) {
        report(opaque, "out of memory");
        (*problems)++;
        json_decref(root);
        return NULL;
    }
    size_t i;
    json_t *e;
    json_array_foreach(list, i, e)
    {
        const char *subject = json_string_value(json_object_get(e, "subject"));
        const char *file = json_string_value(json_object_get(e, "file"));
        json_t *version = json_object_get(e, "version");
        json_t *id = json_object_get(e, "id");
        json_t *fingerprint = json_object_get(e, "fingerprint");
        const char *bad = NULL;
        if (!json_is_object(e)) {
            bad = "not an object";
        } else if (subject == NULL || subject[0] == '\0') {
            bad = "\"subject\" must be a non-empty string";
        } else if (file == NULL || file[0] == '\0' || file[0] == '/' ||
                   strstr(file, "..") != NULL) {
            bad = "\"file\" must be a relative path inside the directory";
        } else if (!json_is_integer(version) || json_integer_value(version) < 1 ||
                   json_integer_value(version) > INT_MAX) {
            bad = "\"version\" must be an integer >= 1";
        } else if (!json_is_integer(id) || json_integer_value(id) < 1 ||
                   json_integer_value(id) > INT32_MAX) {
            bad = "\"id\" must be an integer in [1, 2147483647]";
        } else if (fingerprint != NULL &&
                   (!json_is_string(fingerprint) || json_string_length(fingerprint) != 16 ||
                    strspn(json_string_value(fingerprint), "0123456789abcdef") != 16)) {
            bad = "\"fingerprint\" must be 16 lowercase hex digits";
        } else {
            size_t known = json_object_size(e);
            if (known != 4 + (fingerprint != NULL)) {
                bad = "unknown key (allowed: subject, version, id, file, fingerprint)";
            }
        }
        if (bad != NULL) {
            snprintf(msg, sizeof(msg), "%s: schemas[%zu]: %s", path, i, bad);
            report(opaque, msg);
            (*problems)++;
            continue;
        }
        struct manifest_entry *m = &(*entries)[*count];
        m->subject = subject;
        m->file = file;
        m->fingerprint = json_string_value(fingerprint);
        m->version = json_integer_value(version);
        m->id = json_integer_value(id);
        for (size_t k = 0; k < *count; k++) {
            if ((*entries)[k].id == m->id) {
                snprintf(msg, sizeof(msg), "%s: schemas[%zu]: id %lld already used by %s v%lld",
                         path, i, (long long)m->id, (*entries)[k].subject,
                         (long long)(*entries)[k].version);
                report(opaque, msg);
                (*problems)++;
                bad = "dup";
                break;
            }
            if (strcmp((*entries)[k].subject, subject) == 0 &&
                (*entries)[k].version == m->version) {
                snprintf(msg, sizeof(msg), "%s: schemas[%zu]: %s version %lld listed twice", path,
                         i, subject, (long long)m->version);
                report(opaque, msg);
                (*problems)++;
                bad = "dup";
                break;
            }
        }
        if (bad == NULL) {
            (*count)++;
        }
    }
    return root;
}

static void report_to_errstr(void *opaque, const char *message)
{
    char **first = opaque;
    if (*first == NULL) {
        *first = strdup(message);
    }
}

static int schema_load(const char *dir, const struct manifest_entry *m, struct bc_avro_schema **out,
                       char *errstr, size_t errstr_size)
{
    char path[4096], why[512];
    struct bc_avro_schema *s = calloc(1, sizeof(*s));
    *out = NULL;
    if (s == NULL) {
        set_err(errstr, errstr_size, "out of memory");
        return -1;
    }
    snprintf(path, sizeof(path), "%s/%s", dir, m->file);
    s->subject = strdup(m->subject);
    s->file = strdup(m->file);
    s->version = (int)m->version;
    s->id = (int32_t)m->id;
    s->text = read_file(path);
    if (s->text == NULL) {
        set_err(errstr, errstr_size, "%s: %s", path, strerror(errno));
        goto fail;
    }
    if (bc_avro_compile(s->text, &s->compiled, why, sizeof(why)) != 0) {
        set_err(errstr, errstr_size, "%s: %s", path, why);
        goto fail;
    }
    if (s->compiled.root->type != AVRO_RECORD) {
        set_err(errstr, errstr_size, "%s: the top-level type must be a record", path);
        goto fail;
    }
    if (m->fingerprint != NULL && strtoull(m->fingerprint, NULL, 16) != s->compiled.fingerprint) {
        set_err(errstr, errstr_size,
                "%s: fingerprint %016llx, the manifest registered %s: a registered schema "
                "must not change (add a new version)",
                path, (unsigned long long)s->compiled.fingerprint, m->fingerprint);
        goto fail;
    }
    s->iface = avro_generic_class_from_schema(s->compiled.schema);
    if (s->iface == NULL) {
        set_err(errstr, errstr_size, "%s: %s", path, avro_strerror());
        goto fail;
    }
    *out = s;
    return 0;
fail:
    schema_free(s);
    return -1;
}

int bc_avro_registry_load(const char *dir, struct bc_avro_registry **regp, char *errstr,
                          size_t errstr_size)
{
    struct bc_avro_registry *reg = NULL;
    struct manifest_entry *entries = NULL;
    size_t count = 0;
    int problems = 0;
    char *first = NULL;
    *regp = NULL;
    json_t *manifest = manifest_read(dir, &entries, &count, report_to_errstr, &first, &problems);
    if (problems > 0) {
        set_err(errstr, errstr_size, "%s", first ? first : "invalid manifest");
        goto fail;
    }
    reg = calloc(1, sizeof(*reg));
    if (reg == NULL || (reg->dir = strdup(dir)) == NULL ||
        (reg->schemas = calloc(count ? count : 1, sizeof(*reg->schemas))) == NULL) {
        set_err(errstr, errstr_size, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < count; i++) {
        if (schema_load(dir, &entries[i], &reg->schemas[i], errstr, errstr_size) != 0) {
            goto fail;
        }
        reg->schemas[i]->reg = reg;
        reg->nschemas++;
    }
    /* Plans: every version of a subject reads every version of it. */
    for (size_t i = 0; i < reg->nschemas; i++) {
        struct bc_avro_schema *r = reg->schemas[i];
        size_t same = 0;
        for (size_t k = 0; k < reg->nschemas; k++) {
            same += strcmp(reg->schemas[k]->subject, r->subject) == 0;
        }
        r->writers = calloc(same, sizeof(*r->writers));
        r->plans = calloc(same, sizeof(*r->plans));
        if (r->writers == NULL || r->plans == NULL) {
            set_err(errstr, errstr_size, "out of memory");
            goto fail;
        }
        for (size_t k = 0; k < reg->nschemas; k++) {
            struct bc_avro_schema *w = reg->schemas[k];
            if (strcmp(w->subject, r->subject) != 0) {
                continue;
            }
            struct bc_avro_plan *plan = bc_avro_plan_build(w->compiled.root, r->compiled.root);
            if (plan == NULL) {
                set_err(errstr, errstr_size, "out of memory");
                goto fail;
            }
            r->writers[r->nplans] = w;
            r->plans[r->nplans] = plan;
            r->nplans++;
        }
    }
    free(entries);
    json_decref(manifest);
    free(first);
    *regp = reg;
    return 0;
fail:
    free(entries);
    json_decref(manifest);
    free(first);
    bc_avro_registry_destroy(reg);
    return -1;
}

const struct bc_avro_schema *bc_avro_registry_lookup_version(const struct bc_avro_registry *reg,
                                                             const char *subject, int version)
{
    const struct bc_avro_schema *best = NULL;
    for (size_t i = 0; reg != NULL && i < reg->nschemas; i++) {
        const struct bc_avro_schema *s = reg->schemas[i];
        if (strcmp(s->subject, subject) != 0 && strcmp(s->compiled.root->fullname, subject) != 0) {
            continue;
        }
        if (version > 0 ? s->version == version : (best == NULL || s->version > best->version)) {
            best = s;
        }
    }
    return best;
}

const struct bc_avro_schema *bc_avro_registry_lookup(const struct bc_avro_registry *reg,
                                                     const char *subject)
{
    return bc_avro_registry_lookup_version(reg, subject, 0);
}

const struct bc_avro_schema *bc_avro_registry_by_id(const struct bc_avro_registry *reg, int32_t id)
{
    for (size_t i = 0; reg != NULL && i < reg->nschemas; i++) {
        if (reg->schemas[i]->id == id) {
            return reg->schemas[i];
        }
    }
    return NULL;
}

void bc_avro_registry_set_id(struct bc_avro_registry *reg, const struct bc_avro_schema *schema,
                             int32_t id)
{
    for (size_t i = 0; i < reg->nschemas; i++) {
        if (reg->schemas[i] == schema) {
            reg->schemas[i]->id = id;
        }
    }
}

/* Appends plan (writer -> reader) to reader's plans. 0 or -1 (out of memory). */
static int plan_append(struct bc_avro_schema *reader, const struct bc_avro_schema *writer)
{
    const struct bc_avro_schema **writers =
        realloc(reader->writers, (reader->nplans + 1) * sizeof(*writers));
    if (writers == NULL) {
        return -1;
    }
    reader->writers = writers;
    struct bc_avro_plan **plans = realloc(reader->plans, (reader->nplans + 1) * sizeof(*plans));
    if (plans == NULL) {
        return -1;
    }
    reader->plans = plans;
    struct bc_avro_plan *plan = bc_avro_plan_build(writer->compiled.root, reader->compiled.root);
    if (plan == NULL) {
        return -1;
    }
    reader->writers[reader->nplans] = writer;
    reader->plans[reader->nplans] = plan;
    reader->nplans++;
    return 0;
}

const struct bc_avro_schema *bc_avro_registry_add(struct bc_avro_registry *reg, const char *text,
                                                  int32_t id, char *errstr, size_t errstr_size)
{
    char why[512];
    struct bc_avro_schema *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        set_err(errstr, errstr_size, "out of memory");
        return NULL;
    }
    s->id = id;
    if ((s->text = strdup(text)) == NULL || (s->file = strdup("")) == NULL) {
        set_err(errstr, errstr_size, "out of memory");
        goto fail;
    }
    if (bc_avro_compile(s->text, &s->compiled, why, sizeof(why)) != 0) {
        set_err(errstr, errstr_size, "schema id %d: %s", (int)id, why);
        goto fail;
    }
    if (s->compiled.root->type != AVRO_RECORD) {
        set_err(errstr, errstr_size, "schema id %d: the top-level type must be a record", (int)id);
        goto fail;
    }
    const char *subject = s->compiled.root->fullname;
    for (size_t i = 0; i < reg->nschemas; i++) {
        if (strcmp(reg->schemas[i]->compiled.root->fullname, subject) == 0) {
            subject = reg->schemas[i]->subject;
            break;
        }
    }
    s->subject = strdup(subject);
    s->iface = avro_generic_class_from_schema(s->compiled.schema);
    struct bc_avro_schema **grown = realloc(reg->schemas, (reg->nschemas + 1) * sizeof(*grown));
    if (s->subject == NULL || s->iface == NULL || grown == NULL) {
        set_err(errstr, errstr_size, "schema id %d: %s", (int)id,
                s->iface == NULL ? avro_strerror() : "out of memory");
        if (grown != NULL) {
            reg->schemas = grown;
        }
        goto fail;
    }
    reg->schemas = grown;
    if (plan_append(s, s) != 0) {
        set_err(errstr, errstr_size, "out of memory");
        goto fail;
    }
    s->reg = reg;
    reg->schemas[reg->nschemas++] = s;
    /* Every local version of the subject reads it (problems surface when decoding). */
    for (size_t i = 0; i + 1 < reg->nschemas; i++) {
        struct bc_avro_schema *r = reg->schemas[i];
        if (strcmp(r->subject, s->subject) == 0 && plan_append(r, s) != 0) {
            set_err(errstr, errstr_size, "out of memory");
            return NULL; /* s stays in the registry, readable as itself */
        }
    }
    return s;
fail:
    schema_free(s);
    return NULL;
}

size_t bc_avro_registry_count(const struct bc_avro_registry *reg)
{
    return reg ? reg->nschemas : 0;
}

const struct bc_avro_schema *bc_avro_registry_at(const struct bc_avro_registry *reg, size_t i)
{
    return reg && i < reg->nschemas ? reg->schemas[i] : NULL;
}

int32_t bc_avro_schema_id(const struct bc_avro_schema *schema)
{
    return schema->id;
}

int bc_avro_schema_version(const struct bc_avro_schema *schema)
{
    return schema->version;
}

const char *bc_avro_schema_subject(const struct bc_avro_schema *schema)
{
    return schema->subject;
}

const char *bc_avro_schema_file(const struct bc_avro_schema *schema)
{
    return schema->file;
}

const char *bc_avro_schema_text(const struct bc_avro_schema *schema)
{
    return schema->text;
}

const char *bc_avro_schema_name(const struct bc_avro_schema *schema)
{
    return schema->compiled.root->fullname;
}

const char *bc_avro_schema_canonical(const struct bc_avro_schema *schema)
{
    return schema->compiled.canonical;
}

uint64_t bc_avro_schema_fingerprint(const struct bc_avro_schema *schema)
{
    return schema->compiled.fingerprint;
}

avro_schema_t bc_avro_schema_avro(const struct bc_avro_schema *schema)
{
    return schema->compiled.schema;
}

avro_value_iface_t *bc_avro_schema_iface(const struct bc_avro_schema *schema)
{
    return schema->iface;
}

int bc_avro_value_new(const struct bc_avro_schema *schema, avro_value_t *value)
{
    return avro_generic_value_new(schema->iface, value) == 0 ? 0 : -1;
}

/* ---------------------------------------------------------------------------------------
 * The registry check (breadcrumb schemas check, breadcrumb validate) */

int bc_avro_registry_check(const char *dir, void (*report)(void *opaque, const char *message),
                           void *opaque)
{
    struct manifest_entry *entries = NULL;
    size_t count = 0;
    int problems = 0;
    char msg[8192];
    json_t *manifest = manifest_read(dir, &entries, &count, report, opaque, &problems);
    if (manifest == NULL) {
        return problems;
    }
    struct bc_avro_schema **loaded = calloc(count ? count : 1, sizeof(*loaded));
    if (loaded == NULL) {
        report(opaque, "out of memory");
        json_decref(manifest);
        free(entries);
        return problems + 1;
    }
    for (size_t i = 0; i < count; i++) {
        char why[4096 + 600];
        if (schema_load(dir, &entries[i], &loaded[i], why, sizeof(why)) != 0) {
            snprintf(msg, sizeof(msg), "%s v%lld (id %lld): %s", entries[i].subject,
                     (long long)entries[i].version, (long long)entries[i].id, why);
            report(opaque, msg);
            problems++;
        } else if (entries[i].fingerprint == NULL) {
            snprintf(msg, sizeof(msg),
                     "%s v%lld (id %lld): no fingerprint in the manifest: add \"fingerprint\": "
                     "\"%016llx\"",
                     entries[i].subject, (long long)entries[i].version, (long long)entries[i].id,
                     (unsigned long long)loaded[i]->compiled.fingerprint);
            report(opaque, msg);
            problems++;
        }
    }
    /* Per subject: versions 1..n, each backward compatible with the one before. */
    for (size_t i = 0; i < count; i++) {
        int first_of_subject = 1;
        json_int_t max_version = 0;
        size_t nversions = 0;
        for (size_t k = 0; k < count; k++) {
            if (strcmp(entries[k].subject, entries[i].subject) != 0) {
                continue;
            }
            if (k < i) {
                first_of_subject = 0;
                break;
            }
            nversions++;
            if (entries[k].version > max_version) {
                max_version = entries[k].version;
            }
        }
        if (!first_of_subject) {
            continue;
        }
        if ((json_int_t)nversions != max_version) {
            snprintf(msg, sizeof(msg), "%s: versions must be numbered 1..%zu without gaps",
                     entries[i].subject, nversions);
            report(opaque, msg);
            problems++;
            continue;
        }
        for (json_int_t v = 2; v <= max_version; v++) {
            const struct bc_avro_schema *older = NULL, *newer = NULL;
            for (size_t k = 0; k < count; k++) {
                if (loaded[k] == NULL || strcmp(entries[k].subject, entries[i].subject) != 0) {
                    continue;
                }
                if (entries[k].version == v - 1) {
                    older = loaded[k];
                } else if (entries[k].version == v) {
                    newer = loaded[k];
                }
            }
            if (older == NULL || newer == NULL) {
                continue; /* a load failure, already reported */
            }
            struct bc_avro_plan *plan =
                bc_avro_plan_build(older->compiled.root, newer->compiled.root);
            if (plan == NULL) {
                report(opaque, "out of memory");
                problems++;
                continue;
            }
            if (plan->problems != NULL) {
                char *line = plan->problems;
                while (*line != '\0') {
                    char *end = strchr(line, '\n');
                    int n = end ? (int)(end - line) : (int)strlen(line);
                    snprintf(msg, sizeof(msg), "%s v%lld (%s) cannot read v%lld (%s): %.*s",
                             entries[i].subject, (long long)v, newer->file, (long long)(v - 1),
                             older->file, n, line);
                    report(opaque, msg);
                    problems++;
                    line += n + (end != NULL);
                }
            }
            bc_avro_plan_free(plan);
        }
    }
    for (size_t i = 0; i < count; i++) {
        schema_free(loaded[i]);
    }
    free(loaded);
    free(entries);
    json_decref(manifest);
    return problems;
}
