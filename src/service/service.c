#include "service/service.h"

#include "core/error.h"
#include "core/file.h"
#include "core/log.h"
#include "core/seal.h"
#include "media/transcode.h"
#include "core/sid.h"
#include "core/time.h"
#include "core/utf8.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

/* Every suffix under which a recording's media may be stored (the WAV and what is derived from it). */
static const char *const media_suffixes[] = {".wav", ".mp3", ".mono.wav", ".mono.mp3"};

void recd_media_key(char out[RECD_MEDIA_KEY_MAX], const char *sid, const char *suffix)
{
    snprintf(out, RECD_MEDIA_KEY_MAX, "%.34s%s", sid, suffix);
}

int recd_ctx_open(const char *dir, struct recd_ctx *ctx)
{
    char path[PATH_MAX];
    memset(ctx, 0, sizeof *ctx);
    ctx->lock_fd = -1;
    if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
        recd_log_error("cannot create data folder %s: %s", dir, strerror(errno));
        return RECD_E_IO;
    }
    if (snprintf(path, sizeof path, "%s/recd.db", dir) >= (int)sizeof path)
        return RECD_E_BAD_INPUT;
    int rc = recd_store_sqlite_open(path, &ctx->store);
    if (rc < 0)
        goto fail;
    snprintf(path, sizeof path, "%s/media", dir);
    rc = recd_blob_fs_open(path, &ctx->blob);
    if (rc < 0)
        goto fail;
    rc = recd_seal_key_load(dir, ctx->seal_key);
    if (rc < 0)
        goto fail;
    snprintf(path, sizeof path, "%s/.lock", dir);
    ctx->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (ctx->lock_fd < 0) {
        recd_log_error("cannot open %s: %s", path, strerror(errno));
        rc = RECD_E_IO;
        goto fail;
    }
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
    if (ctx->lock_fd >= 0)
        close(ctx->lock_fd);
    ctx->store = NULL;
    ctx->blob = NULL;
    ctx->lock_fd = -1;
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

int recd_secret_unseal(struct recd_ctx *ctx, const char *owner_sid,
                       const unsigned char sealed[RECD_SEALED_SECRET_LEN], char out[33])
{
    return recd_seal_open_secret(ctx->seal_key, owner_sid, sealed, out);
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

static int why_set(char *why, size_t why_n, int rc, const char *fmt, const char *arg)
{
    snprintf(why, why_n, fmt, arg);
    return rc;
}

static const char *const sources[] = {"DialVerb",
                                      "Conference",
                                      "OutboundAPI",
                                      "Trunking",
                                      "RecordVerb",
                                      "StartCallRecordingAPI",
                                      "StartConferenceRecordingAPI"};

static int valid_source(const char *s)
{
    for (size_t i = 0; i < sizeof sources / sizeof sources[0]; i++)
        if (strcmp(s, sources[i]) == 0)
            return 1;
    return 0;
}

static int check_opts(struct recd_ctx *ctx, const struct recd_import_opts *o, int n, char *why, size_t why_n)
{
    struct recd_store *st = ctx->store;
    struct recd_account acc;
    if (!o->account_sid || !recd_sid_valid(o->account_sid, strlen(o->account_sid), "AC", 1))
        return why_set(why, why_n, RECD_E_BAD_INPUT, "malformed account sid%s", "");
    int rc = st->ops->account_get(st, o->account_sid, &acc);
    if (rc == RECD_E_NOT_FOUND)
        return why_set(why, why_n, RECD_E_NOT_FOUND, "unknown account %s", o->account_sid);
    if (rc < 0)
        return why_set(why, why_n, rc, "cannot read the store%s", "");
    if (o->call_sid && !recd_sid_valid(o->call_sid, strlen(o->call_sid), "CA", 1))
        return why_set(why, why_n, RECD_E_BAD_INPUT,
                       "malformed call sid (want CA and 32 lowercase hex digits)%s", "");
    if (o->conference_sid && !recd_sid_valid(o->conference_sid, strlen(o->conference_sid), "CF", 1))
        return why_set(why, why_n, RECD_E_BAD_INPUT,
                       "malformed conference sid (want CF and 32 lowercase hex digits)%s", "");
    if (o->source && !valid_source(o->source))
        return why_set(why, why_n, RECD_E_BAD_INPUT, "unknown source %s", o->source);
    if (o->transcription_text) {
        size_t tl = strlen(o->transcription_text);
        if (tl > RECD_TEXT_MAX)
            return why_set(why, why_n, RECD_E_BAD_INPUT, "transcription text is over 64 KiB%s", "");
        if (!recd_utf8_valid(o->transcription_text, tl))
            return why_set(why, why_n, RECD_E_BAD_INPUT, "transcription text is not valid UTF-8%s", "");
    }
    if (o->sid) {
        struct recd_recording r;
        if (n != 1)
            return why_set(why, why_n, RECD_E_BAD_INPUT, "--sid takes exactly one file%s", "");
        if (!recd_sid_valid(o->sid, strlen(o->sid), "RE", 1))
            return why_set(why, why_n, RECD_E_BAD_INPUT,
                           "malformed recording sid (want RE and 32 lowercase hex digits)%s", "");
        rc = st->ops->recording_get(st, o->sid, &r);
        if (rc == 0)
            return why_set(why, why_n, RECD_E_EXISTS, "recording %s already exists", o->sid);
        if (rc != RECD_E_NOT_FOUND)
            return why_set(why, why_n, rc, "cannot read the store%s", "");
    }
    if (n < 1)
        return why_set(why, why_n, RECD_E_BAD_INPUT, "no files given%s", "");
    return 0;
}

static int open_probe(const char *path, struct recd_wav_info *info, char *why, size_t why_n)
{
    char reason[200];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(why, why_n, "%s: %s", path, strerror(errno));
        return RECD_E_BAD_INPUT;
    }
    if (recd_wav_probe(fd, info, reason, sizeof reason) < 0) {
        snprintf(why, why_n, "%s: %s", path, reason);
        close(fd);
        return RECD_E_BAD_INPUT;
    }
    return fd;
}

/* Writes one batch's media durably, then commits its rows in one transaction. */
static int import_batch(struct recd_ctx *ctx, const struct recd_import_opts *o, char *const paths[], int n,
                        struct recd_recording *recs, int64_t *last_us, char *why, size_t why_n)
{
    struct recd_store *st = ctx->store;
    struct recd_blob *bl = ctx->blob;
    char key[RECD_MEDIA_KEY_MAX];
    int written = 0, rc = 0, in_tx = 0;

    for (int i = 0; i < n; i++) {
        struct recd_wav_info info;
        struct recd_recording *r = &recs[i];
        /* Probed again: the file could have changed since the first pass. */
        int fd = open_probe(paths[i], &info, why, why_n);
        if (fd < 0) {
            rc = fd;
            goto fail;
        }
        memset(r, 0, sizeof *r);
        if (o->sid)
            memcpy(r->sid, o->sid, RECD_SID_LEN + 1);
        else if (recd_sid_new(r->sid, "RE") < 0)
            rc = RECD_E_INTERNAL;
        recd_media_key(key, r->sid, ".wav");
        if (rc == 0)
            rc = bl->ops->put_fd(bl, key, fd, info.file_size);
        close(fd);
        /* The digest is of the stored copy, read back, so that it describes exactly what fsck
         * will later check even if the source file changed while it was being copied. */
        int sfd;
        int64_t ssize;
        if (rc == 0 && (rc = bl->ops->open(bl, key, &sfd, &ssize)) == 0) {
            rc = ssize == info.file_size ? recd_file_sha256(sfd, ssize, r->media_sha256) : RECD_E_IO;
            close(sfd);
        }
        if (rc < 0) {
            snprintf(why, why_n, "%s: cannot store the media (%s)", paths[i],
                     rc == RECD_E_NO_SPACE ? "no space left on the data volume" : "I/O error");
            goto fail;
        }
        written = i + 1;
        memcpy(r->account_sid, o->account_sid, RECD_SID_LEN + 1);
        if (o->call_sid)
            memcpy(r->call_sid, o->call_sid, RECD_SID_LEN + 1);
        if (o->conference_sid)
            memcpy(r->conference_sid, o->conference_sid, RECD_SID_LEN + 1);
        r->duration_ms = info.duration_ms;
        r->media_size = info.file_size;
        r->channels = info.channels;
        r->sample_rate = info.sample_rate;
        snprintf(r->status, sizeof r->status, "completed");
        snprintf(r->source, sizeof r->source, "%s", o->source ? o->source : "RecordVerb");
    }

    /* The batch's media is on stable storage before any row that names it commits. */
    rc = bl->ops->sync(bl);
    if (rc < 0) {
        snprintf(why, why_n, "cannot store the media (%s)",
                 rc == RECD_E_NO_SPACE ? "no space left on the data volume" : "I/O error");
        goto fail;
    }
    rc = st->ops->begin(st);
    if (rc < 0)
        goto db_fail;
    in_tx = 1;
    for (int i = 0; i < n; i++) {
        struct recd_recording *r = &recs[i];
        int64_t now = recd_now_us();
        /* Strictly increasing within one import, so a batch lists in the order it was given. */
        if (now <= *last_us)
            now = *last_us + 1;
        *last_us = now;
        r->created_us = o->created_us ? o->created_us : now;
        r->updated_us = r->created_us;
        r->start_us = o->start_us ? o->start_us : r->created_us;
        rc = st->ops->recording_insert(st, r);
        if (rc < 0)
            goto db_fail;
        if (o->transcription_text) {
            struct recd_transcription t;
            memset(&t, 0, sizeof t);
            if (recd_sid_new(t.sid, "TR") < 0) {
                rc = RECD_E_INTERNAL;
                goto db_fail;
            }
            memcpy(t.account_sid, r->account_sid, sizeof t.account_sid);
            memcpy(t.recording_sid, r->sid, sizeof t.recording_sid);
            t.created_us = t.updated_us = r->created_us;
            t.duration_ms = r->duration_ms;
            snprintf(t.status, sizeof t.status, "completed");
            snprintf(t.type, sizeof t.type, "fast");
            t.text = o->transcription_text;
            t.text_len = strlen(o->transcription_text);
            rc = st->ops->transcription_insert(st, &t);
            if (rc < 0)
                goto db_fail;
        }
    }
    rc = st->ops->commit(st);
    if (rc < 0)
        goto db_fail;
    return 0;

db_fail:
    if (rc == RECD_E_EXISTS)
        snprintf(why, why_n, "recording %s already exists", o->sid ? o->sid : "(generated)");
    else
        snprintf(why, why_n, "cannot commit the import (%s)",
                 rc == RECD_E_NO_SPACE ? "no space left on the data volume" : "store error");
fail:
    if (in_tx)
        st->ops->rollback(st);
    /* Nothing of this batch was acknowledged: its media goes, so no orphan is left behind. A
     * duplicate explicit sid never got here with its media written: check_opts refused it. */
    for (int i = 0; i < written; i++) {
        recd_media_key(key, recs[i].sid, ".wav");
        if (rc != RECD_E_EXISTS)
            bl->ops->remove(bl, key);
    }
    return rc;
}

int recd_import(struct recd_ctx *ctx, const struct recd_import_opts *o, char *const paths[], int n,
                recd_recording_cb done, void *done_ctx, char *why, size_t why_n)
{
    int rc = check_opts(ctx, o, n, why, why_n);
    if (rc < 0)
        return rc;
    for (int i = 0; i < n; i++) {
        struct recd_wav_info info;
        int fd = open_probe(paths[i], &info, why, why_n);
        if (fd < 0)
            return fd;
        close(fd);
    }
    int batch = o->batch > 0 ? o->batch : 64;
    struct recd_recording *recs = calloc((size_t)batch, sizeof *recs);
    if (!recs)
        return RECD_E_INTERNAL;
    /* A shared lock: imports run side by side, but `fsck --repair` waits until none is writing. */
    while (flock(ctx->lock_fd, LOCK_SH) < 0 && errno == EINTR)
        ;
    int64_t last_us = 0;
    /* Several files: one filesystem sync per batch instead of three fsyncs per file. */
    if (n > 1)
        ctx->blob->ops->defer_sync(ctx->blob, 1);
    for (int at = 0; at < n && rc == 0; at += batch) {
        int k = n - at < batch ? n - at : batch;
        rc = import_batch(ctx, o, paths + at, k, recs, &last_us, why, why_n);
        for (int i = 0; rc == 0 && i < k; i++)
            if (done)
                done(done_ctx, &recs[i]);
    }
    if (n > 1)
        ctx->blob->ops->defer_sync(ctx->blob, 0);
    flock(ctx->lock_fd, LOCK_UN);
    free(recs);
    return rc;
}

int recd_recording_delete(struct recd_ctx *ctx, const char *sid)
{
    struct recd_store *st = ctx->store;
    int rc = st->ops->recording_mark_deleted(st, sid, recd_now_us());
    if (rc < 0)
        return rc;
    /* The metadata says "deleted" durably; now the bytes go. If we crash here the files are
     * orphans, which nothing serves (the status is checked first) and fsck removes. */
    char key[RECD_MEDIA_KEY_MAX];
    for (size_t i = 0; i < sizeof media_suffixes / sizeof media_suffixes[0]; i++) {
        recd_media_key(key, sid, media_suffixes[i]);
        if (ctx->blob->ops->remove(ctx->blob, key) < 0)
            recd_log_warn("could not remove media %s; fsck --repair will", key);
    }
    return 0;
}

int recd_purge(struct recd_ctx *ctx, int64_t now_us, int64_t *n)
{
    return ctx->store->ops->purge_deleted(ctx->store, now_us - RECD_RETENTION_US, n);
}

struct fsck_state {
    struct recd_ctx *ctx;
    FILE *out;
    struct recd_fsck_report *rep;
    int repair;
};

static int fsck_recording(void *p, const struct recd_recording *r)
{
    struct fsck_state *s = p;
    if (r->deleted_us)
        return 0;
    s->rep->recordings++;
    char key[RECD_MEDIA_KEY_MAX], hex[65];
    int fd;
    int64_t size;
    recd_media_key(key, r->sid, ".wav");
    int rc = s->ctx->blob->ops->open(s->ctx->blob, key, &fd, &size);
    if (rc < 0) {
        fprintf(s->out, "damaged: recording %s: media %s\n", r->sid,
                rc == RECD_E_NOT_FOUND ? "missing" : "unreadable");
        s->rep->damaged++;
        return 0;
    }
    if (size != r->media_size) {
        fprintf(s->out, "damaged: recording %s: media is %lld bytes, expected %lld\n", r->sid,
                (long long)size, (long long)r->media_size);
        s->rep->damaged++;
    } else if (recd_file_sha256(fd, size, hex) < 0 || strcmp(hex, r->media_sha256) != 0) {
        fprintf(s->out, "damaged: recording %s: media content differs from what was stored\n", r->sid);
        s->rep->damaged++;
    }
    close(fd);
    return 0;
}

static int fsck_blob(void *p, const char *key, int64_t size)
{
    (void)size;
    struct fsck_state *s = p;
    char sid[RECD_SID_LEN + 1];
    struct recd_recording r;
    memcpy(sid, key, RECD_SID_LEN);
    sid[RECD_SID_LEN] = '\0';
    int rc = s->ctx->store->ops->recording_get(s->ctx->store, sid, &r);
    if (rc == 0 && !r.deleted_us)
        return 0;
    if (rc < 0 && rc != RECD_E_NOT_FOUND)
        return rc;
    s->rep->orphans++;
    fprintf(s->out, "orphan: media %s has no live recording%s\n", key, s->repair ? " (removed)" : "");
    if (s->repair && s->ctx->blob->ops->remove(s->ctx->blob, key) == 0)
        s->rep->repaired++;
    return 0;
}

static int fsck_leftover(void *p, const char *name, int64_t size)
{
    struct fsck_state *s = p;
    s->rep->leftovers++;
    fprintf(s->out, "leftover: %s (%lld bytes) from an interrupted write%s\n", name, (long long)size,
            s->repair ? " (removed)" : "");
    return 0;
}

int recd_fsck(struct recd_ctx *ctx, int repair, void *out, struct recd_fsck_report *rep)
{
    struct fsck_state s = {ctx, out, rep, repair};
    memset(rep, 0, sizeof *rep);
    if (repair)
        while (flock(ctx->lock_fd, LOCK_EX) < 0 && errno == EINTR)
            ;
    int rc = ctx->store->ops->recording_scan(ctx->store, fsck_recording, &s);
    if (rc == 0)
        rc = ctx->blob->ops->scan(ctx->blob, fsck_blob, &s);
    if (rc == 0)
        rc = ctx->blob->ops->scan_leftovers(ctx->blob, fsck_leftover, &s);
    if (rc == 0 && repair) {
        int64_t n = 0;
        rc = ctx->blob->ops->remove_leftovers(ctx->blob, 0, &n);
        rep->repaired += n;
    }
    if (repair)
        flock(ctx->lock_fd, LOCK_UN);
    return rc;
}

/*
 * Derived media. Files are made from the stored WAV on first request and kept. Within this
 * process a small table of keys being derived lets one thread do the work while the others
 * asking for the same key wait on a condition variable and then open the result. Across
 * processes two derivations could race; both write the same bytes and the rename is atomic,
 * so the result is the same either way.
 */
#define INFLIGHT_MAX 64

static pthread_mutex_t inflight_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t inflight_done = PTHREAD_COND_INITIALIZER;
static char inflight[INFLIGHT_MAX][RECD_MEDIA_KEY_MAX];
static int inflight_find(const char *key)
{
    for (int i = 0; i < INFLIGHT_MAX; i++)
        if (inflight[i][0] && strcmp(inflight[i], key) == 0)
            return i;
    return -1;
}

/* Produces `suffix` from the recording's media and stores it durably under its key. */
static int derive(struct recd_ctx *ctx, const struct recd_recording *r, const char *suffix)
{
    struct recd_blob *bl = ctx->blob;
    const int mono = strncmp(suffix, ".mono", 5) == 0;
    const int mp3 = strcmp(suffix + strlen(suffix) - 4, ".mp3") == 0;
    /* The mono MP3 is encoded from the mono WAV, so both downmixes are the same samples. */
    const char *source = mono && mp3 ? ".mono.wav" : ".wav";
    int fd = -1, rc;
    int64_t size;
    char key[RECD_MEDIA_KEY_MAX];
    struct recd_buf out;
    recd_buf_init(&out, 0);
    int64_t t0 = recd_now_us();
    rc = recd_media_open(ctx, r, source, &fd, &size);
    if (rc < 0)
        goto done;
    rc = mp3 ? recd_mp3_encode(fd, &out) : recd_wav_downmix(fd, &out);
    if (rc < 0) {
        recd_log_error("cannot derive %s%s from %s%s", r->sid, suffix, r->sid, source);
        rc = RECD_E_INTERNAL;
        goto done;
    }
    recd_media_key(key, r->sid, suffix);
    /* Shared with imports: fsck --repair waits until no derived file is half-written. */
    while (flock(ctx->lock_fd, LOCK_SH) < 0 && errno == EINTR)
        ;
    rc = bl->ops->put_mem(bl, key, out.p, out.len);
    flock(ctx->lock_fd, LOCK_UN);
    if (rc == 0) {
        /* A DELETE may have run while we encoded. It commits "deleted" before it unlinks, so
         * looking after our rename sees it whenever its unlink could have missed our file. */
        struct recd_recording now;
        int g = ctx->store->ops->recording_get(ctx->store, r->sid, &now);
        if (g == RECD_E_NOT_FOUND || (g == 0 && now.deleted_us)) {
            bl->ops->remove(bl, key);
            rc = RECD_E_NOT_FOUND;
        }
    }
    if (rc == 0) {
        recd_log_info("derived %s (%zu bytes) in %lld ms", key, out.len,
                      (long long)((recd_now_us() - t0) / 1000));
    }
done:
    if (fd >= 0)
        close(fd);
    recd_buf_free(&out);
    return rc;
}

int recd_media_open(struct recd_ctx *ctx, const struct recd_recording *r, const char *suffix, int *fd,
                    int64_t *size)
{
    struct recd_blob *bl = ctx->blob;
    char key[RECD_MEDIA_KEY_MAX];
    if (strncmp(suffix, ".mono", 5) == 0 && r->channels < 2)
        return RECD_E_BAD_INPUT;
    recd_media_key(key, r->sid, suffix);
    int rc = bl->ops->open(bl, key, fd, size);
    if (rc != RECD_E_NOT_FOUND || strcmp(suffix, ".wav") == 0)
        return rc;

    pthread_mutex_lock(&inflight_lock);
    for (;;) {
        if (inflight_find(key) < 0)
            break;
        pthread_cond_wait(&inflight_done, &inflight_lock);
    }
    /* Whoever derived it while we waited has stored it; else it is ours to make. */
    rc = bl->ops->open(bl, key, fd, size);
    if (rc != RECD_E_NOT_FOUND) {
        pthread_mutex_unlock(&inflight_lock);
        return rc;
    }
    int slot = -1;
    for (int i = 0; i < INFLIGHT_MAX && slot < 0; i++)
        if (!inflight[i][0])
            slot = i;
    if (slot < 0) {
        pthread_mutex_unlock(&inflight_lock);
        return RECD_E_UNAVAILABLE; /* too many different files being derived at once */
    }
    memcpy(inflight[slot], key, sizeof inflight[slot]);
    pthread_mutex_unlock(&inflight_lock);

    rc = derive(ctx, r, suffix);

    pthread_mutex_lock(&inflight_lock);
    inflight[slot][0] = '\0';
    pthread_cond_broadcast(&inflight_done);
    pthread_mutex_unlock(&inflight_lock);
    if (rc < 0)
        return rc;
    return bl->ops->open(bl, key, fd, size);
}
