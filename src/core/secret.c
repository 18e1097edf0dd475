#include "core/secret.h"

#include <stdlib.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

void recd_secret_hash(const unsigned char salt[16], const char *secret, size_t n, unsigned char out[32])
{
    /* Secrets are 128 random bits, so one fast hash is enough: there is nothing to brute-force
     * that a slow KDF would protect, and Basic auth runs on every request. */
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned int len = 32;
    if (!md)
        abort();
    EVP_DigestInit_ex(md, EVP_sha256(), NULL);
    EVP_DigestUpdate(md, salt, 16);
    EVP_DigestUpdate(md, secret, n);
    EVP_DigestFinal_ex(md, out, &len);
    EVP_MD_CTX_free(md);
}

int recd_secret_check(const unsigned char salt[16], const unsigned char hash[32], const char *secret,
                      size_t n)
{
    unsigned char h[32];
    recd_secret_hash(salt, secret, n, h);
    return CRYPTO_memcmp(h, hash, 32) == 0;
}
