#include "core/seal.h"

#include "core/error.h"
#include "core/file.h"
#include "core/log.h"
#include "core/sid.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#define KEY_NAME "seal.key"

/* read_key's answer when the file does not exist (the caller then creates it). */
#define KEY_ABSENT 1

/*
 * Reads `dir`/seal.key through the open directory `dfd`. The checks run on the opened
 * descriptor (fstat), not on the name, so the file judged is the file read. O_NOFOLLOW: a
 * symlink could point anywhere, including at a file whose permissions we did not check.
 * Returns 0, KEY_ABSENT, or RECD_E_IO (logged).
 */
static int read_key(int dfd, const char *dir, unsigned char key[RECD_SEAL_KEY_LEN])
{
    unsigned char buf[RECD_SEAL_KEY_LEN];
    struct stat st;
    int fd;
    do
        fd = openat(dfd, KEY_NAME, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
    while (fd < 0 && errno == EINTR);
    if (fd < 0) {
        if (errno == ENOENT)
            return KEY_ABSENT;
        if (errno == ELOOP)
            recd_log_error("seal: %s/" KEY_NAME " is a symbolic link; refusing it", dir);
        else
            recd_log_error("seal: open %s/" KEY_NAME ": %s", dir, strerror(errno));
        return RECD_E_IO;
    }
    const char *why = NULL;
    if (fstat(fd, &st) < 0)
        why = strerror(errno);
    else if (!S_ISREG(st.st_mode))
        why = "not a regular file";
    else if (st.st_uid != geteuid())
        why = "owned by another user; it must belong to the user recd runs as";
    else if (st.st_mode & 077)
        why = "readable or writable by group or others; chmod 600 it (and consider it leaked)";
    else if (st.st_size != RECD_SEAL_KEY_LEN)
        why = "not exactly 32 bytes";
    else if (recd_read_exact(fd, buf, sizeof buf) < 0)
        why = strerror(errno);
    close(fd);
    if (why) {
        recd_log_error("seal: refusing key file %s/" KEY_NAME ": %s", dir, why);
        OPENSSL_cleanse(buf, sizeof buf);
        return RECD_E_IO;
    }
    memcpy(key, buf, sizeof buf);
    OPENSSL_cleanse(buf, sizeof buf);
    return 0;
}

/*
 * Makes seal.key: a fresh key in a temp file, made durable, then published under the final
 * name without replacing (link(2), which fails with EEXIST). rename(2) would let the last of two
 * racing creators win after the first had already sealed data under its own key; with link the
 * first wins and every later one reads that key. Returns 0 (`key` filled with the key now on
 * disk, ours or the winner's) or RECD_E_*.
 */
static int create_key(int dfd, const char *dir, unsigned char key[RECD_SEAL_KEY_LEN])
{
    unsigned char fresh[RECD_SEAL_KEY_LEN];
    struct recd_tmpfile t;
    const char *step = "create temp";
    int ret;

    if (recd_random(fresh, sizeof fresh) < 0) {
        recd_log_error("seal: getrandom failed while creating %s/" KEY_NAME, dir);
        return RECD_E_INTERNAL;
    }
    ret = recd_tmpfile_create(&t, dfd, KEY_NAME, 0600);
    if (ret < 0)
        goto fail;
    /* The umask can only remove bits from 0600, but it could remove ours too; be exact. */
    step = "chmod temp";
    if (fchmod(t.fd, 0600) < 0)
        goto fail_errno;
    step = "write temp";
    if (recd_write_all(t.fd, fresh, sizeof fresh) < 0)
        goto fail_errno;
    ret = recd_tmpfile_publish(&t, dfd, KEY_NAME, RECD_PUBLISH_NOREPLACE, &step);
    if (ret == RECD_E_EXISTS) {
        /* Another process made the key first; its name is durable now, and it is the key. */
        ret = read_key(dfd, dir, key);
        if (ret == KEY_ABSENT) {
            recd_log_error("seal: %s/" KEY_NAME " vanished while being created", dir);
            ret = RECD_E_IO;
        }
    } else if (ret == 0) {
        recd_log_info("seal: created a new sealing key in %s/" KEY_NAME, dir);
        memcpy(key, fresh, sizeof fresh);
    } else {
        goto fail;
    }
    OPENSSL_cleanse(fresh, sizeof fresh);
    return ret;

fail_errno:
    ret = RECD_E_IO;
fail:
    if (ret == RECD_E_INTERNAL) {
        recd_log_error("seal: getrandom failed while creating %s/" KEY_NAME, dir);
    } else {
        recd_log_error("seal: %s for %s/" KEY_NAME ": %s", step, dir, strerror(errno));
        ret = RECD_E_IO; /* the contract's one answer for a key that could not be written */
    }
    recd_tmpfile_discard(&t);
    OPENSSL_cleanse(fresh, sizeof fresh);
    return ret;
}

int recd_seal_key_load(const char *dir, unsigned char key[RECD_SEAL_KEY_LEN])
{
    int dfd;
    do
        dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    while (dfd < 0 && errno == EINTR);
    if (dfd < 0) {
        recd_log_error("seal: open directory %s: %s", dir, strerror(errno));
        return RECD_E_IO;
    }
    int r = read_key(dfd, dir, key);
    if (r == KEY_ABSENT)
        r = create_key(dfd, dir, key);
    close(dfd);
    return r;
}

/* The associated data's length, or RECD_E_INTERNAL when it does not fit OpenSSL's int. */
static int ad_len(const char *ad)
{
    size_t n = ad ? strlen(ad) : 0;
    return n > INT_MAX ? RECD_E_INTERNAL : (int)n;
}

int recd_seal(const unsigned char key[RECD_SEAL_KEY_LEN], const char *ad, const unsigned char *in, size_t n,
              unsigned char *out)
{
    int adn = ad_len(ad), len = 0, fin = 0, ok = 0;
    if (n > RECD_SEAL_MAX || adn < 0)
        return RECD_E_INTERNAL;
    if (recd_random(out, RECD_SEAL_NONCE_LEN) < 0)
        return RECD_E_INTERNAL;
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    if (!ctx)
        return RECD_E_INTERNAL;
    unsigned char *ct = out + RECD_SEAL_NONCE_LEN;
    if (EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, RECD_SEAL_NONCE_LEN, NULL) != 1 ||
        EVP_EncryptInit_ex(ctx, NULL, NULL, key, out) != 1)
        goto done;
    if (adn > 0 && EVP_EncryptUpdate(ctx, NULL, &len, (const unsigned char *)ad, adn) != 1)
        goto done;
    len = 0;
    if (n > 0 && EVP_EncryptUpdate(ctx, ct, &len, in, (int)n) != 1)
        goto done;
    if (EVP_EncryptFinal_ex(ctx, ct + len, &fin) != 1 || (size_t)len + (size_t)fin != n)
        goto done;
    if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, RECD_SEAL_TAG_LEN, ct + n) != 1)
        goto done;
    ok = 1;
done:
    EVP_CIPHER_CTX_free(ctx);
    if (!ok) {
        recd_log_error("seal: AES-256-GCM encryption failed");
        return RECD_E_INTERNAL;
    }
    return 0;
}

int recd_unseal(const unsigned char key[RECD_SEAL_KEY_LEN], const char *ad, const unsigned char *in, size_t n,
                unsigned char *out, size_t *outn)
{
    int adn = ad_len(ad), len = 0, fin = 0, ok = 0;
    *outn = 0;
    if (n < RECD_SEAL_OVERHEAD || n - RECD_SEAL_OVERHEAD > RECD_SEAL_MAX || adn < 0)
        return RECD_E_INTERNAL;
    size_t m = n - RECD_SEAL_OVERHEAD;
    const unsigned char *ct = in + RECD_SEAL_NONCE_LEN;
    /* OpenSSL's SET_TAG takes a non-const pointer; hand it a copy rather than cast `in`. */
    unsigned char tag[RECD_SEAL_TAG_LEN];
    memcpy(tag, ct + m, sizeof tag);
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    if (!ctx)
        return RECD_E_INTERNAL;
    if (EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, RECD_SEAL_NONCE_LEN, NULL) != 1 ||
        EVP_DecryptInit_ex(ctx, NULL, NULL, key, in) != 1)
        goto done;
    if (adn > 0 && EVP_DecryptUpdate(ctx, NULL, &len, (const unsigned char *)ad, adn) != 1)
        goto done;
    len = 0;
    if (m > 0 && EVP_DecryptUpdate(ctx, out, &len, ct, (int)m) != 1)
        goto done;
    if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, RECD_SEAL_TAG_LEN, tag) != 1)
        goto done;
    /* The tag is checked here, after the plaintext was written: hence the wipe below. */
    if (EVP_DecryptFinal_ex(ctx, out + len, &fin) != 1 || (size_t)len + (size_t)fin != m)
        goto done;
    ok = 1;
done:
    EVP_CIPHER_CTX_free(ctx);
    if (!ok) {
        if (m > 0)
            OPENSSL_cleanse(out, m);
        return RECD_E_INTERNAL;
    }
    *outn = m;
    return 0;
}

int recd_seal_open_secret(const unsigned char key[RECD_SEAL_KEY_LEN], const char *owner_sid,
                          const unsigned char sealed[RECD_SEAL_SECRET_SEALED_LEN],
                          char out[RECD_SEAL_SECRET_LEN + 1])
{
    size_t n = 0;
    if (recd_unseal(key, owner_sid, sealed, RECD_SEAL_SECRET_SEALED_LEN, (unsigned char *)out, &n) < 0)
        return RECD_E_INTERNAL;
    if (n != RECD_SEAL_SECRET_LEN) {
        OPENSSL_cleanse(out, n);
        return RECD_E_INTERNAL;
    }
    out[RECD_SEAL_SECRET_LEN] = '\0';
    return 0;
}
