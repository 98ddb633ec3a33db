/*
 * A worker's schemas with a remote schema registry (`schemas.registry: http(s)://...`): the
 * runtime's bridge between the local registry (common/bc_avro.h, loaded from schemas.dir:
 * the .avsc texts the stages encode with) and a Confluent-compatible registry
 * (common/bc_registry_http.h). With `schemas.registry: file` there is none of this.
 *
 * Ids: the remote registry's, never the manifest's. Loading makes every local id provisional
 * (negative: no reader can take it for a remote one); registering a schema under a subject
 * gives it the registry's id, which the stages' encoders then write.
 *
 * Outputs: each output topic's schema is registered, as its original .avsc text, under
 * "<topic>-value" (TopicNameStrategy) after a compatibility check against the subject's
 * latest version: at startup for the topics whose schema is known (bc_schemas_expect, before
 * any Kafka client exists; the worker is not ready meanwhile), else before the first record
 * to that topic. Every Avro record written carries the id the registry gave its schema under
 * that topic's subject (a record encoded before its schema was registered is rewritten).
 *
 * Inputs: a record whose schema id the worker does not know is looked up once
 * (GET /schemas/ids/{id}) and its schema added as a writer of the local subject of the same
 * record name; an id the registry does not know is left for the stage to dead-letter.
 *
 * Downtime: at startup the worker waits, retrying with backoff (100 ms doubling to 5 s) until
 * the registry answers or the worker is stopped; later calls retry for 30 s, then fail (the
 * worker stops with an error and writes nothing for that record). An incompatible schema, a
 * refused login or an invalid schema are final errors naming the subject.
 */
#ifndef BC_SCHEMAS_H
#define BC_SCHEMAS_H

#include <stddef.h>

struct bc_config;
struct bc_avro_registry;
struct bc_schemas;

/* When config's schemas.registry is an http(s) URL: sets *out to a new bridge for reg
 * (borrowed: must outlive it; its ids become provisional now) and returns 0. Sets *out to
 * NULL and returns 0 for the file registry (or no config). -1 with errstr on bad settings. */
int bc_schemas_new(const struct bc_config *config, struct bc_avro_registry *reg,
                   struct bc_schemas **out, char *errstr, size_t errstr_size);
/* For tools that read records without a topology (breadcrumb diff): a new bridge to the
 * registry at url (credentials, if any, as http://user:password@host:port). 0, or -1 with
 * errstr when url is not an http(s) URL. */
int bc_schemas_new_url(const char *url, struct bc_avro_registry *reg, struct bc_schemas **out,
                       char *errstr, size_t errstr_size);
/* NULL is a no-op. */
void bc_schemas_free(struct bc_schemas *sc);

/* Declares that the worker writes records of local schema `schema` (a subject or record
 * name, e.g. "Fate") to topic; registered by bc_schemas_start. Unknown schema names are
 * ignored (the record's own schema is registered before its first write). */
void bc_schemas_expect(struct bc_schemas *sc, const char *topic, const char *schema);
/* The same for a worker output by its output name: normalized, unique, enriched, sampled
 * and cold carry TrackingEvent, dlq DeadLetter, lineage LineageRecord; others are unknown. */
void bc_schemas_expect_output(struct bc_schemas *sc, const char *output, const char *topic);

/* Registers every expected (topic, schema), waiting out registry downtime with backoff
 * until stopped(arg) returns nonzero. Returns 0, or -1 (logged): an incompatible schema, a
 * final registry error, or stopped. */
int bc_schemas_start(struct bc_schemas *sc, int (*stopped)(void *arg), void *arg);

/* The emit hook for a value in the wire format (first byte 0x00) written to topic: makes sure
 * its schema is registered under "<topic>-value" and that the value carries that id. May
 * replace *value (then it points into a buffer of sc, valid until the next call). Returns 0,
 * or -1 (logged): unknown schema id, or registration failed. */
int bc_schemas_output(struct bc_schemas *sc, const char *topic, const void **value,
                      size_t *value_len);

/* The input hook: a wire-format value's unknown schema id is looked up in the registry and
 * its schema added to the local registry. Returns 0 (also for values not in the wire format
 * and ids the registry does not know), or -1 (logged) when the registry stayed unreachable. */
int bc_schemas_input(struct bc_schemas *sc, const void *value, size_t value_len);

#endif
