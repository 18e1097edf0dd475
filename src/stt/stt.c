#include "stt/stt.h"

#include "core/error.h"
#include "media/wav.h"
#include "stt/stt_internal.h"

#include <limits.h>
#include <sndfile.h>
#include <soxr.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* What every engine shares: choosing one, reading a stored WAV into PCM, resampling. */

int recd_stt_open(const struct recd_stt_config *c, struct recd_stt_engine **out, char *why, size_t why_n)
{
    *out = NULL;
    if (c->url && c->url[0])
        return recd_stt_openai_open(c, out, why, why_n);
    return recd_stt_sphinx_open(c, out, why, why_n);
}

int recd_stt_check(const struct recd_stt_config *c, char *why, size_t why_n)
{
    if (c->url && c->url[0])
        return recd_stt_openai_check(c, why, why_n);
    return recd_stt_sphinx_check(c, why, why_n);
}

void recd_stt_result_init(struct recd_stt_result *r)
{
    recd_buf_init(&r->text, 0);
    r->confidence = 0;
}

void recd_stt_result_free(struct recd_stt_result *r)
{
    recd_buf_free(&r->text);
}

int recd_stt_fail(char *why, size_t why_n, int rc, const char *fmt, ...)
{
    if (why && why_n) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, why_n, fmt, ap);
        va_end(ap);
    }
    return rc;
}

/* The probe has checked the header against the file, so libsndfile's frame count is the truth and
 * the allocation below is bounded by the file's size (and by max_ms when the caller gives one). */
int recd_stt_read_wav(int fd, int64_t max_ms, struct recd_stt_pcm *out, char *why, size_t why_n)
{
    struct recd_wav_info wi;
    char pwhy[160];
    memset(out, 0, sizeof *out);
    if (recd_wav_probe(fd, &wi, pwhy, sizeof pwhy) < 0)
        return recd_stt_fail(why, why_n, RECD_E_BAD_INPUT, "%s", pwhy);
    if (max_ms > 0 && wi.duration_ms > max_ms)
        return recd_stt_fail(why, why_n, RECD_E_TOO_LARGE,
                             "the recording is %lld s long; the limit is %lld s",
                             (long long)((wi.duration_ms + 500) / 1000), (long long)(max_ms / 1000));
    if (lseek(fd, 0, SEEK_SET) < 0)
        return recd_stt_fail(why, why_n, RECD_E_IO, "cannot read the recording");
    SF_INFO si;
    memset(&si, 0, sizeof si);
    SNDFILE *sf = sf_open_fd(fd, SFM_READ, &si, 0);
    if (!sf)
        return recd_stt_fail(why, why_n, RECD_E_BAD_INPUT, "not a readable WAV file");
    int rc = 0;
    size_t frames = (size_t)wi.frames;
    int ch = si.channels;
    short *inter = NULL;
    int16_t *mono = malloc((frames ? frames : 1) * sizeof *mono);
    if (ch == 2)
        inter = malloc((frames ? frames : 1) * 2 * sizeof *inter);
    if (!mono || (ch == 2 && !inter)) {
        rc = recd_stt_fail(why, why_n, RECD_E_INTERNAL, "out of memory");
        goto out;
    }
    sf_count_t got = sf_readf_short(sf, ch == 2 ? inter : mono, (sf_count_t)frames);
    if (got < 0 || (size_t)got != frames) {
        rc = recd_stt_fail(why, why_n, RECD_E_IO, "the recording's audio is shorter than its header says");
        goto out;
    }
    if (ch == 2)
        for (size_t i = 0; i < frames; i++)
            mono[i] = (int16_t)(((int)inter[2 * i] + (int)inter[2 * i + 1]) / 2);
    out->samples = mono;
    mono = NULL;
    out->n = frames;
    out->rate = si.samplerate;
    out->duration_ms = wi.duration_ms;
out:
    free(inter);
    free(mono);
    sf_close(sf);
    return rc;
}

int recd_stt_transcribe_wav(struct recd_stt_engine *e, int fd, recd_stt_tick_fn tick, void *tick_arg,
                            struct recd_stt_result *out, char *why, size_t why_n)
{
    struct recd_stt_pcm pcm;
    int rc = recd_stt_read_wav(fd, 0, &pcm, why, why_n);
    if (rc < 0)
        return rc;
    rc = e->ops->transcribe(e, pcm.samples, pcm.n, pcm.rate, tick, tick_arg, out, why, why_n);
    free(pcm.samples);
    return rc;
}

int recd_stt_resample(const int16_t *in, size_t n, int in_rate, int out_rate, int16_t **out, size_t *out_n)
{
    *out = NULL;
    *out_n = 0;
    if (in_rate <= 0 || out_rate <= 0)
        return RECD_E_INTERNAL;
    /* One extra sample of room: soxr may round the output length up. */
    size_t cap = (size_t)((double)n * out_rate / in_rate) + 16;
    int16_t *o = malloc(cap * sizeof *o);
    if (!o)
        return RECD_E_INTERNAL;
    if (in_rate == out_rate) {
        memcpy(o, in, n * sizeof *o);
        *out = o;
        *out_n = n;
        return 0;
    }
    /* No dither: by default libsoxr adds TPDF dither when it writes 16-bit samples, seeded from the
     * clock and an address, so the same audio came out different on every call, and PocketSphinx,
     * which finds little but that noise above 4 kHz in upsampled telephone audio, heard different
     * words each time. Rounding is deterministic, and half a bit of noise buys a recogniser nothing. */
    soxr_io_spec_t io = soxr_io_spec(SOXR_INT16_I, SOXR_INT16_I);
    io.flags |= SOXR_NO_DITHER;
    soxr_quality_spec_t q = soxr_quality_spec(SOXR_HQ, 0);
    size_t done = 0;
    soxr_error_t err = soxr_oneshot(in_rate, out_rate, 1, in, n, NULL, o, cap, &done, &io, &q, NULL);
    if (err) {
        free(o);
        return RECD_E_INTERNAL;
    }
    *out = o;
    *out_n = done;
    return 0;
}
