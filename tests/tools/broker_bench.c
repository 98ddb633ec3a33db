/*
 * broker_bench: produce and consume rates of small records through librdkafka, against a
 * given broker or against librdkafka's mock cluster created in this process, so both can
 * be measured in the same run with the same client settings.
 *
 *   broker_bench --brokers HOST:PORT|mock --topic T --records N [--size 100] [--partitions P]
 *
 * Produce: idempotent, acks=all, linger.ms=5; the rate counts until every delivery report
 * is in. Consume: from the low to the high watermark of every partition (the mock keeps
 * only the newest few MiB of a partition, so it may serve fewer records than were sent).
 * --consume-only skips producing (the topic already holds the records).
 * Prints one line: "<label> produce_msgs_s=... consume_msgs_s=... consumed=...".
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int64_t delivered, failed;

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    (void)opaque;
    if (m->err) {
        failed++;
    } else {
        delivered++;
    }
}

static void set(rd_kafka_conf_t *conf, const char *k, const char *v)
{
    char err[256];
    if (rd_kafka_conf_set(conf, k, v, err, sizeof(err)) != RD_KAFKA_CONF_OK) {
        fprintf(stderr, "%s=%s: %s\n", k, v, err);
        exit(2);
    }
}

int main(int argc, char **argv)
{
    const char *brokers = NULL, *topic = NULL;
    int64_t records = 0;
    size_t size = 100;
    int partitions = 1;
    int consume_only = 0;
    static struct option opts[] = {{"brokers", 1, NULL, 'b'}, {"topic", 1, NULL, 't'},
                                   {"records", 1, NULL, 'n'}, {"size", 1, NULL, 's'},
                                   {"partitions", 1, NULL, 'p'}, {"consume-only", 0, NULL, 'c'},
                                   {NULL, 0, NULL, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'b': brokers = optarg; break;
        case 't': topic = optarg; break;
        case 'n': records = strtoll(optarg, NULL, 10); break;
        case 's': size = (size_t)strtoul(optarg, NULL, 10); break;
        case 'p': partitions = atoi(optarg); break;
        case 'c': consume_only = 1; break;
        default: return 2;
        }
    }
    if (brokers == NULL || topic == NULL || records <= 0 || partitions < 1) {
        fprintf(stderr, "usage: broker_bench --brokers B|mock --topic T --records N\n");
        return 2;
    }
    char err[512];
    rd_kafka_t *host = NULL;
    rd_kafka_mock_cluster_t *mock = NULL;
    const char *label = "breadcrumb-broker";
    if (strcmp(brokers, "mock") == 0) {
        rd_kafka_conf_t *hc = rd_kafka_conf_new();
        host = rd_kafka_new(RD_KAFKA_PRODUCER, hc, err, sizeof(err));
        mock = rd_kafka_mock_cluster_new(host, 1);
        if (mock == NULL) {
            fprintf(stderr, "cannot create the mock cluster\n");
            return 1;
        }
        rd_kafka_mock_topic_create(mock, topic, partitions, 1);
        brokers = rd_kafka_mock_cluster_bootstraps(mock);
        label = "librdkafka-mock";
    }

    rd_kafka_conf_t *conf = NULL;
    double t0, tp = 0;
    char *value = malloc(size);
    if (consume_only) {
        goto consume;
    }
    conf = rd_kafka_conf_new();
    set(conf, "bootstrap.servers", brokers);
    set(conf, "enable.idempotence", "true");
    set(conf, "acks", "all");
    set(conf, "linger.ms", "5");
    set(conf, "queue.buffering.max.messages", "2000000");
    set(conf, "queue.buffering.max.kbytes", "1048576");
    rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
    rd_kafka_t *p = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    memset(value, 'v', size);
    /* Connect and learn metadata before the clock starts. */
    rd_kafka_producev(p, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(0),
                      RD_KAFKA_V_VALUE(value, size), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                      RD_KAFKA_V_END);
    rd_kafka_flush(p, 30000);
    delivered = 0;
    t0 = now_s();
    for (int64_t i = 0; i < records;) {
        snprintf(value, size, "%012" PRId64, i);
        rd_kafka_resp_err_t e = rd_kafka_producev(
            p, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION((int32_t)(i % partitions)),
            RD_KAFKA_V_VALUE(value, size), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_END);
        if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            rd_kafka_poll(p, 1);
            continue;
        }
        i++;
        if ((i & 4095) == 0) {
            rd_kafka_poll(p, 0);
        }
    }
    rd_kafka_flush(p, 120000);
    tp = now_s() - t0;
    rd_kafka_destroy(p);
    if (failed || delivered != records) {
        fprintf(stderr, "%s: delivered %" PRId64 " of %" PRId64 "\n", label, delivered, records);
        return 1;
    }

consume:
    conf = rd_kafka_conf_new();
    set(conf, "bootstrap.servers", brokers);
    set(conf, "group.id", "bench");
    set(conf, "enable.auto.commit", "false");
    rd_kafka_t *k = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
    rd_kafka_poll_set_consumer(k);
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(partitions);
    int64_t want = 0;
    for (int i = 0; i < partitions; i++) {
        int64_t lo = 0, hi = 0;
        rd_kafka_query_watermark_offsets(k, topic, i, &lo, &hi, 10000);
        rd_kafka_topic_partition_list_add(parts, topic, i)->offset = lo;
        want += hi - lo;
    }
    t0 = now_s();
    rd_kafka_assign(k, parts);
    rd_kafka_topic_partition_list_destroy(parts);
    int64_t got = 0;
    double last = now_s();
    while (got < want && now_s() - last < 10) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(k, 100);
        if (m == NULL) {
            continue;
        }
        if (!m->err) {
            got++;
            last = now_s();
        }
        rd_kafka_message_destroy(m);
    }
    double tc = last - t0;
    rd_kafka_consumer_close(k);
    rd_kafka_destroy(k);
    printf("%s produce_msgs_s=%.0f consume_msgs_s=%.0f consumed=%" PRId64 " produced=%" PRId64
           "\n",
           label, tp > 0 ? (double)records / tp : 0.0, (double)got / tc, got, records);
    if (mock != NULL) {
        rd_kafka_mock_cluster_destroy(mock);
        rd_kafka_destroy(host);
    }
    free(value);
    return got == want ? 0 : 1;
}
