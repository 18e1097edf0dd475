#include "core/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct recd_str recd_str_c(const char *s)
{
    return (struct recd_str){s, s ? strlen(s) : 0};
}

int recd_str_eq(struct recd_str a, const char *lit)
{
    size_t n = strlen(lit);
    return a.n == n && memcmp(a.p, lit, n) == 0;
}

void recd_buf_init(struct recd_buf *b, size_t cap)
{
    b->p = NULL;
    b->len = 0;
    b->cap = 0;
    if (cap)
        recd_buf_reserve(b, cap);
}

void recd_buf_free(struct recd_buf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

void recd_buf_reset(struct recd_buf *b)
{
    b->len = 0;
    if (b->p)
        b->p[0] = '\0';
}

char *recd_buf_steal(struct recd_buf *b, size_t *len)
{
    char *p = b->p;
    if (len)
        *len = b->len;
    b->p = NULL;
    b->len = b->cap = 0;
    return p;
}

void recd_buf_grow(struct recd_buf *b, size_t more)
{
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + more + 1)
        cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p)
        abort();
    b->p = p;
    b->cap = cap;
}

void recd_buf_addi(struct recd_buf *b, int64_t v)
{
    char tmp[24];
    char *e = tmp + sizeof tmp, *q = e;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do {
        *--q = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        *--q = '-';
    recd_buf_add(b, q, (size_t)(e - q));
}

void recd_buf_printf(struct recd_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    recd_buf_reserve(b, n > 0 ? (size_t)n : 0);
    b->p[b->len] = '\0';
    if (n <= 0)
        return;
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

static const char hexd[] = "0123456789abcdef";

/* Bytes a JSON string may hold as they are (and that recd does not escape). */
static int json_plain(unsigned char c)
{
    return c >= 0x20 && c != '"' && c != '\\' && c != 0x7f;
}

void recd_buf_json_esc(struct recd_buf *b, struct recd_str s)
{
    /* Most strings (sids, dates, URIs) need no escape at all: copy them in one go. */
    size_t i = 0;
    while (i < s.n && json_plain((unsigned char)s.p[i]))
        i++;
    if (i == s.n) {
        recd_buf_add(b, s.p, s.n);
        return;
    }
    /* Worst case every byte becomes \u00XX. */
    recd_buf_reserve(b, s.n * 6);
    char *o = b->p + b->len;
    memcpy(o, s.p, i);
    o += i;
    for (; i < s.n; i++) {
        unsigned char c = (unsigned char)s.p[i];
        switch (c) {
        case '"':
            *o++ = '\\';
            *o++ = '"';
            break;
        case '\\':
            *o++ = '\\';
            *o++ = '\\';
            break;
        case '\n':
            *o++ = '\\';
            *o++ = 'n';
            break;
        case '\r':
            *o++ = '\\';
            *o++ = 'r';
            break;
        case '\t':
            *o++ = '\\';
            *o++ = 't';
            break;
        default:
            if (c < 0x20 || c == 0x7f) {
                memcpy(o, "\\u00", 4);
                o[4] = hexd[c >> 4];
                o[5] = hexd[c & 15];
                o += 6;
            } else {
                *o++ = (char)c;
            }
        }
    }
    b->len = (size_t)(o - b->p);
    b->p[b->len] = '\0';
}

void recd_buf_json_str(struct recd_buf *b, struct recd_str s)
{
    recd_buf_addc(b, '"');
    recd_buf_json_esc(b, s);
    recd_buf_addc(b, '"');
}

void recd_buf_xml_text(struct recd_buf *b, struct recd_str s)
{
    recd_buf_reserve(b, s.n * 6);
    char *o = b->p + b->len;
    for (size_t i = 0; i < s.n; i++) {
        unsigned char c = (unsigned char)s.p[i];
        switch (c) {
        case '&':
            memcpy(o, "&amp;", 5);
            o += 5;
            break;
        case '<':
            memcpy(o, "&lt;", 4);
            o += 4;
            break;
        case '>':
            memcpy(o, "&gt;", 4);
            o += 4;
            break;
        case '"':
            memcpy(o, "&quot;", 6);
            o += 6;
            break;
        case '\'':
            memcpy(o, "&apos;", 6);
            o += 6;
            break;
        default:
            /* XML 1.0 has no way to write most control characters, not even escaped. */
            if (c < 0x20 && c != '\n' && c != '\r' && c != '\t')
                break;
            *o++ = (char)c;
        }
    }
    b->len = (size_t)(o - b->p);
    b->p[b->len] = '\0';
}

void recd_buf_url_enc(struct recd_buf *b, struct recd_str s)
{
    recd_buf_reserve(b, s.n * 3);
    char *o = b->p + b->len;
    for (size_t i = 0; i < s.n; i++) {
        unsigned char c = (unsigned char)s.p[i];
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
            c == '_' || c == '.' || c == '~') {
            *o++ = (char)c;
        } else {
            *o++ = '%';
            *o++ = "0123456789ABCDEF"[c >> 4];
            *o++ = "0123456789ABCDEF"[c & 15];
        }
    }
    b->len = (size_t)(o - b->p);
    b->p[b->len] = '\0';
}
