/*
 * `breadcrumb status [TOPOLOGY]`: per worker group (<pipeline>.<worker>) its state and
 * members with their assigned partitions (DescribeConsumerGroups), the committed offset
 * against the end of every input partition (lag), and the size of its dead-letter topic;
 * a human table, or `--json` for scripts (`make run` waits for the pipeline to drain with
 * it).
 *
 * The end of a partition is its last stable offset (a read_committed ListOffsets): what a
 * worker can consume, so an open transaction upstream is not counted as lag. A partition
 * without a committed offset counts from its start offset. Lag is what is left to consume:
 * transaction markers after the committed offset are not (discount_markers). DLQ size is high - low
 * watermark summed over the DLQ topic's partitions.
 *
 * Brokers: --brokers, else the topology's (embedded: $BREADCRUMB_BROKERS, else the
 * address `breadcrumb run` wrote to DIR/run.json, DIR being --dir or ./data).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <librdkafka/rdkafka.h>

#include "bc_config.h"
#include "bc_kafka_conf.h"
#include "tools/breadcrumb/cli.h"
#include "tools/breadcrumb/run_common.h"
#include "tools/breadcrumb/topic_scan.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: breadcrumb status [TOPOLOGY.yaml] [--brokers HOST:PORT] [--dir DIR]\n"
            "          [--json] [--partitions] [--timeout-ms N]\n\n"
            "Per worker group: state, members and their partitions, lag (committed offset vs\n"
            "the end of each input partition, read_committed) and the DLQ size. TOPOLOGY\n"
            "defaults to config/topology.yaml; --partitions lists lag per partition; --json\n"
            "prints everything as one JSON object. Exit 0, 1 on errors, 2 on usage errors.\n");
}

/* Partition count of topic, or -1. */
static int partitions_of(const rd_kafka_metadata_t *md, const char *topic)
{
    for (int i = 0; i < md->topic_cnt; i++) {
        if (strcmp(md->topics[i].topic, topic) == 0 && md->topics[i].err == 0) {
            return md->topics[i].partition_cnt;
        }
    }
    return -1;
}

/* Group description as JSON: state and members with their assignment. */
static json_t *describe_group(rd_kafka_t *admin, const char *group, int timeout_ms)
{
    json_t *out = json_object();
    json_t *members = json_array();
    json_object_set_new(out, "members", members);
    rd_kafka_queue_t *q = rd_kafka_queue_new(admin);
    rd_kafka_AdminOptions_t *opts =
        rd_kafka_AdminOptions_new(admin, RD_KAFKA_ADMIN_OP_DESCRIBECONSUMERGROUPS);
    char err[256];
    rd_kafka_AdminOptions_set_request_timeout(opts, timeout_ms, err, sizeof(err));
    const char *groups[] = {group};
    rd_kafka_DescribeConsumerGroups(admin, groups, 1, opts, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, timeout_ms + 1000);
    const char *state = "Unknown";
    if (ev == NULL || rd_kafka_event_error(ev) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        json_object_set_new(out, "error",
                            json_string(ev ? rd_kafka_event_error_string(ev) : "timed out"));
        goto done;
    }
    size_t cnt = 0;
    const rd_kafka_ConsumerGroupDescription_t **descs =
        rd_kafka_DescribeConsumerGroups_result_groups(
            rd_kafka_event_DescribeConsumerGroups_result(ev), &cnt);
    if (cnt < 1) {
        goto done;
    }
    const rd_kafka_error_t *gerr = rd_kafka_ConsumerGroupDescription_error(descs[0]);
    if (gerr != NULL) {
        json_object_set_new(out, "error", json_string(rd_kafka_error_string(gerr)));
        goto done;
    }
    state = rd_kafka_consumer_group_state_name(rd_kafka_ConsumerGroupDescription_state(descs[0]));
    size_t n = rd_kafka_ConsumerGroupDescription_member_count(descs[0]);
    for (size_t i = 0; i < n; i++) {
        const rd_kafka_MemberDescription_t *m = rd_kafka_ConsumerGroupDescription_member(descs[0], i);
        json_t *jm = json_object();
        const char *inst = rd_kafka_MemberDescription_group_instance_id(m);
        json_object_set_new(jm, "member_id", json_string(rd_kafka_MemberDescription_consumer_id(m)));
        json_object_set_new(jm, "instance", inst ? json_string(inst) : json_null());
        json_object_set_new(jm, "client_id", json_string(rd_kafka_MemberDescription_client_id(m)));
        json_object_set_new(jm, "host", json_string(rd_kafka_MemberDescription_host(m)));
        json_t *ja = json_array();
        const rd_kafka_MemberAssignment_t *a = rd_kafka_MemberDescription_assignment(m);
        const rd_kafka_topic_partition_list_t *parts = a ? rd_kafka_MemberAssignment_partitions(a) : NULL;
        for (int j = 0; parts != NULL && j < parts->cnt; j++) {
            json_t *tp = json_object();
            json_object_set_new(tp, "topic", json_string(parts->elems[j].topic));
            json_object_set_new(tp, "partition", json_integer(parts->elems[j].partition));
            json_array_append_new(ja, tp);
        }
        json_object_set_new(jm, "assignment", ja);
        json_array_append_new(members, jm);
    }
done:
    json_object_set_new(out, "state", json_string(state));
    if (ev != NULL) {
        rd_kafka_event_destroy(ev);
    }
    rd_kafka_AdminOptions_destroy(opts);
    rd_kafka_queue_destroy(q);
    return out;
}

/* A partition whose committed offset is a little below its end may hold nothing but
 * transaction markers there: a transactional worker commits the offset after the last
 * record it consumed, which is the commit marker's, and a marker is never delivered. Such a
 * partition has nothing to consume: reads each candidate from its committed offset and
 * zeroes the lag of those that reach their end without a record. */
#define MARKER_LAG_MAX 16

static void discount_markers(rd_kafka_t *rk, json_t *parts, int timeout_ms)
{
    rd_kafka_topic_partition_list_t *tps = rd_kafka_topic_partition_list_new(8);
    size_t i;
    json_t *jp;
    json_array_foreach(parts, i, jp)
    {
        json_int_t lag = json_integer_value(json_object_get(jp, "lag"));
        json_int_t committed = json_integer_value(json_object_get(jp, "committed"));
        if (lag > 0 && lag <= MARKER_LAG_MAX && committed >= 0) {
            rd_kafka_topic_partition_t *tp = rd_kafka_topic_partition_list_add(
                tps, json_string_value(json_object_get(jp, "topic")),
                (int32_t)json_integer_value(json_object_get(jp, "partition")));
            tp->offset = committed;
            tp->opaque = jp;
        }
    }
    if (tps->cnt == 0 || rd_kafka_assign(rk, tps) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        rd_kafka_topic_partition_list_destroy(tps);
        return;
    }
    int pending = tps->cnt;
    int64_t polls = timeout_ms / 100;
    while (pending > 0 && polls-- > 0) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (m == NULL) {
            continue;
        }
        rd_kafka_topic_partition_t *tp = rd_kafka_topic_partition_list_find(
            tps, m->rkt ? rd_kafka_topic_name(m->rkt) : "", m->partition);
        if (tp != NULL && tp->opaque != NULL &&
            (m->err == RD_KAFKA_RESP_ERR_NO_ERROR || m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF)) {
            if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                json_t *p = tp->opaque;
                json_object_set_new(p, "markers",
                                    json_integer(json_integer_value(json_object_get(p, "lag"))));
                json_object_set_new(p, "lag", json_integer(0));
            }
            tp->opaque = NULL;
            pending--;
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_assign(rk, NULL);
    rd_kafka_topic_partition_list_destroy(tps);
}

/* Lag of every partition of the worker's inputs, into jg ("partitions", "lag"). */
static int group_lag(rd_kafka_t *rk, const rd_kafka_metadata_t *md, const struct bc_worker *w,
                     json_t *jg, int timeout_ms)
{
    rd_kafka_topic_partition_list_t *tps = rd_kafka_topic_partition_list_new(16);
    for (size_t i = 0; i < w->n_inputs; i++) {
        int n = partitions_of(md, w->inputs[i]);
        for (int p = 0; p < n; p++) {
            rd_kafka_topic_partition_list_add(tps, w->inputs[i], p);
        }
    }
    int rc = 0;
    json_t *parts = json_array();
    int64_t total = 0;
    rd_kafka_resp_err_t err = rd_kafka_committed(rk, tps, timeout_ms);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        json_object_set_new(jg, "error", json_string(rd_kafka_err2str(err)));
        rc = -1;
    }
    for (int i = 0; rc == 0 && i < tps->cnt; i++) {
        const rd_kafka_topic_partition_t *tp = &tps->elems[i];
        int64_t lo = 0, hi = 0;
        err = rd_kafka_query_watermark_offsets(rk, tp->topic, tp->partition, &lo, &hi, timeout_ms);
        if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            json_object_set_new(jg, "error", json_string(rd_kafka_err2str(err)));
            rc = -1;
            break;
        }
        int64_t committed = tp->offset >= 0 ? tp->offset : -1;
        int64_t lag = hi - (committed >= 0 ? committed : lo);
        if (lag < 0) {
            lag = 0;
        }
        total += lag;
        json_t *jp = json_object();
        json_object_set_new(jp, "topic", json_string(tp->topic));
        json_object_set_new(jp, "partition", json_integer(tp->partition));
        json_object_set_new(jp, "committed", json_integer(committed));
        json_object_set_new(jp, "start", json_integer(lo));
        json_object_set_new(jp, "end", json_integer(hi));
        json_object_set_new(jp, "lag", json_integer(lag));
        json_array_append_new(parts, jp);
    }
    if (rc == 0) {
        discount_markers(rk, parts, timeout_ms);
        total = 0;
        size_t i;
        json_t *jp;
        json_array_foreach(parts, i, jp)
        {
            total += json_integer_value(json_object_get(jp, "lag"));
        }
    }
    json_object_set_new(jg, "partitions", parts);
    json_object_set_new(jg, "lag", json_integer(total));
    rd_kafka_topic_partition_list_destroy(tps);
    return rc;
}

/* Records in topic (high - low, summed), or -1. */
static int64_t topic_size(rd_kafka_t *rk, const rd_kafka_metadata_t *md, const char *topic,
                          int timeout_ms)
{
    int n = partitions_of(md, topic);
    if (n < 0) {
        return -1;
    }
    int64_t total = 0;
    for (int p = 0; p < n; p++) {
        int64_t lo = 0, hi = 0;
        if (rd_kafka_query_watermark_offsets(rk, topic, p, &lo, &hi, timeout_ms) != 0) {
            return -1;
        }
        total += hi - lo;
    }
    return total;
}

static void print_human(json_t *root, int per_partition)
{
    printf("pipeline %s on %s\n", json_string_value(json_object_get(root, "pipeline")),
           json_string_value(json_object_get(root, "brokers")));
    printf("%-16s %-28s %-12s %7s %10s %10s  %s\n", "WORKER", "GROUP", "STATE", "MEMBERS", "LAG",
           "DLQ", "DLQ TOPIC");
    size_t i;
    json_t *g;
    json_array_foreach(json_object_get(root, "groups"), i, g)
    {
        json_t *dlq = json_object_get(g, "dlq");
        char dlq_n[32] = "-";
        if (json_is_object(dlq)) {
            snprintf(dlq_n, sizeof(dlq_n), "%" JSON_INTEGER_FORMAT,
                     json_integer_value(json_object_get(dlq, "records")));
        }
        printf("%-16s %-28s %-12s %7zu %10" JSON_INTEGER_FORMAT " %10s  %s\n",
               json_string_value(json_object_get(g, "worker")),
               json_string_value(json_object_get(g, "group")),
               json_string_value(json_object_get(g, "state")),
               json_array_size(json_object_get(g, "members")),
               json_integer_value(json_object_get(g, "lag")), dlq_n,
               json_is_object(dlq) ? json_string_value(json_object_get(dlq, "topic")) : "-");
        if (json_object_get(g, "error") != NULL) {
            printf("  error: %s\n", json_string_value(json_object_get(g, "error")));
        }
        size_t j;
        json_t *m;
        json_array_foreach(json_object_get(g, "members"), j, m)
        {
            json_t *inst = json_object_get(m, "instance");
            printf("  member %s (%s) partitions", json_is_string(inst) ? json_string_value(inst) : "dynamic",
                   json_string_value(json_object_get(m, "host")));
            size_t k;
            json_t *tp;
            const char *last = "";
            json_array_foreach(json_object_get(m, "assignment"), k, tp)
            {
                const char *t = json_string_value(json_object_get(tp, "topic"));
                if (strcmp(t, last) != 0) {
                    printf(" %s:", t);
                    last = t;
                } else {
                    printf(",");
                }
                printf("%" JSON_INTEGER_FORMAT, json_integer_value(json_object_get(tp, "partition")));
            }
            printf("\n");
        }
        if (per_partition) {
            json_t *p;
            json_array_foreach(json_object_get(g, "partitions"), j, p)
            {
                printf("  %s[%" JSON_INTEGER_FORMAT "] committed %" JSON_INTEGER_FORMAT
                       " end %" JSON_INTEGER_FORMAT " lag %" JSON_INTEGER_FORMAT "\n",
                       json_string_value(json_object_get(p, "topic")),
                       json_integer_value(json_object_get(p, "partition")),
                       json_integer_value(json_object_get(p, "committed")),
                       json_integer_value(json_object_get(p, "end")),
                       json_integer_value(json_object_get(p, "lag")));
            }
        }
    }
    printf("total lag %" JSON_INTEGER_FORMAT ", dead letters %" JSON_INTEGER_FORMAT "\n",
           json_integer_value(json_object_get(root, "total_lag")),
           json_integer_value(json_object_get(root, "dlq_records")));
}

int bc_cmd_status(int argc, char **argv)
{
    const char *file = "config/topology.yaml", *brokers_opt = NULL, *dir = "data";
    int as_json = 0, per_partition = 0, timeout_ms = 10000;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(a, "--json") == 0) {
            as_json = 1;
        } else if (strcmp(a, "--partitions") == 0) {
            per_partition = 1;
        } else if (strcmp(a, "--brokers") == 0 && i + 1 < argc) {
            brokers_opt = argv[++i];
        } else if (strcmp(a, "--dir") == 0 && i + 1 < argc) {
            dir = argv[++i];
        } else if (strcmp(a, "--timeout-ms") == 0 && i + 1 < argc) {
            timeout_ms = atoi(argv[++i]);
        } else if (a[0] != '-') {
            file = a;
        } else {
            fprintf(stderr, "breadcrumb status: unknown argument '%s'\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (timeout_ms <= 0) {
        usage(stderr);
        return 2;
    }
    struct bc_errors errs = {0};
    struct bc_config *cfg = bc_config_load(file, &errs);
    if (cfg == NULL || errs.n > 0) {
        bc_errors_print(&errs, stderr);
        bc_errors_clear(&errs);
        bc_config_destroy(cfg);
        return 1;
    }
    int rc = 1;
    rd_kafka_t *admin = NULL;
    const rd_kafka_metadata_t *md = NULL;
    json_t *root = json_object();
    char brokers[1024], errstr[512];
    if (bc_run_brokers(cfg, brokers_opt, dir, brokers, sizeof(brokers), errstr, sizeof(errstr)) != 0) {
        fprintf(stderr, "breadcrumb status: %s\n", errstr);
        goto done;
    }
    rd_kafka_conf_t *conf =
        bc_kafka_conf_new(cfg, NULL, BC_KAFKA_ADMIN, NULL, brokers, errstr, sizeof(errstr));
    if (conf == NULL || (admin = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr))) == NULL) {
        if (conf != NULL) {
            rd_kafka_conf_destroy(conf);
        }
        fprintf(stderr, "breadcrumb status: %s\n", errstr);
        goto done;
    }
    rd_kafka_resp_err_t err = rd_kafka_metadata(admin, 1, NULL, &md, timeout_ms);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        fprintf(stderr, "breadcrumb status: metadata from %s: %s\n", brokers, rd_kafka_err2str(err));
        goto done;
    }
    json_object_set_new(root, "pipeline", json_string(cfg->pipeline));
    json_object_set_new(root, "brokers", json_string(brokers));
    json_t *groups = json_array();
    json_object_set_new(root, "groups", groups);
    int64_t total_lag = 0, total_dlq = 0;
    int errors = 0;
    for (size_t i = 0; i < cfg->n_workers; i++) {
        const struct bc_worker *w = &cfg->workers[i];
        char group[512];
        snprintf(group, sizeof(group), "%s.%s", cfg->pipeline, w->name);
        json_t *jg = describe_group(admin, group, timeout_ms);
        json_object_set_new(jg, "worker", json_string(w->name));
        json_object_set_new(jg, "group", json_string(group));
        json_object_set_new(jg, "replicas", json_integer(w->replicas));
        json_array_append_new(groups, jg);
        static const char *const client_id[] = {"client.id", "breadcrumb-status", NULL};
        rd_kafka_t *rk = bc_cli_consumer_new(brokers, group, client_id, errstr, sizeof(errstr));
        if (rk == NULL) {
            json_object_set_new(jg, "error", json_string(errstr));
            errors++;
            continue;
        }
        if (group_lag(rk, md, w, jg, timeout_ms) != 0) {
            errors++;
        }
        total_lag += json_integer_value(json_object_get(jg, "lag"));
        const char *dlq = bc_worker_output(w, "dlq");
        if (dlq != NULL) {
            int64_t n = topic_size(rk, md, dlq, timeout_ms);
            json_t *jd = json_object();
            json_object_set_new(jd, "topic", json_string(dlq));
            json_object_set_new(jd, "records", json_integer(n));
            json_object_set_new(jg, "dlq", jd);
        }
        rd_kafka_destroy(rk);
    }
    /* Dead letters once per DLQ topic (several workers may share one). */
    for (size_t i = 0; i < cfg->n_topics; i++) {
        int shared = 0;
        for (size_t j = 0; j < cfg->n_workers; j++) {
            const char *d = bc_worker_output(&cfg->workers[j], "dlq");
            shared |= d != NULL && strcmp(d, cfg->topics[i].name) == 0;
        }
        if (shared) {
            int64_t n = topic_size(admin, md, cfg->topics[i].name, timeout_ms);
            total_dlq += n > 0 ? n : 0;
        }
    }
    json_object_set_new(root, "total_lag", json_integer(total_lag));
    json_object_set_new(root, "dlq_records", json_integer(total_dlq));
    json_object_set_new(root, "errors", json_integer(errors));
    if (as_json) {
        json_dumpf(root, stdout, JSON_INDENT(1));
        printf("\n");
    } else {
        print_human(root, per_partition);
    }
    rc = errors == 0 ? 0 : 1;
done:
    json_decref(root);
    if (md != NULL) {
        rd_kafka_metadata_destroy(md);
    }
    if (admin != NULL) {
        rd_kafka_destroy(admin);
    }
    bc_config_destroy(cfg);
    return rc;
}
