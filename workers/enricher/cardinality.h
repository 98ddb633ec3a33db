/*
 * Attribute cardinality limiter: at most max_values distinct values per attribute key and
 * window of stream time; a value beyond the cap is replaced by "__overflow__" (counted). Its
 * state lives in a key/value store the caller provides (the stage: a changelog-backed store,
 * one table per input partition), so a restart or a replay sees the same state and decides
 * the same way.
 *
 * Windows are tumbling, [k * window_ms, (k + 1) * window_ms) of the record timestamp. A
 * key's window only moves forward: a record older than the key's current window counts in
 * the current one (stream time never goes back). Store layout (all integers big-endian):
 *   "c" 0x00 <attribute key>                       -> window index (8) + distinct count (8)
 *   "v" 0x00 <window index (8)> <XXH3-128 of the value (16)> <attribute key>  -> "1"
 * Entries carry the window's start as timestamp: a store TTL of two windows expires them.
 */
#ifndef ENRICHER_CARDINALITY_H
#define ENRICHER_CARDINALITY_H

#include <stddef.h>
#include <stdint.h>

#define ENR_OVERFLOW_VALUE "__overflow__"

/* The store the limiter reads and writes (one partition's table). get returns 1 and the
 * value (borrowed until the next put) or 0; put returns 0 or -1 (store full). */
struct enr_card_store {
    int (*get)(void *opaque, const void *key, size_t key_len, const void **value,
               size_t *value_len);
    int (*put)(void *opaque, const void *key, size_t key_len, const void *value, size_t value_len,
               int64_t ts);
    void *opaque;
};

struct enr_card {
    int64_t max_values; /* >= 1 */
    int64_t window_ms;  /* >= 1 */
    char **keys;        /* borrowed; the limited keys, or n_keys 0: every key */
    size_t n_keys;
    uint64_t overflows; /* values replaced */
};

/* 1 when values of attribute key are limited. */
int enr_card_limited(const struct enr_card *c, const char *key);

/* Decides one value (its bytes as written: string text, or the number's decimal form) of
 * attribute key in a record with timestamp ts_ms. Returns 1 (keep it; remembered when new),
 * 0 (over the cap: replace it by ENR_OVERFLOW_VALUE; counted), or -1 (the store refused a
 * put). */
int enr_card_check(struct enr_card *c, const struct enr_card_store *st, const char *key,
                   const void *value, size_t value_len, int64_t ts_ms);

#endif
