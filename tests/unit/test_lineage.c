/*
 * The lineage-builder's merging and trace logic (workers/lineage_builder/lineage.c): hop
 * facts of one event merged in any order and any number of times give the same bytes; the
 * raw position is the least; hops are ordered along their from-links; a duplicate's fate
 * sits under its own path; the merged record encodes as a LineageRecord; span sets and
 * orphans.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bc_avro.h"
#include "workers/lineage_builder/lineage.h"
#include "workers/lineage_builder/openlineage.h"

#define EID "0123456789abcdef0123456789abcdef"
#define TID "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

/* The facts of one event: normalized from raw 0:5 (item 1), deduplicated into unique 2:7,
 * routed to sink.traces 1:3; a duplicate from raw 0:9 normalized at 2:11 and dropped by the
 * deduplicator as a duplicate of 2:4. */
static json_t **facts(size_t *n)
{
    static json_t *f[5];
    f[0] = lin_fact_new(EID, TID, "tracking.raw", 0, 5, 1, "tracking.normalizer", "h1",
                        "tracking.normalized", 2, 4, NULL, "from tracking.raw:0:5:1");
    f[1] = lin_fact_new(EID, NULL, NULL, 0, 0, 0, "tracking.deduplicator", "h2",
                        "tracking.unique", 2, 7, NULL, "from tracking.normalized:2:4");
    f[2] = lin_fact_new(EID, TID, NULL, 0, 0, 0, "tracking.router", "h3", "sink.traces", 1, 3,
                        NULL, "from tracking.unique:2:7");
    f[3] = lin_fact_new(EID, TID, "tracking.raw", 0, 9, 0, "tracking.normalizer", "h1",
                        "tracking.normalized", 2, 11, NULL, "from tracking.raw:0:9");
    f[4] = lin_fact_new(EID, NULL, NULL, 0, 0, 0, "tracking.deduplicator", "h2",
                        "tracking.normalized", 2, 11, "deduplicated",
                        "duplicate, first seen at tracking.normalized:2:4");
    *n = 5;
    return f;
}

static char *merged(const int *order, size_t n, int twice)
{
    size_t count;
    json_t **f = facts(&count);
    json_t *rec = lin_record_new(EID);
    for (int round = 0; round <= twice; round++) {
        for (size_t i = 0; i < n; i++) {
            assert_true(lin_merge(rec, f[order[i]]) >= 0);
        }
    }
    for (size_t i = 0; i < count; i++) {
        json_decref(f[i]);
    }
    char *text = json_dumps(rec, JSON_COMPACT);
    json_decref(rec);
    return text;
}

static void test_lineage_merge_order_independent(void **state)
{
    (void)state;
    int a[] = {0, 1, 2, 3, 4}, b[] = {4, 2, 3, 1, 0}, c[] = {2, 0, 4, 1, 3};
    char *ta = merged(a, 5, 0), *tb = merged(b, 5, 0), *tc = merged(c, 5, 1);
    assert_string_equal(ta, tb);
    assert_string_equal(ta, tc);
    json_t *rec = json_loads(ta, 0, NULL);
    /* The least raw position; the trace. */
    assert_int_equal(json_integer_value(json_object_get(json_object_get(rec, "raw"), "offset")), 5);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(rec, "raw"), "index")), 1);
    assert_string_equal(json_string_value(json_object_get(rec, "trace_id")), TID);
    /* Hops along their links: both normalizer hops (depth 0), then unique and the
     * duplicate's fate (depth 1), then the sink (depth 2). */
    json_t *hops = json_object_get(rec, "hops");
    assert_int_equal(json_array_size(hops), 5);
    json_t *h0 = json_array_get(hops, 0), *h1 = json_array_get(hops, 1);
    json_t *h2 = json_array_get(hops, 2), *h3 = json_array_get(hops, 3);
    json_t *h4 = json_array_get(hops, 4);
    assert_int_equal(json_integer_value(json_object_get(h0, "offset")), 4);
    assert_int_equal(json_integer_value(json_object_get(h1, "offset")), 11);
    assert_true(json_is_null(json_object_get(h1, "fate")));
    assert_string_equal(json_string_value(json_object_get(h2, "fate")), "deduplicated");
    assert_int_equal(json_integer_value(json_object_get(h2, "offset")), 11);
    assert_string_equal(json_string_value(json_object_get(h3, "topic")), "tracking.unique");
    assert_string_equal(json_string_value(json_object_get(h4, "topic")), "sink.traces");
    json_decref(rec);
    free(ta);
    free(tb);
    free(tc);
}

static void test_lineage_merge_idempotent(void **state)
{
    (void)state;
    size_t n;
    json_t **f = facts(&n);
    json_t *rec = lin_record_new(EID);
    assert_int_equal(lin_merge(rec, f[0]), 1);
    assert_int_equal(lin_merge(rec, f[0]), 0);
    assert_int_equal(lin_merge(rec, f[1]), 1);
    assert_int_equal(lin_merge(rec, f[1]), 0);
    json_t *bad = json_pack("{s:s, s:[{s:s}]}", "event_id", EID, "hops", "worker", "x");
    assert_int_equal(lin_merge(rec, bad), -1);
    json_decref(bad);
    for (size_t i = 0; i < n; i++) {
        json_decref(f[i]);
    }
    json_decref(rec);
}

/* A record before any raw is known, and the merged record, encode as LineageRecords. */
static void test_lineage_avro(void **state)
{
    (void)state;
    struct bc_avro_registry *reg = NULL;
    char errstr[256];
    assert_int_equal(bc_avro_registry_load("schemas", &reg, errstr, sizeof(errstr)), 0);
    const struct bc_avro_schema *schema = bc_avro_registry_lookup(reg, "LineageRecord");
    assert_non_null(schema);
    avro_value_t v;
    assert_int_equal(bc_avro_value_new(schema, &v), 0);
    struct bc_avro_buf buf = {0};
    json_t *rec = lin_record_new(EID);
    assert_int_equal(bc_avro_from_json(schema, rec, &v, errstr, sizeof(errstr)), 0);
    assert_int_equal(bc_avro_encode(schema, &v, &buf, errstr, sizeof(errstr)), 0);
    size_t n;
    json_t **f = facts(&n);
    for (size_t i = 0; i < n; i++) {
        lin_merge(rec, f[i]);
        json_decref(f[i]);
    }
    assert_int_equal(bc_avro_from_json(schema, rec, &v, errstr, sizeof(errstr)), 0);
    assert_int_equal(bc_avro_encode(schema, &v, &buf, errstr, sizeof(errstr)), 0);
    avro_value_t back;
    assert_int_equal(bc_avro_value_new(schema, &back), 0);
    assert_int_equal(bc_avro_decode(reg, schema, buf.data, buf.len, &back, errstr, sizeof(errstr)), 0);
    json_t *again = bc_avro_to_json(schema, &back, 0);
    assert_true(json_equal(again, rec));
    json_decref(again);
    json_decref(rec);
    avro_value_decref(&back);
    avro_value_decref(&v);
    bc_avro_buf_free(&buf);
    bc_avro_registry_destroy(reg);
}

static void test_lineage_pos_strip(void **state)
{
    (void)state;
    char buf[64];
    assert_int_equal(lin_pos_strip_index("t.x:1:22:3", 10, buf, sizeof(buf)), 0);
    assert_string_equal(buf, "t.x:1:22");
    assert_int_equal(lin_pos_strip_index("t.x:1:22", 8, buf, sizeof(buf)), 0);
    assert_string_equal(buf, "t.x:1:22");
    assert_int_equal(lin_pos_strip_index("t.x:1", 5, buf, sizeof(buf)), -1);
    assert_int_equal(lin_pos_strip_index("t.x:1:", 6, buf, sizeof(buf)), -1);
}

struct orphans_seen {
    int count;
    char span[17], parent[17];
};

static void on_orphan(void *opaque, const char *span, const char *parent)
{
    struct orphans_seen *s = opaque;
    s->count++;
    strcpy(s->span, span);
    strcpy(s->parent, parent);
}

static void test_lineage_trace_orphans(void **state)
{
    (void)state;
    uint8_t a[256], b[256];
    /* Complete: root, child, grandchild (arriving child first), a repeat changes nothing. */
    size_t n = lin_trace_add(NULL, 0, 2000, "2222222222222222", "1111111111111111", a, sizeof(a));
    assert_int_equal(n, LIN_TRACE_HEADER + LIN_TRACE_ENTRY);
    n = lin_trace_add(a, n, 1000, "1111111111111111", NULL, b, sizeof(b));
    assert_int_equal(lin_trace_first_ts(b, n), 1000);
    assert_int_equal(lin_trace_add(b, n, 3000, "1111111111111111", NULL, a, sizeof(a)), 0);
    n = lin_trace_add(b, n, 3000, "3333333333333333", "2222222222222222", a, sizeof(a));
    assert_int_equal(lin_trace_spans(a, n), 3);
    struct orphans_seen seen = {0};
    assert_int_equal(lin_trace_orphans(a, n, on_orphan, &seen), 0);
    assert_int_equal(seen.count, 0);
    /* Missing parent: 4444 under 9999, which never arrives. */
    n = lin_trace_add(a, n, 3500, "4444444444444444", "9999999999999999", b, sizeof(b));
    assert_int_equal(lin_trace_orphans(b, n, on_orphan, &seen), 1);
    assert_string_equal(seen.span, "4444444444444444");
    assert_string_equal(seen.parent, "9999999999999999");
    assert_int_equal(lin_trace_first_ts(b, n), 1000);
    /* Decided (kept for late spans): marked, and stays so when a span is added. */
    assert_int_equal(lin_trace_decided_at(b, n), -1);
    lin_trace_set_decided(b, n, 7000);
    assert_int_equal(lin_trace_decided_at(b, n), 7000);
    assert_true(lin_trace_has_span(b, n, "4444444444444444"));
    assert_false(lin_trace_has_span(b, n, "9999999999999999"));
    n = lin_trace_add(b, n, 500, "5555555555555555", "1111111111111111", a, sizeof(a));
    assert_int_equal(lin_trace_decided_at(a, n), 7000);
    assert_int_equal(lin_trace_spans(a, n), 5);
}

/* The orphan clock: a trace-topic partition whose records come from two sources (raw
 * partitions), the normalizer having written source A's records minutes ahead of source B's
 * (it read A's partition first). Every trace is root (A) -> child (B) -> grandchild (A);
 * trace 7 lost its child, so its grandchild is the one true orphan. A tracker as the stage's
 * (lineage_builder.c: span added, clock raised, due sweep decided, all per record) on a clock
 * of the newest timestamp alone (max_skew 0, the former behaviour) decides the traces before
 * B's children arrive: false orphans. Following the slowest source, exactly the truth, and
 * the same whatever a restart in the middle (clock saved and read back). */
#define CLK_TRACES 20
#define CLK_T0 1795000000000LL
#define CLK_WINDOW (5 * 60000LL)

struct clk_rec {
    int trace, span, parent, slot; /* span/parent: 0 root, 1 child, 2 grandchild; -1 none */
    int64_t ts;
};

struct clk_tracker {
    uint8_t sets[CLK_TRACES + 1][LIN_TRACE_HEADER + 4 * LIN_TRACE_ENTRY];
    size_t len[CLK_TRACES + 1];
    int decided[CLK_TRACES + 1];
    int orphans, orphan_trace;
};

static void clk_hex(int trace, int span, char out[17])
{
    snprintf(out, 17, "%08x%08x", 0x51000000u + (unsigned)trace, 0xa0u + (unsigned)span);
}

static size_t clk_input(struct clk_rec *in)
{
    size_t n = 0;
    /* Source A (slot 3): roots and grandchildren, one trace a minute, written first. */
    for (int t = 0; t < CLK_TRACES; t++) {
        int64_t at = CLK_T0 + t * 60000LL;
        in[n++] = (struct clk_rec){t, 0, -1, 3, at};
        in[n++] = (struct clk_rec){t, 2, 1, 3, at + 2000};
    }
    /* Source B (slot 9): the children, 1 s after their roots, written after all of A's. */
    for (int t = 0; t < CLK_TRACES; t++) {
        if (t != 7) {
            in[n++] = (struct clk_rec){t, 1, 0, 9, CLK_T0 + t * 60000LL + 1000};
        }
    }
    /* Both sources go on long after: everything above gets decided. */
    in[n++] = (struct clk_rec){CLK_TRACES, 0, -1, 3, CLK_T0 + 60 * 60000LL};
    in[n++] = (struct clk_rec){CLK_TRACES, 1, 0, 9, CLK_T0 + 60 * 60000LL + 1};
    return n;
}

static void clk_count_orphan(void *opaque, const char *span, const char *parent)
{
    struct clk_tracker *tr = opaque;
    (void)span;
    (void)parent;
    tr->orphans++;
}

static void clk_run(const struct clk_rec *in, size_t from, size_t to, struct lin_clock *clock,
                    int64_t max_skew, struct clk_tracker *tr)
{
    for (size_t i = from; i < to; i++) {
        const struct clk_rec *r = &in[i];
        char span[17], parent[17];
        clk_hex(r->trace, r->span, span);
        if (r->parent >= 0) {
            clk_hex(r->trace, r->parent, parent);
        }
        bc_clock_observe(&clock->t, r->ts, r->slot);
        uint8_t out[sizeof(tr->sets[0])];
        size_t n = lin_trace_add(tr->len[r->trace] ? tr->sets[r->trace] : NULL,
                                 tr->len[r->trace], r->ts, span, r->parent >= 0 ? parent : NULL,
                                 out, sizeof(out));
        if (n > 0) {
            memcpy(tr->sets[r->trace], out, n);
            tr->len[r->trace] = n;
        }
        int64_t cutoff = lin_clock_sweep_due(clock, CLK_WINDOW, max_skew);
        for (int t = 0; cutoff >= 0 && t <= CLK_TRACES; t++) {
            if (tr->len[t] > 0 && lin_trace_first_ts(tr->sets[t], tr->len[t]) <= cutoff) {
                int before = tr->orphans;
                lin_trace_orphans(tr->sets[t], tr->len[t], clk_count_orphan, tr);
                if (tr->orphans > before) {
                    tr->orphan_trace = t;
                }
                tr->len[t] = 0;
                tr->decided[t]++;
            }
        }
    }
}

static void test_lineage_orphan_clock(void **state)
{
    (void)state;
    struct clk_rec in[3 * CLK_TRACES + 2];
    size_t n = clk_input(in);
    struct lin_clock clock;
    struct clk_tracker *tr = calloc(1, sizeof(*tr));
    assert_non_null(tr);

    /* The newest timestamp alone: B's children come after their traces were decided. */
    lin_clock_init(&clock);
    clk_run(in, 0, n, &clock, 0, tr);
    assert_true(tr->orphans > 1);

    /* The slowest source, both expected: exactly trace 7's grandchild. */
    int restarts[] = {0, 1, 17, 40, (int)n - 1};
    for (size_t k = 0; k < sizeof(restarts) / sizeof(restarts[0]); k++) {
        memset(tr, 0, sizeof(*tr));
        lin_clock_init(&clock);
        clock.expected = 1u << 3 | 1u << 9;
        clk_run(in, 0, (size_t)restarts[k], &clock, 30 * 60000LL, tr);
        uint8_t saved[LIN_CLOCK_BYTES];
        lin_clock_encode(&clock, saved);
        struct lin_clock again;
        lin_clock_init(&again);
        again.expected = clock.expected;
        assert_int_equal(lin_clock_decode(&again, saved, sizeof(saved)), 0);
        assert_int_equal(lin_clock_decode(&again, saved, sizeof(saved) - 1), -1);
        clk_run(in, (size_t)restarts[k], n, &again, 30 * 60000LL, tr);
        assert_int_equal(tr->orphans, 1);
        assert_int_equal(tr->orphan_trace, 7);
        for (int t = 0; t < CLK_TRACES; t++) {
            assert_int_equal(tr->decided[t], 1);
        }
        assert_int_equal(tr->decided[CLK_TRACES], 0); /* the last is not due yet */
    }

    /* An expected source not seen yet holds the clock max_skew behind the newest. */
    lin_clock_init(&clock);
    clock.expected = 1u << 3 | 1u << 9;
    bc_clock_observe(&clock.t, CLK_T0, 3);
    bc_clock_observe(&clock.t, CLK_T0 + 120000, 3);
    assert_int_equal(lin_clock_now(&clock, 60000), CLK_T0 + 60000);
    bc_clock_observe(&clock.t, CLK_T0 + 100000, 9);
    assert_int_equal(lin_clock_now(&clock, 60000), CLK_T0 + 100000);
    assert_int_equal(lin_clock_now(&clock, 0), CLK_T0 + 120000);
    /* Sweeps in whole steps of the cutoff, once each. */
    assert_int_equal(lin_clock_sweep_due(&clock, 30500, 60000), CLK_T0 + 69000);
    assert_int_equal(lin_clock_sweep_due(&clock, 30500, 60000), -1);
    free(tr);
}

static const char *event_type(json_t *events, size_t i)
{
    return json_string_value(json_object_get(json_array_get(events, i), "eventType"));
}

static json_t *run_rec(const char *run_id, const char *state, int64_t time, const char *error)
{
    json_t *f = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:[s], s:[s, s]}", "kind",
                          "record", "run_id", run_id, "worker", "t.normalizer", "instance", "0",
                          "config_hash", "h1", "state", state, "time", (json_int_t)time,
                          "inputs", "t.raw", "outputs", "t.normalized", "t.dlq");
    if (error != NULL) {
        json_object_set_new(f, "error", json_string(error));
    }
    return f;
}

static json_t *seen_fact(const char *hash, const char *output, int64_t time)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:I}", "kind", "seen", "worker",
                     "t.normalizer", "instance", "0", "config_hash", hash, "input", "t.raw",
                     "output", output, "time", (json_int_t)time);
}

/* Applies fact (stolen) and returns how many events it caused (events cleared first). */
static int apply(json_t *st, int lifecycle, json_t *fact, json_t *ev)
{
    static const struct ol_namespaces ns = {.jobs = "shop", .datasets = "kafka://127.0.0.1:9"};
    json_array_clear(ev);
    int rc = ol_apply(&ns, lifecycle, st, fact, ev);
    json_decref(fact);
    assert_true(rc >= 0);
    return (int)json_array_size(ev);
}

static const char *run_id_of(json_t *events, size_t i)
{
    return json_string_value(json_object_get(json_object_get(json_array_get(events, i), "run"),
                                             "runId"));
}

static const char *error_of(json_t *events, size_t i)
{
    json_t *facets = json_object_get(json_object_get(json_array_get(events, i), "run"), "facets");
    return json_string_value(json_object_get(json_object_get(facets, "errorMessage"), "message"));
}

#define RUN_A "0b5f5a9e-4c1d-4d2e-9f00-000000000001"
#define RUN_B "0b5f5a9e-4c1d-4d2e-9f00-000000000002"
#define RUN_C "0b5f5a9e-4c1d-4d2e-9f00-000000000003"

/* With run records: START with the declared topics, RUNNING on growth, a START of the same
 * instance while its run is still running FAILs that run, stopped gives COMPLETE, failed
 * FAIL with its error; repeats and late facts of ended runs change nothing. */
static void test_lineage_openlineage_lifecycle(void **state)
{
    (void)state;
    json_t *st = json_object(), *ev = json_array();
    assert_int_equal(apply(st, 1, seen_fact("h1", "t.normalized", 900), ev), 0); /* no run yet */
    assert_int_equal(apply(st, 1, run_rec(RUN_A, "started", 1000, NULL), ev), 1);
    assert_string_equal(event_type(ev, 0), "START");
    assert_string_equal(run_id_of(ev, 0), RUN_A);
    json_t *start = json_array_get(ev, 0);
    assert_string_equal(json_string_value(json_object_get(start, "eventTime")),
                        "1970-01-01T00:00:01.000Z");
    json_t *in = json_array_get(json_object_get(start, "inputs"), 0);
    assert_string_equal(json_string_value(json_object_get(in, "namespace")), "kafka://127.0.0.1:9");
    assert_string_equal(json_string_value(json_object_get(in, "name")), "t.raw");
    assert_int_equal(json_array_size(json_object_get(start, "outputs")), 2);
    assert_int_equal(apply(st, 1, run_rec(RUN_A, "started", 1000, NULL), ev), 0); /* repeat */
    assert_int_equal(apply(st, 1, seen_fact("h1", "t.normalized", 1001), ev), 0);
    assert_int_equal(apply(st, 1, seen_fact("h1", "t.extra", 900), ev), 1);
    assert_string_equal(event_type(ev, 0), "RUNNING");
    /* Event time of an older record: the RUNNING event is not dated before the START. */
    assert_string_equal(json_string_value(json_object_get(json_array_get(ev, 0), "eventTime")),
                        "1970-01-01T00:00:01.000Z");
    json_t *jt = json_object_get(json_object_get(json_object_get(json_array_get(ev, 0), "job"),
                                                 "facets"), "jobType");
    assert_string_equal(json_string_value(json_object_get(jt, "processingType")), "STREAMING");
    assert_int_equal(json_array_size(json_object_get(json_array_get(ev, 0), "outputs")), 3);
    /* Killed: the instance starts again as RUN_B. */
    assert_int_equal(apply(st, 1, run_rec(RUN_B, "started", 2000, NULL), ev), 2);
    assert_string_equal(event_type(ev, 0), "FAIL");
    assert_string_equal(run_id_of(ev, 0), RUN_A);
    assert_non_null(strstr(error_of(ev, 0), "without a terminal record"));
    assert_string_equal(event_type(ev, 1), "START");
    assert_string_equal(run_id_of(ev, 1), RUN_B);
    /* Late facts of RUN_A change nothing; a stop of RUN_B completes it. */
    assert_int_equal(apply(st, 1, run_rec(RUN_A, "stopped", 2100, NULL), ev), 0);
    assert_int_equal(apply(st, 1, run_rec(RUN_A, "started", 2100, NULL), ev), 0);
    assert_int_equal(apply(st, 1, run_rec(RUN_B, "stopped", 3000, NULL), ev), 1);
    assert_string_equal(event_type(ev, 0), "COMPLETE");
    assert_string_equal(run_id_of(ev, 0), RUN_B);
    assert_null(error_of(ev, 0));
    assert_int_equal(apply(st, 1, run_rec(RUN_B, "stopped", 3000, NULL), ev), 0);
    assert_int_equal(apply(st, 1, seen_fact("h1", "t.other", 3001), ev), 0);
    /* A run that fails says why. */
    assert_int_equal(apply(st, 1, run_rec(RUN_C, "started", 4000, NULL), ev), 1);
    assert_int_equal(apply(st, 1, run_rec(RUN_C, "failed", 4100, "stage x failed"), ev), 1);
    assert_string_equal(event_type(ev, 0), "FAIL");
    assert_string_equal(error_of(ev, 0), "stage x failed");
    assert_int_equal(apply(st, 1, run_rec(RUN_B, "started", 4200, NULL), ev), 0);
    json_decref(ev);
    json_decref(st);
}

/* Without run records: runs inferred from records, COMPLETE then START when the instance
 * comes back with another configuration. */
static void test_lineage_openlineage_inferred(void **state)
{
    (void)state;
    json_t *st = json_object(), *ev = json_array();
    assert_int_equal(apply(st, 0, seen_fact("h1", "t.normalized", 1000), ev), 1);
    assert_string_equal(event_type(ev, 0), "START");
    assert_int_equal(apply(st, 0, seen_fact("h1", "t.normalized", 1001), ev), 0);
    assert_int_equal(apply(st, 0, seen_fact("h1", "t.dlq", 1002), ev), 1);
    assert_string_equal(event_type(ev, 0), "RUNNING");
    assert_int_equal(apply(st, 0, seen_fact("h2", "t.normalized", 2000), ev), 2);
    assert_string_equal(event_type(ev, 0), "COMPLETE");
    assert_string_equal(event_type(ev, 1), "START");
    char a[37], b[37];
    ol_run_id("t.normalizer", "0", "h1", a);
    ol_run_id("t.normalizer", "0", "h2", b);
    assert_int_equal(strlen(a), 36);
    assert_string_not_equal(a, b);
    assert_string_equal(run_id_of(ev, 0), a);
    assert_string_equal(run_id_of(ev, 1), b);
    assert_int_equal(apply(st, 0, seen_fact("h1", "t.normalized", 2001), ev), 0); /* late */
    json_decref(ev);
    json_decref(st);
}

/* A random fact of one event (a small alphabet, so that hops share positions, link up and
 * repeat): deterministic from seed. */
static int rnd(uint64_t *seed, int n)
{
    *seed = *seed * 6364136223846793005ULL + 1442695040888963407ULL;
    return (int)((*seed >> 33) % (uint64_t)n);
}

#define RND(n) rnd(seed, n)

static json_t *random_fact(uint64_t *seed)
{
    static const char *topics[] = {"tracking.normalized", "tracking.unique", "sink.traces",
                                   "tracking.fates"};
    static const char *fates[] = {NULL,      NULL,          "deduplicated", "dropped",
                                  "routed", "sampled_out", "dead_lettered"};
    static const char *workers[] = {"tracking.normalizer", "tracking.deduplicator"};
    const char *topic = topics[RND(4)];
    int partition = RND(2), offset = RND(4);
    const char *fate = fates[RND(7)];
    char detail[128];
    const char *d = detail;
    switch (RND(6)) {
    case 0:
        d = NULL;
        break;
    case 1:
        snprintf(detail, sizeof(detail), "from %s:%d:%d", topics[RND(4)], RND(2), RND(4));
        break;
    case 2:
        snprintf(detail, sizeof(detail), "from %s:%d:%d:%d", topics[RND(4)], RND(2), RND(4),
                 RND(3));
        break;
    case 3:
        /* Not as the runtime writes positions (never a parent): "01", "+1", "-0". */
        snprintf(detail, sizeof(detail), "from %s:%s:%d", topics[RND(4)],
                 RND(2) ? "01" : RND(2) ? "+1" : "-0", RND(4));
        break;
    default:
        snprintf(detail, sizeof(detail), "duplicate, first seen at x:%d:%d", RND(2), RND(4));
    }
    int has_raw = RND(3);
    char tid[40];
    snprintf(tid, sizeof(tid), "%032d", RND(3));
    const char *trace = RND(2) ? tid : NULL;
    const char *raw_topic = has_raw ? (RND(2) ? "tracking.raw" : "a.raw") : NULL;
    int raw_partition = RND(3) - 1, raw_offset = RND(5), raw_index = RND(2);
    const char *worker = workers[RND(2)], *hash = RND(2) ? "h1" : "h2";
    json_t *fact = lin_fact_new(EID, trace, raw_topic, raw_partition, raw_offset, raw_index,
                                worker, hash, topic, partition, offset, fate, d);
    /* The same fact in the stored form reads back as the same record. */
    static uint8_t *buf;
    static size_t cap;
    size_t len;
    struct lin_rec r = {0};
    assert_int_equal(lin_fact_encode(EID, trace, raw_topic, raw_partition, raw_offset, raw_index,
                                     worker, hash, topic, partition, offset, fate, d, &buf, &cap,
                                     &len),
                     0);
    assert_int_equal(lin_rec_decode(&r, buf, len), 0);
    json_t *back = lin_rec_to_json(&r);
    assert_true(json_equal(back, fact));
    json_decref(back);
    lin_rec_free(&r);
    return fact;
}

/* The worker's C records (lin_rec_*) merge exactly like lin_merge: same changes, same
 * record, the same LineageRecord bytes, and the stored form reads back the same. */
static void test_lineage_rec_equivalent(void **state)
{
    (void)state;
    struct bc_avro_registry *reg = NULL;
    char errstr[256];
    assert_int_equal(bc_avro_registry_load("schemas", &reg, errstr, sizeof(errstr)), 0);
    const struct bc_avro_schema *schema = bc_avro_registry_lookup(reg, "LineageRecord");
    assert_non_null(schema);
    avro_value_t v;
    assert_int_equal(bc_avro_value_new(schema, &v), 0);
    struct bc_avro_buf want = {0}, got = {0}, bin = {0};
    struct lin_rec rec = {0}, fact = {0}, back = {0};
    uint8_t *stored = NULL;
    size_t stored_cap = 0, stored_len;
    uint64_t seed = 42;
    for (int round = 0; round < 300; round++) {
        json_t *json = lin_record_new(EID);
        assert_int_equal(lin_rec_reset(&rec, EID), 0);
        int facts_n = 1 + round % 24; /* up to more hops than the sort keeps on the stack */
        for (int i = 0; i < facts_n; i++) {
            json_t *f = random_fact(&seed);
            assert_int_equal(lin_rec_from_json(&fact, f), 0);
            int a = lin_merge(json, f);
            /* Through the stored form, as the worker does between facts. */
            assert_int_equal(lin_rec_encode(&rec, &stored, &stored_cap, &stored_len), 0);
            assert_int_equal(lin_rec_decode(&back, stored, stored_len), 0);
            int b = lin_rec_merge(&back, &fact);
            assert_int_equal(a, b);
            assert_int_equal(lin_rec_merge(&rec, &fact), b);
            json_t *c = lin_rec_to_json(&back);
            if (!json_equal(c, json)) {
                char *x = json_dumps(c, JSON_COMPACT), *y = json_dumps(json, JSON_COMPACT);
                fail_msg("round %d fact %d:\n C    %s\n JSON %s", round, i, x, y);
            }
            json_decref(c);
            json_decref(f);
        }
        assert_int_equal(bc_avro_from_json(schema, json, &v, errstr, sizeof(errstr)), 0);
        assert_int_equal(bc_avro_encode(schema, &v, &want, errstr, sizeof(errstr)), 0);
        assert_int_equal(lin_rec_to_avro(&rec, &v, errstr, sizeof(errstr)), 0);
        assert_int_equal(bc_avro_encode(schema, &v, &got, errstr, sizeof(errstr)), 0);
        assert_int_equal(got.len, want.len);
        assert_memory_equal(got.data, want.data, want.len);
        /* Written straight from the record: the same bytes. */
        assert_int_equal(
            lin_rec_to_avro_bin(&rec, bc_avro_schema_id(schema), &bin, errstr, sizeof(errstr)), 0);
        assert_int_equal(bin.len, want.len);
        assert_memory_equal(bin.data, want.data, want.len);
        /* The JSON form earlier versions stored reads as the same record. */
        char *text = json_dumps(json, JSON_COMPACT);
        assert_int_equal(lin_rec_decode(&back, text, strlen(text)), 0);
        json_t *c = lin_rec_to_json(&back);
        assert_true(json_equal(c, json));
        json_decref(c);
        free(text);
        json_decref(json);
    }
    /* lin_rec_to_avro_bin refuses what bc_avro_encode refuses: a fate that is no FateKind, a
     * string that is not UTF-8; nothing partial is left in the buffer. */
    assert_true(rec.n_hops > 0);
    const char *fate = rec.hops[0].fate, *worker = rec.hops[0].worker;
    rec.hops[0].fate = "evaporated";
    assert_int_equal(
        lin_rec_to_avro_bin(&rec, bc_avro_schema_id(schema), &bin, errstr, sizeof(errstr)), -1);
    assert_string_equal(errstr, "hops[0].fate: not a FateKind: evaporated");
    assert_int_equal(bin.len, 0);
    rec.hops[0].fate = fate;
    rec.hops[0].worker = "bad\xff";
    assert_int_equal(
        lin_rec_to_avro_bin(&rec, bc_avro_schema_id(schema), &bin, errstr, sizeof(errstr)), -1);
    assert_string_equal(errstr, "hops[0].worker: string is not valid UTF-8");
    assert_int_equal(bin.len, 0);
    rec.hops[0].worker = worker;
    const char *eid = rec.event_id;
    rec.event_id = "\xc0\x80";
    assert_int_equal(
        lin_rec_to_avro_bin(&rec, bc_avro_schema_id(schema), &bin, errstr, sizeof(errstr)), -1);
    assert_string_equal(errstr, "event_id: string is not valid UTF-8");
    rec.event_id = eid;
    /* Malformed stored values are refused, never read past. */
    assert_int_equal(lin_rec_encode(&rec, &stored, &stored_cap, &stored_len), 0);
    for (size_t cut = 0; cut < stored_len; cut++) {
        assert_int_equal(lin_rec_decode(&back, stored, cut), -1);
    }
    assert_int_equal(lin_fact_encode(EID, NULL, NULL, 0, 0, 0, NULL, "h", "t", 0, 0, NULL, NULL,
                                     &stored, &stored_cap, &stored_len),
                     -1);
    free(stored);
    lin_rec_free(&rec);
    lin_rec_free(&fact);
    lin_rec_free(&back);
    avro_value_decref(&v);
    bc_avro_buf_free(&want);
    bc_avro_buf_free(&got);
    bc_avro_buf_free(&bin);
    bc_avro_registry_destroy(reg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lineage_merge_order_independent),
        cmocka_unit_test(test_lineage_merge_idempotent),
        cmocka_unit_test(test_lineage_avro),
        cmocka_unit_test(test_lineage_rec_equivalent),
        cmocka_unit_test(test_lineage_pos_strip),
        cmocka_unit_test(test_lineage_trace_orphans),
        cmocka_unit_test(test_lineage_orphan_clock),
        cmocka_unit_test(test_lineage_openlineage_lifecycle),
        cmocka_unit_test(test_lineage_openlineage_inferred),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
