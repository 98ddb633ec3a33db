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
 */
#ifndef LINEAGE_H
#define LINEAGE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

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

/* The first-seen timestamp of a stored set. */
int64_t lin_trace_first_ts(const void *set, size_t len);

/* Calls fn(opaque, span_id, parent_span_id) (both NUL-terminated, borrowed) for each span
 * whose parent is not in the set. Returns the number of orphan spans. fn may be NULL. */
typedef void (*lin_orphan_fn)(void *opaque, const char *span_id, const char *parent_span_id);
size_t lin_trace_orphans(const void *set, size_t len, lin_orphan_fn fn, void *opaque);

/* Spans in a stored set. */
size_t lin_trace_spans(const void *set, size_t len);

#endif
