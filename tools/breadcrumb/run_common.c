/* Shared by `breadcrumb status` and `breadcrumb dlq` (run_common.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "bc_kafka_conf.h"
#include "tools/breadcrumb/run_common.h"

int bc_run_brokers(const struct bc_config *cfg, const char *brokers_override, const char *dir,
                   char *buf, size_t size, char *errstr, size_t errstr_size)
{
    if (brokers_override == NULL && cfg != NULL && strcmp(cfg->kafka.brokers, "embedded") == 0 &&
        getenv("BREADCRUMB_BROKERS") == NULL) {
        char path[4096];
        snprintf(path, sizeof(path), "%s/run.json", dir ? dir : "data");
        json_error_t jerr;
        json_t *state = json_load_file(path, 0, &jerr);
        const char *b = json_string_value(json_object_get(state, "brokers"));
        if (b == NULL) {
            snprintf(errstr, errstr_size,
                     "kafka.brokers is 'embedded' but BREADCRUMB_BROKERS is not set and %s "
                     "names no running broker (is `breadcrumb run` running? else use --brokers)",
                     path);
            json_decref(state);
            return -1;
        }
        snprintf(buf, size, "%s", b);
        json_decref(state);
        return 0;
    }
    return bc_kafka_brokers(cfg, brokers_override, buf, size, errstr, errstr_size);
}
