/*
 * avro_write SCHEMAS_DIR OUT_DIR: writes records in the Confluent wire format, one per file,
 * for tests/integration/0550-avro-python.py to decode with python3-avro:
 *
 *   te-span.bin   a TrackingEvent span with every AnyValue kind and every enrichment field
 *   te-log.bin    a TrackingEvent log with a nested key-value body, extremes and Unicode
 *   te-event.bin  a minimal TrackingEvent event (every nullable field null, arrays empty)
 *   dead.bin      a DeadLetter with binary raw bytes
 *   fate.bin      a Fate with a related position
 *   lineage.bin   a LineageRecord with two hops
 *
 * Values are built with avro-c's value API, as workers build them. Exits 0, or 1 with a
 * message on stderr.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bc_avro.h"

static void die(const char *what, const char *detail)
{
    fprintf(stderr, "avro_write: %s: %s\n", what, detail ? detail : avro_strerror());
    exit(1);
}

static avro_value_t field(avro_value_t *rec, const char *name)
{
    avro_value_t f;
    if (avro_value_get_by_name(rec, name, &f, NULL) != 0) {
        die(name, NULL);
    }
    return f;
}

static void set_string(avro_value_t *rec, const char *name, const char *s)
{
    avro_value_t f = field(rec, name);
    if (avro_value_set_string(&f, s) != 0) {
        die(name, NULL);
    }
}

static void set_long(avro_value_t *rec, const char *name, int64_t v)
{
    avro_value_t f = field(rec, name);
    if (avro_value_set_long(&f, v) != 0) {
        die(name, NULL);
    }
}

static void set_int(avro_value_t *rec, const char *name, int32_t v)
{
    avro_value_t f = field(rec, name);
    if (avro_value_set_int(&f, v) != 0) {
        die(name, NULL);
    }
}

static void set_enum(avro_value_t *rec, const char *name, int v)
{
    avro_value_t f = field(rec, name);
    if (avro_value_set_enum(&f, v) != 0) {
        die(name, NULL);
    }
}

/* Selects branch b of the union field name and returns the branch value. */
static avro_value_t branch(avro_value_t *rec, const char *name, int b)
{
    avro_value_t u = field(rec, name), out;
    if (avro_value_set_branch(&u, b, &out) != 0) {
        die(name, NULL);
    }
    return out;
}

static void set_null(avro_value_t *rec, const char *name)
{
    avro_value_t n = branch(rec, name, 0);
    avro_value_set_null(&n);
}

static void set_opt_string(avro_value_t *rec, const char *name, const char *s)
{
    if (s == NULL) {
        set_null(rec, name);
        return;
    }
    avro_value_t v = branch(rec, name, 1);
    if (avro_value_set_string(&v, s) != 0) {
        die(name, NULL);
    }
}

/* AnyValue's union branches (schemas/TrackingEvent.v1.avsc). */
enum { ANY_NULL, ANY_STRING, ANY_BOOL, ANY_LONG, ANY_DOUBLE, ANY_BYTES, ANY_ARRAY, ANY_KVLIST };

/* Selects a branch of an AnyValue record and returns the branch value. */
static avro_value_t any(avro_value_t *anyvalue, int b)
{
    return branch(anyvalue, "value", b);
}

/* Appends {key, value} to an array of KeyValue and returns the AnyValue record. */
static avro_value_t kv_append(avro_value_t *array, const char *key)
{
    avro_value_t kv;
    if (avro_value_append(array, &kv, NULL) != 0) {
        die("append", NULL);
    }
    set_string(&kv, "key", key);
    return field(&kv, "value");
}

static void kv_string(avro_value_t *array, const char *key, const char *s)
{
    avro_value_t a = kv_append(array, key);
    avro_value_t v = any(&a, ANY_STRING);
    avro_value_set_string(&v, s);
}

static void source(avro_value_t *rec, const char *name, const char *topic, int32_t partition,
                   int64_t offset, int32_t index)
{
    avro_value_t s = field(rec, name);
    set_string(&s, "topic", topic);
    set_int(&s, "partition", partition);
    set_long(&s, "offset", offset);
    set_int(&s, "index", index);
}

static void write_record(const struct bc_avro_schema *schema, avro_value_t *v, const char *dir,
                         const char *name)
{
    struct bc_avro_buf buf = {0};
    char errstr[512], path[4096];
    if (bc_avro_encode(schema, v, &buf, errstr, sizeof(errstr)) != 0) {
        die(name, errstr);
    }
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (f == NULL || fwrite(buf.data, 1, buf.len, f) != buf.len || fclose(f) != 0) {
        die(path, "cannot write");
    }
    bc_avro_buf_free(&buf);
}

static void span(const struct bc_avro_schema *te, const char *dir)
{
    avro_value_t v, f, a, b;
    bc_avro_value_new(te, &v);
    set_string(&v, "event_id", "5f1c7e1c0d6a4c1e9b1f2a3b4c5d6e7f");
    set_enum(&v, "kind", 0);
    set_opt_string(&v, "trace_id", "4bf92f3577b34da6a3ce929d0e0e4736");
    set_opt_string(&v, "span_id", "00f067aa0ba902b7");
    set_opt_string(&v, "parent_span_id", "53995c3f42cd8ad8");
    set_opt_string(&v, "correlation_id", "order-42");
    set_string(&v, "name", "POST /checkout");
    set_string(&v, "service", "checkout");
    set_long(&v, "start_time_ns", 1795000000000000000LL);
    set_long(&v, "end_time_ns", 1795000000250000000LL);
    f = branch(&v, "observed_time_ns", 1);
    avro_value_set_long(&f, 1795000000300000000LL);
    f = branch(&v, "span_kind", 1);
    avro_value_set_enum(&f, 2); /* SERVER */
    f = field(&v, "status");
    set_enum(&f, "code", 2);
    set_string(&f, "message", "payment declined");
    set_null(&v, "severity_number");
    set_null(&v, "severity_text");

    avro_value_t attrs = field(&v, "attributes");
    kv_string(&attrs, "http.method", "POST");
    a = kv_append(&attrs, "http.ok");
    b = any(&a, ANY_BOOL);
    avro_value_set_boolean(&b, 0);
    a = kv_append(&attrs, "http.status_code");
    b = any(&a, ANY_LONG);
    avro_value_set_long(&b, 402);
    a = kv_append(&attrs, "cart.total");
    b = any(&a, ANY_DOUBLE);
    avro_value_set_double(&b, 129.99);
    a = kv_append(&attrs, "payload.hash");
    b = any(&a, ANY_BYTES);
    avro_value_set_bytes(&b, (void *)"\x00\x01\xfe\xff", 4);
    a = kv_append(&attrs, "items");
    b = any(&a, ANY_ARRAY);
    {
        avro_value_t values = field(&b, "values"), item, x;
        avro_value_append(&values, &item, NULL);
        x = any(&item, ANY_STRING);
        avro_value_set_string(&x, "sku-1");
        avro_value_append(&values, &item, NULL);
        x = any(&item, ANY_LONG);
        avro_value_set_long(&x, 3);
        avro_value_append(&values, &item, NULL);
        x = any(&item, ANY_ARRAY); /* an array inside an array */
        avro_value_t inner = field(&x, "values");
        avro_value_append(&inner, &item, NULL);
        x = any(&item, ANY_BOOL);
        avro_value_set_boolean(&x, 1);
    }
    a = kv_append(&attrs, "customer");
    b = any(&a, ANY_KVLIST);
    {
        avro_value_t values = field(&b, "values");
        kv_string(&values, "tier", "gold");
        avro_value_t c = kv_append(&values, "address");
        avro_value_t d = any(&c, ANY_KVLIST);
        avro_value_t inner = field(&d, "values");
        kv_string(&inner, "country", "DE");
        c = kv_append(&values, "missing");
        any(&c, ANY_NULL);
    }
    a = kv_append(&attrs, "empty");
    b = any(&a, ANY_NULL);
    avro_value_set_null(&b);

    avro_value_t res = field(&v, "resource_attributes");
    kv_string(&res, "service.name", "checkout");
    kv_string(&res, "deployment.environment", "prod");
    f = branch(&v, "scope", 1);
    set_string(&f, "name", "io.opentelemetry.http");
    set_string(&f, "version", "1.25.0");
    avro_value_t sattrs = field(&f, "attributes");
    kv_string(&sattrs, "otel.scope", "yes");
    set_null(&v, "body");
    source(&v, "source", "tracking.raw", 2, 81234, 5);
    avro_value_t flags = field(&v, "flags"), flag;
    avro_value_append(&flags, &flag, NULL);
    avro_value_set_string(&flag, "clock_skew");
    avro_value_append(&flags, &flag, NULL);
    avro_value_set_string(&flag, "clamped");
    set_opt_string(&v, "owner", "payments@shop.example");
    set_opt_string(&v, "team", "payments");
    set_opt_string(&v, "tier", "critical");
    set_opt_string(&v, "cost_center", "cc-7");
    set_opt_string(&v, "on_call", "bob");
    f = branch(&v, "deploy", 1);
    set_string(&f, "deploy_id", "d-000123");
    set_string(&f, "version", "1.4.2");
    set_string(&f, "commit", "89abcdef0123456789abcdef0123456789abcdef");
    set_long(&f, "deployed_at_ns", 1794990000000000000LL);
    f = branch(&v, "sampling", 1);
    set_string(&f, "policy", "errors");
    avro_value_t p = field(&f, "probability");
    avro_value_set_double(&p, 0.125);
    avro_value_t events = field(&v, "span_events"), item;
    avro_value_append(&events, &item, NULL);
    set_long(&item, "time_ns", 1795000000200000000LL);
    set_string(&item, "name", "exception");
    avro_value_t eattrs = field(&item, "attributes");
    kv_string(&eattrs, "exception.type", "PaymentDeclined");
    avro_value_t links = field(&v, "links");
    avro_value_append(&links, &item, NULL);
    set_string(&item, "trace_id", "0af7651916cd43dd8448eb211c80319c");
    set_string(&item, "span_id", "b7ad6b7169203331");
    write_record(te, &v, dir, "te-span.bin");
    avro_value_decref(&v);
}

static void log_record(const struct bc_avro_schema *te, const char *dir)
{
    avro_value_t v, f;
    bc_avro_value_new(te, &v);
    set_string(&v, "event_id", "00000000000000000000000000000001");
    set_enum(&v, "kind", 1);
    set_opt_string(&v, "trace_id", "4bf92f3577b34da6a3ce929d0e0e4736");
    set_opt_string(&v, "span_id", NULL);
    set_opt_string(&v, "parent_span_id", NULL);
    set_opt_string(&v, "correlation_id", NULL);
    set_string(&v, "name", "h\xc3\xa9llo \xe2\x9c\x93 \xf0\x9f\x9a\x80");
    set_string(&v, "service", "");
    set_long(&v, "start_time_ns", INT64_MIN);
    set_long(&v, "end_time_ns", INT64_MAX);
    set_null(&v, "observed_time_ns");
    set_null(&v, "span_kind");
    f = field(&v, "status");
    set_enum(&f, "code", 0);
    set_string(&f, "message", "");
    f = branch(&v, "severity_number", 1);
    avro_value_set_int(&f, INT32_MIN);
    set_opt_string(&v, "severity_text", "INFO");
    avro_value_t attrs = field(&v, "attributes");
    avro_value_t a = kv_append(&attrs, "nul");
    avro_value_t b = any(&a, ANY_STRING);
    avro_value_set_string_len(&b, "a\0b", 4); /* a NUL inside a string */
    a = kv_append(&attrs, "big");
    b = any(&a, ANY_DOUBLE);
    avro_value_set_double(&b, -1e300);
    set_null(&v, "scope");
    f = branch(&v, "body", 1);
    avro_value_t body = any(&f, ANY_KVLIST);
    avro_value_t values = field(&body, "values");
    kv_string(&values, "msg", "user logged in");
    a = kv_append(&values, "attempt");
    b = any(&a, ANY_LONG);
    avro_value_set_long(&b, -1);
    source(&v, "source", "tracking.raw", 0, 0, 0);
    set_null(&v, "owner");
    set_null(&v, "team");
    set_null(&v, "tier");
    set_null(&v, "cost_center");
    set_null(&v, "on_call");
    set_null(&v, "deploy");
    set_null(&v, "sampling");
    write_record(te, &v, dir, "te-log.bin");
    avro_value_decref(&v);
}

static void event(const struct bc_avro_schema *te, const char *dir)
{
    avro_value_t v, f;
    bc_avro_value_new(te, &v);
    set_string(&v, "event_id", "ffffffffffffffffffffffffffffffff");
    set_enum(&v, "kind", 2);
    set_null(&v, "trace_id");
    set_null(&v, "span_id");
    set_null(&v, "parent_span_id");
    set_null(&v, "correlation_id");
    set_string(&v, "name", "billing.charge");
    set_string(&v, "service", "payment");
    set_long(&v, "start_time_ns", 1);
    set_long(&v, "end_time_ns", 1);
    set_null(&v, "observed_time_ns");
    set_null(&v, "span_kind");
    f = field(&v, "status");
    set_enum(&f, "code", 1);
    set_string(&f, "message", "");
    set_null(&v, "severity_number");
    set_null(&v, "severity_text");
    set_null(&v, "scope");
    set_null(&v, "body");
    source(&v, "source", "tracking.raw", 1, 7, 0);
    set_null(&v, "owner");
    set_null(&v, "team");
    set_null(&v, "tier");
    set_null(&v, "cost_center");
    set_null(&v, "on_call");
    set_null(&v, "deploy");
    set_null(&v, "sampling");
    write_record(te, &v, dir, "te-event.bin");
    avro_value_decref(&v);
}

static void dead_letter(const struct bc_avro_schema *dl, const char *dir)
{
    avro_value_t v, f;
    bc_avro_value_new(dl, &v);
    set_string(&v, "reason", "invalid_json");
    set_string(&v, "message", "line 1 column 2: unexpected token");
    f = field(&v, "source");
    set_string(&f, "topic", "tracking.raw");
    set_int(&f, "partition", 4);
    set_long(&f, "offset", 99);
    set_null(&f, "index");
    set_string(&v, "worker", "normalizer");
    set_int(&v, "attempts", 1);
    f = field(&v, "raw");
    avro_value_set_bytes(&f, (void *)"{\x80\x00garbage", 10);
    avro_value_t key = branch(&v, "key", 1);
    avro_value_set_bytes(&key, (void *)"k1", 2);
    set_long(&v, "timestamp_ms", 1795000000123LL);
    write_record(dl, &v, dir, "dead.bin");
    avro_value_decref(&v);
}

static void fate(const struct bc_avro_schema *schema, const char *dir)
{
    avro_value_t v, f;
    bc_avro_value_new(schema, &v);
    set_opt_string(&v, "event_id", "5f1c7e1c0d6a4c1e9b1f2a3b4c5d6e7f");
    source(&v, "source", "tracking.normalized", 1, 500, 0);
    set_string(&v, "worker", "deduplicator");
    set_enum(&v, "fate", 0);
    set_opt_string(&v, "reason", "duplicate event_id");
    set_null(&v, "policy");
    f = branch(&v, "related", 1);
    set_string(&f, "topic", "tracking.normalized");
    set_int(&f, "partition", 1);
    set_long(&f, "offset", 200);
    write_record(schema, &v, dir, "fate.bin");
    avro_value_decref(&v);
}

static void lineage(const struct bc_avro_schema *schema, const char *dir)
{
    avro_value_t v, hops, hop, f;
    bc_avro_value_new(schema, &v);
    set_string(&v, "event_id", "5f1c7e1c0d6a4c1e9b1f2a3b4c5d6e7f");
    set_opt_string(&v, "trace_id", "4bf92f3577b34da6a3ce929d0e0e4736");
    source(&v, "raw", "tracking.raw", 2, 81234, 5);
    hops = field(&v, "hops");
    avro_value_append(&hops, &hop, NULL);
    set_string(&hop, "worker", "normalizer");
    set_string(&hop, "config_hash", "c0ffee");
    set_string(&hop, "topic", "tracking.normalized");
    set_int(&hop, "partition", 1);
    set_long(&hop, "offset", 500);
    set_null(&hop, "fate");
    set_null(&hop, "detail");
    avro_value_append(&hops, &hop, NULL);
    set_string(&hop, "worker", "deduplicator");
    set_string(&hop, "config_hash", "beef");
    set_string(&hop, "topic", "tracking.fates");
    set_int(&hop, "partition", 0);
    set_long(&hop, "offset", 17);
    f = branch(&hop, "fate", 1);
    avro_value_set_enum(&f, 0);
    set_opt_string(&hop, "detail", "first seen at tracking.normalized/1/200");
    write_record(schema, &v, dir, "lineage.bin");
    avro_value_decref(&v);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: avro_write SCHEMAS_DIR OUT_DIR\n");
        return 2;
    }
    struct bc_avro_registry *reg = NULL;
    char errstr[512];
    if (bc_avro_registry_load(argv[1], &reg, errstr, sizeof(errstr)) != 0) {
        die(argv[1], errstr);
    }
    const struct bc_avro_schema *te = bc_avro_registry_lookup(reg, "TrackingEvent");
    const struct bc_avro_schema *dl = bc_avro_registry_lookup(reg, "DeadLetter");
    const struct bc_avro_schema *fs = bc_avro_registry_lookup(reg, "Fate");
    const struct bc_avro_schema *ls = bc_avro_registry_lookup(reg, "LineageRecord");
    if (te == NULL || dl == NULL || fs == NULL || ls == NULL) {
        die(argv[1], "a subject is missing");
    }
    span(te, argv[2]);
    log_record(te, argv[2]);
    event(te, argv[2]);
    dead_letter(dl, argv[2]);
    fate(fs, argv[2]);
    lineage(ls, argv[2]);
    bc_avro_registry_destroy(reg);
    return 0;
}
