/*
 * The service catalog (config/services.yaml): service -> owner, team, tier, cost_center,
 * on_call and free-form labels. Loaded and validated with the config module (bc_yaml_load +
 * the bc_enricher_catalog table of options.c), so errors say FILE:LINE:COLUMN. Immutable
 * once loaded: a reload builds a new catalog and swaps it in.
 */
#ifndef ENRICHER_CATALOG_H
#define ENRICHER_CATALOG_H

#include <stddef.h>

struct enr_service {
    char *name;         /* new; the key under `services:` */
    char *owner;        /* new; never NULL */
    char *team;         /* new; never NULL */
    char tier[4];       /* "1".."3" */
    char *cost_center;  /* new, or NULL when not given */
    char *on_call;      /* new, or NULL */
    char **label_names; /* new; n_labels of them, in file order */
    char **label_values;
    size_t n_labels;
};

struct enr_catalog {
    struct enr_service *v; /* sorted by name (strcmp) */
    size_t n;
};

/* Loads and validates a catalog file. Returns a new catalog (enr_catalog_destroy), or NULL
 * with every error in errstr ("FILE:LINE:COL: message", the first ones that fit). */
struct enr_catalog *enr_catalog_load(const char *path, char *errstr, size_t errstr_size);
/* The same from YAML text; name is used in positions. */
struct enr_catalog *enr_catalog_load_string(const char *name, const char *text, size_t len,
                                            char *errstr, size_t errstr_size);
void enr_catalog_destroy(struct enr_catalog *cat);

/* The service named (len bytes, need not be NUL-terminated), or NULL. Borrowed. */
const struct enr_service *enr_catalog_find(const struct enr_catalog *cat, const char *name,
                                           size_t len);

#endif
