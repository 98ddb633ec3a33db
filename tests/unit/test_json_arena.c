/*
 * workers/normalizer/json_arena.c: parse trees in the region between begin and end, every
 * other jansson allocation on malloc, and frees of either kind safe at any time.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include <jansson.h>

#include "workers/normalizer/json_arena.h"

static const char doc[] = "{\"resourceSpans\": [{\"resource\": {\"attributes\": [{\"key\": "
                          "\"service.name\", \"value\": {\"stringValue\": \"cart\"}}]}}]}";

static void test_tree_in_region_reused(void **state)
{
    (void)state;
    /* Made before the allocator is installed: malloc'd, freed after it is installed. */
    json_t *before = json_pack("{s:s}", "a", "b");
    assert_non_null(before);
    assert_int_equal(json_arena_install(), 0);
    assert_int_equal(json_arena_install(), 0); /* idempotent */

    json_arena_begin();
    json_t *first = json_loads(doc, 0, NULL);
    assert_int_equal(json_arena_end(), 1);
    assert_non_null(first);
    const char *name = json_string_value(json_object_get(
        json_array_get(json_object_get(json_object_get(
                           json_array_get(json_object_get(first, "resourceSpans"), 0),
                           "resource"),
                       "attributes"),
                       0),
        "key"));
    assert_string_equal(name, "service.name");
    /* Made outside begin/end: malloc'd, and holds a region node. */
    json_t *outside = json_object();
    assert_int_equal(json_object_set(outside, "tree", first), 0);
    char *text = json_dumps(outside, JSON_COMPACT);
    assert_non_null(text);
    json_decref(outside); /* frees the malloc'd object; the region node's free is a no-op */
    json_decref(before);
    free(text);

    /* The next record reuses the region from its start. */
    json_arena_begin();
    json_t *second = json_loads(doc, 0, NULL);
    assert_int_equal(json_arena_end(), 1);
    assert_ptr_equal(second, first);
    json_decref(second); /* allowed, not needed */

    /* Outside begin/end, parses are ordinary. */
    json_t *plain = json_loads(doc, 0, NULL);
    assert_non_null(plain);
    assert_ptr_not_equal(plain, first);
    json_decref(plain);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tree_in_region_reused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
