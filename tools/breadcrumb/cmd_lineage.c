/*
 * `breadcrumb lineage EVENT_ID`: where a record came from and what happened to it, from
 * Kafka alone. Reads the compacted lineage topic (every partition, to its end: the last
 * record of the key wins), follows the record's raw position to the raw topic and fetches
 * the original payload, and joins the fates and dead letters the lineage-builder could only
 * key by position (a drop whose stage did not decode the event_id) by looking up each hop's
 * "topic:partition:offset". `--trace TRACE_ID` reads the trace topic instead and prints the
 * span tree, orphans (spans whose parent is not in the trace) marked.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <librdkafka/rdkafka.h>

#include "bc_avro.h"
#include "bc_event.h"
#include "bc_schemas.h"
#include "tools/breadcrumb/cli.h"
#include "tools/breadcrumb/topic_scan.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: breadcrumb lineage EVENT_ID [--json] [--brokers HOST:PORT] [--schemas DIR]\n"
            "                          [--registry URL] [--topic LINEAGE_TOPIC] [--timeout-ms N]\n"
            "       breadcrumb lineage --trace TRACE_ID [--json] [--trace-topic TOPIC] ...\n\n"
            "Prints the path of an event (event_id, or \"topic:partition:offset\" of a record\n"
            "dropped or dead-lettered before it had one) back to its raw topic offset, with the\n"
            "original payload; --trace prints a trace's span tree with orphans marked.\n"
            "--registry: Avro records carry a schema registry's ids (the workers'\n"
            "schemas.registry URL); unknown ids are looked up there.\n"
            "Defaults: --brokers $BREADCRUMB_BROKERS, --schemas schemas, --registry\n"
            "$BREADCRUMB_REGISTRY when it is an http(s) URL, --topic tracking.lineage,\n"
            "--trace-topic tracking.normalized. Exit 0 found, 1 not found or error, 2 usage.\n");
}

struct opts {
    const char *brokers, *schemas, *registry, *topic, *trace_topic;
    int json, timeout_ms;
};

/* Loads the local schemas and, with a registry URL, the bridge that looks up the registry's
 * ids of the records read (bc_schemas_input before each decode). 0, or -1 (printed). */
static int schemas_open(const struct opts *o, struct bc_avro_registry **reg,
                        struct bc_schemas **sc)
{
    char errstr[512];
    *sc = NULL;
    if (bc_avro_registry_load(o->schemas, reg, errstr, sizeof(errstr)) != 0) {
        fprintf(stderr, "breadcrumb lineage: %s\n", errstr);
        return -1;
    }
    if (o->registry != NULL && bc_schemas_new_url(o->registry, *reg, sc, errstr,
                                                  sizeof(errstr)) != 0) {
        fprintf(stderr, "breadcrumb lineage: %s\n", errstr);
        bc_avro_registry_destroy(*reg);
        *reg = NULL;
        return -1;
    }
    return 0;
}

static rd_kafka_t *consumer_new(const struct opts *o)
{
    char errstr[512];
    static const char *const quiet[] = {"log_level", "3", NULL};
    rd_kafka_t *rk = bc_cli_consumer_new(o->brokers, "breadcrumb-lineage", quiet, errstr,
                                         sizeof(errstr));
    if (rk == NULL) {
        fprintf(stderr, "breadcrumb lineage: %s\n", errstr);
    }
    return rk;
}

typedef void (*scan_fn)(void *opaque, const rd_kafka_message_t *msg);

/* Reads every partition of topic from its start (or from `offset` of `partition` only, when
 * partition >= 0, up to count records) to its end as it is now. Returns 0 or -1. */
static int scan(rd_kafka_t *rk, const struct opts *o, const char *topic, int32_t partition,
                int64_t offset, int64_t count, scan_fn fn, void *opaque)
{
    const rd_kafka_metadata_t *md = NULL;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 0, rkt, &md, o->timeout_ms);
    rd_kafka_topic_destroy(rkt);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR || md->topic_cnt != 1 || md->topics[0].err != 0) {
        fprintf(stderr, "breadcrumb lineage: topic %s: %s\n", topic,
                rd_kafka_err2str(err != 0 ? err : md->topics[0].err));
        if (md != NULL) {
            rd_kafka_metadata_destroy(md);
        }
        return -1;
    }
    int parts = md->topics[0].partition_cnt;
    rd_kafka_metadata_destroy(md);
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(parts);
    int64_t *ends = calloc((size_t)parts, sizeof(*ends));
    int64_t *nexts = calloc((size_t)parts, sizeof(*nexts));
    int rc = -1, pending = 0;
    for (int32_t p = 0; p < parts; p++) {
        int64_t lo, hi;
        if (partition >= 0 && p != partition) {
            continue;
        }
        err = rd_kafka_query_watermark_offsets(rk, topic, p, &lo, &hi, o->timeout_ms);
        if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            fprintf(stderr, "breadcrumb lineage: %s:%d: %s\n", topic, p, rd_kafka_err2str(err));
            goto done;
        }
        int64_t start = partition >= 0 ? offset : lo;
        ends[p] = partition >= 0 && start + count < hi ? start + count : hi;
        nexts[p] = start;
        if (start < ends[p]) {
            rd_kafka_topic_partition_list_add(list, topic, p)->offset = start;
            pending++;
        }
    }
    if (pending > 0 && rd_kafka_assign(rk, list) != 0) {
        goto done;
    }
    /* read_committed stops at the last stable offset: control records and aborted data
     * are skipped, so "done" is reaching each end or a quiet poll past all data. */
    int idle = 0;
    while (pending > 0 && idle < o->timeout_ms / 100) {
        rd_kafka_message_t *msg = rd_kafka_consumer_poll(rk, 100);
        if (msg == NULL) {
            idle++;
            continue;
        }
        if (msg->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            if (nexts[msg->partition] < ends[msg->partition]) {
                nexts[msg->partition] = ends[msg->partition];
                pending--;
            }
        } else if (msg->err == 0 && nexts[msg->partition] < ends[msg->partition]) {
            idle = 0;
            if (msg->offset < ends[msg->partition]) {
                fn(opaque, msg);
            }
            nexts[msg->partition] = msg->offset + 1;
            if (nexts[msg->partition] >= ends[msg->partition]) {
                pending--;
            }
        }
        rd_kafka_message_destroy(msg);
    }
    rd_kafka_assign(rk, NULL);
    rc = 0;
done:
    rd_kafka_topic_partition_list_destroy(list);
    free(ends);
    free(nexts);
    return rc;
}

/* ---- EVENT_ID ------------------------------------------------------------------------- */

struct lineage_scan {
    struct bc_schemas *sc; /* NULL: the manifest's ids */
    const struct bc_avro_registry *reg;
    const struct bc_avro_schema *schema;
    avro_value_t value;
    json_t *by_key; /* key -> LineageRecord JSON (the last of each key) */
};

static void on_lineage(void *opaque, const rd_kafka_message_t *msg)
{
    struct lineage_scan *ls = opaque;
    char errstr[256];
    if (msg->key == NULL) {
        return;
    }
    char *key = strndup(msg->key, msg->key_len);
    if (key == NULL) {
        return;
    }
    if (ls->sc != NULL && msg->payload != NULL) {
        bc_schemas_input(ls->sc, msg->payload, msg->len); /* a failure is logged */
    }
    if (msg->payload == NULL) {
        json_object_del(ls->by_key, key); /* tombstone */
    } else if (bc_avro_decode(ls->reg, ls->schema, msg->payload, msg->len, &ls->value, errstr,
                              sizeof(errstr)) == 0) {
        json_object_set_new(ls->by_key, key, bc_avro_to_json(ls->schema, &ls->value, 0));
    }
    free(key);
}

struct raw_fetch {
    json_t *value; /* the payload as a string (or null when not UTF-8) */
};

static void on_raw(void *opaque, const rd_kafka_message_t *msg)
{
    struct raw_fetch *rf = opaque;
    json_decref(rf->value);
    rf->value = msg->payload != NULL ? json_stringn(msg->payload, msg->len) : NULL;
    if (rf->value == NULL) {
        rf->value = json_null();
    }
}

static char *hop_position(const json_t *hop)
{
    char *s = NULL;
    if (asprintf(&s, "%s:%" JSON_INTEGER_FORMAT ":%" JSON_INTEGER_FORMAT,
                 json_string_value(json_object_get(hop, "topic")),
                 json_integer_value(json_object_get(hop, "partition")),
                 json_integer_value(json_object_get(hop, "offset"))) < 0) {
        return NULL;
    }
    return s;
}

/* Appends to rec's hops the fates keyed by the position of each of its emitted hops. */
static void join_positional(json_t *rec, json_t *by_key)
{
    json_t *hops = json_object_get(rec, "hops");
    size_t n = json_array_size(hops);
    for (size_t i = 0; i < n; i++) {
        json_t *hop = json_array_get(hops, i);
        if (!json_is_null(json_object_get(hop, "fate"))) {
            continue;
        }
        char *pos = hop_position(hop);
        json_t *other = pos != NULL ? json_object_get(by_key, pos) : NULL;
        size_t j;
        json_t *h;
        json_array_foreach(json_object_get(other, "hops"), j, h) {
            json_array_append(hops, h);
        }
        free(pos);
    }
}

static void print_human(const char *id, json_t *rec, json_t *payload)
{
    json_t *raw = json_object_get(rec, "raw");
    const char *trace = json_string_value(json_object_get(rec, "trace_id"));
    printf("event %s%s%s\n", id, trace ? "  trace " : "", trace ? trace : "");
    if (json_integer_value(json_object_get(raw, "partition")) >= 0) {
        printf("  raw           %s:%" JSON_INTEGER_FORMAT ":%" JSON_INTEGER_FORMAT
               " (item %" JSON_INTEGER_FORMAT ")\n",
               json_string_value(json_object_get(raw, "topic")),
               json_integer_value(json_object_get(raw, "partition")),
               json_integer_value(json_object_get(raw, "offset")),
               json_integer_value(json_object_get(raw, "index")));
        if (json_is_string(payload)) {
            const char *p = json_string_value(payload);
            size_t len = json_string_length(payload);
            printf("                payload %.*s%s\n", (int)(len > 160 ? 160 : len), p,
                   len > 160 ? "..." : "");
        }
    } else {
        printf("  raw           (unknown: no hop from the raw topic yet)\n");
    }
    size_t i;
    json_t *hop;
    json_array_foreach(json_object_get(rec, "hops"), i, hop) {
        const char *fate = json_string_value(json_object_get(hop, "fate"));
        const char *detail = json_string_value(json_object_get(hop, "detail"));
        char *pos = hop_position(hop);
        const char *worker = json_string_value(json_object_get(hop, "worker"));
        const char *hash = json_string_value(json_object_get(hop, "config_hash"));
        if (fate == NULL) {
            printf("  -> %-24s wrote %s  %s  [config %.12s]\n", worker, pos ? pos : "?",
                   detail ? detail : "", hash);
        } else if (strcmp(fate, "deduplicated") == 0) {
            const char *first = detail != NULL ? strstr(detail, "first seen at ") : NULL;
            printf("  x  %-24s read  %s  deduplicated, first seen at %s  [config %.12s]\n",
                   worker, pos ? pos : "?", first ? first + 14 : "?", hash);
        } else {
            printf("  x  %-24s read  %s  %s: %s  [config %.12s]\n", worker, pos ? pos : "?",
                   fate, detail ? detail : "", hash);
        }
        free(pos);
    }
}

static int lineage_event(const struct opts *o, const char *id)
{
    struct bc_avro_registry *reg = NULL;
    int rc = 1;
    rd_kafka_t *rk = NULL;
    struct lineage_scan ls = {0};
    struct raw_fetch rf = {0};
    if (schemas_open(o, &reg, &ls.sc) != 0) {
        return 1;
    }
    ls.reg = reg;
    ls.schema = bc_avro_registry_lookup(reg, "LineageRecord");
    if (ls.schema == NULL || bc_avro_value_new(ls.schema, &ls.value) != 0) {
        fprintf(stderr, "breadcrumb lineage: no LineageRecord schema in %s\n", o->schemas);
        bc_schemas_free(ls.sc);
        bc_avro_registry_destroy(reg);
        return 1;
    }
    ls.by_key = json_object();
    if ((rk = consumer_new(o)) == NULL ||
        scan(rk, o, o->topic, -1, 0, 0, on_lineage, &ls) != 0) {
        goto done;
    }
    json_t *rec = json_object_get(ls.by_key, id);
    if (rec == NULL) {
        fprintf(stderr, "breadcrumb lineage: %s: no lineage record on %s\n", id, o->topic);
        goto done;
    }
    join_positional(rec, ls.by_key);
    json_t *raw = json_object_get(rec, "raw");
    if (json_integer_value(json_object_get(raw, "partition")) >= 0 &&
        scan(rk, o, json_string_value(json_object_get(raw, "topic")),
             (int32_t)json_integer_value(json_object_get(raw, "partition")),
             json_integer_value(json_object_get(raw, "offset")), 1, on_raw, &rf) != 0) {
        goto done;
    }
    if (o->json) {
        json_object_set(rec, "raw_value", rf.value != NULL ? rf.value : json_null());
        char *text = json_dumps(rec, JSON_INDENT(2));
        printf("%s\n", text != NULL ? text : "null");
        free(text);
    } else {
        print_human(id, rec, rf.value);
    }
    rc = 0;
done:
    if (rk != NULL) {
        rd_kafka_consumer_close(rk);
        rd_kafka_destroy(rk);
    }
    json_decref(rf.value);
    json_decref(ls.by_key);
    avro_value_decref(&ls.value);
    bc_schemas_free(ls.sc);
    bc_avro_registry_destroy(reg);
    return rc;
}

/* ---- --trace -------------------------------------------------------------------------- */

struct trace_scan {
    const char *trace_id;
    struct bc_schemas *sc; /* NULL: the manifest's ids */
    const struct bc_avro_registry *reg;
    const struct bc_avro_schema *schema;
    avro_value_t value;
    json_t *spans; /* span_id -> {span_id, parent_span_id, service, name, event_id} */
};

static void on_span(void *opaque, const rd_kafka_message_t *msg)
{
    struct trace_scan *ts = opaque;
    char errstr[256];
    size_t len;
    if (ts->sc != NULL && msg->payload != NULL && msg->key != NULL &&
        msg->key_len == strlen(ts->trace_id) &&
        memcmp(msg->key, ts->trace_id, msg->key_len) == 0) {
        bc_schemas_input(ts->sc, msg->payload, msg->len); /* a failure is logged */
    }
    if (msg->key == NULL || msg->key_len != strlen(ts->trace_id) ||
        memcmp(msg->key, ts->trace_id, msg->key_len) != 0 || msg->payload == NULL ||
        bc_avro_decode(ts->reg, ts->schema, msg->payload, msg->len, &ts->value, errstr,
                       sizeof(errstr)) != 0) {
        return;
    }
    int kind = -1;
    bc_event_get_enum(&ts->value, BC_EV_KIND, &kind);
    const char *trace = bc_event_get_string(&ts->value, BC_EV_TRACE_ID, &len);
    const char *span = bc_event_get_string(&ts->value, BC_EV_SPAN_ID, &len);
    if (kind != BC_EVENT_SPAN || trace == NULL || strcmp(trace, ts->trace_id) != 0 ||
        span == NULL || json_object_get(ts->spans, span) != NULL) {
        return;
    }
    const char *parent = bc_event_get_string(&ts->value, BC_EV_PARENT_SPAN_ID, &len);
    const char *service = bc_event_get_string(&ts->value, BC_EV_SERVICE, &len);
    const char *name = bc_event_get_string(&ts->value, BC_EV_NAME, &len);
    const char *event_id = bc_event_get_string(&ts->value, BC_EV_EVENT_ID, &len);
    json_object_set_new(ts->spans, span,
                        json_pack("{s:s, s:s?, s:s?, s:s?, s:s?, s:b}", "span_id", span,
                                  "parent_span_id", parent != NULL && parent[0] ? parent : NULL,
                                  "service", service, "name", name, "event_id", event_id,
                                  "orphan", 0));
}

static void print_tree(json_t *spans, const char *parent, int depth)
{
    const char *key;
    json_t *span;
    json_object_foreach(spans, key, span) {
        const char *p = json_string_value(json_object_get(span, "parent_span_id"));
        int is_orphan = json_is_true(json_object_get(span, "orphan"));
        int here = parent == NULL ? (p == NULL || is_orphan) : (p != NULL && strcmp(p, parent) == 0);
        if (!here) {
            continue;
        }
        printf("%*s%s %s %s%s%s%s\n", 2 + depth * 2, "", key,
               json_string_value(json_object_get(span, "service")),
               json_string_value(json_object_get(span, "name")),
               is_orphan ? "  ORPHAN (parent " : "", is_orphan ? p : "", is_orphan ? " missing)" : "");
        print_tree(spans, key, depth + 1);
    }
}

static int lineage_trace(const struct opts *o, const char *trace_id)
{
    struct bc_avro_registry *reg = NULL;
    int rc = 1;
    rd_kafka_t *rk = NULL;
    struct trace_scan ts = {.trace_id = trace_id};
    if (schemas_open(o, &reg, &ts.sc) != 0) {
        return 1;
    }
    ts.reg = reg;
    ts.schema = bc_avro_registry_lookup(reg, "TrackingEvent");
    if (ts.schema == NULL || bc_avro_value_new(ts.schema, &ts.value) != 0) {
        bc_schemas_free(ts.sc);
        bc_avro_registry_destroy(reg);
        return 1;
    }
    ts.spans = json_object();
    if ((rk = consumer_new(o)) == NULL ||
        scan(rk, o, o->trace_topic, -1, 0, 0, on_span, &ts) != 0) {
        goto done;
    }
    if (json_object_size(ts.spans) == 0) {
        fprintf(stderr, "breadcrumb lineage: trace %s: no spans on %s\n", trace_id,
                o->trace_topic);
        goto done;
    }
    size_t orphans = 0;
    const char *key;
    json_t *span;
    json_object_foreach(ts.spans, key, span) {
        const char *p = json_string_value(json_object_get(span, "parent_span_id"));
        if (p != NULL && json_object_get(ts.spans, p) == NULL) {
            json_object_set_new(span, "orphan", json_true());
            orphans++;
        }
    }
    if (o->json) {
        json_t *out = json_pack("{s:s, s:I, s:O}", "trace_id", trace_id, "orphans",
                                (json_int_t)orphans, "spans", ts.spans);
        char *text = json_dumps(out, JSON_INDENT(2) | JSON_SORT_KEYS);
        printf("%s\n", text != NULL ? text : "null");
        free(text);
        json_decref(out);
    } else {
        printf("trace %s  %zu spans, %zu orphan%s\n", trace_id, json_object_size(ts.spans),
               orphans, orphans == 1 ? "" : "s");
        print_tree(ts.spans, NULL, 0);
    }
    rc = 0;
done:
    if (rk != NULL) {
        rd_kafka_consumer_close(rk);
        rd_kafka_destroy(rk);
    }
    json_decref(ts.spans);
    avro_value_decref(&ts.value);
    bc_schemas_free(ts.sc);
    bc_avro_registry_destroy(reg);
    return rc;
}

int bc_cmd_lineage(int argc, char **argv)
{
    struct opts o = {.brokers = getenv("BREADCRUMB_BROKERS"), .schemas = "schemas",
                     .topic = "tracking.lineage", .trace_topic = "tracking.normalized",
                     .timeout_ms = 10000};
    const char *env_registry = getenv("BREADCRUMB_REGISTRY");
    if (env_registry != NULL && (strncmp(env_registry, "http://", 7) == 0 ||
                                 strncmp(env_registry, "https://", 8) == 0)) {
        o.registry = env_registry;
    }
    const char *id = NULL, *trace = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int more = i + 1 < argc;
        if (strcmp(a, "--json") == 0) {
            o.json = 1;
        } else if (strcmp(a, "--brokers") == 0 && more) {
            o.brokers = argv[++i];
        } else if (strcmp(a, "--schemas") == 0 && more) {
            o.schemas = argv[++i];
        } else if (strcmp(a, "--registry") == 0 && more) {
            o.registry = argv[++i];
        } else if (strcmp(a, "--topic") == 0 && more) {
            o.topic = argv[++i];
        } else if (strcmp(a, "--trace-topic") == 0 && more) {
            o.trace_topic = argv[++i];
        } else if (strcmp(a, "--trace") == 0 && more) {
            trace = argv[++i];
        } else if (strcmp(a, "--timeout-ms") == 0 && more) {
            o.timeout_ms = atoi(argv[++i]);
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (a[0] != '-' && id == NULL) {
            id = a;
        } else {
            usage(stderr);
            return 2;
        }
    }
    if ((id == NULL) == (trace == NULL) || o.brokers == NULL || o.brokers[0] == '\0' ||
        o.timeout_ms <= 0) {
        usage(stderr);
        return 2;
    }
    return trace != NULL ? lineage_trace(&o, trace) : lineage_event(&o, id);
}
