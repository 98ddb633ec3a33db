/* The generator's ground truth (gen_truth.h); format in README.md, section generator. */
#include "tools/breadcrumb/gen_truth.h"
#include "tools/breadcrumb/gen_internal.h"

#include <stdlib.h>
#include <string.h>

void gen_idlist_add_hex(struct gen_idlist *list, const char *hex)
{
    if (list->len == list->cap) {
        list->cap = list->cap ? 2 * list->cap : 64;
        list->hex = realloc(list->hex, list->cap * sizeof(*list->hex));
    }
    memcpy(list->hex[list->len++], hex, 33);
}

void gen_idlist_free(struct gen_idlist *list)
{
    free(list->hex);
    memset(list, 0, sizeof(*list));
}

static int cmp_hex(const void *a, const void *b)
{
    return memcmp(a, b, 32);
}

static void idlist_sort(struct gen_idlist *list)
{
    if (list->len > 1) {
        qsort(list->hex, list->len, sizeof(*list->hex), cmp_hex);
    }
}

enum id_kind { ID_SPAN, ID_LOG, ID_EVENT, ID_KINDS };

struct gen_truth {
    struct bc_gen_options o;
    int64_t raw, good, bad, bad_spans, retried, deploys, traces;
    int64_t items[ID_KINDS], copies[ID_KINDS];
    int64_t unidentified[ID_KINDS], unidentified_copies[ID_KINDS];
    struct gen_idlist ids[ID_KINDS];
    struct gen_idlist dups; /* one entry per extra copy */
    int64_t dlq[GEN_REASONS];
    json_t *dlq_records;
    json_t *error_traces, *slow_traces, *orphans, *late, *skewed;
    json_t *pii; /* kind -> {value: true} */
    json_t *deploys_by_service;
    json_t *trace_spans; /* trace id -> spans sent */
    int64_t sinks[GEN_SINKS];
};

struct gen_truth *gen_truth_new(const struct bc_gen_options *opts)
{
    struct gen_truth *t = calloc(1, sizeof(*t));
    t->o = *opts;
    t->dlq_records = json_array();
    t->error_traces = json_array();
    t->slow_traces = json_array();
    t->orphans = json_array();
    t->late = json_array();
    t->skewed = json_array();
    t->pii = json_pack("{s:{}, s:{}, s:{}, s:{}}", "email", "card", "ip", "bearer_token");
    t->deploys_by_service = json_object();
    t->trace_spans = json_object();
    return t;
}

void gen_truth_destroy(struct gen_truth *t)
{
    if (t == NULL) {
        return;
    }
    for (int k = 0; k < ID_KINDS; k++) {
        gen_idlist_free(&t->ids[k]);
    }
    gen_idlist_free(&t->dups);
    json_decref(t->dlq_records);
    json_decref(t->error_traces);
    json_decref(t->slow_traces);
    json_decref(t->orphans);
    json_decref(t->late);
    json_decref(t->skewed);
    json_decref(t->pii);
    json_decref(t->deploys_by_service);
    json_decref(t->trace_spans);
    free(t);
}

void gen_truth_good_record(struct gen_truth *t)
{
    t->good++;
}

void gen_truth_bad_record(struct gen_truth *t)
{
    t->bad++;
}

void gen_truth_bad_span(struct gen_truth *t)
{
    t->bad_spans++;
}

void gen_truth_trace_count(struct gen_truth *t)
{
    t->traces++;
}

void gen_truth_spans(struct gen_truth *t, const struct gen_idlist *ids)
{
    for (size_t i = 0; i < ids->len; i++) {
        gen_idlist_add_hex(&t->ids[ID_SPAN], ids->hex[i]);
    }
    t->items[ID_SPAN] += (int64_t)ids->len;
    t->copies[ID_SPAN] += (int64_t)ids->len;
    t->sinks[GEN_SINK_TRACES] += (int64_t)ids->len;
}

void gen_truth_log(struct gen_truth *t, const char *hex, int security)
{
    if (hex != NULL) {
        gen_idlist_add_hex(&t->ids[ID_LOG], hex);
    } else {
        t->unidentified[ID_LOG]++;
        t->unidentified_copies[ID_LOG]++;
    }
    t->items[ID_LOG]++;
    t->copies[ID_LOG]++;
    t->sinks[security ? GEN_SINK_SECURITY : GEN_SINK_LOGS]++;
}

void gen_truth_event(struct gen_truth *t, const char *hex, enum gen_sink sink)
{
    if (hex != NULL) {
        gen_idlist_add_hex(&t->ids[ID_EVENT], hex);
    } else {
        t->unidentified[ID_EVENT]++;
        t->unidentified_copies[ID_EVENT]++;
    }
    t->items[ID_EVENT]++;
    t->copies[ID_EVENT]++;
    t->sinks[sink]++;
}

void gen_truth_event_dup(struct gen_truth *t, const char *hex)
{
    gen_idlist_add_hex(&t->dups, hex);
    t->copies[ID_EVENT]++;
}

void gen_truth_retry(struct gen_truth *t, int spans, const struct gen_idlist *ids,
                     int64_t unidentified)
{
    int k = spans ? ID_SPAN : ID_LOG;
    for (size_t i = 0; i < ids->len; i++) {
        gen_idlist_add_hex(&t->dups, ids->hex[i]);
    }
    t->copies[k] += (int64_t)ids->len + unidentified;
    t->unidentified_copies[k] += unidentified;
    t->retried++;
    t->good++;
}

void gen_truth_skewed(struct gen_truth *t, const uint8_t trace_id[16], const struct gen_idlist *ids,
                      int64_t skew_ms)
{
    char hex[33];
    gen_hex(trace_id, 16, hex);
    json_t *list = json_array();
    for (size_t i = 0; i < ids->len; i++) {
        json_array_append_new(list, json_string(ids->hex[i]));
    }
    json_array_append_new(t->skewed, json_pack("{s:s, s:I, s:o}", "trace_id", hex, "skew_ms",
                                               (json_int_t)skew_ms, "event_ids", list));
}

void gen_truth_late(struct gen_truth *t, const uint8_t trace_id[16], const uint8_t span_id[8],
                    int64_t delay_ms)
{
    char trace[33];
    char span[17];
    gen_hex(trace_id, 16, trace);
    gen_hex(span_id, 8, span);
    json_array_append_new(t->late, json_pack("{s:s, s:s, s:I}", "trace_id", trace, "span_id", span,
                                             "after_trace_end_ms", (json_int_t)delay_ms));
}

void gen_truth_trace(struct gen_truth *t, const uint8_t trace_id[16], int error, int slow,
                     int64_t duration_ms, json_t *span_ids, const uint8_t *missing_parent,
                     json_t *orphans)
{
    char trace[33];
    gen_hex(trace_id, 16, trace);
    if (error || slow) {
        json_t *entry = json_pack("{s:s, s:I, s:I, s:O}", "trace_id", trace, "duration_ms",
                                  (json_int_t)duration_ms, "spans",
                                  (json_int_t)json_array_size(span_ids), "span_ids", span_ids);
        if (error) {
            json_array_append(t->error_traces, entry);
        }
        if (slow) {
            json_array_append(t->slow_traces, entry);
        }
        json_decref(entry);
    }
    if (missing_parent != NULL) {
        char parent[17];
        gen_hex(missing_parent, 8, parent);
        json_array_append_new(t->orphans,
                              json_pack("{s:s, s:s, s:O}", "trace_id", trace,
                                        "missing_parent_span_id", parent, "span_ids", orphans));
    }
}

void gen_truth_trace_spans(struct gen_truth *t, const uint8_t trace_id[16], int64_t spans)
{
    char hex[33];
    gen_hex(trace_id, 16, hex);
    json_object_set_new(t->trace_spans, hex, json_integer(spans));
}

void gen_truth_pii(struct gen_truth *t, const char *kind, const char *value)
{
    json_object_set_new(json_object_get(t->pii, kind), value, json_true());
}

void gen_truth_deploy(struct gen_truth *t, const char *service)
{
    t->deploys++;
    json_t *n = json_object_get(t->deploys_by_service, service);
    json_object_set_new(t->deploys_by_service, service,
                        json_integer(n != NULL ? json_integer_value(n) + 1 : 1));
}

void gen_truth_emitted(struct gen_truth *t, const struct bc_gen_record *rec)
{
    t->raw++;
    if (rec->reason == NULL) {
        return;
    }
    for (int r = 0; r < GEN_REASONS; r++) {
        if (strcmp(rec->reason, gen_reason_names[r]) == 0) {
            t->dlq[r]++;
        }
    }
    json_t *entry =
        json_pack("{s:I, s:s, s:s}", "index", (json_int_t)rec->index, "reason", rec->reason,
                  "scope", rec->kind == BC_GEN_KIND_BAD ? "record" : "span");
    if (rec->kind != BC_GEN_KIND_BAD) {
        json_object_set_new(entry, "span_index", json_integer(rec->bad_index));
    }
    if (rec->field != NULL) {
        json_object_set_new(entry, "field", json_string(rec->field));
    }
    json_object_set_new(entry, "detail", json_string(rec->detail));
    json_array_append_new(t->dlq_records, entry);
}

static json_t *ids_json(struct gen_idlist *list)
{
    idlist_sort(list);
    json_t *out = json_array();
    for (size_t i = 0; i < list->len; i++) {
        json_array_append_new(out, json_string(list->hex[i]));
    }
    return out;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static json_t *sorted_keys(json_t *set)
{
    size_t n = json_object_size(set);
    const char **keys = calloc(n + 1, sizeof(*keys));
    size_t i = 0;
    const char *key;
    json_t *value;
    json_object_foreach(set, key, value)
    {
        keys[i++] = key;
    }
    qsort(keys, n, sizeof(*keys), cmp_str);
    json_t *out = json_array();
    for (i = 0; i < n; i++) {
        json_array_append_new(out, json_string(keys[i]));
    }
    free(keys);
    return out;
}

static json_t *options_json(const struct bc_gen_options *o)
{
    json_t *j = json_object();
    json_object_set_new(j, "seed", json_integer((json_int_t)o->seed));
    json_object_set_new(j, "start_ns", json_integer(o->start_ns));
    json_object_set_new(j, "records", json_integer(o->records));
    json_object_set_new(j, "traces", json_integer(o->traces));
    json_object_set_new(j, "services", json_integer(o->services));
    json_object_set_new(j, "spans_min", json_integer(o->spans_min));
    json_object_set_new(j, "spans_max", json_integer(o->spans_max));
    json_object_set_new(j, "trace_interval_ms", json_integer(o->trace_interval_ms));
    json_object_set_new(j, "slow_ms", json_integer(o->slow_ms));
    json_object_set_new(j, "late_ms", json_integer(o->late_ms));
    json_object_set_new(j, "retry_far_ms", json_integer(o->retry_far_ms));
    json_object_set_new(j, "deploy_interval_ms", json_integer(o->deploy_interval_ms));
    json_object_set_new(j, "max_bytes", json_integer(o->max_bytes));
    json_object_set_new(j, "error_rate", json_real(o->error_rate));
    json_object_set_new(j, "slow_rate", json_real(o->slow_rate));
    json_object_set_new(j, "late_rate", json_real(o->late_rate));
    json_object_set_new(j, "orphan_rate", json_real(o->orphan_rate));
    json_object_set_new(j, "skew_rate", json_real(o->skew_rate));
    json_object_set_new(j, "retry_rate", json_real(o->retry_rate));
    json_object_set_new(j, "retry_far_share", json_real(o->retry_far_share));
    json_object_set_new(j, "dup_rate", json_real(o->dup_rate));
    json_object_set_new(j, "pii_rate", json_real(o->pii_rate));
    json_object_set_new(j, "bad_rate", json_real(o->bad_rate));
    json_object_set_new(j, "bad_span_rate", json_real(o->bad_span_rate));
    json_object_set_new(j, "log_rate", json_real(o->log_rate));
    json_object_set_new(j, "b64_ids_share", json_real(o->b64_ids_share));
    json_object_set_new(j, "enum_names_share", json_real(o->enum_names_share));
    json_object_set_new(j, "int_numbers_share", json_real(o->int_numbers_share));
    return j;
}

json_t *gen_truth_json(struct gen_truth *t)
{
    json_t *out = json_object();
    json_object_set_new(out, "format", json_string("breadcrumb-gen-truth/1"));
    json_object_set_new(out, "options", options_json(&t->o));

    json_t *counts = json_object();
    json_object_set_new(counts, "raw_records", json_integer(t->raw));
    json_object_set_new(counts, "good_records", json_integer(t->good));
    json_object_set_new(counts, "bad_records", json_integer(t->bad));
    json_object_set_new(counts, "records_with_bad_span", json_integer(t->bad_spans));
    json_object_set_new(counts, "retried_records", json_integer(t->retried));
    json_object_set_new(counts, "deploy_records", json_integer(t->deploys));
    json_object_set_new(counts, "traces", json_integer(t->traces));
    json_object_set_new(counts, "spans", json_integer(t->items[ID_SPAN]));
    json_object_set_new(counts, "span_copies", json_integer(t->copies[ID_SPAN]));
    json_object_set_new(counts, "logs", json_integer(t->items[ID_LOG]));
    json_object_set_new(counts, "log_copies", json_integer(t->copies[ID_LOG]));
    json_object_set_new(counts, "events", json_integer(t->items[ID_EVENT]));
    json_object_set_new(counts, "event_copies", json_integer(t->copies[ID_EVENT]));
    json_object_set_new(out, "counts", counts);

    json_t *ids = json_object();
    json_object_set_new(ids, "span", ids_json(&t->ids[ID_SPAN]));
    json_object_set_new(ids, "log", ids_json(&t->ids[ID_LOG]));
    json_object_set_new(ids, "event", ids_json(&t->ids[ID_EVENT]));
    json_object_set_new(out, "unique_event_ids", ids);

    json_t *without = json_object();
    json_object_set_new(without, "log",
                        json_pack("{s:I, s:I}", "unique", (json_int_t)t->unidentified[ID_LOG],
                                  "copies", (json_int_t)t->unidentified_copies[ID_LOG]));
    json_object_set_new(without, "event",
                        json_pack("{s:I, s:I}", "unique", (json_int_t)t->unidentified[ID_EVENT],
                                  "copies", (json_int_t)t->unidentified_copies[ID_EVENT]));
    json_object_set_new(out, "without_id", without);

    idlist_sort(&t->dups);
    json_t *dups = json_object();
    for (size_t i = 0; i < t->dups.len;) {
        size_t j = i;
        while (j < t->dups.len && memcmp(t->dups.hex[j], t->dups.hex[i], 32) == 0) {
            j++;
        }
        json_object_set_new(dups, t->dups.hex[i], json_integer((json_int_t)(j - i + 1)));
        i = j;
    }
    json_object_set_new(out, "duplicates", dups);

    json_t *by_reason = json_object();
    int64_t total = 0;
    for (int r = 0; r < GEN_REASONS; r++) {
        json_object_set_new(by_reason, gen_reason_names[r], json_integer(t->dlq[r]));
        total += t->dlq[r];
    }
    json_object_set_new(out, "dlq",
                        json_pack("{s:I, s:o, s:O}", "total", (json_int_t)total, "by_reason",
                                  by_reason, "records", t->dlq_records));

    json_object_set_new(out, "must_keep",
                        json_pack("{s:I, s:O, s:O}", "slow_ms", (json_int_t)t->o.slow_ms,
                                  "error_traces", t->error_traces, "slow_traces", t->slow_traces));
    json_object_set(out, "trace_spans", t->trace_spans);
    json_object_set(out, "orphans", t->orphans);
    json_object_set(out, "late_spans", t->late);
    json_object_set(out, "skewed_spans", t->skewed);

    json_t *pii = json_object();
    const char *kind;
    json_t *set;
    json_object_foreach(t->pii, kind, set)
    {
        json_object_set_new(pii, kind, sorted_keys(set));
    }
    json_object_set_new(out, "pii", pii);

    static const char *const sink_names[GEN_SINKS] = {"sink.security", "sink.billing",
                                                      "sink.traces", "sink.logs", "sink.default"};
    json_t *sinks = json_object();
    for (int s = 0; s < GEN_SINKS; s++) {
        json_object_set_new(sinks, sink_names[s], json_integer(t->sinks[s]));
    }
    json_object_set_new(out, "sinks", sinks);
    json_object_set_new(out, "deploys",
                        json_pack("{s:I, s:O}", "records", (json_int_t)t->deploys, "by_service",
                                  t->deploys_by_service));
    return out;
}
