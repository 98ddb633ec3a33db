/*
 * Kafka client configuration for a role, built from the topology (bc_config.h). This is the
 * one place that knows which librdkafka settings exactly-once needs (DESIGN §3, KAFKA.md
 * "Client settings that matter"), so every process configures its clients the same way.
 *
 * Order of application (later wins): role defaults, the profile, `kafka.client`
 * passthrough (consumer-only keys go to consumers only, producer-only keys to producers
 * only, as librdkafka's property table says), then what the role requires and the topology owns
 * (bootstrap servers, security, group.id, transactional.id, isolation level, manual commits). The
 * validator rejects passthrough keys of the last group, so nothing is silently overridden.
 *
 *   consumer          group.id=<pipeline>.<worker>,
 * group.instance.id=<pipeline>.<worker>.<instance> (static membership),
 * partition.assignment.strategy=range, isolation.level=read_committed, enable.auto.commit=false,
 *                     enable.auto.offset.store=false, auto.offset.reset=earliest
 *   txn producer      transactional.id=<pipeline>.<worker>.<instance>, enable.idempotence=true,
 *                     acks=all, partitioner=murmur2_random
 *   producer          enable.idempotence=true, acks=all, partitioner=murmur2_random
 *   admin             bootstrap and security only
 *
 * Profile `test` (for tests on one small machine): session.timeout.ms=6000,
 * heartbeat.interval.ms=500, max.poll.interval.ms=30000 (consumers),
 * transaction.timeout.ms=10000 (transactional producers), fetch.wait.max.ms=100,
 * socket.connection.setup.timeout.ms=10000, reconnect.backoff.max.ms=1000 (all).
 * Profile `default` keeps Kafka's defaults.
 *
 * Bootstrap: brokers_override (a command's `--brokers`) when non-empty, else
 * `kafka.brokers`; "embedded" means $BREADCRUMB_BROKERS (set by `breadcrumb run` and by
 * tests), an error when unset.
 */
#ifndef BC_KAFKA_CONF_H
#define BC_KAFKA_CONF_H

#include <stddef.h>

#include <librdkafka/rdkafka.h>

#include "bc_config.h"

enum bc_kafka_role {
    BC_KAFKA_CONSUMER = 0,
    BC_KAFKA_TXN_PRODUCER = 1,
    BC_KAFKA_PRODUCER = 2,
    BC_KAFKA_ADMIN = 3,
};

/* The bootstrap servers into buf. cfg may be NULL (then only the override or
 * $BREADCRUMB_BROKERS count). Returns 0, or -1 with errstr filled. */
int bc_kafka_brokers(const struct bc_config *cfg, const char *brokers_override, char *buf,
                     size_t size, char *errstr, size_t errstr_size);

/* A new librdkafka configuration for role (the caller owns it: rd_kafka_new() takes it on
 * success, else rd_kafka_conf_destroy()). cfg may be NULL for tools that only have
 * `--brokers` (no profile, passthrough or security then). worker is required for
 * BC_KAFKA_CONSUMER and BC_KAFKA_TXN_PRODUCER, optional otherwise; instance (e.g. "0")
 * names the worker instance in group.instance.id, transactional.id and client.id; NULL
 * for a consumer means dynamic membership. The caller may still set more with
 * rd_kafka_conf_set (e.g. callbacks, or audit prefixes for replays). Returns NULL with
 * errstr filled on any error (unknown setting, missing BREADCRUMB_BROKERS, ...). */
rd_kafka_conf_t *bc_kafka_conf_new(const struct bc_config *cfg, const struct bc_worker *worker,
                                   enum bc_kafka_role role, const char *instance,
                                   const char *brokers_override, char *errstr, size_t errstr_size);

#endif
