#include "core/log.h"

#include <stdarg.h>
#include <stdio.h>

static int quiet;

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
    if (quiet >= 2)
        return;
    va_list ap;
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
