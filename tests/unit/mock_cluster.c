/* librdkafka's mock cluster for the unit tests (mock_cluster.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>

#include "mock_cluster.h"

int mock_cluster_start(struct mock_cluster *mc)
{
    char err[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "log_level", "0", err, sizeof(err));
    mc->owner = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    if (mc->owner == NULL) {
        return -1;
    }
    mc->mock = rd_kafka_mock_cluster_new(mc->owner, 1);
    if (mc->mock == NULL) {
        rd_kafka_destroy(mc->owner);
        return -1;
    }
    snprintf(mc->brokers, sizeof(mc->brokers), "%s", rd_kafka_mock_cluster_bootstraps(mc->mock));
    return 0;
}

void mock_cluster_stop(struct mock_cluster *mc)
{
    rd_kafka_mock_cluster_destroy(mc->mock);
    rd_kafka_destroy(mc->owner);
}

void mock_topics_create(struct mock_cluster *mc, const char *prefix, const char *const *names,
                        size_t count, int partitions)
{
    for (size_t i = 0; i < count; i++) {
        char topic[256];
        snprintf(topic, sizeof(topic), "%s%s", prefix, names[i]);
        assert_int_equal(rd_kafka_mock_topic_create(mc->mock, topic, partitions, 1), 0);
    }
}

/* Makes `rk` learn the partitions of `topic` now instead of at its next topic scan. */
static void metadata_fetch(rd_kafka_t *rk, const char *topic)
{
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    assert_non_null(rkt);
    const rd_kafka_metadata_t *md = NULL;
    assert_int_equal(rd_kafka_metadata(rk, 0, rkt, &md, 5000), 0);
    rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
}

static rd_kafka_conf_t *conf_new(struct mock_cluster *mc)
{
    char err[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    assert_int_equal(rd_kafka_conf_set(conf, "bootstrap.servers", mc->brokers, err, sizeof(err)),
                     RD_KAFKA_CONF_OK);
    return conf;
}

rd_kafka_t *mock_producer_new(struct mock_cluster *mc, const char *topic)
{
    char err[256];
    rd_kafka_t *p = rd_kafka_new(RD_KAFKA_PRODUCER, conf_new(mc), err, sizeof(err));
    assert_non_null(p);
    metadata_fetch(p, topic);
    return p;
}

void mock_producer_finish(rd_kafka_t *p)
{
    assert_int_equal(rd_kafka_flush(p, 10000), 0);
    rd_kafka_destroy(p);
}

int mock_consume_all(struct mock_cluster *mc, const char *topic, int partitions,
                     void (*fn)(const rd_kafka_message_t *msg))
{
    char err[256];
    rd_kafka_conf_t *conf = conf_new(mc);
    rd_kafka_conf_set(conf, "enable.partition.eof", "true", err, sizeof(err));
    rd_kafka_conf_set(conf, "group.id", "reader", err, sizeof(err));
    rd_kafka_conf_set(conf, "fetch.wait.max.ms", "10", err, sizeof(err));
    rd_kafka_t *c = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
    assert_non_null(c);
    metadata_fetch(c, topic);
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(partitions);
    for (int i = 0; i < partitions; i++) {
        rd_kafka_topic_partition_list_add(list, topic, i)->offset = RD_KAFKA_OFFSET_BEGINNING;
    }
    assert_int_equal(rd_kafka_assign(c, list), 0);
    rd_kafka_topic_partition_list_destroy(list);
    int count = 0, eofs = 0, idle = 0;
    while (eofs < partitions && idle < 100) {
        rd_kafka_message_t *msg = rd_kafka_consumer_poll(c, 100);
        if (msg == NULL) {
            idle++;
            continue;
        }
        if (msg->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            eofs++;
        } else if (msg->err == 0) {
            count++;
            if (fn != NULL) {
                fn(msg);
            }
        }
        rd_kafka_message_destroy(msg);
    }
    assert_int_equal(eofs, partitions);
    rd_kafka_consumer_close(c);
    rd_kafka_destroy(c);
    return count;
}

const char *const *mock_kafka_settings(size_t *count)
{
    static const char *const settings[] = {
        /* The mock answers a group's first JoinGroup after 3 s, and no heartbeat is sent
         * meanwhile: a session shorter than about 4 s expires the member before it. */
        "session.timeout.ms=4000", "heartbeat.interval.ms=300",
        "transaction.timeout.ms=10000", "max.poll.interval.ms=10000",
        /* A caught-up fetch returns after 10 ms instead of 500. */
        "fetch.wait.max.ms=10",
        "log_level=0", "debug=cgrp,eos,consumer", /* the debug entry only with BC_TEST_VERBOSE */
    };
    size_t n = sizeof(settings) / sizeof(settings[0]);
    *count = getenv("BC_TEST_VERBOSE") != NULL ? n : n - 1;
    return settings;
}
