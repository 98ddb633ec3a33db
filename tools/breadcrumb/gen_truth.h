/*
 * The generator's ground truth (gen_truth.c): what a correct pipeline must output for what
 * the generator produced. The engine (gen.c) reports each item once, when it schedules it;
 * records are reported again when emitted (their position in the topic). The JSON format is
 * documented in README.md, section generator.
 */
#ifndef BC_GEN_TRUTH_H
#define BC_GEN_TRUTH_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "tools/breadcrumb/gen.h"

/* A growable list of 32-hex-digit event ids. Zero-initialized is empty. */
struct gen_idlist {
    char (*hex)[33];
    size_t len, cap;
};
void gen_idlist_add_hex(struct gen_idlist *list, const char *hex);
void gen_idlist_free(struct gen_idlist *list);

/* The sinks of the default routing, first match in this order. */
enum gen_sink {
    GEN_SINK_SECURITY,
    GEN_SINK_BILLING,
    GEN_SINK_TRACES,
    GEN_SINK_LOGS,
    GEN_SINK_DEFAULT,
    GEN_SINKS
};

struct gen_truth;

struct gen_truth *gen_truth_new(const struct bc_gen_options *opts);
void gen_truth_destroy(struct gen_truth *truth); /* NULL is a no-op */
/* The truth as a new JSON object. */
json_t *gen_truth_json(struct gen_truth *truth);

void gen_truth_good_record(struct gen_truth *truth);
void gen_truth_bad_record(struct gen_truth *truth);
void gen_truth_bad_span(struct gen_truth *truth);
void gen_truth_trace_count(struct gen_truth *truth);
/* First copies of spans (their event ids). */
void gen_truth_spans(struct gen_truth *truth, const struct gen_idlist *ids);
/* A first copy of a log record: its event id, or NULL when it has no log.record.uid. */
void gen_truth_log(struct gen_truth *truth, const char *hex, int security);
/* A first copy of an event: its event id, or NULL without an idempotency key. */
void gen_truth_event(struct gen_truth *truth, const char *hex, enum gen_sink sink);
/* One more copy of an event with an idempotency key. */
void gen_truth_event_dup(struct gen_truth *truth, const char *hex);
/* A re-sent export: one more copy of each id, and of `unidentified` logs without ids. */
void gen_truth_retry(struct gen_truth *truth, int spans, const struct gen_idlist *ids,
                     int64_t unidentified);
void gen_truth_skewed(struct gen_truth *truth, const uint8_t trace_id[16],
                      const struct gen_idlist *ids, int64_t skew_ms);
void gen_truth_late(struct gen_truth *truth, const uint8_t trace_id[16], const uint8_t span_id[8],
                    int64_t delay_ms);
/* A trace that must be kept (error, slow) or has orphans (missing_parent non-NULL).
 * span_ids (the spans sent, hex) and orphans (hex) are borrowed. */
void gen_truth_trace(struct gen_truth *truth, const uint8_t trace_id[16], int error, int slow,
                     int64_t duration_ms, json_t *span_ids, const uint8_t *missing_parent,
                     json_t *orphans);
/* Every trace: how many of its spans were sent. */
void gen_truth_trace_spans(struct gen_truth *truth, const uint8_t trace_id[16], int64_t spans);
void gen_truth_pii(struct gen_truth *truth, const char *kind, const char *value);
void gen_truth_deploy(struct gen_truth *truth, const char *service);
/* A raw record was emitted at rec->index. */
void gen_truth_emitted(struct gen_truth *truth, const struct bc_gen_record *rec);

#endif
