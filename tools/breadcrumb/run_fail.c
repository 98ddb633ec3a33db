/* `failed` run records of supervised worker processes (run_fail.h). */
#include "tools/breadcrumb/run_fail.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bc_kafka_conf.h"
#include "bc_runlog.h"

void bc_run_fail_init(struct bc_run_fail *rf, const struct bc_config *cfg)
{
    memset(rf, 0, sizeof(*rf));
    rf->cfg = cfg;
    char runs[256];
    snprintf(runs, sizeof(runs), "%s.runs", cfg->pipeline);
    const struct bc_topic *t = bc_config_topic(cfg, runs);
    if (t != NULL && !t->implicit) {
        snprintf(rf->topic, sizeof(rf->topic), "%s", runs);
    }
}

void bc_run_fail_brokers(struct bc_run_fail *rf, const char *brokers)
{
    snprintf(rf->brokers, sizeof(rf->brokers), "%s", brokers != NULL ? brokers : "");
}

void bc_run_fail_record(void *opaque, const char *group, const char *instance,
                        const char *run_id, const char *why)
{
    struct bc_run_fail *rf = opaque;
    char errstr[256], worker[300], key[400], error[200];
    if (rf->topic[0] == '\0' || rf->brokers[0] == '\0') {
        return;
    }
    if (rf->producer == NULL) {
        rd_kafka_conf_t *conf = bc_kafka_conf_new(rf->cfg, NULL, BC_KAFKA_PRODUCER, NULL,
                                                  rf->brokers, errstr, sizeof(errstr));
        if (conf == NULL || rd_kafka_conf_set(conf, "linger.ms", "0", errstr,
                                              sizeof(errstr)) != RD_KAFKA_CONF_OK) {
            fprintf(stderr, "breadcrumb run: run records: %s\n", errstr);
            if (conf != NULL) {
                rd_kafka_conf_destroy(conf);
            }
            rf->topic[0] = '\0';
            return;
        }
        rf->producer = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
        if (rf->producer == NULL) {
            fprintf(stderr, "breadcrumb run: run records: %s\n", errstr);
            rf->topic[0] = '\0';
            return;
        }
    }
    snprintf(worker, sizeof(worker), "%s.%s", rf->cfg->pipeline, group);
    snprintf(key, sizeof(key), "%s/%s", worker, instance);
    snprintf(error, sizeof(error), "the process ended with %s (seen by breadcrumb run)", why);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t now = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    char *value = bc_runlog_json(run_id, worker, instance, "", "failed", error, now, NULL, 0,
                                 NULL, 0);
    if (value == NULL) {
        return;
    }
    /* Not waited for: the supervisor must go on restarting processes even while the broker
     * is down (librdkafka delivers in the background; the restarted process needs far
     * longer to write its own `started`, and either order gives the same events). */
    rd_kafka_resp_err_t err = rd_kafka_producev(
        rf->producer, RD_KAFKA_V_TOPIC(rf->topic), RD_KAFKA_V_KEY(key, strlen(key)),
        RD_KAFKA_V_VALUE(value, strlen(value)), RD_KAFKA_V_TIMESTAMP(now),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        fprintf(stderr, "breadcrumb run: run record: %s\n", rd_kafka_err2str(err));
    }
    rd_kafka_poll(rf->producer, 0);
    free(value);
}

void bc_run_fail_close(struct bc_run_fail *rf)
{
    if (rf->producer != NULL) {
        rd_kafka_flush(rf->producer, 2000);
        rd_kafka_destroy(rf->producer);
        rf->producer = NULL;
    }
}
