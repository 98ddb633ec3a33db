/*
 * The Avro codec: a schema registry backed by schemas/, the Confluent wire format, schema
 * evolution with defaults, a backward-compatibility checker, and Avro <-> JSON conversion.
 *
 * Wire format (Confluent): byte 0x00, the writer schema's id as 4 big-endian bytes, then the
 * value in Avro binary encoding.
 *
 * Registry: schemas/manifest.json lists {subject, version, id, file} entries; ids are
 * assigned once and checked in, never reused or renumbered. Each .avsc file is read once;
 * its original text is kept (avro-c's avro_schema_to_json drops `default`, so that text is
 * what goes to a Confluent registry). Loading parses every schema with avro-c (for values:
 * avro_value_t of avro-c's generic classes) and with jansson (for defaults and aliases), and
 * precomputes a resolution plan for every (writer version, reader version) pair of a subject.
 *
 * Why the binary walk is ours and not avro_value_read/avro_value_write (avro-c 1.11.1):
 * - avro_resolved_reader_new refuses a reader field the writer lacks: it applies no
 *   defaults. Our plans read a writer's data straight into the reader's value, with the
 *   promotions Avro allows and reader-only fields filled from their defaults.
 * - avro_value_read allocates whatever length an untrusted record claims before checking
 *   it against the bytes left; ours checks every length against the bytes left first and
 *   copies into the value's reused buffers (no allocation per record once warm).
 * - avro_value_write accepts an enum index out of range, an unset union and invalid UTF-8
 *   and writes a record no reader can decode; ours refuses the value instead.
 * Bytes written are identical to avro_value_write's for valid values (one block per
 * non-empty array or map), and python3-avro decodes them (tests/integration/0550-*).
 *
 * Threads: a loaded registry is immutable; any number of threads may encode and decode with
 * it concurrently, each with its own values and buffers.
 */
#ifndef BC_AVRO_H
#define BC_AVRO_H

#include <stddef.h>
#include <stdint.h>

#include <avro.h>
#include <jansson.h>

/* Result codes of the codec (negative; 0 is success). bc_avro_strerror names them. */
enum bc_avro_status {
    BC_AVRO_OK = 0,
    BC_AVRO_ERR_BAD_MAGIC = -1,    /* empty record, or first byte not 0x00 */
    BC_AVRO_ERR_UNKNOWN_ID = -2,   /* schema id not in the registry */
    BC_AVRO_ERR_TRUNCATED = -3,    /* header or body ends early */
    BC_AVRO_ERR_TRAILING = -4,     /* bytes left after the value */
    BC_AVRO_ERR_MALFORMED = -5,    /* bad varint, negative length, branch/enum index out of
                                      range, boolean not 0/1, invalid UTF-8 */
    BC_AVRO_ERR_INCOMPATIBLE = -6, /* the writer schema cannot be read as the reader schema */
    BC_AVRO_ERR_VALUE = -7,        /* encode: the value does not fit its schema */
    BC_AVRO_ERR_ARG = -8,          /* wrong arguments (e.g. a value of another schema) */
};

/* A short stable name for a status: "ok", "bad_magic", "unknown_id", "truncated",
 * "trailing_bytes", "malformed", "incompatible", "invalid_value", "invalid_argument". */
const char *bc_avro_strerror(int status);

#define BC_AVRO_HEADER_SIZE 5

struct bc_avro_registry;
/* One version of one subject. Owned by its registry; valid until the registry is destroyed. */
struct bc_avro_schema;

/* ---------------------------------------------------------------------------------------
 * Registry */

/* Loads dir/manifest.json and every schema it lists. Returns 0 and sets *regp (new), or -1
 * with a message in errstr: manifest unreadable or malformed, duplicate id or (subject,
 * version), a file that does not parse, a default that does not fit its field, a schema
 * whose fingerprint differs from the one the manifest registered. */
int bc_avro_registry_load(const char *dir, struct bc_avro_registry **regp, char *errstr,
                          size_t errstr_size);

/* Frees the registry and every schema and plan it holds. NULL is a no-op. Values created with
 * bc_avro_value_new must be released (avro_value_decref) before. */
void bc_avro_registry_destroy(struct bc_avro_registry *reg);

/* The latest version of a subject (e.g. "TrackingEvent"; the record's full name
 * "io.breadcrumb.TrackingEvent" works too), or NULL. Borrowed. */
const struct bc_avro_schema *bc_avro_registry_lookup(const struct bc_avro_registry *reg,
                                                     const char *subject);
/* A given version of a subject, or NULL. Borrowed. */
const struct bc_avro_schema *bc_avro_registry_lookup_version(const struct bc_avro_registry *reg,
                                                             const char *subject, int version);
/* The schema registered under id, or NULL. Borrowed. */
const struct bc_avro_schema *bc_avro_registry_by_id(const struct bc_avro_registry *reg, int32_t id);
/* Schemas in manifest order: i in [0, count). Borrowed. */
size_t bc_avro_registry_count(const struct bc_avro_registry *reg);
const struct bc_avro_schema *bc_avro_registry_at(const struct bc_avro_registry *reg, size_t i);

/* For a remote schema registry (common/bc_schemas.c). Both change a loaded registry: call
 * them only while no other thread uses it.
 * set_id gives schema a new id: records encoded afterwards carry it, peek and decode find the
 * schema by it (and no longer by the old one). */
void bc_avro_registry_set_id(struct bc_avro_registry *reg, const struct bc_avro_schema *schema,
                             int32_t id);
/* add: a writer schema known by its id only (a remote registry's text). Compiled and added
 * as a version 0 of the local subject whose record has the same full name (else of a subject
 * named by that full name), so lookups never pick it; it reads itself and every version of
 * its subject reads it. Returns it (borrowed), or NULL with errstr when the text does not
 * compile or its top-level type is not a record. */
const struct bc_avro_schema *bc_avro_registry_add(struct bc_avro_registry *reg, const char *text,
                                                  int32_t id, char *errstr, size_t errstr_size);

int32_t bc_avro_schema_id(const struct bc_avro_schema *schema);
int bc_avro_schema_version(const struct bc_avro_schema *schema);
/* Borrowed strings: the subject, the file name relative to the registry directory, the
 * original .avsc text, and the record's full name (e.g. "io.breadcrumb.TrackingEvent"). */
const char *bc_avro_schema_subject(const struct bc_avro_schema *schema);
const char *bc_avro_schema_file(const struct bc_avro_schema *schema);
const char *bc_avro_schema_text(const struct bc_avro_schema *schema);
const char *bc_avro_schema_name(const struct bc_avro_schema *schema);
/* The schema's Parsing Canonical Form (Avro specification; borrowed) and its CRC-64-AVRO
 * fingerprint, which the manifest records so that a registered schema cannot change
 * unnoticed (doc, default and alias edits leave it unchanged: they do not change the data). */
const char *bc_avro_schema_canonical(const struct bc_avro_schema *schema);
uint64_t bc_avro_schema_fingerprint(const struct bc_avro_schema *schema);
/* The same for any .avsc text: *canonical (new, may be NULL to skip) and *fingerprint.
 * Returns 0, or -1 with why the text does not parse. */
int bc_avro_fingerprint(const char *text, uint64_t *fingerprint, char **canonical, char *errstr,
                        size_t errstr_size);
/* avro-c's schema and generic value class: borrowed (incref to keep them longer). */
avro_schema_t bc_avro_schema_avro(const struct bc_avro_schema *schema);
avro_value_iface_t *bc_avro_schema_iface(const struct bc_avro_schema *schema);

/* Creates a new generic value of the schema in *value (new: avro_value_decref it). Reuse it
 * for every record: encode reads it, decode resets and fills it. Returns 0 or -1. */
int bc_avro_value_new(const struct bc_avro_schema *schema, avro_value_t *value);

/* ---------------------------------------------------------------------------------------
 * Encoding and decoding */

/* A growable output buffer, reused across records. Zero-initialize it; free with
 * bc_avro_buf_free (which leaves it zeroed and reusable). */
struct bc_avro_buf {
    uint8_t *data;
    size_t len; /* bytes written by the last encode */
    size_t cap;
};
void bc_avro_buf_free(struct bc_avro_buf *buf);
/* Makes room for more bytes after buf->len (the capacity doubles as needed). Returns 0, or
 * -1 when out of memory (buf unchanged). */
int bc_avro_buf_reserve(struct bc_avro_buf *buf, size_t more);

/* Encodes value (of schema's type) in the wire format into buf (replacing its contents).
 * Returns 0, or BC_AVRO_ERR_VALUE with the offending field's path in errstr (e.g.
 * "status.code: enum index 7 out of range (3 symbols)") when a string is unset, a union has
 * no branch selected, an enum index is out of range, a fixed has the wrong size or a string
 * is not UTF-8; then buf->len is 0: nothing partial is ever handed out. */
int bc_avro_encode(const struct bc_avro_schema *schema, avro_value_t *value,
                   struct bc_avro_buf *buf, char *errstr, size_t errstr_size);

/* Encodes the Avro binary body only (no header), appending to buf. Same errors. */
int bc_avro_encode_body(const struct bc_avro_schema *schema, avro_value_t *value,
                        struct bc_avro_buf *buf, char *errstr, size_t errstr_size);

/* Reads the header of a wire-format record: the writer schema (borrowed) in *writer.
 * Returns 0, BC_AVRO_ERR_BAD_MAGIC, BC_AVRO_ERR_TRUNCATED or BC_AVRO_ERR_UNKNOWN_ID. */
int bc_avro_peek(const struct bc_avro_registry *reg, const void *data, size_t len,
                 const struct bc_avro_schema **writer, char *errstr, size_t errstr_size);

/* Decodes a wire-format record into *value, a value of reader's type (bc_avro_value_new),
 * which is reset first. The writer schema is the registry's schema of the record's id; when
 * it is another version of reader's subject the precomputed plan applies: fields matched by
 * name (or alias), Avro's promotions (int -> long/float/double, long -> float/double,
 * float -> double, string <-> bytes), unions by branch type or name, enum symbols by name,
 * reader-only fields from their defaults. reader NULL means "as written" (the writer schema;
 * then *value must be of the writer's type: use bc_avro_peek first).
 * Returns 0 or a negative bc_avro_status with a message in errstr; on error *value holds
 * partial data and must not be used (it stays valid to reset and reuse). Never crashes on
 * any input bytes. */
int bc_avro_decode(const struct bc_avro_registry *reg, const struct bc_avro_schema *reader,
                   const void *data, size_t len, avro_value_t *value, char *errstr,
                   size_t errstr_size);

/* bc_avro_decode of the top-level fields of reader whose bit is set in fields (bit i: the
 * reader's field i, for i < 64; fields from 64 on are always decoded; 0: every field): the
 * others are skipped (bounds-checked only) and left reset. For a stage that reads a few
 * fields of a large record. */
int bc_avro_decode_fields(const struct bc_avro_registry *reg, const struct bc_avro_schema *reader,
                          const void *data, size_t len, avro_value_t *value, uint64_t fields,
                          char *errstr, size_t errstr_size);

/* bc_avro_decode that also tells, in *canonical (1 or 0), whether data is exactly what
 * bc_avro_encode gives for the decoded value with reader's schema (header included): read
 * as written (the record's schema is reader, or reader is NULL) and in the encoder's forms
 * (shortest numbers, arrays and maps in one block without a size, map keys distinct and
 * without a NUL, no NaN). Then data can be written on as the encoded value, byte for byte,
 * without encoding it. *canonical is 0 on any error. */
int bc_avro_decode_canonical(const struct bc_avro_registry *reg,
                             const struct bc_avro_schema *reader, const void *data, size_t len,
                             avro_value_t *value, int *canonical, char *errstr,
                             size_t errstr_size);

/* Decodes a headerless Avro body written with writer's schema as reader's type (NULL: as
 * writer). The two must be versions of one subject (or the same schema). */
int bc_avro_decode_body(const struct bc_avro_schema *writer, const struct bc_avro_schema *reader,
                        const void *data, size_t len, avro_value_t *value, char *errstr,
                        size_t errstr_size);

/* ---------------------------------------------------------------------------------------
 * JSON */

enum bc_avro_json_flags {
    /* Unions as Avro's JSON encoding ({"string": "x"}, null as null) instead of the bare
     * branch value. */
    BC_AVRO_JSON_TAGGED_UNIONS = 1 << 0,
    /* OTLP's shapes as OTLP/JSON users read them: an AnyValue as its bare value, an array
     * of KeyValue as an object {"key": value, ...} (a repeated key: the last wins), an
     * ArrayValue as an array. For people and sinks: not read back by bc_avro_from_json (a
     * bytes value and a string look alike). */
    BC_AVRO_JSON_OTLP = 1 << 1,
};

/* Converts value (of schema's type) to JSON (new reference), or NULL when the value does not
 * fit its schema. Records become objects with fields in schema order (a stable output),
 * enums their symbol, bytes and fixed strings of code points 0-255 (Avro's JSON convention),
 * floats and doubles reals (NaN and infinities: null), unions the branch value (or tagged). */
json_t *bc_avro_to_json(const struct bc_avro_schema *schema, avro_value_t *value, int flags);

/* The text json_dumps(bc_avro_to_json(schema, value, flags), JSON_COMPACT) returns, byte for
 * byte, written into out (replacing its contents; NUL-terminated, the NUL not counted in
 * out->len) without building the JSON tree: for a sink that writes JSON per record. Returns
 * 0, or -1 (out->len 0) where bc_avro_to_json returns NULL or json_dumps fails. */
int bc_avro_to_json_text(const struct bc_avro_schema *schema, avro_value_t *value, int flags,
                         struct bc_avro_buf *out);

/* Fills *value (of schema's type, reset first) from JSON in the form bc_avro_to_json writes:
 * a union takes a tagged object {"<branch type or name>": v} or else the first branch the
 * bare value fits; a missing record field takes its default. Returns 0 or -1 with the path
 * in errstr. For tests, tools and configuration, not for the hot path. */
int bc_avro_from_json(const struct bc_avro_schema *schema, json_t *json, avro_value_t *value,
                      char *errstr, size_t errstr_size);

/* Writes the 5-byte header (magic 0, schema id big-endian) at p; returns the end. */
static inline uint8_t *bc_avro_write_header(uint8_t *p, int32_t schema_id)
{
    uint32_t id = (uint32_t)schema_id;
    p[0] = 0;
    p[1] = (uint8_t)(id >> 24);
    p[2] = (uint8_t)(id >> 16);
    p[3] = (uint8_t)(id >> 8);
    p[4] = (uint8_t)id;
    return p + BC_AVRO_HEADER_SIZE;
}

/* Writes v as an Avro long (zigzag varint, 1 to 10 bytes) at p; returns the end. */
static inline uint8_t *bc_avro_write_long(uint8_t *p, int64_t v)
{
    uint64_t z = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
    while (z >= 0x80) {
        *p++ = (uint8_t)(z | 0x80);
        z >>= 7;
    }
    *p++ = (uint8_t)z;
    return p;
}

/* 1 when s[0..len) is well-formed UTF-8 as the decoder accepts Avro strings (no overlong
 * forms, no surrogates, nothing above U+10FFFF), else 0. */
int bc_avro_utf8_valid(const char *s, size_t len);

/* ---------------------------------------------------------------------------------------
 * Compatibility */

/* Backward compatibility of new_text with old_text (.avsc texts): can a reader with the new
 * schema read every record written with the old one? New fields need defaults, types change
 * only by allowed promotions, enum symbols may be removed only when the new enum has a
 * default, union branches the old schema could write must stay readable, record names must
 * match (or be aliased). Returns 0 when compatible, 1 when not (each problem on its own line
 * in errs, as "path: what"), -1 when a text does not parse (message in errs). */
int bc_avro_check_compat(const char *old_text, const char *new_text, char *errs, size_t errs_size);

/* Checks a registry directory: the manifest (well-formed, ids unique and positive, versions
 * of a subject unique and numbered 1, 2, ... in order, files present, a fingerprint for each
 * schema equal to its file's), every schema (parses, defaults fit), and backward
 * compatibility of each consecutive version pair of a subject.
 * Calls report(opaque, message) once per problem found; returns the number of problems
 * (0: all good). */
int bc_avro_registry_check(const char *dir, void (*report)(void *opaque, const char *message),
                           void *opaque);

#endif
