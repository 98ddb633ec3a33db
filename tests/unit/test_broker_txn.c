/*
 * breadcrumb-broker's transaction coordinator and per-partition transaction state (txn.c)
 * without sockets: InitProducerId epoch bumps and fencing (KIP-360 retries included), the
 * EndTxn state machine with Kafka's error codes, markers, the last stable offset and the
 * aborted-transaction index, transactional produce checks, timeouts, and recovery after a
 * restart (an open transaction is aborted, the aborted index rebuilt from the log).
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

struct fx {
    struct broker b;
    char dir[64];
};

static struct kstr ks(const char *s)
{
    return (struct kstr){s, (int32_t)strlen(s)};
}

static void fx_open(struct fx *f)
{
    char err[256];
    f->b.opts.data_dir = f->dir;
    f->b.opts.default_partitions = 1;
    f->b.opts.group_min_session_timeout_ms = 6000;
    f->b.opts.group_max_session_timeout_ms = 300000;
    assert_int_equal(broker_topics_load(&f->b, err, sizeof(err)), 0);
    if (broker_topic_find(&f->b, "t") == NULL) {
        assert_int_equal(broker_topic_create(&f->b, "t", 2, NULL, NULL, 0, NULL, err, sizeof(err)),
                         KERR_NONE);
    }
    assert_int_equal(groups_load(&f->b, err, sizeof(err)), 0);
    assert_int_equal(txn_coordinator_load(&f->b, err, sizeof(err)), 0);
}

static void fx_close(struct fx *f)
{
    txn_coordinator_close(&f->b);
    groups_close(&f->b);
    broker_topics_close(&f->b);
    timer_heap_free(&f->b.timers);
    struct broker_opts o = f->b.opts;
    memset(&f->b, 0, sizeof(f->b));
    f->b.opts = o;
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/bc-txn-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    fx_open(f);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    fx_close(f);
    char cmd[160];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

/* Appends a batch of n records to t/partition as api_produce does once it is accepted. */
static int64_t append(struct fx *f, int32_t partition, int64_t pid, int16_t epoch, int32_t seq,
                      int transactional, int n)
{
    struct partition *p = broker_partition_find(&f->b, ks("t"), partition);
    struct batch_record recs[8];
    memset(recs, 0, sizeof(recs));
    for (int i = 0; i < n; i++) {
        recs[i].value = (const uint8_t *)"v";
        recs[i].value_len = 1;
        recs[i].timestamp = 1000 + i;
    }
    struct kbuf buf = {0};
    batch_build(&buf, 0, transactional ? BATCH_ATTR_TRANSACTIONAL : 0, pid, epoch, seq, recs, n);
    struct batch_hdr h;
    batch_hdr_parse(buf.data, &h);
    if (transactional) {
        int err = txn_check_produce(&f->b, p, &h);
        if (err != KERR_NONE) {
            kbuf_free(&buf);
            return -err;
        }
    }
    int64_t off = -1;
    assert_int_equal(plog_append(p->log, buf.data, buf.len, &off), 0);
    batch_hdr_parse(buf.data, &h);
    producer_update(&p->producers, &h);
    txn_partition_note(p, &h, -1);
    kbuf_free(&buf);
    return off;
}

static struct partition *part(struct fx *f, int32_t i)
{
    return broker_partition_find(&f->b, ks("t"), i);
}

static void test_txn_init_bumps_epoch_and_fences(void **state)
{
    struct fx *f = *state;
    int64_t pid, pid2;
    int16_t epoch;
    assert_int_equal(txn_init_producer(&f->b, ks("a"), 10000, -1, -1, &pid, &epoch), KERR_NONE);
    assert_int_equal(epoch, 0);
    assert_int_equal(txn_init_producer(&f->b, ks("a"), 10000, -1, -1, &pid2, &epoch), KERR_NONE);
    assert_int_equal(pid2, pid);
    assert_int_equal(epoch, 1);
    /* KIP-360: the producer at epoch 1 bumps itself; a retry of that call gets the same. */
    assert_int_equal(txn_init_producer(&f->b, ks("a"), 10000, pid, 1, &pid2, &epoch), KERR_NONE);
    assert_int_equal(epoch, 2);
    assert_int_equal(txn_init_producer(&f->b, ks("a"), 10000, pid, 1, &pid2, &epoch), KERR_NONE);
    assert_int_equal(epoch, 2);
    /* an older epoch or another producer id is fenced */
    assert_int_equal(txn_init_producer(&f->b, ks("a"), 10000, pid, 0, &pid2, &epoch),
                     KERR_TXN_PRODUCER_FENCED);
    assert_int_equal(txn_init_producer(&f->b, ks("a"), 10000, pid + 100, 2, &pid2, &epoch),
                     KERR_TXN_PRODUCER_FENCED);
    assert_int_equal(txn_init_producer(&f->b, ks("a"), 10000, pid, -1, &pid2, &epoch),
                     KERR_INVALID_REQUEST);
    assert_int_equal(txn_init_producer(&f->b, ks("a"), 0, -1, -1, &pid2, &epoch),
                     KERR_TXN_INVALID_TRANSACTION_TIMEOUT);
    assert_int_equal(
        txn_init_producer(&f->b, ks("a"), TXN_MAX_TIMEOUT_MS + 1, -1, -1, &pid2, &epoch),
        KERR_TXN_INVALID_TRANSACTION_TIMEOUT);
    assert_int_equal(txn_init_producer(&f->b, ks(""), 1000, -1, -1, &pid2, &epoch),
                     KERR_INVALID_REQUEST);
    assert_int_equal(txn_init_producer(&f->b, ks("b"), 1000, -1, -1, &pid2, &epoch), KERR_NONE);
    assert_true(pid2 != pid);
}

static void test_txn_end_state_machine(void **state)
{
    struct fx *f = *state;
    int64_t pid;
    int16_t epoch;
    struct txn *t = NULL;
    assert_int_equal(txn_init_producer(&f->b, ks("a"), 10000, -1, -1, &pid, &epoch), KERR_NONE);
    assert_int_equal(txn_validate(&f->b, ks("a"), pid + 1, epoch, &t),
                     KERR_TXN_INVALID_PRODUCER_ID_MAPPING);
    assert_int_equal(txn_validate(&f->b, ks("nope"), pid, epoch, &t),
                     KERR_TXN_INVALID_PRODUCER_ID_MAPPING);
    assert_int_equal(txn_validate(&f->b, ks("a"), pid, (int16_t)(epoch + 1), &t),
                     KERR_TXN_PRODUCER_FENCED);
    /* EndTxn of an Empty transaction */
    assert_int_equal(txn_end(&f->b, ks("a"), pid, epoch, 1), KERR_TXN_INVALID_TXN_STATE);
    assert_int_equal(txn_validate(&f->b, ks("a"), pid, epoch, &t), KERR_NONE);
    assert_int_equal(txn_add_partition(&f->b, t, "t", 0), KERR_NONE);
    assert_int_equal(t->state, TXN_ONGOING);
    assert_int_equal(txn_end(&f->b, ks("a"), pid, (int16_t)(epoch - 1), 1),
                     KERR_TXN_PRODUCER_FENCED);
    assert_int_equal(txn_end(&f->b, ks("a"), pid, epoch, 1), KERR_NONE);
    assert_int_equal(t->state, TXN_COMPLETE_COMMIT);
    /* a retried commit succeeds, an abort after it is refused */
    assert_int_equal(txn_end(&f->b, ks("a"), pid, epoch, 1), KERR_NONE);
    assert_int_equal(txn_end(&f->b, ks("a"), pid, epoch, 0), KERR_TXN_INVALID_TXN_STATE);
    /* the marker is on the partition */
    assert_int_equal(plog_end_offset(part(f, 0)->log), 1);
    assert_int_equal(plog_end_offset(part(f, 1)->log), 0);
    /* the next transaction, aborted */
    assert_int_equal(txn_add_partition(&f->b, t, "t", 1), KERR_NONE);
    assert_int_equal(t->nparts, 1);
    assert_int_equal(txn_end(&f->b, ks("a"), pid, epoch, 0), KERR_NONE);
    assert_int_equal(txn_end(&f->b, ks("a"), pid, epoch, 1), KERR_TXN_INVALID_TXN_STATE);
    assert_int_equal(t->state, TXN_COMPLETE_ABORT);
}

static void test_txn_lso_and_aborted_index(void **state)
{
    struct fx *f = *state;
    int64_t pa, pb;
    int16_t ea, eb;
    struct txn *ta, *tb;
    assert_int_equal(txn_init_producer(&f->b, ks("a"), 10000, -1, -1, &pa, &ea), KERR_NONE);
    assert_int_equal(txn_init_producer(&f->b, ks("b"), 10000, -1, -1, &pb, &eb), KERR_NONE);
    assert_int_equal(txn_validate(&f->b, ks("a"), pa, ea, &ta), KERR_NONE);
    assert_int_equal(txn_validate(&f->b, ks("b"), pb, eb, &tb), KERR_NONE);
    struct partition *p = part(f, 0);
    /* not added yet: INVALID_TXN_STATE */
    assert_int_equal(append(f, 0, pa, ea, 0, 1, 2), -KERR_TXN_INVALID_TXN_STATE);
    assert_int_equal(txn_add_partition(&f->b, ta, "t", 0), KERR_NONE);
    assert_int_equal(txn_add_partition(&f->b, tb, "t", 0), KERR_NONE);
    assert_int_equal(append(f, 0, -1, -1, -1, 0, 3), 0); /* 0..2 plain */
    assert_int_equal(append(f, 0, pa, ea, 0, 1, 2), 3);  /* 3..4 a */
    assert_int_equal(append(f, 0, pb, eb, 0, 1, 2), 5);  /* 5..6 b */
    assert_int_equal(append(f, 0, pa, ea, 2, 1, 1), 7);  /* 7 a */
    assert_int_equal(txn_partition_lso(p), 3);
    assert_int_equal(txn_end(&f->b, ks("a"), pa, ea, 0), KERR_NONE); /* ABORT at 8 */
    assert_int_equal(txn_partition_lso(p), 5);
    assert_int_equal(p->txn.naborted, 1);
    assert_int_equal(p->txn.aborted[0].producer_id, pa);
    assert_int_equal(p->txn.aborted[0].first_offset, 3);
    assert_int_equal(p->txn.aborted[0].last_offset, 8);
    assert_int_equal(txn_end(&f->b, ks("b"), pb, eb, 1), KERR_NONE); /* COMMIT at 9 */
    assert_int_equal(txn_partition_lso(p), 10);
    assert_int_equal(plog_end_offset(p->log), 10);
    assert_int_equal(p->txn.naborted, 1);
    /* Fetch's list: overlapping [from, to) only */
    struct kbuf w = {0};
    txn_partition_write_aborted(p, 0, 10, &w, 0);
    assert_int_equal(w.len, 4 + 16);
    assert_int_equal((int32_t)be32(w.data), 1);
    assert_int_equal((int64_t)be64(w.data + 12), 3);
    w.len = 0;
    txn_partition_write_aborted(p, 9, 10, &w, 0); /* after its marker */
    assert_int_equal((int32_t)be32(w.data), 0);
    w.len = 0;
    txn_partition_write_aborted(p, 0, 3, &w, 0); /* before its first offset */
    assert_int_equal((int32_t)be32(w.data), 0);
    kbuf_free(&w);
    /* a producer with an older epoch after a fence */
    assert_int_equal(txn_add_partition(&f->b, tb, "t", 1), KERR_NONE);
    int64_t pid;
    int16_t epoch;
    assert_int_equal(txn_init_producer(&f->b, ks("b"), 10000, -1, -1, &pid, &epoch),
                     KERR_TXN_CONCURRENT_TRANSACTIONS); /* its open transaction is aborted */
    assert_int_equal(tb->state, TXN_COMPLETE_ABORT);
    assert_int_equal(append(f, 1, pb, eb, 0, 1, 1), -KERR_INVALID_PRODUCER_EPOCH);
    assert_int_equal(txn_init_producer(&f->b, ks("b"), 10000, -1, -1, &pid, &epoch), KERR_NONE);
    assert_int_equal(epoch, eb + 2);
}

static void test_txn_timeout_aborts(void **state)
{
    struct fx *f = *state;
    int64_t pid;
    int16_t epoch;
    struct txn *t;
    assert_int_equal(txn_init_producer(&f->b, ks("a"), 5000, -1, -1, &pid, &epoch), KERR_NONE);
    assert_int_equal(txn_validate(&f->b, ks("a"), pid, epoch, &t), KERR_NONE);
    assert_int_equal(txn_add_partition(&f->b, t, "t", 0), KERR_NONE);
    assert_int_equal(append(f, 0, pid, epoch, 0, 1, 2), 0);
    timer_run(&f->b.timers, &f->b, t->start_ms + 4000);
    assert_int_equal(t->state, TXN_ONGOING);
    timer_run(&f->b.timers, &f->b, t->start_ms + 5001);
    assert_int_equal(t->state, TXN_COMPLETE_ABORT);
    assert_int_equal(t->epoch, epoch + 1);
    assert_int_equal(txn_partition_lso(part(f, 0)), 3);
    assert_int_equal(txn_end(&f->b, ks("a"), pid, epoch, 1), KERR_TXN_PRODUCER_FENCED);
}

static void test_txn_restart_aborts_open_and_rebuilds_index(void **state)
{
    struct fx *f = *state;
    int64_t pa, pb;
    int16_t ea, eb;
    struct txn *ta, *tb;
    assert_int_equal(txn_init_producer(&f->b, ks("a"), 60000, -1, -1, &pa, &ea), KERR_NONE);
    assert_int_equal(txn_init_producer(&f->b, ks("b"), 60000, -1, -1, &pb, &eb), KERR_NONE);
    assert_int_equal(txn_validate(&f->b, ks("a"), pa, ea, &ta), KERR_NONE);
    assert_int_equal(txn_add_partition(&f->b, ta, "t", 0), KERR_NONE);
    assert_int_equal(append(f, 0, pa, ea, 0, 1, 2), 0);
    assert_int_equal(txn_end(&f->b, ks("a"), pa, ea, 0), KERR_NONE); /* aborted, marker 2 */
    assert_int_equal(txn_validate(&f->b, ks("b"), pb, eb, &tb), KERR_NONE);
    assert_int_equal(txn_add_partition(&f->b, tb, "t", 0), KERR_NONE);
    assert_int_equal(txn_save_state(&f->b, tb), KERR_NONE); /* as AddPartitionsToTxn does */
    assert_int_equal(append(f, 0, pb, eb, 0, 1, 2), 3);     /* open at the "crash" */
    assert_int_equal(txn_partition_lso(part(f, 0)), 3);
    fx_close(f);
    fx_open(f);
    struct partition *p = part(f, 0);
    assert_int_equal(plog_end_offset(p->log), 6); /* ABORT marker written at 5 */
    assert_int_equal(txn_partition_lso(p), 6);
    assert_int_equal(p->txn.naborted, 2);
    assert_int_equal(p->txn.aborted[0].first_offset, 0);
    assert_int_equal(p->txn.aborted[0].last_offset, 2);
    assert_int_equal(p->txn.aborted[1].producer_id, pb);
    assert_int_equal(p->txn.aborted[1].first_offset, 3);
    assert_int_equal(p->txn.aborted[1].last_offset, 5);
    tb = txn_find(&f->b, ks("b"));
    assert_non_null(tb);
    assert_int_equal(tb->state, TXN_COMPLETE_ABORT);
    assert_int_equal(tb->epoch, eb + 1);
    /* a third start changes nothing */
    fx_close(f);
    fx_open(f);
    assert_int_equal(plog_end_offset(part(f, 0)->log), 6);
    assert_int_equal(part(f, 0)->txn.naborted, 2);
}

static void test_txn_state_log_rewrite(void **state)
{
    struct fx *f = *state;
    int64_t pid, first;
    int16_t epoch = -1;
    assert_int_equal(txn_init_producer(&f->b, ks("other"), 10000, -1, -1, &first, &epoch),
                     KERR_NONE);
    for (int i = 0; i < 10050; i++) {
        assert_int_equal(txn_init_producer(&f->b, ks("busy"), 10000, -1, -1, &pid, &epoch),
                         KERR_NONE);
    }
    assert_int_equal(epoch, 10049);
    assert_true(f->b.txns->records < 100); /* rewritten once past 10000 records */
    fx_close(f);
    fx_open(f);
    struct txn *t = txn_find(&f->b, ks("busy"));
    assert_non_null(t);
    assert_int_equal(t->producer_id, pid);
    assert_int_equal(t->epoch, 10049);
    t = txn_find(&f->b, ks("other"));
    assert_non_null(t);
    assert_int_equal(t->producer_id, first);
    assert_int_equal(t->epoch, 0);
}

int main(void)
{
    bc_log_setup("test", getenv("BC_TEST_LOG") ? BC_LOG_DEBUG : BC_LOG_ERROR, BC_LOG_LOGFMT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_txn_init_bumps_epoch_and_fences, setup, teardown),
        cmocka_unit_test_setup_teardown(test_txn_end_state_machine, setup, teardown),
        cmocka_unit_test_setup_teardown(test_txn_lso_and_aborted_index, setup, teardown),
        cmocka_unit_test_setup_teardown(test_txn_timeout_aborts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_txn_restart_aborts_open_and_rebuilds_index, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_txn_state_log_rewrite, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
