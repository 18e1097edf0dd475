#ifndef RECD_CONSOLE_CONSOLE_H
#define RECD_CONSOLE_CONSOLE_H

#include "api/api.h"

#include <stddef.h>

/*
 * The web console (contract §10): a page served at /console/ from files embedded in the binary
 * (console/assets.h), which then speaks only the public API and the /recd/ endpoints. It sits
 * beside the API: it answers a recd_request like the API does, and `recd serve` sends it the
 * requests whose path is its own.
 */

/** 1 when `path` (`n` bytes, the target without its query) is the console's: "/console" or
 * anything under "/console/"; 0 otherwise. */
int recd_console_owns(const char *path, size_t n);

/**
 * Answers a request for one of the console's paths: the embedded file with its type, a strong
 * ETag (304 for If-None-Match), "Cache-Control: no-cache", gzip when the client accepts it, and
 * the security headers of §10 (a Content-Security-Policy without inline script and with
 * frame-ancestors 'none', Referrer-Policy no-referrer, nosniff) on every answer, errors
 * included. "/console" redirects (308) to "/console/". GET and HEAD only (405 otherwise, 204 for
 * OPTIONS); an unknown file is 404.
 */
void recd_console_handle(const struct recd_request *rq, struct recd_response *rs);

/**
 * 1 when the Accept-Encoding value `hdr` (NULL for none) accepts gzip: a "gzip" or "*" coding
 * whose q is not zero, where an explicit "gzip" decides over "*" (RFC 9110 §12.5.3). Tokens are
 * case-insensitive; a malformed element is skipped. 0 otherwise.
 */
int recd_http_accepts_gzip(const char *hdr);

#endif
