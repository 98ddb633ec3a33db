/* The lineage-builder's options (workers.<name>.options of a `lineage-builder` worker). Its
 * inputs are the worker's `input` list (every topic of the chain it follows). */
#include "bc_options.h"

static const struct bc_option options[] = {
    {.name = "orphan_window",
     .type = BC_OPT_DURATION,
     .def = "5m",
     .min = BC_SECOND_MS,
     .max = 7 * BC_DAY_MS,
     .description = "a span whose parent has not appeared within this much event time is an "
                    "orphan"},
    {.name = "openlineage_topic",
     .type = BC_OPT_TOPIC,
     .description = "where OpenLineage run events of the jobs go; unset: none"},
    {.name = "namespace",
     .type = BC_OPT_STRING,
     .def = "breadcrumb",
     .description = "OpenLineage namespace of jobs and datasets"},
    {.name = NULL},
};

static const char *const outputs[] = {"lineage", "orphans", "dlq", NULL};
static const char *const required[] = {"lineage", NULL};

const struct bc_worker_type bc_lineage_builder_type = {
    .name = "lineage-builder",
    .summary = "Follows the chain's topics and writes lineage records (derived-from edges, "
               "trace parent links, orphans) to a compacted topic.",
    .options = options,
    .outputs = outputs,
    .required_outputs = required,
    .multi_input = 1,
};
