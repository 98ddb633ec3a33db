/* The enricher's pure parts without Kafka: the service catalog (edge cases, the shop's
 * catalog), the deploy history join (as-of lookup, ties, replacement, tombstones, order
 * independence) and the cardinality limiter (cap, windows, restart from the same state). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bc_config.h"
#include "bc_event.h"
#include "workers/enricher/enrich.h"
#include "workers/enricher/cardinality.h"
#include "workers/enricher/catalog.h"
#include "workers/enricher/deploys.h"

#ifndef BC_SOURCE_ROOT
#define BC_SOURCE_ROOT "."
#endif

/* ---- catalog ------------------------------------------------------------------------- */

static struct enr_catalog *cat_from(const char *yaml, char *errstr, size_t size)
{
    return enr_catalog_load_string("services.yaml", yaml, strlen(yaml), errstr, size);
}

static void test_enricher_catalog_shop(void **state)
{
    (void)state;
    char errstr[512];
    struct enr_catalog *cat = enr_catalog_load("config/services.yaml", errstr, sizeof(errstr));
    if (cat == NULL) {
        fail_msg("%s", errstr);
    }
    assert_int_equal(cat->n, 20);
    const struct enr_service *s = enr_catalog_find(cat, "frontend", 8);
    assert_non_null(s);
    assert_string_equal(s->owner, "alice@shop.example");
    assert_string_equal(s->team, "web");
    assert_string_equal(s->tier, "1");
    assert_string_equal(s->cost_center, "CC-1100");
    assert_string_equal(s->on_call, "web-oncall");
    assert_int_equal(s->n_labels, 2);
    assert_string_equal(s->label_names[0], "domain");
    assert_string_equal(s->label_values[0], "storefront");
    static const char *const shop[] = {
        "frontend",  "gateway",  "auth",    "user",         "search",   "catalog", "recommendation",
        "ad",        "cart",     "pricing", "currency",     "checkout", "payment", "fraud",
        "inventory", "shipping", "email",   "notification", "review",   "loyalty"};
    for (size_t i = 0; i < 20; i++) {
        assert_non_null(enr_catalog_find(cat, shop[i], strlen(shop[i])));
    }
    enr_catalog_destroy(cat);
}

static void test_enricher_catalog_edge_cases(void **state)
{
    (void)state;
    char errstr[512];
    struct enr_catalog *cat = cat_from("services:\n"
                                       "  cart: {owner: o@x, team: t, tier: 2}\n"
                                       "  cart-v2: {owner: p@x, team: u, tier: 3, labels: {}}\n",
                                       errstr, sizeof(errstr));
    assert_non_null(cat);
    /* Optional fields absent; lookups by length, not by prefix. */
    const struct enr_service *s = enr_catalog_find(cat, "cart-v2", 4);
    assert_non_null(s);
    assert_string_equal(s->name, "cart");
    assert_null(s->cost_center);
    assert_null(s->on_call);
    assert_int_equal(s->n_labels, 0);
    assert_string_equal(enr_catalog_find(cat, "cart-v2", 7)->owner, "p@x");
    assert_null(enr_catalog_find(cat, "car", 3));
    assert_null(enr_catalog_find(cat, "Cart", 4));
    assert_null(enr_catalog_find(cat, "cart\0x", 6));
    assert_null(enr_catalog_find(cat, "", 0));
    enr_catalog_destroy(cat);

    /* An empty catalog is valid: every service is unknown. */
    cat = cat_from("services: {}\n", errstr, sizeof(errstr));
    assert_non_null(cat);
    assert_int_equal(cat->n, 0);
    assert_null(enr_catalog_find(cat, "cart", 4));
    enr_catalog_destroy(cat);

    /* Errors say FILE:LINE:COL. */
    static const struct {
        const char *yaml, *want;
    } bad[] = {
        {"services:\n  cart: {owner: o, team: t, tier: 9}\n", "services.yaml:2:"},
        {"services:\n  cart: {owner: o, tier: 1}\n", "team"},
        {"services:\n  cart: {owner: o, team: t, tier: 1, colour: red}\n", "colour"},
        {"services:\n  cart: {owner: o, team: t, tier: 1}\n  cart: {owner: o, team: t, tier: 1}\n",
         "services.yaml:3:"},
        {"servces: {}\n", "services.yaml:1:1"},
        {"services: [a, b\n", "services.yaml:"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        errstr[0] = '\0';
        cat = cat_from(bad[i].yaml, errstr, sizeof(errstr));
        assert_null(cat);
        if (strstr(errstr, bad[i].want) == NULL) {
            fail_msg("case %zu: '%s' lacks '%s'", i, errstr, bad[i].want);
        }
    }
    assert_null(enr_catalog_load("/nonexistent/services.yaml", errstr, sizeof(errstr)));
    assert_non_null(strstr(errstr, "/nonexistent/services.yaml"));
}

/* ---- deploys ------------------------------------------------------------------------- */

static int apply_json(struct enr_deploys *d, const char *id, const char *json)
{
    char errstr[256];
    return enr_deploys_apply(d, id, id ? strlen(id) : 0, json, json ? strlen(json) : 0, errstr,
                             sizeof(errstr));
}

static char *deploy_json(const char *service, const char *version, const char *id, const char *at)
{
    static char buf[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof(buf[k]),
             "{\"service\": \"%s\", \"version\": \"%s\", \"deploy_id\": \"%s\", \"commit\": "
             "\"%040d\", \"deployed_at\": \"%s\"}",
             service, version, id, 7, at);
    return buf[k];
}

static int64_t t(const char *rfc3339)
{
    int64_t ns;
    assert_int_equal(enr_time_parse(rfc3339, &ns), 0);
    return ns;
}

static const char *version_at(struct enr_deploys *d, const char *service, int64_t ns)
{
    const struct enr_deploy *dep = enr_deploys_at(d, service, strlen(service), ns);
    return dep ? dep->version : "-";
}

static void test_enricher_time_parse(void **state)
{
    (void)state;
    assert_true(t("1970-01-01T00:00:00Z") == 0);
    assert_true(t("2026-11-27T07:00:00Z") == 1795762800LL * 1000000000LL);
    assert_true(t("2026-11-27T08:00:00.5+01:00") == 1795762800LL * 1000000000LL + 500000000);
    assert_true(t("1795762800000000000") == 1795762800LL * 1000000000LL);
    int64_t ns;
    assert_int_equal(enr_time_parse("2026-13-01T00:00:00Z", &ns), -1);
    assert_int_equal(enr_time_parse("2026-11-27 07:00", &ns), -1);
    assert_int_equal(enr_time_parse("2026-11-27T07:00:00", &ns), -1);
    assert_int_equal(enr_time_parse("yesterday", &ns), -1);
}

static void test_enricher_deploys_as_of(void **state)
{
    (void)state;
    struct enr_deploys *d = enr_deploys_new();
    assert_int_equal(
        apply_json(d, "d-2", deploy_json("cart", "1.1.0", "d-2", "2026-11-27T07:00:00Z")), 1);
    assert_int_equal(
        apply_json(d, "d-1", deploy_json("cart", "1.0.0", "d-1", "2026-11-26T07:00:00Z")), 1);
    assert_int_equal(
        apply_json(d, "d-3", deploy_json("pay", "9.0.0", "d-3", "2026-11-27T06:00:00Z")), 1);
    assert_int_equal(enr_deploys_count(d), 3);
    assert_string_equal(version_at(d, "cart", t("2026-11-26T06:59:59Z")), "-");
    assert_string_equal(version_at(d, "cart", t("2026-11-26T07:00:00Z")), "1.0.0"); /* <= */
    assert_string_equal(version_at(d, "cart", t("2026-11-27T06:59:59.999999999Z")), "1.0.0");
    assert_string_equal(version_at(d, "cart", t("2026-11-27T07:00:00Z")), "1.1.0");
    assert_string_equal(version_at(d, "cart", t("2030-01-01T00:00:00Z")), "1.1.0");
    assert_string_equal(version_at(d, "pay", t("2030-01-01T00:00:00Z")), "9.0.0");
    assert_string_equal(version_at(d, "ship", t("2030-01-01T00:00:00Z")), "-");
    const struct enr_deploy *dep = enr_deploys_at(d, "cart", 4, t("2026-11-28T00:00:00Z"));
    assert_string_equal(dep->deploy_id, "d-2");
    assert_true(dep->deployed_at_ns == t("2026-11-27T07:00:00Z"));

    /* The same record again changes nothing; a changed one replaces (compaction semantics),
     * even when it moves to another service; a tombstone removes. */
    assert_int_equal(
        apply_json(d, "d-2", deploy_json("cart", "1.1.0", "d-2", "2026-11-27T07:00:00Z")), 0);
    assert_int_equal(
        apply_json(d, "d-2", deploy_json("cart", "1.1.1", "d-2", "2026-11-27T07:00:00Z")), 1);
    assert_string_equal(version_at(d, "cart", t("2030-01-01T00:00:00Z")), "1.1.1");
    assert_int_equal(enr_deploys_count(d), 3);
    assert_int_equal(apply_json(d, "d-2", NULL), 1);
    assert_string_equal(version_at(d, "cart", t("2030-01-01T00:00:00Z")), "1.0.0");
    assert_int_equal(apply_json(d, "d-2", NULL), 0);
    assert_int_equal(enr_deploys_count(d), 2);

    /* Invalid records leave the history alone. */
    assert_int_equal(apply_json(d, "d-9", "{\"service\": \"cart\"}"), -1);
    assert_int_equal(apply_json(d, "d-9", "not json"), -1);
    assert_int_equal(apply_json(d, "d-9", deploy_json("cart", "2", "d-8", "2026-11-27T07:00:00Z")),
                     -1);
    assert_int_equal(apply_json(d, "d-9", deploy_json("cart", "2", "d-9", "soon")), -1);
    assert_int_equal(enr_deploys_count(d), 2);
    enr_deploys_destroy(d);
}

/* Two histories fed the same deploys in different orders give the same answers: ties on
 * deployed_at go to the greatest deploy_id, whatever arrived last. */
static void test_enricher_deploys_order_independent(void **state)
{
    (void)state;
    static const char *const recs[][4] = {
        {"cart", "1.0", "d-a", "2026-11-27T07:00:00Z"},
        {"cart", "1.1", "d-b", "2026-11-27T07:00:00Z"},
        {"cart", "1.2", "d-c", "2026-11-27T09:00:00Z"},
        {"cart", "0.9", "d-d", "2026-11-27T05:00:00Z"},
    };
    struct enr_deploys *fwd = enr_deploys_new(), *rev = enr_deploys_new();
    for (size_t i = 0; i < 4; i++) {
        apply_json(fwd, recs[i][2], deploy_json(recs[i][0], recs[i][1], recs[i][2], recs[i][3]));
        size_t j = 3 - i;
        apply_json(rev, recs[j][2], deploy_json(recs[j][0], recs[j][1], recs[j][2], recs[j][3]));
    }
    const char *times[] = {"2026-11-27T04:00:00Z", "2026-11-27T05:00:00Z", "2026-11-27T07:00:00Z",
                           "2026-11-27T08:00:00Z", "2026-11-27T09:00:00Z"};
    const char *want[] = {"-", "0.9", "1.1", "1.1", "1.2"};
    for (size_t i = 0; i < 5; i++) {
        assert_string_equal(version_at(fwd, "cart", t(times[i])), want[i]);
        assert_string_equal(version_at(rev, "cart", t(times[i])), want[i]);
    }
    enr_deploys_destroy(fwd);
    enr_deploys_destroy(rev);
}

/* Avro deploy records (Confluent wire format) through any registered schema with the
 * deploy's fields: commit nullable, deployed_at a long of unix ns. */
static void test_enricher_deploys_avro(void **state)
{
    (void)state;
    static const char avsc[] =
        "{\"type\": \"record\", \"name\": \"Deploy\", \"namespace\": \"io.example\", \"fields\": ["
        "{\"name\": \"service\", \"type\": \"string\"}, {\"name\": \"version\", \"type\": "
        "\"string\"}, {\"name\": \"deploy_id\", \"type\": \"string\"}, {\"name\": \"commit\", "
        "\"type\": [\"null\", \"string\"], \"default\": null}, {\"name\": \"deployed_at\", "
        "\"type\": \"long\"}]}";
    char dir[] = "/tmp/enricher-avro-XXXXXX", path[256], errstr[512];
    assert_non_null(mkdtemp(dir));
    uint64_t fp;
    assert_int_equal(bc_avro_fingerprint(avsc, &fp, NULL, errstr, sizeof(errstr)), 0);
    snprintf(path, sizeof(path), "%s/Deploy.v1.avsc", dir);
    FILE *f = fopen(path, "w");
    fputs(avsc, f);
    fclose(f);
    snprintf(path, sizeof(path), "%s/manifest.json", dir);
    f = fopen(path, "w");
    fprintf(f,
            "{\"schemas\": [{\"subject\": \"Deploy\", \"version\": 1, \"id\": 7, \"file\": "
            "\"Deploy.v1.avsc\", \"fingerprint\": \"%016llx\"}]}\n",
            (unsigned long long)fp);
    fclose(f);
    struct bc_avro_registry *reg = NULL;
    if (bc_avro_registry_load(dir, &reg, errstr, sizeof(errstr)) != 0) {
        fail_msg("%s", errstr);
    }
    const struct bc_avro_schema *schema = bc_avro_registry_lookup(reg, "Deploy");
    avro_value_t v, field, branch;
    assert_int_equal(bc_avro_value_new(schema, &v), 0);
    avro_value_get_by_name(&v, "service", &field, NULL);
    avro_value_set_string(&field, "cart");
    avro_value_get_by_name(&v, "version", &field, NULL);
    avro_value_set_string(&field, "2.0.0");
    avro_value_get_by_name(&v, "deploy_id", &field, NULL);
    avro_value_set_string(&field, "d-avro");
    avro_value_get_by_name(&v, "commit", &field, NULL);
    avro_value_set_branch(&field, 1, &branch);
    avro_value_set_string(&branch, "abc123");
    avro_value_get_by_name(&v, "deployed_at", &field, NULL);
    avro_value_set_long(&field, t("2026-11-27T07:00:00Z"));
    struct bc_avro_buf buf = {0};
    assert_int_equal(bc_avro_encode(schema, &v, &buf, errstr, sizeof(errstr)), 0);

    struct enr_deploys *d = enr_deploys_new();
    /* Without a registry the bytes are not JSON: refused. */
    assert_int_equal(enr_deploys_apply(d, "d-avro", 6, buf.data, buf.len, errstr, sizeof(errstr)),
                     -1);
    enr_deploys_set_registry(d, reg);
    assert_int_equal(enr_deploys_apply(d, "d-avro", 6, buf.data, buf.len, errstr, sizeof(errstr)),
                     1);
    const struct enr_deploy *dep = enr_deploys_at(d, "cart", 4, t("2026-11-27T08:00:00Z"));
    assert_non_null(dep);
    assert_string_equal(dep->version, "2.0.0");
    assert_string_equal(dep->commit, "abc123");
    /* A null commit is a missing field; JSON still works next to Avro. */
    avro_value_get_by_name(&v, "commit", &field, NULL);
    avro_value_set_branch(&field, 0, &branch);
    avro_value_set_null(&branch);
    assert_int_equal(bc_avro_encode(schema, &v, &buf, errstr, sizeof(errstr)), 0);
    assert_int_equal(enr_deploys_apply(d, "d-avro", 6, buf.data, buf.len, errstr, sizeof(errstr)),
                     -1);
    assert_non_null(strstr(errstr, "missing field"));
    assert_int_equal(
        apply_json(d, "d-j", deploy_json("cart", "3.0.0", "d-j", "2026-11-27T07:30:00Z")), 1);
    assert_string_equal(version_at(d, "cart", t("2026-11-27T08:00:00Z")), "3.0.0");
    /* Truncated Avro is refused with a reason. */
    assert_int_equal(enr_deploys_apply(d, "d-avro", 6, buf.data, 7, errstr, sizeof(errstr)), -1);
    assert_non_null(strstr(errstr, "Avro"));
    enr_deploys_destroy(d);
    bc_avro_buf_free(&buf);
    avro_value_decref(&v);
    bc_avro_registry_destroy(reg);
    snprintf(path, sizeof(path), "%s/Deploy.v1.avsc", dir);
    unlink(path);
    snprintf(path, sizeof(path), "%s/manifest.json", dir);
    unlink(path);
    rmdir(dir);
}

/* ---- cardinality --------------------------------------------------------------------- */

/* A fake store: a flat list of entries. */
struct fake_store {
    struct {
        unsigned char key[600];
        size_t key_len;
        unsigned char value[16];
        size_t value_len;
        int64_t ts;
    } e[256];
    size_t n;
    int puts;
};

static int fake_get(void *opaque, const void *key, size_t key_len, const void **value,
                    size_t *value_len)
{
    struct fake_store *fs = opaque;
    for (size_t i = 0; i < fs->n; i++) {
        if (fs->e[i].key_len == key_len && memcmp(fs->e[i].key, key, key_len) == 0) {
            *value = fs->e[i].value;
            *value_len = fs->e[i].value_len;
            return 1;
        }
    }
    return 0;
}

static int fake_put(void *opaque, const void *key, size_t key_len, const void *value,
                    size_t value_len, int64_t ts)
{
    struct fake_store *fs = opaque;
    size_t i = 0;
    while (i < fs->n && !(fs->e[i].key_len == key_len && memcmp(fs->e[i].key, key, key_len) == 0)) {
        i++;
    }
    if (i == fs->n) {
        if (fs->n == 256) {
            return -1;
        }
        fs->n++;
    }
    memcpy(fs->e[i].key, key, key_len);
    fs->e[i].key_len = key_len;
    memcpy(fs->e[i].value, value, value_len);
    fs->e[i].value_len = value_len;
    fs->e[i].ts = ts;
    fs->puts++;
    return 0;
}

static int check(struct enr_card *c, struct fake_store *fs, const char *key, const char *value,
                 int64_t ts)
{
    struct enr_card_store st = {.get = fake_get, .put = fake_put, .opaque = fs};
    return enr_card_check(c, &st, key, value, strlen(value), ts);
}

static void test_enricher_cardinality_cap_and_windows(void **state)
{
    (void)state;
    struct fake_store *fs = calloc(1, sizeof(*fs));
    char *keys[] = {"http.url"};
    struct enr_card c = {.max_values = 2, .window_ms = 60000, .keys = keys, .n_keys = 1};
    assert_true(enr_card_limited(&c, "http.url"));
    assert_false(enr_card_limited(&c, "http.method"));
    assert_int_equal(check(&c, fs, "http.url", "/a", 1000), 1);
    assert_int_equal(check(&c, fs, "http.url", "/b", 2000), 1);
    assert_int_equal(check(&c, fs, "http.url", "/a", 3000), 1); /* seen: no new slot */
    assert_int_equal(check(&c, fs, "http.url", "/c", 4000), 0); /* third distinct: over */
    assert_int_equal(check(&c, fs, "http.url", "/c", 5000), 0);
    assert_int_equal(check(&c, fs, "other", "/c", 5000), 1); /* per key */
    assert_int_equal(c.overflows, 2);
    /* The next window starts empty. */
    assert_int_equal(check(&c, fs, "http.url", "/c", 60000), 1);
    assert_int_equal(check(&c, fs, "http.url", "/d", 61000), 1);
    assert_int_equal(check(&c, fs, "http.url", "/e", 62000), 0);
    /* A late record counts in the key's current window, never reopens an old one. */
    assert_int_equal(check(&c, fs, "http.url", "/f", 59000), 0);
    assert_int_equal(check(&c, fs, "http.url", "/d", 1000), 1);

    /* A restart with the same stored state decides the same: the limiter holds nothing
     * outside the store. */
    struct enr_card again = c;
    again.overflows = 0;
    assert_int_equal(check(&again, fs, "http.url", "/e", 63000), 0);
    assert_int_equal(check(&again, fs, "http.url", "/c", 63000), 1);
    /* Entries carry their window's start as timestamp (for TTL expiry). */
    for (size_t i = 0; i < fs->n; i++) {
        assert_int_equal(fs->e[i].ts % 60000, 0);
    }
    free(fs);
}

static void test_enricher_cardinality_store_full(void **state)
{
    (void)state;
    struct fake_store *fs = calloc(1, sizeof(*fs));
    struct enr_card c = {.max_values = 1000, .window_ms = 1000};
    char v[16];
    int rc = 1;
    for (int i = 0; i < 300 && rc == 1; i++) {
        snprintf(v, sizeof(v), "v%d", i);
        rc = check(&c, fs, "k", v, 0);
    }
    assert_int_equal(rc, -1);
    free(fs);
}

/* ---- the whole transformation of one TrackingEvent ----------------------------------- */

static const char *const pii_yaml =
    "pii:\n"
    "  - {name: cards, keys: ['*.card_number'], action: drop}\n"
    "  - {name: users, keys: [user.id], action: tokenize}\n"
    "  - {name: auth, keys: ['http.request.header.*'], action: drop}\n"
    "  - {name: secrets, keys: ['*.secret'], action: drop, in: all}\n"
    "  - {name: values, detect: [email, card, ip, bearer], action: mask, in: all}\n";

static void event_base(avro_value_t *ev, const char *service)
{
    assert_int_equal(bc_event_clear(ev), 0);
    bc_event_set_string(ev, BC_EV_EVENT_ID, "0123456789abcdef0123456789abcdef", 32);
    bc_event_set_enum(ev, BC_EV_KIND, BC_EVENT_SPAN);
    bc_event_set_string(ev, BC_EV_NAME, "GET /cart", 9);
    bc_event_set_string(ev, BC_EV_SERVICE, service, strlen(service));
    bc_event_set_long(ev, BC_EV_START_TIME_NS, t("2026-11-27T08:00:00Z"));
    bc_event_set_long(ev, BC_EV_END_TIME_NS, t("2026-11-27T08:00:01Z"));
    bc_event_set_source(ev, "tracking.raw", 0, 7, 0);
}

static void attr_str(avro_value_t *kvs, const char *key, const char *value)
{
    avro_value_t any;
    assert_int_equal(bc_event_kv_append(kvs, key, strlen(key), &any), 0);
    assert_int_equal(bc_any_set_string(&any, value, strlen(value)), 0);
}

static int has_bytes(const struct bc_avro_buf *buf, const char *s)
{
    return memmem(buf->data, buf->len, s, strlen(s)) != NULL;
}

static void test_enricher_enrich_event(void **state)
{
    (void)state;
    char errstr[512];
    struct bc_avro_registry *reg = NULL;
    assert_int_equal(bc_avro_registry_load("schemas", &reg, errstr, sizeof(errstr)), 0);
    const struct bc_avro_schema *te = bc_avro_registry_lookup(reg, "TrackingEvent");
    avro_value_t ev;
    assert_int_equal(bc_avro_value_new(te, &ev), 0);

    struct enr_catalog *cat = enr_catalog_load("config/services.yaml", errstr, sizeof(errstr));
    struct enr_deploys *deploys = enr_deploys_new();
    apply_json(deploys, "d-1", deploy_json("cart", "1.0.0", "d-1", "2026-11-27T07:00:00Z"));
    apply_json(deploys, "d-2", deploy_json("cart", "1.1.0", "d-2", "2026-11-27T09:00:00Z"));
    struct bc_errors errs = {0};
    struct bc_yaml *doc = bc_yaml_load_string("pii.yaml", pii_yaml, strlen(pii_yaml), &errs);
    struct pii_rules *pii =
        pii_rules_new(bc_node_get(doc->root, "pii"), "k", 1, errstr, sizeof(errstr));
    assert_non_null(pii);
    char *keys[] = {"http.route"};
    struct enr_card card = {.max_values = 1, .window_ms = 3600000, .keys = keys, .n_keys = 1};
    struct fake_store *fs = calloc(1, sizeof(*fs));
    struct enr_card_store st = {.get = fake_get, .put = fake_put, .opaque = fs};

    struct enr_core core;
    memset(&core, 0, sizeof(core));
    assert_int_equal(enr_core_init(&core, te), 0);
    core.catalog = cat;
    core.deploys = deploys;
    core.pii = pii;
    core.card = &card;

    /* A cart span full of PII. */
    event_base(&ev, "cart");
    avro_value_t attrs, res, any, arr, item, body;
    bc_event_field(&ev, BC_EV_ATTRIBUTES, &attrs);
    attr_str(&attrs, "payment.card_number", "4111111111111111");
    attr_str(&attrs, "user.id", "u-1001");
    attr_str(&attrs, "note", "mail anna.berg42@mail.example from 93.184.216.34");
    attr_str(&attrs, "order.ref", "1234567812345678"); /* fails Luhn: stays */
    attr_str(&attrs, "http.route", "/cart/1");
    bc_event_kv_append(&attrs, "http.request.header.authorization", 33, &any);
    bc_any_set_array(&any, &arr);
    avro_value_append(&arr, &item, NULL);
    bc_any_set_string(&item, "Bearer eyJhbGciOi.eyJzdWIi.c2lnbmF0dXJl", 39);
    bc_event_kv_append(&attrs, "count", 5, &any);
    bc_any_set_long(&any, 378282246310005); /* a card number as a number */
    bc_event_field(&ev, BC_EV_RESOURCE_ATTRIBUTES, &res);
    attr_str(&res, "host.ip", "10.1.2.3");
    bc_event_set_body(&ev, &body);
    bc_any_set_string(&body, "paid with 5555 5555 5555 4444 by x@y.example", 44);

    assert_int_equal(enr_enrich(&core, &ev, 1000, &st, errstr, sizeof(errstr)), 0);
    struct bc_avro_buf buf = {0};
    assert_int_equal(bc_avro_encode(te, &ev, &buf, errstr, sizeof(errstr)), 0);
    static const char *const raw[] = {
        "4111111111111111", "u-1001",   "anna.berg42@mail.example", "93.184.216.34",
        "eyJhbGciOi",       "10.1.2.3", "5555 5555 5555 4444",      "x@y.example"};
    for (size_t i = 0; i < sizeof(raw) / sizeof(raw[0]); i++) {
        if (has_bytes(&buf, raw[i])) {
            fail_msg("'%s' survived", raw[i]);
        }
    }
    assert_true(has_bytes(&buf, "1234567812345678"));
    char token[PII_TOKEN_LEN + 1];
    pii_token("k", 1, "u-1001", 6, token);
    assert_true(has_bytes(&buf, token));
    assert_string_equal(bc_event_get_string(&ev, BC_EV_OWNER, NULL), "fatima@shop.example");
    assert_non_null(bc_event_get_string(&ev, BC_EV_TEAM, NULL));
    assert_non_null(bc_event_get_string(&ev, BC_EV_TIER, NULL));
    assert_int_equal(bc_event_kv_find(&attrs, "payment.card_number", &any), -1);
    assert_int_equal(bc_event_kv_find(&attrs, "http.request.header.authorization", &any), -1);
    assert_int_equal(bc_event_kv_find(&attrs, "count", &any), 0);
    avro_value_t inner;
    assert_int_equal(bc_any_get(&any, &inner), BC_ANY_STRING);
    assert_int_equal(bc_event_kv_find(&res, "catalog.domain", &any), 0);
    assert_true(has_bytes(&buf, "pii_redacted"));
    /* Deploy current at 08:00: d-1. */
    assert_true(has_bytes(&buf, "d-1"));
    assert_false(has_bytes(&buf, "d-2"));
    assert_int_equal(core.counters.deploy_joined, 1);
    assert_int_equal(core.counters.dropped_attrs, 2);
    assert_int_equal(pii->v[0].hits, 1);
    assert_int_equal(pii->v[1].hits, 1);

    /* An unknown service: flagged, counted, never an error; a second route overflows. */
    event_base(&ev, "teleporter");
    bc_event_field(&ev, BC_EV_ATTRIBUTES, &attrs);
    attr_str(&attrs, "http.route", "/cart/2");
    /* Drops inside resource attributes and a kvlist body (regression: rebuilding a nested
     * KeyValue array failed with "Schemas don't match"). */
    bc_event_field(&ev, BC_EV_RESOURCE_ATTRIBUTES, &res);
    attr_str(&res, "db.secret", "hunter2");
    attr_str(&res, "host.name", "h1");
    avro_value_t kvs;
    bc_event_set_body(&ev, &body);
    bc_any_set_kvlist(&body, &kvs);
    attr_str(&kvs, "api.secret", "s3cr3t-value");
    attr_str(&kvs, "msg", "hello");
    assert_int_equal(enr_enrich(&core, &ev, 2000, &st, errstr, sizeof(errstr)), 0);
    assert_int_equal(bc_event_kv_find(&res, "db.secret", &any), -1);
    assert_int_equal(bc_event_kv_find(&res, "host.name", &any), 0);
    assert_int_equal(bc_event_kv_find(&kvs, "api.secret", &any), -1);
    assert_int_equal(bc_event_kv_find(&kvs, "msg", &any), 0);
    assert_int_equal(bc_avro_encode(te, &ev, &buf, errstr, sizeof(errstr)), 0);
    assert_true(has_bytes(&buf, "unknown_service"));
    assert_true(has_bytes(&buf, "cardinality_overflow"));
    assert_true(has_bytes(&buf, ENR_OVERFLOW_VALUE));
    assert_null(bc_event_get_string(&ev, BC_EV_OWNER, NULL));
    assert_int_equal(core.counters.unknown_service, 1);
    assert_int_equal(core.counters.deploy_missing, 1);

    bc_avro_buf_free(&buf);
    enr_core_fini(&core);
    pii_rules_destroy(pii);
    bc_yaml_destroy(doc);
    bc_errors_clear(&errs);
    enr_deploys_destroy(deploys);
    enr_catalog_destroy(cat);
    free(fs);
    avro_value_decref(&ev);
    bc_avro_registry_destroy(reg);
}

/* ---- options (breadcrumb validate) ----------------------------------------------------- */

/* PII rules are checked by the enricher's own compiler, at FILE:LINE:COL. */
static void test_enricher_options_validate(void **state)
{
    (void)state;
    static const char yaml[] =
        "pipeline: shop\n"                                                        /* 1 */
        "topics: {shop.unique: {}, shop.enriched: {}}\n"                          /* 2 */
        "workers:\n"                                                              /* 3 */
        "  enricher:\n"                                                           /* 4 */
        "    input: shop.unique\n"                                                /* 5 */
        "    outputs: {enriched: shop.enriched}\n"                                /* 6 */
        "    options:\n"                                                          /* 7 */
        "      pii:\n"                                                            /* 8 */
        "        - {name: a, detect: [email, phone], action: mask}\n"             /* 9 */
        "        - {name: b, keys: x, action: mask, keep_last: many}\n"           /* 10 */
        "        - {name: c, detect: ip, action: allow}\n"                        /* 11 */
        "        - {name: d, keys: x, action: drop, colour: red}\n"               /* 12 */
        "        - {name: e, keys: ['user.*'], action: tokenize, allow: [u-0]}\n" /* 13 */
        "      cardinality: {max_values: 0}\n";                                   /* 14 */
    struct bc_errors errs = {0};
    struct bc_config *cfg = bc_config_load_string("t.yaml", yaml, sizeof(yaml) - 1, &errs);
    assert_null(cfg);
    static const struct {
        int line, column;
        const char *text;
    } want[] = {
        {9, 29, "detect takes email, card, ipv4, ipv6, ip, bearer"},
        {10, 55, "keep_last must be an integer"},
        {11, 11, "action allow takes keys only"},
        {12, 44, "unknown key 'colour'"},
        {14, 33, "max_values"},
    };
    if (errs.n != sizeof(want) / sizeof(want[0])) {
        bc_errors_print(&errs, stderr);
        fail_msg("%zu errors", errs.n);
    }
    for (size_t i = 0; i < errs.n; i++) {
        if (errs.v[i].line != want[i].line || errs.v[i].column != want[i].column ||
            strstr(errs.v[i].message, want[i].text) == NULL) {
            bc_errors_print(&errs, stderr);
            fail_msg("error %zu: want %d:%d %s", i, want[i].line, want[i].column, want[i].text);
        }
    }
    bc_errors_clear(&errs);
    /* The default topology's enricher is valid, with its changelog as an implicit topic. */
    cfg = bc_config_load("config/topology.yaml", &errs);
    if (cfg == NULL) {
        bc_errors_print(&errs, stderr);
    }
    assert_non_null(cfg);
    assert_non_null(bc_config_topic(cfg, "tracking.enricher.cardinality.changelog"));
    bc_config_destroy(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_enricher_catalog_shop),
        cmocka_unit_test(test_enricher_catalog_edge_cases),
        cmocka_unit_test(test_enricher_time_parse),
        cmocka_unit_test(test_enricher_deploys_as_of),
        cmocka_unit_test(test_enricher_deploys_order_independent),
        cmocka_unit_test(test_enricher_deploys_avro),
        cmocka_unit_test(test_enricher_cardinality_cap_and_windows),
        cmocka_unit_test(test_enricher_cardinality_store_full),
        cmocka_unit_test(test_enricher_options_validate),
        cmocka_unit_test(test_enricher_enrich_event),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
