/*
 * `breadcrumb gen`: writes the generator's records (gen.h) to Kafka topics or to JSON Lines
 * files, and its ground truth to a JSON file. Options are declared once, in the table below,
 * which also makes --help. The wall clock paces (--rate) and bounds (--duration) the run;
 * it never enters the data.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tools/breadcrumb/cli.h"
#include "tools/breadcrumb/gen.h"
#include "tools/breadcrumb/gen_out.h"

struct cli {
    struct bc_gen_options gen;
    const char *brokers;
    const char *topic;
    const char *deploys_topic;
    const char *out_dir;
    const char *truth;
    double rate;     /* raw records per second; 0: as fast as possible */
    double duration; /* seconds of wall clock; 0: no bound */
    int quiet;
    int help;
};

enum opt_type { OPT_U64, OPT_I64, OPT_INT, OPT_RATE, OPT_NUM, OPT_STR, OPT_FLAG, OPT_TIME };

struct opt {
    const char *name;
    enum opt_type type;
    size_t offset;
    const char *help;
};

#define G(field) offsetof(struct cli, gen.field)
#define C(field) offsetof(struct cli, field)

static const struct opt opts[] = {
    {"brokers", OPT_STR, C(brokers), "bootstrap HOST:PORT (default: $BREADCRUMB_BROKERS)"},
    {"topic", OPT_STR, C(topic), "topic of the raw telemetry"},
    {"deploys-topic", OPT_STR, C(deploys_topic), "topic of the deploy records"},
    {"out-dir", OPT_STR, C(out_dir), "write <topic>.jsonl files and truth.json here, not Kafka"},
    {"truth", OPT_STR, C(truth), "write the ground truth to this file"},
    {"seed", OPT_U64, G(seed), "seed of every random choice"},
    {"start", OPT_TIME, G(start_ns), "simulated start, RFC 3339 (Z) or unix ns"},
    {"records", OPT_I64, G(records), "raw records to write (whole traces: may overshoot a little)"},
    {"traces", OPT_I64, G(traces), "traces to generate (instead of --records)"},
    {"duration", OPT_NUM, C(duration), "stop starting traces after this many wall-clock seconds"},
    {"rate", OPT_NUM, C(rate), "raw records per second of wall clock (0: as fast as possible)"},
    {"services", OPT_INT, G(services), "services of the shop in use (10..20)"},
    {"spans-min", OPT_INT, G(spans_min), "fewest spans in a trace"},
    {"spans-max", OPT_INT, G(spans_max), "most spans in a trace"},
    {"trace-interval-ms", OPT_I64, G(trace_interval_ms), "mean simulated time between traces"},
    {"slow-ms", OPT_I64, G(slow_ms), "a root span this long makes a slow trace"},
    {"late-ms", OPT_I64, G(late_ms), "a late span comes this long after its trace's exports"},
    {"retry-far-ms", OPT_I64, G(retry_far_ms), "a far retry comes this long after the original"},
    {"deploy-interval-ms", OPT_I64, G(deploy_interval_ms), "mean simulated time between deploys"},
    {"max-bytes", OPT_I64, G(max_bytes), "size limit that oversized records exceed"},
    {"error-rate", OPT_RATE, G(error_rate), "share of traces with errors"},
    {"slow-rate", OPT_RATE, G(slow_rate), "share of slow traces"},
    {"late-rate", OPT_RATE, G(late_rate), "share of traces with one late span"},
    {"orphan-rate", OPT_RATE, G(orphan_rate), "share of traces with a span never sent"},
    {"skew-rate", OPT_RATE, G(skew_rate), "share of span exports with a clock ahead"},
    {"retry-rate", OPT_RATE, G(retry_rate), "share of OTLP exports sent twice"},
    {"retry-far-share", OPT_RATE, G(retry_far_share), "share of retries sent far later"},
    {"dup-rate", OPT_RATE, G(dup_rate), "share of billing.charge events sent twice"},
    {"pii-rate", OPT_RATE, G(pii_rate), "share of spans, logs and events carrying PII"},
    {"bad-rate", OPT_RATE, G(bad_rate), "share of raw records malformed"},
    {"bad-span-rate", OPT_RATE, G(bad_span_rate), "share of span exports with one bad span"},
    {"log-rate", OPT_RATE, G(log_rate), "share of spans with log records"},
    {"b64-ids-share", OPT_RATE, G(b64_ids_share), "share of OTLP records with base64 ids"},
    {"enum-names-share", OPT_RATE, G(enum_names_share), "share of OTLP records with enum names"},
    {"int-numbers-share", OPT_RATE, G(int_numbers_share),
     "share of OTLP records with int64 as numbers"},
    {"quiet", OPT_FLAG, C(quiet), "no progress line"},
    {"help", OPT_FLAG, C(help), "this help"},
};

static void cli_defaults(struct cli *c)
{
    memset(c, 0, sizeof(*c));
    bc_gen_options_init(&c->gen);
    c->topic = "tracking.raw";
    c->deploys_topic = "tracking.deploys";
}

static void print_value(FILE *f, const struct opt *o, const struct cli *c)
{
    const char *p = (const char *)c + o->offset;
    switch (o->type) {
    case OPT_U64:
        fprintf(f, "%" PRIu64, *(const uint64_t *)p);
        break;
    case OPT_I64:
    case OPT_TIME:
        fprintf(f, "%" PRId64, *(const int64_t *)p);
        break;
    case OPT_INT:
    case OPT_FLAG:
        fprintf(f, "%d", *(const int *)p);
        break;
    case OPT_RATE:
    case OPT_NUM:
        fprintf(f, "%g", *(const double *)p);
        break;
    case OPT_STR:
        fprintf(f, "%s", *(const char *const *)p ? *(const char *const *)p : "");
        break;
    }
}

static void usage(FILE *f)
{
    struct cli d;
    cli_defaults(&d);
    fprintf(f, "usage: breadcrumb gen [options]\n\n"
               "Generates the telemetry of a fictional shop with faults, and its ground truth.\n"
               "Writes to Kafka (--brokers) or to files (--out-dir). Options (default):\n");
    for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++) {
        fprintf(f, "  --%-20s %s", opts[i].name, opts[i].help);
        int none = opts[i].type == OPT_STR &&
                   *(const char *const *)((const char *)&d + opts[i].offset) == NULL;
        if (opts[i].type != OPT_FLAG && !none) {
            fprintf(f, " (");
            print_value(f, &opts[i], &d);
            fprintf(f, ")");
        }
        fprintf(f, "\n");
    }
    fprintf(f, "Without --records, --traces or --duration: --records 10000.\n");
}

static int parse_time(const char *s, int64_t *out)
{
    char *end;
    errno = 0;
    long long n = strtoll(s, &end, 10);
    if (*end == '\0' && errno == 0) {
        *out = n;
        return 0;
    }
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (end == NULL || strcmp(end, "Z") != 0) {
        return -1;
    }
    *out = (int64_t)timegm(&tm) * 1000000000LL;
    return 0;
}

static int parse_opt(struct cli *c, const struct opt *o, const char *value)
{
    char *p = (char *)c + o->offset;
    char *end = NULL;
    errno = 0;
    switch (o->type) {
    case OPT_U64:
        *(uint64_t *)p = strtoull(value, &end, 10);
        break;
    case OPT_I64:
        *(int64_t *)p = strtoll(value, &end, 10);
        break;
    case OPT_INT: {
        long n = strtol(value, &end, 10);
        *(int *)p = (int)n;
        break;
    }
    case OPT_RATE:
    case OPT_NUM: {
        double d = strtod(value, &end);
        if (!isfinite(d) || d < 0 || (o->type == OPT_RATE && d > 1)) {
            return -1;
        }
        *(double *)p = d;
        break;
    }
    case OPT_TIME:
        return parse_time(value, (int64_t *)p);
    case OPT_STR:
        *(const char **)p = value;
        return 0;
    case OPT_FLAG:
        *(int *)p = 1;
        return 0;
    }
    return errno != 0 || end == value || *end != '\0' ? -1 : 0;
}

static int parse_args(struct cli *c, int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strncmp(arg, "--", 2) != 0) {
            fprintf(stderr, "breadcrumb gen: unexpected argument '%s'\n", arg);
            return -1;
        }
        arg += 2;
        const char *eq = strchr(arg, '=');
        size_t len = eq != NULL ? (size_t)(eq - arg) : strlen(arg);
        const struct opt *o = NULL;
        for (size_t k = 0; k < sizeof(opts) / sizeof(opts[0]); k++) {
            if (strlen(opts[k].name) == len && strncmp(opts[k].name, arg, len) == 0) {
                o = &opts[k];
            }
        }
        if (o == NULL) {
            fprintf(stderr, "breadcrumb gen: unknown option '%s'\n", argv[i]);
            return -1;
        }
        const char *value = NULL;
        if (o->type != OPT_FLAG) {
            if (eq != NULL) {
                value = eq + 1;
            } else if (i + 1 < argc) {
                value = argv[++i];
            } else {
                fprintf(stderr, "breadcrumb gen: --%s needs a value\n", o->name);
                return -1;
            }
        }
        if (parse_opt(c, o, value) != 0) {
            fprintf(stderr, "breadcrumb gen: bad value '%s' for --%s\n", value, o->name);
            return -1;
        }
    }
    return 0;
}

static volatile sig_atomic_t interrupted;

/* The first SIGINT/SIGTERM stops starting traces (what is scheduled is still written, so
 * the truth stays complete); a second one kills the process. */
static void on_signal(int sig)
{
    interrupted = 1;
    signal(sig, SIG_DFL);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Token bucket on the wall clock: waits until one token (one raw record) is available. */
struct pacer {
    double rate, tokens, cap, last;
};

static void pace(struct pacer *p)
{
    for (;;) {
        double t = now_s();
        p->tokens += (t - p->last) * p->rate;
        p->last = t;
        if (p->tokens > p->cap) {
            p->tokens = p->cap;
        }
        if (p->tokens >= 1.0) {
            p->tokens -= 1.0;
            return;
        }
        double wait = (1.0 - p->tokens) / p->rate;
        struct timespec ts = {(time_t)wait, (long)((wait - (double)(time_t)wait) * 1e9)};
        nanosleep(&ts, NULL);
    }
}

static int write_truth(struct bc_gen *gen, const char *path)
{
    json_t *truth = bc_gen_truth(gen);
    int rc = json_dump_file(truth, path, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
    json_decref(truth);
    if (rc != 0) {
        fprintf(stderr, "breadcrumb gen: cannot write %s\n", path);
        return -1;
    }
    return 0;
}

int bc_cmd_gen(int argc, char **argv)
{
    struct cli c;
    char errstr[512];
    char truth_path[4096];
    struct bc_gen *gen = NULL;
    struct gen_out *out = NULL;
    int rc = 1;

    cli_defaults(&c);
    if (parse_args(&c, argc, argv) != 0) {
        fprintf(stderr, "'breadcrumb gen --help' lists the options\n");
        return 2;
    }
    if (c.help) {
        usage(stdout);
        return 0;
    }
    if (c.gen.records == 0 && c.gen.traces == 0 && c.duration == 0) {
        c.gen.records = 10000;
    }
    if (c.brokers == NULL) {
        c.brokers = getenv("BREADCRUMB_BROKERS");
    }
    if (c.out_dir == NULL && (c.brokers == NULL || c.brokers[0] == '\0')) {
        fprintf(stderr, "breadcrumb gen: give --out-dir DIR, or --brokers HOST:PORT (or set "
                        "BREADCRUMB_BROKERS)\n");
        return 2;
    }
    gen = bc_gen_new(&c.gen, errstr, sizeof(errstr));
    if (gen == NULL) {
        fprintf(stderr, "breadcrumb gen: %s\n", errstr);
        return 2;
    }
    if (c.out_dir != NULL) {
        out = gen_out_files_new(c.out_dir, c.topic, c.deploys_topic, errstr, sizeof(errstr));
        if (c.truth == NULL) {
            snprintf(truth_path, sizeof(truth_path), "%s/truth.json", c.out_dir);
            c.truth = truth_path;
        }
    } else {
        out = gen_out_kafka_new(c.brokers, c.topic, c.deploys_topic, c.gen.max_bytes, errstr,
                                sizeof(errstr));
    }
    if (out == NULL) {
        fprintf(stderr, "breadcrumb gen: %s\n", errstr);
        goto done;
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);

    double started = now_s();
    double last_progress = started;
    int64_t last_count = 0;
    int64_t deploys = 0;
    struct pacer pacer = {c.rate, 1.0, c.rate > 20 ? c.rate / 20 : 1.0, started};
    struct bc_gen_record rec;
    while (bc_gen_next(gen, &rec) == 1) {
        if (c.rate > 0 && rec.topic == BC_GEN_TOPIC_RAW) {
            pace(&pacer);
        }
        if (gen_out_write(out, &rec, errstr, sizeof(errstr)) != 0) {
            fprintf(stderr, "breadcrumb gen: %s\n", errstr);
            goto done;
        }
        deploys += rec.topic == BC_GEN_TOPIC_DEPLOYS;
        double t = now_s();
        if (interrupted || (c.duration > 0 && t - started >= c.duration)) {
            bc_gen_stop(gen);
        }
        if (!c.quiet && t - last_progress >= 1.0) {
            int64_t n = bc_gen_raw_count(gen);
            fprintf(stderr, "gen: %" PRId64 " raw records, %.0f rec/s, %" PRId64 " deploys\n", n,
                    (double)(n - last_count) / (t - last_progress), deploys);
            last_progress = t;
            last_count = n;
        }
    }
    if (c.truth != NULL && write_truth(gen, c.truth) != 0) {
        goto done;
    }
    int closed = gen_out_close(out, 60000, errstr, sizeof(errstr));
    out = NULL;
    if (closed != 0) {
        fprintf(stderr, "breadcrumb gen: %s\n", errstr);
        goto done;
    }
    if (!c.quiet) {
        double secs = now_s() - started;
        fprintf(stderr, "gen: done: %" PRId64 " raw records, %" PRId64 " deploys in %.1f s\n",
                bc_gen_raw_count(gen), deploys, secs);
    }
    rc = 0;
done:
    gen_out_close(out, 0, errstr, sizeof(errstr));
    bc_gen_destroy(gen);
    return rc;
}
