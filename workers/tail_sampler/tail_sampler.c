/*
 * The tail-sampler stage (DESIGN §6): buffers the spans of each trace, decides the whole
 * trace by policies (policy.c) when event time says it is complete (buffer.c), emits the
 * kept spans with their deciding policy and probability, and accounts for every other span
 * with a Fate (and, when the `cold` output is mapped, a copy there).
 *
 * Records are TrackingEvents keyed by trace_id, so a trace lives in one partition and one
 * instance. Logs and events pass through (`non_span: pass`) or, when they carry a
 * trace_id, follow their trace's decision (`non_span: follow`).
 *
 * Exactly-once, restarts and replays. Decisions live in the `decisions` store (changelog
 * `<pipeline>.<worker>.decisions.changelog`), key = the 16 bytes of the trace id, value =
 * struct decision below, TTL `decision_ttl` of stream time. Each decision records
 * `emitted_upto`: the highest input offset of the trace already emitted (or dropped with a
 * Fate). The store, the outputs, the Fates and the input offsets commit in one transaction,
 * and bc_hold() keeps the committed offset at or below the first record of every undecided
 * trace. So, for a record of partition P at offset O of trace T, on first delivery or on
 * re-delivery after a crash or an aborted transaction:
 *   1. T decided, O <= emitted_upto: the record was emitted (or dropped) by a committed
 *      transaction, or earlier in the open one: skipped, nothing is written again. (An
 *      aborted transaction restores the store without its decisions: case 3 then.)
 *   2. T decided, O > emitted_upto: a late span (or one re-delivered after the decision was
 *      committed but before this record was handled): it follows the decision, and
 *      emitted_upto moves to O in the same transaction.
 *   3. T undecided (no decision, or it expired): buffered. Every record of T is at or
 *      after the hold, so a restart re-delivers all of them and rebuilds T whole.
 *   4. A record that is not part of a trace (a log or event passed through, a dead letter)
 *      below handled_upto (kept per partition in the store's "meta" entry, written with
 *      each such record): handled by a committed transaction, skipped; else handled and
 *      handled_upto moves past it. Without this, the records between the hold and the
 *      last commit would pass through twice after a crash.
 * The store is restored before records flow, so these cases never see a half-state.
 *
 * The watermark after a restart. Re-delivery starts at H, the committed offset: the hold,
 * or the next offset when nothing is held. At every offset o >= H the partition's event-time
 * clock (buffer.h: the newest event time, overall and per source) must be what it was in an
 * uninterrupted run, the clock over [0, o] = the clock over [0, H) combined with [H, o]; the
 * second part comes back with the re-delivered records, the first is kept in the store (key
 * "meta", with the limiters' windows), written in the transaction that moves H. Each trace
 * remembers `before`, the clock before its first record, so the clock over [0, H) is the
 * oldest trace's (or the current clock when nothing is held). Restoring the clock as of the
 * crash instead would decide the re-delivered traces too early, before their later spans
 * come back.
 *
 * Event time follows the slowest source (raw partition) of the records, at most
 * max_source_skew behind the newest (buffer.h): upstream instances progress at different
 * speeds, most of all while one is restarting, and the newest record alone would decide a
 * slow source's traces before their spans arrive.
 *
 * Idle decisions (sampler_tick): only for a partition caught up with its input and quiet for
 * idle_timeout, and then gradually (see idle_decide()).
 *
 * Determinism. Decisions depend on event time only (record times and trace ids), in input
 * order, except: idle decisions (wall clock; flagged `idle_decided` on the spans) and early
 * decisions of a full buffer (`decided_early`; they depend on what else is buffered, hence
 * on the assignment). A replay of the same input in a fresh group with the same options
 * keeps the same spans.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bc_avro.h"
#include "bc_config.h"
#include "bc_event.h"
#include "bc_log.h"
#include "bc_stage.h"

#include "buffer.h"
#include "patch.h"
#include "policy.h"

extern const struct bc_worker_type bc_tail_sampler_type;

#define DECISION_SAMPLED 0x1
#define DECISION_IDLE 0x2
#define DECISION_EARLY 0x4

/* A decision as stored: fixed little-endian header, then the policy name. */
struct decision {
    uint8_t flags;
    double probability;
    int64_t emitted_upto;
    char policy[128];
};
#define DECISION_HEADER 18 /* version, flags, probability (8), emitted_upto (8) */

static const char meta_key[] = "meta";

/* Per-partition state besides the buffer. */
struct pstate {
    const char *topic;        /* borrowed from the runtime (bc_source) */
    struct bc_clock meta_clock; /* the clock before H last written to the store */
    int has_meta;
    int64_t handled_upto;     /* records below this offset that are not part of a trace
                               * (passed through, dead-lettered) were handled by a
                               * committed or the open transaction: skip them */
    struct ts_bucket *buckets;
};

struct sampler {
    int64_t ttl_ms; /* decision_ttl */
    struct ts_policies *policies;
    struct ts_buffer *buf;
    struct bc_store *decisions;
    const struct bc_avro_registry *reg; /* the runtime's, or owned_reg */
    struct bc_avro_registry *owned_reg;
    const struct bc_avro_schema *schema;
    avro_value_t ev; /* a whole TrackingEvent, to re-encode kept spans */
    int has_ev;
    uint64_t pmask; /* the TrackingEvent fields decode() reads (pindex), for bc_avro_decode_fields */
    int read_attrs; /* a policy reads attributes: decode() reads them too */
    avro_value_t pv;
    int has_pv;
    struct bc_avro_buf out;
    struct ts_patcher *patcher; /* kept spans without a decode (patch.h), or NULL */
    struct ts_attr *attrs;
    size_t attrs_cap;
    int64_t idle_ms;
    size_t max_bytes;
    int follow;      /* non_span: follow */
    int has_cold;    /* the cold output is mapped */
    int32_t shares;  /* partitions sharing the global limits; 0 until known */
    const struct bc_config *cfg;   /* the topology, or NULL */
    char src_topics[8][128];       /* source topics seen (their partitions are expected) */
    size_t n_src_topics;
    size_t n_buckets;
    struct pstate **ps;
    size_t n_ps;
    size_t peak_bytes;
    size_t peak_published; /* peak_bytes as the gauge last showed it (set each tick) */
    int64_t last_report;
    struct {
        uint64_t spans, kept_traces, dropped_traces, kept_spans, dropped_spans, early, idle,
            late, replayed, passed, late_errors, late_errors_idle;
    } count;
};

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void hex_of(const uint8_t id[16], char out[33])
{
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < 16; i++) {
        out[2 * i] = digits[id[i] >> 4];
        out[2 * i + 1] = digits[id[i] & 15];
    }
    out[32] = '\0';
}

/* ---- decisions in the store ------------------------------------------------------------ */

/* The decision on trace id, if any and not older than decision_ttl of stream time. The
 * age is checked here, not left to the store's expiry, which runs when a transaction
 * commits: whether a late span followed a decision near its TTL depended on where the
 * transaction boundaries fell (timing), so a replay could decide otherwise. */
static int decision_get(struct sampler *s, struct bc_ctx *ctx, int32_t partition,
                        const uint8_t id[16], struct decision *d)
{
    const void *value;
    size_t len;
    int64_t ts = -1;
    if (!bc_store_get(s->decisions, partition, id, 16, &value, &len, &ts) ||
        len < DECISION_HEADER) {
        return 0;
    }
    int64_t now = bc_stream_time(ctx, partition);
    if (s->ttl_ms > 0 && ts >= 0 && now >= 0 && ts < now - s->ttl_ms) {
        return 0;
    }
    const uint8_t *p = value;
    d->flags = p[1];
    memcpy(&d->probability, p + 2, 8);
    memcpy(&d->emitted_upto, p + 10, 8);
    size_t n = len - DECISION_HEADER;
    if (n >= sizeof(d->policy)) {
        n = sizeof(d->policy) - 1;
    }
    memcpy(d->policy, p + DECISION_HEADER, n);
    d->policy[n] = '\0';
    return 1;
}

static int decision_put(struct sampler *s, int32_t partition, const uint8_t id[16],
                        const struct decision *d, int64_t ts)
{
    uint8_t value[DECISION_HEADER + sizeof(d->policy)];
    size_t n = strlen(d->policy);
    value[0] = 1;
    value[1] = d->flags;
    memcpy(value + 2, &d->probability, 8);
    memcpy(value + 10, &d->emitted_upto, 8);
    memcpy(value + DECISION_HEADER, d->policy, n);
    if (bc_store_put(s->decisions, partition, id, 16, value, DECISION_HEADER + n, ts) != 0) {
        bc_log(BC_LOG_ERROR, "decision store refused a put", NULL);
        return BC_FATAL;
    }
    return BC_OK;
}

static struct pstate *pstate_of(struct sampler *s, int32_t partition)
{
    if ((size_t)partition >= s->n_ps) {
        size_t n = (size_t)partition + 1;
        struct pstate **ps = realloc(s->ps, n * sizeof(*ps));
        if (ps == NULL) {
            return NULL;
        }
        memset(ps + s->n_ps, 0, (n - s->n_ps) * sizeof(*ps));
        s->ps = ps;
        s->n_ps = n;
    }
    if (s->ps[partition] == NULL) {
        struct pstate *p = calloc(1, sizeof(*p));
        if (p == NULL) {
            return NULL;
        }
        p->buckets = calloc(s->n_buckets + 1, sizeof(*p->buckets));
        if (p->buckets == NULL) {
            free(p);
            return NULL;
        }
        s->ps[partition] = p;
    }
    return s->ps[partition];
}

static void pstate_free(struct sampler *s, int32_t partition)
{
    if ((size_t)partition < s->n_ps && s->ps[partition] != NULL) {
        free(s->ps[partition]->buckets);
        free(s->ps[partition]);
        s->ps[partition] = NULL;
    }
}

/* The event-time clock of the records before the committed offset (see the header). */
static const struct bc_clock *clock_before_hold(const struct ts_part *part)
{
    const struct ts_trace *oldest = ts_part_oldest(part);
    return oldest != NULL ? &oldest->before : ts_part_clock(part);
}

/* The meta record: the clock before the hold (max, then the sources), handled_upto, then the
 * limiters' windows. */
#define META_HEADER (16 + 8 * BC_CLOCK_SOURCES)
static int meta_put(struct sampler *s, struct bc_ctx *ctx, int32_t partition,
                    struct ts_part *part, struct pstate *ps)
{
    size_t len = META_HEADER + s->n_buckets * sizeof(struct ts_bucket);
    uint8_t value[META_HEADER + 64 * sizeof(struct ts_bucket)];
    if (len > sizeof(value)) {
        len = sizeof(value);
    }
    const struct bc_clock *c = clock_before_hold(part);
    memcpy(value, &c->max, 8);
    memcpy(value + 8, &ps->handled_upto, 8);
    memcpy(value + 16, c->src, 8 * BC_CLOCK_SOURCES);
    memcpy(value + META_HEADER, ps->buckets, len - META_HEADER);
    int64_t ts = bc_stream_time(ctx, partition);
    if (bc_store_put(s->decisions, partition, meta_key, 4, value, len, ts < 0 ? 0 : ts) != 0) {
        return BC_FATAL;
    }
    ps->meta_clock = *c;
    ps->has_meta = 1;
    return BC_OK;
}

/* ---- decoding -------------------------------------------------------------------------- */

/* What decode() reads of a TrackingEvent: bc_avro_decode_fields skips the other fields
 * (names, scopes, bodies, span events, links, the enricher's ownership fields) instead of
 * building them, with the same checks: a record is dead-lettered exactly when a whole
 * decode would fail. Kept spans are re-encoded from a whole decode (reencode()). */
enum pfield {
    P_EVENT_ID,
    P_KIND,
    P_TRACE_ID,
    P_PARENT_SPAN_ID,
    P_START_TIME_NS,
    P_END_TIME_NS,
    P_STATUS,
    P_SOURCE,
    P_ATTRIBUTES, /* these two last: left out when no policy reads attributes */
    P_RESOURCE_ATTRIBUTES,
    P_COUNT
};
static const int pindex[P_COUNT] = {
    BC_EV_EVENT_ID,      BC_EV_KIND,   BC_EV_TRACE_ID, BC_EV_PARENT_SPAN_ID,
    BC_EV_START_TIME_NS, BC_EV_END_TIME_NS, BC_EV_STATUS, BC_EV_SOURCE,
    BC_EV_ATTRIBUTES,    BC_EV_RESOURCE_ATTRIBUTES};

/* Field f of the decoded event; a nullable one's value when it is not null. */
static int pfield_get(struct sampler *s, enum pfield f, avro_value_t *out)
{
    avro_value_t v;
    if (avro_value_get_by_index(&s->pv, (size_t)pindex[f], &v, NULL) != 0) {
        return -1;
    }
    if (avro_value_get_type(&v) != AVRO_UNION) {
        *out = v;
        return 0;
    }
    int d = -1;
    if (avro_value_get_discriminant(&v, &d) != 0 || d != 1) {
        return -1;
    }
    return avro_value_get_current_branch(&v, out) == 0 ? 0 : -1;
}

/* A string field (length without the NUL), or NULL when null. */
static const char *pfield_string(struct sampler *s, enum pfield f, size_t *len)
{
    avro_value_t v;
    const char *str = NULL;
    size_t size = 0;
    if (pfield_get(s, f, &v) != 0 || avro_value_get_string(&v, &str, &size) != 0 || size == 0) {
        return NULL;
    }
    *len = size - 1;
    return str;
}

static void pfield_long(struct sampler *s, enum pfield f, int64_t *out)
{
    avro_value_t v;
    if (pfield_get(s, f, &v) == 0) {
        avro_value_get_long(&v, out);
    }
}

static void attr_push(struct sampler *s, size_t *n, avro_value_t *kv)
{
    avro_value_t k, any, inner;
    const char *key;
    size_t key_size;
    if (avro_value_get_by_index(kv, 0, &k, NULL) != 0 ||
        avro_value_get_string(&k, &key, &key_size) != 0 ||
        avro_value_get_by_index(kv, 1, &any, NULL) != 0) {
        return;
    }
    if (*n == s->attrs_cap) {
        size_t cap = s->attrs_cap == 0 ? 64 : s->attrs_cap * 2;
        struct ts_attr *attrs = realloc(s->attrs, cap * sizeof(*attrs));
        if (attrs == NULL) {
            return;
        }
        s->attrs = attrs;
        s->attrs_cap = cap;
    }
    struct ts_attr *a = &s->attrs[*n];
    memset(a, 0, sizeof(*a));
    a->key = key;
    int type = bc_any_get(&any, &inner);
    int ok = 0;
    switch (type) {
    case BC_ANY_STRING:
        a->type = TS_ATTR_STRING;
        ok = avro_value_get_string(&inner, &a->s, &a->len) == 0;
        a->len = a->len > 0 ? a->len - 1 : 0;
        break;
    case BC_ANY_BOOL: {
        int b = 0;
        a->type = TS_ATTR_BOOL;
        ok = avro_value_get_boolean(&inner, &b) == 0;
        a->i = b != 0;
        break;
    }
    case BC_ANY_LONG:
        a->type = TS_ATTR_LONG;
        ok = avro_value_get_long(&inner, &a->i) == 0;
        break;
    case BC_ANY_DOUBLE:
        a->type = TS_ATTR_DOUBLE;
        ok = avro_value_get_double(&inner, &a->d) == 0;
        break;
    default:
        a->type = TS_ATTR_OTHER;
        ok = 1;
        break;
    }
    if (ok) {
        (*n)++;
    }
}

static void attrs_of(struct sampler *s, enum pfield field, size_t *n)
{
    avro_value_t arr, kv;
    size_t count = 0;
    if (pfield_get(s, field, &arr) != 0 || avro_value_get_size(&arr, &count) != 0) {
        return;
    }
    for (size_t i = 0; i < count; i++) {
        if (avro_value_get_by_index(&arr, i, &kv, NULL) == 0) {
            attr_push(s, n, &kv);
        }
    }
}

/* A source topic seen for the first time: every partition the topology gives it is an
 * expected source (buffer.h), seen or not. */
static void expect_topic(struct sampler *s, const char *topic, size_t len)
{
    for (size_t i = 0; i < s->n_src_topics; i++) {
        if (strlen(s->src_topics[i]) == len && memcmp(s->src_topics[i], topic, len) == 0) {
            return;
        }
    }
    if (s->n_src_topics == sizeof(s->src_topics) / sizeof(s->src_topics[0])) {
        return;
    }
    char *name = s->src_topics[s->n_src_topics++];
    memcpy(name, topic, len);
    name[len] = '\0';
    const struct bc_topic *t = s->cfg != NULL ? bc_config_topic(s->cfg, name) : NULL;
    for (int32_t p = 0; t != NULL && p < t->partitions && p < 4096; p++) {
        ts_buffer_expect_source(s->buf, bc_clock_slot(name, len, p));
    }
}

/* What one decoded record says. */
struct view {
    int kind;
    int has_trace;
    uint8_t id[16];
    int64_t event_ms;
    int64_t root_end_ms; /* -1: not a root span */
    int source;          /* source slot (TrackingEvent.source topic and partition), -1: none */
    const char *event_id; /* not NUL-terminated; NULL when not read */
    size_t event_id_len;
    size_t flags_at; /* where the flags field starts (ts_scan), 0: not known */
    struct ts_span span;
};

/* A ["null", string] field of a record ts_scan accepted: the string, or NULL when null. */
static const char *read_opt_string(const uint8_t *p, size_t *len)
{
    if (ts_read_long(&p) != 1) {
        return NULL;
    }
    *len = (size_t)ts_read_long(&p);
    return (const char *)p;
}

/* What both readings end with, from the fields each read its own way: the source slot
 * (src_topic NULL or empty: none; the topic cut at 127 bytes), the event time by kind, and a
 * span's root end, status, times and size. Returns 0, or 1 for a span without a trace_id
 * (the caller says what then). */
static int view_fill(struct sampler *s, struct view *v, int64_t start, int64_t end,
                     const char *src_topic, size_t src_len, int32_t src_part, const char *parent,
                     size_t parent_len, int status, size_t len)
{
    v->root_end_ms = -1;
    v->source = -1;
    if (src_topic != NULL && src_len > 0) {
        size_t n = src_len < 127 ? src_len : 127;
        expect_topic(s, src_topic, n);
        v->source = bc_clock_slot(src_topic, n, src_part);
    }
    if (v->kind != BC_EVENT_SPAN) {
        v->event_ms = start / 1000000;
        return 0;
    }
    if (!v->has_trace) {
        return 1;
    }
    v->event_ms = end / 1000000;
    v->span.is_root = parent == NULL || parent_len == 0;
    if (v->span.is_root) {
        v->root_end_ms = v->event_ms;
    }
    v->span.status = status;
    v->span.start_ns = start;
    v->span.end_ns = end;
    v->span.bytes = len;
    v->span.attrs = s->attrs;
    v->span.attr_count = 0;
    return 0;
}

/* decode() without building a value: for a record in the encoder's form, read from the bytes
 * (patch.h: ts_scan accepts only records the decode accepts). Returns 0, or -1 when the
 * record must take the generic decode (its form, or an invalid trace_id: the decode says
 * why). */
static int decode_fast(struct sampler *s, const void *value, size_t len, struct view *v)
{
    const uint8_t *at[BC_EV_FLAGS + 1];
    if (s->read_attrs || ts_scan(s->patcher, value, len, at, BC_EV_FLAGS + 1) != 0) {
        return -1;
    }
    memset(v, 0, sizeof(*v));
    v->flags_at = (size_t)(at[BC_EV_FLAGS] - (const uint8_t *)value);
    const uint8_t *p = at[BC_EV_EVENT_ID];
    v->event_id_len = (size_t)ts_read_long(&p);
    v->event_id = (const char *)p;
    p = at[BC_EV_KIND];
    v->kind = (int)ts_read_long(&p);
    p = at[BC_EV_START_TIME_NS];
    int64_t start = ts_read_long(&p);
    p = at[BC_EV_END_TIME_NS];
    int64_t end = ts_read_long(&p);
    size_t id_len = 0;
    const char *trace = read_opt_string(at[BC_EV_TRACE_ID], &id_len);
    if (trace != NULL && id_len > 0) {
        if (ts_trace_id_parse(trace, id_len, v->id) != 0) {
            return -1;
        }
        v->has_trace = 1;
    }
    p = at[BC_EV_SOURCE];
    size_t src_len = (size_t)ts_read_long(&p);
    const char *src_topic = (const char *)p;
    p += src_len;
    int32_t src_part = (int32_t)ts_read_long(&p);
    size_t parent_len = 0;
    const char *parent = read_opt_string(at[BC_EV_PARENT_SPAN_ID], &parent_len);
    p = at[BC_EV_STATUS];
    int status = (int)ts_read_long(&p);
    /* A span without a trace_id is dead-lettered: the decode says why. */
    return view_fill(s, v, start, end, src_topic, src_len, src_part, parent, parent_len, status,
                     len) == 0
               ? 0
               : -1;
}

/* Decodes value into s->pv and fills v. Returns 0, or -1 with a DLQ reason in *reason. */
static int decode(struct sampler *s, const void *value, size_t len, struct view *v,
                  const char **reason, char *errstr, size_t errstr_size)
{
    if (value == NULL || len == 0) {
        *reason = "empty";
        snprintf(errstr, errstr_size, "null or empty value");
        return -1;
    }
    if (decode_fast(s, value, len, v) == 0) {
        return 0;
    }
    int rc = bc_avro_decode_fields(s->reg, s->schema, value, len, &s->pv, s->pmask, errstr,
                                   errstr_size);
    if (rc != 0) {
        *reason = "invalid_avro";
        return -1;
    }
    memset(v, 0, sizeof(*v));
    avro_value_t kind;
    if (pfield_get(s, P_KIND, &kind) == 0) {
        avro_value_get_enum(&kind, &v->kind);
    }
    int64_t start = 0, end = 0;
    pfield_long(s, P_START_TIME_NS, &start);
    pfield_long(s, P_END_TIME_NS, &end);
    size_t id_len = 0;
    const char *trace = pfield_string(s, P_TRACE_ID, &id_len);
    if (trace != NULL && id_len > 0) {
        if (ts_trace_id_parse(trace, id_len, v->id) != 0) {
            *reason = "invalid_id";
            snprintf(errstr, errstr_size, "trace_id is not 32 hex digits");
            return -1;
        }
        v->has_trace = 1;
    }
    v->event_id = pfield_string(s, P_EVENT_ID, &v->event_id_len);
    avro_value_t source, field, status, code;
    const char *src_topic = NULL;
    size_t src_len = 0; /* avro-c's length counts the NUL */
    int32_t src_part = 0;
    if (pfield_get(s, P_SOURCE, &source) != 0 ||
        avro_value_get_by_index(&source, 0, &field, NULL) != 0 ||
        avro_value_get_string(&field, &src_topic, &src_len) != 0 || src_len == 0 ||
        avro_value_get_by_index(&source, 1, &field, NULL) != 0 ||
        avro_value_get_int(&field, &src_part) != 0) {
        src_topic = NULL;
        src_len = 1;
    }
    size_t parent_len = 0;
    const char *parent = pfield_string(s, P_PARENT_SPAN_ID, &parent_len);
    int c = 0;
    if (pfield_get(s, P_STATUS, &status) == 0 &&
        avro_value_get_by_index(&status, 0, &code, NULL) == 0) {
        avro_value_get_enum(&code, &c);
    }
    if (view_fill(s, v, start, end, src_topic, src_len - 1, src_part, parent, parent_len, c,
                  len) != 0) {
        *reason = "missing_field";
        snprintf(errstr, errstr_size, "a span without trace_id");
        return -1;
    }
    if (v->kind != BC_EVENT_SPAN) {
        return 0;
    }
    size_t n = 0;
    if (s->read_attrs) {
        attrs_of(s, P_ATTRIBUTES, &n);
        attrs_of(s, P_RESOURCE_ATTRIBUTES, &n);
    }
    v->span.attrs = s->attrs;
    v->span.attr_count = n;
    return 0;
}

/* ---- emitting ------------------------------------------------------------------------- */

/* Re-encodes a span with its decision: the sampling field when sampled, the flags
 * idle_decided / decided_early when the decision was one of those. Into s->out: spliced into
 * the bytes when they are in the encoder's form (patch.h), else decoded and encoded. */
static int reencode(struct sampler *s, const void *value, size_t len, size_t flags_at,
                    const struct decision *d, int sampled)
{
    const char *flags[2];
    size_t n_flags = 0;
    if (d->flags & DECISION_IDLE) {
        flags[n_flags++] = "idle_decided";
    }
    if (d->flags & DECISION_EARLY) {
        flags[n_flags++] = "decided_early";
    }
    if (ts_patch_from(s->patcher, value, len, flags_at, d->policy, d->probability, sampled,
                      flags, n_flags, &s->out) == 0) {
        return BC_OK;
    }
    char errstr[256] = "";
    if (bc_avro_decode(s->reg, s->schema, value, len, &s->ev, errstr, sizeof(errstr)) != 0 ||
        (sampled && bc_event_set_sampling(&s->ev, d->policy, d->probability) != 0) ||
        ((d->flags & DECISION_IDLE) && bc_event_add_flag(&s->ev, "idle_decided") != 0) ||
        ((d->flags & DECISION_EARLY) && bc_event_add_flag(&s->ev, "decided_early") != 0) ||
        bc_avro_encode(s->schema, &s->ev, &s->out, errstr, sizeof(errstr)) != 0) {
        bc_log(BC_LOG_ERROR, "cannot re-encode a buffered span", "error", errstr, NULL);
        return BC_FATAL;
    }
    return BC_OK;
}

/* Emits or drops one record of a decided trace. rec: the input at hand (NULL for a buffered
 * record, then src says which); event_id (may be NULL) goes into its Fate. */
static int apply(struct sampler *s, struct bc_ctx *ctx, const struct bc_record *rec,
                 const struct bc_source *src, int64_t timestamp, const uint8_t id[16],
                 uint32_t rflags, const void *value, size_t len, const struct decision *d,
                 const char *event_id)
{
    char key[33];
    hex_of(id, key);
    struct bc_emit_opts opts = {.timestamp = timestamp, .source = rec == NULL ? src : NULL};
    /* A decision that depends on more than the input (wall clock, what else is buffered)
     * marks every record it writes, so an audit (breadcrumb diff) can tell them apart: the
     * kept and cold copies by flag, the Fates by reason. */
    int marked = (d->flags & (DECISION_IDLE | DECISION_EARLY)) != 0;
    if (d->flags & DECISION_SAMPLED) {
        const void *out = value;
        size_t out_len = len;
        if ((rflags & TS_REC_SPAN) || marked) {
            if (reencode(s, value, len, rflags >> TS_REC_USER_SHIFT, d,
                         (rflags & TS_REC_SPAN) != 0) != BC_OK) {
                return BC_FATAL;
            }
            out = s->out.data;
            out_len = s->out.len;
            if (rflags & TS_REC_SPAN) {
                s->count.kept_spans++;
            }
        }
        return bc_emit(ctx, rec, "sampled", key, 32, out, out_len, &opts);
    }
    if (rflags & TS_REC_SPAN) {
        s->count.dropped_spans++;
    }
    const char *reason = !marked                       ? "sampled_out"
                         : (d->flags & DECISION_IDLE) ? "sampled_out:idle_decided"
                                                      : "sampled_out:decided_early";
    struct bc_fate fate = {.kind = BC_FATE_SAMPLED_OUT,
                           .reason = reason,
                           .policy = d->policy,
                           .event_id = event_id};
    int rc = rec != NULL ? bc_drop_fate(ctx, rec, NULL, &fate)
                         : bc_drop_source(ctx, src, timestamp, reason, d->policy);
    if (rc == BC_OK && s->has_cold) {
        /* The cold copy carries the same flags as a kept record would: an audit can tell the
         * decisions a replay may not reproduce. */
        const void *out = value;
        size_t out_len = len;
        if (marked) {
            if (reencode(s, value, len, rflags >> TS_REC_USER_SHIFT, d, 0) != BC_OK) {
                return BC_FATAL;
            }
            out = s->out.data;
            out_len = s->out.len;
        }
        rc = bc_emit(ctx, rec, "cold", key, 32, out, out_len, &opts);
    }
    return rc;
}

/* Decides a buffered trace, writes its records and its decision, frees it. */
static int decide(struct sampler *s, struct bc_ctx *ctx, struct ts_part *part,
                  struct ts_trace *t, uint8_t how)
{
    int32_t partition = ts_part_id(part);
    struct pstate *ps = pstate_of(s, partition);
    if (ps == NULL) {
        return BC_FATAL;
    }
    struct ts_bucket before[64];
    size_t nb = s->n_buckets < 64 ? s->n_buckets : 64;
    memcpy(before, ps->buckets, nb * sizeof(*before));
    struct ts_decision td;
    ts_decide(s->policies, &t->acc, t->id, ps->buckets, s->shares > 0 ? s->shares : 1, &td);
    struct decision d = {.flags = (uint8_t)(how | (td.sampled ? DECISION_SAMPLED : 0)),
                         .probability = td.probability,
                         .emitted_upto = -1};
    snprintf(d.policy, sizeof(d.policy), "%s", td.policy);
    const struct ts_node *cursor = NULL;
    struct ts_rec r;
    int64_t ts = 0;
    while (ts_trace_next(t, &cursor, &r)) {
        struct bc_source src = {.topic = ps->topic, .partition = partition, .offset = r.offset};
        int rc =
            apply(s, ctx, NULL, &src, r.timestamp_ms, t->id, r.flags, r.value, r.len, &d, NULL);
        if (rc != BC_OK) {
            return rc;
        }
        if (r.offset > d.emitted_upto) {
            d.emitted_upto = r.offset;
        }
        if (r.timestamp_ms > ts) {
            ts = r.timestamp_ms;
        }
    }
    int rc = decision_put(s, partition, t->id, &d, ts);
    if (rc != BC_OK) {
        return rc;
    }
    if (td.sampled) {
        s->count.kept_traces++;
    } else {
        s->count.dropped_traces++;
    }
    char labels[160];
    snprintf(labels, sizeof(labels), "policy=%s,decision=%s", d.policy,
             td.sampled ? "keep" : "drop");
    bc_metric_counter_add(ctx, "breadcrumb_sampler_traces_total", labels, 1);
    if (how & DECISION_EARLY) {
        s->count.early++;
        bc_metric_counter_add(ctx, "breadcrumb_sampler_decided_early_total", NULL, 1);
    }
    if (how & DECISION_IDLE) {
        s->count.idle++;
        bc_metric_counter_add(ctx, "breadcrumb_sampler_idle_decided_total", NULL, 1);
    }
    ts_buffer_remove(s->buf, part, t);
    if (memcmp(before, ps->buckets, nb * sizeof(*before)) != 0) {
        return meta_put(s, ctx, partition, part, ps);
    }
    return BC_OK;
}

/* Moves the partition's hold to its oldest undecided record, with the max event time before
 * it in the same transaction (see the header). */
static int update_hold(struct sampler *s, struct bc_ctx *ctx, struct ts_part *part)
{
    int32_t partition = ts_part_id(part);
    struct pstate *ps = pstate_of(s, partition);
    if (ps == NULL) {
        return BC_FATAL;
    }
    int64_t hold = ts_part_hold(part);
    if (!ps->has_meta ||
        memcmp(&ps->meta_clock, clock_before_hold(part), sizeof(struct bc_clock)) != 0) {
        int rc = meta_put(s, ctx, partition, part, ps);
        if (rc != BC_OK) {
            return rc;
        }
    }
    bc_hold(ctx, NULL, partition, hold);
    return BC_OK;
}

static int decide_due(struct sampler *s, struct bc_ctx *ctx, struct ts_part *part)
{
    struct ts_trace *t;
    while ((t = ts_part_due(part)) != NULL) {
        int rc = decide(s, ctx, part, t, 0);
        if (rc != BC_OK) {
            return rc;
        }
    }
    return BC_OK;
}

/* Decides the oldest traces until cost more bytes fit under max_buffer_bytes. */
static int make_room(struct sampler *s, struct bc_ctx *ctx, size_t cost)
{
    while (ts_buffer_bytes(s->buf) + cost > s->max_bytes) {
        struct ts_part *oldest = ts_buffer_oldest_part(s->buf);
        if (oldest == NULL) {
            break; /* one record larger than the whole bound: buffered alone */
        }
        int rc = decide(s, ctx, oldest, ts_part_oldest(oldest), DECISION_EARLY);
        if (rc == BC_OK) {
            rc = update_hold(s, ctx, oldest);
        }
        if (rc != BC_OK) {
            return rc;
        }
    }
    return BC_OK;
}

static void report(struct sampler *s, const char *msg)
{
    char bytes[24], peak[24], traces[24], kept[24], dropped[24], early[24], idle[24], late[24],
        replayed[24], passed[24], spans[24], late_errors[24], late_errors_idle[24];
    snprintf(bytes, sizeof(bytes), "%zu", ts_buffer_bytes(s->buf));
    snprintf(peak, sizeof(peak), "%zu", s->peak_bytes);
    snprintf(traces, sizeof(traces), "%zu", ts_buffer_traces(s->buf));
    snprintf(kept, sizeof(kept), "%" PRIu64, s->count.kept_traces);
    snprintf(dropped, sizeof(dropped), "%" PRIu64, s->count.dropped_traces);
    snprintf(early, sizeof(early), "%" PRIu64, s->count.early);
    snprintf(idle, sizeof(idle), "%" PRIu64, s->count.idle);
    snprintf(late, sizeof(late), "%" PRIu64, s->count.late);
    snprintf(replayed, sizeof(replayed), "%" PRIu64, s->count.replayed);
    snprintf(passed, sizeof(passed), "%" PRIu64, s->count.passed);
    snprintf(spans, sizeof(spans), "%" PRIu64, s->count.spans);
    snprintf(late_errors, sizeof(late_errors), "%" PRIu64, s->count.late_errors);
    snprintf(late_errors_idle, sizeof(late_errors_idle), "%" PRIu64, s->count.late_errors_idle);
    bc_log(BC_LOG_INFO, msg, "buffered_bytes", bytes, "buffered_bytes_peak", peak,
           "buffered_traces", traces, "spans", spans, "traces_kept", kept, "traces_dropped",
           dropped, "decided_early", early, "idle_decided", idle, "late_followed", late,
           "replayed_skipped", replayed, "passed_through", passed, "late_errors_dropped",
           late_errors, "late_errors_dropped_idle", late_errors_idle, NULL);
}

/* ---- stage callbacks -------------------------------------------------------------------- */

static void ts_log_error(void *opaque, const struct bc_node *at, const char *message)
{
    (void)opaque;
    char where[64] = "";
    if (at != NULL && at->pos.line > 0) {
        snprintf(where, sizeof(where), "%d:%d", at->pos.line, at->pos.column);
    }
    bc_log(BC_LOG_ERROR, "bad sampling policy", "at", where, "error", message, NULL);
}

static int sampler_init(struct bc_ctx *ctx)
{
    struct sampler *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        return BC_FATAL;
    }
    bc_ctx_set_state(ctx, s);
    const struct bc_values *o = bc_ctx_options(ctx);
    enum ts_mode mode =
        strcmp(bc_values_str(o, "evaluation"), "all") == 0 ? TS_ALL : TS_FIRST_MATCH;
    if (ts_policies_compile(bc_values_node(o, "policies"), mode, ts_log_error, NULL,
                            &s->policies) != 0) {
        return BC_FATAL;
    }
    s->n_buckets = ts_policies_buckets(s->policies);
    if (s->n_buckets > 64) {
        bc_log(BC_LOG_ERROR, "at most 64 rate_limiting and bytes_limiting policies", NULL);
        return BC_FATAL;
    }
    s->buf = ts_buffer_new(s->policies, bc_values_int(o, "decision_wait"),
                           bc_values_int(o, "allowed_lateness"));
    s->idle_ms = bc_values_int(o, "idle_timeout");
    s->ttl_ms = bc_values_int(o, "decision_ttl");
    s->max_bytes = (size_t)bc_values_int(o, "max_buffer_bytes");
    s->follow = strcmp(bc_values_str(o, "non_span"), "follow") == 0;
    if (s->buf == NULL) {
        return BC_FATAL;
    }
    ts_buffer_set_max_skew(s->buf, bc_values_int(o, "max_source_skew"));
    s->cfg = bc_ctx_config(ctx);
    struct bc_store_opts sopts = {.max_bytes = 0,
                                  .ttl_ms = bc_values_int(o, "decision_ttl"),
                                  .full_policy = BC_STORE_EVICT_OLDEST};
    s->decisions = bc_store_open(ctx, "decisions", &sopts);
    if (s->decisions == NULL) {
        return BC_FATAL;
    }
    const struct bc_config *cfg = bc_ctx_config(ctx);
    const struct bc_worker *worker = cfg != NULL ? bc_config_worker(cfg, bc_ctx_worker(ctx)) : NULL;
    for (size_t i = 0; worker != NULL && i < worker->n_outputs; i++) {
        s->has_cold |= strcmp(worker->outputs[i].name, "cold") == 0;
    }
    s->reg = bc_ctx_registry(ctx);
    char dir[4096] = "the runtime's registry";
    char errstr[512];
    if (s->reg == NULL) {
        /* Started without a schema directory: the schemas/ beside bin/, or $BREADCRUMB_SCHEMAS. */
        ssize_t n = readlink("/proc/self/exe", dir, sizeof(dir) - 1);
        dir[n > 0 ? n : 0] = '\0';
        char *slash = strrchr(dir, '/');
        if (slash != NULL) {
            *slash = '\0';
        }
        strncat(dir, "/../schemas", sizeof(dir) - strlen(dir) - 1);
        const char *env = getenv("BREADCRUMB_SCHEMAS");
        if (env != NULL && env[0] != '\0') {
            snprintf(dir, sizeof(dir), "%s", env);
        }
        if (bc_avro_registry_load(dir, &s->owned_reg, errstr, sizeof(errstr)) != 0) {
            bc_log(BC_LOG_ERROR, "cannot load schemas", "dir", dir, "error", errstr, NULL);
            return BC_FATAL;
        }
        s->reg = s->owned_reg;
    }
    s->schema = bc_avro_registry_lookup(s->reg, "TrackingEvent");
    if (s->schema == NULL || bc_event_check(s->schema, errstr, sizeof(errstr)) != 0 ||
        bc_avro_value_new(s->schema, &s->ev) != 0) {
        bc_log(BC_LOG_ERROR, "no usable TrackingEvent schema", "dir", dir, NULL);
        return BC_FATAL;
    }
    s->has_ev = 1;
    s->patcher = ts_patcher_new(s->schema); /* NULL: every kept span is re-encoded */
    s->read_attrs = ts_policies_read_attributes(s->policies);
    for (int f = 0; f < (s->read_attrs ? P_COUNT : P_ATTRIBUTES); f++) {
        s->pmask |= (uint64_t)1 << pindex[f];
    }
    if (bc_avro_value_new(s->schema, &s->pv) != 0) {
        bc_log(BC_LOG_ERROR, "out of memory", NULL);
        return BC_FATAL;
    }
    s->has_pv = 1;
    /* Metrics registered at 0 from the first scrape (counted where traces are decided). */
    bc_metric_counter(ctx, "breadcrumb_sampler_decided_early_total", NULL, NULL);
    for (size_t i = 0; i < ts_policies_count(s->policies); i++) {
        char labels[160];
        for (int keep = 0; keep < 2; keep++) {
            snprintf(labels, sizeof(labels), "policy=%s,decision=%s",
                     ts_policies_name(s->policies, i), keep ? "keep" : "drop");
            bc_metric_counter(ctx, "breadcrumb_sampler_traces_total", NULL, labels);
        }
    }
    return BC_OK;
}

static int sampler_assigned(struct bc_ctx *ctx, int32_t partition)
{
    struct sampler *s = bc_ctx_state(ctx);
    struct ts_part *part = ts_buffer_part(s->buf, partition, 1);
    struct pstate *ps = pstate_of(s, partition);
    if (part == NULL || ps == NULL) {
        return BC_FATAL;
    }
    ts_part_set_last_wall(part, wall_ms());
    const void *value;
    size_t len;
    if (bc_store_get(s->decisions, partition, meta_key, 4, &value, &len, NULL) &&
        len >= META_HEADER) {
        struct bc_clock c;
        memcpy(&c.max, value, 8);
        memcpy(&ps->handled_upto, (const uint8_t *)value + 8, 8);
        memcpy(c.src, (const uint8_t *)value + 16, 8 * BC_CLOCK_SOURCES);
        ts_part_restore(part, &c);
        ps->meta_clock = c;
        ps->has_meta = 1;
        size_t nb = (len - META_HEADER) / sizeof(struct ts_bucket);
        if (nb > s->n_buckets) {
            nb = s->n_buckets;
        }
        memcpy(ps->buckets, (const uint8_t *)value + META_HEADER, nb * sizeof(struct ts_bucket));
    }
    return BC_OK;
}

static int sampler_revoked(struct bc_ctx *ctx, int32_t partition)
{
    struct sampler *s = bc_ctx_state(ctx);
    ts_buffer_drop_part(s->buf, partition);
    pstate_free(s, partition);
    return BC_OK;
}

static int sampler_process(struct bc_ctx *ctx, const struct bc_record *rec)
{
    struct sampler *s = bc_ctx_state(ctx);
    int32_t partition = bc_record_partition(rec);
    int64_t offset = bc_record_offset(rec);
    size_t len = 0, key_len = 0;
    const void *value = bc_record_value(rec, &len);
    const void *key = bc_record_key(rec, &key_len);
    struct ts_part *part = ts_buffer_part(s->buf, partition, 1);
    struct pstate *ps = pstate_of(s, partition);
    if (part == NULL || ps == NULL) {
        return BC_FATAL;
    }
    struct bc_source src;
    bc_record_source(rec, &src);
    ps->topic = src.topic;
    if (s->shares == 0) {
        const struct bc_config *cfg = bc_ctx_config(ctx);
        const struct bc_topic *topic =
            cfg != NULL ? bc_config_topic(cfg, bc_record_topic(rec)) : NULL;
        s->shares = topic != NULL ? topic->partitions : 1;
    }
    ts_part_set_last_wall(part, wall_ms());
    struct view v;
    const char *reason = NULL;
    char errstr[256];
    if (decode(s, value, len, &v, &reason, errstr, sizeof(errstr)) != 0) {
        if (offset < ps->handled_upto) {
            s->count.replayed++;
            return BC_OK;
        }
        int rc = bc_dead_letter(ctx, rec, reason, errstr);
        ps->handled_upto = offset + 1;
        return rc == BC_OK ? meta_put(s, ctx, partition, part, ps) : rc;
    }
    int rc = BC_OK;
    int is_span = v.kind == BC_EVENT_SPAN;
    /* Where the flags field starts travels with the record when it fits the flags' 24 bits. */
    uint32_t rflags = (is_span ? TS_REC_SPAN : 0) |
                      (v.flags_at < (1u << (32 - TS_REC_USER_SHIFT))
                           ? (uint32_t)v.flags_at << TS_REC_USER_SHIFT
                           : 0);
    if (is_span) {
        s->count.spans++;
    }
    if (!is_span && (!v.has_trace || !s->follow)) {
        if (offset < ps->handled_upto) {
            s->count.replayed++; /* passed through by a committed transaction */
        } else {
            s->count.passed++;
            rc = bc_emit(ctx, rec, "sampled", key, key_len, value, len, NULL);
            ps->handled_upto = offset + 1;
            if (rc == BC_OK) {
                rc = meta_put(s, ctx, partition, part, ps);
            }
        }
    } else {
        struct decision d;
        int decided = decision_get(s, ctx, partition, v.id, &d);
        if (!decided) {
            struct ts_trace *t = ts_part_find(part, v.id);
            uint64_t early = s->count.early;
            rc = make_room(s, ctx, ts_buffer_add_cost(s->buf, part, t, len));
            /* Making room may have decided this very trace early (and freed t). */
            if (rc == BC_OK && s->count.early != early) {
                decided = decision_get(s, ctx, partition, v.id, &d);
                t = ts_part_find(part, v.id);
            }
            if (rc == BC_OK && !decided) {
                if (ts_buffer_append(s->buf, part, t, v.id, offset, bc_record_timestamp(rec),
                                     rflags, value, len, is_span ? &v.span : NULL, v.event_ms,
                                     v.root_end_ms) == NULL) {
                    bc_log(BC_LOG_ERROR, "out of memory buffering a span", NULL);
                    return BC_FATAL;
                }
                if (ts_buffer_bytes(s->buf) > s->peak_bytes) {
                    s->peak_bytes = ts_buffer_bytes(s->buf); /* the gauge: sampler_tick */
                }
            }
        }
        if (rc == BC_OK && decided) {
            if (offset <= d.emitted_upto) {
                s->count.replayed++; /* case 1: handled by a committed transaction */
            } else {
                s->count.late++; /* case 2: follows the decision */
                if (is_span && v.span.status == 2 && !(d.flags & DECISION_SAMPLED)) {
                    /* An error span after its trace was dropped: decision_wait +
                     * allowed_lateness (or idle_timeout) too short for this input. */
                    s->count.late_errors++;
                    s->count.late_errors_idle += (d.flags & DECISION_IDLE) != 0;
                    bc_metric_counter_add(ctx, "breadcrumb_sampler_late_errors_dropped_total",
                                          (d.flags & DECISION_IDLE)    ? "decision=idle"
                                          : (d.flags & DECISION_EARLY) ? "decision=early"
                                                                       : "decision=event_time",
                                          1);
                }
                char eid[64];
                snprintf(eid, sizeof(eid), "%.*s", v.event_id != NULL ? (int)v.event_id_len : 0,
                         v.event_id != NULL ? v.event_id : "");
                rc = apply(s, ctx, rec, &src, bc_record_timestamp(rec), v.id,
                           rflags, value, len, &d, eid[0] ? eid : NULL);
                d.emitted_upto = offset;
                if (rc == BC_OK) {
                    int64_t ts = bc_record_timestamp(rec);
                    rc = decision_put(s, partition, v.id, &d, ts);
                }
            }
        }
    }
    if (rc != BC_OK) {
        return rc;
    }
    ts_part_observe_source(part, v.event_ms, v.source);
    rc = decide_due(s, ctx, part);
    if (rc == BC_OK) {
        rc = update_hold(s, ctx, part);
    }
    return rc;
}

/* The idle fallback. A partition is quiet while it is caught up (nothing left to fetch:
 * bc_input_behind() 0 or unknown) and no record arrives; records held up upstream (an open
 * transaction of a killed worker, which a read_committed consumer cannot read past) do not
 * count as quiet. After idle_timeout of quiet, event time is estimated to have gone on at
 * the pace of the wall clock: the traces that would be due at now + quiet are decided
 * (flagged idle_decided), in due order, one by one as the quiet goes on, rather than all at
 * once. So a trace still receiving spans through an upstream outage shorter than
 * max(idle_timeout, its own due time - now) keeps them, and the last traces of a
 * finished stream are decided after at most max(idle_timeout, decision_wait +
 * allowed_lateness). */
static int idle_decide(struct sampler *s, struct bc_ctx *ctx, struct ts_part *part,
                       int64_t now_ms)
{
    int32_t partition = ts_part_id(part);
    if (bc_input_behind(ctx, partition) > 0 || now_ms < ts_part_last_wall(part)) {
        ts_part_set_last_wall(part, now_ms); /* records on their way: not quiet */
        return BC_OK;
    }
    int64_t quiet = now_ms - ts_part_last_wall(part);
    if (quiet < s->idle_ms) {
        return BC_OK;
    }
    int64_t upto = ts_part_now(part) + quiet;
    int decided = 0;
    struct ts_trace *t;
    while ((t = ts_part_due_by(part, upto)) != NULL) {
        int rc = decide(s, ctx, part, t, DECISION_IDLE);
        if (rc != BC_OK) {
            return rc;
        }
        decided = 1;
    }
    return decided ? update_hold(s, ctx, part) : BC_OK;
}

static int sampler_tick(struct bc_ctx *ctx, int64_t now_ms)
{
    struct sampler *s = bc_ctx_state(ctx);
    if (s->peak_bytes != s->peak_published) {
        /* Every 100 ms (the tick), not on each record that raises the peak. */
        s->peak_published = s->peak_bytes;
        bc_metric_gauge_set(ctx, "breadcrumb_sampler_buffered_bytes_peak", NULL,
                            (double)s->peak_bytes);
    }
    for (size_t i = 0; i < s->n_ps; i++) {
        struct ts_part *part = ts_buffer_part(s->buf, (int32_t)i, 0);
        if (part == NULL || ts_part_traces(part) == 0) {
            continue;
        }
        int rc = idle_decide(s, ctx, part, now_ms);
        if (rc != BC_OK) {
            return rc;
        }
    }
    if (now_ms - s->last_report >= 10000) {
        s->last_report = now_ms;
        report(s, "tail-sampler stats");
    }
    return BC_OK;
}

static void sampler_fini(struct bc_ctx *ctx)
{
    struct sampler *s = bc_ctx_state(ctx);
    if (s == NULL) {
        return;
    }
    if (s->buf != NULL) {
        report(s, "tail-sampler stopped");
    }
    for (size_t i = 0; i < s->n_ps; i++) {
        pstate_free(s, (int32_t)i);
    }
    free(s->ps);
    ts_buffer_destroy(s->buf);
    ts_policies_destroy(s->policies);
    if (s->has_ev) {
        avro_value_decref(&s->ev);
    }
    if (s->has_pv) {
        avro_value_decref(&s->pv);
    }
    bc_avro_buf_free(&s->out);
    ts_patcher_free(s->patcher);
    bc_avro_registry_destroy(s->owned_reg);
    free(s->attrs);
    free(s);
}

const struct bc_stage tail_sampler_stage = {
    .name = "tail-sampler",
    .type = &bc_tail_sampler_type,
    .init = sampler_init,
    .process = sampler_process,
    .tick = sampler_tick,
    .assigned = sampler_assigned,
    .revoked = sampler_revoked,
    .fini = sampler_fini,
};
