/* One TrackingEvent through catalog, deploy join, PII rules and cardinality (enrich.h). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bc_event.h"
#include "enrich.h"

int enr_core_init(struct enr_core *core, const struct bc_avro_schema *te)
{
    if (bc_avro_value_new(te, &core->scratch) != 0) {
        return -1;
    }
    core->has_scratch = 1;
    return 0;
}

void enr_core_fini(struct enr_core *core)
{
    if (core->has_scratch) {
        avro_value_decref(&core->scratch);
        core->has_scratch = 0;
    }
    pii_buf_free(&core->text);
    pii_buf_free(&core->out);
}

static void text_set(struct pii_buf *b, const char *s, size_t len)
{
    if (b->cap < len + 1) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < len + 1) {
            cap *= 2;
        }
        char *d = realloc(b->data, cap);
        if (d == NULL) {
            abort();
        }
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data, s, len);
    b->data[len] = '\0';
    b->len = len;
}

/* A scalar AnyValue as text in core->text: strings as they are, numbers in decimal, bools
 * true/false, bytes in hex. Returns 1 when rendered, 0 for null, arrays and kvlists. */
static int render(struct enr_core *core, int type, avro_value_t *inner, const char **s, size_t *len)
{
    char tmp[64];
    switch (type) {
    case BC_ANY_STRING: {
        const char *str;
        size_t size;
        if (avro_value_get_string(inner, &str, &size) != 0) {
            return 0;
        }
        *s = str;
        *len = size > 0 ? size - 1 : 0;
        return 1;
    }
    case BC_ANY_LONG: {
        int64_t v;
        avro_value_get_long(inner, &v);
        /* "%" PRId64 without snprintf: one per numeric attribute of every record */
        uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
        char *p = tmp + sizeof(tmp);
        do {
            *--p = (char)('0' + u % 10);
            u /= 10;
        } while (u != 0);
        if (v < 0) {
            *--p = '-';
        }
        text_set(&core->text, p, (size_t)(tmp + sizeof(tmp) - p));
        break;
    }
    case BC_ANY_DOUBLE: {
        double v;
        avro_value_get_double(inner, &v);
        text_set(&core->text, tmp, (size_t)snprintf(tmp, sizeof(tmp), "%.17g", v));
        break;
    }
    case BC_ANY_BOOL: {
        int v;
        avro_value_get_boolean(inner, &v);
        text_set(&core->text, v ? "true" : "false", v ? 4 : 5);
        break;
    }
    case BC_ANY_BYTES: {
        const void *data;
        size_t size;
        static const char hex[] = "0123456789abcdef";
        avro_value_get_bytes(inner, &data, &size);
        text_set(&core->text, "", 0);
        char *h = malloc(2 * size + 1);
        if (h == NULL) {
            abort();
        }
        for (size_t i = 0; i < size; i++) {
            h[2 * i] = hex[((const unsigned char *)data)[i] >> 4];
            h[2 * i + 1] = hex[((const unsigned char *)data)[i] & 15];
        }
        text_set(&core->text, h, 2 * size);
        free(h);
        break;
    }
    default:
        return 0;
    }
    *s = core->text.data;
    *len = core->text.len;
    return 1;
}

static int redact_kvs(struct enr_core *core, enum pii_scope scope, avro_value_t *kvs, int *changed);

/* Applies the rules to one AnyValue found under key (NULL: a body outside any pair).
 * Returns 1 when the pair holding it must be dropped, 0 otherwise, -1 on an Avro error. */
static int redact_any(struct enr_core *core, enum pii_scope scope, const char *key,
                      avro_value_t *any, int *changed)
{
    avro_value_t inner;
    int type = bc_any_get(any, &inner);
    if (type == BC_ANY_ARRAY) {
        size_t n = 0;
        avro_value_get_size(&inner, &n);
        for (size_t i = 0; i < n; i++) {
            avro_value_t item;
            if (avro_value_get_by_index(&inner, i, &item, NULL) != 0) {
                return -1;
            }
            int rc = redact_any(core, scope, key, &item, changed);
            if (rc != 0) {
                return rc; /* an element to drop drops the whole attribute */
            }
        }
        return 0;
    }
    if (type == BC_ANY_KVLIST) {
        return redact_kvs(core, scope, &inner, changed) < 0 ? -1 : 0;
    }
    const char *s;
    size_t len;
    if (!render(core, type, &inner, &s, &len)) {
        return 0;
    }
    enum pii_result r = pii_apply(core->pii, scope, key, s, len, &core->out);
    if (r == PII_DROPPED) {
        *changed = 1;
        return 1;
    }
    if (r == PII_CHANGED) {
        *changed = 1;
        return bc_any_set_string(any, core->out.data, core->out.len) != 0 ? -1 : 0;
    }
    return 0;
}

/* Rebuilds an array of KeyValue without the items flagged in drop[]. */
static int kvs_remove(struct enr_core *core, avro_value_t *kvs, const unsigned char *drop, size_t n)
{
    avro_value_t tmp;
    if (bc_event_field(&core->scratch, BC_EV_ATTRIBUTES, &tmp) != 0 ||
        avro_value_copy_fast(&tmp, kvs) != 0) {
        return -1;
    }
    avro_value_reset(kvs);
    for (size_t i = 0; i < n; i++) {
        if (drop[i]) {
            continue;
        }
        avro_value_t src, dst;
        if (avro_value_get_by_index(&tmp, i, &src, NULL) != 0 ||
            avro_value_append(kvs, &dst, NULL) != 0 || avro_value_copy_fast(&dst, &src) != 0) {
            return -1;
        }
    }
    avro_value_reset(&tmp);
    return 0;
}

/* Applies the rules to every pair of an array of KeyValue, removing dropped pairs. Returns
 * the number removed, or -1. */
static int redact_kvs(struct enr_core *core, enum pii_scope scope, avro_value_t *kvs, int *changed)
{
    size_t n = 0;
    avro_value_get_size(kvs, &n);
    if (n == 0) {
        return 0;
    }
    unsigned char small[64];
    unsigned char *drop = n <= sizeof(small) ? small : calloc(n, 1);
    if (drop == NULL) {
        return -1;
    }
    memset(drop, 0, n);
    int dropped = 0, rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        avro_value_t kv, k, any;
        const char *key;
        size_t key_size;
        if (avro_value_get_by_index(kvs, i, &kv, NULL) != 0 ||
            avro_value_get_by_index(&kv, 0, &k, NULL) != 0 ||
            avro_value_get_string(&k, &key, &key_size) != 0 ||
            avro_value_get_by_index(&kv, 1, &any, NULL) != 0) {
            rc = -1;
            break;
        }
        int r = redact_any(core, scope, key, &any, changed);
        if (r < 0) {
            rc = -1;
        } else if (r == 1) {
            drop[i] = 1;
            dropped++;
        }
    }
    if (rc == 0 && dropped > 0) {
        rc = kvs_remove(core, kvs, drop, n);
        core->counters.dropped_attrs += (uint64_t)dropped;
    }
    if (drop != small) {
        free(drop);
    }
    return rc < 0 ? -1 : dropped;
}

static int set_opt_string(avro_value_t *ev, enum bc_event_field f, const char *s)
{
    return s != NULL ? bc_event_set_string(ev, f, s, strlen(s)) : bc_event_set_null(ev, f);
}

static int add_labels(avro_value_t *ev, const struct enr_service *svc)
{
    avro_value_t res, any;
    if (svc->n_labels == 0) {
        return 0;
    }
    if (bc_event_field(ev, BC_EV_RESOURCE_ATTRIBUTES, &res) != 0) {
        return -1;
    }
    for (size_t i = 0; i < svc->n_labels; i++) {
        /* "catalog.<name>" without snprintf: per label of every record */
        char key[256];
        size_t name_len = strlen(svc->label_names[i]), n = 8 + name_len;
        if (n >= sizeof(key)) {
            continue;
        }
        memcpy(key, "catalog.", 8);
        memcpy(key + 8, svc->label_names[i], name_len + 1);
        if (bc_event_kv_find(&res, key, &any) == 0) {
            continue;
        }
        if (bc_event_kv_append(&res, key, n, &any) != 0 ||
            bc_any_set_string(&any, svc->label_values[i], strlen(svc->label_values[i])) != 0) {
            return -1;
        }
    }
    return 0;
}

static int limit_cardinality(struct enr_core *core, avro_value_t *ev, int64_t ts_ms,
                             const struct enr_card_store *st, int *overflowed)
{
    avro_value_t attrs;
    size_t n = 0;
    if (bc_event_field(ev, BC_EV_ATTRIBUTES, &attrs) != 0) {
        return -1;
    }
    avro_value_get_size(&attrs, &n);
    for (size_t i = 0; i < n; i++) {
        avro_value_t kv, k, any, inner;
        const char *key, *s;
        size_t key_size, len;
        if (avro_value_get_by_index(&attrs, i, &kv, NULL) != 0 ||
            avro_value_get_by_index(&kv, 0, &k, NULL) != 0 ||
            avro_value_get_string(&k, &key, &key_size) != 0 ||
            avro_value_get_by_index(&kv, 1, &any, NULL) != 0) {
            return -1;
        }
        if (!enr_card_limited(core->card, key)) {
            continue;
        }
        int type = bc_any_get(&any, &inner);
        if (!render(core, type, &inner, &s, &len)) {
            continue; /* null, arrays and kvlists are not counted */
        }
        int rc = enr_card_check(core->card, st, key, s, len, ts_ms);
        if (rc < 0) {
            return -1;
        }
        if (rc == 0) {
            *overflowed = 1;
            if (bc_any_set_string(&any, ENR_OVERFLOW_VALUE, sizeof(ENR_OVERFLOW_VALUE) - 1) != 0) {
                return -1;
            }
        }
    }
    return 0;
}

int enr_enrich(struct enr_core *core, avro_value_t *ev, int64_t ts_ms,
               const struct enr_card_store *st, char *errstr, size_t errstr_size)
{
    size_t service_len = 0;
    const char *service = bc_event_get_string(ev, BC_EV_SERVICE, &service_len);
    int64_t start_ns = 0;
    if (service == NULL || bc_event_get_long(ev, BC_EV_START_TIME_NS, &start_ns) != 0) {
        snprintf(errstr, errstr_size, "record without service or start_time_ns");
        return -1;
    }
    core->counters.records++;

    /* Catalog. */
    if (core->catalog != NULL) {
        const struct enr_service *svc = enr_catalog_find(core->catalog, service, service_len);
        if (svc == NULL) {
            core->counters.unknown_service++;
            if (bc_event_set_null(ev, BC_EV_OWNER) != 0 || bc_event_set_null(ev, BC_EV_TEAM) ||
                bc_event_set_null(ev, BC_EV_TIER) || bc_event_set_null(ev, BC_EV_COST_CENTER) ||
                bc_event_set_null(ev, BC_EV_ON_CALL) ||
                bc_event_add_flag(ev, "unknown_service") != 0) {
                goto avro_fail;
            }
        } else if (set_opt_string(ev, BC_EV_OWNER, svc->owner) != 0 ||
                   set_opt_string(ev, BC_EV_TEAM, svc->team) != 0 ||
                   set_opt_string(ev, BC_EV_TIER, svc->tier) != 0 ||
                   set_opt_string(ev, BC_EV_COST_CENTER, svc->cost_center) != 0 ||
                   set_opt_string(ev, BC_EV_ON_CALL, svc->on_call) != 0 ||
                   add_labels(ev, svc) != 0) {
            goto avro_fail;
        }
    }

    /* Deploy current at the event's own time. The service string is borrowed from ev, so
     * look up before any write into ev could move it. */
    if (core->deploys != NULL) {
        service = bc_event_get_string(ev, BC_EV_SERVICE, &service_len);
        const struct enr_deploy *d = enr_deploys_at(core->deploys, service, service_len, start_ns);
        if (d != NULL) {
            core->counters.deploy_joined++;
            if (bc_event_set_deploy(ev, d->deploy_id, d->version, d->commit, d->deployed_at_ns) !=
                0) {
                goto avro_fail;
            }
        } else {
            core->counters.deploy_missing++;
            if (bc_event_set_null(ev, BC_EV_DEPLOY) != 0) {
                goto avro_fail;
            }
        }
    }

    /* PII. */
    if (core->pii != NULL && core->pii->n > 0) {
        int changed = 0;
        avro_value_t arr, body, events;
        if (bc_event_field(ev, BC_EV_ATTRIBUTES, &arr) != 0 ||
            redact_kvs(core, PII_IN_ATTRIBUTES, &arr, &changed) < 0 ||
            bc_event_field(ev, BC_EV_RESOURCE_ATTRIBUTES, &arr) != 0 ||
            redact_kvs(core, PII_IN_RESOURCE, &arr, &changed) < 0) {
            goto avro_fail;
        }
        size_t n = 0;
        if (bc_event_field(ev, BC_EV_SPAN_EVENTS, &events) != 0) {
            goto avro_fail;
        }
        avro_value_get_size(&events, &n);
        for (size_t i = 0; i < n; i++) {
            avro_value_t se, se_attrs;
            if (avro_value_get_by_index(&events, i, &se, NULL) != 0 ||
                avro_value_get_by_index(&se, 2, &se_attrs, NULL) != 0 ||
                redact_kvs(core, PII_IN_ATTRIBUTES, &se_attrs, &changed) < 0) {
                goto avro_fail;
            }
        }
        avro_value_t body_union;
        int disc = 0;
        if (bc_event_field(ev, BC_EV_BODY, &body_union) != 0 ||
            avro_value_get_discriminant(&body_union, &disc) != 0) {
            goto avro_fail;
        }
        if (disc == 1) {
            if (avro_value_get_current_branch(&body_union, &body) != 0 ||
                redact_any(core, PII_IN_BODY, NULL, &body, &changed) < 0) {
                goto avro_fail;
            }
        }
        if (changed) {
            core->counters.pii_records++;
            if (bc_event_add_flag(ev, "pii_redacted") != 0) {
                goto avro_fail;
            }
        }
    }

    /* Cardinality, after redaction: tokens are counted, never raw values. */
    if (core->card != NULL && st != NULL) {
        int overflowed = 0;
        if (limit_cardinality(core, ev, ts_ms, st, &overflowed) != 0) {
            snprintf(errstr, errstr_size, "cardinality store refused a put (full)");
            return -1;
        }
        if (overflowed) {
            core->counters.overflow_records++;
            if (bc_event_add_flag(ev, "cardinality_overflow") != 0) {
                goto avro_fail;
            }
        }
    }
    return 0;
avro_fail:
    snprintf(errstr, errstr_size, "TrackingEvent value: %s", avro_strerror());
    return -1;
}
