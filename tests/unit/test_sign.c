#include "api/sign.h"

#include "core/error.h"

#include "unit.h"

/*
 * The known answers were computed outside recd, with OpenSSL's command line and coreutils:
 *
 *   S=0123456789abcdef0123456789abcdef
 *   P=/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Recordings/RE557ce644e5ab84fa21cc21112e22c485.mp3
 *   printf 'GET\n%s\n%s' "$P" 1767225600 | openssl dgst -sha256 -hmac "$S" -binary \
 *       | basenc --base64url | tr -d '='
 *   -> VcWuuN68ta7SBnDHyWi-bLuk_PvdRHGBXdKWoqt__UU
 *
 * and the same with S=fedcba9876543210fedcba9876543210 (an API key's secret)
 *   -> cv5h6g_RquYwIuvfdxIM0GDg6E9rL0reLfYPULEcJaM
 */
#define SECRET  "0123456789abcdef0123456789abcdef"
#define SECRET2 "fedcba9876543210fedcba9876543210"
#define ACC     "AC0123456789abcdef0123456789abcdef"
#define KEYSID  "SK0123456789abcdef0123456789abcdef"
#define PATH    "/2010-04-01/Accounts/" ACC "/Recordings/RE557ce644e5ab84fa21cc21112e22c485.mp3"
#define EXP     INT64_C(1767225600) /* 2026-01-01T00:00:00Z */
#define SIG     "VcWuuN68ta7SBnDHyWi-bLuk_PvdRHGBXdKWoqt__UU"
#define SIG2    "cv5h6g_RquYwIuvfdxIM0GDg6E9rL0reLfYPULEcJaM"
#define NOW     (EXP - 3600)

static int verify(const char *secret, const char *method, const char *path, int64_t exp, const char *sig,
                  int64_t now)
{
    return recd_sign_verify(secret, strlen(secret), method, path, strlen(path), exp, sig, strlen(sig), now);
}

static void test_known_answer(void **state)
{
    (void)state;
    char out[RECD_SIG_LEN + 2];
    memset(out, 'X', sizeof out);
    recd_sign_compute(LIT(SECRET), "GET", LIT(PATH), EXP, out);
    assert_bytes(out, strlen(out), SIG);
    assert_int_equal(out[RECD_SIG_LEN + 1], 'X'); /* nothing past the NUL */
    recd_sign_compute(LIT(SECRET2), "GET", LIT(PATH), EXP, out);
    assert_bytes(out, strlen(out), SIG2);
}

/* `path_len` bounds the path: a request target with its query signs as its path alone. */
static void test_path_len(void **state)
{
    (void)state;
    static const char target[] = PATH "?Expires=1767225600&KeySid=" ACC "&Signature=" SIG;
    char out[RECD_SIG_LEN + 1];
    recd_sign_compute(LIT(SECRET), "GET", target, LIT_LEN(PATH), EXP, out);
    assert_bytes(out, strlen(out), SIG);
    assert_int_equal(recd_sign_verify(LIT(SECRET), "GET", target, LIT_LEN(PATH), EXP, LIT(SIG), NOW), 0);
    assert_int_equal(recd_sign_verify(LIT(SECRET), "GET", target, LIT_LEN(PATH) + 1, EXP, LIT(SIG), NOW),
                     RECD_E_UNAUTHORIZED);
}

static void test_verify_ok(void **state)
{
    (void)state;
    assert_int_equal(verify(SECRET, "GET", PATH, EXP, SIG, NOW), 0);
    assert_int_equal(verify(SECRET2, "GET", PATH, EXP, SIG2, NOW), 0);
    /* Up to and including the expiry second. */
    assert_int_equal(verify(SECRET, "GET", PATH, EXP, SIG, EXP), 0);
    /* The longest lifetime allowed. */
    assert_int_equal(verify(SECRET, "GET", PATH, EXP, SIG, EXP - RECD_SIGN_MAX_TTL), 0);
    /* Whatever the signer computes, the verifier accepts. */
    char out[RECD_SIG_LEN + 1];
    recd_sign_compute(LIT(SECRET), "GET", LIT("/x"), 5, out);
    assert_int_equal(verify(SECRET, "GET", "/x", 5, out, 0), 0);
}

static void test_expiry(void **state)
{
    (void)state;
    assert_int_equal(verify(SECRET, "GET", PATH, EXP, SIG, EXP + 1), RECD_E_UNAUTHORIZED);
    assert_int_equal(verify(SECRET, "GET", PATH, EXP, SIG, EXP + 86400), RECD_E_UNAUTHORIZED);
    /* Valid signature, but the expiry is further out than the maximum lifetime. */
    assert_int_equal(verify(SECRET, "GET", PATH, EXP, SIG, EXP - RECD_SIGN_MAX_TTL - 1), RECD_E_UNAUTHORIZED);
    assert_int_equal(verify(SECRET, "GET", PATH, EXP, SIG, 0), RECD_E_UNAUTHORIZED);
    /* Extremes do not overflow into acceptance. */
    char out[RECD_SIG_LEN + 1];
    recd_sign_compute(LIT(SECRET), "GET", LIT(PATH), INT64_MAX, out);
    assert_int_equal(verify(SECRET, "GET", PATH, INT64_MAX, out, INT64_MIN), RECD_E_UNAUTHORIZED);
    assert_int_equal(verify(SECRET, "GET", PATH, INT64_MAX, out, -1), RECD_E_UNAUTHORIZED);
    assert_int_equal(verify(SECRET, "GET", PATH, INT64_MAX, out, INT64_MAX), 0);
    recd_sign_compute(LIT(SECRET), "GET", LIT(PATH), INT64_MIN, out);
    assert_int_equal(verify(SECRET, "GET", PATH, INT64_MIN, out, 0), RECD_E_UNAUTHORIZED);
}

static void test_tampered_fields(void **state)
{
    (void)state;
    /* Another method: HEAD must be verified as GET by the caller, not signed separately. */
    assert_int_equal(verify(SECRET, "HEAD", PATH, EXP, SIG, NOW), RECD_E_UNAUTHORIZED);
    assert_int_equal(verify(SECRET, "DELETE", PATH, EXP, SIG, NOW), RECD_E_UNAUTHORIZED);
    assert_int_equal(verify(SECRET, "get", PATH, EXP, SIG, NOW), RECD_E_UNAUTHORIZED);
    assert_int_equal(verify(SECRET, "", PATH, EXP, SIG, NOW), RECD_E_UNAUTHORIZED);
    /* Another path: representation, recording, account, a trailing slash, a prefix. */
    static const char *paths[] = {
        "/2010-04-01/Accounts/" ACC "/Recordings/RE557ce644e5ab84fa21cc21112e22c485.wav",
        "/2010-04-01/Accounts/" ACC "/Recordings/RE557ce644e5ab84fa21cc21112e22c485",
        "/2010-04-01/Accounts/" ACC "/Recordings/RE557ce644e5ab84fa21cc21112e22c484.mp3",
        "/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdee/Recordings/"
        "RE557ce644e5ab84fa21cc21112e22c485.mp3",
        PATH "/",
        "/2010-04-01/Accounts/" ACC "/Recordings/RE557ce644e5ab84fa21cc21112e22c485.mp",
        "/2010-04-01/Accounts/" ACC "/recordings/RE557ce644e5ab84fa21cc21112e22c485.mp3",
        "",
    };
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++)
        assert_int_equal(verify(SECRET, "GET", paths[i], EXP, SIG, NOW), RECD_E_UNAUTHORIZED);
    /* Another expiry, even an earlier one. */
    assert_int_equal(verify(SECRET, "GET", PATH, EXP + 1, SIG, NOW), RECD_E_UNAUTHORIZED);
    assert_int_equal(verify(SECRET, "GET", PATH, EXP - 1, SIG, NOW), RECD_E_UNAUTHORIZED);
    assert_int_equal(verify(SECRET, "GET", PATH, EXP * 10, SIG, NOW), RECD_E_UNAUTHORIZED);
}

static void test_wrong_secret(void **state)
{
    (void)state;
    assert_int_equal(verify(SECRET2, "GET", PATH, EXP, SIG, NOW), RECD_E_UNAUTHORIZED);
    assert_int_equal(verify("1123456789abcdef0123456789abcdef", "GET", PATH, EXP, SIG, NOW),
                     RECD_E_UNAUTHORIZED);
    assert_int_equal(verify("0123456789ABCDEF0123456789ABCDEF", "GET", PATH, EXP, SIG, NOW),
                     RECD_E_UNAUTHORIZED);
    assert_int_equal(recd_sign_verify(SECRET, LIT_LEN(SECRET) - 1, "GET", LIT(PATH), EXP, LIT(SIG), NOW),
                     RECD_E_UNAUTHORIZED);
    assert_int_equal(verify(SECRET "0", "GET", PATH, EXP, SIG, NOW), RECD_E_UNAUTHORIZED);
    /* An empty secret is refused even when the signature was made with it. */
    char out[RECD_SIG_LEN + 1];
    recd_sign_compute("", 0, "GET", LIT(PATH), EXP, out);
    assert_int_equal(recd_sign_verify("", 0, "GET", LIT(PATH), EXP, out, RECD_SIG_LEN, NOW),
                     RECD_E_UNAUTHORIZED);
}

/* Every character of the signature matters: each replaced by every other base64url character. */
static void test_tampered_sig(void **state)
{
    (void)state;
    static const char alpha[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    char bad[RECD_SIG_LEN + 1];
    for (size_t i = 0; i < RECD_SIG_LEN; i++) {
        for (size_t a = 0; a < LIT_LEN(alpha); a++) {
            if (alpha[a] == SIG[i])
                continue;
            memcpy(bad, SIG, sizeof bad);
            bad[i] = alpha[a];
            assert_int_equal(verify(SECRET, "GET", PATH, EXP, bad, NOW), RECD_E_UNAUTHORIZED);
        }
    }
    /* In particular the last character's two spare bits: 'V' decodes to the same bytes as 'U'
     * in a lax decoder, and must not make a second valid spelling of the signature. */
    memcpy(bad, SIG, sizeof bad);
    bad[RECD_SIG_LEN - 1] = 'V';
    assert_int_equal(verify(SECRET, "GET", PATH, EXP, bad, NOW), RECD_E_UNAUTHORIZED);
}

static void test_malformed_sig(void **state)
{
    (void)state;
    /* Wrong lengths: short, long, padded, empty. */
    assert_int_equal(recd_sign_verify(LIT(SECRET), "GET", LIT(PATH), EXP, SIG, RECD_SIG_LEN - 1, NOW),
                     RECD_E_UNAUTHORIZED);
    assert_int_equal(verify(SECRET, "GET", PATH, EXP, SIG "A", NOW), RECD_E_UNAUTHORIZED);
    assert_int_equal(verify(SECRET, "GET", PATH, EXP, SIG "=", NOW), RECD_E_UNAUTHORIZED);
    assert_int_equal(verify(SECRET, "GET", PATH, EXP, "", NOW), RECD_E_UNAUTHORIZED);
    /* Characters outside base64url: standard base64's + and /, padding, space, NUL, high bytes. */
    static const char notb64url[] = {'+', '/', '=', ' ', '.', '%', '\0', '\n', (char)0xc3};
    char bad[RECD_SIG_LEN + 1];
    for (size_t i = 0; i < sizeof notb64url; i++) {
        for (size_t pos = 0; pos < RECD_SIG_LEN; pos += 21) {
            memcpy(bad, SIG, sizeof bad);
            bad[pos] = notb64url[i];
            assert_int_equal(recd_sign_verify(LIT(SECRET), "GET", LIT(PATH), EXP, bad, RECD_SIG_LEN, NOW),
                             RECD_E_UNAUTHORIZED);
        }
    }
    /* The same signature in standard base64 ('-' → '+', '_' → '/'). */
    assert_int_equal(verify(SECRET, "GET", PATH, EXP, "VcWuuN68ta7SBnDHyWi+bLuk/PvdRHGBXdKWoqt//UU", NOW),
                     RECD_E_UNAUTHORIZED);
}

static void test_parse_ok(void **state)
{
    (void)state;
    int64_t exp = 0;
    char key[35];
    memset(key, 'X', sizeof key);
    assert_int_equal(recd_sign_parse(LIT("1767225600"), LIT(ACC), LIT(SIG), &exp, key), 0);
    assert_int_equal(exp, EXP);
    assert_bytes(key, strlen(key), ACC);
    assert_int_equal(recd_sign_parse(LIT("1767225600"), LIT(KEYSID), LIT(SIG2), &exp, key), 0);
    assert_bytes(key, strlen(key), KEYSID);
    assert_int_equal(recd_sign_parse(LIT("0"), LIT(ACC), LIT(SIG), &exp, key), 0);
    assert_int_equal(exp, 0);
    assert_int_equal(recd_sign_parse(LIT("999999999999999999"), LIT(ACC), LIT(SIG), &exp, key), 0);
    assert_int_equal(exp, INT64_C(999999999999999999));
    /* Parse then verify: the link round trip. */
    assert_int_equal(recd_sign_parse(LIT("1767225600"), LIT(ACC), LIT(SIG), &exp, key), 0);
    assert_int_equal(verify(SECRET, "GET", PATH, exp, SIG, NOW), 0);
}

static void test_parse_bad(void **state)
{
    (void)state;
    static const char *exps[] = {
        "",     "-1",  "+1", "01767225600",         "1767225600 ",         " 1767225600", "1e9",
        "0x10", "1.5", "00", "9999999999999999999", "1234567890123456789", "17672256OO",  "１",
    };
    static const char *sids[] = {
        "",
        "AC0123456789ABCDEF0123456789ABCDEF", /* uppercase hex: sids are lowercase */
        "RE557ce644e5ab84fa21cc21112e22c485", /* neither AC nor SK */
        "ac0123456789abcdef0123456789abcdef",
        "AC0123456789abcdef0123456789abcde",
        "AC0123456789abcdef0123456789abcdef0",
        "AC0123456789abcdef0123456789abcdeg",
        "SK0123456789abcdef0123456789abcde ",
    };
    static const char *sigs[] = {
        "",
        "VcWuuN68ta7SBnDHyWi-bLuk_PvdRHGBXdKWoqt__U",
        SIG "=",
        SIG "A",
        "VcWuuN68ta7SBnDHyWi+bLuk/PvdRHGBXdKWoqt//UU",
        "VcWuuN68ta7SBnDHyWi-bLuk_PvdRHGBXdKWoqt__UV", /* non-canonical last character */
        "VcWuuN68ta7SBnDHyWi-bLuk_PvdRHGBXdKWoqt__U ",
    };
    int64_t exp = 42;
    char key[35];
    memset(key, 'X', sizeof key);
    for (size_t i = 0; i < sizeof exps / sizeof exps[0]; i++)
        assert_int_equal(recd_sign_parse(exps[i], strlen(exps[i]), LIT(ACC), LIT(SIG), &exp, key),
                         RECD_E_UNAUTHORIZED);
    for (size_t i = 0; i < sizeof sids / sizeof sids[0]; i++)
        assert_int_equal(recd_sign_parse(LIT("1767225600"), sids[i], strlen(sids[i]), LIT(SIG), &exp, key),
                         RECD_E_UNAUTHORIZED);
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        assert_int_equal(recd_sign_parse(LIT("1767225600"), LIT(ACC), sigs[i], strlen(sigs[i]), &exp, key),
                         RECD_E_UNAUTHORIZED);
    /* A NUL inside a value is not the end of it. */
    assert_int_equal(recd_sign_parse("17672\0"
                                     "25600",
                                     11, LIT(ACC), LIT(SIG), &exp, key),
                     RECD_E_UNAUTHORIZED);
    /* Nothing was written by any failure. */
    assert_int_equal(exp, 42);
    for (size_t i = 0; i < sizeof key; i++)
        assert_int_equal(key[i], 'X');
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_answer),    cmocka_unit_test(test_path_len),
        cmocka_unit_test(test_verify_ok),       cmocka_unit_test(test_expiry),
        cmocka_unit_test(test_tampered_fields), cmocka_unit_test(test_wrong_secret),
        cmocka_unit_test(test_tampered_sig),    cmocka_unit_test(test_malformed_sig),
        cmocka_unit_test(test_parse_ok),        cmocka_unit_test(test_parse_bad),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
