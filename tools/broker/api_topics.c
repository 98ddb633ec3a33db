/* Metadata, CreateTopics, DeleteTopics, DescribeConfigs and ListOffsets. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bc_log.h"
#include "broker.h"

#define CLUSTER_ID "breadcrumb-broker"
#define AUTH_OPS_UNKNOWN INT32_MIN

int64_t partition_last_stable_offset(struct partition *p)
{
    return txn_partition_lso(p);
}

static void metadata_topic(struct kbuf *w, const struct req *r, const struct topic *t,
                           struct kstr name, int16_t error)
{
    int v = r->api_version;
    kw_i16(w, error);
    if (t != NULL) {
        kw_str(w, t->name, -1, r->flex);
    } else {
        kw_kstr(w, name, r->flex);
    }
    if (v >= 1) {
        kw_i8(w, 0); /* is_internal */
    }
    int32_t np = t != NULL ? t->npartitions : 0;
    kw_array(w, np, r->flex);
    for (int32_t i = 0; i < np; i++) {
        kw_i16(w, KERR_NONE);
        kw_i32(w, i);
        kw_i32(w, BROKER_NODE_ID); /* leader */
        if (v >= 7) {
            kw_i32(w, 0); /* leader_epoch */
        }
        kw_array(w, 1, r->flex); /* replicas */
        kw_i32(w, BROKER_NODE_ID);
        kw_array(w, 1, r->flex); /* isr */
        kw_i32(w, BROKER_NODE_ID);
        if (v >= 5) {
            kw_array(w, 0, r->flex); /* offline replicas */
        }
        kw_tags(w, r->flex);
    }
    if (v >= 8) {
        kw_i32(w, AUTH_OPS_UNKNOWN);
    }
    kw_tags(w, r->flex);
}

int api_metadata(struct broker *b, struct req *r)
{
    struct krd *rd = &r->body;
    int v = r->api_version;
    int32_t n = kr_array(rd, r->flex, 2);
    int all = (v == 0 && n == 0) || n < 0;
    struct kstr *names = NULL;
    if (n > 0) {
        names = calloc((size_t)n, sizeof(*names));
        if (names == NULL) {
            return API_MALFORMED;
        }
    }
    for (int32_t i = 0; i < n && !rd->err; i++) {
        names[i] = kr_str(rd, r->flex);
        kr_tags(rd, r->flex);
    }
    int allow_auto = 1;
    if (v >= 4) {
        allow_auto = kr_i8(rd) != 0;
    }
    if (v >= 8) {
        (void)kr_i8(rd);
        (void)kr_i8(rd);
    }
    kr_tags(rd, r->flex);
    if (rd->err) {
        free(names);
        return API_MALFORMED;
    }

    struct kbuf *w = &r->slot->buf;
    if (v >= 3) {
        kw_i32(w, 0); /* throttle_time_ms */
    }
    kw_array(w, 1, r->flex);
    kw_i32(w, BROKER_NODE_ID);
    kw_str(w, b->opts.advertised_host, -1, r->flex);
    kw_i32(w, b->port);
    if (v >= 1) {
        kw_str(w, NULL, 0, r->flex); /* rack */
    }
    kw_tags(w, r->flex);
    if (v >= 2) {
        kw_str(w, CLUSTER_ID, -1, r->flex);
    }
    if (v >= 1) {
        kw_i32(w, BROKER_NODE_ID); /* controller */
    }
    if (all) {
        kw_array(w, (int32_t)b->ntopics, r->flex);
        for (size_t i = 0; i < b->ntopics; i++) {
            metadata_topic(w, r, b->topics[i], (struct kstr){NULL, -1}, KERR_NONE);
        }
    } else {
        kw_array(w, n, r->flex);
        for (int32_t i = 0; i < n; i++) {
            struct topic *t = broker_topic_find_kstr(b, names[i]);
            int16_t err = KERR_NONE;
            char name[TOPIC_NAME_MAX + 1];
            if (t == NULL) {
                if (kstr_copy(names[i], name, sizeof(name)) != 0 || topic_name_valid(name) != 0) {
                    err = KERR_INVALID_TOPIC_EXCEPTION;
                } else if (allow_auto && b->opts.auto_create) {
                    char msg[256];
                    err = (int16_t)broker_topic_create(b, name, -1, NULL, NULL, 0, &t, msg,
                                                       sizeof(msg));
                } else {
                    err = KERR_UNKNOWN_TOPIC_OR_PARTITION;
                }
            }
            metadata_topic(w, r, err == KERR_NONE ? t : NULL, names[i], err);
        }
    }
    if (v >= 8) {
        kw_i32(w, AUTH_OPS_UNKNOWN);
    }
    kw_tags(w, r->flex);
    free(names);
    return API_DONE;
}

#define MAX_CONFIGS 64

int api_create_topics(struct broker *b, struct req *r)
{
    struct krd *rd = &r->body;
    int v = r->api_version;
    int32_t n = kr_array(rd, r->flex, 9); /* a topic takes >= 9 bytes */
    /* Decode everything first (timeout and validate_only come after the topics). */
    struct ct {
        struct kstr name;
        int32_t partitions;
        int16_t replication;
        int32_t nassign;
        int bad_assignment;
        int32_t nconfigs;
        struct kstr cfg_name[MAX_CONFIGS];
        struct kstr cfg_value[MAX_CONFIGS];
    } *topics = NULL;
    if (n > 0) {
        topics = calloc((size_t)n, sizeof(*topics));
        if (topics == NULL) {
            return API_MALFORMED;
        }
    }
    for (int32_t i = 0; i < n && !rd->err; i++) {
        struct ct *t = &topics[i];
        t->name = kr_str(rd, r->flex);
        t->partitions = kr_i32(rd);
        t->replication = kr_i16(rd);
        t->nassign = kr_array(rd, r->flex, 8);
        for (int32_t a = 0; a < t->nassign && !rd->err; a++) {
            int32_t idx = kr_i32(rd);
            int32_t nb = kr_array(rd, r->flex, 4);
            if (idx != a || nb != 1) {
                t->bad_assignment = 1;
            }
            for (int32_t k = 0; k < nb && !rd->err; k++) {
                if (kr_i32(rd) != BROKER_NODE_ID) {
                    t->bad_assignment = 1;
                }
            }
            kr_tags(rd, r->flex);
        }
        int32_t nc = kr_array(rd, r->flex, 4);
        for (int32_t c = 0; c < nc && !rd->err; c++) {
            struct kstr cn = kr_str(rd, r->flex);
            struct kstr cv = kr_str(rd, r->flex);
            kr_tags(rd, r->flex);
            if (t->nconfigs < MAX_CONFIGS) {
                t->cfg_name[t->nconfigs] = cn;
                t->cfg_value[t->nconfigs] = cv;
                t->nconfigs++;
            }
        }
        kr_tags(rd, r->flex);
    }
    (void)kr_i32(rd); /* timeout_ms: creation is synchronous */
    int validate_only = v >= 1 ? kr_i8(rd) != 0 : 0;
    kr_tags(rd, r->flex);
    if (rd->err) {
        free(topics);
        return API_MALFORMED;
    }

    struct kbuf *w = &r->slot->buf;
    if (v >= 2) {
        kw_i32(w, 0);
    }
    kw_array(w, n, r->flex);
    for (int32_t i = 0; i < n; i++) {
        struct ct *t = &topics[i];
        char name[TOPIC_NAME_MAX + 1];
        char msg[512] = "";
        int err = KERR_NONE;
        char names_buf[MAX_CONFIGS][128];
        char values_buf[MAX_CONFIGS][128];
        const char *cn[MAX_CONFIGS], *cv[MAX_CONFIGS];
        int32_t parts = t->partitions;
        if (kstr_copy(t->name, name, sizeof(name)) != 0 || topic_name_valid(name) != 0) {
            err = KERR_INVALID_TOPIC_EXCEPTION;
            snprintf(msg, sizeof(msg), "invalid topic name");
        } else if (t->nassign > 0 && (t->partitions != -1 || t->replication != -1)) {
            err = KERR_INVALID_REQUEST;
            snprintf(msg, sizeof(msg),
                     "Both numPartitions or replicationFactor and replicasAssignments were set.");
        } else if (t->nassign > 0 && t->bad_assignment) {
            err = KERR_INVALID_REPLICA_ASSIGNMENT;
            snprintf(msg, sizeof(msg), "Replicas must be exactly [%d]", BROKER_NODE_ID);
        } else if (t->nassign == 0 && t->replication != 1 && t->replication != -1) {
            err = KERR_INVALID_REPLICATION_FACTOR;
            snprintf(msg, sizeof(msg),
                     "Replication factor: %d larger than available brokers: 1.", t->replication);
        } else if (t->nassign == 0 && t->partitions != -1 && t->partitions < 1) {
            err = KERR_INVALID_PARTITIONS;
            snprintf(msg, sizeof(msg), "Number of partitions must be larger than 0.");
        } else if (t->nconfigs >= MAX_CONFIGS) {
            err = KERR_INVALID_CONFIG;
            snprintf(msg, sizeof(msg), "too many configs");
        } else if (broker_topic_find(b, name) != NULL) {
            err = KERR_TOPIC_ALREADY_EXISTS;
            snprintf(msg, sizeof(msg), "Topic '%s' already exists.", name);
        } else {
            if (t->nassign > 0) {
                parts = t->nassign;
            }
            for (int32_t c = 0; c < t->nconfigs && err == KERR_NONE; c++) {
                if (kstr_copy(t->cfg_name[c], names_buf[c], sizeof(names_buf[c])) != 0) {
                    err = KERR_INVALID_CONFIG;
                    snprintf(msg, sizeof(msg), "invalid config name");
                    break;
                }
                cn[c] = names_buf[c];
                cv[c] = NULL;
                if (t->cfg_value[c].len >= 0) {
                    if (kstr_copy(t->cfg_value[c], values_buf[c], sizeof(values_buf[c])) != 0) {
                        err = KERR_INVALID_CONFIG;
                        snprintf(msg, sizeof(msg), "config value too long");
                        break;
                    }
                    cv[c] = values_buf[c];
                }
            }
            if (err == KERR_NONE && !validate_only) {
                err = broker_topic_create(b, name, parts, cn, cv, (size_t)t->nconfigs, NULL, msg,
                                          sizeof(msg));
            }
        }
        kw_kstr(w, t->name, r->flex);
        kw_i16(w, (int16_t)err);
        if (v >= 1) {
            kw_str(w, err == KERR_NONE ? NULL : msg, -1, r->flex);
        }
        kw_tags(w, r->flex);
        if (err != KERR_NONE) {
            char code[16];
            snprintf(code, sizeof(code), "%d", err);
            bc_log(BC_LOG_INFO, "create topic refused", "topic", err == KERR_INVALID_TOPIC_EXCEPTION ? "?" : name,
                   "error_code", code, "reason", msg, NULL);
        }
    }
    kw_tags(w, r->flex);
    free(topics);
    return API_DONE;
}

int api_delete_topics(struct broker *b, struct req *r)
{
    struct krd *rd = &r->body;
    int32_t n = kr_array(rd, r->flex, 2);
    struct kstr *names = n > 0 ? calloc((size_t)n, sizeof(*names)) : NULL;
    if (n > 0 && names == NULL) {
        return API_MALFORMED;
    }
    for (int32_t i = 0; i < n && !rd->err; i++) {
        names[i] = kr_str(rd, r->flex);
    }
    (void)kr_i32(rd);
    kr_tags(rd, r->flex);
    if (rd->err) {
        free(names);
        return API_MALFORMED;
    }
    struct kbuf *w = &r->slot->buf;
    if (r->api_version >= 1) {
        kw_i32(w, 0);
    }
    kw_array(w, n, r->flex);
    for (int32_t i = 0; i < n; i++) {
        char name[TOPIC_NAME_MAX + 1];
        int err = KERR_UNKNOWN_TOPIC_OR_PARTITION;
        if (kstr_copy(names[i], name, sizeof(name)) == 0) {
            err = broker_topic_delete(b, name);
        }
        kw_kstr(w, names[i], r->flex);
        kw_i16(w, (int16_t)err);
        kw_tags(w, r->flex);
    }
    kw_tags(w, r->flex);
    free(names);
    b->data_appended = 1; /* parked fetches on deleted topics answer now */
    return API_DONE;
}

#define RESOURCE_TOPIC 2
#define RESOURCE_BROKER 4
#define SOURCE_DYNAMIC_TOPIC 1
#define SOURCE_DEFAULT 5

int api_describe_configs(struct broker *b, struct req *r)
{
    struct krd *rd = &r->body;
    int v = r->api_version;
    int32_t n = kr_array(rd, r->flex, 3);
    struct res {
        int8_t type;
        struct kstr name;
        int32_t nkeys;
        struct kstr keys[TC_COUNT + 8];
        int all;
    } *res = n > 0 ? calloc((size_t)n, sizeof(*res)) : NULL;
    if (n > 0 && res == NULL) {
        return API_MALFORMED;
    }
    for (int32_t i = 0; i < n && !rd->err; i++) {
        res[i].type = kr_i8(rd);
        res[i].name = kr_str(rd, r->flex);
        int32_t nk = kr_array(rd, r->flex, 2);
        res[i].all = nk < 0;
        for (int32_t k = 0; k < nk && !rd->err; k++) {
            struct kstr key = kr_str(rd, r->flex);
            if (res[i].nkeys < TC_COUNT + 8) {
                res[i].keys[res[i].nkeys++] = key;
            }
        }
        kr_tags(rd, r->flex);
    }
    if (v >= 1) {
        (void)kr_i8(rd); /* include_synonyms: none to report */
    }
    kr_tags(rd, r->flex);
    if (rd->err) {
        free(res);
        return API_MALFORMED;
    }
    struct kbuf *w = &r->slot->buf;
    kw_i32(w, 0);
    kw_array(w, n, r->flex);
    for (int32_t i = 0; i < n; i++) {
        struct topic *t = NULL;
        int16_t err = KERR_NONE;
        const char *msg = NULL;
        if (res[i].type == RESOURCE_TOPIC) {
            t = broker_topic_find_kstr(b, res[i].name);
            if (t == NULL) {
                err = KERR_UNKNOWN_TOPIC_OR_PARTITION;
                msg = "Topic does not exist";
            }
        } else if (res[i].type != RESOURCE_BROKER) {
            err = KERR_INVALID_REQUEST;
            msg = "unsupported resource type";
        }
        kw_i16(w, err);
        kw_str(w, msg, -1, r->flex);
        kw_i8(w, res[i].type);
        kw_kstr(w, res[i].name, r->flex);
        if (t == NULL) {
            kw_array(w, 0, r->flex); /* brokers: no dynamic configs to describe */
            kw_tags(w, r->flex);
            continue;
        }
        int want[TC_COUNT];
        int32_t count = 0;
        for (int k = 0; k < TC_COUNT; k++) {
            want[k] = res[i].all;
            for (int32_t q = 0; q < res[i].nkeys && !want[k]; q++) {
                want[k] = kstr_eq(res[i].keys[q], topic_config_defs[k].name);
            }
            count += want[k];
        }
        kw_array(w, count, r->flex);
        for (int k = 0; k < TC_COUNT; k++) {
            if (!want[k]) {
                continue;
            }
            int is_default = t->cfg.value[k] == NULL;
            kw_str(w, topic_config_defs[k].name, -1, r->flex);
            kw_str(w, topic_config_value(t, (enum topic_config_key)k), -1, r->flex);
            kw_i8(w, 0); /* read_only */
            if (v == 0) {
                kw_i8(w, (int8_t)is_default);
            } else {
                kw_i8(w, is_default ? SOURCE_DEFAULT : SOURCE_DYNAMIC_TOPIC);
            }
            kw_i8(w, 0); /* is_sensitive */
            if (v >= 1) {
                kw_array(w, 0, r->flex); /* synonyms */
            }
            kw_tags(w, r->flex);
        }
        kw_tags(w, r->flex);
    }
    kw_tags(w, r->flex);
    free(res);
    return API_DONE;
}

int api_list_offsets(struct broker *b, struct req *r)
{
    struct krd *rd = &r->body;
    int v = r->api_version;
    struct kbuf *w = &r->slot->buf;
    (void)kr_i32(rd); /* replica_id */
    int8_t isolation = v >= 2 ? kr_i8(rd) : 0;
    if (v >= 2) {
        kw_i32(w, 0);
    }
    int32_t nt = kr_array(rd, r->flex, 6);
    kw_array(w, nt, r->flex);
    for (int32_t i = 0; i < nt && !rd->err; i++) {
        struct kstr name = kr_str(rd, r->flex);
        kw_kstr(w, name, r->flex);
        int32_t np = kr_array(rd, r->flex, 12);
        kw_array(w, np, r->flex);
        for (int32_t j = 0; j < np && !rd->err; j++) {
            int32_t index = kr_i32(rd);
            if (v >= 4) {
                (void)kr_i32(rd); /* current_leader_epoch */
            }
            int64_t ts = kr_i64(rd);
            kr_tags(rd, r->flex);
            struct partition *p = broker_partition_find(b, name, index);
            int16_t err = KERR_NONE;
            int64_t offset = -1, found_ts = -1;
            if (p == NULL) {
                err = KERR_UNKNOWN_TOPIC_OR_PARTITION;
            } else if (ts == -1) {
                offset = isolation == 1 ? partition_last_stable_offset(p)
                                        : plog_end_offset(p->log);
            } else if (ts == -2) {
                offset = plog_start_offset(p->log);
            } else if (ts < 0) {
                err = KERR_UNSUPPORTED_VERSION; /* max-timestamp (-3) needs v7 */
            } else {
                offset = plog_offset_for_time(p->log, ts, &found_ts);
                if (offset >= plog_end_offset(p->log)) {
                    offset = -1;
                    found_ts = -1;
                }
            }
            kw_i32(w, index);
            kw_i16(w, err);
            kw_i64(w, found_ts);
            kw_i64(w, offset);
            if (v >= 4) {
                kw_i32(w, err == KERR_NONE ? 0 : -1);
            }
            kw_tags(w, r->flex);
        }
        kr_tags(rd, r->flex);
        kw_tags(w, r->flex);
    }
    kr_tags(rd, r->flex);
    kw_tags(w, r->flex);
    return rd->err ? API_MALFORMED : API_DONE;
}
