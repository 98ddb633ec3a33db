/* bc_store without Kafka: get/put/delete, changelog calls, byte bound and its policies,
 * stream-time expiry with tombstones, restore and partition drop. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "bc_store.h"

/* The changelog as the sink saw it: counts and the last call. */
struct sink {
    int puts, tombstones;
    int32_t last_partition;
    char last_key[64];
    int64_t last_ts;
};

static int sink_log(void *opaque, const struct bc_store *store, int32_t partition,
                    const void *key, size_t key_len, const void *value, size_t value_len,
                    int64_t ts)
{
    (void)store;
    (void)value_len;
    struct sink *s = opaque;
    if (value == NULL) {
        s->tombstones++;
    } else {
        s->puts++;
    }
    s->last_partition = partition;
    snprintf(s->last_key, sizeof(s->last_key), "%.*s", (int)key_len, (const char *)key);
    s->last_ts = ts;
    return 0;
}

static struct bc_store *store_new(struct sink *s, size_t max_bytes, int64_t ttl_ms,
                                  enum bc_store_full_policy policy)
{
    char errstr[256];
    struct bc_store_opts opts = {.max_bytes = max_bytes, .ttl_ms = ttl_ms,
                                 .full_policy = policy};
    struct bc_store *store =
        bc_store_new("seen", "p.w.seen.changelog", &opts, s ? sink_log : NULL, s, errstr,
                     sizeof(errstr));
    assert_non_null(store);
    return store;
}

static void put_str(struct bc_store *store, int32_t partition, const char *key,
                    const char *value, int64_t ts, int expect)
{
    assert_int_equal(
        bc_store_put(store, partition, key, strlen(key), value, strlen(value), ts), expect);
}

static void test_store_put_get_delete(void **state)
{
    (void)state;
    struct sink s = {0};
    struct bc_store *store = store_new(&s, 0, 0, BC_STORE_EVICT_OLDEST);
    put_str(store, 3, "k1", "v1", 100, 0);
    put_str(store, 3, "k1", "value-two", 150, 0);
    put_str(store, 1, "k1", "other", 10, 0);
    const void *value;
    size_t len;
    int64_t ts;
    assert_int_equal(bc_store_get(store, 3, "k1", 2, &value, &len, &ts), 1);
    assert_int_equal(len, 9);
    assert_memory_equal(value, "value-two", 9);
    assert_int_equal(ts, 150);
    assert_int_equal(bc_store_get(store, 1, "k1", 2, &value, &len, NULL), 1);
    assert_memory_equal(value, "other", 5);
    assert_int_equal(bc_store_get(store, 2, "k1", 2, &value, &len, NULL), 0);
    assert_int_equal(bc_store_get(store, 3, "k2", 2, &value, &len, NULL), 0);
    assert_int_equal(s.puts, 3);
    assert_int_equal(s.last_partition, 1);

    assert_int_equal(bc_store_delete(store, 3, "k1", 2), 1);
    assert_int_equal(bc_store_delete(store, 3, "k1", 2), 0);
    assert_int_equal(s.tombstones, 1);
    assert_int_equal(s.last_partition, 3);
    struct bc_store_stats stats;
    bc_store_stats(store, &stats);
    assert_int_equal(stats.entries, 1);
    assert_int_equal(stats.bytes, 2 + 5 + BC_STORE_ENTRY_OVERHEAD);
    assert_int_equal(stats.puts, 3);
    assert_int_equal(stats.deletes, 1);
    bc_store_destroy(store);
}

static void test_store_many_keys_grow(void **state)
{
    (void)state;
    struct bc_store *store = store_new(NULL, 0, 0, BC_STORE_EVICT_OLDEST);
    char key[32];
    for (int i = 0; i < 10000; i++) {
        int n = snprintf(key, sizeof(key), "key-%d", i);
        assert_int_equal(bc_store_put(store, i % 4, key, (size_t)n, &i, sizeof(i), i), 0);
    }
    for (int i = 0; i < 10000; i++) {
        int n = snprintf(key, sizeof(key), "key-%d", i);
        const void *value;
        size_t len;
        assert_int_equal(bc_store_get(store, i % 4, key, (size_t)n, &value, &len, NULL), 1);
        assert_memory_equal(value, &i, sizeof(i));
        assert_int_equal(bc_store_get(store, (i + 1) % 4, key, (size_t)n, &value, &len, NULL),
                         0);
    }
    struct bc_store_stats stats;
    bc_store_stats(store, &stats);
    assert_int_equal(stats.entries, 10000);
    bc_store_destroy(store);
}

/* Room for exactly three 2-byte-key, 2-byte-value entries. */
#define ENTRY (2 + 2 + BC_STORE_ENTRY_OVERHEAD)

static void test_store_full_evicts_oldest_by_ts(void **state)
{
    (void)state;
    struct sink s = {0};
    struct bc_store *store = store_new(&s, 3 * ENTRY, 0, BC_STORE_EVICT_OLDEST);
    put_str(store, 0, "k1", "v1", 300, 0);
    put_str(store, 1, "k2", "v2", 100, 0); /* oldest, in another partition */
    put_str(store, 0, "k3", "v3", 200, 0);
    put_str(store, 0, "k4", "v4", 400, 0);
    assert_int_equal(bc_store_get(store, 1, "k2", 2, NULL, NULL, NULL), 0);
    assert_int_equal(bc_store_get(store, 0, "k1", 2, NULL, NULL, NULL), 1);
    assert_int_equal(s.tombstones, 1);
    put_str(store, 0, "k5", "v5", 500, 0);
    assert_int_equal(bc_store_get(store, 0, "k3", 2, NULL, NULL, NULL), 0);
    /* Replacing an entry with one of equal size evicts nothing. */
    put_str(store, 0, "k1", "xx", 600, 0);
    struct bc_store_stats stats;
    bc_store_stats(store, &stats);
    assert_int_equal(stats.evicted, 2);
    assert_int_equal(stats.entries, 3);
    assert_int_equal(stats.bytes, 3 * ENTRY);
    assert_true(stats.bytes <= stats.max_bytes);
    bc_store_destroy(store);
}

static void test_store_full_reject(void **state)
{
    (void)state;
    struct bc_store *store = store_new(NULL, 2 * ENTRY, 0, BC_STORE_REJECT);
    put_str(store, 0, "k1", "v1", 1, 0);
    put_str(store, 0, "k2", "v2", 2, 0);
    put_str(store, 0, "k3", "v3", 3, -1);
    put_str(store, 0, "k1", "v9", 4, 0); /* same size replacement still fits */
    assert_int_equal(bc_store_put(store, 0, "big", 3, "0123456789", 10, 5), -1);
    struct bc_store_stats stats;
    bc_store_stats(store, &stats);
    assert_int_equal(stats.rejected, 2);
    assert_int_equal(stats.entries, 2);
    bc_store_destroy(store);
}

static void test_store_expiry_follows_stream_time(void **state)
{
    (void)state;
    struct sink s = {0};
    struct bc_store *store = store_new(&s, 0, 1000, BC_STORE_EVICT_OLDEST);
    put_str(store, 2, "a", "1", 1000, 0);
    put_str(store, 2, "b", "1", 1500, 0);
    put_str(store, 2, "c", "1", 2600, 0);
    put_str(store, 2, "a", "2", 2700, 0); /* refreshed: no longer the oldest */
    /* Wall clock is irrelevant: only the stream time passed in counts. */
    assert_int_equal(bc_store_expire(store, 2, -1), 0);
    assert_int_equal(bc_store_expire(store, 2, 2400), 0);
    assert_int_equal(bc_store_expire(store, 2, 2501), 1);
    assert_int_equal(s.tombstones, 1);
    assert_string_equal(s.last_key, "b");
    assert_int_equal(bc_store_get(store, 2, "a", 1, NULL, NULL, NULL), 1);
    assert_int_equal(bc_store_expire(store, 7, 99999), 0); /* unknown partition */
    assert_int_equal(bc_store_expire(store, 2, 99999), 2);
    struct bc_store_stats stats;
    bc_store_stats(store, &stats);
    assert_int_equal(stats.expired, 3);
    assert_int_equal(stats.entries, 0);
    assert_int_equal(stats.bytes, 0);
    bc_store_destroy(store);
}

static void test_store_restore_and_drop(void **state)
{
    (void)state;
    struct sink s = {0};
    struct bc_store *store = store_new(&s, 0, 0, BC_STORE_EVICT_OLDEST);
    assert_int_equal(bc_store_restore_record(store, 5, "k", 1, "v1", 2, 10), 0);
    assert_int_equal(bc_store_restore_record(store, 5, "j", 1, "v2", 2, 30), 0);
    assert_int_equal(bc_store_restore_record(store, 5, "k", 1, NULL, 0, 20), 0);
    assert_int_equal(s.puts + s.tombstones, 0); /* restore never logs */
    assert_int_equal(bc_store_get(store, 5, "k", 1, NULL, NULL, NULL), 0);
    assert_int_equal(bc_store_get(store, 5, "j", 1, NULL, NULL, NULL), 1);
    assert_int_equal(bc_store_max_ts(store, 5), 30);
    put_str(store, 4, "x", "y", 1, 0);
    bc_store_drop_partition(store, 5);
    assert_int_equal(bc_store_get(store, 5, "j", 1, NULL, NULL, NULL), 0);
    assert_int_equal(bc_store_max_ts(store, 5), -1);
    struct bc_store_stats stats;
    bc_store_stats(store, &stats);
    assert_int_equal(stats.entries, 1);
    assert_int_equal(stats.bytes, 2 + BC_STORE_ENTRY_OVERHEAD);
    bc_store_destroy(store);
    bc_store_destroy(NULL);
}

static int count_visit(void *opaque, const void *key, size_t key_len, const void *value,
                       size_t value_len, int64_t ts)
{
    (void)key;
    (void)key_len;
    (void)value;
    (void)value_len;
    (void)ts;
    return ++*(int *)opaque == 2 ? 7 : 0;
}

static void test_store_foreach_stops_early(void **state)
{
    (void)state;
    struct bc_store *store = store_new(NULL, 0, 0, BC_STORE_EVICT_OLDEST);
    put_str(store, 0, "a", "1", 1, 0);
    put_str(store, 0, "b", "1", 2, 0);
    put_str(store, 0, "c", "1", 3, 0);
    int n = 0;
    assert_int_equal(bc_store_foreach(store, 0, count_visit, &n), 7);
    assert_int_equal(n, 2);
    bc_store_destroy(store);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_store_put_get_delete),
        cmocka_unit_test(test_store_many_keys_grow),
        cmocka_unit_test(test_store_full_evicts_oldest_by_ts),
        cmocka_unit_test(test_store_full_reject),
        cmocka_unit_test(test_store_expiry_follows_stream_time),
        cmocka_unit_test(test_store_restore_and_drop),
        cmocka_unit_test(test_store_foreach_stops_early),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
