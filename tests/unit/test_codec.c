#include "core/codec.h"

#include "unit.h"

/* ---- standard base64, strict ---------------------------------------------------------------- */

static void b64_ok(const char *in, const char *want, size_t want_n)
{
    unsigned char out[64];
    size_t n = 999;
    memset(out, 0xAA, sizeof out);
    int rc = recd_b64_decode(in, strlen(in), out, sizeof out, &n);
    if (rc != 0)
        print_error("b64_decode(\"%s\") = %d\n", in, rc);
    assert_int_equal(rc, 0);
    assert_int_equal(n, want_n);
    assert_memory_equal(out, want, want_n);
    assert_int_equal(out[want_n], 0xAA); /* nothing written past the result */
}

static void b64_bad(const char *in, size_t len)
{
    unsigned char out[64];
    size_t n = 999;
    int rc = recd_b64_decode(in, len, out, sizeof out, &n);
    if (rc != -1)
        print_error("b64_decode(\"%.*s\") = %d, want -1\n", (int)len, in, rc);
    assert_int_equal(rc, -1);
}

/* RFC 4648 §10 test vectors. */
static void test_b64_vectors(void **state)
{
    (void)state;
    b64_ok("", "", 0);
    b64_ok("Zg==", "f", 1);
    b64_ok("Zm8=", "fo", 2);
    b64_ok("Zm9v", "foo", 3);
    b64_ok("Zm9vYg==", "foob", 4);
    b64_ok("Zm9vYmE=", "fooba", 5);
    b64_ok("Zm9vYmFy", "foobar", 6);
    /* The two alphabet-specific characters: 0xfb 0xff = "+/8=". */
    b64_ok("+/8=", "\xfb\xff", 2);
    b64_ok("AAAA", "\0\0\0", 3);
    b64_ok("////", "\xff\xff\xff", 3);
    /* A Basic auth credential. */
    b64_ok("QUMxMjM6c2VjcmV0", "AC123:secret", 12);
}

static void test_b64_padding(void **state)
{
    (void)state;
    b64_bad(LIT("Zg")); /* padding is required */
    b64_bad(LIT("Zg="));
    b64_bad(LIT("Zm8"));
    b64_bad(LIT("Zm9vYg"));
    b64_bad(LIT("Zg===")); /* too much */
    b64_bad(LIT("Zg===="));
    b64_bad(LIT("Z===")); /* a lone character, padded */
    b64_bad(LIT("===="));
    b64_bad(LIT("="));
    b64_bad(LIT("=="));
    b64_bad(LIT("Zg=A")); /* padding then data */
    b64_bad(LIT("Z=g="));
    b64_bad(LIT("Zg==Zg==")); /* padding only at the very end */
    b64_bad(LIT("Zm8=Zm9v"));
    b64_bad(LIT("Zm9vY")); /* a dangling character */
    b64_bad(LIT("Z"));
}

static void test_b64_invalid_chars(void **state)
{
    (void)state;
    b64_bad(LIT("Zm9v Yg==")); /* whitespace is refused anywhere */
    b64_bad(LIT("Zm9vYg==\n"));
    b64_bad(LIT(" Zm9v"));
    b64_bad(LIT("Zm9v\r\nYmFy"));
    b64_bad(LIT("Zm\t9v"));
    b64_bad(LIT("Zm9-")); /* the URL alphabet is not standard base64 */
    b64_bad(LIT("Zm9_"));
    b64_bad(LIT("Zm9."));
    b64_bad(LIT("Zm9*"));
    b64_bad(LIT("Zm9\x80"));
    b64_bad(LIT("Zm9\xff"));
    b64_bad("Zm\0v", 4); /* an embedded NUL */
    /* Every byte outside the alphabet, at each position of a group. */
    for (int c = 0; c < 256; c++) {
        int in_alpha = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                       c == '+' || c == '/';
        if (in_alpha || c == '=')
            continue;
        for (int pos = 0; pos < 4; pos++) {
            char s[5] = "Zm9v";
            s[pos] = (char)c;
            b64_bad(s, 4);
        }
    }
}

/* A last group's unused low bits must be zero: only one encoding per byte string. */
static void test_b64_non_canonical(void **state)
{
    (void)state;
    b64_ok("Zg==", "f", 1);
    b64_bad(LIT("Zh=="));
    b64_bad(LIT("Zv=="));
    b64_ok("Zm8=", "fo", 2);
    b64_bad(LIT("Zm9="));
    b64_bad(LIT("Zm/="));
}

static void test_b64_capacity(void **state)
{
    (void)state;
    unsigned char out[8];
    size_t n = 999;
    assert_int_equal(recd_b64_decode(LIT("Zm9vYmFy"), out, 6, &n), 0);
    assert_int_equal(n, 6);
    assert_memory_equal(out, "foobar", 6);
    assert_int_equal(recd_b64_decode(LIT("Zm9vYmFy"), out, 5, &n), -1);
    assert_int_equal(recd_b64_decode(LIT("Zm9vYmE="), out, 5, &n), 0);
    assert_int_equal(n, 5);
    assert_int_equal(recd_b64_decode(LIT("Zm9vYmE="), out, 4, &n), -1);
    assert_int_equal(recd_b64_decode(LIT("Zg=="), out, 0, &n), -1);
    assert_int_equal(recd_b64_decode(LIT(""), out, 0, &n), 0);
    assert_int_equal(n, 0);
}

/* ---- base64url, unpadded ---------------------------------------------------------------------- */

static void test_b64url_vectors(void **state)
{
    (void)state;
    char out[64];
    memset(out, 'X', sizeof out);
    assert_int_equal(recd_b64url_encode((const unsigned char *)"", 0, out), 0);
    assert_string_equal(out, "");
    static const struct {
        const char *raw;
        const char *enc;
    } v[] = {{"f", "Zg"},        {"fo", "Zm8"},        {"foo", "Zm9v"},
             {"foob", "Zm9vYg"}, {"fooba", "Zm9vYmE"}, {"foobar", "Zm9vYmFy"}};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        size_t n = recd_b64url_encode((const unsigned char *)v[i].raw, strlen(v[i].raw), out);
        assert_bytes(out, n, v[i].enc);
        assert_int_equal(out[n], '\0');
    }
    /* The URL-safe characters replace '+' and '/'. */
    size_t n = recd_b64url_encode((const unsigned char *)"\xfb\xff\xfe", 3, out);
    assert_bytes(out, n, "-__-");
    n = recd_b64url_encode((const unsigned char *)"\xfb\xff", 2, out);
    assert_bytes(out, n, "-_8");
}

static void test_b64url_round_trip(void **state)
{
    (void)state;
    unsigned char raw[40], back[41];
    char enc[64];
    for (size_t i = 0; i < sizeof raw; i++)
        raw[i] = (unsigned char)(i * 73 + 0xF1); /* hits the high and the '-'/'_' codes */
    for (size_t len = 0; len <= 40; len++) {
        memset(enc, 'X', sizeof enc);
        size_t n = recd_b64url_encode(raw, len, enc);
        assert_int_equal(n, (len * 4 + 2) / 3); /* unpadded */
        assert_int_equal(enc[n], '\0');
        assert_int_equal(enc[n + 1], 'X');
        for (size_t i = 0; i < n; i++) {
            char c = enc[i];
            assert_true((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                        c == '-' || c == '_');
        }
        size_t got = 999;
        memset(back, 0x55, sizeof back);
        assert_int_equal(recd_b64url_decode(enc, n, back, len, &got), 0);
        assert_int_equal(got, len);
        assert_memory_equal(back, raw, len);
        assert_int_equal(back[len], 0x55);
        /* One byte short of room is refused. */
        if (len > 0)
            assert_int_equal(recd_b64url_decode(enc, n, back, len - 1, &got), -1);
    }
    /* Every byte value survives. */
    unsigned char all[256], all_back[256];
    char all_enc[400];
    for (int i = 0; i < 256; i++)
        all[i] = (unsigned char)i;
    size_t n = recd_b64url_encode(all, sizeof all, all_enc);
    size_t got;
    assert_int_equal(recd_b64url_decode(all_enc, n, all_back, sizeof all_back, &got), 0);
    assert_int_equal(got, 256);
    assert_memory_equal(all, all_back, 256);
}

static void b64url_bad(const char *in, size_t len)
{
    unsigned char out[64];
    size_t n;
    int rc = recd_b64url_decode(in, len, out, sizeof out, &n);
    if (rc != -1)
        print_error("b64url_decode(\"%.*s\") = %d, want -1\n", (int)len, in, rc);
    assert_int_equal(rc, -1);
}

static void test_b64url_rejects(void **state)
{
    (void)state;
    b64url_bad(LIT("Zg==")); /* no padding in the URL form */
    b64url_bad(LIT("Zm8="));
    b64url_bad(LIT("Zg="));
    b64url_bad(LIT("+/8")); /* the standard alphabet's two characters */
    b64url_bad(LIT("Zm9/"));
    b64url_bad(LIT("Z")); /* 4k+1 characters never encode anything */
    b64url_bad(LIT("Zm9vY"));
    b64url_bad(LIT("Zm 9v"));
    b64url_bad(LIT("Zm9v\n"));
    b64url_bad("Zm\0v", 4);
    /* Non-canonical: unused trailing bits set. */
    b64url_bad(LIT("Zh"));
    b64url_bad(LIT("Zm9"));
    b64url_bad(LIT("-_9"));
    unsigned char out[4];
    size_t n;
    assert_int_equal(recd_b64url_decode(LIT("Zg"), out, sizeof out, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(out[0], 'f');
    assert_int_equal(recd_b64url_decode(LIT("-_8"), out, sizeof out, &n), 0);
    assert_int_equal(n, 2);
    assert_memory_equal(out, "\xfb\xff", 2);
}

/* ---- percent-decoding -------------------------------------------------------------------------- */

static void pct_ok(const char *in, int plus, const char *want, size_t want_n)
{
    char out[128];
    memset(out, 'X', sizeof out);
    long n = recd_pct_decode(in, strlen(in), out, plus);
    if (n < 0)
        print_error("pct_decode(\"%s\", %d) = %ld\n", in, plus, n);
    assert_int_equal(n, (long)want_n);
    assert_memory_equal(out, want, want_n);
    assert_int_equal(out[want_n], 'X');
}

static void pct_bad(const char *in, size_t len, int plus)
{
    char out[128];
    long n = recd_pct_decode(in, len, out, plus);
    if (n != -1)
        print_error("pct_decode(\"%.*s\") = %ld, want -1\n", (int)len, in, n);
    assert_int_equal(n, -1);
}

static void test_pct_decode(void **state)
{
    (void)state;
    pct_ok("", 1, "", 0);
    pct_ok("abc", 1, "abc", 3);
    pct_ok("DateCreated%3C", 1, "DateCreated<", 12);
    pct_ok("DateCreated%3c", 1, "DateCreated<", 12); /* lowercase hex too */
    pct_ok("DateCreated%3E", 0, "DateCreated>", 12);
    pct_ok("%25", 1, "%", 1); /* an escaped '%' is not decoded twice */
    pct_ok("%2541", 1, "%41", 3);
    pct_ok("a+b", 1, "a b", 3);   /* '+' is a space in a query */
    pct_ok("a+b", 0, "a+b", 3);   /* and a '+' elsewhere */
    pct_ok("a%2Bb", 1, "a+b", 3); /* an escaped '+' stays a '+' */
    pct_ok("a%20b", 0, "a b", 3);
    pct_ok("%C3%A9", 1, "\xc3\xa9", 2); /* bytes, not characters */
    pct_ok("%ff%FF%80", 1, "\xff\xff\x80", 3);
    pct_ok("%01", 1, "\x01", 1);
    pct_ok("2009-07-06T00:00:00%2B02:00", 1, "2009-07-06T00:00:00+02:00", 25);
}

static void test_pct_malformed(void **state)
{
    (void)state;
    pct_bad(LIT("%"), 1);
    pct_bad(LIT("x%"), 1);
    pct_bad(LIT("%4"), 1);
    pct_bad(LIT("abc%4"), 0);
    pct_bad(LIT("%G1"), 1);
    pct_bad(LIT("%1G"), 1);
    pct_bad(LIT("%%41"), 1);
    pct_bad(LIT("% 1"), 1);
    pct_bad(LIT("%+1"), 1);
    pct_bad(LIT("%-1"), 1);
    pct_bad(LIT("%00"), 1); /* a decoded NUL is refused */
    pct_bad(LIT("a%00b"), 0);
    pct_bad("a\0b", 3, 1); /* and a raw one */
    /* `len` is honoured: "%41" cut to "%4". */
    pct_bad("%41", 2, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_b64_vectors),       cmocka_unit_test(test_b64_padding),
        cmocka_unit_test(test_b64_invalid_chars), cmocka_unit_test(test_b64_non_canonical),
        cmocka_unit_test(test_b64_capacity),      cmocka_unit_test(test_b64url_vectors),
        cmocka_unit_test(test_b64url_round_trip), cmocka_unit_test(test_b64url_rejects),
        cmocka_unit_test(test_pct_decode),        cmocka_unit_test(test_pct_malformed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
