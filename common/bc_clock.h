/*
 * Event time of a partition whose records come from several sources, for stages that decide
 * in event time (the tail-sampler's traces, the lineage-builder's orphans).
 *
 * A partition of a downstream topic mixes records of every upstream partition (the raw
 * topic's, carried in TrackingEvent.source), and upstream instances can run minutes of event
 * time apart (worst while one restarts). A clock on the newest record would let the fastest
 * source decide the slowest one's work early, so the clock keeps the newest time per source
 * and reads
 *     now = max(min over sources of their newest time, newest - max_skew)
 * (the newest itself when max_skew is 0 or no source is known). A source expected (a
 * partition of the raw topic, from the topology) and not seen yet counts as furthest behind.
 * Sources map to BC_CLOCK_SOURCES slots: the partitions of one topic take consecutive slots,
 * so up to BC_CLOCK_SOURCES partitions of a topic never share one (two sharing a slot count
 * as one, the faster hiding the slower: a single newest-record clock's behaviour, never
 * worse). Everything is a pure function of the records observed, in input order.
 */
#ifndef BC_CLOCK_H
#define BC_CLOCK_H

#include <stddef.h>
#include <stdint.h>

#define BC_CLOCK_SOURCES 16

struct bc_clock {
    int64_t max;                   /* newest event time of any record, -1 before any */
    int64_t src[BC_CLOCK_SOURCES]; /* newest event time per source slot, -1: none seen */
};

void bc_clock_init(struct bc_clock *c);
/* The slot of a source (topic, topic_len bytes, and partition). */
int bc_clock_slot(const char *topic, size_t topic_len, int32_t partition);
/* Raises the clock with a record's event time from source slot (-1: none known). Returns 1
 * when anything changed. */
int bc_clock_observe(struct bc_clock *c, int64_t ts, int slot);
/* now (see above) with the slots in `expected` (bit i: slot i) expected; -1 while nothing
 * is known. */
int64_t bc_clock_now(const struct bc_clock *c, int64_t max_skew, uint32_t expected);
/* Raises c to from, field by field (a restored clock). */
void bc_clock_merge(struct bc_clock *c, const struct bc_clock *from);

#endif
