/*
 * Kafka wire-protocol primitives: a growable write buffer and a bounds-checked reader over
 * one request. Both speak the classic encodings (int16/int32 lengths) and the "flexible"
 * ones (KIP-482: unsigned-varint compact strings, arrays and bytes, tagged fields); every
 * string/array/bytes helper takes `flex` to pick one.
 *
 * The reader never reads past its end: on any malformed input it sets `err` and returns
 * zero values from then on, so a decoder checks `r->err` once at the end instead of after
 * every field. A request whose decode leaves `err` set closes its connection.
 */
#ifndef BROKER_CODEC_H
#define BROKER_CODEC_H

#include <stddef.h>
#include <stdint.h>

/* A string or byte range borrowed from a request buffer; len -1 is null. */
struct kstr {
    const char *p;
    int32_t len;
};

struct kbuf {
    uint8_t *data; /* owned; NULL until the first write */
    size_t len;
    size_t cap;
    int oom; /* set when an allocation failed: the content is then unusable */
};

struct krd {
    const uint8_t *p;
    const uint8_t *end;
    int err; /* sticky: set by the first malformed field */
};

/* --- writer --------------------------------------------------------------------------- */
void kbuf_free(struct kbuf *b);
/* Makes room for n more bytes; returns a pointer to them (len not advanced) or NULL. */
uint8_t *kbuf_reserve(struct kbuf *b, size_t n);
void kw_raw(struct kbuf *b, const void *p, size_t n);
void kw_i8(struct kbuf *b, int8_t v);
void kw_i16(struct kbuf *b, int16_t v);
void kw_i32(struct kbuf *b, int32_t v);
void kw_i64(struct kbuf *b, int64_t v);
void kw_uvarint(struct kbuf *b, uint32_t v);
void kw_varint(struct kbuf *b, int32_t v);
void kw_varlong(struct kbuf *b, int64_t v);
/* A string: NULL s writes null. len < 0 means strlen(s). */
void kw_str(struct kbuf *b, const char *s, int32_t len, int flex);
void kw_kstr(struct kbuf *b, struct kstr s, int flex);
/* Bytes (nullable when p == NULL). */
void kw_bytes(struct kbuf *b, const void *p, int32_t len, int flex);
/* An array length; n < 0 writes a null array. */
void kw_array(struct kbuf *b, int32_t n, int flex);
/* Empty tagged-field section (nothing written unless flex). */
void kw_tags(struct kbuf *b, int flex);
void kbuf_put_i32_at(struct kbuf *b, size_t pos, int32_t v);

/* --- reader --------------------------------------------------------------------------- */
void krd_init(struct krd *r, const void *p, size_t n);
int8_t kr_i8(struct krd *r);
int16_t kr_i16(struct krd *r);
int32_t kr_i32(struct krd *r);
int64_t kr_i64(struct krd *r);
uint32_t kr_uvarint(struct krd *r);
int32_t kr_varint(struct krd *r);
int64_t kr_varlong(struct krd *r);
struct kstr kr_str(struct krd *r, int flex);
struct kstr kr_bytes(struct krd *r, int flex);
/* An array's element count; -1 for a null array. Sets err when the count cannot fit in the
 * remaining bytes (each element takes at least min_elem_size bytes). */
int32_t kr_array(struct krd *r, int flex, size_t min_elem_size);
/* Skips a tagged-field section when flex. */
void kr_tags(struct krd *r, int flex);
size_t kr_left(const struct krd *r);

/* Copies s into out (NUL-terminated); returns -1 when s is null or does not fit. */
int kstr_copy(struct kstr s, char *out, size_t cap);
int kstr_eq(struct kstr s, const char *z);

/* --- little helpers over raw big-endian bytes ------------------------------------------ */
static inline uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline uint16_t be16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}
static inline uint64_t be64(const uint8_t *p)
{
    return (uint64_t)be32(p) << 32 | be32(p + 4);
}
static inline void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}
static inline void put_be64(uint8_t *p, uint64_t v)
{
    put_be32(p, (uint32_t)(v >> 32));
    put_be32(p + 4, (uint32_t)v);
}

#endif
