/* The CLI's consumers and bc_topic_scan (topic_scan.h): reads of whole topics,
 * read_committed. */
#include <stdio.h>

#include "tools/breadcrumb/topic_scan.h"

rd_kafka_t *bc_cli_consumer_new(const char *brokers, const char *group,
                                const char *const *extra, char *errstr, size_t errstr_size)
{
    static const char *const common[] = {"enable.auto.commit", "false",
                                         "isolation.level", "read_committed",
                                         "enable.partition.eof", "true",
                                         "fetch.wait.max.ms", "10",
                                         NULL};
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    int bad = rd_kafka_conf_set(conf, "bootstrap.servers", brokers, errstr, errstr_size) != 0 ||
              rd_kafka_conf_set(conf, "group.id", group, errstr, errstr_size) != 0;
    for (const char *const *kv = common; !bad && *kv != NULL; kv += 2) {
        bad = rd_kafka_conf_set(conf, kv[0], kv[1], errstr, errstr_size) != 0;
    }
    for (const char *const *kv = extra; !bad && kv != NULL && *kv != NULL; kv += 2) {
        bad = rd_kafka_conf_set(conf, kv[0], kv[1], errstr, errstr_size) != 0;
    }
    rd_kafka_t *rk = bad ? NULL : rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, errstr_size);
    if (rk == NULL) {
        rd_kafka_conf_destroy(conf);
    }
    return rk;
}

int bc_topic_scan(const char *cmd, const char *brokers, const char *topic, int timeout_ms,
                  bc_scan_fn fn, void *opaque)
{
    char errstr[512], group[64];
    snprintf(group, sizeof(group), "breadcrumb-%s", cmd);
    rd_kafka_t *rk = bc_cli_consumer_new(brokers, group, NULL, errstr, sizeof(errstr));
    if (rk == NULL) {
        fprintf(stderr, "breadcrumb %s: %s\n", cmd, errstr);
        return -1;
    }
    rd_kafka_poll_set_consumer(rk);
    int rc = -1;
    const rd_kafka_metadata_t *md = NULL;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    rd_kafka_topic_partition_list_t *tps = NULL;
    if (rd_kafka_metadata(rk, 0, rkt, &md, timeout_ms) != 0 || md->topic_cnt != 1 ||
        md->topics[0].err != 0) {
        fprintf(stderr, "breadcrumb %s: no topic %s\n", cmd, topic);
        goto done;
    }
    int n = md->topics[0].partition_cnt;
    tps = rd_kafka_topic_partition_list_new(n);
    int pending = 0;
    for (int p = 0; p < n; p++) {
        int64_t lo = 0, hi = 0;
        if (rd_kafka_query_watermark_offsets(rk, topic, p, &lo, &hi, timeout_ms) != 0) {
            fprintf(stderr, "breadcrumb %s: watermarks of %s[%d] unavailable\n", cmd, topic, p);
            goto done;
        }
        if (hi > lo) {
            rd_kafka_topic_partition_list_add(tps, topic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
            pending++;
        }
    }
    if (pending == 0) {
        rc = 0;
        goto done;
    }
    rd_kafka_assign(rk, tps);
    int64_t idle_deadline_polls = timeout_ms / 100;
    int idle = 0;
    while (pending > 0) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (m == NULL) {
            if (++idle > idle_deadline_polls) {
                fprintf(stderr, "breadcrumb %s: %s: no progress for %d ms\n", cmd, topic,
                        timeout_ms);
                goto done_assigned;
            }
            continue;
        }
        idle = 0;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            pending--;
            rd_kafka_message_destroy(m);
            continue;
        }
        if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            fprintf(stderr, "breadcrumb %s: %s\n", cmd, rd_kafka_message_errstr(m));
            rd_kafka_message_destroy(m);
            goto done_assigned;
        }
        int frc = fn(opaque, m);
        rd_kafka_message_destroy(m);
        if (frc != 0) {
            goto done_assigned;
        }
    }
    rc = 0;
done_assigned:
    rd_kafka_assign(rk, NULL);
done:
    if (tps != NULL) {
        rd_kafka_topic_partition_list_destroy(tps);
    }
    if (md != NULL) {
        rd_kafka_metadata_destroy(md);
    }
    rd_kafka_topic_destroy(rkt);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return rc;
}
