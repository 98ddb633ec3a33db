/*
 * breadcrumb: the command-line tool. Dispatches to one subcommand per file (cli.h). A
 * subcommand whose file is not part of this build is declared weak and reported as
 * unavailable instead of failing the link.
 */
#include <stdio.h>
#include <string.h>

#include "tools/breadcrumb/cli.h"

#pragma weak bc_cmd_validate
#pragma weak bc_cmd_topics
#pragma weak bc_cmd_schemas
#pragma weak bc_cmd_run
#pragma weak bc_cmd_gen
#pragma weak bc_cmd_replay
#pragma weak bc_cmd_diff
#pragma weak bc_cmd_lineage
#pragma weak bc_cmd_status
#pragma weak bc_cmd_dlq

struct command {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *summary;
};

static const struct command commands[] = {
    {"validate", bc_cmd_validate, "check a topology YAML file and its schemas"},
    {"topics", bc_cmd_topics, "create a topology's topics on any cluster"},
    {"schemas", bc_cmd_schemas, "list, print and check the Avro schemas"},
    {"run", bc_cmd_run, "run a whole topology (broker, topics, workers)"},
    {"gen", bc_cmd_gen, "generate realistic telemetry with a ground truth"},
    {"replay", bc_cmd_replay, "re-run a worker from offsets or a time, isolated"},
    {"diff", bc_cmd_diff, "compare two topics record by record"},
    {"lineage", bc_cmd_lineage, "show where a record came from"},
    {"status", bc_cmd_status, "groups, members, lag and DLQ size"},
    {"dlq", bc_cmd_dlq, "list and redrive dead letters"},
};

static void usage(FILE *out)
{
    fprintf(out, "usage: breadcrumb <command> [options]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        if (commands[i].fn != NULL) {
            fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
        }
    }
    fprintf(out, "\n'breadcrumb <command> --help' describes a command.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        if (strcmp(argv[1], commands[i].name) != 0) {
            continue;
        }
        if (commands[i].fn == NULL) {
            fprintf(stderr, "breadcrumb: '%s' is not part of this build\n", argv[1]);
            return 2;
        }
        return commands[i].fn(argc - 1, argv + 1);
    }
    fprintf(stderr, "breadcrumb: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
