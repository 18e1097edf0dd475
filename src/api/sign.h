#ifndef RECD_API_SIGN_H
#define RECD_API_SIGN_H

#include <stddef.h>
#include <stdint.h>

/*
 * Signed media links: a URL that grants GET (and HEAD) of one recording's media until it
 * expires, without Basic auth, even when the account enforces auth on media (contract §4).
 *
 * The scheme, precisely:
 *
 *   string to sign  METHOD "\n" PATH "\n" EXPIRES, with no trailing newline, where
 *                   METHOD  is "GET" (a HEAD request is verified as "GET" by the caller, so one
 *                           link serves both);
 *                   PATH    is the request path exactly as sent, bytes as on the wire (no
 *                           percent-decoding, no normalisation), without '?' and the query,
 *                           e.g. /2010-04-01/Accounts/AC…/Recordings/RE….mp3;
 *                   EXPIRES is the expiry as decimal Unix seconds (UTC), digits only, no sign,
 *                           no leading zeros.
 *   key             the signer's secret as its text, byte for byte: the account's auth token
 *                   or the API key's secret (32 characters).
 *   signature       HMAC-SHA256(key, string to sign), encoded base64url (RFC 4648 §5, '-' and
 *                   '_') without '=' padding: exactly 43 characters.
 *   link            PATH "?Expires=" EXPIRES "&KeySid=" SID "&Signature=" SIGNATURE, where
 *                   SID is the signer's sid (AC… for an auth token, SK… for an API key). Other
 *                   query parameters may be present and are not signed.
 *
 * A link is accepted while now <= EXPIRES <= now + RECD_SIGN_MAX_TTL: an expiry further out
 * than that is refused, so a leaked link cannot be made to live forever.
 *
 * Reproducing a signature in a shell (printf, not echo: no trailing newline):
 *
 *   printf 'GET\n%s\n%s' "$PATH_" "$EXPIRES" | openssl dgst -sha256 -hmac "$SECRET" -binary \
 *       | basenc --base64url | tr -d '='
 *
 * Worked example: SECRET 0123456789abcdef0123456789abcdef, EXPIRES 1767225600
 * (2026-01-01T00:00:00Z), PATH
 * /2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Recordings/RE557ce644e5ab84fa21cc21112e22c485.mp3
 * gives the signature VcWuuN68ta7SBnDHyWi-bLuk_PvdRHGBXdKWoqt__UU.
 */

#define RECD_SIG_LEN 43
/** The longest a link may live: expiries further than this from now are refused. */
#define RECD_SIGN_MAX_TTL (INT64_C(31) * 86400)

/**
 * Writes the 43-character signature of (`method`, `path`, `expires`) under the `secret_len`
 * bytes of `secret`, and a NUL, to `out`. `method` is NUL-terminated; `path` is `path_len`
 * bytes (not necessarily terminated). Aborts the process if OpenSSL cannot allocate its
 * context (a small fixed allocation).
 */
void recd_sign_compute(const char *secret, size_t secret_len, const char *method, const char *path,
                       size_t path_len, int64_t expires, char out[RECD_SIG_LEN + 1]);

/**
 * Checks a link's signature `sig` (`sig_len` bytes) for (`method`, `path`, `expires`) under
 * `secret`, at time `now_s` (Unix seconds). Refuses: an empty secret; a method that is not
 * 1–16 uppercase letters; a signature that is not exactly 43 base64url characters in canonical
 * form; an expired link (expires < now_s); an expiry more than RECD_SIGN_MAX_TTL after now_s;
 * and a signature that does not match, compared in constant time (CRYPTO_memcmp). Returns 0,
 * RECD_E_UNAUTHORIZED for all of those alike, or RECD_E_INTERNAL when OpenSSL fails.
 */
int recd_sign_verify(const char *secret, size_t secret_len, const char *method, const char *path,
                     size_t path_len, int64_t expires, const char *sig, size_t sig_len, int64_t now_s);

/**
 * Parses a link's three query values (already percent-decoded): `expires` (`en` bytes; 1–18
 * decimal digits, no sign, no leading zero), `key_sid` (`kn` bytes; a well-formed, lowercase
 * AC… or SK… sid) and `sig` (`sn` bytes; 43 base64url characters, canonical). On success
 * stores the expiry in *exp_out and the sid with a NUL in `key_out`, and returns 0; otherwise
 * returns RECD_E_UNAUTHORIZED and writes nothing.
 */
int recd_sign_parse(const char *expires, size_t en, const char *key_sid, size_t kn, const char *sig,
                    size_t sn, int64_t *exp_out, char key_out[35]);

#endif
