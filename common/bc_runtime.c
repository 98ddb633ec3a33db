/*
 * The exactly-once stage runtime: consume-transform-produce with Kafka transactions, state
 * store changelogs and restores, fates, dead letters and lineage headers. See bc_runtime.h
 * for the protocol and bc_stage.h for the stage contract.
 *
 * Stage callbacks, the rebalance callback (served from rd_kafka_consumer_poll) and every
 * transactional call but one run on the thread in bc_runtime_run(). The exception is the
 * commit overlap: a transaction's send_offsets_to_transaction and commit_transaction run on
 * a commit thread while the loop goes on processing the next records; their writes wait in
 * the runtime (struct pending) until that commit has ended and the next transaction has
 * begun, so no write of the next transaction reaches the producer before the previous one
 * is committed. Anything that must see the commit's outcome (the next commit, a
 * revocation, a rewind, the end of the run) joins the thread first. The commit thread
 * touches only the producer and its own struct commit_job.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <librdkafka/rdkafka.h>
#include <xxhash.h>

#include "bc_avro.h"
#include "bc_config.h"
#include "bc_kafka_conf.h"
#include "bc_log.h"
#include "bc_metrics_runtime.h"
#include "bc_runtime.h"
#include "bc_runlog.h"
#include "bc_schemas.h"
#include "bc_store.h"
#include "bc_table.h"

#define TXN_TIMEOUT_MS 30000  /* bound on one blocking transactional call */
#define RESTORE_TIMEOUT_MS 120000
#define TXN_RETRIES 5         /* retriable send_offsets failures before aborting instead */

/* One assigned input partition. */
struct part {
    const char *topic;     /* borrowed from settings.inputs */
    int32_t partition;
    int64_t committed;     /* last committed offset (or at assignment); -1: none */
    int64_t next;          /* next offset to process; -1: none processed since (re)start */
    int64_t delivered;     /* offset after the last record polled, processed or not; -1: none */
    int64_t position;      /* consumer's position when past next and caught up (parts_position) */
    int64_t hold;          /* lowest offset the stage still needs; -1: none */
    int64_t stream_time;   /* highest record timestamp seen, -1 before the first */
    int64_t poison_offset; /* offset of the record that returned BC_RETRY, -1: none */
    int poison_attempts;   /* deliveries of poison_offset so far */
    int64_t behind;        /* high watermark - fetch position, last statistics; -1: unknown */
};

struct output {
    char *name;  /* new */
    char *topic; /* new */
};

/* A producer topic handle kept for the runtime's life: a write names its topic by handle,
 * not by name (librdkafka's producev then looks the name up under its client lock). */
struct topic_handle {
    const char *name; /* the handle's own name (rd_kafka_topic_name) */
    rd_kafka_topic_t *rkt;
};

#define TOPIC_HANDLES 64 /* writes to further topics (bc_emit_topic) go by name */

struct bc_ctx {
    struct bc_runtime *rt;
    void *state; /* owned by the stage */
};

struct bc_record {
    const rd_kafka_message_t *msg; /* borrowed, current message */
    const char *topic;             /* borrowed from settings.inputs */
    int attempt;
    int emitted; /* outputs derived so far, for the bc.src index */
};

/* A write made while the previous transaction commits: kept, copied, until the next
 * transaction begins (struct bc_runtime's pending). Offsets into pending_bytes. */
struct pending_write {
    size_t topic, key, value;   /* offsets of the topic name (NUL-ended), key and value */
    size_t key_len, value_len;
    int has_key, has_value;     /* a NULL key or value (a tombstone) stays NULL */
    int32_t partition;
    int64_t timestamp;
    rd_kafka_headers_t *hdrs;   /* owned until produced; NULL: none */
};

/* One commit on the commit thread: its inputs, made on the loop's thread, and its result,
 * read there after pthread_join. */
struct commit_job {
    pthread_t thread;
    int done;        /* set (atomically) by the commit thread as it ends */
    rd_kafka_t *producer;
    rd_kafka_topic_partition_list_t *offsets;
    rd_kafka_consumer_group_metadata_t *cgmd; /* NULL: no offsets to send */
    int rc;          /* 0 committed, 1 must abort, -1 fatal */
    int64_t started_ms;
    int records;     /* the transaction's processed records */
};

struct bc_runtime {
    const struct bc_stage *stage;
    struct bc_runtime_settings settings; /* copy; pointers borrowed */
    struct bc_ctx ctx;
    char group_id[256];
    char worker_id[256];   /* <pipeline>.<worker>, the bc.worker header */
    char txn_id[384];
    char config_hash[17];
    size_t worker_id_len, instance_len, config_hash_len; /* header values, measured once */
    char dlq_topic[256];
    char fates_topic[256];
    int commit_interval_ms, max_batch, max_attempts, tick_interval_ms;

    struct output *outputs;
    size_t output_count;
    struct bc_values *defaults; /* the type's defaults when no topology gives options; new */
    struct bc_store **stores;
    size_t store_count;

    struct bc_avro_registry *registry;  /* new; NULL without schemas */
    struct bc_schemas *schemas;         /* new; NULL unless schemas.registry is a URL */
    const struct bc_avro_schema *fate_schema; /* borrowed from registry; NULL: JSON fates */
    const struct bc_avro_schema *dlq_schema;  /* borrowed; NULL: raw dead letters */
    avro_value_t fate_value, dlq_value;       /* reused per record when the schema is set */
    int fate_direct; /* fate_encode: 0 not checked yet, 1 fate_schema is Fate v1 (bytes
                      * written directly), -1 another Fate (the generic encoder) */
    struct bc_avro_buf avro_buf;

    rd_kafka_t *consumer;
    rd_kafka_t *producer;
    rd_kafka_t *restorer; /* assign-only read_committed consumer for changelogs */
    struct topic_handle *handles; /* producer topic handles by name (producer_topic) */
    size_t handle_count;
    struct bc_tables *tables; /* read-only tables (bc_table.c), or NULL */

    struct part *parts; /* assigned partitions, part_count long */
    size_t part_count;
    struct part *last_part; /* lookup cache */

    int txn_open;
    int txn_begun;  /* begin_transaction was called for the open transaction (else its
                     * writes wait in pending while the previous one commits) */
    int txn_failed; /* a write failed: the open transaction must abort */
    int overlap;    /* commit on the commit thread while processing goes on */
    int committing; /* the commit thread runs (commit) */
    struct commit_job commit;
    struct pending_write *pending;
    size_t pending_count, pending_cap;
    unsigned char *pending_bytes;
    size_t pending_len, pending_bytes_cap;
    int64_t txn_started_ms;
    int txn_records;
    int in_stage;     /* inside the stage's process or tick (emit_wall below is valid) */
    int64_t emit_wall; /* wall clock of the first write in that call, 0 before it: the
                        * output latency of every write the call makes */
    int need_rewind;     /* abort and rewind at the next loop turn */
    int restoring;
    int producer_ready;
    int exit_code;       /* set when the run must end with an error */
    volatile sig_atomic_t stop;
    struct bc_runtime_stats stats;
    struct bc_rt_metrics *metrics; /* new; NULL: no metrics (out of memory) */

    struct stop_bound *bounds; /* settings.stop_at, parsed */
    size_t bound_count;
    struct stop_bound *emit_from, *emit_to; /* settings.emit_from and emit_to, parsed */
    size_t emit_from_count, emit_to_count;
    const char *live_pipeline; /* settings.pipeline without the --name-prefix */

    char run_id[37];       /* this process's run (bc_runlog.h) */
    char runs_topic[256];  /* <pipeline>.runs when the topology declares it, else "" */
    char fail_reason[400]; /* why the run ends with an error, for its `failed` record */
};

static volatile sig_atomic_t signal_stop;
static void pending_clear(struct bc_runtime *rt);

static void bounds_resume(struct bc_runtime *rt);

/* An end bound of an audit replay (--stop-at): records at offset >= offset are not processed. */
struct stop_bound {
    char topic[256];
    int32_t partition;
    int64_t offset;
    int paused;
};

/* snprintf into an error buffer; truncation of a message is acceptable. */
__attribute__((format(printf, 3, 4))) static void errf(char *errstr, size_t errstr_size,
                                                        const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errstr, errstr_size, fmt, ap);
    va_end(ap);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- settings from the command line --------------------------------------------------- */

static void usage(const struct bc_stage *stage, FILE *out)
{
    fprintf(out,
            "usage: %s --pipeline NAME --worker NAME --instance ID --input TOPIC...\n"
            "          [--output NAME=TOPIC]... [--brokers HOST:PORT] [--dlq TOPIC]\n"
            "          [--fates TOPIC] [--commit-interval-ms N] [--max-batch N]\n"
            "          [--max-attempts N] [--tick-interval-ms N] [--profile test]\n"
            "          [--commit-overlap on|off]\n"
            "          [--kafka KEY=VALUE]... [--config-hash HEX] [--schemas DIR]\n"
            "   or: %s --config TOPOLOGY.yaml --worker NAME --instance ID [--brokers HOST:PORT]\n"
            "\nAudit replays: [--name-prefix PREFIX] (before the pipeline, group, transactional\n"
            "id, changelog and output topic names) [--stop-at TOPIC:PARTITION:OFFSET]... (end\n"
            "bound, exclusive: the run stops once every bounded partition is committed there)\n"
            "[--emit-from TOPIC:PARTITION:OFFSET]... [--emit-to TOPIC:PARTITION:OFFSET]...\n"
            "(warm-up and cool-down: writes derived from records outside [from, to) are\n"
            "suppressed; state is built from them as usual).\n"
            "\nThe %s stage on the exactly-once runtime. --brokers defaults to\n"
            "$BREADCRUMB_BROKERS. Exit codes: 0 stopped, 1 error, 2 usage, 3 fenced/fatal\n"
            "Kafka error, 4 stage failure.\n",
            stage->name, stage->name, stage->name);
    if (stage->type != NULL) {
        fprintf(out, "\noptions (workers.<name>.options in the topology):\n");
        bc_options_help(out, stage->type);
    }
}

static int push(const char ***array, size_t *count, const char *value)
{
    const char **a = realloc((void *)*array, (*count + 1) * sizeof(*a));
    if (a == NULL) {
        return -1;
    }
    a[(*count)++] = value;
    *array = a;
    return 0;
}

static int parse_int(const char *s, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < 0 || v > 1000000000) {
        return -1;
    }
    *out = (int)v;
    return 0;
}

static char *own(struct bc_runtime_settings *s, char *str)
{
    char **owned = realloc(s->owned, (s->owned_count + 1) * sizeof(*owned));
    if (str == NULL || owned == NULL) {
        free(str);
        return NULL;
    }
    s->owned = owned;
    s->owned[s->owned_count++] = str;
    return str;
}

/* Fills s from the topology's worker s->worker (flags given explicitly keep precedence
 * for brokers and the commit cadence). */
static int settings_from_config(struct bc_runtime_settings *s, char *errstr, size_t errstr_size)
{
    struct bc_errors errs = {0};
    s->loaded = bc_config_load(s->config_file, &errs);
    if (s->loaded == NULL || errs.n > 0) {
        bc_errors_print(&errs, stderr);
        bc_errors_clear(&errs);
        errf(errstr, errstr_size, "topology %s is invalid", s->config_file);
        return -1;
    }
    if (s->worker == NULL) {
        errf(errstr, errstr_size, "--config needs --worker NAME");
        return -1;
    }
    const struct bc_worker *w = bc_config_worker(s->loaded, s->worker);
    if (w == NULL) {
        errf(errstr, errstr_size, "%s: no worker named '%s'", s->config_file, s->worker);
        return -1;
    }
    s->config = s->loaded;
    s->worker_config = w;
    s->pipeline = s->loaded->pipeline;
    for (size_t i = 0; i < w->n_inputs; i++) {
        if (push((const char ***)&s->inputs, &s->input_count, w->inputs[i]) != 0) {
            goto oom;
        }
    }
    for (size_t i = 0; i < w->n_outputs; i++) {
        char *kv = NULL;
        if (asprintf(&kv, "%s=%s", w->outputs[i].name, w->outputs[i].topic) < 0) {
            goto oom;
        }
        if (own(s, kv) == NULL || push((const char ***)&s->outputs, &s->output_count, kv) != 0) {
            goto oom;
        }
    }
    if (s->commit_interval_ms == 0) {
        s->commit_interval_ms = w->commit_interval_ms;
    }
    if (s->max_batch == 0) {
        s->max_batch = w->max_batch;
    }
    if (s->max_attempts == 0) {
        s->max_attempts = w->max_attempts;
    }
    s->options = w->options;
    char *hash = own(s, calloc(1, 17));
    if (hash == NULL) {
        goto oom;
    }
    bc_config_worker_hash(s->loaded, w, hash);
    s->config_hash = hash;
    return 0;
oom:
    errf(errstr, errstr_size, "out of memory");
    return -1;
}

/* --name-prefix: the pipeline (hence group, transactional.id, changelogs, default DLQ and
 * Fates topics) and every output topic get the prefix. */
static int apply_name_prefix(struct bc_runtime_settings *s)
{
    const char *pre = s->name_prefix;
    char *v = NULL;
    /* An input the worker also writes (a repartition topic) is its own: prefixed too. */
    for (size_t i = 0; i < s->input_count; i++) {
        for (size_t j = 0; j < s->output_count; j++) {
            const char *eq = strchr(s->outputs[j], '=');
            if (strcmp(eq != NULL ? eq + 1 : s->outputs[j], s->inputs[i]) == 0) {
                if (asprintf(&v, "%s%s", pre, s->inputs[i]) < 0 || own(s, v) == NULL) {
                    return -1;
                }
                ((const char **)s->inputs)[i] = v;
                break;
            }
        }
    }
    if (s->pipeline != NULL) {
        if (asprintf(&v, "%s%s", pre, s->pipeline) < 0 || own(s, v) == NULL) {
            return -1;
        }
        s->pipeline = v;
    }
    for (size_t i = 0; i < s->output_count; i++) {
        const char *eq = strchr(s->outputs[i], '=');
        int n = eq != NULL ? (int)(eq - s->outputs[i]) + 1 : 0;
        if (asprintf(&v, "%.*s%s%s", n, s->outputs[i], pre, s->outputs[i] + n) < 0 ||
            own(s, v) == NULL) {
            return -1;
        }
        ((const char **)s->outputs)[i] = v;
    }
    const char **named[] = {&s->dlq_topic, &s->fates_topic};
    for (size_t i = 0; i < 2; i++) {
        if (*named[i] != NULL) {
            if (asprintf(&v, "%s%s", pre, *named[i]) < 0 || own(s, v) == NULL) {
                return -1;
            }
            *named[i] = v;
        }
    }
    return 0;
}

int bc_runtime_settings_parse(struct bc_runtime_settings *s, const struct bc_stage *stage,
                              int argc, char **argv, char *errstr, size_t errstr_size)
{
    memset(s, 0, sizeof(*s));
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            usage(stage, stdout);
            return 1;
        }
        if (strcmp(arg, "--profile") == 0 && i + 1 < argc) {
            const char *p = argv[++i];
            if (strcmp(p, "test") == 0) {
                s->test_profile = 1;
            } else if (strcmp(p, "default") != 0) {
                errf(errstr, errstr_size, "unknown profile '%s' (test, default)", p);
                goto fail;
            }
            continue;
        }
        if (i + 1 >= argc) {
            errf(errstr, errstr_size, "unknown or incomplete argument '%s'", arg);
            goto fail;
        }
        const char *v = argv[++i];
        int rc = 0;
        if (strcmp(arg, "--pipeline") == 0) {
            s->pipeline = v;
        } else if (strcmp(arg, "--worker") == 0) {
            s->worker = v;
        } else if (strcmp(arg, "--instance") == 0) {
            s->instance = v;
        } else if (strcmp(arg, "--brokers") == 0) {
            s->brokers = v;
        } else if (strcmp(arg, "--input") == 0) {
            rc = push((const char ***)&s->inputs, &s->input_count, v);
        } else if (strcmp(arg, "--output") == 0) {
            rc = push((const char ***)&s->outputs, &s->output_count, v);
        } else if (strcmp(arg, "--kafka") == 0) {
            rc = push((const char ***)&s->kafka, &s->kafka_count, v);
        } else if (strcmp(arg, "--config") == 0) {
            s->config_file = v;
        } else if (strcmp(arg, "--schemas") == 0) {
            s->schemas_dir = v;
        } else if (strcmp(arg, "--dlq") == 0) {
            s->dlq_topic = v;
        } else if (strcmp(arg, "--fates") == 0) {
            s->fates_topic = v;
        } else if (strcmp(arg, "--config-hash") == 0) {
            s->config_hash = v;
        } else if (strcmp(arg, "--commit-interval-ms") == 0) {
            rc = parse_int(v, &s->commit_interval_ms);
        } else if (strcmp(arg, "--max-batch") == 0) {
            rc = parse_int(v, &s->max_batch);
        } else if (strcmp(arg, "--max-attempts") == 0) {
            rc = parse_int(v, &s->max_attempts);
        } else if (strcmp(arg, "--tick-interval-ms") == 0) {
            rc = parse_int(v, &s->tick_interval_ms);
        } else if (strcmp(arg, "--commit-overlap") == 0) {
            s->no_commit_overlap = strcmp(v, "off") == 0;
            rc = s->no_commit_overlap || strcmp(v, "on") == 0 ? 0 : -1;
        } else if (strcmp(arg, "--name-prefix") == 0) {
            s->name_prefix = v;
        } else if (strcmp(arg, "--stop-at") == 0) {
            rc = push((const char ***)&s->stop_at, &s->stop_count, v);
        } else if (strcmp(arg, "--emit-from") == 0) {
            rc = push((const char ***)&s->emit_from, &s->emit_from_count, v);
        } else if (strcmp(arg, "--emit-to") == 0) {
            rc = push((const char ***)&s->emit_to, &s->emit_to_count, v);
        } else {
            errf(errstr, errstr_size, "unknown argument '%s'", arg);
            goto fail;
        }
        if (rc != 0) {
            errf(errstr, errstr_size, "bad value '%s' for %s", v, arg);
            goto fail;
        }
    }
    if (s->config_file != NULL && settings_from_config(s, errstr, errstr_size) != 0) {
        goto fail;
    }
    if (s->name_prefix != NULL && apply_name_prefix(s) != 0) {
        errf(errstr, errstr_size, "out of memory");
        goto fail;
    }
    return 0;
fail:
    bc_runtime_settings_free(s);
    return -1;
}

void bc_runtime_settings_free(struct bc_runtime_settings *s)
{
    free((void *)s->inputs);
    free((void *)s->outputs);
    free((void *)s->kafka);
    free((void *)s->stop_at);
    free((void *)s->emit_from);
    free((void *)s->emit_to);
    s->stop_at = s->emit_from = s->emit_to = NULL;
    s->stop_count = s->emit_from_count = s->emit_to_count = 0;
    for (size_t i = 0; i < s->owned_count; i++) {
        free(s->owned[i]);
    }
    free(s->owned);
    bc_config_destroy(s->loaded);
    s->inputs = s->outputs = s->kafka = NULL;
    s->owned = NULL;
    s->loaded = NULL;
    s->input_count = s->output_count = s->kafka_count = s->owned_count = 0;
}

/* ---- construction --------------------------------------------------------------------- */

static int resolve_options(struct bc_runtime *rt, char *errstr, size_t errstr_size)
{
    const struct bc_worker_type *type = rt->stage->type;
    if (type == NULL || rt->settings.options != NULL) {
        return 0;
    }
    /* Started from flags: the type's defaults, validated like a topology's empty map. */
    struct bc_errors errs = {0};
    struct bc_check ck = {.config = NULL, .worker = NULL, .path = "options", .errs = &errs};
    rt->defaults = bc_options_validate(&ck, NULL, "options", type->options, NULL);
    if (rt->defaults == NULL || errs.n > 0) {
        errf(errstr, errstr_size, "stage %s: %s", rt->stage->name,
             errs.n > 0 ? errs.v[0].message : "options invalid");
        bc_errors_clear(&errs);
        return -1;
    }
    rt->settings.options = rt->defaults;
    return 0;
}

/* Loads the schema registry (topology schemas.dir, or --schemas) and the runtime's own
 * record schemas. Without either, the runtime writes JSON fates and raw dead letters. With
 * a registry URL the ids are the remote registry's (bc_schemas.h), registered in run(). */
static int registry_load(struct bc_runtime *rt, char *errstr, size_t errstr_size)
{
    const struct bc_runtime_settings *s = &rt->settings;
    const char *dir = s->schemas_dir;
    if (dir == NULL && s->config != NULL && s->config->schemas.dir != NULL) {
        dir = s->config->schemas.dir;
    }
    if (dir == NULL) {
        return 0;
    }
    char err[512];
    if (bc_avro_registry_load(dir, &rt->registry, err, sizeof(err)) != 0) {
        errf(errstr, errstr_size, "schemas %s: %s", dir, err);
        return -1;
    }
    rt->fate_schema = bc_avro_registry_lookup(rt->registry, "Fate");
    rt->dlq_schema = bc_avro_registry_lookup(rt->registry, "DeadLetter");
    if (rt->fate_schema != NULL && bc_avro_value_new(rt->fate_schema, &rt->fate_value) != 0) {
        rt->fate_schema = NULL;
    }
    if (rt->dlq_schema != NULL && bc_avro_value_new(rt->dlq_schema, &rt->dlq_value) != 0) {
        rt->dlq_schema = NULL;
    }
    if (rt->fate_schema == NULL || rt->dlq_schema == NULL) {
        errf(errstr, errstr_size, "schemas %s: no usable Fate or DeadLetter schema", dir);
        return -1;
    }
    if (bc_schemas_new(s->config, rt->registry, &rt->schemas, errstr, errstr_size) != 0) {
        return -1;
    }
    for (size_t i = 0; rt->schemas != NULL && i < rt->output_count; i++) {
        bc_schemas_expect_output(rt->schemas, rt->outputs[i].name, rt->outputs[i].topic);
    }
    if (rt->schemas != NULL) {
        bc_schemas_expect(rt->schemas, rt->fates_topic, "Fate");
        bc_schemas_expect(rt->schemas, rt->dlq_topic, "DeadLetter");
    }
    return 0;
}

static int runtime_stopped(void *arg)
{
    const struct bc_runtime *rt = arg;
    return rt->stop || signal_stop;
}

const struct bc_avro_registry *bc_ctx_registry(const struct bc_ctx *ctx)
{
    return ctx->rt->registry;
}

const char *bc_ctx_output_topic(const struct bc_ctx *ctx, const char *output)
{
    for (size_t i = 0; i < ctx->rt->output_count; i++) {
        if (strcmp(ctx->rt->outputs[i].name, output) == 0) {
            return ctx->rt->outputs[i].topic;
        }
    }
    return NULL;
}

void bc_ctx_expect_schema(struct bc_ctx *ctx, const char *topic, const char *schema)
{
    if (ctx->rt->schemas == NULL || topic == NULL) {
        return;
    }
    const char *pre = ctx->rt->settings.name_prefix;
    char prefixed[512];
    if (pre != NULL && strncmp(topic, pre, strlen(pre)) != 0) { /* as bc_emit_topic writes */
        snprintf(prefixed, sizeof(prefixed), "%s%s", pre, topic);
        topic = prefixed;
    }
    bc_schemas_expect(ctx->rt->schemas, topic, schema);
}

static void compute_config_hash(struct bc_runtime *rt)
{
    const struct bc_runtime_settings *s = &rt->settings;
    if (s->config_hash != NULL) {
        snprintf(rt->config_hash, sizeof(rt->config_hash), "%.16s", s->config_hash);
        return;
    }
    XXH3_state_t *st = XXH3_createState();
    if (st == NULL) {
        snprintf(rt->config_hash, sizeof(rt->config_hash), "0");
        return;
    }
    XXH3_64bits_reset(st);
#define HASH_STR(x) XXH3_64bits_update(st, (x) ? (x) : "", (x) ? strlen(x) + 1 : 1)
    HASH_STR(rt->stage->name);
    HASH_STR(s->pipeline);
    HASH_STR(s->worker);
    for (size_t i = 0; i < s->input_count; i++) {
        HASH_STR(s->inputs[i]);
    }
    for (size_t i = 0; i < s->output_count; i++) {
        HASH_STR(s->outputs[i]);
    }
#undef HASH_STR
    snprintf(rt->config_hash, sizeof(rt->config_hash), "%016" PRIx64,
             (uint64_t)XXH3_64bits_digest(st));
    XXH3_freeState(st);
}

/* Parses count TOPIC:PARTITION:OFFSET strings into *out (new; NULL when count is 0).
 * Returns 0, or -1 with errstr. */
static int bounds_parse(const char *const *list, size_t count, struct stop_bound **out,
                        const char *flag, char *errstr, size_t errstr_size)
{
    *out = NULL;
    if (count == 0) {
        return 0;
    }
    *out = calloc(count, sizeof(**out));
    if (*out == NULL) {
        errf(errstr, errstr_size, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < count; i++) {
        struct stop_bound *b = &(*out)[i];
        const char *colon = strchr(list[i], ':'); /* topic names hold no colon */
        int n = colon != NULL ? (int)(colon - list[i]) : 0;
        if (colon == NULL || n <= 0 || n >= (int)sizeof(b->topic) ||
            sscanf(colon + 1, "%" SCNd32 ":%" SCNd64, &b->partition, &b->offset) != 2 ||
            b->partition < 0 || b->offset < 0) {
            errf(errstr, errstr_size, "bad %s '%s' (TOPIC:PARTITION:OFFSET)", flag, list[i]);
            return -1;
        }
        memcpy(b->topic, list[i], (size_t)n);
        b->topic[n] = '\0';
    }
    return 0;
}

struct bc_runtime *bc_runtime_new(const struct bc_stage *stage,
                                  const struct bc_runtime_settings *settings, char *errstr,
                                  size_t errstr_size)
{
    struct bc_runtime *rt = calloc(1, sizeof(*rt));
    if (rt == NULL) {
        errf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    rt->stage = stage;
    rt->settings = *settings;
    rt->ctx.rt = rt;
    const struct bc_runtime_settings *s = &rt->settings;
    if (stage == NULL || stage->name == NULL || stage->process == NULL) {
        errf(errstr, errstr_size, "stage must have a name and process()");
        goto fail_no_fini;
    }
    if (s->pipeline == NULL || s->worker == NULL || s->instance == NULL ||
        s->input_count == 0) {
        errf(errstr, errstr_size, "--pipeline, --worker, --instance and --input are required");
        goto fail_no_fini;
    }
    if (s->brokers == NULL && s->config == NULL) {
        rt->settings.brokers = getenv("BREADCRUMB_BROKERS");
        if (rt->settings.brokers == NULL) {
            errf(errstr, errstr_size, "no brokers: use --brokers or BREADCRUMB_BROKERS");
            goto fail_no_fini;
        }
    }
    if (bounds_parse(s->stop_at, s->stop_count, &rt->bounds, "--stop-at", errstr,
                     errstr_size) != 0 ||
        bounds_parse(s->emit_from, s->emit_from_count, &rt->emit_from, "--emit-from", errstr,
                     errstr_size) != 0 ||
        bounds_parse(s->emit_to, s->emit_to_count, &rt->emit_to, "--emit-to", errstr,
                     errstr_size) != 0) {
        goto fail_no_fini;
    }
    rt->bound_count = s->stop_count;
    rt->emit_from_count = s->emit_from_count;
    rt->emit_to_count = s->emit_to_count;
    rt->live_pipeline = s->pipeline;
    if (s->name_prefix != NULL && strncmp(s->pipeline, s->name_prefix, strlen(s->name_prefix)) == 0) {
        rt->live_pipeline = s->pipeline + strlen(s->name_prefix);
    }
    snprintf(rt->worker_id, sizeof(rt->worker_id), "%s.%s", rt->live_pipeline, s->worker);
    snprintf(rt->group_id, sizeof(rt->group_id), "%s.%s", s->pipeline, s->worker);
    snprintf(rt->txn_id, sizeof(rt->txn_id), "%s.%s.%s", s->pipeline, s->worker, s->instance);
    snprintf(rt->fates_topic, sizeof(rt->fates_topic), "%s",
             s->fates_topic ? s->fates_topic : "");
    if (s->fates_topic == NULL) {
        snprintf(rt->fates_topic, sizeof(rt->fates_topic), "%s.fates", s->pipeline);
    }
    bc_runlog_id(rt->run_id);
    if (s->config != NULL) {
        char runs[256];
        snprintf(runs, sizeof(runs), "%s.runs", s->pipeline);
        const struct bc_topic *t = bc_config_topic(s->config, runs);
        if (t != NULL && !t->implicit) {
            snprintf(rt->runs_topic, sizeof(rt->runs_topic), "%s", runs);
        }
    }
    rt->commit_interval_ms = s->commit_interval_ms > 0 ? s->commit_interval_ms : 100;
    rt->max_batch = s->max_batch > 0 ? s->max_batch : 1000;
    rt->overlap = !s->no_commit_overlap;
    rt->max_attempts = s->max_attempts > 0 ? s->max_attempts : 3;
    rt->tick_interval_ms = s->tick_interval_ms > 0 ? s->tick_interval_ms : 100;

    rt->outputs = calloc(s->output_count + 1, sizeof(*rt->outputs));
    if (rt->outputs == NULL) {
        errf(errstr, errstr_size, "out of memory");
        goto fail_no_fini;
    }
    for (size_t i = 0; i < s->output_count; i++) {
        const char *eq = strchr(s->outputs[i], '=');
        if (eq == NULL || eq == s->outputs[i] || eq[1] == '\0') {
            errf(errstr, errstr_size, "output '%s' is not NAME=TOPIC", s->outputs[i]);
            goto fail_no_fini;
        }
        rt->outputs[i].name = strndup(s->outputs[i], (size_t)(eq - s->outputs[i]));
        rt->outputs[i].topic = strdup(eq + 1);
        rt->output_count++;
        if (rt->outputs[i].name == NULL || rt->outputs[i].topic == NULL) {
            errf(errstr, errstr_size, "out of memory");
            goto fail_no_fini;
        }
        if (strcmp(rt->outputs[i].name, "dlq") == 0 && s->dlq_topic == NULL) {
            snprintf(rt->dlq_topic, sizeof(rt->dlq_topic), "%s", rt->outputs[i].topic);
        }
    }
    if (s->dlq_topic != NULL) {
        snprintf(rt->dlq_topic, sizeof(rt->dlq_topic), "%s", s->dlq_topic);
    } else if (rt->dlq_topic[0] == '\0') {
        snprintf(rt->dlq_topic, sizeof(rt->dlq_topic), "%s.dlq", s->pipeline);
    }
    if (resolve_options(rt, errstr, errstr_size) != 0 ||
        registry_load(rt, errstr, errstr_size) != 0) {
        goto fail_no_fini;
    }
    compute_config_hash(rt);
    rt->worker_id_len = strlen(rt->worker_id);
    rt->instance_len = rt->settings.instance != NULL ? strlen(rt->settings.instance) : 0;
    rt->config_hash_len = strlen(rt->config_hash);
    rt->metrics = bc_rt_metrics_new(&rt->settings); /* before init: stages add counters */
    if (stage->init != NULL && stage->init(&rt->ctx) != BC_OK) {
        errf(errstr, errstr_size, "stage %s: init failed", stage->name);
        bc_runtime_destroy(rt);
        return NULL;
    }
    return rt;
fail_no_fini:
    rt->stage = NULL; /* init never ran: no fini */
    bc_runtime_destroy(rt);
    return NULL;
}

void bc_runtime_destroy(struct bc_runtime *rt)
{
    if (rt == NULL) {
        return;
    }
    if (rt->stage != NULL && rt->stage->fini != NULL) {
        rt->stage->fini(&rt->ctx);
    }
    if (rt->committing && rt->commit.thread != 0) {
        pthread_join(rt->commit.thread, NULL); /* bc_runtime_run ends every commit */
    }
    if (rt->commit.offsets != NULL) {
        rd_kafka_topic_partition_list_destroy(rt->commit.offsets);
    }
    if (rt->commit.cgmd != NULL) {
        rd_kafka_consumer_group_metadata_destroy(rt->commit.cgmd);
    }
    pending_clear(rt);
    free(rt->pending);
    free(rt->pending_bytes);
    bc_rt_metrics_destroy(rt->metrics);
    for (size_t i = 0; i < rt->handle_count; i++) {
        rd_kafka_topic_destroy(rt->handles[i].rkt);
    }
    free(rt->handles);
    if (rt->consumer != NULL) {
        rd_kafka_destroy(rt->consumer);
    }
    if (rt->producer != NULL) {
        rd_kafka_destroy(rt->producer);
    }
    if (rt->restorer != NULL) {
        rd_kafka_destroy(rt->restorer);
    }
    bc_tables_destroy(rt->tables);
    for (size_t i = 0; i < rt->output_count; i++) {
        free(rt->outputs[i].name);
        free(rt->outputs[i].topic);
    }
    free(rt->outputs);
    bc_values_destroy(rt->defaults);
    if (rt->fate_schema != NULL) {
        avro_value_decref(&rt->fate_value);
    }
    if (rt->dlq_schema != NULL) {
        avro_value_decref(&rt->dlq_value);
    }
    bc_avro_buf_free(&rt->avro_buf);
    bc_schemas_free(rt->schemas);
    bc_avro_registry_destroy(rt->registry);
    for (size_t i = 0; i < rt->store_count; i++) {
        bc_store_destroy(rt->stores[i]);
    }
    free(rt->stores);
    free(rt->parts);
    free(rt->bounds);
    free(rt->emit_from);
    free(rt->emit_to);
    free(rt);
}

struct bc_tables **bc_runtime_tables(struct bc_ctx *ctx)
{
    return &ctx->rt->tables;
}

struct bc_ctx *bc_runtime_ctx(struct bc_runtime *rt)
{
    return &rt->ctx;
}

size_t bc_runtime_store_count(const struct bc_runtime *rt)
{
    return rt->store_count;
}

const struct bc_store *bc_runtime_store(const struct bc_runtime *rt, size_t i)
{
    return i < rt->store_count ? rt->stores[i] : NULL;
}

void bc_runtime_note_behind(struct bc_runtime *rt, const char *topic, int32_t partition,
                            int64_t behind)
{
    for (size_t i = 0; i < rt->part_count; i++) {
        if (rt->parts[i].partition == partition && strcmp(rt->parts[i].topic, topic) == 0) {
            rt->parts[i].behind = behind;
        }
    }
}

int64_t bc_runtime_committed(const struct bc_runtime *rt, const char *topic, int32_t partition)
{
    for (size_t i = 0; i < rt->part_count; i++) {
        if (rt->parts[i].partition == partition && strcmp(rt->parts[i].topic, topic) == 0) {
            return rt->parts[i].committed;
        }
    }
    return -1;
}

void bc_runtime_handle_signals(struct bc_runtime *rt, int on)
{
    rt->settings.handle_signals = on;
}

void bc_runtime_stop(struct bc_runtime *rt)
{
    rt->stop = 1;
}

int bc_runtime_ready(const struct bc_runtime *rt)
{
    return rt->producer_ready && !rt->restoring;
}

void bc_runtime_stats(const struct bc_runtime *rt, struct bc_runtime_stats *stats)
{
    *stats = rt->stats;
    stats->assigned_partitions = (int)rt->part_count;
}

/* ---- Kafka clients -------------------------------------------------------------------- */

static int conf_set(rd_kafka_conf_t *conf, const char *key, const char *value, char *errstr,
                    size_t errstr_size)
{
    char err[256];
    if (rd_kafka_conf_set(conf, key, value, err, sizeof(err)) != RD_KAFKA_CONF_OK) {
        errf(errstr, errstr_size, "kafka setting %s=%s: %s", key, value, err);
        return -1;
    }
    return 0;
}

static void on_kafka_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    struct bc_runtime *rt = opaque;
    char errbuf[512];
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        rd_kafka_resp_err_t orig = rd_kafka_fatal_error(rk, errbuf, sizeof(errbuf));
        bc_log(BC_LOG_ERROR, "fatal kafka error", "client", rd_kafka_name(rk), "error",
               rd_kafka_err2name(orig), "reason", errbuf, NULL);
        if (rt->exit_code == 0) {
            rt->exit_code = BC_EXIT_FENCED;
        }
        return;
    }
    bc_log(BC_LOG_WARN, "kafka error", "client", rd_kafka_name(rk), "error",
           rd_kafka_err2name((rd_kafka_resp_err_t)err), "reason", reason, NULL);
}

/* librdkafka's own log lines, as bc_log lines (logfmt or JSON per log.format) instead of
 * its default "%<level>|<time>|<facility>|..." on stderr. Any librdkafka thread. */
static void on_kafka_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    enum bc_log_level l = level <= 3   ? BC_LOG_ERROR
                          : level == 4 ? BC_LOG_WARN
                          : level <= 6 ? BC_LOG_INFO
                                       : BC_LOG_DEBUG;
    bc_log(l, "kafka client", "client", rd_kafka_name(rk), "facility", fac, "detail", buf, NULL);
}

/* A conf with the common settings, the profile, the role's settings (key/value pairs,
 * `role_count` of them) and last the passthrough properties, which override everything. */
static rd_kafka_conf_t *conf_new(struct bc_runtime *rt, const char *role,
                                 const char *const role_settings[][2], size_t role_count,
                                 char *errstr, size_t errstr_size)
{
    const struct bc_runtime_settings *s = &rt->settings;
    if (s->config != NULL) {
        /* From the topology: bc_kafka_conf owns the exactly-once settings and the profile;
         * the restore consumer is assign-only, built on the admin role's connection
         * settings. */
        enum bc_kafka_role r = strcmp(role, "producer") == 0   ? BC_KAFKA_TXN_PRODUCER
                               : strcmp(role, "consumer") == 0 ? BC_KAFKA_CONSUMER
                                                               : BC_KAFKA_ADMIN;
        rd_kafka_conf_t *conf = bc_kafka_conf_new(s->config, s->worker_config, r,
                                                  s->instance, s->brokers, errstr, errstr_size);
        if (conf == NULL) {
            return NULL;
        }
        /* --name-prefix: bc_kafka_conf names the group and transactional.id after the
         * topology's pipeline; an audit replay must never join or fence the live ones. */
        if (s->name_prefix != NULL && r != BC_KAFKA_ADMIN &&
            (conf_set(conf, "client.id", rt->txn_id, errstr, errstr_size) != 0 ||
             (r == BC_KAFKA_CONSUMER &&
              (conf_set(conf, "group.id", rt->group_id, errstr, errstr_size) != 0 ||
               conf_set(conf, "group.instance.id", rt->txn_id, errstr, errstr_size) != 0)) ||
             (r == BC_KAFKA_TXN_PRODUCER &&
              conf_set(conf, "transactional.id", rt->txn_id, errstr, errstr_size) != 0))) {
            rd_kafka_conf_destroy(conf);
            return NULL;
        }
        if (r == BC_KAFKA_ADMIN) {
            for (size_t i = 0; i < role_count; i++) {
                if (conf_set(conf, role_settings[i][0], role_settings[i][1], errstr,
                             errstr_size) != 0) {
                    rd_kafka_conf_destroy(conf);
                    return NULL;
                }
            }
        }
        rd_kafka_conf_set_error_cb(conf, on_kafka_error);
        rd_kafka_conf_set_log_cb(conf, on_kafka_log);
        rd_kafka_conf_set_opaque(conf, rt);
        return conf;
    }
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char client_id[512];
    snprintf(client_id, sizeof(client_id), "%s.%s", rt->txn_id, role);
    if (conf_set(conf, "bootstrap.servers", s->brokers, errstr, errstr_size) != 0 ||
        conf_set(conf, "client.id", client_id, errstr, errstr_size) != 0) {
        goto fail;
    }
    if (s->test_profile) {
        /* KAFKA.md: a killed member otherwise stalls its group for 45 s and read_committed
         * readers for up to transaction.timeout.ms. */
        static const char *const consumer_profile[][2] = {
            {"session.timeout.ms", "6000"},
            {"heartbeat.interval.ms", "500"},
            {"max.poll.interval.ms", "30000"},
        };
        static const char *const common_profile[][2] = {
            {"socket.connection.setup.timeout.ms", "5000"},
            {"reconnect.backoff.max.ms", "1000"},
        };
        for (size_t i = 0; i < sizeof(common_profile) / sizeof(common_profile[0]); i++) {
            if (conf_set(conf, common_profile[i][0], common_profile[i][1], errstr,
                         errstr_size) != 0) {
                goto fail;
            }
        }
        if (strcmp(role, "producer") == 0) {
            if (conf_set(conf, "transaction.timeout.ms", "10000", errstr, errstr_size) != 0) {
                goto fail;
            }
        } else if (strcmp(role, "consumer") == 0) {
            for (size_t i = 0; i < sizeof(consumer_profile) / sizeof(consumer_profile[0]); i++) {
                if (conf_set(conf, consumer_profile[i][0], consumer_profile[i][1], errstr,
                             errstr_size) != 0) {
                    goto fail;
                }
            }
        }
    }
    for (size_t i = 0; i < role_count; i++) {
        if (conf_set(conf, role_settings[i][0], role_settings[i][1], errstr, errstr_size) != 0) {
            goto fail;
        }
    }
    for (size_t i = 0; i < s->kafka_count; i++) {
        char key[256];
        const char *eq = strchr(s->kafka[i], '=');
        if (eq == NULL || (size_t)(eq - s->kafka[i]) >= sizeof(key)) {
            errf(errstr, errstr_size, "kafka setting '%s' is not KEY=VALUE", s->kafka[i]);
            goto fail;
        }
        snprintf(key, sizeof(key), "%.*s", (int)(eq - s->kafka[i]), s->kafka[i]);
        if (conf_set(conf, key, eq + 1, errstr, errstr_size) != 0) {
            goto fail;
        }
    }
    rd_kafka_conf_set_error_cb(conf, on_kafka_error);
    rd_kafka_conf_set_log_cb(conf, on_kafka_log);
    rd_kafka_conf_set_opaque(conf, rt);
    return conf;
fail:
    rd_kafka_conf_destroy(conf);
    return NULL;
}

static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *partitions, void *opaque);

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static int on_stats(rd_kafka_t *rk, char *json, size_t json_len, void *opaque)
{
    (void)rk;
    bc_rt_metrics_kafka_stats(((struct bc_runtime *)opaque)->metrics, opaque, json, json_len);
    return 0; /* librdkafka frees json */
}

static int clients_new(struct bc_runtime *rt, char *errstr, size_t errstr_size)
{
    rd_kafka_conf_t *conf = NULL;
    char err[512];

    const char *const producer[][2] = {
        {"transactional.id", rt->txn_id},
        {"partitioner", "murmur2_random"},
        {"linger.ms", "5"},
    };
    if ((conf = conf_new(rt, "producer", producer, COUNT(producer), errstr, errstr_size)) ==
        NULL) {
        goto fail;
    }
    rt->producer = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    if (rt->producer == NULL) {
        errf(errstr, errstr_size, "producer: %s", err);
        goto fail;
    }
    conf = NULL; /* owned by the producer */

    const char *const consumer[][2] = {
        {"group.id", rt->group_id},
        {"group.instance.id", rt->txn_id},
        {"isolation.level", "read_committed"},
        {"enable.auto.commit", "false"},
        {"enable.auto.offset.store", "false"},
        {"auto.offset.reset", "earliest"},
        {"partition.assignment.strategy", "range"},
    };
    if ((conf = conf_new(rt, "consumer", consumer, COUNT(consumer), errstr, errstr_size)) ==
        NULL) {
        goto fail;
    }
    rd_kafka_conf_set_rebalance_cb(conf, on_rebalance);
    rd_kafka_conf_set_stats_cb(conf, on_stats); /* consumer lag for the metrics */
    if (conf_set(conf, "statistics.interval.ms", "1000", errstr, errstr_size) != 0) {
        goto fail;
    }
    rt->consumer = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
    if (rt->consumer == NULL) {
        errf(errstr, errstr_size, "consumer: %s", err);
        goto fail;
    }
    conf = NULL;
    rd_kafka_poll_set_consumer(rt->consumer);

    if (rt->store_count > 0) {
        /* Assign-only (never joins or commits), but librdkafka's assign needs a group id. */
        char restore_group[300];
        snprintf(restore_group, sizeof(restore_group), "%s.restore", rt->group_id);
        const char *const restore[][2] = {
            {"group.id", restore_group},
            {"isolation.level", "read_committed"},
            {"enable.auto.commit", "false"},
            {"enable.partition.eof", "true"},
            {"auto.offset.reset", "earliest"},
            /* A changelog partition ends in a commit marker, which is never delivered: the
             * restore ends on the partition EOF, which waits out a fetch at the end. The
             * default 500 ms made every restore take about 1 s per partition. */
            {"fetch.wait.max.ms", "10"},
        };
        if ((conf = conf_new(rt, "restore", restore, COUNT(restore), errstr, errstr_size)) ==
            NULL) {
            goto fail;
        }
        rt->restorer = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
        if (rt->restorer == NULL) {
            errf(errstr, errstr_size, "restore consumer: %s", err);
            goto fail;
        }
        conf = NULL;
        rd_kafka_poll_set_consumer(rt->restorer);
    }
    return 0;
fail:
    if (conf != NULL) {
        rd_kafka_conf_destroy(conf);
    }
    return -1;
}

/* ---- transactions --------------------------------------------------------------------- */

/* Classifies a failed transactional call: 1 abortable, 0 retriable, -1 fatal. Consumes the
 * error. Touches no runtime state (the commit thread calls it too). */
static int txn_classify(rd_kafka_error_t *error, const char *what)
{
    int rc;
    if (rd_kafka_error_is_fatal(error)) {
        rc = -1;
    } else if (rd_kafka_error_txn_requires_abort(error)) {
        rc = 1;
    } else if (rd_kafka_error_is_retriable(error)) {
        rc = 0;
    } else {
        rc = 1;
    }
    bc_log(rc < 0 ? BC_LOG_ERROR : BC_LOG_WARN, "transaction call failed", "call", what,
           "error", rd_kafka_error_name(error), "reason", rd_kafka_error_string(error),
           "action", rc < 0 ? "exit" : rc == 0 ? "retry" : "abort", NULL);
    rd_kafka_error_destroy(error);
    return rc;
}

/* txn_classify on the loop's thread: a fatal error sets the exit code. */
static int txn_error(struct bc_runtime *rt, rd_kafka_error_t *error, const char *what)
{
    int rc = txn_classify(error, what);
    if (rc < 0) {
        rt->exit_code = BC_EXIT_FENCED;
    }
    return rc;
}

/* begin_transaction for the open transaction. Returns 0, or -1 (need_rewind set unless
 * fatal). */
static int txn_begin(struct bc_runtime *rt)
{
    rd_kafka_error_t *error = rd_kafka_begin_transaction(rt->producer);
    if (error != NULL) {
        if (txn_error(rt, error, "begin_transaction") >= 0) {
            rt->need_rewind = 1;
        }
        return -1;
    }
    rt->txn_begun = 1;
    return 0;
}

/* Opens a transaction when none is open. While the previous one commits, the new one is
 * opened in the runtime only: its writes wait in pending until txn_begin_pending. Returns
 * 0, or -1 (fatal, or must abort first). */
static int txn_ensure(struct bc_runtime *rt)
{
    if (rt->txn_open) {
        return rt->txn_failed ? -1 : 0;
    }
    if (rt->exit_code != 0 || !rt->producer_ready) {
        return -1;
    }
    rt->txn_begun = 0;
    if (!rt->committing && txn_begin(rt) != 0) {
        return -1;
    }
    rt->txn_open = 1;
    rt->txn_failed = 0;
    rt->txn_records = 0;
    rt->txn_started_ms = now_ms();
    return 0;
}

/* ---- writes waiting for the previous commit ------------------------------------------- */

static size_t pending_put(struct bc_runtime *rt, const void *data, size_t len)
{
    if (rt->pending_len + len > rt->pending_bytes_cap) {
        size_t cap = rt->pending_bytes_cap ? rt->pending_bytes_cap : 1 << 20;
        while (cap < rt->pending_len + len) {
            cap *= 2;
        }
        unsigned char *b = realloc(rt->pending_bytes, cap);
        if (b == NULL) {
            return SIZE_MAX;
        }
        rt->pending_bytes = b;
        rt->pending_bytes_cap = cap;
    }
    size_t at = rt->pending_len;
    if (len > 0) {
        memcpy(rt->pending_bytes + at, data, len);
    }
    rt->pending_len += len;
    return at;
}

/* Keeps one write of a transaction not begun yet; takes hdrs (NULL: none). Returns 0, or
 * -1 out of memory (hdrs destroyed). */
static int pending_add(struct bc_runtime *rt, const char *topic, int32_t partition,
                       const void *key, size_t key_len, const void *value, size_t value_len,
                       int64_t timestamp, rd_kafka_headers_t *hdrs)
{
    if (rt->pending_count == rt->pending_cap) {
        size_t cap = rt->pending_cap ? rt->pending_cap * 2 : 1024;
        struct pending_write *w = realloc(rt->pending, cap * sizeof(*w));
        if (w == NULL) {
            goto fail;
        }
        rt->pending = w;
        rt->pending_cap = cap;
    }
    struct pending_write *w = &rt->pending[rt->pending_count];
    w->topic = pending_put(rt, topic, strlen(topic) + 1);
    w->key = pending_put(rt, key, key != NULL ? key_len : 0);
    w->value = pending_put(rt, value, value != NULL ? value_len : 0);
    if (w->topic == SIZE_MAX || w->key == SIZE_MAX || w->value == SIZE_MAX) {
        goto fail;
    }
    w->has_key = key != NULL;
    w->key_len = key != NULL ? key_len : 0;
    w->has_value = value != NULL;
    w->value_len = value != NULL ? value_len : 0;
    w->partition = partition;
    w->timestamp = timestamp;
    w->hdrs = hdrs;
    rt->pending_count++;
    return 0;
fail:
    if (hdrs != NULL) {
        rd_kafka_headers_destroy(hdrs);
    }
    return -1;
}

static void pending_clear(struct bc_runtime *rt)
{
    for (size_t i = 0; i < rt->pending_count; i++) {
        if (rt->pending[i].hdrs != NULL) {
            rd_kafka_headers_destroy(rt->pending[i].hdrs);
        }
    }
    rt->pending_count = 0;
    rt->pending_len = 0;
}

/* The producer's handle for topic, made at its first write (or by producer_warm) and kept;
 * NULL when there is none (no room left, or librdkafka refuses the name: the write then goes by name and
 * fails the same way). */
static rd_kafka_topic_t *producer_topic(struct bc_runtime *rt, const char *topic)
{
    for (size_t i = 0; i < rt->handle_count; i++) {
        if (strcmp(rt->handles[i].name, topic) == 0) {
            return rt->handles[i].rkt;
        }
    }
    if (rt->handle_count == TOPIC_HANDLES) {
        return NULL;
    }
    if (rt->handles == NULL &&
        (rt->handles = calloc(TOPIC_HANDLES, sizeof(*rt->handles))) == NULL) {
        return NULL;
    }
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rt->producer, topic, NULL);
    if (rkt == NULL) {
        return NULL;
    }
    rt->handles[rt->handle_count].name = rd_kafka_topic_name(rkt);
    rt->handles[rt->handle_count].rkt = rkt;
    rt->handle_count++;
    return rkt;
}

/* One producev with the runtime's flags, waiting while librdkafka's queue is full. Takes
 * hdrs on success only. */
static rd_kafka_resp_err_t producer_write(struct bc_runtime *rt, const char *topic,
                                          int32_t partition, const void *key, size_t key_len,
                                          const void *value, size_t value_len,
                                          int64_t timestamp, rd_kafka_headers_t *hdrs)
{
    rd_kafka_topic_t *rkt = producer_topic(rt, topic);
    for (;;) {
        /* NULL headers: none (librdkafka's default). */
        rd_kafka_resp_err_t err =
            rkt != NULL
                ? rd_kafka_producev(
                      rt->producer, RD_KAFKA_V_RKT(rkt), RD_KAFKA_V_PARTITION(partition),
                      RD_KAFKA_V_KEY(key, key_len), RD_KAFKA_V_VALUE((void *)value, value_len),
                      RD_KAFKA_V_TIMESTAMP(timestamp > 0 ? timestamp : 0),
                      RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                      RD_KAFKA_V_END)
                : rd_kafka_producev(
                      rt->producer, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(partition),
                      RD_KAFKA_V_KEY(key, key_len), RD_KAFKA_V_VALUE((void *)value, value_len),
                      RD_KAFKA_V_TIMESTAMP(timestamp > 0 ? timestamp : 0),
                      RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                      RD_KAFKA_V_END);
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            return err;
        }
        rd_kafka_poll(rt->producer, 10);
    }
}

/* A write of the open transaction: to the producer, or kept while the transaction waits for
 * the previous commit. Takes hdrs. Returns 0, or -1 (logged; the transaction must abort). */
static int txn_write(struct bc_runtime *rt, const char *topic, int32_t partition,
                     const void *key, size_t key_len, const void *value, size_t value_len,
                     int64_t timestamp, rd_kafka_headers_t *hdrs)
{
    if (!rt->txn_begun) {
        if (pending_add(rt, topic, partition, key, key_len, value, value_len, timestamp,
                        hdrs) == 0) {
            return 0;
        }
        bc_log(BC_LOG_WARN, "write failed", "topic", topic, "error", "out of memory", NULL);
        rt->txn_failed = 1;
        return -1;
    }
    rd_kafka_resp_err_t err =
        producer_write(rt, topic, partition, key, key_len, value, value_len, timestamp, hdrs);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        if (hdrs != NULL) {
            rd_kafka_headers_destroy(hdrs); /* not consumed on failure */
        }
        bc_log(BC_LOG_WARN, "produce failed", "topic", topic, "error", rd_kafka_err2name(err),
               NULL);
        rt->txn_failed = 1;
        return -1;
    }
    return 0;
}

/* Begins the open transaction whose writes waited for the previous commit, and hands them
 * to the producer in order. Returns 0, or -1 (need_rewind set unless fatal). */
static int txn_begin_pending(struct bc_runtime *rt)
{
    if (!rt->txn_open || rt->txn_begun) {
        return 0;
    }
    if (txn_begin(rt) != 0) {
        return -1;
    }
    for (size_t i = 0; i < rt->pending_count && !rt->txn_failed; i++) {
        struct pending_write *w = &rt->pending[i];
        rd_kafka_headers_t *hdrs = w->hdrs;
        w->hdrs = NULL;
        txn_write(rt, (const char *)rt->pending_bytes + w->topic, w->partition,
                  w->has_key ? rt->pending_bytes + w->key : NULL, w->key_len,
                  w->has_value ? rt->pending_bytes + w->value : NULL, w->value_len,
                  w->timestamp, hdrs);
    }
    pending_clear(rt);
    return 0;
}

/* Aborts the producer's transaction. Returns 0, or -1 when fatal. */
static int producer_abort(struct bc_runtime *rt)
{
    for (int tries = 0; tries < 10; tries++) {
        rd_kafka_error_t *error = rd_kafka_abort_transaction(rt->producer, TXN_TIMEOUT_MS);
        if (error == NULL) {
            rt->stats.aborts++;
            return 0;
        }
        if (txn_error(rt, error, "abort_transaction") < 0) {
            return -1;
        }
    }
    rt->exit_code = BC_EXIT_FENCED;
    return -1;
}

/* Aborts the open transaction (one not begun yet only drops its waiting writes). Returns
 * 0, or -1 when fatal. */
static int txn_abort(struct bc_runtime *rt)
{
    pending_clear(rt);
    if (!rt->txn_open) {
        return 0;
    }
    if (rt->txn_begun && producer_abort(rt) != 0) {
        return -1;
    }
    rt->txn_open = 0;
    rt->txn_failed = 0;
    return 0;
}

/* Whether every record polled from p since its (re)start was processed and the stage holds
 * none: the consumer's position past p->next then only skipped what is never delivered. */
static int part_caught_up(const struct part *p)
{
    return p->next >= 0 && p->delivered == p->next && p->hold < 0;
}

/* Sets p->position of every caught-up part to the consumer's position when that is past
 * p->next (else -1). The records between are transaction markers and aborted records: when
 * transactions of several producers interleave on a partition, it ends in several markers,
 * and an offset after the last record delivered would stay that many short of the end. */
static void parts_position(struct bc_runtime *rt)
{
    rd_kafka_topic_partition_list_t *list =
        rd_kafka_topic_partition_list_new((int)rt->part_count + 1);
    for (size_t i = 0; i < rt->part_count; i++) {
        struct part *p = &rt->parts[i];
        p->position = -1;
        if (part_caught_up(p)) {
            rd_kafka_topic_partition_list_add(list, p->topic, p->partition);
        }
    }
    if (list->cnt > 0 && rd_kafka_position(rt->consumer, list) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        int k = 0;
        for (size_t i = 0; i < rt->part_count && k < list->cnt; i++) {
            struct part *p = &rt->parts[i];
            if (!part_caught_up(p)) {
                continue;
            }
            const rd_kafka_topic_partition_t *e = &list->elems[k++];
            if (e->err == RD_KAFKA_RESP_ERR_NO_ERROR && e->offset > p->next) {
                p->position = e->offset;
            }
        }
    }
    rd_kafka_topic_partition_list_destroy(list);
}

/* The offsets to commit: per processed partition the next record to process, or the
 * consumer's position past the markers after it (parts_position), or what the stage holds. */
static void part_offset_list(struct bc_runtime *rt, rd_kafka_topic_partition_list_t *list)
{
    parts_position(rt);
    for (size_t i = 0; i < rt->part_count; i++) {
        struct part *p = &rt->parts[i];
        int64_t off = p->next;
        if (off < 0) {
            continue;
        }
        if (p->position > off) {
            off = p->position;
        }
        if (p->hold >= 0 && p->hold < off) {
            off = p->hold;
        }
        rd_kafka_topic_partition_list_add(list, p->topic, p->partition)->offset = off;
    }
}

/* Before a commit: expires old entries, then writes what changed in the stores during the
 * transaction to their changelogs (write-back). */
static void stores_flush(struct bc_runtime *rt)
{
    for (size_t i = 0; i < rt->part_count; i++) {
        for (size_t s = 0; s < rt->store_count; s++) {
            bc_store_expire(rt->stores[s], rt->parts[i].partition, rt->parts[i].stream_time);
        }
    }
    for (size_t s = 0; s < rt->store_count; s++) {
        if (bc_store_flush(rt->stores[s]) != 0) {
            rt->txn_failed = 1;
        }
    }
}

/* The commit itself: the offsets into the transaction, then commit_transaction. Runs on
 * the commit thread (or inline); touches only the job and the producer. */
static void commit_run(struct commit_job *job)
{
    int rc = 0;
    if (job->cgmd != NULL) {
        for (int tries = 0;; tries++) {
            rd_kafka_error_t *error = rd_kafka_send_offsets_to_transaction(
                job->producer, job->offsets, job->cgmd, TXN_TIMEOUT_MS);
            if (error == NULL) {
                break;
            }
            rc = txn_classify(error, "send_offsets_to_transaction");
            if (rc == 0 && tries + 1 >= TXN_RETRIES) {
                rc = 1; /* still retriable after so long: abort, rewind and start over */
            }
            if (rc != 0) {
                break;
            }
        }
    }
    /* A retriable commit failure (e.g. a timeout) leaves the outcome open: only calling
     * commit_transaction again settles it (librdkafka's contract), so no bound here. */
    while (rc == 0) {
        rd_kafka_error_t *error = rd_kafka_commit_transaction(job->producer, TXN_TIMEOUT_MS);
        if (error == NULL) {
            break;
        }
        rc = txn_classify(error, "commit_transaction");
    }
    job->rc = rc;
    __atomic_store_n(&job->done, 1, __ATOMIC_RELEASE);
}

static void *commit_thread_main(void *arg)
{
    commit_run(arg);
    return NULL;
}

/* Ends the running commit (joins the commit thread) and applies its outcome: committed
 * offsets and counters, or the abort (the transaction opened meanwhile, not begun, is
 * dropped with it). Returns 0 committed (or none running), 1 aborted (the caller rewinds),
 * -1 fatal. */
static int txn_commit_finish(struct bc_runtime *rt)
{
    if (!rt->committing) {
        return 0;
    }
    struct commit_job *job = &rt->commit;
    if (job->thread != 0) {
        pthread_join(job->thread, NULL);
        job->thread = 0;
    }
    rt->committing = 0;
    int rc = job->rc;
    if (rc == 0) {
        rt->stats.commits++;
        bc_rt_metrics_committed(rt->metrics, (double)(now_ms() - job->started_ms) / 1000.0);
        rt->stats.committed += (uint64_t)job->records;
        for (int i = 0; i < job->offsets->cnt; i++) {
            for (size_t j = 0; j < rt->part_count; j++) {
                struct part *p = &rt->parts[j];
                if (p->partition == job->offsets->elems[i].partition &&
                    strcmp(p->topic, job->offsets->elems[i].topic) == 0) {
                    p->committed = job->offsets->elems[i].offset;
                }
            }
        }
    } else {
        /* The failed transaction is the producer's current one: abort it, and drop the
         * one opened meanwhile (its records are processed again after the rewind). */
        rt->stats.waiting_dropped += rt->pending_count;
        pending_clear(rt);
        rt->txn_open = 0;
        rt->txn_failed = 0;
        if (rc < 0) {
            rt->exit_code = BC_EXIT_FENCED;
        } else {
            rc = producer_abort(rt) == 0 ? 1 : -1;
        }
    }
    rd_kafka_topic_partition_list_destroy(job->offsets);
    job->offsets = NULL;
    if (job->cgmd != NULL) {
        rd_kafka_consumer_group_metadata_destroy(job->cgmd);
        job->cgmd = NULL;
    }
    return rc;
}

/* Starts committing the open, begun transaction with the input offsets: on the commit
 * thread when `overlap` (the loop goes on; txn_commit_finish ends it), else inline and
 * finished. Returns 0 (started or committed), 1 when it had to be aborted (caller rewinds),
 * -1 when fatal. */
static int txn_commit_start(struct bc_runtime *rt, int overlap)
{
    if (rt->txn_failed) {
        return txn_abort(rt) == 0 ? 1 : -1;
    }
    stores_flush(rt);
    if (rt->txn_failed) {
        return txn_abort(rt) == 0 ? 1 : -1;
    }
    struct commit_job *job = &rt->commit;
    job->started_ms = now_ms();
    job->records = rt->txn_records;
    job->producer = rt->producer;
    job->offsets = rd_kafka_topic_partition_list_new((int)rt->part_count + 1);
    part_offset_list(rt, job->offsets);
    job->cgmd = job->offsets->cnt > 0 ? rd_kafka_consumer_group_metadata(rt->consumer) : NULL;
    job->rc = 0;
    job->done = 0;
    job->thread = 0;
    rt->txn_open = 0;
    rt->txn_begun = 0;
    rt->committing = 1;
    if (overlap && pthread_create(&job->thread, NULL, commit_thread_main, job) == 0) {
        return 0;
    }
    job->thread = 0;
    commit_run(job);
    return txn_commit_finish(rt);
}

/* Settles the running commit, if any, and begins the transaction opened meanwhile with its
 * waiting writes. Returns 0, 1 (aborted: caller rewinds), or -1 (fatal). */
static int txn_settle(struct bc_runtime *rt)
{
    int rc = txn_commit_finish(rt);
    if (rc != 0) {
        return rc;
    }
    if (txn_begin_pending(rt) != 0) {
        return rt->exit_code != 0 ? -1 : 1;
    }
    return 0;
}

/* Commits the open transaction and waits for it (after the one still committing, if any).
 * Returns 0 when committed (or none open), 1 when it had to be aborted (caller rewinds),
 * -1 when fatal. */
static int txn_commit(struct bc_runtime *rt)
{
    int rc = txn_settle(rt);
    if (rc != 0 || !rt->txn_open) {
        return rc;
    }
    return txn_commit_start(rt, 0);
}

/* Between transactions: when the consumer's position of a caught-up partition moved past its
 * committed offset without a record (markers or an aborted transaction came after the last
 * commit), commits the offsets in a transaction of their own, so that the group's lag ends
 * at 0. Returns txn_commit's result, or 0 when there is nothing to commit. */
static int commit_skipped(struct bc_runtime *rt)
{
    if (rt->committing) {
        return 0; /* the committed offsets are not known yet */
    }
    parts_position(rt);
    int due = 0;
    for (size_t i = 0; i < rt->part_count && !due; i++) {
        due = rt->parts[i].position > rt->parts[i].committed;
    }
    if (!due || txn_ensure(rt) != 0) {
        return 0;
    }
    return txn_commit(rt);
}

/* ---- stores: changelog writes and restores ------------------------------------------- */

static int store_log(void *opaque, const struct bc_store *store, int32_t partition,
                     const void *key, size_t key_len, const void *value, size_t value_len,
                     int64_t ts)
{
    struct bc_runtime *rt = opaque;
    if (rt->restoring) {
        return 0;
    }
    if (txn_ensure(rt) != 0) {
        return -1;
    }
    return txn_write(rt, bc_store_changelog(store), partition, key, key_len, value, value_len,
                     ts, NULL);
}

/* A store changed (write-back): its changelog records are written when the transaction
 * commits, so one must be open. */
static void store_dirty(void *opaque)
{
    struct bc_runtime *rt = opaque;
    if (!rt->restoring) {
        txn_ensure(rt);
    }
}

/* Rebuilds the store's table for one partition from its changelog partition, reading
 * read_committed until the position reaches the end offset queried at the start (the LSO
 * for a read_committed client). The last offset may be a transaction marker that is never
 * delivered, so a partition EOF at or past the end offset also ends the restore. */
static int store_restore(struct bc_runtime *rt, struct bc_store *store, int32_t partition)
{
    const char *topic = bc_store_changelog(store);
    int64_t lo = 0, hi = 0;
    rd_kafka_resp_err_t err =
        rd_kafka_query_watermark_offsets(rt->restorer, topic, partition, &lo, &hi, 10000);
    if (err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) {
        return 0; /* no changelog yet: empty store */
    }
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        bc_log(BC_LOG_ERROR, "changelog end offset unknown", "topic", topic, "error",
               rd_kafka_err2name(err), NULL);
        return -1;
    }
    if (hi <= lo) {
        return 0;
    }
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(list, topic, partition)->offset = RD_KAFKA_OFFSET_BEGINNING;
    err = rd_kafka_assign(rt->restorer, list);
    rd_kafka_topic_partition_list_destroy(list);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        bc_log(BC_LOG_ERROR, "changelog assign failed", "topic", topic, "error",
               rd_kafka_err2name(err), NULL);
        return -1;
    }
    int rc = -1;
    int64_t deadline = now_ms() + RESTORE_TIMEOUT_MS;
    uint64_t applied = 0;
    while (now_ms() < deadline && rt->exit_code == 0) {
        rd_kafka_message_t *msg = rd_kafka_consumer_poll(rt->restorer, 200);
        if (msg == NULL) {
            continue;
        }
        if (msg->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            int64_t eof = msg->offset;
            rd_kafka_message_destroy(msg);
            if (eof >= hi) {
                rc = 0;
                break;
            }
            continue;
        }
        if (msg->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            bc_log(BC_LOG_WARN, "changelog read error", "topic", topic, "error",
                   rd_kafka_err2name(msg->err), NULL);
            rd_kafka_message_destroy(msg);
            continue;
        }
        int64_t ts = rd_kafka_message_timestamp(msg, NULL);
        int64_t offset = msg->offset;
        if (bc_store_restore_record(store, partition, msg->key, msg->key_len, msg->payload,
                                    msg->len, ts) != 0) {
            rd_kafka_message_destroy(msg);
            break;
        }
        applied++;
        rd_kafka_message_destroy(msg);
        if (offset + 1 >= hi) {
            rc = 0;
            break;
        }
    }
    rd_kafka_assign(rt->restorer, NULL);
    rt->stats.restored += applied;
    if (rc != 0) {
        bc_log(BC_LOG_ERROR, "changelog restore failed", "topic", topic, NULL);
    }
    return rc;
}

/* ---- partitions ----------------------------------------------------------------------- */

static struct part *part_find(struct bc_runtime *rt, const char *topic, int32_t partition)
{
    struct part *p = rt->last_part;
    if (p != NULL && p->partition == partition && strcmp(p->topic, topic) == 0) {
        return p;
    }
    for (size_t i = 0; i < rt->part_count; i++) {
        p = &rt->parts[i];
        if (p->partition == partition && strcmp(p->topic, topic) == 0) {
            rt->last_part = p;
            return p;
        }
    }
    return NULL;
}

static const char *input_topic(struct bc_runtime *rt, const char *topic)
{
    for (size_t i = 0; i < rt->settings.input_count; i++) {
        if (strcmp(rt->settings.inputs[i], topic) == 0) {
            return rt->settings.inputs[i];
        }
    }
    return NULL;
}

/* Whether parts[i] is the first part with its partition number (stores and stage
 * callbacks are per partition number, over all input topics). */
static int part_first_of_number(const struct bc_runtime *rt, size_t i)
{
    for (size_t j = 0; j < i; j++) {
        if (rt->parts[j].partition == rt->parts[i].partition) {
            return 0;
        }
    }
    return 1;
}

/* Drops the stage's and the stores' state of every assigned partition. */
static int state_drop(struct bc_runtime *rt)
{
    int rc = BC_OK;
    for (size_t i = 0; i < rt->part_count; i++) {
        if (!part_first_of_number(rt, i)) {
            continue;
        }
        int32_t partition = rt->parts[i].partition;
        if (rt->stage->revoked != NULL && rt->stage->revoked(&rt->ctx, partition) == BC_FATAL) {
            rc = BC_FATAL;
        }
        for (size_t s = 0; s < rt->store_count; s++) {
            bc_store_drop_partition(rt->stores[s], partition);
        }
    }
    return rc;
}

/* Restores the stores of every assigned partition, then calls assigned(). */
static int state_restore(struct bc_runtime *rt)
{
    rt->restoring = 1;
    bc_rt_metrics_restoring(rt->metrics);
    int64_t restore_started = now_ms();
    int rc = BC_OK;
    for (size_t i = 0; i < rt->part_count && rc == BC_OK; i++) {
        struct part *p = &rt->parts[i];
        p->stream_time = -1;
        for (size_t s = 0; s < rt->store_count; s++) {
            if (part_first_of_number(rt, i) && store_restore(rt, rt->stores[s], p->partition) != 0) {
                rc = BC_FATAL;
                break;
            }
            int64_t max = bc_store_max_ts(rt->stores[s], p->partition);
            if (max > p->stream_time) {
                p->stream_time = max;
            }
        }
    }
    rt->restoring = 0;
    bc_rt_metrics_restored(rt->metrics, (double)(now_ms() - restore_started) / 1000.0);
    for (size_t i = 0; i < rt->part_count && rc == BC_OK; i++) {
        if (part_first_of_number(rt, i) && rt->stage->assigned != NULL) {
            int r = rt->stage->assigned(&rt->ctx, rt->parts[i].partition);
            if (r == BC_FATAL) {
                rc = BC_FATAL;
            }
        }
    }
    return rc;
}

/* Abort-and-rewind: abort the open transaction, drop and restore state, seek every
 * assigned partition back to its committed offset. Returns 0, or -1 when the run must end. */
static int rewind_all(struct bc_runtime *rt)
{
    rt->need_rewind = 0;
    /* The commit still running ends first: when it succeeds, the rewind goes back to the
     * offsets it committed. */
    if (txn_commit_finish(rt) < 0 || txn_abort(rt) != 0) {
        return -1;
    }
    rt->stats.rewinds++;
    if (state_drop(rt) == BC_FATAL) {
        rt->exit_code = BC_EXIT_STAGE;
        return -1;
    }
    rd_kafka_topic_partition_list_t *list =
        rd_kafka_topic_partition_list_new((int)rt->part_count + 1);
    for (size_t i = 0; i < rt->part_count; i++) {
        struct part *p = &rt->parts[i];
        rd_kafka_topic_partition_list_add(list, p->topic, p->partition)->offset =
            p->committed >= 0 ? p->committed : RD_KAFKA_OFFSET_BEGINNING;
        p->next = -1;
        p->delivered = -1;
        p->position = -1;
        p->hold = -1;
    }
    bounds_resume(rt);
    bc_log(BC_LOG_INFO, "rewinding to committed offsets", "worker", rt->worker_id, NULL);
    rd_kafka_error_t *error = rd_kafka_seek_partitions(rt->consumer, list, TXN_TIMEOUT_MS);
    int rc = 0;
    if (error != NULL) {
        bc_log(BC_LOG_ERROR, "seek failed", "error", rd_kafka_error_string(error), NULL);
        rd_kafka_error_destroy(error);
        rc = -1;
    }
    for (int i = 0; rc == 0 && i < list->cnt; i++) {
        if (list->elems[i].err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            bc_log(BC_LOG_ERROR, "seek failed", "topic", list->elems[i].topic, "error",
                   rd_kafka_err2name(list->elems[i].err), NULL);
            rc = -1;
        }
    }
    rd_kafka_topic_partition_list_destroy(list);
    if (rc != 0) {
        rt->exit_code = BC_EXIT_ERROR;
        return -1;
    }
    if (state_restore(rt) == BC_FATAL) {
        rt->exit_code = BC_EXIT_STAGE;
        return -1;
    }
    return 0;
}

static void on_assign(struct bc_runtime *rt, rd_kafka_topic_partition_list_t *partitions)
{
    rt->stats.rebalances++;
    if (txn_commit_finish(rt) > 0) {
        bc_log(BC_LOG_WARN, "commit before assignment aborted", NULL);
    }
    /* Stable committed offsets (read_committed asks with RequireStable: waits for pending
     * transactional commits), so the changelog restored below matches them. */
    rd_kafka_resp_err_t err = rd_kafka_committed(rt->consumer, partitions, TXN_TIMEOUT_MS);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        bc_log(BC_LOG_WARN, "committed offsets unknown", "error", rd_kafka_err2name(err), NULL);
        for (int i = 0; i < partitions->cnt; i++) {
            partitions->elems[i].offset = RD_KAFKA_OFFSET_INVALID;
        }
    }
    struct part *parts = realloc(rt->parts, ((size_t)partitions->cnt + 1) * sizeof(*parts));
    if (parts == NULL) {
        rt->exit_code = BC_EXIT_ERROR;
        return;
    }
    rt->parts = parts;
    rt->part_count = 0;
    rt->last_part = NULL;
    for (int i = 0; i < partitions->cnt; i++) {
        const char *topic = input_topic(rt, partitions->elems[i].topic);
        if (topic == NULL) {
            continue;
        }
        struct part *p = &rt->parts[rt->part_count++];
        memset(p, 0, sizeof(*p));
        p->topic = topic;
        p->partition = partitions->elems[i].partition;
        p->committed = partitions->elems[i].offset >= 0 ? partitions->elems[i].offset : -1;
        p->next = -1;
        p->delivered = -1;
        p->position = -1;
        p->hold = -1;
        p->stream_time = -1;
        p->poison_offset = -1;
        p->behind = -1;
    }
    char count[16];
    snprintf(count, sizeof(count), "%d", partitions->cnt);
    bc_log(BC_LOG_INFO, "partitions assigned", "worker", rt->worker_id, "count", count, NULL);
    if (state_restore(rt) == BC_FATAL) {
        rt->exit_code = rt->exit_code ? rt->exit_code : BC_EXIT_STAGE;
    }
    rd_kafka_assign(rt->consumer, partitions);
    bounds_resume(rt);
}

static void on_revoke(struct bc_runtime *rt, int lost)
{
    if (txn_commit_finish(rt) > 0) {
        bc_log(BC_LOG_WARN, "commit before revocation aborted", NULL);
    }
    if (rt->txn_open) {
        if (lost) {
            bc_log(BC_LOG_WARN, "assignment lost: aborting", "worker", rt->worker_id, NULL);
            txn_abort(rt);
        } else if (txn_commit(rt) > 0) {
            bc_log(BC_LOG_WARN, "commit before revocation aborted", NULL);
        }
    }
    if (state_drop(rt) == BC_FATAL && rt->exit_code == 0) {
        rt->exit_code = BC_EXIT_STAGE;
    }
    rt->part_count = 0;
    rt->last_part = NULL;
    rt->need_rewind = 0;
    rd_kafka_assign(rt->consumer, NULL);
}

static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *partitions, void *opaque)
{
    struct bc_runtime *rt = opaque;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        on_assign(rt, partitions);
    } else if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) {
        on_revoke(rt, rd_kafka_assignment_lost(rk));
    } else {
        bc_log(BC_LOG_ERROR, "rebalance error", "error", rd_kafka_err2name(err), NULL);
        on_revoke(rt, 1);
    }
}

/* ---- the loop ------------------------------------------------------------------------- */

static void on_signal(int sig)
{
    (void)sig;
    signal_stop = 1;
}

/* --stop-at: whether offset is at or past its partition's end bound (then the partition is
 * paused: nothing past the bound is read again). */
static int past_bound(struct bc_runtime *rt, const char *topic, int32_t partition, int64_t offset)
{
    for (size_t i = 0; i < rt->bound_count; i++) {
        struct stop_bound *b = &rt->bounds[i];
        if (b->partition != partition || strcmp(b->topic, topic) != 0 || offset < b->offset) {
            continue;
        }
        rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(l, topic, partition);
        rd_kafka_pause_partitions(rt->consumer, l);
        rd_kafka_topic_partition_list_destroy(l);
        b->paused = 1;
        return 1;
    }
    return 0;
}

/* --stop-at: the paused partitions read again (after a rewind or a new assignment). */
static void bounds_resume(struct bc_runtime *rt)
{
    for (size_t i = 0; i < rt->bound_count; i++) {
        struct stop_bound *b = &rt->bounds[i];
        if (b->paused) {
            rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
            rd_kafka_topic_partition_list_add(l, b->topic, b->partition);
            rd_kafka_resume_partitions(rt->consumer, l);
            rd_kafka_topic_partition_list_destroy(l);
            b->paused = 0;
        }
    }
}

/* --stop-at: every bounded partition processed up to its bound, and no transaction open
 * (so all of it committed, but what the stage holds). Processed up to the bound: its
 * committed offset is there, or a record at or past it was read (the partition is paused),
 * or the consumer's position is there (the bound is the end of the partition, after a
 * transaction marker that no record follows). */
static int bounds_reached(struct bc_runtime *rt)
{
    if (rt->bound_count == 0 || rt->txn_open || rt->committing || rt->part_count == 0) {
        return 0;
    }
    rd_kafka_topic_partition_list_t *pos =
        rd_kafka_topic_partition_list_new((int)rt->bound_count);
    for (size_t i = 0; i < rt->bound_count; i++) {
        rd_kafka_topic_partition_list_add(pos, rt->bounds[i].topic, rt->bounds[i].partition);
    }
    if (rd_kafka_position(rt->consumer, pos) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        rd_kafka_topic_partition_list_destroy(pos);
        return 0;
    }
    int reached = 1;
    for (size_t i = 0; i < rt->bound_count && reached; i++) {
        const struct stop_bound *b = &rt->bounds[i];
        int64_t committed = bc_runtime_committed(rt, b->topic, b->partition);
        reached = committed >= b->offset ||
                  (part_find(rt, b->topic, b->partition) != NULL &&
                   (b->paused || pos->elems[i].offset >= b->offset));
    }
    rd_kafka_topic_partition_list_destroy(pos);
    return reached;
}

static int process_message(struct bc_runtime *rt, const rd_kafka_message_t *msg)
{
    const char *topic_name = rd_kafka_topic_name(msg->rkt);
    struct part *p = part_find(rt, topic_name, msg->partition);
    if (p == NULL) {
        return 0; /* not ours (any more) */
    }
    p->delivered = msg->offset + 1;
    if (p->next >= 0 && msg->offset < p->next) {
        return 0; /* already processed before a seek took effect */
    }
    if (past_bound(rt, topic_name, msg->partition, msg->offset)) {
        return 0;
    }
    if (txn_ensure(rt) != 0) {
        return -1;
    }
    int64_t ts = rd_kafka_message_timestamp(msg, NULL);
    if (ts > p->stream_time) {
        p->stream_time = ts;
    }
    struct bc_record rec = {.msg = msg, .topic = p->topic, .attempt = 1};
    if (p->poison_offset == msg->offset) {
        rec.attempt = p->poison_attempts + 1;
    }
    int rc;
    if (rec.attempt > rt->max_attempts) {
        char detail[64];
        snprintf(detail, sizeof(detail), "stage returned retry %d times", p->poison_attempts);
        rec.attempt = p->poison_attempts; /* the attempts made, for the DeadLetter */
        rc = bc_dead_letter(&rt->ctx, &rec, "max_attempts", detail);
        if (rc != BC_OK) {
            rc = BC_RETRY;
        }
    } else if (rt->schemas != NULL && bc_schemas_input(rt->schemas, msg->payload, msg->len) != 0) {
        rt->exit_code = BC_EXIT_ERROR;
        return -1;
    } else {
        rt->in_stage = 1;
        rc = rt->stage->process(&rt->ctx, &rec);
        rt->in_stage = 0;
        rt->emit_wall = 0;
    }
    if (rt->txn_failed && rc != BC_FATAL) {
        /* A write failed (the transaction's fault, not the record's): abort and rewind
         * without counting an attempt against the record. */
        rt->need_rewind = 1;
        return 0;
    }
    if (rc == BC_OK) {
        p->next = msg->offset + 1;
        if (p->poison_offset == msg->offset) {
            p->poison_offset = -1;
            p->poison_attempts = 0;
        }
        rt->stats.processed++;
        rt->stats.overlapped += (uint64_t)rt->committing;
        rt->txn_records++;
        return 0;
    }
    if (rc == BC_RETRY) {
        rt->stats.retries++;
        p->poison_offset = msg->offset;
        p->poison_attempts = rec.attempt;
        rt->need_rewind = 1;
        return 0;
    }
    char offset[24];
    snprintf(offset, sizeof(offset), "%" PRId64, msg->offset);
    bc_log(BC_LOG_ERROR, "stage failed", "stage", rt->stage->name, "topic", topic_name,
           "offset", offset, NULL);
    snprintf(rt->fail_reason, sizeof(rt->fail_reason),
             "stage %s failed (BC_FATAL) processing %s:%" PRId32 ":%" PRId64, rt->stage->name,
             topic_name, msg->partition, msg->offset);
    rt->exit_code = BC_EXIT_STAGE;
    return -1;
}

/* Changelog records go to the input's partition number, so every changelog must exist with
 * at least as many partitions as the inputs: otherwise every transaction would abort (or an
 * auto-created topic would take the writes). Checked once at start, from metadata that
 * creates nothing. Returns 0, or -1 (logged). A failed metadata request only warns. */
static int changelogs_check(struct bc_runtime *rt)
{
    if (rt->store_count == 0) {
        return 0;
    }
    const rd_kafka_metadata_t *md = NULL;
    rd_kafka_resp_err_t err = rd_kafka_metadata(rt->producer, 1, NULL, &md, 10000);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        bc_log(BC_LOG_WARN, "changelog check skipped", "error", rd_kafka_err2name(err), NULL);
        return 0;
    }
    int rc = 0;
    int inputs = 0;
    for (size_t i = 0; i < rt->settings.input_count; i++) {
        for (int t = 0; t < md->topic_cnt; t++) {
            if (strcmp(md->topics[t].topic, rt->settings.inputs[i]) == 0 &&
                md->topics[t].err == RD_KAFKA_RESP_ERR_NO_ERROR &&
                md->topics[t].partition_cnt > inputs) {
                inputs = md->topics[t].partition_cnt;
            }
        }
    }
    for (size_t s = 0; s < rt->store_count && inputs > 0; s++) {
        const char *changelog = bc_store_changelog(rt->stores[s]);
        int have = -1;
        for (int t = 0; t < md->topic_cnt; t++) {
            if (strcmp(md->topics[t].topic, changelog) == 0 &&
                md->topics[t].err == RD_KAFKA_RESP_ERR_NO_ERROR) {
                have = md->topics[t].partition_cnt;
            }
        }
        if (have < inputs) {
            char want[16], got[16];
            snprintf(want, sizeof(want), "%d", inputs);
            snprintf(got, sizeof(got), "%d", have < 0 ? 0 : have);
            bc_log(BC_LOG_ERROR,
                   have < 0 ? "changelog topic missing (breadcrumb topics create makes it)"
                            : "changelog topic has fewer partitions than the input",
                   "topic", changelog, "partitions", got, "needed", want, NULL);
            rc = -1;
        }
    }
    rd_kafka_metadata_destroy(md);
    return rc;
}

/* The producer learns a topic's partitions when it first writes to it, from a metadata
 * request sent at its next topic scan (every second): the first transaction of a run, and
 * so every start-up, waited about 1 s for it. Makes a handle for each topic the producer
 * may write that exists (metadata of all topics, which creates nothing), then asks for the
 * metadata of those known topics, so the first write finds its partitions. Best effort. The
 * handles are the ones writes use (producer_topic). */
static void producer_warm(struct bc_runtime *rt)
{
    const rd_kafka_metadata_t *md = NULL;
    if (rt->handle_count > 0 ||
        rd_kafka_metadata(rt->producer, 1, NULL, &md, 5000) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        return;
    }
    size_t n = rt->output_count + 2 + rt->store_count;
    const char *want[n];
    size_t count = 0;
    for (size_t i = 0; i < rt->output_count; i++) {
        want[count++] = rt->outputs[i].topic;
    }
    want[count++] = rt->dlq_topic;
    want[count++] = rt->fates_topic;
    for (size_t s = 0; s < rt->store_count; s++) {
        want[count++] = bc_store_changelog(rt->stores[s]);
    }
    for (size_t i = 0; i < count; i++) {
        for (int t = 0; t < md->topic_cnt; t++) {
            if (want[i][0] != '\0' && strcmp(md->topics[t].topic, want[i]) == 0 &&
                md->topics[t].err == RD_KAFKA_RESP_ERR_NO_ERROR) {
                producer_topic(rt, want[i]); /* the handle writes to it will use */
                break;
            }
        }
    }
    rd_kafka_metadata_destroy(md);
    if (rt->handle_count > 0 &&
        rd_kafka_metadata(rt->producer, 0, NULL, &md, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        rd_kafka_metadata_destroy(md);
    }
}

/* Writes this process's run record (bc_runlog.h) in a transaction of its own, when the
 * topology declares <pipeline>.runs. Best effort: a failure is logged. */
static void run_record(struct bc_runtime *rt, const char *state, const char *error)
{
    if (rt->runs_topic[0] == '\0' || !rt->producer_ready || rt->txn_open || rt->committing ||
        rt->exit_code == BC_EXIT_FENCED) {
        return;
    }
    const char *outputs[rt->output_count + 1];
    for (size_t i = 0; i < rt->output_count; i++) {
        outputs[i] = rt->outputs[i].topic;
    }
    int64_t now = wall_ms();
    char *value = bc_runlog_json(rt->run_id, rt->worker_id, rt->settings.instance,
                                 rt->config_hash, state, error, now, rt->settings.inputs,
                                 rt->settings.input_count, outputs, rt->output_count);
    char key[400], errstr[256];
    snprintf(key, sizeof(key), "%s/%s", rt->worker_id, rt->settings.instance);
    if (value == NULL || bc_runlog_write(rt->producer, 1, rt->runs_topic, key, value, now,
                                         errstr, sizeof(errstr)) != 0) {
        bc_log(BC_LOG_WARN, "run record not written", "state", state, "error",
               value == NULL ? "out of memory" : errstr, NULL);
    }
    free(value);
}

int bc_runtime_run(struct bc_runtime *rt, const struct bc_runtime_hooks *hooks)
{
    char errstr[512];
    struct sigaction old_term, old_int;
    if (rt->settings.handle_signals) {
        struct sigaction sa;
        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = on_signal;
        sigaction(SIGTERM, &sa, &old_term);
        sigaction(SIGINT, &sa, &old_int);
    }
    int64_t started = now_ms();
    signal_stop = 0;
    bc_rt_metrics_publish(rt->metrics, rt, started);
    if (bc_rt_metrics_serve(rt->metrics, &rt->settings) != 0) {
        rt->exit_code = BC_EXIT_ERROR;
        goto done;
    }
    /* No producer before the output schemas are registered (not ready meanwhile). */
    if (rt->schemas != NULL && bc_schemas_start(rt->schemas, runtime_stopped, rt) != 0) {
        rt->exit_code = BC_EXIT_ERROR;
        goto done;
    }
    if (clients_new(rt, errstr, sizeof(errstr)) != 0) {
        bc_log(BC_LOG_ERROR, "cannot create kafka clients", "error", errstr, NULL);
        rt->exit_code = BC_EXIT_ERROR;
        goto done;
    }
    for (;;) {
        rd_kafka_error_t *error = rd_kafka_init_transactions(rt->producer, TXN_TIMEOUT_MS);
        if (error == NULL) {
            break;
        }
        int rc = txn_error(rt, error, "init_transactions");
        if (rc != 0 || rt->stop || signal_stop) {
            rt->exit_code = rc < 0 ? BC_EXIT_FENCED : BC_EXIT_ERROR;
            goto done;
        }
    }
    rt->producer_ready = 1;
    run_record(rt, "started", NULL);
    if (changelogs_check(rt) != 0) {
        snprintf(rt->fail_reason, sizeof(rt->fail_reason),
                 "a changelog topic is missing or has too few partitions");
        rt->exit_code = BC_EXIT_ERROR;
        goto done;
    }
    producer_warm(rt);
    if (bc_tables_count(rt->tables) > 0) {
        /* Assign-only, like the restorer: the group id is never joined or committed. */
        char table_group[300];
        snprintf(table_group, sizeof(table_group), "%s.table", rt->group_id);
        const char *const table[][2] = {
            {"group.id", table_group},
            {"isolation.level", "read_committed"},
            {"enable.auto.commit", "false"},
            {"enable.partition.eof", "true"},
            {"auto.offset.reset", "earliest"},
            /* A changelog partition ends in a commit marker, which is never delivered: the
             * restore ends on the partition EOF, which waits out a fetch at the end. The
             * default 500 ms made every restore take about 1 s per partition. */
            {"fetch.wait.max.ms", "10"},
        };
        rd_kafka_conf_t *conf = conf_new(rt, "table", table, COUNT(table), errstr, sizeof(errstr));
        if (conf == NULL ||
            bc_tables_start(rt->tables, conf, RESTORE_TIMEOUT_MS, errstr, sizeof(errstr)) != 0) {
            bc_log(BC_LOG_ERROR, "cannot read tables", "error", errstr, NULL);
            rt->exit_code = BC_EXIT_ERROR;
            goto done;
        }
    }
    {
        rd_kafka_topic_partition_list_t *topics =
            rd_kafka_topic_partition_list_new((int)rt->settings.input_count);
        for (size_t i = 0; i < rt->settings.input_count; i++) {
            rd_kafka_topic_partition_list_add(topics, rt->settings.inputs[i],
                                              RD_KAFKA_PARTITION_UA);
        }
        rd_kafka_resp_err_t err = rd_kafka_subscribe(rt->consumer, topics);
        rd_kafka_topic_partition_list_destroy(topics);
        if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            bc_log(BC_LOG_ERROR, "subscribe failed", "error", rd_kafka_err2name(err), NULL);
            rt->exit_code = BC_EXIT_ERROR;
            goto done;
        }
    }
    bc_log(BC_LOG_INFO, "running", "worker", rt->worker_id, "instance", rt->settings.instance,
           "transactional_id", rt->txn_id, NULL);

    int64_t next_tick = now_ms() + rt->tick_interval_ms;
    int64_t next_report = now_ms() + 10000;
    int64_t next_skip_check = 0;
    uint64_t reported = 0;
    while (rt->exit_code == 0 && !rt->stop && !signal_stop) {
        if (hooks != NULL) {
            if (hooks->until != NULL && hooks->until(hooks->opaque, rt)) {
                break;
            }
            if (hooks->timeout_ms > 0 && now_ms() - started > hooks->timeout_ms) {
                break;
            }
        }
        if (rt->need_rewind && rewind_all(rt) != 0) {
            break;
        }
        if (!rt->need_rewind && bounds_reached(rt)) {
            bc_log(BC_LOG_INFO, "end bound reached", "worker", rt->worker_id, NULL);
            break;
        }
        if (!rt->txn_open) {
            bc_tables_poll(rt->tables, 1000); /* between transactions only */
        }
        int timeout = 50;
        if (rt->txn_open) {
            int64_t left = rt->txn_started_ms + rt->commit_interval_ms - now_ms();
            timeout = left < 0 ? 0 : left < timeout ? (int)left : timeout;
        }
        rd_kafka_message_t *msg = rd_kafka_consumer_poll(rt->consumer, timeout);
        int idle = msg == NULL;
        if (msg != NULL) {
            if (msg->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
                process_message(rt, msg);
            } else if (msg->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                bc_log(BC_LOG_WARN, "consumer error", "error", rd_kafka_err2name(msg->err),
                       "reason", rd_kafka_message_errstr(msg), NULL);
                if (msg->err == RD_KAFKA_RESP_ERR__FATAL) {
                    rt->exit_code = BC_EXIT_FENCED;
                }
            }
            rd_kafka_message_destroy(msg);
        }
        rd_kafka_poll(rt->producer, 0);
        int64_t now = now_ms();
        bc_rt_metrics_publish(rt->metrics, rt, now);
        if (now >= next_report) {
            next_report = now + 10000;
            if (rt->stats.processed != reported) {
                reported = rt->stats.processed;
                char processed[24], committed[24], aborts[24];
                snprintf(processed, sizeof(processed), "%" PRIu64, rt->stats.processed);
                snprintf(committed, sizeof(committed), "%" PRIu64, rt->stats.committed);
                snprintf(aborts, sizeof(aborts), "%" PRIu64, rt->stats.aborts);
                bc_log(BC_LOG_INFO, "progress", "worker", rt->worker_id, "processed", processed,
                       "committed", committed, "aborts", aborts, NULL);
            }
        }
        if (rt->stage->tick != NULL && now >= next_tick && rt->exit_code == 0 &&
            !rt->need_rewind) {
            next_tick = now + rt->tick_interval_ms;
            rt->in_stage = 1;
            int rc = rt->stage->tick(&rt->ctx, wall_ms());
            rt->in_stage = 0;
            rt->emit_wall = 0;
            if (rc == BC_RETRY) {
                rt->need_rewind = 1;
            } else if (rc == BC_FATAL) {
                snprintf(rt->fail_reason, sizeof(rt->fail_reason),
                         "stage %s failed (BC_FATAL) in tick", rt->stage->name);
                rt->exit_code = BC_EXIT_STAGE;
            }
        }
        if (rt->committing && !rt->need_rewind &&
            __atomic_load_n(&rt->commit.done, __ATOMIC_ACQUIRE)) {
            /* The previous commit ended: begin the next transaction now, so that its
             * waiting writes go out while the loop goes on. */
            if (txn_settle(rt) > 0) {
                rt->need_rewind = 1;
            }
        }
        if (rt->txn_open && !rt->need_rewind && rt->exit_code == 0 &&
            (rt->txn_records >= rt->max_batch ||
             now - rt->txn_started_ms >= rt->commit_interval_ms)) {
            int rc = txn_settle(rt);
            if (rc == 0 && rt->txn_open) {
                rc = txn_commit_start(rt, rt->overlap);
            }
            if (rc > 0) {
                rt->need_rewind = 1;
            }
        }
        if (idle && !rt->txn_open && !rt->need_rewind && rt->exit_code == 0 &&
            now >= next_skip_check) {
            next_skip_check = now + rt->commit_interval_ms;
            if (commit_skipped(rt) > 0) {
                rt->need_rewind = 1;
            }
        }
    }

done:
    if (txn_commit_finish(rt) > 0) {
        rt->need_rewind = 1; /* the transaction opened meanwhile was dropped with it */
    }
    if (rt->exit_code == BC_EXIT_FENCED) {
        rt->txn_open = 0; /* a fenced producer can neither commit nor abort */
    }
    if (rt->producer_ready && rt->txn_open) {
        if (rt->exit_code == 0 && !rt->need_rewind) {
            if (txn_commit(rt) != 0) {
                txn_abort(rt);
            }
        } else if (rt->exit_code != BC_EXIT_FENCED) {
            txn_abort(rt);
        }
    }
    if (rt->exit_code != 0 && rt->fail_reason[0] == '\0') {
        snprintf(rt->fail_reason, sizeof(rt->fail_reason), "%s",
                 rt->exit_code == BC_EXIT_STAGE ? "the stage failed (BC_FATAL)"
                                                : "a Kafka client error");
    }
    run_record(rt, rt->exit_code == 0 ? "stopped" : "failed",
               rt->exit_code == 0 ? NULL : rt->fail_reason);
    if (rt->consumer != NULL) {
        rd_kafka_consumer_close(rt->consumer);
    }
    if (rt->producer != NULL && rt->exit_code != BC_EXIT_FENCED) {
        rd_kafka_flush(rt->producer, 5000);
    }
    if (rt->settings.handle_signals) {
        sigaction(SIGTERM, &old_term, NULL);
        sigaction(SIGINT, &old_int, NULL);
    }
    bc_rt_metrics_publish(rt->metrics, rt, now_ms());
    bc_log(rt->exit_code ? BC_LOG_ERROR : BC_LOG_INFO, "stopped", "worker", rt->worker_id,
           "exit", rt->exit_code == 0 ? "0" : rt->exit_code == BC_EXIT_FENCED ? "fenced" : "error",
           NULL);
    return rt->exit_code;
}

int bc_run(const struct bc_stage *stage, int argc, char **argv)
{
    char errstr[512];
    struct bc_runtime_settings settings;
    bc_log_setup(stage->name, BC_LOG_INFO, BC_LOG_LOGFMT);
    const char *level = getenv("BC_LOG_LEVEL");
    enum bc_log_level lvl;
    if (level != NULL && bc_log_level_parse(level, &lvl) == 0) {
        bc_log_setup(stage->name, lvl, BC_LOG_LOGFMT);
    }
    int rc = bc_runtime_settings_parse(&settings, stage, argc, argv, errstr, sizeof(errstr));
    if (rc != 0) {
        if (rc < 0) {
            fprintf(stderr, "%s: %s\n", stage->name, errstr);
            return BC_EXIT_USAGE;
        }
        return BC_EXIT_OK;
    }
    settings.handle_signals = 1;
    if (settings.config != NULL) {
        /* The topology's log settings; $BC_LOG_LEVEL still overrides the level. */
        enum bc_log_level cfg_level = settings.config->log.level;
        if (level != NULL && bc_log_level_parse(level, &lvl) == 0) {
            cfg_level = lvl;
        }
        bc_log_setup(stage->name, cfg_level, settings.config->log.format);
    }
    struct bc_runtime *rt = bc_runtime_new(stage, &settings, errstr, sizeof(errstr));
    if (rt == NULL) {
        fprintf(stderr, "%s: %s\n", stage->name, errstr);
        bc_runtime_settings_free(&settings);
        return BC_EXIT_USAGE;
    }
    rc = bc_runtime_run(rt, NULL);
    bc_runtime_destroy(rt);
    bc_runtime_settings_free(&settings);
    return rc;
}

/* ---- stage API: context and options ---------------------------------------------------- */

void *bc_ctx_state(const struct bc_ctx *ctx)
{
    return ctx->state;
}

void bc_ctx_set_state(struct bc_ctx *ctx, void *state)
{
    ctx->state = state;
}

const char *bc_ctx_pipeline(const struct bc_ctx *ctx)
{
    return ctx->rt->live_pipeline;
}

const char *bc_ctx_worker(const struct bc_ctx *ctx)
{
    return ctx->rt->settings.worker;
}

const char *bc_ctx_instance(const struct bc_ctx *ctx)
{
    return ctx->rt->settings.instance;
}

const struct bc_config *bc_ctx_config(const struct bc_ctx *ctx)
{
    return ctx->rt->settings.config;
}

const struct bc_values *bc_ctx_options(const struct bc_ctx *ctx)
{
    return ctx->rt->settings.options;
}

int64_t bc_stream_time(const struct bc_ctx *ctx, int32_t partition)
{
    const struct bc_runtime *rt = ctx->rt;
    int64_t t = -1;
    for (size_t i = 0; i < rt->part_count; i++) {
        if (rt->parts[i].partition == partition && rt->parts[i].stream_time > t) {
            t = rt->parts[i].stream_time;
        }
    }
    return t;
}

int64_t bc_input_behind(const struct bc_ctx *ctx, int32_t partition)
{
    const struct bc_runtime *rt = ctx->rt;
    int64_t behind = -1;
    for (size_t i = 0; i < rt->part_count; i++) {
        if (rt->parts[i].partition == partition && rt->parts[i].behind > behind) {
            behind = rt->parts[i].behind;
        }
    }
    return behind;
}

/* ---- stage API: records --------------------------------------------------------------- */

const char *bc_record_topic(const struct bc_record *rec)
{
    return rec->topic;
}

int32_t bc_record_partition(const struct bc_record *rec)
{
    return rec->msg->partition;
}

int64_t bc_record_offset(const struct bc_record *rec)
{
    return rec->msg->offset;
}

int64_t bc_record_timestamp(const struct bc_record *rec)
{
    return rd_kafka_message_timestamp(rec->msg, NULL);
}

const void *bc_record_key(const struct bc_record *rec, size_t *len)
{
    *len = rec->msg->key != NULL ? rec->msg->key_len : 0;
    return rec->msg->key;
}

const void *bc_record_value(const struct bc_record *rec, size_t *len)
{
    *len = rec->msg->payload != NULL ? rec->msg->len : 0;
    return rec->msg->payload;
}

int bc_record_header(const struct bc_record *rec, const char *name, const void **value,
                     size_t *len)
{
    rd_kafka_headers_t *hdrs = NULL;
    if (rd_kafka_message_headers(rec->msg, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        return -1;
    }
    return rd_kafka_header_get_last(hdrs, name, value, len) == RD_KAFKA_RESP_ERR_NO_ERROR ? 0
                                                                                         : -1;
}

int bc_record_attempt(const struct bc_record *rec)
{
    return rec->attempt;
}

void bc_record_source(const struct bc_record *rec, struct bc_source *src)
{
    src->topic = rec->topic;
    src->partition = rec->msg->partition;
    src->offset = rec->msg->offset;
}

/* ---- stage API: writing --------------------------------------------------------------- */

/* --emit-from/--emit-to: whether a write derived from src is inside the emit window. */
static int emit_window(const struct bc_runtime *rt, const struct bc_source *src)
{
    for (size_t i = 0; i < rt->emit_from_count; i++) {
        const struct stop_bound *b = &rt->emit_from[i];
        if (b->partition == src->partition && src->offset < b->offset &&
            strcmp(b->topic, src->topic) == 0) {
            return 0;
        }
    }
    for (size_t i = 0; i < rt->emit_to_count; i++) {
        const struct stop_bound *b = &rt->emit_to[i];
        if (b->partition == src->partition && src->offset >= b->offset &&
            strcmp(b->topic, src->topic) == 0) {
            return 0;
        }
    }
    return 1;
}

/* Writes the decimal digits of v at out (no NUL); returns their count. */
static size_t put_dec(char *out, int64_t v)
{
    char tmp[24];
    size_t n = 0;
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u > 0);
    size_t len = 0;
    if (v < 0) {
        out[len++] = '-';
    }
    while (n > 0) {
        out[len++] = tmp[--n];
    }
    return len;
}

/* The bc.src header value "topic:partition:offset[:index]" (index when > 0; with index 0 also a
 * Fate's key) into buf, as snprintf would write it, without snprintf: formatted per record
 * written. Returns its length (cut at cap - 1 like snprintf's output, never past buf). */
static int src_format(char *buf, size_t cap, const struct bc_source *src, int src_index)
{
    size_t tlen = strlen(src->topic);
    if (tlen + 3 * 21 + 1 > cap) { /* a topic name near the limit: the general way */
        int n = src_index > 0
                    ? snprintf(buf, cap, "%s:%" PRId32 ":%" PRId64 ":%d", src->topic,
                               src->partition, src->offset, src_index)
                    : snprintf(buf, cap, "%s:%" PRId32 ":%" PRId64, src->topic, src->partition,
                               src->offset);
        return n < 0 ? 0 : (size_t)n < cap ? n : (int)cap - 1;
    }
    size_t n = tlen;
    memcpy(buf, src->topic, tlen);
    buf[n++] = ':';
    n += put_dec(buf + n, src->partition);
    buf[n++] = ':';
    n += put_dec(buf + n, src->offset);
    if (src_index > 0) {
        buf[n++] = ':';
        n += put_dec(buf + n, src_index);
    }
    buf[n] = '\0';
    return (int)n;
}

/* Produces one record with the lineage headers plus `extra` (NULL-name ended is not
 * required: extra_count entries). src_text: src_format's text for src and src_index when the
 * caller has it already (a Fate's key), else NULL. Returns BC_OK, or BC_RETRY when the write
 * failed. */
static int produce(struct bc_runtime *rt, const char *topic, int32_t partition,
                   const void *key, size_t key_len, const void *value, size_t value_len,
                   int64_t timestamp, const struct bc_source *src, int src_index,
                   const char *src_text, int src_text_len, const struct bc_header *extra,
                   size_t extra_count)
{
    if (src != NULL && src->topic != NULL && !emit_window(rt, src)) {
        return BC_OK; /* warm-up or cool-down of an audit replay: state only */
    }
    if (txn_ensure(rt) != 0) {
        return BC_RETRY;
    }
    rd_kafka_headers_t *hdrs = rd_kafka_headers_new(4 + extra_count);
    rd_kafka_header_add(hdrs, "bc.worker", 9, rt->worker_id, (ssize_t)rt->worker_id_len);
    rd_kafka_header_add(hdrs, "bc.instance", 11, rt->settings.instance,
                        (ssize_t)rt->instance_len);
    rd_kafka_header_add(hdrs, "bc.config_hash", 14, rt->config_hash,
                        (ssize_t)rt->config_hash_len);
    if (src != NULL && src->topic != NULL) {
        char buf[320];
        if (src_text == NULL) {
            src_text_len = src_format(buf, sizeof(buf), src, src_index);
            src_text = buf;
        }
        rd_kafka_header_add(hdrs, "bc.src", 6, src_text, src_text_len);
    }
    for (size_t i = 0; i < extra_count; i++) {
        rd_kafka_header_add(hdrs, extra[i].name, -1, extra[i].value, (ssize_t)extra[i].len);
    }
    if (txn_write(rt, topic, partition, key, key_len, value, value_len, timestamp, hdrs) != 0) {
        return BC_RETRY;
    }
    return BC_OK;
}

/* bc_emit and bc_emit_topic, once the topic is known. */
static int emit_to(struct bc_runtime *rt, const struct bc_record *rec, const char *topic,
                   const void *key, size_t key_len, const void *value, size_t value_len,
                   const struct bc_emit_opts *opts)
{
    struct bc_source src = {0};
    const struct bc_source *srcp = opts != NULL ? opts->source : NULL;
    int index = 0;
    int64_t ts = opts != NULL ? opts->timestamp : 0;
    if (rec != NULL) {
        bc_record_source(rec, &src);
        srcp = &src;
        index = ((struct bc_record *)rec)->emitted++;
        if (ts == 0) {
            ts = bc_record_timestamp(rec);
        }
    }
    if (rt->schemas != NULL && value != NULL && value_len > 0 &&
        ((const unsigned char *)value)[0] == 0) {
        if (bc_schemas_output(rt->schemas, topic, &value, &value_len) != 0) {
            return BC_FATAL;
        }
    } else if (rt->registry != NULL && value != NULL && value_len > 0 &&
               ((const unsigned char *)value)[0] == 0) {
        /* The schema hook: a value in the Confluent wire format must name a registered
         * schema, so no reader meets an id it cannot resolve. */
        const struct bc_avro_schema *writer = NULL;
        char errstr[128];
        if (bc_avro_peek(rt->registry, value, value_len, &writer, errstr, sizeof(errstr)) != 0) {
            bc_log(BC_LOG_ERROR, "output value rejected", "topic", topic, "error", errstr,
                   NULL);
            return BC_FATAL;
        }
    }
    int32_t partition = RD_KAFKA_PARTITION_UA;
    if (opts != NULL && opts->has_partition) {
        partition = opts->partition;
    }
    int rc = produce(rt, topic, partition, key, key_len, value, value_len, ts, srcp, index,
                     NULL, 0,
                     opts != NULL ? opts->headers : NULL, opts != NULL ? opts->header_count : 0);
    if (rc == BC_OK) {
        rt->stats.emitted++;
        int64_t now = 0;
        if (ts > 0) { /* one clock reading per process or tick call, not per write */
            now = !rt->in_stage ? wall_ms() : rt->emit_wall != 0 ? rt->emit_wall
                                                                  : (rt->emit_wall = wall_ms());
        }
        bc_rt_metrics_emitted(rt->metrics, topic, ts > 0 ? (double)(now - ts) / 1000.0 : -1);
    }
    return rc;
}

int bc_emit(struct bc_ctx *ctx, const struct bc_record *rec, const char *output,
            const void *key, size_t key_len, const void *value, size_t value_len,
            const struct bc_emit_opts *opts)
{
    struct bc_runtime *rt = ctx->rt;
    const struct output *out = NULL;
    for (size_t i = 0; i < rt->output_count; i++) {
        if (strcmp(rt->outputs[i].name, output) == 0) {
            out = &rt->outputs[i];
            break;
        }
    }
    if (out == NULL) {
        bc_log(BC_LOG_ERROR, "unknown output", "stage", rt->stage->name, "output", output, NULL);
        return BC_FATAL;
    }
    return emit_to(rt, rec, out->topic, key, key_len, value, value_len, opts);
}

int bc_emit_topic(struct bc_ctx *ctx, const struct bc_record *rec, const char *topic,
                  const void *key, size_t key_len, const void *value, size_t value_len,
                  const struct bc_emit_opts *opts)
{
    if (topic == NULL || topic[0] == '\0') {
        bc_log(BC_LOG_ERROR, "no topic", "stage", ctx->rt->stage->name, NULL);
        return BC_FATAL;
    }
    const char *pre = ctx->rt->settings.name_prefix;
    char prefixed[512];
    if (pre != NULL) { /* an audit replay writes its own copy of every topic */
        snprintf(prefixed, sizeof(prefixed), "%s%s", pre, topic);
        topic = prefixed;
    }
    return emit_to(ctx->rt, rec, topic, key, key_len, value, value_len, opts);
}

/* Copies s into out with characters outside [A-Za-z0-9_.:-] replaced by '_'. */
static void reason_code(char *out, size_t cap, const char *s)
{
    size_t i = 0;
    for (; s != NULL && s[i] != '\0' && i + 1 < cap; i++) {
        char c = s[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '_' || c == '.' || c == ':' || c == '-';
        out[i] = ok ? c : '_';
    }
    out[i] = '\0';
}

/* ---- Avro records of the runtime (Fate, DeadLetter) ----------------------------------- */

static const char *const fate_kind_names[] = {"deduplicated", "sampled_out", "dropped",
                                              "dead_lettered", "routed"};

static int avro_field(avro_value_t *rec, const char *name, avro_value_t *field)
{
    return avro_value_get_by_name(rec, name, field, NULL);
}

static int avro_set_str(avro_value_t *rec, const char *name, const char *value)
{
    avro_value_t f;
    return avro_field(rec, name, &f) != 0 || avro_value_set_string(&f, value) != 0 ? -1 : 0;
}

/* Sets a ["null", T] union field: branch 0 (null) when value is NULL, else branch 1 in *out. */
static int avro_set_union(avro_value_t *rec, const char *name, int present, avro_value_t *out)
{
    avro_value_t f, branch;
    if (avro_field(rec, name, &f) != 0 || avro_value_set_branch(&f, present ? 1 : 0, &branch) != 0) {
        return -1;
    }
    if (!present) {
        return avro_value_set_null(&branch);
    }
    *out = branch;
    return 0;
}

static int avro_set_opt_str(avro_value_t *rec, const char *name, const char *value)
{
    avro_value_t branch;
    if (avro_set_union(rec, name, value != NULL, &branch) != 0) {
        return -1;
    }
    return value != NULL ? avro_value_set_string(&branch, value) : 0;
}

static int avro_set_position(avro_value_t *pos, const struct bc_source *src)
{
    avro_value_t f;
    if (avro_field(pos, "topic", &f) != 0 || avro_value_set_string(&f, src->topic) != 0 ||
        avro_field(pos, "partition", &f) != 0 || avro_value_set_int(&f, src->partition) != 0 ||
        avro_field(pos, "offset", &f) != 0 || avro_value_set_long(&f, src->offset) != 0) {
        return -1;
    }
    return 0;
}

/* Fate v1 in Parsing Canonical Form: when the registry's Fate is this, fate_encode writes
 * its bytes directly (the field order and types are fixed by it). */
static const char fate_v1_canonical[] =
    "{\"name\":\"io.breadcrumb.Fate\",\"type\":\"record\",\"fields\":["
    "{\"name\":\"event_id\",\"type\":[\"null\",\"string\"]},"
    "{\"name\":\"source\",\"type\":{\"name\":\"io.breadcrumb.SourcePosition\",\"type\":"
    "\"record\",\"fields\":[{\"name\":\"topic\",\"type\":\"string\"},{\"name\":"
    "\"partition\",\"type\":\"int\"},{\"name\":\"offset\",\"type\":\"long\"},"
    "{\"name\":\"index\",\"type\":\"int\"}]}},"
    "{\"name\":\"worker\",\"type\":\"string\"},"
    "{\"name\":\"fate\",\"type\":{\"name\":\"io.breadcrumb.FateKind\",\"type\":\"enum\","
    "\"symbols\":[\"deduplicated\",\"sampled_out\",\"dropped\",\"dead_lettered\",\"routed\"]}},"
    "{\"name\":\"reason\",\"type\":[\"null\",\"string\"]},"
    "{\"name\":\"policy\",\"type\":[\"null\",\"string\"]},"
    "{\"name\":\"related\",\"type\":[\"null\",{\"name\":\"io.breadcrumb.RecordPosition\","
    "\"type\":\"record\",\"fields\":[{\"name\":\"topic\",\"type\":\"string\"},"
    "{\"name\":\"partition\",\"type\":\"int\"},{\"name\":\"offset\",\"type\":\"long\"}]}]}]}";

static uint8_t *fate_put_str(uint8_t *p, const char *s, size_t len)
{
    p = bc_avro_write_long(p, (int64_t)len);
    memcpy(p, s, len);
    return p + len;
}

/* Whether s (may be NULL) is ASCII; its length in *len, and room for it added to *total. */
static int fate_ascii(const char *s, size_t *len, size_t *total)
{
    *len = 0;
    if (s == NULL) {
        return 1;
    }
    size_t n = 0;
    for (; s[n] != '\0'; n++) {
        if ((unsigned char)s[n] >= 0x80) {
            return 0;
        }
    }
    *len = n;
    *total += n + 10;
    return 1;
}

/* Fate v1's bytes written directly into rt->avro_buf: the same bytes as the generic
 * encoder's, without building a value field by field (looked up by name). Returns 0, or 1
 * when a string is not ASCII (the generic encoder checks it is UTF-8), or -1 on OOM. */
static int fate_encode_v1(struct bc_runtime *rt, const struct bc_source *src,
                          const struct bc_fate *fate)
{
    size_t n_event, n_topic, n_worker, n_reason, n_policy, n_rtopic = 0;
    size_t need = BC_AVRO_HEADER_SIZE + 12 * 10;
    if (!fate_ascii(fate->event_id, &n_event, &need) || !fate_ascii(src->topic, &n_topic, &need) ||
        !fate_ascii(rt->worker_id, &n_worker, &need) ||
        !fate_ascii(fate->reason, &n_reason, &need) ||
        !fate_ascii(fate->policy, &n_policy, &need) ||
        (fate->related != NULL && !fate_ascii(fate->related->topic, &n_rtopic, &need))) {
        return 1;
    }
    struct bc_avro_buf *b = &rt->avro_buf;
    b->len = 0;
    if (bc_avro_buf_reserve(b, need) != 0) {
        return -1;
    }
    uint8_t *p = bc_avro_write_header(b->data, bc_avro_schema_id(rt->fate_schema));
    p = bc_avro_write_long(p, fate->event_id != NULL);
    if (fate->event_id != NULL) {
        p = fate_put_str(p, fate->event_id, n_event);
    }
    p = fate_put_str(p, src->topic, n_topic);
    p = bc_avro_write_long(p, src->partition);
    p = bc_avro_write_long(p, src->offset);
    p = bc_avro_write_long(p, 0); /* index */
    p = fate_put_str(p, rt->worker_id, n_worker);
    p = bc_avro_write_long(p, (int64_t)fate->kind);
    p = bc_avro_write_long(p, fate->reason != NULL);
    if (fate->reason != NULL) {
        p = fate_put_str(p, fate->reason, n_reason);
    }
    p = bc_avro_write_long(p, fate->policy != NULL);
    if (fate->policy != NULL) {
        p = fate_put_str(p, fate->policy, n_policy);
    }
    p = bc_avro_write_long(p, fate->related != NULL);
    if (fate->related != NULL) {
        p = fate_put_str(p, fate->related->topic, n_rtopic);
        p = bc_avro_write_long(p, fate->related->partition);
        p = bc_avro_write_long(p, fate->related->offset);
    }
    b->len = (size_t)(p - b->data);
    return 0;
}

/* Encodes the Fate into rt->avro_buf. Returns 0 or -1 (logged). */
static int fate_encode(struct bc_runtime *rt, const struct bc_source *src,
                       const struct bc_fate *fate)
{
    if (rt->fate_direct == 0) {
        const char *canonical = bc_avro_schema_canonical(rt->fate_schema);
        rt->fate_direct = canonical != NULL && strcmp(canonical, fate_v1_canonical) == 0 ? 1 : -1;
    }
    if (rt->fate_direct > 0 && src->topic != NULL &&
        (fate->related == NULL || fate->related->topic != NULL)) {
        int direct = fate_encode_v1(rt, src, fate);
        if (direct <= 0) {
            if (direct < 0) {
                bc_log(BC_LOG_ERROR, "cannot encode Fate", "error", "out of memory", NULL);
            }
            return direct;
        }
    }
    avro_value_t *v = &rt->fate_value, f, branch;
    char errstr[256];
    avro_value_reset(v);
    int rc = avro_set_opt_str(v, "event_id", fate->event_id);
    if (rc == 0 && (rc = avro_field(v, "source", &f)) == 0 && (rc = avro_set_position(&f, src)) == 0) {
        avro_value_t idx;
        rc = avro_field(&f, "index", &idx) != 0 || avro_value_set_int(&idx, 0) != 0 ? -1 : 0;
    }
    if (rc == 0) {
        rc = avro_set_str(v, "worker", rt->worker_id);
    }
    if (rc == 0) {
        rc = avro_field(v, "fate", &f) != 0 || avro_value_set_enum(&f, (int)fate->kind) != 0 ? -1 : 0;
    }
    if (rc == 0) {
        rc = avro_set_opt_str(v, "reason", fate->reason);
    }
    if (rc == 0) {
        rc = avro_set_opt_str(v, "policy", fate->policy);
    }
    if (rc == 0 && (rc = avro_set_union(v, "related", fate->related != NULL, &branch)) == 0 &&
        fate->related != NULL) {
        rc = avro_set_position(&branch, fate->related);
    }
    if (rc == 0 && bc_avro_encode(rt->fate_schema, v, &rt->avro_buf, errstr, sizeof(errstr)) != 0) {
        bc_log(BC_LOG_ERROR, "cannot encode Fate", "error", errstr, NULL);
        return -1;
    }
    if (rc != 0) {
        bc_log(BC_LOG_ERROR, "cannot build Fate", "error", avro_strerror(), NULL);
    }
    return rc;
}

static int dead_letter_encode(struct bc_runtime *rt, const struct bc_record *rec,
                              const struct bc_source *src, const char *code, const char *detail)
{
    avro_value_t *v = &rt->dlq_value, f, branch;
    char errstr[256];
    size_t key_len, value_len;
    const void *key = bc_record_key(rec, &key_len);
    const void *value = bc_record_value(rec, &value_len);
    avro_value_reset(v);
    int rc = avro_set_str(v, "reason", code) | avro_set_str(v, "message", detail ? detail : "") |
             avro_set_str(v, "worker", rt->worker_id);
    if (rc == 0 && (rc = avro_field(v, "source", &f)) == 0 && (rc = avro_set_position(&f, src)) == 0) {
        rc = avro_set_union(&f, "index", 0, &branch);
    }
    if (rc == 0) {
        rc = avro_field(v, "attempts", &f) != 0 || avro_value_set_int(&f, rec->attempt) != 0 ? -1 : 0;
    }
    if (rc == 0) {
        rc = avro_field(v, "raw", &f) != 0 ||
                     avro_value_set_bytes(&f, (void *)(value ? value : ""), value_len) != 0
                 ? -1
                 : 0;
    }
    if (rc == 0 && (rc = avro_set_union(v, "key", key != NULL, &branch)) == 0 && key != NULL) {
        rc = avro_value_set_bytes(&branch, (void *)key, key_len);
    }
    if (rc == 0) {
        int64_t ts = bc_record_timestamp(rec);
        rc = avro_field(v, "timestamp_ms", &f) != 0 || avro_value_set_long(&f, ts) != 0 ? -1 : 0;
    }
    if (rc == 0 && bc_avro_encode(rt->dlq_schema, v, &rt->avro_buf, errstr, sizeof(errstr)) != 0) {
        bc_log(BC_LOG_ERROR, "cannot encode DeadLetter", "error", errstr, NULL);
        return -1;
    }
    if (rc != 0) {
        bc_log(BC_LOG_ERROR, "cannot build DeadLetter", "error", avro_strerror(), NULL);
    }
    return rc;
}

/* bc_drop_fate with the Fate's timestamp given (ms; 0: the record's, or none). */
static int drop_fate_at(struct bc_ctx *ctx, const struct bc_record *rec,
                        const struct bc_source *fate_source, int64_t ts,
                        const struct bc_fate *fate)
{
    struct bc_runtime *rt = ctx->rt;
    struct bc_source src;
    if (rec != NULL) {
        bc_record_source(rec, &src);
        if (ts == 0) {
            ts = bc_record_timestamp(rec);
        }
    } else if (fate_source != NULL && fate_source->topic != NULL) {
        src = *fate_source;
    } else {
        bc_log(BC_LOG_ERROR, "bc_drop_fate without a record or source", NULL);
        return BC_FATAL;
    }
    if ((unsigned)fate->kind > BC_FATE_ROUTED) {
        return BC_FATAL;
    }
    char code[64];
    reason_code(code, sizeof(code), fate->reason);
    char policy_code[64];
    reason_code(policy_code, sizeof(policy_code), fate->policy);
    char key[320];
    int key_len = src_format(key, sizeof(key), &src, 0); /* <topic>:<partition>:<offset> */
    const void *value;
    size_t value_len;
    char json[768];
    if (rt->fate_schema != NULL) {
        struct bc_fate f = *fate;
        f.reason = fate->reason ? code : NULL;
        if (fate_encode(rt, &src, &f) != 0) {
            return BC_FATAL;
        }
        value = rt->avro_buf.data;
        value_len = rt->avro_buf.len;
    } else {
        /* No registry (started from flags without --schemas): the same fields as JSON;
         * each is a code, a number or a topic name, none needs escaping. */
        int n = snprintf(json, sizeof(json),
                         "{\"worker\":\"%s\",\"topic\":\"%s\",\"partition\":%" PRId32
                         ",\"offset\":%" PRId64 ",\"fate\":\"%s\",\"reason\":\"%s\"%s%s%s}",
                         rt->worker_id, src.topic, src.partition, src.offset,
                         fate_kind_names[fate->kind], code,
                         fate->policy != NULL ? ",\"policy\":\"" : "",
                         fate->policy != NULL ? policy_code : "",
                         fate->policy != NULL ? "\"" : "");
        value = json;
        value_len = (size_t)n < sizeof(json) ? (size_t)n : sizeof(json) - 1;
    }
    int rc = produce(rt, rt->fates_topic, RD_KAFKA_PARTITION_UA, key, (size_t)key_len, value,
                     value_len, ts, &src, 0, key, key_len, NULL, 0); /* bc.src is the key */
    if (rc == BC_OK) {
        rt->stats.fates++;
        bc_rt_metrics_emitted(rt->metrics, rt->fates_topic, -1); /* per-output count */
    }
    return rc;
}

int bc_drop_fate(struct bc_ctx *ctx, const struct bc_record *rec,
                 const struct bc_source *fate_source, const struct bc_fate *fate)
{
    return drop_fate_at(ctx, rec, fate_source, 0, fate);
}

/* The Fate kind a reason code stands for (bc_drop). */
static enum bc_fate_kind fate_kind_of(const char *reason)
{
    if (reason != NULL && (strcmp(reason, "duplicate") == 0 || strcmp(reason, "deduplicated") == 0)) {
        return BC_FATE_DEDUPLICATED;
    }
    if (reason != NULL && strncmp(reason, "sampled_out", 11) == 0 &&
        (reason[11] == '\0' || reason[11] == ':')) { /* "sampled_out:<detail>" too */
        return BC_FATE_SAMPLED_OUT;
    }
    return BC_FATE_DROPPED;
}

int bc_drop(struct bc_ctx *ctx, const struct bc_record *rec, const char *reason)
{
    struct bc_fate fate = {.kind = fate_kind_of(reason), .reason = reason};
    return drop_fate_at(ctx, rec, NULL, 0, &fate);
}

int bc_drop_source(struct bc_ctx *ctx, const struct bc_source *source, int64_t timestamp,
                   const char *reason, const char *policy)
{
    struct bc_fate fate = {.kind = fate_kind_of(reason), .reason = reason, .policy = policy};
    return drop_fate_at(ctx, NULL, source, timestamp, &fate);
}

int bc_dead_letter(struct bc_ctx *ctx, const struct bc_record *rec, const char *reason,
                   const char *detail)
{
    struct bc_runtime *rt = ctx->rt;
    struct bc_source src;
    bc_record_source(rec, &src);
    char code[64];
    reason_code(code, sizeof(code), reason);
    char attempts[16];
    int attempts_len = snprintf(attempts, sizeof(attempts), "%d", rec->attempt);
    struct bc_header extra[3] = {
        {"bc.dlq.reason", code, strlen(code)},
        {"bc.dlq.detail", detail ? detail : "", detail ? strlen(detail) : 0},
        {"bc.dlq.attempts", attempts, (size_t)attempts_len},
    };
    size_t key_len, value_len;
    const void *key = bc_record_key(rec, &key_len);
    const void *value = bc_record_value(rec, &value_len);
    if (rt->dlq_schema != NULL) {
        if (dead_letter_encode(rt, rec, &src, code, detail) != 0) {
            return BC_FATAL;
        }
        value = rt->avro_buf.data;
        value_len = rt->avro_buf.len;
    }
    char offset[24];
    snprintf(offset, sizeof(offset), "%" PRId64, src.offset);
    bc_log(BC_LOG_WARN, "dead letter", "topic", src.topic, "offset", offset, "reason", code,
           NULL);
    int rc = produce(rt, rt->dlq_topic, RD_KAFKA_PARTITION_UA, key, key_len, value, value_len,
                     bc_record_timestamp(rec), &src, 0, NULL, 0, extra, 3);
    if (rc == BC_OK) {
        rt->stats.dead_letters++;
        bc_rt_metrics_dead_letter(rt->metrics, code);
        bc_rt_metrics_emitted(rt->metrics, rt->dlq_topic, -1); /* per-output count */
    }
    return rc;
}

void bc_hold(struct bc_ctx *ctx, const char *topic, int32_t partition, int64_t offset)
{
    struct bc_runtime *rt = ctx->rt;
    if (topic == NULL) {
        topic = rt->settings.inputs[0];
    }
    struct part *p = part_find(rt, topic, partition);
    if (p == NULL) {
        return;
    }
    int advances = p->hold >= 0 && (offset < 0 || offset > p->hold);
    p->hold = offset < 0 ? -1 : offset;
    if (advances && p->next >= 0) {
        /* The committable offset moved: make sure a transaction carries it, even when the
         * stage writes nothing else and no record arrives. */
        (void)txn_ensure(rt);
    }
}

/* ---- stage API: stores ---------------------------------------------------------------- */

struct bc_store *bc_store_open(struct bc_ctx *ctx, const char *name,
                               const struct bc_store_opts *opts)
{
    struct bc_runtime *rt = ctx->rt;
    char changelog[512];
    char errstr[256];
    snprintf(changelog, sizeof(changelog), "%s.%s.%s.changelog", rt->settings.pipeline,
             rt->settings.worker, name);
    for (size_t i = 0; i < rt->store_count; i++) {
        if (strcmp(bc_store_name(rt->stores[i]), name) == 0) {
            bc_log(BC_LOG_ERROR, "store opened twice", "store", name, NULL);
            return NULL;
        }
    }
    struct bc_store **stores = realloc(rt->stores, (rt->store_count + 1) * sizeof(*stores));
    if (stores == NULL) {
        return NULL;
    }
    rt->stores = stores;
    struct bc_store *store =
        bc_store_new(name, changelog, opts, store_log, rt, errstr, sizeof(errstr));
    if (store == NULL) {
        bc_log(BC_LOG_ERROR, "cannot open store", "store", name, "error", errstr, NULL);
        return NULL;
    }
    /* Changelog records are written at commit, one per key changed in the transaction. */
    bc_store_set_write_back(store, store_dirty);
    rt->stores[rt->store_count++] = store;
    return store;
}

/* ---- stage API: metrics ----------------------------------------------------------------- */

void bc_metric_counter_add(struct bc_ctx *ctx, const char *name, const char *labels,
                           uint64_t n)
{
    bc_metric_add(bc_metric_counter(ctx, name, NULL, labels), n);
}

void bc_metric_counter_set(struct bc_ctx *ctx, const char *name, const char *labels,
                           uint64_t value)
{
    bc_metric_set(bc_metric_counter(ctx, name, NULL, labels), (double)value);
}

void bc_metric_gauge_set(struct bc_ctx *ctx, const char *name, const char *labels,
                         double value)
{
    bc_metric_set(bc_metrics_get(bc_rt_metrics_registry(ctx->rt->metrics), BC_METRIC_GAUGE, name,
                                 bc_rt_metrics_help(name), labels),
                  value);
}

struct bc_metric *bc_metric_counter(struct bc_ctx *ctx, const char *name, const char *help,
                                    const char *labels)
{
    return bc_metrics_get(bc_rt_metrics_registry(ctx->rt->metrics), BC_METRIC_COUNTER, name,
                          help != NULL ? help : bc_rt_metrics_help(name), labels);
}
