#include "core/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int quiet;

/* The last error line of this thread, kept even when quiet: a one-shot command's own reason can
 * then say what the library found (an unreachable bucket, refused credentials). */
static _Thread_local char last_error[512];

const char *recd_log_last_error(void)
{
    return last_error;
}

void recd_log_last_error_clear(void)
{
    last_error[0] = '\0';
}

void recd_log_quiet(int level)
{
    quiet = level;
}

static void emit(const char *level, const char *fmt, va_list ap)
{
    /* One buffered write per line, so lines from several threads do not interleave. */
    char line[1024];
    int n = snprintf(line, sizeof line, "recd: %s: ", level);
    if (n < 0)
        return;
    int m = vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    if (m < 0)
        return;
    size_t len = (size_t)n + (size_t)m;
    if (len > sizeof line - 2)
        len = sizeof line - 2;
    line[len++] = '\n';
    fwrite(line, 1, len, stderr);
}

void recd_log_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    if (quiet >= 2)
        return;
    va_start(ap, fmt);
    emit("error", fmt, ap);
    va_end(ap);
}

void recd_log_warn(const char *fmt, ...)
{
    if (quiet >= 2)
        return;
    va_list ap;
    va_start(ap, fmt);
    emit("warning", fmt, ap);
    va_end(ap);
}

void recd_log_info(const char *fmt, ...)
{
    if (quiet)
        return;
    va_list ap;
    va_start(ap, fmt);
    emit("info", fmt, ap);
    va_end(ap);
}
