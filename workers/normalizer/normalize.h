/*
 * The normalizer's core: a pure function from one raw Kafka record (bytes, timestamp, source
 * position) to a sequence of outcomes, each a TrackingEvent (an Avro value of the registry's
 * TrackingEvent schema, with its Kafka key) or a dead letter (a reason code and a message).
 * No Kafka, no wall clock, no randomness: the same record and options always give the same
 * outcomes, byte for byte once encoded.
 *
 * Accepted payloads (detected per record, or pinned with norm_options.format):
 *   OTLP/JSON traces  {"resourceSpans": [{"resource", "scopeSpans": [{"scope", "spans"}]}]}
 *   OTLP/JSON logs    {"resourceLogs": [{"resource", "scopeLogs": [{"scope", "logRecords"}]}]}
 *   flat JSON events  {"event", "time", "service", "trace_id"?, "span_id"?, "correlation_id"?,
 *                      "attributes"?}
 * OTLP as the specification writes it (hex ids, int64 as decimal strings, enums as integers,
 * lowerCamelCase names) and as protojson exporters also write it (base64 ids, enum names,
 * int64 as numbers, snake_case names).
 *
 * Accounting: every record yields at least one outcome. A record whose envelope is bad
 * (empty, not UTF-8, oversized, invalid JSON, unknown format, a malformed resource or scope)
 * yields exactly one dead letter with index -1 and no events. Otherwise each span, log record
 * or event is one outcome: an event, or a dead letter with its index.
 */
#ifndef NORMALIZE_H
#define NORMALIZE_H

#include <stddef.h>
#include <stdint.h>

#include <avro.h>

struct bc_avro_registry;
struct bc_avro_schema;
struct jv; /* a node of the record's parse tree (normalize.c) */

/* Dead-letter reason codes (SHARED-CONTRACTS.md), in this fixed order. */
enum norm_reason {
    NORM_EMPTY,
    NORM_NOT_UTF8,
    NORM_OVERSIZED,
    NORM_INVALID_JSON,
    NORM_UNKNOWN_FORMAT,
    NORM_MISSING_FIELD,
    NORM_WRONG_TYPE,
    NORM_INVALID_ID,
    NORM_INVALID_TIMESTAMP,
    NORM_INVALID_ENUM,
    NORM_REASON_COUNT
};

/* "empty", "not_utf8", ...; NULL for an out-of-range value. */
const char *norm_reason_name(enum norm_reason reason);

enum norm_format { NORM_FORMAT_AUTO, NORM_FORMAT_OTLP, NORM_FORMAT_EVENT };

/* Flags set on a TrackingEvent (its `flags` array holds their names in this order). */
enum norm_flag {
    NORM_FLAG_CLOCK_SKEW = 1 << 0,         /* "clock_skew": a time beyond max_clock_skew */
    NORM_FLAG_CLAMPED = 1 << 1,            /* "clamped": and it was shifted back */
    NORM_FLAG_END_BEFORE_START = 1 << 2,   /* "end_before_start" */
    NORM_FLAG_TRUNCATED = 1 << 3,          /* "truncated": a value cut to the length limit */
    NORM_FLAG_ATTRIBUTES_DROPPED = 1 << 4, /* "attributes_dropped": over max_attributes */
    NORM_FLAG_MISSING_SERVICE = 1 << 5,    /* "missing_service": no service.name */
};
#define NORM_FLAG_COUNT 6

struct norm_options {
    enum norm_format format;
    int64_t max_clock_skew_ms;         /* > 0 */
    int clamp_skew;                    /* 1: shift skewed times back; 0: flag only */
    size_t max_payload_bytes;          /* larger records: `oversized` */
    size_t max_attributes;             /* per attribute list; the rest dropped (flagged) */
    size_t max_attribute_value_length; /* bytes of a string or bytes value (flagged) */
    /* Attribute names whose first present value is the correlation_id (borrowed). */
    const char *const *correlation_attributes;
    size_t correlation_count;
    /* Dotted path in a flat event of the value that makes its event_id
     * ("attributes.idempotency_key"); NULL or "": always the content hash. Borrowed. */
    const char *event_id_field;
};

/* The defaults of workers/normalizer/options.c (strings static: do not free). */
void norm_options_default(struct norm_options *opts);

/* Fills opts from validated topology values (the `options:` of a normalizer worker). The
 * strings are new: free with norm_options_free. Returns 0. */
struct bc_values;
int norm_options_from_values(struct norm_options *opts, const struct bc_values *vals);

/* Fills opts from option texts (get(opaque, name) returns the text or NULL for the default),
 * parsed and bounded as the topology does ("10m", "1MiB", "a,b" for lists). The strings are
 * new: free with norm_options_free (also after a failure). Returns 0, or -1 with errstr. */
int norm_options_from_text(struct norm_options *opts,
                           const char *(*get)(void *opaque, const char *name), void *opaque,
                           char *errstr, size_t errstr_size);

/* Frees what norm_options_from_* allocated. NULL is a no-op. */
void norm_options_free(struct norm_options *opts);

/* The declared options (options.c), i in [0, norm_option_count()): name, default text (may
 * be NULL), description. All static. */
size_t norm_option_count(void);
const char *norm_option_name(size_t i);
const char *norm_option_default(size_t i);
const char *norm_option_description(size_t i);

/* Where the raw record was read, and its Kafka timestamp (ms, -1 when none: then no clock
 * skew check). topic is borrowed. */
struct norm_input {
    const void *data;
    size_t len;
    int64_t timestamp_ms;
    const char *topic;
    int32_t partition;
    int64_t offset;
};

/* One outcome, handed to the callback; everything in it is borrowed for the call only. */
struct norm_outcome {
    int32_t index; /* the item's position in the record (0-based, payload order); -1: the
                    * whole record */
    /* A TrackingEvent (event != NULL) ... */
    const void *event;    /* its Avro bytes, header included (norm_schema_event()'s id) */
    size_t event_len;
    const char *key;      /* 32 lowercase hex chars: a span's or log's trace_id, else event_id */
    const char *event_id; /* 32 lowercase hex chars */
    unsigned flags;       /* enum norm_flag bits */
    /* ... or a dead letter (event == NULL). */
    enum norm_reason reason;
    const char *message; /* "path: what is wrong"; never payload data */
    /* The bad span or log record (index >= 0), from the record's parse tree (valid during
     * the callback), else NULL; also NULL when the item is JSON null, and then null_item
     * is 1. */
    const struct jv *item;
    int null_item;
};

/* Returns 0 to go on, nonzero to stop (norm_process returns that value). */
typedef int (*norm_outcome_fn)(void *opaque, const struct norm_outcome *outcome);

/* Counters since creation (for metrics): records in, events out, dead letters by reason. */
struct norm_stats {
    uint64_t records;
    uint64_t items;  /* spans, log records and events seen (good or bad) */
    uint64_t events; /* TrackingEvents produced */
    uint64_t dead_letters[NORM_REASON_COUNT];
    /* Events flagged, by flag bit (clock_skew, clamped, end_before_start, truncated,
     * attributes_dropped, missing_service). */
    uint64_t flagged[NORM_FLAG_COUNT];
};

struct norm;

/* Creates a normalizer over the registry's TrackingEvent and DeadLetter schemas. reg and
 * opts (with the strings it points to) are borrowed and must outlive it. Returns a new
 * normalizer, or NULL with a message in errstr. */
struct norm *norm_new(const struct bc_avro_registry *reg, const struct norm_options *opts,
                      char *errstr, size_t errstr_size);
void norm_destroy(struct norm *norm);

/* Normalizes one raw record, calling fn once per outcome in payload order. Returns 0, or
 * the first nonzero value fn returned (processing stops there), or -1 on an internal error
 * (out of memory, an Avro value that cannot be set; message in errstr). */
int norm_process(struct norm *norm, const struct norm_input *in, norm_outcome_fn fn, void *opaque,
                 char *errstr, size_t errstr_size);

/* The TrackingEvent and DeadLetter schemas (borrowed from the registry). */
const struct bc_avro_schema *norm_schema_event(const struct norm *norm);
const struct bc_avro_schema *norm_schema_dead_letter(const struct norm *norm);

const struct norm_stats *norm_stats(const struct norm *norm);

/* Fills *dl (a value of the DeadLetter schema, reset first) for a dead-letter outcome of in:
 * reason, message, source (index null when outcome->index is -1), worker, attempts, raw (the
 * record's bytes, or for an item dead letter the item's compact JSON: a big record with many
 * bad items is not copied into each), key (NULL: null) and the record's timestamp. Call it
 * during the callback (outcome->item is borrowed from the parse). Returns 0 or -1. */
int norm_dead_letter_fill(const struct norm_input *in, const struct norm_outcome *outcome,
                          const char *worker, int attempts, const void *key, size_t key_len,
                          avro_value_t *dl);

#endif
