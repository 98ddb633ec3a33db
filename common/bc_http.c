/*
 * The worker's HTTP endpoints (bc_http.h) on libmicrohttpd's internal polling thread.
 */
#include "bc_http.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct bc_http {
    struct MHD_Daemon *daemon;
    struct bc_metrics *metrics; /* borrowed */
    int port;
};

static int64_t monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned int status, void *body,
                             size_t len, enum MHD_ResponseMemoryMode mode, const char *type)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, body, mode);
    if (resp == NULL) {
        if (mode == MHD_RESPMEM_MUST_FREE) {
            free(body);
        }
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    enum MHD_Result rc = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return rc;
}

static enum MHD_Result reply_text(struct MHD_Connection *conn, unsigned int status,
                                  const char *text)
{
    return reply(conn, status, (void *)text, strlen(text), MHD_RESPMEM_PERSISTENT,
                 "text/plain; charset=utf-8");
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **req_cls)
{
    (void)version;
    (void)upload_data;
    (void)upload_data_size;
    (void)req_cls;
    struct bc_http *http = cls;
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0) {
        return reply_text(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n");
    }
    if (strcmp(url, "/metrics") == 0) {
        char *text = NULL;
        size_t len = 0;
        if (bc_metrics_render(http->metrics, &text, &len) != 0) {
            return reply_text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
        }
        return reply(conn, MHD_HTTP_OK, text, len, MHD_RESPMEM_MUST_FREE,
                     "text/plain; version=0.0.4; charset=utf-8");
    }
    if (strcmp(url, "/healthz") == 0) {
        if (bc_metrics_alive(http->metrics, monotonic_ms(), BC_HTTP_ALIVE_MS)) {
            return reply_text(conn, MHD_HTTP_OK, "ok\n");
        }
        return reply_text(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "stalled\n");
    }
    if (strcmp(url, "/readyz") == 0) {
        if (bc_metrics_ready(http->metrics)) {
            return reply_text(conn, MHD_HTTP_OK, "ready\n");
        }
        return reply_text(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "not ready\n");
    }
    return reply_text(conn, MHD_HTTP_NOT_FOUND, "not found\n");
}

struct bc_http *bc_http_start(struct bc_metrics *m, int port, int loopback, char *errstr,
                              size_t errstr_size)
{
    if (port < 0 || port > 65535) {
        snprintf(errstr, errstr_size, "metrics port %d out of range", port);
        return NULL;
    }
    struct bc_http *http = calloc(1, sizeof(*http));
    if (http == NULL) {
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    http->metrics = m;
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)port);
    addr.sin_addr.s_addr = htonl(loopback ? INADDR_LOOPBACK : INADDR_ANY);
    http->daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG,
                                    (uint16_t)port, NULL, NULL, on_request, http,
                                    MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
                                    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)10,
                                    MHD_OPTION_END);
    if (http->daemon == NULL) {
        snprintf(errstr, errstr_size, "cannot listen on port %d", port);
        free(http);
        return NULL;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(http->daemon,
                                                           MHD_DAEMON_INFO_BIND_PORT);
    http->port = info != NULL ? info->port : port;
    return http;
}

int bc_http_port(const struct bc_http *http)
{
    return http->port;
}

void bc_http_stop(struct bc_http *http)
{
    if (http == NULL) {
        return;
    }
    MHD_stop_daemon(http->daemon);
    free(http);
}
