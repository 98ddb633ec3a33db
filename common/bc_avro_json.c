/*
 * Avro <-> JSON: avro-c values to jansson (stable field order) for sinks, diff and the
 * lineage CLI, and JSON to Avro binary for field defaults and for tools and tests.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bc_avro_internal.h"

#define MAX_DEPTH 200

static int fail(char *errstr, size_t errstr_size, const char *path, const char *what)
{
    snprintf(errstr, errstr_size, "%s%s%s", path, path[0] ? ": " : "", what);
    return -1;
}

/* The name a union branch is tagged with in Avro's JSON encoding. */
static const char *branch_tag(const struct bc_avro_node *node)
{
    return node->fullname ? node->fullname : node->name;
}

/* Decodes a JSON string whose code points are all <= 0xFF into bytes (Avro's convention for
 * bytes and fixed in JSON). Returns the byte count, or -1. out holds at least len bytes. */
static long latin1_decode(const char *s, size_t len, uint8_t *out)
{
    size_t n = 0;
    for (size_t i = 0; i < len;) {
        uint8_t c = (uint8_t)s[i];
        if (c < 0x80) {
            out[n++] = c;
            i++;
        } else if ((c == 0xc2 || c == 0xc3) && i + 1 < len) {
            out[n++] = (uint8_t)(((c & 0x03) << 6) | ((uint8_t)s[i + 1] & 0x3f));
            i += 2;
        } else {
            return -1;
        }
    }
    return (long)n;
}

static int j2b(const struct bc_avro_node *node, json_t *j, int default_mode,
               struct bc_avro_buf *buf, char *path, size_t path_len, int depth, char *errstr,
               size_t errstr_size);

static int j2b_child(const struct bc_avro_node *node, json_t *j, int default_mode,
                     struct bc_avro_buf *buf, char *path, size_t path_len, const char *seg,
                     int depth, char *errstr, size_t errstr_size)
{
    size_t n = strlen(path);
    snprintf(path + n, path_len - n, "%s", seg);
    int rc = j2b(node, j, default_mode, buf, path, path_len, depth + 1, errstr, errstr_size);
    path[n] = '\0';
    return rc;
}

static int j2b(const struct bc_avro_node *node, json_t *j, int default_mode,
               struct bc_avro_buf *buf, char *path, size_t path_len, int depth, char *errstr,
               size_t errstr_size)
{
    char seg[160];
    if (depth > MAX_DEPTH) {
        return fail(errstr, errstr_size, path, "nested too deeply");
    }
    switch (node->type) {
    case AVRO_NULL:
        return json_is_null(j) ? 0 : fail(errstr, errstr_size, path, "expected null");
    case AVRO_BOOLEAN: {
        if (!json_is_boolean(j)) {
            return fail(errstr, errstr_size, path, "expected a boolean");
        }
        uint8_t b = json_is_true(j) ? 1 : 0;
        return bc_avro_buf_put(buf, &b, 1);
    }
    case AVRO_INT32:
    case AVRO_INT64:
        if (!json_is_integer(j)) {
            return fail(errstr, errstr_size, path, "expected an integer");
        }
        if (node->type == AVRO_INT32 &&
            (json_integer_value(j) < INT32_MIN || json_integer_value(j) > INT32_MAX)) {
            return fail(errstr, errstr_size, path, "integer out of the int range");
        }
        return bc_avro_buf_put_long(buf, json_integer_value(j));
    case AVRO_FLOAT:
    case AVRO_DOUBLE: {
        if (!json_is_number(j)) {
            return fail(errstr, errstr_size, path, "expected a number");
        }
        uint8_t out[8];
        if (node->type == AVRO_FLOAT) {
            float f = (float)json_number_value(j);
            uint32_t bits;
            memcpy(&bits, &f, 4);
            for (int i = 0; i < 4; i++) {
                out[i] = (uint8_t)(bits >> (8 * i));
            }
            return bc_avro_buf_put(buf, out, 4);
        }
        double d = json_number_value(j);
        uint64_t bits;
        memcpy(&bits, &d, 8);
        for (int i = 0; i < 8; i++) {
            out[i] = (uint8_t)(bits >> (8 * i));
        }
        return bc_avro_buf_put(buf, out, 8);
    }
    case AVRO_STRING:
        if (!json_is_string(j)) {
            return fail(errstr, errstr_size, path, "expected a string");
        }
        if (bc_avro_buf_put_long(buf, (int64_t)json_string_length(j)) != 0 ||
            bc_avro_buf_put(buf, json_string_value(j), json_string_length(j)) != 0) {
            return fail(errstr, errstr_size, path, "out of memory");
        }
        return 0;
    case AVRO_BYTES:
    case AVRO_FIXED: {
        if (!json_is_string(j)) {
            return fail(errstr, errstr_size, path, "expected a string of bytes");
        }
        size_t len = json_string_length(j);
        uint8_t *bytes = malloc(len + 1);
        if (bytes == NULL) {
            return fail(errstr, errstr_size, path, "out of memory");
        }
        long n = latin1_decode(json_string_value(j), len, bytes);
        int rc = 0;
        if (n < 0) {
            rc = fail(errstr, errstr_size, path, "bytes must be code points 0-255");
        } else if (node->type == AVRO_FIXED && (size_t)n != node->n) {
            rc = fail(errstr, errstr_size, path, "fixed of the wrong size");
        } else if ((node->type == AVRO_BYTES && bc_avro_buf_put_long(buf, n) != 0) ||
                   bc_avro_buf_put(buf, bytes, (size_t)n) != 0) {
            rc = fail(errstr, errstr_size, path, "out of memory");
        }
        free(bytes);
        return rc;
    }
    case AVRO_ENUM:
        if (json_is_string(j)) {
            for (size_t i = 0; i < node->n; i++) {
                if (strcmp(node->symbols[i], json_string_value(j)) == 0) {
                    return bc_avro_buf_put_long(buf, (int64_t)i);
                }
            }
        }
        return fail(errstr, errstr_size, path, "expected a symbol of the enum");
    case AVRO_ARRAY: {
        if (!json_is_array(j)) {
            return fail(errstr, errstr_size, path, "expected an array");
        }
        size_t n = json_array_size(j);
        if (n > 0) {
            if (bc_avro_buf_put_long(buf, (int64_t)n) != 0) {
                return fail(errstr, errstr_size, path, "out of memory");
            }
            for (size_t i = 0; i < n; i++) {
                snprintf(seg, sizeof(seg), "[%zu]", i);
                if (j2b_child(node->items, json_array_get(j, i), default_mode, buf, path, path_len,
                              seg, depth, errstr, errstr_size) != 0) {
                    return -1;
                }
            }
        }
        return bc_avro_buf_put_long(buf, 0);
    }
    case AVRO_MAP: {
        if (!json_is_object(j)) {
            return fail(errstr, errstr_size, path, "expected an object");
        }
        size_t n = json_object_size(j);
        if (n > 0) {
            if (bc_avro_buf_put_long(buf, (int64_t)n) != 0) {
                return fail(errstr, errstr_size, path, "out of memory");
            }
            const char *key;
            json_t *item;
            json_object_foreach(j, key, item)
            {
                if (bc_avro_buf_put_long(buf, (int64_t)strlen(key)) != 0) {
                    return fail(errstr, errstr_size, path, "out of memory");
                }
                if (bc_avro_buf_put(buf, key, strlen(key)) != 0) {
                    return fail(errstr, errstr_size, path, "out of memory");
                }
                snprintf(seg, sizeof(seg), "[\"%.64s\"]", key);
                if (j2b_child(node->items, item, default_mode, buf, path, path_len, seg, depth,
                              errstr, errstr_size) != 0) {
                    return -1;
                }
            }
        }
        return bc_avro_buf_put_long(buf, 0);
    }
    case AVRO_RECORD:
        if (!json_is_object(j)) {
            return fail(errstr, errstr_size, path, "expected an object");
        }
        for (size_t i = 0; i < node->n; i++) {
            const struct bc_avro_field *f = &node->fields[i];
            json_t *v = json_object_get(j, f->name);
            snprintf(seg, sizeof(seg), "%s%s", path[0] ? "." : "", f->name);
            if (v == NULL) {
                v = f->default_json;
                if (v == NULL) {
                    size_t n = strlen(path);
                    snprintf(path + n, path_len - n, "%s", seg);
                    fail(errstr, errstr_size, path, "missing, and the field has no default");
                    path[n] = '\0';
                    return -1;
                }
                if (j2b_child(f->type, v, 1, buf, path, path_len, seg, depth, errstr,
                              errstr_size) != 0) {
                    return -1;
                }
                continue;
            }
            if (j2b_child(f->type, v, default_mode, buf, path, path_len, seg, depth, errstr,
                          errstr_size) != 0) {
                return -1;
            }
        }
        {
            /* Unknown keys are errors: they are usually typos. */
            const char *key;
            json_t *item;
            json_object_foreach(j, key, item)
            {
                size_t i;
                for (i = 0; i < node->n && strcmp(node->fields[i].name, key) != 0; i++) {
                }
                if (i == node->n) {
                    snprintf(seg, sizeof(seg), "unknown field \"%.64s\" in %s", key,
                             node->fullname);
                    return fail(errstr, errstr_size, path, seg);
                }
            }
        }
        return 0;
    case AVRO_UNION: {
        if (node->n == 0) {
            return fail(errstr, errstr_size, path, "empty union");
        }
        if (default_mode) {
            if (bc_avro_buf_put_long(buf, 0) != 0) {
                return fail(errstr, errstr_size, path, "out of memory");
            }
            return j2b(node->branches[0], j, 1, buf, path, path_len, depth + 1, errstr,
                       errstr_size);
        }
        if (json_is_object(j) && json_object_size(j) == 1) {
            const char *key = json_object_iter_key(json_object_iter(j));
            for (size_t i = 0; i < node->n; i++) {
                const struct bc_avro_node *b = node->branches[i];
                if (strcmp(key, branch_tag(b)) == 0 || (b->fullname && strcmp(key, b->name) == 0)) {
                    if (bc_avro_buf_put_long(buf, (int64_t)i) != 0) {
                        return fail(errstr, errstr_size, path, "out of memory");
                    }
                    return j2b(b, json_object_iter_value(json_object_iter(j)), 0, buf, path,
                               path_len, depth + 1, errstr, errstr_size);
                }
            }
        }
        size_t start = buf->len;
        for (size_t i = 0; i < node->n; i++) {
            if (bc_avro_buf_put_long(buf, (int64_t)i) != 0) {
                return fail(errstr, errstr_size, path, "out of memory");
            }
            if (j2b(node->branches[i], j, 0, buf, path, path_len, depth + 1, errstr, errstr_size) ==
                0) {
                return 0;
            }
            buf->len = start;
        }
        return fail(errstr, errstr_size, path, "the value fits no branch of the union");
    }
    default:
        return fail(errstr, errstr_size, path, "unsupported type");
    }
}

int bc_avro_json_to_binary(const struct bc_avro_node *node, json_t *json, int default_mode,
                           struct bc_avro_buf *buf, char *errstr, size_t errstr_size)
{
    char path[1024] = "";
    size_t start = buf->len;
    int rc = j2b(node, json, default_mode, buf, path, sizeof(path), 0, errstr, errstr_size);
    if (rc != 0) {
        buf->len = start;
        return -1;
    }
    return 0;
}

int bc_avro_from_json(const struct bc_avro_schema *schema, json_t *json, avro_value_t *value,
                      char *errstr, size_t errstr_size)
{
    struct bc_avro_buf buf = {0};
    int rc = bc_avro_json_to_binary(schema->compiled.root, json, 0, &buf, errstr, errstr_size);
    if (rc == 0) {
        rc = bc_avro_decode_body(schema, schema, buf.data, buf.len, value, errstr, errstr_size) ? -1
                                                                                                : 0;
    }
    bc_avro_buf_free(&buf);
    return rc;
}

/* ---------------------------------------------------------------------------------------
 * Values to JSON */

static json_t *bytes_to_json(const uint8_t *b, size_t len)
{
    char small[512];
    char *out = len * 2 + 1 <= sizeof(small) ? small : malloc(len * 2 + 1);
    if (out == NULL) {
        return NULL;
    }
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (b[i] < 0x80) {
            out[n++] = (char)b[i];
        } else {
            out[n++] = (char)(0xc0 | (b[i] >> 6));
            out[n++] = (char)(0x80 | (b[i] & 0x3f));
        }
    }
    json_t *j = json_stringn(out, n);
    if (out != small) {
        free(out);
    }
    return j;
}

/* OTLP's shapes (schemas/TrackingEvent.v1.avsc), recognized by name and shape for
 * BC_AVRO_JSON_OTLP: AnyValue {value: union}, ArrayValue and KeyValueList {values: array},
 * KeyValue {key: string, value}. */
static int is_wrapper(const struct bc_avro_node *node, const char *name, const char *field)
{
    return node->type == AVRO_RECORD && node->n == 1 && strcmp(node->name, name) == 0 &&
           strcmp(node->fields[0].name, field) == 0;
}

static int is_key_value(const struct bc_avro_node *node)
{
    return node->type == AVRO_RECORD && node->n == 2 && strcmp(node->name, "KeyValue") == 0 &&
           strcmp(node->fields[0].name, "key") == 0 && node->fields[0].type->type == AVRO_STRING &&
           strcmp(node->fields[1].name, "value") == 0;
}

static json_t *v2j(const struct bc_avro_node *node, avro_value_t *v, int flags, int depth);

/* An array of KeyValue as one object {key: value} (a repeated key: the last one wins). */
static json_t *key_values_to_object(const struct bc_avro_node *kv, avro_value_t *v, int flags,
                                    int depth)
{
    json_t *out = json_object();
    size_t n = 0;
    avro_value_get_size(v, &n);
    for (size_t i = 0; out != NULL && i < n; i++) {
        avro_value_t item, key, value;
        const char *k = NULL;
        size_t size = 0;
        json_t *j = NULL;
        if (avro_value_get_by_index(v, i, &item, NULL) == 0 &&
            avro_value_get_by_index(&item, 0, &key, NULL) == 0 &&
            avro_value_get_string(&key, &k, &size) == 0 && size > 0 &&
            avro_value_get_by_index(&item, 1, &value, NULL) == 0) {
            j = v2j(kv->fields[1].type, &value, flags, depth + 1);
        }
        if (j == NULL || json_object_setn_new(out, k, size - 1, j) != 0) {
            json_decref(out);
            out = NULL;
        }
    }
    return out;
}

static json_t *v2j(const struct bc_avro_node *node, avro_value_t *v, int flags, int depth)
{
    if (depth > MAX_DEPTH || avro_value_get_type(v) != node->type) {
        return NULL;
    }
    if (flags & BC_AVRO_JSON_OTLP) {
        if (node->type == AVRO_ARRAY && is_key_value(node->items)) {
            return key_values_to_object(node->items, v, flags, depth);
        }
        if (is_wrapper(node, "AnyValue", "value") || is_wrapper(node, "ArrayValue", "values") ||
            is_wrapper(node, "KeyValueList", "values")) {
            avro_value_t inner;
            if (avro_value_get_by_index(v, 0, &inner, NULL) != 0) {
                return NULL;
            }
            return v2j(node->fields[0].type, &inner, flags & ~BC_AVRO_JSON_TAGGED_UNIONS,
                       depth + 1);
        }
    }
    switch (node->type) {
    case AVRO_NULL:
        return json_null();
    case AVRO_BOOLEAN: {
        int b = 0;
        avro_value_get_boolean(v, &b);
        return json_boolean(b);
    }
    case AVRO_INT32: {
        int32_t i = 0;
        avro_value_get_int(v, &i);
        return json_integer(i);
    }
    case AVRO_INT64: {
        int64_t l = 0;
        avro_value_get_long(v, &l);
        return json_integer(l);
    }
    case AVRO_FLOAT:
    case AVRO_DOUBLE: {
        double d;
        if (node->type == AVRO_FLOAT) {
            float f = 0;
            avro_value_get_float(v, &f);
            d = f;
        } else {
            avro_value_get_double(v, &d);
        }
        return isfinite(d) ? json_real(d) : json_null();
    }
    case AVRO_STRING: {
        const char *s = NULL;
        size_t size = 0;
        if (avro_value_get_string(v, &s, &size) != 0 || s == NULL || size == 0) {
            return NULL;
        }
        return json_stringn(s, size - 1);
    }
    case AVRO_BYTES:
    case AVRO_FIXED: {
        const void *b = NULL;
        size_t size = 0;
        if (node->type == AVRO_BYTES) {
            avro_value_get_bytes(v, &b, &size);
        } else {
            avro_value_get_fixed(v, &b, &size);
        }
        return bytes_to_json(b, size);
    }
    case AVRO_ENUM: {
        int i = -1;
        avro_value_get_enum(v, &i);
        return i >= 0 && (size_t)i < node->n ? json_string(node->symbols[i]) : NULL;
    }
    case AVRO_ARRAY:
    case AVRO_MAP: {
        json_t *out = node->type == AVRO_ARRAY ? json_array() : json_object();
        size_t n = 0;
        avro_value_get_size(v, &n);
        for (size_t i = 0; out != NULL && i < n; i++) {
            avro_value_t child;
            const char *key = NULL;
            json_t *item = NULL;
            if (avro_value_get_by_index(v, i, &child, &key) == 0) {
                item = v2j(node->items, &child, flags, depth + 1);
            }
            if (item == NULL ||
                (node->type == AVRO_ARRAY ? json_array_append_new(out, item)
                                          : json_object_set_new(out, key, item)) != 0) {
                json_decref(out);
                out = NULL;
            }
        }
        return out;
    }
    case AVRO_RECORD: {
        json_t *out = json_object();
        for (size_t i = 0; out != NULL && i < node->n; i++) {
            avro_value_t child;
            json_t *item = NULL;
            if (avro_value_get_by_index(v, i, &child, NULL) == 0) {
                item = v2j(node->fields[i].type, &child, flags, depth + 1);
            }
            if (item == NULL || json_object_set_new(out, node->fields[i].name, item) != 0) {
                json_decref(out);
                out = NULL;
            }
        }
        return out;
    }
    case AVRO_UNION: {
        int d = -1;
        avro_value_t branch;
        avro_value_get_discriminant(v, &d);
        if (d < 0 || (size_t)d >= node->n || avro_value_get_current_branch(v, &branch) != 0) {
            return NULL;
        }
        const struct bc_avro_node *b = node->branches[d];
        json_t *inner = v2j(b, &branch, flags, depth + 1);
        if (inner == NULL || !(flags & BC_AVRO_JSON_TAGGED_UNIONS) || b->type == AVRO_NULL) {
            return inner;
        }
        json_t *tagged = json_object();
        if (tagged == NULL || json_object_set_new(tagged, branch_tag(b), inner) != 0) {
            json_decref(tagged);
            return NULL;
        }
        return tagged;
    }
    default:
        return NULL;
    }
}

json_t *bc_avro_to_json(const struct bc_avro_schema *schema, avro_value_t *value, int flags)
{
    return v2j(schema->compiled.root, value, flags, 0);
}

/* ---------------------------------------------------------------------------------------
 * Values to JSON text, without the jansson tree: the bytes json_dumps(v2j(...), JSON_COMPACT)
 * gives (jansson 2.14's dump: members in insertion order, a replaced member keeping its first
 * position, strings escaped only for '"', '\\' and control characters, \u00XX in upper
 * case). Reals are formatted by jansson itself, so that they match whatever its version
 * prints. */

static inline int text_put(struct bc_avro_buf *out, const char *s, size_t n)
{
    if (out->cap - out->len < n && bc_avro_buf_reserve(out, n) != 0) {
        return -1;
    }
    if (n > 0) {
        memcpy(out->data + out->len, s, n);
        out->len += n;
    }
    return 0;
}

/* The index of the first byte of s that JSON escapes ('"', '\\', below 0x20), or len: whole
 * 8-byte words at a time (a word with none is skipped at once). */
static size_t first_escape(const char *s, size_t len)
{
    const uint64_t ones = 0x0101010101010101ULL, high = 0x8080808080808080ULL;
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t w, q, b;
        memcpy(&w, s + i, 8);
        q = w ^ (ones * '"');
        b = w ^ (ones * '\\');
        if ((((w - ones * 0x20) & ~w) | ((q - ones) & ~q) | ((b - ones) & ~b)) & high) {
            break; /* one of these 8 bytes (the loop below finds it) */
        }
    }
    for (; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\' || c < 0x20) {
            return i;
        }
    }
    return len;
}

static int text_string(struct bc_avro_buf *out, const char *s, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    if (!bc_avro_utf8_valid(s, len) || bc_avro_buf_reserve(out, len + 2) != 0) {
        return -1; /* json_stringn refuses what is not UTF-8 */
    }
    out->data[out->len++] = '"';
    size_t run = 0;
    for (size_t i = first_escape(s, len); i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c != '"' && c != '\\' && c >= 0x20) {
            continue;
        }
        char esc[6] = {'\\', 0, 0, 0, 0, 0};
        size_t n = 2;
        switch (c) {
        case '"':
        case '\\':
            esc[1] = (char)c;
            break;
        case '\b':
            esc[1] = 'b';
            break;
        case '\f':
            esc[1] = 'f';
            break;
        case '\n':
            esc[1] = 'n';
            break;
        case '\r':
            esc[1] = 'r';
            break;
        case '\t':
            esc[1] = 't';
            break;
        default:
            memcpy(esc, "\\u00", 4);
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            n = 6;
            break;
        }
        if (text_put(out, s + run, i - run) != 0 || text_put(out, esc, n) != 0) {
            return -1;
        }
        run = i + 1;
    }
    return text_put(out, s + run, len - run) != 0 || text_put(out, "\"", 1) != 0 ? -1 : 0;
}

static int text_integer(struct bc_avro_buf *out, int64_t v)
{
    char tmp[24], *p = tmp + sizeof(tmp);
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u != 0);
    if (v < 0) {
        *--p = '-';
    }
    return text_put(out, p, (size_t)(tmp + sizeof(tmp) - p));
}

static int text_real(struct bc_avro_buf *out, double d)
{
    if (!isfinite(d)) {
        return text_put(out, "null", 4);
    }
    char tmp[128];
    json_t *r = json_real(d);
    size_t n = r != NULL ? json_dumpb(r, tmp, sizeof(tmp), JSON_COMPACT | JSON_ENCODE_ANY) : 0;
    json_decref(r);
    return n == 0 || n > sizeof(tmp) ? -1 : text_put(out, tmp, n);
}

static int v2t(const struct bc_avro_node *node, avro_value_t *v, int flags, int depth,
               struct bc_avro_buf *out);

/* A pair of an array of KeyValue, for finding repeated keys. */
struct kv_ref {
    const char *key;
    size_t len;
    size_t index;
    size_t first; /* index of the first pair with this key */
    size_t last;  /* index of the last pair with this key */
};

static int kv_ref_cmp(const void *a, const void *b)
{
    const struct kv_ref *x = a, *y = b;
    if (x->len != y->len) {
        return x->len < y->len ? -1 : 1;
    }
    int c = memcmp(x->key, y->key, x->len);
    if (c != 0) {
        return c;
    }
    return x->index < y->index ? -1 : x->index > y->index;
}

/* An array of KeyValue as one object, as key_values_to_object builds it: a repeated key keeps
 * the position of its first pair and the value of its last; every value must convert. */
static int key_values_to_text(const struct bc_avro_node *kv, avro_value_t *v, int flags,
                              int depth, struct bc_avro_buf *out)
{
    size_t n = 0;
    avro_value_get_size(v, &n);
    struct kv_ref small[32], *refs = n <= 32 ? small : malloc(n * sizeof(*refs));
    struct kv_ref *sorted = NULL;
    int rc = -1;
    if (refs == NULL) {
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        avro_value_t item, key;
        size_t size = 0;
        if (avro_value_get_by_index(v, i, &item, NULL) != 0 ||
            avro_value_get_by_index(&item, 0, &key, NULL) != 0 ||
            avro_value_get_string(&key, &refs[i].key, &size) != 0 || size == 0) {
            goto done;
        }
        refs[i] = (struct kv_ref){refs[i].key, size - 1, i, i, i};
    }
    if (n > 1) { /* group equal keys (sorted copy), note each pair's first and last */
        struct kv_ref small_sorted[32];
        sorted = n <= 32 ? small_sorted : malloc(n * sizeof(*sorted));
        if (sorted == NULL) {
            goto done;
        }
        memcpy(sorted, refs, n * sizeof(*sorted));
        qsort(sorted, n, sizeof(*sorted), kv_ref_cmp);
        for (size_t g = 0; g < n;) {
            size_t e = g + 1;
            while (e < n && sorted[e].len == sorted[g].len &&
                   memcmp(sorted[e].key, sorted[g].key, sorted[g].len) == 0) {
                e++;
            }
            for (size_t k = g; k < e; k++) {
                refs[sorted[k].index].first = sorted[g].index;
                refs[sorted[k].index].last = sorted[e - 1].index;
            }
            g = e;
        }
        if (sorted == small_sorted) {
            sorted = NULL;
        }
    }
    if (text_put(out, "{", 1) != 0) {
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        avro_value_t item, value;
        if (avro_value_get_by_index(v, i, &item, NULL) != 0 ||
            avro_value_get_by_index(&item, 1, &value, NULL) != 0) {
            goto done;
        }
        if (refs[i].first != i || refs[i].last != i) {
            /* a repeated key: this value must convert, but only the last one is written */
            size_t at = out->len;
            if (v2t(kv->fields[1].type, &value, flags, depth + 1, out) != 0) {
                goto done;
            }
            out->len = at;
            if (refs[i].first != i) {
                continue;
            }
            if (avro_value_get_by_index(v, refs[i].last, &item, NULL) != 0 ||
                avro_value_get_by_index(&item, 1, &value, NULL) != 0) {
                goto done;
            }
        }
        if ((i > 0 && text_put(out, ",", 1) != 0) ||
            text_string(out, refs[i].key, refs[i].len) != 0 || text_put(out, ":", 1) != 0 ||
            v2t(kv->fields[1].type, &value, flags, depth + 1, out) != 0) {
            goto done;
        }
    }
    rc = text_put(out, "}", 1);
done:
    if (refs != small) {
        free(refs);
    }
    free(sorted);
    return rc;
}

static int v2t(const struct bc_avro_node *node, avro_value_t *v, int flags, int depth,
               struct bc_avro_buf *out)
{
    if (depth > MAX_DEPTH || avro_value_get_type(v) != node->type) {
        return -1;
    }
    if (flags & BC_AVRO_JSON_OTLP) {
        if (node->type == AVRO_ARRAY && is_key_value(node->items)) {
            return key_values_to_text(node->items, v, flags, depth, out);
        }
        if (is_wrapper(node, "AnyValue", "value") || is_wrapper(node, "ArrayValue", "values") ||
            is_wrapper(node, "KeyValueList", "values")) {
            avro_value_t inner;
            if (avro_value_get_by_index(v, 0, &inner, NULL) != 0) {
                return -1;
            }
            return v2t(node->fields[0].type, &inner, flags & ~BC_AVRO_JSON_TAGGED_UNIONS,
                       depth + 1, out);
        }
    }
    switch (node->type) {
    case AVRO_NULL:
        return text_put(out, "null", 4);
    case AVRO_BOOLEAN: {
        int b = 0;
        avro_value_get_boolean(v, &b);
        return b ? text_put(out, "true", 4) : text_put(out, "false", 5);
    }
    case AVRO_INT32: {
        int32_t i = 0;
        avro_value_get_int(v, &i);
        return text_integer(out, i);
    }
    case AVRO_INT64: {
        int64_t l = 0;
        avro_value_get_long(v, &l);
        return text_integer(out, l);
    }
    case AVRO_FLOAT:
    case AVRO_DOUBLE: {
        double d;
        if (node->type == AVRO_FLOAT) {
            float f = 0;
            avro_value_get_float(v, &f);
            d = f;
        } else {
            avro_value_get_double(v, &d);
        }
        return text_real(out, d);
    }
    case AVRO_STRING: {
        const char *s = NULL;
        size_t size = 0;
        if (avro_value_get_string(v, &s, &size) != 0 || s == NULL || size == 0) {
            return -1;
        }
        return text_string(out, s, size - 1);
    }
    case AVRO_BYTES:
    case AVRO_FIXED: {
        const void *b = NULL;
        size_t size = 0;
        if (node->type == AVRO_BYTES) {
            avro_value_get_bytes(v, &b, &size);
        } else {
            avro_value_get_fixed(v, &b, &size);
        }
        /* code points 0-255, as bytes_to_json */
        char small[512];
        char *s = size * 2 <= sizeof(small) ? small : malloc(size * 2 + 1);
        if (s == NULL) {
            return -1;
        }
        size_t n = 0;
        for (size_t i = 0; i < size; i++) {
            uint8_t c = ((const uint8_t *)b)[i];
            if (c < 0x80) {
                s[n++] = (char)c;
            } else {
                s[n++] = (char)(0xc0 | (c >> 6));
                s[n++] = (char)(0x80 | (c & 0x3f));
            }
        }
        int rc = text_string(out, s, n);
        if (s != small) {
            free(s);
        }
        return rc;
    }
    case AVRO_ENUM: {
        int i = -1;
        avro_value_get_enum(v, &i);
        if (i < 0 || (size_t)i >= node->n) {
            return -1;
        }
        return text_string(out, node->symbols[i], strlen(node->symbols[i]));
    }
    case AVRO_ARRAY:
    case AVRO_MAP: {
        size_t n = 0;
        avro_value_get_size(v, &n);
        if (text_put(out, node->type == AVRO_ARRAY ? "[" : "{", 1) != 0) {
            return -1;
        }
        for (size_t i = 0; i < n; i++) {
            avro_value_t child;
            const char *key = NULL;
            if (avro_value_get_by_index(v, i, &child, &key) != 0 ||
                (i > 0 && text_put(out, ",", 1) != 0) ||
                (node->type == AVRO_MAP &&
                 (key == NULL || text_string(out, key, strlen(key)) != 0 ||
                  text_put(out, ":", 1) != 0)) ||
                v2t(node->items, &child, flags, depth + 1, out) != 0) {
                return -1;
            }
        }
        return text_put(out, node->type == AVRO_ARRAY ? "]" : "}", 1);
    }
    case AVRO_RECORD: {
        if (text_put(out, "{", 1) != 0) {
            return -1;
        }
        for (size_t i = 0; i < node->n; i++) {
            avro_value_t child;
            if (avro_value_get_by_index(v, i, &child, NULL) != 0 ||
                (i > 0 && text_put(out, ",", 1) != 0) ||
                text_string(out, node->fields[i].name, strlen(node->fields[i].name)) != 0 ||
                text_put(out, ":", 1) != 0 ||
                v2t(node->fields[i].type, &child, flags, depth + 1, out) != 0) {
                return -1;
            }
        }
        return text_put(out, "}", 1);
    }
    case AVRO_UNION: {
        int d = -1;
        avro_value_t branch;
        avro_value_get_discriminant(v, &d);
        if (d < 0 || (size_t)d >= node->n || avro_value_get_current_branch(v, &branch) != 0) {
            return -1;
        }
        const struct bc_avro_node *b = node->branches[d];
        if (!(flags & BC_AVRO_JSON_TAGGED_UNIONS) || b->type == AVRO_NULL) {
            return v2t(b, &branch, flags, depth + 1, out);
        }
        const char *tag = branch_tag(b);
        if (text_put(out, "{", 1) != 0 || text_string(out, tag, strlen(tag)) != 0 ||
            text_put(out, ":", 1) != 0 || v2t(b, &branch, flags, depth + 1, out) != 0) {
            return -1;
        }
        return text_put(out, "}", 1);
    }
    default:
        return -1;
    }
}

int bc_avro_to_json_text(const struct bc_avro_schema *schema, avro_value_t *value, int flags,
                         struct bc_avro_buf *out)
{
    out->len = 0;
    /* json_dumps writes only an object or an array at the top */
    if (v2t(schema->compiled.root, value, flags, 0, out) != 0 || out->len == 0 ||
        (out->data[0] != '{' && out->data[0] != '[') || bc_avro_buf_put(out, "", 1) != 0) {
        out->len = 0;
        return -1;
    }
    out->len--; /* the NUL is not counted */
    return 0;
}
