#include "stt/worker.h"

#include "core/cpu_wait.h"
#include "core/error.h"
#include "core/log.h"
#include "core/seal.h"
#include "core/sid.h"
#include "core/time.h"
#include "ops/metrics.h"
#include "service/service.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

/*
 * The worker pool (worker.h). Each worker is two threads:
 *
 *  - the job thread claims a job, reads its audio, renews its lease, writes its outcome and queues
 *    its callback. It runs at the process's priority: it holds the SQLite write lock at times, and
 *    a lease that lapses because its holder starved lets another worker run the job again;
 *  - the decoder thread runs the engine (loads it, transcribes), and nothing else: it takes no
 *    lock that a request thread takes, writes no log line, touches no store. So it can run under
 *    SCHED_IDLE (--transcribe-priority idle, the default), where any runnable thread of normal
 *    policy preempts it, without an HTTP thread ever waiting on it.
 *
 * The job thread hands the decoder one request at a time (struct decoder) and waits for it,
 * waking every third of the lease to renew it; a lost lease, a cancelled job or a stopping server
 * sets the decoder's abort code, which the engine's tick reads between blocks of audio.
 * The queue's guarantees are the store's (lease tokens in every write): this file decides when to
 * retry, what counts as a failure, and what the log says about each job.
 */

/* What the job thread and its decoder share. The decoder thread owns the engine and, once handed
 * over, the audio; after an abandoned stop (stop_decoder) it owns the whole struct. */
struct decoder {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t thread;
    int started;
    int busy;            /* a request is posted and not yet done */
    int quit;            /* set by stop: leave when idle */
    int exited;          /* the thread has left: the struct is the stopper's to free */
    int orphan;          /* the stopper gave up waiting: the thread frees the struct itself */
    atomic_int abort_rc; /* 0, or what the engine's tick returns to stop the transcription */
    /* The request, set before busy: the audio (owned by the decoder until done). */
    struct recd_stt_pcm pcm;
    /* The answer, valid once busy is 0 again. */
    int rc;
    int opened;    /* 1: the engine was loaded for this request, in load_us; -1: it failed to load */
    int load_news; /* set with opened = 1 for the job thread to log, which the decoder does not */
    int64_t load_us;
    char why[512];
    struct recd_stt_result res;
    /* The decoder thread's own. */
    struct recd_stt_config engine_cfg; /* a copy: an orphaned decoder outlives the pool */
    struct recd_stt_engine *engine;
    enum recd_stt_priority priority;
    int nice;
    int sched_rc; /* set by the thread at start: 0, or the errno of the refused scheduling call */
    int sched_done;
    int steps_aside;                  /* 1: pauses while request threads wait for a CPU (idle priority) */
    struct recd_cpu_wait_probe probe; /* their waits at the last look */
    int64_t probe_us;                 /* when that was (CLOCK_MONOTONIC) */
    int64_t paused_us;                /* time spent stepped aside in the current transcription */
};

struct worker {
    struct recd_stt_workers *pool;
    pthread_t thread;
    int started;
    struct recd_ctx ctx;
    int ctx_open;
    struct decoder *dec;
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

static int stopping(struct recd_stt_workers *p)
{
    pthread_mutex_lock(&p->mu);
    int s = p->stopping;
    pthread_mutex_unlock(&p->mu);
    return s;
}

static int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/*
 * A decoder at idle priority steps aside while a request thread (an HTTP loop, the SIP media
 * loop, the call engine: core/cpu_wait.h) waits for a CPU more than STEP_ASIDE_PERMILLE of the
 * wall time since the decoder's last look. SCHED_IDLE alone is not enough: a waking thread of
 * normal policy preempts an idle one at once, but while the CPUs are oversubscribed (the request
 * threads runnable and waiting) the fair scheduler still gives an idle thread a turn now and
 * then, and it keeps the CPU for a whole slice: milliseconds added to whichever requests were
 * waiting (bench/RESULTS.md, "Why busy SCHED_IDLE decoders still cost the p99"). A decoder that
 * sleeps is not runnable, so it cannot be given that turn. It looks again after a pause that
 * doubles while the wait goes on (STEP_ASIDE_MIN_US to _MAX_US), and decodes on once a pause
 * passed with no request thread waiting more than that; an abort ends the pause at its end (at
 * most STEP_ASIDE_MAX_US). The waits may be caused by other processes too: requests come first
 * whoever delays them, and on a machine that keeps them waiting, transcriptions wait (as under
 * SCHED_IDLE on a busy machine), their leases renewed by the job thread. A decoder whose
 * SCHED_IDLE was refused (seccomp) steps aside all the same: it runs at a nice value then, and
 * costs requests more.
 */
#define STEP_ASIDE_PERMILLE 50
#define STEP_ASIDE_MIN_US   INT64_C(10000)
#define STEP_ASIDE_MAX_US   INT64_C(200000)

/* 1 when a request thread waited for a CPU more than allowed since the last look. */
static int requests_wait(struct decoder *d)
{
    int64_t now = mono_us(), most = recd_cpu_wait_look(&d->probe);
    int64_t dt = now - d->probe_us;
    d->probe_us = now;
    return most > 0 && most * 1000 > dt * STEP_ASIDE_PERMILLE;
}

static void step_aside(struct decoder *d)
{
    if (!d->steps_aside || !requests_wait(d))
        return;
    int64_t pause = STEP_ASIDE_MIN_US, t0 = mono_us();
    while (!atomic_load_explicit(&d->abort_rc, memory_order_relaxed)) {
        struct timespec ts = {.tv_sec = (time_t)(pause / 1000000), .tv_nsec = (long)(pause % 1000000) * 1000};
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
            ;
        if (!requests_wait(d))
            break;
        pause = pause * 2 < STEP_ASIDE_MAX_US ? pause * 2 : STEP_ASIDE_MAX_US;
    }
    d->paused_us += mono_us() - t0;
}

/* The engine's tick, on the decoder thread between blocks of audio: steps aside for requests,
 * then reads what the job thread decided. */
static int decoder_tick(void *arg)
{
    struct decoder *d = arg;
    step_aside(d);
    return atomic_load_explicit(&d->abort_rc, memory_order_relaxed);
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

/* How long a stopping worker waits for its decoder to reach its next tick (a starved decoder may
 * take minutes: it is then left to end with the process, and its job goes back to the queue). */
#define STOP_GRACE_US INT64_C(3000000)

static void abs_time(struct timespec *ts, int64_t mono_us)
{
    ts->tv_sec = (time_t)(mono_us / 1000000);
    ts->tv_nsec = (long)(mono_us % 1000000) * 1000;
}

/* Logs, once, that the decoder has loaded its engine (called on the job thread, holding d->mu): as
 * soon as it has, not when the first transcription ends (a starved one may take minutes). */
static void log_load(struct decoder *d)
{
    if (!d->load_news)
        return;
    d->load_news = 0;
    recd_log_info("transcription worker: %s engine loaded in %.2f s", d->engine->ops->name,
                  (double)d->load_us / 1e6);
}

/*
 * Hands the audio to the decoder (which frees it) and waits for its answer, renewing the job's
 * lease every third of it meanwhile, here at the job thread's priority: a decoder that the
 * scheduler starves keeps its job. A lost lease or a cancelled job (the recording was deleted)
 * aborts the decoder at its next tick, and so does a stopping server. 0 when the decoder
 * answered (d->rc and the rest are then valid); RECD_E_UNAVAILABLE when the server is stopping
 * and the decoder did not answer within STOP_GRACE_US (it is still busy: leave it).
 */
static int await_decoder(struct worker *w, const struct recd_transcription_job *job, struct recd_stt_pcm *pcm)
{
    struct decoder *d = w->dec;
    struct recd_stt_workers *p = w->pool;
    struct recd_store *st = w->ctx.store;
    const int64_t period = p->o.lease_ms * 1000 / 3;
    int64_t next_renew = mono_us() + period, give_up = 0;
    int lost = 0;
    pthread_mutex_lock(&d->mu);
    d->pcm = *pcm;
    memset(pcm, 0, sizeof *pcm);
    atomic_store(&d->abort_rc, 0);
    d->busy = 1;
    pthread_cond_broadcast(&d->cv);
    while (d->busy) {
        int64_t now = mono_us();
        int64_t until = give_up ? give_up : next_renew;
        if (now < until) {
            struct timespec ts;
            abs_time(&ts, until);
            pthread_cond_timedwait(&d->cv, &d->mu, &ts);
            log_load(d);
            if (!d->busy)
                break;
        }
        pthread_mutex_unlock(&d->mu);
        now = mono_us();
        if (give_up && now >= give_up) {
            return RECD_E_UNAVAILABLE;
        } else if (!give_up && stopping(p)) {
            atomic_store(&d->abort_rc, RECD_E_UNAVAILABLE);
            give_up = now + STOP_GRACE_US;
        } else if (!give_up && !lost && now >= next_renew) {
            int rc = st->ops->job_renew(st, job->sid, job->lease, recd_now_us(), p->o.lease_ms * 1000);
            if (rc == RECD_E_NOT_FOUND) {
                lost = 1;
                atomic_store(&d->abort_rc, RECD_E_NOT_FOUND);
                next_renew = INT64_MAX / 2;
            } else {
                /* A failed renewal (the store busy) is tried again within a second. */
                next_renew = now + (rc == 0 ? period : (period < 1000000 ? period : 1000000));
            }
        }
        pthread_mutex_lock(&d->mu);
    }
    log_load(d);
    pthread_mutex_unlock(&d->mu);
    return 0;
}

/* One attempt at one job, start to outcome. Long because each way it can end (cancelled, too
 * long, unreadable, engine not loaded, engine error, success) is a branch here, in the order
 * they can happen. */
static void run_job(struct worker *w, const struct recd_transcription_job *job)
{
    const struct recd_stt_worker_opts *o = &w->pool->o;
    struct recd_store *st = w->ctx.store;
    struct decoder *d = w->dec;
    struct recd_recording rec;
    struct recd_stt_pcm pcm = {0};
    char why[512] = "";
    int64_t t0 = recd_now_us();
    int fd = -1;

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
    close(fd);
    fd = -1;
    if (await_decoder(w, job, &pcm) < 0) {
        /* Stopping, and the decoder is starved: back in the queue for the next start. */
        int64_t now = recd_now_us();
        st->ops->job_retry(st, job->sid, job->lease, now, "the server stopped mid-job", now);
        recd_log_info("transcription %s of %s: left for the next start (stopping; the decoder is still busy)",
                      job->sid, job->recording_sid);
        goto out;
    }
    rc = d->rc;
    snprintf(why, sizeof why, "%s", d->why);
    if (d->paused_us >= 1000)
        recd_log_info("transcription %s of %s: its decoder stepped aside for requests for %.2f s", job->sid,
                      job->recording_sid, (double)d->paused_us / 1e6);
    if (d->opened < 0) {
        /* recd_stt_check passed at start, so this is the library's failure: the job goes back to
         * the queue (for any worker), and this decoder tries to load the engine again next time. */
        char r[RECD_REASON_MAX + 1];
        recd_log_error("transcription worker: %s", why);
        int64_t now = recd_now_us();
        st->ops->job_retry(st, job->sid, job->lease, now + o->retry_base_ms * 1000, cut_reason(why, r), now);
    } else if (rc == 0) {
        finish(w, job, &rec, "completed", d->res.text.p ? d->res.text.p : "", d->res.text.len,
               rec.duration_ms, 0, "", t0);
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
 * Transcription is background work that can keep a core busy for minutes; requests are not. The
 * decoder thread lowers its own priority (Linux schedules threads, not processes, so the HTTP
 * threads keep theirs). SCHED_IDLE: any runnable thread of normal policy preempts it on wakeup,
 * and it gets a core only when nothing else wants it (weight 3 against 1024 for nice 0). An
 * unprivileged thread may enter SCHED_IDLE but not leave it, and may raise its nice value but not
 * lower it; so it never takes more than the process has. 0, or the errno of the refused call (a
 * seccomp filter: contrib/recd.service allows these two); a refused SCHED_IDLE falls back to the
 * nice value.
 */
static int lower_priority(enum recd_stt_priority pr, int nice)
{
    int idle_rc = 0;
    if (pr == RECD_STT_PRIORITY_IDLE) {
        struct sched_param sp = {0};
        /* pid 0 is the calling thread: sched_setscheduler acts on one thread. */
        if (sched_setscheduler(0, SCHED_IDLE, &sp) == 0)
            return 0;
        idle_rc = errno; /* then at least the nice value, if that is allowed */
    }
    id_t tid = (id_t)gettid();
    errno = 0;
    int cur = getpriority(PRIO_PROCESS, tid);
    if (nice <= 0 || (cur == -1 && errno) || cur >= nice)
        return idle_rc;
    if (setpriority(PRIO_PROCESS, tid, nice) < 0)
        return idle_rc ? idle_rc : errno;
    return idle_rc;
}

/* One request on the decoder thread: the engine (loaded on the first), then the transcription. */
static void decode(struct decoder *d)
{
    d->opened = 0;
    d->why[0] = '\0';
    d->rc = atomic_load(&d->abort_rc);
    if (d->rc == 0 && !d->engine) {
        int64_t t0 = recd_now_us();
        d->rc = recd_stt_open(&d->engine_cfg, &d->engine, d->why, sizeof d->why);
        if (d->rc < 0)
            d->engine = NULL;
        pthread_mutex_lock(&d->mu);
        d->load_us = recd_now_us() - t0;
        d->opened = d->rc == 0 ? 1 : -1;
        d->load_news = d->rc == 0;
        pthread_cond_broadcast(&d->cv);
        pthread_mutex_unlock(&d->mu);
    }
    d->probe_us = mono_us();
    (void)recd_cpu_wait_look(&d->probe); /* the baseline: what they waited before this job */
    d->paused_us = 0;
    if (d->rc == 0)
        d->rc = d->engine->ops->transcribe(d->engine, d->pcm.samples, d->pcm.n, d->pcm.rate, decoder_tick, d,
                                           &d->res, d->why, sizeof d->why);
    free(d->pcm.samples);
    memset(&d->pcm, 0, sizeof d->pcm);
}

static void decoder_free(struct decoder *d)
{
    if (d->engine)
        d->engine->ops->close(d->engine);
    free(d->pcm.samples);
    recd_stt_result_free(&d->res);
    pthread_mutex_destroy(&d->mu);
    pthread_cond_destroy(&d->cv);
    free(d);
}

static void *decoder_main(void *arg)
{
    struct decoder *d = arg;
    /* Named, so that an operator (top -H) and the bench can tell its CPU from the HTTP workers'. */
    (void)pthread_setname_np(pthread_self(), "recd-stt");
    int sched_rc = lower_priority(d->priority, d->nice);
    pthread_mutex_lock(&d->mu);
    d->sched_rc = sched_rc;
    d->sched_done = 1;
    pthread_cond_broadcast(&d->cv);
    for (;;) {
        while (!d->busy && !d->quit)
            pthread_cond_wait(&d->cv, &d->mu);
        if (!d->busy)
            break;
        pthread_mutex_unlock(&d->mu);
        decode(d);
        pthread_mutex_lock(&d->mu);
        d->busy = 0;
        pthread_cond_broadcast(&d->cv);
    }
    if (d->orphan) {
        pthread_mutex_unlock(&d->mu);
        decoder_free(d);
        return NULL;
    }
    d->exited = 1;
    pthread_cond_broadcast(&d->cv);
    pthread_mutex_unlock(&d->mu);
    return NULL;
}

static struct decoder *decoder_new(const struct recd_stt_worker_opts *o)
{
    struct decoder *d = calloc(1, sizeof *d);
    if (!d)
        return NULL;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_mutex_init(&d->mu, NULL);
    pthread_cond_init(&d->cv, &ca);
    pthread_condattr_destroy(&ca);
    atomic_init(&d->abort_rc, 0);
    recd_stt_result_init(&d->res);
    d->engine_cfg = o->engine;
    /* The external engine's thread mostly waits on the network, and its timeouts are wall-clock
     * ones that a starved thread would miss: it stays in the normal policy, at the nice value. */
    d->priority = o->engine.url && o->engine.url[0] ? RECD_STT_PRIORITY_NORMAL : o->priority;
    d->nice = o->nice;
    d->steps_aside = d->priority == RECD_STT_PRIORITY_IDLE;
    return d;
}

/*
 * Ends a decoder thread. An idle one leaves at once; a busy one (a starved decoder whose job
 * thread gave up waiting) is given until `deadline` (CLOCK_MONOTONIC, us) to reach its next tick,
 * which returns the abort code; past that it is detached and frees itself when it is done, or
 * ends with the process.
 */
static void decoder_stop(struct decoder *d, int64_t deadline)
{
    pthread_mutex_lock(&d->mu);
    d->quit = 1;
    atomic_store(&d->abort_rc, RECD_E_UNAVAILABLE);
    pthread_cond_broadcast(&d->cv);
    struct timespec ts;
    abs_time(&ts, deadline);
    while (!d->exited)
        if (pthread_cond_timedwait(&d->cv, &d->mu, &ts) == ETIMEDOUT)
            break;
    if (!d->exited) {
        pthread_t t = d->thread;
        d->orphan = 1;
        pthread_mutex_unlock(&d->mu);
        pthread_detach(t);
        recd_log_warn("transcription worker: its decoder did not stop within %.0f s (starved of CPU); "
                      "it ends with the process",
                      (double)STOP_GRACE_US / 1e6);
        return;
    }
    pthread_mutex_unlock(&d->mu);
    pthread_join(d->thread, NULL);
    decoder_free(d);
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct recd_stt_workers *p = w->pool;
    struct recd_store *st = w->ctx.store;
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
            run_job(w, &job);
            continue;
        } else if (rc != RECD_E_NOT_FOUND) {
            recd_log_error("transcription worker: cannot claim a job (%s)", recd_err_name(rc));
        }
        idle(p, seen);
    }
    return NULL;
}

/* Frees the pool; every decoder still here has been stopped (or never started). */
static void free_pool(struct recd_stt_workers *p)
{
    for (unsigned i = 0; i < p->n; i++) {
        if (p->w[i].dec)
            decoder_free(p->w[i].dec);
        if (p->w[i].ctx_open)
            recd_ctx_close(&p->w[i].ctx);
    }
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p->w);
    free(p);
}

static const char *priority_name(const struct recd_stt_worker_opts *o)
{
    if (o->engine.url && o->engine.url[0])
        return "normal (external engine)";
    return o->priority == RECD_STT_PRIORITY_IDLE ? "idle (SCHED_IDLE)" : "normal";
}

/* Starts each worker's decoder, then its job thread; a decoder that could not lower its priority
 * is reported once here (it cannot log from its own thread once it runs jobs: it takes no lock). */
static int start_threads(struct recd_stt_workers *p, char *why, size_t why_n)
{
    int refused = 0;
    for (unsigned i = 0; i < p->n; i++) {
        struct decoder *d = p->w[i].dec;
        if (pthread_create(&d->thread, NULL, decoder_main, d) != 0) {
            snprintf(why, why_n, "cannot start a transcription decoder");
            return RECD_E_INTERNAL;
        }
        d->started = 1;
        pthread_mutex_lock(&d->mu);
        while (!d->sched_done)
            pthread_cond_wait(&d->cv, &d->mu);
        if (d->sched_rc && !refused)
            refused = d->sched_rc;
        pthread_mutex_unlock(&d->mu);
        if (pthread_create(&p->w[i].thread, NULL, worker_main, &p->w[i]) != 0) {
            snprintf(why, why_n, "cannot start a transcription worker");
            return RECD_E_INTERNAL;
        }
        p->w[i].started = 1;
        /* Named here, not by the thread, so that it has its name once the server is listening. */
        (void)pthread_setname_np(p->w[i].thread, "recd-stt-job");
    }
    if (refused)
        recd_log_warn("transcription: cannot lower the decoders' priority to %s (%s); they compete with "
                      "requests (at nice %d if that was allowed; a seccomp filter? see contrib/recd.service)",
                      priority_name(&p->o), strerror(refused), p->o.nice);
    return 0;
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
        if (rc == 0 && !(w->dec = decoder_new(&p->o)))
            rc = RECD_E_INTERNAL;
    }
    /* The engine is checked here and loaded by each decoder when its first job comes (decode). */
    if (rc == 0)
        rc = recd_stt_check(&p->o.engine, why, why_n);
    if (rc < 0) {
        free_pool(p);
        return rc;
    }
    if ((rc = start_threads(p, why, why_n)) < 0) {
        recd_stt_workers_stop(p);
        return rc;
    }
    recd_log_info("transcription: %u worker%s, priority %s, nice %d, engine %s%s%s, limit %lld s", p->n,
                  p->n == 1 ? "" : "s", priority_name(&p->o), p->o.nice,
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
    /* A job thread waiting on its decoder waits on the decoder's condition variable. */
    for (unsigned i = 0; i < p->n; i++) {
        struct decoder *d = p->w[i].dec;
        if (!d)
            continue;
        pthread_mutex_lock(&d->mu);
        pthread_cond_broadcast(&d->cv);
        pthread_mutex_unlock(&d->mu);
    }
    for (unsigned i = 0; i < p->n; i++)
        if (p->w[i].started)
            pthread_join(p->w[i].thread, NULL);
    int64_t deadline = mono_us() + STOP_GRACE_US;
    for (unsigned i = 0; i < p->n; i++) {
        struct decoder *d = p->w[i].dec;
        if (d && d->started) {
            decoder_stop(d, deadline);
            p->w[i].dec = NULL;
        }
    }
    free_pool(p);
}
