/* Deploy history (deploys.h). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "bc_avro.h"

#include "deploys.h"

/* One service's deploys, sorted by (deployed_at_ns, deploy_id). */
struct service_deploys {
    char *service; /* new */
    struct enr_deploy *v;
    size_t n, cap;
};

/* One decoding value per Avro writer schema seen. */
struct avro_slot {
    const struct bc_avro_schema *schema;
    avro_value_t value;
};

struct enr_deploys {
    struct service_deploys *s; /* sorted by service name */
    size_t n, cap;
    size_t total;
    const struct bc_avro_registry *reg; /* borrowed, or NULL */
    struct avro_slot *slots;
    size_t n_slots;
};

struct enr_deploys *enr_deploys_new(void)
{
    return calloc(1, sizeof(struct enr_deploys));
}

void enr_deploys_set_registry(struct enr_deploys *d, const struct bc_avro_registry *reg)
{
    d->reg = reg;
}

static void deploy_free(struct enr_deploy *d)
{
    free(d->deploy_id);
    free(d->service);
    free(d->version);
    free(d->commit);
}

void enr_deploys_destroy(struct enr_deploys *d)
{
    if (d == NULL) {
        return;
    }
    for (size_t i = 0; i < d->n; i++) {
        for (size_t k = 0; k < d->s[i].n; k++) {
            deploy_free(&d->s[i].v[k]);
        }
        free(d->s[i].v);
        free(d->s[i].service);
    }
    free(d->s);
    for (size_t i = 0; i < d->n_slots; i++) {
        avro_value_decref(&d->slots[i].value);
    }
    free(d->slots);
    free(d);
}

size_t enr_deploys_count(const struct enr_deploys *d)
{
    return d->total;
}

/* Index of service in d->s, or -(insertion point + 1). */
static long service_find(const struct enr_deploys *d, const char *name, size_t len)
{
    size_t lo = 0, hi = d->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const char *m = d->s[mid].service;
        int c = strncmp(m, name, len);
        if (c == 0 && m[len] != '\0') {
            c = 1;
        }
        if (c == 0) {
            return (long)mid;
        }
        if (c < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return -(long)lo - 1;
}

static int deploy_cmp(int64_t at_a, const char *id_a, int64_t at_b, const char *id_b)
{
    if (at_a != at_b) {
        return at_a < at_b ? -1 : 1;
    }
    return strcmp(id_a, id_b);
}

/* Removes deploy_id wherever it is. Returns 1 when found. */
static int remove_id(struct enr_deploys *d, const char *id)
{
    for (size_t i = 0; i < d->n; i++) {
        struct service_deploys *sd = &d->s[i];
        for (size_t k = 0; k < sd->n; k++) {
            if (strcmp(sd->v[k].deploy_id, id) == 0) {
                deploy_free(&sd->v[k]);
                memmove(&sd->v[k], &sd->v[k + 1], (sd->n - k - 1) * sizeof(*sd->v));
                sd->n--;
                d->total--;
                return 1;
            }
        }
    }
    return 0;
}

static const struct enr_deploy *find_id(const struct enr_deploys *d, const char *id)
{
    for (size_t i = 0; i < d->n; i++) {
        for (size_t k = 0; k < d->s[i].n; k++) {
            if (strcmp(d->s[i].v[k].deploy_id, id) == 0) {
                return &d->s[i].v[k];
            }
        }
    }
    return NULL;
}

static void insert(struct enr_deploys *d, struct enr_deploy *dep)
{
    long at = service_find(d, dep->service, strlen(dep->service));
    if (at < 0) {
        size_t pos = (size_t)(-at - 1);
        if (d->n == d->cap) {
            d->cap = d->cap ? 2 * d->cap : 16;
            if ((d->s = realloc(d->s, d->cap * sizeof(*d->s))) == NULL) {
                abort();
            }
        }
        memmove(&d->s[pos + 1], &d->s[pos], (d->n - pos) * sizeof(*d->s));
        memset(&d->s[pos], 0, sizeof(*d->s));
        if ((d->s[pos].service = strdup(dep->service)) == NULL) {
            abort();
        }
        d->n++;
        at = (long)pos;
    }
    struct service_deploys *sd = &d->s[at];
    if (sd->n == sd->cap) {
        sd->cap = sd->cap ? 2 * sd->cap : 8;
        if ((sd->v = realloc(sd->v, sd->cap * sizeof(*sd->v))) == NULL) {
            abort();
        }
    }
    size_t pos = sd->n;
    while (pos > 0 && deploy_cmp(sd->v[pos - 1].deployed_at_ns, sd->v[pos - 1].deploy_id,
                                 dep->deployed_at_ns, dep->deploy_id) > 0) {
        pos--;
    }
    memmove(&sd->v[pos + 1], &sd->v[pos], (sd->n - pos) * sizeof(*sd->v));
    sd->v[pos] = *dep;
    sd->n++;
    d->total++;
}

static int days_from_civil(int y, int m, int d, int64_t *days)
{
    /* Howard Hinnant's algorithm: days since 1970-01-01 of a proleptic Gregorian date. */
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    *days = era * 146097 + doe - 719468;
    return 0;
}

static int digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i])) {
            return -1;
        }
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

int enr_time_parse(const char *s, int64_t *ns)
{
    size_t len = strlen(s);
    if (len > 0 && len <= 19 && strspn(s, "0123456789") == len) {
        *ns = strtoll(s, NULL, 10);
        return 0;
    }
    int y, mo, d, h, mi, sec;
    if (len < 20 || digits(s, 4, &y) || s[4] != '-' || digits(s + 5, 2, &mo) || s[7] != '-' ||
        digits(s + 8, 2, &d) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
        digits(s + 11, 2, &h) || s[13] != ':' || digits(s + 14, 2, &mi) || s[16] != ':' ||
        digits(s + 17, 2, &sec)) {
        return -1;
    }
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h > 23 || mi > 59 || sec > 60) {
        return -1;
    }
    const char *p = s + 19;
    int64_t frac = 0;
    if (*p == '.') {
        int n = 0;
        p++;
        while (isdigit((unsigned char)*p)) {
            if (n < 9) {
                frac = frac * 10 + (*p - '0');
            }
            n++;
            p++;
        }
        if (n == 0) {
            return -1;
        }
        for (; n < 9; n++) {
            frac *= 10;
        }
    }
    int64_t offset = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int oh, om;
        if (digits(p + 1, 2, &oh) || p[3] != ':' || digits(p + 4, 2, &om) || oh > 23 || om > 59) {
            return -1;
        }
        offset = (p[0] == '-' ? -1 : 1) * (oh * 3600 + om * 60);
        p += 6;
    } else {
        return -1;
    }
    if (*p != '\0') {
        return -1;
    }
    int64_t days;
    days_from_civil(y, mo, d, &days);
    *ns = ((days * 86400 + h * 3600 + mi * 60 + sec) - offset) * 1000000000LL + frac;
    return 0;
}

static const char *json_str(json_t *obj, const char *name)
{
    json_t *v = json_object_get(obj, name);
    return json_is_string(v) && json_string_length(v) > 0 ? json_string_value(v) : NULL;
}

/* The fields of one deploy record; strings borrowed from the JSON or Avro value. */
struct fields {
    const char *service, *version, *deploy_id, *commit;
    int64_t at_ns;
    int has_at;
};

/* A string field by name, through a nullable union; NULL when absent, null or empty. */
static const char *avro_str(avro_value_t *rec, const char *name)
{
    avro_value_t v, branch;
    const char *s = NULL;
    size_t size = 0;
    if (avro_value_get_by_name(rec, name, &v, NULL) != 0) {
        return NULL;
    }
    if (avro_value_get_type(&v) == AVRO_UNION) {
        if (avro_value_get_current_branch(&v, &branch) != 0) {
            return NULL;
        }
        v = branch;
    }
    if (avro_value_get_type(&v) != AVRO_STRING || avro_value_get_string(&v, &s, &size) != 0) {
        return NULL;
    }
    return size > 1 ? s : NULL;
}

static int from_avro(struct enr_deploys *d, const void *value, size_t value_len, struct fields *f,
                     char *errstr, size_t errstr_size)
{
    const struct bc_avro_schema *writer = NULL;
    char why[256];
    if (bc_avro_peek(d->reg, value, value_len, &writer, why, sizeof(why)) != 0) {
        snprintf(errstr, errstr_size, "Avro: %s", why);
        return -1;
    }
    struct avro_slot *slot = NULL;
    for (size_t i = 0; i < d->n_slots; i++) {
        if (d->slots[i].schema == writer) {
            slot = &d->slots[i];
        }
    }
    if (slot == NULL) {
        struct avro_slot *slots = realloc(d->slots, (d->n_slots + 1) * sizeof(*slots));
        if (slots == NULL) {
            abort();
        }
        d->slots = slots;
        slot = &slots[d->n_slots];
        if (bc_avro_value_new(writer, &slot->value) != 0) {
            snprintf(errstr, errstr_size, "Avro: cannot create a value");
            return -1;
        }
        slot->schema = writer;
        d->n_slots++;
    }
    if (bc_avro_decode(d->reg, NULL, value, value_len, &slot->value, why, sizeof(why)) != 0) {
        snprintf(errstr, errstr_size, "Avro: %s", why);
        return -1;
    }
    avro_value_t *rec = &slot->value;
    f->service = avro_str(rec, "service");
    f->version = avro_str(rec, "version");
    f->deploy_id = avro_str(rec, "deploy_id");
    f->commit = avro_str(rec, "commit");
    avro_value_t at;
    if (avro_value_get_by_name(rec, "deployed_at", &at, NULL) == 0) {
        if (avro_value_get_type(&at) == AVRO_INT64) {
            f->has_at = avro_value_get_long(&at, &f->at_ns) == 0;
        } else {
            const char *s = avro_str(rec, "deployed_at");
            f->has_at = s != NULL && enr_time_parse(s, &f->at_ns) == 0;
        }
    }
    return 0;
}

int enr_deploys_apply(struct enr_deploys *d, const void *key, size_t key_len, const void *value,
                      size_t value_len, char *errstr, size_t errstr_size)
{
    char id[256];
    if (key != NULL) {
        if (key_len == 0 || key_len >= sizeof(id) || memchr(key, '\0', key_len) != NULL) {
            snprintf(errstr, errstr_size, "bad key (empty, too long or not text)");
            return -1;
        }
        memcpy(id, key, key_len);
        id[key_len] = '\0';
    }
    if (value == NULL) {
        if (key == NULL) {
            snprintf(errstr, errstr_size, "tombstone without a key");
            return -1;
        }
        return remove_id(d, id);
    }
    struct fields f;
    memset(&f, 0, sizeof(f));
    json_t *obj = NULL;
    int rc = -1;
    if (value_len > 0 && ((const unsigned char *)value)[0] == 0x00 && d->reg != NULL) {
        if (from_avro(d, value, value_len, &f, errstr, errstr_size) != 0) {
            goto done;
        }
    } else {
        json_error_t jerr;
        obj = json_loadb(value, value_len, JSON_REJECT_DUPLICATES, &jerr);
        if (!json_is_object(obj)) {
            snprintf(errstr, errstr_size, "not a JSON object: %s", obj ? "other JSON" : jerr.text);
            goto done;
        }
        f.service = json_str(obj, "service");
        f.version = json_str(obj, "version");
        f.deploy_id = json_str(obj, "deploy_id");
        f.commit = json_str(obj, "commit");
        json_t *at = json_object_get(obj, "deployed_at");
        if (json_is_integer(at)) {
            f.at_ns = json_integer_value(at);
            f.has_at = 1;
        } else if (json_is_string(at) && enr_time_parse(json_string_value(at), &f.at_ns) == 0) {
            f.has_at = 1;
        }
    }
    if (f.service == NULL || f.version == NULL || f.deploy_id == NULL || f.commit == NULL) {
        snprintf(errstr, errstr_size, "missing field (service, version, deploy_id, commit)");
        goto done;
    }
    if (key != NULL && strcmp(f.deploy_id, id) != 0) {
        snprintf(errstr, errstr_size, "key and deploy_id differ");
        goto done;
    }
    if (!f.has_at) {
        snprintf(errstr, errstr_size, "deployed_at is not an RFC 3339 time or unix ns");
        goto done;
    }
    const struct enr_deploy *old = find_id(d, f.deploy_id);
    if (old != NULL && old->deployed_at_ns == f.at_ns && strcmp(old->service, f.service) == 0 &&
        strcmp(old->version, f.version) == 0 && strcmp(old->commit, f.commit) == 0) {
        rc = 0;
        goto done;
    }
    struct enr_deploy dep = {
        .deploy_id = strdup(f.deploy_id),
        .service = strdup(f.service),
        .version = strdup(f.version),
        .commit = strdup(f.commit),
        .deployed_at_ns = f.at_ns,
    };
    if (!dep.deploy_id || !dep.service || !dep.version || !dep.commit) {
        abort();
    }
    remove_id(d, dep.deploy_id);
    insert(d, &dep);
    rc = 1;
done:
    json_decref(obj);
    return rc;
}

const struct enr_deploy *enr_deploys_at(const struct enr_deploys *d, const char *service,
                                        size_t len, int64_t t_ns)
{
    if (memchr(service, '\0', len) != NULL) {
        return NULL;
    }
    long at = service_find(d, service, len);
    if (at < 0) {
        return NULL;
    }
    const struct service_deploys *sd = &d->s[at];
    /* The last deploy with deployed_at_ns <= t_ns (ties sorted by deploy_id: the greatest). */
    size_t lo = 0, hi = sd->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (sd->v[mid].deployed_at_ns <= t_ns) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo == 0 ? NULL : &sd->v[lo - 1];
}
