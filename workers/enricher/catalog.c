/* The service catalog (catalog.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bc_config.h"
#include "catalog.h"

extern const struct bc_option bc_enricher_catalog[];

static void errors_to_str(struct bc_errors *errs, char *errstr, size_t errstr_size)
{
    size_t off = 0;
    errstr[0] = '\0';
    bc_errors_sort(errs);
    for (size_t i = 0; i < errs->n && off + 1 < errstr_size; i++) {
        const struct bc_error *e = &errs->v[i];
        int n = snprintf(errstr + off, errstr_size - off, "%s%s:%d:%d: %s", i ? "; " : "",
                         e->file ? e->file : "?", e->line, e->column, e->message);
        if (n < 0) {
            break;
        }
        off += (size_t)n;
    }
}

static char *dup_or_null(const char *s)
{
    if (s == NULL) {
        return NULL;
    }
    char *d = strdup(s);
    if (d == NULL) {
        abort();
    }
    return d;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const struct enr_service *)a)->name, ((const struct enr_service *)b)->name);
}

static struct enr_catalog *from_doc(struct bc_yaml *doc, struct bc_errors *errs)
{
    struct bc_check ck = {.config = NULL, .worker = NULL, .path = "", .errs = errs};
    struct bc_values *vals = bc_options_validate(&ck, doc->root, "", bc_enricher_catalog, NULL);
    struct enr_catalog *cat = NULL;
    if (vals == NULL || errs->n > 0) {
        goto done;
    }
    const struct bc_value *services = bc_values_find(vals, "services");
    cat = calloc(1, sizeof(*cat));
    if (cat == NULL || (cat->v = calloc(services->n ? services->n : 1, sizeof(*cat->v))) == NULL) {
        abort();
    }
    for (size_t i = 0; i < services->n; i++) {
        const struct bc_values *e = services->entries[i];
        struct enr_service *s = &cat->v[cat->n++];
        s->name = dup_or_null(services->names[i]);
        s->owner = dup_or_null(bc_values_str(e, "owner"));
        s->team = dup_or_null(bc_values_str(e, "team"));
        snprintf(s->tier, sizeof(s->tier), "%d", (int)bc_values_int(e, "tier"));
        s->cost_center = dup_or_null(bc_values_str(e, "cost_center"));
        s->on_call = dup_or_null(bc_values_str(e, "on_call"));
        const struct bc_value *labels = bc_values_find(e, "labels");
        if (labels != NULL && labels->n > 0) {
            s->label_names = calloc(labels->n, sizeof(char *));
            s->label_values = calloc(labels->n, sizeof(char *));
            if (s->label_names == NULL || s->label_values == NULL) {
                abort();
            }
            for (size_t k = 0; k < labels->n; k++) {
                s->label_names[k] = dup_or_null(labels->names[k]);
                s->label_values[k] = dup_or_null(labels->kv_values[k]);
            }
            s->n_labels = labels->n;
        }
    }
    qsort(cat->v, cat->n, sizeof(*cat->v), by_name);
done:
    bc_values_destroy(vals);
    return cat;
}

struct enr_catalog *enr_catalog_load_string(const char *name, const char *text, size_t len,
                                            char *errstr, size_t errstr_size)
{
    struct bc_errors errs = {0};
    struct enr_catalog *cat = NULL;
    struct bc_yaml *doc = bc_yaml_load_string(name, text, len, &errs);
    if (doc != NULL) {
        cat = from_doc(doc, &errs);
    }
    if (cat == NULL) {
        errors_to_str(&errs, errstr, errstr_size);
    }
    bc_errors_clear(&errs);
    bc_yaml_destroy(doc);
    return cat;
}

struct enr_catalog *enr_catalog_load(const char *path, char *errstr, size_t errstr_size)
{
    struct bc_errors errs = {0};
    struct enr_catalog *cat = NULL;
    struct bc_yaml *doc = bc_yaml_load(path, &errs);
    if (doc != NULL) {
        cat = from_doc(doc, &errs);
    }
    if (cat == NULL) {
        errors_to_str(&errs, errstr, errstr_size);
        if (errstr[0] == '\0') {
            snprintf(errstr, errstr_size, "%s: cannot load the catalog", path);
        }
    }
    bc_errors_clear(&errs);
    bc_yaml_destroy(doc);
    return cat;
}

void enr_catalog_destroy(struct enr_catalog *cat)
{
    if (cat == NULL) {
        return;
    }
    for (size_t i = 0; i < cat->n; i++) {
        struct enr_service *s = &cat->v[i];
        free(s->name);
        free(s->owner);
        free(s->team);
        free(s->cost_center);
        free(s->on_call);
        for (size_t k = 0; k < s->n_labels; k++) {
            free(s->label_names[k]);
            free(s->label_values[k]);
        }
        free(s->label_names);
        free(s->label_values);
    }
    free(cat->v);
    free(cat);
}

const struct enr_service *enr_catalog_find(const struct enr_catalog *cat, const char *name,
                                           size_t len)
{
    size_t lo = 0, hi = cat->n;
    if (memchr(name, '\0', len) != NULL) {
        return NULL; /* no YAML key holds a NUL */
    }
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const char *m = cat->v[mid].name;
        int c = strncmp(m, name, len);
        if (c == 0 && m[len] != '\0') {
            c = 1; /* m is longer: it sorts after name */
        }
        if (c == 0) {
            return &cat->v[mid];
        }
        if (c < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return NULL;
}
