#ifndef RECD_CORE_SID_H
#define RECD_CORE_SID_H

#include <stddef.h>

/** A sid is a two-letter prefix and 32 lowercase hex digits: 34 characters. */
#define RECD_SID_LEN 34

/**
 * Draws a new sid with `prefix` ("RE", "AC", ...) from the OS CSPRNG (getrandom, 128 bits).
 * `out` receives 34 characters and a NUL. Returns 0, or RECD_E_INTERNAL if the kernel
 * could not supply randomness (never falls back to a weaker source).
 */
int recd_sid_new(char out[RECD_SID_LEN + 1], const char prefix[2]);

/**
 * 1 when `s` (of length `n`) is a well-formed sid with `prefix`: the prefix, then exactly 32
 * hex digits. Twilio's sids are lowercase; `strict` 1 accepts only lowercase (paths, which
 * must match byte for byte), 0 also accepts uppercase hex (user-supplied filters).
 */
int recd_sid_valid(const char *s, size_t n, const char prefix[2], int strict);

/** Fills `out` with `nbytes` random bytes from getrandom; 0 or RECD_E_INTERNAL. */
int recd_random(void *out, size_t nbytes);

/** Writes `n` bytes as 2n lowercase hex digits and a NUL. */
void recd_hex(char *out, const unsigned char *in, size_t n);

#endif
