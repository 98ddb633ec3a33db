/*
 * The deduplicator's decision, apart from Kafka (unit-tested on a bare bc_store):
 * given a record's key digest, its partition and Kafka timestamp, is it a first occurrence
 * (remembered in the `seen` store) or a repeat within the window (with the first
 * occurrence's position)?
 *
 * Window semantics (event time = Kafka record timestamps, as the runtime's stream time):
 * a partition's stream time is the highest record timestamp seen on it. A key is remembered
 * from its first occurrence at timestamp t until the stream time passes t + window: a
 * repeat while stream_time - t <= window is a duplicate; later, it counts as a new first
 * occurrence (and is remembered again). Repeats carry the first occurrence's timestamp
 * forward: they never extend the window.
 *
 * Restart exactness: the stream time is part of the state. A record that advances it
 * without storing an entry at that timestamp (a duplicate, a record without key) writes the
 * partition's stream-time marker (key "\0stream_time", value "s", ts = stream time), so
 * after a restore the stream time is what it was at the committed offset, and the
 * decisions for the records re-delivered are the ones made before the crash.
 */
#ifndef DEDUP_H
#define DEDUP_H

#include <stddef.h>
#include <stdint.h>

#include "bc_stage.h"
#include "dedup_key.h"

/* The first occurrence of a key: where it was read (its original position on the input
 * topic, also in repartition mode). Stored big-endian as the entry's 12-byte value. */
struct dedup_first {
    int32_t partition;
    int64_t offset;
};

#define DEDUP_VALUE_SIZE 12
#define DEDUP_MARKER_KEY "\0stream_time"
#define DEDUP_MARKER_KEY_LEN 12

/* Per partition: stream time (-1 before any record) and the highest timestamp the store
 * holds for the partition (entries or the marker). */
struct dedup_part {
    int64_t stream_time;
    int64_t saved;
};

/* The partitions' stream times, indexed by partition number. */
struct dedup_window {
    struct bc_store *seen; /* borrowed */
    int64_t window_ms;
    struct dedup_part *parts;
    size_t part_count;
};

enum dedup_verdict { DEDUP_FIRST = 0, DEDUP_REPEAT = 1 };

/* Starts partition's stream time at stream_time (the store's highest timestamp after a
 * restore, -1 when empty). Returns 0 or -1 (out of memory). */
int dedup_window_assign(struct dedup_window *w, int32_t partition, int64_t stream_time);

/* Decides one record (ts: its Kafka timestamp, -1 when none) and updates the store: a
 * first occurrence is put with value = first; a repeat leaves the entry and fills *first
 * from it. Then writes the stream-time marker when needed (see above). Returns the verdict,
 * or -1 when a store put failed (full with policy reject, or the changelog write failed). */
int dedup_window_decide(struct dedup_window *w, int32_t partition,
                        const uint8_t digest[DEDUP_DIGEST_SIZE], int64_t ts,
                        struct dedup_first *first);

/* Advances the stream time for a record that has no key. Returns 0 or -1 (marker put). */
int dedup_window_observe(struct dedup_window *w, int32_t partition, int64_t ts);

/* Deletes the partition's entries that the window has passed (ts < stream_time - window):
 * for a store opened without ttl (repartition mode, where the runtime's stream time mixes
 * two topics). Returns the number deleted, or -1 (out of memory). */
long dedup_window_sweep(struct dedup_window *w, int32_t partition);

void dedup_window_free(struct dedup_window *w);

#endif
