#include "media/transcode.h"
#include "media/wav_internal.h"

#include "core/error.h"
#include "core/log.h"
#include "media/wav.h"

#include <errno.h>
#include <lame/lame.h>
#include <sndfile.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/*
 * Both transforms first pass the file through recd_wav_probe, so they accept exactly what an
 * import accepts (a truncated or lying header included), then read the samples through
 * libsndfile in fixed blocks. libsndfile hands integer PCM of every width back as int scaled
 * to the full 32-bit range (an 8-bit byte b becomes (b - 128) << 24, a 16-bit sample s
 * becomes s << 16), which is exactly what LAME's *_int entry points take, and from which the
 * downmix recovers the source's own integers exactly.
 */

/* Frames per block: 32 KiB of stereo samples, plus LAME's output for them. */
#define BLOCK_FRAMES 4096
/* LAME's documented worst case for one call: 1.25 bytes a sample plus 7200. */
#define MP3_BLOCK_MAX (BLOCK_FRAMES * 5 / 4 + 7200)
/* The largest MP3 frame recd can produce is 1441 bytes (MPEG-1 at 32 kHz and 320 kbit/s). */
#define MP3_FRAME_MAX 2880
/*
 * LAME's choice of algorithms, 0 (best, very slow) to 9; lame.h recommends 2 ("near-best") or
 * 5 ("good quality, fast"). The bitrate sets the quality far more than this does, and the first
 * request for a recording's MP3 waits for the encode: at 5 an hour of 8 kHz mono takes about
 * 3.5 s of one core, at 2 about 17 s.
 */
#define LAME_QUALITY 5

/* A WAV being read block by block. */
struct src {
    struct recd_wav_info info;
    struct recd_wav_vio v;
    SNDFILE *sf;
    int64_t left; /* frames not yet read */
};

/* Probes the file and opens it for reading; on failure nothing is left open. */
static int src_open(int fd, struct src *s)
{
    SF_INFO sfi;
    char why[160];

    memset(s, 0, sizeof *s);
    int e = recd_wav_probe(fd, &s->info, why, sizeof why);
    if (e < 0)
        return e;
    s->sf = recd_wav_sf_open(&s->v, fd, s->info.file_size, &sfi);
    /* The probe opened it the same way a moment ago: failing now means the file changed. */
    if (s->sf == NULL || sfi.channels != s->info.channels || sfi.frames != s->info.frames) {
        if (s->sf != NULL)
            sf_close(s->sf);
        s->sf = NULL;
        return RECD_E_BAD_INPUT;
    }
    s->left = s->info.frames;
    return 0;
}

/*
 * Reads the next block into `pcm` (room for BLOCK_FRAMES frames): the number of frames read,
 * 0 at the end, or RECD_E_BAD_INPUT if the samples stop before the header said they would.
 */
static int src_read(struct src *s, int *pcm)
{
    sf_count_t want = s->left < BLOCK_FRAMES ? (sf_count_t)s->left : BLOCK_FRAMES;
    if (want == 0)
        return 0;
    if (sf_readf_int(s->sf, pcm, want) != want)
        return RECD_E_BAD_INPUT;
    s->left -= want;
    return (int)want;
}

static void src_close(struct src *s)
{
    if (s->sf != NULL)
        sf_close(s->sf);
    s->sf = NULL;
}

/* The sample rate an MP3 gets: the input's when MP3 has it, else the next higher MP3 rate. */
static int mp3_rate(int in)
{
    static const int rates[] = {8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000};
    for (size_t i = 0; i < sizeof rates / sizeof rates[0]; i++)
        if (in <= rates[i])
            return rates[i];
    return 48000;
}

/*
 * The CBR bitrate in kbit/s for an output rate; the table is in transcode.h. Speech-band mono
 * gets Twilio's 32 kbit/s. Above that the floor is set by the Info tag: with CBR, LAME puts
 * the tag in a frame of the stream's own bitrate and silently leaves it out if it does not
 * fit (an MPEG-2 mono frame needs 169 bytes, and 32 kbit/s at 16 kHz gives 144, 48 kbit/s at
 * 22.05 kHz 156). 48 and 64 kbit/s clear it at every rate with room to spare.
 */
static int mp3_kbps(int channels, int rate)
{
    int mono = rate <= 12000 ? 32 : rate <= 16000 ? 48 : 64;
    return channels == 2 ? 2 * mono : mono;
}

/* Forgets whatever was appended to `out` after `start`. */
static void buf_truncate(struct recd_buf *out, size_t start)
{
    out->len = start;
    if (out->p != NULL)
        out->p[start] = '\0';
}

/* A LAME encoder set up for `info`'s audio; NULL (with *step saying where) when LAME refuses. */
static lame_t encoder_for(const struct recd_wav_info *info, const char **step)
{
    int channels = info->channels;
    int rate = mp3_rate(info->sample_rate);
    lame_t lame = lame_init();
    *step = "lame_init";
    if (lame == NULL)
        return NULL;
    lame_set_num_channels(lame, channels);
    lame_set_in_samplerate(lame, info->sample_rate);
    /* Set explicitly: left at 0, LAME would pick a lower rate to suit a low bitrate. */
    lame_set_out_samplerate(lame, rate);
    lame_set_mode(lame, channels == 2 ? JOINT_STEREO : MONO);
    lame_set_VBR(lame, vbr_off);
    lame_set_brate(lame, mp3_kbps(channels, rate));
    lame_set_quality(lame, LAME_QUALITY);
    /* An Info tag for duration and seeking; no ID3 tag, so the bytes depend on the audio alone. */
    lame_set_bWriteVbrTag(lame, 1);
    lame_set_write_id3tag_automatic(lame, 0);
    *step = "lame_init_params";
    if (lame_init_params(lame) < 0) {
        lame_close(lame);
        return NULL;
    }
    return lame;
}

int recd_mp3_encode(int fd, struct recd_buf *out)
{
    struct src s;
    lame_t lame = NULL;
    int *pcm = NULL;
    size_t start = out->len;
    const char *step = NULL;
    int e, n;

    if ((e = src_open(fd, &s)) < 0)
        return e;
    int channels = s.info.channels;
    e = RECD_E_INTERNAL;
    if ((lame = encoder_for(&s.info, &step)) == NULL)
        goto fail;

    pcm = malloc(sizeof *pcm * BLOCK_FRAMES * (size_t)channels);
    if (pcm == NULL)
        abort();
    while ((n = src_read(&s, pcm)) > 0) {
        recd_buf_reserve(out, MP3_BLOCK_MAX);
        unsigned char *dst = (unsigned char *)out->p + out->len;
        int r = channels == 2 ? lame_encode_buffer_interleaved_int(lame, pcm, n, dst, MP3_BLOCK_MAX)
                              : lame_encode_buffer_int(lame, pcm, pcm, n, dst, MP3_BLOCK_MAX);
        step = "lame_encode_buffer";
        if (r < 0)
            goto fail;
        out->len += (size_t)r;
    }
    if (n < 0) {
        e = n;
        step = NULL; /* the file's fault, not ours: not logged */
        goto fail;
    }
    recd_buf_reserve(out, MP3_BLOCK_MAX);
    step = "lame_encode_flush";
    int r = lame_encode_flush(lame, (unsigned char *)out->p + out->len, MP3_BLOCK_MAX);
    if (r < 0)
        goto fail;
    out->len += (size_t)r;

    /*
     * LAME began the stream with a placeholder frame of the same size as the final tag; with
     * no ID3v2 tag before it, that frame is the first thing this call appended.
     */
    unsigned char tag[MP3_FRAME_MAX];
    size_t tn = lame_get_lametag_frame(lame, tag, sizeof tag);
    step = "lame_get_lametag_frame";
    if (tn == 0 || tn > sizeof tag || tn > out->len - start)
        goto fail;
    memcpy(out->p + start, tag, tn);
    out->p[out->len] = '\0';
    e = 0;

fail:
    if (e < 0) {
        if (step != NULL)
            recd_log_error("mp3 encode (%d ch, %d Hz, %d-bit): %s failed", s.info.channels,
                           s.info.sample_rate, s.info.bits, step);
        buf_truncate(out, start);
    }
    free(pcm);
    if (lame != NULL)
        lame_close(lame);
    src_close(&s);
    return e;
}

static void put_le(unsigned char *p, uint32_t v, int bytes)
{
    for (int i = 0; i < bytes; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

/* floor(sum / 2), spelled out because C's division truncates toward zero. */
static int64_t floor_half(int64_t sum)
{
    int64_t q = sum / 2;
    return sum % 2 < 0 ? q - 1 : q;
}

int recd_wav_downmix(int fd, struct recd_buf *out)
{
    struct src s;
    int *pcm = NULL;
    unsigned char *mono = NULL;
    size_t start = out->len;
    int e, n;

    if ((e = src_open(fd, &s)) < 0)
        return e;
    e = RECD_E_BAD_INPUT;
    if (s.info.channels != 2)
        goto fail;

    int bytes = s.info.bits / 8;
    /* libsndfile's scale factor for this width; its ints are exact multiples of it. */
    int32_t scale = s.info.bits == 32 ? 1 : (int32_t)1 << (32 - s.info.bits);
    /* The probe bounded the input's data chunk by 32 bits; half of it fits the same field. */
    uint32_t data = (uint32_t)(s.info.frames * bytes);
    uint32_t pad = data & 1;
    unsigned char h[44];

    memcpy(h, "RIFF", 4);
    put_le(h + 4, 36 + data + pad, 4);
    memcpy(h + 8, "WAVEfmt ", 8);
    put_le(h + 16, 16, 4);
    put_le(h + 20, 1, 2); /* WAVE_FORMAT_PCM, even when the input was extensible */
    put_le(h + 22, 1, 2);
    put_le(h + 24, (uint32_t)s.info.sample_rate, 4);
    put_le(h + 28, (uint32_t)(s.info.sample_rate * bytes), 4);
    put_le(h + 32, (uint32_t)bytes, 2);
    put_le(h + 34, (uint32_t)s.info.bits, 2);
    memcpy(h + 36, "data", 4);
    put_le(h + 40, data, 4);
    recd_buf_add(out, h, sizeof h);

    pcm = malloc(sizeof *pcm * BLOCK_FRAMES * 2);
    mono = malloc((size_t)BLOCK_FRAMES * 4);
    if (pcm == NULL || mono == NULL)
        abort();
    while ((n = src_read(&s, pcm)) > 0) {
        for (int i = 0; i < n; i++) {
            int64_t l = pcm[2 * i] / scale, r = pcm[2 * i + 1] / scale;
            int64_t m = floor_half(l + r);
            /* 8-bit WAV is unsigned with 128 as silence; wider samples are two's complement. */
            uint32_t u = bytes == 1 ? (uint32_t)(m + 128) : (uint32_t)m;
            put_le(mono + (size_t)i * bytes, u, bytes);
        }
        recd_buf_add(out, mono, (size_t)n * bytes);
    }
    if (n < 0)
        goto fail;
    if (pad)
        recd_buf_addc(out, '\0');
    e = 0;

fail:
    if (e < 0)
        buf_truncate(out, start);
    free(mono);
    free(pcm);
    src_close(&s);
    return e;
}
