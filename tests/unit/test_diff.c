/*
 * breadcrumb diff's comparison (tools/breadcrumb/diff.c): records matched by lineage source
 * whatever their order, identical / missing / extra / differing counts, field paths of the
 * differences, ignored fields, several outputs of one source, and not-reproducible records
 * counted apart without failing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "tools/breadcrumb/diff.h"

static void add(struct bc_diff *d, int side, const char *src, const char *key, const char *json)
{
    json_t *v = json_loads(json, 0, NULL);
    assert_non_null(v);
    assert_int_equal(bc_diff_add(d, side, src, side ? "b:0:1" : "a:0:1", key,
                                 key ? strlen(key) : 0, v),
                     0);
}

static json_int_t num(json_t *r, const char *k)
{
    return json_integer_value(json_object_get(r, k));
}

static void test_order_does_not_matter(void **state)
{
    (void)state;
    struct bc_diff d = {0};
    add(&d, 0, "t:0:1", "k1", "{\"x\": 1}");
    add(&d, 0, "t:0:2", "k2", "{\"x\": 2}");
    add(&d, 0, "t:1:7:3", "k3", "{\"x\": 3, \"flags\": []}");
    add(&d, 1, "t:1:7:3", "k3", "{\"flags\": [], \"x\": 3}");
    add(&d, 1, "t:0:2", "k2", "{\"x\": 2}");
    add(&d, 1, "t:0:1", "k1", "{\"x\": 1}");
    int failed = -1;
    json_t *r = bc_diff_compare(&d, &failed);
    assert_int_equal(failed, 0);
    assert_int_equal(num(r, "identical"), 3);
    assert_int_equal(num(r, "a"), 3);
    assert_int_equal(num(r, "b"), 3);
    assert_int_equal(num(r, "missing") + num(r, "extra") + num(r, "differing"), 0);
    json_decref(r);
    bc_diff_free(&d);
}

static void test_missing_extra_differing(void **state)
{
    (void)state;
    struct bc_diff d = {0};
    add(&d, 0, "t:0:1", "k", "{\"a\": {\"b\": 1, \"c\": \"s\"}, \"l\": [1, 2]}");
    add(&d, 1, "t:0:1", "k", "{\"a\": {\"b\": 2, \"c\": \"s\"}, \"l\": [1]}");
    add(&d, 0, "t:0:2", "k", "{}");
    add(&d, 1, "t:0:3", "k", "{}");
    add(&d, 0, "t:0:4", "k", "{}");
    add(&d, 1, "t:0:4", "other", "{}");
    int failed = 0;
    json_t *r = bc_diff_compare(&d, &failed);
    assert_int_equal(failed, 1);
    assert_int_equal(num(r, "identical"), 0);
    assert_int_equal(num(r, "missing"), 1);
    assert_int_equal(num(r, "extra"), 1);
    assert_int_equal(num(r, "differing"), 2);
    json_t *diffs = json_object_get(r, "differences");
    assert_int_equal(json_array_size(diffs), 4);
    json_t *first = json_array_get(diffs, 0);
    assert_string_equal(json_string_value(json_object_get(first, "type")), "differing");
    assert_string_equal(json_string_value(json_object_get(first, "src")), "t:0:1");
    json_t *fields = json_object_get(first, "fields");
    assert_int_equal(json_array_size(fields), 2);
    assert_string_equal(json_string_value(json_array_get(fields, 0)), "a.b: 1 != 2");
    assert_string_equal(json_string_value(json_array_get(fields, 1)), "l[1]: 2 != (absent)");
    json_t *keyd = json_array_get(diffs, 3);
    assert_string_equal(json_string_value(json_array_get(json_object_get(keyd, "fields"), 0)),
                        "(key): \"k\" != \"other\"");
    json_decref(r);
    bc_diff_free(&d);
}

static void test_several_outputs_per_source(void **state)
{
    (void)state;
    /* a router writes one record to two sinks: same source twice, in either order */
    struct bc_diff d = {0};
    add(&d, 0, "t:0:1", "k", "{\"sink\": \"a\"}");
    add(&d, 0, "t:0:1", "k", "{\"sink\": \"b\"}");
    add(&d, 1, "t:0:1", "k", "{\"sink\": \"b\"}");
    add(&d, 1, "t:0:1", "k", "{\"sink\": \"a\"}");
    add(&d, 1, "t:0:1", "k", "{\"sink\": \"c\"}");
    int failed = 0;
    json_t *r = bc_diff_compare(&d, &failed);
    assert_int_equal(failed, 1);
    assert_int_equal(num(r, "identical"), 2);
    assert_int_equal(num(r, "extra"), 1);
    json_decref(r);
    bc_diff_free(&d);
}

static void test_ignored_fields(void **state)
{
    (void)state;
    static const char *const ignore[] = {"run_id"};
    struct bc_diff d = {.ignore = ignore, .ignore_count = 1};
    add(&d, 0, "t:0:1", NULL, "{\"x\": {\"run_id\": \"r1\", \"y\": 1}}");
    add(&d, 1, "t:0:1", NULL, "{\"x\": {\"run_id\": \"r2\", \"y\": 1}}");
    int failed = 1;
    json_t *r = bc_diff_compare(&d, &failed);
    assert_int_equal(failed, 0);
    assert_int_equal(num(r, "identical"), 1);
    json_decref(r);
    bc_diff_free(&d);
}

static void test_unreproducible_apart(void **state)
{
    (void)state;
    struct bc_diff d = {0};
    add(&d, 0, "t:0:1", "k", "{\"flags\": [\"idle_decided\"], \"sampling\": 1}");
    add(&d, 1, "t:0:1", "k", "{\"flags\": [\"idle_decided\"], \"sampling\": 2}");
    add(&d, 0, "t:0:2", "k", "{\"flags\": [\"decided_early\"]}");
    add(&d, 1, "t:0:3", "k", "{\"flags\": [\"clock_skew\"]}");
    int failed = 0;
    json_t *r = bc_diff_compare(&d, &failed);
    assert_int_equal(failed, 1); /* t:0:3 is an ordinary extra record */
    assert_int_equal(num(r, "differing"), 0);
    assert_int_equal(num(r, "missing"), 0);
    assert_int_equal(num(r, "extra"), 1);
    json_t *u = json_object_get(r, "unreproducible");
    assert_int_equal(num(u, "differing"), 1);
    assert_int_equal(num(u, "missing"), 1);
    json_decref(r);
    bc_diff_free(&d);
    assert_int_equal(bc_diff_unreproducible(NULL), 0);
}

static void test_no_source_header(void **state)
{
    (void)state;
    struct bc_diff d = {0};
    assert_int_equal(bc_diff_add(&d, 0, NULL, "x:0:5", NULL, 0, NULL), 0);
    assert_int_equal(bc_diff_add(&d, 1, "", "x:0:5", NULL, 0, NULL), 0);
    int failed = 1;
    json_t *r = bc_diff_compare(&d, &failed);
    assert_int_equal(failed, 0);
    assert_int_equal(num(r, "identical"), 1);
    json_decref(r);
    bc_diff_free(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_order_does_not_matter),
        cmocka_unit_test(test_missing_extra_differing),
        cmocka_unit_test(test_several_outputs_per_source),
        cmocka_unit_test(test_ignored_fields),
        cmocka_unit_test(test_unreproducible_apart),
        cmocka_unit_test(test_no_source_header),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
