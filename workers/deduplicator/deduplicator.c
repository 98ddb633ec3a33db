/*
 * The deduplicator stage: forwards the first occurrence of each key to output `unique`
 * (bytes unchanged) and turns every repeat within the window into a Fate (deduplicated,
 * related = the first occurrence's position), remembering keys in the changelog store
 * `seen` (see dedup.h for the window and restart semantics, dedup_key.h for keys).
 *
 * Two modes, chosen from the key at init (`breadcrumb validate` checks the topology fits):
 * - aligned (the key includes event_id or trace_id): equal keys already share a partition
 *   of the input; records are decided where they are read.
 * - repartition (any other key, e.g. [attributes.idempotency_key]): a record read from the
 *   input is forwarded to output `repartition` (topic `<pipeline>.<worker>.repartition`,
 *   same partition count), keyed by the key's digest in hex, with its original Kafka key,
 *   position and service in headers; the same process consumes that topic as its second
 *   input and decides there, restoring the original key on output (as Kafka Streams'
 *   repartition topics do). The store's expiry is then the stage's own sweep on the
 *   repartition topic's stream time (the runtime's stream time mixes both inputs).
 * Records without the key: passed on with the flag `dedup_key_missing`, or dead-lettered
 * (missing_key: dlq).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bc_avro.h"
#include "bc_config.h"
#include "bc_event.h"
#include "bc_log.h"
#include "bc_stage.h"
#include "dedup.h"
#include "dedup_key.h"

#define HDR_KEY "bc.dedup.key"         /* repartition: the original Kafka key */
#define HDR_NOKEY "bc.dedup.nokey"     /* repartition: the original record had no key */
#define HDR_SRC "bc.dedup.src"         /* repartition: "<partition>:<offset>" on the input */
#define HDR_SERVICE "bc.dedup.service" /* repartition: the record's service */
extern const struct bc_worker_type bc_deduplicator_type;

#define SWEEP_EVERY_MS 1000            /* repartition mode: expiry sweep period (wall) */

/* Repeats counted per service since start (logged every minute and at exit). */
struct service_count {
    char *service;
    uint64_t n;
};

struct dedup_state {
    struct dedup_key *key;
    const struct bc_avro_registry *registry; /* borrowed from the runtime */
    const struct bc_avro_schema *te;         /* TrackingEvent, latest version */
    avro_value_t event; /* the fields of `fields` only, except while pass_missing re-encodes */
    int event_ready;
    uint64_t fields; /* what process_input reads: the key's fields, event_id and service */
    struct bc_avro_buf buf;
    struct dedup_window window;
    int missing_dlq;
    const char *input;        /* the input topic (borrowed from the config or runtime) */
    char *repartition;        /* repartition mode: the internal topic (new); NULL: aligned */
    struct service_count *by_service;
    size_t service_count;
    uint64_t repeats, firsts, missing;
    int32_t *owned; /* partitions assigned (repartition mode sweeps them) */
    size_t owned_count;
    int64_t last_sweep_ms, last_report_ms;
    struct bc_metric *duplicates_m; /* breadcrumb_dedup_duplicates_total (a handle) */
};

static void count_service(struct dedup_state *st, const char *service, size_t len)
{
    st->repeats++;
    if (service == NULL) {
        service = "";
        len = 0;
    }
    for (size_t i = 0; i < st->service_count; i++) {
        if (strlen(st->by_service[i].service) == len &&
            memcmp(st->by_service[i].service, service, len) == 0) {
            st->by_service[i].n++;
            return;
        }
    }
    struct service_count *v =
        realloc(st->by_service, (st->service_count + 1) * sizeof(*st->by_service));
    if (v == NULL) {
        return;
    }
    st->by_service = v;
    v[st->service_count].service = strndup(service, len);
    if (v[st->service_count].service == NULL) {
        return;
    }
    v[st->service_count++].n = 1;
}

static void report(struct dedup_state *st)
{
    struct bc_store_stats stats;
    bc_store_stats(st->window.seen, &stats);
    char firsts[24], repeats[24], missing[24], entries[24], bytes[24], evicted[24], expired[24];
    snprintf(firsts, sizeof(firsts), "%" PRIu64, st->firsts);
    snprintf(repeats, sizeof(repeats), "%" PRIu64, st->repeats);
    snprintf(missing, sizeof(missing), "%" PRIu64, st->missing);
    snprintf(entries, sizeof(entries), "%" PRIu64, stats.entries);
    snprintf(bytes, sizeof(bytes), "%" PRIu64, stats.bytes);
    snprintf(evicted, sizeof(evicted), "%" PRIu64, stats.evicted);
    snprintf(expired, sizeof(expired), "%" PRIu64, stats.expired);
    bc_log(BC_LOG_INFO, "deduplicator counts", "unique", firsts, "duplicates", repeats,
           "missing_key", missing, "keys", entries, "bytes", bytes, "evicted", evicted,
           "expired", expired, NULL);
    for (size_t i = 0; i < st->service_count; i++) {
        char n[24];
        snprintf(n, sizeof(n), "%" PRIu64, st->by_service[i].n);
        bc_log(BC_LOG_INFO, "duplicates by service", "service", st->by_service[i].service,
               "duplicates", n, NULL);
    }
}

static void dedup_fini(struct bc_ctx *ctx)
{
    struct dedup_state *st = bc_ctx_state(ctx);
    if (st == NULL) {
        return;
    }
    if (st->window.seen != NULL) {
        report(st);
    }
    if (st->event_ready) {
        avro_value_decref(&st->event);
    }
    bc_avro_buf_free(&st->buf);
    dedup_key_destroy(st->key);
    dedup_window_free(&st->window);
    for (size_t i = 0; i < st->service_count; i++) {
        free(st->by_service[i].service);
    }
    free(st->by_service);
    free(st->repartition);
    free(st->owned);
    free(st);
    bc_ctx_set_state(ctx, NULL);
}

/* The repartition topic: the worker's output `repartition` as the runtime resolved it (an
 * audit replay's own copy), else `<pipeline>.<worker>.repartition`. Returns 0 or -1 (out of
 * memory). */
static int find_repartition(struct bc_ctx *ctx, struct dedup_state *st)
{
    const char *topic = bc_ctx_output_topic(ctx, "repartition");
    int rc = topic != NULL ? asprintf(&st->repartition, "%s", topic)
                           : asprintf(&st->repartition, "%s.%s.repartition",
                                      bc_ctx_pipeline(ctx), bc_ctx_worker(ctx));
    if (rc < 0) {
        st->repartition = NULL;
        return -1;
    }
    return 0;
}

static int dedup_init(struct bc_ctx *ctx)
{
    char errstr[256];
    struct dedup_state *st = calloc(1, sizeof(*st));
    if (st == NULL) {
        return BC_FATAL;
    }
    bc_ctx_set_state(ctx, st);
    st->duplicates_m = bc_metric_counter(ctx, "breadcrumb_dedup_duplicates_total", NULL, NULL);
    const struct bc_values *opts = bc_ctx_options(ctx);
    size_t n;
    const char *const *paths = bc_values_list(opts, "key", &n);
    st->key = dedup_key_compile(paths, n, errstr, sizeof(errstr));
    if (st->key == NULL) {
        bc_log(BC_LOG_ERROR, "bad option", "error", errstr, NULL);
        return BC_FATAL;
    }
    st->fields =
        dedup_key_fields(st->key) | (uint64_t)1 << BC_EV_EVENT_ID | (uint64_t)1 << BC_EV_SERVICE;
    st->registry = bc_ctx_registry(ctx);
    st->te = st->registry != NULL ? bc_avro_registry_lookup(st->registry, "TrackingEvent") : NULL;
    if (st->te == NULL) {
        bc_log(BC_LOG_ERROR, "the deduplicator needs the schema registry (schemas.dir or --schemas)",
               NULL);
        return BC_FATAL;
    }
    if (bc_event_check(st->te, errstr, sizeof(errstr)) != 0 ||
        bc_avro_value_new(st->te, &st->event) != 0) {
        bc_log(BC_LOG_ERROR, "TrackingEvent schema unusable", "error", errstr, NULL);
        return BC_FATAL;
    }
    st->event_ready = 1;
    st->missing_dlq = strcmp(bc_values_str(opts, "missing_key"), "dlq") == 0;
    if (!dedup_key_partition_aligned(st->key) && find_repartition(ctx, st) != 0) {
        return BC_FATAL;
    }
    /* Inputs are forwarded as written: TrackingEvent, registered at start. */
    bc_ctx_expect_schema(ctx, st->repartition, "TrackingEvent");
    /* The input topic, for the first occurrences' positions: known here from the topology
     * (else from the first input record, before any decision in aligned mode). */
    const struct bc_config *cfg = bc_ctx_config(ctx);
    const struct bc_worker *w = cfg != NULL ? bc_config_worker(cfg, bc_ctx_worker(ctx)) : NULL;
    for (size_t i = 0; w != NULL && i < w->n_inputs && st->input == NULL; i++) {
        if (st->repartition == NULL || strcmp(w->inputs[i], st->repartition) != 0) {
            st->input = w->inputs[i];
        }
    }
    st->window.window_ms = bc_values_int(opts, "window");
    struct bc_store_opts store_opts = {
        .max_bytes = (size_t)bc_values_int(opts, "max_bytes"),
        .ttl_ms = st->repartition == NULL ? st->window.window_ms : 0,
        .full_policy = BC_STORE_EVICT_OLDEST,
    };
    st->window.seen = bc_store_open(ctx, "seen", &store_opts);
    if (st->window.seen == NULL) {
        return BC_FATAL;
    }
    bc_log(BC_LOG_INFO, "deduplicator ready", "mode",
           st->repartition != NULL ? "repartition" : "aligned", "repartition_topic",
           st->repartition != NULL ? st->repartition : "-", NULL);
    return BC_OK;
}

static int dedup_assigned(struct bc_ctx *ctx, int32_t partition)
{
    struct dedup_state *st = bc_ctx_state(ctx);
    int32_t *owned = realloc(st->owned, (st->owned_count + 1) * sizeof(*owned));
    if (owned == NULL) {
        return BC_FATAL;
    }
    st->owned = owned;
    owned[st->owned_count++] = partition;
    /* After a restore the runtime's stream time is the store's highest timestamp (entries
     * and the marker): exactly the stage's stream time at the committed offset. */
    if (dedup_window_assign(&st->window, partition, bc_stream_time(ctx, partition)) != 0) {
        return BC_FATAL;
    }
    struct bc_store_stats stats;
    bc_store_stats(st->window.seen, &stats);
    char part[16], keys[24], bytes[24];
    snprintf(part, sizeof(part), "%" PRId32, partition);
    snprintf(keys, sizeof(keys), "%" PRIu64, stats.entries);
    snprintf(bytes, sizeof(bytes), "%" PRIu64, stats.bytes);
    bc_log(BC_LOG_INFO, "partition restored", "partition", part, "store_keys", keys,
           "store_bytes", bytes, NULL);
    return BC_OK;
}

static int dedup_revoked(struct bc_ctx *ctx, int32_t partition)
{
    struct dedup_state *st = bc_ctx_state(ctx);
    for (size_t i = 0; i < st->owned_count; i++) {
        if (st->owned[i] == partition) {
            st->owned[i] = st->owned[--st->owned_count];
            break;
        }
    }
    dedup_window_assign(&st->window, partition, -1);
    return BC_OK;
}

/* Passes a record without the key on (flagged) or to the DLQ. */
static int pass_missing(struct bc_ctx *ctx, struct dedup_state *st, const struct bc_record *rec,
                        const void *key, size_t key_len, const struct bc_emit_opts *opts)
{
    st->missing++;
    if (st->missing_dlq) {
        return bc_dead_letter(ctx, rec, "missing_field", "no value for the deduplication key");
    }
    char errstr[256];
    size_t len;
    const void *value = bc_record_value(rec, &len);
    /* decode() read a few fields; the flagged copy needs them all (the same checks passed) */
    if (bc_avro_decode(st->registry, st->te, value, len, &st->event, errstr, sizeof(errstr)) != 0 ||
        bc_event_add_flag(&st->event, "dedup_key_missing") != 0 ||
        bc_avro_encode(st->te, &st->event, &st->buf, errstr, sizeof(errstr)) != 0) {
        bc_log(BC_LOG_ERROR, "re-encoding a record without key failed", "error", errstr, NULL);
        return BC_FATAL;
    }
    return bc_emit(ctx, rec, "unique", key, key_len, st->buf.data, st->buf.len, opts);
}

/* Decides a record and emits it or its Fate. src_partition/src_offset: the record's position
 * on the input topic; key: the Kafka key to write; service for the repeat count. */
static int decide(struct bc_ctx *ctx, struct dedup_state *st, const struct bc_record *rec,
                  int32_t partition, const uint8_t digest[DEDUP_DIGEST_SIZE],
                  int32_t src_partition, int64_t src_offset, const void *key, size_t key_len,
                  const char *service, size_t service_len, const char *event_id)
{
    struct dedup_first first = {.partition = src_partition, .offset = src_offset};
    int verdict = dedup_window_decide(&st->window, partition, digest, bc_record_timestamp(rec),
                                      &first);
    if (verdict < 0) {
        return BC_RETRY;
    }
    size_t value_len;
    const void *value = bc_record_value(rec, &value_len);
    if (verdict == DEDUP_FIRST) {
        st->firsts++;
        return bc_emit(ctx, rec, "unique", key, key_len, value, value_len, NULL);
    }
    count_service(st, service, service_len);
    bc_metric_add(st->duplicates_m, 1);
    struct bc_source related = {.topic = st->input != NULL ? st->input : "?",
                                .partition = first.partition,
                                .offset = first.offset};
    struct bc_fate fate = {.kind = BC_FATE_DEDUPLICATED, .reason = "duplicate",
                           .event_id = event_id, .related = &related};
    return bc_drop_fate(ctx, rec, NULL, &fate);
}

static int decode(struct dedup_state *st, struct bc_ctx *ctx, const struct bc_record *rec)
{
    char errstr[256];
    size_t len;
    const void *value = bc_record_value(rec, &len);
    if (value == NULL ||
        bc_avro_decode_fields(st->registry, st->te, value, len, &st->event, st->fields, errstr,
                              sizeof(errstr)) != 0) {
        bc_dead_letter(ctx, rec, "wrong_type",
                       value == NULL ? "null value, expected a TrackingEvent" : errstr);
        return -1;
    }
    return 0;
}

/* A record of the input topic. */
static int process_input(struct bc_ctx *ctx, struct dedup_state *st, const struct bc_record *rec)
{
    if (decode(st, ctx, rec) != 0) {
        return BC_OK;
    }
    size_t key_len, service_len = 0, id_len;
    const void *key = bc_record_key(rec, &key_len);
    const char *service = bc_event_get_string(&st->event, BC_EV_SERVICE, &service_len);
    const char *event_id = bc_event_get_string(&st->event, BC_EV_EVENT_ID, &id_len);
    uint8_t digest[DEDUP_DIGEST_SIZE];
    if (dedup_key_digest(st->key, &st->event, digest) != 0) {
        if (st->repartition == NULL &&
            dedup_window_observe(&st->window, bc_record_partition(rec), bc_record_timestamp(rec)) != 0) {
            return BC_RETRY;
        }
        return pass_missing(ctx, st, rec, key, key_len, NULL);
    }
    if (st->repartition == NULL) {
        return decide(ctx, st, rec, bc_record_partition(rec), digest, bc_record_partition(rec),
                      bc_record_offset(rec), key, key_len, service, service_len, event_id);
    }
    char hex[2 * DEDUP_DIGEST_SIZE + 1], src[48];
    dedup_digest_hex(digest, hex);
    int src_len = snprintf(src, sizeof(src), "%" PRId32 ":%" PRId64, bc_record_partition(rec),
                           bc_record_offset(rec));
    struct bc_header headers[3] = {
        {.name = key != NULL ? HDR_KEY : HDR_NOKEY, .value = key != NULL ? key : "", .len = key_len},
        {.name = HDR_SRC, .value = src, .len = (size_t)src_len},
        {.name = HDR_SERVICE, .value = service != NULL ? service : "", .len = service_len},
    };
    struct bc_emit_opts opts = {.headers = headers, .header_count = 3};
    size_t value_len;
    const void *value = bc_record_value(rec, &value_len);
    return bc_emit(ctx, rec, "repartition", hex, sizeof(hex) - 1, value, value_len, &opts);
}

/* A record of the repartition topic: decided without decoding the value again. */
static int process_repartitioned(struct bc_ctx *ctx, struct dedup_state *st,
                                 const struct bc_record *rec)
{
    size_t digest_len, key_len = 0, src_len, service_len = 0;
    const void *hex = bc_record_key(rec, &digest_len);
    const void *key = NULL, *src, *service = NULL;
    uint8_t digest[DEDUP_DIGEST_SIZE];
    char srcbuf[48];
    int32_t src_partition;
    int64_t src_offset;
    if (dedup_digest_parse(hex, digest_len, digest) != 0 ||
        bc_record_header(rec, HDR_SRC, &src, &src_len) != 0 || src_len >= sizeof(srcbuf)) {
        return bc_dead_letter(ctx, rec, "missing_field", "not a deduplicator repartition record");
    }
    memcpy(srcbuf, src, src_len);
    srcbuf[src_len] = '\0';
    if (sscanf(srcbuf, "%" SCNd32 ":%" SCNd64, &src_partition, &src_offset) != 2) {
        return bc_dead_letter(ctx, rec, "missing_field", "bad bc.dedup.src header");
    }
    if (bc_record_header(rec, HDR_KEY, &key, &key_len) != 0) {
        key = NULL;
        key_len = 0;
    }
    if (bc_record_header(rec, HDR_SERVICE, &service, &service_len) != 0) {
        service = NULL;
    }
    return decide(ctx, st, rec, bc_record_partition(rec), digest, src_partition, src_offset, key,
                  key_len, service, service_len, NULL);
}

static int dedup_process(struct bc_ctx *ctx, const struct bc_record *rec)
{
    struct dedup_state *st = bc_ctx_state(ctx);
    const char *topic = bc_record_topic(rec);
    if (st->repartition != NULL && strcmp(topic, st->repartition) == 0) {
        return process_repartitioned(ctx, st, rec);
    }
    if (st->input == NULL) {
        st->input = topic; /* borrowed from the runtime for the whole run */
    }
    return process_input(ctx, st, rec);
}

static int dedup_tick(struct bc_ctx *ctx, int64_t now_ms)
{
    struct dedup_state *st = bc_ctx_state(ctx);
    if (st->repartition != NULL && now_ms - st->last_sweep_ms >= SWEEP_EVERY_MS) {
        st->last_sweep_ms = now_ms;
        for (size_t i = 0; i < st->owned_count; i++) {
            if (dedup_window_sweep(&st->window, st->owned[i]) < 0) {
                return BC_RETRY;
            }
        }
    }
    if (st->last_report_ms == 0) {
        st->last_report_ms = now_ms;
    } else if (now_ms - st->last_report_ms >= 60000) {
        st->last_report_ms = now_ms;
        report(st);
    }
    return BC_OK;
}

const struct bc_stage deduplicator_stage = {
    .name = "deduplicator",
    .type = &bc_deduplicator_type,
    .init = dedup_init,
    .process = dedup_process,
    .tick = dedup_tick,
    .assigned = dedup_assigned,
    .revoked = dedup_revoked,
    .fini = dedup_fini,
};
