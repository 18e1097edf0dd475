/* The console's requests: a request target (its path picks an embedded file) and the
 * Accept-Encoding and If-None-Match headers, split from one input at the first two newlines. */
#include "console/console.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct fuzz_rq {
    struct recd_request rq;
    const char *accept_encoding, *if_none_match;
};

static const char *header(const struct recd_request *rq, const char *name)
{
    const struct fuzz_rq *f = (const struct fuzz_rq *)rq;
    if (strcmp(name, "Accept-Encoding") == 0)
        return f->accept_encoding;
    if (strcmp(name, "If-None-Match") == 0)
        return f->if_none_match;
    return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    char *ae = memchr(s, '\n', size), *inm = NULL;
    if (ae) {
        *ae++ = '\0';
        if ((inm = strchr(ae, '\n')))
            *inm++ = '\0';
    }
    size_t n = strlen(s);
    struct fuzz_rq f;
    memset(&f, 0, sizeof f);
    f.rq.method = RECD_M_GET;
    f.rq.target = (struct recd_str){s, n};
    f.rq.header = header;
    f.accept_encoding = ae;
    f.if_none_match = inm;
    recd_http_accepts_gzip(ae);
    const char *qm = memchr(s, '?', n);
    if (recd_console_owns(s, qm ? (size_t)(qm - s) : n)) {
        struct recd_response rs;
        recd_response_init(&rs);
        recd_console_handle(&f.rq, &rs);
        if (rs.status == 200 && (!rs.shared || !rs.shared_len || !rs.content_type))
            __builtin_trap(); /* a file answer always has its bytes and type */
        if (!rs.headers || strlen(rs.headers) >= RECD_RESPONSE_HEADERS_MAX)
            __builtin_trap(); /* every answer carries the security headers */
        recd_response_free(&rs);
    }
    free(s);
    return 0;
}
