#include "media/blob_s3.h"

#include "core/buf.h"
#include "core/error.h"
#include "core/file.h"
#include "core/log.h"
#include "core/sid.h"
#include "core/time.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/*
 * The blob store on an S3-compatible bucket. Every operation is one or a few HTTP requests made
 * with the handle's own libcurl easy handle (reset between requests, which keeps its connection
 * open: one TCP and TLS set-up per worker, not per request). libcurl signs each request with AWS
 * Signature V4 (CURLOPT_AWS_SIGV4), from what it sends: the method, the path, the query string
 * exactly as written (so recd writes it in canonical form: names sorted, values encoded, "name="
 * for an empty value), the Host header and every header recd adds (x-amz-content-sha256,
 * x-amz-date, Content-MD5, Range, …), and the payload's SHA-256, which recd always gives in
 * x-amz-content-sha256.
 *
 * Durability (contract §5): an object exists, whole, once its PUT (or its multipart upload's
 * completion) is answered 200, and S3 has then stored it redundantly; that is when put() returns
 * 0, so the caller commits metadata only after it. Each PUT carries Content-MD5 and the body's
 * SHA-256, so a body damaged on the way is refused rather than stored.
 *
 * Reading: a whole object is fetched into an unnamed temporary file in the local folder (page
 * cache, spilling to disk for long recordings); a range, only that range, into another.
 */

#define RETRIES         3   /* attempts of a request that failed for a reason worth retrying */
#define CONNECT_TIMEOUT 5L  /* seconds */
#define LOW_SPEED_TIME  30L /* seconds under LOW_SPEED_LIMIT bytes/s end a transfer */
#define LOW_SPEED_LIMIT 1L
#define URL_MAX         (RECD_S3_ENDPOINT_MAX + RECD_S3_BUCKET_MAX + RECD_S3_PREFIX_MAX + 2 * 1024 + 64)
#define LOCK_NAME       ".media-s3.lock"
#define MAX_PARTS       10000 /* S3's limit */

static const char EMPTY_SHA256[] = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

struct blob_s3 {
    struct recd_blob base;
    struct recd_s3_config cfg;
    CURL *curl;
    int local; /* the local folder: temporary files */
    int lock;  /* its lock file: the repair guard between processes of this machine */
    char sigv4[80];
    int uploads_unsupported; /* the server does not list multipart uploads (logged once) */
};

/* --- One request ---------------------------------------------------------------------------- */

struct s3_req {
    const char *method; /* GET, HEAD, PUT, POST, DELETE */
    const char *object; /* the key below the prefix, or NULL for the bucket itself */
    const char *query;  /* canonical query string, or NULL */
    const void *body;   /* PUT/POST body (may be NULL with body_len 0) */
    size_t body_len;
    const char *range;    /* "bytes=A-B" or NULL */
    int out_fd;           /* GET: the body goes here (from its current end), else to `out` */
    struct recd_buf *out; /* an answer to parse (bounded); NULL to drop it */
    const char *content_type;
    int if_absent; /* `If-None-Match: *`: store only if the key does not exist (a PUT, a completion) */
};

struct s3_resp {
    long status;
    int64_t content_length; /* -1 when absent */
    char etag[130];
    char content_range[128];
    char code[RECD_S3_CODE_MAX + 1]; /* of an error answer */
    char msg[RECD_S3_MSG_MAX + 1];
    int too_long; /* the answer passed RECD_S3_BODY_MAX */
    int write_failed;
};

struct io {
    const struct s3_req *rq;
    struct s3_resp *rs;
    size_t body_off;
    struct recd_buf err; /* an error body, when the answer is not 2xx and goes to out_fd */
};

static size_t on_read(char *dst, size_t size, size_t nitems, void *ud)
{
    struct io *io = ud;
    size_t want = size * nitems, left = io->rq->body_len - io->body_off;
    size_t n = want < left ? want : left;
    if (n)
        memcpy(dst, (const char *)io->rq->body + io->body_off, n);
    io->body_off += n;
    return n;
}

static size_t on_write(char *p, size_t size, size_t nmemb, void *ud)
{
    struct io *io = ud;
    size_t n = size * nmemb;
    int to_fd = io->rq->out_fd >= 0 && io->rs->status >= 200 && io->rs->status < 300;
    if (to_fd) {
        if (recd_write_all(io->rq->out_fd, p, n) < 0) {
            io->rs->write_failed = errno ? errno : EIO;
            return 0;
        }
        return n;
    }
    struct recd_buf *b = io->rq->out_fd >= 0 || !io->rq->out ? &io->err : io->rq->out;
    if (b->len + n > RECD_S3_BODY_MAX) {
        io->rs->too_long = 1;
        return 0;
    }
    recd_buf_add(b, p, n);
    return n;
}

/* Copies header `name`'s value (trimmed) from the header line h[0…n) into dst, when it is that. */
static void take_header(const char *h, size_t n, const char *name, char *dst, size_t cap)
{
    size_t nl = strlen(name);
    if (n <= nl || strncasecmp(h, name, nl) != 0 || h[nl] != ':')
        return;
    const char *v = h + nl + 1, *e = h + n;
    while (v < e && (*v == ' ' || *v == '\t'))
        v++;
    while (e > v && (e[-1] == '\r' || e[-1] == '\n' || e[-1] == ' ' || e[-1] == '\t'))
        e--;
    size_t vn = (size_t)(e - v);
    if (vn >= cap)
        vn = cap - 1;
    memcpy(dst, v, vn);
    dst[vn] = '\0';
}

static size_t on_header(char *h, size_t size, size_t nitems, void *ud)
{
    struct io *io = ud;
    size_t n = size * nitems;
    /* Each response (a 100 Continue, then the real one) starts with its status line. */
    if (n > 5 && strncmp(h, "HTTP/", 5) == 0) {
        const char *sp = memchr(h, ' ', n);
        io->rs->status = sp ? strtol(sp + 1, NULL, 10) : 0;
        io->rs->etag[0] = io->rs->content_range[0] = '\0';
        io->rs->content_length = -1;
        return n;
    }
    char cl[32] = "";
    take_header(h, n, "ETag", io->rs->etag, sizeof io->rs->etag);
    take_header(h, n, "Content-Range", io->rs->content_range, sizeof io->rs->content_range);
    take_header(h, n, "Content-Length", cl, sizeof cl);
    if (cl[0]) {
        char *end;
        long long v = strtoll(cl, &end, 10);
        io->rs->content_length = *end || v < 0 ? -1 : (int64_t)v;
    }
    return n;
}

/* The URL of `object` (NULL: the bucket) with `query`. */
static int make_url(const struct blob_s3 *s, const char *object, const char *query, char *url, size_t cap)
{
    const struct recd_s3_config *c = &s->cfg;
    int n;
    if (c->virtual_host) {
        const char *host = strstr(c->endpoint, "://") + 3;
        n = snprintf(url, cap, "%.*s%s.%s/%s%s%s%s", (int)(host - c->endpoint), c->endpoint, c->bucket, host,
                     object ? c->prefix : "", object ? object : "", query ? "?" : "", query ? query : "");
    } else {
        n = snprintf(url, cap, "%s/%s%s%s%s%s%s", c->endpoint, c->bucket, object ? "/" : "",
                     object ? c->prefix : "", object ? object : "", query ? "?" : "", query ? query : "");
    }
    return n < 0 || (size_t)n >= cap ? -1 : 0;
}

static void hex_of(const unsigned char *md, size_t n, char *hex)
{
    static const char d[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        hex[2 * i] = d[md[i] >> 4];
        hex[2 * i + 1] = d[md[i] & 15];
    }
    hex[2 * n] = '\0';
}

/* SHA-256 (hex) and MD5 (base64) of a body, for x-amz-content-sha256 and Content-MD5. */
static void body_digests(const void *p, size_t n, char sha_hex[65], char md5_b64[25])
{
    unsigned char md[32];
    unsigned int len = 0;
    EVP_Digest(p ? p : "", n, md, &len, EVP_sha256(), NULL);
    hex_of(md, 32, sha_hex);
    EVP_Digest(p ? p : "", n, md, &len, EVP_md5(), NULL);
    EVP_EncodeBlock((unsigned char *)md5_b64, md, 16);
}

/* One attempt of a request; the answer's status and headers in *rs. 0 when an answer came (of
 * any status), or a RECD_E_* for a failure of the transfer itself, logged. Long because libcurl
 * is set up option by option (signing, timeouts, body source and sink) for every kind of request;
 * one list of them reads better than several helpers that each set a few. */
static int attempt(struct blob_s3 *s, const struct s3_req *rq, struct s3_resp *rs, const char *url)
{
    CURL *c = s->curl;
    struct io io = {.rq = rq, .rs = rs};
    struct curl_slist *h = NULL;
    char sha[65], md5[25], line[256];
    recd_buf_init(&io.err, 0);
    memset(rs, 0, sizeof *rs);
    rs->content_length = -1;

    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, CONNECT_TIMEOUT);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, LOW_SPEED_LIMIT);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, LOW_SPEED_TIME);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_AWS_SIGV4, s->sigv4);
    curl_easy_setopt(c, CURLOPT_USERNAME, s->cfg.key_id);
    curl_easy_setopt(c, CURLOPT_PASSWORD, s->cfg.secret);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &io);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &io);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "recd");

    if (rq->body_len || strcmp(rq->method, "PUT") == 0 || strcmp(rq->method, "POST") == 0) {
        body_digests(rq->body, rq->body_len, sha, md5);
        snprintf(line, sizeof line, "Content-MD5: %s", md5);
        h = curl_slist_append(h, line);
    } else {
        memcpy(sha, EMPTY_SHA256, sizeof sha);
    }
    snprintf(line, sizeof line, "x-amz-content-sha256: %s", sha);
    h = curl_slist_append(h, line);
    if (s->cfg.token[0]) {
        char *tok = malloc(sizeof s->cfg.token + 32);
        if (tok) {
            snprintf(tok, sizeof s->cfg.token + 32, "x-amz-security-token: %s", s->cfg.token);
            h = curl_slist_append(h, tok);
            memset(tok, 0, strlen(tok));
            free(tok);
        }
    }
    if (rq->range) {
        snprintf(line, sizeof line, "Range: %s", rq->range);
        h = curl_slist_append(h, line);
    }
    if (rq->content_type) {
        snprintf(line, sizeof line, "Content-Type: %s", rq->content_type);
        h = curl_slist_append(h, line);
    }
    if (rq->if_absent)
        h = curl_slist_append(h, "If-None-Match: *");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);

    if (strcmp(rq->method, "HEAD") == 0) {
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    } else if (strcmp(rq->method, "PUT") == 0) {
        curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(c, CURLOPT_READDATA, &io);
        curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)rq->body_len);
    } else if (strcmp(rq->method, "POST") == 0) {
        curl_easy_setopt(c, CURLOPT_POST, 1L);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, rq->body ? (const char *)rq->body : "");
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)rq->body_len);
    } else if (strcmp(rq->method, "GET") != 0) {
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, rq->method);
    }

    CURLcode cr = curl_easy_perform(c);
    curl_slist_free_all(h);
    int rc = 0;
    if (cr != CURLE_OK && !(cr == CURLE_WRITE_ERROR && (rs->too_long || rs->write_failed))) {
        recd_log_error("s3: %s %s%s: %s", rq->method, rq->object ? rq->object : "bucket",
                       rq->query ? " (query)" : "", curl_easy_strerror(cr));
        rc = RECD_E_UNAVAILABLE;
    } else if (rs->write_failed) {
        recd_log_error("s3: %s %s: writing the answer: %s", rq->method, rq->object ? rq->object : "bucket",
                       strerror(rs->write_failed));
        rc = recd_err_from_errno(rs->write_failed);
    } else if (rs->too_long) {
        recd_log_error("s3: %s %s: the answer is over %d bytes", rq->method,
                       rq->object ? rq->object : "bucket", RECD_S3_BODY_MAX);
        rc = RECD_E_IO;
    } else if (rs->status < 200 || rs->status >= 300) {
        struct recd_buf *eb = rq->out_fd >= 0 || !rq->out ? &io.err : rq->out;
        if (eb->len)
            recd_s3_parse_error(eb->p, eb->len, rs->code, rs->msg);
    }
    recd_buf_free(&io.err);
    return rc;
}

/* 1 for S3's "400 RequestTimeout": the server gave up waiting for a body that came too slowly (a
 * loaded node, a slow link). Nothing was stored; the same request may well pass. */
static int timed_out(const struct s3_resp *rs)
{
    return rs->status == 400 && strcmp(rs->code, "RequestTimeout") == 0;
}

/* Whether a request that got the answer *rs (status 0: none) is worth another attempt. */
static int retryable(const struct s3_resp *rs, int rc)
{
    long status = rs->status;
    return rc == RECD_E_UNAVAILABLE || status == 500 || status == 502 || status == 503 || status == 504 ||
           timed_out(rs);
}

/*
 * Makes a request, again (after 0.1 s, then 0.4 s) when it failed in a way that may pass: no
 * answer, or a 5xx. A GET into a file starts the file over. 0 with the answer in *rs (any status),
 * or RECD_E_UNAVAILABLE when no attempt got an answer (or every one got a 5xx: then *rs has it).
 */
static int request(struct blob_s3 *s, const struct s3_req *rq, struct s3_resp *rs)
{
    char url[URL_MAX];
    if (make_url(s, rq->object, rq->query, url, sizeof url) < 0)
        return RECD_E_BAD_INPUT;
    off_t start = rq->out_fd >= 0 ? lseek(rq->out_fd, 0, SEEK_CUR) : 0;
    int rc = 0;
    for (int i = 0; i < RETRIES; i++) {
        if (i) {
            struct timespec ts = {0, (i == 1 ? 100 : 400) * 1000000L};
            nanosleep(&ts, NULL);
            if (rq->out_fd >= 0 &&
                (ftruncate(rq->out_fd, start) < 0 || lseek(rq->out_fd, start, SEEK_SET) < 0))
                return recd_err_from_errno(errno);
            if (rq->out)
                rq->out->len = 0;
        }
        rc = attempt(s, rq, rs, url);
        if (!retryable(rs, rc))
            break;
    }
    if (rc == 0 && rs->status >= 500)
        return RECD_E_UNAVAILABLE;
    return rc;
}

/* Logs a refused request and gives its RECD_E_*: 404 NOT_FOUND (unless the bucket is missing),
 * 416 RANGE; refused credentials, a missing bucket, 5xx and timed-out requests are UNAVAILABLE
 * (the service cannot work until an operator acts, or the store recovers), anything else IO. */
static int refused(const struct s3_req *rq, const struct s3_resp *rs)
{
    const char *what = rq->object ? rq->object : "bucket";
    if (rs->status == 404 && strcmp(rs->code, "NoSuchBucket") != 0)
        return RECD_E_NOT_FOUND;
    if (rs->status == 416)
        return RECD_E_RANGE;
    /* A conditional write (if_absent) of a key that exists, or that another conditional write of
     * it is completing (S3's 409 ConditionalRequestConflict): the caller's answer, not a fault. */
    if (rq->if_absent &&
        (rs->status == 412 || (rs->status == 409 && strcmp(rs->code, "ConditionalRequestConflict") == 0)))
        return RECD_E_EXISTS;
    if (timed_out(rs)) {
        recd_log_error("s3: %s %s: the bucket timed the request out %d times (400 RequestTimeout)",
                       rq->method, what, RETRIES);
        return RECD_E_UNAVAILABLE;
    }
    if (rs->status == 403 || rs->status == 401) {
        recd_log_error("s3: %s %s: the bucket refused recd's credentials (%ld %s%s%s)", rq->method, what,
                       rs->status, rs->code[0] ? rs->code : "Forbidden", rs->msg[0] ? ": " : "", rs->msg);
        return RECD_E_UNAVAILABLE;
    }
    recd_log_error("s3: %s %s: answered %ld%s%s%s%s", rq->method, what, rs->status, rs->code[0] ? " " : "",
                   rs->code, rs->msg[0] ? ": " : "", rs->msg);
    return rs->status == 404 || rs->status >= 500 ? RECD_E_UNAVAILABLE : RECD_E_IO;
}

/* A request whose answer must be 2xx: 0, or the RECD_E_* of why not (logged). */
static int request_ok(struct blob_s3 *s, const struct s3_req *rq, struct s3_resp *rs)
{
    int rc = request(s, rq, rs);
    if (rc == RECD_E_UNAVAILABLE && rs->status >= 500)
        return refused(rq, rs);
    if (rc < 0)
        return rc;
    if (rs->status >= 200 && rs->status < 300)
        return 0;
    return refused(rq, rs);
}

/* --- Temporary files for what is read ---------------------------------------------------- */

/* An unnamed file in the local folder (gone when closed), or in memory if that cannot be. */
static int anon_file(struct blob_s3 *s)
{
    int fd = openat(s->local, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd < 0)
        fd = memfd_create("recd-s3", MFD_CLOEXEC);
    if (fd < 0)
        recd_log_error("s3: cannot make a temporary file: %s", strerror(errno));
    return fd;
}

/* --- Writes ------------------------------------------------------------------------------- */

static int put_object(struct blob_s3 *s, const char *key, const void *p, size_t n, int if_absent)
{
    struct s3_resp rs;
    struct s3_req rq = {
        .method = "PUT", .object = key, .body = p, .body_len = n, .out_fd = -1, .if_absent = if_absent};
    return request_ok(s, &rq, &rs);
}

/* AWS's URI encoding of a query value: unreserved characters as they are, the rest %XX. */
static void uri_encode(const char *v, char *out, size_t cap)
{
    static const char d[] = "0123456789ABCDEF";
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)v; *p && o + 4 < cap; p++) {
        if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-' ||
            *p == '_' || *p == '.' || *p == '~') {
            out[o++] = (char)*p;
        } else {
            out[o++] = '%';
            out[o++] = d[*p >> 4];
            out[o++] = d[*p & 15];
        }
    }
    out[o] = '\0';
}

static void abort_upload(struct blob_s3 *s, const char *key, const char *id)
{
    char q[3 * RECD_S3_UPLOAD_ID_MAX + 16], enc[3 * RECD_S3_UPLOAD_ID_MAX + 1];
    struct s3_resp rs;
    uri_encode(id, enc, sizeof enc);
    snprintf(q, sizeof q, "uploadId=%s", enc);
    struct s3_req rq = {.method = "DELETE", .object = key, .query = q, .out_fd = -1};
    if (request_ok(s, &rq, &rs) < 0)
        recd_log_warn("s3: upload %s of %s left unfinished; fsck --repair or the bucket's lifecycle rule "
                      "removes it",
                      id, key);
}

/* Where a multipart upload's parts come from: a descriptor (read in order) or memory. */
struct part_src {
    int fd;
    const char *p;
    int64_t size;
    EVP_MD_CTX *sha; /* when set, every byte read is added to it (put_fd_sha256) */
    int if_absent;   /* the completion stores only if the key does not exist */
};

/* Reads part bytes [off, off + n) of the source into buf: 0, or a RECD_E_* (logged). */
static int part_read(const struct part_src *src, const char *key, int64_t off, char *buf, size_t n)
{
    if (src->fd < 0) {
        memcpy(buf, src->p + off, n);
        return 0;
    }
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(src->fd, buf + got, n - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            recd_log_error("s3: reading %s to store: %s", key, strerror(errno));
            return recd_err_from_errno(errno);
        }
        if (r == 0) {
            recd_log_error("s3: copy %s: source ended before %lld bytes", key, (long long)src->size);
            return RECD_E_IO;
        }
        got += (size_t)r;
    }
    /* Parts are read once each, in order (a retry sends the same buffer again). */
    if (src->sha && EVP_DigestUpdate(src->sha, buf, n) != 1)
        return RECD_E_INTERNAL;
    return 0;
}

/*
 * A multipart upload (objects of RECD_S3_MULTIPART_MIN and more): initiate, one PUT per part of
 * RECD_S3_PART_SIZE (each with its own Content-MD5 and SHA-256, retried on its own), complete
 * with the parts' ETags. The object appears, whole, only when the completion is answered with a
 * result; on any failure the upload is aborted so that no part lingers.
 */
static int put_multipart(struct blob_s3 *s, const char *key, const struct part_src *src)
{
    struct s3_resp rs;
    struct recd_buf ans, xml;
    char id[RECD_S3_UPLOAD_ID_MAX + 1], enc[3 * RECD_S3_UPLOAD_ID_MAX + 1], q[3 * RECD_S3_UPLOAD_ID_MAX + 48];
    int64_t nparts = (src->size + RECD_S3_PART_SIZE - 1) / RECD_S3_PART_SIZE;
    char(*etags)[130] = NULL;
    char *buf = NULL;
    int rc, started = 0;
    recd_buf_init(&ans, 0);
    recd_buf_init(&xml, 0);
    if (nparts > MAX_PARTS) {
        recd_log_error("s3: %s is too large for %d parts", key, MAX_PARTS);
        return RECD_E_BAD_INPUT;
    }
    struct s3_req init = {.method = "POST", .object = key, .query = "uploads=", .out_fd = -1, .out = &ans};
    if ((rc = request_ok(s, &init, &rs)) < 0)
        goto done;
    if (recd_s3_parse_upload_id(ans.p, ans.len, id) < 0) {
        recd_log_error("s3: POST %s?uploads: the answer has no UploadId", key);
        rc = RECD_E_IO;
        goto done;
    }
    started = 1;
    uri_encode(id, enc, sizeof enc);
    etags = calloc((size_t)nparts, sizeof *etags);
    buf = malloc((size_t)(src->size < RECD_S3_PART_SIZE ? src->size : RECD_S3_PART_SIZE));
    if (!etags || !buf) {
        rc = RECD_E_INTERNAL;
        goto done;
    }
    for (int64_t i = 0; i < nparts; i++) {
        int64_t off = i * RECD_S3_PART_SIZE;
        size_t n = (size_t)(src->size - off < RECD_S3_PART_SIZE ? src->size - off : RECD_S3_PART_SIZE);
        if ((rc = part_read(src, key, off, buf, n)) < 0)
            goto done;
        /* Canonical order: partNumber before uploadId. */
        snprintf(q, sizeof q, "partNumber=%lld&uploadId=%s", (long long)(i + 1), enc);
        struct s3_req part = {
            .method = "PUT", .object = key, .query = q, .body = buf, .body_len = n, .out_fd = -1};
        if ((rc = request_ok(s, &part, &rs)) < 0)
            goto done;
        if (!rs.etag[0]) {
            recd_log_error("s3: PUT %s part %lld: the answer has no ETag", key, (long long)(i + 1));
            rc = RECD_E_IO;
            goto done;
        }
        memcpy(etags[i], rs.etag, sizeof etags[i]);
    }
    recd_buf_adds(&xml, "<CompleteMultipartUpload>");
    for (int64_t i = 0; i < nparts; i++) {
        char part[200];
        /* An ETag is a quoted hex digest; anything that could break the XML is refused. */
        if (strpbrk(etags[i], "<>&")) {
            rc = RECD_E_IO;
            goto done;
        }
        snprintf(part, sizeof part, "<Part><PartNumber>%lld</PartNumber><ETag>%s</ETag></Part>",
                 (long long)(i + 1), etags[i]);
        recd_buf_adds(&xml, part);
    }
    recd_buf_adds(&xml, "</CompleteMultipartUpload>");
    snprintf(q, sizeof q, "uploadId=%s", enc);
    ans.len = 0;
    struct s3_req done_rq = {.method = "POST",
                             .object = key,
                             .query = q,
                             .body = xml.p,
                             .body_len = xml.len,
                             .out_fd = -1,
                             .out = &ans,
                             .content_type = "application/xml",
                             .if_absent = src->if_absent};
    if ((rc = request_ok(s, &done_rq, &rs)) < 0)
        goto done;
    /* A completion can fail after its 200 has begun: the body then says Error, not Result. */
    char code[RECD_S3_CODE_MAX + 1], msg[RECD_S3_MSG_MAX + 1];
    int r = recd_s3_parse_complete(ans.p, ans.len, code, msg);
    if (r != 1) {
        recd_log_error("s3: completing the upload of %s: %s%s%s", key, r == 0 ? code : "unreadable answer",
                       r == 0 && msg[0] ? ": " : "", r == 0 ? msg : "");
        rc = r == 0 && strcmp(code, "InternalError") == 0                          ? RECD_E_UNAVAILABLE
             : r == 0 && src->if_absent && strcmp(code, "PreconditionFailed") == 0 ? RECD_E_EXISTS
                                                                                   : RECD_E_IO;
        goto done;
    }
    started = 0;
    rc = 0;
done:
    if (started)
        abort_upload(s, key, id);
    free(etags);
    free(buf);
    recd_buf_free(&ans);
    recd_buf_free(&xml);
    return rc;
}

static int s3_put_mem(struct recd_blob *b, const char *key, const void *p, size_t n)
{
    struct blob_s3 *s = (struct blob_s3 *)b;
    if (!recd_blob_key_valid(key) || (p == NULL && n != 0))
        return RECD_E_BAD_INPUT;
    if ((int64_t)n >= RECD_S3_MULTIPART_MIN) {
        struct part_src src = {.fd = -1, .p = p, .size = (int64_t)n};
        return put_multipart(s, key, &src);
    }
    return put_object(s, key, p, n, 0);
}

/* put_fd, and with `sha` the SHA-256 of the bytes read from fd into it; with `if_absent`, only
 * when the key does not exist. */
static int put_fd(struct blob_s3 *s, const char *key, int fd, int64_t size, EVP_MD_CTX *sha, int if_absent)
{
    struct part_src src = {.fd = fd, .size = size, .sha = sha, .if_absent = if_absent};
    if (size >= RECD_S3_MULTIPART_MIN)
        return put_multipart(s, key, &src);
    /* Below the multipart size the body is read whole: its digests go in the headers, before it. */
    char *buf = malloc(size ? (size_t)size : 1);
    if (!buf)
        return RECD_E_INTERNAL;
    int rc = part_read(&src, key, 0, buf, (size_t)size);
    if (rc == 0)
        rc = put_object(s, key, buf, (size_t)size, if_absent);
    free(buf);
    return rc;
}

static int s3_put_fd(struct recd_blob *b, const char *key, int fd, int64_t size)
{
    if (!recd_blob_key_valid(key) || fd < 0 || size < 0)
        return RECD_E_BAD_INPUT;
    return put_fd((struct blob_s3 *)b, key, fd, size, NULL, 0);
}

/*
 * put_fd with the SHA-256 of exactly the bytes stored, without reading the object back (an import
 * used to GET every object it had just stored, to hash it): every PUT, and every part of a
 * multipart upload, carries its body's SHA-256 and Content-MD5, which S3 checks before it stores
 * anything, so the bytes hashed here as they are sent are the bytes the bucket keeps.
 */
static int s3_put_fd_sha256(struct recd_blob *b, const char *key, int fd, int64_t size, unsigned flags,
                            char sha256_hex[65])
{
    if (!recd_blob_key_valid(key) || fd < 0 || size < 0 || !sha256_hex || (flags & ~RECD_BLOB_PUT_NEW))
        return RECD_E_BAD_INPUT;
    EVP_MD_CTX *sha = EVP_MD_CTX_new();
    unsigned char md[32];
    unsigned int len = 0;
    if (!sha || EVP_DigestInit_ex(sha, EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(sha);
        return RECD_E_INTERNAL;
    }
    int rc = put_fd((struct blob_s3 *)b, key, fd, size, sha, !!(flags & RECD_BLOB_PUT_NEW));
    if (rc == 0 && EVP_DigestFinal_ex(sha, md, &len) != 1)
        rc = RECD_E_INTERNAL;
    EVP_MD_CTX_free(sha);
    if (rc == 0)
        hex_of(md, 32, sha256_hex);
    return rc;
}

/* --- Reads -------------------------------------------------------------------------------- */

static int s3_open(struct recd_blob *b, const char *key, int *fd_out, int64_t *size)
{
    struct blob_s3 *s = (struct blob_s3 *)b;
    struct s3_resp rs;
    if (!recd_blob_key_valid(key))
        return RECD_E_BAD_INPUT;
    int fd = anon_file(s);
    if (fd < 0)
        return RECD_E_IO;
    struct s3_req rq = {.method = "GET", .object = key, .out_fd = fd};
    int rc = request_ok(s, &rq, &rs);
    struct stat st;
    if (rc == 0 && fstat(fd, &st) < 0)
        rc = recd_err_from_errno(errno);
    if (rc == 0 && rs.content_length >= 0 && rs.content_length != (int64_t)st.st_size) {
        recd_log_error("s3: GET %s: %lld bytes came of %lld", key, (long long)st.st_size,
                       (long long)rs.content_length);
        rc = RECD_E_UNAVAILABLE;
    }
    if (rc < 0) {
        close(fd);
        return rc;
    }
    lseek(fd, 0, SEEK_SET);
    *fd_out = fd;
    *size = (int64_t)st.st_size;
    return 0;
}

static int s3_stat(struct recd_blob *b, const char *key, int64_t *size)
{
    struct blob_s3 *s = (struct blob_s3 *)b;
    struct s3_resp rs;
    if (!recd_blob_key_valid(key))
        return RECD_E_BAD_INPUT;
    struct s3_req rq = {.method = "HEAD", .object = key, .out_fd = -1};
    int rc = request_ok(s, &rq, &rs);
    if (rc < 0)
        return rc;
    if (rs.content_length < 0) {
        recd_log_error("s3: HEAD %s: no Content-Length", key);
        return RECD_E_UNAVAILABLE; /* the bucket's fault, not recd's: a 503 */
    }
    *size = rs.content_length;
    return 0;
}

static int s3_open_range(struct recd_blob *b, const char *key, int64_t off, int64_t len, int *fd_out,
                         int64_t *fd_off, int *whole)
{
    struct blob_s3 *s = (struct blob_s3 *)b;
    struct s3_resp rs;
    char range[64];
    if (!recd_blob_key_valid(key) || off < 0 || len < 1)
        return RECD_E_BAD_INPUT;
    int fd = anon_file(s);
    if (fd < 0)
        return RECD_E_IO;
    snprintf(range, sizeof range, "bytes=%lld-%lld", (long long)off, (long long)(off + len - 1));
    struct s3_req rq = {.method = "GET", .object = key, .range = range, .out_fd = fd};
    int rc = request_ok(s, &rq, &rs);
    struct stat st;
    if (rc == 0 && fstat(fd, &st) < 0)
        rc = recd_err_from_errno(errno);
    if (rc == 0 && rs.status == 206) {
        /*
         * A server may answer a range that holds the one asked rather than exactly it (RFC 9110
         * §15.3.7 lets it; the test server answers "bytes=0-0" with the whole object): the bytes
         * asked are then inside, at off - a. An answer that does not hold them, or whose body is
         * not the length its Content-Range says, is the bucket failing, not recd: a 503 (never
         * other bytes, and never a 500 for a fault that is not ours).
         */
        int64_t a, z, total;
        if (recd_s3_parse_content_range(rs.content_range, strlen(rs.content_range), &a, &z, &total) < 0 ||
            a > off || z < off + len - 1 || (int64_t)st.st_size != z - a + 1) {
            recd_log_error("s3: GET %s %s: the answer is another range (%s, %lld bytes)", key, range,
                           rs.content_range, (long long)st.st_size);
            rc = RECD_E_UNAVAILABLE;
        } else {
            *fd_off = off - a;
            *whole = a == 0 && z == total - 1;
        }
    } else if (rc == 0) {
        /* A server that ignores Range sends the whole object: use it as such. */
        if ((int64_t)st.st_size < off + len) {
            rc = RECD_E_RANGE;
        } else {
            *fd_off = off;
            *whole = 1;
        }
    }
    if (rc < 0) {
        close(fd);
        return rc;
    }
    *fd_out = fd;
    return 0;
}

static int s3_remove(struct recd_blob *b, const char *key)
{
    struct blob_s3 *s = (struct blob_s3 *)b;
    struct s3_resp rs;
    if (!recd_blob_key_valid(key))
        return RECD_E_BAD_INPUT;
    struct s3_req rq = {.method = "DELETE", .object = key, .out_fd = -1};
    int rc = request_ok(s, &rq, &rs);
    return rc == RECD_E_NOT_FOUND ? 0 : rc;
}

/* --- Listings ------------------------------------------------------------------------------- */

struct scan_ctx {
    struct blob_s3 *s;
    recd_blob_key_cb cb;
    void *ctx;
    int stopped;
    int64_t min_age_s, now_s, removed;
    int mode; /* 0: keys, 1: report uploads, 2: abort old uploads */
};

static int scan_entry(void *p, const char *name, int64_t size, const char *upload_id, int64_t initiated_s)
{
    struct scan_ctx *sc = p;
    size_t pl = strlen(sc->s->cfg.prefix);
    if (strncmp(name, sc->s->cfg.prefix, pl) != 0)
        return 0; /* not below our prefix: not ours to judge */
    const char *key = name + pl;
    if (sc->mode == 0) {
        if (!recd_blob_key_valid(key))
            return 0;
        if (sc->cb(sc->ctx, key, size) != 0) {
            sc->stopped = 1;
            return 1;
        }
        return 0;
    }
    if (sc->mode == 1) {
        char shown[128];
        snprintf(shown, sizeof shown, "upload of %.60s (%.16s…)", key, upload_id);
        if (sc->cb(sc->ctx, shown, 0) != 0) {
            sc->stopped = 1;
            return 1;
        }
        return 0;
    }
    if (sc->min_age_s > 0 && initiated_s >= 0 && sc->now_s - initiated_s < sc->min_age_s)
        return 0;
    char enc[3 * RECD_S3_UPLOAD_ID_MAX + 1], q[3 * RECD_S3_UPLOAD_ID_MAX + 16];
    struct s3_resp rs;
    uri_encode(upload_id, enc, sizeof enc);
    snprintf(q, sizeof q, "uploadId=%s", enc);
    /* The object name is the listing's own (prefix included): recd builds it for no other call. */
    struct s3_req rq = {.method = "DELETE", .object = key, .query = q, .out_fd = -1};
    if (recd_blob_key_valid(key) && request_ok(sc->s, &rq, &rs) == 0)
        sc->removed++;
    return 0;
}

/*
 * Walks a listing page by page: ListObjectsV2 (mode 0) or ListMultipartUploads (modes 1, 2), of
 * the keys below the prefix that start with `start` ("RE": everything recd names; a recording's
 * sid: that recording's objects only, so S3 does the filtering). 0, or a RECD_E_*.
 */
static int list_all(struct blob_s3 *s, struct scan_ctx *sc, const char *start)
{
    struct recd_buf ans;
    char next[RECD_S3_TOKEN_ANSWER_MAX + 1] = "", next2[RECD_S3_UPLOAD_ID_MAX + 1] = "";
    char pfx[3 * (RECD_S3_PREFIX_MAX + RECD_SID_LEN) + 1], q[4 * 1024 + 3 * RECD_S3_UPLOAD_ID_MAX];
    char e1[3 * RECD_S3_TOKEN_ANSWER_MAX + 1], e2[3 * RECD_S3_UPLOAD_ID_MAX + 1];
    char raw[RECD_S3_PREFIX_MAX + RECD_SID_LEN + 1];
    int rc = 0, truncated;
    snprintf(raw, sizeof raw, "%s%s", s->cfg.prefix, start);
    uri_encode(raw, pfx, sizeof pfx);
    recd_buf_init(&ans, 0);
    do {
        /* Canonical order: parameter names sorted. */
        if (sc->mode == 0) {
            uri_encode(next, e1, sizeof e1);
            if (next[0])
                snprintf(q, sizeof q, "continuation-token=%s&list-type=2&max-keys=1000&prefix=%s", e1, pfx);
            else
                snprintf(q, sizeof q, "list-type=2&max-keys=1000&prefix=%s", pfx);
        } else {
            uri_encode(next, e1, sizeof e1);
            uri_encode(next2, e2, sizeof e2);
            if (next[0])
                snprintf(q, sizeof q,
                         "key-marker=%s&max-uploads=1000&prefix=%s&upload-id-marker=%s&uploads=", e1, pfx,
                         e2);
            else
                snprintf(q, sizeof q, "max-uploads=1000&prefix=%s&uploads=", pfx);
        }
        ans.len = 0;
        struct s3_resp rs;
        struct s3_req rq = {.method = "GET", .object = NULL, .query = q, .out_fd = -1, .out = &ans};
        rc = request(s, &rq, &rs);
        if ((rc == 0 || rs.status) && sc->mode != 0 &&
            (rs.status == 501 || !strcmp(rs.code, "NotImplemented"))) {
            rc = 0;
            if (!s->uploads_unsupported)
                recd_log_info(
                    "s3: the server does not list multipart uploads; unfinished uploads are left to "
                    "the bucket's lifecycle rule");
            s->uploads_unsupported = 1;
            break;
        }
        if (rc == RECD_E_UNAVAILABLE && rs.status >= 500)
            rc = refused(&rq, &rs);
        if (rc == 0 && (rs.status < 200 || rs.status >= 300))
            rc = refused(&rq, &rs);
        if (rc < 0)
            break;
        int r = recd_s3_parse_list(ans.p, ans.len, scan_entry, sc, &truncated, next, next2);
        if (sc->stopped)
            break;
        if (r != 0) {
            recd_log_error("s3: the bucket's listing is unreadable");
            rc = RECD_E_IO;
            break;
        }
        /* A truncated page must say where the next one starts; else the walk would loop. */
        if (truncated && !next[0]) {
            recd_log_error("s3: a truncated listing without its continuation");
            rc = RECD_E_IO;
            break;
        }
    } while (truncated);
    recd_buf_free(&ans);
    return rc;
}

static int s3_scan(struct recd_blob *b, recd_blob_key_cb cb, void *ctx)
{
    if (cb == NULL)
        return RECD_E_BAD_INPUT;
    struct scan_ctx sc = {.s = (struct blob_s3 *)b, .cb = cb, .ctx = ctx, .mode = 0};
    return list_all(sc.s, &sc, "RE");
}

/* A recording's objects: one listing of the keys that start with its sid (a delete finds its
 * waveforms of any SamplesPerPixel this way, without walking the bucket). */
static int s3_scan_sid(struct recd_blob *b, const char *sid, recd_blob_key_cb cb, void *ctx)
{
    if (cb == NULL || sid == NULL || !recd_sid_valid(sid, strnlen(sid, RECD_SID_LEN + 1), "RE", 1))
        return RECD_E_BAD_INPUT;
    struct scan_ctx sc = {.s = (struct blob_s3 *)b, .cb = cb, .ctx = ctx, .mode = 0};
    return list_all(sc.s, &sc, sid);
}

static int s3_scan_leftovers(struct recd_blob *b, recd_blob_key_cb cb, void *ctx)
{
    if (cb == NULL)
        return RECD_E_BAD_INPUT;
    struct scan_ctx sc = {.s = (struct blob_s3 *)b, .cb = cb, .ctx = ctx, .mode = 1};
    return list_all(sc.s, &sc, "RE");
}

static int s3_remove_leftovers(struct recd_blob *b, int64_t min_age_s, int64_t *n)
{
    struct scan_ctx sc = {
        .s = (struct blob_s3 *)b, .mode = 2, .min_age_s = min_age_s, .now_s = recd_now_us() / 1000000};
    int rc = list_all(sc.s, &sc, "RE");
    if (n)
        *n = sc.removed;
    return rc;
}

/* Each PUT is durable when answered, so there is nothing to batch and nothing to sync. */
static int s3_defer_sync(struct recd_blob *b, int on)
{
    (void)b, (void)on;
    return 0;
}

static int s3_sync(struct recd_blob *b)
{
    (void)b;
    return 0;
}

/* The guard between the processes of this machine (a flock, like the filesystem store's);
 * between machines the service layer adds the store's own lock (docs/scale-out.md). */
static int s3_guard(struct recd_blob *b, enum recd_blob_guard how)
{
    struct blob_s3 *s = (struct blob_s3 *)b;
    int op = how == RECD_BLOB_REPAIRING ? LOCK_EX : how == RECD_BLOB_WRITING ? LOCK_SH : LOCK_UN;
    int r;
    while ((r = flock(s->lock, op)) < 0 && errno == EINTR)
        ;
    if (r < 0) {
        recd_log_error("s3: lock %s: %s", LOCK_NAME, strerror(errno));
        return recd_err_from_errno(errno);
    }
    return 0;
}

static void s3_close(struct recd_blob *b)
{
    struct blob_s3 *s = (struct blob_s3 *)b;
    if (!s)
        return;
    if (s->curl)
        curl_easy_cleanup(s->curl);
    if (s->local >= 0)
        close(s->local);
    if (s->lock >= 0)
        close(s->lock);
    memset(&s->cfg, 0, sizeof s->cfg); /* the secret goes with the handle */
    free(s);
}

/*
 * Readiness (GET /readyz): a HEAD of a key no recording has (the all-zero sid), so one round trip
 * says the bucket answers and takes recd's credentials; "not found" is the healthy answer, and
 * nothing is written.
 */
static int s3_ready(struct recd_blob *b)
{
    int64_t size;
    int rc = s3_stat(b, "RE00000000000000000000000000000000.wav", &size);
    return rc == RECD_E_NOT_FOUND ? 0 : rc;
}

static const struct recd_blob_ops s3_ops = {
    .ready = s3_ready,
    .close = s3_close,
    .put_fd = s3_put_fd,
    .put_fd_sha256 = s3_put_fd_sha256,
    .put_mem = s3_put_mem,
    .open = s3_open,
    .stat = s3_stat,
    .open_range = s3_open_range,
    .remove = s3_remove,
    .scan = s3_scan,
    .scan_sid = s3_scan_sid,
    .scan_leftovers = s3_scan_leftovers,
    .remove_leftovers = s3_remove_leftovers,
    .defer_sync = s3_defer_sync,
    .sync = s3_sync,
    .guard = s3_guard,
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void curl_init(void)
{
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

int recd_blob_s3_open(const struct recd_s3_config *cfg, const char *local_dir, struct recd_blob **out)
{
    if (!cfg || !cfg->bucket[0] || !cfg->key_id[0] || !local_dir || !out)
        return RECD_E_BAD_INPUT;
    pthread_once(&curl_once, curl_init);
    if (curl_init_rc != CURLE_OK)
        return RECD_E_INTERNAL;
    struct blob_s3 *s = calloc(1, sizeof *s);
    if (!s)
        return RECD_E_INTERNAL;
    s->base.ops = &s3_ops;
    s->cfg = *cfg;
    s->local = s->lock = -1;
    snprintf(s->sigv4, sizeof s->sigv4, "aws:amz:%s:s3", cfg->region);
    s->curl = curl_easy_init();
    if (!s->curl)
        goto fail;
    if ((s->local = open(local_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
        recd_log_error("s3: open %s: %s", local_dir, strerror(errno));
        goto fail;
    }
    if ((s->lock = openat(s->local, LOCK_NAME, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600)) < 0) {
        recd_log_error("s3: open %s/%s: %s", local_dir, LOCK_NAME, strerror(errno));
        goto fail;
    }
    *out = &s->base;
    return 0;
fail:
    s3_close(&s->base);
    return RECD_E_IO;
}
