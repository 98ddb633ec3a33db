/* bc_kafka_conf: settings per role and profile, passthrough, security and bootstrap
 * resolution, read back with rd_kafka_conf_get. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bc_kafka_conf.h"

static const char topology[] =
    "pipeline: shop\n"
    "kafka:\n"
    "  brokers: %s\n"
    "  profile: %s\n"
    "  client: {linger.ms: 7, session.timeout.ms: 9000}\n"
    "%s"
    "topics: {shop.raw: {}, shop.n: {}, shop.dlq: {}}\n"
    "workers:\n"
    "  normalizer: {input: shop.raw, outputs: {normalized: shop.n, dlq: shop.dlq}}\n";

static struct bc_config *load(const char *brokers, const char *profile, const char *security)
{
    char text[2048];
    snprintf(text, sizeof(text), topology, brokers, profile, security);
    struct bc_errors errs = {0};
    struct bc_config *cfg = bc_config_load_string("k.yaml", text, strlen(text), &errs);
    bc_errors_print(&errs, stderr);
    bc_errors_clear(&errs);
    assert_non_null(cfg);
    return cfg;
}

/* The value of key in conf, or "<unset>". */
static const char *get(rd_kafka_conf_t *conf, const char *key)
{
    static char buf[4][512];
    static int slot;
    char *out = buf[slot++ % 4];
    size_t size = 512;
    if (rd_kafka_conf_get(conf, key, out, &size) != RD_KAFKA_CONF_OK) {
        snprintf(out, 512, "<unset>");
    }
    return out;
}

static void test_kafka_conf_consumer(void **state)
{
    (void)state;
    struct bc_config *cfg = load("broker-a:9092,broker-b:9092", "default", "");
    const struct bc_worker *w = bc_config_worker(cfg, "normalizer");
    char errstr[512];
    rd_kafka_conf_t *conf =
        bc_kafka_conf_new(cfg, w, BC_KAFKA_CONSUMER, "1", NULL, errstr, sizeof(errstr));
    assert_non_null(conf);
    assert_string_equal(get(conf, "bootstrap.servers"), "broker-a:9092,broker-b:9092");
    assert_string_equal(get(conf, "group.id"), "shop.normalizer");
    assert_string_equal(get(conf, "group.instance.id"), "shop.normalizer.1");
    assert_string_equal(get(conf, "client.id"), "shop.normalizer.1");
    assert_string_equal(get(conf, "isolation.level"), "read_committed");
    assert_string_equal(get(conf, "enable.auto.commit"), "false");
    assert_string_equal(get(conf, "enable.auto.offset.store"), "false");
    assert_string_equal(get(conf, "auto.offset.reset"), "smallest"); /* = earliest */
    assert_string_equal(get(conf, "partition.assignment.strategy"), "range");
    assert_string_equal(get(conf, "linger.ms"), "5");                /* producer-only: skipped */
    assert_string_equal(get(conf, "session.timeout.ms"), "9000");    /* passthrough */
    assert_string_equal(get(conf, "heartbeat.interval.ms"), "3000"); /* Kafka's default */
    assert_string_equal(get(conf, "security.protocol"), "plaintext");
    rd_kafka_conf_destroy(conf);

    /* No instance: dynamic membership. */
    conf = bc_kafka_conf_new(cfg, w, BC_KAFKA_CONSUMER, NULL, NULL, errstr, sizeof(errstr));
    assert_non_null(conf);
    assert_string_equal(get(conf, "group.instance.id"), "<unset>");
    rd_kafka_conf_destroy(conf);
    bc_config_destroy(cfg);
}

static void test_kafka_conf_test_profile(void **state)
{
    (void)state;
    struct bc_config *cfg = load("localhost:1", "test", "");
    const struct bc_worker *w = bc_config_worker(cfg, "normalizer");
    char errstr[512];
    rd_kafka_conf_t *conf =
        bc_kafka_conf_new(cfg, w, BC_KAFKA_CONSUMER, "0", NULL, errstr, sizeof(errstr));
    assert_non_null(conf);
    assert_string_equal(get(conf, "session.timeout.ms"), "9000"); /* passthrough wins */
    assert_string_equal(get(conf, "heartbeat.interval.ms"), "500");
    assert_string_equal(get(conf, "max.poll.interval.ms"), "30000");
    assert_string_equal(get(conf, "fetch.wait.max.ms"), "100");
    assert_string_equal(get(conf, "reconnect.backoff.max.ms"), "1000");
    rd_kafka_conf_destroy(conf);

    conf = bc_kafka_conf_new(cfg, w, BC_KAFKA_TXN_PRODUCER, "0", NULL, errstr, sizeof(errstr));
    assert_non_null(conf);
    assert_string_equal(get(conf, "transactional.id"), "shop.normalizer.0");
    assert_string_equal(get(conf, "transaction.timeout.ms"), "10000");
    assert_string_equal(get(conf, "enable.idempotence"), "true");
    assert_string_equal(get(conf, "partitioner"), "murmur2_random");
    assert_string_equal(get(conf, "acks"), "-1");
    assert_string_equal(get(conf, "group.id"), "<unset>");
    rd_kafka_conf_destroy(conf);
    bc_config_destroy(cfg);
}

static void test_kafka_conf_producer_and_admin(void **state)
{
    (void)state;
    struct bc_config *cfg = load("localhost:1", "default", "");
    char errstr[512];
    rd_kafka_conf_t *conf =
        bc_kafka_conf_new(cfg, NULL, BC_KAFKA_PRODUCER, NULL, NULL, errstr, sizeof(errstr));
    assert_non_null(conf);
    assert_string_equal(get(conf, "partitioner"), "murmur2_random");
    assert_string_equal(get(conf, "enable.idempotence"), "true");
    assert_string_equal(get(conf, "transactional.id"), "<unset>");
    assert_string_equal(get(conf, "transaction.timeout.ms"), "60000");
    assert_string_equal(get(conf, "linger.ms"), "7");              /* producer passthrough */
    assert_string_equal(get(conf, "session.timeout.ms"), "45000"); /* consumer-only: skipped */
    rd_kafka_conf_destroy(conf);

    conf = bc_kafka_conf_new(cfg, NULL, BC_KAFKA_ADMIN, NULL, "other:9", errstr, sizeof(errstr));
    assert_non_null(conf);
    assert_string_equal(get(conf, "bootstrap.servers"), "other:9"); /* --brokers wins */
    assert_string_equal(get(conf, "enable.idempotence"), "false");
    rd_kafka_conf_destroy(conf);

    /* Without a config: only --brokers. */
    conf = bc_kafka_conf_new(NULL, NULL, BC_KAFKA_ADMIN, NULL, "h:1", errstr, sizeof(errstr));
    assert_non_null(conf);
    assert_string_equal(get(conf, "bootstrap.servers"), "h:1");
    rd_kafka_conf_destroy(conf);

    /* Roles that need a worker and an instance. */
    assert_null(bc_kafka_conf_new(cfg, NULL, BC_KAFKA_CONSUMER, "0", NULL, errstr, sizeof(errstr)));
    assert_non_null(strstr(errstr, "needs a worker"));
    assert_null(bc_kafka_conf_new(cfg, bc_config_worker(cfg, "normalizer"), BC_KAFKA_TXN_PRODUCER,
                                  NULL, NULL, errstr, sizeof(errstr)));
    assert_non_null(strstr(errstr, "needs an instance"));
    bc_config_destroy(cfg);
}

static void test_kafka_conf_embedded_brokers(void **state)
{
    (void)state;
    struct bc_config *cfg = load("embedded", "default", "");
    const struct bc_worker *w = bc_config_worker(cfg, "normalizer");
    char errstr[512], buf[256];
    unsetenv("BREADCRUMB_BROKERS");
    assert_null(bc_kafka_conf_new(cfg, w, BC_KAFKA_CONSUMER, "0", NULL, errstr, sizeof(errstr)));
    assert_non_null(strstr(errstr, "BREADCRUMB_BROKERS is not set"));
    assert_int_equal(bc_kafka_brokers(cfg, "x:1", buf, sizeof(buf), errstr, sizeof(errstr)), 0);
    assert_string_equal(buf, "x:1");
    setenv("BREADCRUMB_BROKERS", "127.0.0.1:40001", 1);
    rd_kafka_conf_t *conf =
        bc_kafka_conf_new(cfg, w, BC_KAFKA_CONSUMER, "0", NULL, errstr, sizeof(errstr));
    assert_non_null(conf);
    assert_string_equal(get(conf, "bootstrap.servers"), "127.0.0.1:40001");
    rd_kafka_conf_destroy(conf);
    conf = bc_kafka_conf_new(cfg, w, BC_KAFKA_CONSUMER, "0", "127.0.0.1:5", errstr, sizeof(errstr));
    assert_string_equal(get(conf, "bootstrap.servers"), "127.0.0.1:5");
    rd_kafka_conf_destroy(conf);
    unsetenv("BREADCRUMB_BROKERS");
    bc_config_destroy(cfg);
}

static void test_kafka_conf_security(void **state)
{
    (void)state;
    setenv("BC_TEST_KAFKA_PASSWORD", "p", 1);
    struct bc_config *cfg = load("h:1", "default",
                                 "  security: {protocol: sasl_plaintext, sasl_mechanism: "
                                 "SCRAM-SHA-256, username: u, password: \"${BC_TEST_KAFKA_PASSWORD}\"}\n");
    char errstr[512];
    rd_kafka_conf_t *conf =
        bc_kafka_conf_new(cfg, NULL, BC_KAFKA_ADMIN, NULL, NULL, errstr, sizeof(errstr));
    if (conf == NULL) {
        fprintf(stderr, "%s\n", errstr);
    }
    assert_non_null(conf);
    assert_string_equal(get(conf, "security.protocol"), "sasl_plaintext");
    assert_string_equal(get(conf, "sasl.mechanisms"), "SCRAM-SHA-256");
    assert_string_equal(get(conf, "sasl.username"), "u");
    assert_string_equal(get(conf, "sasl.password"), "p");
    rd_kafka_conf_destroy(conf);
    bc_config_destroy(cfg);
}

/* librdkafka accepts every role's configuration in both profiles (its cross-checks run in
 * rd_kafka_new: e.g. heartbeat vs session timeouts, transaction vs socket timeouts). */
static void test_kafka_conf_accepted_by_librdkafka(void **state)
{
    (void)state;
    static const char *const profiles[] = {"default", "test"};
    static const enum bc_kafka_role roles[] = {BC_KAFKA_CONSUMER, BC_KAFKA_TXN_PRODUCER,
                                               BC_KAFKA_PRODUCER, BC_KAFKA_ADMIN};
    for (size_t p = 0; p < 2; p++) {
        struct bc_config *cfg = load("127.0.0.1:1", profiles[p], "");
        const struct bc_worker *w = bc_config_worker(cfg, "normalizer");
        for (size_t r = 0; r < 4; r++) {
            char errstr[512];
            rd_kafka_conf_t *conf =
                bc_kafka_conf_new(cfg, w, roles[r], "0", NULL, errstr, sizeof(errstr));
            assert_non_null(conf);
            assert_int_equal(rd_kafka_conf_set(conf, "log_level", "0", errstr, sizeof(errstr)),
                             RD_KAFKA_CONF_OK); /* no "connection refused" noise */
            rd_kafka_t *rk =
                rd_kafka_new(roles[r] == BC_KAFKA_CONSUMER ? RD_KAFKA_CONSUMER : RD_KAFKA_PRODUCER,
                             conf, errstr, sizeof(errstr));
            if (rk == NULL) {
                fprintf(stderr, "profile %s role %zu: %s\n", profiles[p], r, errstr);
                rd_kafka_conf_destroy(conf);
            }
            assert_non_null(rk);
            rd_kafka_destroy(rk);
        }
        bc_config_destroy(cfg);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kafka_conf_consumer),
        cmocka_unit_test(test_kafka_conf_test_profile),
        cmocka_unit_test(test_kafka_conf_producer_and_admin),
        cmocka_unit_test(test_kafka_conf_embedded_brokers),
        cmocka_unit_test(test_kafka_conf_security),
        cmocka_unit_test(test_kafka_conf_accepted_by_librdkafka),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
