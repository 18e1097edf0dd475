#ifndef RECD_CORE_UTF8_H
#define RECD_CORE_UTF8_H

#include <stddef.h>

/**
 * 1 when the `n` bytes at `p` are strict UTF-8 (RFC 3629): no overlong forms, no surrogates
 * (U+D800…U+DFFF), nothing past U+10FFFF, no truncated sequence; else 0. NUL bytes are valid
 * UTF-8 and are accepted; callers that store C strings refuse them themselves. Text that passes
 * can go into JSON, XML and PostgreSQL's text type unchanged. `p` may be NULL when `n` is 0.
 */
int recd_utf8_valid(const void *p, size_t n);

#endif
