/* The lineage-builder's options (workers.<name>.options of a `lineage-builder` worker). Its
 * inputs are the worker's `input` list (every topic of the chain it follows, the fates, the
 * dead letters, and its own `hops` output: see lineage_builder.c). */
#include <string.h>

#include "bc_config.h"
#include "bc_options.h"

static const struct bc_option options[] = {
    {.name = "orphan_window",
     .type = BC_OPT_DURATION,
     .def = "5m",
     .min = BC_SECOND_MS,
     .max = 7 * BC_DAY_MS,
     .description = "a span whose parent has not appeared within this much event time is an "
                    "orphan"},
    {.name = "max_source_skew",
     .type = BC_OPT_DURATION,
     .def = "15m",
     .min = 0,
     .max = BC_DAY_MS,
     .description = "the event time deciding orphans follows the slowest source (raw "
                    "partition) of a trace-topic partition's records, at most this far behind "
                    "the newest; 0: the newest record's time"},
    {.name = "decided_ttl",
     .type = BC_OPT_DURATION,
     .def = "15m",
     .min = 0,
     .max = 7 * BC_DAY_MS,
     .description = "how much event time a decided trace's span ids are kept, so that its late "
                    "spans and export retries find their parents (a late span whose parent is "
                    "not there is reported then); 0: forgotten at once"},
    {.name = "idle_timeout",
     .type = BC_OPT_DURATION,
     .def = "1m",
     .min = 0,
     .max = BC_DAY_MS,
     .description = "a trace-topic partition caught up and without records for this long "
                    "(wall clock) has its undecided traces decided, their orphans flagged "
                    "idle_decided; 0: never"},
    {.name = "max_bytes",
     .type = BC_OPT_SIZE,
     .def = "64MiB",
     .min = BC_MIB,
     .max = 16 * BC_GIB,
     .description = "memory bound of the lineage store per instance (about 500 B per event): "
                    "when full the records of the oldest events are evicted (counted), and a "
                    "later fact of an evicted event starts a new, partial record"},
    {.name = "trace_topic",
     .type = BC_OPT_TOPIC,
     .description = "the input whose spans make the trace view (keyed by trace_id); unset: "
                    "<pipeline>.normalized"},
    {.name = "openlineage_topic",
     .type = BC_OPT_TOPIC,
     .description = "where OpenLineage run events of the jobs go; unset: none"},
    {.name = "namespace",
     .type = BC_OPT_STRING,
     .def = "breadcrumb",
     .description = "OpenLineage namespace of jobs and datasets"},
    {.name = NULL},
};

static const char *const outputs[] = {"lineage", "repartition", "orphans", "dlq", NULL};
static const char *const required[] = {"lineage", NULL};
static const char *const stores[] = {"lineage", "traces", "runs", NULL};

/* The hop facts are keyed by event_id and read back: output `repartition` (e.g.
 * <pipeline>.lineage.repartition), when mapped, must be one of the inputs. */
static int check(struct bc_check *ck, const struct bc_values *opts)
{
    (void)opts;
    if (ck->worker == NULL || ck->config == NULL) {
        return 0;
    }
    const char *hops = bc_worker_output(ck->worker, "repartition");
    if (hops == NULL) {
        return 0; /* the worker refuses to start without it (it names the topic to add) */
    }
    for (size_t i = 0; i < ck->worker->n_inputs; i++) {
        if (strcmp(ck->worker->inputs[i], hops) == 0) {
            return 0;
        }
    }
    bc_check_error(ck, NULL, "%s: the lineage-builder reads its output repartition (%s) back: add it "
                   "to input", ck->path, hops);
    return 1;
}

const struct bc_worker_type bc_lineage_builder_type = {
    .name = "lineage-builder",
    .summary = "Follows the chain's topics, fates and dead letters and writes one lineage "
               "record per event_id (its raw position and every hop) to a compacted topic, "
               "and spans whose parent never arrives to orphans.",
    .options = options,
    .outputs = outputs,
    .required_outputs = required,
    .stores = stores,
    .multi_input = 1,
    .check = check,
};
