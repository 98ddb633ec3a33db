/*
 * registry_client URL [--user U] [--password-env VAR] [--attempts N] [--backoff-ms MS]
 *                 STEP...
 * Runs steps on one bc_registry_http client, in order, one output line each:
 *   register:SUBJECT:FILE  -> "id N"          check:SUBJECT:FILE -> "compatible 0|1"
 *   schema:ID              -> "schema TEXT"   requests           -> "requests N"
 * The first failing step prints "error: MESSAGE" and exits 1.
 */
#include "bc_registry_http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        return NULL;
    }
    char *text = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&text, &len);
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        fwrite(chunk, 1, n, m);
    }
    fclose(m);
    fclose(f);
    return text;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: registry_client URL [options] STEP...\n");
        return 2;
    }
    struct bc_registry_http_opts o = {.url = argv[1]};
    int i = 2;
    for (; i + 1 < argc && strncmp(argv[i], "--", 2) == 0; i += 2) {
        if (strcmp(argv[i], "--user") == 0) {
            o.username = argv[i + 1];
        } else if (strcmp(argv[i], "--password-env") == 0) {
            o.password = getenv(argv[i + 1]);
        } else if (strcmp(argv[i], "--attempts") == 0) {
            o.max_attempts = atoi(argv[i + 1]);
        } else if (strcmp(argv[i], "--backoff-ms") == 0) {
            o.backoff_ms = atoi(argv[i + 1]);
        } else {
            fprintf(stderr, "unknown option %s\n", argv[i]);
            return 2;
        }
    }
    char err[1024];
    struct bc_registry_http *r = bc_registry_http_new(&o, err, sizeof(err));
    if (r == NULL) {
        printf("error: %s\n", err);
        return 1;
    }
    int rc = 0;
    for (; i < argc && rc == 0; i++) {
        char *step = strdup(argv[i]);
        char *kind = strtok(step, ":"), *a = strtok(NULL, ":"), *b = strtok(NULL, "");
        if (strcmp(kind, "requests") == 0) {
            printf("requests %ld\n", bc_registry_http_requests(r));
        } else if (strcmp(kind, "schema") == 0 && a != NULL) {
            const char *text = bc_registry_http_schema(r, atoi(a), err, sizeof(err));
            rc = text == NULL;
            if (text != NULL) {
                printf("schema %s\n", text);
            }
        } else if ((strcmp(kind, "register") == 0 || strcmp(kind, "check") == 0) && b != NULL) {
            char *text = slurp(b);
            int v = 0;
            if (text == NULL) {
                snprintf(err, sizeof(err), "cannot read %s", b);
                rc = 1;
            } else if (kind[0] == 'r') {
                rc = bc_registry_http_register(r, a, text, &v, err, sizeof(err)) != 0;
                if (rc == 0) {
                    printf("id %d\n", v);
                }
            } else {
                rc = bc_registry_http_check(r, a, text, &v, err, sizeof(err)) != 0;
                if (rc == 0) {
                    printf("compatible %d\n", v);
                }
            }
            free(text);
        } else {
            snprintf(err, sizeof(err), "bad step %s", argv[i]);
            rc = 1;
        }
        if (rc != 0) {
            printf("error: %s\n", err);
        }
        fflush(stdout);
        free(step);
    }
    bc_registry_http_free(r);
    return rc;
}
