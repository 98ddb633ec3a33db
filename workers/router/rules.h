/*
 * The router's rule table: compiled once from the worker's options (mode, rules, default,
 * unmatched, sinks), then evaluated per TrackingEvent without looking at the YAML again.
 *
 * One compiler serves both `breadcrumb validate` (options.c's check hook: every error with
 * the YAML node's file:line:column) and the worker (router.c's init). Conditions become a
 * tree of tests on field references resolved to TrackingEvent field indexes, literals
 * parsed to the field's type, regexes compiled with regcomp(3); evaluation does no parsing
 * and no allocation.
 *
 * Rule shape (README "router"):
 *   - name: security                      unique
 *     when: {field: value | {op: value}, all: [...], any: [...], not: {...}}
 *                                         absent or {}: matches everything (a catch-all)
 *     to: sink.security | [topics]        declared topics; not with action: drop
 *     action: route | drop                drop ends evaluation, writes a Fate
 *     key: attributes.user_id             Kafka key of the copies (absent: the input's)
 *     drop: [attributes.ip, body]         projection: fields removed from this rule's copies
 */
#ifndef ROUTER_RULES_H
#define ROUTER_RULES_H

#include <stddef.h>
#include <stdint.h>

#include <avro.h>

#include "bc_options.h"

enum router_mode { ROUTER_FIRST_MATCH = 0, ROUTER_ALL_MATCHES = 1 };
enum router_format { ROUTER_FORMAT_AVRO = 0, ROUTER_FORMAT_JSON = 1 };

struct router_table;
struct router_rule;

/* A sink topic the table writes to (rule targets and the default), each once. */
struct router_target {
    char *topic;               /* new */
    enum router_format format; /* from `sinks.<topic>.format` (default avro) */
    uint64_t written;          /* copies written (counted by the caller via router_count) */
};

/* The outcome of routing one event. Filled by router_route; sized for the table by
 * router_decision_new. Invariant: every target appears at most once in copies (a fan-out
 * never writes two copies to one sink), in rule order. */
struct router_decision {
    size_t n; /* copies to write */
    struct router_copy {
        const struct router_rule *rule; /* the rule that matched; NULL for the default */
        size_t target;                  /* index into the table's targets */
    } *copies;
    const struct router_rule *dropped_by; /* a drop rule ended evaluation with no copy */
    int unmatched_dlq; /* no rule matched and `unmatched: dlq`: dead-letter it */
    unsigned char *seen; /* per target: already in copies (scratch) */
};

/* Compiles the options of a `router` worker (the values of bc_router_type.options) into a
 * table. Errors go to ck (at the YAML nodes' positions); topics are checked against
 * ck->config when it is set. Returns the new table (router_table_destroy), or NULL when an
 * error was added. */
struct router_table *router_table_compile(struct bc_check *ck, const struct bc_values *opts);
void router_table_destroy(struct router_table *table);

enum router_mode router_table_mode(const struct router_table *table);
size_t router_table_rule_count(const struct router_table *table);
const struct router_rule *router_table_rule(const struct router_table *table, size_t i);
size_t router_table_target_count(const struct router_table *table);
struct router_target *router_table_target(struct router_table *table, size_t i);
/* The default topic's target index, or -1 with `unmatched: dlq`. */
int router_table_default(const struct router_table *table);

const char *router_rule_name(const struct router_rule *rule);
int router_rule_is_drop(const struct router_rule *rule);
/* Events this rule matched (and so routed or dropped), counted by router_route. */
uint64_t router_rule_matched(const struct router_rule *rule);
/* 1 when the rule removes fields from its copies. */
int router_rule_projects(const struct router_rule *rule);

/* A decision sized for the table (new; router_decision_destroy), or NULL on OOM. */
struct router_decision *router_decision_new(const struct router_table *table);
void router_decision_destroy(struct router_decision *d);

/* Routes one TrackingEvent (an avro-c value of the TrackingEvent schema): fills d and
 * counts the matching rules. Returns 0. */
int router_route(struct router_table *table, avro_value_t *event, struct router_decision *d);

/* Evaluates only rule i's condition (for tests): 1 when it matches, else 0. */
int router_rule_matches(const struct router_table *table, size_t i, avro_value_t *event);

/* The Kafka key the rule gives its copies: the rule's `key` field rendered as text
 * (strings as they are, numbers in decimal, enums by symbol, booleans true/false) into
 * buf. Returns the length, or -1 when the rule has no key field or the event lacks it or
 * it does not fit in cap: then the input record's key is kept. */
int router_rule_key(const struct router_rule *rule, avro_value_t *event, char *buf, size_t cap);

/* The value to write for a copy of event by rule: event itself when the rule projects
 * nothing, else scratch (a value of the same schema, reused) holding a copy of event
 * without the rule's dropped fields. Returns the value (borrowed), or NULL when avro-c
 * refuses the copy. */
avro_value_t *router_rule_project(const struct router_rule *rule, avro_value_t *event,
                                  avro_value_t *scratch);

#endif
