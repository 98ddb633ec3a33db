/*
 * breadcrumb schemas: list, show and check the Avro schemas of a registry directory
 * (default: schemas/).
 *
 *   breadcrumb schemas list [DIR]                subjects, versions, ids, files
 *   breadcrumb schemas show SUBJECT [VERSION] [--dir DIR]   the original .avsc text
 *   breadcrumb schemas check [DIR]               manifest integrity + backward compatibility
 *   breadcrumb schemas fingerprint [--canonical] FILE...   what the manifest records
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bc_avro.h"
#include "tools/breadcrumb/cli.h"

#define DEFAULT_DIR "schemas"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: breadcrumb schemas list [DIR]\n"
            "       breadcrumb schemas show SUBJECT [VERSION] [--dir DIR]\n"
            "       breadcrumb schemas check [DIR]\n"
            "       breadcrumb schemas fingerprint [--canonical] FILE.avsc...\n"
            "\n"
            "DIR is a registry directory holding manifest.json (default: %s).\n"
            "check: manifest integrity (ids unique, versions 1..n, files parse, defaults\n"
            "fit, fingerprints match) and backward compatibility of every consecutive\n"
            "version pair; exits 1 when a problem is found.\n"
            "fingerprint: the CRC-64-AVRO of a schema's Parsing Canonical Form, what the\n"
            "manifest records as \"fingerprint\" (--canonical also prints the form).\n",
            DEFAULT_DIR);
}

static void print_problem(void *opaque, const char *message)
{
    (void)opaque;
    printf("error: %s\n", message);
}

static int schemas_check(const char *dir)
{
    int problems = bc_avro_registry_check(dir, print_problem, NULL);
    if (problems > 0) {
        printf("%s: %d problem%s\n", dir, problems, problems == 1 ? "" : "s");
        return 1;
    }
    printf("%s: ok\n", dir);
    return 0;
}

static int schemas_list(const char *dir)
{
    struct bc_avro_registry *reg = NULL;
    char errstr[512];
    if (bc_avro_registry_load(dir, &reg, errstr, sizeof(errstr)) != 0) {
        fprintf(stderr, "breadcrumb schemas: %s\n", errstr);
        return 1;
    }
    printf("%-20s %7s %5s  %-32s %s\n", "SUBJECT", "VERSION", "ID", "NAME", "FILE");
    for (size_t i = 0; i < bc_avro_registry_count(reg); i++) {
        const struct bc_avro_schema *s = bc_avro_registry_at(reg, i);
        printf("%-20s %7d %5d  %-32s %s\n", bc_avro_schema_subject(s), bc_avro_schema_version(s),
               (int)bc_avro_schema_id(s), bc_avro_schema_name(s), bc_avro_schema_file(s));
    }
    bc_avro_registry_destroy(reg);
    return 0;
}

static int schemas_show(const char *dir, const char *subject, int version)
{
    struct bc_avro_registry *reg = NULL;
    char errstr[512];
    if (bc_avro_registry_load(dir, &reg, errstr, sizeof(errstr)) != 0) {
        fprintf(stderr, "breadcrumb schemas: %s\n", errstr);
        return 1;
    }
    const struct bc_avro_schema *s = bc_avro_registry_lookup_version(reg, subject, version);
    int rc = 0;
    if (s == NULL) {
        fprintf(stderr, "breadcrumb schemas: no subject %s%s\n", subject,
                version > 0 ? " at that version" : "");
        rc = 1;
    } else {
        fputs(bc_avro_schema_text(s), stdout);
    }
    bc_avro_registry_destroy(reg);
    return rc;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        return NULL;
    }
    char *text = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len);
    char chunk[8192];
    size_t n;
    while (mem != NULL && (n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        fwrite(chunk, 1, n, mem);
    }
    fclose(f);
    if (mem == NULL) {
        return NULL;
    }
    fclose(mem);
    return text;
}

static int schemas_fingerprint(int argc, char **argv)
{
    int canonical = 0, rc = 0, files = 0;
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--canonical") == 0) {
            canonical = 1;
            continue;
        }
        files++;
        char errstr[512];
        char *text = slurp(argv[i]), *form = NULL;
        uint64_t fp;
        if (text == NULL) {
            fprintf(stderr, "breadcrumb schemas: %s: cannot read\n", argv[i]);
            rc = 1;
        } else if (bc_avro_fingerprint(text, &fp, &form, errstr, sizeof(errstr)) != 0) {
            fprintf(stderr, "breadcrumb schemas: %s: %s\n", argv[i], errstr);
            rc = 1;
        } else if (canonical) {
            printf("%016llx %s %s\n", (unsigned long long)fp, argv[i], form);
        } else {
            printf("%016llx %s\n", (unsigned long long)fp, argv[i]);
        }
        free(form);
        free(text);
    }
    if (files == 0) {
        usage(stderr);
        return 2;
    }
    return rc;
}

int bc_cmd_schemas(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "fingerprint") == 0) {
        return schemas_fingerprint(argc, argv);
    }
    const char *dir = DEFAULT_DIR;
    const char *args[3] = {NULL, NULL, NULL};
    int nargs = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        }
        if (strcmp(argv[i], "--dir") == 0) {
            if (i + 1 >= argc) {
                usage(stderr);
                return 2;
            }
            dir = argv[++i];
        } else if (nargs < 3) {
            args[nargs++] = argv[i];
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (nargs == 0) {
        usage(stderr);
        return 2;
    }
    if (strcmp(args[0], "list") == 0 && nargs <= 2) {
        return schemas_list(nargs == 2 ? args[1] : dir);
    }
    if (strcmp(args[0], "check") == 0 && nargs <= 2) {
        return schemas_check(nargs == 2 ? args[1] : dir);
    }
    if (strcmp(args[0], "show") == 0 && nargs >= 2) {
        int version = 0;
        if (nargs == 3) {
            char *end;
            version = (int)strtol(args[2], &end, 10);
            if (*end != '\0' || version < 1) {
                fprintf(stderr, "breadcrumb schemas: bad version '%s'\n", args[2]);
                return 2;
            }
        }
        return schemas_show(dir, args[1], version);
    }
    usage(stderr);
    return 2;
}
