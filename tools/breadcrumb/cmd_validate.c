/* `breadcrumb validate`: checks topology files and prints every error, or the option
 * reference that README's topology section embeds. */
#include <stdio.h>
#include <string.h>

#include "bc_avro.h"
#include "bc_config.h"
#include "tools/breadcrumb/cli.h"

static const char *const cleanup_names[] = {"delete", "compact", "compact,delete"};

/* --verbose: the effective topics (implicit ones too) and workers, one per line. */
static void print_effective(const struct bc_config *cfg)
{
    for (size_t i = 0; i < cfg->n_topics; i++) {
        const struct bc_topic *t = &cfg->topics[i];
        char retention[32] = "default";
        if (t->retention_ms > 0) {
            bc_duration_format(t->retention_ms, retention, sizeof(retention));
        }
        printf("topic %s partitions=%d replication_factor=%d cleanup=%s retention=%s%s\n",
               t->name, t->partitions, t->replication_factor, cleanup_names[t->cleanup],
               retention, t->implicit ? " (implicit)" : "");
    }
    for (size_t i = 0; i < cfg->n_workers; i++) {
        const struct bc_worker *w = &cfg->workers[i];
        char hash[17];
        bc_config_worker_hash(cfg, w, hash);
        printf("worker %s type=%s replicas=%d input=", w->name, w->type->name, w->replicas);
        for (size_t j = 0; j < w->n_inputs; j++) {
            printf("%s%s", j ? "," : "", w->inputs[j]);
        }
        printf(" outputs=");
        for (size_t j = 0; j < w->n_outputs; j++) {
            printf("%s%s:%s", j ? "," : "", w->outputs[j].name, w->outputs[j].topic);
        }
        printf(" hash=%s\n", hash);
        if (w->type->describe != NULL) {
            w->type->describe(stdout, w);
        }
    }
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: breadcrumb validate [--quiet | --verbose] FILE...\n"
            "       breadcrumb validate --reference\n"
            "       breadcrumb validate --options TYPE\n"
            "\n"
            "Loads each topology file, substitutes ${VAR}, ${VAR:-default} and ${VAR:?message},\n"
            "and checks it against the option tables: unknown keys, wrong types, values out\n"
            "of range, undeclared topics. Prints every error as FILE:LINE:COL: error: MESSAGE\n"
            "and exits 1, or prints a one-line summary per file and exits 0. Also checks the\n"
            "schema directory (schemas.dir, used with a registry URL too): the manifest and\n"
            "the backward compatibility of every schema version with the one before.\n"
            "\n"
            "  --quiet       print nothing when a file is valid\n"
            "  --verbose     also print the effective topics (implicit ones too) and workers\n"
            "                with their config hashes\n"
            "  --reference   print the markdown reference of the topology and every worker\n"
            "                type's options (README's topology section embeds it)\n"
            "  --options T   print worker type T's options\n");
}

struct schema_report {
    const char *dir;
    size_t problems;
};

static void report_schema_problem(void *opaque, const char *message)
{
    struct schema_report *r = opaque;
    fprintf(stderr, "%s: error: %s\n", r->dir, message);
    r->problems++;
}

/* Checks the schema directory a valid topology names (manifest, schemas, backward
 * compatibility of consecutive versions): the workers load it whatever schemas.registry
 * says (a registry URL gets its .avsc texts). Returns the number of problems printed. */
static size_t check_schemas(const struct bc_config *cfg)
{
    struct schema_report r = {.dir = cfg->schemas.dir, .problems = 0};
    bc_avro_registry_check(cfg->schemas.dir, report_schema_problem, &r);
    return r.problems;
}

int bc_cmd_validate(int argc, char **argv)
{
    int quiet = 0, verbose = 0, files = 0, failed = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "--reference") == 0) {
            bc_config_reference(stdout);
            return 0;
        } else if (strcmp(argv[i], "--options") == 0) {
            const struct bc_worker_type *type =
                i + 1 < argc ? bc_worker_type_find(argv[i + 1]) : NULL;
            if (type == NULL) {
                fprintf(stderr, "breadcrumb validate: --options needs a worker type\n");
                return 2;
            }
            bc_options_help(stdout, type);
            return 0;
        } else if (strcmp(argv[i], "--quiet") == 0 || strcmp(argv[i], "-q") == 0) {
            quiet = 1;
        } else if (strcmp(argv[i], "--verbose") == 0 || strcmp(argv[i], "-v") == 0) {
            verbose = 1;
        } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
            fprintf(stderr, "breadcrumb validate: unknown option '%s'\n\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    for (int i = 1; i < argc; i++) {
        if (argv[i][0] == '-' && argv[i][1] != '\0') {
            continue;
        }
        files++;
        struct bc_errors errs = {0};
        struct bc_config *cfg = bc_config_load(argv[i], &errs);
        if (cfg == NULL) {
            bc_errors_print(&errs, stderr);
            fprintf(stderr, "%s: %zu error%s\n", argv[i], errs.n, errs.n == 1 ? "" : "s");
            failed++;
        } else if (check_schemas(cfg) > 0) {
            fprintf(stderr, "%s: the schemas in %s do not check out\n", argv[i], cfg->schemas.dir);
            failed++;
        } else if (!quiet) {
            size_t declared = 0;
            for (size_t t = 0; t < cfg->n_topics; t++) {
                declared += !cfg->topics[t].implicit;
            }
            fprintf(stdout, "%s: ok: pipeline %s, %zu topics, %zu workers\n", argv[i],
                    cfg->pipeline, declared, cfg->n_workers);
            if (verbose) {
                print_effective(cfg);
            }
        }
        bc_errors_clear(&errs);
        bc_config_destroy(cfg);
    }
    if (files == 0) {
        usage(stderr);
        return 2;
    }
    return failed > 0 ? 1 : 0;
}
