#ifndef RECD_MEDIA_PEAKS_H
#define RECD_MEDIA_PEAKS_H

#include "core/buf.h"

#include <stddef.h>
#include <stdint.h>

/*
 * Waveform peaks (contract §10): per channel, the minimum and maximum of every SamplesPerPixel
 * samples of a recording, in the two formats of BBC audiowaveform that peaks.js and
 * wavesurfer.js read (audiowaveform's doc/DataFormat.md):
 *
 *   .dat   version 2, 8-bit. A 24-byte header of little-endian 32-bit fields: version (2),
 *          flags (1: bit 0 set means 8-bit values), sample rate (Hz), samples per pixel,
 *          length (pixels, i.e. min/max pairs per channel), channels. Then, pixel by pixel and
 *          within a pixel channel by channel, a signed byte min and a signed byte max.
 *   .json  {"version":2,"channels":C,"sample_rate":R,"samples_per_pixel":S,"bits":8,
 *          "length":L,"data":[min,max,…]} with the same values in the same order, compact
 *          (no whitespace).
 *
 * The values are those audiowaveform writes: samples are read as 16-bit (libsndfile's
 * conversion, so 8-bit b gives (b - 128) * 256 and 24/32-bit keep their top 16 bits), the
 * min and max of each pixel are taken at 16 bits, and each is then divided by 256, truncating
 * toward zero as C division does. The last pixel may cover fewer samples: length is
 * ceil(frames / samples_per_pixel), and a recording with no frames has length 0.
 *
 * Both formats come from one pass over the samples, and both are deterministic: the same
 * audio and SamplesPerPixel give the same bytes.
 */

/* SamplesPerPixel that recd accepts and makes when none is asked for (docs/api.md). The
 * smallest keeps a recording's peaks at most about a sixth of its WAV (JSON at 5 bytes a value). */
#define RECD_PEAKS_SPP_MIN     32
#define RECD_PEAKS_SPP_MAX     65536
#define RECD_PEAKS_SPP_DEFAULT 256

#define RECD_PEAKS_DAT_V1_HEADER 20
#define RECD_PEAKS_DAT_V2_HEADER 24

/** The header of a .dat file, as the reader finds it. */
struct recd_peaks_info {
    int version;           /* 1 or 2 */
    int bits;              /* 8 or 16 */
    int sample_rate;       /* Hz, >= 1 */
    int samples_per_pixel; /* >= 2 */
    uint32_t length;       /* min/max pairs per channel */
    int channels;          /* 1 for version 1; 1…24 for version 2 */
    size_t data_offset;    /* where the values begin: 20 (version 1) or 24 (version 2) */
};

/**
 * One computation in progress. Fill it with recd_peaks_begin, feed it the samples in order with
 * recd_peaks_feed, and finish with recd_peaks_end. The caller owns the two buffers, which must
 * outlive the computation.
 */
struct recd_peaks {
    int channels, spp;
    int count; /* frames in the pixel being gathered */
    int16_t min[2], max[2];
    uint32_t length;    /* pixels declared in the headers */
    uint32_t emitted;   /* pixels written so far */
    int64_t left;       /* frames still to come */
    unsigned char *dat; /* next byte of the .dat output (room reserved by begin) */
    char *json;         /* next byte of the JSON output */
    struct recd_buf *dat_buf, *json_buf;
};

/**
 * Starts the peaks of `frames` frames of `channels` (1 or 2) channels at `sample_rate` Hz with
 * `spp` samples a pixel (RECD_PEAKS_SPP_MIN…MAX). Reserves in `dat` and `json` all the room the
 * two outputs will take, so that feeding never allocates, and writes their headers there; the
 * buffers' lengths move only when recd_peaks_end succeeds. Returns 0; RECD_E_BAD_INPUT for
 * parameters out of range; RECD_E_INTERNAL when the memory cannot be had.
 */
int recd_peaks_begin(struct recd_peaks *p, int channels, int sample_rate, int spp, int64_t frames,
                     struct recd_buf *dat, struct recd_buf *json);

/** Feeds `frames` interleaved 16-bit frames. Frames beyond the number declared are ignored. */
void recd_peaks_feed(struct recd_peaks *p, const int16_t *pcm, size_t frames);

/**
 * Writes the last, partial pixel, closes the JSON and appends both outputs to their buffers.
 * Returns 0, or RECD_E_BAD_INPUT when fewer frames were fed than declared (nothing is appended).
 */
int recd_peaks_end(struct recd_peaks *p);

/**
 * Computes the peaks at `spp` of the PCM WAV open at `fd` (any file recd_wav_probe accepts; read
 * with pread only, so the descriptor may be shared), appending the .dat to `dat` and the JSON to
 * `json` in one pass. Returns 0; RECD_E_BAD_INPUT when the file is not such a WAV, its samples
 * stop early, or `spp` is out of range; RECD_E_INTERNAL when memory runs out. On failure both
 * buffers are left as they were.
 */
int recd_peaks_from_wav(int fd, int spp, struct recd_buf *dat, struct recd_buf *json);

/**
 * Reads the header of a .dat file (version 1 or 2, 8- or 16-bit) from the `n` bytes at `p` and
 * checks that they hold exactly the values it announces: flags with no bit but bit 0, a sample
 * rate of at least 1, samples per pixel of at least 2, version 1 with one channel or version 2
 * with 1 to 24, and a size of exactly header + length * channels * 2 values. Fills *info and
 * returns 0, or returns -1 (a parser of outside text) and leaves *info unspecified.
 */
int recd_peaks_dat_parse(const void *p, size_t n, struct recd_peaks_info *info);

/** Room for the longest peaks suffix, ".peaks65536.json", and a NUL. */
#define RECD_PEAKS_SUFFIX_MAX 24

/** The media key suffix of a recording's peaks: ".peaks256.dat" or ".peaks256.json". */
void recd_peaks_suffix(char out[RECD_PEAKS_SUFFIX_MAX], int spp, int json);

/**
 * Parses a media key suffix made by recd_peaks_suffix: ".peaks" SPP (decimal, no leading zero,
 * within RECD_PEAKS_SPP_MIN…MAX) then ".dat" or ".json", nothing else. Sets *spp and *json
 * (1 for JSON) and returns 0, or returns -1.
 */
int recd_peaks_suffix_parse(const char *suffix, int *spp, int *json);

#endif
