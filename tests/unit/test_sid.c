#include "core/sid.h"

#include "core/error.h"

#include "unit.h"

/* A sid the tests know by heart: the seed's example recording. */
#define RE_OK "RE557ce644e5ab84fa21cc21112e22c485"

static int is_lower_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

static void test_new_shape(void **state)
{
    (void)state;
    static const char *prefixes[] = {"RE", "AC", "TR", "SK", "CA", "CF"};
    for (size_t k = 0; k < sizeof prefixes / sizeof prefixes[0]; k++) {
        char sid[RECD_SID_LEN + 2];
        memset(sid, 'X', sizeof sid);
        assert_int_equal(recd_sid_new(sid, prefixes[k]), 0);
        assert_int_equal(strlen(sid), 34);
        assert_int_equal(sid[34], '\0');
        assert_int_equal(sid[35], 'X'); /* nothing written past the NUL */
        assert_memory_equal(sid, prefixes[k], 2);
        for (size_t i = 2; i < 34; i++)
            assert_true(is_lower_hex(sid[i]));
        /* What recd_sid_new makes, recd_sid_valid accepts, strictly. */
        assert_int_equal(recd_sid_valid(sid, 34, prefixes[k], 1), 1);
    }
}

static int cmp_sid(const void *a, const void *b)
{
    return memcmp(a, b, RECD_SID_LEN + 1);
}

/* 128 random bits: 4096 draws never collide, and every hex digit shows up in every position. */
static void test_new_distinct(void **state)
{
    (void)state;
    enum { N = 4096 };
    char(*s)[RECD_SID_LEN + 1] = calloc(N, sizeof *s);
    assert_non_null(s);
    unsigned seen[34] = {0}; /* bit d set when digit d was seen at position i */
    for (int i = 0; i < N; i++) {
        assert_int_equal(recd_sid_new(s[i], "RE"), 0);
        for (int p = 2; p < 34; p++) {
            char c = s[i][p];
            seen[p] |= 1u << (c <= '9' ? c - '0' : c - 'a' + 10);
        }
    }
    qsort(s, N, sizeof *s, cmp_sid);
    for (int i = 1; i < N; i++)
        assert_int_not_equal(memcmp(s[i - 1], s[i], sizeof *s), 0);
    for (int p = 2; p < 34; p++)
        assert_int_equal(seen[p], 0xffffu);
    free(s);
}

static void test_valid_good(void **state)
{
    (void)state;
    assert_int_equal(recd_sid_valid(LIT(RE_OK), "RE", 1), 1);
    assert_int_equal(recd_sid_valid(LIT(RE_OK), "RE", 0), 1);
    assert_int_equal(recd_sid_valid(LIT("AC00000000000000000000000000000000"), "AC", 1), 1);
    assert_int_equal(recd_sid_valid(LIT("TRffffffffffffffffffffffffffffffff"), "TR", 1), 1);
    assert_int_equal(recd_sid_valid(LIT("CA0123456789abcdef0123456789abcdef"), "CA", 1), 1);
    /* Only the first n bytes count: a longer buffer with a good prefix of 34 is fine. */
    assert_int_equal(recd_sid_valid(RE_OK ".json", 34, "RE", 1), 1);
}

static void test_valid_uppercase(void **state)
{
    (void)state;
    const char *up = "RE557CE644E5AB84FA21CC21112E22C485";
    assert_int_equal(recd_sid_valid(up, 34, "RE", 1), 0);
    assert_int_equal(recd_sid_valid(up, 34, "RE", 0), 1);
    const char *mixed = "RE557ce644e5ab84fa21cc21112e22c48F";
    assert_int_equal(recd_sid_valid(mixed, 34, "RE", 1), 0);
    assert_int_equal(recd_sid_valid(mixed, 34, "RE", 0), 1);
    /* The prefix is never case-folded. */
    assert_int_equal(recd_sid_valid(LIT("re557ce644e5ab84fa21cc21112e22c485"), "RE", 0), 0);
    assert_int_equal(recd_sid_valid(LIT("Re557ce644e5ab84fa21cc21112e22c485"), "RE", 0), 0);
}

static void test_valid_wrong_prefix(void **state)
{
    (void)state;
    assert_int_equal(recd_sid_valid(LIT(RE_OK), "TR", 1), 0);
    assert_int_equal(recd_sid_valid(LIT(RE_OK), "RA", 1), 0);
    assert_int_equal(recd_sid_valid(LIT(RE_OK), "AE", 0), 0);
    assert_int_equal(recd_sid_valid(LIT("CA557ce644e5ab84fa21cc21112e22c485"), "RE", 0), 0);
}

static void test_valid_wrong_length(void **state)
{
    (void)state;
    const char *s = RE_OK "0";
    assert_int_equal(recd_sid_valid(s, 33, "RE", 1), 0);
    assert_int_equal(recd_sid_valid(s, 35, "RE", 1), 0);
    assert_int_equal(recd_sid_valid(s, 35, "RE", 0), 0);
    assert_int_equal(recd_sid_valid(s, 2, "RE", 1), 0);
    assert_int_equal(recd_sid_valid(s, 0, "RE", 1), 0);
    assert_int_equal(recd_sid_valid("", 0, "RE", 0), 0);
}

static void test_valid_wrong_chars(void **state)
{
    (void)state;
    static const char bad[] = {'g', 'G', 'z', ' ',  '-',    '_',    '.', '/',
                               ':', '@', '`', '\0', '\x80', '\xff', 'x'};
    for (size_t k = 0; k < sizeof bad; k++) {
        for (size_t pos = 2; pos < 34; pos += 31) { /* first and last hex position */
            char s[RECD_SID_LEN + 1];
            memcpy(s, RE_OK, sizeof s);
            s[pos] = bad[k];
            assert_int_equal(recd_sid_valid(s, 34, "RE", 1), 0);
            assert_int_equal(recd_sid_valid(s, 34, "RE", 0), 0);
        }
    }
}

static void test_hex(void **state)
{
    (void)state;
    char out[64];
    memset(out, 'X', sizeof out);
    recd_hex(out, (const unsigned char *)"", 0);
    assert_string_equal(out, "");

    static const unsigned char in[] = {0x00, 0x01, 0x0f, 0x10, 0x7f, 0x80, 0xab, 0xcd, 0xef, 0xff};
    memset(out, 'X', sizeof out);
    recd_hex(out, in, sizeof in);
    assert_string_equal(out, "00010f107f80abcdefff");
    assert_int_equal(out[21], 'X');
}

static void test_random(void **state)
{
    (void)state;
    assert_int_equal(recd_random(NULL, 0), 0);

    /* A large request (more than one getrandom call may return) is filled completely: no
     * 64-byte window of it stays as the zeros it started as. */
    enum { N = 1 << 20 };
    unsigned char *p = calloc(N, 1);
    assert_non_null(p);
    assert_int_equal(recd_random(p, N), 0);
    static const unsigned char zero[64];
    for (size_t i = 0; i < N; i += 64)
        assert_int_not_equal(memcmp(p + i, zero, 64), 0);

    /* Two draws differ; byte values are spread over the whole range. */
    unsigned char a[32], b[32];
    assert_int_equal(recd_random(a, sizeof a), 0);
    assert_int_equal(recd_random(b, sizeof b), 0);
    assert_memory_not_equal(a, b, sizeof a);
    size_t count[256] = {0};
    for (size_t i = 0; i < N; i++)
        count[p[i]]++;
    for (int v = 0; v < 256; v++) {
        /* Expected 4096 each; 3500..4700 is beyond 9 standard deviations. */
        assert_in_range(count[v], 3500, 4700);
    }
    free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_new_shape),
        cmocka_unit_test(test_new_distinct),
        cmocka_unit_test(test_valid_good),
        cmocka_unit_test(test_valid_uppercase),
        cmocka_unit_test(test_valid_wrong_prefix),
        cmocka_unit_test(test_valid_wrong_length),
        cmocka_unit_test(test_valid_wrong_chars),
        cmocka_unit_test(test_hex),
        cmocka_unit_test(test_random),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
