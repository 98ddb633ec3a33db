/*
 * The tail-sampler's trace buffer: undecided traces per partition, their records as encoded
 * bytes in a list per trace, the event-time watermark and decision timing. Pure
 * code (no Kafka, no Avro), unit-tested in tests/unit/test_tail_sampler_buffer.c.
 *
 * Decision timing (event time, so a replay of the topic decides the same way). Per
 * partition, max_event_ms is the highest event time seen (a span's end, a log's time). The
 * records of one partition come from several sources (the partitions of the raw topic the
 * normalizer read, TrackingEvent.source), processed upstream at different speeds: while one
 * upstream worker is slow or restarting, the others run ahead by minutes of event time, and
 * a watermark on max_event_ms alone would decide the slow source's traces before their
 * spans arrive. So event time "now" is the newest time of the source that is furthest
 * behind, but never more than max_skew behind max_event_ms (a source that stopped for good
 * cannot hold decisions back forever):
 *     now_ms = max(min over sources of their newest time, max_event_ms - max_skew)
 * (max_event_ms itself when no source is known or max_skew is 0); a source expected (the
 * partitions of the raw topic, from the topology) but not seen yet counts as furthest
 * behind, so the first sources to show up after a start do not decide the traces of the
 * others (common/bc_clock.h: the clock, its source slots). The watermark is now_ms - allowed_lateness.
 * A trace is due when
 *     watermark >= last_ms + decision_wait          (its latest span ended long enough ago)
 *  or now_ms >= root_end_ms + decision_wait         (its root span ended, and decision_wait
 *                                                    of event time has passed since)
 * which is one number per trace, due_ms, compared with now_ms; a min-heap on due_ms finds
 * the due traces in O(log n). The idle fallback (processing time: ts_part_due_by()
 * with max_event_ms plus the time the partition has been quiet) and the early decisions of a
 * full buffer (ts_part_oldest()) are the stage's.
 *
 * Memory. Every byte the buffer allocates is counted in ts_buffer_bytes(): the trace
 * structs (with their policy accumulators), the records, the hash tables and heaps at their
 * capacity. ts_buffer_add_cost() says beforehand what an add would allocate, so the stage
 * can make room first and the count never exceeds its bound.
 * Each record is one allocation, TS_RECORD_HEADER bytes (the link to the trace's next
 * record, offset, timestamp, length, flags) then its value, linked in arrival order from
 * its trace: adding a record never moves the ones before it (a growing array per trace
 * copied itself on every few records), and no slack is held. It is counted as the chunk
 * glibc's malloc takes for it: header and value plus 8, rounded up to 16 (at least 32).
 */
#ifndef TS_BUFFER_H
#define TS_BUFFER_H

#include <stddef.h>
#include <stdint.h>

#include "bc_clock.h"
#include "policy.h"

#define TS_RECORD_HEADER 32 /* next record, offset, timestamp, length, flags */

struct ts_buffer;
struct ts_part;
struct ts_node;

/* One undecided trace. Fields are read-only for the stage. */
struct ts_trace {
    uint8_t id[16];
    int64_t first_offset; /* lowest input offset buffered for it (FIFO order) */
    int64_t last_ms;      /* latest event time of its records */
    int64_t root_end_ms;  /* end of its root span, -1 before the root arrived */
    int64_t due_ms;       /* decided once the partition's max_event_ms reaches this */
    struct bc_clock before; /* the partition's clock when the trace was created: event
                             * times of every record before first_offset */
    uint64_t seq;         /* creation order over the whole buffer (oldest first) */
    uint32_t records;     /* records buffered */
    uint32_t heap_idx;
    struct ts_trace *prev, *next; /* partition FIFO, by first_offset */
    struct ts_trace *chain;       /* hash chain */
    struct ts_node *first, *last; /* its records in arrival order */
    struct ts_acc acc; /* must stay last: its match bytes follow */
};

/* One buffered record, as read back by ts_trace_next. */
struct ts_rec {
    int64_t offset;
    int64_t timestamp_ms; /* the Kafka timestamp of the input record */
    uint32_t flags;       /* TS_REC_* */
    const void *value;    /* borrowed from the buffer */
    size_t len;
};
#define TS_REC_SPAN 0x1 /* a span (else a log or event following its trace) */
/* Bits 8..31 of a record's flags are the stage's own, returned as given (tail_sampler.c:
 * where the record's flags field starts, for ts_patch_from). */
#define TS_REC_USER_SHIFT 8

/* A new buffer; policies borrowed (outlive the buffer). Returns NULL on OOM. */
struct ts_buffer *ts_buffer_new(const struct ts_policies *policies, int64_t decision_wait_ms,
                                int64_t allowed_lateness_ms);
void ts_buffer_destroy(struct ts_buffer *buf);

/* Bytes allocated for buffered traces over all partitions (see above). */
size_t ts_buffer_bytes(const struct ts_buffer *buf);
/* Traces and records buffered over all partitions. */
size_t ts_buffer_traces(const struct ts_buffer *buf);
size_t ts_buffer_records(const struct ts_buffer *buf);

/* The partition's buffer, created when absent and create is nonzero (NULL on OOM). */
struct ts_part *ts_buffer_part(struct ts_buffer *buf, int32_t partition, int create);
/* Frees a partition's traces (revocation). */
void ts_buffer_drop_part(struct ts_buffer *buf, int32_t partition);
/* The partition's state with the oldest trace over all partitions, or NULL when empty. */
struct ts_part *ts_buffer_oldest_part(struct ts_buffer *buf);
int32_t ts_part_id(const struct ts_part *part);

/* How far behind the newest event time the slowest source may be (0, the default: sources
 * are not told apart, now_ms = max_event_ms). */
void ts_buffer_set_max_skew(struct ts_buffer *buf, int64_t max_skew_ms);
/* Declares a source slot expected (e.g. every partition of the raw topic, from the
 * topology): until a partition has seen it, it holds now_ms at max_event_ms - max_skew, so
 * the first sources to show up do not decide the traces of the others. */
void ts_buffer_expect_source(struct ts_buffer *buf, int slot);

/* Max event time seen on the partition (-1 before any), event time now (above), the clock. */
int64_t ts_part_max_event(const struct ts_part *part);
int64_t ts_part_now(const struct ts_part *part);
const struct bc_clock *ts_part_clock(const struct ts_part *part);
/* Raises the clock with a record's event time from source slot (-1: none known). */
void ts_part_observe(struct ts_part *part, int64_t event_ms);
void ts_part_observe_source(struct ts_part *part, int64_t event_ms, int slot);
/* Raises the clock to at least c, slot by slot (a restored clock). */
void ts_part_restore(struct ts_part *part, const struct bc_clock *c);
/* Wall-clock ms of the last record (set by the stage), for the idle fallback. */
int64_t ts_part_last_wall(const struct ts_part *part);
void ts_part_set_last_wall(struct ts_part *part, int64_t wall_ms);

struct ts_trace *ts_part_find(const struct ts_part *part, const uint8_t id[16]);
/* The oldest trace (lowest first_offset), or NULL. */
struct ts_trace *ts_part_oldest(const struct ts_part *part);
/* A trace with due_ms <= now_ms, or NULL when none is due. */
struct ts_trace *ts_part_due(const struct ts_part *part);
/* The same as if now_ms were event_ms (the idle fallback's estimate of event time on a
 * quiet partition), without changing it. */
struct ts_trace *ts_part_due_by(const struct ts_part *part, int64_t event_ms);
/* Lowest buffered offset of the partition (what to hold), or -1 when nothing is buffered. */
int64_t ts_part_hold(const struct ts_part *part);
size_t ts_part_traces(const struct ts_part *part);

/* Bytes ts_buffer_add would allocate for a record of len bytes on trace (NULL: a new
 * trace). */
size_t ts_buffer_add_cost(const struct ts_buffer *buf, const struct ts_part *part,
                          const struct ts_trace *trace, size_t len);
/* Appends one record to the trace id (created when absent). span (may be NULL for a
 * non-span record) feeds the policy accumulator; event_ms is the record's event time;
 * root_end_ms >= 0 when the record is the trace's root span. Offsets must increase per
 * partition. Call it before ts_part_observe() of the record's event time (so `before`
 * excludes the record). Returns the trace, or NULL on OOM (nothing changed). */
struct ts_trace *ts_buffer_add(struct ts_buffer *buf, struct ts_part *part, const uint8_t id[16],
                               int64_t offset, int64_t timestamp_ms, uint32_t flags,
                               const void *value, size_t len, const struct ts_span *span,
                               int64_t event_ms, int64_t root_end_ms);
/* ts_buffer_add with the trace already looked up: trace is ts_part_find(part, id) (NULL:
 * none), unchanged since. */
struct ts_trace *ts_buffer_append(struct ts_buffer *buf, struct ts_part *part,
                                  struct ts_trace *trace, const uint8_t id[16], int64_t offset,
                                  int64_t timestamp_ms, uint32_t flags, const void *value,
                                  size_t len, const struct ts_span *span, int64_t event_ms,
                                  int64_t root_end_ms);
/* Iterates a trace's records in arrival order: *cursor starts at NULL. Returns 1 and fills
 * rec, or 0 at the end. */
int ts_trace_next(const struct ts_trace *trace, const struct ts_node **cursor,
                  struct ts_rec *rec);
/* Removes and frees a trace (after its decision). */
void ts_buffer_remove(struct ts_buffer *buf, struct ts_part *part, struct ts_trace *trace);

#endif
