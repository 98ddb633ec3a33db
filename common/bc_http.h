/*
 * The worker's HTTP endpoints, served by libmicrohttpd on its own thread:
 *   GET /metrics   the registry in the Prometheus text format (version 0.0.4)
 *   GET /healthz   200 "ok" while the runtime loop turns (heartbeat at most 60 s old),
 *                  else 503: the process is alive but stuck
 *   GET /readyz    200 "ready" once the runtime reports its stores restored and its
 *                  producer transaction-ready, else 503 "not ready"
 * Anything else is 404; methods other than GET/HEAD are 405.
 */
#ifndef BC_HTTP_H
#define BC_HTTP_H

#include "bc_metrics.h"

#define BC_HTTP_ALIVE_MS 60000 /* /healthz: longest time between two loop turns */

struct bc_http;

/* Starts serving m (borrowed: must outlive the server) on `port` of every interface, or of
 * 127.0.0.1 when loopback is nonzero; port 0 picks a free port (see bc_http_port). Returns
 * the new server, or NULL with errstr. */
struct bc_http *bc_http_start(struct bc_metrics *m, int port, int loopback, char *errstr,
                              size_t errstr_size);
/* The port actually bound. */
int bc_http_port(const struct bc_http *http);
/* Stops the server thread and frees it. NULL is a no-op. */
void bc_http_stop(struct bc_http *http);

#endif
