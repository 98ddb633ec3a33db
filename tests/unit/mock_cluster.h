/*
 * librdkafka's in-process mock cluster for the unit tests that run the runtime or a stage
 * against Kafka (test_runtime, test_tail_sampler_stage, test_router_stage): one cluster per
 * test binary, topics, an input producer, a reader of a whole topic, and the runtime's
 * client settings for tests. Linked into every unit test (tests/unit/ support code).
 *
 * What costs time on the mock, and what these helpers do about it: a consumer or producer
 * learns a topic's partitions at its next topic scan (every second) unless asked; the
 * helpers ask for the metadata first. A group's first join takes 3 s (fixed in the mock of
 * librdkafka 2.0.2, as group.initial.rebalance.delay.ms): nothing to gain there.
 */
#ifndef BC_TEST_MOCK_CLUSTER_H
#define BC_TEST_MOCK_CLUSTER_H

#include <stddef.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

struct mock_cluster {
    rd_kafka_t *owner; /* owns the mock cluster */
    rd_kafka_mock_cluster_t *mock;
    char brokers[256];
};

/* Starts a one-broker cluster into *mc. Returns 0, or -1. */
int mock_cluster_start(struct mock_cluster *mc);

/* Stops the cluster started by mock_cluster_start(). */
void mock_cluster_stop(struct mock_cluster *mc);

/* Creates each topic of `names` (count of them) with `partitions` partitions, each name
 * prefixed with `prefix` (may be ""). Fails the test on an error. */
void mock_topics_create(struct mock_cluster *mc, const char *prefix, const char *const *names,
                        size_t count, int partitions);

/* A producer (new; mock_producer_finish() frees it) whose metadata of `topic` is known, so
 * its first record is sent at once. */
rd_kafka_t *mock_producer_new(struct mock_cluster *mc, const char *topic);

/* Flushes and destroys a producer of mock_producer_new(); fails the test if a record was
 * not delivered. */
void mock_producer_finish(rd_kafka_t *p);

/* Reads partitions 0..partitions-1 of `topic` from the beginning to their end (every record:
 * the mock shows aborted data too). Calls fn per record when not NULL. Returns the count;
 * fails the test when a partition's end is not reached within 10 s. */
int mock_consume_all(struct mock_cluster *mc, const char *topic, int partitions,
                     void (*fn)(const rd_kafka_message_t *msg));

/* The runtime's client settings for tests on the mock (bc_runtime_settings.kafka), count
 * entries; with BC_TEST_VERBOSE set, librdkafka debug output of groups and transactions. */
const char *const *mock_kafka_settings(size_t *count);

#endif
