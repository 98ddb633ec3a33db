/*
 * The metrics registry (bc_metrics.h): fixed arrays of families and series published with
 * release/acquire counts, atomic values, a writer-only hash for lookups, and the Prometheus
 * text exposition rendered with open_memstream.
 */
#include "bc_metrics.h"

#include <inttypes.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#define HASH_SLOTS 4096 /* power of two, > 2 * BC_METRICS_MAX_SERIES */

static const double bucket_bounds[BC_METRICS_BUCKET_COUNT] = {BC_METRICS_BUCKETS};

struct family {
    char *name; /* new */
    char *help; /* new */
    enum bc_metric_type type;
};

struct bc_metric {
    const struct family *family; /* borrowed from the registry */
    size_t family_index;
    char *raw_labels; /* new: the labels as given, for lookups */
    char *labels;     /* new: rendered, worker="..",instance=".."[,k=".."] */
    /* Counter: the count (integer). Gauge: the bits of a double. Histogram: observations. */
    _Atomic uint64_t value;
    _Atomic uint64_t sum_bits;                          /* histogram: bits of the sum */
    _Atomic uint64_t buckets[BC_METRICS_BUCKET_COUNT]; /* histogram: per bucket, not cumulative */
    _Atomic int hidden;                                 /* not rendered while set */
};

struct bc_metrics {
    char *base_labels; /* new: worker="..",instance=".." */
    struct family families[BC_METRICS_MAX_FAMILIES];
    _Atomic size_t family_count;
    struct bc_metric *series[BC_METRICS_MAX_SERIES];
    _Atomic size_t series_count;
    int32_t slots[HASH_SLOTS]; /* writer only: series index + 1, 0 = empty */
    _Atomic int ready;
    _Atomic int64_t beat_ms;
};

static uint64_t dbits(double v)
{
    uint64_t b;
    memcpy(&b, &v, sizeof(b));
    return b;
}

static double bitsd(uint64_t b)
{
    double v;
    memcpy(&v, &b, sizeof(v));
    return v;
}

static int valid_name(const char *s, size_t len)
{
    if (len == 0) {
        return 0;
    }
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                 (i > 0 && c >= '0' && c <= '9');
        if (!ok) {
            return 0;
        }
    }
    return 1;
}

/* Writes a label value escaped as the text format requires (\\, \", \n). */
static void put_escaped(FILE *f, const char *s, size_t len, int quotes)
{
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '\\') {
            fputs("\\\\", f);
        } else if (s[i] == '\n') {
            fputs("\\n", f);
        } else if (quotes && s[i] == '"') {
            fputs("\\\"", f);
        } else {
            fputc(s[i], f);
        }
    }
}

/* Renders `name="value"` pairs; raw is "k=v,k=v". Returns new string or NULL. */
static char *render_labels(const char *base, const char *raw)
{
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    if (f == NULL) {
        return NULL;
    }
    int ok = 1;
    if (base != NULL) {
        fputs(base, f);
    }
    const char *p = raw;
    while (p != NULL && *p != '\0') {
        const char *end = strchr(p, ',');
        size_t n = end != NULL ? (size_t)(end - p) : strlen(p);
        const char *eq = memchr(p, '=', n);
        if (eq == NULL || !valid_name(p, (size_t)(eq - p))) {
            ok = 0;
            break;
        }
        if (base != NULL || p != raw) {
            fputc(',', f);
        }
        fprintf(f, "%.*s=\"", (int)(eq - p), p);
        put_escaped(f, eq + 1, n - (size_t)(eq - p) - 1, 1);
        fputc('"', f);
        p = end != NULL ? end + 1 : NULL;
    }
    if (fclose(f) != 0 || !ok) {
        free(out);
        return NULL;
    }
    return out;
}

struct bc_metrics *bc_metrics_new(const char *worker, const char *instance)
{
    struct bc_metrics *m = calloc(1, sizeof(*m));
    if (m == NULL) {
        return NULL;
    }
    char *base = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&base, &len);
    if (f == NULL) {
        free(m);
        return NULL;
    }
    fputs("worker=\"", f);
    put_escaped(f, worker, strlen(worker), 1);
    fputs("\",instance=\"", f);
    put_escaped(f, instance, strlen(instance), 1);
    fputc('"', f);
    if (fclose(f) != 0) {
        free(base);
        free(m);
        return NULL;
    }
    m->base_labels = base;
    return m;
}

void bc_metrics_destroy(struct bc_metrics *m)
{
    if (m == NULL) {
        return;
    }
    size_t n = atomic_load(&m->series_count);
    for (size_t i = 0; i < n; i++) {
        free(m->series[i]->raw_labels);
        free(m->series[i]->labels);
        free(m->series[i]);
    }
    size_t fn = atomic_load(&m->family_count);
    for (size_t i = 0; i < fn; i++) {
        free(m->families[i].name);
        free(m->families[i].help);
    }
    free(m->base_labels);
    free(m);
}

static uint64_t series_hash(const char *name, const char *labels)
{
    XXH64_hash_t h = XXH3_64bits(name, strlen(name));
    return XXH3_64bits_withSeed(labels, strlen(labels), h);
}

static long family_find(struct bc_metrics *m, const char *name)
{
    size_t n = atomic_load_explicit(&m->family_count, memory_order_relaxed);
    for (size_t i = 0; i < n; i++) {
        if (strcmp(m->families[i].name, name) == 0) {
            return (long)i;
        }
    }
    return -1;
}

struct bc_metric *bc_metrics_get(struct bc_metrics *m, enum bc_metric_type type,
                                 const char *name, const char *help, const char *labels)
{
    if (m == NULL || name == NULL) {
        return NULL;
    }
    if (labels == NULL) {
        labels = "";
    }
    uint64_t h = series_hash(name, labels);
    size_t slot = (size_t)h & (HASH_SLOTS - 1);
    for (; m->slots[slot] != 0; slot = (slot + 1) & (HASH_SLOTS - 1)) {
        struct bc_metric *s = m->series[m->slots[slot] - 1];
        if (strcmp(s->family->name, name) == 0 && strcmp(s->raw_labels, labels) == 0) {
            return s->family->type == type ? s : NULL;
        }
    }
    size_t series_count = atomic_load_explicit(&m->series_count, memory_order_relaxed);
    if (series_count >= BC_METRICS_MAX_SERIES || !valid_name(name, strlen(name))) {
        return NULL;
    }
    long fi = family_find(m, name);
    if (fi >= 0 && m->families[fi].type != type) {
        return NULL;
    }
    struct bc_metric *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        return NULL;
    }
    s->raw_labels = strdup(labels);
    s->labels = render_labels(m->base_labels, labels);
    if (s->raw_labels == NULL || s->labels == NULL) {
        goto fail;
    }
    if (fi < 0) {
        size_t fc = atomic_load_explicit(&m->family_count, memory_order_relaxed);
        if (fc >= BC_METRICS_MAX_FAMILIES) {
            goto fail;
        }
        struct family *f = &m->families[fc];
        f->name = strdup(name);
        f->help = strdup(help != NULL ? help : "");
        f->type = type;
        if (f->name == NULL || f->help == NULL) {
            free(f->name);
            free(f->help);
            f->name = f->help = NULL;
            goto fail;
        }
        fi = (long)fc;
        atomic_store_explicit(&m->family_count, fc + 1, memory_order_release);
    }
    s->family = &m->families[fi];
    s->family_index = (size_t)fi;
    m->series[series_count] = s;
    atomic_store_explicit(&m->series_count, series_count + 1, memory_order_release);
    m->slots[slot] = (int32_t)series_count + 1;
    return s;
fail:
    free(s->raw_labels);
    free(s->labels);
    free(s);
    return NULL;
}

void bc_metric_add(struct bc_metric *s, uint64_t n)
{
    if (s == NULL) {
        return;
    }
    if (s->family->type == BC_METRIC_GAUGE) {
        /* Single writer: load-add-store is enough. */
        double v = bitsd(atomic_load_explicit(&s->value, memory_order_relaxed));
        atomic_store_explicit(&s->value, dbits(v + (double)n), memory_order_relaxed);
        return;
    }
    atomic_fetch_add_explicit(&s->value, n, memory_order_relaxed);
}

void bc_metric_set(struct bc_metric *s, double value)
{
    if (s == NULL) {
        return;
    }
    if (s->family->type == BC_METRIC_GAUGE) {
        atomic_store_explicit(&s->value, dbits(value), memory_order_relaxed);
    } else if (s->family->type == BC_METRIC_COUNTER && value >= 0) {
        atomic_store_explicit(&s->value, (uint64_t)value, memory_order_relaxed);
    }
}

void bc_metric_observe(struct bc_metric *s, double value)
{
    if (s == NULL || s->family->type != BC_METRIC_HISTOGRAM || isnan(value)) {
        return;
    }
    for (size_t i = 0; i < BC_METRICS_BUCKET_COUNT; i++) {
        if (value <= bucket_bounds[i]) {
            atomic_fetch_add_explicit(&s->buckets[i], 1, memory_order_relaxed);
            break;
        }
    }
    double sum = bitsd(atomic_load_explicit(&s->sum_bits, memory_order_relaxed));
    atomic_store_explicit(&s->sum_bits, dbits(sum + value), memory_order_relaxed);
    /* The count last: a reader that sees it may see a bucket not yet counted, never the
     * reverse, so +Inf (the count) is always >= every bucket. */
    atomic_fetch_add_explicit(&s->value, 1, memory_order_release);
}

void bc_metric_hide(struct bc_metric *s, int hidden)
{
    if (s != NULL) {
        atomic_store_explicit(&s->hidden, hidden != 0, memory_order_relaxed);
    }
}

/* Prometheus float: integers without exponent, +Inf/-Inf/NaN spelled its way. */
static void put_float(FILE *f, double v)
{
    if (isnan(v)) {
        fputs("NaN", f);
    } else if (isinf(v)) {
        fputs(v > 0 ? "+Inf" : "-Inf", f);
    } else if (v == floor(v) && fabs(v) < 9007199254740992.0) {
        fprintf(f, "%.0f", v);
    } else {
        /* The shortest of %.15g and %.17g that reads back exactly. */
        char buf[32];
        snprintf(buf, sizeof(buf), "%.15g", v);
        if (strtod(buf, NULL) != v) {
            snprintf(buf, sizeof(buf), "%.17g", v);
        }
        fputs(buf, f);
    }
}

static void render_series(FILE *f, const struct bc_metric *s)
{
    const char *name = s->family->name;
    switch (s->family->type) {
    case BC_METRIC_COUNTER:
        fprintf(f, "%s{%s} %" PRIu64 "\n", name, s->labels,
                atomic_load_explicit(&s->value, memory_order_relaxed));
        break;
    case BC_METRIC_GAUGE:
        fprintf(f, "%s{%s} ", name, s->labels);
        put_float(f, bitsd(atomic_load_explicit(&s->value, memory_order_relaxed)));
        fputc('\n', f);
        break;
    case BC_METRIC_HISTOGRAM: {
        uint64_t count = atomic_load_explicit(&s->value, memory_order_acquire);
        uint64_t cumulative = 0;
        for (size_t i = 0; i < BC_METRICS_BUCKET_COUNT; i++) {
            cumulative += atomic_load_explicit(&s->buckets[i], memory_order_relaxed);
            if (cumulative > count) {
                cumulative = count;
            }
            fprintf(f, "%s_bucket{%s,le=\"", name, s->labels);
            put_float(f, bucket_bounds[i]);
            fprintf(f, "\"} %" PRIu64 "\n", cumulative);
        }
        fprintf(f, "%s_bucket{%s,le=\"+Inf\"} %" PRIu64 "\n", name, s->labels, count);
        fprintf(f, "%s_sum{%s} ", name, s->labels);
        put_float(f, bitsd(atomic_load_explicit(&s->sum_bits, memory_order_relaxed)));
        fprintf(f, "\n%s_count{%s} %" PRIu64 "\n", name, s->labels, count);
        break;
    }
    }
}

int bc_metrics_render(struct bc_metrics *m, char **out, size_t *len)
{
    static const char *const type_names[] = {"counter", "gauge", "histogram"};
    *out = NULL;
    *len = 0;
    FILE *f = open_memstream(out, len);
    if (f == NULL) {
        return -1;
    }
    size_t fc = atomic_load_explicit(&m->family_count, memory_order_acquire);
    size_t sc = atomic_load_explicit(&m->series_count, memory_order_acquire);
    for (size_t fi = 0; fi < fc; fi++) {
        const struct family *fam = &m->families[fi];
        int header = 0;
        for (size_t i = 0; i < sc; i++) {
            const struct bc_metric *s = m->series[i];
            if (s->family_index != fi ||
                atomic_load_explicit(&s->hidden, memory_order_relaxed)) {
                continue;
            }
            if (!header) {
                fprintf(f, "# HELP %s ", fam->name);
                put_escaped(f, fam->help, strlen(fam->help), 0);
                fprintf(f, "\n# TYPE %s %s\n", fam->name, type_names[fam->type]);
                header = 1;
            }
            render_series(f, s);
        }
    }
    if (fclose(f) != 0) {
        free(*out);
        *out = NULL;
        *len = 0;
        return -1;
    }
    return 0;
}

void bc_metrics_set_ready(struct bc_metrics *m, int ready)
{
    if (m != NULL) {
        atomic_store(&m->ready, ready != 0);
    }
}

int bc_metrics_ready(const struct bc_metrics *m)
{
    return m != NULL && atomic_load(&((struct bc_metrics *)m)->ready);
}

void bc_metrics_heartbeat(struct bc_metrics *m, int64_t now_ms)
{
    if (m != NULL) {
        atomic_store_explicit(&m->beat_ms, now_ms, memory_order_relaxed);
    }
}

int bc_metrics_alive(const struct bc_metrics *m, int64_t now_ms, int64_t max_age_ms)
{
    if (m == NULL) {
        return 0;
    }
    int64_t beat = atomic_load_explicit(&((struct bc_metrics *)m)->beat_ms, memory_order_relaxed);
    return beat != 0 && now_ms - beat <= max_age_ms;
}
