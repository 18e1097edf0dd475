#ifndef RECD_CORE_LOG_H
#define RECD_CORE_LOG_H

/*
 * Diagnostics go to stderr, one line each, prefixed with the level. They are for the operator:
 * they may name files and SQL steps, which is why they never reach an HTTP client.
 */

void recd_log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void recd_log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void recd_log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/** Silences info lines (the CLI's commands print JSON on stdout; stderr is for errors). */
void recd_log_quiet(int on);

#endif
