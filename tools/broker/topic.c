/*
 * Topics: the registry, topic configs, creation and deletion, and their persistence.
 *
 * On disk, under --data-dir:
 *   meta/topics/<name>       "partitions=N", "id=<32 hex>", "config.<key>=<value>" lines
 *   meta/producer-id-block   the end of the block of producer ids handed out so far
 *   <name>-<partition>/      the partition's log (log.c)
 * A topic file is written (tmp + rename) before its partition directories are created and
 * removed before they are deleted, so a crash in between leaves at most stray directories,
 * which the next create of the same name starts empty.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bc_log.h"
#include "broker.h"

#define PRODUCER_ID_BLOCK 1000

const struct topic_config_def topic_config_defs[TC_COUNT] = {
    [TC_CLEANUP_POLICY] = {"cleanup.policy", "delete", "delete|compact|compact,delete|delete,compact", 0, 0},
    [TC_COMPRESSION_TYPE] = {"compression.type", "producer", "producer", 0, 0},
    [TC_DELETE_RETENTION_MS] = {"delete.retention.ms", "86400000", NULL, 0, INT64_MAX},
    [TC_MAX_COMPACTION_LAG_MS] = {"max.compaction.lag.ms", "9223372036854775807", NULL, 1, INT64_MAX},
    [TC_MAX_MESSAGE_BYTES] = {"max.message.bytes", "1048588", NULL, 0, INT32_MAX},
    [TC_MESSAGE_TIMESTAMP_TYPE] = {"message.timestamp.type", "CreateTime", "CreateTime", 0, 0},
    [TC_MIN_CLEANABLE_DIRTY_RATIO] = {"min.cleanable.dirty.ratio", "0.5", "#ratio", 0, 0},
    [TC_MIN_COMPACTION_LAG_MS] = {"min.compaction.lag.ms", "0", NULL, 0, INT64_MAX},
    [TC_MIN_INSYNC_REPLICAS] = {"min.insync.replicas", "1", NULL, 1, 1},
    [TC_RETENTION_BYTES] = {"retention.bytes", "-1", NULL, -1, INT64_MAX},
    [TC_RETENTION_MS] = {"retention.ms", "604800000", NULL, -1, INT64_MAX},
    [TC_SEGMENT_BYTES] = {"segment.bytes", "1073741824", NULL, 1024, INT32_MAX},
    [TC_SEGMENT_MS] = {"segment.ms", "604800000", NULL, 1, INT64_MAX},
};

int topic_name_valid(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > TOPIC_NAME_MAX || strcmp(name, ".") == 0 || strcmp(name, "..") == 0) {
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-')) {
            return -1;
        }
    }
    return 0;
}

/* Checks value for config k; fills *num for numbers. Returns 0 or -1. */
static int config_parse(enum topic_config_key k, const char *value, int64_t *num)
{
    const struct topic_config_def *d = &topic_config_defs[k];
    *num = 0;
    if (d->choices != NULL && strcmp(d->choices, "#ratio") == 0) {
        char *end = NULL;
        double v = strtod(value, &end);
        return (*value != '\0' && *end == '\0' && v >= 0 && v <= 1) ? 0 : -1;
    }
    if (d->choices != NULL) {
        const char *p = d->choices;
        size_t n = strlen(value);
        while (*p != '\0') {
            const char *bar = strchr(p, '|');
            size_t len = bar ? (size_t)(bar - p) : strlen(p);
            if (len == n && strncmp(p, value, n) == 0) {
                return 0;
            }
            p += len + (bar ? 1 : 0);
        }
        return -1;
    }
    char *end = NULL;
    errno = 0;
    long long v = strtoll(value, &end, 10);
    if (*value == '\0' || *end != '\0' || errno != 0 || v < d->min || v > d->max) {
        return -1;
    }
    *num = v;
    return 0;
}

static int config_key(const char *name)
{
    for (int k = 0; k < TC_COUNT; k++) {
        if (strcmp(topic_config_defs[k].name, name) == 0) {
            return k;
        }
    }
    return -1;
}

const char *topic_config_value(const struct topic *t, enum topic_config_key k)
{
    return t->cfg.value[k] ? t->cfg.value[k] : topic_config_defs[k].default_value;
}

static void configs_free(struct topic_configs *c)
{
    for (int k = 0; k < TC_COUNT; k++) {
        free(c->value[k]);
        c->value[k] = NULL;
    }
}

static void configs_defaults(struct topic_configs *c)
{
    for (int k = 0; k < TC_COUNT; k++) {
        c->value[k] = NULL;
        config_parse((enum topic_config_key)k, topic_config_defs[k].default_value, &c->num[k]);
    }
}

struct topic *broker_topic_find(struct broker *b, const char *name)
{
    for (size_t i = 0; i < b->ntopics; i++) {
        if (strcmp(b->topics[i]->name, name) == 0) {
            return b->topics[i];
        }
    }
    return NULL;
}

struct topic *broker_topic_find_kstr(struct broker *b, struct kstr name)
{
    if (name.len <= 0 || name.len > TOPIC_NAME_MAX) {
        return NULL;
    }
    for (size_t i = 0; i < b->ntopics; i++) {
        if (kstr_eq(name, b->topics[i]->name)) {
            return b->topics[i];
        }
    }
    return NULL;
}

struct partition *broker_partition_find(struct broker *b, struct kstr topic, int32_t index)
{
    struct topic *t = broker_topic_find_kstr(b, topic);
    if (t == NULL || index < 0 || index >= t->npartitions) {
        return NULL;
    }
    return &t->partitions[index];
}

static void topic_free(struct topic *t)
{
    if (t == NULL) {
        return;
    }
    for (int32_t i = 0; t->partitions != NULL && i < t->npartitions; i++) {
        plog_close(t->partitions[i].log);
        producer_table_free(&t->partitions[i].producers);
        txn_partition_free(&t->partitions[i]);
    }
    free(t->partitions);
    configs_free(&t->cfg);
    free(t);
}

static void partition_dir(const struct broker *b, const char *topic, int32_t p, char *out,
                          size_t cap)
{
    snprintf(out, cap, "%s/%s-%" PRId32, b->opts.data_dir, topic, p);
}

struct scan_ctx {
    struct broker *b;
    struct partition *p;
};

static void scan_batch(void *arg, const struct batch_hdr *h)
{
    struct scan_ctx *sc = arg;
    if (h->producer_id >= 0) {
        producer_update(&sc->p->producers, h);
        txn_partition_scan(sc->p, h);
        if (h->producer_id >= sc->b->next_producer_id) {
            sc->b->next_producer_id = h->producer_id + 1;
        }
    }
}

/* Opens (recovering) the logs of t's partitions. */
static int topic_open_logs(struct broker *b, struct topic *t, char *errstr, size_t errstr_size)
{
    t->partitions = calloc((size_t)t->npartitions, sizeof(*t->partitions));
    if (t->partitions == NULL) {
        snprintf(errstr, errstr_size, "out of memory");
        return -1;
    }
    struct plog_opts lo = {.segment_bytes = t->cfg.num[TC_SEGMENT_BYTES], .index_interval = 4096};
    lo.allow_gaps = strstr(topic_config_value(t, TC_CLEANUP_POLICY), "compact") != NULL;
    for (int32_t i = 0; i < t->npartitions; i++) {
        struct partition *p = &t->partitions[i];
        p->topic = t;
        p->index = i;
        char dir[4096];
        partition_dir(b, t->name, i, dir, sizeof(dir));
        struct scan_ctx sc = {b, p};
        int64_t truncated = 0;
        if (plog_open(&p->log, dir, &lo, scan_batch, &sc, &truncated, errstr, errstr_size) != 0) {
            return -1;
        }
        if (txn_partition_recovered(p) != 0) {
            snprintf(errstr, errstr_size, "%s: cannot rebuild the aborted-transaction index", dir);
            return -1;
        }
        if (truncated > 0) {
            char part[16], bytes[32], end[32];
            snprintf(part, sizeof(part), "%" PRId32, i);
            snprintf(bytes, sizeof(bytes), "%" PRId64, truncated);
            snprintf(end, sizeof(end), "%" PRId64, plog_end_offset(p->log));
            bc_log(BC_LOG_WARN, "log recovery truncated a torn or invalid tail", "topic", t->name,
                   "partition", part, "bytes", bytes, "end_offset", end, NULL);
        }
    }
    return 0;
}

static int write_file_atomic(const char *path, const char *text, char *errstr, size_t errstr_size)
{
    char tmp[4200];
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        snprintf(errstr, errstr_size, "%s: %s", tmp, strerror(errno));
        return -1;
    }
    size_t n = strlen(text);
    int ok = write(fd, text, n) == (ssize_t)n && fsync(fd) == 0;
    close(fd);
    if (!ok || rename(tmp, path) != 0) {
        snprintf(errstr, errstr_size, "%s: %s", path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    return 0;
}

static int topic_save(struct broker *b, const struct topic *t, char *errstr, size_t errstr_size)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/meta/topics/%s", b->opts.data_dir, t->name);
    char text[8192];
    int len = snprintf(text, sizeof(text), "partitions=%" PRId32 "\nid=", t->npartitions);
    for (int i = 0; i < 16; i++) {
        len += snprintf(text + len, sizeof(text) - (size_t)len, "%02x", t->id[i]);
    }
    len += snprintf(text + len, sizeof(text) - (size_t)len, "\n");
    for (int k = 0; k < TC_COUNT; k++) {
        if (t->cfg.value[k] != NULL) {
            len += snprintf(text + len, sizeof(text) - (size_t)len, "config.%s=%s\n",
                            topic_config_defs[k].name, t->cfg.value[k]);
        }
    }
    return write_file_atomic(path, text, errstr, errstr_size);
}

static int topics_push(struct broker *b, struct topic *t)
{
    if (b->ntopics == b->captopics) {
        size_t cap = b->captopics ? b->captopics * 2 : 16;
        struct topic **v = realloc(b->topics, cap * sizeof(*v));
        if (v == NULL) {
            return -1;
        }
        b->topics = v;
        b->captopics = cap;
    }
    b->topics[b->ntopics++] = t;
    return 0;
}

static int topic_load_one(struct broker *b, const char *name, char *errstr, size_t errstr_size)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/meta/topics/%s", b->opts.data_dir, name);
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        snprintf(errstr, errstr_size, "%s: %s", path, strerror(errno));
        return -1;
    }
    struct topic *t = calloc(1, sizeof(*t));
    if (t == NULL) {
        fclose(f);
        snprintf(errstr, errstr_size, "out of memory");
        return -1;
    }
    memcpy(t->name, name, strlen(name) + 1); /* checked by topic_name_valid() */
    configs_defaults(&t->cfg);
    char line[4096];
    int lineno = 0;
    while (fgets(line, sizeof(line), f) != NULL) {
        lineno++;
        line[strcspn(line, "\n")] = '\0';
        char *eq = strchr(line, '=');
        if (eq == NULL) {
            continue;
        }
        *eq = '\0';
        const char *key = line, *value = eq + 1;
        if (strcmp(key, "partitions") == 0) {
            t->npartitions = (int32_t)atoi(value);
        } else if (strcmp(key, "id") == 0 && strlen(value) == 32) {
            for (int i = 0; i < 16; i++) {
                unsigned v = 0;
                sscanf(value + 2 * i, "%2x", &v);
                t->id[i] = (uint8_t)v;
            }
        } else if (strncmp(key, "config.", 7) == 0) {
            int k = config_key(key + 7);
            int64_t num;
            if (k < 0 || config_parse((enum topic_config_key)k, value, &num) != 0) {
                snprintf(errstr, errstr_size, "%s:%d: bad config %s", path, lineno, key + 7);
                goto fail;
            }
            free(t->cfg.value[k]);
            t->cfg.value[k] = strdup(value);
            t->cfg.num[k] = num;
        }
    }
    fclose(f);
    f = NULL;
    if (t->npartitions < 1) {
        snprintf(errstr, errstr_size, "%s: bad partition count", path);
        goto fail;
    }
    if (topic_open_logs(b, t, errstr, errstr_size) != 0 || topics_push(b, t) != 0) {
        goto fail;
    }
    return 0;
fail:
    if (f != NULL) {
        fclose(f);
    }
    topic_free(t);
    return -1;
}

static int64_t read_block_end(struct broker *b)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/meta/producer-id-block", b->opts.data_dir);
    FILE *f = fopen(path, "r");
    long long v = 0;
    if (f != NULL) {
        if (fscanf(f, "%lld", &v) != 1) {
            v = 0;
        }
        fclose(f);
    }
    return v;
}

int broker_topics_load(struct broker *b, char *errstr, size_t errstr_size)
{
    char path[4096];
    const char *dirs[] = {"", "/meta", "/meta/topics"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(path, sizeof(path), "%s%s", b->opts.data_dir, dirs[i]);
        if (mkdir(path, 0755) != 0 && errno != EEXIST) {
            snprintf(errstr, errstr_size, "%s: %s", path, strerror(errno));
            return -1;
        }
    }
    b->next_producer_id = read_block_end(b);
    DIR *d = opendir(path);
    if (d == NULL) {
        snprintf(errstr, errstr_size, "%s: %s", path, strerror(errno));
        return -1;
    }
    struct dirent *de;
    int rc = 0;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.' || topic_name_valid(de->d_name) != 0 ||
            strstr(de->d_name, ".tmp") != NULL) {
            continue;
        }
        if (topic_load_one(b, de->d_name, errstr, errstr_size) != 0) {
            rc = -1;
            break;
        }
    }
    closedir(d);
    b->producer_id_block_end = b->next_producer_id;
    return rc;
}

int64_t broker_producer_id_next(struct broker *b)
{
    if (b->next_producer_id >= b->producer_id_block_end) {
        char path[4096], text[32], err[256];
        int64_t end = b->next_producer_id + PRODUCER_ID_BLOCK;
        snprintf(path, sizeof(path), "%s/meta/producer-id-block", b->opts.data_dir);
        snprintf(text, sizeof(text), "%" PRId64 "\n", end);
        if (write_file_atomic(path, text, err, sizeof(err)) != 0) {
            bc_log(BC_LOG_ERROR, "cannot reserve producer ids", "error", err, NULL);
            return -1;
        }
        b->producer_id_block_end = end;
    }
    return b->next_producer_id++;
}

static void remove_partition_dirs(struct broker *b, const char *name, int32_t from)
{
    /* Directories left from an earlier topic of that name (crash during delete). */
    for (int32_t i = from; i < from + 100000; i++) {
        char dir[4096];
        partition_dir(b, name, i, dir, sizeof(dir));
        struct stat st;
        if (stat(dir, &st) != 0) {
            break;
        }
        struct plog_opts lo = {.segment_bytes = 1 << 30, .index_interval = 4096};
        struct plog *log = NULL;
        int64_t truncated;
        char err[256];
        if (plog_open(&log, dir, &lo, NULL, NULL, &truncated, err, sizeof(err)) == 0) {
            plog_destroy_dir(log);
        }
    }
}

int broker_topic_create(struct broker *b, const char *name, int32_t partitions,
                        const char *const *config_names, const char *const *config_values,
                        size_t nconfigs, struct topic **out, char *errstr, size_t errstr_size)
{
    struct topic *t = NULL;
    char path[4096];
    errstr[0] = '\0';
    if (topic_name_valid(name) != 0) {
        snprintf(errstr, errstr_size, "invalid topic name");
        return KERR_INVALID_TOPIC_EXCEPTION;
    }
    if (broker_topic_find(b, name) != NULL) {
        snprintf(errstr, errstr_size, "Topic '%s' already exists.", name);
        return KERR_TOPIC_ALREADY_EXISTS;
    }
    if (partitions < 1) {
        partitions = b->opts.default_partitions;
    }
    if (partitions > 10000) {
        snprintf(errstr, errstr_size, "too many partitions");
        return KERR_INVALID_PARTITIONS;
    }
    t = calloc(1, sizeof(*t));
    if (t == NULL) {
        snprintf(errstr, errstr_size, "out of memory");
        return KERR_UNKNOWN_SERVER_ERROR;
    }
    snprintf(t->name, sizeof(t->name), "%s", name);
    t->npartitions = partitions;
    configs_defaults(&t->cfg);
    if (getrandom(t->id, sizeof(t->id), 0) != (ssize_t)sizeof(t->id)) {
        memset(t->id, 0x5a, sizeof(t->id));
    }
    for (size_t i = 0; i < nconfigs; i++) {
        int k = config_key(config_names[i]);
        int64_t num;
        if (k < 0) {
            snprintf(errstr, errstr_size, "Unknown topic config name: %s", config_names[i]);
            goto invalid;
        }
        if (config_values[i] == NULL) {
            continue;
        }
        if (config_parse((enum topic_config_key)k, config_values[i], &num) != 0) {
            snprintf(errstr, errstr_size, "Invalid value %s for configuration %s",
                     config_values[i], config_names[i]);
            goto invalid;
        }
        free(t->cfg.value[k]);
        t->cfg.value[k] = strdup(config_values[i]);
        if (t->cfg.value[k] == NULL) {
            goto oom;
        }
        t->cfg.num[k] = num;
    }
    remove_partition_dirs(b, name, 0);
    if (topic_save(b, t, errstr, errstr_size) != 0) {
        topic_free(t);
        return KERR_KAFKA_STORAGE_ERROR;
    }
    if (topic_open_logs(b, t, errstr, errstr_size) != 0 || topics_push(b, t) != 0) {
        snprintf(path, sizeof(path), "%s/meta/topics/%s", b->opts.data_dir, name);
        unlink(path);
        topic_free(t);
        return KERR_KAFKA_STORAGE_ERROR;
    }
    if (out != NULL) {
        *out = t;
    }
    char parts[16];
    snprintf(parts, sizeof(parts), "%" PRId32, partitions);
    bc_log(BC_LOG_INFO, "topic created", "topic", name, "partitions", parts, NULL);
    return KERR_NONE;
invalid:
    topic_free(t);
    return KERR_INVALID_CONFIG;
oom:
    topic_free(t);
    snprintf(errstr, errstr_size, "out of memory");
    return KERR_UNKNOWN_SERVER_ERROR;
}

int broker_topic_delete(struct broker *b, const char *name)
{
    size_t i = 0;
    while (i < b->ntopics && strcmp(b->topics[i]->name, name) != 0) {
        i++;
    }
    if (i == b->ntopics) {
        return KERR_UNKNOWN_TOPIC_OR_PARTITION;
    }
    struct topic *t = b->topics[i];
    memmove(&b->topics[i], &b->topics[i + 1], (b->ntopics - i - 1) * sizeof(*b->topics));
    b->ntopics--;
    char path[4096];
    snprintf(path, sizeof(path), "%s/meta/topics/%s", b->opts.data_dir, name);
    unlink(path);
    for (int32_t p = 0; p < t->npartitions; p++) {
        plog_destroy_dir(t->partitions[p].log);
        t->partitions[p].log = NULL;
    }
    topic_free(t);
    groups_topic_deleted(b, name);
    bc_log(BC_LOG_INFO, "topic deleted", "topic", name, NULL);
    return KERR_NONE;
}

void broker_topics_close(struct broker *b)
{
    for (size_t i = 0; i < b->ntopics; i++) {
        for (int32_t p = 0; p < b->topics[i]->npartitions; p++) {
            plog_sync(b->topics[i]->partitions[p].log);
        }
        topic_free(b->topics[i]);
    }
    free(b->topics);
    b->topics = NULL;
    b->ntopics = b->captopics = 0;
}

void broker_retention_run(struct broker *b)
{
    int64_t now = now_ms();
    for (size_t i = 0; i < b->ntopics; i++) {
        struct topic *t = b->topics[i];
        if (strstr(topic_config_value(t, TC_CLEANUP_POLICY), "delete") == NULL) {
            continue;
        }
        for (int32_t p = 0; p < t->npartitions; p++) {
            int n = plog_apply_retention(t->partitions[p].log, t->cfg.num[TC_RETENTION_BYTES],
                                         t->cfg.num[TC_RETENTION_MS], now);
            if (n > 0) {
                char part[16], segs[16], start[32];
                snprintf(part, sizeof(part), "%" PRId32, p);
                snprintf(segs, sizeof(segs), "%d", n);
                snprintf(start, sizeof(start), "%" PRId64,
                         plog_start_offset(t->partitions[p].log));
                bc_log(BC_LOG_INFO, "retention deleted segments", "topic", t->name, "partition",
                       part, "segments", segs, "log_start_offset", start, NULL);
            }
        }
    }
}

void broker_sync_all(struct broker *b)
{
    for (size_t i = 0; i < b->ntopics; i++) {
        for (int32_t p = 0; p < b->topics[i]->npartitions; p++) {
            plog_sync(b->topics[i]->partitions[p].log);
        }
    }
}
