/* breadcrumb-broker's timer heap: order of firing, cancel from anywhere, re-arming. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>

#include "tools/broker/timer.h"

static int64_t fired[64];
static int nfired;

static void record(struct broker *b, struct timer *t)
{
    (void)b;
    fired[nfired++] = t->deadline_ms;
}

static void test_timer_fires_in_deadline_order_and_cancels(void **state)
{
    (void)state;
    struct timer_heap h = {0};
    struct timer t[40] = {{0}};
    nfired = 0;
    for (int i = 0; i < 40; i++) {
        assert_int_equal(timer_add(&h, &t[i], (int64_t)((i * 37) % 40), record), 0);
    }
    /* cancel every fourth, in the middle of the heap */
    for (int i = 0; i < 40; i += 4) {
        timer_cancel(&h, &t[i]);
        timer_cancel(&h, &t[i]); /* idempotent */
    }
    /* re-arm one to a later deadline */
    assert_int_equal(timer_add(&h, &t[1], 100, record), 0);
    assert_true(timer_next(&h) >= 0);
    timer_run(&h, NULL, 39);
    for (int i = 1; i < nfired; i++) {
        assert_true(fired[i - 1] <= fired[i]);
    }
    assert_int_equal(nfired, 40 - 10 - 1);
    assert_true(timer_next(&h) == 100);
    timer_run(&h, NULL, 1000);
    assert_int_equal(nfired, 30);
    assert_true(timer_next(&h) == -1);
    timer_heap_free(&h);
}

static void test_timer_random_operations_keep_heap_order(void **state)
{
    (void)state;
    struct timer_heap h = {0};
    struct timer *t = calloc(500, sizeof(*t));
    srand(7);
    for (int round = 0; round < 2000; round++) {
        struct timer *x = &t[rand() % 500];
        if (rand() % 3 == 0) {
            timer_cancel(&h, x);
        } else {
            timer_add(&h, x, rand() % 10000, record);
        }
    }
    nfired = 0;
    int64_t last = -1;
    while (timer_next(&h) >= 0) {
        int64_t next = timer_next(&h);
        assert_true(next >= last);
        last = next;
        nfired = 0;
        timer_run(&h, NULL, next);
        assert_true(nfired >= 1);
    }
    for (int i = 0; i < 500; i++) {
        assert_int_equal(t[i].pos, 0);
    }
    free(t);
    timer_heap_free(&h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_timer_fires_in_deadline_order_and_cancels),
        cmocka_unit_test(test_timer_random_operations_keep_heap_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
