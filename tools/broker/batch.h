/*
 * Record batch v2 (magic 2): the header fields the broker needs, CRC-32C validation and
 * record iteration. Batches are stored and served exactly as producers sent them; only
 * base offset and partition leader epoch (both outside the CRC) are rewritten on append.
 */
#ifndef BROKER_BATCH_H
#define BROKER_BATCH_H

#include <stddef.h>
#include <stdint.h>

struct kbuf;

#define BATCH_HEADER_SIZE 61       /* bytes before the first record */
#define BATCH_LOG_OVERHEAD 12      /* base offset + batch length */
#define BATCH_ATTR_COMPRESSION 0x7 /* none 0, gzip 1, snappy 2, lz4 3, zstd 4 */
#define BATCH_ATTR_TS_LOG_APPEND 0x8
#define BATCH_ATTR_TRANSACTIONAL 0x10
#define BATCH_ATTR_CONTROL 0x20

struct batch_hdr {
    int64_t base_offset;
    int32_t length; /* batch length field: total size - BATCH_LOG_OVERHEAD */
    int32_t leader_epoch;
    int8_t magic;
    uint32_t crc;
    int16_t attributes;
    int32_t last_offset_delta;
    int64_t first_timestamp;
    int64_t max_timestamp;
    int64_t producer_id;
    int16_t producer_epoch;
    int32_t base_sequence;
    int32_t record_count;
};

/* CRC-32C (Castagnoli) as Kafka computes it: init ~0, final xor ~0. */
uint32_t batch_crc32c(const void *p, size_t n);

/* Parses the fixed header from p (at least BATCH_HEADER_SIZE bytes). */
void batch_hdr_parse(const uint8_t *p, struct batch_hdr *h);

/* Total bytes the batch at p takes (log overhead included), from its length field. */
static inline size_t batch_total_size(const struct batch_hdr *h)
{
    return (size_t)h->length + BATCH_LOG_OVERHEAD;
}

/* Most bytes a compressed batch may decompress to (a bomb guard). */
#define BATCH_MAX_DECOMPRESSED (64u << 20)

/* Validates the batch at p of exactly n bytes as a producer sent it: magic 2, length field
 * consistent, CRC-32C, sane record count, and every record's framing (compressed batches
 * are decompressed to check it, at most BATCH_MAX_DECOMPRESSED bytes). Fills h. Returns 0, or a Kafka error code (CORRUPT_MESSAGE 2, INVALID_RECORD 87,
 * UNSUPPORTED_FOR_MESSAGE_FORMAT 43). */
int batch_validate(const uint8_t *p, size_t n, struct batch_hdr *h);

/* Rewrites base offset and partition leader epoch in place (CRC unaffected). */
void batch_set_base_offset(uint8_t *p, int64_t base_offset, int32_t leader_epoch);

/* One record of an uncompressed batch. Borrowed pointers into the batch. */
struct batch_record {
    int64_t offset;
    int64_t timestamp;
    const uint8_t *key; /* NULL when the key is null */
    int32_t key_len;
    const uint8_t *value; /* NULL when the value is null */
    int32_t value_len;
    int32_t header_count;
};

/* Iterates the records of the uncompressed batch at p (n bytes). Calls fn for each; stops
 * when fn returns non-zero and returns that value. Returns -1 on malformed records or a
 * compressed batch. */
int batch_records_foreach(const uint8_t *p, size_t n,
                          int (*fn)(const struct batch_record *, void *), void *arg);

/* Appends to out the records section of the batch at p (n bytes), decompressed (gzip,
 * snappy raw or xerial-framed, lz4 frame, zstd) or copied when uncompressed. Returns 0, or
 * -1 when it is corrupt, of an unknown codec, or would exceed max_out bytes. */
int batch_records_data(const uint8_t *p, size_t n, size_t max_out, struct kbuf *out);

/* Like batch_records_foreach() for any batch: compressed ones are decompressed first (at
 * most max_out bytes). */
int batch_records_foreach_any(const uint8_t *p, size_t n, size_t max_out,
                              int (*fn)(const struct batch_record *, void *), void *arg);

/* Appends to out an uncompressed batch of n records (offsets base_offset + i, keys and
 * values borrowed from recs, their offset fields ignored, no headers) with a valid CRC.
 * For the broker's own batches (transaction markers, internal logs) and tests. */
void batch_build(struct kbuf *out, int64_t base_offset, int16_t attributes, int64_t producer_id,
                 int16_t producer_epoch, int32_t base_sequence, const struct batch_record *recs,
                 int n);

#endif
