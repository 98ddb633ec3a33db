/* bc_metrics and bc_http: the exact exposition text, label escaping, type clashes, and the
 * endpoints over real HTTP (libcurl): /metrics, /healthz, /readyz 503 -> 200, 404. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bc_http.h"
#include "bc_metrics.h"

static void test_metrics_exposition_exact(void **state)
{
    (void)state;
    struct bc_metrics *m = bc_metrics_new("norm", "0");
    assert_non_null(m);
    struct bc_metric *in = bc_metrics_get(m, BC_METRIC_COUNTER, "breadcrumb_records_in_total",
                                          "Input records.", NULL);
    struct bc_metric *dlq_a = bc_metrics_get(m, BC_METRIC_COUNTER, "breadcrumb_dlq_total",
                                             "Dead letters\nby reason.", "reason=empty");
    struct bc_metric *lag = bc_metrics_get(m, BC_METRIC_GAUGE, "breadcrumb_lag_records",
                                           "Lag.", "topic=t,partition=3");
    struct bc_metric *dlq_b = bc_metrics_get(m, BC_METRIC_COUNTER, "breadcrumb_dlq_total",
                                             NULL, "reason=say \"x\"\\");
    struct bc_metric *h = bc_metrics_get(m, BC_METRIC_HISTOGRAM, "breadcrumb_commit_seconds",
                                         "Commit latency.", NULL);
    assert_non_null(in);
    assert_non_null(dlq_a);
    assert_non_null(dlq_b);
    assert_non_null(lag);
    assert_non_null(h);
    /* Same name and labels: the same series; another type: refused; bad names: refused. */
    assert_ptr_equal(bc_metrics_get(m, BC_METRIC_COUNTER, "breadcrumb_dlq_total", NULL,
                                    "reason=empty"),
                     dlq_a);
    assert_null(bc_metrics_get(m, BC_METRIC_GAUGE, "breadcrumb_dlq_total", NULL, "reason=x"));
    assert_null(bc_metrics_get(m, BC_METRIC_COUNTER, "9bad", NULL, NULL));
    assert_null(bc_metrics_get(m, BC_METRIC_COUNTER, "ok_total", NULL, "bad-label=1"));
    bc_metric_add(in, 41);
    bc_metric_add(in, 1);
    bc_metric_add(dlq_a, 2);
    bc_metric_add(dlq_b, 1);
    bc_metric_set(lag, 7);
    bc_metric_observe(h, 0.004);
    bc_metric_observe(h, 0.2);
    bc_metric_observe(h, 100);
    char *text = NULL;
    size_t len = 0;
    assert_int_equal(bc_metrics_render(m, &text, &len), 0);
    const char *expect =
        "# HELP breadcrumb_records_in_total Input records.\n"
        "# TYPE breadcrumb_records_in_total counter\n"
        "breadcrumb_records_in_total{worker=\"norm\",instance=\"0\"} 42\n"
        "# HELP breadcrumb_dlq_total Dead letters\\nby reason.\n"
        "# TYPE breadcrumb_dlq_total counter\n"
        "breadcrumb_dlq_total{worker=\"norm\",instance=\"0\",reason=\"empty\"} 2\n"
        "breadcrumb_dlq_total{worker=\"norm\",instance=\"0\",reason=\"say \\\"x\\\"\\\\\"} 1\n"
        "# HELP breadcrumb_lag_records Lag.\n"
        "# TYPE breadcrumb_lag_records gauge\n"
        "breadcrumb_lag_records{worker=\"norm\",instance=\"0\",topic=\"t\",partition=\"3\"} 7\n"
        "# HELP breadcrumb_commit_seconds Commit latency.\n"
        "# TYPE breadcrumb_commit_seconds histogram\n"
        "breadcrumb_commit_seconds_bucket{worker=\"norm\",instance=\"0\",le=\"0.001\"} 0\n"
        "breadcrumb_commit_seconds_bucket{worker=\"norm\",instance=\"0\",le=\"0.0025\"} 0\n"
        "breadcrumb_commit_seconds_bucket{worker=\"norm\",instance=\"0\",le=\"0.005\"} 1\n"
        "breadcrumb_commit_seconds_bucket{worker=\"norm\",instance=\"0\",le=\"0.01\"} 1\n"
        "breadcrumb_commit_seconds_bucket{worker=\"norm\",instance=\"0\",le=\"0.025\"} 1\n"
        "breadcrumb_commit_seconds_bucket{worker=\"norm\",instance=\"0\",le=\"0.05\"} 1\n"
        "breadcrumb_commit_seconds_bucket{worker=\"norm\",instance=\"0\",le=\"0.1\"} 1\n"
        "breadcrumb_commit_seconds_bucket{worker=\"norm\",instance=\"0\",le=\"0.25\"} 2\n"
        "breadcrumb_commit_seconds_bucket{worker=\"norm\",instance=\"0\",le=\"0.5\"} 2\n"
        "breadcrumb_commit_seconds_bucket{worker=\"norm\",instance=\"0\",le=\"1\"} 2\n"
        "breadcrumb_commit_seconds_bucket{worker=\"norm\",instance=\"0\",le=\"2.5\"} 2\n"
        "breadcrumb_commit_seconds_bucket{worker=\"norm\",instance=\"0\",le=\"5\"} 2\n"
        "breadcrumb_commit_seconds_bucket{worker=\"norm\",instance=\"0\",le=\"10\"} 2\n"
        "breadcrumb_commit_seconds_bucket{worker=\"norm\",instance=\"0\",le=\"30\"} 2\n"
        "breadcrumb_commit_seconds_bucket{worker=\"norm\",instance=\"0\",le=\"60\"} 2\n"
        "breadcrumb_commit_seconds_bucket{worker=\"norm\",instance=\"0\",le=\"+Inf\"} 3\n"
        "breadcrumb_commit_seconds_sum{worker=\"norm\",instance=\"0\"} 100.204\n"
        "breadcrumb_commit_seconds_count{worker=\"norm\",instance=\"0\"} 3\n";
    assert_string_equal(text, expect);
    assert_int_equal(len, strlen(expect));
    free(text);
    bc_metrics_destroy(m);
    bc_metrics_destroy(NULL);
}

struct body {
    char buf[65536];
    size_t len;
};

static size_t on_body(char *data, size_t size, size_t n, void *opaque)
{
    struct body *b = opaque;
    size_t len = size * n;
    if (b->len + len < sizeof(b->buf)) {
        memcpy(b->buf + b->len, data, len);
        b->len += len;
        b->buf[b->len] = '\0';
    }
    return len;
}

/* GETs http://127.0.0.1:port/path; returns the status, the body in *b. */
static long get(int port, const char *path, struct body *b)
{
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
    b->len = 0;
    b->buf[0] = '\0';
    CURL *curl = curl_easy_init();
    assert_non_null(curl);
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, b);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, 10L);
    assert_int_equal(curl_easy_perform(curl), CURLE_OK);
    long status = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(curl);
    return status;
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void test_http_endpoints(void **state)
{
    (void)state;
    struct bc_metrics *m = bc_metrics_new("router", "2");
    char errstr[128];
    struct bc_http *http = bc_http_start(m, 0, 1, errstr, sizeof(errstr));
    assert_non_null(http);
    int port = bc_http_port(http);
    assert_true(port > 0);
    struct body *b = calloc(1, sizeof(*b));

    /* Not ready and no heartbeat yet: 503 on both. */
    assert_int_equal(get(port, "/readyz", b), 503);
    assert_string_equal(b->buf, "not ready\n");
    assert_int_equal(get(port, "/healthz", b), 503);
    bc_metrics_heartbeat(m, mono_ms());
    assert_int_equal(get(port, "/healthz", b), 200);
    assert_string_equal(b->buf, "ok\n");
    /* A heartbeat older than the bound: stalled. */
    bc_metrics_heartbeat(m, mono_ms() - BC_HTTP_ALIVE_MS - 5000);
    assert_int_equal(get(port, "/healthz", b), 503);

    bc_metrics_set_ready(m, 1);
    assert_int_equal(get(port, "/readyz", b), 200);
    assert_string_equal(b->buf, "ready\n");
    bc_metrics_set_ready(m, 0); /* a rewind restores the stores again */
    assert_int_equal(get(port, "/readyz", b), 503);

    bc_metric_add(bc_metrics_get(m, BC_METRIC_COUNTER, "breadcrumb_routes_total", "Routes.",
                                 "rule=billing"),
                  5);
    assert_int_equal(get(port, "/metrics", b), 200);
    assert_string_equal(b->buf, "# HELP breadcrumb_routes_total Routes.\n"
                                "# TYPE breadcrumb_routes_total counter\n"
                                "breadcrumb_routes_total{worker=\"router\",instance=\"2\","
                                "rule=\"billing\"} 5\n");
    assert_int_equal(get(port, "/nope", b), 404);
    free(b);
    bc_http_stop(http);
    bc_http_stop(NULL);
    bc_metrics_destroy(m);
}

struct reader {
    struct bc_metrics *m;
    atomic_int stop;
    atomic_long renders;
};

static void *render_loop(void *opaque)
{
    struct reader *r = opaque;
    while (!atomic_load(&r->stop)) {
        char *text;
        size_t len;
        if (bc_metrics_render(r->m, &text, &len) == 0) {
            free(text);
            atomic_fetch_add(&r->renders, 1);
        }
    }
    return NULL;
}

/* The writer (a stage's hot path) never waits for readers: while a thread renders without
 * pause, it creates 200 series and adds a million times; every count arrives exactly. */
static void test_metrics_writer_never_waits(void **state)
{
    (void)state;
    struct bc_metrics *m = bc_metrics_new("router", "0");
    struct reader r = {.m = m};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, render_loop, &r), 0);
    while (atomic_load(&r.renders) == 0) {
        nanosleep(&(struct timespec){.tv_nsec = 1000000}, NULL); /* the reader is rendering */
    }
    struct bc_metric *s[200];
    for (int i = 0; i < 200; i++) {
        char labels[32];
        snprintf(labels, sizeof(labels), "rule=r%d", i);
        s[i] = bc_metrics_get(m, BC_METRIC_COUNTER, "breadcrumb_router_routes_total", "Routes.",
                              labels);
        assert_non_null(s[i]);
    }
    for (int i = 0; i < 1000000; i++) {
        bc_metric_add(s[i % 200], 1);
    }
    atomic_store(&r.stop, 1);
    pthread_join(t, NULL);
    char *text;
    size_t len;
    assert_int_equal(bc_metrics_render(m, &text, &len), 0);
    for (int i = 0; i < 200; i += 37) {
        char line[160];
        snprintf(line, sizeof(line),
                 "breadcrumb_router_routes_total{worker=\"router\",instance=\"0\",rule=\"r%d\"} "
                 "5000\n", i);
        assert_non_null(strstr(text, line));
    }
    free(text);
    bc_metrics_destroy(m);
}

/* A hidden series (the lag of a partition given to another instance) is not rendered, nor
 * its family's header when it was the only one; shown again, it keeps its value. */
static void test_metrics_hidden_series(void **state)
{
    (void)state;
    struct bc_metrics *m = bc_metrics_new("copy", "1");
    struct bc_metric *p0 = bc_metrics_get(m, BC_METRIC_GAUGE, "breadcrumb_consumer_lag_records",
                                          "Lag.", "topic=in,partition=0");
    struct bc_metric *p1 = bc_metrics_get(m, BC_METRIC_GAUGE, "breadcrumb_consumer_lag_records",
                                          "Lag.", "topic=in,partition=1");
    bc_metric_set(p0, 5);
    bc_metric_set(p1, 7);
    bc_metric_hide(p0, 1);
    char *text;
    size_t len;
    assert_int_equal(bc_metrics_render(m, &text, &len), 0);
    assert_string_equal(text, "# HELP breadcrumb_consumer_lag_records Lag.\n"
                              "# TYPE breadcrumb_consumer_lag_records gauge\n"
                              "breadcrumb_consumer_lag_records{worker=\"copy\",instance=\"1\","
                              "topic=\"in\",partition=\"1\"} 7\n");
    free(text);
    bc_metric_hide(p1, 1);
    assert_int_equal(bc_metrics_render(m, &text, &len), 0);
    assert_string_equal(text, "");
    free(text);
    bc_metric_hide(p0, 0);
    assert_int_equal(bc_metrics_render(m, &text, &len), 0);
    assert_non_null(strstr(text, "partition=\"0\"} 5\n"));
    assert_null(strstr(text, "partition=\"1\""));
    free(text);
    bc_metrics_destroy(m);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_metrics_exposition_exact),
        cmocka_unit_test(test_http_endpoints),
        cmocka_unit_test(test_metrics_writer_never_waits),
        cmocka_unit_test(test_metrics_hidden_series),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
