#ifndef RECD_CORE_SEAL_H
#define RECD_CORE_SEAL_H

#include <stddef.h>

/*
 * Sealing keeps the secrets the server must use in clear (auth tokens and API key secrets that
 * sign media links, later webhook signatures) encrypted at rest (contract §4): AES-256-GCM under
 * one 32-byte key that lives in a file only the server's user can read. A sealed blob is
 *
 *     nonce (12 bytes, random) || ciphertext (n bytes) || tag (16 bytes)
 *
 * and carries associated data (the owning sid, say) that is authenticated but not stored, so a
 * blob copied to another row does not open there. Random 96-bit nonces are safe for far more
 * seals than recd will ever make under one key (NIST's bound is 2^32).
 */

#define RECD_SEAL_KEY_LEN   32
#define RECD_SEAL_NONCE_LEN 12
#define RECD_SEAL_TAG_LEN   16
#define RECD_SEAL_OVERHEAD  28 /* 12-byte nonce + 16-byte tag */

/** The largest `n` recd_seal accepts (OpenSSL counts in int). */
#define RECD_SEAL_MAX (1u << 30)

/**
 * Loads the sealing key from `dir`/seal.key into `key`. The directory must exist. On first use
 * the key is drawn from getrandom and written durably: a temp file created O_EXCL with mode
 * 0600, fsynced, then linked (not renamed) to seal.key so that the first of several racing
 * creators wins and the others read the winner's key; the temp name is removed and the
 * directory fsynced. A key file that is not a regular file, is not owned by the server's user,
 * has any group/other permission bit, or is not exactly 32 bytes is refused with a logged
 * reason: a key others can read, or a truncated one, must not be used (nor silently replaced,
 * which would orphan everything sealed under it). Returns 0, RECD_E_IO, or RECD_E_INTERNAL
 * when the kernel gives no randomness. `key` is written only on success.
 */
int recd_seal_key_load(const char *dir, unsigned char key[RECD_SEAL_KEY_LEN]);

/**
 * Seals the `n` bytes at `in` into `out`, which needs n + RECD_SEAL_OVERHEAD bytes and must not
 * overlap `in`. `ad` is a NUL-terminated string (NULL means empty) authenticated with the blob.
 * Returns 0, or RECD_E_INTERNAL (no randomness, n over RECD_SEAL_MAX, OpenSSL failure).
 */
int recd_seal(const unsigned char key[RECD_SEAL_KEY_LEN], const char *ad, const unsigned char *in, size_t n,
              unsigned char *out);

/**
 * Opens the sealed blob of `n` bytes at `in` into `out`, which needs n - RECD_SEAL_OVERHEAD
 * bytes and must not overlap `in`; *outn gets that length. Fails with RECD_E_INTERNAL on a blob
 * shorter than the overhead, any altered byte, the wrong key or the wrong `ad`: then `out` is
 * wiped (no unauthenticated plaintext is left behind), nothing beyond it is written, and *outn
 * is 0.
 */
int recd_unseal(const unsigned char key[RECD_SEAL_KEY_LEN], const char *ad, const unsigned char *in, size_t n,
                unsigned char *out, size_t *outn);

/** A secret recd hands out (auth token, API key secret) is 32 characters; sealed, 60 bytes. */
#define RECD_SEAL_SECRET_LEN        32
#define RECD_SEAL_SECRET_SEALED_LEN (RECD_SEAL_SECRET_LEN + RECD_SEAL_OVERHEAD)

/**
 * Opens a secret sealed (by recd_seal, with `owner_sid` as associated data) under `key` into
 * `out`: its 32 characters and a NUL. Needs only the key, so that any holder of it (a request
 * handler, a command, a later webhook signer) can verify what the owner signed. Returns 0, or
 * RECD_E_INTERNAL when the blob does not open or does not hold 32 bytes; `out` then holds no
 * part of the secret.
 */
int recd_seal_open_secret(const unsigned char key[RECD_SEAL_KEY_LEN], const char *owner_sid,
                          const unsigned char sealed[RECD_SEAL_SECRET_SEALED_LEN],
                          char out[RECD_SEAL_SECRET_LEN + 1]);

#endif
