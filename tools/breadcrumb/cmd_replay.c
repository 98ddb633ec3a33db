/*
 * `breadcrumb replay`: re-runs one worker of a topology over a range of its retained input,
 * isolated from the live instances, so that `breadcrumb diff` can prove its output is the
 * same (or show what a changed option changes).
 *
 * Isolation: every name the worker owns gets the prefix `audit.<id>.` (runtime
 * --name-prefix): consumer group, transactional.id, changelogs, output, DLQ and Fates
 * topics. The prefixed topics are created with the originals' partition counts. Inputs and
 * tables are read where they are. Start: the offsets of --from (PARTITION:OFFSET,... on the
 * first input, TOPIC:PARTITION:OFFSET,..., or an ISO-8601 UTC time resolved with
 * ListOffsets by timestamp) are committed for the audit group before the worker starts, so
 * the worker resumes there; partitions not listed are not replayed. End: --to (same forms;
 * default the end of each partition now) becomes the runtime's --stop-at bounds: the worker
 * stops by itself once it has processed and committed everything below them.
 *
 * Stateful workers rebuild their state first (warm-up): they start earlier, at the offsets
 * of a time before the start (the deduplicator: its window; the tail-sampler: decision_wait
 * + allowed_lateness; the lineage-builder: orphan_window; each times 5/4, for records a
 * little out of order; the enricher: the start of the cardinality window the start falls
 * in) or at --warmup-from, and the runtime suppresses every write derived from a record
 * before the start (--emit-from). Stages that decide later in event time (tail-sampler,
 * lineage-builder orphans) read on past the end bound to the end of the partition
 * (cool-down) with the writes derived from records past the end suppressed (--emit-to). Compacted changelogs
 * hold only the latest state, not the state as of the start, so they are never used.
 * Inputs the worker also writes (a repartition topic) are read from its audit copy.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#include "bc_config.h"
#include "bc_options.h"
#include "tools/breadcrumb/cli.h"
#include "tools/breadcrumb/run_common.h"
#include "tools/breadcrumb/topic_scan.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: breadcrumb replay --topology FILE --worker NAME --from SPEC [--to SPEC]\n"
            "          [--id AUDIT_ID] [--warmup-from SPEC] [--brokers HOST:PORT] [--dir DIR]\n"
            "          [--timeout-ms MS]\n\n"
            "Re-runs worker NAME over its input from SPEC to SPEC (exclusive), isolated: its\n"
            "group, transactional.id, changelogs and output topics are prefixed audit.<id>.\n"
            "SPEC: PARTITION:OFFSET[,...] (first input), TOPIC:PARTITION:OFFSET[,...], or an\n"
            "ISO-8601 UTC time (2026-11-27T08:00:00Z: the first offsets at or after it).\n"
            "Without --to: up to the end of each partition now. Partitions missing from --from\n"
            "are not replayed. Stateful workers first rebuild their state from earlier input\n"
            "(a window before the start, or --warmup-from) with their output suppressed.\n"
            "Prints the audit topics and the `breadcrumb diff` commands that compare them with\n"
            "the live ones. Exit 0, 1 on errors, 2 on usage.\n");
}

static int parse_time(const char *s, int64_t *ms)
{
    struct tm tm = {0};
    const char *rest = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (rest == NULL) {
        return -1;
    }
    int64_t frac = 0;
    if (*rest == '.') {
        int digits = 0;
        for (rest++; *rest >= '0' && *rest <= '9'; rest++, digits++) {
            if (digits < 3) {
                frac = frac * 10 + (*rest - '0');
            }
        }
        for (; digits < 3; digits++) {
            frac *= 10;
        }
    }
    if (strcmp(rest, "Z") != 0 && strcmp(rest, "+00:00") != 0) {
        return -1;
    }
    *ms = (int64_t)timegm(&tm) * 1000 + frac;
    return 0;
}

/* Turns the times (ms) in tps's offsets into the offsets of the first records at or after
 * them; the end of the partition where there is none. what names the times in errors. */
static int times_to_offsets(rd_kafka_t *rk, rd_kafka_topic_partition_list_t *tps,
                            int timeout_ms, const char *what)
{
    rd_kafka_resp_err_t err = rd_kafka_offsets_for_times(rk, tps, timeout_ms);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        fprintf(stderr, "breadcrumb replay: offsets for %s: %s\n", what, rd_kafka_err2str(err));
        return -1;
    }
    for (int i = 0; i < tps->cnt; i++) {
        if (tps->elems[i].offset < 0) { /* nothing at or after it: the end */
            int64_t lo, hi;
            if (rd_kafka_query_watermark_offsets(rk, tps->elems[i].topic,
                                                 tps->elems[i].partition, &lo, &hi,
                                                 timeout_ms) != 0) {
                return -1;
            }
            tps->elems[i].offset = hi;
        }
    }
    return 0;
}

/* Resolves SPEC into offsets for every (topic, partition) of tps (which holds every input
 * partition; their .offset gets the result, or -1 when SPEC does not name it). */
static int resolve(rd_kafka_t *rk, const char *spec, const char *first_input,
                   rd_kafka_topic_partition_list_t *tps, int timeout_ms)
{
    for (int i = 0; i < tps->cnt; i++) {
        tps->elems[i].offset = -1;
    }
    int64_t ms;
    if (parse_time(spec, &ms) == 0) {
        for (int i = 0; i < tps->cnt; i++) {
            tps->elems[i].offset = ms;
        }
        return times_to_offsets(rk, tps, timeout_ms, spec);
    }
    char *copy = strdup(spec), *save = NULL;
    int rc = 0;
    for (char *item = strtok_r(copy, ",", &save); item != NULL && rc == 0;
         item = strtok_r(NULL, ",", &save)) {
        const char *topic = first_input;
        char *last = strrchr(item, ':');
        char *p_str = item;
        if (last == NULL) {
            rc = -1;
            break;
        }
        *last = '\0';
        char *mid = strrchr(item, ':');
        if (mid != NULL) {
            *mid = '\0';
            topic = item;
            p_str = mid + 1;
        }
        char *end1, *end2;
        long p = strtol(p_str, &end1, 10);
        long long off = strtoll(last + 1, &end2, 10);
        if (*p_str == '\0' || *end1 != '\0' || last[1] == '\0' || *end2 != '\0' || off < 0) {
            rc = -1;
            break;
        }
        rd_kafka_topic_partition_t *tp =
            rd_kafka_topic_partition_list_find(tps, topic, (int32_t)p);
        if (tp == NULL) {
            fprintf(stderr, "breadcrumb replay: %s[%ld] is not an input partition\n", topic, p);
            rc = -1;
            break;
        }
        tp->offset = off;
    }
    if (rc != 0) {
        fprintf(stderr, "breadcrumb replay: bad offsets '%s'\n", spec);
    }
    free(copy);
    return rc;
}

static int topic_partitions(const rd_kafka_metadata_t *md, const char *topic)
{
    for (int i = 0; i < md->topic_cnt; i++) {
        if (strcmp(md->topics[i].topic, topic) == 0 && md->topics[i].err == 0) {
            return md->topics[i].partition_cnt;
        }
    }
    return -1;
}

/* Whether a scalar of the YAML tree node (a value or a map key) is exactly text. */
static int node_mentions(const struct bc_node *node, const char *text)
{
    if (node == NULL) {
        return 0;
    }
    if (node->kind == BC_NODE_SCALAR) {
        return node->scalar != NULL && strcmp(node->scalar, text) == 0;
    }
    for (size_t i = 0; i < node->n; i++) {
        if ((node->keys != NULL && node_mentions(node->keys[i], text)) ||
            node_mentions(node->values[i], text)) {
            return 1;
        }
    }
    return 0;
}

/* Creates the prefixed copies of the worker's outputs, its pipeline's DLQ and Fates topics
 * and its changelogs (topics named <pipeline>.<worker>.*.changelog). */
static int create_audit_topics(rd_kafka_t *rk, const struct bc_config *cfg,
                               const struct bc_worker *w, const char *prefix, int timeout_ms)
{
    const rd_kafka_metadata_t *md = NULL;
    if (rd_kafka_metadata(rk, 1, NULL, &md, timeout_ms) != 0) {
        fprintf(stderr, "breadcrumb replay: cluster metadata unavailable\n");
        return -1;
    }
    char *names[256];
    int parts[256];
    size_t n = 0;
    char buf[512];
    for (size_t i = 0; i < w->n_outputs && n < 250; i++) {
        names[n] = strdup(w->outputs[i].topic);
        parts[n++] = topic_partitions(md, w->outputs[i].topic);
    }
    /* Topics the worker names in its options and writes with bc_emit_topic (the router's
     * sinks, the lineage-builder's OpenLineage topic): every topology topic an option
     * mentions, but its inputs. */
    for (size_t i = 0; i < cfg->n_topics && n < 240; i++) {
        int mentioned = 0;
        for (size_t j = 0; j < w->options->n && !mentioned; j++) {
            mentioned = node_mentions(w->options->v[j].node, cfg->topics[i].name);
        }
        for (size_t j = 0; j < w->n_inputs && mentioned; j++) {
            mentioned = strcmp(w->inputs[j], cfg->topics[i].name) != 0;
        }
        if (mentioned) {
            names[n] = strdup(cfg->topics[i].name);
            parts[n++] = topic_partitions(md, cfg->topics[i].name);
        }
    }
    const char *extra[] = {"fates", "dlq"};
    for (size_t i = 0; i < 2; i++) {
        snprintf(buf, sizeof(buf), "%s.%s", cfg->pipeline, extra[i]);
        names[n] = strdup(buf);
        parts[n++] = topic_partitions(md, buf);
    }
    snprintf(buf, sizeof(buf), "%s.%s.", cfg->pipeline, w->name);
    for (int i = 0; i < md->topic_cnt && n < 256; i++) {
        const char *t = md->topics[i].topic;
        size_t len = strlen(t);
        if (strncmp(t, buf, strlen(buf)) == 0 && len > 10 &&
            strcmp(t + len - 10, ".changelog") == 0) {
            names[n] = strdup(t);
            parts[n++] = md->topics[i].partition_cnt;
        }
    }
    rd_kafka_metadata_destroy(md);
    rd_kafka_NewTopic_t *create[256];
    size_t n_create = 0;
    char err[256];
    for (size_t i = 0; i < n; i++) {
        int dup = 0;
        for (size_t j = 0; j < i; j++) {
            dup |= strcmp(names[i], names[j]) == 0;
        }
        if (dup) {
            continue;
        }
        snprintf(buf, sizeof(buf), "%s%s", prefix, names[i]);
        create[n_create] = rd_kafka_NewTopic_new(buf, parts[i] > 0 ? parts[i] : 1, -1, err,
                                                 sizeof(err));
        if (create[n_create] != NULL) {
            /* The original's settings (cleanup, retention, max.message.bytes...). */
            const struct bc_topic *t = bc_config_topic(cfg, names[i]);
            static const char *const cleanup[] = {"delete", "compact", "compact,delete"};
            if (t != NULL) {
                rd_kafka_NewTopic_set_config(create[n_create], "cleanup.policy",
                                             cleanup[t->cleanup]);
                for (size_t k = 0; k < t->n_configs; k++) {
                    rd_kafka_NewTopic_set_config(create[n_create], t->configs[k].key,
                                                 t->configs[k].value);
                }
            } else if (strstr(names[i], ".changelog") != NULL) {
                rd_kafka_NewTopic_set_config(create[n_create], "cleanup.policy", "compact");
            }
            n_create++;
        }
    }
    for (size_t i = 0; i < n; i++) {
        free(names[i]);
    }
    int rc = 0;
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *opts = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    rd_kafka_AdminOptions_set_request_timeout(opts, timeout_ms, err, sizeof(err));
    rd_kafka_CreateTopics(rk, create, n_create, opts, q);
    rd_kafka_AdminOptions_destroy(opts);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, timeout_ms + 2000);
    if (ev == NULL || rd_kafka_event_error(ev) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        fprintf(stderr, "breadcrumb replay: CreateTopics failed: %s\n",
                ev ? rd_kafka_event_error_string(ev) : "timed out");
        rc = -1;
    } else {
        size_t cnt = 0;
        const rd_kafka_topic_result_t **res =
            rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &cnt);
        for (size_t i = 0; i < cnt; i++) {
            rd_kafka_resp_err_t terr = rd_kafka_topic_result_error(res[i]);
            if (terr == RD_KAFKA_RESP_ERR_NO_ERROR) {
                printf("created %s\n", rd_kafka_topic_result_name(res[i]));
            } else if (terr == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
                fprintf(stderr, "breadcrumb replay: %s exists: pick a new --id\n",
                        rd_kafka_topic_result_name(res[i]));
                rc = -1;
            } else {
                fprintf(stderr, "breadcrumb replay: %s: %s\n", rd_kafka_topic_result_name(res[i]),
                        rd_kafka_topic_result_error_string(res[i]));
                rc = -1;
            }
        }
    }
    if (ev != NULL) {
        rd_kafka_event_destroy(ev);
    }
    rd_kafka_queue_destroy(q);
    for (size_t i = 0; i < n_create; i++) {
        rd_kafka_NewTopic_destroy(create[i]);
    }
    return rc;
}

/* The time at the offsets in tps: the lowest Kafka timestamp of the first TIME_SAMPLE
 * records at or after each offset (read_committed), so that a record written long after
 * its time (an exporter's far retry) does not stand for it; ts[i] = -1 where the partition
 * has none. */
#define TIME_SAMPLE 20
static int times_at(rd_kafka_t *rk, const rd_kafka_topic_partition_list_t *tps, int64_t *ts,
                    int timeout_ms)
{
    int left = 0;
    for (int i = 0; i < tps->cnt; i++) {
        ts[i] = -1;
        left++;
    }
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_copy(tps);
    int *seen = calloc((size_t)tps->cnt + 1, sizeof(*seen));
    if (seen == NULL || rd_kafka_assign(rk, l) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        free(seen);
        rd_kafka_topic_partition_list_destroy(l);
        return -1;
    }
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int rc = 0;
    while (left > 0) {
        clock_gettime(CLOCK_MONOTONIC, &t);
        if ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 > timeout_ms) {
            fprintf(stderr, "breadcrumb replay: timed out reading record times\n");
            rc = -1;
            break;
        }
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (m == NULL) {
            continue;
        }
        for (int i = 0; i < tps->cnt; i++) {
            if (seen[i] >= TIME_SAMPLE || m->rkt == NULL ||
                m->partition != tps->elems[i].partition ||
                strcmp(rd_kafka_topic_name(m->rkt), tps->elems[i].topic) != 0) {
                continue;
            }
            if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
                int64_t t1 = rd_kafka_message_timestamp(m, NULL);
                if (ts[i] < 0 || (t1 >= 0 && t1 < ts[i])) {
                    ts[i] = t1;
                }
                seen[i]++;
            } else if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                seen[i] = TIME_SAMPLE;
            } else {
                continue;
            }
            if (seen[i] >= TIME_SAMPLE) {
                left--;
            }
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_assign(rk, NULL);
    free(seen);
    rd_kafka_topic_partition_list_destroy(l);
    return rc;
}

/* How much event time before the start a worker type needs to rebuild its state (and
 * after the end to make its decisions there), in ms; *align: the start is rounded down to
 * a multiple of it instead (the enricher's tumbling cardinality windows). */
static int64_t warmup_ms(const struct bc_config *cfg, const struct bc_worker *w, int64_t *align,
                         int *cooldown)
{
    const char *t = w->type->name;
    *align = 0;
    *cooldown = 0;
    /* Stream time in the tail-sampler and the lineage-builder is the records' event time,
     * which may be ahead of the Kafka timestamps by the normalizer's clamp: a record before
     * the warm-up may still hold the highest event time, so go back that much further. */
    int64_t skew = 0;
    for (size_t i = 0; i < cfg->n_workers; i++) {
        const struct bc_worker *n = &cfg->workers[i];
        if (strcmp(n->type->name, "normalizer") == 0 && bc_values_bool(n->options, "clamp_skew") &&
            bc_values_int(n->options, "max_clock_skew") > skew) {
            skew = bc_values_int(n->options, "max_clock_skew");
        }
    }
    if (strcmp(t, "deduplicator") == 0) {
        return bc_values_int(w->options, "window") * 5 / 4;
    }
    if (strcmp(t, "tail-sampler") == 0) {
        *cooldown = 1;
        /* Late spans follow a decision for decision_ttl: the decisions they meet must be
         * rebuilt too, and a trace's spans may lie far apart in the input's offsets. */
        return (bc_values_int(w->options, "decision_ttl") +
                bc_values_int(w->options, "decision_wait") +
                bc_values_int(w->options, "allowed_lateness")) * 5 / 4 + skew;
    }
    if (strcmp(t, "lineage-builder") == 0) {
        *cooldown = 1;
        return bc_values_int(w->options, "orphan_window") * 5 / 4 + skew;
    }
    if (strcmp(t, "enricher") == 0) {
        const struct bc_value *card = bc_values_find(w->options, "cardinality");
        if (card != NULL && card->set) {
            *align = bc_values_int(w->options, "cardinality.window");
        }
    }
    return 0;
}

/* Offsets of the first records at or after times[i] (ms) on each partition of tps; the end
 * of the partition where none is. */
static int offsets_at(rd_kafka_t *rk, rd_kafka_topic_partition_list_t *tps, const int64_t *times,
                      int timeout_ms)
{
    for (int i = 0; i < tps->cnt; i++) {
        tps->elems[i].offset = times[i] < 0 ? 0 : times[i];
    }
    return times_to_offsets(rk, tps, timeout_ms, "times");
}

static int is_output(const struct bc_worker *w, const char *topic)
{
    for (size_t i = 0; i < w->n_outputs; i++) {
        if (strcmp(w->outputs[i].topic, topic) == 0) {
            return 1;
        }
    }
    return 0;
}

static void add_bound(char **args, size_t *n, const char *flag, const char *topic, int32_t p,
                      int64_t offset)
{
    char b[512];
    snprintf(b, sizeof(b), "%s:%d:%" PRId64, topic, (int)p, offset);
    args[(*n)++] = strdup(flag);
    args[(*n)++] = strdup(b);
}

int bc_cmd_replay(int argc, char **argv)
{
    const char *file = NULL, *worker = NULL, *from = NULL, *to = NULL, *id = NULL;
    const char *brokers_opt = NULL, *dir = "data", *warm_spec = NULL;
    int timeout_ms = 15000;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "breadcrumb replay: %s needs a value\n", a);
            usage(stderr);
            return 2;
        }
        const char *v = argv[++i];
        if (strcmp(a, "--topology") == 0) {
            file = v;
        } else if (strcmp(a, "--worker") == 0) {
            worker = v;
        } else if (strcmp(a, "--from") == 0) {
            from = v;
        } else if (strcmp(a, "--to") == 0) {
            to = v;
        } else if (strcmp(a, "--warmup-from") == 0) {
            warm_spec = v;
        } else if (strcmp(a, "--id") == 0) {
            id = v;
        } else if (strcmp(a, "--brokers") == 0) {
            brokers_opt = v;
        } else if (strcmp(a, "--dir") == 0) {
            dir = v;
        } else if (strcmp(a, "--timeout-ms") == 0) {
            timeout_ms = atoi(v);
        } else {
            fprintf(stderr, "breadcrumb replay: unknown option %s\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (file == NULL || worker == NULL || from == NULL) {
        usage(stderr);
        return 2;
    }
    char idbuf[32];
    if (id == NULL) {
        time_t now = time(NULL);
        strftime(idbuf, sizeof(idbuf), "%Y%m%dt%H%M%S", gmtime(&now));
        id = idbuf;
    }
    struct bc_errors errs = {0};
    struct bc_config *cfg = bc_config_load(file, &errs);
    if (cfg == NULL || errs.n > 0) {
        bc_errors_print(&errs, stderr);
        bc_errors_clear(&errs);
        bc_config_destroy(cfg);
        return 1;
    }
    const struct bc_worker *w = bc_config_worker(cfg, worker);
    if (w == NULL) {
        fprintf(stderr, "breadcrumb replay: %s: no worker named '%s'\n", file, worker);
        bc_config_destroy(cfg);
        return 2;
    }
    int rc = 1;
    char brokers[512], errstr[512], prefix[256], group[512];
    rd_kafka_t *rk = NULL;
    rd_kafka_topic_partition_list_t *starts = NULL, *ends = NULL, *warm = NULL, *run_to = NULL;
    int64_t *ts = NULL;
    char **args = NULL;
    if (bc_run_brokers(cfg, brokers_opt, dir, brokers, sizeof(brokers), errstr,
                       sizeof(errstr)) != 0) {
        fprintf(stderr, "breadcrumb replay: %s\n", errstr);
        goto done;
    }
    snprintf(prefix, sizeof(prefix), "audit.%s.", id);
    snprintf(group, sizeof(group), "%s%s.%s", prefix, cfg->pipeline, w->name);
    if ((rk = bc_cli_consumer_new(brokers, group, NULL, errstr, sizeof(errstr))) == NULL) {
        fprintf(stderr, "breadcrumb replay: %s\n", errstr);
        goto done;
    }
    const rd_kafka_metadata_t *md = NULL;
    if (rd_kafka_metadata(rk, 1, NULL, &md, timeout_ms) != 0) {
        fprintf(stderr, "breadcrumb replay: cluster metadata unavailable\n");
        goto done;
    }
    starts = rd_kafka_topic_partition_list_new(16);
    const char *first_input = NULL;
    for (size_t i = 0; i < w->n_inputs; i++) {
        if (is_output(w, w->inputs[i])) {
            continue; /* its own (repartition) topic: the audit copy, read whole */
        }
        first_input = first_input != NULL ? first_input : w->inputs[i];
        int n = topic_partitions(md, w->inputs[i]);
        for (int p = 0; p < n; p++) {
            rd_kafka_topic_partition_list_add(starts, w->inputs[i], p);
        }
    }
    rd_kafka_metadata_destroy(md);
    if (starts->cnt == 0) {
        fprintf(stderr, "breadcrumb replay: input %s not found\n", w->inputs[0]);
        goto done;
    }
    ends = rd_kafka_topic_partition_list_copy(starts);
    warm = rd_kafka_topic_partition_list_copy(starts);
    run_to = rd_kafka_topic_partition_list_copy(starts);
    ts = calloc((size_t)starts->cnt, sizeof(*ts));
    if (ts == NULL || resolve(rk, from, first_input, starts, timeout_ms) != 0 ||
        (to != NULL && resolve(rk, to, first_input, ends, timeout_ms) != 0) ||
        (warm_spec != NULL && resolve(rk, warm_spec, first_input, warm, timeout_ms) != 0)) {
        goto done;
    }
    if (to == NULL) {
        for (int i = 0; i < ends->cnt; i++) {
            ends->elems[i].offset = -1;
        }
    }
    for (int i = 0; i < starts->cnt; i++) {
        int64_t lo = 0, hi = 0;
        rd_kafka_topic_partition_t *s = &starts->elems[i], *e = &ends->elems[i];
        if (rd_kafka_query_watermark_offsets(rk, s->topic, s->partition, &lo, &hi,
                                             timeout_ms) != 0) {
            fprintf(stderr, "breadcrumb replay: watermarks of %s[%d] unavailable\n", s->topic,
                    (int)s->partition);
            goto done;
        }
        if (e->offset < 0 || e->offset > hi) {
            e->offset = hi;
        }
        if (s->offset < 0) { /* not replayed */
            s->offset = e->offset;
        }
        if (s->offset < lo) {
            fprintf(stderr, "breadcrumb replay: %s[%d] offset %" PRId64
                            " is no longer retained (first is %" PRId64 ")\n",
                    s->topic, (int)s->partition, s->offset, lo);
            goto done;
        }
        if (e->offset < s->offset) {
            e->offset = s->offset;
        }
        run_to->elems[i].offset = hi; /* the cool-down's limit */
    }
    /* Warm-up and cool-down (see the top of this file). */
    int64_t align = 0;
    int cooldown = 0;
    int64_t need = warmup_ms(cfg, w, &align, &cooldown);
    if (warm_spec == NULL) {
        if (need > 0 || align > 0) {
            if (times_at(rk, starts, ts, timeout_ms) != 0) {
                goto done;
            }
            for (int i = 0; i < starts->cnt; i++) {
                if (ts[i] >= 0) {
                    ts[i] = align > 0 ? ts[i] / align * align : ts[i] - need;
                }
            }
            if (offsets_at(rk, warm, ts, timeout_ms) != 0) {
                goto done;
            }
        } else {
            for (int i = 0; i < warm->cnt; i++) {
                warm->elems[i].offset = starts->elems[i].offset;
            }
        }
    }
    for (int i = 0; i < warm->cnt; i++) {
        int64_t lo = 0, hi = 0;
        rd_kafka_topic_partition_t *wp = &warm->elems[i];
        if (ends->elems[i].offset == starts->elems[i].offset || wp->offset < 0 ||
            wp->offset > starts->elems[i].offset) {
            wp->offset = starts->elems[i].offset; /* not replayed, or not given */
        }
        if (rd_kafka_query_watermark_offsets(rk, wp->topic, wp->partition, &lo, &hi,
                                             timeout_ms) == 0 &&
            wp->offset < lo) {
            wp->offset = lo;
        }
    }
    /* Cool-down: on to the end of each replayed partition (run_to; event time is in the
     * records, and Kafka timestamps are not in order: an exporter's far retry carries a
     * late one), so that every decision on a record of the range is made as live. */
    for (int i = 0; i < ends->cnt; i++) {
        if (!cooldown || ends->elems[i].offset == starts->elems[i].offset) {
            run_to->elems[i].offset = ends->elems[i].offset;
        }
    }
    for (int i = 0; i < starts->cnt; i++) {
        rd_kafka_topic_partition_t *s = &starts->elems[i], *e = &ends->elems[i];
        if (e->offset == s->offset) {
            continue;
        }
        printf("replay %s[%d] offsets %" PRId64 "..%" PRId64 " (%" PRId64 " records)", s->topic,
               (int)s->partition, s->offset, e->offset, e->offset - s->offset);
        if (warm->elems[i].offset < s->offset) {
            printf(", warm-up from %" PRId64, warm->elems[i].offset);
        }
        if (run_to->elems[i].offset > e->offset) {
            printf(", cool-down to %" PRId64, run_to->elems[i].offset);
        }
        printf("\n");
    }
    char bindir[PATH_MAX], exe[PATH_MAX + 64];
    if (bc_exe_dir(bindir, sizeof(bindir)) != 0) {
        goto done;
    }
    snprintf(exe, sizeof(exe), "%s/%s", bindir, w->type->name);
    size_t n_args = 0;
    args = calloc((size_t)ends->cnt * 6 + 16, sizeof(*args));
    if (args == NULL) {
        goto done;
    }
    args[n_args++] = strdup(exe);
    const char *fixed[] = {"--config", file, "--worker", w->name, "--instance", "audit",
                           "--brokers", brokers, "--name-prefix", prefix};
    for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
        args[n_args++] = strdup(fixed[i]);
    }
    for (int i = 0; i < ends->cnt; i++) {
        const rd_kafka_topic_partition_t *s = &starts->elems[i], *e = &ends->elems[i];
        add_bound(args, &n_args, "--stop-at", s->topic, s->partition, run_to->elems[i].offset);
        if (warm->elems[i].offset < s->offset) {
            add_bound(args, &n_args, "--emit-from", s->topic, s->partition, s->offset);
        }
        if (run_to->elems[i].offset > e->offset) {
            add_bound(args, &n_args, "--emit-to", s->topic, s->partition, e->offset);
        }
    }
    if (create_audit_topics(rk, cfg, w, prefix, timeout_ms) != 0) {
        goto done;
    }
    rd_kafka_resp_err_t err = rd_kafka_commit(rk, warm, 0);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        fprintf(stderr, "breadcrumb replay: committing the start offsets for %s: %s\n", group,
                rd_kafka_err2str(err));
        goto done;
    }
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    rk = NULL;

    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "breadcrumb replay: fork: %s\n", strerror(errno));
        goto done;
    }
    if (pid == 0) {
        setenv("BREADCRUMB_BROKERS", brokers, 1);
        execv(exe, args);
        fprintf(stderr, "breadcrumb replay: cannot run %s: %s\n", exe, strerror(errno));
        _exit(127);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "breadcrumb replay: %s ended with status %d\n", w->type->name,
                WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
        goto done;
    }
    printf("replayed %s as %s%s.%s; compare with:\n", w->name, prefix, cfg->pipeline, w->name);
    char fates[300];
    snprintf(fates, sizeof(fates), "%s.fates", cfg->pipeline);
    for (size_t i = 0; i <= w->n_outputs; i++) {
        const char *topic = i < w->n_outputs ? w->outputs[i].topic : fates;
        printf("  breadcrumb diff %s %s%s", topic, prefix, topic);
        for (int j = 0; j < starts->cnt; j++) {
            if (ends->elems[j].offset > starts->elems[j].offset) {
                printf(" --range %s:%d:%" PRId64 "-%" PRId64, starts->elems[j].topic,
                       (int)starts->elems[j].partition, starts->elems[j].offset,
                       ends->elems[j].offset - 1);
            }
        }
        printf("\n");
    }
    rc = 0;
done:
    if (args != NULL) {
        for (size_t i = 0; args[i] != NULL; i++) {
            free(args[i]);
        }
        free(args);
    }
    rd_kafka_topic_partition_list_t *lists[] = {starts, ends, warm, run_to};
    for (size_t i = 0; i < 4; i++) {
        if (lists[i] != NULL) {
            rd_kafka_topic_partition_list_destroy(lists[i]);
        }
    }
    free(ts);
    if (rk != NULL) {
        rd_kafka_consumer_close(rk);
        rd_kafka_destroy(rk);
    }
    bc_config_destroy(cfg);
    return rc;
}
