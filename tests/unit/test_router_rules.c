/*
 * The router's rule compiler and evaluator (workers/router/rules.c): every condition type
 * and combinator on real TrackingEvent values, type mismatches the YAML shows (validation
 * errors at file:line:column) and ones only the data shows (no match), first-match and
 * fan-out routing, drop rules, the default and the DLQ, keys and projections.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bc_config.h"
#include "bc_event.h"
#include "workers/router/rules.h"

static struct bc_avro_registry *reg;
static const struct bc_avro_schema *te;

static int setup(void **state)
{
    (void)state;
    char dir[4096], errstr[512];
    const char *root = getenv("BC_ROOT");
    snprintf(dir, sizeof(dir), "%s/schemas", root ? root : ".");
    if (bc_avro_registry_load(dir, &reg, errstr, sizeof(errstr)) != 0) {
        fprintf(stderr, "%s\n", errstr);
        return -1;
    }
    te = bc_avro_registry_lookup(reg, "TrackingEvent");
    return te != NULL ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    bc_avro_registry_destroy(reg);
    return 0;
}

/* ---- helpers ------------------------------------------------------------------------ */

extern const struct bc_worker_type bc_router_type;

/* Compiles router options written as YAML (a map), without a topology (no topic checks).
 * Errors go to errs; returns the table or NULL. */
static struct router_table *compile(const char *yaml, struct bc_errors *errs)
{
    struct bc_yaml *doc = bc_yaml_load_string("opts.yaml", yaml, strlen(yaml), errs);
    assert_non_null(doc);
    struct bc_check ck = {.config = NULL, .worker = NULL, .path = "opts", .errs = errs};
    struct bc_values *vals =
        bc_options_validate(&ck, doc->root, "opts", bc_router_type.options, NULL);
    assert_non_null(vals);
    assert_int_equal(errs->n, 0);
    struct router_table *t = router_table_compile(&ck, vals);
    bc_values_destroy(vals);
    bc_yaml_destroy(doc);
    return t;
}

static struct router_table *compile_ok(const char *yaml)
{
    struct bc_errors errs = {0};
    struct router_table *t = compile(yaml, &errs);
    if (errs.n > 0) {
        }
    assert_int_equal(errs.n, 0);
    assert_non_null(t);
    return t;
}

/* Compiles `rules: [{name: r, when: WHEN, to: s}], default: d` and evaluates it on ev. */
static int matches(const char *when, avro_value_t *ev)
{
    char yaml[2048];
    snprintf(yaml, sizeof(yaml), "rules:\n  - name: r\n    when: %s\n    to: s\ndefault: d\n",
             when);
    struct router_table *t = compile_ok(yaml);
    int m = router_rule_matches(t, 0, ev);
    router_table_destroy(t);
    return m;
}

/* The first error of compiling `when`, as "LINE:COL MESSAGE" (the rule's `when` is on
 * line 3, its value at column 11). */
static void compile_error(const char *when, char *out, size_t cap)
{
    char yaml[2048];
    snprintf(yaml, sizeof(yaml), "rules:\n  - name: r\n    when: %s\n    to: s\ndefault: d\n",
             when);
    struct bc_errors errs = {0};
    struct router_table *t = compile(yaml, &errs);
    assert_null(t);
    assert_true(errs.n >= 1);
    snprintf(out, cap, "%d:%d %s", errs.v[0].line, errs.v[0].column, errs.v[0].message);
    bc_errors_clear(&errs);
}

static void expect_error(const char *when, const char *want)
{
    char got[1024];
    compile_error(when, got, sizeof(got));
    if (strstr(got, want) == NULL) {
        fprintf(stderr, "want '%s' in '%s'\n", want, got);
    }
    assert_non_null(strstr(got, want));
}

static void set_attr_str(avro_value_t *kvs, const char *key, const char *value)
{
    avro_value_t any;
    assert_int_equal(bc_event_kv_append(kvs, key, strlen(key), &any), 0);
    assert_int_equal(bc_any_set_string(&any, value, strlen(value)), 0);
}

/* A login span of `auth` (SERVER, ERROR, 2.5 s) with attributes of every type, resource
 * attributes, enrichment and a flag; the log and event variants change kind and name. */
static void event_span(avro_value_t *ev)
{
    avro_value_t attrs, res, any;
    assert_int_equal(bc_event_clear(ev), 0);
    assert_int_equal(bc_event_set_string(ev, BC_EV_EVENT_ID, "0123456789abcdef0123456789abcdef", 32), 0);
    assert_int_equal(bc_event_set_enum(ev, BC_EV_KIND, BC_EVENT_SPAN), 0);
    assert_int_equal(bc_event_set_string(ev, BC_EV_TRACE_ID, "4bf92f3577b34da6a3ce929d0e0e4736", 32), 0);
    assert_int_equal(bc_event_set_string(ev, BC_EV_SPAN_ID, "00f067aa0ba902b7", 16), 0);
    assert_int_equal(bc_event_set_string(ev, BC_EV_NAME, "POST /login", 11), 0);
    assert_int_equal(bc_event_set_string(ev, BC_EV_SERVICE, "auth", 4), 0);
    assert_int_equal(bc_event_set_long(ev, BC_EV_START_TIME_NS, 1000000000), 0);
    assert_int_equal(bc_event_set_long(ev, BC_EV_END_TIME_NS, 3500000000), 0);
    assert_int_equal(bc_event_set_enum(ev, BC_EV_SPAN_KIND, BC_SPAN_KIND_SERVER), 0);
    assert_int_equal(bc_event_set_status(ev, BC_STATUS_ERROR, "bad password", 12), 0);
    assert_int_equal(bc_event_field(ev, BC_EV_ATTRIBUTES, &attrs), 0);
    set_attr_str(&attrs, "http.method", "POST");
    set_attr_str(&attrs, "http.route", "/login");
    set_attr_str(&attrs, "ip", "10.1.2.3");
    assert_int_equal(bc_event_kv_append(&attrs, "http.status_code", 16, &any), 0);
    assert_int_equal(bc_any_set_long(&any, 401), 0);
    assert_int_equal(bc_event_kv_append(&attrs, "ratio", 5, &any), 0);
    assert_int_equal(bc_any_set_double(&any, 0.25), 0);
    assert_int_equal(bc_event_kv_append(&attrs, "retry", 5, &any), 0);
    assert_int_equal(bc_any_set_bool(&any, 1), 0);
    assert_int_equal(bc_event_kv_append(&attrs, "empty", 5, &any), 0);
    assert_int_equal(bc_any_set_null(&any), 0);
    assert_int_equal(bc_event_field(ev, BC_EV_RESOURCE_ATTRIBUTES, &res), 0);
    set_attr_str(&res, "service.name", "auth");
    set_attr_str(&res, "host.name", "auth-7f9c");
    set_attr_str(&res, "deployment.environment", "prod");
    assert_int_equal(bc_event_set_source(ev, "tracking.raw", 2, 41, 0), 0);
    assert_int_equal(bc_event_add_flag(ev, "clock_skew"), 0);
    assert_int_equal(bc_event_set_string(ev, BC_EV_TIER, "tier-1", 6), 0);
    assert_int_equal(bc_event_set_string(ev, BC_EV_TEAM, "identity", 8), 0);
    assert_int_equal(bc_event_set_deploy(ev, "d-000123", "1.4.2", "abc", 5), 0);
}

static void event_log(avro_value_t *ev, int security)
{
    avro_value_t attrs, any;
    event_span(ev);
    assert_int_equal(bc_event_set_enum(ev, BC_EV_KIND, BC_EVENT_LOG), 0);
    assert_int_equal(bc_event_set_null(ev, BC_EV_SPAN_KIND), 0);
    assert_int_equal(bc_event_set_string(ev, BC_EV_NAME, "", 0), 0);
    assert_int_equal(bc_event_set_long(ev, BC_EV_END_TIME_NS, 1000000000), 0);
    assert_int_equal(bc_event_set_int(ev, BC_EV_SEVERITY_NUMBER, 13), 0);
    assert_int_equal(bc_event_set_string(ev, BC_EV_SEVERITY_TEXT, "WARN", 4), 0);
    assert_int_equal(bc_event_set_body(ev, &any), 0);
    assert_int_equal(bc_any_set_string(&any, "login failed for bob", 20), 0);
    if (security) {
        assert_int_equal(bc_event_field(ev, BC_EV_ATTRIBUTES, &attrs), 0);
        set_attr_str(&attrs, "security.event", "login.failure");
    }
}

static void event_flat(avro_value_t *ev, const char *name)
{
    avro_value_t attrs, any;
    event_span(ev);
    assert_int_equal(bc_event_set_enum(ev, BC_EV_KIND, BC_EVENT_EVENT), 0);
    assert_int_equal(bc_event_set_null(ev, BC_EV_SPAN_KIND), 0);
    assert_int_equal(bc_event_set_string(ev, BC_EV_NAME, name, strlen(name)), 0);
    assert_int_equal(bc_event_field(ev, BC_EV_ATTRIBUTES, &attrs), 0);
    assert_int_equal(avro_value_reset(&attrs), 0);
    set_attr_str(&attrs, "idempotency_key", "ch_00aa11bb22cc33dd44ee55ff");
    assert_int_equal(bc_event_kv_append(&attrs, "amount_cents", 12, &any), 0);
    assert_int_equal(bc_any_set_long(&any, 1299), 0);
    set_attr_str(&attrs, "customer_email", "bob@example.com");
}

/* ---- conditions --------------------------------------------------------------------- */

static void test_router_eq_ne(void **state)
{
    (void)state;
    avro_value_t ev;
    assert_int_equal(bc_avro_value_new(te, &ev), 0);
    event_span(&ev);
    assert_true(matches("{service: auth}", &ev));
    assert_false(matches("{service: cart}", &ev));
    assert_true(matches("{service: {eq: auth}}", &ev));
    assert_true(matches("{service: {ne: cart}}", &ev));
    assert_false(matches("{service: {ne: auth}}", &ev));
    /* Enums by symbol, in any case; status is status.code. */
    assert_true(matches("{kind: span}", &ev));
    assert_true(matches("{kind: SPAN}", &ev));
    assert_false(matches("{kind: log}", &ev));
    assert_true(matches("{status: error}", &ev));
    assert_true(matches("{status.code: ERROR}", &ev));
    assert_true(matches("{span_kind: server}", &ev));
    assert_true(matches("{status.message: bad password}", &ev));
    /* ne on a missing field matches (it is "not equal"). */
    assert_true(matches("{correlation_id: {ne: x}}", &ev));
    assert_false(matches("{correlation_id: x}", &ev));
    /* Enrichment fields. */
    assert_true(matches("{tier: tier-1, team: identity}", &ev));
    assert_true(matches("{deploy.version: 1.4.2}", &ev));
    assert_true(matches("{source.topic: tracking.raw, source.partition: 2}", &ev));
    avro_value_decref(&ev);
}

static void test_router_in_lists(void **state)
{
    (void)state;
    avro_value_t ev;
    assert_int_equal(bc_avro_value_new(te, &ev), 0);
    event_span(&ev);
    assert_true(matches("{service: [cart, auth]}", &ev));
    assert_true(matches("{service: {in: [cart, auth]}}", &ev));
    assert_false(matches("{service: {in: [cart, payment]}}", &ev));
    assert_true(matches("{service: {not_in: [cart, payment]}}", &ev));
    assert_false(matches("{service: {not_in: [auth]}}", &ev));
    assert_true(matches("{kind: [log, span]}", &ev));
    assert_true(matches("{attributes.http.status_code: {in: [401, 403]}}", &ev));
    /* Flags: eq and in mean "contains". */
    assert_true(matches("{flags: clock_skew}", &ev));
    assert_false(matches("{flags: clamped}", &ev));
    assert_true(matches("{flags: {not_in: [clamped, truncated]}}", &ev));
    assert_true(matches("{flags: {exists: true}}", &ev));
    avro_value_decref(&ev);
}

static void test_router_string_ops(void **state)
{
    (void)state;
    avro_value_t ev;
    assert_int_equal(bc_avro_value_new(te, &ev), 0);
    event_span(&ev);
    assert_true(matches("{name: {prefix: \"POST \"}}", &ev));
    assert_false(matches("{name: {prefix: GET}}", &ev));
    assert_true(matches("{name: {suffix: /login}}", &ev));
    assert_false(matches("{name: {suffix: /logout}}", &ev));
    assert_true(matches("{name: {contains: \"T /lo\"}}", &ev));
    assert_true(matches("{name: {regex: \"^(GET|POST) /log(in|out)$\"}}", &ev));
    assert_false(matches("{name: {regex: \"^GET\"}}", &ev));
    assert_true(matches("{resource.host.name: {regex: \"^auth-[0-9a-f]+$\"}}", &ev));
    assert_true(matches("{resource_attributes.deployment.environment: prod}", &ev));
    /* A string operator on a number attribute: no match, no error. */
    assert_false(matches("{attributes.http.status_code: {prefix: \"4\"}}", &ev));
    /* Prefix and suffix longer than the value. */
    assert_false(matches("{service: {prefix: authentication}}", &ev));
    assert_false(matches("{service: {suffix: xauth}}", &ev));
    avro_value_decref(&ev);
}

static void test_router_exists(void **state)
{
    (void)state;
    avro_value_t ev;
    assert_int_equal(bc_avro_value_new(te, &ev), 0);
    event_log(&ev, 1);
    assert_true(matches("{attributes.security.event: {exists: true}}", &ev));
    assert_false(matches("{attributes.nope: {exists: true}}", &ev));
    assert_true(matches("{attributes.nope: {exists: false}}", &ev));
    /* A null AnyValue is absent. */
    assert_true(matches("{attributes.empty: {exists: false}}", &ev));
    assert_true(matches("{trace_id: {exists: true}, correlation_id: {exists: false}}", &ev));
    assert_true(matches("{body: {exists: true}, scope.name: {exists: false}}", &ev));
    assert_true(matches("{body: {contains: bob}}", &ev));
    assert_true(matches("{owner: {exists: false}, deploy.deploy_id: {exists: true}}", &ev));
    assert_true(matches("{sampling.policy: {exists: false}}", &ev));
    avro_value_decref(&ev);
}

static void test_router_numeric(void **state)
{
    (void)state;
    avro_value_t ev;
    assert_int_equal(bc_avro_value_new(te, &ev), 0);
    event_span(&ev);
    /* duration = end - start = 2.5 s. */
    assert_true(matches("{duration: {gt: 2s}}", &ev));
    assert_true(matches("{duration: {ge: 2500ms}}", &ev));
    assert_false(matches("{duration: {gt: 2500ms}}", &ev));
    assert_true(matches("{duration: {lt: 1m, ge: 1s}}", &ev));
    assert_true(matches("{duration: {le: 2500ms}}", &ev));
    assert_true(matches("{start_time_ns: {lt: 2000000000}}", &ev));
    assert_true(matches("{attributes.http.status_code: {ge: 400, lt: 500}}", &ev));
    assert_true(matches("{attributes.http.status_code: 401}", &ev));
    assert_true(matches("{attributes.http.status_code: 401.0}", &ev));
    assert_true(matches("{attributes.ratio: {gt: 0.2, lt: 1}}", &ev));
    assert_true(matches("{attributes.ratio: 0.25}", &ev));
    /* A span has no severity: no comparison matches. */
    assert_false(matches("{severity: {ge: 0}}", &ev));
    event_log(&ev, 0);
    assert_true(matches("{severity: {ge: WARN}}", &ev));
    assert_true(matches("{severity: warn}", &ev));
    assert_false(matches("{severity: {ge: error}}", &ev));
    assert_true(matches("{severity_number: {gt: 12, lt: 14}}", &ev));
    assert_true(matches("{severity_text: WARN}", &ev));
    avro_value_decref(&ev);
}

/* Types the data decides: a literal's YAML type must equal the attribute's. */
static void test_router_runtime_type_mismatch(void **state)
{
    (void)state;
    avro_value_t ev;
    assert_int_equal(bc_avro_value_new(te, &ev), 0);
    event_span(&ev);
    /* A quoted literal is a string: the long 401 is not the string "401". */
    assert_false(matches("{attributes.http.status_code: \"401\"}", &ev));
    /* An unquoted number is not the string attribute "POST", nor compares with it. */
    assert_false(matches("{attributes.http.method: 1}", &ev));
    assert_false(matches("{attributes.http.method: {gt: 1}}", &ev));
    assert_true(matches("{attributes.http.method: {ne: 1}}", &ev));
    /* Booleans: true is not the string "true" nor 1. */
    assert_true(matches("{attributes.retry: true}", &ev));
    assert_false(matches("{attributes.retry: \"true\"}", &ev));
    assert_false(matches("{attributes.retry: 1}", &ev));
    assert_false(matches("{attributes.ip: true}", &ev));
    /* Unquoted text that is no number or boolean is a string. */
    assert_true(matches("{attributes.http.method: POST}", &ev));
    /* A regex on a number: no match. */
    assert_false(matches("{attributes.ratio: {regex: \"0\"}}", &ev));
    avro_value_decref(&ev);
}

static void test_router_combinators(void **state)
{
    (void)state;
    avro_value_t ev;
    assert_int_equal(bc_avro_value_new(te, &ev), 0);
    event_span(&ev);
    assert_true(matches("{all: [{kind: span}, {service: auth}]}", &ev));
    assert_false(matches("{all: [{kind: span}, {service: cart}]}", &ev));
    assert_true(matches("{any: [{service: cart}, {status: error}]}", &ev));
    assert_false(matches("{any: [{service: cart}, {status: ok}]}", &ev));
    assert_true(matches("{not: {service: cart}}", &ev));
    assert_false(matches("{not: {service: auth}}", &ev));
    /* Several keys in one map: all must hold. */
    assert_false(matches("{kind: span, service: cart}", &ev));
    /* Nesting. */
    assert_true(matches("{any: [{all: [{kind: log}, {severity: {ge: error}}]}, "
                        "{all: [{kind: span}, {not: {status: ok}}, "
                        "{any: [{duration: {gt: 2s}}, {tier: tier-1}]}]}]}",
                        &ev));
    assert_true(matches("{all: []}", &ev)); /* empty all: true */
    assert_false(matches("{any: []}", &ev)); /* empty any: false */
    avro_value_decref(&ev);
}

/* Types the YAML shows: errors at the literal's position. */
static void test_router_compile_type_errors(void **state)
{
    (void)state;
    expect_error("{name: {gt: 5}}", "3:23 opts.rules: name: gt compares numbers, but name is a "
                                    "string field");
    expect_error("{duration: {prefix: x}}", "3:31 opts.rules: duration: prefix needs a string "
                                            "field");
    expect_error("{duration: {gt: 5}}", "expected a duration such as 250ms or 2s, got '5'");
    expect_error("{start_time_ns: abc}", "3:27 opts.rules: start_time_ns: expected a number, "
                                         "got 'abc'");
    expect_error("{kind: trace}", "3:18 opts.rules: kind: 'trace' is not one of SPAN, LOG, "
                                  "EVENT");
    expect_error("{kind: {prefix: s}}", "kind: prefix does not apply to kind");
    expect_error("{severity: {ge: loud}}", "expected a severity number or one of TRACE");
    expect_error("{attributes.x: {gt: abc}}", "attributes.x: gt compares numbers, got 'abc'");
    expect_error("{attributes.x: {lt: \"5\"}}", "lt compares numbers, got the string '5'");
    expect_error("{attributes.x: {ge: true}}", "ge compares numbers, got true");
    expect_error("{flags: {prefix: c}}", "flags: prefix does not apply to a list of strings");
    expect_error("{name: {regex: \"a(b\"}}", "name: bad regex 'a(b'");
    expect_error("{name: {exists: yes}}", "name: exists must be true or false");
    expect_error("{name: {in: x}}", "name: in wants a non-empty list, got a scalar");
    expect_error("{name: {in: []}}", "name: in wants a non-empty list, got an empty list");
    expect_error("{name: {like: x}}", "3:19 opts.rules: name: unknown operator 'like'");
    expect_error("{name: {eq: [a]}}", "name: eq wants a single value, got a list");
    expect_error("{name: ~}", "write `exists: false` to match a missing field");
    expect_error("{name: {}}", "name: an empty map of operators");
    expect_error("{nmae: x}", "3:12 opts.rules: unknown field 'nmae'");
    expect_error("{attributes.: x}", "field 'attributes.' needs an attribute key");
    expect_error("{scope: x}", "unknown field 'scope'");
    expect_error("{all: {kind: span}}", "all must be a list of conditions, got a map");
    expect_error("{any: [kind]}", "a condition must be a map, got a scalar");
    expect_error("{not: [{kind: span}]}", "a condition must be a map, got a list");
    expect_error("kind", "3:11 opts.rules: when must be a map of conditions, got a scalar");
}

/* ---- rules and routing -------------------------------------------------------------- */

static const char *const default_rules =
    "mode: first_match\n"
    "rules:\n"
    "  - name: security\n"
    "    when:\n"
    "      any:\n"
    "        - {kind: event, name: user.login}\n"
    "        - {kind: log, attributes.security.event: {exists: true}}\n"
    "    to: sink.security\n"
    "  - name: billing\n"
    "    when: {kind: event, name: billing.charge}\n"
    "    to: sink.billing\n"
    "    key: attributes.idempotency_key\n"
    "    drop: [attributes.customer_email]\n"
    "  - name: traces\n"
    "    when: {kind: span}\n"
    "    to: sink.traces\n"
    "  - name: logs\n"
    "    when: {kind: log}\n"
    "    to: sink.logs\n"
    "default: sink.default\n"
    "sinks:\n"
    "  sink.logs: {format: json}\n";

static const char *routed_to(struct router_table *t, avro_value_t *ev,
                             struct router_decision *d)
{
    assert_int_equal(router_route(t, ev, d), 0);
    assert_int_equal(d->n, 1);
    return router_table_target(t, d->copies[0].target)->topic;
}

static void test_router_first_match(void **state)
{
    (void)state;
    struct router_table *t = compile_ok(default_rules);
    struct router_decision *d = router_decision_new(t);
    avro_value_t ev;
    assert_int_equal(bc_avro_value_new(te, &ev), 0);
    assert_int_equal(router_table_target_count(t), 5);
    assert_int_equal(router_table_target(t, 3)->format, ROUTER_FORMAT_JSON);
    assert_int_equal(router_table_target(t, 0)->format, ROUTER_FORMAT_AVRO);

    event_span(&ev);
    assert_string_equal(routed_to(t, &ev, d), "sink.traces");
    assert_string_equal(router_rule_name(d->copies[0].rule), "traces");
    event_log(&ev, 0);
    assert_string_equal(routed_to(t, &ev, d), "sink.logs");
    event_log(&ev, 1);
    assert_string_equal(routed_to(t, &ev, d), "sink.security");
    event_flat(&ev, "user.login");
    assert_string_equal(routed_to(t, &ev, d), "sink.security");
    event_flat(&ev, "billing.charge");
    assert_string_equal(routed_to(t, &ev, d), "sink.billing");
    event_flat(&ev, "order.placed");
    assert_string_equal(routed_to(t, &ev, d), "sink.default");
    assert_null(d->copies[0].rule);
    assert_null(d->dropped_by);
    assert_int_equal(d->unmatched_dlq, 0);

    /* Counters: every match counted on its rule. */
    assert_int_equal(router_rule_matched(router_table_rule(t, 0)), 2);
    assert_int_equal(router_rule_matched(router_table_rule(t, 1)), 1);
    assert_int_equal(router_rule_matched(router_table_rule(t, 2)), 1);
    assert_int_equal(router_rule_matched(router_table_rule(t, 3)), 1);
    router_decision_destroy(d);
    router_table_destroy(t);
    avro_value_decref(&ev);
}

static void test_router_fan_out(void **state)
{
    (void)state;
    struct router_table *t = compile_ok("mode: all_matches\n"
                                        "rules:\n"
                                        "  - {name: errors, when: {status: error}, to: [a, b]}\n"
                                        "  - {name: auth, when: {service: auth}, to: [b, c]}\n"
                                        "  - {name: all, to: d}\n"
                                        "  - {name: health, when: {name: health}, action: drop}\n"
                                        "  - {name: late, to: e}\n"
                                        "unmatched: dlq\n");
    struct router_decision *d = router_decision_new(t);
    avro_value_t ev;
    assert_int_equal(bc_avro_value_new(te, &ev), 0);
    event_span(&ev);
    assert_int_equal(router_route(t, &ev, d), 0);
    /* b once, from the first rule that wanted it. */
    const char *want[] = {"a", "b", "c", "d", "e"};
    const char *rule[] = {"errors", "errors", "auth", "all", "late"};
    assert_int_equal(d->n, 5);
    for (size_t i = 0; i < 5; i++) {
        assert_string_equal(router_table_target(t, d->copies[i].target)->topic, want[i]);
        assert_string_equal(router_rule_name(d->copies[i].rule), rule[i]);
    }
    /* A drop rule ends the evaluation; copies before it stand. */
    assert_int_equal(bc_event_set_string(&ev, BC_EV_NAME, "health", 6), 0);
    assert_int_equal(router_route(t, &ev, d), 0);
    assert_int_equal(d->n, 4);
    assert_null(d->dropped_by);
    router_decision_destroy(d);
    router_table_destroy(t);
    avro_value_decref(&ev);
}

static void test_router_drop_and_unmatched(void **state)
{
    (void)state;
    struct router_table *t = compile_ok("rules:\n"
                                        "  - {name: health, when: {name: {prefix: GET /health}}, "
                                        "action: drop}\n"
                                        "  - {name: spans, when: {kind: span}, to: t}\n"
                                        "unmatched: dlq\n");
    struct router_decision *d = router_decision_new(t);
    avro_value_t ev;
    assert_int_equal(bc_avro_value_new(te, &ev), 0);
    assert_int_equal(router_table_default(t), -1);
    event_span(&ev);
    assert_int_equal(bc_event_set_string(&ev, BC_EV_NAME, "GET /health", 11), 0);
    assert_int_equal(router_route(t, &ev, d), 0);
    assert_int_equal(d->n, 0);
    assert_non_null(d->dropped_by);
    assert_string_equal(router_rule_name(d->dropped_by), "health");
    assert_true(router_rule_is_drop(d->dropped_by));
    event_log(&ev, 0);
    assert_int_equal(router_route(t, &ev, d), 0);
    assert_int_equal(d->n, 0);
    assert_null(d->dropped_by);
    assert_int_equal(d->unmatched_dlq, 1);
    router_decision_destroy(d);
    router_table_destroy(t);
    avro_value_decref(&ev);
}

/* Whole-table errors: rule keys, targets, unreachable rules, default and sinks. */
static void test_router_table_errors(void **state)
{
    (void)state;
    struct {
        const char *yaml;
        const char *want;
    } cases[] = {
        {"rules:\n  - {name: a, to: x}\n  - {name: b, when: {kind: span}, to: y}\ndefault: z\n",
         "3:12 opts.rules: rule 'b' is unreachable: rule 'a' (line 2) matches everything "
         "before it"},
        {"rules:\n  - {name: a, when: {}, to: x}\n  - {name: b, to: y}\ndefault: z\n",
         "3:12 opts.rules: rule 'b' is unreachable: rule 'a' (line 2)"},
        {"mode: all_matches\nrules:\n  - {name: a, action: drop}\n  - {name: b, to: y}\n"
         "default: z\n",
         "4:12 opts.rules: rule 'b' is unreachable: rule 'a' (line 3) matches everything "
         "before it and drops it"},
        {"rules:\n  - {name: a, action: drop, to: x}\ndefault: z\n",
         "2:33 opts.rules: rule 'a' drops its records: it has no `to`"},
        {"rules:\n  - {name: a, when: {kind: span}}\ndefault: z\n",
         "2:5 opts.rules: rule 'a': missing required key 'to' (or `action: drop`)"},
        {"rules:\n  - {name: a, action: skip, to: x}\ndefault: z\n",
         "2:23 opts.rules: action must be route or drop"},
        {"rules:\n  - {name: a, to: x, then: stop}\ndefault: z\n",
         "2:22 unknown key 'then' in a router rule"},
        {"rules:\n  - {name: a, to: x, key: nope}\ndefault: z\n",
         "2:27 opts.rules: unknown field 'nope'"},
        {"rules:\n  - {name: a, to: x, drop: [event_id]}\ndefault: z\n",
         "2:29 opts.rules: drop: cannot drop event_id: every TrackingEvent has it"},
        {"rules:\n  - {name: a, to: x, drop: [scope.name]}\ndefault: z\n",
         "drop: cannot drop scope.name: drop the whole record field"},
        {"rules:\n  - {name: a, action: drop, drop: [body]}\ndefault: z\n",
         "rule 'a' drops its records: a projection (drop: fields) has no use"},
        {"rules:\n  - {name: a, to: []}\ndefault: z\n", "rule 'a': `to` lists no topic"},
        {"rules:\n  - {name: a, to: x}\nunmatched: default\n",
         "opts: unmatched: default needs a default topic"},
        {"rules:\n  - {name: a, to: x}\nunmatched: dlq\ndefault: z\n",
         "4:10 opts: default: is unused with unmatched: dlq"},
        {"rules:\n  - {name: a, to: x}\ndefault: z\nsinks:\n  y: {format: json}\n",
         "5:3 opts: sinks.y: no rule and not the default writes this topic"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct bc_errors errs = {0};
        struct router_table *t = compile(cases[i].yaml, &errs);
        assert_null(t);
        assert_true(errs.n >= 1);
        char got[1024];
        snprintf(got, sizeof(got), "%d:%d %s", errs.v[0].line, errs.v[0].column,
                 errs.v[0].message);
        if (strstr(got, cases[i].want) == NULL) {
            fprintf(stderr, "case %zu: want '%s' in '%s'\n", i, cases[i].want, got);
        }
        assert_non_null(strstr(got, cases[i].want));
        bc_errors_clear(&errs);
    }
    /* all_matches: a catch-all that routes hides nothing. */
    router_table_destroy(
        compile_ok("mode: all_matches\nrules:\n  - {name: a, to: x}\n  - {name: b, to: y}\n"
                   "unmatched: dlq\n"));
}

/* Through `breadcrumb validate`'s loader: undeclared targets at file:line:column. */
static void test_router_validate_topology(void **state)
{
    (void)state;
    const char *text = "pipeline: shop\n"
                       "topics: {shop.in: {}, sink.a: {}, shop.dlq: {}}\n"
                       "workers:\n"
                       "  router:\n"
                       "    input: shop.in\n"
                       "    options:\n"
                       "      rules:\n"
                       "        - {name: a, when: {kind: span}, to: [sink.a, sink.nope]}\n"
                       "        - {name: b, when: {nmae: x}, to: sink.a}\n"
                       "        - {name: c, to: sink.a}\n"
                       "        - {name: d, when: {kind: log}, to: sink.a}\n"
                       "      default: sink.a\n";
    struct bc_errors errs = {0};
    assert_null(bc_config_load_string("t.yaml", text, strlen(text), &errs));
    bc_errors_sort(&errs);
    assert_int_equal(errs.n, 3);
    assert_int_equal(errs.v[0].line, 8);
    assert_int_equal(errs.v[0].column, 54);
    assert_string_equal(errs.v[0].message,
                        "workers.router.options.rules: topic 'sink.nope' is not declared in "
                        "topics");
    assert_int_equal(errs.v[1].line, 9);
    assert_int_equal(errs.v[1].column, 28);
    assert_non_null(strstr(errs.v[1].message, "unknown field 'nmae'"));
    assert_int_equal(errs.v[2].line, 11);
    assert_int_equal(errs.v[2].column, 18);
    assert_string_equal(errs.v[2].message,
                        "workers.router.options.rules: rule 'd' is unreachable: rule 'c' (line "
                        "10) matches everything before it");
    bc_errors_clear(&errs);

    /* Routing to its own input would loop. */
    const char *loop = "pipeline: shop\n"
                       "topics: {shop.in: {}, sink.a: {}}\n"
                       "workers:\n"
                       "  router:\n"
                       "    input: shop.in\n"
                       "    options:\n"
                       "      rules: [{name: a, when: {kind: span}, to: [sink.a, shop.in]}]\n"
                       "      default: shop.in\n";
    assert_null(bc_config_load_string("loop.yaml", loop, strlen(loop), &errs));
    bc_errors_sort(&errs);
    assert_int_equal(errs.n, 2);
    assert_int_equal(errs.v[0].line, 7);
    assert_int_equal(errs.v[0].column, 58);
    assert_string_equal(errs.v[0].message,
                        "workers.router.options.rules: topic 'shop.in' is the router's input: "
                        "its copies would be routed again, forever");
    assert_int_equal(errs.v[1].line, 8);
    assert_int_equal(errs.v[1].column, 16);
    assert_string_equal(errs.v[1].message,
                        "workers.router.options: topic 'shop.in' is the router's input: its "
                        "copies would be routed again, forever");
    bc_errors_clear(&errs);
}

/* ---- keys and projections ----------------------------------------------------------- */

static void test_router_key(void **state)
{
    (void)state;
    struct router_table *t = compile_ok("rules:\n"
                                        "  - {name: a, when: {kind: event}, to: x, key: "
                                        "attributes.idempotency_key}\n"
                                        "  - {name: b, when: {kind: log}, to: x, key: kind}\n"
                                        "  - {name: c, when: {service: auth}, to: x, key: "
                                        "attributes.http.status_code}\n"
                                        "  - {name: d, to: x}\n"
                                        "default: x\n");
    avro_value_t ev;
    char buf[64];
    assert_int_equal(bc_avro_value_new(te, &ev), 0);
    event_flat(&ev, "billing.charge");
    assert_int_equal(router_rule_key(router_table_rule(t, 0), &ev, buf, sizeof(buf)), 27);
    assert_string_equal(buf, "ch_00aa11bb22cc33dd44ee55ff");
    assert_int_equal(router_rule_key(router_table_rule(t, 0), &ev, buf, 10), -1); /* too long */
    assert_int_equal(router_rule_key(router_table_rule(t, 1), &ev, buf, sizeof(buf)), 5);
    assert_string_equal(buf, "EVENT");
    event_span(&ev);
    assert_int_equal(router_rule_key(router_table_rule(t, 2), &ev, buf, sizeof(buf)), 3);
    assert_string_equal(buf, "401");
    /* Absent field, no key field: keep the input's key. */
    assert_int_equal(router_rule_key(router_table_rule(t, 0), &ev, buf, sizeof(buf)), -1);
    assert_int_equal(router_rule_key(router_table_rule(t, 3), &ev, buf, sizeof(buf)), -1);
    assert_int_equal(router_rule_key(NULL, &ev, buf, sizeof(buf)), -1);
    router_table_destroy(t);
    avro_value_decref(&ev);
}

static int has_key(avro_value_t *ev, enum bc_event_field field, const char *key)
{
    avro_value_t kvs, any;
    assert_int_equal(bc_event_field(ev, field, &kvs), 0);
    return bc_event_kv_find(&kvs, key, &any) == 0;
}

static void test_router_projection(void **state)
{
    (void)state;
    struct router_table *t =
        compile_ok("mode: all_matches\n"
                   "rules:\n"
                   "  - name: a\n"
                   "    to: x\n"
                   "    drop: [attributes.ip, attributes.http.*, resource.host.name, body,\n"
                   "           trace_id, flags, status.message, deploy, tier]\n"
                   "  - {name: b, to: y, drop: [attributes, resource_attributes]}\n"
                   "default: z\n");
    avro_value_t ev, scratch;
    assert_int_equal(bc_avro_value_new(te, &ev), 0);
    assert_int_equal(bc_avro_value_new(te, &scratch), 0);
    event_log(&ev, 1);
    const struct router_rule *a = router_table_rule(t, 0);
    assert_true(router_rule_projects(a));
    avro_value_t *out = router_rule_project(a, &ev, &scratch);
    assert_ptr_equal(out, &scratch);
    assert_false(has_key(out, BC_EV_ATTRIBUTES, "ip"));
    assert_false(has_key(out, BC_EV_ATTRIBUTES, "http.method"));
    assert_false(has_key(out, BC_EV_ATTRIBUTES, "http.status_code"));
    assert_true(has_key(out, BC_EV_ATTRIBUTES, "ratio"));
    assert_true(has_key(out, BC_EV_ATTRIBUTES, "security.event"));
    assert_false(has_key(out, BC_EV_RESOURCE_ATTRIBUTES, "host.name"));
    assert_true(has_key(out, BC_EV_RESOURCE_ATTRIBUTES, "service.name"));
    size_t len;
    assert_null(bc_event_get_string(out, BC_EV_TRACE_ID, &len));
    assert_null(bc_event_get_string(out, BC_EV_TIER, &len));
    assert_string_equal(bc_event_get_string(out, BC_EV_TEAM, &len), "identity");
    avro_value_t f;
    assert_int_equal(bc_event_field(out, BC_EV_FLAGS, &f), 0);
    assert_int_equal(avro_value_get_size(&f, &len), 0);
    assert_int_equal(len, 0);
    /* The original is untouched. */
    assert_true(has_key(&ev, BC_EV_ATTRIBUTES, "ip"));
    assert_non_null(bc_event_get_string(&ev, BC_EV_TRACE_ID, &len));
    /* The projection encodes, and again (scratch reused) gives the same bytes. */
    struct bc_avro_buf b1 = {0}, b2 = {0};
    char errstr[256];
    assert_int_equal(bc_avro_encode(te, out, &b1, errstr, sizeof(errstr)), 0);
    out = router_rule_project(a, &ev, &scratch);
    assert_int_equal(bc_avro_encode(te, out, &b2, errstr, sizeof(errstr)), 0);
    assert_int_equal(b1.len, b2.len);
    assert_memory_equal(b1.data, b2.data, b1.len);
    /* Whole lists. */
    out = router_rule_project(router_table_rule(t, 1), &ev, &scratch);
    assert_int_equal(bc_event_field(out, BC_EV_ATTRIBUTES, &f), 0);
    assert_int_equal(avro_value_get_size(&f, &len), 0);
    assert_int_equal(len, 0);
    assert_int_equal(bc_event_field(out, BC_EV_RESOURCE_ATTRIBUTES, &f), 0);
    assert_int_equal(avro_value_get_size(&f, &len), 0);
    assert_int_equal(len, 0);
    /* No projection: the event itself. */
    struct router_table *plain = compile_ok("rules: [{name: a, to: x}]\ndefault: x\n");
    assert_ptr_equal(router_rule_project(router_table_rule(plain, 0), &ev, &scratch), &ev);
    assert_ptr_equal(router_rule_project(NULL, &ev, &scratch), &ev);
    router_table_destroy(plain);
    bc_avro_buf_free(&b1);
    bc_avro_buf_free(&b2);
    router_table_destroy(t);
    avro_value_decref(&scratch);
    avro_value_decref(&ev);
}

/* README's router examples compile (the worker snippet aside, which is the default
 * topology's and validated with it). */
static void test_router_readme_examples(void **state)
{
    (void)state;
    char path[4096];
    const char *root = getenv("BC_ROOT");
    snprintf(path, sizeof(path), "%s/README.md", root ? root : ".");
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    static char text[1 << 20];
    size_t n = fread(text, 1, sizeof(text) - 1, f);
    fclose(f);
    text[n] = '\0';
    char *p = strstr(text, "<!-- section: router -->");
    assert_non_null(p);
    char *end = strstr(p + 1, "<!-- section:"); /* the router section only */
    assert_non_null(end);
    int compiled = 0;
    while ((p = strstr(p, "```yaml\n")) != NULL && p < end) {
        p += 8;
        char *close = strstr(p, "```");
        assert_non_null(close);
        *close = '\0';
        if (strstr(p, "input:") == NULL) {
            router_table_destroy(compile_ok(p));
            compiled++;
        }
        p = close + 3;
    }
    assert_int_equal(compiled, 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_router_eq_ne),
        cmocka_unit_test(test_router_in_lists),
        cmocka_unit_test(test_router_string_ops),
        cmocka_unit_test(test_router_exists),
        cmocka_unit_test(test_router_numeric),
        cmocka_unit_test(test_router_runtime_type_mismatch),
        cmocka_unit_test(test_router_combinators),
        cmocka_unit_test(test_router_compile_type_errors),
        cmocka_unit_test(test_router_first_match),
        cmocka_unit_test(test_router_fan_out),
        cmocka_unit_test(test_router_drop_and_unmatched),
        cmocka_unit_test(test_router_table_errors),
        cmocka_unit_test(test_router_validate_topology),
        cmocka_unit_test(test_router_key),
        cmocka_unit_test(test_router_projection),
        cmocka_unit_test(test_router_readme_examples),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
