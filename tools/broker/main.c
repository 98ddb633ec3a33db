/*
 * breadcrumb-broker: a single-node Kafka-protocol broker with a persistent log, for local
 * runs and tests (see README.md, section "The embedded broker"). Flags, startup with log
 * recovery, the event loop, and a clean stop on SIGTERM/SIGINT (fsync, index files).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bc_log.h"
#include "broker.h"
#include "compact.h"
#include "group.h"
#include "topology.h"

struct option_doc {
    const char *name;
    int has_arg;
    const char *arg;
    const char *help;
};

static const struct option_doc option_docs[] = {
    {"listen", 1, "HOST:PORT", "address to listen on (default 127.0.0.1:9092; port 0: any free)"},
    {"advertised-host", 1, "HOST", "host named in Metadata responses (default: the listen host)"},
    {"data-dir", 1, "DIR", "where topics and logs live (default ./data/broker)"},
    {"partitions", 1, "N", "partitions of a topic created without a count (default 1)"},
    {"auto-create", 0, NULL, "create unknown topics asked for in Metadata (default off)"},
    {"topic", 1, "NAME[:PARTITIONS[:KEY=VALUE,...]]", "create this topic at startup if missing"},
    {"topology", 1, "FILE", "create the topics declared under `topics:` of a topology, if missing"},
    {"fsync", 1, "never|interval|always",
     "never (default): the page cache, kill -9 safe; interval: fdatasync every "
     "--fsync-interval-ms; always: before every produce answer"},
    {"fsync-interval-ms", 1, "MS", "period for --fsync interval (default 1000)"},
    {"port-file", 1, "FILE", "write the bound port to FILE once listening"},
    {"max-request-bytes", 1, "N", "largest request frame accepted (default 104857600)"},
    {"fetch-max-bytes", 1, "N",
     "most record bytes in one Fetch response, at least one batch (default 1048576)"},
    {"retention-check-ms", 1, "MS", "how often retention runs (default 30000)"},
    {"compact-interval-ms", 1, "MS", "how often compacted topics are cleaned (default 15000)"},
    {"log-level", 1, "debug|info|warn|error", "default info"},
    {"log-format", 1, "logfmt|json", "default logfmt"},
    {"group-min-session-timeout-ms", 1, "MS",
     "smallest session.timeout.ms a group member may ask for (default 6000)"},
    {"group-max-session-timeout-ms", 1, "MS",
     "largest session.timeout.ms a group member may ask for (default 1800000)"},
    {"group-initial-rebalance-delay-ms", 1, "MS",
     "the first rebalance of an empty group waits this long for more members (default 300)"},
    {"fault-drop-after-append", 1, "N",
     "TEST ONLY: close the connection instead of answering every Nth appending Produce"},
    {"help", 0, NULL, "this text"},
};

#define NOPTS (sizeof(option_docs) / sizeof(option_docs[0]))

static void usage(FILE *f)
{
    fprintf(f, "usage: breadcrumb-broker [options]\n\n");
    for (size_t i = 0; i < NOPTS; i++) {
        char left[96];
        snprintf(left, sizeof(left), "--%s%s%s", option_docs[i].name,
                 option_docs[i].arg ? " " : "", option_docs[i].arg ? option_docs[i].arg : "");
        fprintf(f, "  %-40s %s\n", left, option_docs[i].help);
    }
}

static int parse_i64(const char *s, int64_t min, int64_t max, int64_t *out)
{
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (*s == '\0' || *end != '\0' || errno != 0 || v < min || v > max) {
        return -1;
    }
    *out = v;
    return 0;
}

static int parse_listen(const char *s, struct broker_opts *o)
{
    const char *colon = strrchr(s, ':');
    if (colon == NULL || (size_t)(colon - s) >= sizeof(o->listen_host)) {
        return -1;
    }
    int64_t port;
    if (parse_i64(colon + 1, 0, 65535, &port) != 0) {
        return -1;
    }
    const char *host = s;
    size_t len = (size_t)(colon - s);
    if (len >= 2 && host[0] == '[' && host[len - 1] == ']') {
        host++;
        len -= 2;
    }
    memcpy(o->listen_host, host, len);
    o->listen_host[len] = '\0';
    o->listen_port = (int)port;
    return 0;
}

/* "name[:partitions[:k=v,k=v]]" -> broker_topic_create(). */
static int create_topic_arg(struct broker *b, const char *arg)
{
    char buf[2048];
    snprintf(buf, sizeof(buf), "%s", arg);
    char *name = buf;
    char *parts = strchr(buf, ':');
    char *configs = NULL;
    int64_t np = -1;
    if (parts != NULL) {
        *parts++ = '\0';
        configs = strchr(parts, ':');
        if (configs != NULL) {
            *configs++ = '\0';
        }
        if (*parts != '\0' && parse_i64(parts, 1, 10000, &np) != 0) {
            fprintf(stderr, "breadcrumb-broker: --topic %s: bad partition count\n", arg);
            return -1;
        }
    }
    if (broker_topic_find(b, name) != NULL) {
        return 0;
    }
    const char *names[64], *values[64];
    size_t n = 0;
    for (char *tok = configs ? strtok(configs, ",") : NULL; tok != NULL && n < 64;
         tok = strtok(NULL, ",")) {
        char *eq = strchr(tok, '=');
        if (eq == NULL) {
            fprintf(stderr, "breadcrumb-broker: --topic %s: expected KEY=VALUE\n", arg);
            return -1;
        }
        *eq = '\0';
        names[n] = tok;
        values[n] = eq + 1;
        n++;
    }
    char err[512];
    int rc = broker_topic_create(b, name, (int32_t)np, names, values, n, NULL, err, sizeof(err));
    if (rc != KERR_NONE) {
        fprintf(stderr, "breadcrumb-broker: --topic %s: %s\n", arg, err);
        return -1;
    }
    return 0;
}

static void retention_tick(struct broker *b, struct timer *t)
{
    broker_retention_run(b);
    timer_add(&b->timers, t, now_ms() + b->opts.retention_check_ms, retention_tick);
}

static void fsync_tick(struct broker *b, struct timer *t)
{
    broker_sync_all(b);
    timer_add(&b->timers, t, now_ms() + b->opts.fsync_interval_ms, fsync_tick);
}

int main(int argc, char **argv)
{
    static struct broker broker;
    struct broker *b = &broker;
    struct broker_opts *o = &b->opts;
    snprintf(o->listen_host, sizeof(o->listen_host), "127.0.0.1");
    o->listen_port = 9092;
    o->data_dir = "data/broker";
    o->default_partitions = 1;
    o->fsync = FSYNC_NEVER;
    o->fsync_interval_ms = 1000;
    o->max_request_bytes = 100 * 1024 * 1024;
    o->fetch_max_bytes = 1024 * 1024;
    o->retention_check_ms = 30000;
    o->compact_interval_ms = 15000;
    o->group_min_session_timeout_ms = 6000;
    o->group_max_session_timeout_ms = 1800000;
    o->group_initial_rebalance_delay_ms = 300;
    enum bc_log_level level = BC_LOG_INFO;
    enum bc_log_format format = BC_LOG_LOGFMT;
    const char *topics[256];
    size_t ntopics = 0;
    const char *topology = NULL;

    struct option longopts[NOPTS + 1];
    for (size_t i = 0; i < NOPTS; i++) {
        longopts[i] = (struct option){option_docs[i].name, option_docs[i].has_arg, NULL, (int)i};
    }
    longopts[NOPTS] = (struct option){NULL, 0, NULL, 0};
    int c;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        if (c < 0 || (size_t)c >= NOPTS) {
            usage(stderr);
            return 2;
        }
        const char *name = option_docs[c].name;
        int64_t v = 0;
        int bad = 0;
        if (strcmp(name, "listen") == 0) {
            bad = parse_listen(optarg, o);
        } else if (strcmp(name, "advertised-host") == 0) {
            snprintf(o->advertised_host, sizeof(o->advertised_host), "%s", optarg);
        } else if (strcmp(name, "data-dir") == 0) {
            o->data_dir = optarg;
        } else if (strcmp(name, "partitions") == 0) {
            bad = parse_i64(optarg, 1, 10000, &v);
            o->default_partitions = (int32_t)v;
        } else if (strcmp(name, "auto-create") == 0) {
            o->auto_create = 1;
        } else if (strcmp(name, "topic") == 0) {
            bad = ntopics == 256;
            if (!bad) {
                topics[ntopics++] = optarg;
            }
        } else if (strcmp(name, "topology") == 0) {
            topology = optarg;
        } else if (strcmp(name, "fsync") == 0) {
            if (strcmp(optarg, "never") == 0) {
                o->fsync = FSYNC_NEVER;
            } else if (strcmp(optarg, "interval") == 0) {
                o->fsync = FSYNC_INTERVAL;
            } else if (strcmp(optarg, "always") == 0) {
                o->fsync = FSYNC_ALWAYS;
            } else {
                bad = 1;
            }
        } else if (strcmp(name, "fsync-interval-ms") == 0) {
            bad = parse_i64(optarg, 1, 3600000, &v);
            o->fsync_interval_ms = (int32_t)v;
        } else if (strcmp(name, "port-file") == 0) {
            o->port_file = optarg;
        } else if (strcmp(name, "max-request-bytes") == 0) {
            bad = parse_i64(optarg, 1024, INT32_MAX, &v);
            o->max_request_bytes = (int32_t)v;
        } else if (strcmp(name, "fetch-max-bytes") == 0) {
            bad = parse_i64(optarg, 1024, INT32_MAX, &v);
            o->fetch_max_bytes = (int32_t)v;
        } else if (strcmp(name, "retention-check-ms") == 0) {
            bad = parse_i64(optarg, 10, INT32_MAX, &v);
            o->retention_check_ms = v;
        } else if (strcmp(name, "compact-interval-ms") == 0) {
            bad = parse_i64(optarg, 10, INT32_MAX, &v);
            o->compact_interval_ms = v;
        } else if (strcmp(name, "log-level") == 0) {
            bad = bc_log_level_parse(optarg, &level);
        } else if (strcmp(name, "log-format") == 0) {
            bad = bc_log_format_parse(optarg, &format);
        } else if (strncmp(name, "group-", 6) == 0) {
            bad = parse_i64(optarg, 0, INT32_MAX, &v);
            int32_t *dst = strcmp(name, "group-min-session-timeout-ms") == 0
                               ? &o->group_min_session_timeout_ms
                           : strcmp(name, "group-max-session-timeout-ms") == 0
                               ? &o->group_max_session_timeout_ms
                               : &o->group_initial_rebalance_delay_ms;
            *dst = (int32_t)v;
        } else if (strcmp(name, "fault-drop-after-append") == 0) {
            bad = parse_i64(optarg, 0, INT64_MAX, &v);
            o->fault_drop_after_append = v;
        } else if (strcmp(name, "help") == 0) {
            usage(stdout);
            return 0;
        }
        if (bad) {
            fprintf(stderr, "breadcrumb-broker: bad value for --%s: %s\n", name,
                    optarg ? optarg : "");
            return 2;
        }
    }
    if (optind < argc) {
        usage(stderr);
        return 2;
    }
    if (o->advertised_host[0] == '\0') {
        snprintf(o->advertised_host, sizeof(o->advertised_host), "%s", o->listen_host);
    }
    bc_log_setup("breadcrumb-broker", level, format);

    char err[1024];
    int64_t t0 = now_ms();
    if (broker_topics_load(b, err, sizeof(err)) != 0) {
        bc_log(BC_LOG_ERROR, "cannot load the data directory", "data_dir", o->data_dir, "error",
               err, NULL);
        return 1;
    }
    for (size_t i = 0; i < ntopics; i++) {
        if (create_topic_arg(b, topics[i]) != 0) {
            return 1;
        }
    }
    if (topology != NULL && topology_apply(b, topology, err, sizeof(err)) != 0) {
        bc_log(BC_LOG_ERROR, "cannot apply the topology", "error", err, NULL);
        return 1;
    }
    if (groups_load(b, err, sizeof(err)) != 0) {
        bc_log(BC_LOG_ERROR, "cannot load the group offsets", "data_dir", o->data_dir, "error",
               err, NULL);
        return 1;
    }
    if (txn_coordinator_load(b, err, sizeof(err)) != 0) {
        bc_log(BC_LOG_ERROR, "cannot load the transaction coordinator", "error", err, NULL);
        return 1;
    }
    if (net_listen(b, err, sizeof(err)) != 0) {
        bc_log(BC_LOG_ERROR, "cannot listen", "error", err, NULL);
        return 1;
    }
    if (o->port_file != NULL) {
        char tmp[4096];
        snprintf(tmp, sizeof(tmp), "%s.tmp", o->port_file);
        FILE *f = fopen(tmp, "w");
        if (f == NULL || fprintf(f, "%d\n", b->port) < 0 || fclose(f) != 0 ||
            rename(tmp, o->port_file) != 0) {
            bc_log(BC_LOG_ERROR, "cannot write the port file", "path", o->port_file, NULL);
            return 1;
        }
    }
    timer_add(&b->timers, &b->retention_timer, now_ms() + o->retention_check_ms, retention_tick);
    compact_start(b, o->compact_interval_ms);
    if (o->fsync == FSYNC_INTERVAL) {
        timer_add(&b->timers, &b->fsync_timer, now_ms() + o->fsync_interval_ms, fsync_tick);
    }
    char port[16], ntop[16], ms[32];
    snprintf(port, sizeof(port), "%d", b->port);
    snprintf(ntop, sizeof(ntop), "%zu", b->ntopics);
    snprintf(ms, sizeof(ms), "%" PRId64, now_ms() - t0);
    bc_log(BC_LOG_INFO, "broker listening", "host", o->listen_host, "port", port, "data_dir",
           o->data_dir, "topics", ntop, "recovery_ms", ms, NULL);

    int rc = net_run(b);
    net_shutdown(b);
    txn_coordinator_close(b);
    groups_close(b);
    broker_topics_close(b);
    timer_heap_free(&b->timers);
    bc_log(BC_LOG_INFO, "broker stopped", NULL);
    return rc == 0 ? 0 : 1;
}
