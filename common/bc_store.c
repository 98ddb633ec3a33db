/*
 * State stores: per-partition chained hash tables (XXH3 hashes) with a min-heap on entry
 * timestamps per partition, for stream-time expiry and oldest-first eviction. See
 * bc_store.h for accounting, the full policy and write-back.
 *
 * An entry is one allocation with room for its key and value, rounded up to a size class
 * (16-byte steps up to 64, then quarter steps between powers of two); a put that replaces
 * a value rewrites it in place when it fits, so a key updated many times (a lineage record
 * gaining hops, a trace's span set) rarely allocates. Removed entries wait in per-class
 * free lists (up to FREE_MAX_BYTES over all classes) for the next entry of their class: a
 * full store that evicts one entry per put does not go through malloc for each. An entry's
 * room is not stored: it is the class room of its key and value (a replacement of another
 * class moves to an entry of that class). The room is not accounted: the bound counts key
 * and value bytes plus BC_STORE_ENTRY_OVERHEAD, whatever the allocation.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "bc_store.h"

struct entry {
    struct entry *next; /* bucket chain */
    uint64_t hash;
    int64_t ts;
    size_t heap_index; /* position in the partition's heap; invariant: heap[i]->heap_index == i */
    size_t dirty_index; /* position in the store's dirty list; NO_DIRTY: not changed since the
                         * last bc_store_flush (write-back only) */
    size_t key_len, value_len;
    unsigned char data[]; /* key bytes, then value bytes; room_class(key_len + value_len) */
};

struct table {
    struct entry **buckets; /* NULL until the first put; bucket_count is a power of two */
    size_t bucket_count;
    size_t count;
    struct entry **heap; /* min-heap on ts, count entries */
    size_t heap_cap;
};

#define NO_DIRTY SIZE_MAX

/* Size classes of an entry's room: steps of 16 bytes up to 64 (a deduplicator entry's 28
 * bytes take 32, what malloc's granularity gave them anyway), then four per power of two
 * (80, 96, 112, 128, 160, ...) up to 64 KiB; larger entries are allocated exactly and
 * never kept when freed. */
#define ROOM_SMALL 64
#define ROOM_CLASSES (4 + 10 * 4)
#define FREE_MAX_BYTES ((size_t)1 << 20)

/* Write-back: an entry changed since the last flush, or a key removed since then. */
struct dirty {
    int32_t partition;
    struct entry *e;
};
struct tomb {
    int32_t partition;
    int64_t ts;
    size_t key, key_len; /* key bytes at tomb_keys + key */
};

struct bc_store {
    char *name;
    char *changelog;
    struct bc_store_opts opts;
    bc_store_log_fn log;
    void *log_opaque;
    struct table *tables; /* indexed by partition, table_count long */
    size_t table_count;
    struct bc_store_stats stats;
    /* Write-back (bc_store_set_write_back): changes wait here until bc_store_flush. */
    void (*dirty_fn)(void *opaque);
    struct dirty *dirty;
    size_t dirty_count, dirty_cap;
    struct tomb *tombs;
    size_t tomb_count, tomb_cap;
    unsigned char *tomb_keys;
    size_t tomb_keys_len, tomb_keys_cap;
    int oom; /* a change could not be kept for the flush: it fails */
    struct entry *free_list[ROOM_CLASSES]; /* removed entries by room class, via next */
    size_t free_bytes;
};

/* The class of an entry that needs need bytes of room, and that class's room; -1 with room
 * = need when the entry is too large for the classes. */
static int room_class(size_t need, size_t *room)
{
    if (need <= ROOM_SMALL) {
        *room = need <= 16 ? 16 : (need + 15) / 16 * 16;
        return (int)(*room / 16) - 1;
    }
    int k = 63 - __builtin_clzll((unsigned long long)(need - 1)); /* 2^k < need <= 2^(k+1) */
    size_t step = (size_t)1 << (k - 2);
    size_t steps = (need + step - 1) / step; /* 5..8 */
    int c = 4 + (k - 6) * 4 + (int)(steps - 5);
    if (c >= ROOM_CLASSES) {
        *room = need;
        return -1;
    }
    *room = steps * step;
    return c;
}

/* An entry with room for need bytes: from the free list of its class, else malloc. */
static struct entry *entry_alloc(struct bc_store *store, size_t need)
{
    size_t room;
    int c = room_class(need, &room);
    if (c >= 0 && store->free_list[c] != NULL) {
        struct entry *e = store->free_list[c];
        store->free_list[c] = e->next;
        store->free_bytes -= room;
        return e;
    }
    return malloc(sizeof(struct entry) + room);
}

/* Keeps e for the next entry of its class, or frees it. */
static void entry_free(struct bc_store *store, struct entry *e)
{
    size_t room;
    int c = room_class(e->key_len + e->value_len, &room);
    if (c < 0 || store->free_bytes + room > FREE_MAX_BYTES) {
        free(e);
        return;
    }
    e->next = store->free_list[c];
    store->free_list[c] = e;
    store->free_bytes += room;
}

/* ---- write-back ---------------------------------------------------------------------- */

static void dirty_unlink(struct bc_store *store, struct entry *e)
{
    if (e->dirty_index == NO_DIRTY) {
        return;
    }
    size_t i = e->dirty_index;
    store->dirty[i] = store->dirty[--store->dirty_count];
    store->dirty[i].e->dirty_index = i;
    e->dirty_index = NO_DIRTY;
}

static void dirty_mark(struct bc_store *store, int32_t partition, struct entry *e)
{
    if (e->dirty_index != NO_DIRTY) {
        return;
    }
    if (store->dirty_count == store->dirty_cap) {
        size_t cap = store->dirty_cap ? store->dirty_cap * 2 : 256;
        struct dirty *d = realloc(store->dirty, cap * sizeof(*d));
        if (d == NULL) {
            store->oom = 1;
            return;
        }
        store->dirty = d;
        store->dirty_cap = cap;
    }
    e->dirty_index = store->dirty_count;
    store->dirty[store->dirty_count++] = (struct dirty){.partition = partition, .e = e};
}

static void tomb_add(struct bc_store *store, int32_t partition, const void *key,
                     size_t key_len, int64_t ts)
{
    if (store->tomb_count == store->tomb_cap) {
        size_t cap = store->tomb_cap ? store->tomb_cap * 2 : 64;
        struct tomb *t = realloc(store->tombs, cap * sizeof(*t));
        if (t == NULL) {
            store->oom = 1;
            return;
        }
        store->tombs = t;
        store->tomb_cap = cap;
    }
    if (store->tomb_keys_len + key_len > store->tomb_keys_cap) {
        size_t cap = store->tomb_keys_cap ? store->tomb_keys_cap : 4096;
        while (cap < store->tomb_keys_len + key_len) {
            cap *= 2;
        }
        unsigned char *k = realloc(store->tomb_keys, cap);
        if (k == NULL) {
            store->oom = 1;
            return;
        }
        store->tomb_keys = k;
        store->tomb_keys_cap = cap;
    }
    memcpy(store->tomb_keys + store->tomb_keys_len, key, key_len);
    store->tombs[store->tomb_count++] = (struct tomb){
        .partition = partition, .ts = ts, .key = store->tomb_keys_len, .key_len = key_len};
    store->tomb_keys_len += key_len;
}

static size_t entry_cost(size_t key_len, size_t value_len)
{
    return key_len + value_len + BC_STORE_ENTRY_OVERHEAD;
}

static struct table *table_get(const struct bc_store *store, int32_t partition)
{
    if (partition < 0 || (size_t)partition >= store->table_count) {
        return NULL;
    }
    return &store->tables[partition];
}

static struct table *table_ensure(struct bc_store *store, int32_t partition)
{
    if (partition < 0) {
        return NULL;
    }
    if ((size_t)partition >= store->table_count) {
        size_t n = (size_t)partition + 1;
        struct table *tables = realloc(store->tables, n * sizeof(*tables));
        if (tables == NULL) {
            return NULL;
        }
        memset(tables + store->table_count, 0, (n - store->table_count) * sizeof(*tables));
        store->tables = tables;
        store->table_count = n;
    }
    return &store->tables[partition];
}

/* ---- heap ---------------------------------------------------------------------------- */

/* The sifts move the entries on the path and write the sifted one once at its place: the
 * same arrangement as swapping step by step (so the same eviction order and foreach
 * order), fewer writes. */
static void heap_up(struct table *t, size_t i)
{
    struct entry *e = t->heap[i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (t->heap[parent]->ts <= e->ts) {
            break;
        }
        t->heap[i] = t->heap[parent];
        t->heap[i]->heap_index = i;
        i = parent;
    }
    t->heap[i] = e;
    e->heap_index = i;
}

static void heap_down(struct table *t, size_t i)
{
    struct entry *e = t->heap[i];
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        int64_t m_ts = e->ts;
        if (l < t->count && t->heap[l]->ts < m_ts) {
            m = l;
            m_ts = t->heap[l]->ts;
        }
        if (r < t->count && t->heap[r]->ts < m_ts) {
            m = r;
        }
        if (m == i) {
            break;
        }
        t->heap[i] = t->heap[m];
        t->heap[i]->heap_index = i;
        i = m;
    }
    t->heap[i] = e;
    e->heap_index = i;
}

/* Moves slot i (whose ts changed, or which was just filled) to its place. */
static void heap_fix(struct table *t, size_t i)
{
    struct entry *e = t->heap[i];
    heap_down(t, i);
    if (e->heap_index == i) { /* not moved down: maybe up */
        heap_up(t, i);
    }
}

/* Removes heap slot i; t->count must still include the entry being removed. */
static void heap_remove(struct table *t, size_t i)
{
    size_t last = t->count - 1;
    if (i != last) {
        t->heap[i] = t->heap[last];
        t->heap[i]->heap_index = i;
    }
    t->count--;
    if (i < t->count) {
        heap_fix(t, i);
    }
}

/* ---- table --------------------------------------------------------------------------- */

static int table_grow(struct table *t)
{
    size_t n = t->bucket_count ? t->bucket_count * 2 : 64;
    struct entry **buckets = calloc(n, sizeof(*buckets));
    if (buckets == NULL) {
        return -1;
    }
    for (size_t i = 0; i < t->bucket_count; i++) {
        struct entry *e = t->buckets[i];
        while (e != NULL) {
            struct entry *next = e->next;
            size_t b = e->hash & (n - 1);
            e->next = buckets[b];
            buckets[b] = e;
            e = next;
        }
    }
    free(t->buckets);
    t->buckets = buckets;
    t->bucket_count = n;
    return 0;
}

static struct entry **table_find(const struct table *t, uint64_t hash, const void *key,
                                 size_t key_len)
{
    if (t == NULL || t->bucket_count == 0) {
        return NULL;
    }
    struct entry **link = &t->buckets[hash & (t->bucket_count - 1)];
    for (; *link != NULL; link = &(*link)->next) {
        struct entry *e = *link;
        if (e->hash == hash && e->key_len == key_len && memcmp(e->data, key, key_len) == 0) {
            return link;
        }
    }
    return NULL;
}

/* The link that points at e (e is in t). */
static struct entry **table_link(const struct table *t, const struct entry *e)
{
    struct entry **link = &t->buckets[e->hash & (t->bucket_count - 1)];
    while (*link != e) {
        link = &(*link)->next;
    }
    return link;
}

/* Unlinks and frees the entry at *link; accounts the bytes. */
static void table_remove(struct bc_store *store, struct table *t, struct entry **link)
{
    struct entry *e = *link;
    *link = e->next;
    dirty_unlink(store, e);
    heap_remove(t, e->heap_index);
    store->stats.entries--;
    store->stats.bytes -= entry_cost(e->key_len, e->value_len);
    entry_free(store, e);
}

/* Logs a change now, or with write-back a removal (value NULL) for the next flush; a
 * value is kept as its entry's dirty mark by the caller (log_put). */
static int log_change(struct bc_store *store, int32_t partition, const void *key,
                      size_t key_len, const void *value, size_t value_len, int64_t ts)
{
    if (store->log == NULL) {
        return 0;
    }
    if (store->dirty_fn != NULL && value == NULL) {
        tomb_add(store, partition, key, key_len, ts);
        store->dirty_fn(store->log_opaque);
        return 0;
    }
    return store->log(store->log_opaque, store, partition, key, key_len, value, value_len, ts);
}

/* Logs the entry just put (or marks it dirty with write-back). */
static void log_put(struct bc_store *store, int32_t partition, struct entry *e)
{
    if (store->log == NULL) {
        return;
    }
    if (store->dirty_fn == NULL) {
        store->log(store->log_opaque, store, partition, e->data, e->key_len,
                   e->data + e->key_len, e->value_len, e->ts);
        return;
    }
    dirty_mark(store, partition, e);
    store->dirty_fn(store->log_opaque);
}

/* Inserts or replaces without logging or bounds; link is table_find's answer for the key
 * (hash) in the partition's table, NULL when it is not there. Returns the entry, or NULL
 * (OOM: nothing changed). */
static struct entry *table_set(struct bc_store *store, int32_t partition, uint64_t hash,
                               struct entry **link, const void *key, size_t key_len,
                               const void *value, size_t value_len, int64_t ts)
{
    struct table *t = table_ensure(store, partition);
    if (t == NULL) {
        return NULL;
    }
    size_t need = key_len + value_len;
    if (link != NULL) {
        /* Replace: the same chain position, heap slot and dirty mark, then reorder the heap.
         * value may point into the entry (a put of what get returned). */
        struct entry *e = *link;
        store->stats.bytes -= entry_cost(e->key_len, e->value_len);
        size_t old_room, room;
        room_class(e->key_len + e->value_len, &old_room);
        room_class(need, &room);
        if (room != old_room) {
            struct entry *moved = entry_alloc(store, need);
            if (moved == NULL) {
                store->stats.bytes += entry_cost(e->key_len, e->value_len);
                return NULL;
            }
            *moved = *e;
            memcpy(moved->data, e->data, key_len);
            memcpy(moved->data + key_len, value, value_len);
            if (moved->dirty_index != NO_DIRTY) {
                store->dirty[moved->dirty_index].e = moved;
            }
            *link = moved;
            t->heap[moved->heap_index] = moved;
            entry_free(store, e);
            e = moved;
        } else if (value_len > 0) {
            memmove(e->data + key_len, value, value_len);
        }
        e->value_len = value_len;
        e->ts = ts;
        store->stats.bytes += entry_cost(key_len, value_len);
        heap_fix(t, e->heap_index);
        return e;
    }
    if (t->count + 1 > t->bucket_count && table_grow(t) != 0) {
        return NULL;
    }
    if (t->count + 1 > t->heap_cap) {
        size_t cap = t->heap_cap ? t->heap_cap * 2 : 64;
        struct entry **heap = realloc(t->heap, cap * sizeof(*heap));
        if (heap == NULL) {
            return NULL;
        }
        t->heap = heap;
        t->heap_cap = cap;
    }
    struct entry *e = entry_alloc(store, need);
    if (e == NULL) {
        return NULL;
    }
    e->hash = hash;
    e->ts = ts;
    e->dirty_index = NO_DIRTY;
    e->key_len = key_len;
    e->value_len = value_len;
    memcpy(e->data, key, key_len);
    if (value_len > 0) {
        memcpy(e->data + key_len, value, value_len);
    }
    size_t b = hash & (t->bucket_count - 1);
    e->next = t->buckets[b];
    t->buckets[b] = e;
    e->heap_index = t->count;
    t->heap[t->count++] = e;
    heap_up(t, e->heap_index);
    store->stats.entries++;
    store->stats.bytes += entry_cost(key_len, value_len);
    return e;
}

/* Evicts the oldest entry over all partitions; returns 0, or -1 when the store is empty. */
static int evict_oldest(struct bc_store *store)
{
    struct table *oldest = NULL;
    int32_t partition = -1;
    for (size_t i = 0; i < store->table_count; i++) {
        struct table *t = &store->tables[i];
        if (t->count > 0 && (oldest == NULL || t->heap[0]->ts < oldest->heap[0]->ts)) {
            oldest = t;
            partition = (int32_t)i;
        }
    }
    if (oldest == NULL) {
        return -1;
    }
    struct entry *e = oldest->heap[0];
    log_change(store, partition, e->data, e->key_len, NULL, 0, e->ts);
    table_remove(store, oldest, table_link(oldest, e));
    store->stats.evicted++;
    return 0;
}

/* ---- public -------------------------------------------------------------------------- */

struct bc_store *bc_store_new(const char *name, const char *changelog,
                              const struct bc_store_opts *opts, bc_store_log_fn log,
                              void *log_opaque, char *errstr, size_t errstr_size)
{
    struct bc_store *store = calloc(1, sizeof(*store));
    if (store == NULL) {
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    store->name = strdup(name);
    store->changelog = strdup(changelog != NULL ? changelog : "");
    if (store->name == NULL || store->changelog == NULL) {
        snprintf(errstr, errstr_size, "out of memory");
        bc_store_destroy(store);
        return NULL;
    }
    if (opts != NULL) {
        store->opts = *opts;
    }
    if (store->opts.max_bytes == 0) {
        store->opts.max_bytes = BC_STORE_DEFAULT_MAX_BYTES;
    }
    if (store->opts.ttl_ms < 0) {
        snprintf(errstr, errstr_size, "store %s: ttl_ms must be >= 0", name);
        bc_store_destroy(store);
        return NULL;
    }
    store->stats.max_bytes = store->opts.max_bytes;
    store->log = log;
    store->log_opaque = log_opaque;
    return store;
}

void bc_store_drop_partition(struct bc_store *store, int32_t partition)
{
    struct table *t = table_get(store, partition);
    if (t == NULL) {
        return;
    }
    for (size_t i = 0; i < t->count; i++) {
        struct entry *e = t->heap[i];
        dirty_unlink(store, e);
        store->stats.entries--;
        store->stats.bytes -= entry_cost(e->key_len, e->value_len);
        entry_free(store, e);
    }
    free(t->buckets);
    free(t->heap);
    memset(t, 0, sizeof(*t));
    size_t kept = 0;
    for (size_t i = 0; i < store->tomb_count; i++) {
        if (store->tombs[i].partition != partition) {
            store->tombs[kept++] = store->tombs[i];
        }
    }
    store->tomb_count = kept;
    if (kept == 0) {
        store->tomb_keys_len = 0;
        store->oom = 0;
    }
}

void bc_store_destroy(struct bc_store *store)
{
    if (store == NULL) {
        return;
    }
    for (size_t i = 0; i < store->table_count; i++) {
        bc_store_drop_partition(store, (int32_t)i);
    }
    for (int c = 0; c < ROOM_CLASSES; c++) {
        while (store->free_list[c] != NULL) {
            struct entry *e = store->free_list[c];
            store->free_list[c] = e->next;
            free(e);
        }
    }
    free(store->tables);
    free(store->dirty);
    free(store->tombs);
    free(store->tomb_keys);
    free(store->name);
    free(store->changelog);
    free(store);
}

void bc_store_set_write_back(struct bc_store *store, void (*dirty_fn)(void *opaque))
{
    store->dirty_fn = dirty_fn;
}

int bc_store_flush(struct bc_store *store)
{
    int rc = store->oom ? -1 : 0;
    for (size_t i = 0; i < store->tomb_count; i++) {
        const struct tomb *t = &store->tombs[i];
        if (store->log(store->log_opaque, store, t->partition, store->tomb_keys + t->key,
                       t->key_len, NULL, 0, t->ts) != 0) {
            rc = -1;
        }
    }
    for (size_t i = 0; i < store->dirty_count; i++) {
        struct entry *e = store->dirty[i].e;
        e->dirty_index = NO_DIRTY;
        if (store->log(store->log_opaque, store, store->dirty[i].partition, e->data,
                       e->key_len, e->data + e->key_len, e->value_len, e->ts) != 0) {
            rc = -1;
        }
    }
    store->tomb_count = 0;
    store->tomb_keys_len = 0;
    store->dirty_count = 0;
    store->oom = 0;
    return rc;
}

const char *bc_store_name(const struct bc_store *store)
{
    return store->name;
}

const char *bc_store_changelog(const struct bc_store *store)
{
    return store->changelog;
}

int bc_store_get(const struct bc_store *store, int32_t partition, const void *key,
                 size_t key_len, const void **value, size_t *value_len, int64_t *ts)
{
    const struct table *t = table_get(store, partition);
    struct entry **link = table_find(t, XXH3_64bits(key, key_len), key, key_len);
    if (link == NULL) {
        return 0;
    }
    struct entry *e = *link;
    if (value != NULL) {
        *value = e->data + e->key_len;
    }
    if (value_len != NULL) {
        *value_len = e->value_len;
    }
    if (ts != NULL) {
        *ts = e->ts;
    }
    return 1;
}

int bc_store_put(struct bc_store *store, int32_t partition, const void *key, size_t key_len,
                 const void *value, size_t value_len, int64_t ts)
{
    size_t cost = entry_cost(key_len, value_len);
    if (cost > store->opts.max_bytes || partition < 0) {
        store->stats.rejected++;
        return -1;
    }
    /* What the put adds, net of the entry it replaces. */
    size_t old_cost = 0;
    uint64_t hash = XXH3_64bits(key, key_len);
    struct table *t = table_get(store, partition);
    struct entry **link = table_find(t, hash, key, key_len);
    if (link != NULL) {
        old_cost = entry_cost((*link)->key_len, (*link)->value_len);
    }
    while (store->stats.bytes - old_cost + cost > store->opts.max_bytes) {
        if (store->opts.full_policy == BC_STORE_REJECT) {
            store->stats.rejected++;
            return -1;
        }
        if (link != NULL) {
            /* Do not evict the entry being replaced: drop it first, then insert anew. */
            log_change(store, partition, key, key_len, NULL, 0, ts);
            table_remove(store, t, link);
            link = NULL;
            old_cost = 0;
            continue;
        }
        if (evict_oldest(store) != 0) {
            break;
        }
    }
    /* link is still right: nothing was removed while it was set (an eviction only happens
     * with link NULL, and may unlink the entry a NULL-found key would follow). */
    struct entry *e = table_set(store, partition, hash, link, key, key_len, value, value_len, ts);
    if (e == NULL) {
        store->stats.rejected++;
        return -1;
    }
    store->stats.puts++;
    log_put(store, partition, e);
    return 0;
}

int bc_store_delete(struct bc_store *store, int32_t partition, const void *key,
                    size_t key_len)
{
    struct table *t = table_get(store, partition);
    struct entry **link = table_find(t, XXH3_64bits(key, key_len), key, key_len);
    if (link == NULL) {
        return 0;
    }
    int64_t ts = (*link)->ts;
    table_remove(store, t, link);
    store->stats.deletes++;
    log_change(store, partition, key, key_len, NULL, 0, ts);
    return 1;
}

int bc_store_foreach(const struct bc_store *store, int32_t partition, bc_store_visit_fn fn,
                     void *opaque)
{
    const struct table *t = table_get(store, partition);
    if (t == NULL) {
        return 0;
    }
    for (size_t i = 0; i < t->count; i++) {
        const struct entry *e = t->heap[i];
        int rc = fn(opaque, e->data, e->key_len, e->data + e->key_len, e->value_len, e->ts);
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

void bc_store_stats(const struct bc_store *store, struct bc_store_stats *stats)
{
    *stats = store->stats;
}

int bc_store_restore_record(struct bc_store *store, int32_t partition, const void *key,
                            size_t key_len, const void *value, size_t value_len, int64_t ts)
{
    uint64_t hash = XXH3_64bits(key, key_len);
    struct table *t = table_get(store, partition);
    struct entry **link = table_find(t, hash, key, key_len);
    if (value == NULL) {
        if (link != NULL) {
            table_remove(store, t, link);
        }
        return 0;
    }
    if (table_set(store, partition, hash, link, key, key_len, value, value_len, ts) == NULL) {
        return -1;
    }
    store->stats.restored++;
    return 0;
}

size_t bc_store_expire(struct bc_store *store, int32_t partition, int64_t stream_time)
{
    struct table *t = table_get(store, partition);
    if (t == NULL || store->opts.ttl_ms <= 0 || stream_time < 0) {
        return 0;
    }
    size_t expired = 0;
    int64_t horizon = stream_time - store->opts.ttl_ms;
    while (t->count > 0 && t->heap[0]->ts < horizon) {
        struct entry *e = t->heap[0];
        log_change(store, partition, e->data, e->key_len, NULL, 0, e->ts);
        table_remove(store, t, table_link(t, e));
        expired++;
    }
    store->stats.expired += expired;
    return expired;
}

int64_t bc_store_max_ts(const struct bc_store *store, int32_t partition)
{
    const struct table *t = table_get(store, partition);
    int64_t max = -1;
    if (t == NULL) {
        return max;
    }
    for (size_t i = 0; i < t->count; i++) {
        if (t->heap[i]->ts > max) {
            max = t->heap[i]->ts;
        }
    }
    return max;
}
