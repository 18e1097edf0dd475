/* The Authorization header, checked against a store that knows one account and one key. */
#include "api/auth.h"
#include "core/error.h"
#include "service/service.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char acc_sid[] = "AC0123456789abcdef0123456789abcdef";
static const char key_sid[] = "SK0123456789abcdef0123456789abcdef";
static const unsigned char salt[16] = {1, 2, 3};

static int account_get(struct recd_store *st, const char *sid, struct recd_account *out)
{
    (void)st;
    if (strcmp(sid, acc_sid) != 0)
        return RECD_E_NOT_FOUND;
    memset(out, 0, sizeof *out);
    memcpy(out->sid, acc_sid, sizeof acc_sid);
    memcpy(out->token_salt, salt, 16);
    recd_secret_hash(salt, "0123456789abcdef0123456789abcdef", 32, out->token_hash);
    return 0;
}

static int key_get(struct recd_store *st, const char *sid, struct recd_key *out)
{
    (void)st;
    if (strcmp(sid, key_sid) != 0)
        return RECD_E_NOT_FOUND;
    memset(out, 0, sizeof *out);
    memcpy(out->sid, key_sid, sizeof key_sid);
    memcpy(out->account_sid, acc_sid, sizeof acc_sid);
    memcpy(out->secret_salt, salt, 16);
    recd_secret_hash(salt, "fedcba9876543210fedcba9876543210", 32, out->secret_hash);
    return 0;
}

static const struct recd_store_ops ops = {.account_get = account_get, .key_get = key_get};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct recd_store st = {&ops};
    struct recd_account path;
    account_get(&st, acc_sid, &path);
    char *h = malloc(size + 1);
    if (!h)
        return 0;
    memcpy(h, data, size);
    h[size] = '\0';
    int rc = recd_auth_check(&st, h, &path);
    if (rc != 0 && rc != RECD_E_UNAUTHORIZED)
        __builtin_trap();
    free(h);
    return 0;
}
