/* Record batch v2 (batch.h). */
#include "batch.h"

#include <isa-l/crc.h>
#include <lz4frame.h>
#include <snappy-c.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

#include "codec.h"

uint32_t batch_crc32c(const void *p, size_t n)
{
    /* ISA-L's crc32_iscsi takes and returns the raw register: feed ~0, invert the result
     * ("123456789" -> 0xE3069283, checked in tests/unit/test_broker_codec.c). */
    return ~crc32_iscsi((unsigned char *)p, (int)n, 0xFFFFFFFFu);
}

void batch_hdr_parse(const uint8_t *p, struct batch_hdr *h)
{
    h->base_offset = (int64_t)be64(p);
    h->length = (int32_t)be32(p + 8);
    h->leader_epoch = (int32_t)be32(p + 12);
    h->magic = (int8_t)p[16];
    h->crc = be32(p + 17);
    h->attributes = (int16_t)be16(p + 21);
    h->last_offset_delta = (int32_t)be32(p + 23);
    h->first_timestamp = (int64_t)be64(p + 27);
    h->max_timestamp = (int64_t)be64(p + 35);
    h->producer_id = (int64_t)be64(p + 43);
    h->producer_epoch = (int16_t)be16(p + 51);
    h->base_sequence = (int32_t)be32(p + 53);
    h->record_count = (int32_t)be32(p + 57);
}

void batch_set_base_offset(uint8_t *p, int64_t base_offset, int32_t leader_epoch)
{
    put_be64(p, (uint64_t)base_offset);
    put_be32(p + 12, (uint32_t)leader_epoch);
}

static int count_record(const struct batch_record *rec, void *arg)
{
    (void)rec;
    (*(int32_t *)arg)++;
    return 0;
}

int batch_validate(const uint8_t *p, size_t n, struct batch_hdr *h)
{
    if (n < BATCH_HEADER_SIZE) {
        return 2;
    }
    batch_hdr_parse(p, h);
    if (h->magic != 2) {
        return 43;
    }
    if (h->length < BATCH_HEADER_SIZE - BATCH_LOG_OVERHEAD || batch_total_size(h) != n) {
        return 2;
    }
    if (batch_crc32c(p + 21, n - 21) != h->crc) {
        return 2;
    }
    if (h->record_count <= 0 || h->last_offset_delta != h->record_count - 1) {
        return 87;
    }
    if ((h->attributes & BATCH_ATTR_COMPRESSION) > 4) {
        return 2;
    }
    /* Every record must parse, compressed ones too (as Kafka's LogValidator checks). */
    int32_t count = 0;
    if (batch_records_foreach_any(p, n, BATCH_MAX_DECOMPRESSED, count_record, &count) != 0 ||
        count != h->record_count) {
        return 2;
    }
    return 0;
}

/* Iterates `count` records in data (a records section) of the batch with header h. */
static int records_foreach(const struct batch_hdr *h, const uint8_t *data, size_t len,
                           int (*fn)(const struct batch_record *, void *), void *arg)
{
    struct krd r;
    krd_init(&r, data, len);
    for (int32_t i = 0; i < h->record_count; i++) {
        int32_t rlen = kr_varint(&r);
        if (r.err || rlen < 0 || (size_t)rlen > kr_left(&r)) {
            return -1;
        }
        struct krd rec;
        krd_init(&rec, r.p, (size_t)rlen);
        r.p += rlen;
        struct batch_record br = {0};
        (void)kr_i8(&rec); /* attributes */
        br.timestamp = h->first_timestamp + kr_varlong(&rec);
        br.offset = h->base_offset + kr_varint(&rec);
        br.key_len = kr_varint(&rec);
        if (br.key_len < -1) {
            return -1;
        }
        if (br.key_len >= 0) {
            if ((size_t)br.key_len > kr_left(&rec)) {
                return -1;
            }
            br.key = rec.p;
            rec.p += br.key_len;
        }
        br.value_len = kr_varint(&rec);
        if (br.value_len < -1) {
            return -1;
        }
        if (br.value_len >= 0) {
            if ((size_t)br.value_len > kr_left(&rec)) {
                return -1;
            }
            br.value = rec.p;
            rec.p += br.value_len;
        }
        br.header_count = kr_varint(&rec);
        if (br.header_count < 0) {
            return -1;
        }
        for (int32_t j = 0; j < br.header_count && !rec.err; j++) {
            int32_t klen = kr_varint(&rec);
            if (klen < 0 || (size_t)klen > kr_left(&rec)) {
                return -1;
            }
            rec.p += klen;
            int32_t vlen = kr_varint(&rec);
            if (vlen >= 0) {
                if ((size_t)vlen > kr_left(&rec)) {
                    return -1;
                }
                rec.p += vlen;
            }
        }
        if (rec.err || kr_left(&rec) != 0) {
            return -1;
        }
        int rc = fn(&br, arg);
        if (rc != 0) {
            return rc;
        }
    }
    return kr_left(&r) == 0 && !r.err ? 0 : -1;
}

int batch_records_foreach(const uint8_t *p, size_t n,
                          int (*fn)(const struct batch_record *, void *), void *arg)
{
    struct batch_hdr h;
    if (n < BATCH_HEADER_SIZE) {
        return -1;
    }
    batch_hdr_parse(p, &h);
    if (h.attributes & BATCH_ATTR_COMPRESSION) {
        return -1;
    }
    return records_foreach(&h, p + BATCH_HEADER_SIZE, n - BATCH_HEADER_SIZE, fn, arg);
}

int batch_records_foreach_any(const uint8_t *p, size_t n, size_t max_out,
                              int (*fn)(const struct batch_record *, void *), void *arg)
{
    struct batch_hdr h;
    if (n < BATCH_HEADER_SIZE) {
        return -1;
    }
    batch_hdr_parse(p, &h);
    if ((h.attributes & BATCH_ATTR_COMPRESSION) == 0) {
        return records_foreach(&h, p + BATCH_HEADER_SIZE, n - BATCH_HEADER_SIZE, fn, arg);
    }
    struct kbuf data = {0};
    int rc = batch_records_data(p, n, max_out, &data);
    if (rc == 0) {
        rc = records_foreach(&h, data.data, data.len, fn, arg);
    }
    kbuf_free(&data);
    return rc;
}

static int inflate_gzip(const uint8_t *in, size_t n, size_t max_out, struct kbuf *out)
{
    z_stream z;
    memset(&z, 0, sizeof(z));
    if (inflateInit2(&z, 15 + 32) != Z_OK) { /* gzip or zlib header, detected */
        return -1;
    }
    z.next_in = (Bytef *)in;
    z.avail_in = (uInt)n;
    int rc = Z_OK;
    while (rc != Z_STREAM_END) {
        uint8_t *dst = kbuf_reserve(out, 65536);
        if (dst == NULL || out->len >= max_out) {
            rc = Z_MEM_ERROR;
            break;
        }
        z.next_out = dst;
        z.avail_out = 65536;
        rc = inflate(&z, Z_NO_FLUSH);
        out->len += 65536 - z.avail_out;
        if (rc != Z_OK && rc != Z_STREAM_END) {
            break;
        }
        if (rc == Z_OK && z.avail_in == 0 && z.avail_out != 0) {
            rc = Z_DATA_ERROR; /* truncated */
            break;
        }
    }
    inflateEnd(&z);
    return rc == Z_STREAM_END ? 0 : -1;
}

static int snappy_raw(const uint8_t *in, size_t n, size_t max_out, struct kbuf *out)
{
    size_t len = 0;
    if (snappy_uncompressed_length((const char *)in, n, &len) != SNAPPY_OK || len > max_out) {
        return -1;
    }
    uint8_t *dst = kbuf_reserve(out, len ? len : 1);
    if (dst == NULL || snappy_uncompress((const char *)in, n, (char *)dst, &len) != SNAPPY_OK) {
        return -1;
    }
    out->len += len;
    return 0;
}

static int snappy_any(const uint8_t *in, size_t n, size_t max_out, struct kbuf *out)
{
    static const uint8_t xerial[8] = {0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0};
    if (n < 16 || memcmp(in, xerial, 8) != 0) {
        return snappy_raw(in, n, max_out, out);
    }
    size_t pos = 16; /* magic, version, compatible version */
    while (pos < n) {
        if (n - pos < 4) {
            return -1;
        }
        uint32_t len = be32(in + pos);
        pos += 4;
        if (len > n - pos || snappy_raw(in + pos, len, max_out - out->len, out) != 0) {
            return -1;
        }
        pos += len;
    }
    return 0;
}

static int lz4_frame(const uint8_t *in, size_t n, size_t max_out, struct kbuf *out)
{
    LZ4F_dctx *ctx = NULL;
    if (LZ4F_isError(LZ4F_createDecompressionContext(&ctx, LZ4F_VERSION))) {
        return -1;
    }
    size_t pos = 0;
    size_t hint = 1;
    int rc = 0;
    while (pos < n && hint != 0) {
        uint8_t *dst = kbuf_reserve(out, 65536);
        if (dst == NULL || out->len >= max_out) {
            rc = -1;
            break;
        }
        size_t dst_size = 65536, src_size = n - pos;
        hint = LZ4F_decompress(ctx, dst, &dst_size, in + pos, &src_size, NULL);
        if (LZ4F_isError(hint)) {
            rc = -1;
            break;
        }
        out->len += dst_size;
        pos += src_size;
        if (src_size == 0 && dst_size == 0) {
            rc = -1;
            break;
        }
    }
    if (rc == 0 && hint != 0) {
        rc = -1; /* truncated frame */
    }
    LZ4F_freeDecompressionContext(ctx);
    return rc;
}

static int zstd_frames(const uint8_t *in, size_t n, size_t max_out, struct kbuf *out)
{
    ZSTD_DStream *ds = ZSTD_createDStream();
    if (ds == NULL) {
        return -1;
    }
    ZSTD_inBuffer ib = {in, n, 0};
    int rc = -1;
    for (;;) {
        uint8_t *dst = kbuf_reserve(out, 65536);
        if (dst == NULL || out->len >= max_out) {
            break;
        }
        ZSTD_outBuffer ob = {dst, 65536, 0};
        size_t ret = ZSTD_decompressStream(ds, &ob, &ib);
        if (ZSTD_isError(ret)) {
            break;
        }
        out->len += ob.pos;
        if (ib.pos == ib.size && ob.pos < ob.size) {
            rc = ret == 0 ? 0 : -1; /* all input used: complete, or truncated */
            break;
        }
    }
    ZSTD_freeDStream(ds);
    return rc;
}

int batch_records_data(const uint8_t *p, size_t n, size_t max_out, struct kbuf *out)
{
    if (n < BATCH_HEADER_SIZE) {
        return -1;
    }
    struct batch_hdr h;
    batch_hdr_parse(p, &h);
    const uint8_t *in = p + BATCH_HEADER_SIZE;
    size_t len = n - BATCH_HEADER_SIZE;
    size_t start = out->len;
    int rc;
    switch (h.attributes & BATCH_ATTR_COMPRESSION) {
    case 0:
        if (len > max_out) {
            return -1;
        }
        kw_raw(out, in, len);
        rc = out->oom ? -1 : 0;
        break;
    case 1: rc = inflate_gzip(in, len, max_out, out); break;
    case 2: rc = snappy_any(in, len, max_out, out); break;
    case 3: rc = lz4_frame(in, len, max_out, out); break;
    case 4: rc = zstd_frames(in, len, max_out, out); break;
    default: rc = -1; break;
    }
    if (rc == 0 && out->len - start > max_out) {
        rc = -1;
    }
    return rc;
}

void batch_build(struct kbuf *out, int64_t base_offset, int16_t attributes, int64_t producer_id,
                 int16_t producer_epoch, int32_t base_sequence, const struct batch_record *recs,
                 int n)
{
    size_t start = out->len;
    int64_t first_ts = n > 0 ? recs[0].timestamp : -1;
    int64_t max_ts = first_ts;
    for (int i = 1; i < n; i++) {
        if (recs[i].timestamp > max_ts) {
            max_ts = recs[i].timestamp;
        }
    }
    kw_i64(out, base_offset);
    kw_i32(out, 0); /* length, set below */
    kw_i32(out, 0); /* partition leader epoch */
    kw_i8(out, 2);
    kw_i32(out, 0); /* crc, set below */
    kw_i16(out, attributes);
    kw_i32(out, n - 1);
    kw_i64(out, first_ts);
    kw_i64(out, max_ts);
    kw_i64(out, producer_id);
    kw_i16(out, producer_epoch);
    kw_i32(out, base_sequence);
    kw_i32(out, n);
    for (int i = 0; i < n; i++) {
        struct kbuf rec = {0};
        kw_i8(&rec, 0);
        kw_varlong(&rec, recs[i].timestamp - first_ts);
        kw_varint(&rec, i);
        kw_varint(&rec, recs[i].key ? recs[i].key_len : -1);
        if (recs[i].key) {
            kw_raw(&rec, recs[i].key, (size_t)recs[i].key_len);
        }
        kw_varint(&rec, recs[i].value ? recs[i].value_len : -1);
        if (recs[i].value) {
            kw_raw(&rec, recs[i].value, (size_t)recs[i].value_len);
        }
        kw_varint(&rec, 0);
        kw_varint(out, (int32_t)rec.len);
        kw_raw(out, rec.data, rec.len);
        kbuf_free(&rec);
    }
    if (out->oom) {
        return;
    }
    kbuf_put_i32_at(out, start + 8, (int32_t)(out->len - start - BATCH_LOG_OVERHEAD));
    kbuf_put_i32_at(out, start + 17, (int32_t)batch_crc32c(out->data + start + 21,
                                                          out->len - start - 21));
}
