/* Attribute cardinality limiter (cardinality.h). */
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "cardinality.h"

#define MAX_KEY 512

int enr_card_limited(const struct enr_card *c, const char *key)
{
    if (c->n_keys == 0) {
        return 1;
    }
    for (size_t i = 0; i < c->n_keys; i++) {
        if (strcmp(c->keys[i], key) == 0) {
            return 1;
        }
    }
    return 0;
}

static void put_be64(unsigned char *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (unsigned char)(v & 0xff);
        v >>= 8;
    }
}

static uint64_t get_be64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) {
        v = (v << 8) | p[i];
    }
    return v;
}

int enr_card_check(struct enr_card *c, const struct enr_card_store *st, const char *key,
                   const void *value, size_t value_len, int64_t ts_ms)
{
    size_t key_len = strlen(key);
    if (key_len > MAX_KEY) {
        key_len = MAX_KEY; /* keys that long are themselves a cardinality problem */
    }
    int64_t w = ts_ms >= 0 ? ts_ms / c->window_ms : -((-ts_ms + c->window_ms - 1) / c->window_ms);
    unsigned char ckey[2 + MAX_KEY];
    memcpy(ckey, "c", 2);
    memcpy(ckey + 2, key, key_len);
    uint64_t count = 0;
    const void *cv;
    size_t cv_len;
    if (st->get(st->opaque, ckey, 2 + key_len, &cv, &cv_len) == 1 && cv_len == 16) {
        int64_t cw = (int64_t)get_be64(cv);
        if (cw >= w) {
            w = cw;
            count = get_be64((const unsigned char *)cv + 8);
        }
    }
    unsigned char vkey[2 + 8 + 16 + MAX_KEY];
    memcpy(vkey, "v", 2);
    put_be64(vkey + 2, (uint64_t)w);
    XXH128_canonical_t h;
    XXH128_canonicalFromHash(&h, XXH3_128bits(value, value_len));
    memcpy(vkey + 10, h.digest, 16);
    memcpy(vkey + 26, key, key_len);
    size_t vkey_len = 26 + key_len;
    const void *seen;
    size_t seen_len;
    if (st->get(st->opaque, vkey, vkey_len, &seen, &seen_len) == 1) {
        return 1;
    }
    if ((int64_t)count >= c->max_values) {
        c->overflows++;
        return 0;
    }
    int64_t start = w * c->window_ms;
    unsigned char counter[16];
    put_be64(counter, (uint64_t)w);
    put_be64(counter + 8, count + 1);
    if (st->put(st->opaque, vkey, vkey_len, "1", 1, start) != 0 ||
        st->put(st->opaque, ckey, 2 + key_len, counter, sizeof(counter), start) != 0) {
        return -1;
    }
    return 1;
}
