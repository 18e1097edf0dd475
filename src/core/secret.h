#ifndef RECD_CORE_SECRET_H
#define RECD_CORE_SECRET_H

#include <stddef.h>

/*
 * How recd keeps the secrets it hands out (auth tokens, API key secrets): 128 random bits shown
 * once as 32 hex characters, then stored as SHA-256(salt || secret) for Basic auth, and sealed
 * (core/seal.h) for the signing that needs them in clear.
 */

/** SHA-256(salt || secret) of the `n` bytes at `secret` into `out`. */
void recd_secret_hash(const unsigned char salt[16], const char *secret, size_t n, unsigned char out[32]);

/** 1 when `secret` hashes to `hash` under `salt`, else 0; the comparison takes constant time. */
int recd_secret_check(const unsigned char salt[16], const unsigned char hash[32], const char *secret,
                      size_t n);

#endif
