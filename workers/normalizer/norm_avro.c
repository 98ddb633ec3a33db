/*
 * norm_avro: bc_avro for normalize.c (norm_avro.h).
 */
#include "norm_avro.h"

#include <jansson.h>

#include "bc_avro.h"

const struct bc_avro_schema *norm_avro_lookup(const struct bc_avro_registry *reg, const char *name)
{
    return bc_avro_registry_lookup(reg, name);
}

int norm_avro_value_new(const struct bc_avro_schema *schema, avro_value_t *value)
{
    return bc_avro_value_new(schema, value);
}

char *norm_avro_content_text(const struct bc_avro_schema *schema, avro_value_t *event,
                             const char *const *fields, int *bad)
{
    *bad = 0;
    json_t *all = bc_avro_to_json(schema, event, 0);
    if (all == NULL) {
        *bad = 1;
        return NULL;
    }
    json_t *pick = json_object();
    for (size_t i = 0; pick != NULL && fields[i] != NULL; i++) {
        json_t *v = json_object_get(all, fields[i]);
        json_object_set(pick, fields[i], v != NULL ? v : json_null());
    }
    char *text = pick != NULL ? json_dumps(pick, JSON_SORT_KEYS | JSON_COMPACT) : NULL;
    json_decref(pick);
    json_decref(all);
    return text;
}
