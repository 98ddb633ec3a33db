/*
 * The group APIs on the wire: FindCoordinator, JoinGroup, SyncGroup, Heartbeat, LeaveGroup,
 * OffsetCommit, OffsetFetch, ListGroups, DescribeGroups, DeleteGroups. Each handler decodes
 * its request, asks the coordinator (group.c) and encodes the answer for the request's
 * version. JoinGroup and SyncGroup are deferred: their slot is the coordinator's waiter and
 * group_slot_io writes the answer into it whenever the coordinator has one.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bc_log.h"
#include "broker.h"
#include "group.h"

#define MAX_PROTOCOLS 64
#define AUTH_OPS_UNKNOWN INT32_MIN

static int slot_flex(const struct slot *s)
{
    return api_is_flexible(s->api_key, s->api_version);
}

/* "/<ip>" for a peer "<ip>:<port>", as Kafka shows client hosts. */
static void client_host(const struct conn *c, char *out, size_t cap)
{
    const char *colon = strrchr(c->peer, ':');
    int len = colon ? (int)(colon - c->peer) : (int)strlen(c->peer);
    snprintf(out, cap, "/%.*s", len, c->peer);
}

/* --- deferred answers -------------------------------------------------------------------- */

static const struct group_protocol *protocol_of(const struct group_member *m, const char *name)
{
    for (size_t i = 0; name != NULL && i < m->nprotocols; i++) {
        if (strcmp(m->protocols[i].name, name) == 0) {
            return &m->protocols[i];
        }
    }
    return NULL;
}

static void slot_join_done(struct broker *b, void *waiter, const struct group_join_result *res)
{
    struct slot *s = waiter;
    int v = s->api_version, flex = slot_flex(s);
    struct kbuf *w = &s->buf;
    if (v >= 2) {
        kw_i32(w, 0); /* throttle_time_ms */
    }
    kw_i16(w, res->error);
    kw_i32(w, res->generation);
    if (v >= 7) {
        kw_str(w, res->protocol_type, -1, flex);
        kw_str(w, res->protocol_name, -1, flex);
    } else {
        kw_str(w, res->protocol_name ? res->protocol_name : "", -1, flex);
    }
    kw_str(w, res->leader_id, -1, flex);
    if (v >= 9) {
        kw_i8(w, 0); /* skip_assignment */
    }
    kw_str(w, res->member_id, -1, flex);
    const struct group *g = res->members_of;
    kw_array(w, g ? (int32_t)g->nmembers : 0, flex);
    for (size_t i = 0; g != NULL && i < g->nmembers; i++) {
        const struct group_member *m = g->members[i];
        const struct group_protocol *p = protocol_of(m, g->protocol_name);
        kw_str(w, m->member_id, -1, flex);
        if (v >= 5) {
            kw_str(w, m->instance_id, -1, flex);
        }
        kw_bytes(w, p && p->metadata ? p->metadata : (const uint8_t *)"", p ? p->len : 0, flex);
        kw_tags(w, flex);
    }
    kw_tags(w, flex);
    slot_complete(b, s);
}

static void slot_sync_done(struct broker *b, void *waiter, int16_t error, const char *protocol_type,
                           const char *protocol_name, const uint8_t *assignment, int32_t len)
{
    struct slot *s = waiter;
    int v = s->api_version, flex = slot_flex(s);
    struct kbuf *w = &s->buf;
    if (v >= 1) {
        kw_i32(w, 0);
    }
    kw_i16(w, error);
    if (v >= 5) {
        kw_str(w, protocol_type, -1, flex);
        kw_str(w, protocol_name, -1, flex);
    }
    kw_bytes(w, assignment ? assignment : (const uint8_t *)"", assignment ? len : 0, flex);
    kw_tags(w, flex);
    slot_complete(b, s);
}

const struct group_io group_slot_io = {slot_join_done, slot_sync_done};

static void slot_cancel(struct broker *b, struct slot *s)
{
    group_waiter_gone(b, s);
}

/* --- FindCoordinator --------------------------------------------------------------------- */

int api_find_coordinator(struct broker *b, struct req *r)
{
    struct krd *rd = &r->body;
    int v = r->api_version;
    struct kstr key = kr_str(rd, r->flex);
    int8_t key_type = v >= 1 ? kr_i8(rd) : 0;
    kr_tags(rd, r->flex);
    if (rd->err) {
        return API_MALFORMED;
    }
    (void)key;
    /* Key type 0: a group, 1: a transactional id (txn.c); both live on this broker. */
    int16_t err = key_type == 0 || key_type == 1 ? KERR_NONE : KERR_INVALID_REQUEST;
    struct kbuf *w = &r->slot->buf;
    if (v >= 1) {
        kw_i32(w, 0);
    }
    kw_i16(w, err);
    if (v >= 1) {
        kw_str(w, err ? "unsupported coordinator key type" : NULL, -1, r->flex);
    }
    kw_i32(w, err ? -1 : BROKER_NODE_ID);
    kw_str(w, err ? "" : b->opts.advertised_host, -1, r->flex);
    kw_i32(w, err ? -1 : b->port);
    kw_tags(w, r->flex);
    return API_DONE;
}

/* --- JoinGroup, SyncGroup ---------------------------------------------------------------- */

int api_join_group(struct broker *b, struct req *r)
{
    struct krd *rd = &r->body;
    int v = r->api_version;
    struct group_join_req rq = {0};
    struct kstr names[MAX_PROTOCOLS], metadata[MAX_PROTOCOLS];
    rq.group_id = kr_str(rd, r->flex);
    rq.session_timeout_ms = kr_i32(rd);
    rq.rebalance_timeout_ms = v >= 1 ? kr_i32(rd) : rq.session_timeout_ms;
    rq.member_id = kr_str(rd, r->flex);
    rq.instance_id = v >= 5 ? kr_str(rd, r->flex) : (struct kstr){NULL, -1};
    rq.protocol_type = kr_str(rd, r->flex);
    int32_t n = kr_array(rd, r->flex, 4);
    for (int32_t i = 0; i < n && !rd->err; i++) {
        struct kstr name = kr_str(rd, r->flex);
        struct kstr md = kr_bytes(rd, r->flex);
        kr_tags(rd, r->flex);
        if (i < MAX_PROTOCOLS) {
            names[i] = name;
            metadata[i] = md;
        }
    }
    if (v >= 8) {
        (void)kr_str(rd, r->flex); /* reason */
    }
    kr_tags(rd, r->flex);
    if (rd->err || n > MAX_PROTOCOLS) {
        return API_MALFORMED;
    }
    char host[80];
    client_host(r->conn, host, sizeof(host));
    rq.client_id = r->conn->client_id;
    rq.client_host = host;
    rq.nprotocols = n > 0 ? n : 0;
    rq.protocol_names = names;
    rq.protocol_metadata = metadata;
    rq.require_known_member_id = v >= 4;
    r->slot->cancel = slot_cancel;
    group_join(b, &rq, r->slot);
    return API_DEFERRED;
}

int api_sync_group(struct broker *b, struct req *r)
{
    struct krd *rd = &r->body;
    int v = r->api_version;
    struct group_sync_req rq = {0};
    rq.group_id = kr_str(rd, r->flex);
    rq.generation = kr_i32(rd);
    rq.member_id = kr_str(rd, r->flex);
    rq.instance_id = v >= 3 ? kr_str(rd, r->flex) : (struct kstr){NULL, -1};
    rq.protocol_type = v >= 5 ? kr_str(rd, r->flex) : (struct kstr){NULL, -1};
    rq.protocol_name = v >= 5 ? kr_str(rd, r->flex) : (struct kstr){NULL, -1};
    int32_t n = kr_array(rd, r->flex, 4);
    struct kstr *ids = NULL, *assignments = NULL;
    if (n > 0) {
        ids = calloc((size_t)n, sizeof(*ids));
        assignments = calloc((size_t)n, sizeof(*assignments));
        if (ids == NULL || assignments == NULL) {
            free(ids);
            free(assignments);
            return API_MALFORMED;
        }
    }
    for (int32_t i = 0; i < n && !rd->err; i++) {
        ids[i] = kr_str(rd, r->flex);
        assignments[i] = kr_bytes(rd, r->flex);
        kr_tags(rd, r->flex);
    }
    kr_tags(rd, r->flex);
    if (rd->err) {
        free(ids);
        free(assignments);
        return API_MALFORMED;
    }
    rq.nassignments = n > 0 ? n : 0;
    rq.assign_member_ids = ids;
    rq.assignments = assignments;
    r->slot->cancel = slot_cancel;
    group_sync(b, &rq, r->slot);
    free(ids);
    free(assignments);
    return API_DEFERRED;
}

/* --- Heartbeat, LeaveGroup --------------------------------------------------------------- */

int api_heartbeat(struct broker *b, struct req *r)
{
    struct krd *rd = &r->body;
    int v = r->api_version;
    struct kstr group_id = kr_str(rd, r->flex);
    int32_t generation = kr_i32(rd);
    struct kstr member_id = kr_str(rd, r->flex);
    struct kstr instance_id = v >= 3 ? kr_str(rd, r->flex) : (struct kstr){NULL, -1};
    kr_tags(rd, r->flex);
    if (rd->err) {
        return API_MALFORMED;
    }
    int16_t err = (int16_t)group_heartbeat(b, group_id, generation, member_id, instance_id);
    struct kbuf *w = &r->slot->buf;
    if (v >= 1) {
        kw_i32(w, 0);
    }
    kw_i16(w, err);
    kw_tags(w, r->flex);
    return API_DONE;
}

int api_leave_group(struct broker *b, struct req *r)
{
    struct krd *rd = &r->body;
    int v = r->api_version;
    struct kbuf *w = &r->slot->buf;
    struct kstr group_id = kr_str(rd, r->flex);
    if (v < 3) {
        struct kstr member_id = kr_str(rd, r->flex);
        kr_tags(rd, r->flex);
        if (rd->err) {
            return API_MALFORMED;
        }
        int16_t gerr;
        int16_t err = (int16_t)group_leave(b, group_id, member_id, (struct kstr){NULL, -1}, &gerr);
        if (v >= 1) {
            kw_i32(w, 0);
        }
        kw_i16(w, gerr != KERR_NONE ? gerr : err);
        return API_DONE;
    }
    int32_t n = kr_array(rd, r->flex, 4);
    struct kbuf members = {0};
    int16_t group_error = KERR_NONE;
    int32_t answered = 0;
    for (int32_t i = 0; i < n && !rd->err; i++) {
        struct kstr member_id = kr_str(rd, r->flex);
        struct kstr instance_id = kr_str(rd, r->flex);
        if (v >= 5) {
            (void)kr_str(rd, r->flex); /* reason */
        }
        kr_tags(rd, r->flex);
        if (rd->err) {
            break;
        }
        int16_t gerr;
        int16_t err = (int16_t)group_leave(b, group_id, member_id, instance_id, &gerr);
        if (gerr != KERR_NONE) {
            group_error = gerr;
            continue;
        }
        kw_kstr(&members, member_id, r->flex);
        kw_kstr(&members, instance_id, r->flex);
        kw_i16(&members, err);
        kw_tags(&members, r->flex);
        answered++;
    }
    kr_tags(rd, r->flex);
    if (rd->err) {
        kbuf_free(&members);
        return API_MALFORMED;
    }
    kw_i32(w, 0);
    kw_i16(w, group_error);
    if (group_error != KERR_NONE) {
        kw_array(w, 0, r->flex);
    } else {
        kw_array(w, answered, r->flex);
        kw_raw(w, members.data, members.len);
    }
    kw_tags(w, r->flex);
    kbuf_free(&members);
    return API_DONE;
}

/* --- OffsetCommit, OffsetFetch ------------------------------------------------------------ */

int api_offset_commit(struct broker *b, struct req *r)
{
    struct krd *rd = &r->body;
    int v = r->api_version;
    struct kstr group_id = kr_str(rd, r->flex);
    int32_t generation = v >= 1 ? kr_i32(rd) : -1;
    struct kstr member_id = v >= 1 ? kr_str(rd, r->flex) : (struct kstr){"", 0};
    struct kstr instance_id = v >= 7 ? kr_str(rd, r->flex) : (struct kstr){NULL, -1};
    if (v >= 2 && v <= 4) {
        (void)kr_i64(rd); /* retention_time_ms: offsets are kept until deleted */
    }
    /* Decode all partitions first: one commit is one batch in the offsets log. */
    struct group_offset_commit *c = NULL;
    size_t nc = 0, capc = 0;
    int32_t *topic_sizes = NULL;
    int32_t nt = kr_array(rd, r->flex, 6);
    if (nt > 0 && (topic_sizes = calloc((size_t)nt, sizeof(*topic_sizes))) == NULL) {
        return API_MALFORMED;
    }
    for (int32_t i = 0; i < nt && !rd->err; i++) {
        struct kstr topic = kr_str(rd, r->flex);
        int32_t np = kr_array(rd, r->flex, 14);
        for (int32_t j = 0; j < np && !rd->err; j++) {
            if (nc == capc) {
                capc = capc ? capc * 2 : 16;
                struct group_offset_commit *nv = realloc(c, capc * sizeof(*c));
                if (nv == NULL) {
                    free(c);
                    free(topic_sizes);
                    return API_MALFORMED;
                }
                c = nv;
            }
            struct group_offset_commit *e = &c[nc];
            memset(e, 0, sizeof(*e));
            e->topic = topic;
            e->partition = kr_i32(rd);
            e->offset = kr_i64(rd);
            e->leader_epoch = v >= 6 ? kr_i32(rd) : -1;
            if (v == 1) {
                (void)kr_i64(rd); /* commit_timestamp */
            }
            e->metadata = kr_str(rd, r->flex);
            kr_tags(rd, r->flex);
            nc++;
        }
        topic_sizes[i] = np > 0 ? np : 0;
        kr_tags(rd, r->flex);
    }
    kr_tags(rd, r->flex);
    if (rd->err) {
        free(c);
        free(topic_sizes);
        return API_MALFORMED;
    }

    int16_t err = KERR_NONE;
    struct group *g = NULL;
    if (group_id.len < 0) {
        err = KERR_INVALID_GROUP_ID;
    } else if ((g = group_find(b, group_id)) == NULL) {
        if (generation < 0) {
            /* A consumer without group management: the group exists from now on. */
            g = group_get_or_create(b, group_id);
            err = g ? KERR_NONE : KERR_UNKNOWN_SERVER_ERROR;
        } else {
            err = KERR_ILLEGAL_GENERATION;
        }
    }
    if (err == KERR_NONE) {
        err = (int16_t)group_validate_commit(g, generation, member_id, instance_id, 0);
    }
    if (err == KERR_NONE) {
        if (g->state == GROUP_COMPLETING_REBALANCE) {
            err = KERR_REBALANCE_IN_PROGRESS;
        } else if (g->state == GROUP_STABLE || g->state == GROUP_PREPARING_REBALANCE) {
            struct group_member *m = group_member_find(g, member_id);
            if (m != NULL) {
                group_member_touch(b, m);
            }
        }
    }
    for (size_t i = 0; i < nc; i++) {
        struct partition *p = broker_partition_find(b, c[i].topic, c[i].partition);
        if (err != KERR_NONE) {
            c[i].error = err;
        } else if (p == NULL) {
            c[i].error = KERR_UNKNOWN_TOPIC_OR_PARTITION;
        } else if (c[i].metadata.len > GROUP_OFFSET_METADATA_MAX) {
            c[i].error = KERR_OFFSET_METADATA_TOO_LARGE;
        }
    }
    if (err == KERR_NONE) {
        group_offsets_commit(b, g, c, nc);
    }

    struct kbuf *w = &r->slot->buf;
    if (v >= 3) {
        kw_i32(w, 0);
    }
    kw_array(w, nt, r->flex);
    size_t k = 0;
    for (int32_t i = 0; i < nt; i++) {
        kw_kstr(w, k < nc ? c[k].topic : (struct kstr){"", 0}, r->flex);
        kw_array(w, topic_sizes[i], r->flex);
        for (int32_t j = 0; j < topic_sizes[i]; j++, k++) {
            kw_i32(w, c[k].partition);
            kw_i16(w, c[k].error);
            kw_tags(w, r->flex);
        }
        kw_tags(w, r->flex);
    }
    kw_tags(w, r->flex);
    free(c);
    free(topic_sizes);
    return API_DONE;
}

static void fetch_partition(struct kbuf *w, const struct req *r, const struct group *g,
                            const char *topic, int32_t partition, int require_stable)
{
    const struct group_committed *c = g ? group_committed_find(g, topic, partition) : NULL;
    int16_t err = KERR_NONE;
    if (require_stable && g != NULL && group_offset_unstable(g, topic, partition)) {
        c = NULL; /* a transaction holds an offset for it: ask again later */
        err = KERR_UNSTABLE_OFFSET_COMMIT;
    }
    kw_i32(w, partition);
    kw_i64(w, c ? c->offset : -1);
    if (r->api_version >= 5) {
        kw_i32(w, c ? c->leader_epoch : -1);
    }
    kw_str(w, c && c->metadata ? c->metadata : "", -1, r->flex);
    kw_i16(w, err);
    kw_tags(w, r->flex);
}

/* OffsetFetch v7's require_stable, which follows the topics. */
static int peek_require_stable(const struct req *r)
{
    if (r->api_version < 7) {
        return 0;
    }
    struct krd rd = r->body;
    (void)kr_str(&rd, r->flex);
    int32_t nt = kr_array(&rd, r->flex, 4);
    for (int32_t i = 0; i < nt && !rd.err; i++) {
        (void)kr_str(&rd, r->flex);
        int32_t np = kr_array(&rd, r->flex, 4);
        for (int32_t j = 0; j < np && !rd.err; j++) {
            (void)kr_i32(&rd);
        }
        kr_tags(&rd, r->flex);
    }
    return kr_i8(&rd) != 0;
}

int api_offset_fetch(struct broker *b, struct req *r)
{
    struct krd *rd = &r->body;
    int v = r->api_version;
    struct kbuf *w = &r->slot->buf;
    int require_stable = peek_require_stable(r);
    struct kstr group_id = kr_str(rd, r->flex);
    struct group *g = group_find(b, group_id);
    if (v >= 3) {
        kw_i32(w, 0);
    }
    int32_t nt = kr_array(rd, r->flex, 4);
    if (nt < 0) {
        /* Every committed offset of the group (v2+). */
        size_t ntopics = 0;
        for (size_t i = 0; g != NULL && i < g->ntopics; i++) {
            for (int32_t p = 0; p < g->topics[i].npartitions; p++) {
                if (g->topics[i].parts[p].offset >= 0) {
                    ntopics++;
                    break;
                }
            }
        }
        kw_array(w, (int32_t)ntopics, r->flex);
        for (size_t i = 0; g != NULL && i < g->ntopics; i++) {
            const struct group_topic *t = &g->topics[i];
            int32_t np = 0;
            for (int32_t p = 0; p < t->npartitions; p++) {
                np += t->parts[p].offset >= 0;
            }
            if (np == 0) {
                continue;
            }
            kw_str(w, t->name, -1, r->flex);
            kw_array(w, np, r->flex);
            for (int32_t p = 0; p < t->npartitions; p++) {
                if (t->parts[p].offset >= 0) {
                    fetch_partition(w, r, g, t->name, p, require_stable);
                }
            }
            kw_tags(w, r->flex);
        }
    } else {
        kw_array(w, nt, r->flex);
        for (int32_t i = 0; i < nt && !rd->err; i++) {
            struct kstr topic = kr_str(rd, r->flex);
            char name[TOPIC_NAME_MAX + 1] = "";
            kstr_copy(topic, name, sizeof(name));
            kw_kstr(w, topic, r->flex);
            int32_t np = kr_array(rd, r->flex, 4);
            kw_array(w, np, r->flex);
            for (int32_t j = 0; j < np && !rd->err; j++) {
                fetch_partition(w, r, g, name, kr_i32(rd), require_stable);
            }
            kr_tags(rd, r->flex);
            kw_tags(w, r->flex);
        }
    }
    if (v >= 7) {
        (void)kr_i8(rd); /* require_stable, read above */
    }
    kr_tags(rd, r->flex);
    if (rd->err) {
        return API_MALFORMED;
    }
    if (v >= 2) {
        kw_i16(w, group_id.len < 0 ? KERR_INVALID_GROUP_ID : KERR_NONE);
    }
    kw_tags(w, r->flex);
    return API_DONE;
}

/* --- ListGroups, DescribeGroups, DeleteGroups --------------------------------------------- */

int api_list_groups(struct broker *b, struct req *r)
{
    struct krd *rd = &r->body;
    int v = r->api_version;
    struct kstr states[16];
    int32_t nstates = 0;
    if (v >= 4) {
        nstates = kr_array(rd, r->flex, 1);
        for (int32_t i = 0; i < nstates && !rd->err; i++) {
            struct kstr s = kr_str(rd, r->flex);
            if (i < 16) {
                states[i] = s;
            }
        }
    }
    kr_tags(rd, r->flex);
    if (rd->err || nstates > 16) {
        return API_MALFORMED;
    }
    struct group_coordinator *gc = b->groups;
    struct kbuf *w = &r->slot->buf;
    if (v >= 1) {
        kw_i32(w, 0);
    }
    kw_i16(w, KERR_NONE);
    struct kbuf list = {0};
    int32_t n = 0;
    for (size_t i = 0; i < gc->ngroups; i++) {
        const struct group *g = gc->groups[i];
        const char *state = group_state_name(g->state);
        int keep = nstates <= 0;
        for (int32_t k = 0; k < nstates && !keep; k++) {
            keep = states[k].len == (int32_t)strlen(state) &&
                   strncasecmp(states[k].p, state, (size_t)states[k].len) == 0;
        }
        if (!keep) {
            continue;
        }
        kw_str(&list, g->id, -1, r->flex);
        kw_str(&list, g->protocol_type ? g->protocol_type : "", -1, r->flex);
        if (v >= 4) {
            kw_str(&list, state, -1, r->flex);
        }
        kw_tags(&list, r->flex);
        n++;
    }
    kw_array(w, n, r->flex);
    kw_raw(w, list.data, list.len);
    kw_tags(w, r->flex);
    kbuf_free(&list);
    return API_DONE;
}

int api_describe_groups(struct broker *b, struct req *r)
{
    struct krd *rd = &r->body;
    int v = r->api_version;
    struct kbuf *w = &r->slot->buf;
    int32_t n = kr_array(rd, r->flex, 2);
    if (v >= 1) {
        kw_i32(w, 0);
    }
    kw_array(w, n, r->flex);
    for (int32_t i = 0; i < n && !rd->err; i++) {
        struct kstr id = kr_str(rd, r->flex);
        const struct group *g = group_find(b, id);
        int stable = g != NULL && g->state == GROUP_STABLE;
        kw_i16(w, id.len < 0 ? KERR_INVALID_GROUP_ID : KERR_NONE);
        kw_kstr(w, id, r->flex);
        kw_str(w, group_state_name(g ? g->state : GROUP_DEAD), -1, r->flex);
        kw_str(w, g && g->protocol_type ? g->protocol_type : "", -1, r->flex);
        kw_str(w, stable && g->protocol_name ? g->protocol_name : "", -1, r->flex);
        kw_array(w, g ? (int32_t)g->nmembers : 0, r->flex);
        for (size_t k = 0; g != NULL && k < g->nmembers; k++) {
            const struct group_member *m = g->members[k];
            const struct group_protocol *p = stable ? protocol_of(m, g->protocol_name) : NULL;
            kw_str(w, m->member_id, -1, r->flex);
            if (v >= 4) {
                kw_str(w, m->instance_id, -1, r->flex);
            }
            kw_str(w, m->client_id ? m->client_id : "", -1, r->flex);
            kw_str(w, m->client_host ? m->client_host : "", -1, r->flex);
            kw_bytes(w, p && p->metadata ? p->metadata : (const uint8_t *)"", p ? p->len : 0,
                     r->flex);
            kw_bytes(w, stable && m->assignment ? m->assignment : (const uint8_t *)"",
                     stable && m->assignment ? m->assignment_len : 0, r->flex);
            kw_tags(w, r->flex);
        }
        if (v >= 3) {
            kw_i32(w, AUTH_OPS_UNKNOWN);
        }
        kw_tags(w, r->flex);
    }
    if (v >= 3) {
        (void)kr_i8(rd); /* include_authorized_operations */
    }
    kr_tags(rd, r->flex);
    if (rd->err) {
        return API_MALFORMED;
    }
    kw_tags(w, r->flex);
    return API_DONE;
}

int api_delete_groups(struct broker *b, struct req *r)
{
    struct krd *rd = &r->body;
    struct kbuf *w = &r->slot->buf;
    int32_t n = kr_array(rd, r->flex, 2);
    kw_i32(w, 0);
    kw_array(w, n, r->flex);
    for (int32_t i = 0; i < n && !rd->err; i++) {
        struct kstr id = kr_str(rd, r->flex);
        kr_tags(rd, r->flex);
        int16_t err = id.len < 0 ? KERR_INVALID_GROUP_ID : (int16_t)group_delete(b, id);
        kw_kstr(w, id, r->flex);
        kw_i16(w, err);
        kw_tags(w, r->flex);
    }
    kr_tags(rd, r->flex);
    if (rd->err) {
        return API_MALFORMED;
    }
    kw_tags(w, r->flex);
    return API_DONE;
}
