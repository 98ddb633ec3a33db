/* The deduplicator's options (workers.<name>.options of a `deduplicator` worker). */
#include "bc_config.h"

static const char *const missing_values[] = {"pass", "dlq", NULL};

static const struct bc_option options[] = {
    {.name = "key",
     .type = BC_OPT_LIST,
     .def = "event_id",
     .description = "field paths whose values together identify a repeat"},
    {.name = "window",
     .type = BC_OPT_DURATION,
     .def = "10m",
     .min = BC_SECOND_MS,
     .max = 7 * BC_DAY_MS,
     .description = "how long (in event time) a key is remembered"},
    {.name = "max_bytes",
     .type = BC_OPT_SIZE,
     .def = "64MiB",
     .min = BC_MIB,
     .max = 16 * BC_GIB,
     .description = "memory bound of the store per instance; when full the oldest keys are "
                    "evicted early (counted)"},
    {.name = "missing_key",
     .type = BC_OPT_ENUM,
     .def = "pass",
     .values = missing_values,
     .description = "a record without the key: pass it through, or send it to the DLQ"},
    {.name = NULL},
};

static const char *const outputs[] = {"unique", "dlq", NULL};
static const char *const required[] = {"unique", NULL};
static const char *const stores[] = {"seen", NULL};

static int check(struct bc_check *ck, const struct bc_values *opts)
{
    size_t n;
    bc_values_list(opts, "key", &n);
    if (n == 0) {
        const struct bc_value *v = bc_values_find(opts, "key");
        bc_check_error(ck, v->node, "%s.key: needs at least one field", ck->path);
        return 1;
    }
    if (ck->worker != NULL && bc_worker_output(ck->worker, "dlq") == NULL &&
        bc_values_str(opts, "missing_key")[0] == 'd') {
        const struct bc_value *v = bc_values_find(opts, "missing_key");
        bc_check_error(ck, v->node, "%s.missing_key: dlq needs a dlq output", ck->path);
        return 1;
    }
    return 0;
}

const struct bc_worker_type bc_deduplicator_type = {
    .name = "deduplicator",
    .summary = "Drops repeats of a key within a window; state in a changelog store.",
    .options = options,
    .outputs = outputs,
    .required_outputs = required,
    .stores = stores,
    .check = check,
};
