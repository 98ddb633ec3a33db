/*
 * The generator's internals, shared by gen*.c only (the public API is gen.h): the seeded
 * random source, the shop's services, the span/log model, the OTLP/JSON and flat-event
 * encoders and the malformed-payload builder.
 */
#ifndef BC_GEN_INTERNAL_H
#define BC_GEN_INTERNAL_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define GEN_MAX_SERVICES 20
#define GEN_NS_PER_MS 1000000LL

/* ---- random source: XXH3_64bits_withSeed over a counter (gen_data.c) ---- */

struct gen_rng {
    uint64_t seed;
    uint64_t ctr; /* number of values drawn so far */
};

uint64_t gen_rng_u64(struct gen_rng *rng);
double gen_rng_unit(struct gen_rng *rng);                           /* [0, 1) */
int64_t gen_rng_range(struct gen_rng *rng, int64_t lo, int64_t hi); /* [lo, hi] */
int gen_rng_chance(struct gen_rng *rng, double p);                  /* 1 with probability p */
void gen_rng_id(struct gen_rng *rng, uint8_t *out, size_t len);     /* never all zero */
const char *gen_rng_pick(struct gen_rng *rng, const char *const *list, size_t n);
#define GEN_PICK(rng, arr) gen_rng_pick((rng), (arr), sizeof(arr) / sizeof((arr)[0]))

/* ---- the shop (gen_data.c) ---- */

enum gen_service {
    SVC_FRONTEND,
    SVC_GATEWAY,
    SVC_AUTH,
    SVC_USER,
    SVC_SEARCH,
    SVC_CATALOG,
    SVC_RECOMMENDATION,
    SVC_AD,
    SVC_CART,
    SVC_PRICING,
    SVC_CURRENCY,
    SVC_CHECKOUT,
    SVC_PAYMENT,
    SVC_FRAUD,
    SVC_INVENTORY,
    SVC_SHIPPING,
    SVC_EMAIL,
    SVC_NOTIFICATION,
    SVC_REVIEW,
    SVC_LOYALTY,
};

struct gen_service_info {
    const char *name;       /* SHARED-CONTRACTS' service name */
    const char *rpc;        /* gRPC service name of its API, NULL for HTTP services */
    const char *const *ops; /* its operations (NULL-terminated) */
    const char *db;         /* its database system, or NULL */
    const char *lang;       /* telemetry.sdk.language */
    int callees[8];         /* services it calls, -1 terminated */
};

extern const struct gen_service_info gen_services[GEN_MAX_SERVICES];
/* Services in the order --services N takes them: the first N are in use. */
extern const int gen_service_priority[GEN_MAX_SERVICES];

/* ---- PII values (gen_data.c); each returns the exact string it wrote into out ---- */

void gen_pii_email(struct gen_rng *rng, char *out, size_t cap);
void gen_pii_card(struct gen_rng *rng, char *out, size_t cap, int spaced); /* valid Luhn */
void gen_pii_ip(struct gen_rng *rng, char *out, size_t cap);
void gen_pii_token(struct gen_rng *rng, char *out, size_t cap); /* a JWT-shaped bearer token */
int gen_luhn_valid(const char *digits); /* digits and spaces; 1 when the check digit holds */
void gen_b64(const uint8_t *in, size_t len, char *out, size_t cap); /* standard, padded */
void gen_hex(const uint8_t *in, size_t len, char *out);             /* out: 2*len+1 */
void gen_fmt_rfc3339(int64_t ns, char *out, size_t cap);            /* 2026-11-27T08:00:00.123Z */

/* ---- model ---- */

enum gen_kind {
    KIND_INTERNAL = 1,
    KIND_SERVER = 2,
    KIND_CLIENT = 3,
    KIND_PRODUCER = 4,
    KIND_CONSUMER = 5
};
enum gen_status { STATUS_UNSET = 0, STATUS_OK = 1, STATUS_ERROR = 2 };

/*
 * Attribute values are kept typed in jansson: string, true/false, integer (intValue), real
 * (doubleValue), array (arrayValue), object (kvlistValue), and an object whose only key is
 * GEN_BYTES_KEY holding base64 (bytesValue). The encoders map them to OTLP AnyValues.
 */
#define GEN_BYTES_KEY "\x01bytes"

struct gen_span {
    uint8_t span_id[8];
    int parent;  /* index of the parent in the trace, -1 for the root */
    int service; /* enum gen_service */
    int kind;    /* enum gen_kind */
    char name[64];
    int64_t start_ns, end_ns;
    int status; /* enum gen_status */
    const char *status_message;
    json_t *attrs;  /* owned object of typed values */
    json_t *events; /* owned array of {"name","time_ns","attrs"}, or NULL */
    int children;
    int pii;
    const char *pii_kind; /* the truth's kind of the PII value, when pii */
    char pii_value[256];  /* recorded in the truth when the span is sent */
};

struct gen_log {
    uint8_t span_id[8];
    int service;
    int64_t time_ns;
    int severity;  /* OTLP SeverityNumber */
    json_t *body;  /* owned typed value */
    json_t *attrs; /* owned object of typed values */
    int has_uid;   /* attrs holds log.record.uid */
    int security;  /* attrs holds security.event */
    int pii;
};

struct gen_variant {
    int b64_ids;
    int enum_names;
    int int_numbers;
};

/* ---- encoders (gen_encode.c): every json_t returned is new ---- */

/* An OTLP AnyValue for a typed value (borrowed). */
json_t *gen_otlp_value(json_t *typed, const struct gen_variant *v);
/* An OTLP KeyValue list for an object of typed values (borrowed). */
json_t *gen_otlp_attrs(json_t *attrs, const struct gen_variant *v);
json_t *gen_otlp_id(const uint8_t *id, size_t len, const struct gen_variant *v);
json_t *gen_otlp_time(int64_t ns, const struct gen_variant *v);
json_t *gen_otlp_kind(int kind, const struct gen_variant *v);
json_t *gen_otlp_status_code(int code, const struct gen_variant *v);
json_t *gen_otlp_severity(int severity, const struct gen_variant *v);
const char *gen_severity_text(int severity);
/* One span; skew_ns is added to its times. */
json_t *gen_otlp_span(const uint8_t trace_id[16], const struct gen_span *span,
                      const struct gen_span *parent, int64_t skew_ns, const struct gen_variant *v);
/* One log record; trace_id NULL: a log outside any trace (no traceId, spanId, flags). */
json_t *gen_otlp_log(const uint8_t trace_id[16], const struct gen_log *log,
                     const struct gen_variant *v);
/* The resource of a service at a version; instance tells hosts apart. */
json_t *gen_otlp_resource(int service, const char *version, int instance,
                          const struct gen_variant *v);
/* {"resourceSpans":[{resource, scopeSpans:[{scope, spans}]}]}; steals resource and spans. */
json_t *gen_otlp_export(int logs, int service, const char *version, json_t *resource,
                        json_t *items);
/* Serializes compactly with stable key order; returns new memory (free()). */
char *gen_dump(const json_t *json, size_t *len);

/* ---- malformed payloads (gen_bad.c) ---- */

/* The DLQ reason codes (SHARED-CONTRACTS), in this order. */
enum gen_reason {
    R_EMPTY,
    R_NOT_UTF8,
    R_OVERSIZED,
    R_INVALID_JSON,
    R_UNKNOWN_FORMAT,
    R_MISSING_FIELD,
    R_WRONG_TYPE,
    R_INVALID_ID,
    R_INVALID_TIMESTAMP,
    R_INVALID_ENUM,
    GEN_REASONS
};
extern const char *const gen_reason_names[GEN_REASONS];

struct gen_bad {
    int reason;         /* enum gen_reason */
    const char *field;  /* static, or NULL */
    const char *detail; /* static */
    char *value;        /* new (free()); may hold any bytes */
    size_t len;
};

/* Builds a whole-record payload that is bad for reason, from a good one: good is a PII-free
 * OTLP span export with one span, or a flat event (good_is_event), borrowed and modified;
 * max_bytes is the normalizer's size limit. R_INVALID_ENUM needs an OTLP export. */
void gen_bad_record(struct gen_rng *rng, int reason, json_t *good, int good_is_event,
                    int64_t max_bytes, struct gen_bad *out);
/* Turns one OTLP span object (borrowed, modified) bad for a span-level reason (missing_field,
 * wrong_type, invalid_id, invalid_timestamp, invalid_enum); fills out (value stays NULL). */
void gen_bad_span(struct gen_rng *rng, json_t *span, struct gen_bad *out);

#endif
