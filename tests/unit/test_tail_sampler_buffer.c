/* The tail-sampler's trace buffer (workers/tail_sampler/buffer.c): watermark and decision
 * timing (decision_wait, allowed_lateness, the root rule), decision order, the held offset,
 * the oldest trace, record round trips and exact byte accounting. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bc_config.h"
#include "workers/tail_sampler/buffer.h"

static struct ts_policies *policies(void)
{
    const char *yaml = "policies: [{name: err, type: status_code, status_codes: [ERROR]}]\n";
    struct bc_errors errs = {0};
    struct bc_yaml *doc = bc_yaml_load_string("p.yaml", yaml, strlen(yaml), &errs);
    assert_non_null(doc);
    struct ts_policies *p = NULL;
    assert_int_equal(
        ts_policies_compile(bc_node_get(doc->root, "policies"), TS_ALL, NULL, NULL, &p), 0);
    bc_yaml_destroy(doc);
    return p;
}

static void id_of(uint8_t id[16], int n)
{
    memset(id, 0, 16);
    memcpy(id, &n, sizeof(n));
}

/* Adds a span of trace n ending at end_ms (root when root != 0). */
static struct ts_trace *span(struct ts_buffer *buf, struct ts_part *part, int n, int64_t offset,
                             int64_t end_ms, int root, int status)
{
    uint8_t id[16];
    id_of(id, n);
    struct ts_span s = {.status = status, .start_ns = (end_ms - 5) * 1000000,
                        .end_ns = end_ms * 1000000, .is_root = root, .bytes = 7};
    char value[32];
    int len = snprintf(value, sizeof(value), "span-%d-%lld", n, (long long)offset);
    struct ts_trace *t = ts_buffer_add(buf, part, id, offset, end_ms, TS_REC_SPAN, value,
                                       (size_t)len, &s, end_ms, root ? end_ms : -1);
    ts_part_observe(part, end_ms);
    return t;
}

static void test_watermark_decision_wait_and_lateness(void **state)
{
    (void)state;
    struct ts_policies *p = policies();
    struct ts_buffer *buf = ts_buffer_new(p, 10000, 5000); /* wait 10 s, lateness 5 s */
    struct ts_part *part = ts_buffer_part(buf, 0, 1);
    assert_int_equal(ts_part_max_event(part), -1);
    struct ts_trace *a = span(buf, part, 1, 0, 1000, 0, 0);
    span(buf, part, 1, 1, 3000, 0, 0); /* a's last span: 3000 */
    assert_int_equal(a->last_ms, 3000);
    assert_int_equal(a->due_ms, 3000 + 10000 + 5000);
    assert_null(ts_part_due(part));
    assert_int_equal(a->before.max, -1);
    struct ts_trace *b = span(buf, part, 2, 2, 17999, 0, 0); /* watermark 12999: not 13000 */
    assert_int_equal(b->before.max, 3000); /* the max before its first record */
    assert_null(ts_part_due(part));
    span(buf, part, 2, 3, 18000, 0, 0); /* watermark 13000 = last + wait */
    assert_ptr_equal(ts_part_due(part), a);
    ts_buffer_remove(buf, part, a);
    assert_null(ts_part_due(part));
    /* An out-of-order span (older than the max) never moves the watermark back. */
    span(buf, part, 3, 4, 100, 0, 0);
    assert_int_equal(ts_part_max_event(part), 18000);
    struct ts_trace *c = ts_part_due(part);
    assert_non_null(c);
    assert_int_equal(c->last_ms, 100);
    ts_buffer_destroy(buf);
    ts_policies_destroy(p);
}

static void test_root_rule(void **state)
{
    (void)state;
    struct ts_policies *p = policies();
    struct ts_buffer *buf = ts_buffer_new(p, 10000, 5000);
    struct ts_part *part = ts_buffer_part(buf, 0, 1);
    struct ts_trace *a = span(buf, part, 1, 0, 1000, 0, 0);
    assert_int_equal(a->due_ms, 16000);
    span(buf, part, 1, 1, 2000, 1, 0); /* the root ends at 2000 */
    /* root end + decision_wait through the watermark: a late span is still waited for */
    assert_int_equal(a->due_ms, 17000);
    /* A child ending after its root keeps the root's bound. */
    span(buf, part, 1, 4, 2500, 0, 0);
    assert_int_equal(a->due_ms, 17000);
    span(buf, part, 2, 2, 16999, 0, 0);
    assert_null(ts_part_due(part));
    span(buf, part, 2, 3, 17000, 0, 0);
    assert_ptr_equal(ts_part_due(part), a);
    ts_buffer_destroy(buf);
    ts_policies_destroy(p);
}

static void test_decision_order_hold_and_oldest(void **state)
{
    (void)state;
    struct ts_policies *p = policies();
    struct ts_buffer *buf = ts_buffer_new(p, 1000, 0);
    struct ts_part *part = ts_buffer_part(buf, 3, 1);
    assert_int_equal(ts_part_id(part), 3);
    assert_int_equal(ts_part_hold(part), -1);
    span(buf, part, 1, 10, 500, 0, 0);
    span(buf, part, 2, 11, 300, 0, 0);
    span(buf, part, 3, 12, 300, 0, 0);
    span(buf, part, 1, 13, 200, 0, 0);
    assert_int_equal(ts_part_hold(part), 10);
    uint8_t id[16];
    id_of(id, 1);
    assert_ptr_equal(ts_part_oldest(part), ts_part_find(part, id));
    ts_part_observe(part, 5000);
    /* Due order: by due time, ties by arrival: 2, 3 (300 + 1000), then 1 (500 + 1000). */
    int order[3];
    for (int i = 0; i < 3; i++) {
        struct ts_trace *t = ts_part_due(part);
        assert_non_null(t);
        memcpy(&order[i], t->id, sizeof(int));
        ts_buffer_remove(buf, part, t);
        if (i == 1) {
            assert_int_equal(ts_part_hold(part), 10);
        }
    }
    assert_int_equal(order[0], 2);
    assert_int_equal(order[1], 3);
    assert_int_equal(order[2], 1);
    assert_int_equal(ts_part_hold(part), -1);
    assert_null(ts_part_due(part));
    assert_int_equal(ts_buffer_traces(buf), 0);
    assert_int_equal(ts_buffer_records(buf), 0);
    /* The oldest partition is the one holding the earliest-created trace. */
    struct ts_part *other = ts_buffer_part(buf, 1, 1);
    span(buf, other, 9, 0, 1, 0, 0);
    span(buf, part, 8, 20, 1, 0, 0);
    assert_ptr_equal(ts_buffer_oldest_part(buf), other);
    ts_buffer_drop_part(buf, 1);
    assert_ptr_equal(ts_buffer_oldest_part(buf), part);
    assert_int_equal(ts_buffer_traces(buf), 1);
    ts_buffer_destroy(buf);
    ts_policies_destroy(p);
}

static void test_records_round_trip_and_accumulator(void **state)
{
    (void)state;
    struct ts_policies *p = policies();
    struct ts_buffer *buf = ts_buffer_new(p, 1000, 0);
    struct ts_part *part = ts_buffer_part(buf, 0, 1);
    struct ts_trace *t = NULL;
    for (int i = 0; i < 100; i++) {
        t = span(buf, part, 7, 100 + i, 1000 + i, 0, i == 50 ? 2 : 1);
    }
    uint8_t id[16];
    id_of(id, 7);
    uint8_t log[3] = {1, 2, 3};
    assert_ptr_equal(ts_buffer_add(buf, part, id, 200, 99, 0, log, 3, NULL, 5, -1), t);
    assert_int_equal(t->records, 101);
    assert_int_equal(t->acc.spans, 100);
    assert_int_equal(t->acc.match[0], 1); /* the error span */
    assert_int_equal(t->acc.bytes, 700);
    const struct ts_node *cursor = NULL;
    struct ts_rec rec;
    for (int i = 0; i < 100; i++) {
        assert_int_equal(ts_trace_next(t, &cursor, &rec), 1);
        char want[32];
        int len = snprintf(want, sizeof(want), "span-7-%d", 100 + i);
        assert_int_equal(rec.offset, 100 + i);
        assert_int_equal(rec.timestamp_ms, 1000 + i);
        assert_int_equal(rec.flags, TS_REC_SPAN);
        assert_int_equal(rec.len, (size_t)len);
        assert_memory_equal(rec.value, want, (size_t)len);
    }
    assert_int_equal(ts_trace_next(t, &cursor, &rec), 1);
    assert_int_equal(rec.offset, 200);
    assert_int_equal(rec.flags, 0);
    assert_memory_equal(rec.value, log, 3);
    assert_int_equal(ts_trace_next(t, &cursor, &rec), 0);
    ts_buffer_destroy(buf);
    ts_policies_destroy(p);
}

/* Records of interleaved traces, of every size from empty to 100 KB, come back whole and in
 * arrival order per trace, also after other traces were removed between the adds; each
 * record counts its allocation (header and value, malloc's chunk). */
static void test_interleaved_records_of_any_size(void **state)
{
    (void)state;
    struct ts_policies *p = policies();
    struct ts_buffer *buf = ts_buffer_new(p, 1000, 0);
    struct ts_part *part = ts_buffer_part(buf, 0, 1);
    enum { TRACES = 40, ADDS = 400 };
    static uint8_t value[100000];
    for (size_t i = 0; i < sizeof(value); i++) {
        value[i] = (uint8_t)(i * 7 + i / 251);
    }
    size_t lens[ADDS];
    int owner[ADDS];
    uint64_t rnd = 99;
    for (int a = 0; a < ADDS; a++) {
        rnd = rnd * 6364136223846793005ULL + 1442695040888963407ULL;
        int n = (int)((rnd >> 33) % TRACES);
        size_t len = a % 50 == 0 ? sizeof(value) : a % 13 == 0 ? 0 : (size_t)((rnd >> 20) % 3000);
        lens[a] = len;
        owner[a] = n;
        uint8_t id[16];
        id_of(id, n);
        struct ts_trace *t = ts_part_find(part, id);
        size_t before = ts_buffer_bytes(buf);
        size_t cost = ts_buffer_add_cost(buf, part, t, len);
        assert_true(cost >= (t == NULL ? 0 : TS_RECORD_HEADER + len));
        assert_non_null(ts_buffer_add(buf, part, id, a, a, (uint32_t)a & TS_REC_SPAN,
                                      value + a % 7, len < sizeof(value) - 7 ? len : len - 7,
                                      NULL, a, -1));
        if (len >= sizeof(value) - 7) {
            lens[a] = len - 7;
        }
        assert_int_equal(ts_buffer_bytes(buf) - before, cost);
        if (a % 97 == 96) { /* remove an even trace, not the oldest */
            uint8_t gone[16];
            id_of(gone, (a / 97) * 2);
            struct ts_trace *g = ts_part_find(part, gone);
            if (g != NULL) {
                ts_buffer_remove(buf, part, g);
                for (int b = 0; b <= a; b++) {
                    if (owner[b] == (a / 97) * 2) {
                        owner[b] = -1;
                    }
                }
            }
        }
    }
    size_t records = 0;
    for (int n = 0; n < TRACES; n++) {
        uint8_t id[16];
        id_of(id, n);
        struct ts_trace *t = ts_part_find(part, id);
        const struct ts_node *cursor = NULL;
        struct ts_rec rec;
        for (int a = 0; a < ADDS; a++) {
            if (owner[a] != n) {
                continue;
            }
            assert_non_null(t);
            assert_int_equal(ts_trace_next(t, &cursor, &rec), 1);
            assert_int_equal(rec.offset, a);
            assert_int_equal(rec.timestamp_ms, a);
            assert_int_equal(rec.flags, (uint32_t)a & TS_REC_SPAN);
            assert_int_equal(rec.len, lens[a]);
            if (lens[a] > 0) {
                assert_memory_equal(rec.value, value + a % 7, lens[a]);
            }
            records++;
        }
        if (t != NULL) {
            assert_int_equal(ts_trace_next(t, &cursor, &rec), 0);
            assert_int_equal(ts_trace_next(t, &cursor, &rec), 0);
        }
    }
    assert_int_equal(ts_buffer_records(buf), records);
    while (ts_part_oldest(part) != NULL) {
        ts_buffer_remove(buf, part, ts_part_oldest(part));
    }
    assert_int_equal(ts_buffer_records(buf), 0);
    assert_int_equal(ts_buffer_bytes(buf), (64 + 64) * sizeof(void *)); /* table and heap */
    ts_buffer_destroy(buf);
    ts_policies_destroy(p);
}

static void test_byte_accounting_is_exact(void **state)
{
    (void)state;
    struct ts_policies *p = policies();
    struct ts_buffer *buf = ts_buffer_new(p, 1000, 0);
    struct ts_part *part = ts_buffer_part(buf, 0, 1);
    assert_int_equal(ts_buffer_bytes(buf), 0);
    for (int n = 0; n < 500; n++) {
        for (int k = 0; k < 1 + n % 7; k++) {
            uint8_t id[16];
            id_of(id, n);
            struct ts_trace *t = ts_part_find(part, id);
            char value[300];
            size_t len = 50 + (size_t)((n * 31 + k * 17) % 250);
            memset(value, 'x', len);
            size_t before = ts_buffer_bytes(buf);
            size_t cost = ts_buffer_add_cost(buf, part, t, len);
            assert_non_null(ts_buffer_add(buf, part, id, n * 10 + k, 0, TS_REC_SPAN, value, len,
                                          NULL, n, -1));
            assert_int_equal(ts_buffer_bytes(buf) - before, cost);
        }
    }
    size_t full = ts_buffer_bytes(buf);
    size_t records = ts_buffer_records(buf);
    assert_int_equal(records, 500 / 7 * 28 + (1 + 2 + 3)); /* 71 rounds of 1..7, then 1..3 */
    /* Removing every trace frees all but the tables (kept at capacity, still counted). */
    while (ts_part_oldest(part) != NULL) {
        ts_buffer_remove(buf, part, ts_part_oldest(part));
    }
    size_t tables = ts_buffer_bytes(buf);
    assert_true(tables < full / 10);
    assert_int_equal(tables, (1024 + 512) * sizeof(void *)); /* hash table 1024, heap 512 */
    ts_buffer_drop_part(buf, 0);
    assert_int_equal(ts_buffer_bytes(buf), 0);
    ts_buffer_destroy(buf);
    ts_policies_destroy(p);
}

/* Bytes per buffered span beyond the span's own encoded bytes, for the README: 2,000 traces
 * of 1-50 spans (sizes 300-900 B, traces interleaved as the generator sends them). */
static void test_overhead_per_span(void **state)
{
    (void)state;
    struct ts_policies *p = policies();
    struct ts_buffer *buf = ts_buffer_new(p, 1000, 0);
    struct ts_part *part = ts_buffer_part(buf, 0, 1);
    enum { TRACES = 2000, LIVE = 200 };
    int spans[TRACES], sent[TRACES], active[LIVE];
    char value[900];
    memset(value, 'v', sizeof(value));
    size_t payload = 0, records = 0, n_active = 0;
    int next = 0;
    int64_t offset = 0;
    uint64_t rnd = 12345;
    /* LIVE traces open at a time; a random one of them sends its next span. */
    while (n_active > 0 || next < TRACES) {
        while (n_active < LIVE && next < TRACES) {
            spans[next] = 1 + (next * 37) % 50;
            sent[next] = 0;
            active[n_active++] = next++;
        }
        rnd = rnd * 6364136223846793005ULL + 1442695040888963407ULL;
        size_t k = (size_t)(rnd >> 33) % n_active;
        int i = active[k];
        size_t len = 300 + (size_t)((rnd >> 20) % 601);
        uint8_t id[16];
        id_of(id, i);
        assert_non_null(ts_buffer_add(buf, part, id, offset++, 0, TS_REC_SPAN, value, len, NULL,
                                      0, -1));
        payload += len;
        records++;
        if (++sent[i] == spans[i]) {
            active[k] = active[--n_active];
        }
    }
    assert_int_equal(ts_buffer_records(buf), records);
    double overhead = (double)(ts_buffer_bytes(buf) - payload) / (double)records;
    printf("MEASURED tail-sampler buffer: %zu spans, %zu payload bytes, %zu buffered bytes, "
           "%.1f bytes overhead per span\n",
           records, payload, ts_buffer_bytes(buf), overhead);
    assert_true(overhead <= 200.0);
    ts_buffer_destroy(buf);
    ts_policies_destroy(p);
}

/* Adds a span of trace n from source slot src. */
static struct ts_trace *span_from(struct ts_buffer *buf, struct ts_part *part, int n,
                                  int64_t offset, int64_t end_ms, int src)
{
    uint8_t id[16];
    id_of(id, n);
    struct ts_span s = {.start_ns = (end_ms - 5) * 1000000, .end_ns = end_ms * 1000000,
                        .bytes = 7};
    struct ts_trace *t = ts_buffer_add(buf, part, id, offset, end_ms, TS_REC_SPAN, "x", 1, &s,
                                       end_ms, -1);
    ts_part_observe_source(part, end_ms, src);
    return t;
}

/* Event time follows the slowest source, at most max_skew behind the newest record; the
 * clock before a trace restores a partition exactly. */
static void test_sources_and_max_skew(void **state)
{
    (void)state;
    struct ts_policies *p = policies();
    struct ts_buffer *buf = ts_buffer_new(p, 1000, 0); /* wait 1 s, no lateness */
    ts_buffer_set_max_skew(buf, 60000);
    struct ts_part *part = ts_buffer_part(buf, 0, 1);
    span_from(buf, part, 9, 0, 1000, 0); /* source 0 at 1 s */
    struct ts_trace *t = span_from(buf, part, 1, 1, 2000, 1); /* source 1 at 2 s, due 3 s */
    assert_int_equal(t->due_ms, 3000);
    assert_int_equal(ts_part_now(part), 1000);
    /* Source 0 runs 48 s ahead: a single watermark would decide t, the slow source holds. */
    span_from(buf, part, 9, 2, 50000, 0);
    assert_int_equal(ts_part_max_event(part), 50000);
    assert_int_equal(ts_part_now(part), 2000);
    assert_ptr_equal(ts_part_due(part), NULL);
    /* The trace waits for its own source: a span 0.9 s later does not make it due. */
    span_from(buf, part, 1, 3, 2900, 1);
    assert_null(ts_part_due(part));
    span_from(buf, part, 7, 4, 3900, 1); /* source 1 passes 3.9 s */
    assert_ptr_equal(ts_part_due(part), t);
    ts_buffer_remove(buf, part, t);
    /* A stopped source holds event time back at most max_skew. */
    struct ts_trace *u = span_from(buf, part, 2, 5, 150000, 0); /* due 151 s */
    assert_int_equal(ts_part_now(part), 150000 - 60000);
    struct bc_clock at_u = u->before;
    assert_int_equal(at_u.max, 50000);
    assert_int_equal(at_u.src[0], 50000);
    assert_int_equal(at_u.src[1], 3900);
    span_from(buf, part, 8, 6, 210999, 0); /* now 150999: u not due yet, the others are */
    struct ts_trace *d;
    int decided = 0;
    while ((d = ts_part_due(part)) != NULL) {
        assert_ptr_not_equal(d, u);
        ts_buffer_remove(buf, part, d);
        decided++;
    }
    assert_int_equal(decided, 2); /* traces 9 and 7 */
    span_from(buf, part, 8, 7, 211000, 0);
    assert_ptr_equal(ts_part_due(part), u);
    /* Restored (a restart re-delivering from u's first record): the same clock as before u. */
    struct ts_part *q = ts_buffer_part(buf, 1, 1);
    ts_part_restore(q, &at_u);
    assert_int_equal(ts_part_now(q), 3900);
    assert_int_equal(ts_part_max_event(q), 50000);
    /* Records without a known source raise only the max. */
    ts_part_observe_source(q, 70000, -1);
    assert_int_equal(ts_part_now(q), 70000 - 60000);
    /* max_skew 0: one watermark on the newest record, as before sources were told apart. */
    ts_buffer_set_max_skew(buf, 0);
    ts_part_observe_source(q, 70001, 0);
    assert_int_equal(ts_part_now(q), 70001);
    for (int32_t p = 0; p < BC_CLOCK_SOURCES; p++) { /* a topic's partitions never share one */
        int slot = bc_clock_slot("tracking.raw", 12, p);
        assert_true(slot >= 0 && slot < BC_CLOCK_SOURCES);
        for (int32_t o = 0; o < p; o++) {
            assert_int_not_equal(slot, bc_clock_slot("tracking.raw", 12, o));
        }
    }
    /* An expected source not seen yet counts as furthest behind: now = max - max_skew. */
    ts_buffer_set_max_skew(buf, 60000);
    struct ts_part *r = ts_buffer_part(buf, 2, 1);
    ts_part_observe_source(r, 100000, 3);
    assert_int_equal(ts_part_now(r), 100000);
    ts_buffer_expect_source(buf, 4);
    assert_int_equal(ts_part_now(r), 100000 - 60000); /* recomputed at once */
    ts_part_observe_source(r, 90000, 4);
    assert_int_equal(ts_part_now(r), 90000);
    ts_buffer_destroy(buf);
    ts_policies_destroy(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_watermark_decision_wait_and_lateness),
        cmocka_unit_test(test_root_rule),
        cmocka_unit_test(test_sources_and_max_skew),
        cmocka_unit_test(test_decision_order_hold_and_oldest),
        cmocka_unit_test(test_records_round_trip_and_accumulator),
        cmocka_unit_test(test_interleaved_records_of_any_size),
        cmocka_unit_test(test_byte_accounting_is_exact),
        cmocka_unit_test(test_overhead_per_span),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
