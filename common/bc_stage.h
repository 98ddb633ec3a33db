/*
 * The stage interface: everything a worker sees of the runtime (DESIGN §2-4).
 *
 * A worker is one exported const `struct bc_stage` plus `main()` calling bc_run(). The
 * runtime owns Kafka, transactions, offsets, lineage headers, fates, dead letters, state
 * store changelogs, signals and readiness; a stage owns only its transformation and its
 * in-memory state. A stage includes this header only, never librdkafka.
 *
 *   static int copy_process(struct bc_ctx *ctx, const struct bc_record *rec)
 *   {
 *       size_t key_len, value_len;
 *       const void *key = bc_record_key(rec, &key_len);
 *       const void *value = bc_record_value(rec, &value_len);
 *       return bc_emit(ctx, rec, "out", key, key_len, value, value_len, NULL);
 *   }
 *   const struct bc_stage copy_stage = { .name = "copy", .process = copy_process };
 *   int main(int argc, char **argv) { return bc_run(&copy_stage, argc, argv); }
 *
 * Exactly-once contract. Every callback runs on the runtime's single thread, inside the
 * current Kafka transaction. Everything a callback does through this API (bc_emit, bc_drop,
 * bc_dead_letter, bc_store_put/delete, bc_hold) becomes visible together with the input
 * offsets, or not at all. When a transaction aborts, the runtime calls revoked() for every
 * assigned partition, drops and restores the state stores from their changelogs, calls
 * assigned() again and re-delivers the records from the last committed offsets: a stage
 * must keep no state outside stores that it cannot rebuild in assigned().
 *
 * Lineage headers, set by the runtime on every record written (outputs, DLQ, fates,
 * changelogs are exempt):
 *   bc.worker       "<pipeline>.<worker>"
 *   bc.instance     the instance id of the writer
 *   bc.config_hash  hex hash of the worker's effective configuration
 *   bc.src          "<topic>:<partition>:<offset>" of the input record the output was
 *                   derived from, with ":<index>" appended for the 2nd, 3rd... output
 *                   derived from the same input (index 1, 2, ...); absent when an output
 *                   derives from no input record
 * Dead letters also carry bc.dlq.reason (a reason code), bc.dlq.detail (free text) and
 * bc.dlq.attempts (decimal).
 *
 * Outcome codes: every callback returning int returns one of BC_OK, BC_RETRY, BC_FATAL.
 *   BC_OK     done; continue.
 *   BC_RETRY  transient failure: the runtime aborts the transaction, rewinds and delivers
 *             the record again; after `max_attempts` deliveries it goes to the DLQ
 *             (reason "max_attempts") instead, so a poison record never crash-loops and
 *             is never silently skipped. From tick/assigned/revoked: abort and rewind.
 *   BC_FATAL  the stage cannot go on (bad configuration, broken invariant): the runtime
 *             aborts the transaction and bc_run() returns BC_EXIT_STAGE.
 * A record the stage knows is bad (cannot decode, fails validation) is not a retry: send it
 * with bc_dead_letter() and return BC_OK.
 */
#ifndef BC_STAGE_H
#define BC_STAGE_H

#include <stddef.h>
#include <stdint.h>

#include "bc_options.h" /* option tables and typed getters: bc_values_int(...) */

enum bc_outcome { BC_OK = 0, BC_RETRY = 1, BC_FATAL = 2 };

/* bc_run() exit codes. */
enum bc_exit {
    BC_EXIT_OK = 0,      /* stopped by SIGTERM/SIGINT after committing */
    BC_EXIT_ERROR = 1,   /* could not start (connect, init_transactions, stage init) */
    BC_EXIT_USAGE = 2,   /* bad command line or options */
    BC_EXIT_FENCED = 3,  /* fatal Kafka error: producer fenced by a newer instance, etc. */
    BC_EXIT_STAGE = 4,   /* a stage callback returned BC_FATAL */
};

/* The runtime's per-process context (opaque). Borrowed by every callback. */
struct bc_ctx;
/* One input record (opaque). Borrowed: valid only during the process() call. */
struct bc_record;

struct bc_stage {
    const char *name;
    /* The worker type (workers/<dir>/options.c): its option table, outputs and stores, as
     * the topology validates them. NULL for a stage without options (test stages). */
    const struct bc_worker_type *type;
    /* Reads options (bc_ctx_options) and allocates the stage state (bc_ctx_set_state).
     * Called once before any Kafka traffic. Returns an outcome; BC_RETRY counts as
     * BC_FATAL here. Optional. */
    int (*init)(struct bc_ctx *ctx);
    /* Handles one input record; emits with bc_emit() etc. Required. */
    int (*process)(struct bc_ctx *ctx, const struct bc_record *rec);
    /* Called about every `tick_interval_ms` (default 100) with the wall clock in ms, also
     * when no records arrive: timers, idle flushes. Optional. */
    int (*tick)(struct bc_ctx *ctx, int64_t now_ms);
    /* The partition (of every input topic) is now owned; its stores are already restored.
     * Rebuild per-partition state here. Optional. */
    int (*assigned)(struct bc_ctx *ctx, int32_t partition);
    /* The partition is no longer owned (rebalance, or a rewind after an abort); the open
     * transaction is already committed or aborted. Drop per-partition state. Optional. */
    int (*revoked)(struct bc_ctx *ctx, int32_t partition);
    /* Frees the stage state. Called once, also after a failed init. Optional. */
    void (*fini)(struct bc_ctx *ctx);
};

/* Runs the stage: parses argv (see `--help`), connects, processes until SIGTERM/SIGINT or a
 * fatal error. Returns an enum bc_exit code, for main() to return. */
int bc_run(const struct bc_stage *stage, int argc, char **argv);

/* ---- context ------------------------------------------------------------------------ */

/* The stage's state pointer (NULL until set). The stage owns it and frees it in fini(). */
void *bc_ctx_state(const struct bc_ctx *ctx);
void bc_ctx_set_state(struct bc_ctx *ctx, void *state);

/* Names. Borrowed, valid for the whole run. */
const char *bc_ctx_pipeline(const struct bc_ctx *ctx);
const char *bc_ctx_worker(const struct bc_ctx *ctx);
const char *bc_ctx_instance(const struct bc_ctx *ctx);
/* The topology the worker runs from (borrowed), or NULL when started from flags only. */
const struct bc_config *bc_ctx_config(const struct bc_ctx *ctx);
/* The schema registry (common/bc_avro.h) the runtime loaded from the topology's
 * schemas.dir (or --schemas): decode inputs and encode outputs with it. Borrowed, valid for
 * the whole run; NULL when none was configured. */
struct bc_avro_registry;
const struct bc_avro_registry *bc_ctx_registry(const struct bc_ctx *ctx);
/* The topic the stage's output named `output` writes to (borrowed, valid for the whole
 * run), as the runtime resolved it: with --name-prefix (an audit replay) the prefixed copy.
 * NULL for an output the worker does not have. A stage that reads one of its outputs back
 * (a repartition topic) recognizes its records by this name. */
const char *bc_ctx_output_topic(const struct bc_ctx *ctx, const char *output);
/* Declares, from init(), that the stage writes records of local schema `schema` (a record
 * name, e.g. "TrackingEvent") to topic: a bc_emit_topic target by the name the stage gives
 * it, or an output the runtime does not know the schema of (a repartition topic) by
 * bc_ctx_output_topic's name; a name that already carries --name-prefix is taken as is. With a
 * remote schema registry the runtime registers it at start, before any Kafka client, like
 * the outputs' schemas (an incompatible subject stops the worker there); otherwise a no-op. */
void bc_ctx_expect_schema(struct bc_ctx *ctx, const char *topic, const char *schema);

/* The worker's validated options (borrowed, valid for the whole run; read them with
 * bc_values_int/_str/_bool/_list/_node): from the topology, or the type's defaults when
 * started from flags. NULL when the stage has no type. */
const struct bc_values *bc_ctx_options(const struct bc_ctx *ctx);

/* Stream time of a partition: the highest record timestamp (ms) seen on it, -1 before the
 * first record. Drives store expiry and event-time logic; never the wall clock. */
int64_t bc_stream_time(const struct bc_ctx *ctx, int32_t partition);

/* Records of an assigned input partition not fetched yet: the partition's high watermark
 * minus the consumer's fetch position, as of the client's last statistics (about once a
 * second). Records of an open transaction upstream count: a read_committed consumer cannot
 * fetch past them until it commits or aborts. 0: caught up; -1: unknown (not assigned, or
 * no statistics yet). Lets a stage tell a quiet partition from one whose input is held up. */
int64_t bc_input_behind(const struct bc_ctx *ctx, int32_t partition);

/* ---- input records (all borrowed, valid during process() only) ----------------------- */

const char *bc_record_topic(const struct bc_record *rec);
int32_t bc_record_partition(const struct bc_record *rec);
int64_t bc_record_offset(const struct bc_record *rec);
/* Kafka timestamp in ms (create or log-append time), -1 when the record has none. */
int64_t bc_record_timestamp(const struct bc_record *rec);
/* Key / value bytes and their length; NULL (and *len = 0) for a null key / value. */
const void *bc_record_key(const struct bc_record *rec, size_t *len);
const void *bc_record_value(const struct bc_record *rec, size_t *len);
/* Finds the last header named `name`. Returns 0 and sets *value and *len (value may be NULL
 * for a null header), or -1 when absent. */
int bc_record_header(const struct bc_record *rec, const char *name, const void **value,
                     size_t *len);
/* How many times this record has been delivered to process(), 1 on the first. */
int bc_record_attempt(const struct bc_record *rec);

/* Where an output came from, for lineage. A stage that buffers records keeps a copy
 * (topic is borrowed from the runtime and stays valid for the whole run). */
struct bc_source {
    const char *topic;
    int32_t partition;
    int64_t offset;
};
void bc_record_source(const struct bc_record *rec, struct bc_source *src);

/* ---- writing ------------------------------------------------------------------------- */

/* A header for bc_emit; name and value are borrowed (copied by bc_emit). */
struct bc_header {
    const char *name;
    const void *value;
    size_t len;
};

/* Optional settings of one bc_emit; zero-initialize and set what you need. */
struct bc_emit_opts {
    int has_partition;              /* nonzero: write to `partition`, not by key hash */
    int32_t partition;
    int64_t timestamp;              /* ms; 0: the source record's timestamp (or now) */
    const struct bc_source *source; /* lineage when rec is NULL (buffered records) */
    const struct bc_header *headers;
    size_t header_count;
};

/* bc_emit to a topic named by the stage instead of an output name: for a stage whose
 * topology options name its targets (the router's rules). topic is borrowed; the stage's
 * option checks must have validated it against the topology's topics. Otherwise exactly
 * like bc_emit (transaction, lineage headers and bc.src index, partitioning, opts). */
int bc_emit_topic(struct bc_ctx *ctx, const struct bc_record *rec, const char *topic,
                  const void *key, size_t key_len, const void *value, size_t value_len,
                  const struct bc_emit_opts *opts);

/* Writes one record to the stage's output named `output` (the topology's
 * `workers.<name>.outputs.<output>`), in the current transaction, with lineage headers.
 * rec (borrowed, may be NULL) is the input it derives from. key/value are borrowed and
 * copied; value is the encoded bytes (Avro in the Confluent wire format for inter-worker
 * topics, encoded with bc_avro and bc_ctx_registry). When a registry is loaded, a value
 * starting with the wire format's 0x00 must carry a registered schema id, else BC_FATAL.
 * Keyed records are partitioned by murmur2 (as Java clients do). Returns BC_OK, or
 * BC_FATAL for an unknown output or a rejected value, or BC_RETRY when the transaction is
 * already failed (the runtime aborts and rewinds). */
int bc_emit(struct bc_ctx *ctx, const struct bc_record *rec, const char *output,
            const void *key, size_t key_len, const void *value, size_t value_len,
            const struct bc_emit_opts *opts);

/* What became of an input that produced no output (the Fate schema's FateKind). */
enum bc_fate_kind {
    BC_FATE_DEDUPLICATED = 0,
    BC_FATE_SAMPLED_OUT = 1,
    BC_FATE_DROPPED = 2,
    BC_FATE_DEAD_LETTERED = 3,
    BC_FATE_ROUTED = 4,
};

/* A Fate's details; every pointer is borrowed and may be NULL (except for kind). */
struct bc_fate {
    enum bc_fate_kind kind;
    const char *reason;              /* short code, e.g. "window", "rule:drop_health" */
    const char *policy;              /* the sampling policy or routing rule that decided */
    const char *event_id;            /* the record's event_id when the stage decoded it */
    const struct bc_source *related; /* e.g. the first occurrence of a duplicate */
};

/* Records that the stage consumed rec (or, when rec is NULL, the buffered record at
 * fate_source) and emitted nothing for it on purpose: writes a Fate record (key =
 * "topic:partition:offset", value = the Fate in Avro when a registry is loaded, else JSON)
 * to `<pipeline>.fates` in the same transaction, so lineage accounts for every input.
 * Returns like bc_emit. */
int bc_drop_fate(struct bc_ctx *ctx, const struct bc_record *rec,
                 const struct bc_source *fate_source, const struct bc_fate *fate);

/* bc_drop_fate with kind derived from reason ("duplicate"/"deduplicated" ->
 * BC_FATE_DEDUPLICATED, "sampled_out" -> BC_FATE_SAMPLED_OUT, else BC_FATE_DROPPED). */
int bc_drop(struct bc_ctx *ctx, const struct bc_record *rec, const char *reason);
/* bc_drop for a record no longer at hand (a stage that buffers: the tail-sampler): source
 * and timestamp (ms) say which input it was; policy (borrowed, may be NULL) names the
 * sampling policy or rule that decided and goes into the Fate. */
int bc_drop_source(struct bc_ctx *ctx, const struct bc_source *source, int64_t timestamp,
                   const char *reason, const char *policy);

/* Sends rec to the worker's dead-letter topic (output "dlq", default `<pipeline>.dlq`) in
 * the same transaction: a DeadLetter record (Avro; reason, detail, source, worker,
 * attempts, the raw value and key, timestamp) when a registry is loaded, else key and value
 * unchanged; reason code, detail and source are in headers either way (see above). reason
 * and detail are borrowed; detail may be NULL. The stage then returns BC_OK: the record is
 * accounted for. */
int bc_dead_letter(struct bc_ctx *ctx, const struct bc_record *rec, const char *reason,
                   const char *detail);

/* Holds offsets for a stage that buffers records: on `partition` of `topic` (NULL: the
 * only input topic), nothing at or after `offset` is committed until the hold moves;
 * offset -1 releases the hold. The committed offset is min(hold, next offset). After a
 * restart or rewind the records from the hold onward are delivered again. */
void bc_hold(struct bc_ctx *ctx, const char *topic, int32_t partition, int64_t offset);

/* ---- read-only tables (DESIGN §4) ---------------------------------------------------- */

/* One record of a table topic: key and value borrowed for the call (value NULL: a
 * tombstone), ts the Kafka timestamp in ms (-1: none). */
typedef void (*bc_table_fn)(void *opaque, const void *key, size_t key_len, const void *value,
                            size_t value_len, int64_t ts, int32_t partition, int64_t offset);

/* Declares a read-only table: a (compacted) topic read fully by every instance, outside the
 * consumer group and the transactions (e.g. the enricher's deploy history). Call from
 * init(). The runtime reads every partition of topic read_committed from the beginning to
 * its end before the first process() call, then feeds records written later between
 * transactions, never while one is open: records processed in one transaction all see one
 * table state. fn is called on the runtime's thread with opaque (borrowed). A missing topic
 * stops the worker at start (BC_EXIT_ERROR). Returns 0, or -1 (logged). */
int bc_table_open(struct bc_ctx *ctx, const char *topic, bc_table_fn fn, void *opaque);

/* ---- state stores (DESIGN §4) ------------------------------------------------------- */

/* A named key/value store, one hash table per input partition, mirrored to the compacted
 * changelog topic `<pipeline>.<worker>.<name>.changelog` (changelog partition = input
 * partition). Opened in init(); owned by the runtime (freed after fini()). */
struct bc_store;

/* What a full store does when a put would exceed max_bytes. */
enum bc_store_full_policy {
    /* Evicts entries with the oldest timestamps (writing tombstones) until the new entry
     * fits; each eviction is counted (bc_store_stats.evicted). The default: a dedup window
     * shrinks instead of the worker stopping. */
    BC_STORE_EVICT_OLDEST = 0,
    /* Refuses the put: bc_store_put returns -1 (counted as rejected) and the
     * stage decides (e.g. bc_dead_letter, or BC_RETRY after state shrinks). */
    BC_STORE_REJECT = 1,
};

struct bc_store_opts {
    size_t max_bytes;    /* bound on key+value+overhead bytes over all partitions; 0: 64 MiB */
    int64_t ttl_ms;      /* entries with ts < stream_time - ttl expire (tombstoned); 0: never */
    enum bc_store_full_policy full_policy;
};

struct bc_store_stats {
    uint64_t entries, bytes, max_bytes;
    uint64_t puts, deletes, expired, evicted, rejected, restored;
};

/* Opens (declares) a store; call from init(). opts may be NULL (defaults). Returns the
 * store (owned by the runtime) or NULL on error (logged). */
struct bc_store *bc_store_open(struct bc_ctx *ctx, const char *name,
                               const struct bc_store_opts *opts);

/* Looks key up in the partition's table. Returns 1 and sets *value, *value_len (borrowed:
 * valid until the next put/delete on this store) and *ts (may be NULL), or 0 when absent. */
int bc_store_get(const struct bc_store *store, int32_t partition, const void *key,
                 size_t key_len, const void **value, size_t *value_len, int64_t *ts);

/* Inserts or replaces key -> value (both copied) with timestamp ts (ms, stream time of
 * the entry: usually the record's timestamp), and writes it to the changelog partition in
 * the current transaction. Returns 0, or -1 when the store is full and refuses (policy
 * BC_STORE_REJECT) or the entry alone exceeds max_bytes. */
int bc_store_put(struct bc_store *store, int32_t partition, const void *key, size_t key_len,
                 const void *value, size_t value_len, int64_t ts);

/* Removes key (tombstone in the changelog). Returns 1 when it existed, 0 otherwise. */
int bc_store_delete(struct bc_store *store, int32_t partition, const void *key,
                    size_t key_len);

/* Calls fn for every entry of the partition, in no particular order; fn must not modify
 * the store. Stops early and returns fn's value when fn returns nonzero. */
typedef int (*bc_store_visit_fn)(void *opaque, const void *key, size_t key_len,
                                 const void *value, size_t value_len, int64_t ts);
int bc_store_foreach(const struct bc_store *store, int32_t partition, bc_store_visit_fn fn,
                     void *opaque);

void bc_store_stats(const struct bc_store *store, struct bc_store_stats *stats);

/* ---- metrics (README "Metrics, health and logs") ------------------------------------- */

/* Adds n to the worker's counter `name` (breadcrumb_<what>_total) with extra labels
 * "k=v,k2=v2" (NULL: none; values from a small bounded set: rule, policy or reason names,
 * never per-record values), served on /metrics with the worker and instance labels. Cheap:
 * one hash lookup and an atomic add; call from any callback. An invalid name or label is
 * ignored. Counts writes in aborted transactions too. */
void bc_metric_counter_add(struct bc_ctx *ctx, const char *name, const char *labels,
                           uint64_t n);
/* Sets the counter to `value`, for a stage that keeps its own running total (it must never
 * decrease); otherwise like bc_metric_counter_add. */
void bc_metric_counter_set(struct bc_ctx *ctx, const char *name, const char *labels,
                           uint64_t value);
/* Sets the worker's gauge `name` (a value that may go down, or a peak: not `_total`) with
 * extra labels as above to `value`. Cheap: one hash lookup and an atomic store. */
void bc_metric_gauge_set(struct bc_ctx *ctx, const char *name, const char *labels,
                         double value);

/* A handle on the worker's counter `name` with `labels`, created now so it shows at 0 from
 * the first scrape, with `help` as its HELP text (NULL: the one README documents for known
 * names). For hot paths: bc_metric_add on a handle is one relaxed atomic add, no lookup, no
 * lock; the HTTP thread renders it. Returns a handle valid until the runtime ends, or NULL
 * when metrics are unavailable or the name or labels are invalid (bc_metric_add(NULL, n) is
 * a no-op). Call from init (or any callback of the runtime's thread). */
struct bc_metric;
struct bc_metric *bc_metric_counter(struct bc_ctx *ctx, const char *name, const char *help,
                                    const char *labels);
void bc_metric_add(struct bc_metric *s, uint64_t n);

#endif
