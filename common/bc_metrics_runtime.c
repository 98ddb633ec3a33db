/*
 * The runtime's metrics (bc_metrics_runtime.h).
 */
#include "bc_metrics_runtime.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bc_http.h"
#include "bc_log.h"
#include "bc_store.h"

#define TOPIC_CACHE 32
#define STORE_CACHE 16

struct bc_rt_metrics {
    struct bc_metrics *m; /* new */
    struct bc_http *http; /* new, or NULL */
    struct bc_metric *in, *processed, *dropped, *retries, *commits, *aborts, *rewinds,
        *rebalances, *restored, *assigned, *ready, *commit_latency, *processing_latency,
        *restore_seconds;
    struct {
        const char *topic; /* borrowed (the caller's stable pointer) */
        struct bc_metric *out;
    } topics[TOPIC_CACHE];
    size_t topic_count;
    struct {
        const struct bc_store *store; /* borrowed */
        struct bc_metric *entries, *bytes, *evicted;
    } stores[STORE_CACHE]; /* series of the stores, created at their first publish */
    size_t store_count;
    struct lag {
        struct bc_metric *series;
        uint64_t seen; /* the statistics update that last saw the partition assigned */
    } *lags;           /* new: every lag series created */
    size_t lag_count, lag_cap;
    uint64_t stats_gen;
};

static struct bc_metric *counter(struct bc_rt_metrics *rm, const char *name, const char *help)
{
    return bc_metrics_get(rm->m, BC_METRIC_COUNTER, name, help, NULL);
}

struct bc_rt_metrics *bc_rt_metrics_new(const struct bc_runtime_settings *settings)
{
    struct bc_rt_metrics *rm = calloc(1, sizeof(*rm));
    if (rm == NULL) {
        return NULL;
    }
    rm->m = bc_metrics_new(settings->worker != NULL ? settings->worker : "",
                           settings->instance != NULL ? settings->instance : "");
    if (rm->m == NULL) {
        free(rm);
        return NULL;
    }
    rm->in = counter(rm, "breadcrumb_records_in_total",
                     "Input records whose processing was committed.");
    rm->processed = counter(rm, "breadcrumb_records_processed_total",
                            "Input records processed, re-deliveries after an abort included.");
    rm->dropped = counter(rm, "breadcrumb_records_dropped_total",
                          "Input records dropped on purpose (a Fate was written).");
    rm->retries = counter(rm, "breadcrumb_retries_total", "Stage outcomes BC_RETRY.");
    rm->commits = counter(rm, "breadcrumb_transactions_committed_total",
                          "Kafka transactions committed.");
    rm->aborts = counter(rm, "breadcrumb_transactions_aborted_total",
                         "Kafka transactions aborted.");
    rm->rewinds = counter(rm, "breadcrumb_rewinds_total",
                          "Abort-and-rewind cycles (state restored, inputs re-read).");
    rm->rebalances = counter(rm, "breadcrumb_rebalances_total",
                             "Partition assignments received from the consumer group.");
    rm->restored = counter(rm, "breadcrumb_store_restored_records_total",
                           "Changelog records applied while restoring state stores.");
    rm->restore_seconds = bc_metrics_get(rm->m, BC_METRIC_GAUGE,
                                         "breadcrumb_store_restore_seconds",
                                         "Duration of the last state store restore.", NULL);
    rm->assigned = bc_metrics_get(rm->m, BC_METRIC_GAUGE, "breadcrumb_assigned_partitions",
                                  "Input partitions assigned to this instance.", NULL);
    rm->ready = bc_metrics_get(rm->m, BC_METRIC_GAUGE, "breadcrumb_ready",
                               "1 when stores are restored and the producer is "
                               "transaction-ready (/readyz is 200).",
                               NULL);
    rm->commit_latency = bc_metrics_get(rm->m, BC_METRIC_HISTOGRAM,
                                        "breadcrumb_commit_latency_seconds",
                                        "Time to commit a transaction (offsets and commit).",
                                        NULL);
    rm->processing_latency = bc_metrics_get(
        rm->m, BC_METRIC_HISTOGRAM, "breadcrumb_processing_latency_seconds",
        "Wall clock at output minus the source record's timestamp.", NULL);
    /* Series created now so a scrape before the first record shows them at 0. */
    bc_metrics_get(rm->m, BC_METRIC_COUNTER, "breadcrumb_records_dead_lettered_total",
                   "Records sent to the dead-letter topic, by reason code.",
                   "reason=max_attempts");
    return rm;
}

void bc_rt_metrics_destroy(struct bc_rt_metrics *rm)
{
    if (rm == NULL) {
        return;
    }
    bc_http_stop(rm->http); /* first: the server thread reads the registry */
    bc_metrics_destroy(rm->m);
    free(rm->lags);
    free(rm);
}

struct bc_metrics *bc_rt_metrics_registry(struct bc_rt_metrics *rm)
{
    return rm != NULL ? rm->m : NULL;
}

/* The workers' own counters (README "Metrics, health and logs"), one HELP text each. */
static const char *const worker_help[][2] = {
    {"breadcrumb_normalizer_item_dead_letters_total",
     "Items of a batch (spans, logs) dead-lettered one by one, by reason code."},
    {"breadcrumb_dedup_duplicates_total", "Duplicates dropped (a Fate was written)."},
    {"breadcrumb_sampler_traces_total", "Traces decided, by policy and decision (keep, drop)."},
    {"breadcrumb_sampler_decided_early_total",
     "Traces decided before their decision window closed."},
    {"breadcrumb_sampler_idle_decided_total",
     "Traces decided on an idle partition (wall clock)."},
    {"breadcrumb_sampler_late_errors_dropped_total",
     "Error spans that arrived after their trace was dropped, by how it was decided."},
    {"breadcrumb_sampler_buffered_bytes_peak",
     "Peak of the bytes buffered since the start."},
    {"breadcrumb_enricher_redactions_total", "PII redactions, by rule."},
    {"breadcrumb_router_routes_total",
     "Input records by routing decision: the rule (route or drop), or (none) for unmatched "
     "and undecodable records."},
    {"breadcrumb_router_copies_total", "Copies written, by sink topic."},
    {"breadcrumb_lineage_orphan_spans_total", "Spans whose parent never arrived."},
    {"breadcrumb_lineage_traces_total",
     "Traces decided by the orphan sweep, by outcome (complete, orphaned)."},
};

const char *bc_rt_metrics_help(const char *name)
{
    for (size_t i = 0; i < sizeof(worker_help) / sizeof(worker_help[0]); i++) {
        if (strcmp(worker_help[i][0], name) == 0) {
            return worker_help[i][1];
        }
    }
    return "A worker's own counter (README: Metrics).";
}

int bc_rt_metrics_port(const struct bc_runtime_settings *settings)
{
    int base = 0;
    const char *env = getenv("BREADCRUMB_METRICS_PORT");
    if (env != NULL && *env != '\0') {
        base = atoi(env);
    } else if (settings->worker_config != NULL) {
        base = settings->worker_config->metrics_port;
    }
    if (base <= 0) {
        return 0;
    }
    const char *inst = settings->instance != NULL ? settings->instance : "";
    char *end = NULL;
    long n = strtol(inst, &end, 10);
    if (*inst != '\0' && *end == '\0' && n >= 0 && n < 1000) {
        base += (int)n;
    }
    return base <= 65535 ? base : 0;
}

int bc_rt_metrics_serve(struct bc_rt_metrics *rm, const struct bc_runtime_settings *settings)
{
    int port = bc_rt_metrics_port(settings);
    if (rm == NULL || port == 0 || rm->http != NULL) {
        return 0;
    }
    char errstr[128];
    rm->http = bc_http_start(rm->m, port, 0, errstr, sizeof(errstr));
    if (rm->http == NULL) {
        bc_log(BC_LOG_ERROR, "cannot serve metrics", "error", errstr, NULL);
        return -1;
    }
    char p[16];
    snprintf(p, sizeof(p), "%d", port);
    bc_log(BC_LOG_INFO, "serving metrics", "port", p, NULL);
    return 0;
}

void bc_rt_metrics_publish(struct bc_rt_metrics *rm, const struct bc_runtime *rt,
                           int64_t now_mono_ms)
{
    if (rm == NULL) {
        return;
    }
    struct bc_runtime_stats st;
    bc_runtime_stats(rt, &st);
    bc_metric_set(rm->in, (double)st.committed);
    bc_metric_set(rm->processed, (double)st.processed);
    bc_metric_set(rm->dropped, (double)st.fates);
    bc_metric_set(rm->retries, (double)st.retries);
    bc_metric_set(rm->commits, (double)st.commits);
    bc_metric_set(rm->aborts, (double)st.aborts);
    bc_metric_set(rm->rewinds, (double)st.rewinds);
    bc_metric_set(rm->rebalances, (double)st.rebalances);
    bc_metric_set(rm->restored, (double)st.restored);
    bc_metric_set(rm->assigned, st.assigned_partitions);
    int ready = bc_runtime_ready(rt);
    bc_metric_set(rm->ready, ready);
    bc_metrics_set_ready(rm->m, ready);
    bc_metrics_heartbeat(rm->m, now_mono_ms);
    size_t n = bc_runtime_store_count(rt);
    for (size_t i = 0; i < n && i < STORE_CACHE; i++) {
        const struct bc_store *store = bc_runtime_store(rt, i);
        if (i >= rm->store_count || rm->stores[i].store != store) {
            /* Once per store, not per loop turn: this runs after every record. */
            char labels[160];
            snprintf(labels, sizeof(labels), "store=%s", bc_store_name(store));
            rm->stores[i].store = store;
            rm->stores[i].entries = bc_metrics_get(rm->m, BC_METRIC_GAUGE,
                                                   "breadcrumb_store_entries",
                                                   "Entries in a state store.", labels);
            rm->stores[i].bytes = bc_metrics_get(
                rm->m, BC_METRIC_GAUGE, "breadcrumb_store_bytes",
                "Bytes (keys, values, overhead) in a state store.", labels);
            rm->stores[i].evicted = bc_metrics_get(rm->m, BC_METRIC_COUNTER,
                                                   "breadcrumb_store_evicted_total",
                                                   "Entries evicted from a full state store.",
                                                   labels);
            if (i >= rm->store_count) {
                rm->store_count = i + 1;
            }
        }
        struct bc_store_stats ss;
        bc_store_stats(store, &ss);
        bc_metric_set(rm->stores[i].entries, (double)ss.entries);
        bc_metric_set(rm->stores[i].bytes, (double)ss.bytes);
        bc_metric_set(rm->stores[i].evicted, (double)ss.evicted);
    }
}

void bc_rt_metrics_restoring(struct bc_rt_metrics *rm)
{
    if (rm != NULL) {
        bc_metrics_set_ready(rm->m, 0);
        bc_metric_set(rm->ready, 0);
    }
}

void bc_rt_metrics_restored(struct bc_rt_metrics *rm, double seconds)
{
    if (rm == NULL) {
        return;
    }
    bc_metric_set(rm->restore_seconds, seconds);
}

void bc_rt_metrics_committed(struct bc_rt_metrics *rm, double seconds)
{
    if (rm != NULL) {
        bc_metric_observe(rm->commit_latency, seconds);
    }
}

void bc_rt_metrics_emitted(struct bc_rt_metrics *rm, const char *topic, double latency_s)
{
    if (rm == NULL) {
        return;
    }
    struct bc_metric *out = NULL;
    for (size_t i = 0; i < rm->topic_count; i++) {
        if (rm->topics[i].topic == topic) {
            out = rm->topics[i].out;
            break;
        }
    }
    if (out == NULL) {
        char labels[300];
        snprintf(labels, sizeof(labels), "topic=%s", topic);
        out = bc_metrics_get(rm->m, BC_METRIC_COUNTER, "breadcrumb_records_out_total",
                             "Records written to an output topic (aborted writes included).",
                             labels);
        if (out != NULL && rm->topic_count < TOPIC_CACHE) {
            rm->topics[rm->topic_count].topic = topic;
            rm->topics[rm->topic_count].out = out;
            rm->topic_count++;
        }
    }
    bc_metric_add(out, 1);
    if (latency_s >= 0) {
        bc_metric_observe(rm->processing_latency, latency_s);
    }
}

void bc_rt_metrics_dead_letter(struct bc_rt_metrics *rm, const char *reason)
{
    if (rm == NULL) {
        return;
    }
    char labels[96];
    snprintf(labels, sizeof(labels), "reason=%s", reason);
    bc_metric_add(bc_metrics_get(rm->m, BC_METRIC_COUNTER,
                                 "breadcrumb_records_dead_lettered_total",
                                 "Records sent to the dead-letter topic, by reason code.",
                                 labels),
                  1);
}

static int64_t json_int(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    return json_is_integer(v) ? (int64_t)json_integer_value(v) : -1;
}

/* Marks lag series s as seen in the current statistics update (tracked on first sight). */
static void lag_seen(struct bc_rt_metrics *rm, struct bc_metric *s)
{
    if (s == NULL) {
        return;
    }
    for (size_t i = 0; i < rm->lag_count; i++) {
        if (rm->lags[i].series == s) {
            rm->lags[i].seen = rm->stats_gen;
            return;
        }
    }
    if (rm->lag_count == rm->lag_cap) {
        size_t cap = rm->lag_cap ? rm->lag_cap * 2 : 16;
        struct lag *lags = realloc(rm->lags, cap * sizeof(*lags));
        if (lags == NULL) {
            return; /* untracked: never hidden */
        }
        rm->lags = lags;
        rm->lag_cap = cap;
    }
    rm->lags[rm->lag_count].series = s;
    rm->lags[rm->lag_count].seen = rm->stats_gen;
    rm->lag_count++;
}

void bc_rt_metrics_kafka_stats(struct bc_rt_metrics *rm, struct bc_runtime *rt,
                               const char *json, size_t len)
{
    if (rm == NULL) {
        return;
    }
    rm->stats_gen++;
    json_t *root = json_loadb(json, len, 0, NULL);
    json_t *topics = json_object_get(root, "topics");
    const char *topic;
    json_t *tobj;
    json_object_foreach(topics, topic, tobj)
    {
        const char *pname;
        json_t *pobj;
        json_object_foreach(json_object_get(tobj, "partitions"), pname, pobj)
        {
            int64_t partition = json_int(pobj, "partition");
            if (partition < 0) {
                continue;
            }
            /* Not assigned to this instance (never, or no longer after a rebalance: librdkafka
             * keeps a revoked partition in its statistics, not desired, fetcher stopped). */
            const char *state = json_string_value(json_object_get(pobj, "fetch_state"));
            json_t *desired = json_object_get(pobj, "desired");
            if (state == NULL || strcmp(state, "none") == 0 || strcmp(state, "stopping") == 0 ||
                strcmp(state, "stopped") == 0 ||
                (json_is_boolean(desired) && !json_is_true(desired))) {
                continue;
            }
            int64_t hi = json_int(pobj, "hi_offset"), next = json_int(pobj, "next_offset");
            bc_runtime_note_behind(rt, topic, (int32_t)partition,
                                   hi >= 0 && next >= 0 ? (hi > next ? hi - next : 0) : -1);
            int64_t committed = bc_runtime_committed(rt, topic, (int32_t)partition);
            /* End: the last stable offset for read_committed, else the high watermark.
             * Position: what this instance committed, or consumed past (control records
             * after the last committed record count as consumed). */
            int64_t end = json_int(pobj, "ls_offset");
            if (end < 0) {
                end = json_int(pobj, "hi_offset");
            }
            int64_t pos = json_int(pobj, "app_offset");
            if (committed > pos) {
                pos = committed;
            }
            if (pos < 0) {
                pos = json_int(pobj, "lo_offset");
            }
            if (end < 0 || pos < 0) {
                continue;
            }
            char labels[300];
            snprintf(labels, sizeof(labels), "topic=%s,partition=%d", topic, (int)partition);
            struct bc_metric *s = bc_metrics_get(rm->m, BC_METRIC_GAUGE,
                                                 "breadcrumb_consumer_lag_records",
                                                 "Records from this instance's position to the "
                                                 "end of an assigned input partition.",
                                                 labels);
            bc_metric_set(s, end > pos ? (double)(end - pos) : 0.0);
            lag_seen(rm, s);
        }
    }
    json_decref(root);
    /* A partition no longer assigned (rebalance): its lag is another instance's now. */
    for (size_t i = 0; i < rm->lag_count; i++) {
        bc_metric_hide(rm->lags[i].series, rm->lags[i].seen != rm->stats_gen);
    }
}
