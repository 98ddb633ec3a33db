/* A worker's schemas with a remote schema registry; see bc_schemas.h. */
#include "bc_schemas.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bc_avro.h"
#include "bc_config.h"
#include "bc_log.h"
#include "bc_registry_http.h"

#define BACKOFF_FIRST_MS 100
#define BACKOFF_MAX_MS 5000
#define RUNTIME_WAIT_MS 30000 /* after startup: how long a call waits out downtime */

/* A topic and the schema written to it. Invariant: id > 0 once registered (the registry's
 * id of the schema under "<topic>-value"); 0 while only expected. */
struct binding {
    char *topic;
    const struct bc_avro_schema *schema;
    int32_t id;
};

struct bc_schemas {
    struct bc_registry_http *client;
    struct bc_avro_registry *reg; /* borrowed */
    /* The local schemas in load order: schema i was given the provisional id -(i + 1). */
    const struct bc_avro_schema **provisional;
    size_t nprovisional;
    struct binding *bindings;
    size_t nbindings;
    int32_t *missing; /* ids the registry answered 404 for */
    size_t nmissing;
    uint8_t *scratch; /* a rewritten value (bc_schemas_output) */
    size_t scratch_cap;
};

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* A new bridge with a client made from opts; see bc_schemas_new. */
static int schemas_new(const struct bc_registry_http_opts *opts, struct bc_avro_registry *reg,
                       struct bc_schemas **out, char *errstr, size_t errstr_size)
{
    struct bc_schemas *sc = calloc(1, sizeof(*sc));
    if (sc == NULL) {
        snprintf(errstr, errstr_size, "out of memory");
        return -1;
    }
    sc->client = bc_registry_http_new(opts, errstr, errstr_size);
    sc->reg = reg;
    sc->nprovisional = bc_avro_registry_count(reg);
    sc->provisional = calloc(sc->nprovisional + 1, sizeof(*sc->provisional));
    if (sc->client == NULL || sc->provisional == NULL) {
        if (sc->client != NULL) {
            snprintf(errstr, errstr_size, "out of memory");
        }
        bc_schemas_free(sc);
        return -1;
    }
    for (size_t i = 0; i < sc->nprovisional; i++) {
        sc->provisional[i] = bc_avro_registry_at(reg, i);
        bc_avro_registry_set_id(reg, sc->provisional[i], -(int32_t)(i + 1));
    }
    *out = sc;
    return 0;
}

int bc_schemas_new(const struct bc_config *config, struct bc_avro_registry *reg,
                   struct bc_schemas **out, char *errstr, size_t errstr_size)
{
    *out = NULL;
    const char *url = config != NULL ? config->schemas.registry : NULL;
    if (url == NULL || (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0)) {
        return 0;
    }
    /* One attempt per call: the waits are ours (bc_schemas_start can be stopped). */
    struct bc_registry_http_opts opts = {
        .url = url,
        .username = config->schemas.username,
        .password = config->schemas.password,
        .ca_file = config->schemas.ca_file,
        .max_attempts = 1,
    };
    return schemas_new(&opts, reg, out, errstr, errstr_size);
}

int bc_schemas_new_url(const char *url, struct bc_avro_registry *reg, struct bc_schemas **out,
                       char *errstr, size_t errstr_size)
{
    struct bc_registry_http_opts opts = {.url = url, .max_attempts = 1};
    *out = NULL;
    return schemas_new(&opts, reg, out, errstr, errstr_size);
}

void bc_schemas_free(struct bc_schemas *sc)
{
    if (sc == NULL) {
        return;
    }
    bc_registry_http_free(sc->client);
    for (size_t i = 0; i < sc->nbindings; i++) {
        free(sc->bindings[i].topic);
    }
    free(sc->bindings);
    free(sc->provisional);
    free(sc->missing);
    free(sc->scratch);
    free(sc);
}

static struct binding *binding_find(struct bc_schemas *sc, const char *topic,
                                    const struct bc_avro_schema *schema)
{
    for (size_t i = 0; i < sc->nbindings; i++) {
        struct binding *b = &sc->bindings[i];
        if (b->schema == schema && strcmp(b->topic, topic) == 0) {
            return b;
        }
    }
    return NULL;
}

static struct binding *binding_add(struct bc_schemas *sc, const char *topic,
                                   const struct bc_avro_schema *schema)
{
    struct binding *grown = realloc(sc->bindings, (sc->nbindings + 1) * sizeof(*grown));
    if (grown == NULL) {
        return NULL;
    }
    sc->bindings = grown;
    struct binding *b = &sc->bindings[sc->nbindings];
    if ((b->topic = strdup(topic)) == NULL) {
        return NULL;
    }
    b->schema = schema;
    b->id = 0;
    sc->nbindings++;
    return b;
}

void bc_schemas_expect(struct bc_schemas *sc, const char *topic, const char *schema)
{
    const struct bc_avro_schema *s = bc_avro_registry_lookup(sc->reg, schema);
    if (s != NULL && topic != NULL && topic[0] != '\0' && binding_find(sc, topic, s) == NULL) {
        binding_add(sc, topic, s); /* out of memory: registered before the first write */
    }
}

void bc_schemas_expect_output(struct bc_schemas *sc, const char *output, const char *topic)
{
    static const char *const known[][2] = {
        {"normalized", "TrackingEvent"}, {"unique", "TrackingEvent"}, {"enriched", "TrackingEvent"},
        {"sampled", "TrackingEvent"},    {"cold", "TrackingEvent"},   {"dlq", "DeadLetter"},
        {"lineage", "LineageRecord"},
    };
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
        if (strcmp(known[i][0], output) == 0) {
            bc_schemas_expect(sc, topic, known[i][1]);
        }
    }
}

/* Registers b's schema under its subject: a compatibility check, then the registration.
 * Downtime is retried with backoff until stopped() or, without it, until deadline.
 * Returns 0 with b->id set, or -1 (logged). */
static int binding_register(struct bc_schemas *sc, struct binding *b, int (*stopped)(void *),
                            void *arg, int64_t deadline)
{
    char subject[1024], errstr[1024];
    snprintf(subject, sizeof(subject), "%s-value", b->topic);
    const char *text = bc_avro_schema_text(b->schema);
    int delay = BACKOFF_FIRST_MS, waits = 0;
    for (;;) {
        int compatible = 1, id = 0;
        int rc =
            bc_registry_http_check(sc->client, subject, text, &compatible, errstr, sizeof(errstr));
        if (rc == 0 && !compatible) {
            bc_log(BC_LOG_ERROR,
                   "schema incompatible with the registered versions of its "
                   "subject (evolve it compatibly, or change the subject's compatibility)",
                   "subject", subject, "schema", bc_avro_schema_name(b->schema), "file",
                   bc_avro_schema_file(b->schema), NULL);
            return -1;
        }
        if (rc == 0) {
            rc = bc_registry_http_register(sc->client, subject, text, &id, errstr, sizeof(errstr));
        }
        if (rc == 0) {
            b->id = id;
            if (bc_avro_schema_id(b->schema) < 0) {
                bc_avro_registry_set_id(sc->reg, b->schema, id);
            }
            char ids[16];
            snprintf(ids, sizeof(ids), "%d", id);
            bc_log(waits > 0 ? BC_LOG_INFO : BC_LOG_DEBUG, "schema registered", "subject", subject,
                   "schema", bc_avro_schema_name(b->schema), "id", ids, NULL);
            return 0;
        }
        if (bc_registry_http_last_status(sc->client) > 0) {
            bc_log(BC_LOG_ERROR, "schema registry refused the schema", "subject", subject, "error",
                   errstr, NULL);
            return -1;
        }
        int over = stopped != NULL ? stopped(arg) : mono_ms() + delay > deadline;
        if (over) {
            bc_log(BC_LOG_ERROR, "schema registry unavailable: nothing written", "subject", subject,
                   "error", errstr, NULL);
            return -1;
        }
        if (waits++ % 10 == 0) {
            bc_log(BC_LOG_WARN, "schema registry unavailable, retrying", "subject", subject,
                   "error", errstr, NULL);
        }
        for (int slept = 0; slept < delay && (stopped == NULL || !stopped(arg)); slept += 50) {
            sleep_ms(delay - slept < 50 ? delay - slept : 50);
        }
        delay = delay * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : delay * 2;
    }
}

int bc_schemas_start(struct bc_schemas *sc, int (*stopped)(void *arg), void *arg)
{
    for (size_t i = 0; i < sc->nbindings; i++) {
        if (sc->bindings[i].id == 0 &&
            binding_register(sc, &sc->bindings[i], stopped, arg, 0) != 0) {
            return -1;
        }
    }
    return 0;
}

static int32_t header_id(const uint8_t *p)
{
    return (int32_t)(((uint32_t)p[1] << 24) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 8) |
                     p[4]);
}

int bc_schemas_output(struct bc_schemas *sc, const char *topic, const void **value,
                      size_t *value_len)
{
    const uint8_t *p = *value;
    if (*value_len < BC_AVRO_HEADER_SIZE) {
        bc_log(BC_LOG_ERROR, "output value rejected", "topic", topic, "error",
               "shorter than the wire format's header", NULL);
        return -1;
    }
    int32_t id = header_id(p);
    const struct bc_avro_schema *schema = NULL;
    if (id < 0 && (size_t) - (int64_t)id <= sc->nprovisional) {
        schema = sc->provisional[-(int64_t)id - 1];
    } else {
        schema = bc_avro_registry_by_id(sc->reg, id);
    }
    if (schema == NULL) {
        char ids[16];
        snprintf(ids, sizeof(ids), "%d", (int)id);
        bc_log(BC_LOG_ERROR, "output value rejected", "topic", topic, "error", "unknown schema id",
               "id", ids, NULL);
        return -1;
    }
    struct binding *b = binding_find(sc, topic, schema);
    if (b == NULL && (b = binding_add(sc, topic, schema)) == NULL) {
        bc_log(BC_LOG_ERROR, "output value rejected", "topic", topic, "error", "out of memory",
               NULL);
        return -1;
    }
    if (b->id == 0 && binding_register(sc, b, NULL, NULL, mono_ms() + RUNTIME_WAIT_MS) != 0) {
        return -1;
    }
    if (b->id == id) {
        return 0;
    }
    /* Encoded before its schema was registered (or under another subject's id). */
    if (sc->scratch_cap < *value_len) {
        uint8_t *grown = realloc(sc->scratch, *value_len);
        if (grown == NULL) {
            bc_log(BC_LOG_ERROR, "output value rejected", "topic", topic, "error", "out of memory",
                   NULL);
            return -1;
        }
        sc->scratch = grown;
        sc->scratch_cap = *value_len;
    }
    memcpy(sc->scratch, p, *value_len);
    uint32_t u = (uint32_t)b->id;
    sc->scratch[1] = (uint8_t)(u >> 24);
    sc->scratch[2] = (uint8_t)(u >> 16);
    sc->scratch[3] = (uint8_t)(u >> 8);
    sc->scratch[4] = (uint8_t)u;
    *value = sc->scratch;
    return 0;
}

int bc_schemas_input(struct bc_schemas *sc, const void *value, size_t value_len)
{
    const uint8_t *p = value;
    if (value == NULL || value_len < BC_AVRO_HEADER_SIZE || p[0] != 0) {
        return 0;
    }
    int32_t id = header_id(p);
    if (id <= 0 || bc_avro_registry_by_id(sc->reg, id) != NULL) {
        return 0;
    }
    for (size_t i = 0; i < sc->nmissing; i++) {
        if (sc->missing[i] == id) {
            return 0;
        }
    }
    char errstr[1024], ids[16];
    snprintf(ids, sizeof(ids), "%d", (int)id);
    int64_t deadline = mono_ms() + RUNTIME_WAIT_MS;
    int delay = BACKOFF_FIRST_MS;
    const char *text;
    while ((text = bc_registry_http_schema(sc->client, id, errstr, sizeof(errstr))) == NULL &&
           bc_registry_http_last_status(sc->client) < 0 && mono_ms() + delay <= deadline) {
        bc_log(BC_LOG_WARN, "schema registry unavailable, retrying", "id", ids, "error", errstr,
               NULL);
        sleep_ms(delay);
        delay = delay * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : delay * 2;
    }
    if (text == NULL && bc_registry_http_last_status(sc->client) < 0) {
        bc_log(BC_LOG_ERROR, "schema registry unavailable: cannot read the input's schema", "id",
               ids, "error", errstr, NULL);
        return -1;
    }
    if (text == NULL || bc_avro_registry_add(sc->reg, text, id, errstr, sizeof(errstr)) == NULL) {
        /* Unknown to the registry too, or unusable: the stage dead-letters such records. */
        bc_log(BC_LOG_WARN, "input schema id not usable", "id", ids, "error", errstr, NULL);
        int32_t *grown = realloc(sc->missing, (sc->nmissing + 1) * sizeof(*grown));
        if (grown != NULL) {
            sc->missing = grown;
            sc->missing[sc->nmissing++] = id;
        }
        return 0;
    }
    bc_log(BC_LOG_INFO, "input schema loaded from the registry", "id", ids, NULL);
    return 0;
}
