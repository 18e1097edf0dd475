#include "service/mirror.h"

#include "core/error.h"
#include "core/file.h"
#include "core/log.h"
#include "core/tally.h"
#include "core/time.h"
#include "media/wav.h"
#include "service/service.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/*
 * `recd mirror`: the main thread walks the source's recordings list by its next_page_uri and
 * hands each recording to a pool of workers; each worker lists the recording's transcriptions,
 * fetches its media into an anonymous temporary file, checks it, and stores both through
 * recd_import in one commit (contract §5's order), so a kill -9 at any instant leaves each
 * recording either wholly here or not at all, and a re-run skips what is here with the same
 * bytes. Every request, the list's included, takes one of `concurrency` slots; a 429 pauses
 * every thread until its Retry-After has passed.
 */

#define PAGE_BODY_MAX   (INT64_C(32) << 20) /* a list page of 1000 items is ~1.5 MB */
#define MEDIA_BODY_MAX  (INT64_C(4) << 30)  /* a RIFF file cannot be larger */
#define RETRY_AFTER_MAX 600                 /* s: longer waits are capped, not obeyed blindly */
#define THROTTLE_MAX    100                 /* 429 answers one request may get before it fails */
#define API_PREFIX      "/2010-04-01/Accounts/"

struct run {
    const struct recd_mirror_opts *o;
    const char *into;
    size_t base_len; /* o->base_url without a trailing '/' */
    char list_path[128];
    int max_attempts, backoff_ms, backoff_max_ms;

    pthread_mutex_t mu; /* everything below, and the output streams */
    pthread_cond_t cv;  /* a slot freed, the queue changed, the bar should stop */
    int slots;
    int64_t pause_until_us;
    struct recd_mirror_rec *q;
    int qcap, qhead, qlen, closed;
    struct recd_mirror_stats st;
    int64_t t0_us;
    int bar_stop, bar_shown;
};

/* One thread's connection: a curl handle, and where the body of the request under way goes. */
struct conn {
    CURL *c;
    struct recd_buf body; /* when fd < 0 */
    int fd;
    int64_t got, limit;
    int sink_failed; /* 1: over the limit; 2: a write to fd failed */
    char err[CURL_ERROR_SIZE];
    unsigned seed;
};

/* --- Output ---------------------------------------------------------------------------------- */

static void bar_line(struct run *run, char *out, size_t cap)
{
    const struct recd_mirror_stats *s = &run->st;
    int64_t done = s->copied + s->skipped + s->failed;
    double secs = (double)(recd_now_us() - run->t0_us) / 1e6;
    int width = 24, fill = s->listed ? (int)(done * width / s->listed) : 0;
    char bar[32];
    for (int i = 0; i < width; i++)
        bar[i] = i < fill ? '#' : '-';
    bar[width] = '\0';
    snprintf(out, cap,
             "[%s] %lld/%lld%s · copied %lld · skipped %lld · failed %lld · throttled %lld · %.1f rec/s", bar,
             (long long)done, (long long)s->listed, run->closed ? "" : "+", (long long)s->copied,
             (long long)s->skipped, (long long)s->failed, (long long)s->throttled,
             secs > 0 ? (double)(s->copied + s->skipped) / secs : 0.0);
}

/* A line about one recording. With the bar on, copies and skips are left to the bar, and any line
 * printed clears the bar first (it is redrawn on the next tick). Called with run->mu held. */
static void emit_locked(struct run *run, int routine, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void emit_locked(struct run *run, int routine, const char *fmt, ...)
{
    if (routine && run->o->quiet_copies)
        return;
    if (run->bar_shown) {
        fputs("\r\033[K", run->o->err);
        fflush(run->o->err);
        run->bar_shown = 0;
    }
    va_list ap;
    va_start(ap, fmt);
    vfprintf(run->o->out, fmt, ap);
    va_end(ap);
    fputc('\n', run->o->out);
    fflush(run->o->out);
}

enum outcome { COPIED, SKIPPED, FAILED };

static void count(struct run *run, enum outcome oc, const struct recd_mirror_rec *r, const char *detail)
{
    pthread_mutex_lock(&run->mu);
    switch (oc) {
    case COPIED:
        run->st.copied++;
        emit_locked(run, 1, "copied %s (%s)", r->sid, detail);
        break;
    case SKIPPED:
        run->st.skipped++;
        emit_locked(run, 1, "skipped %s: %s", r->sid, detail);
        break;
    case FAILED:
        run->st.failed++;
        emit_locked(run, 0, "failed %s: %s", r->sid, detail);
        break;
    }
    pthread_mutex_unlock(&run->mu);
}

static void *bar_thread(void *p)
{
    struct run *run = p;
    char line[256];
    pthread_mutex_lock(&run->mu);
    while (!run->bar_stop) {
        bar_line(run, line, sizeof line);
        fprintf(run->o->err, "\r\033[K%s", line);
        fflush(run->o->err);
        run->bar_shown = 1;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 250 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&run->cv, &run->mu, &ts);
    }
    if (run->bar_shown) {
        bar_line(run, line, sizeof line);
        fprintf(run->o->err, "\r\033[K%s\n", line);
        fflush(run->o->err);
        run->bar_shown = 0;
    }
    pthread_mutex_unlock(&run->mu);
    return NULL;
}

/* --- Requests -------------------------------------------------------------------------------- */

static size_t on_body(char *p, size_t size, size_t nmemb, void *ctx)
{
    struct conn *cn = ctx;
    size_t n = size * nmemb;
    if (cn->got + (int64_t)n > cn->limit) {
        cn->sink_failed = 1;
        return 0;
    }
    if (cn->fd >= 0) {
        if (recd_write_all(cn->fd, p, n) < 0) {
            cn->sink_failed = 2;
            return 0;
        }
    } else {
        recd_buf_add(&cn->body, p, n);
    }
    cn->got += (int64_t)n;
    return n;
}

static int conn_init(struct conn *cn, const struct run *run)
{
    memset(cn, 0, sizeof *cn);
    recd_buf_init(&cn->body, 0);
    cn->fd = -1;
    cn->seed = (unsigned)recd_now_us() ^ (unsigned)(uintptr_t)cn;
    cn->c = curl_easy_init();
    if (!cn->c)
        return RECD_E_INTERNAL;
    CURL *c = cn->c;
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    /* Twilio answers a media GET with a redirect to its storage; libcurl sends the credentials
     * only to the host they were given for (CURLOPT_UNRESTRICTED_AUTH stays off). */
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L);
    curl_easy_setopt(c, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
    curl_easy_setopt(c, CURLOPT_USERNAME, run->o->user);
    curl_easy_setopt(c, CURLOPT_PASSWORD, run->o->pass);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "recd-mirror/1");
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 15L);
    /* No total timeout (an hour-long recording takes what it takes); a transfer that moves less
     * than a byte a second for a minute is a dead one. */
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 60L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, cn);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, cn->err);
    return 0;
}

static void conn_free(struct conn *cn)
{
    if (cn->c)
        curl_easy_cleanup(cn->c);
    recd_buf_free(&cn->body);
}

static void sleep_ms(int64_t ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* Exponential backoff of the attempt'th retry, with jitter in [1/2, 1] of the step. */
static int64_t backoff(const struct run *run, struct conn *cn, int attempt)
{
    int64_t ms = run->backoff_ms;
    for (int i = 1; i < attempt && ms < run->backoff_max_ms; i++)
        ms *= 2;
    if (ms > run->backoff_max_ms)
        ms = run->backoff_max_ms;
    return ms / 2 + (int64_t)(rand_r(&cn->seed) % (unsigned)(ms / 2 + 1));
}

/* Takes a request slot, once no 429 pause is in force. */
static void slot_take(struct run *run)
{
    pthread_mutex_lock(&run->mu);
    for (;;) {
        int64_t now = recd_now_us();
        if (run->slots > 0 && now >= run->pause_until_us)
            break;
        struct timespec ts;
        int64_t until = run->slots > 0 ? run->pause_until_us : now + 1000000;
        ts.tv_sec = (time_t)(until / 1000000);
        ts.tv_nsec = (long)(until % 1000000) * 1000;
        pthread_cond_timedwait(&run->cv, &run->mu, &ts);
    }
    run->slots--;
    pthread_mutex_unlock(&run->mu);
}

static void slot_give(struct run *run)
{
    pthread_mutex_lock(&run->mu);
    run->slots++;
    pthread_cond_broadcast(&run->cv);
    pthread_mutex_unlock(&run->mu);
}

/* Errors no retry can mend. */
static int permanent(CURLcode cc)
{
    return cc == CURLE_UNSUPPORTED_PROTOCOL || cc == CURLE_URL_MALFORMAT ||
           cc == CURLE_COULDNT_RESOLVE_HOST || cc == CURLE_TOO_MANY_REDIRECTS ||
           cc == CURLE_PEER_FAILED_VERIFICATION || cc == CURLE_SSL_CACERT_BADFILE || cc == CURLE_LOGIN_DENIED;
}

/*
 * Long because it is the one retry loop of every request, and each way an attempt can end (an
 * answer, a 429, a 5xx, a full sink, a transport error) decides the next step in it.
 *
 * GETs `url` into cn (its body buffer, or `fd` rewound and truncated each attempt), retrying
 * connection failures and 5xx answers with bounded exponential backoff and 429 answers after
 * their Retry-After. 0 with the final *status (any other status is the caller's to judge), or
 * RECD_E_UNAVAILABLE when the attempts ran out (`why` says how the last one ended), RECD_E_IO
 * when the body could not be written, RECD_E_TOO_LARGE when it was over `limit`.
 */
static int fetch(struct run *run, struct conn *cn, const char *url, const char *inm, int fd, int64_t limit,
                 long *status, char *why, size_t why_n)
{
    struct curl_slist *hdrs = NULL;
    char h[128];
    if (inm) {
        snprintf(h, sizeof h, "If-None-Match: %s", inm);
        hdrs = curl_slist_append(NULL, h);
    }
    curl_easy_setopt(cn->c, CURLOPT_URL, url);
    curl_easy_setopt(cn->c, CURLOPT_HTTPHEADER, hdrs);
    int rc = RECD_E_UNAVAILABLE, throttles = 0;
    for (int attempt = 1;;) {
        recd_buf_reset(&cn->body);
        cn->fd = fd;
        cn->got = 0;
        cn->limit = limit;
        cn->sink_failed = 0;
        cn->err[0] = '\0';
        if (fd >= 0 && (ftruncate(fd, 0) < 0 || lseek(fd, 0, SEEK_SET) < 0)) {
            snprintf(why, why_n, "cannot use the temporary file: %s", strerror(errno));
            rc = RECD_E_IO;
            break;
        }
        slot_take(run);
        CURLcode cc = curl_easy_perform(cn->c);
        slot_give(run);
        *status = 0;
        if (cc == CURLE_OK) {
            curl_easy_getinfo(cn->c, CURLINFO_RESPONSE_CODE, status);
            if (*status == 429) {
                curl_off_t ra = 0;
                curl_easy_getinfo(cn->c, CURLINFO_RETRY_AFTER, &ra);
                throttles++;
                int64_t ms = ra > 0 ? (ra > RETRY_AFTER_MAX ? RETRY_AFTER_MAX : ra) * 1000
                                    : backoff(run, cn, throttles);
                pthread_mutex_lock(&run->mu);
                run->st.throttled++;
                int64_t until = recd_now_us() + ms * 1000;
                if (until > run->pause_until_us)
                    run->pause_until_us = until;
                pthread_mutex_unlock(&run->mu);
                if (throttles >= THROTTLE_MAX) {
                    snprintf(why, why_n, "still throttled (429) after %d tries", THROTTLE_MAX);
                    break;
                }
                continue; /* slot_take waits out the pause */
            }
            if (*status < 500) {
                rc = 0;
                break;
            }
            snprintf(why, why_n, "HTTP %ld", *status);
        } else if (cn->sink_failed) {
            if (cn->sink_failed == 1)
                snprintf(why, why_n, "the answer is larger than %lld bytes", (long long)limit);
            else
                snprintf(why, why_n, "cannot write the temporary file: %s", strerror(errno));
            rc = cn->sink_failed == 1 ? RECD_E_TOO_LARGE : RECD_E_IO;
            break;
        } else {
            snprintf(why, why_n, "%s", cn->err[0] ? cn->err : curl_easy_strerror(cc));
            if (permanent(cc))
                break;
        }
        if (attempt >= run->max_attempts)
            break;
        sleep_ms(backoff(run, cn, attempt++));
    }
    curl_easy_setopt(cn->c, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(hdrs);
    return rc;
}

/* --- One recording --------------------------------------------------------------------------- */

struct worker {
    struct run *run;
    struct conn cn;
    struct recd_ctx ctx;
    int ctx_open;
    struct recd_mirror_page pg;
    /* The recording's transcriptions, kept to be stored with it; texts in `text`. */
    struct recd_transcription *trs;
    size_t *offs; /* where each one's text is in `text` while it grows; SIZE_MAX = null */
    size_t ntrs, trs_cap;
    struct recd_buf text;
    pthread_t thread;
};

/* Joins the base URL and a path (and query) that starts with '/'. */
static void url_of(const struct run *run, char *out, size_t cap, const char *path)
{
    snprintf(out, cap, "%.*s%s", (int)run->base_len, run->o->base_url, path);
}

/*
 * (Long: the walk of a sublist by its next_page_uri, with the growth of the kept array inline.)
 * Lists the transcriptions of recording `r` at the source into w->trs (completed and failed ones;
 * one still in progress is left for a later run). 0, or RECD_E_* with `why` set.
 */
static int list_transcriptions(struct worker *w, const struct recd_mirror_rec *r, char *why, size_t why_n)
{
    struct run *run = w->run;
    char path[256], url[RECD_URL_MAX + RECD_MIRROR_URI_MAX + 2], sub[300];
    snprintf(path, sizeof path, API_PREFIX "%s/Recordings/%s/Transcriptions.json", run->o->account_sid,
             r->sid);
    snprintf(sub, sizeof sub, "%s?PageSize=100", path);
    url_of(run, url, sizeof url, sub);
    w->ntrs = 0;
    recd_buf_reset(&w->text);
    int rc = 0;
    for (int pages = 0;; pages++) {
        long status;
        char e[160];
        rc = fetch(run, &w->cn, url, NULL, -1, PAGE_BODY_MAX, &status, e, sizeof e);
        if (rc == 0 && status != 200) {
            snprintf(e, sizeof e, "HTTP %ld", status);
            rc = RECD_E_UNAVAILABLE;
        }
        if (rc == 0)
            rc = recd_mirror_page_read(w->cn.body.p, w->cn.body.len, RECD_MIRROR_TRANSCRIPTIONS, path, &w->pg,
                                       e, sizeof e) == 0
                     ? 0
                     : RECD_E_BAD_INPUT;
        if (rc < 0) {
            snprintf(why, why_n, "transcriptions: %s", e);
            break;
        }
        if (w->ntrs + (size_t)w->pg.count > w->trs_cap) {
            size_t cap = w->ntrs + (size_t)w->pg.count + 4;
            struct recd_transcription *t = realloc(w->trs, cap * sizeof *t);
            if (t)
                w->trs = t;
            size_t *o = t ? realloc(w->offs, cap * sizeof *o) : NULL;
            if (o)
                w->offs = o;
            if (!t || !o) {
                rc = RECD_E_INTERNAL;
                snprintf(why, why_n, "out of memory");
                break;
            }
            w->trs_cap = cap;
        }
        for (int i = 0; i < w->pg.count; i++) {
            const struct recd_mirror_tr *m = &w->pg.trs[i];
            if (m->bad[0] || strcmp(m->t.recording_sid, r->sid) != 0 ||
                strcmp(m->t.account_sid, run->o->account_sid) != 0) {
                snprintf(why, why_n, "transcription %s: %s", m->t.sid[0] ? m->t.sid : "(no sid)",
                         m->bad[0] ? m->bad : "not of this recording");
                rc = RECD_E_BAD_INPUT;
                goto out;
            }
            if (strcmp(m->t.status, "completed") != 0 && strcmp(m->t.status, "failed") != 0)
                continue;
            w->trs[w->ntrs] = m->t;
            w->offs[w->ntrs] = SIZE_MAX;
            if (m->t.text) {
                w->offs[w->ntrs] = w->text.len;
                recd_buf_add(&w->text, m->t.text, m->t.text_len);
                recd_buf_addc(&w->text, '\0');
            }
            w->ntrs++;
        }
        if (!w->pg.next[0])
            break;
        if (pages > 1000) {
            snprintf(why, why_n, "transcriptions: more than 1000 pages");
            rc = RECD_E_BAD_INPUT;
            break;
        }
        url_of(run, url, sizeof url, w->pg.next);
    }
out:
    for (size_t i = 0; rc == 0 && i < w->ntrs; i++)
        w->trs[i].text = w->offs[i] == SIZE_MAX ? NULL : w->text.p + w->offs[i];
    return rc;
}

/* A file for the media that nothing names: gone with the process, whatever kills it. */
static int anon_file(const char *dir)
{
    int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL))
        return fd;
    char path[4096];
    snprintf(path, sizeof path, "%s/.mirror-XXXXXX", dir);
    fd = mkostemp(path, O_CLOEXEC);
    if (fd >= 0)
        unlink(path);
    return fd;
}

/* The media just fetched is what the source says it is: every byte it announced, a WAV recd
 * accepts, with the listed channels and (to the second) duration. */
static int verify(const struct worker *w, int fd, const struct recd_mirror_rec *r, struct recd_wav_info *info,
                  char *why, size_t why_n)
{
    curl_off_t clen = -1;
    char reason[200];
    curl_easy_getinfo(w->cn.c, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &clen);
    if (clen >= 0 && clen != w->cn.got) {
        snprintf(why, why_n, "media: got %lld of %lld bytes", (long long)w->cn.got, (long long)clen);
        return -1;
    }
    if (recd_wav_probe(fd, info, reason, sizeof reason) < 0) {
        snprintf(why, why_n, "media: %s", reason);
        return -1;
    }
    if (info->file_size != w->cn.got) {
        snprintf(why, why_n, "media: %lld bytes on disk, %lld received", (long long)info->file_size,
                 (long long)w->cn.got);
        return -1;
    }
    if (r->channels && info->channels != r->channels) {
        snprintf(why, why_n, "media has %d channels, the source lists %d", info->channels, r->channels);
        return -1;
    }
    int64_t secs = (info->duration_ms + 500) / 1000;
    if (r->duration_s >= 0 && (secs - r->duration_s > 1 || r->duration_s - secs > 1)) {
        snprintf(why, why_n, "media lasts %lld s, the source lists %lld s", (long long)secs,
                 (long long)r->duration_s);
        return -1;
    }
    return 0;
}

/* Adds the source's transcriptions that a recording already here lacks (a re-run after the
 * source finished one). The count added, or RECD_E_*. */
static int add_missing_transcriptions(struct worker *w)
{
    struct recd_store *st = w->ctx.store;
    struct recd_transcription have;
    struct recd_buf b;
    int added = 0, rc = 0;
    recd_buf_init(&b, 0);
    for (size_t i = 0; i < w->ntrs && rc >= 0; i++) {
        rc = st->ops->transcription_get(st, w->trs[i].sid, &have, &b);
        if (rc == 0)
            continue;
        if (rc != RECD_E_NOT_FOUND)
            break;
        struct recd_transcription t = w->trs[i];
        memcpy(t.account_sid, w->run->into, sizeof t.account_sid);
        rc = st->ops->transcription_insert(st, &t);
        added += rc == 0;
    }
    recd_buf_free(&b);
    return rc < 0 ? rc : added;
}

/*
 * Copies one recording (or finds it here already). Long because it is one sequence with an
 * outcome at each step: what is here, the transcriptions, the media with its retries, the check,
 * and the store.
 */
static void copy_one(struct worker *w, const struct recd_mirror_rec *r)
{
    struct run *run = w->run;
    struct recd_store *st = w->ctx.store;
    struct recd_recording here;
    struct recd_wav_info info;
    char why[512], detail[160];
    int fd = -1;

    int rc = st->ops->recording_get(st, r->sid, &here);
    int exists = rc == 0;
    if (rc < 0 && rc != RECD_E_NOT_FOUND) {
        count(run, FAILED, r, "cannot read the store here");
        return;
    }
    if (exists && strcmp(here.account_sid, run->into) != 0) {
        count(run, FAILED, r, "a recording of another account here has this sid; not overwritten");
        return;
    }
    if (exists && !recd_recording_has_media(&here)) {
        snprintf(detail, sizeof detail, "here already, %s", here.deleted_us ? "deleted" : here.status);
        count(run, SKIPPED, r, detail);
        return;
    }
    if (list_transcriptions(w, r, why, sizeof why) < 0) {
        count(run, FAILED, r, why);
        return;
    }
    if ((fd = anon_file(run->o->data_dir)) < 0) {
        snprintf(why, sizeof why, "cannot make a temporary file in %s: %s", run->o->data_dir,
                 strerror(errno));
        count(run, FAILED, r, why);
        return;
    }
    char path[256], url[RECD_URL_MAX + 256], inm[48];
    snprintf(path, sizeof path, API_PREFIX "%s/Recordings/%s.wav%s", run->o->account_sid, r->sid,
             r->channels == 2 ? "?RequestedChannels=2" : "");
    url_of(run, url, sizeof url, path);
    /* recd's ETag of a WAV is the first half of its SHA-256: a recd source answers 304 for bytes
     * that are here already, and any other source sends the bytes to compare. */
    if (exists)
        snprintf(inm, sizeof inm, "\"%.32s\"", here.media_sha256);
    long status = 0;
    for (int attempt = 1;; attempt++) {
        rc = fetch(run, &w->cn, url, exists ? inm : NULL, fd, MEDIA_BODY_MAX, &status, why, sizeof why);
        if (rc < 0) {
            char e[sizeof why];
            snprintf(e, sizeof e, "media: %.480s", why);
            count(run, FAILED, r, e);
            goto out;
        }
        if (status == 304 && exists) {
            snprintf(detail, sizeof detail, "here already with the same bytes");
            goto same;
        }
        if (status == 404) {
            count(run, SKIPPED, r, "its media is gone at the source (deleted since it was listed)");
            goto out;
        }
        if (status != 200) {
            snprintf(why, sizeof why, "media: HTTP %ld%s", status,
                     status == 401 || status == 403 ? " (the credentials may not fetch media)" : "");
            count(run, FAILED, r, why);
            goto out;
        }
        if (verify(w, fd, r, &info, why, sizeof why) == 0)
            break;
        /* A short or damaged body is retried like a dropped connection; a file that keeps
         * disagreeing with its listing is not copied. */
        if (attempt >= run->max_attempts) {
            count(run, FAILED, r, why);
            goto out;
        }
        sleep_ms(backoff(run, &w->cn, attempt));
    }
    if (exists) {
        char sha[65];
        if (recd_file_sha256(fd, info.file_size, sha) < 0) {
            count(run, FAILED, r, "cannot read the temporary file");
            goto out;
        }
        if (strcmp(sha, here.media_sha256) != 0) {
            count(run, FAILED, r, "here already with different media bytes; not overwritten");
            goto out;
        }
        snprintf(detail, sizeof detail, "here already with the same bytes");
        goto same;
    }
    char fdpath[64];
    snprintf(fdpath, sizeof fdpath, "/proc/self/fd/%d", fd);
    char *paths[1] = {fdpath};
    struct recd_import_opts io = {
        .account_sid = run->into,
        .call_sid = r->call_sid[0] ? r->call_sid : NULL,
        .conference_sid = r->conference_sid[0] ? r->conference_sid : NULL,
        .sid = r->sid,
        .created_us = r->created_us,
        .start_us = r->start_us,
        .updated_us = r->updated_us,
        .source = r->source[0] ? r->source : NULL,
        .transcriptions = w->trs,
        .ntranscriptions = (int)w->ntrs,
    };
    rc = recd_import(&w->ctx, &io, paths, 1, NULL, NULL, why, sizeof why);
    if (rc == RECD_E_EXISTS) {
        count(run, SKIPPED, r, "copied meanwhile by another run");
    } else if (rc < 0) {
        count(run, FAILED, r, why);
    } else {
        pthread_mutex_lock(&run->mu);
        run->st.bytes += info.file_size;
        pthread_mutex_unlock(&run->mu);
        snprintf(detail, sizeof detail, "%lld s, %d channel%s, %zu transcription%s",
                 (long long)((info.duration_ms + 500) / 1000), info.channels, info.channels == 1 ? "" : "s",
                 w->ntrs, w->ntrs == 1 ? "" : "s");
        count(run, COPIED, r, detail);
    }
    goto out;
same:
    rc = add_missing_transcriptions(w);
    if (rc < 0) {
        count(run, FAILED, r, "here already, but its new transcriptions could not be stored");
    } else {
        if (rc > 0)
            snprintf(detail + strlen(detail), sizeof detail - strlen(detail), "; %d transcription%s added",
                     rc, rc == 1 ? "" : "s");
        count(run, SKIPPED, r, detail);
    }
out:
    if (fd >= 0)
        close(fd);
}

/* --- The pool and the walk ------------------------------------------------------------------- */

static void *worker_main(void *p)
{
    struct worker *w = p;
    struct run *run = w->run;
    struct recd_mirror_rec r;
    for (;;) {
        pthread_mutex_lock(&run->mu);
        while (run->qlen == 0 && !run->closed)
            pthread_cond_wait(&run->cv, &run->mu);
        if (run->qlen == 0) {
            pthread_mutex_unlock(&run->mu);
            break;
        }
        r = run->q[run->qhead];
        run->qhead = (run->qhead + 1) % run->qcap;
        run->qlen--;
        pthread_cond_broadcast(&run->cv);
        pthread_mutex_unlock(&run->mu);
        copy_one(w, &r);
    }
    return NULL;
}

static void enqueue(struct run *run, const struct recd_mirror_rec *r)
{
    pthread_mutex_lock(&run->mu);
    while (run->qlen == run->qcap)
        pthread_cond_wait(&run->cv, &run->mu);
    run->q[(run->qhead + run->qlen) % run->qcap] = *r;
    run->qlen++;
    pthread_cond_broadcast(&run->cv);
    pthread_mutex_unlock(&run->mu);
}

/* Appends `s` percent-encoded (everything but unreserved characters) to `out`. */
static void pct(char *out, size_t cap, const char *s)
{
    size_t n = strlen(out);
    for (; *s && n + 4 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
            c == '.' || c == '_' || c == '~')
            out[n++] = (char)c;
        else
            n += (size_t)snprintf(out + n, cap - n, "%%%02X", c);
    }
    out[n] = '\0';
}

/* The recording a listing item names, judged before any worker sees it: bad and unfinished
 * ones are counted here. 1 when it is for a worker. */
static int admit(struct run *run, const struct recd_mirror_rec *r)
{
    char why[160];
    if (r->bad[0]) {
        snprintf(why, sizeof why, "the listing is bad: %s", r->bad);
        count(run, FAILED, r->sid[0] ? r : &(struct recd_mirror_rec){.sid = "(no sid)"}, why);
        return 0;
    }
    if (strcmp(r->account_sid, run->o->account_sid) != 0) {
        count(run, FAILED, r, "listed under another account");
        return 0;
    }
    if (strcmp(r->status, "completed") != 0) {
        /* absent, deleted and failed ones have no media; processing and in-progress ones do not
         * have it yet (a later run copies them). */
        snprintf(why, sizeof why, "status %s at the source", r->status);
        count(run, SKIPPED, r, why);
        return 0;
    }
    return 1;
}

/* Walks the list. 0 when its last page was read; RECD_E_BAD_INPUT when the source refused the
 * first page (credentials, account, filters); another RECD_E_* when a later page failed. */
static int walk(struct run *run, struct conn *cn, struct recd_mirror_page *pg, char *why, size_t why_n)
{
    const struct recd_mirror_opts *o = run->o;
    char first[RECD_MIRROR_URI_MAX + 1], url[RECD_URL_MAX + RECD_MIRROR_URI_MAX + 2];
    snprintf(first, sizeof first, "%s?PageSize=%d", run->list_path, o->page_size > 0 ? o->page_size : 200);
    if (o->since) {
        strcat(first, "&DateCreated%3E=");
        pct(first, sizeof first, o->since);
    }
    if (o->until) {
        strcat(first, "&DateCreated%3C=");
        pct(first, sizeof first, o->until);
    }
    url_of(run, url, sizeof url, first);
    for (int64_t page = 0;; page++) {
        long status;
        char e[200];
        int rc = fetch(run, cn, url, NULL, -1, PAGE_BODY_MAX, &status, e, sizeof e);
        if (rc < 0) {
            snprintf(why, why_n, "listing page %lld: %s", (long long)page + 1, e);
            return rc;
        }
        if (status != 200) {
            if (page == 0 && (status == 401 || status == 403))
                snprintf(why, why_n, "the source refused the credentials (HTTP %ld)", status);
            else if (page == 0 && status == 404)
                snprintf(why, why_n, "the source does not know account %s (HTTP 404)", o->account_sid);
            else if (page == 0 && status == 400)
                snprintf(why, why_n,
                         "the source refused the list's query (HTTP 400): check --since and --until");
            else
                snprintf(why, why_n, "listing page %lld: HTTP %ld", (long long)page + 1, status);
            return page == 0 && status >= 400 && status < 500 ? RECD_E_BAD_INPUT : RECD_E_UNAVAILABLE;
        }
        rc = recd_mirror_page_read(cn->body.p, cn->body.len, RECD_MIRROR_RECORDINGS, run->list_path, pg, e,
                                   sizeof e);
        if (rc < 0) {
            snprintf(why, why_n, "listing page %lld: %s", (long long)page + 1, e);
            return rc == RECD_E_INTERNAL ? rc : RECD_E_IO;
        }
        pthread_mutex_lock(&run->mu);
        run->st.pages++;
        run->st.listed += pg->count;
        pthread_mutex_unlock(&run->mu);
        for (int i = 0; i < pg->count; i++)
            if (admit(run, &pg->recs[i]))
                enqueue(run, &pg->recs[i]);
        if (!pg->next[0])
            return 0;
        /* Only ever the page the source named (contract §2: tokens are opaque). */
        url_of(run, url, sizeof url, pg->next);
    }
}

/*
 * Adds this run's counts to the data folder's mirror tally (core/tally.h), which the server's
 * /metrics exports as recd_mirror_*: the mirror is a command of its own, so its counts must
 * outlive it to be scraped. A run that walked the whole list with nothing failed is a success.
 */
static void tally(const char *data_dir, const struct recd_mirror_stats *st, int rc)
{
    int64_t now = recd_now_us() / 1000000;
    struct recd_tally_field f[] = {
        {"copied", st->copied, 0}, {"skipped", st->skipped, 0},
        {"failed", st->failed, 0}, {"throttled", st->throttled, 0},
        {"bytes", st->bytes, 0},   {"runs", 1, 0},
        {"last_run", now, 1},      {"last_success", now, 1},
    };
    size_t n = sizeof f / sizeof f[0] - (rc == 0 && st->failed == 0 ? 0 : 1);
    int trc = recd_tally_add(data_dir, "mirror", f, n);
    if (trc < 0)
        recd_log_warn("mirror: cannot keep this run's counts for /metrics: %s", recd_err_name(trc));
}

/* Long because it owns the run's whole life in order: check the account here, start the bar and
 * the workers, walk, then close the queue and take everything down on every path. */
int recd_mirror_run(const struct recd_mirror_opts *o, struct recd_mirror_stats *stats, char *why,
                    size_t why_n)
{
    struct run run;
    memset(&run, 0, sizeof run);
    memset(stats, 0, sizeof *stats);
    run.o = o;
    run.into = o->into_sid ? o->into_sid : o->account_sid;
    run.base_len = strlen(o->base_url);
    while (run.base_len && o->base_url[run.base_len - 1] == '/')
        run.base_len--;
    snprintf(run.list_path, sizeof run.list_path, API_PREFIX "%s/Recordings.json", o->account_sid);
    run.max_attempts = o->max_attempts > 0 ? o->max_attempts : 6;
    run.backoff_ms = o->backoff_ms > 0 ? o->backoff_ms : 500;
    run.backoff_max_ms = o->backoff_max_ms > 0 ? o->backoff_max_ms : 30000;
    if (run.backoff_max_ms < run.backoff_ms)
        run.backoff_max_ms = run.backoff_ms;
    int n = o->concurrency > 0 ? o->concurrency : 4;
    run.slots = n;
    run.qcap = 2 * n;
    run.t0_us = recd_now_us();

    /* The account here must exist before anything is fetched. */
    struct recd_ctx ctx;
    int rc = recd_ctx_open_store(o->data_dir, o->store, &ctx);
    if (rc < 0) {
        snprintf(why, why_n, "cannot open the data folder %s", o->data_dir);
        return rc;
    }
    struct recd_account acc;
    rc = ctx.store->ops->account_get(ctx.store, run.into, &acc);
    recd_ctx_close(&ctx);
    if (rc < 0) {
        snprintf(why, why_n,
                 rc == RECD_E_NOT_FOUND ? "no account %s here (create it, or name another with --into)"
                                        : "cannot read account %s here",
                 run.into);
        return rc == RECD_E_NOT_FOUND ? RECD_E_BAD_INPUT : rc;
    }

    curl_global_init(CURL_GLOBAL_DEFAULT);
    pthread_mutex_init(&run.mu, NULL);
    pthread_cond_init(&run.cv, NULL);
    struct worker *ws = calloc((size_t)n, sizeof *ws);
    run.q = calloc((size_t)run.qcap, sizeof *run.q);
    struct conn cn;
    struct recd_mirror_page pg;
    recd_mirror_page_init(&pg);
    int started = 0, bar = 0;
    pthread_t bar_tid;
    rc = ws && run.q && conn_init(&cn, &run) == 0 ? 0 : RECD_E_INTERNAL;
    for (int i = 0; rc == 0 && i < n; i++) {
        struct worker *w = &ws[i];
        w->run = &run;
        recd_mirror_page_init(&w->pg);
        recd_buf_init(&w->text, 0);
        if (conn_init(&w->cn, &run) < 0 || (rc = recd_ctx_open_store(o->data_dir, o->store, &w->ctx)) < 0) {
            rc = rc < 0 ? rc : RECD_E_INTERNAL;
            snprintf(why, why_n, "cannot open the data folder %s", o->data_dir);
            conn_free(&w->cn);
            break;
        }
        w->ctx_open = 1;
        if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
            rc = RECD_E_INTERNAL;
            recd_ctx_close(&w->ctx);
            conn_free(&w->cn);
            w->ctx_open = 0;
            break;
        }
        started++;
    }
    if (rc == 0 && o->bar && pthread_create(&bar_tid, NULL, bar_thread, &run) == 0)
        bar = 1;
    if (rc == 0)
        rc = walk(&run, &cn, &pg, why, why_n);
    pthread_mutex_lock(&run.mu);
    run.closed = 1;
    pthread_cond_broadcast(&run.cv);
    pthread_mutex_unlock(&run.mu);
    for (int i = 0; i < started; i++) {
        pthread_join(ws[i].thread, NULL);
        recd_ctx_close(&ws[i].ctx);
        conn_free(&ws[i].cn);
        recd_mirror_page_free(&ws[i].pg);
        free(ws[i].trs);
        free(ws[i].offs);
        recd_buf_free(&ws[i].text);
    }
    if (bar) {
        pthread_mutex_lock(&run.mu);
        run.bar_stop = 1;
        pthread_cond_broadcast(&run.cv);
        pthread_mutex_unlock(&run.mu);
        pthread_join(bar_tid, NULL);
    }
    if (ws && run.q)
        conn_free(&cn);
    recd_mirror_page_free(&pg);
    free(run.q);
    free(ws);
    *stats = run.st;
    pthread_cond_destroy(&run.cv);
    pthread_mutex_destroy(&run.mu);
    tally(o->data_dir, stats, rc);
    return rc;
}
