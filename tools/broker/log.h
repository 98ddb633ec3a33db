/*
 * A partition's log: a directory of append-only segment files named by their base offset
 * (00000000000000000000.log), each with a sparse offset index. Batches are stored exactly
 * as producers sent them with the broker's base offset written in.
 *
 * Recovery (plog_open): every segment is scanned batch by batch; a batch whose header,
 * length, CRC-32C or offset does not follow from the previous one ends the log there: the
 * file is truncated at that point and later segments are deleted, so a torn tail left by
 * kill -9 or a crash is never served. In-memory indexes are rebuilt by the same scan; the
 * .index files (Kafka's format: 4-byte relative offset, 4-byte position) are rewritten when
 * a segment rolls and on close, for tools, and never trusted on startup.
 *
 * Durability: an append is a write(2) into the page cache, visible to readers at once and
 * surviving the death of the process. plog_sync() makes it survive the machine's death.
 */
#ifndef BROKER_LOG_H
#define BROKER_LOG_H

#include <stddef.h>
#include <stdint.h>

#include "batch.h"
#include "codec.h"

struct plog;

struct plog_opts {
    int64_t segment_bytes;  /* roll the active segment when it would grow past this */
    int32_t index_interval; /* bytes between sparse index entries */
    int allow_gaps;         /* a compacted log: offsets only need to increase, within a
                               segment and from one segment to the next */
};

/* Called for every valid batch found by recovery, in offset order. */
typedef void (*plog_scan_fn)(void *arg, const struct batch_hdr *h);

/* Opens (creating when missing) the log in dir and recovers it. *truncated_bytes tells how
 * much torn or invalid data was cut. Returns 0, or -1 with errstr. */
int plog_open(struct plog **out, const char *dir, const struct plog_opts *opts,
              plog_scan_fn scan, void *scan_arg, int64_t *truncated_bytes, char *errstr,
              size_t errstr_size);

/* Writes the index files and closes. NULL is a no-op. */
void plog_close(struct plog *log);

/* Closes and removes the log's directory with everything in it. */
int plog_destroy_dir(struct plog *log);

/* Appends one validated batch (n bytes at batch, writable: its base offset is set here).
 * Returns 0 with *base_offset, or a Kafka error code (KAFKA_STORAGE_ERROR 56). */
int plog_append(struct plog *log, uint8_t *batch, size_t n, int64_t *base_offset);

/* Appends to out the whole batches from the one holding `offset`, at most max_bytes of
 * them, but always the first when `min_one`. Returns 0 (possibly with nothing appended at
 * the high watermark), OFFSET_OUT_OF_RANGE (1), or KAFKA_STORAGE_ERROR (56). *copied is the
 * number of bytes appended. Data comes from a single segment per call. */
int plog_read(struct plog *log, int64_t offset, size_t max_bytes, int min_one,
              struct kbuf *out, size_t *copied);

/* The offset of the first record with timestamp >= ts (compressed batches are decompressed
 * to find it), or the high watermark when none. */
int64_t plog_offset_for_time(struct plog *log, int64_t ts, int64_t *found_ts);

int64_t plog_start_offset(const struct plog *log);
int64_t plog_end_offset(const struct plog *log);
uint64_t plog_size(const struct plog *log);

/* Deletes whole non-active segments: the oldest while the log would still hold at least
 * retention_bytes without it (-1: no limit), and those whose newest record is older than
 * now - retention_ms (-1: no limit; an active segment that old is rolled first and goes
 * too). Returns the number of segments deleted. */
int plog_apply_retention(struct plog *log, int64_t retention_bytes, int64_t retention_ms,
                         int64_t now);

/* Log compaction (compact.c): called for each batch of a segment being rewritten; appends
 * to out what replaces it (nothing, the batch as is, or a rebuilt batch with the same base
 * offset). Returns 0, or -1 to abandon the rewrite of this segment. */
typedef int (*plog_rewrite_fn)(void *arg, const uint8_t *batch, size_t n, struct kbuf *out);

/* Rewrites every closed (non-active) segment whose offsets all lie below `limit` through
 * fn: the new file is written beside the old one, synced, and renamed over it; the segment
 * keeps its base offset and offset range. Needs opts.allow_gaps. *cleaned_end is set to the
 * end offset of the last segment passed through fn (the log start offset when none).
 * Returns the number of segments rewritten, or -1 on an I/O error (segments already
 * rewritten stay so). */
int plog_rewrite(struct plog *log, int64_t limit, plog_rewrite_fn fn, void *arg,
                 int64_t *cleaned_end);

/* fdatasync of the segments written since the last sync. Returns 0 or -1. */
int plog_sync(struct plog *log);
/* Sets the segment size used for later rolls. */
void plog_set_segment_bytes(struct plog *log, int64_t segment_bytes);

#endif
