#ifndef RECD_API_AUTH_H
#define RECD_API_AUTH_H

#include "store/store.h"

/**
 * Checks an Authorization header for access to account `path_acc` (contract §4): Basic with an
 * account sid and auth token, or an API key sid and secret, checked against stored hashes in
 * constant time. The principal may be the account itself or its parent. Returns 0, or
 * RECD_E_UNAUTHORIZED for anything else (missing, malformed, unknown, wrong, another account),
 * with one answer for all so that nothing is learned from the difference; RECD_E_IO or
 * RECD_E_UNAVAILABLE when the store fails.
 */
int recd_auth_check(struct recd_store *st, const char *authorization, const struct recd_account *path_acc);

/**
 * SHA-256 of the whole Authorization header `authorization` (NUL-terminated) into `out`: what the
 * per-worker cache of verified credentials (api/cache.h) keys on, so that it never holds a secret
 * in clear.
 */
void recd_auth_digest(const char *authorization, unsigned char out[32]);

/**
 * For the audit record: the user of a Basic `authorization` (NULL: none) copied to `user` when
 * it is a well-formed AC… or SK… sid, else ""; nothing is checked. Returns RECD_AUDIT_AUTH_TOKEN,
 * RECD_AUDIT_API_KEY, RECD_AUDIT_OTHER, or RECD_AUDIT_NO_CRED without a header.
 */
int recd_auth_user(const char *authorization, char user[35]);

#endif
