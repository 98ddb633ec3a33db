/*
 * The generator (tools/breadcrumb/gen.h): determinism, fault rates, the shape of every good
 * payload, the stated reason of every bad one, and a truth that agrees with a recount of
 * the records themselves. TEST_GEN_SEED=N reruns the sampled tests with another seed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <xxhash.h>

#include "bc_avro.h"
#include "tools/breadcrumb/gen.h"
#include "tools/breadcrumb/gen_out.h"
#include "workers/normalizer/normalize.h"

struct rec {
    struct bc_gen_record r; /* pointers below are owned copies */
    char *key;
    unsigned char *value;
};

struct run {
    struct rec *recs;
    size_t n, cap;
    json_t *truth;
};

static void run_gen(const struct bc_gen_options *opts, struct run *run)
{
    char errstr[256];
    memset(run, 0, sizeof(*run));
    struct bc_gen *gen = bc_gen_new(opts, errstr, sizeof(errstr));
    assert_non_null(gen);
    struct bc_gen_record r;
    while (bc_gen_next(gen, &r) == 1) {
        if (run->n == run->cap) {
            run->cap = run->cap ? 2 * run->cap : 1024;
            run->recs = realloc(run->recs, run->cap * sizeof(*run->recs));
        }
        struct rec *c = &run->recs[run->n++];
        c->r = r;
        c->key = r.key != NULL ? strdup(r.key) : NULL;
        c->value = malloc(r.value_len + 1);
        memcpy(c->value, r.value, r.value_len);
        c->value[r.value_len] = '\0';
        c->r.key = c->key;
        c->r.value = c->value;
    }
    run->truth = bc_gen_truth(gen);
    bc_gen_destroy(gen);
}

static void run_free(struct run *run)
{
    for (size_t i = 0; i < run->n; i++) {
        free(run->recs[i].key);
        free(run->recs[i].value);
    }
    free(run->recs);
    json_decref(run->truth);
}

/* A hash of everything a run produced: records (topic, key, value, timestamp) and truth. */
static uint64_t run_hash(const struct run *run)
{
    XXH3_state_t *st = XXH3_createState();
    XXH3_64bits_reset(st);
    for (size_t i = 0; i < run->n; i++) {
        const struct bc_gen_record *r = &run->recs[i].r;
        XXH3_64bits_update(st, &r->topic, sizeof(r->topic));
        XXH3_64bits_update(st, r->key != NULL ? r->key : "(null)",
                           r->key != NULL ? strlen(r->key) : 6);
        XXH3_64bits_update(st, r->value, r->value_len);
        XXH3_64bits_update(st, &r->timestamp_ms, sizeof(r->timestamp_ms));
    }
    char *truth = json_dumps(run->truth, JSON_COMPACT);
    XXH3_64bits_update(st, truth, strlen(truth));
    free(truth);
    uint64_t h = XXH3_64bits_digest(st);
    XXH3_freeState(st);
    return h;
}

static void test_gen_same_seed_same_bytes(void **state)
{
    (void)state;
    struct bc_gen_options o;
    bc_gen_options_init(&o);
    o.records = 3000;
    o.seed = 7;
    struct run a, b, c;
    run_gen(&o, &a);
    run_gen(&o, &b);
    o.seed = 8;
    run_gen(&o, &c);
    assert_true(a.n >= 3000);
    assert_int_equal(a.n, b.n);
    assert_true(run_hash(&a) == run_hash(&b));
    assert_true(run_hash(&a) != run_hash(&c));
    /* Output order is time order, per topic. */
    int64_t last[2] = {INT64_MIN, INT64_MIN};
    for (size_t i = 0; i < a.n; i++) {
        assert_true(a.recs[i].r.timestamp_ms >= last[a.recs[i].r.topic]);
        last[a.recs[i].r.topic] = a.recs[i].r.timestamp_ms;
    }
    run_free(&a);
    run_free(&b);
    run_free(&c);
}

static void test_gen_event_id_contract(void **state)
{
    (void)state;
    /* "span\0" + trace id bytes + span id bytes, XXH3_128, canonical (big-endian) hex. */
    uint8_t material[24];
    for (int i = 0; i < 24; i++) {
        material[i] = (uint8_t)(i + 1);
    }
    uint8_t buf[5 + 24];
    memcpy(buf, "span", 5);
    memcpy(buf + 5, material, 24);
    XXH128_canonical_t canon;
    XXH128_canonicalFromHash(&canon, XXH3_128bits(buf, sizeof(buf)));
    char want[33];
    for (int i = 0; i < 16; i++) {
        snprintf(want + 2 * i, 3, "%02x", canon.digest[i]);
    }
    char got[33];
    bc_gen_event_id("span", material, 24, got);
    assert_string_equal(got, want);
    XXH128_hash_t h = XXH3_128bits(buf, sizeof(buf));
    char direct[33];
    snprintf(direct, sizeof(direct), "%016llx%016llx", (unsigned long long)h.high64,
             (unsigned long long)h.low64);
    assert_string_equal(got, direct);
}

/* ---- checkers, independent of the generator's code ---- */

static int utf8_valid(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        size_t len;
        uint32_t cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            len = 2;
            cp = c & 0x1F;
        } else if ((c & 0xF0) == 0xE0) {
            len = 3;
            cp = c & 0x0F;
        } else if ((c & 0xF8) == 0xF0) {
            len = 4;
            cp = c & 0x07;
        } else {
            return 0;
        }
        if (i + len > n) {
            return 0;
        }
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80) {
                return 0;
            }
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
            (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF) {
            return 0;
        }
        i += len;
    }
    return 1;
}

/* Decodes an OTLP id (hex, or base64 as exporters send it) of n bytes; 0 when invalid. */
static int decode_id(json_t *j, size_t n, uint8_t *out)
{
    const char *s = json_string_value(j);
    if (s == NULL) {
        return 0;
    }
    size_t len = strlen(s);
    if (len == 2 * n) {
        for (size_t i = 0; i < n; i++) {
            unsigned v;
            if (sscanf(s + 2 * i, "%2x", &v) != 1 || !strchr("0123456789abcdefABCDEF", s[2 * i]) ||
                !strchr("0123456789abcdefABCDEF", s[2 * i + 1])) {
                return 0;
            }
            out[i] = (uint8_t)v;
        }
    } else if (len == 4 * ((n + 2) / 3)) {
        uint8_t buf[64];
        if (EVP_DecodeBlock(buf, (const unsigned char *)s, (int)len) < (int)n) {
            return 0;
        }
        memcpy(out, buf, n);
    } else {
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        if (out[i] != 0) {
            return 1;
        }
    }
    return 0; /* all zero */
}

static int valid_nanos(json_t *j, int64_t *out)
{
    if (json_is_integer(j)) {
        *out = json_integer_value(j);
        return *out > 0;
    }
    const char *s = json_string_value(j);
    if (s == NULL || *s == '\0') {
        return 0;
    }
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9') {
            return 0;
        }
    }
    *out = strtoll(s, NULL, 10);
    return 1;
}

static int valid_enum(json_t *j, int max, const char *prefix)
{
    if (json_is_integer(j)) {
        return json_integer_value(j) >= 0 && json_integer_value(j) <= max;
    }
    const char *s = json_string_value(j);
    if (s == NULL || strncmp(s, prefix, strlen(prefix)) != 0) {
        return 0;
    }
    static const char *const known[] = {
        "SPAN_KIND_UNSPECIFIED", "SPAN_KIND_INTERNAL", "SPAN_KIND_SERVER",
        "SPAN_KIND_CLIENT",      "SPAN_KIND_PRODUCER", "SPAN_KIND_CONSUMER",
        "STATUS_CODE_UNSET",     "STATUS_CODE_OK",     "STATUS_CODE_ERROR"};
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
        if (strcmp(s, known[i]) == 0) {
            return 1;
        }
    }
    return strncmp(s, "SEVERITY_NUMBER_", 16) == 0;
}

/* Why a span is bad (a DLQ reason), or NULL when it is good. */
static const char *span_fault(json_t *span, const char **field)
{
    uint8_t id[16];
    int64_t start, end;
    static const char *const ids[] = {"traceId", "spanId"};
    for (int i = 0; i < 2; i++) {
        *field = ids[i];
        if (json_object_get(span, ids[i]) == NULL) {
            return "missing_field";
        }
        if (!decode_id(json_object_get(span, ids[i]), i == 0 ? 16 : 8, id)) {
            return "invalid_id";
        }
    }
    *field = "name";
    if (!json_is_string(json_object_get(span, "name"))) {
        return "wrong_type";
    }
    *field = "attributes";
    if (!json_is_array(json_object_get(span, "attributes"))) {
        return "wrong_type";
    }
    *field = "startTimeUnixNano";
    if (!valid_nanos(json_object_get(span, "startTimeUnixNano"), &start)) {
        return "invalid_timestamp";
    }
    *field = "endTimeUnixNano";
    if (!valid_nanos(json_object_get(span, "endTimeUnixNano"), &end) || end < start) {
        return "invalid_timestamp";
    }
    *field = "kind";
    if (!valid_enum(json_object_get(span, "kind"), 5, "SPAN_KIND_")) {
        return "invalid_enum";
    }
    json_t *code = json_object_get(json_object_get(span, "status"), "code");
    *field = "status";
    if (code != NULL && !valid_enum(code, 2, "STATUS_CODE_")) {
        return "invalid_enum";
    }
    json_t *parent = json_object_get(span, "parentSpanId");
    *field = "parentSpanId";
    if (parent != NULL && strcmp(json_string_value(parent), "") != 0 && !decode_id(parent, 8, id)) {
        return "invalid_id";
    }
    *field = NULL;
    return NULL;
}

static json_t *first_list(json_t *doc, const char *outer, const char *scopes, const char *items)
{
    json_t *rs = json_array_get(json_object_get(doc, outer), 0);
    json_t *ss = json_array_get(json_object_get(rs, scopes), 0);
    return json_object_get(ss, items);
}

static const char *attr_string(json_t *attrs, const char *key)
{
    size_t i;
    json_t *kv;
    json_array_foreach(attrs, i, kv)
    {
        if (strcmp(json_string_value(json_object_get(kv, "key")), key) == 0) {
            return json_string_value(json_object_get(json_object_get(kv, "value"), "stringValue"));
        }
    }
    return NULL;
}

static int has_attr(json_t *attrs, const char *key)
{
    size_t i;
    json_t *kv;
    json_array_foreach(attrs, i, kv)
    {
        if (strcmp(json_string_value(json_object_get(kv, "key")), key) == 0) {
            return 1;
        }
    }
    return 0;
}

static int valid_event_time(json_t *t)
{
    int64_t ns;
    if (valid_nanos(t, &ns)) {
        return 1;
    }
    const char *s = json_string_value(t);
    if (s == NULL) {
        return 0;
    }
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    const char *end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    return end != NULL && (strcmp(end, "Z") == 0 || (end[0] == '.' && end[strlen(end) - 1] == 'Z'));
}

/* Why a flat event is bad, or NULL. */
static const char *event_fault(json_t *e, const char **field)
{
    static const char *const required[] = {"event", "time", "service"};
    for (int i = 0; i < 3; i++) {
        *field = required[i];
        if (json_object_get(e, required[i]) == NULL) {
            return "missing_field";
        }
    }
    *field = "service";
    if (!json_is_string(json_object_get(e, "event")) ||
        !json_is_string(json_object_get(e, "service"))) {
        return "wrong_type";
    }
    *field = "attributes";
    if (json_object_get(e, "attributes") != NULL &&
        !json_is_object(json_object_get(e, "attributes"))) {
        return "wrong_type";
    }
    *field = "time";
    if (!valid_event_time(json_object_get(e, "time"))) {
        return "invalid_timestamp";
    }
    uint8_t id[16];
    *field = "trace_id";
    if (json_object_get(e, "trace_id") != NULL &&
        !decode_id(json_object_get(e, "trace_id"), 16, id)) {
        return "invalid_id";
    }
    *field = NULL;
    return NULL;
}

static int64_t span_count_total;
static int64_t untraced_logs;

/* Checks a good record's shape; for a record with one bad span, checks that exactly that
 * span is bad, for the stated reason. */
static void check_good(const struct bc_gen_record *r)
{
    json_error_t err;
    json_t *doc = json_loadb((const char *)r->value, r->value_len, 0, &err);
    assert_non_null(doc);
    const char *field;
    if (r->kind == BC_GEN_KIND_SPANS) {
        json_t *res =
            json_object_get(json_array_get(json_object_get(doc, "resourceSpans"), 0), "resource");
        assert_non_null(attr_string(json_object_get(res, "attributes"), "service.name"));
        assert_non_null(attr_string(json_object_get(res, "attributes"), "service.version"));
        json_t *spans = first_list(doc, "resourceSpans", "scopeSpans", "spans");
        assert_true(json_array_size(spans) >= 1);
        size_t i;
        json_t *span;
        json_array_foreach(spans, i, span)
        {
            const char *fault = span_fault(span, &field);
            if ((int)i == r->bad_index) {
                assert_non_null(fault);
                assert_string_equal(fault, r->reason);
                assert_string_equal(field, r->field);
            } else {
                if (fault != NULL) {
                    fail_msg("record %lld span %zu: %s (%s)", (long long)r->index, i, fault, field);
                }
                span_count_total++;
            }
        }
    } else if (r->kind == BC_GEN_KIND_LOGS) {
        json_t *logs = first_list(doc, "resourceLogs", "scopeLogs", "logRecords");
        assert_true(json_array_size(logs) >= 1);
        size_t i;
        json_t *log;
        json_array_foreach(logs, i, log)
        {
            uint8_t id[16];
            int64_t t;
            if (json_object_get(log, "traceId") != NULL) { /* else a log outside traces */
                assert_true(decode_id(json_object_get(log, "traceId"), 16, id));
                assert_true(decode_id(json_object_get(log, "spanId"), 8, id));
            } else {
                assert_null(json_object_get(log, "spanId"));
                untraced_logs++;
            }
            assert_true(valid_nanos(json_object_get(log, "timeUnixNano"), &t));
            assert_true(valid_enum(json_object_get(log, "severityNumber"), 24, "SEVERITY_NUMBER_"));
            assert_non_null(json_object_get(log, "body"));
        }
    } else if (r->kind == BC_GEN_KIND_EVENT) {
        assert_null(event_fault(doc, &field));
        assert_non_null(json_object_get(doc, "attributes"));
    } else if (r->kind == BC_GEN_KIND_DEPLOY) {
        assert_string_equal(json_string_value(json_object_get(doc, "deploy_id")), r->key);
        assert_int_equal(strlen(json_string_value(json_object_get(doc, "commit"))), 40);
        assert_true(valid_event_time(json_object_get(doc, "deployed_at")));
        assert_non_null(json_string_value(json_object_get(doc, "version")));
    }
    json_decref(doc);
}

/* The first span or the event a field fault is in. */
static json_t *fault_target(json_t *doc)
{
    if (json_object_get(doc, "event") != NULL) {
        return doc;
    }
    return json_array_get(first_list(doc, "resourceSpans", "scopeSpans", "spans"), 0);
}

static void check_bad(const struct bc_gen_record *r, int64_t max_bytes)
{
    const char *reason = r->reason;
    assert_non_null(reason);
    assert_non_null(r->detail);
    if (strcmp(reason, "empty") == 0) {
        assert_int_equal(r->value_len, 0);
        return;
    }
    assert_true(r->value_len > 0);
    if (strcmp(reason, "oversized") == 0) {
        assert_true((int64_t)r->value_len > max_bytes);
        assert_true(utf8_valid(r->value, r->value_len));
        json_t *doc = json_loadb((const char *)r->value, r->value_len, 0, NULL);
        assert_non_null(doc); /* bad for its size only */
        json_decref(doc);
        return;
    }
    assert_true((int64_t)r->value_len <= max_bytes);
    if (strcmp(reason, "not_utf8") == 0) {
        assert_false(utf8_valid(r->value, r->value_len));
        return;
    }
    assert_true(utf8_valid(r->value, r->value_len));
    json_t *doc = json_loadb((const char *)r->value, r->value_len, 0, NULL);
    if (strcmp(reason, "invalid_json") == 0) {
        assert_null(doc);
        return;
    }
    assert_non_null(doc);
    int otlp = json_is_object(doc) && (json_object_get(doc, "resourceSpans") != NULL ||
                                       json_object_get(doc, "resourceLogs") != NULL);
    int event = json_is_object(doc) && json_object_get(doc, "event") != NULL;
    if (strcmp(reason, "unknown_format") == 0) {
        assert_false(otlp || event);
        json_decref(doc);
        return;
    }
    assert_true(otlp || event);
    json_t *t = fault_target(doc);
    const char *field = NULL;
    const char *fault = event ? event_fault(t, &field) : span_fault(t, &field);
    if (fault == NULL || strcmp(fault, reason) != 0 || strcmp(field, r->field) != 0) {
        fail_msg("record %lld stated %s/%s, checker found %s/%s", (long long)r->index, reason,
                 r->field, fault ? fault : "nothing", field ? field : "-");
    }
    json_decref(doc);
}

static void test_gen_payloads_good_and_bad(void **state)
{
    (void)state;
    struct bc_gen_options o;
    bc_gen_options_init(&o);
    o.records = 6000;
    o.seed = getenv("TEST_GEN_SEED") ? strtoull(getenv("TEST_GEN_SEED"), NULL, 10) : 11;
    o.bad_rate = 0.15; /* plenty of every reason */
    o.bad_span_rate = 0.05;
    o.max_bytes = 8192; /* small oversized records */
    struct run run;
    run_gen(&o, &run);
    int reasons_seen[16] = {0};
    static const char *const reasons[] = {
        "empty",         "not_utf8",   "oversized",  "invalid_json",      "unknown_format",
        "missing_field", "wrong_type", "invalid_id", "invalid_timestamp", "invalid_enum"};
    span_count_total = 0;
    for (size_t i = 0; i < run.n; i++) {
        const struct bc_gen_record *r = &run.recs[i].r;
        if (r->kind == BC_GEN_KIND_BAD) {
            check_bad(r, o.max_bytes);
        } else {
            check_good(r);
        }
        for (int k = 0; k < 10 && r->reason != NULL; k++) {
            reasons_seen[k] += strcmp(r->reason, reasons[k]) == 0;
        }
    }
    for (int k = 0; k < 10; k++) {
        if (reasons_seen[k] == 0) {
            fail_msg("no record bad for %s", reasons[k]);
        }
    }
    json_t *counts = json_object_get(run.truth, "counts");
    assert_int_equal(span_count_total, json_integer_value(json_object_get(counts, "span_copies")));
    assert_true(untraced_logs > 0);
    run_free(&run);
}

/* |observed - p| within 4 standard deviations (plus a little). */
static void assert_rate(const char *what, double hits, double n, double p)
{
    double sd = sqrt(p * (1 - p) / n);
    double observed = hits / n;
    if (fabs(observed - p) > 4 * sd + 0.002) {
        fail_msg("%s: %.4f observed over %.0f, want %.4f +- %.4f", what, observed, n, p, 4 * sd);
    }
}

static void test_gen_fault_rates(void **state)
{
    (void)state;
    struct bc_gen_options o;
    bc_gen_options_init(&o);
    o.traces = 3000;
    o.seed = getenv("TEST_GEN_SEED") ? strtoull(getenv("TEST_GEN_SEED"), NULL, 10) : 3;
    o.spans_min = 3;
    o.spans_max = 8;
    o.error_rate = 0.1;
    o.slow_rate = 0.1;
    o.late_rate = 0.1;
    o.orphan_rate = 0.1;
    o.skew_rate = 0.1;
    o.retry_rate = 0.1;
    o.dup_rate = 0.2;
    o.pii_rate = 0.1;
    o.bad_rate = 0.05;
    o.bad_span_rate = 0.1;
    o.b64_ids_share = 0.3;
    o.enum_names_share = 0.2;
    o.int_numbers_share = 0.1;
    struct run run;
    run_gen(&o, &run);
    json_t *t = run.truth;
    json_t *counts = json_object_get(t, "counts");
    double traces = (double)json_integer_value(json_object_get(counts, "traces"));
    assert_int_equal(traces, 3000);
    json_t *keep = json_object_get(t, "must_keep");
    assert_rate("error traces", json_array_size(json_object_get(keep, "error_traces")), traces,
                0.1);
    assert_rate("slow traces", json_array_size(json_object_get(keep, "slow_traces")), traces, 0.1);
    assert_rate("late spans", json_array_size(json_object_get(t, "late_spans")), traces,
                0.1 * (1 - 0.1 / 7)); /* the dropped span is never also the late one */
    assert_rate("orphan traces", json_array_size(json_object_get(t, "orphans")), traces, 0.1);

    double raw = 0, bad = 0, otlp = 0, retried = 0, b64 = 0, enums = 0, ints = 0;
    double billing = 0, dups = 0, nonroot = 0, skewed = 0, spans = 0, pii_spans = 0;
    double span_exports = 0, bad_span_exports = 0, retriable = 0, multi = 0;
    for (size_t i = 0; i < run.n; i++) {
        const struct bc_gen_record *r = &run.recs[i].r;
        if (r->topic != BC_GEN_TOPIC_RAW) {
            continue;
        }
        raw++;
        bad += r->kind == BC_GEN_KIND_BAD;
        if (r->kind == BC_GEN_KIND_SPANS || r->kind == BC_GEN_KIND_LOGS) {
            if (r->flags & BC_GEN_F_RETRY) {
                retried++;
                continue;
            }
            otlp++;
            retriable += (r->flags & BC_GEN_F_BAD_SPAN) == 0;
            b64 += (r->flags & BC_GEN_F_B64_IDS) != 0;
            enums += (r->flags & BC_GEN_F_ENUM_NAMES) != 0;
            ints += (r->flags & BC_GEN_F_INT_NUMBERS) != 0;
        }
        if (r->kind == BC_GEN_KIND_EVENT && strstr((const char *)r->value, "billing.charge")) {
            if (r->flags & BC_GEN_F_DUPLICATE) {
                dups++;
            } else {
                billing++;
            }
        }
        if (r->kind == BC_GEN_KIND_SPANS) {
            /* Faults are drawn per group (one service's spans of one trace); a batch may
             * hold several groups, a skewed or bad-span export only one. */
            json_t *doc = json_loadb((const char *)r->value, r->value_len, 0, NULL);
            json_t *list = first_list(doc, "resourceSpans", "scopeSpans", "spans");
            json_t *groups = json_object(); /* traceId -> has the root */
            size_t k;
            json_t *span;
            json_array_foreach(list, k, span)
            {
                if ((int)k == r->bad_index) {
                    continue;
                }
                const char *tid = json_string_value(json_object_get(span, "traceId"));
                json_t *parent = json_object_get(span, "parentSpanId");
                int root = parent == NULL || strcmp(json_string_value(parent), "") == 0;
                json_t *seen = json_object_get(groups, tid);
                json_object_set_new(groups, tid, json_boolean(root || json_is_true(seen)));
                spans++;
                json_t *attrs = json_object_get(span, "attributes");
                pii_spans += has_attr(attrs, "user.email") || has_attr(attrs, "client.address") ||
                             has_attr(attrs, "payment.card_number") ||
                             has_attr(attrs, "http.request.header.authorization");
            }
            multi += json_object_size(groups) > 1;
            span_exports += (double)json_object_size(groups);
            bad_span_exports += (r->flags & BC_GEN_F_BAD_SPAN) != 0;
            const char *tid;
            json_t *root;
            json_object_foreach(groups, tid, root)
            {
                if (!json_is_true(root)) {
                    nonroot++;
                    skewed += (r->flags & BC_GEN_F_SKEWED) != 0;
                }
            }
            json_decref(groups);
            json_decref(doc);
        }
    }
    assert_true(multi > 0); /* some exports carry spans of several traces */
    assert_rate("bad records", bad, raw, 0.05);
    assert_rate("span groups with a bad span", bad_span_exports, span_exports, 0.1);
    assert_rate("retried exports", retried, retriable, 0.1); /* never one with a bad span */
    assert_rate("base64 ids", b64, otlp, 0.3);
    assert_rate("enum names", enums, otlp, 0.2);
    assert_rate("int64 numbers", ints, otlp, 0.1);
    assert_rate("duplicate billing events", dups, billing, 0.2);
    assert_rate("skewed span groups", skewed, nonroot, 0.1);
    assert_rate("spans with PII", pii_spans, spans, 0.1);
    run_free(&run);
}

static void count_id(json_t *seen, const char *kind, const void *material, size_t len)
{
    char id[33];
    bc_gen_event_id(kind, material, len, id);
    json_t *n = json_object_get(seen, id);
    json_object_set_new(seen, id, json_integer(n != NULL ? json_integer_value(n) + 1 : 1));
}

static void assert_ids(json_t *seen, json_t *truth_ids)
{
    size_t first_copies = 0;
    size_t i;
    json_t *id;
    json_array_foreach(truth_ids, i, id)
    {
        assert_non_null(json_object_get(seen, json_string_value(id)));
        first_copies++;
    }
    assert_int_equal(first_copies, json_object_size(seen));
}

static void test_gen_truth_matches_records(void **state)
{
    (void)state;
    struct bc_gen_options o;
    bc_gen_options_init(&o);
    o.records = 4000;
    o.seed = getenv("TEST_GEN_SEED") ? strtoull(getenv("TEST_GEN_SEED"), NULL, 10) : 5;
    o.retry_rate = 0.1;
    o.dup_rate = 0.3;
    o.pii_rate = 0.1;
    o.error_rate = 0.3;  /* with orphans often enough that a lost span was a trace's only */
    o.orphan_rate = 0.3; /* failing one */
    o.late_rate = 0.05;
    struct run run;
    run_gen(&o, &run);
    json_t *t = run.truth;
    json_t *counts = json_object_get(t, "counts");

    json_t *seen = json_object(); /* event id -> copies */
    json_t *span_seen = json_object(), *log_seen = json_object(), *event_seen = json_object();
    json_t *parents = json_object();   /* "trace/span" -> parent span id hex or "" */
    json_t *late_seen = json_object(); /* "trace/span" of spans in late exports */
    json_t *error_seen = json_object(); /* trace ids with a span sent with an error status */
    int64_t raw = 0, bad = 0, deploys = 0, dlq = 0, sec = 0, billing = 0, def = 0, logs = 0;
    json_t *by_reason = json_object();
    size_t text_cap = 0;
    for (size_t i = 0; i < run.n; i++) {
        text_cap += run.recs[i].r.value_len + 1;
    }
    char *text = malloc(text_cap + 1); /* all good payloads, for the PII search */
    size_t text_len = 0;
    for (size_t i = 0; i < run.n; i++) {
        const struct bc_gen_record *r = &run.recs[i].r;
        if (r->topic == BC_GEN_TOPIC_DEPLOYS) {
            deploys++;
            continue;
        }
        assert_int_equal(r->index, raw);
        raw++;
        if (r->reason != NULL) {
            dlq++;
            json_t *n = json_object_get(by_reason, r->reason);
            json_object_set_new(by_reason, r->reason,
                                json_integer(n != NULL ? json_integer_value(n) + 1 : 1));
        }
        if (r->kind == BC_GEN_KIND_BAD) {
            bad++;
            continue;
        }
        memcpy(text + text_len, r->value, r->value_len);
        text_len += r->value_len;
        text[text_len++] = '\n';
        int first = !(r->flags & (BC_GEN_F_RETRY | BC_GEN_F_DUPLICATE));
        json_t *doc = json_loadb((const char *)r->value, r->value_len, 0, NULL);
        assert_non_null(doc);
        if (r->kind == BC_GEN_KIND_SPANS) {
            json_t *list = first_list(doc, "resourceSpans", "scopeSpans", "spans");
            size_t k;
            json_t *span;
            json_array_foreach(list, k, span)
            {
                if ((int)k == r->bad_index) {
                    continue;
                }
                uint8_t material[24];
                assert_true(decode_id(json_object_get(span, "traceId"), 16, material));
                assert_true(decode_id(json_object_get(span, "spanId"), 8, material + 16));
                count_id(seen, "span", material, 24);
                count_id(span_seen, "span", material, 24);
                char key[64];
                char parent_hex[17] = "";
                uint8_t parent[8];
                json_t *p = json_object_get(span, "parentSpanId");
                if (p != NULL && strcmp(json_string_value(p), "") != 0) {
                    assert_true(decode_id(p, 8, parent));
                    for (int b = 0; b < 8; b++) {
                        snprintf(parent_hex + 2 * b, 3, "%02x", parent[b]);
                    }
                }
                for (int b = 0; b < 16; b++) {
                    snprintf(key + 2 * b, 3, "%02x", material[b]);
                }
                key[32] = '/';
                for (int b = 0; b < 8; b++) {
                    snprintf(key + 33 + 2 * b, 3, "%02x", material[16 + b]);
                }
                json_object_set_new(parents, key, json_string(parent_hex));
                json_t *code = json_object_get(json_object_get(span, "status"), "code");
                if ((json_is_integer(code) && json_integer_value(code) == 2) ||
                    (json_is_string(code) &&
                     strcmp(json_string_value(code), "STATUS_CODE_ERROR") == 0)) {
                    char trace_hex[33];
                    memcpy(trace_hex, key, 32);
                    trace_hex[32] = '\0';
                    json_object_set_new(error_seen, trace_hex, json_true());
                }
                if (r->flags & BC_GEN_F_LATE) {
                    json_object_set_new(late_seen, key, json_true());
                }
            }
        } else if (r->kind == BC_GEN_KIND_LOGS) {
            json_t *list = first_list(doc, "resourceLogs", "scopeLogs", "logRecords");
            size_t k;
            json_t *log;
            json_array_foreach(list, k, log)
            {
                json_t *attrs = json_object_get(log, "attributes");
                const char *uid = attr_string(attrs, "log.record.uid");
                if (uid != NULL) {
                    count_id(seen, "log", uid, strlen(uid));
                    count_id(log_seen, "log", uid, strlen(uid));
                }
                if (first) {
                    if (has_attr(attrs, "security.event")) {
                        sec++;
                    } else {
                        logs++;
                    }
                }
            }
        } else {
            const char *name = json_string_value(json_object_get(doc, "event"));
            const char *key = json_string_value(
                json_object_get(json_object_get(doc, "attributes"), "idempotency_key"));
            if (key != NULL) {
                count_id(seen, "event", key, strlen(key));
                count_id(event_seen, "event", key, strlen(key));
            }
            if (first) {
                if (strcmp(name, "user.login") == 0) {
                    sec++;
                } else if (strcmp(name, "billing.charge") == 0) {
                    billing++;
                } else {
                    def++;
                }
            }
        }
        json_decref(doc);
    }
    text[text_len] = '\0';

    assert_int_equal(raw, json_integer_value(json_object_get(counts, "raw_records")));
    assert_int_equal(bad, json_integer_value(json_object_get(counts, "bad_records")));
    assert_int_equal(raw - bad, json_integer_value(json_object_get(counts, "good_records")));
    assert_int_equal(deploys, json_integer_value(json_object_get(counts, "deploy_records")));
    json_t *ids = json_object_get(t, "unique_event_ids");
    assert_ids(span_seen, json_object_get(ids, "span"));
    assert_ids(log_seen, json_object_get(ids, "log"));
    assert_ids(event_seen, json_object_get(ids, "event"));
    assert_int_equal(json_object_size(span_seen),
                     json_integer_value(json_object_get(counts, "spans")));
    /* duplicates: exactly the ids seen more than once, with their copies */
    json_t *dups = json_object_get(t, "duplicates");
    size_t ndup = 0;
    const char *id;
    json_t *n;
    json_object_foreach(seen, id, n)
    {
        if (json_integer_value(n) > 1) {
            ndup++;
            assert_int_equal(json_integer_value(json_object_get(dups, id)), json_integer_value(n));
        }
    }
    assert_int_equal(ndup, json_object_size(dups));
    assert_true(ndup > 0);
    /* DLQ */
    json_t *truth_dlq = json_object_get(t, "dlq");
    assert_int_equal(dlq, json_integer_value(json_object_get(truth_dlq, "total")));
    const char *reason;
    json_object_foreach(json_object_get(truth_dlq, "by_reason"), reason, n)
    {
        json_t *mine = json_object_get(by_reason, reason);
        assert_int_equal(json_integer_value(n), mine != NULL ? json_integer_value(mine) : 0);
    }
    assert_int_equal(json_array_size(json_object_get(truth_dlq, "records")), dlq);
    /* sinks */
    json_t *sinks = json_object_get(t, "sinks");
    assert_int_equal(json_integer_value(json_object_get(sinks, "sink.security")), sec);
    assert_int_equal(json_integer_value(json_object_get(sinks, "sink.billing")), billing);
    assert_int_equal(json_integer_value(json_object_get(sinks, "sink.default")), def);
    assert_int_equal(json_integer_value(json_object_get(sinks, "sink.logs")), logs);
    assert_int_equal(json_integer_value(json_object_get(sinks, "sink.traces")),
                     json_integer_value(json_object_get(counts, "spans")));
    /* every PII value appears in the good records, every card passes Luhn */
    json_t *pii = json_object_get(t, "pii");
    const char *kind;
    json_t *values;
    size_t total_pii = 0;
    json_object_foreach(pii, kind, values)
    {
        size_t k;
        json_t *v;
        json_array_foreach(values, k, v)
        {
            const char *s = json_string_value(v);
            if (strstr(text, s) == NULL) {
                fail_msg("%s %s is in the truth, not in the records", kind, s);
            }
            total_pii++;
            if (strcmp(kind, "card") == 0) {
                int sum = 0, pos = 0;
                for (size_t c = strlen(s); c-- > 0;) {
                    if (s[c] == ' ') {
                        continue;
                    }
                    int d = s[c] - '0';
                    if (pos++ % 2 == 1) {
                        d = d * 2 > 9 ? d * 2 - 9 : d * 2;
                    }
                    sum += d;
                }
                assert_int_equal(sum % 10, 0);
            }
        }
    }
    assert_true(total_pii > 10);
    /* must-keep traces: every listed span id was sent */
    json_t *errors = json_object_get(json_object_get(t, "must_keep"), "error_traces");
    assert_true(json_array_size(errors) > 0);
    size_t k;
    json_t *trace;
    json_array_foreach(errors, k, trace)
    {
        assert_int_equal(json_integer_value(json_object_get(trace, "spans")),
                         json_array_size(json_object_get(trace, "span_ids")));
        /* an error trace shows its error: one of its sent spans has an error status */
        assert_non_null(
            json_object_get(error_seen, json_string_value(json_object_get(trace, "trace_id"))));
    }
    json_decref(error_seen);
    /* trace_spans: every trace, with the spans sent for it */
    json_t *trace_spans = json_object_get(t, "trace_spans");
    assert_int_equal(json_object_size(trace_spans),
                     json_integer_value(json_object_get(counts, "traces")));
    json_int_t sum = 0;
    json_object_foreach(trace_spans, id, n)
    {
        sum += json_integer_value(n);
    }
    assert_int_equal(sum, json_integer_value(json_object_get(counts, "spans")));
    json_array_foreach(errors, k, trace)
    {
        json_t *listed =
            json_object_get(trace_spans, json_string_value(json_object_get(trace, "trace_id")));
        assert_int_equal(json_integer_value(listed),
                         json_integer_value(json_object_get(trace, "spans")));
    }
    json_t *per_trace = json_object(); /* recounted from the records */
    const char *span_key;
    json_object_foreach(parents, span_key, n)
    {
        char tid[33];
        memcpy(tid, span_key, 32);
        tid[32] = '\0';
        json_t *c = json_object_get(per_trace, tid);
        json_object_set_new(per_trace, tid,
                            json_integer(c != NULL ? json_integer_value(c) + 1 : 1));
    }
    assert_true(json_equal(per_trace, trace_spans));
    json_decref(per_trace);
    /* orphans: the missing parent was never sent, its listed children were */
    json_t *orphans = json_object_get(t, "orphans");
    assert_true(json_array_size(orphans) > 0);
    json_array_foreach(orphans, k, trace)
    {
        const char *tid = json_string_value(json_object_get(trace, "trace_id"));
        const char *missing = json_string_value(json_object_get(trace, "missing_parent_span_id"));
        char key[64];
        snprintf(key, sizeof(key), "%s/%s", tid, missing);
        assert_null(json_object_get(parents, key));
        size_t c;
        json_t *child;
        json_array_foreach(json_object_get(trace, "span_ids"), c, child)
        {
            snprintf(key, sizeof(key), "%s/%s", tid, json_string_value(child));
            assert_string_equal(json_string_value(json_object_get(parents, key)), missing);
        }
    }
    /* late spans came in late exports, and exactly those */
    json_t *late = json_object_get(t, "late_spans");
    assert_true(json_array_size(late) > 0);
    assert_int_equal(json_array_size(late), json_object_size(late_seen));
    json_array_foreach(late, k, trace)
    {
        char key[64];
        snprintf(key, sizeof(key), "%s/%s", json_string_value(json_object_get(trace, "trace_id")),
                 json_string_value(json_object_get(trace, "span_id")));
        assert_non_null(json_object_get(late_seen, key));
    }
    json_decref(parents);
    json_decref(late_seen);
    free(text);
    json_decref(seen);
    json_decref(span_seen);
    json_decref(log_seen);
    json_decref(event_seen);
    json_decref(by_reason);
    run_free(&run);
}

static void test_gen_every_anyvalue_type(void **state)
{
    (void)state;
    struct bc_gen_options o;
    bc_gen_options_init(&o);
    o.traces = 300;
    struct run run;
    run_gen(&o, &run);
    static const char *const types[] = {"\"stringValue\"", "\"boolValue\"",  "\"intValue\"",
                                        "\"doubleValue\"", "\"arrayValue\"", "\"kvlistValue\"",
                                        "\"bytesValue\""};
    for (size_t k = 0; k < sizeof(types) / sizeof(types[0]); k++) {
        int found = 0;
        for (size_t i = 0; i < run.n && !found; i++) {
            found = run.recs[i].r.kind == BC_GEN_KIND_SPANS &&
                    strstr((const char *)run.recs[i].value, types[k]) != NULL;
        }
        if (!found) {
            fail_msg("no span attribute of type %s", types[k]);
        }
    }
    run_free(&run);
}

static void test_gen_jsonl_line(void **state)
{
    (void)state;
    struct bc_gen_record r;
    memset(&r, 0, sizeof(r));
    r.key = "d-000001";
    r.value = (const unsigned char *)"{\"a\":1}";
    r.value_len = 7;
    r.timestamp_ms = 42;
    char *line = gen_out_line(&r);
    assert_string_equal(line,
                        "{\"key\":\"d-000001\",\"value\":\"{\\\"a\\\":1}\",\"timestamp_ms\":42}");
    free(line);
    r.key = NULL;
    r.value = (const unsigned char *)"caf\xe9";
    r.value_len = 4;
    line = gen_out_line(&r);
    assert_string_equal(line, "{\"key\":null,\"value_b64\":\"Y2Fm6Q==\",\"timestamp_ms\":42}");
    free(line);
}

static void test_gen_rejects_bad_options(void **state)
{
    (void)state;
    struct bc_gen_options o;
    char errstr[128];
    bc_gen_options_init(&o);
    o.services = 9;
    assert_null(bc_gen_new(&o, errstr, sizeof(errstr)));
    assert_non_null(strstr(errstr, "services"));
    bc_gen_options_init(&o);
    o.error_rate = 1.5;
    assert_null(bc_gen_new(&o, errstr, sizeof(errstr)));
    bc_gen_options_init(&o);
    o.spans_min = 5;
    o.spans_max = 4;
    assert_null(bc_gen_new(&o, errstr, sizeof(errstr)));
}

static void test_gen_ten_services(void **state)
{
    (void)state;
    struct bc_gen_options o;
    bc_gen_options_init(&o);
    o.services = 10;
    o.traces = 200;
    struct run run;
    run_gen(&o, &run);
    json_t *by_service = json_object_get(json_object_get(run.truth, "deploys"), "by_service");
    assert_int_equal(json_object_size(by_service), 10);
    for (size_t i = 0; i < run.n; i++) {
        const struct bc_gen_record *r = &run.recs[i].r;
        if (r->kind == BC_GEN_KIND_SPANS || r->kind == BC_GEN_KIND_LOGS) {
            json_t *doc = json_loadb((const char *)r->value, r->value_len, 0, NULL);
            json_t *rs =
                json_array_get(json_object_get(doc, r->kind == BC_GEN_KIND_SPANS ? "resourceSpans"
                                                                                 : "resourceLogs"),
                               0);
            const char *svc = attr_string(
                json_object_get(json_object_get(rs, "resource"), "attributes"), "service.name");
            assert_non_null(json_object_get(by_service, svc));
            json_decref(doc);
        }
    }
    run_free(&run);
}

/* Event ids of one kind seen by the normalizer: each id may come only once. */
struct id_set {
    json_t *seen;      /* {event_id: record index} */
    int64_t collisions;
    int64_t record;
};

static int collect_ids(void *opaque, const struct norm_outcome *o)
{
    struct id_set *ids = opaque;
    assert_non_null(o->event); /* the records fed are good ones */
    json_t *first = json_object_get(ids->seen, o->event_id);
    if (first != NULL) {
        ids->collisions++;
        if (ids->collisions <= 5) {
            fprintf(stderr, "event id %s in records %" PRId64 " and %" PRId64 "\n", o->event_id,
                    (int64_t)json_integer_value(first), ids->record);
        }
        return 0;
    }
    json_object_set_new(ids->seen, o->event_id, json_integer(ids->record));
    return 0;
}

/*
 * Distinct logs and events always differ in the normalizer's canonical content, so items
 * without an id field get as many event ids as the truth counts; only deliberate copies
 * (retried exports, duplicate billing events) share one. Many logs per span (log_rate 1) make
 * two logs of one span with the same body likely: their times must still differ.
 */
static void test_gen_distinct_items_distinct_content(void **state)
{
    (void)state;
    struct bc_gen_options o;
    bc_gen_options_init(&o);
    o.records = 4000;
    o.log_rate = 1.0;
    o.seed = getenv("TEST_GEN_SEED") ? strtoull(getenv("TEST_GEN_SEED"), NULL, 10) : 13;
    struct run run;
    run_gen(&o, &run);

    char errstr[512] = "";
    struct bc_avro_registry *reg = NULL;
    const char *root = getenv("BC_ROOT");
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s/schemas", root != NULL ? root : ".");
    assert_int_equal(bc_avro_registry_load(dir, &reg, errstr, sizeof(errstr)), 0);
    struct norm_options nopts;
    norm_options_default(&nopts);
    nopts.max_payload_bytes = (size_t)o.max_bytes;
    struct norm *norm = norm_new(reg, &nopts, errstr, sizeof(errstr));
    assert_non_null(norm);

    struct id_set logs = {.seen = json_object()}, events = {.seen = json_object()};
    for (size_t i = 0; i < run.n; i++) {
        const struct bc_gen_record *r = &run.recs[i].r;
        if (r->topic != BC_GEN_TOPIC_RAW || (r->flags & (BC_GEN_F_RETRY | BC_GEN_F_DUPLICATE))) {
            continue;
        }
        struct id_set *ids = r->kind == BC_GEN_KIND_LOGS    ? &logs
                             : r->kind == BC_GEN_KIND_EVENT ? &events
                                                            : NULL;
        if (ids == NULL) {
            continue;
        }
        ids->record = r->index;
        struct norm_input in = {.data = r->value,
                                .len = r->value_len,
                                .timestamp_ms = r->timestamp_ms,
                                .topic = "tracking.raw",
                                .offset = r->index};
        assert_int_equal(norm_process(norm, &in, collect_ids, ids, errstr, sizeof(errstr)), 0);
    }
    json_t *counts = json_object_get(run.truth, "counts");
    assert_true(json_integer_value(json_object_get(counts, "logs")) > 4000);
    assert_int_equal(logs.collisions, 0);
    assert_int_equal(events.collisions, 0);
    assert_int_equal(json_object_size(logs.seen),
                     json_integer_value(json_object_get(counts, "logs")));
    assert_int_equal(json_object_size(events.seen),
                     json_integer_value(json_object_get(counts, "events")));
    json_decref(logs.seen);
    json_decref(events.seen);
    norm_destroy(norm);
    bc_avro_registry_destroy(reg);
    run_free(&run);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gen_same_seed_same_bytes),
        cmocka_unit_test(test_gen_event_id_contract),
        cmocka_unit_test(test_gen_payloads_good_and_bad),
        cmocka_unit_test(test_gen_fault_rates),
        cmocka_unit_test(test_gen_truth_matches_records),
        cmocka_unit_test(test_gen_every_anyvalue_type),
        cmocka_unit_test(test_gen_jsonl_line),
        cmocka_unit_test(test_gen_rejects_bad_options),
        cmocka_unit_test(test_gen_ten_services),
        cmocka_unit_test(test_gen_distinct_items_distinct_content),
    };
    return cmocka_run_group_tests_name("gen", tests, NULL, NULL);
}
