#include "core/utf8.h"
#include "stt/stt_internal.h"

#include <stdint.h>
#include <string.h>

/*
 * A strict, bounded JSON reader for one job: finding the "text" member of a transcription
 * response. It validates the whole document (so garbage after a plausible prefix is refused)
 * but keeps only that one string; everything else is skipped as it is checked. Recursion is
 * bounded by RECD_STT_JSON_DEPTH, and every read is bounded by the body's length.
 */

struct rd {
    const char *p;
    size_t n, i;
};

static void ws(struct rd *r)
{
    while (r->i < r->n &&
           (r->p[r->i] == ' ' || r->p[r->i] == '\t' || r->p[r->i] == '\n' || r->p[r->i] == '\r'))
        r->i++;
}

static int lit(struct rd *r, const char *s)
{
    size_t k = strlen(s);
    if (r->n - r->i < k || memcmp(r->p + r->i, s, k) != 0)
        return -1;
    r->i += k;
    return 0;
}

static int hex4(struct rd *r, unsigned *v)
{
    if (r->n - r->i < 4)
        return -1;
    *v = 0;
    for (int k = 0; k < 4; k++) {
        char c = r->p[r->i++];
        unsigned d;
        if (c >= '0' && c <= '9')
            d = (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            d = (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            d = (unsigned)(c - 'A' + 10);
        else
            return -1;
        *v = *v << 4 | d;
    }
    return 0;
}

static void put_utf8(struct recd_buf *b, unsigned cp)
{
    char o[4];
    size_t k;
    if (cp < 0x80) {
        o[0] = (char)cp;
        k = 1;
    } else if (cp < 0x800) {
        o[0] = (char)(0xc0 | cp >> 6);
        o[1] = (char)(0x80 | (cp & 0x3f));
        k = 2;
    } else if (cp < 0x10000) {
        o[0] = (char)(0xe0 | cp >> 12);
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        o[2] = (char)(0x80 | (cp & 0x3f));
        k = 3;
    } else {
        o[0] = (char)(0xf0 | cp >> 18);
        o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
        o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
        o[3] = (char)(0x80 | (cp & 0x3f));
        k = 4;
    }
    recd_buf_add(b, o, k);
}

/* Reads a string (the opening quote at r->i). With `out`, its unescaped value is appended there,
 * up to `max` bytes (beyond: -1). */
static int str(struct rd *r, struct recd_buf *out, size_t max)
{
    if (r->i >= r->n || r->p[r->i] != '"')
        return -1;
    r->i++;
    while (r->i < r->n) {
        unsigned char c = (unsigned char)r->p[r->i];
        if (c == '"') {
            r->i++;
            return 0;
        }
        if (c < 0x20)
            return -1;
        if (c != '\\') {
            size_t j = r->i;
            while (j < r->n && r->p[j] != '"' && r->p[j] != '\\' && (unsigned char)r->p[j] >= 0x20)
                j++;
            if (out)
                recd_buf_add(out, r->p + r->i, j - r->i);
            r->i = j;
        } else {
            r->i++;
            if (r->i >= r->n)
                return -1;
            char e = r->p[r->i++];
            unsigned cp;
            switch (e) {
            case '"': cp = '"'; break;
            case '\\': cp = '\\'; break;
            case '/': cp = '/'; break;
            case 'b': cp = '\b'; break;
            case 'f': cp = '\f'; break;
            case 'n': cp = '\n'; break;
            case 'r': cp = '\r'; break;
            case 't': cp = '\t'; break;
            case 'u':
                if (hex4(r, &cp) < 0)
                    return -1;
                if (cp >= 0xd800 && cp < 0xdc00) {
                    unsigned lo;
                    if (lit(r, "\\u") < 0 || hex4(r, &lo) < 0 || lo < 0xdc00 || lo > 0xdfff)
                        return -1;
                    cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                } else if (cp >= 0xdc00 && cp < 0xe000) {
                    return -1;
                }
                /* A NUL cannot be stored in a transcription's text. */
                if (cp == 0)
                    return -1;
                break;
            default: return -1;
            }
            if (out)
                put_utf8(out, cp);
        }
        if (out && out->len > max)
            return -1;
    }
    return -1;
}

static int num(struct rd *r)
{
    size_t s = r->i;
    if (r->i < r->n && r->p[r->i] == '-')
        r->i++;
    if (r->i >= r->n)
        return -1;
    if (r->p[r->i] == '0') {
        r->i++;
    } else if (r->p[r->i] >= '1' && r->p[r->i] <= '9') {
        while (r->i < r->n && r->p[r->i] >= '0' && r->p[r->i] <= '9')
            r->i++;
    } else {
        return -1;
    }
    if (r->i < r->n && r->p[r->i] == '.') {
        r->i++;
        size_t d = r->i;
        while (r->i < r->n && r->p[r->i] >= '0' && r->p[r->i] <= '9')
            r->i++;
        if (r->i == d)
            return -1;
    }
    if (r->i < r->n && (r->p[r->i] == 'e' || r->p[r->i] == 'E')) {
        r->i++;
        if (r->i < r->n && (r->p[r->i] == '+' || r->p[r->i] == '-'))
            r->i++;
        size_t d = r->i;
        while (r->i < r->n && r->p[r->i] >= '0' && r->p[r->i] <= '9')
            r->i++;
        if (r->i == d)
            return -1;
    }
    return r->i > s ? 0 : -1;
}

struct want {
    struct recd_buf *text;
    size_t max;
    int found;
};

static int value(struct rd *r, int depth, struct want *w);

/* An object; at depth 0 (the document) its "text" member goes to w. */
static int object(struct rd *r, int depth, struct want *w)
{
    struct recd_buf key;
    int rc = -1;
    recd_buf_init(&key, 0);
    r->i++; /* '{' */
    ws(r);
    if (r->i < r->n && r->p[r->i] == '}') {
        r->i++;
        rc = 0;
        goto out;
    }
    for (;;) {
        recd_buf_reset(&key);
        ws(r);
        /* Keys are bounded by the body, which the caller bounds. */
        if (str(r, depth == 0 ? &key : NULL, SIZE_MAX) < 0)
            goto out;
        ws(r);
        if (r->i >= r->n || r->p[r->i] != ':')
            goto out;
        r->i++;
        ws(r);
        int is_text = depth == 0 && key.len == 4 && memcmp(key.p, "text", 4) == 0;
        if (is_text && r->i < r->n && r->p[r->i] == '"') {
            recd_buf_reset(w->text);
            if (str(r, w->text, w->max) < 0)
                goto out;
            w->found = 1;
        } else if (value(r, depth + 1, w) < 0) {
            goto out;
        }
        ws(r);
        if (r->i < r->n && r->p[r->i] == ',') {
            r->i++;
            continue;
        }
        if (r->i < r->n && r->p[r->i] == '}') {
            r->i++;
            rc = 0;
        }
        goto out;
    }
out:
    recd_buf_free(&key);
    return rc;
}

static int array(struct rd *r, int depth, struct want *w)
{
    r->i++; /* '[' */
    ws(r);
    if (r->i < r->n && r->p[r->i] == ']') {
        r->i++;
        return 0;
    }
    for (;;) {
        ws(r);
        if (value(r, depth + 1, w) < 0)
            return -1;
        ws(r);
        if (r->i < r->n && r->p[r->i] == ',') {
            r->i++;
            continue;
        }
        if (r->i < r->n && r->p[r->i] == ']') {
            r->i++;
            return 0;
        }
        return -1;
    }
}

static int value(struct rd *r, int depth, struct want *w)
{
    if (depth > RECD_STT_JSON_DEPTH || r->i >= r->n)
        return -1;
    switch (r->p[r->i]) {
    case '{': return object(r, depth, w);
    case '[': return array(r, depth, w);
    case '"': return str(r, NULL, 0);
    case 't': return lit(r, "true");
    case 'f': return lit(r, "false");
    case 'n': return lit(r, "null");
    default: return num(r);
    }
}

int recd_stt_json_text(const char *p, size_t n, size_t max_text, struct recd_buf *text)
{
    struct rd r = {p, n, 0};
    struct want w = {text, max_text, 0};
    recd_buf_reset(text);
    ws(&r);
    if (r.i >= r.n || r.p[r.i] != '{' || object(&r, 0, &w) < 0)
        goto bad;
    ws(&r);
    if (r.i != r.n || !w.found || !recd_utf8_valid(text->p ? text->p : "", text->len))
        goto bad;
    /* Trim: engines pad the text with a leading space (Whisper does). */
    size_t s = 0, e = text->len;
    while (s < e && (text->p[s] == ' ' || text->p[s] == '\n' || text->p[s] == '\t' || text->p[s] == '\r'))
        s++;
    while (e > s && (text->p[e - 1] == ' ' || text->p[e - 1] == '\n' || text->p[e - 1] == '\t' ||
                     text->p[e - 1] == '\r'))
        e--;
    if (s)
        memmove(text->p, text->p + s, e - s);
    text->len = e - s;
    recd_buf_add(text, "", 0);
    return 0;
bad:
    recd_buf_reset(text);
    recd_buf_add(text, "", 0);
    return -1;
}
