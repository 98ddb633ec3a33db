/* librdkafka configuration per role from the topology (bc_kafka_conf.h). */
#include "bc_kafka_conf.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Scope of each librdkafka property ('C' consumer, 'P' producer, '*' both), read once from
 * rd_kafka_conf_properties_show(): passthrough settings meant for the other kind of client
 * are skipped instead of making librdkafka warn in every process. */
struct scope {
    char *key;
    char scope;
};
static struct scope *scopes;
static size_t n_scopes;
static pthread_once_t scopes_once = PTHREAD_ONCE_INIT;

static void scopes_load(void)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (f == NULL) {
        return;
    }
    rd_kafka_conf_properties_show(f);
    fclose(f);
    for (char *save = NULL, *line = strtok_r(text, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        char key[256], scope[8];
        if (sscanf(line, "%255s | %7s |", key, scope) != 2 || strlen(scope) != 1) {
            continue;
        }
        struct scope *grown = realloc(scopes, (n_scopes + 1) * sizeof(*grown));
        if (grown == NULL) {
            break;
        }
        scopes = grown;
        scopes[n_scopes].key = strdup(key);
        scopes[n_scopes++].scope = scope[0];
    }
    free(text);
}

/* 'C', 'P', '*', or '*' when unknown (then librdkafka decides). */
static char scope_of(const char *key)
{
    pthread_once(&scopes_once, scopes_load);
    for (size_t i = 0; i < n_scopes; i++) {
        if (scopes[i].key != NULL && strcmp(scopes[i].key, key) == 0) {
            return scopes[i].scope;
        }
    }
    return '*';
}

int bc_kafka_brokers(const struct bc_config *cfg, const char *brokers_override, char *buf,
                     size_t size, char *errstr, size_t errstr_size)
{
    const char *brokers = brokers_override;
    if (brokers == NULL || brokers[0] == '\0') {
        brokers = cfg != NULL ? cfg->kafka.brokers : "embedded";
    }
    if (strcmp(brokers, "embedded") == 0) {
        brokers = getenv("BREADCRUMB_BROKERS");
        if (brokers == NULL || brokers[0] == '\0') {
            snprintf(errstr, errstr_size,
                     "kafka.brokers is 'embedded' but BREADCRUMB_BROKERS is not set (start the "
                     "pipeline with `breadcrumb run`, or pass --brokers HOST:PORT)");
            return -1;
        }
    }
    if ((size_t)snprintf(buf, size, "%s", brokers) >= size) {
        snprintf(errstr, errstr_size, "bootstrap servers too long");
        return -1;
    }
    return 0;
}

struct setting {
    const char *key;
    const char *value;
};

static int set(rd_kafka_conf_t *conf, const char *key, const char *value, char *errstr,
               size_t errstr_size)
{
    char why[512];
    if (rd_kafka_conf_set(conf, key, value, why, sizeof(why)) != RD_KAFKA_CONF_OK) {
        snprintf(errstr, errstr_size, "%s: %s", key, why);
        return -1;
    }
    return 0;
}

static int set_all(rd_kafka_conf_t *conf, const struct setting *s, char *errstr, size_t errstr_size)
{
    for (; s->key != NULL; s++) {
        if (set(conf, s->key, s->value, errstr, errstr_size) != 0) {
            return -1;
        }
    }
    return 0;
}

static const struct setting consumer_defaults[] = {
    {"partition.assignment.strategy", "range"},
    {"auto.offset.reset", "earliest"},
    {NULL, NULL},
};
static const struct setting producer_defaults[] = {
    {"partitioner", "murmur2_random"},
    {"acks", "all"},
    {NULL, NULL},
};
static const struct setting test_common[] = {
    {"socket.connection.setup.timeout.ms", "10000"},
    {"reconnect.backoff.max.ms", "1000"},
    {NULL, NULL},
};
static const struct setting test_consumer[] = {
    {"session.timeout.ms", "6000"},
    {"heartbeat.interval.ms", "500"},
    {"max.poll.interval.ms", "30000"},
    {"fetch.wait.max.ms", "100"},
    {NULL, NULL},
};
static const struct setting test_txn_producer[] = {
    {"transaction.timeout.ms", "10000"},
    {NULL, NULL},
};
/* What exactly-once requires: applied last, never overridable. */
static const struct setting consumer_required[] = {
    {"isolation.level", "read_committed"},
    {"enable.auto.commit", "false"},
    {"enable.auto.offset.store", "false"},
    {NULL, NULL},
};
static const struct setting producer_required[] = {
    {"enable.idempotence", "true"},
    {NULL, NULL},
};

static int set_security(rd_kafka_conf_t *conf, const struct bc_config *cfg, char *errstr,
                        size_t errstr_size)
{
    const struct setting s[] = {
        {"security.protocol", cfg->kafka.security.protocol},
        {"sasl.mechanisms", cfg->kafka.security.sasl_mechanism},
        {"sasl.username", cfg->kafka.security.username},
        {"sasl.password", cfg->kafka.security.password},
        {"ssl.ca.location", cfg->kafka.security.ca_file},
    };
    for (size_t i = 0; i < sizeof(s) / sizeof(s[0]); i++) {
        if (s[i].value != NULL && set(conf, s[i].key, s[i].value, errstr, errstr_size) != 0) {
            return -1;
        }
    }
    return 0;
}

rd_kafka_conf_t *bc_kafka_conf_new(const struct bc_config *cfg, const struct bc_worker *worker,
                                   enum bc_kafka_role role, const char *instance,
                                   const char *brokers_override, char *errstr, size_t errstr_size)
{
    rd_kafka_conf_t *conf = NULL;
    char brokers[4096], name[1024];
    int consumer = role == BC_KAFKA_CONSUMER;
    int producer = role == BC_KAFKA_TXN_PRODUCER || role == BC_KAFKA_PRODUCER;
    if ((role == BC_KAFKA_CONSUMER || role == BC_KAFKA_TXN_PRODUCER) &&
        (cfg == NULL || worker == NULL)) {
        snprintf(errstr, errstr_size, "a consumer or transactional producer needs a worker");
        return NULL;
    }
    if (role == BC_KAFKA_TXN_PRODUCER && instance == NULL) {
        snprintf(errstr, errstr_size, "a transactional producer needs an instance id");
        return NULL;
    }
    if (bc_kafka_brokers(cfg, brokers_override, brokers, sizeof(brokers), errstr, errstr_size) !=
        0) {
        return NULL;
    }
    conf = rd_kafka_conf_new();
    if ((consumer && set_all(conf, consumer_defaults, errstr, errstr_size) != 0) ||
        (producer && set_all(conf, producer_defaults, errstr, errstr_size) != 0)) {
        goto fail;
    }
    if (cfg != NULL && cfg->kafka.profile == BC_PROFILE_TEST) {
        if (set_all(conf, test_common, errstr, errstr_size) != 0 ||
            (consumer && set_all(conf, test_consumer, errstr, errstr_size) != 0) ||
            (role == BC_KAFKA_TXN_PRODUCER &&
             set_all(conf, test_txn_producer, errstr, errstr_size) != 0)) {
            goto fail;
        }
    }
    for (size_t i = 0; cfg != NULL && i < cfg->kafka.n_client; i++) {
        char scope = scope_of(cfg->kafka.client[i].key);
        if ((scope == 'C' && !consumer) || (scope == 'P' && !producer)) {
            continue;
        }
        if (set(conf, cfg->kafka.client[i].key, cfg->kafka.client[i].value, errstr, errstr_size) !=
            0) {
            goto fail;
        }
    }
    if (set(conf, "bootstrap.servers", brokers, errstr, errstr_size) != 0 ||
        (cfg != NULL && set_security(conf, cfg, errstr, errstr_size) != 0)) {
        goto fail;
    }
    if (cfg != NULL && worker != NULL) {
        if (instance != NULL) {
            snprintf(name, sizeof(name), "%s.%s.%s", cfg->pipeline, worker->name, instance);
        } else {
            snprintf(name, sizeof(name), "%s.%s", cfg->pipeline, worker->name);
        }
        if (set(conf, "client.id", name, errstr, errstr_size) != 0) {
            goto fail;
        }
    }
    if (consumer) {
        snprintf(name, sizeof(name), "%s.%s", cfg->pipeline, worker->name);
        if (set(conf, "group.id", name, errstr, errstr_size) != 0 ||
            set_all(conf, consumer_required, errstr, errstr_size) != 0) {
            goto fail;
        }
        if (instance != NULL) {
            snprintf(name, sizeof(name), "%s.%s.%s", cfg->pipeline, worker->name, instance);
            if (set(conf, "group.instance.id", name, errstr, errstr_size) != 0) {
                goto fail;
            }
        }
    }
    if (producer && set_all(conf, producer_required, errstr, errstr_size) != 0) {
        goto fail;
    }
    if (role == BC_KAFKA_TXN_PRODUCER) {
        snprintf(name, sizeof(name), "%s.%s.%s", cfg->pipeline, worker->name, instance);
        if (set(conf, "transactional.id", name, errstr, errstr_size) != 0) {
            goto fail;
        }
    }
    return conf;
fail:
    rd_kafka_conf_destroy(conf);
    return NULL;
}
