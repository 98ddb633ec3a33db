/*
 * The lineage-builder's pure logic, without Kafka: merging hop facts into LineageRecords,
 * and the per-trace span sets that orphan detection reads. Unit-tested in
 * tests/unit/test_lineage.c.
 *
 * A LineageRecord is held as JSON in the shape bc_avro_to_json writes for
 * schemas/LineageRecord.v1.avsc (unions bare):
 *   {"event_id": s, "trace_id": s|null,
 *    "raw": {"topic": s, "partition": i, "offset": i, "index": i},
 *    "hops": [{"worker": s, "config_hash": s, "topic": s, "partition": i, "offset": i,
 *              "fate": null|"deduplicated"|..., "detail": s|null}, ...]}
 * A hop fact (what the first step writes to the internal hops topic) is a LineageRecord
 * with one hop and maybe no raw ("raw": null). An emitted hop (fate null) names the record
 * written (topic/partition/offset) and carries detail "from <topic>:<partition>:<offset>"
 * (its bc.src); a fate hop names the input record it consumed without emitting and carries
 * the reason in detail.
 *
 * Merging is a set union, so it is idempotent and commutative: the same facts in any
 * order and any number of times give the same record, byte for byte (json_dumps with
 * JSON_COMPACT). The raw position is the least one seen; the trace_id the least non-null;
 * hops are ordered by depth along their from-links (the first hop after raw is depth 0, a
 * fate hop sits under the hop that wrote the record it consumed), then by topic, partition,
 * offset, fate and worker.
 *
 * The JSON form is the reference (and what earlier versions stored and sent); the worker
 * uses struct lin_rec below, which merges to the same record (a unit test checks it on
 * random facts) and is stored and sent in a compact binary form.
 */
#ifndef LINEAGE_H
#define LINEAGE_H

#include <stddef.h>
#include <stdint.h>

#include <avro.h>
#include <jansson.h>

#include "bc_avro.h"
#include "bc_clock.h"

/* A new empty record for event_id (no raw: partition -1). */
json_t *lin_record_new(const char *event_id);

/* A new hop fact. trace_id, raw_topic, fate and detail may be NULL (raw_topic NULL: raw
 * unknown). All strings borrowed (copied). */
json_t *lin_fact_new(const char *event_id, const char *trace_id, const char *raw_topic,
                     int32_t raw_partition, int64_t raw_offset, int32_t raw_index,
                     const char *worker, const char *config_hash, const char *topic,
                     int32_t partition, int64_t offset, const char *fate, const char *detail);

/* Merges fact (borrowed) into record (modified). Returns 1 when record changed, 0 when it
 * already held everything fact says, -1 when fact is malformed. */
int lin_merge(json_t *record, const json_t *fact);

/* "topic:partition:offset" of a "from" detail or a bc.src value without its ":index":
 * copies into buf (cap bytes). Returns 0, or -1 when s is not of that form. */
int lin_pos_strip_index(const char *s, size_t len, char *buf, size_t cap);

/* ---- records without JSON (the worker's hot path) ------------------------------------ */

/* The same record and facts as plain C values, merged with exactly lin_merge's rules (same
 * hop order, same result), for the worker: no JSON tree per fact, one reusable value.
 * Strings are NUL-terminated and owned by the record (an arena kept across lin_rec_reset). */
struct lin_hop {
    const char *worker, *config_hash, *topic; /* never NULL */
    int32_t partition;
    int64_t offset;
    const char *fate;   /* NULL: emitted */
    const char *detail; /* NULL: none */
};

struct lin_chunk;

struct lin_rec {
    const char *event_id;  /* never NULL after lin_rec_reset */
    const char *trace_id;  /* NULL: none */
    int raw_known;         /* 0: a fact with "raw": null (a record always has a raw) */
    const char *raw_topic; /* "" with raw_partition -1: not known yet */
    int32_t raw_partition;
    int64_t raw_offset;
    int32_t raw_index;
    struct lin_hop *hops;
    size_t n_hops, cap_hops;
    struct lin_chunk *chunks; /* the strings */
};

/* A zeroed lin_rec is valid and empty; lin_rec_free frees it (and leaves it zeroed). */
void lin_rec_free(struct lin_rec *r);

/* Makes r the new empty record of event_id (as lin_record_new), keeping its memory. Returns
 * 0 or -1 (out of memory). */
int lin_rec_reset(struct lin_rec *r, const char *event_id);

/* Sets r (reset first) from a record or a fact as JSON (lin_record_new / lin_fact_new's
 * shapes; a fact's "raw": null leaves raw_known 0). Returns 0, or -1 when malformed (what
 * lin_merge rejects). */
int lin_rec_from_json(struct lin_rec *r, const json_t *json);

/* r as JSON in lin_record_new's shape (new reference), or NULL (out of memory). */
json_t *lin_rec_to_json(const struct lin_rec *r);

/* Merges fact into r like lin_merge. Returns 1 when r changed, 0 when not, -1 when out of
 * memory. */
int lin_rec_merge(struct lin_rec *r, const struct lin_rec *fact);

/* The stored form of a record (store `lineage`): a compact binary layout starting with byte
 * LIN_REC_MAGIC. lin_rec_decode also reads the JSON form earlier versions stored. encode
 * replaces *buf's contents (grown as needed, *cap its size) and sets *len. Both return 0 or
 * -1 (malformed input, out of memory). */
#define LIN_REC_MAGIC 0x01
int lin_rec_encode(const struct lin_rec *r, uint8_t **buf, size_t *cap, size_t *len);
int lin_rec_decode(struct lin_rec *r, const void *data, size_t len);

/* The fact lin_fact_new would make (same arguments), in the stored form: what the first
 * step writes to the hops topic. Replaces *buf's contents like lin_rec_encode. */
int lin_fact_encode(const char *event_id, const char *trace_id, const char *raw_topic,
                    int32_t raw_partition, int64_t raw_offset, int32_t raw_index,
                    const char *worker, const char *config_hash, const char *topic,
                    int32_t partition, int64_t offset, const char *fate, const char *detail,
                    uint8_t **buf, size_t *cap, size_t *len);

/* Fills value, a generic value of schemas/LineageRecord.v1.avsc (reset first), from r.
 * Returns 0, or -1 with the reason in errstr (a fate that is not a FateKind symbol). */
int lin_rec_to_avro(const struct lin_rec *r, avro_value_t *value, char *errstr,
                    size_t errstr_size);

/* The bytes bc_avro_encode gives for lin_rec_to_avro's value, written straight from r (no
 * generic value): the wire format with schema_id (LineageRecord's id) into buf (replacing
 * its contents). Returns 0, or -1 with the reason in errstr and buf->len 0 (a fate that is
 * not a FateKind symbol, a string that is not UTF-8, out of memory). */
int lin_rec_to_avro_bin(const struct lin_rec *r, int32_t schema_id, struct bc_avro_buf *buf,
                        char *errstr, size_t errstr_size);

/* ---- traces --------------------------------------------------------------------------- */

/* A trace's span set as stored: an 8-byte little-endian first-seen timestamp (ms), then one
 * 32-byte entry per distinct span: span_id (16 hex) and parent_span_id (16 hex, or 16 NUL
 * bytes for a root). */
#define LIN_TRACE_HEADER 8
#define LIN_TRACE_ENTRY 32

/* Adds span (16 hex) with parent (16 hex, or NULL/"" for a root) seen at ts to the stored
 * set old (old_len bytes, NULL/0 for a new trace), writing the new set to out (cap >=
 * old_len + LIN_TRACE_ENTRY, or LIN_TRACE_HEADER + LIN_TRACE_ENTRY for a new one). Returns
 * the new length, or 0 when the span was already there (nothing written). */
size_t lin_trace_add(const void *old, size_t old_len, int64_t ts, const char *span_id,
                     const char *parent_span_id, uint8_t *out, size_t cap);

/* The first-seen timestamp of a stored set; negative once decided (lin_trace_set_decided:
 * lin_trace_add keeps it so). */
int64_t lin_trace_first_ts(const void *set, size_t len);

/* Marks a stored set decided at cutoff (>= 0): its header becomes -cutoff - 1. */
void lin_trace_set_decided(void *set, size_t len, int64_t cutoff);

/* The cutoff a set was decided at, or -1 when it is not decided. */
int64_t lin_trace_decided_at(const void *set, size_t len);

/* 1 when span_id (16 hex) is in the set. */
int lin_trace_has_span(const void *set, size_t len, const char *span_id);

/* Calls fn(opaque, span_id, parent_span_id) (both NUL-terminated, borrowed) for each span
 * whose parent is not in the set. Returns the number of orphan spans. fn may be NULL. */
typedef void (*lin_orphan_fn)(void *opaque, const char *span_id, const char *parent_span_id);
size_t lin_trace_orphans(const void *set, size_t len, lin_orphan_fn fn, void *opaque);

/* Spans in a stored set. */
size_t lin_trace_spans(const void *set, size_t len);

/* ---- the orphan clock ----------------------------------------------------------------- */

/* The event time that decides a trace-topic partition's traces, from its records alone (so
 * the same records in the same order give the same decisions, whenever the worker's tick
 * runs). The partition's records come from several sources (the raw partitions the
 * normalizer read, TrackingEvent.source), processed upstream at different speeds: a clock on
 * the newest timestamp alone would decide the slow sources' traces before their spans
 * arrive, and one record far in the future would decide everything. So, as the
 * tail-sampler's (workers/tail_sampler/buffer.h):
 *     now = max(min over sources of their newest timestamp, newest - max_skew)
 * (the newest itself when max_skew is 0 or no source is known); a source expected (every
 * partition of the raw topic) and not seen yet holds now at newest - max_skew. Sources are
 * slots of common/bc_clock.h. Traces whose first span is
 * at or before now - window are decided, in steps of LIN_SWEEP_STEP ms of that cutoff. */
#define LIN_SWEEP_STEP 1000
struct lin_clock {
    struct bc_clock t; /* newest timestamp, and per source slot (common/bc_clock.h) */
    int64_t swept;     /* cutoff of the last sweep, -1: none */
    uint32_t expected; /* source slots expected */
};
/* The stored form of a clock (store `traces`, key LIN_CLOCK_KEY, which is no trace_id). */
#define LIN_CLOCK_KEY "#clock"
#define LIN_CLOCK_BYTES (8 * (BC_CLOCK_SOURCES + 2)) /* max, src, swept; not expected */

void lin_clock_init(struct lin_clock *c);
/* now (see above; bc_clock_now with c's expected slots); -1 while nothing is known. */
int64_t lin_clock_now(const struct lin_clock *c, int64_t max_skew);
/* The cutoff of a sweep due now (traces with first span <= it are decided), or -1 when none
 * is due: the cutoff now - window, rounded down to LIN_SWEEP_STEP, passed the last sweep's.
 * Records it as swept. */
int64_t lin_clock_sweep_due(struct lin_clock *c, int64_t window, int64_t max_skew);
void lin_clock_encode(const struct lin_clock *c, uint8_t out[LIN_CLOCK_BYTES]);
/* Returns 0, or -1 when len is not LIN_CLOCK_BYTES (c unchanged). */
int lin_clock_decode(struct lin_clock *c, const void *data, size_t len);

#endif
