#include "api/conditional.h"

#include "core/time.h"

#include <stddef.h>
#include <string.h>

/*
 * Every parser here works on a [p, e) span and compares bytes as unsigned char, so that obs-text
 * (bytes >= 0x80) and the sanitizers see no sign surprises and no read goes past the span.
 * Each parsing step returns 0 (or an index), or -1 when the text is not valid: the rule for
 * parsers of outside text in core/error.h. The public functions turn that into what HTTP says
 * to do with an invalid field (usually: ignore it).
 */

static int is_ows(char c)
{
    return c == ' ' || c == '\t';
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* The field value without the whitespace around it, which is not part of it (§5.5). */
static void trim(const char **p, const char **e)
{
    while (*p < *e && is_ows(**p))
        (*p)++;
    while (*e > *p && is_ows((*e)[-1]))
        (*e)--;
}

static void skip_ows(const char **p, const char *e)
{
    while (*p < e && is_ows(**p))
        (*p)++;
}

/* ASCII case folding only: a locale must not change what a header means. */
static int ascii_lower(char c)
{
    return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

/*
 * Reads 1*DIGIT as a value no larger than RECD_RANGE_MAX_POS. Leading zeros are fine however
 * many; the bound is on the value, checked before each step so nothing can overflow.
 */
static int range_pos(const char **p, const char *e, int64_t *v)
{
    const char *s = *p;
    int64_t x = 0;
    while (*p < e && is_digit(**p)) {
        int d = **p - '0';
        if (x > (RECD_RANGE_MAX_POS - d) / 10)
            return -1;
        x = x * 10 + d;
        (*p)++;
    }
    if (*p == s)
        return -1;
    *v = x;
    return 0;
}

enum recd_range_result recd_http_range(const char *hdr, int64_t size, int64_t *start, int64_t *len)
{
    if (!hdr || size < 0)
        return RECD_RANGE_NONE;
    /* strnlen bounds the work on an absurd header before anything else looks at it. */
    size_t n = strnlen(hdr, RECD_RANGE_MAX_LEN + 1);
    if (n > RECD_RANGE_MAX_LEN)
        return RECD_RANGE_NONE;
    const char *p = hdr, *e = hdr + n;
    trim(&p, &e);

    static const char unit[] = "bytes";
    for (size_t i = 0; i < sizeof unit - 1; i++, p++)
        if (p >= e || ascii_lower(*p) != unit[i])
            return RECD_RANGE_NONE;
    if (p >= e || *p++ != '=')
        return RECD_RANGE_NONE;

    /*
     * range-set = 1#range-spec, read the way §5.6.1.2 asks a recipient to: empty elements are
     * skipped, OWS is allowed around each comma and nowhere else.
     */
    int count = 0, satisfiable = 0;
    int64_t first_start = 0, first_len = 0;
    for (;;) {
        if (p < e && *p != ',') {
            int64_t a, b;
            int64_t s = -1, l = 0; /* the satisfiable part of this range, if any */
            if (*p == '-') {
                p++;
                if (range_pos(&p, e, &b) < 0)
                    return RECD_RANGE_NONE;
                if (b > 0 && size > 0) {
                    l = b < size ? b : size;
                    s = size - l;
                }
            } else {
                if (range_pos(&p, e, &a) < 0 || p >= e || *p++ != '-')
                    return RECD_RANGE_NONE;
                b = -1;
                if (p < e && is_digit(*p)) {
                    if (range_pos(&p, e, &b) < 0 || b < a)
                        return RECD_RANGE_NONE;
                }
                if (a < size) {
                    int64_t last = b < 0 || b >= size ? size - 1 : b;
                    s = a;
                    l = last - a + 1;
                }
            }
            if (++count > RECD_RANGE_MAX_COUNT)
                return RECD_RANGE_NONE;
            if (s >= 0 && satisfiable++ == 0) {
                first_start = s;
                first_len = l;
            }
        }
        skip_ows(&p, e);
        if (p == e)
            break;
        if (*p != ',')
            return RECD_RANGE_NONE;
        p++;
        skip_ows(&p, e);
    }

    if (count == 0)
        return RECD_RANGE_NONE;
    if (satisfiable == 0)
        return RECD_RANGE_UNSATISFIABLE;
    /* Several ranges, some satisfiable: the whole body is a correct answer and a simpler one. */
    if (count > 1)
        return RECD_RANGE_NONE;
    *start = first_start;
    *len = first_len;
    return RECD_RANGE_OK;
}

/* An entity-tag: the opaque tag with its quotes, and whether it was W/-prefixed. */
struct etag {
    const char *p;
    size_t n;
    int weak;
};

/* etagc = %x21 / %x23-7E / obs-text: any visible byte but DQUOTE, and bytes >= 0x80. */
static int is_etagc(char c)
{
    unsigned char u = (unsigned char)c;
    return u == 0x21 || (u >= 0x23 && u != 0x7f);
}

/* entity-tag = [ %s"W/" ] DQUOTE *etagc DQUOTE, read at *p; advances past it. */
static int parse_etag(const char **p, const char *e, struct etag *t)
{
    const char *s = *p;
    t->weak = 0;
    if (e - s >= 2 && s[0] == 'W' && s[1] == '/') {
        t->weak = 1;
        s += 2;
    }
    if (s >= e || *s != '"')
        return -1;
    const char *q = s + 1;
    while (q < e && is_etagc(*q))
        q++;
    if (q >= e || *q != '"')
        return -1;
    t->p = s;
    t->n = (size_t)(q + 1 - s);
    *p = q + 1;
    return 0;
}

/* Reads the whole of [p, e) as exactly one entity-tag. */
static int whole_etag(const char *p, const char *e, struct etag *t)
{
    return parse_etag(&p, e, t) == 0 && p == e ? 0 : -1;
}

static int same_opaque(const struct etag *a, const struct etag *b)
{
    return a->n == b->n && memcmp(a->p, b->p, a->n) == 0;
}

int recd_http_etag_match_weak(const char *hdr, const char *etag)
{
    if (!hdr)
        return 0;
    const char *p = hdr, *e = hdr + strlen(hdr);
    trim(&p, &e);
    if (e - p == 1 && *p == '*')
        return 1;

    struct etag want;
    int have = etag && whole_etag(etag, etag + strlen(etag), &want) == 0;
    /* The whole list is read before answering, so that a malformed one never matches. */
    int match = 0;
    for (;;) {
        if (p < e && *p != ',') {
            struct etag t;
            if (parse_etag(&p, e, &t) < 0)
                return 0;
            if (have && same_opaque(&t, &want))
                match = 1;
        }
        skip_ows(&p, e);
        if (p == e)
            break;
        if (*p != ',')
            return 0;
        p++;
        skip_ows(&p, e);
    }
    return match;
}

static const char *const month_names[12] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
static const char *const day_names[7] = {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};
static const char *const day_names_long[7] = {"Monday", "Tuesday",  "Wednesday", "Thursday",
                                              "Friday", "Saturday", "Sunday"};

/* A cursor over the date, so each format below reads like its grammar in §5.6.7. */
struct cur {
    const char *p, *e;
};

static int lit(struct cur *c, const char *s)
{
    size_t n = strlen(s);
    if ((size_t)(c->e - c->p) < n || memcmp(c->p, s, n) != 0)
        return -1;
    c->p += n;
    return 0;
}

static int digits(struct cur *c, int n, int *v)
{
    int x = 0;
    for (int i = 0; i < n; i++) {
        if (c->p >= c->e || !is_digit(*c->p))
            return -1;
        x = x * 10 + (*c->p++ - '0');
    }
    *v = x;
    return 0;
}

/* Matches one of `names` (exact case) at the cursor; returns its index or -1. */
static int name(struct cur *c, const char *const *names, int count)
{
    for (int i = 0; i < count; i++)
        if (lit(c, names[i]) == 0)
            return i;
    return -1;
}

/* month, 1-based. */
static int month(struct cur *c, int *m)
{
    int i = name(c, month_names, 12);
    if (i < 0)
        return -1;
    *m = i + 1;
    return 0;
}

/* time-of-day = hour ":" minute ":" second, 00:00:00 - 23:59:60. */
static int time_of_day(struct cur *c, int *h, int *mi, int *s)
{
    if (digits(c, 2, h) || lit(c, ":") || digits(c, 2, mi) || lit(c, ":") || digits(c, 2, s))
        return -1;
    return *h <= 23 && *mi <= 59 && *s <= 60 ? 0 : -1;
}

static int days_in_month(int y, int m)
{
    static const int dm[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        return 29;
    return dm[m - 1];
}

/* Parses exactly [p, e) as an HTTP-date; see recd_http_date_parse. */
static int parse_date(const char *p, const char *e, int64_t *secs)
{
    struct cur c = {p, e};
    int y, mo, d, h, mi, sec;

    /*
     * The three formats part at the weekday: "Sun," is IMF-fixdate, "Sun " is asctime, and
     * anything else must be RFC 850's long name ("Sunday,"). The short names are prefixes of the
     * long ones, hence the look at the byte after them.
     */
    int short_day = name(&c, day_names, 7) >= 0;
    if (short_day && lit(&c, ",") == 0) {
        /* IMF-fixdate = day-name "," SP day SP month SP year SP time-of-day SP "GMT" */
        if (lit(&c, " ") || digits(&c, 2, &d) || lit(&c, " ") || month(&c, &mo) || lit(&c, " ") ||
            digits(&c, 4, &y) || lit(&c, " ") || time_of_day(&c, &h, &mi, &sec) || lit(&c, " GMT"))
            return -1;
    } else if (short_day && lit(&c, " ") == 0) {
        /* asctime-date = day-name SP month SP ( 2DIGIT / ( SP DIGIT ) ) SP time-of-day SP year */
        if (month(&c, &mo) || lit(&c, " "))
            return -1;
        if (lit(&c, " ") == 0 ? digits(&c, 1, &d) : digits(&c, 2, &d))
            return -1;
        if (lit(&c, " ") || time_of_day(&c, &h, &mi, &sec) || lit(&c, " ") || digits(&c, 4, &y))
            return -1;
    } else {
        /* rfc850-date = day-name-l "," SP day "-" month "-" 2DIGIT SP time-of-day SP "GMT" */
        c.p = p;
        if (name(&c, day_names_long, 7) < 0 || lit(&c, ", ") || digits(&c, 2, &d) || lit(&c, "-") ||
            month(&c, &mo) || lit(&c, "-") || digits(&c, 2, &y) || lit(&c, " ") ||
            time_of_day(&c, &h, &mi, &sec) || lit(&c, " GMT"))
            return -1;
        /* The fixed pivot documented in the header. */
        y += y >= 70 ? 1900 : 2000;
    }
    if (c.p != c.e || y < 1970 || d < 1 || d > days_in_month(y, mo))
        return -1;
    *secs = recd_days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60 + sec;
    return 0;
}

int recd_http_date_parse(const char *s, int64_t *secs)
{
    return s ? parse_date(s, s + strlen(s), secs) : -1;
}

int recd_http_not_modified_since(const char *hdr, int64_t last_modified_s)
{
    if (!hdr || last_modified_s < 0)
        return 0;
    const char *p = hdr, *e = hdr + strlen(hdr);
    trim(&p, &e);
    int64_t secs;
    return parse_date(p, e, &secs) == 0 && last_modified_s <= secs;
}

int recd_http_if_range(const char *hdr, const char *etag, int64_t last_modified_s)
{
    if (!hdr)
        return 0;
    const char *p = hdr, *e = hdr + strlen(hdr);
    trim(&p, &e);
    if (p < e && (*p == '"' || (e - p >= 2 && p[0] == 'W' && p[1] == '/'))) {
        struct etag got, want;
        if (!etag || whole_etag(p, e, &got) < 0 || whole_etag(etag, etag + strlen(etag), &want) < 0)
            return 0;
        return !got.weak && !want.weak && same_opaque(&got, &want);
    }
    int64_t secs;
    return last_modified_s >= 0 && parse_date(p, e, &secs) == 0 && secs == last_modified_s;
}
