/* The trace buffer of the tail-sampler (see buffer.h). */
#include "buffer.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

/* One buffered record (buffer.h), its value following. */
struct ts_node {
    struct ts_node *next;
    int64_t offset;
    int64_t timestamp_ms;
    uint32_t len;
    uint32_t flags;
};
_Static_assert(sizeof(struct ts_node) == TS_RECORD_HEADER, "TS_RECORD_HEADER is the node");

struct ts_part {
    int32_t id;
    struct bc_clock clock;
    int64_t now_ms; /* event time now, from clock (buffer.h) */
    int64_t last_wall;
    struct ts_trace **table; /* chained hash table, table_cap a power of two (or 0) */
    size_t table_cap, count;
    const struct ts_buffer *buf;
    struct ts_trace **heap; /* min-heap on (due_ms, seq) */
    size_t heap_n, heap_cap;
    struct ts_trace *head, *tail; /* FIFO by first_offset */
    size_t bytes;                 /* this partition's share of the buffer's bytes */
    size_t records;
};

struct ts_buffer {
    const struct ts_policies *policies;
    int64_t wait_ms, lateness_ms, max_skew_ms;
    uint32_t expected; /* source slots expected (bit i: slot i), seen or not */
    size_t trace_size; /* struct ts_trace with its accumulator, rounded to 8 */
    struct ts_part **parts; /* by partition id; NULL where not owned */
    size_t n_parts;
    size_t bytes, traces, records;
    uint64_t seq;
};

static size_t align8(size_t n)
{
    return (n + 7) & ~(size_t)7;
}

struct ts_buffer *ts_buffer_new(const struct ts_policies *policies, int64_t decision_wait_ms,
                                int64_t allowed_lateness_ms)
{
    struct ts_buffer *buf = calloc(1, sizeof(*buf));
    if (buf == NULL) {
        return NULL;
    }
    buf->policies = policies;
    buf->wait_ms = decision_wait_ms;
    buf->lateness_ms = allowed_lateness_ms;
    buf->trace_size = align8(offsetof(struct ts_trace, acc) + ts_acc_size(policies));
    return buf;
}

static void nodes_free(struct ts_trace *t)
{
    for (struct ts_node *n = t->first, *next; n != NULL; n = next) {
        next = n->next;
        free(n);
    }
}

static void part_free(struct ts_buffer *buf, struct ts_part *part)
{
    if (part == NULL) {
        return;
    }
    for (struct ts_trace *t = part->head, *next; t != NULL; t = next) {
        next = t->next;
        nodes_free(t);
        free(t);
    }
    buf->traces -= part->count;
    buf->records -= part->records;
    buf->bytes -= part->bytes;
    free(part->table);
    free(part->heap);
    free(part);
}

void ts_buffer_destroy(struct ts_buffer *buf)
{
    if (buf == NULL) {
        return;
    }
    for (size_t i = 0; i < buf->n_parts; i++) {
        part_free(buf, buf->parts[i]);
    }
    free(buf->parts);
    free(buf);
}

size_t ts_buffer_bytes(const struct ts_buffer *buf)
{
    return buf->bytes;
}

size_t ts_buffer_traces(const struct ts_buffer *buf)
{
    return buf->traces;
}

size_t ts_buffer_records(const struct ts_buffer *buf)
{
    return buf->records;
}

struct ts_part *ts_buffer_part(struct ts_buffer *buf, int32_t partition, int create)
{
    if (partition < 0) {
        return NULL;
    }
    if ((size_t)partition >= buf->n_parts) {
        if (!create) {
            return NULL;
        }
        size_t n = (size_t)partition + 1;
        struct ts_part **parts = realloc(buf->parts, n * sizeof(*parts));
        if (parts == NULL) {
            return NULL;
        }
        memset(parts + buf->n_parts, 0, (n - buf->n_parts) * sizeof(*parts));
        buf->parts = parts;
        buf->n_parts = n;
    }
    if (buf->parts[partition] == NULL && create) {
        struct ts_part *part = calloc(1, sizeof(*part));
        if (part == NULL) {
            return NULL;
        }
        part->id = partition;
        bc_clock_init(&part->clock);
        part->now_ms = -1;
        part->buf = buf;
        buf->parts[partition] = part;
    }
    return buf->parts[partition];
}

void ts_buffer_drop_part(struct ts_buffer *buf, int32_t partition)
{
    if (partition >= 0 && (size_t)partition < buf->n_parts) {
        part_free(buf, buf->parts[partition]);
        buf->parts[partition] = NULL;
    }
}

struct ts_part *ts_buffer_oldest_part(struct ts_buffer *buf)
{
    struct ts_part *best = NULL;
    for (size_t i = 0; i < buf->n_parts; i++) {
        struct ts_part *p = buf->parts[i];
        if (p != NULL && p->head != NULL && (best == NULL || p->head->seq < best->head->seq)) {
            best = p;
        }
    }
    return best;
}

int32_t ts_part_id(const struct ts_part *part)
{
    return part->id;
}

void ts_buffer_set_max_skew(struct ts_buffer *buf, int64_t max_skew_ms)
{
    buf->max_skew_ms = max_skew_ms;
}

static void clock_update(struct ts_part *part);

void ts_buffer_expect_source(struct ts_buffer *buf, int slot)
{
    if (slot < 0 || slot >= BC_CLOCK_SOURCES || (buf->expected & (1u << slot))) {
        return;
    }
    buf->expected |= 1u << slot;
    for (size_t i = 0; i < buf->n_parts; i++) {
        if (buf->parts[i] != NULL) {
            clock_update(buf->parts[i]);
        }
    }
}

int64_t ts_part_max_event(const struct ts_part *part)
{
    return part->clock.max;
}

int64_t ts_part_now(const struct ts_part *part)
{
    return part->now_ms;
}

const struct bc_clock *ts_part_clock(const struct ts_part *part)
{
    return &part->clock;
}

static void clock_update(struct ts_part *part)
{
    part->now_ms = bc_clock_now(&part->clock, part->buf->max_skew_ms, part->buf->expected);
}

void ts_part_observe_source(struct ts_part *part, int64_t event_ms, int slot)
{
    if (bc_clock_observe(&part->clock, event_ms, slot)) {
        clock_update(part);
    }
}

void ts_part_observe(struct ts_part *part, int64_t event_ms)
{
    ts_part_observe_source(part, event_ms, -1);
}

void ts_part_restore(struct ts_part *part, const struct bc_clock *c)
{
    bc_clock_merge(&part->clock, c);
    clock_update(part);
}

int64_t ts_part_last_wall(const struct ts_part *part)
{
    return part->last_wall;
}

void ts_part_set_last_wall(struct ts_part *part, int64_t wall_ms)
{
    part->last_wall = wall_ms;
}

size_t ts_part_traces(const struct ts_part *part)
{
    return part->count;
}

static size_t slot_of(const uint8_t id[16], size_t cap)
{
    return (size_t)(XXH3_64bits(id, 16) & (cap - 1));
}

struct ts_trace *ts_part_find(const struct ts_part *part, const uint8_t id[16])
{
    if (part->table_cap == 0) {
        return NULL;
    }
    for (struct ts_trace *t = part->table[slot_of(id, part->table_cap)]; t != NULL;
         t = t->chain) {
        if (memcmp(t->id, id, 16) == 0) {
            return t;
        }
    }
    return NULL;
}

struct ts_trace *ts_part_oldest(const struct ts_part *part)
{
    return part->head;
}

struct ts_trace *ts_part_due(const struct ts_part *part)
{
    return ts_part_due_by(part, part->now_ms);
}

struct ts_trace *ts_part_due_by(const struct ts_part *part, int64_t event_ms)
{
    if (part->heap_n > 0 && part->heap[0]->due_ms <= event_ms) {
        return part->heap[0];
    }
    return NULL;
}

int64_t ts_part_hold(const struct ts_part *part)
{
    return part->head != NULL ? part->head->first_offset : -1;
}

/* ---- heap ------------------------------------------------------------------------------ */

static int before(const struct ts_trace *a, const struct ts_trace *b)
{
    return a->due_ms < b->due_ms || (a->due_ms == b->due_ms && a->seq < b->seq);
}

static void heap_set(struct ts_part *part, size_t i, struct ts_trace *t)
{
    part->heap[i] = t;
    t->heap_idx = (uint32_t)i;
}

static void heap_fix(struct ts_part *part, size_t i)
{
    struct ts_trace *t = part->heap[i];
    while (i > 0 && before(t, part->heap[(i - 1) / 2])) {
        heap_set(part, i, part->heap[(i - 1) / 2]);
        i = (i - 1) / 2;
    }
    for (;;) {
        size_t l = 2 * i + 1, best = i;
        struct ts_trace *bt = t;
        if (l < part->heap_n && before(part->heap[l], bt)) {
            best = l;
            bt = part->heap[l];
        }
        if (l + 1 < part->heap_n && before(part->heap[l + 1], bt)) {
            best = l + 1;
            bt = part->heap[l + 1];
        }
        if (best == i) {
            break;
        }
        heap_set(part, i, bt);
        i = best;
    }
    heap_set(part, i, t);
}

/* ---- adding and removing ---------------------------------------------------------------- */

/* Bytes a record of len bytes takes: its malloc chunk (header and value plus glibc's 8-byte
 * size field, rounded up to 16, at least 32). */
static size_t record_size(size_t len)
{
    size_t n = (TS_RECORD_HEADER + len + 8 + 15) & ~(size_t)15;
    return n < 32 ? 32 : n;
}

static size_t table_cost(const struct ts_part *part)
{
    if (part->table_cap == 0) {
        return 16 * sizeof(struct ts_trace *);
    }
    if ((part->count + 1) * 4 > part->table_cap * 3) {
        return part->table_cap * sizeof(struct ts_trace *); /* doubles */
    }
    return 0;
}

static size_t heap_cost(const struct ts_part *part)
{
    if (part->heap_n < part->heap_cap) {
        return 0;
    }
    size_t cap = part->heap_cap == 0 ? 16 : part->heap_cap * 2;
    return (cap - part->heap_cap) * sizeof(struct ts_trace *);
}

size_t ts_buffer_add_cost(const struct ts_buffer *buf, const struct ts_part *part,
                          const struct ts_trace *trace, size_t len)
{
    size_t need = record_size(len);
    if (trace == NULL) {
        return buf->trace_size + need + table_cost(part) + heap_cost(part);
    }
    return need;
}

static int table_insert(struct ts_buffer *buf, struct ts_part *part, struct ts_trace *t)
{
    if (part->table_cap == 0 || (part->count + 1) * 4 > part->table_cap * 3) {
        size_t cap = part->table_cap == 0 ? 16 : part->table_cap * 2;
        struct ts_trace **table = calloc(cap, sizeof(*table));
        if (table == NULL) {
            return -1;
        }
        for (size_t i = 0; i < part->table_cap; i++) {
            for (struct ts_trace *x = part->table[i], *next; x != NULL; x = next) {
                next = x->chain;
                size_t s = slot_of(x->id, cap);
                x->chain = table[s];
                table[s] = x;
            }
        }
        free(part->table);
        part->bytes += (cap - part->table_cap) * sizeof(*table);
        buf->bytes += (cap - part->table_cap) * sizeof(*table);
        part->table = table;
        part->table_cap = cap;
    }
    size_t s = slot_of(t->id, part->table_cap);
    t->chain = part->table[s];
    part->table[s] = t;
    return 0;
}

static void table_remove(struct ts_part *part, struct ts_trace *t)
{
    struct ts_trace **pp = &part->table[slot_of(t->id, part->table_cap)];
    while (*pp != t) {
        pp = &(*pp)->chain;
    }
    *pp = t->chain;
}

static int64_t due_of(const struct ts_buffer *buf, const struct ts_trace *t)
{
    /* Both rules read event time through the watermark (now - allowed_lateness): a span
     * allowed to arrive late is still waited for after the root has ended. */
    int64_t due = t->last_ms + buf->wait_ms + buf->lateness_ms;
    if (t->root_end_ms >= 0 && t->root_end_ms + buf->wait_ms + buf->lateness_ms < due) {
        due = t->root_end_ms + buf->wait_ms + buf->lateness_ms;
    }
    return due;
}

struct ts_trace *ts_buffer_add(struct ts_buffer *buf, struct ts_part *part, const uint8_t id[16],
                               int64_t offset, int64_t timestamp_ms, uint32_t flags,
                               const void *value, size_t len, const struct ts_span *span,
                               int64_t event_ms, int64_t root_end_ms)
{
    return ts_buffer_append(buf, part, ts_part_find(part, id), id, offset, timestamp_ms, flags,
                            value, len, span, event_ms, root_end_ms);
}

struct ts_trace *ts_buffer_append(struct ts_buffer *buf, struct ts_part *part,
                                  struct ts_trace *t, const uint8_t id[16], int64_t offset,
                                  int64_t timestamp_ms, uint32_t flags, const void *value,
                                  size_t len, const struct ts_span *span, int64_t event_ms,
                                  int64_t root_end_ms)
{
    size_t need = record_size(len);
    struct ts_node *node = malloc(TS_RECORD_HEADER + len);
    if (node == NULL) {
        return NULL;
    }
    node->next = NULL;
    node->offset = offset;
    node->timestamp_ms = timestamp_ms;
    node->len = (uint32_t)len;
    node->flags = flags;
    if (len > 0) {
        memcpy(node + 1, value, len);
    }
    size_t added = need;
    if (t == NULL) {
        if (part->heap_n == part->heap_cap) {
            size_t cap = part->heap_cap == 0 ? 16 : part->heap_cap * 2;
            struct ts_trace **heap = realloc(part->heap, cap * sizeof(*heap));
            if (heap == NULL) {
                free(node);
                return NULL;
            }
            part->bytes += (cap - part->heap_cap) * sizeof(*heap);
            buf->bytes += (cap - part->heap_cap) * sizeof(*heap);
            part->heap = heap;
            part->heap_cap = cap;
        }
        t = calloc(1, buf->trace_size);
        if (t == NULL) {
            free(node);
            return NULL;
        }
        memcpy(t->id, id, 16);
        if (table_insert(buf, part, t) != 0) {
            free(node);
            free(t);
            return NULL;
        }
        t->first_offset = offset;
        t->last_ms = event_ms;
        t->root_end_ms = -1;
        t->before = part->clock;
        t->seq = buf->seq++;
        ts_acc_init(buf->policies, &t->acc);
        t->prev = part->tail;
        if (part->tail != NULL) {
            part->tail->next = t;
        } else {
            part->head = t;
        }
        part->tail = t;
        part->count++;
        buf->traces++;
        added += buf->trace_size;
        t->due_ms = due_of(buf, t);
        heap_set(part, part->heap_n++, t);
        heap_fix(part, t->heap_idx);
        t->first = node;
    } else {
        t->last->next = node;
    }
    t->last = node;
    t->records++;
    part->records++;
    buf->records++;
    part->bytes += added;
    buf->bytes += added;
    if (span != NULL) {
        ts_acc_add(buf->policies, &t->acc, span);
    }
    if (event_ms > t->last_ms) {
        t->last_ms = event_ms;
    }
    if (root_end_ms >= 0) {
        t->root_end_ms = root_end_ms;
    }
    int64_t due = due_of(buf, t);
    if (due != t->due_ms) {
        t->due_ms = due;
        heap_fix(part, t->heap_idx);
    }
    return t;
}

int ts_trace_next(const struct ts_trace *trace, const struct ts_node **cursor,
                  struct ts_rec *rec)
{
    const struct ts_node *n = *cursor == NULL ? trace->first : (*cursor)->next;
    if (n == NULL) {
        return 0;
    }
    rec->offset = n->offset;
    rec->timestamp_ms = n->timestamp_ms;
    rec->flags = n->flags;
    rec->len = n->len;
    rec->value = n + 1;
    *cursor = n;
    return 1;
}

void ts_buffer_remove(struct ts_buffer *buf, struct ts_part *part, struct ts_trace *t)
{
    table_remove(part, t);
    size_t i = t->heap_idx;
    part->heap_n--;
    if (i < part->heap_n) {
        heap_set(part, i, part->heap[part->heap_n]);
        heap_fix(part, i);
    }
    if (t->prev != NULL) {
        t->prev->next = t->next;
    } else {
        part->head = t->next;
    }
    if (t->next != NULL) {
        t->next->prev = t->prev;
    } else {
        part->tail = t->prev;
    }
    size_t freed = buf->trace_size;
    for (struct ts_node *n = t->first, *next; n != NULL; n = next) {
        next = n->next;
        freed += record_size(n->len);
        free(n);
    }
    part->bytes -= freed;
    buf->bytes -= freed;
    part->records -= t->records;
    buf->records -= t->records;
    part->count--;
    buf->traces--;
    free(t);
}
