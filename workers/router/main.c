/* bin/router: the router stage (router.c) on the exactly-once runtime. */
#include "bc_stage.h"

extern const struct bc_stage router_stage;

int main(int argc, char **argv)
{
    return bc_run(&router_stage, argc, argv);
}
