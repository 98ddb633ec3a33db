/*
 * AddPartitionsToTxn, AddOffsetsToTxn and EndTxn (the transaction coordinator is txn.c;
 * FindCoordinator is api_group.c, InitProducerId api_produce.c, TxnOffsetCommit
 * txn_groups.c).
 *
 * PRODUCER_FENCED (90) exists from InitProducerId v4, AddPartitionsToTxn v2,
 * AddOffsetsToTxn v2, EndTxn v2 and TxnOffsetCommit v3 (KIP-588); older versions get
 * INVALID_PRODUCER_EPOCH (47) instead, as Kafka answers them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bc_log.h"
#include "broker.h"

static int16_t fenced_for(int err, int version, int first_fenced_version)
{
    if (err == KERR_TXN_PRODUCER_FENCED && version < first_fenced_version) {
        return KERR_INVALID_PRODUCER_EPOCH;
    }
    return (int16_t)err;
}

int api_add_partitions_to_txn(struct broker *b, struct req *r)
{
    struct krd *rd = &r->body;
    struct kstr id = kr_str(rd, r->flex);
    int64_t pid = kr_i64(rd);
    int16_t epoch = kr_i16(rd);
    struct txn *t = NULL;
    int err = txn_validate(b, id, pid, epoch, &t);
    /* Pass 1: decode and check the topics; pass 2 (from a copy of the reader): answer. */
    struct krd start = *rd;
    int unknown = 0;
    int32_t nt = kr_array(rd, r->flex, 6);
    for (int32_t i = 0; i < nt && !rd->err; i++) {
        struct kstr name = kr_str(rd, r->flex);
        int32_t np = kr_array(rd, r->flex, 4);
        for (int32_t j = 0; j < np && !rd->err; j++) {
            if (broker_partition_find(b, name, kr_i32(rd)) == NULL) {
                unknown = 1;
            }
        }
        kr_tags(rd, r->flex);
    }
    kr_tags(rd, r->flex);
    if (rd->err) {
        return API_MALFORMED;
    }
    if (err == KERR_NONE && !unknown) {
        struct krd again = start;
        nt = kr_array(&again, r->flex, 6);
        for (int32_t i = 0; i < nt && err == KERR_NONE; i++) {
            struct kstr name = kr_str(&again, r->flex);
            char topic[TOPIC_NAME_MAX + 1];
            kstr_copy(name, topic, sizeof(topic));
            int32_t np = kr_array(&again, r->flex, 4);
            for (int32_t j = 0; j < np && err == KERR_NONE; j++) {
                err = txn_add_partition(b, t, topic, kr_i32(&again));
            }
            kr_tags(&again, r->flex);
        }
        if (err == KERR_NONE) {
            err = txn_save_state(b, t);
        }
    }
    err = fenced_for(err, r->api_version, 2);
    /* Answer every partition. */
    struct kbuf *w = &r->slot->buf;
    kw_i32(w, 0);
    struct krd again = start;
    nt = kr_array(&again, r->flex, 6);
    kw_array(w, nt, r->flex);
    for (int32_t i = 0; i < nt; i++) {
        struct kstr name = kr_str(&again, r->flex);
        kw_kstr(w, name, r->flex);
        int32_t np = kr_array(&again, r->flex, 4);
        kw_array(w, np, r->flex);
        for (int32_t j = 0; j < np; j++) {
            int32_t index = kr_i32(&again);
            int16_t perr = (int16_t)err;
            if (err == KERR_NONE && unknown) {
                perr = broker_partition_find(b, name, index) == NULL
                           ? KERR_UNKNOWN_TOPIC_OR_PARTITION
                           : KERR_TXN_OPERATION_NOT_ATTEMPTED;
            }
            kw_i32(w, index);
            kw_i16(w, perr);
            kw_tags(w, r->flex);
        }
        kr_tags(&again, r->flex);
        kw_tags(w, r->flex);
    }
    kw_tags(w, r->flex);
    return API_DONE;
}

int api_add_offsets_to_txn(struct broker *b, struct req *r)
{
    struct krd *rd = &r->body;
    struct kstr id = kr_str(rd, r->flex);
    int64_t pid = kr_i64(rd);
    int16_t epoch = kr_i16(rd);
    struct kstr group = kr_str(rd, r->flex);
    kr_tags(rd, r->flex);
    if (rd->err) {
        return API_MALFORMED;
    }
    struct txn *t = NULL;
    int err = txn_validate(b, id, pid, epoch, &t);
    if (err == KERR_NONE) {
        err = group.len > 0 ? txn_add_group(b, t, group) : 24; /* INVALID_GROUP_ID */
    }
    struct kbuf *w = &r->slot->buf;
    kw_i32(w, 0);
    kw_i16(w, fenced_for(err, r->api_version, 2));
    kw_tags(w, r->flex);
    return API_DONE;
}

int api_end_txn(struct broker *b, struct req *r)
{
    struct krd *rd = &r->body;
    struct kstr id = kr_str(rd, r->flex);
    int64_t pid = kr_i64(rd);
    int16_t epoch = kr_i16(rd);
    int8_t committed = kr_i8(rd);
    kr_tags(rd, r->flex);
    if (rd->err) {
        return API_MALFORMED;
    }
    int err = txn_end(b, id, pid, epoch, committed != 0);
    struct kbuf *w = &r->slot->buf;
    kw_i32(w, 0);
    kw_i16(w, fenced_for(err, r->api_version, 2));
    kw_tags(w, r->flex);
    return API_DONE;
}
