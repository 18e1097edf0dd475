#ifndef RECD_API_CACHE_H
#define RECD_API_CACHE_H

#include <stddef.h>
#include <stdint.h>

/*
 * A cache of rendered list pages, one per worker thread (no locking). A list page is a pure
 * function of its request target and the data, so a page rendered once is served again until
 * the store's version changes (any commit by any process); a version change empties the cache.
 *
 * Beside the pages it keeps credentials found valid: "this Authorization header (by its digest)
 * may act on this account", with the account's row. They are forgotten with the pages on any
 * commit, so that a rotated token, a revoked key or a deleted account is seen on the next
 * request. Credentials are still checked on every request before a page is served; the cache
 * only saves the lookups, the queries and the rendering.
 */

#include "store/store.h"

struct recd_api_cache;

/** A cache holding at most `max_bytes` of bodies. */
struct recd_api_cache *recd_api_cache_new(size_t max_bytes);
void recd_api_cache_free(struct recd_api_cache *c);

/** Forgets everything unless `version` equals the version the entries were rendered at. */
void recd_api_cache_validate(struct recd_api_cache *c, const int64_t version[2]);

/** The cached body for `key` (and its content type), or NULL. Valid until the next call on `c`. */
const char *recd_api_cache_get(struct recd_api_cache *c, const char *key, size_t key_len, size_t *len,
                               const char **content_type);

/** A cached body lent to a response still being sent: counted, so eviction cannot free it. */
struct recd_api_cache_ref;

/**
 * As recd_api_cache_get, and also takes a reference on the body: it then stays valid, whatever
 * the cache does, until recd_api_cache_release(*ref). Lets a response send a cached page
 * without copying it.
 */
const char *recd_api_cache_share(struct recd_api_cache *c, const char *key, size_t key_len, size_t *len,
                                 const char **content_type, struct recd_api_cache_ref **ref);

/** Gives back a reference taken by recd_api_cache_share; from any thread. NULL is ignored. */
void recd_api_cache_release(struct recd_api_cache_ref *ref);

/** Stores a copy of `body` for `key`; a body too large for the cache is not stored. */
void recd_api_cache_put(struct recd_api_cache *c, const char *key, size_t key_len, const char *body,
                        size_t len, const char *content_type);

/**
 * 1, with the account's row in *acc, when credentials with Authorization digest `digest` were
 * found valid for account `sid` since the last version change; else 0. The digest is compared in
 * constant time.
 */
int recd_api_cache_auth_get(struct recd_api_cache *c, const char *sid, const unsigned char digest[32],
                            struct recd_account *acc);

/** Remembers that credentials with digest `digest` are valid for account `acc` (its row kept). */
void recd_api_cache_auth_put(struct recd_api_cache *c, const unsigned char digest[32],
                             const struct recd_account *acc);

/**
 * A new descriptor (close-on-exec, the caller's to close) for the open file kept for `key`, with
 * its size in *size; -1 when none is kept. For media files, which never change once stored (a
 * deletion is a commit, and empties the cache): this saves the open and fstat of each request.
 */
int recd_api_cache_file_get(struct recd_api_cache *c, const char *key, int64_t *size);

/** A media file kept open by a cache, lent to responses: counted, so that the cache may forget
 * it while a response is still sending from it. */
struct recd_api_cache_file;

/**
 * As recd_api_cache_file_get, but lends the kept descriptor itself instead of a duplicate: the
 * caller must not close it, and gives back *ref (recd_api_cache_file_release) when done with it.
 * A cached media GET then costs no dup() and close() of its own.
 */
int recd_api_cache_file_share(struct recd_api_cache *c, const char *key, int64_t *size,
                              struct recd_api_cache_file **ref);

/** Gives back a reference taken by recd_api_cache_file_share; from any thread. NULL is ignored. */
void recd_api_cache_file_release(struct recd_api_cache_file *ref);

/** Keeps a duplicate of the open file `fd` of `size` bytes for `key`; a cache may decline. */
void recd_api_cache_file_put(struct recd_api_cache *c, const char *key, int fd, int64_t size);

#endif
