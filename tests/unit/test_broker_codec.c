/* breadcrumb-broker's codec and record batches: encodings, bounds, CRC-32C, validation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <lz4frame.h>
#include <snappy-c.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

#include "tools/broker/batch.h"
#include "tools/broker/codec.h"

static void test_crc32c_known_vector(void **state)
{
    (void)state;
    assert_int_equal(batch_crc32c("123456789", 9), 0xE3069283u);
}

static void test_varints_round_trip(void **state)
{
    (void)state;
    const int32_t ints[] = {0, 1, -1, 63, -64, 64, 300, -300, INT32_MAX, INT32_MIN};
    const int64_t longs[] = {0, -1, 1, INT64_MAX, INT64_MIN, 1700000000000LL};
    struct kbuf b = {0};
    for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++) {
        kw_varint(&b, ints[i]);
        kw_uvarint(&b, (uint32_t)ints[i]);
    }
    for (size_t i = 0; i < sizeof(longs) / sizeof(longs[0]); i++) {
        kw_varlong(&b, longs[i]);
    }
    struct krd r;
    krd_init(&r, b.data, b.len);
    for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++) {
        assert_int_equal(kr_varint(&r), ints[i]);
        assert_int_equal(kr_uvarint(&r), (uint32_t)ints[i]);
    }
    for (size_t i = 0; i < sizeof(longs) / sizeof(longs[0]); i++) {
        assert_true(kr_varlong(&r) == longs[i]);
    }
    assert_int_equal(r.err, 0);
    assert_int_equal(kr_left(&r), 0);
    kbuf_free(&b);
}

static void test_known_encodings(void **state)
{
    (void)state;
    struct kbuf b = {0};
    kw_varint(&b, -1);      /* zigzag: 01 */
    kw_uvarint(&b, 300);    /* ac 02 */
    kw_str(&b, "ab", -1, 1); /* 03 'a' 'b' */
    kw_str(&b, NULL, 0, 1); /* 00 */
    kw_str(&b, NULL, 0, 0); /* ff ff */
    kw_array(&b, 2, 1);     /* 03 */
    kw_tags(&b, 1);         /* 00 */
    const uint8_t want[] = {0x01, 0xac, 0x02, 0x03, 'a', 'b', 0x00, 0xff, 0xff, 0x03, 0x00};
    assert_int_equal(b.len, sizeof(want));
    assert_memory_equal(b.data, want, sizeof(want));
    kbuf_free(&b);
}

static void test_strings_and_tags_round_trip(void **state)
{
    (void)state;
    for (int flex = 0; flex <= 1; flex++) {
        struct kbuf b = {0};
        kw_str(&b, "topic", -1, flex);
        kw_str(&b, NULL, 0, flex);
        kw_bytes(&b, "xyz", 3, flex);
        kw_array(&b, -1, flex);
        if (flex) {
            /* two tagged fields, skipped by the reader */
            kw_uvarint(&b, 2);
            kw_uvarint(&b, 0);
            kw_uvarint(&b, 3);
            kw_raw(&b, "abc", 3);
            kw_uvarint(&b, 7);
            kw_uvarint(&b, 0);
        }
        kw_i16(&b, 42);
        struct krd r;
        krd_init(&r, b.data, b.len);
        assert_true(kstr_eq(kr_str(&r, flex), "topic"));
        assert_int_equal(kr_str(&r, flex).len, -1);
        struct kstr by = kr_bytes(&r, flex);
        assert_int_equal(by.len, 3);
        assert_memory_equal(by.p, "xyz", 3);
        assert_int_equal(kr_array(&r, flex, 1), -1);
        kr_tags(&r, flex);
        assert_int_equal(kr_i16(&r), 42);
        assert_int_equal(r.err, 0);
        kbuf_free(&b);
    }
}

static void test_reader_rejects_truncated_and_hostile_lengths(void **state)
{
    (void)state;
    const uint8_t short_str[] = {0x00, 0x05, 'a', 'b'};
    struct krd r;
    krd_init(&r, short_str, sizeof(short_str));
    (void)kr_str(&r, 0);
    assert_int_equal(r.err, 1);
    assert_int_equal(kr_i32(&r), 0); /* sticky */

    const uint8_t huge_array[] = {0x7f, 0xff, 0xff, 0xff, 0x00};
    krd_init(&r, huge_array, sizeof(huge_array));
    assert_int_equal(kr_array(&r, 0, 4), 0);
    assert_int_equal(r.err, 1);

    const uint8_t long_varint[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    krd_init(&r, long_varint, sizeof(long_varint));
    (void)kr_uvarint(&r);
    assert_int_equal(r.err, 1);

    const uint8_t neg_str[] = {0xff, 0xfe};
    krd_init(&r, neg_str, sizeof(neg_str));
    (void)kr_str(&r, 0);
    assert_int_equal(r.err, 1);
}

static void build(struct kbuf *b, int n)
{
    struct batch_record recs[8];
    for (int i = 0; i < n; i++) {
        recs[i] = (struct batch_record){.timestamp = 1000 + i,
                                        .key = (const uint8_t *)"k",
                                        .key_len = 1,
                                        .value = (const uint8_t *)"value",
                                        .value_len = 5};
    }
    batch_build(b, 0, 0, -1, -1, -1, recs, n);
}

static int collect(const struct batch_record *rec, void *arg)
{
    int64_t *ts = arg;
    ts[rec->offset] = rec->timestamp;
    return 0;
}

static void test_batch_validate_and_iterate(void **state)
{
    (void)state;
    struct kbuf b = {0};
    build(&b, 3);
    struct batch_hdr h;
    assert_int_equal(batch_validate(b.data, b.len, &h), 0);
    assert_int_equal(h.record_count, 3);
    assert_int_equal(h.last_offset_delta, 2);
    assert_true(h.max_timestamp == 1002);
    batch_set_base_offset(b.data, 40, 0);
    assert_int_equal(batch_validate(b.data, b.len, &h), 0); /* base offset is outside the CRC */
    int64_t ts[64] = {0};
    assert_int_equal(batch_records_foreach(b.data, b.len, collect, ts), 0);
    assert_true(ts[42] == 1002);

    b.data[b.len - 1] ^= 1; /* a flipped bit in a record */
    assert_int_equal(batch_validate(b.data, b.len, &h), 2);
    b.data[b.len - 1] ^= 1;
    assert_int_equal(batch_validate(b.data, b.len - 1, &h), 2); /* truncated */
    b.data[16] = 1;                                            /* magic 1 */
    assert_int_equal(batch_validate(b.data, b.len, &h), 43);
    kbuf_free(&b);
}

/* Rebuilds the uncompressed batch in b as one compressed with codec (1..4, 5: xerial
 * snappy), CRC and length fixed. */
static void compress_batch(struct kbuf *b, int codec)
{
    const uint8_t *recs = b->data + BATCH_HEADER_SIZE;
    size_t n = b->len - BATCH_HEADER_SIZE;
    size_t cap = 1024 + 2 * n;
    uint8_t *z = malloc(cap);
    size_t zn = 0;
    if (codec == 1) {
        z_stream zs = {0};
        assert_int_equal(deflateInit2(&zs, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY), Z_OK);
        zs.next_in = (Bytef *)recs;
        zs.avail_in = (uInt)n;
        zs.next_out = z;
        zs.avail_out = (uInt)cap;
        assert_int_equal(deflate(&zs, Z_FINISH), Z_STREAM_END);
        zn = cap - zs.avail_out;
        deflateEnd(&zs);
    } else if (codec == 2 || codec == 5) {
        size_t off = 0;
        if (codec == 5) {
            memcpy(z, "\x82SNAPPY\x00\x00\x00\x00\x01\x00\x00\x00\x01", 16);
            off = 20;
        }
        size_t out = cap - off;
        assert_int_equal(snappy_compress((const char *)recs, n, (char *)z + off, &out), SNAPPY_OK);
        if (codec == 5) {
            z[16] = (uint8_t)(out >> 24);
            z[17] = (uint8_t)(out >> 16);
            z[18] = (uint8_t)(out >> 8);
            z[19] = (uint8_t)out;
        }
        zn = off + out;
    } else if (codec == 3) {
        zn = LZ4F_compressFrame(z, cap, recs, n, NULL);
        assert_false(LZ4F_isError(zn));
    } else {
        zn = ZSTD_compress(z, cap, recs, n, 3);
        assert_false(ZSTD_isError(zn));
    }
    b->len = BATCH_HEADER_SIZE;
    kw_raw(b, z, zn);
    free(z);
    int16_t attr = (int16_t)(codec == 5 ? 2 : codec);
    b->data[21] = 0;
    b->data[22] = (uint8_t)attr;
    kbuf_put_i32_at(b, 8, (int32_t)(b->len - 12));
    kbuf_put_i32_at(b, 17, (int32_t)batch_crc32c(b->data + 21, b->len - 21));
}

static int count_ts(const struct batch_record *rec, void *arg)
{
    int64_t *sum = arg;
    *sum += rec->timestamp * (rec->value_len == 5 ? 1 : 1000);
    return 0;
}

static void test_batch_decompression_all_codecs(void **state)
{
    (void)state;
    for (int codec = 1; codec <= 5; codec++) {
        struct kbuf b = {0};
        build(&b, 8);
        struct kbuf plain = {0};
        assert_int_equal(batch_records_data(b.data, b.len, 1 << 20, &plain), 0);
        compress_batch(&b, codec);
        struct batch_hdr h;
        assert_int_equal(batch_validate(b.data, b.len, &h), 0);
        struct kbuf data = {0};
        assert_int_equal(batch_records_data(b.data, b.len, 1 << 20, &data), 0);
        assert_int_equal(data.len, plain.len);
        assert_memory_equal(data.data, plain.data, plain.len);
        int64_t sum = 0;
        assert_int_equal(batch_records_foreach_any(b.data, b.len, 1 << 20, count_ts, &sum), 0);
        assert_true(sum == 1000 + 1001 + 1002 + 1003 + 1004 + 1005 + 1006 + 1007);
        /* a limit below the decompressed size, and a truncated payload, are refused */
        struct kbuf small = {0};
        assert_int_equal(batch_records_data(b.data, b.len, 10, &small), -1);
        struct kbuf cut = {0};
        assert_int_equal(batch_records_data(b.data, b.len - 5, 1 << 20, &cut), -1);
        /* records inside a compressed batch are checked too: a header claiming one more
         * record than the payload holds is corrupt */
        struct kbuf lie = {0};
        build(&lie, 3);
        kbuf_put_i32_at(&lie, 23, 3); /* last offset delta */
        kbuf_put_i32_at(&lie, 57, 4); /* record count */
        compress_batch(&lie, codec);
        assert_int_equal(batch_validate(lie.data, lie.len, &h), 2);
        kbuf_free(&lie);
        kbuf_free(&small);
        kbuf_free(&cut);
        kbuf_free(&data);
        kbuf_free(&plain);
        kbuf_free(&b);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc32c_known_vector),
        cmocka_unit_test(test_varints_round_trip),
        cmocka_unit_test(test_known_encodings),
        cmocka_unit_test(test_strings_and_tags_round_trip),
        cmocka_unit_test(test_reader_rejects_truncated_and_hostile_lengths),
        cmocka_unit_test(test_batch_validate_and_iterate),
        cmocka_unit_test(test_batch_decompression_all_codecs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
