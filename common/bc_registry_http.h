/*
 * A client of a Confluent-compatible schema registry (REST API v1, libcurl):
 * `schemas.registry: http://host:8081`. Subjects follow the TopicNameStrategy
 * (`<topic>-value`). Schemas are registered as their original `.avsc` text; ids and schema
 * texts are cached, so each (subject, text) and each id costs one request per process.
 *
 * Availability: a request that cannot connect, times out or gets a 5xx (or 408/429) is
 * retried with exponential backoff (initial delay doubled up to 5 s) for max_attempts in
 * all; then the call fails. A failed call never returns an id: the caller must not write
 * data under a schema it could not register. 4xx answers are final and reported with the
 * registry's error_code and message (409: incompatible schema). Secrets (password) are
 * never part of an error text.
 */
#ifndef BC_REGISTRY_HTTP_H
#define BC_REGISTRY_HTTP_H

#include <stddef.h>

struct bc_registry_http_opts {
    const char *url;        /* base URL, e.g. http://registry:8081 (required) */
    const char *username;   /* basic auth, or NULL */
    const char *password;   /* basic auth, or NULL; never logged */
    const char *ca_file;    /* CA bundle for https, or NULL for the system's */
    int max_attempts;       /* per call, >= 1 (0: 8) */
    int backoff_ms;         /* first retry delay (0: 100) */
    int timeout_ms;         /* per request (0: 10000) */
};

struct bc_registry_http;

/* A new client (options copied), or NULL with errstr. */
struct bc_registry_http *bc_registry_http_new(const struct bc_registry_http_opts *opts,
                                              char *errstr, size_t errstr_size);
/* Frees the client and its caches. NULL is a no-op. */
void bc_registry_http_free(struct bc_registry_http *r);

/* Registers schema text under subject (POST /subjects/{subject}/versions), or finds it when
 * already registered; sets *id. 0, or -1 with errstr (409 for an incompatible schema). */
int bc_registry_http_register(struct bc_registry_http *r, const char *subject,
                              const char *schema, int *id, char *errstr, size_t errstr_size);

/* Checks schema against the subject's latest version (POST
 * /compatibility/subjects/{subject}/versions/latest): *compatible = 1 or 0 (1 when the
 * subject has no version yet). 0, or -1 with errstr. */
int bc_registry_http_check(struct bc_registry_http *r, const char *subject, const char *schema,
                           int *compatible, char *errstr, size_t errstr_size);

/* The schema text of id (GET /schemas/ids/{id}), borrowed from the cache (valid until
 * bc_registry_http_free), or NULL with errstr (404 for an unknown id). */
const char *bc_registry_http_schema(struct bc_registry_http *r, int id, char *errstr,
                                    size_t errstr_size);

/* The outcome of the last call that sent a request: its final HTTP status (4xx: the
 * registry's final answer), or -1 when no answer below 500 came (down, timeout, 5xx: worth
 * retrying later). */
long bc_registry_http_last_status(const struct bc_registry_http *r);

/* Requests sent so far (retries included): for tests of the caches and the backoff. */
long bc_registry_http_requests(const struct bc_registry_http *r);

#endif
