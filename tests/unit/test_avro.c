/*
 * bc_avro: round trips of every Avro type and of a full TrackingEvent, byte equality with
 * avro-c's own writer, schema evolution (v1 read as v2 with defaults, promotions, aliases),
 * every wire-format error, hostile input (never a crash), the encoder's refusals, the
 * compatibility checker and the registry check. Run from the repository root (or BC_ROOT).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bc_avro.h"

static char dirbuf[4096];

static const char *path_of(const char *rel)
{
    const char *root = getenv("BC_ROOT");
    snprintf(dirbuf, sizeof(dirbuf), "%s/%s", root ? root : ".", rel);
    return dirbuf;
}

static struct bc_avro_registry *load(const char *rel)
{
    struct bc_avro_registry *reg = NULL;
    char errstr[512] = "";
    int rc = bc_avro_registry_load(path_of(rel), &reg, errstr, sizeof(errstr));
    if (rc != 0) {
        fprintf(stderr, "load %s: %s\n", rel, errstr);
    }
    assert_int_equal(rc, 0);
    return reg;
}

static json_t *parse(const char *text)
{
    json_error_t jerr;
    json_t *j = json_loads(text, JSON_ALLOW_NUL, &jerr);
    if (j == NULL) {
        fprintf(stderr, "bad test JSON: %s\n", jerr.text);
    }
    assert_non_null(j);
    return j;
}

/* Every Avro type, unions tagged as Avro's JSON encoding does. */
static const char *WIDGET_V1 =
    "{\"id\": \"w-1\", \"count\": -7, \"total\": 1099511627776, \"ratio\": 1.5,"
    " \"score\": -2.25, \"ok\": true, \"blob\": \"\\u00c3\\u00a9\", \"nothing\": null,"
    " \"digest\": \"ab\\u0000\\u00ff\", \"color\": \"BLUE\", \"tags\": [\"x\", \"y\"],"
    " \"labels\": {\"a\": 1, \"b\": -2}, \"maybe\": {\"string\": \"m\"},"
    " \"choice\": {\"io.breadcrumb.test.Point\": {\"x\": 3, \"y\": -4}},"
    " \"legacy\": [{\"x\": 1, \"y\": 2}, {\"x\": 5, \"y\": 6}]}";

static const char *TRACKING_EVENT =
    "{\"event_id\": \"0123456789abcdef0123456789abcdef\", \"kind\": \"SPAN\","
    " \"trace_id\": \"4bf92f3577b34da6a3ce929d0e0e4736\", \"span_id\": \"00f067aa0ba902b7\","
    " \"parent_span_id\": null, \"correlation_id\": \"order-1\", \"name\": \"GET /cart\","
    " \"service\": \"cart\", \"start_time_ns\": 1700000000000000000,"
    " \"end_time_ns\": 1700000000100000000, \"observed_time_ns\": null,"
    " \"span_kind\": \"SERVER\", \"status\": {\"code\": \"ERROR\", \"message\": \"boom\"},"
    " \"severity_number\": null, \"severity_text\": null,"
    " \"attributes\": ["
    "  {\"key\": \"s\", \"value\": {\"value\": \"str\"}},"
    "  {\"key\": \"b\", \"value\": {\"value\": true}},"
    "  {\"key\": \"i\", \"value\": {\"value\": 42}},"
    "  {\"key\": \"d\", \"value\": {\"value\": 1.5}},"
    "  {\"key\": \"y\", \"value\": {\"value\": {\"bytes\": \"\\u0000\\u00ff\"}}},"
    "  {\"key\": \"a\", \"value\": {\"value\": {\"values\": [{\"value\": \"x\"}, {\"value\": "
    "7}]}}},"
    "  {\"key\": \"kv\", \"value\": {\"value\": {\"values\": ["
    "    {\"key\": \"n\", \"value\": {\"value\": null}},"
    "    {\"key\": \"nested\", \"value\": {\"value\": {\"values\": [{\"value\": false}]}}}]}}},"
    "  {\"key\": \"e\", \"value\": {\"value\": null}}],"
    " \"resource_attributes\": [{\"key\": \"service.name\", \"value\": {\"value\": \"cart\"}}],"
    " \"scope\": {\"name\": \"io.opentelemetry.http\", \"version\": \"1.0\", \"attributes\": []},"
    " \"body\": {\"value\": \"hello\"},"
    " \"source\": {\"topic\": \"tracking.raw\", \"partition\": 3, \"offset\": 12345, \"index\": 0},"
    " \"flags\": [\"clock_skew\"], \"owner\": \"team-cart@example.com\", \"team\": \"cart\","
    " \"tier\": \"1\", \"cost_center\": \"cc-42\", \"on_call\": \"alice\","
    " \"deploy\": {\"deploy_id\": \"d-000123\", \"version\": \"1.4.2\","
    "   \"commit\": \"0123456789abcdef0123456789abcdef01234567\","
    "   \"deployed_at_ns\": 1699990000000000000},"
    " \"sampling\": {\"policy\": \"errors\", \"probability\": 1.0}}";

/* Fills a new value of schema from JSON text. */
static void value_from(const struct bc_avro_schema *schema, const char *text, avro_value_t *v)
{
    char errstr[512] = "";
    json_t *j = parse(text);
    assert_int_equal(bc_avro_value_new(schema, v), 0);
    int rc = bc_avro_from_json(schema, j, v, errstr, sizeof(errstr));
    if (rc != 0) {
        fprintf(stderr, "from_json: %s\n", errstr);
    }
    assert_int_equal(rc, 0);
    json_decref(j);
}

static void encode_ok(const struct bc_avro_schema *schema, avro_value_t *v, struct bc_avro_buf *buf)
{
    char errstr[512] = "";
    int rc = bc_avro_encode(schema, v, buf, errstr, sizeof(errstr));
    if (rc != 0) {
        fprintf(stderr, "encode: %s\n", errstr);
    }
    assert_int_equal(rc, 0);
}

static void test_avro_every_type_round_trip(void **state)
{
    (void)state;
    struct bc_avro_registry *reg = load("schemas/test/evolution");
    const struct bc_avro_schema *v1 = bc_avro_registry_lookup_version(reg, "Widget", 1);
    assert_non_null(v1);
    avro_value_t in, out, ref_out;
    value_from(v1, WIDGET_V1, &in);
    struct bc_avro_buf buf = {0};
    encode_ok(v1, &in, &buf);
    const uint8_t header[5] = {0, 0, 0, 0, 101};
    assert_memory_equal(buf.data, header, 5);

    /* Byte for byte what avro-c writes, and avro-c reads it back. */
    char ref[1024];
    avro_writer_t writer = avro_writer_memory(ref, sizeof(ref));
    assert_int_equal(avro_value_write(writer, &in), 0);
    assert_int_equal(avro_writer_tell(writer), (int64_t)buf.len - 5);
    assert_memory_equal(ref, buf.data + 5, buf.len - 5);
    avro_writer_free(writer);
    avro_reader_t reader = avro_reader_memory((const char *)buf.data + 5, (int64_t)buf.len - 5);
    assert_int_equal(bc_avro_value_new(v1, &ref_out), 0);
    assert_int_equal(avro_value_read(reader, &ref_out), 0);
    assert_true(avro_value_equal(&in, &ref_out));
    avro_reader_free(reader);

    char errstr[512] = "";
    assert_int_equal(bc_avro_value_new(v1, &out), 0);
    assert_int_equal(bc_avro_decode(reg, v1, buf.data, buf.len, &out, errstr, sizeof(errstr)), 0);
    assert_true(avro_value_equal(&in, &out));

    /* JSON: tagged unions give back exactly the input; plain ones the bare branch. */
    json_t *expected = parse(WIDGET_V1);
    json_t *tagged = bc_avro_to_json(v1, &out, BC_AVRO_JSON_TAGGED_UNIONS);
    assert_non_null(tagged);
    assert_true(json_equal(expected, tagged));
    json_t *plain = bc_avro_to_json(v1, &out, 0);
    char *text = json_dumps(plain, JSON_COMPACT | JSON_ENSURE_ASCII);
    assert_string_equal(
        text, "{\"id\":\"w-1\",\"count\":-7,\"total\":1099511627776,\"ratio\":1.5,"
              "\"score\":-2.25,\"ok\":true,\"blob\":\"\\u00C3\\u00A9\",\"nothing\":null,"
              "\"digest\":\"ab\\u0000\\u00FF\",\"color\":\"BLUE\",\"tags\":[\"x\",\"y\"],"
              "\"labels\":{\"a\":1,\"b\":-2},\"maybe\":\"m\",\"choice\":{\"x\":3,\"y\":-4},"
              "\"legacy\":[{\"x\":1,\"y\":2},{\"x\":5,\"y\":6}]}");
    free(text);
    json_decref(plain);
    json_decref(tagged);
    json_decref(expected);
    avro_value_decref(&in);
    avro_value_decref(&out);
    avro_value_decref(&ref_out);
    bc_avro_buf_free(&buf);
    bc_avro_registry_destroy(reg);
}

/* Decodes data (as v, reader r) with bc_avro_decode_canonical and re-encodes it: returns
 * the canonical flag, asserting that a canonical record encodes back to exactly data. */
static int canonical_of(const struct bc_avro_registry *reg, const struct bc_avro_schema *r,
                        const uint8_t *data, size_t len)
{
    char errstr[512] = "";
    avro_value_t v;
    struct bc_avro_buf again = {0};
    int canonical = -1;
    assert_int_equal(bc_avro_value_new(r, &v), 0);
    int rc = bc_avro_decode_canonical(reg, r, data, len, &v, &canonical, errstr, sizeof(errstr));
    if (rc != 0) {
        fprintf(stderr, "decode: %s\n", errstr);
    }
    assert_int_equal(rc, 0);
    encode_ok(r, &v, &again);
    if (canonical) {
        assert_int_equal(again.len, len);
        assert_memory_equal(again.data, data, len);
    }
    avro_value_decref(&v);
    bc_avro_buf_free(&again);
    return canonical;
}

/* Replaces the only occurrence of `from` in buf (a copy of src) by `to`. */
static size_t splice(uint8_t *out, const uint8_t *src, size_t len, const char *from,
                     size_t from_len, const char *to, size_t to_len)
{
    const uint8_t *at = memmem(src, len, from, from_len);
    assert_non_null(at);
    assert_null(memmem(at + 1, len - (size_t)(at + 1 - src), from, from_len));
    size_t head = (size_t)(at - src);
    memcpy(out, src, head);
    memcpy(out + head, to, to_len);
    memcpy(out + head + to_len, at + from_len, len - head - from_len);
    return len - from_len + to_len;
}

/* bc_avro_decode_canonical: what the encoder wrote is canonical (and re-encodes to the same
 * bytes); every other form of the same values is not: longer numbers, blocks, block sizes,
 * repeated map keys, a NUL in a map key, a NaN, a record read as another version. */
static void test_avro_decode_canonical(void **state)
{
    (void)state;
    struct bc_avro_registry *reg = load("schemas/test/evolution");
    const struct bc_avro_schema *v1 = bc_avro_registry_lookup_version(reg, "Widget", 1);
    const struct bc_avro_schema *v2 = bc_avro_registry_lookup(reg, "Widget");
    avro_value_t in;
    value_from(v1, WIDGET_V1, &in);
    struct bc_avro_buf buf = {0};
    encode_ok(v1, &in, &buf);
    assert_int_equal(canonical_of(reg, v1, buf.data, buf.len), 1);

    uint8_t m[1200];
    size_t n;
    assert_true(buf.len + 16 < sizeof(m));
    /* id "w-1": length 3 (zigzag 6) in two bytes */
    n = splice(m, buf.data, buf.len, "\x06w-1", 4, "\x86\x00w-1", 5);
    assert_int_equal(canonical_of(reg, v1, m, n), 0);
    /* tags ["x", "y"]: two blocks of one; one block of -2 with its size */
    n = splice(m, buf.data, buf.len, "\x04\x02x\x02y\x00", 6, "\x02\x02x\x02\x02y\x00", 7);
    assert_int_equal(canonical_of(reg, v1, m, n), 0);
    n = splice(m, buf.data, buf.len, "\x04\x02x\x02y\x00", 6, "\x03\x08\x02x\x02y\x00", 7);
    assert_int_equal(canonical_of(reg, v1, m, n), 0);
    /* labels {"a": 1, "b": -2}: "a" twice; "b\0" as a key */
    n = splice(m, buf.data, buf.len, "\x02\x61\x02\x02\x62\x03", 6, "\x02\x61\x02\x02\x61\x03",
               6);
    assert_int_equal(canonical_of(reg, v1, m, n), 0);
    n = splice(m, buf.data, buf.len, "\x02\x61\x02\x02\x62\x03", 6,
               "\x02\x61\x02\x04\x62\x00\x03", 7);
    assert_int_equal(canonical_of(reg, v1, m, n), 0);
    /* score -2.25 (a double), ratio 1.5 (a float) as NaNs */
    n = splice(m, buf.data, buf.len, "\x00\x00\x00\x00\x00\x00\x02\xc0", 8,
               "\x00\x00\x00\x00\x00\x00\xf8\x7f", 8);
    assert_int_equal(canonical_of(reg, v1, m, n), 0);
    n = splice(m, buf.data, buf.len, "\x00\x00\xc0\x3f", 4, "\x00\x00\xc0\x7f", 4);
    assert_int_equal(canonical_of(reg, v1, m, n), 0);
    /* the unchanged record read as v2: resolved, not canonical */
    assert_int_equal(canonical_of(reg, v2, buf.data, buf.len), 0);

    /* errors: 0 */
    char errstr[512] = "";
    int canonical = -1;
    avro_value_t v;
    assert_int_equal(bc_avro_value_new(v1, &v), 0);
    assert_int_not_equal(bc_avro_decode_canonical(reg, v1, buf.data, buf.len - 1, &v, &canonical,
                                                  errstr, sizeof(errstr)),
                         0);
    assert_int_equal(canonical, 0);
    avro_value_decref(&v);
    avro_value_decref(&in);
    bc_avro_buf_free(&buf);
    bc_avro_registry_destroy(reg);
}

static void test_avro_tracking_event_round_trip(void **state)
{
    (void)state;
    struct bc_avro_registry *reg = load("schemas");
    const struct bc_avro_schema *te = bc_avro_registry_lookup(reg, "TrackingEvent");
    assert_non_null(te);
    assert_int_equal(bc_avro_schema_id(te), 1);
    assert_ptr_equal(bc_avro_registry_lookup(reg, "io.breadcrumb.TrackingEvent"), te);
    assert_null(bc_avro_registry_lookup(reg, "Tracking"));
    assert_null(bc_avro_registry_lookup_version(reg, "TrackingEvent", 2));
    assert_string_equal(bc_avro_schema_name(te), "io.breadcrumb.TrackingEvent");
    /* The manifest's fingerprint (checked against python3-avro's canonical form in 0550). */
    assert_true(bc_avro_schema_fingerprint(te) == 0x1702a92629742e63ULL);
    assert_memory_equal(bc_avro_schema_canonical(te),
                        "{\"name\":\"io.breadcrumb.TrackingEvent\",\"type\":\"record\"", 48);
    avro_value_t in, out;
    value_from(te, TRACKING_EVENT, &in);
    struct bc_avro_buf buf = {0};
    encode_ok(te, &in, &buf);
    assert_int_equal(canonical_of(reg, te, buf.data, buf.len), 1);

    char ref[4096];
    avro_writer_t writer = avro_writer_memory(ref, sizeof(ref));
    assert_int_equal(avro_value_write(writer, &in), 0);
    assert_int_equal(avro_writer_tell(writer), (int64_t)buf.len - 5);
    assert_memory_equal(ref, buf.data + 5, buf.len - 5);
    avro_writer_free(writer);

    char errstr[512] = "";
    assert_int_equal(bc_avro_value_new(te, &out), 0);
    assert_int_equal(bc_avro_decode(reg, te, buf.data, buf.len, &out, errstr, sizeof(errstr)), 0);
    assert_true(avro_value_equal(&in, &out));
    /* Decoding again into the same value gives the same value (reuse). */
    assert_int_equal(bc_avro_decode(reg, NULL, buf.data, buf.len, &out, errstr, sizeof(errstr)), 0);
    assert_true(avro_value_equal(&in, &out));

    json_t *j = bc_avro_to_json(te, &out, 0);
    assert_non_null(j);
    json_t *attrs = json_object_get(j, "attributes");
    assert_int_equal(json_array_size(attrs), 8);
    json_t *bytes = json_object_get(json_object_get(json_array_get(attrs, 4), "value"), "value");
    assert_int_equal(json_string_length(bytes), 3); /* U+0000 U+00FF as UTF-8 */
    json_t *kv = json_object_get(json_object_get(json_array_get(attrs, 6), "value"), "value");
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(json_object_get(kv, "values"), 1), "key")),
        "nested");
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "status"), "code")),
                        "ERROR");
    json_decref(j);

    /* OTLP/JSON-like output: attributes as objects, AnyValues bare. */
    j = bc_avro_to_json(te, &out, BC_AVRO_JSON_OTLP);
    assert_non_null(j);
    char *text = json_dumps(json_object_get(j, "attributes"), JSON_COMPACT | JSON_ENSURE_ASCII);
    assert_string_equal(text, "{\"s\":\"str\",\"b\":true,\"i\":42,\"d\":1.5,"
                              "\"y\":\"\\u0000\\u00FF\",\"a\":[\"x\",7],"
                              "\"kv\":{\"n\":null,\"nested\":[false]},\"e\":null}");
    free(text);
    text = json_dumps(j, JSON_COMPACT);
    assert_non_null(strstr(text,
                           "\"resource_attributes\":{\"service.name\":\"cart\"},"
                           "\"scope\":{\"name\":\"io.opentelemetry.http\",\"version\":\"1.0\","
                           "\"attributes\":{}},\"body\":\"hello\","));
    free(text);
    json_decref(j);
    avro_value_decref(&in);
    avro_value_decref(&out);
    bc_avro_buf_free(&buf);
    bc_avro_registry_destroy(reg);
}

static void test_avro_v1_read_as_v2_gets_defaults(void **state)
{
    (void)state;
    struct bc_avro_registry *reg = load("schemas/test/evolution");
    const struct bc_avro_schema *v1 = bc_avro_registry_lookup_version(reg, "Widget", 1);
    const struct bc_avro_schema *v2 = bc_avro_registry_lookup(reg, "Widget");
    assert_int_equal(bc_avro_schema_version(v2), 2);
    assert_ptr_equal(bc_avro_registry_by_id(reg, 102), v2);
    avro_value_t in, out;
    value_from(v1, WIDGET_V1, &in);
    struct bc_avro_buf buf = {0};
    encode_ok(v1, &in, &buf);

    char errstr[512] = "";
    assert_int_equal(bc_avro_value_new(v2, &out), 0);
    int rc = bc_avro_decode(reg, v2, buf.data, buf.len, &out, errstr, sizeof(errstr));
    if (rc != 0) {
        fprintf(stderr, "decode: %s\n", errstr);
    }
    assert_int_equal(rc, 0);
    json_t *got = bc_avro_to_json(v2, &out, 0);
    json_t *expected =
        parse("{\"id\": \"w-1\", \"count\": -7, \"total\": 1099511627776.0, \"ratio\": 1.5,"
              " \"rating\": -2.25, \"ok\": true, \"blob\": \"\\u00e9\", \"nothing\": null,"
              " \"digest\": \"ab\\u0000\\u00ff\", \"color\": \"BLUE\", \"tags\": [\"x\", \"y\"],"
              " \"labels\": {\"a\": 1.0, \"b\": -2.0}, \"maybe\": \"m\","
              " \"choice\": {\"x\": 3, \"y\": -4, \"z\": -1}, \"note\": \"none\","
              " \"origin\": {\"x\": 1, \"y\": 2, \"z\": -1}, \"extra\": null,"
              " \"more_tags\": [\"a\", \"b\"], \"shade\": \"GREEN\", \"weights\": {\"k\": 5},"
              " \"raw\": \"\\u00ff\\u0001\", \"fallback\": \"dflt\", \"big\": 9007199254740993,"
              " \"half\": 0.5, \"yes\": true}");
    char *got_text = json_dumps(got, JSON_COMPACT);
    char *expected_text = json_dumps(expected, JSON_COMPACT);
    assert_string_equal(got_text, expected_text);
    free(got_text);
    free(expected_text);

    /* The other way round is not possible: v1 has no default for legacy, which v2 dropped. */
    avro_value_t v2_value, v1_out;
    assert_int_equal(bc_avro_value_new(v2, &v2_value), 0);
    assert_int_equal(bc_avro_from_json(v2, got, &v2_value, errstr, sizeof(errstr)), 0);
    encode_ok(v2, &v2_value, &buf);
    assert_int_equal(bc_avro_value_new(v1, &v1_out), 0);
    assert_int_equal(bc_avro_decode(reg, v1, buf.data, buf.len, &v1_out, errstr, sizeof(errstr)),
                     BC_AVRO_ERR_INCOMPATIBLE);
    assert_string_equal(errstr,
                        "legacy: field missing from the writer's io.breadcrumb.test.Widget and "
                        "has no default");

    json_decref(got);
    json_decref(expected);
    avro_value_decref(&in);
    avro_value_decref(&out);
    avro_value_decref(&v2_value);
    avro_value_decref(&v1_out);
    bc_avro_buf_free(&buf);
    bc_avro_registry_destroy(reg);
}

/* Decodes data with the registry's Fate schema and returns the status. */
static int decode_fate(struct bc_avro_registry *reg, const uint8_t *body, size_t len, char *errstr,
                       size_t errstr_size)
{
    const struct bc_avro_schema *fate = bc_avro_registry_lookup(reg, "Fate");
    uint8_t record[256] = {0, 0, 0, 0, 3};
    assert_true(len + 5 <= sizeof(record));
    memcpy(record + 5, body, len);
    avro_value_t v;
    assert_int_equal(bc_avro_value_new(fate, &v), 0);
    int rc = bc_avro_decode(reg, fate, record, len + 5, &v, errstr, errstr_size);
    avro_value_decref(&v);
    return rc;
}

static void test_avro_wire_format_errors(void **state)
{
    (void)state;
    struct bc_avro_registry *reg = load("schemas");
    const struct bc_avro_schema *te = bc_avro_registry_lookup(reg, "TrackingEvent");
    avro_value_t v;
    value_from(te, TRACKING_EVENT, &v);
    struct bc_avro_buf buf = {0};
    encode_ok(te, &v, &buf);
    char errstr[512];

    assert_int_equal(bc_avro_decode(reg, te, buf.data, 0, &v, errstr, sizeof(errstr)),
                     BC_AVRO_ERR_BAD_MAGIC);
    assert_string_equal(errstr, "empty record");
    const uint8_t magic1[] = {1, 0, 0, 0, 1, 0};
    assert_int_equal(bc_avro_decode(reg, te, magic1, sizeof(magic1), &v, errstr, sizeof(errstr)),
                     BC_AVRO_ERR_BAD_MAGIC);
    assert_string_equal(errstr, "first byte 0x01, expected 0x00");
    const uint8_t json[] = "{\"a\":1}";
    assert_int_equal(bc_avro_decode(reg, te, json, sizeof(json) - 1, &v, errstr, sizeof(errstr)),
                     BC_AVRO_ERR_BAD_MAGIC);
    assert_int_equal(bc_avro_decode(reg, te, buf.data, 3, &v, errstr, sizeof(errstr)),
                     BC_AVRO_ERR_TRUNCATED);
    const uint8_t unknown[] = {0, 0, 0, 0x30, 0x39, 0};
    assert_int_equal(bc_avro_decode(reg, te, unknown, sizeof(unknown), &v, errstr, sizeof(errstr)),
                     BC_AVRO_ERR_UNKNOWN_ID);
    assert_string_equal(errstr, "unknown schema id 12345");
    /* A record of another subject is not a TrackingEvent. */
    const uint8_t other[] = {0, 0, 0, 0, 2, 0};
    assert_int_equal(bc_avro_decode(reg, te, other, sizeof(other), &v, errstr, sizeof(errstr)),
                     BC_AVRO_ERR_INCOMPATIBLE);
    /* Every truncation of the body. */
    for (size_t len = 5; len < buf.len; len++) {
        int rc = bc_avro_decode(reg, te, buf.data, len, &v, errstr, sizeof(errstr));
        if (rc != BC_AVRO_ERR_TRUNCATED) {
            fprintf(stderr, "length %zu: %s (%s)\n", len, bc_avro_strerror(rc), errstr);
        }
        assert_int_equal(rc, BC_AVRO_ERR_TRUNCATED);
    }
    /* Trailing garbage. */
    uint8_t *longer = malloc(buf.len + 1);
    memcpy(longer, buf.data, buf.len);
    longer[buf.len] = 0x42;
    assert_int_equal(bc_avro_decode(reg, te, longer, buf.len + 1, &v, errstr, sizeof(errstr)),
                     BC_AVRO_ERR_TRAILING);
    assert_string_equal(errstr, "1 bytes after the value");
    free(longer);

    /* Malformed bodies of a Fate: the valid one first. */
    const uint8_t ok[] = {0, 2, 'a', 0, 0, 0, 2, 'w', 0, 0, 0, 0};
    assert_int_equal(decode_fate(reg, ok, sizeof(ok), errstr, sizeof(errstr)), 0);
    const uint8_t branch[] = {0x0a, 2, 'a', 0, 0, 0, 2, 'w', 0, 0, 0, 0};
    assert_int_equal(decode_fate(reg, branch, sizeof(branch), errstr, sizeof(errstr)),
                     BC_AVRO_ERR_MALFORMED);
    assert_string_equal(errstr, "event_id: union branch 5 out of range (2)");
    const uint8_t symbol[] = {0, 2, 'a', 0, 0, 0, 2, 'w', 0x12, 0, 0, 0};
    assert_int_equal(decode_fate(reg, symbol, sizeof(symbol), errstr, sizeof(errstr)),
                     BC_AVRO_ERR_MALFORMED);
    assert_string_equal(errstr, "fate: enum index 9 out of range");
    const uint8_t negative[] = {0, 1, 'a', 0, 0, 0, 2, 'w', 0, 0, 0, 0};
    assert_int_equal(decode_fate(reg, negative, sizeof(negative), errstr, sizeof(errstr)),
                     BC_AVRO_ERR_MALFORMED);
    assert_string_equal(errstr, "source.topic: negative string length -1");
    /* A string claiming 2^40 bytes: refused before any allocation. */
    const uint8_t huge[] = {0, 0x80, 0x80, 0x80, 0x80, 0x80, 0x40, 'a', 0, 0, 0, 2, 'w', 0};
    assert_int_equal(decode_fate(reg, huge, sizeof(huge), errstr, sizeof(errstr)),
                     BC_AVRO_ERR_TRUNCATED);
    assert_string_equal(errstr, "source.topic: string of 1099511627776 bytes, 7 left");
    const uint8_t varint[] = {0,    2,    'a',  0xff, 0xff, 0xff, 0xff, 0xff,
                              0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0,    0};
    assert_int_equal(decode_fate(reg, varint, sizeof(varint), errstr, sizeof(errstr)),
                     BC_AVRO_ERR_MALFORMED);
    const uint8_t wide[] = {0, 2, 'a', 0x80, 0x80, 0x80, 0x80, 0x80, 0x40,
                            0, 0, 2,   'w',  0,    0,    0,    0};
    assert_int_equal(decode_fate(reg, wide, sizeof(wide), errstr, sizeof(errstr)),
                     BC_AVRO_ERR_MALFORMED);
    assert_string_equal(errstr, "source.partition: int 1099511627776 out of range");
    const uint8_t utf8[] = {0, 2, 0xff, 0, 0, 0, 2, 'w', 0, 0, 0, 0};
    assert_int_equal(decode_fate(reg, utf8, sizeof(utf8), errstr, sizeof(errstr)),
                     BC_AVRO_ERR_MALFORMED);
    assert_string_equal(errstr, "source.topic: string is not valid UTF-8");

    /* A boolean byte other than 0 or 1 (Widget's "ok" is at offset 28). */
    struct bc_avro_registry *wreg = load("schemas/test/evolution");
    const struct bc_avro_schema *w1 = bc_avro_registry_lookup_version(wreg, "Widget", 1);
    avro_value_t wv;
    value_from(w1, WIDGET_V1, &wv);
    encode_ok(w1, &wv, &buf);
    assert_int_equal(buf.data[28], 1);
    buf.data[28] = 2;
    assert_int_equal(bc_avro_decode(wreg, w1, buf.data, buf.len, &wv, errstr, sizeof(errstr)),
                     BC_AVRO_ERR_MALFORMED);
    assert_string_equal(errstr, "ok: boolean byte 0x02");
    avro_value_decref(&wv);
    bc_avro_registry_destroy(wreg);

    avro_value_decref(&v);
    bc_avro_buf_free(&buf);
    bc_avro_registry_destroy(reg);
}

/* Random bytes and random mutations of a valid record: an error or a value, never a crash
 * (run under `make test SANITIZE=1` for memory errors). */
static void test_avro_garbage_never_crashes(void **state)
{
    (void)state;
    struct bc_avro_registry *reg = load("schemas");
    const struct bc_avro_schema *te = bc_avro_registry_lookup(reg, "TrackingEvent");
    avro_value_t v;
    value_from(te, TRACKING_EVENT, &v);
    struct bc_avro_buf buf = {0};
    encode_ok(te, &v, &buf);
    uint8_t *copy = malloc(buf.len);
    uint8_t junk[96];
    char errstr[512];
    unsigned seed = 12345;
    int decoded = 0, failed = 0;
    for (int i = 0; i < 20000; i++) {
        size_t len;
        const uint8_t *data;
        if (i % 2 == 0) {
            len = (size_t)(rand_r(&seed) % (int)sizeof(junk));
            for (size_t k = 0; k < len; k++) {
                junk[k] = (uint8_t)rand_r(&seed);
            }
            if (len >= 5 && i % 4 == 0) {
                junk[0] = 0, junk[1] = 0, junk[2] = 0, junk[3] = 0, junk[4] = 1;
            }
            data = junk;
        } else {
            memcpy(copy, buf.data, buf.len);
            int flips = 1 + rand_r(&seed) % 4;
            for (int k = 0; k < flips; k++) {
                copy[5 + (size_t)rand_r(&seed) % (buf.len - 5)] = (uint8_t)rand_r(&seed);
            }
            len = buf.len;
            data = copy;
        }
        int rc = bc_avro_decode(reg, te, data, len, &v, errstr, sizeof(errstr));
        assert_true(rc <= 0 && rc >= BC_AVRO_ERR_ARG);
        rc == 0 ? decoded++ : failed++;
    }
    assert_true(failed > 10000);
    free(copy);
    avro_value_decref(&v);
    bc_avro_buf_free(&buf);
    bc_avro_registry_destroy(reg);

    /* The same through an evolution plan (promotions, skipped fields, maps, defaults). */
    reg = load("schemas/test/evolution");
    const struct bc_avro_schema *v1 = bc_avro_registry_lookup_version(reg, "Widget", 1);
    const struct bc_avro_schema *v2 = bc_avro_registry_lookup(reg, "Widget");
    avro_value_t w, out;
    value_from(v1, WIDGET_V1, &w);
    struct bc_avro_buf wbuf = {0};
    encode_ok(v1, &w, &wbuf);
    assert_int_equal(bc_avro_value_new(v2, &out), 0);
    copy = malloc(wbuf.len);
    for (int i = 0; i < 20000; i++) {
        memcpy(copy, wbuf.data, wbuf.len);
        int flips = 1 + rand_r(&seed) % 3;
        for (int k = 0; k < flips; k++) {
            copy[5 + (size_t)rand_r(&seed) % (wbuf.len - 5)] = (uint8_t)rand_r(&seed);
        }
        size_t len = 5 + (size_t)rand_r(&seed) % (wbuf.len - 4);
        int rc = bc_avro_decode(reg, v2, copy, len, &out, errstr, sizeof(errstr));
        assert_true(rc <= 0 && rc >= BC_AVRO_ERR_ARG);
    }
    /* And the value is still good for a valid record afterwards. */
    assert_int_equal(bc_avro_decode(reg, v2, wbuf.data, wbuf.len, &out, errstr, sizeof(errstr)), 0);
    free(copy);
    avro_value_decref(&w);
    avro_value_decref(&out);
    bc_avro_buf_free(&wbuf);
    bc_avro_registry_destroy(reg);
}

static void test_avro_encoder_rejects_invalid_values(void **state)
{
    (void)state;
    struct bc_avro_registry *reg = load("schemas");
    const struct bc_avro_schema *te = bc_avro_registry_lookup(reg, "TrackingEvent");
    const struct bc_avro_schema *fate = bc_avro_registry_lookup(reg, "Fate");
    struct bc_avro_buf buf = {0};
    char errstr[512];
    avro_value_t v, field;

    /* A fresh value: its first string was never set. */
    assert_int_equal(bc_avro_value_new(te, &v), 0);
    assert_int_equal(bc_avro_encode(te, &v, &buf, errstr, sizeof(errstr)), BC_AVRO_ERR_VALUE);
    assert_string_equal(errstr, "event_id: string not set");
    assert_int_equal(buf.len, 0);
    avro_value_decref(&v);

    /* An enum index out of range. */
    value_from(te, TRACKING_EVENT, &v);
    avro_value_get_by_name(&v, "kind", &field, NULL);
    avro_value_set_enum(&field, 7);
    assert_int_equal(bc_avro_encode(te, &v, &buf, errstr, sizeof(errstr)), BC_AVRO_ERR_VALUE);
    assert_string_equal(errstr, "kind: enum index 7 out of range (3 symbols)");
    assert_int_equal(buf.len, 0);
    avro_value_set_enum(&field, 1);

    /* Invalid UTF-8 deep inside. */
    avro_value_t status, message;
    avro_value_get_by_name(&v, "status", &status, NULL);
    avro_value_get_by_name(&status, "message", &message, NULL);
    avro_value_set_string(&message, "bad \xc3\x28");
    assert_int_equal(bc_avro_encode(te, &v, &buf, errstr, sizeof(errstr)), BC_AVRO_ERR_VALUE);
    assert_string_equal(errstr, "status.message: string is not valid UTF-8");
    /* The same past the 8-byte ASCII fast path, then valid multi-byte text. */
    avro_value_set_string(&message, "0123456789abcdef\xf0\x9f\x9a");
    assert_int_equal(bc_avro_encode(te, &v, &buf, errstr, sizeof(errstr)), BC_AVRO_ERR_VALUE);
    avro_value_set_string(&message, "0123456789abcdef\xed\xa0\x80"); /* a surrogate */
    assert_int_equal(bc_avro_encode(te, &v, &buf, errstr, sizeof(errstr)), BC_AVRO_ERR_VALUE);
    avro_value_set_string(&message, "0123456789\xc3\xa9\xe2\x9c\x93 \xf0\x9f\x9a\x80 abcdefgh");
    encode_ok(te, &v, &buf);
    avro_value_set_string(&message, "fine");

    /* A union with no branch selected, inside an appended attribute. */
    avro_value_t attrs, kv, key, any;
    avro_value_get_by_name(&v, "attributes", &attrs, NULL);
    avro_value_append(&attrs, &kv, NULL);
    avro_value_get_by_name(&kv, "key", &key, NULL);
    avro_value_set_string(&key, "k");
    assert_int_equal(bc_avro_encode(te, &v, &buf, errstr, sizeof(errstr)), BC_AVRO_ERR_VALUE);
    assert_string_equal(errstr, "attributes[8].value.value: union has no branch selected");
    avro_value_get_by_name(&kv, "value", &any, NULL);
    avro_value_get_by_name(&any, "value", &field, NULL);
    avro_value_t branch;
    avro_value_set_branch(&field, 0, &branch);
    encode_ok(te, &v, &buf);

    /* A string emptied by a reset is unset again. */
    avro_value_reset(&v);
    assert_int_equal(bc_avro_encode(te, &v, &buf, errstr, sizeof(errstr)), BC_AVRO_ERR_VALUE);
    assert_string_equal(errstr, "event_id: string not set");

    /* A value of another schema. */
    assert_int_equal(bc_avro_encode(fate, &v, &buf, errstr, sizeof(errstr)), BC_AVRO_ERR_ARG);
    avro_value_decref(&v);

    /* A nullable field whose union was never set. */
    assert_int_equal(bc_avro_value_new(fate, &v), 0);
    assert_int_equal(bc_avro_encode(fate, &v, &buf, errstr, sizeof(errstr)), BC_AVRO_ERR_VALUE);
    assert_string_equal(errstr, "event_id: union has no branch selected");
    avro_value_decref(&v);

    bc_avro_buf_free(&buf);
    bc_avro_registry_destroy(reg);
}

static void test_avro_value_reuse_across_records(void **state)
{
    (void)state;
    struct bc_avro_registry *reg = load("schemas/test/evolution");
    const struct bc_avro_schema *v1 = bc_avro_registry_lookup_version(reg, "Widget", 1);
    avro_value_t big, small, out;
    value_from(v1, WIDGET_V1, &big);
    value_from(v1,
               "{\"id\": \"w-2\", \"count\": 1, \"total\": 2, \"ratio\": 0, \"score\": 0,"
               " \"ok\": false, \"blob\": \"\", \"nothing\": null, \"digest\": \"zzzz\","
               " \"color\": \"RED\", \"tags\": [\"only\"], \"labels\": {}, \"maybe\": null,"
               " \"choice\": 5, \"legacy\": []}",
               &small);
    struct bc_avro_buf a = {0}, b = {0};
    encode_ok(v1, &big, &a);
    encode_ok(v1, &small, &b);
    char errstr[512];
    assert_int_equal(bc_avro_value_new(v1, &out), 0);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(bc_avro_decode(reg, v1, a.data, a.len, &out, errstr, sizeof(errstr)), 0);
        assert_true(avro_value_equal(&big, &out));
        assert_int_equal(bc_avro_decode(reg, v1, b.data, b.len, &out, errstr, sizeof(errstr)), 0);
        assert_true(avro_value_equal(&small, &out));
    }
    avro_value_decref(&big);
    avro_value_decref(&small);
    avro_value_decref(&out);
    bc_avro_buf_free(&a);
    bc_avro_buf_free(&b);
    bc_avro_registry_destroy(reg);
}

struct worker {
    struct bc_avro_registry *reg;
    const struct bc_avro_buf *record;
    int ok;
};

static void *decode_encode_loop(void *arg)
{
    struct worker *w = arg;
    const struct bc_avro_schema *te = bc_avro_registry_lookup(w->reg, "TrackingEvent");
    avro_value_t v;
    struct bc_avro_buf buf = {0};
    char errstr[256];
    if (bc_avro_value_new(te, &v) != 0) {
        return NULL;
    }
    for (int i = 0; i < 3000; i++) {
        if (bc_avro_decode(w->reg, te, w->record->data, w->record->len, &v, errstr,
                           sizeof(errstr)) != 0 ||
            bc_avro_encode(te, &v, &buf, errstr, sizeof(errstr)) != 0 ||
            buf.len != w->record->len || memcmp(buf.data, w->record->data, buf.len) != 0) {
            break;
        }
        w->ok++;
    }
    avro_value_decref(&v);
    bc_avro_buf_free(&buf);
    return NULL;
}

/* One registry, four threads, each with its own value and buffer (the documented contract). */
static void test_avro_registry_shared_by_threads(void **state)
{
    (void)state;
    struct bc_avro_registry *reg = load("schemas");
    const struct bc_avro_schema *te = bc_avro_registry_lookup(reg, "TrackingEvent");
    avro_value_t v;
    value_from(te, TRACKING_EVENT, &v);
    struct bc_avro_buf record = {0};
    encode_ok(te, &v, &record);
    pthread_t threads[4];
    struct worker workers[4];
    for (int i = 0; i < 4; i++) {
        workers[i] = (struct worker){reg, &record, 0};
        assert_int_equal(pthread_create(&threads[i], NULL, decode_encode_loop, &workers[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        assert_int_equal(pthread_join(threads[i], NULL), 0);
        assert_int_equal(workers[i].ok, 3000);
    }
    avro_value_decref(&v);
    bc_avro_buf_free(&record);
    bc_avro_registry_destroy(reg);
}

/* Strings and map keys longer than the decoder's stack buffer take its scratch buffer. */
static void test_avro_long_strings_and_map_keys(void **state)
{
    (void)state;
    struct bc_avro_registry *reg = load("schemas/test/evolution");
    const struct bc_avro_schema *v1 = bc_avro_registry_lookup_version(reg, "Widget", 1);
    char *text = malloc(20000);
    char key[701], tag[5001];
    memset(key, 'k', sizeof(key) - 1);
    key[sizeof(key) - 1] = '\0';
    memset(tag, 't', sizeof(tag) - 1);
    tag[sizeof(tag) - 1] = '\0';
    snprintf(text, 20000,
             "{\"id\": \"%s\", \"count\": 1, \"total\": 2, \"ratio\": 0, \"score\": 0,"
             " \"ok\": false, \"blob\": \"\", \"nothing\": null, \"digest\": \"zzzz\","
             " \"color\": \"RED\", \"tags\": [\"%s\", \"x\"], \"labels\": {\"%s\": 1, \"b\": 2},"
             " \"maybe\": null, \"choice\": null, \"legacy\": []}",
             tag, tag, key);
    avro_value_t in, out;
    value_from(v1, text, &in);
    struct bc_avro_buf buf = {0};
    encode_ok(v1, &in, &buf);
    char errstr[512];
    assert_int_equal(bc_avro_value_new(v1, &out), 0);
    assert_int_equal(bc_avro_decode(reg, v1, buf.data, buf.len, &out, errstr, sizeof(errstr)), 0);
    assert_true(avro_value_equal(&in, &out));
    avro_value_t labels, item;
    const char *name = NULL;
    avro_value_get_by_name(&out, "labels", &labels, NULL);
    avro_value_get_by_index(&labels, 0, &item, &name);
    assert_string_equal(name, key);
    free(text);
    avro_value_decref(&in);
    avro_value_decref(&out);
    bc_avro_buf_free(&buf);
    bc_avro_registry_destroy(reg);
}

static int compat(const char *old_fields, const char *new_fields, char *errs, size_t size)
{
    char old_text[2048], new_text[2048];
    snprintf(old_text, sizeof(old_text),
             "{\"type\": \"record\", \"name\": \"R\", \"fields\": [%s]}", old_fields);
    snprintf(new_text, sizeof(new_text), "%s", new_fields);
    if (strncmp(new_fields, "{\"type\": \"record\"", 17) != 0) {
        snprintf(new_text, sizeof(new_text),
                 "{\"type\": \"record\", \"name\": \"R\", \"fields\": [%s]}", new_fields);
    }
    return bc_avro_check_compat(old_text, new_text, errs, size);
}

static void test_avro_compat_checker(void **state)
{
    (void)state;
    char errs[2048];
    const char *a = "{\"name\": \"a\", \"type\": \"int\"}";
    assert_int_equal(compat(a, a, errs, sizeof(errs)), 0);
    assert_string_equal(errs, "");
    /* Added fields: with a default fine, without not. */
    assert_int_equal(compat(a,
                            "{\"name\": \"a\", \"type\": \"int\"}, {\"name\": \"b\", "
                            "\"type\": \"string\", \"default\": \"x\"}",
                            errs, sizeof(errs)),
                     0);
    assert_int_equal(compat(a,
                            "{\"name\": \"a\", \"type\": \"int\"}, {\"name\": \"b\", "
                            "\"type\": \"string\"}",
                            errs, sizeof(errs)),
                     1);
    assert_string_equal(errs, "b: field missing from the writer's R and has no default\n");
    /* A removed field is fine. */
    assert_int_equal(compat("{\"name\": \"a\", \"type\": \"int\"}, {\"name\": \"b\", \"type\": "
                            "\"int\"}",
                            a, errs, sizeof(errs)),
                     0);
    /* Promotions one way only. */
    assert_int_equal(compat(a, "{\"name\": \"a\", \"type\": \"long\"}", errs, sizeof(errs)), 0);
    assert_int_equal(compat("{\"name\": \"a\", \"type\": \"long\"}", a, errs, sizeof(errs)), 1);
    assert_string_equal(errs, "a: type changed from long to int\n");
    /* Enum symbols removed: only with an enum default. */
    const char *e3 = "{\"name\": \"e\", \"type\": {\"type\": \"enum\", \"name\": \"E\", "
                     "\"symbols\": [\"A\", \"B\", \"C\"]}}";
    assert_int_equal(compat(e3,
                            "{\"name\": \"e\", \"type\": {\"type\": \"enum\", \"name\": \"E\", "
                            "\"symbols\": [\"A\", \"B\"]}}",
                            errs, sizeof(errs)),
                     1);
    assert_string_equal(errs, "e: enum symbol C removed and E has no default\n");
    assert_int_equal(compat(e3,
                            "{\"name\": \"e\", \"type\": {\"type\": \"enum\", \"name\": \"E\", "
                            "\"symbols\": [\"A\", \"B\"], \"default\": \"A\"}}",
                            errs, sizeof(errs)),
                     0);
    /* Unions: a nullable field cannot become required; the reverse is fine. */
    const char *ns = "{\"name\": \"s\", \"type\": [\"null\", \"string\"]}";
    const char *s = "{\"name\": \"s\", \"type\": \"string\"}";
    assert_int_equal(compat(ns, s, errs, sizeof(errs)), 1);
    assert_string_equal(errs,
                        "s: null cannot be read as string (a nullable field became required?)\n");
    assert_int_equal(compat(s, ns, errs, sizeof(errs)), 0);
    /* Records: renamed only with an alias. */
    assert_int_equal(compat(a,
                            "{\"type\": \"record\", \"name\": \"S\", \"fields\": [{\"name\": "
                            "\"a\", \"type\": \"int\"}]}",
                            errs, sizeof(errs)),
                     1);
    assert_int_equal(compat(a,
                            "{\"type\": \"record\", \"name\": \"S\", \"aliases\": [\"R\"], "
                            "\"fields\": [{\"name\": \"a\", \"type\": \"int\"}]}",
                            errs, sizeof(errs)),
                     0);
    /* A default that does not fit its type, and text that does not parse. */
    assert_int_equal(
        compat(a, "{\"name\": \"a\", \"type\": \"int\", \"default\": \"x\"}", errs, sizeof(errs)),
        -1);
    assert_non_null(strstr(errs, "invalid default"));
    assert_int_equal(compat(a, "{\"name\": ", errs, sizeof(errs)), -1);
}

struct collected {
    int count;
    char text[4096];
};

static void collect(void *opaque, const char *message)
{
    struct collected *c = opaque;
    size_t n = strlen(c->text);
    snprintf(c->text + n, sizeof(c->text) - n, "%s\n", message);
    c->count++;
}

static void write_file(const char *dir, const char *name, const char *text)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_avro_registry_check(void **state)
{
    (void)state;
    struct collected c = {0};
    assert_int_equal(bc_avro_registry_check(path_of("schemas"), collect, &c), 0);
    assert_int_equal(bc_avro_registry_check(path_of("schemas/test/evolution"), collect, &c), 0);
    assert_int_equal(bc_avro_registry_check(path_of("schemas/test/incompatible"), collect, &c), 3);
    assert_non_null(strstr(c.text, "count: type changed from int to string"));
    assert_non_null(strstr(c.text, "color: enum symbol BLUE removed"));
    assert_non_null(strstr(c.text, "required_now: field missing"));

    /* Manifest integrity: duplicate id, gap in versions, missing file, bad schema, a schema
     * changed after it was registered, a missing fingerprint. */
    char dir[] = "/tmp/bc_avro_test_XXXXXX";
    assert_non_null(mkdtemp(dir));
    const char *a_text = "{\"type\": \"record\", \"name\": \"A\", \"fields\": []}";
    uint64_t a_fp;
    char *a_form = NULL, errstr[512], manifest[2048];
    assert_int_equal(bc_avro_fingerprint(a_text, &a_fp, &a_form, errstr, sizeof(errstr)), 0);
    assert_string_equal(a_form, "{\"name\":\"A\",\"type\":\"record\",\"fields\":[]}");
    free(a_form);
    write_file(dir, "A.avsc", a_text);
    write_file(dir, "Bad.avsc",
               "{\"type\": \"record\", \"name\": \"B\", \"fields\": [{\"name\": "
               "\"x\", \"type\": \"nope\"}]}");
    snprintf(manifest, sizeof(manifest),
             "{\"schemas\": ["
             "{\"subject\": \"A\", \"version\": 1, \"id\": 1, \"file\": \"A.avsc\", "
             "\"fingerprint\": \"%016llx\"},"
             "{\"subject\": \"A\", \"version\": 3, \"id\": 1, \"file\": \"A.avsc\"},"
             "{\"subject\": \"A\", \"version\": 3, \"id\": 2, \"file\": \"A.avsc\", "
             "\"fingerprint\": \"%016llx\"},"
             "{\"subject\": \"B\", \"version\": 1, \"id\": 3, \"file\": \"Bad.avsc\"},"
             "{\"subject\": \"C\", \"version\": 1, \"id\": 4, \"file\": \"missing.avsc\"},"
             "{\"subject\": \"D\", \"version\": 1, \"id\": 0, \"file\": \"A.avsc\"},"
             "{\"subject\": \"E\", \"version\": 1, \"id\": 5, \"file\": \"A.avsc\", "
             "\"fingerprint\": \"0000000000000001\"},"
             "{\"subject\": \"F\", \"version\": 1, \"id\": 6, \"file\": \"A.avsc\"}]}",
             (unsigned long long)a_fp, (unsigned long long)a_fp);
    write_file(dir, "manifest.json", manifest);
    struct collected d = {0};
    assert_int_equal(bc_avro_registry_check(dir, collect, &d), 7);
    assert_non_null(strstr(d.text, "schemas[1]: id 1 already used by A v1"));
    assert_non_null(strstr(d.text, "schemas[5]: \"id\" must be an integer"));
    assert_non_null(strstr(d.text, "B v1 (id 3): "));
    assert_non_null(strstr(d.text, "missing.avsc: No such file or directory"));
    assert_non_null(strstr(d.text, "A: versions must be numbered 1..2 without gaps"));
    assert_non_null(strstr(d.text, "E v1 (id 5): "));
    assert_non_null(strstr(d.text, "the manifest registered 0000000000000001: a registered "
                                   "schema must not change (add a new version)"));
    assert_non_null(strstr(d.text, "F v1 (id 6): no fingerprint in the manifest: add"));
    struct bc_avro_registry *reg = NULL;
    assert_int_equal(bc_avro_registry_load(dir, &reg, errstr, sizeof(errstr)), -1);
    assert_null(reg);
    assert_non_null(strstr(errstr, "id 1 already used"));
    assert_int_equal(bc_avro_registry_load("/nonexistent", &reg, errstr, sizeof(errstr)), -1);
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
    bc_avro_registry_destroy(NULL);
}

/* bc_avro_utf8_valid reads whole words (the tail as an overlapping one): every sequence is
 * judged alike at every offset of strings of 0 to 40 bytes, ASCII around it. */
static void test_avro_utf8_at_every_offset(void **state)
{
    (void)state;
    static const struct {
        const char *seq;
        size_t len;
        int valid;
    } seqs[] = {
        {"\xc3\xa9", 2, 1},             /* e acute */
        {"\xe2\x82\xac", 3, 1},         /* euro sign */
        {"\xf0\x9f\x98\x80", 4, 1},     /* U+1F600 */
        {"\xf4\x8f\xbf\xbf", 4, 1},     /* U+10FFFF */
        {"\xff", 1, 0},                 /* never in UTF-8 */
        {"\x80", 1, 0},                 /* continuation without a lead */
        {"\xc0\xaf", 2, 0},             /* overlong '/' */
        {"\xe0\x80\xaf", 3, 0},         /* overlong, 3 bytes */
        {"\xed\xa0\x80", 3, 0},         /* surrogate U+D800 */
        {"\xed\xbf\xbf", 3, 0},         /* surrogate U+DFFF */
        {"\xf4\x90\x80\x80", 4, 0},     /* above U+10FFFF */
        {"\xe2\x82", 2, 0},             /* truncated when last */
    };
    char buf[64];
    for (size_t k = 0; k < sizeof(seqs) / sizeof(seqs[0]); k++) {
        for (size_t n = seqs[k].len; n <= 40; n++) {
            for (size_t at = 0; at + seqs[k].len <= n; at++) {
                memset(buf, 'a', n);
                memcpy(buf + at, seqs[k].seq, seqs[k].len);
                int want = seqs[k].valid;
                if (k == sizeof(seqs) / sizeof(seqs[0]) - 1 && at + seqs[k].len < n) {
                    want = 0; /* a truncated lead followed by ASCII is invalid too */
                }
                if (bc_avro_utf8_valid(buf, n) != want) {
                    fail_msg("sequence %zu at %zu of %zu bytes: expected %d", k, at, n, want);
                }
            }
        }
    }
    for (size_t n = 0; n <= 40; n++) {
        memset(buf, 0x7f, n);
        assert_int_equal(bc_avro_utf8_valid(buf, n), 1);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_avro_every_type_round_trip),
        cmocka_unit_test(test_avro_utf8_at_every_offset),
        cmocka_unit_test(test_avro_tracking_event_round_trip),
        cmocka_unit_test(test_avro_decode_canonical),
        cmocka_unit_test(test_avro_v1_read_as_v2_gets_defaults),
        cmocka_unit_test(test_avro_wire_format_errors),
        cmocka_unit_test(test_avro_garbage_never_crashes),
        cmocka_unit_test(test_avro_encoder_rejects_invalid_values),
        cmocka_unit_test(test_avro_value_reuse_across_records),
        cmocka_unit_test(test_avro_long_strings_and_map_keys),
        cmocka_unit_test(test_avro_registry_shared_by_threads),
        cmocka_unit_test(test_avro_compat_checker),
        cmocka_unit_test(test_avro_registry_check),
    };
    return cmocka_run_group_tests_name("bc_avro", tests, NULL, NULL);
}
