#include "http/server.h"

#include "api/cache.h"
#include "core/cpu_wait.h"
#include "core/error.h"
#include "core/log.h"
#include "core/time.h"
#include "http/h1.h"
#include "ops/metrics.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

/*
 * recd's HTTP/1.1 server: one event loop per worker thread, each with its own listening socket
 * (SO_REUSEPORT: the kernel spreads new connections over them, and balance() evens out what
 * its hash leaves uneven) and its own edge-triggered epoll set, so a connection lives on one
 * thread from its first request to close and nothing is locked on the request path. A response goes out as
 * its head and an in-memory body in one sendmsg, or its head (MSG_MORE) then its file by sendfile until the
 * socket is full. Request heads are parsed by http_parser through src/http/h1.c.
 */

#define CONN_TIMEOUT_S 30   /* no progress either way for this long: closed */
#define HEAD_TIMEOUT_S 30   /* a request head must arrive whole within this of its first byte */
#define LINGER_S       5    /* after a last response, unread input is drained this long */
#define STOP_GRACE_S   10   /* at shutdown, responses being sent get this long to finish */
#define CONN_LIMIT     4096 /* open connections in all loops together */
#define FREE_BUFS      64   /* request buffers each loop keeps for reuse */
#define EVENTS         256
#define RUN_BUDGET     16    /* requests one connection may have answered per wake-up */
#define LOG_FLUSH      8192  /* access-log bytes that are written at once */
#define LOG_DELAY_US   10000 /* or once the oldest line is this old */
#define INBOX          256   /* accepted connections waiting to be adopted by another loop */

struct loop;

struct conn {
    int fd;
    struct loop *l;
    struct conn *prev, *next; /* the loop's connections */
    struct conn *again;       /* on the loop's list to run again without an event */
    int queued;
    struct recd_h1 h;
    unsigned char addr[16];
    size_t addr_len;
    int64_t last_io_us; /* last progress either way */
    int64_t t0_us;      /* when the current request's first byte was parsed, or 0 */
    int drained;        /* the last read was short: the socket held no more, and new input
                         * brings a new edge, so no read is tried until then */
    int lingering;      /* the last response is out: draining input until EOF or LINGER_S */
    int64_t linger_until_us;
    /* The response being sent. */
    int sending;
    int close_after;
    char head[RECD_H1_RESPONSE_HEAD_MAX];
    size_t head_len, head_off;
    const char *body;
    size_t body_len, body_off;
    char *owned;                          /* malloc'd body, or NULL */
    struct recd_api_cache_ref *ref;       /* page-cache body reference, or NULL */
    int file;                             /* file body, or -1 */
    struct recd_api_cache_file *file_ref; /* the cache's reference lending `file`, or NULL */
    off_t file_off;
    int64_t file_left;
    /* For the access line and the metrics. */
    int status;
    int64_t bytes;
    const char *route; /* the handler's route template, or NULL */
    int in_flight;     /* counted in recd_http_requests_in_flight */
};

struct loop {
    struct recd_http *sv;
    pthread_t thread;
    int ep, lfd, wake;
    void *ts;
    struct conn *conns;
    struct conn *again;
    char *free_bufs[FREE_BUFS];
    unsigned nfree;
    unsigned nconns;
    atomic_uint load; /* connections this loop owns or has been handed: see balance() */
    pthread_mutex_t inbox_mu;
    struct handoff {
        int fd;
        struct sockaddr_storage ss;
    } inbox[INBOX];
    unsigned ninbox;
    int inbox_fd;       /* eventfd: the inbox has connections */
    int accept_blocked; /* accept() ran out of descriptors: retried on the next tick */
    int stopping;
    int64_t stop_deadline_us;
    char date[40];
    time_t date_s;
    struct recd_buf log;  /* access lines not yet written */
    int64_t log_since_us; /* when the oldest of them was made */
    /* The time after the last epoll_wait: progress stamps for the timeouts (seconds apart) need
     * no clock read of their own (75 ns each here, ~4 a request). */
    int64_t now_us;
    _Atomic int64_t beat_us; /* the loop's last tick (about once a second): recd_http_alive */
};

struct recd_http {
    struct recd_http_opts o;
    struct loop *loops;
    unsigned nloops;
    atomic_uint conns;
    atomic_int stop;
};

/* --- Small helpers ------------------------------------------------------------------------- */

static void update_date(struct loop *l, time_t now)
{
    if (now == l->date_s)
        return;
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(l->date, sizeof l->date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    l->date_s = now;
}

static void flush_log(struct loop *l)
{
    size_t off = 0;
    while (off < l->log.len) {
        ssize_t n = write(STDERR_FILENO, l->log.p + off, l->log.len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break; /* stderr is gone: the lines are lost, the server goes on */
        off += (size_t)n;
    }
    recd_buf_reset(&l->log);
}

/* The request's path for the access line: never the query (signed links carry secrets there);
 * bytes that could break the line or its fields escaped, so the result is printable ASCII (and
 * for JSON without a quote or a backslash). */
static void add_path(struct recd_buf *b, const struct recd_h1 *h, int json)
{
    size_t n = 0;
    if (h->target.p) {
        const char *q = memchr(h->target.p, '?', h->target.n);
        n = q ? (size_t)(q - h->target.p) : h->target.n;
    }
    if (n > 512)
        n = 512;
    if (!n)
        recd_buf_addc(b, '-');
    /* Runs of plain bytes are copied whole: a byte at a time this was ~1,500 instructions of the
     * ~27,000 a cached list page costs in user space (callgrind). */
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)h->target.p[i];
        if (ch <= 0x20 || ch >= 0x7f || (json && (ch == '"' || ch == '\\'))) {
            recd_buf_add(b, h->target.p + run, i - run);
            recd_buf_printf(b, "%%%02X", ch);
            run = i + 1;
        }
    }
    recd_buf_add(b, h->target.p + run, n - run);
}

/* The access line as one JSON object (--log-format json), with what a log shipper indexes. */
static void add_json_line(struct recd_buf *b, const struct conn *c, int aborted, int64_t us)
{
    const struct recd_h1 *h = &c->h;
    char when[32], method[200], addr[INET6_ADDRSTRLEN] = "";
    recd_log_time(when);
    recd_log_json_esc(method, sizeof method, h->method_len ? h->method : "-",
                      h->method_len ? (h->method_len > 32 ? 32 : h->method_len) : 1);
    if (c->addr_len)
        inet_ntop(c->addr_len == 4 ? AF_INET : AF_INET6, c->addr, addr, sizeof addr);
    recd_buf_printf(b,
                    "{\"time\":\"%s\",\"level\":\"info\",\"type\":\"access\",\"method\":\"%s\",\"path\":\"",
                    when, method);
    add_path(b, h, 1);
    recd_buf_printf(b,
                    "\",\"route\":%s%s%s,\"status\":%d,\"bytes\":%lld,\"duration_us\":%lld,\"remote\":\"%s\","
                    "\"aborted\":%s}\n",
                    c->route ? "\"" : "", c->route ? c->route : "null", c->route ? "\"" : "", c->status,
                    (long long)c->bytes, (long long)us, addr, aborted ? "true" : "false");
}

/*
 * One access line per request: never the query (signed links carry secrets there) nor any
 * header; bytes that could break the line or its fields are escaped.
 */
static void log_request(struct conn *c, int aborted)
{
    struct recd_h1 *h = &c->h;
    struct recd_buf *b = &c->l->log;
    if (!b->len)
        c->l->log_since_us = c->l->now_us;
    int64_t t0 = c->t0_us ? c->t0_us : recd_now_us(), us = recd_now_us() - t0;
    if (recd_log_json()) {
        add_json_line(b, c, aborted, us);
    } else {
        recd_buf_adds(b, "access ");
        if (h->method_len)
            recd_buf_add(b, h->method, h->method_len > 32 ? 32 : h->method_len);
        else
            recd_buf_addc(b, '-');
        recd_buf_addc(b, ' ');
        add_path(b, h, 0);
        /* Not printf: this runs once a request (see recd_h1_response_head). */
        recd_buf_addc(b, ' ');
        recd_buf_addi(b, c->status);
        recd_buf_addc(b, ' ');
        recd_buf_addi(b, c->bytes);
        recd_buf_addc(b, ' ');
        recd_buf_addi(b, us);
        recd_buf_adds(b, aborted ? "us aborted\n" : "us\n");
    }
    if (b->len > LOG_FLUSH)
        flush_log(c->l);
    /* Per thread, no lock: the registry keeps this loop's own slots (ops/metrics.h). */
    recd_metrics_http(c->route, (unsigned)h->m, c->status, (uint64_t)c->bytes, us);
    if (c->in_flight) {
        recd_metric_gauge_add(RECD_MET_HTTP_IN_FLIGHT, 0, -1);
        c->in_flight = 0;
    }
}

static char *take_buf(struct loop *l)
{
    if (l->nfree)
        return l->free_bufs[--l->nfree];
    return malloc(RECD_H1_BUF_SIZE);
}

static void give_buf(struct loop *l, char *b)
{
    if (!b)
        return;
    if (l->nfree < FREE_BUFS)
        l->free_bufs[l->nfree++] = b;
    else
        free(b);
}

/* Lets go of the response body, whatever kind it is. */
static void drop_response(struct conn *c)
{
    free(c->owned);
    c->owned = NULL;
    recd_api_cache_release(c->ref);
    c->ref = NULL;
    if (c->file_ref)
        recd_api_cache_file_release(c->file_ref);
    else if (c->file >= 0)
        close(c->file);
    c->file_ref = NULL;
    c->file = -1;
    c->body = NULL;
    c->body_len = c->body_off = 0;
    c->file_left = 0;
    c->head_len = c->head_off = 0;
    c->sending = 0;
}

static void conn_close(struct conn *c)
{
    struct loop *l = c->l;
    /* A request that had begun and got no (whole) answer is logged as aborted. */
    if (c->sending || (c->h.target.p && !c->lingering))
        log_request(c, 1);
    drop_response(c);
    close(c->fd);
    give_buf(l, c->h.buf);
    recd_h1_free(&c->h);
    if (c->prev)
        c->prev->next = c->next;
    else
        l->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    if (c->queued) {
        /* rare: unlink from the again list */
        for (struct conn **pp = &l->again; *pp; pp = &(*pp)->again)
            if (*pp == c) {
                *pp = c->again;
                break;
            }
    }
    l->nconns--;
    atomic_fetch_sub(&l->load, 1);
    atomic_fetch_sub(&l->sv->conns, 1);
    recd_metric_gauge_add(RECD_MET_HTTP_CONNECTIONS, 0, -1);
    free(c);
}

/* --- Responses ------------------------------------------------------------------------------ */

/* Sends what the socket takes. 1: all sent; 0: the socket is full (EPOLLOUT resumes); -1: gone. */
static int send_some(struct conn *c)
{
    while (c->head_off < c->head_len || c->body_off < c->body_len) {
        struct iovec iov[2];
        int n = 0;
        if (c->head_off < c->head_len)
            iov[n++] = (struct iovec){c->head + c->head_off, c->head_len - c->head_off};
        if (c->body_off < c->body_len)
            iov[n++] = (struct iovec){(void *)(c->body + c->body_off), c->body_len - c->body_off};
        struct msghdr m = {.msg_iov = iov, .msg_iovlen = (size_t)n};
        ssize_t w = sendmsg(c->fd, &m, MSG_NOSIGNAL | (c->file_left > 0 ? MSG_MORE : 0));
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return errno == EAGAIN ? 0 : -1;
        }
        c->last_io_us = c->l->now_us;
        size_t k = (size_t)w, hk = c->head_len - c->head_off;
        if (k >= hk) {
            c->head_off = c->head_len;
            c->body_off += k - hk;
        } else
            c->head_off += k;
    }
    while (c->file_left > 0) {
        size_t step = c->file_left > (1 << 30) ? (1 << 30) : (size_t)c->file_left;
        ssize_t w = sendfile(c->fd, c->file, &c->file_off, step);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return errno == EAGAIN ? 0 : -1;
        }
        if (w == 0)
            return -1; /* the file is shorter than it was: the promised length cannot be kept */
        c->last_io_us = c->l->now_us;
        c->file_left -= w;
    }
    return 1;
}

/*
 * Takes over the response `rs` (its body, its file or its cache reference), writes its head
 * and starts sending. The request's bytes stay in the buffer until it is all sent.
 */
static void respond(struct conn *c, struct recd_response *rs, int keep_alive)
{
    struct recd_h1 *h = &c->h;
    int head_only = h->m == RECD_M_HEAD;
    uint64_t length;
    c->file = -1;
    if (rs->fd >= 0) {
        length = (uint64_t)rs->fd_size;
        if (!head_only) {
            c->file = rs->fd;
            c->file_ref = rs->fd_ref;
            c->file_off = rs->fd_offset;
            c->file_left = rs->fd_size;
            rs->fd = -1;
            rs->fd_ref = NULL;
        }
    } else if (rs->shared) {
        length = rs->shared_len;
        if (!head_only) {
            c->body = rs->shared;
            c->body_len = rs->shared_len;
            c->ref = rs->shared_ref;
            rs->shared = NULL;
            rs->shared_ref = NULL;
        }
    } else {
        size_t len;
        char *body = recd_buf_steal(&rs->body, &len);
        length = len;
        if (!head_only && len) {
            c->owned = body;
            c->body = body;
            c->body_len = len;
        } else
            free(body);
    }
    c->close_after = !keep_alive || c->l->stopping;
    c->head_len =
        recd_h1_response_head(c->head, sizeof c->head, rs, length, !c->close_after, h->http10, c->l->date);
    if (!c->head_len) {
        /* Cannot happen: every header is bounded. Answer something rather than nothing. */
        drop_response(c);
        static const char fallback[] = "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n"
                                       "Connection: close\r\n\r\n";
        memcpy(c->head, fallback, sizeof fallback - 1);
        c->head_len = sizeof fallback - 1;
        c->close_after = 1;
        rs->status = 500;
        length = 0;
    }
    c->status = rs->status;
    c->bytes = (int64_t)length;
    c->route = rs->route;
    c->sending = 1;
}

/* A request is in flight from when it is handed to the handler (or refused) until its access line. */
static void count_in_flight(struct conn *c)
{
    if (!c->in_flight) {
        recd_metric_gauge_add(RECD_MET_HTTP_IN_FLIGHT, 0, 1);
        c->in_flight = 1;
    }
}

static void refuse(struct conn *c)
{
    count_in_flight(c);
    struct recd_response rs;
    recd_response_init(&rs);
    recd_api_error(&rs, c->h.err, recd_h1_wants_json(c->h.target), c->h.why);
    respond(c, &rs, 0);
    recd_response_free(&rs);
}

static const char *header_of(const struct recd_request *rq, const char *name)
{
    return recd_h1_header(rq->conn, name);
}

static void client_address(const struct sockaddr_storage *ss, struct conn *c)
{
    if (ss->ss_family == AF_INET) {
        memcpy(c->addr, &((const struct sockaddr_in *)ss)->sin_addr, 4);
        c->addr_len = 4;
    } else if (ss->ss_family == AF_INET6) {
        memcpy(c->addr, &((const struct sockaddr_in6 *)ss)->sin6_addr, 16);
        c->addr_len = 16;
    }
}

/* Runs the request through the handler and starts its response. */
static void answer(struct conn *c)
{
    struct loop *l = c->l;
    struct recd_h1 *h = &c->h;
    struct recd_response rs;
    recd_response_init(&rs);
    count_in_flight(c);
    if (!l->ts)
        l->ts = l->sv->o.thread_open(l->sv->o.cls); /* the cause may have passed */
    if (!l->ts) {
        recd_api_error(&rs, RECD_E_UNAVAILABLE, recd_h1_wants_json(h->target), NULL);
    } else {
        struct recd_request rq = {
            .method = h->m,
            .target = h->target,
            .authorization = recd_h1_header(h, "Authorization"),
            .header = header_of,
            .conn = h,
            .now_us = c->t0_us,
            .now_s = c->t0_us / RECD_US_PER_SEC,
            .client_len = c->addr_len,
        };
        memcpy(rq.client, c->addr, c->addr_len);
        if (h->form)
            rq.body = (struct recd_str){h->body.p ? h->body.p : "", h->body.len};
        l->sv->o.handle(l->sv->o.cls, l->ts, &rq, &rs);
    }
    respond(c, &rs, h->keep_alive);
    recd_response_free(&rs);
}

/* --- The connection state machine ---------------------------------------------------------- */

static void begin_linger(struct conn *c)
{
    /* Closing with unread input would reset the connection and could destroy the answer
     * before the client reads it (a 413 to a client still sending): stop writing, drain. */
    shutdown(c->fd, SHUT_WR);
    c->lingering = 1;
    c->linger_until_us = recd_now_us() + (int64_t)LINGER_S * RECD_US_PER_SEC;
}

/* The request was answered in full. Returns 0 to go on, -1 when the connection is done. */
static int finish_request(struct conn *c)
{
    log_request(c, 0);
    drop_response(c);
    /* A next request that is abandoned before its answer is logged and counted as status 0. */
    c->route = NULL;
    c->status = 0;
    c->bytes = 0;
    if (c->close_after) {
        begin_linger(c);
        return 0;
    }
    recd_h1_next(&c->h);
    c->t0_us = 0;
    return 0;
}

/* Between requests a connection keeps no buffer: it goes back to the loop. */
static void release_idle_buf(struct conn *c)
{
    if (c->h.buf && c->h.len == 0 && !c->h.started) {
        give_buf(c->l, c->h.buf);
        c->h.buf = NULL;
    }
}

static void queue_again(struct conn *c)
{
    if (c->queued)
        return;
    c->queued = 1;
    c->again = c->l->again;
    c->l->again = c;
}

/*
 * Moves a connection on as far as it can without blocking: sends what is pending, parses and
 * answers what is buffered, reads more. Edge-triggered epoll reports each change once, so this
 * runs until the socket says EAGAIN (or the budget is spent: then the connection is queued to
 * run again after other connections had their turn).
 */
static void conn_run(struct conn *c, int event)
{
    struct loop *l = c->l;
    int budget = RUN_BUDGET;
    if (event)
        c->drained = 0;
    for (;;) {
        if (c->lingering) {
            char sink[16384];
            for (int reads = 0;; reads++) {
                if (reads == 64) {
                    queue_again(c); /* a client still sending waits its turn like the others */
                    return;
                }
                ssize_t n = read(c->fd, sink, sizeof sink);
                if (n > 0)
                    continue;
                if (n < 0 && errno == EINTR)
                    continue;
                if (n < 0 && errno == EAGAIN)
                    return;
                conn_close(c);
                return;
            }
        }
        if (c->sending) {
            int r = send_some(c);
            if (r < 0) {
                conn_close(c);
                return;
            }
            if (r == 0)
                return;
            if (finish_request(c) < 0)
                return;
            if (--budget == 0) {
                queue_again(c);
                return;
            }
            continue;
        }
        struct recd_h1 *h = &c->h;
        if (h->pos < h->len) {
            if (!c->t0_us)
                c->t0_us = recd_now_us();
            enum recd_h1_result r = recd_h1_parse(h);
            if (r == RECD_H1_REQUEST) {
                answer(c);
                continue;
            }
            if (r == RECD_H1_REFUSE) {
                refuse(c);
                continue;
            }
            if (h->head_done && h->expect_continue) {
                /* The client waits for this before it sends the body. Nothing else is queued on
                 * the socket (the previous response is all sent), so 25 bytes go out whole. */
                static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
                ssize_t w = send(c->fd, cont, sizeof cont - 1, MSG_NOSIGNAL);
                (void)w;
                h->expect_continue = 0;
            }
        }
        if (c->drained) {
            /* Saves the read that would only say EAGAIN: one system call in three per request. */
            release_idle_buf(c);
            return;
        }
        if (!h->buf) {
            h->buf = take_buf(l);
            if (!h->buf) {
                conn_close(c);
                return;
            }
        }
        size_t want = RECD_H1_BUF_SIZE - h->len;
        ssize_t n = read(c->fd, h->buf + h->len, want);
        if (n > 0) {
            h->len += (size_t)n;
            c->drained = (size_t)n < want;
            c->last_io_us = c->l->now_us;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN) {
            release_idle_buf(c);
            return;
        }
        conn_close(c); /* EOF or error: a request half read is logged as aborted */
        return;
    }
}

/* --- Loops ----------------------------------------------------------------------------------- */

/* Makes the accepted socket `fd` one of this loop's connections and serves what it has sent. */
static void adopt(struct loop *l, int fd, const struct sockaddr_storage *ss)
{
    struct recd_http *sv = l->sv;
    struct conn *c = calloc(1, sizeof *c);
    if (!c)
        goto drop;
    c->fd = fd;
    c->l = l;
    c->file = -1;
    recd_h1_init(&c->h);
    client_address(ss, c);
    c->last_io_us = c->l->now_us;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    /* Added edge-triggered: bytes already waiting still raise the first event. */
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, .data.ptr = c};
    if (epoll_ctl(l->ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
        recd_h1_free(&c->h);
        free(c);
        goto drop;
    }
    c->next = l->conns;
    if (l->conns)
        l->conns->prev = c;
    l->conns = c;
    l->nconns++;
    recd_metric_gauge_add(RECD_MET_HTTP_CONNECTIONS, 0, 1);
    conn_run(c, 1);
    return;
drop:
    atomic_fetch_sub(&l->load, 1);
    atomic_fetch_sub(&sv->conns, 1);
    close(fd);
}

/*
 * SO_REUSEPORT spreads connections by a hash of their addresses, which leaves loops unevenly
 * loaded when there are few long keep-alive connections (a proxy's upstream pool, a load
 * generator): with 64 connections over 2 loops we saw 38 against 24, and the busier loop's
 * clients waited ~1.6x as long. So a loop that holds more than its share hands a new
 * connection to the least loaded loop, once, at accept; nothing is shared on the request path.
 * Returns the loop that takes it, with its load already counted.
 */
static struct loop *balance(struct loop *l)
{
    struct recd_http *sv = l->sv;
    struct loop *best = l;
    unsigned best_load = atomic_load_explicit(&l->load, memory_order_relaxed);
    for (unsigned i = 0; i < sv->nloops; i++) {
        struct loop *o = &sv->loops[i];
        unsigned ol = atomic_load_explicit(&o->load, memory_order_relaxed);
        if (o != l && ol + 1 < best_load) {
            best = o;
            best_load = ol;
        }
    }
    atomic_fetch_add(&best->load, 1);
    return best;
}

/* Queues `fd` for loop `o`; 0, or -1 when its inbox is full (the caller keeps the connection). */
static int hand_off(struct loop *o, int fd, const struct sockaddr_storage *ss)
{
    pthread_mutex_lock(&o->inbox_mu);
    int full = o->ninbox == INBOX;
    if (!full)
        o->inbox[o->ninbox++] = (struct handoff){fd, *ss};
    pthread_mutex_unlock(&o->inbox_mu);
    if (full)
        return -1;
    uint64_t one = 1;
    ssize_t r = write(o->inbox_fd, &one, sizeof one);
    (void)r;
    return 0;
}

/* Adopts the connections other loops handed to this one (or, when stopping, closes them). */
static void take_inbox(struct loop *l)
{
    uint64_t v;
    ssize_t r = read(l->inbox_fd, &v, sizeof v);
    (void)r;
    struct handoff got[INBOX];
    pthread_mutex_lock(&l->inbox_mu);
    unsigned n = l->ninbox;
    memcpy(got, l->inbox, n * sizeof *got);
    l->ninbox = 0;
    pthread_mutex_unlock(&l->inbox_mu);
    for (unsigned i = 0; i < n; i++)
        if (l->stopping) {
            close(got[i].fd);
            atomic_fetch_sub(&l->load, 1);
            atomic_fetch_sub(&l->sv->conns, 1);
        } else
            adopt(l, got[i].fd, &got[i].ss);
}

static void accept_all(struct loop *l)
{
    struct recd_http *sv = l->sv;
    for (;;) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        int fd = accept4(l->lfd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                if (!l->accept_blocked)
                    recd_log_warn("http: cannot accept: %s", strerror(errno));
                l->accept_blocked = 1;
            }
            return;
        }
        l->accept_blocked = 0;
        if (atomic_fetch_add(&sv->conns, 1) >= CONN_LIMIT) {
            atomic_fetch_sub(&sv->conns, 1);
            close(fd);
            continue;
        }
        struct loop *to = balance(l);
        if (to != l && hand_off(to, fd, &ss) < 0) {
            atomic_fetch_sub(&to->load, 1);
            atomic_fetch_add(&l->load, 1);
            to = l;
        }
        if (to == l)
            adopt(l, fd, &ss);
    }
}

/* Once a second: closes connections past their time. */
static void sweep(struct loop *l, int64_t now)
{
    int64_t idle = (int64_t)CONN_TIMEOUT_S * RECD_US_PER_SEC,
            head = (int64_t)HEAD_TIMEOUT_S * RECD_US_PER_SEC;
    for (struct conn *c = l->conns, *next; c; c = next) {
        next = c->next;
        int expired = now - c->last_io_us > idle || (c->lingering && now > c->linger_until_us) ||
                      (!c->sending && c->t0_us && !c->h.head_done && now - c->t0_us > head) ||
                      (l->stopping && (!c->sending || now > l->stop_deadline_us));
        if (expired)
            conn_close(c);
    }
}

static void begin_stop(struct loop *l)
{
    l->stopping = 1;
    l->stop_deadline_us = recd_now_us() + (int64_t)STOP_GRACE_S * RECD_US_PER_SEC;
    epoll_ctl(l->ep, EPOLL_CTL_DEL, l->lfd, NULL);
    close(l->lfd);
    l->lfd = -1;
    sweep(l, recd_now_us()); /* closes every connection not sending a response */
}

static void *loop_main(void *arg)
{
    struct loop *l = arg;
    struct epoll_event ev[EVENTS];
    /* Its waits for a CPU tell background work (the transcription decoders) to step aside. */
    recd_cpu_wait_watch_self();
    l->ts = l->sv->o.thread_open(l->sv->o.cls);
    l->now_us = recd_now_us();
    atomic_store_explicit(&l->beat_us, l->now_us, memory_order_relaxed);
    int64_t next_tick = 0;
    int stop = 0;
    for (;;) {
        int64_t now = recd_now_us();
        /* Access lines go out at most LOG_DELAY_US after they were made, in one write for
         * all the requests of that time: not one system call per request under load. */
        int64_t wake = next_tick;
        if (l->log.len) {
            if (now - l->log_since_us >= LOG_DELAY_US || l->stopping)
                flush_log(l);
            else if (l->log_since_us + LOG_DELAY_US < wake)
                wake = l->log_since_us + LOG_DELAY_US;
        }
        if (l->stopping && !l->conns)
            break;
        int timeout = l->again ? 0 : (int)((wake - now) / 1000 + 1);
        if (timeout < 0)
            timeout = 0;
        int n = epoll_wait(l->ep, ev, EVENTS, timeout);
        if (n < 0 && errno != EINTR) {
            recd_log_error("http: epoll_wait: %s", strerror(errno));
            break;
        }
        now = recd_now_us();
        l->now_us = now;
        update_date(l, (time_t)(now / RECD_US_PER_SEC));
        for (int i = 0; i < n; i++) {
            void *p = ev[i].data.ptr;
            if (p == &l->lfd)
                accept_all(l);
            else if (p == &l->inbox_fd)
                take_inbox(l);
            else if (p == &l->wake) {
                uint64_t v;
                ssize_t r = read(l->wake, &v, sizeof v);
                (void)r;
                stop = 1; /* after this batch: it closes connections that may have events in it */
            } else
                conn_run(p, 1);
        }
        struct conn *again = l->again;
        l->again = NULL;
        while (again) {
            struct conn *c = again;
            again = c->again;
            c->queued = 0;
            conn_run(c, 0);
        }
        if (stop && !l->stopping)
            begin_stop(l);
        if (now >= next_tick) {
            next_tick = now + RECD_US_PER_SEC;
            atomic_store_explicit(&l->beat_us, now, memory_order_relaxed);
            update_date(l, (time_t)(now / RECD_US_PER_SEC));
            sweep(l, now);
            if (l->accept_blocked && l->lfd >= 0)
                accept_all(l);
        }
    }
    flush_log(l);
    recd_cpu_wait_unwatch_self();
    return NULL;
}

/* --- Start and stop ------------------------------------------------------------------------ */

static int parse_listen(const char *listen, struct sockaddr_storage *ss, socklen_t *sl)
{
    char host[256];
    const char *port;
    if (listen[0] == '[') {
        const char *close_b = strchr(listen, ']');
        if (!close_b || close_b[1] != ':' || (size_t)(close_b - listen - 1) >= sizeof host)
            return -1;
        memcpy(host, listen + 1, (size_t)(close_b - listen - 1));
        host[close_b - listen - 1] = '\0';
        port = close_b + 2;
    } else {
        const char *colon = strrchr(listen, ':');
        if (!colon || (size_t)(colon - listen) >= sizeof host)
            return -1;
        memcpy(host, listen, (size_t)(colon - listen));
        host[colon - listen] = '\0';
        port = colon + 1;
    }
    if (!*port || strspn(port, "0123456789") != strlen(port) || atoi(port) > 65535)
        return -1;
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE},
                    *res;
    if (getaddrinfo(host[0] ? host : NULL, port, &hints, &res) != 0)
        return -1;
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    *sl = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

/* A listening socket on `ss`, shared with the other loops through SO_REUSEPORT; -1 with errno. */
static int open_listener(struct sockaddr_storage *ss, socklen_t sl)
{
    int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0 ||
        bind(fd, (struct sockaddr *)ss, sl) < 0 || listen(fd, SOMAXCONN) < 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    /* Port 0: the other loops listen on the port the first one was given. */
    socklen_t len = sl;
    getsockname(fd, (struct sockaddr *)ss, &len);
    return fd;
}

static void free_loops(struct recd_http *sv)
{
    for (unsigned i = 0; i < sv->nloops; i++) {
        struct loop *l = &sv->loops[i];
        if (l->lfd >= 0)
            close(l->lfd);
        if (l->wake >= 0)
            close(l->wake);
        if (l->inbox_fd >= 0)
            close(l->inbox_fd);
        for (unsigned k = 0; k < l->ninbox; k++) /* handed over as the loops stopped */
            close(l->inbox[k].fd);
        pthread_mutex_destroy(&l->inbox_mu);
        if (l->ep >= 0)
            close(l->ep);
        while (l->nfree)
            free(l->free_bufs[--l->nfree]);
        recd_buf_free(&l->log);
    }
    free(sv->loops);
}

int recd_http_start(const struct recd_http_opts *o, struct recd_http **out)
{
    struct sockaddr_storage ss;
    socklen_t sl;
    if (parse_listen(o->listen, &ss, &sl) < 0) {
        recd_log_error("--listen %s: want HOST:PORT", o->listen);
        return RECD_E_BAD_INPUT;
    }
    unsigned threads = o->threads ? o->threads : (unsigned)sysconf(_SC_NPROCESSORS_ONLN);
    if (threads < 1)
        threads = 1;
    struct recd_http *sv = calloc(1, sizeof *sv);
    struct loop *loops = calloc(threads, sizeof *loops);
    if (!sv || !loops) {
        free(sv);
        free(loops);
        return RECD_E_INTERNAL;
    }
    sv->o = *o;
    sv->loops = loops;
    sv->nloops = threads;
    for (unsigned i = 0; i < threads; i++) {
        struct loop *l = &loops[i];
        l->sv = sv;
        l->lfd = l->wake = l->ep = l->inbox_fd = -1;
        pthread_mutex_init(&l->inbox_mu, NULL);
        recd_buf_init(&l->log, 0);
    }
    unsigned started = 0;
    for (unsigned i = 0; i < threads; i++) {
        struct loop *l = &loops[i];
        l->lfd = open_listener(&ss, sl);
        if (l->lfd < 0) {
            recd_log_error("cannot listen on %s: %s", o->listen, strerror(errno));
            goto fail;
        }
        l->ep = epoll_create1(EPOLL_CLOEXEC);
        l->wake = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        l->inbox_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        struct epoll_event le = {.events = EPOLLIN | EPOLLET, .data.ptr = &l->lfd};
        struct epoll_event we = {.events = EPOLLIN, .data.ptr = &l->wake};
        struct epoll_event ie = {.events = EPOLLIN, .data.ptr = &l->inbox_fd};
        if (l->ep < 0 || l->wake < 0 || l->inbox_fd < 0 || epoll_ctl(l->ep, EPOLL_CTL_ADD, l->lfd, &le) < 0 ||
            epoll_ctl(l->ep, EPOLL_CTL_ADD, l->wake, &we) < 0 ||
            epoll_ctl(l->ep, EPOLL_CTL_ADD, l->inbox_fd, &ie) < 0) {
            recd_log_error("http: cannot set up an event loop: %s", strerror(errno));
            goto fail;
        }
    }
    for (; started < threads; started++)
        if (pthread_create(&loops[started].thread, NULL, loop_main, &loops[started]) != 0) {
            recd_log_error("http: cannot start a worker thread");
            goto fail;
        }
    recd_log_info("listening on %s (%u threads)", o->listen, threads);
    *out = sv;
    return 0;
fail:
    for (unsigned i = 0; i < started; i++) {
        uint64_t one = 1;
        ssize_t r = write(loops[i].wake, &one, sizeof one);
        (void)r;
    }
    for (unsigned i = 0; i < started; i++) {
        pthread_join(loops[i].thread, NULL);
        if (loops[i].ts)
            o->thread_close(o->cls, loops[i].ts);
    }
    free_loops(sv);
    free(sv);
    return RECD_E_IO;
}

int recd_http_alive(struct recd_http *sv, int64_t max_age_us)
{
    int64_t now = recd_now_us();
    for (unsigned i = 0; i < sv->nloops; i++) {
        int64_t beat = atomic_load_explicit(&sv->loops[i].beat_us, memory_order_relaxed);
        if (beat == 0 || now - beat > max_age_us)
            return 0;
    }
    return 1;
}

void recd_http_stop(struct recd_http *sv)
{
    if (!sv)
        return;
    for (unsigned i = 0; i < sv->nloops; i++) {
        uint64_t one = 1;
        ssize_t r = write(sv->loops[i].wake, &one, sizeof one);
        (void)r;
    }
    for (unsigned i = 0; i < sv->nloops; i++)
        pthread_join(sv->loops[i].thread, NULL);
    for (unsigned i = 0; i < sv->nloops; i++)
        if (sv->loops[i].ts)
            sv->o.thread_close(sv->o.cls, sv->loops[i].ts);
    free_loops(sv);
    free(sv);
}
