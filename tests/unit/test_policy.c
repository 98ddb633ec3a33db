/* Tail-sampler policies (workers/tail_sampler/policy.c): compile errors with positions, every
 * policy type, inversion, the and/drop combinators, precedence in first_match and all modes,
 * limiters as a per-partition share of a global budget, and the trace-id hash. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bc_config.h"
#include "workers/tail_sampler/policy.h"

struct errs {
    int n;
    char first[512];
    int line, column;
};

static void report(void *opaque, const struct bc_node *at, const char *message)
{
    struct errs *e = opaque;
    if (e->n++ == 0) {
        snprintf(e->first, sizeof(e->first), "%s", message);
        e->line = at != NULL ? at->pos.line : 0;
        e->column = at != NULL ? at->pos.column : 0;
    }
}

/* Compiles `policies:` from YAML text; the document stays alive in *doc. */
static struct ts_policies *compile(const char *yaml, enum ts_mode mode, struct errs *e,
                                   struct bc_yaml **doc)
{
    struct bc_errors errs = {0};
    *doc = bc_yaml_load_string("p.yaml", yaml, strlen(yaml), &errs);
    assert_non_null(*doc);
    assert_int_equal(errs.n, 0);
    struct ts_policies *p = NULL;
    memset(e, 0, sizeof(*e));
    int n = ts_policies_compile(bc_node_get((*doc)->root, "policies"), mode, report, e, &p);
    assert_int_equal(n, e->n);
    return p;
}

static struct ts_policies *must(const char *yaml, enum ts_mode mode)
{
    struct errs e;
    struct bc_yaml *doc;
    struct ts_policies *p = compile(yaml, mode, &e, &doc);
    if (p == NULL) {
        fail_msg("compile failed: %s", e.first);
    }
    bc_yaml_destroy(doc); /* the compiled policies own copies of everything */
    return p;
}

/* A trace built span by span. */
struct trace {
    struct ts_acc *acc;
    uint8_t id[16];
    struct ts_bucket buckets[4];
};

static void trace_init(struct trace *t, const struct ts_policies *p, uint8_t id_byte)
{
    t->acc = malloc(ts_acc_size(p));
    ts_acc_init(p, t->acc);
    memset(t->id, id_byte, 16);
    memset(t->buckets, 0, sizeof(t->buckets));
}

static void add(struct trace *t, const struct ts_policies *p, int status, int64_t start_ms,
                int64_t end_ms, const struct ts_attr *attrs, size_t n)
{
    struct ts_span s = {.status = status,
                        .start_ns = start_ms * 1000000,
                        .end_ns = end_ms * 1000000,
                        .bytes = 100,
                        .attrs = attrs,
                        .attr_count = n};
    ts_acc_add(p, t->acc, &s);
}

static struct ts_decision decide(struct trace *t, const struct ts_policies *p)
{
    struct ts_decision d;
    ts_decide(p, t->acc, t->id, t->buckets, 1, &d);
    return d;
}

static void test_compile_errors_have_positions(void **state)
{
    (void)state;
    struct errs e;
    struct bc_yaml *doc;
    assert_null(compile("policies:\n"
                        "  - name: a\n"
                        "    type: latency\n"
                        "    threshold: soon\n",
                        TS_FIRST_MATCH, &e, &doc));
    assert_int_equal(e.n, 1);
    assert_int_equal(e.line, 4);
    assert_int_equal(e.column, 16);
    assert_non_null(strstr(e.first, "threshold must be a duration"));
    bc_yaml_destroy(doc);

    assert_null(compile("policies:\n"
                        "  - {name: a, type: sometimes}\n"
                        "  - {name: b, type: status_code, status_codes: [ERROR, BAD]}\n"
                        "  - {name: c, type: string_attribute, key: k, values: ['('], regex: true}\n"
                        "  - {name: d, type: probabilistic, percentage: 101}\n"
                        "  - {name: e, type: and, policies: [{name: x, type: drop, "
                        "policies: [{name: y, type: always_sample}]}]}\n"
                        "  - {name: f, type: numeric_attribute, key: n}\n"
                        "  - {name: g, type: span_count, min_spans: 5, max_spans: 2}\n"
                        "  - {name: h, type: rate_limiting, spans_per_second: 10, burst: 3}\n"
                        "  - {name: h, type: always_sample}\n",
                        TS_FIRST_MATCH, &e, &doc));
    assert_int_equal(e.n, 9);
    assert_int_equal(e.line, 2);
    assert_non_null(strstr(e.first, "unknown policy type 'sometimes'"));
    bc_yaml_destroy(doc);

    assert_null(compile("policies: []\n", TS_ALL, &e, &doc));
    assert_int_equal(e.n, 1);
    bc_yaml_destroy(doc);
}

static void test_always_and_none(void **state)
{
    (void)state;
    struct ts_policies *p = must("policies: [{name: all, type: always_sample}]\n", TS_ALL);
    struct trace t;
    trace_init(&t, p, 1);
    add(&t, p, 0, 0, 10, NULL, 0);
    struct ts_decision d = decide(&t, p);
    assert_true(d.sampled);
    assert_string_equal(d.policy, "all");
    assert_true(d.probability == 1.0);
    free(t.acc);
    ts_policies_destroy(p);

    p = must("policies: [{name: err, type: status_code, status_codes: [ERROR]}]\n", TS_ALL);
    trace_init(&t, p, 1);
    add(&t, p, 1, 0, 10, NULL, 0);
    d = decide(&t, p);
    assert_false(d.sampled);
    assert_string_equal(d.policy, "");
    assert_int_equal(d.verdict, TS_NOT_SAMPLED);
    free(t.acc);
    ts_policies_destroy(p);
}

static void test_status_code(void **state)
{
    (void)state;
    struct ts_policies *p =
        must("policies: [{name: err, type: status_code, status_codes: [ERROR, UNSET]}]\n", TS_ALL);
    struct trace t;
    trace_init(&t, p, 1);
    add(&t, p, 1, 0, 10, NULL, 0); /* OK */
    assert_false(decide(&t, p).sampled);
    add(&t, p, 2, 0, 10, NULL, 0); /* ERROR in a later span */
    add(&t, p, 1, 0, 10, NULL, 0);
    assert_true(decide(&t, p).sampled);
    free(t.acc);
    trace_init(&t, p, 1);
    add(&t, p, 0, 0, 10, NULL, 0); /* UNSET */
    assert_true(decide(&t, p).sampled);
    free(t.acc);
    ts_policies_destroy(p);
}

/* Attributes are read only by attribute predicates, wherever they sit: the sampler then
 * decodes them (tail_sampler.c decode()). */
static void test_read_attributes(void **state)
{
    (void)state;
    struct ts_policies *p = must("policies:\n"
                                 "  - {name: e, type: status_code, status_codes: [ERROR]}\n"
                                 "  - {name: s, type: latency, threshold: 2s}\n"
                                 "  - {name: b, type: probabilistic, percentage: 10}\n",
                                 TS_FIRST_MATCH);
    assert_int_equal(ts_policies_read_attributes(p), 0);
    ts_policies_destroy(p);
    p = must("policies:\n"
             "  - {name: e, type: status_code, status_codes: [ERROR]}\n"
             "  - {name: a, type: and, policies: [{name: x, type: numeric_attribute, key: n, "
             "min: 1}, {name: y, type: always_sample}]}\n",
             TS_FIRST_MATCH);
    assert_int_equal(ts_policies_read_attributes(p), 1);
    ts_policies_destroy(p);
}

static void test_latency(void **state)
{
    (void)state;
    struct ts_policies *p = must("policies: [{name: slow, type: latency, threshold: 2s}]\n", TS_ALL);
    struct trace t;
    trace_init(&t, p, 1);
    add(&t, p, 0, 1000, 2000, NULL, 0);
    add(&t, p, 0, 1500, 2999, NULL, 0);
    assert_false(decide(&t, p).sampled); /* 1999 ms */
    add(&t, p, 0, 2500, 3000, NULL, 0);  /* earliest start to latest end: exactly 2 s */
    assert_true(decide(&t, p).sampled);
    free(t.acc);
    ts_policies_destroy(p);

    p = must("policies: [{name: band, type: latency, threshold: 1s, upper_threshold: 2s}]\n",
             TS_ALL);
    trace_init(&t, p, 1);
    add(&t, p, 0, 0, 2000, NULL, 0);
    assert_true(decide(&t, p).sampled);
    add(&t, p, 0, 0, 2001, NULL, 0);
    assert_false(decide(&t, p).sampled);
    free(t.acc);
    ts_policies_destroy(p);
}

static void test_string_attribute(void **state)
{
    (void)state;
    struct ts_policies *p = must("policies:\n"
                                 "  - name: checkout\n"
                                 "    type: string_attribute\n"
                                 "    key: http.route\n"
                                 "    values: [/checkout, /pay]\n",
                                 TS_ALL);
    struct ts_attr other = {.key = "http.route", .type = TS_ATTR_STRING, .s = "/checkout/x"};
    struct ts_attr hit = {.key = "http.route", .type = TS_ATTR_STRING, .s = "/pay"};
    struct ts_attr wrong_key = {.key = "route", .type = TS_ATTR_STRING, .s = "/pay"};
    struct ts_attr wrong_type = {.key = "http.route", .type = TS_ATTR_LONG, .i = 1};
    struct trace t;
    trace_init(&t, p, 1);
    add(&t, p, 0, 0, 1, &other, 1);
    add(&t, p, 0, 0, 1, &wrong_key, 1);
    add(&t, p, 0, 0, 1, &wrong_type, 1);
    assert_false(decide(&t, p).sampled); /* exact match only */
    add(&t, p, 0, 0, 1, &hit, 1);
    assert_true(decide(&t, p).sampled);
    free(t.acc);
    ts_policies_destroy(p);

    p = must("policies:\n"
             "  - {name: re, type: string_attribute, key: http.route, values: ['^/checkout'], "
             "regex: true}\n",
             TS_ALL);
    trace_init(&t, p, 1);
    add(&t, p, 0, 0, 1, &hit, 1);
    assert_false(decide(&t, p).sampled);
    add(&t, p, 0, 0, 1, &other, 1);
    assert_true(decide(&t, p).sampled);
    free(t.acc);
    ts_policies_destroy(p);
}

static void test_invert(void **state)
{
    (void)state;
    /* OpenTelemetry's precedence: inverted-not-sampled beats sampled; inverted-sampled
     * samples only when nothing else decided. */
    struct ts_policies *p = must("policies:\n"
                                 "  - {name: not-health, type: string_attribute, key: http.route, "
                                 "values: [/health], invert: true}\n"
                                 "  - {name: all, type: always_sample}\n",
                                 TS_ALL);
    struct ts_attr health = {.key = "http.route", .type = TS_ATTR_STRING, .s = "/health"};
    struct trace t;
    trace_init(&t, p, 1);
    add(&t, p, 0, 0, 1, NULL, 0);
    struct ts_decision d = decide(&t, p);
    assert_true(d.sampled);
    assert_string_equal(d.policy, "all"); /* sampled outranks inverted-sampled */
    add(&t, p, 0, 0, 1, &health, 1);
    d = decide(&t, p);
    assert_false(d.sampled);
    assert_int_equal(d.verdict, TS_INVERT_NOT_SAMPLED);
    assert_string_equal(d.policy, "not-health");
    free(t.acc);
    ts_policies_destroy(p);

    p = must("policies:\n"
             "  - {name: not-health, type: string_attribute, key: http.route, "
             "values: [/health], invert: true}\n",
             TS_ALL);
    trace_init(&t, p, 1);
    add(&t, p, 0, 0, 1, NULL, 0);
    d = decide(&t, p);
    assert_true(d.sampled);
    assert_int_equal(d.verdict, TS_INVERT_SAMPLED);
    free(t.acc);
    ts_policies_destroy(p);
}

static void test_numeric_and_boolean(void **state)
{
    (void)state;
    struct ts_policies *p = must("policies:\n"
                                 "  - {name: big, type: numeric_attribute, key: amount, min: 100, "
                                 "max: 500}\n"
                                 "  - {name: vip, type: boolean_attribute, key: vip, value: true}\n",
                                 TS_ALL);
    struct ts_attr small = {.key = "amount", .type = TS_ATTR_LONG, .i = 99};
    struct ts_attr big = {.key = "amount", .type = TS_ATTR_DOUBLE, .d = 500.0};
    struct ts_attr huge = {.key = "amount", .type = TS_ATTR_LONG, .i = 501};
    struct ts_attr notvip = {.key = "vip", .type = TS_ATTR_BOOL, .i = 0};
    struct ts_attr vip = {.key = "vip", .type = TS_ATTR_BOOL, .i = 1};
    struct ts_attr vip_string = {.key = "vip", .type = TS_ATTR_STRING, .s = "true"};
    struct trace t;
    trace_init(&t, p, 1);
    struct ts_attr a1[] = {small, notvip, vip_string};
    add(&t, p, 0, 0, 1, a1, 3);
    add(&t, p, 0, 0, 1, &huge, 1);
    assert_false(decide(&t, p).sampled);
    add(&t, p, 0, 0, 1, &big, 1);
    assert_string_equal(decide(&t, p).policy, "big");
    free(t.acc);
    trace_init(&t, p, 1);
    add(&t, p, 0, 0, 1, &vip, 1);
    assert_string_equal(decide(&t, p).policy, "vip");
    free(t.acc);
    ts_policies_destroy(p);

    p = must("policies: [{name: lo, type: numeric_attribute, key: amount, max: 10, invert: true}]\n",
             TS_ALL);
    trace_init(&t, p, 1);
    add(&t, p, 0, 0, 1, &small, 1);
    assert_true(decide(&t, p).sampled); /* no span has amount <= 10 */
    struct ts_attr tiny = {.key = "amount", .type = TS_ATTR_LONG, .i = -3};
    add(&t, p, 0, 0, 1, &tiny, 1);
    assert_false(decide(&t, p).sampled);
    free(t.acc);
    ts_policies_destroy(p);
}

static void test_probabilistic(void **state)
{
    (void)state;
    struct ts_policies *p =
        must("policies: [{name: ten, type: probabilistic, percentage: 10}]\n", TS_ALL);
    struct ts_policies *salted =
        must("policies: [{name: ten, type: probabilistic, percentage: 10, hash_salt: s}]\n", TS_ALL);
    struct ts_acc *acc = malloc(ts_acc_size(p));
    ts_acc_init(p, acc);
    int kept = 0, kept_salted = 0, differ = 0;
    const int n = 20000;
    for (int i = 0; i < n; i++) {
        uint8_t id[16] = {0};
        memcpy(id, &i, sizeof(i));
        id[15] = 0x5a;
        struct ts_decision d, d2, d3;
        ts_decide(p, acc, id, NULL, 1, &d);
        ts_decide(p, acc, id, NULL, 1, &d2);
        ts_decide(salted, acc, id, NULL, 1, &d3);
        assert_int_equal(d.sampled, d2.sampled); /* never random */
        kept += d.sampled;
        kept_salted += d3.sampled;
        differ += d.sampled != d3.sampled;
        if (d.sampled) {
            assert_true(d.probability == 0.1);
        }
    }
    /* 10% of 20,000 = 2,000; a binomial's sd is 42: allow 5 sd. */
    assert_in_range(kept, 1790, 2210);
    assert_in_range(kept_salted, 1790, 2210);
    assert_true(differ > 1000); /* the salt picks another subset */
    free(acc);
    ts_policies_destroy(p);
    ts_policies_destroy(salted);

    p = must("policies: [{name: none, type: probabilistic, percentage: 0}, "
             "{name: every, type: probabilistic, percentage: 100}]\n",
             TS_FIRST_MATCH);
    acc = malloc(ts_acc_size(p));
    ts_acc_init(p, acc);
    uint8_t ff[16];
    memset(ff, 0xff, 16);
    struct ts_decision d;
    ts_decide(p, acc, ff, NULL, 1, &d);
    assert_string_equal(d.policy, "every");
    assert_true(d.probability == 1.0);
    free(acc);
    ts_policies_destroy(p);
}

static void test_rate_limiting_share(void **state)
{
    (void)state;
    /* 12 spans/s over 3 partitions: each partition grants 4 spans per event-time second. */
    struct ts_policies *p =
        must("policies: [{name: rate, type: rate_limiting, spans_per_second: 12}]\n", TS_ALL);
    struct ts_bucket bucket = {0, 0};
    int granted = 0;
    for (int i = 0; i < 10; i++) {
        struct ts_acc *acc = malloc(ts_acc_size(p));
        ts_acc_init(p, acc);
        struct ts_span s = {.start_ns = 0, .end_ns = 5000000000LL + i, .bytes = 10};
        ts_acc_add(p, acc, &s); /* one span each, all ending in second 5 */
        uint8_t id[16] = {(uint8_t)i};
        struct ts_decision d;
        ts_decide(p, acc, id, &bucket, 3, &d);
        granted += d.sampled;
        free(acc);
    }
    assert_int_equal(granted, 4);
    assert_int_equal(bucket.second, 5);
    assert_int_equal(bucket.used, 4);
    /* The next second of event time opens a new window; an older one does not. */
    struct ts_acc *acc = malloc(ts_acc_size(p));
    ts_acc_init(p, acc);
    struct ts_span s = {.start_ns = 0, .end_ns = 4999000000LL, .bytes = 10};
    ts_acc_add(p, acc, &s);
    uint8_t id[16] = {0};
    struct ts_decision d;
    ts_decide(p, acc, id, &bucket, 3, &d);
    assert_false(d.sampled);
    ts_acc_init(p, acc);
    s.end_ns = 6000000000LL;
    ts_acc_add(p, acc, &s);
    ts_acc_add(p, acc, &s);
    ts_decide(p, acc, id, &bucket, 3, &d);
    assert_true(d.sampled);
    assert_int_equal(bucket.used, 2);
    free(acc);
    ts_policies_destroy(p);
}

static void test_bytes_limiting_and_span_count(void **state)
{
    (void)state;
    struct ts_policies *p =
        must("policies:\n"
             "  - {name: bytes, type: bytes_limiting, bytes_per_second: 1KiB}\n",
             TS_ALL);
    struct ts_bucket bucket = {0, 0};
    struct trace t;
    trace_init(&t, p, 1);
    for (int i = 0; i < 10; i++) {
        add(&t, p, 0, 0, 1, NULL, 0); /* 1,000 bytes */
    }
    struct ts_decision d;
    ts_decide(p, t.acc, t.id, &bucket, 1, &d);
    assert_true(d.sampled);
    ts_decide(p, t.acc, t.id, &bucket, 1, &d);
    assert_false(d.sampled); /* 2,000 > 1,024 */
    ts_decide(p, t.acc, t.id, &bucket, 2, &d);
    assert_false(d.sampled);
    free(t.acc);
    ts_policies_destroy(p);

    p = must("policies: [{name: mid, type: span_count, min_spans: 2, max_spans: 3}]\n", TS_ALL);
    trace_init(&t, p, 1);
    add(&t, p, 0, 0, 1, NULL, 0);
    assert_false(decide(&t, p).sampled);
    add(&t, p, 0, 0, 1, NULL, 0);
    assert_true(decide(&t, p).sampled);
    add(&t, p, 0, 0, 1, NULL, 0);
    add(&t, p, 0, 0, 1, NULL, 0);
    assert_false(decide(&t, p).sampled);
    free(t.acc);
    ts_policies_destroy(p);
}

static void test_and(void **state)
{
    (void)state;
    struct ts_policies *p = must("policies:\n"
                                 "  - name: slow-checkout\n"
                                 "    type: and\n"
                                 "    policies:\n"
                                 "      - {name: slow, type: latency, threshold: 1s}\n"
                                 "      - {name: co, type: string_attribute, key: svc, "
                                 "values: [checkout]}\n"
                                 "      - {name: half, type: probabilistic, percentage: 100}\n",
                                 TS_ALL);
    struct ts_attr co = {.key = "svc", .type = TS_ATTR_STRING, .s = "checkout"};
    struct trace t;
    trace_init(&t, p, 1);
    add(&t, p, 0, 0, 2000, NULL, 0);
    assert_false(decide(&t, p).sampled);
    add(&t, p, 0, 0, 10, &co, 1);
    struct ts_decision d = decide(&t, p);
    assert_true(d.sampled);
    assert_string_equal(d.policy, "slow-checkout");
    free(t.acc);
    ts_policies_destroy(p);
}

static void test_drop_wins(void **state)
{
    (void)state;
    const char *yaml = "policies:\n"
                       "  - {name: errors, type: status_code, status_codes: [ERROR]}\n"
                       "  - name: no-health\n"
                       "    type: drop\n"
                       "    policies:\n"
                       "      - {name: h, type: string_attribute, key: http.route, "
                       "values: [/health]}\n";
    struct ts_attr health = {.key = "http.route", .type = TS_ATTR_STRING, .s = "/health"};
    for (int mode = 0; mode < 2; mode++) {
        struct ts_policies *p = must(yaml, (enum ts_mode)mode);
        struct trace t;
        trace_init(&t, p, 1);
        add(&t, p, 2, 0, 1, NULL, 0);
        assert_string_equal(decide(&t, p).policy, "errors");
        add(&t, p, 0, 0, 1, &health, 1);
        struct ts_decision d = decide(&t, p);
        assert_false(d.sampled);
        assert_int_equal(d.verdict, TS_DROPPED);
        assert_string_equal(d.policy, "no-health");
        free(t.acc);
        ts_policies_destroy(p);
    }
}

static void test_first_match_versus_all(void **state)
{
    (void)state;
    /* first_match stops at the first sampling policy: the rate limiter after it grants
     * nothing. all evaluates every policy: the limiter spends its budget too. */
    const char *yaml = "policies:\n"
                       "  - {name: errors, type: status_code, status_codes: [ERROR]}\n"
                       "  - {name: rate, type: rate_limiting, spans_per_second: 100}\n";
    struct ts_policies *first = must(yaml, TS_FIRST_MATCH);
    struct ts_policies *all = must(yaml, TS_ALL);
    struct trace t1, t2;
    trace_init(&t1, first, 1);
    trace_init(&t2, all, 1);
    add(&t1, first, 2, 0, 1, NULL, 0);
    add(&t2, all, 2, 0, 1, NULL, 0);
    struct ts_decision d1 = decide(&t1, first), d2 = decide(&t2, all);
    assert_string_equal(d1.policy, "errors");
    assert_string_equal(d2.policy, "errors");
    assert_int_equal(t1.buckets[0].used, 0);
    assert_int_equal(t2.buckets[0].used, 1);
    free(t1.acc);
    free(t2.acc);
    ts_policies_destroy(first);
    ts_policies_destroy(all);
}

/* `breadcrumb validate` runs the same compiler through the worker type's option hook: the
 * errors carry the topology's file:line:column and the option's path. */
static void test_topology_validation_reports_positions(void **state)
{
    (void)state;
    const char *yaml = "pipeline: shop\n"
                       "topics:\n"
                       "  shop.enriched: {}\n"
                       "  shop.sampled: {}\n"
                       "workers:\n"
                       "  ts:\n"
                       "    type: tail-sampler\n"
                       "    input: shop.enriched\n"
                       "    outputs: {sampled: shop.sampled}\n"
                       "    options:\n"
                       "      policies:\n"
                       "        - {name: ok, type: status_code, status_codes: [ERROR]}\n"
                       "        - name: bad-regex\n"
                       "          type: string_attribute\n"
                       "          key: http.route\n"
                       "          regex: true\n"
                       "          values: ['(unclosed']\n"
                       "        - name: combo\n"
                       "          type: and\n"
                       "          policies:\n"
                       "            - {name: n, type: numeric_attribute, key: x, min: ten}\n";
    struct bc_errors errs = {0};
    struct bc_config *cfg = bc_config_load_string("t.yaml", yaml, strlen(yaml), &errs);
    assert_int_equal(errs.n, 2);
    bc_errors_sort(&errs);
    assert_string_equal(errs.v[0].file, "t.yaml");
    assert_int_equal(errs.v[0].line, 17);
    assert_int_equal(errs.v[0].column, 20);
    assert_non_null(strstr(errs.v[0].message, "workers.ts.options.policies: bad regex"));
    assert_int_equal(errs.v[1].line, 21);
    assert_int_equal(errs.v[1].column, 63);
    assert_non_null(strstr(errs.v[1].message, "min must be a number, not 'ten'"));
    bc_errors_clear(&errs);
    bc_config_destroy(cfg);
}

static void test_trace_id_parse(void **state)
{
    (void)state;
    uint8_t id[16];
    assert_int_equal(ts_trace_id_parse("0123456789abcdefABCDEF0123456789", 32, id), 0);
    assert_int_equal(id[0], 0x01);
    assert_int_equal(id[7], 0xef);
    assert_int_equal(id[8], 0xab);
    assert_int_equal(id[15], 0x89);
    assert_int_equal(ts_trace_id_parse("0123456789abcdef0123456789abcdeg", 32, id), -1);
    assert_int_equal(ts_trace_id_parse("0123", 4, id), -1);
    /* Every byte value in every position: only hex digits parse, to their value. */
    char hex[33] = "00000000000000000000000000000000";
    for (int pos = 0; pos < 32; pos++) {
        for (int c = 0; c < 256; c++) {
            hex[pos] = (char)c;
            int v = c >= '0' && c <= '9'   ? c - '0'
                    : c >= 'a' && c <= 'f' ? c - 'a' + 10
                    : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                           : -1;
            assert_int_equal(ts_trace_id_parse(hex, 32, id), v < 0 ? -1 : 0);
            if (v >= 0) {
                for (int i = 0; i < 16; i++) {
                    assert_int_equal(id[i], i == pos / 2 ? (pos % 2 ? v : v << 4) : 0);
                }
            }
        }
        hex[pos] = '0';
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_compile_errors_have_positions),
        cmocka_unit_test(test_always_and_none),
        cmocka_unit_test(test_status_code),
        cmocka_unit_test(test_read_attributes),
        cmocka_unit_test(test_latency),
        cmocka_unit_test(test_string_attribute),
        cmocka_unit_test(test_invert),
        cmocka_unit_test(test_numeric_and_boolean),
        cmocka_unit_test(test_probabilistic),
        cmocka_unit_test(test_rate_limiting_share),
        cmocka_unit_test(test_bytes_limiting_and_span_count),
        cmocka_unit_test(test_and),
        cmocka_unit_test(test_drop_wins),
        cmocka_unit_test(test_first_match_versus_all),
        cmocka_unit_test(test_topology_validation_reports_positions),
        cmocka_unit_test(test_trace_id_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
