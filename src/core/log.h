#ifndef RECD_CORE_LOG_H
#define RECD_CORE_LOG_H

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

#endif
