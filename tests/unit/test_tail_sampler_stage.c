/*
 * The tail-sampler stage in-process on librdkafka's mock cluster: TrackingEvents of
 * interleaved traces (errors, slow ones, late spans, logs following their trace) in, whole
 * traces out with their deciding policy, a Fate for every span not kept, idle decisions for
 * the quiet tail, and a restart that re-delivers everything (the mock stores no
 * transactional offsets) and emits nothing twice: the decisions store says what was
 * emitted. Exactly-once across kill -9 is the integration test's job (tests/integration/
 * 09xx) on breadcrumb-broker.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "bc_avro.h"
#include "bc_config.h"
#include "bc_event.h"
#include "bc_log.h"
#include "bc_runtime.h"
#include "mock_cluster.h"

extern const struct bc_stage tail_sampler_stage;
extern const struct bc_worker_type bc_tail_sampler_type;

#define PARTITIONS 2
#define TRACES 400
#define T0_NS 1795000000000000000LL /* event times, 2026-11-17 */

static char schemas_dir[4200]; /* absolute */

struct fixture {
    struct mock_cluster mc;
    struct bc_avro_registry *reg;
    const struct bc_avro_schema *schema;
};

/* The input's ground truth. */
struct truth {
    int spans[TRACES];
    int error[TRACES], slow[TRACES];
    int records;      /* everything produced */
    int total_spans;
    int logs_with_trace, logs_without;
};
static struct truth truth;

static void trace_hex(int i, char out[33])
{
    snprintf(out, 33, "%016x%016x", 0xabc00000u + (unsigned)i, (unsigned)(i * 2654435761u));
}

struct pending {
    int64_t end_ns;
    int trace, index, kind; /* kind 0 span, 1 log with trace, 2 log without */
    int late;
};

static int by_end(const void *a, const void *b)
{
    const struct pending *x = a, *y = b;
    if (x->late != y->late) {
        return x->late - y->late;
    }
    return x->end_ns < y->end_ns ? -1 : x->end_ns > y->end_ns;
}

static size_t padding; /* bytes of an extra attribute per span (to fill the buffer) */

static void encode(struct fixture *fx, avro_value_t *ev, const struct pending *p,
                   struct bc_avro_buf *buf)
{
    char trace[33], span[17], parent[17], event_id[33];
    trace_hex(p->trace, trace);
    snprintf(span, sizeof(span), "%08x%08x", (unsigned)p->trace, (unsigned)p->index + 1);
    snprintf(parent, sizeof(parent), "%08x%08x", (unsigned)p->trace, 1u);
    snprintf(event_id, sizeof(event_id), "%016x%016x", (unsigned)p->trace,
             (unsigned)(p->index * 8 + p->kind));
    int64_t start = T0_NS + (int64_t)p->trace * 100000000LL;
    assert_int_equal(bc_event_clear(ev), 0);
    bc_event_set_string(ev, BC_EV_EVENT_ID, event_id, 32);
    bc_event_set_enum(ev, BC_EV_KIND, p->kind == 0 ? BC_EVENT_SPAN : BC_EVENT_LOG);
    if (p->kind != 2) {
        bc_event_set_string(ev, BC_EV_TRACE_ID, trace, 32);
    }
    if (p->kind == 0) {
        bc_event_set_string(ev, BC_EV_SPAN_ID, span, 16);
        if (p->index > 0) {
            bc_event_set_string(ev, BC_EV_PARENT_SPAN_ID, parent, 16);
        }
    }
    bc_event_set_string(ev, BC_EV_NAME, "op", 2);
    bc_event_set_string(ev, BC_EV_SERVICE, "checkout", 8);
    bc_event_set_long(ev, BC_EV_START_TIME_NS, p->kind == 0 ? start : p->end_ns);
    bc_event_set_long(ev, BC_EV_END_TIME_NS, p->end_ns);
    int error = p->kind == 0 && truth.error[p->trace] && p->index == 0;
    bc_event_set_status(ev, error ? BC_STATUS_ERROR : BC_STATUS_OK, "", 0);
    bc_event_set_source(ev, "raw", 0, p->trace, p->index);
    avro_value_t attrs, any;
    bc_event_field(ev, BC_EV_ATTRIBUTES, &attrs);
    bc_event_kv_append(&attrs, "http.route", 10, &any);
    bc_any_set_string(&any, "/checkout", 9);
    if (padding > 0) {
        static char pad[4096];
        memset(pad, 'p', sizeof(pad));
        bc_event_kv_append(&attrs, "padding", 7, &any);
        bc_any_set_string(&any, pad, padding < sizeof(pad) ? padding : sizeof(pad));
    }
    char errstr[256];
    if (bc_avro_encode(fx->schema, ev, buf, errstr, sizeof(errstr)) != 0) {
        fail_msg("encode: %s", errstr);
    }
}

/* Produces TRACES traces of 1-8 spans, one starting every 100 ms of event time; spans
 * ordered by end time (so traces interleave); every 20th trace has an error root, the next
 * a 3 s root; in every 50th the last span arrives after everything else (its trace already
 * decided); every 10th trace has a log following it; a few logs have no trace. */
static void produce_input(struct fixture *fx, const char *topic)
{
    memset(&truth, 0, sizeof(truth));
    struct pending *all = calloc(TRACES * 12, sizeof(*all));
    size_t n = 0;
    for (int i = 0; i < TRACES; i++) {
        truth.spans[i] = 1 + (i * 7) % 8;
        truth.error[i] = i % 20 == 0;
        truth.slow[i] = i % 20 == 1;
        int64_t start = T0_NS + (int64_t)i * 100000000LL;
        int64_t root_ms = truth.slow[i] ? 3000 : 50 + (i % 9) * 40;
        for (int k = 0; k < truth.spans[i]; k++) {
            int64_t end = start + (k == 0 ? root_ms : 10 + k * 5) * 1000000LL;
            int late = k == truth.spans[i] - 1 && k > 0 && i % 50 == 0;
            all[n++] = (struct pending){end, i, k, 0, late};
            truth.total_spans++;
        }
        if (i % 10 == 5) {
            all[n++] = (struct pending){start + 20000000LL, i, 9, 1, 0};
            truth.logs_with_trace++;
        }
        if (i % 100 == 7) {
            all[n++] = (struct pending){start + 30000000LL, i, 10, 2, 0};
            truth.logs_without++;
        }
    }
    qsort(all, n, sizeof(*all), by_end);
    truth.records = (int)n;
    rd_kafka_t *p = mock_producer_new(&fx->mc, topic);
    avro_value_t ev;
    assert_int_equal(bc_avro_value_new(fx->schema, &ev), 0);
    struct bc_avro_buf buf = {0};
    for (size_t i = 0; i < n; i++) {
        encode(fx, &ev, &all[i], &buf);
        char key[33];
        trace_hex(all[i].trace, key);
        assert_int_equal(rd_kafka_producev(p, RD_KAFKA_V_TOPIC(topic),
                                           RD_KAFKA_V_PARTITION(all[i].trace % PARTITIONS),
                                           RD_KAFKA_V_KEY(key, 32),
                                           RD_KAFKA_V_VALUE(buf.data, buf.len),
                                           RD_KAFKA_V_TIMESTAMP(all[i].end_ns / 1000000),
                                           RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                           RD_KAFKA_V_END),
                         0);
    }
    mock_producer_finish(p);
    avro_value_decref(&ev);
    bc_avro_buf_free(&buf);
    free(all);
}

static int setup(void **state)
{
    static struct fixture fx;
    char err[256];
    assert_int_equal(mock_cluster_start(&fx.mc), 0);
    char root[4096];
    const char *env = getenv("BC_ROOT");
    assert_non_null(realpath(env != NULL ? env : ".", root));
    snprintf(schemas_dir, sizeof(schemas_dir), "%s/schemas", root);
    assert_int_equal(bc_avro_registry_load(schemas_dir, &fx.reg, err, sizeof(err)), 0);
    fx.schema = bc_avro_registry_lookup(fx.reg, "TrackingEvent");
    assert_non_null(fx.schema);
    *state = &fx;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fx = *state;
    mock_cluster_stop(&fx->mc);
    bc_avro_registry_destroy(fx->reg);
    return 0;
}

static const char *options_yaml = "options:\n"
                                  "  decision_wait: 2s\n"
                                  "  allowed_lateness: 1s\n"
                                  "  idle_timeout: 3s\n"
                                  "  non_span: follow\n"
                                  "  policies:\n"
                                  "    - {name: errors, type: status_code, status_codes: [ERROR]}\n"
                                  "    - {name: slow, type: latency, threshold: 2s}\n"
                                  "    - {name: baseline, type: probabilistic, percentage: 30}\n";

struct run {
    struct bc_yaml *doc;
    struct bc_values *options;
    struct bc_runtime *rt;
};

/* Topic names of one test: "<prefix>in", "<prefix>sampled", pipeline "<prefix>p". */
static char t_in[32], t_sampled[32], t_pipeline[32], t_fates[32], t_dlq[32], t_changelog[64];

static void names(const char *prefix)
{
    snprintf(t_in, sizeof(t_in), "%sin", prefix);
    snprintf(t_sampled, sizeof(t_sampled), "%ssampled", prefix);
    snprintf(t_pipeline, sizeof(t_pipeline), "%sp", prefix);
    snprintf(t_fates, sizeof(t_fates), "%sp.fates", prefix);
    snprintf(t_dlq, sizeof(t_dlq), "%sp.dlq", prefix);
    snprintf(t_changelog, sizeof(t_changelog), "%sp.w.decisions.changelog", prefix);
}

static void topics_create(struct fixture *fx, const char *prefix)
{
    names(prefix);
    const char *const topics[] = {t_in, t_sampled, t_fates, t_dlq, t_changelog};
    mock_topics_create(&fx->mc, "", topics, sizeof(topics) / sizeof(topics[0]), PARTITIONS);
}

static void run_new(struct fixture *fx, struct run *r, const char *yaml)
{
    struct bc_errors errs = {0};
    r->doc = bc_yaml_load_string("o.yaml", yaml, strlen(yaml), &errs);
    assert_non_null(r->doc);
    struct bc_check ck = {.path = "options", .errs = &errs};
    r->options = bc_options_validate(&ck, bc_node_get(r->doc->root, "options"), "options",
                                     bc_tail_sampler_type.options, NULL);
    if (errs.n > 0) {
        fail_msg("options: %s", errs.v[0].message);
    }
    static const char *inputs[1], *outputs[1];
    static char output[64];
    snprintf(output, sizeof(output), "sampled=%s", t_sampled);
    inputs[0] = t_in;
    outputs[0] = output;
    struct bc_runtime_settings s = {
        .pipeline = t_pipeline,
        .worker = "w",
        .instance = "i1",
        .brokers = fx->mc.brokers,
        .inputs = inputs,
        .input_count = 1,
        .outputs = outputs,
        .output_count = 1,
        .dlq_topic = t_dlq,
        .fates_topic = t_fates,
        .commit_interval_ms = 50,
        .max_batch = 200,
        .tick_interval_ms = 50,
        .options = r->options,
        .schemas_dir = schemas_dir,
    };
    s.kafka = mock_kafka_settings(&s.kafka_count);
    char errstr[256];
    r->rt = bc_runtime_new(&tail_sampler_stage, &s, errstr, sizeof(errstr));
    if (r->rt == NULL) {
        fail_msg("bc_runtime_new: %s", errstr);
    }
}

static void run_free(struct run *r)
{
    bc_runtime_destroy(r->rt);
    bc_values_destroy(r->options);
    bc_yaml_destroy(r->doc);
}

/* Every input accounted for: consumed, and outputs plus Fates cover every record. */
static int until_all(void *opaque, const struct bc_runtime *rt)
{
    (void)opaque;
    struct bc_runtime_stats st;
    bc_runtime_stats(rt, &st);
    return st.committed >= (uint64_t)truth.records &&
           st.emitted + st.fates >= (uint64_t)truth.records;
}

static int until_consumed(void *opaque, const struct bc_runtime *rt)
{
    (void)opaque;
    struct bc_runtime_stats st;
    bc_runtime_stats(rt, &st);
    return st.processed >= (uint64_t)truth.records;
}

/* What came out. */
struct out {
    int kept[TRACES];        /* spans of the trace on `sampled` */
    int logs_kept[TRACES];
    int by_policy[3];        /* errors, slow, baseline: traces */
    int duplicates;
    int passthrough;
    int bad_sampling;
    char *seen_spans;        /* span ids seen, for duplicates: TRACES * 16 flags */
    int fates, fates_with_policy;
    int strict;      /* check each trace's policy against the truth */
    int early_spans; /* spans flagged decided_early */
};
static struct out out;
static struct fixture *cur;

static void on_sampled(const rd_kafka_message_t *msg)
{
    avro_value_t ev;
    assert_int_equal(bc_avro_value_new(cur->schema, &ev), 0);
    char errstr[256];
    assert_int_equal(bc_avro_decode(cur->reg, cur->schema, msg->payload, msg->len, &ev, errstr,
                                    sizeof(errstr)),
                     0);
    json_t *j = bc_avro_to_json(cur->schema, &ev, 0);
    avro_value_decref(&ev);
    const char *trace = json_string_value(json_object_get(j, "trace_id"));
    const char *kind = json_string_value(json_object_get(j, "kind"));
    if (trace == NULL) {
        out.passthrough++;
        json_decref(j);
        return;
    }
    unsigned id = 0;
    assert_int_equal(sscanf(trace + 8, "%8x", &id), 1);
    id -= 0xabc00000u;
    assert_true(id < TRACES);
    if (strcmp(kind, "LOG") == 0) {
        out.logs_kept[id]++;
        json_decref(j);
        return;
    }
    const char *span = json_string_value(json_object_get(j, "span_id"));
    unsigned index = (unsigned)strtoul(span + 8, NULL, 16) - 1;
    assert_true(index < 16);
    if (out.seen_spans[id * 16 + index]++) {
        out.duplicates++;
    }
    out.kept[id]++;
    json_t *flags = json_object_get(j, "flags");
    for (size_t f = 0; f < json_array_size(flags); f++) {
        out.early_spans += strcmp(json_string_value(json_array_get(flags, f)), "decided_early") == 0;
    }
    json_t *sampling = json_object_get(j, "sampling");
    const char *policy = json_string_value(json_object_get(sampling, "policy"));
    double prob = json_real_value(json_object_get(sampling, "probability"));
    const char *want = truth.error[id] ? "errors" : truth.slow[id] ? "slow" : "baseline";
    if (!out.strict) {
        want = policy != NULL ? policy : "";
    }
    if (policy == NULL || strcmp(policy, want) != 0 ||
        prob != (strcmp(want, "baseline") == 0 ? 0.3 : 1.0)) {
        out.bad_sampling++;
    } else if (out.kept[id] == 1) {
        out.by_policy[truth.error[id] ? 0 : truth.slow[id] ? 1 : 2]++;
    }
    json_decref(j);
}

/* Counts Fates (Avro) of kind sampled_out naming the policy "" (no policy matched). */
static void on_fate(const rd_kafka_message_t *msg)
{
    out.fates++;
    const struct bc_avro_schema *fs = bc_avro_registry_lookup(cur->reg, "Fate");
    avro_value_t v;
    assert_int_equal(bc_avro_value_new(fs, &v), 0);
    char errstr[256];
    assert_int_equal(bc_avro_decode(cur->reg, fs, msg->payload, msg->len, &v, errstr,
                                    sizeof(errstr)),
                     0);
    json_t *j = bc_avro_to_json(fs, &v, 0);
    avro_value_decref(&v);
    const char *fate = json_string_value(json_object_get(j, "fate"));
    const char *policy = json_string_value(json_object_get(j, "policy"));
    if (fate != NULL && strcmp(fate, "sampled_out") == 0 && policy != NULL &&
        policy[0] == '\0') {
        out.fates_with_policy++;
    }
    json_decref(j);
}

static int consume_all(struct fixture *fx, const char *topic,
                       void (*fn)(const rd_kafka_message_t *msg))
{
    return mock_consume_all(&fx->mc, topic, PARTITIONS, fn);
}

static void test_tail_sampler_keeps_whole_traces_and_restarts_without_repeats(void **state)
{
    struct fixture *fx = *state;
    cur = fx;
    topics_create(fx, "w.");
    padding = 0;
    produce_input(fx, t_in);

    struct run r;
    run_new(fx, &r, options_yaml);
    struct bc_runtime_hooks hooks = {.until = until_all, .timeout_ms = 60000};
    assert_int_equal(bc_runtime_run(r.rt, &hooks), BC_EXIT_OK);
    struct bc_runtime_stats st;
    bc_runtime_stats(r.rt, &st);
    run_free(&r);
    assert_int_equal(st.dead_letters, 0);
    assert_int_equal(st.emitted + st.fates, (uint64_t)truth.records);

    memset(&out, 0, sizeof(out));
    out.strict = 1;
    out.seen_spans = calloc(TRACES * 16, 1);
    int sampled = consume_all(fx, t_sampled, on_sampled);
    int fates = consume_all(fx, t_fates, on_fate);
    assert_int_equal(out.duplicates, 0);
    assert_int_equal(out.bad_sampling, 0);
    assert_int_equal(out.passthrough, truth.logs_without);
    int kept_spans = 0, kept_logs = 0, other = 0;
    for (int i = 0; i < TRACES; i++) {
        if (truth.error[i] || truth.slow[i]) {
            assert_int_equal(out.kept[i], truth.spans[i]); /* whole, late span included */
        }
        /* A trace is kept whole or not at all, its log with it. */
        assert_true(out.kept[i] == 0 || out.kept[i] == truth.spans[i]);
        if (i % 10 == 5) {
            assert_int_equal(out.logs_kept[i], out.kept[i] > 0 ? 1 : 0);
        }
        kept_spans += out.kept[i];
        kept_logs += out.logs_kept[i];
        other += !truth.error[i] && !truth.slow[i];
    }
    assert_int_equal(out.by_policy[0], TRACES / 20);
    assert_int_equal(out.by_policy[1], TRACES / 20);
    /* 30% of the other 360 traces: sd 8.7, allow 4 sd. */
    assert_in_range(out.by_policy[2], other * 30 / 100 - 35, other * 30 / 100 + 35);
    assert_int_equal(sampled + fates, truth.records);
    assert_int_equal(sampled, kept_spans + kept_logs + truth.logs_without);
    assert_int_equal(fates, truth.total_spans - kept_spans + truth.logs_with_trace - kept_logs);
    assert_int_equal(out.fates_with_policy, fates);

    /* A restart: the mock forgot the committed offsets, so every record comes again. The
     * decisions store knows what was emitted (spans by emitted_upto, logs passed through by
     * handled_upto): nothing is written twice. */
    run_new(fx, &r, options_yaml);
    hooks.until = until_consumed;
    assert_int_equal(bc_runtime_run(r.rt, &hooks), BC_EXIT_OK);
    bc_runtime_stats(r.rt, &st);
    run_free(&r);
    assert_true(st.processed >= (uint64_t)truth.records);
    assert_int_equal(st.fates, 0);
    assert_int_equal(st.emitted, 0);
    free(out.seen_spans);
}

static const char *early_yaml = "options:\n"
                                "  decision_wait: 8s\n"
                                "  allowed_lateness: 1s\n"
                                "  idle_timeout: 3s\n"
                                "  max_buffer_bytes: 1MiB\n"
                                "  non_span: follow\n"
                                "  policies:\n"
                                "    - {name: errors, type: status_code, status_codes: [ERROR]}\n"
                                "    - {name: baseline, type: probabilistic, percentage: 30}\n";

/* Spans of 3 KiB and an 8 s decision_wait need about 2 MiB of buffer: with 1 MiB the oldest
 * traces are decided early; traces still stay whole (later spans follow the decision) and
 * every record is accounted for exactly once. */
static void test_tail_sampler_full_buffer_decides_early(void **state)
{
    struct fixture *fx = *state;
    cur = fx;
    topics_create(fx, "e.");
    padding = 3000;
    produce_input(fx, t_in);
    padding = 0;
    struct run r;
    run_new(fx, &r, early_yaml);
    struct bc_runtime_hooks hooks = {.until = until_all, .timeout_ms = 60000};
    assert_int_equal(bc_runtime_run(r.rt, &hooks), BC_EXIT_OK);
    struct bc_runtime_stats st;
    bc_runtime_stats(r.rt, &st);
    run_free(&r);
    assert_int_equal(st.dead_letters, 0);
    assert_int_equal(st.emitted + st.fates, (uint64_t)truth.records);
    memset(&out, 0, sizeof(out));
    out.seen_spans = calloc(TRACES * 16, 1);
    int sampled = consume_all(fx, t_sampled, on_sampled);
    int fates = consume_all(fx, t_fates, NULL);
    assert_int_equal(out.duplicates, 0);
    assert_int_equal(out.bad_sampling, 0);
    assert_int_equal(sampled + fates, truth.records);
    for (int i = 0; i < TRACES; i++) {
        assert_true(out.kept[i] == 0 || out.kept[i] == truth.spans[i]);
    }
    assert_true(out.early_spans > 0);
    free(out.seen_spans);
}

int main(void)
{
    bc_log_setup("test_tail_sampler_stage",
                 getenv("BC_TEST_VERBOSE") ? BC_LOG_DEBUG : BC_LOG_ERROR, BC_LOG_LOGFMT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tail_sampler_keeps_whole_traces_and_restarts_without_repeats),
        cmocka_unit_test(test_tail_sampler_full_buffer_decides_early),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
