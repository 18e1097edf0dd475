#include "core/utf8.h"

#include "unit.h"

static void test_valid(void **state)
{
    (void)state;
    assert_int_equal(recd_utf8_valid(NULL, 0), 1);
    assert_int_equal(recd_utf8_valid(LIT("plain ascii")), 1);
    assert_int_equal(recd_utf8_valid(LIT("caf\xc3\xa9")), 1);              /* U+00E9 */
    assert_int_equal(recd_utf8_valid(LIT("\xe2\x82\xac")), 1);             /* U+20AC */
    assert_int_equal(recd_utf8_valid(LIT("\xf0\x9f\x8e\x99")), 1);         /* U+1F399 */
    assert_int_equal(recd_utf8_valid(LIT("\xf4\x8f\xbf\xbf")), 1);         /* U+10FFFF */
    assert_int_equal(recd_utf8_valid(LIT("\xed\x9f\xbf\xee\x80\x80")), 1); /* around the surrogates */
    assert_int_equal(recd_utf8_valid("a\0b", 3), 1);                       /* NUL is UTF-8 */
}

static void test_invalid(void **state)
{
    (void)state;
    assert_int_equal(recd_utf8_valid(LIT("\x80")), 0);             /* a lone continuation */
    assert_int_equal(recd_utf8_valid(LIT("\xc3")), 0);             /* truncated */
    assert_int_equal(recd_utf8_valid(LIT("\xe2\x82")), 0);         /* truncated */
    assert_int_equal(recd_utf8_valid(LIT("\xc3\x28")), 0);         /* bad continuation */
    assert_int_equal(recd_utf8_valid(LIT("\xc0\xaf")), 0);         /* overlong '/' */
    assert_int_equal(recd_utf8_valid(LIT("\xe0\x80\xaf")), 0);     /* overlong, 3 bytes */
    assert_int_equal(recd_utf8_valid(LIT("\xf0\x80\x80\xaf")), 0); /* overlong, 4 bytes */
    assert_int_equal(recd_utf8_valid(LIT("\xed\xa0\x80")), 0);     /* U+D800, a surrogate */
    assert_int_equal(recd_utf8_valid(LIT("\xed\xbf\xbf")), 0);     /* U+DFFF */
    assert_int_equal(recd_utf8_valid(LIT("\xf4\x90\x80\x80")), 0); /* U+110000 */
    assert_int_equal(recd_utf8_valid(LIT("\xf8\x88\x80\x80\x80")), 0);
    assert_int_equal(recd_utf8_valid(LIT("\xff")), 0);
    assert_int_equal(recd_utf8_valid(LIT("ok\xc3\xa9then\xc3")), 0); /* bad at the very end */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),
        cmocka_unit_test(test_invalid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
