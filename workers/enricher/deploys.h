/*
 * Deploy history for the enricher's deploy join: every record of the compacted deploy topic
 * (key = deploy_id, value = {"service", "version", "deploy_id", "commit", "deployed_at"}),
 * and for a service and an event time, the deploy current then: the one with the latest
 * deployed_at <= the event time (ties: the greatest deploy_id). The answer depends only on
 * the set of deploys read, never on the order they were read in, so two instances (or a
 * replay) that have read the same deploys agree. A deploy read after an event was enriched
 * changes only events enriched after it (README, "Deploy history").
 *
 * A record whose deploy_id was seen before replaces it (compaction keeps the latest value
 * of a key); a tombstone (null value) removes it.
 *
 * Values are JSON, or Avro in the Confluent wire format (first byte 0x00) when a registry is
 * set and holds the writer schema: any record with string fields service, version,
 * deploy_id, commit (nullable allowed) and deployed_at as an RFC 3339 string or a long of
 * unix nanoseconds.
 */
#ifndef ENRICHER_DEPLOYS_H
#define ENRICHER_DEPLOYS_H

#include <stddef.h>
#include <stdint.h>

struct enr_deploy {
    char *deploy_id; /* new, all four never NULL */
    char *service;
    char *version;
    char *commit;
    int64_t deployed_at_ns;
};

struct enr_deploys;

struct bc_avro_registry;

struct enr_deploys *enr_deploys_new(void);
/* Sets the registry Avro values are decoded with (borrowed; NULL: JSON only). */
void enr_deploys_set_registry(struct enr_deploys *d, const struct bc_avro_registry *reg);
void enr_deploys_destroy(struct enr_deploys *d);

/* Applies one record of the deploy topic. key may be NULL (then the value's deploy_id is
 * the key); value NULL is a tombstone of key. Returns 1 when the history changed, 0 when
 * not (same record again, unknown tombstone), -1 when the record is invalid (errstr says
 * why; the history is unchanged). */
int enr_deploys_apply(struct enr_deploys *d, const void *key, size_t key_len, const void *value,
                      size_t value_len, char *errstr, size_t errstr_size);

/* The deploy of service (len bytes) current at t_ns, or NULL when it has none that early.
 * Borrowed: valid until the next enr_deploys_apply. */
const struct enr_deploy *enr_deploys_at(const struct enr_deploys *d, const char *service,
                                        size_t len, int64_t t_ns);

/* Deploys held. */
size_t enr_deploys_count(const struct enr_deploys *d);

/* Parses an RFC 3339 time ("2026-11-27T07:00:00Z", fractions, offsets) or a decimal count of
 * unix nanoseconds. Returns 0 and *ns, or -1. */
int enr_time_parse(const char *s, int64_t *ns);

#endif
