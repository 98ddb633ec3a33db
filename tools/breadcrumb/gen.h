/*
 * The telemetry generator behind `breadcrumb gen`: a fictional shop of 10-20 services whose
 * traces, logs, flat business events and deploy records are produced as Kafka records, with
 * faults injected at configurable rates, and a ground truth of what a correct pipeline must
 * output.
 *
 * Everything is a pure function of the options: all randomness comes from a counter-based
 * generator seeded by `seed` (XXH3 over a counter), all times are simulated and start at
 * `start_ns`. The same options give the same records, byte for byte, in the same order, with
 * the same keys and timestamps, and the same truth. The wall clock is never read here (the
 * CLI uses it for pacing only).
 *
 *   struct bc_gen_options opts;
 *   bc_gen_options_init(&opts);
 *   opts.records = 1000;
 *   struct bc_gen *gen = bc_gen_new(&opts, errstr, sizeof(errstr));
 *   struct bc_gen_record rec;
 *   while (bc_gen_next(gen, &rec) == 1) { ... write rec ... }
 *   json_t *truth = bc_gen_truth(gen);
 *   bc_gen_destroy(gen);
 */
#ifndef BC_GEN_H
#define BC_GEN_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* Options. Rates are probabilities in [0, 1]; "share" options pick an encoding variant. */
struct bc_gen_options {
    uint64_t seed;
    int64_t start_ns; /* simulated time of the first trace (unix ns) */
    int64_t records;  /* stop starting traces once this many raw records exist; 0: no limit */
    int64_t traces;   /* stop after this many traces; 0: no limit */
    int services;     /* services of the shop in use, 10..20 */
    int spans_min;    /* spans per trace, before faults */
    int spans_max;
    int64_t trace_interval_ms;  /* mean simulated time between trace starts */
    int64_t slow_ms;            /* a trace whose root lasts at least this long is slow */
    int64_t late_ms;            /* a late span is exported this long after its trace */
    int64_t retry_far_ms;       /* a far retry is re-sent this long after the original */
    int64_t deploy_interval_ms; /* mean simulated time between deploys of one service */
    int64_t max_bytes;          /* the normalizer's size limit: oversized records exceed it */
    double error_rate;          /* traces with an error status */
    double slow_rate;           /* traces slower than slow_ms */
    double late_rate;           /* traces with one span exported late */
    double orphan_rate;         /* traces whose one span with children is never sent */
    double skew_rate;           /* span exports from a host whose clock runs ahead */
    double retry_rate;          /* good OTLP exports sent twice, byte-identical */
    double retry_far_share;     /* share of the retries sent retry_far_ms later */
    double dup_rate;            /* billing.charge events sent twice with the same idempotency key */
    double pii_rate;            /* spans, logs and events that carry PII */
    double bad_rate;            /* raw records that are malformed as a whole */
    double bad_span_rate;       /* span exports carrying one bad span among good ones */
    double log_rate;            /* probability that a span has log records */
    double b64_ids_share;       /* OTLP records with base64 ids instead of hex */
    double enum_names_share;    /* OTLP records with enum names instead of integers */
    double int_numbers_share;   /* OTLP records with int64 as JSON numbers instead of strings */
};

/* Fills in the defaults (documented in README.md, section generator). */
void bc_gen_options_init(struct bc_gen_options *opts);

enum bc_gen_topic { BC_GEN_TOPIC_RAW = 0, BC_GEN_TOPIC_DEPLOYS = 1 };

enum bc_gen_kind {
    BC_GEN_KIND_SPANS = 0, /* OTLP/JSON resourceSpans export */
    BC_GEN_KIND_LOGS,      /* OTLP/JSON resourceLogs export */
    BC_GEN_KIND_EVENT,     /* one flat JSON event */
    BC_GEN_KIND_DEPLOY,    /* a deploy record (tracking.deploys) */
    BC_GEN_KIND_BAD,       /* a malformed raw record, rejected as a whole */
};

/* Flags of a record (bc_gen_record.flags). */
#define BC_GEN_F_RETRY 0x001       /* a byte-identical re-send of an earlier record */
#define BC_GEN_F_FAR_RETRY 0x002   /* ... sent retry_far_ms later */
#define BC_GEN_F_LATE 0x004        /* holds one span exported after its trace was done */
#define BC_GEN_F_SKEWED 0x008      /* its spans come from a clock running ahead */
#define BC_GEN_F_DUPLICATE 0x010   /* a billing event re-sent with the same idempotency key */
#define BC_GEN_F_B64_IDS 0x020     /* ids in base64 */
#define BC_GEN_F_ENUM_NAMES 0x040  /* enums as names */
#define BC_GEN_F_INT_NUMBERS 0x080 /* int64 as JSON numbers */
#define BC_GEN_F_PII 0x100         /* carries at least one PII value */
#define BC_GEN_F_BAD_SPAN 0x200    /* one span (bad_index) is bad, the others good */

/* One generated Kafka record. Every pointer is borrowed from the generator and valid until
 * the next bc_gen_next() or bc_gen_destroy(). */
struct bc_gen_record {
    enum bc_gen_topic topic;
    enum bc_gen_kind kind;
    const char *key;            /* NULL: no key */
    const unsigned char *value; /* value_len bytes, not NUL-terminated, may be non-UTF-8 */
    size_t value_len;
    int64_t timestamp_ms; /* simulated export time */
    int64_t index;        /* position in its topic, from 0 */
    unsigned flags;       /* BC_GEN_F_* */
    /* Bad records (kind BC_GEN_KIND_BAD) and bad spans (flag BC_GEN_F_BAD_SPAN): */
    const char *reason; /* the DLQ reason code, else NULL */
    const char *field;  /* the field at fault (missing_field, wrong_type, invalid_id,
                           invalid_timestamp, invalid_enum), else NULL */
    const char *detail; /* what exactly is wrong, for people */
    int bad_index;      /* BC_GEN_F_BAD_SPAN: index of the bad span in the export's
                           only spans array; else -1 */
};

struct bc_gen;

/* Returns a new generator, or NULL with errstr filled when an option is out of bounds. */
struct bc_gen *bc_gen_new(const struct bc_gen_options *opts, char *errstr, size_t errstr_size);

/* Produces the next record in output order into *rec. Returns 1, or 0 when the generator is
 * done (its limit was reached, or bc_gen_stop() was called, and every record of the traces
 * already started, including scheduled retries and late spans, was produced). */
int bc_gen_next(struct bc_gen *gen, struct bc_gen_record *rec);

/* Starts no new trace: bc_gen_next() drains what is scheduled, then returns 0. */
void bc_gen_stop(struct bc_gen *gen);

/* Number of raw (tracking.raw) records produced so far. */
int64_t bc_gen_raw_count(const struct bc_gen *gen);

/* The ground truth of everything produced so far (complete once bc_gen_next() returned 0),
 * as a new JSON object (the caller owns it), format in README.md. */
json_t *bc_gen_truth(struct bc_gen *gen);

/* Frees the generator; NULL is a no-op. */
void bc_gen_destroy(struct bc_gen *gen);

/* Writes the 32 lowercase hex event_id of kind ("span", "log", "event") over material into
 * out[33] (SHARED-CONTRACTS: XXH3_128 over "<kind>\0" + material, canonical bytes). */
void bc_gen_event_id(const char *kind, const void *material, size_t len, char out[33]);

#endif
