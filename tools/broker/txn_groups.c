/*
 * Transactions and the group coordinator: TxnOffsetCommit (KIP-447) and the end of a
 * transaction's offsets.
 *
 * A TxnOffsetCommit is checked like an OffsetCommit of a transactional producer (Kafka's
 * validateOffsetCommit: generation, member id and group.instance.id against the group,
 * which fences zombies of an old generation with ILLEGAL_GENERATION / UNKNOWN_MEMBER_ID /
 * FENCED_INSTANCE_ID, abortable for the client), then against the transaction (producer id
 * and epoch, Ongoing, the group added with AddOffsetsToTxn). The offsets then wait in the
 * group coordinator as pending transactional offsets of the producer (group_txn_offsets_add:
 * durable in the offsets log, shown to OffsetFetch with RequireStable as
 * UNSTABLE_OFFSET_COMMIT) until EndTxn: a commit makes them the group's committed offsets,
 * an abort drops them (group_txn_offsets_end).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bc_log.h"
#include "broker.h"
#include "group.h"

void txn_offsets_end(struct broker *b, struct txn *t, int commit)
{
    if (b->groups == NULL) {
        return;
    }
    if (group_txn_offsets_end(b, t->producer_id, t->epoch, commit) != 0) {
        bc_log(BC_LOG_ERROR, "cannot end transactional offsets", "transactional_id", t->id, NULL);
    }
}

void txn_offsets_sweep(struct broker *b)
{
    struct group_coordinator *gc = b->groups;
    for (size_t i = 0; gc != NULL && i < gc->ngroups; i++) {
        for (size_t k = 0; k < gc->groups[i]->ntxn;) {
            const struct group_txn_offset *o = &gc->groups[i]->txn[k];
            struct txn *t = txn_find_by_producer(b, o->producer_id);
            if (t != NULL && t->state == TXN_ONGOING) {
                k++;
                continue;
            }
            bc_log(BC_LOG_WARN, "dropping transactional offsets of a finished transaction", "group",
                   gc->groups[i]->id, "topic", o->topic, NULL);
            if (group_txn_offsets_end(b, o->producer_id, o->producer_epoch, 0) != 0) {
                k++; /* cannot write the marker: leave it */
            }
            /* else: the entry is gone from gc->groups[i]->txn, k stays */
        }
    }
}

/* The error for the whole request, or KERR_NONE with *out_t and *out_g. */
static int txn_commit_check(struct broker *b, int version, struct kstr txn_id, struct kstr group_id,
                            int64_t pid, int16_t epoch, int32_t generation, struct kstr member_id,
                            struct kstr instance_id, struct txn **out_t, struct group **out_g)
{
    *out_t = NULL;
    *out_g = NULL;
    if (group_id.len <= 0) {
        return KERR_INVALID_GROUP_ID;
    }
    struct group *g = group_get_or_create(b, group_id);
    if (g == NULL) {
        return KERR_UNKNOWN_SERVER_ERROR;
    }
    int err = group_validate_commit(g, generation, member_id, instance_id, 1);
    if (err != KERR_NONE) {
        return err;
    }
    struct txn *t = NULL;
    err = txn_validate(b, txn_id, pid, epoch, &t);
    if (err == KERR_TXN_PRODUCER_FENCED && version < 3) {
        err = KERR_INVALID_PRODUCER_EPOCH;
    }
    if (err != KERR_NONE) {
        return err;
    }
    int added = 0;
    for (size_t i = 0; i < t->ngroups && !added; i++) {
        added = kstr_eq(group_id, t->groups[i]);
    }
    if (t->state != TXN_ONGOING || !added) {
        return KERR_TXN_INVALID_TXN_STATE;
    }
    *out_t = t;
    *out_g = g;
    return KERR_NONE;
}

int api_txn_offset_commit(struct broker *b, struct req *r)
{
    struct krd *rd = &r->body;
    int v = r->api_version;
    struct kstr txn_id = kr_str(rd, r->flex);
    struct kstr group_id = kr_str(rd, r->flex);
    int64_t pid = kr_i64(rd);
    int16_t epoch = kr_i16(rd);
    int32_t generation = -1;
    struct kstr member_id = {"", 0}, instance_id = {NULL, -1};
    if (v >= 3) {
        generation = kr_i32(rd);
        member_id = kr_str(rd, r->flex);
        instance_id = kr_str(rd, r->flex);
    }
    /* Decode every partition first: the group coordinator stores them as one batch. */
    struct group_offset_commit *c = NULL;
    int32_t *topic_sizes = NULL;
    struct kstr *topics = NULL;
    size_t n = 0, cap = 0;
    int32_t nt = kr_array(rd, r->flex, 6);
    if (nt > 0 && ((topic_sizes = calloc((size_t)nt, sizeof(*topic_sizes))) == NULL ||
                   (topics = calloc((size_t)nt, sizeof(*topics))) == NULL)) {
        free(topic_sizes);
        return API_MALFORMED;
    }
    for (int32_t i = 0; i < nt && !rd->err; i++) {
        struct kstr topic = kr_str(rd, r->flex);
        topics[i] = topic;
        int32_t np = kr_array(rd, r->flex, 14);
        for (int32_t j = 0; j < np && !rd->err; j++) {
            if (n == cap) {
                cap = cap ? cap * 2 : 16;
                struct group_offset_commit *nc = realloc(c, cap * sizeof(*nc));
                if (nc == NULL) {
                    rd->err = 1;
                    break;
                }
                c = nc;
            }
            struct group_offset_commit *e = &c[n++];
            memset(e, 0, sizeof(*e));
            e->topic = topic;
            e->partition = kr_i32(rd);
            e->offset = kr_i64(rd);
            e->leader_epoch = v >= 2 ? kr_i32(rd) : -1;
            e->metadata = kr_str(rd, r->flex);
            kr_tags(rd, r->flex);
            topic_sizes[i]++;
        }
        kr_tags(rd, r->flex);
    }
    kr_tags(rd, r->flex);
    if (rd->err) {
        free(c);
        free(topic_sizes);
        free(topics);
        return API_MALFORMED;
    }
    struct txn *t = NULL;
    struct group *g = NULL;
    int err = txn_commit_check(b, v, txn_id, group_id, pid, epoch, generation, member_id,
                               instance_id, &t, &g);
    for (size_t i = 0; i < n; i++) {
        if (err != KERR_NONE) {
            c[i].error = (int16_t)err;
        } else if (c[i].metadata.len > GROUP_OFFSET_METADATA_MAX) {
            c[i].error = KERR_OFFSET_METADATA_TOO_LARGE;
        } else if (broker_partition_find(b, c[i].topic, c[i].partition) == NULL) {
            c[i].error = KERR_UNKNOWN_TOPIC_OR_PARTITION;
        }
    }
    if (err == KERR_NONE) {
        (void)group_txn_offsets_add(b, g, pid, epoch, c, n); /* sets errors on failure */
    }
    struct kbuf *w = &r->slot->buf;
    kw_i32(w, 0);
    kw_array(w, nt, r->flex);
    size_t k = 0;
    for (int32_t i = 0; i < nt; i++) {
        kw_kstr(w, topics[i], r->flex);
        kw_array(w, topic_sizes[i], r->flex);
        for (int32_t j = 0; j < topic_sizes[i]; j++, k++) {
            kw_i32(w, c[k].partition);
            kw_i16(w, c[k].error);
            kw_tags(w, r->flex);
        }
        kw_tags(w, r->flex);
    }
    kw_tags(w, r->flex);
    free(c);
    free(topic_sizes);
    free(topics);
    return API_DONE;
}
