/* The enricher worker: catalog, deploy join, PII redaction, cardinality limits (enricher.c). */
#include "bc_stage.h"

extern const struct bc_stage enricher_stage;

int main(int argc, char **argv)
{
    return bc_run(&enricher_stage, argc, argv);
}
