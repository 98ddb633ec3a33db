/* The enricher's options (workers.<name>.options of an `enricher` worker), and the outer
 * validation of its PII rules. The enricher's own rule compiler (workers/enricher/) may add
 * deeper checks: extend pii_rule() here, the one place `breadcrumb validate` runs. */
#include <regex.h>
#include <string.h>

#include "bc_config.h"

static const char *const pii_keys[] = {"name", "keys", "pattern", "action", "in", NULL};
static const char *const pii_required[] = {"name", "action", NULL};
static const char *const actions[] = {"drop", "mask", "tokenize", NULL};
static const char *const scopes[] = {"attributes", "resource", "body", "all", NULL};

static int one_of(const char *s, const char *const *list)
{
    for (size_t i = 0; list[i] != NULL; i++) {
        if (strcmp(s, list[i]) == 0) {
            return 1;
        }
    }
    return 0;
}

/* One PII rule: {name, keys: [attribute names] and/or pattern: regex over values,
 * action: drop|mask|tokenize, in: attributes|resource|body|all (default attributes)}. */
static int pii_rule(struct bc_check *ck, const struct bc_node *rule)
{
    int errors = bc_check_keys(ck, rule, "a PII rule", pii_keys, pii_required);
    const struct bc_node *action = bc_node_get(rule, "action");
    if (action != NULL && (action->kind != BC_NODE_SCALAR || !one_of(action->scalar, actions))) {
        bc_check_error(ck, action, "%s: action must be one of: drop, mask, tokenize", ck->path);
        errors++;
    }
    const struct bc_node *in = bc_node_get(rule, "in");
    if (in != NULL && (in->kind != BC_NODE_SCALAR || !one_of(in->scalar, scopes))) {
        bc_check_error(ck, in, "%s: in must be one of: attributes, resource, body, all", ck->path);
        errors++;
    }
    const struct bc_node *keys = bc_node_get(rule, "keys");
    const struct bc_node *pattern = bc_node_get(rule, "pattern");
    if (keys == NULL && pattern == NULL) {
        bc_check_error(ck, rule, "%s: a PII rule needs keys, pattern or both", ck->path);
        errors++;
    }
    if (keys != NULL && keys->kind == BC_NODE_MAP) {
        bc_check_error(ck, keys, "%s: keys must be a name or a list of names", ck->path);
        errors++;
    }
    if (pattern != NULL) {
        regex_t re;
        int rc = pattern->kind == BC_NODE_SCALAR
                     ? regcomp(&re, pattern->scalar, REG_EXTENDED | REG_NOSUB)
                     : -1;
        if (rc != 0) {
            char why[128] = "expected a regular expression";
            if (rc > 0) {
                regerror(rc, &re, why, sizeof(why));
            }
            bc_check_error(ck, pattern, "%s: bad pattern: %s", ck->path, why);
            errors++;
        } else {
            regfree(&re);
        }
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
                    "replaced by `__other__` (counted)"},
    {.name = "window",
     .type = BC_OPT_DURATION,
     .def = "1h",
     .min = BC_SECOND_MS,
     .max = 7 * BC_DAY_MS,
     .description = "the window distinct values are counted in"},
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
     .description = "PII rules, in order: `{name, keys: [..] and/or pattern: regex, action: "
                    "drop|mask|tokenize, in: attributes|resource|body|all}`"},
    {.name = "tokenize_key_env",
     .type = BC_OPT_STRING,
     .def = "BREADCRUMB_PII_KEY",
     .description = "environment variable holding the HMAC key of `tokenize`"},
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
static const char *const required[] = {"enriched", NULL};

const struct bc_worker_type bc_enricher_type = {
    .name = "enricher",
    .summary = "Adds service catalog fields and the deploy current at the event's time; "
               "redacts PII (drop, mask, HMAC-tokenize); limits attribute cardinality.",
    .options = options,
    .outputs = outputs,
    .required_outputs = required,
};
