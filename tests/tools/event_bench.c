/*
 * event_bench SCHEMAS_DIR EVENTS.dump [--enrich TOPOLOGY | --json FLAGS | --fields MASK]
 * [PASSES]: the
 * per-record cost of a
 * stage's core on real TrackingEvents: decodes every event of a normalize_file --dump file
 * (its "E" lines) into one reused value and encodes it again, PASSES times (1), as the
 * deduplicator, enricher and router do per record. Plain, it checks that each re-encoding is
 * byte-identical to its input; with --enrich, the events go through the enricher's core
 * (enr_enrich with the topology's catalog and PII rules; no deploys, no cardinality limits)
 * before encoding, and the output's XXH64 is printed to compare two builds; with --json, each
 * decoded event is written as JSON text (bc_avro_to_json_text with FLAGS, as the router does
 * for a JSON sink), checked identical to json_dumps(bc_avro_to_json(...), JSON_COMPACT)
 * (FLAGS negative: -FLAGS through jansson instead, for comparison); with --fields, events
 * are only decoded, with bc_avro_decode_fields(MASK) (0: bc_avro_decode), as the
 * deduplicator decodes what its key reads. For instruction
 * counts (valgrind --tool=callgrind, perf stat -e instructions) before and after a change;
 * prints a MEASURED line.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <xxhash.h>

#include "bc_avro.h"
#include "bc_config.h"
#include "workers/enricher/enrich.h"

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
        fprintf(stderr, "usage: event_bench SCHEMAS_DIR EVENTS.dump [--enrich TOPOLOGY] "
                        "[PASSES]\n");
        return 2;
    }
    const char *topology = NULL;
    int argi = 3, json_flags = 0, json = 0, decode_only = 0;
    uint64_t fields = 0;
    if (argc > 4 && strcmp(argv[3], "--enrich") == 0) {
        topology = argv[4];
        argi = 5;
    } else if (argc > 4 && strcmp(argv[3], "--fields") == 0) {
        fields = strtoull(argv[4], NULL, 0);
        decode_only = 1;
        argi = 5;
    } else if (argc > 4 && strcmp(argv[3], "--json") == 0) {
        json_flags = atoi(argv[4]);
        json = 1;
        argi = 5;
    }
    int passes = argc > argi ? atoi(argv[argi]) : 1;
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
    struct bc_yaml *doc = NULL;
    struct enr_catalog *cat = NULL;
    struct pii_rules *pii = NULL;
    struct enr_core core;
    memset(&core, 0, sizeof(core));
    if (topology != NULL) {
        struct bc_errors errs = {0};
        doc = bc_yaml_load(topology, &errs);
        const struct bc_node *opts =
            doc != NULL ? bc_node_get(bc_node_get(bc_node_get(doc->root, "workers"), "enricher"),
                                      "options")
                        : NULL;
        const struct bc_node *catalog = opts != NULL ? bc_node_get(opts, "catalog") : NULL;
        if (opts == NULL || catalog == NULL) {
            fprintf(stderr, "%s: no workers.enricher.options.catalog\n", topology);
            return 1;
        }
        cat = enr_catalog_load(catalog->scalar, errstr, sizeof(errstr));
        pii = cat != NULL ? pii_rules_new(bc_node_get(opts, "pii"), "bench-key", 9, errstr,
                                          sizeof(errstr))
                          : NULL;
        if (pii == NULL || enr_core_init(&core, te) != 0) {
            fprintf(stderr, "%s\n", errstr);
            return 1;
        }
        core.catalog = cat;
        core.pii = pii;
    }
    XXH64_state_t *hash = XXH64_createState();
    XXH64_reset(hash, 0);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    long bad = 0;
    for (int p = 0; p < passes; p++) {
        for (long i = 0; i < n; i++) {
            if (decode_only) {
                if (bc_avro_decode_fields(reg, te, events[i].data, events[i].len, &value, fields,
                                          errstr, sizeof(errstr)) != 0) {
                    fprintf(stderr, "event %ld: %s\n", i, errstr);
                    return 1;
                }
                continue;
            }
            if (json) {
                if (bc_avro_decode(reg, te, events[i].data, events[i].len, &value, errstr,
                                   sizeof(errstr)) != 0) {
                    fprintf(stderr, "event %ld: %s\n", i, errstr);
                    return 1;
                }
                if (json_flags < 0) { /* jansson only */
                    json_t *j = bc_avro_to_json(te, &value, -json_flags);
                    char *text = json_dumps(j, JSON_COMPACT);
                    XXH64_update(hash, text, strlen(text));
                    free(text);
                    json_decref(j);
                    continue;
                }
                if (bc_avro_to_json_text(te, &value, json_flags, &buf) != 0) {
                    fprintf(stderr, "event %ld: no JSON\n", i);
                    return 1;
                }
                XXH64_update(hash, buf.data, buf.len);
                if (p == 0) {
                    json_t *j = bc_avro_to_json(te, &value, json_flags);
                    char *text = json_dumps(j, JSON_COMPACT);
                    if (text == NULL || strlen(text) != buf.len ||
                        memcmp(text, buf.data, buf.len) != 0 || buf.data[buf.len] != '\0') {
                        if (bad++ == 0) {
                            fprintf(stderr, "event %ld differs:\n%s\n%s\n", i, text,
                                    (char *)buf.data);
                        }
                    }
                    free(text);
                    json_decref(j);
                }
                continue;
            }
            if (bc_avro_decode(reg, te, events[i].data, events[i].len, &value, errstr,
                               sizeof(errstr)) != 0 ||
                (topology != NULL &&
                 enr_enrich(&core, &value, 0, NULL, errstr, sizeof(errstr)) != 0) ||
                bc_avro_encode(te, &value, &buf, errstr, sizeof(errstr)) != 0) {
                fprintf(stderr, "event %ld: %s\n", i, errstr);
                return 1;
            }
            XXH64_update(hash, buf.data, buf.len);
            if (topology == NULL &&
                (buf.len != events[i].len || memcmp(buf.data, events[i].data, buf.len) != 0)) {
                bad++;
            }
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    printf("MEASURED event_bench events=%ld passes=%d us_per_event=%.2f not_identical=%ld "
           "output_xxh64=%016llx pii_records=%llu dropped_attrs=%llu\n",
           n, passes, s * 1e6 / (double)(n * passes), bad,
           (unsigned long long)XXH64_digest(hash),
           (unsigned long long)core.counters.pii_records,
           (unsigned long long)core.counters.dropped_attrs);
    XXH64_freeState(hash);
    if (topology != NULL) {
        enr_core_fini(&core);
        pii_rules_destroy(pii);
        enr_catalog_destroy(cat);
        bc_yaml_destroy(doc);
    }
    avro_value_decref(&value);
    bc_avro_buf_free(&buf);
    for (long i = 0; i < n; i++) {
        free(events[i].data);
    }
    free(events);
    bc_avro_registry_destroy(reg);
    return bad != 0;
}
