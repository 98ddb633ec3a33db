/* The enricher's options (workers.<name>.options of an `enricher` worker), and the
 * validation of its PII rules: each rule goes through the enricher's own rule compiler
 * (workers/enricher/pii.c), so `breadcrumb validate` and the worker's start agree. */
#include <string.h>

#include "bc_config.h"
#include "workers/enricher/pii.h"

static const char *const pii_keys[] = {"name", "keys",  "detect",    "pattern", "action",
                                       "in",   "allow", "keep_last", NULL};
static const char *const pii_required[] = {"name", "action", NULL};

/* One PII rule (README, "PII rules"): {name, keys, detect, pattern, action, in, allow,
 * keep_last}. Unknown keys first, then the compiler's verdict at the offending node. */
static int pii_rule(struct bc_check *ck, const struct bc_node *rule)
{
    int errors = bc_check_keys(ck, rule, "a PII rule", pii_keys, pii_required);
    if (errors > 0) {
        return errors;
    }
    const struct bc_node *at = NULL;
    char why[256];
    if (pii_rule_check(rule, &at, why, sizeof(why)) != 0) {
        bc_check_error(ck, at, "%s: %s", ck->path, why);
        errors++;
    }
    return errors;
}

static int check_pii(struct bc_check *ck, const struct bc_node *node)
{
    return bc_check_named_list(ck, node, ck->path, pii_rule);
}

static const struct bc_option cardinality[] = {
    {.name = "max_values",
     .type = BC_OPT_INT,
     .def = "1000",
     .min = 1,
     .max = 10000000,
     .description = "distinct values per attribute key and window; beyond it values are "
                    "replaced by `__overflow__` (counted); per input partition"},
    {.name = "window",
     .type = BC_OPT_DURATION,
     .def = "1h",
     .min = BC_SECOND_MS,
     .max = 7 * BC_DAY_MS,
     .description = "the tumbling window of stream time (record timestamps) distinct values "
                    "are counted in"},
    {.name = "keys",
     .type = BC_OPT_LIST,
     .def = "",
     .description = "attribute keys limited; empty: every attribute"},
    {.name = NULL},
};

static const struct bc_option options[] = {
    {.name = "catalog",
     .type = BC_OPT_STRING,
     .def = "config/services.yaml",
     .description = "the service catalog (owner, team, tier, cost_center, on_call)"},
    {.name = "deploys_topic",
     .type = BC_OPT_TOPIC,
     .description = "compacted deploy-history topic read fully by every instance; unset: "
                    "no deploy join"},
    {.name = "pii",
     .type = BC_OPT_NODE,
     .check = check_pii,
     .doc_type = "list of rules",
     .description = "PII rules, in order: `{name, keys: [names or globs], detect: "
                    "[email|card|ipv4|ipv6|ip|bearer], pattern: regex, action: "
                    "drop|mask|tokenize|allow, keep_last: N, allow: [globs], in: "
                    "attributes|resource|body|all}` (README, \"PII rules\")"},
    {.name = "tokenize_key_env",
     .type = BC_OPT_STRING,
     .def = "BREADCRUMB_PII_KEY",
     .description = "environment variable holding the HMAC-SHA256 key of `tokenize`; unset "
                    "or empty while a rule tokenizes: the worker does not start"},
    {.name = "cardinality",
     .type = BC_OPT_TABLE,
     .sub = cardinality,
     .description = "attribute cardinality limits"},
    {.name = NULL},
};

static const struct bc_option service_table[] = {
    {.name = "owner",
     .type = BC_OPT_STRING,
     .flags = BC_OPT_REQUIRED,
     .description = "the owning person (e-mail)"},
    {.name = "team",
     .type = BC_OPT_STRING,
     .flags = BC_OPT_REQUIRED,
     .description = "the owning team"},
    {.name = "tier",
     .type = BC_OPT_INT,
     .min = 1,
     .max = 3,
     .flags = BC_OPT_REQUIRED,
     .description = "1: customer-facing, paged at night; 3: can wait"},
    {.name = "cost_center", .type = BC_OPT_STRING, .description = "cost center code"},
    {.name = "on_call", .type = BC_OPT_STRING, .description = "the on-call rotation"},
    {.name = "labels", .type = BC_OPT_KV, .description = "free-form labels"},
    {.name = NULL},
};

/* The service catalog file (`catalog:`, config/services.yaml): load it with bc_yaml_load()
 * and validate the root with bc_options_validate(..., bc_enricher_catalog, ...). */
const struct bc_option bc_enricher_catalog[] = {
    {.name = "services",
     .type = BC_OPT_ENTRIES,
     .sub = service_table,
     .flags = BC_OPT_REQUIRED,
     .description = "every service, by its `service` name"},
    {.name = NULL},
};

static const char *const outputs[] = {"enriched", "dlq", NULL};
static const char *const stores[] = {"cardinality", NULL};
static const char *const required[] = {"enriched", NULL};

const struct bc_worker_type bc_enricher_type = {
    .name = "enricher",
    .summary = "Adds service catalog fields and the deploy current at the event's time; "
               "redacts PII (drop, mask, HMAC-tokenize); limits attribute cardinality.",
    .options = options,
    .outputs = outputs,
    .required_outputs = required,
    .stores = stores,
};
