#ifndef RECD_CORE_TIME_H
#define RECD_CORE_TIME_H

#include <stddef.h>
#include <stdint.h>

/*
 * recd keeps every instant as microseconds since the Unix epoch (UTC) in an int64: sub-second
 * precision keeps list order equal to creation order (contract §2).
 */

#define RECD_US_PER_SEC INT64_C(1000000)
#define RECD_US_PER_DAY (INT64_C(86400) * RECD_US_PER_SEC)

/** Now, from CLOCK_REALTIME. */
int64_t recd_now_us(void);

/** Formats `us` as RFC 2822 in GMT, "Fri, 17 Jul 2009 01:52:49 +0000"; `out` needs 32 bytes. Returns the
 * length. */
size_t recd_time_rfc2822(int64_t us, char out[32]);

/** Formats `us` as an HTTP date, "Fri, 17 Jul 2009 01:52:49 GMT"; `out` needs 32 bytes. */
size_t recd_time_http(int64_t us, char out[32]);

/**
 * Parses a list-filter date (contract §2): "YYYY-MM-DD" (a GMT day; *is_day = 1) or an RFC 3339
 * timestamp with "Z" or a numeric offset and optional fraction (*is_day = 0). A space stands
 * for '+' in the offset, since a raw '+' in a query string decodes to a space.
 * Impossible dates (2009-02-30, hour 24) are rejected. Returns 0, or -1 when `s` is not such a date
 * (core/error.h: the caller maps it).
 */
int recd_time_parse_filter(const char *s, size_t n, int64_t *us, int *is_day);

/**
 * Parses a command-line date: RFC 3339 as above, or RFC 2822 ("Fri, 17 Jul 2009 01:52:49 +0000",
 * the weekday optional, "GMT"/"UT"/"Z" or a numeric zone). Returns 0, or -1 when `s` is neither.
 */
int recd_time_parse_any(const char *s, size_t n, int64_t *us);

/** Days since the epoch of a proleptic Gregorian civil date; no range checks. */
int64_t recd_days_from_civil(int64_t y, unsigned m, unsigned d);

#endif
