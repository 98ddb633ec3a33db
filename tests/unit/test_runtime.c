/*
 * The runtime loop in-process against librdkafka's mock cluster, with error injection.
 *
 * The mock never stores transactional offsets and shows aborted data to read_committed
 * readers (KAFKA.md), so these tests assert what the runtime does (commits, aborts,
 * rewinds to the committed offset, re-processing, dead letters, exit codes), not
 * exactly-once output; that is the integration tests' job on breadcrumb-broker.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <inttypes.h>
#include <pthread.h>
#include <unistd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bc_avro.h"
#include "bc_log.h"
#include "bc_runtime.h"
#include "mock_cluster.h"

extern const struct bc_worker_type bc_deduplicator_type;

/* Kafka API keys (librdkafka keeps its RD_KAFKAP_* names private). */
enum { API_PRODUCE = 0, API_INIT_PRODUCER_ID = 22, API_ADD_PARTITIONS_TO_TXN = 24,
       API_ADD_OFFSETS_TO_TXN = 25, API_END_TXN = 26 };

#define PARTITIONS 2
#define RECORDS 200

#define fixture mock_cluster

/* What the test stages saw. */
struct seen {
    int64_t last_offset[PARTITIONS];
    int went_back[PARTITIONS]; /* an offset was delivered again after a later one */
    int64_t first_after_back[PARTITIONS];
    int processed;
    int restored_keys; /* count stage: keys found in the store at assignment */
    uint64_t restored_total;
};

static struct seen seen;
static pthread_mutex_t seen_lock = PTHREAD_MUTEX_INITIALIZER; /* two instances in a test */

static void seen_reset(void)
{
    memset(&seen, 0, sizeof(seen));
    for (int i = 0; i < PARTITIONS; i++) {
        seen.last_offset[i] = -1;
        seen.first_after_back[i] = -1;
    }
}

static void seen_record(const struct bc_record *rec)
{
    int32_t p = bc_record_partition(rec);
    int64_t o = bc_record_offset(rec);
    pthread_mutex_lock(&seen_lock);
    if (o <= seen.last_offset[p] && !seen.went_back[p]) {
        seen.went_back[p] = 1;
        seen.first_after_back[p] = o;
    }
    seen.last_offset[p] = o;
    seen.processed++;
    pthread_mutex_unlock(&seen_lock);
}

static int copy_process(struct bc_ctx *ctx, const struct bc_record *rec)
{
    seen_record(rec);
    size_t key_len, value_len;
    const void *key = bc_record_key(rec, &key_len);
    const void *value = bc_record_value(rec, &value_len);
    if (value_len == 6 && memcmp(value, "poison", 6) == 0) {
        return BC_RETRY;
    }
    if (value_len >= 4 && memcmp(value, "drop", 4) == 0) {
        return bc_drop(ctx, rec, "filtered");
    }
    return bc_emit(ctx, rec, "out", key, key_len, value, value_len, NULL);
}

static const struct bc_stage copy_stage = {.name = "copy", .process = copy_process};

static int count_init(struct bc_ctx *ctx)
{
    /* The store is the instance's own (its ctx state): two instances run side by side in
     * the rebalance test, and a store is written by its runtime's thread only. */
    struct bc_store *store = bc_store_open(ctx, "counts", NULL);
    bc_ctx_set_state(ctx, store);
    return store != NULL ? BC_OK : BC_FATAL;
}

static int count_visit(void *opaque, const void *key, size_t key_len, const void *value,
                       size_t value_len, int64_t ts)
{
    (void)opaque;
    (void)key;
    (void)key_len;
    (void)ts;
    uint64_t n;
    assert_int_equal(value_len, sizeof(n));
    memcpy(&n, value, sizeof(n));
    pthread_mutex_lock(&seen_lock);
    seen.restored_keys++;
    seen.restored_total += n;
    pthread_mutex_unlock(&seen_lock);
    return 0;
}

static int count_assigned(struct bc_ctx *ctx, int32_t partition)
{
    bc_store_foreach(bc_ctx_state(ctx), partition, count_visit, NULL);
    return BC_OK;
}

static int count_process(struct bc_ctx *ctx, const struct bc_record *rec)
{
    seen_record(rec);
    struct bc_store *store = bc_ctx_state(ctx);
    size_t key_len;
    const void *key = bc_record_key(rec, &key_len);
    int32_t partition = bc_record_partition(rec);
    uint64_t n = 0;
    const void *value;
    size_t value_len;
    if (bc_store_get(store, partition, key, key_len, &value, &value_len, NULL) == 1) {
        memcpy(&n, value, sizeof(n));
    }
    n++;
    assert_int_equal(bc_store_put(store, partition, key, key_len, &n, sizeof(n),
                                  bc_record_timestamp(rec)),
                     0);
    char text[24];
    int len = snprintf(text, sizeof(text), "%" PRIu64, n);
    return bc_emit(ctx, rec, "out", key, key_len, text, (size_t)len, NULL);
}

static const struct bc_stage count_stage = {
    .name = "count", .init = count_init, .assigned = count_assigned, .process = count_process};

/* ---- fixture -------------------------------------------------------------------------- */

static int setup(void **state)
{
    static struct fixture fx;
    if (mock_cluster_start(&fx) != 0) {
        return -1;
    }
    seen_reset();
    *state = &fx;
    return 0;
}

static int teardown(void **state)
{
    mock_cluster_stop(*state);
    return 0;
}

/* Creates the topics of one test, prefixed so tests share no state. */
static void topics_create(struct fixture *fx, const char *prefix)
{
    static const char *const names[] = {"in", "out", "p.fates", "p.dlq", "p.w.counts.changelog"};
    mock_topics_create(fx, prefix, names, sizeof(names) / sizeof(names[0]), PARTITIONS);
}

/* Produces RECORDS records "v<i>" with keys "k<i % 10>"; value_of(i) may override. */
static void produce_input(struct fixture *fx, const char *topic, const char *(*value_of)(int))
{
    rd_kafka_t *p = mock_producer_new(fx, topic);
    for (int i = 0; i < RECORDS; i++) {
        char key[16], value[32];
        int key_len = snprintf(key, sizeof(key), "k%d", i % 10);
        const char *v = value_of != NULL ? value_of(i) : NULL;
        int value_len = v ? snprintf(value, sizeof(value), "%s", v)
                          : snprintf(value, sizeof(value), "v%d", i);
        assert_int_equal(rd_kafka_producev(p, RD_KAFKA_V_TOPIC(topic),
                                           RD_KAFKA_V_PARTITION(i % PARTITIONS),
                                           RD_KAFKA_V_KEY(key, (size_t)key_len),
                                           RD_KAFKA_V_VALUE(value, (size_t)value_len),
                                           RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                           RD_KAFKA_V_END),
                         0);
    }
    mock_producer_finish(p);
}

/* Reads a whole topic (read_uncommitted: the mock shows everything anyway). Calls fn per
 * record when not NULL; returns the count. */
static int consume_all(struct fixture *fx, const char *topic,
                       void (*fn)(const rd_kafka_message_t *msg))
{
    return mock_consume_all(fx, topic, PARTITIONS, fn);
}

static const char *schemas_dir; /* set by a test that wants Avro fates and dead letters */

static struct bc_runtime *runtime_new(struct fixture *fx, const struct bc_stage *stage,
                                      const char *prefix, int max_attempts)
{
    static char in[64], out[80], dlq[64], fates[64], pipeline[64];
    static const char *inputs[1], *outputs[1];
    snprintf(in, sizeof(in), "%sin", prefix);
    snprintf(out, sizeof(out), "out=%sout", prefix);
    snprintf(dlq, sizeof(dlq), "%sp.dlq", prefix);
    snprintf(fates, sizeof(fates), "%sp.fates", prefix);
    snprintf(pipeline, sizeof(pipeline), "%sp", prefix);
    inputs[0] = in;
    outputs[0] = out;
    struct bc_runtime_settings s = {
        .pipeline = pipeline,
        .worker = "w",
        .instance = "i1",
        .brokers = fx->brokers,
        .inputs = inputs,
        .input_count = 1,
        .outputs = outputs,
        .output_count = 1,
        .dlq_topic = dlq,
        .fates_topic = fates,
        .commit_interval_ms = 50,
        .max_batch = 20,
        .max_attempts = max_attempts,
        .schemas_dir = schemas_dir,
    };
    s.kafka = mock_kafka_settings(&s.kafka_count);
    char errstr[256];
    struct bc_runtime *rt = bc_runtime_new(stage, &s, errstr, sizeof(errstr));
    if (rt == NULL) {
        fail_msg("bc_runtime_new: %s", errstr);
    }
    return rt;
}

/* Stop once `target` records were processed in committed transactions. */
static int until_committed(void *opaque, const struct bc_runtime *rt)
{
    struct bc_runtime_stats st;
    bc_runtime_stats(rt, &st);
    return st.committed >= *(uint64_t *)opaque;
}

static int run_until(struct bc_runtime *rt, uint64_t committed)
{
    struct bc_runtime_hooks hooks = {.until = until_committed, .opaque = &committed,
                                     .timeout_ms = 60000};
    return bc_runtime_run(rt, &hooks);
}

/* ---- tests ---------------------------------------------------------------------------- */

static void test_runtime_copies_and_commits(void **state)
{
    struct fixture *fx = *state;
    topics_create(fx, "t1.");
    produce_input(fx, "t1.in", NULL);
    struct bc_runtime *rt = runtime_new(fx, &copy_stage, "t1.", 3);
    assert_int_equal(run_until(rt, RECORDS), BC_EXIT_OK);
    struct bc_runtime_stats st;
    bc_runtime_stats(rt, &st);
    bc_runtime_destroy(rt);
    assert_int_equal(st.processed, RECORDS);
    assert_int_equal(st.committed, RECORDS);
    assert_int_equal(st.emitted, RECORDS);
    assert_int_equal(st.aborts, 0);
    assert_true(st.commits >= RECORDS / 20);
    assert_int_equal(consume_all(fx, "t1.out", NULL), RECORDS);
}

static void check_lineage(const rd_kafka_message_t *msg)
{
    rd_kafka_headers_t *hdrs;
    assert_int_equal(rd_kafka_message_headers(msg, &hdrs), 0);
    const void *v;
    size_t len;
    assert_int_equal(rd_kafka_header_get_last(hdrs, "bc.worker", &v, &len), 0);
    assert_memory_equal(v, "t2.p.w", len);
    assert_int_equal(rd_kafka_header_get_last(hdrs, "bc.config_hash", &v, &len), 0);
    assert_int_equal(len, 16);
    assert_int_equal(rd_kafka_header_get_last(hdrs, "bc.src", &v, &len), 0);
    char src[64];
    snprintf(src, sizeof(src), "%.*s", (int)len, (const char *)v);
    assert_true(strncmp(src, "t2.in:", 6) == 0);
}

static const char *drop_every_tenth(int i)
{
    return i % 10 == 3 ? "drop-me" : NULL;
}

static void test_runtime_lineage_headers_and_fates(void **state)
{
    struct fixture *fx = *state;
    topics_create(fx, "t2.");
    produce_input(fx, "t2.in", drop_every_tenth);
    struct bc_runtime *rt = runtime_new(fx, &copy_stage, "t2.", 3);
    assert_int_equal(run_until(rt, RECORDS), BC_EXIT_OK);
    struct bc_runtime_stats st;
    bc_runtime_stats(rt, &st);
    bc_runtime_destroy(rt);
    assert_int_equal(st.fates, RECORDS / 10);
    assert_int_equal(consume_all(fx, "t2.out", check_lineage), RECORDS - RECORDS / 10);
    assert_int_equal(consume_all(fx, "t2.p.fates", NULL), RECORDS / 10);
}

/* An abortable error must abort, rewind to the committed offset and re-process. */

static void run_abortable(struct fixture *fx, const char *prefix, int16_t api,
                          rd_kafka_resp_err_t err)
{
    char in[64];
    topics_create(fx, prefix);
    snprintf(in, sizeof(in), "%sin", prefix);
    produce_input(fx, in, NULL);
    seen_reset();
    rd_kafka_mock_push_request_errors(fx->mock, api, 1, err);
    struct bc_runtime *rt = runtime_new(fx, &copy_stage, prefix, 3);
    assert_int_equal(run_until(rt, RECORDS), BC_EXIT_OK);
    struct bc_runtime_stats st;
    bc_runtime_stats(rt, &st);
    bc_runtime_destroy(rt);
    assert_int_equal(st.aborts, 1);
    assert_int_equal(st.rewinds, 1);
    assert_int_equal(st.committed, RECORDS);
    assert_true(st.processed > RECORDS);
    /* The aborted batch was delivered again from the committed offset. The mock stores no
     * transactional offsets, so "committed" is the runtime's own record of its commits, and
     * before the first commit the beginning of the partition. */
    assert_true(seen.processed > RECORDS);
    assert_true(seen.went_back[0] || seen.went_back[1]);
    for (int p = 0; p < PARTITIONS; p++) {
        if (seen.went_back[p]) {
            assert_true(seen.first_after_back[p] >= 0);
        }
    }
}

static void test_runtime_abortable_produce_error_rewinds(void **state)
{
    /* KIP-360: an unknown producer id on Produce makes the transaction abortable. */
    run_abortable(*state, "t3.", API_PRODUCE, RD_KAFKA_RESP_ERR_UNKNOWN_PRODUCER_ID);
}

static void test_runtime_abortable_add_partitions_error_rewinds(void **state)
{
    run_abortable(*state, "t4.", API_ADD_PARTITIONS_TO_TXN,
                  RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED);
}

/* Commit overlap: the next records are processed while a transaction commits, their
 * writes waiting in the runtime. When that commit fails, they are dropped with it, never
 * produced, and processed again after the rewind. */
static void test_runtime_failed_overlapped_commit_drops_waiting_writes(void **state)
{
    struct fixture *fx = *state;
    topics_create(fx, "t16.");
    produce_input(fx, "t16.in", NULL);
    seen_reset();
    /* The first AddOffsetsToTxn answers after 500 ms with an abortable error: records go
     * on being processed meanwhile. */
    rd_kafka_mock_broker_push_request_error_rtts(fx->mock, 1, API_ADD_OFFSETS_TO_TXN, 1,
                                                 RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED,
                                                 500);
    struct bc_runtime *rt = runtime_new(fx, &copy_stage, "t16.", 3);
    assert_int_equal(run_until(rt, RECORDS), BC_EXIT_OK);
    struct bc_runtime_stats st;
    bc_runtime_stats(rt, &st);
    bc_runtime_destroy(rt);
    assert_int_equal(st.aborts, 1);
    assert_int_equal(st.rewinds, 1);
    assert_true(st.waiting_dropped > 0);
    assert_true(st.overlapped >= st.waiting_dropped);
    assert_int_equal(st.committed, RECORDS);
    assert_true(seen.went_back[0] || seen.went_back[1]);
    /* Produced: what of the aborted transaction had been sent (the mock shows aborted
     * records; librdkafka purges the unsent ones on abort), then each record once; never the
     * dropped waiting writes, which would make the sum exceed the records processed. */
    int produced = consume_all(fx, "t16.out", NULL);
    assert_true((uint64_t)produced + st.waiting_dropped <= st.processed);
    assert_true(produced >= RECORDS);
}

static void test_runtime_fenced_on_end_txn_exits(void **state)
{
    struct fixture *fx = *state;
    topics_create(fx, "t5.");
    produce_input(fx, "t5.in", NULL);
    rd_kafka_mock_push_request_errors(fx->mock, API_END_TXN, 1,
                                      RD_KAFKA_RESP_ERR_PRODUCER_FENCED);
    struct bc_runtime *rt = runtime_new(fx, &copy_stage, "t5.", 3);
    assert_int_equal(run_until(rt, RECORDS), BC_EXIT_FENCED);
    struct bc_runtime_stats st;
    bc_runtime_stats(rt, &st);
    bc_runtime_destroy(rt);
    assert_int_equal(st.commits, 0);
    assert_true(st.processed < RECORDS);
}

static void test_runtime_fenced_on_init_exits(void **state)
{
    struct fixture *fx = *state;
    topics_create(fx, "t6.");
    rd_kafka_mock_push_request_errors(fx->mock, API_INIT_PRODUCER_ID, 1,
                                      RD_KAFKA_RESP_ERR_PRODUCER_FENCED);
    struct bc_runtime *rt = runtime_new(fx, &copy_stage, "t6.", 3);
    assert_int_equal(run_until(rt, RECORDS), BC_EXIT_FENCED);
    bc_runtime_destroy(rt);
}

static const char *one_poison(int i)
{
    return i == 57 ? "poison" : NULL;
}

static int dlq_records;

static void check_dead_letter(const rd_kafka_message_t *msg)
{
    rd_kafka_headers_t *hdrs;
    const void *v;
    size_t len;
    assert_int_equal(rd_kafka_message_headers(msg, &hdrs), 0);
    assert_int_equal(rd_kafka_header_get_last(hdrs, "bc.dlq.reason", &v, &len), 0);
    assert_memory_equal(v, "max_attempts", len);
    assert_int_equal(rd_kafka_header_get_last(hdrs, "bc.src", &v, &len), 0);
    assert_memory_equal(v, "t7.in:1:28", len); /* record 57 is the 29th on partition 1 */
    assert_int_equal(msg->len, 6);
    assert_memory_equal(msg->payload, "poison", 6);
    dlq_records++;
}

static void test_runtime_poison_record_reaches_dlq(void **state)
{
    struct fixture *fx = *state;
    topics_create(fx, "t7.");
    produce_input(fx, "t7.in", one_poison);
    seen_reset();
    struct bc_runtime *rt = runtime_new(fx, &copy_stage, "t7.", 2);
    assert_int_equal(run_until(rt, RECORDS), BC_EXIT_OK);
    struct bc_runtime_stats st;
    bc_runtime_stats(rt, &st);
    bc_runtime_destroy(rt);
    assert_int_equal(st.retries, 2);  /* two failed deliveries ... */
    assert_int_equal(st.rewinds, 2);  /* ... each aborted and rewound ... */
    assert_int_equal(st.dead_letters, 1); /* ... then the DLQ, and the stream went on */
    assert_int_equal(st.committed, RECORDS);
    dlq_records = 0;
    assert_int_equal(consume_all(fx, "t7.p.dlq", check_dead_letter), 1);
    assert_int_equal(dlq_records, 1);
}

static int changelog_wrong_partition;

static void check_changelog(const rd_kafka_message_t *msg)
{
    /* Keys k0..k9 were produced to partition i % 2 with i % 10 == key number, so key kN
     * lives on input partition N % 2: its changelog record must be on the same partition. */
    int key = ((const char *)msg->key)[1] - '0';
    if (key % PARTITIONS != msg->partition) {
        changelog_wrong_partition++;
    }
}

static void test_runtime_store_changelog_and_restore(void **state)
{
    struct fixture *fx = *state;
    topics_create(fx, "t8.");
    produce_input(fx, "t8.in", NULL);
    seen_reset();
    struct bc_runtime *rt = runtime_new(fx, &count_stage, "t8.", 3);
    assert_int_equal(run_until(rt, RECORDS), BC_EXIT_OK);
    bc_runtime_destroy(rt);
    assert_int_equal(seen.restored_keys, 0);
    changelog_wrong_partition = 0;
    /* Write-back: one changelog record per key changed in a transaction (10 keys), not one
     * per update. */
    int logged = consume_all(fx, "t8.p.w.counts.changelog", check_changelog);
    assert_true(logged >= 10);
    assert_true(logged < RECORDS);
    assert_int_equal(changelog_wrong_partition, 0);

    /* A new instance restores the counts from the changelog before processing. The mock
     * forgets transactional offsets, so it then re-processes from the start: stop after
     * the first record. */
    seen_reset();
    rt = runtime_new(fx, &count_stage, "t8.", 3);
    assert_int_equal(run_until(rt, 1), BC_EXIT_OK);
    struct bc_runtime_stats st;
    bc_runtime_stats(rt, &st);
    bc_runtime_destroy(rt);
    assert_int_equal(seen.restored_keys, 10);
    assert_int_equal(seen.restored_total, RECORDS);
    assert_int_equal(st.restored, (uint64_t)logged);
}

static int64_t window_seen;

static int typed_init(struct bc_ctx *ctx)
{
    window_seen = bc_values_int(bc_ctx_options(ctx), "window");
    return BC_OK;
}

static void test_runtime_stage_type_defaults_from_flags(void **state)
{
    struct fixture *fx = *state;
    struct bc_stage stage = {.name = "dedup",
                             .type = &bc_deduplicator_type,
                             .init = typed_init,
                             .process = copy_process};
    const char *inputs[] = {"in"};
    struct bc_runtime_settings s = {.pipeline = "p", .worker = "w", .instance = "i",
                                    .brokers = fx->brokers, .inputs = inputs,
                                    .input_count = 1};
    char errstr[256];
    struct bc_runtime *rt = bc_runtime_new(&stage, &s, errstr, sizeof(errstr));
    assert_non_null(rt);
    assert_int_equal(window_seen, 10 * 60 * 1000); /* the type's default "10m" */
    bc_runtime_destroy(rt);
    s.instance = NULL;
    assert_null(bc_runtime_new(&stage, &s, errstr, sizeof(errstr)));
}

/* With a schema registry, fates and dead letters are Avro Fate / DeadLetter records. */
static struct bc_avro_registry *registry;
static int avro_fates, avro_dead_letters;

static void check_avro_fate(const rd_kafka_message_t *msg)
{
    const struct bc_avro_schema *schema = bc_avro_registry_lookup(registry, "Fate");
    avro_value_t v, f, branch;
    char errstr[256];
    const char *str;
    size_t len;
    int kind;
    int64_t offset;
    assert_int_equal(bc_avro_value_new(schema, &v), 0);
    assert_int_equal(bc_avro_decode(registry, schema, msg->payload, msg->len, &v, errstr,
                                    sizeof(errstr)),
                     0);
    /* The runtime writes Fate v1's bytes directly: byte for byte the generic encoder's. */
    struct bc_avro_buf again = {0};
    assert_int_equal(bc_avro_encode(schema, &v, &again, errstr, sizeof(errstr)), 0);
    assert_int_equal(again.len, msg->len);
    assert_memory_equal(again.data, msg->payload, msg->len);
    bc_avro_buf_free(&again);
    assert_int_equal(avro_value_get_by_name(&v, "fate", &f, NULL), 0);
    assert_int_equal(avro_value_get_enum(&f, &kind), 0);
    assert_int_equal(kind, BC_FATE_DROPPED);
    assert_int_equal(avro_value_get_by_name(&v, "reason", &f, NULL), 0);
    assert_int_equal(avro_value_get_current_branch(&f, &branch), 0);
    assert_int_equal(avro_value_get_string(&branch, &str, &len), 0);
    assert_string_equal(str, "filtered");
    assert_int_equal(avro_value_get_by_name(&v, "worker", &f, NULL), 0);
    assert_int_equal(avro_value_get_string(&f, &str, &len), 0);
    assert_string_equal(str, "t9.p.w");
    assert_int_equal(avro_value_get_by_name(&v, "source", &f, NULL), 0);
    assert_int_equal(avro_value_get_by_name(&f, "offset", &branch, NULL), 0);
    assert_int_equal(avro_value_get_long(&branch, &offset), 0);
    /* Record i (dropped when i % 10 == 3) is at offset i / 2 of partition i % 2. */
    assert_int_equal((offset * 2 + 1) % 10, 3);
    char key[64];
    snprintf(key, sizeof(key), "%.*s", (int)msg->key_len, (const char *)msg->key);
    assert_true(strncmp(key, "t9.in:", 6) == 0);
    avro_value_decref(&v);
    avro_fates++;
}

static void check_avro_dead_letter(const rd_kafka_message_t *msg)
{
    const struct bc_avro_schema *schema = bc_avro_registry_lookup(registry, "DeadLetter");
    avro_value_t v, f;
    char errstr[256];
    const void *raw;
    const char *str;
    size_t len;
    int attempts;
    assert_int_equal(bc_avro_value_new(schema, &v), 0);
    assert_int_equal(bc_avro_decode(registry, schema, msg->payload, msg->len, &v, errstr,
                                    sizeof(errstr)),
                     0);
    assert_int_equal(avro_value_get_by_name(&v, "raw", &f, NULL), 0);
    assert_int_equal(avro_value_get_bytes(&f, &raw, &len), 0);
    assert_int_equal(len, 6);
    assert_memory_equal(raw, "poison", 6);
    assert_int_equal(avro_value_get_by_name(&v, "reason", &f, NULL), 0);
    assert_int_equal(avro_value_get_string(&f, &str, &len), 0);
    assert_string_equal(str, "max_attempts");
    assert_int_equal(avro_value_get_by_name(&v, "attempts", &f, NULL), 0);
    assert_int_equal(avro_value_get_int(&f, &attempts), 0);
    assert_int_equal(attempts, 2); /* max_attempts */
    avro_value_decref(&v);
    avro_dead_letters++;
}

static const char *drop_or_poison(int i)
{
    return i == 57 ? "poison" : i % 10 == 3 ? "drop-me" : NULL;
}

static void test_runtime_avro_fates_and_dead_letters(void **state)
{
    struct fixture *fx = *state;
    char errstr[256];
    assert_int_equal(bc_avro_registry_load("schemas", &registry, errstr, sizeof(errstr)), 0);
    topics_create(fx, "t9.");
    produce_input(fx, "t9.in", drop_or_poison);
    schemas_dir = "schemas";
    struct bc_runtime *rt = runtime_new(fx, &copy_stage, "t9.", 2);
    schemas_dir = NULL;
    assert_non_null(bc_ctx_registry(bc_runtime_ctx(rt)));
    assert_int_equal(run_until(rt, RECORDS), BC_EXIT_OK);
    bc_runtime_destroy(rt);
    /* The mock shows aborted transactions too: the poison record's two rewinds may repeat
     * fates of records processed before it in the aborted batches. */
    avro_fates = avro_dead_letters = 0;
    assert_true(consume_all(fx, "t9.p.fates", check_avro_fate) >= RECORDS / 10);
    assert_true(avro_fates >= RECORDS / 10);
    assert_int_equal(consume_all(fx, "t9.p.dlq", check_avro_dead_letter), 1);
    assert_int_equal(avro_dead_letters, 1);
    bc_avro_registry_destroy(registry);
    registry = NULL;
}

/* A stage that buffers: it holds offset 10 of partition 0 for the whole run. */
static int hold_assigned(struct bc_ctx *ctx, int32_t partition)
{
    if (partition == 0) {
        bc_hold(ctx, NULL, 0, 10);
    }
    return BC_OK;
}

static int hold_process(struct bc_ctx *ctx, const struct bc_record *rec)
{
    if (bc_record_partition(rec) == 0 && bc_record_offset(rec) == 10) {
        bc_hold(ctx, NULL, 0, 10); /* re-established after a rewind */
    }
    return copy_process(ctx, rec);
}

static int64_t committed_p0 = -2, committed_p1 = -2;

static int until_committed_and_snapshot(void *opaque, const struct bc_runtime *rt)
{
    committed_p0 = bc_runtime_committed(rt, "t10.in", 0);
    committed_p1 = bc_runtime_committed(rt, "t10.in", 1);
    return until_committed(opaque, rt);
}

static void test_runtime_held_offsets_are_not_committed(void **state)
{
    struct fixture *fx = *state;
    static const struct bc_stage hold_stage = {
        .name = "hold", .assigned = hold_assigned, .process = hold_process};
    topics_create(fx, "t10.");
    produce_input(fx, "t10.in", NULL);
    struct bc_runtime *rt = runtime_new(fx, &hold_stage, "t10.", 3);
    uint64_t target = RECORDS;
    struct bc_runtime_hooks hooks = {.until = until_committed_and_snapshot, .opaque = &target,
                                     .timeout_ms = 60000};
    assert_int_equal(bc_runtime_run(rt, &hooks), BC_EXIT_OK);
    bc_runtime_destroy(rt);
    assert_int_equal(committed_p0, 10);          /* min(hold, next) */
    assert_int_equal(committed_p1, RECORDS / 2); /* no hold: everything */
}

static uint64_t sigterm_after;

static int raise_sigterm(void *opaque, const struct bc_runtime *rt)
{
    (void)opaque;
    struct bc_runtime_stats st;
    bc_runtime_stats(rt, &st);
    if (st.processed >= sigterm_after) {
        raise(SIGTERM);
        sigterm_after = UINT64_MAX;
    }
    return 0;
}

static void test_runtime_sigterm_commits_open_transaction(void **state)
{
    struct fixture *fx = *state;
    topics_create(fx, "t11.");
    produce_input(fx, "t11.in", NULL);
    struct bc_runtime *rt = runtime_new(fx, &copy_stage, "t11.", 3);
    /* A long cadence so the transaction is open when SIGTERM arrives. */
    sigterm_after = 5;
    struct bc_runtime_hooks hooks = {.until = raise_sigterm, .timeout_ms = 60000};
    bc_runtime_handle_signals(rt, 1);
    assert_int_equal(bc_runtime_run(rt, &hooks), BC_EXIT_OK);
    struct bc_runtime_stats st;
    bc_runtime_stats(rt, &st);
    bc_runtime_destroy(rt);
    assert_true(st.processed >= 5);
    assert_int_equal(st.committed, st.processed); /* the open transaction was committed */
    assert_int_equal(st.aborts, 0);
    assert_int_equal(consume_all(fx, "t11.out", NULL), (int)st.processed);
}

static void test_runtime_settings_from_topology(void **state)
{
    (void)state;
    char *argv[] = {"deduplicator", "--config", "config/topology.yaml", "--worker",
                    "deduplicator", "--instance", "1", "--brokers", "127.0.0.1:1", NULL};
    struct bc_runtime_settings s;
    char errstr[256];
    struct bc_stage stage = {.name = "deduplicator", .type = &bc_deduplicator_type,
                             .process = copy_process};
    assert_int_equal(bc_runtime_settings_parse(&s, &stage, 9, argv, errstr, sizeof(errstr)), 0);
    assert_string_equal(s.pipeline, "tracking");
    assert_int_equal(s.input_count, 1);
    assert_string_equal(s.inputs[0], "tracking.normalized");
    int unique = 0, dlq = 0;
    for (size_t i = 0; i < s.output_count; i++) {
        unique |= strcmp(s.outputs[i], "unique=tracking.unique") == 0;
        dlq |= strncmp(s.outputs[i], "dlq=", 4) == 0;
    }
    assert_true(unique);
    assert_true(dlq);
    assert_int_equal(strlen(s.config_hash), 16);
    assert_int_equal(bc_values_int(s.options, "window"), 30 * 60 * 1000);
    window_seen = 0;
    stage.init = typed_init;
    struct bc_runtime *rt = bc_runtime_new(&stage, &s, errstr, sizeof(errstr));
    assert_non_null(rt);
    assert_int_equal(window_seen, 30 * 60 * 1000);
    assert_non_null(bc_ctx_registry(bc_runtime_ctx(rt))); /* the topology's schemas.dir */
    bc_runtime_destroy(rt);
    bc_runtime_settings_free(&s);

    char *bad[] = {"deduplicator", "--config", "config/topology.yaml", "--worker", "nope",
                   "--instance", "1", NULL};
    assert_int_equal(bc_runtime_settings_parse(&s, &stage, 7, bad, errstr, sizeof(errstr)), -1);
    assert_string_equal(errstr, "config/topology.yaml: no worker named 'nope'");
}

/* Two instances in one group: the second one's join revokes the first one's partitions;
 * the first commits its open transaction before the revocation completes (no abort), both
 * end with one partition each, and the stores of the moved partition are restored from the
 * changelog by the new owner. */
struct instance {
    struct bc_runtime *rt;
    uint64_t stop_after_rebalances;
    int want_partitions; /* 0: any (the last instance standing may get them all) */
    int met; /* the stop condition held (not the timeout) */
    int rc;
    struct bc_runtime_stats st;
    _Atomic int committed_both; /* work of both input partitions committed (its own thread) */
};

static int until_rebalanced_and_idle(void *opaque, const struct bc_runtime *rt)
{
    struct instance *in = opaque;
    struct bc_runtime_stats st;
    bc_runtime_stats(rt, &st);
    if (bc_runtime_committed(rt, "t12.in", 0) > 0 && bc_runtime_committed(rt, "t12.in", 1) > 0) {
        in->committed_both = 1;
    }
    if (st.rebalances >= in->stop_after_rebalances &&
        (in->want_partitions == 0 || st.assigned_partitions == in->want_partitions) &&
        st.committed > 0 && st.processed == st.committed) {
        in->met = 1;
    }
    return in->met;
}

static void *instance_run(void *opaque)
{
    struct instance *in = opaque;
    struct bc_runtime_hooks hooks = {.until = until_rebalanced_and_idle, .opaque = in,
                                     .timeout_ms = 60000};
    in->rc = bc_runtime_run(in->rt, &hooks);
    bc_runtime_stats(in->rt, &in->st);
    return NULL;
}

static void test_runtime_rebalance_commits_before_revocation(void **state)
{
    struct fixture *fx = *state;
    topics_create(fx, "t12.");
    produce_input(fx, "t12.in", NULL);
    seen_reset();
    struct instance a = {.rt = runtime_new(fx, &count_stage, "t12.", 3), .stop_after_rebalances = 2,
                          .want_partitions = 1};
    pthread_t ta, tb;
    assert_int_equal(pthread_create(&ta, NULL, instance_run, &a), 0);
    /* Start the second instance once the first has committed work of both partitions, so
     * that the partition that moves has a changelog to restore from, whichever it is. (Once
     * some work of either was enough, and the second instance's join revokes the first's
     * partitions within a heartbeat: the first had often read only one partition by then,
     * and the moved one had an empty changelog in about 1 run of 10.) */
    for (int i = 0; i < 600 && !a.committed_both; i++) {
        usleep(50 * 1000);
    }
    assert_true(a.committed_both);
    const char *inputs[] = {"t12.in"};
    const char *outputs[] = {"out=t12.out"};
    struct bc_runtime_settings sb = {
        .pipeline = "t12.p", .worker = "w", .instance = "i2", .brokers = fx->brokers,
        .inputs = inputs, .input_count = 1, .outputs = outputs, .output_count = 1,
        .commit_interval_ms = 50, .max_batch = 20};
    sb.kafka = mock_kafka_settings(&sb.kafka_count);
    char errstr[256];
    struct instance b = {.rt = bc_runtime_new(&count_stage, &sb, errstr, sizeof(errstr)),
                         .stop_after_rebalances = 1};
    assert_non_null(b.rt);
    assert_int_equal(pthread_create(&tb, NULL, instance_run, &b), 0);
    /* Each ends on its own condition (or the 60 s timeout, which fails `met`). */
    assert_int_equal(pthread_join(ta, NULL), 0);
    assert_int_equal(pthread_join(tb, NULL), 0);
    assert_int_equal(a.rc, BC_EXIT_OK);
    assert_int_equal(b.rc, BC_EXIT_OK);
    assert_int_equal(a.st.rebalances, 2);
    assert_int_equal(a.st.aborts, 0); /* committed, not aborted, on revocation */
    assert_true(a.met); /* ended with one partition, everything processed committed */
    assert_true(b.met);
    assert_true(b.st.rebalances >= 1);
    assert_true(b.st.restored > 0); /* the moved partition's store came from its changelog */
    bc_runtime_destroy(a.rt);
    bc_runtime_destroy(b.rt);
}

/* bc_emit's schema hook runs before any Kafka call, so an unconnected runtime shows it. */
static void test_runtime_emit_rejects_unregistered_schema_id(void **state)
{
    struct fixture *fx = *state;
    schemas_dir = "schemas";
    struct bc_runtime *rt = runtime_new(fx, &copy_stage, "t13.", 3);
    schemas_dir = NULL;
    struct bc_ctx *ctx = bc_runtime_ctx(rt);
    static const unsigned char unknown_id[] = {0, 0, 0, 0x7f, 0x7f, 2};
    static const unsigned char fate_id[] = {0, 0, 0, 0, 3, 2};
    assert_int_equal(bc_emit(ctx, NULL, "out", "k", 1, unknown_id, sizeof(unknown_id), NULL),
                     BC_FATAL);
    assert_int_equal(bc_emit(ctx, NULL, "nope", "k", 1, "x", 1, NULL), BC_FATAL);
    /* Registered id and plain bytes pass the hook; unconnected, the write itself fails. */
    assert_int_equal(bc_emit(ctx, NULL, "out", "k", 1, fate_id, sizeof(fate_id), NULL),
                     BC_RETRY);
    assert_int_equal(bc_emit(ctx, NULL, "out", "k", 1, "{}", 2, NULL), BC_RETRY);
    bc_runtime_destroy(rt);
}

/* A buffering stage (as the tail-sampler): process() only remembers the source and holds
 * the offset; tick() emits even records and drops odd ones with a Fate, both carrying the
 * buffered record's lineage, then releases the hold. */
#define BUFFER_MAX 512
static struct bc_source buffered[BUFFER_MAX];
static int buffered_count, tick_emitted, tick_dropped;

static int buffer_process(struct bc_ctx *ctx, const struct bc_record *rec)
{
    assert_true(buffered_count < BUFFER_MAX);
    if (buffered_count == 0) {
        bc_hold(ctx, NULL, bc_record_partition(rec), bc_record_offset(rec));
    }
    bc_record_source(rec, &buffered[buffered_count++]);
    return BC_OK;
}

static int buffer_tick(struct bc_ctx *ctx, int64_t now_ms)
{
    (void)now_ms;
    for (int i = 0; i < buffered_count; i++) {
        const struct bc_source *src = &buffered[i];
        if (src->offset % 2 == 0) {
            char value[32];
            int n = snprintf(value, sizeof(value), "%d:%" PRId64, src->partition, src->offset);
            struct bc_emit_opts opts = {.source = src};
            if (bc_emit(ctx, NULL, "out", NULL, 0, value, (size_t)n, &opts) != BC_OK) {
                return BC_RETRY;
            }
            tick_emitted++;
        } else {
            struct bc_fate fate = {.kind = BC_FATE_SAMPLED_OUT, .reason = "probabilistic",
                                   .policy = "keep-half"};
            if (bc_drop_fate(ctx, NULL, src, &fate) != BC_OK) {
                return BC_RETRY;
            }
            tick_dropped++;
        }
        bc_hold(ctx, src->topic, src->partition, -1);
    }
    buffered_count = 0;
    return BC_OK;
}

static int buffer_revoked(struct bc_ctx *ctx, int32_t partition)
{
    (void)ctx;
    (void)partition;
    buffered_count = 0; /* rebuilt from the held offsets */
    return BC_OK;
}

static int lineage_mismatches;

static void check_tick_lineage(const rd_kafka_message_t *msg)
{
    rd_kafka_headers_t *hdrs;
    const void *v;
    size_t len;
    assert_int_equal(rd_kafka_message_headers(msg, &hdrs), 0);
    assert_int_equal(rd_kafka_header_get_last(hdrs, "bc.src", &v, &len), 0);
    char src[64], want[64];
    snprintf(src, sizeof(src), "%.*s", (int)len, (const char *)v);
    snprintf(want, sizeof(want), "t14.in:%.*s", (int)msg->len, (const char *)msg->payload);
    if (strcmp(src, want) != 0) {
        lineage_mismatches++;
    }
}

static int until_all_ticked(void *opaque, const struct bc_runtime *rt)
{
    (void)opaque;
    struct bc_runtime_stats st;
    bc_runtime_stats(rt, &st);
    /* Everything flushed by tick() and committed (the hold is released only then). */
    return tick_emitted + tick_dropped == RECORDS && st.processed == st.committed &&
           bc_runtime_committed(rt, "t14.in", 0) == RECORDS / 2 &&
           bc_runtime_committed(rt, "t14.in", 1) == RECORDS / 2;
}

static void test_runtime_tick_emits_buffered_with_lineage(void **state)
{
    struct fixture *fx = *state;
    static const struct bc_stage buffer_stage = {.name = "buffer",
                                                 .process = buffer_process,
                                                 .tick = buffer_tick,
                                                 .revoked = buffer_revoked};
    topics_create(fx, "t14.");
    produce_input(fx, "t14.in", NULL);
    buffered_count = tick_emitted = tick_dropped = 0;
    struct bc_runtime *rt = runtime_new(fx, &buffer_stage, "t14.", 3);
    struct bc_runtime_hooks hooks = {.until = until_all_ticked, .timeout_ms = 60000};
    assert_int_equal(bc_runtime_run(rt, &hooks), BC_EXIT_OK);
    struct bc_runtime_stats st;
    bc_runtime_stats(rt, &st);
    bc_runtime_destroy(rt);
    assert_int_equal(st.aborts, 0);
    assert_int_equal(tick_emitted + tick_dropped, RECORDS);
    lineage_mismatches = 0;
    assert_int_equal(consume_all(fx, "t14.out", check_tick_lineage), tick_emitted);
    assert_int_equal(lineage_mismatches, 0);
    assert_int_equal(consume_all(fx, "t14.p.fates", NULL), tick_dropped);
}

static void test_runtime_missing_changelog_stops_at_start(void **state)
{
    struct fixture *fx = *state;
    char in[32];
    snprintf(in, sizeof(in), "t15.in");
    assert_int_equal(rd_kafka_mock_topic_create(fx->mock, in, PARTITIONS, 1), 0);
    assert_int_equal(rd_kafka_mock_topic_create(fx->mock, "t15.out", PARTITIONS, 1), 0);
    /* The changelog exists with one partition only: too few for a 2-partition input. */
    assert_int_equal(rd_kafka_mock_topic_create(fx->mock, "t15.p.w.counts.changelog", 1, 1), 0);
    seen_reset();
    struct bc_runtime *rt = runtime_new(fx, &count_stage, "t15.", 3);
    assert_int_equal(run_until(rt, 1), BC_EXIT_ERROR);
    bc_runtime_destroy(rt);
}

int main(void)
{
    bc_log_setup("test_runtime", getenv("BC_TEST_VERBOSE") ? BC_LOG_DEBUG : BC_LOG_ERROR,
                 BC_LOG_LOGFMT);
    if (getenv("BC_TEST_FILTER") != NULL) {
        cmocka_set_test_filter(getenv("BC_TEST_FILTER"));
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_runtime_stage_type_defaults_from_flags),
        cmocka_unit_test(test_runtime_settings_from_topology),
        cmocka_unit_test(test_runtime_emit_rejects_unregistered_schema_id),
        cmocka_unit_test(test_runtime_held_offsets_are_not_committed),
        cmocka_unit_test(test_runtime_sigterm_commits_open_transaction),
        cmocka_unit_test(test_runtime_copies_and_commits),
        cmocka_unit_test(test_runtime_lineage_headers_and_fates),
        cmocka_unit_test(test_runtime_abortable_produce_error_rewinds),
        cmocka_unit_test(test_runtime_abortable_add_partitions_error_rewinds),
        cmocka_unit_test(test_runtime_failed_overlapped_commit_drops_waiting_writes),
        cmocka_unit_test(test_runtime_poison_record_reaches_dlq),
        cmocka_unit_test(test_runtime_store_changelog_and_restore),
        cmocka_unit_test(test_runtime_avro_fates_and_dead_letters),
        cmocka_unit_test(test_runtime_tick_emits_buffered_with_lineage),
        cmocka_unit_test(test_runtime_rebalance_commits_before_revocation),
        cmocka_unit_test(test_runtime_missing_changelog_stops_at_start),
        cmocka_unit_test(test_runtime_fenced_on_end_txn_exits),
        cmocka_unit_test(test_runtime_fenced_on_init_exits),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
