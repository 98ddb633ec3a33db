/* `breadcrumb topics create FILE`: creates a topology's topics (declared ones, and the
 * implicit fates topic and state-store changelogs) on any cluster through the admin API.
 * Existing topics are left alone; a partition count or cleanup policy that differs from the
 * topology is reported as a mismatch (exit 1). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>

#include "bc_config.h"
#include "bc_kafka_conf.h"
#include "tools/breadcrumb/cli.h"

static const char *const cleanup_names[] = {"delete", "compact", "compact,delete"};

static void usage(FILE *out)
{
    fprintf(out, "usage: breadcrumb topics create TOPOLOGY.yaml [--brokers HOST:PORT] "
                 "[--timeout-ms N]\n\n"
                 "Creates the topology's topics (and changelogs) that do not exist yet; reports\n"
                 "existing ones whose partitions or cleanup.policy differ. Exit 0 when every\n"
                 "topic exists as declared, 1 on a mismatch or error, 2 on usage errors.\n");
}

/* Existing partition count of topic in md, or -1 when absent. */
static int existing_partitions(const rd_kafka_metadata_t *md, const char *topic)
{
    for (int i = 0; i < md->topic_cnt; i++) {
        if (strcmp(md->topics[i].topic, topic) == 0 &&
            md->topics[i].err != RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) {
            return md->topics[i].partition_cnt;
        }
    }
    return -1;
}

static int set_config(rd_kafka_NewTopic_t *nt, const char *key, const char *value)
{
    if (rd_kafka_NewTopic_set_config(nt, key, value) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        fprintf(stderr, "breadcrumb topics: bad config %s=%s\n", key, value);
        return -1;
    }
    return 0;
}

static rd_kafka_NewTopic_t *new_topic(const struct bc_topic *t)
{
    char err[256], num[32];
    rd_kafka_NewTopic_t *nt =
        rd_kafka_NewTopic_new(t->name, t->partitions, t->replication_factor, err, sizeof(err));
    if (nt == NULL) {
        fprintf(stderr, "breadcrumb topics: %s: %s\n", t->name, err);
        return NULL;
    }
    int rc = set_config(nt, "cleanup.policy", cleanup_names[t->cleanup]);
    if (rc == 0 && t->retention_ms != 0) {
        snprintf(num, sizeof(num), "%" PRId64, t->retention_ms);
        rc = set_config(nt, "retention.ms", num);
    }
    if (rc == 0 && t->retention_bytes != 0) {
        snprintf(num, sizeof(num), "%" PRId64, t->retention_bytes);
        rc = set_config(nt, "retention.bytes", num);
    }
    if (rc == 0 && t->delete_retention_ms != 0) {
        snprintf(num, sizeof(num), "%" PRId64, t->delete_retention_ms);
        rc = set_config(nt, "delete.retention.ms", num);
    }
    for (size_t i = 0; rc == 0 && i < t->n_configs; i++) {
        rc = set_config(nt, t->configs[i].key, t->configs[i].value);
    }
    if (rc != 0) {
        rd_kafka_NewTopic_destroy(nt);
        return NULL;
    }
    return nt;
}

/* Compares cleanup.policy of the existing topics in `names` with the topology. Returns the
 * number of mismatches, or -1 on error. */
static int check_cleanup(rd_kafka_t *rk, const struct bc_config *cfg, const char **names,
                         size_t n, int timeout_ms)
{
    if (n == 0) {
        return 0;
    }
    rd_kafka_ConfigResource_t **res = calloc(n, sizeof(*res));
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    int mismatches = 0;
    for (size_t i = 0; i < n; i++) {
        res[i] = rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, names[i]);
    }
    rd_kafka_AdminOptions_t *opts = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS);
    char err[256];
    rd_kafka_AdminOptions_set_request_timeout(opts, timeout_ms, err, sizeof(err));
    rd_kafka_DescribeConfigs(rk, res, n, opts, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, timeout_ms + 1000);
    if (ev == NULL || rd_kafka_event_error(ev) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        fprintf(stderr, "breadcrumb topics: DescribeConfigs failed: %s\n",
                ev ? rd_kafka_event_error_string(ev) : "timed out");
        mismatches = -1;
        goto done;
    }
    size_t cnt = 0;
    const rd_kafka_ConfigResource_t **got =
        rd_kafka_DescribeConfigs_result_resources(rd_kafka_event_DescribeConfigs_result(ev), &cnt);
    for (size_t i = 0; i < cnt; i++) {
        const char *name = rd_kafka_ConfigResource_name(got[i]);
        const struct bc_topic *t = bc_config_topic(cfg, name);
        if (t == NULL || rd_kafka_ConfigResource_error(got[i]) != RD_KAFKA_RESP_ERR_NO_ERROR) {
            continue;
        }
        size_t nc = 0;
        const rd_kafka_ConfigEntry_t **entries = rd_kafka_ConfigResource_configs(got[i], &nc);
        for (size_t j = 0; j < nc; j++) {
            if (strcmp(rd_kafka_ConfigEntry_name(entries[j]), "cleanup.policy") != 0) {
                continue;
            }
            const char *v = rd_kafka_ConfigEntry_value(entries[j]);
            if (v != NULL && strcmp(v, cleanup_names[t->cleanup]) != 0 &&
                !(t->cleanup == BC_CLEANUP_COMPACT_DELETE && strcmp(v, "delete,compact") == 0)) {
                printf("mismatch %s: cleanup.policy is %s, topology says %s\n", name, v,
                       cleanup_names[t->cleanup]);
                mismatches++;
            }
        }
    }
done:
    if (ev != NULL) {
        rd_kafka_event_destroy(ev);
    }
    rd_kafka_AdminOptions_destroy(opts);
    for (size_t i = 0; i < n; i++) {
        rd_kafka_ConfigResource_destroy(res[i]);
    }
    free(res);
    rd_kafka_queue_destroy(q);
    return mismatches;
}

static int topics_create(const char *file, const char *brokers, int timeout_ms)
{
    struct bc_errors errs = {0};
    struct bc_config *cfg = bc_config_load(file, &errs);
    rd_kafka_t *rk = NULL;
    const rd_kafka_metadata_t *md = NULL;
    rd_kafka_NewTopic_t **create = NULL;
    const char **existing = NULL;
    rd_kafka_queue_t *q = NULL;
    int rc = 1;
    char errstr[512];
    if (cfg == NULL || errs.n > 0) {
        bc_errors_print(&errs, stderr);
        goto done;
    }
    rd_kafka_conf_t *conf =
        bc_kafka_conf_new(cfg, NULL, BC_KAFKA_ADMIN, NULL, brokers, errstr, sizeof(errstr));
    if (conf == NULL) {
        fprintf(stderr, "breadcrumb topics: %s\n", errstr);
        goto done;
    }
    rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (rk == NULL) {
        rd_kafka_conf_destroy(conf);
        fprintf(stderr, "breadcrumb topics: %s\n", errstr);
        goto done;
    }
    rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 1, NULL, &md, timeout_ms);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        fprintf(stderr, "breadcrumb topics: metadata: %s\n", rd_kafka_err2str(err));
        goto done;
    }
    create = calloc(cfg->n_topics + 1, sizeof(*create));
    existing = calloc(cfg->n_topics + 1, sizeof(*existing));
    size_t n_create = 0, n_existing = 0;
    int mismatches = 0;
    for (size_t i = 0; i < cfg->n_topics; i++) {
        const struct bc_topic *t = &cfg->topics[i];
        int have = existing_partitions(md, t->name);
        if (have < 0) {
            if ((create[n_create] = new_topic(t)) == NULL) {
                goto done;
            }
            n_create++;
            continue;
        }
        existing[n_existing++] = t->name;
        if (have != t->partitions) {
            printf("mismatch %s: has %d partitions, topology says %d\n", t->name, have,
                   t->partitions);
            mismatches++;
        } else {
            printf("exists %s (%d partitions)\n", t->name, have);
        }
    }
    int failed = 0;
    if (n_create > 0) {
        q = rd_kafka_queue_new(rk);
        rd_kafka_AdminOptions_t *opts = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
        rd_kafka_AdminOptions_set_operation_timeout(opts, timeout_ms, errstr, sizeof(errstr));
        rd_kafka_AdminOptions_set_request_timeout(opts, timeout_ms, errstr, sizeof(errstr));
        rd_kafka_CreateTopics(rk, create, n_create, opts, q);
        rd_kafka_AdminOptions_destroy(opts);
        rd_kafka_event_t *ev = rd_kafka_queue_poll(q, timeout_ms + 2000);
        if (ev == NULL || rd_kafka_event_error(ev) != RD_KAFKA_RESP_ERR_NO_ERROR) {
            fprintf(stderr, "breadcrumb topics: CreateTopics failed: %s\n",
                    ev ? rd_kafka_event_error_string(ev) : "timed out");
            if (ev != NULL) {
                rd_kafka_event_destroy(ev);
            }
            goto done;
        }
        size_t cnt = 0;
        const rd_kafka_topic_result_t **res =
            rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &cnt);
        for (size_t i = 0; i < cnt; i++) {
            const char *name = rd_kafka_topic_result_name(res[i]);
            rd_kafka_resp_err_t terr = rd_kafka_topic_result_error(res[i]);
            const struct bc_topic *t = bc_config_topic(cfg, name);
            if (terr == RD_KAFKA_RESP_ERR_NO_ERROR) {
                printf("created %s (%d partitions, %s)\n", name, t ? t->partitions : 0,
                       t ? cleanup_names[t->cleanup] : "?");
            } else if (terr == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
                printf("exists %s (created concurrently)\n", name);
            } else {
                printf("failed %s: %s\n", name, rd_kafka_topic_result_error_string(res[i]));
                failed++;
            }
        }
        rd_kafka_event_destroy(ev);
    }
    int cleanup = check_cleanup(rk, cfg, existing, n_existing, timeout_ms);
    if (cleanup < 0) {
        /* A broker without DescribeConfigs: partitions were still checked. */
        printf("warning: cleanup.policy of existing topics not checked\n");
        cleanup = 0;
    }
    mismatches += cleanup;
    printf("topics: %zu created, %zu existed, %d mismatched, %d failed\n", n_create - (size_t)failed,
           n_existing, mismatches, failed);
    rc = mismatches == 0 && failed == 0 ? 0 : 1;
done:
    if (create != NULL) {
        for (size_t i = 0; create[i] != NULL; i++) {
            rd_kafka_NewTopic_destroy(create[i]);
        }
    }
    free(create);
    free(existing);
    if (q != NULL) {
        rd_kafka_queue_destroy(q);
    }
    if (md != NULL) {
        rd_kafka_metadata_destroy(md);
    }
    if (rk != NULL) {
        rd_kafka_destroy(rk);
    }
    bc_errors_clear(&errs);
    bc_config_destroy(cfg);
    return rc;
}

int bc_cmd_topics(int argc, char **argv)
{
    const char *file = NULL, *brokers = NULL;
    int timeout_ms = 15000;
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "create") != 0) {
        fprintf(stderr, "breadcrumb topics: unknown action '%s'\n", argv[1]);
        usage(stderr);
        return 2;
    }
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--brokers") == 0 && i + 1 < argc) {
            brokers = argv[++i];
        } else if (strcmp(argv[i], "--timeout-ms") == 0 && i + 1 < argc) {
            timeout_ms = atoi(argv[++i]);
        } else if (argv[i][0] != '-' && file == NULL) {
            file = argv[i];
        } else {
            fprintf(stderr, "breadcrumb topics: unknown argument '%s'\n", argv[i]);
            return 2;
        }
    }
    if (file == NULL || timeout_ms <= 0) {
        usage(stderr);
        return 2;
    }
    return topics_create(file, brokers, timeout_ms);
}
