#include "http/server.h"

#include "api/cache.h"
#include "core/error.h"
#include "core/log.h"
#include "core/query.h"
#include "core/time.h"

#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

/* Limits for hostile or broken clients. recd answers a request head (target and headers) over
 * HEAD_LIMIT itself, with a Twilio error body; MHD's per-connection memory pool bounds what it
 * buffers at all (past it MHD answers 414/431 on its own). The pool is zeroed for every request,
 * so it is kept at MHD's default size: a larger one cost more than rendering a page of 50.
 * Bodies are never read, only counted. */
#define HEAD_LIMIT        (16 * 1024)
#define CONN_MEMORY_LIMIT (32 * 1024)
#define CONN_TIMEOUT_S    30
#define CONN_LIMIT        4096
#define BODY_LIMIT        (1024 * 1024)

struct recd_http {
    struct recd_http_opts o;
    struct MHD_Daemon *daemon;
    pthread_mutex_t lock;
    void **states; /* every worker thread's state, closed at shutdown */
    size_t nstates, capstates;
};

/* One request's state, from the URI callback (MHD's first sight of it) to completion. */
struct req {
    int64_t t0;
    int seen; /* the handler ran once: the response is queued on the next call */
    int answered;
    int status;
    int64_t bytes;
    int64_t body_bytes;
    char method[12];
    const char *uri_end; /* where MHD's copy of the target ends, to find a NUL inside it */
    size_t uri_len;
    char uri[]; /* raw request target, NUL-terminated */
};

/* This worker thread's state, made on its first request; NULL until then. */
static __thread void *thread_state;
static __thread int thread_opened;

static void *state_of(struct recd_http *sv)
{
    if (thread_opened)
        return thread_state;
    void *ts = sv->o.thread_open(sv->o.cls);
    if (!ts)
        return NULL; /* tried again on the next request: the cause may pass */
    pthread_mutex_lock(&sv->lock);
    if (sv->nstates == sv->capstates) {
        size_t cap = sv->capstates ? sv->capstates * 2 : 8;
        void **p = realloc(sv->states, cap * sizeof *p);
        if (!p)
            abort();
        sv->states = p;
        sv->capstates = cap;
    }
    sv->states[sv->nstates++] = ts;
    pthread_mutex_unlock(&sv->lock);
    thread_state = ts;
    thread_opened = 1;
    return ts;
}

static void *uri_logger(void *cls, const char *uri, struct MHD_Connection *conn)
{
    (void)cls;
    (void)conn;
    if (!uri)
        uri = "";
    size_t n = strlen(uri);
    struct req *r = malloc(sizeof *r + n + 1);
    if (!r)
        return NULL;
    memset(r, 0, sizeof *r);
    r->t0 = recd_now_us();
    r->uri_end = uri + n;
    r->uri_len = n;
    memcpy(r->uri, uri, n + 1);
    return r;
}

static enum recd_method method_of(const char *m)
{
    static const struct {
        const char *s;
        enum recd_method m;
    } map[] = {{"GET", RECD_M_GET},   {"HEAD", RECD_M_HEAD}, {"DELETE", RECD_M_DELETE},
               {"POST", RECD_M_POST}, {"PUT", RECD_M_PUT},   {"OPTIONS", RECD_M_OPTIONS}};
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (strcmp(m, map[i].s) == 0)
            return map[i].m;
    return RECD_M_OTHER;
}

static void release_shared(void *ref)
{
    recd_api_cache_release(ref);
}

static enum MHD_Result queue(struct MHD_Connection *conn, struct req *r, struct recd_response *rs)
{
    struct MHD_Response *resp;
    int64_t bytes;
    if (rs->fd >= 0) {
        /* MHD sends the file with sendfile() and closes the fd when done. */
        resp =
            MHD_create_response_from_fd_at_offset64((uint64_t)rs->fd_size, rs->fd, (uint64_t)rs->fd_offset);
        if (resp)
            rs->fd = -1;
        bytes = rs->fd_size;
    } else if (rs->shared) {
        /* A page-cache body: MHD sends it as it is and gives the reference back when done. */
        resp = MHD_create_response_from_buffer_with_free_callback_cls(rs->shared_len, (void *)rs->shared,
                                                                      release_shared, rs->shared_ref);
        if (resp) {
            rs->shared = NULL;
            rs->shared_ref = NULL; /* MHD owns it now */
        }
        bytes = (int64_t)rs->shared_len;
    } else {
        size_t len;
        char *body = recd_buf_steal(&rs->body, &len);
        resp = MHD_create_response_from_buffer(len, body ? body : (void *)"",
                                               body ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
        if (!resp)
            free(body);
        bytes = (int64_t)len;
    }
    if (!resp)
        return MHD_NO;
    if (rs->content_type)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, rs->content_type);
    if (rs->allow)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, rs->allow);
    if (rs->www_authenticate)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Basic realm=\"Twilio API\"");
    if (rs->disposition[0])
        MHD_add_response_header(resp, "Content-Disposition", rs->disposition);
    if (rs->accept_ranges)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ACCEPT_RANGES, "bytes");
    if (rs->etag[0])
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ETAG, rs->etag);
    if (rs->last_modified[0])
        MHD_add_response_header(resp, MHD_HTTP_HEADER_LAST_MODIFIED, rs->last_modified);
    if (rs->content_range[0])
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_RANGE, rs->content_range);
    if (rs->retry_after > 0) {
        char ra[24];
        snprintf(ra, sizeof ra, "%lld", (long long)rs->retry_after);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, ra);
    }
    /* Media and public URLs are embedded in other sites' pages; credentials are Basic, never
     * cookies, so allowing any origin exposes nothing a direct request would not. */
    MHD_add_response_header(resp, MHD_HTTP_HEADER_ACCESS_CONTROL_ALLOW_ORIGIN, "*");
    if (rs->cors_preflight) {
        MHD_add_response_header(resp, "Access-Control-Allow-Methods", rs->allow);
        MHD_add_response_header(resp, "Access-Control-Allow-Headers",
                                "Authorization, Range, If-None-Match, If-Modified-Since, If-Range");
        MHD_add_response_header(resp, "Access-Control-Max-Age", "86400");
    }
    if (rs->accept_ranges) {
        /* Let pages read the headers an audio player or a download manager needs. */
        MHD_add_response_header(resp, "Access-Control-Expose-Headers",
                                "Accept-Ranges, Content-Range, Content-Length, ETag, Last-Modified");
    }
    enum MHD_Result ret = MHD_queue_response(conn, (unsigned)rs->status, resp);
    MHD_destroy_response(resp);
    r->answered = 1;
    r->status = rs->status;
    r->bytes = bytes;
    return ret;
}

static void client_address(struct MHD_Connection *conn, struct recd_request *rq)
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (!ci || !ci->client_addr)
        return;
    if (ci->client_addr->sa_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)ci->client_addr;
        memcpy(rq->client, &a->sin_addr, 4);
        rq->client_len = 4;
    } else if (ci->client_addr->sa_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ci->client_addr;
        memcpy(rq->client, &a->sin6_addr, 16);
        rq->client_len = 16;
    }
}

struct framing {
    int content_length, transfer_encoding, bad_name;
    const char *te;
    uint64_t length;
    size_t head_bytes;
};

static enum MHD_Result count_framing(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    (void)kind;
    struct framing *f = cls;
    size_t n = strlen(key);
    f->head_bytes += n + (value ? strlen(value) : 0) + 4;
    if (n && (key[n - 1] == ' ' || key[n - 1] == '\t'))
        f->bad_name = 1;
    if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0) {
        f->content_length++;
        char *end;
        f->length = strtoull(value ? value : "", &end, 10);
    } else if (strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING) == 0) {
        f->transfer_encoding++;
        f->te = value;
    }
    return MHD_YES;
}

/*
 * A head over HEAD_LIMIT gets 431. Request smuggling shapes (RFC 9112 §6): both Content-Length and
 * Transfer-Encoding, several of either, a coding other than "chunked", whitespace before a header's colon. A
 * proxy in front of recd could frame such a request differently, so recd refuses it (400) rather than guess.
 * A declared body over the limit gets 413 before it is read. Returns 0 or the error.
 */
static int framing_error(struct MHD_Connection *conn, size_t uri_len, int *chunked)
{
    struct framing f = {0, 0, 0, NULL, 0, uri_len};
    MHD_get_connection_values(conn, MHD_HEADER_KIND, count_framing, &f);
    *chunked = f.transfer_encoding != 0;
    /* The target limit comes first: a target over RECD_URI_MAX is the API's 414, in the
     * representation it asks for, however large the head it is part of. */
    if (f.head_bytes > HEAD_LIMIT && uri_len <= RECD_URI_MAX)
        return RECD_E_HEADERS_TOO_LARGE;
    if (f.bad_name || f.content_length > 1 || f.transfer_encoding > 1 ||
        (f.content_length && f.transfer_encoding) || (f.te && strcasecmp(f.te, "chunked") != 0))
        return RECD_E_BAD_INPUT;
    if (f.content_length && f.length > BODY_LIMIT)
        return RECD_E_TOO_LARGE;
    return 0;
}

static const char *header_of(const struct recd_request *rq, const char *name)
{
    return MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, name);
}

/* Runs the request through the API and queues its answer. */
static enum MHD_Result answer(struct recd_http *sv, struct MHD_Connection *conn, struct req *r,
                              const char *method)
{
    struct recd_response rs;
    recd_response_init(&rs);
    void *ts = state_of(sv);
    if (!ts) {
        recd_api_error(&rs, RECD_E_UNAVAILABLE, 0, NULL);
    } else {
        struct recd_request rq = {
            .method = method_of(method),
            .target = {r->uri, r->uri_len},
            .authorization =
                MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION),
            .header = header_of,
            .conn = conn,
            .now_us = r->t0,
            .now_s = r->t0 / RECD_US_PER_SEC,
        };
        client_address(conn, &rq);
        sv->o.handle(sv->o.cls, ts, &rq, &rs);
    }
    enum MHD_Result ret = queue(conn, r, &rs);
    recd_response_free(&rs);
    return ret;
}

static enum MHD_Result refuse(struct MHD_Connection *conn, struct req *r, int err, const char *why)
{
    struct recd_response rs;
    recd_response_init(&rs);
    recd_api_error(&rs, err, 0, why);
    enum MHD_Result ret = queue(conn, r, &rs);
    recd_response_free(&rs);
    return ret;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                               const char *version, const char *upload_data, size_t *upload_data_size,
                               void **con_cls)
{
    (void)url;
    (void)upload_data;
    struct recd_http *sv = cls;
    struct req *r = *con_cls;
    if (!r)
        return MHD_NO; /* the URI callback could not allocate: drop the connection */
    if (!r->seen) {
        r->seen = 1;
        snprintf(r->method, sizeof r->method, "%s", method);
        /* MHD hands over the target as a C string, cut at a NUL byte; its version string
         * follows the target's end in the same buffer, so a gap between the two means the
         * target held a NUL (RFC 9112 §3 allows none). */
        if (version && version[0] && version != r->uri_end + 1)
            return refuse(conn, r, RECD_E_BAD_INPUT, "the request target holds a NUL byte");
        /* A request whose framing is ambiguous, or whose body we would refuse anyway, is answered
         * now, before its body is read; the connection then closes. Everything else waits: a
         * response queued on the first call makes MHD close every connection. */
        int chunked;
        int err = framing_error(conn, r->uri_len, &chunked);
        if (err)
            return refuse(conn, r, err, err == RECD_E_BAD_INPUT ? "ambiguous message framing" : NULL);
        /* No resource takes a body, and a chunked one cannot be sized up front: answer now and
         * let MHD close the connection unread, rather than parse chunks only to drop them. */
        if (chunked)
            return answer(sv, conn, r, method);
        return MHD_YES;
    }
    if (r->answered) {
        *upload_data_size = 0; /* discard the rest of a refused body */
        return MHD_YES;
    }
    if (*upload_data_size) {
        /* No resource takes a body: count it and drop it (its length was checked up front). */
        r->body_bytes += (int64_t)*upload_data_size;
        *upload_data_size = 0;
        return r->body_bytes <= BODY_LIMIT ? MHD_YES : MHD_NO;
    }
    return answer(sv, conn, r, method);
}

static void completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                      enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)conn;
    struct req *r = *con_cls;
    if (!r)
        return;
    *con_cls = NULL;
    /* One line per request: never the query (signed links will carry secrets there) nor any header. */
    const char *q = memchr(r->uri, '?', r->uri_len);
    int plen = (int)(q ? (size_t)(q - r->uri) : r->uri_len);
    if (plen > 512)
        plen = 512;
    char line[700];
    int n =
        snprintf(line, sizeof line, "access %s %.*s %d %lld %lldus%s\n", r->method[0] ? r->method : "-", plen,
                 r->uri, r->answered ? r->status : 0, (long long)r->bytes, (long long)(recd_now_us() - r->t0),
                 toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "" : " aborted");
    if (n > 0)
        fwrite(line, 1, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1, stderr);
    free(r);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    recd_log_warn("http: %s", msg);
}

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

int recd_http_start(const struct recd_http_opts *o, struct recd_http **out)
{
    struct sockaddr_storage ss;
    socklen_t sl;
    if (parse_listen(o->listen, &ss, &sl) < 0) {
        recd_log_error("--listen %s: want HOST:PORT", o->listen);
        return RECD_E_BAD_INPUT;
    }
    struct recd_http *sv = calloc(1, sizeof *sv);
    if (!sv)
        return RECD_E_INTERNAL;
    sv->o = *o;
    pthread_mutex_init(&sv->lock, NULL);
    unsigned threads = o->threads ? o->threads : (unsigned)sysconf(_SC_NPROCESSORS_ONLN);
    if (threads < 1)
        threads = 1;
    sv->daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG |
                                      MHD_USE_TURBO | (ss.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0),
                                  0, NULL, NULL, handler, sv, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
                                  MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss, MHD_OPTION_THREAD_POOL_SIZE,
                                  threads, MHD_OPTION_CONNECTION_LIMIT, (unsigned)CONN_LIMIT,
                                  MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)CONN_TIMEOUT_S,
                                  MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONN_MEMORY_LIMIT,
                                  MHD_OPTION_URI_LOG_CALLBACK, uri_logger, NULL, MHD_OPTION_NOTIFY_COMPLETED,
                                  completed, NULL, MHD_OPTION_LISTENING_ADDRESS_REUSE, 1U, MHD_OPTION_END);
    if (!sv->daemon) {
        recd_log_error("cannot listen on %s: %s", o->listen, strerror(errno));
        pthread_mutex_destroy(&sv->lock);
        free(sv);
        return RECD_E_IO;
    }
    recd_log_info("listening on %s (%u threads)", o->listen, threads);
    *out = sv;
    return 0;
}

void recd_http_stop(struct recd_http *sv)
{
    if (!sv)
        return;
    MHD_stop_daemon(sv->daemon);
    for (size_t i = 0; i < sv->nstates; i++)
        sv->o.thread_close(sv->o.cls, sv->states[i]);
    free(sv->states);
    pthread_mutex_destroy(&sv->lock);
    free(sv);
}
