/*
 * breadcrumb-broker's group APIs on the wire (api_group.c): requests encoded here at the
 * versions the broker advertises (including ones no client in the integration tests sends
 * and the flexible ones) go through api_dispatch() on one end of a socketpair; the answers
 * are read from the other end and decoded field by field.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bc_log.h"
#include "tools/broker/broker.h"
#include "tools/broker/group.h"

enum { FIND_COORDINATOR = 10, JOIN = 11, HEARTBEAT = 12, LEAVE = 13, SYNC = 14, DESCRIBE = 15,
       LIST = 16, OFFSET_COMMIT = 8, OFFSET_FETCH = 9, DELETE = 42 };

struct fx {
    struct broker b;
    struct conn *c;
    int peer_fd;
    char dir[64];
    int32_t corr;
    uint8_t resp[65536];
    size_t resp_len;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    char err[256];
    snprintf(f->dir, sizeof(f->dir), "/tmp/bc-gwire-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    struct broker_opts *o = &f->b.opts;
    o->data_dir = f->dir;
    o->default_partitions = 1;
    o->max_request_bytes = 1 << 20;
    o->group_min_session_timeout_ms = 6000;
    o->group_max_session_timeout_ms = 300000;
    o->group_initial_rebalance_delay_ms = 0;
    snprintf(o->advertised_host, sizeof(o->advertised_host), "127.0.0.1");
    f->b.port = 9999;
    assert_int_equal(broker_topics_load(&f->b, err, sizeof(err)), 0);
    assert_int_equal(broker_topic_create(&f->b, "t", 3, NULL, NULL, 0, NULL, err, sizeof(err)), 0);
    assert_int_equal(groups_load(&f->b, err, sizeof(err)), 0);
    f->b.epfd = epoll_create1(0);
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    f->c = calloc(1, sizeof(*f->c));
    f->c->fd = sv[0];
    f->peer_fd = sv[1];
    snprintf(f->c->peer, sizeof(f->c->peer), "127.0.0.1:40000");
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    conn_close(&f->b, f->c, "test over");
    free(f->c);
    close(f->peer_fd);
    groups_close(&f->b);
    broker_topics_close(&f->b);
    timer_heap_free(&f->b.timers);
    close(f->b.epfd);
    char cmd[160];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

static void begin(struct fx *f, struct kbuf *w, int16_t key, int16_t version, int flex)
{
    memset(w, 0, sizeof(*w));
    kw_i16(w, key);
    kw_i16(w, version);
    kw_i32(w, ++f->corr);
    kw_str(w, "wire", -1, 0);
    kw_tags(w, flex);
}

static int readable(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    return poll(&p, 1, 0) == 1;
}

static void read_full(int fd, uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t r = read(fd, p, n);
        assert_true(r > 0);
        p += r;
        n -= (size_t)r;
    }
}

static void send_req(struct fx *f, struct kbuf *w)
{
    const char *reason = NULL;
    assert_int_equal(api_dispatch(&f->b, f->c, w->data, w->len, &reason), 0);
    kbuf_free(w);
}

/* Reads the next answer (running due timers until it is there); checks its correlation id
 * and returns its body. */
static struct krd answer(struct fx *f, int32_t corr, int flex)
{
    for (int i = 0; i < 100 && !readable(f->peer_fd); i++) {
        timer_run(&f->b.timers, &f->b, now_ms());
        if (!readable(f->peer_fd)) {
            usleep(1000);
        }
    }
    assert_true(readable(f->peer_fd));
    uint8_t size[4];
    read_full(f->peer_fd, size, 4);
    f->resp_len = be32(size);
    assert_true(f->resp_len <= sizeof(f->resp));
    read_full(f->peer_fd, f->resp, f->resp_len);
    struct krd r;
    krd_init(&r, f->resp, f->resp_len);
    assert_int_equal(kr_i32(&r), corr);
    kr_tags(&r, flex);
    return r;
}

static struct krd roundtrip(struct fx *f, struct kbuf *w, int flex)
{
    send_req(f, w);
    return answer(f, f->corr, flex);
}

/* Dispatches w and checks that no answer comes yet (a parked JoinGroup/SyncGroup). */
static void dispatch_parked(struct fx *f, struct kbuf *w)
{
    send_req(f, w);
    assert_false(readable(f->peer_fd));
}

static void assert_kstr(struct kstr s, const char *want)
{
    assert_true(s.len >= 0);
    assert_int_equal(s.len, (int32_t)strlen(want));
    assert_memory_equal(s.p, want, (size_t)s.len);
}

static void test_find_coordinator_versions(void **state)
{
    struct fx *f = *state;
    for (int16_t v = 0; v <= 2; v++) {
        struct kbuf w;
        begin(f, &w, FIND_COORDINATOR, v, 0);
        kw_str(&w, "g", -1, 0);
        if (v >= 1) {
            kw_i8(&w, 0);
        }
        struct krd r = roundtrip(f, &w, 0);
        if (v >= 1) {
            assert_int_equal(kr_i32(&r), 0);
        }
        assert_int_equal(kr_i16(&r), 0);
        if (v >= 1) {
            assert_int_equal(kr_str(&r, 0).len, -1);
        }
        assert_int_equal(kr_i32(&r), 0);
        assert_kstr(kr_str(&r, 0), "127.0.0.1");
        assert_int_equal(kr_i32(&r), 9999);
        assert_int_equal(kr_left(&r), 0);
    }
}

/* JoinGroup v0 .. SyncGroup v0 .. Heartbeat v0 .. commits and fetches at old versions,
 * then LeaveGroup v0 and DeleteGroups v0. */
static void test_old_versions_lifecycle(void **state)
{
    struct fx *f = *state;
    struct kbuf w;
    begin(f, &w, JOIN, 0, 0);
    kw_str(&w, "old", -1, 0);
    kw_i32(&w, 10000);
    kw_str(&w, "", -1, 0);
    kw_str(&w, "consumer", -1, 0);
    kw_array(&w, 1, 0);
    kw_str(&w, "range", -1, 0);
    kw_bytes(&w, "MD", 2, 0);
    struct krd r = roundtrip(f, &w, 0);
    assert_int_equal(kr_i16(&r), 0);
    assert_int_equal(kr_i32(&r), 1);
    assert_kstr(kr_str(&r, 0), "range");
    struct kstr leader = kr_str(&r, 0);
    struct kstr me = kr_str(&r, 0);
    assert_int_equal(leader.len, me.len);
    assert_memory_equal(leader.p, me.p, (size_t)me.len);
    assert_true(me.len > 5 && memcmp(me.p, "wire-", 5) == 0); /* client id - uuid */
    char id[128];
    assert_int_equal(kstr_copy(me, id, sizeof(id)), 0);
    assert_int_equal(kr_array(&r, 0, 1), 1);
    assert_kstr(kr_str(&r, 0), id);
    assert_kstr(kr_bytes(&r, 0), "MD");
    assert_int_equal(kr_left(&r), 0);

    begin(f, &w, SYNC, 0, 0);
    kw_str(&w, "old", -1, 0);
    kw_i32(&w, 1);
    kw_str(&w, id, -1, 0);
    kw_array(&w, 1, 0);
    kw_str(&w, id, -1, 0);
    kw_bytes(&w, "ASSIGN", 6, 0);
    r = roundtrip(f, &w, 0);
    assert_int_equal(kr_i16(&r), 0);
    assert_kstr(kr_bytes(&r, 0), "ASSIGN");
    assert_int_equal(kr_left(&r), 0);

    begin(f, &w, HEARTBEAT, 0, 0);
    kw_str(&w, "old", -1, 0);
    kw_i32(&w, 7);
    kw_str(&w, id, -1, 0);
    r = roundtrip(f, &w, 0);
    assert_int_equal(kr_i16(&r), KERR_ILLEGAL_GENERATION);

    /* OffsetCommit v2 (retention time), partitions 0 and 9 (unknown). */
    begin(f, &w, OFFSET_COMMIT, 2, 0);
    kw_str(&w, "old", -1, 0);
    kw_i32(&w, 1);
    kw_str(&w, id, -1, 0);
    kw_i64(&w, -1);
    kw_array(&w, 1, 0);
    kw_str(&w, "t", -1, 0);
    kw_array(&w, 2, 0);
    kw_i32(&w, 0);
    kw_i64(&w, 42);
    kw_str(&w, "meta", -1, 0);
    kw_i32(&w, 9);
    kw_i64(&w, 1);
    kw_str(&w, NULL, -1, 0);
    r = roundtrip(f, &w, 0);
    assert_int_equal(kr_array(&r, 0, 1), 1);
    assert_kstr(kr_str(&r, 0), "t");
    assert_int_equal(kr_array(&r, 0, 1), 2);
    assert_int_equal(kr_i32(&r), 0);
    assert_int_equal(kr_i16(&r), 0);
    assert_int_equal(kr_i32(&r), 9);
    assert_int_equal(kr_i16(&r), KERR_UNKNOWN_TOPIC_OR_PARTITION);
    assert_int_equal(kr_left(&r), 0);

    /* OffsetCommit v1 with a stale generation: ILLEGAL_GENERATION for each partition. */
    begin(f, &w, OFFSET_COMMIT, 1, 0);
    kw_str(&w, "old", -1, 0);
    kw_i32(&w, 0);
    kw_str(&w, id, -1, 0);
    kw_array(&w, 1, 0);
    kw_str(&w, "t", -1, 0);
    kw_array(&w, 1, 0);
    kw_i32(&w, 1);
    kw_i64(&w, 5);
    kw_i64(&w, 1700000000000);
    kw_str(&w, "", -1, 0);
    r = roundtrip(f, &w, 0);
    assert_int_equal(kr_array(&r, 0, 1), 1);
    (void)kr_str(&r, 0);
    assert_int_equal(kr_array(&r, 0, 1), 1);
    assert_int_equal(kr_i32(&r), 1);
    assert_int_equal(kr_i16(&r), KERR_ILLEGAL_GENERATION);

    /* OffsetFetch v1: partitions 0 (committed) and 1 (none). */
    begin(f, &w, OFFSET_FETCH, 1, 0);
    kw_str(&w, "old", -1, 0);
    kw_array(&w, 1, 0);
    kw_str(&w, "t", -1, 0);
    kw_array(&w, 2, 0);
    kw_i32(&w, 0);
    kw_i32(&w, 1);
    r = roundtrip(f, &w, 0);
    assert_int_equal(kr_array(&r, 0, 1), 1);
    assert_kstr(kr_str(&r, 0), "t");
    assert_int_equal(kr_array(&r, 0, 1), 2);
    assert_int_equal(kr_i32(&r), 0);
    assert_true(kr_i64(&r) == 42);
    assert_kstr(kr_str(&r, 0), "meta");
    assert_int_equal(kr_i16(&r), 0);
    assert_int_equal(kr_i32(&r), 1);
    assert_true(kr_i64(&r) == -1);
    assert_kstr(kr_str(&r, 0), "");
    assert_int_equal(kr_i16(&r), 0);
    assert_int_equal(kr_left(&r), 0);

    /* DeleteGroups v0 while the member is in; LeaveGroup v0; then it goes. */
    begin(f, &w, DELETE, 0, 0);
    kw_array(&w, 2, 0);
    kw_str(&w, "old", -1, 0);
    kw_str(&w, "nope", -1, 0);
    r = roundtrip(f, &w, 0);
    assert_int_equal(kr_i32(&r), 0);
    assert_int_equal(kr_array(&r, 0, 1), 2);
    assert_kstr(kr_str(&r, 0), "old");
    assert_int_equal(kr_i16(&r), KERR_NON_EMPTY_GROUP);
    assert_kstr(kr_str(&r, 0), "nope");
    assert_int_equal(kr_i16(&r), KERR_GROUP_ID_NOT_FOUND);

    begin(f, &w, LEAVE, 0, 0);
    kw_str(&w, "old", -1, 0);
    kw_str(&w, id, -1, 0);
    r = roundtrip(f, &w, 0);
    assert_int_equal(kr_i16(&r), 0);
    assert_int_equal(kr_left(&r), 0);
    assert_int_equal(group_find(&f->b, (struct kstr){"old", 3})->state, GROUP_EMPTY);

    begin(f, &w, DELETE, 1, 0);
    kw_array(&w, 1, 0);
    kw_str(&w, "old", -1, 0);
    r = roundtrip(f, &w, 0);
    assert_int_equal(kr_i32(&r), 0);
    assert_int_equal(kr_array(&r, 0, 1), 1);
    assert_kstr(kr_str(&r, 0), "old");
    assert_int_equal(kr_i16(&r), 0);
}

/* The versions librdkafka 2.0.2 sends: JoinGroup v5 static, SyncGroup v3, Heartbeat v3,
 * OffsetCommit v7, OffsetFetch v7 (flexible), ListGroups v4 (flexible), DescribeGroups v4,
 * and LeaveGroup v3 by group.instance.id. */
static void test_current_versions(void **state)
{
    struct fx *f = *state;
    struct kbuf w;
    begin(f, &w, JOIN, 4, 0); /* v4 dynamic: MEMBER_ID_REQUIRED */
    kw_str(&w, "cur", -1, 0);
    kw_i32(&w, 6000);
    kw_i32(&w, 20000);
    kw_str(&w, "", -1, 0);
    kw_str(&w, "consumer", -1, 0);
    kw_array(&w, 1, 0);
    kw_str(&w, "range", -1, 0);
    kw_bytes(&w, "M", 1, 0);
    struct krd r = roundtrip(f, &w, 0);
    assert_int_equal(kr_i32(&r), 0);
    assert_int_equal(kr_i16(&r), KERR_MEMBER_ID_REQUIRED);
    assert_int_equal(kr_i32(&r), -1);
    assert_kstr(kr_str(&r, 0), "");
    assert_kstr(kr_str(&r, 0), "");
    assert_true(kr_str(&r, 0).len > 5);
    assert_int_equal(kr_array(&r, 0, 1), 0);
    assert_int_equal(kr_left(&r), 0);
    /* that member id is pending: the group waits for it (until its session) */

    begin(f, &w, JOIN, 5, 0);
    kw_str(&w, "cur", -1, 0);
    kw_i32(&w, 6000);
    kw_i32(&w, 20000);
    kw_str(&w, "", -1, 0);
    kw_str(&w, "inst-a", -1, 0);
    kw_str(&w, "consumer", -1, 0);
    kw_array(&w, 1, 0);
    kw_str(&w, "range", -1, 0);
    kw_bytes(&w, "M", 1, 0);
    dispatch_parked(f, &w);
    /* the pending dynamic member leaves by its id (LeaveGroup v3): the join completes */
    struct group *g = group_find(&f->b, (struct kstr){"cur", 3});
    assert_non_null(g->pending);
    char pending_id[128];
    snprintf(pending_id, sizeof(pending_id), "%s", g->pending->member_id);
    begin(f, &w, LEAVE, 3, 0);
    kw_str(&w, "cur", -1, 0);
    kw_array(&w, 1, 0);
    kw_str(&w, pending_id, -1, 0);
    kw_str(&w, NULL, -1, 0);
    send_req(f, &w);
    int32_t join_corr = f->corr - 1;
    /* two answers in request order: the JoinGroup (the rebalance completed), the LeaveGroup */
    r = answer(f, join_corr, 0);
    assert_int_equal(kr_i32(&r), 0);
    assert_int_equal(kr_i16(&r), 0);
    assert_int_equal(kr_i32(&r), 1);
    assert_kstr(kr_str(&r, 0), "range");
    struct kstr leader = kr_str(&r, 0);
    char id[128];
    assert_int_equal(kstr_copy(kr_str(&r, 0), id, sizeof(id)), 0);
    assert_kstr(leader, id);
    assert_true(strncmp(id, "inst-a-", 7) == 0);
    assert_int_equal(kr_array(&r, 0, 1), 1);
    assert_kstr(kr_str(&r, 0), id);
    assert_kstr(kr_str(&r, 0), "inst-a"); /* v5: group instance id */
    assert_kstr(kr_bytes(&r, 0), "M");
    assert_int_equal(kr_left(&r), 0);
    r = answer(f, f->corr, 0);
    assert_int_equal(kr_i32(&r), 0);
    assert_int_equal(kr_i16(&r), 0);
    assert_int_equal(kr_array(&r, 0, 1), 1);
    assert_kstr(kr_str(&r, 0), pending_id);
    assert_int_equal(kr_str(&r, 0).len, -1);
    assert_int_equal(kr_i16(&r), 0);
    assert_int_equal(kr_left(&r), 0);

    begin(f, &w, SYNC, 3, 0);
    kw_str(&w, "cur", -1, 0);
    kw_i32(&w, 1);
    kw_str(&w, id, -1, 0);
    kw_str(&w, "inst-a", -1, 0);
    kw_array(&w, 1, 0);
    kw_str(&w, id, -1, 0);
    kw_bytes(&w, "AS", 2, 0);
    r = roundtrip(f, &w, 0);
    assert_int_equal(kr_i32(&r), 0);
    assert_int_equal(kr_i16(&r), 0);
    assert_kstr(kr_bytes(&r, 0), "AS");
    assert_int_equal(kr_left(&r), 0);

    begin(f, &w, HEARTBEAT, 3, 0);
    kw_str(&w, "cur", -1, 0);
    kw_i32(&w, 1);
    kw_str(&w, "someone-else", -1, 0);
    kw_str(&w, "inst-a", -1, 0);
    r = roundtrip(f, &w, 0);
    assert_int_equal(kr_i32(&r), 0);
    assert_int_equal(kr_i16(&r), KERR_FENCED_INSTANCE_ID);

    /* OffsetCommit v7: leader epoch and instance id. */
    begin(f, &w, OFFSET_COMMIT, 7, 0);
    kw_str(&w, "cur", -1, 0);
    kw_i32(&w, 1);
    kw_str(&w, id, -1, 0);
    kw_str(&w, "inst-a", -1, 0);
    kw_array(&w, 1, 0);
    kw_str(&w, "t", -1, 0);
    kw_array(&w, 1, 0);
    kw_i32(&w, 2);
    kw_i64(&w, 77);
    kw_i32(&w, 3);
    kw_str(&w, NULL, -1, 0);
    r = roundtrip(f, &w, 0);
    assert_int_equal(kr_i32(&r), 0);
    assert_int_equal(kr_array(&r, 0, 1), 1);
    assert_kstr(kr_str(&r, 0), "t");
    assert_int_equal(kr_array(&r, 0, 1), 1);
    assert_int_equal(kr_i32(&r), 2);
    assert_int_equal(kr_i16(&r), 0);
    assert_int_equal(kr_left(&r), 0);

    /* OffsetFetch v7 (flexible), all topics (null), require_stable. */
    begin(f, &w, OFFSET_FETCH, 7, 1);
    kw_str(&w, "cur", -1, 1);
    kw_array(&w, -1, 1);
    kw_i8(&w, 1);
    kw_tags(&w, 1);
    r = roundtrip(f, &w, 1);
    assert_int_equal(kr_i32(&r), 0);
    assert_int_equal(kr_array(&r, 1, 1), 1);
    assert_kstr(kr_str(&r, 1), "t");
    assert_int_equal(kr_array(&r, 1, 1), 1);
    assert_int_equal(kr_i32(&r), 2);
    assert_true(kr_i64(&r) == 77);
    assert_int_equal(kr_i32(&r), 3);
    assert_kstr(kr_str(&r, 1), "");
    assert_int_equal(kr_i16(&r), 0);
    kr_tags(&r, 1);
    kr_tags(&r, 1);
    assert_int_equal(kr_i16(&r), 0);
    kr_tags(&r, 1);
    assert_int_equal(r.err, 0);
    assert_int_equal(kr_left(&r), 0);

    /* ListGroups v4 (flexible) with a state filter. */
    for (int pass = 0; pass < 2; pass++) {
        begin(f, &w, LIST, 4, 1);
        kw_array(&w, 1, 1);
        kw_str(&w, pass == 0 ? "stable" : "Empty", -1, 1);
        kw_tags(&w, 1);
        r = roundtrip(f, &w, 1);
        assert_int_equal(kr_i32(&r), 0);
        assert_int_equal(kr_i16(&r), 0);
        assert_int_equal(kr_array(&r, 1, 1), pass == 0 ? 1 : 0);
        if (pass == 0) {
            assert_kstr(kr_str(&r, 1), "cur");
            assert_kstr(kr_str(&r, 1), "consumer");
            assert_kstr(kr_str(&r, 1), "Stable");
            kr_tags(&r, 1);
        }
        kr_tags(&r, 1);
        assert_int_equal(kr_left(&r), 0);
    }

    /* DescribeGroups v4: instance id, client id and host, metadata and assignment. */
    begin(f, &w, DESCRIBE, 4, 0);
    kw_array(&w, 2, 0);
    kw_str(&w, "cur", -1, 0);
    kw_str(&w, "unknown", -1, 0);
    kw_i8(&w, 0);
    r = roundtrip(f, &w, 0);
    assert_int_equal(kr_i32(&r), 0);
    assert_int_equal(kr_array(&r, 0, 1), 2);
    assert_int_equal(kr_i16(&r), 0);
    assert_kstr(kr_str(&r, 0), "cur");
    assert_kstr(kr_str(&r, 0), "Stable");
    assert_kstr(kr_str(&r, 0), "consumer");
    assert_kstr(kr_str(&r, 0), "range");
    assert_int_equal(kr_array(&r, 0, 1), 1);
    assert_kstr(kr_str(&r, 0), id);
    assert_kstr(kr_str(&r, 0), "inst-a");
    assert_kstr(kr_str(&r, 0), "wire");
    assert_kstr(kr_str(&r, 0), "/127.0.0.1");
    assert_kstr(kr_bytes(&r, 0), "M");
    assert_kstr(kr_bytes(&r, 0), "AS");
    assert_int_equal(kr_i32(&r), INT32_MIN);
    assert_int_equal(kr_i16(&r), 0); /* an unknown group is described as Dead */
    assert_kstr(kr_str(&r, 0), "unknown");
    assert_kstr(kr_str(&r, 0), "Dead");
    assert_kstr(kr_str(&r, 0), "");
    assert_kstr(kr_str(&r, 0), "");
    assert_int_equal(kr_array(&r, 0, 1), 0);
    assert_int_equal(kr_i32(&r), INT32_MIN);
    assert_int_equal(kr_left(&r), 0);

    /* LeaveGroup v3 by group.instance.id only (an admin removing a static member). */
    begin(f, &w, LEAVE, 3, 0);
    kw_str(&w, "cur", -1, 0);
    kw_array(&w, 2, 0);
    kw_str(&w, "", -1, 0);
    kw_str(&w, "inst-a", -1, 0);
    kw_str(&w, "", -1, 0);
    kw_str(&w, "inst-zz", -1, 0);
    r = roundtrip(f, &w, 0);
    assert_int_equal(kr_i32(&r), 0);
    assert_int_equal(kr_i16(&r), 0);
    assert_int_equal(kr_array(&r, 0, 1), 2);
    assert_kstr(kr_str(&r, 0), "");
    assert_kstr(kr_str(&r, 0), "inst-a");
    assert_int_equal(kr_i16(&r), 0);
    assert_kstr(kr_str(&r, 0), "");
    assert_kstr(kr_str(&r, 0), "inst-zz");
    assert_int_equal(kr_i16(&r), KERR_UNKNOWN_MEMBER_ID);
    assert_int_equal(g->state, GROUP_EMPTY);
}

/* OffsetFetch v7 RequireStable: UNSTABLE_OFFSET_COMMIT (88) for a partition with a pending
 * transactional offset; without it the pending offset is simply not shown. */
static void test_offset_fetch_require_stable(void **state)
{
    struct fx *f = *state;
    struct group *g = group_get_or_create(&f->b, (struct kstr){"tx", 2});
    struct group_offset_commit c = {.topic = {"t", 1}, .partition = 0, .offset = 5,
                                    .metadata = {NULL, -1}};
    assert_int_equal(group_txn_offsets_add(&f->b, g, 42, 0, &c, 1), 0);
    for (int stable = 1; stable >= 0; stable--) {
        struct kbuf w;
        begin(f, &w, OFFSET_FETCH, 7, 1);
        kw_str(&w, "tx", -1, 1);
        kw_array(&w, 1, 1);
        kw_str(&w, "t", -1, 1);
        kw_array(&w, 2, 1);
        kw_i32(&w, 0);
        kw_i32(&w, 1);
        kw_tags(&w, 1);
        kw_i8(&w, (int8_t)stable);
        kw_tags(&w, 1);
        struct krd r = roundtrip(f, &w, 1);
        assert_int_equal(kr_i32(&r), 0);
        assert_int_equal(kr_array(&r, 1, 1), 1);
        assert_kstr(kr_str(&r, 1), "t");
        assert_int_equal(kr_array(&r, 1, 1), 2);
        for (int32_t p = 0; p < 2; p++) {
            assert_int_equal(kr_i32(&r), p);
            assert_true(kr_i64(&r) == -1);
            assert_int_equal(kr_i32(&r), -1);
            assert_kstr(kr_str(&r, 1), "");
            assert_int_equal(kr_i16(&r), p == 0 && stable ? KERR_UNSTABLE_OFFSET_COMMIT : 0);
            kr_tags(&r, 1);
        }
        kr_tags(&r, 1);
        assert_int_equal(kr_i16(&r), 0);
        kr_tags(&r, 1);
        assert_int_equal(kr_left(&r), 0);
    }
}

int main(void)
{
    bc_log_setup("test", getenv("BC_TEST_LOG") ? BC_LOG_DEBUG : BC_LOG_ERROR, BC_LOG_LOGFMT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_find_coordinator_versions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_old_versions_lifecycle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_current_versions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_offset_fetch_require_stable, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
