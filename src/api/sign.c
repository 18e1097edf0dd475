#include "api/sign.h"

#include "core/codec.h"
#include "core/error.h"
#include "core/log.h"
#include "core/sid.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#define MAC_LEN 32

/*
 * The HMAC implementation is fetched once: a list page may sign a link per item, and fetching
 * takes OpenSSL's provider lock. The fetched object lives as long as the process.
 */
static EVP_MAC *hmac_alg;
static pthread_once_t hmac_once = PTHREAD_ONCE_INIT;

static void hmac_fetch(void)
{
    hmac_alg = EVP_MAC_fetch(NULL, OSSL_MAC_NAME_HMAC, NULL);
}

/* The raw HMAC-SHA256 of the string to sign; 0 or RECD_E_INTERNAL when OpenSSL fails. */
static int sign_raw(const char *secret, size_t secret_len, const char *method, const char *path,
                    size_t path_len, int64_t expires, unsigned char mac[MAC_LEN])
{
    char num[24];
    int nn = snprintf(num, sizeof num, "%" PRId64, expires);
    if (nn < 0 || (size_t)nn >= sizeof num)
        return RECD_E_INTERNAL;
    if (pthread_once(&hmac_once, hmac_fetch) != 0 || !hmac_alg)
        return RECD_E_INTERNAL;
    EVP_MAC_CTX *ctx = EVP_MAC_CTX_new(hmac_alg);
    if (!ctx)
        return RECD_E_INTERNAL;
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
        OSSL_PARAM_construct_end(),
    };
    /* A NULL key means "keep the previous key" to OpenSSL; an empty secret is still a key. */
    static const unsigned char empty[1];
    const unsigned char *k = secret_len ? (const unsigned char *)secret : empty;
    size_t outl = 0;
    int ok = EVP_MAC_init(ctx, k, secret_len, params) == 1 &&
             EVP_MAC_update(ctx, (const unsigned char *)method, strlen(method)) == 1 &&
             EVP_MAC_update(ctx, (const unsigned char *)"\n", 1) == 1 &&
             EVP_MAC_update(ctx, (const unsigned char *)path, path_len) == 1 &&
             EVP_MAC_update(ctx, (const unsigned char *)"\n", 1) == 1 &&
             EVP_MAC_update(ctx, (const unsigned char *)num, (size_t)nn) == 1 &&
             EVP_MAC_final(ctx, mac, &outl, MAC_LEN) == 1 && outl == MAC_LEN;
    EVP_MAC_CTX_free(ctx);
    return ok ? 0 : RECD_E_INTERNAL;
}

void recd_sign_compute(const char *secret, size_t secret_len, const char *method, const char *path,
                       size_t path_len, int64_t expires, char out[RECD_SIG_LEN + 1])
{
    unsigned char mac[MAC_LEN];
    /* recd_b64url_encode's contract asks for 4*ceil(32/3)+1 = 45 bytes; `out` has 44. */
    char enc[48];
    if (sign_raw(secret, secret_len, method, path, path_len, expires, mac) < 0) {
        recd_log_error("sign: HMAC-SHA256 failed (OpenSSL out of memory?)");
        abort();
    }
    recd_b64url_encode(mac, sizeof mac, enc);
    memcpy(out, enc, RECD_SIG_LEN);
    out[RECD_SIG_LEN] = '\0';
}

/* 1 when `sig` is 43 base64url characters in canonical form, decoding to 32 bytes in `mac`. */
static int sig_decode(const char *sig, size_t sig_len, unsigned char mac[MAC_LEN])
{
    size_t n = 0;
    if (sig_len != RECD_SIG_LEN)
        return 0;
    return recd_b64url_decode(sig, sig_len, mac, MAC_LEN, &n) == 0 && n == MAC_LEN;
}

static int method_ok(const char *m)
{
    size_t n = strlen(m);
    if (n == 0 || n > 16)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (m[i] < 'A' || m[i] > 'Z')
            return 0;
    return 1;
}

int recd_sign_verify(const char *secret, size_t secret_len, const char *method, const char *path,
                     size_t path_len, int64_t expires, const char *sig, size_t sig_len, int64_t now_s)
{
    unsigned char got[MAC_LEN], want[MAC_LEN];
    if (secret_len == 0 || !method_ok(method) || !sig_decode(sig, sig_len, got))
        return RECD_E_UNAUTHORIZED;
    /* Both bounds before any HMAC work: expiry is public, there is nothing to hide here. The
     * unsigned difference is exact because expires >= now_s. */
    if (expires < now_s || (uint64_t)expires - (uint64_t)now_s > (uint64_t)RECD_SIGN_MAX_TTL)
        return RECD_E_UNAUTHORIZED;
    if (sign_raw(secret, secret_len, method, path, path_len, expires, want) < 0) {
        recd_log_error("sign: HMAC-SHA256 failed while verifying a link");
        return RECD_E_INTERNAL;
    }
    int diff = CRYPTO_memcmp(got, want, MAC_LEN);
    OPENSSL_cleanse(want, sizeof want);
    return diff == 0 ? 0 : RECD_E_UNAUTHORIZED;
}

int recd_sign_parse(const char *expires, size_t en, const char *key_sid, size_t kn, const char *sig,
                    size_t sn, int64_t *exp_out, char key_out[35])
{
    unsigned char mac[MAC_LEN];
    /* At most 18 digits cannot overflow int64; leading zeros would let one expiry be spelled
     * many ways, and the string to sign uses exactly one. */
    if (en == 0 || en > 18 || (expires[0] == '0' && en > 1))
        return RECD_E_UNAUTHORIZED;
    int64_t v = 0;
    for (size_t i = 0; i < en; i++) {
        if (expires[i] < '0' || expires[i] > '9')
            return RECD_E_UNAUTHORIZED;
        v = v * 10 + (expires[i] - '0');
    }
    if (!recd_sid_valid(key_sid, kn, "AC", 1) && !recd_sid_valid(key_sid, kn, "SK", 1))
        return RECD_E_UNAUTHORIZED;
    if (!sig_decode(sig, sn, mac))
        return RECD_E_UNAUTHORIZED;
    *exp_out = v;
    memcpy(key_out, key_sid, RECD_SID_LEN);
    key_out[RECD_SID_LEN] = '\0';
    return 0;
}
