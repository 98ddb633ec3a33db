/*
 * Run records: the lifecycle of each worker process on `<pipeline>.runs`, for the
 * lineage-builder's OpenLineage run events (README "lineage-builder").
 *
 * A run is one process of one worker instance, named by a run id (a UUID): the value of
 * $BREADCRUMB_RUN_ID when it holds one (`breadcrumb run` sets it per start, so it can speak
 * for a process that died), else a random one (version 4). The runtime writes, when the
 * topology declares the topic `<pipeline>.runs`:
 *   started   once the transactional producer is ready
 *   stopped   after the last commit of a clean stop (SIGTERM/SIGINT)
 *   failed    before exiting on an error (with the reason in `error`)
 * A process killed with SIGKILL or fenced writes nothing more: the next `started` of the same
 * worker instance tells the lineage-builder that the previous run ended without a terminal
 * record. Value (JSON, key "<pipeline>.<worker>/<instance>"):
 *   {"run_id", "worker", "instance", "config_hash", "state", "error"?, "time" (unix ms),
 *    "inputs": [topic...], "outputs": [topic...]}
 */
#ifndef BC_RUNLOG_H
#define BC_RUNLOG_H

#include <stddef.h>
#include <stdint.h>

#include <librdkafka/rdkafka.h>

/* The run id of this process into out: $BREADCRUMB_RUN_ID when it is a UUID, else random. */
void bc_runlog_id(char out[37]);
/* A new random run id (a version 4 UUID) into out, for a process about to be started. */
void bc_runlog_new_id(char out[37]);

/* Whether s is a UUID in its text form (8-4-4-4-12 hex digits). */
int bc_runlog_is_uuid(const char *s);

/* The JSON value of a run record (malloc'd), or NULL when out of memory. error may be NULL;
 * the topic lists may be empty. */
char *bc_runlog_json(const char *run_id, const char *worker, const char *instance,
                     const char *config_hash, const char *state, const char *error,
                     int64_t time_ms, const char *const *inputs, size_t n_inputs,
                     const char *const *outputs, size_t n_outputs);

/* Writes one run record and waits for it: in a transaction of its own when transactional
 * (the producer's transactions initialized, none open), else with a plain produce and flush.
 * Returns 0, or -1 with errstr set. */
int bc_runlog_write(rd_kafka_t *producer, int transactional, const char *topic,
                    const char *key, const char *value, int64_t time_ms, char *errstr,
                    size_t errstr_size);

#endif
