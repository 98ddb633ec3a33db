/*
 * The run records `breadcrumb run` writes for the worker processes it supervises
 * (common/bc_runlog.h): a process killed by a signal or fenced cannot write its own
 * `failed` record, so the supervisor writes it, under the run id it started the process
 * with, as soon as it reaps the process. The lineage-builder turns it into an OpenLineage
 * FAIL at once, instead of when the instance starts again. A duplicate (the process had
 * written its own) changes nothing.
 */
#ifndef BC_RUN_FAIL_H
#define BC_RUN_FAIL_H

#include <librdkafka/rdkafka.h>

#include "bc_config.h"

struct bc_run_fail {
    const struct bc_config *cfg; /* borrowed */
    char topic[256];             /* <pipeline>.runs, "" when the topology does not declare it */
    char brokers[256];           /* set once known; "" until then */
    rd_kafka_t *producer;        /* created at the first record */
};

void bc_run_fail_init(struct bc_run_fail *rf, const struct bc_config *cfg);
void bc_run_fail_brokers(struct bc_run_fail *rf, const char *brokers);
/* The supervisor's on_failed_run (struct bc_run_fail * as opaque). */
void bc_run_fail_record(void *opaque, const char *group, const char *instance,
                        const char *run_id, const char *why);
/* Delivers what is left (bounded wait) and frees the producer. */
void bc_run_fail_close(struct bc_run_fail *rf);

#endif
