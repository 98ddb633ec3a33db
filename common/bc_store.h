/*
 * State stores, runtime side (DESIGN §4). The stage-facing calls (bc_store_open, _get,
 * _put, _delete, _foreach, _stats) are declared in bc_stage.h; this header adds what the
 * runtime and the tests need: construction with a changelog sink, restore, partition
 * drop and stream-time expiry. The store itself knows nothing of Kafka: every change goes
 * through the sink, which the runtime turns into a changelog record in the open
 * transaction (explicit partition = input partition, value NULL = tombstone).
 *
 * Memory accounting: an entry costs key_len + value_len + BC_STORE_ENTRY_OVERHEAD bytes
 * (entry header, bucket and heap slots). The bound is over all partitions of the store.
 * Full policy (when a put would exceed max_bytes): BC_STORE_EVICT_OLDEST evicts the entry
 * with the oldest timestamp over all partitions (a tombstone is logged for it, so a restore
 * does not bring it back) until the new entry fits, counting each in `evicted`;
 * BC_STORE_REJECT refuses the put and counts it in `rejected`.
 */
#ifndef BC_STORE_H
#define BC_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "bc_stage.h"

#define BC_STORE_ENTRY_OVERHEAD 64
#define BC_STORE_DEFAULT_MAX_BYTES ((size_t)64 << 20)

/* Receives every change of the store: value == NULL is a delete (tombstone). Returns 0,
 * or -1 when the write failed (the store change is kept; the transaction will abort). */
typedef int (*bc_store_log_fn)(void *opaque, const struct bc_store *store, int32_t partition,
                               const void *key, size_t key_len, const void *value,
                               size_t value_len, int64_t ts);

/* Creates a store named `name` whose changelog topic is `changelog` (both copied). opts
 * may be NULL (defaults); log may be NULL (no changelog, for tests). Returns the new store
 * or NULL with errstr set. */
struct bc_store *bc_store_new(const char *name, const char *changelog,
                              const struct bc_store_opts *opts, bc_store_log_fn log,
                              void *log_opaque, char *errstr, size_t errstr_size);

/* Write-back (Kafka Streams' caching): from now on changes are not logged as they happen.
 * A put marks its entry changed and a removal (delete, eviction, expiry) keeps a tombstone;
 * dirty_fn(log_opaque) is called on every change (the runtime opens a transaction there),
 * and bc_store_flush logs the tombstones, then each changed entry once with its current
 * value and timestamp. A key put many times between two flushes costs one changelog
 * record; the table restored from the changelog is the same. */
void bc_store_set_write_back(struct bc_store *store, void (*dirty_fn)(void *opaque));

/* Logs what changed since the last flush (write-back) and forgets it. Returns 0, or -1
 * when a write failed or a change could not be kept (out of memory): the transaction must
 * abort. */
int bc_store_flush(struct bc_store *store);

/* Frees the store and all entries. NULL is a no-op. */
void bc_store_destroy(struct bc_store *store);

/* Borrowed names, valid for the store's life. */
const char *bc_store_name(const struct bc_store *store);
const char *bc_store_changelog(const struct bc_store *store);

/* Forgets every entry of the partition without logging (revocation, rewind). */
void bc_store_drop_partition(struct bc_store *store, int32_t partition);

/* Applies one changelog record during restore, without logging: value NULL deletes.
 * Ignores the byte bound (the changelog was written within it). Returns 0 or -1 (OOM). */
int bc_store_restore_record(struct bc_store *store, int32_t partition, const void *key,
                            size_t key_len, const void *value, size_t value_len, int64_t ts);

/* Expires (and logs tombstones for) the partition's entries with ts < stream_time - ttl.
 * Returns the number expired; 0 when the store has no ttl or stream_time < 0. */
size_t bc_store_expire(struct bc_store *store, int32_t partition, int64_t stream_time);

/* The highest entry timestamp in the partition, -1 when empty (stream time after restore). */
int64_t bc_store_max_ts(const struct bc_store *store, int32_t partition);

#endif
