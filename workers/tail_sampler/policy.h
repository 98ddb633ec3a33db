/*
 * Sampling policies of the tail-sampler: compiled once from the topology's YAML, evaluated on
 * whole traces. Pure code (no Kafka, no Avro): the stage turns each decoded span into a
 * struct ts_span and feeds it to the trace's accumulator as it arrives; the decision reads
 * only the accumulator, so buffered spans are never decoded twice for a decision.
 *
 * Semantics follow the OpenTelemetry Collector's tail_sampling processor:
 *   always_sample        sampled
 *   status_code          a span has one of status_codes (ERROR, OK, UNSET)
 *   latency              trace duration (latest end - earliest start) >= threshold, and
 *                        <= upper_threshold when given
 *   string_attribute     a span (or its resource) has attribute key with a string value in
 *                        values (exact), or matching one of them as POSIX extended regexes
 *                        when regex: true
 *   numeric_attribute    an integer (or double) attribute key in [min, max]
 *   boolean_attribute    a boolean attribute key equal to value
 *   probabilistic        XXH3-64 of the trace id (seeded by hash_salt) below percentage% of
 *                        the hash space: the same trace gets the same answer everywhere,
 *                        never random
 *   rate_limiting        the trace's spans fit in spans_per_second of event time, per
 *                        partition a 1/partitions share of that global budget
 *   bytes_limiting       the same with the trace's encoded bytes and bytes_per_second
 *   span_count           min_spans <= spans <= max_spans (max optional)
 *   and                  every sub-policy samples
 *   drop                 every sub-policy samples: then the trace is dropped, whatever else
 * The attribute policies take invert: true: the verdict becomes "inverted not sampled" when
 * a span matches and "inverted sampled" when none does.
 *
 * Precedence (OpenTelemetry's): drop wins; then an inverted-not-sampled verdict; then
 * sampled; then inverted-sampled; else not sampled. Drop policies are evaluated first, in
 * both modes, and end the evaluation when one matches. `first_match` then stops at the first
 * policy that samples (later policies, e.g. a rate limiter, consume nothing); `all`
 * evaluates every policy. The deciding policy is the drop policy, the inverted one, or the
 * first that sampled; `and` stops at its first sub-policy that does not sample.
 */
#ifndef TS_POLICY_H
#define TS_POLICY_H

#include <stddef.h>
#include <stdint.h>

#include "bc_options.h"

enum ts_mode { TS_FIRST_MATCH = 0, TS_ALL = 1 };

enum ts_verdict {
    TS_NOT_SAMPLED = 0,
    TS_SAMPLED,
    TS_INVERT_SAMPLED,
    TS_INVERT_NOT_SAMPLED,
    TS_DROPPED,
};

enum ts_attr_type { TS_ATTR_OTHER = 0, TS_ATTR_STRING, TS_ATTR_BOOL, TS_ATTR_LONG, TS_ATTR_DOUBLE };

/* One attribute of a span or of its resource. Everything borrowed, valid during the call. */
struct ts_attr {
    const char *key; /* NUL-terminated */
    enum ts_attr_type type;
    const char *s; /* STRING: NUL-terminated */
    size_t len;
    int64_t i; /* LONG, BOOL (0/1) */
    double d;  /* DOUBLE */
};

/* What policies see of one span. status: 0 UNSET, 1 OK, 2 ERROR (bc_event_status). */
struct ts_span {
    int status;
    int64_t start_ns, end_ns;
    int is_root; /* no parent span id */
    size_t bytes; /* encoded size, for bytes_limiting */
    const struct ts_attr *attrs; /* span attributes then resource attributes */
    size_t attr_count;
};

/* The per-trace accumulator: trace aggregates plus one match byte per span predicate. Its
 * size depends on the policies (ts_acc_size); the caller allocates it. */
struct ts_acc {
    int64_t min_start_ns, max_end_ns;
    uint32_t spans;
    uint32_t reserved;
    uint64_t bytes;
    uint8_t match[]; /* ts_policies_slots() bytes, 0 or 1 */
};

/* A rate or bytes limiter's window, per partition (persisted by the stage). */
struct ts_bucket {
    int64_t second; /* event-time second of the current window */
    int64_t used;   /* spans or bytes granted in it */
};

struct ts_decision {
    int sampled;
    enum ts_verdict verdict; /* the winning verdict (TS_NOT_SAMPLED when nothing matched) */
    const char *policy;      /* borrowed from the policies: the deciding top-level policy's
                              * name, "" when no policy matched */
    double probability;      /* of the deciding policy: percentage/100 for probabilistic (the
                              * product inside `and`), else 1 */
};

struct ts_policies;

/* Reports one compile error at node (may be NULL) with a message without position. */
typedef void (*ts_report_fn)(void *opaque, const struct bc_node *at, const char *message);

/* Compiles a YAML list of policies. Returns the number of errors reported (each through
 * report); *out is new (ts_policies_destroy) when that number is 0, else NULL. */
int ts_policies_compile(const struct bc_node *list, enum ts_mode mode, ts_report_fn report,
                        void *opaque, struct ts_policies **out);
void ts_policies_destroy(struct ts_policies *policies);

/* Bytes of a struct ts_acc for these policies. */
size_t ts_acc_size(const struct ts_policies *policies);
/* The number of match slots and of limiter buckets (rate_limiting and bytes_limiting). */
size_t ts_policies_slots(const struct ts_policies *policies);
size_t ts_policies_buckets(const struct ts_policies *policies);
/* Top-level policy count and names (borrowed), for metrics. */
size_t ts_policies_count(const struct ts_policies *policies);
/* Whether a policy reads span attributes (else a span's attributes may go undecoded: every
 * decision is the same without them). */
int ts_policies_read_attributes(const struct ts_policies *policies);
const char *ts_policies_name(const struct ts_policies *policies, size_t i);

void ts_acc_init(const struct ts_policies *policies, struct ts_acc *acc);
/* Adds one span to the trace's accumulator. */
void ts_acc_add(const struct ts_policies *policies, struct ts_acc *acc, const struct ts_span *span);

/* Decides a trace. trace_id: its 16 bytes. buckets: ts_policies_buckets() limiter windows of
 * the trace's partition (updated when a limiter grants); partitions: how many partitions
 * share the global limits (>= 1). Deterministic: the same accumulator, trace id and
 * buckets give the same decision. */
void ts_decide(const struct ts_policies *policies, const struct ts_acc *acc,
               const uint8_t trace_id[16], struct ts_bucket *buckets, int32_t partitions,
               struct ts_decision *out);

/* Parses 32 hex digits into 16 bytes. Returns 0, or -1 when not 32 hex digits. */
int ts_trace_id_parse(const char *hex, size_t len, uint8_t out[16]);

#endif
