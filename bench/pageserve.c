/*
 * The floor for serving a list page: the least an HTTP/1.1 server can do to answer every
 * request with the same bytes, so that bench.py can show what the machine (two cores shared with
 * wrk) allows any server's p99 to be.
 *
 *   build/bench/pageserve PORT FILE THREADS
 *
 * THREADS event loops, each with its own SO_REUSEPORT listener and edge-triggered epoll set (the
 * shape of recd's loops and of nginx's workers). A connection's input is scanned for the end of
 * each request head ("\r\n\r\n"; bodies are not expected: wrk sends GETs) and each request gets
 * FILE's bytes behind a fixed 200 head, head and body in one sendmsg. No parsing, routing,
 * authentication, access log or cache: only the system calls every server makes. Not a server to
 * expose: it trusts its clients. Runs until killed.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

static char *body, head[256];
static size_t body_len, head_len;
static int port;

struct conn {
    int fd;
    char in[8192];
    size_t in_len;
    size_t out_off, out_len; /* bytes of the current answers (head + body, times `owed`) sent */
    unsigned owed;           /* answers not yet all sent */
};

/* Sends what the socket takes of the answers owed. 0: all sent or the socket is full; -1: gone. */
static int flush_out(struct conn *c)
{
    size_t one = head_len + body_len;
    while (c->owed) {
        size_t off = c->out_off;
        struct iovec iov[2];
        int n = 0;
        if (off < head_len)
            iov[n++] = (struct iovec){head + off, head_len - off};
        size_t boff = off < head_len ? 0 : off - head_len;
        iov[n++] = (struct iovec){body + boff, body_len - boff};
        struct msghdr m = {.msg_iov = iov, .msg_iovlen = (size_t)n};
        ssize_t w = sendmsg(c->fd, &m, MSG_NOSIGNAL);
        if (w < 0)
            return errno == EAGAIN ? 0 : -1;
        c->out_off += (size_t)w;
        if (c->out_off == one) {
            c->out_off = 0;
            c->owed--;
        }
    }
    return 0;
}

/* Reads and answers until the socket would block. -1 when the connection is done. */
static int serve(struct conn *c)
{
    for (;;) {
        if (flush_out(c) < 0)
            return -1;
        if (c->owed)
            return 0; /* EPOLLOUT resumes */
        ssize_t r = read(c->fd, c->in + c->in_len, sizeof c->in - c->in_len);
        if (r == 0 || (r < 0 && errno != EAGAIN))
            return -1;
        if (r < 0)
            return 0;
        c->in_len += (size_t)r;
        size_t used = 0;
        for (;;) {
            char *end = memmem(c->in + used, c->in_len - used, "\r\n\r\n", 4);
            if (!end)
                break;
            used = (size_t)(end + 4 - c->in);
            c->owed++;
        }
        memmove(c->in, c->in + used, c->in_len - used);
        c->in_len -= used;
        if (c->in_len == sizeof c->in)
            return -1; /* a head larger than the buffer: not a client of this bench */
    }
}

static void *loop(void *arg)
{
    (void)arg;
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    setsockopt(lfd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    struct sockaddr_in a = {
        .sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (bind(lfd, (struct sockaddr *)&a, sizeof a) < 0 || listen(lfd, SOMAXCONN) < 0) {
        perror("pageserve: listen");
        exit(1);
    }
    int ep = epoll_create1(0);
    struct epoll_event le = {.events = EPOLLIN, .data.ptr = NULL};
    epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &le);
    struct epoll_event ev[256];
    for (;;) {
        int n = epoll_wait(ep, ev, 256, -1);
        for (int i = 0; i < n; i++) {
            struct conn *c = ev[i].data.ptr;
            if (!c) {
                int fd;
                while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
                    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    struct conn *nc = calloc(1, sizeof *nc);
                    nc->fd = fd;
                    struct epoll_event ce = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
                                             .data.ptr = nc};
                    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ce);
                }
                continue;
            }
            if (serve(c) < 0) {
                close(c->fd);
                free(c);
            }
        }
    }
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: pageserve PORT FILE THREADS\n");
        return 2;
    }
    port = atoi(argv[1]);
    FILE *f = fopen(argv[2], "rb");
    struct stat st;
    if (!f || fstat(fileno(f), &st) < 0) {
        perror(argv[2]);
        return 1;
    }
    body_len = (size_t)st.st_size;
    body = malloc(body_len ? body_len : 1);
    if (fread(body, 1, body_len, f) != body_len) {
        perror(argv[2]);
        return 1;
    }
    fclose(f);
    head_len = (size_t)snprintf(
        head, sizeof head, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
        body_len);
    int threads = atoi(argv[3]);
    pthread_t t;
    for (int i = 1; i < threads; i++)
        pthread_create(&t, NULL, loop, NULL);
    loop(NULL);
    return 0;
}
