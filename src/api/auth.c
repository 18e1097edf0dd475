#include "api/auth.h"

#include "core/codec.h"
#include "core/error.h"
#include "core/sid.h"
#include "core/secret.h"
#include "service/audit.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

/* A sid, a colon and a 32-digit secret need 67 bytes; anything much longer is not ours. */
#define MAX_CRED_B64 256

int recd_auth_check(struct recd_store *st, const char *authorization, const struct recd_account *path_acc)
{
    unsigned char raw[MAX_CRED_B64];
    size_t n;
    if (!authorization || strncasecmp(authorization, "Basic ", 6) != 0)
        return RECD_E_UNAUTHORIZED;
    const char *b64 = authorization + 6;
    while (*b64 == ' ')
        b64++;
    size_t blen = strlen(b64);
    while (blen && b64[blen - 1] == ' ')
        blen--;
    if (blen > MAX_CRED_B64 || recd_b64_decode(b64, blen, raw, sizeof raw, &n) < 0)
        return RECD_E_UNAUTHORIZED;
    const unsigned char *colon = memchr(raw, ':', n);
    if (!colon || colon - raw != RECD_SID_LEN)
        return RECD_E_UNAUTHORIZED;
    char user[RECD_SID_LEN + 1];
    memcpy(user, raw, RECD_SID_LEN);
    user[RECD_SID_LEN] = '\0';
    const char *secret = (const char *)colon + 1;
    size_t slen = n - RECD_SID_LEN - 1;

    const char *principal;
    int rc;
    struct recd_account acc;
    struct recd_key key;
    if (recd_sid_valid(user, RECD_SID_LEN, "AC", 1)) {
        /* Most requests are the path account's own: its row is at hand, and a second lookup
         * would be a second read transaction. */
        const struct recd_account *a = path_acc;
        if (strcmp(user, path_acc->sid) != 0) {
            rc = st->ops->account_get(st, user, &acc);
            if (rc < 0)
                return rc == RECD_E_NOT_FOUND ? RECD_E_UNAUTHORIZED : rc;
            a = &acc;
        }
        if (!recd_secret_check(a->token_salt, a->token_hash, secret, slen))
            return RECD_E_UNAUTHORIZED;
        principal = a->sid;
    } else if (recd_sid_valid(user, RECD_SID_LEN, "SK", 1)) {
        rc = st->ops->key_get(st, user, &key);
        if (rc < 0)
            return rc == RECD_E_NOT_FOUND ? RECD_E_UNAUTHORIZED : rc;
        if (!recd_secret_check(key.secret_salt, key.secret_hash, secret, slen))
            return RECD_E_UNAUTHORIZED;
        principal = key.account_sid;
    } else {
        return RECD_E_UNAUTHORIZED;
    }
    if (strcmp(principal, path_acc->sid) == 0)
        return 0;
    if (path_acc->parent_sid[0] && strcmp(principal, path_acc->parent_sid) == 0)
        return 0;
    return RECD_E_UNAUTHORIZED;
}

/* Fetched once: OpenSSL 3 looks a digest up by name, under a lock both workers share, whenever it
 * is given the legacy EVP_sha256() instead. */
static EVP_MD *sha256;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static void fetch_sha256(void)
{
    sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
    if (!sha256)
        abort();
}

void recd_auth_digest(const char *authorization, unsigned char out[32])
{
    unsigned int len = 32;
    pthread_once(&sha256_once, fetch_sha256);
    if (!EVP_Digest(authorization, strlen(authorization), out, &len, sha256, NULL))
        abort();
}

int recd_auth_user(const char *authorization, char user[35])
{
    unsigned char raw[MAX_CRED_B64];
    size_t n;
    user[0] = '\0';
    if (!authorization)
        return RECD_AUDIT_NO_CRED;
    if (strncasecmp(authorization, "Basic ", 6) != 0)
        return RECD_AUDIT_OTHER;
    const char *b64 = authorization + 6;
    while (*b64 == ' ')
        b64++;
    size_t blen = strlen(b64);
    while (blen && b64[blen - 1] == ' ')
        blen--;
    /* Only the user is wanted: a sid, ':' and a first byte of secret are 36 bytes, the first 48
     * characters; the rest (the secret) is never decoded here. */
    if (blen > 48)
        blen = 48;
    if (recd_b64_decode(b64, blen, raw, sizeof raw, &n) < 0 || n <= RECD_SID_LEN || raw[RECD_SID_LEN] != ':')
        return RECD_AUDIT_OTHER;
    int kind = recd_sid_valid((const char *)raw, RECD_SID_LEN, "AC", 1)   ? RECD_AUDIT_AUTH_TOKEN
               : recd_sid_valid((const char *)raw, RECD_SID_LEN, "SK", 1) ? RECD_AUDIT_API_KEY
                                                                          : RECD_AUDIT_OTHER;
    if (kind != RECD_AUDIT_OTHER) {
        memcpy(user, raw, RECD_SID_LEN);
        user[RECD_SID_LEN] = '\0';
    }
    memset(raw, 0, sizeof raw);
    return kind;
}
