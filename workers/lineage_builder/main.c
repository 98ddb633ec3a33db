/* bin/lineage-builder: the lineage-builder stage (lineage_builder.c) on the exactly-once
 * runtime. */
#include "bc_stage.h"

extern const struct bc_stage lineage_builder_stage;

int main(int argc, char **argv)
{
    return bc_run(&lineage_builder_stage, argc, argv);
}
