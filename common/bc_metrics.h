/*
 * The metrics registry: counters, gauges and fixed-bucket histograms rendered in the
 * Prometheus text exposition format (version 0.0.4), plus the liveness and readiness
 * flags that bc_http serves on /healthz and /readyz.
 *
 *   struct bc_metrics *m = bc_metrics_new("normalizer", "0");
 *   struct bc_metric *in = bc_metrics_get(m, BC_METRIC_COUNTER, "breadcrumb_records_in_total",
 *                                         "Input records committed.", NULL);
 *   bc_metric_add(in, 1);                        // hot path: one relaxed atomic add
 *   bc_metrics_render(m, &text, &len);           // any thread, e.g. the HTTP server's
 *
 * Threads. One writer thread (the runtime's) creates series and updates values; any number
 * of readers render concurrently. Values are atomics; series are appended to fixed-size
 * arrays published with release/acquire, so readers never lock and never see a half-built
 * series. Every series carries the labels worker="<worker>",instance="<instance>" first,
 * then its own labels, given as "name=value,name=value" (bounded sets: reason codes, rule
 * names, topics, partitions, never per-record values).
 */
#ifndef BC_METRICS_H
#define BC_METRICS_H

#include <stddef.h>
#include <stdint.h>

enum bc_metric_type { BC_METRIC_COUNTER = 0, BC_METRIC_GAUGE = 1, BC_METRIC_HISTOGRAM = 2 };

/* Histogram bucket upper bounds (seconds), the same for every histogram; +Inf is implicit. */
#define BC_METRICS_BUCKETS                                                                   \
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0
#define BC_METRICS_BUCKET_COUNT 15

/* Bounds of one registry; a series beyond them is refused (bc_metrics_get returns NULL). */
#define BC_METRICS_MAX_FAMILIES 128
#define BC_METRICS_MAX_SERIES 1024

struct bc_metrics;
struct bc_metric;

/* Creates a registry whose series all carry worker and instance labels (both copied).
 * Returns the new registry, or NULL when out of memory. */
struct bc_metrics *bc_metrics_new(const char *worker, const char *instance);
/* Frees the registry and its series. NULL is a no-op. No reader may be rendering. */
void bc_metrics_destroy(struct bc_metrics *m);

/* Finds or creates the series `name` with `labels` ("k=v,k2=v2", or NULL/"" for none).
 * The first call for a name fixes its type and help (borrowed, copied); a later call with
 * another type returns NULL. Returns the series (borrowed, valid until
 * bc_metrics_destroy), or NULL for an invalid name or label, a type clash or a full
 * registry. Writer thread only. m may be NULL (returns NULL). */
struct bc_metric *bc_metrics_get(struct bc_metrics *m, enum bc_metric_type type,
                                 const char *name, const char *help, const char *labels);

/* Counter: adds n. Gauge: adds n too. NULL is a no-op. */
void bc_metric_add(struct bc_metric *s, uint64_t n);
/* Sets a counter (to mirror a count kept elsewhere: must never decrease) or a gauge. */
void bc_metric_set(struct bc_metric *s, double value);
/* Histogram: records one observation. NULL is a no-op. */
void bc_metric_observe(struct bc_metric *s, double value);
/* Hides the series from bc_metrics_render (hidden != 0) or shows it again, keeping its
 * value: for a series that stops being meaningful, e.g. the lag of a partition this
 * instance no longer owns. Series are never removed. NULL is a no-op. */
void bc_metric_hide(struct bc_metric *s, int hidden);

/* Renders every family (HELP, TYPE, then its series in creation order) as the Prometheus
 * text format into *out (new, free()), *len bytes without the terminating NUL. Families
 * appear in creation order. Returns 0, or -1 when out of memory. */
int bc_metrics_render(struct bc_metrics *m, char **out, size_t *len);

/* Readiness (/readyz): 0 until set. Liveness (/healthz): the writer calls
 * bc_metrics_heartbeat(m, now_ms) on every loop turn; bc_metrics_alive() is 1 when the last
 * beat is at most max_age_ms older than now_ms (monotonic ms). Any thread. */
void bc_metrics_set_ready(struct bc_metrics *m, int ready);
int bc_metrics_ready(const struct bc_metrics *m);
void bc_metrics_heartbeat(struct bc_metrics *m, int64_t now_ms);
int bc_metrics_alive(const struct bc_metrics *m, int64_t now_ms, int64_t max_age_ms);

#endif
