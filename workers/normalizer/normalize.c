/*
 * The normalizer's core (normalize.h): format detection, OTLP/JSON traces and logs, flat JSON
 * events, ids, timestamps, clock skew, limits and event ids. Pure: the outcome depends on the
 * record's bytes, its Kafka timestamp and position, and the options, nothing else.
 *
 * Parsing is two passes over the parse tree of an OTLP payload: the first checks the
 * envelope (arrays, resources, scopes) so that a bad envelope is one dead letter and never a
 * partial output; the second writes each item's TrackingEvent as Avro bytes, field by field
 * (struct wbuf, enum ef), and hands them to the callback.
 */
#include "normalize.h"
#include "bc_avro.h"

#include <errno.h>
#include <limits.h>
#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_parse.h>
#include <openssl/evp.h>
#include <xxhash.h>

#define MESSAGE_SIZE 320
/* Arrays and kvlists nested in an AnyValue, at most: each level is 3 levels of Avro
 * (record, record, array) and bc_avro encodes at most 200, TrackingEvent's own included. */
#define MAX_ANY_DEPTH 32
#define PATH_SIZE 192
#define PATH_STEPS 64 /* steps of a path kept: more are cut from its text anyway */
#define FIELD_MEMO_SIZE 256 /* a power of two */
#define CORR_MAX 16         /* correlation attributes looked up in one pass, at most */

static const char *const reason_names[NORM_REASON_COUNT] = {
    "empty",         "not_utf8",   "oversized",  "invalid_json",      "unknown_format",
    "missing_field", "wrong_type", "invalid_id", "invalid_timestamp", "invalid_enum",
};

static const char *const flag_names[] = {
    "clock_skew",         "clamped",         "end_before_start", "truncated",
    "attributes_dropped", "missing_service",
};
_Static_assert(sizeof(flag_names) / sizeof(flag_names[0]) == NORM_FLAG_COUNT, "flag names");

/* TrackingEvent.kind symbols. */
enum { KIND_SPAN = 0, KIND_LOG = 1, KIND_EVENT = 2 };
static const char *const kind_material[] = {"span", "log", "event"};

/* AnyValue.value union branches, in schema order. */
enum { AV_NULL = 0, AV_STRING, AV_BOOL, AV_LONG, AV_DOUBLE, AV_BYTES, AV_ARRAY, AV_KVLIST };

static const char *const span_kind_names[] = {
    "SPAN_KIND_UNSPECIFIED", "SPAN_KIND_INTERNAL", "SPAN_KIND_SERVER",
    "SPAN_KIND_CLIENT",      "SPAN_KIND_PRODUCER", "SPAN_KIND_CONSUMER",
};
static const char *const status_code_names[] = {
    "STATUS_CODE_UNSET",
    "STATUS_CODE_OK",
    "STATUS_CODE_ERROR",
};
static const char *const severity_names[] = {
    "SEVERITY_NUMBER_UNSPECIFIED", "SEVERITY_NUMBER_TRACE",  "SEVERITY_NUMBER_TRACE2",
    "SEVERITY_NUMBER_TRACE3",      "SEVERITY_NUMBER_TRACE4", "SEVERITY_NUMBER_DEBUG",
    "SEVERITY_NUMBER_DEBUG2",      "SEVERITY_NUMBER_DEBUG3", "SEVERITY_NUMBER_DEBUG4",
    "SEVERITY_NUMBER_INFO",        "SEVERITY_NUMBER_INFO2",  "SEVERITY_NUMBER_INFO3",
    "SEVERITY_NUMBER_INFO4",       "SEVERITY_NUMBER_WARN",   "SEVERITY_NUMBER_WARN2",
    "SEVERITY_NUMBER_WARN3",       "SEVERITY_NUMBER_WARN4",  "SEVERITY_NUMBER_ERROR",
    "SEVERITY_NUMBER_ERROR2",      "SEVERITY_NUMBER_ERROR3", "SEVERITY_NUMBER_ERROR4",
    "SEVERITY_NUMBER_FATAL",       "SEVERITY_NUMBER_FATAL2", "SEVERITY_NUMBER_FATAL3",
    "SEVERITY_NUMBER_FATAL4",
};
#define COUNT_OF(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* ---- the parse tree ------------------------------------------------------------------------ */

/* A record's JSON as a compact tree in the record's arena (struct arena), built from yajl's
 * events by the jb_* callbacks below and dropped whole (the arena reset) after the record.
 * The walker reads it only through the jv_* accessors. JSON null reads as NULL, as does an
 * absent member (jv_has() tells them apart). */
enum jv_type { JV_NULL, JV_BOOLEAN, JV_INTEGER, JV_REAL, JV_STRING, JV_ARRAY, JV_OBJECT };

struct jv_member;

typedef struct jv {
    unsigned char type; /* enum jv_type */
    unsigned char truth;
    uint32_t len; /* bytes of a string (without its NUL), elements or members */
    union {
        int64_t i;
        double d;
        const char *s;         /* NUL-terminated (no NUL inside: the record check rejects
                                * \u0000) */
        struct jv_member *m;   /* elements (key NULL) or members in payload order; members
                                * end with a sentinel whose key is NULL */
    } u;
} jv;

struct jv_member {
    const char *key; /* NUL-terminated */
    size_t klen;
    jv value;
};

static inline enum jv_type jv_type(const jv *j)
{
    return j == NULL ? JV_NULL : (enum jv_type)j->type;
}
static inline int jv_is_object(const jv *j)
{
    return jv_type(j) == JV_OBJECT;
}
static inline int jv_is_array(const jv *j)
{
    return jv_type(j) == JV_ARRAY;
}
static inline int jv_is_string(const jv *j)
{
    return jv_type(j) == JV_STRING;
}
static inline int jv_is_integer(const jv *j)
{
    return jv_type(j) == JV_INTEGER;
}
static inline int jv_is_real(const jv *j)
{
    return jv_type(j) == JV_REAL;
}
static inline int jv_is_number(const jv *j)
{
    return jv_is_integer(j) || jv_is_real(j);
}
static inline int jv_is_boolean(const jv *j)
{
    return jv_type(j) == JV_BOOLEAN;
}
static inline int jv_is_true(const jv *j)
{
    return jv_is_boolean(j) && j->truth;
}
static inline int jv_is_null(const jv *j)
{
    return j == NULL;
}
/* A string's bytes (NUL-terminated). */
static inline const char *jv_string(const jv *j)
{
    return jv_is_string(j) ? j->u.s : NULL;
}
static inline size_t jv_strlen(const jv *j)
{
    return jv_is_string(j) ? j->len : 0;
}
/* An integer (int64: the record check rejects integers beyond it). */
static inline int64_t jv_int(const jv *j)
{
    return jv_is_integer(j) ? j->u.i : 0;
}
static inline double jv_real(const jv *j)
{
    return jv_is_real(j) ? j->u.d : 0.0;
}
static inline double jv_number(const jv *j)
{
    return jv_is_real(j) ? j->u.d : (double)jv_int(j);
}
static inline size_t jv_array_size(const jv *j)
{
    return jv_is_array(j) ? j->len : 0;
}
/* A node as the accessors hand it out: JSON null as NULL. */
static inline jv *jv_out(const jv *j)
{
    return j->type == JV_NULL ? NULL : (jv *)j;
}
static inline jv *jv_array_get(const jv *j, size_t i)
{
    return jv_is_array(j) && i < j->len ? jv_out(&j->u.m[i].value) : NULL;
}
/* The node of the member named key of an object, JSON null included (NULL: absent, or j
 * not an object). Objects are small: a scan. */
static const jv *jv_find(const jv *j, const char *key)
{
    if (!jv_is_object(j)) {
        return NULL;
    }
    size_t klen = strlen(key);
    for (const struct jv_member *m = j->u.m; m->key != NULL; m++) {
        if (m->klen == klen && memcmp(m->key, key, klen) == 0) {
            return &m->value;
        }
    }
    return NULL;
}
/* The member named key of an object (NULL: absent, JSON null, or j not an object). */
static inline jv *jv_member(const jv *j, const char *key)
{
    const jv *v = jv_find(j, key);
    return v != NULL ? jv_out(v) : NULL;
}
/* Whether an object has a member named key (JSON null included). */
static inline int jv_has(const jv *j, const char *key)
{
    return jv_find(j, key) != NULL;
}
/* The members of an object in payload order (NULL for anything else, or none): for (e =
 * ...; e != NULL; e = jv_next(e)) with jv_key(e) and jv_value(e). */
static inline const struct jv_member *jv_members(const jv *j)
{
    return jv_is_object(j) && j->len > 0 ? j->u.m : NULL;
}
static inline const struct jv_member *jv_next(const struct jv_member *e)
{
    return e[1].key != NULL ? e + 1 : NULL;
}
static inline size_t jv_object_size(const jv *j)
{
    return jv_is_object(j) ? j->len : 0;
}
static inline const char *jv_key(const struct jv_member *e)
{
    return e->key;
}
static inline jv *jv_value(const struct jv_member *e)
{
    return jv_out(&e->value);
}

/* TrackingEvent's fields in schema order (norm_new checks the names against the schema). An
 * item writes each field's Avro encoding into its buffer as it is parsed, in whatever order
 * the checks come; emit_event() then lays the fields out in schema order. A field not
 * written takes its zero encoding: null, 0, "", the first enum symbol, an empty array (one
 * 0x00 byte each; status two). */
enum ef {
    EF_EVENT_ID,
    EF_KIND,
    EF_TRACE_ID,
    EF_SPAN_ID,
    EF_PARENT_SPAN_ID,
    EF_CORRELATION_ID,
    EF_NAME,
    EF_SERVICE,
    EF_START_TIME_NS,
    EF_END_TIME_NS,
    EF_OBSERVED_TIME_NS,
    EF_SPAN_KIND,
    EF_STATUS,
    EF_SEVERITY_NUMBER,
    EF_SEVERITY_TEXT,
    EF_ATTRIBUTES,
    EF_RESOURCE_ATTRIBUTES,
    EF_SCOPE,
    EF_BODY,
    EF_SOURCE,
    EF_FLAGS,
    EF_OWNER,
    EF_TEAM,
    EF_TIER,
    EF_COST_CENTER,
    EF_ON_CALL,
    EF_DEPLOY,
    EF_SAMPLING,
    EF_SPAN_EVENTS,
    EF_LINKS,
    EF_COUNT
};

static const char *const ef_names[EF_COUNT] = {
    "event_id",      "kind",          "trace_id",         "span_id",
    "parent_span_id", "correlation_id", "name",           "service",
    "start_time_ns", "end_time_ns",   "observed_time_ns", "span_kind",
    "status",        "severity_number", "severity_text",  "attributes",
    "resource_attributes", "scope",   "body",             "source",
    "flags",         "owner",         "team",             "tier",
    "cost_center",   "on_call",       "deploy",           "sampling",
    "span_events",   "links",
};

/* A growing byte buffer (bc_avro_buf_reserve); oom set once it could not grow (the item is
 * then an internal error). */
struct wbuf {
    struct bc_avro_buf buf;
    int oom;
};

/* Where a field's bytes are: in the item's buffer, or (resource_attributes and scope) in
 * the resource's; len 0: not written. */
struct eslot {
    uint32_t off, len;
};

/* A step of a JSON path: a, b and c (each may be NULL) and "[index]" unless NO_INDEX. */
struct path_step {
    const char *a, *b, *c;
    size_t index;
};

struct canon;
struct jb;

struct norm {
    const struct norm_options *opts;           /* borrowed */
    const struct bc_avro_schema *event_schema; /* borrowed from the registry */
    const struct bc_avro_schema *dl_schema;
    /* The item's TrackingEvent as Avro bytes, field by field (struct eslot: the two
     * resource fields in rs, the others in item), and the whole event once emitted (out). */
    struct wbuf item, rs, out;
    struct eslot slot[EF_COUNT];
    /* span_events: where each event's time_ns is in item, to shift them (apply_skew). */
    struct {
        size_t off;
        int64_t ns;
    } *ev_time;
    size_t ev_count, ev_cap;
    uint8_t *raw; /* a decoded base64 value */
    size_t raw_cap;
    avro_value_t event; /* content_id_tree()'s reading of the event */
    avro_schema_t ef_schema[EF_COUNT]; /* each field's schema */
    int content_sorted[2][EF_COUNT + 1]; /* CONTENT_LOG, CONTENT_EVENT; -1 ends each */
    struct norm_stats stats;

    /* The record being processed. */
    const struct norm_input *in;
    norm_outcome_fn fn;
    void *opaque;
    int stop;     /* fn's nonzero return, or -1 on an internal error */
    int internal; /* 1 once an internal error was written to errstr */
    char *errstr;
    size_t errstr_size;

    /* The item being processed. */
    unsigned flags;
    enum norm_reason reason;
    char message[MESSAGE_SIZE];
    struct path_step step[PATH_STEPS]; /* the JSON path of the current node (path_add) */
    size_t steps;
    char path[PATH_SIZE]; /* its text, for a message (path_text) */
    int depth; /* of arrays and kvlists in the AnyValue being parsed */

    char *material; /* bytes hashed into an event_id */
    size_t material_cap;
    struct canon *canon;      /* content_id_stream()'s writer and hash state */
    struct jb *jb;            /* the parse tree's builder and arena, reused for every record */

    /* otlp_correlation()'s texts of the correlation attributes of one resource's attribute
     * list (corr_resource), valid within one record. */
    int corr_valid;
    const void *corr_resource;
    const char *corr_text[CORR_MAX];
    char corr_buf[CORR_MAX][24];

    /* The resource and scope filled into the event by otlp_resource_and_scope() and still in
     * place (fill_common() then leaves those two fields alone): the items of one resource and
     * scope share them, so they are converted once, not once per item. Valid within one
     * record only (the next record's tree may reuse the addresses). */
    int rs_valid;
    const void *rs_sig; /* the otlp_signal, and the resource and scope indexes */
    size_t rs_r, rs_s;
    unsigned rs_flags; /* the flags the conversion set, given again to every item */
};

const char *norm_reason_name(enum norm_reason reason)
{
    return (unsigned)reason < NORM_REASON_COUNT ? reason_names[reason] : NULL;
}

void norm_options_default(struct norm_options *opts)
{
    static const char *const correlation[] = {"correlation_id", "request_id"};
    memset(opts, 0, sizeof(*opts));
    opts->format = NORM_FORMAT_AUTO;
    opts->max_clock_skew_ms = 10 * 60 * 1000;
    opts->clamp_skew = 1;
    opts->max_payload_bytes = 1024 * 1024;
    opts->max_attributes = 128;
    opts->max_attribute_value_length = 4096;
    opts->correlation_attributes = correlation;
    opts->correlation_count = 2;
    opts->event_id_field = "attributes.idempotency_key";
}

/* ---- errors and paths --------------------------------------------------------------- */

#define NO_INDEX ((size_t)-1)

/* Appends a path step: the strings that are not NULL, then "[index]" unless index is
 * NO_INDEX. Only recorded (it runs for every attribute and value): path_text() writes the
 * path out when a message needs it. Returns the depth before, for path_pop(). */
static size_t path_add(struct norm *n, const char *a, const char *b, const char *c, size_t index)
{
    size_t saved = n->steps;
    if (saved < PATH_STEPS) { /* each step is 3 bytes or more: later ones are cut anyway */
        n->step[saved] = (struct path_step){a, b, c, index};
    }
    n->steps = saved + 1;
    return saved;
}

static void path_pop(struct norm *n, size_t saved)
{
    n->steps = saved;
}

/* The path's text in n->path (at most PATH_SIZE - 1 bytes, cut there); its length. */
static size_t path_text(struct norm *n)
{
    size_t len = 0;
    const size_t max = sizeof(n->path) - 1;
    for (size_t s = 0; s < n->steps && s < PATH_STEPS && len < max; s++) {
        const struct path_step *st = &n->step[s];
        const char *parts[3] = {st->a, st->b, st->c};
        for (int i = 0; i < 3; i++) {
            for (const char *p = parts[i]; p != NULL && *p != '\0' && len < max; p++) {
                n->path[len++] = *p;
            }
        }
        if (st->index != NO_INDEX) {
            char digits[24];
            size_t d = sizeof(digits), index = st->index;
            digits[--d] = ']';
            do {
                digits[--d] = (char)('0' + index % 10);
                index /= 10;
            } while (index > 0);
            digits[--d] = '[';
            for (; d < sizeof(digits) && len < max; d++) {
                n->path[len++] = digits[d];
            }
        }
    }
    n->path[len] = '\0';
    return len;
}

/* Records an input error at the current path (plus field, may be NULL); returns -1. */
static int fail(struct norm *n, const char *field, enum norm_reason reason, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail(struct norm *n, const char *field, enum norm_reason reason, const char *fmt, ...)
{
    n->reason = reason;
    size_t path_len = path_text(n);
    int w = snprintf(n->message, sizeof(n->message), "%s%s%s%s", n->path,
                     field != NULL && path_len > 0 ? "." : "", field != NULL ? field : "",
                     path_len > 0 || field != NULL ? ": " : "");
    if (w < 0 || (size_t)w >= sizeof(n->message)) {
        w = 0;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(n->message + w, sizeof(n->message) - (size_t)w, fmt, ap);
    va_end(ap);
    return -1;
}

/* Records an internal error (Avro, memory) in errstr; returns -1. */
static int internal(struct norm *n, const char *what)
{
    if (!n->internal) {
        snprintf(n->errstr, n->errstr_size, "%s: %s", what, avro_strerror());
        n->internal = 1;
    }
    return -1;
}

#define AV(n, call, what)                                                                          \
    do {                                                                                           \
        if ((call) != 0) {                                                                         \
            return internal((n), (what));                                                          \
        }                                                                                          \
    } while (0)

static const char *json_type_name(const jv *j)
{
    switch (jv_type(j)) {
    case JV_OBJECT:
        return "an object";
    case JV_ARRAY:
        return "an array";
    case JV_STRING:
        return "a string";
    case JV_INTEGER:
        return "an integer";
    case JV_REAL:
        return "a real number";
    case JV_BOOLEAN:
        return "a boolean";
    case JV_NULL:
        return "null";
    }
    return "?";
}

/* A member by its lowerCamelCase (OTLP/JSON) or snake_case (proto) name; JSON null reads
 * as absent (protojson's "default value"). Borrowed. */
static jv *get2(const jv *obj, const char *camel, const char *snake)
{
    const jv *j = jv_find(obj, camel);
    if (j == NULL && snake != NULL) {
        j = jv_find(obj, snake); /* only when camel is absent: a null camel hides it */
    }
    return j != NULL ? jv_out(j) : NULL;
}

static jv *get(const jv *obj, const char *name)
{
    return get2(obj, name, NULL);
}

/* ---- the event as Avro bytes -------------------------------------------------------------- */

/* Room for more bytes at data + len, or NULL (oom). */
static uint8_t *wb_room(struct wbuf *b, size_t more)
{
    if (bc_avro_buf_reserve(&b->buf, more) != 0) {
        b->oom = 1;
        return NULL;
    }
    return b->buf.data + b->buf.len;
}

static void wb_put(struct wbuf *b, const void *data, size_t len)
{
    uint8_t *p = wb_room(b, len);
    if (p != NULL && len > 0) {
        memcpy(p, data, len);
        b->buf.len += len;
    }
}

/* An Avro long, int, enum symbol, union branch or block count. */
static void wb_long(struct wbuf *b, int64_t v)
{
    uint8_t *p = wb_room(b, 10);
    if (p != NULL) {
        b->buf.len = (size_t)(bc_avro_write_long(p, v) - b->buf.data);
    }
}

/* An Avro string or bytes: the length, then the bytes. */
static void wb_bytes(struct wbuf *b, const void *data, size_t len)
{
    uint8_t *p = wb_room(b, 10 + len);
    if (p != NULL) {
        p = bc_avro_write_long(p, (int64_t)len);
        if (len > 0) {
            memcpy(p, data, len);
        }
        b->buf.len = (size_t)(p - b->buf.data) + len;
    }
}

static void wb_str(struct wbuf *b, const char *s)
{
    wb_bytes(b, s, strlen(s));
}

/* An Avro double: 8 bytes, little-endian. */
static void wb_double(struct wbuf *b, double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof(u));
    uint8_t le[8];
    for (int i = 0; i < 8; i++) {
        le[i] = (uint8_t)(u >> (8 * i));
    }
    wb_put(b, le, sizeof(le));
}

/* The start of an array of count items (one block; the items follow, then wb_array_end). */
static void wb_array(struct wbuf *b, size_t count)
{
    if (count > 0) {
        wb_long(b, (int64_t)count);
    }
}

static void wb_array_end(struct wbuf *b)
{
    wb_long(b, 0);
}

/* The item's buffer and the field about to be written there (field_end() records it). */
static struct wbuf *field_begin(struct norm *n, size_t *at)
{
    *at = n->item.buf.len;
    return &n->item;
}

static int field_end(struct norm *n, enum ef field, size_t at)
{
    if (n->item.oom) {
        return internal(n, "out of memory");
    }
    n->slot[field].off = (uint32_t)at;
    n->slot[field].len = (uint32_t)(n->item.buf.len - at);
    return 0;
}

static int set_str_len(struct norm *n, enum ef field, const char *s, size_t len)
{
    size_t at;
    wb_bytes(field_begin(n, &at), s, len);
    return field_end(n, field, at);
}

static int set_long(struct norm *n, enum ef field, int64_t l)
{
    size_t at;
    wb_long(field_begin(n, &at), l);
    return field_end(n, field, at);
}

/* A ["null", long/int/enum] field's non-null branch. */
static int set_opt_long(struct norm *n, enum ef field, int64_t l)
{
    size_t at;
    struct wbuf *b = field_begin(n, &at);
    wb_long(b, 1);
    wb_long(b, l);
    return field_end(n, field, at);
}

/* A ["null", "string"] field: s NULL is null. */
static int set_opt_str_len(struct norm *n, enum ef field, const char *s, size_t len)
{
    if (s == NULL) {
        n->slot[field].len = 0;
        return 0;
    }
    size_t at;
    struct wbuf *b = field_begin(n, &at);
    wb_long(b, 1);
    wb_bytes(b, s, len);
    return field_end(n, field, at);
}

static int set_opt_str(struct norm *n, enum ef field, const char *s)
{
    return set_opt_str_len(n, field, s, s != NULL ? strlen(s) : 0);
}

/* The length to keep of a len-byte UTF-8 string: at most the limit, on a character
 * boundary. Sets the truncated flag when it cuts. */
static size_t keep_utf8(struct norm *n, const char *s, size_t len)
{
    size_t max = n->opts->max_attribute_value_length;
    if (len <= max) {
        return len;
    }
    size_t cut = max;
    while (cut > 0 && ((unsigned char)s[cut] & 0xC0) == 0x80) {
        cut--;
    }
    n->flags |= NORM_FLAG_TRUNCATED;
    return cut;
}

/* ---- scalars: ids, integers, timestamps, enums ---------------------------------------- */

static int hexval(int c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

/* n bytes as 2n lowercase hex digits and a NUL. */
static void hex_of(const uint8_t *raw, size_t n, char *hex)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        hex[2 * i] = digits[raw[i] >> 4];
        hex[2 * i + 1] = digits[raw[i] & 15];
    }
    hex[2 * n] = '\0';
}

/* An XXH3-128 hash as 32 hex digits of its canonical (big-endian) bytes. */
static void digest_hex(XXH128_hash_t h, char *hex)
{
    XXH128_canonical_t c;
    XXH128_canonicalFromHash(&c, h);
    hex_of(c.digest, sizeof(c.digest), hex);
}

/* Decodes base64 (standard or URL-safe alphabet, padded or not) of exactly want bytes.
 * Returns the decoded length, or -1 when s is not base64. out holds at least want + 3. */
static long base64_decode(const char *s, size_t len, uint8_t *out, size_t out_size)
{
    size_t pad = 0;
    while (len > 0 && s[len - 1] == '=' && pad < 2) {
        len--;
        pad++;
    }
    if (len % 4 == 1 || (pad > 0 && (len + pad) % 4 != 0)) {
        return -1;
    }
    size_t full = (len + 3) / 4 * 4;
    if (full / 4 * 3 > out_size) {
        return -1;
    }
    char *buf = malloc(full + 1);
    if (buf == NULL) {
        return -1;
    }
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c == '-') {
            c = '+';
        } else if (c == '_') {
            c = '/';
        } else if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                     c == '+' || c == '/')) {
            free(buf);
            return -1;
        }
        buf[i] = c;
    }
    for (size_t i = len; i < full; i++) {
        buf[i] = '=';
    }
    int got = full > 0 ? EVP_DecodeBlock(out, (const unsigned char *)buf, (int)full) : 0;
    free(buf);
    if (got < 0) {
        return -1;
    }
    return (long)got - (long)(full - len); /* EVP_DecodeBlock counts padding as zero bytes */
}

/* Id parsing: OTLP accepts base64 too (protojson bytes); flat events only hex. */
enum { ID_OTLP = 0, ID_HEX_ONLY = 2, ID_ZERO_INVALID = 1 };

/* An id of nbytes (16: trace, 8: span) as hex (either case) or, unless ID_HEX_ONLY, base64
 * of the bytes. Returns 1 and the lowercase hex in hex (2 * nbytes + 1), 0 when absent (""
 * or missing), -1 on error (wrong_type, invalid_id; all-zero ids are invalid with
 * ID_ZERO_INVALID, else absent). */
static int parse_id(struct norm *n, const jv *j, const char *field, size_t nbytes, int mode,
                    char *hex)
{
    if (j == NULL) {
        return 0;
    }
    if (!jv_is_string(j)) {
        return fail(n, field, NORM_WRONG_TYPE, "expected a string, got %s", json_type_name(j));
    }
    const char *s = jv_string(j);
    size_t len = jv_strlen(j);
    if (len == 0) {
        return 0;
    }
    uint8_t raw[32];
    int ok = 0;
    if (len == 2 * nbytes) {
        ok = 1;
        for (size_t i = 0; i < nbytes; i++) {
            int hi = hexval((unsigned char)s[2 * i]), lo = hexval((unsigned char)s[2 * i + 1]);
            if (hi < 0 || lo < 0) {
                ok = 0;
                break;
            }
            raw[i] = (uint8_t)(hi << 4 | lo);
        }
    }
    if (!ok && !(mode & ID_HEX_ONLY) && len <= 4 * ((nbytes + 2) / 3)) {
        ok = base64_decode(s, len, raw, sizeof(raw)) == (long)nbytes;
    }
    if (!ok) {
        if (mode & ID_HEX_ONLY) {
            return fail(n, field, NORM_INVALID_ID,
                        "expected %zu hex characters, got %zu "
                        "characters",
                        2 * nbytes, len);
        }
        return fail(n, field, NORM_INVALID_ID,
                    "expected %zu hex characters or the base64 of %zu bytes, got %zu characters",
                    2 * nbytes, nbytes, len);
    }
    int zero = 1;
    for (size_t i = 0; i < nbytes; i++) {
        zero &= raw[i] == 0;
    }
    hex_of(raw, nbytes, hex);
    if (zero) {
        if (mode & ID_ZERO_INVALID) {
            return fail(n, field, NORM_INVALID_ID, "an all-zero id is invalid");
        }
        return 0;
    }
    return 1;
}

/* Decimal digits only (no sign, no space), within [0, INT64_MAX]. */
static int digits_to_int64(const char *s, size_t len, int64_t *out)
{
    if (len == 0 || len > 19) {
        return -1;
    }
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return -1;
        }
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    if (v > (uint64_t)INT64_MAX) {
        return -1;
    }
    *out = (int64_t)v;
    return 0;
}

/* A uint64 of nanoseconds since the epoch: a decimal string (OTLP/JSON) or an integer
 * (protojson variants). Returns 1 (value in *ns; 0 allowed), 0 absent, -1 error. */
static int parse_time(struct norm *n, const jv *j, const char *field, int64_t *ns)
{
    if (j == NULL) {
        return 0;
    }
    if (jv_is_string(j)) {
        if (digits_to_int64(jv_string(j), jv_strlen(j), ns) != 0) {
            return fail(n, field, NORM_INVALID_TIMESTAMP,
                        "expected unsigned decimal nanoseconds that fit in 63 bits");
        }
        return 1;
    }
    if (jv_is_integer(j)) {
        if (jv_int(j) < 0) {
            return fail(n, field, NORM_INVALID_TIMESTAMP, "negative nanoseconds");
        }
        *ns = (int64_t)jv_int(j);
        return 1;
    }
    if (jv_is_real(j)) {
        return fail(n, field, NORM_INVALID_TIMESTAMP, "expected integer nanoseconds, got a real");
    }
    return fail(n, field, NORM_WRONG_TYPE,
                "expected nanoseconds as a string or an integer, "
                "got %s",
                json_type_name(j));
}

/* An int64: a decimal string with optional '-' or an integer. Returns 0 or -1 (wrong_type). */
static int parse_int64(struct norm *n, const jv *j, const char *field, int64_t *out)
{
    if (jv_is_integer(j)) {
        *out = (int64_t)jv_int(j);
        return 0;
    }
    if (jv_is_string(j)) {
        const char *s = jv_string(j);
        size_t len = jv_strlen(j);
        int neg = len > 0 && s[0] == '-';
        int64_t v = 0;
        if (len == 20 && neg && strcmp(s, "-9223372036854775808") == 0) {
            *out = INT64_MIN;
            return 0;
        }
        if (digits_to_int64(s + neg, len - (size_t)neg, &v) == 0) {
            *out = neg ? -v : v;
            return 0;
        }
        return fail(n, field, NORM_WRONG_TYPE, "expected a decimal int64");
    }
    return fail(n, field, NORM_WRONG_TYPE, "expected an int64 (string or integer), got %s",
                json_type_name(j));
}

/* An enum as its number or its full protobuf name. Absent reads as 0. Returns 0 or -1. */
static int parse_enum(struct norm *n, const jv *j, const char *field, const char *const *names,
                      int count, int *out)
{
    *out = 0;
    if (j == NULL) {
        return 0;
    }
    if (jv_is_integer(j)) {
        int64_t v = jv_int(j);
        if (v < 0 || v >= count) {
            return fail(n, field, NORM_INVALID_ENUM, "%lld is not a valid value (0..%d)",
                        (long long)v, count - 1);
        }
        *out = (int)v;
        return 0;
    }
    if (jv_is_string(j)) {
        for (int i = 0; i < count; i++) {
            if (strcmp(jv_string(j), names[i]) == 0) {
                *out = i;
                return 0;
            }
        }
        return fail(n, field, NORM_INVALID_ENUM, "unknown enum name");
    }
    return fail(n, field, NORM_WRONG_TYPE, "expected an enum number or name, got %s",
                json_type_name(j));
}

/* An optional string member; returns 1 (s set, borrowed), 0 absent, -1 wrong_type. */
static int parse_opt_string(struct norm *n, const jv *j, const char *field, const char **s)
{
    *s = NULL;
    if (j == NULL) {
        return 0;
    }
    if (!jv_is_string(j)) {
        return fail(n, field, NORM_WRONG_TYPE, "expected a string, got %s", json_type_name(j));
    }
    *s = jv_string(j);
    return 1;
}

/* days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int read_digits(const char **p, int count, int *out)
{
    int v = 0;
    for (int i = 0; i < count; i++) {
        if ((*p)[i] < '0' || (*p)[i] > '9') {
            return -1;
        }
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += count;
    *out = v;
    return 0;
}

/* RFC 3339 "2026-11-27T08:00:00.123Z" / "...+01:00" to nanoseconds since the epoch (1970
 * to 2262). Returns 0 or -1. */
static int parse_rfc3339(const char *s, int64_t *ns)
{
    int y, mo, d, h, mi, sec;
    const char *p = s;
    if (read_digits(&p, 4, &y) || *p++ != '-' || read_digits(&p, 2, &mo) || *p++ != '-' ||
        read_digits(&p, 2, &d) || (*p != 'T' && *p != 't' && *p != ' ')) {
        return -1;
    }
    p++;
    if (read_digits(&p, 2, &h) || *p++ != ':' || read_digits(&p, 2, &mi) || *p++ != ':' ||
        read_digits(&p, 2, &sec)) {
        return -1;
    }
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || (mo == 2 && d == 29 && !leap) ||
        h > 23 || mi > 59 || sec > 59) {
        return -1;
    }
    int64_t frac = 0;
    if (*p == '.') {
        p++;
        int digits = 0;
        while (*p >= '0' && *p <= '9') {
            if (digits < 9) {
                frac = frac * 10 + (*p - '0');
            }
            digits++;
            p++;
        }
        if (digits == 0) {
            return -1;
        }
        for (; digits < 9; digits++) {
            frac *= 10;
        }
    }
    int64_t offset_s = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = *p++ == '-' ? -1 : 1, oh, om;
        if (read_digits(&p, 2, &oh) || *p++ != ':' || read_digits(&p, 2, &om) || oh > 23 ||
            om > 59) {
            return -1;
        }
        offset_s = sign * (oh * 3600 + om * 60);
    } else {
        return -1;
    }
    if (*p != '\0') {
        return -1;
    }
    int64_t secs = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - offset_s;
    if (secs < 0 || secs > INT64_MAX / 1000000000 - 1) {
        return -1;
    }
    *ns = secs * 1000000000 + frac;
    return 0;
}

/* ---- AnyValue -------------------------------------------------------------------------- */

static int otlp_keyvalue(struct norm *n, const jv *kv, struct wbuf *b);

/* Writes an AnyValue record from an OTLP/JSON AnyValue object ({"stringValue": ...}, ...).
 * j NULL or {} is the empty value (null). */
static int otlp_anyvalue(struct norm *n, const jv *j, struct wbuf *b)
{
    static const struct {
        const char *camel, *snake;
        int branch;
    } kinds[] = {
        {"stringValue", "string_value", AV_STRING}, {"boolValue", "bool_value", AV_BOOL},
        {"intValue", "int_value", AV_LONG},         {"doubleValue", "double_value", AV_DOUBLE},
        {"bytesValue", "bytes_value", AV_BYTES},    {"arrayValue", "array_value", AV_ARRAY},
        {"kvlistValue", "kvlist_value", AV_KVLIST},
    };
    if (j != NULL && !jv_is_object(j)) {
        return fail(n, NULL, NORM_WRONG_TYPE, "expected an AnyValue object, got %s",
                    json_type_name(j));
    }
    const jv *v = NULL;
    const char *name = NULL;
    int branch = AV_NULL, found = 0;
    /* get2() of each kind, from one pass over the members (usually one) instead of up to 14
     * hash lookups: the camelCase member when present, else the snake_case one, JSON null
     * as absent. */
    enum { KINDS = sizeof(kinds) / sizeof(kinds[0]) };
    const jv *camel[KINDS] = {0}, *snake[KINDS] = {0};
    int has_camel[KINDS] = {0}; /* a camelCase member that is JSON null hides the other */
    for (const struct jv_member *e = jv_members(j); e != NULL; e = jv_next(e)) {
        const char *key = jv_key(e);
        jv *member = jv_value(e);
        for (size_t i = 0; i < KINDS; i++) {
            if (strcmp(key, kinds[i].camel) == 0) {
                camel[i] = member;
                has_camel[i] = 1;
                break;
            }
            if (strcmp(key, kinds[i].snake) == 0) {
                snake[i] = member;
                break;
            }
        }
    }
    for (size_t i = 0; j != NULL && i < KINDS; i++) {
        const jv *x = has_camel[i] ? camel[i] : snake[i];
        if (x != NULL && !jv_is_null(x)) {
            found++;
            v = x;
            name = kinds[i].camel;
            branch = kinds[i].branch;
        }
    }
    if (found > 1) {
        return fail(n, NULL, NORM_WRONG_TYPE, "an AnyValue holds more than one value");
    }
    switch (branch) {
    case AV_NULL:
        wb_long(b, AV_NULL);
        return 0;
    case AV_STRING: {
        if (!jv_is_string(v)) {
            return fail(n, name, NORM_WRONG_TYPE, "expected a string, got %s", json_type_name(v));
        }
        const char *s = jv_string(v);
        wb_long(b, AV_STRING);
        wb_bytes(b, s, keep_utf8(n, s, jv_strlen(v)));
        return 0;
    }
    case AV_BOOL:
        if (!jv_is_boolean(v)) {
            return fail(n, name, NORM_WRONG_TYPE, "expected a boolean, got %s", json_type_name(v));
        }
        wb_long(b, AV_BOOL);
        wb_put(b, jv_is_true(v) ? "\1" : "\0", 1);
        return 0;
    case AV_LONG: {
        int64_t l = 0;
        if (parse_int64(n, v, name, &l) != 0) {
            return -1;
        }
        wb_long(b, AV_LONG);
        wb_long(b, l);
        return 0;
    }
    case AV_DOUBLE: {
        double d;
        if (jv_is_number(v)) {
            d = jv_number(v);
        } else if (jv_is_string(v) && strcmp(jv_string(v), "NaN") == 0) {
            d = __builtin_nan("");
        } else if (jv_is_string(v) && strcmp(jv_string(v), "Infinity") == 0) {
            d = __builtin_inf();
        } else if (jv_is_string(v) && strcmp(jv_string(v), "-Infinity") == 0) {
            d = -__builtin_inf();
        } else {
            return fail(n, name, NORM_WRONG_TYPE, "expected a number, got %s", json_type_name(v));
        }
        wb_long(b, AV_DOUBLE);
        wb_double(b, d);
        return 0;
    }
    case AV_BYTES: {
        if (!jv_is_string(v)) {
            return fail(n, name, NORM_WRONG_TYPE, "expected base64 bytes, got %s",
                        json_type_name(v));
        }
        size_t len = jv_strlen(v);
        size_t cap = len / 4 * 3 + 3;
        if (n->raw_cap < cap) {
            uint8_t *grown = realloc(n->raw, cap);
            if (grown == NULL) {
                return internal(n, "out of memory");
            }
            n->raw = grown;
            n->raw_cap = cap;
        }
        long got = base64_decode(jv_string(v), len, n->raw, cap);
        if (got < 0) {
            return fail(n, name, NORM_WRONG_TYPE, "not base64");
        }
        size_t keep = (size_t)got;
        if (keep > n->opts->max_attribute_value_length) {
            keep = n->opts->max_attribute_value_length;
            n->flags |= NORM_FLAG_TRUNCATED;
        }
        wb_long(b, AV_BYTES);
        wb_bytes(b, n->raw, keep);
        return 0;
    }
    case AV_ARRAY:
    case AV_KVLIST: {
        if (!jv_is_object(v)) {
            return fail(n, name, NORM_WRONG_TYPE, "expected an object, got %s", json_type_name(v));
        }
        const jv *values = get(v, "values");
        wb_long(b, branch);
        if (values == NULL) {
            wb_array_end(b);
            return 0;
        }
        if (!jv_is_array(values)) {
            return fail(n, name, NORM_WRONG_TYPE, "values: expected an array, got %s",
                        json_type_name(values));
        }
        if (++n->depth > MAX_ANY_DEPTH) {
            return fail(n, name, NORM_WRONG_TYPE, "arrays and kvlists nested deeper than %d",
                        MAX_ANY_DEPTH);
        }
        wb_array(b, jv_array_size(values));
        for (size_t i = 0; i < jv_array_size(values); i++) {
            size_t saved = path_add(n, ".", name, ".values", i);
            const jv *elem = jv_array_get(values, i);
            if (elem == NULL && branch == AV_ARRAY) { /* JSON null, not the empty value */
                return fail(n, NULL, NORM_WRONG_TYPE, "expected an AnyValue object, got null");
            }
            int rc = branch == AV_ARRAY ? otlp_anyvalue(n, elem, b) : otlp_keyvalue(n, elem, b);
            if (rc != 0) {
                return -1;
            }
            path_pop(n, saved);
        }
        wb_array_end(b);
        n->depth--;
        return 0;
    }
    }
    return 0;
}

/* The "key" and "value" members of a KeyValue object (each NULL when absent or JSON null,
 * as get() reads them), from one pass over its members (usually just these two) instead of
 * two hash lookups. kv must be an object. */
static void kv_parts(const jv *kv, const jv **key, const jv **value)
{
    *key = NULL;
    *value = NULL;
    for (const struct jv_member *e = jv_members(kv); e != NULL; e = jv_next(e)) {
        const char *name = jv_key(e);
        if (name[0] == 'k' && strcmp(name, "key") == 0) {
            *key = jv_value(e);
        } else if (name[0] == 'v' && strcmp(name, "value") == 0) {
            *value = jv_value(e);
        }
    }
}

/* Writes a KeyValue record from {"key": "...", "value": AnyValue}. */
static int otlp_keyvalue(struct norm *n, const jv *kv, struct wbuf *b)
{
    if (!jv_is_object(kv)) {
        return fail(n, NULL, NORM_WRONG_TYPE, "expected a key-value object, got %s",
                    json_type_name(kv));
    }
    const jv *key, *value;
    kv_parts(kv, &key, &value);
    if (key == NULL) {
        return fail(n, "key", NORM_MISSING_FIELD, "required");
    }
    if (!jv_is_string(key)) {
        return fail(n, "key", NORM_WRONG_TYPE, "expected a string, got %s", json_type_name(key));
    }
    wb_bytes(b, jv_string(key), jv_strlen(key));
    size_t saved = path_add(n, ".value", NULL, NULL, NO_INDEX);
    if (otlp_anyvalue(n, value, b) != 0) {
        return -1;
    }
    path_pop(n, saved);
    return 0;
}

/* Writes an array of KeyValue from an OTLP attribute list (NULL: empty). Keeps the first
 * max_attributes (the rest flagged as dropped). */
static int otlp_attributes(struct norm *n, const jv *attrs, const char *field, struct wbuf *b)
{
    if (attrs == NULL) {
        wb_array_end(b);
        return 0;
    }
    if (!jv_is_array(attrs)) {
        return fail(n, field, NORM_WRONG_TYPE, "expected an array, got %s", json_type_name(attrs));
    }
    size_t count = jv_array_size(attrs);
    if (count > n->opts->max_attributes) {
        count = n->opts->max_attributes;
        n->flags |= NORM_FLAG_ATTRIBUTES_DROPPED;
    }
    wb_array(b, count);
    for (size_t i = 0; i < count; i++) {
        size_t saved = path_add(n, n->steps > 0 ? "." : "", field, NULL, i);
        if (otlp_keyvalue(n, jv_array_get(attrs, i), b) != 0) {
            return -1;
        }
        path_pop(n, saved);
    }
    wb_array_end(b);
    return 0;
}

/* The item's attributes from its OTLP attribute list. */
static int set_attributes(struct norm *n, const jv *attrs)
{
    size_t at;
    if (otlp_attributes(n, attrs, "attributes", field_begin(n, &at)) != 0) {
        return -1;
    }
    return field_end(n, EF_ATTRIBUTES, at);
}

/* The AnyValue of attribute key in an OTLP attribute list, or NULL. Borrowed. */
static const jv *otlp_attr_find(const jv *attrs, const char *key)
{
    for (size_t i = 0; jv_is_array(attrs) && i < jv_array_size(attrs); i++) {
        const jv *kv = jv_array_get(attrs, i);
        const jv *k = NULL, *v = NULL;
        if (jv_is_object(kv)) {
            kv_parts(kv, &k, &v);
        }
        if (jv_is_string(k) && strcmp(jv_string(k), key) == 0) {
            return v;
        }
    }
    return NULL;
}

/* The text of a string or int AnyValue (OTLP form), or NULL. Borrowed or in buf. */
static const char *otlp_value_text(const jv *av, char *buf, size_t size)
{
    if (!jv_is_object(av)) {
        return NULL;
    }
    const jv *s = get2(av, "stringValue", "string_value");
    if (jv_is_string(s)) {
        return jv_strlen(s) > 0 ? jv_string(s) : NULL;
    }
    const jv *i = get2(av, "intValue", "int_value");
    if (jv_is_string(i)) {
        return jv_strlen(i) > 0 ? jv_string(i) : NULL;
    }
    if (jv_is_integer(i)) {
        snprintf(buf, size, "%lld", (long long)jv_int(i));
        return buf;
    }
    return NULL;
}

/* The text of a plain JSON string or integer, or NULL. */
static const char *json_value_text(const jv *j, char *buf, size_t size)
{
    if (jv_is_string(j)) {
        return jv_strlen(j) > 0 ? jv_string(j) : NULL;
    }
    if (jv_is_integer(j)) {
        snprintf(buf, size, "%lld", (long long)jv_int(j));
        return buf;
    }
    return NULL;
}

/* ---- plain JSON values (flat events) as AnyValue ----------------------------------------- */

static int json_anyvalue(struct norm *n, const jv *j, struct wbuf *b);

static int json_keyvalue(struct norm *n, const char *key, const jv *j, struct wbuf *b)
{
    wb_str(b, key);
    return json_anyvalue(n, j, b);
}

static int json_anyvalue(struct norm *n, const jv *j, struct wbuf *b)
{
    switch (jv_type(j)) {
    case JV_NULL:
        wb_long(b, AV_NULL);
        return 0;
    case JV_STRING: {
        const char *s = jv_string(j);
        wb_long(b, AV_STRING);
        wb_bytes(b, s, keep_utf8(n, s, jv_strlen(j)));
        return 0;
    }
    case JV_BOOLEAN:
        wb_long(b, AV_BOOL);
        wb_put(b, jv_is_true(j) ? "\1" : "\0", 1);
        return 0;
    case JV_INTEGER:
        wb_long(b, AV_LONG);
        wb_long(b, (int64_t)jv_int(j));
        return 0;
    case JV_REAL:
        wb_long(b, AV_DOUBLE);
        wb_double(b, jv_real(j));
        return 0;
    case JV_ARRAY:
        wb_long(b, AV_ARRAY);
        if (++n->depth > MAX_ANY_DEPTH) {
            return fail(n, "attributes", NORM_WRONG_TYPE,
                        "arrays and objects nested deeper than %d", MAX_ANY_DEPTH);
        }
        wb_array(b, jv_array_size(j));
        for (size_t i = 0; i < jv_array_size(j); i++) {
            if (json_anyvalue(n, jv_array_get(j, i), b) != 0) {
                return -1;
            }
        }
        wb_array_end(b);
        n->depth--;
        return 0;
    case JV_OBJECT: {
        wb_long(b, AV_KVLIST);
        if (++n->depth > MAX_ANY_DEPTH) {
            return fail(n, "attributes", NORM_WRONG_TYPE,
                        "arrays and objects nested deeper than %d", MAX_ANY_DEPTH);
        }
        wb_array(b, jv_object_size(j));
        for (const struct jv_member *e = jv_members(j); e != NULL; e = jv_next(e)) {
            if (json_keyvalue(n, jv_key(e), jv_value(e), b) != 0) {
                return -1;
            }
        }
        wb_array_end(b);
        n->depth--;
        return 0;
    }
    }
    return 0;
}

/* ---- common per-item parts ---------------------------------------------------------------- */

/* Sets the fields every kind sets the same way: source, enrichment fields null, body null
 * unless set later, and the rest the caller overrides. */
static int fill_common(struct norm *n, int kind, int32_t index)
{
    n->depth = 0;
    n->item.buf.len = 0;
    n->ev_count = 0;
    struct eslot ra = n->slot[EF_RESOURCE_ATTRIBUTES], scope = n->slot[EF_SCOPE];
    memset(n->slot, 0, sizeof(n->slot));
    if (n->rs_valid) { /* kept for the items of the same resource and scope */
        n->slot[EF_RESOURCE_ATTRIBUTES] = ra;
        n->slot[EF_SCOPE] = scope;
    }
    size_t at;
    struct wbuf *b = field_begin(n, &at);
    wb_long(b, kind);
    if (field_end(n, EF_KIND, at) != 0) {
        return -1;
    }
    b = field_begin(n, &at);
    wb_str(b, n->in->topic != NULL ? n->in->topic : "");
    wb_long(b, n->in->partition);
    wb_long(b, n->in->offset);
    wb_long(b, index);
    return field_end(n, EF_SOURCE, at);
}

/* The first member of attrs (OTLP KeyValues) named names[i], for every i < count at once
 * (out[i]: its value as get() reads it, or NULL): otlp_attr_find() of each name in one pass
 * over the list. count <= CORR_MAX. */
static void otlp_attr_find_many(const jv *attrs, const char *const *names, size_t count,
                                const jv **out)
{
    int seen[CORR_MAX] = {0};
    size_t left = count;
    for (size_t i = 0; i < count; i++) {
        out[i] = NULL;
    }
    for (size_t i = 0; left > 0 && jv_is_array(attrs) && i < jv_array_size(attrs); i++) {
        const jv *kv = jv_array_get(attrs, i);
        const jv *k = NULL, *v = NULL;
        if (jv_is_object(kv)) {
            kv_parts(kv, &k, &v);
        }
        if (!jv_is_string(k)) {
            continue;
        }
        const char *key = jv_string(k);
        for (size_t j = 0; j < count; j++) {
            if (!seen[j] && strcmp(key, names[j]) == 0) {
                seen[j] = 1;
                out[j] = v;
                left--;
            }
        }
    }
}

/* The correlation id: the first configured name present (as a string or int) in the item's
 * attributes, then the resource's (OTLP form); NULL when none. The resource's texts are
 * looked up once per resource (n->corr_*: reset for every record, whose tree may reuse the
 * addresses of the last one). */
static const char *otlp_correlation(struct norm *n, const jv *attrs, const jv *resource_attrs,
                                    char *buf, size_t size)
{
    size_t count = n->opts->correlation_count;
    if (count > CORR_MAX) { /* more names than the one-pass lookup takes: one at a time */
        for (size_t i = 0; i < count; i++) {
            const char *name = n->opts->correlation_attributes[i];
            const char *s = otlp_value_text(otlp_attr_find(attrs, name), buf, size);
            if (s == NULL) {
                s = otlp_value_text(otlp_attr_find(resource_attrs, name), buf, size);
            }
            if (s != NULL) {
                return s;
            }
        }
        return NULL;
    }
    if (!n->corr_valid || n->corr_resource != resource_attrs) {
        const jv *found[CORR_MAX];
        otlp_attr_find_many(resource_attrs, n->opts->correlation_attributes, count, found);
        for (size_t i = 0; i < count; i++) {
            n->corr_text[i] = otlp_value_text(found[i], n->corr_buf[i], sizeof(n->corr_buf[i]));
        }
        n->corr_resource = resource_attrs;
        n->corr_valid = 1;
    }
    const jv *found[CORR_MAX];
    otlp_attr_find_many(attrs, n->opts->correlation_attributes, count, found);
    for (size_t i = 0; i < count; i++) {
        const char *s = otlp_value_text(found[i], buf, size);
        if (s == NULL) {
            s = n->corr_text[i];
        }
        if (s != NULL) {
            return s;
        }
    }
    return NULL;
}

static int set_correlation(struct norm *n, const char *s)
{
    return set_opt_str_len(n, EF_CORRELATION_ID, s, s != NULL ? keep_utf8(n, s, strlen(s)) : 0);
}

/* event_id = hex(XXH3_128("<kind>\0" + material)), canonical big-endian bytes. */
static int make_event_id(struct norm *n, int kind, const void *material, size_t len, char *hex)
{
    const char *k = kind_material[kind];
    size_t klen = strlen(k) + 1;
    if (n->material_cap < klen + len) {
        char *grown = realloc(n->material, klen + len);
        if (grown == NULL) {
            return internal(n, "out of memory");
        }
        n->material = grown;
        n->material_cap = klen + len;
    }
    memcpy(n->material, k, klen);
    if (len > 0) {
        memcpy(n->material + klen, material, len);
    }
    digest_hex(XXH3_128bits(n->material, klen + len), hex);
    return 0;
}

/* ---- canonical content, hashed as it is written --------------------------------------- */

/* The canonical content is the text json_dumps(JSON_SORT_KEYS | JSON_COMPACT) makes of the
 * picked fields' JSON form (bc_avro_to_json, unions bare): content_id_tree() below builds it
 * that way. canon_* writes the same bytes straight from the Avro value into the XXH3
 * streaming state, without the tree or the text (a log without log.record.uid otherwise
 * costs a JSON tree of the whole event and a string per item). It mirrors jansson 2.14's
 * dump: objects' keys sorted bytewise, strings escaped (\\ \" \b \f \n \r \t, other controls
 * \u00XX, nothing else), reals as "%.17g" with ".0" added when neither '.' nor 'e' is in it
 * and the exponent's '+' and leading zeros dropped, non-finite doubles null. Anything it
 * does not handle (a map, a string that is not UTF-8, depth) makes it give up: the caller
 * then takes the tree path, so the event_id is the same either way (test_output_pinned). */
#define CANON_MAX_DEPTH 200 /* bc_avro_to_json's */

struct canon {
    XXH3_state_t *state; /* the bytes are hashed; NULL: they are collected in text */
    char *text;          /* malloc'ed, NUL-terminated; NULL before any byte */
    size_t text_len, text_cap;
    int oom; /* text could not grow */
    size_t len;
    char buf[4096];
};

static void canon_sink(struct canon *c, const void *data, size_t len)
{
    if (c->state != NULL) {
        XXH3_128bits_update(c->state, data, len);
        return;
    }
    if (c->oom) {
        return;
    }
    if (c->text_cap - c->text_len < len + 1) {
        size_t cap = c->text_cap > 0 ? c->text_cap : 256;
        while (cap - c->text_len < len + 1) {
            cap *= 2;
        }
        char *grown = realloc(c->text, cap);
        if (grown == NULL) {
            c->oom = 1;
            return;
        }
        c->text = grown;
        c->text_cap = cap;
    }
    memcpy(c->text + c->text_len, data, len);
    c->text_len += len;
    c->text[c->text_len] = '\0';
}

static void canon_flush(struct canon *c)
{
    if (c->len > 0) {
        canon_sink(c, c->buf, c->len);
        c->len = 0;
    }
}

static void canon_put(struct canon *c, const void *data, size_t len)
{
    if (len > sizeof(c->buf) - c->len) {
        canon_flush(c);
        if (len >= sizeof(c->buf)) {
            canon_sink(c, data, len);
            return;
        }
    }
    memcpy(c->buf + c->len, data, len);
    c->len += len;
}

#define CANON_LIT(c, s) canon_put((c), (s), sizeof(s) - 1)

/* Writes the escape of an ASCII control, quote or backslash. */
static void canon_escape(struct canon *c, unsigned char ch)
{
    static const char hex[] = "0123456789ABCDEF";
    switch (ch) {
    case '\\':
        CANON_LIT(c, "\\\\");
        return;
    case '"':
        CANON_LIT(c, "\\\"");
        return;
    case '\b':
        CANON_LIT(c, "\\b");
        return;
    case '\f':
        CANON_LIT(c, "\\f");
        return;
    case '\n':
        CANON_LIT(c, "\\n");
        return;
    case '\r':
        CANON_LIT(c, "\\r");
        return;
    case '\t':
        CANON_LIT(c, "\\t");
        return;
    default: {
        char seq[6] = {'\\', 'u', '0', '0', hex[ch >> 4], hex[ch & 15]};
        canon_put(c, seq, sizeof(seq));
    }
    }
}

/* Length of the UTF-8 sequence at s (at most left bytes) as jansson accepts it (no overlong
 * forms, no surrogates, nothing above U+10FFFF), or 0. */
static size_t canon_utf8_len(const unsigned char *s, size_t left)
{
    unsigned char u = s[0];
    size_t size;
    uint32_t value;
    if (u >= 0xc2 && u <= 0xdf) {
        size = 2, value = u & 0x1f;
    } else if (u >= 0xe0 && u <= 0xef) {
        size = 3, value = u & 0x0f;
    } else if (u >= 0xf0 && u <= 0xf4) {
        size = 4, value = u & 0x07;
    } else {
        return 0;
    }
    if (size > left) {
        return 0;
    }
    for (size_t i = 1; i < size; i++) {
        if ((s[i] & 0xc0) != 0x80) {
            return 0;
        }
        value = (value << 6) | (s[i] & 0x3f);
    }
    if (value > 0x10ffff || (value >= 0xd800 && value <= 0xdfff) || (size == 3 && value < 0x800) ||
        (size == 4 && value < 0x10000)) {
        return 0;
    }
    return size;
}

/* A JSON string of len bytes of UTF-8; -1 when s is not UTF-8. */
static int canon_string(struct canon *c, const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + len, *run = p;
    CANON_LIT(c, "\"");
    while (p < end) {
        if (*p < 0x80) {
            if (*p < 0x20 || *p == '"' || *p == '\\') {
                canon_put(c, run, (size_t)(p - run));
                canon_escape(c, *p);
                run = ++p;
            } else {
                p++;
            }
            continue;
        }
        size_t n = canon_utf8_len(p, (size_t)(end - p));
        if (n == 0) {
            return -1;
        }
        p += n;
    }
    canon_put(c, run, (size_t)(p - run));
    CANON_LIT(c, "\"");
    return 0;
}

/* Bytes as bc_avro_to_json writes them: each byte the code point of the same value. */
static void canon_bytes(struct canon *c, const unsigned char *b, size_t len)
{
    CANON_LIT(c, "\"");
    for (size_t i = 0; i < len; i++) {
        if (b[i] >= 0x80) {
            char two[2] = {(char)(0xc0 | (b[i] >> 6)), (char)(0x80 | (b[i] & 0x3f))};
            canon_put(c, two, 2);
        } else if (b[i] < 0x20 || b[i] == '"' || b[i] == '\\') {
            canon_escape(c, b[i]);
        } else {
            canon_put(c, &b[i], 1);
        }
    }
    CANON_LIT(c, "\"");
}

static int canon_real(struct canon *c, double d)
{
    if (!isfinite(d)) {
        CANON_LIT(c, "null");
        return 0;
    }
    char text[64];
    int w = snprintf(text, sizeof(text), "%.17g", d);
    if (w < 0 || (size_t)w + 3 >= sizeof(text)) {
        return -1;
    }
    size_t len = (size_t)w;
    const char *point = localeconv()->decimal_point;
    if (point[0] != '.') { /* as jansson's from_locale() */
        char *at = strchr(text, point[0]);
        if (at != NULL) {
            *at = '.';
        }
    }
    if (strchr(text, '.') == NULL && strchr(text, 'e') == NULL) {
        memcpy(text + len, ".0", 3);
        len += 2;
    }
    char *start = strchr(text, 'e');
    if (start != NULL) {
        start++;
        char *end = start + 1;
        if (*start == '-') {
            start++;
        }
        while (*end == '0') {
            end++;
        }
        if (end != start) {
            size_t tail = len - (size_t)(end - text);
            memmove(start, end, tail);
            len -= (size_t)(end - start);
        }
    }
    canon_put(c, text, len);
    return 0;
}

static int canon_key_cmp(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    int r = memcmp(a, b, la < lb ? la : lb);
    return r != 0 ? r : (la > lb) - (la < lb);
}

/* A parsed JSON value as jansson's json_dumps(JSON_COMPACT | JSON_ENCODE_ANY, plus
 * JSON_SORT_KEYS when sort) wrote it, before json-c: an item dead letter's raw bytes and a
 * flat event's id from a structured value stay what they were. */
static int canon_json(struct canon *c, const jv *j, int sort)
{
    switch (jv_type(j)) {
    case JV_NULL:
        CANON_LIT(c, "null");
        return 0;
    case JV_BOOLEAN:
        if (jv_is_true(j)) {
            CANON_LIT(c, "true");
        } else {
            CANON_LIT(c, "false");
        }
        return 0;
    case JV_INTEGER: {
        char text[24];
        int w = snprintf(text, sizeof(text), "%lld", (long long)jv_int(j));
        canon_put(c, text, (size_t)w);
        return 0;
    }
    case JV_REAL:
        return canon_real(c, jv_real(j));
    case JV_STRING:
        return canon_string(c, jv_string(j), jv_strlen(j));
    case JV_ARRAY:
        CANON_LIT(c, "[");
        for (size_t i = 0; i < jv_array_size(j); i++) {
            if (i > 0) {
                CANON_LIT(c, ",");
            }
            if (canon_json(c, jv_array_get(j, i), sort) != 0) {
                return -1;
            }
        }
        CANON_LIT(c, "]");
        return 0;
    case JV_OBJECT: {
        size_t count = jv_object_size(j), at = 0;
        const struct jv_member **members = malloc((count > 0 ? count : 1) * sizeof(*members));
        if (members == NULL) {
            return -1;
        }
        for (const struct jv_member *e = jv_members(j); e != NULL; e = jv_next(e)) {
            size_t k = at++;
            while (sort && k > 0 && canon_key_cmp(jv_key(members[k - 1]), jv_key(e)) > 0) {
                members[k] = members[k - 1];
                k--;
            }
            members[k] = e;
        }
        int rc = 0;
        CANON_LIT(c, "{");
        for (size_t i = 0; i < at && rc == 0; i++) {
            if (i > 0) {
                CANON_LIT(c, ",");
            }
            const char *key = jv_key(members[i]);
            rc = canon_string(c, key, strlen(key));
            CANON_LIT(c, ":");
            rc = rc != 0 ? rc : canon_json(c, jv_value(members[i]), sort);
        }
        CANON_LIT(c, "}");
        free(members);
        return rc;
    }
    }
    return -1;
}

/* canon_json() as new text (free it), or NULL. */
static char *json_text(const jv *j, int sort)
{
    struct canon *c = malloc(sizeof(*c));
    if (c == NULL) {
        return NULL;
    }
    memset(c, 0, offsetof(struct canon, buf));
    int rc = canon_json(c, j, sort);
    canon_flush(c);
    char *text = c->text;
    if (rc != 0 || c->oom || text == NULL) {
        free(text);
        text = NULL;
    }
    free(c);
    return text;
}

/* The bytes of a written field (slot), or NULL when it was not written. */
static const uint8_t *field_bytes(const struct norm *n, int field, size_t *len)
{
    const struct wbuf *b =
        field == EF_RESOURCE_ATTRIBUTES || field == EF_SCOPE ? &n->rs : &n->item;
    *len = n->slot[field].len;
    return *len > 0 ? b->buf.data + n->slot[field].off : NULL;
}

/* The zero encoding of a field not written. */
static const uint8_t *field_default(int field, size_t *len)
{
    *len = field == EF_STATUS ? 2 : 1;
    return (const uint8_t *)"\0\0";
}

/* Reads an Avro long from [*p, end); -1 when it runs past end or is longer than 10 bytes. */
static int bin_long(const uint8_t **p, const uint8_t *end, int64_t *out)
{
    uint64_t u = 0;
    for (int shift = 0; shift < 70; shift += 7) {
        if (*p >= end) {
            return -1;
        }
        uint8_t byte = *(*p)++;
        u |= (uint64_t)(byte & 0x7f) << shift;
        if (!(byte & 0x80)) {
            *out = (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
            return 0;
        }
    }
    return -1;
}

/* Writes the JSON form (bc_avro_to_json, unions bare) of the Avro bytes of one value of
 * schema s at *p, moving *p past them. -1 gives up: the caller takes the tree path. */
static int canon_bin(struct canon *c, avro_schema_t s, const uint8_t **p, const uint8_t *end,
                     int depth)
{
    int64_t l = 0;
    if (depth > CANON_MAX_DEPTH) {
        return -1;
    }
    if (is_avro_link(s)) {
        s = avro_schema_link_target(s);
    }
    switch (avro_typeof(s)) {
    case AVRO_NULL:
        CANON_LIT(c, "null");
        return 0;
    case AVRO_BOOLEAN:
        if (*p >= end) {
            return -1;
        }
        if (*(*p)++) {
            CANON_LIT(c, "true");
        } else {
            CANON_LIT(c, "false");
        }
        return 0;
    case AVRO_INT32:
    case AVRO_INT64: {
        if (bin_long(p, end, &l) != 0) {
            return -1;
        }
        char text[24];
        int w = snprintf(text, sizeof(text), "%lld", (long long)l);
        canon_put(c, text, (size_t)w);
        return 0;
    }
    case AVRO_DOUBLE: {
        if (end - *p < 8) {
            return -1;
        }
        uint64_t u = 0;
        for (int i = 7; i >= 0; i--) {
            u = u << 8 | (*p)[i];
        }
        *p += 8;
        double d;
        memcpy(&d, &u, sizeof(d));
        return canon_real(c, d);
    }
    case AVRO_STRING:
    case AVRO_BYTES: {
        if (bin_long(p, end, &l) != 0 || l < 0 || l > end - *p) {
            return -1;
        }
        const uint8_t *data = *p;
        *p += l;
        if (avro_typeof(s) == AVRO_BYTES) {
            canon_bytes(c, data, (size_t)l);
            return 0;
        }
        return canon_string(c, (const char *)data, (size_t)l);
    }
    case AVRO_ENUM: {
        if (bin_long(p, end, &l) != 0 || l < 0 || l > INT_MAX) {
            return -1;
        }
        const char *symbol = avro_schema_enum_get(s, (int)l);
        return symbol != NULL ? canon_string(c, symbol, strlen(symbol)) : -1;
    }
    case AVRO_ARRAY: {
        avro_schema_t items = avro_schema_array_items(s);
        int first = 1;
        CANON_LIT(c, "[");
        for (;;) {
            if (bin_long(p, end, &l) != 0) {
                return -1;
            }
            if (l == 0) {
                break;
            }
            if (l < 0) { /* a block with its byte size: never written here */
                return -1;
            }
            for (int64_t i = 0; i < l; i++) {
                if (!first) {
                    CANON_LIT(c, ",");
                }
                first = 0;
                if (canon_bin(c, items, p, end, depth + 1) != 0) {
                    return -1;
                }
            }
        }
        CANON_LIT(c, "]");
        return 0;
    }
    case AVRO_RECORD: {
        /* Fields are read in schema order, so they must be sorted by name already (all of
         * TrackingEvent's content fields' records are: key < value, values, value). */
        size_t count = avro_schema_record_size(s);
        CANON_LIT(c, "{");
        for (size_t i = 0; i < count; i++) {
            const char *name = avro_schema_record_field_name(s, (int)i);
            if (i > 0) {
                if (canon_key_cmp(avro_schema_record_field_name(s, (int)i - 1), name) > 0) {
                    return -1;
                }
                CANON_LIT(c, ",");
            }
            if (canon_string(c, name, strlen(name)) != 0) {
                return -1;
            }
            CANON_LIT(c, ":");
            if (canon_bin(c, avro_schema_record_field_get_by_index(s, (int)i), p, end,
                          depth + 1) != 0) {
                return -1;
            }
        }
        CANON_LIT(c, "}");
        return 0;
    }
    case AVRO_UNION: {
        if (bin_long(p, end, &l) != 0 || l < 0 || (size_t)l >= avro_schema_union_size(s)) {
            return -1;
        }
        return canon_bin(c, avro_schema_union_branch(s, (int)l), p, end, depth + 1);
    }
    default: /* float, fixed, map: not in TrackingEvent's content fields */
        return -1;
    }
}

/* The event_id of the current event from its canonical content, hashed as written; -1 when
 * the writer gave up (nothing is reported: the caller takes the tree path). fields are
 * sorted by name (norm_new). */
static int content_id_stream(struct norm *n, int kind, const int *fields, char *hex)
{
    struct canon *c = n->canon;
    const char *k = kind_material[kind];
    XXH3_128bits_reset(c->state);
    c->len = 0;
    canon_put(c, k, strlen(k) + 1);
    CANON_LIT(c, "{");
    for (size_t i = 0; fields[i] >= 0; i++) {
        int f = fields[i];
        size_t len;
        const uint8_t *p = field_bytes(n, f, &len);
        if (p == NULL) {
            p = field_default(f, &len);
        }
        if (i > 0) {
            CANON_LIT(c, ",");
        }
        if (canon_string(c, ef_names[f], strlen(ef_names[f])) != 0) {
            return -1;
        }
        CANON_LIT(c, ":");
        const uint8_t *end = p + len;
        if (canon_bin(c, n->ef_schema[f], &p, end, 1) != 0 || p != end) {
            return -1;
        }
    }
    CANON_LIT(c, "}");
    canon_flush(c);
    digest_hex(XXH3_128bits_digest(c->state), hex);
    return 0;
}

/* Lays the event out in n->out in schema order: the Avro header (with_header), the fields
 * written, the zero encoding of the others, the event_id and the flags given. */
static int event_bytes(struct norm *n, const char *event_id, unsigned flags, int with_header)
{
    struct wbuf *o = &n->out;
    o->buf.len = 0;
    if (with_header) {
        uint8_t *p = wb_room(o, 5);
        if (p != NULL) {
            o->buf.len = (size_t)(bc_avro_write_header(p, bc_avro_schema_id(n->event_schema)) - o->buf.data);
        }
    }
    for (int f = 0; f < EF_COUNT; f++) {
        if (f == EF_EVENT_ID) {
            wb_str(o, event_id);
            continue;
        }
        if (f == EF_FLAGS) {
            wb_array(o, (size_t)__builtin_popcount(flags));
            for (size_t i = 0; i < NORM_FLAG_COUNT; i++) {
                if (flags & (1u << i)) {
                    wb_str(o, flag_names[i]);
                }
            }
            wb_array_end(o);
            continue;
        }
        size_t len;
        const uint8_t *p = field_bytes(n, f, &len);
        if (p == NULL) {
            p = field_default(f, &len);
        }
        wb_put(o, p, len);
    }
    return o->oom ? internal(n, "out of memory") : 0;
}

/* The canonical content of an event: the named fields (NULL-terminated) of its JSON form
 * (bc_avro_to_json, unions bare) in one object, as json_dumps(JSON_SORT_KEYS |
 * JSON_COMPACT) writes it. Returns new text (free it), or NULL with *bad set to 1 when the
 * value does not fit the schema, 0 when out of memory. */
static char *content_text(const struct bc_avro_schema *schema, avro_value_t *event,
                          const char *const *fields, int *bad)
{
    *bad = 0;
    json_t *all = bc_avro_to_json(schema, event, 0);
    if (all == NULL) {
        *bad = 1;
        return NULL;
    }
    json_t *pick = json_object();
    for (size_t i = 0; pick != NULL && fields[i] != NULL; i++) {
        json_t *v = json_object_get(all, fields[i]);
        json_object_set(pick, fields[i], v != NULL ? v : json_null());
    }
    char *text = pick != NULL ? json_dumps(pick, JSON_SORT_KEYS | JSON_COMPACT) : NULL;
    json_decref(pick);
    json_decref(all);
    return text;
}

/* The canonical content of the current event: the named fields of its JSON form
 * (bc_avro_to_json, unions bare) in one compact object with sorted keys, as a JSON tree
 * dumped to text (the definition; content_id_stream() writes the same bytes faster). */
static int content_id_tree(struct norm *n, int kind, const int *fields, char *hex)
{
    const char *names[EF_COUNT + 1];
    size_t count = 0;
    for (; fields[count] >= 0; count++) {
        names[count] = ef_names[fields[count]];
    }
    names[count] = NULL;
    char errstr[256];
    if (event_bytes(n, "", 0, 0) != 0) {
        return -1;
    }
    if (bc_avro_decode_body(n->event_schema, n->event_schema, n->out.buf.data, n->out.buf.len, &n->event,
                            errstr, sizeof(errstr)) != 0) {
        snprintf(n->errstr, n->errstr_size, "canonical content: %s", errstr);
        n->internal = 1;
        return -1;
    }
    int bad = 0;
    char *text = content_text(n->event_schema, &n->event, names, &bad);
    if (bad) {
        snprintf(n->errstr, n->errstr_size,
                 "canonical content: the value does not fit "
                 "TrackingEvent");
        n->internal = 1;
        return -1;
    }
    if (text == NULL) {
        return internal(n, "out of memory");
    }
    int rc = make_event_id(n, kind, text, strlen(text), hex);
    free(text);
    return rc;
}

/* The event_id of the current event from its canonical content. Before clock skew
 * correction, so the content does not depend on the Kafka timestamp. */
static int content_id(struct norm *n, int kind, const int *fields, char *hex)
{
    if (content_id_stream(n, kind, fields, hex) == 0) {
        return 0;
    }
    if (n->internal) {
        return -1;
    }
    return content_id_tree(n, kind, fields, hex);
}

/* The fields of the canonical content of a log without log.record.uid and of a flat event
 * without an id; norm_new sorts them by name (content_sorted). */
static const int log_content_fields[] = {
    EF_START_TIME_NS, EF_TRACE_ID,   EF_SPAN_ID,    EF_SEVERITY_NUMBER,    EF_SEVERITY_TEXT,
    EF_BODY,          EF_ATTRIBUTES, EF_RESOURCE_ATTRIBUTES, -1,
};
static const int event_content_fields[] = {
    EF_NAME, EF_SERVICE, EF_START_TIME_NS, EF_TRACE_ID, EF_SPAN_ID, EF_CORRELATION_ID,
    EF_ATTRIBUTES, -1,
};
#define CONTENT_LOG 0
#define CONTENT_EVENT 1

/* Moves the times of the span events (a span's only) back by shift, with the span: the
 * span_events field written again with the new times. */
static int shift_span_events(struct norm *n, int64_t shift)
{
    struct eslot old = n->slot[EF_SPAN_EVENTS];
    if (old.len == 0 || n->ev_count == 0) {
        return 0;
    }
    size_t at;
    struct wbuf *b = field_begin(n, &at);
    size_t from = old.off;
    for (size_t i = 0; i < n->ev_count; i++) {
        int64_t ns = n->ev_time[i].ns;
        uint8_t scratch[10];
        size_t was = (size_t)(bc_avro_write_long(scratch, ns) - scratch);
        uint8_t *room = wb_room(b, n->ev_time[i].off - from); /* may move b->buf.data */
        if (room == NULL) {
            return internal(n, "out of memory");
        }
        memcpy(room, b->buf.data + from, n->ev_time[i].off - from);
        b->buf.len += n->ev_time[i].off - from;
        wb_long(b, ns > 0 ? ns - shift : ns);
        from = n->ev_time[i].off + was;
    }
    size_t rest = old.off + old.len - from;
    uint8_t *room = wb_room(b, rest);
    if (room == NULL) {
        return internal(n, "out of memory");
    }
    memcpy(room, b->buf.data + from, rest);
    b->buf.len += rest;
    return field_end(n, EF_SPAN_EVENTS, at);
}

/* Checks start/end against the record timestamp; flags and (when configured) shifts both
 * back by the same amount so the latest becomes the record timestamp. */
static int apply_skew(struct norm *n, int64_t start, int64_t end)
{
    if (end < start) {
        n->flags |= NORM_FLAG_END_BEFORE_START;
    }
    int64_t ts = n->in->timestamp_ms, limit_ms, limit_ns, ts_ns;
    if (ts >= 0 && !__builtin_add_overflow(ts, n->opts->max_clock_skew_ms, &limit_ms) &&
        !__builtin_mul_overflow(limit_ms, (int64_t)1000000, &limit_ns) &&
        !__builtin_mul_overflow(ts, (int64_t)1000000, &ts_ns)) {
        int64_t latest = end > start ? end : start;
        if (latest > limit_ns) {
            n->flags |= NORM_FLAG_CLOCK_SKEW;
            if (n->opts->clamp_skew) {
                int64_t shift = latest - ts_ns;
                start -= shift;
                end -= shift;
                n->flags |= NORM_FLAG_CLAMPED;
                if (shift_span_events(n, shift) != 0) {
                    return -1;
                }
            }
        }
    }
    if (set_long(n, EF_START_TIME_NS, start) != 0 || set_long(n, EF_END_TIME_NS, end) != 0) {
        return -1;
    }
    return 0;
}

/* Lays out the event with its event_id and flags, counts, and hands it to the callback. */
static int emit_event(struct norm *n, int32_t index, const char *event_id, const char *key)
{
    for (size_t i = 0; i < NORM_FLAG_COUNT; i++) {
        if (n->flags & (1u << i)) {
            n->stats.flagged[i]++;
        }
    }
    if (event_bytes(n, event_id, n->flags, 1) != 0) {
        return -1;
    }
    n->stats.events++;
    struct norm_outcome out = {
        .index = index,
        .event = n->out.buf.data,
        .event_len = n->out.buf.len,
        .key = key,
        .event_id = event_id,
        .flags = n->flags,
    };
    int rc = n->fn(n->opaque, &out);
    if (rc != 0) {
        n->stop = rc;
    }
    return 0;
}

/* Hands the current error to the callback as a dead letter (of the item at index >= 0, item
 * NULL when it is JSON null; or of the whole record, index -1). */
static void emit_dead(struct norm *n, int32_t index, const jv *item)
{
    n->stats.dead_letters[n->reason]++;
    struct norm_outcome out = {
        .index = index,
        .reason = n->reason,
        .message = n->message,
        .item = item,
        .null_item = index >= 0 && item == NULL,
    };
    int rc = n->fn(n->opaque, &out);
    if (rc != 0) {
        n->stop = rc;
    }
}

/* ---- OTLP ------------------------------------------------------------------------------- */

struct otlp_ctx;

/* The OTLP signal: resourceSpans/scopeSpans/spans or resourceLogs/scopeLogs/logRecords. */
struct otlp_signal {
    const char *resources, *resources_snake;
    const char *scopes, *scopes_snake;
    const char *items, *items_snake;
    int (*item)(struct norm *n, const struct otlp_ctx *c, const jv *item, int32_t index);
};

/* One resource (or scope) level of an OTLP payload, as its items see it. */
struct otlp_ctx {
    const jv *resource_attrs;      /* may be NULL */
    const char *service;           /* borrowed; NULL: missing */
    const jv *scope;               /* may be NULL */
    const struct otlp_signal *sig; /* for paths in messages */
    size_t r, s;                   /* resource and scope indexes */
};

static int resource_and_scope(struct norm *n, const struct otlp_ctx *c);

/* Fills resource_attributes and scope. Paths in messages name the resource or the scope,
 * whatever the current path is (an item's, or none in the envelope check). */
static int otlp_resource_and_scope(struct norm *n, const struct otlp_ctx *c)
{
    if (n->rs_valid && n->rs_sig == c->sig && n->rs_r == c->r && n->rs_s == c->s) {
        n->flags |= n->rs_flags;
        return 0;
    }
    /* Converted again: fill_common() must reset the two fields from now on until it is
     * done (an item failing half-way leaves them half set). */
    n->rs_valid = 0;
    n->rs.buf.len = 0;
    n->slot[EF_RESOURCE_ATTRIBUTES].len = 0;
    n->slot[EF_SCOPE].len = 0;
    unsigned item_flags = n->flags;
    n->flags = 0;
    int rc = resource_and_scope(n, c);
    if (rc == 0) {
        n->rs_valid = 1;
        n->rs_sig = c->sig;
        n->rs_r = c->r;
        n->rs_s = c->s;
        n->rs_flags = n->flags;
    }
    n->flags |= item_flags;
    return rc;
}

/* otlp_resource_and_scope's conversion. */
static int resource_and_scope(struct norm *n, const struct otlp_ctx *c)
{
    struct path_step item_path[PATH_STEPS];
    size_t item_steps = n->steps;
    memcpy(item_path, n->step, sizeof(item_path));
    path_pop(n, 0);
    path_add(n, c->sig->resources, NULL, NULL, c->r);
    path_add(n, ".resource", NULL, NULL, NO_INDEX);
    struct wbuf *b = &n->rs;
    size_t at = b->buf.len;
    if (otlp_attributes(n, c->resource_attrs, "attributes", b) != 0) {
        return -1;
    }
    if (b->oom) {
        return internal(n, "out of memory");
    }
    n->slot[EF_RESOURCE_ATTRIBUTES] = (struct eslot){(uint32_t)at, (uint32_t)(b->buf.len - at)};
    if (c->scope == NULL) {
        goto done;
    }
    path_pop(n, 0);
    path_add(n, c->sig->resources, NULL, NULL, c->r);
    path_add(n, ".", c->sig->scopes, NULL, c->s);
    path_add(n, ".scope", NULL, NULL, NO_INDEX);
    const char *name = NULL, *version = NULL;
    if (parse_opt_string(n, get(c->scope, "name"), "name", &name) < 0 ||
        parse_opt_string(n, get(c->scope, "version"), "version", &version) < 0) {
        return -1;
    }
    at = b->buf.len;
    wb_long(b, 1);
    wb_str(b, name != NULL ? name : "");
    wb_str(b, version != NULL ? version : "");
    if (otlp_attributes(n, get(c->scope, "attributes"), "attributes", b) != 0) {
        return -1;
    }
    if (b->oom) {
        return internal(n, "out of memory");
    }
    n->slot[EF_SCOPE] = (struct eslot){(uint32_t)at, (uint32_t)(b->buf.len - at)};
done:
    memcpy(n->step, item_path, sizeof(item_path));
    n->steps = item_steps;
    return 0;
}

static int otlp_service(struct norm *n, const struct otlp_ctx *c)
{
    const char *service = c->service;
    if (service == NULL) {
        service = "unknown_service";
        n->flags |= NORM_FLAG_MISSING_SERVICE;
    }
    return set_str_len(n, EF_SERVICE, service, keep_utf8(n, service, strlen(service)));
}

/* A span's events: [{timeUnixNano, name, attributes}] -> span_events. */
static int otlp_span_events(struct norm *n, const jv *events)
{
    if (events == NULL) {
        return 0;
    }
    if (!jv_is_array(events)) {
        return fail(n, "events", NORM_WRONG_TYPE, "expected an array, got %s",
                    json_type_name(events));
    }
    size_t count = jv_array_size(events), at;
    if (n->ev_cap < count) {
        void *grown = realloc(n->ev_time, count * sizeof(*n->ev_time));
        if (grown == NULL) {
            return internal(n, "out of memory");
        }
        n->ev_time = grown;
        n->ev_cap = count;
    }
    struct wbuf *b = field_begin(n, &at);
    wb_array(b, count);
    for (size_t i = 0; i < count; i++) {
        const jv *j = jv_array_get(events, i);
        size_t saved = path_add(n, ".events", NULL, NULL, i);
        int64_t ns = 0;
        const char *name = NULL;
        if (!jv_is_object(j)) {
            return fail(n, NULL, NORM_WRONG_TYPE, "expected an object, got %s", json_type_name(j));
        }
        if (parse_time(n, get2(j, "timeUnixNano", "time_unix_nano"), "timeUnixNano", &ns) < 0 ||
            parse_opt_string(n, get(j, "name"), "name", &name) < 0) {
            return -1;
        }
        if (name == NULL) {
            name = "";
        }
        n->ev_time[i].off = b->buf.len;
        n->ev_time[i].ns = ns;
        wb_long(b, ns);
        wb_bytes(b, name, keep_utf8(n, name, strlen(name)));
        if (otlp_attributes(n, get(j, "attributes"), "attributes", b) != 0) {
            return -1;
        }
        path_pop(n, saved);
    }
    wb_array_end(b);
    n->ev_count = count;
    return field_end(n, EF_SPAN_EVENTS, at);
}

/* A span's links: [{traceId, spanId, attributes}] -> links (ids as lowercase hex). */
static int otlp_links(struct norm *n, const jv *links)
{
    char trace_id[33], span_id[17];
    if (links == NULL) {
        return 0;
    }
    if (!jv_is_array(links)) {
        return fail(n, "links", NORM_WRONG_TYPE, "expected an array, got %s",
                    json_type_name(links));
    }
    size_t count = jv_array_size(links), at;
    struct wbuf *b = field_begin(n, &at);
    wb_array(b, count);
    for (size_t i = 0; i < count; i++) {
        const jv *j = jv_array_get(links, i);
        size_t saved = path_add(n, ".links", NULL, NULL, i);
        if (!jv_is_object(j)) {
            return fail(n, NULL, NORM_WRONG_TYPE, "expected an object, got %s", json_type_name(j));
        }
        int rc =
            parse_id(n, get2(j, "traceId", "trace_id"), "traceId", 16, ID_ZERO_INVALID, trace_id);
        if (rc <= 0) {
            return rc < 0 ? -1 : fail(n, "traceId", NORM_MISSING_FIELD, "required");
        }
        rc = parse_id(n, get2(j, "spanId", "span_id"), "spanId", 8, ID_ZERO_INVALID, span_id);
        if (rc <= 0) {
            return rc < 0 ? -1 : fail(n, "spanId", NORM_MISSING_FIELD, "required");
        }
        wb_bytes(b, trace_id, 32);
        wb_bytes(b, span_id, 16);
        if (otlp_attributes(n, get(j, "attributes"), "attributes", b) != 0) {
            return -1;
        }
        path_pop(n, saved);
    }
    wb_array_end(b);
    return field_end(n, EF_LINKS, at);
}

static int otlp_span(struct norm *n, const struct otlp_ctx *c, const jv *span, int32_t index)
{
    char trace_id[33], span_id[17], parent[17], buf[32];
    if (!jv_is_object(span)) {
        return fail(n, NULL, NORM_WRONG_TYPE, "expected a span object, got %s",
                    json_type_name(span));
    }
    if (fill_common(n, KIND_SPAN, index) != 0) {
        return -1;
    }
    int rc =
        parse_id(n, get2(span, "traceId", "trace_id"), "traceId", 16, ID_ZERO_INVALID, trace_id);
    if (rc <= 0) {
        return rc < 0 ? -1 : fail(n, "traceId", NORM_MISSING_FIELD, "required");
    }
    rc = parse_id(n, get2(span, "spanId", "span_id"), "spanId", 8, ID_ZERO_INVALID, span_id);
    if (rc <= 0) {
        return rc < 0 ? -1 : fail(n, "spanId", NORM_MISSING_FIELD, "required");
    }
    rc = parse_id(n, get2(span, "parentSpanId", "parent_span_id"), "parentSpanId", 8, ID_OTLP,
                  parent);
    if (rc < 0 || set_opt_str(n, EF_TRACE_ID, trace_id) != 0 ||
        set_opt_str(n, EF_SPAN_ID, span_id) != 0 ||
        set_opt_str(n, EF_PARENT_SPAN_ID, rc > 0 ? parent : NULL) != 0) {
        return -1;
    }
    const jv *name = get(span, "name");
    if (name == NULL) {
        return fail(n, "name", NORM_MISSING_FIELD, "required");
    }
    if (!jv_is_string(name)) {
        return fail(n, "name", NORM_WRONG_TYPE, "expected a string, got %s", json_type_name(name));
    }
    if (set_str_len(n, EF_NAME, jv_string(name),
                    keep_utf8(n, jv_string(name), jv_strlen(name))) != 0) {
        return -1;
    }
    int kind, code;
    if (parse_enum(n, get(span, "kind"), "kind", span_kind_names, COUNT_OF(span_kind_names),
                   &kind) != 0 ||
        set_opt_long(n, EF_SPAN_KIND, kind) != 0) {
        return -1;
    }
    int64_t start = 0, end = 0;
    rc = parse_time(n, get2(span, "startTimeUnixNano", "start_time_unix_nano"), "startTimeUnixNano",
                    &start);
    if (rc < 0) {
        return -1;
    }
    if (rc == 0 || start == 0) {
        return fail(n, "startTimeUnixNano", NORM_MISSING_FIELD, "required");
    }
    rc =
        parse_time(n, get2(span, "endTimeUnixNano", "end_time_unix_nano"), "endTimeUnixNano", &end);
    if (rc < 0) {
        return -1;
    }
    if (rc == 0 || end == 0) {
        return fail(n, "endTimeUnixNano", NORM_MISSING_FIELD, "required");
    }
    const jv *status = get(span, "status");
    if (status != NULL) {
        if (!jv_is_object(status)) {
            return fail(n, "status", NORM_WRONG_TYPE, "expected an object, got %s",
                        json_type_name(status));
        }
        const char *message = NULL;
        size_t saved = path_add(n, ".status", NULL, NULL, NO_INDEX);
        if (parse_enum(n, get(status, "code"), "code", status_code_names,
                       COUNT_OF(status_code_names), &code) != 0 ||
            parse_opt_string(n, get(status, "message"), "message", &message) < 0) {
            return -1;
        }
        size_t at;
        struct wbuf *b = field_begin(n, &at);
        wb_long(b, code);
        wb_bytes(b, message != NULL ? message : "",
                 message != NULL ? keep_utf8(n, message, strlen(message)) : 0);
        if (field_end(n, EF_STATUS, at) != 0) {
            return -1;
        }
        path_pop(n, saved);
    }
    const jv *attrs = get(span, "attributes");
    if (set_attributes(n, attrs) != 0 || otlp_span_events(n, get(span, "events")) != 0 ||
        otlp_links(n, get(span, "links")) != 0 ||
        otlp_service(n, c) != 0 || otlp_resource_and_scope(n, c) != 0 ||
        set_correlation(n, otlp_correlation(n, attrs, c->resource_attrs, buf, sizeof(buf))) != 0) {
        return -1;
    }
    uint8_t material[24];
    for (int i = 0; i < 16; i++) {
        material[i] = (uint8_t)(hexval(trace_id[2 * i]) << 4 | hexval(trace_id[2 * i + 1]));
    }
    for (int i = 0; i < 8; i++) {
        material[16 + i] = (uint8_t)(hexval(span_id[2 * i]) << 4 | hexval(span_id[2 * i + 1]));
    }
    char event_id[33];
    if (make_event_id(n, KIND_SPAN, material, sizeof(material), event_id) != 0 ||
        apply_skew(n, start, end) != 0) {
        return -1;
    }
    return emit_event(n, index, event_id, trace_id);
}

static int otlp_log(struct norm *n, const struct otlp_ctx *c, const jv *log, int32_t index)
{
    char trace_id[33], span_id[17], buf[32];
    if (!jv_is_object(log)) {
        return fail(n, NULL, NORM_WRONG_TYPE, "expected a log record object, got %s",
                    json_type_name(log));
    }
    if (fill_common(n, KIND_LOG, index) != 0) {
        return -1;
    }
    int has_trace = parse_id(n, get2(log, "traceId", "trace_id"), "traceId", 16, ID_OTLP, trace_id);
    int has_span = has_trace < 0
                       ? -1
                       : parse_id(n, get2(log, "spanId", "span_id"), "spanId", 8, ID_OTLP, span_id);
    if (has_span < 0 || set_opt_str(n, EF_TRACE_ID, has_trace > 0 ? trace_id : NULL) != 0 ||
        set_opt_str(n, EF_SPAN_ID, has_span > 0 ? span_id : NULL) != 0) {
        return -1;
    }
    int64_t time = 0, observed = 0;
    if (parse_time(n, get2(log, "timeUnixNano", "time_unix_nano"), "timeUnixNano", &time) < 0 ||
        parse_time(n, get2(log, "observedTimeUnixNano", "observed_time_unix_nano"),
                   "observedTimeUnixNano", &observed) < 0) {
        return -1;
    }
    if (time == 0 && observed == 0) {
        return fail(n, "timeUnixNano", NORM_MISSING_FIELD, "required (or observedTimeUnixNano)");
    }
    if (observed > 0 && set_opt_long(n, EF_OBSERVED_TIME_NS, observed) != 0) {
        return -1;
    }
    int64_t start = time > 0 ? time : observed;
    if (set_long(n, EF_START_TIME_NS, start) != 0 || set_long(n, EF_END_TIME_NS, start) != 0) {
        return -1;
    }
    int severity;
    const char *severity_text = NULL, *event_name = NULL;
    if (parse_enum(n, get2(log, "severityNumber", "severity_number"), "severityNumber",
                   severity_names, COUNT_OF(severity_names), &severity) != 0 ||
        parse_opt_string(n, get2(log, "severityText", "severity_text"), "severityText",
                         &severity_text) < 0 ||
        parse_opt_string(n, get2(log, "eventName", "event_name"), "eventName", &event_name) < 0) {
        return -1;
    }
    if (severity > 0 && set_opt_long(n, EF_SEVERITY_NUMBER, severity) != 0) {
        return -1;
    }
    if (severity_text != NULL && set_opt_str(n, EF_SEVERITY_TEXT, severity_text) != 0) {
        return -1;
    }
    const jv *attrs = get(log, "attributes");
    if (event_name == NULL) {
        event_name = otlp_value_text(otlp_attr_find(attrs, "event.name"), buf, sizeof(buf));
    }
    if (event_name == NULL) {
        event_name = "";
    }
    if (set_str_len(n, EF_NAME, event_name, keep_utf8(n, event_name, strlen(event_name))) != 0) {
        return -1;
    }
    const jv *body = get(log, "body");
    if (body != NULL) {
        size_t saved = path_add(n, ".body", NULL, NULL, NO_INDEX), at;
        struct wbuf *b = field_begin(n, &at);
        wb_long(b, 1);
        if (otlp_anyvalue(n, body, b) != 0 || field_end(n, EF_BODY, at) != 0) {
            return -1;
        }
        path_pop(n, saved);
    }
    if (set_attributes(n, attrs) != 0 || otlp_service(n, c) != 0 || otlp_resource_and_scope(n, c) != 0 ||
        set_correlation(n, otlp_correlation(n, attrs, c->resource_attrs, buf, sizeof(buf))) != 0) {
        return -1;
    }
    char event_id[33], uidbuf[32];
    const char *uid =
        otlp_value_text(otlp_attr_find(attrs, "log.record.uid"), uidbuf, sizeof(uidbuf));
    if (uid != NULL ? make_event_id(n, KIND_LOG, uid, strlen(uid), event_id)
                    : content_id(n, KIND_LOG, n->content_sorted[CONTENT_LOG], event_id)) {
        return -1;
    }
    if (apply_skew(n, start, start) != 0) {
        return -1;
    }
    return emit_event(n, index, event_id, has_trace > 0 ? trace_id : event_id);
}

static const struct otlp_signal signal_spans = {
    "resourceSpans", "resource_spans", "scopeSpans", "scope_spans", "spans", NULL, otlp_span,
};
static const struct otlp_signal signal_logs = {
    "resourceLogs", "resource_logs", "scopeLogs", "scope_logs",
    "logRecords",   "log_records",   otlp_log,
};

/* Resolves one resource element's context (service, attributes); checks its shape. */
static int otlp_resource_ctx(struct norm *n, const jv *res, const struct otlp_signal *sig, size_t r,
                             struct otlp_ctx *c)
{
    memset(c, 0, sizeof(*c));
    c->sig = sig;
    c->r = r;
    const jv *resource = get(res, "resource");
    if (resource == NULL) {
        return 0;
    }
    if (!jv_is_object(resource)) {
        return fail(n, "resource", NORM_WRONG_TYPE, "expected an object, got %s",
                    json_type_name(resource));
    }
    c->resource_attrs = get(resource, "attributes");
    const jv *sv = otlp_attr_find(c->resource_attrs, "service.name");
    const jv *s = jv_is_object(sv) ? get2(sv, "stringValue", "string_value") : NULL;
    if (jv_is_string(s) && jv_strlen(s) > 0) {
        c->service = jv_string(s);
    }
    return 0;
}

/* Pass 1 (check == 1): the envelope's shape, resources and scopes; counts items in *count.
 * Pass 2 (check == 0): every item, each an outcome. An envelope error (pass 1) returns -1
 * with the reason set. */
static int otlp_walk(struct norm *n, const jv *root, const struct otlp_signal *sig, int check,
                     int32_t *index)
{
    const jv *resources = get2(root, sig->resources, sig->resources_snake);
    if (resources == NULL) {
        return 0;
    }
    if (!jv_is_array(resources)) {
        return fail(n, sig->resources, NORM_WRONG_TYPE, "expected an array, got %s",
                    json_type_name(resources));
    }
    for (size_t r = 0; r < jv_array_size(resources) && n->stop == 0; r++) {
        const jv *res = jv_array_get(resources, r);
        size_t saved_r = path_add(n, sig->resources, NULL, NULL, r);
        struct otlp_ctx c;
        if (!jv_is_object(res)) {
            return fail(n, NULL, NORM_WRONG_TYPE, "expected an object, got %s",
                        json_type_name(res));
        }
        if (otlp_resource_ctx(n, res, sig, r, &c) != 0) {
            return -1;
        }
        const jv *scopes = get2(res, sig->scopes, sig->scopes_snake);
        if (scopes != NULL && !jv_is_array(scopes)) {
            return fail(n, sig->scopes, NORM_WRONG_TYPE, "expected an array, got %s",
                        json_type_name(scopes));
        }
        for (size_t s = 0; s < jv_array_size(scopes) && n->stop == 0; s++) {
            const jv *sc = jv_array_get(scopes, s);
            size_t saved_s = path_add(n, ".", sig->scopes, NULL, s);
            if (!jv_is_object(sc)) {
                return fail(n, NULL, NORM_WRONG_TYPE, "expected an object, got %s",
                            json_type_name(sc));
            }
            c.scope = get(sc, "scope");
            c.s = s;
            if (c.scope != NULL && !jv_is_object(c.scope)) {
                return fail(n, "scope", NORM_WRONG_TYPE, "expected an object, got %s",
                            json_type_name(c.scope));
            }
            const jv *items = get2(sc, sig->items, sig->items_snake);
            if (items != NULL && !jv_is_array(items)) {
                return fail(n, sig->items, NORM_WRONG_TYPE, "expected an array, got %s",
                            json_type_name(items));
            }
            if (check) {
                /* The resource and scope parts of every item, checked once here. */
                if (fill_common(n, KIND_SPAN, 0) != 0 || otlp_resource_and_scope(n, &c) != 0) {
                    return -1;
                }
                *index += (int32_t)jv_array_size(items);
                path_pop(n, saved_s);
                continue;
            }
            for (size_t i = 0; i < jv_array_size(items) && n->stop == 0; i++) {
                size_t saved_i = path_add(n, ".", sig->items, NULL, i);
                n->flags = 0;
                int32_t at = (*index)++;
                n->stats.items++;
                const jv *item = jv_array_get(items, i);
                if (sig->item(n, &c, item, at) != 0) {
                    if (n->internal) {
                        return -1;
                    }
                    emit_dead(n, at, item);
                }
                path_pop(n, saved_i);
            }
            path_pop(n, saved_s);
        }
        path_pop(n, saved_r);
    }
    return 0;
}

/* ---- flat events -------------------------------------------------------------------------- */

/* The value at a dotted path of a JSON object, or NULL. */
static const jv *json_path(const jv *root, const char *path)
{
    char part[128];
    const jv *j = root;
    while (j != NULL && *path != '\0') {
        const char *dot = strchr(path, '.');
        size_t len = dot != NULL ? (size_t)(dot - path) : strlen(path);
        if (len >= sizeof(part) || !jv_is_object(j)) {
            return NULL;
        }
        memcpy(part, path, len);
        part[len] = '\0';
        j = jv_member(j, part);
        path = dot != NULL ? dot + 1 : path + len;
    }
    return j;
}

static int required_string(struct norm *n, const jv *root, const char *field, const char **s)
{
    const jv *j = get(root, field);
    if (j == NULL) {
        return fail(n, field, NORM_MISSING_FIELD, "required");
    }
    if (!jv_is_string(j)) {
        return fail(n, field, NORM_WRONG_TYPE, "expected a string, got %s", json_type_name(j));
    }
    if (jv_strlen(j) == 0) {
        return fail(n, field, NORM_MISSING_FIELD, "must not be empty");
    }
    *s = jv_string(j);
    return 0;
}

static int flat_event(struct norm *n, const jv *root)
{
    const char *name, *service, *correlation = NULL;
    char trace_id[33], span_id[17], buf[32];
    if (fill_common(n, KIND_EVENT, 0) != 0 || required_string(n, root, "event", &name) != 0 ||
        required_string(n, root, "service", &service) != 0) {
        return -1;
    }
    const jv *time = get(root, "time");
    int64_t ns = 0;
    if (time == NULL) {
        return fail(n, "time", NORM_MISSING_FIELD, "required");
    }
    if (jv_is_string(time)) {
        const char *s = jv_string(time);
        if (digits_to_int64(s, jv_strlen(time), &ns) != 0 && parse_rfc3339(s, &ns) != 0) {
            return fail(n, "time", NORM_INVALID_TIMESTAMP,
                        "expected RFC 3339 (1970..2262) or decimal nanoseconds");
        }
    } else if (parse_time(n, time, "time", &ns) < 0) {
        return -1;
    }
    int has_trace =
        parse_id(n, get(root, "trace_id"), "trace_id", 16, ID_HEX_ONLY | ID_ZERO_INVALID, trace_id);
    int has_span = has_trace < 0 ? -1
                                 : parse_id(n, get(root, "span_id"), "span_id", 8,
                                            ID_HEX_ONLY | ID_ZERO_INVALID, span_id);
    if (has_span < 0 ||
        parse_opt_string(n, get(root, "correlation_id"), "correlation_id", &correlation) < 0) {
        return -1;
    }
    const jv *attrs = get(root, "attributes");
    if (attrs != NULL && !jv_is_object(attrs)) {
        return fail(n, "attributes", NORM_WRONG_TYPE, "expected an object, got %s",
                    json_type_name(attrs));
    }
    if (set_opt_str(n, EF_TRACE_ID, has_trace > 0 ? trace_id : NULL) != 0 ||
        set_opt_str(n, EF_SPAN_ID, has_span > 0 ? span_id : NULL) != 0 ||
        set_str_len(n, EF_NAME, name, keep_utf8(n, name, strlen(name))) != 0 ||
        set_str_len(n, EF_SERVICE, service, keep_utf8(n, service, strlen(service))) != 0 ||
        set_long(n, EF_START_TIME_NS, ns) != 0 || set_long(n, EF_END_TIME_NS, ns) != 0) {
        return -1;
    }
    size_t count = jv_object_size(attrs), at;
    if (count > n->opts->max_attributes) {
        count = n->opts->max_attributes;
        n->flags |= NORM_FLAG_ATTRIBUTES_DROPPED;
    }
    struct wbuf *b = field_begin(n, &at);
    wb_array(b, count);
    size_t i = 0;
    for (const struct jv_member *e = jv_members(attrs); e != NULL && i < count; e = jv_next(e)) {
        i++;
        if (json_keyvalue(n, jv_key(e), jv_value(e), b) != 0) {
            return -1;
        }
    }
    wb_array_end(b);
    if (field_end(n, EF_ATTRIBUTES, at) != 0) {
        return -1;
    }
    for (size_t i = 0; correlation == NULL && i < n->opts->correlation_count; i++) {
        correlation =
            json_value_text(jv_member(attrs, n->opts->correlation_attributes[i]), buf, sizeof(buf));
    }
    if (correlation != NULL && correlation[0] == '\0') {
        correlation = NULL;
    }
    if (set_correlation(n, correlation) != 0) {
        return -1;
    }
    char event_id[33], idbuf[32];
    const char *id = NULL;
    char *dumped = NULL;
    if (n->opts->event_id_field != NULL && n->opts->event_id_field[0] != '\0') {
        const jv *idv = json_path(root, n->opts->event_id_field);
        id = json_value_text(idv, idbuf, sizeof(idbuf));
        if (id == NULL && idv != NULL && !jv_is_null(idv) && !jv_is_string(idv)) {
            id = dumped = json_text(idv, 1);
        }
    }
    int rc = id != NULL ? make_event_id(n, KIND_EVENT, id, strlen(id), event_id)
                        : content_id(n, KIND_EVENT, n->content_sorted[CONTENT_EVENT], event_id);
    free(dumped);
    if (rc != 0 || apply_skew(n, ns, ns) != 0) {
        return -1;
    }
    /* Keyed by event_id even with a trace id (SHARED-CONTRACTS): a re-sent copy, the same
     * idempotency key in another trace, lands in the partition of the original. */
    return emit_event(n, 0, event_id, event_id);
}

/* ---- the record --------------------------------------------------------------------------- */

/* Nesting parsed, at most: a value (an array or object or any other) is "nested too deep"
 * inside more than JSON_MAX_DEPTH - 1 arrays and objects, as json-c had it (jansson: 2048
 * arrays and objects). */
#define JSON_MAX_DEPTH 2049

/* What jansson rejected and json-c, the parser before yajl, let through (the notes below
 * are json-c's; yajl, which is told not to check UTF-8, reads these the same or rejects
 * them later in the record), found by lex_check() (the parser checks the grammar and the
 * escapes' syntax). */
enum lex_fault {
    LEX_OK,
    LEX_UTF8,      /* not UTF-8: json-c's own check lets overlong forms, surrogates and
                    * code points above U+10FFFF through */
    LEX_CONTROL,   /* a control character: json-c keeps raw ones in strings */
    LEX_NUL,       /* \u0000: json-c keeps it in values and cuts keys there */
    LEX_SURROGATE, /* an unpaired surrogate escape: json-c makes it U+FFFD */
    LEX_ESCAPE,    /* \u without 4 hex digits (json-c rejects it too; found here so that it
                    * comes before a later fault as in jansson) */
    LEX_NUMBER,    /* 01, -01, 1., -.5, 1.e5: json-c reads them */
    LEX_RANGE,     /* an integer beyond int64 (json-c: uint64) or a real beyond double */
    LEX_TOKEN,     /* NaN, Infinity (json-c reads them, strict or not), a single quote (json-c
                    * reads 'key' in strict mode) */
};

static const char *const lex_fault_names[] = {
    "",
    "invalid UTF-8",
    "control character",
    "NUL character (\\u0000)",
    "unpaired UTF-16 surrogate escape",
    "invalid \\u escape",
    "invalid number",
    "number out of range",
    "invalid token",
};

struct lex {
    enum lex_fault fault;
    size_t at; /* byte offset of the fault */
    /* The last string, number or word that starts before the fault (or the end): its first
     * byte and the byte after it or where the fault cuts it (SIZE_MAX: none). */
    size_t tok, tok_end;
};

static int hex4(const unsigned char *p, const unsigned char *end, unsigned *out)
{
    unsigned v = 0;
    if (end - p < 4) {
        return -1;
    }
    for (int i = 0; i < 4; i++) {
        int h = hexval(p[i]);
        if (h < 0) {
            return -1;
        }
        v = v << 4 | (unsigned)h;
    }
    *out = v;
    return 0;
}

static int is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

/* Checks a number token at *pp (a '-' or a digit) the way jansson did, and moves past it
 * (or, for LEX_NUMBER, to the byte that does not fit). */
static enum lex_fault lex_number(const unsigned char **pp, const unsigned char *end)
{
    const unsigned char *start = *pp, *p = start;
    int real = 0;
    p += *p == '-';
    const unsigned char *digits = p;
    if (p < end && *p == '0') {
        p++;
    } else if (p < end && *p >= '1' && *p <= '9') {
        while (p < end && is_digit(*p)) {
            p++;
        }
    } else {
        *pp = p; /* where it went wrong: jansson read that byte */
        return LEX_NUMBER;
    }
    size_t int_digits = (size_t)(p - digits);
    if (p < end && *p == '.') {
        real = 1;
        if (++p == end || !is_digit(*p)) {
            *pp = p; /* where it went wrong: jansson read that byte */
            return LEX_NUMBER;
        }
        while (p < end && is_digit(*p)) {
            p++;
        }
    }
    int exponent = p < end && (*p == 'e' || *p == 'E');
    if (exponent) {
        real = 1;
        p++;
        p += p < end && (*p == '+' || *p == '-');
        if (p == end || !is_digit(*p)) {
            *pp = p; /* where it went wrong: jansson read that byte */
            return LEX_NUMBER;
        }
        while (p < end && is_digit(*p)) {
            p++;
        }
    }
    if (p < end &&
        (is_digit(*p) || *p == '.' || *p == 'e' || *p == 'E' || *p == '+' || *p == '-')) {
        *pp = p; /* where it went wrong: jansson read that byte */
        return LEX_NUMBER;
    }
    *pp = p;
    if (!real) {
        static const char max[] = "9223372036854775807", min[] = "9223372036854775808";
        return int_digits > 19 ||
                       (int_digits == 19 && memcmp(digits, *start == '-' ? min : max, 19) > 0)
                   ? LEX_RANGE
                   : LEX_OK;
    }
    if (exponent || (size_t)(p - start) > 300) { /* might not fit a double */
        char *copy = strndup((const char *)start, (size_t)(p - start));
        if (copy == NULL) {
            return LEX_OK; /* unchecked; json-c runs out of memory next */
        }
        int inf = isinf(strtod(copy, NULL));
        free(copy);
        return inf ? LEX_RANGE : LEX_OK;
    }
    return LEX_OK;
}

/* Whether the byte at p starts a sequence that is not UTF-8. */
static int not_utf8_at(const unsigned char *p, const unsigned char *end)
{
    return p < end && *p >= 0x80 && canon_utf8_len(p, (size_t)(end - p)) == 0;
}

/* A string from the byte after its opening quote to the byte after its closing one (or the
 * end). Returns that, or NULL with the fault and where. As jansson, which checked a whole
 * string before it decoded its escapes: a control character or a byte that is not UTF-8
 * comes before a bad \u escape earlier in the same string. */
static const unsigned char *lex_string(const unsigned char *p, const unsigned char *end,
                                       enum lex_fault *fault, const unsigned char **at)
{
    enum lex_fault escape = LEX_OK;
    const unsigned char *escape_at = NULL;
    while (p < end) {
        /* To the next quote, backslash, control or non-ASCII byte, 8 bytes at a time: the
         * lowest flagged byte of each test is exact (borrows only run upwards). */
        while (end - p >= 8) {
            uint64_t w, q, b, hit;
            const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
            memcpy(&w, p, 8);
            q = w ^ (ones * '"');
            b = w ^ (ones * '\\');
            hit = (w | ((w - ones * 0x20) & ~w) | ((q - ones) & ~q) | ((b - ones) & ~b)) & highs;
            if (hit != 0) {
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
                p += __builtin_ctzll(hit) >> 3; /* the first byte is the lowest */
#endif
                break;
            }
            p += 8;
        }
        while (p < end && *p >= 0x20 && *p < 0x80 && *p != '"' && *p != '\\') {
            p++; /* the last few bytes, or one the word test flagged past its first hit */
        }
        if (p == end) {
            break;
        }
        unsigned char ch = *p;
        if (ch == '"') {
            p++;
            break;
        }
        if (ch < 0x20 || ch >= 0x80) {
            size_t k = ch < 0x20 ? 0 : canon_utf8_len(p, (size_t)(end - p));
            if (k == 0) {
                *fault = ch < 0x20 ? LEX_CONTROL : LEX_UTF8;
                *at = p;
                return NULL;
            }
            p += k;
            continue;
        }
        if (ch != '\\') {
            p++;
            continue;
        }
        unsigned u, lo;
        enum lex_fault f = LEX_OK;
        if (end - p < 2 || p[1] != 'u') {
            p += end - p < 2 || p[1] >= 0x80 ? 1 : 2; /* json-c checks the escape */
            continue;
        }
        if (hex4(p + 2, end, &u) != 0) { /* jansson stopped at the first byte not hex */
            const unsigned char *q = p + 2;
            while (q < end && q < p + 6 && hexval(*q) >= 0) {
                q++;
            }
            *fault = not_utf8_at(q, end) ? LEX_UTF8 : LEX_ESCAPE;
            *at = *fault == LEX_UTF8 ? q : p;
            return NULL;
        }
        if (u == 0) {
            f = LEX_NUL;
        } else if (u >= 0xdc00 && u <= 0xdfff) {
            f = LEX_SURROGATE;
        } else if (u >= 0xd800 && u <= 0xdbff) {
            if (end - p >= 12 && p[6] == '\\' && p[7] == 'u' && hex4(p + 8, end, &lo) == 0 &&
                lo >= 0xdc00 && lo <= 0xdfff) {
                p += 6; /* the pair */
            } else {
                f = LEX_SURROGATE;
            }
        }
        if (f != LEX_OK && escape == LEX_OK) {
            escape = f;
            escape_at = p;
        }
        p += 6;
    }
    if (escape != LEX_OK) {
        *fault = escape;
        *at = escape_at;
        return NULL;
    }
    return p;
}

/* One pass over the record for what jansson rejected and the parser does not (enum
 * lex_fault), and where the last string, number or word before the fault starts. It follows
 * strings, escapes and number tokens only, not the grammar: yajl parses. */
static void lex_check(const char *data, size_t len, struct lex *lx)
{
    const unsigned char *s = (const unsigned char *)data, *p = s, *end = s + len;
    const unsigned char *tok = NULL, *tok_end = NULL;
    enum lex_fault fault = LEX_OK;
    while (p < end && fault == LEX_OK) {
        const unsigned char *at = p, *start = NULL;
        unsigned char ch = *p;
        if (ch == '"') {
            start = p;
            p = lex_string(p + 1, end, &fault, &at);
        } else if (ch == ',' || ch == ':' || ch == '{' || ch == '}' || ch == '[' || ch == ']' ||
                   ch == ' ') {
            p++;
        } else if (ch == '-' || is_digit(ch)) {
            start = p;
            fault = lex_number(&p, end);
        } else if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z')) {
            start = p;
            /* true, false, null (json-c checks them); nothing else is JSON */
            if (ch != 't' && ch != 'f' && ch != 'n') {
                fault = LEX_TOKEN;
            }
            while (p < end && ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z'))) {
                p++;
            }
        } else if (ch >= 0x80) {
            size_t k = canon_utf8_len(p, (size_t)(end - p));
            fault = k == 0 ? LEX_UTF8 : LEX_OK; /* else json-c rejects the character */
            p += k;
        } else if (ch == '\'') {
            fault = LEX_TOKEN;
        } else if (ch < 0x20 && ch != '\t' && ch != '\n' && ch != '\r') {
            fault = LEX_CONTROL;
        } else {
            p++;
        }
        if ((fault == LEX_NUMBER || fault == LEX_RANGE || fault == LEX_TOKEN) && ch != '\'' &&
            not_utf8_at(p, end)) {
            /* jansson read the byte after a bad word or number (p: where the scan
             * stopped) before it judged the token */
            fault = LEX_UTF8;
            at = p;
        }
        if (start != NULL && (fault == LEX_OK || at > start)) {
            tok = start;
            tok_end = fault == LEX_OK ? p : at;
        }
        if (fault != LEX_OK) {
            lx->at = (size_t)(at - s);
        }
    }
    lx->fault = fault;
    lx->tok = tok != NULL ? (size_t)(tok - s) : SIZE_MAX;
    lx->tok_end = tok != NULL ? (size_t)(tok_end - s) : SIZE_MAX;
}

/* The record's arena: the parse tree and yajl's own allocations of one record, reset (not
 * freed) after it. Chunks stay for the next record. */
#define ARENA_CHUNK (64 * 1024)

struct arena_chunk {
    struct arena_chunk *next;
    size_t size;
    max_align_t data[];
};

struct arena {
    struct arena_chunk *first, *cur;
    char *p, *end;
};

/* arena_alloc()'s way on when the current chunk is full: the next chunk, or a new one. */
static void *arena_grow(struct arena *a, size_t size)
{
    struct arena_chunk *c = a->cur != NULL ? a->cur->next : a->first;
    if (c == NULL || c->size < size) { /* a new chunk, after the current one */
        size_t want = size > ARENA_CHUNK ? size : ARENA_CHUNK;
        struct arena_chunk *fresh = malloc(sizeof(*fresh) + want);
        if (fresh == NULL) {
            return NULL;
        }
        fresh->size = want;
        fresh->next = c;
        if (a->cur != NULL) {
            a->cur->next = fresh;
        } else {
            a->first = fresh;
        }
        c = fresh;
    }
    a->cur = c;
    a->p = (char *)c->data + size;
    a->end = (char *)c->data + c->size;
    return c->data;
}

static inline void *arena_alloc(struct arena *a, size_t size)
{
    size = (size + 15) & ~(size_t)15;
    if ((size_t)(a->end - a->p) < size) {
        return arena_grow(a, size);
    }
    void *p = a->p;
    a->p += size;
    return p;
}

static void arena_reset(struct arena *a)
{
    a->cur = a->first;
    a->p = a->first != NULL ? (char *)a->first->data : NULL;
    a->end = a->first != NULL ? a->p + a->first->size : NULL;
}

static void arena_free(struct arena *a)
{
    for (struct arena_chunk *c = a->first, *next; c != NULL; c = next) {
        next = c->next;
        free(c);
    }
    memset(a, 0, sizeof(*a));
}

/* yajl's allocations (its handle, lexer, state stack and buffers), in the arena: each block
 * after a 16-byte header with its size, for realloc; free is a no-op. */
static void *yajl_arena_malloc(void *ctx, size_t size)
{
    size_t *h = arena_alloc(ctx, size + 16);
    if (h == NULL) {
        return NULL;
    }
    h[0] = size;
    return (char *)h + 16;
}

static void *yajl_arena_realloc(void *ctx, void *ptr, size_t size)
{
    if (ptr == NULL) {
        return yajl_arena_malloc(ctx, size);
    }
    size_t old = *(size_t *)((char *)ptr - 16);
    if (size <= old) {
        return ptr;
    }
    void *fresh = yajl_arena_malloc(ctx, size);
    if (fresh != NULL) {
        memcpy(fresh, ptr, old);
    }
    return fresh;
}

static void yajl_arena_free(void *ctx, void *ptr)
{
    (void)ctx;
    (void)ptr;
}

/* Building the tree from yajl's events: the values of the open arrays and objects wait on
 * a stack (with their keys) and move to the arena, contiguous, when their container ends. */
struct jb_frame {
    size_t base; /* the container's first value on the stack */
    const char *key;
    size_t klen; /* the container's own key (NULL in an array or at the top) */
};

struct jb {
    struct arena arena;
    struct jv_member *stack;
    size_t top, cap;
    struct jb_frame frames[JSON_MAX_DEPTH];
    size_t depth; /* open arrays and objects */
    const char *key;
    size_t klen;
    jv root;
    int dup;  /* an object had a duplicate key */
    int deep; /* a value nested deeper than JSON_MAX_DEPTH */
    int oom;
    yajl_handle h;   /* of the parse under way (in the arena) */
    int part;        /* 0: in yajl_parse(), 1: in yajl_complete_parse() */
    int root_done;   /* the document's value was read... */
    size_t root_end; /* ... and ended before this byte (SIZE_MAX: at the end) */
    int track;       /* set value_end (a second parse, for a message) */
    size_t value_end; /* the byte after the last value read */
    size_t *order; /* jb_has_dup()'s scratch */
    size_t order_cap;
};

/* A value read: the document's, or the next of the innermost open container. */
static int jb_value(struct jb *b, const jv *v)
{
    if (b->track) {
        b->value_end = yajl_get_bytes_consumed(b->h);
    }
    if (b->depth == 0) {
        b->root = *v;
        b->root_done = 1;
        b->root_end = b->part ? SIZE_MAX : yajl_get_bytes_consumed(b->h);
        return 1;
    }
    if (b->top == b->cap) {
        size_t cap = b->cap > 0 ? 2 * b->cap : 256;
        struct jv_member *s = realloc(b->stack, cap * sizeof(*s));
        if (s == NULL) {
            b->oom = 1;
            return 0;
        }
        b->stack = s;
        b->cap = cap;
    }
    struct jv_member *m = &b->stack[b->top++];
    m->key = b->key;
    m->klen = b->klen;
    m->value = *v;
    b->key = NULL;
    b->klen = 0;
    return 1;
}

/* Whether a value read now would be nested too deep (then the parse stops). */
static int jb_too_deep(struct jb *b)
{
    if (b->depth >= JSON_MAX_DEPTH) {
        b->deep = 1;
        return 1;
    }
    return 0;
}

static char *jb_text(struct jb *b, const unsigned char *s, size_t len)
{
    char *t = arena_alloc(&b->arena, len + 1);
    if (t == NULL) {
        b->oom = 1;
        return NULL;
    }
    memcpy(t, s, len);
    t[len] = '\0';
    return t;
}

static int jb_null(void *ctx)
{
    struct jb *b = ctx;
    jv v = {.type = JV_NULL};
    return !jb_too_deep(b) && jb_value(b, &v);
}

static int jb_boolean(void *ctx, int truth)
{
    struct jb *b = ctx;
    jv v = {.type = JV_BOOLEAN, .truth = truth != 0};
    return !jb_too_deep(b) && jb_value(b, &v);
}

/* A number token (valid JSON: yajl checked it, lex_check() its range): an integer unless it
 * has a fraction or an exponent, as json-c and jansson read it. */
static int jb_number(void *ctx, const char *s, size_t len)
{
    struct jb *b = ctx;
    if (jb_too_deep(b)) {
        return 0;
    }
    jv v = {.type = JV_INTEGER};
    size_t i = 0;
    int neg = len > 0 && s[0] == '-';
    uint64_t u = 0;
    for (i = (size_t)neg; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
        u = u * 10 + (uint64_t)(s[i] - '0');
    }
    if (i == len) {
        v.u.i = !neg ? (int64_t)u : u == 0 ? 0 : -(int64_t)(u - 1) - 1;
    } else {
        char small[64];
        char *text = len < sizeof(small) ? small : arena_alloc(&b->arena, len + 1);
        if (text == NULL) {
            b->oom = 1;
            return 0;
        }
        memcpy(text, s, len);
        text[len] = '\0';
        v.type = JV_REAL;
        v.u.d = strtod(text, NULL);
    }
    return jb_value(b, &v);
}

static int jb_string(void *ctx, const unsigned char *s, size_t len)
{
    struct jb *b = ctx;
    if (jb_too_deep(b)) {
        return 0;
    }
    jv v = {.type = JV_STRING, .len = (uint32_t)len};
    if ((v.u.s = jb_text(b, s, len)) == NULL) {
        return 0;
    }
    return jb_value(b, &v);
}

static int jb_key(void *ctx, const unsigned char *s, size_t len)
{
    struct jb *b = ctx;
    b->klen = len;
    return (b->key = jb_text(b, s, len)) != NULL;
}

static int jb_open(void *ctx)
{
    struct jb *b = ctx;
    if (jb_too_deep(b)) {
        return 0;
    }
    b->frames[b->depth++] = (struct jb_frame){.base = b->top, .key = b->key, .klen = b->klen};
    b->key = NULL;
    b->klen = 0;
    return 1;
}

static int jb_key_cmp(const void *x, const void *y, void *ctx)
{
    const struct jv_member *m = ctx, *a = &m[*(const size_t *)x], *b = &m[*(const size_t *)y];
    if (a->klen != b->klen) {
        return a->klen < b->klen ? -1 : 1;
    }
    return memcmp(a->key, b->key, a->klen);
}

/* Whether two of an object's count members have the same key: pairs for a small object,
 * neighbours in key order for a large one. */
static int jb_has_dup(struct jb *b, const struct jv_member *m, size_t count)
{
    if (count <= 24) {
        for (size_t i = 1; i < count; i++) {
            for (size_t k = 0; k < i; k++) {
                if (m[i].klen == m[k].klen && memcmp(m[i].key, m[k].key, m[i].klen) == 0) {
                    return 1;
                }
            }
        }
        return 0;
    }
    if (count > b->order_cap) {
        size_t *o = realloc(b->order, count * sizeof(*o));
        if (o == NULL) {
            b->oom = 1;
            return 0;
        }
        b->order = o;
        b->order_cap = count;
    }
    for (size_t i = 0; i < count; i++) {
        b->order[i] = i;
    }
    qsort_r(b->order, count, sizeof(*b->order), jb_key_cmp, (void *)m);
    for (size_t i = 1; i < count; i++) {
        if (jb_key_cmp(&b->order[i - 1], &b->order[i], (void *)m) == 0) {
            return 1;
        }
    }
    return 0;
}

/* The end of the innermost array or object: its values move to the arena. */
static int jb_close(struct jb *b, int object)
{
    const struct jb_frame *f = &b->frames[--b->depth];
    size_t count = b->top - f->base;
    jv v = {.type = object ? JV_OBJECT : JV_ARRAY, .len = (uint32_t)count};
    if (count > 0 || object) {
        v.u.m = arena_alloc(&b->arena, (count + object) * sizeof(struct jv_member));
        if (v.u.m == NULL) {
            b->oom = 1;
            return 0;
        }
        memcpy(v.u.m, b->stack + f->base, count * sizeof(struct jv_member));
        if (object) {
            v.u.m[count].key = NULL; /* the sentinel */
            if (!b->dup && count > 1 && jb_has_dup(b, v.u.m, count)) {
                b->dup = 1; /* reported after the parse: a later fault comes first */
            }
        }
    }
    b->top = f->base;
    b->key = f->key;
    b->klen = f->klen;
    return !b->oom && jb_value(b, &v);
}

static int jb_end_map(void *ctx)
{
    return jb_close(ctx, 1);
}

static int jb_end_array(void *ctx)
{
    return jb_close(ctx, 0);
}

static const yajl_callbacks jb_callbacks = {
    .yajl_null = jb_null,
    .yajl_boolean = jb_boolean,
    .yajl_number = jb_number,
    .yajl_string = jb_string,
    .yajl_start_map = jb_open,
    .yajl_map_key = jb_key,
    .yajl_end_map = jb_end_map,
    .yajl_start_array = jb_open,
    .yajl_end_array = jb_end_array,
};

static void jb_free(struct jb *b)
{
    if (b != NULL) {
        arena_free(&b->arena);
        free(b->stack);
        free(b->order);
        free(b);
    }
}

/* Line and column (1-based, in characters) of byte at of data. */
static void line_column(const char *data, size_t at, int *line, int *column)
{
    *line = 1;
    *column = 1;
    for (size_t i = 0; i < at; i++) {
        if (data[i] == '\n') {
            (*line)++;
            *column = 1;
        } else if (((unsigned char)data[i] & 0xc0) != 0x80) {
            (*column)++;
        }
    }
}

static int whole(struct norm *n, enum norm_reason reason, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int whole(struct norm *n, enum norm_reason reason, const char *fmt, ...)
{
    n->reason = reason;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(n->message, sizeof(n->message), fmt, ap);
    va_end(ap);
    emit_dead(n, -1, NULL);
    return 0;
}

static int process_json(struct norm *n, const jv *root)
{
    int is_otlp = 0;
    if (jv_is_object(root)) {
        is_otlp = get2(root, "resourceSpans", "resource_spans") != NULL ||
                  get2(root, "resourceLogs", "resource_logs") != NULL;
    }
    enum norm_format format = n->opts->format;
    if (!jv_is_object(root)) {
        return whole(n, NORM_UNKNOWN_FORMAT, "expected a JSON object, got %s",
                     json_type_name(root));
    }
    if (format == NORM_FORMAT_AUTO) {
        if (is_otlp) {
            format = NORM_FORMAT_OTLP;
        } else if (jv_has(root, "event")) {
            format = NORM_FORMAT_EVENT;
        } else {
            return whole(n, NORM_UNKNOWN_FORMAT,
                         "neither OTLP/JSON (resourceSpans, resourceLogs) nor a flat event "
                         "(event)");
        }
    }
    if (format == NORM_FORMAT_EVENT) {
        n->stats.items++;
        n->flags = 0;
        if (flat_event(n, root) != 0) {
            if (n->internal) {
                return -1;
            }
            emit_dead(n, -1, NULL);
        }
        return 0;
    }
    if (!is_otlp) {
        return whole(n, NORM_MISSING_FIELD, "resourceSpans or resourceLogs: required");
    }
    int32_t count = 0;
    if (otlp_walk(n, root, &signal_spans, 1, &count) != 0 ||
        otlp_walk(n, root, &signal_logs, 1, &count) != 0) {
        if (n->internal) {
            return -1;
        }
        emit_dead(n, -1, NULL);
        return 0;
    }
    if (count == 0) {
        return whole(n, NORM_EMPTY, "no spans or log records");
    }
    int32_t index = 0;
    if (otlp_walk(n, root, &signal_spans, 0, &index) != 0 ||
        otlp_walk(n, root, &signal_logs, 0, &index) != 0) {
        return n->internal ? -1 : 0;
    }
    return 0;
}

/* Whether the word or number at byte from of data ends right before byte to: jansson read
 * a token to its end and the byte after it before it judged the token (json-c stops at its
 * first byte), so a byte there that is not UTF-8 came first. */
static int token_ends_at(const char *data, size_t len, size_t from, size_t to)
{
    const unsigned char *p = (const unsigned char *)data + from,
                        *end = (const unsigned char *)data + len;
    if (from >= to || (from > 0 && data[from - 1] == '\\')) {
        return 0;
    }
    if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')) {
        while (p < end && ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z'))) {
            p++;
        }
    } else if (*p == '-' || is_digit(*p)) {
        (void)lex_number(&p, end);
    } else {
        return 0;
    }
    return p == (const unsigned char *)data + to;
}

/* The first byte of the token that ends right before byte end of data (yajl reports where a
 * token it rejected ends; json-c, whose positions the messages keep, where it starts). */
static size_t token_start(const char *data, size_t end)
{
    if (end == 0) {
        return 0;
    }
    size_t i = end - 1;
    unsigned char c = (unsigned char)data[i];
    if (c == '"') { /* back to the opening quote: one not escaped by an odd backslash run */
        while (i > 0) {
            i--;
            if (data[i] == '"') {
                size_t k = i;
                while (k > 0 && data[k - 1] == '\\') {
                    k--;
                }
                if ((i - k) % 2 == 0) {
                    return i;
                }
            }
        }
        return 0;
    }
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) || c == '.' ||
        c == '+' || c == '-') {
        while (i > 0) {
            c = (unsigned char)data[i - 1];
            if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) || c == '.' ||
                  c == '+' || c == '-')) {
                break;
            }
            i--;
        }
    }
    return i;
}

/* json-c's description of the error yajl reported in text, at byte at (as the messages
 * had it). */
static const char *parse_error_desc(const char *text, const char *data, size_t at, size_t len)
{
    static const struct {
        const char *yajl, *desc;
    } map[] = {
        {"separated by a colon", "object property name separator ':' expected"},
        {"inside map, I expect", "object value separator ',' expected"},
        {"after array element", "array value separator ',' expected"},
        {"occurs before a character", "invalid string sequence"},
    };
    if (strstr(text, "invalid object key") != NULL) {
        return at < len && data[at] == '}' ? "unexpected character"
                                           : "quoted object property name expected";
    }
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
        if (strstr(text, map[i].yajl) != NULL) {
            /* right after a number's last digit: json-c read it as part of the number */
            return i >= 1 && i <= 2 && at > 0 && at <= len && is_digit((unsigned char)data[at - 1])
                       ? "number expected"
                       : map[i].desc;
        }
    }
    size_t word = at;
    if (strstr(text, "invalid string in json text") != NULL) { /* true, false, null cut */
        while (word > 0 && data[word - 1] >= 'a' && data[word - 1] <= 'z') {
            word--;
        }
    }
    if (word < len && (data[word] == 't' || data[word] == 'f')) {
        return "boolean expected";
    }
    if (word < len && data[word] == 'n') {
        return "null expected";
    }
    return "unexpected character";
}

/* A parse of data[0..len) and then of more (NULL: none) as one whole input into the tree;
 * returns yajl's status, with its error text in *text (arena) on an error. */
static yajl_status jb_parse(struct jb *b, const char *data, size_t len, const char *more,
                            char **text)
{
    static const yajl_alloc_funcs funcs = {yajl_arena_malloc, yajl_arena_realloc,
                                           yajl_arena_free, NULL};
    yajl_alloc_funcs af = funcs;
    af.ctx = &b->arena;
    b->top = b->depth = 0;
    b->key = NULL;
    b->klen = 0;
    b->dup = b->deep = b->oom = b->root_done = b->part = 0;
    *text = NULL;
    b->h = yajl_alloc(&jb_callbacks, &af, b);
    if (b->h == NULL) {
        b->oom = 1;
        return yajl_status_client_canceled;
    }
    yajl_config(b->h, yajl_dont_validate_strings, 1); /* lex_check() did */
    yajl_status st = yajl_parse(b->h, (const unsigned char *)data, len);
    if (st == yajl_status_ok && more != NULL) {
        st = yajl_parse(b->h, (const unsigned char *)more, strlen(more));
    }
    if (st == yajl_status_ok) {
        b->part = 1;
        st = yajl_complete_parse(b->h);
    }
    if (st == yajl_status_error) {
        *text = (char *)yajl_get_error(b->h, 0, NULL, 0);
    }
    return st;
}

/* Whether yajl's error text is one of the grammar (not the input ending too soon, nor a bad
 * token). */
static int grammar_error(const char *text)
{
    return text != NULL && strncmp(text, "parse error", 11) == 0 &&
           strstr(text, "premature EOF") == NULL;
}

/* Parses the record into *root (valid until the arena's reset; NULL for the document null),
 * or emits its dead letter (not_utf8, invalid_json) and returns -1 (-1 with n->internal
 * when out of memory). Accepts and rejects what jansson (JSON_REJECT_DUPLICATES |
 * JSON_DECODE_ANY) did, with the same reasons; messages give the line and column (json-c's
 * words for grammar errors). */
static int parse_record(struct norm *n, const char *data, size_t len, jv **root)
{
    struct lex lx = {0};
    struct jb *b = n->jb;
    int line, column;
    arena_reset(&b->arena);
    lex_check(data, len, &lx);
    /* A fault counts when the parse does not fail before it (as jansson read the record in
     * one pass): yajl parses up to the fault, as one whole input. */
    size_t upto = lx.fault != LEX_OK ? lx.at : len, at = upto;
    char *text;
    yajl_status st = jb_parse(b, data, upto, NULL, &text);
    /* failed: an error before the end of the input (else a whole document, or the input
     * ended too soon, a fault's place included) */
    int parsed = st == yajl_status_ok, failed = 0;
    const char *desc = NULL;
    if (b->oom) {
        goto oom;
    }
    if (b->root_done) {
        /* the document ended: anything but whitespace after it is an error at its first
         * byte (yajl judged a token after it only once the token ended) */
        size_t end = b->root_end < upto ? b->root_end : upto;
        while (end < upto &&
               (data[end] == ' ' || data[end] == '\t' || data[end] == '\n' || data[end] == '\r')) {
            end++;
        }
        if (end < upto || (!parsed && !b->part)) {
            failed = 1;
            parsed = 0;
            at = end;
            desc = "unexpected character";
        }
    } else if (st == yajl_status_client_canceled) { /* nested too deep */
        failed = 1;
        at = token_start(data, b->part ? upto : yajl_get_bytes_consumed(b->h));
    } else if (!b->part) { /* yajl rejected a token, or where one stands */
        failed = 1;
        at = yajl_get_bytes_consumed(b->h);
        if (text != NULL && strstr(text, "inside map, I expect") != NULL) {
            /* yajl moved back from the token's end by its length (inside a string: not
             * the quotes): the token after the value, from a second parse */
            char *again;
            b->track = 1;
            b->value_end = 0;
            (void)jb_parse(b, data, upto, NULL, &again);
            b->track = 0;
            if (b->oom) {
                goto oom;
            }
            at = b->value_end;
            while (at < upto && (data[at] == ' ' || data[at] == '\t' || data[at] == '\n' ||
                                 data[at] == '\r')) {
                at++;
            }
        } else if (grammar_error(text)) {
            at = token_start(data, at); /* yajl read the whole token */
        } else if (text != NULL && b->root_done == 0) {
            /* a bad token: json-c judged its first byte by the grammar first */
            size_t start;
            if (strstr(text, "invalid char") != NULL && at > 0) {
                at--; /* yajl read that byte */
            }
            for (start = at; start > 0 && strstr(text, "invalid string in json text") != NULL &&
                             data[start - 1] >= 'a' && data[start - 1] <= 'z';
                 start--) {
                /* true, false or null cut (at the byte that differs): from its start */
            }
            char *probe_text;
            yajl_status probe = jb_parse(b, data, start, " 0", &probe_text);
            if (b->oom) {
                goto oom;
            }
            if (probe == yajl_status_client_canceled || grammar_error(probe_text)) {
                text = probe_text;
                at = start;
            } else {
                b->deep = 0;
            }
        }
    } else if (!parsed && lx.tok_end == upto) {
        /* The input ends in a string, number or word (cut by a fault, or the last token):
         * whether one may stand there at all, from its first byte. */
        static const char *const dummies[] = {"\"\"", "0", "true", "false", "null"};
        const char *dummy = NULL;
        switch (data[lx.tok]) {
        case '"':
            dummy = dummies[0];
            break;
        case 't':
            dummy = dummies[2];
            break;
        case 'f':
            dummy = dummies[3];
            break;
        case 'n':
            dummy = dummies[4];
            break;
        default:
            dummy = data[lx.tok] == '-' || is_digit((unsigned char)data[lx.tok]) ? dummies[1]
                                                                                : NULL;
        }
        char *probe_text = text;
        yajl_status probe = dummy != NULL ? jb_parse(b, data, lx.tok, dummy, &probe_text) : st;
        if (b->oom) {
            goto oom;
        }
        if (probe == yajl_status_client_canceled || grammar_error(probe_text)) {
            failed = 1;
            at = lx.tok;
            text = probe_text;
        }
    } else if (!parsed && grammar_error(text)) { /* the last token, read at the end */
        failed = 1;
        at = token_start(data, upto);
    }
    if (failed && lx.fault == LEX_UTF8 && token_ends_at(data, len, at, lx.at)) {
        failed = 0; /* jansson read the whole token, and that byte */
    }
    if (failed) {
        line_column(data, at, &line, &column);
        whole(n, NORM_INVALID_JSON, "%s at line %d, column %d",
              desc != NULL ? desc
              : b->deep    ? "nested too deep"
                           : parse_error_desc(text != NULL ? text : "", data, at, upto),
              line, column);
        return -1;
    }
    if (!parsed && lx.fault == LEX_OK) {
        line_column(data, len, &line, &column);
        whole(n, NORM_INVALID_JSON, "premature end of input at line %d, column %d", line, column);
        return -1;
    }
    if (lx.fault == LEX_UTF8) {
        whole(n, NORM_NOT_UTF8, "invalid UTF-8 at byte %zu", lx.at);
        return -1;
    }
    if (lx.fault != LEX_OK) {
        line_column(data, lx.at, &line, &column);
        whole(n, NORM_INVALID_JSON, "%s at line %d, column %d", lex_fault_names[lx.fault], line,
              column);
        return -1;
    }
    if (b->dup) {
        whole(n, NORM_INVALID_JSON, "duplicate object key");
        return -1;
    }
    *root = b->root.type == JV_NULL ? NULL : &b->root;
    return 0;
oom:
    snprintf(n->errstr, n->errstr_size, "out of memory parsing JSON");
    n->internal = 1;
    return -1;
}

int norm_process(struct norm *n, const struct norm_input *in, norm_outcome_fn fn, void *opaque,
                 char *errstr, size_t errstr_size)
{
    n->in = in;
    n->fn = fn;
    n->opaque = opaque;
    n->stop = 0;
    n->internal = 0;
    n->errstr = errstr;
    n->errstr_size = errstr_size;
    n->steps = 0;
    n->flags = 0;
    n->stats.records++;
    n->rs_valid = 0;
    n->corr_valid = 0;

    const char *data = in->data;
    size_t len = in->len;
    size_t blank = 0;
    while (blank < len && (data[blank] == ' ' || data[blank] == '\t' || data[blank] == '\n' ||
                           data[blank] == '\r')) {
        blank++;
    }
    if (len == 0 || blank == len) {
        whole(n, NORM_EMPTY, len == 0 ? "empty record" : "only whitespace");
        return n->stop;
    }
    if (len > n->opts->max_payload_bytes) {
        whole(n, NORM_OVERSIZED, "%zu bytes, more than max_payload_bytes (%zu)", len,
              n->opts->max_payload_bytes);
        return n->stop;
    }
    if (len > INT_MAX) { /* the tree's limit; far above any sane max_payload_bytes */
        whole(n, NORM_OVERSIZED, "%zu bytes, more than the parser reads", len);
        return n->stop;
    }
    jv *root = NULL;
    if (parse_record(n, data, len, &root) != 0) {
        return n->internal ? -1 : n->stop;
    }
    int rc = process_json(n, root);
    arena_reset(&n->jb->arena); /* the tree */
    if (rc != 0 || n->internal) {
        return -1;
    }
    return n->stop;
}

/* ---- lifecycle ------------------------------------------------------------------------------ */

struct norm *norm_new(const struct bc_avro_registry *reg, const struct norm_options *opts,
                      char *errstr, size_t errstr_size)
{
    struct norm *n = calloc(1, sizeof(*n));
    if (n == NULL) {
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    n->opts = opts;
    n->event_schema = bc_avro_registry_lookup(reg, "TrackingEvent");
    n->dl_schema = bc_avro_registry_lookup(reg, "DeadLetter");
    if (n->event_schema == NULL || n->dl_schema == NULL) {
        snprintf(errstr, errstr_size, "the schema registry lacks TrackingEvent or DeadLetter");
        free(n);
        return NULL;
    }
    n->jb = calloc(1, sizeof(*n->jb));
    if (n->jb == NULL) {
        snprintf(errstr, errstr_size, "out of memory");
        free(n);
        return NULL;
    }
    if (bc_avro_value_new(n->event_schema, &n->event) != 0) {
        snprintf(errstr, errstr_size, "cannot create a TrackingEvent value: %s", avro_strerror());
        jb_free(n->jb);
        free(n);
        return NULL;
    }
    avro_schema_t es = avro_value_get_schema(&n->event);
    if (avro_schema_record_size(es) != EF_COUNT) {
        snprintf(errstr, errstr_size, "TrackingEvent has %zu fields, the normalizer writes %d",
                 avro_schema_record_size(es), (int)EF_COUNT);
        avro_value_decref(&n->event);
        jb_free(n->jb);
        free(n);
        return NULL;
    }
    for (int i = 0; i < EF_COUNT; i++) {
        const char *name = avro_schema_record_field_name(es, i);
        if (name == NULL || strcmp(name, ef_names[i]) != 0) {
            snprintf(errstr, errstr_size, "TrackingEvent field %d is %s, the normalizer writes %s",
                     i, name != NULL ? name : "(none)", ef_names[i]);
            avro_value_decref(&n->event);
            jb_free(n->jb);
            free(n);
            return NULL;
        }
        n->ef_schema[i] = avro_schema_record_field_get_by_index(es, i);
    }
    const int *content[] = {log_content_fields, event_content_fields};
    for (int k = 0; k < 2; k++) { /* sorted by name, as the canonical content has them */
        size_t count = 0;
        for (; content[k][count] >= 0; count++) {
            size_t at = count;
            while (at > 0 &&
                   canon_key_cmp(ef_names[n->content_sorted[k][at - 1]],
                                 ef_names[content[k][count]]) > 0) {
                n->content_sorted[k][at] = n->content_sorted[k][at - 1];
                at--;
            }
            n->content_sorted[k][at] = content[k][count];
        }
        n->content_sorted[k][count] = -1;
    }
    n->canon = calloc(1, sizeof(*n->canon));
    if (n->canon == NULL || (n->canon->state = XXH3_createState()) == NULL) {
        snprintf(errstr, errstr_size, "out of memory");
        free(n->canon);
        avro_value_decref(&n->event);
        jb_free(n->jb);
        free(n);
        return NULL;
    }
    return n;
}

void norm_destroy(struct norm *n)
{
    if (n == NULL) {
        return;
    }
    avro_value_decref(&n->event);
    jb_free(n->jb);
    bc_avro_buf_free(&n->item.buf);
    bc_avro_buf_free(&n->rs.buf);
    bc_avro_buf_free(&n->out.buf);
    free(n->ev_time);
    free(n->raw);
    free(n->material);
    if (n->canon != NULL) {
        XXH3_freeState(n->canon->state);
        free(n->canon);
    }
    free(n);
}

const struct bc_avro_schema *norm_schema_event(const struct norm *n)
{
    return n->event_schema;
}

const struct bc_avro_schema *norm_schema_dead_letter(const struct norm *n)
{
    return n->dl_schema;
}

const struct norm_stats *norm_stats(const struct norm *n)
{
    return &n->stats;
}

/* DeadLetter.raw: the record's bytes as read, or an item's JSON (compact, in payload order)
 * so that many bad items of one big record do not each copy the whole record. */
static int set_raw(avro_value_t *v, const struct norm_input *in, const struct norm_outcome *o)
{
    if (o->item == NULL && !o->null_item) {
        return avro_value_set_bytes(v, (void *)(in->data != NULL ? in->data : ""), in->len);
    }
    char *text = json_text(o->item, 0); /* "null" for a JSON null item */
    if (text == NULL) {
        return -1;
    }
    int rc = avro_value_set_bytes(v, text, strlen(text));
    free(text);
    return rc;
}

int norm_dead_letter_fill(const struct norm_input *in, const struct norm_outcome *outcome,
                          const char *worker, int attempts, const void *key, size_t key_len,
                          avro_value_t *dl)
{
    avro_value_t v, src, u, b;
    const char *reason = norm_reason_name(outcome->reason);
    const char *topic = in->topic != NULL ? in->topic : "";
    if (avro_value_reset(dl) != 0 || avro_value_get_by_name(dl, "reason", &v, NULL) != 0 ||
        avro_value_set_string(&v, reason) != 0 ||
        avro_value_get_by_name(dl, "message", &v, NULL) != 0 ||
        avro_value_set_string(&v, outcome->message != NULL ? outcome->message : "") != 0 ||
        avro_value_get_by_name(dl, "source", &src, NULL) != 0 ||
        avro_value_get_by_name(&src, "topic", &v, NULL) != 0 ||
        avro_value_set_string(&v, topic) != 0 ||
        avro_value_get_by_name(&src, "partition", &v, NULL) != 0 ||
        avro_value_set_int(&v, in->partition) != 0 ||
        avro_value_get_by_name(&src, "offset", &v, NULL) != 0 ||
        avro_value_set_long(&v, in->offset) != 0 ||
        avro_value_get_by_name(&src, "index", &u, NULL) != 0) {
        return -1;
    }
    if (outcome->index < 0) {
        if (avro_value_set_branch(&u, 0, &b) != 0 || avro_value_set_null(&b) != 0) {
            return -1;
        }
    } else if (avro_value_set_branch(&u, 1, &b) != 0 ||
               avro_value_set_int(&b, outcome->index) != 0) {
        return -1;
    }
    if (avro_value_get_by_name(dl, "worker", &v, NULL) != 0 ||
        avro_value_set_string(&v, worker != NULL ? worker : "") != 0 ||
        avro_value_get_by_name(dl, "attempts", &v, NULL) != 0 ||
        avro_value_set_int(&v, attempts) != 0 || avro_value_get_by_name(dl, "raw", &v, NULL) != 0 ||
        set_raw(&v, in, outcome) != 0 || avro_value_get_by_name(dl, "key", &u, NULL) != 0) {
        return -1;
    }
    if (key == NULL) {
        if (avro_value_set_branch(&u, 0, &b) != 0 || avro_value_set_null(&b) != 0) {
            return -1;
        }
    } else if (avro_value_set_branch(&u, 1, &b) != 0 ||
               avro_value_set_bytes(&b, (void *)key, key_len) != 0) {
        return -1;
    }
    if (avro_value_get_by_name(dl, "timestamp_ms", &v, NULL) != 0 ||
        avro_value_set_long(&v, in->timestamp_ms) != 0) {
        return -1;
    }
    return 0;
}
