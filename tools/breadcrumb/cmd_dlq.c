/*
 * `breadcrumb dlq list|redrive [TOPOLOGY]`: the dead letters of a pipeline.
 *
 * Every dead letter carries its reason in headers (DESIGN §3, the runtime's
 * bc_dead_letter() and the normalizer): bc.dlq.reason, bc.dlq.detail, bc.dlq.attempts,
 * bc.src = "<topic>:<partition>:<offset>" of the input it came from, bc.worker; a dead
 * letter for one item inside an otherwise good record (a bad span) also has bc.dlq.index
 * and a DeadLetter Avro value (schemas/DeadLetter.v1.avsc). Whole-record dead letters hold
 * the input record's key and value unchanged.
 *
 * `list` reads the DLQ topic(s) read_committed from the start to the end and counts by
 * reason (`--records` one line per dead letter, `--json`). `redrive` re-produces the
 * selected whole-record dead letters to their source topic (from bc.src) with the same
 * key, value and timestamp plus a header bc.redriven_from = "<dlq topic>:<partition>:<offset>",
 * through an idempotent producer, once the cause is fixed (a new normalizer, a larger
 * limit). Item dead letters are not redriven: the record they came from was processed; its
 * other items are downstream already. Redriving twice injects twice: the deduplicator drops
 * the repeats of records that have an event id.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <librdkafka/rdkafka.h>

#include "bc_config.h"
#include "bc_kafka_conf.h"
#include "tools/breadcrumb/cli.h"
#include "tools/breadcrumb/topic_scan.h"
#include "tools/breadcrumb/run_common.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: breadcrumb dlq list [TOPOLOGY.yaml] [--topic T] [--reason R[,R...]]\n"
            "          [--offset P:FROM-TO]... [--records] [--json] [--brokers HOST:PORT] [--dir DIR]\n"
            "   or: breadcrumb dlq redrive [TOPOLOGY.yaml] (--reason R[,R...] | --offset P:FROM-TO |\n"
            "          --all) [--topic T] [--dry-run] [--brokers HOST:PORT] [--dir DIR]\n\n"
            "list: dead letters by reason (the DLQ topics of the topology's workers, or --topic),\n"
            "read_committed; --records prints one line per dead letter.\n"
            "redrive: re-produces the selected whole-record dead letters to their source topic\n"
            "(header bc.redriven_from = DLQTOPIC:PARTITION:OFFSET); item dead letters (one bad\n"
            "span of a record) are skipped. --offset selects a DLQ partition's offsets FROM..TO\n"
            "(inclusive; TO may be empty for 'to the end'). Exit 0, 1 on errors, 2 on usage.\n");
}

struct range {
    int32_t partition;
    int64_t from, to; /* inclusive; to = INT64_MAX for open */
};

struct selection {
    const char *reasons; /* comma-separated, or NULL = every reason */
    struct range *ranges;
    size_t n_ranges;
    int all;
};

struct dead_letter {
    const char *topic;
    int32_t partition;
    int64_t offset;
    char reason[64];
    char src[320];
    char worker[128];
    char detail[256];
    int item; /* bc.dlq.index present */
};

static void header_str(rd_kafka_headers_t *h, const char *name, char *buf, size_t size)
{
    const void *v = NULL;
    size_t len = 0;
    buf[0] = '\0';
    if (h != NULL && rd_kafka_header_get_last(h, name, &v, &len) == RD_KAFKA_RESP_ERR_NO_ERROR &&
        v != NULL) {
        if (len >= size) {
            len = size - 1;
        }
        memcpy(buf, v, len);
        buf[len] = '\0';
    }
}

static int list_has(const char *list, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = list; p != NULL && *p != '\0';) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (len == n && strncmp(p, name, n) == 0) {
            return 1;
        }
        p += len + (comma ? 1 : 0);
    }
    return 0;
}

static int selected(const struct selection *sel, const struct dead_letter *d)
{
    if (sel->reasons != NULL && !list_has(sel->reasons, d->reason)) {
        return 0;
    }
    if (sel->n_ranges == 0) {
        return 1;
    }
    for (size_t i = 0; i < sel->n_ranges; i++) {
        const struct range *r = &sel->ranges[i];
        if (r->partition == d->partition && d->offset >= r->from && d->offset <= r->to) {
            return 1;
        }
    }
    return 0;
}

static int parse_range(const char *s, struct range *r)
{
    char *end;
    errno = 0;
    long p = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != ':' || p < 0) {
        return -1;
    }
    s = end + 1;
    long long from = strtoll(s, &end, 10);
    if (end == s || from < 0) {
        return -1;
    }
    r->partition = (int32_t)p;
    r->from = from;
    r->to = from;
    if (*end == '-') {
        s = end + 1;
        if (*s == '\0') {
            r->to = INT64_MAX;
            return 0;
        }
        long long to = strtoll(s, &end, 10);
        if (end == s || to < from) {
            return -1;
        }
        r->to = to;
    }
    return *end == '\0' ? 0 : -1;
}

/* Callback per dead letter; msg is borrowed. Returns 0 to go on, -1 to stop with an error. */
typedef int (*dl_fn)(void *opaque, const struct dead_letter *d, const rd_kafka_message_t *msg);

struct dl_scan {
    const char *topic; /* borrowed: the scanned topic's name */
    dl_fn fn;
    void *opaque;
};

static int dl_record(void *opaque, const rd_kafka_message_t *m)
{
    const struct dl_scan *scan = opaque;
    struct dead_letter d = {.topic = scan->topic, .partition = m->partition, .offset = m->offset};
    rd_kafka_headers_t *h = NULL;
    rd_kafka_message_headers(m, &h);
    header_str(h, "bc.dlq.reason", d.reason, sizeof(d.reason));
    header_str(h, "bc.src", d.src, sizeof(d.src));
    header_str(h, "bc.worker", d.worker, sizeof(d.worker));
    header_str(h, "bc.dlq.detail", d.detail, sizeof(d.detail));
    char idx[16];
    header_str(h, "bc.dlq.index", idx, sizeof(idx));
    d.item = idx[0] != '\0';
    if (d.reason[0] == '\0') {
        snprintf(d.reason, sizeof(d.reason), "unlabelled");
    }
    return scan->fn(scan->opaque, &d, m);
}

/* Reads topic read_committed from the start to its end, calling fn per dead letter.
 * Returns 0 or -1. */
static int scan(const char *brokers, const char *topic, int timeout_ms, dl_fn fn, void *opaque)
{
    struct dl_scan s = {.topic = topic, .fn = fn, .opaque = opaque};
    return bc_topic_scan("dlq", brokers, topic, timeout_ms, dl_record, &s);
}

/* ---- list ----------------------------------------------------------------------------- */

struct lister {
    const struct selection *sel;
    int records;
    int as_json;
    json_t *by_reason; /* reason -> count */
    json_t *list;      /* records, when --json --records */
    int64_t total;
};

static int list_one(void *opaque, const struct dead_letter *d, const rd_kafka_message_t *m)
{
    struct lister *l = opaque;
    if (!selected(l->sel, d)) {
        return 0;
    }
    l->total++;
    json_t *c = json_object_get(l->by_reason, d->reason);
    json_object_set_new(l->by_reason, d->reason, json_integer(c ? json_integer_value(c) + 1 : 1));
    if (!l->records) {
        return 0;
    }
    if (l->as_json) {
        json_t *r = json_object();
        json_object_set_new(r, "topic", json_string(d->topic));
        json_object_set_new(r, "partition", json_integer(d->partition));
        json_object_set_new(r, "offset", json_integer(d->offset));
        json_object_set_new(r, "reason", json_string(d->reason));
        json_object_set_new(r, "source", json_string(d->src));
        json_object_set_new(r, "worker", json_string(d->worker));
        json_object_set_new(r, "detail", json_string(d->detail));
        json_object_set_new(r, "item", json_boolean(d->item));
        json_object_set_new(r, "bytes", json_integer((json_int_t)m->len));
        json_array_append_new(l->list, r);
    } else {
        printf("%s:%" PRId32 ":%" PRId64 "  %-18s from %s%s (%zu bytes, %s): %s\n", d->topic,
               d->partition, d->offset, d->reason, d->src, d->item ? " item" : "", m->len,
               d->worker, d->detail);
    }
    return 0;
}

/* ---- redrive -------------------------------------------------------------------------- */

struct rediver {
    const struct selection *sel;
    rd_kafka_t *producer; /* NULL on --dry-run */
    int64_t redriven, skipped_items, failed;
};

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    (void)opaque;
    if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        struct rediver *r = m->_private;
        r->failed++;
        fprintf(stderr, "breadcrumb dlq: redrive to %s failed: %s\n", rd_kafka_topic_name(m->rkt),
                rd_kafka_err2str(m->err));
    }
}

static int redrive_one(void *opaque, const struct dead_letter *d, const rd_kafka_message_t *m)
{
    struct rediver *r = opaque;
    if (!selected(r->sel, d)) {
        return 0;
    }
    if (d->item) {
        r->skipped_items++;
        return 0;
    }
    /* bc.src = topic:partition:offset; the topic may itself hold ':'? Kafka forbids it. */
    char topic[320];
    snprintf(topic, sizeof(topic), "%s", d->src);
    char *colon = strchr(topic, ':');
    if (colon == NULL || colon == topic) {
        fprintf(stderr, "breadcrumb dlq: %s:%" PRId32 ":%" PRId64 " has no bc.src; skipped\n",
                d->topic, d->partition, d->offset);
        r->failed++;
        return 0;
    }
    *colon = '\0';
    char from[400];
    snprintf(from, sizeof(from), "%s:%" PRId32 ":%" PRId64, d->topic, d->partition, d->offset);
    printf("redrive %s (%s) -> %s\n", from, d->reason, topic);
    if (r->producer == NULL) {
        r->redriven++;
        return 0;
    }
    rd_kafka_timestamp_type_t tstype;
    int64_t ts = rd_kafka_message_timestamp(m, &tstype);
    rd_kafka_resp_err_t err;
    for (;;) {
        err = rd_kafka_producev(r->producer, RD_KAFKA_V_TOPIC(topic),
                                RD_KAFKA_V_KEY(m->key, m->key_len),
                                RD_KAFKA_V_VALUE(m->payload, m->len),
                                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                RD_KAFKA_V_TIMESTAMP(ts > 0 ? ts : 0),
                                RD_KAFKA_V_HEADER("bc.redriven_from", from, (ssize_t)strlen(from)),
                                RD_KAFKA_V_OPAQUE(r), RD_KAFKA_V_END);
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            break;
        }
        rd_kafka_poll(r->producer, 50);
    }
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        fprintf(stderr, "breadcrumb dlq: produce to %s: %s\n", topic, rd_kafka_err2str(err));
        r->failed++;
        return -1;
    }
    rd_kafka_poll(r->producer, 0);
    r->redriven++;
    return 0;
}

int bc_cmd_dlq(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *action = argv[1];
    if (strcmp(action, "list") != 0 && strcmp(action, "redrive") != 0) {
        fprintf(stderr, "breadcrumb dlq: unknown action '%s'\n", action);
        usage(stderr);
        return 2;
    }
    const char *file = "config/topology.yaml", *brokers_opt = NULL, *dir = "data", *topic = NULL;
    int records = 0, as_json = 0, dry_run = 0, timeout_ms = 15000;
    struct selection sel = {0};
    int rc = 2;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--records") == 0) {
            records = 1;
        } else if (strcmp(a, "--json") == 0) {
            as_json = 1;
        } else if (strcmp(a, "--dry-run") == 0) {
            dry_run = 1;
        } else if (strcmp(a, "--all") == 0) {
            sel.all = 1;
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            free(sel.ranges);
            return 0;
        } else if (a[0] != '-') {
            file = a;
        } else if (i + 1 >= argc) {
            fprintf(stderr, "breadcrumb dlq: %s needs a value\n", a);
            goto done_usage;
        } else if (strcmp(a, "--brokers") == 0) {
            brokers_opt = argv[++i];
        } else if (strcmp(a, "--dir") == 0) {
            dir = argv[++i];
        } else if (strcmp(a, "--topic") == 0) {
            topic = argv[++i];
        } else if (strcmp(a, "--reason") == 0) {
            sel.reasons = argv[++i];
        } else if (strcmp(a, "--timeout-ms") == 0) {
            timeout_ms = atoi(argv[++i]);
        } else if (strcmp(a, "--offset") == 0) {
            struct range *r = realloc(sel.ranges, (sel.n_ranges + 1) * sizeof(*r));
            if (r == NULL) {
                goto done_usage;
            }
            sel.ranges = r;
            if (parse_range(argv[++i], &r[sel.n_ranges]) != 0) {
                fprintf(stderr, "breadcrumb dlq: bad --offset '%s' (P:FROM-TO)\n", argv[i]);
                goto done_usage;
            }
            sel.n_ranges++;
        } else {
            fprintf(stderr, "breadcrumb dlq: unknown argument '%s'\n", a);
            goto done_usage;
        }
    }
    if (strcmp(action, "redrive") == 0 && !sel.all && sel.reasons == NULL && sel.n_ranges == 0) {
        fprintf(stderr, "breadcrumb dlq redrive: select with --reason, --offset or --all\n");
        goto done_usage;
    }
    if (timeout_ms <= 0) {
        goto done_usage;
    }

    rc = 1;
    struct bc_errors errs = {0};
    struct bc_config *cfg = bc_config_load(file, &errs);
    if (cfg == NULL || errs.n > 0) {
        bc_errors_print(&errs, stderr);
        bc_errors_clear(&errs);
        bc_config_destroy(cfg);
        free(sel.ranges);
        return 1;
    }
    char brokers[1024], errstr[512];
    if (bc_run_brokers(cfg, brokers_opt, dir, brokers, sizeof(brokers), errstr, sizeof(errstr)) != 0) {
        fprintf(stderr, "breadcrumb dlq: %s\n", errstr);
        goto done;
    }
    /* The DLQ topics: --topic, else every distinct dlq output of the workers. */
    const char *topics[64];
    size_t n_topics = 0;
    if (topic != NULL) {
        topics[n_topics++] = topic;
    }
    for (size_t i = 0; topic == NULL && i < cfg->n_workers && n_topics < 64; i++) {
        const char *t = bc_worker_output(&cfg->workers[i], "dlq");
        int seen = t == NULL;
        for (size_t j = 0; !seen && j < n_topics; j++) {
            seen = strcmp(topics[j], t) == 0;
        }
        if (!seen) {
            topics[n_topics++] = t;
        }
    }
    if (n_topics == 0) {
        fprintf(stderr, "breadcrumb dlq: the topology has no DLQ topic; use --topic\n");
        goto done;
    }

    if (strcmp(action, "list") == 0) {
        struct lister l = {.sel = &sel, .records = records, .as_json = as_json,
                           .by_reason = json_object(), .list = json_array()};
        int failed = 0;
        for (size_t i = 0; i < n_topics; i++) {
            failed |= scan(brokers, topics[i], timeout_ms, list_one, &l) != 0;
        }
        if (as_json) {
            json_t *root = json_object();
            json_object_set_new(root, "total", json_integer(l.total));
            json_object_set(root, "by_reason", l.by_reason);
            if (records) {
                json_object_set(root, "records", l.list);
            }
            json_dumpf(root, stdout, JSON_INDENT(1) | JSON_SORT_KEYS);
            printf("\n");
            json_decref(root);
        } else {
            printf("%" PRId64 " dead letters", l.total);
            for (size_t i = 0; i < n_topics; i++) {
                printf("%s%s", i == 0 ? " in " : ", ", topics[i]);
            }
            printf("\n");
            const char *reason;
            json_t *count;
            json_object_foreach(l.by_reason, reason, count)
            {
                printf("  %-18s %" JSON_INTEGER_FORMAT "\n", reason, json_integer_value(count));
            }
        }
        json_decref(l.by_reason);
        json_decref(l.list);
        rc = failed ? 1 : 0;
        goto done;
    }

    struct rediver r = {.sel = &sel};
    if (!dry_run) {
        rd_kafka_conf_t *conf =
            bc_kafka_conf_new(cfg, NULL, BC_KAFKA_PRODUCER, NULL, brokers, errstr, sizeof(errstr));
        if (conf == NULL) {
            fprintf(stderr, "breadcrumb dlq: %s\n", errstr);
            goto done;
        }
        rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
        r.producer = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
        if (r.producer == NULL) {
            rd_kafka_conf_destroy(conf);
            fprintf(stderr, "breadcrumb dlq: %s\n", errstr);
            goto done;
        }
    }
    int failed = 0;
    for (size_t i = 0; i < n_topics; i++) {
        failed |= scan(brokers, topics[i], timeout_ms, redrive_one, &r) != 0;
    }
    if (r.producer != NULL) {
        if (rd_kafka_flush(r.producer, timeout_ms * 4) != RD_KAFKA_RESP_ERR_NO_ERROR) {
            fprintf(stderr, "breadcrumb dlq: %d records not delivered\n", rd_kafka_outq_len(r.producer));
            failed = 1;
        }
        rd_kafka_destroy(r.producer);
    }
    printf("%s %" PRId64 " dead letters, skipped %" PRId64 " item dead letters, %" PRId64 " failed\n",
           dry_run ? "would redrive" : "redrove", r.redriven, r.skipped_items, r.failed);
    rc = failed || r.failed > 0 ? 1 : 0;
done:
    bc_config_destroy(cfg);
    free(sel.ranges);
    return rc;
done_usage:
    usage(stderr);
    free(sel.ranges);
    return 2;
}
