/*
 * The deduplicator's key: which TrackingEvent fields identify a repeat, compiled once from
 * the `key` option, and the 16-byte digest of their values that the `seen` store holds.
 *
 *   struct dedup_key *key = dedup_key_compile(paths, n, errstr, sizeof(errstr));  at init
 *   uint8_t digest[DEDUP_DIGEST_SIZE];
 *   dedup_key_digest(key, &event, digest);   per record: 0, or 1 when a field is missing
 *
 * Field paths: event_id, trace_id, span_id, parent_span_id, correlation_id, name, service,
 * attributes.<key> and resource.<key> (resource attributes; `resource_attributes.<key>`
 * too). The digest is XXH3-128 over, per field in order, a type tag, the value's length and
 * its bytes: values are never confused across fields or types ("1" the string and 1 the
 * long differ), and every key costs the store 16 bytes whatever its length.
 */
#ifndef DEDUP_KEY_H
#define DEDUP_KEY_H

#include <stddef.h>
#include <stdint.h>

#include <avro.h>

#define DEDUP_DIGEST_SIZE 16

struct dedup_key;

/* Compiles n field paths (borrowed). Returns a new key (free with dedup_key_destroy), or
 * NULL with the offending path in errstr. */
struct dedup_key *dedup_key_compile(const char *const *paths, size_t n, char *errstr,
                                    size_t errstr_size);
void dedup_key_destroy(struct dedup_key *key);

/* Checks one path without compiling (for `breadcrumb validate`). Returns 0 or -1. */
int dedup_key_path_valid(const char *path);

/* 1 when equal keys always come with equal Kafka keys of the normalized topic, so they
 * share a partition: the key includes event_id (records are keyed by trace_id, and the
 * event_id of a span or traced log derives from it, or by event_id) or trace_id. Otherwise
 * the deduplicator must repartition by the key. */
int dedup_key_partition_aligned(const struct dedup_key *key);
int dedup_key_paths_aligned(const char *const *paths, size_t n);

/* Digests the key's fields of ev (a TrackingEvent) into out. Returns 0, or 1 when a field
 * is null or absent (an attribute not present, or of an array/kvlist type: no key). */
int dedup_key_digest(const struct dedup_key *key, avro_value_t *ev,
                     uint8_t out[DEDUP_DIGEST_SIZE]);

/* The TrackingEvent fields dedup_key_digest reads, as a bc_avro_decode_fields mask (bit
 * BC_EV_<field>; attribute keys read the whole attributes or resource attributes field). */
uint64_t dedup_key_fields(const struct dedup_key *key);

/* Lowercase hex of a digest into out (2 * DEDUP_DIGEST_SIZE + 1 bytes). */
void dedup_digest_hex(const uint8_t digest[DEDUP_DIGEST_SIZE], char *out);
/* Parses 32 hex digits back. Returns 0 or -1. */
int dedup_digest_parse(const void *hex, size_t len, uint8_t out[DEDUP_DIGEST_SIZE]);

#endif
