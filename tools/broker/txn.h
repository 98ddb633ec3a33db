/*
 * Transactions (KIP-98, KIP-360, KIP-447): the transaction coordinator and, per partition,
 * the last stable offset and the index of aborted transactions.
 *
 * Coordinator: per transactional.id the producer id and epoch, the state (Kafka's
 * TransactionState: Empty, Ongoing, PrepareCommit, PrepareAbort, CompleteCommit,
 * CompleteAbort), the partitions and groups in the running transaction (its pending
 * offsets wait in the group coordinator, group.h), and a timeout on the broker's timer heap. Every
 * state change is written to an internal log under <data-dir>/meta/txn-state/ (one record per
 * change: key = transactional.id, value = the whole state, the latest record wins, like Kafka's
 * __transaction_state) before it is answered, and replayed at startup. The broker runs on
 * one thread, so the Prepare* states only last inside one EndTxn: writing the markers and
 * applying the offsets happen before the next request is read. A Prepare* state found by
 * recovery (a crash in the middle) is completed; an Ongoing one is aborted, as are
 * transactions whose transaction.timeout.ms passed.
 *
 * Partitions: a producer's open transaction starts at its first transactional batch
 * (producer_entry.txn_first_offset) and ends at its COMMIT or ABORT control batch. The last
 * stable offset is the smallest first offset of the open transactions, or the high
 * watermark. An ABORT marker adds {producer id, first offset, marker offset} to the
 * partition's aborted list, which read_committed fetches return and which recovery rebuilds
 * from the log (the markers are read back after the scan).
 */
#ifndef BROKER_TXN_H
#define BROKER_TXN_H

#include <stddef.h>
#include <stdint.h>

#include "batch.h"
#include "codec.h"
#include "timer.h"

struct broker;
struct partition;
struct plog;
struct req;

/* Kafka error codes of the transaction APIs (specs/kafka-error-codes.tsv). */
enum {
    KERR_TXN_INVALID_TXN_STATE = 48,
    KERR_TXN_INVALID_PRODUCER_ID_MAPPING = 49,
    KERR_TXN_INVALID_TRANSACTION_TIMEOUT = 50,
    KERR_TXN_CONCURRENT_TRANSACTIONS = 51,
    KERR_TXN_OPERATION_NOT_ATTEMPTED = 55,
    KERR_TXN_UNSTABLE_OFFSET_COMMIT = 88,
    KERR_TXN_PRODUCER_FENCED = 90,
};

#define TXN_MAX_TIMEOUT_MS 900000 /* Kafka's transaction.max.timeout.ms default */
#define CONTROL_ABORT 0
#define CONTROL_COMMIT 1

/* --- per partition ------------------------------------------------------------------------ */
struct aborted_txn {
    int64_t producer_id;
    int64_t first_offset;
    int64_t last_offset; /* the offset of its ABORT marker */
};

struct partition_txn {
    struct aborted_txn *aborted; /* ordered by last_offset */
    size_t naborted, capaborted;
    struct aborted_txn *markers; /* recovery only: markers seen by the scan, type unknown */
    size_t nmarkers, capmarkers;
    int64_t cleaned_upto;  /* compact.c: end of the segments cleaned by the last pass */
    int64_t compacted_lso; /* compact.c: LSO, log end and log size after the last pass */
    int64_t compacted_end;
    int64_t compacted_bytes;
    int64_t tombstone_due; /* compact.c: when kept tombstones may go (ms), 0: none kept */
};

/* The last stable offset: the first offset of the oldest open transaction, or the high
 * watermark. */
int64_t txn_partition_lso(struct partition *p);
/* Notes a batch appended to p (after producer_update). control_type: CONTROL_ABORT or
 * CONTROL_COMMIT for a control batch, else ignored. */
void txn_partition_note(struct partition *p, const struct batch_hdr *h, int control_type);
/* Recovery: called for every batch of the scan (after producer_update), then
 * txn_partition_recovered() once the log is open (reads the markers back). */
void txn_partition_scan(struct partition *p, const struct batch_hdr *h);
int txn_partition_recovered(struct partition *p);
void txn_partition_free(struct partition *p);
/* Writes the read_committed aborted_transactions array of a fetch returning [from, to)
 * (to <= from: none returned; an empty array). */
void txn_partition_write_aborted(struct partition *p, int64_t from, int64_t to, struct kbuf *w,
                                 int flex);
/* The control type (CONTROL_ABORT/CONTROL_COMMIT) of the control batch at p (n bytes), or
 * -1. */
int txn_control_type(const uint8_t *p, size_t n);

/* Checks a transactional batch (attributes has TRANSACTIONAL, not CONTROL) for partition p
 * against the coordinator: its producer must have an Ongoing transaction with the same
 * epoch that includes p. Returns KERR_NONE, INVALID_PRODUCER_EPOCH (47) or
 * INVALID_TXN_STATE (48). */
int txn_check_produce(struct broker *b, struct partition *p, const struct batch_hdr *h);

/* --- coordinator -------------------------------------------------------------------------- */
enum txn_state {
    TXN_EMPTY = 0,
    TXN_ONGOING = 1,
    TXN_PREPARE_COMMIT = 2,
    TXN_PREPARE_ABORT = 3,
    TXN_COMPLETE_COMMIT = 4,
    TXN_COMPLETE_ABORT = 5,
};

struct txn_tp {
    char *topic; /* owned */
    int32_t partition;
};

struct txn {
    char *id; /* owned transactional.id */
    int64_t producer_id;
    int64_t last_producer_id; /* -1 unless rotated */
    int16_t epoch;            /* -1 before the first InitProducerId completed */
    int16_t last_epoch;       /* the epoch before the last bump by its own producer, or -1 */
    int32_t timeout_ms;
    enum txn_state state;
    int64_t start_ms; /* when the running transaction became Ongoing */
    struct txn_tp *parts;
    size_t nparts, capparts;
    char **groups; /* owned group ids added with AddOffsetsToTxn (their pending offsets
                      live in the group coordinator, group.h) */
    size_t ngroups, capgroups;
    struct timer timer; /* transaction timeout while Ongoing */
    struct broker *b;
};

struct txn_coordinator {
    struct txn **v;
    size_t n, cap;
    struct plog *log; /* meta/txn-state */
    int64_t records;
};

/* Opens meta/txn-state, replays it, and finishes transactions left open or half-ended by a
 * crash (ABORT markers for Ongoing ones). Call after the topics are loaded. Returns 0 or -1
 * with errstr. */
int txn_coordinator_load(struct broker *b, char *errstr, size_t errstr_size);
void txn_coordinator_close(struct broker *b);

struct txn *txn_find(struct broker *b, struct kstr id);
struct txn *txn_find_by_producer(struct broker *b, int64_t producer_id);

/* The API handlers (api_txn.c). */
int api_add_partitions_to_txn(struct broker *b, struct req *r);
int api_add_offsets_to_txn(struct broker *b, struct req *r);
int api_end_txn(struct broker *b, struct req *r);
int api_txn_offset_commit(struct broker *b, struct req *r);

/* --- coordinator operations (txn.c), used by api_txn.c and the unit tests ----------------- */
/* InitProducerId for a transactional id. expect_pid/expect_epoch: -1/-1 when not given.
 * Returns a Kafka error code; on success *pid and *epoch. */
int txn_init_producer(struct broker *b, struct kstr id, int32_t timeout_ms, int64_t expect_pid,
                      int16_t expect_epoch, int64_t *pid, int16_t *epoch);
/* Validates pid/epoch for id. Returns KERR_NONE with *out, or the error. */
int txn_validate(struct broker *b, struct kstr id, int64_t pid, int16_t epoch, struct txn **out);
/* Adds a partition to the running transaction (making it Ongoing). Returns 0 or an error. */
int txn_add_partition(struct broker *b, struct txn *t, const char *topic, int32_t partition);
int txn_add_group(struct broker *b, struct txn *t, struct kstr group);
/* Writes t's state to the txn-state log. Returns KERR_NONE or KAFKA_STORAGE_ERROR. */
int txn_save_state(struct broker *b, struct txn *t);
/* EndTxn. Returns a Kafka error code. */
int txn_end(struct broker *b, struct kstr id, int64_t pid, int16_t epoch, int commit);

/* Ends t's pending transactional offsets in the group coordinator: commit != 0 makes them
 * committed offsets, 0 drops them (txn_groups.c). */
void txn_offsets_end(struct broker *b, struct txn *t, int commit);
/* At startup: drops pending transactional offsets whose producer has no Ongoing
 * transaction (txn_groups.c). */
void txn_offsets_sweep(struct broker *b);

#endif
