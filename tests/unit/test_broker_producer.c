/* breadcrumb-broker's idempotent-producer state: duplicates, sequence gaps, epochs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tools/broker/producer.h"

static struct batch_hdr batch(int64_t pid, int16_t epoch, int32_t seq, int32_t count,
                              int64_t offset)
{
    return (struct batch_hdr){.producer_id = pid, .producer_epoch = epoch, .base_sequence = seq,
                              .last_offset_delta = count - 1, .record_count = count,
                              .base_offset = offset};
}

static void test_producer_duplicate_answers_original_offset(void **state)
{
    (void)state;
    struct producer_table t = {0};
    int64_t dup = -1;
    for (int i = 0; i < 7; i++) {
        struct batch_hdr h = batch(9, 0, i * 10, 10, 100 + i * 10);
        assert_int_equal(producer_check(&t, &h, &dup), PRODUCER_APPEND);
        assert_int_equal(producer_update(&t, &h), 0);
    }
    /* batches 2..6 are cached: their retries are duplicates */
    struct batch_hdr again = batch(9, 0, 40, 10, -1);
    assert_int_equal(producer_check(&t, &again, &dup), PRODUCER_DUPLICATE);
    assert_true(dup == 140);
    /* batch 0 is older than the 5 kept: out of order, as Kafka answers */
    struct batch_hdr old = batch(9, 0, 0, 10, -1);
    assert_int_equal(producer_check(&t, &old, &dup), 45);
    producer_table_free(&t);
}

static void test_producer_gap_and_stale_epoch(void **state)
{
    (void)state;
    struct producer_table t = {0};
    int64_t dup;
    struct batch_hdr h = batch(5, 3, 0, 2, 0);
    producer_update(&t, &h);
    struct batch_hdr gap = batch(5, 3, 5, 1, -1);
    assert_int_equal(producer_check(&t, &gap, &dup), 45);
    struct batch_hdr next = batch(5, 3, 2, 1, -1);
    assert_int_equal(producer_check(&t, &next, &dup), PRODUCER_APPEND);
    struct batch_hdr stale = batch(5, 2, 2, 1, -1);
    assert_int_equal(producer_check(&t, &stale, &dup), 47);
    struct batch_hdr bump_bad = batch(5, 4, 2, 1, -1);
    assert_int_equal(producer_check(&t, &bump_bad, &dup), 45);
    struct batch_hdr bump = batch(5, 4, 0, 1, 2);
    assert_int_equal(producer_check(&t, &bump, &dup), PRODUCER_APPEND);
    producer_update(&t, &bump);
    assert_int_equal(producer_find(&t, 5)->epoch, 4);
    /* an unknown producer may start anywhere (its state may have been retained away) */
    struct batch_hdr unknown = batch(77, 0, 500, 1, -1);
    assert_int_equal(producer_check(&t, &unknown, &dup), PRODUCER_APPEND);
    producer_table_free(&t);
}

static void test_producer_sequence_wraps(void **state)
{
    (void)state;
    struct producer_table t = {0};
    int64_t dup;
    struct batch_hdr h = batch(1, 0, INT32_MAX - 1, 2, 0);
    producer_update(&t, &h);
    struct batch_hdr wrap = batch(1, 0, 0, 1, -1);
    assert_int_equal(producer_check(&t, &wrap, &dup), PRODUCER_APPEND);
    producer_table_free(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_producer_duplicate_answers_original_offset),
        cmocka_unit_test(test_producer_gap_and_stale_epoch),
        cmocka_unit_test(test_producer_sequence_wraps),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
