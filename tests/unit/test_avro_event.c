/*
 * bc_event: the C view of TrackingEvent. Builds an event with every setter, encodes it,
 * checks the JSON of the decoded record exactly, reads it back with the getters, and checks
 * the layout check and that a cleared event still refuses to encode without its required
 * fields.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bc_event.h"

static struct bc_avro_registry *load(void)
{
    char dir[4096], errstr[512];
    const char *root = getenv("BC_ROOT");
    snprintf(dir, sizeof(dir), "%s/schemas", root ? root : ".");
    struct bc_avro_registry *reg = NULL;
    assert_int_equal(bc_avro_registry_load(dir, &reg, errstr, sizeof(errstr)), 0);
    return reg;
}

static void build(avro_value_t *ev)
{
    avro_value_t attrs, any, values, item, inner;
    assert_int_equal(bc_event_clear(ev), 0);
    assert_int_equal(
        bc_event_set_string(ev, BC_EV_EVENT_ID, "0123456789abcdef0123456789abcdefXX", 32), 0);
    assert_int_equal(bc_event_set_enum(ev, BC_EV_KIND, BC_EVENT_SPAN), 0);
    assert_int_equal(
        bc_event_set_string(ev, BC_EV_TRACE_ID, "4bf92f3577b34da6a3ce929d0e0e4736", 32), 0);
    assert_int_equal(bc_event_set_string(ev, BC_EV_SPAN_ID, "00f067aa0ba902b7", 16), 0);
    assert_int_equal(bc_event_set_string(ev, BC_EV_NAME, "GET /cart", 9), 0);
    assert_int_equal(bc_event_set_string(ev, BC_EV_SERVICE, "cart", 4), 0);
    assert_int_equal(bc_event_set_long(ev, BC_EV_START_TIME_NS, 100), 0);
    assert_int_equal(bc_event_set_long(ev, BC_EV_END_TIME_NS, 250), 0);
    assert_int_equal(bc_event_set_long(ev, BC_EV_OBSERVED_TIME_NS, 300), 0);
    assert_int_equal(bc_event_set_enum(ev, BC_EV_SPAN_KIND, BC_SPAN_KIND_CLIENT), 0);
    assert_int_equal(bc_event_set_status(ev, BC_STATUS_ERROR, "boom!!", 4), 0);
    assert_int_equal(bc_event_set_int(ev, BC_EV_SEVERITY_NUMBER, 17), 0);
    assert_int_equal(bc_event_field(ev, BC_EV_ATTRIBUTES, &attrs), 0);
    assert_int_equal(bc_event_kv_append(&attrs, "s", 1, &any), 0);
    assert_int_equal(bc_any_set_string(&any, "text", 4), 0);
    assert_int_equal(bc_event_kv_append(&attrs, "b", 1, &any), 0);
    assert_int_equal(bc_any_set_bool(&any, 1), 0);
    assert_int_equal(bc_event_kv_append(&attrs, "l", 1, &any), 0);
    assert_int_equal(bc_any_set_long(&any, -5), 0);
    assert_int_equal(bc_event_kv_append(&attrs, "d", 1, &any), 0);
    assert_int_equal(bc_any_set_double(&any, 0.5), 0);
    assert_int_equal(bc_event_kv_append(&attrs, "y", 1, &any), 0);
    assert_int_equal(bc_any_set_bytes(&any, "\x01\x02", 2), 0);
    assert_int_equal(bc_event_kv_append(&attrs, "n", 1, &any), 0);
    assert_int_equal(bc_any_set_null(&any), 0);
    assert_int_equal(bc_event_kv_append(&attrs, "a", 1, &any), 0);
    assert_int_equal(bc_any_set_array(&any, &values), 0);
    assert_int_equal(avro_value_append(&values, &item, NULL), 0);
    assert_int_equal(bc_any_set_long(&item, 1), 0);
    assert_int_equal(bc_event_kv_append(&attrs, "kv", 2, &any), 0);
    assert_int_equal(bc_any_set_kvlist(&any, &values), 0);
    assert_int_equal(bc_event_kv_append(&values, "inner", 5, &inner), 0);
    assert_int_equal(bc_any_set_string(&inner, "v", 1), 0);
    assert_int_equal(bc_event_field(ev, BC_EV_RESOURCE_ATTRIBUTES, &attrs), 0);
    assert_int_equal(bc_event_kv_append(&attrs, "service.name", 12, &any), 0);
    assert_int_equal(bc_any_set_string(&any, "cart", 4), 0);
    assert_int_equal(bc_event_set_scope(ev, "lib", "1.0", &attrs), 0);
    assert_int_equal(bc_event_set_body(ev, &any), 0);
    assert_int_equal(bc_any_set_string(&any, "hello", 5), 0);
    assert_int_equal(bc_event_set_source(ev, "tracking.raw", 3, 77, 2), 0);
    assert_int_equal(bc_event_add_flag(ev, "clock_skew"), 0);
    assert_int_equal(bc_event_set_string(ev, BC_EV_TEAM, "cart", 4), 0);
    assert_int_equal(bc_event_set_deploy(ev, "d-1", "1.4.2", "abc", 42), 0);
    assert_int_equal(bc_event_set_sampling(ev, "errors", 1.0), 0);
    assert_int_equal(bc_event_add_span_event(ev, 200, "exception", &attrs), 0);
    assert_int_equal(bc_event_kv_append(&attrs, "exception.type", 14, &any), 0);
    assert_int_equal(bc_any_set_string(&any, "Timeout", 7), 0);
    assert_int_equal(
        bc_event_add_link(ev, "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331", NULL), 0);
}

static void test_avro_event_build_encode_read(void **state)
{
    (void)state;
    struct bc_avro_registry *reg = load();
    const struct bc_avro_schema *te = bc_avro_registry_lookup(reg, "TrackingEvent");
    char errstr[512];
    assert_int_equal(bc_event_check(te, errstr, sizeof(errstr)), 0);
    assert_int_equal(bc_event_check(bc_avro_registry_lookup(reg, "Fate"), errstr, sizeof(errstr)),
                     -1);

    avro_value_t ev, out;
    assert_int_equal(bc_avro_value_new(te, &ev), 0);
    assert_int_equal(bc_avro_value_new(te, &out), 0);
    struct bc_avro_buf buf = {0};
    for (int round = 0; round < 2; round++) { /* the second round reuses the value */
        build(&ev);
        assert_int_equal(bc_avro_encode(te, &ev, &buf, errstr, sizeof(errstr)), 0);
    }
    assert_int_equal(bc_avro_decode(reg, te, buf.data, buf.len, &out, errstr, sizeof(errstr)), 0);
    json_t *j = bc_avro_to_json(te, &out, 0);
    char *text = json_dumps(j, JSON_COMPACT | JSON_ENSURE_ASCII);
    assert_string_equal(
        text,
        "{\"event_id\":\"0123456789abcdef0123456789abcdef\",\"kind\":\"SPAN\","
        "\"trace_id\":\"4bf92f3577b34da6a3ce929d0e0e4736\",\"span_id\":\"00f067aa0ba902b7\","
        "\"parent_span_id\":null,\"correlation_id\":null,\"name\":\"GET /cart\","
        "\"service\":\"cart\",\"start_time_ns\":100,\"end_time_ns\":250,\"observed_time_ns\":300,"
        "\"span_kind\":\"CLIENT\",\"status\":{\"code\":\"ERROR\",\"message\":\"boom\"},"
        "\"severity_number\":17,\"severity_text\":null,\"attributes\":["
        "{\"key\":\"s\",\"value\":{\"value\":\"text\"}},{\"key\":\"b\",\"value\":{\"value\":true}},"
        "{\"key\":\"l\",\"value\":{\"value\":-5}},{\"key\":\"d\",\"value\":{\"value\":0.5}},"
        "{\"key\":\"y\",\"value\":{\"value\":\"\\u0001\\u0002\"}},"
        "{\"key\":\"n\",\"value\":{\"value\":null}},"
        "{\"key\":\"a\",\"value\":{\"value\":{\"values\":[{\"value\":1}]}}},"
        "{\"key\":\"kv\",\"value\":{\"value\":{\"values\":[{\"key\":\"inner\",\"value\":"
        "{\"value\":\"v\"}}]}}}],"
        "\"resource_attributes\":[{\"key\":\"service.name\",\"value\":{\"value\":\"cart\"}}],"
        "\"scope\":{\"name\":\"lib\",\"version\":\"1.0\",\"attributes\":[]},"
        "\"body\":{\"value\":\"hello\"},"
        "\"source\":{\"topic\":\"tracking.raw\",\"partition\":3,\"offset\":77,\"index\":2},"
        "\"flags\":[\"clock_skew\"],\"owner\":null,\"team\":\"cart\",\"tier\":null,"
        "\"cost_center\":null,\"on_call\":null,"
        "\"deploy\":{\"deploy_id\":\"d-1\",\"version\":\"1.4.2\",\"commit\":\"abc\","
        "\"deployed_at_ns\":42},\"sampling\":{\"policy\":\"errors\",\"probability\":1.0},"
        "\"span_events\":[{\"time_ns\":200,\"name\":\"exception\",\"attributes\":"
        "[{\"key\":\"exception.type\",\"value\":{\"value\":\"Timeout\"}}]}],"
        "\"links\":[{\"trace_id\":\"0af7651916cd43dd8448eb211c80319c\","
        "\"span_id\":\"b7ad6b7169203331\",\"attributes\":[]}]}");
    free(text);
    json_decref(j);

    /* Readers on the decoded record. */
    size_t len = 0;
    assert_string_equal(bc_event_get_string(&out, BC_EV_TRACE_ID, &len),
                        "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_int_equal(len, 32);
    assert_null(bc_event_get_string(&out, BC_EV_PARENT_SPAN_ID, NULL));
    int64_t l = 0;
    int kind = -1;
    int32_t sev = 0;
    assert_int_equal(bc_event_get_long(&out, BC_EV_END_TIME_NS, &l), 0);
    assert_int_equal(l, 250);
    assert_int_equal(bc_event_get_enum(&out, BC_EV_KIND, &kind), 0);
    assert_int_equal(kind, BC_EVENT_SPAN);
    assert_int_equal(bc_event_get_int(&out, BC_EV_SEVERITY_NUMBER, &sev), 0);
    assert_int_equal(sev, 17);
    assert_int_equal(bc_event_get_enum(&out, BC_EV_SPAN_KIND, &kind), 0);
    assert_int_equal(kind, BC_SPAN_KIND_CLIENT);
    avro_value_t attrs, any, inner;
    assert_int_equal(bc_event_field(&out, BC_EV_ATTRIBUTES, &attrs), 0);
    assert_int_equal(bc_event_kv_find(&attrs, "l", &any), 0);
    assert_int_equal(bc_any_get(&any, &inner), BC_ANY_LONG);
    assert_int_equal(avro_value_get_long(&inner, &l), 0);
    assert_int_equal(l, -5);
    assert_int_equal(bc_event_kv_find(&attrs, "kv", &any), 0);
    assert_int_equal(bc_any_get(&any, &inner), BC_ANY_KVLIST);
    assert_int_equal(bc_event_kv_find(&inner, "inner", &any), 0);
    assert_int_equal(bc_any_get(&any, &inner), BC_ANY_STRING);
    assert_int_equal(bc_event_kv_find(&attrs, "missing", &any), -1);

    /* Only some fields: those decode as in full, the others are skipped (left unset), and a
     * truncated record still fails. */
    uint64_t fields = (1u << BC_EV_EVENT_ID) | (1u << BC_EV_KIND) | (1u << BC_EV_SOURCE);
    assert_int_equal(bc_avro_decode_fields(reg, te, buf.data, buf.len, &out, fields, errstr,
                                           sizeof(errstr)),
                     0);
    assert_string_equal(bc_event_get_string(&out, BC_EV_EVENT_ID, NULL),
                        "0123456789abcdef0123456789abcdef");
    assert_int_equal(bc_event_get_enum(&out, BC_EV_KIND, &kind), 0);
    assert_int_equal(kind, BC_EVENT_SPAN);
    avro_value_t source, f;
    assert_int_equal(bc_event_field(&out, BC_EV_SOURCE, &source), 0);
    assert_int_equal(avro_value_get_by_name(&source, "offset", &f, NULL), 0);
    assert_int_equal(avro_value_get_long(&f, &l), 0);
    assert_int_equal(l, 77);
    assert_null(bc_event_get_string(&out, BC_EV_TRACE_ID, NULL));
    assert_int_equal(bc_event_field(&out, BC_EV_ATTRIBUTES, &attrs), 0);
    size_t n_attrs = 1;
    assert_int_equal(avro_value_get_size(&attrs, &n_attrs), 0);
    assert_int_equal(n_attrs, 0);
    assert_int_not_equal(bc_avro_decode_fields(reg, te, buf.data, buf.len - 1, &out, fields,
                                               errstr, sizeof(errstr)),
                         0);

    /* A cleared event still needs its required strings. */
    assert_int_equal(bc_event_clear(&ev), 0);
    assert_int_equal(bc_avro_encode(te, &ev, &buf, errstr, sizeof(errstr)), BC_AVRO_ERR_VALUE);
    assert_string_equal(errstr, "event_id: string not set");
    assert_int_equal(bc_event_set_null(&ev, BC_EV_NAME), -1); /* not nullable */

    avro_value_decref(&ev);
    avro_value_decref(&out);
    bc_avro_buf_free(&buf);
    bc_avro_registry_destroy(reg);
}

/* A decode of some fields (bc_avro_decode_fields) rejects a record malformed in a field it
 * skips with the same error as a whole decode (the tail-sampler and the lineage-builder
 * dead-letter the same records either way). */
static void test_avro_event_skipped_fields_checked(void **state)
{
    (void)state;
    struct bc_avro_registry *reg = load();
    const struct bc_avro_schema *te = bc_avro_registry_lookup(reg, "TrackingEvent");
    char errstr[512], full_err[512];
    uint64_t fields = (1u << BC_EV_KIND) | (1u << BC_EV_TRACE_ID) | (1u << BC_EV_SOURCE) |
                      (1u << BC_EV_ATTRIBUTES) | (1u << BC_EV_RESOURCE_ATTRIBUTES);
    avro_value_t ev, out, pv, attrs;
    assert_int_equal(bc_avro_value_new(te, &ev), 0);
    assert_int_equal(bc_avro_value_new(te, &out), 0);
    assert_int_equal(bc_avro_value_new(te, &pv), 0);
    struct bc_avro_buf buf = {0};
    build(&ev);
    assert_int_equal(bc_avro_encode(te, &ev, &buf, errstr, sizeof(errstr)), 0);
    for (int round = 0; round < 2; round++) { /* the second round reuses the value */
        assert_int_equal(bc_avro_decode_fields(reg, te, buf.data, buf.len, &pv, fields, errstr,
                                               sizeof(errstr)),
                         0);
    }
    int kind = -1;
    size_t n = 0;
    assert_int_equal(bc_event_get_enum(&pv, BC_EV_KIND, &kind), 0);
    assert_int_equal(kind, BC_EVENT_SPAN);
    assert_string_equal(bc_event_get_string(&pv, BC_EV_TRACE_ID, NULL),
                        "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_int_equal(bc_event_field(&pv, BC_EV_ATTRIBUTES, &attrs), 0);
    assert_int_equal(avro_value_get_size(&attrs, &n), 0);
    assert_int_equal(n, 8);
    const char *id = bc_event_get_string(&pv, BC_EV_EVENT_ID, NULL); /* skipped: left reset */
    assert_true(id == NULL || id[0] == '\0');

    /* Malformed where the decode skips: the span's name (not UTF-8), then a span event's
     * name (inside an array of records). Same error as a whole decode. */
    static const char *const where[] = {"GET /cart", "exception"};
    for (size_t i = 0; i < 2; i++) {
        uint8_t *at = memmem(buf.data, buf.len, where[i], strlen(where[i]));
        assert_non_null(at);
        at[1] = 0xff;
        assert_int_equal(bc_avro_decode(reg, te, buf.data, buf.len, &out, full_err,
                                        sizeof(full_err)),
                         BC_AVRO_ERR_MALFORMED);
        assert_int_equal(bc_avro_decode_fields(reg, te, buf.data, buf.len, &pv, fields, errstr,
                                               sizeof(errstr)),
                         BC_AVRO_ERR_MALFORMED);
        assert_string_equal(errstr, full_err);
        at[1] = (uint8_t)where[i][1];
    }
    assert_int_equal(bc_avro_decode_fields(reg, te, buf.data, buf.len, &pv, fields, errstr,
                                           sizeof(errstr)),
                     0);

    avro_value_decref(&ev);
    avro_value_decref(&out);
    avro_value_decref(&pv);
    bc_avro_buf_free(&buf);
    bc_avro_registry_destroy(reg);
}

/* bc_avro_to_json_text writes what json_dumps(bc_avro_to_json(...), JSON_COMPACT) writes,
 * byte for byte, with every flag: repeated keys (first position, last value), escapes (quotes,
 * backslashes, control characters, NUL), non-ASCII, bytes >= 0x80, reals (NaN as null,
 * integral, tiny, huge), extreme longs, empty arrays; and fails where it returns NULL. */
static void test_avro_event_json_text_as_jansson(void **state)
{
    (void)state;
    struct bc_avro_registry *reg = load();
    const struct bc_avro_schema *te = bc_avro_registry_lookup(reg, "TrackingEvent");
    avro_value_t ev, attrs, any, values;
    assert_int_equal(bc_avro_value_new(te, &ev), 0);
    build(&ev);
    assert_int_equal(bc_event_field(&ev, BC_EV_ATTRIBUTES, &attrs), 0);
#define KV(k, v) {k, v, sizeof(v) - 1}
    static const struct {
        const char *key, *value;
        size_t len;
    } strings[] = {
        KV("s", "replaced"), /* "s" again: keeps its first position, takes this value */
        KV("q", "say \"hi\" \\ back/slash"),
        KV("ctl", "a\x01\x1f\b\f\n\r\t\x7f z"),
        KV("nul", "x\0y"),
        KV("utf8", "caf\xc3\xa9 \xf0\x9f\x98\x80 \xe2\x80\xa8"),
        KV("", "empty key"),
        KV("long", "0123456789abcdef0123456789abcdef\"0123456789"),
        KV("q", "last q"),
    };
#undef KV
    for (size_t i = 0; i < sizeof(strings) / sizeof(strings[0]); i++) {
        assert_int_equal(bc_event_kv_append(&attrs, strings[i].key, strlen(strings[i].key), &any),
                         0);
        assert_int_equal(bc_any_set_string(&any, strings[i].value, strings[i].len), 0);
    }
    static const double reals[] = {0.1, 100, 1e300, -1.5e-7, 0.0 / 0.0, 1.0 / 0.0, -0.0};
    for (size_t i = 0; i < sizeof(reals) / sizeof(reals[0]); i++) {
        assert_int_equal(bc_event_kv_append(&attrs, "r", 1, &any), 0);
        assert_int_equal(bc_any_set_double(&any, reals[i]), 0);
        char key[8];
        int n = snprintf(key, sizeof(key), "r%zu", i);
        assert_int_equal(bc_event_kv_append(&attrs, key, (size_t)n, &any), 0);
        assert_int_equal(bc_any_set_double(&any, reals[i]), 0);
    }
    assert_int_equal(bc_event_kv_append(&attrs, "min", 3, &any), 0);
    assert_int_equal(bc_any_set_long(&any, INT64_MIN), 0);
    assert_int_equal(bc_event_kv_append(&attrs, "max", 3, &any), 0);
    assert_int_equal(bc_any_set_long(&any, INT64_MAX), 0);
    assert_int_equal(bc_event_kv_append(&attrs, "hi-bytes", 8, &any), 0);
    assert_int_equal(bc_any_set_bytes(&any, "\x00\x22\x5c\x80\xff", 5), 0);
    assert_int_equal(bc_event_kv_append(&attrs, "none", 4, &any), 0);
    assert_int_equal(bc_any_set_array(&any, &values), 0);
    struct bc_avro_buf buf = {0};
    for (int flags = 0; flags < 4; flags++) {
        json_t *j = bc_avro_to_json(te, &ev, flags);
        char *want = json_dumps(j, JSON_COMPACT);
        assert_non_null(want);
        assert_int_equal(bc_avro_to_json_text(te, &ev, flags, &buf), 0);
        assert_int_equal(buf.len, strlen(want));
        assert_string_equal((const char *)buf.data, want);
        free(want);
        json_decref(j);
    }
    /* an unset required string: no JSON either way */
    assert_int_equal(bc_event_clear(&ev), 0);
    assert_null(bc_avro_to_json(te, &ev, BC_AVRO_JSON_OTLP));
    assert_int_equal(bc_avro_to_json_text(te, &ev, BC_AVRO_JSON_OTLP, &buf), -1);
    assert_int_equal(buf.len, 0);
    bc_avro_buf_free(&buf);
    avro_value_decref(&ev);
    bc_avro_registry_destroy(reg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_avro_event_build_encode_read),
        cmocka_unit_test(test_avro_event_skipped_fields_checked),
        cmocka_unit_test(test_avro_event_json_text_as_jansson),
    };
    return cmocka_run_group_tests_name("bc_event", tests, NULL, NULL);
}
