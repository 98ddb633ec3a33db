/*
 * The group coordinator: Kafka's classic group protocol (JoinGroup, SyncGroup, Heartbeat,
 * LeaveGroup with static membership, KIP-345) and the committed offsets of every group.
 *
 * States follow Kafka's GroupCoordinator: Empty -> PreparingRebalance -> CompletingRebalance
 * -> Stable (and back). A rebalance completes as soon as every known member has rejoined
 * (and no member id handed out with MEMBER_ID_REQUIRED is still pending), or when the
 * group's rebalance timeout (the largest of its members') passes; dynamic members that did
 * not rejoin by then are removed, static ones stay until their session expires. A group
 * that leaves Empty first waits --group-initial-rebalance-delay-ms (extended while new
 * members keep arriving, as Kafka's InitialDelayedJoin) so members started together land
 * in one generation.
 *
 * Sessions, rebalance deadlines and pending-sync deadlines live on the broker's timer heap.
 * JoinGroup and SyncGroup answers are delivered through `struct group_io` (api_group.c
 * writes them into deferred response slots; unit tests record them), possibly before the
 * handler returns.
 *
 * Persistence (offsets.c): commits and group metadata go to an internal log under
 * <data-dir>/meta/group-offsets/ in Kafka's __consumer_offsets record formats, written
 * before the commit is answered and replayed at startup.
 */
#ifndef BROKER_GROUP_H
#define BROKER_GROUP_H

#include <stddef.h>
#include <stdint.h>

#include "codec.h"
#include "timer.h"

struct broker;
struct plog;

/* Kafka error codes of the group APIs (specs/kafka-error-codes.tsv). */
enum {
    KERR_OFFSET_METADATA_TOO_LARGE = 12,
    KERR_COORDINATOR_LOAD_IN_PROGRESS = 14,
    KERR_COORDINATOR_NOT_AVAILABLE = 15,
    KERR_NOT_COORDINATOR = 16,
    KERR_ILLEGAL_GENERATION = 22,
    KERR_INCONSISTENT_GROUP_PROTOCOL = 23,
    KERR_INVALID_GROUP_ID = 24,
    KERR_UNKNOWN_MEMBER_ID = 25,
    KERR_INVALID_SESSION_TIMEOUT = 26,
    KERR_REBALANCE_IN_PROGRESS = 27,
    KERR_NON_EMPTY_GROUP = 68,
    KERR_GROUP_ID_NOT_FOUND = 69,
    KERR_MEMBER_ID_REQUIRED = 79,
    KERR_FENCED_INSTANCE_ID = 82,
    KERR_UNSTABLE_OFFSET_COMMIT = 88,
};

#define GROUP_OFFSET_METADATA_MAX 4096
#define GROUP_NEW_MEMBER_JOIN_TIMEOUT_MS (5 * 60 * 1000)

enum group_state {
    GROUP_EMPTY,
    GROUP_PREPARING_REBALANCE,
    GROUP_COMPLETING_REBALANCE,
    GROUP_STABLE,
    GROUP_DEAD,
};

/* Kafka's names ("Empty", "PreparingRebalance", ...), as ListGroups/DescribeGroups say. */
const char *group_state_name(enum group_state s);

struct group_protocol {
    char *name;        /* owned */
    uint8_t *metadata; /* owned; NULL when empty */
    int32_t len;
};

struct group;

struct group_member {
    struct group *group;
    char *member_id;   /* owned */
    char *instance_id; /* owned; NULL for a dynamic member */
    char *client_id;
    char *client_host;
    int32_t session_timeout_ms;
    int32_t rebalance_timeout_ms;
    struct group_protocol *protocols; /* in the member's order of preference */
    size_t nprotocols;
    uint8_t *assignment; /* owned; NULL when empty */
    int32_t assignment_len;
    int awaiting_join; /* its JoinGroup joined the current rebalance and is not answered */
    void *join_waiter; /* where the JoinGroup answer goes; NULL once its connection closed */
    int awaiting_sync; /* its SyncGroup is parked in CompletingRebalance */
    void *sync_waiter; /* where that answer goes; NULL once its connection closed */
    int pending_sync;  /* got a JoinGroup answer of this generation, no SyncGroup yet */
    int is_new;        /* added in the running rebalance (session timer: 5 min) */
    struct timer session_timer; /* expiry removes the member unless it awaits join/sync */
};

/* A member id handed out with MEMBER_ID_REQUIRED and not yet used to join. */
struct group_pending {
    struct group *group;
    char *member_id;
    struct timer timer;
    struct group_pending *next;
};

/* The committed offset of one partition; offset -1 when none. */
struct group_committed {
    int64_t offset;
    int32_t leader_epoch;
    int64_t commit_ts;
    char *metadata; /* owned; NULL: empty */
    uint64_t seq;   /* commit order: a transaction's offsets only replace older ones */
};

/* A transactional offset commit waiting for the end of its transaction. */
struct group_txn_offset {
    int64_t producer_id;
    int16_t producer_epoch;
    char *topic; /* owned */
    int32_t partition;
    struct group_committed value;
};

struct group_topic {
    char *name;
    int32_t npartitions; /* entries in parts (grown on demand) */
    struct group_committed *parts;
};

struct group {
    char *id;
    enum group_state state;
    int32_t generation;
    char *protocol_type; /* NULL until a member joined (or loaded) */
    char *protocol_name; /* protocol of the current generation; NULL when none */
    struct group_member *leader; /* NULL when the group has no members */
    struct group_member **members;
    size_t nmembers, capmembers;
    struct group_pending *pending;
    /* The running join phase (PreparingRebalance). */
    struct timer join_timer;
    int join_initial;          /* in the initial delay: only the timer completes the join */
    int32_t join_delay_ms;     /* length of the current initial-delay step */
    int32_t join_remaining_ms; /* rebalance time left after it */
    int new_member_added;
    /* Deadline for SyncGroup of every member after a join (Kafka's DelayedSync). */
    struct timer sync_timer;
    int32_t sync_generation;
    int64_t state_ts;
    struct group_topic *topics; /* committed offsets */
    size_t ntopics;
    struct group_txn_offset *txn; /* pending transactional offsets, one per (pid, partition) */
    size_t ntxn;
    struct broker *b;
};

/* Where deferred JoinGroup/SyncGroup answers go. `waiter` is what the handler passed in. */
struct group_join_result {
    int16_t error;
    int32_t generation;       /* -1 on error */
    const char *protocol_type; /* NULL when none */
    const char *protocol_name; /* NULL when none */
    const char *leader_id;     /* "" when none */
    const char *member_id;     /* "" when none */
    const struct group *members_of; /* the leader's view: list g's members; else NULL */
};

struct group_io {
    void (*join_done)(struct broker *b, void *waiter, const struct group_join_result *res);
    void (*sync_done)(struct broker *b, void *waiter, int16_t error, const char *protocol_type,
                      const char *protocol_name, const uint8_t *assignment, int32_t len);
};

struct group_coordinator {
    struct group **groups;
    size_t ngroups, capgroups;
    const struct group_io *io;
    struct plog *log;        /* the offsets log (offsets.c) */
    int64_t log_records;     /* records in the log (replayed + appended) */
    int64_t next_check;      /* log_records at which to consider a rewrite */
    int log_dirty;           /* appended since the last fdatasync */
    int replaying;           /* offsets_log_open is applying records */
    uint64_t seq;            /* last commit order handed out */
    struct timer sync_timer; /* --fsync interval */
};

/* --- lifecycle (group.c) ---------------------------------------------------------------- */
/* Creates the coordinator and replays the offsets log under data_dir. Returns 0 or -1 with
 * errstr. */
int groups_load(struct broker *b, char *errstr, size_t errstr_size);
/* Answers nothing, frees everything, syncs and closes the log. NULL-safe. */
void groups_close(struct broker *b);

/* --- lookups, for the APIs and transactions ----------------------------------------------- */
/* Borrowed; NULL when unknown. */
struct group *group_find(struct broker *b, struct kstr id);
/* Finds or creates (Empty, generation 0) the group. NULL when out of memory. */
struct group *group_get_or_create(struct broker *b, struct kstr id);
struct group_member *group_member_find(const struct group *g, struct kstr member_id);
/* The committed offset of topic/partition, or NULL when none. */
const struct group_committed *group_committed_find(const struct group *g, const char *topic,
                                                   int32_t partition);

/* Checks an offset commit's (generation, member id, group.instance.id) against g exactly as
 * Kafka's validateOffsetCommit: COORDINATOR_NOT_AVAILABLE for a dead group, then
 * FENCED_INSTANCE_ID / UNKNOWN_MEMBER_ID / ILLEGAL_GENERATION, and UNKNOWN_MEMBER_ID for a
 * commit without member id into a non-empty group unless transactional. instance_id.len -1:
 * none. Returns KERR_NONE or the error. Does not look at the group state beyond that
 * (OffsetCommit answers REBALANCE_IN_PROGRESS in CompletingRebalance on top of this). */
int group_validate_commit(const struct group *g, int32_t generation, struct kstr member_id,
                          struct kstr instance_id, int transactional);

/* One partition of an offset commit. Borrowed strings; `error` is set by the callee. */
struct group_offset_commit {
    struct kstr topic;
    int32_t partition;
    int64_t offset;
    int32_t leader_epoch;
    struct kstr metadata; /* len -1: null */
    int16_t error;        /* in: a non-zero error skips this entry; out: the result */
};

/* Applies entries whose error is 0 as committed offsets of g: written to the offsets log as
 * one batch (fdatasync under --fsync always) before memory changes. On a write failure every
 * such entry gets KAFKA_STORAGE_ERROR (56). Returns 0 or -1. */
int group_offsets_commit(struct broker *b, struct group *g, struct group_offset_commit *c,
                         size_t n);

/* Transactional offsets (KIP-98, KIP-447), for the transaction coordinator: what a
 * TxnOffsetCommit stores for producer_id stays pending (OffsetFetch does not show it, and
 * answers UNSTABLE_OFFSET_COMMIT to RequireStable for its partitions) until
 * group_txn_offsets_end() commits it (it replaces the committed offsets unless a later
 * commit already did) or aborts it. Both steps are durable: a transactional batch, then a
 * control marker in the offsets log, replayed at startup, so a transaction open across a
 * restart still ends either way. The caller checks the commit with group_validate_commit(
 * ..., transactional = 1) first. Entries with a non-zero error are skipped; on a write
 * failure the others get KAFKA_STORAGE_ERROR. Return 0 or -1. */
int group_txn_offsets_add(struct broker *b, struct group *g, int64_t producer_id,
                          int16_t producer_epoch, struct group_offset_commit *c, size_t n);
/* Ends producer_id's transaction in every group: commit != 0 applies its pending offsets,
 * 0 drops them. Writes the marker only when something was pending. */
int group_txn_offsets_end(struct broker *b, int64_t producer_id, int16_t producer_epoch,
                          int commit);
/* Whether a transactional offset for topic/partition is pending in g. */
int group_offset_unstable(const struct group *g, const char *topic, int32_t partition);

/* Refreshes m's session deadline (a heartbeat, a commit). */
void group_member_touch(struct broker *b, struct group_member *m);

/* --- the protocol (group.c) --------------------------------------------------------------- */
struct group_join_req {
    struct kstr group_id;
    struct kstr member_id;   /* "" for a first join */
    struct kstr instance_id; /* len -1: none */
    struct kstr protocol_type;
    const char *client_id;
    const char *client_host;
    int32_t session_timeout_ms;
    int32_t rebalance_timeout_ms;
    int32_t nprotocols;
    const struct kstr *protocol_names;
    const struct kstr *protocol_metadata;
    int require_known_member_id; /* JoinGroup v4+ */
};

/* Handles a JoinGroup; the answer goes to io->join_done(waiter) now or later. */
void group_join(struct broker *b, const struct group_join_req *rq, void *waiter);

struct group_sync_req {
    struct kstr group_id;
    int32_t generation;
    struct kstr member_id;
    struct kstr instance_id;
    struct kstr protocol_type; /* len -1: not given (before v5) */
    struct kstr protocol_name;
    int32_t nassignments;
    const struct kstr *assign_member_ids;
    const struct kstr *assignments;
};

/* Handles a SyncGroup; the answer goes to io->sync_done(waiter) now or later. */
void group_sync(struct broker *b, const struct group_sync_req *rq, void *waiter);

/* Called when a parked JoinGroup/SyncGroup's connection closes: forgets the waiter. */
void group_waiter_gone(struct broker *b, void *waiter);

int group_heartbeat(struct broker *b, struct kstr group_id, int32_t generation,
                    struct kstr member_id, struct kstr instance_id);

/* One member leaving (LeaveGroup v0-2: the member id; v3+: each identity). Returns the
 * member's error code; *group_error is set for errors of the whole request. */
int group_leave(struct broker *b, struct kstr group_id, struct kstr member_id,
                struct kstr instance_id, int16_t *group_error);

/* DeleteGroups for one group: GROUP_ID_NOT_FOUND, NON_EMPTY_GROUP or NONE (offsets and the
 * group are gone, tombstones written). */
int group_delete(struct broker *b, struct kstr group_id);

/* The answers api_group.c writes into deferred response slots (the default io). */
extern const struct group_io group_slot_io;

/* --- for offsets.c's replay -------------------------------------------------------------- */
/* The entry for topic/partition in g, created (offset -1) when missing; NULL when out of
 * memory or the partition is out of range. */
struct group_committed *group_committed_slot(struct group *g, const char *topic,
                                             int32_t partition);
/* Replaces g's generation, protocol and members by a GroupMetadataValue (v0-3) read from
 * the log: Stable with the members it names, or Empty. Returns 0 or -1 (malformed). */
int group_apply_metadata(struct broker *b, struct group *g, struct krd *value);
/* Appends g's GroupMetadataValue v3 to out. */
void group_write_metadata(const struct group *g, struct kbuf *out);
/* Unregisters and frees g (a replayed tombstone). */
void group_forget(struct broker *b, struct group *g);

/* --- offsets log (offsets.c) ------------------------------------------------------------- */
/* Opens and replays the log into the coordinator's groups (creating them). */
int offsets_log_open(struct broker *b, char *errstr, size_t errstr_size);
void offsets_log_close(struct broker *b);
/* Appends the records of one commit (entries with error 0). Returns 0 or -1. */
int offsets_log_append_commit(struct broker *b, const struct group *g,
                              const struct group_offset_commit *c, size_t n);
/* Appends g's metadata record (or its tombstones when `deleted`: the group record and one
 * per committed offset). Returns 0 or -1. */
int offsets_log_append_group(struct broker *b, const struct group *g, int deleted);
/* Appends the records of a transactional commit (a transactional batch of producer_id). */
int offsets_log_append_txn(struct broker *b, const struct group *g, int64_t producer_id,
                           int16_t producer_epoch, const struct group_offset_commit *c,
                           size_t n);
/* Appends a COMMIT (commit != 0) or ABORT control marker of producer_id. */
int offsets_log_append_marker(struct broker *b, int64_t producer_id, int16_t producer_epoch,
                              int commit);
/* Memory side of the above, for replay: remembers a pending transactional offset, ends a
 * producer's transaction. */
int group_txn_offset_put(struct broker *b, struct group *g, int64_t producer_id,
                         int16_t producer_epoch, const char *topic, int32_t partition,
                         const struct group_committed *value);
void group_txn_end_memory(struct broker *b, int64_t producer_id, int commit);
/* Appends tombstones for g's committed offsets of topic. Returns 0 or -1. */
int offsets_log_append_topic_deleted(struct broker *b, const struct group *g, const char *topic);
/* Applies one log record to memory (replay): producer_id >= 0 for a record of a
 * transactional batch (a pending offset). Returns 0 or -1 for a record it cannot parse. */
int offsets_log_apply(struct broker *b, const uint8_t *key, int32_t key_len,
                      const uint8_t *value, int32_t value_len, int64_t producer_id,
                      int16_t producer_epoch);

#endif
