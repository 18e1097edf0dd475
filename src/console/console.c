#include "console/console.h"

#include "api/conditional.h"
#include "console/assets.h"
#include "core/error.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

/*
 * Every console answer carries the same security headers (contract §10). The policy allows
 * scripts, styles, images, media and fetches from this origin only, and nothing inline: the page
 * builds its DOM from text nodes, and Trusted Types ('none') make any HTML sink (innerHTML and
 * its kind) throw, so a value from outside can never become markup even through a mistake.
 * form-action 'none' means that the sign-in form, should its script fail to load, cannot send
 * the credentials anywhere (least of all into a URL). frame-ancestors 'none' and X-Frame-Options
 * keep the page out of other sites' frames (clickjacking the delete button).
 */
#define CSP                                                                                                  \
    "Content-Security-Policy: default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "     \
    "media-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'; "    \
    "require-trusted-types-for 'script'; trusted-types 'none'\r\n"
#define SECURITY                                                                                             \
    CSP "Referrer-Policy: no-referrer\r\n"                                                                   \
        "X-Content-Type-Options: nosniff\r\n"                                                                \
        "X-Frame-Options: DENY\r\n"
/* The files are not versioned by name, so browsers revalidate each time (a 304 when unchanged). */
#define CACHE "Cache-Control: no-cache\r\nVary: Accept-Encoding\r\n"

static const char h_plain[] = SECURITY CACHE;
static const char h_gzip[] = SECURITY CACHE "Content-Encoding: gzip\r\n";
static const char h_error[] = SECURITY "Cache-Control: no-store\r\n";
/* Relative, so that it also works behind a proxy that serves recd under a path prefix. */
static const char h_redirect[] = SECURITY "Location: console/\r\n";

_Static_assert(sizeof h_gzip <= RECD_RESPONSE_HEADERS_MAX, "console headers too long");
_Static_assert(sizeof h_redirect <= RECD_RESPONSE_HEADERS_MAX, "console headers too long");

#define PREFIX     "/console"
#define PREFIX_LEN (sizeof PREFIX - 1)
#define ALLOW      "GET, HEAD, OPTIONS"

int recd_console_owns(const char *path, size_t n)
{
    return n >= PREFIX_LEN && memcmp(path, PREFIX, PREFIX_LEN) == 0 &&
           (n == PREFIX_LEN || path[PREFIX_LEN] == '/');
}

/* The asset a file name (after "/console/") names; the empty name is the page itself. */
static const struct recd_console_asset *asset_of(const char *name, size_t n)
{
    if (n == 0) {
        name = "index.html";
        n = sizeof "index.html" - 1;
    }
    for (size_t i = 0; i < recd_console_asset_count; i++) {
        const struct recd_console_asset *a = &recd_console_assets[i];
        if (strlen(a->name) == n && memcmp(a->name, name, n) == 0)
            return a;
    }
    return NULL;
}

static int is_ows(char c)
{
    return c == ' ' || c == '\t';
}

/*
 * Reads one Accept-Encoding element [s, e): its coding and whether its weight is zero. Returns
 * 0, or -1 for an element that is not `token *( OWS ";" OWS param )` with a valid q.
 */
static int element(const char *s, const char *e, const char **tok, size_t *tok_len, int *zero)
{
    while (s < e && is_ows(*s))
        s++;
    while (e > s && is_ows(e[-1]))
        e--;
    const char *t = s;
    while (s < e && !is_ows(*s) && *s != ';')
        s++;
    if (s == t)
        return -1;
    *tok = t;
    *tok_len = (size_t)(s - t);
    *zero = 0;
    while (s < e) {
        while (s < e && is_ows(*s))
            s++;
        if (s == e)
            break;
        if (*s++ != ';')
            return -1;
        while (s < e && is_ows(*s))
            s++;
        const char *p = s;
        while (s < e && *s != ';' && !is_ows(*s))
            s++;
        size_t pn = (size_t)(s - p);
        if (pn < 2 || (p[0] != 'q' && p[0] != 'Q') || p[1] != '=')
            continue; /* another parameter: not ours to judge */
        /* qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] ) */
        const char *v = p + 2;
        size_t vn = pn - 2;
        if (vn == 0 || (v[0] != '0' && v[0] != '1') || (vn > 1 && (v[1] != '.' || vn > 5)))
            return -1;
        int nonzero_digit = 0;
        for (size_t i = 2; i < vn; i++) {
            if (v[i] < '0' || v[i] > '9' || (v[0] == '1' && v[i] != '0'))
                return -1;
            nonzero_digit |= v[i] != '0';
        }
        *zero = v[0] == '0' && !nonzero_digit;
    }
    return 0;
}

int recd_http_accepts_gzip(const char *hdr)
{
    int gzip = -1, star = -1; /* -1 not named, else 1 accepted, 0 refused */
    if (!hdr)
        return 0;
    const char *s = hdr;
    for (;;) {
        const char *e = strchr(s, ',');
        if (!e)
            e = s + strlen(s);
        const char *tok;
        size_t n;
        int zero;
        if (element(s, e, &tok, &n, &zero) == 0) {
            if ((n == 4 && strncasecmp(tok, "gzip", 4) == 0) ||
                (n == 6 && strncasecmp(tok, "x-gzip", 6) == 0))
                gzip = !zero;
            else if (n == 1 && tok[0] == '*')
                star = !zero;
        }
        if (!*e)
            break;
        s = e + 1;
    }
    return gzip >= 0 ? gzip : star > 0;
}

static void fail(struct recd_response *rs, int err, const char *detail, const char *headers)
{
    recd_api_error(rs, err, 0, detail);
    rs->headers = headers;
}

void recd_console_handle(const struct recd_request *rq, struct recd_response *rs)
{
    const char *qm = memchr(rq->target.p, '?', rq->target.n);
    size_t n = qm ? (size_t)(qm - rq->target.p) : rq->target.n;
    if (rq->method == RECD_M_OPTIONS) {
        rs->status = 204;
        rs->allow = ALLOW;
        rs->headers = h_error;
        return;
    }
    if (rq->method != RECD_M_GET && rq->method != RECD_M_HEAD) {
        fail(rs, RECD_E_METHOD, NULL, h_error);
        rs->allow = ALLOW;
        return;
    }
    if (n == PREFIX_LEN) {
        rs->status = 308;
        rs->headers = h_redirect;
        return;
    }
    const char *name = rq->target.p + PREFIX_LEN + 1;
    const struct recd_console_asset *a = asset_of(name, n - PREFIX_LEN - 1);
    if (!a) {
        char detail[80];
        snprintf(detail, sizeof detail, "%.*s%s", (int)(n > 64 ? 64 : n), rq->target.p, n > 64 ? "..." : "");
        fail(rs, RECD_E_NOT_FOUND, detail, h_error);
        return;
    }
    const char *ae = rq->header ? rq->header(rq, "Accept-Encoding") : NULL;
    int gz = a->gz && recd_http_accepts_gzip(ae);
    const char *inm = rq->header ? rq->header(rq, "If-None-Match") : NULL;
    const char *etag = gz ? a->gz_etag : a->etag;
    snprintf(rs->etag, sizeof rs->etag, "%s", etag);
    if (inm && recd_http_etag_match_weak(inm, etag)) {
        rs->status = 304;
        rs->headers = h_plain;
        return;
    }
    rs->status = 200;
    rs->content_type = a->content_type;
    rs->headers = gz ? h_gzip : h_plain;
    /* Sent from the embedded bytes, without a copy (no cache entry to hold). */
    rs->shared = (const char *)(gz ? a->gz : a->data);
    rs->shared_len = gz ? a->gz_len : a->len;
    rs->shared_ref = NULL;
}
