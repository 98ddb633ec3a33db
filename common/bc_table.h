/*
 * Read-only tables (DESIGN §4), engine side: a compacted topic read fully by every instance
 * of a worker, outside its consumer group and its transactions. Stages see bc_table_open()
 * in bc_stage.h; the runtime drives the rest:
 *
 *   bc_tables_start()  after the clients exist and before the first process(): one
 *                      group-less consumer (assign only, read_committed) on every partition
 *                      of every table, from the beginning, read to the end offsets queried
 *                      at the start; each record goes to the table's callback.
 *   bc_tables_poll()   between transactions (never while one is open): records that
 *                      arrived since, fed the same way, so every record's processing sees
 *                      one table state from start to end.
 *
 * A table holds no offsets anywhere: every start reads it again from the beginning.
 */
#ifndef BC_TABLE_H
#define BC_TABLE_H

#include <stddef.h>
#include <stdint.h>

#include <librdkafka/rdkafka.h>

#include "bc_stage.h"

struct bc_tables;

/* The runtime's table set of ctx (created on first use; owned by the runtime). Defined in
 * bc_runtime.c. */
struct bc_tables **bc_runtime_tables(struct bc_ctx *ctx);

struct bc_tables *bc_tables_new(void);
/* Closes the consumer and frees everything. NULL is a no-op. */
void bc_tables_destroy(struct bc_tables *tables);
size_t bc_tables_count(const struct bc_tables *tables);
/* Adds a table (what bc_table_open does on the runtime's set). Returns 0 or -1. */
int bc_tables_add(struct bc_tables *tables, const char *topic, bc_table_fn fn, void *opaque);

/* Creates the table consumer from conf (stolen, also on failure), assigns every partition of
 * every table and reads to the end. Returns 0, or -1 with errstr (a table topic that does
 * not exist, timeout after timeout_ms). */
int bc_tables_start(struct bc_tables *tables, rd_kafka_conf_t *conf, int timeout_ms, char *errstr,
                    size_t errstr_size);

/* Feeds up to max records available now, without blocking. Returns how many were fed. */
int bc_tables_poll(struct bc_tables *tables, int max);

#endif
