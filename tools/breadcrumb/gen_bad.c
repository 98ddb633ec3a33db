/*
 * Malformed payloads for the generator, each bad for exactly one stated DLQ reason
 * (SHARED-CONTRACTS), in the order a normalizer checks them: empty, oversized, not_utf8,
 * invalid_json, unknown_format, then field checks (missing_field, wrong_type, invalid_id,
 * invalid_timestamp, invalid_enum). A payload bad for a later reason passes every earlier
 * check: an invalid_json payload is valid UTF-8, an unknown_format one parses, and so on.
 *
 * Format rule assumed (README, generator): a JSON object with "resourceSpans" or
 * "resourceLogs" is OTLP, an object with "event" is a flat event, anything else that parses
 * is unknown_format.
 */
#include "tools/breadcrumb/gen_internal.h"

#include <stdlib.h>
#include <string.h>

const char *const gen_reason_names[GEN_REASONS] = {
    "empty",         "not_utf8",   "oversized",  "invalid_json",      "unknown_format",
    "missing_field", "wrong_type", "invalid_id", "invalid_timestamp", "invalid_enum",
};

#define PLACEHOLDER "@@NOT-UTF8@@"

/* The object a field fault goes into: the event itself, or the export's first span. */
static json_t *target(json_t *good, int is_event)
{
    if (is_event) {
        return good;
    }
    json_t *rs = json_array_get(json_object_get(good, "resourceSpans"), 0);
    json_t *ss = json_array_get(json_object_get(rs, "scopeSpans"), 0);
    return json_array_get(json_object_get(ss, "spans"), 0);
}

static void set_dump(struct gen_bad *out, json_t *json)
{
    out->value = gen_dump(json, &out->len);
}

static void splice(struct gen_bad *out, const char *at, size_t at_len, const char *with,
                   size_t with_len)
{
    char *pos = memmem(out->value, out->len, at, at_len);
    if (pos == NULL) {
        return;
    }
    size_t head = (size_t)(pos - out->value);
    size_t tail = out->len - head - at_len;
    char *buf = malloc(head + with_len + tail + 1);
    memcpy(buf, out->value, head);
    memcpy(buf + head, with, with_len);
    memcpy(buf + head + with_len, pos + at_len, tail);
    buf[head + with_len + tail] = '\0';
    free(out->value);
    out->value = buf;
    out->len = head + with_len + tail;
}

static void bad_not_utf8(struct gen_rng *rng, json_t *good, int is_event, struct gen_bad *out)
{
    static const struct {
        const char *bytes;
        size_t len;
        const char *detail;
    } seqs[] = {
        {"caf\xe9", 4, "a Latin-1 byte (0xE9) in a string"},
        {"\xff\xfe", 2, "bytes 0xFF 0xFE, never valid in UTF-8"},
        {"\xc3\x28", 2, "a lead byte 0xC3 without its continuation byte"},
        {"\xed\xa0\x80", 3, "an encoded UTF-16 surrogate (0xED 0xA0 0x80)"},
        {"\xc0\xaf", 2, "an overlong encoding of '/' (0xC0 0xAF)"},
        {"\xe2\x82", 2, "a three-byte sequence cut after two bytes"},
    };
    int i = (int)gen_rng_range(rng, 0, sizeof(seqs) / sizeof(seqs[0]) - 1);
    json_t *t = target(good, is_event);
    if (is_event) {
        json_object_set_new(json_object_get(t, "attributes"), "note", json_string(PLACEHOLDER));
    } else {
        json_object_set_new(t, "name", json_string("GET /menu/" PLACEHOLDER));
    }
    set_dump(out, good);
    splice(out, PLACEHOLDER, strlen(PLACEHOLDER), seqs[i].bytes, seqs[i].len);
    out->detail = seqs[i].detail;
}

static void bad_oversized(struct gen_rng *rng, json_t *good, int is_event, int64_t max_bytes,
                          struct gen_bad *out)
{
    json_t *t = target(good, is_event);
    json_t *pad = json_string("");
    if (is_event) {
        json_object_set(json_object_get(t, "attributes"), "response_body", pad);
    } else {
        json_t *kv = json_object();
        json_t *value = json_object();
        json_object_set(value, "stringValue", pad);
        json_object_set_new(kv, "key", json_string("http.response.body"));
        json_object_set_new(kv, "value", value);
        json_array_append_new(json_object_get(t, "attributes"), kv);
    }
    size_t base;
    free(gen_dump(good, &base));
    size_t extra = (size_t)gen_rng_range(rng, 1, 4096);
    size_t want = (size_t)max_bytes + extra > base ? (size_t)max_bytes + extra - base : 1;
    char *text = malloc(want + 1);
    static const char lorem[] = "lorem ipsum dolor sit amet consectetur adipiscing elit ";
    for (size_t i = 0; i < want; i++) {
        text[i] = lorem[i % (sizeof(lorem) - 1)];
    }
    json_string_setn(pad, text, want);
    free(text);
    json_decref(pad);
    set_dump(out, good);
    out->detail = "valid JSON larger than the size limit";
}

static void bad_invalid_json(struct gen_rng *rng, json_t *good, struct gen_bad *out)
{
    set_dump(out, good);
    switch (gen_rng_range(rng, 0, 4)) {
    case 0: {
        size_t cut = (size_t)gen_rng_range(rng, 1, (int64_t)out->len - 1);
        out->len = cut;
        out->value[cut] = '\0';
        out->detail = "truncated";
        break;
    }
    case 1:
        out->value = realloc(out->value, out->len + 2);
        memcpy(out->value + out->len - 1, ",}", 3); /* the closing '}' becomes ",}" */
        out->len++;
        out->detail = "a trailing comma";
        break;
    case 2:
        for (size_t i = 0; i < out->len; i++) {
            if (out->value[i] == '"') {
                out->value[i] = '\'';
            }
        }
        out->detail = "single-quoted strings";
        break;
    case 3: {
        char *twice = malloc(2 * out->len + 1);
        memcpy(twice, out->value, out->len);
        memcpy(twice + out->len, out->value, out->len);
        twice[2 * out->len] = '\0';
        free(out->value);
        out->value = twice;
        out->len *= 2;
        out->detail = "two JSON documents in one record";
        break;
    }
    default:
        splice(out, "{", 1, "{\"ratio\":NaN,", 13);
        out->detail = "a NaN literal";
        break;
    }
}

static void bad_unknown_format(struct gen_rng *rng, json_t *good, struct gen_bad *out)
{
    json_t *json = NULL;
    switch (gen_rng_range(rng, 0, 3)) {
    case 0:
        json = json_pack("{s:s, s:f, s:s}", "metric", "system.cpu.utilization", "value", 0.93,
                         "host", "cart-2.prod.shop.internal");
        out->detail = "a metric sample, neither OTLP traces/logs nor an event";
        break;
    case 1:
        json = json_pack("{s:s, s:s, s:s}", "level", "info", "msg", "request served", "ts",
                         "2026-11-27T08:00:00Z");
        out->detail = "a plain JSON log line without \"event\"";
        break;
    case 2:
        json = json_pack("[i, i, i]", 1, 2, 3);
        out->detail = "a JSON array";
        break;
    default:
        json = json_pack("{s:s, s:s, s:s, s:O}", "specversion", "1.0", "type", "shop.order.placed",
                         "source", "/checkout", "data", good);
        out->detail = "a CloudEvents envelope around a record";
        break;
    }
    set_dump(out, json);
    json_decref(json);
}

/* The field faults; t is the event or the span. Returns the field name. */
static void bad_missing_field(struct gen_rng *rng, json_t *t, int is_event, struct gen_bad *out)
{
    static const char *const event_fields[] = {"service", "time"};
    static const char *const span_fields[] = {"traceId", "spanId"};
    out->field = is_event ? GEN_PICK(rng, event_fields) : GEN_PICK(rng, span_fields);
    json_object_del(t, out->field);
    out->detail = "a required field is absent";
}

static void bad_wrong_type(struct gen_rng *rng, json_t *t, int is_event, struct gen_bad *out)
{
    int which = (int)gen_rng_range(rng, 0, 1);
    if (is_event) {
        if (which == 0) {
            out->field = "service";
            json_object_set_new(t, "service", json_integer(42));
            out->detail = "\"service\" is a number";
        } else {
            out->field = "attributes";
            json_object_set_new(t, "attributes", json_string("amount=1299;currency=EUR"));
            out->detail = "\"attributes\" is a string";
        }
    } else {
        if (which == 0) {
            out->field = "name";
            json_object_set_new(t, "name", json_integer(404));
            out->detail = "the span's \"name\" is a number";
        } else {
            out->field = "attributes";
            json_object_set_new(t, "attributes", json_pack("{s:s}", "http.method", "GET"));
            out->detail = "the span's \"attributes\" is an object, not a KeyValue list";
        }
    }
}

static void bad_invalid_id(struct gen_rng *rng, json_t *t, int is_event, struct gen_bad *out)
{
    if (is_event) {
        out->field = "trace_id";
        json_object_set_new(t, "trace_id", json_string("trace-4711-not-hex"));
        out->detail = "\"trace_id\" is not 32 hex digits";
        return;
    }
    switch (gen_rng_range(rng, 0, 3)) {
    case 0:
        out->field = "traceId";
        json_object_set_new(t, "traceId", json_string("4bf92f3577b34da6a3ce929d0e0e473"));
        out->detail = "a traceId of 31 hex digits";
        break;
    case 1:
        out->field = "spanId";
        json_object_set_new(t, "spanId", json_string("zz7ad6b7169203zz"));
        out->detail = "a spanId with non-hex characters";
        break;
    case 2:
        out->field = "traceId";
        json_object_set_new(t, "traceId", json_string("00000000000000000000000000000000"));
        out->detail = "the all-zero traceId, invalid in OTLP";
        break;
    default:
        out->field = "spanId";
        json_object_set_new(t, "spanId", json_string("00f067aa0b"));
        out->detail = "a spanId of 10 hex digits";
        break;
    }
}

static void bad_invalid_timestamp(struct gen_rng *rng, json_t *t, int is_event, struct gen_bad *out)
{
    static const char *const event_times[] = {"2026-13-45T25:61:00Z", "not a time",
                                              "27/11/2026 08:00"};
    static const char *const span_times[] = {"yesterday", "2026-11-27T08:00:00Z", "0x17AB"};
    out->field = is_event ? "time" : "startTimeUnixNano";
    const char *value = is_event ? GEN_PICK(rng, event_times) : GEN_PICK(rng, span_times);
    json_object_set_new(t, out->field, json_string(value));
    out->detail = "a timestamp that does not parse";
}

static void bad_invalid_enum(struct gen_rng *rng, json_t *t, struct gen_bad *out)
{
    switch (gen_rng_range(rng, 0, 2)) {
    case 0:
        out->field = "kind";
        json_object_set_new(t, "kind", json_integer(42));
        out->detail = "span kind 42";
        break;
    case 1:
        out->field = "kind";
        json_object_set_new(t, "kind", json_string("SPAN_KIND_SIDEWAYS"));
        out->detail = "span kind SPAN_KIND_SIDEWAYS";
        break;
    default:
        out->field = "status";
        json_object_set_new(t, "status", json_pack("{s:i}", "code", 7));
        out->detail = "status code 7";
        break;
    }
}

static void bad_field(struct gen_rng *rng, int reason, json_t *t, int is_event, struct gen_bad *out)
{
    switch (reason) {
    case R_MISSING_FIELD:
        bad_missing_field(rng, t, is_event, out);
        break;
    case R_WRONG_TYPE:
        bad_wrong_type(rng, t, is_event, out);
        break;
    case R_INVALID_ID:
        bad_invalid_id(rng, t, is_event, out);
        break;
    case R_INVALID_TIMESTAMP:
        bad_invalid_timestamp(rng, t, is_event, out);
        break;
    default:
        bad_invalid_enum(rng, t, out);
        break;
    }
}

void gen_bad_record(struct gen_rng *rng, int reason, json_t *good, int good_is_event,
                    int64_t max_bytes, struct gen_bad *out)
{
    memset(out, 0, sizeof(*out));
    out->reason = reason;
    switch (reason) {
    case R_EMPTY:
        out->value = calloc(1, 1);
        out->len = 0;
        out->detail = "a record without bytes";
        break;
    case R_NOT_UTF8:
        bad_not_utf8(rng, good, good_is_event, out);
        break;
    case R_OVERSIZED:
        bad_oversized(rng, good, good_is_event, max_bytes, out);
        break;
    case R_INVALID_JSON:
        bad_invalid_json(rng, good, out);
        break;
    case R_UNKNOWN_FORMAT:
        bad_unknown_format(rng, good, out);
        break;
    default:
        bad_field(rng, reason, target(good, good_is_event), good_is_event, out);
        set_dump(out, good);
        break;
    }
}

void gen_bad_span(struct gen_rng *rng, json_t *span, struct gen_bad *out)
{
    memset(out, 0, sizeof(*out));
    out->reason = (int)gen_rng_range(rng, R_MISSING_FIELD, R_INVALID_ENUM);
    bad_field(rng, out->reason, span, 0, out);
}
