/*
 * One min-heap of deadlines for the whole broker: long-poll fetches now; group sessions,
 * rebalances and transaction timeouts later. A timer is embedded in its owner, which
 * keeps it alive while queued; timer_cancel() is a no-op for an idle timer.
 */
#ifndef BROKER_TIMER_H
#define BROKER_TIMER_H

#include <stddef.h>
#include <stdint.h>

struct broker;
struct timer;
typedef void (*timer_fn)(struct broker *b, struct timer *t);

struct timer {
    int64_t deadline_ms;
    size_t pos; /* index in the heap + 1; 0 while not queued */
    timer_fn fn;
};

struct timer_heap {
    struct timer **v;
    size_t n, cap;
};

/* Queues (or re-queues) t to fire at deadline_ms. Returns 0, or -1 when out of memory. */
int timer_add(struct timer_heap *h, struct timer *t, int64_t deadline_ms, timer_fn fn);
void timer_cancel(struct timer_heap *h, struct timer *t);
/* The earliest deadline, or -1 when nothing is queued. */
int64_t timer_next(const struct timer_heap *h);
/* Fires every timer whose deadline is <= now_ms (each dequeued before its fn runs). */
void timer_run(struct timer_heap *h, struct broker *b, int64_t now_ms);
void timer_heap_free(struct timer_heap *h);

int64_t now_ms(void);

#endif
