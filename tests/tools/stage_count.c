/*
 * stage_count: a test stage with a state store. Counts records per key in store "counts"
 * (value: the count as 8 bytes, host order) and emits, for every input, key -> the new
 * count as decimal text on output "out". Exactly once means: for every key, the counts
 * read back read_committed are exactly 1..n, n being the true count.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "bc_stage.h"

struct count_state {
    struct bc_store *counts; /* borrowed from the runtime */
};

static struct count_state state;

static int count_init(struct bc_ctx *ctx)
{
    state.counts = bc_store_open(ctx, "counts", NULL);
    if (state.counts == NULL) {
        return BC_FATAL;
    }
    bc_ctx_set_state(ctx, &state);
    return BC_OK;
}

static int count_process(struct bc_ctx *ctx, const struct bc_record *rec)
{
    struct count_state *st = bc_ctx_state(ctx);
    size_t key_len;
    const void *key = bc_record_key(rec, &key_len);
    if (key == NULL) {
        return bc_dead_letter(ctx, rec, "missing_field", "record has no key");
    }
    int32_t partition = bc_record_partition(rec);
    uint64_t n = 0;
    const void *value;
    size_t value_len;
    if (bc_store_get(st->counts, partition, key, key_len, &value, &value_len, NULL) == 1 &&
        value_len == sizeof(n)) {
        memcpy(&n, value, sizeof(n));
    }
    n++;
    if (bc_store_put(st->counts, partition, key, key_len, &n, sizeof(n),
                     bc_record_timestamp(rec)) != 0) {
        return BC_RETRY;
    }
    char text[24];
    int len = snprintf(text, sizeof(text), "%" PRIu64, n);
    return bc_emit(ctx, rec, "out", key, key_len, text, (size_t)len, NULL);
}

static const struct bc_stage count_stage = {
    .name = "count",
    .init = count_init,
    .process = count_process,
};

int main(int argc, char **argv)
{
    return bc_run(&count_stage, argc, argv);
}
