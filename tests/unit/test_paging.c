#include "api/paging.h"

#include "api/route.h"
#include "core/error.h"
#include "core/query.h"
#include "core/time.h"

#include "unit.h"

#define AC  "AC0123456789abcdef0123456789abcdef"
#define RE  "RE557ce644e5ab84fa21cc21112e22c485"
#define CA  "CAfedcba9876543210fedcba9876543210"
#define CA2 "CA00000000000000000000000000000001"
#define CF  "CF00000000000000000000000000000000"
#define CF2 "CF11111111111111111111111111111111"
#define P   "/2010-04-01/Accounts/" AC

#define S(sec) ((int64_t)(sec)*RECD_US_PER_SEC)
#define DAY    RECD_US_PER_DAY
#define JUL01  S(INT64_C(1246406400)) /* 2009-07-01 00:00:00 UTC */
#define JUL06  S(INT64_C(1246838400)) /* 2009-07-06 00:00:00 UTC */
#define JUL17  S(INT64_C(1247795569)) /* 2009-07-17 01:52:49 UTC */

/* ---- page tokens ---------------------------------------------------------------------------- */

static int url_safe(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

static void test_token_exact(void **state)
{
    (void)state;
    char t[RECD_PAGE_TOKEN_LEN + 2];
    memset(t, 'X', sizeof t);
    /* 8 bytes of big-endian µs, then the sid's 16 bytes, base64url: computed independently. */
    recd_page_token_encode(t, 'A', JUL17 + 123456, RE);
    assert_string_equal(t, "PAAARu3QumYIBVfOZE5auE-iHMIREuIsSF");
    assert_int_equal(t[RECD_PAGE_TOKEN_LEN + 1], 'X');
    recd_page_token_encode(t, 'B', 0, "RE00000000000000000000000000000000");
    assert_string_equal(t, "PBAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    recd_page_token_encode(t, 'B', -1, "REffffffffffffffffffffffffffffffff");
    assert_string_equal(t, "PB________________________________");
}

static void test_token_round_trip(void **state)
{
    (void)state;
    static const int64_t us[] = {0,         1,  JUL17 + 123456, S(INT64_C(253402300799)) + 999999,
                                 INT64_MAX, -1, INT64_MIN};
    uint64_t x = 0x9E3779B97F4A7C15u;
    for (size_t i = 0; i < sizeof us / sizeof us[0]; i++) {
        for (int k = 0; k < 50; k++) {
            /* A reproducible pseudo-random sid. */
            char sid[RECD_SID_LEN + 1] = "RE";
            unsigned char raw[16];
            for (int j = 0; j < 16; j++) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                raw[j] = (unsigned char)x;
            }
            recd_hex(sid + 2, raw, 16);
            for (int dir = 0; dir < 2; dir++) {
                char t[RECD_PAGE_TOKEN_LEN + 1];
                recd_page_token_encode(t, dir ? 'B' : 'A', us[i], sid);
                assert_int_equal(strlen(t), RECD_PAGE_TOKEN_LEN);
                assert_int_equal(t[0], 'P');
                assert_int_equal(t[1], dir ? 'B' : 'A');
                for (int j = 2; j < RECD_PAGE_TOKEN_LEN; j++)
                    assert_true(url_safe(t[j]));
                struct recd_list_query q;
                memset(&q, 0x5A, sizeof q);
                assert_int_equal(recd_page_token_decode(t, RECD_PAGE_TOKEN_LEN, "RE", &q), 0);
                assert_int_equal(q.anchor_dir, dir ? RECD_ANCHOR_BEFORE : RECD_ANCHOR_AFTER);
                assert_int_equal(q.anchor_us, us[i]);
                assert_string_equal(q.anchor_sid, sid);
                /* The prefix is not in the token: it comes from the list. */
                assert_int_equal(recd_page_token_decode(t, RECD_PAGE_TOKEN_LEN, "TR", &q), 0);
                assert_memory_equal(q.anchor_sid, "TR", 2);
                assert_string_equal(q.anchor_sid + 2, sid + 2);
            }
        }
    }
}

static void token_bad(const char *t, size_t n)
{
    struct recd_list_query q;
    memset(&q, 0, sizeof q);
    int rc = recd_page_token_decode(t, n, "RE", &q);
    if (rc != RECD_E_PAGE_TOKEN)
        print_error("token_decode(\"%.*s\") = %d, want PAGE_TOKEN\n", (int)n, t, rc);
    assert_int_equal(rc, RECD_E_PAGE_TOKEN);
}

static void test_token_malformed(void **state)
{
    (void)state;
    const char *good = "PAAARu3QumYIBVfOZE5auE-iHMIREuIsSF";
    struct recd_list_query q;
    assert_int_equal(recd_page_token_decode(good, 34, "RE", &q), 0);
    /* Wrong prefix. */
    token_bad(LIT("PCAARu3QumYIBVfOZE5auE-iHMIREuIsSF"));
    token_bad(LIT("paAARu3QumYIBVfOZE5auE-iHMIREuIsSF"));
    token_bad(LIT("Pa"
                  "AARu3QumYIBVfOZE5auE-iHMIREuIsSF"));
    token_bad(LIT("XAAARu3QumYIBVfOZE5auE-iHMIREuIsSF"));
    token_bad(LIT("AAAARu3QumYIBVfOZE5auE-iHMIREuIsSF"));
    /* Wrong length. */
    token_bad(good, 33);
    token_bad(LIT("PAAARu3QumYIBVfOZE5auE-iHMIREuIsSFA"));
    token_bad(LIT("PAAARu3QumYIBVfOZE5auE-iHMIREuIsSFAAAA"));
    token_bad(LIT("PA"));
    token_bad(LIT("P"));
    token_bad("", 0);
    /* Outside the URL-safe alphabet, anywhere. */
    static const char bad_chars[] = {'+', '/', '=', ' ', '.', '%', '~', '!', '\0', '\n', '\x80', '\xff'};
    for (size_t i = 0; i < sizeof bad_chars; i++) {
        for (size_t pos = 2; pos < 34; pos += 5) {
            char t[35];
            memcpy(t, good, 35);
            t[pos] = bad_chars[i];
            token_bad(t, 34);
        }
    }
    /* Standard-base64 spelling of the same bytes, and a padded form. */
    token_bad(LIT("PAAARu3QumYIBVfOZE5auE+iHMIREuIsSF"));
    token_bad(LIT("PAAARu3QumYIBVfOZE5auE-iHMIREuIs=="));
    /*
     * Non-canonical base64: 24 bytes fill all 8 groups of 4 characters, so a 34-character token
     * has no spare bits to set. The shorter payloads that would have them (23 bytes: 31
     * characters) are refused by length; the codec's own refusal is in test_codec.c.
     */
    token_bad(LIT("PAAARu3QumYIBVfOZE5auE-iHMIREuIsS"));
    token_bad(LIT("PAAARu3QumYIBVfOZE5auE-iHMIREuIsT"));
}

/* ---- list parameters ------------------------------------------------------------------------ */

static struct recd_query qs;
static struct recd_route rt;
static struct recd_list_params lp;
static const char *bad;

/* Parses `query` for the list at `path`; returns recd_list_params_parse's result. */
static int parse(const char *path, const char *query)
{
    assert_int_equal(recd_route_match(path, strlen(path), &rt), 0);
    assert_true(rt.is_list);
    assert_int_equal(recd_query_parse(&qs, query, strlen(query)), 0);
    bad = NULL;
    memset(&lp, 0x5A, sizeof lp);
    return recd_list_params_parse(&qs, &rt, &lp, &bad);
}

static void parse_ok(const char *path, const char *query)
{
    int rc = parse(path, query);
    if (rc != 0)
        print_error("list_params(\"%s\") = %d (bad %s)\n", query, rc, bad ? bad : "-");
    assert_int_equal(rc, 0);
}

static void parse_fails(const char *path, const char *query, int want, const char *want_bad)
{
    int rc = parse(path, query);
    if (rc != want)
        print_error("list_params(\"%s\") = %d, want %d\n", query, rc, want);
    assert_int_equal(rc, want);
    assert_non_null(bad);
    assert_string_equal(bad, want_bad);
}

static void test_defaults(void **state)
{
    (void)state;
    parse_ok(P "/Recordings.json", "");
    assert_int_equal(lp.page_size, 50);
    assert_int_equal(lp.page, 0);
    assert_int_equal(lp.has_token, 0);
    assert_int_equal(lp.empty, 0);
    assert_ptr_equal(lp.q.account_sid, rt.account_sid);
    assert_string_equal(lp.q.account_sid, AC);
    assert_true(lp.q.call_sid == NULL || lp.q.call_sid[0] == '\0');
    assert_true(lp.q.conference_sid == NULL || lp.q.conference_sid[0] == '\0');
    assert_true(lp.q.recording_sid == NULL || lp.q.recording_sid[0] == '\0');
    assert_int_equal(lp.q.created_ge_us, INT64_MIN);
    assert_int_equal(lp.q.created_lt_us, INT64_MAX);
    assert_int_equal(lp.q.include_deleted, 0);
    assert_int_equal(lp.q.anchor_dir, RECD_ANCHOR_NONE);
    assert_int_equal(lp.q.offset, 0);
    assert_null(lp.call_sid);
    assert_null(lp.conference_sid);
    assert_null(lp.date_eq);
    assert_null(lp.date_lt);
    assert_null(lp.date_gt);
    assert_null(lp.include_deleted);
    /* Unknown parameters are ignored. */
    parse_ok(P "/Recordings.json", "Foo=bar&pagesize=7&DateCreated%3D=x&Status=completed");
    assert_int_equal(lp.page_size, 50);
    assert_int_equal(lp.q.created_ge_us, INT64_MIN);
    assert_int_equal(lp.q.created_lt_us, INT64_MAX);
}

static void test_page_size(void **state)
{
    (void)state;
    parse_ok(P "/Recordings.json", "PageSize=1");
    assert_int_equal(lp.page_size, 1);
    parse_ok(P "/Recordings.json", "PageSize=1000");
    assert_int_equal(lp.page_size, 1000);
    parse_ok(P "/Recordings", "PageSize=20");
    assert_int_equal(lp.page_size, 20);
    parse_ok(P "/Recordings", "PageSize=020");
    assert_int_equal(lp.page_size, 20);
    parse_ok(P "/Transcriptions.json", "PageSize=3");
    assert_int_equal(lp.page_size, 3);

    static const char *bad_sizes[] = {
        "PageSize=1001",
        "PageSize=0",
        "PageSize=-1",
        "PageSize=abc",
        "PageSize=",
        "PageSize",
        "PageSize=99999999999999999999",
        "PageSize=1000000000000000000",
        "PageSize=9223372036854775808",
        "PageSize=18446744073709551617",
        "PageSize=+5",
        "PageSize=%205",
        "PageSize=5%20",
        "PageSize=1.5",
        "PageSize=1e3",
        "PageSize=0x10",
        "PageSize=00",
        "PageSize=-0",
    };
    for (size_t i = 0; i < sizeof bad_sizes / sizeof bad_sizes[0]; i++)
        parse_fails(P "/Recordings.json", bad_sizes[i], RECD_E_PAGE_SIZE, "PageSize");
    parse_fails(P "/Transcriptions.json", "PageSize=1001", RECD_E_PAGE_SIZE, "PageSize");
    /* Over 1000 is Twilio's 20007, a 400. */
    assert_int_equal(recd_err_status(RECD_E_PAGE_SIZE), 400);
    assert_int_equal(recd_err_code(RECD_E_PAGE_SIZE), 20007);
}

static void test_page(void **state)
{
    (void)state;
    parse_ok(P "/Recordings.json", "Page=2&PageSize=10");
    assert_int_equal(lp.page, 2);
    assert_int_equal(lp.q.offset, 20); /* legacy: without a token, Page is an offset */
    parse_ok(P "/Recordings.json", "Page=0");
    assert_int_equal(lp.page, 0);
    assert_int_equal(lp.q.offset, 0);
    parse_ok(P "/Recordings.json", "Page=3");
    assert_int_equal(lp.q.offset, 150);
    parse_ok(P "/Recordings.json", "Page=1000000000&PageSize=1000");
    assert_int_equal(lp.page, 1000000000);
    assert_int_equal(lp.q.offset, INT64_C(1000000000000));

    static const char *bad_pages[] = {"Page=-1",  "Page=abc", "Page=",           "Page",
                                      "Page=1.0", "Page=+1",  "Page=1000000001", "Page=99999999999999999999"};
    for (size_t i = 0; i < sizeof bad_pages / sizeof bad_pages[0]; i++)
        parse_fails(P "/Recordings.json", bad_pages[i], RECD_E_BAD_PARAM, "Page");
}

static void test_page_token(void **state)
{
    (void)state;
    /* With a token Page is only echoed: no offset. */
    parse_ok(P "/Recordings.json", "PageSize=10&Page=3&PageToken=PAAARu3QumYIBVfOZE5auE-iHMIREuIsSF");
    assert_int_equal(lp.has_token, 1);
    assert_int_equal(lp.page, 3);
    assert_int_equal(lp.q.offset, 0);
    assert_int_equal(lp.q.anchor_dir, RECD_ANCHOR_AFTER);
    assert_int_equal(lp.q.anchor_us, JUL17 + 123456);
    assert_string_equal(lp.q.anchor_sid, RE);
    assert_non_null(lp.token);
    assert_bytes(lp.token->p, lp.token->n, "PAAARu3QumYIBVfOZE5auE-iHMIREuIsSF");
    /* A transcription list's anchor is a TR sid. */
    parse_ok(P "/Transcriptions.json", "PageToken=PBAARu3QumYIBVfOZE5auE-iHMIREuIsSF");
    assert_int_equal(lp.q.anchor_dir, RECD_ANCHOR_BEFORE);
    assert_string_equal(lp.q.anchor_sid, "TR557ce644e5ab84fa21cc21112e22c485");
    /* Call and conference lists are recording lists. */
    parse_ok(P "/Calls/" CA "/Recordings.json", "PageToken=PBAARu3QumYIBVfOZE5auE-iHMIREuIsSF");
    assert_string_equal(lp.q.anchor_sid, RE);

    parse_fails(P "/Recordings.json", "PageToken=", RECD_E_PAGE_TOKEN, "PageToken");
    parse_fails(P "/Recordings.json", "PageToken=PAAARu3QumYIBVfOZE5auE-iHMIREuIsS", RECD_E_PAGE_TOKEN,
                "PageToken");
    parse_fails(P "/Recordings.json", "PageToken=PCAARu3QumYIBVfOZE5auE-iHMIREuIsSF", RECD_E_PAGE_TOKEN,
                "PageToken");
    /* A '+' in a query is a space: not in the alphabet. */
    parse_fails(P "/Recordings.json", "PageToken=PAAARu3QumYIBVfOZE5auE+iHMIREuIsSF", RECD_E_PAGE_TOKEN,
                "PageToken");
    assert_int_equal(recd_err_status(RECD_E_PAGE_TOKEN), 400);
}

/* Parses one date filter and checks the half-open range [ge, lt) it gives. */
static void range(const char *query, int64_t ge, int64_t lt)
{
    parse_ok(P "/Recordings.json", query);
    if (lp.q.created_ge_us != ge || lp.q.created_lt_us != lt)
        print_error("%s: got [%lld, %lld) want [%lld, %lld)\n", query, (long long)lp.q.created_ge_us,
                    (long long)lp.q.created_lt_us, (long long)ge, (long long)lt);
    assert_int_equal(lp.q.created_ge_us, ge);
    assert_int_equal(lp.q.created_lt_us, lt);
}

static void test_date_filters(void **state)
{
    (void)state;
    /* DateCreated=D: created on day D. */
    range("DateCreated=2009-07-06", JUL06, JUL06 + DAY);
    assert_int_equal(lp.empty, 0);
    assert_non_null(lp.date_eq);
    assert_bytes(lp.date_eq->p, lp.date_eq->n, "2009-07-06");
    /* DateCreated>=D: at or after D 00:00:00. */
    range("DateCreated>=2009-07-06", JUL06, INT64_MAX);
    range("DateCreated%3E=2009-07-06", JUL06, INT64_MAX);
    assert_non_null(lp.date_gt);
    /* DateCreated<=D: on or before day D, i.e. before D+1 00:00:00. */
    range("DateCreated<=2009-07-06", INT64_MIN, JUL06 + DAY);
    range("DateCreated%3C=2009-07-06", INT64_MIN, JUL06 + DAY);
    range("DateCreated%3c=2009-07-06", INT64_MIN, JUL06 + DAY);
    assert_non_null(lp.date_lt);
    assert_bytes(lp.date_lt->p, lp.date_lt->n, "2009-07-06");
    /* A timestamp T: >= T is at or after T; <= T is at or before T, i.e. < T + 1 µs. */
    range("DateCreated>=2009-07-17T01:52:49Z", JUL17, INT64_MAX);
    range("DateCreated<=2009-07-17T01:52:49Z", INT64_MIN, JUL17 + 1);
    range("DateCreated%3C=2009-07-17T01%3A52%3A49Z", INT64_MIN, JUL17 + 1);
    range("DateCreated<=2009-07-17T01:52:49.5Z", INT64_MIN, JUL17 + 500001);
    range("DateCreated>=2009-07-17T03:52:49%2B02:00", JUL17, INT64_MAX);
    range("DateCreated>=2009-07-17T03:52:49+02:00", JUL17, INT64_MAX); /* raw '+' arrives as ' ' */
    range("DateCreated<=2009-07-16T18:52:49-07:00", INT64_MIN, JUL17 + 1);
    /* DateCreated=T: the GMT day that contains T. */
    range("DateCreated=2009-07-17T01:52:49Z", JUL17 - (JUL17 % DAY), JUL17 - (JUL17 % DAY) + DAY);
    range("DateCreated=2009-07-06T23:30:00-01:00", JUL06 + DAY, JUL06 + 2 * DAY);
    /* Midnight itself: >= includes it, <= a timestamp includes it, = the day after excludes it. */
    range("DateCreated>=2009-07-06T00:00:00Z", JUL06, INT64_MAX);
    range("DateCreated<=2009-07-06T00:00:00Z", INT64_MIN, JUL06 + 1);
    range("DateCreated=2009-07-05", JUL06 - DAY, JUL06);
}

static void test_date_ranges(void **state)
{
    (void)state;
    range("DateCreated>=2009-07-01&DateCreated<=2009-07-06", JUL01, JUL06 + DAY);
    assert_int_equal(lp.empty, 0);
    range("DateCreated%3C=2009-07-06&DateCreated%3E=2009-07-01", JUL01, JUL06 + DAY);
    /* The same day on both sides is that whole day. */
    range("DateCreated>=2009-07-06&DateCreated<=2009-07-06", JUL06, JUL06 + DAY);
    assert_int_equal(lp.empty, 0);
    /* = and a bound intersect. */
    range("DateCreated=2009-07-06&DateCreated>=2009-07-06T12:00:00Z", JUL06 + DAY / 2, JUL06 + DAY);
    range("DateCreated=2009-07-06&DateCreated<=2009-07-06T12:00:00Z", JUL06, JUL06 + DAY / 2 + 1);
    range("DateCreated=2009-07-06&DateCreated>=2009-07-01&DateCreated<=2009-07-17", JUL06, JUL06 + DAY);
    /* An impossible range matches nothing, without an error. */
    range("DateCreated>=2009-07-07&DateCreated<=2009-07-06", JUL06 + DAY, JUL06 + DAY);
    assert_int_equal(lp.empty, 1);
    range("DateCreated>=2009-07-17T01:52:50Z&DateCreated<=2009-07-17T01:52:49Z", JUL17 + S(1), JUL17 + 1);
    assert_int_equal(lp.empty, 1);
    parse_ok(P "/Recordings.json", "DateCreated=2009-07-06&DateCreated>=2009-07-07");
    assert_int_equal(lp.empty, 1);
    /* A single instant is not empty. */
    range("DateCreated>=2009-07-17T01:52:49Z&DateCreated<=2009-07-17T01:52:49Z", JUL17, JUL17 + 1);
    assert_int_equal(lp.empty, 0);
}

static void test_date_bad(void **state)
{
    (void)state;
    parse_fails(P "/Recordings.json", "DateCreated=2009-02-30", RECD_E_BAD_PARAM, "DateCreated");
    parse_fails(P "/Recordings.json", "DateCreated=2009-13-01", RECD_E_BAD_PARAM, "DateCreated");
    parse_fails(P "/Recordings.json", "DateCreated=", RECD_E_BAD_PARAM, "DateCreated");
    parse_fails(P "/Recordings.json", "DateCreated=yesterday", RECD_E_BAD_PARAM, "DateCreated");
    parse_fails(P "/Recordings.json", "DateCreated<=2010-02-29", RECD_E_BAD_PARAM, "DateCreated<");
    parse_fails(P "/Recordings.json", "DateCreated%3C=junk", RECD_E_BAD_PARAM, "DateCreated<");
    parse_fails(P "/Recordings.json", "DateCreated>=2009-07-06T24:00:00Z", RECD_E_BAD_PARAM, "DateCreated>");
    parse_fails(P "/Recordings.json", "DateCreated>=2009-07-06x", RECD_E_BAD_PARAM, "DateCreated>");
    /* A bad one is named even after good ones. */
    parse_fails(P "/Recordings.json", "DateCreated=2009-07-06&DateCreated>=2009-02-30", RECD_E_BAD_PARAM,
                "DateCreated>");
    assert_int_equal(recd_err_status(RECD_E_BAD_PARAM), 400);
}

static void test_include_soft_deleted(void **state)
{
    (void)state;
    parse_ok(P "/Recordings.json", "IncludeSoftDeleted=true");
    assert_int_equal(lp.q.include_deleted, 1);
    assert_non_null(lp.include_deleted);
    parse_ok(P "/Recordings.json", "IncludeSoftDeleted=True");
    assert_int_equal(lp.q.include_deleted, 1);
    parse_ok(P "/Recordings.json", "IncludeSoftDeleted=TRUE");
    assert_int_equal(lp.q.include_deleted, 1);
    parse_ok(P "/Recordings.json", "IncludeSoftDeleted=false");
    assert_int_equal(lp.q.include_deleted, 0);
    assert_non_null(lp.include_deleted);
    parse_ok(P "/Recordings.json", "IncludeSoftDeleted=False");
    assert_int_equal(lp.q.include_deleted, 0);
    static const char *other[] = {
        "IncludeSoftDeleted=yes", "IncludeSoftDeleted=1",    "IncludeSoftDeleted=0",
        "IncludeSoftDeleted=",    "IncludeSoftDeleted",      "IncludeSoftDeleted=truee",
        "IncludeSoftDeleted=tru", "IncludeSoftDeleted=true+"};
    for (size_t i = 0; i < sizeof other / sizeof other[0]; i++)
        parse_fails(P "/Recordings.json", other[i], RECD_E_BAD_PARAM, "IncludeSoftDeleted");
}

static void test_call_and_conference_filters(void **state)
{
    (void)state;
    parse_ok(P "/Recordings.json", "CallSid=" CA);
    assert_non_null(lp.q.call_sid);
    assert_string_equal(lp.q.call_sid, CA);
    assert_int_equal(lp.empty, 0);
    parse_ok(P "/Recordings.json", "ConferenceSid=" CF);
    assert_string_equal(lp.q.conference_sid, CF);

    static const char *bad_call[] = {"CallSid=",
                                     "CallSid=CA",
                                     "CallSid=" CF,
                                     "CallSid=" RE,
                                     "CallSid=CAfedcba9876543210fedcba987654321",
                                     "CallSid=CAfedcba9876543210fedcba98765432100",
                                     "CallSid=CAfedcba9876543210fedcba987654321g",
                                     "CallSid=%20" CA};
    for (size_t i = 0; i < sizeof bad_call / sizeof bad_call[0]; i++)
        parse_fails(P "/Recordings.json", bad_call[i], RECD_E_BAD_PARAM, "CallSid");
    parse_fails(P "/Recordings.json", "ConferenceSid=" CA, RECD_E_BAD_PARAM, "ConferenceSid");
    parse_fails(P "/Recordings.json", "ConferenceSid=CF0", RECD_E_BAD_PARAM, "ConferenceSid");

    /* The path's CallSid scopes the list; the same one in the query changes nothing. */
    parse_ok(P "/Calls/" CA "/Recordings.json", "");
    assert_string_equal(lp.q.call_sid, CA);
    assert_int_equal(lp.empty, 0);
    parse_ok(P "/Calls/" CA "/Recordings.json", "CallSid=" CA);
    assert_string_equal(lp.q.call_sid, CA);
    assert_int_equal(lp.empty, 0);
    /* A different one can match nothing. */
    parse_ok(P "/Calls/" CA "/Recordings.json", "CallSid=" CA2);
    assert_int_equal(lp.empty, 1);
    parse_ok(P "/Conferences/" CF "/Recordings.json", "ConferenceSid=" CF);
    assert_string_equal(lp.q.conference_sid, CF);
    assert_int_equal(lp.empty, 0);
    parse_ok(P "/Conferences/" CF "/Recordings.json", "ConferenceSid=" CF2);
    assert_int_equal(lp.empty, 1);
    /* Call and conference together are both kept. */
    parse_ok(P "/Conferences/" CF "/Recordings.json", "CallSid=" CA);
    assert_string_equal(lp.q.call_sid, CA);
    assert_string_equal(lp.q.conference_sid, CF);
    assert_int_equal(lp.empty, 0);
}

static void test_transcription_lists(void **state)
{
    (void)state;
    /* The recording in the path scopes a transcription list. */
    parse_ok(P "/Recordings/" RE "/Transcriptions.json", "PageSize=5");
    assert_non_null(lp.q.recording_sid);
    assert_string_equal(lp.q.recording_sid, RE);
    assert_int_equal(lp.page_size, 5);
    /* Recording filters do not apply to transcription lists. */
    parse_ok(P "/Transcriptions.json", "DateCreated=junk&CallSid=x&IncludeSoftDeleted=maybe");
    assert_int_equal(lp.q.created_ge_us, INT64_MIN);
    assert_int_equal(lp.q.created_lt_us, INT64_MAX);
    assert_int_equal(lp.q.include_deleted, 0);
    assert_true(lp.q.call_sid == NULL || lp.q.call_sid[0] == '\0');
    assert_int_equal(lp.empty, 0);
}

/* ---- list URIs ------------------------------------------------------------------------------ */

static void uri(const char *path, const char *query, const char *ext, int64_t page, const char *token,
                const char *want)
{
    parse_ok(path, query);
    struct recd_buf b;
    recd_buf_init(&b, 0);
    recd_list_uri(&b, rt.base, ext, &lp, page, token);
    assert_buf(&b, want);
    recd_buf_free(&b);
}

static void test_list_uri(void **state)
{
    (void)state;
    uri(P "/Recordings.json", "", ".json", 0, NULL, P "/Recordings.json?PageSize=50&Page=0");
    uri(P "/Recordings", "", "", 0, NULL, P "/Recordings?PageSize=50&Page=0");
    uri(P "/Recordings.xml", "PageSize=20", "", 3, NULL, P "/Recordings?PageSize=20&Page=3");
    /* Filters are kept, percent-encoded, in a fixed order; unknown parameters are dropped. */
    uri(P "/Recordings.json", "DateCreated<=2009-07-06", ".json", 0, NULL,
        P "/Recordings.json?DateCreated%3C=2009-07-06&PageSize=50&Page=0");
    uri(P "/Recordings.json", "DateCreated%3E=2009-07-01&Foo=1&DateCreated%3C=2009-07-06&PageSize=2", ".json",
        1, "PAAARu3QumYIBVfOZE5auE-iHMIREuIsSF",
        P "/Recordings.json?DateCreated%3C=2009-07-06&DateCreated%3E=2009-07-01&PageSize=2&Page=1"
          "&PageToken=PAAARu3QumYIBVfOZE5auE-iHMIREuIsSF");
    uri(P "/Recordings.json",
        "PageSize=5&IncludeSoftDeleted=True&DateCreated>=2009-07-06&DateCreated=2009-07-06"
        "&DateCreated<=2009-07-17&ConferenceSid=" CF "&CallSid=" CA,
        ".json", 2, "PBAARu3QumYIBVfOZE5auE-iHMIREuIsSF",
        P "/Recordings.json?CallSid=" CA "&ConferenceSid=" CF
          "&DateCreated=2009-07-06&DateCreated%3C=2009-07-17"
          "&DateCreated%3E=2009-07-06&IncludeSoftDeleted=True&PageSize=5&Page=2"
          "&PageToken=PBAARu3QumYIBVfOZE5auE-iHMIREuIsSF");
    /* Values are re-encoded: an escaped '+' stays a '+' for the next request. */
    uri(P "/Recordings.json", "DateCreated%3E=2009-07-17T03%3A52%3A49%2B02%3A00", ".json", 0, NULL,
        P "/Recordings.json?DateCreated%3E=2009-07-17T03%3A52%3A49%2B02%3A00&PageSize=50&Page=0");
    uri(P "/Recordings.json", "DateCreated>=2009-07-17T03:52:49+02:00", ".json", 0, NULL,
        P "/Recordings.json?DateCreated%3E=2009-07-17T03%3A52%3A49%2002%3A00&PageSize=50&Page=0");
    /* Scoped lists keep their path; the XML envelope's URIs have no extension. */
    uri(P "/Calls/" CA "/Recordings.xml", "CallSid=" CA, "", 0, NULL,
        P "/Calls/" CA "/Recordings?CallSid=" CA "&PageSize=50&Page=0");
    uri(P "/Recordings/" RE "/Transcriptions.json", "PageSize=1000&Page=7", ".json", 7, NULL,
        P "/Recordings/" RE "/Transcriptions.json?PageSize=1000&Page=7");
    /* The Page argument, not the request's, is written. */
    uri(P "/Recordings.json", "Page=4", ".json", 5, NULL, P "/Recordings.json?PageSize=50&Page=5");
}

/* A URI built by recd_list_uri parses back to the same parameters. */
static void test_list_uri_round_trip(void **state)
{
    (void)state;
    parse_ok(P "/Recordings.json", "DateCreated%3C=2009-07-17T01:52:49.5Z&DateCreated>=2009-07-06&PageSize=7"
                                   "&IncludeSoftDeleted=true&CallSid=" CA);
    int64_t ge = lp.q.created_ge_us, lt = lp.q.created_lt_us;
    struct recd_buf b;
    recd_buf_init(&b, 0);
    recd_list_uri(&b, rt.base, ".json", &lp, 2, "PAAARu3QumYIBVfOZE5auE-iHMIREuIsSF");
    const char *q = strchr(b.p, '?');
    assert_non_null(q);
    static struct recd_query qs2;
    struct recd_list_params lp2;
    const char *bad2;
    assert_int_equal(recd_query_parse(&qs2, q + 1, strlen(q + 1)), 0);
    assert_int_equal(recd_list_params_parse(&qs2, &rt, &lp2, &bad2), 0);
    assert_int_equal(lp2.q.created_ge_us, ge);
    assert_int_equal(lp2.q.created_lt_us, lt);
    assert_int_equal(lp2.page_size, 7);
    assert_int_equal(lp2.page, 2);
    assert_int_equal(lp2.has_token, 1);
    assert_int_equal(lp2.q.include_deleted, 1);
    assert_string_equal(lp2.q.call_sid, CA);
    recd_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_token_exact),
        cmocka_unit_test(test_token_round_trip),
        cmocka_unit_test(test_token_malformed),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_page_size),
        cmocka_unit_test(test_page),
        cmocka_unit_test(test_page_token),
        cmocka_unit_test(test_date_filters),
        cmocka_unit_test(test_date_ranges),
        cmocka_unit_test(test_date_bad),
        cmocka_unit_test(test_include_soft_deleted),
        cmocka_unit_test(test_call_and_conference_filters),
        cmocka_unit_test(test_transcription_lists),
        cmocka_unit_test(test_list_uri),
        cmocka_unit_test(test_list_uri_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
