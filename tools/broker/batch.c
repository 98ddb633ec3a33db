/* Record batch v2 (batch.h). */
#include "batch.h"

#include <isa-l/crc.h>

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
    if ((h->attributes & BATCH_ATTR_COMPRESSION) == 0) {
        int32_t count = 0;
        if (batch_records_foreach(p, n, count_record, &count) != 0 || count != h->record_count) {
            return 2;
        }
    } else if ((h->attributes & BATCH_ATTR_COMPRESSION) > 4) {
        return 2;
    }
    return 0;
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
    struct krd r;
    krd_init(&r, p + BATCH_HEADER_SIZE, n - BATCH_HEADER_SIZE);
    for (int32_t i = 0; i < h.record_count; i++) {
        int32_t len = kr_varint(&r);
        if (r.err || len < 0 || (size_t)len > kr_left(&r)) {
            return -1;
        }
        struct krd rec;
        krd_init(&rec, r.p, (size_t)len);
        r.p += len;
        struct batch_record br = {0};
        (void)kr_i8(&rec); /* attributes */
        br.timestamp = h.first_timestamp + kr_varlong(&rec);
        br.offset = h.base_offset + kr_varint(&rec);
        br.key_len = kr_varint(&rec);
        if (br.key_len >= 0) {
            if ((size_t)br.key_len > kr_left(&rec)) {
                return -1;
            }
            br.key = rec.p;
            rec.p += br.key_len;
        }
        br.value_len = kr_varint(&rec);
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
