/*
 * dedup_feed: turns `breadcrumb gen --out-dir` output (tracking.raw.jsonl, hex ids) into the
 * TrackingEvents a normalizer would write for the items that carry an id, for the
 * deduplicator's tests without a normalizer in the loop: spans (event_id from trace_id +
 * span_id), logs with `log.record.uid` and flat events with `attributes.idempotency_key`
 * (event_id per SHARED-CONTRACTS). Items without an id are skipped; so are records that are
 * not JSON objects.
 *
 *   dedup_feed SCHEMAS_DIR tracking.raw.jsonl > events.tsv
 *
 * Output, one line per event in raw order: KEY TAB TIMESTAMP_MS TAB VALUE_HEX TAB EVENT_ID
 * TAB RAW_OFFSET, where KEY is the normalized Kafka key (trace_id for spans and logs with
 * one, else the event_id) and VALUE_HEX the wire-format TrackingEvent (attributes: only
 * idempotency_key; resource: only service.name).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <xxhash.h>

#include "bc_event.h"

static const struct bc_avro_schema *te;
static avro_value_t ev;
static struct bc_avro_buf buf;

static int hex_bytes(const char *hex, uint8_t *out, size_t n)
{
    if (hex == NULL || strlen(hex) != 2 * n) {
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        if (sscanf(hex + 2 * i, "%2x", &v) != 1) {
            return -1;
        }
        out[i] = (uint8_t)v;
    }
    return 0;
}

static void event_id(const char *kind, const void *material, size_t len, char out[33])
{
    size_t klen = strlen(kind) + 1;
    uint8_t *data = malloc(klen + len);
    memcpy(data, kind, klen);
    memcpy(data + klen, material, len);
    XXH128_canonical_t c;
    XXH128_canonicalFromHash(&c, XXH3_128bits(data, klen + len));
    free(data);
    for (int i = 0; i < 16; i++) {
        sprintf(out + 2 * i, "%02x", c.digest[i]);
    }
}

/* The string value of key in an OTLP attribute array, or NULL. */
static const char *otlp_attr(json_t *attrs, const char *key)
{
    size_t i;
    json_t *kv;
    json_array_foreach(attrs, i, kv) {
        if (strcmp(json_string_value(json_object_get(kv, "key")) ?: "", key) == 0) {
            return json_string_value(json_object_get(json_object_get(kv, "value"), "stringValue"));
        }
    }
    return NULL;
}

static void emit(const char *id, int kind, const char *trace_id, const char *span_id,
                 const char *name, const char *service, const char *idem, int64_t ts_ms,
                 int64_t offset, int index)
{
    char errstr[256];
    avro_value_t attrs, any;
    bc_event_clear(&ev);
    bc_event_set_string(&ev, BC_EV_EVENT_ID, id, 32);
    bc_event_set_enum(&ev, BC_EV_KIND, kind);
    if (trace_id != NULL) {
        bc_event_set_string(&ev, BC_EV_TRACE_ID, trace_id, strlen(trace_id));
    }
    if (span_id != NULL) {
        bc_event_set_string(&ev, BC_EV_SPAN_ID, span_id, strlen(span_id));
    }
    bc_event_set_string(&ev, BC_EV_NAME, name, strlen(name));
    bc_event_set_string(&ev, BC_EV_SERVICE, service, strlen(service));
    bc_event_set_long(&ev, BC_EV_START_TIME_NS, ts_ms * 1000000);
    bc_event_set_long(&ev, BC_EV_END_TIME_NS, ts_ms * 1000000);
    bc_event_set_source(&ev, "tracking.raw", 0, offset, index);
    if (idem != NULL) {
        bc_event_field(&ev, BC_EV_ATTRIBUTES, &attrs);
        bc_event_kv_append(&attrs, "idempotency_key", 15, &any);
        bc_any_set_string(&any, idem, strlen(idem));
    }
    bc_event_field(&ev, BC_EV_RESOURCE_ATTRIBUTES, &attrs);
    bc_event_kv_append(&attrs, "service.name", 12, &any);
    bc_any_set_string(&any, service, strlen(service));
    if (bc_avro_encode(te, &ev, &buf, errstr, sizeof(errstr)) != 0) {
        fprintf(stderr, "dedup_feed: encode: %s\n", errstr);
        exit(1);
    }
    const char *key = trace_id != NULL && kind != BC_EVENT_EVENT ? trace_id : id;
    static const char digits[] = "0123456789abcdef";
    static char *hex;
    static size_t hex_cap;
    if (hex_cap < 2 * buf.len) {
        hex_cap = 2 * buf.len;
        hex = realloc(hex, hex_cap);
    }
    for (size_t i = 0; i < buf.len; i++) { /* printf per byte was most of the run time */
        hex[2 * i] = digits[buf.data[i] >> 4];
        hex[2 * i + 1] = digits[buf.data[i] & 15];
    }
    printf("%s\t%" PRId64 "\t", key, ts_ms);
    fwrite(hex, 1, 2 * buf.len, stdout);
    printf("\t%s\t%" PRId64 "\n", id, offset);
}

static void spans(json_t *resource_spans, int64_t ts, int64_t offset)
{
    size_t i, j, k;
    json_t *rs, *ss, *span;
    int index = 0;
    json_array_foreach(resource_spans, i, rs) {
        const char *service =
            otlp_attr(json_object_get(json_object_get(rs, "resource"), "attributes"),
                      "service.name");
        json_array_foreach(json_object_get(rs, "scopeSpans"), j, ss) {
            json_array_foreach(json_object_get(ss, "spans"), k, span) {
                const char *trace = json_string_value(json_object_get(span, "traceId"));
                const char *sid = json_string_value(json_object_get(span, "spanId"));
                uint8_t material[24];
                char id[33];
                if (hex_bytes(trace, material, 16) != 0 || hex_bytes(sid, material + 16, 8) != 0) {
                    continue;
                }
                event_id("span", material, 24, id);
                emit(id, BC_EVENT_SPAN, trace, sid,
                     json_string_value(json_object_get(span, "name")) ?: "span",
                     service ?: "unknown", NULL, ts, offset, index++);
            }
        }
    }
}

static void logs(json_t *resource_logs, int64_t ts, int64_t offset)
{
    size_t i, j, k;
    json_t *rl, *sl, *lr;
    int index = 0;
    json_array_foreach(resource_logs, i, rl) {
        const char *service =
            otlp_attr(json_object_get(json_object_get(rl, "resource"), "attributes"),
                      "service.name");
        json_array_foreach(json_object_get(rl, "scopeLogs"), j, sl) {
            json_array_foreach(json_object_get(sl, "logRecords"), k, lr) {
                const char *uid = otlp_attr(json_object_get(lr, "attributes"), "log.record.uid");
                int item = index++;
                if (uid == NULL) {
                    continue;
                }
                char id[33];
                event_id("log", uid, strlen(uid), id);
                const char *trace = json_string_value(json_object_get(lr, "traceId"));
                if (trace != NULL && strlen(trace) != 32) {
                    trace = NULL;
                }
                emit(id, BC_EVENT_LOG, trace, json_string_value(json_object_get(lr, "spanId")),
                     "log", service ?: "unknown", NULL, ts, offset, item);
            }
        }
    }
}

int main(int argc, char **argv)
{
    char errstr[512];
    struct bc_avro_registry *reg = NULL;
    if (argc != 3 || bc_avro_registry_load(argv[1], &reg, errstr, sizeof(errstr)) != 0) {
        fprintf(stderr, "usage: dedup_feed SCHEMAS_DIR RAW.jsonl (%s)\n", argc == 3 ? errstr : "");
        return 2;
    }
    te = bc_avro_registry_lookup(reg, "TrackingEvent");
    bc_avro_value_new(te, &ev);
    FILE *in = fopen(argv[2], "r");
    if (in == NULL) {
        perror(argv[2]);
        return 1;
    }
    char *line = NULL;
    size_t cap = 0;
    int64_t offset = 0;
    while (getline(&line, &cap, in) > 0) {
        json_t *rec = json_loads(line, 0, NULL);
        json_t *value = rec != NULL ? json_loads(json_string_value(json_object_get(rec, "value")) ?: "",
                                                 0, NULL)
                                    : NULL;
        int64_t ts = json_integer_value(json_object_get(rec, "timestamp_ms"));
        if (json_is_object(value)) {
            json_t *idem = json_object_get(json_object_get(value, "attributes"), "idempotency_key");
            if (json_object_get(value, "resourceSpans") != NULL) {
                spans(json_object_get(value, "resourceSpans"), ts, offset);
            } else if (json_object_get(value, "resourceLogs") != NULL) {
                logs(json_object_get(value, "resourceLogs"), ts, offset);
            } else if (json_is_string(idem)) {
                char id[33];
                const char *s = json_string_value(idem);
                event_id("event", s, strlen(s), id);
                const char *svc = json_string_value(json_object_get(value, "service"));
                emit(id, BC_EVENT_EVENT,
                     json_string_value(json_object_get(value, "trace_id")), NULL,
                     json_string_value(json_object_get(value, "event")) ?: "event",
                     svc ?: "unknown", s, ts, offset, 0);
            }
        }
        json_decref(value);
        json_decref(rec);
        offset++;
    }
    free(line);
    fclose(in);
    avro_value_decref(&ev);
    bc_avro_buf_free(&buf);
    bc_avro_registry_destroy(reg);
    return 0;
}
