/*
 * avro_read SCHEMAS_DIR FILE...: decodes each file as one Confluent wire-format record, as the
 * latest version of its writer's subject, and prints one line per file:
 *
 *   FILE ok {"json": "of the value"}          (bc_avro_to_json, plain unions, compact)
 *   FILE error <status> <message>             (bc_avro_strerror names)
 *
 * Used by tests/integration/0550-avro-python.py to read records python3-avro wrote. Exits 0
 * when every file decoded, 1 otherwise.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bc_avro.h"

static unsigned char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        return NULL;
    }
    size_t cap = 1 << 16;
    unsigned char *data = malloc(cap);
    *len = data ? fread(data, 1, cap, f) : 0;
    fclose(f);
    return data;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: avro_read SCHEMAS_DIR FILE...\n");
        return 2;
    }
    struct bc_avro_registry *reg = NULL;
    char errstr[512];
    if (bc_avro_registry_load(argv[1], &reg, errstr, sizeof(errstr)) != 0) {
        fprintf(stderr, "avro_read: %s\n", errstr);
        return 1;
    }
    int failed = 0;
    for (int i = 2; i < argc; i++) {
        size_t len = 0;
        unsigned char *data = slurp(argv[i], &len);
        const struct bc_avro_schema *writer = NULL, *reader = NULL;
        int rc = data ? bc_avro_peek(reg, data, len, &writer, errstr, sizeof(errstr)) : -100;
        if (rc == 0) {
            reader = bc_avro_registry_lookup(reg, bc_avro_schema_subject(writer));
            avro_value_t value;
            bc_avro_value_new(reader, &value);
            rc = bc_avro_decode(reg, reader, data, len, &value, errstr, sizeof(errstr));
            if (rc == 0) {
                json_t *j = bc_avro_to_json(reader, &value, 0);
                char *text = j ? json_dumps(j, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
                printf("%s ok %s\n", argv[i], text ? text : "null");
                free(text);
                json_decref(j);
            }
            avro_value_decref(&value);
        }
        if (rc != 0) {
            printf("%s error %s %s\n", argv[i], data ? bc_avro_strerror(rc) : "unreadable",
                   data ? errstr : "");
            failed = 1;
        }
        free(data);
    }
    bc_avro_registry_destroy(reg);
    return failed;
}
