/* Kafka wire-protocol primitives (codec.h). */
#include "codec.h"

#include <stdlib.h>
#include <string.h>

void kbuf_free(struct kbuf *b)
{
    if (b == NULL) {
        return;
    }
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
    b->oom = 0;
}

uint8_t *kbuf_reserve(struct kbuf *b, size_t n)
{
    if (b->oom) {
        return NULL;
    }
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n) {
            cap *= 2;
        }
        uint8_t *data = realloc(b->data, cap);
        if (data == NULL) {
            b->oom = 1;
            return NULL;
        }
        b->data = data;
        b->cap = cap;
    }
    return b->data + b->len;
}

void kw_raw(struct kbuf *b, const void *p, size_t n)
{
    uint8_t *d = kbuf_reserve(b, n);
    if (d != NULL && n > 0) {
        memcpy(d, p, n);
        b->len += n;
    }
}

void kw_i8(struct kbuf *b, int8_t v)
{
    kw_raw(b, &v, 1);
}

void kw_i16(struct kbuf *b, int16_t v)
{
    uint8_t d[2] = {(uint8_t)((uint16_t)v >> 8), (uint8_t)v};
    kw_raw(b, d, 2);
}

void kw_i32(struct kbuf *b, int32_t v)
{
    uint8_t d[4];
    put_be32(d, (uint32_t)v);
    kw_raw(b, d, 4);
}

void kw_i64(struct kbuf *b, int64_t v)
{
    uint8_t d[8];
    put_be64(d, (uint64_t)v);
    kw_raw(b, d, 8);
}

static void uvarint64(struct kbuf *b, uint64_t v)
{
    uint8_t d[10];
    size_t n = 0;
    while (v >= 0x80) {
        d[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    d[n++] = (uint8_t)v;
    kw_raw(b, d, n);
}

void kw_uvarint(struct kbuf *b, uint32_t v)
{
    uvarint64(b, v);
}

void kw_varint(struct kbuf *b, int32_t v)
{
    uvarint64(b, (uint32_t)(((uint32_t)v << 1) ^ (uint32_t)(v >> 31)));
}

void kw_varlong(struct kbuf *b, int64_t v)
{
    uvarint64(b, ((uint64_t)v << 1) ^ (uint64_t)(v >> 63));
}

void kw_str(struct kbuf *b, const char *s, int32_t len, int flex)
{
    if (s == NULL) {
        if (flex) {
            kw_uvarint(b, 0);
        } else {
            kw_i16(b, -1);
        }
        return;
    }
    if (len < 0) {
        len = (int32_t)strlen(s);
    }
    if (flex) {
        kw_uvarint(b, (uint32_t)len + 1);
    } else {
        kw_i16(b, (int16_t)len);
    }
    kw_raw(b, s, (size_t)len);
}

void kw_kstr(struct kbuf *b, struct kstr s, int flex)
{
    kw_str(b, s.len < 0 ? NULL : (s.p ? s.p : ""), s.len < 0 ? 0 : s.len, flex);
}

void kw_bytes(struct kbuf *b, const void *p, int32_t len, int flex)
{
    if (p == NULL) {
        if (flex) {
            kw_uvarint(b, 0);
        } else {
            kw_i32(b, -1);
        }
        return;
    }
    if (flex) {
        kw_uvarint(b, (uint32_t)len + 1);
    } else {
        kw_i32(b, len);
    }
    kw_raw(b, p, (size_t)len);
}

void kw_array(struct kbuf *b, int32_t n, int flex)
{
    if (flex) {
        kw_uvarint(b, n < 0 ? 0 : (uint32_t)n + 1);
    } else {
        kw_i32(b, n);
    }
}

void kw_tags(struct kbuf *b, int flex)
{
    if (flex) {
        kw_uvarint(b, 0);
    }
}

void kbuf_put_i32_at(struct kbuf *b, size_t pos, int32_t v)
{
    if (!b->oom && pos + 4 <= b->len) {
        put_be32(b->data + pos, (uint32_t)v);
    }
}

void krd_init(struct krd *r, const void *p, size_t n)
{
    r->p = p;
    r->end = r->p + n;
    r->err = 0;
}

size_t kr_left(const struct krd *r)
{
    return r->err ? 0 : (size_t)(r->end - r->p);
}

static const uint8_t *take(struct krd *r, size_t n)
{
    if (r->err || (size_t)(r->end - r->p) < n) {
        r->err = 1;
        return NULL;
    }
    const uint8_t *p = r->p;
    r->p += n;
    return p;
}

int8_t kr_i8(struct krd *r)
{
    const uint8_t *p = take(r, 1);
    return p ? (int8_t)p[0] : 0;
}

int16_t kr_i16(struct krd *r)
{
    const uint8_t *p = take(r, 2);
    return p ? (int16_t)be16(p) : 0;
}

int32_t kr_i32(struct krd *r)
{
    const uint8_t *p = take(r, 4);
    return p ? (int32_t)be32(p) : 0;
}

int64_t kr_i64(struct krd *r)
{
    const uint8_t *p = take(r, 8);
    return p ? (int64_t)be64(p) : 0;
}

static uint64_t uvarint_n(struct krd *r, int max_bytes)
{
    uint64_t v = 0;
    for (int i = 0; i < max_bytes; i++) {
        const uint8_t *p = take(r, 1);
        if (p == NULL) {
            return 0;
        }
        v |= (uint64_t)(*p & 0x7f) << (7 * i);
        if (!(*p & 0x80)) {
            return v;
        }
    }
    r->err = 1;
    return 0;
}

uint32_t kr_uvarint(struct krd *r)
{
    uint64_t v = uvarint_n(r, 5);
    if (v > UINT32_MAX) {
        r->err = 1;
        return 0;
    }
    return (uint32_t)v;
}

int32_t kr_varint(struct krd *r)
{
    uint32_t v = kr_uvarint(r);
    return (int32_t)((v >> 1) ^ (~(v & 1) + 1));
}

int64_t kr_varlong(struct krd *r)
{
    uint64_t v = uvarint_n(r, 10);
    return (int64_t)((v >> 1) ^ (~(v & 1) + 1));
}

static struct kstr take_str(struct krd *r, int64_t len)
{
    struct kstr s = {NULL, -1};
    if (r->err) {
        return s;
    }
    if (len < 0) {
        return s;
    }
    const uint8_t *p = take(r, (size_t)len);
    if (p == NULL) {
        return s;
    }
    s.p = (const char *)p;
    s.len = (int32_t)len;
    return s;
}

struct kstr kr_str(struct krd *r, int flex)
{
    int64_t len = flex ? (int64_t)kr_uvarint(r) - 1 : kr_i16(r);
    if (len < -1) {
        r->err = 1;
    }
    return take_str(r, len);
}

struct kstr kr_bytes(struct krd *r, int flex)
{
    int64_t len = flex ? (int64_t)kr_uvarint(r) - 1 : kr_i32(r);
    if (len < -1) {
        r->err = 1;
    }
    return take_str(r, len);
}

int32_t kr_array(struct krd *r, int flex, size_t min_elem_size)
{
    int64_t n = flex ? (int64_t)kr_uvarint(r) - 1 : kr_i32(r);
    if (r->err) {
        return 0;
    }
    if (n < -1) {
        r->err = 1;
        return 0;
    }
    if (n > 0 && (uint64_t)n * (min_elem_size ? min_elem_size : 1) > kr_left(r)) {
        r->err = 1;
        return 0;
    }
    return (int32_t)n;
}

void kr_tags(struct krd *r, int flex)
{
    if (!flex) {
        return;
    }
    uint32_t n = kr_uvarint(r);
    for (uint32_t i = 0; i < n && !r->err; i++) {
        (void)kr_uvarint(r); /* tag */
        uint32_t size = kr_uvarint(r);
        (void)take(r, size);
    }
}

int kstr_copy(struct kstr s, char *out, size_t cap)
{
    if (s.len < 0 || (size_t)s.len >= cap) {
        return -1;
    }
    memcpy(out, s.p, (size_t)s.len);
    out[s.len] = '\0';
    return 0;
}

int kstr_eq(struct kstr s, const char *z)
{
    size_t n = strlen(z);
    return s.len >= 0 && (size_t)s.len == n && memcmp(s.p, z, n) == 0;
}
