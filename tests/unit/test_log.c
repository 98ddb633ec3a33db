/* bc_log: level and format parsing, and the exact logfmt/JSON line written to stderr. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "bc_log.h"

/* Runs one bc_log call with stderr redirected to a pipe and returns the line without "ts". */
static void capture(char *out, size_t cap, enum bc_log_format format)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    int saved = dup(STDERR_FILENO);
    dup2(fds[1], STDERR_FILENO);
    bc_log_setup("test", BC_LOG_INFO, format);
    bc_log(BC_LOG_DEBUG, "hidden", NULL);
    bc_log(BC_LOG_WARN, "disk full", "path", "/tmp/a b", "quote", "say \"hi\"", NULL);
    dup2(saved, STDERR_FILENO);
    close(saved);
    close(fds[1]);
    char buf[1024];
    ssize_t n = read(fds[0], buf, sizeof(buf) - 1);
    close(fds[0]);
    assert_true(n > 0);
    buf[n] = '\0';
    const char *level = strstr(buf, format == BC_LOG_JSON ? ",\"level\"" : " level=");
    assert_non_null(level);
    snprintf(out, cap, "%s", level);
}

static void test_log_logfmt_line(void **state)
{
    (void)state;
    char line[1024];
    capture(line, sizeof(line), BC_LOG_LOGFMT);
    assert_string_equal(line, " level=warn component=test msg=\"disk full\" path=\"/tmp/a b\" "
                              "quote=\"say \\\"hi\\\"\"\n");
}

static void test_log_json_line(void **state)
{
    (void)state;
    char line[1024];
    capture(line, sizeof(line), BC_LOG_JSON);
    assert_string_equal(line, ",\"level\":\"warn\",\"component\":\"test\",\"msg\":\"disk full\","
                              "\"path\":\"/tmp/a b\",\"quote\":\"say \\\"hi\\\"\"}\n");
}

static void test_log_parse(void **state)
{
    (void)state;
    enum bc_log_level level;
    enum bc_log_format format;
    assert_int_equal(bc_log_level_parse("warn", &level), 0);
    assert_int_equal(level, BC_LOG_WARN);
    assert_int_equal(bc_log_level_parse("loud", &level), -1);
    assert_int_equal(bc_log_format_parse("json", &format), 0);
    assert_int_equal(format, BC_LOG_JSON);
    assert_int_equal(bc_log_format_parse("xml", &format), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_log_logfmt_line),
        cmocka_unit_test(test_log_json_line),
        cmocka_unit_test(test_log_parse),
    };
    return cmocka_run_group_tests_name("bc_log", tests, NULL, NULL);
}
