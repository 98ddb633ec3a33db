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
#define OL_ERROR_URL \
    "https://openlineage.io/spec/facets/1-0-1/ErrorMessageRunFacet.json#/$defs/ErrorMessageRunFacet"
#define OL_JOB_TYPE_URL \
    "https://openlineage.io/spec/facets/2-0-2/JobTypeJobFacet.json#/$defs/JobTypeJobFacet"
#define OL_ENDED_MAX 8 /* ended run ids remembered per instance */

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

static const char *str(const json_t *obj, const char *name)
{
    const char *s = json_string_value(json_object_get(obj, name));
    return s != NULL ? s : "";
}

static json_t *datasets(const struct ol_namespaces *ns, const json_t *names)
{
    json_t *out = json_array();
    size_t i;
    json_t *name;
    json_array_foreach(names, i, name) {
        json_array_append_new(out, json_pack("{s:s, s:O}", "namespace", ns->datasets, "name",
                                             name));
    }
    return out;
}

/* A RunEvent of the run state describes (its run_id, worker, instance and datasets). */
static json_t *run_event(const struct ol_namespaces *ns, const json_t *state, const char *type,
                         int64_t ts, const char *error)
{
    char when[32];
    iso_time(ts, when);
    json_t *facets = json_pack("{s:{s:s, s:s, s:s}}", "breadcrumb_instance", "_producer",
                               OL_PRODUCER, "_schemaURL", OL_FACET_URL, "instance",
                               str(state, "instance"));
    if (error != NULL) {
        json_object_set_new(facets, "errorMessage",
                            json_pack("{s:s, s:s, s:s, s:s}", "_producer", OL_PRODUCER,
                                      "_schemaURL", OL_ERROR_URL, "message", error,
                                      "programmingLanguage", "C"));
    }
    /* A worker is a streaming job: its runs last as long as the process. */
    json_t *job_facets = json_pack("{s:{s:s, s:s, s:s, s:s, s:s}}", "jobType", "_producer",
                                   OL_PRODUCER, "_schemaURL", OL_JOB_TYPE_URL, "processingType",
                                   "STREAMING", "integration", "BREADCRUMB", "jobType", "WORKER");
    return json_pack("{s:s, s:s, s:s, s:s, s:{s:s, s:o}, s:{s:s, s:s, s:o}, s:o, s:o}",
                     "eventType", type, "eventTime", when, "producer", OL_PRODUCER, "schemaURL",
                     OL_SCHEMA_URL, "run", "runId", str(state, "run_id"), "facets", facets,
                     "job", "namespace", ns->jobs, "name", str(state, "worker"), "facets",
                     job_facets, "inputs", datasets(ns, json_object_get(state, "inputs")),
                     "outputs", datasets(ns, json_object_get(state, "outputs")));
}

/* Adds name to the sorted array names. Returns 1 when added, 0 when present or empty. */
static int add_name(json_t *names, const char *name)
{
    if (name == NULL || name[0] == '\0') {
        return 0;
    }
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

static int ended(const json_t *state, const char *run_id)
{
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(state, "ended"), i, v) {
        if (strcmp(json_string_value(v), run_id) == 0) {
            return 1;
        }
    }
    return 0;
}

/* The current run of state ends with type (COMPLETE or FAIL). */
static void end_run(const struct ol_namespaces *ns, json_t *state, const char *type, int64_t ts,
                    const char *error, json_t *events)
{
    json_array_append_new(events, run_event(ns, state, type, ts, error));
    json_object_set_new(state, "state", json_string(strcmp(type, "FAIL") == 0 ? "failed"
                                                                               : "complete"));
    json_t *list = json_object_get(state, "ended");
    if (!json_is_array(list)) {
        list = json_array();
        json_object_set_new(state, "ended", list);
    }
    json_array_append_new(list, json_string(str(state, "run_id")));
    while (json_array_size(list) > OL_ENDED_MAX) {
        json_array_remove(list, 0);
    }
}

/* A new run of the instance starts: state takes its identity and datasets. */
static void start_run(const struct ol_namespaces *ns, json_t *state, const json_t *fact,
                      const char *run_id, int64_t ts, json_t *events)
{
    json_object_set_new(state, "run_id", json_string(run_id));
    json_object_set_new(state, "worker", json_string(str(fact, "worker")));
    json_object_set_new(state, "instance", json_string(str(fact, "instance")));
    json_object_set_new(state, "config_hash", json_string(str(fact, "config_hash")));
    json_object_set_new(state, "state", json_string("running"));
    json_object_set_new(state, "start_time", json_integer(ts));
    json_t *in = json_array(), *out = json_array();
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(fact, "inputs"), i, v) {
        add_name(in, json_string_value(v));
    }
    json_array_foreach(json_object_get(fact, "outputs"), i, v) {
        add_name(out, json_string_value(v));
    }
    add_name(in, json_string_value(json_object_get(fact, "input")));
    add_name(out, json_string_value(json_object_get(fact, "output")));
    json_object_set_new(state, "inputs", in);
    json_object_set_new(state, "outputs", out);
    json_array_append_new(events, run_event(ns, state, "START", ts, NULL));
}

static int running(const json_t *state)
{
    return strcmp(str(state, "state"), "running") == 0;
}

static int apply_record(const struct ol_namespaces *ns, json_t *state, const json_t *fact,
                        int64_t ts, json_t *events)
{
    const char *run_id = str(fact, "run_id");
    const char *what = str(fact, "state");
    if (run_id[0] == '\0' || ended(state, run_id)) {
        return 0;
    }
    int current = strcmp(str(state, "run_id"), run_id) == 0;
    if (strcmp(what, "started") == 0) {
        if (current) {
            return 0;
        }
        if (running(state)) {
            char error[512];
            snprintf(error, sizeof(error),
                     "run ended without a terminal record (the process was killed, crashed or "
                     "was fenced): instance %s started again as run %s",
                     str(state, "instance"), run_id);
            end_run(ns, state, "FAIL", ts, error, events);
        }
        start_run(ns, state, fact, run_id, ts, events);
        return 1;
    }
    if (!current || !running(state)) {
        return 0; /* the end of a run never started here (its start is older than the topic) */
    }
    if (strcmp(what, "stopped") == 0) {
        end_run(ns, state, "COMPLETE", ts, NULL, events);
        return 1;
    }
    if (strcmp(what, "failed") == 0) {
        const char *error = str(fact, "error");
        end_run(ns, state, "FAIL", ts, error[0] != '\0' ? error : "the process failed", events);
        return 1;
    }
    return -1;
}

static int apply_seen(const struct ol_namespaces *ns, int lifecycle, json_t *state,
                      const json_t *fact, int64_t ts, json_t *events)
{
    const char *hash = str(fact, "config_hash");
    int same = strcmp(str(state, "config_hash"), hash) == 0;
    if (lifecycle) {
        if (!running(state) || !same) {
            return 0; /* before its start record, or a late record of an earlier run */
        }
    } else if (!same || !running(state)) {
        char run_id[37];
        ol_run_id(str(fact, "worker"), str(fact, "instance"), hash, run_id);
        if (ended(state, run_id) || strcmp(str(state, "run_id"), run_id) == 0) {
            return 0; /* a late record of a run already completed */
        }
        if (running(state)) {
            end_run(ns, state, "COMPLETE", ts, NULL, events); /* a new configuration */
        }
        start_run(ns, state, fact, run_id, ts, events);
        return 1;
    }
    int grew = add_name(json_object_get(state, "inputs"), json_string_value(json_object_get(fact, "input")));
    grew |= add_name(json_object_get(state, "outputs"), json_string_value(json_object_get(fact, "output")));
    if (grew) {
        /* The record's time is event time, maybe older than the run: never before START. */
        int64_t start = json_integer_value(json_object_get(state, "start_time"));
        json_array_append_new(events, run_event(ns, state, "RUNNING", ts > start ? ts : start,
                                                NULL));
    }
    return grew;
}

int ol_apply(const struct ol_namespaces *ns, int lifecycle, json_t *state, const json_t *fact,
             json_t *events)
{
    const char *kind = str(fact, "kind");
    if (!json_is_object(state) || str(fact, "worker")[0] == '\0') {
        return -1;
    }
    int64_t ts = json_integer_value(json_object_get(fact, "time"));
    if (strcmp(kind, "record") == 0) {
        return apply_record(ns, state, fact, ts, events);
    }
    if (strcmp(kind, "seen") == 0) {
        return apply_seen(ns, lifecycle, state, fact, ts, events);
    }
    return -1;
}
