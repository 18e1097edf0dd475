#include "media/peaks.h"
#include "media/wav_internal.h"

#include "core/error.h"
#include "media/wav.h"

#include <sndfile.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * The pass is the hot part: a recording's peaks are made on the first request for them, and
 * the client waits. So begin() reserves every byte the outputs will need (the .dat's size is
 * exact, the JSON's bounded by five characters a value), and feeding is a min/max loop plus a
 * few stores per pixel, with no allocation and no bounds check against the buffers.
 */

/* Frames read from the WAV at a time: 32 KiB of 16-bit stereo. */
#define BLOCK_FRAMES 8192
/* The longest JSON value with its comma: "-128,". */
#define JSON_VALUE_MAX 5
/* Room for the JSON's fixed text and its numbers: the header object and "]}". */
#define JSON_HEAD_MAX 160

static void put_le32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
    p[2] = (unsigned char)(v >> 16);
    p[3] = (unsigned char)(v >> 24);
}

static uint32_t get_le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Makes room for `more` bytes after b->len without aborting on failure (the size follows the
 * recording and the client's SamplesPerPixel). 0 or RECD_E_INTERNAL. */
static int try_reserve(struct recd_buf *b, size_t more)
{
    if (b->len + more + 1 <= b->cap)
        return 0;
    size_t cap = b->len + more + 1;
    char *p = realloc(b->p, cap);
    if (p == NULL)
        return RECD_E_INTERNAL;
    b->p = p;
    b->cap = cap;
    return 0;
}

int recd_peaks_begin(struct recd_peaks *p, int channels, int sample_rate, int spp, int64_t frames,
                     struct recd_buf *dat, struct recd_buf *json)
{
    memset(p, 0, sizeof *p);
    if (channels < 1 || channels > 2 || sample_rate < 1 || spp < RECD_PEAKS_SPP_MIN ||
        spp > RECD_PEAKS_SPP_MAX || frames < 0)
        return RECD_E_BAD_INPUT;
    int64_t length = frames / spp + (frames % spp != 0);
    if (length > (int64_t)UINT32_MAX)
        return RECD_E_BAD_INPUT;
    size_t values = (size_t)length * (size_t)channels * 2;
    if (try_reserve(dat, RECD_PEAKS_DAT_V2_HEADER + values) < 0 ||
        try_reserve(json, JSON_HEAD_MAX + values * JSON_VALUE_MAX) < 0)
        return RECD_E_INTERNAL;

    p->channels = channels;
    p->spp = spp;
    p->length = (uint32_t)length;
    p->left = frames;
    p->dat_buf = dat;
    p->json_buf = json;
    for (int c = 0; c < 2; c++) {
        p->min[c] = INT16_MAX;
        p->max[c] = INT16_MIN;
    }

    unsigned char *h = (unsigned char *)dat->p + dat->len;
    put_le32(h, 2);
    put_le32(h + 4, 1); /* bit 0: 8-bit values */
    put_le32(h + 8, (uint32_t)sample_rate);
    put_le32(h + 12, (uint32_t)spp);
    put_le32(h + 16, p->length);
    put_le32(h + 20, (uint32_t)channels);
    p->dat = h + RECD_PEAKS_DAT_V2_HEADER;

    char *j = json->p + json->len;
    int n = snprintf(j, JSON_HEAD_MAX,
                     "{\"version\":2,\"channels\":%d,\"sample_rate\":%d,\"samples_per_pixel\":%d,"
                     "\"bits\":8,\"length\":%u,\"data\":[",
                     channels, sample_rate, spp, (unsigned)p->length);
    p->json = j + n;
    return 0;
}

/* Writes an 8-bit value (-128…127) and a comma. */
static char *json_value(char *j, int v)
{
    if (v < 0) {
        *j++ = '-';
        v = -v;
    }
    if (v >= 100) {
        *j++ = '1';
        v -= 100;
        *j++ = (char)('0' + v / 10);
    } else if (v >= 10) {
        *j++ = (char)('0' + v / 10);
    }
    *j++ = (char)('0' + v % 10);
    *j++ = ',';
    return j;
}

/* Writes the pixel gathered so far and starts the next one. */
static void emit(struct recd_peaks *p)
{
    for (int c = 0; c < p->channels; c++) {
        /* audiowaveform's 8-bit values: the 16-bit extreme divided by 256, toward zero. */
        int mn = p->min[c] / 256, mx = p->max[c] / 256;
        *p->dat++ = (unsigned char)(signed char)mn;
        *p->dat++ = (unsigned char)(signed char)mx;
        p->json = json_value(p->json, mn);
        p->json = json_value(p->json, mx);
        p->min[c] = INT16_MAX;
        p->max[c] = INT16_MIN;
    }
    p->emitted++;
    p->count = 0;
}

void recd_peaks_feed(struct recd_peaks *p, const int16_t *pcm, size_t frames)
{
    const int ch = p->channels;
    if ((int64_t)frames > p->left)
        frames = (size_t)p->left;
    p->left -= (int64_t)frames;
    while (frames > 0) {
        size_t take = (size_t)(p->spp - p->count);
        if (take > frames)
            take = frames;
        /* Local extremes: the compiler keeps them in registers (or vectors) across the run. */
        if (ch == 1) {
            int16_t mn = p->min[0], mx = p->max[0];
            for (size_t i = 0; i < take; i++) {
                int16_t s = pcm[i];
                mn = s < mn ? s : mn;
                mx = s > mx ? s : mx;
            }
            p->min[0] = mn;
            p->max[0] = mx;
        } else {
            int16_t mn0 = p->min[0], mx0 = p->max[0], mn1 = p->min[1], mx1 = p->max[1];
            for (size_t i = 0; i < take; i++) {
                int16_t l = pcm[2 * i], r = pcm[2 * i + 1];
                mn0 = l < mn0 ? l : mn0;
                mx0 = l > mx0 ? l : mx0;
                mn1 = r < mn1 ? r : mn1;
                mx1 = r > mx1 ? r : mx1;
            }
            p->min[0] = mn0;
            p->max[0] = mx0;
            p->min[1] = mn1;
            p->max[1] = mx1;
        }
        p->count += (int)take;
        pcm += take * (size_t)ch;
        frames -= take;
        if (p->count == p->spp)
            emit(p);
    }
}

int recd_peaks_end(struct recd_peaks *p)
{
    if (p->count > 0)
        emit(p);
    struct recd_buf *d = p->dat_buf, *j = p->json_buf;
    if (p->left != 0 || p->emitted != p->length) {
        /* The headers went past the lengths, over the terminating NULs: put them back. */
        d->p[d->len] = '\0';
        j->p[j->len] = '\0';
        return RECD_E_BAD_INPUT;
    }
    d->len = (size_t)((char *)p->dat - d->p);
    d->p[d->len] = '\0';
    /* Replace the last value's comma, if any, with the closing bracket. */
    if (p->json[-1] == ',')
        p->json--;
    memcpy(p->json, "]}", 3);
    j->len = (size_t)(p->json + 2 - j->p);
    return 0;
}

int recd_peaks_from_wav(int fd, int spp, struct recd_buf *dat, struct recd_buf *json)
{
    struct recd_wav_info info;
    struct recd_wav_vio v;
    struct recd_peaks pk;
    SF_INFO sfi;
    char why[160];
    size_t dat_start = dat->len, json_start = json->len;
    int16_t *pcm = NULL;
    SNDFILE *sf = NULL;

    int e = recd_wav_probe(fd, &info, why, sizeof why);
    if (e < 0)
        return e;
    if ((e = recd_peaks_begin(&pk, info.channels, info.sample_rate, spp, info.frames, dat, json)) < 0)
        return e;
    e = RECD_E_BAD_INPUT;
    sf = recd_wav_sf_open(&v, fd, info.file_size, &sfi);
    /* The probe opened it the same way a moment ago: failing now means the file changed. */
    if (sf == NULL || sfi.channels != info.channels || sfi.frames != info.frames)
        goto done;
    pcm = malloc(sizeof *pcm * BLOCK_FRAMES * (size_t)info.channels);
    if (pcm == NULL) {
        e = RECD_E_INTERNAL;
        goto done;
    }
    for (int64_t left = info.frames; left > 0;) {
        sf_count_t want = left < BLOCK_FRAMES ? (sf_count_t)left : BLOCK_FRAMES;
        if (sf_readf_short(sf, pcm, want) != want)
            goto done;
        recd_peaks_feed(&pk, pcm, (size_t)want);
        left -= want;
    }
    e = recd_peaks_end(&pk);
done:
    if (e < 0) {
        dat->len = dat_start;
        json->len = json_start;
        if (dat->p)
            dat->p[dat_start] = '\0';
        if (json->p)
            json->p[json_start] = '\0';
    }
    free(pcm);
    if (sf != NULL)
        sf_close(sf);
    return e;
}

int recd_peaks_dat_parse(const void *data, size_t n, struct recd_peaks_info *info)
{
    const unsigned char *p = data;
    if (n < RECD_PEAKS_DAT_V1_HEADER)
        return -1;
    uint32_t version = get_le32(p), flags = get_le32(p + 4);
    int32_t rate = (int32_t)get_le32(p + 8), spp = (int32_t)get_le32(p + 12);
    uint32_t length = get_le32(p + 16);
    int32_t channels = 1;
    size_t off = RECD_PEAKS_DAT_V1_HEADER;
    if (version == 2) {
        if (n < RECD_PEAKS_DAT_V2_HEADER)
            return -1;
        channels = (int32_t)get_le32(p + 20);
        off = RECD_PEAKS_DAT_V2_HEADER;
    } else if (version != 1) {
        return -1;
    }
    /* audiowaveform's own limits: 24 channels, at least 2 samples a pixel, 1 Hz. */
    if ((flags & ~1u) != 0 || rate < 1 || spp < 2 || channels < 1 || channels > 24)
        return -1;
    int bytes = (flags & 1) ? 1 : 2;
    /* At most 2^32 * 24 * 2 * 2 values: no overflow in 64 bits. */
    uint64_t want = (uint64_t)off + (uint64_t)length * (uint64_t)channels * 2 * (uint64_t)bytes;
    if (want != (uint64_t)n)
        return -1;
    info->version = (int)version;
    info->bits = 8 * bytes;
    info->sample_rate = rate;
    info->samples_per_pixel = spp;
    info->length = length;
    info->channels = channels;
    info->data_offset = off;
    return 0;
}

void recd_peaks_suffix(char out[RECD_PEAKS_SUFFIX_MAX], int spp, int json)
{
    snprintf(out, RECD_PEAKS_SUFFIX_MAX, ".peaks%d.%s", spp, json ? "json" : "dat");
}

int recd_peaks_suffix_parse(const char *s, int *spp, int *json)
{
    if (strncmp(s, ".peaks", 6) != 0)
        return -1;
    s += 6;
    if (*s < '1' || *s > '9')
        return -1;
    long v = 0;
    int digits = 0;
    for (; *s >= '0' && *s <= '9'; s++) {
        if (++digits > 6)
            return -1;
        v = v * 10 + (*s - '0');
    }
    if (v < RECD_PEAKS_SPP_MIN || v > RECD_PEAKS_SPP_MAX)
        return -1;
    if (strcmp(s, ".dat") == 0)
        *json = 0;
    else if (strcmp(s, ".json") == 0)
        *json = 1;
    else
        return -1;
    *spp = (int)v;
    return 0;
}
