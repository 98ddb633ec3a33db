/* The normalizer's options (workers.<name>.options of a `normalizer` worker). */
#include "bc_options.h"

static const char *const format_values[] = {"auto", "otlp", "event", NULL};

static const struct bc_option options[] = {
    {.name = "format",
     .type = BC_OPT_ENUM,
     .def = "auto",
     .values = format_values,
     .description = "input format: `otlp` (OTLP/JSON traces and logs), `event` (flat JSON "
                    "events) or `auto` (decided per record)"},
    {.name = "max_clock_skew",
     .type = BC_OPT_DURATION,
     .def = "10m",
     .min = BC_SECOND_MS,
     .max = 7 * BC_DAY_MS,
     .description = "an item whose latest time is further than this after the record's Kafka "
                    "timestamp is flagged `clock_skew`"},
    {.name = "clamp_skew",
     .type = BC_OPT_BOOL,
     .def = "true",
     .description = "shift a skewed item's times back so the latest is the Kafka timestamp "
                    "(flag `clamped`); false: only flag it"},
    {.name = "max_payload_bytes",
     .type = BC_OPT_SIZE,
     .def = "1MiB",
     .min = BC_KIB,
     .max = 64 * BC_MIB,
     .description = "larger raw records go to the DLQ as `oversized`"},
    {.name = "max_attributes",
     .type = BC_OPT_INT,
     .def = "128",
     .min = 1,
     .max = 10000,
     .description = "entries kept per attribute list; the rest are dropped (flag "
                    "`attributes_dropped`)"},
    {.name = "max_attribute_value_length",
     .type = BC_OPT_INT,
     .def = "4096",
     .min = 16,
     .max = 1048576,
     .description = "longer string and bytes values are cut, on a UTF-8 boundary (flag "
                    "`truncated`)"},
    {.name = "correlation_attributes",
     .type = BC_OPT_LIST,
     .def = "correlation_id,request_id",
     .description = "attributes whose first present value (string or int) becomes the "
                    "correlation_id"},
    {.name = "event_id_field",
     .type = BC_OPT_STRING,
     .def = "attributes.idempotency_key",
     .description = "field of a flat event whose value makes its event_id (else its content)"},
    {.name = NULL},
};

static const char *const outputs[] = {"normalized", "dlq", NULL};

const struct bc_worker_type bc_normalizer_type = {
    .name = "normalizer",
    .summary = "Parses raw OTLP/JSON and flat events into TrackingEvent records, stamps "
               "event ids, corrects clock skew; rejects go to the DLQ with a reason.",
    .options = options,
    .outputs = outputs,
    .required_outputs = outputs,
};
