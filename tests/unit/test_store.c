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

/* Values replaced in place, grown across size classes, shrunk, put back from what get
 * returned, and entries reused after removal: the contents and accounting stay exact. */
static void test_store_replace_grow_and_reuse(void **state)
{
    (void)state;
    struct bc_store *store = store_new(NULL, 0, 0, BC_STORE_EVICT_OLDEST);
    char value[3000];
    for (size_t i = 0; i < sizeof(value); i++) {
        value[i] = (char)('a' + i % 26);
    }
    const void *got;
    size_t len;
    for (size_t n = 0; n <= sizeof(value); n += 37) {
        assert_int_equal(bc_store_put(store, 0, "k", 1, value + n % 7, n, (int64_t)n), 0);
        assert_int_equal(bc_store_get(store, 0, "k", 1, &got, &len, NULL), 1);
        assert_int_equal(len, n);
        assert_memory_equal(got, value + n % 7, n);
        /* A put of the value the store holds. */
        assert_int_equal(bc_store_put(store, 0, "k", 1, got, len, (int64_t)n), 0);
        assert_int_equal(bc_store_get(store, 0, "k", 1, &got, &len, NULL), 1);
        assert_int_equal(len, n);
        assert_memory_equal(got, value + n % 7, n);
    }
    assert_int_equal(bc_store_put(store, 0, "k", 1, "s", 1, 1), 0);
    assert_int_equal(bc_store_get(store, 0, "k", 1, &got, &len, NULL), 1);
    assert_int_equal(len, 1);
    struct bc_store_stats stats;
    bc_store_stats(store, &stats);
    assert_int_equal(stats.bytes, 1 + 1 + BC_STORE_ENTRY_OVERHEAD);
    /* Removed entries come back for new keys. */
    char key[16];
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 200; i++) {
            int n = snprintf(key, sizeof(key), "r%d", i);
            assert_int_equal(bc_store_put(store, 1, key, (size_t)n, value, (size_t)(i * 13 % 900),
                                          i),
                             0);
        }
        for (int i = 0; i < 200; i++) {
            int n = snprintf(key, sizeof(key), "r%d", i);
            assert_int_equal(bc_store_get(store, 1, key, (size_t)n, &got, &len, NULL), 1);
            assert_int_equal(len, (size_t)(i * 13 % 900));
            assert_memory_equal(got, value, len);
            if (round < 2) {
                assert_int_equal(bc_store_delete(store, 1, key, (size_t)n), 1);
            }
        }
    }
    bc_store_stats(store, &stats);
    assert_int_equal(stats.entries, 201);
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

/* ---- write-back ------------------------------------------------------------------------ */

/* A changelog applied as it comes to a mirror store (what a restore would rebuild). */
struct mirror {
    struct bc_store *m;
    int logged, tombstones, dirty_calls;
    char last_value[64];
    int64_t last_ts;
};

static int mirror_log(void *opaque, const struct bc_store *store, int32_t partition,
                      const void *key, size_t key_len, const void *value, size_t value_len,
                      int64_t ts)
{
    (void)store;
    struct mirror *mi = opaque;
    mi->logged++;
    mi->tombstones += value == NULL;
    snprintf(mi->last_value, sizeof(mi->last_value), "%.*s", (int)value_len,
             value != NULL ? (const char *)value : "");
    mi->last_ts = ts;
    assert_int_equal(bc_store_restore_record(mi->m, partition, key, key_len, value, value_len, ts),
                     0);
    return 0;
}

static void mirror_dirty(void *opaque)
{
    ((struct mirror *)opaque)->dirty_calls++;
}

static struct bc_store *wb_new(struct mirror *mi, size_t max_bytes, int64_t ttl_ms)
{
    char errstr[256];
    memset(mi, 0, sizeof(*mi));
    struct bc_store_opts opts = {.max_bytes = max_bytes, .ttl_ms = ttl_ms};
    mi->m = bc_store_new("mirror", "", NULL, NULL, NULL, errstr, sizeof(errstr));
    struct bc_store *store =
        bc_store_new("wb", "p.w.wb.changelog", &opts, mirror_log, mi, errstr, sizeof(errstr));
    assert_non_null(mi->m);
    assert_non_null(store);
    bc_store_set_write_back(store, mirror_dirty);
    return store;
}

struct same {
    const struct bc_store *other;
    int32_t partition;
    size_t n;
};

static int same_visit(void *opaque, const void *key, size_t key_len, const void *value,
                      size_t value_len, int64_t ts)
{
    struct same *sm = opaque;
    const void *v;
    size_t v_len;
    int64_t v_ts;
    assert_int_equal(bc_store_get(sm->other, sm->partition, key, key_len, &v, &v_len, &v_ts), 1);
    assert_int_equal(v_len, value_len);
    assert_memory_equal(v, value, value_len);
    assert_int_equal(v_ts, ts);
    sm->n++;
    return 0;
}

/* Every entry of a is in b with the same value and timestamp, and both hold as many. */
static void assert_same(const struct bc_store *a, const struct bc_store *b, int32_t partitions)
{
    struct bc_store_stats sa, sb;
    bc_store_stats(a, &sa);
    bc_store_stats(b, &sb);
    assert_int_equal(sa.entries, sb.entries);
    for (int32_t p = 0; p < partitions; p++) {
        struct same sm = {.other = b, .partition = p};
        assert_int_equal(bc_store_foreach(a, p, same_visit, &sm), 0);
    }
}

static void test_store_write_back_one_record_per_key(void **state)
{
    (void)state;
    struct mirror mi;
    struct bc_store *store = wb_new(&mi, 1 << 20, 0);
    put_str(store, 0, "a", "1", 10, 0);
    put_str(store, 0, "a", "2", 11, 0);
    put_str(store, 0, "a", "3", 12, 0);
    assert_int_equal(mi.logged, 0);
    assert_int_equal(mi.dirty_calls, 3);
    assert_int_equal(bc_store_flush(store), 0);
    assert_int_equal(mi.logged, 1);
    assert_string_equal(mi.last_value, "3");
    assert_int_equal(mi.last_ts, 12);
    assert_int_equal(bc_store_flush(store), 0); /* nothing changed since */
    assert_int_equal(mi.logged, 1);

    /* Put then delete: a tombstone only. Delete then put: tombstone, then the value. */
    put_str(store, 0, "b", "x", 13, 0);
    assert_int_equal(bc_store_delete(store, 0, "b", 1), 1);
    assert_int_equal(bc_store_delete(store, 0, "a", 1), 1);
    put_str(store, 0, "a", "4", 14, 0);
    assert_int_equal(bc_store_flush(store), 0);
    assert_int_equal(mi.logged, 1 + 3);
    assert_int_equal(mi.tombstones, 2);
    assert_string_equal(mi.last_value, "4");
    assert_same(store, mi.m, 1);
    assert_same(mi.m, store, 1);
    bc_store_destroy(store);
    bc_store_destroy(mi.m);
}

static void test_store_write_back_restores_the_same_table(void **state)
{
    (void)state;
    struct mirror mi;
    /* Small enough that puts evict; with a ttl for expiry. */
    struct bc_store *store = wb_new(&mi, 40 * (BC_STORE_ENTRY_OVERHEAD + 8), 1000);
    char key[32], value[32];
    for (int round = 0; round < 5; round++) {
        for (int i = 0; i < 60; i++) {
            int k = (i * 7 + round * 13) % 50;
            snprintf(key, sizeof(key), "k%d", k);
            snprintf(value, sizeof(value), "v%d.%d", round, i);
            put_str(store, k % 2, key, value, round * 100 + i, 0);
            if (i % 9 == 0) {
                snprintf(key, sizeof(key), "k%d", (k + 3) % 50);
                bc_store_delete(store, (k + 3) % 2, key, strlen(key));
            }
        }
        bc_store_expire(store, 0, round * 100 + 1050);
        assert_int_equal(bc_store_flush(store), 0);
        assert_same(store, mi.m, 2);
        assert_same(mi.m, store, 2);
    }
    struct bc_store_stats st;
    bc_store_stats(store, &st);
    assert_true(st.evicted > 0);
    assert_true(st.expired > 0);
    /* Keys changed several times between two flushes were logged once. */
    assert_true((uint64_t)mi.logged < st.puts + st.deletes + st.evicted + st.expired);

    /* A dropped partition's changes are forgotten, the other's flushed. */
    put_str(store, 0, "x", "0", 900, 0);
    put_str(store, 1, "y", "1", 900, 0);
    bc_store_drop_partition(store, 1);
    int before = mi.logged;
    assert_int_equal(bc_store_flush(store), 0);
    assert_int_equal(mi.logged, before + 1);
    assert_string_equal(mi.last_value, "0");
    bc_store_destroy(store);
    bc_store_destroy(mi.m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_store_put_get_delete),
        cmocka_unit_test(test_store_many_keys_grow),
        cmocka_unit_test(test_store_replace_grow_and_reuse),
        cmocka_unit_test(test_store_full_evicts_oldest_by_ts),
        cmocka_unit_test(test_store_full_reject),
        cmocka_unit_test(test_store_expiry_follows_stream_time),
        cmocka_unit_test(test_store_restore_and_drop),
        cmocka_unit_test(test_store_foreach_stops_early),
        cmocka_unit_test(test_store_write_back_one_record_per_key),
        cmocka_unit_test(test_store_write_back_restores_the_same_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
