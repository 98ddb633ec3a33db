/*
 * Request dispatch and ApiVersions. The table below is the single source of what the
 * broker implements: ApiVersions advertises exactly its rows, and a request for an API or
 * version outside them closes the connection (as Kafka does), except ApiVersions itself,
 * answered with UNSUPPORTED_VERSION and a v0 body so the client can pick a version.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bc_log.h"
#include "broker.h"

enum {
    API_PRODUCE = 0,
    API_FETCH = 1,
    API_LIST_OFFSETS = 2,
    API_METADATA = 3,
    API_DESCRIBE_CONFIGS = 32,
    API_API_VERSIONS = 18,
    API_CREATE_TOPICS = 19,
    API_DELETE_TOPICS = 20,
    API_INIT_PRODUCER_ID = 22,
    API_OFFSET_COMMIT = 8,
    API_OFFSET_FETCH = 9,
    API_FIND_COORDINATOR = 10,
    API_JOIN_GROUP = 11,
    API_HEARTBEAT = 12,
    API_LEAVE_GROUP = 13,
    API_SYNC_GROUP = 14,
    API_DESCRIBE_GROUPS = 15,
    API_LIST_GROUPS = 16,
    API_DELETE_GROUPS = 42,
    API_ADD_PARTITIONS_TO_TXN = 24,
    API_ADD_OFFSETS_TO_TXN = 25,
    API_END_TXN = 26,
    API_TXN_OFFSET_COMMIT = 28,
};

typedef int (*api_handler)(struct broker *b, struct req *r);

struct api_def {
    int16_t key;
    int16_t min_version;
    int16_t max_version;
    int16_t first_flexible; /* first version with flexible encodings (from the specs) */
    api_handler handle;
    const char *name;
};

static int api_api_versions(struct broker *b, struct req *r);

/* Versions: what librdkafka 2.0.2 and kafkajs 2.2.4 use (KAFKA.md), record batch v2 only. */
static const struct api_def apis[] = {
    {API_PRODUCE, 3, 7, 9, api_produce, "Produce"},
    {API_FETCH, 4, 11, 12, api_fetch, "Fetch"},
    {API_LIST_OFFSETS, 1, 4, 6, api_list_offsets, "ListOffsets"},
    {API_METADATA, 0, 8, 9, api_metadata, "Metadata"},
    {API_API_VERSIONS, 0, 3, 3, api_api_versions, "ApiVersions"},
    {API_CREATE_TOPICS, 0, 4, 5, api_create_topics, "CreateTopics"},
    {API_DELETE_TOPICS, 0, 3, 4, api_delete_topics, "DeleteTopics"},
    {API_INIT_PRODUCER_ID, 0, 4, 2, api_init_producer_id, "InitProducerId"},
    {API_DESCRIBE_CONFIGS, 0, 2, 4, api_describe_configs, "DescribeConfigs"},
    /* Groups (api_group.c). */
    {API_OFFSET_COMMIT, 0, 7, 8, api_offset_commit, "OffsetCommit"},
    {API_OFFSET_FETCH, 0, 7, 6, api_offset_fetch, "OffsetFetch"},
    {API_FIND_COORDINATOR, 0, 2, 3, api_find_coordinator, "FindCoordinator"},
    {API_JOIN_GROUP, 0, 5, 6, api_join_group, "JoinGroup"},
    {API_HEARTBEAT, 0, 3, 4, api_heartbeat, "Heartbeat"},
    {API_LEAVE_GROUP, 0, 3, 4, api_leave_group, "LeaveGroup"},
    {API_SYNC_GROUP, 0, 3, 4, api_sync_group, "SyncGroup"},
    {API_DESCRIBE_GROUPS, 0, 4, 5, api_describe_groups, "DescribeGroups"},
    {API_LIST_GROUPS, 0, 4, 3, api_list_groups, "ListGroups"},
    {API_DELETE_GROUPS, 0, 1, 2, api_delete_groups, "DeleteGroups"},
    /* Transactions (api_txn.c). */
    {API_ADD_PARTITIONS_TO_TXN, 0, 3, 3, api_add_partitions_to_txn, "AddPartitionsToTxn"},
    {API_ADD_OFFSETS_TO_TXN, 0, 3, 3, api_add_offsets_to_txn, "AddOffsetsToTxn"},
    {API_END_TXN, 0, 3, 3, api_end_txn, "EndTxn"},
    {API_TXN_OFFSET_COMMIT, 0, 3, 3, api_txn_offset_commit, "TxnOffsetCommit"},
};

#define NAPIS (sizeof(apis) / sizeof(apis[0]))

static const struct api_def *api_find(int16_t key)
{
    for (size_t i = 0; i < NAPIS; i++) {
        if (apis[i].key == key) {
            return &apis[i];
        }
    }
    return NULL;
}

int api_is_flexible(int16_t api_key, int16_t api_version)
{
    const struct api_def *d = api_find(api_key);
    return d != NULL && api_version >= d->first_flexible;
}

static void write_api_keys(struct kbuf *w, int flex)
{
    kw_array(w, (int32_t)NAPIS, flex);
    for (size_t i = 0; i < NAPIS; i++) {
        kw_i16(w, apis[i].key);
        kw_i16(w, apis[i].min_version);
        kw_i16(w, apis[i].max_version);
        kw_tags(w, flex);
    }
}

static int api_api_versions(struct broker *b, struct req *r)
{
    (void)b;
    struct kbuf *w = &r->slot->buf;
    if (r->api_version > 3) {
        kw_i16(w, KERR_UNSUPPORTED_VERSION);
        write_api_keys(w, 0);
        return API_DONE;
    }
    if (r->api_version >= 3) {
        (void)kr_str(&r->body, 1); /* client_software_name */
        (void)kr_str(&r->body, 1); /* client_software_version */
        kr_tags(&r->body, 1);
        if (r->body.err) {
            return API_MALFORMED;
        }
    }
    kw_i16(w, KERR_NONE);
    write_api_keys(w, r->flex);
    if (r->api_version >= 1) {
        kw_i32(w, 0); /* throttle_time_ms */
    }
    kw_tags(w, r->flex);
    return API_DONE;
}

int api_dispatch(struct broker *b, struct conn *c, const uint8_t *frame, size_t n,
                 const char **reason)
{
    struct krd rd;
    krd_init(&rd, frame, n);
    struct req r = {.conn = c};
    r.api_key = kr_i16(&rd);
    r.api_version = kr_i16(&rd);
    r.correlation_id = kr_i32(&rd);
    const struct api_def *d = api_find(r.api_key);
    int unsupported_versions = r.api_key == API_API_VERSIONS && r.api_version > 3;
    if (d == NULL || ((r.api_version < d->min_version || r.api_version > d->max_version) &&
                      !unsupported_versions)) {
        char key[16], ver[16];
        snprintf(key, sizeof(key), "%d", r.api_key);
        snprintf(ver, sizeof(ver), "%d", r.api_version);
        bc_log(BC_LOG_WARN, "unsupported request", "peer", c->peer, "client_id", c->client_id,
               "api_key", key, "api_version", ver, NULL);
        *reason = "unsupported api or version";
        return -1;
    }
    r.flex = !unsupported_versions && r.api_version >= d->first_flexible;
    struct kstr client_id = kr_str(&rd, 0); /* never compact, even in header v2 */
    if (!unsupported_versions) {
        kr_tags(&rd, r.flex);
    }
    if (rd.err) {
        *reason = "malformed request header";
        bc_log(BC_LOG_WARN, "malformed request header", "peer", c->peer, NULL);
        return -1;
    }
    if (c->client_id[0] == '\0' && client_id.len > 0) {
        size_t len = (size_t)client_id.len < sizeof(c->client_id) - 1 ? (size_t)client_id.len
                                                                        : sizeof(c->client_id) - 1;
        for (size_t i = 0; i < len; i++) {
            char ch = client_id.p[i];
            c->client_id[i] = (ch >= 0x20 && ch < 0x7f) ? ch : '?';
        }
        c->client_id[len] = '\0';
    }
    r.body = rd;

    struct slot *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        *reason = "out of memory";
        return -1;
    }
    s->conn = c;
    s->api_key = r.api_key;
    s->api_version = r.api_version;
    kw_i32(&s->buf, 0); /* size, set by slot_complete */
    kw_i32(&s->buf, r.correlation_id);
    /* Response header v1 for flexible versions; ApiVersions always uses v0. */
    if (r.flex && r.api_key != API_API_VERSIONS) {
        kw_tags(&s->buf, 1);
    }
    /* Queue it first: responses leave in request order. */
    if (c->tail != NULL) {
        c->tail->next = s;
    } else {
        c->head = s;
    }
    c->tail = s;
    r.slot = s;

    int rc = d->handle(b, &r);
    if (rc == API_MALFORMED || (rc == API_DONE && s->buf.oom)) {
        char key[16], ver[16];
        snprintf(key, sizeof(key), "%d", r.api_key);
        snprintf(ver, sizeof(ver), "%d", r.api_version);
        bc_log(BC_LOG_WARN, "malformed request", "peer", c->peer, "client_id", c->client_id,
               "api", d->name, "api_version", ver, NULL);
        *reason = "malformed request";
        return -1;
    }
    if (rc == API_CLOSE) {
        *reason = "test fault: connection dropped after append";
        return -1;
    }
    if (rc == API_NO_RESPONSE) {
        /* Unlink the slot (it is the tail: nothing was queued after it). */
        struct slot **pp = &c->head;
        struct slot *prev = NULL;
        while (*pp != s) {
            prev = *pp;
            pp = &(*pp)->next;
        }
        *pp = NULL;
        c->tail = prev;
        kbuf_free(&s->buf);
        free(s);
        return 0;
    }
    if (rc == API_DONE) {
        slot_complete(b, s);
    }
    return 0;
}
