/*
 * The generator's Kafka output (gen_out.h) against librdkafka's in-process mock cluster:
 * every record is delivered with its key, value (empty values stay empty, not null) and
 * timestamp, to the topic of its kind; a cluster that is gone makes the close fail.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tools/breadcrumb/gen.h"
#include "tools/breadcrumb/gen_out.h"

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct want {
    char *key;
    unsigned char *value;
    size_t len;
    int64_t ts;
    int found;
};

/* Reads every partition of topic from the start until n records arrived or 30 s passed;
 * marks each matching want (same key, value and timestamp). Returns the records read. */
static size_t consume_all(const char *bootstraps, const char *topic, int partitions,
                          struct want *wants, size_t n)
{
    char errstr[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    assert_int_equal(
        rd_kafka_conf_set(conf, "bootstrap.servers", bootstraps, errstr, sizeof(errstr)),
        RD_KAFKA_CONF_OK);
    assert_int_equal(rd_kafka_conf_set(conf, "group.id", "test-gen-out", errstr, sizeof(errstr)),
                     RD_KAFKA_CONF_OK);
    rd_kafka_t *consumer = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
    assert_non_null(consumer);
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(partitions);
    for (int p = 0; p < partitions; p++) {
        rd_kafka_topic_partition_list_add(parts, topic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    }
    assert_int_equal(rd_kafka_assign(consumer, parts), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_topic_partition_list_destroy(parts);
    size_t got = 0;
    int64_t deadline = now_ms() + 30000;
    while (got < n && now_ms() < deadline) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(consumer, 100);
        if (m == NULL) {
            continue;
        }
        if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            got++;
            rd_kafka_timestamp_type_t type;
            int64_t ts = rd_kafka_message_timestamp(m, &type);
            for (size_t i = 0; i < n; i++) {
                struct want *w = &wants[i];
                int key_ok = w->key == NULL ? m->key == NULL
                                            : m->key != NULL && m->key_len == strlen(w->key) &&
                                                  memcmp(m->key, w->key, m->key_len) == 0;
                if (!w->found && key_ok && m->payload != NULL && m->len == w->len &&
                    memcmp(m->payload, w->value, w->len) == 0 && ts == w->ts) {
                    w->found = 1;
                    break;
                }
            }
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(consumer);
    rd_kafka_destroy(consumer);
    return got;
}

static void test_gen_out_kafka_delivers_every_record(void **state)
{
    (void)state;
    char errstr[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_t *owner = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    assert_non_null(owner);
    rd_kafka_mock_cluster_t *mock = rd_kafka_mock_cluster_new(owner, 1);
    assert_non_null(mock);
    assert_int_equal(rd_kafka_mock_topic_create(mock, "tracking.raw", 3, 1), 0);
    assert_int_equal(rd_kafka_mock_topic_create(mock, "tracking.deploys", 1, 1), 0);
    const char *bootstraps = rd_kafka_mock_cluster_bootstraps(mock);

    struct bc_gen_options o;
    bc_gen_options_init(&o);
    o.records = 400;
    o.bad_rate = 0.2; /* empty and non-UTF-8 values among them */
    o.max_bytes = 4096;
    struct bc_gen *gen = bc_gen_new(&o, errstr, sizeof(errstr));
    assert_non_null(gen);
    struct gen_out *out = gen_out_kafka_new(bootstraps, "tracking.raw", "tracking.deploys",
                                            o.max_bytes, errstr, sizeof(errstr));
    assert_non_null(out);
    struct want *wants[2] = {calloc(4096, sizeof(struct want)), calloc(4096, sizeof(struct want))};
    size_t n[2] = {0, 0};
    int empty = 0;
    struct bc_gen_record r;
    while (bc_gen_next(gen, &r) == 1) {
        assert_int_equal(gen_out_write(out, &r, errstr, sizeof(errstr)), 0);
        assert_true(n[r.topic] < 4096);
        struct want *w = &wants[r.topic][n[r.topic]++];
        w->key = r.key != NULL ? strdup(r.key) : NULL;
        w->value = malloc(r.value_len + 1);
        memcpy(w->value, r.value, r.value_len);
        w->len = r.value_len;
        w->ts = r.timestamp_ms;
        empty += r.value_len == 0;
    }
    assert_true(empty > 0);
    assert_int_equal(gen_out_close(out, 30000, errstr, sizeof(errstr)), 0);
    bc_gen_destroy(gen);

    assert_int_equal(consume_all(bootstraps, "tracking.raw", 3, wants[0], n[0]), n[0]);
    assert_int_equal(consume_all(bootstraps, "tracking.deploys", 1, wants[1], n[1]), n[1]);
    for (int t = 0; t < 2; t++) {
        for (size_t i = 0; i < n[t]; i++) {
            if (!wants[t][i].found) {
                fail_msg("topic %d record %zu was not delivered as written", t, i);
            }
            free(wants[t][i].key);
            free(wants[t][i].value);
        }
        free(wants[t]);
    }
    rd_kafka_mock_cluster_destroy(mock);
    rd_kafka_destroy(owner);
}

static void test_gen_out_kafka_close_fails_without_cluster(void **state)
{
    (void)state;
    char errstr[256];
    /* Nothing listens on port 1: deliveries time out, and close says so. */
    struct gen_out *out = gen_out_kafka_new("127.0.0.1:1", "tracking.raw", "tracking.deploys",
                                            1048576, errstr, sizeof(errstr));
    assert_non_null(out);
    struct bc_gen_record r;
    memset(&r, 0, sizeof(r));
    r.value = (const unsigned char *)"{}";
    r.value_len = 2;
    r.timestamp_ms = 1;
    assert_int_equal(gen_out_write(out, &r, errstr, sizeof(errstr)), 0);
    assert_int_equal(gen_out_close(out, 1000, errstr, sizeof(errstr)), -1);
    assert_true(strlen(errstr) > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gen_out_kafka_delivers_every_record),
        cmocka_unit_test(test_gen_out_kafka_close_fails_without_cluster),
    };
    return cmocka_run_group_tests_name("gen_out", tests, NULL, NULL);
}
