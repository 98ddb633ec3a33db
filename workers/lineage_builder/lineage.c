/* Merging hop facts into LineageRecords, and trace span sets (lineage.h). */
#include "lineage.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "bc_avro_internal.h" /* bc_avro_buf_put, bc_avro_buf_put_long */

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

void lin_trace_set_decided(void *set, size_t len, int64_t cutoff)
{
    if (len < LIN_TRACE_HEADER) {
        return;
    }
    uint8_t *p = set;
    for (int i = 0; i < 8; i++) {
        p[i] = (uint8_t)((uint64_t)(-cutoff - 1) >> (8 * i));
    }
}

int64_t lin_trace_decided_at(const void *set, size_t len)
{
    int64_t first = lin_trace_first_ts(set, len);
    return len >= LIN_TRACE_HEADER && first < 0 ? -first - 1 : -1;
}

int lin_trace_has_span(const void *set, size_t len, const char *span_id)
{
    size_t n = lin_trace_spans(set, len);
    const uint8_t *entries = (const uint8_t *)set + LIN_TRACE_HEADER;
    for (size_t i = 0; i < n; i++) {
        if (memcmp(entries + i * LIN_TRACE_ENTRY, span_id, 16) == 0) {
            return 1;
        }
    }
    return 0;
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

/* ---- records without JSON ------------------------------------------------------------- */

/* Strings of a record: chunks that never move (hops point into them), reused after a
 * reset. */
struct lin_chunk {
    struct lin_chunk *next;
    size_t used, cap;
    char data[];
};

#define LIN_CHUNK 4096

static void chunks_rewind(struct lin_rec *r)
{
    for (struct lin_chunk *c = r->chunks; c != NULL; c = c->next) {
        c->used = 0;
    }
}

/* Room for len bytes and a NUL owned by r, or NULL. */
static char *rec_room(struct lin_rec *r, size_t len)
{
    struct lin_chunk *c = r->chunks;
    while (c != NULL && c->cap - c->used < len + 1) {
        c = c->next;
    }
    if (c == NULL) {
        size_t cap = len + 1 > LIN_CHUNK ? len + 1 : LIN_CHUNK;
        c = malloc(sizeof(*c) + cap);
        if (c == NULL) {
            return NULL;
        }
        c->used = 0;
        c->cap = cap;
        c->next = r->chunks;
        r->chunks = c;
    }
    char *out = c->data + c->used;
    c->used += len + 1;
    return out;
}

/* A copy of s (len bytes, NUL added) owned by r, or NULL. */
static const char *rec_strn(struct lin_rec *r, const char *s, size_t len)
{
    char *out = rec_room(r, len);
    if (out != NULL) {
        memcpy(out, s, len);
        out[len] = '\0';
    }
    return out;
}

static const char *rec_str(struct lin_rec *r, const char *s)
{
    return rec_strn(r, s, strlen(s));
}

void lin_rec_free(struct lin_rec *r)
{
    if (r == NULL) {
        return;
    }
    struct lin_chunk *c = r->chunks;
    while (c != NULL) {
        struct lin_chunk *next = c->next;
        free(c);
        c = next;
    }
    free(r->hops);
    memset(r, 0, sizeof(*r));
}

int lin_rec_reset(struct lin_rec *r, const char *event_id)
{
    chunks_rewind(r);
    r->n_hops = 0;
    r->trace_id = NULL;
    r->raw_known = 1;
    r->raw_topic = "";
    r->raw_partition = -1;
    r->raw_offset = -1;
    r->raw_index = 0;
    r->event_id = rec_str(r, event_id);
    return r->event_id != NULL ? 0 : -1;
}

/* A new hop slot at the end of r's hops, or NULL. */
static struct lin_hop *rec_hop_add(struct lin_rec *r)
{
    if (r->n_hops == r->cap_hops) {
        size_t cap = r->cap_hops ? r->cap_hops * 2 : 8;
        struct lin_hop *hops = realloc(r->hops, cap * sizeof(*hops));
        if (hops == NULL) {
            return NULL;
        }
        r->hops = hops;
        r->cap_hops = cap;
    }
    return &r->hops[r->n_hops++];
}

/* Copies hop (borrowed) into r. Returns 0 or -1. */
static int rec_hop_copy(struct lin_rec *r, const struct lin_hop *hop)
{
    struct lin_hop h = *hop;
    if ((h.worker = rec_str(r, hop->worker)) == NULL ||
        (h.config_hash = rec_str(r, hop->config_hash)) == NULL ||
        (h.topic = rec_str(r, hop->topic)) == NULL ||
        (hop->fate != NULL && (h.fate = rec_str(r, hop->fate)) == NULL) ||
        (hop->detail != NULL && (h.detail = rec_str(r, hop->detail)) == NULL)) {
        return -1;
    }
    struct lin_hop *slot = rec_hop_add(r);
    if (slot == NULL) {
        return -1;
    }
    *slot = h;
    return 0;
}

/* A JSON string or null: 0 with *out (copied into r, or NULL for null), -1 otherwise. */
static int json_opt_str(struct lin_rec *r, const json_t *j, const char **out)
{
    if (json_is_null(j)) {
        *out = NULL;
        return 0;
    }
    if (!json_is_string(j)) {
        return -1;
    }
    *out = rec_strn(r, json_string_value(j), json_string_length(j));
    return *out != NULL ? 0 : -1;
}

int lin_rec_from_json(struct lin_rec *r, const json_t *json)
{
    const char *event_id = json_string_value(json_object_get(json, "event_id"));
    json_t *hops = json_object_get(json, "hops");
    if (event_id == NULL || !json_is_array(hops) || lin_rec_reset(r, event_id) != 0) {
        return -1;
    }
    json_t *trace = json_object_get(json, "trace_id");
    /* lin_merge takes a string trace_id and ignores anything else. */
    if (json_is_string(trace) && json_opt_str(r, trace, &r->trace_id) != 0) {
        return -1;
    }
    json_t *raw = json_object_get(json, "raw");
    r->raw_known = json_is_object(raw);
    if (r->raw_known) {
        json_t *topic = json_object_get(raw, "topic");
        json_t *partition = json_object_get(raw, "partition");
        json_t *offset = json_object_get(raw, "offset");
        json_t *index = json_object_get(raw, "index");
        if (!json_is_string(topic) || !json_is_integer(partition) ||
            !json_is_integer(offset) || !json_is_integer(index) ||
            (r->raw_topic = rec_str(r, json_string_value(topic))) == NULL) {
            return -1;
        }
        r->raw_partition = (int32_t)json_integer_value(partition);
        r->raw_offset = json_integer_value(offset);
        r->raw_index = (int32_t)json_integer_value(index);
    }
    size_t i;
    json_t *hop;
    json_array_foreach(hops, i, hop) {
        if (!hop_valid(hop)) {
            return -1;
        }
        struct lin_hop h = {
            .partition = (int32_t)json_integer_value(json_object_get(hop, "partition")),
            .offset = json_integer_value(json_object_get(hop, "offset")),
        };
        json_t *fate = json_object_get(hop, "fate");
        json_t *detail = json_object_get(hop, "detail");
        /* lin_merge's hops are whole objects: only the shapes lin_fact_new writes (fate and
         * detail present, string or null) have a C form. */
        if ((h.worker = rec_str(r, json_string_value(json_object_get(hop, "worker")))) == NULL ||
            (h.config_hash = rec_str(r, json_string_value(json_object_get(hop, "config_hash")))) ==
                NULL ||
            (h.topic = rec_str(r, json_string_value(json_object_get(hop, "topic")))) == NULL ||
            fate == NULL || detail == NULL || json_object_size(hop) != 7 ||
            json_opt_str(r, fate, &h.fate) != 0 || json_opt_str(r, detail, &h.detail) != 0) {
            return -1;
        }
        struct lin_hop *slot = rec_hop_add(r);
        if (slot == NULL) {
            return -1;
        }
        *slot = h;
    }
    return 0;
}

static json_t *hop_to_json(const struct lin_hop *h)
{
    return json_pack("{s:s, s:s, s:s, s:i, s:I, s:o, s:o}", "worker", h->worker, "config_hash",
                     h->config_hash, "topic", h->topic, "partition", h->partition, "offset",
                     (json_int_t)h->offset, "fate", str_or_null(h->fate), "detail",
                     str_or_null(h->detail));
}

json_t *lin_rec_to_json(const struct lin_rec *r)
{
    json_t *hops = json_array();
    for (size_t i = 0; hops != NULL && i < r->n_hops; i++) {
        if (json_array_append_new(hops, hop_to_json(&r->hops[i])) != 0) {
            json_decref(hops);
            hops = NULL;
        }
    }
    if (hops == NULL) {
        return NULL;
    }
    json_t *raw = r->raw_known ? json_pack("{s:s, s:i, s:I, s:i}", "topic", r->raw_topic,
                                           "partition", r->raw_partition, "offset",
                                           (json_int_t)r->raw_offset, "index", r->raw_index)
                               : json_null();
    if (raw == NULL) {
        json_decref(hops);
        return NULL;
    }
    return json_pack("{s:s, s:o, s:o, s:o}", "event_id", r->event_id, "trace_id",
                     str_or_null(r->trace_id), "raw", raw, "hops", hops);
}

static int opt_str_eq(const char *a, const char *b)
{
    return a == NULL || b == NULL ? a == b : strcmp(a, b) == 0;
}

/* json_equal of the two hops' objects. */
static int hop_equal(const struct lin_hop *a, const struct lin_hop *b)
{
    return a->partition == b->partition && a->offset == b->offset &&
           strcmp(a->topic, b->topic) == 0 && strcmp(a->worker, b->worker) == 0 &&
           strcmp(a->config_hash, b->config_hash) == 0 && opt_str_eq(a->fate, b->fate) &&
           opt_str_eq(a->detail, b->detail);
}

/* raw_cmp on C values. */
static int rec_raw_cmp(const struct lin_rec *a, const struct lin_rec *b)
{
    if ((a->raw_partition < 0) != (b->raw_partition < 0)) {
        return a->raw_partition < 0 ? 1 : -1;
    }
    int c = strcmp(a->raw_topic, b->raw_topic);
    if (c != 0) {
        return c;
    }
    if (a->raw_partition != b->raw_partition) {
        return a->raw_partition < b->raw_partition ? -1 : 1;
    }
    if (a->raw_offset != b->raw_offset) {
        return a->raw_offset < b->raw_offset ? -1 : 1;
    }
    if (a->raw_index != b->raw_index) {
        return a->raw_index < b->raw_index ? -1 : 1;
    }
    return 0;
}

/* A decimal as snprintf's %d / %lld writes it (no '+', no leading zeros, no "-0"), or -1
 * when s (n bytes) is not one. */
static int canonical_int(const char *s, size_t n, int64_t *out)
{
    size_t i = 0;
    int neg = n > 0 && s[0] == '-';
    i += (size_t)neg;
    if (i == n || n - i > 19 || (s[i] == '0' && (n - i > 1 || neg))) {
        return -1;
    }
    uint64_t v = 0;
    for (; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return -1;
        }
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    if (v > (uint64_t)INT64_MAX + (uint64_t)neg) {
        return -1;
    }
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return 0;
}

struct rec_sort {
    const struct lin_hop *hop;
    int depth;
    /* The parent position (hop_parent_pos), as parts: has_parent 0 when it has none or when
     * it cannot equal any hop's "topic:partition:offset" (hop_depth's string test). */
    int has_parent;
    const char *parent_topic;
    size_t parent_topic_len;
    int64_t parent_partition, parent_offset;
};

/* hop_parent_pos on C values, as parts. */
static void rec_hop_parent(struct rec_sort *v)
{
    const struct lin_hop *h = v->hop;
    v->has_parent = 0;
    if (h->fate != NULL) {
        v->has_parent = 1;
        v->parent_topic = h->topic;
        v->parent_topic_len = strlen(h->topic);
        v->parent_partition = h->partition;
        v->parent_offset = h->offset;
        return;
    }
    if (h->detail == NULL || strncmp(h->detail, "from ", 5) != 0) {
        return;
    }
    /* lin_pos_strip_index's rules: topic:partition:offset[:index], the result under 320
     * bytes. */
    const char *s = h->detail + 5;
    size_t len = strlen(s);
    const char *c1 = memchr(s, ':', len);
    const char *c2 = c1 != NULL ? memchr(c1 + 1, ':', len - (size_t)(c1 + 1 - s)) : NULL;
    if (c2 == NULL) {
        return;
    }
    const char *c3 = memchr(c2 + 1, ':', len - (size_t)(c2 + 1 - s));
    size_t n = c3 != NULL ? (size_t)(c3 - s) : len;
    if (n + 1 > 320 || c2 + 1 == s + n ||
        canonical_int(c1 + 1, (size_t)(c2 - c1 - 1), &v->parent_partition) != 0 ||
        canonical_int(c2 + 1, (size_t)(s + n - c2 - 1), &v->parent_offset) != 0) {
        return;
    }
    v->has_parent = 1;
    v->parent_topic = s;
    v->parent_topic_len = (size_t)(c1 - s);
}

/* Whether hop's "topic:partition:offset" is v's parent position. */
static int rec_is_parent(const struct rec_sort *v, const struct lin_hop *hop)
{
    return hop->partition == v->parent_partition && hop->offset == v->parent_offset &&
           strncmp(hop->topic, v->parent_topic, v->parent_topic_len) == 0 &&
           hop->topic[v->parent_topic_len] == '\0';
}

/* hop_depth on C values: the first non-fate hop (in array order) at the parent position. */
static int rec_hop_depth(const struct rec_sort *v, size_t n, size_t i, size_t budget)
{
    if (budget == 0 || !v[i].has_parent) {
        return 0;
    }
    for (size_t j = 0; j < n; j++) {
        if (j == i || v[j].hop->fate != NULL) {
            continue;
        }
        if (rec_is_parent(&v[i], v[j].hop)) {
            return 1 + rec_hop_depth(v, n, j, budget - 1);
        }
    }
    return 0;
}

static int rec_sort_cmp(const void *pa, const void *pb)
{
    const struct rec_sort *a = pa, *b = pb;
    if (a->depth != b->depth) {
        return a->depth < b->depth ? -1 : 1;
    }
    int c = strcmp(a->hop->topic, b->hop->topic);
    if (c != 0) {
        return c;
    }
    if (a->hop->partition != b->hop->partition) {
        return a->hop->partition < b->hop->partition ? -1 : 1;
    }
    if (a->hop->offset != b->hop->offset) {
        return a->hop->offset < b->hop->offset ? -1 : 1;
    }
    if ((a->hop->fate != NULL) != (b->hop->fate != NULL)) {
        return a->hop->fate != NULL ? 1 : -1;
    }
    /* Last resort, rare (two hops at one position): hop_sort_cmp's canonical texts. */
    json_t *ja = hop_to_json(a->hop), *jb = hop_to_json(b->hop);
    char *ta = ja != NULL ? json_dumps(ja, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    char *tb = jb != NULL ? json_dumps(jb, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    c = strcmp(ta != NULL ? ta : "", tb != NULL ? tb : "");
    free(ta);
    free(tb);
    json_decref(ja);
    json_decref(jb);
    return c;
}

static int rec_hops_sort(struct lin_rec *r)
{
    size_t n = r->n_hops;
    struct rec_sort small[16];
    struct lin_hop small_sorted[16];
    struct rec_sort *v = n <= 16 ? small : malloc(n * sizeof(*v));
    struct lin_hop *sorted = n <= 16 ? small_sorted : malloc(n * sizeof(*sorted));
    int rc = -1;
    if (v == NULL || sorted == NULL) {
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        v[i].hop = &r->hops[i];
        rec_hop_parent(&v[i]);
    }
    for (size_t i = 0; i < n; i++) {
        v[i].depth = rec_hop_depth(v, n, i, n);
    }
    qsort(v, n, sizeof(*v), rec_sort_cmp);
    for (size_t i = 0; i < n; i++) {
        sorted[i] = *v[i].hop;
    }
    memcpy(r->hops, sorted, n * sizeof(*sorted));
    rc = 0;
done:
    if (v != small) {
        free(v);
    }
    if (sorted != small_sorted) {
        free(sorted);
    }
    return rc;
}

int lin_rec_merge(struct lin_rec *r, const struct lin_rec *fact)
{
    int changed = 0;
    if (fact->trace_id != NULL &&
        (r->trace_id == NULL || strcmp(fact->trace_id, r->trace_id) < 0)) {
        if ((r->trace_id = rec_str(r, fact->trace_id)) == NULL) {
            return -1;
        }
        changed = 1;
    }
    if (fact->raw_known && rec_raw_cmp(fact, r) < 0) {
        if ((r->raw_topic = rec_str(r, fact->raw_topic)) == NULL) {
            return -1;
        }
        r->raw_partition = fact->raw_partition;
        r->raw_offset = fact->raw_offset;
        r->raw_index = fact->raw_index;
        changed = 1;
    }
    for (size_t i = 0; i < fact->n_hops; i++) {
        int seen = 0;
        for (size_t j = 0; j < r->n_hops && !seen; j++) {
            seen = hop_equal(&r->hops[j], &fact->hops[i]);
        }
        if (!seen) {
            if (rec_hop_copy(r, &fact->hops[i]) != 0) {
                return -1;
            }
            changed = 1;
        }
    }
    if (changed && rec_hops_sort(r) != 0) {
        return -1;
    }
    return changed;
}

/* ---- the stored form ----
 * Little-endian: byte LIN_REC_MAGIC; event_id, trace_id, raw topic (null: raw unknown);
 * raw partition (4 bytes), offset (8), index (4); the number of hops (4); per hop worker,
 * config_hash, topic, partition (4), offset (8), fate, detail. A string is its length (4
 * bytes; LIN_NULL_STR for null) and its bytes (no NUL). */

struct wbuf {
    uint8_t **buf;
    size_t *cap, len;
    int failed;
};

static void w_bytes(struct wbuf *w, const void *p, size_t n)
{
    if (w->failed) {
        return;
    }
    if (w->len + n > *w->cap) {
        size_t cap = *w->cap ? *w->cap : 256;
        while (cap < w->len + n) {
            cap *= 2;
        }
        uint8_t *b = realloc(*w->buf, cap);
        if (b == NULL) {
            w->failed = 1;
            return;
        }
        *w->buf = b;
        *w->cap = cap;
    }
    memcpy(*w->buf + w->len, p, n);
    w->len += n;
}

static void w_u32(struct wbuf *w, uint32_t v)
{
    uint8_t b[4];
    for (int i = 0; i < 4; i++) {
        b[i] = (uint8_t)(v >> (8 * i));
    }
    w_bytes(w, b, 4);
}

static void w_u64(struct wbuf *w, uint64_t v)
{
    uint8_t b[8];
    for (int i = 0; i < 8; i++) {
        b[i] = (uint8_t)(v >> (8 * i));
    }
    w_bytes(w, b, 8);
}

#define LIN_NULL_STR 0xffffffffu

/* A string: u32 length (LIN_NULL_STR: null), then its bytes. */
static void w_str(struct wbuf *w, const char *s)
{
    if (s == NULL) {
        w_u32(w, LIN_NULL_STR);
        return;
    }
    size_t n = strlen(s);
    w_u32(w, (uint32_t)n);
    w_bytes(w, s, n);
}

int lin_rec_encode(const struct lin_rec *r, uint8_t **buf, size_t *cap, size_t *len)
{
    struct wbuf w = {.buf = buf, .cap = cap};
    uint8_t magic = LIN_REC_MAGIC;
    w_bytes(&w, &magic, 1);
    w_str(&w, r->event_id);
    w_str(&w, r->trace_id);
    w_str(&w, r->raw_known ? r->raw_topic : NULL);
    w_u32(&w, (uint32_t)r->raw_partition);
    w_u64(&w, (uint64_t)r->raw_offset);
    w_u32(&w, (uint32_t)r->raw_index);
    w_u32(&w, (uint32_t)r->n_hops);
    for (size_t i = 0; i < r->n_hops; i++) {
        const struct lin_hop *h = &r->hops[i];
        w_str(&w, h->worker);
        w_str(&w, h->config_hash);
        w_str(&w, h->topic);
        w_u32(&w, (uint32_t)h->partition);
        w_u64(&w, (uint64_t)h->offset);
        w_str(&w, h->fate);
        w_str(&w, h->detail);
    }
    *len = w.len;
    return w.failed ? -1 : 0;
}

int lin_fact_encode(const char *event_id, const char *trace_id, const char *raw_topic,
                    int32_t raw_partition, int64_t raw_offset, int32_t raw_index,
                    const char *worker, const char *config_hash, const char *topic,
                    int32_t partition, int64_t offset, const char *fate, const char *detail,
                    uint8_t **buf, size_t *cap, size_t *len)
{
    struct wbuf w = {.buf = buf, .cap = cap};
    uint8_t magic = LIN_REC_MAGIC;
    w_bytes(&w, &magic, 1);
    w_str(&w, event_id);
    w_str(&w, trace_id);
    w_str(&w, raw_topic);
    w_u32(&w, (uint32_t)(raw_topic != NULL ? raw_partition : -1));
    w_u64(&w, (uint64_t)(raw_topic != NULL ? raw_offset : -1));
    w_u32(&w, (uint32_t)(raw_topic != NULL ? raw_index : 0));
    w_u32(&w, 1);
    w_str(&w, worker);
    w_str(&w, config_hash);
    w_str(&w, topic);
    w_u32(&w, (uint32_t)partition);
    w_u64(&w, (uint64_t)offset);
    w_str(&w, fate);
    w_str(&w, detail);
    *len = w.len;
    return w.failed || event_id == NULL || worker == NULL || config_hash == NULL ||
                   topic == NULL
               ? -1
               : 0;
}

struct rbuf {
    const uint8_t *p, *end;
    int failed;
};

static uint64_t r_uint(struct rbuf *rd, int n)
{
    if (rd->failed || rd->end - rd->p < n) {
        rd->failed = 1;
        return 0;
    }
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) {
        v = v << 8 | rd->p[i];
    }
    rd->p += n;
    return v;
}

/* A string copied into r (NULL for null, or on failure with rd->failed set). */
static const char *r_str(struct rbuf *rd, struct lin_rec *r)
{
    uint32_t n = (uint32_t)r_uint(rd, 4);
    if (rd->failed || n == LIN_NULL_STR) {
        return NULL;
    }
    char *s = (size_t)(rd->end - rd->p) < n ? NULL : rec_room(r, n);
    /* copied up to a NUL, which a stored string has not */
    if (s == NULL || memccpy(s, rd->p, '\0', n) != NULL) {
        rd->failed = 1;
        return NULL;
    }
    s[n] = '\0';
    rd->p += n;
    return s;
}

int lin_rec_decode(struct lin_rec *r, const void *data, size_t len)
{
    const uint8_t *d = data;
    if (len > 0 && d[0] == '{') {
        /* The JSON form of earlier versions. */
        json_t *json = json_loadb(data, len, 0, NULL);
        int rc = json != NULL ? lin_rec_from_json(r, json) : -1;
        json_decref(json);
        return rc;
    }
    if (len == 0 || d[0] != LIN_REC_MAGIC) {
        return -1;
    }
    struct rbuf rd = {.p = d + 1, .end = d + len};
    chunks_rewind(r);
    r->n_hops = 0;
    r->event_id = r_str(&rd, r);
    r->trace_id = r_str(&rd, r);
    r->raw_topic = r_str(&rd, r);
    r->raw_known = r->raw_topic != NULL;
    if (r->raw_topic == NULL) {
        r->raw_topic = "";
    }
    r->raw_partition = (int32_t)(uint32_t)r_uint(&rd, 4);
    r->raw_offset = (int64_t)r_uint(&rd, 8);
    r->raw_index = (int32_t)(uint32_t)r_uint(&rd, 4);
    uint32_t n = (uint32_t)r_uint(&rd, 4);
    for (uint32_t i = 0; i < n && !rd.failed; i++) {
        struct lin_hop h;
        h.worker = r_str(&rd, r);
        h.config_hash = r_str(&rd, r);
        h.topic = r_str(&rd, r);
        h.partition = (int32_t)(uint32_t)r_uint(&rd, 4);
        h.offset = (int64_t)r_uint(&rd, 8);
        h.fate = r_str(&rd, r);
        h.detail = r_str(&rd, r);
        if (rd.failed || h.worker == NULL || h.config_hash == NULL || h.topic == NULL) {
            return -1;
        }
        struct lin_hop *slot = rec_hop_add(r);
        if (slot == NULL) {
            return -1;
        }
        *slot = h;
    }
    return rd.failed || r->event_id == NULL || rd.p != rd.end ? -1 : 0;
}

/* ---- Avro ---- */

static int avro_set_str(avro_value_t *rec, size_t index, const char *s)
{
    avro_value_t f;
    return avro_value_get_by_index(rec, index, &f, NULL) == 0 &&
                   avro_value_set_string(&f, s) == 0
               ? 0
               : -1;
}

/* Selects a ["null", X] union field's branch: 1 (into *branch, for the caller to set) when
 * present, else 0 (null). Returns 0 or -1. */
static int avro_set_opt(avro_value_t *rec, size_t index, int present, avro_value_t *branch)
{
    avro_value_t f;
    if (avro_value_get_by_index(rec, index, &f, NULL) != 0) {
        return -1;
    }
    return avro_value_set_branch(&f, present ? 1 : 0, branch);
}

int lin_rec_to_avro(const struct lin_rec *r, avro_value_t *value, char *errstr,
                    size_t errstr_size)
{
    avro_value_t f, raw, hops, hop, branch;
    if (avro_value_reset(value) != 0 || avro_set_str(value, 0, r->event_id) != 0 ||
        avro_set_opt(value, 1, r->trace_id != NULL, &branch) != 0 ||
        (r->trace_id != NULL && avro_value_set_string(&branch, r->trace_id) != 0) ||
        avro_value_get_by_index(value, 2, &raw, NULL) != 0 ||
        avro_set_str(&raw, 0, r->raw_topic) != 0 ||
        avro_value_get_by_index(&raw, 1, &f, NULL) != 0 ||
        avro_value_set_int(&f, r->raw_partition) != 0 ||
        avro_value_get_by_index(&raw, 2, &f, NULL) != 0 ||
        avro_value_set_long(&f, r->raw_offset) != 0 ||
        avro_value_get_by_index(&raw, 3, &f, NULL) != 0 ||
        avro_value_set_int(&f, r->raw_index) != 0 ||
        avro_value_get_by_index(value, 3, &hops, NULL) != 0) {
        snprintf(errstr, errstr_size, "not a LineageRecord value");
        return -1;
    }
    for (size_t i = 0; i < r->n_hops; i++) {
        const struct lin_hop *h = &r->hops[i];
        if (avro_value_append(&hops, &hop, NULL) != 0 || avro_set_str(&hop, 0, h->worker) != 0 ||
            avro_set_str(&hop, 1, h->config_hash) != 0 || avro_set_str(&hop, 2, h->topic) != 0 ||
            avro_value_get_by_index(&hop, 3, &f, NULL) != 0 ||
            avro_value_set_int(&f, h->partition) != 0 ||
            avro_value_get_by_index(&hop, 4, &f, NULL) != 0 ||
            avro_value_set_long(&f, h->offset) != 0 ||
            avro_set_opt(&hop, 5, h->fate != NULL, &branch) != 0) {
            snprintf(errstr, errstr_size, "hops[%zu]: not a LineageHop value", i);
            return -1;
        }
        if (h->fate != NULL) {
            int symbol = avro_schema_enum_get_by_name(avro_value_get_schema(&branch), h->fate);
            if (symbol < 0 || avro_value_set_enum(&branch, symbol) != 0) {
                snprintf(errstr, errstr_size, "hops[%zu].fate: not a FateKind: %s", i, h->fate);
                return -1;
            }
        }
        if (avro_set_opt(&hop, 6, h->detail != NULL, &branch) != 0 ||
            (h->detail != NULL && avro_value_set_string(&branch, h->detail) != 0)) {
            snprintf(errstr, errstr_size, "hops[%zu].detail: not settable", i);
            return -1;
        }
    }
    return 0;
}

/* FateKind's symbols in schema order (LineageRecord.v1.avsc): their index is the Avro enum
 * value. */
static const char *const FATE_KINDS[] = {"deduplicated", "sampled_out", "dropped",
                                         "dead_lettered", "routed"};

static int bin_str(struct bc_avro_buf *buf, const char *s)
{
    size_t len = strlen(s);
    if (!bc_avro_utf8_valid(s, len)) {
        return 1;
    }
    return bc_avro_buf_put_long(buf, (int64_t)len) != 0 || bc_avro_buf_put(buf, s, len) != 0
               ? -1
               : 0;
}

/* A ["null", "string"] value: branch 0, or branch 1 and the string. */
static int bin_opt_str(struct bc_avro_buf *buf, const char *s)
{
    if (s == NULL) {
        return bc_avro_buf_put_long(buf, 0) != 0 ? -1 : 0;
    }
    return bc_avro_buf_put_long(buf, 1) != 0 ? -1 : bin_str(buf, s);
}

int lin_rec_to_avro_bin(const struct lin_rec *r, int32_t schema_id, struct bc_avro_buf *buf,
                        char *errstr, size_t errstr_size)
{
    uint8_t header[BC_AVRO_HEADER_SIZE];
    bc_avro_write_header(header, schema_id);
    const char *what = "out of memory";
    int rc = 0; /* 1: not UTF-8 (what names the field) */
    buf->len = 0;
    if (bc_avro_buf_put(buf, header, sizeof(header)) != 0 ||
        (what = "event_id", rc = bin_str(buf, r->event_id)) != 0 ||
        (what = "trace_id", rc = bin_opt_str(buf, r->trace_id)) != 0 ||
        (what = "raw.topic", rc = bin_str(buf, r->raw_topic)) != 0 ||
        (what = "out of memory", rc = bc_avro_buf_put_long(buf, r->raw_partition)) != 0 ||
        bc_avro_buf_put_long(buf, r->raw_offset) != 0 ||
        bc_avro_buf_put_long(buf, r->raw_index) != 0 ||
        (r->n_hops > 0 && bc_avro_buf_put_long(buf, (int64_t)r->n_hops) != 0)) {
        goto fail;
    }
    for (size_t i = 0; i < r->n_hops; i++) {
        const struct lin_hop *h = &r->hops[i];
        int symbol = -1;
        for (size_t k = 0; h->fate != NULL && k < sizeof(FATE_KINDS) / sizeof(FATE_KINDS[0]);
             k++) {
            if (strcmp(h->fate, FATE_KINDS[k]) == 0) {
                symbol = (int)k;
                break;
            }
        }
        if (h->fate != NULL && symbol < 0) {
            snprintf(errstr, errstr_size, "hops[%zu].fate: not a FateKind: %s", i, h->fate);
            buf->len = 0;
            return -1;
        }
        if ((what = "worker", rc = bin_str(buf, h->worker)) != 0 ||
            (what = "config_hash", rc = bin_str(buf, h->config_hash)) != 0 ||
            (what = "topic", rc = bin_str(buf, h->topic)) != 0 ||
            (what = "out of memory", rc = bc_avro_buf_put_long(buf, h->partition)) != 0 ||
            bc_avro_buf_put_long(buf, h->offset) != 0 ||
            bc_avro_buf_put_long(buf, symbol < 0 ? 0 : 1) != 0 ||
            (symbol >= 0 && bc_avro_buf_put_long(buf, symbol) != 0) ||
            (what = "detail", rc = bin_opt_str(buf, h->detail)) != 0) {
            if (rc == 1) {
                snprintf(errstr, errstr_size, "hops[%zu].%s: string is not valid UTF-8", i, what);
                buf->len = 0;
                return -1;
            }
            goto fail;
        }
    }
    if (bc_avro_buf_put_long(buf, 0) == 0) {
        return 0;
    }
    what = "out of memory";
    rc = -1;
fail:
    if (rc == 1) {
        snprintf(errstr, errstr_size, "%s: string is not valid UTF-8", what);
    } else {
        snprintf(errstr, errstr_size, "out of memory");
    }
    buf->len = 0;
    return -1;
}

/* ---- the orphan clock ------------------------------------------------------------------- */

void lin_clock_init(struct lin_clock *c)
{
    bc_clock_init(&c->t);
    c->swept = -1;
    c->expected = 0;
}

int64_t lin_clock_now(const struct lin_clock *c, int64_t max_skew)
{
    return bc_clock_now(&c->t, max_skew, c->expected);
}

int64_t lin_clock_sweep_due(struct lin_clock *c, int64_t window, int64_t max_skew)
{
    int64_t now = lin_clock_now(c, max_skew);
    if (now < 0 || now - window < 0) {
        return -1;
    }
    int64_t cutoff = (now - window) / LIN_SWEEP_STEP * LIN_SWEEP_STEP;
    if (cutoff <= c->swept) {
        return -1;
    }
    c->swept = cutoff;
    return cutoff;
}

static void put_le64(uint8_t *out, int64_t v)
{
    for (int i = 0; i < 8; i++) {
        out[i] = (uint8_t)((uint64_t)v >> (8 * i));
    }
}

static int64_t get_le64(const uint8_t *in)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) {
        v |= (uint64_t)in[i] << (8 * i);
    }
    return (int64_t)v;
}

void lin_clock_encode(const struct lin_clock *c, uint8_t out[LIN_CLOCK_BYTES])
{
    put_le64(out, c->t.max);
    for (int i = 0; i < BC_CLOCK_SOURCES; i++) {
        put_le64(out + 8 * (i + 1), c->t.src[i]);
    }
    put_le64(out + 8 * (BC_CLOCK_SOURCES + 1), c->swept);
}

int lin_clock_decode(struct lin_clock *c, const void *data, size_t len)
{
    if (len != LIN_CLOCK_BYTES) {
        return -1;
    }
    const uint8_t *in = data;
    c->t.max = get_le64(in);
    for (int i = 0; i < BC_CLOCK_SOURCES; i++) {
        c->t.src[i] = get_le64(in + 8 * (i + 1));
    }
    c->swept = get_le64(in + 8 * (BC_CLOCK_SOURCES + 1));
    return 0;
}
