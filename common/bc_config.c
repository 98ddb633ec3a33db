/* The YAML topology (bc_config.h): libyaml events -> bc_node tree with positions and
 * `${VAR}` substitution -> validation against the topology's tables and each worker type's
 * -> typed structs, with every error collected. */
#include "bc_config.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <xxhash.h>
#include <yaml.h>

/* ---- the node tree ------------------------------------------------------------------- */

static void node_free(struct bc_node *node)
{
    if (node == NULL) {
        return;
    }
    for (size_t i = 0; i < node->n; i++) {
        if (node->keys != NULL) {
            node_free(node->keys[i]);
        }
        node_free(node->values[i]);
    }
    free(node->keys);
    free(node->values);
    free(node->scalar);
    free(node);
}

static struct bc_node *node_new(enum bc_node_kind kind, const char *file, yaml_mark_t mark)
{
    struct bc_node *node = bc_xcalloc(1, sizeof(*node));
    node->kind = kind;
    node->pos.file = file;
    node->pos.line = (int)mark.line + 1;
    node->pos.column = (int)mark.column + 1;
    return node;
}

static struct bc_node *node_copy(const struct bc_node *src)
{
    struct bc_node *node = bc_xcalloc(1, sizeof(*node));
    *node = *src;
    node->scalar = src->scalar != NULL ? bc_xstrdup(src->scalar) : NULL;
    node->keys = NULL;
    node->values = NULL;
    if (src->n > 0) {
        node->values = bc_xcalloc(src->n, sizeof(struct bc_node *));
        if (src->keys != NULL) {
            node->keys = bc_xcalloc(src->n, sizeof(struct bc_node *));
        }
        for (size_t i = 0; i < src->n; i++) {
            node->values[i] = node_copy(src->values[i]);
            if (src->keys != NULL) {
                node->keys[i] = node_copy(src->keys[i]);
            }
        }
    }
    return node;
}

/* Appends item to a SEQ, or key+value to a MAP (dropping a duplicate key with an error). */
static void node_append(struct bc_node *parent, struct bc_node *key, struct bc_node *value,
                        struct bc_errors *errs)
{
    if (parent->kind == BC_NODE_MAP) {
        for (size_t i = 0; i < parent->n; i++) {
            if (strcmp(parent->keys[i]->scalar, key->scalar) == 0) {
                bc_errors_add(errs, &key->pos, "duplicate key '%s' (first at line %d)", key->scalar,
                              parent->keys[i]->pos.line);
                node_free(key);
                node_free(value);
                return;
            }
        }
    }
    struct bc_node **values = realloc(parent->values, (parent->n + 1) * sizeof(*values));
    if (values == NULL) {
        abort();
    }
    parent->values = values;
    if (parent->kind == BC_NODE_MAP) {
        struct bc_node **keys = realloc(parent->keys, (parent->n + 1) * sizeof(*keys));
        if (keys == NULL) {
            abort();
        }
        parent->keys = keys;
        parent->keys[parent->n] = key;
    }
    parent->values[parent->n++] = value;
}

/* ---- ${VAR} substitution ------------------------------------------------------------- */

/* Substitutes in text. Returns a new string, or NULL with an error added at pos. */
static char *substitute(const char *text, const struct bc_pos *pos, struct bc_errors *errs)
{
    size_t cap = strlen(text) + 64, len = 0;
    char *out = bc_xcalloc(cap, 1);
    const char *p = text;
    int failed = 0;
    while (*p != '\0') {
        const char *piece = NULL;
        size_t piece_len = 0;
        if (p[0] == '$' && p[1] == '$') {
            piece = "$";
            piece_len = 1;
            p += 2;
        } else if (p[0] == '$' && p[1] == '{') {
            const char *end = strchr(p + 2, '}');
            if (end == NULL) {
                bc_errors_add(errs, pos, "unterminated '${' in '%s'", text);
                free(out);
                return NULL;
            }
            const char *name = p + 2;
            size_t name_len = 0;
            while (name + name_len < end &&
                   (isalnum((unsigned char)name[name_len]) || name[name_len] == '_')) {
                name_len++;
            }
            const char *rest = name + name_len; /* ":-default", ":?message" or "}" */
            int bad_name = name_len == 0 || isdigit((unsigned char)name[0]);
            int has_default = strncmp(rest, ":-", 2) == 0;
            int has_message = strncmp(rest, ":?", 2) == 0;
            if (bad_name || (rest != end && !has_default && !has_message)) {
                bc_errors_add(errs, pos,
                              "bad variable reference '%.*s' (expected ${NAME}, "
                              "${NAME:-default} or ${NAME:?message})",
                              (int)(end - p + 1), p);
                failed = 1;
                p = end + 1;
                continue;
            }
            char *var = strndup(name, name_len);
            const char *value = getenv(var);
            if (value != NULL && value[0] != '\0') {
                piece = value;
                piece_len = strlen(value);
            } else if (has_default) {
                piece = rest + 2;
                piece_len = (size_t)(end - piece);
            } else if (has_message) {
                bc_errors_add(errs, pos, "%s: %.*s", var, (int)(end - rest - 2), rest + 2);
                failed = 1;
            } else if (value != NULL) {
                piece = "";
            } else {
                bc_errors_add(errs, pos,
                              "environment variable %s is not set (use ${%s:-default} "
                              "for a default)",
                              var, var);
                failed = 1;
            }
            free(var);
            p = end + 1;
        } else {
            piece = p;
            piece_len = 1;
            p++;
        }
        if (piece != NULL) {
            if (len + piece_len + 1 > cap) {
                cap = (len + piece_len + 1) * 2;
                char *grown = realloc(out, cap);
                if (grown == NULL) {
                    abort();
                }
                out = grown;
            }
            memcpy(out + len, piece, piece_len);
            len += piece_len;
            out[len] = '\0';
        }
    }
    if (failed) {
        free(out);
        return NULL;
    }
    return out;
}

/* ---- YAML -> tree ---------------------------------------------------------------------- */

struct anchor {
    char *name;
    const struct bc_node *node; /* borrowed from the tree being built */
};

struct frame {
    struct bc_node *node;
    struct bc_node *pending_key; /* MAP: a key waiting for its value */
    char *anchor;
};

/* Aliases are expanded by copying; this bounds what a file of nested aliases can cost
 * ("billion laughs"). */
#define ALIAS_NODES_MAX 100000

static size_t node_count(const struct bc_node *node)
{
    size_t n = 1;
    for (size_t i = 0; i < node->n; i++) {
        n += node_count(node->values[i]) + (node->keys != NULL ? 1 : 0);
    }
    return n;
}

struct builder {
    size_t alias_nodes; /* nodes copied for aliases so far */
    const char *file;
    struct bc_errors *errs;
    struct frame stack[64];
    int depth;
    struct anchor *anchors;
    size_t n_anchors;
    struct bc_node *root;
};

/* Places a finished node into the current container (or makes it the root). */
static void builder_place(struct builder *b, struct bc_node *node, const char *anchor)
{
    if (anchor != NULL) {
        struct anchor *a = realloc(b->anchors, (b->n_anchors + 1) * sizeof(*a));
        if (a == NULL) {
            abort();
        }
        b->anchors = a;
        b->anchors[b->n_anchors].name = bc_xstrdup(anchor);
        b->anchors[b->n_anchors++].node = node;
    }
    if (b->depth == 0) {
        if (b->root == NULL) {
            b->root = node;
        } else {
            node_free(node);
        }
        return;
    }
    struct frame *f = &b->stack[b->depth - 1];
    if (f->node->kind == BC_NODE_SEQ) {
        node_append(f->node, NULL, node, b->errs);
    } else if (f->pending_key == NULL) {
        if (node->kind != BC_NODE_SCALAR || node->is_null) {
            bc_errors_add(b->errs, &node->pos, "a map key must be a string, got %s",
                          bc_node_kind_name(node));
            /* Keep the shape: a placeholder key so the value that follows has a home. */
            struct bc_node *key = bc_xcalloc(1, sizeof(*key));
            key->kind = BC_NODE_SCALAR;
            key->pos = node->pos;
            key->scalar = bc_xstrdup("");
            node_free(node);
            node = key;
        }
        f->pending_key = node;
    } else {
        struct bc_node *key = f->pending_key;
        f->pending_key = NULL;
        node_append(f->node, key, node, b->errs);
    }
}

static int expecting_key(const struct builder *b)
{
    return b->depth > 0 && b->stack[b->depth - 1].node->kind == BC_NODE_MAP &&
           b->stack[b->depth - 1].pending_key == NULL;
}

static int is_null_text(const char *s)
{
    return s[0] == '\0' || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 ||
           strcmp(s, "Null") == 0 || strcmp(s, "NULL") == 0;
}

static void builder_free(struct builder *b)
{
    for (int i = 0; i < b->depth; i++) {
        node_free(b->stack[i].node);
        node_free(b->stack[i].pending_key);
        free(b->stack[i].anchor);
    }
    for (size_t i = 0; i < b->n_anchors; i++) {
        free(b->anchors[i].name);
    }
    free(b->anchors);
}

/* Parses YAML text into a tree. Returns the root (new) or NULL with errors added. */
static struct bc_node *parse_yaml(const char *file, const char *text, size_t len,
                                  struct bc_errors *errs)
{
    yaml_parser_t parser;
    struct builder b = {.file = file, .errs = errs};
    if (!yaml_parser_initialize(&parser)) {
        bc_errors_add(errs, NULL, "%s: cannot initialize the YAML parser", file);
        return NULL;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    int done = 0, documents = 0;
    while (!done) {
        yaml_event_t event;
        if (!yaml_parser_parse(&parser, &event)) {
            struct bc_pos pos = {file, (int)parser.problem_mark.line + 1,
                                 (int)parser.problem_mark.column + 1};
            bc_errors_add(errs, &pos, "invalid YAML: %s%s%s",
                          parser.problem ? parser.problem : "syntax error",
                          parser.context ? " " : "", parser.context ? parser.context : "");
            node_free(b.root);
            b.root = NULL;
            break;
        }
        switch (event.type) {
        case YAML_STREAM_END_EVENT:
            done = 1;
            break;
        case YAML_DOCUMENT_START_EVENT:
            if (++documents == 2) {
                struct bc_pos pos = {file, (int)event.start_mark.line + 1,
                                     (int)event.start_mark.column + 1};
                bc_errors_add(errs, &pos, "a topology is one YAML document; found a second");
            }
            break;
        case YAML_MAPPING_START_EVENT:
        case YAML_SEQUENCE_START_EVENT: {
            int is_map = event.type == YAML_MAPPING_START_EVENT;
            if (b.depth == (int)(sizeof(b.stack) / sizeof(b.stack[0]))) {
                struct bc_pos pos = {file, (int)event.start_mark.line + 1,
                                     (int)event.start_mark.column + 1};
                bc_errors_add(errs, &pos, "nested too deeply");
                done = 1;
                node_free(b.root);
                b.root = NULL;
                break;
            }
            const yaml_char_t *anchor =
                is_map ? event.data.mapping_start.anchor : event.data.sequence_start.anchor;
            struct frame *f = &b.stack[b.depth++];
            f->node = node_new(is_map ? BC_NODE_MAP : BC_NODE_SEQ, file, event.start_mark);
            f->pending_key = NULL;
            f->anchor = anchor != NULL ? bc_xstrdup((const char *)anchor) : NULL;
            break;
        }
        case YAML_MAPPING_END_EVENT:
        case YAML_SEQUENCE_END_EVENT: {
            struct frame f = b.stack[--b.depth];
            node_free(f.pending_key);
            builder_place(&b, f.node, f.anchor);
            free(f.anchor);
            break;
        }
        case YAML_SCALAR_EVENT: {
            struct bc_node *node = node_new(BC_NODE_SCALAR, file, event.start_mark);
            const char *raw = (const char *)event.data.scalar.value;
            int plain = event.data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
            node->quoted = !plain;
            node->is_null = plain && is_null_text(raw);
            node->env_ref = strncmp(raw, "${", 2) == 0 && strchr(raw, '}') == raw + strlen(raw) - 1;
            if (!expecting_key(&b) && !node->is_null && strchr(raw, '$') != NULL) {
                node->scalar = substitute(raw, &node->pos, errs);
                if (node->scalar == NULL) {
                    node->scalar = bc_xstrdup(raw);
                    node->invalid = 1;
                }
            } else {
                node->scalar = bc_xstrdup(raw);
            }
            builder_place(&b, node, (const char *)event.data.scalar.anchor);
            break;
        }
        case YAML_ALIAS_EVENT: {
            const char *name = (const char *)event.data.alias.anchor;
            const struct bc_node *target = NULL;
            for (size_t i = 0; i < b.n_anchors; i++) {
                if (strcmp(b.anchors[i].name, name) == 0) {
                    target = b.anchors[i].node;
                }
            }
            if (target != NULL) {
                b.alias_nodes += node_count(target);
            }
            if (target == NULL || b.alias_nodes > ALIAS_NODES_MAX) {
                struct bc_pos pos = {file, (int)event.start_mark.line + 1,
                                     (int)event.start_mark.column + 1};
                if (target == NULL) {
                    bc_errors_add(errs, &pos, "unknown alias '*%s'", name);
                } else if (b.alias_nodes - node_count(target) <= ALIAS_NODES_MAX) {
                    bc_errors_add(errs, &pos, "aliases expand to more than %d nodes",
                                  ALIAS_NODES_MAX);
                }
                struct bc_node *null = node_new(BC_NODE_SCALAR, file, event.start_mark);
                null->scalar = bc_xstrdup("");
                null->is_null = 1;
                builder_place(&b, null, NULL);
            } else {
                builder_place(&b, node_copy(target), NULL);
            }
            break;
        }
        default:
            break;
        }
        yaml_event_delete(&event);
    }
    yaml_parser_delete(&parser);
    builder_free(&b);
    if (b.root == NULL && errs->n == 0) {
        struct bc_pos pos = {file, 1, 1};
        bc_errors_add(errs, &pos, "the file is empty");
    }
    return b.root;
}

/* ---- the topology's tables ------------------------------------------------------------- */

static int check_name(struct bc_check *ck, const struct bc_node *node)
{
    const char *s = node->scalar;
    int ok = s[0] != '\0' && (islower((unsigned char)s[0]) || isdigit((unsigned char)s[0]));
    for (const char *p = s; ok && *p != '\0'; p++) {
        ok = islower((unsigned char)*p) || isdigit((unsigned char)*p) || *p == '-' || *p == '_';
    }
    if (!ok) {
        bc_check_error(ck, node, "%s: '%s' must be lowercase letters, digits, '-' and '_'",
                       ck->path, s);
        return 1;
    }
    return 0;
}

static int check_registry(struct bc_check *ck, const struct bc_node *node)
{
    const char *s = node->scalar;
    if (strcmp(s, "file") != 0 && strncmp(s, "http://", 7) != 0 && strncmp(s, "https://", 8) != 0) {
        bc_check_error(ck, node, "%s: expected \"file\" or an http(s):// URL, got '%s'", ck->path,
                       s);
        return 1;
    }
    return 0;
}

/* Settings the runtime owns: a passthrough value would break exactly-once or routing. */
static const char *const managed_keys[] = {
    "bootstrap.servers",  "metadata.broker.list", "group.id",
    "group.instance.id",  "transactional.id",     "isolation.level",
    "enable.auto.commit", "enable.idempotence",   "security.protocol",
    "sasl.mechanisms",    "sasl.mechanism",       "sasl.username",
    "sasl.password",      "ssl.ca.location",      NULL,
};

static int check_client(struct bc_check *ck, const struct bc_node *node)
{
    int errors = 0;
    if (node->kind != BC_NODE_MAP) {
        return 0;
    }
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    for (size_t i = 0; i < node->n; i++) {
        const char *key = node->keys[i]->scalar;
        const struct bc_node *val = node->values[i];
        int managed = 0;
        for (size_t j = 0; managed_keys[j] != NULL; j++) {
            managed |= strcmp(managed_keys[j], key) == 0;
        }
        if (managed) {
            bc_check_error(ck, node->keys[i],
                           "%s: '%s' is set by breadcrumb (use kafka.brokers, "
                           "kafka.security or the worker's settings)",
                           ck->path, key);
            errors++;
            continue;
        }
        if (val->kind != BC_NODE_SCALAR) {
            continue; /* reported by the type check */
        }
        char errstr[512];
        if (rd_kafka_conf_set(conf, key, val->scalar, errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK) {
            bc_check_error(ck, node->keys[i], "%s.%s: %s", ck->path, key, errstr);
            errors++;
        }
    }
    rd_kafka_conf_destroy(conf);
    return errors;
}

static const char *const profile_values[] = {"default", "test", NULL};
static const char *const protocol_values[] = {"plaintext", "ssl", "sasl_plaintext", "sasl_ssl",
                                              NULL};
static const char *const mechanism_values[] = {"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", NULL};
static const char *const format_values[] = {"logfmt", "json", NULL};
static const char *const level_values[] = {"debug", "info", "warn", "error", NULL};
static const char *const cleanup_values[] = {"delete", "compact", "compact,delete", NULL};

static const struct bc_option security_table[] = {
    {.name = "protocol",
     .type = BC_OPT_ENUM,
     .def = "plaintext",
     .values = protocol_values,
     .description = "security.protocol of every client"},
    {.name = "sasl_mechanism",
     .type = BC_OPT_ENUM,
     .values = mechanism_values,
     .description = "SASL mechanism; required with sasl_plaintext and sasl_ssl"},
    {.name = "username", .type = BC_OPT_STRING, .description = "SASL username"},
    {.name = "password",
     .type = BC_OPT_STRING,
     .description = "SASL password (use `${VAR}`; never logged)"},
    {.name = "ca_file",
     .type = BC_OPT_STRING,
     .description = "CA certificate file (PEM) for ssl and sasl_ssl"},
    {.name = NULL},
};

static const struct bc_option kafka_table[] = {
    {.name = "brokers",
     .type = BC_OPT_STRING,
     .def = "embedded",
     .description = "bootstrap servers `host:port,...`, or `embedded`: the embedded "
                    "breadcrumb-broker, whose address comes from `$BREADCRUMB_BROKERS`; "
                    "`--brokers` on any command overrides both"},
    {.name = "profile",
     .type = BC_OPT_ENUM,
     .def = "default",
     .values = profile_values,
     .description = "client timeouts: `default` (Kafka's) or `test` (fast failure detection: "
                    "6 s sessions, 10 s transactions)"},
    {.name = "client",
     .type = BC_OPT_KV,
     .check = check_client,
     .description = "librdkafka settings passed through to every client (e.g. `linger.ms`); "
                    "applied after the profile"},
    {.name = "security",
     .type = BC_OPT_TABLE,
     .sub = security_table,
     .description = "TLS and SASL"},
    {.name = NULL},
};

static const struct bc_option schemas_table[] = {
    {.name = "registry",
     .type = BC_OPT_STRING,
     .def = "file",
     .check = check_registry,
     .description = "`file` (the checked-in schemas and their manifest) or the URL of a "
                    "Confluent-compatible schema registry"},
    {.name = "dir",
     .type = BC_OPT_STRING,
     .def = "",
     .description = "the schema directory: a relative path is relative to the topology file; "
                    "empty: the `schemas/` directory beside the programs' `bin/`"},
    {.name = "username", .type = BC_OPT_STRING, .description = "registry basic auth user"},
    {.name = "password",
     .type = BC_OPT_STRING,
     .description = "registry basic auth password (use `${VAR}`; never logged)"},
    {.name = "ca_file",
     .type = BC_OPT_STRING,
     .description = "CA certificate file (PEM) for an https:// registry"},
    {.name = NULL},
};

static const struct bc_option log_table[] = {
    {.name = "format",
     .type = BC_OPT_ENUM,
     .def = "logfmt",
     .values = format_values,
     .description = "log line format on stderr"},
    {.name = "level",
     .type = BC_OPT_ENUM,
     .def = "info",
     .values = level_values,
     .description = "lowest level printed"},
    {.name = NULL},
};

static const struct bc_option topic_table[] = {
    {.name = "partitions",
     .type = BC_OPT_INT,
     .def = "1",
     .min = 1,
     .max = 10000,
     .description = "partition count"},
    {.name = "replication_factor",
     .type = BC_OPT_INT,
     .def = "1",
     .min = 1,
     .max = 32,
     .description = "replicas per partition (1 on the embedded broker)"},
    {.name = "retention",
     .type = BC_OPT_DURATION,
     .description = "retention.ms; omitted: the cluster's default"},
    {.name = "retention_bytes",
     .type = BC_OPT_SIZE,
     .description = "retention.bytes per partition; omitted: the cluster's default"},
    {.name = "cleanup",
     .type = BC_OPT_ENUM,
     .def = "delete",
     .values = cleanup_values,
     .description = "cleanup.policy"},
    {.name = "delete_retention",
     .type = BC_OPT_DURATION,
     .description = "delete.retention.ms: how long tombstones of a compacted topic stay"},
    {.name = "configs",
     .type = BC_OPT_KV,
     .description = "other topic configs, passed through as written"},
    {.name = NULL},
};

static const struct bc_option worker_table[] = {
    {.name = "type",
     .type = BC_OPT_STRING,
     .description = "worker type; defaults to the worker's name (normalizer, deduplicator, "
                    "enricher, tail-sampler, router, lineage-builder)"},
    {.name = "input",
     .type = BC_OPT_NODE,
     .flags = BC_OPT_REQUIRED,
     .doc_type = "topic or list of topics",
     .description = "the topic(s) consumed; a list only for lineage-builder"},
    {.name = "outputs",
     .type = BC_OPT_NODE,
     .doc_type = "map of output → topic",
     .description = "where each of the type's outputs goes (see each type below); `dlq` "
                    "defaults to `<pipeline>.dlq` when declared"},
    {.name = "replicas",
     .type = BC_OPT_INT,
     .def = "1",
     .min = 1,
     .max = 64,
     .description = "instances `breadcrumb run` starts"},
    {.name = "commit_interval_ms",
     .type = BC_OPT_INT,
     .def = "100",
     .min = 1,
     .max = 60000,
     .description = "commit the transaction at least this often"},
    {.name = "max_batch",
     .type = BC_OPT_INT,
     .def = "1000",
     .min = 1,
     .max = 1000000,
     .description = "records per transaction at most"},
    {.name = "max_attempts",
     .type = BC_OPT_INT,
     .def = "3",
     .min = 1,
     .max = 100,
     .description = "attempts before a record that fails processing goes to the DLQ"},
    {.name = "metrics_port",
     .type = BC_OPT_INT,
     .def = "0",
     .min = 0,
     .max = 65535,
     .description = "HTTP port of /metrics, /healthz, /readyz for instance 0 (instance i "
                    "uses port + i); 0: none"},
    {.name = "options",
     .type = BC_OPT_NODE,
     .doc_type = "map",
     .description = "the worker type's options (tables below)"},
    {.name = NULL},
};

static const struct bc_option topology_table[] = {
    {.name = "pipeline",
     .type = BC_OPT_STRING,
     .flags = BC_OPT_REQUIRED,
     .check = check_name,
     .description = "the pipeline's name: prefix of consumer groups, transactional ids and "
                    "implicit topics"},
    {.name = "kafka", .type = BC_OPT_TABLE, .sub = kafka_table, .description = "the Kafka cluster"},
    {.name = "schemas",
     .type = BC_OPT_TABLE,
     .sub = schemas_table,
     .description = "the Avro schema registry"},
    {.name = "log", .type = BC_OPT_TABLE, .sub = log_table, .description = "logging"},
    {.name = "topics",
     .type = BC_OPT_ENTRIES,
     .sub = topic_table,
     .flags = BC_OPT_REQUIRED,
     .description = "every topic the workers read or write, by name"},
    {.name = "workers",
     .type = BC_OPT_ENTRIES,
     .sub = worker_table,
     .flags = BC_OPT_REQUIRED,
     .description = "the workers, by name"},
    {.name = NULL},
};

/* ---- building the config --------------------------------------------------------------- */

static char *dup_or_null(const char *s)
{
    return s != NULL ? bc_xstrdup(s) : NULL;
}

static void kv_fill(const struct bc_value *v, struct bc_kv **out, size_t *n)
{
    *out = bc_xcalloc(v->n, sizeof(struct bc_kv));
    *n = v->n;
    for (size_t i = 0; i < v->n; i++) {
        (*out)[i].key = bc_xstrdup(v->names[i]);
        (*out)[i].value = bc_xstrdup(v->kv_values[i]);
        /* Position of the key: find it in the map node. */
        const struct bc_node *map = v->node;
        for (size_t k = 0; map != NULL && map->kind == BC_NODE_MAP && k < map->n; k++) {
            if (strcmp(map->keys[k]->scalar, v->names[i]) == 0) {
                (*out)[i].pos = map->keys[k]->pos;
            }
        }
    }
}

static void kv_free(struct bc_kv *kv, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(kv[i].key);
        free(kv[i].value);
    }
    free(kv);
}

static struct bc_topic *topic_add(struct bc_config *cfg, const char *name)
{
    struct bc_topic *t = realloc(cfg->topics, (cfg->n_topics + 1) * sizeof(*t));
    if (t == NULL) {
        abort();
    }
    cfg->topics = t;
    t = &cfg->topics[cfg->n_topics++];
    memset(t, 0, sizeof(*t));
    t->name = bc_xstrdup(name);
    t->partitions = 1;
    t->replication_factor = 1;
    return t;
}

/* Kafka's rule for topic names: [a-zA-Z0-9._-], at most 249 characters, not "." or "..". */
static int topic_name_ok(const char *s)
{
    size_t len = strlen(s);
    if (len == 0 || len > 249 || strcmp(s, ".") == 0 || strcmp(s, "..") == 0) {
        return 0;
    }
    for (const char *p = s; *p != '\0'; p++) {
        if (!isalnum((unsigned char)*p) && *p != '.' && *p != '_' && *p != '-') {
            return 0;
        }
    }
    return 1;
}

static void build_topics(struct bc_config *cfg, const struct bc_value *topics,
                         struct bc_errors *errs)
{
    for (size_t i = 0; i < topics->n; i++) {
        const struct bc_values *tv = topics->entries[i];
        struct bc_topic *t = topic_add(cfg, topics->names[i]);
        t->pos = tv->pos;
        if (!topic_name_ok(t->name)) {
            bc_errors_add(errs, &t->pos,
                          "topics: '%s' is not a valid topic name (letters, digits, '.', '_' "
                          "and '-', at most 249)",
                          t->name);
        }
        t->partitions = (int32_t)bc_values_int(tv, "partitions");
        t->replication_factor = (int16_t)bc_values_int(tv, "replication_factor");
        const struct bc_value *v = bc_values_find(tv, "retention");
        t->retention_ms = v->has ? v->i : 0;
        v = bc_values_find(tv, "retention_bytes");
        t->retention_bytes = v->has ? v->i : 0;
        v = bc_values_find(tv, "delete_retention");
        t->delete_retention_ms = v->has ? v->i : 0;
        const char *cleanup = bc_values_str(tv, "cleanup");
        t->cleanup = strcmp(cleanup, "compact") == 0          ? BC_CLEANUP_COMPACT
                     : strcmp(cleanup, "compact,delete") == 0 ? BC_CLEANUP_COMPACT_DELETE
                                                              : BC_CLEANUP_DELETE;
        kv_fill(bc_values_find(tv, "configs"), &t->configs, &t->n_configs);
    }
}

static int in_list(const char *const *list, const char *s)
{
    for (size_t i = 0; list != NULL && list[i] != NULL; i++) {
        if (strcmp(list[i], s) == 0) {
            return 1;
        }
    }
    return 0;
}

static void list_join(const char *const *list, char *buf, size_t size)
{
    size_t len = 0;
    buf[0] = '\0';
    for (size_t i = 0; list != NULL && list[i] != NULL; i++) {
        int n = snprintf(buf + len, len < size ? size - len : 0, "%s%s", i ? ", " : "", list[i]);
        len += (size_t)(n > 0 ? n : 0);
    }
}

/* Pass 1: name, type, settings and input names (no reference checks yet). */
static void build_worker(struct bc_worker *w, const char *name, const struct bc_values *wv,
                         struct bc_errors *errs)
{
    w->name = bc_xstrdup(name);
    w->pos = wv->pos;
    int name_ok = name[0] != '\0';
    for (const char *p = name; *p != '\0'; p++) {
        name_ok &=
            islower((unsigned char)*p) || isdigit((unsigned char)*p) || *p == '-' || *p == '_';
    }
    if (!name_ok) {
        bc_errors_add(errs, &w->pos,
                      "workers: '%s' is not a valid worker name (lowercase letters, digits, '-' "
                      "and '_'; it names consumer groups and topics)",
                      name);
    }
    const struct bc_value *tv = bc_values_find(wv, "type");
    const char *type = tv->has ? tv->s : name;
    w->type = bc_worker_type_find(type);
    if (w->type == NULL) {
        char names[256];
        const char *list[16] = {0};
        for (size_t i = 0; bc_worker_types[i] != NULL && i < 15; i++) {
            list[i] = bc_worker_types[i]->name;
        }
        list_join(list, names, sizeof(names));
        bc_errors_add(errs, tv->has ? &tv->node->pos : &w->pos,
                      "workers.%s: unknown worker type '%s' (expected one of: %s)%s", name, type,
                      names, tv->has ? "" : "; the type defaults to the worker's name");
    }
    w->replicas = (int)bc_values_int(wv, "replicas");
    w->commit_interval_ms = (int)bc_values_int(wv, "commit_interval_ms");
    w->max_batch = (int)bc_values_int(wv, "max_batch");
    w->max_attempts = (int)bc_values_int(wv, "max_attempts");
    w->metrics_port = (int)bc_values_int(wv, "metrics_port");

    const struct bc_node *input = bc_values_node(wv, "input");
    if (input == NULL) {
        return; /* missing: reported by the table */
    }
    if (input->kind == BC_NODE_SCALAR && !input->is_null) {
        w->inputs = bc_xcalloc(1, sizeof(char *));
        w->inputs[w->n_inputs++] = bc_xstrdup(input->scalar);
    } else if (input->kind == BC_NODE_SEQ && input->n > 0) {
        w->inputs = bc_xcalloc(input->n, sizeof(char *));
        for (size_t i = 0; i < input->n; i++) {
            const struct bc_node *item = input->values[i];
            if (item->kind != BC_NODE_SCALAR || item->is_null) {
                bc_errors_add(errs, &item->pos, "workers.%s.input: expected a topic name, got %s",
                              name, bc_node_kind_name(item));
                continue;
            }
            w->inputs[w->n_inputs++] = bc_xstrdup(item->scalar);
        }
        if (input->n > 1 && w->type != NULL && !w->type->multi_input) {
            bc_errors_add(errs, &input->pos,
                          "workers.%s.input: a %s reads one topic, got a list of %zu", name,
                          w->type->name, input->n);
        }
    } else {
        bc_errors_add(errs, &input->pos,
                      "workers.%s.input: expected a topic name or a list of topics, got %s", name,
                      bc_node_kind_name(input));
    }
}

static void output_add(struct bc_worker *w, const char *name, const char *topic,
                       const struct bc_pos *pos)
{
    struct bc_output *o = realloc(w->outputs, (w->n_outputs + 1) * sizeof(*o));
    if (o == NULL) {
        abort();
    }
    w->outputs = o;
    o = &w->outputs[w->n_outputs++];
    o->name = bc_xstrdup(name);
    o->topic = bc_xstrdup(topic);
    o->pos = pos != NULL ? *pos : (struct bc_pos){0};
}

/* Pass 2: references to topics, outputs and the type's options. */
static void check_worker(struct bc_config *cfg, struct bc_worker *w, const struct bc_values *wv,
                         struct bc_errors *errs)
{
    char path[256];
    struct bc_check ck = {.config = cfg, .worker = w, .errs = errs};
    if (wv->invalid) {
        return; /* not a map: that error says it all */
    }
    const struct bc_node *input = bc_values_node(wv, "input");
    snprintf(path, sizeof(path), "workers.%s.input", w->name);
    ck.path = path;
    if (input != NULL && input->kind == BC_NODE_SCALAR && !input->is_null) {
        bc_check_topic(&ck, input);
    } else if (input != NULL && input->kind == BC_NODE_SEQ) {
        for (size_t i = 0; i < input->n; i++) {
            if (input->values[i]->kind == BC_NODE_SCALAR && !input->values[i]->is_null) {
                bc_check_topic(&ck, input->values[i]);
            }
        }
    }
    if (w->type == NULL) {
        return;
    }

    const struct bc_node *outputs = bc_values_node(wv, "outputs");
    snprintf(path, sizeof(path), "workers.%s.outputs", w->name);
    ck.path = path;
    char names[256];
    list_join(w->type->outputs, names, sizeof(names));
    if (outputs != NULL && !(outputs->kind == BC_NODE_SCALAR && outputs->is_null)) {
        if (outputs->kind != BC_NODE_MAP) {
            bc_errors_add(errs, &outputs->pos, "%s: expected a map of output name to topic, got %s",
                          path, bc_node_kind_name(outputs));
            outputs = NULL;
        }
    } else {
        outputs = NULL;
    }
    for (size_t i = 0; outputs != NULL && i < outputs->n; i++) {
        const char *oname = outputs->keys[i]->scalar;
        const struct bc_node *topic = outputs->values[i];
        if (!in_list(w->type->outputs, oname)) {
            bc_errors_add(errs, &outputs->keys[i]->pos, "unknown key '%s' in %s (a %s writes: %s)",
                          oname, path, w->type->name, names);
            continue;
        }
        char opath[300];
        snprintf(opath, sizeof(opath), "%s.%s", path, oname);
        ck.path = opath;
        if (bc_check_topic(&ck, topic) != 0) {
            continue;
        }
        /* An output named `repartition` is an internal topic the worker reads back
         * (deduplicator): the one allowed loop. */
        for (size_t j = 0; j < w->n_inputs && strcmp(oname, "repartition") != 0; j++) {
            if (strcmp(w->inputs[j], topic->scalar) == 0) {
                bc_errors_add(errs, &topic->pos, "%s: '%s' is also the worker's input (a loop)",
                              opath, topic->scalar);
            }
        }
        output_add(w, oname, topic->scalar, &topic->pos);
    }
    ck.path = path;
    for (size_t i = 0; w->type->required_outputs != NULL && w->type->required_outputs[i]; i++) {
        const char *req = w->type->required_outputs[i];
        if (bc_worker_output(w, req) != NULL || bc_node_get(outputs, req) != NULL) {
            continue; /* mapped (a bad topic was reported already) */
        }
        char dlq[256];
        snprintf(dlq, sizeof(dlq), "%s.dlq", cfg->pipeline != NULL ? cfg->pipeline : "");
        if (strcmp(req, "dlq") == 0 && bc_config_topic(cfg, dlq) != NULL) {
            continue; /* added below */
        }
        bc_errors_add(errs, outputs != NULL ? &outputs->pos : &w->pos,
                      "%s: missing required output '%s' (a %s writes: %s)", path, req,
                      w->type->name, names);
    }
    if (in_list(w->type->outputs, "dlq") && bc_worker_output(w, "dlq") == NULL &&
        cfg->pipeline != NULL) {
        char dlq[256];
        snprintf(dlq, sizeof(dlq), "%s.dlq", cfg->pipeline);
        int reads_it = 0;
        for (size_t i = 0; i < w->n_inputs; i++) {
            reads_it |= strcmp(w->inputs[i], dlq) == 0;
        }
        /* Not for a worker that reads the DLQ: a record it cannot process would loop. */
        if (bc_config_topic(cfg, dlq) != NULL && !reads_it) {
            output_add(w, "dlq", dlq, NULL);
        }
    }

    snprintf(path, sizeof(path), "workers.%s.options", w->name);
    ck.path = path;
    const struct bc_value *ov = bc_values_find(wv, "options");
    w->options = bc_options_validate(&ck, ov->node, path, w->type->options, &w->pos);
    if (w->options == NULL) {
        w->options = bc_options_validate(&ck, NULL, path, w->type->options, &w->pos);
    }
    if (w->type->check != NULL) {
        w->type->check(&ck, w->options);
    }
}

/* Adds <pipeline>.fates and the changelog topics of every worker's stores. */
static void add_implicit_topics(struct bc_config *cfg)
{
    int32_t max_partitions = 1;
    for (size_t i = 0; i < cfg->n_topics; i++) {
        if (cfg->topics[i].partitions > max_partitions) {
            max_partitions = cfg->topics[i].partitions;
        }
    }
    char name[512];
    snprintf(name, sizeof(name), "%s.fates", cfg->pipeline);
    if (bc_config_topic(cfg, name) == NULL) {
        struct bc_topic *t = topic_add(cfg, name);
        t->partitions = max_partitions;
        t->implicit = 1;
    }
    for (size_t i = 0; i < cfg->n_workers; i++) {
        const struct bc_worker *w = &cfg->workers[i];
        for (size_t s = 0; w->type != NULL && w->type->stores != NULL && w->type->stores[s]; s++) {
            snprintf(name, sizeof(name), "%s.%s.%s.changelog", cfg->pipeline, w->name,
                     w->type->stores[s]);
            if (bc_config_topic(cfg, name) != NULL) {
                continue;
            }
            /* Store partition = input partition: as many as the largest input (a
             * multi-input worker such as the lineage-builder owns every number). */
            const struct bc_topic *in = w->n_inputs > 0 ? bc_config_topic(cfg, w->inputs[0]) : NULL;
            int32_t partitions = in != NULL ? in->partitions : 1;
            int16_t rf = in != NULL ? in->replication_factor : 1;
            for (size_t k = 1; k < w->n_inputs; k++) {
                const struct bc_topic *other = bc_config_topic(cfg, w->inputs[k]);
                if (other != NULL && other->partitions > partitions) {
                    partitions = other->partitions;
                }
            }
            struct bc_topic *t = topic_add(cfg, name);
            t->partitions = partitions;
            t->replication_factor = rf;
            t->cleanup = BC_CLEANUP_COMPACT;
            t->implicit = 1;
        }
    }
}

/* Instances of worker W listen on metrics_port .. metrics_port + replicas - 1: no two workers
 * may overlap (`breadcrumb run` starts them all on one host). */
static void check_metrics_ports(const struct bc_config *cfg, const struct bc_value *workers,
                                struct bc_errors *errs)
{
    for (size_t i = 0; i < cfg->n_workers; i++) {
        const struct bc_worker *a = &cfg->workers[i];
        if (a->metrics_port == 0) {
            continue;
        }
        if (a->metrics_port + a->replicas - 1 > 65535) {
            const struct bc_value *v = bc_values_find(workers->entries[i], "metrics_port");
            bc_errors_add(errs, v->node != NULL ? &v->node->pos : &a->pos,
                          "workers.%s.metrics_port: %d replicas need ports up to %d", a->name,
                          a->replicas, a->metrics_port + a->replicas - 1);
        }
        for (size_t j = 0; j < i; j++) {
            const struct bc_worker *b = &cfg->workers[j];
            if (b->metrics_port == 0 || a->metrics_port > b->metrics_port + b->replicas - 1 ||
                b->metrics_port > a->metrics_port + a->replicas - 1) {
                continue;
            }
            const struct bc_value *v = bc_values_find(workers->entries[i], "metrics_port");
            bc_errors_add(errs, v->node != NULL ? &v->node->pos : &a->pos,
                          "workers.%s.metrics_port: ports %d..%d overlap %s's %d..%d", a->name,
                          a->metrics_port, a->metrics_port + a->replicas - 1, b->name,
                          b->metrics_port, b->metrics_port + b->replicas - 1);
        }
    }
}

static void check_security(struct bc_config *cfg, const struct bc_values *kafka,
                           struct bc_errors *errs)
{
    const struct bc_value *sec = bc_values_find(kafka, "security");
    const char *protocol = cfg->kafka.security.protocol;
    /* A secret comes from the environment only; the value itself is never printed. */
    const struct bc_value *pw = bc_values_find(sec->sub, "password");
    if (pw->has && pw->node != NULL && !pw->node->env_ref) {
        bc_errors_add(errs, &pw->node->pos,
                      "kafka.security.password: a literal password is not allowed; write "
                      "a ${VAR} reference and set VAR in the environment");
    }
    if (protocol == NULL || strncmp(protocol, "sasl_", 5) != 0) {
        return;
    }
    const struct bc_value *pv = bc_values_find(sec->sub, "protocol");
    static const char *const needed[] = {"sasl_mechanism", "username", "password"};
    for (size_t i = 0; i < 3; i++) {
        const struct bc_value *v = bc_values_find(sec->sub, needed[i]);
        if (!v->has) {
            bc_errors_add(errs, pv->node != NULL ? &pv->node->pos : &sec->sub->pos,
                          "kafka.security: protocol %s needs %s", protocol, needed[i]);
        }
    }
}

static struct bc_config *load_tree(const char *name, const char *text, size_t len,
                                   struct bc_errors *errs)
{
    size_t before = errs->n;
    struct bc_config *cfg = bc_xcalloc(1, sizeof(*cfg));
    cfg->file = bc_xstrdup(name);
    cfg->root = parse_yaml(cfg->file, text, len, errs);
    if (cfg->root == NULL) {
        goto fail;
    }
    struct bc_check ck = {.errs = errs};
    struct bc_pos top = cfg->root->pos;
    cfg->values = bc_options_validate(&ck, cfg->root, "", topology_table, &top);
    if (cfg->values == NULL) {
        goto fail;
    }
    const struct bc_values *v = cfg->values;
    const struct bc_value *pipeline = bc_values_find(v, "pipeline");
    cfg->pipeline = pipeline->has ? bc_xstrdup(pipeline->s) : NULL;
    if (pipeline->node != NULL) {
        cfg->pipeline_pos = pipeline->node->pos;
    }
    const struct bc_values *kafka = bc_values_find(v, "kafka")->sub;
    cfg->kafka.brokers = bc_xstrdup(bc_values_str(kafka, "brokers"));
    const struct bc_value *brokers = bc_values_find(kafka, "brokers");
    if (brokers->node != NULL) {
        cfg->kafka.brokers_pos = brokers->node->pos;
    }
    cfg->kafka.profile =
        strcmp(bc_values_str(kafka, "profile"), "test") == 0 ? BC_PROFILE_TEST : BC_PROFILE_DEFAULT;
    kv_fill(bc_values_find(kafka, "client"), &cfg->kafka.client, &cfg->kafka.n_client);
    cfg->kafka.security.protocol = bc_xstrdup(bc_values_str(kafka, "security.protocol"));
    cfg->kafka.security.sasl_mechanism =
        dup_or_null(bc_values_str(kafka, "security.sasl_mechanism"));
    cfg->kafka.security.username = dup_or_null(bc_values_str(kafka, "security.username"));
    cfg->kafka.security.password = dup_or_null(bc_values_str(kafka, "security.password"));
    cfg->kafka.security.ca_file = dup_or_null(bc_values_str(kafka, "security.ca_file"));
    check_security(cfg, kafka, errs);
    cfg->schemas.registry = bc_xstrdup(bc_values_str(v, "schemas.registry"));
    cfg->schemas.dir = bc_xstrdup(bc_values_str(v, "schemas.dir"));
    cfg->schemas.username = dup_or_null(bc_values_str(v, "schemas.username"));
    cfg->schemas.password = dup_or_null(bc_values_str(v, "schemas.password"));
    cfg->schemas.ca_file = dup_or_null(bc_values_str(v, "schemas.ca_file"));
    const struct bc_value *rpw = bc_values_find(bc_values_find(v, "schemas")->sub, "password");
    if (rpw->has && rpw->node != NULL && !rpw->node->env_ref) {
        bc_errors_add(errs, &rpw->node->pos,
                      "schemas.password: a literal password is not allowed; write a ${VAR} "
                      "reference and set VAR in the environment");
    }
    bc_log_format_parse(bc_values_str(v, "log.format"), &cfg->log.format);
    bc_log_level_parse(bc_values_str(v, "log.level"), &cfg->log.level);

    const struct bc_value *topics = bc_values_find(v, "topics");
    build_topics(cfg, topics, errs);
    cfg->topics_invalid = topics->node != NULL && topics->node->kind != BC_NODE_MAP;
    const struct bc_value *workers = bc_values_find(v, "workers");
    cfg->workers = bc_xcalloc(workers->n, sizeof(struct bc_worker));
    for (size_t i = 0; i < workers->n; i++) {
        build_worker(&cfg->workers[cfg->n_workers++], workers->names[i], workers->entries[i], errs);
    }
    if (cfg->pipeline != NULL) {
        add_implicit_topics(cfg);
    }
    for (size_t i = 0; i < cfg->n_workers; i++) {
        check_worker(cfg, &cfg->workers[i], workers->entries[i], errs);
    }
    check_metrics_ports(cfg, workers, errs);
    if (workers->has && workers->n == 0 && workers->node != NULL) {
        bc_errors_add(errs, &workers->node->pos, "workers: a topology needs at least one worker");
    }
    if (errs->n > before) {
        goto fail;
    }
    return cfg;
fail:
    bc_errors_sort(errs);
    bc_config_destroy(cfg);
    return NULL;
}

struct bc_config *bc_config_load_string(const char *name, const char *text, size_t len,
                                        struct bc_errors *errs)
{
    return load_tree(name, text, len, errs);
}

/* Reads a whole file into a new string (*len bytes). Returns NULL with an error added. */
static char *read_file(const char *path, size_t *len, struct bc_errors *errs)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        bc_errors_add(errs, &(struct bc_pos){path, 0, 0}, "cannot open: %s", strerror(errno));
        return NULL;
    }
    char *text = NULL;
    FILE *mem = open_memstream(&text, len);
    char buf[8192];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0) {
        fwrite(buf, 1, n, mem);
    }
    int read_error = ferror(f);
    fclose(f);
    fclose(mem);
    if (read_error) {
        bc_errors_add(errs, &(struct bc_pos){path, 0, 0}, "cannot read: %s", strerror(errno));
        free(text);
        return NULL;
    }
    return text;
}

int bc_exe_dir(char *buf, size_t size)
{
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n <= 0) {
        return -1;
    }
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (slash != NULL) {
        *slash = '\0';
    }
    snprintf(buf, size, "%s", slash == exe ? "/" : exe);
    return 0;
}

struct bc_config *bc_config_load(const char *path, struct bc_errors *errs)
{
    size_t len = 0;
    char *text = read_file(path, &len, errs);
    if (text == NULL) {
        return NULL;
    }
    struct bc_config *cfg = load_tree(path, text, len, errs);
    free(text);
    /* A relative schema directory is relative to the topology file, so the same file works
     * from any working directory; without one, the schemas/ beside the programs' bin/. */
    if (cfg != NULL && cfg->schemas.dir[0] == '\0') {
        char exe[4096];
        int found = bc_exe_dir(exe, sizeof(exe)) == 0;
        free(cfg->schemas.dir);
        if (asprintf(&cfg->schemas.dir, "%s/../schemas", found ? exe : ".") < 0) {
            cfg->schemas.dir = NULL;
            bc_config_destroy(cfg);
            return NULL;
        }
        return cfg;
    }
    const char *slash = cfg != NULL ? strrchr(path, '/') : NULL;
    if (slash != NULL && cfg->schemas.dir[0] != '/') {
        char *joined = NULL;
        if (asprintf(&joined, "%.*s/%s", (int)(slash - path), path, cfg->schemas.dir) < 0) {
            bc_config_destroy(cfg);
            return NULL;
        }
        free(cfg->schemas.dir);
        cfg->schemas.dir = joined;
    }
    return cfg;
}

struct bc_yaml *bc_yaml_load_string(const char *name, const char *text, size_t len,
                                    struct bc_errors *errs)
{
    size_t before = errs->n;
    struct bc_yaml *doc = bc_xcalloc(1, sizeof(*doc));
    doc->file = bc_xstrdup(name);
    doc->root = parse_yaml(doc->file, text, len, errs);
    if (doc->root == NULL || errs->n > before) {
        bc_yaml_destroy(doc);
        return NULL;
    }
    return doc;
}

struct bc_yaml *bc_yaml_load(const char *path, struct bc_errors *errs)
{
    size_t len = 0;
    char *text = read_file(path, &len, errs);
    if (text == NULL) {
        return NULL;
    }
    struct bc_yaml *doc = bc_yaml_load_string(path, text, len, errs);
    free(text);
    return doc;
}

void bc_yaml_destroy(struct bc_yaml *doc)
{
    if (doc == NULL) {
        return;
    }
    node_free(doc->root);
    free(doc->file);
    free(doc);
}

void bc_config_destroy(struct bc_config *cfg)
{
    if (cfg == NULL) {
        return;
    }
    free(cfg->pipeline);
    free(cfg->kafka.brokers);
    kv_free(cfg->kafka.client, cfg->kafka.n_client);
    free(cfg->kafka.security.protocol);
    free(cfg->kafka.security.sasl_mechanism);
    free(cfg->kafka.security.username);
    free(cfg->kafka.security.password);
    free(cfg->kafka.security.ca_file);
    free(cfg->schemas.registry);
    free(cfg->schemas.dir);
    free(cfg->schemas.username);
    free(cfg->schemas.password);
    free(cfg->schemas.ca_file);
    for (size_t i = 0; i < cfg->n_topics; i++) {
        free(cfg->topics[i].name);
        kv_free(cfg->topics[i].configs, cfg->topics[i].n_configs);
    }
    free(cfg->topics);
    for (size_t i = 0; i < cfg->n_workers; i++) {
        struct bc_worker *w = &cfg->workers[i];
        free(w->name);
        for (size_t j = 0; j < w->n_inputs; j++) {
            free(w->inputs[j]);
        }
        free(w->inputs);
        for (size_t j = 0; j < w->n_outputs; j++) {
            free(w->outputs[j].name);
            free(w->outputs[j].topic);
        }
        free(w->outputs);
        bc_values_destroy(w->options);
    }
    free(cfg->workers);
    bc_values_destroy(cfg->values);
    node_free(cfg->root);
    free(cfg->file);
    free(cfg);
}

const struct bc_topic *bc_config_topic(const struct bc_config *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->n_topics; i++) {
        if (strcmp(cfg->topics[i].name, name) == 0) {
            return &cfg->topics[i];
        }
    }
    return NULL;
}

const struct bc_worker *bc_config_worker(const struct bc_config *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->n_workers; i++) {
        if (strcmp(cfg->workers[i].name, name) == 0) {
            return &cfg->workers[i];
        }
    }
    return NULL;
}

const char *bc_worker_output(const struct bc_worker *w, const char *output)
{
    for (size_t i = 0; i < w->n_outputs; i++) {
        if (strcmp(w->outputs[i].name, output) == 0) {
            return w->outputs[i].topic;
        }
    }
    return NULL;
}

/* ---- the worker hash ------------------------------------------------------------------- */

/* Canonical text of a node: maps and lists in file order, scalars quoted and escaped. */
static void render_node(FILE *out, const struct bc_node *node)
{
    if (node == NULL) {
        fputs("~", out);
        return;
    }
    switch (node->kind) {
    case BC_NODE_SCALAR:
        if (node->is_null) {
            fputs("~", out);
            return;
        }
        fputc('"', out);
        for (const char *p = node->scalar; *p != '\0'; p++) {
            if (*p == '"' || *p == '\\') {
                fputc('\\', out);
            }
            fputc(*p, out);
        }
        fputc('"', out);
        return;
    case BC_NODE_MAP:
        fputc('{', out);
        for (size_t i = 0; i < node->n; i++) {
            render_node(out, node->keys[i]);
            fputc(':', out);
            render_node(out, node->values[i]);
            fputc(',', out);
        }
        fputc('}', out);
        return;
    case BC_NODE_SEQ:
        fputc('[', out);
        for (size_t i = 0; i < node->n; i++) {
            render_node(out, node->values[i]);
            fputc(',', out);
        }
        fputc(']', out);
        return;
    }
}

static void render_values(FILE *out, const struct bc_values *vals, const char *prefix)
{
    for (size_t i = 0; vals != NULL && i < vals->n; i++) {
        const struct bc_value *v = &vals->v[i];
        fprintf(out, "%s%s=", prefix, v->opt->name);
        if (!v->has) {
            fputs("~\n", out);
            continue;
        }
        switch (v->opt->type) {
        case BC_OPT_BOOL:
        case BC_OPT_INT:
        case BC_OPT_SIZE:
        case BC_OPT_DURATION:
            fprintf(out, "%" PRId64 "\n", v->i);
            break;
        case BC_OPT_STRING:
        case BC_OPT_ENUM:
        case BC_OPT_TOPIC:
            fprintf(out, "\"%s\"\n", v->s);
            break;
        case BC_OPT_LIST:
            for (size_t j = 0; j < v->n; j++) {
                fprintf(out, "\"%s\",", v->list[j]);
            }
            fputc('\n', out);
            break;
        case BC_OPT_KV:
            for (size_t j = 0; j < v->n; j++) {
                fprintf(out, "\"%s\":\"%s\",", v->names[j], v->kv_values[j]);
            }
            fputc('\n', out);
            break;
        case BC_OPT_TABLE: {
            char *sub;
            if (asprintf(&sub, "%s%s.", prefix, v->opt->name) < 0) {
                abort();
            }
            fputc('\n', out);
            render_values(out, v->sub, sub);
            free(sub);
            break;
        }
        case BC_OPT_ENTRIES:
            fputc('\n', out);
            for (size_t j = 0; j < v->n; j++) {
                char *sub;
                if (asprintf(&sub, "%s%s.%s.", prefix, v->opt->name, v->names[j]) < 0) {
                    abort();
                }
                render_values(out, v->entries[j], sub);
                free(sub);
            }
            break;
        case BC_OPT_NODE:
            render_node(out, v->node);
            fputc('\n', out);
            break;
        }
    }
}

void bc_config_worker_hash(const struct bc_config *cfg, const struct bc_worker *w, char out[17])
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    fprintf(f, "pipeline=\"%s\"\nworker=\"%s\"\ntype=\"%s\"\n", cfg->pipeline, w->name,
            w->type->name);
    for (size_t i = 0; i < w->n_inputs; i++) {
        fprintf(f, "input=\"%s\"\n", w->inputs[i]);
    }
    for (size_t i = 0; i < w->n_outputs; i++) {
        fprintf(f, "output.%s=\"%s\"\n", w->outputs[i].name, w->outputs[i].topic);
    }
    fprintf(f, "commit_interval_ms=%d\nmax_batch=%d\nmax_attempts=%d\n", w->commit_interval_ms,
            w->max_batch, w->max_attempts);
    render_values(f, w->options, "options.");
    fclose(f);
    XXH64_hash_t h = XXH3_64bits(text, len);
    snprintf(out, 17, "%016" PRIx64, (uint64_t)h);
    free(text);
}

/* ---- reference --------------------------------------------------------------------- */

void bc_config_reference(FILE *out)
{
    fprintf(out, "### Topology keys\n\n");
    bc_options_reference_table(out, topology_table, NULL);
    fprintf(out, "\nTypes: a *duration* is a number with a unit (`500ms`, `10s`, `10m`, `2h`, "
                 "`7d`, `1w`, or sums like `1h30m`); a *size* is bytes or a number with a unit "
                 "(`512KiB`, `64MiB`, `1GiB`, or decimal `KB`, `MB`, `GB`).\n");
    for (size_t i = 0; bc_worker_types[i] != NULL; i++) {
        const struct bc_worker_type *t = bc_worker_types[i];
        char outputs[256], required[256], stores[256];
        list_join(t->outputs, outputs, sizeof(outputs));
        list_join(t->required_outputs, required, sizeof(required));
        list_join(t->stores, stores, sizeof(stores));
        fprintf(out, "\n### Worker type `%s`\n\n%s\n\n", t->name, t->summary);
        fprintf(out, "- input: %s\n", t->multi_input ? "one topic or a list" : "one topic");
        fprintf(out, "- outputs: %s%s%s%s\n", outputs, required[0] ? " (required: " : "", required,
                required[0] ? ")" : "");
        if (stores[0] != '\0') {
            fprintf(out, "- state stores (changelog `<pipeline>.<worker>.<store>.changelog`): %s\n",
                    stores);
        }
        fprintf(out, "\n");
        bc_options_reference_table(out, t->options, NULL);
    }
}
