/* The generator's outputs (gen_out.h): Kafka topics or JSON Lines files. */
#include "tools/breadcrumb/gen_out.h"
#include "tools/breadcrumb/gen_internal.h"

#include <errno.h>
#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct gen_out {
    FILE *files[2]; /* per topic, files mode */
    rd_kafka_t *rk; /* Kafka mode */
    char *topics[2];
    int64_t failed; /* deliveries that failed (written by the delivery callback) */
    char first_error[256];
};

char *gen_out_line(const struct bc_gen_record *rec)
{
    json_t *line = json_object();
    json_object_set_new(line, "key", rec->key != NULL ? json_string(rec->key) : json_null());
    json_t *value = json_stringn((const char *)rec->value, rec->value_len);
    if (value != NULL) {
        json_object_set_new(line, "value", value);
    } else {
        size_t cap = 4 * ((rec->value_len + 2) / 3) + 1;
        char *b64 = malloc(cap);
        gen_b64(rec->value, rec->value_len, b64, cap);
        json_object_set_new(line, "value_b64", json_string(b64));
        free(b64);
    }
    json_object_set_new(line, "timestamp_ms", json_integer(rec->timestamp_ms));
    size_t len;
    char *s = gen_dump(line, &len);
    json_decref(line);
    return s;
}

static void out_free(struct gen_out *out)
{
    for (int i = 0; i < 2; i++) {
        if (out->files[i] != NULL) {
            fclose(out->files[i]);
        }
        free(out->topics[i]);
    }
    if (out->rk != NULL) {
        rd_kafka_destroy(out->rk);
    }
    free(out);
}

struct gen_out *gen_out_files_new(const char *dir, const char *topic, const char *deploys_topic,
                                  char *errstr, size_t errstr_size)
{
    struct gen_out *out = calloc(1, sizeof(*out));
    if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
        snprintf(errstr, errstr_size, "%s: %s", dir, strerror(errno));
        goto fail;
    }
    const char *names[2] = {topic, deploys_topic};
    for (int i = 0; i < 2; i++) {
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s.jsonl", dir, names[i]);
        out->files[i] = fopen(path, "w");
        if (out->files[i] == NULL) {
            snprintf(errstr, errstr_size, "%s: %s", path, strerror(errno));
            goto fail;
        }
    }
    return out;
fail:
    out_free(out);
    return NULL;
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque)
{
    (void)rk;
    struct gen_out *out = opaque;
    if (msg->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        if (out->failed++ == 0) {
            snprintf(out->first_error, sizeof(out->first_error), "%s", rd_kafka_err2str(msg->err));
        }
    }
}

struct gen_out *gen_out_kafka_new(const char *brokers, const char *topic, const char *deploys_topic,
                                  int64_t max_bytes, char *errstr, size_t errstr_size)
{
    struct gen_out *out = calloc(1, sizeof(*out));
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char max[32];
    /* Oversized records exceed max_bytes by up to 4 KiB; the broker must accept them too. */
    snprintf(max, sizeof(max), "%lld",
             (long long)(max_bytes + 65536 > 1000000 ? max_bytes + 65536 : 1000000));
    const char *settings[][2] = {
        {"bootstrap.servers", brokers},
        {"enable.idempotence", "true"},
        {"acks", "all"},
        {"linger.ms", "20"},
        {"message.max.bytes", max},
        {"partitioner", "murmur2_random"},
        {"client.id", "breadcrumb-gen"},
    };
    for (size_t i = 0; i < sizeof(settings) / sizeof(settings[0]); i++) {
        if (rd_kafka_conf_set(conf, settings[i][0], settings[i][1], errstr, errstr_size) !=
            RD_KAFKA_CONF_OK) {
            rd_kafka_conf_destroy(conf);
            goto fail;
        }
    }
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_conf_set_opaque(conf, out);
    out->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, errstr_size);
    if (out->rk == NULL) {
        rd_kafka_conf_destroy(conf); /* rd_kafka_new frees conf only on success */
        goto fail;
    }
    out->topics[0] = strdup(topic);
    out->topics[1] = strdup(deploys_topic);
    return out;
fail:
    out_free(out);
    return NULL;
}

int gen_out_write(struct gen_out *out, const struct bc_gen_record *rec, char *errstr,
                  size_t errstr_size)
{
    if (out->rk == NULL) {
        char *line = gen_out_line(rec);
        int rc = fputs(line, out->files[rec->topic]) < 0 || fputc('\n', out->files[rec->topic]) < 0;
        free(line);
        if (rc != 0) {
            snprintf(errstr, errstr_size, "write: %s", strerror(errno));
            return -1;
        }
        return 0;
    }
    static const char empty[1] = "";
    /* A non-NULL pointer with length 0 is an empty value, not a null one. */
    void *value = rec->value_len > 0 ? (void *)rec->value : (void *)empty;
    size_t key_len = rec->key != NULL ? strlen(rec->key) : 0;
    for (;;) {
        rd_kafka_resp_err_t err = rd_kafka_producev(
            out->rk, RD_KAFKA_V_TOPIC(out->topics[rec->topic]),
            RD_KAFKA_V_VALUE(value, rec->value_len), RD_KAFKA_V_KEY(rec->key, key_len),
            RD_KAFKA_V_TIMESTAMP(rec->timestamp_ms), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_END);
        if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            rd_kafka_poll(out->rk, 100);
            continue;
        }
        if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            snprintf(errstr, errstr_size, "produce to %s: %s", out->topics[rec->topic],
                     rd_kafka_err2str(err));
            return -1;
        }
        break;
    }
    rd_kafka_poll(out->rk, 0);
    if (out->failed > 0) {
        snprintf(errstr, errstr_size, "delivery failed: %s", out->first_error);
        return -1;
    }
    return 0;
}

int gen_out_close(struct gen_out *out, int timeout_ms, char *errstr, size_t errstr_size)
{
    if (out == NULL) {
        return 0;
    }
    int rc = 0;
    if (out->rk != NULL) {
        rd_kafka_resp_err_t err = rd_kafka_flush(out->rk, timeout_ms);
        if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            snprintf(errstr, errstr_size, "flush: %d record(s) not delivered: %s",
                     rd_kafka_outq_len(out->rk), rd_kafka_err2str(err));
            /* Give up on them now rather than in rd_kafka_destroy(). */
            rd_kafka_purge(out->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
            rd_kafka_poll(out->rk, 0);
            rc = -1;
        } else if (out->failed > 0) {
            snprintf(errstr, errstr_size, "%lld record(s) not delivered: %s",
                     (long long)out->failed, out->first_error);
            rc = -1;
        }
    }
    for (int i = 0; i < 2; i++) {
        if (out->files[i] != NULL) {
            if (fclose(out->files[i]) != 0 && rc == 0) {
                snprintf(errstr, errstr_size, "close: %s", strerror(errno));
                rc = -1;
            }
            out->files[i] = NULL;
        }
    }
    out_free(out);
    return rc;
}
