/* Log compaction (compact.h). */
#include "compact.h"

#include <inttypes.h>
#include <lz4frame.h>
#include <snappy-c.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>
#include <zlib.h>
#include <zstd.h>

#include "bc_log.h"
#include "broker.h"

#define DECOMPRESSED_MAX (256u << 20) /* refuse absurd sizes from a corrupt batch */

/* --- decompression ---------------------------------------------------------------------- */

/* A growable output for the streaming decoders. */
struct obuf {
    uint8_t *p;
    size_t len, cap;
};

static int obuf_room(struct obuf *o, size_t want)
{
    if (o->cap - o->len >= want) {
        return 0;
    }
    size_t cap = o->cap ? o->cap : 4096;
    while (cap - o->len < want) {
        cap *= 2;
    }
    if (cap > DECOMPRESSED_MAX) {
        return -1;
    }
    uint8_t *p = realloc(o->p, cap);
    if (p == NULL) {
        return -1;
    }
    o->p = p;
    o->cap = cap;
    return 0;
}

static int gunzip(const uint8_t *in, size_t n, struct obuf *o)
{
    z_stream zs;
    memset(&zs, 0, sizeof(zs));
    if (inflateInit2(&zs, 15 + 32) != Z_OK) { /* gzip or zlib header */
        return -1;
    }
    zs.next_in = (Bytef *)in;
    zs.avail_in = (uInt)n;
    int rc = Z_OK;
    while (rc != Z_STREAM_END) {
        if (obuf_room(o, n * 2 + 1024) != 0) {
            rc = Z_MEM_ERROR;
            break;
        }
        zs.next_out = o->p + o->len;
        zs.avail_out = (uInt)(o->cap - o->len);
        rc = inflate(&zs, Z_NO_FLUSH);
        o->len = o->cap - zs.avail_out;
        if (rc != Z_OK && rc != Z_STREAM_END) {
            break;
        }
        if (rc == Z_OK && zs.avail_in == 0 && zs.avail_out != 0) {
            rc = Z_DATA_ERROR; /* truncated */
            break;
        }
    }
    inflateEnd(&zs);
    return rc == Z_STREAM_END ? 0 : -1;
}

static int snappy_block(const uint8_t *in, size_t n, struct obuf *o)
{
    size_t len = 0;
    if (snappy_uncompressed_length((const char *)in, n, &len) != SNAPPY_OK ||
        len > DECOMPRESSED_MAX || obuf_room(o, len + 1) != 0) {
        return -1;
    }
    size_t got = len;
    if (snappy_uncompress((const char *)in, n, (char *)o->p + o->len, &got) != SNAPPY_OK) {
        return -1;
    }
    o->len += got;
    return 0;
}

static int unsnappy(const uint8_t *in, size_t n, struct obuf *o)
{
    static const uint8_t xerial[8] = {0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0};
    if (n < 16 || memcmp(in, xerial, 8) != 0) {
        return snappy_block(in, n, o);
    }
    /* Java's xerial framing: header, version, compatible version, then length-prefixed
     * snappy blocks. */
    size_t pos = 16;
    while (pos < n) {
        if (n - pos < 4) {
            return -1;
        }
        uint32_t len = be32(in + pos);
        pos += 4;
        if (len > n - pos || snappy_block(in + pos, len, o) != 0) {
            return -1;
        }
        pos += len;
    }
    return 0;
}

static int unlz4(const uint8_t *in, size_t n, struct obuf *o)
{
    LZ4F_dctx *dctx = NULL;
    if (LZ4F_isError(LZ4F_createDecompressionContext(&dctx, LZ4F_VERSION))) {
        return -1;
    }
    size_t pos = 0;
    int rc = -1;
    for (;;) {
        if (obuf_room(o, 64 * 1024) != 0) {
            break;
        }
        size_t out_size = o->cap - o->len;
        size_t in_size = n - pos;
        size_t hint = LZ4F_decompress(dctx, o->p + o->len, &out_size, in + pos, &in_size, NULL);
        if (LZ4F_isError(hint)) {
            break;
        }
        pos += in_size;
        o->len += out_size;
        if (hint == 0) {
            rc = 0; /* frame complete */
            break;
        }
        if (pos >= n && out_size == 0) {
            break; /* truncated */
        }
    }
    LZ4F_freeDecompressionContext(dctx);
    return rc;
}

static int unzstd(const uint8_t *in, size_t n, struct obuf *o)
{
    ZSTD_DStream *zds = ZSTD_createDStream();
    if (zds == NULL) {
        return -1;
    }
    ZSTD_initDStream(zds);
    ZSTD_inBuffer ib = {in, n, 0};
    int rc = -1;
    for (;;) {
        if (obuf_room(o, ZSTD_DStreamOutSize()) != 0) {
            break;
        }
        ZSTD_outBuffer ob = {o->p + o->len, o->cap - o->len, 0};
        size_t r = ZSTD_decompressStream(zds, &ob, &ib);
        if (ZSTD_isError(r)) {
            break;
        }
        o->len += ob.pos;
        if (r == 0 && ib.pos == ib.size) {
            rc = 0;
            break;
        }
        if (ib.pos == ib.size && ob.pos == 0) {
            break; /* truncated */
        }
    }
    ZSTD_freeDStream(zds);
    return rc;
}

int compact_decompress(int codec, const uint8_t *in, size_t n, uint8_t **out, size_t *out_len)
{
    struct obuf o = {0};
    int rc;
    switch (codec) {
    case 1:
        rc = gunzip(in, n, &o);
        break;
    case 2:
        rc = unsnappy(in, n, &o);
        break;
    case 3:
        rc = unlz4(in, n, &o);
        break;
    case 4:
        rc = unzstd(in, n, &o);
        break;
    default:
        rc = -1;
    }
    if (rc != 0) {
        free(o.p);
        return -1;
    }
    *out = o.p;
    *out_len = o.len;
    return 0;
}

/* --- records of a batch ------------------------------------------------------------------ */

struct rec {
    const uint8_t *raw; /* the record with its length prefix */
    size_t raw_len;
    int64_t offset;
    const uint8_t *key; /* NULL: null key */
    int32_t key_len;
    int tombstone; /* null value */
};

/* The records section of the batch at p (n bytes), decompressed into *owned when needed. */
static int batch_records(const uint8_t *p, size_t n, const struct batch_hdr *h, uint8_t **owned,
                         const uint8_t **recs, size_t *recs_len)
{
    *owned = NULL;
    int codec = h->attributes & BATCH_ATTR_COMPRESSION;
    if (codec == 0) {
        *recs = p + BATCH_HEADER_SIZE;
        *recs_len = n - BATCH_HEADER_SIZE;
        return 0;
    }
    if (compact_decompress(codec, p + BATCH_HEADER_SIZE, n - BATCH_HEADER_SIZE, owned, recs_len) !=
        0) {
        return -1;
    }
    *recs = *owned;
    return 0;
}

/* Parses the next record at *r. Returns 1 with *out, 0 at the end, -1 when malformed. */
static int next_record(struct krd *r, const struct batch_hdr *h, struct rec *out)
{
    if (kr_left(r) == 0) {
        return 0;
    }
    const uint8_t *start = r->p;
    int32_t len = kr_varint(r);
    if (r->err || len < 0 || (size_t)len > kr_left(r)) {
        return -1;
    }
    struct krd b;
    krd_init(&b, r->p, (size_t)len);
    r->p += len;
    (void)kr_i8(&b);      /* attributes */
    (void)kr_varlong(&b); /* timestamp delta */
    out->offset = h->base_offset + kr_varint(&b);
    out->key_len = kr_varint(&b);
    out->key = NULL;
    if (out->key_len >= 0) {
        if ((size_t)out->key_len > kr_left(&b)) {
            return -1;
        }
        out->key = b.p;
        b.p += out->key_len;
    }
    int32_t vlen = kr_varint(&b);
    out->tombstone = vlen < 0;
    if (b.err) {
        return -1;
    }
    out->raw = start;
    out->raw_len = (size_t)(r->p - start);
    return 1;
}

/* --- the key map: key -> offset of its latest committed record ----------------------------- */

struct slot_entry {
    uint64_t hash;
    uint8_t *key; /* owned; NULL: empty slot */
    int32_t key_len;
    int64_t offset;
};

struct keymap {
    struct slot_entry *v;
    size_t cap, n; /* cap: a power of two */
};

static void keymap_free(struct keymap *m)
{
    for (size_t i = 0; i < m->cap; i++) {
        free(m->v[i].key);
    }
    free(m->v);
    memset(m, 0, sizeof(*m));
}

static struct slot_entry *keymap_slot(struct keymap *m, const uint8_t *key, int32_t len,
                                      uint64_t hash)
{
    size_t i = (size_t)hash & (m->cap - 1);
    for (;;) {
        struct slot_entry *s = &m->v[i];
        if (s->key == NULL ||
            (s->hash == hash && s->key_len == len && memcmp(s->key, key, (size_t)len) == 0)) {
            return s;
        }
        i = (i + 1) & (m->cap - 1);
    }
}

static int keymap_put(struct keymap *m, const uint8_t *key, int32_t len, int64_t offset)
{
    if ((m->n + 1) * 2 > m->cap) {
        struct keymap bigger = {calloc(m->cap ? m->cap * 2 : 1024, sizeof(struct slot_entry)),
                                m->cap ? m->cap * 2 : 1024, m->n};
        if (bigger.v == NULL) {
            return -1;
        }
        for (size_t i = 0; i < m->cap; i++) {
            if (m->v[i].key != NULL) {
                *keymap_slot(&bigger, m->v[i].key, m->v[i].key_len, m->v[i].hash) = m->v[i];
            }
        }
        free(m->v);
        *m = bigger;
    }
    uint64_t hash = XXH3_64bits(key, (size_t)len);
    struct slot_entry *s = keymap_slot(m, key, len, hash);
    if (s->key == NULL) {
        s->key = malloc(len > 0 ? (size_t)len : 1);
        if (s->key == NULL) {
            return -1;
        }
        memcpy(s->key, key, (size_t)len);
        s->key_len = len;
        s->hash = hash;
        m->n++;
    }
    s->offset = offset;
    return 0;
}

static int64_t keymap_get(struct keymap *m, const uint8_t *key, int32_t len)
{
    if (m->cap == 0) {
        return -1;
    }
    struct slot_entry *s = keymap_slot(m, key, len, XXH3_64bits(key, (size_t)len));
    return s->key != NULL ? s->offset : -1;
}

/* --- the pass ------------------------------------------------------------------------------ */

struct cleaner {
    struct partition *p;
    struct keymap map;
    int64_t limit;
    int64_t tombstone_before; /* tombstones with timestamps up to this go */
    int64_t retention;        /* delete.retention.ms */
    int64_t tombstone_due;    /* earliest time a kept tombstone may go, INT64_MAX: none */
    struct compact_stats *st;
    int failed;
};

static int is_aborted(const struct partition *p, int64_t producer_id, int64_t offset)
{
    for (size_t i = 0; i < p->txn.naborted; i++) {
        const struct aborted_txn *a = &p->txn.aborted[i];
        if (a->producer_id == producer_id && a->first_offset <= offset &&
            offset <= a->last_offset) {
            return 1;
        }
    }
    return 0;
}

/* Whether the batch's records are live data (not control, not aborted). */
static int batch_is_data(const struct partition *p, const struct batch_hdr *h)
{
    if (h->attributes & BATCH_ATTR_CONTROL) {
        return 0;
    }
    return !((h->attributes & BATCH_ATTR_TRANSACTIONAL) &&
             is_aborted(p, h->producer_id, h->base_offset));
}

static int map_batch(struct cleaner *c, const uint8_t *p, size_t n)
{
    struct batch_hdr h;
    batch_hdr_parse(p, &h);
    if (h.base_offset >= c->limit || !batch_is_data(c->p, &h)) {
        return 0;
    }
    uint8_t *owned = NULL;
    const uint8_t *recs;
    size_t len;
    if (batch_records(p, n, &h, &owned, &recs, &len) != 0) {
        return -1;
    }
    struct krd r;
    krd_init(&r, recs, len);
    struct rec rec;
    int rc;
    while ((rc = next_record(&r, &h, &rec)) == 1) {
        if (rec.key != NULL && rec.offset < c->limit &&
            keymap_put(&c->map, rec.key, rec.key_len, rec.offset) != 0) {
            rc = -1;
            break;
        }
    }
    free(owned);
    return rc;
}

/* plog_rewrite callback: what replaces one batch. */
static int clean_batch(void *arg, const uint8_t *p, size_t n, struct kbuf *out)
{
    struct cleaner *c = arg;
    struct batch_hdr h;
    batch_hdr_parse(p, &h);
    if (h.attributes & BATCH_ATTR_CONTROL) {
        if (txn_control_type(p, n) == CONTROL_ABORT) {
            c->st->markers++;
            return 0;
        }
        kw_raw(out, p, n);
        return 0;
    }
    c->st->records_in += h.record_count;
    if ((h.attributes & BATCH_ATTR_TRANSACTIONAL) &&
        is_aborted(c->p, h.producer_id, h.base_offset)) {
        c->st->aborted += h.record_count;
        return 0;
    }
    uint8_t *owned = NULL;
    const uint8_t *recs;
    size_t len;
    if (batch_records(p, n, &h, &owned, &recs, &len) != 0) {
        c->failed = 1;
        return -1; /* leave this segment alone */
    }
    struct kbuf kept = {0};
    int32_t nkept = 0;
    struct krd r;
    krd_init(&r, recs, len);
    struct rec rec;
    int rc;
    while ((rc = next_record(&r, &h, &rec)) == 1) {
        int keep = 1;
        if (rec.key != NULL) {
            keep = keymap_get(&c->map, rec.key, rec.key_len) == rec.offset;
            if (keep && rec.tombstone) {
                if (h.max_timestamp <= c->tombstone_before) {
                    keep = 0;
                    c->st->tombstones++;
                } else if (h.max_timestamp + c->retention < c->tombstone_due) {
                    c->tombstone_due = h.max_timestamp + c->retention;
                }
            }
        }
        if (keep) {
            kw_raw(&kept, rec.raw, rec.raw_len);
            nkept++;
        }
    }
    if (rc < 0 || kept.oom) {
        free(owned);
        kbuf_free(&kept);
        c->failed = 1;
        return -1;
    }
    c->st->records_out += nkept;
    if (nkept == h.record_count) {
        kw_raw(out, p, n); /* unchanged, compressed or not */
    } else if (nkept > 0) {
        size_t start = out->len;
        kw_raw(out, p, BATCH_HEADER_SIZE);
        kw_raw(out, kept.data, kept.len);
        if (!out->oom) {
            uint8_t *b = out->data + start;
            int16_t attrs = (int16_t)(h.attributes & ~BATCH_ATTR_COMPRESSION);
            b[21] = (uint8_t)((uint16_t)attrs >> 8);
            b[22] = (uint8_t)attrs;
            put_be32(b + 57, (uint32_t)nkept);
            put_be32(b + 8, (uint32_t)(out->len - start - BATCH_LOG_OVERHEAD));
            put_be32(b + 17, batch_crc32c(b + 21, out->len - start - 21));
        }
    }
    free(owned);
    kbuf_free(&kept);
    return 0;
}

int compact_partition(struct broker *b, struct partition *p, int64_t now, struct compact_stats *st)
{
    (void)b;
    memset(st, 0, sizeof(*st));
    struct cleaner c = {
        .p = p, .st = st, .limit = txn_partition_lso(p), .tombstone_due = INT64_MAX};
    c.retention = p->topic->cfg.num[TC_DELETE_RETENTION_MS];
    c.tombstone_before = c.retention > now ? INT64_MIN : now - c.retention;
    int64_t end = plog_end_offset(p->log);
    int tombstones_due = p->txn.tombstone_due > 0 && now >= p->txn.tombstone_due;
    if (!tombstones_due) {
        if (c.limit == p->txn.compacted_lso && end == p->txn.compacted_end) {
            return 0; /* nothing new since the last pass */
        }
        /* min.cleanable.dirty.ratio: bytes written since the last pass over the log size */
        double ratio = strtod(topic_config_value(p->topic, TC_MIN_CLEANABLE_DIRTY_RATIO), NULL);
        int64_t size = (int64_t)plog_size(p->log);
        if (size > 0 && (double)(size - p->txn.compacted_bytes) < ratio * (double)size) {
            return 0;
        }
    }
    st->bytes_before = (int64_t)plog_size(p->log);
    /* 1. the key map over [log start, LSO) */
    int64_t off = plog_start_offset(p->log);
    int rc = 0;
    while (off < c.limit && rc == 0) {
        struct kbuf buf = {0};
        size_t copied = 0;
        if (plog_read(p->log, off, 1 << 20, 1, &buf, &copied) != 0) {
            rc = -1;
        }
        if (copied == 0) {
            kbuf_free(&buf);
            break;
        }
        for (size_t pos = 0; rc == 0 && pos + BATCH_HEADER_SIZE <= copied;) {
            struct batch_hdr h;
            batch_hdr_parse(buf.data + pos, &h);
            size_t n = batch_total_size(&h);
            rc = map_batch(&c, buf.data + pos, n);
            off = h.base_offset + h.last_offset_delta + 1;
            pos += n;
        }
        kbuf_free(&buf);
    }
    /* 2. rewrite the cleanable segments */
    int64_t cleaned_end = plog_start_offset(p->log);
    if (rc == 0) {
        int n = plog_rewrite(p->log, c.limit, clean_batch, &c, &cleaned_end);
        if (n < 0) {
            rc = -1;
        } else {
            st->segments = n;
        }
    }
    keymap_free(&c.map);
    if (rc != 0) {
        return -1;
    }
    /* 3. the aborted transactions whose records and markers are gone (a transaction's
     * records all precede its marker) */
    size_t k = 0;
    for (size_t i = 0; i < p->txn.naborted; i++) {
        if (p->txn.aborted[i].last_offset >= cleaned_end) {
            p->txn.aborted[k++] = p->txn.aborted[i];
        }
    }
    p->txn.naborted = k;
    p->txn.cleaned_upto = cleaned_end;
    if (!c.failed) {
        p->txn.compacted_lso = c.limit;
        p->txn.compacted_end = end;
        p->txn.compacted_bytes = (int64_t)plog_size(p->log);
        p->txn.tombstone_due = c.tombstone_due == INT64_MAX ? 0 : c.tombstone_due;
    }
    st->bytes_after = (int64_t)plog_size(p->log);
    return 0;
}

void compact_run(struct broker *b)
{
    int64_t now = now_ms();
    for (size_t i = 0; i < b->ntopics; i++) {
        struct topic *t = b->topics[i];
        if (strstr(topic_config_value(t, TC_CLEANUP_POLICY), "compact") == NULL) {
            continue;
        }
        for (int32_t j = 0; j < t->npartitions; j++) {
            struct compact_stats st;
            if (compact_partition(b, &t->partitions[j], now, &st) != 0) {
                char part[16];
                snprintf(part, sizeof(part), "%" PRId32, j);
                bc_log(BC_LOG_ERROR, "log compaction failed", "topic", t->name, "partition", part,
                       NULL);
                continue;
            }
            if (st.segments == 0) {
                continue;
            }
            char part[16], segs[16], in[32], out[32], ab[32], ts[32], mk[32], before[32], after[32],
                upto[32];
            snprintf(part, sizeof(part), "%" PRId32, j);
            snprintf(segs, sizeof(segs), "%d", st.segments);
            snprintf(in, sizeof(in), "%" PRId64, st.records_in);
            snprintf(out, sizeof(out), "%" PRId64, st.records_out);
            snprintf(ab, sizeof(ab), "%" PRId64, st.aborted);
            snprintf(ts, sizeof(ts), "%" PRId64, st.tombstones);
            snprintf(mk, sizeof(mk), "%" PRId64, st.markers);
            snprintf(before, sizeof(before), "%" PRId64, st.bytes_before);
            snprintf(after, sizeof(after), "%" PRId64, st.bytes_after);
            snprintf(upto, sizeof(upto), "%" PRId64, t->partitions[j].txn.cleaned_upto);
            bc_log(BC_LOG_INFO, "log compacted", "topic", t->name, "partition", part, "segments",
                   segs, "records_in", in, "records_out", out, "aborted_removed", ab,
                   "tombstones_removed", ts, "abort_markers_removed", mk, "bytes_before", before,
                   "bytes_after", after, "cleaned_upto", upto, NULL);
        }
    }
}

static struct timer compact_timer;
static int64_t compact_interval_ms;

static void compact_tick(struct broker *b, struct timer *t)
{
    compact_run(b);
    timer_add(&b->timers, t, now_ms() + compact_interval_ms, compact_tick);
}

void compact_start(struct broker *b, int64_t interval_ms)
{
    compact_interval_ms = interval_ms;
    timer_add(&b->timers, &compact_timer, now_ms() + interval_ms, compact_tick);
}
