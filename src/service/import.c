#include "service/service.h"
#include "service/transcribe.h"

#include "core/error.h"
#include "core/file.h"
#include "core/sid.h"
#include "core/time.h"
#include "core/utf8.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

/*
 * Import: every file and option is checked before anything is written; then, batch by batch,
 * the media is made durable before the rows that name it commit (contract §5).
 *
 * The files of a batch are probed and written on several threads when the media store allows it.
 * A batch's time is mostly waiting on the disk, one request at a time: the lookups of its
 * randomly chosen shard directories (cold in a large store: each rename reads a folder nobody has
 * touched lately) and its source files. Side by side they wait together. Nothing about the order
 * of §5 changes: no row of the batch commits before every file of it is durable (sync()).
 */

#define IMPORT_THREADS 8
/* A worker's stack: a 64 KiB copy buffer, libsndfile and OpenSSL need far less than the default
 * 8 MiB, and stacks this small stay in glibc's cache of stacks between batches, where new 8 MiB
 * ones were mapped, faulted in and unmapped (a TLB shootdown each) batch after batch. */
#define IMPORT_STACK (512 * 1024)

static int why_set(char *why, size_t why_n, int rc, const char *fmt, const char *arg)
{
    snprintf(why, why_n, fmt, arg);
    return rc;
}

/*
 * Runs each(arg, i) for every i in [0, n) on up to `threads` threads (the caller's among them),
 * each taking the next index until none is left or one of them returned non-zero; after that no
 * new index is started. Every index a thread started is finished before this returns.
 */
struct par {
    int (*each)(void *arg, int i);
    void *arg;
    int n;
    atomic_int next;
    atomic_int stop;
};

static void *par_run(void *p)
{
    struct par *par = p;
    while (!atomic_load(&par->stop)) {
        int i = atomic_fetch_add(&par->next, 1);
        if (i >= par->n)
            break;
        if (par->each(par->arg, i) != 0)
            atomic_store(&par->stop, 1);
    }
    return NULL;
}

static void par_for(int n, int threads, int (*each)(void *arg, int i), void *arg)
{
    struct par par = {.each = each, .arg = arg, .n = n};
    pthread_t t[IMPORT_THREADS];
    int started = 0;
    atomic_init(&par.next, 0);
    atomic_init(&par.stop, 0);
    if (threads > IMPORT_THREADS)
        threads = IMPORT_THREADS;
    if (threads > n)
        threads = n;
    pthread_attr_t attr;
    int attr_ok = pthread_attr_init(&attr) == 0;
    if (attr_ok)
        pthread_attr_setstacksize(&attr, IMPORT_STACK);
    /* A thread that cannot start leaves its share to the others (the caller is one of them). */
    while (started < threads - 1 && pthread_create(&t[started], attr_ok ? &attr : NULL, par_run, &par) == 0)
        started++;
    if (attr_ok)
        pthread_attr_destroy(&attr);
    par_run(&par);
    for (int i = 0; i < started; i++)
        pthread_join(t[i], NULL);
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
    if (o->ntranscriptions > 0 && (!o->sid || o->transcription_text || !o->transcriptions))
        return why_set(why, why_n, RECD_E_BAD_INPUT, "kept transcriptions need --sid and no other text%s",
                       "");
    for (int i = 0; i < o->ntranscriptions; i++) {
        const struct recd_transcription *t = &o->transcriptions[i];
        if (!recd_sid_valid(t->sid, strlen(t->sid), "TR", 1))
            return why_set(why, why_n, RECD_E_BAD_INPUT, "malformed transcription sid%s", "");
        if (strcmp(t->status, "completed") != 0 && strcmp(t->status, "failed") != 0)
            return why_set(why, why_n, RECD_E_BAD_INPUT, "transcription %s is neither completed nor failed",
                           t->sid);
        if (t->text_len > RECD_TEXT_MAX || (t->text_len && !recd_utf8_valid(t->text, t->text_len)))
            return why_set(why, why_n, RECD_E_BAD_INPUT, "transcription %s has a bad text", t->sid);
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

/*
 * Stores the media of one file durably under r->sid (set by the caller) and fills the fields of
 * *r that come from the file. Returns 0, or RECD_E_* with `why` set; on failure nothing was
 * acknowledged, and media already stored under r->sid is the caller's to remove.
 */
static int store_media(struct recd_ctx *ctx, const struct recd_import_opts *o, const char *path,
                       struct recd_recording *r, char *why, size_t why_n)
{
    struct recd_blob *bl = ctx->blob;
    char key[RECD_MEDIA_KEY_MAX];
    struct recd_wav_info info;
    int rc;
    /* Probed again: the file could have changed since the first pass. */
    int fd = open_probe(path, &info, why, why_n);
    if (fd < 0)
        return fd;
    recd_media_key(key, r->sid, ".wav");
    /*
     * The digest describes exactly the bytes stored (what fsck will later check), even if the
     * source file changes while it is copied: taken from the bytes as they are written where the
     * store can, else from the stored copy, read back.
     */
    if (bl->ops->put_fd_sha256) {
        rc = bl->ops->put_fd_sha256(bl, key, fd, info.file_size, r->media_sha256);
        close(fd);
    } else {
        rc = bl->ops->put_fd(bl, key, fd, info.file_size);
        close(fd);
        int sfd;
        int64_t ssize;
        if (rc == 0 && (rc = bl->ops->open(bl, key, &sfd, &ssize)) == 0) {
            rc = ssize == info.file_size ? recd_file_sha256(sfd, ssize, r->media_sha256) : RECD_E_IO;
            close(sfd);
        }
    }
    if (rc < 0) {
        snprintf(why, why_n, "%s: cannot store the media (%s)", path,
                 rc == RECD_E_NO_SPACE      ? "no space left on the data volume"
                 : rc == RECD_E_UNAVAILABLE ? "the media store is unavailable"
                                            : "I/O error");
        return rc;
    }
    memcpy(r->account_sid, o->account_sid, RECD_SID_LEN + 1);
    if (o->call_sid)
        memcpy(r->call_sid, o->call_sid, RECD_SID_LEN + 1);
    if (o->conference_sid)
        memcpy(r->conference_sid, o->conference_sid, RECD_SID_LEN + 1);
    r->duration_ms = info.duration_ms;
    r->media_size = info.file_size;
    r->channels = info.channels;
    r->sample_rate = info.sample_rate;
    snprintf(r->source, sizeof r->source, "%s", o->source ? o->source : "RecordVerb");
    return 0;
}

/* Inserts the rows of a batch (and their transcriptions) into the caller's open transaction. */
static int insert_rows(struct recd_store *st, const struct recd_import_opts *o, struct recd_recording *recs,
                       int n, int64_t *last_us)
{
    for (int i = 0; i < n; i++) {
        struct recd_recording *r = &recs[i];
        int64_t now = recd_now_us();
        /* Strictly increasing within one import, so a batch lists in the order it was given. */
        if (now <= *last_us)
            now = *last_us + 1;
        *last_us = now;
        r->created_us = o->created_us ? o->created_us : now;
        r->updated_us = o->updated_us ? o->updated_us : r->created_us;
        r->start_us = o->start_us ? o->start_us : r->created_us;
        int rc = st->ops->recording_insert(st, r);
        if (rc < 0)
            return rc;
        for (int k = 0; k < o->ntranscriptions; k++) {
            struct recd_transcription t = o->transcriptions[k];
            memcpy(t.account_sid, r->account_sid, sizeof t.account_sid);
            memcpy(t.recording_sid, r->sid, sizeof t.recording_sid);
            rc = st->ops->transcription_insert(st, &t);
            if (rc < 0)
                return rc;
        }
        if (o->ntranscriptions > 0) {
            /* Kept as they were: nothing new is asked of the engine. */
        } else if (o->transcription_text) {
            struct recd_transcription t;
            memset(&t, 0, sizeof t);
            if (recd_sid_new(t.sid, "TR") < 0)
                return RECD_E_INTERNAL;
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
                return rc;
        } else if (recd_transcribe_wanted(st, r)) {
            /* The account transcribes every new recording (contract §8): queued with the row. */
            rc = recd_transcribe_enqueue(st, r, NULL, r->created_us, NULL);
            if (rc < 0)
                return rc;
        }
    }
    return 0;
}

/* One file's outcome in a parallel pass: its RECD_E_* code and reason. */
struct slot {
    int rc;
    int tried; /* store_media ran: media may exist under its sid */
    char why[512];
};

/* A pass over the files of a batch (probe or store), shared by the threads running it. */
struct pass {
    struct recd_ctx *ctx;
    const struct recd_import_opts *o;
    char *const *paths;
    struct recd_recording *recs;
    struct slot *slots;
};

static int store_one(void *arg, int i)
{
    struct pass *p = arg;
    struct slot *sl = &p->slots[i];
    sl->tried = 1;
    sl->rc = store_media(p->ctx, p->o, p->paths[i], &p->recs[i], sl->why, sizeof sl->why);
    return sl->rc;
}

static int probe_one(void *arg, int i)
{
    struct pass *p = arg;
    struct recd_wav_info info;
    struct slot *sl = &p->slots[i];
    int fd = open_probe(p->paths[i], &info, sl->why, sizeof sl->why);
    sl->tried = 1;
    sl->rc = fd < 0 ? fd : 0;
    if (fd >= 0)
        close(fd);
    return sl->rc;
}

/* The first failure in the files' order (so that the same bad input always gives the same
 * reason), copied to `why`; 0 when every file that ran succeeded. */
static int first_failure(const struct slot *slots, int n, char *why, size_t why_n)
{
    for (int i = 0; i < n; i++)
        if (slots[i].tried && slots[i].rc < 0) {
            snprintf(why, why_n, "%s", slots[i].why);
            return slots[i].rc;
        }
    return 0;
}

static int pass_threads(struct recd_ctx *ctx)
{
    return ctx->blob->ops->threads_ok ? IMPORT_THREADS : 1;
}

/* The store's read-ahead of a batch's inserts, on a thread of its own. */
struct warm {
    struct recd_store *st;
    const struct recd_recording *recs;
    int n;
    pthread_t thread;
};

static void *warm_run(void *arg)
{
    struct warm *w = arg;
    w->st->ops->recording_warm(w->st, w->recs, w->n);
    return NULL;
}

/* Writes one batch's media durably, then commits its rows in one transaction. */
static int import_batch(struct recd_ctx *ctx, const struct recd_import_opts *o, char *const paths[], int n,
                        struct recd_recording *recs, struct slot *slots, int64_t *last_us, char *why,
                        size_t why_n)
{
    struct recd_store *st = ctx->store;
    struct recd_blob *bl = ctx->blob;
    char key[RECD_MEDIA_KEY_MAX];
    int rc = 0, in_tx = 0;

    memset(slots, 0, (size_t)n * sizeof *slots);
    memset(recs, 0, (size_t)n * sizeof *recs);
    for (int i = 0; i < n; i++) {
        struct recd_recording *r = &recs[i];
        if (o->sid)
            memcpy(r->sid, o->sid, RECD_SID_LEN + 1);
        else if (recd_sid_new(r->sid, "RE") < 0) {
            snprintf(why, why_n, "cannot make a recording sid (no randomness)");
            return RECD_E_INTERNAL;
        }
        snprintf(r->status, sizeof r->status, "completed");
    }
    /* The rows' index pages are read while the media is written: both wait on the disk. */
    struct warm w = {.st = st, .recs = recs, .n = n};
    pthread_attr_t attr;
    int attr_ok = pthread_attr_init(&attr) == 0;
    if (attr_ok)
        pthread_attr_setstacksize(&attr, IMPORT_STACK);
    /* A few rows are inserted sooner than the read-ahead's connections open. */
    int warming = st->ops->recording_warm && n >= 4 &&
                  pthread_create(&w.thread, attr_ok ? &attr : NULL, warm_run, &w) == 0;
    if (attr_ok)
        pthread_attr_destroy(&attr);
    struct pass p = {.ctx = ctx, .o = o, .paths = paths, .recs = recs, .slots = slots};
    par_for(n, pass_threads(ctx), store_one, &p);
    if (warming)
        pthread_join(w.thread, NULL);
    rc = first_failure(slots, n, why, why_n);
    if (rc < 0)
        goto fail;
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
    rc = insert_rows(st, o, recs, n, last_us);
    if (rc < 0)
        goto db_fail;
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
    /* Nothing of this batch was acknowledged: its media goes, so no orphan is left behind (a
     * file whose write failed may have left some, in a store that reads back). A duplicate
     * explicit sid never got here with its media written: check_opts refused it. */
    for (int i = 0; i < n; i++) {
        if (!slots[i].tried)
            continue;
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
    int batch = o->batch > 0 ? o->batch : 64;
    struct recd_recording *recs = calloc((size_t)batch, sizeof *recs);
    /* Sized for the probe pass over every file; a batch uses the first `batch` of them. */
    struct slot *slots = calloc((size_t)(n > batch ? n : batch), sizeof *slots);
    if (!recs || !slots) {
        free(recs);
        free(slots);
        return RECD_E_INTERNAL;
    }
    struct pass p = {.ctx = ctx, .o = o, .paths = paths, .slots = slots};
    par_for(n, IMPORT_THREADS, probe_one, &p);
    rc = first_failure(slots, n, why, why_n);
    if (rc < 0) {
        free(recs);
        free(slots);
        return rc;
    }
    /* Shared: imports run side by side, but `fsck --repair` waits until none is writing. */
    rc = recd_media_guard(ctx->store, ctx->blob, RECD_BLOB_WRITING);
    if (rc < 0) {
        free(recs);
        free(slots);
        return rc;
    }
    int64_t last_us = 0;
    /* Several files: one filesystem sync per batch instead of three fsyncs per file. */
    if (n > 1)
        ctx->blob->ops->defer_sync(ctx->blob, 1);
    for (int at = 0; at < n && rc == 0; at += batch) {
        int k = n - at < batch ? n - at : batch;
        rc = import_batch(ctx, o, paths + at, k, recs, slots, &last_us, why, why_n);
        for (int i = 0; rc == 0 && i < k; i++)
            if (done)
                done(done_ctx, &recs[i]);
    }
    if (n > 1)
        ctx->blob->ops->defer_sync(ctx->blob, 0);
    recd_media_guard(ctx->store, ctx->blob, RECD_BLOB_RELEASE);
    free(recs);
    free(slots);
    return rc;
}
