#ifndef RECD_API_CONDITIONAL_H
#define RECD_API_CONDITIONAL_H

#include <stdint.h>

/*
 * Conditional and range requests for media (RFC 9110 §13 and §14): pure functions over header
 * values, with no I/O and no allocation. Each takes the field value as the HTTP layer hands it
 * over, NUL-terminated; when a list field (If-None-Match, Range) arrived on several lines, the
 * caller joins the lines with ", " first. NULL stands for an absent field everywhere.
 *
 * The caller applies the preconditions in the order of RFC 9110 §13.2.2, and only to a resource
 * that exists (a missing recording is a 404 before any of this):
 *
 *   1. If-None-Match, when present, decides alone: if recd_http_etag_match_weak() says it
 *      matches, answer 304 to GET and HEAD (412 to any other method). If-Modified-Since is then
 *      ignored entirely, whether or not the list matched (§13.1.3: a recipient MUST ignore
 *      If-Modified-Since when the request has If-None-Match).
 *   2. Otherwise, for GET and HEAD only, If-Modified-Since: if recd_http_not_modified_since()
 *      says so, answer 304. It is ignored for every other method.
 *   A 304 carries the ETag and Last-Modified (and Cache-Control) that a 200 would have, no body.
 *   3. Range is only defined for GET (§14.2): a HEAD, or any other method, answers as if there
 *      were no Range. If-Range only matters when Range is present (a server MUST ignore If-Range
 *      without Range); when If-Range is present and recd_http_if_range() says 0, the Range is
 *      ignored and the whole body goes out with 200 (not 416, even if the range was bad).
 *   4. Only then recd_http_range(): RECD_RANGE_OK → 206 with "Content-Range: bytes
 *      start-(start+len-1)/size", RECD_RANGE_UNSATISFIABLE → 416 with "Content-Range: bytes
 *      * /size" (no space between '*' and '/'), RECD_RANGE_NONE → 200 with the whole body.
 *   Every 200 and 206 for media says "Accept-Ranges: bytes".
 *
 * The ETags given to these functions are strong ("\"abc\"", quotes included): recd's media bytes
 * never change under a sid, so its validators are strong. Dates are whole seconds since the
 * epoch, like Last-Modified itself; a negative last_modified_s means "no Last-Modified".
 */

enum recd_range_result {
    RECD_RANGE_NONE,          /* no Range, or one to ignore: 200 with the whole body */
    RECD_RANGE_OK,            /* one satisfiable range: 206 of [*start, *start + *len) */
    RECD_RANGE_UNSATISFIABLE, /* 416 with "Content-Range: bytes * /size" (no space) */
};

/** The longest Range value recd reads, and the most ranges in it; anything larger is ignored. */
#define RECD_RANGE_MAX_LEN   1024
#define RECD_RANGE_MAX_COUNT 100

/** The largest byte position recd reads in a Range; a larger number makes the Range invalid. */
#define RECD_RANGE_MAX_POS (INT64_C(1) << 62)

/**
 * Parses the Range value `hdr` against a representation of `size` bytes (§14.1.2, §14.2).
 *
 * Accepted: the unit "bytes" in any case, '=', then a list of "a-b", "a-" and "-n" (suffix),
 * with optional whitespace only around commas and empty list elements ignored (§5.6.1.2);
 * whitespace around the whole value is trimmed. A last position past the end is clamped to
 * size - 1; a suffix longer than the representation means all of it.
 *
 * Returns RECD_RANGE_NONE for a NULL `hdr`, a negative `size`, a value longer than
 * RECD_RANGE_MAX_LEN bytes or with more than RECD_RANGE_MAX_COUNT ranges, and any invalid value:
 * another unit, no '=', no range at all, a range that is not digits ("bytes=abc", "bytes=-",
 * "bytes=--1"), last < first ("bytes=5-2"), whitespace inside a range or right after '=', or a
 * number above RECD_RANGE_MAX_POS (RFC 9110 lets a server ignore an invalid Range).
 * Returns RECD_RANGE_UNSATISFIABLE when no range is satisfiable: each one starts at or past
 * `size`, or is the suffix "-0", or `size` is 0. Returns RECD_RANGE_NONE when there are several
 * ranges and any is satisfiable: recd sends the whole representation rather than a multipart
 * body, which §14.2 allows. Otherwise RECD_RANGE_OK, with *start and *len set (len >= 1).
 * *start and *len are written only for RECD_RANGE_OK.
 */
enum recd_range_result recd_http_range(const char *hdr, int64_t size, int64_t *start, int64_t *len);

/**
 * Evaluates If-None-Match `hdr` against the current representation, whose strong ETag is `etag`
 * (quotes included; NULL when it has none). Returns 1 when `hdr` is exactly "*" (the resource
 * exists), or when it is a list of entity-tags, each optionally "W/"-prefixed, separated by
 * commas with optional whitespace, one of which weakly matches `etag` (§8.8.3.2: the opaque tags
 * are equal, whatever the W/ flags; If-None-Match uses the weak comparison, §13.1.2).
 * Returns 0 otherwise, and for any malformed value (an unquoted tag, "w/" in lower case, a
 * missing comma, "*" inside a list, a control character), even when an earlier tag matched.
 */
int recd_http_etag_match_weak(const char *hdr, const char *etag);

/**
 * Evaluates If-Range `hdr` (§13.1.5). Returns 1 when it is a strong entity-tag equal to `etag`
 * (the strong comparison: a "W/" tag never matches, nor does a weak `etag`), or an HTTP-date
 * (as recd_http_date_parse) exactly equal to `last_modified_s`; the value is an entity-tag when
 * it starts with a DQUOTE or "W/". Returns 0 otherwise (malformed, no match, NULL `etag` for a
 * tag, negative `last_modified_s` for a date): the caller then ignores Range and sends it all.
 */
int recd_http_if_range(const char *hdr, const char *etag, int64_t last_modified_s);

/**
 * Parses the whole string `s` as an HTTP-date (§5.6.7) into seconds since the epoch: the
 * IMF-fixdate "Sun, 06 Nov 1994 08:49:37 GMT", or the obsolete RFC 850 "Sunday, 06-Nov-94
 * 08:49:37 GMT" and asctime "Sun Nov  6 08:49:37 1994". Names are case-sensitive as the grammar
 * says; the weekday must be a weekday name but is not checked against the date (it means nothing
 * the date does not already say). Second 60 (a leap second) is accepted and counts as second 0
 * of the next minute. Impossible dates (Feb 30, hour 24) and years before 1970 are rejected:
 * nothing recd serves is older, and the result is never negative.
 *
 * The two-digit year of an RFC 850 date is read with a fixed pivot: 70-99 → 1970-1999, 00-69 →
 * 2000-2069. §5.6.7 asks for a sliding window ("more than 50 years in the future" means the past
 * century), which needs the clock; the fixed pivot is that rule as of 2019, and it differs from
 * the live rule only for dates in 2070 and later, which no Last-Modified of recd's can be. Such
 * a misread can only make recd send a 200 where a 304 or 206 was possible.
 *
 * Returns 0 and sets *secs, or -1 (*secs untouched).
 */
int recd_http_date_parse(const char *s, int64_t *secs);

/**
 * Evaluates If-Modified-Since `hdr` (§13.1.3): 1 when it is a valid HTTP-date (surrounding
 * whitespace allowed) and `last_modified_s` is at or before it, so the answer is 304. Returns 0
 * for an invalid date (the field is then ignored), a later modification, or a negative
 * `last_modified_s` (no Last-Modified: the field cannot apply).
 */
int recd_http_not_modified_since(const char *hdr, int64_t last_modified_s);

#endif
