/*
 * `breadcrumb diff TOPIC_A TOPIC_B`: compares two topics record by record (diff.h), e.g. a
 * worker's live output and the output of `breadcrumb replay` for the same input range.
 *
 * Both topics are read read_committed from their start to their end at the time of the
 * call. Records are matched by lineage source (header bc.src); --range keeps only records
 * whose source lies in [TOPIC:]PARTITION:FROM-TO (inclusive input offsets; repeatable), so a
 * live topic can be compared over the replayed range only. Wire-format Avro values are
 * decoded (schemas from --schemas, default ./schemas) and compared field by field; other
 * values as JSON or text. Headers are not compared (bc.instance and bc.config_hash name the
 * run, not the data). Exit 0 when equal, 1 on differences or errors, 2 on usage.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <avro.h>
#include <jansson.h>
#include <librdkafka/rdkafka.h>

#include "bc_avro.h"
#include "bc_schemas.h"
#include "tools/breadcrumb/cli.h"
#include "tools/breadcrumb/topic_scan.h"
#include "tools/breadcrumb/diff.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: breadcrumb diff TOPIC_A TOPIC_B [--range [TOPIC:]P:FROM-TO]... [--json]\n"
            "          [--ignore FIELD]... [--show N] [--schemas DIR] [--brokers HOST:PORT]\n"
            "          [--registry URL] [--timeout-ms MS]\n\n"
            "Compares two topics record by record, matched by lineage source (bc.src), whatever\n"
            "their order. --range keeps records whose source is in the input range (inclusive).\n"
            "Avro values are compared field by field; --ignore skips a field at any depth.\n"
            "Records flagged idle_decided, decided_early or evicted are not reproducible and are\n"
            "counted apart. Prints identical, missing (in A only), extra (in B only) and\n"
            "differing counts with the first --show (10) differences; --json prints the report\n"
            "as JSON. --registry: Avro records carry a schema registry's ids (the workers'\n"
            "schemas.registry URL); unknown ids are looked up there. Exit 0 when equal, 1 on\n"
            "differences or errors, 2 on usage.\n");
}

struct src_range {
    const char *topic; /* NULL: any */
    size_t topic_len;
    int32_t partition;
    int64_t from, to;
};

struct reader {
    struct bc_diff *diff;
    struct bc_avro_registry *reg;
    struct bc_schemas *schemas; /* NULL: the manifest's ids */
    const struct src_range *ranges;
    size_t n_ranges;
    int side;
};

static int parse_range(const char *s, struct src_range *r)
{
    const char *colon = strchr(s, ':');
    const char *rest = s;
    memset(r, 0, sizeof(*r));
    if (colon != NULL && strchr(colon + 1, ':') != NULL) {
        r->topic = s;
        r->topic_len = (size_t)(colon - s);
        rest = colon + 1;
    }
    char *end;
    long p = strtol(rest, &end, 10);
    if (end == rest || *end != ':' || p < 0) {
        return -1;
    }
    r->partition = (int32_t)p;
    rest = end + 1;
    r->from = strtoll(rest, &end, 10);
    if (end == rest || *end != '-') {
        return -1;
    }
    rest = end + 1;
    if (*rest == '\0') {
        r->to = INT64_MAX;
        return 0;
    }
    r->to = strtoll(rest, &end, 10);
    return (*end != '\0' || r->to < r->from) ? -1 : 0;
}

static int in_ranges(const struct reader *rd, const char *src)
{
    if (rd->n_ranges == 0) {
        return 1;
    }
    const char *colon = src != NULL ? strchr(src, ':') : NULL;
    if (colon == NULL) {
        return 0;
    }
    int32_t p;
    int64_t off;
    if (sscanf(colon + 1, "%" SCNd32 ":%" SCNd64, &p, &off) != 2) {
        return 0;
    }
    size_t tlen = (size_t)(colon - src);
    for (size_t i = 0; i < rd->n_ranges; i++) {
        const struct src_range *r = &rd->ranges[i];
        if ((r->topic == NULL || (r->topic_len == tlen && memcmp(r->topic, src, tlen) == 0)) &&
            r->partition == p && off >= r->from && off <= r->to) {
            return 1;
        }
    }
    return 0;
}

static json_t *decode_value(struct bc_avro_registry *reg, struct bc_schemas *schemas,
                            const void *data, size_t len)
{
    if (data == NULL) {
        return NULL;
    }
    if (schemas != NULL) {
        bc_schemas_input(schemas, data, len); /* a failure is logged; compared as bytes */
    }
    char errstr[256];
    const struct bc_avro_schema *writer = NULL;
    if (reg != NULL && bc_avro_peek(reg, data, len, &writer, errstr, sizeof(errstr)) == 0) {
        avro_value_t v;
        if (bc_avro_value_new(writer, &v) == 0) {
            json_t *j = NULL;
            if (bc_avro_decode(reg, NULL, data, len, &v, errstr, sizeof(errstr)) == 0) {
                j = bc_avro_to_json(writer, &v, 0);
            }
            avro_value_decref(&v);
            if (j != NULL) {
                return j;
            }
        }
    }
    json_t *j = json_loadb(data, len, JSON_DECODE_ANY, NULL);
    if (j != NULL) {
        return j;
    }
    j = json_stringn(data, len);
    if (j != NULL) {
        return j;
    }
    char *hex = malloc(len * 2 + 1);
    if (hex == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < len; i++) {
        snprintf(hex + 2 * i, 3, "%02x", ((const unsigned char *)data)[i]);
    }
    j = json_pack("{s:s}", "bytes", hex);
    free(hex);
    return j;
}

static int on_record(struct reader *rd, const rd_kafka_message_t *m)
{
    char src[320] = "";
    rd_kafka_headers_t *h = NULL;
    const void *v = NULL;
    size_t vlen = 0;
    if (rd_kafka_message_headers(m, &h) == RD_KAFKA_RESP_ERR_NO_ERROR &&
        rd_kafka_header_get_last(h, "bc.src", &v, &vlen) == RD_KAFKA_RESP_ERR_NO_ERROR &&
        v != NULL) {
        if (vlen >= sizeof(src)) {
            vlen = sizeof(src) - 1;
        }
        memcpy(src, v, vlen);
        src[vlen] = '\0';
    }
    if (!in_ranges(rd, src)) {
        return 0;
    }
    char where[320];
    snprintf(where, sizeof(where), "%s:%" PRId32 ":%" PRId64, rd_kafka_topic_name(m->rkt),
             m->partition, m->offset);
    return bc_diff_add(rd->diff, rd->side, src, where, m->key, m->key_len,
                       decode_value(rd->reg, rd->schemas, m->payload, m->len));
}

/* bc_scan_fn over on_record: a failure there can only be memory. */
static int on_message(void *opaque, const rd_kafka_message_t *m)
{
    if (on_record(opaque, m) != 0) {
        fprintf(stderr, "breadcrumb diff: out of memory\n");
        return -1;
    }
    return 0;
}

/* Reads topic read_committed from its start to its end. Returns 0 or -1. */
static int read_topic(const char *brokers, const char *topic, int timeout_ms, struct reader *rd)
{
    return bc_topic_scan("diff", brokers, topic, timeout_ms, on_message, rd);
}

static void print_text(const char *a, const char *b, json_t *r)
{
    json_t *u = json_object_get(r, "unreproducible");
    printf("diff %s (%" JSON_INTEGER_FORMAT " records) vs %s (%" JSON_INTEGER_FORMAT
           " records)\n",
           a, json_integer_value(json_object_get(r, "a")), b,
           json_integer_value(json_object_get(r, "b")));
    static const char *const keys[] = {"identical", "missing", "extra", "differing"};
    for (size_t i = 0; i < 4; i++) {
        printf("  %-10s %" JSON_INTEGER_FORMAT "\n", keys[i],
               json_integer_value(json_object_get(r, keys[i])));
    }
    printf("  not reproducible (not failing): missing %" JSON_INTEGER_FORMAT
           ", extra %" JSON_INTEGER_FORMAT ", differing %" JSON_INTEGER_FORMAT "\n",
           json_integer_value(json_object_get(u, "missing")),
           json_integer_value(json_object_get(u, "extra")),
           json_integer_value(json_object_get(u, "differing")));
    size_t i;
    json_t *d;
    json_array_foreach(json_object_get(r, "differences"), i, d)
    {
        const char *wa = json_string_value(json_object_get(d, "a"));
        const char *wb = json_string_value(json_object_get(d, "b"));
        printf("%s%s src=%s a=%s b=%s\n", json_string_value(json_object_get(d, "type")),
               json_is_true(json_object_get(d, "unreproducible")) ? " (not reproducible)" : "",
               json_string_value(json_object_get(d, "src")), wa ? wa : "-", wb ? wb : "-");
        size_t k;
        json_t *f;
        json_array_foreach(json_object_get(d, "fields"), k, f)
        {
            printf("    %s\n", json_string_value(f));
        }
    }
}

int bc_cmd_diff(int argc, char **argv)
{
    const char *topics[2] = {NULL, NULL};
    const char *brokers = getenv("BREADCRUMB_BROKERS"), *schemas = "schemas", *registry = NULL;
    const char **ignore = calloc((size_t)argc, sizeof(*ignore));
    struct src_range *ranges = calloc((size_t)argc, sizeof(*ranges));
    size_t n_ignore = 0, n_ranges = 0, show = 10;
    int as_json = 0, timeout_ms = 15000, rc = 2;
    struct bc_diff diff = {0};
    struct bc_avro_registry *reg = NULL;
    struct bc_schemas *sc = NULL;
    if (ignore == NULL || ranges == NULL) {
        goto done;
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            rc = 0;
            goto done;
        } else if (strcmp(a, "--json") == 0) {
            as_json = 1;
        } else if (a[0] != '-') {
            if (topics[0] == NULL) {
                topics[0] = a;
            } else if (topics[1] == NULL) {
                topics[1] = a;
            } else {
                fprintf(stderr, "breadcrumb diff: unexpected argument %s\n", a);
                goto usage_err;
            }
        } else if (i + 1 >= argc) {
            fprintf(stderr, "breadcrumb diff: %s needs a value\n", a);
            goto usage_err;
        } else if (strcmp(a, "--brokers") == 0) {
            brokers = argv[++i];
        } else if (strcmp(a, "--schemas") == 0) {
            schemas = argv[++i];
        } else if (strcmp(a, "--registry") == 0) {
            registry = argv[++i];
        } else if (strcmp(a, "--ignore") == 0) {
            ignore[n_ignore++] = argv[++i];
        } else if (strcmp(a, "--show") == 0) {
            show = (size_t)strtoul(argv[++i], NULL, 10);
        } else if (strcmp(a, "--timeout-ms") == 0) {
            timeout_ms = atoi(argv[++i]);
        } else if (strcmp(a, "--range") == 0) {
            if (parse_range(argv[++i], &ranges[n_ranges]) != 0) {
                fprintf(stderr, "breadcrumb diff: bad --range %s\n", argv[i]);
                goto usage_err;
            }
            n_ranges++;
        } else {
            fprintf(stderr, "breadcrumb diff: unknown option %s\n", a);
            goto usage_err;
        }
    }
    if (topics[1] == NULL) {
        goto usage_err;
    }
    if (brokers == NULL || brokers[0] == '\0') {
        fprintf(stderr, "breadcrumb diff: no brokers (--brokers or $BREADCRUMB_BROKERS)\n");
        goto usage_err;
    }
    char errstr[512];
    if (bc_avro_registry_load(schemas, &reg, errstr, sizeof(errstr)) != 0) {
        fprintf(stderr, "breadcrumb diff: %s (values compared as bytes/JSON)\n", errstr);
        reg = NULL;
    }
    if (reg != NULL && registry != NULL &&
        bc_schemas_new_url(registry, reg, &sc, errstr, sizeof(errstr)) != 0) {
        fprintf(stderr, "breadcrumb diff: %s\n", errstr);
        goto usage_err;
    }
    diff.ignore = ignore;
    diff.ignore_count = n_ignore;
    diff.max_shown = show == 0 ? 1 : show;
    rc = 1;
    for (int s = 0; s < 2; s++) {
        struct reader rd = {.diff = &diff, .reg = reg, .schemas = sc, .ranges = ranges, .n_ranges = n_ranges,
                            .side = s};
        if (read_topic(brokers, topics[s], timeout_ms, &rd) != 0) {
            goto done;
        }
    }
    int failed = 0;
    json_t *report = bc_diff_compare(&diff, &failed);
    if (report == NULL) {
        goto done;
    }
    if (as_json) {
        json_object_set_new(report, "topic_a", json_string(topics[0]));
        json_object_set_new(report, "topic_b", json_string(topics[1]));
        json_object_set_new(report, "equal", json_boolean(!failed));
        json_dumpf(report, stdout, JSON_INDENT(2));
        fputc('\n', stdout);
    } else {
        print_text(topics[0], topics[1], report);
        printf("%s\n", failed ? "DIFFERENT" : "EQUAL");
    }
    json_decref(report);
    rc = failed ? 1 : 0;
    goto done;
usage_err:
    usage(stderr);
    rc = 2;
done:
    bc_diff_free(&diff);
    bc_schemas_free(sc);
    bc_avro_registry_destroy(reg);
    free(ignore);
    free(ranges);
    return rc;
}
