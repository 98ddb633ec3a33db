/*
 * --topology FILE: creates the topics declared under `topics:` of a breadcrumb topology
 * (README, "The topology (YAML)") that do not exist yet. Only that section is read, with
 * libyaml directly: the broker does not depend on the configuration module, and topics the
 * configuration derives (fates, changelogs) are created by their clients or `breadcrumb
 * run`. Scalars may use ${VAR}, ${VAR:-default} and $$ as in the topology.
 *
 *   topics:
 *     tracking.raw:     {partitions: 6, retention: 7d, retention_bytes: 1GiB}
 *     tracking.deploys: {partitions: 1, cleanup: compact, delete_retention: 1d,
 *                        configs: {segment.bytes: 1048576}}
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "bc_log.h"
#include "broker.h"
#include "topology.h"

#define MAX_TOPIC_CONFIGS 32

/* Expands ${VAR}, ${VAR:-default} and $$ in s into out. Returns 0 or -1 (unset, too long). */
static int expand(const char *s, char *out, size_t cap, char *what, size_t what_size)
{
    size_t n = 0;
    while (*s != '\0') {
        const char *piece = s;
        size_t len = 1;
        char value[1024];
        if (s[0] == '$' && s[1] == '$') {
            piece = "$";
            s += 2;
        } else if (s[0] == '$' && s[1] == '{') {
            const char *end = strchr(s, '}');
            if (end == NULL) {
                snprintf(what, what_size, "unterminated ${ in '%s'", s);
                return -1;
            }
            char name[256];
            size_t nl = (size_t)(end - s - 2);
            const char *dflt = NULL;
            const char *sep = strstr(s, ":-");
            if (sep != NULL && sep < end) {
                nl = (size_t)(sep - s - 2);
                dflt = sep + 2;
            }
            if (nl == 0 || nl >= sizeof(name)) {
                snprintf(what, what_size, "bad variable reference");
                return -1;
            }
            memcpy(name, s + 2, nl);
            name[nl] = '\0';
            const char *env = getenv(name);
            if (env != NULL && *env != '\0') {
                if (strlen(env) >= sizeof(value)) {
                    snprintf(what, what_size, "variable %.64s is too long", name);
                    return -1;
                }
                memcpy(value, env, strlen(env) + 1);
            } else if (dflt != NULL) {
                snprintf(value, sizeof(value), "%.*s", (int)(end - dflt), dflt);
            } else {
                snprintf(what, what_size, "variable %.64s is not set", name);
                return -1;
            }
            piece = value;
            len = strlen(value);
            s = end + 1;
        } else {
            s++;
        }
        if (n + len >= cap) {
            snprintf(what, what_size, "value too long");
            return -1;
        }
        memcpy(out + n, piece, len);
        n += len;
    }
    out[n] = '\0';
    return 0;
}

/* "7d", "500ms", "-1" -> milliseconds. */
static int parse_duration(const char *s, int64_t *ms)
{
    static const struct {
        const char *unit;
        int64_t ms;
    } units[] = {{"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"d", 86400000},
                 {"w", 604800000}};
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (end == s || errno != 0) {
        return -1;
    }
    if (*end == '\0') {
        *ms = v; /* a bare number: milliseconds (-1: forever) */
        return 0;
    }
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (strcmp(end, units[i].unit) == 0 && v >= 0) {
            *ms = v * units[i].ms;
            return 0;
        }
    }
    return -1;
}

/* "1GiB", "500MB", "1048576", "-1" -> bytes. */
static int parse_size(const char *s, int64_t *bytes)
{
    static const struct {
        const char *unit;
        int64_t mult;
    } units[] = {{"B", 1},          {"KiB", 1024},       {"MiB", 1048576}, {"GiB", 1073741824},
                 {"KB", 1000},      {"MB", 1000000},     {"GB", 1000000000}};
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (end == s || errno != 0) {
        return -1;
    }
    if (*end == '\0') {
        *bytes = v;
        return 0;
    }
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (strcmp(end, units[i].unit) == 0 && v >= 0) {
            *bytes = v * units[i].mult;
            return 0;
        }
    }
    return -1;
}

struct topic_decl {
    char name[TOPIC_NAME_MAX + 1];
    int64_t partitions;
    char cfg_names[MAX_TOPIC_CONFIGS][128];
    char cfg_values[MAX_TOPIC_CONFIGS][256];
    size_t ncfg;
};

static int add_config(struct topic_decl *t, const char *name, const char *value)
{
    if (t->ncfg == MAX_TOPIC_CONFIGS || strlen(name) >= sizeof(t->cfg_names[0]) ||
        strlen(value) >= sizeof(t->cfg_values[0])) {
        return -1;
    }
    snprintf(t->cfg_names[t->ncfg], sizeof(t->cfg_names[0]), "%s", name);
    snprintf(t->cfg_values[t->ncfg], sizeof(t->cfg_values[0]), "%s", value);
    t->ncfg++;
    return 0;
}

#define FAIL_AT(node, ...)                                                                     \
    do {                                                                                       \
        int _n = snprintf(errstr, errstr_size, "%s:%zu:%zu: ", path,                          \
                          (node)->start_mark.line + 1, (node)->start_mark.column + 1);         \
        if (_n > 0 && (size_t)_n < errstr_size) {                                              \
            snprintf(errstr + _n, errstr_size - (size_t)_n, __VA_ARGS__);                     \
        }                                                                                      \
        goto fail;                                                                             \
    } while (0)

static const char *scalar(yaml_node_t *n)
{
    return n != NULL && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

int topology_apply(struct broker *b, const char *path, char *errstr, size_t errstr_size)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        snprintf(errstr, errstr_size, "%s: %s", path, strerror(errno));
        return -1;
    }
    yaml_parser_t parser;
    yaml_document_t doc;
    int have_doc = 0;
    int created = 0;
    struct topic_decl *t = calloc(1, sizeof(*t));
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_file(&parser, f);
    if (t == NULL) {
        snprintf(errstr, errstr_size, "out of memory");
        goto fail;
    }
    if (!yaml_parser_load(&parser, &doc)) {
        snprintf(errstr, errstr_size, "%s:%zu:%zu: %s", path, parser.problem_mark.line + 1,
                 parser.problem_mark.column + 1, parser.problem ? parser.problem : "bad YAML");
        goto fail;
    }
    have_doc = 1;
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (root == NULL) {
        goto done; /* empty file */
    }
    if (root->type != YAML_MAPPING_NODE) {
        FAIL_AT(root, "expected a mapping at the top");
    }
    yaml_node_t *topics = NULL;
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top;
         p++) {
        const char *k = scalar(yaml_document_get_node(&doc, p->key));
        if (k != NULL && strcmp(k, "topics") == 0) {
            topics = yaml_document_get_node(&doc, p->value);
        }
    }
    if (topics == NULL || (topics->type == YAML_SCALAR_NODE && scalar(topics)[0] == '\0')) {
        goto done;
    }
    if (topics->type != YAML_MAPPING_NODE) {
        FAIL_AT(topics, "topics: expected a mapping of topic names");
    }
    for (yaml_node_pair_t *p = topics->data.mapping.pairs.start;
         p < topics->data.mapping.pairs.top; p++) {
        yaml_node_t *kn = yaml_document_get_node(&doc, p->key);
        yaml_node_t *vn = yaml_document_get_node(&doc, p->value);
        const char *name = scalar(kn);
        memset(t, 0, sizeof(*t));
        t->partitions = -1;
        if (name == NULL || topic_name_valid(name) != 0) {
            FAIL_AT(kn, "invalid topic name");
        }
        snprintf(t->name, sizeof(t->name), "%s", name);
        if (vn->type == YAML_SCALAR_NODE && scalar(vn)[0] == '\0') {
            /* "name:" alone: every default */
        } else if (vn->type != YAML_MAPPING_NODE) {
            FAIL_AT(vn, "topic %s: expected a mapping", name);
        } else {
            for (yaml_node_pair_t *q = vn->data.mapping.pairs.start;
                 q < vn->data.mapping.pairs.top; q++) {
                yaml_node_t *okn = yaml_document_get_node(&doc, q->key);
                yaml_node_t *ovn = yaml_document_get_node(&doc, q->value);
                const char *key = scalar(okn);
                char value[1024], what[256];
                int64_t num = 0;
                char numtext[32];
                if (key == NULL) {
                    FAIL_AT(okn, "expected a key");
                }
                if (strcmp(key, "configs") == 0) {
                    if (ovn->type != YAML_MAPPING_NODE) {
                        FAIL_AT(ovn, "topics.%s.configs: expected a mapping", name);
                    }
                    for (yaml_node_pair_t *c = ovn->data.mapping.pairs.start;
                         c < ovn->data.mapping.pairs.top; c++) {
                        yaml_node_t *ckn = yaml_document_get_node(&doc, c->key);
                        const char *cv = scalar(yaml_document_get_node(&doc, c->value));
                        if (scalar(ckn) == NULL || cv == NULL) {
                            FAIL_AT(ckn, "topics.%s.configs: expected key: value", name);
                        }
                        if (expand(cv, value, sizeof(value), what, sizeof(what)) != 0) {
                            FAIL_AT(ckn, "%s", what);
                        }
                        if (add_config(t, scalar(ckn), value) != 0) {
                            FAIL_AT(ckn, "topics.%s.configs: too many or too long", name);
                        }
                    }
                    continue;
                }
                if (scalar(ovn) == NULL) {
                    FAIL_AT(ovn, "topics.%s.%s: expected a scalar", name, key);
                }
                if (expand(scalar(ovn), value, sizeof(value), what, sizeof(what)) != 0) {
                    FAIL_AT(ovn, "%s", what);
                }
                if (strcmp(key, "partitions") == 0) {
                    char *end = NULL;
                    t->partitions = strtoll(value, &end, 10);
                    if (*value == '\0' || *end != '\0' || t->partitions < 1 ||
                        t->partitions > 10000) {
                        FAIL_AT(ovn, "topics.%s.partitions: expected 1..10000, got '%s'", name,
                                value);
                    }
                } else if (strcmp(key, "replication_factor") == 0) {
                    /* one replica here whatever a production cluster uses */
                } else if (strcmp(key, "retention") == 0 ||
                           strcmp(key, "delete_retention") == 0) {
                    if (parse_duration(value, &num) != 0) {
                        FAIL_AT(ovn, "topics.%s.%s: expected a duration (e.g. 7d, 12h), got '%s'",
                                name, key, value);
                    }
                    snprintf(numtext, sizeof(numtext), "%" PRId64, num);
                    add_config(t, key[0] == 'r' ? "retention.ms" : "delete.retention.ms",
                               numtext);
                } else if (strcmp(key, "retention_bytes") == 0) {
                    if (parse_size(value, &num) != 0) {
                        FAIL_AT(ovn, "topics.%s.%s: expected a size (e.g. 1GiB), got '%s'", name,
                                key, value);
                    }
                    snprintf(numtext, sizeof(numtext), "%" PRId64, num);
                    add_config(t, "retention.bytes", numtext);
                } else if (strcmp(key, "cleanup") == 0) {
                    add_config(t, "cleanup.policy", value);
                } else {
                    FAIL_AT(okn,
                            "unknown key '%s' in topics.%s (expected one of: partitions, "
                            "replication_factor, retention, retention_bytes, cleanup, "
                            "delete_retention, configs)",
                            key, name);
                }
            }
        }
        struct topic *existing = broker_topic_find(b, t->name);
        if (existing != NULL) {
            if (t->partitions > 0 && existing->npartitions != t->partitions) {
                char have[16], want[16];
                snprintf(have, sizeof(have), "%" PRId32, existing->npartitions);
                snprintf(want, sizeof(want), "%" PRId64, t->partitions);
                bc_log(BC_LOG_WARN, "topic exists with another partition count, left as is",
                       "topic", t->name, "partitions", have, "topology_partitions", want, NULL);
            }
            continue;
        }
        const char *names[MAX_TOPIC_CONFIGS], *values[MAX_TOPIC_CONFIGS];
        for (size_t i = 0; i < t->ncfg; i++) {
            names[i] = t->cfg_names[i];
            values[i] = t->cfg_values[i];
        }
        char msg[512];
        if (broker_topic_create(b, t->name, (int32_t)t->partitions, names, values, t->ncfg, NULL,
                                msg, sizeof(msg)) != KERR_NONE) {
            FAIL_AT(kn, "topic %s: %s", t->name, msg);
        }
        created++;
    }
done:
    if (have_doc) {
        yaml_document_delete(&doc);
    }
    yaml_parser_delete(&parser);
    fclose(f);
    free(t);
    {
        char n[16];
        snprintf(n, sizeof(n), "%d", created);
        bc_log(BC_LOG_INFO, "topology applied", "path", path, "topics_created", n, NULL);
    }
    return 0;
fail:
    if (have_doc) {
        yaml_document_delete(&doc);
    }
    yaml_parser_delete(&parser);
    fclose(f);
    free(t);
    return -1;
}
