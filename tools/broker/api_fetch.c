/*
 * Fetch, with long-poll. A fetch that finds fewer than min_bytes parks in the broker's
 * wait list with a deadline of max_wait_ms; appends (and topic deletions) wake parked
 * fetches at the end of the loop iteration, which then answer as soon as they have
 * min_bytes, and at their deadline in any case. The request is copied when parked, since
 * the connection's read buffer is reused.
 *
 * Incremental fetch sessions (KIP-227) are not offered: every answer carries session id 0,
 * so clients send full fetch requests. preferred_read_replica is always -1.
 */
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bc_log.h"
#include "broker.h"

struct fetch_part {
    int32_t partition;
    int64_t fetch_offset;
    int32_t max_bytes;
};

struct fetch_topic {
    char *name; /* owned */
    int32_t nparts;
    struct fetch_part *parts; /* owned */
};

struct fetch_wait {
    struct fetch_wait *next, *prev;
    struct slot *slot;
    struct timer timer; /* fetch_deadline() finds the wait from it */
    int16_t version;
    int flex;
    int32_t min_bytes;
    int32_t max_bytes;
    int8_t isolation;
    int32_t ntopics;
    struct fetch_topic *topics;
};

static void fetch_wait_free(struct fetch_wait *fw)
{
    if (fw == NULL) {
        return;
    }
    for (int32_t i = 0; fw->topics != NULL && i < fw->ntopics; i++) {
        free(fw->topics[i].name);
        free(fw->topics[i].parts);
    }
    free(fw->topics);
    free(fw);
}

static void wait_unlink(struct broker *b, struct fetch_wait *fw)
{
    if (fw->prev != NULL) {
        fw->prev->next = fw->next;
    } else if (b->waits == fw) {
        b->waits = fw->next;
    }
    if (fw->next != NULL) {
        fw->next->prev = fw->prev;
    }
    fw->next = fw->prev = NULL;
}

/* read_committed: drops the batches at or past the last stable offset from the `copied`
 * bytes just read into w. Returns the bytes kept; *end is the offset after the last kept
 * batch (unchanged when none). */
static size_t fetch_cut_at_lso(struct kbuf *w, size_t copied, int64_t lso, int64_t *end)
{
    if (w->oom) {
        return copied;
    }
    size_t start = w->len - copied;
    size_t used = 0;
    while (used + BATCH_HEADER_SIZE <= copied) {
        struct batch_hdr h;
        batch_hdr_parse(w->data + start + used, &h);
        if (h.base_offset >= lso) {
            break;
        }
        used += batch_total_size(&h);
        *end = h.base_offset + h.last_offset_delta + 1;
    }
    w->len = start + used;
    return used;
}

/* Inserts src at pos of w (moving what follows). */
static void kbuf_insert(struct kbuf *w, size_t pos, const struct kbuf *src)
{
    if (src->oom || kbuf_reserve(w, src->len) == NULL) {
        w->oom = 1;
        return;
    }
    memmove(w->data + pos + src->len, w->data + pos, w->len - pos);
    memcpy(w->data + pos, src->data, src->len);
    w->len += src->len;
}

/* Writes the response body for fw into its slot. Returns the number of record bytes, or
 * -1 when a partition had an error (which answers at once). */
static int64_t fetch_build(struct broker *b, struct fetch_wait *fw)
{
    struct kbuf *w = &fw->slot->buf;
    int v = fw->version;
    int flex = fw->flex;
    int64_t total = 0;
    int any_error = 0;
    kw_i32(w, 0); /* throttle_time_ms */
    if (v >= 7) {
        kw_i16(w, KERR_NONE);
        kw_i32(w, 0); /* session_id: no sessions */
    }
    kw_array(w, fw->ntopics, flex);
    for (int32_t i = 0; i < fw->ntopics; i++) {
        struct fetch_topic *ft = &fw->topics[i];
        struct topic *t = broker_topic_find(b, ft->name);
        kw_str(w, ft->name, -1, flex);
        kw_array(w, ft->nparts, flex);
        for (int32_t j = 0; j < ft->nparts; j++) {
            struct fetch_part *fp = &ft->parts[j];
            struct partition *p = NULL;
            if (t != NULL && fp->partition >= 0 && fp->partition < t->npartitions) {
                p = &t->partitions[fp->partition];
            }
            int16_t err = KERR_NONE;
            int64_t hw = -1, lso = -1, start = -1;
            if (p == NULL) {
                err = KERR_UNKNOWN_TOPIC_OR_PARTITION;
            } else {
                hw = plog_end_offset(p->log);
                lso = partition_last_stable_offset(p);
                start = plog_start_offset(p->log);
                if (fp->fetch_offset < start || fp->fetch_offset > hw) {
                    err = KERR_OFFSET_OUT_OF_RANGE;
                }
            }
            kw_i32(w, fp->partition);
            size_t err_pos = w->len;
            kw_i16(w, err);
            kw_i64(w, hw);
            kw_i64(w, lso);
            if (v >= 5) {
                kw_i64(w, start);
            }
            /* read_committed: the aborted transactions overlapping the records returned,
             * inserted here once they are read (txn.c) */
            size_t aborted_pos = w->len;
            if (fw->isolation != 1) {
                kw_array(w, -1, flex);
            }
            if (v >= 11) {
                kw_i32(w, -1); /* preferred_read_replica */
            }
            size_t len_pos = w->len;
            if (flex) {
                /* compact bytes need the length first: reserve a fixed 5-byte varint */
                kw_raw(w, "\x80\x80\x80\x80\x00", 5);
            } else {
                kw_i32(w, 0);
            }
            size_t copied = 0;
            int64_t read_end = fp->fetch_offset;
            int64_t limit = fw->isolation == 1 ? lso : hw;
            if (err == KERR_NONE && fp->fetch_offset < limit) {
                int64_t room = fw->max_bytes - total;
                size_t max = (size_t)(room < fp->max_bytes ? (room > 0 ? room : 0) : fp->max_bytes);
                int rc = plog_read(p->log, fp->fetch_offset, max, total == 0, w, &copied);
                if (rc == 0 && fw->isolation == 1) {
                    copied = fetch_cut_at_lso(w, copied, lso, &read_end);
                }
                if (rc != 0) {
                    err = (int16_t)rc;
                    copied = 0;
                    if (!w->oom) {
                        w->data[err_pos] = (uint8_t)((uint16_t)err >> 8);
                        w->data[err_pos + 1] = (uint8_t)err;
                    }
                    if (rc != KERR_OFFSET_OUT_OF_RANGE) {
                        bc_log(BC_LOG_ERROR, "fetch read failed", "topic", ft->name, NULL);
                    }
                }
            }
            if (err != KERR_NONE) {
                any_error = 1;
            }
            if (flex) {
                uint32_t val = (uint32_t)copied + 1;
                for (int k = 0; k < 5 && !w->oom; k++) {
                    w->data[len_pos + (size_t)k] =
                        (uint8_t)((val >> (7 * k)) & 0x7f) | (k < 4 ? 0x80 : 0);
                }
            } else {
                kbuf_put_i32_at(w, len_pos, (int32_t)copied);
            }
            if (fw->isolation == 1) {
                struct kbuf aborted = {0};
                if (p != NULL && err == KERR_NONE) {
                    txn_partition_write_aborted(p, fp->fetch_offset, read_end, &aborted, flex);
                } else {
                    kw_array(&aborted, 0, flex);
                }
                kbuf_insert(w, aborted_pos, &aborted);
                kbuf_free(&aborted);
            }
            total += (int64_t)copied;
            kw_tags(w, flex);
        }
        kw_tags(w, flex);
    }
    kw_tags(w, flex);
    return any_error ? -1 : total;
}

/* Answers fw when it has enough (or force); returns 1 when answered (fw is freed). */
static int fetch_try(struct broker *b, struct fetch_wait *fw, int force)
{
    size_t mark = fw->slot->buf.len;
    int64_t got = fetch_build(b, fw);
    if (!force && got >= 0 && got < fw->min_bytes) {
        fw->slot->buf.len = mark;
        return 0;
    }
    struct slot *s = fw->slot;
    timer_cancel(&b->timers, &fw->timer);
    wait_unlink(b, fw);
    fetch_wait_free(fw);
    slot_complete(b, s);
    return 1;
}

static void fetch_cancel(struct broker *b, struct slot *s)
{
    struct fetch_wait *fw = s->owner;
    timer_cancel(&b->timers, &fw->timer);
    wait_unlink(b, fw);
    fetch_wait_free(fw);
}

static void fetch_deadline(struct broker *b, struct timer *t)
{
    struct fetch_wait *fw = (struct fetch_wait *)((char *)t - offsetof(struct fetch_wait, timer));
    fetch_try(b, fw, 1);
}

/* Whether any partition of fw has records past its fetch offset (or an error). */
static int fetch_has_news(struct broker *b, struct fetch_wait *fw)
{
    for (int32_t i = 0; i < fw->ntopics; i++) {
        struct topic *t = broker_topic_find(b, fw->topics[i].name);
        for (int32_t j = 0; j < fw->topics[i].nparts; j++) {
            struct fetch_part *fp = &fw->topics[i].parts[j];
            if (t == NULL || fp->partition < 0 || fp->partition >= t->npartitions) {
                return 1;
            }
            struct partition *p = &t->partitions[fp->partition];
            int64_t limit = fw->isolation == 1 ? partition_last_stable_offset(p)
                                               : plog_end_offset(p->log);
            if (fp->fetch_offset < limit) {
                return 1;
            }
        }
    }
    return 0;
}

void fetch_wake(struct broker *b)
{
    struct fetch_wait *fw = b->waits;
    while (fw != NULL) {
        struct fetch_wait *next = fw->next;
        if (fetch_has_news(b, fw)) {
            fetch_try(b, fw, 0);
        }
        fw = next;
    }
}

int api_fetch(struct broker *b, struct req *r)
{
    struct krd *rd = &r->body;
    int v = r->api_version;
    struct fetch_wait *fw = calloc(1, sizeof(*fw));
    if (fw == NULL) {
        return API_MALFORMED;
    }
    fw->slot = r->slot;
    fw->version = r->api_version;
    fw->flex = r->flex;
    (void)kr_i32(rd); /* replica_id */
    int32_t max_wait = kr_i32(rd);
    fw->min_bytes = kr_i32(rd);
    fw->max_bytes = kr_i32(rd);
    fw->isolation = kr_i8(rd);
    if (v >= 7) {
        (void)kr_i32(rd); /* session_id */
        (void)kr_i32(rd); /* session_epoch */
    }
    int32_t nt = kr_array(rd, r->flex, 6);
    if (nt > 0) {
        fw->topics = calloc((size_t)nt, sizeof(*fw->topics));
        if (fw->topics == NULL) {
            fetch_wait_free(fw);
            return API_MALFORMED;
        }
    }
    fw->ntopics = nt > 0 ? nt : 0;
    for (int32_t i = 0; i < fw->ntopics && !rd->err; i++) {
        struct kstr name = kr_str(rd, r->flex);
        if (name.len < 0 || name.len > TOPIC_NAME_MAX) {
            rd->err = 1;
            break;
        }
        fw->topics[i].name = strndup(name.p, (size_t)name.len);
        int32_t np = kr_array(rd, r->flex, 16);
        if (np > 0) {
            fw->topics[i].parts = calloc((size_t)np, sizeof(struct fetch_part));
            if (fw->topics[i].parts == NULL || fw->topics[i].name == NULL) {
                rd->err = 1;
                break;
            }
            fw->topics[i].nparts = np;
        }
        for (int32_t j = 0; j < np && !rd->err; j++) {
            struct fetch_part *fp = &fw->topics[i].parts[j];
            fp->partition = kr_i32(rd);
            if (v >= 9) {
                (void)kr_i32(rd); /* current_leader_epoch */
            }
            fp->fetch_offset = kr_i64(rd);
            if (v >= 5) {
                (void)kr_i64(rd); /* log_start_offset (followers only) */
            }
            fp->max_bytes = kr_i32(rd);
            if (fp->max_bytes < 0) {
                fp->max_bytes = 0;
            }
            kr_tags(rd, r->flex);
        }
        kr_tags(rd, r->flex);
    }
    if (v >= 7) {
        int32_t nf = kr_array(rd, r->flex, 6);
        for (int32_t i = 0; i < nf && !rd->err; i++) {
            (void)kr_str(rd, r->flex);
            int32_t np = kr_array(rd, r->flex, 4);
            for (int32_t j = 0; j < np && !rd->err; j++) {
                (void)kr_i32(rd);
            }
            kr_tags(rd, r->flex);
        }
    }
    if (v >= 11) {
        (void)kr_str(rd, r->flex); /* rack_id */
    }
    kr_tags(rd, r->flex);
    if (rd->err) {
        fetch_wait_free(fw);
        return API_MALFORMED;
    }
    if (fw->max_bytes <= 0 || fw->max_bytes > b->opts.fetch_max_bytes) {
        fw->max_bytes = b->opts.fetch_max_bytes; /* Kafka's broker-side fetch.max.bytes */
    }
    if (fetch_try(b, fw, max_wait <= 0 || fw->min_bytes <= 0)) {
        return API_DEFERRED; /* already completed through slot_complete */
    }
    /* Park it. */
    fw->next = b->waits;
    if (b->waits != NULL) {
        b->waits->prev = fw;
    }
    b->waits = fw;
    r->slot->owner = fw;
    r->slot->cancel = fetch_cancel;
    if (timer_add(&b->timers, &fw->timer, now_ms() + max_wait, fetch_deadline) != 0) {
        fetch_try(b, fw, 1);
    }
    return API_DEFERRED;
}
