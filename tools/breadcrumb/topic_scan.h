/* Reading topics for the CLI's inspection commands (diff, dlq, lineage, replay, status). */
#ifndef BC_TOPIC_SCAN_H
#define BC_TOPIC_SCAN_H

#include <librdkafka/rdkafka.h>

/* A consumer for the CLI's reads (it never subscribes; offsets are never committed):
 * group.id group, read_committed, partition-EOF events, and fetch.wait.max.ms 10 (the end of
 * a partition at once: by default a fetch there waits 500 ms). extra: more settings as
 * NULL-terminated name, value pairs, or NULL. NULL with errstr filled on failure. */
rd_kafka_t *bc_cli_consumer_new(const char *brokers, const char *group,
                                const char *const *extra, char *errstr, size_t errstr_size);

/* Called per record; msg is borrowed. Returns 0 to go on, nonzero to stop the scan with an
 * error (the callback reports it). */
typedef int (*bc_scan_fn)(void *opaque, const rd_kafka_message_t *msg);

/* Reads every partition of topic read_committed from its start to its end (as of the
 * start of the scan), calling fn per record, with a group-less consumer whose group.id is
 * `breadcrumb-<cmd>` (offsets are never committed). Errors are printed as
 * "breadcrumb <cmd>: ..."; the scan gives up after timeout_ms without progress. Returns 0,
 * or -1 after an error or a nonzero fn. */
int bc_topic_scan(const char *cmd, const char *brokers, const char *topic, int timeout_ms,
                  bc_scan_fn fn, void *opaque);

#endif
