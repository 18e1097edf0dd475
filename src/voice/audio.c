#include "voice/audio.h"

#include "core/error.h"

#include <math.h>
#include <mpg123.h>
#include <pthread.h>
#include <sndfile.h>
#include <soxr.h>
#include <stdlib.h>
#include <string.h>

/*
 * Decoding: a decoder (libsndfile or libmpg123) hands mono float blocks at the source rate to a
 * sink, which converts the rate with libsoxr and appends 16-bit samples to the output. Nothing
 * is read whole into memory but the output itself, which is capped, so a file that claims (or
 * decodes to) hours of audio stops at the cap instead of exhausting memory.
 */

#define MIN_RATE     1000
#define MAX_RATE     384000
#define MAX_CHANNELS 64
#define BLOCK_FRAMES 4096

void recd_pcm_free(struct recd_pcm *p)
{
    free(p->samples);
    p->samples = NULL;
    p->n = 0;
}

struct sink {
    soxr_t rs;    /* NULL when the source is already at 8 kHz */
    double rate;  /* of the source */
    int16_t *out; /* the result, grown by doubling */
    size_t n, cap;
    size_t in_frames, max_in_frames;
};

static int sink_init(struct sink *s, double rate)
{
    memset(s, 0, sizeof *s);
    if (!(rate >= MIN_RATE && rate <= MAX_RATE))
        return RECD_E_BAD_INPUT;
    s->rate = rate;
    /* A second of slack for the resampler's delay; the output cap is what really binds. */
    s->max_in_frames = (size_t)((double)RECD_AUDIO_MAX_SAMPLES * rate / RECD_AUDIO_RATE + rate);
    if (rate == RECD_AUDIO_RATE)
        return 0;
    soxr_error_t err;
    /* No dither: silence stays exact zeros, and the same input always gives the same samples. */
    soxr_io_spec_t io = soxr_io_spec(SOXR_FLOAT32_I, SOXR_INT16_I);
    io.flags |= SOXR_NO_DITHER;
    soxr_quality_spec_t q = soxr_quality_spec(SOXR_HQ, 0);
    s->rs = soxr_create(rate, RECD_AUDIO_RATE, 1, &err, &io, &q, NULL);
    return s->rs ? 0 : RECD_E_INTERNAL;
}

static void sink_free(struct sink *s)
{
    if (s->rs)
        soxr_delete(s->rs);
    free(s->out);
    s->rs = NULL;
    s->out = NULL;
}

/* Room for `more` samples after the n already held, within the cap (plus a little resampler
 * overshoot, trimmed later). */
static int sink_reserve(struct sink *s, size_t more)
{
    if (s->n + more <= s->cap)
        return 0;
    if (s->n + more > RECD_AUDIO_MAX_SAMPLES + 2 * BLOCK_FRAMES)
        return RECD_E_TOO_LARGE;
    size_t cap = s->cap ? s->cap : 16384;
    while (cap < s->n + more)
        cap *= 2;
    int16_t *p = realloc(s->out, cap * sizeof *p);
    if (!p)
        return RECD_E_INTERNAL;
    s->out = p;
    s->cap = cap;
    return 0;
}

static int16_t to_s16(float x)
{
    float v = x * 32768.0f;
    if (!(v > -32768.0f)) /* also NaN */
        return v != v ? 0 : -32768;
    if (v >= 32767.0f)
        return 32767;
    return (int16_t)lrintf(v);
}

/* Adds `n` mono frames at the source rate; NULL/0 flushes the resampler at the end. */
static int sink_push(struct sink *s, const float *x, size_t n)
{
    s->in_frames += n;
    if (s->in_frames > s->max_in_frames)
        return RECD_E_TOO_LARGE;
    if (!s->rs) {
        int rc = sink_reserve(s, n);
        if (rc < 0)
            return rc;
        for (size_t i = 0; i < n; i++)
            s->out[s->n++] = to_s16(x[i]);
        return s->n > RECD_AUDIO_MAX_SAMPLES ? RECD_E_TOO_LARGE : 0;
    }
    for (;;) {
        size_t room = (size_t)((double)n * RECD_AUDIO_RATE / s->rate) + 1024, idone = 0, odone = 0;
        int rc = sink_reserve(s, room);
        if (rc < 0)
            return rc;
        if (soxr_process(s->rs, x, n, &idone, s->out + s->n, room, &odone))
            return RECD_E_INTERNAL;
        s->n += odone;
        if (s->n > RECD_AUDIO_MAX_SAMPLES)
            return RECD_E_TOO_LARGE;
        if (x) {
            x += idone;
            n -= idone;
            if (n == 0)
                return 0;
        } else if (odone == 0) {
            return 0; /* flushed */
        }
    }
}

static int sink_finish(struct sink *s, struct recd_pcm *out)
{
    int rc = s->rs ? sink_push(s, NULL, 0) : 0;
    if (rc < 0)
        return rc;
    if (s->n == 0)
        return RECD_E_BAD_INPUT;
    out->samples = s->out;
    out->n = s->n;
    s->out = NULL;
    return 0;
}

/* libsndfile reads from memory through its virtual I/O. */
struct memfile {
    const unsigned char *p;
    sf_count_t len, pos;
};

static sf_count_t vio_len(void *u)
{
    return ((struct memfile *)u)->len;
}

static sf_count_t vio_seek(sf_count_t off, int whence, void *u)
{
    struct memfile *m = u;
    sf_count_t base = whence == SEEK_CUR ? m->pos : whence == SEEK_END ? m->len : 0;
    if (off < -base || off > m->len - base)
        return -1;
    m->pos = base + off;
    return m->pos;
}

static sf_count_t vio_read(void *dst, sf_count_t n, void *u)
{
    struct memfile *m = u;
    if (n > m->len - m->pos)
        n = m->len - m->pos;
    if (n <= 0)
        return 0;
    memcpy(dst, m->p + m->pos, (size_t)n);
    m->pos += n;
    return n;
}

static sf_count_t vio_write(const void *src, sf_count_t n, void *u)
{
    (void)src;
    (void)n;
    (void)u;
    return 0;
}

static sf_count_t vio_tell(void *u)
{
    return ((struct memfile *)u)->pos;
}

static int decode_sndfile(const void *bytes, size_t len, struct recd_pcm *out)
{
    SF_VIRTUAL_IO vio = {vio_len, vio_seek, vio_read, vio_write, vio_tell};
    struct memfile m = {bytes, (sf_count_t)len, 0};
    SF_INFO info;
    struct sink s;
    float *buf = NULL, *mono = NULL;
    memset(&info, 0, sizeof info);
    memset(&s, 0, sizeof s);
    SNDFILE *sf = sf_open_virtual(&vio, SFM_READ, &info, &m);
    if (!sf)
        return RECD_E_BAD_INPUT;
    int rc = RECD_E_BAD_INPUT;
    if (info.channels < 1 || info.channels > MAX_CHANNELS)
        goto done;
    if ((rc = sink_init(&s, info.samplerate)) < 0)
        goto done;
    int ch = info.channels;
    buf = malloc(sizeof *buf * BLOCK_FRAMES * (size_t)ch);
    mono = malloc(sizeof *mono * BLOCK_FRAMES);
    if (!buf || !mono) {
        rc = RECD_E_INTERNAL;
        goto done;
    }
    for (;;) {
        sf_count_t got = sf_readf_float(sf, buf, BLOCK_FRAMES);
        if (got <= 0)
            break;
        for (sf_count_t i = 0; i < got; i++) {
            float sum = 0;
            for (int c = 0; c < ch; c++)
                sum += buf[i * ch + c];
            mono[i] = sum / (float)ch;
        }
        if ((rc = sink_push(&s, mono, (size_t)got)) < 0)
            goto done;
    }
    rc = sink_finish(&s, out);
done:
    free(buf);
    free(mono);
    sink_free(&s);
    sf_close(sf);
    return rc;
}

static pthread_once_t mpg123_once = PTHREAD_ONCE_INIT;
static int mpg123_ready;

static void mpg123_setup(void)
{
    mpg123_ready = mpg123_init() == MPG123_OK;
}

/* Accepts every rate MPEG audio has, as 32-bit float, mono or stereo (mixed here). */
static int mpg123_configure(mpg123_handle *mh)
{
    const long *rates;
    size_t nrates;
    if (mpg123_param(mh, MPG123_FLAGS, MPG123_QUIET, 0) != MPG123_OK || mpg123_format_none(mh) != MPG123_OK)
        return RECD_E_INTERNAL;
    mpg123_rates(&rates, &nrates);
    for (size_t i = 0; i < nrates; i++)
        if (mpg123_format(mh, rates[i], MPG123_MONO | MPG123_STEREO, MPG123_ENC_FLOAT_32) != MPG123_OK)
            return RECD_E_INTERNAL;
    return mpg123_open_feed(mh) == MPG123_OK ? 0 : RECD_E_INTERNAL;
}

static int decode_mpg123(const void *bytes, size_t len, struct recd_pcm *out)
{
    struct sink s;
    float buf[BLOCK_FRAMES * 2], mono[BLOCK_FRAMES * 2];
    long rate = 0;
    int ch = 0, enc = 0, rc, err;
    memset(&s, 0, sizeof s);
    pthread_once(&mpg123_once, mpg123_setup);
    if (!mpg123_ready)
        return RECD_E_INTERNAL;
    mpg123_handle *mh = mpg123_new(NULL, &err);
    if (!mh)
        return RECD_E_INTERNAL;
    if ((rc = mpg123_configure(mh)) < 0)
        goto done;
    rc = RECD_E_BAD_INPUT;
    if (mpg123_feed(mh, bytes, len) != MPG123_OK)
        goto done;
    for (;;) {
        size_t done = 0;
        int ret = mpg123_read(mh, buf, sizeof buf, &done);
        if (ret == MPG123_NEW_FORMAT) {
            long r;
            if (mpg123_getformat(mh, &r, &ch, &enc) != MPG123_OK || enc != MPG123_ENC_FLOAT_32 || ch < 1 ||
                ch > 2 || (rate && r != rate)) {
                rc = RECD_E_BAD_INPUT; /* a stream that changes rate mid-way is not one recd plays */
                goto done;
            }
            if (!rate && (rc = sink_init(&s, (double)r)) < 0)
                goto done;
            rate = r;
        }
        if (done > 0 && rate) {
            size_t frames = done / sizeof(float) / (size_t)ch;
            for (size_t i = 0; i < frames; i++)
                mono[i] = ch == 1 ? buf[i] : (buf[2 * i] + buf[2 * i + 1]) / 2;
            if ((rc = sink_push(&s, mono, frames)) < 0)
                goto done;
        }
        if (ret == MPG123_NEED_MORE || ret == MPG123_DONE)
            break;
        if (ret != MPG123_OK && ret != MPG123_NEW_FORMAT) {
            rc = RECD_E_BAD_INPUT;
            goto done;
        }
    }
    rc = rate ? sink_finish(&s, out) : RECD_E_BAD_INPUT;
done:
    sink_free(&s);
    mpg123_delete(mh);
    return rc;
}

static int looks_mpeg(const unsigned char *b, size_t len)
{
    if (len >= 3 && memcmp(b, "ID3", 3) == 0)
        return 1;
    /* An MPEG audio frame header: 11 sync bits, then a layer field that is not "reserved". */
    return len >= 2 && b[0] == 0xFF && (b[1] & 0xE0) == 0xE0 && (b[1] & 0x06) != 0;
}

static int looks_sndfile(const unsigned char *b, size_t len)
{
    static const char *const magic[] = {"RIFF", "RIFX", "RF64", "FORM", ".snd", "fLaC", "OggS"};
    for (size_t i = 0; len >= 4 && i < sizeof magic / sizeof magic[0]; i++)
        if (memcmp(b, magic[i], 4) == 0)
            return 1;
    return 0;
}

static int type_is_mpeg(const char *ct)
{
    return ct && (strstr(ct, "mpeg") || strstr(ct, "mp3") || strstr(ct, "MPEG") || strstr(ct, "MP3"));
}

int recd_audio_decode(const void *bytes, size_t len, const char *content_type, struct recd_pcm *out)
{
    const unsigned char *b = bytes;
    memset(out, 0, sizeof *out);
    if (!bytes || len == 0)
        return RECD_E_BAD_INPUT;
    if (looks_sndfile(b, len))
        return decode_sndfile(bytes, len, out);
    if (looks_mpeg(b, len) || type_is_mpeg(content_type))
        return decode_mpg123(bytes, len, out);
    return decode_sndfile(bytes, len, out);
}

int recd_audio_resample(const int16_t *pcm, size_t n, unsigned rate, struct recd_pcm *out)
{
    struct sink s;
    float block[BLOCK_FRAMES];
    memset(out, 0, sizeof *out);
    int rc = sink_init(&s, rate);
    for (size_t at = 0; rc == 0 && at < n; at += BLOCK_FRAMES) {
        size_t k = n - at < BLOCK_FRAMES ? n - at : BLOCK_FRAMES;
        for (size_t i = 0; i < k; i++)
            block[i] = (float)pcm[at + i] / 32768.0f;
        rc = sink_push(&s, block, k);
    }
    if (rc == 0)
        rc = sink_finish(&s, out);
    sink_free(&s);
    return rc;
}

int recd_audio_silence(unsigned ms, struct recd_pcm *out)
{
    memset(out, 0, sizeof *out);
    size_t n = (size_t)ms * (RECD_AUDIO_RATE / 1000);
    if (n > RECD_AUDIO_MAX_SAMPLES)
        return RECD_E_TOO_LARGE;
    if (n == 0)
        return 0;
    out->samples = calloc(n, sizeof *out->samples);
    if (!out->samples)
        return RECD_E_INTERNAL;
    out->n = n;
    return 0;
}

int recd_audio_beep(struct recd_pcm *out)
{
    const size_t n = RECD_AUDIO_RATE / 2, ramp = RECD_AUDIO_RATE / 200;
    const double amp = 32767.0 * 0.316; /* -10 dBFS */
    memset(out, 0, sizeof *out);
    out->samples = malloc(n * sizeof *out->samples);
    if (!out->samples)
        return RECD_E_INTERNAL;
    for (size_t i = 0; i < n; i++) {
        double g = 1.0;
        if (i < ramp)
            g = (double)i / (double)ramp;
        else if (n - 1 - i < ramp)
            g = (double)(n - 1 - i) / (double)ramp;
        out->samples[i] = (int16_t)lrint(amp * g * sin(2 * M_PI * 1000.0 * (double)i / RECD_AUDIO_RATE));
    }
    out->n = n;
    return 0;
}

/* 1 when the window's mean square is at or below the threshold's square. */
static int window_silent(const int16_t *p, size_t n)
{
    int64_t sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += (int32_t)p[i] * p[i];
    return sum <= (int64_t)RECD_AUDIO_SILENCE_RMS * RECD_AUDIO_SILENCE_RMS * (int64_t)n;
}

int recd_audio_is_silent(const int16_t *pcm, size_t n)
{
    for (size_t at = 0; at < n; at += RECD_AUDIO_WINDOW) {
        size_t k = n - at < RECD_AUDIO_WINDOW ? n - at : RECD_AUDIO_WINDOW;
        if (!window_silent(pcm + at, k))
            return 0;
    }
    return 1;
}

void recd_audio_sound_span(const int16_t *pcm, size_t n, size_t *first, size_t *end)
{
    size_t a = n, z = 0;
    for (size_t at = 0; at < n; at += RECD_AUDIO_WINDOW) {
        size_t k = n - at < RECD_AUDIO_WINDOW ? n - at : RECD_AUDIO_WINDOW;
        if (!window_silent(pcm + at, k)) {
            if (a == n)
                a = at;
            z = at + k;
        }
    }
    *first = z ? a : 0;
    *end = z;
}
