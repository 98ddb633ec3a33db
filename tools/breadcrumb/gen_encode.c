/*
 * OTLP/JSON encoders for the generator: the encoding of the OpenTelemetry specification
 * (https://opentelemetry.io/docs/specs/otlp/#json-protobuf-encoding: lowerCamelCase keys, hex
 * trace and span ids, int64 as decimal strings, enums as integers) and the variants common
 * exporters write (base64 ids as protobuf's JSON mapping gives them, enum names, int64 as JSON
 * numbers), chosen per record by struct gen_variant.
 */
#include "tools/breadcrumb/gen_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static json_t *int64_value(int64_t n, const struct gen_variant *v)
{
    if (v->int_numbers) {
        return json_integer((json_int_t)n);
    }
    char buf[24];
    snprintf(buf, sizeof(buf), "%" PRId64, n);
    return json_string(buf);
}

json_t *gen_otlp_value(json_t *typed, const struct gen_variant *v)
{
    json_t *out = json_object();
    switch (json_typeof(typed)) {
    case JSON_STRING:
        json_object_set_new(out, "stringValue", json_copy(typed));
        break;
    case JSON_TRUE:
    case JSON_FALSE:
        json_object_set_new(out, "boolValue", json_copy(typed));
        break;
    case JSON_INTEGER:
        json_object_set_new(out, "intValue", int64_value(json_integer_value(typed), v));
        break;
    case JSON_REAL:
        json_object_set_new(out, "doubleValue", json_copy(typed));
        break;
    case JSON_ARRAY: {
        json_t *values = json_array();
        size_t i;
        json_t *item;
        json_array_foreach(typed, i, item)
        {
            json_array_append_new(values, gen_otlp_value(item, v));
        }
        json_t *arr = json_object();
        json_object_set_new(arr, "values", values);
        json_object_set_new(out, "arrayValue", arr);
        break;
    }
    case JSON_OBJECT: {
        json_t *bytes = json_object_get(typed, GEN_BYTES_KEY);
        if (bytes != NULL) {
            json_object_set_new(out, "bytesValue", json_copy(bytes));
            break;
        }
        json_t *kv = json_object();
        json_object_set_new(kv, "values", gen_otlp_attrs(typed, v));
        json_object_set_new(out, "kvlistValue", kv);
        break;
    }
    default:
        break;
    }
    return out;
}

json_t *gen_otlp_attrs(json_t *attrs, const struct gen_variant *v)
{
    json_t *list = json_array();
    const char *key;
    json_t *value;
    json_object_foreach(attrs, key, value)
    {
        json_t *kv = json_object();
        json_object_set_new(kv, "key", json_string(key));
        json_object_set_new(kv, "value", gen_otlp_value(value, v));
        json_array_append_new(list, kv);
    }
    return list;
}

json_t *gen_otlp_id(const uint8_t *id, size_t len, const struct gen_variant *v)
{
    char buf[64];
    if (v->b64_ids) {
        gen_b64(id, len, buf, sizeof(buf));
    } else {
        gen_hex(id, len, buf);
    }
    return json_string(buf);
}

json_t *gen_otlp_time(int64_t ns, const struct gen_variant *v)
{
    return int64_value(ns, v);
}

static const char *const kind_names[] = {"SPAN_KIND_UNSPECIFIED", "SPAN_KIND_INTERNAL",
                                         "SPAN_KIND_SERVER",      "SPAN_KIND_CLIENT",
                                         "SPAN_KIND_PRODUCER",    "SPAN_KIND_CONSUMER"};
static const char *const status_names[] = {"STATUS_CODE_UNSET", "STATUS_CODE_OK",
                                           "STATUS_CODE_ERROR"};

json_t *gen_otlp_kind(int kind, const struct gen_variant *v)
{
    return v->enum_names ? json_string(kind_names[kind]) : json_integer(kind);
}

json_t *gen_otlp_status_code(int code, const struct gen_variant *v)
{
    return v->enum_names ? json_string(status_names[code]) : json_integer(code);
}

const char *gen_severity_text(int severity)
{
    if (severity >= 21) {
        return "FATAL";
    }
    if (severity >= 17) {
        return "ERROR";
    }
    if (severity >= 13) {
        return "WARN";
    }
    if (severity >= 9) {
        return "INFO";
    }
    if (severity >= 5) {
        return "DEBUG";
    }
    return "TRACE";
}

json_t *gen_otlp_severity(int severity, const struct gen_variant *v)
{
    if (!v->enum_names) {
        return json_integer(severity);
    }
    static const int base[] = {21, 17, 13, 9, 5, 1};
    static const char *const names[] = {"FATAL", "ERROR", "WARN", "INFO", "DEBUG", "TRACE"};
    for (int i = 0; i < 6; i++) {
        if (severity >= base[i]) {
            char buf[40];
            if (severity == base[i]) {
                snprintf(buf, sizeof(buf), "SEVERITY_NUMBER_%s", names[i]);
            } else {
                snprintf(buf, sizeof(buf), "SEVERITY_NUMBER_%s%d", names[i],
                         severity - base[i] + 1);
            }
            return json_string(buf);
        }
    }
    return json_string("SEVERITY_NUMBER_UNSPECIFIED");
}

json_t *gen_otlp_span(const uint8_t trace_id[16], const struct gen_span *span,
                      const struct gen_span *parent, int64_t skew_ns, const struct gen_variant *v)
{
    json_t *out = json_object();
    json_object_set_new(out, "traceId", gen_otlp_id(trace_id, 16, v));
    json_object_set_new(out, "spanId", gen_otlp_id(span->span_id, 8, v));
    if (parent != NULL) {
        json_object_set_new(out, "parentSpanId", gen_otlp_id(parent->span_id, 8, v));
    } else if (v->enum_names) {
        /* Exporters that write default values send the empty parent of a root span. */
        json_object_set_new(out, "parentSpanId", json_string(""));
    }
    json_object_set_new(out, "name", json_string(span->name));
    json_object_set_new(out, "kind", gen_otlp_kind(span->kind, v));
    json_object_set_new(out, "startTimeUnixNano", gen_otlp_time(span->start_ns + skew_ns, v));
    json_object_set_new(out, "endTimeUnixNano", gen_otlp_time(span->end_ns + skew_ns, v));
    json_object_set_new(out, "attributes", gen_otlp_attrs(span->attrs, v));
    if (span->events != NULL) {
        json_t *events = json_array();
        size_t i;
        json_t *event;
        json_array_foreach(span->events, i, event)
        {
            json_t *e = json_object();
            int64_t t = json_integer_value(json_object_get(event, "time_ns")) + skew_ns;
            json_object_set_new(e, "timeUnixNano", gen_otlp_time(t, v));
            json_object_set(e, "name", json_object_get(event, "name"));
            json_object_set_new(e, "attributes",
                                gen_otlp_attrs(json_object_get(event, "attrs"), v));
            json_array_append_new(events, e);
        }
        json_object_set_new(out, "events", events);
    }
    if (span->status != STATUS_UNSET) {
        json_t *status = json_object();
        if (span->status_message != NULL) {
            json_object_set_new(status, "message", json_string(span->status_message));
        }
        json_object_set_new(status, "code", gen_otlp_status_code(span->status, v));
        json_object_set_new(out, "status", status);
    } else {
        json_object_set_new(out, "status", json_object());
    }
    return out;
}

json_t *gen_otlp_log(const uint8_t trace_id[16], const struct gen_log *log,
                     const struct gen_variant *v)
{
    json_t *out = json_object();
    json_object_set_new(out, "timeUnixNano", gen_otlp_time(log->time_ns, v));
    json_object_set_new(out, "observedTimeUnixNano", gen_otlp_time(log->time_ns + 1000, v));
    json_object_set_new(out, "severityNumber", gen_otlp_severity(log->severity, v));
    json_object_set_new(out, "severityText", json_string(gen_severity_text(log->severity)));
    json_object_set_new(out, "body", gen_otlp_value(log->body, v));
    json_object_set_new(out, "attributes", gen_otlp_attrs(log->attrs, v));
    if (trace_id != NULL) {
        json_object_set_new(out, "flags", json_integer(1));
        json_object_set_new(out, "traceId", gen_otlp_id(trace_id, 16, v));
        json_object_set_new(out, "spanId", gen_otlp_id(log->span_id, 8, v));
    }
    return out;
}

json_t *gen_otlp_resource(int service, const char *version, int instance,
                          const struct gen_variant *v)
{
    const struct gen_service_info *info = &gen_services[service];
    json_t *attrs = json_object();
    char host[64];
    snprintf(host, sizeof(host), "%s-%d.prod.shop.internal", info->name, instance);
    json_object_set_new(attrs, "service.name", json_string(info->name));
    json_object_set_new(attrs, "service.version", json_string(version));
    json_object_set_new(attrs, "service.namespace", json_string("shop"));
    json_object_set_new(attrs, "host.name", json_string(host));
    json_object_set_new(attrs, "deployment.environment", json_string("production"));
    json_object_set_new(attrs, "telemetry.sdk.name", json_string("opentelemetry"));
    json_object_set_new(attrs, "telemetry.sdk.language", json_string(info->lang));
    json_t *resource = json_object();
    json_object_set_new(resource, "attributes", gen_otlp_attrs(attrs, v));
    json_decref(attrs);
    return resource;
}

json_t *gen_otlp_export(int logs, int service, const char *version, json_t *resource, json_t *items)
{
    char scope_name[96];
    snprintf(scope_name, sizeof(scope_name), "shop.%s", gen_services[service].name);
    json_t *scope = json_object();
    json_object_set_new(scope, "name", json_string(scope_name));
    json_object_set_new(scope, "version", json_string(version));
    json_t *scoped = json_object();
    json_object_set_new(scoped, "scope", scope);
    json_object_set_new(scoped, logs ? "logRecords" : "spans", items);
    json_object_set_new(scoped, "schemaUrl",
                        json_string("https://opentelemetry.io/schemas/1.24.0"));
    json_t *scopes = json_array();
    json_array_append_new(scopes, scoped);
    json_t *res = json_object();
    json_object_set_new(res, "resource", resource);
    json_object_set_new(res, logs ? "scopeLogs" : "scopeSpans", scopes);
    json_object_set_new(res, "schemaUrl", json_string("https://opentelemetry.io/schemas/1.24.0"));
    json_t *list = json_array();
    json_array_append_new(list, res);
    json_t *out = json_object();
    json_object_set_new(out, logs ? "resourceLogs" : "resourceSpans", list);
    return out;
}

char *gen_dump(const json_t *json, size_t *len)
{
    char *s = json_dumps(json, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(12));
    if (s == NULL) {
        abort(); /* out of memory: the generator has no partial output to offer */
    }
    *len = strlen(s);
    return s;
}
