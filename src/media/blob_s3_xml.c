#include "media/blob_s3.h"

#include <expat.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/*
 * The parsers of S3's answers. An answer is outside input like any request: its size is bounded
 * (RECD_S3_BODY_MAX), its depth and every text value too, a DTD or an entity declaration is
 * refused (no entity expansion at all), and every value is checked before it is used. One walker
 * on expat does the XML; each answer is a small function of the path of the element that ended
 * and its text.
 */

#define DEPTH_MAX 8
#define NAME_MAX_ 48
#define TEXT_MAX  2048

struct walk;
typedef int (*end_fn)(struct walk *w);

struct walk {
    XML_Parser p;
    char names[DEPTH_MAX][NAME_MAX_ + 1];
    int depth; /* elements open */
    char text[TEXT_MAX + 1];
    size_t tlen;
    int bad;    /* malformed, too deep, too long or refused: the parse fails */
    int result; /* a callback's non-zero value, which stops the parse and is returned */
    end_fn on_end;
    void *state;
};

static void stop(struct walk *w)
{
    XML_StopParser(w->p, XML_FALSE);
}

static void XMLCALL on_start(void *ud, const XML_Char *name, const XML_Char **attrs)
{
    (void)attrs;
    struct walk *w = ud;
    size_t n = strlen(name);
    if (w->depth >= DEPTH_MAX || n > NAME_MAX_) {
        w->bad = 1;
        stop(w);
        return;
    }
    memcpy(w->names[w->depth], name, n + 1);
    w->depth++;
    w->tlen = 0;
    w->text[0] = '\0';
}

static void XMLCALL on_end(void *ud, const XML_Char *name)
{
    (void)name;
    struct walk *w = ud;
    int r = w->on_end(w);
    if (r < 0) {
        w->bad = 1;
        stop(w);
        return;
    }
    if (r > 0) {
        w->result = r;
        stop(w);
        return;
    }
    w->depth--;
    w->tlen = 0;
    w->text[0] = '\0';
}

static void XMLCALL on_text(void *ud, const XML_Char *s, int len)
{
    struct walk *w = ud;
    if (len < 0 || w->tlen + (size_t)len > TEXT_MAX) {
        w->bad = 1;
        stop(w);
        return;
    }
    memcpy(w->text + w->tlen, s, (size_t)len);
    w->tlen += (size_t)len;
    w->text[w->tlen] = '\0';
}

static void XMLCALL on_doctype(void *ud, const XML_Char *name, const XML_Char *sysid, const XML_Char *pubid,
                               int has_internal_subset)
{
    (void)name, (void)sysid, (void)pubid, (void)has_internal_subset;
    struct walk *w = ud;
    w->bad = 1;
    stop(w);
}

static void XMLCALL on_entity(void *ud, const XML_Char *name, int is_param, const XML_Char *value,
                              int value_len, const XML_Char *base, const XML_Char *sysid,
                              const XML_Char *pubid, const XML_Char *notation)
{
    (void)name, (void)is_param, (void)value, (void)value_len, (void)base, (void)sysid, (void)pubid,
        (void)notation;
    struct walk *w = ud;
    w->bad = 1;
    stop(w);
}

/* Runs the walker over xml[0…n): 0, -1 (malformed or refused), or a callback's value. */
static int walk_run(struct walk *w, const char *xml, size_t n)
{
    if (xml == NULL || n == 0 || n > RECD_S3_BODY_MAX)
        return -1;
    XML_Parser p = XML_ParserCreate("UTF-8");
    if (p == NULL)
        return -1;
    w->p = p;
    w->depth = 0;
    w->tlen = 0;
    w->bad = 0;
    w->result = 0;
    XML_SetUserData(p, w);
    XML_SetElementHandler(p, on_start, on_end);
    XML_SetCharacterDataHandler(p, on_text);
    XML_SetStartDoctypeDeclHandler(p, on_doctype);
    XML_SetEntityDeclHandler(p, on_entity);
    enum XML_Status st = XML_Parse(p, xml, (int)n, XML_TRUE);
    XML_ParserFree(p);
    if (w->result)
        return w->result;
    if (w->bad || st != XML_STATUS_OK)
        return -1;
    return 0;
}

/* 1 when the open elements are exactly the names given (NULL-terminated), from the root. */
static int at(const struct walk *w, const char *a, const char *b, const char *c)
{
    const char *want[3] = {a, b, c};
    int n = c ? 3 : b ? 2 : 1;
    if (w->depth != n)
        return 0;
    for (int i = 0; i < n; i++)
        if (strcmp(w->names[i], want[i]) != 0)
            return 0;
    return 1;
}

/* Copies the text as printable ASCII (others become '?'), cut to `cap` - 1 bytes. */
static void copy_printable(char *dst, size_t cap, const char *src)
{
    size_t i = 0;
    for (; src[i] && i + 1 < cap; i++)
        dst[i] = src[i] >= 0x20 && src[i] < 0x7f ? src[i] : '?';
    dst[i] = '\0';
}

/* Copies a value that must fit and be printable ASCII without spaces: 0, or -1. */
static int copy_token(char *dst, size_t cap, const char *src, size_t n)
{
    if (n == 0 || n >= cap)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (src[i] <= 0x20 || src[i] >= 0x7f)
            return -1;
    memcpy(dst, src, n);
    dst[n] = '\0';
    return 0;
}

/* A decimal number of at most 18 digits: 0 with *v, or -1. */
static int parse_u63(const char *s, size_t n, int64_t *v)
{
    if (n == 0 || n > 18)
        return -1;
    int64_t x = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        x = x * 10 + (s[i] - '0');
    }
    *v = x;
    return 0;
}

/* --- Error ------------------------------------------------------------------------------- */

struct error_state {
    char *code, *msg;
    int seen;
};

static int error_end(struct walk *w)
{
    struct error_state *s = w->state;
    if (strcmp(w->names[0], "Error") != 0)
        return -1;
    s->seen = 1;
    if (at(w, "Error", "Code", NULL))
        copy_printable(s->code, RECD_S3_CODE_MAX + 1, w->text);
    else if (at(w, "Error", "Message", NULL))
        copy_printable(s->msg, RECD_S3_MSG_MAX + 1, w->text);
    return 0;
}

int recd_s3_parse_error(const char *xml, size_t n, char code[RECD_S3_CODE_MAX + 1],
                        char msg[RECD_S3_MSG_MAX + 1])
{
    struct error_state s = {code, msg, 0};
    struct walk w = {.on_end = error_end, .state = &s};
    code[0] = msg[0] = '\0';
    if (walk_run(&w, xml, n) != 0 || !s.seen || !code[0]) {
        code[0] = msg[0] = '\0';
        return -1;
    }
    return 0;
}

/* --- Multipart upload: initiate and complete ----------------------------------------------- */

struct upload_state {
    char *id;
    int found;
};

static int upload_end(struct walk *w)
{
    struct upload_state *s = w->state;
    if (strcmp(w->names[0], "InitiateMultipartUploadResult") != 0)
        return -1;
    if (at(w, "InitiateMultipartUploadResult", "UploadId", NULL)) {
        if (copy_token(s->id, RECD_S3_UPLOAD_ID_MAX + 1, w->text, w->tlen) < 0)
            return -1;
        s->found = 1;
    }
    return 0;
}

int recd_s3_parse_upload_id(const char *xml, size_t n, char id[RECD_S3_UPLOAD_ID_MAX + 1])
{
    struct upload_state s = {id, 0};
    struct walk w = {.on_end = upload_end, .state = &s};
    id[0] = '\0';
    if (walk_run(&w, xml, n) != 0 || !s.found) {
        id[0] = '\0';
        return -1;
    }
    return 0;
}

struct complete_state {
    struct error_state err;
    int result;
};

static int complete_end(struct walk *w)
{
    struct complete_state *s = w->state;
    if (strcmp(w->names[0], "CompleteMultipartUploadResult") == 0) {
        s->result = 1;
        return 0;
    }
    return error_end(w);
}

int recd_s3_parse_complete(const char *xml, size_t n, char code[RECD_S3_CODE_MAX + 1],
                           char msg[RECD_S3_MSG_MAX + 1])
{
    struct complete_state s = {{code, msg, 0}, 0};
    struct walk w = {.on_end = complete_end, .state = &s};
    code[0] = msg[0] = '\0';
    if (walk_run(&w, xml, n) != 0)
        return -1;
    if (s.result)
        return 1;
    if (s.err.seen && code[0])
        return 0;
    return -1;
}

/* --- Listings ------------------------------------------------------------------------------ */

#define KEY_MAX_ 1024 /* S3's own limit on a key */

struct list_state {
    recd_s3_entry_cb cb;
    void *ctx;
    int uploads; /* 0: ListBucketResult, 1: ListMultipartUploadsResult */
    int *truncated;
    char *next, *next2;
    char key[KEY_MAX_ + 1];
    char id[RECD_S3_UPLOAD_ID_MAX + 1];
    int64_t size, initiated;
    int has_key, has_size, has_id;
    int cb_rc; /* a callback's non-zero value, which stopped the walk */
};

/* "2010-11-10T20:48:33.000Z" (the fraction optional) as seconds since the epoch: 0, or -1. */
static int parse_iso8601(const char *s, int64_t *out)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    int y, mo, d, h, mi, sec, used = 0;
    if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &used) != 6 || used != 19)
        return -1;
    const char *p = s + used;
    if (*p == '.') {
        p++;
        if (*p < '0' || *p > '9')
            return -1;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    if (strcmp(p, "Z") != 0 || y < 1970 || y > 9999 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 ||
        mi > 59 || sec > 60)
        return -1;
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    *out = (int64_t)timegm(&tm);
    return 0;
}

static int list_end(struct walk *w)
{
    struct list_state *s = w->state;
    const char *root = s->uploads ? "ListMultipartUploadsResult" : "ListBucketResult";
    const char *item = s->uploads ? "Upload" : "Contents";
    if (strcmp(w->names[0], root) != 0)
        return -1;
    if (at(w, root, "IsTruncated", NULL)) {
        if (strcmp(w->text, "true") == 0)
            *s->truncated = 1;
        else if (strcmp(w->text, "false") == 0)
            *s->truncated = 0;
        else
            return -1;
    } else if (!s->uploads && at(w, root, "NextContinuationToken", NULL)) {
        if (copy_token(s->next, RECD_S3_TOKEN_ANSWER_MAX + 1, w->text, w->tlen) < 0)
            return -1;
    } else if (s->uploads && at(w, root, "NextKeyMarker", NULL)) {
        if (w->tlen && copy_token(s->next, RECD_S3_TOKEN_ANSWER_MAX + 1, w->text, w->tlen) < 0)
            return -1;
    } else if (s->uploads && at(w, root, "NextUploadIdMarker", NULL)) {
        if (w->tlen && copy_token(s->next2, RECD_S3_UPLOAD_ID_MAX + 1, w->text, w->tlen) < 0)
            return -1;
    } else if (at(w, root, item, "Key")) {
        /* Keys are reported as they are (the caller checks their shape), but never empty, never
         * longer than S3 allows, never with control characters. */
        if (copy_token(s->key, sizeof s->key, w->text, w->tlen) < 0)
            return -1;
        s->has_key = 1;
    } else if (!s->uploads && at(w, root, item, "Size")) {
        if (parse_u63(w->text, w->tlen, &s->size) < 0)
            return -1;
        s->has_size = 1;
    } else if (s->uploads && at(w, root, item, "UploadId")) {
        if (copy_token(s->id, sizeof s->id, w->text, w->tlen) < 0)
            return -1;
        s->has_id = 1;
    } else if (s->uploads && at(w, root, item, "Initiated")) {
        if (parse_iso8601(w->text, &s->initiated) < 0)
            return -1;
    } else if (at(w, root, item, NULL)) {
        int ok = s->has_key && (s->uploads ? s->has_id : s->has_size);
        int64_t size = s->uploads ? -1 : s->size, initiated = s->uploads ? s->initiated : -1;
        s->has_key = s->has_size = s->has_id = 0;
        s->size = 0;
        s->initiated = -1;
        if (!ok)
            return -1;
        s->cb_rc = s->cb(s->ctx, s->key, size, s->uploads ? s->id : NULL, initiated);
        return s->cb_rc != 0; /* a callback's value stops the walk */
    }
    return 0;
}

int recd_s3_parse_list(const char *xml, size_t n, recd_s3_entry_cb cb, void *ctx, int *truncated,
                       char next[RECD_S3_TOKEN_ANSWER_MAX + 1], char next2[RECD_S3_UPLOAD_ID_MAX + 1])
{
    struct list_state s;
    memset(&s, 0, sizeof s);
    s.cb = cb;
    s.ctx = ctx;
    s.truncated = truncated;
    s.next = next;
    s.next2 = next2;
    s.initiated = -1;
    *truncated = 0;
    next[0] = next2[0] = '\0';
    /* Which listing it is shows in the root's name; a quick look before the walk picks the rules. */
    const char *lt = memchr(xml ? xml : "", '<', xml ? n : 0);
    while (lt && (size_t)(lt - xml) + 1 < n && (lt[1] == '?' || lt[1] == '!')) {
        const char *gt = memchr(lt, '>', n - (size_t)(lt - xml));
        lt = gt ? memchr(gt, '<', n - (size_t)(gt - xml)) : NULL;
    }
    static const char up[] = "<ListMultipartUploadsResult";
    s.uploads = lt && n - (size_t)(lt - xml) >= sizeof up - 1 && memcmp(lt, up, sizeof up - 1) == 0;
    struct walk w = {.on_end = list_end, .state = &s};
    int r = walk_run(&w, xml, n);
    if (r > 0)
        return s.cb_rc;
    if (r != 0) {
        *truncated = 0;
        next[0] = next2[0] = '\0';
    }
    return r;
}

int recd_s3_parse_content_range(const char *v, size_t n, int64_t *first, int64_t *last, int64_t *size)
{
    static const char unit[] = "bytes ";
    if (v == NULL || n < sizeof unit - 1 || memcmp(v, unit, sizeof unit - 1) != 0)
        return -1;
    const char *p = v + sizeof unit - 1, *end = v + n;
    const char *dash = memchr(p, '-', (size_t)(end - p));
    if (!dash)
        return -1;
    const char *slash = memchr(dash, '/', (size_t)(end - dash));
    if (!slash)
        return -1;
    int64_t a, b, s;
    if (parse_u63(p, (size_t)(dash - p), &a) < 0 || parse_u63(dash + 1, (size_t)(slash - dash - 1), &b) < 0 ||
        parse_u63(slash + 1, (size_t)(end - slash - 1), &s) < 0 || b < a || b >= s)
        return -1;
    *first = a;
    *last = b;
    *size = s;
    return 0;
}
