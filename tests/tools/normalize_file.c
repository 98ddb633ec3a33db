/*
 * normalize_file: runs the normalizer's core over raw records in a file, without Kafka, and
 * prints what came out as one JSON object, for integration tests that compare it with the
 * generator's ground truth.
 *
 *   normalize_file [--option NAME=VALUE]... [--dump OUT [--messages]] RECORDS.jsonl
 *
 * RECORDS.jsonl is `breadcrumb gen --out-dir`'s format: one record per line,
 * {"key": string|null, "value": string | "value_b64": base64, "timestamp_ms": n}; a record's
 * offset is its line number (from 0), its topic "tracking.raw", partition 0.
 * Output: {"records", "events", "dead_letters", "by_reason": {code: n},
 * "item_dead_letters", "unaccounted": [offsets with no outcome], "ids": {"span": [...],
 * "log": [...], "event": [...]} (event ids of the events, in order), "bad_keys": n (events
 * not keyed by the contract: a span's or log's trace id, else the event id)}.
 * --dump OUT writes one line per outcome: "<offset> <index> E <key> <hex of the encoded
 * TrackingEvent>" or "<offset> <index> D <reason>", for byte comparisons.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "bc_avro.h"
#include "workers/normalizer/normalize.h"

struct state {
    struct norm *norm;
    FILE *dump;
    int messages; /* --messages */
    int64_t offset;
    int outcomes; /* of the current record */
    long events, dead, item_dead, bad_keys;
    long by_reason[NORM_REASON_COUNT];
    json_t *ids[3];
};

static const char *option_values[64][2];
static size_t option_count;

static const char *get_option(void *opaque, const char *name)
{
    (void)opaque;
    for (size_t i = 0; i < option_count; i++) {
        if (strcmp(option_values[i][0], name) == 0) {
            return option_values[i][1];
        }
    }
    return NULL;
}

static int on_outcome(void *opaque, const struct norm_outcome *o)
{
    struct state *st = opaque;
    st->outcomes++;
    if (o->event == NULL) {
        st->dead++;
        st->by_reason[o->reason]++;
        st->item_dead += o->index >= 0;
        if (st->dump != NULL) {
            fprintf(st->dump, "%lld %d D %s%s%s\n", (long long)st->offset, (int)o->index,
                    norm_reason_name(o->reason), st->messages ? " " : "",
                    st->messages ? o->message : "");
        }
        return 0;
    }
    st->events++;
    /* kind and trace_id from the bytes: header, event_id (32 hex chars), kind, trace_id. */
    const uint8_t *p = o->event;
    int k = p[5 + 1 + 32] >> 1;
    char trace_id[33] = "";
    if (p[5 + 1 + 32 + 1] == 2) { /* the string branch, then its length (32: one byte) */
        memcpy(trace_id, p + 5 + 1 + 32 + 1 + 1 + 1, 32);
    }
    if (strcmp(o->key, trace_id[0] != '\0' && k != 2 ? trace_id : o->event_id) != 0) {
        st->bad_keys++;
    }
    json_array_append_new(st->ids[k], json_string(o->event_id));
    if (st->dump != NULL) {
        fprintf(st->dump, "%lld %d E %s ", (long long)st->offset, (int)o->index, o->key);
        for (size_t i = 0; i < o->event_len; i++) {
            fprintf(st->dump, "%02x", ((const uint8_t *)o->event)[i]);
        }
        fputc('\n', st->dump);
    }
    return 0;
}

int main(int argc, char **argv)
{
    const char *path = NULL, *dump = NULL;
    int messages = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--option") == 0 && i + 1 < argc && option_count < 64) {
            char *eq = strchr(argv[++i], '=');
            if (eq == NULL) {
                fprintf(stderr, "normalize_file: --option NAME=VALUE\n");
                return 2;
            }
            *eq = '\0';
            option_values[option_count][0] = argv[i];
            option_values[option_count++][1] = eq + 1;
        } else if (strcmp(argv[i], "--dump") == 0 && i + 1 < argc) {
            dump = argv[++i];
        } else if (strcmp(argv[i], "--messages") == 0) {
            messages = 1;
        } else {
            path = argv[i];
        }
    }
    if (path == NULL) {
        fprintf(stderr, "usage: normalize_file [--option NAME=VALUE]... [--dump OUT [--messages]] FILE\n");
        return 2;
    }
    char errstr[512] = "";
    const char *root = getenv("BC_ROOT");
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s/schemas", root != NULL ? root : ".");
    struct bc_avro_registry *reg = NULL;
    if (bc_avro_registry_load(dir, &reg, errstr, sizeof(errstr)) != 0) {
        fprintf(stderr, "normalize_file: %s\n", errstr);
        return 1;
    }
    struct norm_options opts;
    if (norm_options_from_text(&opts, get_option, NULL, errstr, sizeof(errstr)) != 0) {
        fprintf(stderr, "normalize_file: %s\n", errstr);
        return 2;
    }
    struct state st = {0};
    st.messages = messages;
    st.norm = norm_new(reg, &opts, errstr, sizeof(errstr));
    if (st.norm == NULL) {
        fprintf(stderr, "normalize_file: %s\n", errstr);
        return 1;
    }
    for (int i = 0; i < 3; i++) {
        st.ids[i] = json_array();
    }
    if (dump != NULL && (st.dump = fopen(dump, "w")) == NULL) {
        perror(dump);
        return 1;
    }
    FILE *in = fopen(path, "r");
    if (in == NULL) {
        perror(path);
        return 1;
    }
    json_t *unaccounted = json_array();
    char *line = NULL;
    size_t cap = 0;
    ssize_t got;
    while ((got = getline(&line, &cap, in)) > 0) {
        json_error_t jerr;
        json_t *rec = json_loadb(line, (size_t)got, 0, &jerr);
        if (rec == NULL) {
            fprintf(stderr, "normalize_file: line %lld: %s\n", (long long)st.offset + 1, jerr.text);
            return 1;
        }
        const json_t *v = json_object_get(rec, "value");
        const json_t *b64 = json_object_get(rec, "value_b64");
        unsigned char *data = NULL;
        size_t len = 0;
        if (json_is_string(v)) {
            len = json_string_length(v);
            data = malloc(len + 1);
            memcpy(data, json_string_value(v), len);
        } else if (json_is_string(b64)) {
            size_t blen = json_string_length(b64);
            data = malloc(blen / 4 * 3 + 4);
            int n = EVP_DecodeBlock(data, (const unsigned char *)json_string_value(b64), (int)blen);
            len = n < 0 ? 0 : (size_t)n;
            const char *s = json_string_value(b64);
            while (blen > 0 && s[blen - 1] == '=' && len > 0) {
                len--;
                blen--;
            }
        }
        struct norm_input input = {
            .data = data != NULL ? (const void *)data : "",
            .len = len,
            .timestamp_ms = json_integer_value(json_object_get(rec, "timestamp_ms")),
            .topic = "tracking.raw",
            .partition = 0,
            .offset = st.offset,
        };
        st.outcomes = 0;
        if (norm_process(st.norm, &input, on_outcome, &st, errstr, sizeof(errstr)) != 0) {
            fprintf(stderr, "normalize_file: offset %lld: %s\n", (long long)st.offset, errstr);
            return 1;
        }
        if (st.outcomes == 0) {
            json_array_append_new(unaccounted, json_integer(st.offset));
        }
        free(data);
        json_decref(rec);
        st.offset++;
    }
    free(line);
    fclose(in);
    json_t *by_reason = json_object();
    for (int i = 0; i < NORM_REASON_COUNT; i++) {
        json_object_set_new(by_reason, norm_reason_name((enum norm_reason)i),
                            json_integer(st.by_reason[i]));
    }
    json_t *out = json_pack(
        "{s:I, s:I, s:I, s:I, s:I, s:o, s:o, s:{s:o, s:o, s:o}}", "records", (json_int_t)st.offset,
        "events", (json_int_t)st.events, "dead_letters", (json_int_t)st.dead, "item_dead_letters",
        (json_int_t)st.item_dead, "bad_keys", (json_int_t)st.bad_keys, "by_reason", by_reason,
        "unaccounted", unaccounted, "ids", "span", st.ids[0], "log", st.ids[1], "event", st.ids[2]);
    json_dumpf(out, stdout, JSON_COMPACT);
    fputc('\n', stdout);
    json_decref(out);
    if (st.dump != NULL) {
        fclose(st.dump);
    }
    norm_destroy(st.norm);
    norm_options_free(&opts);
    bc_avro_registry_destroy(reg);
    return 0;
}
