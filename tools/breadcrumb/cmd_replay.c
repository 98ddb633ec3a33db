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
 * stops by itself once it has committed everything below them.
 */
#include <errno.h>
#include <inttypes.h>
#include <libgen.h>
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

static void usage(FILE *out)
{
    fprintf(out,
            "usage: breadcrumb replay --topology FILE --worker NAME --from SPEC [--to SPEC]\n"
            "          [--id AUDIT_ID] [--brokers HOST:PORT] [--dir DIR] [--timeout-ms MS]\n\n"
            "Re-runs worker NAME over its input from SPEC to SPEC (exclusive), isolated: its\n"
            "group, transactional.id, changelogs and output topics are prefixed audit.<id>.\n"
            "SPEC: PARTITION:OFFSET[,...] (first input), TOPIC:PARTITION:OFFSET[,...], or an\n"
            "ISO-8601 UTC time (2026-11-27T08:00:00Z: the first offsets at or after it).\n"
            "Without --to: up to the end of each partition now. Partitions missing from --from\n"
            "are not replayed. Prints the audit topics and the `breadcrumb diff` commands that\n"
            "compare them with the live ones. Exit 0, 1 on errors, 2 on usage.\n");
}

#define MAX_PARTS 1024

struct bound {
    const char *topic;
    int32_t partition;
    int64_t offset;
};

struct plan {
    struct bound from[MAX_PARTS], to[MAX_PARTS];
    size_t n;
};

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
        rd_kafka_resp_err_t err = rd_kafka_offsets_for_times(rk, tps, timeout_ms);
        if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            fprintf(stderr, "breadcrumb replay: offsets for %s: %s\n", spec, rd_kafka_err2str(err));
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
            if (strstr(names[i], ".changelog") != NULL) {
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

static int self_dir(char *buf, size_t size)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n <= 0) {
        return -1;
    }
    exe[n] = '\0';
    snprintf(buf, size, "%s", dirname(exe));
    return 0;
}

int bc_cmd_replay(int argc, char **argv)
{
    const char *file = NULL, *worker = NULL, *from = NULL, *to = NULL, *id = NULL;
    const char *brokers_opt = NULL, *dir = "data";
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
    rd_kafka_topic_partition_list_t *starts = NULL, *ends = NULL;
    char **args = NULL;
    if (bc_run_brokers(cfg, brokers_opt, dir, brokers, sizeof(brokers), errstr,
                       sizeof(errstr)) != 0) {
        fprintf(stderr, "breadcrumb replay: %s\n", errstr);
        goto done;
    }
    snprintf(prefix, sizeof(prefix), "audit.%s.", id);
    snprintf(group, sizeof(group), "%s%s.%s", prefix, cfg->pipeline, w->name);
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", brokers, errstr, sizeof(errstr)) != 0 ||
        rd_kafka_conf_set(conf, "group.id", group, errstr, sizeof(errstr)) != 0 ||
        rd_kafka_conf_set(conf, "enable.auto.commit", "false", errstr, sizeof(errstr)) != 0 ||
        (rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr))) == NULL) {
        fprintf(stderr, "breadcrumb replay: %s\n", errstr);
        rd_kafka_conf_destroy(conf);
        goto done;
    }
    const rd_kafka_metadata_t *md = NULL;
    if (rd_kafka_metadata(rk, 1, NULL, &md, timeout_ms) != 0) {
        fprintf(stderr, "breadcrumb replay: cluster metadata unavailable\n");
        goto done;
    }
    starts = rd_kafka_topic_partition_list_new(16);
    ends = rd_kafka_topic_partition_list_new(16);
    for (size_t i = 0; i < w->n_inputs; i++) {
        int n = topic_partitions(md, w->inputs[i]);
        for (int p = 0; p < n; p++) {
            rd_kafka_topic_partition_list_add(starts, w->inputs[i], p);
            rd_kafka_topic_partition_list_add(ends, w->inputs[i], p);
        }
    }
    rd_kafka_metadata_destroy(md);
    if (starts->cnt == 0) {
        fprintf(stderr, "breadcrumb replay: input %s not found\n", w->inputs[0]);
        goto done;
    }
    if (resolve(rk, from, w->inputs[0], starts, timeout_ms) != 0) {
        goto done;
    }
    if (to != NULL) {
        if (resolve(rk, to, w->inputs[0], ends, timeout_ms) != 0) {
            goto done;
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
        printf("replay %s[%d] offsets %" PRId64 "..%" PRId64 " (%" PRId64 " records)\n",
               s->topic, (int)s->partition, s->offset, e->offset, e->offset - s->offset);
    }
    char bindir[PATH_MAX], exe[PATH_MAX + 64];
    if (self_dir(bindir, sizeof(bindir)) != 0) {
        goto done;
    }
    snprintf(exe, sizeof(exe), "%s/%s", bindir, w->type->name);
    size_t n_args = 0;
    args = calloc((size_t)ends->cnt * 2 + 16, sizeof(*args));
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
        char b[512];
        snprintf(b, sizeof(b), "%s:%d:%" PRId64, ends->elems[i].topic,
                 (int)ends->elems[i].partition, ends->elems[i].offset);
        args[n_args++] = strdup("--stop-at");
        args[n_args++] = strdup(b);
    }
    if (create_audit_topics(rk, cfg, w, prefix, timeout_ms) != 0) {
        goto done;
    }
    rd_kafka_resp_err_t err = rd_kafka_commit(rk, starts, 0);
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
    for (size_t i = 0; i < w->n_outputs; i++) {
        printf("  breadcrumb diff %s %s%s", w->outputs[i].topic, prefix, w->outputs[i].topic);
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
    if (starts != NULL) {
        rd_kafka_topic_partition_list_destroy(starts);
    }
    if (ends != NULL) {
        rd_kafka_topic_partition_list_destroy(ends);
    }
    if (rk != NULL) {
        rd_kafka_consumer_close(rk);
        rd_kafka_destroy(rk);
    }
    bc_config_destroy(cfg);
    return rc;
}
