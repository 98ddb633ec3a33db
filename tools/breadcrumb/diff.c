/*
 * Record-by-record comparison of two topics' records, matched by lineage source (diff.h).
 */
#include "tools/breadcrumb/diff.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *dup_or_null(const char *s)
{
    return s == NULL ? NULL : strdup(s);
}

int bc_diff_add(struct bc_diff *d, int side, const char *src, const char *where,
                const void *key, size_t key_len, json_t *value)
{
    if (d->count == d->cap) {
        size_t cap = d->cap == 0 ? 256 : d->cap * 2;
        struct bc_diff_record *recs = realloc(d->recs, cap * sizeof(*recs));
        if (recs == NULL) {
            json_decref(value);
            return -1;
        }
        d->recs = recs;
        d->cap = cap;
    }
    struct bc_diff_record *r = &d->recs[d->count];
    memset(r, 0, sizeof(*r));
    r->where = dup_or_null(where != NULL ? where : "");
    if (src != NULL && src[0] != '\0') {
        r->src = strdup(src);
    } else {
        size_t n = strlen(r->where != NULL ? r->where : "") + 3;
        r->src = malloc(n);
        if (r->src != NULL) {
            snprintf(r->src, n, "?:%s", r->where != NULL ? r->where : "");
        }
    }
    if (key != NULL) {
        r->key = malloc(key_len + 1);
        if (r->key != NULL) {
            memcpy(r->key, key, key_len);
            r->key[key_len] = '\0';
        }
        r->key_len = key_len;
    }
    r->value = value;
    r->side = side;
    r->seq = d->count;
    if (r->where == NULL || r->src == NULL || (key != NULL && r->key == NULL)) {
        free(r->where);
        free(r->src);
        free(r->key);
        json_decref(value);
        return -1;
    }
    d->count++;
    return 0;
}

int bc_diff_unreproducible(const json_t *value)
{
    static const char *const marks[] = {"idle_decided", "decided_early", "evicted",
                                        "first_seen"};
    const json_t *flags = json_is_object(value) ? json_object_get(value, "flags") : NULL;
    /* A Fate says it in its reason: "sampled_out:idle_decided". */
    const json_t *reason = json_is_object(value) ? json_object_get(value, "reason") : NULL;
    const char *colon = json_is_string(reason) ? strchr(json_string_value(reason), ':') : NULL;
    for (size_t m = 0; colon != NULL && m < sizeof(marks) / sizeof(marks[0]); m++) {
        if (strcmp(colon + 1, marks[m]) == 0) {
            return 1;
        }
    }
    size_t i;
    const json_t *f;
    json_array_foreach(flags, i, f)
    {
        for (size_t m = 0; m < sizeof(marks) / sizeof(marks[0]); m++) {
            if (json_is_string(f) && strcmp(json_string_value(f), marks[m]) == 0) {
                return 1;
            }
        }
    }
    return 0;
}

static int ignored(const struct bc_diff *d, const char *field)
{
    for (size_t i = 0; i < d->ignore_count; i++) {
        if (strcmp(d->ignore[i], field) == 0) {
            return 1;
        }
    }
    return 0;
}

static void add_difference(json_t *out, const char *path, const json_t *a, const json_t *b)
{
    if (out == NULL) {
        return;
    }
    char *ta = a != NULL ? json_dumps(a, JSON_COMPACT | JSON_ENCODE_ANY | JSON_SORT_KEYS) : NULL;
    char *tb = b != NULL ? json_dumps(b, JSON_COMPACT | JSON_ENCODE_ANY | JSON_SORT_KEYS) : NULL;
    json_array_append_new(out, json_sprintf("%s: %.200s != %.200s", path[0] ? path : "(value)",
                                            ta != NULL ? ta : "(absent)",
                                            tb != NULL ? tb : "(absent)"));
    free(ta);
    free(tb);
}

static size_t walk(const struct bc_diff *d, const char *path, const json_t *a, const json_t *b,
                   json_t *out)
{
    if (a == NULL || b == NULL || json_typeof(a) != json_typeof(b)) {
        if ((a == NULL && b == NULL) ||
            (a != NULL && b != NULL && json_is_number(a) && json_is_number(b) &&
             json_number_value(a) == json_number_value(b))) {
            return 0;
        }
        add_difference(out, path, a, b);
        return 1;
    }
    size_t n = 0;
    char sub[512];
    if (json_is_object(a)) {
        const char *k;
        const json_t *va;
        json_object_foreach((json_t *)a, k, va)
        {
            if (ignored(d, k)) {
                continue;
            }
            snprintf(sub, sizeof(sub), "%s%s%s", path, path[0] ? "." : "", k);
            n += walk(d, sub, va, json_object_get(b, k), out);
        }
        const json_t *vb;
        json_object_foreach((json_t *)b, k, vb)
        {
            if (!ignored(d, k) && json_object_get(a, k) == NULL) {
                snprintf(sub, sizeof(sub), "%s%s%s", path, path[0] ? "." : "", k);
                n += walk(d, sub, NULL, vb, out);
            }
        }
        return n;
    }
    if (json_is_array(a)) {
        size_t na = json_array_size(a), nb = json_array_size(b);
        for (size_t i = 0; i < na || i < nb; i++) {
            snprintf(sub, sizeof(sub), "%s[%zu]", path, i);
            n += walk(d, sub, json_array_get(a, i), json_array_get(b, i), out);
        }
        return n;
    }
    if (!json_equal((json_t *)a, (json_t *)b)) {
        add_difference(out, path, a, b);
        return 1;
    }
    return 0;
}

size_t bc_diff_values(const struct bc_diff *d, const json_t *a, const json_t *b, json_t *out)
{
    if (a == NULL && b == NULL) {
        return 0;
    }
    return walk(d, "", a != NULL ? a : json_null(), b != NULL ? b : json_null(), out);
}

static int by_src(const void *x, const void *y)
{
    const struct bc_diff_record *a = x, *b = y;
    int c = strcmp(a->src, b->src);
    if (c != 0) {
        return c;
    }
    if (a->side != b->side) {
        return a->side - b->side;
    }
    return a->seq < b->seq ? -1 : a->seq > b->seq;
}

static int same_key(const struct bc_diff_record *a, const struct bc_diff_record *b)
{
    if (a->key == NULL || b->key == NULL) {
        return a->key == b->key;
    }
    return a->key_len == b->key_len && memcmp(a->key, b->key, a->key_len) == 0;
}

struct tally {
    json_int_t identical, missing, extra, differing;
    json_int_t u_missing, u_extra, u_differing;
    json_t *shown;
    size_t max_shown;
};

static void report(struct tally *t, const char *type, const struct bc_diff_record *a,
                   const struct bc_diff_record *b, json_t *fields)
{
    int unrepro = (a != NULL && bc_diff_unreproducible(a->value)) ||
                  (b != NULL && bc_diff_unreproducible(b->value));
    json_int_t *count = type[0] == 'm' ? (unrepro ? &t->u_missing : &t->missing)
                        : type[0] == 'e' ? (unrepro ? &t->u_extra : &t->extra)
                                         : (unrepro ? &t->u_differing : &t->differing);
    (*count)++;
    if (json_array_size(t->shown) < t->max_shown) {
        const struct bc_diff_record *r = a != NULL ? a : b;
        json_t *o = json_pack("{s:s, s:s, s:b}", "type", type, "src", r->src, "unreproducible",
                              unrepro);
        json_object_set_new(o, "a", a != NULL ? json_string(a->where) : json_null());
        json_object_set_new(o, "b", b != NULL ? json_string(b->where) : json_null());
        if (fields != NULL) {
            json_object_set(o, "fields", fields);
        }
        json_array_append_new(t->shown, o);
    }
}

static void compare_group(const struct bc_diff *d, struct bc_diff_record *a, size_t na,
                          struct bc_diff_record *b, size_t nb, struct tally *t)
{
    char *used_a = calloc(na + 1, 1), *used_b = calloc(nb + 1, 1);
    if (used_a == NULL || used_b == NULL) {
        free(used_a);
        free(used_b);
        return;
    }
    for (size_t i = 0; i < na; i++) {
        for (size_t j = 0; j < nb; j++) {
            if (!used_b[j] && same_key(&a[i], &b[j]) &&
                bc_diff_values(d, a[i].value, b[j].value, NULL) == 0) {
                used_a[i] = used_b[j] = 1;
                t->identical++;
                break;
            }
        }
    }
    size_t j = 0;
    for (size_t i = 0; i < na; i++) {
        if (used_a[i]) {
            continue;
        }
        while (j < nb && used_b[j]) {
            j++;
        }
        if (j == nb) {
            report(t, "missing", &a[i], NULL, NULL);
            continue;
        }
        json_t *fields = json_array();
        if (!same_key(&a[i], &b[j])) {
            json_t *ka = a[i].key ? json_stringn(a[i].key, a[i].key_len) : json_null();
            json_t *kb = b[j].key ? json_stringn(b[j].key, b[j].key_len) : json_null();
            add_difference(fields, "(key)", ka, kb);
            json_decref(ka);
            json_decref(kb);
        }
        bc_diff_values(d, a[i].value, b[j].value, fields);
        report(t, "differing", &a[i], &b[j], fields);
        json_decref(fields);
        used_b[j] = 1;
    }
    for (j = 0; j < nb; j++) {
        if (!used_b[j]) {
            report(t, "extra", NULL, &b[j], NULL);
        }
    }
    free(used_a);
    free(used_b);
}

json_t *bc_diff_compare(struct bc_diff *d, int *failed)
{
    if (d->count > 0) {
        qsort(d->recs, d->count, sizeof(d->recs[0]), by_src);
    }
    struct tally t = {.shown = json_array(), .max_shown = d->max_shown ? d->max_shown : 10};
    json_int_t na_total = 0, nb_total = 0;
    size_t i = 0;
    while (i < d->count) {
        size_t end = i;
        while (end < d->count && strcmp(d->recs[end].src, d->recs[i].src) == 0) {
            end++;
        }
        size_t mid = i;
        while (mid < end && d->recs[mid].side == 0) {
            mid++;
        }
        na_total += (json_int_t)(mid - i);
        nb_total += (json_int_t)(end - mid);
        compare_group(d, &d->recs[i], mid - i, &d->recs[mid], end - mid, &t);
        i = end;
    }
    *failed = t.missing + t.extra + t.differing > 0;
    return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:{s:I, s:I, s:I}, s:o}", "a", na_total,
                     "b", nb_total, "identical", t.identical, "missing", t.missing, "extra",
                     t.extra, "differing", t.differing, "unreproducible", "missing",
                     t.u_missing, "extra", t.u_extra, "differing", t.u_differing,
                     "differences", t.shown);
}

void bc_diff_free(struct bc_diff *d)
{
    for (size_t i = 0; i < d->count; i++) {
        free(d->recs[i].src);
        free(d->recs[i].where);
        free(d->recs[i].key);
        json_decref(d->recs[i].value);
    }
    free(d->recs);
    d->recs = NULL;
    d->count = d->cap = 0;
}
