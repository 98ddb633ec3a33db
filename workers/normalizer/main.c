/* bin/normalizer: the normalizer stage (normalizer.c) on the exactly-once runtime. */
#include "bc_stage.h"

extern const struct bc_stage normalizer_stage;

int main(int argc, char **argv)
{
    return bc_run(&normalizer_stage, argc, argv);
}
