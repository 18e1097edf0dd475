#include "core/query.h"

#include "core/error.h"

#include "unit.h"

static struct recd_query q; /* 8 KiB of memory: static, not on the stack */

static void parse_ok(const char *s)
{
    int rc = recd_query_parse(&q, s, strlen(s));
    if (rc != 0)
        print_error("query_parse(\"%s\") = %d\n", s, rc);
    assert_int_equal(rc, 0);
}

static void parse_bad(const char *s, size_t n)
{
    int rc = recd_query_parse(&q, s, n);
    if (rc != RECD_E_BAD_PARAM)
        print_error("query_parse(\"%.*s\") = %d, want BAD_PARAM\n", (int)(n > 80 ? 80 : n), s, rc);
    assert_int_equal(rc, RECD_E_BAD_PARAM);
}

/* Asserts parameter `i` is exactly key=val. */
static void param(int i, const char *key, const char *val)
{
    assert_true(i < q.n);
    assert_bytes(q.key[i].p, q.key[i].n, key);
    assert_bytes(q.val[i].p, q.val[i].n, val);
}

static void test_empty(void **state)
{
    (void)state;
    q.n = 99;
    parse_ok("");
    assert_int_equal(q.n, 0);
    assert_null(recd_query_get(&q, "PageSize"));
    assert_null(recd_query_get(&q, ""));
    parse_ok("&");
    assert_int_equal(q.n, 0);
    parse_ok("&&&");
    assert_int_equal(q.n, 0);
}

static void test_simple(void **state)
{
    (void)state;
    parse_ok("PageSize=20&Page=2");
    assert_int_equal(q.n, 2);
    param(0, "PageSize", "20");
    param(1, "Page", "2");
}

/* Users write the comparison in the key: DateCreated<=D is the key "DateCreated<". */
static void test_date_operator_keys(void **state)
{
    (void)state;
    parse_ok("DateCreated<=2009-07-06");
    assert_int_equal(q.n, 1);
    param(0, "DateCreated<", "2009-07-06");

    parse_ok("DateCreated%3C=2009-07-06"); /* what the helper libraries send */
    assert_int_equal(q.n, 1);
    param(0, "DateCreated<", "2009-07-06");

    parse_ok("DateCreated%3c=2009-07-06");
    param(0, "DateCreated<", "2009-07-06");

    parse_ok("DateCreated>=2009-07-06&DateCreated%3E=2009-07-07&DateCreated=2009-07-08");
    assert_int_equal(q.n, 3);
    param(0, "DateCreated>", "2009-07-06");
    param(1, "DateCreated>", "2009-07-07");
    param(2, "DateCreated", "2009-07-08");

    /* Only the first '=' splits; the rest belong to the value. */
    parse_ok("a==b=c");
    param(0, "a", "=b=c");
    /* An escaped '=' in a key does not split it. */
    parse_ok("a%3Db=c");
    param(0, "a=b", "c");
    /* An escaped '&' does not end a parameter. */
    parse_ok("a=b%26c&d=e");
    assert_int_equal(q.n, 2);
    param(0, "a", "b&c");
    param(1, "d", "e");
}

static void test_empty_pieces_and_bare_keys(void **state)
{
    (void)state;
    parse_ok("a=1&&b=2");
    assert_int_equal(q.n, 2);
    param(0, "a", "1");
    param(1, "b", "2");

    parse_ok("&a=1&");
    assert_int_equal(q.n, 1);
    param(0, "a", "1");

    parse_ok("flag");
    assert_int_equal(q.n, 1);
    param(0, "flag", "");

    parse_ok("flag&a=1&other");
    assert_int_equal(q.n, 3);
    param(0, "flag", "");
    param(1, "a", "1");
    param(2, "other", "");

    parse_ok("a=");
    assert_int_equal(q.n, 1);
    param(0, "a", "");

    parse_ok("=x");
    assert_int_equal(q.n, 1);
    param(0, "", "x");
}

static void test_plus_and_escapes(void **state)
{
    (void)state;
    parse_ok("DateCreated>=2009-07-06T00:00:00+02:00");
    param(0, "DateCreated>", "2009-07-06T00:00:00 02:00"); /* '+' is a space */
    parse_ok("DateCreated%3E=2009-07-06T00%3A00%3A00%2B02%3A00");
    param(0, "DateCreated>", "2009-07-06T00:00:00+02:00");
    parse_ok("a+b=c+d");
    param(0, "a b", "c d");
    parse_ok("name=%C3%A9t%C3%A9");
    param(0, "name", "\xc3\xa9t\xc3\xa9");
}

static void test_malformed_escapes(void **state)
{
    (void)state;
    parse_bad(LIT("a=%"));
    parse_bad(LIT("a=%4"));
    parse_bad(LIT("a=%zz"));
    parse_bad(LIT("%=1"));
    parse_bad(LIT("a%G0=1"));
    parse_bad(LIT("a=1&b=%00")); /* a decoded NUL */
    parse_bad(LIT("a%00=1"));
    parse_bad("a=1\0", 4);             /* a raw NUL */
    parse_bad(LIT("PageSize=20&x=%")); /* anywhere in the string */
}

static void test_param_count(void **state)
{
    (void)state;
    char s[512];
    size_t n = 0;
    for (int i = 0; i < RECD_QUERY_MAX_PARAMS; i++)
        n += (size_t)snprintf(s + n, sizeof s - n, "%sk%d=v%d", i ? "&" : "", i, i);
    parse_ok(s);
    assert_int_equal(q.n, RECD_QUERY_MAX_PARAMS);
    param(0, "k0", "v0");
    param(31, "k31", "v31");
    /* Empty pieces do not count. */
    char t[600];
    snprintf(t, sizeof t, "&&%s&&&", s);
    parse_ok(t);
    assert_int_equal(q.n, RECD_QUERY_MAX_PARAMS);
    /* One more is refused. */
    snprintf(t, sizeof t, "%s&k32=v32", s);
    parse_bad(t, strlen(t));
    snprintf(t, sizeof t, "%s&x", s);
    parse_bad(t, strlen(t));
}

static void test_length(void **state)
{
    (void)state;
    static char s[RECD_URI_MAX + 2];
    /* Exactly RECD_URI_MAX bytes is accepted, and decodes in full. */
    memcpy(s, "a=", 2);
    memset(s + 2, 'x', RECD_URI_MAX - 2);
    assert_int_equal(recd_query_parse(&q, s, RECD_URI_MAX), 0);
    assert_int_equal(q.n, 1);
    assert_int_equal(q.val[0].n, RECD_URI_MAX - 2);
    assert_int_equal(q.val[0].p[RECD_URI_MAX - 3], 'x');
    /* One more is refused. */
    s[RECD_URI_MAX] = 'x';
    parse_bad(s, RECD_URI_MAX + 1);
    /* A maximal input of all keys and values still fits `mem`. */
    memset(s, 'k', RECD_URI_MAX);
    for (size_t i = 255; i < RECD_URI_MAX; i += 256)
        s[i] = '&';
    s[100] = '=';
    assert_int_equal(recd_query_parse(&q, s, RECD_URI_MAX), 0);
    assert_int_equal(q.n, RECD_QUERY_MAX_PARAMS);
    assert_int_equal(q.key[0].n, 100);
    assert_int_equal(q.val[0].n, 154);
}

static void test_get(void **state)
{
    (void)state;
    parse_ok("PageSize=1&Page=3&PageSize=2&pagesize=9&DateCreated%3C=2009-07-06");
    const struct recd_str *v = recd_query_get(&q, "PageSize");
    assert_non_null(v);
    assert_bytes(v->p, v->n, "1"); /* the first one wins */
    v = recd_query_get(&q, "Page");
    assert_non_null(v);
    assert_bytes(v->p, v->n, "3");
    v = recd_query_get(&q, "pagesize"); /* keys are case-sensitive */
    assert_non_null(v);
    assert_bytes(v->p, v->n, "9");
    v = recd_query_get(&q, "DateCreated<");
    assert_non_null(v);
    assert_bytes(v->p, v->n, "2009-07-06");
    assert_null(recd_query_get(&q, "DateCreated"));
    assert_null(recd_query_get(&q, "PAGESIZE"));
    assert_null(recd_query_get(&q, "PageSiz"));
    assert_null(recd_query_get(&q, "PageSizeX"));
    assert_null(recd_query_get(&q, ""));

    parse_ok("flag");
    v = recd_query_get(&q, "flag");
    assert_non_null(v);
    assert_int_equal(v->n, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_simple),
        cmocka_unit_test(test_date_operator_keys),
        cmocka_unit_test(test_empty_pieces_and_bare_keys),
        cmocka_unit_test(test_plus_and_escapes),
        cmocka_unit_test(test_malformed_escapes),
        cmocka_unit_test(test_param_count),
        cmocka_unit_test(test_length),
        cmocka_unit_test(test_get),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
