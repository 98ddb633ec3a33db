/*
 * The generator's engine (gen.h): builds traces of the shop in simulated time, turns them
 * into export records (OTLP span and log exports per service, flat events), injects the
 * faults, schedules every record at its simulated export time and hands them out in time
 * order; records the ground truth as it goes (gen_truth.c serializes it).
 *
 * Ordering invariant: a record is scheduled at or after the start of the trace that made
 * it, and traces start in time order, so once the current trace start is T every record
 * with a time <= T is final and can be emitted.
 */
#include "tools/breadcrumb/gen.h"
#include "tools/breadcrumb/gen_internal.h"
#include "tools/breadcrumb/gen_truth.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#define MAX_SPANS 500

struct pending {
    int64_t at_ns;
    uint64_t seq; /* tie-break: scheduling order */
    enum bc_gen_topic topic;
    enum bc_gen_kind kind;
    char *key;
    char *value;
    size_t len;
    unsigned flags;
    int reason; /* enum gen_reason, or -1 */
    const char *field;
    const char *detail;
    int bad_index;
};

/* Share of span exports that wait for the same service's next trace(s). */
#define GEN_BATCH_SHARE 0.3
/* A batch waits at most this long for more traces (a batch span processor's schedule delay). */
#define GEN_BATCH_WAIT_MS 5000

/* A service SDK's open export batch: spans of 1..want traces, not yet scheduled. */
struct span_batch {
    json_t *spans; /* NULL: no open batch */
    struct gen_idlist ids;
    struct gen_variant v;
    int instance;
    unsigned flags;
    int64_t at; /* export time: the latest of its parts */
    int traces, want;
};

struct service_state {
    int major, minor, patch;
    char version[24];
    int64_t next_deploy_ns;
};

struct trace {
    uint8_t trace_id[16];
    struct gen_span *spans; /* n of them, [0] the root */
    int n;
    struct gen_log *logs;
    int n_logs, cap_logs;
    int error, slow;
    int dropped; /* index of the span never sent, or -1 */
    int late;    /* index of the span sent late, or -1 */
    char session[40];
};

struct bc_gen {
    struct bc_gen_options o;
    struct gen_rng rng;
    int in_use[GEN_MAX_SERVICES];
    int64_t now_ns;
    int64_t traces_started;
    int64_t job_runs; /* background job runs so far (logs outside traces) */
    int stopped;
    struct pending **heap;
    size_t heap_len, heap_cap;
    uint64_t seq;
    int64_t pending_raw;
    int64_t emitted[2]; /* per topic */
    struct pending *current;
    struct service_state svc[GEN_MAX_SERVICES];
    struct span_batch batches[GEN_MAX_SERVICES];
    int64_t deploy_seq;
    struct gen_truth *truth;
};

void bc_gen_options_init(struct bc_gen_options *o)
{
    memset(o, 0, sizeof(*o));
    o->seed = 1;
    o->start_ns = 1795737600LL * 1000000000LL; /* 2026-11-27T00:00:00Z */
    o->records = 0;
    o->traces = 0;
    o->services = 20;
    o->spans_min = 3;
    o->spans_max = 24;
    o->trace_interval_ms = 100;
    o->slow_ms = 2000;
    o->late_ms = 30000;
    o->retry_far_ms = 600000;
    o->deploy_interval_ms = 60000;
    o->max_bytes = 1048576;
    o->error_rate = 0.05;
    o->slow_rate = 0.03;
    o->late_rate = 0.02;
    o->orphan_rate = 0.01;
    o->skew_rate = 0.01;
    o->retry_rate = 0.02;
    o->retry_far_share = 0.25;
    o->dup_rate = 0.05;
    o->pii_rate = 0.05;
    o->bad_rate = 0.02;
    o->bad_span_rate = 0.01;
    o->log_rate = 0.3;
    o->b64_ids_share = 0.15;
    o->enum_names_share = 0.15;
    o->int_numbers_share = 0.15;
}

void bc_gen_event_id(const char *kind, const void *material, size_t len, char out[33])
{
    XXH3_state_t *state = XXH3_createState();
    XXH3_128bits_reset(state);
    XXH3_128bits_update(state, kind, strlen(kind) + 1);
    XXH3_128bits_update(state, material, len);
    XXH128_hash_t hash = XXH3_128bits_digest(state);
    XXH3_freeState(state);
    XXH128_canonical_t canon;
    XXH128_canonicalFromHash(&canon, hash);
    gen_hex(canon.digest, 16, out);
}

/* ---- the schedule: a binary min-heap on (at_ns, seq) ---- */

static int before(const struct pending *a, const struct pending *b)
{
    return a->at_ns < b->at_ns || (a->at_ns == b->at_ns && a->seq < b->seq);
}

static void heap_push(struct bc_gen *g, struct pending *p)
{
    if (g->heap_len == g->heap_cap) {
        g->heap_cap = g->heap_cap ? 2 * g->heap_cap : 1024;
        g->heap = realloc(g->heap, g->heap_cap * sizeof(*g->heap));
    }
    size_t i = g->heap_len++;
    while (i > 0 && before(p, g->heap[(i - 1) / 2])) {
        g->heap[i] = g->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    g->heap[i] = p;
    if (p->topic == BC_GEN_TOPIC_RAW) {
        g->pending_raw++;
    }
}

static struct pending *heap_pop(struct bc_gen *g)
{
    struct pending *top = g->heap[0];
    struct pending *last = g->heap[--g->heap_len];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= g->heap_len) {
            break;
        }
        if (c + 1 < g->heap_len && before(g->heap[c + 1], g->heap[c])) {
            c++;
        }
        if (!before(g->heap[c], last)) {
            break;
        }
        g->heap[i] = g->heap[c];
        i = c;
    }
    if (g->heap_len > 0) {
        g->heap[i] = last;
    }
    if (top->topic == BC_GEN_TOPIC_RAW) {
        g->pending_raw--;
    }
    return top;
}

static void pending_free(struct pending *p)
{
    if (p != NULL) {
        free(p->key);
        free(p->value);
        free(p);
    }
}

/* Schedules a record; steals value and key. */
static struct pending *schedule(struct bc_gen *g, int64_t at_ns, enum bc_gen_topic topic,
                                enum bc_gen_kind kind, char *key, char *value, size_t len,
                                unsigned flags)
{
    struct pending *p = calloc(1, sizeof(*p));
    p->at_ns = at_ns;
    p->seq = g->seq++;
    p->topic = topic;
    p->kind = kind;
    p->key = key;
    p->value = value;
    p->len = len;
    p->flags = flags;
    p->reason = -1;
    p->bad_index = -1;
    heap_push(g, p);
    return p;
}

static struct gen_variant pick_variant(struct bc_gen *g, unsigned *flags)
{
    struct gen_variant v;
    v.b64_ids = gen_rng_chance(&g->rng, g->o.b64_ids_share);
    v.enum_names = gen_rng_chance(&g->rng, g->o.enum_names_share);
    v.int_numbers = gen_rng_chance(&g->rng, g->o.int_numbers_share);
    *flags |= (v.b64_ids ? BC_GEN_F_B64_IDS : 0) | (v.enum_names ? BC_GEN_F_ENUM_NAMES : 0) |
              (v.int_numbers ? BC_GEN_F_INT_NUMBERS : 0);
    return v;
}

/* ---- malformed whole records ---- */

static int pick_service(struct bc_gen *g)
{
    return gen_service_priority[gen_rng_range(&g->rng, 0, g->o.services - 1)];
}

static void schedule_bad(struct bc_gen *g)
{
    /* Oversized records are heavy: one fifth of the weight of every other reason. */
    int64_t r = gen_rng_range(&g->rng, 0, 9 * 10 + 1);
    int reason = R_OVERSIZED;
    if (r > 1) {
        reason = (int)((r - 2) / 10);
        reason += reason >= R_OVERSIZED;
    }
    int is_event = reason != R_INVALID_ENUM && gen_rng_chance(&g->rng, 0.5);
    int service = pick_service(g);
    int64_t at = g->now_ns + gen_rng_range(&g->rng, 0, 2000 * GEN_NS_PER_MS);
    json_t *good = NULL;
    if (is_event) {
        char t[40];
        gen_fmt_rfc3339(at - 5 * GEN_NS_PER_MS, t, sizeof(t));
        good = json_pack("{s:s, s:s, s:s, s:{s:s, s:I}}", "event", "inventory.adjusted", "time", t,
                         "service", gen_services[service].name, "attributes", "sku", "SKU-1042",
                         "delta", (json_int_t)gen_rng_range(&g->rng, -5, 5));
    } else {
        struct gen_variant v = {0, 0, 0};
        uint8_t trace_id[16];
        gen_rng_id(&g->rng, trace_id, 16);
        struct gen_span span = {.parent = -1,
                                .service = service,
                                .kind = KIND_INTERNAL,
                                .start_ns = at - 40 * GEN_NS_PER_MS,
                                .end_ns = at - 10 * GEN_NS_PER_MS};
        gen_rng_id(&g->rng, span.span_id, 8);
        snprintf(span.name, sizeof(span.name), "cache.refresh");
        span.attrs = json_pack("{s:s, s:b}", "cache.name", "products", "cache.hit", 0);
        json_t *spans = json_array();
        json_array_append_new(spans, gen_otlp_span(trace_id, &span, NULL, 0, &v));
        json_decref(span.attrs);
        good = gen_otlp_export(0, service, g->svc[service].version,
                               gen_otlp_resource(service, g->svc[service].version, 0, &v), spans);
    }
    struct gen_bad bad;
    gen_bad_record(&g->rng, reason, good, is_event, g->o.max_bytes, &bad);
    json_decref(good);
    struct pending *p =
        schedule(g, at, BC_GEN_TOPIC_RAW, BC_GEN_KIND_BAD, NULL, bad.value, bad.len, 0);
    p->reason = bad.reason;
    p->field = bad.field;
    p->detail = bad.detail;
    gen_truth_bad_record(g->truth);
}

/* Every good raw record may bring a malformed one along, so that malformed records make
 * bad_rate of all raw records: q / (1 + q) = bad_rate. */
static void maybe_bad(struct bc_gen *g)
{
    double b = g->o.bad_rate;
    double q = b >= 1.0 ? 1e9 : b / (1.0 - b);
    while (q > 0) {
        if (gen_rng_chance(&g->rng, q > 1.0 ? 1.0 : q)) {
            schedule_bad(g);
        }
        q -= 1.0;
    }
}

/* ---- deploys ---- */

static void deploy(struct bc_gen *g, int service, int64_t at_ns)
{
    struct service_state *s = &g->svc[service];
    int64_t r = gen_rng_range(&g->rng, 0, 99);
    if (s->version[0] == '\0') {
        s->major = 1;
        s->minor = (int)gen_rng_range(&g->rng, 0, 12);
        s->patch = (int)gen_rng_range(&g->rng, 0, 9);
    } else if (r < 3) {
        s->major++;
        s->minor = 0;
        s->patch = 0;
    } else if (r < 25) {
        s->minor++;
        s->patch = 0;
    } else {
        s->patch++;
    }
    snprintf(s->version, sizeof(s->version), "%d.%d.%d", s->major, s->minor, s->patch);
    char deploy_id[24];
    snprintf(deploy_id, sizeof(deploy_id), "d-%06" PRId64, ++g->deploy_seq);
    uint8_t commit_bytes[20];
    gen_rng_id(&g->rng, commit_bytes, sizeof(commit_bytes));
    char commit[41];
    gen_hex(commit_bytes, 20, commit);
    char at[40];
    gen_fmt_rfc3339(at_ns, at, sizeof(at));
    at[19] = 'Z'; /* whole seconds: "2026-11-27T07:00:00Z" */
    at[20] = '\0';
    int64_t at_s_ns = at_ns - at_ns % 1000000000LL;
    json_t *rec =
        json_pack("{s:s, s:s, s:s, s:s, s:s}", "service", gen_services[service].name, "version",
                  s->version, "deploy_id", deploy_id, "commit", commit, "deployed_at", at);
    size_t len;
    char *value = gen_dump(rec, &len);
    json_decref(rec);
    schedule(g, at_s_ns, BC_GEN_TOPIC_DEPLOYS, BC_GEN_KIND_DEPLOY, strdup(deploy_id), value, len,
             0);
    gen_truth_deploy(g->truth, gen_services[service].name);
}

static void deploys_due(struct bc_gen *g)
{
    int64_t mean = g->o.deploy_interval_ms * GEN_NS_PER_MS;
    for (int i = 0; i < g->o.services; i++) {
        int svc = gen_service_priority[i];
        while (g->svc[svc].next_deploy_ns <= g->now_ns) {
            deploy(g, svc, g->svc[svc].next_deploy_ns);
            g->svc[svc].next_deploy_ns += gen_rng_range(&g->rng, mean / 2, mean * 3 / 2);
        }
    }
}

/* ---- building a trace ---- */

enum journey { J_BROWSE, J_SEARCH, J_CART, J_CHECKOUT, J_LOGIN, J_REVIEW, JOURNEYS };

static const struct {
    const char *root; /* frontend route */
    const char *method;
    const char *api; /* gateway route */
    int weight;
    int spine[5]; /* services after frontend and gateway, -1 terminated */
} journeys[JOURNEYS] = {
    [J_BROWSE] = {"/product/{id}",
                  "GET",
                  "/api/products/{id}",
                  30,
                  {SVC_CATALOG, SVC_PRICING, SVC_CURRENCY, -1}},
    [J_SEARCH] = {"/search", "GET", "/api/search", 20, {SVC_SEARCH, SVC_CATALOG, -1}},
    [J_CART] = {"/cart", "POST", "/api/cart/items", 20, {SVC_CART, SVC_PRICING, -1}},
    [J_CHECKOUT] =
        {"/checkout", "POST", "/api/checkout", 15, {SVC_CHECKOUT, SVC_PAYMENT, SVC_FRAUD, -1}},
    [J_LOGIN] = {"/login", "POST", "/api/login", 10, {SVC_AUTH, SVC_USER, -1}},
    [J_REVIEW] = {"/product/{id}/reviews",
                  "GET",
                  "/api/reviews",
                  5,
                  {SVC_CATALOG, SVC_REVIEW, SVC_USER, -1}},
};

static const char *const user_agents[] = {
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "shop-android/4.12.0 okhttp/4.12.0",
};

/* Puts one PII value into the span's attributes; the truth gets it when the span is sent. */
static void add_pii_attr(struct bc_gen *g, struct gen_span *s)
{
    char *value = s->pii_value;
    size_t cap = sizeof(s->pii_value);
    switch (gen_rng_range(&g->rng, 0, 3)) {
    case 0:
        gen_pii_email(&g->rng, value, cap);
        json_object_set_new(s->attrs, "user.email", json_string(value));
        s->pii_kind = "email";
        break;
    case 1:
        gen_pii_ip(&g->rng, value, cap);
        json_object_set_new(s->attrs, "client.address", json_string(value));
        s->pii_kind = "ip";
        break;
    case 2: {
        gen_pii_token(&g->rng, value, cap);
        char header[300];
        snprintf(header, sizeof(header), "Bearer %s", value);
        json_object_set_new(s->attrs, "http.request.header.authorization",
                            json_pack("[s]", header));
        s->pii_kind = "bearer_token";
        break;
    }
    default:
        gen_pii_card(&g->rng, value, cap, 0);
        json_object_set_new(s->attrs, "payment.card_number", json_string(value));
        s->pii_kind = "card";
        break;
    }
}

static struct gen_span *new_span(struct bc_gen *g, struct trace *t, int parent, int service,
                                 int kind, const char *name)
{
    struct gen_span *s = &t->spans[t->n++];
    memset(s, 0, sizeof(*s));
    gen_rng_id(&g->rng, s->span_id, 8);
    s->parent = parent;
    s->service = service;
    s->kind = kind;
    snprintf(s->name, sizeof(s->name), "%s", name);
    s->attrs = json_object();
    if (parent >= 0) {
        t->spans[parent].children++;
    }
    return s;
}

static void rpc_attrs(struct gen_span *s, int callee, const char *method)
{
    const struct gen_service_info *info = &gen_services[callee];
    json_object_set_new(s->attrs, "rpc.system", json_string("grpc"));
    json_object_set_new(s->attrs, "rpc.service", json_string(info->rpc));
    json_object_set_new(s->attrs, "rpc.method", json_string(method));
    if (s->kind == KIND_CLIENT) {
        json_object_set_new(s->attrs, "server.address", json_string(info->name));
        json_object_set_new(s->attrs, "server.port", json_integer(8080));
    } else {
        json_object_set_new(s->attrs, "rpc.grpc.status_code", json_integer(0));
    }
}

/* Attributes that make each service look like itself, across every AnyValue type. */
static void service_attrs(struct bc_gen *g, struct gen_span *s)
{
    json_t *a = s->attrs;
    switch (s->service) {
    case SVC_CART: {
        int n = (int)gen_rng_range(&g->rng, 1, 4);
        json_t *items = json_array();
        for (int i = 0; i < n; i++) {
            char sku[16];
            snprintf(sku, sizeof(sku), "SKU-%04d", (int)gen_rng_range(&g->rng, 1, 2000));
            json_array_append_new(items, json_string(sku));
        }
        json_object_set_new(a, "cart.item_ids", items);
        json_object_set_new(a, "cart.item_count", json_integer(n));
        break;
    }
    case SVC_PRICING:
        json_object_set_new(a, "pricing.discount_ratio",
                            json_real((double)gen_rng_range(&g->rng, 0, 40) / 100.0));
        break;
    case SVC_SHIPPING: {
        static const char *const cities[] = {"Berlin", "Lyon", "Porto", "Gdansk", "Utrecht"};
        static const char *const countries[] = {"DE", "FR", "PT", "PL", "NL"};
        int c = (int)gen_rng_range(&g->rng, 0, 4);
        json_object_set_new(a, "shipping.destination",
                            json_pack("{s:s, s:s, s:i}", "city", cities[c], "country", countries[c],
                                      "parcels", (int)gen_rng_range(&g->rng, 1, 3)));
        break;
    }
    case SVC_PAYMENT: {
        uint8_t fp[12];
        gen_rng_id(&g->rng, fp, sizeof(fp));
        char b64[24];
        gen_b64(fp, sizeof(fp), b64, sizeof(b64));
        json_object_set_new(a, "payment.fingerprint", json_pack("{s:s}", GEN_BYTES_KEY, b64));
        json_object_set_new(a, "payment.amount",
                            json_real((double)gen_rng_range(&g->rng, 199, 49999) / 100.0));
        json_object_set_new(a, "payment.currency", json_string("EUR"));
        break;
    }
    case SVC_FRAUD:
        json_object_set_new(a, "fraud.score",
                            json_real((double)gen_rng_range(&g->rng, 0, 1000) / 1000.0));
        json_object_set_new(a, "fraud.flagged", json_boolean(gen_rng_chance(&g->rng, 0.02)));
        break;
    case SVC_SEARCH:
        json_object_set_new(a, "search.results", json_integer(gen_rng_range(&g->rng, 0, 120)));
        break;
    case SVC_AUTH:
        json_object_set_new(a, "auth.method", json_string("password"));
        json_object_set_new(a, "auth.success", json_boolean(gen_rng_chance(&g->rng, 0.9)));
        break;
    default:
        break;
    }
}

/* A call from span `from` to service callee: a CLIENT (or PRODUCER) span in the caller and
 * a SERVER (or CONSUMER) span in the callee. Returns the callee's span index. */
static int add_call(struct bc_gen *g, struct trace *t, int from, int callee)
{
    const struct gen_service_info *info = &gen_services[callee];
    int count = 0;
    while (info->ops[count] != NULL) {
        count++;
    }
    const char *method = info->ops[gen_rng_range(&g->rng, 0, count - 1)];
    int async = callee == SVC_NOTIFICATION;
    char name[64];
    if (async) {
        snprintf(name, sizeof(name), "notifications publish");
    } else {
        snprintf(name, sizeof(name), "%s/%s", info->rpc, method);
    }
    int caller = t->spans[from].service;
    struct gen_span *c = new_span(g, t, from, caller, async ? KIND_PRODUCER : KIND_CLIENT, name);
    if (async) {
        json_object_set_new(c->attrs, "messaging.system", json_string("kafka"));
        json_object_set_new(c->attrs, "messaging.destination.name", json_string("notifications"));
        json_object_set_new(c->attrs, "messaging.operation", json_string("publish"));
    } else {
        rpc_attrs(c, callee, method);
    }
    int ci = t->n - 1;
    if (async) {
        snprintf(name, sizeof(name), "notifications process");
    }
    struct gen_span *s = new_span(g, t, ci, callee, async ? KIND_CONSUMER : KIND_SERVER, name);
    if (async) {
        json_object_set_new(s->attrs, "messaging.system", json_string("kafka"));
        json_object_set_new(s->attrs, "messaging.operation", json_string("process"));
    } else {
        rpc_attrs(s, callee, method);
    }
    service_attrs(g, s);
    return t->n - 1;
}

static void add_local(struct bc_gen *g, struct trace *t, int from)
{
    int service = t->spans[from].service;
    const char *db = gen_services[service].db;
    if (db != NULL && gen_rng_chance(&g->rng, 0.7)) {
        char name[64];
        struct gen_span *s;
        if (strcmp(db, "redis") == 0) {
            s = new_span(g, t, from, service, KIND_CLIENT, "GET");
            json_object_set_new(s->attrs, "db.system", json_string("redis"));
            json_object_set_new(s->attrs, "db.operation.name", json_string("GET"));
            json_object_set_new(s->attrs, "cache.hit", json_boolean(gen_rng_chance(&g->rng, 0.8)));
        } else if (strcmp(db, "elasticsearch") == 0) {
            s = new_span(g, t, from, service, KIND_CLIENT, "search products");
            json_object_set_new(s->attrs, "db.system", json_string("elasticsearch"));
            json_object_set_new(s->attrs, "db.operation.name", json_string("search"));
        } else {
            snprintf(name, sizeof(name), "SELECT shop.%s", gen_services[service].name);
            s = new_span(g, t, from, service, KIND_CLIENT, name);
            json_object_set_new(s->attrs, "db.system", json_string(db));
            json_object_set_new(s->attrs, "db.operation.name", json_string("SELECT"));
            snprintf(name, sizeof(name), "SELECT * FROM %s WHERE id = $1",
                     gen_services[service].name);
            json_object_set_new(s->attrs, "db.query.text", json_string(name));
            json_object_set_new(s->attrs, "db.response.returned_rows",
                                json_integer(gen_rng_range(&g->rng, 0, 50)));
        }
        return;
    }
    static const char *const names[] = {"validate request", "render template", "compute totals",
                                        "serialize response", "load feature flags"};
    struct gen_span *s = new_span(g, t, from, service, KIND_INTERNAL, GEN_PICK(&g->rng, names));
    json_object_set_new(s->attrs, "thread.name", json_string("worker-1"));
}

/* Lays out times: each span's children run one after another inside it, a server span just
 * inside its client span. A consumer may outlive its producer. */
static void layout(struct bc_gen *g, struct trace *t, int i)
{
    struct gen_span *s = &t->spans[i];
    int64_t dur = s->end_ns - s->start_ns;
    int k = s->children;
    if (k == 0) {
        return;
    }
    int64_t slot = dur * 9 / 10 / k;
    int j = 0;
    for (int c = i + 1; c < t->n; c++) {
        struct gen_span *ch = &t->spans[c];
        if (ch->parent != i) {
            continue;
        }
        if (s->kind == KIND_CLIENT || s->kind == KIND_PRODUCER) {
            int64_t d = dur / 20 + 1;
            ch->start_ns = s->start_ns + d;
            ch->end_ns = s->kind == KIND_PRODUCER ? ch->start_ns + dur * 3 / 2 : s->end_ns - d;
        } else {
            int64_t begin = s->start_ns + dur / 20 + (int64_t)j * slot;
            ch->start_ns = begin + gen_rng_range(&g->rng, 0, slot / 10);
            ch->end_ns = ch->start_ns + slot * gen_rng_range(&g->rng, 50, 85) / 100 + 1;
        }
        j++;
        layout(g, t, c);
    }
}

static const char *const error_messages[] = {
    "rpc error: code = Unavailable desc = connection refused",
    "context deadline exceeded",
    "card declined: insufficient funds",
    "upstream connect error or disconnect/reset before headers",
    "could not serialize access due to concurrent update",
};

static void make_error(struct bc_gen *g, struct trace *t)
{
    int i = (int)gen_rng_range(&g->rng, 1, t->n - 1);
    const char *message = GEN_PICK(&g->rng, error_messages);
    struct gen_span *leaf = &t->spans[i];
    leaf->status = STATUS_ERROR;
    leaf->status_message = message;
    leaf->events = json_array();
    json_array_append_new(leaf->events,
                          json_pack("{s:s, s:I, s:{s:s, s:s}}", "name", "exception", "time_ns",
                                    (json_int_t)(leaf->end_ns - 1000), "attrs", "exception.type",
                                    "ShopError", "exception.message", message));
    for (int p = leaf->parent; p >= 0; p = t->spans[p].parent) {
        if (!gen_rng_chance(&g->rng, 0.75)) {
            break;
        }
        struct gen_span *s = &t->spans[p];
        s->status = STATUS_ERROR;
        if (json_object_get(s->attrs, "http.response.status_code") != NULL) {
            json_object_set_new(s->attrs, "http.response.status_code", json_integer(503));
        }
        if (json_object_get(s->attrs, "rpc.grpc.status_code") != NULL) {
            json_object_set_new(s->attrs, "rpc.grpc.status_code", json_integer(14));
        }
    }
}

static void http_attrs(struct bc_gen *g, struct gen_span *s, const char *method, const char *route)
{
    json_object_set_new(s->attrs, "http.request.method", json_string(method));
    json_object_set_new(s->attrs, "http.route", json_string(route));
    json_object_set_new(s->attrs, "url.scheme", json_string("https"));
    json_object_set_new(s->attrs, "http.response.status_code", json_integer(200));
    if (s->service == SVC_FRONTEND) {
        json_object_set_new(s->attrs, "user_agent.original",
                            json_string(GEN_PICK(&g->rng, user_agents)));
    }
}

static void build_spans(struct bc_gen *g, struct trace *t, int journey)
{
    int target = (int)gen_rng_range(&g->rng, g->o.spans_min, g->o.spans_max);
    char name[64];
    snprintf(name, sizeof(name), "%s %s", journeys[journey].method, journeys[journey].root);
    struct gen_span *root = new_span(g, t, -1, SVC_FRONTEND, KIND_SERVER, name);
    http_attrs(g, root, journeys[journey].method, journeys[journey].root);
    int cur = 0;
    /* The spine: frontend -> gateway -> the journey's services, while they are in use. */
    int spine[8] = {SVC_GATEWAY};
    int len = 1;
    for (int i = 0; journeys[journey].spine[i] >= 0; i++) {
        spine[len++] = journeys[journey].spine[i];
    }
    for (int i = 0; i < len && t->n + 2 <= target && g->in_use[spine[i]]; i++) {
        if (spine[i] == SVC_GATEWAY) {
            snprintf(name, sizeof(name), "%s %s", journeys[journey].method, journeys[journey].api);
            struct gen_span *c = new_span(g, t, cur, SVC_FRONTEND, KIND_CLIENT, name);
            json_object_set_new(c->attrs, "http.request.method",
                                json_string(journeys[journey].method));
            json_object_set_new(c->attrs, "server.address", json_string("gateway"));
            struct gen_span *s = new_span(g, t, t->n - 1, SVC_GATEWAY, KIND_SERVER, name);
            http_attrs(g, s, journeys[journey].method, journeys[journey].api);
            cur = t->n - 1;
        } else {
            cur = add_call(g, t, cur, spine[i]);
        }
    }
    /* The rest: calls to the services' callees and local work, anywhere in the tree. */
    while (t->n < target) {
        int from;
        do {
            from = (int)gen_rng_range(&g->rng, 0, t->n - 1);
        } while (t->spans[from].kind != KIND_SERVER && t->spans[from].kind != KIND_CONSUMER);
        const int *callees = gen_services[t->spans[from].service].callees;
        int usable[8];
        int nu = 0;
        for (int i = 0; callees[i] >= 0; i++) {
            if (g->in_use[callees[i]]) {
                usable[nu++] = callees[i];
            }
        }
        int call = gen_rng_chance(&g->rng, 0.6);
        if (call && nu > 0 && t->n + 2 <= target) {
            add_call(g, t, from, usable[gen_rng_range(&g->rng, 0, nu - 1)]);
        } else {
            add_local(g, t, from);
        }
    }
    for (int i = 0; i < t->n; i++) {
        struct gen_span *s = &t->spans[i];
        if (s->kind == KIND_SERVER && s->status == STATUS_UNSET && gen_rng_chance(&g->rng, 0.1)) {
            s->status = STATUS_OK;
        }
        s->pii = gen_rng_chance(&g->rng, g->o.pii_rate);
        if (s->pii) {
            add_pii_attr(g, s);
        }
    }
}

/* ---- logs ---- */

/*
 * Two logs of one span may get the same body and the same time; without log.record.uid the
 * normalizer identifies a log by its content, so it would see one log where the truth counts
 * two. Moves the new log (the last of t->logs) 1 ns later until no other log of its span has
 * its time: distinct logs always differ in content, deterministically.
 */
static void unique_log_time(const struct trace *t, struct gen_log *l)
{
    for (int i = 0; i < t->n_logs; i++) {
        const struct gen_log *o = &t->logs[i];
        if (o != l && o->time_ns == l->time_ns && memcmp(o->span_id, l->span_id, 8) == 0) {
            l->time_ns++;
            i = -1; /* check again from the first */
        }
    }
}

static void add_log(struct bc_gen *g, struct trace *t, int si)
{
    struct gen_span *s = &t->spans[si];
    if (t->n_logs == t->cap_logs) {
        t->cap_logs = t->cap_logs ? 2 * t->cap_logs : 16;
        t->logs = realloc(t->logs, (size_t)t->cap_logs * sizeof(*t->logs));
    }
    struct gen_log *l = &t->logs[t->n_logs++];
    memset(l, 0, sizeof(*l));
    memcpy(l->span_id, s->span_id, 8);
    l->service = s->service;
    l->time_ns = s->start_ns + (s->end_ns - s->start_ns) * gen_rng_range(&g->rng, 1, 99) / 100;
    unique_log_time(t, l);
    l->attrs = json_object();
    int64_t r = gen_rng_range(&g->rng, 0, 99);
    char body[400];
    const char *svc = gen_services[s->service].name;
    if (s->status == STATUS_ERROR) {
        l->severity = 17;
        snprintf(body, sizeof(body), "%s failed: %s", s->name,
                 s->status_message != NULL ? s->status_message : "upstream error");
        json_object_set_new(l->attrs, "exception.type", json_string("ShopError"));
    } else if (r < 10) {
        l->severity = 13;
        snprintf(body, sizeof(body), "slow response from %s dependency, retrying", svc);
    } else if (r < 15) {
        l->severity = 5;
        snprintf(body, sizeof(body), "cache lookup for %s took %d us", svc,
                 (int)gen_rng_range(&g->rng, 3, 900));
    } else {
        l->severity = 9;
        snprintf(body, sizeof(body), "handled %s", s->name);
    }
    l->pii = gen_rng_chance(&g->rng, g->o.pii_rate);
    if (l->pii) {
        char value[256];
        size_t n = strlen(body);
        switch (gen_rng_range(&g->rng, 0, 3)) {
        case 0:
            gen_pii_email(&g->rng, value, sizeof(value));
            snprintf(body + n, sizeof(body) - n, " for customer %s", value);
            gen_truth_pii(g->truth, "email", value);
            break;
        case 1:
            gen_pii_card(&g->rng, value, sizeof(value), 1);
            snprintf(body + n, sizeof(body) - n, " (card %s)", value);
            gen_truth_pii(g->truth, "card", value);
            break;
        case 2:
            gen_pii_ip(&g->rng, value, sizeof(value));
            snprintf(body + n, sizeof(body) - n, " from %s", value);
            gen_truth_pii(g->truth, "ip", value);
            break;
        default:
            gen_pii_token(&g->rng, value, sizeof(value));
            snprintf(body + n, sizeof(body) - n, " with Authorization: Bearer %s", value);
            gen_truth_pii(g->truth, "bearer_token", value);
            break;
        }
    }
    if (gen_rng_chance(&g->rng, 0.1)) {
        l->body = json_pack("{s:s, s:s}", "message", body, "logger", svc);
    } else {
        l->body = json_string(body);
    }
    json_object_set_new(l->attrs, "code.function", json_string(s->name));
    if (s->service == SVC_AUTH) {
        int ok = s->status != STATUS_ERROR && gen_rng_chance(&g->rng, 0.8);
        json_object_set_new(l->attrs, "security.event",
                            json_string(ok ? "login.success" : "login.failure"));
        l->security = 1;
    }
    if (gen_rng_chance(&g->rng, 0.5)) {
        uint8_t uid[16];
        gen_rng_id(&g->rng, uid, sizeof(uid));
        char hex[33];
        gen_hex(uid, 16, hex);
        char uuid[40];
        snprintf(uuid, sizeof(uuid), "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8, hex + 12, hex + 16,
                 hex + 20);
        json_object_set_new(l->attrs, "log.record.uid", json_string(uuid));
        l->has_uid = 1;
    }
}

/* ---- exports ---- */

/* Schedules an OTLP export (and maybe its retry); ids are the event ids it carries. */
static void schedule_export(struct bc_gen *g, int64_t at, enum bc_gen_kind kind, json_t *export,
                            unsigned flags, struct gen_idlist *ids, int64_t unidentified,
                            const struct gen_bad *bad, int bad_index)
{
    size_t len;
    char *value = gen_dump(export, &len);
    struct pending *p = schedule(g, at, BC_GEN_TOPIC_RAW, kind, NULL, value, len, flags);
    if (bad != NULL) {
        p->reason = bad->reason;
        p->field = bad->field;
        p->detail = bad->detail;
        p->bad_index = bad_index;
    }
    gen_truth_good_record(g->truth);
    maybe_bad(g);
    if (bad != NULL) {
        return; /* not retried: one DeadLetter per bad span, whatever the copies */
    }
    if (!gen_rng_chance(&g->rng, g->o.retry_rate)) {
        return;
    }
    int far = gen_rng_chance(&g->rng, g->o.retry_far_share);
    int64_t delay =
        far ? g->o.retry_far_ms * GEN_NS_PER_MS + gen_rng_range(&g->rng, 0, 60000 * GEN_NS_PER_MS)
            : gen_rng_range(&g->rng, 1000 * GEN_NS_PER_MS, 30000 * GEN_NS_PER_MS);
    char *copy = malloc(len + 1);
    memcpy(copy, value, len + 1);
    schedule(g, at + delay, BC_GEN_TOPIC_RAW, kind, NULL, copy, len,
             flags | BC_GEN_F_RETRY | (far ? BC_GEN_F_FAR_RETRY : 0));
    gen_truth_retry(g->truth, kind == BC_GEN_KIND_SPANS, ids, unidentified);
    maybe_bad(g);
}

/* Schedules a service's open batch (spans of several traces) as one export. */
static void flush_batch(struct bc_gen *g, int service)
{
    struct span_batch *b = &g->batches[service];
    if (b->spans == NULL) {
        return;
    }
    const char *version = g->svc[service].version;
    json_t *export = gen_otlp_export(
        0, service, version, gen_otlp_resource(service, version, b->instance, &b->v), b->spans);
    b->spans = NULL;
    schedule_export(g, b->at > g->now_ns ? b->at : g->now_ns, BC_GEN_KIND_SPANS, export, b->flags,
                    &b->ids, 0, NULL, -1);
    json_decref(export);
    gen_idlist_free(&b->ids);
}

static void flush_batches(struct bc_gen *g)
{
    for (int svc = 0; svc < GEN_MAX_SERVICES; svc++) {
        flush_batch(g, svc);
    }
}

/* One span export: spans idx[0..n) of one service; skew and bad span as the dice say. Some
 * exports wait in the service's batch for the spans of the service's next trace(s), as a
 * batch span processor exports whatever ended since its last export. */
static void export_spans(struct bc_gen *g, struct trace *t, const int *idx, int n, int64_t at,
                         unsigned flags, int instance)
{
    int service = t->spans[idx[0]].service;
    int has_root = 0;
    for (int i = 0; i < n; i++) {
        has_root |= idx[i] == 0;
    }
    int64_t skew = 0;
    /* The root's host keeps good time, so that trace durations stay true. */
    if (!has_root && gen_rng_chance(&g->rng, g->o.skew_rate)) {
        skew = gen_rng_range(&g->rng, 30000, 300000) * GEN_NS_PER_MS;
        flags |= BC_GEN_F_SKEWED;
    }
    int bad_span = gen_rng_chance(&g->rng, g->o.bad_span_rate);
    int batch = gen_rng_chance(&g->rng, GEN_BATCH_SHARE) && skew == 0 && !bad_span &&
                !(flags & BC_GEN_F_LATE);
    struct span_batch *b = &g->batches[service];
    if (batch && b->spans != NULL && at > b->at + GEN_BATCH_WAIT_MS * GEN_NS_PER_MS) {
        flush_batch(g, service); /* its schedule delay passed: it went out alone */
    }
    struct gen_variant v;
    if (batch && b->spans != NULL) {
        v = b->v; /* the same SDK: the same encoding and host */
        instance = b->instance;
    } else {
        v = pick_variant(g, &flags);
    }
    json_t *spans = json_array();
    struct gen_idlist ids = {0};
    char hex[33];
    for (int i = 0; i < n; i++) {
        const struct gen_span *s = &t->spans[idx[i]];
        const struct gen_span *parent = s->parent >= 0 ? &t->spans[s->parent] : NULL;
        json_array_append_new(spans, gen_otlp_span(t->trace_id, s, parent, skew, &v));
        uint8_t material[24];
        memcpy(material, t->trace_id, 16);
        memcpy(material + 16, s->span_id, 8);
        bc_gen_event_id("span", material, 24, hex);
        gen_idlist_add_hex(&ids, hex);
        if (s->pii) {
            flags |= BC_GEN_F_PII;
            gen_truth_pii(g->truth, s->pii_kind, s->pii_value);
        }
    }
    gen_truth_spans(g->truth, &ids);
    if (skew != 0) {
        gen_truth_skewed(g->truth, t->trace_id, &ids, skew / GEN_NS_PER_MS);
    }
    if (batch) {
        if (b->spans == NULL) {
            b->spans = spans;
            b->v = v;
            b->instance = instance;
            b->flags = flags;
            b->at = at;
            b->traces = 1;
            b->want = (int)gen_rng_range(&g->rng, 2, 4);
            b->ids = ids;
            return;
        }
        json_array_extend(b->spans, spans);
        json_decref(spans);
        for (size_t i = 0; i < ids.len; i++) {
            gen_idlist_add_hex(&b->ids, ids.hex[i]);
        }
        gen_idlist_free(&ids);
        b->flags |= flags;
        b->at = at > b->at ? at : b->at;
        if (++b->traces >= b->want) {
            flush_batch(g, service);
        }
        return;
    }
    struct gen_bad bad;
    int bad_index = -1;
    if (bad_span) {
        struct gen_span extra = {.parent = idx[0], .service = service, .kind = KIND_INTERNAL};
        gen_rng_id(&g->rng, extra.span_id, 8);
        snprintf(extra.name, sizeof(extra.name), "cache.lookup");
        extra.start_ns = t->spans[idx[0]].start_ns;
        extra.end_ns = extra.start_ns + 1000;
        extra.attrs = json_pack("{s:s}", "cache.name", "sessions");
        json_t *span = gen_otlp_span(t->trace_id, &extra, &t->spans[idx[0]], skew, &v);
        json_decref(extra.attrs);
        gen_bad_span(&g->rng, span, &bad);
        bad_index = (int)gen_rng_range(&g->rng, 0, n);
        json_array_insert_new(spans, (size_t)bad_index, span);
        flags |= BC_GEN_F_BAD_SPAN;
        gen_truth_bad_span(g->truth);
    }
    const char *version = g->svc[service].version;
    json_t *export = gen_otlp_export(0, service, version,
                                     gen_otlp_resource(service, version, instance, &v), spans);
    schedule_export(g, at, BC_GEN_KIND_SPANS, export, flags, &ids, 0, bad_index >= 0 ? &bad : NULL,
                    bad_index);
    json_decref(export);
    gen_idlist_free(&ids);
}

static void export_logs(struct bc_gen *g, struct trace *t, int service, int instance)
{
    unsigned flags = 0;
    struct gen_variant v = pick_variant(g, &flags);
    json_t *logs = json_array();
    struct gen_idlist ids = {0};
    int64_t unidentified = 0;
    int64_t last = 0;
    for (int i = 0; i < t->n_logs; i++) {
        struct gen_log *l = &t->logs[i];
        if (l->service != service) {
            continue;
        }
        json_array_append_new(logs, gen_otlp_log(t->trace_id, l, &v));
        flags |= l->pii ? BC_GEN_F_PII : 0;
        last = l->time_ns > last ? l->time_ns : last;
        char hex[33];
        if (l->has_uid) {
            const char *uid = json_string_value(json_object_get(l->attrs, "log.record.uid"));
            bc_gen_event_id("log", uid, strlen(uid), hex);
            gen_idlist_add_hex(&ids, hex);
        } else {
            unidentified++;
        }
        gen_truth_log(g->truth, l->has_uid ? hex : NULL, l->security);
    }
    if (json_array_size(logs) == 0) {
        json_decref(logs);
        return;
    }
    const char *version = g->svc[service].version;
    json_t *export = gen_otlp_export(1, service, version,
                                     gen_otlp_resource(service, version, instance, &v), logs);
    int64_t at = last + gen_rng_range(&g->rng, 100, 3000) * GEN_NS_PER_MS;
    schedule_export(g, at, BC_GEN_KIND_LOGS, export, flags, &ids, unidentified, NULL, -1);
    json_decref(export);
    gen_idlist_free(&ids);
}

/* Logs outside any trace (jobs, health checks): one export of 1-3 log records. */
static void background_logs(struct bc_gen *g)
{
    static const char *const jobs[] = {"cache warm-up", "stale session sweep", "price feed sync",
                                       "outbox relay", "index refresh"};
    int service = pick_service(g);
    unsigned flags = 0;
    struct gen_variant v = pick_variant(g, &flags);
    json_t *logs = json_array();
    struct gen_idlist ids = {0};
    int64_t unidentified = 0;
    int64_t at = g->now_ns;
    int n = (int)gen_rng_range(&g->rng, 1, 3);
    /* The scheduler's run number tells this run's logs from any other run's; within the run,
     * no two logs share a time (1 ns apart at least). */
    int64_t run = ++g->job_runs;
    int64_t times[3];
    for (int i = 0; i < n; i++) {
        struct gen_log l = {.service = service};
        l.time_ns = at + gen_rng_range(&g->rng, 0, 900) * GEN_NS_PER_MS;
        for (int j = 0; j < i; j++) {
            if (times[j] == l.time_ns) {
                l.time_ns++;
                j = -1;
            }
        }
        times[i] = l.time_ns;
        l.severity = gen_rng_chance(&g->rng, 0.2) ? 13 : 9;
        char body[300];
        snprintf(body, sizeof(body), "%s finished in %d ms", GEN_PICK(&g->rng, jobs),
                 (int)gen_rng_range(&g->rng, 1, 5000));
        l.pii = gen_rng_chance(&g->rng, g->o.pii_rate);
        if (l.pii) {
            char email[128];
            gen_pii_email(&g->rng, email, sizeof(email));
            size_t len = strlen(body);
            snprintf(body + len, sizeof(body) - len, ", notified %s", email);
            gen_truth_pii(g->truth, "email", email);
            flags |= BC_GEN_F_PII;
        }
        l.body = json_string(body);
        l.attrs = json_pack("{s:s, s:I}", "code.function", "scheduler.run", "job.run",
                            (json_int_t)run);
        char hex[33];
        if (gen_rng_chance(&g->rng, 0.5)) {
            uint8_t uid[16];
            gen_rng_id(&g->rng, uid, sizeof(uid));
            char uid_hex[33];
            gen_hex(uid, 16, uid_hex);
            json_object_set_new(l.attrs, "log.record.uid", json_string(uid_hex));
            bc_gen_event_id("log", uid_hex, 32, hex);
            gen_idlist_add_hex(&ids, hex);
            l.has_uid = 1;
        } else {
            unidentified++;
        }
        gen_truth_log(g->truth, l.has_uid ? hex : NULL, 0);
        json_array_append_new(logs, gen_otlp_log(NULL, &l, &v));
        json_decref(l.body);
        json_decref(l.attrs);
    }
    const char *version = g->svc[service].version;
    json_t *export =
        gen_otlp_export(1, service, version, gen_otlp_resource(service, version, 0, &v), logs);
    schedule_export(g, at + GEN_NS_PER_MS * 1000, BC_GEN_KIND_LOGS, export, flags, &ids,
                    unidentified, NULL, -1);
    json_decref(export);
    gen_idlist_free(&ids);
}

/* ---- flat events ---- */

static json_t *event_time(struct bc_gen *g, int64_t ns)
{
    int64_t r = gen_rng_range(&g->rng, 0, 9);
    if (r < 6) {
        char buf[40];
        gen_fmt_rfc3339(ns, buf, sizeof(buf));
        return json_string(buf);
    }
    if (r < 8) {
        return json_integer((json_int_t)ns);
    }
    char buf[24];
    snprintf(buf, sizeof(buf), "%" PRId64, ns);
    return json_string(buf);
}

/* Schedules one flat event of the span's service, tied to the span. */
static void emit_event(struct bc_gen *g, struct trace *t, int si, const char *name, json_t *attrs,
                       int pii, int64_t at_ns, unsigned flags)
{
    struct gen_span *s = &t->spans[si];
    json_t *event = json_object();
    json_object_set_new(event, "event", json_string(name));
    json_object_set_new(event, "time", event_time(g, at_ns));
    json_object_set_new(event, "service", json_string(gen_services[s->service].name));
    char hex[33];
    gen_hex(t->trace_id, 16, hex);
    json_object_set_new(event, "trace_id", json_string(hex));
    gen_hex(s->span_id, 8, hex);
    json_object_set_new(event, "span_id", json_string(hex));
    json_object_set_new(event, "correlation_id", json_string(t->session));
    json_object_set(event, "attributes", attrs);
    size_t len;
    char *value = gen_dump(event, &len);
    json_decref(event);
    int64_t export_at = at_ns + gen_rng_range(&g->rng, 5, 2000) * GEN_NS_PER_MS;
    schedule(g, export_at, BC_GEN_TOPIC_RAW, BC_GEN_KIND_EVENT, strdup(t->session), value, len,
             flags | (pii ? BC_GEN_F_PII : 0));
    gen_truth_good_record(g->truth);
    maybe_bad(g);
}

static void make_events(struct bc_gen *g, struct trace *t, int journey)
{
    for (int i = 0; i < t->n; i++) {
        struct gen_span *s = &t->spans[i];
        if (i == t->dropped || s->kind != KIND_SERVER) {
            continue;
        }
        int pii = gen_rng_chance(&g->rng, g->o.pii_rate);
        char value[256];
        json_t *attrs = NULL;
        if (s->service == SVC_PAYMENT && journey == J_CHECKOUT) {
            uint8_t key[12];
            gen_rng_id(&g->rng, key, sizeof(key));
            char hex[25];
            gen_hex(key, sizeof(key), hex);
            char ikey[32];
            snprintf(ikey, sizeof(ikey), "ch_%s", hex);
            attrs = json_pack("{s:s, s:I, s:s, s:s, s:s}", "idempotency_key", ikey, "amount_cents",
                              (json_int_t)gen_rng_range(&g->rng, 199, 49999), "currency",
                              gen_rng_chance(&g->rng, 0.8) ? "EUR" : "USD", "order_id",
                              t->session + 5, "card_last4", "4242");
            if (pii) {
                gen_pii_email(&g->rng, value, sizeof(value));
                json_object_set_new(attrs, "customer_email", json_string(value));
                gen_truth_pii(g->truth, "email", value);
            }
            char id[33];
            bc_gen_event_id("event", ikey, strlen(ikey), id);
            gen_truth_event(g->truth, id, GEN_SINK_BILLING);
            emit_event(g, t, i, "billing.charge", attrs, pii, s->end_ns - 1000, 0);
            if (gen_rng_chance(&g->rng, g->o.dup_rate)) {
                int64_t later = gen_rng_range(&g->rng, 500, 30000) * GEN_NS_PER_MS;
                emit_event(g, t, i, "billing.charge", attrs, pii, s->end_ns + later,
                           BC_GEN_F_DUPLICATE);
                gen_truth_event_dup(g->truth, id);
            }
        } else if (s->service == SVC_AUTH && journey == J_LOGIN) {
            attrs = json_pack("{s:s, s:b, s:s, s:s}", "user_id", t->session + 5, "success",
                              s->status != STATUS_ERROR, "method", "password", "user_agent",
                              GEN_PICK(&g->rng, user_agents));
            /* A login always records where it came from: the client IP (PII); with PII
             * chosen, also the email the user typed. */
            gen_pii_ip(&g->rng, value, sizeof(value));
            json_object_set_new(attrs, "ip", json_string(value));
            gen_truth_pii(g->truth, "ip", value);
            if (pii) {
                gen_pii_email(&g->rng, value, sizeof(value));
                json_object_set_new(attrs, "login_email", json_string(value));
                gen_truth_pii(g->truth, "email", value);
            }
            gen_truth_event(g->truth, NULL, GEN_SINK_SECURITY);
            emit_event(g, t, i, "user.login", attrs, 1, s->end_ns - 1000, 0);
        } else if (s->service == SVC_CHECKOUT && journey == J_CHECKOUT) {
            attrs = json_pack("{s:s, s:i, s:I}", "order_id", t->session + 5, "item_count",
                              (int)gen_rng_range(&g->rng, 1, 6), "total_cents",
                              (json_int_t)gen_rng_range(&g->rng, 199, 99999));
            if (pii) {
                gen_pii_email(&g->rng, value, sizeof(value));
                json_object_set_new(attrs, "customer_email", json_string(value));
                gen_truth_pii(g->truth, "email", value);
            }
            gen_truth_event(g->truth, NULL, GEN_SINK_DEFAULT);
            emit_event(g, t, i, "order.placed", attrs, pii, s->end_ns - 1000, 0);
        } else if (s->service == SVC_CART && journey == J_CART) {
            char sku[16];
            snprintf(sku, sizeof(sku), "SKU-%04d", (int)gen_rng_range(&g->rng, 1, 2000));
            attrs = json_pack("{s:s, s:i}", "product_id", sku, "quantity",
                              (int)gen_rng_range(&g->rng, 1, 3));
            gen_truth_event(g->truth, NULL, GEN_SINK_DEFAULT);
            emit_event(g, t, i, "cart.item_added", attrs, 0, s->end_ns - 1000, 0);
        } else if (s->service == SVC_SEARCH && journey == J_SEARCH) {
            static const char *const queries[] = {"running shoes", "espresso machine",
                                                  "usb-c cable", "winter jacket", "desk lamp"};
            attrs = json_pack("{s:s, s:I}", "query", GEN_PICK(&g->rng, queries), "results",
                              (json_int_t)gen_rng_range(&g->rng, 0, 120));
            gen_truth_event(g->truth, NULL, GEN_SINK_DEFAULT);
            emit_event(g, t, i, "search.performed", attrs, 0, s->end_ns - 1000, 0);
        }
        json_decref(attrs);
    }
}

/* ---- one whole trace ---- */

static void trace_free(struct trace *t)
{
    for (int i = 0; i < t->n; i++) {
        json_decref(t->spans[i].attrs);
        json_decref(t->spans[i].events);
    }
    for (int i = 0; i < t->n_logs; i++) {
        json_decref(t->logs[i].body);
        json_decref(t->logs[i].attrs);
    }
    free(t->spans);
    free(t->logs);
}

static int pick_journey(struct bc_gen *g)
{
    int total = 0;
    for (int j = 0; j < JOURNEYS; j++) {
        total += journeys[j].weight;
    }
    int64_t r = gen_rng_range(&g->rng, 0, total - 1);
    for (int j = 0; j < JOURNEYS; j++) {
        if (r < journeys[j].weight) {
            return j;
        }
        r -= journeys[j].weight;
    }
    return 0;
}

static void generate_trace(struct bc_gen *g)
{
    struct trace t = {0};
    t.spans = calloc((size_t)g->o.spans_max + 1, sizeof(*t.spans));
    t.dropped = -1;
    t.late = -1;
    gen_rng_id(&g->rng, t.trace_id, 16);
    uint8_t session[8];
    gen_rng_id(&g->rng, session, sizeof(session));
    char hex[17];
    gen_hex(session, 8, hex);
    snprintf(t.session, sizeof(t.session), "sess-%s", hex);
    int journey = pick_journey(g);
    build_spans(g, &t, journey);

    t.slow = gen_rng_chance(&g->rng, g->o.slow_rate);
    int64_t slow = g->o.slow_ms * GEN_NS_PER_MS;
    t.spans[0].start_ns = g->now_ns;
    t.spans[0].end_ns =
        g->now_ns + (t.slow ? gen_rng_range(&g->rng, slow * 5 / 4, slow * 6)
                            : gen_rng_range(&g->rng, 5 * GEN_NS_PER_MS, slow * 3 / 4));
    layout(g, &t, 0);
    t.error = gen_rng_chance(&g->rng, g->o.error_rate) && t.n > 1;
    if (t.error) {
        make_error(g, &t);
    }
    /* Orphans: one span with children is never sent (its SDK lost the export). */
    if (gen_rng_chance(&g->rng, g->o.orphan_rate)) {
        int cand[MAX_SPANS];
        int nc = 0;
        for (int i = 1; i < t.n; i++) {
            if (t.spans[i].children > 0) {
                cand[nc++] = i;
            }
        }
        if (nc > 0) {
            t.dropped = cand[gen_rng_range(&g->rng, 0, nc - 1)];
        }
    }
    if (gen_rng_chance(&g->rng, g->o.late_rate) && t.n > 1) {
        int i = (int)gen_rng_range(&g->rng, 1, t.n - 1);
        if (i != t.dropped) {
            t.late = i;
        }
    }
    for (int i = 0; i < t.n; i++) {
        if (i != t.dropped && gen_rng_chance(&g->rng, g->o.log_rate)) {
            add_log(g, &t, i);
            if (t.spans[i].status == STATUS_ERROR || gen_rng_chance(&g->rng, 0.3)) {
                add_log(g, &t, i);
            }
        }
    }

    /* Span exports: per service, sometimes split in two; the late span alone, last. */
    int64_t last_export = 0;
    int *idx = calloc((size_t)t.n, sizeof(int));
    for (int svc = 0; svc < GEN_MAX_SERVICES; svc++) {
        int n = 0;
        int64_t end = 0;
        for (int i = 0; i < t.n; i++) {
            if (t.spans[i].service == svc && i != t.dropped && i != t.late) {
                idx[n++] = i;
            }
        }
        int instance = (int)gen_rng_range(&g->rng, 0, 2);
        if (t.n_logs > 0) {
            export_logs(g, &t, svc, instance);
        }
        if (n == 0) {
            continue;
        }
        int split =
            n >= 2 && gen_rng_chance(&g->rng, 0.3) ? (int)gen_rng_range(&g->rng, 1, n - 1) : n;
        for (int part = 0; part < 2; part++) {
            int from = part == 0 ? 0 : split;
            int to = part == 0 ? split : n;
            if (from >= to) {
                continue;
            }
            for (int i = from; i < to; i++) {
                int64_t e = t.spans[idx[i]].end_ns;
                end = e > end ? e : end;
            }
            int64_t at = end + gen_rng_range(&g->rng, 100, 5000) * GEN_NS_PER_MS;
            last_export = at > last_export ? at : last_export;
            export_spans(g, &t, idx + from, to - from, at, 0, instance);
        }
    }
    if (t.late >= 0) {
        int64_t at = last_export + g->o.late_ms * GEN_NS_PER_MS;
        export_spans(g, &t, &t.late, 1, at, BC_GEN_F_LATE, 0);
        gen_truth_late(g->truth, t.trace_id, t.spans[t.late].span_id,
                       (at - t.spans[0].end_ns) / GEN_NS_PER_MS);
    }
    free(idx);
    make_events(g, &t, journey);

    /* Truth about the trace as a whole, over the spans actually sent. */
    if (t.error || t.slow || t.dropped >= 0) {
        json_t *span_ids = json_array();
        json_t *orphans = json_array();
        for (int i = 0; i < t.n; i++) {
            gen_hex(t.spans[i].span_id, 8, hex);
            if (i != t.dropped) {
                json_array_append_new(span_ids, json_string(hex));
            }
            if (t.dropped >= 0 && t.spans[i].parent == t.dropped) {
                json_array_append_new(orphans, json_string(hex));
            }
        }
        /* An error trace whose failing spans were all lost (the orphan fault) shows no
         * error to anyone: it is not a must-keep error trace. */
        int error_sent = 0;
        for (int i = 0; i < t.n; i++) {
            error_sent |= i != t.dropped && t.spans[i].status == STATUS_ERROR;
        }
        gen_truth_trace(g->truth, t.trace_id, error_sent, t.slow,
                        (t.spans[0].end_ns - t.spans[0].start_ns) / GEN_NS_PER_MS, span_ids,
                        t.dropped >= 0 ? t.spans[t.dropped].span_id : NULL, orphans);
        json_decref(span_ids);
        json_decref(orphans);
    }
    gen_truth_trace_count(g->truth);
    gen_truth_trace_spans(g->truth, t.trace_id, t.n - (t.dropped >= 0));
    trace_free(&t);
    if (gen_rng_chance(&g->rng, 0.05)) {
        background_logs(g);
    }
}

/* ---- the public API ---- */

struct bc_gen *bc_gen_new(const struct bc_gen_options *opts, char *errstr, size_t errstr_size)
{
    const struct bc_gen_options *o = opts;
    const char *bad = NULL;
    if (o->services < 10 || o->services > GEN_MAX_SERVICES) {
        bad = "services must be between 10 and 20";
    } else if (o->spans_min < 1 || o->spans_max < o->spans_min || o->spans_max > MAX_SPANS) {
        bad = "spans-min must be >= 1 and <= spans-max <= 500";
    } else if (o->trace_interval_ms < 1 || o->slow_ms < 1 || o->late_ms < 0 ||
               o->retry_far_ms < 0 || o->deploy_interval_ms < 1000 || o->max_bytes < 1024) {
        bad = "a duration or size option is out of range";
    } else if (o->records < 0 || o->traces < 0) {
        bad = "records and traces must not be negative";
    }
    const double rates[] = {o->error_rate,      o->slow_rate,        o->late_rate,
                            o->orphan_rate,     o->skew_rate,        o->retry_rate,
                            o->retry_far_share, o->dup_rate,         o->pii_rate,
                            o->bad_rate,        o->bad_span_rate,    o->log_rate,
                            o->b64_ids_share,   o->enum_names_share, o->int_numbers_share};
    for (size_t i = 0; i < sizeof(rates) / sizeof(rates[0]) && bad == NULL; i++) {
        if (!(rates[i] >= 0.0 && rates[i] <= 1.0)) {
            bad = "rates and shares must be between 0 and 1";
        }
    }
    if (o->bad_rate >= 1.0 && bad == NULL) {
        bad = "bad-rate must be below 1";
    }
    if (bad != NULL) {
        snprintf(errstr, errstr_size, "%s", bad);
        return NULL;
    }
    struct bc_gen *g = calloc(1, sizeof(*g));
    g->o = *opts;
    g->rng.seed = opts->seed;
    g->now_ns = opts->start_ns;
    g->truth = gen_truth_new(opts);
    for (int i = 0; i < opts->services; i++) {
        g->in_use[gen_service_priority[i]] = 1;
    }
    /* Every service in use was deployed before the start, and deploys again later. */
    int64_t mean = opts->deploy_interval_ms * GEN_NS_PER_MS;
    for (int i = 0; i < opts->services; i++) {
        int svc = gen_service_priority[i];
        int64_t before = gen_rng_range(&g->rng, 3600, 48 * 3600) * 1000000000LL;
        deploy(g, svc, opts->start_ns - before);
        g->svc[svc].next_deploy_ns =
            opts->start_ns + gen_rng_range(&g->rng, mean / 2, mean * 3 / 2);
    }
    return g;
}

static int limit_reached(const struct bc_gen *g)
{
    if (g->o.records > 0 && g->emitted[BC_GEN_TOPIC_RAW] + g->pending_raw >= g->o.records) {
        return 1;
    }
    return g->o.traces > 0 && g->traces_started >= g->o.traces;
}

int bc_gen_next(struct bc_gen *g, struct bc_gen_record *rec)
{
    pending_free(g->current);
    g->current = NULL;
    for (;;) {
        if (g->heap_len > 0 && (g->stopped || g->heap[0]->at_ns <= g->now_ns)) {
            struct pending *p = heap_pop(g);
            g->current = p;
            memset(rec, 0, sizeof(*rec));
            rec->topic = p->topic;
            rec->kind = p->kind;
            rec->key = p->key;
            rec->value = (const unsigned char *)p->value;
            rec->value_len = p->len;
            rec->timestamp_ms = p->at_ns / GEN_NS_PER_MS;
            rec->index = g->emitted[p->topic]++;
            rec->flags = p->flags;
            rec->reason = p->reason >= 0 ? gen_reason_names[p->reason] : NULL;
            rec->field = p->field;
            rec->detail = p->detail;
            rec->bad_index = p->bad_index;
            if (p->topic == BC_GEN_TOPIC_RAW) {
                gen_truth_emitted(g->truth, rec);
            }
            return 1;
        }
        if (g->stopped) {
            if (g->heap_len > 0) {
                continue;
            }
            return 0;
        }
        if (limit_reached(g)) {
            bc_gen_stop(g);
            continue;
        }
        if (g->traces_started > 0) {
            g->now_ns += gen_rng_range(&g->rng, 0, 2 * g->o.trace_interval_ms * GEN_NS_PER_MS);
        }
        deploys_due(g);
        generate_trace(g);
        g->traces_started++;
    }
}

void bc_gen_stop(struct bc_gen *g)
{
    if (!g->stopped) {
        g->stopped = 1;
        flush_batches(g);
    }
}

int64_t bc_gen_raw_count(const struct bc_gen *g)
{
    return g->emitted[BC_GEN_TOPIC_RAW];
}

json_t *bc_gen_truth(struct bc_gen *g)
{
    return gen_truth_json(g->truth);
}

void bc_gen_destroy(struct bc_gen *g)
{
    if (g == NULL) {
        return;
    }
    pending_free(g->current);
    for (int svc = 0; svc < GEN_MAX_SERVICES; svc++) {
        json_decref(g->batches[svc].spans);
        gen_idlist_free(&g->batches[svc].ids);
    }
    for (size_t i = 0; i < g->heap_len; i++) {
        pending_free(g->heap[i]);
    }
    free(g->heap);
    gen_truth_destroy(g->truth);
    free(g);
}
