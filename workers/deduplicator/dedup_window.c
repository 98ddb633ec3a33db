/* The deduplicator's window decision over the `seen` store (see dedup.h). */
#include <stdlib.h>
#include <string.h>

#include "dedup.h"

static struct dedup_part *part_get(struct dedup_window *w, int32_t partition)
{
    if (partition < 0) {
        return NULL;
    }
    if ((size_t)partition >= w->part_count) {
        size_t n = (size_t)partition + 1;
        struct dedup_part *parts = realloc(w->parts, n * sizeof(*parts));
        if (parts == NULL) {
            return NULL;
        }
        for (size_t i = w->part_count; i < n; i++) {
            parts[i].stream_time = -1;
            parts[i].saved = -1;
        }
        w->parts = parts;
        w->part_count = n;
    }
    return &w->parts[partition];
}

int dedup_window_assign(struct dedup_window *w, int32_t partition, int64_t stream_time)
{
    struct dedup_part *p = part_get(w, partition);
    if (p == NULL) {
        return -1;
    }
    p->stream_time = stream_time;
    p->saved = stream_time;
    return 0;
}

static void value_encode(const struct dedup_first *first, uint8_t out[DEDUP_VALUE_SIZE])
{
    uint32_t part = (uint32_t)first->partition;
    uint64_t off = (uint64_t)first->offset;
    for (int i = 0; i < 4; i++) {
        out[i] = (uint8_t)(part >> (24 - 8 * i));
    }
    for (int i = 0; i < 8; i++) {
        out[4 + i] = (uint8_t)(off >> (56 - 8 * i));
    }
}

static int value_decode(const uint8_t *v, size_t len, struct dedup_first *first)
{
    if (len != DEDUP_VALUE_SIZE) {
        return -1;
    }
    uint32_t part = 0;
    uint64_t off = 0;
    for (int i = 0; i < 4; i++) {
        part = part << 8 | v[i];
    }
    for (int i = 0; i < 8; i++) {
        off = off << 8 | v[4 + i];
    }
    first->partition = (int32_t)part;
    first->offset = (int64_t)off;
    return 0;
}

/* Moves the stream time to ts; returns the partition or NULL (out of memory). */
static struct dedup_part *advance(struct dedup_window *w, int32_t partition, int64_t ts)
{
    struct dedup_part *p = part_get(w, partition);
    if (p != NULL && ts > p->stream_time) {
        p->stream_time = ts;
    }
    return p;
}

/* Writes the marker when the stream time is ahead of what the store holds. */
static int mark(struct dedup_window *w, int32_t partition, struct dedup_part *p)
{
    if (p->stream_time <= p->saved) {
        return 0;
    }
    if (bc_store_put(w->seen, partition, DEDUP_MARKER_KEY, DEDUP_MARKER_KEY_LEN, "s", 1,
                     p->stream_time) != 0) {
        return -1;
    }
    p->saved = p->stream_time;
    return 0;
}

int dedup_window_decide(struct dedup_window *w, int32_t partition,
                        const uint8_t digest[DEDUP_DIGEST_SIZE], int64_t ts,
                        struct dedup_first *first)
{
    struct dedup_part *p = advance(w, partition, ts);
    if (p == NULL) {
        return -1;
    }
    if (ts < 0) {
        ts = p->stream_time > 0 ? p->stream_time : 0;
    }
    const void *value;
    size_t value_len;
    int64_t first_ts;
    struct dedup_first seen;
    if (bc_store_get(w->seen, partition, digest, DEDUP_DIGEST_SIZE, &value, &value_len,
                     &first_ts) == 1 &&
        first_ts >= p->stream_time - w->window_ms && value_decode(value, value_len, &seen) == 0) {
        *first = seen;
        return mark(w, partition, p) == 0 ? DEDUP_REPEAT : -1;
    }
    uint8_t v[DEDUP_VALUE_SIZE];
    value_encode(first, v);
    if (bc_store_put(w->seen, partition, digest, DEDUP_DIGEST_SIZE, v, sizeof(v), ts) != 0) {
        return -1;
    }
    if (ts > p->saved) {
        p->saved = ts;
    }
    return mark(w, partition, p) == 0 ? DEDUP_FIRST : -1;
}

int dedup_window_observe(struct dedup_window *w, int32_t partition, int64_t ts)
{
    struct dedup_part *p = advance(w, partition, ts);
    return p != NULL ? mark(w, partition, p) : -1;
}

struct sweep {
    int64_t horizon;
    uint8_t (*keys)[DEDUP_DIGEST_SIZE];
    size_t n, cap;
    int oom;
};

static int sweep_visit(void *opaque, const void *key, size_t key_len, const void *value,
                       size_t value_len, int64_t ts)
{
    (void)value;
    (void)value_len;
    struct sweep *s = opaque;
    if (key_len != DEDUP_DIGEST_SIZE || ts >= s->horizon) {
        return 0;
    }
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 256;
        void *keys = realloc(s->keys, cap * sizeof(*s->keys));
        if (keys == NULL) {
            s->oom = 1;
            return 1;
        }
        s->keys = keys;
        s->cap = cap;
    }
    memcpy(s->keys[s->n++], key, DEDUP_DIGEST_SIZE);
    return 0;
}

long dedup_window_sweep(struct dedup_window *w, int32_t partition)
{
    if (partition < 0 || (size_t)partition >= w->part_count ||
        w->parts[partition].stream_time < 0) {
        return 0;
    }
    struct sweep s = {.horizon = w->parts[partition].stream_time - w->window_ms};
    bc_store_foreach(w->seen, partition, sweep_visit, &s);
    for (size_t i = 0; i < s.n; i++) {
        bc_store_delete(w->seen, partition, s.keys[i], DEDUP_DIGEST_SIZE);
    }
    free(s.keys);
    return s.oom ? -1 : (long)s.n;
}

void dedup_window_free(struct dedup_window *w)
{
    free(w->parts);
    w->parts = NULL;
    w->part_count = 0;
}
