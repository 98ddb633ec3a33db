/*
 * Kept spans without a generic decode. A kept span is the input record with its sampling
 * field set and, for idle or early decisions, a flag appended: decoding the whole
 * TrackingEvent and encoding it again (bc_avro_decode, bc_event_set_sampling,
 * bc_event_add_flag, bc_avro_encode) costs more than the rest of the stage together. When
 * the record is written with the reader's schema in the encoding bc_avro_encode produces
 * (shortest varints, an array as one block of its items then 0, no trailing bytes), that
 * round trip changes nothing but the two fields, so they are spliced into the bytes instead:
 * the same bytes, checked by one walk over the record. Any other record (an older schema
 * version, another encoder's blocks or varints) makes ts_patch() decline and the stage takes
 * the generic path.
 */
#ifndef TS_PATCH_H
#define TS_PATCH_H

#include <stddef.h>
#include <stdint.h>

#include "bc_avro.h"

struct ts_patcher;

/* A patcher for TrackingEvents of schema (borrowed: outlives the patcher), or NULL when the
 * schema has a shape it does not handle (then every record takes the generic path). */
struct ts_patcher *ts_patcher_new(const struct bc_avro_schema *schema);
void ts_patcher_free(struct ts_patcher *p);

/* Writes into out (replacing its contents) the wire-format record value with sampling set to
 * (policy, probability) when set_sampling, and flags[0..n_flags) appended to its flags:
 * byte for byte what the generic round trip writes. Returns 0, or -1 when value is not in
 * the canonical form (or on OOM): then out is unspecified and the caller re-encodes. value
 * must be a record the stage decoded without error. */
int ts_patch(struct ts_patcher *p, const void *value, size_t len, const char *policy,
             double probability, int set_sampling, const char *const *flags, size_t n_flags,
             struct bc_avro_buf *out);
/* ts_patch of a record ts_scan accepted, given where its flags field starts (at[BC_EV_FLAGS]
 * - value): the same bytes out, without walking the fields before and after flags and
 * sampling again. flags_at 0: not known (ts_patch). */
int ts_patch_from(struct ts_patcher *p, const void *value, size_t len, size_t flags_at,
                  const char *policy, double probability, int set_sampling,
                  const char *const *flags, size_t n_flags, struct bc_avro_buf *out);

/* The intake's walk: when value is written with the schema's id in the encoder's form and
 * every check of the decoder passes (a stricter walk: whatever it accepts, bc_avro_decode
 * accepts), sets at[i] to where top-level field i starts, for i < n, and returns 0. Else -1
 * (the caller decodes). Only for a schema whose event_id, kind, trace_id, parent_span_id,
 * start_time_ns, end_time_ns, status and source have TrackingEvent v1's types. */
int ts_scan(const struct ts_patcher *p, const void *value, size_t len, const uint8_t **at,
            size_t n);
/* Reads a varint of a record ts_scan accepted, advancing *p. */
int64_t ts_read_long(const uint8_t **p);

#endif
