#include "service/service.h"
#include "service/transcribe.h"

#include "core/error.h"
#include "core/file.h"
#include "core/log.h"
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
 * touched lately), its source files, and the index pages its rows go into (read ahead by the
 * store meanwhile). Side by side they wait together; and the next batch is written while this one
 * syncs and commits. Nothing about the order of §5 changes: no row of a batch commits before every
 * file of it is durable (sync()).
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

/* Starts a thread with a stack of IMPORT_STACK bytes. 0 or an error number. */
static int start_thread(pthread_t *t, void *(*run)(void *), void *arg)
{
    pthread_attr_t attr;
    int rc = pthread_attr_init(&attr);
    if (rc != 0)
        return rc;
    pthread_attr_setstacksize(&attr, IMPORT_STACK);
    rc = pthread_create(t, &attr, run, arg);
    pthread_attr_destroy(&attr);
    return rc;
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
    /* A thread that cannot start leaves its share to the others (the caller is one of them). */
    while (started < threads - 1 && start_thread(&t[started], par_run, &par) == 0)
        started++;
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
 * `import --sid` found media under its sid already, which no committed row names (check_opts
 * found none): another import of the sid is under way, or one was interrupted and left its media
 * behind. The two are told apart under the repair guard held exclusively, which waits until no
 * import or derivation anywhere is writing: then a row means that the other import committed
 * (this one lost), and no row means that the media is an orphan, removed here as `fsck --repair`
 * would. The caller's shared guard is given up meanwhile and taken again. 0 when the key is free
 * again, RECD_E_EXISTS when the sid is taken, or an error.
 */
static int free_sid(struct recd_ctx *ctx, const char *sid, const char *key)
{
    struct recd_store *st = ctx->store;
    struct recd_recording r;
    recd_media_guard(st, ctx->blob, RECD_BLOB_RELEASE);
    int rc = recd_media_guard(st, ctx->blob, RECD_BLOB_REPAIRING);
    if (rc == 0) {
        rc = st->ops->recording_get(st, sid, &r);
        if (rc == 0)
            rc = RECD_E_EXISTS;
        else if (rc == RECD_E_NOT_FOUND)
            rc = ctx->blob->ops->remove(ctx->blob, key);
        recd_media_guard(st, ctx->blob, RECD_BLOB_RELEASE);
    }
    int g = recd_media_guard(st, ctx->blob, RECD_BLOB_WRITING);
    return rc < 0 ? rc : g;
}

/* Stores the open source `fd` (closing it) under `key`: with an explicit sid only where nothing
 * is stored yet, so that two imports of one sid never replace each other's media. */
static int put_source(struct recd_ctx *ctx, const struct recd_import_opts *o, const char *key, int fd,
                      const struct recd_wav_info *info, struct recd_recording *r)
{
    struct recd_blob *bl = ctx->blob;
    int rc;
    if (bl->ops->put_fd_sha256) {
        rc = bl->ops->put_fd_sha256(bl, key, fd, info->file_size, o->sid ? RECD_BLOB_PUT_NEW : 0,
                                    r->media_sha256);
        close(fd);
        return rc;
    }
    if (o->sid) {
        close(fd);
        return RECD_E_INTERNAL; /* both backends have put_fd_sha256; one without could not do this */
    }
    /* The digest then comes from the stored copy, read back. */
    rc = bl->ops->put_fd(bl, key, fd, info->file_size);
    close(fd);
    int sfd;
    int64_t ssize;
    if (rc == 0 && (rc = bl->ops->open(bl, key, &sfd, &ssize)) == 0) {
        rc = ssize == info->file_size ? recd_file_sha256(sfd, ssize, r->media_sha256) : RECD_E_IO;
        close(sfd);
    }
    return rc;
}

/*
 * Stores the media of one file durably under r->sid (set by the caller) and fills the fields of
 * *r that come from the file. Returns 0, or RECD_E_* with `why` set; on failure nothing was
 * acknowledged, and media already stored under r->sid is the caller's to remove, except after
 * RECD_E_EXISTS (an explicit sid whose key was taken: what is there is not this import's).
 */
static int store_media(struct recd_ctx *ctx, const struct recd_import_opts *o, const char *path,
                       struct recd_recording *r, char *why, size_t why_n)
{
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
    rc = put_source(ctx, o, key, fd, &info, r);
    if (rc == RECD_E_EXISTS) {
        /* Once: a key taken again after it was freed is another import's, under way. */
        rc = free_sid(ctx, o->sid, key);
        if (rc == 0 && (fd = open_probe(path, &info, why, why_n)) < 0)
            return fd;
        if (rc == 0 && (rc = put_source(ctx, o, key, fd, &info, r)) == RECD_E_EXISTS) {
            snprintf(why, why_n, "recording %s is being imported by another process", o->sid);
            return rc;
        }
        if (rc == RECD_E_EXISTS) {
            snprintf(why, why_n, "recording %s already exists", o->sid);
            return rc;
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
    char detail[512]; /* the error line the library logged for it, on whichever thread ran it */
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
    recd_log_last_error_clear();
    sl->rc = store_media(p->ctx, p->o, p->paths[i], &p->recs[i], sl->why, sizeof sl->why);
    if (sl->rc < 0)
        snprintf(sl->detail, sizeof sl->detail, "%s", recd_log_last_error());
    return sl->rc;
}

/* The probe pass over every file keeps only each one's outcome (a file list may be long): 1 until
 * probed, then 0 or RECD_E_*. */
struct probe_pass {
    char *const *paths;
    int *rc;
};

static int probe_one(void *arg, int i)
{
    struct probe_pass *p = arg;
    struct recd_wav_info info;
    char why[8];
    int fd = open_probe(p->paths[i], &info, why, sizeof why);
    if (fd >= 0)
        close(fd);
    p->rc[i] = fd < 0 ? fd : 0;
    return p->rc[i];
}

/* Probes every file before anything is written: 0, or the first bad file's (in the files' order)
 * code with `why` set. */
static int probe_all(char *const paths[], int n, char *why, size_t why_n)
{
    int *rc = malloc((size_t)n * sizeof *rc);
    if (!rc)
        return RECD_E_INTERNAL;
    for (int i = 0; i < n; i++)
        rc[i] = 1;
    struct probe_pass p = {.paths = paths, .rc = rc};
    par_for(n, IMPORT_THREADS, probe_one, &p);
    int ret = 0;
    for (int i = 0; i < n && ret == 0; i++)
        if (rc[i] < 0) {
            /* Probed again here for its reason: the pass keeps none, to stay small. */
            struct recd_wav_info info;
            int fd = open_probe(paths[i], &info, why, why_n);
            if (fd >= 0) {
                close(fd);
                snprintf(why, why_n, "%s: changed while it was read", paths[i]);
            }
            ret = rc[i];
        }
    free(rc);
    return ret;
}

/* The first failure in the files' order (so that the same bad input always gives the same
 * reason), copied to `why` (and its logged detail, if any, to `detail`); 0 when every file that
 * ran succeeded. */
static int first_failure(const struct slot *slots, int n, char *why, size_t why_n, char *detail,
                         size_t detail_n)
{
    for (int i = 0; i < n; i++)
        if (slots[i].tried && slots[i].rc < 0) {
            snprintf(why, why_n, "%s", slots[i].why);
            snprintf(detail, detail_n, "%s", slots[i].detail);
            return slots[i].rc;
        }
    return 0;
}

static int pass_threads(struct recd_ctx *ctx)
{
    return ctx->blob->threads_ok ? IMPORT_THREADS : 1;
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
    (void)w->st->ops->recording_warm(w->st, w->recs, w->n);
    return NULL;
}

/* One batch: its files, their rows, and how writing its media went. */
struct stage {
    char *const *paths;
    int n;
    struct recd_recording *recs;
    struct slot *slots;
    int rc;
    char why[512];
    char detail[512];
    pthread_t driver; /* writes the media while the batch before commits */
};

/*
 * Writes the media of a batch (not yet durable: batch mode waits for sync()), reading its rows'
 * index pages ahead meanwhile. Sets b->rc (and b->why) to 0 or the first file's failure in order.
 */
static void write_media(struct recd_ctx *ctx, const struct recd_import_opts *o, struct stage *b)
{
    struct recd_store *st = ctx->store;
    int n = b->n;

    b->rc = 0;
    b->why[0] = '\0';
    b->detail[0] = '\0';
    memset(b->slots, 0, (size_t)n * sizeof *b->slots);
    memset(b->recs, 0, (size_t)n * sizeof *b->recs);
    for (int i = 0; i < n; i++) {
        struct recd_recording *r = &b->recs[i];
        if (o->sid)
            memcpy(r->sid, o->sid, RECD_SID_LEN + 1);
        else if (recd_sid_new(r->sid, "RE") < 0) {
            snprintf(b->why, sizeof b->why, "cannot make a recording sid (no randomness)");
            b->rc = RECD_E_INTERNAL;
            return;
        }
        snprintf(r->status, sizeof r->status, "completed");
    }
    /* The rows' index pages are read while the media is written: both wait on the disk. */
    struct warm w = {.st = st, .recs = b->recs, .n = n};
    /* A few rows are inserted sooner than the read-ahead's connections open. */
    int warming = st->ops->recording_warm && n >= 4 && start_thread(&w.thread, warm_run, &w) == 0;
    struct pass p = {.ctx = ctx, .o = o, .paths = b->paths, .recs = b->recs, .slots = b->slots};
    par_for(n, pass_threads(ctx), store_one, &p);
    if (warming)
        pthread_join(w.thread, NULL);
    b->rc = first_failure(b->slots, n, b->why, sizeof b->why, b->detail, sizeof b->detail);
}

/* Nothing of a failed batch was acknowledged: its media goes, so no orphan is left behind (a file
 * whose write failed may have left some, in a store that reads back). */
static void discard_media(struct recd_ctx *ctx, const struct stage *b)
{
    char key[RECD_MEDIA_KEY_MAX];
    for (int i = 0; i < b->n; i++) {
        /* RECD_E_EXISTS: the media under its (explicit) sid is another import's, not this one's. */
        if (!b->slots[i].tried || b->slots[i].rc == RECD_E_EXISTS)
            continue;
        recd_media_key(key, b->recs[i].sid, ".wav");
        ctx->blob->ops->remove(ctx->blob, key);
    }
}

/* Makes a batch's media durable, then commits its rows in one transaction. 0 or RECD_E_* with
 * `why` set; on failure the caller discards the batch's media. */
static int commit_batch(struct recd_ctx *ctx, const struct recd_import_opts *o, struct stage *b,
                        int64_t *last_us, char *why, size_t why_n)
{
    struct recd_store *st = ctx->store;
    struct recd_blob *bl = ctx->blob;
    /* The batch's media is on stable storage before any row that names it commits. */
    int rc = bl->ops->sync(bl);
    if (rc < 0) {
        snprintf(why, why_n, "cannot store the media (%s)",
                 rc == RECD_E_NO_SPACE ? "no space left on the data volume" : "I/O error");
        return rc;
    }
    rc = st->ops->begin(st);
    if (rc == 0) {
        rc = insert_rows(st, o, b->recs, b->n, last_us);
        rc = rc < 0 ? rc : st->ops->commit(st);
        if (rc < 0)
            st->ops->rollback(st);
    }
    if (rc == RECD_E_EXISTS)
        snprintf(why, why_n, "recording %s already exists", o->sid ? o->sid : "(generated)");
    else if (rc < 0)
        snprintf(why, why_n, "cannot commit the import (%s)",
                 rc == RECD_E_NO_SPACE ? "no space left on the data volume" : "store error");
    return rc;
}

struct driver_arg {
    struct recd_ctx *ctx;
    const struct recd_import_opts *o;
    struct stage *b;
};

static void *driver_run(void *p)
{
    struct driver_arg *d = p;
    write_media(d->ctx, d->o, d->b);
    return NULL;
}

/*
 * Commits `prev` (when set): 0, or its failure with `why` set and its media discarded. On success
 * its recordings are handed to `done`, acknowledged.
 */
static int finish(struct recd_ctx *ctx, const struct recd_import_opts *o, struct stage *prev,
                  int64_t *last_us, recd_recording_cb done, void *done_ctx, char *why, size_t why_n)
{
    if (!prev)
        return 0;
    int rc = commit_batch(ctx, o, prev, last_us, why, why_n);
    /*
     * A duplicate explicit sid, committed by another import since check_opts looked: the media
     * under the sid is still this import's, since it was stored only where nothing was
     * (RECD_BLOB_PUT_NEW); the other import's had been removed by then (its recording deleted),
     * so it goes too. A drawn sid never meets a row (128 random bits).
     */
    if (rc < 0 && (rc != RECD_E_EXISTS || o->sid))
        discard_media(ctx, prev);
    if (rc < 0)
        return rc;
    for (int i = 0; done && i < prev->n; i++)
        done(done_ctx, &prev->recs[i]);
    return 0;
}

int recd_import(struct recd_ctx *ctx, const struct recd_import_opts *o, char *const paths[], int n,
                recd_recording_cb done, void *done_ctx, char *why, size_t why_n)
{
    int rc = check_opts(ctx, o, n, why, why_n);
    if (rc < 0)
        return rc;
    int batch = o->batch > 0 ? o->batch : 64;
    /* Two batches in flight: one's media being written while the other commits. */
    struct stage stages[2] = {{0}};
    for (int i = 0; i < 2; i++) {
        stages[i].recs = calloc((size_t)batch, sizeof *stages[i].recs);
        stages[i].slots = calloc((size_t)batch, sizeof *stages[i].slots);
    }
    if (!stages[0].recs || !stages[0].slots || !stages[1].recs || !stages[1].slots) {
        rc = RECD_E_INTERNAL;
        goto out;
    }
    rc = probe_all(paths, n, why, why_n);
    if (rc < 0)
        goto out;
    /* Shared: imports run side by side, but `fsck --repair` waits until none is writing. */
    rc = recd_media_guard(ctx->store, ctx->blob, RECD_BLOB_WRITING);
    if (rc < 0)
        goto out;
    int64_t last_us = 0;
    /* Several files: one filesystem sync per batch instead of three fsyncs per file. */
    if (n > 1)
        ctx->blob->ops->defer_sync(ctx->blob, 1);
    /*
     * Batch k's media is written (by a driver thread) while batch k-1 is synced and committed:
     * the one waits on lookups and copies, the other on the disk's flush, and side by side they
     * wait together. Each batch still commits only after a sync() that began once all its media
     * was written, so §5's order holds batch by batch; a sync may also flush some of the next
     * batch's files, which changes nothing for either. With a media store whose calls must come
     * one at a time, the batches run one after the other as before.
     */
    struct stage *prev = NULL;
    for (int at = 0, k = 0; at < n; at += batch, k++) {
        struct stage *cur = &stages[k % 2];
        cur->paths = paths + at;
        cur->n = n - at < batch ? n - at : batch;
        struct driver_arg d = {.ctx = ctx, .o = o, .b = cur};
        int async = prev && ctx->blob->threads_ok && start_thread(&cur->driver, driver_run, &d) == 0;
        rc = finish(ctx, o, prev, &last_us, done, done_ctx, why, why_n);
        if (async)
            pthread_join(cur->driver, NULL);
        else if (rc == 0)
            write_media(ctx, o, cur);
        prev = NULL;
        if (rc < 0) {
            /* The batch before failed to commit: this one's media (if written) goes too. */
            if (async)
                discard_media(ctx, cur);
            break;
        }
        if (cur->rc < 0) {
            rc = cur->rc;
            snprintf(why, why_n, "%s", cur->why);
            /* The caller may report what the library logged, which happened on a worker. */
            if (cur->detail[0])
                recd_log_last_error_set(cur->detail);
            discard_media(ctx, cur);
            break;
        }
        prev = cur;
    }
    if (rc == 0)
        rc = finish(ctx, o, prev, &last_us, done, done_ctx, why, why_n);
    if (n > 1)
        ctx->blob->ops->defer_sync(ctx->blob, 0);
    recd_media_guard(ctx->store, ctx->blob, RECD_BLOB_RELEASE);
out:
    for (int i = 0; i < 2; i++) {
        free(stages[i].recs);
        free(stages[i].slots);
    }
    return rc;
}
