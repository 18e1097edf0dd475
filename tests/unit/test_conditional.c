#include "api/conditional.h"

#include "unit.h"

#include <time.h>

/* Spells the enum in failure messages, so a wrong answer reads as "got NONE, want OK". */
static const char *rr_name(enum recd_range_result r)
{
    switch (r) {
    case RECD_RANGE_NONE: return "NONE";
    case RECD_RANGE_OK: return "OK";
    case RECD_RANGE_UNSATISFIABLE: return "UNSATISFIABLE";
    }
    return "?";
}

struct range_case {
    const char *hdr;
    int64_t size;
    enum recd_range_result want;
    int64_t start, len; /* for RECD_RANGE_OK */
};

#define NONE  RECD_RANGE_NONE
#define OK    RECD_RANGE_OK
#define UNSAT RECD_RANGE_UNSATISFIABLE

static const struct range_case range_cases[] = {
    /* The three forms. */
    {"bytes=0-0", 100, OK, 0, 1},
    {"bytes=0-99", 100, OK, 0, 100},
    {"bytes=0-", 100, OK, 0, 100},
    {"bytes=10-19", 100, OK, 10, 10},
    {"bytes=99-", 100, OK, 99, 1},
    {"bytes=99-99", 100, OK, 99, 1},
    {"bytes=-1", 100, OK, 99, 1},
    {"bytes=-100", 100, OK, 0, 100},
    {"bytes=-110", 100, OK, 0, 100}, /* a suffix longer than the file is all of it */
    {"bytes=-30", 100, OK, 70, 30},
    {"bytes=5-5", 100, OK, 5, 1},
    /* The last position is clamped to size - 1. */
    {"bytes=0-100", 100, OK, 0, 100},
    {"bytes=50-1000000", 100, OK, 50, 50},
    {"bytes=0-4611686018427387904", 100, OK, 0, 100}, /* 2^62 itself is still a number */
    /* Leading zeros are only digits. */
    {"bytes=0000000000000000000000000005-0000000000000000000000000009", 100, OK, 5, 5},
    /* Unit case, and whitespace: around the value (trimmed) and around commas only. */
    {"BYTES=0-1", 100, OK, 0, 2},
    {"Bytes=0-1", 100, OK, 0, 2},
    {" bytes=0-1", 100, OK, 0, 2},
    {"bytes=0-1 \t", 100, OK, 0, 2},
    {"\tbytes=0-1", 100, OK, 0, 2},
    {"bytes = 0-1", 100, NONE, 0, 0},
    {"bytes =0-1", 100, NONE, 0, 0},
    {"bytes= 0-1", 100, NONE, 0, 0},
    {"bytes=0 -1", 100, NONE, 0, 0},
    {"bytes=0- 1", 100, NONE, 0, 0},
    {"bytes=- 1", 100, NONE, 0, 0},
    {"bytes=0-1 2-3", 100, NONE, 0, 0},
    /* Empty list elements are ignored (§5.6.1.2). */
    {"bytes=0-1,", 100, OK, 0, 2},
    {"bytes=,0-1", 100, OK, 0, 2},
    {"bytes=, , 0-1 ,,", 100, OK, 0, 2},
    {"bytes=,", 100, NONE, 0, 0},
    {"bytes=, ,", 100, NONE, 0, 0},
    /* Invalid: ignored, so the whole body. */
    {"", 100, NONE, 0, 0},
    {"bytes", 100, NONE, 0, 0},
    {"bytes=", 100, NONE, 0, 0},
    {"bytes=-", 100, NONE, 0, 0},
    {"bytes=--1", 100, NONE, 0, 0},
    {"bytes=-1-", 100, NONE, 0, 0},
    {"bytes=0--1", 100, NONE, 0, 0},
    {"bytes=0-1-2", 100, NONE, 0, 0},
    {"bytes=5-2", 100, NONE, 0, 0},
    {"bytes=abc", 100, NONE, 0, 0},
    {"bytes=0-abc", 100, NONE, 0, 0},
    {"bytes=0x10-", 100, NONE, 0, 0},
    {"bytes=+1-2", 100, NONE, 0, 0},
    {"bytes=1.5-2", 100, NONE, 0, 0},
    {"bytes=0-1;q=1", 100, NONE, 0, 0},
    {"bytes 0-1", 100, NONE, 0, 0},
    {"bytes:0-1", 100, NONE, 0, 0},
    {"=0-1", 100, NONE, 0, 0},
    {"items=0-1", 100, NONE, 0, 0},
    {"bytesx=0-1", 100, NONE, 0, 0},
    {"byte=0-1", 100, NONE, 0, 0},
    {"bytes=0-1\r\n", 100, NONE, 0, 0},
    /* Numbers above 2^62 make the range invalid, wherever they are. */
    {"bytes=4611686018427387905-", 100, NONE, 0, 0},
    {"bytes=0-4611686018427387905", 100, NONE, 0, 0},
    {"bytes=-4611686018427387905", 100, NONE, 0, 0},
    {"bytes=9223372036854775807-", 100, NONE, 0, 0},
    {"bytes=9223372036854775808-", 100, NONE, 0, 0},
    {"bytes=18446744073709551616-", 100, NONE, 0, 0},
    {"bytes=0-18446744073709551616", 100, NONE, 0, 0},
    {"bytes=-99999999999999999999999999999999", 100, NONE, 0, 0},
    /* Unsatisfiable: 416. */
    {"bytes=100-", 100, UNSAT, 0, 0},
    {"bytes=100-200", 100, UNSAT, 0, 0},
    {"bytes=4611686018427387904-", 100, UNSAT, 0, 0},
    {"bytes=-0", 100, UNSAT, 0, 0},
    {"bytes=-000", 100, UNSAT, 0, 0},
    {"bytes=0-0", 0, UNSAT, 0, 0},
    {"bytes=0-", 0, UNSAT, 0, 0},
    {"bytes=-1", 0, UNSAT, 0, 0},
    {"bytes=-0", 0, UNSAT, 0, 0},
    {"bytes=0-1,5-6", 0, UNSAT, 0, 0},
    {"bytes=100-,200-300,-0", 100, UNSAT, 0, 0},
    /* An invalid header stays invalid on an empty file. */
    {"bytes=abc", 0, NONE, 0, 0},
    {"bytes=5-2", 0, NONE, 0, 0},
    /* Several ranges with any satisfiable: the whole body rather than multipart. */
    {"bytes=0-1,5-6", 100, NONE, 0, 0},
    {"bytes=0-1, 5-6", 100, NONE, 0, 0},
    {"bytes=0-1,0-1", 100, NONE, 0, 0},
    {"bytes=0-1,999999-", 100, NONE, 0, 0},
    {"bytes=999999-,0-1", 100, NONE, 0, 0},
    {"bytes=-0,-1", 100, NONE, 0, 0},
    /* One bad range spoils the list, satisfiable or not. */
    {"bytes=0-1,abc", 100, NONE, 0, 0},
    {"bytes=200-,5-2", 100, NONE, 0, 0},
    /* Sizes near the top of int64. */
    {"bytes=-1", INT64_MAX, OK, INT64_MAX - 1, 1},
    {"bytes=4611686018427387904-", INT64_MAX, OK, INT64_C(4611686018427387904), INT64_C(4611686018427387903)},
    {"bytes=0-4611686018427387904", INT64_MAX, OK, 0, INT64_C(4611686018427387905)},
    /* A negative size is the caller's bug: ignore the Range. */
    {"bytes=0-1", -1, NONE, 0, 0},
};

static void test_range_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof range_cases / sizeof range_cases[0]; i++) {
        const struct range_case *c = &range_cases[i];
        int64_t start = -7, len = -7;
        enum recd_range_result got = recd_http_range(c->hdr, c->size, &start, &len);
        if (got != c->want) {
            print_error("range \"%s\" size %lld: got %s, want %s\n", c->hdr, (long long)c->size, rr_name(got),
                        rr_name(c->want));
            fail();
        }
        if (c->want == RECD_RANGE_OK) {
            if (start != c->start || len != c->len) {
                print_error("range \"%s\" size %lld: got [%lld, +%lld), want [%lld, +%lld)\n", c->hdr,
                            (long long)c->size, (long long)start, (long long)len, (long long)c->start,
                            (long long)c->len);
                fail();
            }
        } else {
            /* Nothing is written unless the answer is OK. */
            assert_int_equal(start, -7);
            assert_int_equal(len, -7);
        }
    }
}

/* Every suffix and every start on a small file, against arithmetic done another way. */
static void test_range_exhaustive_small(void **state)
{
    (void)state;
    char h[64];
    int64_t start, len;
    for (int64_t size = 0; size <= 12; size++) {
        for (int64_t n = 0; n <= 15; n++) {
            snprintf(h, sizeof h, "bytes=-%lld", (long long)n);
            enum recd_range_result r = recd_http_range(h, size, &start, &len);
            if (n == 0 || size == 0) {
                assert_int_equal(r, RECD_RANGE_UNSATISFIABLE);
            } else {
                assert_int_equal(r, RECD_RANGE_OK);
                int64_t want_len = n < size ? n : size;
                assert_int_equal(len, want_len);
                assert_int_equal(start + len, size);
            }
        }
        for (int64_t a = 0; a <= 15; a++) {
            for (int64_t b = -1; b <= 15; b++) {
                if (b < 0)
                    snprintf(h, sizeof h, "bytes=%lld-", (long long)a);
                else
                    snprintf(h, sizeof h, "bytes=%lld-%lld", (long long)a, (long long)b);
                enum recd_range_result r = recd_http_range(h, size, &start, &len);
                if (b >= 0 && b < a) {
                    assert_int_equal(r, RECD_RANGE_NONE);
                } else if (a >= size) {
                    assert_int_equal(r, RECD_RANGE_UNSATISFIABLE);
                } else {
                    assert_int_equal(r, RECD_RANGE_OK);
                    int64_t last = b < 0 || b > size - 1 ? size - 1 : b;
                    assert_int_equal(start, a);
                    assert_int_equal(len, last - a + 1);
                }
            }
        }
    }
}

/* Builds "bytes=" followed by `n` copies of `spec` joined by commas into `out`. */
static void many(char *out, size_t cap, const char *spec, int n)
{
    size_t at = (size_t)snprintf(out, cap, "bytes=");
    for (int i = 0; i < n; i++)
        at += (size_t)snprintf(out + at, cap - at, "%s%s", i ? "," : "", spec);
    assert_true(at < cap);
}

static void test_range_limits(void **state)
{
    (void)state;
    static char h[16384];
    int64_t start = -7, len = -7;

    /* 100 ranges are read; 101 are absurd and ignored, even when none is satisfiable. */
    many(h, sizeof h, "200-", 100);
    assert_int_equal(recd_http_range(h, 100, &start, &len), RECD_RANGE_UNSATISFIABLE);
    many(h, sizeof h, "200-", 101);
    assert_true(strlen(h) <= RECD_RANGE_MAX_LEN);
    assert_int_equal(recd_http_range(h, 100, &start, &len), RECD_RANGE_NONE);
    many(h, sizeof h, "0-0", 101);
    assert_int_equal(recd_http_range(h, 100, &start, &len), RECD_RANGE_NONE);

    /* 1000 ranges: ignored. */
    many(h, sizeof h, "0-0", 1000);
    assert_int_equal(recd_http_range(h, 100, &start, &len), RECD_RANGE_NONE);
    many(h, sizeof h, "9-", 1000);
    assert_int_equal(recd_http_range(h, 5, &start, &len), RECD_RANGE_NONE);

    /* 1024 bytes are read, 1025 are not: one range padded with leading zeros to each length. */
    memset(h, '0', sizeof h);
    memcpy(h, "bytes=", 6);
    h[RECD_RANGE_MAX_LEN - 2] = '-';
    h[RECD_RANGE_MAX_LEN - 1] = '7';
    h[RECD_RANGE_MAX_LEN] = '\0';
    assert_int_equal(recd_http_range(h, 100, &start, &len), RECD_RANGE_OK);
    assert_int_equal(start, 0);
    assert_int_equal(len, 8);
    h[RECD_RANGE_MAX_LEN - 2] = '0';
    h[RECD_RANGE_MAX_LEN - 1] = '-';
    h[RECD_RANGE_MAX_LEN] = '7';
    h[RECD_RANGE_MAX_LEN + 1] = '\0';
    start = len = -7;
    assert_int_equal(recd_http_range(h, 100, &start, &len), RECD_RANGE_NONE);
    assert_int_equal(start, -7);

    /* Trailing whitespace past 1024 bytes still counts against the limit. */
    memset(h, ' ', sizeof h);
    memcpy(h, "bytes=0-1", 9);
    h[RECD_RANGE_MAX_LEN] = '\0';
    assert_int_equal(recd_http_range(h, 100, &start, &len), RECD_RANGE_OK);
    h[RECD_RANGE_MAX_LEN] = ' ';
    h[RECD_RANGE_MAX_LEN + 1] = '\0';
    assert_int_equal(recd_http_range(h, 100, &start, &len), RECD_RANGE_NONE);

    /* A header far longer than the limit. */
    memset(h, '0', sizeof h - 1);
    h[sizeof h - 1] = '\0';
    assert_int_equal(recd_http_range(h, 100, &start, &len), RECD_RANGE_NONE);

    assert_int_equal(recd_http_range(NULL, 100, &start, &len), RECD_RANGE_NONE);
}

struct etag_case {
    const char *hdr;
    const char *etag;
    int want;
};

static const struct etag_case inm_cases[] = {
    {"\"abc\"", "\"abc\"", 1},
    {"W/\"abc\"", "\"abc\"", 1}, /* weak comparison ignores W/ */
    {"\"abc\"", "W/\"abc\"", 1},
    {"\"xyz\", \"abc\"", "\"abc\"", 1},
    {"\"xyz\",\"abc\"", "\"abc\"", 1},
    {"\"xyz\" ,\t\"abc\"", "\"abc\"", 1},
    {"\"abc\", \"xyz\"", "\"abc\"", 1},
    {"W/\"xyz\", W/\"abc\"", "\"abc\"", 1},
    {"  \"abc\"  ", "\"abc\"", 1},
    {", \"abc\",,", "\"abc\"", 1},
    {"\"\"", "\"\"", 1},
    {"\"a!#~\x80\xff\"", "\"a!#~\x80\xff\"", 1}, /* every etagc class, obs-text included */
    {"*", "\"abc\"", 1},
    {" * ", "\"abc\"", 1},
    {"*", NULL, 1}, /* "*" is about existence, not the tag */
    /* No match. */
    {"\"abd\"", "\"abc\"", 0},
    {"\"ABC\"", "\"abc\"", 0},
    {"\"abc \"", "\"abc\"", 0},
    {"\"xyz\", W/\"abcd\"", "\"abc\"", 0},
    {"", "\"abc\"", 0},
    {",", "\"abc\"", 0},
    {"\"abc\"", NULL, 0},
    {"\"abc\"", "abc", 0}, /* our own tag malformed: nothing matches it */
    {NULL, "\"abc\"", 0},
    /* Malformed lists never match, even where a tag would. */
    {"abc", "\"abc\"", 0},
    {"abc", "abc", 0},
    {"\"abc", "\"abc\"", 0},
    {"abc\"", "\"abc\"", 0},
    {"w/\"abc\"", "\"abc\"", 0},
    {"W/abc", "\"abc\"", 0},
    {"W/ \"abc\"", "\"abc\"", 0},
    {"W\"abc\"", "\"abc\"", 0},
    {"\"abc\" \"xyz\"", "\"abc\"", 0},
    {"\"abc\"\"xyz\"", "\"abc\"", 0},
    {"\"abc\", garbage", "\"abc\"", 0},
    {"\"abc\", *", "\"abc\"", 0},
    {"*, \"abc\"", "\"abc\"", 0},
    {"**", "\"abc\"", 0},
    {"\"a c\"", "\"a c\"", 0},
    {"\"a\tc\"", "\"a\tc\"", 0},
    {"\"a\x7f\"", "\"a\x7f\"", 0},
    {"\"a\x01\"", "\"a\x01\"", 0},
    {"'abc'", "'abc'", 0},
    {"\"abc\";q=1", "\"abc\"", 0},
};

static void test_etag_match_weak(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof inm_cases / sizeof inm_cases[0]; i++) {
        const struct etag_case *c = &inm_cases[i];
        int got = recd_http_etag_match_weak(c->hdr, c->etag);
        if (got != c->want) {
            print_error("If-None-Match %s%s%s vs %s: got %d, want %d\n", c->hdr ? "'" : "",
                        c->hdr ? c->hdr : "NULL", c->hdr ? "'" : "", c->etag ? c->etag : "NULL", got,
                        c->want);
            fail();
        }
    }
}

/* 1994-11-06 08:49:37 UTC, the RFC's example. */
#define RFC_EXAMPLE INT64_C(784111777)

struct if_range_case {
    const char *hdr;
    const char *etag;
    int64_t lm;
    int want;
};

static const struct if_range_case if_range_cases[] = {
    {"\"abc\"", "\"abc\"", RFC_EXAMPLE, 1},
    {" \"abc\" ", "\"abc\"", RFC_EXAMPLE, 1},
    {"\"abd\"", "\"abc\"", RFC_EXAMPLE, 0},
    {"W/\"abc\"", "\"abc\"", RFC_EXAMPLE, 0}, /* strong comparison: weak never matches */
    {"\"abc\"", "W/\"abc\"", RFC_EXAMPLE, 0},
    {"\"abc\"", NULL, RFC_EXAMPLE, 0},
    {"\"abc\", \"abc\"", "\"abc\"", RFC_EXAMPLE, 0}, /* one validator, not a list */
    {"\"abc", "\"abc\"", RFC_EXAMPLE, 0},
    {"abc", "abc", RFC_EXAMPLE, 0},
    {"*", "\"abc\"", RFC_EXAMPLE, 0},
    {"", "\"abc\"", RFC_EXAMPLE, 0},
    {NULL, "\"abc\"", RFC_EXAMPLE, 0},
    /* Dates: an exact match only, in any of the three formats. */
    {"Sun, 06 Nov 1994 08:49:37 GMT", "\"abc\"", RFC_EXAMPLE, 1},
    {"Sun, 06 Nov 1994 08:49:37 GMT", NULL, RFC_EXAMPLE, 1},
    {"  Sun, 06 Nov 1994 08:49:37 GMT\t", "\"abc\"", RFC_EXAMPLE, 1},
    {"Sunday, 06-Nov-94 08:49:37 GMT", "\"abc\"", RFC_EXAMPLE, 1},
    {"Sun Nov  6 08:49:37 1994", "\"abc\"", RFC_EXAMPLE, 1},
    {"Sun, 06 Nov 1994 08:49:37 GMT", "\"abc\"", RFC_EXAMPLE + 1, 0}, /* modified since */
    {"Sun, 06 Nov 1994 08:49:37 GMT", "\"abc\"", RFC_EXAMPLE - 1, 0}, /* not equal: no range */
    {"Sun, 06 Nov 1994 08:49:37 GMT", "\"abc\"", -1, 0},              /* no Last-Modified */
    {"Sun, 06 Nov 1994 08:49:37 gmt", "\"abc\"", RFC_EXAMPLE, 0},
    {"Sun, 06 Nov 1994 08:49:37", "\"abc\"", RFC_EXAMPLE, 0},
    {"784111777", "\"abc\"", RFC_EXAMPLE, 0},
};

static void test_if_range(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof if_range_cases / sizeof if_range_cases[0]; i++) {
        const struct if_range_case *c = &if_range_cases[i];
        int got = recd_http_if_range(c->hdr, c->etag, c->lm);
        if (got != c->want) {
            print_error("If-Range '%s' vs %s / %lld: got %d, want %d\n", c->hdr ? c->hdr : "NULL",
                        c->etag ? c->etag : "NULL", (long long)c->lm, got, c->want);
            fail();
        }
    }
}

struct date_case {
    const char *s;
    int64_t want; /* -1: rejected */
};

static const struct date_case date_cases[] = {
    /* The RFC's example in all three formats. */
    {"Sun, 06 Nov 1994 08:49:37 GMT", RFC_EXAMPLE},
    {"Sunday, 06-Nov-94 08:49:37 GMT", RFC_EXAMPLE},
    {"Sun Nov  6 08:49:37 1994", RFC_EXAMPLE},
    {"Sun Nov 06 08:49:37 1994", RFC_EXAMPLE}, /* date3 also allows 2DIGIT */
    /* Edges of the calendar and the clock. */
    {"Thu, 01 Jan 1970 00:00:00 GMT", 0},
    {"Thu, 01 Jan 1970 00:00:01 GMT", 1},
    {"Wed, 31 Dec 1969 23:59:59 GMT", -1},
    {"Fri, 17 Jul 2009 01:52:49 GMT", INT64_C(1247795569)},
    {"Tue, 19 Jan 2038 03:14:07 GMT", INT64_C(2147483647)},
    {"Tue, 19 Jan 2038 03:14:08 GMT", INT64_C(2147483648)},
    {"Tue, 29 Feb 2000 12:00:00 GMT", INT64_C(951825600)},
    {"Thu, 29 Feb 2024 23:59:59 GMT", INT64_C(1709251199)},
    {"Fri, 31 Dec 9999 23:59:59 GMT", INT64_C(253402300799)},
    {"Sat, 31 Dec 2016 23:59:60 GMT", INT64_C(1483228800)}, /* leap second = next 00:00:00 */
    {"Sun, 01 Jan 2017 00:00:00 GMT", INT64_C(1483228800)},
    {"Mon, 06 Nov 1994 08:49:37 GMT", RFC_EXAMPLE}, /* the weekday is not cross-checked */
    /* RFC 850 two-digit years: 70-99 are 19xx, 00-69 are 20xx. */
    {"Thursday, 01-Jan-70 00:00:00 GMT", 0},
    {"Friday, 31-Dec-99 23:59:59 GMT", INT64_C(946684799)},
    {"Saturday, 01-Jan-00 00:00:00 GMT", INT64_C(946684800)},
    {"Friday, 17-Jul-09 01:52:49 GMT", INT64_C(1247795569)},
    {"Tuesday, 01-Jan-30 00:00:00 GMT", INT64_C(1893456000)},
    {"Thursday, 31-Dec-69 23:59:59 GMT", INT64_C(3155759999)},
    {"Monday, 29-Feb-04 00:00:00 GMT", INT64_C(1078012800)},
    {"Wednesday, 29-Feb-00 00:00:00 GMT", INT64_C(951782400)}, /* 2000 is a leap year */
    {"Thursday, 29-Feb-01 00:00:00 GMT", -1},
    /* asctime single-digit days and the end of a year. */
    {"Thu Jan  1 00:00:00 1970", 0},
    {"Fri Dec 31 23:59:59 1999", INT64_C(946684799)},
    {"Sat Feb 29 00:00:00 2020", INT64_C(1582934400)},
    /* Impossible dates and times. */
    {"Fri, 30 Feb 2024 00:00:00 GMT", -1},
    {"Thu, 29 Feb 2023 00:00:00 GMT", -1},
    {"Thu, 29 Feb 1900 00:00:00 GMT", -1},
    {"Thu, 31 Apr 2024 00:00:00 GMT", -1},
    {"Thu, 00 Jan 2024 00:00:00 GMT", -1},
    {"Thu, 32 Jan 2024 00:00:00 GMT", -1},
    {"Thu, 01 Jan 2024 24:00:00 GMT", -1},
    {"Thu, 01 Jan 2024 23:60:00 GMT", -1},
    {"Thu, 01 Jan 2024 23:59:61 GMT", -1},
    {"Sat Feb 30 00:00:00 2020", -1},
    {"Sat Feb  0 00:00:00 2020", -1},
    {"Sunday, 31-Nov-94 08:49:37 GMT", -1},
    /* Bad names: months, weekdays, case, the zone. */
    {"Sun, 06 Foo 1994 08:49:37 GMT", -1},
    {"Sun, 06 nov 1994 08:49:37 GMT", -1},
    {"Sun, 06 NOV 1994 08:49:37 GMT", -1},
    {"Sun, 06 November 1994 08:49:37 GMT", -1},
    {"sun, 06 Nov 1994 08:49:37 GMT", -1},
    {"Sundy, 06-Nov-94 08:49:37 GMT", -1},
    {"Sun, 06-Nov-94 08:49:37 GMT", -1},      /* short name in RFC 850 */
    {"Sunday, 06 Nov 1994 08:49:37 GMT", -1}, /* long name in IMF-fixdate */
    {"Sunday Nov  6 08:49:37 1994", -1},
    {"Xyz, 06 Nov 1994 08:49:37 GMT", -1},
    {"06 Nov 1994 08:49:37 GMT", -1},
    {"Sun, 06 Nov 1994 08:49:37", -1},
    {"Sun, 06 Nov 1994 08:49:37 UTC", -1},
    {"Sun, 06 Nov 1994 08:49:37 +0000", -1},
    {"Sun, 06 Nov 1994 08:49:37 GMT+1", -1},
    {"Sun, 06 Nov 1994 08:49:37 GMTX", -1},
    {"Sun, 06 Nov 1994 08:49:37 gmt", -1},
    {"Sunday, 06-Nov-94 08:49:37", -1},
    {"Sun Nov  6 08:49:37 1994 GMT", -1},
    /* Spacing and digit counts are exact. */
    {"Sun,  06 Nov 1994 08:49:37 GMT", -1},
    {"Sun,06 Nov 1994 08:49:37 GMT", -1},
    {"Sun, 6 Nov 1994 08:49:37 GMT", -1},
    {"Sun, 06 Nov 94 08:49:37 GMT", -1},
    {"Sun, 06 Nov 01994 08:49:37 GMT", -1},
    {"Sun, 06 Nov 1994 8:49:37 GMT", -1},
    {"Sun, 06 Nov 1994 08:49 GMT", -1},
    {"Sun, 06 Nov 1994 08:49:37  GMT", -1},
    {" Sun, 06 Nov 1994 08:49:37 GMT", -1},
    {"Sun, 06 Nov 1994 08:49:37 GMT ", -1},
    {"Sun Nov 6 08:49:37 1994", -1},
    {"Sun Nov   6 08:49:37 1994", -1},
    {"Sun Nov  06 08:49:37 1994", -1},
    {"Sun Nov  6 08:49:37 94", -1},
    {"Sunday, 06-Nov-1994 08:49:37 GMT", -1},
    {"Sunday, 6-Nov-94 08:49:37 GMT", -1},
    {"Sunday,06-Nov-94 08:49:37 GMT", -1},
    {"Sun, 06 Nov 1994 08:49:37 GMT\r\n", -1},
    {"Sun, 06 Nov 1994 08:49:3a GMT", -1},
    {"Sun, -6 Nov 1994 08:49:37 GMT", -1},
    {"", -1},
    {"Sun", -1},
    {"Sun,", -1},
    {"Sunday", -1},
    {"Sun, 06 Nov 1994 08:49:37 G", -1},
};

static void test_date_parse_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof date_cases / sizeof date_cases[0]; i++) {
        const struct date_case *c = &date_cases[i];
        int64_t secs = INT64_C(-7);
        int rc = recd_http_date_parse(c->s, &secs);
        int64_t got = rc == 0 ? secs : -1;
        if (got != c->want || (rc != 0 && secs != -7) || (rc != 0 && rc != -1)) {
            print_error("date '%s': rc %d, got %lld, want %lld\n", c->s, rc, (long long)got,
                        (long long)c->want);
            fail();
        }
    }
    int64_t secs = 5;
    assert_int_equal(recd_http_date_parse(NULL, &secs), -1);
    assert_int_equal(secs, 5);
}

/* Every day from 1970 to 2100 in all three formats, each built by strftime from gmtime: the
 * parsers agree with libc on the calendar, leap years included, and with each other. */
static void test_date_parse_every_day(void **state)
{
    (void)state;
    static const char *const wd_long[7] = {"Sunday",   "Monday", "Tuesday", "Wednesday",
                                           "Thursday", "Friday", "Saturday"};
    char imf[64], asc[64], r850[64];
    for (int64_t t = 0; t < INT64_C(4102444800); t += 86400 + 3607) {
        time_t tt = (time_t)t;
        struct tm tm;
        assert_non_null(gmtime_r(&tt, &tm));
        strftime(imf, sizeof imf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
        char day[4];
        snprintf(day, sizeof day, "%2d", tm.tm_mday);
        char hms[16];
        strftime(hms, sizeof hms, "%H:%M:%S", &tm);
        char wd[8], mon[8];
        strftime(wd, sizeof wd, "%a", &tm);
        strftime(mon, sizeof mon, "%b", &tm);
        snprintf(asc, sizeof asc, "%s %s %s %s %d", wd, mon, day, hms, tm.tm_year + 1900);
        int64_t secs = -1;
        assert_int_equal(recd_http_date_parse(imf, &secs), 0);
        assert_int_equal(secs, t);
        secs = -1;
        assert_int_equal(recd_http_date_parse(asc, &secs), 0);
        assert_int_equal(secs, t);
        if (tm.tm_year >= 70 && tm.tm_year < 170) {
            char dm[16];
            strftime(dm, sizeof dm, "%d-%b-%y", &tm);
            snprintf(r850, sizeof r850, "%s, %s %s GMT", wd_long[tm.tm_wday], dm, hms);
            secs = -1;
            assert_int_equal(recd_http_date_parse(r850, &secs), 0);
            assert_int_equal(secs, t);
        }
    }
}

static void test_not_modified_since(void **state)
{
    (void)state;
    const char *d = "Sun, 06 Nov 1994 08:49:37 GMT";
    assert_int_equal(recd_http_not_modified_since(d, RFC_EXAMPLE), 1);
    assert_int_equal(recd_http_not_modified_since(d, RFC_EXAMPLE - 1), 1);
    assert_int_equal(recd_http_not_modified_since(d, 0), 1);
    assert_int_equal(recd_http_not_modified_since(d, RFC_EXAMPLE + 1), 0);
    assert_int_equal(recd_http_not_modified_since(d, -1), 0);
    assert_int_equal(recd_http_not_modified_since(" Sun, 06 Nov 1994 08:49:37 GMT\t", RFC_EXAMPLE), 1);
    assert_int_equal(recd_http_not_modified_since("Sunday, 06-Nov-94 08:49:37 GMT", RFC_EXAMPLE), 1);
    assert_int_equal(recd_http_not_modified_since("Sunday, 06-Nov-94 08:49:36 GMT", RFC_EXAMPLE), 0);
    assert_int_equal(recd_http_not_modified_since("Sun Nov  6 08:49:37 1994", RFC_EXAMPLE), 1);
    assert_int_equal(recd_http_not_modified_since("Sun Nov  6 08:49:36 1994", RFC_EXAMPLE), 0);
    /* Invalid dates are ignored: never a 304, however late they claim to be. */
    assert_int_equal(recd_http_not_modified_since("Fri, 30 Feb 2099 00:00:00 GMT", RFC_EXAMPLE), 0);
    assert_int_equal(recd_http_not_modified_since("Sun, 06 Nov 2099 08:49:37", RFC_EXAMPLE), 0);
    assert_int_equal(recd_http_not_modified_since("Sun, 06 Foo 2099 08:49:37 GMT", RFC_EXAMPLE), 0);
    assert_int_equal(recd_http_not_modified_since("4102444800", RFC_EXAMPLE), 0);
    assert_int_equal(recd_http_not_modified_since("Sun, 06 Nov 2099 08:49:37 GMT, Sun, 06 Nov 2099 "
                                                  "08:49:37 GMT",
                                                  RFC_EXAMPLE),
                     0);
    assert_int_equal(recd_http_not_modified_since("", RFC_EXAMPLE), 0);
    assert_int_equal(recd_http_not_modified_since(NULL, RFC_EXAMPLE), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_range_table),
        cmocka_unit_test(test_range_exhaustive_small),
        cmocka_unit_test(test_range_limits),
        cmocka_unit_test(test_etag_match_weak),
        cmocka_unit_test(test_if_range),
        cmocka_unit_test(test_date_parse_table),
        cmocka_unit_test(test_date_parse_every_day),
        cmocka_unit_test(test_not_modified_since),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
