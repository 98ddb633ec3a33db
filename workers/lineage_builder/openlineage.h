/*
 * OpenLineage run events (spec 2-0-2, RunEvent) of the pipeline's worker instances, as the
 * lineage-builder sees them in Kafka: a run is one (worker, instance, config_hash); its job
 * is the worker ("<pipeline>.<worker>" in the configured namespace), its datasets the
 * topics it read (bc.src) and wrote, in namespace "kafka://<bootstrap>".
 *   START     the first record of a run
 *   RUNNING   the run's known inputs or outputs grew (the event lists them all)
 *   COMPLETE  the same worker instance appeared with another config_hash (a new run)
 * FAIL is not emitted: a crash leaves no record in Kafka (the supervisor knows, not Kafka).
 * Runs are held in memory: after the builder restarts, a run still going gets a new START.
 */
#ifndef LINEAGE_OPENLINEAGE_H
#define LINEAGE_OPENLINEAGE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct ol_runs;

/* New run table. job_namespace and dataset_namespace (e.g. "kafka://127.0.0.1:9092") are
 * copied. Returns NULL when out of memory. */
struct ol_runs *ol_runs_new(const char *job_namespace, const char *dataset_namespace);
void ol_runs_destroy(struct ol_runs *runs);

/* Notes that worker/instance with config_hash wrote to output_topic from input_topic (NULL:
 * none) at ts (ms). Appends the run events this causes (new references, 0 to 3 of them) to
 * events (a JSON array). Returns 0 or -1. */
int ol_runs_observe(struct ol_runs *runs, const char *worker, const char *instance,
                    const char *config_hash, const char *input_topic, const char *output_topic,
                    int64_t ts, json_t *events);

/* The deterministic runId (a UUID) of a run, into out (37 bytes). */
void ol_run_id(const char *worker, const char *instance, const char *config_hash, char out[37]);

#endif
