#ifndef RECD_TESTS_UNIT_H
#define RECD_TESTS_UNIT_H

/*
 * What the unit tests share: cmocka's required includes in the order it needs them, and a few
 * helpers that compare exact bytes.
 */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* The length of a string literal, without its NUL. */
#define LIT_LEN(lit) (sizeof(lit) - 1)

/* Passes a string literal as (pointer, length). */
#define LIT(lit) (lit), LIT_LEN(lit)

/* Asserts that the `n` bytes at `p` are exactly the C string `want`. */
#define assert_bytes(p, n, want)                                                                             \
    do {                                                                                                     \
        const char *ab_p_ = (const char *)(p);                                                               \
        size_t ab_n_ = (size_t)(n);                                                                          \
        const char *ab_w_ = (want);                                                                          \
        if (ab_n_ != strlen(ab_w_) || memcmp(ab_p_, ab_w_, ab_n_) != 0) {                                    \
            print_error("got  (%zu) \"%.*s\"\nwant (%zu) \"%s\"\n", ab_n_, (int)ab_n_, ab_p_, strlen(ab_w_), \
                        ab_w_);                                                                              \
            fail();                                                                                          \
        }                                                                                                    \
    } while (0)

/* Asserts that a struct recd_buf holds exactly `want` (and is NUL-terminated after it). */
#define assert_buf(b, want)                                                                                  \
    do {                                                                                                     \
        assert_non_null((b)->p);                                                                             \
        assert_bytes((b)->p, (b)->len, (want));                                                              \
        assert_int_equal((b)->p[(b)->len], '\0');                                                            \
    } while (0)

#endif
