/*
 * Declarative option tables: the one place that says which keys a part of the topology
 * accepts, their types, defaults, bounds and descriptions. Validation (bc_config.c), each
 * worker's `--help`, `breadcrumb validate --reference` and README's topology reference are
 * all generated from these tables, so they cannot drift apart.
 *
 * Also here: the YAML node tree with source positions (what a `node` option hands to its
 * worker), the error list every validator appends to, and the registry of worker types
 * (one `struct bc_worker_type` per worker, defined in workers/<dir>/options.c).
 *
 *   static const struct bc_option options[] = {
 *       {.name = "window", .type = BC_OPT_DURATION, .def = "10m", .min = 1000,
 *        .max = 7 * BC_DAY_MS, .description = "how long a key is remembered"},
 *       {.name = NULL},
 *   };
 */
#ifndef BC_OPTIONS_H
#define BC_OPTIONS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* ---- positions and errors ---------------------------------------------------------- */

/* A place in a YAML file. file is borrowed (owned by the config or the error list);
 * line and column are 1-based; line 0 means "no position" (e.g. a default value). */
/* Allocation for configuration data, which is small: out of memory aborts the process.
 * bc_xcalloc never returns NULL (a zero count or size allocates one byte); bc_xstrdup
 * returns a new copy of s. */
void *bc_xcalloc(size_t n, size_t size);
char *bc_xstrdup(const char *s);

struct bc_pos {
    const char *file;
    int line;
    int column;
};

struct bc_error {
    char *file; /* new (owned by the list); NULL when the error has no file */
    int line;   /* 1-based; 0 when unknown */
    int column;
    char *message; /* new; no trailing newline, no "error:" prefix */
};

/* Every error of a run, collected so one `breadcrumb validate` shows them all. Zero-init
 * is an empty list. */
struct bc_errors {
    struct bc_error *v;
    size_t n;
    size_t cap;
};

/* Appends an error at pos (NULL or line 0: no position). Never fails (aborts on OOM). */
void bc_errors_add(struct bc_errors *errs, const struct bc_pos *pos, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Sorts by file, line, column (stable: errors at one place keep their order). */
void bc_errors_sort(struct bc_errors *errs);
/* Prints each as "FILE:LINE:COL: error: MESSAGE\n". */
void bc_errors_print(const struct bc_errors *errs, FILE *out);
/* Frees the messages and empties the list (reusable afterwards). */
void bc_errors_clear(struct bc_errors *errs);

/* ---- the YAML node tree ------------------------------------------------------------ */

enum bc_node_kind { BC_NODE_SCALAR, BC_NODE_MAP, BC_NODE_SEQ };

/* One YAML node, after `${VAR}` substitution. Invariants: a SCALAR has scalar != NULL and
 * n == 0; a MAP has n keys (keys[i] is a scalar node) and n values; a SEQ has n items (in
 * values). Keys of a map are unique (duplicates are reported at load time and dropped). */
struct bc_node {
    enum bc_node_kind kind;
    struct bc_pos pos;
    char *scalar; /* SCALAR: the value, NUL-terminated */
    int is_null;  /* SCALAR: a plain `~`, `null` or empty scalar */
    int quoted;   /* SCALAR: written in quotes (never null) */
    int invalid;  /* SCALAR: its ${VAR} substitution failed (reported); checks skip it */
    int env_ref;  /* SCALAR: written as exactly one ${VAR...} reference (secrets must be) */
    size_t n;
    struct bc_node **keys;   /* MAP only */
    struct bc_node **values; /* MAP values or SEQ items */
};

/* The value of key in a map node (borrowed), or NULL when absent or node is not a map. */
const struct bc_node *bc_node_get(const struct bc_node *map, const char *key);
/* "a map", "a list", "a string", "null": for messages. */
const char *bc_node_kind_name(const struct bc_node *node);

/* ---- durations and sizes ----------------------------------------------------------- */

#define BC_SECOND_MS 1000LL
#define BC_MINUTE_MS (60 * BC_SECOND_MS)
#define BC_HOUR_MS (60 * BC_MINUTE_MS)
#define BC_DAY_MS (24 * BC_HOUR_MS)
#define BC_KIB 1024LL
#define BC_MIB (1024 * BC_KIB)
#define BC_GIB (1024 * BC_MIB)

/* "500ms", "10s", "10m", "2h", "7d", "1w", or a sum of them ("1h30m"). Returns 0 and the
 * milliseconds, or -1 (no unit, unknown unit, overflow, negative). */
int bc_duration_parse(const char *s, int64_t *ms);
/* "64MiB", "512KiB", "1GiB", "1.5MiB" (binary), "100KB", "1MB", "1GB" (decimal), "123B" or
 * a plain integer (bytes). Returns 0 and the bytes, or -1. */
int bc_size_parse(const char *s, int64_t *bytes);
/* The shortest exact rendering ("90s" -> "90s", 600000 -> "10m", 5400000 -> "1h30m"). */
void bc_duration_format(int64_t ms, char *buf, size_t size);
/* "64MiB" when a whole number of the largest binary unit, else bytes ("1000"). */
void bc_size_format(int64_t bytes, char *buf, size_t size);

/* ---- option tables ----------------------------------------------------------------- */

enum bc_opt_type {
    BC_OPT_BOOL,     /* true | false */
    BC_OPT_INT,      /* a decimal integer, bounds [min, max] */
    BC_OPT_SIZE,     /* bytes, written as a size ("64MiB"); bounds in bytes */
    BC_OPT_DURATION, /* milliseconds, written as a duration ("10m"); bounds in ms */
    BC_OPT_STRING,   /* any scalar */
    BC_OPT_ENUM,     /* one of values[] */
    BC_OPT_LIST,     /* a list of strings (a single string is a list of one) */
    BC_OPT_TOPIC,    /* a string naming a topic declared in `topics:` (or an implicit one) */
    BC_OPT_TABLE,    /* a map validated by the nested table sub[] */
    BC_OPT_ENTRIES,  /* a map of user-chosen names, each value validated by sub[] */
    BC_OPT_KV,       /* a map of scalars passed through untouched (librdkafka settings) */
    BC_OPT_NODE,     /* any YAML, validated by check() (rule trees: router, PII, sampling) */
};

#define BC_OPT_REQUIRED 0x1 /* an error when absent (and no default) */

struct bc_check;

/* One key of a table. A table is an array ended by an entry with name == NULL. */
struct bc_option {
    const char *name;
    enum bc_opt_type type;
    /* Default, written as in YAML ("10m", "true", "64MiB"; lists comma-separated); NULL =
     * no default (the value is unset unless given). Parsed with the same code as YAML. */
    const char *def;
    /* Inclusive bounds for INT, SIZE (bytes) and DURATION (ms); both 0 = unbounded. */
    int64_t min;
    int64_t max;
    const char *const *values;   /* ENUM: allowed values, NULL-terminated */
    const struct bc_option *sub; /* TABLE and ENTRIES: the nested table */
    /* NODE (required) or any other type (optional): further checks of the YAML value, run
     * after the type check succeeded. Returns the number of errors it added. */
    int (*check)(struct bc_check *ck, const struct bc_node *node);
    unsigned flags;       /* BC_OPT_REQUIRED */
    const char *doc_type; /* overrides the type column of the reference (NODE options) */
    const char *description;
};

/* The validated value of one option (defaults applied). */
struct bc_value {
    const struct bc_option *opt; /* borrowed: the table entry */
    int set;                     /* 1 when written in the YAML */
    int has;                     /* 1 when set or defaulted; 0 = no value */
    int64_t i;                   /* BOOL (0/1), INT, SIZE (bytes), DURATION (ms) */
    char *s;                     /* STRING, ENUM, TOPIC (new) */
    char **list;                 /* LIST: n strings (new) */
    size_t n;                    /* LIST: count; ENTRIES, KV: count */
    char **names;                /* ENTRIES and KV: the keys, in file order (new) */
    char **kv_values;            /* KV: the values (new) */
    struct bc_values **entries;  /* ENTRIES: n nested value sets (new) */
    struct bc_values *sub;       /* TABLE: the nested values (new; always non-NULL) */
    const struct bc_node *node;  /* the YAML value (borrowed from the config's tree), or
                                  * NULL when defaulted; for NODE the value itself */
    const struct bc_node *key;   /* the YAML key node, or NULL when defaulted */
};

/* Values of one table, parallel to it: v[i] belongs to table[i]. */
struct bc_values {
    const struct bc_option *table;
    struct bc_value *v;
    size_t n;
    struct bc_pos pos; /* where the map was (line 0 when the whole table was defaulted) */
    int invalid;       /* the YAML value was not a map (reported): defaults only */
};

void bc_values_destroy(struct bc_values *vals);

/* The value at a dotted path ("cardinality.max_values"), or NULL when the table declares no
 * such option. Borrowed from vals. */
const struct bc_value *bc_values_find(const struct bc_values *vals, const char *path);

/* Typed getters for workers reading their options at init. The path must be declared with
 * that type: anything else is a programming error and aborts with a message. A value with
 * no default and not given reads as 0, NULL or an empty list. */
int bc_values_bool(const struct bc_values *vals, const char *path);
int64_t bc_values_int(const struct bc_values *vals, const char *path);     /* INT/SIZE/DURATION */
const char *bc_values_str(const struct bc_values *vals, const char *path); /* STRING/ENUM/TOPIC */
const char *const *bc_values_list(const struct bc_values *vals, const char *path, size_t *n);
const struct bc_node *bc_values_node(const struct bc_values *vals, const char *path);

/* ---- validation context (for check callbacks) --------------------------------------- */

struct bc_config;
struct bc_worker;

/* What a check callback may look at and report to. */
struct bc_check {
    const struct bc_config *config; /* topics are final; workers may be partly validated */
    const struct bc_worker *worker; /* the worker whose options are checked, or NULL */
    const char *path;               /* the option's dotted path, e.g. "workers.router.rules" */
    struct bc_errors *errs;
};

/* Adds an error at node's position (or the worker's when node is NULL). */
void bc_check_error(struct bc_check *ck, const struct bc_node *node, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Checks that node is a scalar naming a declared (or implicit) topic. Returns 0 or -1 (the
 * error is added). */
int bc_check_topic(struct bc_check *ck, const struct bc_node *node);
/* Checks that map node has only the given keys (NULL-terminated) and that each of required
 * (NULL-terminated, may be NULL) is present. Returns the number of errors added. */
int bc_check_keys(struct bc_check *ck, const struct bc_node *map, const char *what,
                  const char *const *allowed, const char *const *required);
/* Validates node against a table (as the loader does) and frees the values: for nested
 * structures inside NODE options. Returns the number of errors added. */
int bc_check_table(struct bc_check *ck, const struct bc_node *node, const char *path,
                   const struct bc_option *table);
/* The generic outer shape of a rule list: a list of maps, each with a unique scalar `name`.
 * Calls each_rule (may be NULL) for each well-shaped item. Returns the errors added. */
int bc_check_named_list(struct bc_check *ck, const struct bc_node *node, const char *what,
                        int (*each_rule)(struct bc_check *ck, const struct bc_node *rule));

/* Validates node (may be NULL: all defaults) against table. Returns new values (even when
 * errors were added, so more checks can run), or NULL only when node has the wrong kind. */
struct bc_values *bc_options_validate(struct bc_check *ck, const struct bc_node *node,
                                      const char *path, const struct bc_option *table,
                                      const struct bc_pos *parent_pos);

/* ---- worker types ------------------------------------------------------------------ */

/* One kind of worker, as the topology's `workers.<name>.type` names it. Defined in
 * workers/<dir>/options.c; listed in bc_worker_types. */
struct bc_worker_type {
    const char *name;                    /* "tail-sampler" */
    const char *summary;                 /* one line, for the reference */
    const struct bc_option *options;     /* its `options:` table */
    const char *const *outputs;          /* output names it writes (NULL-terminated) */
    const char *const *required_outputs; /* subset that must be mapped (NULL-terminated) */
    const char *const *stores;           /* state stores, each with a changelog topic */
    int multi_input;                     /* 1 when `input` may list several topics */
    /* Cross-field checks after the table validated; may be NULL. Returns errors added. */
    int (*check)(struct bc_check *ck, const struct bc_values *options);
    /* Informational lines about a valid worker of this type (e.g. the deduplicator's
     * partitioning mode), each "  note: ...\n", for `breadcrumb validate --verbose`; may be
     * NULL. */
    void (*describe)(FILE *out, const struct bc_worker *worker);
};

/* Every worker type, NULL-terminated. */
extern const struct bc_worker_type *const bc_worker_types[];
/* The type named name, or NULL. */
const struct bc_worker_type *bc_worker_type_find(const char *name);

/* Prints the markdown reference of a table (one row per option, nested tables flattened
 * with dotted names) under the given heading. */
void bc_options_reference_table(FILE *out, const struct bc_option *table, const char *prefix);
/* A short "--help" listing of a worker type's options, one per line. */
void bc_options_help(FILE *out, const struct bc_worker_type *type);

#endif
