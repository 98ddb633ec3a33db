/*
 * The normalizer stage: each raw record of the input (tracking.raw) through the core
 * (normalize.h) to TrackingEvents on output "normalized" (Avro, Confluent wire format, keyed
 * by trace_id or event_id) and dead letters on output "dlq".
 *
 * Dead letters: a whole record that cannot be normalized (empty, not UTF-8, oversized,
 * invalid JSON, unknown format, a bad envelope, a bad flat event) goes through
 * bc_dead_letter(): the raw record unchanged, reason and detail in the bc.dlq.* headers. A
 * bad span or log record inside an otherwise good payload is a DeadLetter Avro record
 * (schemas/DeadLetter.v1.avsc: reason, message, source with the item's index, the item's
 * JSON as raw) written with bc_emit() to the same output, with the same bc.dlq.* headers
 * plus bc.dlq.index, so every dead letter carries its reason in headers either way.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bc_avro.h"
#include "bc_config.h"
#include "bc_log.h"
#include "bc_stage.h"
#include "normalize.h"

extern const struct bc_worker_type bc_normalizer_type;

struct nz {
    struct bc_avro_registry *reg;
    struct norm_options opts;
    struct norm *norm;
    avro_value_t dl; /* a DeadLetter, reused */
    int dl_ready;
    struct bc_avro_buf buf;
    char worker[256]; /* "<pipeline>.<worker>", DeadLetter.worker */

    /* The record being processed. */
    struct bc_ctx *ctx;
    const struct bc_record *rec;
    struct norm_input in;
    int outcome; /* BC_OK, or the first failure of an emit */
};

static int nz_init(struct bc_ctx *ctx)
{
    char errstr[512] = "";
    const char *dir = NULL;
    struct nz *nz = calloc(1, sizeof(*nz));
    if (nz == NULL) {
        return BC_FATAL;
    }
    bc_ctx_set_state(ctx, nz);
    snprintf(nz->worker, sizeof(nz->worker), "%s.%s", bc_ctx_pipeline(ctx), bc_ctx_worker(ctx));
    const struct bc_values *options = bc_ctx_options(ctx);
    if (options == NULL) {
        bc_log(BC_LOG_ERROR, "normalizer: no options (the stage has no worker type)", NULL);
        return BC_FATAL;
    }
    norm_options_from_values(&nz->opts, options);
    /* Metrics at 0 from the first scrape: item dead letters by every reason code. */
    for (int r = 0; r < NORM_REASON_COUNT; r++) {
        char labels[96];
        snprintf(labels, sizeof(labels), "reason=%s", norm_reason_name((enum norm_reason)r));
        bc_metric_counter(ctx, "breadcrumb_normalizer_item_dead_letters_total", NULL, labels);
    }
    /* The topology's schema directory; started from flags, the schemas/ beside the
     * programs' bin/ (the topology's default too). */
    const struct bc_config *cfg = bc_ctx_config(ctx);
    char exe_dir[4096];
    if (cfg != NULL && cfg->schemas.dir != NULL) {
        dir = cfg->schemas.dir;
    } else {
        ssize_t len = readlink("/proc/self/exe", exe_dir, sizeof(exe_dir) - 1);
        exe_dir[len > 0 ? len : 0] = '\0';
        char *slash = strrchr(exe_dir, '/');
        if (slash != NULL && (size_t)(slash - exe_dir) + 12 < sizeof(exe_dir)) {
            strcpy(slash, "/../schemas");
            dir = exe_dir;
        } else {
            dir = "schemas";
        }
    }
    /* The runtime's registry when it loaded one: with a remote registry its ids are the
     * ones registered for the output topics. */
    const struct bc_avro_registry *reg = bc_ctx_registry(ctx);
    if (reg == NULL && bc_avro_registry_load(dir, &nz->reg, errstr, sizeof(errstr)) != 0) {
        bc_log(BC_LOG_ERROR, "schema registry", "dir", dir, "error", errstr, NULL);
        return BC_FATAL;
    }
    nz->norm = norm_new(reg != NULL ? reg : nz->reg, &nz->opts, errstr, sizeof(errstr));
    if (nz->norm == NULL) {
        bc_log(BC_LOG_ERROR, "normalizer", "error", errstr, NULL);
        return BC_FATAL;
    }
    if (bc_avro_value_new(norm_schema_dead_letter(nz->norm), &nz->dl) != 0) {
        bc_log(BC_LOG_ERROR, "normalizer: DeadLetter value", NULL);
        return BC_FATAL;
    }
    nz->dl_ready = 1;
    return BC_OK;
}

/* Stops processing of the record with rc (nonzero) unless rc is BC_OK. */
static int settle(struct nz *nz, int rc)
{
    if (rc != BC_OK) {
        nz->outcome = rc;
        return 1;
    }
    return 0;
}

static int item_dead_letter(struct nz *nz, const struct norm_outcome *o)
{
    char errstr[256] = "";
    size_t key_len = 0;
    const void *key = bc_record_key(nz->rec, &key_len);
    int attempt = bc_record_attempt(nz->rec);
    const struct bc_avro_schema *schema = norm_schema_dead_letter(nz->norm);
    if (norm_dead_letter_fill(&nz->in, o, nz->worker, attempt, key, key_len, &nz->dl) != 0 ||
        bc_avro_encode(schema, &nz->dl, &nz->buf, errstr, sizeof(errstr)) != 0) {
        bc_log(BC_LOG_ERROR, "cannot encode a DeadLetter", "error", errstr, NULL);
        return BC_RETRY;
    }
    const char *reason = norm_reason_name(o->reason);
    char attempts[16], index[16];
    snprintf(attempts, sizeof(attempts), "%d", attempt);
    snprintf(index, sizeof(index), "%d", (int)o->index);
    const struct bc_header headers[] = {
        {"bc.dlq.reason", reason, strlen(reason)},
        {"bc.dlq.detail", o->message, strlen(o->message)},
        {"bc.dlq.attempts", attempts, strlen(attempts)},
        {"bc.dlq.index", index, strlen(index)},
    };
    struct bc_emit_opts opts = {.headers = headers, .header_count = 4};
    char labels[96];
    snprintf(labels, sizeof(labels), "reason=%s", reason);
    bc_metric_counter_add(nz->ctx, "breadcrumb_normalizer_item_dead_letters_total", labels, 1);
    return bc_emit(nz->ctx, nz->rec, "dlq", key, key_len, nz->buf.data, nz->buf.len, &opts);
}

static int on_outcome(void *opaque, const struct norm_outcome *o)
{
    struct nz *nz = opaque;
    if (o->event == NULL) {
        if (o->index < 0) {
            return settle(
                nz, bc_dead_letter(nz->ctx, nz->rec, norm_reason_name(o->reason), o->message));
        }
        return settle(nz, item_dead_letter(nz, o));
    }
    return settle(nz, bc_emit(nz->ctx, nz->rec, "normalized", o->key, strlen(o->key), o->event,
                              o->event_len, NULL));
}

static int nz_process(struct bc_ctx *ctx, const struct bc_record *rec)
{
    struct nz *nz = bc_ctx_state(ctx);
    size_t len = 0;
    const void *value = bc_record_value(rec, &len);
    nz->ctx = ctx;
    nz->rec = rec;
    nz->outcome = BC_OK;
    nz->in = (struct norm_input){
        .data = value,
        .len = len,
        .timestamp_ms = bc_record_timestamp(rec),
        .topic = bc_record_topic(rec),
        .partition = bc_record_partition(rec),
        .offset = bc_record_offset(rec),
    };
    char errstr[256] = "";
    int rc = norm_process(nz->norm, &nz->in, on_outcome, nz, errstr, sizeof(errstr));
    if (rc < 0 && nz->outcome == BC_OK) {
        bc_log(BC_LOG_ERROR, "normalizer internal error", "error", errstr, NULL);
        return BC_RETRY;
    }
    return nz->outcome;
}

static void nz_fini(struct bc_ctx *ctx)
{
    struct nz *nz = bc_ctx_state(ctx);
    if (nz == NULL) {
        return;
    }
    if (nz->norm != NULL) {
        const struct norm_stats *st = norm_stats(nz->norm);
        char records[24], events[24], dead[24];
        uint64_t dl = 0;
        for (int i = 0; i < NORM_REASON_COUNT; i++) {
            dl += st->dead_letters[i];
        }
        snprintf(records, sizeof(records), "%llu", (unsigned long long)st->records);
        snprintf(events, sizeof(events), "%llu", (unsigned long long)st->events);
        snprintf(dead, sizeof(dead), "%llu", (unsigned long long)dl);
        bc_log(BC_LOG_INFO, "normalizer totals", "records", records, "events", events,
               "dead_letters", dead, NULL);
    }
    if (nz->dl_ready) {
        avro_value_decref(&nz->dl);
    }
    norm_destroy(nz->norm);
    bc_avro_registry_destroy(nz->reg);
    bc_avro_buf_free(&nz->buf);
    norm_options_free(&nz->opts);
    free(nz);
    bc_ctx_set_state(ctx, NULL);
}

const struct bc_stage normalizer_stage = {
    .name = "normalizer",
    .type = &bc_normalizer_type,
    .init = nz_init,
    .process = nz_process,
    .fini = nz_fini,
};
