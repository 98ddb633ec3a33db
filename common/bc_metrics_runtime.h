/*
 * The runtime's metrics (README "Metrics, health and logs"): the bc_metrics series the
 * runtime updates, its HTTP server, and the librdkafka statistics it turns into consumer
 * lag. Called by common/bc_runtime.c only, on the runtime's thread; every function accepts
 * a NULL `struct bc_rt_metrics *` (metrics unavailable) and then does nothing.
 */
#ifndef BC_METRICS_RUNTIME_H
#define BC_METRICS_RUNTIME_H

#include <stddef.h>
#include <stdint.h>

#include "bc_metrics.h"
#include "bc_runtime.h"

struct bc_rt_metrics;

/* Creates the registry (labels worker = settings->worker, instance = settings->instance)
 * and the runtime's series. Returns new, or NULL when out of memory. */
struct bc_rt_metrics *bc_rt_metrics_new(const struct bc_runtime_settings *settings);
void bc_rt_metrics_destroy(struct bc_rt_metrics *rm);
/* The registry (borrowed), for bc_metric_counter_add. */
struct bc_metrics *bc_rt_metrics_registry(struct bc_rt_metrics *rm);

/* The HELP text README documents for a worker's own counter `name` (a static string), or
 * a generic one for a name it does not know. */
const char *bc_rt_metrics_help(const char *name);

/* The HTTP port of this instance: the topology's metrics_port + the instance number (when
 * the instance id is a decimal number, else + 0); $BREADCRUMB_METRICS_PORT (same rule)
 * overrides; 0: none. */
int bc_rt_metrics_port(const struct bc_runtime_settings *settings);
/* Starts /metrics, /healthz, /readyz when a port is configured. Returns 0 (also when none
 * is), or -1 (logged) when the port cannot be bound. */
int bc_rt_metrics_serve(struct bc_rt_metrics *rm, const struct bc_runtime_settings *settings);

/* Once per loop turn: heartbeat, readiness and the runtime's counters and store gauges. */
void bc_rt_metrics_publish(struct bc_rt_metrics *rm, const struct bc_runtime *rt,
                           int64_t now_mono_ms);
/* Store restore starting (not ready) / finished after `seconds`. */
void bc_rt_metrics_restoring(struct bc_rt_metrics *rm);
void bc_rt_metrics_restored(struct bc_rt_metrics *rm, double seconds);
/* A transaction committed after `seconds` in commit (offsets + commit). */
void bc_rt_metrics_committed(struct bc_rt_metrics *rm, double seconds);
/* One record written to topic (borrowed; compared by pointer first: pass a stable
 * pointer), `latency_s` after its source record's timestamp (< 0: unknown). */
void bc_rt_metrics_emitted(struct bc_rt_metrics *rm, const char *topic, double latency_s);
/* One dead letter with reason code `reason`. */
void bc_rt_metrics_dead_letter(struct bc_rt_metrics *rm, const char *reason);
/* librdkafka statistics JSON of the consumer: sets breadcrumb_consumer_lag_records for
 * every assigned input partition, and tells the runtime how far each one's fetch position
 * is from its high watermark (bc_runtime_note_behind). */
void bc_rt_metrics_kafka_stats(struct bc_rt_metrics *rm, struct bc_runtime *rt,
                               const char *json, size_t len);

#endif
