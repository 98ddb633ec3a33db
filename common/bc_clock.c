/* Event time of a partition with several sources: see bc_clock.h. */
#include "bc_clock.h"

#include <xxhash.h>

void bc_clock_init(struct bc_clock *c)
{
    c->max = -1;
    for (int i = 0; i < BC_CLOCK_SOURCES; i++) {
        c->src[i] = -1;
    }
}

int bc_clock_slot(const char *topic, size_t topic_len, int32_t partition)
{
    /* Consecutive partitions of a topic in distinct slots: a hash of topic and partition
     * together put partitions 0 and 1 of tracking.raw in one slot. */
    uint64_t h = XXH3_64bits(topic, topic_len);
    return (int)((h % BC_CLOCK_SOURCES + (uint64_t)(uint32_t)partition % BC_CLOCK_SOURCES) %
                 BC_CLOCK_SOURCES);
}

int bc_clock_observe(struct bc_clock *c, int64_t ts, int slot)
{
    int changed = 0;
    if (ts > c->max) {
        c->max = ts;
        changed = 1;
    }
    if (slot >= 0 && slot < BC_CLOCK_SOURCES && ts > c->src[slot]) {
        c->src[slot] = ts;
        changed = 1;
    }
    return changed;
}

int64_t bc_clock_now(const struct bc_clock *c, int64_t max_skew, uint32_t expected)
{
    if (c->max < 0 || max_skew <= 0) {
        return c->max;
    }
    int64_t low = c->max;
    for (int i = 0; i < BC_CLOCK_SOURCES; i++) {
        if (c->src[i] >= 0 && c->src[i] < low) {
            low = c->src[i];
        } else if (c->src[i] < 0 && (expected & (1u << i))) {
            low = -1; /* an expected source not seen yet: nothing is known of its time */
        }
    }
    return low > c->max - max_skew ? low : c->max - max_skew;
}

void bc_clock_merge(struct bc_clock *c, const struct bc_clock *from)
{
    if (from->max > c->max) {
        c->max = from->max;
    }
    for (int i = 0; i < BC_CLOCK_SOURCES; i++) {
        if (from->src[i] > c->src[i]) {
            c->src[i] = from->src[i];
        }
    }
}
