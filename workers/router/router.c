/*
 * The router stage (DESIGN §6): the pipeline's last hop. Decodes each TrackingEvent, routes
 * it with the rule table compiled once at init (rules.h), and writes one copy per target
 * topic (Avro in the Confluent wire format, or JSON for sinks configured so), with the
 * rule's key and projection. Nothing is dropped silently: a record no rule matched goes to
 * the default topic or the DLQ ("unrouted"); a `drop` rule writes a Fate naming the rule
 * ("rule:<name>"); an undecodable record is dead-lettered ("undecodable"). Every outcome is
 * counted per rule and per target, exported on /metrics (breadcrumb_router_routes_total by
 * rule and action, breadcrumb_router_copies_total by topic) and logged at shutdown.
 *
 * Metrics: the series are created at init and kept as handles, so counting a record is a
 * relaxed atomic add on this thread; the HTTP thread renders them. Nothing here locks, calls
 * into the HTTP server or waits for it.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bc_config.h"
#include "bc_event.h"
#include "bc_log.h"
#include "bc_stage.h"
#include "workers/router/rules.h"

extern const struct bc_worker_type bc_router_type;

struct router_state {
    const struct bc_avro_registry *reg; /* the runtime's, or own */
    struct bc_avro_registry *own_reg;   /* loaded here when the runtime has none; owned */
    const struct bc_avro_schema *te;
    struct router_table *table;
    struct router_decision *decision;
    avro_value_t event;   /* the decoded input, reused */
    avro_value_t scratch; /* projections, reused */
    int values;           /* event and scratch exist */
    struct bc_avro_buf buf;  /* an Avro copy, reused */
    struct bc_avro_buf json; /* a JSON copy (NUL-terminated), reused */
    uint64_t dropped, unrouted, undecodable;
    struct bc_metric **rule_routes;   /* per rule (new): routed or dropped by it */
    struct bc_metric **target_copies; /* per target (new): copies written */
    struct bc_metric *unmatched_m, *undecodable_m;
};

/* Creates the router's series (all at 0) and keeps their handles. Returns 0, or -1 when
 * out of memory; a series the registry refuses stays NULL (not counted). */
static int metrics_init(struct bc_ctx *ctx, struct router_state *st)
{
    size_t nr = router_table_rule_count(st->table), nt = router_table_target_count(st->table);
    st->rule_routes = calloc(nr > 0 ? nr : 1, sizeof(*st->rule_routes));
    st->target_copies = calloc(nt > 0 ? nt : 1, sizeof(*st->target_copies));
    if (st->rule_routes == NULL || st->target_copies == NULL) {
        return -1;
    }
    char labels[400];
    for (size_t i = 0; i < nr; i++) {
        const struct router_rule *r = router_table_rule(st->table, i);
        snprintf(labels, sizeof(labels), "rule=%s,action=%s", router_rule_name(r),
                 router_rule_is_drop(r) ? "drop" : "route");
        st->rule_routes[i] = bc_metric_counter(ctx, "breadcrumb_router_routes_total", NULL, labels);
    }
    st->unmatched_m = bc_metric_counter(ctx, "breadcrumb_router_routes_total", NULL,
                                        router_table_default(st->table) >= 0
                                            ? "rule=(none),action=default"
                                            : "rule=(none),action=dlq");
    st->undecodable_m = bc_metric_counter(ctx, "breadcrumb_router_routes_total", NULL,
                                          "rule=(none),action=undecodable");
    for (size_t i = 0; i < nt; i++) {
        snprintf(labels, sizeof(labels), "topic=%s", router_table_target(st->table, i)->topic);
        st->target_copies[i] = bc_metric_counter(ctx, "breadcrumb_router_copies_total", NULL,
                                                 labels);
    }
    return 0;
}

/* The routes series of rule r (a handle), found among the table's few rules. */
static struct bc_metric *rule_metric(const struct router_state *st, const struct router_rule *r)
{
    for (size_t i = 0; i < router_table_rule_count(st->table); i++) {
        if (router_table_rule(st->table, i) == r) {
            return st->rule_routes[i];
        }
    }
    return NULL;
}

/* Without a registry from the runtime (started from flags without --schemas): the
 * topology's schemas.dir, else $BREADCRUMB_SCHEMAS, else the schemas/ beside the program's
 * bin/ (as bc_config resolves an empty schemas.dir). */
static void schema_dir(const struct bc_ctx *ctx, char *out, size_t cap)
{
    const struct bc_config *cfg = bc_ctx_config(ctx);
    const char *env = getenv("BREADCRUMB_SCHEMAS");
    if (cfg != NULL && cfg->schemas.dir != NULL && cfg->schemas.dir[0] != '\0') {
        snprintf(out, cap, "%s", cfg->schemas.dir);
        return;
    }
    if (env != NULL && env[0] != '\0') {
        snprintf(out, cap, "%s", env);
        return;
    }
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    exe[n > 0 ? n : 0] = '\0';
    char *slash = strrchr(exe, '/');
    if (slash != NULL) {
        *slash = '\0';
    }
    snprintf(out, cap, "%s/../schemas", n > 0 ? exe : ".");
}

static int router_init(struct bc_ctx *ctx)
{
    struct router_state *st = calloc(1, sizeof(*st));
    if (st == NULL) {
        return BC_FATAL;
    }
    bc_ctx_set_state(ctx, st);
    const struct bc_values *opts = bc_ctx_options(ctx);
    const struct bc_config *cfg = bc_ctx_config(ctx);
    char path[300];
    snprintf(path, sizeof(path), "workers.%s.options", bc_ctx_worker(ctx));
    struct bc_errors errs = {0};
    struct bc_check ck = {
        .config = cfg,
        .worker = cfg != NULL ? bc_config_worker(cfg, bc_ctx_worker(ctx)) : NULL,
        .path = path,
        .errs = &errs,
    };
    st->table = opts != NULL ? router_table_compile(&ck, opts) : NULL;
    if (st->table == NULL) {
        for (size_t i = 0; i < errs.n; i++) {
            char where[64];
            snprintf(where, sizeof(where), "%d:%d", errs.v[i].line, errs.v[i].column);
            bc_log(BC_LOG_ERROR, "router rules", "file", errs.v[i].file, "at", where, "error",
                   errs.v[i].message, NULL);
        }
        bc_errors_clear(&errs);
        return BC_FATAL;
    }
    bc_errors_clear(&errs);
    for (size_t i = 0; i < router_table_target_count(st->table); i++) {
        const struct router_target *t = router_table_target(st->table, i);
        if (t->format == ROUTER_FORMAT_AVRO) { /* registered at start */
            bc_ctx_expect_schema(ctx, t->topic, "TrackingEvent");
        }
    }
    st->decision = router_decision_new(st->table);
    if (metrics_init(ctx, st) != 0) {
        return BC_FATAL;
    }

    char dir[4200] = "(the runtime's)", errstr[512];
    st->reg = bc_ctx_registry(ctx);
    if (st->reg == NULL) {
        schema_dir(ctx, dir, sizeof(dir));
        if (bc_avro_registry_load(dir, &st->own_reg, errstr, sizeof(errstr)) != 0) {
            bc_log(BC_LOG_ERROR, "cannot load schemas", "dir", dir, "error", errstr, NULL);
            return BC_FATAL;
        }
        st->reg = st->own_reg;
    }
    st->te = bc_avro_registry_lookup(st->reg, "TrackingEvent");
    if (st->te == NULL || bc_event_check(st->te, errstr, sizeof(errstr)) != 0) {
        bc_log(BC_LOG_ERROR, "no usable TrackingEvent schema", "dir", dir, "error",
               st->te == NULL ? "missing" : errstr, NULL);
        return BC_FATAL;
    }
    if (st->decision == NULL || bc_avro_value_new(st->te, &st->event) != 0) {
        return BC_FATAL;
    }
    if (bc_avro_value_new(st->te, &st->scratch) != 0) {
        avro_value_decref(&st->event);
        return BC_FATAL;
    }
    st->values = 1;
    return BC_OK;
}

/* Encodes one copy in the target's format into *out, *out_len (st->buf or st->json: reused).
 * JSON is written as text straight from the value (the bytes json_dumps of bc_avro_to_json
 * gives), without a JSON tree per copy. An Avro copy of the whole event (no projection) of
 * an input the encoder would write byte for byte (`canonical`: bc_avro_decode_canonical) is
 * the input's bytes `data`, not encoded again. Returns 0, or -1 with errstr. */
static int encode(struct router_state *st, const struct router_target *target,
                  avro_value_t *value, const void *data, size_t len, int canonical,
                  const void **out, size_t *out_len, char *errstr, size_t errstr_size)
{
    if (target->format == ROUTER_FORMAT_AVRO) {
        if (canonical && value == &st->event) {
            *out = data;
            *out_len = len;
            return 0;
        }
        if (bc_avro_encode(st->te, value, &st->buf, errstr, errstr_size) != 0) {
            return -1;
        }
        *out = st->buf.data;
        *out_len = st->buf.len;
        return 0;
    }
    if (bc_avro_to_json_text(st->te, value, BC_AVRO_JSON_OTLP, &st->json) != 0) {
        snprintf(errstr, errstr_size, "cannot convert the event to JSON");
        return -1;
    }
    *out = st->json.data;
    *out_len = st->json.len;
    return 0;
}

static int router_process(struct bc_ctx *ctx, const struct bc_record *rec)
{
    struct router_state *st = bc_ctx_state(ctx);
    char errstr[512];
    size_t len, in_key_len;
    const void *data = bc_record_value(rec, &len);
    const void *in_key = bc_record_key(rec, &in_key_len);
    int canonical = 0;
    if (data == NULL || bc_avro_decode_canonical(st->reg, st->te, data, len, &st->event,
                                                 &canonical, errstr, sizeof(errstr)) != 0) {
        st->undecodable++;
        bc_metric_add(st->undecodable_m, 1);
        return bc_dead_letter(ctx, rec, "undecodable",
                              data == NULL ? "null value" : errstr);
    }
    struct router_decision *d = st->decision;
    router_route(st->table, &st->event, d);
    if (d->dropped_by != NULL) {
        char reason[300];
        snprintf(reason, sizeof(reason), "rule:%s", router_rule_name(d->dropped_by));
        size_t id_len;
        struct bc_fate fate = {
            .kind = BC_FATE_DROPPED,
            .reason = reason,
            .policy = router_rule_name(d->dropped_by),
            .event_id = bc_event_get_string(&st->event, BC_EV_EVENT_ID, &id_len),
        };
        st->dropped++;
        bc_metric_add(rule_metric(st, d->dropped_by), 1);
        return bc_drop_fate(ctx, rec, NULL, &fate);
    }
    if (d->unmatched_dlq) {
        st->unrouted++;
        bc_metric_add(st->unmatched_m, 1);
        return bc_dead_letter(ctx, rec, "unrouted", "no rule matched");
    }
    for (size_t i = 0; i < d->n; i++) {
        const struct router_rule *rule = d->copies[i].rule;
        if (i == 0 || rule != d->copies[i - 1].rule) { /* copies are in rule order */
            bc_metric_add(rule != NULL ? rule_metric(st, rule) : st->unmatched_m, 1);
        }
        struct router_target *target = router_table_target(st->table, d->copies[i].target);
        avro_value_t *value = router_rule_project(rule, &st->event, &st->scratch);
        const void *out = NULL;
        size_t out_len = 0;
        if (value == NULL || encode(st, target, value, data, len, canonical, &out, &out_len,
                                    errstr, sizeof(errstr)) != 0) {
            bc_log(BC_LOG_ERROR, "cannot encode a routed copy", "topic", target->topic,
                   "error", value == NULL ? "projection failed" : errstr, NULL);
            return BC_FATAL;
        }
        char key[512];
        int key_len = router_rule_key(rule, &st->event, key, sizeof(key));
        int rc = bc_emit_topic(ctx, rec, target->topic, key_len >= 0 ? key : in_key,
                               key_len >= 0 ? (size_t)key_len : in_key_len, out, out_len, NULL);
        if (rc != BC_OK) {
            return rc;
        }
        target->written++;
        bc_metric_add(st->target_copies[d->copies[i].target], 1);
    }
    return BC_OK;
}

static void log_counts(const struct router_state *st)
{
    char n[32];
    for (size_t i = 0; i < router_table_rule_count(st->table); i++) {
        const struct router_rule *r = router_table_rule(st->table, i);
        snprintf(n, sizeof(n), "%" PRIu64, router_rule_matched(r));
        bc_log(BC_LOG_INFO, "router rule", "rule", router_rule_name(r), "matched", n,
               "action", router_rule_is_drop(r) ? "drop" : "route", NULL);
    }
    for (size_t i = 0; i < router_table_target_count(st->table); i++) {
        const struct router_target *t =
            router_table_target((struct router_table *)st->table, i);
        snprintf(n, sizeof(n), "%" PRIu64, t->written);
        bc_log(BC_LOG_INFO, "router sink", "topic", t->topic, "written", n, NULL);
    }
    char dropped[32], unrouted[32], undecodable[32];
    snprintf(dropped, sizeof(dropped), "%" PRIu64, st->dropped);
    snprintf(unrouted, sizeof(unrouted), "%" PRIu64, st->unrouted);
    snprintf(undecodable, sizeof(undecodable), "%" PRIu64, st->undecodable);
    bc_log(BC_LOG_INFO, "router totals", "dropped", dropped, "unrouted", unrouted,
           "undecodable", undecodable, NULL);
}

static void router_fini(struct bc_ctx *ctx)
{
    struct router_state *st = bc_ctx_state(ctx);
    if (st == NULL) {
        return;
    }
    if (st->table != NULL) {
        log_counts(st);
    }
    if (st->values) {
        avro_value_decref(&st->event);
        avro_value_decref(&st->scratch);
    }
    bc_avro_buf_free(&st->buf);
    bc_avro_buf_free(&st->json);
    router_decision_destroy(st->decision);
    router_table_destroy(st->table);
    free(st->rule_routes);
    free(st->target_copies);
    bc_avro_registry_destroy(st->own_reg);
    free(st);
    bc_ctx_set_state(ctx, NULL);
}

const struct bc_stage router_stage = {
    .name = "router",
    .type = &bc_router_type,
    .init = router_init,
    .process = router_process,
    .fini = router_fini,
};
