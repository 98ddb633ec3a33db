/* Structured logging (bc_log.h): logfmt or JSON lines on stderr, one write(2) per line so
 * lines of concurrent processes sharing a terminal or file never interleave. */
#include "bc_log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *log_component = "breadcrumb";
static enum bc_log_level log_level = BC_LOG_INFO;
static enum bc_log_format log_format = BC_LOG_LOGFMT;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void bc_log_setup(const char *component, enum bc_log_level level, enum bc_log_format format)
{
    if (component != NULL) {
        log_component = component;
    }
    log_level = level;
    log_format = format;
}

int bc_log_level_parse(const char *s, enum bc_log_level *level)
{
    for (int i = 0; i < 4; i++) {
        if (strcmp(s, level_names[i]) == 0) {
            *level = (enum bc_log_level)i;
            return 0;
        }
    }
    return -1;
}

int bc_log_format_parse(const char *s, enum bc_log_format *format)
{
    if (strcmp(s, "logfmt") == 0) {
        *format = BC_LOG_LOGFMT;
    } else if (strcmp(s, "json") == 0) {
        *format = BC_LOG_JSON;
    } else {
        return -1;
    }
    return 0;
}

/* Appends to buf at *len, never past cap - 1; silently truncates a line that is too long. */
static void put(char *buf, size_t cap, size_t *len, const char *s, size_t n)
{
    if (*len + n >= cap) {
        n = *len < cap - 1 ? cap - 1 - *len : 0;
    }
    memcpy(buf + *len, s, n);
    *len += n;
}

static void put_str(char *buf, size_t cap, size_t *len, const char *s)
{
    put(buf, cap, len, s, strlen(s));
}

/* A value, quoted when logfmt needs it (spaces, quotes, '=' or empty) and always in JSON. */
static void put_value(char *buf, size_t cap, size_t *len, const char *v)
{
    int quote = log_format == BC_LOG_JSON || v[0] == '\0' || strpbrk(v, " \"=\t\n\\") != NULL;
    if (quote) {
        put(buf, cap, len, "\"", 1);
    }
    for (const unsigned char *p = (const unsigned char *)v; *p != '\0'; p++) {
        char esc[8];
        if (*p == '"' || *p == '\\') {
            esc[0] = '\\';
            esc[1] = (char)*p;
            put(buf, cap, len, esc, 2);
        } else if (*p == '\n') {
            put(buf, cap, len, "\\n", 2);
        } else if (*p < 0x20) {
            snprintf(esc, sizeof(esc), "\\u%04x", *p);
            put_str(buf, cap, len, esc);
        } else {
            put(buf, cap, len, (const char *)p, 1);
        }
    }
    if (quote) {
        put(buf, cap, len, "\"", 1);
    }
}

static void put_field(char *buf, size_t cap, size_t *len, int first, const char *k, const char *v)
{
    if (log_format == BC_LOG_JSON) {
        put_str(buf, cap, len, first ? "{" : ",");
        put_value(buf, cap, len, k);
        put(buf, cap, len, ":", 1);
    } else {
        if (!first) {
            put(buf, cap, len, " ", 1);
        }
        put_str(buf, cap, len, k);
        put(buf, cap, len, "=", 1);
    }
    put_value(buf, cap, len, v);
}

void bc_log(enum bc_log_level level, const char *msg, ...)
{
    if (level < log_level) {
        return;
    }
    char buf[4096];
    size_t len = 0;
    char ts[40];
    struct timespec now;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    size_t n = strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(ts + n, sizeof(ts) - n, ".%03ldZ", now.tv_nsec / 1000000);

    put_field(buf, sizeof(buf), &len, 1, "ts", ts);
    put_field(buf, sizeof(buf), &len, 0, "level", level_names[level]);
    put_field(buf, sizeof(buf), &len, 0, "component", log_component);
    put_field(buf, sizeof(buf), &len, 0, "msg", msg);
    va_list ap;
    va_start(ap, msg);
    for (;;) {
        const char *k = va_arg(ap, const char *);
        if (k == NULL) {
            break;
        }
        const char *v = va_arg(ap, const char *);
        put_field(buf, sizeof(buf), &len, 0, k, v != NULL ? v : "");
    }
    va_end(ap);
    if (log_format == BC_LOG_JSON) {
        put(buf, sizeof(buf), &len, "}", 1);
    }
    if (len >= sizeof(buf) - 1) {
        len = sizeof(buf) - 2;
    }
    buf[len++] = '\n';
    ssize_t w = write(STDERR_FILENO, buf, len);
    (void)w;
}
