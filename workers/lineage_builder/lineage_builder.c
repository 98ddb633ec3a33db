/*
 * The lineage-builder stage: follows the chain's topics, the fates and the dead letters, and
 * writes one LineageRecord per event_id to a compacted topic (output `lineage`), spans
 * whose parent never arrives to output `orphans`, and OpenLineage run events.
 *
 * Records of one event live on different partitions of different topics (the chain is keyed
 * by trace_id, the sinks by a rule's key, fates by position, dead letters by the input's
 * key), so the builder works in two steps in one process, like the deduplicator's
 * repartition mode:
 *   1. every record of a chain topic, fate or dead letter becomes a hop fact (lineage.h: a
 *      one-hop record in lin_fact_encode's binary form; earlier versions wrote it as JSON,
 *      still read) written to output `repartition` keyed by its event_id; a
 *      fate or dead letter whose event_id is unknown (the normalizer's dead letters of raw
 *      records, a router or sampler drop) is keyed "topic:partition:offset" of the record
 *      it consumed, which `breadcrumb lineage` joins at query time;
 *   2. the hops topic is also an input: its partition P holds every fact of the event_ids
 *      hashing to P, merged in store `lineage` (partition P, key event_id; lin_rec_encode's
 *      binary form, or JSON as earlier versions stored it) and the merged record written to
 *      `lineage` (Avro LineageRecord) whenever it changed. Both steps work on C values
 *      (struct lin_rec), no JSON tree per record.
 * Merging is a set union (lineage.c), so redelivery after an abort and replays change
 * nothing: same facts, same bytes.
 *
 * Traces: spans of `trace_topic` (default `<pipeline>.normalized`, keyed by trace_id: a
 * trace is on one partition) go to store `traces` (key trace_id, lineage.h's span set);
 * once a trace's first span is `orphan_window` older than the partition's orphan clock
 * (lineage.h: its records' timestamps, following the slowest source, kept in the same
 * store) it is decided: each span whose parent is not in the set is an orphan record on
 * `orphans`. Decisions are made while processing the trace-topic record that moves the
 * clock, never in tick: the same records in the same order give the same orphans. A decided
 * set is kept for `decided_ttl`, so that late spans and retries find their parents (a late
 * span whose parent is not there is reported when it arrives). Only the instance reading
 * the trace topic's partition decides (another may hold a restored copy through a topic
 * with fewer partitions).
 *
 * OpenLineage (openlineage.h): run records of `<pipeline>.runs` and what each worker
 * instance wrote become run facts on `repartition` keyed "run:<worker>/<instance>"; the
 * owner of that partition keeps the instance's runs in store `runs` and writes the run
 * events. Every keyed state thus has one owner, whatever the number of instances.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <avro.h>
#include <jansson.h>

#include "bc_avro.h"
#include "bc_config.h"
#include "bc_event.h"
#include "bc_log.h"
#include "bc_stage.h"
#include "lineage.h"
#include "openlineage.h"

extern const struct bc_worker_type bc_lineage_builder_type;

struct lb_state {
    const struct bc_avro_registry *registry;
    const struct bc_avro_schema *te, *fate, *dlq, *lineage;
    avro_value_t te_value, fate_value, dlq_value, lineage_value;
    int values_ready;
    struct bc_avro_buf buf;
    char *repartition;  /* new: the output `repartition`, also an input */
    char *trace_topic; /* new */
    char *fates_topic; /* new: <pipeline>.fates */
    int has_orphans;
    char *ol_topic;        /* new: option openlineage_topic, or NULL */
    char *runs_topic;      /* new: <pipeline>.runs when it is an input, else NULL */
    char *job_ns, *dataset_ns; /* new */
    struct ol_namespaces ns;
    json_t *ol_events;     /* scratch array */
    json_t *ol_sent;       /* run facts sent since the last revocation (a set) */
    int64_t orphan_window_ms, max_source_skew_ms, decided_ttl_ms, idle_ms;
    const struct bc_config *cfg;
    char *source_topics[8]; /* new: source topics whose partitions are expected */
    size_t n_source_topics;
    uint32_t expected; /* source slots expected (lineage.h) */
    struct bc_store *lineage_store, *traces, *runs;
    int32_t *owned; /* partitions owned (distinct numbers) */
    size_t owned_count;
    /* Per owned partition number: the trace topic's orphan clock there (lineage.h), loaded
     * from store `traces` when the first trace-topic record of the partition arrives (with
     * several instances, a partition number may be owned for other topics only, and its
     * `traces` table is then another instance's). */
    struct lin_clock *clocks, *clocks_saved; /* saved: as last written to the store */
    int *clock_loaded;
    int64_t *last_wall; /* wall clock of the partition's last trace-topic record (idle) */
    uint8_t *set_buf;
    size_t set_cap;
    /* Merging (step 2): the fact and the record at hand, and the record's stored form. */
    struct lin_rec fact, record;
    uint8_t *store_buf, *fact_buf;
    size_t store_cap, fact_cap;
    /* Counters (logged at the end and every sweep that decided something). */
    uint64_t facts, merges, records, traces_complete, traces_orphaned, orphan_spans, late_orphans;
};

/* ---- helpers ------------------------------------------------------------------------- */

/* A header as a NUL-terminated copy in buf, or "" when absent. */
static const char *header_str(const struct bc_record *rec, const char *name, char *buf,
                              size_t cap)
{
    const void *v;
    size_t len;
    if (bc_record_header(rec, name, &v, &len) != 0 || v == NULL) {
        buf[0] = '\0';
        return buf;
    }
    if (len >= cap) {
        len = cap - 1;
    }
    memcpy(buf, v, len);
    buf[len] = '\0';
    return buf;
}

/* Writes a run fact (steals; JSON) to `repartition` keyed by key. */
static int emit_fact(struct bc_ctx *ctx, struct lb_state *st, const struct bc_record *rec,
                     const char *key, json_t *fact)
{
    (void)st;
    if (fact == NULL) {
        return BC_FATAL;
    }
    char *text = json_dumps(fact, JSON_COMPACT);
    json_decref(fact);
    if (text == NULL) {
        return BC_FATAL;
    }
    int rc = bc_emit(ctx, rec, "repartition", key, strlen(key), text, strlen(text), NULL);
    free(text);
    st->facts++;
    return rc;
}

static int avro_str(avro_value_t *rec, const char *field, const char **out)
{
    avro_value_t f;
    size_t len;
    if (avro_value_get_by_name(rec, field, &f, NULL) != 0) {
        return -1;
    }
    return avro_value_get_string(&f, out, &len);
}

/* Writes a hop fact (lin_fact_encode's arguments; event_id is also the key) to
 * `repartition`. */
static int emit_hop_fact(struct bc_ctx *ctx, struct lb_state *st, const struct bc_record *rec,
                         const char *event_id, const char *trace_id, const char *raw_topic,
                         int32_t raw_partition, int64_t raw_offset, int32_t raw_index,
                         const char *worker, const char *config_hash, const char *topic,
                         int32_t partition, int64_t offset, const char *fate,
                         const char *detail)
{
    size_t len;
    const char *key = event_id;
    if (lin_fact_encode(event_id, trace_id, raw_topic, raw_partition, raw_offset, raw_index,
                        worker, config_hash, topic, partition, offset, fate, detail,
                        &st->fact_buf, &st->fact_cap, &len) != 0) {
        return BC_FATAL;
    }
    st->facts++;
    return bc_emit(ctx, rec, "repartition", key, strlen(key), st->fact_buf, len, NULL);
}

/* The TrackingEvent fields a hop fact and the trace view read: the rest of a record (its
 * attributes, body, events) is skipped, not decoded. */
#define CHAIN_FIELDS                                                                            \
    ((1u << BC_EV_EVENT_ID) | (1u << BC_EV_KIND) | (1u << BC_EV_TRACE_ID) |                    \
     (1u << BC_EV_SPAN_ID) | (1u << BC_EV_PARENT_SPAN_ID) | (1u << BC_EV_SOURCE))

/* ---- step 1: facts ---------------------------------------------------------------------- */

/* ---- the orphan clock ---------------------------------------------------------------- */

/* Wall clock (ms), for the idle fallback only (lb_tick). */
static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The clock of an owned partition number, loaded from store `traces` at first use (NULL:
 * the partition is not owned). */
static struct lin_clock *trace_clock(struct lb_state *st, int32_t partition)
{
    for (size_t i = 0; i < st->owned_count; i++) {
        if (st->owned[i] != partition) {
            continue;
        }
        struct lin_clock *c = &st->clocks[i];
        if (!st->clock_loaded[i]) {
            const void *v;
            size_t len;
            lin_clock_init(c);
            if (bc_store_get(st->traces, partition, LIN_CLOCK_KEY, strlen(LIN_CLOCK_KEY), &v,
                             &len, NULL) &&
                lin_clock_decode(c, v, len) != 0) {
                bc_log(BC_LOG_WARN, "orphan clock unreadable: starts again", NULL);
                lin_clock_init(c);
            }
            st->clock_loaded[i] = 1;
            st->clocks_saved[i] = *c;
        }
        return c;
    }
    return NULL;
}

/* A source topic seen for the first time: every partition the topology gives it is an
 * expected source of the clocks. */
static void expect_source(struct lb_state *st, const char *topic)
{
    if (topic == NULL || st->cfg == NULL) {
        return;
    }
    for (size_t i = 0; i < st->n_source_topics; i++) {
        if (strcmp(st->source_topics[i], topic) == 0) {
            return;
        }
    }
    if (st->n_source_topics == sizeof(st->source_topics) / sizeof(st->source_topics[0])) {
        return;
    }
    char *copy = strdup(topic);
    if (copy == NULL) {
        return; /* only a weaker clock */
    }
    st->source_topics[st->n_source_topics++] = copy;
    const struct bc_topic *t = bc_config_topic(st->cfg, topic);
    for (int32_t p = 0; t != NULL && p < t->partitions && p < 4096; p++) {
        st->expected |= 1u << bc_clock_slot(topic, strlen(topic), p);
    }
}

static int sweep_partition(struct bc_ctx *ctx, struct lb_state *st, int32_t partition,
                           int64_t cutoff, int64_t now, int idle);
static int late_orphan(struct bc_ctx *ctx, struct lb_state *st, const char *trace_id,
                       const char *span, const char *parent, size_t spans, int64_t now);

/* 1 when a and b differ in a second of any time, or in the last sweep. */
static int clock_moved(const struct lin_clock *a, const struct lin_clock *b)
{
    if (a->swept != b->swept || a->t.max / 1000 != b->t.max / 1000) {
        return 1;
    }
    for (int i = 0; i < BC_CLOCK_SOURCES; i++) {
        if (a->t.src[i] / 1000 != b->t.src[i] / 1000) {
            return 1;
        }
    }
    return 0;
}

/* After a trace-topic record of partition: decides the traces the clock says are due, and
 * saves the clock when a sweep happened or any of its times moved to another second (a
 * put per second of event time per source, not per record). */
static int orphan_decide(struct bc_ctx *ctx, struct lb_state *st, int32_t partition,
                         struct lin_clock *clock)
{
    size_t idx = (size_t)(clock - st->clocks);
    int64_t now = lin_clock_now(clock, st->max_source_skew_ms);
    int64_t cutoff = lin_clock_sweep_due(clock, st->orphan_window_ms, st->max_source_skew_ms);
    int rc = BC_OK;
    if (cutoff >= 0) {
        rc = sweep_partition(ctx, st, partition, cutoff, now, 0);
    }
    if (rc == BC_OK && clock_moved(clock, &st->clocks_saved[idx])) {
        uint8_t buf[LIN_CLOCK_BYTES];
        lin_clock_encode(clock, buf);
        if (bc_store_put(st->traces, partition, LIN_CLOCK_KEY, strlen(LIN_CLOCK_KEY), buf,
                         sizeof(buf), clock->t.max) != 0) {
            bc_log(BC_LOG_WARN, "trace store full: orphan clock not saved", NULL);
        }
        st->clocks_saved[idx] = *clock;
    }
    return rc;
}

/* A TrackingEvent (Avro) or a JSON sink record written by a chain worker. */
static int chain_record(struct bc_ctx *ctx, struct lb_state *st, const struct bc_record *rec,
                        const char *worker, const char *config_hash)
{
    size_t value_len;
    const uint8_t *value = bc_record_value(rec, &value_len);
    char errstr[256], src[320], pos_detail[340];
    const char *event_id = NULL, *trace_id = NULL, *raw_topic = NULL;
    int32_t raw_partition = -1, raw_index = 0;
    int64_t raw_offset = -1;
    json_t *json = NULL;
    if (value == NULL || value_len == 0) {
        return BC_OK;
    }
    if (value[0] == 0x00) {
        if (bc_avro_decode_fields(st->registry, st->te, value, value_len, &st->te_value,
                                  CHAIN_FIELDS, errstr, sizeof(errstr)) != 0) {
            return bc_dead_letter(ctx, rec, "undecodable", errstr);
        }
        size_t len;
        event_id = bc_event_get_string(&st->te_value, BC_EV_EVENT_ID, &len);
        trace_id = bc_event_get_string(&st->te_value, BC_EV_TRACE_ID, &len);
        avro_value_t source, f;
        if (bc_event_field(&st->te_value, BC_EV_SOURCE, &source) == 0 &&
            avro_str(&source, "topic", &raw_topic) == 0 &&
            avro_value_get_by_name(&source, "partition", &f, NULL) == 0 &&
            avro_value_get_int(&f, &raw_partition) == 0 &&
            avro_value_get_by_name(&source, "offset", &f, NULL) == 0 &&
            avro_value_get_long(&f, &raw_offset) == 0 &&
            avro_value_get_by_name(&source, "index", &f, NULL) == 0 &&
            avro_value_get_int(&f, &raw_index) == 0) {
        } else {
            raw_topic = NULL;
        }
    } else if (value[0] == '{') {
        json = json_loadb((const char *)value, value_len, 0, NULL);
        event_id = json_string_value(json_object_get(json, "event_id"));
        trace_id = json_string_value(json_object_get(json, "trace_id"));
        json_t *source = json_object_get(json, "source");
        if (json_is_object(source) && json_is_string(json_object_get(source, "topic"))) {
            raw_topic = json_string_value(json_object_get(source, "topic"));
            raw_partition = (int32_t)json_integer_value(json_object_get(source, "partition"));
            raw_offset = json_integer_value(json_object_get(source, "offset"));
            raw_index = (int32_t)json_integer_value(json_object_get(source, "index"));
        }
    }
    if (event_id == NULL || event_id[0] == '\0') {
        json_decref(json);
        return BC_OK; /* not an event of the chain: nothing to say about it */
    }
    header_str(rec, "bc.src", src, sizeof(src));
    memcpy(pos_detail, "from ", 5); /* src is shorter than pos_detail - 5 */
    memcpy(pos_detail + 5, src, strlen(src) + 1);
    int rc = BC_OK;
    /* The trace view: spans of the trace topic, whose records (of every kind) are its
     * event time. */
    int on_trace_topic = strcmp(bc_record_topic(rec), st->trace_topic) == 0;
    struct lin_clock *clock = NULL;
    if (on_trace_topic) {
        clock = trace_clock(st, bc_record_partition(rec));
        if (clock != NULL) {
            st->last_wall[clock - st->clocks] = wall_ms();
            expect_source(st, raw_topic);
            clock->expected = st->expected;
            bc_clock_observe(&clock->t, bc_record_timestamp(rec),
                             raw_topic != NULL
                                 ? bc_clock_slot(raw_topic, strlen(raw_topic), raw_partition)
                                 : -1);
        }
    }
    if (on_trace_topic && trace_id != NULL && value[0] == 0x00) {
        size_t span_len = 0, parent_len = 0;
        int kind = -1;
        bc_event_get_enum(&st->te_value, BC_EV_KIND, &kind);
        const char *span = bc_event_get_string(&st->te_value, BC_EV_SPAN_ID, &span_len);
        const char *parent = bc_event_get_string(&st->te_value, BC_EV_PARENT_SPAN_ID, &parent_len);
        if (kind == BC_EVENT_SPAN && span != NULL && span_len == 16) {
            int32_t partition = bc_record_partition(rec);
            const void *old = NULL;
            size_t old_len = 0;
            if (!bc_store_get(st->traces, partition, trace_id, strlen(trace_id), &old, &old_len,
                              NULL)) {
                old = NULL;
                old_len = 0;
            }
            size_t need = (old_len ? old_len : LIN_TRACE_HEADER) + LIN_TRACE_ENTRY;
            if (need > st->set_cap) {
                uint8_t *b = realloc(st->set_buf, need * 2);
                if (b == NULL) {
                    json_decref(json);
                    return BC_FATAL;
                }
                st->set_buf = b;
                st->set_cap = need * 2;
            }
            int64_t ts = bc_record_timestamp(rec);
            int decided = old != NULL && lin_trace_decided_at(old, old_len) >= 0;
            size_t n = lin_trace_add(old, old_len, ts, span,
                                     parent != NULL && parent_len == 16 ? parent : NULL,
                                     st->set_buf, st->set_cap);
            if (n > 0 && bc_store_put(st->traces, partition, trace_id, strlen(trace_id),
                                      st->set_buf, n, lin_trace_first_ts(st->set_buf, n)) != 0) {
                bc_log(BC_LOG_WARN, "trace store full: trace not followed", "trace_id",
                       trace_id, NULL);
            }
            if (n > 0 && decided && parent != NULL && parent_len == 16) {
                /* A span of a decided trace: an orphan now if its parent is not there. */
                char par[17];
                memcpy(par, parent, 16);
                par[16] = '\0';
                if (!lin_trace_has_span(st->set_buf, n, par)) {
                    char sp[17];
                    memcpy(sp, span, 16);
                    sp[16] = '\0';
                    rc = late_orphan(ctx, st, trace_id, sp, par, lin_trace_spans(st->set_buf, n),
                                     clock != NULL ? lin_clock_now(clock, st->max_source_skew_ms)
                                                   : bc_record_timestamp(rec));
                }
            }
        }
    }
    int erc = emit_hop_fact(ctx, st, rec, event_id, trace_id, raw_topic, raw_partition,
                            raw_offset, raw_index, worker, config_hash, bc_record_topic(rec),
                            bc_record_partition(rec), bc_record_offset(rec), NULL,
                            src[0] != '\0' ? pos_detail : NULL);
    json_decref(json);
    if (erc == BC_OK && clock != NULL) {
        /* Orphan decisions: here, in input order, never in tick (lineage.h's clock). */
        erc = orphan_decide(ctx, st, bc_record_partition(rec), clock);
    }
    return erc != BC_OK ? erc : rc;
}

/* Parses "topic:partition:offset[:index]" into its parts (topic into buf). */
static int parse_pos(const char *s, char *topic, size_t cap, int32_t *partition, int64_t *offset)
{
    char stripped[320];
    if (lin_pos_strip_index(s, strlen(s), stripped, sizeof(stripped)) != 0) {
        return -1;
    }
    char *c2 = strrchr(stripped, ':');
    *c2 = '\0';
    char *c1 = strrchr(stripped, ':');
    *c1 = '\0';
    if (strlen(stripped) + 1 > cap) {
        return -1;
    }
    strcpy(topic, stripped);
    *partition = (int32_t)strtol(c1 + 1, NULL, 10);
    *offset = strtoll(c2 + 1, NULL, 10);
    return 0;
}

/* The event_id inside a TrackingEvent value, or NULL (borrowed from st->te_value). */
static const char *event_id_of(struct lb_state *st, const void *value, size_t len)
{
    char errstr[128];
    size_t id_len;
    if (value == NULL || len == 0 || ((const uint8_t *)value)[0] != 0x00 ||
        bc_avro_decode_fields(st->registry, st->te, value, len, &st->te_value,
                              1u << BC_EV_EVENT_ID, errstr, sizeof(errstr)) != 0) {
        return NULL;
    }
    return bc_event_get_string(&st->te_value, BC_EV_EVENT_ID, &id_len);
}

/* What a hop fact takes from a Fate. Strings borrowed (from the decoded value or JSON);
 * NULL when absent. */
struct fate_view {
    const char *event_id, *kind, *reason, *policy;
    int has_related;
    const char *related_topic;
    int64_t related_partition, related_offset;
};

/* A ["null", X] union field of rec: 1 with *branch set when not null, 0 when null or
 * missing. */
static int avro_opt(avro_value_t *rec, const char *field, avro_value_t *branch)
{
    avro_value_t f;
    int d;
    return avro_value_get_by_name(rec, field, &f, NULL) == 0 &&
           avro_value_get_discriminant(&f, &d) == 0 && d != 0 &&
           avro_value_get_current_branch(&f, branch) == 0;
}

static const char *avro_opt_str(avro_value_t *rec, const char *field)
{
    avro_value_t b;
    const char *s;
    size_t len;
    return avro_opt(rec, field, &b) && avro_value_get_string(&b, &s, &len) == 0 ? s : NULL;
}

/* The fields of a decoded Fate: what bc_avro_to_json's object would give (an enum as its
 * symbol, null as absent). */
static void fate_from_avro(avro_value_t *fate, struct fate_view *v)
{
    avro_value_t f, related;
    int kind;
    memset(v, 0, sizeof(*v));
    v->event_id = avro_opt_str(fate, "event_id");
    if (avro_value_get_by_name(fate, "fate", &f, NULL) == 0 &&
        avro_value_get_enum(&f, &kind) == 0) {
        v->kind = avro_schema_enum_get(avro_value_get_schema(&f), kind);
    }
    v->reason = avro_opt_str(fate, "reason");
    v->policy = avro_opt_str(fate, "policy");
    if (avro_opt(fate, "related", &related)) {
        int32_t partition = 0;
        int64_t offset = 0;
        v->has_related = 1;
        avro_str(&related, "topic", &v->related_topic);
        if (avro_value_get_by_name(&related, "partition", &f, NULL) == 0) {
            avro_value_get_int(&f, &partition);
        }
        if (avro_value_get_by_name(&related, "offset", &f, NULL) == 0) {
            avro_value_get_long(&f, &offset);
        }
        v->related_partition = partition;
        v->related_offset = offset;
    }
}

/* The same from a Fate as JSON. */
static void fate_from_json(const json_t *fate, struct fate_view *v)
{
    memset(v, 0, sizeof(*v));
    v->event_id = json_string_value(json_object_get(fate, "event_id"));
    v->kind = json_string_value(json_object_get(fate, "fate"));
    v->reason = json_string_value(json_object_get(fate, "reason"));
    v->policy = json_string_value(json_object_get(fate, "policy"));
    json_t *related = json_object_get(fate, "related");
    if (json_is_object(related)) {
        v->has_related = 1;
        v->related_topic = json_string_value(json_object_get(related, "topic"));
        v->related_partition = json_integer_value(json_object_get(related, "partition"));
        v->related_offset = json_integer_value(json_object_get(related, "offset"));
    }
}

/* A Fate: the worker consumed its source without emitting. */
static int fate_record(struct bc_ctx *ctx, struct lb_state *st, const struct bc_record *rec,
                       const char *worker, const char *config_hash)
{
    size_t value_len;
    const uint8_t *value = bc_record_value(rec, &value_len);
    char errstr[256], detail[512], src[320], topic[256];
    int32_t partition;
    int64_t offset;
    json_t *fate = NULL;
    struct fate_view v;
    if (value == NULL || value_len == 0) {
        return BC_OK;
    }
    if (value[0] == 0x00) {
        if (bc_avro_decode(st->registry, st->fate, value, value_len, &st->fate_value, errstr,
                           sizeof(errstr)) != 0) {
            return bc_dead_letter(ctx, rec, "undecodable", errstr);
        }
        fate_from_avro(&st->fate_value, &v);
    } else {
        fate = json_loadb((const char *)value, value_len, 0, NULL);
        if (!json_is_object(fate)) {
            json_decref(fate);
            return bc_dead_letter(ctx, rec, "undecodable", "not a Fate");
        }
        fate_from_json(fate, &v);
    }
    header_str(rec, "bc.src", src, sizeof(src));
    if (parse_pos(src, topic, sizeof(topic), &partition, &offset) != 0) {
        json_decref(fate);
        return bc_dead_letter(ctx, rec, "missing_field", "Fate without bc.src");
    }
    int n = snprintf(detail, sizeof(detail), "%s", v.reason != NULL ? v.reason : v.kind);
    if (v.policy != NULL && n < (int)sizeof(detail)) {
        n += snprintf(detail + n, sizeof(detail) - (size_t)n, " (%s)", v.policy);
    }
    if (v.has_related && n < (int)sizeof(detail)) {
        snprintf(detail + n, sizeof(detail) - (size_t)n, ", first seen at %s:%" PRId64 ":%" PRId64,
                 v.related_topic, v.related_partition, v.related_offset);
    }
    const char *event_id = v.event_id;
    char key[320];
    if (event_id != NULL && event_id[0] != '\0') {
        snprintf(key, sizeof(key), "%s", event_id);
    } else {
        snprintf(key, sizeof(key), "%s:%" PRId32 ":%" PRId64, topic, partition, offset);
    }
    int positional = event_id == NULL || event_id[0] == '\0';
    int rc = emit_hop_fact(ctx, st, rec, key, NULL, positional ? topic : NULL, partition, offset,
                           0, worker, config_hash, topic, partition, offset,
                           v.kind != NULL ? v.kind : "dropped", detail);
    json_decref(fate);
    return rc;
}

/* A dead letter: the worker could not process its source. */
static int dlq_record(struct bc_ctx *ctx, struct lb_state *st, const struct bc_record *rec,
                      const char *worker, const char *config_hash)
{
    char src[320], topic[256], reason[64], message[256], detail[400], errstr[256];
    int32_t partition;
    int64_t offset;
    header_str(rec, "bc.src", src, sizeof(src));
    header_str(rec, "bc.dlq.reason", reason, sizeof(reason));
    header_str(rec, "bc.dlq.detail", message, sizeof(message));
    if (parse_pos(src, topic, sizeof(topic), &partition, &offset) != 0) {
        return BC_OK; /* not written by the runtime: nothing to say */
    }
    snprintf(detail, sizeof(detail), "%s%s%s", reason, message[0] ? ": " : "", message);
    /* The dead-lettered record's event_id, when it was a TrackingEvent. */
    const char *event_id = NULL;
    size_t value_len;
    const uint8_t *value = bc_record_value(rec, &value_len);
    if (value != NULL && value_len > 0 && value[0] == 0x00 &&
        bc_avro_decode(st->registry, st->dlq, value, value_len, &st->dlq_value, errstr,
                       sizeof(errstr)) == 0) {
        avro_value_t raw;
        const void *bytes;
        size_t len;
        if (avro_value_get_by_name(&st->dlq_value, "raw", &raw, NULL) == 0 &&
            avro_value_get_bytes(&raw, &bytes, &len) == 0) {
            event_id = event_id_of(st, bytes, len);
        }
    } else {
        event_id = event_id_of(st, value, value_len);
    }
    char key[320];
    if (event_id != NULL && event_id[0] != '\0') {
        snprintf(key, sizeof(key), "%s", event_id);
    } else {
        snprintf(key, sizeof(key), "%s:%" PRId32 ":%" PRId64, topic, partition, offset);
    }
    /* Without an event_id the record is known by its position: that is its raw record. */
    int positional = event_id == NULL || event_id[0] == '\0';
    return emit_hop_fact(ctx, st, rec, key, NULL, positional ? topic : NULL, partition, offset, 0,
                         worker, config_hash, topic, partition, offset, "dead_lettered", detail);
}

/* ---- step 2: merging -------------------------------------------------------------------- */

/* A run fact (openlineage.h) on the partition owning its worker instance: the instance's
 * state in store `runs` moves on, and the run events it causes go to openlineage_topic. */
static int merge_run_fact(struct bc_ctx *ctx, struct lb_state *st, const struct bc_record *rec,
                          const void *key, size_t key_len, json_t *fact)
{
    int32_t partition = bc_record_partition(rec);
    const void *old;
    size_t old_len;
    json_t *state = NULL;
    if (bc_store_get(st->runs, partition, key, key_len, &old, &old_len, NULL)) {
        state = json_loadb(old, old_len, 0, NULL);
    }
    if (state == NULL) {
        state = json_object();
    }
    json_array_clear(st->ol_events);
    int changed = ol_apply(&st->ns, st->runs_topic != NULL, state,
                           json_object_get(fact, "run"), st->ol_events);
    int rc = BC_OK;
    if (changed < 0) {
        rc = bc_dead_letter(ctx, rec, "undecodable", "malformed run fact");
    } else if (changed > 0) {
        char *text = json_dumps(state, JSON_COMPACT | JSON_SORT_KEYS);
        if (text == NULL) {
            rc = BC_FATAL;
        } else if (bc_store_put(st->runs, partition, key, key_len, text, strlen(text),
                                bc_record_timestamp(rec)) != 0) {
            rc = bc_dead_letter(ctx, rec, "store_full", "runs store refused the state");
        }
        free(text);
    }
    size_t i;
    json_t *ev;
    json_array_foreach(st->ol_events, i, ev) {
        if (rc != BC_OK) {
            break;
        }
        const char *job = json_string_value(json_object_get(json_object_get(ev, "job"), "name"));
        char *text = json_dumps(ev, JSON_COMPACT);
        if (text == NULL || job == NULL) {
            free(text);
            rc = BC_FATAL;
            break;
        }
        rc = bc_emit_topic(ctx, rec, st->ol_topic, job, strlen(job), text, strlen(text), NULL);
        free(text);
    }
    json_decref(state);
    json_decref(fact);
    return rc;
}

static int merge_hop_fact(struct bc_ctx *ctx, struct lb_state *st, const struct bc_record *rec,
                          const void *key, size_t key_len);

static int merge_fact(struct bc_ctx *ctx, struct lb_state *st, const struct bc_record *rec)
{
    size_t key_len, value_len;
    const void *key = bc_record_key(rec, &key_len);
    const void *value = bc_record_value(rec, &value_len);
    if (key != NULL && value != NULL && value_len > 0 &&
        ((const uint8_t *)value)[0] == LIN_REC_MAGIC) {
        if (lin_rec_decode(&st->fact, value, value_len) != 0 || st->fact.n_hops == 0) {
            return bc_dead_letter(ctx, rec, "undecodable", "malformed lineage hop fact");
        }
        return merge_hop_fact(ctx, st, rec, key, key_len);
    }
    /* JSON: a run fact, or a hop fact of an earlier version. */
    json_t *fact = value != NULL ? json_loadb(value, value_len, 0, NULL) : NULL;
    if (key != NULL && json_is_object(json_object_get(fact, "run"))) {
        if (st->ol_topic == NULL) {
            json_decref(fact);
            return BC_OK; /* OpenLineage was turned off since */
        }
        return merge_run_fact(ctx, st, rec, key, key_len, fact);
    }
    const char *event_id = json_string_value(json_object_get(fact, "event_id"));
    if (key == NULL || event_id == NULL) {
        json_decref(fact);
        return bc_dead_letter(ctx, rec, "undecodable", "not a lineage hop fact");
    }
    int bad = lin_rec_from_json(&st->fact, fact) != 0;
    json_decref(fact);
    if (bad) {
        return bc_dead_letter(ctx, rec, "undecodable", "malformed lineage hop fact");
    }
    return merge_hop_fact(ctx, st, rec, key, key_len);
}

/* Merges st->fact into the stored record of key; writes the record when it changed. */
static int merge_hop_fact(struct bc_ctx *ctx, struct lb_state *st, const struct bc_record *rec,
                          const void *key, size_t key_len)
{
    int32_t partition = bc_record_partition(rec);
    char errstr[256];
    const void *old;
    size_t old_len;
    if (!bc_store_get(st->lineage_store, partition, key, key_len, &old, &old_len, NULL) ||
        lin_rec_decode(&st->record, old, old_len) != 0) {
        if (lin_rec_reset(&st->record, st->fact.event_id) != 0) {
            return BC_FATAL;
        }
    }
    int changed = lin_rec_merge(&st->record, &st->fact);
    if (changed < 0) {
        return BC_FATAL;
    }
    st->merges++;
    if (changed == 0) {
        return BC_OK;
    }
    size_t len;
    if (lin_rec_encode(&st->record, &st->store_buf, &st->store_cap, &len) != 0) {
        return BC_FATAL;
    }
    if (bc_store_put(st->lineage_store, partition, key, key_len, st->store_buf, len,
                     bc_record_timestamp(rec)) != 0) {
        return bc_dead_letter(ctx, rec, "store_full", "lineage store refused the record");
    }
    if (lin_rec_to_avro_bin(&st->record, bc_avro_schema_id(st->lineage), &st->buf, errstr,
                            sizeof(errstr)) != 0) {
        bc_log(BC_LOG_ERROR, "cannot encode LineageRecord", "error", errstr, NULL);
        return BC_FATAL;
    }
    st->records++;
    return bc_emit(ctx, rec, "lineage", key, key_len, st->buf.data, st->buf.len, NULL);
}

/* ---- orphans ---------------------------------------------------------------------------- */

struct sweep {
    struct bc_ctx *ctx;
    struct lb_state *st;
    int64_t cutoff;
    int idle;    /* every undecided trace, none of the decided ones */
    char **keys; /* new: trace_ids to decide */
    size_t count, cap;
};

static int sweep_collect(void *opaque, const void *key, size_t key_len, const void *value,
                         size_t value_len, int64_t ts)
{
    struct sweep *sw = opaque;
    (void)ts;
    if (key_len == strlen(LIN_CLOCK_KEY) && memcmp(key, LIN_CLOCK_KEY, key_len) == 0) {
        return 0;
    }
    int64_t decided = lin_trace_decided_at(value, value_len);
    if (sw->idle ? decided >= 0
                 : decided >= 0 ? decided > sw->cutoff - sw->st->decided_ttl_ms
                                : lin_trace_first_ts(value, value_len) > sw->cutoff) {
        return 0; /* not due / kept for late spans */
    }
    if (sw->count == sw->cap) {
        size_t cap = sw->cap ? sw->cap * 2 : 64;
        char **keys = realloc(sw->keys, cap * sizeof(*keys));
        if (keys == NULL) {
            return 1;
        }
        sw->keys = keys;
        sw->cap = cap;
    }
    sw->keys[sw->count] = strndup(key, key_len);
    if (sw->keys[sw->count] == NULL) {
        return 1;
    }
    sw->count++;
    return 0;
}

struct orphan_ctx {
    struct bc_ctx *ctx;
    const char *trace_id;
    size_t spans;
    int64_t now; /* the clock's time of the decision: the orphan record's timestamp */
    int idle;    /* decided on idle (wall clock): flagged idle_decided */
    int rc;
};

static void on_orphan(void *opaque, const char *span_id, const char *parent_span_id)
{
    struct orphan_ctx *oc = opaque;
    char value[256];
    int n = snprintf(value, sizeof(value),
                     "{\"trace_id\":\"%s\",\"span_id\":\"%s\",\"parent_span_id\":\"%s\","
                     "\"spans\":%zu%s}",
                     oc->trace_id, span_id, parent_span_id, oc->spans,
                     oc->idle ? ",\"flags\":[\"idle_decided\"]" : "");
    if (oc->rc == BC_OK) {
        struct bc_emit_opts opts = {.timestamp = oc->now > 0 ? oc->now : 1};
        oc->rc = bc_emit(oc->ctx, NULL, "orphans", oc->trace_id, strlen(oc->trace_id), value,
                         (size_t)n, &opts);
    }
}

/* A span of a decided trace whose parent is not in it. */
static int late_orphan(struct bc_ctx *ctx, struct lb_state *st, const char *trace_id,
                       const char *span, const char *parent, size_t spans, int64_t now)
{
    struct orphan_ctx oc = {.ctx = ctx, .trace_id = trace_id, .spans = spans, .now = now,
                            .rc = BC_OK};
    if (st->has_orphans) {
        on_orphan(&oc, span, parent);
    }
    st->orphan_spans++;
    st->late_orphans++;
    bc_metric_counter_add(ctx, "breadcrumb_lineage_orphan_spans_total", NULL, 1);
    return oc.rc;
}

/* Decides every trace of partition whose first span is at or before cutoff, in trace_id
 * order (the store's iteration order is no input order). */
static int cmp_key(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int sweep_partition(struct bc_ctx *ctx, struct lb_state *st, int32_t partition,
                           int64_t cutoff, int64_t now, int idle)
{
    struct sweep sw = {.ctx = ctx, .st = st, .cutoff = cutoff, .idle = idle};
    int rc = BC_OK;
    if (bc_store_foreach(st->traces, partition, sweep_collect, &sw) != 0) {
        rc = BC_FATAL;
    }
    if (sw.count > 1) {
        qsort(sw.keys, sw.count, sizeof(*sw.keys), cmp_key);
    }
    for (size_t i = 0; i < sw.count && rc == BC_OK; i++) {
        const void *set;
        size_t len;
        if (bc_store_get(st->traces, partition, sw.keys[i], strlen(sw.keys[i]), &set, &len,
                         NULL) &&
            lin_trace_decided_at(set, len) >= 0) {
            bc_store_delete(st->traces, partition, sw.keys[i], strlen(sw.keys[i]));
        } else if (bc_store_get(st->traces, partition, sw.keys[i], strlen(sw.keys[i]), &set,
                                &len, NULL)) {
            struct orphan_ctx oc = {.ctx = ctx, .trace_id = sw.keys[i],
                                    .spans = lin_trace_spans(set, len), .now = now,
                                    .idle = idle, .rc = BC_OK};
            size_t orphans = lin_trace_orphans(set, len, st->has_orphans ? on_orphan : NULL, &oc);
            rc = oc.rc;
            if (orphans > 0) {
                st->traces_orphaned++;
                st->orphan_spans += orphans;
                bc_metric_counter_add(ctx, "breadcrumb_lineage_orphan_spans_total", NULL, orphans);
            } else {
                st->traces_complete++;
            }
            bc_metric_counter_add(ctx, "breadcrumb_lineage_traces_total",
                                  orphans > 0 ? "outcome=orphaned" : "outcome=complete", 1);
            /* Kept decided for decided_ttl: its late spans and retries find their parents. */
            if (st->decided_ttl_ms > 0 && len > st->set_cap) {
                uint8_t *grown = realloc(st->set_buf, len * 2);
                if (grown != NULL) {
                    st->set_buf = grown;
                    st->set_cap = len * 2;
                }
            }
            if (st->decided_ttl_ms > 0 && len <= st->set_cap) {
                memcpy(st->set_buf, set, len);
                lin_trace_set_decided(st->set_buf, len, idle ? (now > 0 ? now : 0) : cutoff);
                if (bc_store_put(st->traces, partition, sw.keys[i], strlen(sw.keys[i]),
                                 st->set_buf, len, -1) != 0) {
                    bc_store_delete(st->traces, partition, sw.keys[i], strlen(sw.keys[i]));
                }
            } else {
                bc_store_delete(st->traces, partition, sw.keys[i], strlen(sw.keys[i]));
            }
        }
    }
    for (size_t i = 0; i < sw.count; i++) {
        free(sw.keys[i]);
    }
    free(sw.keys);
    if (sw.count > 0) {
        char complete[24], orphaned[24], spans[24];
        snprintf(complete, sizeof(complete), "%" PRIu64, st->traces_complete);
        snprintf(orphaned, sizeof(orphaned), "%" PRIu64, st->traces_orphaned);
        snprintf(spans, sizeof(spans), "%" PRIu64, st->orphan_spans);
        bc_log(BC_LOG_INFO, "traces decided", "complete", complete, "with_orphans", orphaned,
               "orphan_spans", spans, NULL);
    }
    return rc;
}

/* ---- callbacks -------------------------------------------------------------------------- */

/* Sends fact (steals) as a run fact to `repartition`, keyed by its worker instance.
 * own_index: the fact is rec's one output (a run record), else it comes from whichever
 * record first showed a run and takes no bc.src index of rec. */
static int emit_run_fact(struct bc_ctx *ctx, struct lb_state *st, const struct bc_record *rec,
                         json_t *fact, int own_index)
{
    char key[400];
    snprintf(key, sizeof(key), "run:%s/%s",
             json_string_value(json_object_get(fact, "worker")),
             json_string_value(json_object_get(fact, "instance")));
    /* A first sighting depends on where reading started: flagged so that an audit
     * (breadcrumb diff) reports it apart. */
    json_t *wrapped = own_index ? json_pack("{s:o}", "run", fact)
                                : json_pack("{s:o, s:[s]}", "run", fact, "flags", "first_seen");
    if (own_index) {
        return emit_fact(ctx, st, rec, key, wrapped);
    }
    if (wrapped == NULL) {
        return BC_FATAL;
    }
    char *text = json_dumps(wrapped, JSON_COMPACT);
    json_decref(wrapped);
    if (text == NULL) {
        return BC_FATAL;
    }
    /* Derived from the record's position without taking one of its bc.src indices: which
     * record first shows a run depends on where reading started (a restart, a replay), and
     * the hop facts' indices must not. */
    struct bc_source source;
    bc_record_source(rec, &source);
    struct bc_emit_opts opts = {.timestamp = bc_record_timestamp(rec), .source = &source};
    int rc = bc_emit(ctx, NULL, "repartition", key, strlen(key), text, strlen(text), &opts);
    free(text);
    st->facts++;
    return rc;
}

/* A record a worker instance wrote: a `seen` run fact (openlineage.h), sent once per
 * (instance, config, input, output) since the last revocation. */
static int openlineage_observe(struct bc_ctx *ctx, struct lb_state *st,
                               const struct bc_record *rec, const char *worker,
                               const char *config_hash)
{
    char instance[128], src[320], input[320], seen[1200];
    header_str(rec, "bc.instance", instance, sizeof(instance));
    header_str(rec, "bc.src", src, sizeof(src));
    input[0] = '\0';
    const char *colon = strchr(src, ':');
    if (colon != NULL && (size_t)(colon - src) < sizeof(input)) {
        memcpy(input, src, (size_t)(colon - src));
        input[colon - src] = '\0';
    }
    const char *output = bc_record_topic(rec);
    /* worker|instance|config_hash|input|output: each part is bounded (a topic name by
     * Kafka's 249 bytes), the whole fits seen. */
    const char *parts[] = {worker, instance, config_hash, input, output};
    size_t n = 0;
    for (size_t i = 0; i < 5; i++) {
        size_t len = strnlen(parts[i], sizeof(seen) - 1 - n);
        memcpy(seen + n, parts[i], len);
        n += len;
        if (i < 4 && n < sizeof(seen) - 1) {
            seen[n++] = '|';
        }
    }
    seen[n] = '\0';
    if (json_object_get(st->ol_sent, seen) != NULL) {
        return BC_OK;
    }
    if (json_object_size(st->ol_sent) > 100000) {
        json_object_clear(st->ol_sent);
    }
    json_object_set_new(st->ol_sent, seen, json_true());
    json_t *fact = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I}", "kind", "seen", "worker", worker,
                             "instance", instance, "config_hash", config_hash, "output", output,
                             "time", (json_int_t)bc_record_timestamp(rec));
    if (fact != NULL && input[0] != '\0') {
        json_object_set_new(fact, "input", json_string(input));
    }
    return emit_run_fact(ctx, st, rec, fact, 0);
}

/* A run record of <pipeline>.runs (common/bc_runlog.h): a `record` run fact. */
static int run_record(struct bc_ctx *ctx, struct lb_state *st, const struct bc_record *rec)
{
    size_t len;
    const void *value = bc_record_value(rec, &len);
    json_t *fact = value != NULL ? json_loadb(value, len, 0, NULL) : NULL;
    if (!json_is_string(json_object_get(fact, "worker")) ||
        !json_is_string(json_object_get(fact, "instance")) ||
        !json_is_string(json_object_get(fact, "run_id"))) {
        json_decref(fact);
        return bc_dead_letter(ctx, rec, "undecodable", "not a run record");
    }
    json_object_set_new(fact, "kind", json_string("record"));
    return emit_run_fact(ctx, st, rec, fact, 1);
}

static int lb_process(struct bc_ctx *ctx, const struct bc_record *rec)
{
    struct lb_state *st = bc_ctx_state(ctx);
    const char *topic = bc_record_topic(rec);
    char worker[256], config_hash[64];
    if (strcmp(topic, st->repartition) == 0) {
        return merge_fact(ctx, st, rec);
    }
    if (st->runs_topic != NULL && strcmp(topic, st->runs_topic) == 0) {
        return run_record(ctx, st, rec);
    }
    header_str(rec, "bc.worker", worker, sizeof(worker));
    header_str(rec, "bc.config_hash", config_hash, sizeof(config_hash));
    if (worker[0] == '\0') {
        return BC_OK; /* written outside the pipeline (raw input): no hop */
    }
    if (st->ol_topic != NULL) {
        int rc = openlineage_observe(ctx, st, rec, worker, config_hash);
        if (rc != BC_OK) {
            return rc;
        }
    }
    if (strcmp(topic, st->fates_topic) == 0) {
        return fate_record(ctx, st, rec, worker, config_hash);
    }
    const void *v;
    size_t len;
    if (bc_record_header(rec, "bc.dlq.reason", &v, &len) == 0) {
        return dlq_record(ctx, st, rec, worker, config_hash);
    }
    return chain_record(ctx, st, rec, worker, config_hash);
}

/* The idle fallback, the only wall-clock decisions: a trace-topic partition caught up with
 * its input (bc_input_behind() not > 0) and without a trace-topic record for idle_timeout
 * has every undecided trace decided, its orphans flagged idle_decided (`breadcrumb diff`
 * reports them apart: not reproducible). Else the stream's last traces would wait for
 * records that may never come. */
static int lb_tick(struct bc_ctx *ctx, int64_t now_ms)
{
    struct lb_state *st = bc_ctx_state(ctx);
    for (size_t i = 0; st->idle_ms > 0 && i < st->owned_count; i++) {
        if (!st->clock_loaded[i] || st->last_wall[i] < 0) {
            continue;
        }
        if (bc_input_behind(ctx, st->owned[i]) > 0) {
            st->last_wall[i] = now_ms; /* records on their way: not quiet */
            continue;
        }
        if (now_ms - st->last_wall[i] < st->idle_ms) {
            continue;
        }
        st->last_wall[i] = -1; /* once per quiet spell */
        uint64_t before = st->traces_complete + st->traces_orphaned;
        int rc = sweep_partition(ctx, st, st->owned[i], -1,
                                 lin_clock_now(&st->clocks[i], st->max_source_skew_ms), 1);
        if (rc != BC_OK) {
            return rc;
        }
        char part[16], traces[24];
        snprintf(part, sizeof(part), "%" PRId32, st->owned[i]);
        snprintf(traces, sizeof(traces), "%" PRIu64,
                 st->traces_complete + st->traces_orphaned - before);
        bc_log(BC_LOG_INFO, "traces decided on idle", "partition", part, "traces", traces, NULL);
    }
    return BC_OK;
}

static int lb_assigned(struct bc_ctx *ctx, int32_t partition)
{
    struct lb_state *st = bc_ctx_state(ctx);
    for (size_t i = 0; i < st->owned_count; i++) {
        if (st->owned[i] == partition) {
            return BC_OK;
        }
    }
    int32_t *owned = realloc(st->owned, (st->owned_count + 1) * sizeof(*owned));
    if (owned == NULL) {
        return BC_FATAL;
    }
    st->owned = owned;
    struct lin_clock *clocks = realloc(st->clocks, (st->owned_count + 1) * sizeof(*clocks));
    if (clocks == NULL) {
        return BC_FATAL;
    }
    st->clocks = clocks;
    clocks = realloc(st->clocks_saved, (st->owned_count + 1) * sizeof(*clocks));
    if (clocks == NULL) {
        return BC_FATAL;
    }
    st->clocks_saved = clocks;
    int *loaded = realloc(st->clock_loaded, (st->owned_count + 1) * sizeof(*loaded));
    if (loaded == NULL) {
        return BC_FATAL;
    }
    st->clock_loaded = loaded;
    int64_t *walls = realloc(st->last_wall, (st->owned_count + 1) * sizeof(*walls));
    if (walls == NULL) {
        return BC_FATAL;
    }
    st->last_wall = walls;
    st->last_wall[st->owned_count] = -1;
    st->clock_loaded[st->owned_count] = 0; /* the store is restored: loaded at first use */
    owned[st->owned_count++] = partition;
    return BC_OK;
}

static int lb_revoked(struct bc_ctx *ctx, int32_t partition)
{
    struct lb_state *st = bc_ctx_state(ctx);
    for (size_t i = 0; i < st->owned_count; i++) {
        if (st->owned[i] == partition) {
            st->owned_count--;
            st->owned[i] = st->owned[st->owned_count];
            st->clocks[i] = st->clocks[st->owned_count];
            st->clocks_saved[i] = st->clocks_saved[st->owned_count];
            st->last_wall[i] = st->last_wall[st->owned_count];
            st->clock_loaded[i] = st->clock_loaded[st->owned_count];
            break;
        }
    }
    /* Run facts sent in an aborted transaction are lost: send them again. */
    if (st->ol_sent != NULL) {
        json_object_clear(st->ol_sent);
    }
    return BC_OK;
}

static void lb_fini(struct bc_ctx *ctx)
{
    struct lb_state *st = bc_ctx_state(ctx);
    if (st == NULL) {
        return;
    }
    char facts[24], records[24], orphaned[24], spans[24], late[24];
    snprintf(facts, sizeof(facts), "%" PRIu64, st->facts);
    snprintf(records, sizeof(records), "%" PRIu64, st->records);
    snprintf(orphaned, sizeof(orphaned), "%" PRIu64, st->traces_orphaned);
    snprintf(spans, sizeof(spans), "%" PRIu64, st->orphan_spans);
    snprintf(late, sizeof(late), "%" PRIu64, st->late_orphans);
    bc_log(BC_LOG_INFO, "lineage-builder stopped", "facts", facts, "records", records,
           "traces_with_orphans", orphaned, "orphan_spans", spans, "late_orphan_spans", late,
           NULL);
    if (st->values_ready) {
        avro_value_decref(&st->te_value);
        avro_value_decref(&st->fate_value);
        avro_value_decref(&st->dlq_value);
        avro_value_decref(&st->lineage_value);
    }
    bc_avro_buf_free(&st->buf);
    free(st->repartition);
    free(st->trace_topic);
    free(st->fates_topic);
    free(st->ol_topic);
    free(st->runs_topic);
    free(st->job_ns);
    free(st->dataset_ns);
    json_decref(st->ol_events);
    json_decref(st->ol_sent);
    free(st->owned);
    free(st->clocks);
    free(st->clocks_saved);
    free(st->last_wall);
    free(st->clock_loaded);
    for (size_t i = 0; i < st->n_source_topics; i++) {
        free(st->source_topics[i]);
    }
    free(st->set_buf);
    lin_rec_free(&st->fact);
    lin_rec_free(&st->record);
    free(st->store_buf);
    free(st->fact_buf);
    free(st);
    bc_ctx_set_state(ctx, NULL);
}

static int lb_init(struct bc_ctx *ctx)
{
    struct lb_state *st = calloc(1, sizeof(*st));
    if (st == NULL) {
        return BC_FATAL;
    }
    bc_ctx_set_state(ctx, st);
    const struct bc_values *opts = bc_ctx_options(ctx);
    st->registry = bc_ctx_registry(ctx);
    if (st->registry == NULL ||
        (st->te = bc_avro_registry_lookup(st->registry, "TrackingEvent")) == NULL ||
        (st->fate = bc_avro_registry_lookup(st->registry, "Fate")) == NULL ||
        (st->dlq = bc_avro_registry_lookup(st->registry, "DeadLetter")) == NULL ||
        (st->lineage = bc_avro_registry_lookup(st->registry, "LineageRecord")) == NULL) {
        bc_log(BC_LOG_ERROR,
               "the lineage-builder needs the schema registry (schemas.dir or --schemas) with "
               "TrackingEvent, Fate, DeadLetter and LineageRecord",
               NULL);
        return BC_FATAL;
    }
    char errstr[256];
    if (bc_event_check(st->te, errstr, sizeof(errstr)) != 0) {
        bc_log(BC_LOG_ERROR, "TrackingEvent schema unusable", "error", errstr, NULL);
        return BC_FATAL;
    }
    if (bc_avro_value_new(st->te, &st->te_value) != 0) {
        return BC_FATAL;
    }
    if (bc_avro_value_new(st->fate, &st->fate_value) != 0) {
        avro_value_decref(&st->te_value);
        return BC_FATAL;
    }
    if (bc_avro_value_new(st->dlq, &st->dlq_value) != 0) {
        avro_value_decref(&st->te_value);
        avro_value_decref(&st->fate_value);
        return BC_FATAL;
    }
    if (bc_avro_value_new(st->lineage, &st->lineage_value) != 0) {
        avro_value_decref(&st->te_value);
        avro_value_decref(&st->fate_value);
        avro_value_decref(&st->dlq_value);
        return BC_FATAL;
    }
    st->values_ready = 1;
    const struct bc_config *cfg = bc_ctx_config(ctx);
    const struct bc_worker *w = cfg != NULL ? bc_config_worker(cfg, bc_ctx_worker(ctx)) : NULL;
    const char *repart = bc_ctx_output_topic(ctx, "repartition"); /* audit replay: its copy */
    const char *trace = bc_values_str(opts, "trace_topic");
    st->has_orphans = w != NULL && bc_worker_output(w, "orphans") != NULL;
    if (repart == NULL) {
        bc_log(BC_LOG_ERROR,
               "the lineage-builder needs output repartition (e.g. <pipeline>.lineage.repartition) "
               "listed in input too",
               NULL);
        return BC_FATAL;
    }
    if (asprintf(&st->repartition, "%s", repart) < 0 ||
        (trace != NULL && trace[0] != '\0'
             ? asprintf(&st->trace_topic, "%s", trace)
             : asprintf(&st->trace_topic, "%s.normalized", bc_ctx_pipeline(ctx))) < 0 ||
        asprintf(&st->fates_topic, "%s.fates", bc_ctx_pipeline(ctx)) < 0) {
        return BC_FATAL;
    }
    st->orphan_window_ms = bc_values_int(opts, "orphan_window");
    st->max_source_skew_ms = bc_values_int(opts, "max_source_skew");
    st->decided_ttl_ms = bc_values_int(opts, "decided_ttl");
    st->idle_ms = bc_values_int(opts, "idle_timeout");
    st->cfg = cfg;
    /* Metrics at 0 from the first scrape (README "Metrics, health and logs"). */
    bc_metric_counter(ctx, "breadcrumb_lineage_orphan_spans_total", NULL, NULL);
    bc_metric_counter(ctx, "breadcrumb_lineage_traces_total", NULL, "outcome=complete");
    bc_metric_counter(ctx, "breadcrumb_lineage_traces_total", NULL, "outcome=orphaned");
    const char *ol_topic = bc_values_str(opts, "openlineage_topic");
    if (ol_topic != NULL && ol_topic[0] != '\0') {
        /* Datasets in namespace kafka://<bootstrap>: the address `breadcrumb run` and the
         * tests give in BREADCRUMB_BROKERS, else the topology's kafka.brokers. */
        const char *brokers = getenv("BREADCRUMB_BROKERS");
        if (brokers == NULL || brokers[0] == '\0') {
            brokers = cfg != NULL && cfg->kafka.brokers != NULL ? cfg->kafka.brokers : "unknown";
        }
        st->ol_topic = strdup(ol_topic);
        st->job_ns = strdup(bc_values_str(opts, "namespace"));
        st->ol_events = json_array();
        st->ol_sent = json_object();
        if (st->ol_topic == NULL || st->job_ns == NULL || st->ol_events == NULL ||
            st->ol_sent == NULL || asprintf(&st->dataset_ns, "kafka://%s", brokers) < 0) {
            return BC_FATAL;
        }
        st->ns.jobs = st->job_ns;
        st->ns.datasets = st->dataset_ns;
        /* Runs from the workers' run records when <pipeline>.runs is an input. */
        char runs[256];
        snprintf(runs, sizeof(runs), "%s.runs", bc_ctx_pipeline(ctx));
        for (size_t i = 0; w != NULL && i < w->n_inputs; i++) {
            if (strcmp(w->inputs[i], runs) == 0 && (st->runs_topic = strdup(runs)) == NULL) {
                return BC_FATAL;
            }
        }
    }
    struct bc_store_opts lineage_opts = {.max_bytes = (size_t)bc_values_int(opts, "max_bytes")};
    st->lineage_store = bc_store_open(ctx, "lineage", &lineage_opts);
    struct bc_store_opts trace_opts = {.ttl_ms = 0, .full_policy = BC_STORE_REJECT};
    st->traces = bc_store_open(ctx, "traces", &trace_opts);
    st->runs = bc_store_open(ctx, "runs", &trace_opts);
    if (st->lineage_store == NULL || st->traces == NULL || st->runs == NULL) {
        return BC_FATAL;
    }
    bc_log(BC_LOG_INFO, "lineage-builder ready", "repartition", st->repartition, "trace_topic",
           st->trace_topic, NULL);
    return BC_OK;
}

const struct bc_stage lineage_builder_stage = {
    .name = "lineage-builder",
    .type = &bc_lineage_builder_type,
    .init = lb_init,
    .process = lb_process,
    .tick = lb_tick,
    .assigned = lb_assigned,
    .revoked = lb_revoked,
    .fini = lb_fini,
};
