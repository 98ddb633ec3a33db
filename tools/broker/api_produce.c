/*
 * Produce and InitProducerId (idempotent producers; transactional ids come with part 3).
 *
 * A partition's record set is checked whole before anything is appended (every batch
 * magic 2, CRC-32C, size, producer sequence), then its batches are appended in order, so
 * a request never leaves half a record set in the log. acks=0 gets no response; acks=1
 * and acks=-1 are answered after the append (single replica: both mean "in this broker's
 * log"), and under --fsync always after fdatasync.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "bc_log.h"
#include "broker.h"


/* Appends one partition's record set. Returns a Kafka error code; *base_offset is the
 * offset of the first record (original offset for a duplicate). */
static int produce_partition(struct broker *b, struct partition *p, struct kstr records,
                             int64_t *base_offset)
{
    uint8_t *data = (uint8_t *)records.p; /* the request buffer, ours to rewrite */
    size_t n = (size_t)(records.len < 0 ? 0 : records.len);
    size_t sizes[64];
    size_t nb = 0;
    size_t pos = 0;
    int64_t max_bytes = p->topic->cfg.num[TC_MAX_MESSAGE_BYTES];
    if (n == 0) {
        return KERR_CORRUPT_MESSAGE;
    }
    /* Pass 1: validate every batch. */
    struct batch_hdr first = {0};
    while (pos < n) {
        struct batch_hdr h;
        if (n - pos < BATCH_HEADER_SIZE) {
            return KERR_CORRUPT_MESSAGE;
        }
        int32_t len = (int32_t)be32(data + pos + 8);
        if (len < BATCH_HEADER_SIZE - BATCH_LOG_OVERHEAD || (size_t)len > n - pos - BATCH_LOG_OVERHEAD) {
            return KERR_CORRUPT_MESSAGE;
        }
        size_t total = (size_t)len + BATCH_LOG_OVERHEAD;
        if ((int64_t)total > max_bytes) {
            return KERR_MESSAGE_TOO_LARGE;
        }
        int err = batch_validate(data + pos, total, &h);
        if (err != 0) {
            return err;
        }
        if ((h.attributes & BATCH_ATTR_CONTROL) ||
            ((h.attributes & BATCH_ATTR_TRANSACTIONAL) && h.producer_id < 0)) {
            return KERR_INVALID_RECORD; /* markers come from the coordinator only (txn.c) */
        }
        if (nb == 0) {
            first = h;
        } else if (h.producer_id >= 0 || first.producer_id >= 0) {
            return KERR_INVALID_RECORD; /* an idempotent set holds exactly one batch */
        }
        if (nb == sizeof(sizes) / sizeof(sizes[0])) {
            return KERR_INVALID_RECORD;
        }
        sizes[nb++] = total;
        pos += total;
    }
    /* Pass 2: producer state (one batch when idempotent). */
    if (first.producer_id >= 0) {
        int64_t dup = -1;
        int rc = producer_check(&p->producers, &first, &dup);
        if (rc == PRODUCER_DUPLICATE) {
            char pid[32], off[32];
            snprintf(pid, sizeof(pid), "%" PRId64, first.producer_id);
            snprintf(off, sizeof(off), "%" PRId64, dup);
            bc_log(BC_LOG_DEBUG, "duplicate batch answered with its original offset", "topic",
                   p->topic->name, "producer_id", pid, "base_offset", off, NULL);
            *base_offset = dup;
            return KERR_NONE;
        }
        if (rc == PRODUCER_APPEND && (first.attributes & BATCH_ATTR_TRANSACTIONAL)) {
            rc = txn_check_produce(b, p, &first);
            rc = rc == KERR_NONE ? PRODUCER_APPEND : rc;
        }
        if (rc != PRODUCER_APPEND) {
            char pid[32], seq[16], ep[16], code[16];
            snprintf(pid, sizeof(pid), "%" PRId64, first.producer_id);
            snprintf(seq, sizeof(seq), "%" PRId32, first.base_sequence);
            snprintf(ep, sizeof(ep), "%d", first.producer_epoch);
            snprintf(code, sizeof(code), "%d", rc);
            bc_log(BC_LOG_WARN, "produce refused by producer state", "topic", p->topic->name,
                   "producer_id", pid, "epoch", ep, "base_sequence", seq, "error_code", code,
                   NULL);
            return rc;
        }
    }
    /* Pass 3: append. */
    pos = 0;
    for (size_t i = 0; i < nb; i++) {
        int64_t off = -1;
        int err = plog_append(p->log, data + pos, sizes[i], &off);
        if (err != 0) {
            bc_log(BC_LOG_ERROR, "append failed", "topic", p->topic->name, NULL);
            return err;
        }
        if (i == 0) {
            *base_offset = off;
        }
        struct batch_hdr h;
        batch_hdr_parse(data + pos, &h);
        if (h.producer_id >= 0) {
            producer_update(&p->producers, &h);
            txn_partition_note(p, &h, -1);
        }
        pos += sizes[i];
    }
    b->data_appended = 1;
    return KERR_NONE;
}

int api_produce(struct broker *b, struct req *r)
{
    struct krd *rd = &r->body;
    int v = r->api_version;
    struct kbuf *w = &r->slot->buf;
    (void)kr_str(rd, r->flex); /* transactional_id */
    int16_t acks = kr_i16(rd);
    (void)kr_i32(rd); /* timeout_ms */
    int bad_acks = acks != 0 && acks != 1 && acks != -1;
    int appended = 0;
    int32_t nt = kr_array(rd, r->flex, 6);
    kw_array(w, nt, r->flex);
    struct partition *synced[64];
    size_t nsynced = 0;
    for (int32_t i = 0; i < nt && !rd->err; i++) {
        struct kstr name = kr_str(rd, r->flex);
        kw_kstr(w, name, r->flex);
        int32_t np = kr_array(rd, r->flex, 8);
        kw_array(w, np, r->flex);
        for (int32_t j = 0; j < np && !rd->err; j++) {
            int32_t index = kr_i32(rd);
            struct kstr records = kr_bytes(rd, r->flex);
            kr_tags(rd, r->flex);
            if (rd->err) {
                break;
            }
            struct partition *p = broker_partition_find(b, name, index);
            int64_t base = -1;
            int err;
            if (bad_acks) {
                err = KERR_INVALID_REQUIRED_ACKS;
            } else if (p == NULL) {
                err = KERR_UNKNOWN_TOPIC_OR_PARTITION;
            } else {
                uint64_t before = plog_size(p->log);
                err = produce_partition(b, p, records, &base);
                if (plog_size(p->log) != before) {
                    appended = 1;
                    if (nsynced < 64) {
                        synced[nsynced++] = p;
                    }
                }
            }
            kw_i32(w, index);
            kw_i16(w, (int16_t)err);
            kw_i64(w, err == KERR_NONE ? base : -1);
            kw_i64(w, -1); /* log_append_time_ms: CreateTime topics */
            if (v >= 5) {
                kw_i64(w, p != NULL ? plog_start_offset(p->log) : -1);
            }
            kw_tags(w, r->flex);
        }
        kr_tags(rd, r->flex);
        kw_tags(w, r->flex);
    }
    kw_i32(w, 0); /* throttle_time_ms */
    kw_tags(w, r->flex);
    if (rd->err) {
        return API_MALFORMED;
    }
    if (appended && b->opts.fsync == FSYNC_ALWAYS) {
        for (size_t i = 0; i < nsynced; i++) {
            plog_sync(synced[i]->log);
        }
        if (nsynced == 64) {
            broker_sync_all(b);
        }
    }
    if (appended && b->opts.fault_drop_after_append > 0 &&
        ++b->appends % b->opts.fault_drop_after_append == 0) {
        bc_log(BC_LOG_WARN, "test fault: dropping the connection after an append", "peer",
               r->conn->peer, NULL);
        return API_CLOSE;
    }
    return acks == 0 ? API_NO_RESPONSE : API_DONE;
}

int api_init_producer_id(struct broker *b, struct req *r)
{
    struct krd *rd = &r->body;
    struct kstr txn_id = kr_str(rd, r->flex);
    int32_t txn_timeout_ms = kr_i32(rd);
    int64_t expect_pid = -1;
    int16_t expect_epoch = -1;
    if (r->api_version >= 3) {
        expect_pid = kr_i64(rd); /* a non-transactional producer gets a new one */
        expect_epoch = kr_i16(rd);
    }
    kr_tags(rd, r->flex);
    if (rd->err) {
        return API_MALFORMED;
    }
    struct kbuf *w = &r->slot->buf;
    int16_t err = KERR_NONE;
    int64_t pid = -1;
    int16_t epoch = 0;
    if (txn_id.len >= 0) {
        err = (int16_t)txn_init_producer(b, txn_id, txn_timeout_ms, expect_pid, expect_epoch,
                                         &pid, &epoch);
        if (err == KERR_TXN_PRODUCER_FENCED && r->api_version < 4) {
            err = KERR_INVALID_PRODUCER_EPOCH;
        }
    } else {
        pid = broker_producer_id_next(b);
        if (pid < 0) {
            err = KERR_KAFKA_STORAGE_ERROR;
        }
    }
    kw_i32(w, 0);
    kw_i16(w, err);
    kw_i64(w, pid);
    kw_i16(w, err == KERR_NONE ? epoch : -1);
    kw_tags(w, r->flex);
    return API_DONE;
}
