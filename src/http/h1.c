#include "http/h1.h"

#include "core/error.h"
#include "core/query.h"

#include <stddef.h>
#include <string.h>
#include <strings.h>

/*
 * How the pieces fit. http_parser is a push parser with callbacks; it reports the target and
 * each header name and value as pointers into the bytes it is given, possibly in several
 * pieces when they straddle reads. Every byte of a connection goes through one buffer, so the
 * pieces of one item are adjacent there and are simply joined; a gap between two pieces of one
 * value can only be obsolete line folding, which recd refuses (RFC 9112 §5.2 allows that).
 *
 * The parser is paused twice per request: when the head is complete (so recd can check the
 * framing, the version and the limits before any body byte is parsed, and knows where the
 * head ends) and when the message is complete (so one request is answered before the next,
 * pipelined one, is parsed).
 */

static const http_parser_settings settings;

static struct recd_h1 *of(http_parser *p)
{
    return p->data;
}

static int on_url(http_parser *p, const char *at, size_t n)
{
    struct recd_h1 *h = of(p);
    if (!h->target.p)
        h->target.p = at;
    h->target.n = (size_t)(at + n - h->target.p);
    return 0;
}

static int on_header_field(http_parser *p, const char *at, size_t n)
{
    struct recd_h1 *h = of(p);
    if (h->head_done)
        return 0; /* a chunked body's trailer: not kept */
    if (h->in_value || h->nfields == 0) {
        if (h->nfields == RECD_H1_MAX_HEADERS) {
            h->err = RECD_E_HEADERS_TOO_LARGE;
            return -1;
        }
        h->fields[h->nfields++] = (struct recd_h1_field){at, NULL, (uint32_t)n, 0};
        h->in_value = 0;
    } else {
        struct recd_h1_field *f = &h->fields[h->nfields - 1];
        f->name_len = (uint32_t)(at + n - f->name);
    }
    h->piece_end = at + n;
    return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t n)
{
    struct recd_h1 *h = of(p);
    if (h->head_done)
        return 0;
    struct recd_h1_field *f = &h->fields[h->nfields - 1];
    if (!h->in_value) {
        f->value = at;
        f->value_len = (uint32_t)n;
    } else {
        if (at != h->piece_end)
            h->folded = 1;
        f->value_len = (uint32_t)(at + n - f->value);
    }
    h->in_value = 1;
    h->piece_end = at + n;
    return 0;
}

static int on_headers_complete(http_parser *p)
{
    struct recd_h1 *h = of(p);
    h->head_done = 1;
    http_parser_pause(p, 1);
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t n)
{
    struct recd_h1 *h = of(p);
    h->body_bytes += n;
    if (h->body_bytes > RECD_H1_BODY_LIMIT || (h->form && h->body_bytes > RECD_H1_FORM_LIMIT)) {
        h->err = RECD_E_TOO_LARGE;
        return -1;
    }
    if (h->form)
        recd_buf_add(&h->body, at, n);
    return 0;
}

static int on_message_complete(http_parser *p)
{
    struct recd_h1 *h = of(p);
    h->msg_done = 1;
    http_parser_pause(p, 1);
    return 0;
}

static const http_parser_settings settings = {
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

static void reset_request(struct recd_h1 *h)
{
    struct recd_buf body = h->body;
    recd_buf_reset(&body);
    char *buf = h->buf;
    size_t len = h->len, pos = h->pos;
    /* Everything but the header table: it is read only below nfields and each entry is written
     * whole when its field is added, so its 2.4 KB need not be zeroed for every request. */
    _Static_assert(offsetof(struct recd_h1, nfields) == offsetof(struct recd_h1, fields) + sizeof h->fields,
                   "nfields follows the header table");
    memset(h, 0, offsetof(struct recd_h1, fields));
    memset(&h->nfields, 0, sizeof *h - offsetof(struct recd_h1, nfields));
    h->buf = buf;
    h->len = len;
    h->pos = pos;
    h->body = body;
    http_parser_init(&h->p, HTTP_REQUEST);
    h->p.data = h;
}

void recd_h1_init(struct recd_h1 *h)
{
    memset(h, 0, sizeof *h);
    recd_buf_init(&h->body, 0);
    reset_request(h);
}

void recd_h1_free(struct recd_h1 *h)
{
    recd_buf_free(&h->body);
}

void recd_h1_next(struct recd_h1 *h)
{
    size_t rest = h->len - h->pos;
    if (rest && h->pos)
        memmove(h->buf, h->buf + h->pos, rest);
    h->len = rest;
    h->pos = 0;
    reset_request(h);
}

static int is_tchar(unsigned char c)
{
    /* RFC 9110 §5.6.2 */
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static int refuse(struct recd_h1 *h, int err, const char *why)
{
    h->err = err;
    h->why = why;
    h->keep_alive = 0;
    return RECD_H1_REFUSE;
}

static enum recd_method method_of(const char *m, size_t n)
{
    static const struct {
        const char *s;
        enum recd_method m;
    } map[] = {{"GET", RECD_M_GET},   {"HEAD", RECD_M_HEAD}, {"DELETE", RECD_M_DELETE},
               {"POST", RECD_M_POST}, {"PUT", RECD_M_PUT},   {"OPTIONS", RECD_M_OPTIONS}};
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (strlen(map[i].s) == n && memcmp(m, map[i].s, n) == 0)
            return map[i].m;
    return RECD_M_OTHER;
}

/*
 * http_parser knows a fixed list of methods and rejects any other token, but HTTP lets a client
 * send any token and expects 405 for one the resource lacks. So when it rejects the method, and
 * the request line does begin with a token and a space, the parser is restarted on a method it
 * knows and recd treats as "other" (TRACE), followed by the rest of the request as sent; the
 * method the client sent is kept for the access log. Returns RECD_H1_MORE to go on parsing,
 * RECD_H1_REFUSE for a line that is no request line.
 */
static int substitute_method(struct recd_h1 *h, int *wait)
{
    const char *s = h->buf, *end = h->buf + h->len;
    while (s < end && (*s == '\r' || *s == '\n'))
        s++;
    const char *t = s;
    while (t < end && is_tchar((unsigned char)*t))
        t++;
    *wait = 0;
    if (t == end) {
        /* The method goes on past what has arrived: parse again when more has. */
        if ((size_t)(end - h->buf) > RECD_H1_HEAD_LIMIT)
            return refuse(h, RECD_E_BAD_INPUT, "malformed request line");
        reset_request(h);
        h->pos = 0;
        h->started = 1;
        *wait = 1;
        return RECD_H1_MORE;
    }
    if (t == s || *t != ' ')
        return refuse(h, RECD_E_BAD_INPUT, "malformed request line");
    reset_request(h);
    h->started = 1;
    http_parser_execute(&h->p, &settings, "TRACE", 5);
    h->substituted = 1;
    h->method = s;
    h->method_len = (size_t)(t - s);
    h->pos = (size_t)(t - h->buf);
    return RECD_H1_MORE;
}

static int ieq(const struct recd_h1_field *f, const char *name)
{
    return f->name_len == strlen(name) && strncasecmp(f->name, name, f->name_len) == 0;
}

/* The media type of a Content-Type value is application/x-www-form-urlencoded. */
static int is_form(const char *v, size_t n)
{
    static const char type[] = "application/x-www-form-urlencoded";
    size_t tn = sizeof type - 1;
    return n >= tn && strncasecmp(v, type, tn) == 0 &&
           (n == tn || v[tn] == ';' || v[tn] == ' ' || v[tn] == '\t');
}

/*
 * The head is complete and the parser paused on its last byte: checks what http_parser leaves
 * to its user, NUL-terminates the header names and values in place (the parser is past them),
 * and decides how the body is read. Returns RECD_H1_MORE to go on to the body, REQUEST for a
 * request answered now (a chunked body that is not a form: it cannot be sized up front and no
 * resource takes it, so it is never read and the connection closes), or REFUSE.
 */
static int head_complete(struct recd_h1 *h)
{
    http_parser *p = &h->p;
    h->head_end = h->pos + 1;
    if (h->substituted)
        h->m = RECD_M_OTHER;
    else {
        h->method = http_method_str((enum http_method)p->method);
        h->method_len = strlen(h->method);
        h->m = method_of(h->method, h->method_len);
    }
    if (p->http_major == 0)
        return refuse(h, RECD_E_BAD_INPUT, "malformed request line");
    if (p->http_major != 1 || p->http_minor > 1)
        return refuse(h, RECD_E_VERSION, NULL);
    h->http10 = p->http_minor == 0;
    if (h->head_end > RECD_H1_HEAD_LIMIT)
        return refuse(h, h->target.n > RECD_URI_MAX ? RECD_E_URI_TOO_LONG : RECD_E_HEADERS_TOO_LARGE,
                      h->target.n > RECD_URI_MAX ? "" : NULL);
    if (h->folded)
        return refuse(h, RECD_E_BAD_INPUT, "obsolete line folding");
    const char *te = NULL;
    for (unsigned i = 0; i < h->nfields; i++) {
        struct recd_h1_field *f = &h->fields[i];
        /* Whitespace before the colon (RFC 9112 §5.1): a proxy could read another name. */
        if (f->name_len && (f->name[f->name_len - 1] == ' ' || f->name[f->name_len - 1] == '\t'))
            return refuse(h, RECD_E_BAD_INPUT, "ambiguous message framing");
        if (!f->value) {
            f->value = f->name + f->name_len; /* the ':' here becomes the NUL below */
            f->value_len = 0;
        }
        while (f->value_len && (f->value[f->value_len - 1] == ' ' || f->value[f->value_len - 1] == '\t'))
            f->value_len--;
        ((char *)f->name)[f->name_len] = '\0';
        ((char *)f->value)[f->value_len] = '\0';
        if (ieq(f, "Transfer-Encoding")) {
            h->te_count++;
            te = f->value;
        } else if (ieq(f, "Content-Type"))
            h->form = is_form(f->value, f->value_len);
        else if (ieq(f, "Expect"))
            h->expect_continue = strcasecmp(f->value, "100-continue") == 0;
    }
    /* Smuggling shapes http_parser lets through (RFC 9112 §6): several Transfer-Encoding
     * fields, or a coding other than exactly "chunked". A proxy in front could frame them
     * differently, so they are refused rather than guessed at. */
    if (h->te_count > 1 || (te && strcasecmp(te, "chunked") != 0))
        return refuse(h, RECD_E_BAD_INPUT, "ambiguous message framing");
    int chunked = (p->flags & F_CHUNKED) != 0;
    uint64_t length = (p->flags & F_CONTENTLENGTH) ? p->content_length : 0;
    if (length > RECD_H1_BODY_LIMIT || (h->form && length > RECD_H1_FORM_LIMIT))
        return refuse(h, RECD_E_TOO_LARGE, NULL);
    h->expect_continue = h->expect_continue && (chunked || length > 0);
    h->keep_alive = http_should_keep_alive(p) && !p->upgrade;
    if (chunked && !h->form) {
        h->early = 1;
        h->keep_alive = 0;
        h->expect_continue = 0;
        return RECD_H1_REQUEST;
    }
    return RECD_H1_MORE;
}

/* A head that outgrew the limit before it ended: 414 while still in the request line. */
static int head_too_large(struct recd_h1 *h)
{
    const char *end = h->buf + h->pos;
    if (!h->target.p || !memchr(h->target.p, '\n', (size_t)(end - h->target.p)))
        return refuse(h, RECD_E_URI_TOO_LONG, "");
    if (h->target.n > RECD_URI_MAX)
        return refuse(h, RECD_E_URI_TOO_LONG, "");
    return refuse(h, RECD_E_HEADERS_TOO_LARGE, NULL);
}

enum recd_h1_result recd_h1_parse(struct recd_h1 *h)
{
    for (;;) {
        if (h->pos == h->len)
            break;
        h->started = 1;
        size_t n = http_parser_execute(&h->p, &settings, h->buf + h->pos, h->len - h->pos);
        h->pos += n;
        enum http_errno e = HTTP_PARSER_ERRNO(&h->p);
        if (e == HPE_PAUSED) {
            if (h->msg_done) {
                /* A request with an Upgrade (or CONNECT) ends what http_parser will frame. */
                h->keep_alive = h->keep_alive && !h->p.upgrade;
                return RECD_H1_REQUEST;
            }
            int r = head_complete(h);
            if (r != RECD_H1_MORE)
                return (enum recd_h1_result)r;
            http_parser_pause(&h->p, 0);
            continue;
        }
        if (e == HPE_INVALID_METHOD && !h->substituted) {
            int wait;
            int r = substitute_method(h, &wait);
            if (r != RECD_H1_MORE || wait)
                return (enum recd_h1_result)r;
            continue;
        }
        if (e >= HPE_CB_message_begin && e <= HPE_CB_chunk_complete && h->err)
            return refuse(h, h->err, NULL);
        if (e != HPE_OK)
            return refuse(h, RECD_E_BAD_INPUT, http_errno_description(e));
        if (n == 0)
            break; /* cannot happen while bytes remain, but never spin */
    }
    if (!h->head_done) {
        if (h->pos > RECD_H1_HEAD_LIMIT)
            return head_too_large(h);
        return RECD_H1_MORE;
    }
    /* Inside a body: every byte up to here is parsed (and a form's copied), so drop them and
     * keep only the head, whose values the request still points into. */
    h->len = h->pos = h->head_end;
    return RECD_H1_MORE;
}

const char *recd_h1_header(const struct recd_h1 *h, const char *name)
{
    for (unsigned i = 0; i < h->nfields; i++)
        if (ieq(&h->fields[i], name))
            return h->fields[i].value;
    return NULL;
}

int recd_h1_wants_json(struct recd_str target)
{
    const char *q = target.p ? memchr(target.p, '?', target.n) : NULL;
    size_t n = q ? (size_t)(q - target.p) : target.n;
    return n >= 5 && memcmp(target.p + n - 5, ".json", 5) == 0;
}

/*
 * The response head is built by copying, not by snprintf: it is written for every response,
 * and its ten or so vsnprintf calls (format parsing, printf_positional) showed as ~5 % of the
 * server's CPU for a cached .mp3 under wrk (perf record).
 */

/* Appends n bytes to out[cap] at *len; sets *len to at least cap when they do not fit (with
 * room left for a terminating NUL, as snprintf would). */
static void put_n(char *out, size_t cap, size_t *len, const char *s, size_t n)
{
    if (*len < cap && n < cap - *len)
        memcpy(out + *len, s, n);
    *len = *len < cap && n < cap - *len ? *len + n : cap;
}

static void put(char *out, size_t cap, size_t *len, const char *s)
{
    put_n(out, cap, len, s, strlen(s));
}

/* A literal: its length is known when compiling. */
#define PUT_LIT(out, cap, len, lit) put_n(out, cap, len, "" lit, sizeof(lit) - 1)

static void put_u64(char *out, size_t cap, size_t *len, uint64_t v)
{
    char d[20];
    size_t i = sizeof d;
    do
        d[--i] = (char)('0' + v % 10);
    while ((v /= 10) != 0);
    put_n(out, cap, len, d + i, sizeof d - i);
}

/* "Name: value\r\n" */
static void put_header(char *out, size_t cap, size_t *len, const char *name_colon_sp, size_t name_n,
                       const char *value)
{
    put_n(out, cap, len, name_colon_sp, name_n);
    put(out, cap, len, value);
    PUT_LIT(out, cap, len, "\r\n");
}

#define PUT_HEADER(out, cap, len, lit, value) put_header(out, cap, len, "" lit, sizeof(lit) - 1, value)

size_t recd_h1_response_head(char *out, size_t cap, const struct recd_response *rs, uint64_t length,
                             int keep_alive, int http10, const char *date)
{
    size_t n = 0;
    int st = rs->status;
    const char *reason = http_status_str((enum http_status)st);
    PUT_LIT(out, cap, &n, "HTTP/1.1 ");
    if (st < 0) { /* never sent by recd; written as snprintf's %d would */
        PUT_LIT(out, cap, &n, "-");
        put_u64(out, cap, &n, (uint64_t) - (int64_t)st);
    } else
        put_u64(out, cap, &n, (uint64_t)st);
    PUT_LIT(out, cap, &n, " ");
    put(out, cap, &n, reason);
    PUT_LIT(out, cap, &n, "\r\n");
    PUT_HEADER(out, cap, &n, "Date: ", date);
    if (rs->content_type)
        PUT_HEADER(out, cap, &n, "Content-Type: ", rs->content_type);
    if (st >= 200 && st != 204 && st != 304) {
        PUT_LIT(out, cap, &n, "Content-Length: ");
        put_u64(out, cap, &n, length);
        PUT_LIT(out, cap, &n, "\r\n");
    }
    if (rs->allow)
        PUT_HEADER(out, cap, &n, "Allow: ", rs->allow);
    if (rs->www_authenticate)
        PUT_LIT(out, cap, &n, "WWW-Authenticate: Basic realm=\"Twilio API\"\r\n");
    if (rs->disposition[0])
        PUT_HEADER(out, cap, &n, "Content-Disposition: ", rs->disposition);
    if (rs->accept_ranges)
        PUT_LIT(out, cap, &n, "Accept-Ranges: bytes\r\n");
    if (rs->etag[0])
        PUT_HEADER(out, cap, &n, "ETag: ", rs->etag);
    if (rs->last_modified[0])
        PUT_HEADER(out, cap, &n, "Last-Modified: ", rs->last_modified);
    if (rs->content_range[0])
        PUT_HEADER(out, cap, &n, "Content-Range: ", rs->content_range);
    if (rs->retry_after > 0) {
        PUT_LIT(out, cap, &n, "Retry-After: ");
        put_u64(out, cap, &n, (uint64_t)rs->retry_after);
        PUT_LIT(out, cap, &n, "\r\n");
    }
    if (rs->headers)
        put(out, cap, &n, rs->headers);
    /* Media and public URLs are embedded in other sites' pages; credentials are Basic, never
     * cookies, so allowing any origin exposes nothing a direct request would not. */
    PUT_LIT(out, cap, &n, "Access-Control-Allow-Origin: *\r\n");
    if (rs->cors_preflight) {
        PUT_HEADER(out, cap, &n, "Access-Control-Allow-Methods: ", rs->allow ? rs->allow : "");
        PUT_LIT(out, cap, &n,
                "Access-Control-Allow-Headers: Authorization, Range, If-None-Match, If-Modified-Since, "
                "If-Range\r\n"
                "Access-Control-Max-Age: 86400\r\n");
    }
    if (rs->accept_ranges) /* the headers an audio player or a download manager needs */
        PUT_LIT(out, cap, &n,
                "Access-Control-Expose-Headers: Accept-Ranges, Content-Range, Content-Length, ETag, "
                "Last-Modified\r\n");
    if (!keep_alive)
        PUT_LIT(out, cap, &n, "Connection: close\r\n");
    else if (http10)
        PUT_LIT(out, cap, &n, "Connection: keep-alive\r\n");
    PUT_LIT(out, cap, &n, "\r\n");
    if (n < cap)
        out[n] = '\0';
    return n < cap ? n : 0;
}
