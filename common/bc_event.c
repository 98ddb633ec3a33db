/*
 * The C view of TrackingEvent (bc_event.h): fixed field indexes over avro-c's value API.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bc_event.h"

struct layout {
    const char *name;
    avro_type_t type; /* of the value, or of the non-null branch when nullable */
    int nullable;
};

static const struct layout layout[BC_EV_FIELD_COUNT] = {
    [BC_EV_EVENT_ID] = {"event_id", AVRO_STRING, 0},
    [BC_EV_KIND] = {"kind", AVRO_ENUM, 0},
    [BC_EV_TRACE_ID] = {"trace_id", AVRO_STRING, 1},
    [BC_EV_SPAN_ID] = {"span_id", AVRO_STRING, 1},
    [BC_EV_PARENT_SPAN_ID] = {"parent_span_id", AVRO_STRING, 1},
    [BC_EV_CORRELATION_ID] = {"correlation_id", AVRO_STRING, 1},
    [BC_EV_NAME] = {"name", AVRO_STRING, 0},
    [BC_EV_SERVICE] = {"service", AVRO_STRING, 0},
    [BC_EV_START_TIME_NS] = {"start_time_ns", AVRO_INT64, 0},
    [BC_EV_END_TIME_NS] = {"end_time_ns", AVRO_INT64, 0},
    [BC_EV_OBSERVED_TIME_NS] = {"observed_time_ns", AVRO_INT64, 1},
    [BC_EV_SPAN_KIND] = {"span_kind", AVRO_ENUM, 1},
    [BC_EV_STATUS] = {"status", AVRO_RECORD, 0},
    [BC_EV_SEVERITY_NUMBER] = {"severity_number", AVRO_INT32, 1},
    [BC_EV_SEVERITY_TEXT] = {"severity_text", AVRO_STRING, 1},
    [BC_EV_ATTRIBUTES] = {"attributes", AVRO_ARRAY, 0},
    [BC_EV_RESOURCE_ATTRIBUTES] = {"resource_attributes", AVRO_ARRAY, 0},
    [BC_EV_SCOPE] = {"scope", AVRO_RECORD, 1},
    [BC_EV_BODY] = {"body", AVRO_RECORD, 1},
    [BC_EV_SOURCE] = {"source", AVRO_RECORD, 0},
    [BC_EV_FLAGS] = {"flags", AVRO_ARRAY, 0},
    [BC_EV_OWNER] = {"owner", AVRO_STRING, 1},
    [BC_EV_TEAM] = {"team", AVRO_STRING, 1},
    [BC_EV_TIER] = {"tier", AVRO_STRING, 1},
    [BC_EV_COST_CENTER] = {"cost_center", AVRO_STRING, 1},
    [BC_EV_ON_CALL] = {"on_call", AVRO_STRING, 1},
    [BC_EV_DEPLOY] = {"deploy", AVRO_RECORD, 1},
    [BC_EV_SAMPLING] = {"sampling", AVRO_RECORD, 1},
    [BC_EV_SPAN_EVENTS] = {"span_events", AVRO_ARRAY, 0},
    [BC_EV_LINKS] = {"links", AVRO_ARRAY, 0},
};

static avro_schema_t deref(avro_schema_t s)
{
    while (avro_typeof(s) == AVRO_LINK) {
        s = avro_schema_link_target(s);
    }
    return s;
}

static int check_symbols(avro_schema_t e, const char *const *symbols, size_t n, const char *what,
                         char *errstr, size_t errstr_size)
{
    e = deref(e);
    if (avro_typeof(e) != AVRO_ENUM || avro_schema_enum_number_of_symbols(e) < (int)n) {
        snprintf(errstr, errstr_size, "%s: not the expected enum", what);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        if (strcmp(avro_schema_enum_get(e, (int)i), symbols[i]) != 0) {
            snprintf(errstr, errstr_size, "%s: symbol %zu is %s, expected %s", what, i,
                     avro_schema_enum_get(e, (int)i), symbols[i]);
            return -1;
        }
    }
    return 0;
}

int bc_event_check(const struct bc_avro_schema *schema, char *errstr, size_t errstr_size)
{
    avro_schema_t s = bc_avro_schema_avro(schema);
    if (avro_typeof(s) != AVRO_RECORD || avro_schema_record_size(s) < BC_EV_FIELD_COUNT) {
        snprintf(errstr, errstr_size, "not a TrackingEvent record");
        return -1;
    }
    for (int i = 0; i < BC_EV_FIELD_COUNT; i++) {
        avro_schema_t f = deref(avro_schema_record_field_get_by_index(s, i));
        const char *name = avro_schema_record_field_name(s, i);
        if (strcmp(name, layout[i].name) != 0) {
            snprintf(errstr, errstr_size, "field %d is %s, expected %s", i, name, layout[i].name);
            return -1;
        }
        if (layout[i].nullable) {
            if (avro_typeof(f) != AVRO_UNION || avro_schema_union_size(f) != 2 ||
                avro_typeof(deref(avro_schema_union_branch(f, 0))) != AVRO_NULL) {
                snprintf(errstr, errstr_size, "%s: expected [\"null\", ...]", name);
                return -1;
            }
            f = deref(avro_schema_union_branch(f, 1));
        }
        if (avro_typeof(f) != layout[i].type) {
            snprintf(errstr, errstr_size, "%s: unexpected type", name);
            return -1;
        }
    }
    static const char *const kinds[] = {"SPAN", "LOG", "EVENT"};
    static const char *const span_kinds[] = {"UNSPECIFIED", "INTERNAL", "SERVER",
                                             "CLIENT",      "PRODUCER", "CONSUMER"};
    static const char *const codes[] = {"UNSET", "OK", "ERROR"};
    if (check_symbols(avro_schema_record_field_get_by_index(s, BC_EV_KIND), kinds, 3, "kind",
                      errstr, errstr_size) != 0 ||
        check_symbols(
            avro_schema_union_branch(avro_schema_record_field_get_by_index(s, BC_EV_SPAN_KIND), 1),
            span_kinds, 6, "span_kind", errstr, errstr_size) != 0 ||
        check_symbols(avro_schema_record_field_get_by_index(
                          deref(avro_schema_record_field_get_by_index(s, BC_EV_STATUS)), 0),
                      codes, 3, "status.code", errstr, errstr_size) != 0) {
        return -1;
    }
    /* AnyValue: {value: [null, string, boolean, long, double, bytes, ArrayValue, KeyValueList]} */
    avro_schema_t body = deref(avro_schema_record_field_get_by_index(s, BC_EV_BODY));
    avro_schema_t any = deref(avro_schema_union_branch(body, 1));
    avro_schema_t u = deref(avro_schema_record_field_get_by_index(any, 0));
    static const avro_type_t branches[] = {AVRO_NULL,   AVRO_STRING, AVRO_BOOLEAN, AVRO_INT64,
                                           AVRO_DOUBLE, AVRO_BYTES,  AVRO_RECORD,  AVRO_RECORD};
    if (avro_typeof(u) != AVRO_UNION || avro_schema_union_size(u) != 8) {
        snprintf(errstr, errstr_size, "AnyValue: expected a union of 8 branches");
        return -1;
    }
    for (int i = 0; i < 8; i++) {
        if (avro_typeof(deref(avro_schema_union_branch(u, i))) != branches[i]) {
            snprintf(errstr, errstr_size, "AnyValue: branch %d has an unexpected type", i);
            return -1;
        }
    }
    return 0;
}

int bc_event_field(avro_value_t *ev, enum bc_event_field field, avro_value_t *out)
{
    return avro_value_get_by_index(ev, (size_t)field, out, NULL) == 0 ? 0 : -1;
}

/* The value to set for field: the field itself, or its non-null branch (selected). */
static int target(avro_value_t *ev, enum bc_event_field field, avro_value_t *out)
{
    avro_value_t f;
    if ((unsigned)field >= BC_EV_FIELD_COUNT || bc_event_field(ev, field, &f) != 0) {
        return -1;
    }
    if (!layout[field].nullable) {
        *out = f;
        return 0;
    }
    return avro_value_set_branch(&f, 1, out) == 0 ? 0 : -1;
}

static int set_null(avro_value_t *ev, enum bc_event_field field)
{
    avro_value_t f, branch;
    if (bc_event_field(ev, field, &f) != 0 || avro_value_set_branch(&f, 0, &branch) != 0) {
        return -1;
    }
    return avro_value_set_null(&branch) == 0 ? 0 : -1;
}

int bc_event_set_null(avro_value_t *ev, enum bc_event_field field)
{
    if ((unsigned)field >= BC_EV_FIELD_COUNT || !layout[field].nullable) {
        return -1;
    }
    return set_null(ev, field);
}

static int set_str(avro_value_t *v, const char *s, size_t len)
{
    /* avro-c copies size bytes, the terminating NUL included, and s[len] may not be ours to
     * read: copy first (on the stack for the usual short strings). */
    char small[256];
    char *copy = len < sizeof(small) ? small : malloc(len + 1);
    if (copy == NULL) {
        return -1;
    }
    memcpy(copy, s, len);
    copy[len] = '\0';
    int rc = avro_value_set_string_len(v, copy, len + 1) == 0 ? 0 : -1;
    if (copy != small) {
        free(copy);
    }
    return rc;
}

int bc_event_set_string(avro_value_t *ev, enum bc_event_field field, const char *s, size_t len)
{
    avro_value_t v;
    return target(ev, field, &v) == 0 ? set_str(&v, s, len) : -1;
}

int bc_event_set_long(avro_value_t *ev, enum bc_event_field field, int64_t x)
{
    avro_value_t v;
    return target(ev, field, &v) == 0 && avro_value_set_long(&v, x) == 0 ? 0 : -1;
}

int bc_event_set_int(avro_value_t *ev, enum bc_event_field field, int32_t x)
{
    avro_value_t v;
    return target(ev, field, &v) == 0 && avro_value_set_int(&v, x) == 0 ? 0 : -1;
}

int bc_event_set_enum(avro_value_t *ev, enum bc_event_field field, int x)
{
    avro_value_t v;
    return target(ev, field, &v) == 0 && avro_value_set_enum(&v, x) == 0 ? 0 : -1;
}

static int set_field_string(avro_value_t *rec, size_t index, const char *s)
{
    avro_value_t f;
    if (avro_value_get_by_index(rec, index, &f, NULL) != 0) {
        return -1;
    }
    return set_str(&f, s ? s : "", s ? strlen(s) : 0);
}

int bc_event_clear(avro_value_t *ev)
{
    avro_value_reset(ev);
    for (int i = 0; i < BC_EV_FIELD_COUNT; i++) {
        if (layout[i].nullable && set_null(ev, (enum bc_event_field)i) != 0) {
            return -1;
        }
    }
    return bc_event_set_status(ev, BC_STATUS_UNSET, "", 0);
}

int bc_event_set_status(avro_value_t *ev, enum bc_event_status code, const char *message,
                        size_t len)
{
    avro_value_t status, f;
    if (bc_event_field(ev, BC_EV_STATUS, &status) != 0 ||
        avro_value_get_by_index(&status, 0, &f, NULL) != 0 ||
        avro_value_set_enum(&f, (int)code) != 0 ||
        avro_value_get_by_index(&status, 1, &f, NULL) != 0) {
        return -1;
    }
    return set_str(&f, message ? message : "", message ? len : 0);
}

int bc_event_set_source(avro_value_t *ev, const char *topic, int32_t partition, int64_t offset,
                        int32_t index)
{
    avro_value_t src, f;
    if (bc_event_field(ev, BC_EV_SOURCE, &src) != 0 || set_field_string(&src, 0, topic) != 0 ||
        avro_value_get_by_index(&src, 1, &f, NULL) != 0 || avro_value_set_int(&f, partition) != 0 ||
        avro_value_get_by_index(&src, 2, &f, NULL) != 0 || avro_value_set_long(&f, offset) != 0 ||
        avro_value_get_by_index(&src, 3, &f, NULL) != 0 || avro_value_set_int(&f, index) != 0) {
        return -1;
    }
    return 0;
}

int bc_event_add_flag(avro_value_t *ev, const char *flag)
{
    avro_value_t flags, item;
    if (bc_event_field(ev, BC_EV_FLAGS, &flags) != 0 ||
        avro_value_append(&flags, &item, NULL) != 0) {
        return -1;
    }
    return set_str(&item, flag, strlen(flag));
}

int bc_event_set_scope(avro_value_t *ev, const char *name, const char *version,
                       avro_value_t *attributes)
{
    avro_value_t scope, attrs;
    if (target(ev, BC_EV_SCOPE, &scope) != 0 || set_field_string(&scope, 0, name) != 0 ||
        set_field_string(&scope, 1, version) != 0 ||
        avro_value_get_by_index(&scope, 2, &attrs, NULL) != 0) {
        return -1;
    }
    avro_value_reset(&attrs);
    if (attributes != NULL) {
        *attributes = attrs;
    }
    return 0;
}

int bc_event_set_deploy(avro_value_t *ev, const char *deploy_id, const char *version,
                        const char *commit, int64_t deployed_at_ns)
{
    avro_value_t deploy, f;
    if (target(ev, BC_EV_DEPLOY, &deploy) != 0 || set_field_string(&deploy, 0, deploy_id) != 0 ||
        set_field_string(&deploy, 1, version) != 0 || set_field_string(&deploy, 2, commit) != 0 ||
        avro_value_get_by_index(&deploy, 3, &f, NULL) != 0 ||
        avro_value_set_long(&f, deployed_at_ns) != 0) {
        return -1;
    }
    return 0;
}

int bc_event_set_sampling(avro_value_t *ev, const char *policy, double probability)
{
    avro_value_t sampling, f;
    if (target(ev, BC_EV_SAMPLING, &sampling) != 0 || set_field_string(&sampling, 0, policy) != 0 ||
        avro_value_get_by_index(&sampling, 1, &f, NULL) != 0 ||
        avro_value_set_double(&f, probability) != 0) {
        return -1;
    }
    return 0;
}

/* Appends a record to the array field and returns it. */
static int append(avro_value_t *ev, enum bc_event_field field, avro_value_t *item)
{
    avro_value_t array;
    if (bc_event_field(ev, field, &array) != 0 || avro_value_append(&array, item, NULL) != 0) {
        return -1;
    }
    return 0;
}

static int item_attributes(avro_value_t *item, avro_value_t *attributes)
{
    avro_value_t attrs;
    if (avro_value_get_by_index(item, 2, &attrs, NULL) != 0) {
        return -1;
    }
    avro_value_reset(&attrs);
    if (attributes != NULL) {
        *attributes = attrs;
    }
    return 0;
}

int bc_event_add_span_event(avro_value_t *ev, int64_t time_ns, const char *name,
                            avro_value_t *attributes)
{
    avro_value_t item, f;
    if (append(ev, BC_EV_SPAN_EVENTS, &item) != 0 ||
        avro_value_get_by_index(&item, 0, &f, NULL) != 0 || avro_value_set_long(&f, time_ns) != 0 ||
        set_field_string(&item, 1, name) != 0) {
        return -1;
    }
    return item_attributes(&item, attributes);
}

int bc_event_add_link(avro_value_t *ev, const char *trace_id, const char *span_id,
                      avro_value_t *attributes)
{
    avro_value_t item;
    if (append(ev, BC_EV_LINKS, &item) != 0 || set_field_string(&item, 0, trace_id) != 0 ||
        set_field_string(&item, 1, span_id) != 0) {
        return -1;
    }
    return item_attributes(&item, attributes);
}

int bc_event_set_body(avro_value_t *ev, avro_value_t *any)
{
    return target(ev, BC_EV_BODY, any);
}

int bc_event_kv_append(avro_value_t *kvs, const char *key, size_t key_len, avro_value_t *any)
{
    avro_value_t kv, k;
    if (avro_value_append(kvs, &kv, NULL) != 0 || avro_value_get_by_index(&kv, 0, &k, NULL) != 0 ||
        set_str(&k, key, key_len) != 0) {
        return -1;
    }
    return avro_value_get_by_index(&kv, 1, any, NULL) == 0 ? 0 : -1;
}

int bc_event_kv_find(avro_value_t *kvs, const char *key, avro_value_t *any)
{
    size_t n = 0;
    avro_value_get_size(kvs, &n);
    for (size_t i = 0; i < n; i++) {
        avro_value_t kv, k;
        const char *s;
        size_t size;
        if (avro_value_get_by_index(kvs, i, &kv, NULL) != 0 ||
            avro_value_get_by_index(&kv, 0, &k, NULL) != 0 ||
            avro_value_get_string(&k, &s, &size) != 0) {
            return -1;
        }
        if (size > 0 && strcmp(s, key) == 0) {
            return avro_value_get_by_index(&kv, 1, any, NULL) == 0 ? 0 : -1;
        }
    }
    return -1;
}

/* Selects branch b of an AnyValue and returns the branch value. */
static int any_branch(avro_value_t *any, enum bc_any_type b, avro_value_t *out)
{
    avro_value_t u;
    if (avro_value_get_by_index(any, 0, &u, NULL) != 0) {
        return -1;
    }
    return avro_value_set_branch(&u, (int)b, out) == 0 ? 0 : -1;
}

int bc_any_set_null(avro_value_t *any)
{
    avro_value_t v;
    return any_branch(any, BC_ANY_NULL, &v) == 0 && avro_value_set_null(&v) == 0 ? 0 : -1;
}

int bc_any_set_string(avro_value_t *any, const char *s, size_t len)
{
    avro_value_t v;
    return any_branch(any, BC_ANY_STRING, &v) == 0 ? set_str(&v, s, len) : -1;
}

int bc_any_set_bool(avro_value_t *any, int x)
{
    avro_value_t v;
    return any_branch(any, BC_ANY_BOOL, &v) == 0 && avro_value_set_boolean(&v, x != 0) == 0 ? 0
                                                                                            : -1;
}

int bc_any_set_long(avro_value_t *any, int64_t x)
{
    avro_value_t v;
    return any_branch(any, BC_ANY_LONG, &v) == 0 && avro_value_set_long(&v, x) == 0 ? 0 : -1;
}

int bc_any_set_double(avro_value_t *any, double x)
{
    avro_value_t v;
    return any_branch(any, BC_ANY_DOUBLE, &v) == 0 && avro_value_set_double(&v, x) == 0 ? 0 : -1;
}

int bc_any_set_bytes(avro_value_t *any, const void *data, size_t len)
{
    avro_value_t v;
    return any_branch(any, BC_ANY_BYTES, &v) == 0 &&
                   avro_value_set_bytes(&v, (void *)data, len) == 0
               ? 0
               : -1;
}

static int any_list(avro_value_t *any, enum bc_any_type b, avro_value_t *values)
{
    avro_value_t rec;
    if (any_branch(any, b, &rec) != 0 || avro_value_get_by_index(&rec, 0, values, NULL) != 0) {
        return -1;
    }
    avro_value_reset(values);
    return 0;
}

int bc_any_set_array(avro_value_t *any, avro_value_t *values)
{
    return any_list(any, BC_ANY_ARRAY, values);
}

int bc_any_set_kvlist(avro_value_t *any, avro_value_t *values)
{
    return any_list(any, BC_ANY_KVLIST, values);
}

/* The field's value when set: the field itself or its non-null branch. -1 when null. */
static int current(avro_value_t *ev, enum bc_event_field field, avro_value_t *out)
{
    avro_value_t f;
    if ((unsigned)field >= BC_EV_FIELD_COUNT || bc_event_field(ev, field, &f) != 0) {
        return -1;
    }
    if (!layout[field].nullable) {
        *out = f;
        return 0;
    }
    int d = -1;
    if (avro_value_get_discriminant(&f, &d) != 0 || d != 1) {
        return -1;
    }
    return avro_value_get_current_branch(&f, out) == 0 ? 0 : -1;
}

const char *bc_event_get_string(avro_value_t *ev, enum bc_event_field field, size_t *len)
{
    avro_value_t v;
    const char *s = NULL;
    size_t size = 0;
    if (current(ev, field, &v) != 0 || avro_value_get_string(&v, &s, &size) != 0 || size == 0) {
        return NULL;
    }
    if (len != NULL) {
        *len = size - 1;
    }
    return s;
}

int bc_event_get_long(avro_value_t *ev, enum bc_event_field field, int64_t *out)
{
    avro_value_t v;
    return current(ev, field, &v) == 0 && avro_value_get_long(&v, out) == 0 ? 0 : -1;
}

int bc_event_get_int(avro_value_t *ev, enum bc_event_field field, int32_t *out)
{
    avro_value_t v;
    return current(ev, field, &v) == 0 && avro_value_get_int(&v, out) == 0 ? 0 : -1;
}

int bc_event_get_enum(avro_value_t *ev, enum bc_event_field field, int *out)
{
    avro_value_t v;
    return current(ev, field, &v) == 0 && avro_value_get_enum(&v, out) == 0 ? 0 : -1;
}

int bc_any_get(avro_value_t *any, avro_value_t *inner)
{
    avro_value_t u, branch;
    int d = -1;
    if (avro_value_get_by_index(any, 0, &u, NULL) != 0 ||
        avro_value_get_discriminant(&u, &d) != 0 || d < 0 ||
        avro_value_get_current_branch(&u, &branch) != 0) {
        return -1;
    }
    if (d == BC_ANY_ARRAY || d == BC_ANY_KVLIST) {
        return avro_value_get_by_index(&branch, 0, inner, NULL) == 0 ? d : -1;
    }
    *inner = branch;
    return d;
}
