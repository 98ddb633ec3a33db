/* The router's options (workers.<name>.options of a `router` worker). The rules are checked
 * by the router's own compiler (rules.c), the one the worker runs at init: `breadcrumb
 * validate` reports exactly what would stop the worker, at file:line:column. */
#include <string.h>

#include "bc_config.h"
#include "workers/router/rules.h"

/* The list's outer shape (a list of maps with unique names); each rule's content is the
 * compiler's, run from check() once mode and the default are known. */
static int check_rules(struct bc_check *ck, const struct bc_node *node)
{
    return bc_check_named_list(ck, node, ck->path, NULL);
}

static const char *const format_values[] = {"avro", "json", NULL};

static const struct bc_option sink_table[] = {
    {.name = "format",
     .type = BC_OPT_ENUM,
     .def = "avro",
     .values = format_values,
     .description = "record format written to the sink"},
    {.name = NULL},
};

/* sinks: {topic: {format: avro|json}} */
static int check_sinks(struct bc_check *ck, const struct bc_node *node)
{
    int errors = 0;
    if (node->kind != BC_NODE_MAP) {
        bc_check_error(ck, node, "%s: expected a map of topic to settings, got %s", ck->path,
                       bc_node_kind_name(node));
        return 1;
    }
    for (size_t i = 0; i < node->n; i++) {
        errors += bc_check_topic(ck, node->keys[i]) != 0;
        char path[256];
        snprintf(path, sizeof(path), "%s.%s", ck->path, node->keys[i]->scalar);
        errors += bc_check_table(ck, node->values[i], path, sink_table);
    }
    return errors;
}

static const char *const mode_values[] = {"first_match", "all_matches", NULL};
static const char *const unmatched_values[] = {"default", "dlq", NULL};

static const struct bc_option options[] = {
    {.name = "mode",
     .type = BC_OPT_ENUM,
     .def = "first_match",
     .values = mode_values,
     .description = "`first_match`: the first matching rule routes; `all_matches`: every "
                    "matching rule gets a copy (fan-out)"},
    {.name = "rules",
     .type = BC_OPT_NODE,
     .check = check_rules,
     .doc_type = "list of rules",
     .description = "`{name, when: {field: value or {op: value}, all/any/not}, to: topic or "
                    "[topics], action: route|drop, key: field, drop: [fields]}`, in order "
                    "(README, router)"},
    {.name = "default",
     .type = BC_OPT_TOPIC,
     .description = "where records no rule matched go (with `unmatched: default`)"},
    {.name = "unmatched",
     .type = BC_OPT_ENUM,
     .def = "default",
     .values = unmatched_values,
     .description = "records no rule matched go to `default` or to the DLQ; never dropped"},
    {.name = "sinks",
     .type = BC_OPT_NODE,
     .check = check_sinks,
     .doc_type = "map of topic → {format}",
     .description = "per sink topic: `format: avro` (default) or `json`"},
    {.name = NULL},
};

static int check(struct bc_check *ck, const struct bc_values *opts)
{
    const char *unmatched = bc_values_str(opts, "unmatched");
    const struct bc_value *v = bc_values_find(opts, "unmatched");
    if (strcmp(unmatched, "default") == 0 && bc_values_str(opts, "default") == NULL) {
        bc_check_error(ck, v->node, "%s: unmatched: default needs a default topic", ck->path);
        return 1;
    }
    if (strcmp(unmatched, "dlq") == 0 && ck->worker != NULL &&
        bc_worker_output(ck->worker, "dlq") == NULL) {
        bc_check_error(ck, v->node, "%s: unmatched: dlq needs a dlq output", ck->path);
        return 1;
    }
    const struct bc_value *rules = bc_values_find(opts, "rules");
    if (!rules->has) {
        bc_check_error(ck, NULL, "%s: a router needs rules", ck->path);
        return 1;
    }
    if (rules->node == NULL || rules->node->kind != BC_NODE_SEQ) {
        return 0; /* reported by check_rules */
    }
    size_t before = ck->errs->n;
    router_table_destroy(router_table_compile(ck, opts));
    return (int)(ck->errs->n - before);
}

static const char *const outputs[] = {"dlq", NULL};

const struct bc_worker_type bc_router_type = {
    .name = "router",
    .summary = "Routes each record to sink topics by ordered rules (first match or fan-out); "
               "unmatched records go to the default topic or the DLQ.",
    .options = options,
    .outputs = outputs,
    .check = check,
};
