/*
 * OpenLineage run events (spec 2-0-2, RunEvent) of the pipeline's worker instances. The job
 * is the worker ("<pipeline>.<worker>" in the configured namespace), its datasets topics in
 * namespace "kafka://<bootstrap>".
 *
 * The state of one worker instance is a JSON object (the lineage-builder keeps it in store
 * `runs`, key "<worker>/<instance>", on the partition its facts hash to), changed by facts:
 *   {"kind": "record", "run_id", "worker", "instance", "config_hash", "state", "error"?,
 *    "time", "inputs", "outputs"}   a run record of <pipeline>.runs (common/bc_runlog.h)
 *   {"kind": "seen", "worker", "instance", "config_hash", "input"?, "output"?, "time"}
 *                                   a record the instance wrote (from its lineage headers)
 * With run records (`lifecycle` mode), a run is one process:
 *   started  START with the declared topics; when the instance's previous run is still
 *            running (no terminal record: killed, crashed or fenced), FAIL for it first,
 *            with an errorMessage facet saying so
 *   stopped  COMPLETE        failed  FAIL with an errorMessage facet (the record's error)
 *   seen     RUNNING when the current run's datasets grow (a router's sinks)
 * A fact about a run that already ended, or a repeat, changes nothing: facts may be applied
 * again after a rewind, and a late record of an old run never reopens it.
 * Without run records (a topology without <pipeline>.runs), runs are inferred from what
 * the instances wrote: a run is one (worker, instance, config_hash) with a runId derived
 * from them; START on its first record, RUNNING on growth, COMPLETE when the instance
 * shows another config_hash; no FAIL (nothing in Kafka says a process died).
 */
#ifndef LINEAGE_OPENLINEAGE_H
#define LINEAGE_OPENLINEAGE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct ol_namespaces {
    const char *jobs;     /* e.g. "breadcrumb" */
    const char *datasets; /* e.g. "kafka://127.0.0.1:9092" */
};

/* Applies fact to state (an object, empty for an instance not seen yet) and appends the run
 * events it causes (0 to 2) to events. Returns 1 when state changed, 0 when not, -1 for a
 * malformed fact. */
int ol_apply(const struct ol_namespaces *ns, int lifecycle, json_t *state, const json_t *fact,
             json_t *events);

/* The derived runId (a UUID) of an inferred run, into out (37 bytes). */
void ol_run_id(const char *worker, const char *instance, const char *config_hash, char out[37]);

#endif
