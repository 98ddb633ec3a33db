/* A partition's segmented log with recovery and retention (log.h). */
#include "log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct index_entry {
    int64_t offset;      /* base offset of a batch */
    uint64_t pos;        /* its position in the segment file */
    int64_t max_ts_upto; /* largest max timestamp of the segment's batches up to this one */
};

struct segment {
    int64_t base_offset;
    int fd;
    uint64_t size;       /* valid bytes: every byte below is a whole, checked batch */
    int64_t next_offset; /* offset after the last batch in the segment */
    int64_t max_ts;      /* largest batch max timestamp, -1 when none */
    int64_t mtime_ms;    /* last append (or file mtime at recovery) */
    struct index_entry *idx;
    size_t nidx, capidx;
    uint64_t since_idx; /* bytes appended since the last index entry */
    int dirty;          /* written since the last fdatasync */
};

struct plog {
    char *dir;
    struct plog_opts opts;
    struct segment *segs; /* ordered by base offset; the last is the active one */
    size_t nsegs, capsegs;
    int64_t start_offset;
    int64_t end_offset; /* log end offset == high watermark (single replica) */
    uint64_t size;
};

static void seg_path(const struct plog *log, int64_t base, const char *ext, char *out,
                     size_t cap)
{
    snprintf(out, cap, "%s/%020" PRId64 "%s", log->dir, base, ext);
}

static int index_push(struct segment *s, int64_t offset, uint64_t pos, int64_t max_ts)
{
    if (s->nidx == s->capidx) {
        size_t cap = s->capidx ? s->capidx * 2 : 64;
        struct index_entry *v = realloc(s->idx, cap * sizeof(*v));
        if (v == NULL) {
            return -1;
        }
        s->idx = v;
        s->capidx = cap;
    }
    int64_t upto = max_ts > s->max_ts ? max_ts : s->max_ts;
    s->idx[s->nidx++] = (struct index_entry){offset, pos, upto};
    return 0;
}

/* Records a batch that now sits at pos in s. */
static void seg_note_batch(struct plog *log, struct segment *s, const struct batch_hdr *h,
                           uint64_t pos, size_t n)
{
    if (s->nidx == 0 || s->since_idx >= (uint64_t)log->opts.index_interval) {
        if (index_push(s, h->base_offset, pos, h->max_timestamp) == 0) {
            s->since_idx = 0;
        }
    }
    s->since_idx += n;
    if (h->max_timestamp > s->max_ts) {
        s->max_ts = h->max_timestamp;
    }
    s->next_offset = h->base_offset + h->last_offset_delta + 1;
}

static void seg_free(struct segment *s)
{
    if (s->fd >= 0) {
        close(s->fd);
    }
    s->fd = -1;
    free(s->idx);
    s->idx = NULL;
    s->nidx = s->capidx = 0;
}

static void seg_write_index(struct plog *log, struct segment *s)
{
    char path[4096];
    char tmp[4200];
    seg_path(log, s->base_offset, ".index", path, sizeof(path));
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    FILE *f = fopen(tmp, "wb");
    if (f == NULL) {
        return;
    }
    for (size_t i = 0; i < s->nidx; i++) {
        uint8_t e[8];
        put_be32(e, (uint32_t)(s->idx[i].offset - s->base_offset));
        put_be32(e + 4, (uint32_t)s->idx[i].pos);
        fwrite(e, 1, 8, f);
    }
    if (fclose(f) == 0) {
        rename(tmp, path);
    } else {
        unlink(tmp);
    }
}

static struct segment *seg_new(struct plog *log, int64_t base, char *errstr, size_t errstr_size)
{
    if (log->nsegs == log->capsegs) {
        size_t cap = log->capsegs ? log->capsegs * 2 : 8;
        struct segment *v = realloc(log->segs, cap * sizeof(*v));
        if (v == NULL) {
            snprintf(errstr, errstr_size, "out of memory");
            return NULL;
        }
        log->segs = v;
        log->capsegs = cap;
    }
    char path[4096];
    seg_path(log, base, ".log", path, sizeof(path));
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        snprintf(errstr, errstr_size, "%s: %s", path, strerror(errno));
        return NULL;
    }
    struct segment *s = &log->segs[log->nsegs++];
    memset(s, 0, sizeof(*s));
    s->base_offset = base;
    s->fd = fd;
    s->next_offset = base;
    s->max_ts = -1;
    s->mtime_ms = 0;
    return s;
}

static void seg_unlink(struct plog *log, struct segment *s)
{
    char path[4096];
    seg_path(log, s->base_offset, ".log", path, sizeof(path));
    unlink(path);
    seg_path(log, s->base_offset, ".index", path, sizeof(path));
    unlink(path);
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a;
    int64_t y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* Scans segment s from position 0, checking every batch; sets s->size to the valid end.
 * Returns 1 when the segment ended early (invalid or torn data), 0 when all was valid,
 * -1 on an I/O error. expected: the offset the first batch must carry. */
static int seg_recover(struct plog *log, struct segment *s, int64_t expected, plog_scan_fn scan,
                       void *scan_arg, uint64_t file_size)
{
    size_t cap = 1 << 20;
    uint8_t *buf = malloc(cap);
    if (buf == NULL) {
        return -1;
    }
    uint64_t pos = 0;
    int torn = 0;
    while (pos < file_size) {
        uint8_t hb[BATCH_HEADER_SIZE];
        if (file_size - pos < BATCH_HEADER_SIZE ||
            pread(s->fd, hb, BATCH_HEADER_SIZE, (off_t)pos) != BATCH_HEADER_SIZE) {
            torn = 1;
            break;
        }
        struct batch_hdr h;
        batch_hdr_parse(hb, &h);
        if (h.magic != 2 || h.length < BATCH_HEADER_SIZE - BATCH_LOG_OVERHEAD ||
            batch_total_size(&h) > file_size - pos ||
            (log->opts.allow_gaps ? h.base_offset < expected : h.base_offset != expected) ||
            h.last_offset_delta < 0) {
            torn = 1;
            break;
        }
        size_t n = batch_total_size(&h);
        if (n > cap) {
            uint8_t *nb = realloc(buf, n);
            if (nb == NULL) {
                free(buf);
                return -1;
            }
            buf = nb;
            cap = n;
        }
        if (pread(s->fd, buf, n, (off_t)pos) != (ssize_t)n ||
            batch_crc32c(buf + 21, n - 21) != h.crc) {
            torn = 1;
            break;
        }
        seg_note_batch(log, s, &h, pos, n);
        if (scan != NULL) {
            scan(scan_arg, &h);
        }
        pos += n;
        expected = h.base_offset + h.last_offset_delta + 1;
    }
    free(buf);
    s->size = pos;
    return torn;
}

int plog_open(struct plog **out, const char *dir, const struct plog_opts *opts,
              plog_scan_fn scan, void *scan_arg, int64_t *truncated_bytes, char *errstr,
              size_t errstr_size)
{
    struct plog *log = NULL;
    DIR *d = NULL;
    int64_t *bases = NULL;
    size_t nbases = 0, capbases = 0;

    *truncated_bytes = 0;
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        snprintf(errstr, errstr_size, "%s: %s", dir, strerror(errno));
        goto fail;
    }
    log = calloc(1, sizeof(*log));
    if (log == NULL || (log->dir = strdup(dir)) == NULL) {
        snprintf(errstr, errstr_size, "out of memory");
        goto fail;
    }
    log->opts = *opts;
    d = opendir(dir);
    if (d == NULL) {
        snprintf(errstr, errstr_size, "%s: %s", dir, strerror(errno));
        goto fail;
    }
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        size_t len = strlen(de->d_name);
        if (len != 24 || strcmp(de->d_name + 20, ".log") != 0) {
            continue;
        }
        char *end = NULL;
        long long base = strtoll(de->d_name, &end, 10);
        if (end != de->d_name + 20 || base < 0) {
            continue;
        }
        if (nbases == capbases) {
            capbases = capbases ? capbases * 2 : 16;
            int64_t *v = realloc(bases, capbases * sizeof(*v));
            if (v == NULL) {
                snprintf(errstr, errstr_size, "out of memory");
                goto fail;
            }
            bases = v;
        }
        bases[nbases++] = base;
    }
    closedir(d);
    d = NULL;
    if (nbases > 1) {
        qsort(bases, nbases, sizeof(*bases), cmp_i64);
    }

    int64_t expected = nbases ? bases[0] : 0;
    log->start_offset = expected;
    size_t i = 0;
    for (; i < nbases; i++) {
        if (log->opts.allow_gaps ? bases[i] < expected : bases[i] != expected) {
            break; /* a gap: what follows cannot be trusted */
        }
        struct segment *s = seg_new(log, bases[i], errstr, errstr_size);
        if (s == NULL) {
            goto fail;
        }
        expected = bases[i]; /* equal unless a compacted log has a gap here */
        struct stat st;
        if (fstat(s->fd, &st) != 0) {
            snprintf(errstr, errstr_size, "%s: %s", dir, strerror(errno));
            goto fail;
        }
        s->mtime_ms = (int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000;
        int rc = seg_recover(log, s, expected, scan, scan_arg, (uint64_t)st.st_size);
        if (rc < 0) {
            snprintf(errstr, errstr_size, "%s: recovery failed", dir);
            goto fail;
        }
        expected = s->next_offset;
        log->size += s->size;
        if ((uint64_t)st.st_size != s->size) {
            *truncated_bytes += (int64_t)((uint64_t)st.st_size - s->size);
            if (ftruncate(s->fd, (off_t)s->size) != 0) {
                snprintf(errstr, errstr_size, "%s: truncate: %s", dir, strerror(errno));
                goto fail;
            }
        }
        if (rc == 1) {
            i++;
            break;
        }
    }
    for (; i < nbases; i++) { /* segments after a torn one or a gap */
        struct stat st;
        char path[4096];
        snprintf(path, sizeof(path), "%s/%020" PRId64 ".log", dir, bases[i]);
        if (stat(path, &st) == 0) {
            *truncated_bytes += st.st_size;
        }
        unlink(path);
        snprintf(path, sizeof(path), "%s/%020" PRId64 ".index", dir, bases[i]);
        unlink(path);
    }
    /* An empty segment other than the last is useless; the last one may be fresh. */
    if (log->nsegs == 0 && seg_new(log, expected, errstr, errstr_size) == NULL) {
        goto fail;
    }
    log->end_offset = expected;
    if (log->nsegs == 1 && log->segs[0].size == 0) {
        log->start_offset = log->segs[0].base_offset;
    }
    free(bases);
    *out = log;
    return 0;

fail:
    if (d != NULL) {
        closedir(d);
    }
    free(bases);
    plog_close(log);
    return -1;
}

void plog_close(struct plog *log)
{
    if (log == NULL) {
        return;
    }
    for (size_t i = 0; i < log->nsegs; i++) {
        if (log->segs[i].fd >= 0) {
            seg_write_index(log, &log->segs[i]);
        }
        seg_free(&log->segs[i]);
    }
    free(log->segs);
    free(log->dir);
    free(log);
}

int plog_destroy_dir(struct plog *log)
{
    if (log == NULL) {
        return 0;
    }
    char *dir = strdup(log->dir);
    for (size_t i = 0; i < log->nsegs; i++) {
        seg_free(&log->segs[i]);
    }
    log->nsegs = 0;
    plog_close(log);
    if (dir == NULL) {
        return -1;
    }
    DIR *d = opendir(dir);
    if (d != NULL) {
        struct dirent *de;
        while ((de = readdir(d)) != NULL) {
            if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) {
                continue;
            }
            char path[4096];
            snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
            unlink(path);
        }
        closedir(d);
    }
    int rc = rmdir(dir);
    free(dir);
    return rc;
}

int plog_append(struct plog *log, uint8_t *batch, size_t n, int64_t *base_offset)
{
    struct segment *s = &log->segs[log->nsegs - 1];
    if (s->size > 0 && s->size + n > (uint64_t)log->opts.segment_bytes) {
        char err[256];
        seg_write_index(log, s);
        if (s->dirty) {
            fdatasync(s->fd);
            s->dirty = 0;
        }
        s = seg_new(log, log->end_offset, err, sizeof(err));
        if (s == NULL) {
            return 56;
        }
    }
    struct batch_hdr h;
    batch_set_base_offset(batch, log->end_offset, 0);
    batch_hdr_parse(batch, &h);
    size_t done = 0;
    while (done < n) {
        ssize_t w = pwrite(s->fd, batch + done, n - done, (off_t)(s->size + done));
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w <= 0) {
            if (ftruncate(s->fd, (off_t)s->size) != 0) {
                /* the next recovery will cut the partial batch */
            }
            return 56;
        }
        done += (size_t)w;
    }
    seg_note_batch(log, s, &h, s->size, n);
    s->size += n;
    s->dirty = 1;
    s->mtime_ms = 0;
    log->size += n;
    log->end_offset = h.base_offset + h.last_offset_delta + 1;
    *base_offset = h.base_offset;
    return 0;
}

/* The segment holding offset: the last one whose base offset is <= offset. */
static struct segment *seg_find(struct plog *log, int64_t offset)
{
    size_t lo = 0, hi = log->nsegs;
    while (hi - lo > 1) {
        size_t mid = (lo + hi) / 2;
        if (log->segs[mid].base_offset <= offset) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    return &log->segs[lo];
}

static uint64_t index_lookup(const struct segment *s, int64_t offset)
{
    if (s->nidx == 0) {
        return 0;
    }
    size_t lo = 0, hi = s->nidx;
    while (hi - lo > 1) {
        size_t mid = (lo + hi) / 2;
        if (s->idx[mid].offset <= offset) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    return s->idx[lo].offset <= offset ? s->idx[lo].pos : 0;
}

int plog_read(struct plog *log, int64_t offset, size_t max_bytes, int min_one,
              struct kbuf *out, size_t *copied)
{
    *copied = 0;
    if (offset < log->start_offset || offset > log->end_offset) {
        return 1;
    }
    if (offset == log->end_offset) {
        return 0;
    }
    struct segment *s = seg_find(log, offset);
    while (offset >= s->next_offset || s->size == 0) {
        /* past the end of this segment (compaction leaves gaps): the next one */
        if (s + 1 >= log->segs + log->nsegs) {
            return 0;
        }
        s++;
    }
    uint64_t pos = index_lookup(s, offset);
    /* Skip the batches that end before offset, reading headers only. */
    for (;;) {
        if (pos >= s->size) {
            /* only a compacted log has nothing left here: its next segment */
            if (s + 1 >= log->segs + log->nsegs) {
                return 0;
            }
            s++;
            pos = 0;
            continue;
        }
        uint8_t hb[BATCH_HEADER_SIZE];
        if (pread(s->fd, hb, sizeof(hb), (off_t)pos) != (ssize_t)sizeof(hb)) {
            return 56;
        }
        struct batch_hdr h;
        batch_hdr_parse(hb, &h);
        if (h.base_offset + h.last_offset_delta >= offset) {
            break;
        }
        pos += batch_total_size(&h);
    }
    size_t want = max_bytes;
    if (want > s->size - pos) {
        want = (size_t)(s->size - pos);
    }
    if (want < BATCH_HEADER_SIZE && min_one) {
        want = BATCH_HEADER_SIZE;
    }
    uint8_t *dst = kbuf_reserve(out, want);
    if (dst == NULL) {
        return 56;
    }
    ssize_t got = want ? pread(s->fd, dst, want, (off_t)pos) : 0;
    if (got < 0) {
        return 56;
    }
    /* Cut at the last whole batch. */
    size_t used = 0;
    while (used + BATCH_HEADER_SIZE <= (size_t)got) {
        struct batch_hdr h;
        batch_hdr_parse(dst + used, &h);
        size_t bn = batch_total_size(&h);
        if (used + bn > (size_t)got) {
            if (used == 0 && min_one) {
                /* The first batch is larger than max_bytes: send it whole (KIP-74). */
                uint8_t *d2 = kbuf_reserve(out, bn);
                if (d2 == NULL) {
                    return 56;
                }
                if (pread(s->fd, d2, bn, (off_t)pos) != (ssize_t)bn) {
                    return 56;
                }
                used = bn;
            }
            break;
        }
        used += bn;
    }
    out->len += used;
    *copied = used;
    return 0;
}

/* Offset of the first record with timestamp >= ts inside the batch at pos of s, or -1. */
static int64_t batch_find_ts(struct segment *s, uint64_t pos, const struct batch_hdr *h,
                             int64_t ts, int64_t *found_ts);

struct ts_search {
    int64_t ts;
    int64_t offset;
    int64_t found_ts;
};

static int ts_visit(const struct batch_record *rec, void *arg)
{
    struct ts_search *q = arg;
    if (rec->timestamp >= q->ts) {
        q->offset = rec->offset;
        q->found_ts = rec->timestamp;
        return 1;
    }
    return 0;
}

static int64_t batch_find_ts(struct segment *s, uint64_t pos, const struct batch_hdr *h,
                             int64_t ts, int64_t *found_ts)
{
    size_t n = batch_total_size(h);
    uint8_t *buf = malloc(n);
    if (buf != NULL && pread(s->fd, buf, n, (off_t)pos) == (ssize_t)n) {
        struct ts_search q = {ts, -1, -1};
        int rc = batch_records_foreach_any(buf, n, BATCH_MAX_DECOMPRESSED, ts_visit, &q);
        free(buf);
        if (rc == 1) {
            *found_ts = q.found_ts;
            return q.offset;
        }
    } else {
        free(buf);
    }
    *found_ts = h->max_timestamp;
    return h->base_offset;
}

int64_t plog_offset_for_time(struct plog *log, int64_t ts, int64_t *found_ts)
{
    *found_ts = -1;
    for (size_t i = 0; i < log->nsegs; i++) {
        struct segment *s = &log->segs[i];
        if (s->size == 0 || s->max_ts < ts) {
            continue;
        }
        /* First index entry whose max_ts_upto reaches ts; scan from the entry before. */
        size_t k = 0;
        while (k < s->nidx && s->idx[k].max_ts_upto < ts) {
            k++;
        }
        uint64_t pos = k > 0 ? s->idx[k - 1].pos : 0;
        while (pos < s->size) {
            uint8_t hb[BATCH_HEADER_SIZE];
            if (pread(s->fd, hb, sizeof(hb), (off_t)pos) != (ssize_t)sizeof(hb)) {
                break;
            }
            struct batch_hdr h;
            batch_hdr_parse(hb, &h);
            if (h.max_timestamp >= ts && h.base_offset + h.last_offset_delta >= log->start_offset) {
                int64_t off = batch_find_ts(s, pos, &h, ts, found_ts);
                return off < log->start_offset ? log->start_offset : off;
            }
            pos += batch_total_size(&h);
        }
    }
    return log->end_offset;
}

int64_t plog_start_offset(const struct plog *log)
{
    return log->start_offset;
}

int64_t plog_end_offset(const struct plog *log)
{
    return log->end_offset;
}

uint64_t plog_size(const struct plog *log)
{
    return log->size;
}

static void drop_first_segment(struct plog *log)
{
    struct segment *s = &log->segs[0];
    log->size -= s->size;
    seg_free(s);
    seg_unlink(log, s);
    memmove(&log->segs[0], &log->segs[1], (log->nsegs - 1) * sizeof(*s));
    log->nsegs--;
    log->start_offset = log->segs[0].base_offset;
}

int plog_apply_retention(struct plog *log, int64_t retention_bytes, int64_t retention_ms,
                         int64_t now)
{
    int deleted = 0;
    /* An expired active segment is rolled first so that it can go too (as Kafka does):
     * otherwise a quiet topic would keep its records until segment.bytes is reached. */
    struct segment *active = &log->segs[log->nsegs - 1];
    if (retention_ms >= 0 && active->size > 0 && active->max_ts > 0 &&
        active->max_ts < now - retention_ms) {
        char err[256];
        seg_write_index(log, active);
        if (seg_new(log, log->end_offset, err, sizeof(err)) == NULL) {
            return 0;
        }
    }
    while (log->nsegs > 1) {
        struct segment *s = &log->segs[0];
        int by_size = retention_bytes >= 0 && log->size - s->size >= (uint64_t)retention_bytes;
        int64_t newest = s->max_ts >= 0 ? s->max_ts : s->mtime_ms;
        int by_time = retention_ms >= 0 && newest > 0 && newest < now - retention_ms;
        if (!by_size && !by_time) {
            break;
        }
        drop_first_segment(log);
        deleted++;
    }
    return deleted;
}

int plog_rewrite(struct plog *log, int64_t limit, plog_rewrite_fn fn, void *arg,
                 int64_t *cleaned_end)
{
    int rewritten = 0;
    *cleaned_end = log->start_offset;
    uint8_t *data = NULL;
    struct kbuf out = {0};
    for (size_t i = 0; i + 1 < log->nsegs; i++) {
        struct segment *s = &log->segs[i];
        if (s->next_offset > limit) {
            break;
        }
        free(data);
        data = malloc(s->size ? s->size : 1);
        if (data == NULL || (s->size > 0 && pread(s->fd, data, s->size, 0) != (ssize_t)s->size)) {
            goto fail;
        }
        out.len = 0;
        int abandoned = 0;
        for (uint64_t pos = 0; pos + BATCH_HEADER_SIZE <= s->size;) {
            struct batch_hdr h;
            batch_hdr_parse(data + pos, &h);
            size_t n = batch_total_size(&h);
            if (fn(arg, data + pos, n, &out) != 0) {
                abandoned = 1;
                break;
            }
            pos += n;
        }
        if (out.oom) {
            goto fail;
        }
        if (abandoned) {
            break; /* what follows must not be treated as cleaned */
        }
        *cleaned_end = s->next_offset;
        if (out.len == s->size && (out.len == 0 || memcmp(out.data, data, out.len) == 0)) {
            continue;
        }
        char path[4096], tmp[4200];
        seg_path(log, s->base_offset, ".log", path, sizeof(path));
        snprintf(tmp, sizeof(tmp), "%s.cleaned", path);
        int fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0) {
            goto fail;
        }
        size_t done = 0;
        while (done < out.len) {
            ssize_t w = pwrite(fd, out.data + done, out.len - done, (off_t)done);
            if (w < 0 && errno == EINTR) {
                continue;
            }
            if (w <= 0) {
                close(fd);
                unlink(tmp);
                goto fail;
            }
            done += (size_t)w;
        }
        if (fdatasync(fd) != 0 || rename(tmp, path) != 0) {
            close(fd);
            unlink(tmp);
            goto fail;
        }
        close(s->fd);
        s->fd = fd;
        int64_t next = s->next_offset;
        log->size -= s->size;
        s->size = 0;
        s->nidx = 0;
        s->since_idx = 0;
        s->max_ts = -1;
        s->dirty = 0;
        for (uint64_t pos = 0; pos + BATCH_HEADER_SIZE <= out.len;) {
            struct batch_hdr h;
            batch_hdr_parse(out.data + pos, &h);
            size_t n = batch_total_size(&h);
            seg_note_batch(log, s, &h, pos, n);
            pos += n;
        }
        s->size = out.len;
        s->next_offset = next; /* the segment keeps its offset range */
        log->size += s->size;
        seg_write_index(log, s);
        rewritten++;
    }
    free(data);
    kbuf_free(&out);
    return rewritten;

fail:
    free(data);
    kbuf_free(&out);
    return -1;
}

int plog_sync(struct plog *log)
{
    int rc = 0;
    for (size_t i = 0; i < log->nsegs; i++) {
        struct segment *s = &log->segs[i];
        if (s->dirty) {
            if (fdatasync(s->fd) != 0) {
                rc = -1;
            }
            s->dirty = 0;
        }
    }
    return rc;
}

void plog_set_segment_bytes(struct plog *log, int64_t segment_bytes)
{
    log->opts.segment_bytes = segment_bytes;
}
