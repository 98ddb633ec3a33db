/*
 * The breadcrumb CLI's subcommands. Each is implemented in tools/breadcrumb/cmd_<name>.c as
 * `int bc_cmd_<name>(int argc, char **argv)`: argv[0] is the subcommand's name, the return
 * value is the process exit code (0 success, 1 a failed check or run, 2 a usage error).
 */
#ifndef BC_CLI_H
#define BC_CLI_H

int bc_cmd_validate(int argc, char **argv);
int bc_cmd_topics(int argc, char **argv);
int bc_cmd_schemas(int argc, char **argv);
int bc_cmd_run(int argc, char **argv);
int bc_cmd_gen(int argc, char **argv);
int bc_cmd_replay(int argc, char **argv);
int bc_cmd_diff(int argc, char **argv);
int bc_cmd_lineage(int argc, char **argv);
int bc_cmd_status(int argc, char **argv);
int bc_cmd_dlq(int argc, char **argv);

#endif
