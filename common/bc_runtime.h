/*
 * The exactly-once stage runtime, engine side (DESIGN §3). Stages see bc_stage.h only;
 * this header is for bc_run(), the CLI, the metrics endpoint and the tests, which build a
 * runtime from explicit settings and run it in-process.
 *
 * Loop, after librdkafka's examples/transactions.c: a read_committed consumer in group
 * `<pipeline>.<worker>` (range assignment, static membership with group.instance.id =
 * instance) and one transactional producer (transactional.id =
 * `<pipeline>.<worker>.<instance>`, partitioner murmur2_random). A transaction starts with
 * the first record or write; it is committed, with the input offsets sent through
 * send_offsets_to_transaction() and the consumer group metadata (KIP-447), every
 * commit_interval_ms or max_batch records, before a revocation, and at shutdown. An
 * abortable error aborts, drops the stage's and the stores' state, restores the stores
 * from their changelogs and seeks every assigned partition back to its committed offset. A
 * fatal error (fenced producer) ends the run with BC_EXIT_FENCED. A lost assignment aborts.
 *
 * Static membership note (KIP-345): on SIGTERM the runtime commits and closes the consumer,
 * but a static member sends no LeaveGroup: a restart with the same instance id takes its
 * partitions back without a rebalance; otherwise they move after session.timeout.ms.
 */
#ifndef BC_RUNTIME_H
#define BC_RUNTIME_H

#include <stddef.h>
#include <stdint.h>

#include "bc_config.h"
#include "bc_stage.h"

/* What a runtime needs to know, independent of how it was configured (flags today, the
 * topology from bc_config later). Every pointer is borrowed and must outlive the runtime. */
struct bc_runtime_settings {
    const char *pipeline;         /* required */
    const char *worker;           /* required */
    const char *instance;         /* required; stable across restarts of this instance */
    const char *brokers;          /* bootstrap.servers; NULL: $BREADCRUMB_BROKERS */
    const char *const *inputs;    /* input topics, input_count >= 1 */
    size_t input_count;
    const char *const *outputs;   /* "name=topic" */
    size_t output_count;
    const char *dlq_topic;        /* NULL: output "dlq" if declared, else <pipeline>.dlq */
    const char *fates_topic;      /* NULL: <pipeline>.fates */
    int commit_interval_ms;       /* 0: 100 */
    int max_batch;                /* 0: 1000 records per transaction */
    int max_attempts;             /* 0: 3 deliveries before a record goes to the DLQ */
    int tick_interval_ms;         /* 0: 100 */
    int test_profile;             /* short session/transaction timeouts (KAFKA.md) */
    int no_commit_overlap;        /* --commit-overlap off: process nothing while a
                                   * transaction commits (the default overlaps them) */
    const char *const *kafka;     /* "key=value" librdkafka properties for every client */
    size_t kafka_count;
    const struct bc_values *options;  /* the worker's options; NULL: the type's defaults */
    const char *config_hash;      /* NULL: a hash of these settings */
    const struct bc_config *config;        /* the topology, or NULL (flags only) */
    const struct bc_worker *worker_config; /* its worker entry when config != NULL */
    const char *config_file;      /* --config: bc_runtime_settings_parse loads it */
    const char *schemas_dir;      /* --schemas; NULL: the topology's schemas.dir, if any */
    struct bc_config *loaded;     /* owned: the topology loaded from config_file */
    char **owned;                 /* owned strings the arrays above point to */
    size_t owned_count;
    int handle_signals;           /* nonzero: SIGTERM/SIGINT stop the run (bc_run sets it) */
    /* Audit replays (`breadcrumb replay`): name_prefix (--name-prefix) is put before the
     * pipeline name (so before the group, transactional.id and changelog names) and before
     * every output, DLQ and Fates topic; inputs and tables keep their names. stop_at
     * (--stop-at TOPIC:PARTITION:OFFSET, repeatable) bounds the input: a record at or past
     * a partition's bound is not processed (the partition is paused), and the run ends
     * cleanly once every bounded partition has been processed and committed up to its
     * bound (records a stage still holds then stay undecided). The worker's identity (the
     * bc.worker header, the worker field of Fates and dead letters, bc_ctx_pipeline) keeps
     * the live name. emit_from (--emit-from TOPIC:PARTITION:OFFSET, repeatable) makes a
     * warm-up: every write (output, Fate, dead letter) whose source record is on that
     * partition below OFFSET is suppressed, while the stage's state is built as usual;
     * emit_to (--emit-to, same form) suppresses the writes whose source is at or past it. */
    const char *name_prefix;
    const char *const *stop_at;
    size_t stop_count;
    const char *const *emit_from;
    size_t emit_from_count;
    const char *const *emit_to;
    size_t emit_to_count;
};

/* Parses bc_run()'s command line into s (strings borrowed from argv; arrays new, freed
 * by bc_runtime_settings_free). With --config, loads the topology and fills pipeline,
 * inputs, outputs, commit cadence, options and config hash from its worker --worker (flags
 * given too still win for brokers). Returns 0, 1 when --help was printed, or -1 with
 * errstr (topology errors are printed to stderr as FILE:LINE:COL). */
int bc_runtime_settings_parse(struct bc_runtime_settings *s, const struct bc_stage *stage,
                              int argc, char **argv, char *errstr, size_t errstr_size);
void bc_runtime_settings_free(struct bc_runtime_settings *s);

struct bc_runtime;

/* Counters since the runtime was created. */
struct bc_runtime_stats {
    uint64_t processed;     /* process() calls that returned BC_OK */
    uint64_t committed;     /* records whose processing was committed */
    uint64_t emitted;       /* bc_emit records */
    uint64_t fates;         /* bc_drop records */
    uint64_t dead_letters;  /* bc_dead_letter records, including max_attempts */
    uint64_t retries;       /* BC_RETRY outcomes */
    uint64_t commits;       /* committed transactions */
    uint64_t aborts;        /* aborted transactions */
    uint64_t rewinds;       /* abort-and-rewind cycles */
    uint64_t rebalances;    /* assignments received */
    uint64_t restored;      /* changelog records applied during restores */
    uint64_t overlapped;    /* records processed while the previous transaction committed */
    uint64_t waiting_dropped; /* their writes dropped because that commit failed */
    int assigned_partitions;
};

/* Creates a runtime: validates settings and stage options, calls stage->init. No Kafka
 * traffic yet. Returns the new runtime or NULL with errstr (stage->fini already called). */
struct bc_runtime *bc_runtime_new(const struct bc_stage *stage,
                                  const struct bc_runtime_settings *settings, char *errstr,
                                  size_t errstr_size);

/* Test hooks for bc_runtime_run: stop when until() returns nonzero (checked once per loop
 * iteration) or after timeout_ms (0: none). Either ends the run like SIGTERM does. */
struct bc_runtime_hooks {
    int (*until)(void *opaque, const struct bc_runtime *rt);
    void *opaque;
    int64_t timeout_ms;
};

/* Connects, runs the loop and shuts down (commit, close). hooks may be NULL. Returns an
 * enum bc_exit code. Call at most once per runtime. */
int bc_runtime_run(struct bc_runtime *rt, const struct bc_runtime_hooks *hooks);

/* Whether SIGTERM/SIGINT stop this run (bc_run sets it; tests may too). */
void bc_runtime_handle_signals(struct bc_runtime *rt, int on);

/* Requests a clean stop; async-signal-safe. */
void bc_runtime_stop(struct bc_runtime *rt);

/* 1 when the producer is initialized and no store restore is in progress. */
int bc_runtime_ready(const struct bc_runtime *rt);

void bc_runtime_stats(const struct bc_runtime *rt, struct bc_runtime_stats *stats);

/* The stage context (for tests that call the stage API directly). Borrowed. */
struct bc_ctx *bc_runtime_ctx(struct bc_runtime *rt);

/* The stores the stage opened (for metrics: bc_store_stats, bc_store_name). Borrowed. */
size_t bc_runtime_store_count(const struct bc_runtime *rt);
const struct bc_store *bc_runtime_store(const struct bc_runtime *rt, size_t i);

/* The offset this runtime last committed (or found committed at assignment) for an
 * assigned input partition; -1 when none or not assigned. */
int64_t bc_runtime_committed(const struct bc_runtime *rt, const char *topic, int32_t partition);

/* Records the consumer's distance to the end of an assigned input partition (high watermark
 * - fetch position, from the client statistics; -1: unknown), for bc_input_behind(). */
void bc_runtime_note_behind(struct bc_runtime *rt, const char *topic, int32_t partition,
                            int64_t behind);

/* Calls stage->fini and frees everything. NULL is a no-op. */
void bc_runtime_destroy(struct bc_runtime *rt);

#endif
