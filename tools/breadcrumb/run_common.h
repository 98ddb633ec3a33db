/*
 * What `breadcrumb status` and `breadcrumb dlq` share with `breadcrumb run`: finding the
 * cluster of a topology that a running `breadcrumb run` serves.
 */
#ifndef BC_RUN_COMMON_H
#define BC_RUN_COMMON_H

#include <stddef.h>

#include "bc_config.h"

/* The bootstrap servers into buf: brokers_override when not NULL; else the topology's
 * (bc_kafka_brokers); and when that is `embedded` with $BREADCRUMB_BROKERS unset, the
 * "brokers" of DIR/run.json, the state file of a `breadcrumb run` started with --dir DIR
 * (default ./data). Returns 0, or -1 with errstr filled. */
int bc_run_brokers(const struct bc_config *cfg, const char *brokers_override, const char *dir,
                   char *buf, size_t size, char *errstr, size_t errstr_size);

#endif
