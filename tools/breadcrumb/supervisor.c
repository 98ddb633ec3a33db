/* The process supervisor of `breadcrumb run` (supervisor.h). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "bc_runlog.h"
#include "tools/breadcrumb/supervisor.h"

struct child {
    char *group;
    char *instance;
    char **argv;    /* NULL-terminated, owned */
    char *log_path; /* owned */
    pid_t pid;      /* > 0 while running (not yet reaped) */
    int missing;    /* argv[0] is not executable: never started */
    int is_broker;
    int restarts;            /* starts after the first */
    int failures;            /* consecutive short-lived runs, for the backoff */
    int starts;              /* total starts */
    int64_t started_ms;      /* of the current or last run */
    int64_t restart_at_ms;   /* > 0: restart due at this time */
    int last_status;         /* wait status of the last exit; valid when exited > 0 */
    int exited;              /* number of exits seen */
    int term_sent;           /* stopping: SIGTERM sent to this run */
    char run_id[37];         /* $BREADCRUMB_RUN_ID of the current or last run */
};

struct bc_sup {
    struct bc_sup_settings s;
    struct child *children;
    size_t n;
    char **info; /* key, value, key, value ... */
    size_t n_info;
    int stopping;
    int ready;
    int stop_signals;
    int64_t next_status_ms;
};

int64_t bc_sup_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void wall_clock(char *buf, size_t size)
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, size, "%H:%M:%S", &tm);
}

static char **argv_copy(char *const *argv)
{
    size_t n = 0;
    while (argv[n] != NULL) {
        n++;
    }
    char **copy = calloc(n + 1, sizeof(*copy));
    if (copy == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        if ((copy[i] = strdup(argv[i])) == NULL) {
            for (size_t j = 0; j < i; j++) {
                free(copy[j]);
            }
            free(copy);
            return NULL;
        }
    }
    return copy;
}

static void argv_free(char **argv)
{
    if (argv == NULL) {
        return;
    }
    for (size_t i = 0; argv[i] != NULL; i++) {
        free(argv[i]);
    }
    free(argv);
}

struct bc_sup *bc_sup_new(const struct bc_sup_settings *settings)
{
    struct bc_sup *sup = calloc(1, sizeof(*sup));
    if (sup == NULL) {
        return NULL;
    }
    sup->s = *settings;
    if (sup->s.backoff_ms <= 0) {
        sup->s.backoff_ms = 250;
    }
    if (sup->s.max_backoff_ms <= 0) {
        sup->s.max_backoff_ms = 10000;
    }
    if (sup->s.stable_ms <= 0) {
        sup->s.stable_ms = 10000;
    }
    if (sup->s.grace_ms <= 0) {
        sup->s.grace_ms = 15000;
    }
    if (sup->s.out == NULL) {
        sup->s.out = stdout;
    }
    if (sup->s.state_file != NULL && (sup->s.state_file = strdup(sup->s.state_file)) == NULL) {
        free(sup);
        return NULL;
    }
    return sup;
}

void bc_sup_destroy(struct bc_sup *sup)
{
    if (sup == NULL) {
        return;
    }
    for (size_t i = 0; i < sup->n; i++) {
        free(sup->children[i].group);
        free(sup->children[i].instance);
        free(sup->children[i].log_path);
        argv_free(sup->children[i].argv);
    }
    for (size_t i = 0; i < sup->n_info; i++) {
        free(sup->info[i]);
    }
    free(sup->info);
    free(sup->children);
    free((char *)sup->s.state_file);
    free(sup);
}

void bc_sup_block_signals(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    sigprocmask(SIG_BLOCK, &set, NULL);
}

int bc_sup_add(struct bc_sup *sup, const char *group, const char *instance, char *const *argv,
               const char *log_path)
{
    struct child *children = realloc(sup->children, (sup->n + 1) * sizeof(*children));
    if (children == NULL) {
        return -1;
    }
    sup->children = children;
    struct child *c = &children[sup->n];
    memset(c, 0, sizeof(*c));
    c->group = strdup(group);
    c->instance = strdup(instance);
    c->log_path = strdup(log_path);
    c->argv = argv_copy(argv);
    if (c->group == NULL || c->instance == NULL || c->log_path == NULL || c->argv == NULL) {
        free(c->group);
        free(c->instance);
        free(c->log_path);
        argv_free(c->argv);
        return -1;
    }
    struct stat st;
    c->missing = stat(c->argv[0], &st) != 0 || !S_ISREG(st.st_mode) || access(c->argv[0], X_OK) != 0;
    return (int)sup->n++;
}

int bc_sup_set_argv(struct bc_sup *sup, int child, char *const *argv)
{
    char **copy = argv_copy(argv);
    if (copy == NULL) {
        return -1;
    }
    argv_free(sup->children[child].argv);
    sup->children[child].argv = copy;
    return 0;
}

void bc_sup_set_broker(struct bc_sup *sup, int child)
{
    sup->children[child].is_broker = 1;
}

void bc_sup_set_info(struct bc_sup *sup, const char *key, const char *value)
{
    for (size_t i = 0; i + 1 < sup->n_info; i += 2) {
        if (strcmp(sup->info[i], key) == 0) {
            char *v = strdup(value);
            if (v != NULL) {
                free(sup->info[i + 1]);
                sup->info[i + 1] = v;
            }
            return;
        }
    }
    char **info = realloc(sup->info, (sup->n_info + 2) * sizeof(*info));
    if (info == NULL) {
        return;
    }
    sup->info = info;
    info[sup->n_info] = strdup(key);
    info[sup->n_info + 1] = strdup(value);
    if (info[sup->n_info] == NULL || info[sup->n_info + 1] == NULL) {
        free(info[sup->n_info]);
        free(info[sup->n_info + 1]);
        return;
    }
    sup->n_info += 2;
}

pid_t bc_sup_pid(const struct bc_sup *sup, int child)
{
    return sup->children[child].pid;
}

int bc_sup_missing(const struct bc_sup *sup, int child)
{
    return sup->children[child].missing;
}

void bc_sup_write_state(struct bc_sup *sup, int ready)
{
    if (ready) {
        sup->ready = 1;
    }
    if (sup->s.state_file == NULL) {
        return;
    }
    json_t *root = json_object();
    json_object_set_new(root, "pid", json_integer(getpid()));
    json_object_set_new(root, "ready", json_boolean(sup->ready));
    json_object_set_new(root, "stopping", json_boolean(sup->stopping));
    for (size_t i = 0; i + 1 < sup->n_info; i += 2) {
        json_object_set_new(root, sup->info[i], json_string(sup->info[i + 1]));
    }
    json_t *procs = json_array();
    for (size_t i = 0; i < sup->n; i++) {
        const struct child *c = &sup->children[i];
        json_t *p = json_object();
        json_object_set_new(p, "group", json_string(c->group));
        json_object_set_new(p, "instance", json_string(c->instance));
        json_object_set_new(p, "broker", json_boolean(c->is_broker));
        json_object_set_new(p, "pid", json_integer(c->pid));
        json_object_set_new(p, "running", json_boolean(c->pid > 0));
        json_object_set_new(p, "missing", json_boolean(c->missing));
        json_object_set_new(p, "starts", json_integer(c->starts));
        json_object_set_new(p, "restarts", json_integer(c->restarts));
        json_object_set_new(p, "log", json_string(c->log_path));
        json_array_append_new(procs, p);
    }
    json_object_set_new(root, "processes", procs);
    char tmp[4096];
    snprintf(tmp, sizeof(tmp), "%s.tmp", sup->s.state_file);
    if (json_dump_file(root, tmp, JSON_INDENT(1)) == 0) {
        rename(tmp, sup->s.state_file);
    }
    json_decref(root);
}

static void describe_status(int status, char *buf, size_t size)
{
    if (WIFEXITED(status)) {
        snprintf(buf, size, "exit %d", WEXITSTATUS(status));
    } else if (WIFSIGNALED(status)) {
        snprintf(buf, size, "signal %d (%s)", WTERMSIG(status), strsignal(WTERMSIG(status)));
    } else {
        snprintf(buf, size, "status %d", status);
    }
}

/* One line per group: how many of its instances run, restarts, pids. */
static void print_group(struct bc_sup *sup, const char *group)
{
    int total = 0, running = 0, restarts = 0, missing = 0;
    char pids[256] = "";
    size_t used = 0;
    for (size_t i = 0; i < sup->n; i++) {
        const struct child *c = &sup->children[i];
        if (strcmp(c->group, group) != 0) {
            continue;
        }
        total++;
        restarts += c->restarts;
        missing += c->missing;
        if (c->pid > 0) {
            running++;
            if (used < sizeof(pids)) {
                int n = snprintf(pids + used, sizeof(pids) - used, "%s%d", used ? "," : "",
                                 (int)c->pid);
                used += n > 0 ? (size_t)n : 0;
            }
        }
    }
    char now[16];
    wall_clock(now, sizeof(now));
    if (missing == total) {
        fprintf(sup->s.out, "%s %-16s missing (not built), not started\n", now, group);
    } else {
        fprintf(sup->s.out, "%s %-16s %d/%d running  restarts %-3d pids %s\n", now, group, running,
                total, restarts, used ? pids : "-");
    }
}

static void print_all(struct bc_sup *sup)
{
    for (size_t i = 0; i < sup->n; i++) {
        int first = 1;
        for (size_t j = 0; j < i; j++) {
            if (strcmp(sup->children[j].group, sup->children[i].group) == 0) {
                first = 0;
                break;
            }
        }
        if (first) {
            print_group(sup, sup->children[i].group);
        }
    }
    fflush(sup->s.out);
}

pid_t bc_sup_start(struct bc_sup *sup, int child)
{
    struct child *c = &sup->children[child];
    if (c->missing || c->pid > 0) {
        return c->missing ? -1 : c->pid;
    }
    fflush(NULL);
    bc_runlog_new_id(c->run_id);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(sup->s.out, "run: fork for %s/%s: %s\n", c->group, c->instance, strerror(errno));
        c->restart_at_ms = bc_sup_now_ms() + sup->s.max_backoff_ms;
        return -1;
    }
    if (pid == 0) {
        setpgid(0, 0);
        /* A supervisor killed with SIGKILL leaves no orphans: the children stop cleanly. */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent) {
            _exit(0);
        }
        struct sigaction sa;
        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = SIG_DFL;
        sigaction(SIGCHLD, &sa, NULL);
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGHUP, &sa, NULL);
        sigaction(SIGPIPE, &sa, NULL);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        int fd = open(c->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd >= 0) {
            dup2(fd, STDOUT_FILENO);
            dup2(fd, STDERR_FILENO);
        }
        int devnull = open("/dev/null", O_RDONLY);
        if (devnull >= 0) {
            dup2(devnull, STDIN_FILENO);
            close(devnull);
        }
        setenv("BREADCRUMB_RUN_ID", c->run_id, 1);
        execv(c->argv[0], c->argv);
        fprintf(stderr, "breadcrumb run: exec %s: %s\n", c->argv[0], strerror(errno));
        _exit(127);
    }
    /* Also here, so a signal sent right after fork already reaches the whole group. */
    setpgid(pid, pid);
    if (c->starts > 0) {
        c->restarts++;
    }
    c->starts++;
    c->pid = pid;
    c->term_sent = 0;
    c->restart_at_ms = 0;
    c->started_ms = bc_sup_now_ms();
    return pid;
}

int bc_sup_start_all(struct bc_sup *sup)
{
    int started = 0;
    for (size_t i = 0; i < sup->n; i++) {
        if (sup->children[i].pid == 0 && !sup->children[i].missing &&
            bc_sup_start(sup, (int)i) > 0) {
            started++;
        }
    }
    bc_sup_write_state(sup, 0);
    return started;
}

/* Reaps every exited child; schedules restarts unless stopping. Returns how many exited. */
static int reap(struct bc_sup *sup)
{
    int n = 0;
    for (;;) {
        int status;
        pid_t pid = waitpid(-1, &status, WNOHANG);
        if (pid <= 0) {
            break;
        }
        for (size_t i = 0; i < sup->n; i++) {
            struct child *c = &sup->children[i];
            if (c->pid != pid) {
                continue;
            }
            n++;
            c->pid = 0;
            c->exited++;
            c->last_status = status;
            int64_t now = bc_sup_now_ms();
            int64_t lived = now - c->started_ms;
            if (!c->is_broker && sup->s.on_failed_run != NULL &&
                !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
                char ended[96];
                describe_status(status, ended, sizeof(ended));
                sup->s.on_failed_run(sup->s.opaque, c->group, c->instance, c->run_id, ended);
            }
            if (sup->stopping) {
                break;
            }
            if (lived >= sup->s.stable_ms) {
                c->failures = 0;
            }
            int64_t delay = sup->s.backoff_ms;
            for (int f = 0; f < c->failures && delay < sup->s.max_backoff_ms; f++) {
                delay *= 2;
            }
            if (delay > sup->s.max_backoff_ms) {
                delay = sup->s.max_backoff_ms;
            }
            c->failures++;
            c->restart_at_ms = now + delay;
            char why[96], now_s[16];
            describe_status(status, why, sizeof(why));
            wall_clock(now_s, sizeof(now_s));
            fprintf(sup->s.out, "%s %s/%s (pid %d) exited: %s after %.1fs; restarting in %.2fs\n",
                    now_s, c->group, c->instance, (int)pid, why, (double)lived / 1000.0,
                    (double)delay / 1000.0);
            print_group(sup, c->group);
            fflush(sup->s.out);
            break;
        }
    }
    return n;
}

static void restart_due(struct bc_sup *sup)
{
    int64_t now = bc_sup_now_ms();
    for (size_t i = 0; i < sup->n; i++) {
        struct child *c = &sup->children[i];
        if (c->pid == 0 && !c->missing && c->restart_at_ms > 0 && c->restart_at_ms <= now) {
            if (bc_sup_start(sup, (int)i) > 0) {
                char now_s[16];
                wall_clock(now_s, sizeof(now_s));
                fprintf(sup->s.out, "%s %s/%s restarted (pid %d, restart %d)\n", now_s, c->group,
                        c->instance, (int)c->pid, c->restarts);
                print_group(sup, c->group);
                fflush(sup->s.out);
            }
            bc_sup_write_state(sup, 0);
        }
    }
}

/* Milliseconds until the next due restart or status line, at most cap. */
static int next_timeout(struct bc_sup *sup, int cap)
{
    int64_t now = bc_sup_now_ms();
    int64_t t = cap;
    for (size_t i = 0; i < sup->n; i++) {
        const struct child *c = &sup->children[i];
        if (c->pid == 0 && c->restart_at_ms > 0 && c->restart_at_ms - now < t) {
            t = c->restart_at_ms - now;
        }
    }
    if (sup->s.status_interval_ms > 0 && sup->next_status_ms - now < t) {
        t = sup->next_status_ms - now;
    }
    return t < 0 ? 0 : (int)t;
}

/* Waits up to timeout_ms for one of the blocked signals. Returns the signal or 0. */
static int wait_signal(int timeout_ms)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    struct timespec ts = {timeout_ms / 1000, (long)(timeout_ms % 1000) * 1000000L};
    int sig = sigtimedwait(&set, NULL, &ts);
    return sig < 0 ? 0 : sig;
}

int bc_sup_poll(struct bc_sup *sup, int timeout_ms, int *stop_signals)
{
    int sig = wait_signal(next_timeout(sup, timeout_ms));
    int stop = 0;
    if (sig == SIGINT || sig == SIGTERM || sig == SIGHUP) {
        sup->stop_signals++;
        stop = 1;
    }
    if (reap(sup) > 0) {
        bc_sup_write_state(sup, 0);
    }
    if (!sup->stopping && !stop) {
        restart_due(sup);
    }
    int64_t now = bc_sup_now_ms();
    if (!sup->stopping && sup->s.status_interval_ms > 0 && now >= sup->next_status_ms) {
        if (sup->next_status_ms > 0) {
            print_all(sup);
        }
        sup->next_status_ms = now + sup->s.status_interval_ms;
    }
    if (stop_signals != NULL) {
        *stop_signals = sup->stop_signals;
    }
    return stop;
}

void bc_sup_loop(struct bc_sup *sup)
{
    print_all(sup);
    sup->next_status_ms = bc_sup_now_ms() + sup->s.status_interval_ms;
    while (!bc_sup_poll(sup, 1000, NULL)) {
    }
}

/* Sends sig to the process group of every running child of the kind (broker or not). */
static void signal_kind(struct bc_sup *sup, int broker, int sig)
{
    for (size_t i = 0; i < sup->n; i++) {
        struct child *c = &sup->children[i];
        if (c->pid > 0 && c->is_broker == broker) {
            kill(-c->pid, sig);
            kill(c->pid, sig);
            if (sig == SIGTERM) {
                c->term_sent = 1;
            }
        }
    }
}

static int running_kind(const struct bc_sup *sup, int broker)
{
    int n = 0;
    for (size_t i = 0; i < sup->n; i++) {
        n += sup->children[i].pid > 0 && sup->children[i].is_broker == broker;
    }
    return n;
}

/* Stops the children of one kind. Returns the number killed with SIGKILL. */
static int stop_kind(struct bc_sup *sup, int broker)
{
    if (running_kind(sup, broker) == 0) {
        return 0;
    }
    signal_kind(sup, broker, SIGTERM);
    int64_t deadline = bc_sup_now_ms() + sup->s.grace_ms;
    int signals_before = sup->stop_signals;
    while (running_kind(sup, broker) > 0 && bc_sup_now_ms() < deadline &&
           sup->stop_signals == signals_before) {
        int64_t left = deadline - bc_sup_now_ms();
        bc_sup_poll(sup, left > 200 ? 200 : (int)(left > 0 ? left : 0), NULL);
    }
    int killed = running_kind(sup, broker);
    if (killed > 0) {
        char now_s[16];
        wall_clock(now_s, sizeof(now_s));
        fprintf(sup->s.out, "%s %d %s still running: SIGKILL\n", now_s, killed,
                broker ? "broker" : "worker(s)");
        signal_kind(sup, broker, SIGKILL);
        while (running_kind(sup, broker) > 0) {
            bc_sup_poll(sup, 200, NULL);
        }
    }
    return killed;
}

int bc_sup_stop(struct bc_sup *sup)
{
    sup->stopping = 1;
    bc_sup_write_state(sup, 0);
    int killed = stop_kind(sup, 0);
    killed += stop_kind(sup, 1);
    int unclean = killed > 0;
    for (size_t i = 0; i < sup->n; i++) {
        const struct child *c = &sup->children[i];
        if (!c->term_sent || c->exited == 0) {
            continue;
        }
        int st = c->last_status;
        int ok = (WIFEXITED(st) && WEXITSTATUS(st) == 0) ||
                 (WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM);
        if (!ok) {
            char why[96];
            describe_status(st, why, sizeof(why));
            fprintf(sup->s.out, "run: %s/%s stopped with %s\n", c->group, c->instance, why);
            unclean = 1;
        }
    }
    bc_sup_write_state(sup, 0);
    fflush(sup->s.out);
    return unclean;
}
