/* Read-only tables (bc_table.h): a group-less consumer per runtime over every partition of
 * every table topic, read to the end before processing starts, then followed between
 * transactions. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bc_log.h"
#include "bc_table.h"

struct table {
    char *topic; /* new */
    bc_table_fn fn;
    void *opaque;
    int32_t partitions;
    int64_t *end;   /* per partition: the end offset queried at start */
    int *caught_up; /* per partition: 1 once the end was reached */
};

struct bc_tables {
    struct table *v;
    size_t n;
    rd_kafka_t *consumer;
    uint64_t records; /* fed so far */
};

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct bc_tables *bc_tables_new(void)
{
    return calloc(1, sizeof(struct bc_tables));
}

void bc_tables_destroy(struct bc_tables *tables)
{
    if (tables == NULL) {
        return;
    }
    if (tables->consumer != NULL) {
        rd_kafka_assign(tables->consumer, NULL);
        rd_kafka_destroy(tables->consumer);
    }
    for (size_t i = 0; i < tables->n; i++) {
        free(tables->v[i].topic);
        free(tables->v[i].end);
        free(tables->v[i].caught_up);
    }
    free(tables->v);
    free(tables);
}

size_t bc_tables_count(const struct bc_tables *tables)
{
    return tables == NULL ? 0 : tables->n;
}

int bc_tables_add(struct bc_tables *tables, const char *topic, bc_table_fn fn, void *opaque)
{
    if (tables->consumer != NULL) {
        bc_log(BC_LOG_ERROR, "bc_table_open after start (call it from init)", "topic", topic, NULL);
        return -1;
    }
    struct table *v = realloc(tables->v, (tables->n + 1) * sizeof(*v));
    if (v == NULL) {
        return -1;
    }
    tables->v = v;
    struct table *t = &v[tables->n];
    memset(t, 0, sizeof(*t));
    if ((t->topic = strdup(topic)) == NULL) {
        return -1;
    }
    t->fn = fn;
    t->opaque = opaque;
    tables->n++;
    return 0;
}

int bc_table_open(struct bc_ctx *ctx, const char *topic, bc_table_fn fn, void *opaque)
{
    struct bc_tables **slot = bc_runtime_tables(ctx);
    if (*slot == NULL && (*slot = bc_tables_new()) == NULL) {
        return -1;
    }
    return bc_tables_add(*slot, topic, fn, opaque);
}

static struct table *table_of(struct bc_tables *tables, const char *topic)
{
    for (size_t i = 0; i < tables->n; i++) {
        if (strcmp(tables->v[i].topic, topic) == 0) {
            return &tables->v[i];
        }
    }
    return NULL;
}

/* Feeds one message; marks its partition caught up when it reached the start's end. */
static void feed(struct bc_tables *tables, rd_kafka_message_t *msg)
{
    struct table *t = table_of(tables, rd_kafka_topic_name(msg->rkt));
    if (t == NULL || msg->partition < 0 || msg->partition >= t->partitions) {
        return;
    }
    if (msg->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        /* The last offset may be a transaction marker that is never delivered. */
        if (msg->offset >= t->end[msg->partition]) {
            t->caught_up[msg->partition] = 1;
        }
        return;
    }
    if (msg->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        bc_log(BC_LOG_WARN, "table read error", "topic", t->topic, "error",
               rd_kafka_err2name(msg->err), NULL);
        return;
    }
    int64_t ts = rd_kafka_message_timestamp(msg, NULL);
    t->fn(t->opaque, msg->key, msg->key_len, msg->payload, msg->len, ts, msg->partition,
          msg->offset);
    tables->records++;
    if (msg->offset + 1 >= t->end[msg->partition]) {
        t->caught_up[msg->partition] = 1;
    }
}

static int all_caught_up(const struct bc_tables *tables)
{
    for (size_t i = 0; i < tables->n; i++) {
        for (int32_t p = 0; p < tables->v[i].partitions; p++) {
            if (!tables->v[i].caught_up[p]) {
                return 0;
            }
        }
    }
    return 1;
}

int bc_tables_start(struct bc_tables *tables, rd_kafka_conf_t *conf, int timeout_ms, char *errstr,
                    size_t errstr_size)
{
    char err[512];
    rd_kafka_topic_partition_list_t *list = NULL;
    int rc = -1;
    int64_t deadline = mono_ms() + timeout_ms;
    tables->consumer = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
    if (tables->consumer == NULL) {
        rd_kafka_conf_destroy(conf);
        snprintf(errstr, errstr_size, "table consumer: %s", err);
        return -1;
    }
    rd_kafka_poll_set_consumer(tables->consumer);
    list = rd_kafka_topic_partition_list_new(8);
    for (size_t i = 0; i < tables->n; i++) {
        struct table *t = &tables->v[i];
        rd_kafka_topic_t *rkt = rd_kafka_topic_new(tables->consumer, t->topic, NULL);
        const struct rd_kafka_metadata *md = NULL;
        rd_kafka_resp_err_t e = RD_KAFKA_RESP_ERR__TIMED_OUT;
        /* A fresh client may answer before it knows the topic: retry until the deadline. */
        while (mono_ms() < deadline) {
            e = rd_kafka_metadata(tables->consumer, 0, rkt, &md, 5000);
            if (e == RD_KAFKA_RESP_ERR_NO_ERROR && md->topic_cnt == 1 &&
                md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR &&
                md->topics[0].partition_cnt > 0) {
                break;
            }
            if (e == RD_KAFKA_RESP_ERR_NO_ERROR) {
                e = md->topic_cnt == 1 ? md->topics[0].err : RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC;
                rd_kafka_metadata_destroy(md);
                md = NULL;
                if (e == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) {
                    break;
                }
            }
            struct timespec ts = {.tv_sec = 0, .tv_nsec = 200 * 1000000L};
            nanosleep(&ts, NULL);
        }
        rd_kafka_topic_destroy(rkt);
        if (md == NULL) {
            snprintf(errstr, errstr_size, "table topic %s: %s", t->topic, rd_kafka_err2str(e));
            goto done;
        }
        t->partitions = md->topics[0].partition_cnt;
        rd_kafka_metadata_destroy(md);
        t->end = calloc((size_t)t->partitions, sizeof(*t->end));
        t->caught_up = calloc((size_t)t->partitions, sizeof(*t->caught_up));
        if (t->end == NULL || t->caught_up == NULL) {
            snprintf(errstr, errstr_size, "out of memory");
            goto done;
        }
        for (int32_t p = 0; p < t->partitions; p++) {
            int64_t lo = 0, hi = 0;
            e = rd_kafka_query_watermark_offsets(tables->consumer, t->topic, p, &lo, &hi, 10000);
            if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
                snprintf(errstr, errstr_size, "table topic %s [%d]: end offset unknown: %s",
                         t->topic, (int)p, rd_kafka_err2str(e));
                goto done;
            }
            t->end[p] = hi;
            t->caught_up[p] = hi <= lo;
            rd_kafka_topic_partition_list_add(list, t->topic, p)->offset =
                RD_KAFKA_OFFSET_BEGINNING;
        }
    }
    rd_kafka_resp_err_t e = rd_kafka_assign(tables->consumer, list);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
        snprintf(errstr, errstr_size, "table assign: %s", rd_kafka_err2str(e));
        goto done;
    }
    while (!all_caught_up(tables)) {
        if (mono_ms() >= deadline) {
            snprintf(errstr, errstr_size, "tables not read to the end within %d ms", timeout_ms);
            goto done;
        }
        rd_kafka_message_t *msg = rd_kafka_consumer_poll(tables->consumer, 200);
        if (msg != NULL) {
            feed(tables, msg);
            rd_kafka_message_destroy(msg);
        }
    }
    char n[32];
    snprintf(n, sizeof(n), "%llu", (unsigned long long)tables->records);
    bc_log(BC_LOG_INFO, "tables read", "records", n, NULL);
    rc = 0;
done:
    rd_kafka_topic_partition_list_destroy(list);
    return rc;
}

int bc_tables_poll(struct bc_tables *tables, int max)
{
    int fed = 0;
    if (tables == NULL || tables->consumer == NULL) {
        return 0;
    }
    while (fed < max) {
        rd_kafka_message_t *msg = rd_kafka_consumer_poll(tables->consumer, 0);
        if (msg == NULL) {
            break;
        }
        if (msg->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            fed++;
        }
        feed(tables, msg);
        rd_kafka_message_destroy(msg);
    }
    return fed;
}
