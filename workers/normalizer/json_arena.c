/*
 * json_arena: jansson's parse trees in a reusable bump region (json_arena.h).
 */
#include "json_arena.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>

#include <jansson.h>

/* Address space reserved once (MAP_NORESERVE: pages are backed only when touched). The
 * largest raw record (max_payload_bytes, 1 MiB by default) parses into far less. */
#define REGION_SIZE ((size_t)1 << 30)
/* After a record that touched more than this, the pages beyond it go back to the system. */
#define REGION_KEEP ((size_t)64 << 20)
#define ALIGN 16

/* Written once by json_arena_install() before jansson can call the functions below. */
static char *region;

/* Per thread: bump offset, high-water mark since the last trim, whether allocating from the
 * region, and whether an allocation had to go to malloc since begin. */
static _Thread_local size_t used;
static _Thread_local size_t touched;
static _Thread_local int active;
static _Thread_local int spilled;

static void *arena_malloc(size_t size)
{
    if (active) {
        size_t at = (used + (ALIGN - 1)) & ~(size_t)(ALIGN - 1);
        if (size <= REGION_SIZE - at) {
            used = at + size;
            return region + at;
        }
        spilled = 1;
    }
    return malloc(size);
}

static void arena_free(void *p)
{
    if ((char *)p >= region && (char *)p < region + REGION_SIZE) {
        return; /* reclaimed by the next json_arena_begin() */
    }
    free(p);
}

int json_arena_install(void)
{
    if (region != NULL) {
        return 0;
    }
    void *r = mmap(NULL, REGION_SIZE, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (r == MAP_FAILED) {
        return -1;
    }
    region = r;
    json_set_alloc_funcs(arena_malloc, arena_free);
    return 0;
}

void json_arena_begin(void)
{
    if (region == NULL) {
        return;
    }
    if (used > touched) {
        touched = used;
    }
    if (touched > REGION_KEEP) {
        madvise(region + REGION_KEEP, touched - REGION_KEEP, MADV_DONTNEED);
        touched = REGION_KEEP;
    }
    used = 0;
    spilled = 0;
    active = 1;
}

int json_arena_end(void)
{
    int all_in_region = active && !spilled;
    active = 0;
    return all_in_region;
}
