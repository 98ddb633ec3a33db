/* The deduplicator's key: compiled field paths and their digest (see dedup_key.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "bc_event.h"
#include "dedup_key.h"

enum field_kind { FIELD_TOP, FIELD_ATTRIBUTE, FIELD_RESOURCE };

struct field {
    enum field_kind kind;
    enum bc_event_field top; /* FIELD_TOP: the TrackingEvent field */
    char *name;              /* FIELD_ATTRIBUTE / FIELD_RESOURCE: the attribute key (new) */
};

struct dedup_key {
    struct field *fields; /* n fields, in the option's order */
    size_t n;
    int aligned;           /* dedup_key_partition_aligned */
    XXH3_state_t *xxh;     /* reused per digest (the stage is single-threaded) */
};

static const struct {
    const char *name;
    enum bc_event_field field;
} top_fields[] = {
    {"event_id", BC_EV_EVENT_ID},
    {"trace_id", BC_EV_TRACE_ID},
    {"span_id", BC_EV_SPAN_ID},
    {"parent_span_id", BC_EV_PARENT_SPAN_ID},
    {"correlation_id", BC_EV_CORRELATION_ID},
    {"name", BC_EV_NAME},
    {"service", BC_EV_SERVICE},
};

/* Parses path into f (f->name new). Returns 0 or -1. */
static int field_parse(const char *path, struct field *f)
{
    static const struct {
        const char *prefix;
        enum field_kind kind;
    } prefixes[] = {
        {"attributes.", FIELD_ATTRIBUTE},
        {"resource.", FIELD_RESOURCE},
        {"resource_attributes.", FIELD_RESOURCE},
    };
    memset(f, 0, sizeof(*f));
    for (size_t i = 0; i < sizeof(top_fields) / sizeof(top_fields[0]); i++) {
        if (strcmp(path, top_fields[i].name) == 0) {
            f->kind = FIELD_TOP;
            f->top = top_fields[i].field;
            return 0;
        }
    }
    for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
        size_t len = strlen(prefixes[i].prefix);
        if (strncmp(path, prefixes[i].prefix, len) == 0 && path[len] != '\0') {
            f->kind = prefixes[i].kind;
            f->name = strdup(path + len);
            return f->name != NULL ? 0 : -1;
        }
    }
    return -1;
}

int dedup_key_path_valid(const char *path)
{
    struct field f;
    if (field_parse(path, &f) != 0) {
        return -1;
    }
    free(f.name);
    return 0;
}

int dedup_key_paths_aligned(const char *const *paths, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(paths[i], "event_id") == 0 || strcmp(paths[i], "trace_id") == 0) {
            return 1;
        }
    }
    return 0;
}

struct dedup_key *dedup_key_compile(const char *const *paths, size_t n, char *errstr,
                                    size_t errstr_size)
{
    struct dedup_key *key = calloc(1, sizeof(*key));
    if (key == NULL || n == 0) {
        snprintf(errstr, errstr_size, n == 0 ? "key: needs at least one field" : "out of memory");
        goto fail;
    }
    key->fields = calloc(n, sizeof(*key->fields));
    key->xxh = XXH3_createState();
    if (key->fields == NULL || key->xxh == NULL) {
        snprintf(errstr, errstr_size, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < n; i++) {
        if (field_parse(paths[i], &key->fields[i]) != 0) {
            snprintf(errstr, errstr_size,
                     "key: unknown field '%s' (event_id, trace_id, span_id, parent_span_id, "
                     "correlation_id, name, service, attributes.<key>, resource.<key>)",
                     paths[i]);
            goto fail;
        }
        key->n++;
    }
    key->aligned = dedup_key_paths_aligned(paths, n);
    return key;
fail:
    dedup_key_destroy(key);
    return NULL;
}

void dedup_key_destroy(struct dedup_key *key)
{
    if (key == NULL) {
        return;
    }
    for (size_t i = 0; i < key->n; i++) {
        free(key->fields[i].name);
    }
    free(key->fields);
    if (key->xxh != NULL) {
        XXH3_freeState(key->xxh);
    }
    free(key);
}

int dedup_key_partition_aligned(const struct dedup_key *key)
{
    return key->aligned;
}

uint64_t dedup_key_fields(const struct dedup_key *key)
{
    uint64_t mask = 0;
    for (size_t i = 0; i < key->n; i++) {
        const struct field *f = &key->fields[i];
        mask |= (uint64_t)1 << (f->kind == FIELD_TOP         ? (int)f->top
                                : f->kind == FIELD_ATTRIBUTE ? BC_EV_ATTRIBUTES
                                                             : BC_EV_RESOURCE_ATTRIBUTES);
    }
    return mask;
}

/* Feeds one value: tag, 8-byte length, bytes. */
static void feed(XXH3_state_t *xxh, char tag, const void *data, size_t len)
{
    uint64_t n = len;
    XXH3_128bits_update(xxh, &tag, 1);
    XXH3_128bits_update(xxh, &n, sizeof(n));
    XXH3_128bits_update(xxh, data, len);
}

/* Feeds an AnyValue of a scalar type. Returns 0, or 1 when null or not a scalar. */
static int feed_any(XXH3_state_t *xxh, avro_value_t *any)
{
    avro_value_t inner;
    const char *s;
    const void *bytes;
    size_t size;
    int32_t b;
    int64_t l;
    double d;
    switch (bc_any_get(any, &inner)) {
    case BC_ANY_STRING:
        if (avro_value_get_string(&inner, &s, &size) != 0) {
            return 1;
        }
        feed(xxh, 's', s, size > 0 ? size - 1 : 0);
        return 0;
    case BC_ANY_BOOL:
        if (avro_value_get_boolean(&inner, &b) != 0) {
            return 1;
        }
        feed(xxh, 'b', b ? "1" : "0", 1);
        return 0;
    case BC_ANY_LONG:
        if (avro_value_get_long(&inner, &l) != 0) {
            return 1;
        }
        feed(xxh, 'l', &l, sizeof(l));
        return 0;
    case BC_ANY_DOUBLE:
        if (avro_value_get_double(&inner, &d) != 0) {
            return 1;
        }
        feed(xxh, 'd', &d, sizeof(d));
        return 0;
    case BC_ANY_BYTES:
        if (avro_value_get_bytes(&inner, &bytes, &size) != 0) {
            return 1;
        }
        feed(xxh, 'y', bytes, size);
        return 0;
    default:
        return 1;
    }
}

int dedup_key_digest(const struct dedup_key *key, avro_value_t *ev,
                     uint8_t out[DEDUP_DIGEST_SIZE])
{
    XXH3_128bits_reset(key->xxh);
    for (size_t i = 0; i < key->n; i++) {
        const struct field *f = &key->fields[i];
        if (f->kind == FIELD_TOP) {
            size_t len;
            const char *s = bc_event_get_string(ev, f->top, &len);
            if (s == NULL) {
                return 1;
            }
            feed(key->xxh, 's', s, len);
            continue;
        }
        avro_value_t kvs, any;
        enum bc_event_field which =
            f->kind == FIELD_ATTRIBUTE ? BC_EV_ATTRIBUTES : BC_EV_RESOURCE_ATTRIBUTES;
        if (bc_event_field(ev, which, &kvs) != 0 || bc_event_kv_find(&kvs, f->name, &any) != 0 ||
            feed_any(key->xxh, &any) != 0) {
            return 1;
        }
    }
    XXH128_canonical_t canon;
    XXH128_canonicalFromHash(&canon, XXH3_128bits_digest(key->xxh));
    memcpy(out, canon.digest, DEDUP_DIGEST_SIZE);
    return 0;
}

void dedup_digest_hex(const uint8_t digest[DEDUP_DIGEST_SIZE], char *out)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < DEDUP_DIGEST_SIZE; i++) {
        out[2 * i] = hex[digest[i] >> 4];
        out[2 * i + 1] = hex[digest[i] & 15];
    }
    out[2 * DEDUP_DIGEST_SIZE] = '\0';
}

static int hex_value(unsigned char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    return -1;
}

int dedup_digest_parse(const void *hex, size_t len, uint8_t out[DEDUP_DIGEST_SIZE])
{
    const unsigned char *h = hex;
    if (h == NULL || len != 2 * DEDUP_DIGEST_SIZE) {
        return -1;
    }
    for (size_t i = 0; i < DEDUP_DIGEST_SIZE; i++) {
        int hi = hex_value(h[2 * i]), lo = hex_value(h[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            return -1;
        }
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}
