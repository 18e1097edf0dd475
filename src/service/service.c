#include "service/service.h"

#include "core/buf.h"
#include "core/error.h"
#include "core/log.h"
#include "core/seal.h"
#include "core/sid.h"
#include "core/time.h"
#include "media/blob_s3.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/*
 * The data folder (open, close), accounts and keys with their secrets, and the removal of
 * recordings (delete, purge). Import, fsck and derived media each have their own file.
 */

/* Every suffix under which a recording's media may be stored (the WAV and what is derived from it). */
static const char *const media_suffixes[] = {".wav", ".mp3", ".mono.wav", ".mono.mp3"};

void recd_media_key(char out[RECD_MEDIA_KEY_MAX], const char *sid, const char *suffix)
{
    snprintf(out, RECD_MEDIA_KEY_MAX, "%.34s%s", sid, suffix);
}

/* The process's media location (recd_ctx_media_set): NULL = the data folder's media/. Set once,
 * before any thread opens a context, and read-only afterwards. */
static struct recd_s3_config *media_s3;

int recd_ctx_media_set(const char *media, const char *credentials_file, char *why, size_t why_n)
{
    if (!media || !*media) {
        if (credentials_file) {
            snprintf(why, why_n, "--s3-credentials needs --media s3://…");
            return RECD_E_BAD_INPUT;
        }
        return 0;
    }
    if (!recd_s3_is_location(media)) {
        snprintf(why, why_n, "--media: want s3://BUCKET?endpoint=URL&region=R");
        return RECD_E_BAD_INPUT;
    }
    struct recd_s3_config *cfg = calloc(1, sizeof *cfg);
    if (!cfg)
        return RECD_E_INTERNAL;
    char reason[400];
    if (recd_s3_parse_location(media, cfg, reason, sizeof reason) < 0 ||
        recd_s3_load_credentials(cfg, credentials_file, reason, sizeof reason) < 0) {
        snprintf(why, why_n, "--media: %s", reason);
        memset(cfg, 0, sizeof *cfg);
        free(cfg);
        return RECD_E_BAD_INPUT;
    }
    media_s3 = cfg;
    return 0;
}

int recd_ctx_media_is_s3(void)
{
    return media_s3 != NULL;
}

int recd_ctx_open(const char *dir, struct recd_ctx *ctx)
{
    return recd_ctx_open_store(dir, NULL, ctx);
}

static void (*open_hook)(struct recd_ctx *ctx, void *arg);
static void *open_hook_arg;

void recd_ctx_set_open_hook(void (*hook)(struct recd_ctx *ctx, void *arg), void *arg)
{
    open_hook = hook;
    open_hook_arg = arg;
}

int recd_ctx_open_store(const char *dir, const char *store, struct recd_ctx *ctx)
{
    char path[PATH_MAX];
    memset(ctx, 0, sizeof *ctx);
    if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
        recd_log_error("cannot create data folder %s: %s", dir, strerror(errno));
        return RECD_E_IO;
    }
    if (snprintf(path, sizeof path, "%s/recd.db", dir) >= (int)sizeof path)
        return RECD_E_BAD_INPUT;
    int rc = recd_store_open(store && *store ? store : path, &ctx->store);
    if (rc < 0)
        goto fail;
    snprintf(path, sizeof path, "%s/media", dir);
    rc = media_s3 ? recd_blob_s3_open(media_s3, dir, &ctx->blob) : recd_blob_fs_open(path, &ctx->blob);
    if (rc < 0)
        goto fail;
    rc = recd_seal_key_load(dir, ctx->seal_key);
    if (rc < 0)
        goto fail;
    if (open_hook)
        open_hook(ctx, open_hook_arg);
    return 0;
fail:
    recd_ctx_close(ctx);
    return rc;
}

void recd_ctx_close(struct recd_ctx *ctx)
{
    if (ctx->store)
        ctx->store->ops->close(ctx->store);
    if (ctx->blob)
        ctx->blob->ops->close(ctx->blob);
    ctx->store = NULL;
    ctx->blob = NULL;
}

/* The store keeps sealed secrets in arrays of its own size; they must be what core/seal makes. */
_Static_assert(RECD_SEALED_SECRET_LEN == RECD_SEAL_SECRET_SEALED_LEN, "sealed secret sizes differ");

/* A new secret: 128 random bits as 32 hex characters, kept hashed (for Basic auth) and sealed
 * under the data folder's key with its owner's sid (for verifying signed links). */
static int new_secret(struct recd_ctx *ctx, const char *owner, unsigned char salt[16], unsigned char hash[32],
                      unsigned char sealed[RECD_SEALED_SECRET_LEN], char clear[33])
{
    unsigned char raw[16];
    if (recd_random(raw, sizeof raw) < 0 || recd_random(salt, 16) < 0)
        return RECD_E_INTERNAL;
    recd_hex(clear, raw, sizeof raw);
    recd_secret_hash(salt, clear, 32, hash);
    return recd_seal(ctx->seal_key, owner, (const unsigned char *)clear, 32, sealed) < 0 ? RECD_E_INTERNAL
                                                                                         : 0;
}

static int copy_name(char *dst, size_t cap, const char *name)
{
    size_t n = strlen(name);
    if (n >= cap)
        return RECD_E_BAD_INPUT;
    memcpy(dst, name, n + 1);
    return 0;
}

int recd_account_create(struct recd_ctx *ctx, const char *name, const char *parent_sid,
                        struct recd_account *out, char token[33])
{
    struct recd_store *st = ctx->store;
    memset(out, 0, sizeof *out);
    if (parent_sid) {
        struct recd_account parent;
        if (!recd_sid_valid(parent_sid, strlen(parent_sid), "AC", 1))
            return RECD_E_BAD_INPUT;
        int rc = st->ops->account_get(st, parent_sid, &parent);
        if (rc < 0)
            return rc == RECD_E_NOT_FOUND ? RECD_E_BAD_INPUT : rc;
        if (parent.parent_sid[0])
            return RECD_E_BAD_INPUT; /* Twilio has one level of subaccounts */
        memcpy(out->parent_sid, parent_sid, RECD_SID_LEN + 1);
    }
    if (copy_name(out->friendly_name, sizeof out->friendly_name, name) < 0)
        return RECD_E_BAD_INPUT;
    if (recd_sid_new(out->sid, "AC") < 0 ||
        new_secret(ctx, out->sid, out->token_salt, out->token_hash, out->token_sealed, token) < 0)
        return RECD_E_INTERNAL;
    out->created_us = out->updated_us = recd_now_us();
    return st->ops->account_insert(st, out);
}

int recd_key_create(struct recd_ctx *ctx, const char *account_sid, const char *name, struct recd_key *out,
                    char secret[33])
{
    struct recd_store *st = ctx->store;
    struct recd_account acc;
    memset(out, 0, sizeof *out);
    if (!recd_sid_valid(account_sid, strlen(account_sid), "AC", 1))
        return RECD_E_BAD_INPUT;
    int rc = st->ops->account_get(st, account_sid, &acc);
    if (rc < 0)
        return rc;
    if (copy_name(out->friendly_name, sizeof out->friendly_name, name) < 0)
        return RECD_E_BAD_INPUT;
    memcpy(out->account_sid, account_sid, RECD_SID_LEN + 1);
    if (recd_sid_new(out->sid, "SK") < 0 ||
        new_secret(ctx, out->sid, out->secret_salt, out->secret_hash, out->secret_sealed, secret) < 0)
        return RECD_E_INTERNAL;
    out->created_us = recd_now_us();
    return st->ops->key_insert(st, out);
}

/* Collects the keys scan_sid finds, each with its NUL, into a recd_buf. */
static int collect_key(void *ctx, const char *key, int64_t size)
{
    (void)size;
    recd_buf_add(ctx, key, strlen(key) + 1);
    return 0;
}

struct collect_sid {
    const char *sid;
    struct recd_buf *found;
};

/* The same, of one recording's keys among all of them. */
static int collect_sid_key(void *ctx, const char *key, int64_t size)
{
    struct collect_sid *c = ctx;
    return strncmp(key, c->sid, RECD_SID_LEN) == 0 ? collect_key(c->found, key, size) : 0;
}

/* Every stored key of recording `sid`: through the backend's scan_sid, or, for a backend that
 * lacks it, by walking every key (slow, but a delete must not leave a waveform behind). */
static int keys_of(struct recd_blob *bl, const char *sid, struct recd_buf *found)
{
    if (bl->ops->scan_sid)
        return bl->ops->scan_sid(bl, sid, collect_key, found);
    struct collect_sid c = {sid, found};
    return bl->ops->scan(bl, collect_sid_key, &c);
}

int recd_recording_delete(struct recd_store *st, struct recd_blob *bl, const char *sid)
{
    int rc = st->ops->recording_mark_deleted(st, sid, recd_now_us());
    if (rc < 0)
        return rc;
    /* The metadata says "deleted" durably; now the bytes go. If we crash here the files are
     * orphans, which nothing serves (the status is checked first) and fsck removes. */
    char key[RECD_MEDIA_KEY_MAX];
    for (size_t i = 0; i < sizeof media_suffixes / sizeof media_suffixes[0]; i++) {
        recd_media_key(key, sid, media_suffixes[i]);
        if (bl->ops->remove(bl, key) < 0)
            recd_log_warn("could not remove media %s; fsck --repair will", key);
    }
    /* Waveforms are kept per SamplesPerPixel asked, so their keys are found, not listed. */
    struct recd_buf found;
    recd_buf_init(&found, 0);
    if (keys_of(bl, sid, &found) < 0)
        recd_log_warn("could not list the media of %s; fsck --repair will remove what is left", sid);
    for (size_t at = 0; at < found.len; at += strlen(found.p + at) + 1)
        if (bl->ops->remove(bl, found.p + at) < 0)
            recd_log_warn("could not remove media %s; fsck --repair will", found.p + at);
    recd_buf_free(&found);
    return 0;
}

int recd_media_guard(struct recd_store *st, struct recd_blob *bl, enum recd_blob_guard how)
{
    /* Always in this order, released in the other: no two guards can wait for each other. */
    if (how == RECD_BLOB_RELEASE) {
        if (st->ops->media_guard)
            st->ops->media_guard(st, RECD_STORE_GUARD_RELEASE);
        return bl->ops->guard(bl, RECD_BLOB_RELEASE);
    }
    int rc = bl->ops->guard(bl, how);
    if (rc < 0 || !st->ops->media_guard)
        return rc;
    rc = st->ops->media_guard(st, how == RECD_BLOB_REPAIRING       ? RECD_STORE_GUARD_EXCLUSIVE
                                  : how == RECD_BLOB_REPAIRING_NOW ? RECD_STORE_GUARD_EXCLUSIVE_NOW
                                                                   : RECD_STORE_GUARD_SHARED);
    if (rc < 0)
        bl->ops->guard(bl, RECD_BLOB_RELEASE);
    return rc;
}

int recd_purge(struct recd_ctx *ctx, int64_t now_us, int64_t *n)
{
    return ctx->store->ops->purge_deleted(ctx->store, now_us - RECD_RETENTION_US, n);
}
