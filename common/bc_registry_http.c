/* Schema registry client over libcurl; see bc_registry_http.h. */
#include "bc_registry_http.h"

#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct cached {
    char *subject; /* NULL for an id -> schema entry */
    char *schema;
    int id;
};

struct bc_registry_http {
    char *url, *username, *password, *ca_file;
    int max_attempts, backoff_ms, timeout_ms;
    CURL *curl;
    long requests;
    long last_status; /* of the last call: HTTP status, or -1 when no answer came */
    struct cached *cache;
    size_t n, cap;
};

struct buf {
    char *data;
    size_t len;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

static char *dup_or_null(const char *s)
{
    return s != NULL ? strdup(s) : NULL;
}

struct bc_registry_http *bc_registry_http_new(const struct bc_registry_http_opts *opts,
                                              char *errstr, size_t errstr_size)
{
    if (opts == NULL || opts->url == NULL ||
        (strncmp(opts->url, "http://", 7) != 0 && strncmp(opts->url, "https://", 8) != 0)) {
        snprintf(errstr, errstr_size, "schema registry: URL must start with http:// or https://");
        return NULL;
    }
    pthread_once(&curl_once, curl_init_once);
    struct bc_registry_http *r = calloc(1, sizeof(*r));
    if (r == NULL || (r->curl = curl_easy_init()) == NULL) {
        free(r);
        snprintf(errstr, errstr_size, "schema registry: out of memory");
        return NULL;
    }
    r->url = strdup(opts->url);
    size_t ul = strlen(r->url);
    while (ul > 0 && r->url[ul - 1] == '/') {
        r->url[--ul] = '\0';
    }
    r->username = dup_or_null(opts->username);
    r->password = dup_or_null(opts->password);
    r->ca_file = dup_or_null(opts->ca_file);
    r->max_attempts = opts->max_attempts > 0 ? opts->max_attempts : 8;
    r->backoff_ms = opts->backoff_ms > 0 ? opts->backoff_ms : 100;
    r->timeout_ms = opts->timeout_ms > 0 ? opts->timeout_ms : 10000;
    return r;
}

void bc_registry_http_free(struct bc_registry_http *r)
{
    if (r == NULL) {
        return;
    }
    for (size_t i = 0; i < r->n; i++) {
        free(r->cache[i].subject);
        free(r->cache[i].schema);
    }
    free(r->cache);
    if (r->curl != NULL) {
        curl_easy_cleanup(r->curl);
    }
    free(r->url);
    free(r->username);
    if (r->password != NULL) {
        memset(r->password, 0, strlen(r->password));
    }
    free(r->password);
    free(r->ca_file);
    free(r);
}

long bc_registry_http_requests(const struct bc_registry_http *r)
{
    return r->requests;
}

long bc_registry_http_last_status(const struct bc_registry_http *r)
{
    return r->last_status;
}

static size_t on_data(char *p, size_t size, size_t nmemb, void *arg)
{
    struct buf *b = arg;
    size_t n = size * nmemb;
    char *grown = realloc(b->data, b->len + n + 1);
    if (grown == NULL) {
        return 0;
    }
    b->data = grown;
    memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return n;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* Path segments are percent-encoded by the caller where they come from data. */
static char *escape(struct bc_registry_http *r, const char *s)
{
    char *e = curl_easy_escape(r->curl, s, 0);
    char *out = e != NULL ? strdup(e) : NULL;
    curl_free(e);
    return out;
}

/* One call with retries. Returns the HTTP status (>= 400 included) with *body set (JSON,
 * or NULL), or -1 with errstr when every attempt failed to get an answer below 500. */
static long request(struct bc_registry_http *r, const char *method, const char *path,
                    json_t *payload, json_t **body, char *errstr, size_t errstr_size)
{
    char url[4096];
    snprintf(url, sizeof(url), "%s%s", r->url, path);
    char *post = payload != NULL ? json_dumps(payload, JSON_COMPACT) : NULL;
    int delay = r->backoff_ms;
    long status = -1;
    *body = NULL;
    r->last_status = -1;
    for (int attempt = 1; attempt <= r->max_attempts; attempt++) {
        struct buf b = {NULL, 0};
        struct curl_slist *hdrs = curl_slist_append(
            NULL, "Accept: application/vnd.schemaregistry.v1+json, application/json");
        hdrs = curl_slist_append(hdrs, "Content-Type: application/vnd.schemaregistry.v1+json");
        CURL *c = r->curl;
        curl_easy_reset(c);
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)r->timeout_ms);
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
        if (post != NULL) {
            curl_easy_setopt(c, CURLOPT_POSTFIELDS, post);
        }
        if (r->username != NULL) {
            curl_easy_setopt(c, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
            curl_easy_setopt(c, CURLOPT_USERNAME, r->username);
            curl_easy_setopt(c, CURLOPT_PASSWORD, r->password != NULL ? r->password : "");
        }
        if (r->ca_file != NULL) {
            curl_easy_setopt(c, CURLOPT_CAINFO, r->ca_file);
        }
        r->requests++;
        CURLcode rc = curl_easy_perform(c);
        curl_slist_free_all(hdrs);
        if (rc != CURLE_OK) {
            snprintf(errstr, errstr_size, "schema registry %s %s: %s (attempt %d of %d)",
                     method, path, curl_easy_strerror(rc), attempt, r->max_attempts);
            free(b.data);
        } else {
            curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
            json_t *j = b.data != NULL ? json_loads(b.data, 0, NULL) : NULL;
            free(b.data);
            if (status < 500 && status != 408 && status != 429) {
                *body = j;
                free(post);
                r->last_status = status;
                return status;
            }
            snprintf(errstr, errstr_size, "schema registry %s %s: HTTP %ld (attempt %d of %d)",
                     method, path, status, attempt, r->max_attempts);
            json_decref(j);
            status = -1;
        }
        if (attempt < r->max_attempts) {
            sleep_ms(delay);
            delay = delay * 2 > 5000 ? 5000 : delay * 2;
        }
    }
    free(post);
    return -1;
}

/* "HTTP 409, error 409: Schema being registered is incompatible..." */
static void http_error(const char *what, long status, json_t *body, char *errstr,
                       size_t errstr_size)
{
    json_t *code = json_object_get(body, "error_code");
    const char *msg = json_string_value(json_object_get(body, "message"));
    snprintf(errstr, errstr_size, "schema registry: %s: HTTP %ld, error %lld: %s", what, status,
             json_is_integer(code) ? (long long)json_integer_value(code) : (long long)status,
             msg != NULL ? msg : "(no message)");
}

static int cache_add(struct bc_registry_http *r, const char *subject, const char *schema, int id)
{
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 16;
        struct cached *g = realloc(r->cache, cap * sizeof(*g));
        if (g == NULL) {
            return -1;
        }
        r->cache = g;
        r->cap = cap;
    }
    r->cache[r->n].subject = dup_or_null(subject);
    r->cache[r->n].schema = strdup(schema);
    r->cache[r->n].id = id;
    r->n++;
    return 0;
}

int bc_registry_http_register(struct bc_registry_http *r, const char *subject,
                              const char *schema, int *id, char *errstr, size_t errstr_size)
{
    for (size_t i = 0; i < r->n; i++) {
        if (r->cache[i].subject != NULL && strcmp(r->cache[i].subject, subject) == 0 &&
            strcmp(r->cache[i].schema, schema) == 0) {
            *id = r->cache[i].id;
            return 0;
        }
    }
    char *s = escape(r, subject), path[2048];
    snprintf(path, sizeof(path), "/subjects/%s/versions", s != NULL ? s : "");
    free(s);
    json_t *payload = json_pack("{s:s}", "schema", schema), *body = NULL;
    long status = request(r, "POST", path, payload, &body, errstr, errstr_size);
    json_decref(payload);
    int ret = -1;
    if (status == 200) {
        json_t *j = json_object_get(body, "id");
        if (json_is_integer(j)) {
            *id = (int)json_integer_value(j);
            ret = cache_add(r, subject, schema, *id);
        } else {
            snprintf(errstr, errstr_size, "schema registry: register %s: no id in the answer",
                     subject);
        }
    } else if (status > 0) {
        char what[1024];
        snprintf(what, sizeof(what), "register %s", subject);
        http_error(what, status, body, errstr, errstr_size);
    }
    json_decref(body);
    return ret;
}

int bc_registry_http_check(struct bc_registry_http *r, const char *subject, const char *schema,
                           int *compatible, char *errstr, size_t errstr_size)
{
    char *s = escape(r, subject), path[2048];
    snprintf(path, sizeof(path), "/compatibility/subjects/%s/versions/latest", s ? s : "");
    free(s);
    json_t *payload = json_pack("{s:s}", "schema", schema), *body = NULL;
    long status = request(r, "POST", path, payload, &body, errstr, errstr_size);
    json_decref(payload);
    int ret = -1;
    json_t *code = json_object_get(body, "error_code");
    if (status == 200 && json_is_boolean(json_object_get(body, "is_compatible"))) {
        *compatible = json_is_true(json_object_get(body, "is_compatible"));
        ret = 0;
    } else if (status == 404 && json_is_integer(code) &&
               (json_integer_value(code) == 40401 || json_integer_value(code) == 40402)) {
        *compatible = 1; /* no subject or no version yet: anything goes */
        ret = 0;
    } else if (status > 0) {
        char what[1024];
        snprintf(what, sizeof(what), "compatibility of %s", subject);
        http_error(what, status, body, errstr, errstr_size);
    }
    json_decref(body);
    return ret;
}

const char *bc_registry_http_schema(struct bc_registry_http *r, int id, char *errstr,
                                    size_t errstr_size)
{
    for (size_t i = 0; i < r->n; i++) {
        if (r->cache[i].id == id) {
            return r->cache[i].schema;
        }
    }
    char path[64];
    snprintf(path, sizeof(path), "/schemas/ids/%d", id);
    json_t *body = NULL;
    long status = request(r, "GET", path, NULL, &body, errstr, errstr_size);
    const char *out = NULL;
    if (status == 200) {
        const char *text = json_string_value(json_object_get(body, "schema"));
        if (text == NULL) {
            snprintf(errstr, errstr_size, "schema registry: schema %d: no schema in the answer",
                     id);
        } else if (cache_add(r, NULL, text, id) == 0) {
            out = r->cache[r->n - 1].schema;
        }
    } else if (status > 0) {
        char what[64];
        snprintf(what, sizeof(what), "schema id %d", id);
        http_error(what, status, body, errstr, errstr_size);
    }
    json_decref(body);
    return out;
}
