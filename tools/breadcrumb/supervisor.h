/*
 * The process supervisor behind `breadcrumb run`: keeps a set of child processes (the
 * embedded broker, worker instances) running. Each child runs in its own process group
 * with stdout and stderr appended to its log file; a child that exits is restarted after an
 * exponential backoff (doubled per consecutive failure, capped; reset once a child has lived
 * for a while). Stopping sends SIGTERM to every group, then SIGKILL to what is left after a
 * grace period; the broker, when there is one, is stopped last, after every worker. A child
 * gets SIGTERM when the supervisor dies (PR_SET_PDEATHSIG), so even a kill -9 of the
 * supervisor leaves nothing running.
 *
 * The supervisor is single-threaded and owns SIGCHLD, SIGINT, SIGTERM and SIGHUP while it
 * runs (blocked, taken with sigtimedwait()): call bc_sup_block_signals() before starting
 * anything.
 */
#ifndef BC_SUPERVISOR_H
#define BC_SUPERVISOR_H

#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

struct bc_sup;

struct bc_sup_settings {
    int backoff_ms;     /* first restart delay (default 250) */
    int max_backoff_ms; /* cap of the doubling (default 10000) */
    int stable_ms;      /* a child that lived this long restarts without delay (default 10000) */
    int grace_ms;       /* SIGTERM -> SIGKILL (default 15000) */
    int status_interval_ms; /* status lines of every group (default 10000; 0 = only on change) */
    const char *state_file; /* JSON state rewritten on every change, or NULL */
    FILE *out;              /* status lines (borrowed; default stdout) */
    /* Each start gets a new run id in $BREADCRUMB_RUN_ID (common/bc_runlog.h). Called when a
     * child other than the broker ends otherwise than with exit code 0, with that run id
     * and what ended it (e.g. "signal 9 (Killed)"); NULL: not called. */
    void (*on_failed_run)(void *opaque, const char *group, const char *instance,
                          const char *run_id, const char *why);
    void *opaque;
};

/* Returns a new supervisor (bc_sup_destroy). settings is copied. */
struct bc_sup *bc_sup_new(const struct bc_sup_settings *settings);
/* Stops nothing: call bc_sup_stop() first. NULL is a no-op. */
void bc_sup_destroy(struct bc_sup *sup);

/* Blocks SIGCHLD, SIGINT, SIGTERM and SIGHUP in the calling process (children get an empty
 * mask and default handlers back). */
void bc_sup_block_signals(void);

/* Adds a child: group names it in status lines (e.g. the worker "normalizer"), instance
 * tells replicas apart (e.g. "0"); argv is NULL-terminated and copied, argv[0] a path.
 * A child whose argv[0] is not an executable file is kept as "missing": reported in status
 * lines, never started. Returns the child's index, or -1. */
int bc_sup_add(struct bc_sup *sup, const char *group, const char *instance, char *const *argv,
               const char *log_path);
/* Replaces a child's argv (e.g. the broker restarts on its first port). Returns 0 or -1. */
int bc_sup_set_argv(struct bc_sup *sup, int child, char *const *argv);
/* Marks child as the broker: stopped after every other child. */
void bc_sup_set_broker(struct bc_sup *sup, int child);
/* Extra top-level string fields of the state file (e.g. "brokers"); key and value copied. */
void bc_sup_set_info(struct bc_sup *sup, const char *key, const char *value);

/* Starts child now. Returns its pid, or -1 (missing binary, fork failure). */
pid_t bc_sup_start(struct bc_sup *sup, int child);
/* Starts every child that is not running and not missing. Returns how many started. */
int bc_sup_start_all(struct bc_sup *sup);
/* pid of a running child, else 0. */
pid_t bc_sup_pid(const struct bc_sup *sup, int child);
/* 1 when child is missing (not an executable). */
int bc_sup_missing(const struct bc_sup *sup, int child);

/* Waits up to timeout_ms for a signal and handles it: reaps exited children (scheduling
 * their restarts), restarts the children that are due, prints status lines. Returns 1 when
 * SIGINT, SIGTERM or SIGHUP asked to stop (the count of such signals is in *stop_signals
 * when not NULL), else 0. */
int bc_sup_poll(struct bc_sup *sup, int timeout_ms, int *stop_signals);
/* Runs bc_sup_poll until a stop signal. */
void bc_sup_loop(struct bc_sup *sup);

/* Stops every child: SIGTERM to each process group (workers first, then the broker), then
 * SIGKILL to any left after the grace period; a second stop signal meanwhile kills at
 * once. Returns 0 when every child exited by itself within the grace period (exit code 0 or
 * death by the SIGTERM it was sent), else 1. */
int bc_sup_stop(struct bc_sup *sup);

/* Writes the state file now (also done on every change). */
void bc_sup_write_state(struct bc_sup *sup, int ready);

/* Milliseconds of CLOCK_MONOTONIC. */
int64_t bc_sup_now_ms(void);

#endif
