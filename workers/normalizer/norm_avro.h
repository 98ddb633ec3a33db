/*
 * norm_avro: what normalize.c needs of bc_avro.h, behind names that do not bring jansson
 * (from when normalize.c parsed with json-c, whose names clash with jansson's): the
 * registry's schemas, a new value, and the canonical content text of an event.
 */
#ifndef NORM_AVRO_H
#define NORM_AVRO_H

#include <avro.h>

struct bc_avro_registry;
struct bc_avro_schema;

/* bc_avro_registry_lookup(). */
const struct bc_avro_schema *norm_avro_lookup(const struct bc_avro_registry *reg, const char *name);

/* bc_avro_value_new(). */
int norm_avro_value_new(const struct bc_avro_schema *schema, avro_value_t *value);

/* The canonical content of an event (normalize.c, content_id_tree): the named fields
 * (NULL-terminated) of its JSON form (bc_avro_to_json, unions bare) in one object, as
 * json_dumps(JSON_SORT_KEYS | JSON_COMPACT) writes it. Returns new text (free it), or NULL
 * with *bad set to 1 when the value does not fit the schema, 0 when out of memory. */
char *norm_avro_content_text(const struct bc_avro_schema *schema, avro_value_t *event,
                             const char *const *fields, int *bad);

#endif
