#include "api/auth.h"

#include "core/codec.h"
#include "core/error.h"
#include "core/sid.h"
#include "core/secret.h"

#include <string.h>
#include <strings.h>

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
        rc = st->ops->account_get(st, user, &acc);
        if (rc < 0)
            return rc == RECD_E_NOT_FOUND ? RECD_E_UNAUTHORIZED : rc;
        if (!recd_secret_check(acc.token_salt, acc.token_hash, secret, slen))
            return RECD_E_UNAUTHORIZED;
        principal = acc.sid;
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
