/* Merging hop facts into LineageRecords, and trace span sets (lineage.h). */
#include "lineage.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

json_t *lin_record_new(const char *event_id)
{
    return json_pack("{s:s, s:n, s:{s:s, s:i, s:I, s:i}, s:[]}", "event_id", event_id,
                     "trace_id", "raw", "topic", "", "partition", -1, "offset", (json_int_t)-1,
                     "index", 0, "hops");
}

static json_t *str_or_null(const char *s)
{
    return s != NULL ? json_string(s) : json_null();
}

json_t *lin_fact_new(const char *event_id, const char *trace_id, const char *raw_topic,
                     int32_t raw_partition, int64_t raw_offset, int32_t raw_index,
                     const char *worker, const char *config_hash, const char *topic,
                     int32_t partition, int64_t offset, const char *fate, const char *detail)
{
    json_t *raw = raw_topic != NULL
                      ? json_pack("{s:s, s:i, s:I, s:i}", "topic", raw_topic, "partition",
                                  raw_partition, "offset", (json_int_t)raw_offset, "index",
                                  raw_index)
                      : json_null();
    json_t *hop = json_pack("{s:s, s:s, s:s, s:i, s:I, s:o, s:o}", "worker", worker,
                            "config_hash", config_hash, "topic", topic, "partition", partition,
                            "offset", (json_int_t)offset, "fate", str_or_null(fate), "detail",
                            str_or_null(detail));
    if (raw == NULL || hop == NULL) {
        json_decref(raw);
        json_decref(hop);
        return NULL;
    }
    return json_pack("{s:s, s:o, s:o, s:[o]}", "event_id", event_id, "trace_id",
                     str_or_null(trace_id), "raw", raw, "hops", hop);
}

int lin_pos_strip_index(const char *s, size_t len, char *buf, size_t cap)
{
    /* topic:partition:offset[:index]; the topic has no ':' (Kafka topic names cannot). */
    const char *c1 = memchr(s, ':', len);
    if (c1 == NULL) {
        return -1;
    }
    const char *c2 = memchr(c1 + 1, ':', len - (size_t)(c1 + 1 - s));
    if (c2 == NULL) {
        return -1;
    }
    const char *c3 = memchr(c2 + 1, ':', len - (size_t)(c2 + 1 - s));
    size_t n = c3 != NULL ? (size_t)(c3 - s) : len;
    if (n + 1 > cap || c2 + 1 == s + n) {
        return -1;
    }
    memcpy(buf, s, n);
    buf[n] = '\0';
    return 0;
}

/* Compares two raw positions; a partition < 0 (unknown) sorts last. */
static int raw_cmp(const json_t *a, const json_t *b)
{
    json_int_t pa = json_integer_value(json_object_get(a, "partition"));
    json_int_t pb = json_integer_value(json_object_get(b, "partition"));
    if ((pa < 0) != (pb < 0)) {
        return pa < 0 ? 1 : -1;
    }
    int c = strcmp(json_string_value(json_object_get(a, "topic")),
                   json_string_value(json_object_get(b, "topic")));
    if (c != 0) {
        return c;
    }
    const char *fields[] = {"partition", "offset", "index"};
    for (int i = 0; i < 3; i++) {
        json_int_t x = json_integer_value(json_object_get(a, fields[i]));
        json_int_t y = json_integer_value(json_object_get(b, fields[i]));
        if (x != y) {
            return x < y ? -1 : 1;
        }
    }
    return 0;
}

static int hop_valid(const json_t *hop)
{
    return json_is_object(hop) && json_is_string(json_object_get(hop, "worker")) &&
           json_is_string(json_object_get(hop, "config_hash")) &&
           json_is_string(json_object_get(hop, "topic")) &&
           json_is_integer(json_object_get(hop, "partition")) &&
           json_is_integer(json_object_get(hop, "offset"));
}

/* "topic:partition:offset" of a hop. */
static void hop_pos(const json_t *hop, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s:%" JSON_INTEGER_FORMAT ":%" JSON_INTEGER_FORMAT,
             json_string_value(json_object_get(hop, "topic")),
             json_integer_value(json_object_get(hop, "partition")),
             json_integer_value(json_object_get(hop, "offset")));
}

static int hop_is_fate(const json_t *hop)
{
    return json_is_string(json_object_get(hop, "fate"));
}

/* The position of a hop's parent: for an emitted hop its "from", for a fate hop its own
 * position (the record it consumed). Returns 0 or -1 (none). */
static int hop_parent_pos(const json_t *hop, char *buf, size_t cap)
{
    if (hop_is_fate(hop)) {
        hop_pos(hop, buf, cap);
        return 0;
    }
    const char *detail = json_string_value(json_object_get(hop, "detail"));
    if (detail == NULL || strncmp(detail, "from ", 5) != 0) {
        return -1;
    }
    return lin_pos_strip_index(detail + 5, strlen(detail + 5), buf, cap);
}

struct hop_sort {
    json_t *hop;
    int depth;
};

static int hop_sort_cmp(const void *pa, const void *pb)
{
    const struct hop_sort *a = pa, *b = pb;
    if (a->depth != b->depth) {
        return a->depth < b->depth ? -1 : 1;
    }
    int c = strcmp(json_string_value(json_object_get(a->hop, "topic")),
                   json_string_value(json_object_get(b->hop, "topic")));
    if (c != 0) {
        return c;
    }
    const char *fields[] = {"partition", "offset"};
    for (int i = 0; i < 2; i++) {
        json_int_t x = json_integer_value(json_object_get(a->hop, fields[i]));
        json_int_t y = json_integer_value(json_object_get(b->hop, fields[i]));
        if (x != y) {
            return x < y ? -1 : 1;
        }
    }
    if (hop_is_fate(a->hop) != hop_is_fate(b->hop)) {
        return hop_is_fate(a->hop) ? 1 : -1;
    }
    /* Last resort: the whole hop's canonical text (total order, deterministic). */
    char *ta = json_dumps(a->hop, JSON_COMPACT | JSON_SORT_KEYS);
    char *tb = json_dumps(b->hop, JSON_COMPACT | JSON_SORT_KEYS);
    c = strcmp(ta != NULL ? ta : "", tb != NULL ? tb : "");
    free(ta);
    free(tb);
    return c;
}

/* Depth of hop i: 0 without a parent among the hops, else 1 + the parent's. Bounded by
 * the number of hops (a malformed cycle cannot loop). */
static int hop_depth(json_t *hops, size_t i, size_t budget)
{
    char parent[320], pos[320];
    json_t *hop = json_array_get(hops, i);
    if (budget == 0 || hop_parent_pos(hop, parent, sizeof(parent)) != 0) {
        return 0;
    }
    for (size_t j = 0; j < json_array_size(hops); j++) {
        json_t *other = json_array_get(hops, j);
        if (j == i || hop_is_fate(other)) {
            continue;
        }
        hop_pos(other, pos, sizeof(pos));
        if (strcmp(pos, parent) == 0) {
            return 1 + hop_depth(hops, j, budget - 1);
        }
    }
    return 0;
}

static int hops_sort(json_t *hops)
{
    size_t n = json_array_size(hops);
    struct hop_sort *v = calloc(n ? n : 1, sizeof(*v));
    if (v == NULL) {
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        v[i].hop = json_incref(json_array_get(hops, i));
        v[i].depth = hop_depth(hops, i, n);
    }
    qsort(v, n, sizeof(*v), hop_sort_cmp);
    json_array_clear(hops);
    for (size_t i = 0; i < n; i++) {
        json_array_append_new(hops, v[i].hop);
    }
    free(v);
    return 0;
}

int lin_merge(json_t *record, const json_t *fact)
{
    int changed = 0;
    json_t *fact_hops = json_object_get(fact, "hops");
    if (!json_is_array(fact_hops)) {
        return -1;
    }
    json_t *trace = json_object_get(fact, "trace_id");
    if (json_is_string(trace)) {
        json_t *cur = json_object_get(record, "trace_id");
        if (!json_is_string(cur) || strcmp(json_string_value(trace), json_string_value(cur)) < 0) {
            json_object_set(record, "trace_id", trace);
            changed = 1;
        }
    }
    json_t *raw = json_object_get(fact, "raw");
    if (json_is_object(raw)) {
        if (!json_is_string(json_object_get(raw, "topic")) ||
            !json_is_integer(json_object_get(raw, "partition")) ||
            !json_is_integer(json_object_get(raw, "offset")) ||
            !json_is_integer(json_object_get(raw, "index"))) {
            return -1;
        }
        if (raw_cmp(raw, json_object_get(record, "raw")) < 0) {
            json_object_set_new(record, "raw", json_deep_copy(raw));
            changed = 1;
        }
    }
    json_t *hops = json_object_get(record, "hops");
    size_t i;
    json_t *hop;
    json_array_foreach(fact_hops, i, hop) {
        if (!hop_valid(hop)) {
            return -1;
        }
        int seen = 0;
        for (size_t j = 0; j < json_array_size(hops) && !seen; j++) {
            seen = json_equal(json_array_get(hops, j), hop);
        }
        if (!seen) {
            json_array_append_new(hops, json_deep_copy(hop));
            changed = 1;
        }
    }
    if (changed && hops_sort(hops) != 0) {
        return -1;
    }
    return changed;
}

/* ---- traces --------------------------------------------------------------------------- */

int64_t lin_trace_first_ts(const void *set, size_t len)
{
    if (len < LIN_TRACE_HEADER) {
        return -1;
    }
    const uint8_t *p = set;
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) {
        v = v << 8 | p[i];
    }
    return (int64_t)v;
}

size_t lin_trace_spans(const void *set, size_t len)
{
    (void)set;
    return len < LIN_TRACE_HEADER ? 0 : (len - LIN_TRACE_HEADER) / LIN_TRACE_ENTRY;
}

size_t lin_trace_add(const void *old, size_t old_len, int64_t ts, const char *span_id,
                     const char *parent_span_id, uint8_t *out, size_t cap)
{
    size_t n = old != NULL ? lin_trace_spans(old, old_len) : 0;
    const uint8_t *entries = n > 0 ? (const uint8_t *)old + LIN_TRACE_HEADER : NULL;
    for (size_t i = 0; i < n; i++) {
        if (memcmp(entries + i * LIN_TRACE_ENTRY, span_id, 16) == 0) {
            return 0;
        }
    }
    size_t len = LIN_TRACE_HEADER + (n + 1) * LIN_TRACE_ENTRY;
    if (cap < len) {
        return 0;
    }
    int64_t first = old != NULL && old_len >= LIN_TRACE_HEADER ? lin_trace_first_ts(old, old_len)
                                                                : ts;
    if (ts < first) {
        first = ts;
    }
    for (int i = 0; i < 8; i++) {
        out[i] = (uint8_t)((uint64_t)first >> (8 * i));
    }
    if (n > 0) {
        memmove(out + LIN_TRACE_HEADER, entries, n * LIN_TRACE_ENTRY);
    }
    uint8_t *e = out + LIN_TRACE_HEADER + n * LIN_TRACE_ENTRY;
    memcpy(e, span_id, 16);
    memset(e + 16, 0, 16);
    if (parent_span_id != NULL && parent_span_id[0] != '\0') {
        memcpy(e + 16, parent_span_id, 16);
    }
    return len;
}

size_t lin_trace_orphans(const void *set, size_t len, lin_orphan_fn fn, void *opaque)
{
    size_t n = lin_trace_spans(set, len), orphans = 0;
    const uint8_t *entries = (const uint8_t *)set + LIN_TRACE_HEADER;
    static const uint8_t root[16];
    for (size_t i = 0; i < n; i++) {
        const uint8_t *parent = entries + i * LIN_TRACE_ENTRY + 16;
        if (memcmp(parent, root, 16) == 0) {
            continue;
        }
        int found = 0;
        for (size_t j = 0; j < n && !found; j++) {
            found = memcmp(entries + j * LIN_TRACE_ENTRY, parent, 16) == 0;
        }
        if (!found) {
            orphans++;
            if (fn != NULL) {
                char span[17], par[17];
                memcpy(span, entries + i * LIN_TRACE_ENTRY, 16);
                span[16] = '\0';
                memcpy(par, parent, 16);
                par[16] = '\0';
                fn(opaque, span, par);
            }
        }
    }
    return orphans;
}
