/*
 * Log compaction for topics with cleanup.policy=compact (state changelogs, tables), as
 * Kafka's LogCleaner does it, in one pass per partition:
 *
 *  1. The cleanable range ends at the last stable offset: nothing of an undecided
 *     transaction is ever touched. Only closed segments wholly below it are rewritten.
 *  2. A key map (key -> offset of its latest record) is built over [log start, LSO) from
 *     committed and non-transactional records only: an aborted record never shadows a
 *     committed value.
 *  3. Each cleanable segment is rewritten: records of aborted transactions go first, with
 *     their ABORT markers (and their entries in the aborted-transaction index); a keyed
 *     record stays only if it is its key's latest; a tombstone (null value) that is its
 *     key's latest stays until its timestamp is older than delete.retention.ms. COMMIT
 *     markers stay (they close transactions for the recovery scan). Records without a key
 *     stay. A batch that keeps every record is copied unchanged (compressed or not); one
 *     that keeps some is rebuilt uncompressed with the same base offset, last offset delta,
 *     timestamps, producer id, epoch, base sequence and transactional flag, and the kept
 *     records' bytes unchanged (their deltas are relative to the same base); one that keeps
 *     none disappears, leaving a gap in the offsets. Unlike Kafka's cleaner, the last batch
 *     of an idempotent producer is not kept as an empty batch: kafkajs takes a Fetch answer
 *     holding only empty batches for the end of the partition and skips to the high
 *     watermark. The cost: after a restart, a producer whose batches were all cleaned away
 *     is unknown again (any sequence accepted), as after retention.
 *
 * Compressed batches (gzip, snappy raw or xerial-framed, lz4 frame, zstd) are decompressed to
 * read their keys. Passes run on a timer (--compact-interval-ms); a partition is cleaned when
 * the bytes written since its last pass reach min.cleanable.dirty.ratio of its size, or when
 * a tombstone it kept is due. The compaction lags are not applied.
 */
#ifndef BROKER_COMPACT_H
#define BROKER_COMPACT_H

#include <stddef.h>
#include <stdint.h>

struct broker;
struct partition;

struct compact_stats {
    int segments;         /* segments rewritten */
    int64_t records_in;   /* records in the cleaned segments before */
    int64_t records_out;  /* after */
    int64_t aborted;      /* records of aborted transactions removed */
    int64_t tombstones;   /* tombstones removed */
    int64_t markers;      /* ABORT markers removed */
    int64_t bytes_before; /* size of the log before */
    int64_t bytes_after;
};

/* Compacts one partition of a compacted topic (now: wall clock ms, for
 * delete.retention.ms). Returns 0 (possibly with nothing to do), or -1 on an I/O or memory
 * error (the log is left consistent: a segment is replaced whole or not at all). */
int compact_partition(struct broker *b, struct partition *p, int64_t now, struct compact_stats *st);

/* One pass over every partition of every topic whose cleanup.policy has "compact". */
void compact_run(struct broker *b);
/* Runs compact_run every interval_ms on the broker's timer heap. */
void compact_start(struct broker *b, int64_t interval_ms);

/* Decompresses a record batch's records section (codec: the batch's attributes & 7, 1..4).
 * Returns 0 with *out (new, malloc'd) and *out_len, or -1. */
int compact_decompress(int codec, const uint8_t *in, size_t n, uint8_t **out, size_t *out_len);

#endif
