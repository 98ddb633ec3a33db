/*
 * Idempotent-producer state of one partition, as Kafka keeps it: per producer id the
 * current epoch and the metadata of its last 5 appended batches. It is rebuilt from the
 * log's batch headers at startup (plog_open's scan), so it survives restarts for as long
 * as the batches are retained.
 */
#ifndef BROKER_PRODUCER_H
#define BROKER_PRODUCER_H

#include <stdint.h>

#include "batch.h"

#define PRODUCER_CACHED_BATCHES 5

struct producer_batch {
    int32_t first_seq;
    int32_t last_seq;
    int64_t first_offset;
    int32_t offset_delta;
    int64_t timestamp;
};

struct producer_entry {
    int64_t producer_id;
    int16_t epoch;
    int nbatches;                                          /* 0..5 */
    struct producer_batch batches[PRODUCER_CACHED_BATCHES]; /* oldest first */
    int64_t txn_first_offset; /* first offset of the open transaction, -1 when none */
};

struct producer_table {
    struct producer_entry *v; /* sorted by producer_id */
    size_t n, cap;
};

enum producer_check_result {
    PRODUCER_APPEND = 0,    /* in sequence: append it */
    PRODUCER_DUPLICATE = 1, /* already appended: answer with *dup_offset, append nothing */
};

/* Checks a batch from a producer (h->producer_id >= 0) against the table. Returns
 * PRODUCER_APPEND, PRODUCER_DUPLICATE (with *dup_offset), or a Kafka error code:
 * INVALID_PRODUCER_EPOCH (47) for an older epoch, OUT_OF_ORDER_SEQUENCE_NUMBER (45). */
int producer_check(const struct producer_table *t, const struct batch_hdr *h,
                   int64_t *dup_offset);

/* Records an appended batch (h->base_offset is its final offset). Returns 0 or -1 (memory). */
int producer_update(struct producer_table *t, const struct batch_hdr *h);

struct producer_entry *producer_find(const struct producer_table *t, int64_t producer_id);
void producer_table_free(struct producer_table *t);

#endif
