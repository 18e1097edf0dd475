#include "voice/recorder.h"
#include "service/transcribe.h"

#include "core/error.h"
#include "core/file.h"
#include "core/log.h"
#include "core/time.h"
#include "media/blob.h"
#include "ops/metrics.h"
#include "store/store.h"
#include "voice/audio.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/*
 * Threads and what they touch:
 *
 *  - The producer (the SIP thread) calls recd_rec_audio: it reads `state`, writes the ring and
 *    advances `head`, `dropped` and `pos`, all atomics or ring slots the consumer does not own.
 *    It raises `busy` for the length of one call so that pause and finish can wait for a call in
 *    flight to end (a few microseconds: one memcpy) and then know no more audio gets in.
 *  - Any thread calls begin, pause, resume, drop_tail and finish. begin and finish hand the
 *    recording to the writer through two queues under `lock`, which nobody holds during I/O.
 *  - The writer owns everything else: the store, the spool files, the list of open recordings.
 *
 * A spool file is a 16-byte header ("RECDSPL1", flags, rate) and then the samples, 16-bit
 * little-endian, exactly as they were recorded (pause silence included, skipped pauses not); a
 * recording that hears both sides (flag SPOOL_DUAL) holds frames of two samples, the caller's then
 * what recd sent, as a dual WAV does. A one-channel recording of both tracks (SPOOL_MIX) or of
 * recd's side alone (SPOOL_SENT) is spooled the same way and made one channel when it is
 * published, so that a crash and recovery give the same file as a clean finish.
 *
 * Dual channel: the two streams come from the same SIP thread, each paced by the 20 ms media
 * clock (what the caller sends, gaps filled; what recd sends, silence when nothing plays), each
 * into a ring of its own. The writer pairs them sample by sample, so they stay aligned to within
 * the jitter buffer's delay; a stream that stops (a caller on hold sends nothing) is padded with
 * silence once the other is DUAL_SKEW ahead, so that it cannot hold the other back.
 */

#define SPOOL_MAGIC  "RECDSPL1"
#define SPOOL_HEADER 16
#define SPOOL_TRIM   0x1u
#define SPOOL_DUAL   0x2u
#define SPOOL_MIX    0x4u /* with DUAL: published as one channel, the two sides summed */
#define SPOOL_SENT   0x8u /* with DUAL: published as one channel, what recd sent */
#define RING_MASK    (RECD_REC_RING - 1)
_Static_assert((RECD_REC_RING & RING_MASK) == 0, "the ring's size is a power of two");

enum { ST_OPEN, ST_PAUSED_SILENCE, ST_PAUSED_SKIP, ST_CLOSED };

/* How far (samples) one channel of a dual recording may run ahead before the other is padded. */
#define DUAL_SKEW (RECD_REC_RING / 4)

/* One stream's ring: the producer advances head and dropped, the writer tail. */
struct ring {
    int16_t *buf;
    _Atomic uint64_t head, tail; /* samples written by the producer, read by the writer */
    _Atomic uint64_t dropped;    /* samples the ring had no room for: written as silence */
    uint64_t zeros;              /* the writer's: dropped samples not yet written */
};

struct recd_rec {
    struct recd_recorder *owner;
    /* Links: each list its own, since a recording can be in the writer's hands (being begun)
     * while finish queues it. */
    struct recd_rec *bnext; /* in the begin queue */
    struct recd_rec *fnext; /* in the finish queue, then the finisher's */
    struct recd_rec *onext; /* in the writer's list of open recordings */
    struct recd_recording row;
    int trim;

    int channels; /* spooled: 1, or 2 (ring[1] has what recd sent to the caller) */
    unsigned mix; /* 0: published as spooled; SPOOL_MIX or SPOOL_SENT: one channel made of two */
    struct ring ring[2];
    _Atomic uint64_t pos; /* the caller's stream's length as the producer has made it */
    _Atomic uint64_t cut; /* drop_tail: where the stream ends (UINT64_MAX: its end) */
    _Atomic int state;
    _Atomic int busy;

    recd_rec_done_cb cb; /* set by finish before the recording is queued */
    void *arg;
    int64_t finish_us; /* when finish was asked (monotonic), for recd_recording_finalize_seconds */
    int active;        /* begun by this process: in recd_recordings_active until finished */

    /* The writer's. */
    int fd;                               /* spool, -1 when none */
    uint64_t written;                     /* frames in the spool (a sample per channel each) */
    uint64_t lost;                        /* samples replaced by silence */
    int failed;                           /* the spool could not be made or written */
    int no_row;                           /* the row could not be inserted */
    char transcribe_cb[RECD_URL_MAX + 1]; /* "" = no transcribeCallback */
    char transcribe_method[8];
};

struct recd_recorder {
    struct recd_store *st;
    struct recd_blob *blob;
    unsigned flush_ms;
    int spool_fd;
    pthread_t thread, finisher;
    pthread_mutex_t lock;
    pthread_cond_t wake, recovered, finish_wake;
    /* Under `lock`. */
    struct recd_rec *begins, **begins_tail, *finishes, **finishes_tail;
    struct recd_rec *to_finish, **to_finish_tail; /* drained, for the finisher */
    int stopping, writer_done, recover_asked, recover_done, recover_rc;
    int64_t recover_n;
    /* The store handle is used by one thread at a time: the writer (rows of new recordings,
     * recovery) or the finisher (finished rows). Never held by anything the SIP thread waits on. */
    pthread_mutex_t store_lock;
    /* The writer's. */
    struct recd_rec *open;
    int unsynced;
    int64_t last_drain, next_sync;
    /* The syncer (syncer_main), under sync_mu: syncs asked for and done, by number. */
    pthread_t syncer;
    pthread_mutex_t sync_mu;
    pthread_cond_t sync_ask, sync_done;
    uint64_t sync_asked, sync_finished;
    int sync_quit;
};

static const int16_t zeros[1024];

static void rec_free(struct recd_rec *r)
{
    if (r->fd >= 0)
        close(r->fd);
    free(r->ring[0].buf);
    free(r->ring[1].buf);
    free(r);
}

/* ---- the producer's side ---- */

static void ring_push(struct ring *g, const int16_t *pcm, size_t n)
{
    uint64_t h = atomic_load_explicit(&g->head, memory_order_relaxed);
    uint64_t t = atomic_load_explicit(&g->tail, memory_order_acquire);
    size_t room = RECD_REC_RING - (size_t)(h - t), k = n < room ? n : room;
    size_t at = (size_t)(h & RING_MASK), first = k < RECD_REC_RING - at ? k : RECD_REC_RING - at;
    if (pcm) {
        memcpy(g->buf + at, pcm, first * sizeof *pcm);
        memcpy(g->buf, pcm + first, (k - first) * sizeof *pcm);
    } else {
        memset(g->buf + at, 0, first * sizeof *g->buf);
        memset(g->buf, 0, (k - first) * sizeof *g->buf);
    }
    atomic_store_explicit(&g->head, h + k, memory_order_release);
    if (k < n)
        atomic_fetch_add_explicit(&g->dropped, n - k, memory_order_relaxed);
}

/* Both channels go through here, so a pause (and its behaviour) is the same for each. */
static void push(struct recd_rec *r, unsigned ch, const int16_t *pcm, size_t samples)
{
    /* Sequentially consistent on both sides (here: busy then state; in quiesce: state then
     * busy), so either this call sees the new state or quiesce sees it busy and waits. */
    atomic_store(&r->busy, 1);
    int st = atomic_load(&r->state);
    if (st == ST_OPEN || st == ST_PAUSED_SILENCE) {
        ring_push(&r->ring[ch], st == ST_OPEN ? pcm : NULL, samples);
        if (ch == 0)
            atomic_fetch_add_explicit(&r->pos, samples, memory_order_relaxed);
    }
    atomic_store(&r->busy, 0);
}

void recd_rec_audio(struct recd_rec *r, const int16_t *pcm, size_t samples)
{
    push(r, 0, pcm, samples);
}

void recd_rec_audio_sent(struct recd_rec *r, const int16_t *pcm, size_t samples)
{
    if (r->channels == 2)
        push(r, 1, pcm, samples);
}

int recd_rec_channels(const struct recd_rec *r)
{
    return r->channels;
}

/* The published file's channels: the spool's, or one made of its two. */
static int out_channels(const struct recd_rec *r)
{
    return r->mix ? 1 : r->channels;
}

size_t recd_rec_backlog(struct recd_rec *r)
{
    return (size_t)(atomic_load_explicit(&r->ring[0].head, memory_order_acquire) -
                    atomic_load_explicit(&r->ring[0].tail, memory_order_acquire));
}

/* Waits until no recd_rec_audio call that may have read the old state is still running. */
static void quiesce(struct recd_rec *r)
{
    while (atomic_load(&r->busy))
        sched_yield();
}

void recd_rec_pause(struct recd_rec *r, int skip)
{
    int want = skip ? ST_PAUSED_SKIP : ST_PAUSED_SILENCE, cur = atomic_load(&r->state);
    while (cur != ST_CLOSED && !atomic_compare_exchange_weak(&r->state, &cur, want))
        ;
    quiesce(r);
}

void recd_rec_resume(struct recd_rec *r)
{
    int cur = atomic_load(&r->state);
    while ((cur == ST_PAUSED_SILENCE || cur == ST_PAUSED_SKIP) &&
           !atomic_compare_exchange_weak(&r->state, &cur, ST_OPEN))
        ;
}

void recd_rec_drop_tail(struct recd_rec *r, unsigned ms)
{
    uint64_t pos = atomic_load(&r->pos), drop = (uint64_t)ms * (RECD_AUDIO_RATE / 1000);
    uint64_t end = pos > drop ? pos - drop : 0, cur = atomic_load(&r->cut);
    while (end < cur && !atomic_compare_exchange_weak(&r->cut, &cur, end))
        ;
}

/* ---- begin and finish: hand-over to the writer ---- */

/* Monotonic microseconds, for the finalize time. */
static int64_t mono_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000 + t.tv_nsec / 1000;
}

static int valid_source(const char *s)
{
    static const char *const ok[] = {
        "RecordVerb", "StartCallRecordingAPI",      "DialVerb", "OutboundAPI", "Trunking",
        "Conference", "StartConferenceRecordingAPI"};
    for (size_t i = 0; s && i < sizeof ok / sizeof ok[0]; i++)
        if (strcmp(s, ok[i]) == 0)
            return 1;
    return 0;
}

int recd_rec_begin(struct recd_recorder *rec, const struct recd_rec_params *p, struct recd_rec **out,
                   char sid_out[RECD_SID_LEN + 1])
{
    *out = NULL;
    sid_out[0] = '\0';
    if (!p->account_sid || !recd_sid_valid(p->account_sid, strlen(p->account_sid), "AC", 1) ||
        (p->call_sid && *p->call_sid && !recd_sid_valid(p->call_sid, strlen(p->call_sid), "CA", 1)) ||
        !valid_source(p->source) || (p->channels != 0 && p->channels != 1 && p->channels != 2) ||
        (p->track != RECD_REC_TRACK_INBOUND && p->track != RECD_REC_TRACK_OUTBOUND &&
         p->track != RECD_REC_TRACK_BOTH))
        return RECD_E_BAD_INPUT;
    struct recd_rec *r = calloc(1, sizeof *r);
    if (!r)
        return RECD_E_INTERNAL;
    r->fd = -1;
    /* Whatever is heard of recd's side is spooled as a second channel; a one-channel file of
     * it is made at publish (mix). */
    r->channels = p->channels == 2 || p->track != RECD_REC_TRACK_INBOUND ? 2 : 1;
    r->mix = p->channels == 2                      ? 0
             : p->track == RECD_REC_TRACK_OUTBOUND ? SPOOL_SENT
             : p->track == RECD_REC_TRACK_BOTH     ? SPOOL_MIX
                                                   : 0;
    /* calloc touches the pages here, so the SIP thread never takes a page fault in them. */
    for (int ch = 0; ch < r->channels; ch++)
        r->ring[ch].buf = calloc(RECD_REC_RING, sizeof *r->ring[ch].buf);
    if (!r->ring[0].buf || (r->channels == 2 && !r->ring[1].buf) || recd_sid_new(r->row.sid, "RE") < 0) {
        rec_free(r);
        return RECD_E_INTERNAL;
    }
    r->owner = rec;
    r->trim = p->trim_silence != 0;
    atomic_init(&r->cut, UINT64_MAX);
    atomic_init(&r->state, ST_OPEN);
    memcpy(r->row.account_sid, p->account_sid, RECD_SID_LEN + 1);
    if (p->call_sid && *p->call_sid)
        memcpy(r->row.call_sid, p->call_sid, RECD_SID_LEN + 1);
    snprintf(r->row.source, sizeof r->row.source, "%s", p->source);
    snprintf(r->row.status, sizeof r->row.status, "%s", RECD_REC_IN_PROGRESS);
    r->row.created_us = r->row.updated_us = r->row.start_us = recd_now_us();
    r->row.channels = out_channels(r);
    r->row.sample_rate = RECD_AUDIO_RATE;
    r->row.transcribe = p->transcribe != 0;
    if (p->transcribe_callback && strlen(p->transcribe_callback) <= RECD_URL_MAX)
        snprintf(r->transcribe_cb, sizeof r->transcribe_cb, "%s", p->transcribe_callback);
    snprintf(r->transcribe_method, sizeof r->transcribe_method, "%s",
             p->transcribe_callback_method ? p->transcribe_callback_method : "POST");

    pthread_mutex_lock(&rec->lock);
    if (rec->stopping) {
        pthread_mutex_unlock(&rec->lock);
        rec_free(r);
        return RECD_E_UNAVAILABLE;
    }
    *rec->begins_tail = r;
    rec->begins_tail = &r->bnext;
    r->active = 1;
    pthread_cond_signal(&rec->wake);
    pthread_mutex_unlock(&rec->lock);
    recd_metric_gauge_add(RECD_MET_RECORDINGS_ACTIVE, 0, 1);
    memcpy(sid_out, r->row.sid, RECD_SID_LEN + 1);
    *out = r;
    return 0;
}

void recd_rec_finish(struct recd_rec *r, recd_rec_done_cb cb, void *arg)
{
    struct recd_recorder *rec = r->owner;
    atomic_store(&r->state, ST_CLOSED);
    quiesce(r);
    r->cb = cb;
    r->arg = arg;
    r->finish_us = mono_us();
    pthread_mutex_lock(&rec->lock);
    *rec->finishes_tail = r;
    rec->finishes_tail = &r->fnext;
    pthread_cond_signal(&rec->wake);
    pthread_mutex_unlock(&rec->lock);
}

/* ---- the writer: spools ---- */

static void spool_name(char out[64], const char *sid)
{
    snprintf(out, 64, "%.34s.spool", sid);
}

/* Makes the spool of a new recording: a header, then audio as it comes. */
static void spool_create(struct recd_recorder *rec, struct recd_rec *r)
{
    char name[64];
    unsigned char hdr[SPOOL_HEADER] = SPOOL_MAGIC;
    uint32_t flags = (r->trim ? SPOOL_TRIM : 0) | (r->channels == 2 ? SPOOL_DUAL | r->mix : 0);
    uint32_t rate = RECD_AUDIO_RATE;
    memcpy(hdr + 8, &flags, 4);
    memcpy(hdr + 12, &rate, 4);
    spool_name(name, r->row.sid);
    r->fd = openat(rec->spool_fd, name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (r->fd < 0 || recd_write_all(r->fd, hdr, sizeof hdr) < 0) {
        recd_log_error("recorder: cannot create spool %s: %s", name, strerror(errno));
        r->failed = 1;
    }
    rec->unsynced = 1;
}

/* The row, and the transcribeCallback kept with it (so that recovery after a crash calls back too). */
static void insert_row(struct recd_recorder *rec, struct recd_rec *r)
{
    int rc = rec->st->ops->recording_insert(rec->st, &r->row);
    if (rc == 0 && r->row.transcribe && r->transcribe_cb[0]) {
        struct recd_transcribe_req req = {r->transcribe_cb, r->transcribe_method};
        int t = recd_transcribe_remember(rec->st, &r->row, &req, r->row.created_us);
        if (t < 0)
            recd_log_error(
                "recorder: cannot keep the transcribeCallback of %s (%s): it is transcribed without one",
                r->row.sid, recd_err_name(t));
    }
    r->no_row = rc < 0;
    if (rc < 0)
        recd_log_error("recorder: cannot insert recording %s: %s", r->row.sid, recd_err_name(rc));
}

/*
 * Makes the spools and the in-progress rows of the recordings begun since the last turn. The
 * spools come first: an in-progress row whose spool a crash lost is finished as absent, but a
 * spool without a row is an orphan. The rows go in one transaction (one commit, not one per
 * call, so a burst of calls does not stall the writer); if it cannot commit, each row is tried
 * on its own.
 */
static void writer_begin(struct recd_recorder *rec, struct recd_rec *begins)
{
    for (struct recd_rec *r = begins; r; r = r->bnext)
        spool_create(rec, r);
    pthread_mutex_lock(&rec->store_lock);
    struct recd_store *st = rec->st;
    int tx = begins && (begins->bnext || begins->transcribe_cb[0]) && st->ops->begin(st) == 0;
    for (struct recd_rec *r = begins; r; r = r->bnext)
        insert_row(rec, r);
    if (tx && st->ops->commit(st) < 0) {
        st->ops->rollback(st);
        for (struct recd_rec *r = begins; r; r = r->bnext)
            insert_row(rec, r);
    }
    pthread_mutex_unlock(&rec->store_lock);
}

/* Moves what the caller's ring holds (and silence for what it lost) to a mono spool. */
static void drain_mono(struct recd_recorder *rec, struct recd_rec *r)
{
    struct ring *g = &r->ring[0];
    uint64_t t = atomic_load_explicit(&g->tail, memory_order_relaxed);
    uint64_t h = atomic_load_explicit(&g->head, memory_order_acquire);
    size_t n = (size_t)(h - t), at = (size_t)(t & RING_MASK);
    size_t first = n < RECD_REC_RING - at ? n : RECD_REC_RING - at;
    uint64_t lost = atomic_exchange_explicit(&g->dropped, 0, memory_order_relaxed);
    if (r->fd >= 0 && !r->failed && n > 0) {
        if (recd_write_all(r->fd, g->buf + at, first * sizeof *g->buf) < 0 ||
            recd_write_all(r->fd, g->buf, (n - first) * sizeof *g->buf) < 0) {
            recd_log_error("recorder: cannot write spool of %s: %s", r->row.sid, strerror(errno));
            r->failed = 1;
        }
        rec->unsynced = 1;
    }
    atomic_store_explicit(&g->tail, h, memory_order_release);
    r->written += n;
    r->lost += lost;
    for (uint64_t left = lost; left > 0 && r->fd >= 0 && !r->failed;) {
        size_t k = left < 1024 ? (size_t)left : 1024;
        if (recd_write_all(r->fd, zeros, k * sizeof *zeros) < 0)
            r->failed = 1;
        left -= k;
    }
    r->written += lost;
}

/* What a stream of a dual recording has for the writer: the ring's samples and the silence owed
 * for what it dropped. */
static uint64_t ring_avail(struct recd_rec *r, struct ring *g)
{
    uint64_t lost = atomic_exchange_explicit(&g->dropped, 0, memory_order_relaxed);
    g->zeros += lost;
    r->lost += lost;
    return atomic_load_explicit(&g->head, memory_order_acquire) -
           atomic_load_explicit(&g->tail, memory_order_relaxed) + g->zeros;
}

/* Takes n samples of a stream into out: the ring's first, then silence owed, then silence.
 * (Silence owed for drops goes after what the ring holds: drops happen when it is full.) */
static void ring_take(struct ring *g, int16_t *out, size_t n)
{
    uint64_t t = atomic_load_explicit(&g->tail, memory_order_relaxed);
    uint64_t h = atomic_load_explicit(&g->head, memory_order_acquire);
    size_t k = h - t < n ? (size_t)(h - t) : n;
    for (size_t i = 0; i < k; i++)
        out[i] = g->buf[(t + i) & RING_MASK];
    atomic_store_explicit(&g->tail, t + k, memory_order_release);
    size_t z = g->zeros < n - k ? (size_t)g->zeros : n - k;
    g->zeros -= z;
    memset(out + k, 0, (n - k) * sizeof *out);
}

/* Drops up to n leading silent samples of a stream (late silence for a gap); returns how many. */
static uint64_t ring_drop_silence(struct ring *g, uint64_t n)
{
    uint64_t t = atomic_load_explicit(&g->tail, memory_order_relaxed);
    uint64_t h = atomic_load_explicit(&g->head, memory_order_acquire), k = 0;
    while (k < n && t + k < h && g->buf[(t + k) & RING_MASK] == 0)
        k++;
    atomic_store_explicit(&g->tail, t + k, memory_order_release);
    if (k < n && t + k == h) {
        uint64_t z = g->zeros < n - k ? g->zeros : n - k;
        g->zeros -= z;
        k += z;
    }
    return k;
}

/*
 * Moves frames of a dual recording to its spool: as many as both streams have. The caller's
 * stream is kept in step with what recd sends (which the media clock paces): when it falls
 * DUAL_SKEW behind (the caller sends nothing: hold, silence suppression), it is padded with
 * silence; when it then runs DUAL_SKEW ahead (the silence the RTP receiver puts in for that gap
 * arriving late), that much leading silence is dropped. Finishing pads the shorter stream.
 */
static void drain_dual(struct recd_recorder *rec, struct recd_rec *r, int final)
{
    enum { CHUNK = 1024 };
    int16_t a[CHUNK], b[CHUNK], fr[2 * CHUNK];
    uint64_t n0 = ring_avail(r, &r->ring[0]), n1 = ring_avail(r, &r->ring[1]);
    if (!final && n0 > n1 + DUAL_SKEW)
        n0 -= ring_drop_silence(&r->ring[0], n0 - n1);
    uint64_t n = n0 < n1 ? n0 : n1, most = n0 < n1 ? n1 : n0;
    if (final || most - n > DUAL_SKEW)
        n = most;
    for (uint64_t left = n; left > 0;) {
        size_t k = left < CHUNK ? (size_t)left : CHUNK;
        ring_take(&r->ring[0], a, k);
        ring_take(&r->ring[1], b, k);
        for (size_t i = 0; i < k; i++) {
            fr[2 * i] = a[i];
            fr[2 * i + 1] = b[i];
        }
        if (r->fd >= 0 && !r->failed && recd_write_all(r->fd, fr, 2 * k * sizeof *fr) < 0) {
            recd_log_error("recorder: cannot write spool of %s: %s", r->row.sid, strerror(errno));
            r->failed = 1;
        }
        left -= k;
    }
    if (n)
        rec->unsynced = 1;
    r->written += n;
}

/* Moves what the rings hold to the spool; `final` when no more audio will come. */
static void writer_drain(struct recd_recorder *rec, struct recd_rec *r, int final)
{
    if (r->channels == 2)
        drain_dual(rec, r, final);
    else
        drain_mono(rec, r);
}

/*
 * Makes what the spools hold durable. The syncfs runs on the syncer's thread, not the writer's: on
 * a disk that other work keeps busy one syncfs can take seconds (it flushes the whole filesystem),
 * and a writer waiting that long stops draining the rings, which overflow after 2 s and lose
 * audio (measured: 911 of 1,000 calls lost up to 4.8 s each, bench/RESULTS.md). The writer only
 * asks; asks made while a sync runs are served by the next one. `wait` waits for a sync that
 * started after this call (recovery and stopping need the spools durable before they go on).
 */
static void writer_sync(struct recd_recorder *rec, int wait)
{
    if (!rec->unsynced && !wait)
        return;
    rec->unsynced = 0;
    pthread_mutex_lock(&rec->sync_mu);
    uint64_t ticket = ++rec->sync_asked;
    pthread_cond_signal(&rec->sync_ask);
    while (wait && rec->sync_finished < ticket)
        pthread_cond_wait(&rec->sync_done, &rec->sync_mu);
    pthread_mutex_unlock(&rec->sync_mu);
}

static void *syncer_main(void *arg)
{
    struct recd_recorder *rec = arg;
    (void)pthread_setname_np(pthread_self(), "recd-rec-sync");
    pthread_mutex_lock(&rec->sync_mu);
    for (;;) {
        while (rec->sync_finished == rec->sync_asked && !rec->sync_quit)
            pthread_cond_wait(&rec->sync_ask, &rec->sync_mu);
        if (rec->sync_finished == rec->sync_asked)
            break;
        uint64_t upto = rec->sync_asked;
        pthread_mutex_unlock(&rec->sync_mu);
        if (syncfs(rec->spool_fd) < 0)
            recd_log_error("recorder: syncfs of the spool folder: %s", strerror(errno));
        pthread_mutex_lock(&rec->sync_mu);
        rec->sync_finished = upto;
        pthread_cond_broadcast(&rec->sync_done);
    }
    pthread_mutex_unlock(&rec->sync_mu);
    return NULL;
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The writer's rhythm: every open ring drained each RECD_REC_DRAIN_MS, the spools synced each
 * flush_ms. Called between long steps too, so that no step starves the calls. */
static void writer_tick(struct recd_recorder *rec, int force_sync)
{
    int64_t now = mono_ms();
    if (now - rec->last_drain >= RECD_REC_DRAIN_MS || force_sync) {
        for (struct recd_rec *r = rec->open; r; r = r->onext)
            writer_drain(rec, r, 0);
        rec->last_drain = now;
    }
    if (now >= rec->next_sync || force_sync) {
        writer_sync(rec, force_sync);
        rec->next_sync = mono_ms() + rec->flush_ms;
    }
}

/* ---- the writer: finishing ---- */

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "spools and WAVs hold native 16-bit samples");

#define BLOCK (RECD_AUDIO_WINDOW * 50) /* samples read at a time: 1 s, whole windows */

/* Reads frames [from, from + n) of a spool of `ch` channels into buf (n * ch samples). */
static int spool_read(int fd, int ch, uint64_t from, int16_t *buf, size_t n)
{
    size_t want = n * (size_t)ch * sizeof *buf, got = 0;
    off_t off = (off_t)(SPOOL_HEADER + from * (uint64_t)ch * sizeof *buf);
    while (got < want) {
        ssize_t k = pread(fd, (char *)buf + got, want - got, off + (off_t)got);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return -1;
        got += (size_t)k;
    }
    return 0;
}

/* Makes k two-sample frames of buf one channel in place: the sides summed (clipped, as a mixer
 * does: each side keeps its own level), or recd's side alone. */
static void mix_down(int16_t *buf, size_t k, unsigned mix)
{
    for (size_t i = 0; i < k; i++) {
        int v = mix == SPOOL_SENT ? buf[2 * i + 1] : buf[2 * i] + buf[2 * i + 1];
        buf[i] = (int16_t)(v > INT16_MAX ? INT16_MAX : v < INT16_MIN ? INT16_MIN : v);
    }
}

/*
 * Where the sound is in frames [0, end): windows aligned on 0, as recd_audio_sound_span. In a
 * recording of both sides a frame sounds when either side does (each frame is reduced to its
 * louder sample); in one of recd's side alone, when that side does.
 */
static int spool_span(int fd, int ch, unsigned mix, uint64_t end, uint64_t *first, uint64_t *last)
{
    static _Thread_local int16_t buf[2 * BLOCK];
    *first = *last = 0;
    for (uint64_t at = 0; at < end; at += BLOCK) {
        size_t k = end - at < BLOCK ? (size_t)(end - at) : BLOCK, a, z;
        if (spool_read(fd, ch, at, buf, k) < 0)
            return RECD_E_IO;
        if (ch == 2 && mix == SPOOL_SENT)
            mix_down(buf, k, mix);
        else if (ch == 2)
            for (size_t i = 0; i < k; i++) {
                int x = buf[2 * i], y = buf[2 * i + 1];
                buf[i] = (int16_t)(abs(x) >= abs(y) ? x : y);
            }
        recd_audio_sound_span(buf, k, &a, &z);
        if (z) {
            if (!*last)
                *first = at + a;
            *last = at + z;
        }
    }
    return 0;
}

static void put_le(unsigned char *p, uint32_t v, int bytes)
{
    for (int i = 0; i < bytes; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

/* A canonical 44-byte header: RIFF, a 16-byte PCM "fmt " chunk, "data". 8 kHz 16-bit, `ch`
 * channels (2: the caller on the first, what recd sent on the second, as Twilio's dual). */
static void wav_header(unsigned char h[44], uint32_t data_bytes, int ch)
{
    memcpy(h, "RIFF", 4);
    put_le(h + 4, 36 + data_bytes, 4);
    memcpy(h + 8, "WAVEfmt ", 8);
    put_le(h + 16, 16, 4);
    put_le(h + 20, 1, 2);
    put_le(h + 22, (uint32_t)ch, 2);
    put_le(h + 24, RECD_AUDIO_RATE, 4);
    put_le(h + 28, RECD_AUDIO_RATE * 2 * (uint32_t)ch, 4);
    put_le(h + 32, 2 * (uint32_t)ch, 2);
    put_le(h + 34, 16, 2);
    memcpy(h + 36, "data", 4);
    put_le(h + 40, data_bytes, 4);
}

/*
 * Writes frames [a, z) of the spool (`ch` channels, made one by `mix` when it is set) as a WAV to
 * a temporary file beside the spools, stores it durably through the blob store under "RE….wav",
 * and reads it back for its size and digest (what fsck will check), as import does.
 */
static int publish(struct recd_recorder *rec, const char *sid, int fd, int ch, unsigned mix, uint64_t a,
                   uint64_t z, int64_t *size, char sha[65])
{
    static _Thread_local int16_t buf[2 * BLOCK];
    struct recd_tmpfile t;
    unsigned char h[44];
    char key[64];
    int out = ch == 2 && mix ? 1 : ch;
    uint32_t bytes = (uint32_t)((z - a) * (uint64_t)out * sizeof(int16_t));
    int rc = recd_tmpfile_create(&t, rec->spool_fd, sid, 0600);
    if (rc < 0)
        return rc;
    wav_header(h, bytes, out);
    rc = recd_write_all(t.fd, h, sizeof h) < 0 ? recd_err_from_errno(errno) : 0;
    for (uint64_t at = a; rc == 0 && at < z; at += BLOCK) {
        size_t k = z - at < BLOCK ? (size_t)(z - at) : BLOCK;
        if (spool_read(fd, ch, at, buf, k) < 0) {
            rc = RECD_E_IO;
            break;
        }
        if (out != ch)
            mix_down(buf, k, mix);
        if (recd_write_all(t.fd, buf, k * (size_t)out * sizeof *buf) < 0)
            rc = recd_err_from_errno(errno);
    }
    snprintf(key, sizeof key, "%.34s.wav", sid);
    /* The blob store reads what it stores: a descriptor open for reading, at offset 0. */
    int rfd = rc == 0 ? openat(t.dirfd, t.name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW) : -1;
    if (rc == 0 && rfd < 0)
        rc = recd_err_from_errno(errno);
    if (rc == 0)
        rc = rec->blob->ops->put_fd(rec->blob, key, rfd, (int64_t)sizeof h + bytes);
    if (rfd >= 0)
        close(rfd);
    recd_tmpfile_discard(&t);
    int mfd;
    int64_t msize;
    if (rc == 0 && (rc = rec->blob->ops->open(rec->blob, key, &mfd, &msize)) == 0) {
        rc = msize == (int64_t)sizeof h + bytes ? recd_file_sha256(mfd, msize, sha) : RECD_E_IO;
        close(mfd);
        *size = msize;
    }
    return rc;
}

/* What a recording's audio comes to: completed with samples [*a, *z), or absent with a code. */
static int decide(const struct recd_rec *r, uint64_t end, uint64_t *a, uint64_t *z, int *code)
{
    uint64_t first, last;
    int rc = spool_span(r->fd, r->channels, r->mix, end, &first, &last);
    if (rc < 0)
        return rc;
    *a = 0;
    *z = end;
    *code = 0;
    if (last == 0) /* no sound at all */
        *code = end >= RECD_REC_MIN_SAMPLES ? RECD_REC_E_SILENT : RECD_REC_E_TOO_SHORT;
    else if (r->trim) {
        *a = first;
        *z = last;
    }
    if (*code == 0 && *z - *a < RECD_REC_MIN_SAMPLES)
        *code = RECD_REC_E_TOO_SHORT;
    /* A WAV's sizes are 32-bit: past about 37 hours the file ends there. */
    uint64_t most = (UINT32_MAX - 36) / (2 * (uint64_t)out_channels(r));
    if (*z - *a > most)
        *z = *a + most;
    return 0;
}

/*
 * Ends the row, and when the recording is completed and a transcription is wanted (<Record
 * transcribe="true"> or the account's switch) queues it in the same transaction (contract §8):
 * the Transcription exists exactly when the recording is fetchable, or neither does.
 */
static int finish_row(struct recd_store *st, struct recd_recording *row)
{
    int completed = strcmp(row->status, RECD_REC_COMPLETED) == 0;
    if (!completed)
        return st->ops->recording_finish(st, row);
    int rc = st->ops->begin(st);
    if (rc < 0)
        return rc;
    rc = st->ops->recording_finish(st, row);
    if (rc == 0) {
        /* With the callback kept when the recording began (insert_row), in this process or the
         * one that crashed. */
        int t = recd_transcribe_finished(st, row, row->updated_us, NULL);
        if (t < 0)
            recd_log_error("recorder: cannot queue the transcription of %s: %s", row->sid, recd_err_name(t));
    }
    if (rc < 0) {
        st->ops->rollback(st);
        return rc;
    }
    return st->ops->commit(st);
}

/*
 * Finishes one recording (on the finisher thread, or the writer's at recovery and stop): the
 * WAV (unless absent or failed), then the
 * row, then the callback. A row the store could not update stays in progress with its spool
 * kept, so that recovery finishes it after a restart; otherwise the spool goes.
 */
static void writer_finish(struct recd_recorder *rec, struct recd_rec *r, recd_rec_done_cb cb, void *arg)
{
    struct recd_recording *row = &r->row;
    struct recd_rec_result res;
    uint64_t cut = atomic_load(&r->cut), end = r->written < cut ? r->written : cut, a = 0, z = 0;
    int code = 0, keep_spool = 0, rc = 0;
    const char *status = RECD_REC_FAILED;
    row->media_size = 0;
    row->media_sha256[0] = '\0';
    row->duration_ms = 0;
    if (!r->failed && (rc = decide(r, end, &a, &z, &code)) == 0) {
        if (code) {
            status = RECD_REC_ABSENT;
        } else if ((rc = publish(rec, row->sid, r->fd, r->channels, r->mix, a, z, &row->media_size,
                                 row->media_sha256)) == 0) {
            status = RECD_REC_COMPLETED;
            row->duration_ms = (int64_t)((z - a) * 1000 + RECD_AUDIO_RATE / 2) / RECD_AUDIO_RATE;
        } else {
            recd_log_error("recorder: cannot store the media of %s: %s", row->sid, recd_err_name(rc));
        }
    }
    if (r->lost)
        recd_log_warn("recorder: %s: %llu samples arrived faster than the disk took them; silence stands in",
                      row->sid, (unsigned long long)r->lost);
    snprintf(row->status, sizeof row->status, "%s", status);
    row->error_code = code;
    row->channels = out_channels(r);
    row->sample_rate = RECD_AUDIO_RATE;
    row->updated_us = recd_now_us();
    if (!r->no_row) {
        pthread_mutex_lock(&rec->store_lock);
        rc = finish_row(rec->st, row);
        pthread_mutex_unlock(&rec->store_lock);
        if (rc < 0 && rc != RECD_E_NOT_FOUND) {
            recd_log_error("recorder: cannot finish recording %s: %s (kept for recovery)", row->sid,
                           recd_err_name(rc));
            keep_spool = 1;
            status = RECD_REC_FAILED;
        } else if (rc == RECD_E_NOT_FOUND) {
            recd_log_warn("recorder: recording %s was no longer in progress", row->sid);
        }
    }
    int result = recd_metric_rec_result(status);
    if (result >= 0)
        recd_metric_add(RECD_MET_RECORDINGS, (unsigned)result, 1);
    if (strcmp(status, RECD_REC_COMPLETED) == 0)
        recd_metric_observe(RECD_MET_RECORDING_LENGTH, 0, row->duration_ms * 1000);
    if (r->finish_us)
        recd_metric_observe(RECD_MET_RECORDING_FINALIZE, 0, mono_us() - r->finish_us);
    if (r->active) {
        recd_metric_gauge_add(RECD_MET_RECORDINGS_ACTIVE, 0, -1);
        r->active = 0;
    }
    if (r->fd >= 0) {
        close(r->fd);
        r->fd = -1;
        if (!keep_spool) {
            char name[64];
            spool_name(name, row->sid);
            unlinkat(rec->spool_fd, name, 0);
        }
    }
    if (cb) {
        memset(&res, 0, sizeof res);
        memcpy(res.sid, row->sid, sizeof res.sid);
        res.status = status;
        res.error_code = code;
        res.duration_ms = strcmp(status, RECD_REC_COMPLETED) == 0 ? row->duration_ms : 0;
        res.start_us = row->start_us;
        res.channels = out_channels(r);
        cb(arg, &res);
    }
}

/* Removes `r` from the writer's open list. */
static void open_remove(struct recd_recorder *rec, struct recd_rec *r)
{
    for (struct recd_rec **pp = &rec->open; *pp; pp = &(*pp)->onext)
        if (*pp == r) {
            *pp = r->onext;
            return;
        }
}

/* ---- the writer: recovery after a crash ---- */

struct rows {
    struct recd_recording *v;
    size_t n, cap;
    int oom;
};

static int collect_row(void *ctx, const struct recd_recording *r)
{
    struct rows *rs = ctx;
    if (rs->n == rs->cap) {
        size_t cap = rs->cap ? rs->cap * 2 : 64;
        struct recd_recording *v = realloc(rs->v, cap * sizeof *v);
        if (!v) {
            rs->oom = 1;
            return 1;
        }
        rs->v = v;
        rs->cap = cap;
    }
    rs->v[rs->n++] = *r;
    return 0;
}

static int is_open(struct recd_recorder *rec, const char *sid)
{
    for (struct recd_rec *r = rec->open; r; r = r->onext)
        if (strcmp(r->row.sid, sid) == 0)
            return 1;
    return 0;
}

/* Opens a recovered recording's spool and reads its header into `r`; without a usable spool
 * the recording holds no audio (and is finished as absent, 16101). */
static void recover_open(struct recd_recorder *rec, struct recd_rec *r)
{
    char name[64];
    unsigned char hdr[SPOOL_HEADER];
    uint32_t flags, rate;
    struct stat sb;
    spool_name(name, r->row.sid);
    r->fd = openat(rec->spool_fd, name, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
    if (r->fd < 0)
        return;
    if (pread(r->fd, hdr, sizeof hdr, 0) != (ssize_t)sizeof hdr || memcmp(hdr, SPOOL_MAGIC, 8) != 0 ||
        fstat(r->fd, &sb) < 0) {
        recd_log_warn("recorder: spool %s is unreadable; its recording is finished as absent", name);
        return;
    }
    memcpy(&flags, hdr + 8, 4);
    memcpy(&rate, hdr + 12, 4);
    if (rate != RECD_AUDIO_RATE)
        return;
    r->trim = (flags & SPOOL_TRIM) != 0;
    r->channels = (flags & SPOOL_DUAL) ? 2 : 1;
    r->mix = r->channels == 2 ? flags & (SPOOL_MIX | SPOOL_SENT) : 0;
    if (r->mix == (SPOOL_MIX | SPOOL_SENT))
        r->mix = SPOOL_MIX; /* not a header recd writes; both sides is what was recorded */
    /* A crash may leave part of a frame at the end: it is not counted. */
    r->written = (uint64_t)(sb.st_size - SPOOL_HEADER) / (sizeof(int16_t) * (uint64_t)r->channels);
}

/* Removes spools and temporary files that no in-progress recording owns. */
static void sweep_spools(struct recd_recorder *rec)
{
    int fd = openat(rec->spool_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) {
        if (fd >= 0)
            close(fd);
        return;
    }
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t n = strlen(e->d_name);
        int spool = n == RECD_SID_LEN + 6 && strcmp(e->d_name + RECD_SID_LEN, ".spool") == 0;
        int tmp = n > RECD_SID_LEN + 4 && strcmp(e->d_name + n - 4, ".tmp") == 0;
        if ((!spool && !tmp) || !recd_sid_valid(e->d_name, RECD_SID_LEN, "RE", 1))
            continue; /* not ours: left alone */
        char sid[RECD_SID_LEN + 1];
        struct recd_recording row;
        memcpy(sid, e->d_name, RECD_SID_LEN);
        sid[RECD_SID_LEN] = '\0';
        /* A recording still open or in progress (perhaps being finished right now) keeps both. */
        if (is_open(rec, sid))
            continue;
        pthread_mutex_lock(&rec->store_lock);
        int owned = rec->st->ops->recording_get(rec->st, sid, &row) == 0 && recd_recording_in_progress(&row);
        pthread_mutex_unlock(&rec->store_lock);
        if (owned)
            continue;
        if (unlinkat(rec->spool_fd, e->d_name, 0) == 0)
            rec->unsynced = 1;
    }
    closedir(d);
}

static int writer_recover(struct recd_recorder *rec, int64_t *n)
{
    struct rows rs = {0};
    *n = 0;
    pthread_mutex_lock(&rec->store_lock);
    int rc = rec->st->ops->recording_scan_status(rec->st, RECD_REC_IN_PROGRESS, collect_row, &rs);
    pthread_mutex_unlock(&rec->store_lock);
    if (rc == 0 && rs.oom)
        rc = RECD_E_INTERNAL;
    for (size_t i = 0; rc == 0 && i < rs.n; i++) {
        if (is_open(rec, rs.v[i].sid) || !recd_sid_valid(rs.v[i].sid, strlen(rs.v[i].sid), "RE", 1))
            continue;
        struct recd_rec r;
        memset(&r, 0, sizeof r);
        r.row = rs.v[i];
        r.fd = -1;
        r.channels = 1;
        atomic_init(&r.cut, UINT64_MAX);
        recover_open(rec, &r);
        writer_finish(rec, &r, NULL, NULL);
        if (r.fd >= 0)
            close(r.fd);
        (*n)++;
    }
    free(rs.v);
    if (rc == 0)
        sweep_spools(rec);
    return rc;
}

/* ---- the writer's loop ---- */

static struct timespec deadline_in(unsigned ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

/* Gives drained recordings to the finisher, in order. */
static void hand_over(struct recd_recorder *rec, struct recd_rec *list, struct recd_rec **tail)
{
    if (!list)
        return;
    pthread_mutex_lock(&rec->lock);
    *rec->to_finish_tail = list;
    rec->to_finish_tail = tail;
    pthread_cond_signal(&rec->finish_wake);
    pthread_mutex_unlock(&rec->lock);
}

/*
 * Each turn: take the queues, create what was begun, drain every ring and sync when due, take
 * the last audio of what was finished and hand it to the finisher thread, answer a recovery
 * request. Finishing (reading the spool, writing and storing the WAV, the row) runs on its own
 * thread so that a long recording's finish never keeps the writer from the rings of the calls
 * still going. Finishing needs no sync of the spool: the WAV is made durable by the blob store,
 * and until the row is final a crash leaves the spool to recover from. On stop, every recording
 * still open is finished too.
 */
static void *writer_main(void *arg)
{
    struct recd_recorder *rec = arg;
    (void)pthread_setname_np(pthread_self(), "recd-rec-write"); /* for top -H, perf and bench/calls.py */
    rec->last_drain = mono_ms();
    rec->next_sync = rec->last_drain + rec->flush_ms;
    pthread_mutex_lock(&rec->lock);
    for (;;) {
        if (!rec->begins && !rec->finishes && !rec->recover_asked && !rec->stopping) {
            struct timespec ts = deadline_in(RECD_REC_DRAIN_MS);
            pthread_cond_timedwait(&rec->wake, &rec->lock, &ts);
        }
        struct recd_rec *begins = rec->begins, *finishes = rec->finishes;
        int recover = rec->recover_asked, stopping = rec->stopping;
        rec->begins = rec->finishes = NULL;
        rec->begins_tail = &rec->begins;
        rec->finishes_tail = &rec->finishes;
        rec->recover_asked = 0;
        pthread_mutex_unlock(&rec->lock);

        writer_begin(rec, begins);
        for (struct recd_rec *r = begins; r; r = r->bnext) {
            r->onext = rec->open;
            rec->open = r;
        }
        writer_tick(rec, stopping);
        struct recd_rec *done = NULL, **done_tail = &done;
        for (struct recd_rec *r = finishes; r; r = r->fnext) {
            open_remove(rec, r);
            writer_drain(rec, r, 1);
            *done_tail = r;
            done_tail = &r->fnext;
        }
        if (stopping)
            while (rec->open) {
                struct recd_rec *r = rec->open;
                rec->open = r->onext;
                atomic_store(&r->state, ST_CLOSED);
                quiesce(r);
                writer_drain(rec, r, 1);
                r->cb = NULL;
                *done_tail = r;
                done_tail = &r->fnext;
            }
        *done_tail = NULL;
        hand_over(rec, done, done_tail);
        if (recover) {
            int64_t n = 0;
            int rc = writer_recover(rec, &n);
            writer_sync(rec, 1);
            pthread_mutex_lock(&rec->lock);
            rec->recover_rc = rc;
            rec->recover_n = n;
            rec->recover_done = 1;
            pthread_cond_broadcast(&rec->recovered);
            pthread_mutex_unlock(&rec->lock);
        }
        pthread_mutex_lock(&rec->lock);
        if (stopping && !rec->begins && !rec->finishes)
            break;
    }
    rec->writer_done = 1;
    pthread_cond_signal(&rec->finish_wake);
    pthread_mutex_unlock(&rec->lock);
    return NULL;
}

/* Finishes what the writer hands over, in order, until the writer is done and nothing is left. */
static void *finisher_main(void *arg)
{
    struct recd_recorder *rec = arg;
    (void)pthread_setname_np(pthread_self(), "recd-rec-finish"); /* for top -H, perf and bench/calls.py */
    pthread_mutex_lock(&rec->lock);
    for (;;) {
        while (!rec->to_finish && !rec->writer_done)
            pthread_cond_wait(&rec->finish_wake, &rec->lock);
        struct recd_rec *list = rec->to_finish;
        if (!list)
            break;
        rec->to_finish = NULL;
        rec->to_finish_tail = &rec->to_finish;
        pthread_mutex_unlock(&rec->lock);
        for (struct recd_rec *r = list, *next; r; r = next) {
            next = r->fnext;
            writer_finish(rec, r, r->cb, r->arg);
            rec_free(r);
        }
        pthread_mutex_lock(&rec->lock);
    }
    pthread_mutex_unlock(&rec->lock);
    return NULL;
}

/* Frees what start made (not the store: its owner decides). */
static void recorder_free(struct recd_recorder *rec)
{
    pthread_cond_destroy(&rec->wake);
    pthread_cond_destroy(&rec->recovered);
    pthread_cond_destroy(&rec->finish_wake);
    pthread_mutex_destroy(&rec->lock);
    pthread_mutex_destroy(&rec->store_lock);
    pthread_cond_destroy(&rec->sync_ask);
    pthread_cond_destroy(&rec->sync_done);
    pthread_mutex_destroy(&rec->sync_mu);
    close(rec->spool_fd);
    free(rec);
}

/* Stops the syncer once it has served every sync asked for. */
static void syncer_stop(struct recd_recorder *rec)
{
    pthread_mutex_lock(&rec->sync_mu);
    rec->sync_quit = 1;
    pthread_cond_signal(&rec->sync_ask);
    pthread_mutex_unlock(&rec->sync_mu);
    pthread_join(rec->syncer, NULL);
}

int recd_recorder_start(const struct recd_recorder_opts *o, struct recd_recorder **out)
{
    *out = NULL;
    if (!o->store || !o->blob || !o->spool_dir || o->flush_ms > 1000)
        return RECD_E_BAD_INPUT;
    if (mkdir(o->spool_dir, 0700) < 0 && errno != EEXIST) {
        recd_log_error("recorder: cannot create spool folder %s: %s", o->spool_dir, strerror(errno));
        return recd_err_from_errno(errno);
    }
    int dfd = open(o->spool_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) {
        recd_log_error("recorder: cannot open spool folder %s: %s", o->spool_dir, strerror(errno));
        return recd_err_from_errno(errno);
    }
    struct recd_recorder *rec = calloc(1, sizeof *rec);
    if (!rec) {
        close(dfd);
        return RECD_E_INTERNAL;
    }
    rec->st = o->store;
    rec->blob = o->blob;
    rec->flush_ms = o->flush_ms ? o->flush_ms : 250;
    rec->spool_fd = dfd;
    rec->begins_tail = &rec->begins;
    rec->finishes_tail = &rec->finishes;
    rec->to_finish_tail = &rec->to_finish;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&rec->wake, &ca);
    pthread_condattr_destroy(&ca);
    pthread_cond_init(&rec->recovered, NULL);
    pthread_cond_init(&rec->finish_wake, NULL);
    pthread_mutex_init(&rec->lock, NULL);
    pthread_mutex_init(&rec->store_lock, NULL);
    pthread_mutex_init(&rec->sync_mu, NULL);
    pthread_cond_init(&rec->sync_ask, NULL);
    pthread_cond_init(&rec->sync_done, NULL);
    if (pthread_create(&rec->syncer, NULL, syncer_main, rec) != 0) {
        recorder_free(rec);
        return RECD_E_INTERNAL;
    }
    if (pthread_create(&rec->finisher, NULL, finisher_main, rec) != 0) {
        syncer_stop(rec);
        recorder_free(rec);
        return RECD_E_INTERNAL;
    }
    if (pthread_create(&rec->thread, NULL, writer_main, rec) != 0) {
        pthread_mutex_lock(&rec->lock);
        rec->writer_done = 1;
        pthread_cond_signal(&rec->finish_wake);
        pthread_mutex_unlock(&rec->lock);
        pthread_join(rec->finisher, NULL);
        syncer_stop(rec);
        recorder_free(rec);
        return RECD_E_INTERNAL;
    }
    *out = rec;
    return 0;
}

void recd_recorder_stop(struct recd_recorder *rec)
{
    if (!rec)
        return;
    pthread_mutex_lock(&rec->lock);
    rec->stopping = 1;
    pthread_cond_signal(&rec->wake);
    pthread_mutex_unlock(&rec->lock);
    pthread_join(rec->thread, NULL);
    pthread_join(rec->finisher, NULL);
    syncer_stop(rec);
    rec->st->ops->close(rec->st);
    recorder_free(rec);
}

int recd_recorder_recover(struct recd_recorder *rec, int64_t *n)
{
    pthread_mutex_lock(&rec->lock);
    rec->recover_asked = 1;
    rec->recover_done = 0;
    pthread_cond_signal(&rec->wake);
    while (!rec->recover_done)
        pthread_cond_wait(&rec->recovered, &rec->lock);
    int rc = rec->recover_rc;
    *n = rec->recover_n;
    pthread_mutex_unlock(&rec->lock);
    return rc;
}
