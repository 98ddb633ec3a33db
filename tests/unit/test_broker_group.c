/*
 * breadcrumb-broker's group coordinator (group.c) without sockets: requests go in as
 * structs, answers come back through a recording group_io, time moves by running the timer
 * heap with a later "now". Covers the rebalance protocol, Kafka's error codes, static
 * membership, session expiry, offset-commit validation and the offsets log (persistence,
 * tombstones, rewrite).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bc_log.h"
#include "tools/broker/broker.h"
#include "tools/broker/group.h"

/* --- a recording io ---------------------------------------------------------------------- */

struct answer {
    int done;
    int16_t error;
    int32_t generation;
    char member_id[256];
    char leader_id[256];
    char protocol[64];
    int nmembers; /* members listed (the leader's view) */
    uint8_t assignment[64];
    int32_t assignment_len;
};

static void rec_join(struct broker *b, void *waiter, const struct group_join_result *res)
{
    (void)b;
    struct answer *a = waiter;
    assert_false(a->done);
    a->done = 1;
    a->error = res->error;
    a->generation = res->generation;
    snprintf(a->member_id, sizeof(a->member_id), "%s", res->member_id);
    snprintf(a->leader_id, sizeof(a->leader_id), "%s", res->leader_id);
    snprintf(a->protocol, sizeof(a->protocol), "%s", res->protocol_name ? res->protocol_name : "");
    a->nmembers = res->members_of ? (int)res->members_of->nmembers : -1;
}

static void rec_sync(struct broker *b, void *waiter, int16_t error, const char *pt, const char *pn,
                     const uint8_t *assignment, int32_t len)
{
    (void)b, (void)pt, (void)pn;
    struct answer *a = waiter;
    assert_false(a->done);
    a->done = 1;
    a->error = error;
    a->assignment_len = len;
    if (len > 0) {
        memcpy(a->assignment, assignment, (size_t)len);
    }
}

static const struct group_io rec_io = {rec_join, rec_sync};

/* --- fixtures ---------------------------------------------------------------------------- */

struct fx {
    struct broker b;
    char dir[64];
};

static void fx_open(struct fx *f)
{
    char err[256];
    f->b.opts.data_dir = f->dir;
    f->b.opts.group_min_session_timeout_ms = 6000;
    f->b.opts.group_max_session_timeout_ms = 300000;
    f->b.opts.group_initial_rebalance_delay_ms = 0;
    assert_int_equal(groups_load(&f->b, err, sizeof(err)), 0);
    f->b.groups->io = &rec_io;
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/bc-group-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    char meta[128];
    snprintf(meta, sizeof(meta), "%s/meta", f->dir);
    mkdir(meta, 0755);
    fx_open(f);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    groups_close(&f->b);
    timer_heap_free(&f->b.timers);
    char cmd[160];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

static struct kstr K(const char *z)
{
    return (struct kstr){z, z ? (int32_t)strlen(z) : -1};
}

static const struct kstr NONE = {NULL, -1};

/* Session timeout of the static member "s1" (others: 6000). Time cannot be faked (group.c
 * arms timers from the real clock), so expiry tests give members different sessions. */
static int32_t s1_session_ms = 6000;
static int32_t other_session_ms = 6000;

/* Runs every timer due within `ms` from now. */
static void advance(struct fx *f, int64_t ms)
{
    timer_run(&f->b.timers, &f->b, now_ms() + ms);
}

static void join(struct fx *f, struct answer *a, const char *member_id, const char *instance,
                 const char *metadata, int v4)
{
    memset(a, 0, sizeof(*a));
    struct kstr names[2] = {K("range"), K("roundrobin")};
    struct kstr md[2] = {K(metadata), K(metadata)};
    struct group_join_req rq = {
        .group_id = K("g"), .member_id = K(member_id ? member_id : ""),
        .instance_id = instance ? K(instance) : NONE, .protocol_type = K("consumer"),
        .client_id = "cl", .client_host = "/127.0.0.1",
        .session_timeout_ms = instance && strcmp(instance, "s1") == 0 ? s1_session_ms : other_session_ms,
        .rebalance_timeout_ms = 10000, .nprotocols = 2, .protocol_names = names,
        .protocol_metadata = md, .require_known_member_id = v4,
    };
    group_join(&f->b, &rq, a);
}

static void sync_(struct fx *f, struct answer *a, const char *member_id, int32_t gen,
                  const char *instance, int nassign, const char **ids, const char **assigns)
{
    memset(a, 0, sizeof(*a));
    struct kstr kid[8], kas[8];
    for (int i = 0; i < nassign; i++) {
        kid[i] = K(ids[i]);
        kas[i] = K(assigns[i]);
    }
    struct group_sync_req rq = {
        .group_id = K("g"), .generation = gen, .member_id = K(member_id),
        .instance_id = instance ? K(instance) : NONE, .protocol_type = NONE,
        .protocol_name = NONE, .nassignments = nassign, .assign_member_ids = kid,
        .assignments = kas,
    };
    group_sync(&f->b, &rq, a);
}

static int hb(struct fx *f, const char *member_id, int32_t gen, const char *instance)
{
    return group_heartbeat(&f->b, K("g"), gen, K(member_id), instance ? K(instance) : NONE);
}

static struct group *G(struct fx *f)
{
    return group_find(&f->b, K("g"));
}

/* Two static members (s1, s2) joined and synced: generation 1, Stable. */
static void two_static_members(struct fx *f, struct answer *j1, struct answer *j2)
{
    struct answer s1, s2;
    join(f, j1, NULL, "s1", "md1", 1);
    join(f, j2, NULL, "s2", "md2", 1);
    advance(f, 0); /* the initial delay (0 ms) */
    assert_true(j1->done && j2->done);
    assert_int_equal(j1->error, 0);
    assert_int_equal(j1->generation, 1);
    assert_string_equal(j1->leader_id, j1->member_id);
    assert_int_equal(j1->nmembers, 2); /* the leader sees everyone */
    assert_int_equal(j2->nmembers, -1);
    assert_string_equal(j2->leader_id, j1->member_id);
    assert_string_equal(j1->protocol, "range");
    sync_(f, &s2, j2->member_id, 1, "s2", 0, NULL, NULL);
    assert_false(s2.done); /* waits for the leader */
    const char *ids[2] = {j1->member_id, j2->member_id};
    const char *as[2] = {"A1", "A2"};
    sync_(f, &s1, j1->member_id, 1, "s1", 2, ids, as);
    assert_true(s1.done && s2.done);
    assert_int_equal(s2.assignment_len, 2);
    assert_memory_equal(s2.assignment, "A2", 2);
    assert_int_equal(G(f)->state, GROUP_STABLE);
}

/* --- tests ------------------------------------------------------------------------------- */

static void test_group_member_id_required_then_join(void **state)
{
    struct fx *f = *state;
    struct answer a, s;
    join(f, &a, NULL, NULL, "md", 1);
    assert_true(a.done);
    assert_int_equal(a.error, KERR_MEMBER_ID_REQUIRED);
    assert_true(strncmp(a.member_id, "cl-", 3) == 0);
    char id[256];
    snprintf(id, sizeof(id), "%s", a.member_id);
    join(f, &a, id, NULL, "md", 1);
    assert_false(a.done); /* the initial delay */
    advance(f, 0);
    assert_true(a.done);
    assert_int_equal(a.error, 0);
    assert_int_equal(a.generation, 1);
    assert_string_equal(a.member_id, id);
    sync_(f, &s, id, 1, NULL, 1, (const char *[]){id}, (const char *[]){"X"});
    assert_true(s.done);
    assert_int_equal(s.error, 0);
    assert_int_equal(hb(f, id, 1, NULL), 0);
}

static void test_group_error_codes(void **state)
{
    struct fx *f = *state;
    struct answer a, j1, j2;
    /* session timeout below group.min.session.timeout.ms */
    memset(&a, 0, sizeof(a));
    struct kstr names[1] = {K("range")}, md[1] = {K("x")};
    struct group_join_req rq = {.group_id = K("g"), .member_id = K(""), .instance_id = NONE,
                                .protocol_type = K("consumer"), .session_timeout_ms = 5999,
                                .rebalance_timeout_ms = 1000, .nprotocols = 1,
                                .protocol_names = names, .protocol_metadata = md};
    group_join(&f->b, &rq, &a);
    assert_int_equal(a.error, KERR_INVALID_SESSION_TIMEOUT);
    rq.group_id = K("");
    rq.session_timeout_ms = 6000;
    memset(&a, 0, sizeof(a));
    group_join(&f->b, &rq, &a);
    assert_int_equal(a.error, KERR_INVALID_GROUP_ID);
    /* a member id for a group that does not exist */
    join(f, &a, "ghost", NULL, "md", 1);
    assert_int_equal(a.error, KERR_UNKNOWN_MEMBER_ID);
    assert_int_equal(group_heartbeat(&f->b, K("nope"), 1, K("x"), NONE), KERR_UNKNOWN_MEMBER_ID);

    two_static_members(f, &j1, &j2);
    assert_int_equal(hb(f, j1.member_id, 2, "s1"), KERR_ILLEGAL_GENERATION);
    assert_int_equal(hb(f, "who", 1, NULL), KERR_UNKNOWN_MEMBER_ID);
    assert_int_equal(hb(f, j2.member_id, 1, "s1"), KERR_FENCED_INSTANCE_ID);
    assert_int_equal(hb(f, j1.member_id, 1, "s9"), KERR_UNKNOWN_MEMBER_ID);
    /* another protocol type cannot join */
    memset(&a, 0, sizeof(a));
    rq.group_id = K("g");
    rq.protocol_type = K("connect");
    group_join(&f->b, &rq, &a);
    assert_int_equal(a.error, KERR_INCONSISTENT_GROUP_PROTOCOL);

    /* The leader rejoins: PreparingRebalance; followers hear REBALANCE_IN_PROGRESS. */
    char leader[256];
    snprintf(leader, sizeof(leader), "%s", j1.member_id);
    join(f, &a, leader, "s1", "md1", 1);
    assert_false(a.done);
    assert_int_equal(G(f)->state, GROUP_PREPARING_REBALANCE);
    assert_int_equal(hb(f, j2.member_id, 1, "s2"), KERR_REBALANCE_IN_PROGRESS);
    struct answer s;
    sync_(f, &s, j2.member_id, 1, "s2", 0, NULL, NULL);
    assert_int_equal(s.error, KERR_REBALANCE_IN_PROGRESS);
    /* group.c's commit check: generation and member as Kafka's validateOffsetCommit */
    assert_int_equal(group_validate_commit(G(f), 1, K(j2.member_id), K("s2"), 0), 0);
    assert_int_equal(group_validate_commit(G(f), 0, K(j2.member_id), K("s2"), 0),
                     KERR_ILLEGAL_GENERATION);
    assert_int_equal(group_validate_commit(G(f), -1, K(""), NONE, 0), KERR_UNKNOWN_MEMBER_ID);
    assert_int_equal(group_validate_commit(G(f), -1, K(""), NONE, 1), 0);
    assert_int_equal(group_validate_commit(G(f), 1, K("x"), NONE, 1), KERR_UNKNOWN_MEMBER_ID);
    assert_int_equal(group_validate_commit(G(f), 1, K(j1.member_id), K("s2"), 0),
                     KERR_FENCED_INSTANCE_ID);
    /* s2 rejoins: everyone is in, generation 2 at once */
    struct answer a2;
    join(f, &a2, j2.member_id, "s2", "md2", 1);
    assert_true(a.done && a2.done);
    assert_int_equal(a.generation, 2);
    assert_int_equal(G(f)->state, GROUP_COMPLETING_REBALANCE);
    assert_int_equal(hb(f, j2.member_id, 2, "s2"), 0);
    /* DeleteGroups */
    assert_int_equal(group_delete(&f->b, K("g")), KERR_NON_EMPTY_GROUP);
    assert_int_equal(group_delete(&f->b, K("nope")), KERR_GROUP_ID_NOT_FOUND);
}

static void test_group_static_rejoin_keeps_assignment(void **state)
{
    struct fx *f = *state;
    struct answer j1, j2, a, s;
    two_static_members(f, &j1, &j2);
    /* s2 restarts (no member id): replaced at once, same generation, old leader named. */
    join(f, &a, NULL, "s2", "md2", 1);
    assert_true(a.done);
    assert_int_equal(a.error, 0);
    assert_int_equal(a.generation, 1);
    assert_string_not_equal(a.member_id, j2.member_id);
    assert_string_equal(a.leader_id, j1.member_id);
    assert_int_equal(G(f)->state, GROUP_STABLE);
    sync_(f, &s, a.member_id, 1, "s2", 0, NULL, NULL);
    assert_int_equal(s.error, 0);
    assert_memory_equal(s.assignment, "A2", 2);
    /* the old incarnation is fenced */
    assert_int_equal(hb(f, j2.member_id, 1, "s2"), KERR_FENCED_INSTANCE_ID);
    assert_int_equal(hb(f, a.member_id, 1, "s2"), 0);
    assert_int_equal(hb(f, j1.member_id, 1, "s1"), 0);

    /* The leader restarts: also no rebalance; it is told the old leader id (not itself). */
    struct answer l;
    join(f, &l, NULL, "s1", "md1", 1);
    assert_int_equal(l.error, 0);
    assert_int_equal(l.generation, 1);
    assert_string_equal(l.leader_id, j1.member_id);
    assert_string_not_equal(l.member_id, j1.member_id);
    assert_int_equal(l.nmembers, -1);

    /* Changed protocol metadata: a rebalance. */
    join(f, &a, NULL, "s2", "md2-changed", 1);
    assert_false(a.done);
    assert_int_equal(G(f)->state, GROUP_PREPARING_REBALANCE);
}

static void test_group_session_expiry_evicts(void **state)
{
    struct fx *f = *state;
    struct answer j1, j2, a;
    s1_session_ms = 20000;
    two_static_members(f, &j1, &j2);
    s1_session_ms = 6000;
    advance(f, 5900);
    assert_int_equal(G(f)->nmembers, 2);
    advance(f, 6100); /* s2 silent for more than its 6 s session */
    assert_int_equal(G(f)->nmembers, 1);
    assert_int_equal(G(f)->state, GROUP_PREPARING_REBALANCE);
    assert_int_equal(hb(f, j1.member_id, 1, "s1"), KERR_REBALANCE_IN_PROGRESS);
    join(f, &a, j1.member_id, "s1", "md1", 1);
    assert_true(a.done);
    assert_int_equal(a.generation, 2);
    assert_int_equal(a.nmembers, 1);
    /* s2 comes back after its eviction: a new member, so a rebalance */
    struct answer b;
    join(f, &b, NULL, "s2", "md2", 1);
    assert_false(b.done);
    assert_int_equal(G(f)->state, GROUP_PREPARING_REBALANCE);
}

/* A member that heartbeats but does not rejoin holds the rebalance until the rebalance
 * timeout (10 s here); then a dynamic one is dropped, a static one kept (its session
 * decides). */
static void test_group_rebalance_timeout(void **state)
{
    struct fx *f = *state;
    struct answer d1, d2, s1, a, b;
    other_session_ms = 30000;
    s1_session_ms = 30000;
    join(f, &d1, NULL, NULL, "md", 0);
    join(f, &d2, NULL, NULL, "md", 0);
    join(f, &s1, NULL, "s1", "md", 0);
    advance(f, 0);
    assert_int_equal(d1.generation, 1);
    assert_int_equal(G(f)->nmembers, 3);
    sync_(f, &a, d1.member_id, 1, NULL, 0, NULL, NULL);
    assert_true(a.done); /* d1 leads: Stable */
    /* d1 rejoins; d2 and s1 only heartbeat */
    join(f, &a, d1.member_id, NULL, "md", 0);
    assert_false(a.done);
    assert_int_equal(hb(f, d2.member_id, 1, NULL), KERR_REBALANCE_IN_PROGRESS);
    assert_int_equal(hb(f, s1.member_id, 1, "s1"), KERR_REBALANCE_IN_PROGRESS);
    advance(f, 9000);
    assert_false(a.done);
    /* exactly the rebalance deadline; the SyncGroup deadline armed when the join completes
     * is a rebalance timeout after the real clock, which must have moved on */
    usleep(20000);
    timer_run(&f->b.timers, &f->b, G(f)->join_timer.deadline_ms);
    assert_true(a.done);
    assert_int_equal(a.generation, 2);
    assert_int_equal(a.nmembers, 2); /* d1 and the static s1 */
    assert_null(group_member_find(G(f), K(d2.member_id)));
    assert_non_null(group_member_find(G(f), K(s1.member_id)));
    assert_int_equal(hb(f, d2.member_id, 2, NULL), KERR_UNKNOWN_MEMBER_ID);
    /* s1 learns about generation 2 by rejoining with its member id: no new rebalance */
    join(f, &b, s1.member_id, "s1", "md", 0);
    assert_true(b.done);
    assert_int_equal(b.generation, 2);
    other_session_ms = 6000;
    s1_session_ms = 6000;
}

/* A member that got its JoinGroup answer but never sends SyncGroup is removed after the
 * rebalance timeout (Kafka's DelayedSync). */
static void test_group_pending_sync_expiry(void **state)
{
    struct fx *f = *state;
    struct answer d1, d2, s;
    other_session_ms = 30000;
    join(f, &d1, NULL, NULL, "md", 0);
    join(f, &d2, NULL, NULL, "md", 0);
    advance(f, 0);
    assert_int_equal(d2.generation, 1);
    sync_(f, &s, d1.member_id, 1, NULL, 0, NULL, NULL);
    assert_int_equal(s.error, 0);
    advance(f, 9000);
    assert_int_equal(G(f)->nmembers, 2);
    usleep(20000); /* so that the rebalance this starts ends a bit later than the deadline */
    timer_run(&f->b.timers, &f->b, G(f)->sync_timer.deadline_ms);
    assert_int_equal(G(f)->nmembers, 1);
    assert_int_equal(G(f)->state, GROUP_PREPARING_REBALANCE);
    assert_non_null(group_member_find(G(f), K(d1.member_id)));
    other_session_ms = 6000;
}

static void test_group_leave_and_empty(void **state)
{
    struct fx *f = *state;
    struct answer j1, j2;
    int16_t gerr;
    two_static_members(f, &j1, &j2);
    assert_int_equal(group_leave(&f->b, K("g"), K("nobody"), NONE, &gerr), KERR_UNKNOWN_MEMBER_ID);
    assert_int_equal(group_leave(&f->b, K("g"), K(""), K("s2"), &gerr), 0); /* by instance id */
    assert_int_equal(group_leave(&f->b, K("g"), K(j1.member_id), NONE, &gerr), 0);
    assert_int_equal(G(f)->state, GROUP_EMPTY);
    assert_int_equal(G(f)->generation, 2);
    assert_int_equal(group_delete(&f->b, K("g")), 0);
    assert_null(G(f));
}

static void test_group_offsets_persist_and_rewrite(void **state)
{
    struct fx *f = *state;
    struct group *g = group_get_or_create(&f->b, K("og"));
    struct group_offset_commit c[3] = {
        {.topic = K("t"), .partition = 0, .offset = 10, .leader_epoch = 1, .metadata = K("m")},
        {.topic = K("t"), .partition = 2, .offset = 30, .leader_epoch = -1, .metadata = NONE},
        {.topic = K("u"), .partition = 0, .offset = 5, .metadata = NONE, .error = 3},
    };
    assert_int_equal(group_offsets_commit(&f->b, g, c, 3), 0);
    assert_int_equal(c[0].error, 0);
    assert_int_equal(c[2].error, 3); /* skipped */
    /* many more commits: the log outgrows its live records and is rewritten */
    for (int i = 0; i < 12000; i++) {
        struct group_offset_commit x = {.topic = K("t"), .partition = 1, .offset = i,
                                        .metadata = NONE};
        assert_int_equal(group_offsets_commit(&f->b, g, &x, 1), 0);
    }
    assert_true(f->b.groups->log_records < 12000);
    /* another group, deleted: its tombstones win on replay */
    struct group *d = group_get_or_create(&f->b, K("gone"));
    struct group_offset_commit y = {.topic = K("t"), .partition = 0, .offset = 1, .metadata = NONE};
    group_offsets_commit(&f->b, d, &y, 1);
    assert_int_equal(group_delete(&f->b, K("gone")), 0);

    groups_close(&f->b);
    fx_open(f);
    g = group_find(&f->b, K("og"));
    assert_non_null(g);
    const struct group_committed *r = group_committed_find(g, "t", 0);
    assert_non_null(r);
    assert_true(r->offset == 10);
    assert_int_equal(r->leader_epoch, 1);
    assert_string_equal(r->metadata, "m");
    assert_true(group_committed_find(g, "t", 1)->offset == 11999);
    assert_true(group_committed_find(g, "t", 2)->offset == 30);
    assert_null(group_committed_find(g, "u", 0));
    assert_null(group_find(&f->b, K("gone")));
}

static void test_group_offsets_of_deleted_topic_go(void **state)
{
    struct fx *f = *state;
    struct group *g = group_get_or_create(&f->b, K("og"));
    struct group_offset_commit c[2] = {
        {.topic = K("a"), .partition = 1, .offset = 10, .metadata = NONE},
        {.topic = K("b"), .partition = 0, .offset = 20, .metadata = NONE},
    };
    assert_int_equal(group_offsets_commit(&f->b, g, c, 2), 0);
    groups_topic_deleted(&f->b, "a");
    assert_null(group_committed_find(g, "a", 1));
    groups_close(&f->b);
    fx_open(f);
    g = group_find(&f->b, K("og"));
    assert_null(group_committed_find(g, "a", 1));
    assert_true(group_committed_find(g, "b", 0)->offset == 20);
}

static int64_t committed_offset(struct group *g, const char *topic, int32_t partition)
{
    const struct group_committed *c = group_committed_find(g, topic, partition);
    return c ? c->offset : -1;
}

static void txn_commit(struct fx *f, struct group *g, int64_t pid, int32_t partition,
                       int64_t offset)
{
    struct group_offset_commit c = {.topic = K("t"), .partition = partition, .offset = offset,
                                    .metadata = NONE};
    assert_int_equal(group_txn_offsets_add(&f->b, g, pid, 0, &c, 1), 0);
    assert_int_equal(c.error, 0);
}

/* Transactional offsets: pending until the marker, COMMIT applies, ABORT drops, a later
 * plain commit is not overwritten by an older transactional one, and all of it (pending
 * ones too) survives a restart and a rewrite of the log. */
static void test_group_txn_offsets(void **state)
{
    struct fx *f = *state;
    struct group *g = group_get_or_create(&f->b, K("tg"));
    txn_commit(f, g, 7, 0, 100);
    assert_true(group_offset_unstable(g, "t", 0));
    assert_int_equal(committed_offset(g, "t", 0), -1);
    assert_int_equal(group_txn_offsets_end(&f->b, 7, 0, 1), 0);
    assert_false(group_offset_unstable(g, "t", 0));
    assert_int_equal(committed_offset(g, "t", 0), 100);

    txn_commit(f, g, 8, 1, 50);
    assert_int_equal(group_txn_offsets_end(&f->b, 8, 0, 0), 0);
    assert_int_equal(committed_offset(g, "t", 1), -1);

    txn_commit(f, g, 9, 2, 10);
    struct group_offset_commit plain = {.topic = K("t"), .partition = 2, .offset = 20,
                                        .metadata = NONE};
    assert_int_equal(group_offsets_commit(&f->b, g, &plain, 1), 0);
    assert_int_equal(group_txn_offsets_end(&f->b, 9, 0, 1), 0);
    assert_int_equal(committed_offset(g, "t", 2), 20);

    txn_commit(f, g, 10, 3, 30); /* open across the restart */
    txn_commit(f, g, 11, 4, 40); /* ended after the restart by an abort */
    groups_close(&f->b);
    fx_open(f);
    g = group_find(&f->b, K("tg"));
    assert_int_equal(committed_offset(g, "t", 0), 100);
    assert_int_equal(committed_offset(g, "t", 1), -1);
    assert_int_equal(committed_offset(g, "t", 2), 20);
    assert_true(group_offset_unstable(g, "t", 3));
    assert_true(group_offset_unstable(g, "t", 4));
    assert_int_equal(group_txn_offsets_end(&f->b, 10, 0, 1), 0);
    assert_int_equal(committed_offset(g, "t", 3), 30);

    /* a rewrite keeps pid 11's pending offset; its abort after the next restart drops it */
    for (int i = 0; i < 10001; i++) {
        struct group_offset_commit x = {.topic = K("u"), .partition = 0, .offset = i,
                                        .metadata = NONE};
        assert_int_equal(group_offsets_commit(&f->b, g, &x, 1), 0);
    }
    assert_true(f->b.groups->log_records < 10000);
    groups_close(&f->b);
    fx_open(f);
    g = group_find(&f->b, K("tg"));
    assert_true(group_offset_unstable(g, "t", 4));
    assert_int_equal(committed_offset(g, "t", 3), 30);
    assert_int_equal(committed_offset(g, "u", 0), 10000);
    assert_int_equal(group_txn_offsets_end(&f->b, 11, 0, 0), 0);
    groups_close(&f->b);
    fx_open(f);
    g = group_find(&f->b, K("tg"));
    assert_false(group_offset_unstable(g, "t", 4));
    assert_int_equal(committed_offset(g, "t", 4), -1);
    /* nothing pending for a producer: no marker, no error */
    assert_int_equal(group_txn_offsets_end(&f->b, 12345, 0, 1), 0);
}

static void test_group_stable_group_survives_restart(void **state)
{
    struct fx *f = *state;
    struct answer j1, j2;
    two_static_members(f, &j1, &j2);
    groups_close(&f->b);
    fx_open(f);
    struct group *g = G(f);
    assert_non_null(g);
    assert_int_equal(g->state, GROUP_STABLE);
    assert_int_equal(g->generation, 1);
    assert_int_equal(g->nmembers, 2);
    assert_int_equal(hb(f, j2.member_id, 1, "s2"), 0);
    struct answer s;
    sync_(f, &s, j2.member_id, 1, "s2", 0, NULL, NULL);
    assert_memory_equal(s.assignment, "A2", 2);
    /* the leader was kept */
    assert_string_equal(g->leader->member_id, j1.member_id);
}

int main(void)
{
    bc_log_setup("test", getenv("BC_TEST_LOG") ? BC_LOG_DEBUG : BC_LOG_ERROR, BC_LOG_LOGFMT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_group_member_id_required_then_join, setup, teardown),
        cmocka_unit_test_setup_teardown(test_group_error_codes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_group_static_rejoin_keeps_assignment, setup, teardown),
        cmocka_unit_test_setup_teardown(test_group_session_expiry_evicts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_group_rebalance_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_group_pending_sync_expiry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_group_leave_and_empty, setup, teardown),
        cmocka_unit_test_setup_teardown(test_group_offsets_persist_and_rewrite, setup, teardown),
        cmocka_unit_test_setup_teardown(test_group_offsets_of_deleted_topic_go, setup, teardown),
        cmocka_unit_test_setup_teardown(test_group_txn_offsets, setup, teardown),
        cmocka_unit_test_setup_teardown(test_group_stable_group_survives_restart, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
