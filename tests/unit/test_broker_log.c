/* breadcrumb-broker's partition log: append/read, segment rolls, recovery of torn tails,
 * time lookup and retention, on a scratch directory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tools/broker/batch.h"
#include "tools/broker/log.h"

static char dir[256];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/bc-test-log-XXXXXX");
    assert_non_null(mkdtemp(dir));
    strcat(dir, "/p-0");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "rm -rf '%.*s'", (int)(strlen(dir) - 4), dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* A batch of n records with timestamps ts0, ts0+1, ... */
static void make_batch(struct kbuf *b, int n, int64_t ts0)
{
    struct batch_record recs[16];
    for (int i = 0; i < n; i++) {
        recs[i] = (struct batch_record){.timestamp = ts0 + i, .value = (const uint8_t *)"0123456789",
                                        .value_len = 10};
    }
    b->len = 0;
    batch_build(b, 0, 0, -1, -1, -1, recs, n);
}

static struct plog *open_log(int64_t segment_bytes, int64_t *truncated)
{
    struct plog_opts o = {.segment_bytes = segment_bytes, .index_interval = 100};
    struct plog *log = NULL;
    char err[256];
    int64_t t = 0;
    assert_int_equal(plog_open(&log, dir, &o, NULL, NULL, &t, err, sizeof(err)), 0);
    if (truncated != NULL) {
        *truncated = t;
    }
    return log;
}

static void append_n(struct plog *log, int batches, int per_batch, int64_t ts0)
{
    struct kbuf b = {0};
    for (int i = 0; i < batches; i++) {
        make_batch(&b, per_batch, ts0 + (int64_t)i * per_batch);
        int64_t base = -1;
        int64_t want = plog_end_offset(log);
        assert_int_equal(plog_append(log, b.data, b.len, &base), 0);
        assert_true(base == want);
    }
    kbuf_free(&b);
}

/* Reads everything from offset, checking batch continuity; returns the next offset. */
static int64_t read_all(struct plog *log, int64_t offset)
{
    for (;;) {
        struct kbuf out = {0};
        size_t copied = 0;
        assert_int_equal(plog_read(log, offset, 1000, 1, &out, &copied), 0);
        if (copied == 0) {
            kbuf_free(&out);
            return offset;
        }
        size_t pos = 0;
        while (pos < copied) {
            struct batch_hdr h;
            assert_int_equal(batch_validate(out.data + pos, batch_total_size(&(struct batch_hdr){
                                                                .length = (int32_t)be32(out.data + pos + 8)}),
                                            &h),
                             0);
            assert_true(h.base_offset <= offset && offset <= h.base_offset + h.last_offset_delta);
            offset = h.base_offset + h.last_offset_delta + 1;
            pos += batch_total_size(&h);
        }
        assert_int_equal(pos, copied);
        kbuf_free(&out);
    }
}

static void test_log_append_read_roll_reopen(void **state)
{
    (void)state;
    struct plog *log = open_log(2000, NULL);
    append_n(log, 50, 3, 1000);
    assert_true(plog_end_offset(log) == 150);
    assert_true(read_all(log, 0) == 150);
    assert_true(read_all(log, 77) == 150);
    struct kbuf out = {0};
    size_t copied;
    assert_int_equal(plog_read(log, 151, 1000, 1, &out, &copied), 1); /* out of range */
    assert_int_equal(plog_read(log, 150, 1000, 1, &out, &copied), 0);
    assert_int_equal(copied, 0);
    /* max_bytes smaller than one batch: the first batch still comes whole */
    assert_int_equal(plog_read(log, 5, 10, 1, &out, &copied), 0);
    assert_true(copied > 10);
    kbuf_free(&out);
    plog_close(log);

    int64_t truncated = -1;
    log = open_log(2000, &truncated);
    assert_true(truncated == 0);
    assert_true(plog_end_offset(log) == 150);
    assert_true(read_all(log, 0) == 150);
    append_n(log, 1, 3, 5000);
    assert_true(plog_end_offset(log) == 153);
    plog_close(log);
}

static char *last_segment(char *path, size_t cap)
{
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "ls '%s'/*.log | sort | tail -1", dir);
    FILE *p = popen(cmd, "r");
    assert_non_null(fgets(path, (int)cap, p));
    pclose(p);
    path[strcspn(path, "\n")] = '\0';
    return path;
}

static void test_log_recovery_truncates_torn_tail(void **state)
{
    (void)state;
    struct plog *log = open_log(1 << 20, NULL);
    append_n(log, 10, 2, 1000);
    plog_close(log);
    char path[512];
    last_segment(path, sizeof(path));
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    off_t good = st.st_size;

    /* half a batch appended, as a crash mid-write leaves it */
    struct kbuf b = {0};
    make_batch(&b, 2, 9000);
    batch_set_base_offset(b.data, 20, 0);
    int fd = open(path, O_WRONLY | O_APPEND);
    assert_true(write(fd, b.data, b.len / 2) > 0);
    close(fd);
    int64_t truncated = 0;
    log = open_log(1 << 20, &truncated);
    assert_true(truncated == (int64_t)(b.len / 2));
    assert_true(plog_end_offset(log) == 20);
    assert_true(read_all(log, 0) == 20);
    plog_close(log);
    assert_int_equal(stat(path, &st), 0);
    assert_true(st.st_size == good);

    /* a whole batch with a corrupted byte: cut there too */
    b.data[b.len - 3] ^= 0x40;
    fd = open(path, O_WRONLY | O_APPEND);
    assert_true(write(fd, b.data, b.len) == (ssize_t)b.len);
    close(fd);
    log = open_log(1 << 20, &truncated);
    assert_true(truncated == (int64_t)b.len);
    assert_true(plog_end_offset(log) == 20);
    plog_close(log);

    /* garbage that does not even parse as a header */
    fd = open(path, O_WRONLY | O_APPEND);
    assert_true(write(fd, "\xff\xff\xff\xff garbage garbage garbage garbage garbage garbage garbage garbage", 60) == 60);
    close(fd);
    log = open_log(1 << 20, &truncated);
    assert_true(truncated == 60);
    append_n(log, 1, 2, 9500);
    assert_true(read_all(log, 0) == 22);
    plog_close(log);
    kbuf_free(&b);
}

static void test_log_offset_for_time(void **state)
{
    (void)state;
    struct plog *log = open_log(1500, NULL);
    append_n(log, 40, 4, 10000); /* offsets 0..159, timestamps 10000..10159 */
    int64_t ts = 0;
    assert_true(plog_offset_for_time(log, 0, &ts) == 0);
    assert_true(plog_offset_for_time(log, 10077, &ts) == 77);
    assert_true(ts == 10077);
    assert_true(plog_offset_for_time(log, 10159, &ts) == 159);
    assert_true(plog_offset_for_time(log, 20000, &ts) == 160);
    plog_close(log);
}

static void test_log_retention_by_bytes(void **state)
{
    (void)state;
    struct plog *log = open_log(1500, NULL);
    append_n(log, 60, 4, 10000);
    uint64_t before = plog_size(log);
    int deleted = plog_apply_retention(log, 3000, -1, 0);
    assert_true(deleted > 0);
    assert_true(plog_size(log) >= 3000 && plog_size(log) < before);
    int64_t start = plog_start_offset(log);
    assert_true(start > 0);
    struct kbuf out = {0};
    size_t copied;
    assert_int_equal(plog_read(log, start - 1, 1000, 1, &out, &copied), 1);
    assert_true(read_all(log, start) == 240);
    kbuf_free(&out);
    plog_close(log);
    /* a reopen starts at the first remaining segment */
    log = open_log(1500, NULL);
    assert_true(plog_start_offset(log) == start);
    assert_true(plog_end_offset(log) == 240);
    plog_close(log);
}

static void test_log_retention_by_time_rolls_the_active_segment(void **state)
{
    (void)state;
    struct plog *log = open_log(1 << 20, NULL);
    append_n(log, 10, 4, 10000); /* one segment, timestamps 10000..10039 */
    /* not expired yet: nothing happens */
    assert_int_equal(plog_apply_retention(log, -1, 1000, 10500), 0);
    assert_true(plog_start_offset(log) == 0);
    /* expired: the active segment is rolled and deleted; offsets go on */
    assert_int_equal(plog_apply_retention(log, -1, 1000, 20000), 1);
    assert_true(plog_start_offset(log) == 40);
    assert_true(plog_end_offset(log) == 40);
    assert_true(plog_size(log) == 0);
    append_n(log, 1, 2, 30000);
    assert_true(read_all(log, 40) == 42);
    plog_close(log);
    log = open_log(1 << 20, NULL);
    assert_true(plog_start_offset(log) == 40 && plog_end_offset(log) == 42);
    plog_close(log);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_log_append_read_roll_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_log_recovery_truncates_torn_tail, setup, teardown),
        cmocka_unit_test_setup_teardown(test_log_offset_for_time, setup, teardown),
        cmocka_unit_test_setup_teardown(test_log_retention_by_bytes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_log_retention_by_time_rolls_the_active_segment, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
