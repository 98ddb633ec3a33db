/*
 * The group coordinator's state machine (group.h), following Kafka's GroupCoordinator for
 * the classic protocol: the same states, checks, error codes and their order.
 */
#include "group.h"

#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "bc_log.h"
#include "broker.h"

#define container_of(p, T, m) ((T *)(void *)((char *)(p) - offsetof(T, m)))

static const char *const state_names[] = {
    [GROUP_EMPTY] = "Empty",
    [GROUP_PREPARING_REBALANCE] = "PreparingRebalance",
    [GROUP_COMPLETING_REBALANCE] = "CompletingRebalance",
    [GROUP_STABLE] = "Stable",
    [GROUP_DEAD] = "Dead",
};

const char *group_state_name(enum group_state s)
{
    return state_names[s];
}

/* --- small helpers ----------------------------------------------------------------------- */

static char *kdup(struct kstr s)
{
    if (s.len < 0) {
        return NULL;
    }
    char *p = malloc((size_t)s.len + 1);
    if (p != NULL) {
        memcpy(p, s.p, (size_t)s.len);
        p[s.len] = '\0';
    }
    return p;
}

static struct kstr kz(const char *z)
{
    return (struct kstr){z, z ? (int32_t)strlen(z) : -1};
}

static int kstr_same(struct kstr a, const char *z)
{
    if (z == NULL || a.len < 0) {
        return z == NULL && a.len < 0;
    }
    return kstr_eq(a, z);
}

static void log_group(enum bc_log_level lvl, const char *msg, const struct group *g,
                      const char *k1, const char *v1, const char *k2, const char *v2)
{
    char gen[16];
    snprintf(gen, sizeof(gen), "%" PRId32, g->generation);
    bc_log(lvl, msg, "group", g->id, "generation", gen, "state", state_names[g->state], k1, v1,
           k2, v2, NULL);
}

static void set_state(struct group *g, enum group_state s)
{
    g->state = s;
    g->state_ts = now_ms();
}

/* A new member id: "<group.instance.id or client.id>-<uuid>" as Kafka makes them. */
static char *new_member_id(const char *prefix)
{
    uint8_t r[16];
    if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r)) {
        static uint64_t seq;
        uint64_t t = (uint64_t)now_ms() ^ ++seq;
        memcpy(r, &t, 8);
        memcpy(r + 8, &seq, 8);
    }
    r[6] = (uint8_t)((r[6] & 0x0f) | 0x40);
    r[8] = (uint8_t)((r[8] & 0x3f) | 0x80);
    size_t n = strlen(prefix) + 38;
    char *id = malloc(n);
    if (id == NULL) {
        return NULL;
    }
    snprintf(id, n,
             "%s-%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", prefix,
             r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12],
             r[13], r[14], r[15]);
    return id;
}

static void txn_entry_free(struct group_txn_offset *t);

/* --- registry ---------------------------------------------------------------------------- */

struct group *group_find(struct broker *b, struct kstr id)
{
    struct group_coordinator *gc = b->groups;
    if (gc == NULL || id.len < 0) {
        return NULL;
    }
    for (size_t i = 0; i < gc->ngroups; i++) {
        if (kstr_eq(id, gc->groups[i]->id)) {
            return gc->groups[i];
        }
    }
    return NULL;
}

struct group *group_get_or_create(struct broker *b, struct kstr id)
{
    struct group *g = group_find(b, id);
    if (g != NULL || id.len < 0) {
        return g;
    }
    struct group_coordinator *gc = b->groups;
    if (gc->ngroups == gc->capgroups) {
        size_t cap = gc->capgroups ? gc->capgroups * 2 : 16;
        struct group **v = realloc(gc->groups, cap * sizeof(*v));
        if (v == NULL) {
            return NULL;
        }
        gc->groups = v;
        gc->capgroups = cap;
    }
    g = calloc(1, sizeof(*g));
    if (g == NULL || (g->id = kdup(id)) == NULL) {
        free(g);
        return NULL;
    }
    g->b = b;
    set_state(g, GROUP_EMPTY);
    gc->groups[gc->ngroups++] = g;
    return g;
}

struct group_member *group_member_find(const struct group *g, struct kstr member_id)
{
    if (member_id.len < 0) {
        return NULL;
    }
    for (size_t i = 0; i < g->nmembers; i++) {
        if (kstr_eq(member_id, g->members[i]->member_id)) {
            return g->members[i];
        }
    }
    return NULL;
}

static struct group_member *static_member(const struct group *g, struct kstr instance_id)
{
    if (instance_id.len < 0) {
        return NULL;
    }
    for (size_t i = 0; i < g->nmembers; i++) {
        if (g->members[i]->instance_id != NULL && kstr_eq(instance_id, g->members[i]->instance_id)) {
            return g->members[i];
        }
    }
    return NULL;
}

static struct group_pending *pending_find(const struct group *g, struct kstr member_id)
{
    for (struct group_pending *p = g->pending; p != NULL; p = p->next) {
        if (kstr_eq(member_id, p->member_id)) {
            return p;
        }
    }
    return NULL;
}

const struct group_committed *group_committed_find(const struct group *g, const char *topic,
                                                   int32_t partition)
{
    for (size_t i = 0; i < g->ntopics; i++) {
        const struct group_topic *t = &g->topics[i];
        if (strcmp(t->name, topic) == 0) {
            if (partition < 0 || partition >= t->npartitions || t->parts[partition].offset < 0) {
                return NULL;
            }
            return &t->parts[partition];
        }
    }
    return NULL;
}

/* --- members ----------------------------------------------------------------------------- */

static void protocols_free(struct group_protocol *p, size_t n)
{
    for (size_t i = 0; p != NULL && i < n; i++) {
        free(p[i].name);
        free(p[i].metadata);
    }
    free(p);
}

/* Copies a request's protocols. Returns 0 or -1 (out of memory). */
static int protocols_copy(const struct group_join_req *rq, struct group_protocol **out)
{
    struct group_protocol *p = calloc((size_t)rq->nprotocols + 1, sizeof(*p));
    if (p == NULL) {
        return -1;
    }
    for (int32_t i = 0; i < rq->nprotocols; i++) {
        p[i].name = kdup(rq->protocol_names[i]);
        struct kstr md = rq->protocol_metadata[i];
        p[i].len = md.len > 0 ? md.len : 0;
        if (p[i].len > 0 && (p[i].metadata = malloc((size_t)p[i].len)) != NULL) {
            memcpy(p[i].metadata, md.p, (size_t)p[i].len);
        }
        if (p[i].name == NULL || (p[i].len > 0 && p[i].metadata == NULL)) {
            protocols_free(p, (size_t)rq->nprotocols);
            return -1;
        }
    }
    *out = p;
    return 0;
}

/* Whether the request's protocols are exactly m's (names, metadata, order): Kafka's
 * MemberMetadata.matches. */
static int member_matches(const struct group_member *m, const struct group_join_req *rq)
{
    if ((size_t)rq->nprotocols != m->nprotocols) {
        return 0;
    }
    for (size_t i = 0; i < m->nprotocols; i++) {
        struct kstr md = rq->protocol_metadata[i];
        int32_t len = md.len > 0 ? md.len : 0;
        if (!kstr_eq(rq->protocol_names[i], m->protocols[i].name) || len != m->protocols[i].len ||
            (len > 0 && memcmp(md.p, m->protocols[i].metadata, (size_t)len) != 0)) {
            return 0;
        }
    }
    return 1;
}

static int member_supports(const struct group_member *m, const char *name)
{
    for (size_t i = 0; i < m->nprotocols; i++) {
        if (strcmp(m->protocols[i].name, name) == 0) {
            return 1;
        }
    }
    return 0;
}

static int all_support(const struct group *g, const char *name)
{
    for (size_t i = 0; i < g->nmembers; i++) {
        if (!member_supports(g->members[i], name)) {
            return 0;
        }
    }
    return 1;
}

/* Kafka's GroupMetadata.supportsProtocols. */
static int supports_protocols(const struct group *g, const struct group_join_req *rq)
{
    if (g->state == GROUP_EMPTY || g->nmembers == 0) {
        return rq->protocol_type.len > 0 && rq->nprotocols > 0;
    }
    if (g->protocol_type == NULL || !kstr_eq(rq->protocol_type, g->protocol_type)) {
        return 0;
    }
    for (int32_t i = 0; i < rq->nprotocols; i++) {
        char name[256];
        if (kstr_copy(rq->protocol_names[i], name, sizeof(name)) == 0 && all_support(g, name)) {
            return 1;
        }
    }
    return 0;
}

/* The protocol every member supports that most members prefer (Kafka's selectProtocol). */
static const char *select_protocol(const struct group *g)
{
    if (g->nmembers == 0) {
        return NULL;
    }
    const struct group_member *first = g->members[0];
    const char *best = NULL;
    size_t best_votes = 0;
    for (size_t c = 0; c < first->nprotocols; c++) {
        const char *cand = first->protocols[c].name;
        if (!all_support(g, cand)) {
            continue;
        }
        size_t votes = 0;
        for (size_t i = 0; i < g->nmembers; i++) {
            const struct group_member *m = g->members[i];
            for (size_t k = 0; k < m->nprotocols; k++) {
                if (all_support(g, m->protocols[k].name)) {
                    votes += strcmp(m->protocols[k].name, cand) == 0;
                    break;
                }
            }
        }
        if (best == NULL || votes > best_votes) {
            best = cand;
            best_votes = votes;
        }
    }
    return best;
}

static int32_t group_rebalance_timeout(const struct group *g)
{
    int32_t t = 0;
    for (size_t i = 0; i < g->nmembers; i++) {
        if (g->members[i]->rebalance_timeout_ms > t) {
            t = g->members[i]->rebalance_timeout_ms;
        }
    }
    return t;
}

static void session_expired(struct broker *b, struct timer *t);

/* Kafka's completeAndScheduleNextHeartbeatExpiration. */
void group_member_touch(struct broker *b, struct group_member *m)
{
    int64_t ms = m->is_new ? GROUP_NEW_MEMBER_JOIN_TIMEOUT_MS : m->session_timeout_ms;
    timer_add(&b->timers, &m->session_timer, now_ms() + ms, session_expired);
}

static void member_free(struct broker *b, struct group_member *m)
{
    if (m == NULL) {
        return;
    }
    timer_cancel(&b->timers, &m->session_timer);
    free(m->member_id);
    free(m->instance_id);
    free(m->client_id);
    free(m->client_host);
    protocols_free(m->protocols, m->nprotocols);
    free(m->assignment);
    free(m);
}

static const struct group_io *io(struct broker *b)
{
    return b->groups->io;
}

static void join_error(struct broker *b, void *waiter, int16_t err, const char *member_id)
{
    struct group_join_result res = {.error = err, .generation = -1, .leader_id = "",
                                    .member_id = member_id ? member_id : ""};
    if (waiter != NULL) {
        io(b)->join_done(b, waiter, &res);
    }
}

static void sync_error(struct broker *b, void *waiter, int16_t err)
{
    if (waiter != NULL) {
        io(b)->sync_done(b, waiter, err, NULL, NULL, NULL, 0);
    }
}

/* Answers m's JoinGroup (if it awaits one) with the current generation. */
static void join_answer(struct broker *b, struct group *g, struct group_member *m,
                        const char *leader_id, int with_members)
{
    struct group_join_result res = {
        .error = KERR_NONE,
        .generation = g->generation,
        .protocol_type = g->protocol_type,
        .protocol_name = g->protocol_name,
        .leader_id = leader_id ? leader_id : "",
        .member_id = m->member_id,
        .members_of = with_members ? g : NULL,
    };
    void *waiter = m->join_waiter;
    m->awaiting_join = 0;
    m->join_waiter = NULL;
    if (waiter != NULL) {
        io(b)->join_done(b, waiter, &res);
    }
}

static int group_push_member(struct group *g, struct group_member *m)
{
    if (g->nmembers == g->capmembers) {
        size_t cap = g->capmembers ? g->capmembers * 2 : 8;
        struct group_member **v = realloc(g->members, cap * sizeof(*v));
        if (v == NULL) {
            return -1;
        }
        g->members = v;
        g->capmembers = cap;
    }
    g->members[g->nmembers++] = m;
    m->group = g;
    if (g->leader == NULL) {
        g->leader = m;
    }
    return 0;
}

/* Unlinks m from g (Kafka's GroupMetadata.remove) and frees it; answers a parked SyncGroup
 * with UNKNOWN_MEMBER_ID. The caller answers a parked JoinGroup first if it must. */
static void group_drop_member(struct broker *b, struct group *g, struct group_member *m)
{
    size_t i = 0;
    while (i < g->nmembers && g->members[i] != m) {
        i++;
    }
    if (i == g->nmembers) {
        return;
    }
    memmove(&g->members[i], &g->members[i + 1], (g->nmembers - i - 1) * sizeof(*g->members));
    g->nmembers--;
    if (g->leader == m) {
        g->leader = g->nmembers > 0 ? g->members[0] : NULL;
    }
    if (m->sync_waiter != NULL) {
        void *w = m->sync_waiter;
        m->sync_waiter = NULL;
        sync_error(b, w, KERR_UNKNOWN_MEMBER_ID);
    }
    member_free(b, m);
}

static void pending_free(struct broker *b, struct group_pending *p)
{
    timer_cancel(&b->timers, &p->timer);
    free(p->member_id);
    free(p);
}

static void pending_remove(struct broker *b, struct group *g, struct group_pending *p)
{
    for (struct group_pending **pp = &g->pending; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == p) {
            *pp = p->next;
            pending_free(b, p);
            return;
        }
    }
}

/* --- rebalances -------------------------------------------------------------------------- */

static void prepare_rebalance(struct broker *b, struct group *g, const char *reason);
static void try_complete_join(struct broker *b, struct group *g);

static void propagate_assignment(struct broker *b, struct group *g, int16_t err)
{
    for (size_t i = 0; i < g->nmembers; i++) {
        struct group_member *m = g->members[i];
        if (!m->awaiting_sync) {
            continue;
        }
        void *w = m->sync_waiter;
        m->awaiting_sync = 0;
        m->sync_waiter = NULL;
        if (w != NULL) {
            io(b)->sync_done(b, w, err, err ? NULL : g->protocol_type,
                             err ? NULL : g->protocol_name, m->assignment, m->assignment_len);
        }
        group_member_touch(b, m);
    }
}

static void reset_and_propagate_error(struct broker *b, struct group *g, int16_t err)
{
    for (size_t i = 0; i < g->nmembers; i++) {
        free(g->members[i]->assignment);
        g->members[i]->assignment = NULL;
        g->members[i]->assignment_len = 0;
    }
    propagate_assignment(b, g, err);
}

/* Removes m after a LeaveGroup or a session expiry (Kafka's removeMemberAndUpdateGroup). */
static void remove_member_and_update(struct broker *b, struct group *g, struct group_member *m,
                                     const char *reason)
{
    if (m->awaiting_join) {
        void *w = m->join_waiter;
        m->join_waiter = NULL;
        m->awaiting_join = 0;
        join_error(b, w, KERR_UNKNOWN_MEMBER_ID, "");
    }
    char *id = strdup(m->member_id);
    bc_log(BC_LOG_INFO, "group member removed", "group", g->id, "member_id", id ? id : "?",
           "reason", reason, NULL);
    free(id);
    group_drop_member(b, g, m);
    switch (g->state) {
    case GROUP_STABLE:
    case GROUP_COMPLETING_REBALANCE:
        prepare_rebalance(b, g, reason);
        break;
    case GROUP_PREPARING_REBALANCE:
        try_complete_join(b, g);
        break;
    default:
        break;
    }
}

static void session_expired(struct broker *b, struct timer *t)
{
    struct group_member *m = container_of(t, struct group_member, session_timer);
    /* Members awaiting a rebalance step satisfy their heartbeats (Kafka's
     * hasSatisfiedHeartbeat); their timer restarts when that step completes. */
    if (!m->is_new && (m->awaiting_join || m->awaiting_sync)) {
        return;
    }
    remove_member_and_update(b, m->group, m, "session timeout expired");
}

static void pending_expired(struct broker *b, struct timer *t)
{
    struct group_pending *p = container_of(t, struct group_pending, timer);
    struct group *g = p->group;
    pending_remove(b, g, p);
    if (g->state == GROUP_PREPARING_REBALANCE) {
        try_complete_join(b, g);
    }
}

static void complete_join(struct broker *b, struct group *g);

static void join_timer_fired(struct broker *b, struct timer *t)
{
    struct group *g = container_of(t, struct group, join_timer);
    if (g->state != GROUP_PREPARING_REBALANCE) {
        return;
    }
    if (g->join_initial && g->new_member_added && g->join_remaining_ms != 0) {
        /* Kafka's InitialDelayedJoin: new members keep arriving, wait one more step. */
        g->new_member_added = 0;
        int32_t cfg = b->opts.group_initial_rebalance_delay_ms;
        int32_t delay = cfg < g->join_remaining_ms ? cfg : g->join_remaining_ms;
        int32_t remaining = g->join_remaining_ms - g->join_delay_ms;
        g->join_delay_ms = delay;
        g->join_remaining_ms = remaining > 0 ? remaining : 0;
        timer_add(&b->timers, &g->join_timer, now_ms() + delay, join_timer_fired);
        return;
    }
    complete_join(b, g);
}

static void sync_timer_fired(struct broker *b, struct timer *t)
{
    struct group *g = container_of(t, struct group, sync_timer);
    if (g->sync_generation != g->generation ||
        (g->state != GROUP_COMPLETING_REBALANCE && g->state != GROUP_STABLE)) {
        return;
    }
    int removed = 0;
    for (size_t i = 0; i < g->nmembers;) {
        struct group_member *m = g->members[i];
        if (m->pending_sync) {
            bc_log(BC_LOG_INFO, "group member removed", "group", g->id, "member_id",
                   m->member_id, "reason", "no SyncGroup within the rebalance timeout", NULL);
            group_drop_member(b, g, m);
            removed = 1;
        } else {
            i++;
        }
    }
    if (removed) {
        prepare_rebalance(b, g, "members did not send SyncGroup");
    }
}

static void store_group(struct broker *b, struct group *g)
{
    if (offsets_log_append_group(b, g, 0) != 0) {
        log_group(BC_LOG_ERROR, "cannot write group metadata", g, NULL, NULL, NULL, NULL);
    }
}

static void prepare_rebalance(struct broker *b, struct group *g, const char *reason)
{
    if (g->state == GROUP_COMPLETING_REBALANCE) {
        reset_and_propagate_error(b, g, KERR_REBALANCE_IN_PROGRESS);
    }
    timer_cancel(&b->timers, &g->sync_timer);
    for (size_t i = 0; i < g->nmembers; i++) {
        g->members[i]->pending_sync = 0;
    }
    int32_t rebalance_ms = group_rebalance_timeout(g);
    if (g->state == GROUP_EMPTY) {
        int32_t delay = b->opts.group_initial_rebalance_delay_ms;
        g->join_initial = 1;
        g->join_delay_ms = delay;
        g->join_remaining_ms = rebalance_ms - delay > 0 ? rebalance_ms - delay : 0;
        timer_add(&b->timers, &g->join_timer, now_ms() + delay, join_timer_fired);
    } else {
        g->join_initial = 0;
        timer_add(&b->timers, &g->join_timer, now_ms() + rebalance_ms, join_timer_fired);
    }
    set_state(g, GROUP_PREPARING_REBALANCE);
    log_group(BC_LOG_INFO, "group rebalance started", g, "reason", reason, NULL, NULL);
    try_complete_join(b, g); /* Kafka's tryCompleteElseWatch: e.g. the last member left */
}

static void maybe_prepare_rebalance(struct broker *b, struct group *g, const char *reason)
{
    if (g->state == GROUP_STABLE || g->state == GROUP_COMPLETING_REBALANCE ||
        g->state == GROUP_EMPTY) {
        prepare_rebalance(b, g, reason);
    }
}

static int all_joined(const struct group *g)
{
    for (size_t i = 0; i < g->nmembers; i++) {
        if (!g->members[i]->awaiting_join) {
            return 0;
        }
    }
    return g->pending == NULL;
}

static void try_complete_join(struct broker *b, struct group *g)
{
    if (g->state == GROUP_PREPARING_REBALANCE && !g->join_initial && all_joined(g)) {
        complete_join(b, g);
    }
}

/* Kafka's onCompleteJoin. */
static void complete_join(struct broker *b, struct group *g)
{
    timer_cancel(&b->timers, &g->join_timer);
    g->join_initial = 0;
    for (size_t i = 0; i < g->nmembers;) {
        struct group_member *m = g->members[i];
        if (!m->awaiting_join && m->instance_id == NULL) {
            bc_log(BC_LOG_INFO, "group member removed", "group", g->id, "member_id",
                   m->member_id, "reason", "did not rejoin within the rebalance timeout", NULL);
            group_drop_member(b, g, m);
        } else {
            i++;
        }
    }
    /* Kafka's maybeElectNewJoinedLeader. */
    int elected = 0;
    if (g->leader != NULL) {
        if (g->leader->awaiting_join) {
            elected = 1;
        } else {
            for (size_t i = 0; i < g->nmembers && !elected; i++) {
                if (g->members[i]->awaiting_join) {
                    g->leader = g->members[i];
                    elected = 1;
                }
            }
        }
    }
    if (!elected && g->nmembers > 0) {
        /* Nobody rejoined: wait again until sessions expire the silent ones. */
        timer_add(&b->timers, &g->join_timer, now_ms() + group_rebalance_timeout(g),
                  join_timer_fired);
        return;
    }
    g->generation++;
    free(g->protocol_name);
    g->protocol_name = NULL;
    if (g->nmembers == 0) {
        set_state(g, GROUP_EMPTY);
        log_group(BC_LOG_INFO, "group is empty", g, NULL, NULL, NULL, NULL);
        store_group(b, g);
        return;
    }
    const char *proto = select_protocol(g);
    g->protocol_name = proto ? strdup(proto) : NULL;
    set_state(g, GROUP_COMPLETING_REBALANCE);
    char n[16];
    snprintf(n, sizeof(n), "%zu", g->nmembers);
    log_group(BC_LOG_INFO, "group rebalance joined", g, "members", n, "leader",
              g->leader->member_id);
    for (size_t i = 0; i < g->nmembers; i++) {
        struct group_member *m = g->members[i];
        join_answer(b, g, m, g->leader->member_id, m == g->leader);
        m->is_new = 0;
        group_member_touch(b, m);
        m->pending_sync = 1;
    }
    g->sync_generation = g->generation;
    timer_add(&b->timers, &g->sync_timer, now_ms() + group_rebalance_timeout(g),
              sync_timer_fired);
}

/* --- JoinGroup --------------------------------------------------------------------------- */

static void member_update(struct broker *b, struct group_member *m, const struct group_join_req *rq,
                          struct group_protocol *protocols, void *waiter)
{
    protocols_free(m->protocols, m->nprotocols);
    m->protocols = protocols;
    m->nprotocols = (size_t)rq->nprotocols;
    m->session_timeout_ms = rq->session_timeout_ms;
    m->rebalance_timeout_ms = rq->rebalance_timeout_ms;
    if (m->awaiting_join && m->join_waiter != NULL && m->join_waiter != waiter) {
        /* A second JoinGroup while the first waits: the first one is answered now. */
        void *old = m->join_waiter;
        m->join_waiter = NULL;
        join_error(b, old, KERR_REBALANCE_IN_PROGRESS, m->member_id);
    }
    m->awaiting_join = 1;
    m->join_waiter = waiter;
}

static void add_member_and_rebalance(struct broker *b, struct group *g,
                                     const struct group_join_req *rq, char *member_id,
                                     void *waiter)
{
    struct group_member *m = calloc(1, sizeof(*m));
    struct group_protocol *protocols = NULL;
    if (m == NULL || protocols_copy(rq, &protocols) != 0) {
        free(m);
        free(member_id);
        join_error(b, waiter, KERR_UNKNOWN_SERVER_ERROR, "");
        return;
    }
    m->member_id = member_id;
    m->instance_id = kdup(rq->instance_id);
    m->client_id = strdup(rq->client_id ? rq->client_id : "");
    m->client_host = strdup(rq->client_host ? rq->client_host : "");
    m->is_new = 1;
    member_update(b, m, rq, protocols, waiter);
    if (g->state == GROUP_PREPARING_REBALANCE && g->generation == 0) {
        g->new_member_added = 1;
    }
    if (g->nmembers == 0) {
        free(g->protocol_type);
        g->protocol_type = kdup(rq->protocol_type);
    }
    if (group_push_member(g, m) != 0) {
        m->awaiting_join = 0;
        m->join_waiter = NULL;
        member_free(b, m);
        join_error(b, waiter, KERR_UNKNOWN_SERVER_ERROR, "");
        return;
    }
    struct group_pending *p = pending_find(g, kz(m->member_id));
    if (p != NULL) {
        pending_remove(b, g, p);
    }
    group_member_touch(b, m);
    maybe_prepare_rebalance(b, g, "new member joined");
}

/* A known group.instance.id joins without a member id (KIP-345): its new member id replaces
 * the old one. In Stable with unchanged protocols it gets the current generation back
 * without a rebalance. */
static void update_static_member(struct broker *b, struct group *g, struct group_member *m,
                                 const struct group_join_req *rq, char *new_id, void *waiter)
{
    char *old_leader = g->leader ? strdup(g->leader->member_id) : NULL;
    char *old_id = m->member_id;
    int unchanged = member_matches(m, rq);
    struct group_protocol *protocols = NULL;
    if (protocols_copy(rq, &protocols) != 0) {
        free(old_leader);
        free(new_id);
        join_error(b, waiter, KERR_UNKNOWN_SERVER_ERROR, "");
        return;
    }
    /* Fence whatever the old incarnation still waits for. */
    if (m->awaiting_join) {
        void *w = m->join_waiter;
        m->join_waiter = NULL;
        m->awaiting_join = 0;
        join_error(b, w, KERR_FENCED_INSTANCE_ID, old_id);
    }
    if (m->awaiting_sync) {
        void *w = m->sync_waiter;
        m->sync_waiter = NULL;
        m->awaiting_sync = 0;
        sync_error(b, w, KERR_FENCED_INSTANCE_ID);
    }
    bc_log(BC_LOG_INFO, "static member rejoined", "group", g->id, "group_instance_id",
           m->instance_id, "old_member_id", old_id, "member_id", new_id, NULL);
    free(old_id);
    m->member_id = new_id;
    free(m->client_id);
    m->client_id = strdup(rq->client_id ? rq->client_id : "");
    free(m->client_host);
    m->client_host = strdup(rq->client_host ? rq->client_host : "");
    group_member_touch(b, m);
    member_update(b, m, rq, protocols, waiter);
    switch (g->state) {
    case GROUP_STABLE: {
        const char *next = select_protocol(g);
        if (unchanged && next != NULL && g->protocol_name != NULL &&
            strcmp(next, g->protocol_name) == 0) {
            store_group(b, g);
            /* The old leader id, so that a rejoining leader does not run an assignment a
             * stable group would ignore (Kafka before JoinGroup v9). */
            join_answer(b, g, m, old_leader, 0);
            log_group(BC_LOG_INFO, "static member kept its assignment without a rebalance", g,
                      "group_instance_id", m->instance_id, NULL, NULL);
        } else {
            maybe_prepare_rebalance(b, g, "static member rejoined with other protocols");
        }
        break;
    }
    case GROUP_PREPARING_REBALANCE:
        break;
    default:
        prepare_rebalance(b, g, "static member rejoined during a rebalance");
        break;
    }
    free(old_leader);
}

static int16_t validate_current_member(const struct group *g, struct kstr member_id,
                                       struct kstr instance_id)
{
    if (instance_id.len >= 0) {
        const struct group_member *s = static_member(g, instance_id);
        if (s == NULL) {
            return KERR_UNKNOWN_MEMBER_ID;
        }
        return kstr_eq(member_id, s->member_id) ? KERR_NONE : KERR_FENCED_INSTANCE_ID;
    }
    return group_member_find(g, member_id) != NULL ? KERR_NONE : KERR_UNKNOWN_MEMBER_ID;
}

static void new_member_join(struct broker *b, struct group *g, const struct group_join_req *rq,
                            void *waiter)
{
    if (g->state == GROUP_DEAD) {
        join_error(b, waiter, KERR_COORDINATOR_NOT_AVAILABLE, "");
        return;
    }
    if (!supports_protocols(g, rq)) {
        join_error(b, waiter, KERR_INCONSISTENT_GROUP_PROTOCOL, "");
        return;
    }
    char prefix[256];
    struct kstr pk = rq->instance_id.len >= 0 ? rq->instance_id : kz(rq->client_id ? rq->client_id : "");
    if (kstr_copy(pk, prefix, sizeof(prefix)) != 0) {
        snprintf(prefix, sizeof(prefix), "member");
    }
    char *id = new_member_id(prefix);
    if (id == NULL) {
        join_error(b, waiter, KERR_UNKNOWN_SERVER_ERROR, "");
        return;
    }
    if (rq->instance_id.len >= 0) {
        struct group_member *old = static_member(g, rq->instance_id);
        if (old != NULL) {
            update_static_member(b, g, old, rq, id, waiter);
        } else {
            add_member_and_rebalance(b, g, rq, id, waiter);
        }
        return;
    }
    if (rq->require_known_member_id) {
        struct group_pending *p = calloc(1, sizeof(*p));
        if (p == NULL) {
            free(id);
            join_error(b, waiter, KERR_UNKNOWN_SERVER_ERROR, "");
            return;
        }
        p->group = g;
        p->member_id = id;
        p->next = g->pending;
        g->pending = p;
        timer_add(&b->timers, &p->timer, now_ms() + rq->session_timeout_ms, pending_expired);
        join_error(b, waiter, KERR_MEMBER_ID_REQUIRED, id);
        return;
    }
    add_member_and_rebalance(b, g, rq, id, waiter);
}

static void current_member_join(struct broker *b, struct group *g, const struct group_join_req *rq,
                                void *waiter)
{
    char member_id[512];
    if (kstr_copy(rq->member_id, member_id, sizeof(member_id)) != 0) {
        join_error(b, waiter, KERR_UNKNOWN_MEMBER_ID, "");
        return;
    }
    if (g->state == GROUP_DEAD) {
        join_error(b, waiter, KERR_COORDINATOR_NOT_AVAILABLE, member_id);
        return;
    }
    if (!supports_protocols(g, rq)) {
        join_error(b, waiter, KERR_INCONSISTENT_GROUP_PROTOCOL, member_id);
        return;
    }
    if (pending_find(g, rq->member_id) != NULL) {
        char *id = strdup(member_id);
        if (id == NULL) {
            join_error(b, waiter, KERR_UNKNOWN_SERVER_ERROR, member_id);
            return;
        }
        add_member_and_rebalance(b, g, rq, id, waiter);
        return;
    }
    int16_t err = validate_current_member(g, rq->member_id, rq->instance_id);
    if (err != KERR_NONE) {
        join_error(b, waiter, err, member_id);
        return;
    }
    struct group_member *m = group_member_find(g, rq->member_id);
    struct group_protocol *protocols = NULL;
    switch (g->state) {
    case GROUP_PREPARING_REBALANCE:
        break;
    case GROUP_COMPLETING_REBALANCE:
        if (member_matches(m, rq)) {
            /* The member lost the JoinGroup answer: the same one again. */
            m->join_waiter = waiter;
            m->awaiting_join = 1;
            join_answer(b, g, m, g->leader ? g->leader->member_id : "", m == g->leader);
            return;
        }
        break;
    case GROUP_STABLE:
        if (m != g->leader && member_matches(m, rq)) {
            m->join_waiter = waiter;
            m->awaiting_join = 1;
            join_answer(b, g, m, g->leader ? g->leader->member_id : "", 0);
            return;
        }
        break;
    default:
        join_error(b, waiter, KERR_UNKNOWN_MEMBER_ID, member_id);
        return;
    }
    if (protocols_copy(rq, &protocols) != 0) {
        join_error(b, waiter, KERR_UNKNOWN_SERVER_ERROR, member_id);
        return;
    }
    member_update(b, m, rq, protocols, waiter);
    maybe_prepare_rebalance(b, g, m == g->leader ? "leader rejoined" : "member rejoined");
}

void group_join(struct broker *b, const struct group_join_req *rq, void *waiter)
{
    if (rq->group_id.len <= 0) {
        join_error(b, waiter, KERR_INVALID_GROUP_ID, "");
        return;
    }
    if (rq->session_timeout_ms < b->opts.group_min_session_timeout_ms ||
        rq->session_timeout_ms > b->opts.group_max_session_timeout_ms) {
        char member_id[512] = "";
        kstr_copy(rq->member_id, member_id, sizeof(member_id));
        join_error(b, waiter, KERR_INVALID_SESSION_TIMEOUT, member_id);
        return;
    }
    int unknown = rq->member_id.len <= 0;
    struct group *g = group_find(b, rq->group_id);
    if (g == NULL) {
        if (!unknown) {
            char member_id[512] = "";
            kstr_copy(rq->member_id, member_id, sizeof(member_id));
            join_error(b, waiter, KERR_UNKNOWN_MEMBER_ID, member_id);
            return;
        }
        g = group_get_or_create(b, rq->group_id);
        if (g == NULL) {
            join_error(b, waiter, KERR_UNKNOWN_SERVER_ERROR, "");
            return;
        }
    }
    if (unknown) {
        new_member_join(b, g, rq, waiter);
    } else {
        current_member_join(b, g, rq, waiter);
    }
    try_complete_join(b, g);
}

/* --- SyncGroup --------------------------------------------------------------------------- */

void group_sync(struct broker *b, const struct group_sync_req *rq, void *waiter)
{
    if (rq->group_id.len <= 0) {
        sync_error(b, waiter, KERR_INVALID_GROUP_ID);
        return;
    }
    struct group *g = group_find(b, rq->group_id);
    if (g == NULL) {
        sync_error(b, waiter, KERR_UNKNOWN_MEMBER_ID);
        return;
    }
    int16_t err = KERR_NONE;
    if (g->state == GROUP_DEAD) {
        err = KERR_COORDINATOR_NOT_AVAILABLE;
    } else if ((err = validate_current_member(g, rq->member_id, rq->instance_id)) != KERR_NONE) {
    } else if (rq->generation != g->generation) {
        err = KERR_ILLEGAL_GENERATION;
    } else if ((rq->protocol_type.len >= 0 && !kstr_same(rq->protocol_type, g->protocol_type)) ||
               (rq->protocol_name.len >= 0 && !kstr_same(rq->protocol_name, g->protocol_name))) {
        err = KERR_INCONSISTENT_GROUP_PROTOCOL;
    }
    if (err != KERR_NONE) {
        sync_error(b, waiter, err);
        return;
    }
    struct group_member *m = group_member_find(g, rq->member_id);
    switch (g->state) {
    case GROUP_EMPTY:
        sync_error(b, waiter, KERR_UNKNOWN_MEMBER_ID);
        return;
    case GROUP_PREPARING_REBALANCE:
        sync_error(b, waiter, KERR_REBALANCE_IN_PROGRESS);
        return;
    case GROUP_STABLE:
        m->pending_sync = 0;
        io(b)->sync_done(b, waiter, KERR_NONE, g->protocol_type, g->protocol_name, m->assignment,
                         m->assignment_len);
        group_member_touch(b, m);
        return;
    case GROUP_COMPLETING_REBALANCE:
        break;
    default:
        sync_error(b, waiter, KERR_COORDINATOR_NOT_AVAILABLE);
        return;
    }
    if (m->awaiting_sync && m->sync_waiter != NULL && m->sync_waiter != waiter) {
        void *old = m->sync_waiter;
        m->sync_waiter = NULL;
        sync_error(b, old, KERR_REBALANCE_IN_PROGRESS);
    }
    m->awaiting_sync = 1;
    m->sync_waiter = waiter;
    m->pending_sync = 0;
    if (m != g->leader) {
        return;
    }
    /* The leader's assignment: members it left out get an empty one. */
    for (size_t i = 0; i < g->nmembers; i++) {
        struct group_member *x = g->members[i];
        free(x->assignment);
        x->assignment = NULL;
        x->assignment_len = 0;
        for (int32_t k = 0; k < rq->nassignments; k++) {
            if (kstr_eq(rq->assign_member_ids[k], x->member_id)) {
                struct kstr a = rq->assignments[k];
                if (a.len > 0 && (x->assignment = malloc((size_t)a.len)) != NULL) {
                    memcpy(x->assignment, a.p, (size_t)a.len);
                    x->assignment_len = a.len;
                }
                break;
            }
        }
    }
    store_group(b, g);
    set_state(g, GROUP_STABLE);
    char n[16];
    snprintf(n, sizeof(n), "%zu", g->nmembers);
    log_group(BC_LOG_INFO, "group stable", g, "members", n, "protocol",
              g->protocol_name ? g->protocol_name : "");
    propagate_assignment(b, g, KERR_NONE);
}

void group_waiter_gone(struct broker *b, void *waiter)
{
    struct group_coordinator *gc = b->groups;
    for (size_t i = 0; gc != NULL && i < gc->ngroups; i++) {
        struct group *g = gc->groups[i];
        for (size_t k = 0; k < g->nmembers; k++) {
            /* The member still counts as joined/synced, as in Kafka, whose callback outlives
             * the connection; its session decides. */
            if (g->members[k]->join_waiter == waiter) {
                g->members[k]->join_waiter = NULL;
            }
            if (g->members[k]->sync_waiter == waiter) {
                g->members[k]->sync_waiter = NULL;
            }
        }
    }
}

/* --- Heartbeat, LeaveGroup, DeleteGroups ------------------------------------------------- */

int group_heartbeat(struct broker *b, struct kstr group_id, int32_t generation,
                    struct kstr member_id, struct kstr instance_id)
{
    if (group_id.len <= 0) {
        return KERR_INVALID_GROUP_ID;
    }
    struct group *g = group_find(b, group_id);
    if (g == NULL) {
        return KERR_UNKNOWN_MEMBER_ID;
    }
    if (g->state == GROUP_DEAD) {
        return KERR_COORDINATOR_NOT_AVAILABLE;
    }
    int16_t err = validate_current_member(g, member_id, instance_id);
    if (err != KERR_NONE) {
        return err;
    }
    if (generation != g->generation) {
        return KERR_ILLEGAL_GENERATION;
    }
    struct group_member *m = group_member_find(g, member_id);
    switch (g->state) {
    case GROUP_COMPLETING_REBALANCE:
    case GROUP_STABLE:
        group_member_touch(b, m);
        return KERR_NONE;
    case GROUP_PREPARING_REBALANCE:
        group_member_touch(b, m);
        return KERR_REBALANCE_IN_PROGRESS;
    default:
        return KERR_UNKNOWN_MEMBER_ID;
    }
}

int group_leave(struct broker *b, struct kstr group_id, struct kstr member_id,
                struct kstr instance_id, int16_t *group_error)
{
    *group_error = KERR_NONE;
    if (group_id.len <= 0) {
        *group_error = KERR_INVALID_GROUP_ID;
        return KERR_INVALID_GROUP_ID;
    }
    struct group *g = group_find(b, group_id);
    if (g == NULL) {
        return KERR_UNKNOWN_MEMBER_ID;
    }
    if (g->state == GROUP_DEAD) {
        *group_error = KERR_COORDINATOR_NOT_AVAILABLE;
        return KERR_COORDINATOR_NOT_AVAILABLE;
    }
    if (member_id.len <= 0) {
        struct group_member *s = static_member(g, instance_id);
        if (s == NULL) {
            return KERR_UNKNOWN_MEMBER_ID;
        }
        remove_member_and_update(b, g, s, "left the group (by group.instance.id)");
        return KERR_NONE;
    }
    struct group_pending *p = pending_find(g, member_id);
    if (p != NULL) {
        pending_remove(b, g, p);
        if (g->state == GROUP_PREPARING_REBALANCE) {
            try_complete_join(b, g);
        }
        return KERR_NONE;
    }
    int16_t err = validate_current_member(g, member_id, instance_id);
    if (err != KERR_NONE) {
        return err;
    }
    remove_member_and_update(b, g, group_member_find(g, member_id), "left the group");
    return KERR_NONE;
}

static void group_free(struct broker *b, struct group *g)
{
    if (g == NULL) {
        return;
    }
    timer_cancel(&b->timers, &g->join_timer);
    timer_cancel(&b->timers, &g->sync_timer);
    for (size_t i = 0; i < g->nmembers; i++) {
        member_free(b, g->members[i]);
    }
    free(g->members);
    while (g->pending != NULL) {
        struct group_pending *p = g->pending;
        g->pending = p->next;
        pending_free(b, p);
    }
    for (size_t i = 0; i < g->ntopics; i++) {
        for (int32_t k = 0; k < g->topics[i].npartitions; k++) {
            free(g->topics[i].parts[k].metadata);
        }
        free(g->topics[i].parts);
        free(g->topics[i].name);
    }
    free(g->topics);
    for (size_t i = 0; i < g->ntxn; i++) {
        txn_entry_free(&g->txn[i]);
    }
    free(g->txn);
    free(g->protocol_type);
    free(g->protocol_name);
    free(g->id);
    free(g);
}

static void group_unregister(struct broker *b, struct group *g)
{
    struct group_coordinator *gc = b->groups;
    for (size_t i = 0; i < gc->ngroups; i++) {
        if (gc->groups[i] == g) {
            memmove(&gc->groups[i], &gc->groups[i + 1], (gc->ngroups - i - 1) * sizeof(*gc->groups));
            gc->ngroups--;
            break;
        }
    }
    group_free(b, g);
}

int group_delete(struct broker *b, struct kstr group_id)
{
    struct group *g = group_find(b, group_id);
    if (g == NULL || g->state == GROUP_DEAD) {
        return KERR_GROUP_ID_NOT_FOUND;
    }
    if (g->state != GROUP_EMPTY) {
        return KERR_NON_EMPTY_GROUP;
    }
    if (offsets_log_append_group(b, g, 1) != 0) {
        return KERR_KAFKA_STORAGE_ERROR;
    }
    set_state(g, GROUP_DEAD);
    log_group(BC_LOG_INFO, "group deleted", g, NULL, NULL, NULL, NULL);
    group_unregister(b, g);
    return KERR_NONE;
}

void group_forget(struct broker *b, struct group *g)
{
    group_unregister(b, g);
}

/* --- offsets ----------------------------------------------------------------------------- */

int group_validate_commit(const struct group *g, int32_t generation, struct kstr member_id,
                          struct kstr instance_id, int transactional)
{
    if (g->state == GROUP_DEAD) {
        return KERR_COORDINATOR_NOT_AVAILABLE;
    }
    if (generation < 0 && g->state == GROUP_EMPTY) {
        return KERR_NONE; /* a consumer without group management, or an admin tool */
    }
    if (generation >= 0 || member_id.len > 0 || instance_id.len >= 0) {
        int16_t err = validate_current_member(g, member_id, instance_id);
        if (err != KERR_NONE) {
            return err;
        }
        return generation == g->generation ? KERR_NONE : KERR_ILLEGAL_GENERATION;
    }
    if (!transactional && g->state != GROUP_EMPTY) {
        return KERR_UNKNOWN_MEMBER_ID;
    }
    return KERR_NONE;
}

struct group_committed *group_committed_slot(struct group *g, const char *topic, int32_t partition)
{
    struct group_topic *t = NULL;
    for (size_t i = 0; i < g->ntopics; i++) {
        if (strcmp(g->topics[i].name, topic) == 0) {
            t = &g->topics[i];
            break;
        }
    }
    if (t == NULL) {
        struct group_topic *v = realloc(g->topics, (g->ntopics + 1) * sizeof(*v));
        if (v == NULL) {
            return NULL;
        }
        g->topics = v;
        t = &g->topics[g->ntopics];
        memset(t, 0, sizeof(*t));
        if ((t->name = strdup(topic)) == NULL) {
            return NULL;
        }
        g->ntopics++;
    }
    if (partition < 0 || partition > 1000000) {
        return NULL;
    }
    if (partition >= t->npartitions) {
        int32_t n = partition + 1;
        struct group_committed *p = realloc(t->parts, (size_t)n * sizeof(*p));
        if (p == NULL) {
            return NULL;
        }
        for (int32_t i = t->npartitions; i < n; i++) {
            p[i] = (struct group_committed){.offset = -1, .leader_epoch = -1};
        }
        t->parts = p;
        t->npartitions = n;
    }
    return &t->parts[partition];
}

int group_offsets_commit(struct broker *b, struct group *g, struct group_offset_commit *c, size_t n)
{
    size_t todo = 0;
    for (size_t i = 0; i < n; i++) {
        todo += c[i].error == KERR_NONE;
    }
    if (todo == 0) {
        return 0;
    }
    if (offsets_log_append_commit(b, g, c, n) != 0) {
        for (size_t i = 0; i < n; i++) {
            if (c[i].error == KERR_NONE) {
                c[i].error = KERR_KAFKA_STORAGE_ERROR;
            }
        }
        return -1;
    }
    int64_t now = now_ms();
    for (size_t i = 0; i < n; i++) {
        if (c[i].error != KERR_NONE) {
            continue;
        }
        char topic[TOPIC_NAME_MAX + 1];
        struct group_committed *slot = NULL;
        if (kstr_copy(c[i].topic, topic, sizeof(topic)) == 0) {
            slot = group_committed_slot(g, topic, c[i].partition);
        }
        if (slot == NULL) {
            c[i].error = KERR_UNKNOWN_SERVER_ERROR;
            continue;
        }
        free(slot->metadata);
        slot->metadata = c[i].metadata.len > 0 ? kdup(c[i].metadata) : NULL;
        slot->offset = c[i].offset;
        slot->leader_epoch = c[i].leader_epoch;
        slot->commit_ts = now;
        slot->seq = ++b->groups->seq;
    }
    return 0;
}

/* --- transactional offsets ---------------------------------------------------------------- */

static void txn_entry_free(struct group_txn_offset *t)
{
    free(t->topic);
    free(t->value.metadata);
}

int group_txn_offset_put(struct broker *b, struct group *g, int64_t producer_id,
                         int16_t producer_epoch, const char *topic, int32_t partition,
                         const struct group_committed *value)
{
    struct group_txn_offset *t = NULL;
    for (size_t i = 0; i < g->ntxn; i++) {
        if (g->txn[i].producer_id == producer_id && g->txn[i].partition == partition &&
            strcmp(g->txn[i].topic, topic) == 0) {
            t = &g->txn[i];
            txn_entry_free(t);
            break;
        }
    }
    if (t == NULL) {
        struct group_txn_offset *v = realloc(g->txn, (g->ntxn + 1) * sizeof(*v));
        if (v == NULL) {
            return -1;
        }
        g->txn = v;
        t = &g->txn[g->ntxn++];
    }
    t->producer_id = producer_id;
    t->producer_epoch = producer_epoch;
    t->topic = strdup(topic);
    t->partition = partition;
    t->value = *value;
    t->value.metadata = value->metadata ? strdup(value->metadata) : NULL;
    t->value.seq = ++b->groups->seq;
    return t->topic != NULL ? 0 : -1;
}

void group_txn_end_memory(struct broker *b, int64_t producer_id, int commit)
{
    struct group_coordinator *gc = b->groups;
    for (size_t i = 0; gc != NULL && i < gc->ngroups; i++) {
        struct group *g = gc->groups[i];
        size_t keep = 0;
        for (size_t k = 0; k < g->ntxn; k++) {
            struct group_txn_offset *t = &g->txn[k];
            if (t->producer_id != producer_id) {
                g->txn[keep++] = *t;
                continue;
            }
            struct group_committed *slot = commit ? group_committed_slot(g, t->topic, t->partition)
                                                  : NULL;
            if (slot != NULL && (slot->offset < 0 || slot->seq < t->value.seq)) {
                free(slot->metadata);
                *slot = t->value;
                t->value.metadata = NULL;
            }
            txn_entry_free(t);
        }
        g->ntxn = keep;
    }
}

int group_txn_offsets_add(struct broker *b, struct group *g, int64_t producer_id,
                          int16_t producer_epoch, struct group_offset_commit *c, size_t n)
{
    size_t todo = 0;
    for (size_t i = 0; i < n; i++) {
        todo += c[i].error == KERR_NONE;
    }
    if (todo == 0) {
        return 0;
    }
    if (offsets_log_append_txn(b, g, producer_id, producer_epoch, c, n) != 0) {
        for (size_t i = 0; i < n; i++) {
            if (c[i].error == KERR_NONE) {
                c[i].error = KERR_KAFKA_STORAGE_ERROR;
            }
        }
        return -1;
    }
    int64_t now = now_ms();
    for (size_t i = 0; i < n; i++) {
        char topic[TOPIC_NAME_MAX + 1];
        if (c[i].error != KERR_NONE) {
            continue;
        }
        struct group_committed v = {.offset = c[i].offset, .leader_epoch = c[i].leader_epoch,
                                    .commit_ts = now};
        char *md = c[i].metadata.len > 0 ? kdup(c[i].metadata) : NULL;
        v.metadata = md;
        if (kstr_copy(c[i].topic, topic, sizeof(topic)) != 0 ||
            group_txn_offset_put(b, g, producer_id, producer_epoch, topic, c[i].partition, &v) != 0) {
            c[i].error = KERR_UNKNOWN_SERVER_ERROR;
        }
        free(md);
    }
    return 0;
}

int group_txn_offsets_end(struct broker *b, int64_t producer_id, int16_t producer_epoch,
                          int commit)
{
    struct group_coordinator *gc = b->groups;
    int pending = 0;
    for (size_t i = 0; i < gc->ngroups && !pending; i++) {
        for (size_t k = 0; k < gc->groups[i]->ntxn && !pending; k++) {
            pending = gc->groups[i]->txn[k].producer_id == producer_id;
        }
    }
    if (!pending) {
        return 0;
    }
    if (offsets_log_append_marker(b, producer_id, producer_epoch, commit) != 0) {
        return -1;
    }
    group_txn_end_memory(b, producer_id, commit);
    return 0;
}

int group_offset_unstable(const struct group *g, const char *topic, int32_t partition)
{
    for (size_t i = 0; i < g->ntxn; i++) {
        if (g->txn[i].partition == partition && strcmp(g->txn[i].topic, topic) == 0) {
            return 1;
        }
    }
    return 0;
}

void groups_topic_deleted(struct broker *b, const char *topic)
{
    struct group_coordinator *gc = b->groups;
    for (size_t i = 0; gc != NULL && i < gc->ngroups; i++) {
        struct group *g = gc->groups[i];
        size_t keep = 0;
        for (size_t k = 0; k < g->ntxn; k++) {
            if (strcmp(g->txn[k].topic, topic) == 0) {
                txn_entry_free(&g->txn[k]);
            } else {
                g->txn[keep++] = g->txn[k];
            }
        }
        g->ntxn = keep;
        for (size_t t = 0; t < g->ntopics; t++) {
            struct group_topic *gt = &g->topics[t];
            if (strcmp(gt->name, topic) != 0) {
                continue;
            }
            if (offsets_log_append_topic_deleted(b, g, topic) != 0) {
                log_group(BC_LOG_ERROR, "cannot write offset tombstones", g, "topic", topic,
                          NULL, NULL);
            }
            for (int32_t p = 0; p < gt->npartitions; p++) {
                free(gt->parts[p].metadata);
            }
            free(gt->parts);
            free(gt->name);
            memmove(gt, gt + 1, (g->ntopics - t - 1) * sizeof(*gt));
            g->ntopics--;
            break;
        }
    }
}

/* --- group metadata records (Kafka's GroupMetadataValue) -------------------------------- */

static const struct group_protocol *member_protocol(const struct group_member *m, const char *name)
{
    for (size_t i = 0; name != NULL && i < m->nprotocols; i++) {
        if (strcmp(m->protocols[i].name, name) == 0) {
            return &m->protocols[i];
        }
    }
    return NULL;
}

void group_write_metadata(const struct group *g, struct kbuf *out)
{
    kw_i16(out, 3);
    kw_str(out, g->protocol_type ? g->protocol_type : "", -1, 0);
    kw_i32(out, g->generation);
    kw_str(out, g->protocol_name, -1, 0);
    kw_str(out, g->leader ? g->leader->member_id : NULL, -1, 0);
    kw_i64(out, g->state_ts);
    kw_array(out, (int32_t)g->nmembers, 0);
    for (size_t i = 0; i < g->nmembers; i++) {
        const struct group_member *m = g->members[i];
        const struct group_protocol *p = member_protocol(m, g->protocol_name);
        kw_str(out, m->member_id, -1, 0);
        kw_str(out, m->instance_id, -1, 0);
        kw_str(out, m->client_id, -1, 0);
        kw_str(out, m->client_host, -1, 0);
        kw_i32(out, m->rebalance_timeout_ms);
        kw_i32(out, m->session_timeout_ms);
        kw_bytes(out, p && p->metadata ? p->metadata : (const uint8_t *)"", p ? p->len : 0, 0);
        kw_bytes(out, m->assignment ? m->assignment : (const uint8_t *)"", m->assignment_len, 0);
    }
}

static uint8_t *bytes_dup(struct kstr s, int32_t *len)
{
    *len = 0;
    if (s.len <= 0) {
        return NULL;
    }
    uint8_t *p = malloc((size_t)s.len);
    if (p != NULL) {
        memcpy(p, s.p, (size_t)s.len);
        *len = s.len;
    }
    return p;
}

int group_apply_metadata(struct broker *b, struct group *g, struct krd *rd)
{
    int16_t v = kr_i16(rd);
    struct kstr ptype = kr_str(rd, 0);
    int32_t generation = kr_i32(rd);
    struct kstr proto = kr_str(rd, 0);
    struct kstr leader = kr_str(rd, 0);
    int64_t ts = v >= 2 ? kr_i64(rd) : now_ms();
    int32_t n = kr_array(rd, 0, 8);
    if (rd->err || v < 0 || v > 3) {
        return -1;
    }
    for (size_t i = 0; i < g->nmembers; i++) {
        member_free(b, g->members[i]);
    }
    g->nmembers = 0;
    g->leader = NULL;
    free(g->protocol_type);
    free(g->protocol_name);
    g->protocol_type = ptype.len > 0 ? kdup(ptype) : NULL;
    g->protocol_name = kdup(proto);
    g->generation = generation;
    for (int32_t i = 0; i < n && !rd->err; i++) {
        struct kstr id = kr_str(rd, 0);
        struct kstr instance = v >= 3 ? kr_str(rd, 0) : (struct kstr){NULL, -1};
        struct kstr client_id = kr_str(rd, 0);
        struct kstr client_host = kr_str(rd, 0);
        int32_t rebalance_ms = v >= 1 ? kr_i32(rd) : 0;
        int32_t session_ms = kr_i32(rd);
        struct kstr sub = kr_bytes(rd, 0);
        struct kstr assignment = kr_bytes(rd, 0);
        if (rd->err || id.len <= 0) {
            return -1;
        }
        struct group_member *m = calloc(1, sizeof(*m));
        if (m == NULL) {
            return -1;
        }
        m->member_id = kdup(id);
        m->instance_id = kdup(instance);
        m->client_id = kdup(client_id);
        m->client_host = kdup(client_host);
        m->rebalance_timeout_ms = v >= 1 ? rebalance_ms : session_ms;
        m->session_timeout_ms = session_ms;
        m->protocols = calloc(1, sizeof(*m->protocols));
        if (m->protocols != NULL && g->protocol_name != NULL) {
            m->nprotocols = 1;
            m->protocols[0].name = strdup(g->protocol_name);
            m->protocols[0].metadata = bytes_dup(sub, &m->protocols[0].len);
        }
        m->assignment = bytes_dup(assignment, &m->assignment_len);
        if (m->member_id == NULL || group_push_member(g, m) != 0) {
            member_free(b, m);
            return -1;
        }
        if (kstr_eq(leader, m->member_id)) {
            g->leader = m;
        }
    }
    if (rd->err) {
        return -1;
    }
    g->state = g->nmembers > 0 ? GROUP_STABLE : GROUP_EMPTY;
    g->state_ts = ts;
    return 0;
}

/* --- lifecycle --------------------------------------------------------------------------- */

int groups_load(struct broker *b, char *errstr, size_t errstr_size)
{
    struct group_coordinator *gc = calloc(1, sizeof(*gc));
    if (gc == NULL) {
        snprintf(errstr, errstr_size, "out of memory");
        return -1;
    }
    gc->io = &group_slot_io;
    b->groups = gc;
    if (b->opts.group_max_session_timeout_ms == 0) {
        b->opts.group_max_session_timeout_ms = 1800000;
    }
    if (b->opts.group_min_session_timeout_ms > b->opts.group_max_session_timeout_ms) {
        snprintf(errstr, errstr_size, "the minimum session timeout is above the maximum");
        groups_close(b);
        return -1;
    }
    if (offsets_log_open(b, errstr, errstr_size) != 0) {
        groups_close(b);
        return -1;
    }
    /* Members loaded from the log start their sessions now. */
    for (size_t i = 0; i < gc->ngroups; i++) {
        for (size_t k = 0; k < gc->groups[i]->nmembers; k++) {
            group_member_touch(b, gc->groups[i]->members[k]);
        }
    }
    return 0;
}

void groups_close(struct broker *b)
{
    struct group_coordinator *gc = b->groups;
    if (gc == NULL) {
        return;
    }
    for (size_t i = 0; i < gc->ngroups; i++) {
        group_free(b, gc->groups[i]);
    }
    free(gc->groups);
    offsets_log_close(b);
    free(gc);
    b->groups = NULL;
}
