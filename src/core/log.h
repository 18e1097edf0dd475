#ifndef RECD_CORE_LOG_H
#define RECD_CORE_LOG_H

#include <stddef.h>

/*
 * Diagnostics go to stderr, one line each, prefixed with the level. They are for the operator:
 * they may name files and SQL steps, which is why they never reach an HTTP client.
 */

void recd_log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void recd_log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void recd_log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/**
 * 0: every line; 1: no info lines; 2: nothing. The one-shot commands run at 2 so that stderr holds
 * exactly their own one-line reason (RECD_DEBUG=1 shows the library's lines too).
 */
void recd_log_quiet(int level);

/** The text of the last recd_log_error() of this thread (logged or not), "" when none since the
 * last clear. For a command's one-line reason. */
const char *recd_log_last_error(void);
void recd_log_last_error_clear(void);
/** Makes `text` this thread's last error line without logging it: for a line logged on a worker
 * thread that this thread reports (an import's parallel writes). */
void recd_log_last_error_set(const char *text);
/**
 * `recd serve --log-format json`: each line a JSON object ({"time", "level", "msg"}; the access
 * log adds its own fields) for log shippers, instead of "recd: info: …". Set before any thread
 * logs.
 */
void recd_log_set_json(int on);

/** 1 when lines are JSON. */
int recd_log_json(void);

/** Now as RFC 3339 in UTC with milliseconds, "2026-12-07T16:00:00.123Z"; returns its length. */
size_t recd_log_time(char out[32]);

/**
 * Writes the `n` bytes at `s` into `out` (`cap` bytes, NUL-terminated) escaped for the inside of
 * a JSON string: quotes, backslashes and control bytes escaped, bytes that are not UTF-8 as
 * U+FFFD, so that any line is valid JSON. Cut at a whole character when it does not fit. Returns
 * the length written.
 */
size_t recd_log_json_esc(char *out, size_t cap, const char *s, size_t n);

#endif
