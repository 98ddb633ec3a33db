/*
 * The deduplicator without Kafka: key paths (compile, validity, aligned or repartition
 * mode), key digests of TrackingEvents (fields, attribute types, missing values), and the
 * window decision over a bare bc_store: first occurrence, repeat with the first's
 * position, expiry in stream time, a restart replaying the changelog (the stream-time
 * marker keeps decisions identical), eviction when full, and the repartition-mode sweep.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bc_event.h"
#include "bc_store.h"
#include "workers/deduplicator/dedup.h"
#include "workers/deduplicator/dedup_key.h"

/* ---- keys ------------------------------------------------------------------------------ */

static void test_dedup_key_paths(void **state)
{
    (void)state;
    const char *good[] = {"event_id", "trace_id", "span_id", "parent_span_id", "correlation_id",
                          "name", "service", "attributes.idempotency_key", "resource.host.name",
                          "resource_attributes.service.version"};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        assert_int_equal(dedup_key_path_valid(good[i]), 0);
    }
    const char *bad[] = {"", "attributes.", "attributes", "resource.", "body", "Event_id", "kind"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(dedup_key_path_valid(bad[i]), -1);
    }
    char errstr[256];
    const char *mixed[] = {"service", "nope"};
    assert_null(dedup_key_compile(mixed, 2, errstr, sizeof(errstr)));
    assert_non_null(strstr(errstr, "'nope'"));
    assert_null(dedup_key_compile(mixed, 0, errstr, sizeof(errstr)));

    const char *idem[] = {"attributes.idempotency_key"};
    const char *with_id[] = {"service", "event_id"};
    const char *trace[] = {"trace_id"};
    assert_int_equal(dedup_key_paths_aligned(idem, 1), 0);
    assert_int_equal(dedup_key_paths_aligned(with_id, 2), 1);
    assert_int_equal(dedup_key_paths_aligned(trace, 1), 1);
    struct dedup_key *key = dedup_key_compile(idem, 1, errstr, sizeof(errstr));
    assert_non_null(key);
    assert_int_equal(dedup_key_partition_aligned(key), 0);
    dedup_key_destroy(key);
    dedup_key_destroy(NULL);
}

static void test_dedup_digest_hex_roundtrip(void **state)
{
    (void)state;
    uint8_t d[DEDUP_DIGEST_SIZE], back[DEDUP_DIGEST_SIZE];
    for (int i = 0; i < DEDUP_DIGEST_SIZE; i++) {
        d[i] = (uint8_t)(i * 17 + 3);
    }
    char hex[2 * DEDUP_DIGEST_SIZE + 1];
    dedup_digest_hex(d, hex);
    assert_string_equal(hex, "031425364758697a8b9cadbecfe0f102");
    assert_int_equal(dedup_digest_parse(hex, 32, back), 0);
    assert_memory_equal(d, back, sizeof(d));
    assert_int_equal(dedup_digest_parse(hex, 31, back), -1);
    assert_int_equal(dedup_digest_parse("03142536475869708192a3b4c5d6e7fX", 32, back), -1);
    assert_int_equal(dedup_digest_parse(NULL, 32, back), -1);
}

struct events {
    struct bc_avro_registry *reg;
    avro_value_t ev;
};

static int events_setup(void **state)
{
    char dir[4096], errstr[512];
    const char *root = getenv("BC_ROOT");
    snprintf(dir, sizeof(dir), "%s/schemas", root ? root : ".");
    struct events *e = calloc(1, sizeof(*e));
    assert_int_equal(bc_avro_registry_load(dir, &e->reg, errstr, sizeof(errstr)), 0);
    const struct bc_avro_schema *te = bc_avro_registry_lookup(e->reg, "TrackingEvent");
    assert_int_equal(bc_avro_value_new(te, &e->ev), 0);
    *state = e;
    return 0;
}

static int events_teardown(void **state)
{
    struct events *e = *state;
    avro_value_decref(&e->ev);
    bc_avro_registry_destroy(e->reg);
    free(e);
    return 0;
}

/* A billing event with an idempotency key of the given AnyValue type (0: none). */
static void billing(avro_value_t *ev, const char *event_id, const char *service, int idem_type,
                    const char *idem)
{
    avro_value_t attrs, any, values;
    assert_int_equal(bc_event_clear(ev), 0);
    assert_int_equal(bc_event_set_string(ev, BC_EV_EVENT_ID, event_id, strlen(event_id)), 0);
    assert_int_equal(bc_event_set_enum(ev, BC_EV_KIND, BC_EVENT_EVENT), 0);
    assert_int_equal(bc_event_set_string(ev, BC_EV_NAME, "billing.charge", 14), 0);
    assert_int_equal(bc_event_set_string(ev, BC_EV_SERVICE, service, strlen(service)), 0);
    assert_int_equal(bc_event_field(ev, BC_EV_ATTRIBUTES, &attrs), 0);
    assert_int_equal(bc_event_kv_append(&attrs, "amount_cents", 12, &any), 0);
    assert_int_equal(bc_any_set_long(&any, 1299), 0);
    if (idem_type == 0) {
        return;
    }
    assert_int_equal(bc_event_kv_append(&attrs, "idempotency_key", 15, &any), 0);
    switch (idem_type) {
    case BC_ANY_STRING:
        assert_int_equal(bc_any_set_string(&any, idem, strlen(idem)), 0);
        break;
    case BC_ANY_LONG:
        assert_int_equal(bc_any_set_long(&any, atoll(idem)), 0);
        break;
    case BC_ANY_ARRAY:
        assert_int_equal(bc_any_set_array(&any, &values), 0);
        break;
    }
}

static void digest_of(const char *const *paths, size_t n, avro_value_t *ev, int expect,
                      uint8_t out[DEDUP_DIGEST_SIZE])
{
    char errstr[256];
    struct dedup_key *key = dedup_key_compile(paths, n, errstr, sizeof(errstr));
    assert_non_null(key);
    assert_int_equal(dedup_key_digest(key, ev, out), expect);
    dedup_key_destroy(key);
}

static void test_dedup_key_digest(void **state)
{
    struct events *e = *state;
    const char *idem[] = {"attributes.idempotency_key"};
    const char *id[] = {"event_id"};
    const char *svc_idem[] = {"service", "attributes.idempotency_key"};
    uint8_t a[16], b[16], c[16], d[16];

    /* Equal idempotency keys digest equally whatever else differs. */
    billing(&e->ev, "aaaa", "payment", BC_ANY_STRING, "k-1");
    digest_of(idem, 1, &e->ev, 0, a);
    billing(&e->ev, "bbbb", "checkout", BC_ANY_STRING, "k-1");
    digest_of(idem, 1, &e->ev, 0, b);
    assert_memory_equal(a, b, 16);
    /* ... but not with the service in the key, nor against another value or type. */
    digest_of(svc_idem, 2, &e->ev, 0, c);
    assert_memory_not_equal(b, c, 16);
    billing(&e->ev, "bbbb", "checkout", BC_ANY_STRING, "k-2");
    digest_of(idem, 1, &e->ev, 0, c);
    assert_memory_not_equal(a, c, 16);
    billing(&e->ev, "bbbb", "checkout", BC_ANY_STRING, "7");
    digest_of(idem, 1, &e->ev, 0, c);
    billing(&e->ev, "bbbb", "checkout", BC_ANY_LONG, "7");
    digest_of(idem, 1, &e->ev, 0, d);
    assert_memory_not_equal(c, d, 16);
    /* Field boundaries count: ("ab", "c") is not ("a", "bc"). */
    const char *two[] = {"event_id", "service"};
    billing(&e->ev, "ab", "c", 0, NULL);
    digest_of(two, 2, &e->ev, 0, a);
    billing(&e->ev, "a", "bc", 0, NULL);
    digest_of(two, 2, &e->ev, 0, b);
    assert_memory_not_equal(a, b, 16);
    /* Missing: no attribute, an array value, a null trace_id. */
    billing(&e->ev, "aaaa", "payment", 0, NULL);
    digest_of(idem, 1, &e->ev, 1, a);
    digest_of(id, 1, &e->ev, 0, a);
    billing(&e->ev, "aaaa", "payment", BC_ANY_ARRAY, NULL);
    digest_of(idem, 1, &e->ev, 1, a);
    const char *trace[] = {"trace_id"};
    digest_of(trace, 1, &e->ev, 1, a);
}

/* ---- the window ----------------------------------------------------------------------- */

/* The changelog as written, for replay into a fresh store. */
struct changelog {
    struct {
        int32_t partition;
        uint8_t key[32];
        size_t key_len;
        uint8_t value[16];
        size_t value_len;
        int tombstone;
        int64_t ts;
    } rec[4096];
    size_t n;
};

static int changelog_log(void *opaque, const struct bc_store *store, int32_t partition,
                         const void *key, size_t key_len, const void *value, size_t value_len,
                         int64_t ts)
{
    (void)store;
    struct changelog *cl = opaque;
    assert_true(cl->n < 4096 && key_len <= 32 && value_len <= 16);
    cl->rec[cl->n].partition = partition;
    memcpy(cl->rec[cl->n].key, key, key_len);
    cl->rec[cl->n].key_len = key_len;
    cl->rec[cl->n].tombstone = value == NULL;
    if (value != NULL) {
        memcpy(cl->rec[cl->n].value, value, value_len);
    }
    cl->rec[cl->n].value_len = value_len;
    cl->rec[cl->n].ts = ts;
    cl->n++;
    return 0;
}

static struct bc_store *seen_new(struct changelog *cl, size_t max_bytes, int64_t ttl_ms)
{
    char errstr[256];
    struct bc_store_opts opts = {.max_bytes = max_bytes, .ttl_ms = ttl_ms,
                                 .full_policy = BC_STORE_EVICT_OLDEST};
    struct bc_store *s = bc_store_new("seen", "p.dedup.seen.changelog", &opts,
                                      cl != NULL ? changelog_log : NULL, cl, errstr,
                                      sizeof(errstr));
    assert_non_null(s);
    return s;
}

/* Replays the first `upto` changelog records into a fresh store (a restore). */
static struct bc_store *restored(const struct changelog *cl, size_t upto, int64_t ttl_ms)
{
    struct bc_store *s = seen_new(NULL, 0, ttl_ms);
    for (size_t i = 0; i < upto; i++) {
        assert_int_equal(bc_store_restore_record(s, cl->rec[i].partition, cl->rec[i].key,
                                                 cl->rec[i].key_len,
                                                 cl->rec[i].tombstone ? NULL : cl->rec[i].value,
                                                 cl->rec[i].value_len, cl->rec[i].ts),
                         0);
    }
    return s;
}

static void key_n(uint8_t out[DEDUP_DIGEST_SIZE], int n)
{
    memset(out, 0, DEDUP_DIGEST_SIZE);
    memcpy(out, &n, sizeof(n));
}

/* Decides (partition 0) key n at ts for the record at offset; returns the verdict and, for
 * a repeat, the first occurrence's offset in *first_offset. */
static int decide(struct dedup_window *w, int n, int64_t ts, int64_t offset,
                  int64_t *first_offset)
{
    uint8_t k[DEDUP_DIGEST_SIZE];
    key_n(k, n);
    struct dedup_first first = {.partition = 0, .offset = offset};
    int v = dedup_window_decide(w, 0, k, ts, &first);
    if (first_offset != NULL) {
        *first_offset = first.offset;
    }
    return v;
}

static void test_dedup_window_first_repeat_expiry(void **state)
{
    (void)state;
    struct changelog *cl = calloc(1, sizeof(*cl));
    struct dedup_window w = {.seen = seen_new(cl, 0, 0), .window_ms = 1000};
    assert_int_equal(dedup_window_assign(&w, 0, -1), 0);
    int64_t first;
    assert_int_equal(decide(&w, 1, 10000, 0, NULL), DEDUP_FIRST);
    assert_int_equal(decide(&w, 2, 10100, 1, NULL), DEDUP_FIRST);
    assert_int_equal(decide(&w, 1, 10500, 2, &first), DEDUP_REPEAT);
    assert_int_equal(first, 0);
    /* Stream time 11000: key 1 (first at 10000) is exactly one window old: still a repeat. */
    assert_int_equal(decide(&w, 1, 11000, 3, &first), DEDUP_REPEAT);
    assert_int_equal(first, 0);
    /* An out-of-order record does not move stream time back. */
    assert_int_equal(decide(&w, 3, 9000, 4, NULL), DEDUP_FIRST);
    /* Stream time 11001: key 1 is past the window, a new first occurrence (remembered at
     * 11001); key 2 (10100) still within. */
    assert_int_equal(decide(&w, 1, 11001, 5, NULL), DEDUP_FIRST);
    assert_int_equal(decide(&w, 1, 11002, 6, &first), DEDUP_REPEAT);
    assert_int_equal(first, 5);
    assert_int_equal(decide(&w, 2, 11002, 7, &first), DEDUP_REPEAT);
    assert_int_equal(first, 1);
    /* Key 3 was stored at its own time (9000) and has long expired. */
    assert_int_equal(decide(&w, 3, 11002, 8, NULL), DEDUP_FIRST);
    /* Partitions are independent. */
    uint8_t k[DEDUP_DIGEST_SIZE];
    key_n(k, 2);
    struct dedup_first f = {.partition = 1, .offset = 0};
    assert_int_equal(dedup_window_decide(&w, 1, k, 11002, &f), DEDUP_FIRST);
    bc_store_destroy(w.seen);
    dedup_window_free(&w);
    free(cl);
}

/* Decisions of a sequence of (key, ts) records, restarting from the changelog after
 * record `crash_after` (as if its transaction had committed there): the decisions must
 * equal an uninterrupted run's. */
static void run_sequence(const int *keys, const int64_t *ts, size_t n, size_t crash_after,
                         int *verdicts)
{
    struct changelog *cl = calloc(1, sizeof(*cl));
    struct dedup_window w = {.seen = seen_new(cl, 0, 1000), .window_ms = 1000};
    assert_int_equal(dedup_window_assign(&w, 0, -1), 0);
    for (size_t i = 0; i < n; i++) {
        verdicts[i] = decide(&w, keys[i], ts[i], (int64_t)i, NULL);
        assert_true(verdicts[i] >= 0);
        if (i == crash_after) {
            /* The runtime's expiry at commit, then a crash and a restore. */
            bc_store_expire(w.seen, 0, bc_store_max_ts(w.seen, 0));
            bc_store_destroy(w.seen);
            w.seen = restored(cl, cl->n, 1000);
            assert_int_equal(dedup_window_assign(&w, 0, bc_store_max_ts(w.seen, 0)), 0);
        }
    }
    bc_store_destroy(w.seen);
    dedup_window_free(&w);
    free(cl);
}

static void test_dedup_window_restart_keeps_stream_time(void **state)
{
    (void)state;
    /* Key 1 first at 1000; key 2 at 1500; then repeats of key 2 push stream time to 2100
     * without storing anything new; the crash comes there. A late record of key 1 at 1800
     * follows: stream time 2100 puts key 1 past the window (a first occurrence again).
     * Without the marker the restore would start at stream time 1500, reach only 1800 and
     * call it a repeat. */
    const int keys[] = {1, 2, 2, 2, 1};
    const int64_t ts[] = {1000, 1500, 1900, 2100, 1800};
    int straight[5], crashed[5];
    run_sequence(keys, ts, 5, 99, straight);
    run_sequence(keys, ts, 5, 3, crashed);
    assert_memory_equal(straight, crashed, sizeof(straight));
    assert_int_equal(straight[0], DEDUP_FIRST);
    assert_int_equal(straight[2], DEDUP_REPEAT);
    assert_int_equal(straight[3], DEDUP_REPEAT);
    assert_int_equal(straight[4], DEDUP_FIRST);
}

static void test_dedup_window_marker_written_only_when_needed(void **state)
{
    (void)state;
    struct changelog *cl = calloc(1, sizeof(*cl));
    struct dedup_window w = {.seen = seen_new(cl, 0, 0), .window_ms = 1000};
    assert_int_equal(dedup_window_assign(&w, 0, -1), 0);
    assert_int_equal(decide(&w, 1, 100, 0, NULL), DEDUP_FIRST);
    assert_int_equal(cl->n, 1); /* the entry; its ts is the stream time: no marker */
    assert_int_equal(decide(&w, 1, 100, 1, NULL), DEDUP_REPEAT);
    assert_int_equal(cl->n, 1); /* stream time unchanged */
    assert_int_equal(decide(&w, 1, 200, 2, NULL), DEDUP_REPEAT);
    assert_int_equal(cl->n, 2); /* the marker at 200 */
    assert_int_equal(cl->rec[1].key_len, DEDUP_MARKER_KEY_LEN);
    assert_memory_equal(cl->rec[1].key, DEDUP_MARKER_KEY, DEDUP_MARKER_KEY_LEN);
    assert_int_equal(cl->rec[1].ts, 200);
    assert_int_equal(dedup_window_observe(&w, 0, 150), 0);
    assert_int_equal(cl->n, 2);
    assert_int_equal(dedup_window_observe(&w, 0, 300), 0);
    assert_int_equal(cl->n, 3);
    assert_int_equal(bc_store_max_ts(w.seen, 0), 300);
    bc_store_destroy(w.seen);
    dedup_window_free(&w);
    free(cl);
}

static void test_dedup_window_eviction_counts(void **state)
{
    (void)state;
    /* Room for 10 entries of 16 + 12 + overhead bytes. */
    size_t cost = DEDUP_DIGEST_SIZE + DEDUP_VALUE_SIZE + BC_STORE_ENTRY_OVERHEAD;
    struct dedup_window w = {.seen = seen_new(NULL, 10 * cost, 0), .window_ms = 1000000};
    assert_int_equal(dedup_window_assign(&w, 0, -1), 0);
    for (int i = 0; i < 15; i++) {
        assert_int_equal(decide(&w, i, 1000 + i, i, NULL), DEDUP_FIRST);
    }
    struct bc_store_stats stats;
    bc_store_stats(w.seen, &stats);
    assert_int_equal(stats.evicted, 5);
    assert_int_equal(stats.entries, 10);
    /* The oldest keys were forgotten: a repeat of key 0 passes, of key 14 does not. */
    assert_int_equal(decide(&w, 14, 2000, 20, NULL), DEDUP_REPEAT);
    assert_int_equal(decide(&w, 0, 2000, 21, NULL), DEDUP_FIRST);
    bc_store_destroy(w.seen);
    dedup_window_free(&w);
}

static void test_dedup_window_sweep(void **state)
{
    (void)state;
    struct changelog *cl = calloc(1, sizeof(*cl));
    struct dedup_window w = {.seen = seen_new(cl, 0, 0), .window_ms = 1000};
    assert_int_equal(dedup_window_assign(&w, 0, -1), 0);
    for (int i = 0; i < 10; i++) {
        assert_int_equal(decide(&w, i, 1000 + 100 * i, i, NULL), DEDUP_FIRST);
    }
    /* Stream time 1900: entries before 900 go: none. Then 2450: 1000..1400 go (5). */
    assert_int_equal(dedup_window_sweep(&w, 0), 0);
    assert_int_equal(dedup_window_observe(&w, 0, 2450), 0);
    size_t before = cl->n;
    assert_int_equal(dedup_window_sweep(&w, 0), 5);
    assert_int_equal(cl->n, before + 5);
    for (size_t i = before; i < cl->n; i++) {
        assert_true(cl->rec[i].tombstone);
    }
    struct bc_store_stats stats;
    bc_store_stats(w.seen, &stats);
    assert_int_equal(stats.entries, 6); /* 5 keys and the marker */
    assert_int_equal(dedup_window_sweep(&w, 7), 0);
    bc_store_destroy(w.seen);
    dedup_window_free(&w);
    free(cl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dedup_key_paths),
        cmocka_unit_test(test_dedup_digest_hex_roundtrip),
        cmocka_unit_test_setup_teardown(test_dedup_key_digest, events_setup, events_teardown),
        cmocka_unit_test(test_dedup_window_first_repeat_expiry),
        cmocka_unit_test(test_dedup_window_restart_keeps_stream_time),
        cmocka_unit_test(test_dedup_window_marker_written_only_when_needed),
        cmocka_unit_test(test_dedup_window_eviction_counts),
        cmocka_unit_test(test_dedup_window_sweep),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
