/* OpenLineage run events of worker instances (openlineage.h). */
#include "openlineage.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <xxhash.h>

#define OL_PRODUCER "https://github.com/breadcrumb/breadcrumb/tree/main/workers/lineage_builder"
#define OL_SCHEMA_URL "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"
#define OL_FACET_URL "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunFacet"

struct ol_run {
    char *worker, *instance, *config_hash; /* new */
    json_t *inputs, *outputs;              /* arrays of topic names, sorted */
};

struct ol_runs {
    char *job_namespace, *dataset_namespace;
    struct ol_run *runs;
    size_t count, cap;
};

struct ol_runs *ol_runs_new(const char *job_namespace, const char *dataset_namespace)
{
    struct ol_runs *r = calloc(1, sizeof(*r));
    if (r == NULL || (r->job_namespace = strdup(job_namespace)) == NULL ||
        (r->dataset_namespace = strdup(dataset_namespace)) == NULL) {
        ol_runs_destroy(r);
        return NULL;
    }
    return r;
}

static void run_free(struct ol_run *run)
{
    free(run->worker);
    free(run->instance);
    free(run->config_hash);
    json_decref(run->inputs);
    json_decref(run->outputs);
}

void ol_runs_destroy(struct ol_runs *runs)
{
    if (runs == NULL) {
        return;
    }
    for (size_t i = 0; i < runs->count; i++) {
        run_free(&runs->runs[i]);
    }
    free(runs->runs);
    free(runs->job_namespace);
    free(runs->dataset_namespace);
    free(runs);
}

void ol_run_id(const char *worker, const char *instance, const char *config_hash, char out[37])
{
    XXH3_state_t *state = XXH3_createState();
    XXH128_hash_t h = {0, 0};
    if (state != NULL && XXH3_128bits_reset(state) == XXH_OK) {
        XXH3_128bits_update(state, worker, strlen(worker) + 1);
        XXH3_128bits_update(state, instance, strlen(instance) + 1);
        XXH3_128bits_update(state, config_hash, strlen(config_hash));
        h = XXH3_128bits_digest(state);
    }
    XXH3_freeState(state);
    XXH128_canonical_t c;
    XXH128_canonicalFromHash(&c, h);
    c.digest[6] = (uint8_t)((c.digest[6] & 0x0f) | 0x80); /* version 8: custom (RFC 9562) */
    c.digest[8] = (uint8_t)((c.digest[8] & 0x3f) | 0x80); /* variant */
    const uint8_t *d = c.digest;
    snprintf(out, 37,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", d[0], d[1],
             d[2], d[3], d[4], d[5], d[6], d[7], d[8], d[9], d[10], d[11], d[12], d[13], d[14],
             d[15]);
}

/* ISO 8601 UTC with milliseconds. */
static void iso_time(int64_t ms, char out[32])
{
    if (ms < 0) {
        ms = 0;
    }
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    size_t n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, 32 - n, ".%03dZ", (int)(ms % 1000));
}

static json_t *datasets(const struct ol_runs *runs, const json_t *names)
{
    json_t *out = json_array();
    size_t i;
    json_t *name;
    json_array_foreach(names, i, name) {
        json_array_append_new(out, json_pack("{s:s, s:O}", "namespace", runs->dataset_namespace,
                                             "name", name));
    }
    return out;
}

static json_t *run_event(const struct ol_runs *runs, const struct ol_run *run, const char *type,
                         int64_t ts)
{
    char run_id[37], when[32];
    ol_run_id(run->worker, run->instance, run->config_hash, run_id);
    iso_time(ts, when);
    return json_pack("{s:s, s:s, s:s, s:s, s:{s:s, s:{s:{s:s, s:s, s:s}}}, s:{s:s, s:s},"
                     " s:o, s:o}",
                     "eventType", type, "eventTime", when, "producer", OL_PRODUCER, "schemaURL",
                     OL_SCHEMA_URL, "run", "runId", run_id, "facets", "breadcrumb_instance",
                     "_producer", OL_PRODUCER, "_schemaURL", OL_FACET_URL, "instance",
                     run->instance, "job", "namespace", runs->job_namespace, "name", run->worker,
                     "inputs", datasets(runs, run->inputs), "outputs",
                     datasets(runs, run->outputs));
}

/* Adds name to the sorted array names. Returns 1 when added, 0 when present. */
static int add_name(json_t *names, const char *name)
{
    size_t i, at = json_array_size(names);
    json_t *v;
    json_array_foreach(names, i, v) {
        int c = strcmp(json_string_value(v), name);
        if (c == 0) {
            return 0;
        }
        if (c > 0 && at == json_array_size(names)) {
            at = i;
        }
    }
    json_array_insert_new(names, at, json_string(name));
    return 1;
}

int ol_runs_observe(struct ol_runs *runs, const char *worker, const char *instance,
                    const char *config_hash, const char *input_topic, const char *output_topic,
                    int64_t ts, json_t *events)
{
    struct ol_run *run = NULL;
    for (size_t i = 0; i < runs->count; i++) {
        struct ol_run *r = &runs->runs[i];
        if (strcmp(r->worker, worker) == 0 && strcmp(r->instance, instance) == 0) {
            run = r;
            break;
        }
    }
    int started = 0;
    if (run != NULL && strcmp(run->config_hash, config_hash) != 0) {
        /* A new configuration: the old run is over. */
        json_array_append_new(events, run_event(runs, run, "COMPLETE", ts));
        char *hash = strdup(config_hash);
        if (hash == NULL) {
            return -1;
        }
        free(run->config_hash);
        run->config_hash = hash;
        json_array_clear(run->inputs);
        json_array_clear(run->outputs);
        started = 1;
    }
    if (run == NULL) {
        if (runs->count == runs->cap) {
            size_t cap = runs->cap ? runs->cap * 2 : 8;
            struct ol_run *v = realloc(runs->runs, cap * sizeof(*v));
            if (v == NULL) {
                return -1;
            }
            runs->runs = v;
            runs->cap = cap;
        }
        run = &runs->runs[runs->count];
        memset(run, 0, sizeof(*run));
        run->worker = strdup(worker);
        run->instance = strdup(instance);
        run->config_hash = strdup(config_hash);
        run->inputs = json_array();
        run->outputs = json_array();
        if (run->worker == NULL || run->instance == NULL || run->config_hash == NULL ||
            run->inputs == NULL || run->outputs == NULL) {
            run_free(run);
            return -1;
        }
        runs->count++;
        started = 1;
    }
    int grew = 0;
    if (input_topic != NULL && input_topic[0] != '\0') {
        grew |= add_name(run->inputs, input_topic);
    }
    if (output_topic != NULL && output_topic[0] != '\0') {
        grew |= add_name(run->outputs, output_topic);
    }
    if (started) {
        json_array_append_new(events, run_event(runs, run, "START", ts));
    } else if (grew) {
        json_array_append_new(events, run_event(runs, run, "RUNNING", ts));
    }
    return 0;
}
