#include "core/json.h"

#include "core/codec.h"
#include "core/error.h"
#include "core/utf8.h"

#include <stdlib.h>
#include <string.h>

/*
 * The reader is recursive descent bounded by the caller's depth. Tokens are appended in document
 * order; a container's `count` and `next` are filled when it closes. Every token spans at least
 * one byte of input, so a document of n bytes has at most n tokens: the array's growth is
 * bounded by what the caller already bounded.
 */

struct rd {
    struct recd_json *j;
    const char *p;
    size_t n, i;
    int max_depth;
    int oom;
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

static long push(struct rd *r, enum recd_json_type type, size_t start)
{
    struct recd_json *j = r->j;
    if (j->ntok == j->cap) {
        size_t cap = j->cap ? j->cap * 2 : 64;
        struct recd_json_tok *t = realloc(j->tok, cap * sizeof *t);
        if (!t) {
            r->oom = 1;
            return -1;
        }
        j->tok = t;
        j->cap = cap;
    }
    struct recd_json_tok *t = &j->tok[j->ntok];
    t->type = type;
    t->start = start;
    t->len = 0;
    t->count = 0;
    t->next = 0;
    return (long)j->ntok++;
}

static int hex4(const char *p, size_t n, size_t i, unsigned *v)
{
    if (n - i < 4)
        return -1;
    *v = 0;
    for (int k = 0; k < 4; k++) {
        int d = recd_hex_digit(p[i + (size_t)k]);
        if (d < 0)
            return -1;
        *v = *v << 4 | (unsigned)d;
    }
    return 0;
}

/* Decodes the escape at p[*i] (just past the backslash) into a code point; advances *i. Lone or
 * reversed surrogates are not valid. */
static int escape(const char *p, size_t n, size_t *i, unsigned *cp)
{
    if (*i >= n)
        return -1;
    char e = p[(*i)++];
    switch (e) {
    case '"': *cp = '"'; return 0;
    case '\\': *cp = '\\'; return 0;
    case '/': *cp = '/'; return 0;
    case 'b': *cp = '\b'; return 0;
    case 'f': *cp = '\f'; return 0;
    case 'n': *cp = '\n'; return 0;
    case 'r': *cp = '\r'; return 0;
    case 't': *cp = '\t'; return 0;
    case 'u': break;
    default: return -1;
    }
    if (hex4(p, n, *i, cp) < 0)
        return -1;
    *i += 4;
    if (*cp >= 0xd800 && *cp < 0xdc00) {
        unsigned lo;
        if (n - *i < 6 || p[*i] != '\\' || p[*i + 1] != 'u' || hex4(p, n, *i + 2, &lo) < 0 || lo < 0xdc00 ||
            lo > 0xdfff)
            return -1;
        *i += 6;
        *cp = 0x10000 + ((*cp - 0xd800) << 10) + (lo - 0xdc00);
    } else if (*cp >= 0xdc00 && *cp < 0xe000) {
        return -1;
    }
    return 0;
}

static int string(struct rd *r)
{
    long t = push(r, RECD_JSON_STRING, r->i + 1);
    if (t < 0)
        return -1;
    r->i++; /* '"' */
    while (r->i < r->n) {
        unsigned char c = (unsigned char)r->p[r->i];
        if (c == '"') {
            r->j->tok[t].len = r->i - r->j->tok[t].start;
            r->j->tok[t].next = r->j->ntok;
            r->i++;
            return 0;
        }
        if (c < 0x20)
            return -1;
        if (c == '\\') {
            unsigned cp;
            r->i++;
            if (escape(r->p, r->n, &r->i, &cp) < 0)
                return -1;
        } else {
            r->i++;
        }
    }
    return -1;
}

static int number(struct rd *r)
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
    long t = push(r, RECD_JSON_NUMBER, s);
    if (t < 0)
        return -1;
    r->j->tok[t].len = r->i - s;
    r->j->tok[t].next = r->j->ntok;
    return 0;
}

static int value(struct rd *r, int depth);

/* An array or object at r->i: items (or name/value pairs) until the closing bracket. */
static int container(struct rd *r, int depth, int is_obj)
{
    if (depth >= r->max_depth)
        return -1;
    long t = push(r, is_obj ? RECD_JSON_OBJECT : RECD_JSON_ARRAY, r->i);
    if (t < 0)
        return -1;
    char close = is_obj ? '}' : ']';
    size_t count = 0;
    r->i++;
    ws(r);
    if (r->i < r->n && r->p[r->i] == close) {
        r->i++;
        goto done;
    }
    for (;;) {
        ws(r);
        if (is_obj) {
            if (r->i >= r->n || r->p[r->i] != '"' || string(r) < 0)
                return -1;
            ws(r);
            if (r->i >= r->n || r->p[r->i] != ':')
                return -1;
            r->i++;
            ws(r);
        }
        if (value(r, depth + 1) < 0)
            return -1;
        count++;
        ws(r);
        if (r->i < r->n && r->p[r->i] == ',') {
            r->i++;
            continue;
        }
        if (r->i < r->n && r->p[r->i] == close) {
            r->i++;
            goto done;
        }
        return -1;
    }
done:
    r->j->tok[t].count = count;
    r->j->tok[t].len = r->i - r->j->tok[t].start;
    r->j->tok[t].next = r->j->ntok;
    return 0;
}

static int value(struct rd *r, int depth)
{
    if (r->i >= r->n)
        return -1;
    enum recd_json_type type;
    size_t s = r->i;
    switch (r->p[r->i]) {
    case '{': return container(r, depth, 1);
    case '[': return container(r, depth, 0);
    case '"': return string(r);
    case 't':
        type = RECD_JSON_TRUE;
        if (lit(r, "true") < 0)
            return -1;
        break;
    case 'f':
        type = RECD_JSON_FALSE;
        if (lit(r, "false") < 0)
            return -1;
        break;
    case 'n':
        type = RECD_JSON_NULL;
        if (lit(r, "null") < 0)
            return -1;
        break;
    default: return number(r);
    }
    long t = push(r, type, s);
    if (t < 0)
        return -1;
    r->j->tok[t].len = r->i - s;
    r->j->tok[t].next = r->j->ntok;
    return 0;
}

void recd_json_init(struct recd_json *j)
{
    memset(j, 0, sizeof *j);
}

void recd_json_free(struct recd_json *j)
{
    free(j->tok);
    memset(j, 0, sizeof *j);
}

int recd_json_parse(struct recd_json *j, const char *p, size_t n, int max_depth)
{
    struct rd r = {j, p, n, 0, max_depth, 0};
    j->src = p;
    j->ntok = 0;
    ws(&r);
    int rc = value(&r, 0);
    ws(&r);
    if (rc == 0 && r.i == r.n)
        return 0;
    j->ntok = 0;
    return r.oom ? RECD_E_INTERNAL : -1;
}

/* Unescapes string token `i` into out (appending); max bounds the value's bytes. */
static int unescape(const struct recd_json *j, size_t i, struct recd_buf *out, size_t max)
{
    const struct recd_json_tok *t = &j->tok[i];
    const char *p = j->src + t->start;
    size_t n = t->len, at = 0, base = out->len;
    while (at < n) {
        size_t k = at;
        while (k < n && p[k] != '\\')
            k++;
        if (k > at) {
            if (out->len - base + (k - at) > max)
                return -1;
            recd_buf_add(out, p + at, k - at);
            at = k;
            continue;
        }
        unsigned cp;
        at++;
        /* Checked by the parse; \u0000 cannot be a C string's byte. */
        if (escape(p, n, &at, &cp) < 0 || cp == 0)
            return -1;
        char o[4];
        size_t len;
        if (cp < 0x80) {
            o[0] = (char)cp;
            len = 1;
        } else if (cp < 0x800) {
            o[0] = (char)(0xc0 | cp >> 6);
            o[1] = (char)(0x80 | (cp & 0x3f));
            len = 2;
        } else if (cp < 0x10000) {
            o[0] = (char)(0xe0 | cp >> 12);
            o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
            o[2] = (char)(0x80 | (cp & 0x3f));
            len = 3;
        } else {
            o[0] = (char)(0xf0 | cp >> 18);
            o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
            o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
            o[3] = (char)(0x80 | (cp & 0x3f));
            len = 4;
        }
        if (out->len - base + len > max)
            return -1;
        recd_buf_add(out, o, len);
    }
    return 0;
}

int recd_json_string(const struct recd_json *j, size_t i, struct recd_buf *out, size_t max)
{
    if (i >= j->ntok || j->tok[i].type != RECD_JSON_STRING)
        return -1;
    size_t base = out->len;
    if (unescape(j, i, out, max) < 0)
        return -1;
    /* Raw bytes were not checked by the parse: the value as a whole must be UTF-8 without NUL. */
    if (!recd_utf8_valid(out->p ? out->p + base : "", out->len - base) ||
        (out->len > base && memchr(out->p + base, '\0', out->len - base)))
        return -1;
    recd_buf_add(out, "", 0);
    return 0;
}

int recd_json_string_to(const struct recd_json *j, size_t i, char *out, size_t cap, int null_ok)
{
    out[0] = '\0';
    if (i < j->ntok && j->tok[i].type == RECD_JSON_NULL && null_ok)
        return 0;
    struct recd_buf b;
    recd_buf_init(&b, 0);
    int rc = recd_json_string(j, i, &b, cap - 1);
    if (rc == 0)
        memcpy(out, b.p ? b.p : "", b.len + 1);
    recd_buf_free(&b);
    return rc;
}

int recd_json_string_eq(const struct recd_json *j, size_t i, const char *s)
{
    if (i >= j->ntok || j->tok[i].type != RECD_JSON_STRING)
        return 0;
    const struct recd_json_tok *t = &j->tok[i];
    size_t sl = strlen(s);
    /* The common case, a name without escapes, needs no copy. */
    if (!memchr(j->src + t->start, '\\', t->len))
        return t->len == sl && memcmp(j->src + t->start, s, sl) == 0;
    struct recd_buf b;
    recd_buf_init(&b, 0);
    int eq = unescape(j, i, &b, sl) == 0 && b.len == sl && memcmp(b.p ? b.p : "", s, sl) == 0;
    recd_buf_free(&b);
    return eq;
}

long recd_json_member(const struct recd_json *j, size_t obj, const char *key)
{
    if (obj >= j->ntok || j->tok[obj].type != RECD_JSON_OBJECT)
        return -1;
    long found = -1;
    size_t k = obj + 1;
    for (size_t m = 0; m < j->tok[obj].count; m++) {
        if (recd_json_string_eq(j, k, key))
            found = (long)(k + 1);
        k = j->tok[k + 1].next;
    }
    return found;
}

int recd_json_int(const struct recd_json *j, size_t i, int64_t *v)
{
    if (i >= j->ntok || j->tok[i].type != RECD_JSON_NUMBER)
        return -1;
    const char *p = j->src + j->tok[i].start;
    size_t n = j->tok[i].len, at = 0;
    int neg = 0;
    if (at < n && p[at] == '-') {
        neg = 1;
        at++;
    }
    if (at == n)
        return -1;
    uint64_t x = 0;
    for (; at < n; at++) {
        if (p[at] < '0' || p[at] > '9')
            return -1;
        unsigned d = (unsigned)(p[at] - '0');
        if (x > (UINT64_C(9223372036854775808) - d) / 10)
            return -1;
        x = x * 10 + d;
    }
    if (!neg && x > (uint64_t)INT64_MAX)
        return -1;
    *v = neg ? (int64_t)(0 - x) : (int64_t)x;
    return 0;
}
