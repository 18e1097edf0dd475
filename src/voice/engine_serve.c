#include "voice/engine_serve.h"

#include "core/cpu_wait.h"
#include "core/error.h"
#include "core/log.h"
#include "core/seal.h"
#include "core/sid.h"
#include "core/time.h"
#include "ops/metrics.h"
#include "service/service.h"
#include "store/store.h"
#include "voice/audio.h"
#include "voice/recorder.h"
#include "voice/say.h"
#include "voice/webhook.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <time.h>

/* How often the engine thread looks at plays and timers when something is playing: one RTP
 * packet. Otherwise it sleeps until the next event or the next engine deadline. */
#define POLL_MS 20
/* Audio of a <Record> is reported to the state machine in batches of at most this much (or when
 * silence starts or stops): silence and maxLength are counted to this precision. */
#define AUDIO_BATCH_MS 100
/* Queued to SIP ahead of what is heard: a <Play> or <Say> longer than this is fed in parts, so
 * recd_sip_play's 120 s bound never refuses it and play_clear drops little. */
#define PLAY_AHEAD_SAMPLES (8000 * 10)
/* <Say> renderings kept, in bytes of PCM. */
#define SAY_CACHE_BYTES (32u << 20)
/* How long a stop waits for calls to finish their last requests. */
#define STOP_WAIT_MS 5000
/* Threads that render <Say> and decode <Play> audio, off the engine thread (espeak-ng takes one
 * lock, so a second thread matters for decoding while a long text is spoken). */
#define WORKERS 2
/* Decoded <Play> audio kept, in bytes of PCM, and for how long an entry is reused: a <Play> URL
 * is fetched again at most every PLAY_CACHE_MAX_AGE_MS, so a changed file is heard within that
 * (docs/voice.md). */
#define PLAY_CACHE_BYTES      (64u << 20)
#define PLAY_CACHE_MAX_AGE_MS (300 * 1000)

enum ev_type {
    EV_NEW = 1, /* on_invite: create the state machine */
    EV_ANSWERED,
    EV_DIGIT,
    EV_AUDIO,
    EV_END,
    EV_FETCHED,
    EV_MEDIA, /* a <Play> URL's audio, decoded (or not) */
    EV_REC_DONE,
    EV_LIVE, /* an API command, answered through its own condition variable */
};

struct vcall;

struct live_req {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done;
    int rc;
    bool start;
    enum recd_engine_live_cmd cmd;
    bool skip;
    const char *account_sid, *call_sid, *rec_sid;
    const struct recd_engine_live_opts *opts;
    char sid[RECD_SID_LEN + 1];
    unsigned track; /* out: the recording's RecordingTrack */
};

struct ev {
    struct ev *next;
    enum ev_type type;
    struct vcall *call; /* holds a reference */
    uint64_t token;
    int err;
    long status;
    int twilio_code;
    char digit;
    unsigned ms, slot;
    bool silent;
    char *body, *url; /* EV_FETCHED */
    size_t len;
    struct recd_pcm pcm;        /* EV_MEDIA */
    struct recd_rec_result rec; /* EV_REC_DONE */
    struct live_req *live;
    struct recd_sip_call_stats stats; /* EV_END: the call's media counters */
    enum recd_sip_end_reason reason;  /* EV_END */
    uint64_t samples;                 /* EV_END: audio samples the call delivered */
};

/* What the SIP thread and the engine thread share about a recording slot, under vcall.mu. */
struct slot {
    struct recd_rec *rec;
    bool forward;         /* pass audio to it */
    char finish_keys[16]; /* <Record finishOnKey>: stop forwarding at once on these */
};

/* Work for the worker threads: speak a <Say>, or decode a fetched <Play> file. The result goes
 * back to the engine thread as EV_MEDIA with the play's token, as a webhook result does. */
struct job {
    struct job *next;
    struct vcall *call; /* holds a reference */
    uint64_t token;
    bool say;
    char *text, *voice, *language;   /* say */
    char *url, *body, *content_type; /* decode */
    size_t len;
};

/* Decoded <Play> audio by URL, least recently used first out; any thread, under mu. */
struct play_entry {
    struct play_entry *prev, *next;
    char *url;
    struct recd_pcm pcm;
    int64_t expires_ms; /* monotonic */
};

struct play_cache {
    pthread_mutex_t mu;
    struct play_entry *head, *tail; /* head: most recently used */
    size_t bytes;
    uint64_t hits, misses;
};

/* One call: the SIP side, the state machine and what the adapter keeps for it. */
struct vcall {
    struct recd_engine_serve *srv;
    atomic_int refs;
    struct recd_sip_call *sip;
    struct recd_engine_call *eng; /* engine thread only */
    struct vcall *next;           /* the engine thread's list */
    char sid[RECD_SID_LEN + 1];
    struct recd_number number; /* the number called, as looked up */
    char from[RECD_ADDR_MAX + 1], to[RECD_ADDR_MAX + 1];
    char token[33]; /* the account's auth token, for signatures ("" if unavailable) */
    bool finished;
    _Atomic bool counted_active; /* in recd_calls_active: from its first live row to its final one */

    pthread_mutex_t mu;
    struct slot slots[1 + RECD_ENGINE_MAX_LIVE];
    /* Dual recordings among the slots: the SIP thread takes the lock for what it sends only then. */
    atomic_int dual;
    /* SIP thread only: the batch of <Record> audio not yet reported. */
    unsigned batch_ms;
    bool batch_silent;
    uint64_t samples; /* SIP thread only: audio delivered, for the end-of-call log line */

    /* Engine thread only: the play in progress. */
    uint64_t play_token;
    struct recd_pcm play_pcm;
    size_t play_off;
    bool play_waiting_media; /* a <Play> URL is being fetched */
    int64_t play_until_ms;   /* a pause or digits: done at this time; 0 = by the SIP queue */
};

struct recd_engine_serve {
    char *data_dir, *base_url;
    char *store;             /* NULL: the data folder's */
    struct recd_ctx ctx;     /* the engine thread's */
    struct recd_ctx sip_ctx; /* the SIP thread's, opened on first use */
    bool sip_ctx_open;
    struct recd_recorder *rec;
    struct recd_webhook *wh;
    struct recd_say *say;
    struct recd_sip *sip;
    struct recd_pcm beep;
    struct play_cache play_cache;

    /* The workers' queue. */
    pthread_t workers[WORKERS];
    int n_workers;
    pthread_mutex_t job_mu;
    pthread_cond_t job_cv;
    struct job *job_head, *job_tail;
    bool job_quit;

    pthread_t thread;
    bool thread_started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct ev *head, *tail;
    bool quit;
    atomic_int ncalls;
    struct vcall *calls; /* engine thread only */
    /* Engine thread only: the call rows written since the last commit (one write transaction per
     * turn of the engine loop), and the webhook requests held until that commit. */
    bool txn;
    struct outbox *out_head, **out_tail;
};

static int64_t mono_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void vcall_ref(struct vcall *c)
{
    atomic_fetch_add(&c->refs, 1);
}

static void vcall_unref(struct vcall *c)
{
    if (atomic_fetch_sub(&c->refs, 1) != 1)
        return;
    if (atomic_load(&c->counted_active)) /* ended without a final row (the server stopped) */
        recd_metric_gauge_add(RECD_MET_CALLS_ACTIVE, 0, -1);
    recd_engine_call_free(c->eng);
    recd_pcm_free(&c->play_pcm);
    if (c->sip)
        recd_sip_call_unref(c->sip);
    pthread_mutex_destroy(&c->mu);
    atomic_fetch_sub(&c->srv->ncalls, 1);
    free(c);
}

static struct ev *ev_new(enum ev_type type, struct vcall *c)
{
    struct ev *e = calloc(1, sizeof *e);
    if (!e)
        return NULL;
    e->type = type;
    e->call = c;
    if (c)
        vcall_ref(c);
    return e;
}

static void live_answer(struct live_req *lr, int rc)
{
    pthread_mutex_lock(&lr->mu);
    lr->rc = rc;
    lr->done = true;
    pthread_cond_signal(&lr->cv);
    pthread_mutex_unlock(&lr->mu);
}

static void ev_free(struct ev *e)
{
    if (e->live) /* not handled: the engine stopped */
        live_answer(e->live, RECD_E_UNAVAILABLE);
    if (e->call)
        vcall_unref(e->call);
    free(e->body);
    free(e->url);
    recd_pcm_free(&e->pcm);
    free(e);
}

/* Any thread. An event that cannot be allocated is lost and logged: the machine is out of
 * memory, and the call's timers still end it. */
static void post(struct recd_engine_serve *s, struct ev *e)
{
    if (!e) {
        recd_log_error("voice: out of memory, an event was dropped");
        return;
    }
    pthread_mutex_lock(&s->mu);
    if (s->tail)
        s->tail->next = e;
    else
        s->head = e;
    s->tail = e;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

/* ---- The SIP thread's side: enqueue, or O(1) work. ---- */

static enum recd_sip_decision on_invite(void *arg, struct recd_sip_call *call,
                                        const struct recd_sip_call_info *info, void **call_arg)
{
    struct recd_engine_serve *s = arg;
    if (!s->sip_ctx_open) {
        if (recd_ctx_open_store(s->data_dir, s->store, &s->sip_ctx) < 0)
            return RECD_SIP_UNAVAILABLE;
        s->sip_ctx_open = true;
    }
    struct vcall *c = calloc(1, sizeof *c);
    if (!c)
        return RECD_SIP_UNAVAILABLE;
    int rc = s->sip_ctx.store->ops->number_get_by_number(s->sip_ctx.store, info->number, &c->number);
    if (rc < 0) {
        free(c);
        if (rc != RECD_E_NOT_FOUND)
            recd_log_error("voice: looking up number %s: %s", info->number, recd_err_name(rc));
        return rc == RECD_E_NOT_FOUND ? RECD_SIP_NOT_FOUND : RECD_SIP_UNAVAILABLE;
    }
    if (recd_sid_new(c->sid, "CA") < 0) {
        free(c);
        return RECD_SIP_UNAVAILABLE;
    }
    c->srv = s;
    atomic_init(&c->refs, 2); /* the engine thread's list, and the SIP side until on_end */
    pthread_mutex_init(&c->mu, NULL);
    snprintf(c->from, sizeof c->from, "%s", info->from);
    snprintf(c->to, sizeof c->to, "%s", info->to[0] ? info->to : info->number);
    recd_sip_call_ref(call);
    c->sip = call;
    atomic_fetch_add(&s->ncalls, 1);
    post(s, ev_new(EV_NEW, c));
    *call_arg = c;
    return RECD_SIP_RING;
}

static void on_audio(void *call_arg, const int16_t *pcm, size_t samples)
{
    struct vcall *c = call_arg;
    bool report = false, silent = false;
    unsigned ms = 0;
    c->samples += samples;
    pthread_mutex_lock(&c->mu);
    for (unsigned i = 0; i <= RECD_ENGINE_MAX_LIVE; i++)
        if (c->slots[i].rec && c->slots[i].forward)
            recd_rec_audio(c->slots[i].rec, pcm, samples);
    if (c->slots[0].rec && c->slots[0].forward) {
        /* <Record> needs to know about silence; batch it so the queue sees a few events a second. */
        bool s_now = recd_audio_is_silent(pcm, samples) != 0;
        unsigned frame_ms = (unsigned)(samples / 8);
        if (c->batch_ms && s_now != c->batch_silent) {
            report = true;
            ms = c->batch_ms;
            silent = c->batch_silent;
            c->batch_ms = 0;
        }
        c->batch_silent = s_now;
        c->batch_ms += frame_ms;
        if (!report && c->batch_ms >= AUDIO_BATCH_MS) {
            report = true;
            ms = c->batch_ms;
            silent = c->batch_silent;
            c->batch_ms = 0;
        }
    }
    pthread_mutex_unlock(&c->mu);
    if (report) {
        struct ev *e = ev_new(EV_AUDIO, c);
        if (e) {
            e->ms = ms;
            e->silent = silent;
        }
        post(c->srv, e);
    }
}

/* What recd sent to the caller: the second channel of the call's dual recordings. */
static void on_sent(void *call_arg, const int16_t *pcm, size_t samples)
{
    struct vcall *c = call_arg;
    if (atomic_load_explicit(&c->dual, memory_order_relaxed) == 0)
        return;
    pthread_mutex_lock(&c->mu);
    for (unsigned i = 0; i <= RECD_ENGINE_MAX_LIVE; i++)
        if (c->slots[i].rec && c->slots[i].forward)
            recd_rec_audio_sent(c->slots[i].rec, pcm, samples);
    pthread_mutex_unlock(&c->mu);
}

static void on_digit(void *call_arg, char digit, enum recd_rtp_digit_source source)
{
    (void)source;
    struct vcall *c = call_arg;
    pthread_mutex_lock(&c->mu);
    /* The key's tone must not reach the file: stop at once, before the engine thread hears. */
    if (c->slots[0].rec && c->slots[0].forward && strchr(c->slots[0].finish_keys, digit))
        c->slots[0].forward = false;
    pthread_mutex_unlock(&c->mu);
    struct ev *e = ev_new(EV_DIGIT, c);
    if (e)
        e->digit = digit;
    post(c->srv, e);
}

static void on_answered(void *call_arg)
{
    struct vcall *c = call_arg;
    post(c->srv, ev_new(EV_ANSWERED, c));
}

static void on_end(void *call_arg, enum recd_sip_end_reason reason, const struct recd_sip_call_stats *stats)
{
    struct vcall *c = call_arg;
    struct ev *e = ev_new(EV_END, c);
    if (e) {
        e->stats = *stats;
        e->reason = reason;
        e->samples = c->samples;
    }
    post(c->srv, e);
    vcall_unref(c); /* no SIP callback follows */
}

/* ---- The <Play> cache. ---- */

static size_t entry_bytes(const struct play_entry *e)
{
    return e->pcm.n * sizeof(int16_t) + strlen(e->url) + sizeof *e;
}

static void entry_unlink(struct play_cache *pc, struct play_entry *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        pc->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        pc->tail = e->prev;
    pc->bytes -= entry_bytes(e);
}

static void entry_free(struct play_entry *e)
{
    recd_pcm_free(&e->pcm);
    free(e->url);
    free(e);
}

static int pcm_copy(const struct recd_pcm *from, struct recd_pcm *to)
{
    *to = (struct recd_pcm){0};
    if (!from->n)
        return 0;
    to->samples = malloc(from->n * sizeof(int16_t));
    if (!to->samples)
        return RECD_E_INTERNAL;
    memcpy(to->samples, from->samples, from->n * sizeof(int16_t));
    to->n = from->n;
    return 0;
}

/* A copy of the audio of `url` if it is cached and fresh: 1 and *out, else 0 (expired entries
 * go). The copy is one memcpy of at most ten minutes of audio, on the engine thread. */
static int play_cache_get(struct play_cache *pc, const char *url, struct recd_pcm *out)
{
    int found = 0;
    int64_t now = mono_now_ms();
    pthread_mutex_lock(&pc->mu);
    for (struct play_entry *e = pc->head; e; e = e->next) {
        if (strcmp(e->url, url) != 0)
            continue;
        entry_unlink(pc, e);
        if (now >= e->expires_ms) {
            entry_free(e);
            break;
        }
        e->prev = NULL;
        e->next = pc->head;
        if (pc->head)
            pc->head->prev = e;
        pc->head = e;
        if (!pc->tail)
            pc->tail = e;
        pc->bytes += entry_bytes(e);
        found = pcm_copy(&e->pcm, out) == 0;
        break;
    }
    if (found)
        pc->hits++;
    else
        pc->misses++;
    pthread_mutex_unlock(&pc->mu);
    return found;
}

/* Keeps a copy of `pcm` for `url`, replacing an older one and dropping the least recently used
 * entries past PLAY_CACHE_BYTES. Audio larger than a quarter of the cache is not kept, so one
 * long file cannot empty it. Failing to cache only costs a later fetch. */
static void play_cache_put(struct play_cache *pc, const char *url, const struct recd_pcm *pcm)
{
    if (pcm->n * sizeof(int16_t) > PLAY_CACHE_BYTES / 4)
        return;
    struct play_entry *n = calloc(1, sizeof *n);
    if (!n)
        return;
    n->url = strdup(url);
    if (!n->url || pcm_copy(pcm, &n->pcm) < 0) {
        entry_free(n);
        return;
    }
    n->expires_ms = mono_now_ms() + PLAY_CACHE_MAX_AGE_MS;
    pthread_mutex_lock(&pc->mu);
    for (struct play_entry *e = pc->head; e; e = e->next) {
        if (strcmp(e->url, url) == 0) {
            entry_unlink(pc, e);
            entry_free(e);
            break;
        }
    }
    n->next = pc->head;
    if (pc->head)
        pc->head->prev = n;
    pc->head = n;
    if (!pc->tail)
        pc->tail = n;
    pc->bytes += entry_bytes(n);
    while (pc->bytes > PLAY_CACHE_BYTES && pc->tail != n) {
        struct play_entry *old = pc->tail;
        entry_unlink(pc, old);
        entry_free(old);
    }
    pthread_mutex_unlock(&pc->mu);
}

static void play_cache_clear(struct play_cache *pc)
{
    while (pc->head) {
        struct play_entry *e = pc->head;
        entry_unlink(pc, e);
        entry_free(e);
    }
}

/* ---- The workers: <Say> and decoding, whose results come back as EV_MEDIA. ---- */

static void job_free(struct job *j)
{
    if (j->call)
        vcall_unref(j->call);
    free(j->text);
    free(j->voice);
    free(j->language);
    free(j->url);
    free(j->body);
    free(j->content_type);
    free(j);
}

/* Any thread. Takes `j` whatever happens; RECD_E_UNAVAILABLE once the workers stopped. */
static int job_post(struct recd_engine_serve *s, struct job *j)
{
    pthread_mutex_lock(&s->job_mu);
    bool quit = s->job_quit || s->n_workers == 0;
    if (!quit) {
        if (s->job_tail)
            s->job_tail->next = j;
        else
            s->job_head = j;
        s->job_tail = j;
        pthread_cond_signal(&s->job_cv);
    }
    pthread_mutex_unlock(&s->job_mu);
    if (quit) {
        job_free(j);
        return RECD_E_UNAVAILABLE;
    }
    return 0;
}

static void job_run(struct recd_engine_serve *s, struct job *j)
{
    struct ev *e = ev_new(EV_MEDIA, j->call);
    struct recd_pcm pcm = {0};
    int rc;
    if (j->say) {
        rc = recd_say_render(s->say, j->text, j->voice, j->language, &pcm);
    } else {
        rc = recd_audio_decode(j->body, j->len, j->content_type, &pcm);
        if (rc == 0)
            play_cache_put(&s->play_cache, j->url, &pcm);
    }
    if (e) {
        e->token = j->token;
        e->err = rc;
        e->pcm = pcm;
    } else {
        recd_pcm_free(&pcm);
    }
    post(s, e);
}

static void *worker_main(void *arg)
{
    struct recd_engine_serve *s = arg;
    (void)pthread_setname_np(pthread_self(), "recd-voicework"); /* for top -H, perf and bench/calls.py */
    recd_cpu_wait_watch_self(); /* a caller waits for its <Play> and <Say>: see core/cpu_wait.h */
    for (;;) {
        pthread_mutex_lock(&s->job_mu);
        while (!s->job_head && !s->job_quit)
            pthread_cond_wait(&s->job_cv, &s->job_mu);
        struct job *j = s->job_head;
        if (j) {
            s->job_head = j->next;
            if (!s->job_head)
                s->job_tail = NULL;
        }
        pthread_mutex_unlock(&s->job_mu);
        if (!j)
            break; /* quit, and nothing left */
        job_run(s, j);
        job_free(j);
    }
    recd_cpu_wait_unwatch_self();
    return NULL;
}

static char *dup_or_null(const char *p)
{
    return p ? strdup(p) : NULL;
}

/* ---- Callbacks from the webhook and recorder threads: copy, enqueue. ---- */

struct fetch_arg {
    struct vcall *call;
    uint64_t token;
    char *url; /* a <Play> fetch's URL, else NULL */
};

/* A webhook request held until the call rows written before it have committed (see io_row). */
struct outbox {
    struct outbox *next;
    struct vcall *call; /* holds a reference */
    bool notify, method_get;
    uint64_t token;
    char *url;
    struct recd_form form;
};

static char *dup_n(const char *p, size_t n)
{
    char *d = malloc(n + 1);
    if (d) {
        if (n)
            memcpy(d, p, n);
        d[n] = '\0';
    }
    return d;
}

static void fetched_cb(void *arg, const struct recd_webhook_result *res)
{
    struct fetch_arg *fa = arg;
    struct ev *e = ev_new(EV_FETCHED, fa->call);
    if (e) {
        e->token = fa->token;
        e->err = res->err;
        e->status = res->status;
        e->twilio_code = res->twilio_code;
        if (res->body) {
            e->body = dup_n(res->body, res->body_len);
            e->len = e->body ? res->body_len : 0;
        }
        e->url = res->url ? dup_n(res->url, strlen(res->url)) : NULL;
        if (res->err == 0 && res->body && !e->body)
            e->err = RECD_E_INTERNAL;
    }
    post(fa->call->srv, e);
    vcall_unref(fa->call);
    free(fa);
}

/* A <Play> file arrived: a worker decodes it (an MP3 takes a moment; the webhook thread has
 * other requests to serve) and caches it. A failed fetch goes straight back. */
static void media_cb(void *arg, const struct recd_webhook_result *res)
{
    struct fetch_arg *fa = arg;
    struct recd_engine_serve *s = fa->call->srv;
    int err = res->err;
    if (err == 0) {
        struct job *j = calloc(1, sizeof *j);
        err = RECD_E_INTERNAL;
        if (j) {
            vcall_ref(fa->call);
            j->call = fa->call;
            j->token = fa->token;
            j->url = fa->url; /* the URL asked for: the cache's key */
            fa->url = NULL;
            j->content_type = dup_or_null(res->content_type);
            j->body = res->body_len ? malloc(res->body_len) : NULL;
            j->len = res->body_len;
            if (j->body)
                memcpy(j->body, res->body, res->body_len);
            if (!j->url || (res->content_type && !j->content_type) || (res->body_len && !j->body))
                job_free(j);
            else
                err = job_post(s, j);
        }
    }
    if (err < 0) {
        struct ev *e = ev_new(EV_MEDIA, fa->call);
        if (e) {
            e->token = fa->token;
            e->err = err;
        }
        post(s, e);
    }
    vcall_unref(fa->call);
    free(fa->url);
    free(fa);
}

struct rec_arg {
    struct vcall *call;
    unsigned slot;
};

static void rec_done_cb(void *arg, const struct recd_rec_result *res)
{
    struct rec_arg *ra = arg;
    struct ev *e = ev_new(EV_REC_DONE, ra->call);
    if (e) {
        e->slot = ra->slot;
        e->rec = *res;
    }
    post(ra->call->srv, e);
    vcall_unref(ra->call);
    free(ra);
}

/* ---- The engine io: runs on the engine thread, inside a state machine's event. ---- */

static int64_t io_now_us(void *arg)
{
    (void)arg;
    return recd_now_us();
}

static int64_t io_mono_ms(void *arg)
{
    (void)arg;
    return mono_now_ms();
}

static void io_row(void *arg, const struct recd_engine_row *r, bool insert)
{
    struct vcall *c = arg;
    struct recd_store *st = c->srv->ctx.store;
    struct recd_call row;
    memset(&row, 0, sizeof row);
    snprintf(row.sid, sizeof row.sid, "%s", c->sid);
    snprintf(row.account_sid, sizeof row.account_sid, "%s", c->number.account_sid);
    snprintf(row.number_sid, sizeof row.number_sid, "%s", c->number.sid);
    snprintf(row.from_addr, sizeof row.from_addr, "%s", c->from);
    snprintf(row.to_addr, sizeof row.to_addr, "%s", c->to);
    snprintf(row.status, sizeof row.status, "%s", r->status);
    snprintf(row.direction, sizeof row.direction, "inbound");
    int64_t now = recd_now_us();
    row.created_us = now;
    row.updated_us = now;
    row.start_us = r->start_us;
    row.end_us = r->end_us;
    row.duration_ms = r->duration_ms;
    row.error_code = r->error_code;
    /*
     * Rows are written in one transaction per turn of the engine loop (commit_turn), not one each:
     * a commit waits for the disk (about 4 ms here), three a call made the disk the limit on call
     * setups (about 80 a second) and held every other call's events, <Record> among them, behind
     * it. A failed BEGIN leaves the write to commit on its own.
     */
    if (!c->srv->txn && st->ops->begin(st) == 0)
        c->srv->txn = true;
    int rc = insert ? st->ops->call_insert(st, &row) : st->ops->call_update(st, &row);
    if (rc < 0)
        recd_log_error("voice: call %s: writing its row (%s): %s", c->sid, r->status, recd_err_name(rc));
    bool live = recd_call_status_live(r->status);
    if (atomic_exchange(&c->counted_active, live) != live)
        recd_metric_gauge_add(RECD_MET_CALLS_ACTIVE, 0, live ? 1 : -1);
    int status = live ? -1 : recd_metric_call_status(r->status);
    if (status >= 0)
        recd_metric_add(RECD_MET_CALLS, (unsigned)status, 1);
}

static int form_of(const struct recd_engine_request *req, struct recd_form *f)
{
    recd_form_init(f);
    for (size_t i = 0; i < req->n_params; i++) {
        int rc = recd_form_add(f, req->params[i].name, req->params[i].value);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* Hands one request to the webhook client: a fetch reports back as EV_FETCHED, a notification
 * is sent and forgotten. `rc` is form_of's result. */
static void send_request(struct vcall *c, bool notify, const char *url, bool method_get, struct recd_form *f,
                         uint64_t token, int rc)
{
    struct recd_webhook_req wr = {
        .url = url,
        .method_get = method_get,
        .params = f,
        .token = c->token[0] ? c->token : NULL,
        .token_len = strlen(c->token),
    };
    if (rc == 0 && notify) {
        rc = recd_webhook_notify(c->srv->wh, &wr);
    } else if (rc == 0) {
        struct fetch_arg *fa = calloc(1, sizeof *fa);
        if (!fa) {
            rc = RECD_E_INTERNAL;
        } else {
            fa->call = c;
            fa->token = token;
            vcall_ref(c);
            rc = recd_webhook_fetch(c->srv->wh, &wr, fetched_cb, fa);
            if (rc < 0) {
                vcall_unref(c);
                free(fa);
            }
        }
    }
    if (rc < 0 && !notify) {
        /* Report the failure as the fetch's result, through the queue (not re-entrantly). */
        struct ev *e = ev_new(EV_FETCHED, c);
        if (e) {
            e->token = token;
            e->err = rc;
        }
        post(c->srv, e);
        rc = 0;
    }
    if (rc < 0)
        recd_log_warn("voice: call %s: callback to %s not sent: %s", c->sid, url, recd_err_name(rc));
}

/*
 * While call rows wait for their commit, requests wait too, in order: the application must find
 * the call's row when its voice URL is asked (it may read /Calls/CA…), and `completed` there when
 * the status callback says so. What does not go outside (answering, playing, recording) is not held.
 */
static void io_fetch(void *arg, const struct recd_engine_request *req)
{
    struct vcall *c = arg;
    struct recd_engine_serve *s = c->srv;
    struct recd_form f;
    int rc = form_of(req, &f);
    bool notify = req->kind == RECD_ENGINE_FETCH_NOTIFY;
    struct outbox *o = s->txn && rc == 0 ? calloc(1, sizeof *o) : NULL;
    if (o && (o->url = strdup(req->url)) != NULL) {
        vcall_ref(c);
        o->call = c;
        o->notify = notify;
        o->method_get = req->method_get;
        o->token = req->token;
        o->form = f;
        *s->out_tail = o;
        s->out_tail = &o->next;
        return;
    }
    free(o); /* not held (no transaction, or out of memory): sent now */
    send_request(c, notify, req->url, req->method_get, &f, req->token, rc);
    recd_form_free(&f);
}

/* The end of a turn of the engine loop: commits the rows written in it, then sends what waited. */
static void commit_turn(struct recd_engine_serve *s)
{
    if (s->txn) {
        struct recd_store *st = s->ctx.store;
        int rc = st->ops->commit(st);
        if (rc < 0) {
            recd_log_error("voice: committing call rows: %s", recd_err_name(rc));
            (void)st->ops->rollback(st);
        }
        s->txn = false;
    }
    struct outbox *o = s->out_head;
    s->out_head = NULL;
    s->out_tail = &s->out_head;
    while (o) {
        struct outbox *next = o->next;
        send_request(o->call, o->notify, o->url, o->method_get, &o->form, o->token, 0);
        recd_form_free(&o->form);
        vcall_unref(o->call);
        free(o->url);
        free(o);
        o = next;
    }
}

static void io_answer(void *arg)
{
    struct vcall *c = arg;
    recd_sip_answer(c->sip);
}

static void io_reject(void *arg, bool busy)
{
    struct vcall *c = arg;
    recd_sip_reject(c->sip, busy ? RECD_SIP_BUSY : RECD_SIP_REJECTED);
}

static void io_hangup(void *arg)
{
    struct vcall *c = arg;
    recd_sip_hangup(c->sip);
}

/* Queues more of the current play's audio while SIP holds less than PLAY_AHEAD_SAMPLES. */
static void play_feed(struct vcall *c)
{
    if (!c->play_pcm.n)
        return;
    size_t pending = recd_sip_play_pending(c->sip);
    if (pending >= PLAY_AHEAD_SAMPLES)
        return;
    size_t n = c->play_pcm.n - c->play_off;
    if (n > PLAY_AHEAD_SAMPLES)
        n = PLAY_AHEAD_SAMPLES;
    if (recd_sip_play(c->sip, c->play_pcm.samples + c->play_off, n) < 0)
        n = c->play_pcm.n - c->play_off; /* the call ended or the queue refused: give up on it */
    c->play_off += n;
    if (c->play_off >= c->play_pcm.n) {
        recd_pcm_free(&c->play_pcm);
        c->play_off = 0;
    }
}

static void play_pcm(struct vcall *c, struct recd_pcm *pcm)
{
    recd_pcm_free(&c->play_pcm);
    c->play_pcm = *pcm;
    c->play_off = 0;
    *pcm = (struct recd_pcm){0};
    play_feed(c);
}

static void io_play(void *arg, const struct recd_engine_play *p)
{
    struct vcall *c = arg;
    struct recd_engine_serve *s = c->srv;
    c->play_token = p->token;
    c->play_until_ms = 0;
    c->play_waiting_media = false;
    struct recd_pcm pcm = {0};
    int rc = 0;
    switch (p->kind) {
    case RECD_ENGINE_PLAY_SAY: {
        /* espeak-ng takes long over a new text: a worker speaks it, the cache answers repeats. */
        struct job *j = calloc(1, sizeof *j);
        rc = RECD_E_INTERNAL;
        if (j) {
            vcall_ref(c);
            j->call = c;
            j->token = p->token;
            j->say = true;
            j->text = strdup(p->text ? p->text : "");
            j->voice = dup_or_null(p->voice);
            j->language = dup_or_null(p->language);
            if (!j->text || (p->voice && !j->voice) || (p->language && !j->language))
                job_free(j);
            else
                rc = job_post(s, j);
        }
        c->play_waiting_media = rc == 0;
        break;
    }
    case RECD_ENGINE_PLAY_BEEP: rc = recd_sip_play(c->sip, s->beep.samples, s->beep.n); break;
    case RECD_ENGINE_PLAY_SILENCE:
        /* The endpoint sends silence when nothing is queued: a pause is only a timer. */
        c->play_until_ms = mono_now_ms() + p->ms;
        break;
    case RECD_ENGINE_PLAY_DIGITS: {
        rc = recd_sip_send_digits(c->sip, p->digits);
        /* The endpoint plays each digit for about 100 ms with a gap, "w" for 500 ms. */
        int64_t ms = 0;
        for (const char *d = p->digits; *d; d++)
            ms += *d == 'w' ? 500 : 200;
        c->play_until_ms = mono_now_ms() + ms;
        break;
    }
    case RECD_ENGINE_PLAY_URL: {
        if (play_cache_get(&s->play_cache, p->url, &pcm)) {
            play_pcm(c, &pcm);
            break;
        }
        struct fetch_arg *fa = calloc(1, sizeof *fa);
        rc = fa ? 0 : RECD_E_INTERNAL;
        if (fa) {
            fa->call = c;
            fa->token = p->token;
            fa->url = strdup(p->url);
            vcall_ref(c);
            rc = fa->url ? recd_webhook_get_media(s->wh, p->url, 0, media_cb, fa) : RECD_E_INTERNAL;
            if (rc < 0) {
                vcall_unref(c);
                free(fa->url);
                free(fa);
            }
        }
        c->play_waiting_media = rc == 0;
        break;
    }
    }
    if (rc < 0) {
        /* Reported through the queue so that the state machine is not re-entered. */
        struct ev *e = ev_new(EV_MEDIA, c);
        if (e) {
            e->token = p->token;
            e->err = rc;
        }
        c->play_waiting_media = true;
        post(s, e);
    }
}

static void io_play_clear(void *arg)
{
    struct vcall *c = arg;
    c->play_token = 0;
    c->play_until_ms = 0;
    c->play_waiting_media = false;
    recd_pcm_free(&c->play_pcm);
    c->play_off = 0;
    recd_sip_play_clear(c->sip);
}

static int io_rec_start(void *arg, const struct recd_engine_rec_opts *o, char sid[RECD_SID_LEN + 1])
{
    struct vcall *c = arg;
    struct recd_rec_params p = {
        .account_sid = c->number.account_sid,
        .call_sid = c->sid,
        .source = o->source,
        .trim_silence = o->trim_silence,
        .transcribe = o->transcribe,
        .transcribe_callback = o->transcribe_callback,
        .channels = o->channels == 2 ? 2 : 1,
        .track = (enum recd_rec_track)o->track,
    };
    struct recd_rec *r = NULL;
    int rc = recd_rec_begin(c->srv->rec, &p, &r, sid);
    if (rc < 0)
        return rc;
    pthread_mutex_lock(&c->mu);
    struct slot *sl = &c->slots[o->slot];
    sl->rec = r;
    sl->forward = true;
    if (recd_rec_channels(r) == 2)
        atomic_fetch_add(&c->dual, 1);
    snprintf(sl->finish_keys, sizeof sl->finish_keys, "%s", o->finish_on_key ? o->finish_on_key : "");
    if (o->slot == RECD_ENGINE_SLOT_VERB)
        c->batch_ms = 0;
    pthread_mutex_unlock(&c->mu);
    return 0;
}

static void io_rec_pause(void *arg, unsigned slot, bool skip)
{
    struct vcall *c = arg;
    pthread_mutex_lock(&c->mu);
    /* Audio keeps going to the recorder, which drops it, or writes silence in its place for
     * PauseBehavior=silence, on every channel alike. */
    if (c->slots[slot].rec) {
        recd_rec_pause(c->slots[slot].rec, skip);
    }
    pthread_mutex_unlock(&c->mu);
}

static void io_rec_resume(void *arg, unsigned slot)
{
    struct vcall *c = arg;
    pthread_mutex_lock(&c->mu);
    if (c->slots[slot].rec) {
        recd_rec_resume(c->slots[slot].rec);
        c->slots[slot].forward = true;
    }
    pthread_mutex_unlock(&c->mu);
}

static void io_rec_drop_tail(void *arg, unsigned slot, unsigned ms)
{
    struct vcall *c = arg;
    pthread_mutex_lock(&c->mu);
    if (c->slots[slot].rec)
        recd_rec_drop_tail(c->slots[slot].rec, ms);
    pthread_mutex_unlock(&c->mu);
}

static void io_rec_finish(void *arg, unsigned slot)
{
    struct vcall *c = arg;
    pthread_mutex_lock(&c->mu);
    struct recd_rec *r = c->slots[slot].rec;
    c->slots[slot].rec = NULL;
    c->slots[slot].forward = false;
    if (r && recd_rec_channels(r) == 2)
        atomic_fetch_sub(&c->dual, 1);
    pthread_mutex_unlock(&c->mu);
    if (!r)
        return;
    struct rec_arg *ra = malloc(sizeof *ra);
    if (!ra)
        abort(); /* 16 bytes; without it the recording could not be finished */
    ra->call = c;
    ra->slot = slot;
    vcall_ref(c);
    recd_rec_finish(r, rec_done_cb, ra);
}

static void io_log(void *arg, int code, const char *message)
{
    struct vcall *c = arg;
    recd_log_warn("voice: call %s: %d %s", c->sid, code, message);
}

static void io_finished(void *arg)
{
    struct vcall *c = arg;
    c->finished = true;
}

static const struct recd_engine_io IO_TEMPLATE = {
    .now_us = io_now_us,
    .mono_ms = io_mono_ms,
    .row = io_row,
    .fetch = io_fetch,
    .answer = io_answer,
    .reject = io_reject,
    .hangup = io_hangup,
    .play = io_play,
    .play_clear = io_play_clear,
    .rec_start = io_rec_start,
    .rec_pause = io_rec_pause,
    .rec_resume = io_rec_resume,
    .rec_drop_tail = io_rec_drop_tail,
    .rec_finish = io_rec_finish,
    .log = io_log,
    .finished = io_finished,
};

/* ---- The engine thread. ---- */

/* The account's auth token in clear, for X-Twilio-Signature; "" when it cannot be had. */
static void load_token(struct recd_engine_serve *s, struct vcall *c)
{
    struct recd_account a;
    c->token[0] = '\0';
    if (s->ctx.store->ops->account_get(s->ctx.store, c->number.account_sid, &a) < 0 ||
        recd_seal_open_secret(s->ctx.seal_key, a.sid, a.token_sealed, c->token) < 0) {
        c->token[0] = '\0';
        recd_log_error("voice: call %s: the auth token of %s cannot be opened; requests go unsigned", c->sid,
                       c->number.account_sid);
    }
}

static void start_call(struct recd_engine_serve *s, struct vcall *c)
{
    load_token(s, c);
    struct recd_engine_io io = IO_TEMPLATE;
    io.arg = c;
    struct recd_engine_call_info info = {
        .account_sid = c->number.account_sid,
        .call_sid = c->sid,
        .from = c->from,
        .to = c->to,
        .voice_url = c->number.voice_url,
        .voice_get = strcmp(c->number.voice_method, "GET") == 0,
        .fallback_url = c->number.voice_fallback_url,
        .fallback_get = strcmp(c->number.voice_fallback_method, "GET") == 0,
        .status_callback = c->number.status_callback,
        .status_callback_get = strcmp(c->number.status_callback_method, "GET") == 0,
        .base_url = s->base_url,
    };
    /* The list owns the reference taken in on_invite. */
    c->next = s->calls;
    s->calls = c;
    if (recd_engine_call_new(&info, &io, &c->eng) < 0) {
        recd_log_error("voice: call %s: number %s has an unusable voice URL", c->sid, c->number.phone_number);
        recd_sip_reject(c->sip, RECD_SIP_UNAVAILABLE);
        c->finished = true; /* its end event still comes, and is ignored */
    }
}

static struct vcall *find_call(struct recd_engine_serve *s, const char *account_sid, const char *call_sid)
{
    for (struct vcall *c = s->calls; c; c = c->next)
        if (c->eng && !c->finished && strcmp(c->sid, call_sid) == 0 &&
            strcmp(c->number.account_sid, account_sid) == 0)
            return c;
    return NULL;
}

static void do_live(struct recd_engine_serve *s, struct live_req *lr)
{
    struct vcall *c = find_call(s, lr->account_sid, lr->call_sid);
    int rc = RECD_E_NOT_FOUND;
    if (c && lr->start) {
        rc = recd_engine_live_start(c->eng, lr->opts, lr->sid);
        lr->track = lr->opts->track;
    } else if (c) {
        const char *sid = lr->rec_sid;
        if (strcmp(sid, "Twilio.CURRENT") == 0)
            sid = recd_engine_live_current(c->eng);
        int track = sid ? recd_engine_live_track(c->eng, sid) : -1; /* before a stop forgets it */
        lr->track = track < 0 ? RECD_ENGINE_TRACK_BOTH : (unsigned)track;
        rc = sid ? recd_engine_live_cmd(c->eng, sid, lr->cmd, lr->skip) : RECD_E_NOT_FOUND;
        if (rc == 0)
            snprintf(lr->sid, sizeof lr->sid, "%s", sid);
    }
    live_answer(lr, rc);
}

/*
 * One line per call with its media counters (docs/voice.md, "The call's log line"): how an
 * operator tells a bad network from a bad recording, and what `make bench-calls SERVE=1` counts.
 * Written by the engine thread, never the SIP thread.
 */
static void log_media(const struct vcall *c, enum recd_sip_end_reason reason,
                      const struct recd_sip_call_stats *st, uint64_t samples)
{
    static const char *const why[] = {"?", "bye", "local", "cancel", "timeout", "error", "session-expired"};
    recd_log_info(
        "voice: call %s ended (%s): rtp received=%llu lost=%llu late=%llu duplicates=%llu invalid=%llu "
        "foreign=%llu sent=%llu silence=%llu jitter=%u samples=%llu",
        c->sid, (unsigned)reason < sizeof why / sizeof why[0] ? why[reason] : "?",
        (unsigned long long)st->rx.received, (unsigned long long)st->rx.lost, (unsigned long long)st->rx.late,
        (unsigned long long)st->rx.duplicates, (unsigned long long)st->rx.invalid,
        (unsigned long long)st->foreign, (unsigned long long)st->sent, (unsigned long long)st->rx.silence,
        st->rx.jitter, (unsigned long long)samples);
}

/* One event. Long only because it is one switch over every event type. */
static void handle(struct recd_engine_serve *s, struct ev *e)
{
    struct vcall *c = e->call;
    if (e->type == EV_LIVE) {
        do_live(s, e->live);
        e->live = NULL;
        return;
    }
    if (e->type == EV_NEW) {
        start_call(s, c);
        return;
    }
    if (e->type == EV_END)
        log_media(c, e->reason, &e->stats, e->samples);
    if (!c->eng || c->finished)
        return;
    switch (e->type) {
    case EV_ANSWERED: recd_engine_answered(c->eng); break;
    case EV_DIGIT: recd_engine_digit(c->eng, e->digit); break;
    case EV_AUDIO: recd_engine_audio(c->eng, e->ms, e->silent); break;
    case EV_END: recd_engine_ended(c->eng); break;
    case EV_FETCHED:
        recd_engine_fetched(c->eng, e->token, e->err, e->status, e->twilio_code, e->body, e->len, e->url);
        break;
    case EV_MEDIA:
        if (e->token != c->play_token || !c->play_waiting_media)
            break;
        c->play_waiting_media = false;
        if (e->err < 0) {
            c->play_token = 0;
            recd_engine_play_done(c->eng, e->token, e->err);
        } else {
            play_pcm(c, &e->pcm);
        }
        break;
    case EV_REC_DONE: {
        struct recd_engine_rec_result r = {
            .status = e->rec.status,
            .error_code = e->rec.error_code,
            .duration_ms = e->rec.duration_ms,
            .start_us = e->rec.start_us,
            .channels = e->rec.channels,
        };
        recd_engine_rec_done(c->eng, e->slot, &r);
        break;
    }
    default: break;
    }
}

/* Plays, pauses and engine timers of every call; returns how long the thread may sleep. */
static int64_t poll_calls(struct recd_engine_serve *s)
{
    int64_t now = mono_now_ms(), sleep_ms = 1000;
    struct vcall **pp = &s->calls;
    while (*pp) {
        struct vcall *c = *pp;
        if (c->eng && !c->finished) {
            if (c->play_token && !c->play_waiting_media) {
                play_feed(c);
                bool done = c->play_until_ms ? now >= c->play_until_ms
                                             : !c->play_pcm.n && recd_sip_play_pending(c->sip) == 0;
                if (done) {
                    uint64_t t = c->play_token;
                    c->play_token = 0;
                    recd_engine_play_done(c->eng, t, 0);
                }
                if (c->play_token)
                    sleep_ms = POLL_MS;
            }
            if (!c->finished) {
                int64_t d = recd_engine_deadline(c->eng);
                if (d <= now) {
                    recd_engine_tick(c->eng);
                    d = recd_engine_deadline(c->eng);
                }
                if (d != INT64_MAX && d - now < sleep_ms)
                    sleep_ms = d - now < 1 ? 1 : d - now;
            }
        }
        if (c->finished) {
            *pp = c->next;
            vcall_unref(c);
            continue;
        }
        pp = &c->next;
    }
    return sleep_ms;
}

static void *engine_main(void *arg)
{
    struct recd_engine_serve *s = arg;
    (void)pthread_setname_np(pthread_self(), "recd-engine"); /* for top -H, perf and bench/calls.py */
    recd_cpu_wait_watch_self();                              /* calls' turns are timed: see core/cpu_wait.h */
    int64_t sleep_ms = 0;
    for (;;) {
        pthread_mutex_lock(&s->mu);
        if (!s->head && !s->quit && sleep_ms > 0) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += sleep_ms / 1000;
            ts.tv_nsec += (sleep_ms % 1000) * 1000000;
            if (ts.tv_nsec >= 1000000000) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000;
            }
            pthread_cond_timedwait(&s->cv, &s->mu, &ts);
        }
        struct ev *list = s->head;
        s->head = s->tail = NULL;
        bool quit = s->quit;
        pthread_mutex_unlock(&s->mu);
        while (list) {
            struct ev *e = list;
            list = e->next;
            handle(s, e);
            ev_free(e);
        }
        sleep_ms = poll_calls(s);
        commit_turn(s);
        if (quit)
            break;
    }
    recd_cpu_wait_unwatch_self();
    return NULL;
}

/* ---- Start-up and stop. ---- */

/* The end of the last audio any recording of `call` holds, or 0: after a crash, the latest time
 * the call is known to have been up (the recorder has finished those recordings by then). */
static int64_t last_audio_us(struct recd_store *st, const struct recd_call *call)
{
    struct recd_list_query q;
    recd_list_query_init(&q, call->account_sid);
    q.call_sid = call->sid;
    struct recd_page pg;
    recd_page_init(&pg);
    int64_t end = 0;
    if (st->ops->recording_page(st, &q, &pg) == 0) {
        for (int i = 0; i < pg.count; i++) {
            const struct recd_recording *r = &pg.recordings[i];
            if (r->start_us && r->start_us + r->duration_ms * 1000 > end)
                end = r->start_us + r->duration_ms * 1000;
        }
    }
    recd_page_free(&pg);
    return end;
}

/*
 * When the calls the last run left live were last heard: the newest write to the spool of any
 * recording they were making (the recorder appends the audio every RECD_REC_DRAIN_MS while a call
 * is up, so a spool's mtime is the call's last audio to within that). Read before the recorder's
 * recovery finishes those recordings and removes their spools.
 */
struct spool_end {
    char sid[RECD_SID_LEN + 1]; /* the call's */
    int64_t end_us;
};
struct spool_ends {
    struct recd_store *st;
    int spool_fd;
    struct spool_end *v;
    size_t n, cap;
};

static int spool_end_of(void *ctx, const struct recd_call *call)
{
    struct spool_ends *se = ctx;
    struct recd_list_query q;
    recd_list_query_init(&q, call->account_sid);
    q.call_sid = call->sid;
    struct recd_page pg;
    recd_page_init(&pg);
    int64_t end = 0;
    if (se->st->ops->recording_page(se->st, &q, &pg) == 0) {
        for (int i = 0; i < pg.count; i++) {
            const struct recd_recording *r = &pg.recordings[i];
            char name[64];
            struct stat sb;
            if (!recd_recording_in_progress(r) || !recd_sid_valid(r->sid, strlen(r->sid), "RE", 1))
                continue;
            snprintf(name, sizeof name, "%.34s.spool", r->sid);
            if (fstatat(se->spool_fd, name, &sb, AT_SYMLINK_NOFOLLOW) == 0) {
                int64_t t = (int64_t)sb.st_mtim.tv_sec * 1000000 + sb.st_mtim.tv_nsec / 1000;
                end = t > end ? t : end;
            }
        }
    }
    recd_page_free(&pg);
    if (end && se->n == se->cap) {
        size_t cap = se->cap ? se->cap * 2 : 16;
        struct spool_end *v = realloc(se->v, cap * sizeof *v);
        if (!v)
            return 0; /* the end is then known less exactly: not a reason to stop */
        se->v = v;
        se->cap = cap;
    }
    if (end) {
        memcpy(se->v[se->n].sid, call->sid, sizeof se->v[se->n].sid);
        se->v[se->n++].end_us = end;
    }
    return 0;
}

/* A call the last run left live: it ended when the server died. The last evidence of it is the
 * newest of: its spools' last writes, the end of its recordings' audio, its row's last write. */
static int end_live_call(void *ctx, const struct recd_call *call)
{
    const struct spool_ends *se = ctx;
    struct recd_store *st = se->st;
    struct recd_call c = *call;
    int64_t now = recd_now_us();
    if (c.start_us) {
        snprintf(c.status, sizeof c.status, "%s", RECD_CALL_COMPLETED);
        int64_t audio = last_audio_us(st, &c);
        c.end_us = audio > c.updated_us ? audio : c.updated_us;
        for (size_t i = 0; i < se->n; i++)
            if (strcmp(se->v[i].sid, c.sid) == 0 && se->v[i].end_us > c.end_us)
                c.end_us = se->v[i].end_us;
        if (c.end_us < c.start_us)
            c.end_us = c.start_us;
        c.duration_ms = (c.end_us - c.start_us) / 1000;
    } else {
        snprintf(c.status, sizeof c.status, "%s", RECD_CALL_FAILED);
        c.end_us = c.updated_us ? c.updated_us : now;
    }
    c.updated_us = now;
    int rc = st->ops->call_update(st, &c);
    if (rc < 0)
        recd_log_error("voice: ending call %s left by the last run: %s", c.sid, recd_err_name(rc));
    return 0;
}

/* Long because start-up is a fixed order (store handles, the recorder, the spools' last writes,
 * its crash recovery, the calls left by the last run, then the threads), and each step unwinds the ones
 * before it on failure. */
int recd_engine_serve_start(const struct recd_engine_serve_opts *o, struct recd_engine_serve **out)
{
    *out = NULL;
    struct recd_engine_serve *s = calloc(1, sizeof *s);
    if (!s)
        return RECD_E_INTERNAL;
    s->data_dir = strdup(o->data_dir);
    s->base_url = strdup(o->base_url);
    s->store = o->store ? strdup(o->store) : NULL;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    pthread_mutex_init(&s->job_mu, NULL);
    pthread_cond_init(&s->job_cv, NULL);
    pthread_mutex_init(&s->play_cache.mu, NULL);
    atomic_init(&s->ncalls, 0);
    s->out_tail = &s->out_head;
    int rc = RECD_E_INTERNAL;
    if (!s->data_dir || !s->base_url || (o->store && !s->store))
        goto fail;
    rc = recd_ctx_open_store(o->data_dir, o->store, &s->ctx);
    if (rc < 0)
        goto fail;

    /* The recorder's writer thread owns a store handle of its own. */
    struct recd_ctx rctx;
    rc = recd_ctx_open_store(o->data_dir, o->store, &rctx);
    if (rc < 0)
        goto fail;
    char spool[4096];
    snprintf(spool, sizeof spool, "%s/spool", o->data_dir);
    struct recd_recorder_opts ro = {.store = rctx.store, .blob = s->ctx.blob, .spool_dir = spool};
    rc = recd_recorder_start(&ro, &s->rec);
    if (rc == 0)
        rctx.store = NULL; /* the recorder owns it now */
    recd_ctx_close(&rctx);
    if (rc < 0) {
        recd_log_error("voice: the recorder did not start: %s", recd_err_name(rc));
        goto fail;
    }
    struct spool_ends ends = {.st = s->ctx.store,
                              .spool_fd = open(spool, O_RDONLY | O_DIRECTORY | O_CLOEXEC)};
    if (ends.spool_fd >= 0)
        (void)s->ctx.store->ops->call_scan_live(s->ctx.store, spool_end_of, &ends);
    if (ends.spool_fd >= 0)
        close(ends.spool_fd);
    int64_t recovered = 0;
    rc = recd_recorder_recover(s->rec, &recovered);
    if (rc < 0) {
        free(ends.v);
        recd_log_error("voice: finishing the last run's recordings: %s", recd_err_name(rc));
        goto fail;
    }
    if (recovered)
        recd_log_info("voice: finished %lld recordings left in progress by the last run",
                      (long long)recovered);
    rc = s->ctx.store->ops->call_scan_live(s->ctx.store, end_live_call, &ends);
    free(ends.v);
    if (rc < 0)
        goto fail;

    struct recd_webhook_opts wo = {.timeout_ms = o->webhook_timeout_ms, .ca_file = o->webhook_ca_file};
    rc = recd_webhook_start(&wo, &s->wh);
    if (rc < 0)
        goto fail;
    rc = recd_say_open(SAY_CACHE_BYTES, &s->say);
    if (rc < 0)
        goto fail;
    rc = recd_audio_beep(&s->beep);
    if (rc < 0)
        goto fail;
    for (int i = 0; i < WORKERS; i++) {
        if (pthread_create(&s->workers[i], NULL, worker_main, s) != 0) {
            rc = RECD_E_INTERNAL;
            goto fail;
        }
        s->n_workers++;
    }
    if (pthread_create(&s->thread, NULL, engine_main, s) != 0) {
        rc = RECD_E_INTERNAL;
        goto fail;
    }
    s->thread_started = true;
    struct recd_sip_handler h = {
        .on_invite = on_invite,
        .on_audio = on_audio,
        .on_sent = on_sent,
        .on_digit = on_digit,
        .on_answered = on_answered,
        .on_end = on_end,
        .arg = s,
    };
    rc = recd_sip_start(&o->sip, &h, &s->sip);
    if (rc < 0)
        goto fail;
    *out = s;
    return 0;
fail:
    recd_engine_serve_stop(s);
    return rc;
}

static void wait_calls(struct recd_engine_serve *s, int64_t ms)
{
    int64_t until = mono_now_ms() + ms;
    while (atomic_load(&s->ncalls) > 0 && mono_now_ms() < until) {
        struct timespec ts = {0, 20 * 1000000};
        nanosleep(&ts, NULL);
    }
}

/* The order matters: SIP first (no new calls; every call's end is queued), then the webhook
 * client and the recorder, whose last results still go through the engine thread, which stops
 * last. */
void recd_engine_serve_stop(struct recd_engine_serve *s)
{
    if (!s)
        return;
    recd_sip_stop(s->sip);
    s->sip = NULL;
    if (s->thread_started)
        wait_calls(s, STOP_WAIT_MS);
    recd_webhook_stop(s->wh);
    s->wh = NULL;
    /* The workers finish what is queued (their results still reach the engine thread). */
    pthread_mutex_lock(&s->job_mu);
    s->job_quit = true;
    pthread_cond_broadcast(&s->job_cv);
    pthread_mutex_unlock(&s->job_mu);
    for (int i = 0; i < s->n_workers; i++)
        pthread_join(s->workers[i], NULL);
    s->n_workers = 0;
    if (s->thread_started)
        wait_calls(s, 1000);
    if (s->rec)
        recd_recorder_stop(s->rec);
    s->rec = NULL;
    if (s->thread_started) {
        pthread_mutex_lock(&s->mu);
        s->quit = true;
        pthread_cond_signal(&s->cv);
        pthread_mutex_unlock(&s->mu);
        pthread_join(s->thread, NULL);
    }
    while (s->head) {
        struct ev *e = s->head;
        s->head = e->next;
        if (e->type == EV_NEW) /* never joined the list: drop the list's reference too */
            vcall_unref(e->call);
        ev_free(e);
    }
    while (s->calls) {
        struct vcall *c = s->calls;
        s->calls = c->next;
        vcall_unref(c);
    }
    if (s->say)
        recd_say_close(s->say);
    play_cache_clear(&s->play_cache);
    pthread_mutex_destroy(&s->play_cache.mu);
    pthread_mutex_destroy(&s->job_mu);
    pthread_cond_destroy(&s->job_cv);
    recd_pcm_free(&s->beep);
    if (s->sip_ctx_open)
        recd_ctx_close(&s->sip_ctx);
    recd_ctx_close(&s->ctx);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    free(s->data_dir);
    free(s->base_url);
    free(s->store);
    free(s);
}

uint16_t recd_engine_serve_sip_port(const struct recd_engine_serve *s)
{
    return recd_sip_port(s->sip);
}

/* Posts an API command to the engine thread and waits for its answer. The engine thread answers
 * every command it takes, and a stop answers those left in the queue (ev_free), so this cannot
 * wait forever; a command is a lookup and a few io calls, so it waits little. */
static int live_call(struct recd_engine_serve *s, struct live_req *lr)
{
    pthread_mutex_init(&lr->mu, NULL);
    pthread_cond_init(&lr->cv, NULL);
    struct ev *e = ev_new(EV_LIVE, NULL);
    if (!e)
        return RECD_E_INTERNAL;
    e->live = lr;
    post(s, e);
    pthread_mutex_lock(&lr->mu);
    while (!lr->done)
        pthread_cond_wait(&lr->cv, &lr->mu);
    pthread_mutex_unlock(&lr->mu);
    pthread_mutex_destroy(&lr->mu);
    pthread_cond_destroy(&lr->cv);
    return lr->rc;
}

_Static_assert(RECD_ENGINE_TRACK_INBOUND == (int)RECD_REC_TRACK_INBOUND &&
                   RECD_ENGINE_TRACK_OUTBOUND == (int)RECD_REC_TRACK_OUTBOUND &&
                   RECD_ENGINE_TRACK_BOTH == (int)RECD_REC_TRACK_BOTH,
               "the engine's RecordingTrack numbers are the recorder's");

int recd_engine_serve_live_start(struct recd_engine_serve *s, const char *account_sid, const char *call_sid,
                                 const struct recd_engine_live_opts *o, char sid[RECD_SID_LEN + 1])
{
    struct live_req lr = {.start = true, .account_sid = account_sid, .call_sid = call_sid, .opts = o};
    int rc = live_call(s, &lr);
    if (rc >= 0)
        memcpy(sid, lr.sid, RECD_SID_LEN + 1);
    return rc;
}

int recd_engine_serve_live_cmd(struct recd_engine_serve *s, const char *account_sid, const char *call_sid,
                               const char *rec_sid, enum recd_engine_live_cmd cmd, bool skip,
                               char sid_out[RECD_SID_LEN + 1], unsigned *track)
{
    struct live_req lr = {
        .cmd = cmd, .skip = skip, .account_sid = account_sid, .call_sid = call_sid, .rec_sid = rec_sid};
    int rc = live_call(s, &lr);
    if (rc == 0) {
        memcpy(sid_out, lr.sid, RECD_SID_LEN + 1);
        *track = lr.track;
    }
    return rc;
}
