/*
 * Transactions and the group coordinator: TxnOffsetCommit (KIP-447) and applying a committed
 * transaction's offsets.
 *
 * A TxnOffsetCommit is checked like an OffsetCommit of a transactional producer (Kafka's
 * validateOffsetCommit: generation, member id and group.instance.id against the group,
 * which fences zombies of an old generation with ILLEGAL_GENERATION / UNKNOWN_MEMBER_ID /
 * FENCED_INSTANCE_ID, abortable for the client), then against the transaction (producer id
 * and epoch, Ongoing, the group added with AddOffsetsToTxn). The offsets then wait in the
 * transaction (persisted with its state) until EndTxn: a commit makes them the group's
 * committed offsets, an abort drops them. While they wait, OffsetFetch with RequireStable
 * answers UNSTABLE_OFFSET_COMMIT for their partitions.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bc_log.h"
#include "broker.h"
#include "group.h"

void txn_offsets_apply(struct broker *b, struct txn *t)
{
    struct group_offset_commit *c = calloc(t->noffsets, sizeof(*c));
    if (c == NULL) {
        bc_log(BC_LOG_ERROR, "out of memory applying transactional offsets", "transactional_id",
               t->id, NULL);
        return;
    }
    for (size_t gi = 0; gi < t->noffsets; gi++) {
        const char *group = t->offsets[gi].group;
        int seen = 0;
        for (size_t k = 0; k < gi && !seen; k++) {
            seen = strcmp(t->offsets[k].group, group) == 0;
        }
        if (seen) {
            continue;
        }
        size_t n = 0;
        for (size_t i = gi; i < t->noffsets; i++) {
            const struct txn_offset *o = &t->offsets[i];
            if (strcmp(o->group, group) != 0) {
                continue;
            }
            c[n++] = (struct group_offset_commit){
                .topic = {o->topic, (int32_t)strlen(o->topic)},
                .partition = o->partition,
                .offset = o->offset,
                .leader_epoch = o->leader_epoch,
                .metadata = {o->metadata, o->metadata ? (int32_t)strlen(o->metadata) : -1},
            };
        }
        struct group *g = group_get_or_create(b, (struct kstr){group, (int32_t)strlen(group)});
        if (g == NULL || group_offsets_commit(b, g, c, n) != 0) {
            bc_log(BC_LOG_ERROR, "cannot commit transactional offsets", "transactional_id",
                   t->id, "group", group, NULL);
        }
    }
    free(c);
}

/* The error for the whole request, or KERR_NONE with *out. */
static int txn_commit_check(struct broker *b, int version, struct kstr txn_id, struct kstr group_id,
                            int64_t pid, int16_t epoch, int32_t generation, struct kstr member_id,
                            struct kstr instance_id, struct txn **out)
{
    *out = NULL;
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
    *out = t;
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
    if (rd->err) {
        return API_MALFORMED;
    }
    struct txn *t = NULL;
    int err = txn_commit_check(b, v, txn_id, group_id, pid, epoch, generation, member_id,
                               instance_id, &t);
    struct kbuf *w = &r->slot->buf;
    kw_i32(w, 0);
    int32_t nt = kr_array(rd, r->flex, 6);
    kw_array(w, nt, r->flex);
    int added = 0;
    for (int32_t i = 0; i < nt && !rd->err; i++) {
        struct kstr topic = kr_str(rd, r->flex);
        kw_kstr(w, topic, r->flex);
        int32_t np = kr_array(rd, r->flex, 14);
        kw_array(w, np, r->flex);
        for (int32_t j = 0; j < np && !rd->err; j++) {
            int32_t index = kr_i32(rd);
            int64_t offset = kr_i64(rd);
            int32_t leader_epoch = v >= 2 ? kr_i32(rd) : -1;
            struct kstr metadata = kr_str(rd, r->flex);
            kr_tags(rd, r->flex);
            int perr = err;
            if (perr == KERR_NONE && metadata.len > GROUP_OFFSET_METADATA_MAX) {
                perr = KERR_OFFSET_METADATA_TOO_LARGE;
            } else if (perr == KERR_NONE && broker_partition_find(b, topic, index) == NULL) {
                perr = KERR_UNKNOWN_TOPIC_OR_PARTITION;
            } else if (perr == KERR_NONE) {
                perr = txn_add_offset(b, t, group_id, topic, index, offset, leader_epoch, metadata);
                added += perr == KERR_NONE;
            }
            kw_i32(w, index);
            kw_i16(w, (int16_t)perr);
            kw_tags(w, r->flex);
        }
        kr_tags(rd, r->flex);
        kw_tags(w, r->flex);
    }
    kr_tags(rd, r->flex);
    kw_tags(w, r->flex);
    if (rd->err) {
        return API_MALFORMED;
    }
    if (added > 0 && txn_save_state(b, t) != KERR_NONE) {
        /* Not persisted: fail the whole request rather than commit what recovery would lose. */
        bc_log(BC_LOG_ERROR, "cannot persist transactional offsets", "transactional_id", t->id,
               NULL);
        return API_MALFORMED;
    }
    return API_DONE;
}
