/*
 * voice/recorder against a real SQLite store and filesystem media in a temporary folder: what
 * goes in comes out in the WAV (checked by frequency), pauses, the key's tone, trim, absent,
 * 20 recordings at once, and recovery after the recording process is killed.
 */
#include "unit.h"

#include "tone.h"

#include "core/error.h"
#include "media/blob.h"
#include "media/wav.h"
#include "service/service.h"
#include "store/store.h"
#include "voice/audio.h"
#include "voice/recorder.h"

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct fixture {
    char dir[64], spool[96], db[96];
    struct recd_ctx ctx; /* the test's own store handle and the media */
    struct recd_account acc;
    struct recd_recorder *rec;
};

/* What a done callback saw; the test waits for it. */
struct done {
    pthread_mutex_t m;
    pthread_cond_t c;
    int called;
    struct recd_rec_result res;
};

static void done_init(struct done *d)
{
    pthread_mutex_init(&d->m, NULL);
    pthread_cond_init(&d->c, NULL);
    d->called = 0;
}

static void on_done(void *arg, const struct recd_rec_result *res)
{
    struct done *d = arg;
    pthread_mutex_lock(&d->m);
    d->res = *res;
    d->called++;
    pthread_cond_broadcast(&d->c);
    pthread_mutex_unlock(&d->m);
}

static void done_wait(struct done *d)
{
    pthread_mutex_lock(&d->m);
    while (!d->called)
        pthread_cond_wait(&d->c, &d->m);
    pthread_mutex_unlock(&d->m);
}

static int start_recorder(struct fixture *f, struct recd_recorder **out)
{
    struct recd_store *st;
    if (recd_store_sqlite_open(f->db, &st) < 0)
        return -1;
    struct recd_recorder_opts o = {.store = st, .blob = f->ctx.blob, .flush_ms = 100, .spool_dir = f->spool};
    int rc = recd_recorder_start(&o, out);
    if (rc < 0)
        st->ops->close(st);
    return rc;
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    char token[33];
    snprintf(f->dir, sizeof f->dir, "/tmp/recd-test-recorder-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->spool, sizeof f->spool, "%s/spool", f->dir);
    snprintf(f->db, sizeof f->db, "%s/recd.db", f->dir);
    assert_int_equal(recd_ctx_open(f->dir, &f->ctx), 0);
    assert_int_equal(recd_account_create(&f->ctx, "calls", NULL, &f->acc, token), 0);
    assert_int_equal(start_recorder(f, &f->rec), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    char cmd[128];
    recd_recorder_stop(f->rec);
    recd_ctx_close(&f->ctx);
    snprintf(cmd, sizeof cmd, "rm -rf %s", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

static struct recd_rec *begin(struct fixture *f, int trim, char sid[RECD_SID_LEN + 1])
{
    struct recd_rec *r;
    struct recd_rec_params p = {.account_sid = f->acc.sid,
                                .call_sid = "CA0123456789abcdef0123456789abcdef",
                                .source = "RecordVerb",
                                .trim_silence = trim,
                                .channels = 1};
    assert_int_equal(recd_rec_begin(f->rec, &p, &r, sid), 0);
    assert_true(recd_sid_valid(sid, strlen(sid), "RE", 1));
    return r;
}

/* Feeds `ms` of `freq` (0: silence) in 20 ms packets, as the SIP thread does, but faster than
 * real time: so it waits whenever the writer has half a ring to take, as a call never needs to. */
static void feed(struct recd_rec *r, double freq, unsigned ms, size_t *t)
{
    int16_t pkt[160];
    for (unsigned i = 0; i < ms / 20; i++) {
        while (recd_rec_backlog(r) > RECD_REC_RING / 2)
            usleep(2000);
        if (freq > 0)
            tone_fill(pkt, 160, freq, 8000, 8000, *t);
        else
            memset(pkt, 0, sizeof pkt);
        recd_rec_audio(r, pkt, 160);
        *t += 160;
    }
}

static void finish(struct recd_rec *r, struct done *d)
{
    done_init(d);
    recd_rec_finish(r, on_done, d);
    done_wait(d);
}

/* The recording's WAV, as the API would serve it: 8 kHz 16-bit with `ch` channels; its samples
 * (interleaved), and in *n its frames. */
static int16_t *read_media_ch(struct fixture *f, const char *sid, int ch, size_t *n)
{
    char key[64];
    int fd;
    int64_t size;
    struct recd_wav_info info;
    char why[200];
    snprintf(key, sizeof key, "%s.wav", sid);
    assert_int_equal(f->ctx.blob->ops->open(f->ctx.blob, key, &fd, &size), 0);
    assert_int_equal(recd_wav_probe(fd, &info, why, sizeof why), 0);
    assert_int_equal(info.channels, ch);
    assert_int_equal(info.sample_rate, 8000);
    assert_int_equal(info.bits, 16);
    *n = (size_t)(size - 44) / (2 * (size_t)ch);
    assert_int_equal(info.frames, (int64_t)*n);
    int16_t *p = malloc(*n * 2 * (size_t)ch + 2);
    assert_int_equal(pread(fd, p, *n * 2 * (size_t)ch, 44), (ssize_t)(*n * 2 * (size_t)ch));
    close(fd);
    return p;
}

/* A mono recording's samples. */
static int16_t *read_media(struct fixture *f, const char *sid, size_t *n)
{
    return read_media_ch(f, sid, 1, n);
}

static void assert_row(struct fixture *f, const char *sid, const char *status, int code, int64_t duration_ms)
{
    struct recd_recording row;
    assert_int_equal(f->ctx.store->ops->recording_get(f->ctx.store, sid, &row), 0);
    assert_string_equal(row.status, status);
    assert_int_equal(row.error_code, code);
    assert_int_equal(row.duration_ms, duration_ms);
    assert_string_equal(row.source, "RecordVerb");
    assert_string_equal(row.call_sid, "CA0123456789abcdef0123456789abcdef");
    if (strcmp(status, "completed") == 0) {
        assert_int_equal(row.media_size, 44 + duration_ms * 16);
        assert_int_equal(row.sample_rate, 8000);
        assert_int_equal(row.channels, 1);
        assert_int_equal(strlen(row.media_sha256), 64);
    } else {
        char key[64];
        int fd;
        int64_t size;
        assert_int_equal(row.media_size, 0);
        snprintf(key, sizeof key, "%s.wav", sid);
        assert_int_equal(f->ctx.blob->ops->open(f->ctx.blob, key, &fd, &size), RECD_E_NOT_FOUND);
    }
}

static int spool_count(struct fixture *f)
{
    DIR *d = opendir(f->spool);
    struct dirent *e;
    int n = 0;
    while ((e = readdir(d)))
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

static const double dtmf[] = {697, 852, 1209, 1477, 1000, 1633};

static void tone_sequence(void **state)
{
    struct fixture *f = *state;
    char sid[RECD_SID_LEN + 1];
    struct done d;
    size_t t = 0, n;
    struct recd_rec *r = begin(f, 0, sid);
    /* While it is being made, the row is there and in progress. */
    for (int i = 0; i < 4; i++)
        feed(r, dtmf[i], 500, &t);
    finish(r, &d);
    assert_string_equal(d.res.sid, sid);
    assert_string_equal(d.res.status, "completed");
    assert_int_equal(d.res.error_code, 0);
    assert_int_equal(d.res.duration_ms, 2000);
    assert_int_equal(d.res.channels, 1);
    assert_true(d.res.start_us > 0);
    assert_row(f, sid, "completed", 0, 2000);
    int16_t *p = read_media(f, sid, &n);
    assert_int_equal(n, 16000);
    for (int i = 0; i < 4; i++)
        assert_int_equal(strongest(p + i * 4000, 4000, dtmf, 6, 8000), i);
    /* Byte for byte what went in. */
    int16_t want[4000];
    tone_fill(want, 4000, dtmf[2], 8000, 8000, 8000);
    assert_memory_equal(p + 8000, want, sizeof want);
    free(p);
    assert_int_equal(spool_count(f), 0);
}

static void in_progress_row(void **state)
{
    struct fixture *f = *state;
    char sid[RECD_SID_LEN + 1];
    struct recd_recording row;
    struct done d;
    size_t t = 0;
    struct recd_rec *r = begin(f, 0, sid);
    feed(r, 697, 1000, &t);
    /* The writer inserts the row before any audio; it is there within a drain or two. */
    while (f->ctx.store->ops->recording_get(f->ctx.store, sid, &row) == RECD_E_NOT_FOUND)
        usleep(5000);
    assert_string_equal(row.status, "in-progress");
    assert_int_equal(row.media_size, 0);
    /* fsck sees nothing wrong while the spool exists (it checks media/ only), nor after. */
    struct recd_fsck_report rep;
    FILE *out = fopen("/dev/null", "w");
    memset(&rep, 0, sizeof rep);
    assert_int_equal(recd_fsck(&f->ctx, 0, out, &rep), 0);
    assert_int_equal(spool_count(f), 1);
    assert_int_equal(rep.damaged + rep.orphans + rep.leftovers, 0);
    finish(r, &d);
    assert_row(f, sid, "completed", 0, 1000);
    memset(&rep, 0, sizeof rep);
    assert_int_equal(recd_fsck(&f->ctx, 0, out, &rep), 0);
    assert_int_equal(rep.recordings, 1);
    assert_int_equal(rep.damaged + rep.orphans + rep.leftovers, 0);
    fclose(out);
}

/* Pausing: with silence the pause is zeros; with skip it is gone; the secret never lands. */
static void pause_silence_and_skip(void **state)
{
    struct fixture *f = *state;
    for (int skip = 0; skip < 2; skip++) {
        char sid[RECD_SID_LEN + 1];
        struct done d;
        size_t t = 0, n;
        struct recd_rec *r = begin(f, 0, sid);
        feed(r, 697, 600, &t);
        recd_rec_pause(r, skip);
        feed(r, 1633, 600, &t); /* a card number, say */
        recd_rec_resume(r);
        feed(r, 1209, 600, &t);
        finish(r, &d);
        int64_t want_ms = skip ? 1200 : 1800;
        assert_string_equal(d.res.status, "completed");
        assert_int_equal(d.res.duration_ms, want_ms);
        int16_t *p = read_media(f, sid, &n);
        assert_int_equal(n, (size_t)want_ms * 8);
        for (size_t at = 0; at + 160 <= n; at += 160)
            assert_true(strongest(p + at, 160, dtmf, 6, 8000) != 5 &&
                        goertzel(p + at, 160, 1633, 8000) < 2000);
        assert_int_equal(strongest(p, 4800, dtmf, 6, 8000), 0);
        assert_int_equal(strongest(p + n - 4800, 4800, dtmf, 6, 8000), 2);
        if (!skip)
            for (size_t i = 4800; i < 9600; i++)
                assert_int_equal(p[i], 0);
        free(p);
    }
}

/* Feeds `ms` of a dual recording in 20 ms steps: freq a (caller, -1: nothing) and b (what recd
 * sent, -1: nothing; 0: silence) on their channels. */
static void feed2(struct recd_rec *r, double a, double b, unsigned ms, size_t *t)
{
    int16_t pa[160], pb[160];
    for (unsigned i = 0; i < ms / 20; i++) {
        while (recd_rec_backlog(r) > RECD_REC_RING / 4)
            usleep(2000);
        tone_fill(pa, 160, a > 0 ? a : 1, a > 0 ? 8000 : 0, 8000, *t);
        tone_fill(pb, 160, b > 0 ? b : 1, b > 0 ? 8000 : 0, 8000, *t);
        if (a >= 0)
            recd_rec_audio(r, pa, 160);
        if (b >= 0)
            recd_rec_audio_sent(r, pb, 160);
        *t += 160;
    }
}

/* Where freq first dominates a 20 ms block of channel ch (of 2) among freqs; n frames. */
static size_t onset(const int16_t *p, size_t n, int ch, int want, const double *freqs, int k)
{
    int16_t blk[160];
    for (size_t at = 0; at + 160 <= n; at += 160) {
        for (size_t i = 0; i < 160; i++)
            blk[i] = p[2 * (at + i) + (size_t)ch];
        if (goertzel(blk, 160, freqs[want], 8000) > 2000 && strongest(blk, 160, freqs, k, 8000) == want)
            return at;
    }
    return SIZE_MAX;
}

/*
 * A dual recording: the caller's audio on channel 1, what recd sent on channel 2, each only on
 * its own; a stretch where the caller sends nothing and then its gap silence late keeps the two in
 * step (to within the recorder's skew); a silence pause is silence on both; the row says 2.
 */
static void dual_channels(void **state)
{
    static const double fq[] = {440, 1000, 660, 1400, 880, 1800};
    struct fixture *f = *state;
    char sid[RECD_SID_LEN + 1];
    struct done d;
    struct recd_rec *r;
    size_t t = 0;
    struct recd_rec_params p = {.account_sid = f->acc.sid,
                                .call_sid = "CA0123456789abcdef0123456789abcdef",
                                .source = "StartCallRecordingAPI",
                                .channels = 2};
    assert_int_equal(recd_rec_begin(f->rec, &p, &r, sid), 0);
    assert_int_equal(recd_rec_channels(r), 2);
    feed2(r, 440, 1000, 1000, &t);
    feed2(r, -1, 0, 600, &t); /* the caller sends nothing; recd sends silence */
    usleep(200000);           /* the writer pads the caller's side meanwhile */
    feed2(r, 0, -1, 600, &t); /* the RTP receiver's silence for that gap, late */
    usleep(200000);
    feed2(r, 660, 1400, 1000, &t);
    recd_rec_pause(r, 0);
    feed2(r, 880, 1800, 500, &t);
    recd_rec_resume(r);
    feed2(r, 440, 1000, 500, &t);
    finish(r, &d);
    assert_string_equal(d.res.status, "completed");
    assert_int_equal(d.res.channels, 2);
    struct recd_recording row;
    assert_int_equal(f->ctx.store->ops->recording_get(f->ctx.store, sid, &row), 0);
    assert_int_equal(row.channels, 2);
    /* 3.6 s, give or take the skew (256 ms) the gap may have added. */
    assert_true(row.duration_ms >= 3500 && row.duration_ms <= 3900);

    size_t n;
    int16_t *pcm = read_media_ch(f, sid, 2, &n);
    assert_int_equal(row.media_size, 44 + (int64_t)n * 4);
    /* Each side on its own channel only, and the second pair of tones in step. */
    assert_int_equal(onset(pcm, n, 0, 0, fq, 6), 0);
    assert_int_equal(onset(pcm, n, 1, 1, fq, 6), 0);
    assert_int_equal(onset(pcm, n, 0, 1, fq, 6), SIZE_MAX);
    assert_int_equal(onset(pcm, n, 1, 0, fq, 6), SIZE_MAX);
    assert_int_equal(onset(pcm, n, 0, 3, fq, 6), SIZE_MAX);
    assert_int_equal(onset(pcm, n, 1, 2, fq, 6), SIZE_MAX);
    size_t a = onset(pcm, n, 0, 2, fq, 6), b = onset(pcm, n, 1, 3, fq, 6);
    assert_true(a != SIZE_MAX && b != SIZE_MAX);
    assert_true((a > b ? a - b : b - a) <= 2048 + 160);
    /* The pause: neither side's tone, silence on both for its length. */
    for (int ch = 0; ch < 2; ch++) {
        assert_int_equal(onset(pcm, n, ch, 4, fq, 6), SIZE_MAX);
        assert_int_equal(onset(pcm, n, ch, 5, fq, 6), SIZE_MAX);
    }
    size_t run = 0, best = 0;
    for (size_t i = 0; i < n; i++) {
        run = pcm[2 * i] == 0 && pcm[2 * i + 1] == 0 ? run + 1 : 0;
        best = run > best ? run : best;
    }
    assert_true(best >= 4000);
    free(pcm);
}

/* The amplitude of freq over [from, from + n) of a mono recording (a sine of peak A: about A). */
static double power_at(const int16_t *p, size_t from, size_t n, double freq)
{
    return goertzel(p + from, n, freq, 8000);
}

/*
 * One-channel recordings of a chosen RecordingTrack (the live API's): both sides summed, or what
 * recd sent alone; the row and the file say one channel, the caller's side is spooled with recd's
 * and made one channel at publish.
 */
static void one_channel_tracks(void **state)
{
    struct fixture *f = *state;
    for (int track = RECD_REC_TRACK_OUTBOUND; track <= RECD_REC_TRACK_BOTH; track++) {
        char sid[RECD_SID_LEN + 1];
        struct done d;
        struct recd_rec *r;
        size_t t = 0, n;
        struct recd_rec_params p = {.account_sid = f->acc.sid,
                                    .call_sid = "CA0123456789abcdef0123456789abcdef",
                                    .source = "StartCallRecordingAPI",
                                    .channels = 1,
                                    .track = (enum recd_rec_track)track};
        assert_int_equal(recd_rec_begin(f->rec, &p, &r, sid), 0);
        assert_int_equal(recd_rec_channels(r), 2); /* spooled with both sides */
        feed2(r, 440, 1000, 1000, &t);             /* both talk */
        feed2(r, 660, 0, 1000, &t);                /* the caller alone */
        finish(r, &d);
        assert_string_equal(d.res.status, "completed");
        assert_int_equal(d.res.channels, 1);
        struct recd_recording row;
        assert_int_equal(f->ctx.store->ops->recording_get(f->ctx.store, sid, &row), 0);
        assert_string_equal(row.status, "completed");
        assert_int_equal(row.channels, 1);
        assert_int_equal(row.duration_ms, 2000);
        int16_t *pcm = read_media(f, sid, &n); /* checks: one channel */
        assert_int_equal(n, 16000);
        double caller = power_at(pcm, 400, 7200, 440), recd = power_at(pcm, 400, 7200, 1000);
        double later = power_at(pcm, 8400, 7200, 660);
        assert_true(recd > 6000); /* fed at 8000 */
        if (track == RECD_REC_TRACK_BOTH) {
            /* Summed, not averaged: each side keeps its level. */
            assert_true(caller > 6000 && later > 6000);
            assert_true(caller > recd / 2 && caller < recd * 2);
        } else {
            assert_true(caller < 80 && later < 80);
            for (size_t i = 8000; i < n; i++)
                assert_int_equal(pcm[i], 0);
        }
        free(pcm);
    }
}

static void drop_tail_cuts_the_key(void **state)
{
    struct fixture *f = *state;
    char sid[RECD_SID_LEN + 1];
    struct done d;
    size_t t = 0, n;
    struct recd_rec *r = begin(f, 0, sid);
    feed(r, 852, 1500, &t);
    feed(r, 1477, 100, &t); /* the key's tone */
    recd_rec_drop_tail(r, 100);
    feed(r, 1477, 40, &t); /* after the key: ignored by finish */
    finish(r, &d);
    assert_int_equal(d.res.duration_ms, 1500);
    int16_t *p = read_media(f, sid, &n);
    assert_int_equal(n, 12000);
    assert_int_equal(strongest(p + n - 160, 160, dtmf, 6, 8000), 1);
    free(p);
}

static void trim_silence(void **state)
{
    struct fixture *f = *state;
    for (int trim = 0; trim < 2; trim++) {
        char sid[RECD_SID_LEN + 1];
        struct done d;
        size_t t = 0, n;
        struct recd_rec *r = begin(f, trim, sid);
        feed(r, 0, 1000, &t);
        feed(r, 1209, 1200, &t);
        feed(r, 0, 800, &t);
        finish(r, &d);
        assert_int_equal(d.res.duration_ms, trim ? 1200 : 3000);
        assert_row(f, sid, "completed", 0, trim ? 1200 : 3000);
        int16_t *p = read_media(f, sid, &n);
        if (trim) {
            assert_false(recd_audio_is_silent(p, 160));
            assert_false(recd_audio_is_silent(p + n - 160, 160));
        }
        free(p);
    }
}

static void absent(void **state)
{
    struct fixture *f = *state;
    /* Nothing; 2 s of silence; half a second of sound; half a second of sound trimmed out of
     * 3 s; line noise. */
    static const struct {
        unsigned silence_ms, tone_ms;
        int trim, code;
    } cases[] = {
        {0, 0, 0, 16101}, {2000, 0, 1, 16102}, {0, 500, 0, 16101}, {2500, 500, 1, 16101}, {600, 0, 0, 16101}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char sid[RECD_SID_LEN + 1];
        struct done d;
        size_t t = 0;
        struct recd_rec *r = begin(f, cases[i].trim, sid);
        feed(r, 0, cases[i].silence_ms, &t);
        feed(r, 941, cases[i].tone_ms, &t);
        finish(r, &d);
        assert_string_equal(d.res.status, "absent");
        assert_int_equal(d.res.error_code, cases[i].code);
        assert_int_equal(d.res.duration_ms, 0);
        assert_row(f, sid, "absent", cases[i].code, 0);
    }
    assert_int_equal(spool_count(f), 0);
}

struct caller {
    struct fixture *f;
    int i;
    char sid[RECD_SID_LEN + 1];
    struct done d;
};

#define CALLERS 20

static double caller_freq(int i)
{
    return 400 + 130 * i;
}

static void *caller_main(void *arg)
{
    struct caller *c = arg;
    struct recd_rec *r;
    struct recd_rec_params p = {
        .account_sid = c->f->acc.sid, .source = "StartCallRecordingAPI", .channels = 1};
    size_t t = 0;
    if (recd_rec_begin(c->f->rec, &p, &r, c->sid) < 0)
        return NULL;
    for (int k = 0; k < 3; k++) {
        feed(r, caller_freq(c->i), 400, &t);
        usleep(20000);
    }
    finish(r, &c->d);
    return NULL;
}

static void twenty_at_once(void **state)
{
    struct fixture *f = *state;
    struct caller c[CALLERS];
    pthread_t th[CALLERS];
    double freqs[CALLERS];
    for (int i = 0; i < CALLERS; i++) {
        freqs[i] = caller_freq(i);
        c[i] = (struct caller){.f = f, .i = i};
        pthread_create(&th[i], NULL, caller_main, &c[i]);
    }
    for (int i = 0; i < CALLERS; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < CALLERS; i++) {
        size_t n;
        assert_int_equal(c[i].d.called, 1);
        assert_string_equal(c[i].d.res.status, "completed");
        assert_int_equal(c[i].d.res.duration_ms, 1200);
        int16_t *p = read_media(f, c[i].sid, &n);
        for (size_t at = 0; at + 1600 <= n; at += 1600)
            assert_int_equal(strongest(p + at, 1600, freqs, CALLERS, 8000), i);
        free(p);
    }
}

/* Stopping finishes what is still open, so no row stays in progress. */
static void stop_finishes_open(void **state)
{
    struct fixture *f = *state;
    char sid[RECD_SID_LEN + 1];
    size_t t = 0;
    struct recd_rec *r = begin(f, 0, sid);
    feed(r, 770, 1500, &t);
    recd_recorder_stop(f->rec);
    assert_int_equal(start_recorder(f, &f->rec), 0);
    assert_row(f, sid, "completed", 0, 1500);
}

static void refuses_bad_params(void **state)
{
    struct fixture *f = *state;
    struct recd_rec *r;
    char sid[RECD_SID_LEN + 1];
    struct recd_rec_params p = {.account_sid = "AC../../etc", .source = "RecordVerb", .channels = 1};
    assert_int_equal(recd_rec_begin(f->rec, &p, &r, sid), RECD_E_BAD_INPUT);
    p.account_sid = f->acc.sid;
    p.call_sid = "CA/x";
    assert_int_equal(recd_rec_begin(f->rec, &p, &r, sid), RECD_E_BAD_INPUT);
    p.call_sid = NULL;
    p.source = "Elsewhere";
    assert_int_equal(recd_rec_begin(f->rec, &p, &r, sid), RECD_E_BAD_INPUT);
    struct recd_recorder_opts o = {
        .store = f->ctx.store, .blob = f->ctx.blob, .flush_ms = 1001, .spool_dir = f->spool};
    struct recd_recorder *bad;
    assert_int_equal(recd_recorder_start(&o, &bad), RECD_E_BAD_INPUT);
    o.flush_ms = 100;
    o.spool_dir = NULL;
    assert_int_equal(recd_recorder_start(&o, &bad), RECD_E_BAD_INPUT);
}

/*
 * The child of crash_recovery, run as `test_recorder --crash-child DIR ACSID FD`: it records (paced
 * as a call is) into DIR's store and spool, writes the recording's sid to FD after 3 s of audio,
 * and goes on until it is killed. Its recording is one channel of both tracks with recd's side
 * silent, so that recovery must read from the spool's header that two channels make one. It is a new process
 * image, not a fork of the test: a fork of a process whose threads (the fixture's recorder) may be inside the
 * sanitizer's allocator inherits its locks held, and the child hung in its first malloc about one run in six.
 */
static int crash_child(const char *dir, const char *account_sid, int fd)
{
    char db[160], spool[160], sid[RECD_SID_LEN + 1];
    snprintf(db, sizeof db, "%s/recd.db", dir);
    snprintf(spool, sizeof spool, "%s/spool", dir);
    struct recd_ctx cctx;
    struct recd_recorder *crec;
    struct recd_store *st;
    struct recd_rec *r;
    struct recd_rec_params p = {.account_sid = account_sid,
                                .call_sid = "CA0123456789abcdef0123456789abcdef",
                                .source = "StartCallRecordingAPI",
                                .channels = 1,
                                .track = RECD_REC_TRACK_BOTH};
    static const int16_t quiet[160];
    size_t t = 0;
    if (recd_ctx_open(dir, &cctx) < 0 || recd_store_sqlite_open(db, &st) < 0)
        return 3;
    struct recd_recorder_opts o = {.store = st, .blob = cctx.blob, .flush_ms = 100, .spool_dir = spool};
    if (recd_recorder_start(&o, &crec) < 0 || recd_rec_begin(crec, &p, &r, sid) < 0)
        return 4;
    for (int i = 0;; i++) {
        struct timespec ts = {0, 20000000};
        feed(r, dtmf[(i / 50) % 4], 20, &t);
        recd_rec_audio_sent(r, quiet, 160);
        nanosleep(&ts, NULL);
        if (i == 150 && write(fd, sid, sizeof sid) != (ssize_t)sizeof sid)
            return 5;
    }
}

/*
 * A crash: a child process records (paced as a call is) and is killed with SIGKILL after 3 s of
 * audio; a new recorder recovers the recording as completed with about 3 s in it (at most
 * flush_ms plus a drain lost, and whatever the child recorded between its report and the kill).
 */
static void crash_recovery(void **state)
{
    struct fixture *f = *state;
    int pfd[2];
    char sid[RECD_SID_LEN + 1], fdarg[16];
    assert_int_equal(pipe(pfd), 0);
    snprintf(fdarg, sizeof fdarg, "%d", pfd[1]);
    /* The fixture's recorder must not be recording while the child holds the same files. */
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        execl("/proc/self/exe", "test_recorder", "--crash-child", f->dir, f->acc.sid, fdarg, (char *)NULL);
        _exit(6);
    }
    close(pfd[1]);
    assert_int_equal(read(pfd[0], sid, sizeof sid), (ssize_t)sizeof sid);
    close(pfd[0]);
    /* A moment for the writer to have synced the first 3 s: the child keeps recording. */
    usleep(300000);
    kill(pid, SIGKILL);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));

    struct recd_recording row;
    assert_int_equal(f->ctx.store->ops->recording_get(f->ctx.store, sid, &row), 0);
    assert_string_equal(row.status, "in-progress");
    /* An orphan spool (no row) and a stranger's file. */
    char path[160];
    snprintf(path, sizeof path, "%s/RE00000000000000000000000000000000.spool", f->spool);
    int ofd = open(path, O_CREAT | O_WRONLY, 0600);
    close(ofd);
    snprintf(path, sizeof path, "%s/notes.txt", f->spool);
    ofd = open(path, O_CREAT | O_WRONLY, 0600);
    close(ofd);

    int64_t n = -1;
    assert_int_equal(recd_recorder_recover(f->rec, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(f->ctx.store->ops->recording_get(f->ctx.store, sid, &row), 0);
    assert_string_equal(row.status, "completed");
    print_message("recovered %s: %lld ms (3000 written before the report)\n", sid,
                  (long long)row.duration_ms);
    assert_true(row.duration_ms >= 2000 && row.duration_ms <= 4500);
    size_t ns;
    int16_t *p = read_media(f, sid, &ns);
    assert_int_equal(row.media_size, 44 + (int64_t)ns * 2);
    for (int i = 0; i < 3; i++)
        assert_int_equal(strongest(p + i * 8000 + 400, 7200, dtmf, 6, 8000), i);
    free(p);
    /* The recovered spool and the orphan are gone; the stranger stays. */
    assert_int_equal(spool_count(f), 1);
    assert_int_equal(access(path, F_OK), 0);
    /* Recovery again finds nothing. */
    assert_int_equal(recd_recorder_recover(f->rec, &n), 0);
    assert_int_equal(n, 0);
}

int main(int argc, char **argv)
{
    if (argc == 5 && strcmp(argv[1], "--crash-child") == 0)
        return crash_child(argv[2], argv[3], atoi(argv[4]));
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(tone_sequence, setup, teardown),
        cmocka_unit_test_setup_teardown(in_progress_row, setup, teardown),
        cmocka_unit_test_setup_teardown(pause_silence_and_skip, setup, teardown),
        cmocka_unit_test_setup_teardown(drop_tail_cuts_the_key, setup, teardown),
        cmocka_unit_test_setup_teardown(dual_channels, setup, teardown),
        cmocka_unit_test_setup_teardown(one_channel_tracks, setup, teardown),
        cmocka_unit_test_setup_teardown(trim_silence, setup, teardown),
        cmocka_unit_test_setup_teardown(absent, setup, teardown),
        cmocka_unit_test_setup_teardown(twenty_at_once, setup, teardown),
        cmocka_unit_test_setup_teardown(stop_finishes_open, setup, teardown),
        cmocka_unit_test_setup_teardown(refuses_bad_params, setup, teardown),
        cmocka_unit_test_setup_teardown(crash_recovery, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
