/* The tail-sampler's splice of the sampling fields and its intake walk
 * (workers/tail_sampler/patch.h): the same bytes as a decode, set and encode, the same fields
 * as a decode, and a decline for records not in the encoder's form or not valid. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bc_avro.h"
#include "bc_event.h"
#include "workers/tail_sampler/patch.h"

struct fixture {
    struct bc_avro_registry *reg;
    const struct bc_avro_schema *schema;
    avro_value_t ev;
};

static int setup(void **state)
{
    static struct fixture fx;
    char err[256], root[PATH_MAX], dir[PATH_MAX + 16];
    const char *env = getenv("BC_ROOT");
    assert_non_null(realpath(env != NULL ? env : ".", root));
    snprintf(dir, sizeof(dir), "%s/schemas", root);
    assert_int_equal(bc_avro_registry_load(dir, &fx.reg, err, sizeof(err)), 0);
    fx.schema = bc_avro_registry_lookup(fx.reg, "TrackingEvent");
    assert_non_null(fx.schema);
    assert_int_equal(bc_avro_value_new(fx.schema, &fx.ev), 0);
    *state = &fx;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fx = *state;
    avro_value_decref(&fx->ev);
    bc_avro_registry_destroy(fx->reg);
    return 0;
}

/* Event i: attributes, flags and a sampling field present or not, some large values (long
 * varints, multi-byte lengths). */
static void event(struct fixture *fx, int i, struct bc_avro_buf *buf)
{
    avro_value_t *ev = &fx->ev;
    char id[33], big[600];
    snprintf(id, sizeof(id), "%032x", (unsigned)i * 2654435761u);
    memset(big, 'a' + i % 26, sizeof(big));
    assert_int_equal(bc_event_clear(ev), 0);
    bc_event_set_string(ev, BC_EV_EVENT_ID, id, 32);
    bc_event_set_enum(ev, BC_EV_KIND, BC_EVENT_SPAN);
    bc_event_set_string(ev, BC_EV_TRACE_ID, id, 32);
    bc_event_set_string(ev, BC_EV_SPAN_ID, id, 16);
    bc_event_set_string(ev, BC_EV_NAME, big, (size_t)(i * 37) % sizeof(big));
    bc_event_set_string(ev, BC_EV_SERVICE, "checkout", 8);
    bc_event_set_long(ev, BC_EV_START_TIME_NS, 1795000000000000000LL + i);
    bc_event_set_long(ev, BC_EV_END_TIME_NS, (int64_t)i * -977);
    bc_event_set_status(ev, i % 3 == 0 ? BC_STATUS_ERROR : BC_STATUS_OK, "", 0);
    bc_event_set_source(ev, "raw", i % 4, i, i);
    avro_value_t attrs, any;
    bc_event_field(ev, BC_EV_ATTRIBUTES, &attrs);
    for (int k = 0; k < i % 5; k++) {
        bc_event_kv_append(&attrs, "http.route", 10, &any);
        bc_any_set_string(&any, big, (size_t)k * 100);
    }
    for (int k = 0; k < i % 3; k++) {
        assert_int_equal(bc_event_add_flag(ev, k == 0 ? "retried" : "normalized"), 0);
    }
    if (i % 4 == 1) {
        assert_int_equal(bc_event_set_sampling(ev, "upstream", 0.25), 0);
    }
    char err[256];
    assert_int_equal(bc_avro_encode(fx->schema, ev, buf, err, sizeof(err)), 0);
}

/* What the stage wrote before the splice: decode, set, encode. */
static void generic(struct fixture *fx, const struct bc_avro_buf *in, const char *policy,
                    double p, int sampled, const char *const *flags, size_t n,
                    struct bc_avro_buf *out)
{
    char err[256];
    assert_int_equal(
        bc_avro_decode(fx->reg, fx->schema, in->data, in->len, &fx->ev, err, sizeof(err)), 0);
    if (sampled) {
        assert_int_equal(bc_event_set_sampling(&fx->ev, policy, p), 0);
    }
    for (size_t k = 0; k < n; k++) {
        assert_int_equal(bc_event_add_flag(&fx->ev, flags[k]), 0);
    }
    assert_int_equal(bc_avro_encode(fx->schema, &fx->ev, out, err, sizeof(err)), 0);
}

static void test_patch_writes_what_the_round_trip_writes(void **state)
{
    struct fixture *fx = *state;
    struct ts_patcher *pt = ts_patcher_new(fx->schema);
    assert_non_null(pt);
    struct bc_avro_buf in = {0}, want = {0}, got = {0};
    static const char *const flags[] = {"idle_decided", "decided_early"};
    for (int i = 0; i < 60; i++) {
        event(fx, i, &in);
        for (int mode = 0; mode < 6; mode++) {
            int sampled = mode % 2 == 0;
            size_t n = (size_t)(mode / 2);
            const char *const *f = n == 1 && i % 2 ? flags + 1 : flags;
            double p = 1.0 / (1 + i);
            generic(fx, &in, "errors", p, sampled, f, n, &want);
            assert_int_equal(ts_patch(pt, in.data, in.len, "errors", p, sampled, f, n, &got), 0);
            assert_int_equal(got.len, want.len);
            assert_memory_equal(got.data, want.data, want.len);
            /* The same from where ts_scan found the flags field. */
            const uint8_t *at[BC_EV_FLAGS + 1];
            assert_int_equal(ts_scan(pt, in.data, in.len, at, BC_EV_FLAGS + 1), 0);
            got.len = 0;
            assert_int_equal(ts_patch_from(pt, in.data, in.len, (size_t)(at[BC_EV_FLAGS] - in.data),
                                           "errors", p, sampled, f, n, &got),
                             0);
            assert_int_equal(got.len, want.len);
            assert_memory_equal(got.data, want.data, want.len);
        }
    }
    bc_avro_buf_free(&in);
    bc_avro_buf_free(&want);
    bc_avro_buf_free(&got);
    ts_patcher_free(pt);
}

static void test_patch_declines_other_encodings(void **state)
{
    struct fixture *fx = *state;
    struct ts_patcher *pt = ts_patcher_new(fx->schema);
    assert_non_null(pt);
    struct bc_avro_buf in = {0}, got = {0};
    event(fx, 0, &in); /* kind SPAN (enum 0) right after the event_id */
    size_t at = 5 + 1 + 32;
    assert_int_equal(in.data[at], 0);
    assert_int_equal(ts_patch(pt, in.data, in.len, "p", 1.0, 1, NULL, 0, &got), 0);
    /* The same record with the enum index as a two-byte varint: a valid record the decoder
     * reads, which a round trip writes shorter. */
    uint8_t *longer = malloc(in.len + 1);
    assert_non_null(longer);
    memcpy(longer, in.data, at);
    longer[at] = 0x80;
    longer[at + 1] = 0x00;
    memcpy(longer + at + 2, in.data + at + 1, in.len - at - 1);
    char err[256];
    assert_int_equal(
        bc_avro_decode(fx->reg, fx->schema, longer, in.len + 1, &fx->ev, err, sizeof(err)), 0);
    assert_int_equal(ts_patch(pt, longer, in.len + 1, "p", 1.0, 1, NULL, 0, &got), -1);
    /* Another schema id, trailing bytes, a truncated record. */
    memcpy(longer, in.data, in.len);
    longer[4] ^= 1;
    assert_int_equal(ts_patch(pt, longer, in.len, "p", 1.0, 1, NULL, 0, &got), -1);
    longer[4] ^= 1;
    longer[in.len] = 0;
    assert_int_equal(ts_patch(pt, longer, in.len + 1, "p", 1.0, 1, NULL, 0, &got), -1);
    assert_int_equal(ts_patch(pt, longer, in.len - 1, "p", 1.0, 1, NULL, 0, &got), -1);
    free(longer);
    bc_avro_buf_free(&in);
    bc_avro_buf_free(&got);
    ts_patcher_free(pt);
}

/* The intake's walk accepts what the decoder accepts and reads the same fields. */
static void test_scan_reads_fields_and_declines_bad_records(void **state)
{
    struct fixture *fx = *state;
    struct ts_patcher *pt = ts_patcher_new(fx->schema);
    assert_non_null(pt);
    struct bc_avro_buf in = {0};
    const uint8_t *at[BC_EV_SOURCE + 1];
    for (int i = 0; i < 20; i++) {
        event(fx, i, &in);
        assert_int_equal(ts_scan(pt, in.data, in.len, at, BC_EV_SOURCE + 1), 0);
        const uint8_t *p = at[BC_EV_START_TIME_NS];
        assert_true(ts_read_long(&p) == 1795000000000000000LL + i);
        p = at[BC_EV_END_TIME_NS];
        assert_true(ts_read_long(&p) == (int64_t)i * -977);
        p = at[BC_EV_KIND];
        assert_int_equal(ts_read_long(&p), BC_EVENT_SPAN);
    }
    /* "checkout" with a byte that is not UTF-8: the decoder refuses it, so does the walk. */
    event(fx, 0, &in);
    uint8_t *c = memmem(in.data, in.len, "checkout", 8);
    assert_non_null(c);
    c[3] = 0xff;
    char err[256];
    assert_int_not_equal(
        bc_avro_decode(fx->reg, fx->schema, in.data, in.len, &fx->ev, err, sizeof(err)), 0);
    assert_int_equal(ts_scan(pt, in.data, in.len, at, BC_EV_SOURCE + 1), -1);
    bc_avro_buf_free(&in);
    ts_patcher_free(pt);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_patch_writes_what_the_round_trip_writes),
        cmocka_unit_test(test_patch_declines_other_encodings),
        cmocka_unit_test(test_scan_reads_fields_and_declines_bad_records),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
