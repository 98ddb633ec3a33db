/*
 * stage_copy: a test stage that copies every input record to output "out" unchanged (key,
 * value, timestamp). A record whose value equals $BC_COPY_POISON fails with BC_RETRY every
 * time (it must reach the DLQ after max_attempts); one whose value starts with
 * $BC_COPY_DROP_PREFIX is dropped with a Fate ("filtered"). (Test stages have no worker
 * type, so no topology options: the environment configures them.)
 */
#include <stdlib.h>
#include <string.h>

#include "bc_stage.h"

static const char *poison = "";
static const char *drop = "";

static int copy_init(struct bc_ctx *ctx)
{
    (void)ctx;
    if (getenv("BC_COPY_POISON") != NULL) {
        poison = getenv("BC_COPY_POISON");
    }
    if (getenv("BC_COPY_DROP_PREFIX") != NULL) {
        drop = getenv("BC_COPY_DROP_PREFIX");
    }
    return BC_OK;
}

static int copy_process(struct bc_ctx *ctx, const struct bc_record *rec)
{
    size_t key_len, value_len;
    const void *key = bc_record_key(rec, &key_len);
    const void *value = bc_record_value(rec, &value_len);
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
    .init = copy_init,
    .process = copy_process,
};

int main(int argc, char **argv)
{
    return bc_run(&copy_stage, argc, argv);
}
