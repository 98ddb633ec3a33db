/* The tail-sampler's options (workers.<name>.options of a `tail-sampler` worker), and the
 * outer validation of its sampling policies (OpenTelemetry tail_sampling's shapes). The
 * policy compiler (workers/tail_sampler/policy.c) may add deeper checks: extend policy()
 * here, the one place `breadcrumb validate` runs. */
#include <stdlib.h>
#include <string.h>

#include "bc_config.h"

struct policy_kind {
    const char *type;
    const char *const *keys; /* keys besides name and type */
};

static const char *const k_none[] = {NULL};
static const char *const k_status[] = {"status_codes", NULL};
static const char *const k_latency[] = {"threshold", "upper_threshold", NULL};
static const char *const k_attribute[] = {"key", "values", "pattern", "min", "max", NULL};
static const char *const k_prob[] = {"percentage", NULL};
static const char *const k_rate[] = {"spans_per_second", NULL};
static const char *const k_bytes[] = {"bytes_per_second", NULL};
static const char *const k_count[] = {"min_spans", "max_spans", NULL};
static const char *const k_nested[] = {"policies", NULL};

static const struct policy_kind kinds[] = {
    {"always_sample", k_none},   {"status_code", k_status}, {"latency", k_latency},
    {"attribute", k_attribute},  {"probabilistic", k_prob}, {"rate_limiting", k_rate},
    {"bytes_limiting", k_bytes}, {"span_count", k_count},   {"and", k_nested},
    {"drop", k_nested},
};

static int policy(struct bc_check *ck, const struct bc_node *rule)
{
    const struct bc_node *type = bc_node_get(rule, "type");
    if (type == NULL || type->kind != BC_NODE_SCALAR) {
        bc_check_error(ck, type != NULL ? type : rule, "%s: a policy needs a type", ck->path);
        return 1;
    }
    const struct policy_kind *kind = NULL;
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        if (strcmp(kinds[i].type, type->scalar) == 0) {
            kind = &kinds[i];
        }
    }
    if (kind == NULL) {
        bc_check_error(ck, type,
                       "%s: unknown policy type '%s' (expected one of: always_sample, "
                       "status_code, latency, attribute, probabilistic, rate_limiting, "
                       "bytes_limiting, span_count, and, drop)",
                       ck->path, type->scalar);
        return 1;
    }
    const char *allowed[8] = {"name", "type"};
    size_t n = 2;
    for (size_t i = 0; kind->keys[i] != NULL && n < 7; i++) {
        allowed[n++] = kind->keys[i];
    }
    char what[64];
    snprintf(what, sizeof(what), "a %s policy", kind->type);
    int errors = bc_check_keys(ck, rule, what, allowed, NULL);
    const struct bc_node *threshold = bc_node_get(rule, "threshold");
    int64_t ms;
    if (threshold != NULL &&
        (threshold->kind != BC_NODE_SCALAR || bc_duration_parse(threshold->scalar, &ms) != 0)) {
        bc_check_error(ck, threshold, "%s: threshold must be a duration (e.g. 2s)", ck->path);
        errors++;
    }
    const struct bc_node *pct = bc_node_get(rule, "percentage");
    if (pct != NULL) {
        char *end = NULL;
        double p = pct->kind == BC_NODE_SCALAR ? strtod(pct->scalar, &end) : -1;
        if (end == NULL || *end != '\0' || p < 0 || p > 100) {
            bc_check_error(ck, pct, "%s: percentage must be a number from 0 to 100", ck->path);
            errors++;
        }
    }
    const struct bc_node *nested = bc_node_get(rule, "policies");
    if (nested != NULL) {
        errors += bc_check_named_list(ck, nested, ck->path, policy);
    }
    return errors;
}

static int check_policies(struct bc_check *ck, const struct bc_node *node)
{
    return bc_check_named_list(ck, node, ck->path, policy);
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
    {.name = "idle_timeout",
     .type = BC_OPT_DURATION,
     .def = "30s",
     .min = BC_SECOND_MS,
     .max = BC_HOUR_MS,
     .description = "a partition without new records for this long (wall clock) advances "
                    "its watermark anyway"},
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
                    "attribute, probabilistic, rate_limiting, bytes_limiting, span_count, and, "
                    "drop"},
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
