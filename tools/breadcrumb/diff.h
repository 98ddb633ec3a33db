/*
 * The comparison behind `breadcrumb diff`: two sets of output records, matched by their
 * lineage source (the bc.src header "topic:partition:offset[:index]") because two instances
 * of a worker write the same records in different orders and to other offsets.
 *
 * Records with the same source are paired equal-to-equal first, then in reading order; a
 * pair whose keys or values differ is "differing" (the differing JSON paths are kept), a
 * record only in A is "missing" (from B), one only in B is "extra". Values are compared as
 * JSON (the CLI decodes Avro to JSON; other values are parsed as JSON when they are JSON and
 * compared as strings otherwise), field by field, ignoring the configured fields anywhere in
 * the tree. A record whose `flags` hold a decision that depends on the wall clock or memory
 * pressure (idle_decided, decided_early, evicted) is not reproducible: its mismatches are
 * counted apart and do not fail the comparison.
 */
#ifndef BC_DIFF_H
#define BC_DIFF_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct bc_diff_record {
    char *src;       /* lineage source (owned); records without one match on "?:<where>" */
    char *where;     /* "topic:partition:offset" where it was read (owned) */
    char *key;       /* owned, may be NULL */
    size_t key_len;
    json_t *value;   /* owned reference; NULL for a null value */
    int side;        /* 0: A, 1: B */
    size_t seq;      /* reading order */
};

struct bc_diff {
    struct bc_diff_record *recs;
    size_t count, cap;
    const char *const *ignore; /* field names ignored at any depth (borrowed) */
    size_t ignore_count;
    size_t max_shown;          /* differences kept in the report (0: 10) */
};

/* Adds a record (takes ownership of value; copies the strings). Returns 0 or -1. */
int bc_diff_add(struct bc_diff *d, int side, const char *src, const char *where,
                const void *key, size_t key_len, json_t *value);

/* Whether a decoded value is marked as not reproducible (see above). */
int bc_diff_unreproducible(const json_t *value);

/* Compares the records added so far. Returns the report (new reference):
 * {"a": N, "b": N, "identical": N, "missing": N, "extra": N, "differing": N,
 *  "unreproducible": {"missing": N, "extra": N, "differing": N},
 *  "differences": [{"type": "missing"|"extra"|"differing", "src": ..., "a": where,
 *                   "b": where, "fields": ["path: A != B", ...], "unreproducible": bool}]}
 * *failed is set to 1 when a reproducible record is missing, extra or differs. */
json_t *bc_diff_compare(struct bc_diff *d, int *failed);

/* The differing paths of two JSON values (appended to out as "path: a != b" strings),
 * ignoring the d's ignored fields; returns how many were found. */
size_t bc_diff_values(const struct bc_diff *d, const json_t *a, const json_t *b,
                      json_t *out);

void bc_diff_free(struct bc_diff *d);

#endif
