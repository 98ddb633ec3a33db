/*
 * broker_bulk: pushes --bytes of records through one partition of a topic with librdkafka
 * (idempotent, acks=all), then reads them all back and verifies every record in C: its
 * offset, its sequence number and every byte of its deterministic payload.
 *
 *   broker_bulk --brokers HOST:PORT --topic T --bytes N [--record-size S] [--verify-only]
 *
 * --verify-only skips the produce phase (to check the same log again after a restart).
 *
 * Prints "MEASURED ..." lines with rates; exits 0 only when everything came back intact.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <librdkafka/rdkafka.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Record seq's payload: 8 bytes of seq, then a pattern derived from it. */
static void fill(uint8_t *buf, size_t size, uint64_t seq)
{
    uint64_t x = seq * 0x9E3779B97F4A7C15ull + 1;
    memcpy(buf, &seq, sizeof(seq));
    for (size_t i = 8; i < size; i += 8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        size_t n = size - i < 8 ? size - i : 8;
        memcpy(buf + i, &x, n);
    }
}

static int64_t delivered, failed;

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    (void)opaque;
    if (m->err) {
        if (failed++ < 5) {
            fprintf(stderr, "delivery failed: %s\n", rd_kafka_err2str(m->err));
        }
    } else {
        delivered++;
    }
}

static rd_kafka_conf_t *conf_new(const char *brokers)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char err[256];
    if (rd_kafka_conf_set(conf, "bootstrap.servers", brokers, err, sizeof(err)) != RD_KAFKA_CONF_OK) {
        fprintf(stderr, "%s\n", err);
        exit(2);
    }
    return conf;
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
    int64_t bytes = 0;
    size_t size = 1024;
    int verify_only = 0;
    static struct option opts[] = {{"brokers", 1, NULL, 'b'}, {"topic", 1, NULL, 't'},
                                   {"bytes", 1, NULL, 'n'},   {"record-size", 1, NULL, 's'},
                                   {"verify-only", 0, NULL, 'v'}, {NULL, 0, NULL, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'b': brokers = optarg; break;
        case 't': topic = optarg; break;
        case 'n': bytes = strtoll(optarg, NULL, 10); break;
        case 's': size = (size_t)strtoul(optarg, NULL, 10); break;
        case 'v': verify_only = 1; break;
        default: return 2;
        }
    }
    if (brokers == NULL || topic == NULL || bytes <= 0 || size < 16) {
        fprintf(stderr, "usage: broker_bulk --brokers B --topic T --bytes N [--record-size S]\n");
        return 2;
    }
    int64_t count = bytes / (int64_t)size;
    uint8_t *buf = malloc(size);
    uint8_t *want = malloc(size);
    char err[512];

    rd_kafka_conf_t *conf = NULL;
    double t0;
    if (verify_only) {
        goto consume;
    }
    /* Produce. */
    conf = conf_new(brokers);
    set(conf, "enable.idempotence", "true");
    set(conf, "acks", "all");
    set(conf, "linger.ms", "20");
    set(conf, "batch.size", "1000000");
    set(conf, "batch.num.messages", "100000");
    set(conf, "queue.buffering.max.kbytes", "262144");
    set(conf, "queue.buffering.max.messages", "1000000");
    rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
    rd_kafka_t *p = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    if (p == NULL) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    t0 = now_s();
    for (int64_t seq = 0; seq < count;) {
        fill(buf, size, (uint64_t)seq);
        rd_kafka_resp_err_t e = rd_kafka_producev(
            p, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(0),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_VALUE(buf, size), RD_KAFKA_V_END);
        if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            rd_kafka_poll(p, 5);
            continue;
        }
        if (e) {
            fprintf(stderr, "produce: %s\n", rd_kafka_err2str(e));
            return 1;
        }
        seq++;
        if ((seq & 1023) == 0) {
            rd_kafka_poll(p, 0);
        }
    }
    if (rd_kafka_flush(p, 120000) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        fprintf(stderr, "flush timed out\n");
        return 1;
    }
    double tp = now_s() - t0;
    rd_kafka_destroy(p);
    if (failed || delivered != count) {
        fprintf(stderr, "delivered %" PRId64 " of %" PRId64 ", %" PRId64 " failed\n", delivered,
                count, failed);
        return 1;
    }
    printf("MEASURED bulk produce: %" PRId64 " records x %zu B = %.0f MB in %.1f s (%.0f MB/s)\n",
           count, size, (double)count * (double)size / 1e6, tp,
           (double)count * (double)size / 1e6 / tp);
    fflush(stdout);

consume:
    /* Consume and verify. */
    conf = conf_new(brokers);
    set(conf, "group.id", "broker-bulk");
    set(conf, "enable.auto.commit", "false");
    set(conf, "enable.partition.eof", "false");
    set(conf, "fetch.message.max.bytes", "8388608");
    set(conf, "fetch.max.bytes", "52428800");
    set(conf, "queued.max.messages.kbytes", "131072");
    set(conf, "check.crcs", "true");
    rd_kafka_t *k = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
    if (k == NULL) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    rd_kafka_poll_set_consumer(k);
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(parts, topic, 0)->offset = RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_assign(k, parts);
    rd_kafka_topic_partition_list_destroy(parts);
    t0 = now_s();
    int64_t next = 0;
    double last_progress = t0;
    int rc = 0;
    while (next < count) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(k, 500);
        if (m == NULL) {
            if (now_s() - last_progress > 30) {
                fprintf(stderr, "no progress for 30 s at record %" PRId64 "\n", next);
                rc = 1;
                break;
            }
            continue;
        }
        last_progress = now_s();
        if (m->err) {
            fprintf(stderr, "consume: %s\n", rd_kafka_message_errstr(m));
            rd_kafka_message_destroy(m);
            rc = 1;
            break;
        }
        fill(want, size, (uint64_t)next);
        if (m->offset != next || m->len != size || memcmp(m->payload, want, size) != 0) {
            fprintf(stderr, "record at offset %" PRId64 " (expected %" PRId64 ") is wrong\n",
                    m->offset, next);
            rd_kafka_message_destroy(m);
            rc = 1;
            break;
        }
        next++;
        rd_kafka_message_destroy(m);
    }
    double tc = now_s() - t0;
    int64_t lo = -1, hi = -1;
    rd_kafka_query_watermark_offsets(k, topic, 0, &lo, &hi, 10000);
    rd_kafka_consumer_close(k);
    rd_kafka_destroy(k);
    if (rc == 0 && hi != count) {
        fprintf(stderr, "high watermark %" PRId64 ", expected %" PRId64 "\n", hi, count);
        rc = 1;
    }
    if (rc == 0) {
        printf("MEASURED bulk consume+verify: %" PRId64 " records (%.0f MB) in %.1f s (%.0f MB/s)\n",
               next, (double)next * (double)size / 1e6, tc, (double)next * (double)size / 1e6 / tc);
        printf("RESULT bulk: %" PRId64 " records, %.0f MB through one partition, every byte verified\n",
               count, (double)count * (double)size / 1e6);
    }
    free(buf);
    free(want);
    return rc;
}
