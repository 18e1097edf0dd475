#include "core/log.h"

#include "core/utf8.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static int quiet;
static int json;

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

void recd_log_last_error_set(const char *text)
{
    snprintf(last_error, sizeof last_error, "%s", text ? text : "");
}

void recd_log_quiet(int level)
{
    quiet = level;
}

void recd_log_set_json(int on)
{
    json = on;
}

int recd_log_json(void)
{
    return json;
}

size_t recd_log_time(char out[32])
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(out, 32, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);
    return n < 0 ? 0 : n > 31 ? 31 : (size_t)n;
}

/* The length of the UTF-8 sequence at s (n bytes left), or 0 when it is not one. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    size_t len = s[0] < 0xc0 ? 0 : s[0] < 0xe0 ? 2 : s[0] < 0xf0 ? 3 : s[0] < 0xf8 ? 4 : 0;
    return len && len <= n && recd_utf8_valid(s, len) ? len : 0;
}

size_t recd_log_json_esc(char *out, size_t cap, const char *s, size_t n)
{
    size_t o = 0;
    if (!cap)
        return 0;
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        char esc[8];
        const char *piece = esc;
        size_t len = 1, used = 1;
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            len = 2;
        } else if (c == '\n' || c == '\t') {
            esc[0] = '\\';
            esc[1] = c == '\n' ? 'n' : 't';
            len = 2;
        } else if (c < 0x20 || c == 0x7f) {
            snprintf(esc, sizeof esc, "\\u%04x", c);
            len = 6;
        } else if (c < 0x80) {
            piece = s + i;
        } else if ((used = utf8_seq((const unsigned char *)s + i, n - i)) != 0) {
            piece = s + i;
            len = used;
        } else {
            piece = "\xef\xbf\xbd"; /* U+FFFD for a byte that is not UTF-8 */
            len = 3;
            used = 1;
        }
        if (o + len >= cap)
            break;
        memcpy(out + o, piece, len);
        o += len;
        i += used;
    }
    out[o] = '\0';
    return o;
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
    if (json) {
        char out[3200], when[32];
        recd_log_time(when);
        int k = snprintf(out, sizeof out, "{\"time\":\"%s\",\"level\":\"%s\",\"msg\":\"", when, level);
        k += (int)recd_log_json_esc(out + k, sizeof out - (size_t)k - 3, line + n, len - (size_t)n);
        memcpy(out + k, "\"}\n", 3);
        fwrite(out, 1, (size_t)k + 3, stderr);
        return;
    }
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
