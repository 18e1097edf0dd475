/* The JSON reader (core/json.c): structure, strings, numbers, refusals. */
#include "unit.h"

#include "core/json.h"

static void test_walk(void **state)
{
    (void)state;
    struct recd_json j;
    recd_json_init(&j);
    const char *doc =
        " {\"a\": [1, -2, {\"b\": null}], \"s\": \"x\\u00e9\\\"\", \"a\": true, \"n\": 0.5e1}\n";
    assert_int_equal(recd_json_parse(&j, doc, strlen(doc), 4), 0);
    assert_int_equal(recd_json_type(&j, 0), RECD_JSON_OBJECT);
    assert_int_equal(j.tok[0].count, 4);
    assert_int_equal(j.tok[0].next, j.ntok);
    /* The last of a repeated name counts. */
    long a = recd_json_member(&j, 0, "a");
    assert_true(a > 0);
    assert_int_equal(recd_json_type(&j, (size_t)a), RECD_JSON_TRUE);
    /* The first "a": an array of three, walked by next. */
    size_t arr = 2;
    assert_int_equal(recd_json_type(&j, arr), RECD_JSON_ARRAY);
    assert_int_equal(j.tok[arr].count, 3);
    size_t it = arr + 1;
    int64_t v;
    assert_int_equal(recd_json_int(&j, it, &v), 0);
    assert_int_equal(v, 1);
    it = j.tok[it].next;
    assert_int_equal(recd_json_int(&j, it, &v), 0);
    assert_int_equal(v, -2);
    it = j.tok[it].next;
    assert_int_equal(recd_json_type(&j, it), RECD_JSON_OBJECT);
    assert_int_equal(recd_json_type(&j, (size_t)recd_json_member(&j, it, "b")), RECD_JSON_NULL);
    assert_int_equal(j.tok[it].next, (size_t)recd_json_member(&j, 0, "s") - 1);

    long s = recd_json_member(&j, 0, "s");
    struct recd_buf b;
    recd_buf_init(&b, 0);
    assert_int_equal(recd_json_string(&j, (size_t)s, &b, 100), 0);
    assert_buf(&b, "x\xc3\xa9\"");
    recd_buf_reset(&b);
    assert_int_equal(recd_json_string(&j, (size_t)s, &b, 3), -1); /* 4 bytes > 3 */
    char small[4], big[8];
    assert_int_equal(recd_json_string_to(&j, (size_t)s, small, sizeof small, 0), -1);
    assert_int_equal(recd_json_string_to(&j, (size_t)s, big, sizeof big, 0), 0);
    assert_string_equal(big, "x\xc3\xa9\"");
    assert_true(recd_json_string_eq(&j, (size_t)s, "x\xc3\xa9\""));
    assert_false(recd_json_string_eq(&j, (size_t)s, "x"));
    /* Not an integer, not a string. */
    long n = recd_json_member(&j, 0, "n");
    assert_int_equal(recd_json_int(&j, (size_t)n, &v), -1);
    assert_int_equal(recd_json_string(&j, (size_t)n, &b, 100), -1);
    assert_int_equal(recd_json_member(&j, 0, "missing"), -1);
    assert_int_equal(recd_json_member(&j, arr, "a"), -1);
    recd_buf_free(&b);
    recd_json_free(&j);
}

static void test_numbers(void **state)
{
    (void)state;
    struct recd_json j;
    recd_json_init(&j);
    int64_t v;
    assert_int_equal(recd_json_parse(&j, LIT("-9223372036854775808"), 1), 0);
    assert_int_equal(recd_json_int(&j, 0, &v), 0);
    assert_true(v == INT64_MIN);
    assert_int_equal(recd_json_parse(&j, LIT("9223372036854775807"), 1), 0);
    assert_int_equal(recd_json_int(&j, 0, &v), 0);
    assert_true(v == INT64_MAX);
    assert_int_equal(recd_json_parse(&j, LIT("9223372036854775808"), 1), 0);
    assert_int_equal(recd_json_int(&j, 0, &v), -1);
    recd_json_free(&j);
}

static void test_refused(void **state)
{
    (void)state;
    const char *bad[] = {"",        " ",    "{",           "[1,]",        "{\"a\":1,}",  "{\"a\" 1}",
                         "{1:2}",   "01",   "1.",          "-",           "1e",          "tru",
                         "nul",     "\"a",  "\"\\x\"",     "\"\\ud800\"", "\"\\udc00\"", "\"a\nb\"",
                         "[1] [2]", "{} x", "[\"\\u12\"]", "'a'",         "[1 2]"};
    struct recd_json j;
    recd_json_init(&j);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (recd_json_parse(&j, bad[i], strlen(bad[i]), 8) != -1)
            fail_msg("accepted %s", bad[i]);
        assert_int_equal(j.ntok, 0);
    }
    /* Depth: three containers fit a bound of 3, four do not; scalars do not count. */
    assert_int_equal(recd_json_parse(&j, LIT("[[[1]]]"), 3), 0);
    assert_int_equal(recd_json_parse(&j, LIT("[[[[]]]]"), 3), -1);
    /* Valid JSON whose strings recd cannot keep: NUL, or bytes that are not UTF-8. */
    struct recd_buf b;
    recd_buf_init(&b, 0);
    assert_int_equal(recd_json_parse(&j, LIT("\"a\\u0000\""), 1), 0);
    assert_int_equal(recd_json_string(&j, 0, &b, 100), -1);
    recd_buf_reset(&b);
    assert_int_equal(recd_json_parse(&j, LIT("\"\xff\""), 1), 0);
    assert_int_equal(recd_json_string(&j, 0, &b, 100), -1);
    recd_buf_free(&b);
    recd_json_free(&j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_walk), cmocka_unit_test(test_numbers),
                                       cmocka_unit_test(test_refused)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
