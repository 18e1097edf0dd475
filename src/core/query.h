#ifndef RECD_CORE_QUERY_H
#define RECD_CORE_QUERY_H

#include "core/buf.h"

#include <stddef.h>

#define RECD_QUERY_MAX_PARAMS 32
#define RECD_URI_MAX          8192 /* longer request targets are refused with 414 */

/**
 * A parsed query string. Keys and values are percent-decoded ('+' is a space) into `mem`, so
 * users' `DateCreated<=…` and the libraries' `DateCreated%3C=…` both give the key "DateCreated<".
 * The struct owns its memory; the slices point into it.
 */
struct recd_query {
    int n;
    struct recd_str key[RECD_QUERY_MAX_PARAMS];
    struct recd_str val[RECD_QUERY_MAX_PARAMS];
    char mem[RECD_URI_MAX];
};

/**
 * Parses `s` (the part after '?', without it). Empty pieces ("a=1&&b=2") are skipped; a piece
 * without '=' is a key with an empty value. Returns 0, or RECD_E_BAD_PARAM for a malformed
 * escape, a decoded NUL, more than RECD_QUERY_MAX_PARAMS pieces, or input over RECD_URI_MAX.
 */
int recd_query_parse(struct recd_query *q, const char *s, size_t n);

/** The value of the first parameter named `key`, or NULL. */
const struct recd_str *recd_query_get(const struct recd_query *q, const char *key);

#endif
