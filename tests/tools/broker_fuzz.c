/*
 * broker_fuzz: throws hostile input at a Kafka broker, one connection at a time: sizes that
 * are negative, tiny or huge, frames cut short, random bytes, valid headers with random
 * bodies, valid requests with bytes flipped or lengths rewritten, and floods of pipelined
 * requests never read. Every 25 cases a fresh connection must still get a correct
 * ApiVersions answer.
 *
 *   broker_fuzz --brokers HOST:PORT [--seconds S] [--seed N]
 *
 * Exits 0 when the broker answered every health check; prints counts of outcomes.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static struct sockaddr_in addr;
static uint64_t rng_state;

static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int dial(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
        if (fd >= 0) {
            close(fd);
        }
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static int send_all(int fd, const void *p, size_t n)
{
    const uint8_t *b = p;
    while (n > 0) {
        ssize_t w = send(fd, b, n, MSG_NOSIGNAL);
        if (w <= 0) {
            return -1;
        }
        b += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Reads until the broker closes or nothing comes for ms. Returns 1 closed, 0 still open. */
static int drain(int fd, int ms)
{
    uint8_t buf[65536];
    for (;;) {
        struct pollfd pfd = {fd, POLLIN, 0};
        int n = poll(&pfd, 1, ms);
        if (n <= 0) {
            return 0;
        }
        ssize_t r = recv(fd, buf, sizeof(buf), 0);
        if (r <= 0) {
            return 1;
        }
    }
}

/* Request templates: header (api key, version, correlation id, client id "fz") + body. */
static size_t frame(uint8_t *out, int16_t key, int16_t ver, int flex, const uint8_t *body,
                    size_t n)
{
    uint8_t *p = out + 4;
    p[0] = (uint8_t)(key >> 8);
    p[1] = (uint8_t)key;
    p[2] = (uint8_t)(ver >> 8);
    p[3] = (uint8_t)ver;
    put32(p + 4, 7);
    p[8] = 0;
    p[9] = 2;
    p[10] = 'f';
    p[11] = 'z';
    size_t h = 12;
    if (flex) {
        p[h++] = 0;
    }
    memcpy(p + h, body, n);
    put32(out, (uint32_t)(h + n));
    return 4 + h + n;
}

static const uint8_t api_versions_v3[] = {3, 'f', 'z', 2, '1', 0};
static const uint8_t metadata_v4[] = {0, 0, 0, 1, 0, 4, 'f', 'u', 'z', 'z', 1};
static const uint8_t list_offsets_v2[] = {0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 1, 0, 4, 'f', 'u',
                                          'z', 'z', 0, 0, 0, 1, 0, 0, 0, 0, 0xff, 0xff, 0xff,
                                          0xff, 0xff, 0xff, 0xff, 0xff};
static const uint8_t fetch_v11[] = {
    0xff, 0xff, 0xff, 0xff, 0, 0, 0, 10, 0, 0, 0, 1, 0, 0x10, 0, 0, 0,    /* replica..isolation */
    0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff,                                   /* session id/epoch */
    0, 0, 0, 1, 0, 4, 'f', 'u', 'z', 'z', 0, 0, 0, 1, 0, 0, 0, 0,         /* topic, 1 partition */
    0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* epoch, offset, lso */
    0, 0x10, 0, 0,                                                        /* partition max */
    0, 0, 0, 0, 0, 0};                                                    /* forgotten, rack */
static const uint8_t create_topics_v4[] = {0, 0, 0, 1, 0, 5, 'f', 'u', 'z', 'z', '2', 0, 0, 0, 1,
                                           0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0x0e, 'r', 'e', 't',
                                           'e', 'n', 't', 'i', 'o', 'n', '.', 'm', 's', 0, 3, '1',
                                           '0', '0', 0, 0, 0x27, 0x10, 0};

/* A Produce v3 to fuzz/0 carrying one (uncompressed, CRC-valid) batch, built at startup. */
static uint8_t produce_v3[256];
static size_t produce_v3_len;

static uint32_t crc32c(const uint8_t *p, size_t n)
{
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++) {
            c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1)));
        }
    }
    return ~c;
}

static void build_produce(void)
{
    uint8_t batch[128];
    memset(batch, 0, sizeof(batch));
    const uint8_t rec[] = {14, 0, 0, 0, 1, 8, 'f', 'u', 'z', 'z', 'f', 'u', 'z', 0};
    size_t n = 61 + sizeof(rec);
    put32(batch + 8, (uint32_t)(n - 12));
    batch[16] = 2;
    memset(batch + 43, 0xff, 14); /* producer id, epoch, base sequence: none */
    put32(batch + 57, 1);
    memcpy(batch + 61, rec, sizeof(rec));
    put32(batch + 17, crc32c(batch + 21, n - 21));
    uint8_t *p = produce_v3;
    size_t k = 0;
    p[k++] = 0xff;
    p[k++] = 0xff; /* transactional id null */
    p[k++] = 0;
    p[k++] = 1; /* acks 1 */
    put32(p + k, 5000);
    k += 4;
    put32(p + k, 1);
    k += 4;
    p[k++] = 0;
    p[k++] = 4;
    memcpy(p + k, "fuzz", 4);
    k += 4;
    put32(p + k, 1);
    k += 4;
    put32(p + k, 0);
    k += 4;
    put32(p + k, (uint32_t)n);
    k += 4;
    memcpy(p + k, batch, n);
    produce_v3_len = k + n;
}

static int health_check(void)
{
    int fd = dial();
    if (fd < 0) {
        return -1;
    }
    uint8_t req[64];
    size_t n = frame(req, 18, 3, 1, api_versions_v3, sizeof(api_versions_v3));
    uint8_t resp[4096];
    size_t got = 0;
    int rc = -1;
    if (send_all(fd, req, n) == 0) {
        double deadline = now_s() + 10;
        while (now_s() < deadline) {
            struct pollfd pfd = {fd, POLLIN, 0};
            if (poll(&pfd, 1, 100) <= 0) {
                continue;
            }
            ssize_t r = recv(fd, resp + got, sizeof(resp) - got, 0);
            if (r <= 0) {
                break;
            }
            got += (size_t)r;
            if (got >= 4 && got >= 4 + ((size_t)resp[0] << 24 | (size_t)resp[1] << 16 |
                                        (size_t)resp[2] << 8 | resp[3])) {
                /* correlation id 7, error 0 */
                rc = (got >= 10 && resp[7] == 7 && resp[8] == 0 && resp[9] == 0) ? 0 : -1;
                break;
            }
        }
    }
    close(fd);
    return rc;
}

int main(int argc, char **argv)
{
    const char *brokers = NULL;
    double seconds = 10;
    uint64_t seed = (uint64_t)time(NULL);
    static struct option opts[] = {{"brokers", 1, NULL, 'b'}, {"seconds", 1, NULL, 's'},
                                   {"seed", 1, NULL, 'r'}, {NULL, 0, NULL, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'b': brokers = optarg; break;
        case 's': seconds = atof(optarg); break;
        case 'r': seed = strtoull(optarg, NULL, 10); break;
        default: return 2;
        }
    }
    if (brokers == NULL || strchr(brokers, ':') == NULL) {
        fprintf(stderr, "usage: broker_fuzz --brokers HOST:PORT [--seconds S] [--seed N]\n");
        return 2;
    }
    rng_state = seed * 2654435761u + 1;
    printf("seed %" PRIu64 "\n", seed);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)atoi(strchr(brokers, ':') + 1));
    inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
    build_produce();

    static const int16_t keys[] = {0, 1, 2, 3, 18, 19, 20, 22, 32, 8, 9, 10, 11, 12, 99, -1};
    const struct {
        int16_t key, ver;
        int flex;
        const uint8_t *body;
        size_t n;
    } templates[] = {
        {18, 3, 1, api_versions_v3, sizeof(api_versions_v3)},
        {3, 4, 0, metadata_v4, sizeof(metadata_v4)},
        {2, 2, 0, list_offsets_v2, sizeof(list_offsets_v2)},
        {1, 11, 0, fetch_v11, sizeof(fetch_v11)},
        {19, 4, 0, create_topics_v4, sizeof(create_topics_v4)},
        {0, 3, 0, produce_v3, 0},
    };
    const size_t ntemplates = sizeof(templates) / sizeof(templates[0]);
    uint64_t cases = 0, closed = 0, open_ = 0, checks = 0;
    static uint8_t buf[1 << 20];
    double end = now_s() + seconds;
    while (now_s() < end) {
        int fd = dial();
        if (fd < 0) {
            fprintf(stderr, "cannot connect: %s\n", strerror(errno));
            return 1;
        }
        int kind = (int)(rnd() % 9);
        size_t n = 0;
        switch (kind) {
        case 0: /* huge size */
            put32(buf, 0x7fffff00u + (uint32_t)(rnd() % 255));
            n = 4 + rnd() % 64;
            break;
        case 1: /* negative or tiny size */
            put32(buf, rnd() % 2 ? 0x80000000u + (uint32_t)(rnd() % 1000) : (uint32_t)(rnd() % 8));
            n = 4 + rnd() % 16;
            break;
        case 2: /* random bytes, plausible size */
            n = 8 + rnd() % 4096;
            for (size_t i = 4; i < n; i++) {
                buf[i] = (uint8_t)rnd();
            }
            put32(buf, (uint32_t)(n - 4));
            break;
        case 3: { /* valid header, random body */
            int16_t key = keys[rnd() % (sizeof(keys) / sizeof(keys[0]))];
            int16_t ver = (int16_t)(rnd() % 13);
            uint8_t body[2048];
            size_t bn = rnd() % sizeof(body);
            for (size_t i = 0; i < bn; i++) {
                body[i] = (uint8_t)rnd();
            }
            n = frame(buf, key, ver, (int)(rnd() % 2), body, bn);
            break;
        }
        case 4:
        case 5: { /* mutated valid request */
            size_t t = rnd() % ntemplates;
            size_t bn = templates[t].n ? templates[t].n : produce_v3_len;
            n = frame(buf, templates[t].key, templates[t].ver, templates[t].flex, templates[t].body,
                      bn);
            int flips = 1 + (int)(rnd() % 4);
            for (int f = 0; f < flips; f++) {
                size_t at = 4 + rnd() % (n - 4);
                buf[at] = kind == 4 ? (uint8_t)(buf[at] ^ (1u << (rnd() % 8)))
                                    : (uint8_t)(rnd() % 2 ? 0xff : 0x7f);
            }
            break;
        }
        case 6: { /* a frame cut short, then close */
            size_t t = rnd() % ntemplates;
            size_t bn = templates[t].n ? templates[t].n : produce_v3_len;
            n = frame(buf, templates[t].key, templates[t].ver, templates[t].flex, templates[t].body,
                      bn);
            n = 4 + rnd() % (n - 4);
            break;
        }
        case 7: { /* a truncated body with a size that matches it */
            size_t t = rnd() % ntemplates;
            size_t bn = templates[t].n ? templates[t].n : produce_v3_len;
            n = frame(buf, templates[t].key, templates[t].ver, templates[t].flex, templates[t].body,
                      rnd() % bn);
            break;
        }
        case 8: { /* a flood of pipelined valid fetches, never read */
            size_t one = frame(buf, 1, 11, 0, fetch_v11, sizeof(fetch_v11));
            size_t copies = 1 + rnd() % 2000;
            for (size_t i = 1; i < copies && (i + 1) * one < sizeof(buf); i++) {
                memcpy(buf + i * one, buf, one);
                n = (i + 1) * one;
            }
            if (n == 0) {
                n = one;
            }
            break;
        }
        }
        (void)send_all(fd, buf, n);
        if (kind == 6 || kind == 8) {
            shutdown(fd, SHUT_WR);
        }
        if (drain(fd, kind == 8 ? 5 : 100)) {
            closed++;
        } else {
            open_++;
        }
        close(fd);
        cases++;
        if (cases % 25 == 0) {
            if (health_check() != 0) {
                fprintf(stderr, "health check failed after %" PRIu64 " cases (last kind %d)\n",
                        cases, kind);
                return 1;
            }
            checks++;
        }
    }
    if (health_check() != 0) {
        fprintf(stderr, "final health check failed\n");
        return 1;
    }
    printf("RESULT fuzz: %" PRIu64 " hostile cases (%" PRIu64 " closed by the broker, %" PRIu64
           " left open), %" PRIu64 " health checks passed\n",
           cases, closed, open_, checks + 1);
    return 0;
}
