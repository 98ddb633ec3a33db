/*
 * The committed-offsets log: the coordinator's state as an internal log under
 * <data-dir>/meta/group-offsets/, written with the partition log code (log.c) and replayed
 * at startup, like Kafka's __consumer_offsets. Records use Kafka's formats:
 *
 *   offset commit  key: int16 1, string group, string topic, int32 partition
 *                  value: int16 3, int64 offset, int32 leader epoch, string metadata,
 *                         int64 commit timestamp                 (null value: deleted)
 *   group          key: int16 2, string group
 *                  value: GroupMetadataValue v3 (group.c)        (null value: deleted)
 *
 * A commit is one batch, appended (and under --fsync always, fdatasync'ed) before the
 * OffsetCommit is answered, so a kill -9 after the answer keeps it. The latest record of a
 * key wins. The log is compacted by rewriting: when it holds many more records than live
 * keys (at startup, and while running), the live records are written to group-offsets.new,
 * which then replaces it by two renames; startup finishes a rewrite cut short by a crash.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "batch.h"
#include "bc_log.h"
#include "broker.h"
#include "group.h"
#include "log.h"

#define OFFSETS_DIR "meta/group-offsets"
#define SEGMENT_BYTES (64LL << 20)
#define REWRITE_MIN_RECORDS 10000
#define RECORDS_PER_BATCH 500

enum { KEY_OFFSET = 1, KEY_GROUP = 2 };

static void paths(const struct broker *b, char *dir, char *tmp, char *old, size_t cap)
{
    snprintf(dir, cap, "%s/%s", b->opts.data_dir, OFFSETS_DIR);
    snprintf(tmp, cap, "%s/%s.new", b->opts.data_dir, OFFSETS_DIR);
    snprintf(old, cap, "%s/%s.old", b->opts.data_dir, OFFSETS_DIR);
}

/* Removes a log directory (files only, as log.c writes them). */
static void remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL) {
        return;
    }
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.') {
            continue;
        }
        char path[4400];
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        unlink(path);
    }
    closedir(d);
    rmdir(dir);
}

static int exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* --- record encoding --------------------------------------------------------------------- */

static void offset_key(struct kbuf *k, const char *group, struct kstr topic, int32_t partition)
{
    kw_i16(k, KEY_OFFSET);
    kw_str(k, group, -1, 0);
    kw_kstr(k, topic, 0);
    kw_i32(k, partition);
}

static void offset_value(struct kbuf *v, int64_t offset, int32_t epoch, struct kstr metadata,
                         int64_t ts)
{
    kw_i16(v, 3);
    kw_i64(v, offset);
    kw_i32(v, epoch);
    kw_kstr(v, metadata.len < 0 ? (struct kstr){"", 0} : metadata, 0);
    kw_i64(v, ts);
}

static void group_key(struct kbuf *k, const char *group)
{
    kw_i16(k, KEY_GROUP);
    kw_str(k, group, -1, 0);
}

/* Records being put together: keys and values in two buffers, offsets remembered. */
struct recs {
    struct kbuf keys, values;
    size_t n, cap;
    size_t *key_end, *value_end; /* value_end == previous: null value */
    int *null_value;
};

static int recs_push(struct recs *r)
{
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 64;
        size_t *ke = realloc(r->key_end, cap * sizeof(*ke));
        if (ke != NULL) {
            r->key_end = ke;
        }
        size_t *ve = realloc(r->value_end, cap * sizeof(*ve));
        if (ve != NULL) {
            r->value_end = ve;
        }
        int *nv = realloc(r->null_value, cap * sizeof(*nv));
        if (nv != NULL) {
            r->null_value = nv;
        }
        if (ke == NULL || ve == NULL || nv == NULL) {
            return -1;
        }
        r->cap = cap;
    }
    r->key_end[r->n] = r->keys.len;
    r->value_end[r->n] = r->values.len;
    r->null_value[r->n] = 0;
    r->n++;
    return 0;
}

static void recs_free(struct recs *r)
{
    kbuf_free(&r->keys);
    kbuf_free(&r->values);
    free(r->key_end);
    free(r->value_end);
    free(r->null_value);
    memset(r, 0, sizeof(*r));
}

/* Appends records [from, to) of r as one batch to log: a plain one (producer_id -1) or a
 * transactional one of producer_id. */
static int append_batch(struct plog *log, const struct recs *r, size_t from, size_t to,
                        int64_t producer_id, int16_t producer_epoch)
{
    struct batch_record *br = calloc(to - from, sizeof(*br));
    if (br == NULL) {
        return -1;
    }
    int64_t now = now_ms();
    for (size_t i = from; i < to; i++) {
        size_t k0 = i ? r->key_end[i - 1] : 0, v0 = i ? r->value_end[i - 1] : 0;
        struct batch_record *x = &br[i - from];
        x->timestamp = now;
        x->key = r->keys.data + k0;
        x->key_len = (int32_t)(r->key_end[i] - k0);
        if (!r->null_value[i]) {
            x->value = r->values.data ? r->values.data + v0 : (const uint8_t *)"";
            x->value_len = (int32_t)(r->value_end[i] - v0);
        }
    }
    struct kbuf out = {0};
    batch_build(&out, 0, producer_id >= 0 ? BATCH_ATTR_TRANSACTIONAL : 0, producer_id,
                producer_epoch, -1, br, (int)(to - from));
    free(br);
    int64_t base;
    int rc = out.oom ? -1 : plog_append(log, out.data, out.len, &base);
    kbuf_free(&out);
    return rc == 0 ? 0 : -1;
}

static int append_all(struct plog *log, struct recs *r, int64_t producer_id,
                      int16_t producer_epoch)
{
    if (r->keys.oom || r->values.oom) {
        return -1;
    }
    for (size_t i = 0; i < r->n; i += RECORDS_PER_BATCH) {
        size_t to = i + RECORDS_PER_BATCH < r->n ? i + RECORDS_PER_BATCH : r->n;
        if (append_batch(log, r, i, to, producer_id, producer_epoch) != 0) {
            return -1;
        }
    }
    return 0;
}

/* Appends to log, one transactional batch per producer, the pending transactional offsets
 * that are newer than the committed ones of their partitions (older ones could never
 * replace them). */
static int snapshot_txn(struct broker *b, struct plog *log, size_t *written)
{
    struct group_coordinator *gc = b->groups;
    for (size_t i = 0; i < gc->ngroups; i++) {
        const struct group *g = gc->groups[i];
        for (size_t k = 0; k < g->ntxn; k++) {
            const struct group_txn_offset *t = &g->txn[k];
            const struct group_committed *c = group_committed_find(g, t->topic, t->partition);
            if (c != NULL && c->seq > t->value.seq) {
                continue;
            }
            struct recs r = {0};
            struct kstr topic = {t->topic, (int32_t)strlen(t->topic)};
            offset_key(&r.keys, g->id, topic, t->partition);
            offset_value(&r.values, t->value.offset, t->value.leader_epoch,
                         t->value.metadata ? (struct kstr){t->value.metadata,
                                                           (int32_t)strlen(t->value.metadata)}
                                           : (struct kstr){"", 0},
                         t->value.commit_ts);
            int rc = recs_push(&r) == 0 ? append_all(log, &r, t->producer_id, t->producer_epoch)
                                        : -1;
            recs_free(&r);
            if (rc != 0) {
                return -1;
            }
            (*written)++;
        }
    }
    return 0;
}

/* Adds every live record of the coordinator to r. */
static int recs_snapshot(struct broker *b, struct recs *r)
{
    struct group_coordinator *gc = b->groups;
    for (size_t i = 0; i < gc->ngroups; i++) {
        const struct group *g = gc->groups[i];
        if (g->protocol_type != NULL || g->generation > 0 || g->nmembers > 0) {
            group_key(&r->keys, g->id);
            group_write_metadata(g, &r->values);
            if (recs_push(r) != 0) {
                return -1;
            }
        }
        for (size_t t = 0; t < g->ntopics; t++) {
            const struct group_topic *gt = &g->topics[t];
            for (int32_t p = 0; p < gt->npartitions; p++) {
                const struct group_committed *c = &gt->parts[p];
                if (c->offset < 0) {
                    continue;
                }
                offset_key(&r->keys, g->id, (struct kstr){gt->name, (int32_t)strlen(gt->name)}, p);
                offset_value(&r->values, c->offset, c->leader_epoch,
                             c->metadata ? (struct kstr){c->metadata, (int32_t)strlen(c->metadata)}
                                         : (struct kstr){"", 0},
                             c->commit_ts);
                if (recs_push(r) != 0) {
                    return -1;
                }
            }
        }
    }
    return 0;
}

/* --- replay ------------------------------------------------------------------------------ */

int offsets_log_apply(struct broker *b, const uint8_t *key, int32_t key_len, const uint8_t *value,
                      int32_t value_len, int64_t producer_id, int16_t producer_epoch)
{
    struct krd k;
    krd_init(&k, key, key_len > 0 ? (size_t)key_len : 0);
    int16_t kv = kr_i16(&k);
    struct kstr gid = kr_str(&k, 0);
    if (k.err || gid.len < 0) {
        return -1;
    }
    if (kv == KEY_GROUP) {
        struct group *g = group_find(b, gid);
        if (value == NULL) {
            if (g != NULL) {
                group_forget(b, g);
            }
            return 0;
        }
        if (g == NULL && (g = group_get_or_create(b, gid)) == NULL) {
            return -1;
        }
        struct krd v;
        krd_init(&v, value, (size_t)value_len);
        return group_apply_metadata(b, g, &v);
    }
    if (kv != 0 && kv != KEY_OFFSET) {
        return -1;
    }
    struct kstr topic = kr_str(&k, 0);
    int32_t partition = kr_i32(&k);
    char name[TOPIC_NAME_MAX + 1];
    if (k.err || kstr_copy(topic, name, sizeof(name)) != 0) {
        return -1;
    }
    struct group *g = group_find(b, gid);
    if (value == NULL) {
        if (g != NULL) {
            struct group_committed *c = group_committed_slot(g, name, partition);
            if (c != NULL) {
                free(c->metadata);
                *c = (struct group_committed){.offset = -1, .leader_epoch = -1};
            }
        }
        return 0;
    }
    struct krd v;
    krd_init(&v, value, (size_t)value_len);
    int16_t vv = kr_i16(&v);
    int64_t offset = kr_i64(&v);
    int32_t epoch = vv >= 3 ? kr_i32(&v) : -1;
    struct kstr md = kr_str(&v, 0);
    int64_t ts = kr_i64(&v);
    if (v.err || vv < 0 || vv > 3) {
        return -1;
    }
    if (g == NULL && (g = group_get_or_create(b, gid)) == NULL) {
        return -1;
    }
    char *metadata = NULL;
    if (md.len > 0 && (metadata = malloc((size_t)md.len + 1)) != NULL) {
        memcpy(metadata, md.p, (size_t)md.len);
        metadata[md.len] = '\0';
    }
    if (producer_id >= 0) {
        struct group_committed v = {.offset = offset, .leader_epoch = epoch, .commit_ts = ts,
                                    .metadata = metadata};
        int rc = group_txn_offset_put(b, g, producer_id, producer_epoch, name, partition, &v);
        free(metadata);
        return rc;
    }
    struct group_committed *c = group_committed_slot(g, name, partition);
    if (c == NULL) {
        free(metadata);
        return -1;
    }
    free(c->metadata);
    c->metadata = metadata;
    c->offset = offset;
    c->leader_epoch = epoch;
    c->commit_ts = ts;
    c->seq = ++b->groups->seq;
    return 0;
}

struct replay_ctx {
    struct broker *b;
    int64_t records;
    int64_t bad;
    const struct batch_hdr *h; /* the batch being replayed */
};

static int replay_record(const struct batch_record *rec, void *arg)
{
    struct replay_ctx *rc = arg;
    const struct batch_hdr *h = rc->h;
    rc->records++;
    if (h->attributes & BATCH_ATTR_CONTROL) {
        struct krd k;
        krd_init(&k, rec->key, rec->key_len > 0 ? (size_t)rec->key_len : 0);
        (void)kr_i16(&k);
        int16_t type = kr_i16(&k);
        if (k.err || (type != 0 && type != 1)) {
            rc->bad++;
        } else {
            group_txn_end_memory(rc->b, h->producer_id, type == 1);
        }
        return 0;
    }
    int64_t pid = (h->attributes & BATCH_ATTR_TRANSACTIONAL) ? h->producer_id : -1;
    if (offsets_log_apply(rc->b, rec->key, rec->key_len, rec->value, rec->value_len, pid,
                          h->producer_epoch) != 0) {
        rc->bad++;
    }
    return 0;
}

static int replay(struct broker *b, struct plog *log, int64_t *records, char *errstr,
                  size_t errstr_size)
{
    struct replay_ctx rc = {.b = b};
    int64_t offset = plog_start_offset(log);
    int64_t end = plog_end_offset(log);
    struct kbuf buf = {0};
    while (offset < end) {
        buf.len = 0;
        size_t copied = 0;
        if (plog_read(log, offset, 1 << 20, 1, &buf, &copied) != 0 || copied == 0) {
            snprintf(errstr, errstr_size, "cannot read the offsets log at offset %" PRId64, offset);
            kbuf_free(&buf);
            return -1;
        }
        size_t pos = 0;
        while (pos + BATCH_HEADER_SIZE <= copied) {
            struct batch_hdr h;
            batch_hdr_parse(buf.data + pos, &h);
            size_t total = batch_total_size(&h);
            if (total > copied - pos) {
                break;
            }
            if (h.base_offset + h.last_offset_delta >= offset) {
                rc.h = &h;
                batch_records_foreach(buf.data + pos, total, replay_record, &rc);
            }
            offset = h.base_offset + h.last_offset_delta + 1;
            pos += total;
        }
    }
    kbuf_free(&buf);
    if (rc.bad > 0) {
        char n[32];
        snprintf(n, sizeof(n), "%" PRId64, rc.bad);
        bc_log(BC_LOG_WARN, "offsets log: records skipped (unreadable)", "records", n, NULL);
    }
    *records = rc.records;
    return 0;
}

/* --- the log ----------------------------------------------------------------------------- */

static int open_log(const char *dir, struct plog **out, char *errstr, size_t errstr_size)
{
    struct plog_opts lo = {.segment_bytes = SEGMENT_BYTES, .index_interval = 4096};
    int64_t truncated = 0;
    if (plog_open(out, dir, &lo, NULL, NULL, &truncated, errstr, errstr_size) != 0) {
        return -1;
    }
    if (truncated > 0) {
        char n[32];
        snprintf(n, sizeof(n), "%" PRId64, truncated);
        bc_log(BC_LOG_WARN, "offsets log: recovery truncated a torn tail", "bytes", n, NULL);
    }
    return 0;
}

static int64_t live_records(struct broker *b)
{
    struct group_coordinator *gc = b->groups;
    int64_t n = 0;
    for (size_t i = 0; i < gc->ngroups; i++) {
        const struct group *g = gc->groups[i];
        n += 1 + (int64_t)g->ntxn;
        for (size_t t = 0; t < g->ntopics; t++) {
            for (int32_t p = 0; p < g->topics[t].npartitions; p++) {
                n += g->topics[t].parts[p].offset >= 0;
            }
        }
    }
    return n;
}

/* Rewrites the log with only the live records (see the top of the file). */
static int rewrite(struct broker *b)
{
    struct group_coordinator *gc = b->groups;
    char dir[4200], tmp[4200], old[4200], err[512];
    paths(b, dir, tmp, old, sizeof(dir));
    remove_dir(tmp);
    struct plog *nlog = NULL;
    struct recs r = {0};
    int64_t t0 = now_ms();
    size_t ntxn = 0;
    if (open_log(tmp, &nlog, err, sizeof(err)) != 0 || recs_snapshot(b, &r) != 0 ||
        append_all(nlog, &r, -1, -1) != 0 || snapshot_txn(b, nlog, &ntxn) != 0 ||
        plog_sync(nlog) != 0) {
        bc_log(BC_LOG_ERROR, "offsets log: rewrite failed", "error", err, NULL);
        plog_close(nlog);
        remove_dir(tmp);
        recs_free(&r);
        return -1;
    }
    plog_close(nlog);
    plog_sync(gc->log);
    plog_close(gc->log);
    gc->log = NULL;
    if (rename(dir, old) != 0 || rename(tmp, dir) != 0) {
        bc_log(BC_LOG_ERROR, "offsets log: rewrite rename failed", "error", strerror(errno), NULL);
    }
    remove_dir(old);
    if (open_log(dir, &gc->log, err, sizeof(err)) != 0) {
        bc_log(BC_LOG_ERROR, "offsets log: cannot reopen", "error", err, NULL);
        recs_free(&r);
        return -1;
    }
    char before[32], after[32], ms[32];
    snprintf(before, sizeof(before), "%" PRId64, gc->log_records);
    snprintf(after, sizeof(after), "%zu", r.n + ntxn);
    snprintf(ms, sizeof(ms), "%" PRId64, now_ms() - t0);
    bc_log(BC_LOG_INFO, "offsets log compacted", "records_before", before, "records_after", after,
           "ms", ms, NULL);
    gc->log_records = (int64_t)(r.n + ntxn);
    recs_free(&r);
    return 0;
}

static void maybe_rewrite(struct broker *b)
{
    struct group_coordinator *gc = b->groups;
    if (gc->log_records < gc->next_check) {
        return;
    }
    int64_t live = live_records(b);
    if (gc->log_records >= REWRITE_MIN_RECORDS && gc->log_records > 2 * live) {
        rewrite(b);
    }
    gc->next_check = gc->log_records + (live > REWRITE_MIN_RECORDS ? live : REWRITE_MIN_RECORDS);
}

static void sync_tick(struct broker *b, struct timer *t)
{
    struct group_coordinator *gc = b->groups;
    if (gc->log_dirty && gc->log != NULL) {
        plog_sync(gc->log);
        gc->log_dirty = 0;
    }
    timer_add(&b->timers, t, now_ms() + b->opts.fsync_interval_ms, sync_tick);
}

int offsets_log_open(struct broker *b, char *errstr, size_t errstr_size)
{
    struct group_coordinator *gc = b->groups;
    char dir[4200], tmp[4200], old[4200];
    paths(b, dir, tmp, old, sizeof(dir));
    if (!exists(dir) && exists(tmp) && exists(old)) {
        /* A rewrite stopped between its two renames: the new log is complete. */
        if (rename(tmp, dir) != 0) {
            snprintf(errstr, errstr_size, "%s: %s", tmp, strerror(errno));
            return -1;
        }
    }
    remove_dir(tmp);
    remove_dir(old);
    if (open_log(dir, &gc->log, errstr, errstr_size) != 0) {
        return -1;
    }
    gc->replaying = 1;
    int rc = replay(b, gc->log, &gc->log_records, errstr, errstr_size);
    gc->replaying = 0;
    if (rc != 0) {
        return -1;
    }
    char n[32], g[32];
    snprintf(n, sizeof(n), "%" PRId64, gc->log_records);
    snprintf(g, sizeof(g), "%zu", gc->ngroups);
    bc_log(BC_LOG_INFO, "offsets log replayed", "records", n, "groups", g, NULL);
    maybe_rewrite(b);
    if (b->opts.fsync == FSYNC_INTERVAL) {
        timer_add(&b->timers, &gc->sync_timer, now_ms() + b->opts.fsync_interval_ms, sync_tick);
    }
    return 0;
}

void offsets_log_close(struct broker *b)
{
    struct group_coordinator *gc = b->groups;
    if (gc == NULL) {
        return;
    }
    timer_cancel(&b->timers, &gc->sync_timer);
    if (gc->log != NULL) {
        plog_sync(gc->log);
        plog_close(gc->log);
        gc->log = NULL;
    }
}

static int append_txn(struct broker *b, struct recs *r, int64_t producer_id,
                      int16_t producer_epoch)
{
    struct group_coordinator *gc = b->groups;
    if (gc->log == NULL || append_all(gc->log, r, producer_id, producer_epoch) != 0) {
        bc_log(BC_LOG_ERROR, "offsets log: append failed", NULL);
        return -1;
    }
    gc->log_records += (int64_t)r->n;
    gc->log_dirty = 1;
    if (b->opts.fsync == FSYNC_ALWAYS) {
        if (plog_sync(gc->log) != 0) {
            return -1;
        }
        gc->log_dirty = 0;
    }
    return 0;
}

static int append(struct broker *b, struct recs *r)
{
    return append_txn(b, r, -1, -1);
}

static int append_commit(struct broker *b, const struct group *g, int64_t producer_id,
                         int16_t producer_epoch, const struct group_offset_commit *c, size_t n);

int offsets_log_append_commit(struct broker *b, const struct group *g,
                              const struct group_offset_commit *c, size_t n)
{
    return append_commit(b, g, -1, -1, c, n);
}

int offsets_log_append_txn(struct broker *b, const struct group *g, int64_t producer_id,
                           int16_t producer_epoch, const struct group_offset_commit *c, size_t n)
{
    return append_commit(b, g, producer_id, producer_epoch, c, n);
}

int offsets_log_append_marker(struct broker *b, int64_t producer_id, int16_t producer_epoch,
                              int commit)
{
    struct group_coordinator *gc = b->groups;
    struct kbuf key = {0}, value = {0}, out = {0};
    kw_i16(&key, 0); /* control record key: version 0, type (0 abort, 1 commit) */
    kw_i16(&key, commit ? 1 : 0);
    kw_i16(&value, 0); /* marker value: version 0, coordinator epoch */
    kw_i32(&value, 0);
    struct batch_record rec = {.timestamp = now_ms(), .key = key.data, .key_len = (int32_t)key.len,
                               .value = value.data, .value_len = (int32_t)value.len};
    batch_build(&out, 0, BATCH_ATTR_TRANSACTIONAL | BATCH_ATTR_CONTROL, producer_id,
                producer_epoch, -1, &rec, 1);
    int64_t base;
    int rc = out.oom || key.oom || value.oom || gc->log == NULL
                 ? -1
                 : plog_append(gc->log, out.data, out.len, &base);
    kbuf_free(&key);
    kbuf_free(&value);
    kbuf_free(&out);
    if (rc != 0) {
        bc_log(BC_LOG_ERROR, "offsets log: marker append failed", NULL);
        return -1;
    }
    gc->log_records++;
    gc->log_dirty = 1;
    if (b->opts.fsync == FSYNC_ALWAYS) {
        if (plog_sync(gc->log) != 0) {
            return -1;
        }
        gc->log_dirty = 0;
    }
    return 0;
}

static int append_commit(struct broker *b, const struct group *g, int64_t producer_id,
                         int16_t producer_epoch, const struct group_offset_commit *c, size_t n)
{
    struct recs r = {0};
    int64_t now = now_ms();
    for (size_t i = 0; i < n; i++) {
        if (c[i].error != KERR_NONE) {
            continue;
        }
        offset_key(&r.keys, g->id, c[i].topic, c[i].partition);
        offset_value(&r.values, c[i].offset, c[i].leader_epoch, c[i].metadata, now);
        if (recs_push(&r) != 0) {
            recs_free(&r);
            return -1;
        }
    }
    int rc = r.n > 0 ? append_txn(b, &r, producer_id, producer_epoch) : 0;
    recs_free(&r);
    if (rc == 0) {
        maybe_rewrite(b);
    }
    return rc;
}

int offsets_log_append_group(struct broker *b, const struct group *g, int deleted)
{
    struct recs r = {0};
    group_key(&r.keys, g->id);
    if (!deleted) {
        group_write_metadata(g, &r.values);
    }
    int rc = recs_push(&r);
    if (deleted) {
        r.null_value[r.n - 1] = 1;
        for (size_t t = 0; rc == 0 && t < g->ntopics; t++) {
            const struct group_topic *gt = &g->topics[t];
            for (int32_t p = 0; rc == 0 && p < gt->npartitions; p++) {
                if (gt->parts[p].offset < 0) {
                    continue;
                }
                offset_key(&r.keys, g->id, (struct kstr){gt->name, (int32_t)strlen(gt->name)}, p);
                rc = recs_push(&r);
                if (rc == 0) {
                    r.null_value[r.n - 1] = 1;
                }
            }
        }
    }
    if (rc == 0) {
        rc = append(b, &r);
    }
    recs_free(&r);
    return rc;
}

int offsets_log_append_topic_deleted(struct broker *b, const struct group *g, const char *topic)
{
    struct recs r = {0};
    int rc = 0;
    for (size_t t = 0; rc == 0 && t < g->ntopics; t++) {
        const struct group_topic *gt = &g->topics[t];
        if (strcmp(gt->name, topic) != 0) {
            continue;
        }
        for (int32_t p = 0; rc == 0 && p < gt->npartitions; p++) {
            if (gt->parts[p].offset < 0) {
                continue;
            }
            offset_key(&r.keys, g->id, (struct kstr){gt->name, (int32_t)strlen(gt->name)}, p);
            rc = recs_push(&r);
            if (rc == 0) {
                r.null_value[r.n - 1] = 1;
            }
        }
    }
    if (rc == 0 && r.n > 0) {
        rc = append(b, &r);
    }
    recs_free(&r);
    return rc;
}
