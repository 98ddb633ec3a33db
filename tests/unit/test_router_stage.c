/*
 * The router stage (workers/router/router.c) in-process on the runtime against librdkafka's
 * mock cluster, from a topology: fan-out with one copy per sink, a drop rule's Fate, the
 * DLQ for unmatched and undecodable records, a JSON sink, a rule's key and projection, and
 * the router's counters on /metrics (routes by rule and action, copies by sink).
 * Exactly-once across crashes is the integration test's (tests/integration/1000-*).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <librdkafka/rdkafka.h>

#include "bc_event.h"
#include "bc_log.h"
#include "bc_runtime.h"
#include "mock_cluster.h"

extern const struct bc_stage router_stage;

#define PARTITIONS 2
#define ROUNDS 10
#define KINDS 7

static struct mock_cluster mc;
static struct bc_avro_registry *reg;
static const struct bc_avro_schema *te;
static char root[PATH_MAX];

static int setup(void **state)
{
    (void)state;
    char err[256];
    if (getenv("BC_TEST_VERBOSE") == NULL) {
        bc_log_setup("test", BC_LOG_ERROR, BC_LOG_LOGFMT);
    }
    const char *env = getenv("BC_ROOT");
    /* Absolute: the topology's schemas.dir is relative to the topology file's directory. */
    if (realpath(env != NULL ? env : ".", root) == NULL) {
        return -1;
    }
    char dir[4200];
    snprintf(dir, sizeof(dir), "%s/schemas", root);
    if (bc_avro_registry_load(dir, &reg, err, sizeof(err)) != 0) {
        return -1;
    }
    te = bc_avro_registry_lookup(reg, "TrackingEvent");
    return te != NULL && mock_cluster_start(&mc) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    mock_cluster_stop(&mc);
    bc_avro_registry_destroy(reg);
    return 0;
}

static const char *const topics[] = {"rt.in",      "rt.dlq",       "rt.fates",
                                     "sink.security", "sink.billing", "sink.traces",
                                     "sink.logs",  "sink.all"};

static const char topology[] =
    "pipeline: rt\n"
    "schemas: {dir: %s/schemas}\n"
    "topics:\n"
    "  rt.in: {partitions: 2}\n"
    "  rt.dlq: {partitions: 2}\n"
    "  sink.security: {partitions: 2}\n"
    "  sink.billing: {partitions: 2}\n"
    "  sink.traces: {partitions: 2}\n"
    "  sink.logs: {partitions: 2}\n"
    "  sink.all: {partitions: 2}\n"
    "workers:\n"
    "  router:\n"
    "    input: rt.in\n"
    "    options:\n"
    "      mode: all_matches\n"
    "      rules:\n"
    "        - {name: health, when: {name: {prefix: GET /health}}, action: drop}\n"
    "        - name: security\n"
    "          when:\n"
    "            any:\n"
    "              - {kind: event, name: user.login}\n"
    "              - {kind: log, attributes.security.event: {exists: true}}\n"
    "          to: [sink.security, sink.all]\n"
    "          drop: [attributes.ip]\n"
    "        - name: billing\n"
    "          when: {kind: event, name: billing.charge}\n"
    "          to: [sink.billing, sink.all]\n"
    "          key: attributes.idempotency_key\n"
    "        - {name: traces, when: {kind: span}, to: sink.traces}\n"
    "        - {name: logs, when: {kind: log}, to: [sink.logs, sink.all]}\n"
    "      unmatched: dlq\n"
    "      sinks: {sink.logs: {format: json}}\n";

/* Record i of the input: KINDS kinds in turn (see the expectations in the test). */
static void event_of(int i, avro_value_t *ev)
{
    static const struct {
        int kind;
        const char *name;
        int security;
    } kinds[KINDS] = {
        {BC_EVENT_SPAN, "GET /cart", 0},        {BC_EVENT_SPAN, "GET /health", 0},
        {BC_EVENT_LOG, "", 0},                  {BC_EVENT_LOG, "", 1},
        {BC_EVENT_EVENT, "user.login", 0},      {BC_EVENT_EVENT, "billing.charge", 0},
        {BC_EVENT_EVENT, "order.placed", 0},
    };
    const int k = i % KINDS;
    char id[40], idem[40];
    snprintf(id, sizeof(id), "%032x", i);
    snprintf(idem, sizeof(idem), "ch_%d", i);
    avro_value_t attrs, any;
    assert_int_equal(bc_event_clear(ev), 0);
    assert_int_equal(bc_event_set_string(ev, BC_EV_EVENT_ID, id, 32), 0);
    assert_int_equal(bc_event_set_enum(ev, BC_EV_KIND, kinds[k].kind), 0);
    assert_int_equal(bc_event_set_string(ev, BC_EV_NAME, kinds[k].name, strlen(kinds[k].name)),
                     0);
    assert_int_equal(bc_event_set_string(ev, BC_EV_SERVICE, "auth", 4), 0);
    assert_int_equal(bc_event_set_long(ev, BC_EV_START_TIME_NS, 1000 + i), 0);
    assert_int_equal(bc_event_set_long(ev, BC_EV_END_TIME_NS, 2000 + i), 0);
    assert_int_equal(bc_event_set_source(ev, "raw", 0, i, 0), 0);
    assert_int_equal(bc_event_field(ev, BC_EV_ATTRIBUTES, &attrs), 0);
    assert_int_equal(bc_event_kv_append(&attrs, "ip", 2, &any), 0);
    assert_int_equal(bc_any_set_string(&any, "10.0.0.1", 8), 0);
    assert_int_equal(bc_event_kv_append(&attrs, "idempotency_key", 15, &any), 0);
    assert_int_equal(bc_any_set_string(&any, idem, strlen(idem)), 0);
    if (kinds[k].security) {
        assert_int_equal(bc_event_kv_append(&attrs, "security.event", 14, &any), 0);
        assert_int_equal(bc_any_set_string(&any, "login.failure", 13), 0);
    }
}

static void produce_input(void)
{
    char err[256];
    rd_kafka_t *p = mock_producer_new(&mc, "rt.in");
    avro_value_t ev;
    struct bc_avro_buf buf = {0};
    assert_int_equal(bc_avro_value_new(te, &ev), 0);
    for (int i = 0; i <= ROUNDS * KINDS; i++) {
        char key[40];
        snprintf(key, sizeof(key), "k%d", i);
        const void *value = "not avro";
        size_t len = 8;
        if (i < ROUNDS * KINDS) { /* the last one is garbage */
            event_of(i, &ev);
            assert_int_equal(bc_avro_encode(te, &ev, &buf, err, sizeof(err)), 0);
            value = buf.data;
            len = buf.len;
        }
        assert_int_equal(rd_kafka_producev(p, RD_KAFKA_V_TOPIC("rt.in"),
                                           RD_KAFKA_V_PARTITION(i % PARTITIONS),
                                           RD_KAFKA_V_KEY(key, strlen(key)),
                                           RD_KAFKA_V_VALUE((void *)value, len),
                                           RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                           RD_KAFKA_V_END),
                         0);
    }
    mock_producer_finish(p);
    bc_avro_buf_free(&buf);
    avro_value_decref(&ev);
}

/* What the checks of one topic saw. */
struct topic_seen {
    int count;
    int bad; /* records failing the topic's check */
};

static void check_record(const char *topic, const rd_kafka_message_t *msg, struct topic_seen *ts)
{
    ts->count++;
    char err[256];
    if (strcmp(topic, "sink.logs") == 0) {
        /* JSON, OTLP-shaped attributes. */
        json_error_t jerr;
        json_t *j = json_loadb(msg->payload, msg->len, 0, &jerr);
        ts->bad += j == NULL || strcmp(json_string_value(json_object_get(j, "kind")), "LOG") != 0 ||
                   json_object_get(json_object_get(j, "attributes"), "ip") == NULL;
        json_decref(j);
        return;
    }
    if (strcmp(topic, "rt.dlq") == 0) {
        return;
    }
    if (strcmp(topic, "rt.fates") == 0) {
        /* An Avro Fate naming the drop rule. */
        const struct bc_avro_schema *fate = bc_avro_registry_lookup(reg, "Fate");
        avro_value_t v;
        assert_int_equal(bc_avro_value_new(fate, &v), 0);
        json_t *j = NULL;
        if (bc_avro_decode(reg, fate, msg->payload, msg->len, &v, err, sizeof(err)) == 0) {
            j = bc_avro_to_json(fate, &v, 0);
        }
        ts->bad += j == NULL ||
                   strcmp(json_string_value(json_object_get(j, "fate")), "dropped") != 0 ||
                   strcmp(json_string_value(json_object_get(j, "policy")), "health") != 0 ||
                   strcmp(json_string_value(json_object_get(j, "reason")), "rule:health") != 0 ||
                   json_string_length(json_object_get(j, "event_id")) != 32;
        json_decref(j);
        avro_value_decref(&v);
        return;
    }
    avro_value_t ev, attrs, any;
    assert_int_equal(bc_avro_value_new(te, &ev), 0);
    if (bc_avro_decode(reg, te, msg->payload, msg->len, &ev, err, sizeof(err)) != 0) {
        ts->bad++;
        avro_value_decref(&ev);
        return;
    }
    assert_int_equal(bc_event_field(&ev, BC_EV_ATTRIBUTES, &attrs), 0);
    int has_ip = bc_event_kv_find(&attrs, "ip", &any) == 0;
    size_t len;
    const char *name = bc_event_get_string(&ev, BC_EV_NAME, &len);
    if (strcmp(topic, "sink.security") == 0) {
        ts->bad += has_ip; /* projected away */
    } else if (strcmp(topic, "sink.billing") == 0) {
        /* keyed by the idempotency key */
        ts->bad += !has_ip || msg->key_len < 3 || memcmp(msg->key, "ch_", 3) != 0 ||
                   strcmp(name, "billing.charge") != 0;
    } else if (strcmp(topic, "sink.traces") == 0) {
        ts->bad += strcmp(name, "GET /cart") != 0 || msg->key_len < 1 ||
                   ((const char *)msg->key)[0] != 'k';
    }
    avro_value_decref(&ev);
}

static const char *consumed_topic;
static struct topic_seen consumed;

static void on_record(const rd_kafka_message_t *msg)
{
    check_record(consumed_topic, msg, &consumed);
}

static struct topic_seen consume_all(const char *topic)
{
    consumed_topic = topic;
    memset(&consumed, 0, sizeof(consumed));
    mock_consume_all(&mc, topic, PARTITIONS, on_record);
    return consumed;
}

/* A loopback port free right now (bound to 0 and closed). */
static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}

static size_t on_body(char *data, size_t size, size_t n, void *opaque)
{
    fwrite(data, size, n, opaque);
    return size * n;
}

/* The body of GET http://127.0.0.1:port/metrics (new, free()). */
static char *scrape(int port)
{
    char url[64], *body = NULL;
    size_t len = 0;
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/metrics", port);
    FILE *f = open_memstream(&body, &len);
    CURL *curl = curl_easy_init();
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, f);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, 10L);
    CURLcode rc = curl_easy_perform(curl);
    curl_easy_cleanup(curl);
    fclose(f);
    if (rc != CURLE_OK) {
        fail_msg("GET %s: %s", url, curl_easy_strerror(rc));
    }
    return body;
}

static int until_committed(void *opaque, const struct bc_runtime *rt)
{
    struct bc_runtime_stats st;
    bc_runtime_stats(rt, &st);
    return st.committed >= *(uint64_t *)opaque;
}

static void test_router_stage_fan_out(void **state)
{
    (void)state;
    mock_topics_create(&mc, "", topics, sizeof(topics) / sizeof(topics[0]), PARTITIONS);
    produce_input();

    char path[] = "/tmp/router-topology-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    fprintf(f, topology, root);
    fclose(f);
    char *argv[64] = {"router",
                      "--config", path,
                      "--worker", "router",
                      "--instance", "i1",
                      "--brokers", mc.brokers,
                      "--commit-interval-ms", "50"};
    int argc = 11;
    size_t kafka_count;
    const char *const *kafka = mock_kafka_settings(&kafka_count);
    for (size_t i = 0; i < kafka_count && argc + 2 < 64; i++) {
        argv[argc++] = "--kafka";
        argv[argc++] = (char *)kafka[i];
    }
    struct bc_runtime_settings s;
    char errstr[512];
    int rc = bc_runtime_settings_parse(&s, &router_stage, argc, argv, errstr, sizeof(errstr));
    unlink(path);
    if (rc != 0) {
        fail_msg("settings: %s", errstr);
    }
    int port = free_port();
    char port_s[16];
    snprintf(port_s, sizeof(port_s), "%d", port);
    setenv("BREADCRUMB_METRICS_PORT", port_s, 1);
    struct bc_runtime *rt = bc_runtime_new(&router_stage, &s, errstr, sizeof(errstr));
    if (rt == NULL) {
        fail_msg("bc_runtime_new: %s", errstr);
    }
    uint64_t want = ROUNDS * KINDS + 1;
    struct bc_runtime_hooks hooks = {.until = until_committed, .opaque = &want,
                                     .timeout_ms = 60000};
    assert_int_equal(bc_runtime_run(rt, &hooks), BC_EXIT_OK);
    struct bc_runtime_stats st;
    bc_runtime_stats(rt, &st);
    char *text = scrape(port); /* the server runs until bc_runtime_destroy */
    bc_runtime_destroy(rt);
    unsetenv("BREADCRUMB_METRICS_PORT");
    bc_runtime_settings_free(&s);
    assert_int_equal(st.committed, want);
    assert_int_equal(st.aborts, 0);
    /* Kinds: span, health span, log, security log, login, billing, order.placed. */
    assert_int_equal(st.fates, ROUNDS);            /* health spans, by rule */
    assert_int_equal(st.dead_letters, ROUNDS + 1); /* order.placed unmatched, and garbage */
    assert_int_equal(st.emitted, ROUNDS * 10);

    static const struct {
        const char *topic;
        int count;
    } want_topics[] = {
        {"sink.traces", ROUNDS},   {"sink.logs", 2 * ROUNDS}, {"sink.security", 2 * ROUNDS},
        {"sink.billing", ROUNDS},  {"sink.all", 4 * ROUNDS},  {"rt.dlq", ROUNDS + 1},
        {"rt.fates", ROUNDS},
    };
    /* Routes by rule and action: every matching rule once per record (all_matches mode). */
    static const struct {
        const char *series;
        int count;
    } want_series[] = {
        {"breadcrumb_router_routes_total{worker=\"router\",instance=\"i1\",rule=\"health\","
         "action=\"drop\"}", ROUNDS},
        {"breadcrumb_router_routes_total{worker=\"router\",instance=\"i1\",rule=\"security\","
         "action=\"route\"}", 2 * ROUNDS},
        {"breadcrumb_router_routes_total{worker=\"router\",instance=\"i1\",rule=\"billing\","
         "action=\"route\"}", ROUNDS},
        {"breadcrumb_router_routes_total{worker=\"router\",instance=\"i1\",rule=\"traces\","
         "action=\"route\"}", ROUNDS},
        {"breadcrumb_router_routes_total{worker=\"router\",instance=\"i1\",rule=\"logs\","
         "action=\"route\"}", 2 * ROUNDS},
        {"breadcrumb_router_routes_total{worker=\"router\",instance=\"i1\",rule=\"(none)\","
         "action=\"dlq\"}", ROUNDS},
        {"breadcrumb_router_routes_total{worker=\"router\",instance=\"i1\",rule=\"(none)\","
         "action=\"undecodable\"}", 1},
        {"breadcrumb_router_copies_total{worker=\"router\",instance=\"i1\",topic=\"sink.all\"}",
         4 * ROUNDS},
        {"breadcrumb_router_copies_total{worker=\"router\",instance=\"i1\","
         "topic=\"sink.security\"}", 2 * ROUNDS},
        {"breadcrumb_router_copies_total{worker=\"router\",instance=\"i1\",topic=\"sink.logs\"}",
         2 * ROUNDS},
    };
    for (size_t i = 0; i < sizeof(want_series) / sizeof(want_series[0]); i++) {
        char line[300];
        snprintf(line, sizeof(line), "\n%s %d\n", want_series[i].series, want_series[i].count);
        if (strstr(text, line) == NULL) {
            fail_msg("/metrics lacks%s--- /metrics:\n%s", line, text);
        }
    }
    assert_non_null(strstr(text, "# HELP breadcrumb_router_routes_total Input records by"));
    free(text);
    for (size_t i = 0; i < sizeof(want_topics) / sizeof(want_topics[0]); i++) {
        struct topic_seen ts = consume_all(want_topics[i].topic);
        if (ts.count != want_topics[i].count || ts.bad != 0) {
            fail_msg("%s: %d records (want %d), %d bad", want_topics[i].topic, ts.count,
                     want_topics[i].count, ts.bad);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_router_stage_fan_out),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
