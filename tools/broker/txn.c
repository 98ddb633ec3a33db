/*
 * The transaction coordinator, transaction markers, the last stable offset and the
 * aborted-transaction index (txn.h). State transitions and error codes follow Kafka's
 * TransactionCoordinator and TransactionMetadata.
 */
#include "txn.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bc_log.h"
#include "broker.h"

#define TXN_LOG_VERSION 1
#define EPOCH_EXHAUSTED 32766     /* Short.MaxValue - 1 */
#define REWRITE_MIN_RECORDS 10000 /* the state log is rewritten past this and 4x the live ids */

/* --- per partition ------------------------------------------------------------------------ */

int64_t txn_partition_lso(struct partition *p)
{
    int64_t lso = plog_end_offset(p->log);
    for (size_t i = 0; i < p->producers.n; i++) {
        int64_t first = p->producers.v[i].txn_first_offset;
        if (first >= 0 && first < lso) {
            lso = first;
        }
    }
    return lso;
}

static int aborted_push(struct aborted_txn **v, size_t *n, size_t *cap, struct aborted_txn a)
{
    if (*n == *cap) {
        size_t c = *cap ? *cap * 2 : 16;
        struct aborted_txn *nv = realloc(*v, c * sizeof(*nv));
        if (nv == NULL) {
            return -1;
        }
        *v = nv;
        *cap = c;
    }
    (*v)[(*n)++] = a;
    return 0;
}

void txn_partition_note(struct partition *p, const struct batch_hdr *h, int control_type)
{
    if (!(h->attributes & BATCH_ATTR_TRANSACTIONAL) || h->producer_id < 0) {
        return;
    }
    struct producer_entry *e = producer_find(&p->producers, h->producer_id);
    if (e == NULL) {
        return;
    }
    if (h->attributes & BATCH_ATTR_CONTROL) {
        if (e->txn_first_offset >= 0 && control_type == CONTROL_ABORT) {
            struct aborted_txn a = {h->producer_id, e->txn_first_offset, h->base_offset};
            struct partition_txn *pt = &p->txn;
            /* entries whose records retention deleted are of no use any more */
            int64_t start = plog_start_offset(p->log);
            size_t gone = 0;
            while (gone < pt->naborted && pt->aborted[gone].last_offset < start) {
                gone++;
            }
            if (gone > 0) {
                memmove(pt->aborted, pt->aborted + gone,
                        (pt->naborted - gone) * sizeof(*pt->aborted));
                pt->naborted -= gone;
            }
            if (aborted_push(&pt->aborted, &pt->naborted, &pt->capaborted, a) != 0) {
                bc_log(BC_LOG_ERROR, "out of memory for the aborted-transaction index", "topic",
                       p->topic->name, NULL);
            }
        }
        e->txn_first_offset = -1;
    } else if (e->txn_first_offset < 0) {
        e->txn_first_offset = h->base_offset;
    }
}

void txn_partition_scan(struct partition *p, const struct batch_hdr *h)
{
    if (!(h->attributes & BATCH_ATTR_TRANSACTIONAL) || h->producer_id < 0) {
        return;
    }
    struct producer_entry *e = producer_find(&p->producers, h->producer_id);
    if (e == NULL) {
        return;
    }
    if (h->attributes & BATCH_ATTR_CONTROL) {
        if (e->txn_first_offset >= 0) {
            struct aborted_txn a = {h->producer_id, e->txn_first_offset, h->base_offset};
            struct partition_txn *pt = &p->txn;
            (void)aborted_push(&pt->markers, &pt->nmarkers, &pt->capmarkers, a);
        }
        e->txn_first_offset = -1;
    } else if (e->txn_first_offset < 0) {
        e->txn_first_offset = h->base_offset;
    }
}

int txn_control_type(const uint8_t *p, size_t n)
{
    struct batch_hdr h;
    if (n < BATCH_HEADER_SIZE) {
        return -1;
    }
    batch_hdr_parse(p, &h);
    if (!(h.attributes & BATCH_ATTR_CONTROL) || h.record_count < 1 ||
        (h.attributes & BATCH_ATTR_COMPRESSION)) {
        return -1;
    }
    /* One record: length, attributes, timestamp delta, offset delta, key length, key. */
    struct krd r;
    krd_init(&r, p + BATCH_HEADER_SIZE, n - BATCH_HEADER_SIZE);
    (void)kr_varint(&r);
    (void)kr_i8(&r);
    (void)kr_varlong(&r);
    (void)kr_varint(&r);
    int32_t klen = kr_varint(&r);
    if (r.err || klen < 4) {
        return -1;
    }
    (void)kr_i16(&r); /* version */
    int16_t type = kr_i16(&r);
    return r.err ? -1 : type;
}

int txn_partition_recovered(struct partition *p)
{
    struct partition_txn *pt = &p->txn;
    int rc = 0;
    for (size_t i = 0; i < pt->nmarkers; i++) {
        struct kbuf buf = {0};
        size_t copied = 0;
        int type = -1;
        if (plog_read(p->log, pt->markers[i].last_offset, 256, 1, &buf, &copied) == 0 &&
            copied >= BATCH_HEADER_SIZE) {
            type = txn_control_type(buf.data, copied);
        }
        kbuf_free(&buf);
        if (type == CONTROL_ABORT &&
            aborted_push(&pt->aborted, &pt->naborted, &pt->capaborted, pt->markers[i]) != 0) {
            rc = -1;
        }
    }
    free(pt->markers);
    pt->markers = NULL;
    pt->nmarkers = pt->capmarkers = 0;
    return rc;
}

void txn_partition_free(struct partition *p)
{
    free(p->txn.aborted);
    free(p->txn.markers);
    memset(&p->txn, 0, sizeof(p->txn));
}

void txn_partition_write_aborted(struct partition *p, int64_t from, int64_t to, struct kbuf *w,
                                 int flex)
{
    const struct partition_txn *pt = &p->txn;
    /* The first entry whose marker is at or after `from` (ordered by last_offset). */
    size_t lo = 0, hi = pt->naborted;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (pt->aborted[mid].last_offset < from) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    int32_t n = 0;
    for (size_t i = lo; i < pt->naborted; i++) {
        if (pt->aborted[i].first_offset < to) {
            n++;
        }
    }
    kw_array(w, n, flex);
    for (size_t i = lo; i < pt->naborted; i++) {
        if (pt->aborted[i].first_offset < to) {
            kw_i64(w, pt->aborted[i].producer_id);
            kw_i64(w, pt->aborted[i].first_offset);
            kw_tags(w, flex);
        }
    }
}

/* --- coordinator: lookups and memory -------------------------------------------------------- */

struct txn *txn_find(struct broker *b, struct kstr id)
{
    struct txn_coordinator *tc = b->txns;
    for (size_t i = 0; tc != NULL && i < tc->n; i++) {
        if (id.len >= 0 && strlen(tc->v[i]->id) == (size_t)id.len &&
            memcmp(tc->v[i]->id, id.p, (size_t)id.len) == 0) {
            return tc->v[i];
        }
    }
    return NULL;
}

struct txn *txn_find_by_producer(struct broker *b, int64_t producer_id)
{
    struct txn_coordinator *tc = b->txns;
    for (size_t i = 0; tc != NULL && i < tc->n; i++) {
        if (tc->v[i]->producer_id == producer_id) {
            return tc->v[i];
        }
    }
    return NULL;
}

static void txn_clear(struct txn *t)
{
    for (size_t i = 0; i < t->nparts; i++) {
        free(t->parts[i].topic);
    }
    t->nparts = 0;
    for (size_t i = 0; i < t->ngroups; i++) {
        free(t->groups[i]);
    }
    t->ngroups = 0;
}

static void txn_free(struct txn *t)
{
    if (t == NULL) {
        return;
    }
    txn_clear(t);
    if (t->b != NULL) {
        timer_cancel(&t->b->timers, &t->timer);
    }
    free(t->parts);
    free(t->groups);
    free(t->id);
    free(t);
}

static struct txn *txn_new(struct broker *b, const char *id, size_t len)
{
    struct txn_coordinator *tc = b->txns;
    if (tc->n == tc->cap) {
        size_t cap = tc->cap ? tc->cap * 2 : 16;
        struct txn **v = realloc(tc->v, cap * sizeof(*v));
        if (v == NULL) {
            return NULL;
        }
        tc->v = v;
        tc->cap = cap;
    }
    struct txn *t = calloc(1, sizeof(*t));
    if (t == NULL || (t->id = strndup(id, len)) == NULL) {
        free(t);
        return NULL;
    }
    t->b = b;
    t->producer_id = -1;
    t->last_producer_id = -1;
    t->epoch = -1;
    t->last_epoch = -1;
    t->state = TXN_EMPTY;
    tc->v[tc->n++] = t;
    return t;
}

/* --- persistence ----------------------------------------------------------------------------- */

static void txn_encode(const struct txn *t, struct kbuf *w)
{
    kw_i16(w, TXN_LOG_VERSION);
    kw_i64(w, t->producer_id);
    kw_i64(w, t->last_producer_id);
    kw_i16(w, t->epoch);
    kw_i16(w, t->last_epoch);
    kw_i32(w, t->timeout_ms);
    kw_i8(w, (int8_t)t->state);
    kw_i64(w, t->start_ms);
    kw_i32(w, (int32_t)t->nparts);
    for (size_t i = 0; i < t->nparts; i++) {
        kw_str(w, t->parts[i].topic, -1, 0);
        kw_i32(w, t->parts[i].partition);
    }
    kw_i32(w, (int32_t)t->ngroups);
    for (size_t i = 0; i < t->ngroups; i++) {
        kw_str(w, t->groups[i], -1, 0);
    }
}

static int tp_push(struct txn *t, const char *topic, size_t len, int32_t partition)
{
    for (size_t i = 0; i < t->nparts; i++) {
        if (t->parts[i].partition == partition && strlen(t->parts[i].topic) == len &&
            memcmp(t->parts[i].topic, topic, len) == 0) {
            return 0;
        }
    }
    if (t->nparts == t->capparts) {
        size_t cap = t->capparts ? t->capparts * 2 : 8;
        struct txn_tp *v = realloc(t->parts, cap * sizeof(*v));
        if (v == NULL) {
            return -1;
        }
        t->parts = v;
        t->capparts = cap;
    }
    char *name = strndup(topic, len);
    if (name == NULL) {
        return -1;
    }
    t->parts[t->nparts++] = (struct txn_tp){name, partition};
    return 0;
}

static int group_push(struct txn *t, const char *group, size_t len)
{
    for (size_t i = 0; i < t->ngroups; i++) {
        if (strlen(t->groups[i]) == len && memcmp(t->groups[i], group, len) == 0) {
            return 0;
        }
    }
    if (t->ngroups == t->capgroups) {
        size_t cap = t->capgroups ? t->capgroups * 2 : 4;
        char **v = realloc(t->groups, cap * sizeof(*v));
        if (v == NULL) {
            return -1;
        }
        t->groups = v;
        t->capgroups = cap;
    }
    if ((t->groups[t->ngroups] = strndup(group, len)) == NULL) {
        return -1;
    }
    t->ngroups++;
    return 0;
}

/* Applies one txn-state record (replay). Returns 0 or -1. */
static int txn_decode(struct broker *b, const uint8_t *key, int32_t klen, const uint8_t *val,
                      int32_t vlen)
{
    if (key == NULL || klen <= 0) {
        return -1;
    }
    struct txn *t = txn_find(b, (struct kstr){(const char *)key, klen});
    if (val == NULL) {
        return 0; /* tombstones are not written (yet) */
    }
    if (t == NULL && (t = txn_new(b, (const char *)key, (size_t)klen)) == NULL) {
        return -1;
    }
    txn_clear(t);
    struct krd r;
    krd_init(&r, val, (size_t)vlen);
    if (kr_i16(&r) != TXN_LOG_VERSION) {
        return -1;
    }
    t->producer_id = kr_i64(&r);
    t->last_producer_id = kr_i64(&r);
    t->epoch = kr_i16(&r);
    t->last_epoch = kr_i16(&r);
    t->timeout_ms = kr_i32(&r);
    t->state = (enum txn_state)kr_i8(&r);
    t->start_ms = kr_i64(&r);
    int32_t n = kr_i32(&r);
    for (int32_t i = 0; i < n && !r.err; i++) {
        struct kstr topic = kr_str(&r, 0);
        int32_t part = kr_i32(&r);
        if (!r.err && topic.len >= 0 && tp_push(t, topic.p, (size_t)topic.len, part) != 0) {
            return -1;
        }
    }
    n = kr_i32(&r);
    for (int32_t i = 0; i < n && !r.err; i++) {
        struct kstr g = kr_str(&r, 0);
        if (!r.err && g.len >= 0 && group_push(t, g.p, (size_t)g.len) != 0) {
            return -1;
        }
    }
    if (t->producer_id >= b->next_producer_id) {
        b->next_producer_id = t->producer_id + 1;
    }
    return r.err ? -1 : 0;
}

/* Appends t's state record to log. Returns 0 or -1. */
static int txn_append(struct plog *log, const struct txn *t)
{
    struct kbuf val = {0}, batch = {0};
    txn_encode(t, &val);
    struct batch_record rec = {
        .timestamp = now_ms(),
        .key = (const uint8_t *)t->id,
        .key_len = (int32_t)strlen(t->id),
        .value = val.data,
        .value_len = (int32_t)val.len,
    };
    batch_build(&batch, 0, 0, -1, -1, -1, &rec, 1);
    int64_t off;
    int rc = !val.oom && !batch.oom && plog_append(log, batch.data, batch.len, &off) == 0 ? 0 : -1;
    kbuf_free(&val);
    kbuf_free(&batch);
    return rc;
}

static void state_paths(const struct broker *b, char *dir, char *tmp, char *old, size_t cap)
{
    snprintf(dir, cap, "%s/meta/txn-state", b->opts.data_dir);
    snprintf(tmp, cap, "%s/meta/txn-state.new", b->opts.data_dir);
    snprintf(old, cap, "%s/meta/txn-state.old", b->opts.data_dir);
}

static void remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL) {
        return;
    }
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0) {
            char path[4400];
            snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
            unlink(path);
        }
    }
    closedir(d);
    rmdir(dir);
}

static int open_state_log(const char *dir, struct plog **out, char *errstr, size_t errstr_size)
{
    struct plog_opts lo = {.segment_bytes = 64 << 20, .index_interval = 4096};
    int64_t truncated = 0;
    return plog_open(out, dir, &lo, NULL, NULL, &truncated, errstr, errstr_size);
}

/* Replaces the state log by one holding only the current state of every transactional id:
 * written to txn-state.new, synced, then swapped in by two renames (startup finishes a swap
 * cut short by a crash). */
static void txn_rewrite(struct broker *b)
{
    struct txn_coordinator *tc = b->txns;
    char dir[4200], tmp[4200], old[4200], err[512] = "";
    state_paths(b, dir, tmp, old, sizeof(dir));
    remove_dir(tmp);
    struct plog *nlog = NULL;
    int rc = open_state_log(tmp, &nlog, err, sizeof(err));
    for (size_t i = 0; rc == 0 && i < tc->n; i++) {
        rc = txn_append(nlog, tc->v[i]);
    }
    if (rc != 0 || plog_sync(nlog) != 0) {
        bc_log(BC_LOG_ERROR, "transaction state log: rewrite failed", "error", err, NULL);
        plog_close(nlog);
        remove_dir(tmp);
        return;
    }
    plog_close(nlog);
    plog_sync(tc->log);
    plog_close(tc->log);
    tc->log = NULL;
    if (rename(dir, old) != 0 || rename(tmp, dir) != 0) {
        bc_log(BC_LOG_ERROR, "transaction state log: rename failed", "error", strerror(errno),
               NULL);
    }
    remove_dir(old);
    if (open_state_log(dir, &tc->log, err, sizeof(err)) != 0) {
        bc_log(BC_LOG_ERROR, "transaction state log: cannot reopen", "error", err, NULL);
        return;
    }
    char before[32], after[32];
    snprintf(before, sizeof(before), "%" PRId64, tc->records);
    snprintf(after, sizeof(after), "%zu", tc->n);
    bc_log(BC_LOG_INFO, "transaction state log compacted", "records_before", before,
           "records_after", after, NULL);
    tc->records = (int64_t)tc->n;
}

/* Writes t's state to the txn-state log. Returns 0 or -1. */
static int txn_save(struct broker *b, struct txn *t)
{
    struct txn_coordinator *tc = b->txns;
    int rc = tc->log != NULL ? txn_append(tc->log, t) : -1;
    if (rc == 0) {
        tc->records++;
        if (b->opts.fsync == FSYNC_ALWAYS) {
            plog_sync(tc->log);
        }
        if (tc->records >= REWRITE_MIN_RECORDS && tc->records > 4 * (int64_t)tc->n) {
            txn_rewrite(b);
        }
    }
    if (rc != 0) {
        bc_log(BC_LOG_ERROR, "cannot write the transaction state log", "transactional_id", t->id,
               NULL);
    }
    return rc;
}

struct replay_ctx {
    struct broker *b;
    int bad;
};

static int replay_record(const struct batch_record *rec, void *arg)
{
    struct replay_ctx *rc = arg;
    if (txn_decode(rc->b, rec->key, rec->key_len, rec->value, rec->value_len) != 0) {
        rc->bad++;
    }
    rc->b->txns->records++;
    return 0;
}

static int txn_replay(struct broker *b)
{
    struct plog *log = b->txns->log;
    int64_t off = plog_start_offset(log);
    struct replay_ctx ctx = {b, 0};
    while (off < plog_end_offset(log)) {
        struct kbuf buf = {0};
        size_t copied = 0;
        if (plog_read(log, off, 1 << 20, 1, &buf, &copied) != 0 || copied == 0) {
            kbuf_free(&buf);
            return -1;
        }
        size_t pos = 0;
        while (pos + BATCH_HEADER_SIZE <= copied) {
            struct batch_hdr h;
            batch_hdr_parse(buf.data + pos, &h);
            size_t n = batch_total_size(&h);
            if (batch_records_foreach(buf.data + pos, n, replay_record, &ctx) < 0) {
                ctx.bad++;
            }
            off = h.base_offset + h.last_offset_delta + 1;
            pos += n;
        }
        kbuf_free(&buf);
    }
    if (ctx.bad > 0) {
        char n[16];
        snprintf(n, sizeof(n), "%d", ctx.bad);
        bc_log(BC_LOG_WARN, "unreadable records in the transaction state log", "records", n, NULL);
    }
    return 0;
}

/* --- markers and transitions ------------------------------------------------------------- */

/* Appends a COMMIT or ABORT marker of producer pid/epoch to p. Returns 0 or -1. */
static int write_marker(struct broker *b, struct partition *p, int64_t pid, int16_t epoch, int type)
{
    uint8_t key[4] = {0, 0, 0, (uint8_t)type};
    uint8_t value[6] = {0, 0, 0, 0, 0, 0}; /* version 0, coordinator epoch 0 */
    struct batch_record rec = {
        .timestamp = now_ms(), .key = key, .key_len = 4, .value = value, .value_len = 6};
    struct kbuf buf = {0};
    batch_build(&buf, 0, BATCH_ATTR_TRANSACTIONAL | BATCH_ATTR_CONTROL, pid, epoch, -1, &rec, 1);
    int64_t off = -1;
    if (buf.oom || plog_append(p->log, buf.data, buf.len, &off) != 0) {
        bc_log(BC_LOG_ERROR, "cannot write a transaction marker", "topic", p->topic->name, NULL);
        kbuf_free(&buf);
        return -1;
    }
    struct batch_hdr h;
    batch_hdr_parse(buf.data, &h);
    producer_update(&p->producers, &h);
    txn_partition_note(p, &h, type);
    if (b->opts.fsync == FSYNC_ALWAYS) {
        plog_sync(p->log);
    }
    kbuf_free(&buf);
    b->data_appended = 1; /* the LSO moved: wake read_committed fetches */
    return 0;
}

/* Writes a COMMIT or ABORT marker with t's producer id and epoch to every partition of t. */
static void txn_write_markers(struct broker *b, struct txn *t, int type)
{
    for (size_t i = 0; i < t->nparts; i++) {
        struct kstr name = {t->parts[i].topic, (int32_t)strlen(t->parts[i].topic)};
        struct partition *p = broker_partition_find(b, name, t->parts[i].partition);
        if (p != NULL) { /* else deleted since */
            (void)write_marker(b, p, t->producer_id, t->epoch, type);
        }
    }
}

/* Aborts the transactions open in partition logs that the coordinator does not know as
 * Ongoing (a hanging transaction: its state was lost), so no LSO stays stuck. */
static void txn_abort_hanging(struct broker *b)
{
    for (size_t i = 0; i < b->ntopics; i++) {
        struct topic *tp = b->topics[i];
        for (int32_t j = 0; j < tp->npartitions; j++) {
            struct partition *p = &tp->partitions[j];
            for (size_t k = 0; k < p->producers.n; k++) {
                struct producer_entry *e = &p->producers.v[k];
                if (e->txn_first_offset < 0) {
                    continue;
                }
                struct txn *t = txn_find_by_producer(b, e->producer_id);
                int known = 0;
                for (size_t x = 0; t != NULL && t->state == TXN_ONGOING && x < t->nparts; x++) {
                    known = t->parts[x].partition == j && strcmp(t->parts[x].topic, tp->name) == 0;
                    if (known) {
                        break;
                    }
                }
                if (!known) {
                    char pid[32];
                    snprintf(pid, sizeof(pid), "%" PRId64, e->producer_id);
                    bc_log(BC_LOG_WARN, "aborting a hanging transaction", "topic", tp->name,
                           "producer_id", pid, NULL);
                    (void)write_marker(b, p, e->producer_id, e->epoch, CONTROL_ABORT);
                }
            }
        }
    }
}

static void txn_log_transition(const struct txn *t, const char *msg)
{
    char pid[32], ep[16], np[16];
    snprintf(pid, sizeof(pid), "%" PRId64, t->producer_id);
    snprintf(ep, sizeof(ep), "%d", t->epoch);
    snprintf(np, sizeof(np), "%zu", t->nparts);
    bc_log(BC_LOG_INFO, msg, "transactional_id", t->id, "producer_id", pid, "epoch", ep,
           "partitions", np, NULL);
}

/* Completes the transaction of t (state Prepare*): markers, offsets, Complete*. */
static void txn_complete(struct broker *b, struct txn *t)
{
    int commit = t->state == TXN_PREPARE_COMMIT;
    txn_write_markers(b, t, commit ? CONTROL_COMMIT : CONTROL_ABORT);
    txn_offsets_end(b, t, commit);
    timer_cancel(&b->timers, &t->timer);
    txn_clear(t);
    t->state = commit ? TXN_COMPLETE_COMMIT : TXN_COMPLETE_ABORT;
    (void)txn_save(b, t);
    b->data_appended = 1;
}

/* Ends t's transaction: PrepareX written first, then markers, then CompleteX. */
static int txn_finish(struct broker *b, struct txn *t, int commit)
{
    t->state = commit ? TXN_PREPARE_COMMIT : TXN_PREPARE_ABORT;
    if (txn_save(b, t) != 0) {
        t->state = TXN_ONGOING;
        return KERR_KAFKA_STORAGE_ERROR;
    }
    txn_log_transition(t, commit ? "transaction committed" : "transaction aborted");
    txn_complete(b, t);
    return KERR_NONE;
}

/* Aborts t's ongoing transaction after bumping the epoch (Kafka's PrepareEpochFence): the
 * producer that owned it is fenced. */
static void txn_fence_abort(struct broker *b, struct txn *t, const char *why)
{
    if (t->epoch < EPOCH_EXHAUSTED) {
        t->epoch++;
    }
    t->last_epoch = -1;
    char pid[32], ep[16];
    snprintf(pid, sizeof(pid), "%" PRId64, t->producer_id);
    snprintf(ep, sizeof(ep), "%d", t->epoch);
    bc_log(BC_LOG_INFO, "aborting an open transaction", "transactional_id", t->id, "producer_id",
           pid, "new_epoch", ep, "reason", why, NULL);
    (void)txn_finish(b, t, 0);
}

static void txn_timeout_fired(struct broker *b, struct timer *tm)
{
    struct txn *t = (struct txn *)((char *)tm - offsetof(struct txn, timer));
    if (t->state == TXN_ONGOING) {
        txn_fence_abort(b, t, "transaction.timeout.ms passed");
    }
}

/* Moves t to Ongoing (a new transaction) when it is not already. */
static void txn_begin(struct broker *b, struct txn *t)
{
    if (t->state == TXN_ONGOING) {
        return;
    }
    txn_clear(t);
    t->state = TXN_ONGOING;
    t->start_ms = now_ms();
    timer_add(&b->timers, &t->timer, t->start_ms + t->timeout_ms, txn_timeout_fired);
}

/* --- coordinator operations ---------------------------------------------------------------- */

int txn_init_producer(struct broker *b, struct kstr id, int32_t timeout_ms, int64_t expect_pid,
                      int16_t expect_epoch, int64_t *pid, int16_t *epoch)
{
    *pid = -1;
    *epoch = -1;
    if (id.len <= 0) {
        return KERR_INVALID_REQUEST;
    }
    if (timeout_ms <= 0 || timeout_ms > TXN_MAX_TIMEOUT_MS) {
        return KERR_TXN_INVALID_TRANSACTION_TIMEOUT;
    }
    int expected = expect_pid != -1 || expect_epoch != -1;
    if (expected && (expect_pid == -1 || expect_epoch == -1)) {
        return KERR_INVALID_REQUEST;
    }
    struct txn *t = txn_find(b, id);
    if (t == NULL) {
        if ((t = txn_new(b, id.p, (size_t)id.len)) == NULL) {
            return KERR_UNKNOWN_SERVER_ERROR;
        }
        t->producer_id = broker_producer_id_next(b);
        if (t->producer_id < 0) {
            return KERR_KAFKA_STORAGE_ERROR;
        }
    }
    if (expected && !(t->epoch == -1 || expect_pid == t->producer_id ||
                      (expect_pid == t->last_producer_id && expect_epoch >= EPOCH_EXHAUSTED))) {
        return KERR_TXN_PRODUCER_FENCED;
    }
    switch (t->state) {
    case TXN_PREPARE_COMMIT:
    case TXN_PREPARE_ABORT:
        return KERR_TXN_CONCURRENT_TRANSACTIONS;
    case TXN_ONGOING:
        /* Fence the current producer and abort; the client retries and gets a new epoch. */
        txn_fence_abort(b, t, "InitProducerId for the same transactional.id");
        return KERR_TXN_CONCURRENT_TRANSACTIONS;
    default:
        break;
    }
    if (t->epoch >= EPOCH_EXHAUSTED && (!expected || expect_epoch == t->epoch)) {
        int64_t np = broker_producer_id_next(b);
        if (np < 0) {
            return KERR_KAFKA_STORAGE_ERROR;
        }
        t->last_producer_id = t->producer_id;
        t->producer_id = np;
        t->last_epoch = expected ? t->epoch : -1;
        t->epoch = 0;
    } else if (!expected) {
        t->epoch++;
        t->last_epoch = -1;
    } else if (t->epoch == -1 || expect_epoch == t->epoch) {
        t->last_epoch = t->epoch;
        t->epoch++;
    } else if (expect_epoch != t->last_epoch) {
        return KERR_TXN_PRODUCER_FENCED;
    } /* else: a retry of a bump that succeeded; answer the current epoch */
    t->timeout_ms = timeout_ms;
    txn_clear(t);
    t->state = TXN_EMPTY;
    if (txn_save(b, t) != 0) {
        return KERR_KAFKA_STORAGE_ERROR;
    }
    *pid = t->producer_id;
    *epoch = t->epoch;
    txn_log_transition(t, "transactional producer initialized");
    return KERR_NONE;
}

int txn_validate(struct broker *b, struct kstr id, int64_t pid, int16_t epoch, struct txn **out)
{
    *out = NULL;
    if (id.len <= 0) {
        return KERR_INVALID_REQUEST;
    }
    struct txn *t = txn_find(b, id);
    if (t == NULL || t->producer_id != pid) {
        return KERR_TXN_INVALID_PRODUCER_ID_MAPPING;
    }
    if (t->epoch != epoch) {
        return KERR_TXN_PRODUCER_FENCED;
    }
    if (t->state == TXN_PREPARE_COMMIT || t->state == TXN_PREPARE_ABORT) {
        return KERR_TXN_CONCURRENT_TRANSACTIONS;
    }
    *out = t;
    return KERR_NONE;
}

int txn_add_partition(struct broker *b, struct txn *t, const char *topic, int32_t partition)
{
    txn_begin(b, t);
    return tp_push(t, topic, strlen(topic), partition) == 0 ? KERR_NONE : KERR_UNKNOWN_SERVER_ERROR;
}

int txn_add_group(struct broker *b, struct txn *t, struct kstr group)
{
    txn_begin(b, t);
    if (group_push(t, group.p, (size_t)group.len) != 0) {
        return KERR_UNKNOWN_SERVER_ERROR;
    }
    return txn_save(b, t) == 0 ? KERR_NONE : KERR_KAFKA_STORAGE_ERROR;
}

int txn_save_state(struct broker *b, struct txn *t)
{
    return txn_save(b, t) == 0 ? KERR_NONE : KERR_KAFKA_STORAGE_ERROR;
}

int txn_end(struct broker *b, struct kstr id, int64_t pid, int16_t epoch, int commit)
{
    if (id.len <= 0) {
        return KERR_INVALID_REQUEST;
    }
    struct txn *t = txn_find(b, id);
    if (t == NULL || t->producer_id != pid) {
        return KERR_TXN_INVALID_PRODUCER_ID_MAPPING;
    }
    if (epoch != t->epoch) {
        return KERR_TXN_PRODUCER_FENCED;
    }
    switch (t->state) {
    case TXN_ONGOING:
        return txn_finish(b, t, commit);
    case TXN_COMPLETE_COMMIT:
        return commit ? KERR_NONE : KERR_TXN_INVALID_TXN_STATE;
    case TXN_COMPLETE_ABORT:
        return commit ? KERR_TXN_INVALID_TXN_STATE : KERR_NONE;
    case TXN_PREPARE_COMMIT:
        return commit ? KERR_TXN_CONCURRENT_TRANSACTIONS : KERR_TXN_INVALID_TXN_STATE;
    case TXN_PREPARE_ABORT:
        return commit ? KERR_TXN_INVALID_TXN_STATE : KERR_TXN_CONCURRENT_TRANSACTIONS;
    default:
        return KERR_TXN_INVALID_TXN_STATE;
    }
}

int txn_check_produce(struct broker *b, struct partition *p, const struct batch_hdr *h)
{
    struct txn *t = txn_find_by_producer(b, h->producer_id);
    if (t == NULL) {
        return KERR_TXN_INVALID_TXN_STATE;
    }
    if (h->producer_epoch < t->epoch) {
        return KERR_INVALID_PRODUCER_EPOCH;
    }
    if (h->producer_epoch != t->epoch || t->state != TXN_ONGOING) {
        return KERR_TXN_INVALID_TXN_STATE;
    }
    for (size_t i = 0; i < t->nparts; i++) {
        if (t->parts[i].partition == p->index && strcmp(t->parts[i].topic, p->topic->name) == 0) {
            return KERR_NONE;
        }
    }
    return KERR_TXN_INVALID_TXN_STATE;
}

/* --- lifecycle ------------------------------------------------------------------------------ */

int txn_coordinator_load(struct broker *b, char *errstr, size_t errstr_size)
{
    b->txns = calloc(1, sizeof(*b->txns));
    if (b->txns == NULL) {
        snprintf(errstr, errstr_size, "out of memory");
        return -1;
    }
    char dir[4200], tmp[4200], old[4200];
    state_paths(b, dir, tmp, old, sizeof(dir));
    struct stat st;
    if (stat(dir, &st) != 0 && stat(tmp, &st) == 0 && stat(old, &st) == 0 &&
        rename(tmp, dir) != 0) {
        snprintf(errstr, errstr_size, "%s: %s", tmp, strerror(errno));
        return -1; /* a rewrite stopped between its renames: the new log is complete */
    }
    remove_dir(tmp);
    remove_dir(old);
    if (open_state_log(dir, &b->txns->log, errstr, errstr_size) != 0) {
        return -1;
    }
    if (txn_replay(b) != 0) {
        snprintf(errstr, errstr_size, "%s: cannot replay the transaction state log", dir);
        return -1;
    }
    for (size_t i = 0; i < b->txns->n; i++) {
        struct txn *t = b->txns->v[i];
        switch (t->state) {
        case TXN_PREPARE_COMMIT:
        case TXN_PREPARE_ABORT:
            txn_log_transition(t, "completing a transaction ended before the restart");
            txn_complete(b, t);
            break;
        case TXN_ONGOING:
            txn_fence_abort(b, t, "open when the broker stopped");
            break;
        default:
            break;
        }
    }
    txn_abort_hanging(b);
    txn_offsets_sweep(b);
    if (b->txns->records >= REWRITE_MIN_RECORDS && b->txns->records > 4 * (int64_t)b->txns->n) {
        txn_rewrite(b);
    }
    if (b->producer_id_block_end < b->next_producer_id) {
        b->producer_id_block_end = b->next_producer_id; /* reserved again on the next id */
    }
    char n[16];
    snprintf(n, sizeof(n), "%zu", b->txns->n);
    bc_log(BC_LOG_INFO, "transaction coordinator loaded", "transactional_ids", n, NULL);
    return 0;
}

void txn_coordinator_close(struct broker *b)
{
    struct txn_coordinator *tc = b->txns;
    if (tc == NULL) {
        return;
    }
    for (size_t i = 0; i < tc->n; i++) {
        txn_free(tc->v[i]);
    }
    free(tc->v);
    if (tc->log != NULL) {
        plog_sync(tc->log);
        plog_close(tc->log);
    }
    free(tc);
    b->txns = NULL;
}
