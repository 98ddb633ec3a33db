/* Run records of worker processes (bc_runlog.h). */
#include "bc_runlog.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#define RUNLOG_TIMEOUT_MS 30000

int bc_runlog_is_uuid(const char *s)
{
    if (s == NULL || strlen(s) != 36) {
        return 0;
    }
    for (int i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-') {
                return 0;
            }
        } else if (!isxdigit((unsigned char)s[i])) {
            return 0;
        }
    }
    return 1;
}

void bc_runlog_id(char out[37])
{
    const char *env = getenv("BREADCRUMB_RUN_ID");
    if (bc_runlog_is_uuid(env)) {
        for (int i = 0; i < 37; i++) {
            out[i] = (char)tolower((unsigned char)env[i]);
        }
        return;
    }
    bc_runlog_new_id(out);
}

void bc_runlog_new_id(char out[37])
{
    uint8_t d[16];
    size_t got = 0;
    while (got < sizeof(d)) {
        ssize_t n = getrandom(d + got, sizeof(d) - got, 0);
        if (n <= 0) {
            /* No entropy source: the clock and the pid still tell processes apart. */
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            uint64_t a = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
            uint64_t b = (uint64_t)getpid() * 0x9e3779b97f4a7c15u ^ a;
            memcpy(d, &a, 8);
            memcpy(d + 8, &b, 8);
            break;
        }
        got += (size_t)n;
    }
    d[6] = (uint8_t)((d[6] & 0x0f) | 0x40); /* version 4 */
    d[8] = (uint8_t)((d[8] & 0x3f) | 0x80); /* variant */
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
             d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7], d[8], d[9], d[10], d[11], d[12],
             d[13], d[14], d[15]);
}

static json_t *topic_list(const char *const *topics, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; a != NULL && i < n; i++) {
        if (topics[i] != NULL && topics[i][0] != '\0') {
            json_array_append_new(a, json_string(topics[i]));
        }
    }
    return a;
}

char *bc_runlog_json(const char *run_id, const char *worker, const char *instance,
                     const char *config_hash, const char *state, const char *error,
                     int64_t time_ms, const char *const *inputs, size_t n_inputs,
                     const char *const *outputs, size_t n_outputs)
{
    json_t *v = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:o, s:o}", "run_id", run_id,
                          "worker", worker, "instance", instance, "config_hash", config_hash,
                          "state", state, "time", (json_int_t)time_ms, "inputs",
                          topic_list(inputs, n_inputs), "outputs",
                          topic_list(outputs, n_outputs));
    if (v == NULL) {
        return NULL;
    }
    if (error != NULL) {
        json_object_set_new(v, "error", json_string(error));
    }
    char *text = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(v);
    return text;
}

static int txn_call(rd_kafka_error_t *error, const char *what, char *errstr, size_t cap)
{
    if (error == NULL) {
        return 0;
    }
    snprintf(errstr, cap, "%s: %s", what, rd_kafka_error_string(error));
    rd_kafka_error_destroy(error);
    return -1;
}

int bc_runlog_write(rd_kafka_t *producer, int transactional, const char *topic,
                    const char *key, const char *value, int64_t time_ms, char *errstr,
                    size_t errstr_size)
{
    if (transactional &&
        txn_call(rd_kafka_begin_transaction(producer), "begin_transaction", errstr,
                 errstr_size) != 0) {
        return -1;
    }
    rd_kafka_resp_err_t err = rd_kafka_producev(
        producer, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, strlen(key)),
        RD_KAFKA_V_VALUE((void *)value, strlen(value)), RD_KAFKA_V_TIMESTAMP(time_ms),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        snprintf(errstr, errstr_size, "produce: %s", rd_kafka_err2str(err));
        if (transactional) {
            rd_kafka_error_t *e = rd_kafka_abort_transaction(producer, RUNLOG_TIMEOUT_MS);
            if (e != NULL) {
                rd_kafka_error_destroy(e);
            }
        }
        return -1;
    }
    if (!transactional) {
        if (rd_kafka_flush(producer, RUNLOG_TIMEOUT_MS) != RD_KAFKA_RESP_ERR_NO_ERROR) {
            snprintf(errstr, errstr_size, "flush: timed out");
            return -1;
        }
        return 0;
    }
    if (txn_call(rd_kafka_commit_transaction(producer, RUNLOG_TIMEOUT_MS), "commit_transaction",
                 errstr, errstr_size) != 0) {
        rd_kafka_error_t *e = rd_kafka_abort_transaction(producer, RUNLOG_TIMEOUT_MS);
        if (e != NULL) {
            rd_kafka_error_destroy(e);
        }
        return -1;
    }
    return 0;
}
