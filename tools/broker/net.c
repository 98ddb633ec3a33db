/*
 * The event loop: one epoll set with the listening socket, a signalfd (SIGTERM/SIGINT end
 * the loop) and the connections; deadlines come from the timer heap.
 *
 * Framing: a request is a 4-byte big-endian size then that many bytes. A size below 8 or
 * above --max-request-bytes, or any request api.c cannot parse, closes that connection
 * (one log line) and nothing else. A connection stops being read while more than
 * OUT_HIGH_WATER response bytes wait for it, so a client that does not read cannot make
 * the broker buffer without bound.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "bc_log.h"
#include "broker.h"

#define OUT_HIGH_WATER (64u << 20)
#define READ_CHUNK (64u << 10)

static char listen_tag, signal_tag;

int net_listen(struct broker *b, char *errstr, size_t errstr_size)
{
    /* One descriptor per connection and per segment: take what the hard limit allows. */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *ai = NULL;
    char port[16];
    snprintf(port, sizeof(port), "%d", b->opts.listen_port);
    int rc = getaddrinfo(b->opts.listen_host, port, &hints, &ai);
    if (rc != 0) {
        snprintf(errstr, errstr_size, "%s: %s", b->opts.listen_host, gai_strerror(rc));
        return -1;
    }
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 128) != 0) {
        snprintf(errstr, errstr_size, "listen %s:%s: %s", b->opts.listen_host, port,
                 strerror(errno));
        if (fd >= 0) {
            close(fd);
        }
        freeaddrinfo(ai);
        return -1;
    }
    freeaddrinfo(ai);
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    getsockname(fd, (struct sockaddr *)&ss, &sl);
    b->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                             : ((struct sockaddr_in *)&ss)->sin_port);
    b->listen_fd = fd;

    b->epfd = epoll_create1(EPOLL_CLOEXEC);
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    signal(SIGPIPE, SIG_IGN);
    b->signal_fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &listen_tag};
    struct epoll_event sev = {.events = EPOLLIN, .data.ptr = &signal_tag};
    if (b->epfd < 0 || b->signal_fd < 0 || epoll_ctl(b->epfd, EPOLL_CTL_ADD, fd, &ev) != 0 ||
        epoll_ctl(b->epfd, EPOLL_CTL_ADD, b->signal_fd, &sev) != 0) {
        snprintf(errstr, errstr_size, "epoll: %s", strerror(errno));
        return -1;
    }
    return 0;
}

static void conn_update_events(struct broker *b, struct conn *c)
{
    int want_out = c->head != NULL && c->head->ready;
    int paused = c->queued_bytes > OUT_HIGH_WATER;
    if (want_out == c->epoll_out && paused == c->reading_paused) {
        return;
    }
    struct epoll_event ev = {.events = (paused ? 0 : EPOLLIN) | (want_out ? EPOLLOUT : 0),
                             .data.ptr = c};
    epoll_ctl(b->epfd, EPOLL_CTL_MOD, c->fd, &ev);
    c->epoll_out = want_out;
    c->reading_paused = paused;
}

static void slot_free(struct slot *s)
{
    kbuf_free(&s->buf);
    free(s);
}

void conn_close(struct broker *b, struct conn *c, const char *reason)
{
    if (c->closed) {
        return;
    }
    c->closed = 1;
    c->close_reason = reason;
    if (c->prev != NULL) {
        c->prev->next = c->next;
    } else {
        b->conns = c->next;
    }
    if (c->next != NULL) {
        c->next->prev = c->prev;
    }
    epoll_ctl(b->epfd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->fd = -1;
    struct slot *s = c->head;
    while (s != NULL) {
        struct slot *next = s->next;
        if (!s->ready && s->cancel != NULL) {
            s->cancel(b, s);
        }
        slot_free(s);
        s = next;
    }
    c->head = c->tail = NULL;
    char reqs[32], secs[32];
    snprintf(reqs, sizeof(reqs), "%" PRIu64, c->requests);
    snprintf(secs, sizeof(secs), "%.3f", (double)(now_ms() - c->opened_ms) / 1000.0);
    int abnormal = reason != NULL && strcmp(reason, "peer closed") != 0 &&
                   strcmp(reason, "broker stopping") != 0;
    bc_log(abnormal ? BC_LOG_WARN : BC_LOG_INFO, "connection closed", "peer", c->peer,
           "client_id", c->client_id, "requests", reqs, "seconds", secs, "reason", reason, NULL);
    c->next_closed = b->closed_conns;
    b->closed_conns = c;
    b->nconns--;
}

/* Writes ready responses from the head of the queue. */
static void conn_flush(struct broker *b, struct conn *c)
{
    while (!c->closed && c->head != NULL && c->head->ready) {
        struct iovec iov[64];
        int n = 0;
        for (struct slot *s = c->head; s != NULL && s->ready && n < 64; s = s->next) {
            iov[n].iov_base = s->buf.data + s->sent;
            iov[n].iov_len = s->buf.len - s->sent;
            n++;
        }
        ssize_t w = writev(c->fd, iov, n);
        if (w < 0) {
            if (errno == EINTR) {
                continue;
            }
            if (errno != EAGAIN) {
                conn_close(b, c, "write error");
                return;
            }
            break;
        }
        size_t left = (size_t)w;
        c->queued_bytes -= left < c->queued_bytes ? left : c->queued_bytes;
        while (left > 0 && c->head != NULL) {
            struct slot *s = c->head;
            size_t rest = s->buf.len - s->sent;
            if (left < rest) {
                s->sent += left;
                left = 0;
                break;
            }
            left -= rest;
            c->head = s->next;
            if (c->head == NULL) {
                c->tail = NULL;
            }
            slot_free(s);
        }
        if (c->head != NULL && c->head->ready && c->head->sent > 0) {
            break; /* partial write: the socket is full */
        }
    }
    if (!c->closed) {
        conn_update_events(b, c);
    }
}

void slot_complete(struct broker *b, struct slot *s)
{
    struct conn *c = s->conn;
    kbuf_put_i32_at(&s->buf, 0, (int32_t)(s->buf.len - 4));
    s->ready = 1;
    s->cancel = NULL;
    s->owner = NULL;
    c->queued_bytes += s->buf.len;
    if (s == c->head) {
        conn_flush(b, c);
    }
}

static struct timer accept_pause; /* while accepting is paused (descriptors exhausted) */

static void accept_resume(struct broker *b, struct timer *t)
{
    (void)t;
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &listen_tag};
    epoll_ctl(b->epfd, EPOLL_CTL_MOD, b->listen_fd, &ev);
}

static void accept_all(struct broker *b)
{
    for (;;) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        int fd = accept4(b->listen_fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                /* Out of descriptors: the pending connection would keep the listening
                 * socket readable and the loop spinning. Stop accepting for a moment. */
                bc_log(BC_LOG_ERROR, "accept failed, pausing new connections for 100 ms",
                       "error", strerror(errno), NULL);
                struct epoll_event ev = {.events = 0, .data.ptr = &listen_tag};
                epoll_ctl(b->epfd, EPOLL_CTL_MOD, b->listen_fd, &ev);
                timer_add(&b->timers, &accept_pause, now_ms() + 100, accept_resume);
            } else if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED) {
                bc_log(BC_LOG_ERROR, "accept failed", "error", strerror(errno), NULL);
            }
            return;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        struct conn *c = calloc(1, sizeof(*c));
        if (c == NULL) {
            close(fd);
            continue;
        }
        c->fd = fd;
        c->opened_ms = now_ms();
        char host[INET6_ADDRSTRLEN] = "?";
        int port = 0;
        if (ss.ss_family == AF_INET) {
            struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
            inet_ntop(AF_INET, &sin->sin_addr, host, sizeof(host));
            port = ntohs(sin->sin_port);
        } else if (ss.ss_family == AF_INET6) {
            struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
            inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof(host));
            port = ntohs(sin6->sin6_port);
        }
        snprintf(c->peer, sizeof(c->peer), "%s:%d", host, port);
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        if (epoll_ctl(b->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
            close(fd);
            free(c);
            continue;
        }
        b->nconns++;
        c->next = b->conns;
        if (b->conns != NULL) {
            b->conns->prev = c;
        }
        b->conns = c;
        bc_log(BC_LOG_DEBUG, "connection accepted", "peer", c->peer, NULL);
    }
}

/* Reads what is available and dispatches every complete frame. */
static void conn_read(struct broker *b, struct conn *c)
{
    for (int rounds = 0; rounds < 16 && !c->closed; rounds++) {
        if (c->rcap - c->rlen < READ_CHUNK) {
            size_t cap = c->rcap ? c->rcap : READ_CHUNK * 2;
            while (cap - c->rlen < READ_CHUNK) {
                cap *= 2;
            }
            uint8_t *nb = realloc(c->rbuf, cap);
            if (nb == NULL) {
                conn_close(b, c, "out of memory");
                return;
            }
            c->rbuf = nb;
            c->rcap = cap;
        }
        ssize_t n = read(c->fd, c->rbuf + c->rlen, c->rcap - c->rlen);
        if (n == 0) {
            conn_close(b, c, "peer closed");
            return;
        }
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            if (errno != EAGAIN) {
                conn_close(b, c, errno == ECONNRESET ? "peer closed" : "read error");
            }
            break;
        }
        c->rlen += (size_t)n;
        size_t off = 0;
        while (!c->closed && c->rlen - off >= 4) {
            int32_t size = (int32_t)be32(c->rbuf + off);
            if (size < 8 || size > b->opts.max_request_bytes) {
                char sz[32];
                snprintf(sz, sizeof(sz), "%" PRId32, size);
                bc_log(BC_LOG_WARN, "invalid request size", "peer", c->peer, "size", sz, NULL);
                conn_close(b, c, "invalid request size");
                return;
            }
            if (c->rlen - off - 4 < (size_t)size) {
                /* Incomplete: the buffer grows as the frame's bytes arrive, never ahead of
                 * them, so a peer announcing a large frame cannot reserve memory. */
                break;
            }
            const char *reason = NULL;
            c->requests++;
            if (api_dispatch(b, c, c->rbuf + off + 4, (size_t)size, &reason) != 0) {
                conn_close(b, c, reason ? reason : "malformed request");
                return;
            }
            off += 4 + (size_t)size;
        }
        if (c->closed) {
            return;
        }
        if (off > 0) {
            memmove(c->rbuf, c->rbuf + off, c->rlen - off);
            c->rlen -= off;
        }
        if (c->queued_bytes > OUT_HIGH_WATER) {
            break;
        }
        /* Shrink a buffer grown for one large frame. */
        if (c->rlen == 0 && c->rcap > 8 * READ_CHUNK) {
            free(c->rbuf);
            c->rbuf = NULL;
            c->rcap = 0;
        }
    }
    if (!c->closed) {
        conn_flush(b, c);
    }
}

static void free_closed(struct broker *b)
{
    while (b->closed_conns != NULL) {
        struct conn *c = b->closed_conns;
        b->closed_conns = c->next_closed;
        free(c->rbuf);
        free(c);
    }
}

int net_run(struct broker *b)
{
    struct epoll_event evs[64];
    while (!b->stop) {
        int64_t next = timer_next(&b->timers);
        int timeout = -1;
        if (next >= 0) {
            int64_t d = next - now_ms();
            timeout = d < 0 ? 0 : (d > 60000 ? 60000 : (int)d);
        }
        int n = epoll_wait(b->epfd, evs, 64, timeout);
        if (n < 0 && errno != EINTR) {
            bc_log(BC_LOG_ERROR, "epoll_wait failed", "error", strerror(errno), NULL);
            return -1;
        }
        for (int i = 0; i < n; i++) {
            void *tag = evs[i].data.ptr;
            if (tag == &listen_tag) {
                accept_all(b);
            } else if (tag == &signal_tag) {
                struct signalfd_siginfo si;
                while (read(b->signal_fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
                    const char *name = si.ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT";
                    bc_log(BC_LOG_INFO, "signal received, stopping", "signal", name, NULL);
                    b->stop = 1;
                }
            } else {
                struct conn *c = tag;
                if (c->closed) {
                    continue;
                }
                if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
                    conn_read(b, c);
                }
                if (!c->closed && (evs[i].events & EPOLLOUT)) {
                    conn_flush(b, c);
                }
            }
        }
        if (b->data_appended) {
            b->data_appended = 0;
            fetch_wake(b);
        }
        timer_run(&b->timers, b, now_ms());
        if (b->data_appended) {
            b->data_appended = 0;
            fetch_wake(b);
        }
        free_closed(b);
    }
    return 0;
}

void net_shutdown(struct broker *b)
{
    timer_cancel(&b->timers, &accept_pause);
    while (b->conns != NULL) {
        conn_close(b, b->conns, "broker stopping");
    }
    free_closed(b);
    if (b->listen_fd >= 0) {
        close(b->listen_fd);
        b->listen_fd = -1;
    }
    if (b->signal_fd >= 0) {
        close(b->signal_fd);
        b->signal_fd = -1;
    }
    if (b->epfd >= 0) {
        close(b->epfd);
        b->epfd = -1;
    }
}
