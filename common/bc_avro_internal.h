/*
 * Internals of the Avro codec shared by bc_avro.c (registry, schema compiler, resolution
 * plans, compatibility), bc_avro_codec.c (binary encode/decode) and bc_avro_json.c (JSON).
 * Not for use outside these files.
 *
 * A schema is compiled once into a tree of nodes (bc_avro_node) that mirrors avro-c's schema
 * with links resolved (recursive types make it a graph), each record field carrying its
 * default as Avro binary. A resolution plan (bc_avro_res) tells the decoder how to read data
 * of a writer node into a value of a reader node; plans are graphs too, memoized by
 * (writer, reader) pair.
 */
#ifndef BC_AVRO_INTERNAL_H
#define BC_AVRO_INTERNAL_H

#include <stdarg.h>

#include "bc_avro.h"

struct bc_avro_node;

struct bc_avro_field {
    char *name;
    struct bc_avro_node *type;
    char **aliases; /* naliases strings */
    size_t naliases;
    json_t *default_json; /* the field's "default" (new ref) or NULL when it has none */
    uint8_t *default_bin; /* default_json encoded by type: what a reader-only field gets */
    size_t default_len;
};

struct bc_avro_node {
    avro_type_t type;     /* never AVRO_LINK: links are followed when compiling */
    avro_schema_t schema; /* borrowed from the compiled schema */
    char *fullname;       /* records, enums and fixed: namespace.name; else NULL */
    const char *name;     /* the unqualified name inside fullname, or the type's name */
    char **aliases;       /* named types: aliases as written (may be qualified) */
    size_t naliases;
    size_t n; /* record: fields; enum: symbols; union: branches; fixed: size */
    struct bc_avro_field *fields;
    char **symbols;
    int enum_default;               /* enum: index of the "default" symbol, or -1 */
    struct bc_avro_node **branches; /* union branches */
    struct bc_avro_node *items;     /* array items, map values */
    size_t min_size;                /* fewest bytes any value of this type encodes to */
};

/* A compiled schema: owns its nodes. */
struct bc_avro_compiled {
    avro_schema_t schema; /* new ref */
    json_t *json;         /* the parsed .avsc text */
    struct bc_avro_node *root;
    char *canonical;             /* Parsing Canonical Form (Avro spec) */
    uint64_t fingerprint;        /* CRC-64-AVRO of canonical */
    struct bc_avro_node **nodes; /* every node, for freeing */
    size_t nnodes;
    size_t nodes_cap;
};

enum bc_avro_res_op {
    BC_RES_FAIL, /* not resolvable: error (message) when the decoder meets it */
    BC_RES_PRIM, /* primitive read as writer's type, stored as reader's (promotions) */
    BC_RES_FIXED,
    BC_RES_ENUM, /* writer symbol index -> reader symbol index via enum_map */
    BC_RES_ARRAY,
    BC_RES_MAP,
    BC_RES_RECORD,
    BC_RES_WUNION, /* writer is a union: per writer branch, a plan into the reader */
    BC_RES_RUNION, /* writer is not a union, reader is: select reader_branch, then inner */
};

struct bc_avro_res_field {
    int reader_index; /* -1: a writer-only field, skipped */
    struct bc_avro_res *res;
};

struct bc_avro_res_default {
    int reader_index;
    const struct bc_avro_field *field; /* the reader field: default_bin, default_len */
    struct bc_avro_res *res;           /* identity plan of the reader field's type */
};

struct bc_avro_res {
    enum bc_avro_res_op op;
    const struct bc_avro_node *writer;
    const struct bc_avro_node *reader;
    char *message;                        /* BC_RES_FAIL: why */
    struct bc_avro_res_field *fields;     /* record: writer->n entries, in writer order */
    struct bc_avro_res_default *defaults; /* record: reader-only fields */
    size_t ndefaults;
    int *enum_map;                 /* enum: writer->n entries, -1 for unknown */
    struct bc_avro_res **branches; /* writer union: writer->n entries */
    int reader_branch;             /* reader union: the branch selected */
    struct bc_avro_res *inner;     /* reader union: plan into the branch; array and
                                      map: plan of items */
};

/* A plan: every res reachable from root (the graph owns them). */
struct bc_avro_plan {
    struct bc_avro_res *root;
    struct bc_avro_res **all;
    size_t nall;
    size_t cap;
    char *problems; /* newline-separated problems found while building, or NULL */
    size_t problems_len;
};

struct bc_avro_schema {
    struct bc_avro_registry *reg;
    char *subject;
    char *file;
    char *text;
    int version;
    int32_t id;
    struct bc_avro_compiled compiled;
    avro_value_iface_t *iface;
    /* Plans reading each other version of the subject (and this one) as this schema:
     * plans[i] reads data written with writers[i]. */
    const struct bc_avro_schema **writers;
    struct bc_avro_plan **plans;
    size_t nplans;
};

/* Compiles .avsc text. Returns 0, or -1 with a message. On failure *c is cleaned up. */
int bc_avro_compile(const char *text, struct bc_avro_compiled *c, char *errstr, size_t errstr_size);
void bc_avro_compiled_free(struct bc_avro_compiled *c);

/* Builds the plan reading writer data as reader. Never NULL except on allocation failure;
 * problems (if any) are listed in plan->problems and the affected res are BC_RES_FAIL. */
struct bc_avro_plan *bc_avro_plan_build(const struct bc_avro_node *writer,
                                        const struct bc_avro_node *reader);
void bc_avro_plan_free(struct bc_avro_plan *plan);

/* Binary helpers (bc_avro_codec.c). */
int bc_avro_buf_put(struct bc_avro_buf *buf, const void *data, size_t len);
int bc_avro_buf_put_long(struct bc_avro_buf *buf, int64_t v);

/* Decodes body bytes with a plan into value (reset first). */
int bc_avro_decode_plan(const struct bc_avro_plan *plan, const void *data, size_t len,
                        avro_value_t *value, char *errstr, size_t errstr_size);

/* Encodes a JSON value as the node's type into buf (appending). default_mode: unions take
 * their first branch, as Avro field defaults do. Returns 0 or -1 with the path in errstr. */
int bc_avro_json_to_binary(const struct bc_avro_node *node, json_t *json, int default_mode,
                           struct bc_avro_buf *buf, char *errstr, size_t errstr_size);

#endif
