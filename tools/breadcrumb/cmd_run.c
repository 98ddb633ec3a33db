/*
 * `breadcrumb run TOPOLOGY.yaml`: the whole pipeline on one machine. With
 * `kafka.brokers: embedded` (and no --brokers) it starts bin/breadcrumb-broker on a free
 * loopback port with its data under DIR/broker, exports BREADCRUMB_BROKERS, creates every
 * topic of the topology (the code of `breadcrumb topics create`), and runs each worker's
 * `replicas` instances as separate processes (bin/<type> --config FILE --worker NAME
 * --instance I), restarted with backoff when they exit, until SIGINT/SIGTERM stops
 * everything: workers first, then the broker. Against a real cluster it only creates
 * missing topics and starts the workers.
 *
 * A worker whose binary is not built is reported ("missing") and the others run: a
 * partial pipeline is still useful while workers are being written; --strict refuses.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bc_config.h"
#include "tools/breadcrumb/cli.h"
#include "tools/breadcrumb/run_fail.h"
#include "tools/breadcrumb/supervisor.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: breadcrumb run TOPOLOGY.yaml [--brokers HOST:PORT] [--dir DIR]\n"
            "          [--bin-dir DIR] [--only WORKER,...] [--profile test|default] [--strict]\n"
            "          [--status-interval-ms N] [--grace-ms N] [--backoff-ms N]\n"
            "          [--max-backoff-ms N]\n\n"
            "Runs a topology: the embedded broker when kafka.brokers is 'embedded' (data in\n"
            "DIR/broker, a free loopback port, exported as BREADCRUMB_BROKERS), its topics,\n"
            "and every worker's replicas as processes restarted with exponential backoff.\n"
            "Ctrl-C or SIGTERM stops the workers, then the broker (SIGKILL after --grace-ms).\n\n"
            "  --brokers       a running cluster instead (no embedded broker)\n"
            "  --dir           where the run keeps its files (default ./data): broker/ (data),\n"
            "                  logs/<worker>.<instance>.log, logs/broker.log, run.json (state)\n"
            "  --bin-dir       where the worker binaries are (default: this program's directory)\n"
            "  --only          run only these workers (comma-separated names)\n"
            "  --profile       sets BREADCRUMB_PROFILE (the default topology's kafka.profile)\n"
            "  --strict        refuse to run when a worker's binary is missing (default: run\n"
            "                  the others and report it as missing)\n"
            "  --status-interval-ms  one status line per worker this often (default 10000)\n"
            "Exit: 0 stopped cleanly, 1 a start failure or an unclean stop, 2 usage.\n");
}

static int parse_ms(const char *s, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < 0 || v > 86400000) {
        return -1;
    }
    *out = (int)v;
    return 0;
}

static int in_list(const char *list, const char *name)
{
    if (list == NULL) {
        return 1;
    }
    size_t n = strlen(name);
    for (const char *p = list; *p != '\0';) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (len == n && strncmp(p, name, n) == 0) {
            return 1;
        }
        p += len + (comma ? 1 : 0);
    }
    return 0;
}

static int mkdirs(const char *path)
{
    char buf[PATH_MAX];
    snprintf(buf, sizeof(buf), "%s", path);
    for (char *p = buf + 1; *p != '\0'; p++) {
        if (*p == '/') {
            *p = '\0';
            if (mkdir(buf, 0755) != 0 && errno != EEXIST) {
                return -1;
            }
            *p = '/';
        }
    }
    return mkdir(buf, 0755) != 0 && errno != EEXIST ? -1 : 0;
}

/* Starts the broker child and waits for its port file. Returns the port, or -1. */
static int start_broker(struct bc_sup *sup, int child, const char *port_file)
{
    unlink(port_file);
    if (bc_sup_start(sup, child) <= 0) {
        return -1;
    }
    int64_t deadline = bc_sup_now_ms() + 60000;
    while (bc_sup_now_ms() < deadline) {
        FILE *f = fopen(port_file, "r");
        int port = 0;
        if (f != NULL) {
            if (fscanf(f, "%d", &port) != 1) {
                port = 0;
            }
            fclose(f);
        }
        if (port > 0) {
            return port;
        }
        int stop = bc_sup_poll(sup, 20, NULL);
        if (stop || bc_sup_pid(sup, child) == 0) {
            return -1;
        }
    }
    return -1;
}

int bc_cmd_run(int argc, char **argv)
{
    const char *file = NULL, *brokers = NULL, *dir = "data", *bin_dir = NULL, *only = NULL;
    int strict = 0;
    struct bc_sup_settings ss = {.status_interval_ms = 10000};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        }
        if (strcmp(a, "--strict") == 0) {
            strict = 1;
            continue;
        }
        if (a[0] != '-') {
            if (file != NULL) {
                fprintf(stderr, "breadcrumb run: one topology file only\n");
                return 2;
            }
            file = a;
            continue;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "breadcrumb run: %s needs a value\n", a);
            return 2;
        }
        const char *v = argv[++i];
        int rc = 0;
        if (strcmp(a, "--brokers") == 0) {
            brokers = v;
        } else if (strcmp(a, "--dir") == 0) {
            dir = v;
        } else if (strcmp(a, "--bin-dir") == 0) {
            bin_dir = v;
        } else if (strcmp(a, "--only") == 0) {
            only = v;
        } else if (strcmp(a, "--profile") == 0) {
            rc = strcmp(v, "test") == 0 || strcmp(v, "default") == 0 ? 0 : -1;
            setenv("BREADCRUMB_PROFILE", v, 1);
        } else if (strcmp(a, "--status-interval-ms") == 0) {
            rc = parse_ms(v, &ss.status_interval_ms);
        } else if (strcmp(a, "--grace-ms") == 0) {
            rc = parse_ms(v, &ss.grace_ms);
        } else if (strcmp(a, "--backoff-ms") == 0) {
            rc = parse_ms(v, &ss.backoff_ms);
        } else if (strcmp(a, "--max-backoff-ms") == 0) {
            rc = parse_ms(v, &ss.max_backoff_ms);
        } else {
            fprintf(stderr, "breadcrumb run: unknown option '%s'\n", a);
            usage(stderr);
            return 2;
        }
        if (rc != 0) {
            fprintf(stderr, "breadcrumb run: bad value '%s' for %s\n", v, a);
            return 2;
        }
    }
    if (file == NULL) {
        usage(stderr);
        return 2;
    }

    char abs_file[PATH_MAX], bins[PATH_MAX], abs_dir[PATH_MAX], path[PATH_MAX + 64];
    if (realpath(file, abs_file) == NULL) {
        fprintf(stderr, "breadcrumb run: %s: %s\n", file, strerror(errno));
        return 1;
    }
    if (bin_dir != NULL) {
        snprintf(bins, sizeof(bins), "%s", bin_dir);
    } else if (bc_exe_dir(bins, sizeof(bins)) != 0) {
        fprintf(stderr, "breadcrumb run: cannot find my own directory; use --bin-dir\n");
        return 1;
    }
    struct bc_errors errs = {0};
    struct bc_config *cfg = bc_config_load(abs_file, &errs);
    if (cfg == NULL || errs.n > 0) {
        bc_errors_print(&errs, stderr);
        bc_errors_clear(&errs);
        bc_config_destroy(cfg);
        return 1;
    }
    struct bc_sup *sup = NULL;
    int rc = 1;
    struct bc_run_fail run_fail; /* `failed` run records of killed workers (run_fail.h) */
    bc_run_fail_init(&run_fail, cfg);
    ss.on_failed_run = bc_run_fail_record;
    ss.opaque = &run_fail;
    if (mkdirs(dir) != 0 || realpath(dir, abs_dir) == NULL) {
        fprintf(stderr, "breadcrumb run: %s: %s\n", dir, strerror(errno));
        goto done;
    }
    snprintf(path, sizeof(path), "%s/logs", abs_dir);
    if (mkdirs(path) != 0) {
        fprintf(stderr, "breadcrumb run: %s: %s\n", path, strerror(errno));
        goto done;
    }
    snprintf(path, sizeof(path), "%s/run.json", abs_dir);
    ss.state_file = path;
    bc_sup_block_signals();
    sup = bc_sup_new(&ss);
    if (sup == NULL) {
        goto done;
    }
    bc_sup_set_info(sup, "topology", abs_file);
    bc_sup_set_info(sup, "pipeline", cfg->pipeline);

    /* The embedded broker. */
    int embedded = brokers == NULL && strcmp(cfg->kafka.brokers, "embedded") == 0;
    char bootstrap[64] = "";
    int broker = -1;
    if (embedded) {
        char exe[PATH_MAX + 32], listen[64], port_file[PATH_MAX + 32], data[PATH_MAX + 32],
            log[PATH_MAX + 32];
        snprintf(exe, sizeof(exe), "%s/breadcrumb-broker", bins);
        snprintf(port_file, sizeof(port_file), "%s/broker.port", abs_dir);
        snprintf(data, sizeof(data), "%s/broker", abs_dir);
        snprintf(log, sizeof(log), "%s/logs/broker.log", abs_dir);
        snprintf(listen, sizeof(listen), "127.0.0.1:0");
        char *bargv[] = {exe, "--listen", listen, "--port-file", port_file, "--data-dir", data,
                         NULL};
        broker = bc_sup_add(sup, "broker", "0", bargv, log);
        if (broker < 0 || bc_sup_missing(sup, broker)) {
            fprintf(stderr, "breadcrumb run: %s is not built (make)\n", exe);
            goto done;
        }
        bc_sup_set_broker(sup, broker);
        int port = start_broker(sup, broker, port_file);
        if (port <= 0) {
            fprintf(stderr, "breadcrumb run: the embedded broker did not start; see %s\n", log);
            bc_sup_stop(sup);
            goto done;
        }
        /* Restarts reuse the port: the workers' bootstrap address must stay valid. */
        snprintf(listen, sizeof(listen), "127.0.0.1:%d", port);
        bc_sup_set_argv(sup, broker, bargv);
        snprintf(bootstrap, sizeof(bootstrap), "127.0.0.1:%d", port);
        setenv("BREADCRUMB_BROKERS", bootstrap, 1);
        printf("run: embedded breadcrumb-broker on %s (data %s, log %s)\n", bootstrap, data, log);
        bc_sup_set_info(sup, "brokers", bootstrap);
    } else {
        bc_sup_set_info(sup, "brokers", brokers ? brokers : cfg->kafka.brokers);
    }
    bc_run_fail_brokers(&run_fail, embedded ? bootstrap : brokers ? brokers : cfg->kafka.brokers);
    bc_sup_write_state(sup, 0);

    /* Topics: exactly `breadcrumb topics create`. */
    {
        char *targv[] = {"topics", "create", abs_file, "--brokers", (char *)(brokers ? brokers : bootstrap),
                         NULL};
        int targc = brokers != NULL || embedded ? 5 : 3;
        targv[targc] = NULL;
        fflush(stdout);
        int trc = bc_cmd_topics(targc, targv);
        fflush(stdout);
        if (trc != 0) {
            fprintf(stderr, "breadcrumb run: creating the topics failed (above)\n");
            bc_sup_stop(sup);
            goto done;
        }
    }

    /* Workers. */
    int n_workers = 0, n_missing = 0;
    for (size_t i = 0; i < cfg->n_workers; i++) {
        const struct bc_worker *w = &cfg->workers[i];
        if (!in_list(only, w->name)) {
            continue;
        }
        char exe[PATH_MAX + 32];
        snprintf(exe, sizeof(exe), "%s/%s", bins, w->type->name);
        for (int r = 0; r < w->replicas; r++) {
            char instance[16], log[PATH_MAX + 64];
            snprintf(instance, sizeof(instance), "%d", r);
            snprintf(log, sizeof(log), "%s/logs/%s.%d.log", abs_dir, w->name, r);
            char *wargv[] = {exe, "--config", abs_file, "--worker", w->name, "--instance",
                             instance, "--brokers", (char *)brokers, NULL};
            if (brokers == NULL) {
                wargv[7] = NULL;
            }
            int child = bc_sup_add(sup, w->name, instance, wargv, log);
            if (child < 0) {
                goto stop;
            }
            if (bc_sup_missing(sup, child)) {
                if (r == 0) {
                    printf("run: worker %s: %s is not built; %s\n", w->name, exe,
                           strict ? "refusing to run (--strict)" : "not started");
                }
                n_missing++;
            } else {
                n_workers++;
            }
        }
    }
    if (only != NULL && n_workers + n_missing == 0) {
        fprintf(stderr, "breadcrumb run: --only %s names no worker of the topology\n", only);
        goto stop;
    }
    if (strict && n_missing > 0) {
        goto stop;
    }
    bc_sup_start_all(sup);
    bc_sup_write_state(sup, 1);
    printf("run: %d worker processes started%s; Ctrl-C stops\n", n_workers,
           n_missing ? " (some workers missing, see above)" : "");
    fflush(stdout);
    bc_sup_loop(sup);
    printf("run: stopping\n");
    fflush(stdout);
    rc = bc_sup_stop(sup);
    printf("run: stopped%s\n", rc == 0 ? "" : " (not cleanly, see above)");
    goto done;
stop:
    bc_sup_stop(sup);
    rc = 1;
done:
    bc_sup_destroy(sup);
    bc_run_fail_close(&run_fail);
    bc_config_destroy(cfg);
    return rc;
}
