/* Splicing the sampling fields into kept spans (see patch.h). */
#include "patch.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bc_avro.h" /* bc_avro_utf8_valid: accept exactly the decoder's strings */
#include "bc_event.h"

#define MAX_DEPTH 64

/* A schema node as the walk needs it (avro-c's schema with links followed). */
struct shape {
    avro_type_t type;
    size_t n;            /* record: fields; union: branches; enum: symbols; fixed: size */
    struct shape **kids; /* record fields, union branches, array items (kids[0]) */
};

struct ts_patcher {
    int32_t id; /* the schema id in the records' header */
    struct shape *root;
    struct shape **all; /* every shape, for freeing */
    avro_schema_t *of;  /* of[i]: the avro-c schema of all[i] (recursive types) */
    size_t n, cap;
    int bad;    /* a shape not handled (maps), or OOM */
    int fields; /* the fields the stage reads have the shapes ts_scan's callers expect */
};

static avro_schema_t deref(avro_schema_t s)
{
    while (avro_typeof(s) == AVRO_LINK) {
        s = avro_schema_link_target(s);
    }
    return s;
}

static struct shape *compile(struct ts_patcher *p, avro_schema_t sc)
{
    sc = deref(sc);
    for (size_t i = 0; i < p->n; i++) {
        if (p->of[i] == sc) {
            return p->all[i];
        }
    }
    if (p->n == p->cap) {
        size_t cap = p->cap == 0 ? 32 : p->cap * 2;
        struct shape **all = realloc(p->all, cap * sizeof(*all));
        if (all != NULL) {
            p->all = all;
        }
        avro_schema_t *of = realloc(p->of, cap * sizeof(*of));
        if (of != NULL) {
            p->of = of;
        }
        if (all == NULL || of == NULL) {
            p->bad = 1;
            return NULL;
        }
        p->cap = cap;
    }
    struct shape *sh = calloc(1, sizeof(*sh));
    if (sh == NULL) {
        p->bad = 1;
        return NULL;
    }
    p->all[p->n] = sh;
    p->of[p->n] = sc;
    p->n++;
    sh->type = avro_typeof(sc);
    switch (sh->type) {
    case AVRO_RECORD:
        sh->n = avro_schema_record_size(sc);
        break;
    case AVRO_UNION:
        sh->n = avro_schema_union_size(sc);
        break;
    case AVRO_ARRAY:
        sh->n = 1;
        break;
    case AVRO_ENUM:
        sh->n = (size_t)avro_schema_enum_number_of_symbols(sc);
        return sh;
    case AVRO_FIXED:
        sh->n = (size_t)avro_schema_fixed_size(sc);
        return sh;
    case AVRO_MAP: /* a map with a repeated key does not survive a decode */
        p->bad = 1;
        return sh;
    default:
        return sh;
    }
    sh->kids = calloc(sh->n > 0 ? sh->n : 1, sizeof(*sh->kids));
    if (sh->kids == NULL) {
        p->bad = 1;
        return sh;
    }
    for (size_t i = 0; i < sh->n && !p->bad; i++) {
        avro_schema_t kid = sh->type == AVRO_RECORD  ? avro_schema_record_field_get_by_index(sc, (int)i)
                            : sh->type == AVRO_UNION ? avro_schema_union_branch(sc, (int)i)
                                                     : avro_schema_array_items(sc);
        sh->kids[i] = kid != NULL ? compile(p, kid) : NULL;
        if (sh->kids[i] == NULL) {
            p->bad = 1;
        }
    }
    return sh;
}

void ts_patcher_free(struct ts_patcher *p)
{
    if (p == NULL) {
        return;
    }
    for (size_t i = 0; i < p->n; i++) {
        free(p->all[i]->kids);
        free(p->all[i]);
    }
    free(p->all);
    free(p->of);
    free(p);
}

/* sampling: ["null", {policy: string, probability: double}], what ts_patch writes. */
static int sampling_shape(const struct ts_patcher *p)
{
    const struct shape *u = p->root->kids[BC_EV_SAMPLING], *r;
    return u->type == AVRO_UNION && u->n == 2 && u->kids[0]->type == AVRO_NULL &&
           (r = u->kids[1])->type == AVRO_RECORD && r->n == 2 &&
           r->kids[0]->type == AVRO_STRING && r->kids[1]->type == AVRO_DOUBLE;
}

static int is(const struct shape *sh, avro_type_t type)
{
    return sh != NULL && sh->type == type;
}

/* ["null", string] */
static int opt_string(const struct shape *sh)
{
    return is(sh, AVRO_UNION) && sh->n == 2 && is(sh->kids[0], AVRO_NULL) &&
           is(sh->kids[1], AVRO_STRING);
}

static int fields_shape(const struct ts_patcher *p)
{
    struct shape *const *f = p->root->kids;
    size_t n = p->root->n;
    return n > BC_EV_SOURCE && n > BC_EV_STATUS && is(f[BC_EV_EVENT_ID], AVRO_STRING) &&
           is(f[BC_EV_KIND], AVRO_ENUM) && opt_string(f[BC_EV_TRACE_ID]) &&
           opt_string(f[BC_EV_PARENT_SPAN_ID]) && is(f[BC_EV_START_TIME_NS], AVRO_INT64) &&
           is(f[BC_EV_END_TIME_NS], AVRO_INT64) && is(f[BC_EV_STATUS], AVRO_RECORD) &&
           f[BC_EV_STATUS]->n >= 1 && is(f[BC_EV_STATUS]->kids[0], AVRO_ENUM) &&
           is(f[BC_EV_SOURCE], AVRO_RECORD) && f[BC_EV_SOURCE]->n >= 2 &&
           is(f[BC_EV_SOURCE]->kids[0], AVRO_STRING) && is(f[BC_EV_SOURCE]->kids[1], AVRO_INT32);
}

struct ts_patcher *ts_patcher_new(const struct bc_avro_schema *schema)
{
    struct ts_patcher *p = calloc(1, sizeof(*p));
    if (p == NULL) {
        return NULL;
    }
    p->id = bc_avro_schema_id(schema);
    p->root = compile(p, bc_avro_schema_avro(schema));
    if (p->bad || p->root == NULL || p->root->type != AVRO_RECORD ||
        p->root->n <= BC_EV_FLAGS || p->root->n <= BC_EV_SAMPLING ||
        p->root->kids[BC_EV_FLAGS]->type != AVRO_ARRAY ||
        p->root->kids[BC_EV_FLAGS]->kids[0]->type != AVRO_STRING || !sampling_shape(p)) {
        ts_patcher_free(p);
        return NULL;
    }
    p->fields = fields_shape(p);
    return p;
}

/* A varint in its shortest form (what the encoder writes), or NULL. */
static const uint8_t *scan_long_slow(const uint8_t *p, const uint8_t *end, int64_t *out)
{
    uint64_t z = 0;
    for (int shift = 0; shift < 70 && p < end; shift += 7) {
        uint8_t b = *p++;
        z |= (uint64_t)(b & 0x7f) << shift;
        if ((b & 0x80) == 0) {
            if (b == 0 && shift > 0) {
                return NULL; /* a longer form than needed */
            }
            *out = (int64_t)(z >> 1) ^ -(int64_t)(z & 1);
            return p;
        }
    }
    return NULL;
}

/* scan_long_slow with the one-byte case (lengths, indexes, small numbers: most varints)
 * inline. */
static inline const uint8_t *scan_long(const uint8_t *p, const uint8_t *end, int64_t *out)
{
    if (p < end && *p < 0x80) {
        *out = (int64_t)(*p >> 1) ^ -(int64_t)(*p & 1);
        return p + 1;
    }
    return scan_long_slow(p, end, out);
}

static const uint8_t *scan(const struct shape *sh, const uint8_t *p, const uint8_t *end,
                           int depth, int check)
{
    int64_t l = 0;
    if (depth > MAX_DEPTH) {
        return NULL;
    }
    switch (sh->type) {
    case AVRO_NULL:
        return p;
    case AVRO_BOOLEAN:
        return p < end && *p <= 1 ? p + 1 : NULL;
    case AVRO_INT32:
        p = scan_long(p, end, &l);
        return p != NULL && l >= INT32_MIN && l <= INT32_MAX ? p : NULL;
    case AVRO_INT64:
        return scan_long(p, end, &l);
    case AVRO_ENUM:
        p = scan_long(p, end, &l);
        return p != NULL && l >= 0 && (uint64_t)l < sh->n ? p : NULL;
    case AVRO_FLOAT:
    case AVRO_DOUBLE:
    case AVRO_FIXED: {
        size_t n = sh->type == AVRO_FLOAT ? 4 : sh->type == AVRO_DOUBLE ? 8 : sh->n;
        return (size_t)(end - p) >= n ? p + n : NULL;
    }
    case AVRO_STRING:
    case AVRO_BYTES:
        p = scan_long(p, end, &l);
        if (p == NULL || l < 0 || (uint64_t)l > (uint64_t)(end - p)) {
            return NULL;
        }
        if (check && sh->type == AVRO_STRING && !bc_avro_utf8_valid((const char *)p, (size_t)l)) {
            return NULL;
        }
        return p + l;
    case AVRO_ARRAY:
        p = scan_long(p, end, &l);
        if (p == NULL || l < 0) {
            return NULL; /* a block with its size: the encoder never writes one */
        }
        if (l == 0) {
            return p;
        }
        for (int64_t i = 0; i < l && p != NULL; i++) {
            p = scan(sh->kids[0], p, end, depth + 1, check);
        }
        /* One block, then the end: several blocks are re-encoded as one. */
        return p != NULL && p < end && *p == 0 ? p + 1 : NULL;
    case AVRO_RECORD:
        for (size_t i = 0; i < sh->n && p != NULL; i++) {
            p = scan(sh->kids[i], p, end, depth + 1, check);
        }
        return p;
    case AVRO_UNION:
        p = scan_long(p, end, &l);
        return p != NULL && l >= 0 && (uint64_t)l < sh->n ? scan(sh->kids[l], p, end, depth + 1, check)
                                                           : NULL;
    default:
        return NULL;
    }
}

static uint8_t *put_bytes(uint8_t *q, const void *data, size_t len)
{
    memcpy(q, data, len);
    return q + len;
}

/* Plain ASCII (the encoder refuses strings that are not UTF-8: those take the generic path
 * and its error). */
static int ascii(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if ((unsigned char)s[i] >= 0x80) {
            return 0;
        }
    }
    return 1;
}

int ts_patch(struct ts_patcher *p, const void *value, size_t len, const char *policy,
             double probability, int set_sampling, const char *const *flags, size_t n_flags,
             struct bc_avro_buf *out)
{
    return ts_patch_from(p, value, len, 0, policy, probability, set_sampling, flags, n_flags,
                         out);
}

int ts_patch_from(struct ts_patcher *p, const void *value, size_t len, size_t from,
                  const char *policy, double probability, int set_sampling,
                  const char *const *flags, size_t n_flags, struct bc_avro_buf *out)
{
    const uint8_t *data = value;
    if (p == NULL || len < BC_AVRO_HEADER_SIZE || data[0] != 0) {
        return -1;
    }
    uint32_t id = (uint32_t)data[1] << 24 | (uint32_t)data[2] << 16 | (uint32_t)data[3] << 8 |
                  data[4];
    if ((int32_t)id != p->id) {
        return -1; /* another version: the decode resolves it */
    }
    const uint8_t *q = data + BC_AVRO_HEADER_SIZE, *end = data + len;
    const uint8_t *flags_at = NULL, *flags_end = NULL, *samp_at = NULL, *samp_end = NULL;
    int64_t n_had = 0;
    size_t first = 0;
    if (from >= BC_AVRO_HEADER_SIZE && from < len && p->fields) {
        /* ts_scan accepted the record: every field is in the encoder's form and the last
         * ends at end, so the walk starts at flags and stops after sampling. */
        q = data + from;
        first = BC_EV_FLAGS;
    }
    for (size_t i = first; i < p->root->n && q != NULL; i++) {
        const uint8_t *at = q;
        q = scan(p->root->kids[i], q, end, 1, 0);
        if (q == NULL) {
            break;
        }
        if (i == BC_EV_FLAGS) {
            flags_at = at;
            flags_end = q;
            scan_long(at, q, &n_had);
        } else if (i == BC_EV_SAMPLING) {
            samp_at = at;
            samp_end = q;
            if (first != 0) {
                q = end;
                break;
            }
        }
    }
    if (q != end || flags_at == NULL || samp_at == NULL || flags_at > samp_at) {
        return -1;
    }
    size_t policy_len = strlen(policy);
    size_t need = len + 32 + policy_len;
    for (size_t i = 0; i < n_flags; i++) {
        need += 10 + strlen(flags[i]);
        if (!ascii(flags[i], strlen(flags[i]))) {
            return -1;
        }
    }
    if (set_sampling && !ascii(policy, policy_len)) {
        return -1;
    }
    if (out->cap < need) {
        uint8_t *grown = realloc(out->data, need);
        if (grown == NULL) {
            return -1;
        }
        out->data = grown;
        out->cap = need;
    }
    uint8_t *w = out->data;
    w = put_bytes(w, data, (size_t)(flags_at - data));
    if (n_flags == 0) {
        w = put_bytes(w, flags_at, (size_t)(flags_end - flags_at));
    } else {
        const uint8_t *items = flags_at, *items_end = flags_at;
        if (n_had > 0) {
            int64_t skip;
            items = scan_long(flags_at, flags_end, &skip);
            items_end = flags_end - 1; /* before the final 0 */
        }
        w = bc_avro_write_long(w, n_had + (int64_t)n_flags);
        w = put_bytes(w, items, (size_t)(items_end - items));
        for (size_t i = 0; i < n_flags; i++) {
            size_t n = strlen(flags[i]);
            w = bc_avro_write_long(w, (int64_t)n);
            w = put_bytes(w, flags[i], n);
        }
        *w++ = 0;
    }
    w = put_bytes(w, flags_end, (size_t)(samp_at - flags_end));
    if (set_sampling) {
        uint64_t bits;
        memcpy(&bits, &probability, 8);
        w = bc_avro_write_long(w, 1);
        w = bc_avro_write_long(w, (int64_t)policy_len);
        w = put_bytes(w, policy, policy_len);
        for (int i = 0; i < 8; i++) {
            *w++ = (uint8_t)(bits >> (8 * i));
        }
    } else {
        w = put_bytes(w, samp_at, (size_t)(samp_end - samp_at));
    }
    w = put_bytes(w, samp_end, (size_t)(end - samp_end));
    out->len = (size_t)(w - out->data);
    return 0;
}

int ts_scan(const struct ts_patcher *p, const void *value, size_t len, const uint8_t **at,
            size_t n)
{
    const uint8_t *data = value;
    if (p == NULL || !p->fields || len < BC_AVRO_HEADER_SIZE || data[0] != 0 ||
        n > p->root->n) {
        return -1;
    }
    uint32_t id = (uint32_t)data[1] << 24 | (uint32_t)data[2] << 16 | (uint32_t)data[3] << 8 |
                  data[4];
    if ((int32_t)id != p->id) {
        return -1;
    }
    const uint8_t *q = data + BC_AVRO_HEADER_SIZE, *end = data + len;
    for (size_t i = 0; i < p->root->n && q != NULL; i++) {
        if (i < n) {
            at[i] = q;
        }
        q = scan(p->root->kids[i], q, end, 1, 1);
    }
    return q == end ? 0 : -1;
}

int64_t ts_read_long(const uint8_t **p)
{
    uint64_t z = 0;
    int shift = 0;
    const uint8_t *q = *p;
    for (; *q & 0x80; q++, shift += 7) {
        z |= (uint64_t)(*q & 0x7f) << shift;
    }
    z |= (uint64_t)*q++ << shift;
    *p = q;
    return (int64_t)(z >> 1) ^ -(int64_t)(z & 1);
}
