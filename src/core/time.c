#include "core/time.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

static const char wday_names[7][4] = {"Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"};
static const char mon_names[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

int64_t recd_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * RECD_US_PER_SEC + ts.tv_nsec / 1000;
}

/* Howard Hinnant's days_from_civil / civil_from_days: exact for every Gregorian date. */
int64_t recd_days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static void put2(char *p, unsigned v)
{
    p[0] = (char)('0' + v / 10);
    p[1] = (char)('0' + v % 10);
}

/* Formats by hand: every list item carries three dates, and snprintf was a quarter of the cost of
 * rendering a page. Years outside 0000–9999 cannot be written in this form and come out as 9999. */
static size_t format_date(int64_t us, char out[32], const char *zone)
{
    int64_t days = floor_div(us, RECD_US_PER_DAY);
    int64_t secs = floor_div(us, RECD_US_PER_SEC) - days * 86400;
    int64_t y;
    unsigned m, d;
    civil_from_days(days, &y, &m, &d);
    if (y < 0 || y > 9999)
        y = 9999;
    int64_t wd = ((days % 7) + 7) % 7;
    char *p = out;
    memcpy(p, wday_names[wd], 3);
    p[3] = ',';
    p[4] = ' ';
    put2(p + 5, d);
    p[7] = ' ';
    memcpy(p + 8, mon_names[m - 1], 3);
    p[11] = ' ';
    put2(p + 12, (unsigned)(y / 100));
    put2(p + 14, (unsigned)(y % 100));
    p[16] = ' ';
    put2(p + 17, (unsigned)(secs / 3600));
    p[19] = ':';
    put2(p + 20, (unsigned)(secs / 60 % 60));
    p[22] = ':';
    put2(p + 23, (unsigned)(secs % 60));
    p[25] = ' ';
    size_t zl = strlen(zone);
    memcpy(p + 26, zone, zl + 1);
    return 26 + zl;
}

size_t recd_time_rfc2822(int64_t us, char out[32])
{
    return format_date(us, out, "+0000");
}

size_t recd_time_http(int64_t us, char out[32])
{
    return format_date(us, out, "GMT");
}

/* A tiny cursor over the input, so each parser reads like the grammar it follows. Every step
 * returns 0, or -1 when the text is not valid (the parser rule of core/error.h). */
struct cur {
    const char *p, *e;
};

static int digits(struct cur *c, int n, int *v)
{
    int x = 0;
    for (int i = 0; i < n; i++) {
        if (c->p >= c->e || *c->p < '0' || *c->p > '9')
            return -1;
        x = x * 10 + (*c->p++ - '0');
    }
    *v = x;
    return 0;
}

static int lit(struct cur *c, char ch)
{
    if (c->p < c->e && *c->p == ch) {
        c->p++;
        return 0;
    }
    return -1;
}

static int days_in_month(int y, int m)
{
    static const int dm[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        return 29;
    return dm[m - 1];
}

static int valid_ymd(int y, int m, int d)
{
    return y >= 1970 && y <= 9999 && m >= 1 && m <= 12 && d >= 1 && d <= days_in_month(y, m);
}

static int64_t instant(int y, int mo, int d, int h, int mi, int s)
{
    return (recd_days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60 + s) *
           RECD_US_PER_SEC;
}

/* Parses the time part of RFC 3339 after the 'T': hh:mm:ss[.frac](Z|±hh:mm). */
static int rfc3339_time(struct cur *c, int y, int mo, int d, int64_t *us)
{
    int h, mi, s;
    if (digits(c, 2, &h) || lit(c, ':') || digits(c, 2, &mi) || lit(c, ':') || digits(c, 2, &s))
        return -1;
    if (h > 23 || mi > 59 || s > 59)
        return -1;
    int64_t frac = 0;
    if (c->p < c->e && *c->p == '.') {
        c->p++;
        int nd = 0;
        int64_t scale = 100000;
        while (c->p < c->e && *c->p >= '0' && *c->p <= '9') {
            if (nd < 6) {
                frac += (*c->p - '0') * scale;
                scale /= 10;
            }
            nd++;
            c->p++;
        }
        if (nd == 0 || nd > 9)
            return -1;
    }
    int64_t off = 0;
    if (c->p < c->e && (*c->p == 'Z' || *c->p == 'z')) {
        c->p++;
    } else if (c->p < c->e && (*c->p == '+' || *c->p == '-' || *c->p == ' ')) {
        int sign = *c->p == '-' ? -1 : 1;
        c->p++;
        int oh, om;
        if (digits(c, 2, &oh) || lit(c, ':') || digits(c, 2, &om) || oh > 23 || om > 59)
            return -1;
        off = sign * (oh * 3600 + om * 60) * RECD_US_PER_SEC;
    } else {
        return -1;
    }
    if (c->p != c->e)
        return -1;
    *us = instant(y, mo, d, h, mi, s) + frac - off;
    return 0;
}

static int parse_3339_or_day(const char *s, size_t n, int64_t *us, int *is_day)
{
    struct cur c = {s, s + n};
    int y, mo, d;
    if (digits(&c, 4, &y) || lit(&c, '-') || digits(&c, 2, &mo) || lit(&c, '-') || digits(&c, 2, &d))
        return -1;
    if (!valid_ymd(y, mo, d))
        return -1;
    if (c.p == c.e) {
        *us = instant(y, mo, d, 0, 0, 0);
        *is_day = 1;
        return 0;
    }
    if (*c.p != 'T' && *c.p != 't' && *c.p != ' ')
        return -1;
    c.p++;
    *is_day = 0;
    return rfc3339_time(&c, y, mo, d, us) ? -1 : 0;
}

int recd_time_parse_filter(const char *s, size_t n, int64_t *us, int *is_day)
{
    return parse_3339_or_day(s, n, us, is_day);
}

static int rfc2822(const char *s, size_t n, int64_t *us)
{
    struct cur c = {s, s + n};
    /* Optional "Fri, " */
    if (c.e - c.p >= 5 && c.p[3] == ',') {
        int ok = 0;
        for (int i = 0; i < 7; i++)
            ok |= memcmp(c.p, wday_names[i], 3) == 0;
        if (!ok)
            return -1;
        c.p += 4;
        while (c.p < c.e && *c.p == ' ')
            c.p++;
    }
    int d, y, h, mi, sec = 0, mo = 0;
    if (c.e - c.p >= 2 && c.p[1] == ' ') {
        if (digits(&c, 1, &d))
            return -1;
    } else if (digits(&c, 2, &d)) {
        return -1;
    }
    if (lit(&c, ' ') || c.e - c.p < 4)
        return -1;
    for (int i = 0; i < 12; i++)
        if (memcmp(c.p, mon_names[i], 3) == 0)
            mo = i + 1;
    if (!mo)
        return -1;
    c.p += 3;
    if (lit(&c, ' ') || digits(&c, 4, &y) || lit(&c, ' ') || digits(&c, 2, &h) || lit(&c, ':') ||
        digits(&c, 2, &mi))
        return -1;
    if (c.p < c.e && *c.p == ':' && (c.p++, digits(&c, 2, &sec)))
        return -1;
    if (lit(&c, ' '))
        return -1;
    int64_t off = 0;
    size_t rest = (size_t)(c.e - c.p);
    if ((rest == 3 && memcmp(c.p, "GMT", 3) == 0) || (rest == 2 && memcmp(c.p, "UT", 2) == 0) ||
        (rest == 1 && *c.p == 'Z')) {
        c.p = c.e;
    } else if (rest == 5 && (*c.p == '+' || *c.p == '-')) {
        int sign = *c.p++ == '-' ? -1 : 1, oh, om;
        if (digits(&c, 2, &oh) || digits(&c, 2, &om) || oh > 23 || om > 59)
            return -1;
        off = sign * (oh * 3600 + om * 60) * RECD_US_PER_SEC;
    } else {
        return -1;
    }
    if (!valid_ymd(y, mo, d) || h > 23 || mi > 59 || sec > 60)
        return -1;
    if (sec == 60)
        sec = 59;
    *us = instant(y, mo, d, h, mi, sec) - off;
    return 0;
}

int recd_time_parse_any(const char *s, size_t n, int64_t *us)
{
    int is_day;
    if (parse_3339_or_day(s, n, us, &is_day) == 0)
        return 0;
    return rfc2822(s, n, us) == 0 ? 0 : -1;
}
