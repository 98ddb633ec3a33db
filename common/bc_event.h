/*
 * A C view of io.breadcrumb.TrackingEvent (schemas/TrackingEvent.v1.avsc) over avro-c's value
 * API, for workers: field indexes as constants (no lookup by name per record), setters that
 * select union branches, OTLP AnyValue helpers and readers.
 *
 *   bc_event_check(te, errstr, size);          once, at init: the schema has this layout
 *   bc_event_clear(&ev);                       per record, then set what the record has:
 *   bc_event_set_string(&ev, BC_EV_EVENT_ID, id, 32);
 *   bc_event_set_enum(&ev, BC_EV_KIND, BC_EVENT_SPAN);
 *   avro_value_t attrs, any;
 *   bc_event_field(&ev, BC_EV_ATTRIBUTES, &attrs);
 *   bc_event_kv_append(&attrs, "http.method", 11, &any);
 *   bc_any_set_string(&any, "GET", 3);
 *   bc_avro_encode(te, &ev, &buf, errstr, size);  fails if event_id, name, service or
 *                                                  source were forgotten
 *
 * Every function takes a TrackingEvent value (or the AnyValue / array it names) and returns
 * 0, or -1 when avro-c refuses (wrong field kind: a programming error). Strings are copied.
 */
#ifndef BC_EVENT_H
#define BC_EVENT_H

#include <stddef.h>
#include <stdint.h>

#include "bc_avro.h"

/* Field indexes of TrackingEvent, in schema order (checked by bc_event_check). */
enum bc_event_field {
    BC_EV_EVENT_ID = 0,
    BC_EV_KIND,
    BC_EV_TRACE_ID, /* nullable */
    BC_EV_SPAN_ID,
    BC_EV_PARENT_SPAN_ID,
    BC_EV_CORRELATION_ID,
    BC_EV_NAME,
    BC_EV_SERVICE,
    BC_EV_START_TIME_NS,
    BC_EV_END_TIME_NS,
    BC_EV_OBSERVED_TIME_NS, /* nullable */
    BC_EV_SPAN_KIND,        /* nullable */
    BC_EV_STATUS,
    BC_EV_SEVERITY_NUMBER, /* nullable */
    BC_EV_SEVERITY_TEXT,   /* nullable */
    BC_EV_ATTRIBUTES,
    BC_EV_RESOURCE_ATTRIBUTES,
    BC_EV_SCOPE, /* nullable */
    BC_EV_BODY,  /* nullable */
    BC_EV_SOURCE,
    BC_EV_FLAGS,
    BC_EV_OWNER, /* nullable, and so are all below */
    BC_EV_TEAM,
    BC_EV_TIER,
    BC_EV_COST_CENTER,
    BC_EV_ON_CALL,
    BC_EV_DEPLOY,
    BC_EV_SAMPLING,
    BC_EV_SPAN_EVENTS, /* array of SpanEvent {time_ns, name, attributes} */
    BC_EV_LINKS,       /* array of SpanLink {trace_id, span_id, attributes} */
    BC_EV_FIELD_COUNT
};

enum bc_event_kind { BC_EVENT_SPAN = 0, BC_EVENT_LOG = 1, BC_EVENT_EVENT = 2 };
enum bc_event_status { BC_STATUS_UNSET = 0, BC_STATUS_OK = 1, BC_STATUS_ERROR = 2 };
/* OTLP's SpanKind numbers. */
enum bc_event_span_kind {
    BC_SPAN_KIND_UNSPECIFIED = 0,
    BC_SPAN_KIND_INTERNAL = 1,
    BC_SPAN_KIND_SERVER = 2,
    BC_SPAN_KIND_CLIENT = 3,
    BC_SPAN_KIND_PRODUCER = 4,
    BC_SPAN_KIND_CONSUMER = 5
};
/* AnyValue's union branches. */
enum bc_any_type {
    BC_ANY_NULL = 0,
    BC_ANY_STRING,
    BC_ANY_BOOL,
    BC_ANY_LONG,
    BC_ANY_DOUBLE,
    BC_ANY_BYTES,
    BC_ANY_ARRAY,
    BC_ANY_KVLIST
};

/* Checks that schema is a TrackingEvent with the field order, nullability, enum symbols and
 * AnyValue branches this view assumes. Returns 0, or -1 with what differs in errstr. */
int bc_event_check(const struct bc_avro_schema *schema, char *errstr, size_t errstr_size);

/* Resets ev for a new record: every nullable field null, status {UNSET, ""}, arrays empty.
 * event_id, kind, name, service, the times and source stay unset or zero: set them. */
int bc_event_clear(avro_value_t *ev);

/* The field's value (borrowed view into ev): for arrays and records. */
int bc_event_field(avro_value_t *ev, enum bc_event_field field, avro_value_t *out);

/* Scalar setters. On a nullable field they select the non-null branch. */
int bc_event_set_string(avro_value_t *ev, enum bc_event_field field, const char *s, size_t len);
int bc_event_set_long(avro_value_t *ev, enum bc_event_field field, int64_t v);
int bc_event_set_int(avro_value_t *ev, enum bc_event_field field, int32_t v);
int bc_event_set_enum(avro_value_t *ev, enum bc_event_field field, int v);
/* Sets a nullable field to null. */
int bc_event_set_null(avro_value_t *ev, enum bc_event_field field);

int bc_event_set_status(avro_value_t *ev, enum bc_event_status code, const char *message,
                        size_t len);
int bc_event_set_source(avro_value_t *ev, const char *topic, int32_t partition, int64_t offset,
                        int32_t index);
int bc_event_add_flag(avro_value_t *ev, const char *flag);
/* Sets scope {name, version, attributes: []}; *attributes (may be NULL) receives the array. */
int bc_event_set_scope(avro_value_t *ev, const char *name, const char *version,
                       avro_value_t *attributes);
int bc_event_set_deploy(avro_value_t *ev, const char *deploy_id, const char *version,
                        const char *commit, int64_t deployed_at_ns);
int bc_event_set_sampling(avro_value_t *ev, const char *policy, double probability);
/* Appends a span event {time_ns, name, attributes: []}; *attributes (may be NULL) receives
 * its array of KeyValue. */
int bc_event_add_span_event(avro_value_t *ev, int64_t time_ns, const char *name,
                            avro_value_t *attributes);
/* Appends a link {trace_id, span_id, attributes: []}; *attributes (may be NULL) as above. */
int bc_event_add_link(avro_value_t *ev, const char *trace_id, const char *span_id,
                      avro_value_t *attributes);
/* Selects body's AnyValue; set it with bc_any_set_*. */
int bc_event_set_body(avro_value_t *ev, avro_value_t *any);

/* Appends {key, value} to an array of KeyValue (attributes, resource_attributes, a scope's
 * attributes, a kvlist's values); *any receives the AnyValue to set. */
int bc_event_kv_append(avro_value_t *kvs, const char *key, size_t key_len, avro_value_t *any);
/* Finds the first KeyValue with key in an array of KeyValue; *any receives its AnyValue.
 * Returns 0, or -1 when absent. */
int bc_event_kv_find(avro_value_t *kvs, const char *key, avro_value_t *any);

int bc_any_set_null(avro_value_t *any);
int bc_any_set_string(avro_value_t *any, const char *s, size_t len);
int bc_any_set_bool(avro_value_t *any, int v);
int bc_any_set_long(avro_value_t *any, int64_t v);
int bc_any_set_double(avro_value_t *any, double v);
int bc_any_set_bytes(avro_value_t *any, const void *data, size_t len);
/* Makes any an array (*values: array of AnyValue; avro_value_append then bc_any_set_*) or
 * a key-value list (*values: array of KeyValue; bc_event_kv_append). */
int bc_any_set_array(avro_value_t *any, avro_value_t *values);
int bc_any_set_kvlist(avro_value_t *any, avro_value_t *values);

/* Readers. A string field: the bytes (borrowed, NUL-terminated) and length, or NULL when
 * the field is null or unset. A number or enum: 0, or -1 when null. */
const char *bc_event_get_string(avro_value_t *ev, enum bc_event_field field, size_t *len);
int bc_event_get_long(avro_value_t *ev, enum bc_event_field field, int64_t *out);
int bc_event_get_int(avro_value_t *ev, enum bc_event_field field, int32_t *out);
int bc_event_get_enum(avro_value_t *ev, enum bc_event_field field, int *out);

/* The AnyValue's type, and *inner: the branch value (string, boolean, long, double, bytes, or
 * the array of AnyValue / KeyValue of an array or kvlist). -1 when unset. */
int bc_any_get(avro_value_t *any, avro_value_t *inner);

#endif
