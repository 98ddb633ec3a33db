/* Idempotent-producer state (producer.h), following Kafka's ProducerStateManager rules. */
#include "producer.h"

#include <stdlib.h>
#include <string.h>

struct producer_entry *producer_find(const struct producer_table *t, int64_t producer_id)
{
    size_t lo = 0, hi = t->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (t->v[mid].producer_id < producer_id) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo < t->n && t->v[lo].producer_id == producer_id ? &t->v[lo] : NULL;
}

static int32_t last_seq_of(const struct batch_hdr *h)
{
    int64_t last = (int64_t)h->base_sequence + h->last_offset_delta;
    return (int32_t)(last > INT32_MAX ? last - INT32_MAX - 1 : last);
}

static int in_sequence(int32_t last_seq, int32_t next_seq)
{
    return (int64_t)next_seq == (int64_t)last_seq + 1 || (next_seq == 0 && last_seq == INT32_MAX);
}

int producer_check(const struct producer_table *t, const struct batch_hdr *h,
                   int64_t *dup_offset)
{
    const struct producer_entry *e = producer_find(t, h->producer_id);
    if (e == NULL) {
        /* Unknown producer (new, or its batches are gone by retention): any sequence. */
        return PRODUCER_APPEND;
    }
    if (h->producer_epoch < e->epoch) {
        return 47;
    }
    if (h->producer_epoch == e->epoch) {
        int32_t last = last_seq_of(h);
        for (int i = 0; i < e->nbatches; i++) {
            if (e->batches[i].first_seq == h->base_sequence && e->batches[i].last_seq == last) {
                *dup_offset = e->batches[i].first_offset;
                return PRODUCER_DUPLICATE;
            }
        }
        int32_t current_last = e->nbatches ? e->batches[e->nbatches - 1].last_seq : -1;
        if (e->nbatches > 0 && !in_sequence(current_last, h->base_sequence)) {
            return 45;
        }
        return PRODUCER_APPEND;
    }
    /* A new epoch must start at sequence 0. */
    return h->base_sequence == 0 ? PRODUCER_APPEND : 45;
}

int producer_update(struct producer_table *t, const struct batch_hdr *h)
{
    struct producer_entry *e = producer_find(t, h->producer_id);
    if (e == NULL) {
        if (t->n == t->cap) {
            size_t cap = t->cap ? t->cap * 2 : 8;
            struct producer_entry *v = realloc(t->v, cap * sizeof(*v));
            if (v == NULL) {
                return -1;
            }
            t->v = v;
            t->cap = cap;
        }
        size_t i = t->n;
        while (i > 0 && t->v[i - 1].producer_id > h->producer_id) {
            i--;
        }
        memmove(&t->v[i + 1], &t->v[i], (t->n - i) * sizeof(*t->v));
        t->n++;
        e = &t->v[i];
        memset(e, 0, sizeof(*e));
        e->producer_id = h->producer_id;
        e->epoch = h->producer_epoch;
        e->txn_first_offset = -1;
    }
    if (h->producer_epoch != e->epoch) {
        e->epoch = h->producer_epoch;
        e->nbatches = 0;
    }
    if (h->base_sequence < 0) {
        return 0; /* control batches and batches without sequence (transaction markers) */
    }
    if (e->nbatches == PRODUCER_CACHED_BATCHES) {
        memmove(&e->batches[0], &e->batches[1], (PRODUCER_CACHED_BATCHES - 1) * sizeof(e->batches[0]));
        e->nbatches--;
    }
    e->batches[e->nbatches++] = (struct producer_batch){
        .first_seq = h->base_sequence,
        .last_seq = last_seq_of(h),
        .first_offset = h->base_offset,
        .offset_delta = h->last_offset_delta,
        .timestamp = h->max_timestamp,
    };
    return 0;
}

void producer_table_free(struct producer_table *t)
{
    free(t->v);
    t->v = NULL;
    t->n = t->cap = 0;
}
