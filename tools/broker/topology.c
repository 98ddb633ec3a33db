/*
 * --topology FILE: creates the topics of a breadcrumb topology (README, "The topology
 * (YAML)") that do not exist yet: the declared ones and those the configuration derives
 * (`<pipeline>.fates`, the state stores' changelogs). The file is loaded and validated by
 * the configuration module (common/bc_config.h), exactly as `breadcrumb validate` does, so
 * the broker accepts the same files with the same errors.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bc_config.h"
#include "bc_log.h"
#include "broker.h"
#include "topology.h"

/* Room for the four settings derived from the topic's keys plus its passthrough configs. */
#define DERIVED_CONFIGS 4

/* The topic configs of t, as parallel name/value arrays: cleanup.policy, retention and
 * delete retention (when the topology sets them), then `configs:` in file order. The
 * numbers are written into nums (DERIVED_CONFIGS entries of 24 bytes). Returns the count. */
static size_t topic_configs(const struct bc_topic *t, const char **names, const char **values,
                            char nums[][24])
{
    static const char *const cleanup[] = {"delete", "compact", "compact,delete"};
    size_t n = 0;
    names[n] = "cleanup.policy";
    values[n++] = cleanup[t->cleanup];
    if (t->retention_ms != 0) {
        snprintf(nums[n], sizeof(nums[n]), "%" PRId64, t->retention_ms);
        names[n] = "retention.ms";
        values[n] = nums[n];
        n++;
    }
    if (t->retention_bytes != 0) {
        snprintf(nums[n], sizeof(nums[n]), "%" PRId64, t->retention_bytes);
        names[n] = "retention.bytes";
        values[n] = nums[n];
        n++;
    }
    if (t->delete_retention_ms != 0) {
        snprintf(nums[n], sizeof(nums[n]), "%" PRId64, t->delete_retention_ms);
        names[n] = "delete.retention.ms";
        values[n] = nums[n];
        n++;
    }
    for (size_t i = 0; i < t->n_configs; i++) {
        names[n] = t->configs[i].key;
        values[n++] = t->configs[i].value;
    }
    return n;
}

int topology_apply(struct broker *b, const char *path, char *errstr, size_t errstr_size)
{
    struct bc_errors errs = {0};
    struct bc_config *cfg = bc_config_load(path, &errs);
    if (cfg == NULL) {
        /* Every error on stderr as `breadcrumb validate` prints them; the first in errstr. */
        bc_errors_print(&errs, stderr);
        if (errs.n > 0) {
            const struct bc_error *e = &errs.v[0];
            snprintf(errstr, errstr_size, "%s:%d:%d: %s (%zu error%s)",
                     e->file != NULL ? e->file : path, e->line, e->column, e->message, errs.n,
                     errs.n == 1 ? "" : "s");
        } else {
            snprintf(errstr, errstr_size, "%s: cannot load", path);
        }
        bc_errors_clear(&errs);
        return -1;
    }
    int rc = 0, created = 0;
    for (size_t i = 0; i < cfg->n_topics && rc == 0; i++) {
        const struct bc_topic *t = &cfg->topics[i];
        struct topic *existing = broker_topic_find(b, t->name);
        if (existing != NULL) {
            if (existing->npartitions != t->partitions) {
                char have[16], want[16];
                snprintf(have, sizeof(have), "%" PRId32, existing->npartitions);
                snprintf(want, sizeof(want), "%" PRId32, t->partitions);
                bc_log(BC_LOG_WARN, "topic exists with another partition count, left as is",
                       "topic", t->name, "partitions", have, "topology_partitions", want, NULL);
            }
            continue;
        }
        size_t cap = DERIVED_CONFIGS + t->n_configs;
        const char **names = calloc(cap, sizeof(*names));
        const char **values = calloc(cap, sizeof(*values));
        char nums[DERIVED_CONFIGS][24];
        char msg[512];
        if (names == NULL || values == NULL) {
            snprintf(errstr, errstr_size, "%s: out of memory", path);
            rc = -1;
        } else {
            size_t n = topic_configs(t, names, values, nums);
            if (broker_topic_create(b, t->name, t->partitions, names, values, n, NULL, msg,
                                    sizeof(msg)) != KERR_NONE) {
                snprintf(errstr, errstr_size, "%s:%d:%d: topic %s: %s", path, t->pos.line,
                         t->pos.column, t->name, msg);
                rc = -1;
            } else {
                created++;
            }
        }
        free(names);
        free(values);
    }
    if (rc == 0) {
        char n[16];
        snprintf(n, sizeof(n), "%d", created);
        bc_log(BC_LOG_INFO, "topology applied", "path", path, "topics_created", n, NULL);
    }
    bc_config_destroy(cfg);
    bc_errors_clear(&errs);
    return rc;
}
