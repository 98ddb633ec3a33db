/*
 * router_bench TOPOLOGY [WORKER] [N]: the router's per-record cost with the topology's rules
 * (compiled once, as the worker does): route only, and decode + route + encode as the stage
 * does per copy, over a mix of spans, logs and events that reach every rule. Prints
 * MEASURED lines; values and buffers are reused as in the worker.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bc_config.h"
#include "bc_event.h"
#include "workers/router/rules.h"

#define KINDS 5

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void attr(avro_value_t *kvs, const char *key, const char *value)
{
    avro_value_t any;
    bc_event_kv_append(kvs, key, strlen(key), &any);
    bc_any_set_string(&any, value, strlen(value));
}

/* Kind i of the mix: a span, a log, a security log, a login, a billing charge. */
static void build(avro_value_t *ev, int i)
{
    static const int kinds[KINDS] = {BC_EVENT_SPAN, BC_EVENT_LOG, BC_EVENT_LOG, BC_EVENT_EVENT,
                                     BC_EVENT_EVENT};
    static const char *const names[KINDS] = {"GET /cart/{id}", "", "", "user.login",
                                             "billing.charge"};
    avro_value_t attrs, res, any;
    bc_event_clear(ev);
    bc_event_set_string(ev, BC_EV_EVENT_ID, "0123456789abcdef0123456789abcdef", 32);
    bc_event_set_enum(ev, BC_EV_KIND, kinds[i]);
    bc_event_set_string(ev, BC_EV_TRACE_ID, "4bf92f3577b34da6a3ce929d0e0e4736", 32);
    bc_event_set_string(ev, BC_EV_NAME, names[i], strlen(names[i]));
    bc_event_set_string(ev, BC_EV_SERVICE, "cart", 4);
    bc_event_set_long(ev, BC_EV_START_TIME_NS, 1700000000000000000);
    bc_event_set_long(ev, BC_EV_END_TIME_NS, 1700000000100000000);
    bc_event_set_status(ev, BC_STATUS_OK, "", 0);
    bc_event_set_source(ev, "tracking.raw", 0, 42, 0);
    bc_event_field(ev, BC_EV_ATTRIBUTES, &attrs);
    attr(&attrs, "http.method", "GET");
    attr(&attrs, "http.route", "/cart/{id}");
    attr(&attrs, "net.peer.name", "gateway.shop.internal");
    attr(&attrs, "user.id", "u-000123");
    attr(&attrs, "idempotency_key", "ch_0123456789abcdef");
    bc_event_kv_append(&attrs, "http.status_code", 16, &any);
    bc_any_set_long(&any, 200);
    if (i == 2) {
        attr(&attrs, "security.event", "login.failure");
    }
    bc_event_field(ev, BC_EV_RESOURCE_ATTRIBUTES, &res);
    attr(&res, "service.name", "cart");
    attr(&res, "service.version", "1.4.2");
    attr(&res, "host.name", "cart-7f9c");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: router_bench TOPOLOGY [WORKER] [N]\n");
        return 2;
    }
    const char *worker = argc > 2 ? argv[2] : "router";
    long n = argc > 3 ? atol(argv[3]) : 500000;
    struct bc_errors errs = {0};
    struct bc_config *cfg = bc_config_load(argv[1], &errs);
    if (cfg == NULL) {
        bc_errors_print(&errs, stderr);
        return 1;
    }
    const struct bc_worker *w = bc_config_worker(cfg, worker);
    if (w == NULL) {
        fprintf(stderr, "no worker %s\n", worker);
        return 1;
    }
    struct bc_check ck = {.config = cfg, .worker = w, .path = "options", .errs = &errs};
    struct router_table *table = router_table_compile(&ck, w->options);
    struct bc_avro_registry *reg = NULL;
    char errstr[512];
    if (table == NULL || bc_avro_registry_load(cfg->schemas.dir, &reg, errstr, sizeof(errstr))) {
        bc_errors_print(&errs, stderr);
        fprintf(stderr, "%s\n", table == NULL ? "rules do not compile" : errstr);
        return 1;
    }
    const struct bc_avro_schema *te = bc_avro_registry_lookup(reg, "TrackingEvent");
    struct router_decision *d = router_decision_new(table);
    avro_value_t events[KINDS], ev, scratch;
    struct bc_avro_buf wire[KINDS] = {{0}}, out = {0};
    for (int i = 0; i < KINDS; i++) {
        bc_avro_value_new(te, &events[i]);
        build(&events[i], i);
        if (bc_avro_encode(te, &events[i], &wire[i], errstr, sizeof(errstr)) != 0) {
            fprintf(stderr, "encode: %s\n", errstr);
            return 1;
        }
    }
    bc_avro_value_new(te, &ev);
    bc_avro_value_new(te, &scratch);

    size_t copies = 0;
    double t0 = now_s();
    for (long i = 0; i < n; i++) {
        router_route(table, &events[i % KINDS], d);
        copies += d->n;
    }
    double route_s = now_s() - t0;

    t0 = now_s();
    for (long i = 0; i < n; i++) {
        const struct bc_avro_buf *in = &wire[i % KINDS];
        if (bc_avro_decode(reg, te, in->data, in->len, &ev, errstr, sizeof(errstr)) != 0) {
            fprintf(stderr, "decode: %s\n", errstr);
            return 1;
        }
        router_route(table, &ev, d);
        for (size_t k = 0; k < d->n; k++) {
            avro_value_t *v = router_rule_project(d->copies[k].rule, &ev, &scratch);
            if (v == NULL || bc_avro_encode(te, v, &out, errstr, sizeof(errstr)) != 0) {
                fprintf(stderr, "copy: %s\n", errstr);
                return 1;
            }
        }
    }
    double all_s = now_s() - t0;
    printf("MEASURED router rules of %s: %.0f events/s routed (%zu rules, %.2f copies per "
           "event)\n",
           worker, n / route_s, router_table_rule_count(table), (double)copies / n);
    printf("MEASURED router decode + route + encode (Avro sinks): %.0f events/s\n", n / all_s);

    for (int i = 0; i < KINDS; i++) {
        avro_value_decref(&events[i]);
        bc_avro_buf_free(&wire[i]);
    }
    avro_value_decref(&ev);
    avro_value_decref(&scratch);
    bc_avro_buf_free(&out);
    router_decision_destroy(d);
    router_table_destroy(table);
    bc_avro_registry_destroy(reg);
    bc_config_destroy(cfg);
    bc_errors_clear(&errs);
    return 0;
}
