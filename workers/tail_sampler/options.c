/* The tail-sampler's options (workers.<name>.options of a `tail-sampler` worker). Its
 * sampling policies are validated by compiling them (workers/tail_sampler/policy.c), so
 * `breadcrumb validate` and the worker at start agree on what is valid. */
#include <stdlib.h>
#include <string.h>

#include "bc_config.h"
#include "policy.h"

/* Reports a policy compile error at its node, with the option's path instead of the
 * compiler's "policies" prefix. */
static void report(void *opaque, const struct bc_node *at, const char *message)
{
    struct bc_check *ck = opaque;
    if (strncmp(message, "policies", 8) == 0) {
        bc_check_error(ck, at, "%s%s", ck->path, message + 8);
    } else {
        bc_check_error(ck, at, "%s: %s", ck->path, message);
    }
}

/* The list's shape (maps with unique names), then the policy compiler itself, so
 * `breadcrumb validate` reports exactly what the worker would refuse at start. */
static int check_policies(struct bc_check *ck, const struct bc_node *node)
{
    int errors = bc_check_named_list(ck, node, ck->path, NULL);
    if (errors != 0) {
        return errors;
    }
    struct ts_policies *policies = NULL;
    errors = ts_policies_compile(node, TS_FIRST_MATCH, report, ck, &policies);
    ts_policies_destroy(policies);
    return errors;
}

static const char *const evaluation_values[] = {"first_match", "all", NULL};
static const char *const non_span_values[] = {"pass", "follow", NULL};

static const struct bc_option options[] = {
    {.name = "decision_wait",
     .type = BC_OPT_DURATION,
     .def = "10s",
     .min = 100,
     .max = 10 * BC_MINUTE_MS,
     .description = "a trace is decided when the event-time watermark passes its last span "
                    "by this much"},
    {.name = "allowed_lateness",
     .type = BC_OPT_DURATION,
     .def = "5s",
     .min = 0,
     .max = BC_HOUR_MS,
     .description = "how far the watermark trails the newest span seen"},
    {.name = "max_source_skew",
     .type = BC_OPT_DURATION,
     .def = "5m",
     .min = 0,
     .max = BC_HOUR_MS,
     .description = "event time follows the slowest source (raw partition) of a partition's "
                    "records, at most this far behind the newest; 0: the newest record's time"},
    {.name = "idle_timeout",
     .type = BC_OPT_DURATION,
     .def = "30s",
     .min = BC_SECOND_MS,
     .max = BC_HOUR_MS,
     .description = "after this long (wall clock) caught up and without new records, a "
                    "partition's event time is taken to go on with the wall clock: its traces "
                    "are decided as they fall due, flagged `idle_decided`"},
    {.name = "max_buffer_bytes",
     .type = BC_OPT_SIZE,
     .def = "256MiB",
     .min = BC_MIB,
     .max = 64 * BC_GIB,
     .description = "memory bound of buffered spans per instance; when full the oldest traces "
                    "are decided early (counted)"},
    {.name = "decision_ttl",
     .type = BC_OPT_DURATION,
     .def = "1h",
     .min = BC_MINUTE_MS,
     .max = 7 * BC_DAY_MS,
     .description = "how long a decision is kept so late spans follow it"},
    {.name = "evaluation",
     .type = BC_OPT_ENUM,
     .def = "first_match",
     .values = evaluation_values,
     .description = "`first_match`: the first policy that decides wins; `all`: sampled when "
                    "any policy samples and no drop policy matches"},
    {.name = "non_span",
     .type = BC_OPT_ENUM,
     .def = "pass",
     .values = non_span_values,
     .description = "logs and events: `pass` through, or `follow` their trace's decision"},
    {.name = "policies",
     .type = BC_OPT_NODE,
     .check = check_policies,
     .doc_type = "list of policies",
     .description = "`{name, type, ...}` with type always_sample, status_code, latency, "
                    "string_attribute, numeric_attribute, boolean_attribute, probabilistic, "
                    "rate_limiting, bytes_limiting, span_count, and, drop (README: "
                    "tail-sampler)"},
    {.name = NULL},
};

static int check(struct bc_check *ck, const struct bc_values *opts)
{
    const struct bc_value *v = bc_values_find(opts, "policies");
    if (!v->has) {
        bc_check_error(ck, NULL, "%s: a tail-sampler needs policies", ck->path);
        return 1;
    }
    return 0;
}

static const char *const outputs[] = {"sampled", "cold", "dlq", NULL};
static const char *const required[] = {"sampled", NULL};
static const char *const stores[] = {"decisions", NULL};

const struct bc_worker_type bc_tail_sampler_type = {
    .name = "tail-sampler",
    .summary = "Buffers spans per trace until complete, then keeps or drops the whole trace by "
               "policies; decisions survive restarts. `cold` receives sampled-out spans.",
    .options = options,
    .outputs = outputs,
    .required_outputs = required,
    .stores = stores,
    .check = check,
};
