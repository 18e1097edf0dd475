#ifndef RECD_CORE_CODEC_H
#define RECD_CORE_CODEC_H

#include <stddef.h>

/**
 * Decodes standard base64 (RFC 4648 §4, with padding) strictly: no whitespace, no stray
 * characters, correct padding. Writes at most `cap` bytes to `out`; *n gets the length.
 * Returns 0, or -1 when the input is malformed or does not fit.
 */
int recd_b64_decode(const char *in, size_t len, unsigned char *out, size_t cap, size_t *n);

/** Encodes `len` bytes as unpadded base64url (RFC 4648 §5); `out` needs 4*ceil(len/3)+1 bytes. Returns the
 * length. */
size_t recd_b64url_encode(const unsigned char *in, size_t len, char *out);

/** Decodes unpadded base64url strictly (non-canonical trailing bits are refused); 0 or -1. */
int recd_b64url_decode(const char *in, size_t len, unsigned char *out, size_t cap, size_t *n);

/** The value of the hexadecimal digit `c` (either case), or -1 when it is not one. */
int recd_hex_digit(char c);

/**
 * Percent-decodes `in` into `out` (which needs `len` bytes). '+' becomes a space when `plus`
 * is set (query strings), stays '+' otherwise. Returns the decoded length, or -1 on a
 * malformed escape or a decoded NUL byte.
 */
long recd_pct_decode(const char *in, size_t len, char *out, int plus);

#endif
