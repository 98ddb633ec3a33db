/*
 * json_arena: a bump allocator for jansson's parse trees, one record at a time.
 *
 * Parsing a raw record with json_loadb() makes a malloc() per node and key, and
 * json_decref() a free() for each again: a third of the normalizer's time (make bench).
 * Between json_arena_begin() and json_arena_end(), jansson allocations of the calling thread
 * come from one reserved region instead; frees of region memory are no-ops, and the region
 * is reused from its start at the next json_arena_begin(). Every other jansson allocation
 * (other threads, outside begin/end, or once the region is full) still goes to malloc() and
 * is freed with free(), so objects of either kind may be freed at any time.
 *
 * Contract: nothing allocated between begin and end may be used after the next begin (the
 * normalizer drops its parse tree before the next record).
 */
#ifndef JSON_ARENA_H
#define JSON_ARENA_H

/* Installs the allocator in jansson (json_set_alloc_funcs); the first call reserves the
 * region (address space only). Idempotent. Returns 0, or -1 when the region cannot be
 * reserved (jansson then keeps malloc/free). */
int json_arena_install(void);

/* The calling thread's jansson allocations come from the region, which starts empty again:
 * everything allocated there before is gone. A no-op without the allocator installed. */
void json_arena_begin(void);

/* Back to malloc for the calling thread. Returns 1 when every allocation since
 * json_arena_begin() came from the region (the tree then needs no json_decref()), else 0. */
int json_arena_end(void);

#endif
