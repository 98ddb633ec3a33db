/* Read-only tables (common/bc_table.c, the runtime support the enricher's deploy history
 * uses) against librdkafka's mock cluster: read to the end before start returns, every
 * partition, tombstones delivered, later records followed by polling. (The mock creates
 * any topic a client asks about, so a missing topic cannot be tested here.) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>
#include <time.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "bc_table.h"

struct seen {
    int records, tombstones;
    char last_key[32];
    int per_partition[4];
};

static void on_record(void *opaque, const void *key, size_t key_len, const void *value,
                      size_t value_len, int64_t ts, int32_t partition, int64_t offset)
{
    (void)value_len;
    (void)ts;
    (void)offset;
    struct seen *s = opaque;
    s->records++;
    s->tombstones += value == NULL;
    snprintf(s->last_key, sizeof(s->last_key), "%.*s", (int)key_len, (const char *)key);
    s->per_partition[partition]++;
}

static void produce(rd_kafka_t *p, const char *topic, int32_t partition, const char *key,
                    const char *value)
{
    assert_int_equal(rd_kafka_producev(p, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(partition),
                                       RD_KAFKA_V_KEY(key, strlen(key)),
                                       RD_KAFKA_V_VALUE((void *)value, value ? strlen(value) : 0),
                                       RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END),
                     0);
}

static rd_kafka_conf_t *consumer_conf(const char *brokers)
{
    char err[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    const char *kv[][2] = {
        {"bootstrap.servers", brokers},    {"group.id", "t.table"},
        {"enable.auto.commit", "false"},   {"enable.partition.eof", "true"},
        {"auto.offset.reset", "earliest"}, {"log_level", "0"},
    };
    for (size_t i = 0; i < sizeof(kv) / sizeof(kv[0]); i++) {
        assert_int_equal(rd_kafka_conf_set(conf, kv[i][0], kv[i][1], err, sizeof(err)), 0);
    }
    return conf;
}

static void test_enricher_table_read_then_follow(void **state)
{
    (void)state;
    char err[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "log_level", "0", err, sizeof(err));
    rd_kafka_t *owner = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    assert_non_null(owner);
    rd_kafka_mock_cluster_t *mock = rd_kafka_mock_cluster_new(owner, 1);
    assert_non_null(mock);
    char brokers[256];
    snprintf(brokers, sizeof(brokers), "%s", rd_kafka_mock_cluster_bootstraps(mock));
    assert_int_equal(rd_kafka_mock_topic_create(mock, "deploys", 2, 1), 0);
    assert_int_equal(rd_kafka_mock_topic_create(mock, "empty", 1, 1), 0);

    conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", brokers, err, sizeof(err));
    rd_kafka_t *p = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    assert_non_null(p);
    for (int i = 0; i < 50; i++) {
        char key[16];
        snprintf(key, sizeof(key), "d-%d", i);
        produce(p, "deploys", i % 2, key, "{}");
    }
    produce(p, "deploys", 1, "d-1", NULL);
    assert_int_equal(rd_kafka_flush(p, 10000), 0);

    struct seen seen, other;
    memset(&seen, 0, sizeof(seen));
    memset(&other, 0, sizeof(other));
    struct bc_tables *tables = bc_tables_new();
    assert_int_equal(bc_tables_add(tables, "deploys", on_record, &seen), 0);
    assert_int_equal(bc_tables_add(tables, "empty", on_record, &other), 0);
    assert_int_equal(bc_tables_count(tables), 2);
    assert_int_equal(bc_tables_start(tables, consumer_conf(brokers), 30000, err, sizeof(err)), 0);
    /* Everything written before the start, before start returns. */
    assert_int_equal(seen.records, 51);
    assert_int_equal(seen.tombstones, 1);
    assert_int_equal(seen.per_partition[0], 25);
    assert_int_equal(seen.per_partition[1], 26);
    assert_int_equal(other.records, 0);
    assert_int_equal(bc_tables_add(tables, "late", on_record, &other), -1);

    /* Followed afterwards, by polling. */
    produce(p, "deploys", 0, "d-new", "{}");
    assert_int_equal(rd_kafka_flush(p, 10000), 0);
    int fed = 0;
    for (int i = 0; i < 300 && fed == 0; i++) {
        fed = bc_tables_poll(tables, 1000);
        if (fed == 0) {
            struct timespec ts = {.tv_sec = 0, .tv_nsec = 20 * 1000000L};
            nanosleep(&ts, NULL);
        }
    }
    assert_int_equal(fed, 1);
    assert_int_equal(seen.records, 52);
    assert_string_equal(seen.last_key, "d-new");
    bc_tables_destroy(tables);

    rd_kafka_destroy(p);
    rd_kafka_mock_cluster_destroy(mock);
    rd_kafka_destroy(owner);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_enricher_table_read_then_follow),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
