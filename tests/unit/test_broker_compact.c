/*
 * breadcrumb-broker's log compaction (compact.c): decompression of batches in every codec
 * Kafka clients use, and a compaction pass over a partition with compressed batches,
 * superseded values, a tombstone, an aborted transaction and an open one (nothing past the
 * LSO is touched), checked record by record, then again after the logs are reopened.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <lz4frame.h>
#include <snappy-c.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

#include "bc_log.h"
#include "tools/broker/broker.h"
#include "tools/broker/compact.h"
#include "tools/broker/group.h"

/* Compresses a records section with codec (1..4) into out (malloc'd). */
static size_t compress_with(int codec, const uint8_t *in, size_t n, uint8_t **out)
{
    size_t cap = n * 2 + 1024;
    *out = malloc(cap);
    assert_non_null(*out);
    switch (codec) {
    case 1: {
        z_stream zs;
        memset(&zs, 0, sizeof(zs));
        assert_int_equal(deflateInit2(&zs, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY), Z_OK);
        zs.next_in = (Bytef *)in;
        zs.avail_in = (uInt)n;
        zs.next_out = *out;
        zs.avail_out = (uInt)cap;
        assert_int_equal(deflate(&zs, Z_FINISH), Z_STREAM_END);
        size_t len = cap - zs.avail_out;
        deflateEnd(&zs);
        return len;
    }
    case 2: {
        size_t len = cap;
        assert_int_equal(snappy_compress((const char *)in, n, (char *)*out, &len), SNAPPY_OK);
        return len;
    }
    case 3: {
        size_t len = LZ4F_compressFrame(*out, cap, in, n, NULL);
        assert_false(LZ4F_isError(len));
        return len;
    }
    default: {
        size_t len = ZSTD_compress(*out, cap, in, n, 3);
        assert_false(ZSTD_isError(len));
        return len;
    }
    }
}

/* Replaces the uncompressed batch in b (from `start`) by its codec-compressed form. */
static void compress_batch(struct kbuf *b, size_t start, int codec)
{
    uint8_t *z = NULL;
    size_t zn = compress_with(codec, b->data + start + BATCH_HEADER_SIZE,
                              b->len - start - BATCH_HEADER_SIZE, &z);
    b->len = start + BATCH_HEADER_SIZE;
    kw_raw(b, z, zn);
    free(z);
    uint8_t *h = b->data + start;
    h[22] = (uint8_t)((h[22] & ~BATCH_ATTR_COMPRESSION) | codec);
    put_be32(h + 8, (uint32_t)(b->len - start - BATCH_LOG_OVERHEAD));
    put_be32(h + 17, batch_crc32c(h + 21, b->len - start - 21));
}

static void test_compact_decompress_every_codec(void **state)
{
    (void)state;
    uint8_t in[5000];
    for (size_t i = 0; i < sizeof(in); i++) {
        in[i] = (uint8_t)("breadcrumb"[i % 10] + (i / 700));
    }
    for (int codec = 1; codec <= 4; codec++) {
        uint8_t *z = NULL, *out = NULL;
        size_t zn = compress_with(codec, in, sizeof(in), &z);
        size_t n = 0;
        assert_int_equal(compact_decompress(codec, z, zn, &out, &n), 0);
        assert_int_equal(n, sizeof(in));
        assert_memory_equal(out, in, sizeof(in));
        free(out);
        assert_int_equal(compact_decompress(codec, z, zn / 2, &out, &n), -1); /* truncated */
        free(z);
    }
    /* snappy in Java's xerial framing */
    uint8_t *z = NULL, *out = NULL;
    size_t zn = compress_with(2, in, sizeof(in), &z);
    struct kbuf x = {0};
    kw_raw(&x, "\x82SNAPPY\0", 8);
    kw_i32(&x, 1);
    kw_i32(&x, 1);
    kw_i32(&x, (int32_t)zn);
    kw_raw(&x, z, zn);
    size_t n = 0;
    assert_int_equal(compact_decompress(2, x.data, x.len, &out, &n), 0);
    assert_int_equal(n, sizeof(in));
    assert_memory_equal(out, in, sizeof(in));
    free(out);
    free(z);
    kbuf_free(&x);
}

/* --- a compaction pass ------------------------------------------------------------------- */

struct fx {
    struct broker b;
    char dir[64];
};

static struct kstr ks(const char *s)
{
    return (struct kstr){s, (int32_t)strlen(s)};
}

static void fx_open(struct fx *f)
{
    char err[256];
    f->b.opts.data_dir = f->dir;
    f->b.opts.group_min_session_timeout_ms = 6000;
    f->b.opts.group_max_session_timeout_ms = 300000;
    assert_int_equal(broker_topics_load(&f->b, err, sizeof(err)), 0);
    if (broker_topic_find(&f->b, "c") == NULL) {
        const char *names[] = {"cleanup.policy", "segment.bytes", "delete.retention.ms"};
        const char *values[] = {"compact", "1024", "0"};
        assert_int_equal(
            broker_topic_create(&f->b, "c", 1, names, values, 3, NULL, err, sizeof(err)),
            KERR_NONE);
    }
    assert_int_equal(groups_load(&f->b, err, sizeof(err)), 0);
    assert_int_equal(txn_coordinator_load(&f->b, err, sizeof(err)), 0);
}

static void fx_close(struct fx *f)
{
    txn_coordinator_close(&f->b);
    groups_close(&f->b);
    broker_topics_close(&f->b);
    timer_heap_free(&f->b.timers);
    struct broker_opts o = f->b.opts;
    memset(&f->b, 0, sizeof(f->b));
    f->b.opts = o;
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/bc-compact-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    fx_open(f);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    fx_close(f);
    char cmd[160];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

static struct partition *cpart(struct fx *f)
{
    return broker_partition_find(&f->b, ks("c"), 0);
}

/* Appends one batch of records "key=value" (value "-" for a tombstone). */
static int64_t append_kv(struct fx *f, const char *const *kv, int n, int codec, int64_t pid,
                         int16_t epoch, int transactional)
{
    struct batch_record recs[16];
    char keys[16][16];
    static char values[16][700];
    memset(recs, 0, sizeof(recs));
    for (int i = 0; i < n; i++) {
        const char *eq = strchr(kv[i], '=');
        snprintf(keys[i], sizeof(keys[i]), "%.*s", (int)(eq - kv[i]), kv[i]);
        snprintf(values[i], sizeof(values[i]), "%s", eq + 1);
        recs[i].key = (const uint8_t *)keys[i];
        recs[i].key_len = (int32_t)strlen(keys[i]);
        if (strcmp(values[i], "-") != 0) {
            recs[i].value = (const uint8_t *)values[i];
            recs[i].value_len = (int32_t)strlen(values[i]);
        }
        recs[i].timestamp = 1000 + i;
    }
    struct kbuf buf = {0};
    batch_build(&buf, 0, transactional ? BATCH_ATTR_TRANSACTIONAL : 0, pid, epoch,
                pid >= 0 ? 0 : -1, recs, n);
    if (codec) {
        compress_batch(&buf, 0, codec);
    }
    struct partition *p = cpart(f);
    int64_t off = -1;
    assert_int_equal(plog_append(p->log, buf.data, buf.len, &off), 0);
    struct batch_hdr h;
    batch_hdr_parse(buf.data, &h);
    if (pid >= 0) {
        producer_update(&p->producers, &h);
        txn_partition_note(p, &h, -1);
    }
    kbuf_free(&buf);
    return off;
}

struct seen {
    char text[2048]; /* "offset:key=value " for every data record; "M" for a marker */
};

static int collect(const struct batch_record *r, void *arg)
{
    struct seen *s = arg;
    size_t len = strlen(s->text);
    snprintf(s->text + len, sizeof(s->text) - len, "%lld:%.*s=%.*s ", (long long)r->offset,
             r->key_len, r->key ? (const char *)r->key : "", r->value ? r->value_len : 1,
             r->value ? (const char *)r->value : "-");
    return 0;
}

/* Every record of the partition in order, compressed batches decompressed. */
static void dump(struct fx *f, struct seen *s)
{
    struct partition *p = cpart(f);
    s->text[0] = '\0';
    int64_t off = plog_start_offset(p->log);
    while (off < plog_end_offset(p->log)) {
        struct kbuf buf = {0};
        size_t copied = 0;
        assert_int_equal(plog_read(p->log, off, 1 << 20, 1, &buf, &copied), 0);
        assert_true(copied > 0);
        for (size_t pos = 0; pos + BATCH_HEADER_SIZE <= copied;) {
            struct batch_hdr h;
            batch_hdr_parse(buf.data + pos, &h);
            size_t n = batch_total_size(&h);
            if (h.attributes & BATCH_ATTR_CONTROL) {
                strcat(s->text,
                       txn_control_type(buf.data + pos, n) == CONTROL_COMMIT ? "C " : "A ");
            } else if (h.attributes & BATCH_ATTR_COMPRESSION) {
                uint8_t *raw = NULL;
                size_t rn = 0;
                assert_int_equal(
                    compact_decompress(h.attributes & 7, buf.data + pos + 61, n - 61, &raw, &rn),
                    0);
                struct kbuf plain = {0};
                kw_raw(&plain, buf.data + pos, 61);
                kw_raw(&plain, raw, rn);
                plain.data[22] &= (uint8_t)~7;
                assert_int_equal(batch_records_foreach(plain.data, plain.len, collect, s), 0);
                kbuf_free(&plain);
                free(raw);
            } else {
                assert_int_equal(batch_records_foreach(buf.data + pos, n, collect, s), 0);
            }
            off = h.base_offset + h.last_offset_delta + 1;
            pos += n;
        }
        kbuf_free(&buf);
    }
}

static void test_compact_pass(void **state)
{
    struct fx *f = *state;
    int64_t pa, pb;
    int16_t ea, eb;
    struct txn *ta, *tb;
    assert_int_equal(txn_init_producer(&f->b, ks("a"), 60000, -1, -1, &pa, &ea), KERR_NONE);
    assert_int_equal(txn_init_producer(&f->b, ks("b"), 60000, -1, -1, &pb, &eb), KERR_NONE);
    assert_int_equal(txn_validate(&f->b, ks("a"), pa, ea, &ta), KERR_NONE);
    assert_int_equal(txn_validate(&f->b, ks("b"), pb, eb, &tb), KERR_NONE);

    const char *r1[] = {"k0=a0", "k1=a1", "k2=a2", "k3=a3"};
    const char *r2[] = {"k0=b0", "k1=b1"};
    const char *r3[] = {"k3=-", "k4=c4"};
    const char *bad[] = {"k2=aborted", "k4=aborted"};
    const char *later[] = {"k1=open"};
    assert_int_equal(append_kv(f, r1, 4, 1, -1, -1, 0), 0); /* gzip: 0..3 */
    assert_int_equal(append_kv(f, r2, 2, 4, -1, -1, 0), 4); /* zstd: 4..5 */
    assert_int_equal(append_kv(f, r3, 2, 0, -1, -1, 0), 6); /* 6..7, a tombstone */
    assert_int_equal(txn_add_partition(&f->b, ta, "c", 0), KERR_NONE);
    assert_int_equal(append_kv(f, bad, 2, 3, pa, ea, 1), 8);         /* lz4, aborted: 8..9 */
    assert_int_equal(txn_end(&f->b, ks("a"), pa, ea, 0), KERR_NONE); /* marker 10 */
    /* filler batches roll the segment (segment.bytes 1024) */
    char big[600];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    char fill[700];
    snprintf(fill, sizeof(fill), "f=%s", big);
    const char *filler[] = {fill};
    assert_int_equal(append_kv(f, filler, 1, 0, -1, -1, 0), 11);
    assert_int_equal(append_kv(f, filler, 1, 0, -1, -1, 0), 12);
    assert_int_equal(txn_add_partition(&f->b, tb, "c", 0), KERR_NONE);
    assert_int_equal(append_kv(f, later, 1, 0, pb, eb, 1), 13); /* open: LSO 13 */
    assert_int_equal(append_kv(f, filler, 1, 0, -1, -1, 0), 14);
    assert_int_equal(append_kv(f, filler, 1, 0, -1, -1, 0), 15);
    assert_int_equal(txn_partition_lso(cpart(f)), 13);

    struct seen s;
    struct compact_stats st;
    assert_int_equal(compact_partition(&f->b, cpart(f), 1000000, &st), 0);
    assert_true(st.segments >= 1);
    assert_int_equal(st.aborted, 2);
    assert_int_equal(st.tombstones, 1);
    assert_int_equal(st.markers, 1);
    assert_int_equal(cpart(f)->txn.naborted, 0);
    dump(f, &s);
    /* k0, k1 latest (zstd batch kept whole), k2 from the rebuilt gzip batch, k4; the first
     * filler superseded, the rest beyond the LSO untouched; the open transaction's k1 does
     * not shadow b1 */
    char want[2048];
    snprintf(want, sizeof(want),
             "2:k2=a2 4:k0=b0 5:k1=b1 7:k4=c4 12:f=%s 13:k1=open 14:f=%s 15:f=%s ", big, big, big);
    assert_string_equal(s.text, want);
    assert_int_equal(txn_partition_lso(cpart(f)), 13);
    assert_int_equal(plog_end_offset(cpart(f)->log), 16);

    /* nothing changed: a second pass does nothing */
    assert_int_equal(compact_partition(&f->b, cpart(f), 1000000, &st), 0);
    assert_int_equal(st.segments, 0);

    /* reopened (offsets with gaps are valid in a compacted log), the open transaction is
     * aborted by recovery and stays invisible to compaction's key map */
    fx_close(f);
    fx_open(f);
    dump(f, &s);
    snprintf(want, sizeof(want),
             "2:k2=a2 4:k0=b0 5:k1=b1 7:k4=c4 12:f=%s 13:k1=open 14:f=%s 15:f=%s A ", big, big,
             big);
    assert_string_equal(s.text, want);
    assert_int_equal(txn_partition_lso(cpart(f)), 17);
}

static void test_compact_tombstone_waits_for_delete_retention(void **state)
{
    struct fx *f = *state;
    char err[256];
    const char *names[] = {"cleanup.policy", "segment.bytes", "delete.retention.ms",
                           "min.cleanable.dirty.ratio"};
    const char *values[] = {"compact", "1024", "5000", "0.5"};
    struct topic *t = NULL;
    assert_int_equal(broker_topic_create(&f->b, "d", 1, names, values, 4, &t, err, sizeof(err)),
                     KERR_NONE);
    struct partition *p = &t->partitions[0];
    char fill[700];
    memset(fill, 'x', sizeof(fill) - 1);
    fill[sizeof(fill) - 1] = '\0';
    struct batch_record recs[2] = {
        {.key = (const uint8_t *)"k",
         .key_len = 1,
         .value = (const uint8_t *)"v",
         .value_len = 1,
         .timestamp = 1000},
        {.key = (const uint8_t *)"k", .key_len = 1, .timestamp = 1000}, /* tombstone */
    };
    struct batch_record filler = {.key = (const uint8_t *)"f",
                                  .key_len = 1,
                                  .value = (const uint8_t *)fill,
                                  .value_len = 699,
                                  .timestamp = 1000};
    for (int i = 0; i < 4; i++) {
        struct kbuf buf = {0};
        if (i == 0) {
            batch_build(&buf, 0, 0, -1, -1, -1, recs, 2);
        } else {
            batch_build(&buf, 0, 0, -1, -1, -1, &filler, 1);
        }
        int64_t off;
        assert_int_equal(plog_append(p->log, buf.data, buf.len, &off), 0);
        kbuf_free(&buf);
    }
    struct compact_stats st;
    assert_int_equal(compact_partition(&f->b, p, 3000, &st), 0); /* kept until 6000 */
    assert_true(st.segments >= 1);
    assert_int_equal(st.tombstones, 0);
    assert_int_equal(st.records_out, 1); /* the tombstone; the fillers before the last go */
    assert_int_equal(p->txn.tombstone_due, 6000);
    assert_int_equal(compact_partition(&f->b, p, 4000, &st), 0); /* nothing new, not due */
    assert_int_equal(st.segments, 0);
    assert_int_equal(compact_partition(&f->b, p, 6000, &st), 0); /* due */
    assert_int_equal(st.tombstones, 1);
    assert_int_equal(p->txn.tombstone_due, 0);
}

int main(void)
{
    bc_log_setup("test", getenv("BC_TEST_LOG") ? BC_LOG_DEBUG : BC_LOG_ERROR, BC_LOG_LOGFMT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_compact_decompress_every_codec),
        cmocka_unit_test_setup_teardown(test_compact_pass, setup, teardown),
        cmocka_unit_test_setup_teardown(test_compact_tombstone_waits_for_delete_retention, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
