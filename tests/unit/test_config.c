/* bc_config and bc_options: the broken topologies of tests/unit/yaml/ (each fixture lists
 * its expected errors as `# expect: LINE:COL message-substring` comments, in file order),
 * ${VAR} substitution, durations and sizes, defaults, the default topology, the worker hash
 * and README's generated reference. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <glob.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bc_config.h"

/* The repository root, from this file's path (tests run from the root via make). */
static const char *root(void)
{
    static char dir[4096];
    if (dir[0] == '\0') {
        const char *env = getenv("BC_ROOT");
        if (env != NULL) {
            snprintf(dir, sizeof(dir), "%s", env);
        } else {
            char file[4096];
            snprintf(file, sizeof(file), "%s", __FILE__);
            snprintf(dir, sizeof(dir), "%s/../..", dirname(file));
        }
    }
    return dir;
}

struct expect {
    int line;
    int column;
    char text[512];
};

/* Reads the `# expect:` lines of a fixture. Returns their count. */
static size_t read_expectations(const char *path, struct expect *out, size_t cap)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char line[1024];
    size_t n = 0;
    while (fgets(line, sizeof(line), f) != NULL) {
        int consumed = 0;
        if (strncmp(line, "# expect: ", 10) != 0) {
            continue;
        }
        assert_true(n < cap);
        assert_int_equal(sscanf(line + 10, "%d:%d %n", &out[n].line, &out[n].column, &consumed), 2);
        snprintf(out[n].text, sizeof(out[n].text), "%s", line + 10 + consumed);
        out[n].text[strcspn(out[n].text, "\n")] = '\0';
        n++;
    }
    fclose(f);
    return n;
}

static void test_config_broken_fixtures(void **state)
{
    (void)state;
    char pattern[4200];
    snprintf(pattern, sizeof(pattern), "%s/tests/unit/yaml/[0-9]*.yaml", root());
    glob_t g;
    assert_int_equal(glob(pattern, 0, NULL, &g), 0);
    assert_true(g.gl_pathc >= 10);
    unsetenv("BC_TEST_UNSET_BROKERS");
    unsetenv("BC_TEST_UNSET_PASSWORD");
    unsetenv("BC_TEST_UNSET_RETENTION");
    unsetenv("BC_TEST_PIPELINE");
    unsetenv("BC_TEST_PARTITIONS");
    for (size_t i = 0; i < g.gl_pathc; i++) {
        const char *path = g.gl_pathv[i];
        struct expect want[32];
        size_t n_want = read_expectations(path, want, 32);
        struct bc_errors errs = {0};
        struct bc_config *cfg = bc_config_load(path, &errs);
        int ok = cfg == NULL && errs.n == n_want;
        for (size_t e = 0; ok && e < n_want; e++) {
            ok = errs.v[e].line == want[e].line && errs.v[e].column == want[e].column &&
                 strstr(errs.v[e].message, want[e].text) != NULL &&
                 strcmp(errs.v[e].file, path) == 0;
        }
        if (!ok) {
            fprintf(stderr, "%s: expected %zu errors:\n", path, n_want);
            for (size_t e = 0; e < n_want; e++) {
                fprintf(stderr, "  %d:%d %s\n", want[e].line, want[e].column, want[e].text);
            }
            fprintf(stderr, "got %zu:\n", errs.n);
            bc_errors_print(&errs, stderr);
        }
        assert_true(ok);
        assert_true(n_want >= 1);
        bc_errors_clear(&errs);
        bc_config_destroy(cfg);
    }
    globfree(&g);
}

static const char minimal[] =
    "pipeline: t\n"
    "topics:\n"
    "  t.raw: {partitions: 4}\n"
    "  t.norm: {partitions: 4, retention: 1d, retention_bytes: 1GiB, configs: {a.b: c}}\n"
    "  t.dlq:\n"
    "  t.uniq: {cleanup: compact}\n"
    "workers:\n"
    "  normalizer: {input: t.raw, outputs: {normalized: t.norm, dlq: t.dlq}}\n"
    "  dedup:\n"
    "    type: deduplicator\n"
    "    input: t.norm\n"
    "    outputs: {unique: t.uniq}\n"
    "    replicas: 3\n";

static struct bc_config *load(const char *text)
{
    struct bc_errors errs = {0};
    struct bc_config *cfg = bc_config_load_string("test.yaml", text, strlen(text), &errs);
    if (cfg == NULL) {
        bc_errors_print(&errs, stderr);
    }
    bc_errors_clear(&errs);
    return cfg;
}

static void test_config_defaults_applied(void **state)
{
    (void)state;
    struct bc_config *cfg = load(minimal);
    assert_non_null(cfg);
    assert_string_equal(cfg->pipeline, "t");
    assert_string_equal(cfg->kafka.brokers, "embedded");
    assert_int_equal(cfg->kafka.profile, BC_PROFILE_DEFAULT);
    assert_string_equal(cfg->kafka.security.protocol, "plaintext");
    assert_null(cfg->kafka.security.username);
    assert_string_equal(cfg->schemas.registry, "file");
    assert_string_equal(cfg->schemas.dir, "");
    assert_int_equal(cfg->log.level, BC_LOG_INFO);

    const struct bc_topic *t = bc_config_topic(cfg, "t.norm");
    assert_non_null(t);
    assert_int_equal(t->partitions, 4);
    assert_int_equal(t->retention_ms, BC_DAY_MS);
    assert_int_equal(t->retention_bytes, BC_GIB);
    assert_int_equal(t->n_configs, 1);
    assert_string_equal(t->configs[0].key, "a.b");
    assert_int_equal(t->configs[0].pos.line, 4);
    t = bc_config_topic(cfg, "t.dlq");
    assert_int_equal(t->partitions, 1);
    assert_int_equal(t->retention_ms, 0);
    assert_int_equal(t->cleanup, BC_CLEANUP_DELETE);
    assert_int_equal(bc_config_topic(cfg, "t.uniq")->cleanup, BC_CLEANUP_COMPACT);
    /* Implicit topics: fates (largest partition count) and the deduplicator's changelog. */
    t = bc_config_topic(cfg, "t.fates");
    assert_non_null(t);
    assert_true(t->implicit);
    assert_int_equal(t->partitions, 4);
    t = bc_config_topic(cfg, "t.dedup.seen.changelog");
    assert_non_null(t);
    assert_true(t->implicit);
    assert_int_equal(t->partitions, 4);
    assert_int_equal(t->cleanup, BC_CLEANUP_COMPACT);

    const struct bc_worker *w = bc_config_worker(cfg, "dedup");
    assert_non_null(w);
    assert_string_equal(w->type->name, "deduplicator");
    assert_int_equal(w->pos.line, 9);
    assert_int_equal(w->pos.column, 3);
    assert_int_equal(w->replicas, 3);
    assert_int_equal(w->commit_interval_ms, 100);
    assert_int_equal(w->max_batch, 1000);
    assert_int_equal(w->max_attempts, 3);
    assert_int_equal(w->n_inputs, 1);
    assert_string_equal(w->inputs[0], "t.norm");
    assert_string_equal(bc_worker_output(w, "unique"), "t.uniq");
    assert_string_equal(bc_worker_output(w, "dlq"), "t.dlq"); /* <pipeline>.dlq, implicit */
    assert_int_equal(bc_values_int(w->options, "window"), 10 * BC_MINUTE_MS);
    assert_int_equal(bc_values_int(w->options, "max_bytes"), 64 * BC_MIB);
    assert_string_equal(bc_values_str(w->options, "missing_key"), "pass");
    size_t n;
    const char *const *key = bc_values_list(w->options, "key", &n);
    assert_int_equal(n, 1);
    assert_string_equal(key[0], "event_id");
    assert_false(bc_values_find(w->options, "window")->set);

    w = bc_config_worker(cfg, "normalizer");
    assert_int_equal(w->replicas, 1);
    assert_string_equal(bc_values_str(w->options, "event_id_field"), "attributes.idempotency_key");
    assert_string_equal(bc_values_str(w->options, "format"), "auto");
    assert_true(bc_values_bool(w->options, "clamp_skew"));
    assert_int_equal(bc_values_int(w->options, "max_payload_bytes"), BC_MIB);
    assert_null(bc_values_find(w->options, "no_such_option"));
    bc_config_destroy(cfg);
}

static void test_config_default_topology(void **state)
{
    (void)state;
    char path[4200];
    snprintf(path, sizeof(path), "%s/config/topology.yaml", root());
    unsetenv("BREADCRUMB_KAFKA");
    unsetenv("BREADCRUMB_PROFILE");
    struct bc_errors errs = {0};
    struct bc_config *cfg = bc_config_load(path, &errs);
    bc_errors_print(&errs, stderr);
    assert_non_null(cfg);
    assert_int_equal(errs.n, 0);
    assert_string_equal(cfg->pipeline, "tracking");
    assert_string_equal(cfg->kafka.brokers, "embedded");
    assert_int_equal(cfg->n_workers, 6);
    size_t declared = 0;
    for (size_t i = 0; i < cfg->n_topics; i++) {
        declared += !cfg->topics[i].implicit;
    }
    assert_int_equal(declared, 19);
    static const struct {
        const char *name;
        int replicas;
    } replicas[] = {{"normalizer", 2},   {"deduplicator", 2}, {"enricher", 2},
                    {"tail-sampler", 2}, {"router", 2},       {"lineage-builder", 2}};
    for (size_t i = 0; i < 6; i++) {
        const struct bc_worker *w = bc_config_worker(cfg, replicas[i].name);
        assert_non_null(w);
        assert_string_equal(w->type->name, replicas[i].name);
        assert_int_equal(w->replicas, replicas[i].replicas);
    }
    assert_int_equal(bc_config_topic(cfg, "tracking.deploys")->cleanup, BC_CLEANUP_COMPACT);
    assert_int_equal(bc_config_topic(cfg, "tracking.lineage")->cleanup, BC_CLEANUP_COMPACT);
    assert_int_equal(bc_config_topic(cfg, "tracking.raw")->partitions, 6);
    const struct bc_topic *cl = bc_config_topic(cfg, "tracking.deduplicator.seen.changelog");
    assert_non_null(cl);
    assert_int_equal(cl->partitions, 6);
    assert_non_null(bc_config_topic(cfg, "tracking.tail-sampler.decisions.changelog"));
    /* The deduplicator's dlq output defaults to tracking.dlq. */
    assert_string_equal(bc_worker_output(bc_config_worker(cfg, "deduplicator"), "dlq"),
                        "tracking.dlq");
    const struct bc_worker *router = bc_config_worker(cfg, "router");
    const struct bc_node *rules = bc_values_node(router->options, "rules");
    assert_non_null(rules);
    assert_int_equal(rules->kind, BC_NODE_SEQ);
    assert_int_equal(rules->n, 4);
    assert_string_equal(bc_node_get(rules->values[1], "to")->scalar, "sink.billing");
    assert_string_equal(bc_values_str(router->options, "default"), "sink.default");
    const struct bc_worker *lb = bc_config_worker(cfg, "lineage-builder");
    assert_true(lb->n_inputs >= 6);
    assert_null(bc_worker_output(lb, "dlq")); /* it reads tracking.dlq: no implicit dlq */
    const struct bc_worker *enricher = bc_config_worker(cfg, "enricher");
    assert_int_equal(bc_values_int(enricher->options, "cardinality.max_values"), 1000);
    assert_int_equal(bc_values_int(enricher->options, "cardinality.window"), BC_HOUR_MS);
    bc_errors_clear(&errs);
    bc_config_destroy(cfg);
}

/* Loads `pipeline: VALUE` plus a minimal topology and returns the substituted pipeline. */
static char *pipeline_of(const char *value, struct bc_errors *errs)
{
    char text[2048];
    snprintf(text, sizeof(text),
             "pipeline: %s\ntopics: {t.raw: {}, t.n: {}, t.d: {}}\n"
             "workers:\n  normalizer: {input: t.raw, outputs: {normalized: t.n, dlq: t.d}}\n",
             value);
    struct bc_config *cfg = bc_config_load_string("env.yaml", text, strlen(text), errs);
    char *out = cfg != NULL ? strdup(cfg->pipeline) : NULL;
    bc_config_destroy(cfg);
    return out;
}

static void test_config_env_substitution(void **state)
{
    (void)state;
    setenv("BC_T_NAME", "shop", 1);
    setenv("BC_T_EMPTY", "", 1);
    unsetenv("BC_T_UNSET");
    static const struct {
        const char *value;
        const char *want;
    } cases[] = {
        {"${BC_T_NAME}", "shop"},
        {"${BC_T_UNSET:-dflt}", "dflt"},
        {"${BC_T_EMPTY:-dflt}", "dflt"}, /* :- applies to empty too, as in the shell */
        {"${BC_T_NAME:-dflt}", "shop"},
        {"${BC_T_NAME:?needed}", "shop"},
        {"a-${BC_T_NAME}-${BC_T_UNSET:-x}-b", "a-shop-x-b"},
        {"\"${BC_T_NAME}_2\"", "shop_2"},
        {"'${BC_T_NAME}'", "shop"},
        {"\"$${BC_T_NAME}\"", "${BC_T_NAME}"}, /* $$ is a literal $ (fails the name check) */
        {"${BC_T_UNSET:-}x", "x"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct bc_errors errs = {0};
        char *got = pipeline_of(cases[i].value, &errs);
        if (strchr(cases[i].want, '$') != NULL) {
            /* Not a valid pipeline name: the error quotes the literal value. */
            assert_null(got);
            assert_int_equal(errs.n, 1);
            assert_non_null(strstr(errs.v[0].message, "'${BC_T_NAME}'"));
        } else {
            if (got == NULL) {
                bc_errors_print(&errs, stderr);
            }
            assert_non_null(got);
            assert_string_equal(got, cases[i].want);
        }
        free(got);
        bc_errors_clear(&errs);
    }

    /* Errors: at the scalar's position, all of them. */
    struct bc_errors errs = {0};
    const char *text = "pipeline: ${BC_T_UNSET}\n"
                       "kafka: {brokers: \"${BC_T_UNSET:?set BC_T_UNSET to the brokers}\"}\n"
                       "topics: {t.raw: {partitions: \"${BC_T_UNSET:-4}\"}}\n"
                       "workers: {router: {input: t.raw, options: {rules: [], default: "
                       "\"${BC_T_EMPTY:?}\"}}}\n";
    assert_null(bc_config_load_string("env.yaml", text, strlen(text), &errs));
    assert_int_equal(errs.n, 3);
    assert_int_equal(errs.v[0].line, 1);
    assert_int_equal(errs.v[0].column, 11);
    assert_string_equal(errs.v[0].message, "environment variable BC_T_UNSET is not set (use "
                                           "${BC_T_UNSET:-default} for a default)");
    assert_int_equal(errs.v[1].line, 2);
    assert_int_equal(errs.v[1].column, 18);
    assert_string_equal(errs.v[1].message, "BC_T_UNSET: set BC_T_UNSET to the brokers");
    assert_int_equal(errs.v[2].line, 4);
    assert_string_equal(errs.v[2].message, "BC_T_EMPTY: ");
    bc_errors_clear(&errs);

    /* Keys are never substituted: `${X}` as a key is an unknown key. */
    text = "pipeline: t\n${BC_T_NAME}: 1\ntopics: {}\nworkers: {}\n";
    assert_null(bc_config_load_string("env.yaml", text, strlen(text), &errs));
    assert_true(errs.n >= 1);
    assert_non_null(strstr(errs.v[0].message, "unknown key '${BC_T_NAME}'"));
    bc_errors_clear(&errs);
}

static void test_config_anchors_and_aliases(void **state)
{
    (void)state;
    const char *text = "pipeline: t\n"
                       "topics:\n"
                       "  t.raw: &six {partitions: 6}\n"
                       "  t.n: *six\n"
                       "  t.d: {}\n"
                       "workers:\n"
                       "  normalizer: {input: t.raw, outputs: {normalized: t.n, dlq: t.d}}\n";
    struct bc_config *cfg = load(text);
    assert_non_null(cfg);
    assert_int_equal(bc_config_topic(cfg, "t.n")->partitions, 6);
    bc_config_destroy(cfg);
}

static void test_config_duration_and_size(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        int64_t ms; /* -1: rejected */
    } durations[] = {
        {"500ms", 500},    {"10s", 10000},    {"10m", 600000},    {"2h", 7200000},
        {"7d", 604800000}, {"1w", 604800000}, {"1h30m", 5400000}, {"0s", 0},
        {"10", -1},        {"", -1},          {"10 m", -1},       {"-5s", -1},
        {"5x", -1},        {"1.5s", -1},      {"s", -1},          {"99999999999999999999s", -1},
    };
    for (size_t i = 0; i < sizeof(durations) / sizeof(durations[0]); i++) {
        int64_t ms = -2;
        int rc = bc_duration_parse(durations[i].s, &ms);
        if (durations[i].ms < 0) {
            assert_int_equal(rc, -1);
        } else {
            assert_int_equal(rc, 0);
            assert_int_equal(ms, durations[i].ms);
        }
    }
    static const struct {
        const char *s;
        int64_t bytes;
    } sizes[] = {
        {"64MiB", 64 * BC_MIB},
        {"512KiB", 512 * BC_KIB},
        {"1GiB", BC_GIB},
        {"1.5MiB", 3 * BC_MIB / 2},
        {"100KB", 100000},
        {"1MB", 1000000},
        {"123", 123},
        {"123B", 123},
        {"1.5", -1},
        {"64 MiB", -1},
        {"lots", -1},
        {"", -1},
        {"-1", -1},
        {"64mib", -1},
    };
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        int64_t b = -2;
        int rc = bc_size_parse(sizes[i].s, &b);
        if (sizes[i].bytes < 0) {
            assert_int_equal(rc, -1);
        } else {
            assert_int_equal(rc, 0);
            assert_int_equal(b, sizes[i].bytes);
        }
    }
    char buf[32];
    bc_duration_format(5400000, buf, sizeof(buf));
    assert_string_equal(buf, "1h30m");
    bc_duration_format(500, buf, sizeof(buf));
    assert_string_equal(buf, "500ms");
    bc_duration_format(0, buf, sizeof(buf));
    assert_string_equal(buf, "0s");
    bc_size_format(64 * BC_MIB, buf, sizeof(buf));
    assert_string_equal(buf, "64MiB");
    bc_size_format(1000, buf, sizeof(buf));
    assert_string_equal(buf, "1000");
}

static void test_config_worker_hash(void **state)
{
    (void)state;
    char a[17], b[17];
    struct bc_config *cfg = load(minimal);
    bc_config_worker_hash(cfg, bc_config_worker(cfg, "dedup"), a);
    assert_int_equal(strlen(a), 16);
    bc_config_destroy(cfg);

    /* Same config: same hash. Replicas and brokers do not count. */
    char text[4096];
    snprintf(text, sizeof(text), "kafka: {brokers: \"h:1\"}\n%s", minimal);
    *strstr(text, "replicas: 3") = '#';
    cfg = load(text);
    bc_config_worker_hash(cfg, bc_config_worker(cfg, "dedup"), b);
    assert_string_equal(a, b);
    bc_config_destroy(cfg);

    /* An option written with its default value: the same effective settings. */
    snprintf(text, sizeof(text), "%s    options: {window: 10m}\n", minimal);
    cfg = load(text);
    bc_config_worker_hash(cfg, bc_config_worker(cfg, "dedup"), b);
    assert_string_equal(a, b);
    bc_config_destroy(cfg);

    /* A different window: a different hash; the other worker's hash does not move. */
    snprintf(text, sizeof(text), "%s    options: {window: 11m}\n", minimal);
    cfg = load(text);
    bc_config_worker_hash(cfg, bc_config_worker(cfg, "dedup"), b);
    assert_string_not_equal(a, b);
    bc_config_destroy(cfg);
}

static void test_config_reference_in_readme(void **state)
{
    (void)state;
    char *ref = NULL;
    size_t ref_len = 0;
    FILE *f = open_memstream(&ref, &ref_len);
    bc_config_reference(f);
    fclose(f);

    char path[4200];
    snprintf(path, sizeof(path), "%s/README.md", root());
    f = fopen(path, "r");
    assert_non_null(f);
    char *readme = NULL;
    size_t cap = 0;
    ssize_t n = getdelim(&readme, &cap, '\0', f);
    fclose(f);
    assert_true(n > 0);
    const char *begin = strstr(readme, "<!-- reference:begin -->\n");
    const char *end = strstr(readme, "<!-- reference:end -->");
    assert_non_null(begin);
    assert_non_null(end);
    begin += strlen("<!-- reference:begin -->\n");
    int same = (size_t)(end - begin) == ref_len && memcmp(begin, ref, ref_len) == 0;
    if (!same) {
        fprintf(stderr, "README.md's topology reference is stale: regenerate it with\n"
                        "  bin/breadcrumb validate --reference\n");
    }
    assert_true(same);
    free(readme);
    free(ref);
}

/* Every worker type's table: defaults parse and respect their bounds (a bad default aborts),
 * every option is described, outputs and required outputs are consistent. */
static void test_config_worker_tables(void **state)
{
    (void)state;
    size_t types = 0;
    for (size_t i = 0; bc_worker_types[i] != NULL; i++, types++) {
        const struct bc_worker_type *t = bc_worker_types[i];
        assert_ptr_equal(bc_worker_type_find(t->name), t);
        assert_non_null(t->summary);
        struct bc_errors errs = {0};
        struct bc_check ck = {.errs = &errs, .path = t->name};
        struct bc_values *vals = bc_options_validate(&ck, NULL, t->name, t->options, NULL);
        assert_non_null(vals);
        assert_int_equal(errs.n, 0);
        for (size_t o = 0; o < vals->n; o++) {
            const struct bc_option *opt = &t->options[o];
            assert_non_null(opt->description);
            assert_true(strlen(opt->description) > 10);
            assert_int_equal(vals->v[o].has, opt->def != NULL || opt->type == BC_OPT_TABLE);
            assert_false(vals->v[o].set);
            if (opt->type == BC_OPT_NODE) {
                assert_non_null(opt->check);
            }
        }
        for (size_t r = 0; t->required_outputs != NULL && t->required_outputs[r] != NULL; r++) {
            int found = 0;
            for (size_t o = 0; t->outputs[o] != NULL; o++) {
                found |= strcmp(t->outputs[o], t->required_outputs[r]) == 0;
            }
            assert_true(found);
        }
        bc_values_destroy(vals);
        bc_errors_clear(&errs);
    }
    assert_int_equal(types, 6);
    assert_null(bc_worker_type_find("no-such-type"));
}

extern const struct bc_option bc_enricher_catalog[];

/* config/services.yaml: the shop's 20 services, valid against the enricher's catalog table. */
static void test_config_service_catalog(void **state)
{
    (void)state;
    static const char *const names[] = {
        "frontend",  "gateway",  "auth",    "user",         "search",   "catalog", "recommendation",
        "ad",        "cart",     "pricing", "currency",     "checkout", "payment", "fraud",
        "inventory", "shipping", "email",   "notification", "review",   "loyalty",
    };
    char path[4200];
    snprintf(path, sizeof(path), "%s/config/services.yaml", root());
    struct bc_errors errs = {0};
    struct bc_yaml *doc = bc_yaml_load(path, &errs);
    assert_non_null(doc);
    struct bc_check ck = {.errs = &errs};
    struct bc_values *vals = bc_options_validate(&ck, doc->root, "", bc_enricher_catalog, NULL);
    bc_errors_print(&errs, stderr);
    assert_int_equal(errs.n, 0);
    const struct bc_value *services = bc_values_find(vals, "services");
    assert_int_equal(services->n, 20);
    for (size_t i = 0; i < 20; i++) {
        assert_string_equal(services->names[i], names[i]);
        assert_non_null(bc_values_str(services->entries[i], "owner"));
        int64_t tier = bc_values_int(services->entries[i], "tier");
        assert_true(tier >= 1 && tier <= 3);
    }
    bc_values_destroy(vals);
    bc_yaml_destroy(doc);

    /* A broken catalog: positions as for topologies. */
    const char *text =
        "services:\n  cart: {owner: a, team: b, tier: 4}\n  ad: {team: c, tier: 1}\n";
    doc = bc_yaml_load_string("cat.yaml", text, strlen(text), &errs);
    assert_non_null(doc);
    vals = bc_options_validate(&ck, doc->root, "", bc_enricher_catalog, NULL);
    assert_int_equal(errs.n, 2);
    assert_int_equal(errs.v[0].line, 2);
    assert_int_equal(errs.v[0].column, 35);
    assert_string_equal(errs.v[0].message, "services.cart.tier: 4 is out of range (1 .. 3)");
    assert_int_equal(errs.v[1].line, 3);
    assert_int_equal(errs.v[1].column, 3);
    assert_string_equal(errs.v[1].message, "missing required key 'owner' in services.ad");
    bc_values_destroy(vals);
    bc_yaml_destroy(doc);
    bc_errors_clear(&errs);

    assert_null(bc_yaml_load_string("bad.yaml", "a: [", 4, &errs));
    assert_int_equal(errs.n, 1);
    bc_errors_clear(&errs);
}

static void test_config_errors_sorted_and_printed(void **state)
{
    (void)state;
    struct bc_errors errs = {0};
    bc_errors_add(&errs, &(struct bc_pos){"b.yaml", 3, 1}, "third");
    bc_errors_add(&errs, &(struct bc_pos){"b.yaml", 1, 5}, "first");
    bc_errors_add(&errs, &(struct bc_pos){"b.yaml", 1, 5}, "second");
    bc_errors_add(&errs, NULL, "no position %d", 7);
    bc_errors_sort(&errs);
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    bc_errors_print(&errs, f);
    fclose(f);
    assert_string_equal(out, "error: no position 7\n"
                             "b.yaml:1:5: error: first\n"
                             "b.yaml:1:5: error: second\n"
                             "b.yaml:3:1: error: third\n");
    free(out);
    bc_errors_clear(&errs);
    bc_errors_clear(&errs); /* reusable, idempotent */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_broken_fixtures),
        cmocka_unit_test(test_config_defaults_applied),
        cmocka_unit_test(test_config_default_topology),
        cmocka_unit_test(test_config_env_substitution),
        cmocka_unit_test(test_config_anchors_and_aliases),
        cmocka_unit_test(test_config_duration_and_size),
        cmocka_unit_test(test_config_worker_hash),
        cmocka_unit_test(test_config_reference_in_readme),
        cmocka_unit_test(test_config_worker_tables),
        cmocka_unit_test(test_config_service_catalog),
        cmocka_unit_test(test_config_errors_sorted_and_printed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
