/* bin/deduplicator: the deduplicator stage on the exactly-once runtime. */
#include "bc_stage.h"

extern const struct bc_stage deduplicator_stage;

int main(int argc, char **argv)
{
    return bc_run(&deduplicator_stage, argc, argv);
}
