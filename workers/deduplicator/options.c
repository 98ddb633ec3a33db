/* The deduplicator's options (workers.<name>.options of a `deduplicator` worker) and the
 * topology checks of its mode (aligned or repartition: see deduplicator.c). */
#include <string.h>

#include "bc_config.h"
#include "workers/deduplicator/dedup_key.h"

static const char *const missing_values[] = {"pass", "dlq", NULL};

static const struct bc_option options[] = {
    {.name = "key",
     .type = BC_OPT_LIST,
     .def = "event_id",
     .description = "TrackingEvent fields whose values together identify a repeat: event_id, "
                    "trace_id, span_id, parent_span_id, correlation_id, name, service, "
                    "attributes.<key>, resource.<key>; without event_id or trace_id the "
                    "worker repartitions by the key (output `repartition`, also an input)"},
    {.name = "window",
     .type = BC_OPT_DURATION,
     .def = "10m",
     .min = BC_SECOND_MS,
     .max = 7 * BC_DAY_MS,
     .description = "how long a key is remembered, in event time: a repeat is dropped while "
                    "the partition's stream time (highest Kafka timestamp seen) is at most "
                    "window past the first occurrence's timestamp"},
    {.name = "max_bytes",
     .type = BC_OPT_SIZE,
     .def = "64MiB",
     .min = BC_MIB,
     .max = 16 * BC_GIB,
     .description = "memory bound of the store per instance (92 B per key): when full the "
                    "oldest keys are evicted early (counted; a repeat of an evicted key "
                    "passes)"},
    {.name = "missing_key",
     .type = BC_OPT_ENUM,
     .def = "pass",
     .values = missing_values,
     .description = "a record without the key: pass it through, or send it to the DLQ"},
    {.name = NULL},
};

static const char *const outputs[] = {"unique", "dlq", "repartition", NULL};
static const char *const required[] = {"unique", NULL};
static const char *const stores[] = {"seen", NULL};

/* In repartition mode (a key not derived from the partition key) the worker needs output
 * `repartition` whose topic it also reads; in aligned mode it must not have one. */
static int check_mode(struct bc_check *ck, const struct bc_values *opts, const char *const *keys,
                      size_t n)
{
    if (ck->worker == NULL) {
        return 0;
    }
    const struct bc_value *v = bc_values_find(opts, "key");
    const char *topic = bc_worker_output(ck->worker, "repartition");
    if (dedup_key_paths_aligned(keys, n)) {
        if (topic != NULL) {
            bc_check_error(ck, v->node,
                           "%s.key: includes event_id or trace_id, so equal keys share a "
                           "partition (aligned mode): remove output repartition",
                           ck->path);
            return 1;
        }
        return 0;
    }
    if (topic == NULL) {
        bc_check_error(ck, v->node,
                       "%s.key: not derived from the partition key (no event_id or trace_id): "
                       "repartition mode needs output repartition (e.g. %s.repartition) "
                       "listed in input too",
                       ck->path, ck->worker->name);
        return 1;
    }
    for (size_t i = 0; i < ck->worker->n_inputs; i++) {
        if (strcmp(ck->worker->inputs[i], topic) == 0) {
            return 0;
        }
    }
    bc_check_error(ck, v->node,
                   "%s.key: repartition mode reads its output repartition (%s) back: add it "
                   "to input",
                   ck->path, topic);
    return 1;
}

static int check(struct bc_check *ck, const struct bc_values *opts)
{
    size_t n;
    const char *const *keys = bc_values_list(opts, "key", &n);
    const struct bc_value *v = bc_values_find(opts, "key");
    if (n == 0) {
        bc_check_error(ck, v->node, "%s.key: needs at least one field", ck->path);
        return 1;
    }
    int errors = 0;
    for (size_t i = 0; i < n; i++) {
        if (dedup_key_path_valid(keys[i]) != 0) {
            bc_check_error(ck, v->node,
                           "%s.key: unknown field '%s' (event_id, trace_id, span_id, "
                           "parent_span_id, correlation_id, name, service, attributes.<key>, "
                           "resource.<key>)",
                           ck->path, keys[i]);
            errors++;
        }
    }
    if (errors > 0) {
        return errors;
    }
    if (ck->worker != NULL && bc_worker_output(ck->worker, "dlq") == NULL &&
        bc_values_str(opts, "missing_key")[0] == 'd') {
        v = bc_values_find(opts, "missing_key");
        bc_check_error(ck, v->node, "%s.missing_key: dlq needs a dlq output", ck->path);
        return 1;
    }
    return check_mode(ck, opts, keys, n);
}

/* validate --verbose: which partitioning mode the key puts the worker in. */
static void describe(FILE *out, const struct bc_worker *worker)
{
    size_t n;
    const char *const *keys = bc_values_list(worker->options, "key", &n);
    fprintf(out, "  note: %s key [", worker->name);
    for (size_t i = 0; i < n; i++) {
        fprintf(out, "%s%s", i ? ", " : "", keys[i]);
    }
    if (dedup_key_paths_aligned(keys, n)) {
        fprintf(out, "] includes event_id or trace_id: aligned mode (equal keys share an input "
                     "partition; no repartition)\n");
    } else {
        fprintf(out, "] is not derived from the partition key: repartition mode through %s\n",
                bc_worker_output(worker, "repartition"));
    }
}

const struct bc_worker_type bc_deduplicator_type = {
    .name = "deduplicator",
    .summary = "Drops repeats of a key within a window; state in a changelog store.",
    .options = options,
    .outputs = outputs,
    .required_outputs = required,
    .stores = stores,
    .multi_input = 1,
    .check = check,
    .describe = describe,
};
