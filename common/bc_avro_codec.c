/*
 * Avro binary encoding from avro-c values (validating) and decoding into avro-c values
 * through resolution plans (bounds-checked, defaults applied), plus the Confluent header.
 * See bc_avro.h for why this walk is ours.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bc_avro_internal.h"

/* Deepest nesting of values encoded or decoded: recursive types (AnyValue) could otherwise
 * exhaust the stack on hostile input. */
#define MAX_DEPTH 200
/* Most items a block of zero-byte items (e.g. array<null>) may claim. */
#define MAX_EMPTY_ITEMS (1 << 20)
/* Strings up to this size are NUL-terminated on the stack before avro-c copies them. */
#define SHORT_STRING 512

/* ---------------------------------------------------------------------------------------
 * avro-c's allocator
 *
 * A generic value allocates as it is filled: each array item's strings, each map key, a union
 * branch's value; resetting it for the next record frees them all again. That is two malloc
 * calls and two free calls per attribute of a TrackingEvent, ~15% of a decoding worker's CPU
 * in glibc. avro-c takes one process-wide allocator (avro_set_allocator), so its blocks up to
 * 4 KB come from per-thread free lists of power-of-two size classes instead: in the steady
 * state, decoding a record into a reused value calls no malloc or free. A block carries its
 * class in a header (avro-c's osize is not relied on). Installed before main() so that every
 * block avro-c frees was allocated here; not under AddressSanitizer, which must see avro-c's
 * own allocations to find use-after-free in values. A thread's free blocks (at most
 * POOL_KEEP per class) go back to libc when the thread ends. */

#if defined(__SANITIZE_ADDRESS__)
#define POOL_ENABLED 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define POOL_ENABLED 0
#endif
#endif
#ifndef POOL_ENABLED
#define POOL_ENABLED 1
#endif

#define POOL_CLASSES 8  /* blocks of 32 << class bytes, header included: 32 .. 4096 */
#define POOL_BIG POOL_CLASSES /* the class of a block from libc (larger than 4096) */
#define POOL_KEEP 4096  /* free blocks kept per class and thread; more go back to libc */

struct pool_hdr {
    size_t cls;             /* size class, or POOL_BIG */
    struct pool_hdr *next;  /* in a free list */
};                          /* 16 bytes: payloads stay 16-byte aligned */

struct pool {
    struct pool_hdr *free[POOL_CLASSES];
    unsigned nfree[POOL_CLASSES];
    int registered; /* the thread-exit destructor is set */
};

static _Thread_local struct pool pool;
static pthread_key_t pool_key;
static pthread_once_t pool_key_once = PTHREAD_ONCE_INIT;

static void pool_drain(void *arg)
{
    struct pool *p = arg;
    for (int c = 0; c < POOL_CLASSES; c++) {
        while (p->free[c] != NULL) {
            struct pool_hdr *h = p->free[c];
            p->free[c] = h->next;
            free(h);
        }
        p->nfree[c] = 0;
    }
}

static void pool_key_init(void)
{
    if (pthread_key_create(&pool_key, pool_drain) != 0) {
        abort();
    }
}

static size_t pool_class(size_t size)
{
    size_t total = size + sizeof(struct pool_hdr);
    if (total <= 32) {
        return 0;
    }
    if (total > (size_t)32 << (POOL_CLASSES - 1)) {
        return POOL_BIG;
    }
    return (size_t)(64 - __builtin_clzll((unsigned long long)(total - 1)) - 5);
}

static void *pool_alloc(size_t size)
{
    size_t cls = pool_class(size);
    struct pool_hdr *h;
    if (cls == POOL_BIG) {
        if (size > SIZE_MAX - sizeof(*h)) {
            return NULL;
        }
        h = malloc(sizeof(*h) + size);
    } else if (pool.free[cls] != NULL) {
        h = pool.free[cls];
        pool.free[cls] = h->next;
        pool.nfree[cls]--;
    } else {
        h = malloc((size_t)32 << cls);
    }
    if (h == NULL) {
        return NULL;
    }
    h->cls = cls;
    return h + 1;
}

static void pool_free(void *ptr)
{
    struct pool_hdr *h = (struct pool_hdr *)ptr - 1;
    size_t cls = h->cls;
    if (cls == POOL_BIG || pool.nfree[cls] >= POOL_KEEP) {
        free(h);
        return;
    }
    if (!pool.registered) {
        pthread_once(&pool_key_once, pool_key_init);
        pthread_setspecific(pool_key, &pool);
        pool.registered = 1;
    }
    h->next = pool.free[cls];
    pool.free[cls] = h;
    pool.nfree[cls]++;
}

/* avro_allocator_t: malloc (ptr NULL), free (nsize 0) and realloc in one. */
static void *pool_avro_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    (void)ud;
    (void)osize;
    if (nsize == 0) {
        if (ptr != NULL) {
            pool_free(ptr);
        }
        return NULL;
    }
    if (ptr == NULL) {
        return pool_alloc(nsize);
    }
    struct pool_hdr *h = (struct pool_hdr *)ptr - 1;
    if (h->cls == POOL_BIG) {
        if (nsize > SIZE_MAX - sizeof(*h)) {
            return NULL;
        }
        struct pool_hdr *grown = realloc(h, sizeof(*h) + nsize);
        return grown != NULL ? grown + 1 : NULL;
    }
    size_t cap = ((size_t)32 << h->cls) - sizeof(*h);
    if (nsize <= cap) {
        return ptr;
    }
    void *grown = pool_alloc(nsize);
    if (grown == NULL) {
        return NULL;
    }
    memcpy(grown, ptr, cap);
    pool_free(ptr);
    return grown;
}

__attribute__((constructor)) static void pool_install(void)
{
    if (POOL_ENABLED) {
        avro_set_allocator(pool_avro_alloc, NULL);
    }
}

/* ---------------------------------------------------------------------------------------
 * Buffers */

void bc_avro_buf_free(struct bc_avro_buf *buf)
{
    if (buf == NULL) {
        return;
    }
    free(buf->data);
    buf->data = NULL;
    buf->len = 0;
    buf->cap = 0;
}

int bc_avro_buf_reserve(struct bc_avro_buf *buf, size_t more)
{
    if (buf->cap - buf->len >= more) {
        return 0;
    }
    size_t cap = buf->cap ? buf->cap : 256;
    while (cap - buf->len < more) {
        if (cap > SIZE_MAX / 2) {
            return -1;
        }
        cap *= 2;
    }
    uint8_t *grown = realloc(buf->data, cap);
    if (grown == NULL) {
        return -1;
    }
    buf->data = grown;
    buf->cap = cap;
    return 0;
}

int bc_avro_buf_put(struct bc_avro_buf *buf, const void *data, size_t len)
{
    if (len == 0) {
        return 0;
    }
    if (bc_avro_buf_reserve(buf, len) != 0) {
        return -1;
    }
    memcpy(buf->data + buf->len, data, len);
    buf->len += len;
    return 0;
}


/* Whether len bytes at s are all ASCII: whole 8-byte words, the tail as one more word that
 * overlaps the last one (or two 4-byte words for short strings), no byte-by-byte loop. */
static int all_ascii(const uint8_t *s, size_t len)
{
    const uint64_t high = 0x8080808080808080ULL;
    if (len >= 8) {
        uint64_t w;
        for (size_t i = 0; i + 8 <= len; i += 8) {
            memcpy(&w, s + i, 8);
            if (w & high) {
                return 0;
            }
        }
        memcpy(&w, s + len - 8, 8);
        return !(w & high);
    }
    if (len >= 4) {
        uint32_t a, b;
        memcpy(&a, s, 4);
        memcpy(&b, s + len - 4, 4);
        return !((a | b) & 0x80808080U);
    }
    uint8_t acc = 0;
    for (size_t i = 0; i < len; i++) {
        acc |= s[i];
    }
    return !(acc & 0x80);
}

/* Strict UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing above U+10FFFF. */
int bc_avro_utf8_valid(const char *str, size_t len)
{
    const uint8_t *s = (const uint8_t *)str, *end = s + len;
    if (all_ascii(s, len)) { /* most strings */
        return 1;
    }
    while (s < end) {
        /* ASCII runs 8 bytes at a time: most strings are ASCII. */
        while ((size_t)(end - s) >= 8) {
            uint64_t word;
            memcpy(&word, s, 8);
            if (word & 0x8080808080808080ULL) {
                break;
            }
            s += 8;
        }
        if (s == end) {
            break;
        }
        uint8_t c = *s;
        if (c < 0x80) {
            s++;
            continue;
        }
        size_t n;
        uint32_t cp, min;
        if ((c & 0xe0) == 0xc0) {
            n = 2, cp = c & 0x1f, min = 0x80;
        } else if ((c & 0xf0) == 0xe0) {
            n = 3, cp = c & 0x0f, min = 0x800;
        } else if ((c & 0xf8) == 0xf0) {
            n = 4, cp = c & 0x07, min = 0x10000;
        } else {
            return 0;
        }
        if ((size_t)(end - s) < n) {
            return 0;
        }
        for (size_t i = 1; i < n; i++) {
            if ((s[i] & 0xc0) != 0x80) {
                return 0;
            }
            cp = (cp << 6) | (s[i] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
            return 0;
        }
        s += n;
    }
    return 1;
}

static void put_le(uint8_t *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

static uint64_t get_le(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++) {
        v |= (uint64_t)p[i] << (8 * i);
    }
    return v;
}

/* ---------------------------------------------------------------------------------------
 * Error paths: built while unwinding, so the success path pays nothing. */

struct err_path {
    char path[512]; /* ".status.code" */
    size_t len;
    char msg[512];
};

static void path_prepend(struct err_path *ep, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void path_prepend(struct err_path *ep, const char *fmt, ...)
{
    char seg[160];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(seg, sizeof(seg), fmt, ap);
    va_end(ap);
    if (n < 0) {
        return;
    }
    if ((size_t)n >= sizeof(seg)) {
        n = sizeof(seg) - 1;
    }
    if (ep->len + (size_t)n >= sizeof(ep->path)) {
        return;
    }
    memmove(ep->path + n, ep->path, ep->len + 1);
    memcpy(ep->path, seg, (size_t)n);
    ep->len += (size_t)n;
}

static void err_format(const struct err_path *ep, char *errstr, size_t errstr_size)
{
    if (errstr == NULL || errstr_size == 0) {
        return;
    }
    const char *path = ep->path[0] == '.' ? ep->path + 1 : ep->path;
    if (path[0] != '\0') {
        snprintf(errstr, errstr_size, "%s: %s", path, ep->msg);
    } else {
        snprintf(errstr, errstr_size, "%s", ep->msg);
    }
}

/* ---------------------------------------------------------------------------------------
 * Encoding */

static pthread_once_t unset_once = PTHREAD_ONCE_INIT;
static const char *unset_string; /* what avro-c returns for a never-set generic string */

static void unset_init(void)
{
    avro_schema_t s = avro_schema_string();
    avro_value_iface_t *iface = avro_generic_class_from_schema(s);
    avro_value_t v;
    if (iface != NULL && avro_generic_value_new(iface, &v) == 0) {
        size_t size;
        if (avro_value_get_string(&v, &unset_string, &size) != 0) {
            unset_string = NULL;
        }
        avro_value_decref(&v);
    }
    if (iface != NULL) {
        avro_value_iface_decref(iface);
    }
    avro_schema_decref(s);
}

struct enc {
    struct bc_avro_buf *buf;
    struct err_path ep;
    int depth;
};

static int enc_fail(struct enc *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int enc_fail(struct enc *e, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->ep.msg, sizeof(e->ep.msg), fmt, ap);
    va_end(ap);
    return -1;
}

/* bc_avro_buf_put and bc_avro_buf_put_long with the room check inline: called for every
 * value written. */
static inline int buf_put(struct bc_avro_buf *buf, const void *data, size_t len)
{
    if (buf->cap - buf->len < len && bc_avro_buf_reserve(buf, len) != 0) {
        return -1;
    }
    if (len > 0) {
        memcpy(buf->data + buf->len, data, len);
        buf->len += len;
    }
    return 0;
}

static inline int buf_put_long(struct bc_avro_buf *buf, int64_t v)
{
    if (buf->cap - buf->len < 10 && bc_avro_buf_reserve(buf, 10) != 0) {
        return -1;
    }
    buf->len = (size_t)(bc_avro_write_long(buf->data + buf->len, v) - buf->data);
    return 0;
}

int bc_avro_buf_put_long(struct bc_avro_buf *buf, int64_t v)
{
    return buf_put_long(buf, v);
}

#define ENC_PUT(e, data, len)                                                                      \
    do {                                                                                           \
        if (buf_put((e)->buf, (data), (len)) != 0) {                                               \
            return enc_fail((e), "out of memory");                                                 \
        }                                                                                          \
    } while (0)
#define ENC_LONG(e, v)                                                                             \
    do {                                                                                           \
        if (buf_put_long((e)->buf, (v)) != 0) {                                                    \
            return enc_fail((e), "out of memory");                                                 \
        }                                                                                          \
    } while (0)

static int enc_string(struct enc *e, const char *s, size_t len)
{
    if (!bc_avro_utf8_valid(s, len)) {
        return enc_fail(e, "string is not valid UTF-8");
    }
    ENC_LONG(e, (int64_t)len);
    ENC_PUT(e, s, len);
    return 0;
}

static int enc_value(struct enc *e, const struct bc_avro_node *node, avro_value_t *v)
{
    if (avro_value_get_type(v) != node->type) {
        return enc_fail(e, "value of avro type %d where the schema has %s",
                        (int)avro_value_get_type(v), node->fullname ? node->fullname : node->name);
    }
    switch (node->type) {
    case AVRO_NULL:
        return 0;
    case AVRO_BOOLEAN: {
        int b = 0;
        avro_value_get_boolean(v, &b);
        uint8_t byte = b ? 1 : 0;
        ENC_PUT(e, &byte, 1);
        return 0;
    }
    case AVRO_INT32: {
        int32_t i = 0;
        avro_value_get_int(v, &i);
        ENC_LONG(e, i);
        return 0;
    }
    case AVRO_INT64: {
        int64_t l = 0;
        avro_value_get_long(v, &l);
        ENC_LONG(e, l);
        return 0;
    }
    case AVRO_FLOAT: {
        float f = 0;
        uint32_t bits;
        uint8_t out[4];
        avro_value_get_float(v, &f);
        memcpy(&bits, &f, 4);
        put_le(out, bits, 4);
        ENC_PUT(e, out, 4);
        return 0;
    }
    case AVRO_DOUBLE: {
        double d = 0;
        uint64_t bits;
        uint8_t out[8];
        avro_value_get_double(v, &d);
        memcpy(&bits, &d, 8);
        put_le(out, bits, 8);
        ENC_PUT(e, out, 8);
        return 0;
    }
    case AVRO_STRING: {
        const char *s = NULL;
        size_t size = 0;
        if (avro_value_get_string(v, &s, &size) != 0 || s == NULL || size == 0 ||
            s == unset_string) {
            return enc_fail(e, "string not set");
        }
        return enc_string(e, s, size - 1);
    }
    case AVRO_BYTES: {
        const void *b = NULL;
        size_t size = 0;
        avro_value_get_bytes(v, &b, &size);
        ENC_LONG(e, (int64_t)size);
        ENC_PUT(e, b, size);
        return 0;
    }
    case AVRO_FIXED: {
        const void *b = NULL;
        size_t size = 0;
        avro_value_get_fixed(v, &b, &size);
        if (size != node->n) {
            return enc_fail(e, "fixed %s holds %zu bytes, not %zu", node->fullname, size, node->n);
        }
        ENC_PUT(e, b, size);
        return 0;
    }
    case AVRO_ENUM: {
        int i = -1;
        avro_value_get_enum(v, &i);
        if (i < 0 || (size_t)i >= node->n) {
            return enc_fail(e, "enum index %d out of range (%zu symbols)", i, node->n);
        }
        ENC_LONG(e, i);
        return 0;
    }
    case AVRO_ARRAY:
    case AVRO_MAP: {
        size_t n = 0;
        avro_value_get_size(v, &n);
        if (n > 0) {
            if (++e->depth > MAX_DEPTH) {
                return enc_fail(e, "nested deeper than %d", MAX_DEPTH);
            }
            ENC_LONG(e, (int64_t)n);
            for (size_t i = 0; i < n; i++) {
                avro_value_t child;
                const char *key = NULL;
                if (avro_value_get_by_index(v, i, &child, &key) != 0) {
                    return enc_fail(e, "cannot read item %zu", i);
                }
                if (node->type == AVRO_MAP) {
                    if (enc_string(e, key, strlen(key)) != 0) {
                        path_prepend(&e->ep, "[%zu](key)", i);
                        return -1;
                    }
                }
                if (enc_value(e, node->items, &child) != 0) {
                    if (node->type == AVRO_MAP) {
                        path_prepend(&e->ep, "[\"%.64s\"]", key);
                    } else {
                        path_prepend(&e->ep, "[%zu]", i);
                    }
                    return -1;
                }
            }
            e->depth--;
        }
        ENC_LONG(e, 0);
        return 0;
    }
    case AVRO_RECORD:
        if (++e->depth > MAX_DEPTH) {
            return enc_fail(e, "nested deeper than %d", MAX_DEPTH);
        }
        for (size_t i = 0; i < node->n; i++) {
            avro_value_t child;
            if (avro_value_get_by_index(v, i, &child, NULL) != 0) {
                return enc_fail(e, "cannot read field %s", node->fields[i].name);
            }
            if (enc_value(e, node->fields[i].type, &child) != 0) {
                path_prepend(&e->ep, ".%s", node->fields[i].name);
                return -1;
            }
        }
        e->depth--;
        return 0;
    case AVRO_UNION: {
        int d = -1;
        avro_value_get_discriminant(v, &d);
        if (d < 0) {
            return enc_fail(e, "union has no branch selected");
        }
        if ((size_t)d >= node->n) {
            return enc_fail(e, "union branch %d out of range (%zu branches)", d, node->n);
        }
        avro_value_t branch;
        if (avro_value_get_current_branch(v, &branch) != 0) {
            return enc_fail(e, "cannot read the union's branch");
        }
        ENC_LONG(e, d);
        return enc_value(e, node->branches[d], &branch);
    }
    default:
        return enc_fail(e, "unsupported type");
    }
}

static int value_fits(const struct bc_avro_schema *schema, avro_value_t *value)
{
    avro_schema_t vs = avro_value_get_schema(value);
    return vs == schema->compiled.schema || avro_schema_equal(vs, schema->compiled.schema);
}

int bc_avro_encode_body(const struct bc_avro_schema *schema, avro_value_t *value,
                        struct bc_avro_buf *buf, char *errstr, size_t errstr_size)
{
    pthread_once(&unset_once, unset_init);
    if (!value_fits(schema, value)) {
        snprintf(errstr, errstr_size, "the value is not of schema %s v%d", schema->subject,
                 schema->version);
        return BC_AVRO_ERR_ARG;
    }
    struct enc e = {.buf = buf};
    size_t start = buf->len;
    if (enc_value(&e, schema->compiled.root, value) != 0) {
        buf->len = start;
        err_format(&e.ep, errstr, errstr_size);
        return BC_AVRO_ERR_VALUE;
    }
    return 0;
}

int bc_avro_encode(const struct bc_avro_schema *schema, avro_value_t *value,
                   struct bc_avro_buf *buf, char *errstr, size_t errstr_size)
{
    buf->len = 0;
    uint8_t header[BC_AVRO_HEADER_SIZE];
    bc_avro_write_header(header, schema->id);
    if (bc_avro_buf_put(buf, header, sizeof(header)) != 0) {
        snprintf(errstr, errstr_size, "out of memory");
        return BC_AVRO_ERR_VALUE;
    }
    int rc = bc_avro_encode_body(schema, value, buf, errstr, errstr_size);
    if (rc != 0) {
        buf->len = 0;
    }
    return rc;
}

/* ---------------------------------------------------------------------------------------
 * Decoding */

struct dec {
    const uint8_t *p;
    const uint8_t *end;
    int status; /* bc_avro_status of the failure */
    int depth;
    struct err_path ep;
    char *scratch; /* NUL-terminated copies of long strings */
    size_t scratch_cap;
    uint64_t fields; /* nonzero: the top-level reader fields to decode (bc_avro_decode_fields) */
    int noncanon;    /* seen a form the encoder does not write (bc_avro_decode_canonical) */
};

/* Whether the top-level record's reader field index is skipped (bc_avro_decode_fields). */
static int dec_masked(const struct dec *d, int reader_index)
{
    return d->fields != 0 && d->depth == 1 && reader_index < 64 &&
           !(d->fields >> reader_index & 1);
}

static int dec_fail(struct dec *d, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int dec_fail(struct dec *d, int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d->ep.msg, sizeof(d->ep.msg), fmt, ap);
    va_end(ap);
    d->status = status;
    return -1;
}

static int dec_long_slow(struct dec *d, int64_t *out);

static inline int dec_long(struct dec *d, int64_t *out)
{
    if (d->p < d->end && *d->p < 0x80) { /* one byte: most lengths, indexes and counts */
        uint8_t b = *d->p++;
        *out = (int64_t)(b >> 1) ^ -(int64_t)(b & 1);
        return 0;
    }
    return dec_long_slow(d, out);
}

static int dec_long_slow(struct dec *d, int64_t *out)
{
    uint64_t z = 0;
    for (int shift = 0; shift < 70; shift += 7) {
        if (d->p == d->end) {
            return dec_fail(d, BC_AVRO_ERR_TRUNCATED, "body ends inside a number");
        }
        uint8_t b = *d->p++;
        if (shift == 63 && (b & 0x7e) != 0) {
            return dec_fail(d, BC_AVRO_ERR_MALFORMED, "number longer than 64 bits");
        }
        z |= (uint64_t)(b & 0x7f) << shift;
        if ((b & 0x80) == 0) {
            if (b == 0) { /* longer than the encoder's form, which ends on a nonzero byte */
                d->noncanon = 1;
            }
            *out = (int64_t)(z >> 1) ^ -(int64_t)(z & 1);
            return 0;
        }
    }
    return dec_fail(d, BC_AVRO_ERR_MALFORMED, "number longer than 10 bytes");
}

static int dec_int(struct dec *d, int32_t *out)
{
    int64_t l = 0;
    if (dec_long(d, &l) != 0) {
        return -1;
    }
    if (l < INT32_MIN || l > INT32_MAX) {
        return dec_fail(d, BC_AVRO_ERR_MALFORMED, "int %lld out of range", (long long)l);
    }
    *out = (int32_t)l;
    return 0;
}

static int dec_need(struct dec *d, size_t n, const char *what)
{
    if ((size_t)(d->end - d->p) < n) {
        return dec_fail(d, BC_AVRO_ERR_TRUNCATED,
                        "body ends inside %s (%zu bytes needed, %zu left)", what, n,
                        (size_t)(d->end - d->p));
    }
    return 0;
}

static int dec_len_slow(struct dec *d, size_t *len, const char *what);

/* Reads a string or bytes length and checks it against the bytes left. */
static inline int dec_len(struct dec *d, size_t *len, const char *what)
{
    if (d->p < d->end && *d->p < 0x80 && !(*d->p & 1) &&
        (size_t)(*d->p >> 1) < (size_t)(d->end - d->p)) {
        *len = *d->p++ >> 1; /* one byte, not negative, fits */
        return 0;
    }
    return dec_len_slow(d, len, what);
}

static int dec_len_slow(struct dec *d, size_t *len, const char *what)
{
    int64_t l = 0;
    if (dec_long(d, &l) != 0) {
        return -1;
    }
    if (l < 0) {
        return dec_fail(d, BC_AVRO_ERR_MALFORMED, "negative %s length %lld", what, (long long)l);
    }
    if ((uint64_t)l > (uint64_t)(d->end - d->p)) {
        return dec_fail(d, BC_AVRO_ERR_TRUNCATED, "%s of %lld bytes, %zu left", what, (long long)l,
                        (size_t)(d->end - d->p));
    }
    *len = (size_t)l;
    return 0;
}

/* Reads an array or map block header: the item count (0 ends), bounded by the bytes left. */
static int dec_block(struct dec *d, const struct bc_avro_node *items, int64_t *count)
{
    if (dec_long(d, count) != 0) {
        return -1;
    }
    if (*count < 0) {
        int64_t size;
        if (*count == INT64_MIN) {
            return dec_fail(d, BC_AVRO_ERR_MALFORMED, "invalid block count");
        }
        *count = -*count;
        d->noncanon = 1; /* the encoder writes no block sizes */
        if (dec_long(d, &size) != 0) {
            return -1;
        }
        if (size < 0) {
            return dec_fail(d, BC_AVRO_ERR_MALFORMED, "negative block size");
        }
    }
    size_t min = items->min_size;
    size_t left = (size_t)(d->end - d->p);
    if (min > 0 ? (uint64_t)*count > left / min : *count > MAX_EMPTY_ITEMS) {
        return dec_fail(d, BC_AVRO_ERR_TRUNCATED, "block of %lld items, %zu bytes left",
                        (long long)*count, left);
    }
    return 0;
}

/* Skips a value of node's type with the checks a decode makes, the same errors at the same
 * paths: a decode that skips fields (a reader without them, bc_avro_decode_fields) rejects
 * exactly the records a full decode rejects. */
static int dec_skip(struct dec *d, const struct bc_avro_node *node);

/* Skips a string (checked UTF-8) or bytes value. */
static inline int dec_skip_bytes(struct dec *d, const struct bc_avro_node *node)
{
    size_t len = 0;
    if (dec_len(d, &len, node->name) != 0) {
        return -1;
    }
    if (node->type == AVRO_STRING && !all_ascii(d->p, len) &&
        !bc_avro_utf8_valid((const char *)d->p, len)) {
        return dec_fail(d, BC_AVRO_ERR_MALFORMED, "string is not valid UTF-8");
    }
    d->p += len;
    return 0;
}

static int dec_skip(struct dec *d, const struct bc_avro_node *node)
{
    int64_t l = 0;
    size_t len = 0;
again:
    switch (node->type) {
    case AVRO_NULL:
        return 0;
    case AVRO_BOOLEAN:
        if (dec_need(d, 1, "a boolean") != 0) {
            return -1;
        }
        if (*d->p > 1) {
            return dec_fail(d, BC_AVRO_ERR_MALFORMED, "boolean byte 0x%02x", *d->p);
        }
        d->p++;
        return 0;
    case AVRO_INT32: {
        int32_t i = 0;
        return dec_int(d, &i);
    }
    case AVRO_INT64:
        return dec_long(d, &l);
    case AVRO_ENUM: {
        int32_t i = 0;
        if (dec_int(d, &i) != 0) {
            return -1;
        }
        if (i < 0 || (size_t)i >= node->n) {
            return dec_fail(d, BC_AVRO_ERR_MALFORMED, "enum index %d out of range", (int)i);
        }
        return 0;
    }
    case AVRO_FLOAT:
    case AVRO_DOUBLE:
    case AVRO_FIXED: {
        size_t n = node->type == AVRO_FLOAT ? 4 : node->type == AVRO_DOUBLE ? 8 : node->n;
        if (dec_need(d, n, node->name) != 0) {
            return -1;
        }
        d->p += n;
        return 0;
    }
    case AVRO_STRING:
    case AVRO_BYTES:
        return dec_skip_bytes(d, node);
    case AVRO_ARRAY:
    case AVRO_MAP:
        if (++d->depth > MAX_DEPTH) {
            return dec_fail(d, BC_AVRO_ERR_MALFORMED, "nested deeper than %d", MAX_DEPTH);
        }
        for (size_t index = 0;;) {
            int64_t count;
            if (dec_block(d, node->items, &count) != 0) {
                return -1;
            }
            if (count == 0) {
                break;
            }
            for (int64_t i = 0; i < count; i++, index++) {
                if (node->type == AVRO_MAP) {
                    if (dec_len(d, &len, "a map key") != 0) {
                        return -1;
                    }
                    if (!bc_avro_utf8_valid((const char *)d->p, len)) {
                        return dec_fail(d, BC_AVRO_ERR_MALFORMED, "map key is not valid UTF-8");
                    }
                    d->p += len;
                }
                if (dec_skip(d, node->items) != 0) {
                    path_prepend(&d->ep, "[%zu]", index);
                    return -1;
                }
            }
        }
        d->depth--;
        return 0;
    case AVRO_RECORD:
        if (++d->depth > MAX_DEPTH) {
            return dec_fail(d, BC_AVRO_ERR_MALFORMED, "nested deeper than %d", MAX_DEPTH);
        }
        for (size_t i = 0; i < node->n; i++) {
            const struct bc_avro_node *f = node->fields[i].type;
            int rc = f->type == AVRO_STRING ? dec_skip_bytes(d, f) : dec_skip(d, f);
            if (rc != 0) {
                path_prepend(&d->ep, ".%s", node->fields[i].name);
                return -1;
            }
        }
        d->depth--;
        return 0;
    case AVRO_UNION:
        if (dec_long(d, &l) != 0) {
            return -1;
        }
        if (l < 0 || (uint64_t)l >= node->n) {
            /* the messages of a decoded value's checks (dec_res, dec_prim) */
            return dec_fail(d, BC_AVRO_ERR_MALFORMED, "union branch %lld out of range (%zu)",
                            (long long)l, node->n);
        }
        node = node->branches[l]; /* the branch's value, as if skipped on its own */
        goto again;
    default:
        return dec_fail(d, BC_AVRO_ERR_MALFORMED, "unsupported type");
    }
}

/* Room for size bytes: small when it fits, else the decoder's scratch buffer (grown). */
static char *dec_scratch(struct dec *d, char *small, size_t small_size, size_t size)
{
    if (size <= small_size) {
        return small;
    }
    if (d->scratch_cap < size) {
        char *grown = realloc(d->scratch, size);
        if (grown == NULL) {
            dec_fail(d, BC_AVRO_ERR_MALFORMED, "out of memory");
            return NULL;
        }
        d->scratch = grown;
        d->scratch_cap = size;
    }
    return d->scratch;
}

/* Sets a string value from len bytes that are not NUL-terminated. */
static int dec_set_string(struct dec *d, avro_value_t *out, const uint8_t *s, size_t len)
{
    char small[SHORT_STRING];
    char *copy = dec_scratch(d, small, sizeof(small), len + 1);
    if (copy == NULL) {
        return -1;
    }
    memcpy(copy, s, len);
    copy[len] = '\0';
    if (avro_value_set_string_len(out, copy, len + 1) != 0) {
        return dec_fail(d, BC_AVRO_ERR_MALFORMED, "cannot set a string: %s", avro_strerror());
    }
    return 0;
}

static int dec_prim(struct dec *d, const struct bc_avro_res *res, avro_value_t *out)
{
    avro_type_t w = res->writer->type, r = res->reader->type;
    int rc = 0;
    switch (w) {
    case AVRO_NULL:
        return avro_value_set_null(out) == 0 ? 0 : dec_fail(d, BC_AVRO_ERR_MALFORMED, "set null");
    case AVRO_BOOLEAN:
        if (dec_need(d, 1, "a boolean") != 0) {
            return -1;
        }
        if (*d->p > 1) {
            return dec_fail(d, BC_AVRO_ERR_MALFORMED, "boolean byte 0x%02x", *d->p);
        }
        rc = avro_value_set_boolean(out, *d->p++);
        break;
    case AVRO_INT32:
    case AVRO_INT64: {
        int64_t l = 0;
        if (w == AVRO_INT32) {
            int32_t i = 0;
            if (dec_int(d, &i) != 0) {
                return -1;
            }
            l = i;
        } else if (dec_long(d, &l) != 0) {
            return -1;
        }
        switch (r) {
        case AVRO_INT32:
            rc = avro_value_set_int(out, (int32_t)l);
            break;
        case AVRO_INT64:
            rc = avro_value_set_long(out, l);
            break;
        case AVRO_FLOAT:
            rc = avro_value_set_float(out, (float)l);
            break;
        default:
            rc = avro_value_set_double(out, (double)l);
            break;
        }
        break;
    }
    case AVRO_FLOAT: {
        if (dec_need(d, 4, "a float") != 0) {
            return -1;
        }
        uint32_t bits = (uint32_t)get_le(d->p, 4);
        float f;
        memcpy(&f, &bits, 4);
        d->p += 4;
        if (f != f) { /* a NaN: its bits are not promised to survive */
            d->noncanon = 1;
        }
        rc = r == AVRO_FLOAT ? avro_value_set_float(out, f) : avro_value_set_double(out, f);
        break;
    }
    case AVRO_DOUBLE: {
        if (dec_need(d, 8, "a double") != 0) {
            return -1;
        }
        uint64_t bits = get_le(d->p, 8);
        double v;
        memcpy(&v, &bits, 8);
        d->p += 8;
        if (v != v) {
            d->noncanon = 1;
        }
        rc = avro_value_set_double(out, v);
        break;
    }
    case AVRO_STRING:
    case AVRO_BYTES: {
        size_t len = 0;
        if (dec_len(d, &len, res->writer->name) != 0) {
            return -1;
        }
        const uint8_t *s = d->p;
        d->p += len;
        if (r == AVRO_STRING) {
            if (!bc_avro_utf8_valid((const char *)s, len)) {
                return dec_fail(d, BC_AVRO_ERR_MALFORMED, "string is not valid UTF-8");
            }
            return dec_set_string(d, out, s, len);
        }
        rc = avro_value_set_bytes(out, (void *)s, len);
        break;
    }
    default:
        return dec_fail(d, BC_AVRO_ERR_MALFORMED, "unsupported type");
    }
    if (rc != 0) {
        return dec_fail(d, BC_AVRO_ERR_MALFORMED, "cannot set a value: %s", avro_strerror());
    }
    return 0;
}

static int dec_res(struct dec *d, const struct bc_avro_res *res, avro_value_t *out);

static int dec_record(struct dec *d, const struct bc_avro_res *res, avro_value_t *out)
{
    const struct bc_avro_node *w = res->writer, *r = res->reader;
    if (++d->depth > MAX_DEPTH) {
        return dec_fail(d, BC_AVRO_ERR_MALFORMED, "nested deeper than %d", MAX_DEPTH);
    }
    for (size_t i = 0; i < w->n; i++) {
        const struct bc_avro_res_field *f = &res->fields[i];
        if (f->reader_index < 0 || dec_masked(d, f->reader_index)) {
            if (dec_skip(d, w->fields[i].type) != 0) {
                path_prepend(&d->ep, ".%s", w->fields[i].name);
                return -1;
            }
            continue;
        }
        avro_value_t child;
        if (avro_value_get_by_index(out, (size_t)f->reader_index, &child, NULL) != 0) {
            return dec_fail(d, BC_AVRO_ERR_MALFORMED, "no field %d", f->reader_index);
        }
        if (dec_res(d, f->res, &child) != 0) {
            path_prepend(&d->ep, ".%s", r->fields[f->reader_index].name);
            return -1;
        }
    }
    for (size_t k = 0; k < res->ndefaults; k++) {
        const struct bc_avro_res_default *df = &res->defaults[k];
        if (dec_masked(d, df->reader_index)) {
            continue;
        }
        avro_value_t child;
        if (avro_value_get_by_index(out, (size_t)df->reader_index, &child, NULL) != 0) {
            return dec_fail(d, BC_AVRO_ERR_MALFORMED, "no field %d", df->reader_index);
        }
        const uint8_t *p = d->p, *end = d->end;
        d->p = df->field->default_bin;
        d->end = d->p + df->field->default_len;
        int rc = dec_res(d, df->res, &child);
        d->p = p;
        d->end = end;
        if (rc != 0) {
            path_prepend(&d->ep, ".%s(default)", df->field->name);
            return -1;
        }
    }
    d->depth--;
    return 0;
}

static int dec_res(struct dec *d, const struct bc_avro_res *res, avro_value_t *out)
{
    switch (res->op) {
    case BC_RES_FAIL:
        return dec_fail(d, BC_AVRO_ERR_INCOMPATIBLE, "%s", res->message ? res->message : "?");
    case BC_RES_PRIM:
        return dec_prim(d, res, out);
    case BC_RES_FIXED:
        if (dec_need(d, res->writer->n, "a fixed") != 0) {
            return -1;
        }
        if (avro_value_set_fixed(out, (void *)d->p, res->writer->n) != 0) {
            return dec_fail(d, BC_AVRO_ERR_MALFORMED, "cannot set a fixed");
        }
        d->p += res->writer->n;
        return 0;
    case BC_RES_ENUM: {
        int32_t i = 0;
        if (dec_int(d, &i) != 0) {
            return -1;
        }
        if (i < 0 || (size_t)i >= res->writer->n) {
            return dec_fail(d, BC_AVRO_ERR_MALFORMED, "enum index %d out of range", (int)i);
        }
        if (res->enum_map[i] < 0) {
            return dec_fail(d, BC_AVRO_ERR_INCOMPATIBLE, "enum symbol %s unknown to %s",
                            res->writer->symbols[i], res->reader->fullname);
        }
        avro_value_set_enum(out, res->enum_map[i]);
        return 0;
    }
    case BC_RES_ARRAY:
    case BC_RES_MAP: {
        if (++d->depth > MAX_DEPTH) {
            return dec_fail(d, BC_AVRO_ERR_MALFORMED, "nested deeper than %d", MAX_DEPTH);
        }
        size_t index = 0;
        for (;;) {
            int64_t count;
            if (dec_block(d, res->writer->items, &count) != 0) {
                return -1;
            }
            if (count == 0) {
                break;
            }
            if (index > 0) { /* the encoder writes one block */
                d->noncanon = 1;
            }
            for (int64_t i = 0; i < count; i++, index++) {
                avro_value_t child;
                int rc;
                if (res->op == BC_RES_ARRAY) {
                    rc = avro_value_append(out, &child, NULL);
                } else {
                    size_t len = 0;
                    char small[SHORT_STRING];
                    if (dec_len(d, &len, "a map key") != 0) {
                        return -1;
                    }
                    if (!bc_avro_utf8_valid((const char *)d->p, len)) {
                        return dec_fail(d, BC_AVRO_ERR_MALFORMED, "map key is not valid UTF-8");
                    }
                    char *key = dec_scratch(d, small, sizeof(small), len + 1);
                    if (key == NULL) {
                        return -1;
                    }
                    memcpy(key, d->p, len);
                    key[len] = '\0';
                    if (memchr(key, '\0', len) != NULL) { /* the key is cut there */
                        d->noncanon = 1;
                    }
                    d->p += len;
                    rc = avro_value_add(out, key, &child, NULL, NULL);
                }
                if (rc != 0) {
                    return dec_fail(d, BC_AVRO_ERR_MALFORMED, "cannot add an item: %s",
                                    avro_strerror());
                }
                if (dec_res(d, res->inner, &child) != 0) {
                    path_prepend(&d->ep, "[%zu]", index);
                    return -1;
                }
            }
        }
        if (res->op == BC_RES_MAP) {
            size_t n = 0;
            if (avro_value_get_size(out, &n) != 0 || n != index) { /* a key repeated */
                d->noncanon = 1;
            }
        }
        d->depth--;
        return 0;
    }
    case BC_RES_RECORD:
        return dec_record(d, res, out);
    case BC_RES_WUNION: {
        int64_t b;
        if (dec_long(d, &b) != 0) {
            return -1;
        }
        if (b < 0 || (uint64_t)b >= res->writer->n) {
            return dec_fail(d, BC_AVRO_ERR_MALFORMED, "union branch %lld out of range (%zu)",
                            (long long)b, res->writer->n);
        }
        return dec_res(d, res->branches[b], out);
    }
    case BC_RES_RUNION: {
        avro_value_t branch;
        if (avro_value_set_branch(out, res->reader_branch, &branch) != 0) {
            return dec_fail(d, BC_AVRO_ERR_MALFORMED, "cannot select a union branch");
        }
        return dec_res(d, res->inner, &branch);
    }
    }
    return dec_fail(d, BC_AVRO_ERR_MALFORMED, "bad plan");
}

static int decode_plan(const struct bc_avro_plan *plan, const void *data, size_t len,
                       avro_value_t *value, uint64_t fields, int *canonical, char *errstr,
                       size_t errstr_size)
{
    struct dec d = {.p = data, .end = (const uint8_t *)data + len, .fields = fields};
    avro_value_reset(value);
    int rc = dec_res(&d, plan->root, value);
    if (rc == 0 && d.p != d.end) {
        dec_fail(&d, BC_AVRO_ERR_TRAILING, "%zu bytes after the value", (size_t)(d.end - d.p));
        rc = -1;
    }
    free(d.scratch);
    if (canonical != NULL) {
        *canonical = rc == 0 && !d.noncanon;
    }
    if (rc != 0) {
        err_format(&d.ep, errstr, errstr_size);
        return d.status;
    }
    return 0;
}

int bc_avro_decode_plan(const struct bc_avro_plan *plan, const void *data, size_t len,
                        avro_value_t *value, char *errstr, size_t errstr_size)
{
    return decode_plan(plan, data, len, value, 0, NULL, errstr, errstr_size);
}

static const struct bc_avro_plan *find_plan(const struct bc_avro_schema *writer,
                                            const struct bc_avro_schema *reader)
{
    for (size_t i = 0; i < reader->nplans; i++) {
        if (reader->writers[i] == writer) {
            return reader->plans[i];
        }
    }
    return NULL;
}

static int decode_body(const struct bc_avro_schema *writer, const struct bc_avro_schema *reader,
                       const void *data, size_t len, avro_value_t *value, uint64_t fields,
                       int *canonical, char *errstr, size_t errstr_size)
{
    if (reader == NULL) {
        reader = writer;
    }
    const struct bc_avro_plan *plan = find_plan(writer, reader);
    if (plan == NULL) {
        snprintf(errstr, errstr_size, "record written as %s v%d (id %d) cannot be read as %s",
                 writer->subject, writer->version, (int)writer->id, reader->subject);
        return BC_AVRO_ERR_INCOMPATIBLE;
    }
    if (avro_value_get_schema(value) != reader->compiled.schema &&
        !avro_schema_equal(avro_value_get_schema(value), reader->compiled.schema)) {
        snprintf(errstr, errstr_size, "the value is not of schema %s v%d", reader->subject,
                 reader->version);
        return BC_AVRO_ERR_ARG;
    }
    return decode_plan(plan, data, len, value, fields, canonical, errstr, errstr_size);
}

int bc_avro_decode_body(const struct bc_avro_schema *writer, const struct bc_avro_schema *reader,
                        const void *data, size_t len, avro_value_t *value, char *errstr,
                        size_t errstr_size)
{
    return decode_body(writer, reader, data, len, value, 0, NULL, errstr, errstr_size);
}

int bc_avro_peek(const struct bc_avro_registry *reg, const void *data, size_t len,
                 const struct bc_avro_schema **writer, char *errstr, size_t errstr_size)
{
    const uint8_t *p = data;
    *writer = NULL;
    if (len == 0) {
        snprintf(errstr, errstr_size, "empty record");
        return BC_AVRO_ERR_BAD_MAGIC;
    }
    if (p[0] != 0) {
        snprintf(errstr, errstr_size, "first byte 0x%02x, expected 0x00", p[0]);
        return BC_AVRO_ERR_BAD_MAGIC;
    }
    if (len < BC_AVRO_HEADER_SIZE) {
        snprintf(errstr, errstr_size, "record of %zu bytes, shorter than the 5-byte header", len);
        return BC_AVRO_ERR_TRUNCATED;
    }
    int32_t id =
        (int32_t)(((uint32_t)p[1] << 24) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 8) | p[4]);
    *writer = bc_avro_registry_by_id(reg, id);
    if (*writer == NULL) {
        snprintf(errstr, errstr_size, "unknown schema id %d", (int)id);
        return BC_AVRO_ERR_UNKNOWN_ID;
    }
    return 0;
}

int bc_avro_decode_fields(const struct bc_avro_registry *reg, const struct bc_avro_schema *reader,
                          const void *data, size_t len, avro_value_t *value, uint64_t fields,
                          char *errstr, size_t errstr_size)
{
    const struct bc_avro_schema *writer;
    int rc = bc_avro_peek(reg, data, len, &writer, errstr, errstr_size);
    if (rc != 0) {
        return rc;
    }
    return decode_body(writer, reader, (const uint8_t *)data + BC_AVRO_HEADER_SIZE,
                       len - BC_AVRO_HEADER_SIZE, value, fields, NULL, errstr, errstr_size);
}

int bc_avro_decode_canonical(const struct bc_avro_registry *reg,
                             const struct bc_avro_schema *reader, const void *data, size_t len,
                             avro_value_t *value, int *canonical, char *errstr,
                             size_t errstr_size)
{
    const struct bc_avro_schema *writer;
    *canonical = 0;
    int rc = bc_avro_peek(reg, data, len, &writer, errstr, errstr_size);
    if (rc != 0) {
        return rc;
    }
    int forms = 0; /* in the encoder's forms */
    rc = decode_body(writer, reader, (const uint8_t *)data + BC_AVRO_HEADER_SIZE,
                     len - BC_AVRO_HEADER_SIZE, value, 0, &forms, errstr, errstr_size);
    /* read as written (nothing resolved), under the id the encoder writes for it */
    const uint8_t *p = data;
    int32_t id =
        (int32_t)(((uint32_t)p[1] << 24) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 8) | p[4]);
    *canonical = rc == 0 && forms && (reader == NULL || reader == writer) && id == writer->id;
    return rc;
}

int bc_avro_decode(const struct bc_avro_registry *reg, const struct bc_avro_schema *reader,
                   const void *data, size_t len, avro_value_t *value, char *errstr,
                   size_t errstr_size)
{
    return bc_avro_decode_fields(reg, reader, data, len, value, 0, errstr, errstr_size);
}
