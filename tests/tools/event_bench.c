/*
 * event_bench SCHEMAS_DIR EVENTS.dump [PASSES]: the codec's per-record cost on real
 * TrackingEvents: decodes every event of a normalize_file --dump file (its "E" lines) into
 * one reused value and encodes it again, PASSES times (1), as the deduplicator, enricher and
 * router do per record. Checks that each re-encoding is byte-identical to its input. For
 * instruction counts (valgrind --tool=callgrind, perf stat -e instructions) before and after
 * a codec change; prints a MEASURED line.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bc_avro.h"

struct event {
    uint8_t *data;
    size_t len;
};

static int nibble(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static int unhex(const char *hex, size_t n, uint8_t *out)
{
    for (size_t i = 0; i < n; i++) {
        int hi = nibble(hex[2 * i]), lo = nibble(hex[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            return -1;
        }
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}

/* Reads the "E" lines' hex into *events (new). Returns the count, or -1. */
static long load(const char *path, struct event **events)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        perror(path);
        return -1;
    }
    char *line = NULL;
    size_t cap = 0, n = 0, ecap = 0;
    while (getline(&line, &cap, f) > 0) {
        /* "<offset> <index> E <key> <hex>"; the key may be empty: the hex is the last word */
        char kind[4];
        if (sscanf(line, "%*s %*s %3s", kind) != 1 || strcmp(kind, "E") != 0) {
            continue;
        }
        line[strcspn(line, "\n")] = '\0';
        char *hex = strrchr(line, ' ');
        if (hex == NULL) {
            continue;
        }
        hex++;
        size_t hlen = strlen(hex);
        if (hlen < 2 * 6 || strncmp(hex, "00", 2) != 0) { /* not a wire-format record */
            continue;
        }
        if (n == ecap) {
            ecap = ecap ? 2 * ecap : 1024;
            *events = realloc(*events, ecap * sizeof(**events));
        }
        struct event *e = &(*events)[n];
        e->len = hlen / 2;
        e->data = malloc(e->len);
        if (e->data == NULL || unhex(hex, e->len, e->data) != 0) {
            fprintf(stderr, "bad line: %.60s\n", line);
            return -1;
        }
        n++;
    }
    free(line);
    fclose(f);
    return (long)n;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: event_bench SCHEMAS_DIR EVENTS.dump [PASSES]\n");
        return 2;
    }
    int passes = argc > 3 ? atoi(argv[3]) : 1;
    char errstr[512];
    struct bc_avro_registry *reg = NULL;
    if (bc_avro_registry_load(argv[1], &reg, errstr, sizeof(errstr)) != 0) {
        fprintf(stderr, "%s\n", errstr);
        return 1;
    }
    const struct bc_avro_schema *te = bc_avro_registry_lookup(reg, "TrackingEvent");
    struct event *events = NULL;
    long n = load(argv[2], &events);
    if (te == NULL || n < 0) {
        return 1;
    }
    avro_value_t value;
    struct bc_avro_buf buf = {0};
    if (bc_avro_value_new(te, &value) != 0) {
        return 1;
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    long bad = 0;
    for (int p = 0; p < passes; p++) {
        for (long i = 0; i < n; i++) {
            if (bc_avro_decode(reg, te, events[i].data, events[i].len, &value, errstr,
                               sizeof(errstr)) != 0 ||
                bc_avro_encode(te, &value, &buf, errstr, sizeof(errstr)) != 0) {
                fprintf(stderr, "event %ld: %s\n", i, errstr);
                return 1;
            }
            if (buf.len != events[i].len || memcmp(buf.data, events[i].data, buf.len) != 0) {
                bad++;
            }
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    printf("MEASURED event_bench events=%ld passes=%d us_per_event=%.2f not_identical=%ld\n", n,
           passes, s * 1e6 / (double)(n * passes), bad);
    avro_value_decref(&value);
    bc_avro_buf_free(&buf);
    for (long i = 0; i < n; i++) {
        free(events[i].data);
    }
    free(events);
    bc_avro_registry_destroy(reg);
    return bad != 0;
}
