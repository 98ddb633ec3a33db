/*
 * The enricher's transformation of one decoded TrackingEvent, without Kafka: catalog fields,
 * the deploy current at the event's time, PII rules over attributes, resource attributes,
 * span event attributes and the body, then the cardinality limiter over attributes. The
 * stage (enricher.c) decodes, calls enr_enrich and encodes; unit tests call it directly.
 *
 * Output fields: owner, team, tier, cost_center, on_call from the catalog (unknown service:
 * null, flag `unknown_service`); catalog labels as resource attributes `catalog.<label>`
 * (unless the resource already has that key); deploy {deploy_id, version, commit,
 * deployed_at_ns} or null; flags `pii_redacted` when a rule changed or dropped something,
 * `cardinality_overflow` when a value was replaced by `__overflow__`.
 */
#ifndef ENRICHER_ENRICH_H
#define ENRICHER_ENRICH_H

#include <stdint.h>

#include "bc_avro.h"
#include "cardinality.h"
#include "catalog.h"
#include "deploys.h"
#include "pii.h"

struct enr_counters {
    uint64_t records;
    uint64_t unknown_service;  /* records whose service is not in the catalog */
    uint64_t deploy_joined;    /* records given a deploy */
    uint64_t deploy_missing;   /* records of a service with no deploy at their time */
    uint64_t pii_records;      /* records with at least one redaction */
    uint64_t dropped_attrs;    /* attributes removed by drop rules */
    uint64_t overflow_records; /* records with at least one `__overflow__` */
};

struct enr_core {
    const struct enr_catalog *catalog; /* borrowed; NULL: no catalog fields */
    const struct enr_deploys *deploys; /* borrowed; NULL: no deploy join */
    struct pii_rules *pii;             /* borrowed; NULL or no rules: no redaction */
    struct enr_card *card;             /* borrowed; NULL: no limits */
    avro_value_t scratch;              /* a TrackingEvent value for rebuilding arrays (new) */
    int has_scratch;
    struct pii_buf text; /* scalars rendered as text */
    struct pii_buf out;  /* pii_apply results */
    struct enr_counters counters;
};

/* Prepares core for TrackingEvents of schema te (creates the scratch value). The borrowed
 * pointers are set by the caller. Returns 0 or -1. */
int enr_core_init(struct enr_core *core, const struct bc_avro_schema *te);
void enr_core_fini(struct enr_core *core);

/* Enriches ev (a TrackingEvent) in place. ts_ms is the record's timestamp (windows of the
 * cardinality limiter); st the limiter's store (NULL: no limits). Returns 0, or -1 with
 * errstr (an Avro value that does not have the TrackingEvent's shape, a store refusing a
 * put). */
int enr_enrich(struct enr_core *core, avro_value_t *ev, int64_t ts_ms,
               const struct enr_card_store *st, char *errstr, size_t errstr_size);

#endif
