/* The tail-sampler worker: see tail_sampler.c. */
#include "bc_stage.h"

extern const struct bc_stage tail_sampler_stage;

int main(int argc, char **argv)
{
    return bc_run(&tail_sampler_stage, argc, argv);
}
