/* The broker's deadline heap (timer.h). */
#include "timer.h"

#include <stdlib.h>
#include <time.h>

int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void place(struct timer_heap *h, size_t i, struct timer *t)
{
    h->v[i] = t;
    t->pos = i + 1;
}

static void sift_up(struct timer_heap *h, size_t i)
{
    struct timer *t = h->v[i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (h->v[parent]->deadline_ms <= t->deadline_ms) {
            break;
        }
        place(h, i, h->v[parent]);
        i = parent;
    }
    place(h, i, t);
}

static void sift_down(struct timer_heap *h, size_t i)
{
    struct timer *t = h->v[i];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->n) {
            break;
        }
        if (c + 1 < h->n && h->v[c + 1]->deadline_ms < h->v[c]->deadline_ms) {
            c++;
        }
        if (h->v[c]->deadline_ms >= t->deadline_ms) {
            break;
        }
        place(h, i, h->v[c]);
        i = c;
    }
    place(h, i, t);
}

void timer_cancel(struct timer_heap *h, struct timer *t)
{
    if (t->pos == 0) {
        return;
    }
    size_t i = t->pos - 1;
    t->pos = 0;
    h->n--;
    if (i == h->n) {
        return;
    }
    struct timer *moved = h->v[h->n];
    place(h, i, moved);
    sift_up(h, i);
    sift_down(h, moved->pos - 1);
}

int timer_add(struct timer_heap *h, struct timer *t, int64_t deadline_ms, timer_fn fn)
{
    timer_cancel(h, t);
    if (h->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 64;
        struct timer **v = realloc(h->v, cap * sizeof(*v));
        if (v == NULL) {
            return -1;
        }
        h->v = v;
        h->cap = cap;
    }
    t->deadline_ms = deadline_ms;
    t->fn = fn;
    h->v[h->n] = t;
    h->n++;
    sift_up(h, h->n - 1);
    return 0;
}

int64_t timer_next(const struct timer_heap *h)
{
    return h->n ? h->v[0]->deadline_ms : -1;
}

void timer_run(struct timer_heap *h, struct broker *b, int64_t now)
{
    while (h->n > 0 && h->v[0]->deadline_ms <= now) {
        struct timer *t = h->v[0];
        timer_cancel(h, t);
        t->fn(b, t);
    }
}

void timer_heap_free(struct timer_heap *h)
{
    free(h->v);
    h->v = NULL;
    h->n = h->cap = 0;
}
