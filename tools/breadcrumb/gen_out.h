/*
 * Where the generator's records go (gen_out.c): two Kafka topics through an idempotent
 * producer, or JSON Lines files in a directory (one Kafka record per line).
 */
#ifndef BC_GEN_OUT_H
#define BC_GEN_OUT_H

#include <stddef.h>
#include <stdint.h>

#include "tools/breadcrumb/gen.h"

struct gen_out;

/* Writes <dir>/<topic>.jsonl and <dir>/<deploys_topic>.jsonl (dir is created if needed).
 * Returns a new writer, or NULL with errstr filled. */
struct gen_out *gen_out_files_new(const char *dir, const char *topic, const char *deploys_topic,
                                  char *errstr, size_t errstr_size);

/* Produces to topic / deploys_topic on brokers with an idempotent producer (acks=all),
 * allowing records up to max_bytes plus headroom. Returns a new writer, or NULL. */
struct gen_out *gen_out_kafka_new(const char *brokers, const char *topic, const char *deploys_topic,
                                  int64_t max_bytes, char *errstr, size_t errstr_size);

/* Writes one record (borrowed). Returns 0, or -1 with errstr filled. */
int gen_out_write(struct gen_out *out, const struct bc_gen_record *rec, char *errstr,
                  size_t errstr_size);

/* Flushes everything (waiting up to timeout_ms for Kafka deliveries) and frees the writer.
 * Returns 0 when every record was written or delivered, else -1 with errstr filled.
 * NULL is a no-op that returns 0. */
int gen_out_close(struct gen_out *out, int timeout_ms, char *errstr, size_t errstr_size);

/* The JSON Lines form of a record, without the newline: {"key": string or null, "value":
 * string} or, when the value is not UTF-8, {"key": ..., "value_b64": base64}, then
 * "timestamp_ms". Returns new memory (free()). */
char *gen_out_line(const struct bc_gen_record *rec);

#endif
