#include "stt/worker.h"

#include "core/error.h"
#include "core/log.h"
#include "core/seal.h"
#include "core/sid.h"
#include "core/time.h"
#include "ops/metrics.h"
#include "service/service.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

/*
 * The worker pool (worker.h). Each thread owns a data-folder context (its own SQLite handle) and
 * an engine; they share only the stop flag and the condition variable that wakes idle workers.
 * The queue's guarantees are the store's (lease tokens in every write): this file decides when to
 * retry, what counts as a failure, and what the log says about each job.
 */

struct worker {
    struct recd_stt_workers *pool;
    pthread_t thread;
    int started;
    struct recd_ctx ctx;
    int ctx_open;
    struct recd_stt_engine *engine;
};

struct recd_stt_workers {
    struct recd_stt_worker_opts o;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stopping;
    unsigned wakes; /* bumped by recd_stt_workers_wake, so a wake between looks is not lost */
    unsigned n;
    struct worker *w;
};

/* What the tick of a running job needs: the job, and when its lease was last renewed. */
struct running {
    struct worker *w;
    const struct recd_transcription_job *job;
    int64_t renewed_us;
};

static int stopping(struct recd_stt_workers *p)
{
    pthread_mutex_lock(&p->mu);
    int s = p->stopping;
    pthread_mutex_unlock(&p->mu);
    return s;
}

/* Renews the lease every third of it; a lost lease or a cancelled job (the recording was deleted)
 * stops the engine, and so does a stopping server (the lease then lets the job run again). */
static int tick(void *arg)
{
    struct running *r = arg;
    struct recd_stt_workers *p = r->w->pool;
    if (stopping(p))
        return RECD_E_UNAVAILABLE;
    int64_t now = recd_now_us();
    if (now - r->renewed_us < p->o.lease_ms * 1000 / 3)
        return 0;
    struct recd_store *st = r->w->ctx.store;
    int rc = st->ops->job_renew(st, r->job->sid, r->job->lease, now, p->o.lease_ms * 1000);
    if (rc == 0)
        r->renewed_us = now;
    return rc == RECD_E_NOT_FOUND ? rc : 0;
}

/* The store keeps at most RECD_REASON_MAX bytes of reason: cut at a character boundary. */
static const char *cut_reason(const char *in, char out[RECD_REASON_MAX + 1])
{
    size_t n = strlen(in);
    if (n > RECD_REASON_MAX) {
        n = RECD_REASON_MAX;
        while (n && ((unsigned char)in[n] & 0xc0) == 0x80)
            n--;
    }
    memcpy(out, in, n);
    out[n] = '\0';
    return out;
}

/* Builds transcribeCallback's parameters (contract §8) and hands them to the pool's notifier. */
static void notify(struct worker *w, const struct recd_transcription_job *job,
                   const struct recd_transcription *t, const struct recd_recording *rec)
{
    const struct recd_stt_worker_opts *o = &w->pool->o;
    struct recd_store *st = w->ctx.store;
    struct recd_stt_param p[RECD_STT_PARAMS_MAX];
    struct recd_account acc;
    struct recd_call call;
    struct recd_buf text;
    char turl[600], rurl[600], token[33] = "";
    size_t n = 0;
    const char *base = o->base_url ? o->base_url : "";
    snprintf(turl, sizeof turl, "%s/2010-04-01/Accounts/%s/Recordings/%s/Transcriptions/%s", base,
             job->account_sid, job->recording_sid, job->sid);
    snprintf(rurl, sizeof rurl, "%s/2010-04-01/Accounts/%s/Recordings/%s", base, job->account_sid,
             job->recording_sid);
    recd_buf_init(&text, 0);
    recd_buf_add(&text, t->text ? t->text : "", t->text_null ? 0 : t->text_len);
    p[n++] = (struct recd_stt_param){"TranscriptionSid", job->sid};
    p[n++] = (struct recd_stt_param){"TranscriptionText", text.p};
    p[n++] = (struct recd_stt_param){"TranscriptionStatus", t->status};
    p[n++] = (struct recd_stt_param){"TranscriptionUrl", turl};
    p[n++] = (struct recd_stt_param){"RecordingSid", job->recording_sid};
    p[n++] = (struct recd_stt_param){"RecordingUrl", rurl};
    p[n++] = (struct recd_stt_param){"AccountSid", job->account_sid};
    p[n++] = (struct recd_stt_param){"ApiVersion", "2010-04-01"};
    if (rec && rec->call_sid[0]) {
        p[n++] = (struct recd_stt_param){"CallSid", rec->call_sid};
        if (st->ops->call_get(st, rec->call_sid, &call) == 0) {
            p[n++] = (struct recd_stt_param){"From", call.from_addr};
            p[n++] = (struct recd_stt_param){"To", call.to_addr};
            p[n++] = (struct recd_stt_param){"CallStatus", call.status};
            p[n++] = (struct recd_stt_param){"Direction", call.direction};
        }
    }
    int signed_ok = st->ops->account_get(st, job->account_sid, &acc) == 0 &&
                    recd_seal_open_secret(w->ctx.seal_key, acc.sid, acc.token_sealed, token) == 0;
    if (!signed_ok)
        recd_log_warn("transcription %s: the account's token cannot be opened; its callback goes unsigned",
                      job->sid);
    struct recd_stt_outcome out = {job, t, p, n, signed_ok ? token : NULL, signed_ok ? strlen(token) : 0};
    o->notify(o->notify_arg, &out);
    memset(token, 0, sizeof token);
    recd_buf_free(&text);
}

/* Ends the job for good and tells whoever asked. */
static void finish(struct worker *w, const struct recd_transcription_job *job,
                   const struct recd_recording *rec, const char *status, const char *text, size_t text_len,
                   int64_t duration_ms, int code, const char *reason, int64_t t0)
{
    struct recd_store *st = w->ctx.store;
    struct recd_transcription t;
    char r[RECD_REASON_MAX + 1];
    reason = cut_reason(reason, r);
    memset(&t, 0, sizeof t);
    memcpy(t.sid, job->sid, sizeof t.sid);
    memcpy(t.account_sid, job->account_sid, sizeof t.account_sid);
    memcpy(t.recording_sid, job->recording_sid, sizeof t.recording_sid);
    snprintf(t.status, sizeof t.status, "%s", status);
    snprintf(t.type, sizeof t.type, "fast");
    t.text = text;
    t.text_len = text_len;
    t.text_null = text == NULL;
    t.duration_ms = duration_ms;
    t.created_us = job->created_us;
    t.updated_us = recd_now_us();
    int rc = st->ops->job_finish(st, &t, job->lease, code, reason);
    double secs = (double)(recd_now_us() - t0) / 1e6;
    if (rc == RECD_E_NOT_FOUND) {
        recd_log_info("transcription %s of %s: dropped after %.2f s (cancelled, or rerun elsewhere)",
                      job->sid, job->recording_sid, secs);
        return;
    }
    if (rc < 0) {
        /* The lease runs out and the job is run again. */
        recd_log_error("transcription %s: cannot record its outcome (%s)", job->sid, recd_err_name(rc));
        return;
    }
    recd_metric_add(RECD_MET_STT_JOBS,
                    strcmp(status, "completed") == 0 ? RECD_STT_COMPLETED : RECD_STT_FAILED, 1);
    if (strcmp(status, "completed") == 0)
        recd_log_info(
            "transcription %s of %s: completed in %.2f s (%.1f s of audio, %.2fx real time), attempt %d, "
            "%zu bytes of text",
            job->sid, job->recording_sid, secs, (double)duration_ms / 1000,
            duration_ms ? secs * 1000 / (double)duration_ms : 0.0, job->attempts, text_len);
    else
        recd_log_info("transcription %s of %s: failed after %.2f s, attempt %d: %s", job->sid,
                      job->recording_sid, secs, job->attempts, reason);
    if (w->pool->o.notify && job->callback_url[0])
        notify(w, job, &t, rec);
}

/* Puts the job back with exponential backoff, or fails it when it has had its attempts. */
static void retry_or_fail(struct worker *w, const struct recd_transcription_job *job,
                          const struct recd_recording *rec, const char *why, int64_t t0)
{
    const struct recd_stt_worker_opts *o = &w->pool->o;
    struct recd_store *st = w->ctx.store;
    if (job->attempts >= o->max_attempts) {
        char reason[RECD_REASON_MAX + 1];
        snprintf(reason, sizeof reason, "gave up after %d attempts: %s", job->attempts, why);
        finish(w, job, rec, "failed", NULL, 0, rec ? rec->duration_ms : 0, 0, reason, t0);
        return;
    }
    int64_t backoff = o->retry_base_ms * 1000;
    for (int i = 1; i < job->attempts && backoff < INT64_C(3600000000); i++)
        backoff *= 2;
    int64_t now = recd_now_us();
    char r[RECD_REASON_MAX + 1];
    int rc = st->ops->job_retry(st, job->sid, job->lease, now + backoff, cut_reason(why, r), now);
    if (rc == 0)
        recd_metric_add(RECD_MET_STT_JOBS, RECD_STT_RETRIED, 1);
    if (rc == 0)
        recd_log_warn("transcription %s of %s: attempt %d failed (%s); again in %.1f s", job->sid,
                      job->recording_sid, job->attempts, why, (double)backoff / 1e6);
}

/* One attempt at one job, start to outcome. Long because each way it can end (cancelled, too
 * long, unreadable, engine error, success) is a branch here, in the order they can happen. */
static void run_job(struct worker *w, const struct recd_transcription_job *job)
{
    const struct recd_stt_worker_opts *o = &w->pool->o;
    struct recd_store *st = w->ctx.store;
    struct recd_recording rec;
    struct recd_stt_pcm pcm = {0};
    struct recd_stt_result res;
    char why[512] = "";
    int64_t t0 = recd_now_us();
    int fd = -1;
    recd_stt_result_init(&res);

    int rc = st->ops->recording_get(st, job->recording_sid, &rec);
    if (rc == RECD_E_NOT_FOUND || (rc == 0 && !recd_recording_has_media(&rec))) {
        /* Deleted since it was queued: its delete removes the job too, so this is a race that the
         * store settles; nothing is written. */
        recd_log_info("transcription %s: its recording is gone", job->sid);
        goto out;
    }
    if (rc < 0) {
        retry_or_fail(w, job, NULL, "cannot read the store", t0);
        goto out;
    }
    if (job->attempts > o->max_attempts) {
        /* Claimed again after its lease ran out each time: a job that kills its worker. */
        snprintf(why, sizeof why, "gave up after %d attempts: %s", job->attempts - 1,
                 job->reason[0] ? job->reason : "the worker stopped mid-job");
        finish(w, job, &rec, "failed", NULL, 0, rec.duration_ms, 0, why, t0);
        goto out;
    }
    if (rec.duration_ms > o->max_ms) {
        snprintf(why, sizeof why, "the recording is %lld s long; transcription is limited to %lld s",
                 (long long)((rec.duration_ms + 500) / 1000), (long long)(o->max_ms / 1000));
        finish(w, job, &rec, "failed", NULL, 0, rec.duration_ms, RECD_STT_TOO_LONG_CODE, why, t0);
        goto out;
    }
    int64_t size;
    rc = recd_media_open(st, w->ctx.blob, &rec, ".wav", &fd, &size);
    if (rc == RECD_E_NOT_FOUND) {
        recd_log_info("transcription %s: its recording's media is gone", job->sid);
        goto out;
    }
    if (rc == 0)
        rc = recd_stt_read_wav(fd, o->max_ms, &pcm, why, sizeof why);
    if (rc < 0) {
        if (!why[0])
            snprintf(why, sizeof why, "cannot read the recording's media");
        if (rc == RECD_E_BAD_INPUT || rc == RECD_E_TOO_LARGE)
            finish(w, job, &rec, "failed", NULL, 0, rec.duration_ms,
                   rc == RECD_E_TOO_LARGE ? RECD_STT_TOO_LONG_CODE : 0, why, t0);
        else
            retry_or_fail(w, job, &rec, why, t0);
        goto out;
    }
    struct running run = {w, job, recd_now_us()};
    rc = w->engine->ops->transcribe(w->engine, pcm.samples, pcm.n, pcm.rate, tick, &run, &res, why,
                                    sizeof why);
    if (rc == 0) {
        finish(w, job, &rec, "completed", res.text.p ? res.text.p : "", res.text.len, rec.duration_ms, 0, "",
               t0);
    } else if (rc == RECD_E_NOT_FOUND) {
        recd_log_info("transcription %s of %s: abandoned (cancelled, or its lease was lost)", job->sid,
                      job->recording_sid);
    } else if (rc == RECD_E_UNAVAILABLE && stopping(w->pool)) {
        /* Back in the queue at once, so the next start need not wait for the lease. */
        int64_t now = recd_now_us();
        st->ops->job_retry(st, job->sid, job->lease, now, "the server stopped mid-job", now);
        recd_log_info("transcription %s of %s: left for the next start (stopping)", job->sid,
                      job->recording_sid);
    } else if (rc == RECD_E_BAD_INPUT) {
        finish(w, job, &rec, "failed", NULL, 0, rec.duration_ms, 0, why, t0);
    } else {
        retry_or_fail(w, job, &rec, why, t0);
    }
out:
    if (fd >= 0)
        close(fd);
    free(pcm.samples);
    recd_stt_result_free(&res);
}

/* A fresh lease token: 128 bits from the OS generator, as hex. */
static int new_lease(char out[RECD_LEASE_LEN + 1])
{
    char sid[RECD_SID_LEN + 1];
    if (recd_sid_new(sid, "LE") < 0)
        return -1;
    memcpy(out, sid + 2, RECD_LEASE_LEN + 1);
    return 0;
}

/*
 * Loads the worker's engine when its first job arrives: a server with nothing to transcribe does
 * not pay for PocketSphinx's model (about a second of CPU and 110 MB). recd_stt_check passed at
 * start, so a failure here is the library's; the job goes back to the queue at once for another
 * worker, and this one tries again at its next job.
 */
static int load_engine(struct worker *w, const struct recd_transcription_job *job)
{
    struct recd_store *st = w->ctx.store;
    char why[256] = "";
    int64_t t0 = recd_now_us();
    if (recd_stt_open(&w->pool->o.engine, &w->engine, why, sizeof why) < 0) {
        char r[RECD_REASON_MAX + 1];
        recd_log_error("transcription worker: %s", why);
        int64_t now = recd_now_us();
        st->ops->job_retry(st, job->sid, job->lease, now + w->pool->o.retry_base_ms * 1000,
                           cut_reason(why, r), now);
        return -1;
    }
    recd_log_info("transcription worker: %s engine loaded in %.2f s", w->engine->ops->name,
                  (double)(recd_now_us() - t0) / 1e6);
    return 0;
}

/* Sleeps up to poll_ms, or until woken or stopped. */
static void idle(struct recd_stt_workers *p, unsigned seen)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    int64_t ns = until.tv_nsec + (int64_t)p->o.poll_ms * 1000000;
    until.tv_sec += ns / 1000000000;
    until.tv_nsec = ns % 1000000000;
    pthread_mutex_lock(&p->mu);
    while (!p->stopping && p->wakes == seen)
        if (pthread_cond_timedwait(&p->cv, &p->mu, &until) == ETIMEDOUT)
            break;
    pthread_mutex_unlock(&p->mu);
}

/*
 * Transcription is background work that can keep a core busy for minutes; requests are not. On
 * Linux a thread has a nice value of its own, so the worker raises its own (never lowers it: that
 * needs privilege), and the scheduler gives the HTTP threads the CPU first when both want it
 * (bench/stt.py measures the list page with every worker busy).
 */
static void lower_priority(int nice)
{
    if (nice <= 0)
        return;
    id_t tid = (id_t)gettid();
    errno = 0;
    int cur = getpriority(PRIO_PROCESS, tid);
    if ((cur == -1 && errno) || cur >= nice)
        return;
    if (setpriority(PRIO_PROCESS, tid, nice) < 0)
        recd_log_warn("transcription worker: cannot set its nice value to %d: %s", nice, strerror(errno));
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct recd_stt_workers *p = w->pool;
    struct recd_store *st = w->ctx.store;
    /* Named, so that an operator (top -H) and the bench can tell its CPU from the HTTP workers'. */
    (void)pthread_setname_np(pthread_self(), "recd-stt");
    lower_priority(p->o.nice);
    for (;;) {
        pthread_mutex_lock(&p->mu);
        unsigned seen = p->wakes;
        int stop = p->stopping;
        pthread_mutex_unlock(&p->mu);
        if (stop)
            break;
        struct recd_transcription_job job;
        char lease[RECD_LEASE_LEN + 1];
        int rc = new_lease(lease) < 0 ? RECD_E_INTERNAL : 0;
        if (rc == 0)
            rc = st->ops->job_claim(st, recd_now_us(), p->o.lease_ms * 1000, lease, &job);
        if (rc == 0) {
            if (w->engine || load_engine(w, &job) == 0) {
                run_job(w, &job);
                continue;
            }
        } else if (rc != RECD_E_NOT_FOUND) {
            recd_log_error("transcription worker: cannot claim a job (%s)", recd_err_name(rc));
        }
        idle(p, seen);
    }
    return NULL;
}

static void free_pool(struct recd_stt_workers *p)
{
    for (unsigned i = 0; i < p->n; i++) {
        if (p->w[i].engine)
            p->w[i].engine->ops->close(p->w[i].engine);
        if (p->w[i].ctx_open)
            recd_ctx_close(&p->w[i].ctx);
    }
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p->w);
    free(p);
}

int recd_stt_workers_start(const struct recd_stt_worker_opts *o, struct recd_stt_workers **out, char *why,
                           size_t why_n)
{
    *out = NULL;
    struct recd_stt_workers *p = calloc(1, sizeof *p);
    if (!p)
        return RECD_E_INTERNAL;
    p->o = *o;
    if (!p->o.workers)
        p->o.workers = 1;
    if (p->o.max_ms <= 0)
        p->o.max_ms = 120000;
    if (p->o.lease_ms <= 0)
        p->o.lease_ms = 30000;
    if (p->o.retry_base_ms <= 0)
        p->o.retry_base_ms = 5000;
    if (p->o.max_attempts <= 0)
        p->o.max_attempts = 4;
    if (!p->o.poll_ms)
        p->o.poll_ms = 1000;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    p->w = calloc(p->o.workers, sizeof *p->w);
    if (!p->w) {
        free_pool(p);
        return RECD_E_INTERNAL;
    }
    p->n = p->o.workers;
    int rc = 0;
    for (unsigned i = 0; i < p->n && rc == 0; i++) {
        struct worker *w = &p->w[i];
        w->pool = p;
        rc = recd_ctx_open_store(p->o.data_dir, p->o.store, &w->ctx);
        w->ctx_open = rc == 0;
        if (rc < 0)
            snprintf(why, why_n, "cannot open the %s", p->o.store ? "store" : "data folder");
    }
    /* The engine is checked here and loaded by each thread when its first job comes (load_engine). */
    if (rc == 0)
        rc = recd_stt_check(&p->o.engine, why, why_n);
    if (rc < 0) {
        free_pool(p);
        return rc;
    }
    for (unsigned i = 0; i < p->n; i++) {
        if (pthread_create(&p->w[i].thread, NULL, worker_main, &p->w[i]) != 0) {
            snprintf(why, why_n, "cannot start a transcription worker");
            recd_stt_workers_stop(p);
            return RECD_E_INTERNAL;
        }
        p->w[i].started = 1;
    }
    recd_log_info("transcription: %u worker%s at nice %d, engine %s%s%s, limit %lld s", p->n,
                  p->n == 1 ? "" : "s", p->o.nice,
                  o->engine.url && o->engine.url[0] ? "openai" : "pocketsphinx",
                  o->engine.url && o->engine.url[0] ? " at " : "",
                  o->engine.url && o->engine.url[0] ? o->engine.url : "", (long long)(p->o.max_ms / 1000));
    *out = p;
    return 0;
}

void recd_stt_workers_wake(struct recd_stt_workers *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    p->wakes++;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

void recd_stt_workers_stop(struct recd_stt_workers *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    p->stopping = 1;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (unsigned i = 0; i < p->n; i++)
        if (p->w[i].started)
            pthread_join(p->w[i].thread, NULL);
    free_pool(p);
}
