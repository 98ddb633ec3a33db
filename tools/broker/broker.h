/*
 * breadcrumb-broker's core types: the broker (one per process, driven by one thread),
 * topics and partitions, connections with their in-order response queue, and requests.
 *
 * Request flow: net.c frames a request, api.c parses its header and writes the response
 * header into a new `struct slot` at the tail of the connection's queue, then calls the
 * API's handler. A handler either writes the body and returns API_DONE, or keeps the slot
 * and returns API_DEFERRED, finishing later with slot_complete() (Fetch long-poll now,
 * JoinGroup/SyncGroup later). Responses leave a connection strictly in request order: a
 * finished slot waits behind an unfinished one. A deferred handler must set slot->cancel,
 * called if the connection closes first (the slot is freed right after).
 */
#ifndef BROKER_BROKER_H
#define BROKER_BROKER_H

#include <stddef.h>
#include <stdint.h>

#include "codec.h"
#include "log.h"
#include "producer.h"
#include "timer.h"
#include "txn.h"

#define BROKER_NODE_ID 0
#define TOPIC_NAME_MAX 249

/* Kafka error codes the broker answers with (specs/kafka-error-codes.tsv). */
enum kerr {
    KERR_UNKNOWN_SERVER_ERROR = -1,
    KERR_NONE = 0,
    KERR_OFFSET_OUT_OF_RANGE = 1,
    KERR_CORRUPT_MESSAGE = 2,
    KERR_UNKNOWN_TOPIC_OR_PARTITION = 3,
    KERR_MESSAGE_TOO_LARGE = 10,
    KERR_INVALID_TOPIC_EXCEPTION = 17,
    KERR_RECORD_LIST_TOO_LARGE = 18,
    KERR_INVALID_REQUIRED_ACKS = 21,
    KERR_CLUSTER_AUTHORIZATION_FAILED = 31,
    KERR_UNSUPPORTED_VERSION = 35,
    KERR_TOPIC_ALREADY_EXISTS = 36,
    KERR_INVALID_PARTITIONS = 37,
    KERR_INVALID_REPLICATION_FACTOR = 38,
    KERR_INVALID_REPLICA_ASSIGNMENT = 39,
    KERR_INVALID_CONFIG = 40,
    KERR_INVALID_REQUEST = 42,
    KERR_UNSUPPORTED_FOR_MESSAGE_FORMAT = 43,
    KERR_OUT_OF_ORDER_SEQUENCE_NUMBER = 45,
    KERR_INVALID_PRODUCER_EPOCH = 47,
    KERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED = 53,
    KERR_KAFKA_STORAGE_ERROR = 56,
    KERR_INVALID_RECORD = 87,
};

enum fsync_policy { FSYNC_NEVER = 0, FSYNC_INTERVAL = 1, FSYNC_ALWAYS = 2 };

struct broker_opts {
    char listen_host[256];
    int listen_port;           /* 0: any free port (see port_file) */
    char advertised_host[256]; /* host in Metadata; defaults to listen_host */
    const char *data_dir;
    const char *port_file; /* written with the bound port once listening, or NULL */
    int32_t default_partitions;
    int auto_create;
    enum fsync_policy fsync;
    int32_t fsync_interval_ms;
    int32_t max_request_bytes;
    int32_t fetch_max_bytes; /* cap on the records of one Fetch response */
    int64_t retention_check_ms;
    int64_t compact_interval_ms; /* log compaction passes (compact.c) */
    int64_t fault_drop_after_append; /* test only: 0 off, else drop the connection after the
                                        Nth appending Produce request instead of answering */
    int32_t group_min_session_timeout_ms;     /* JoinGroup session timeouts allowed (group.c) */
    int32_t group_max_session_timeout_ms;
    int32_t group_initial_rebalance_delay_ms; /* first rebalance of an empty group waits this */
};

/* Topic configs the broker knows (DescribeConfigs lists these; CreateTopics rejects
 * others). Keep in the order of topic_config_defs in topic.c. */
enum topic_config_key {
    TC_CLEANUP_POLICY,
    TC_COMPRESSION_TYPE,
    TC_DELETE_RETENTION_MS,
    TC_MAX_COMPACTION_LAG_MS,
    TC_MAX_MESSAGE_BYTES,
    TC_MESSAGE_TIMESTAMP_TYPE,
    TC_MIN_CLEANABLE_DIRTY_RATIO,
    TC_MIN_COMPACTION_LAG_MS,
    TC_MIN_INSYNC_REPLICAS,
    TC_RETENTION_BYTES,
    TC_RETENTION_MS,
    TC_SEGMENT_BYTES,
    TC_SEGMENT_MS,
    TC_COUNT
};

struct topic_config_def {
    const char *name;
    const char *default_value;
    const char *choices; /* "a|b|c" for enumerations, NULL for numbers */
    int64_t min, max;    /* for numbers */
};

extern const struct topic_config_def topic_config_defs[TC_COUNT];

struct topic_configs {
    char *value[TC_COUNT]; /* owned; NULL: the default */
    int64_t num[TC_COUNT]; /* parsed numbers (defaults filled in) */
};

struct topic;

struct partition {
    struct topic *topic;
    int32_t index;
    struct plog *log;
    struct producer_table producers;
    struct partition_txn txn; /* open and aborted transactions (txn.c) */
};

struct topic {
    char name[TOPIC_NAME_MAX + 1];
    uint8_t id[16];
    int32_t npartitions;
    struct partition *partitions;
    struct topic_configs cfg;
};

struct slot;
struct conn;
struct broker;
typedef void (*slot_cancel_fn)(struct broker *b, struct slot *s);

struct slot {
    struct slot *next;
    struct conn *conn;
    struct kbuf buf; /* size prefix + response header, then the body */
    size_t sent;
    int ready;
    int16_t api_key;
    int16_t api_version;
    slot_cancel_fn cancel; /* set by a deferring handler */
    void *owner;           /* the deferring handler's state */
};

struct conn {
    int fd;
    char peer[64];
    char client_id[64];
    uint8_t *rbuf;
    size_t rlen, rcap;
    struct slot *head, *tail;
    size_t queued_bytes; /* response bytes not yet written */
    int epoll_out;       /* EPOLLOUT registered */
    int reading_paused;  /* EPOLLIN dropped because queued_bytes is too large */
    int closed;
    const char *close_reason;
    uint64_t requests;
    int64_t opened_ms;
    struct conn *prev, *next; /* the broker's open connections */
    struct conn *next_closed;
};

struct req {
    struct conn *conn;
    int16_t api_key;
    int16_t api_version;
    int32_t correlation_id;
    int flex; /* request/response use flexible versions */
    struct krd body;
    struct slot *slot;
};

/* What a handler did with its request's slot. API_CLOSE: close the connection without
 * answering (a test fault). */
enum api_result {
    API_MALFORMED = -1,
    API_DONE = 0,
    API_DEFERRED = 1,
    API_NO_RESPONSE = 2,
    API_CLOSE = 3,
};

struct fetch_wait;

struct broker {
    struct broker_opts opts;
    int epfd;
    int listen_fd;
    int signal_fd;
    int port;
    int stop;
    struct topic **topics;
    size_t ntopics, captopics;
    struct timer_heap timers;
    struct timer retention_timer;
    struct timer fsync_timer;
    struct fetch_wait *waits; /* parked fetches (api_fetch.c) */
    int data_appended;        /* an append happened since the parked fetches were checked */
    int64_t next_producer_id;
    int64_t producer_id_block_end; /* ids below this are reserved on disk */
    int64_t appends;               /* appending Produce requests (for the test fault) */
    struct conn *conns;            /* open connections */
    struct conn *closed_conns;     /* freed at the end of the loop iteration */
    size_t nconns;
    struct group_coordinator *groups; /* group.c */
    struct txn_coordinator *txns; /* txn.c */
};

/* --- topic.c ------------------------------------------------------------------------- */
/* Loads every topic under data_dir (recovering their logs). Returns 0 or -1 with errstr. */
int broker_topics_load(struct broker *b, char *errstr, size_t errstr_size);
struct topic *broker_topic_find(struct broker *b, const char *name);
struct topic *broker_topic_find_kstr(struct broker *b, struct kstr name);
struct partition *broker_partition_find(struct broker *b, struct kstr topic, int32_t index);
/* Creates a topic (partitions < 1: the broker's default) with configs given as parallel
 * name/value arrays (borrowed). Returns KERR_NONE with *out, or a Kafka error code with a
 * message in errstr. */
int broker_topic_create(struct broker *b, const char *name, int32_t partitions,
                        const char *const *config_names, const char *const *config_values,
                        size_t nconfigs, struct topic **out, char *errstr, size_t errstr_size);
/* Deletes a topic and its data. Returns KERR_NONE or KERR_UNKNOWN_TOPIC_OR_PARTITION. */
int broker_topic_delete(struct broker *b, const char *name);
/* Checks a topic name as Kafka does. Returns 0 or -1. */
int topic_name_valid(const char *name);
const char *topic_config_value(const struct topic *t, enum topic_config_key k);
void broker_topics_close(struct broker *b);
void broker_retention_run(struct broker *b);
void broker_sync_all(struct broker *b);
/* Hands out a new producer id, persisting id blocks under data_dir. Returns -1 on error. */
int64_t broker_producer_id_next(struct broker *b);

/* --- net.c --------------------------------------------------------------------------- */
int net_listen(struct broker *b, char *errstr, size_t errstr_size);
int net_run(struct broker *b);
/* Closes every connection and the listening socket, frees what the loop owns. */
void net_shutdown(struct broker *b);
/* Marks a slot's response as complete and writes what can be written. */
void slot_complete(struct broker *b, struct slot *s);
/* Closes a connection (logged once with the reason); its memory is freed later. */
void conn_close(struct broker *b, struct conn *c, const char *reason);

/* --- api.c --------------------------------------------------------------------------- */
/* Handles one request frame (without its size prefix). Returns 0, or -1 when the
 * connection must be closed (reason set). */
int api_dispatch(struct broker *b, struct conn *c, const uint8_t *frame, size_t n,
                 const char **reason);
/* The response-header flexibility rule aside, whether api_key at version uses flexible
 * encodings. */
int api_is_flexible(int16_t api_key, int16_t api_version);

/* The last stable offset of p: the high watermark until transactions exist (part 3). */
int64_t partition_last_stable_offset(struct partition *p);

/* --- handlers ------------------------------------------------------------------------- */
int api_metadata(struct broker *b, struct req *r);
int api_create_topics(struct broker *b, struct req *r);
int api_delete_topics(struct broker *b, struct req *r);
int api_describe_configs(struct broker *b, struct req *r);
int api_list_offsets(struct broker *b, struct req *r);
int api_produce(struct broker *b, struct req *r);
int api_init_producer_id(struct broker *b, struct req *r);
int api_fetch(struct broker *b, struct req *r);
/* Re-checks parked fetches after appends; answers those that now have enough data. */
void fetch_wake(struct broker *b);
/* group.c: a deleted topic's committed offsets go too (tombstones in the offsets log). */
void groups_topic_deleted(struct broker *b, const char *topic);
/* api_group.c */
int api_find_coordinator(struct broker *b, struct req *r);
int api_join_group(struct broker *b, struct req *r);
int api_sync_group(struct broker *b, struct req *r);
int api_heartbeat(struct broker *b, struct req *r);
int api_leave_group(struct broker *b, struct req *r);
int api_offset_commit(struct broker *b, struct req *r);
int api_offset_fetch(struct broker *b, struct req *r);
int api_list_groups(struct broker *b, struct req *r);
int api_describe_groups(struct broker *b, struct req *r);
int api_delete_groups(struct broker *b, struct req *r);

#endif
