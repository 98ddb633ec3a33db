/*
 * The enricher stage: decodes each TrackingEvent of its input, adds the service catalog's
 * fields and the deploy current at the event's time, applies the PII rules and the
 * cardinality limits (enrich.c), and writes the result to output `enriched` with the input's
 * key. A record that does not decode goes to the DLQ (reason `undecodable`).
 *
 * State and determinism:
 *   - catalog: config file, reloaded on SIGHUP at the next tick (a record is enriched with
 *     one catalog version; a bad file keeps the old catalog and logs its errors).
 *   - deploy history: the read-only table `deploys_topic`, read to the end before the first
 *     record and followed between transactions (bc_table_open). An event gets the deploy
 *     current at its own start time among the deploys read so far.
 *   - cardinality: the changelog-backed store `cardinality`, one table per input partition,
 *     restored before the partition's first record.
 * Counters (records, unknown services, deploy joins, redactions by rule, overflows) are
 * logged every 30 s and at the end; never a value, never the HMAC key.
 */
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bc_avro.h"
#include "bc_config.h"
#include "bc_event.h"
#include "bc_log.h"
#include "bc_stage.h"
#include "enrich.h"

extern const struct bc_worker_type bc_enricher_type;

#define REPORT_INTERVAL_MS 30000

struct enricher {
    const struct bc_avro_registry *reg; /* the runtime's, or own_reg */
    struct bc_avro_registry *own_reg;   /* new: loaded here when the runtime has none */
    const struct bc_avro_schema *te;
    avro_value_t ev;
    int has_ev;
    struct bc_avro_buf buf;
    char catalog_path[PATH_MAX];
    struct enr_catalog *catalog;
    struct enr_deploys *deploys;
    char *deploys_topic; /* new, or NULL */
    uint64_t deploy_records, deploy_invalid;
    struct pii_rules *pii;
    struct enr_card card;
    int card_on;
    struct bc_store *card_store;
    struct enr_core core;
    int64_t next_report_ms;
    uint64_t reported_records;
};

static volatile sig_atomic_t reload_requested;

static void on_sighup(int sig)
{
    (void)sig;
    reload_requested = 1;
}

/* ---- cardinality store adapter -------------------------------------------------------- */

struct card_slot {
    struct bc_store *store;
    int32_t partition;
};

static int card_get(void *opaque, const void *key, size_t key_len, const void **value,
                    size_t *value_len)
{
    struct card_slot *slot = opaque;
    return bc_store_get(slot->store, slot->partition, key, key_len, value, value_len, NULL);
}

static int card_put(void *opaque, const void *key, size_t key_len, const void *value,
                    size_t value_len, int64_t ts)
{
    struct card_slot *slot = opaque;
    return bc_store_put(slot->store, slot->partition, key, key_len, value, value_len, ts);
}

/* ---- deploy table --------------------------------------------------------------------- */

static void on_deploy(void *opaque, const void *key, size_t key_len, const void *value,
                      size_t value_len, int64_t ts, int32_t partition, int64_t offset)
{
    (void)ts;
    struct enricher *en = opaque;
    char why[160];
    en->deploy_records++;
    char where[64], id[128];
    snprintf(where, sizeof(where), "%d:%lld", (int)partition, (long long)offset);
    snprintf(id, sizeof(id), "%.*s", key != NULL ? (int)(key_len < 100 ? key_len : 100) : 0,
             key != NULL ? (const char *)key : "");
    int rc = enr_deploys_apply(en->deploys, key, key_len, value, value_len, why, sizeof(why));
    if (rc < 0) {
        en->deploy_invalid++;
        bc_log(BC_LOG_WARN, "deploy record skipped", "topic", en->deploys_topic, "at", where,
               "deploy_id", id, "reason", why, NULL);
    } else {
        /* Deploys are rare and hold no PII: one line each says when an instance knew one. */
        bc_log(BC_LOG_INFO, "deploy read", "topic", en->deploys_topic, "at", where, "deploy_id", id,
               "change", rc == 1 ? (value != NULL ? "added" : "removed") : "none", NULL);
    }
}

/* ---- init ----------------------------------------------------------------------------- */

/* The catalog path as written, else relative to the topology's directory or its parent
 * (the default topology lives in config/ and names config/services.yaml). */
static void resolve_catalog(struct enricher *en, const char *path, const struct bc_config *cfg)
{
    snprintf(en->catalog_path, sizeof(en->catalog_path), "%s", path);
    if (path[0] == '/' || access(path, R_OK) == 0 || cfg == NULL || cfg->file == NULL) {
        return;
    }
    const char *slash = strrchr(cfg->file, '/');
    int dir_len = slash ? (int)(slash - cfg->file) : 1;
    const char *dir = slash ? cfg->file : ".";
    char candidate[PATH_MAX];
    snprintf(candidate, sizeof(candidate), "%.*s/%s", dir_len, dir, path);
    if (access(candidate, R_OK) == 0) {
        snprintf(en->catalog_path, sizeof(en->catalog_path), "%s", candidate);
        return;
    }
    snprintf(candidate, sizeof(candidate), "%.*s/../%s", dir_len, dir, path);
    if (access(candidate, R_OK) == 0) {
        snprintf(en->catalog_path, sizeof(en->catalog_path), "%s", candidate);
    }
}

static const char *schemas_dir(struct bc_ctx *ctx)
{
    const struct bc_config *cfg = bc_ctx_config(ctx);
    if (cfg != NULL && cfg->schemas.dir != NULL && strncmp(cfg->schemas.registry, "http", 4) != 0) {
        return cfg->schemas.dir;
    }
    const char *env = getenv("BREADCRUMB_SCHEMAS");
    return env != NULL && env[0] != '\0' ? env : "schemas";
}

static void enricher_fini(struct bc_ctx *ctx);

static int enricher_init(struct bc_ctx *ctx)
{
    char errstr[1024];
    const struct bc_values *opts = bc_ctx_options(ctx);
    struct enricher *en = calloc(1, sizeof(*en));
    if (en == NULL || opts == NULL) {
        free(en);
        return BC_FATAL;
    }
    bc_ctx_set_state(ctx, en);

    const char *dir = "the runtime's registry";
    if ((en->reg = bc_ctx_registry(ctx)) == NULL) {
        dir = schemas_dir(ctx);
        if (bc_avro_registry_load(dir, &en->own_reg, errstr, sizeof(errstr)) != 0) {
            bc_log(BC_LOG_ERROR, "cannot load schemas", "dir", dir, "error", errstr, NULL);
            return BC_FATAL;
        }
        en->reg = en->own_reg;
    }
    en->te = bc_avro_registry_lookup(en->reg, "TrackingEvent");
    if (en->te == NULL || bc_event_check(en->te, errstr, sizeof(errstr)) != 0 ||
        bc_avro_value_new(en->te, &en->ev) != 0) {
        bc_log(BC_LOG_ERROR, "no usable TrackingEvent schema", "dir", dir, NULL);
        return BC_FATAL;
    }
    en->has_ev = 1;

    resolve_catalog(en, bc_values_str(opts, "catalog"), bc_ctx_config(ctx));
    if ((en->catalog = enr_catalog_load(en->catalog_path, errstr, sizeof(errstr))) == NULL) {
        bc_log(BC_LOG_ERROR, "cannot load the service catalog", "error", errstr, NULL);
        return BC_FATAL;
    }

    /* PII rules and the HMAC key: the key is read once, copied into the rules and never
     * printed; a tokenize rule without it stops the start. */
    const struct bc_node *pii = bc_values_node(opts, "pii");
    const char *key_env = bc_values_str(opts, "tokenize_key_env");
    const char *key = key_env != NULL ? getenv(key_env) : NULL;
    if (pii_rules_need_key(pii) && (key == NULL || key[0] == '\0')) {
        bc_log(BC_LOG_ERROR, "a PII rule tokenizes but the HMAC key is missing",
               "environment_variable", key_env, "detail", "unset or empty", NULL);
        return BC_FATAL;
    }
    en->pii = pii_rules_new(pii, key, key ? strlen(key) : 0, errstr, sizeof(errstr));
    if (en->pii == NULL) {
        bc_log(BC_LOG_ERROR, "bad PII rules", "error", errstr, NULL);
        return BC_FATAL;
    }

    const struct bc_value *card = bc_values_find(opts, "cardinality");
    if (card != NULL && card->set) {
        size_t n = 0;
        const char *const *keys = bc_values_list(opts, "cardinality.keys", &n);
        en->card.max_values = bc_values_int(opts, "cardinality.max_values");
        en->card.window_ms = bc_values_int(opts, "cardinality.window");
        en->card.keys = (char **)keys;
        en->card.n_keys = n;
        struct bc_store_opts so = {.ttl_ms = 2 * en->card.window_ms};
        if ((en->card_store = bc_store_open(ctx, "cardinality", &so)) == NULL) {
            return BC_FATAL;
        }
        en->card_on = 1;
    }

    const char *topic = bc_values_str(opts, "deploys_topic");
    if (topic != NULL && topic[0] != '\0') {
        if ((en->deploys_topic = strdup(topic)) == NULL ||
            (en->deploys = enr_deploys_new()) == NULL ||
            bc_table_open(ctx, topic, on_deploy, en) != 0) {
            return BC_FATAL;
        }
        enr_deploys_set_registry(en->deploys, en->reg);
    }

    if (enr_core_init(&en->core, en->te) != 0) {
        return BC_FATAL;
    }
    en->core.catalog = en->catalog;
    en->core.deploys = en->deploys;
    en->core.pii = en->pii;
    en->core.card = en->card_on ? &en->card : NULL;

    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_sighup;
    sigaction(SIGHUP, &sa, NULL);
    char rules[16], services[16];
    snprintf(rules, sizeof(rules), "%zu", en->pii->n);
    snprintf(services, sizeof(services), "%zu", en->catalog->n);
    bc_log(BC_LOG_INFO, "enricher ready", "catalog", en->catalog_path, "services", services,
           "pii_rules", rules, "deploys_topic", en->deploys_topic ? en->deploys_topic : "",
           "cardinality", en->card_on ? "on" : "off", NULL);
    return BC_OK;
}

/* ---- processing ----------------------------------------------------------------------- */

static int enricher_process(struct bc_ctx *ctx, const struct bc_record *rec)
{
    struct enricher *en = bc_ctx_state(ctx);
    char errstr[512];
    size_t key_len, value_len;
    const void *key = bc_record_key(rec, &key_len);
    const void *value = bc_record_value(rec, &value_len);
    if (value == NULL ||
        bc_avro_decode(en->reg, en->te, value, value_len, &en->ev, errstr, sizeof(errstr)) != 0) {
        return bc_dead_letter(ctx, rec, "undecodable", value == NULL ? "null value" : errstr);
    }
    int64_t ts = bc_record_timestamp(rec);
    if (ts < 0) {
        int64_t start_ns = 0;
        bc_event_get_long(&en->ev, BC_EV_START_TIME_NS, &start_ns);
        ts = start_ns / 1000000;
    }
    struct card_slot slot = {.store = en->card_store, .partition = bc_record_partition(rec)};
    struct enr_card_store st = {.get = card_get, .put = card_put, .opaque = &slot};
    if (enr_enrich(&en->core, &en->ev, ts, en->card_on ? &st : NULL, errstr, sizeof(errstr)) != 0) {
        return bc_dead_letter(ctx, rec, "enrich_failed", errstr);
    }
    if (bc_avro_encode(en->te, &en->ev, &en->buf, errstr, sizeof(errstr)) != 0) {
        return bc_dead_letter(ctx, rec, "enrich_failed", errstr);
    }
    return bc_emit(ctx, rec, "enriched", key, key_len, en->buf.data, en->buf.len, NULL);
}

static void report(struct enricher *en)
{
    const struct enr_counters *c = &en->core.counters;
    char v[8][24];
    snprintf(v[0], sizeof(v[0]), "%llu", (unsigned long long)c->records);
    snprintf(v[1], sizeof(v[1]), "%llu", (unsigned long long)c->unknown_service);
    snprintf(v[2], sizeof(v[2]), "%llu", (unsigned long long)c->deploy_joined);
    snprintf(v[3], sizeof(v[3]), "%llu", (unsigned long long)c->deploy_missing);
    snprintf(v[4], sizeof(v[4]), "%llu", (unsigned long long)c->pii_records);
    snprintf(v[5], sizeof(v[5]), "%llu", (unsigned long long)c->overflow_records);
    snprintf(v[6], sizeof(v[6]), "%llu", (unsigned long long)en->card.overflows);
    snprintf(v[7], sizeof(v[7]), "%llu", (unsigned long long)en->deploy_records);
    bc_log(BC_LOG_INFO, "enricher counters", "records", v[0], "unknown_service", v[1],
           "deploy_joined", v[2], "deploy_missing", v[3], "pii_records", v[4], "overflow_records",
           v[5], "overflow_values", v[6], "deploy_records", v[7], NULL);
    for (size_t i = 0; i < en->pii->n; i++) {
        char hits[24];
        snprintf(hits, sizeof(hits), "%llu", (unsigned long long)en->pii->v[i].hits);
        bc_log(BC_LOG_INFO, "pii rule", "rule", en->pii->v[i].name, "redactions", hits, NULL);
    }
    en->reported_records = c->records;
}

static int enricher_tick(struct bc_ctx *ctx, int64_t now_ms)
{
    struct enricher *en = bc_ctx_state(ctx);
    if (reload_requested) {
        reload_requested = 0;
        char errstr[1024];
        struct enr_catalog *cat = enr_catalog_load(en->catalog_path, errstr, sizeof(errstr));
        if (cat == NULL) {
            bc_log(BC_LOG_ERROR, "catalog reload failed, keeping the old one", "error", errstr,
                   NULL);
        } else {
            enr_catalog_destroy(en->catalog);
            en->catalog = cat;
            en->core.catalog = cat;
            char services[16];
            snprintf(services, sizeof(services), "%zu", cat->n);
            bc_log(BC_LOG_INFO, "catalog reloaded", "catalog", en->catalog_path, "services",
                   services, NULL);
        }
    }
    for (size_t i = 0; en->pii != NULL && i < en->pii->n; i++) {
        char labels[160];
        snprintf(labels, sizeof(labels), "rule=%s", en->pii->v[i].name);
        bc_metric_counter_set(ctx, "breadcrumb_enricher_redactions_total", labels,
                              en->pii->v[i].hits);
    }
    if (now_ms >= en->next_report_ms) {
        if (en->next_report_ms != 0 && en->core.counters.records != en->reported_records) {
            report(en);
        }
        en->next_report_ms = now_ms + REPORT_INTERVAL_MS;
    }
    return BC_OK;
}

static void enricher_fini(struct bc_ctx *ctx)
{
    struct enricher *en = bc_ctx_state(ctx);
    if (en == NULL) {
        return;
    }
    if (en->pii != NULL && en->core.counters.records > 0) {
        report(en);
    }
    enr_core_fini(&en->core);
    if (en->has_ev) {
        avro_value_decref(&en->ev);
    }
    bc_avro_buf_free(&en->buf);
    enr_catalog_destroy(en->catalog);
    enr_deploys_destroy(en->deploys);
    free(en->deploys_topic);
    pii_rules_destroy(en->pii);
    bc_avro_registry_destroy(en->own_reg);
    free(en);
    bc_ctx_set_state(ctx, NULL);
}

const struct bc_stage enricher_stage = {
    .name = "enricher",
    .type = &bc_enricher_type,
    .init = enricher_init,
    .process = enricher_process,
    .tick = enricher_tick,
    .fini = enricher_fini,
};
