/*
 * stage_copy: a test stage that copies every input record to output "out" unchanged (key,
 * value, timestamp). A record whose value equals option `poison` fails with BC_RETRY every
 * time (it must reach the DLQ after max_attempts); one whose value starts with option
 * `drop_prefix` is dropped with a Fate ("filtered").
 */
#include <string.h>

#include "bc_stage.h"

static const struct bc_option options[] = {
    {"poison", BC_OPT_STRING, "", 0, 0, 0, "a value that always fails processing"},
    {"drop_prefix", BC_OPT_STRING, "", 0, 0, 0, "values with this prefix are dropped"},
    {NULL, BC_OPT_STRING, NULL, 0, 0, 0, NULL},
};

static int copy_process(struct bc_ctx *ctx, const struct bc_record *rec)
{
    size_t key_len, value_len;
    const void *key = bc_record_key(rec, &key_len);
    const void *value = bc_record_value(rec, &value_len);
    const char *poison = bc_option_str(ctx, "poison");
    const char *drop = bc_option_str(ctx, "drop_prefix");
    if (poison[0] != '\0' && value_len == strlen(poison) && memcmp(value, poison, value_len) == 0) {
        return BC_RETRY;
    }
    if (drop[0] != '\0' && value_len >= strlen(drop) && memcmp(value, drop, strlen(drop)) == 0) {
        return bc_drop(ctx, rec, "filtered");
    }
    return bc_emit(ctx, rec, "out", key, key_len, value, value_len, NULL);
}

static const struct bc_stage copy_stage = {
    .name = "copy",
    .options = options,
    .process = copy_process,
};

int main(int argc, char **argv)
{
    return bc_run(&copy_stage, argc, argv);
}
