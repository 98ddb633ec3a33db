/*
 * The YAML topology (DESIGN §7): one file naming the pipeline, its Kafka cluster, schema
 * registry, topics and workers. Loading goes in three steps:
 *
 *   1. libyaml reads the file into a bc_node tree that keeps file:line:column (1-based) of
 *      every node; `${VAR}`, `${VAR:-default}` and `${VAR:?message}` are substituted inside
 *      scalar values (never keys); `$$` is a literal `$`. An unset `${VAR}` without default
 *      is an error at the scalar's position; `${VAR:?message}` reports message there.
 *      `:-` and `:?` apply to unset and to empty variables, as in the shell.
 *   2. The tree is validated against the option tables of bc_options.h (the topology's own
 *      tables in bc_config.c, each worker type's in workers/<dir>/options.c): unknown keys,
 *      wrong types, values out of bounds, missing required keys, duplicate keys.
 *   3. Cross checks: worker inputs, outputs and topic options must name a topic declared in
 *      `topics:` or an implicit one; output names must be ones the worker type writes;
 *      security settings must be complete; librdkafka passthrough keys must be known.
 *
 * Every error of every step is collected (struct bc_errors) and reported at once, sorted
 * in file order, as `FILE:LINE:COL: error: MESSAGE`.
 *
 * Implicit topics (never declared, always valid as references, listed with implicit = 1):
 *   <pipeline>.fates                        Fate records (DESIGN §3); partitions = the
 *                                           largest partition count declared
 *   <pipeline>.<worker>.<store>.changelog   one per state store of a worker type; partitions
 *                                           = its (first) input topic's, compacted
 * A worker without an explicit `dlq` output uses `<pipeline>.dlq` when that is declared and
 * is not one of its inputs (a worker reading the DLQ and writing its failures there loops).
 */
#ifndef BC_CONFIG_H
#define BC_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "bc_log.h"
#include "bc_options.h"

/* A key/value pair that keeps where it came from. */
struct bc_kv {
    char *key;   /* new */
    char *value; /* new */
    struct bc_pos pos;
};

enum bc_kafka_profile { BC_PROFILE_DEFAULT = 0, BC_PROFILE_TEST = 1 };

struct bc_kafka_settings {
    char *brokers; /* "host:port,..." or "embedded" (see SHARED-CONTRACTS) */
    struct bc_pos brokers_pos;
    struct bc_kv *client; /* librdkafka passthrough, in file order */
    size_t n_client;
    enum bc_kafka_profile profile;
    struct {
        char *protocol;       /* plaintext | ssl | sasl_plaintext | sasl_ssl */
        char *sasl_mechanism; /* PLAIN | SCRAM-SHA-256 | SCRAM-SHA-512, or NULL */
        char *username;       /* or NULL */
        char *password;       /* or NULL; never logged */
        char *ca_file;        /* or NULL */
    } security;
};

enum bc_cleanup { BC_CLEANUP_DELETE = 0, BC_CLEANUP_COMPACT = 1, BC_CLEANUP_COMPACT_DELETE = 2 };

struct bc_topic {
    char *name;
    struct bc_pos pos;          /* of its key in `topics:` (line 0 when implicit) */
    int32_t partitions;         /* >= 1 */
    int16_t replication_factor; /* >= 1 */
    int64_t retention_ms;       /* -1 = forever, 0 = the cluster's default */
    int64_t retention_bytes;    /* -1 = unlimited, 0 = the cluster's default */
    enum bc_cleanup cleanup;
    int64_t delete_retention_ms; /* 0 = the cluster's default */
    struct bc_kv *configs;       /* extra topic configs, passed through */
    size_t n_configs;
    int implicit; /* 1: fates or a changelog, derived by the config */
};

struct bc_output {
    char *name;  /* the worker type's output name ("normalized", "dlq") */
    char *topic; /* a declared or implicit topic */
    struct bc_pos pos;
};

struct bc_worker {
    char *name; /* the YAML key under `workers:` */
    struct bc_pos pos;
    const struct bc_worker_type *type; /* never NULL in a loaded config */
    char **inputs;                     /* topics it consumes (>= 1) */
    size_t n_inputs;
    struct bc_output *outputs; /* mapped outputs (+ the implicit dlq), in file order */
    size_t n_outputs;
    int replicas;              /* >= 1 */
    int commit_interval_ms;    /* transaction commit period (DESIGN §3) */
    int max_batch;             /* records per transaction at most */
    int max_attempts;          /* processing attempts before a record goes to the DLQ */
    int metrics_port;          /* first instance's HTTP port; instance i uses +i; 0 = none */
    struct bc_values *options; /* validated by type->options; defaults applied */
};

struct bc_config {
    char *file;     /* the path it was loaded from (positions point at this string) */
    char *pipeline; /* [a-z0-9_-]+ */
    struct bc_pos pipeline_pos;
    struct bc_kafka_settings kafka;
    struct {
        char *registry; /* "file" or an http(s):// URL */
        char *dir;      /* the schema directory (the .avsc texts, also with a URL) */
        char *username; /* registry basic auth, or NULL */
        char *password; /* or NULL; never logged */
        char *ca_file;  /* or NULL */
    } schemas;
    struct {
        enum bc_log_format format;
        enum bc_log_level level;
    } log;
    struct bc_topic *topics; /* declared ones in file order, then implicit ones */
    size_t n_topics;
    struct bc_worker *workers; /* in file order */
    size_t n_workers;
    struct bc_node *root;     /* the whole tree, owned; option nodes point into it */
    struct bc_values *values; /* the validated top-level table, owned */
    int topics_invalid;       /* while loading: `topics:` was not a map (skip references) */
};

/* Loads and validates path. Returns a new config (bc_config_destroy) when there was no
 * error; otherwise NULL, with every error appended to errs. */
struct bc_config *bc_config_load(const char *path, struct bc_errors *errs);
/* The same for YAML text in memory; name is used in positions. */
struct bc_config *bc_config_load_string(const char *name, const char *text, size_t len,
                                        struct bc_errors *errs);
void bc_config_destroy(struct bc_config *cfg);

/* The directory of the running program (its bin/, where the sibling programs are) into buf.
 * 0, or -1 when /proc/self/exe cannot be read. */
int bc_exe_dir(char *buf, size_t size);

/* Any other YAML file (e.g. the enricher's service catalog), read the same way: positions,
 * `${VAR}` substitution in values, duplicate keys rejected, aliases expanded. Validate it
 * with bc_options_validate() against a table. */
struct bc_yaml {
    char *file;           /* the name used in positions */
    struct bc_node *root; /* never NULL */
};

/* Returns a new document (bc_yaml_destroy) or NULL with the errors appended to errs. */
struct bc_yaml *bc_yaml_load(const char *path, struct bc_errors *errs);
struct bc_yaml *bc_yaml_load_string(const char *name, const char *text, size_t len,
                                    struct bc_errors *errs);
void bc_yaml_destroy(struct bc_yaml *doc);

/* Lookups; borrowed results or NULL. */
const struct bc_topic *bc_config_topic(const struct bc_config *cfg, const char *name);
const struct bc_worker *bc_config_worker(const struct bc_config *cfg, const char *name);
/* The topic a worker's output goes to, or NULL when not mapped. */
const char *bc_worker_output(const struct bc_worker *w, const char *output);

/* A stable 16-hex-digit hash of everything that decides what the worker writes: pipeline,
 * worker name and type, inputs, outputs, commit_interval_ms, max_batch, max_attempts and
 * every option's effective value (node options as canonical YAML). Not the brokers,
 * replicas, metrics port or logging, which can change without changing any output. For
 * lineage headers (DESIGN §5). out must hold 17 bytes. */
void bc_config_worker_hash(const struct bc_config *cfg, const struct bc_worker *w, char out[17]);

/* The markdown reference of the topology and of every worker type's options, as embedded
 * in README.md between `<!-- reference:begin -->` and `<!-- reference:end -->`. */
void bc_config_reference(FILE *out);

#endif
