#ifndef RECD_MEDIA_WAV_H
#define RECD_MEDIA_WAV_H

#include <stdint.h>

/** What recd needs to know of a stored WAV. */
struct recd_wav_info {
    int channels;        /* 1 or 2 */
    int sample_rate;     /* 8000 … 48000 */
    int bits;            /* 8, 16, 24 or 32 (integer PCM) */
    int64_t frames;      /* sample frames in the data chunk */
    int64_t duration_ms; /* frames * 1000 / sample_rate, rounded to nearest */
    int64_t file_size;   /* bytes of the whole file */
};

/**
 * Checks that the file open at `fd` (read from offset 0; the offset is restored) is a WAV recd
 * accepts: RIFF/WAVE, integer PCM (WAVE_FORMAT_PCM or an extensible PCM subtype), 1–2 channels,
 * 8–48 kHz, and a data chunk whose declared size fits in the file (a truncated or lying header
 * is refused). Uses libsndfile for the format, and checks the header's sizes against the
 * real file length itself since libsndfile tolerates truncation.
 * On success fills *info and returns 0; else RECD_E_BAD_INPUT with a one-line reason in
 * `why` (at most `why_n` bytes, NUL-terminated).
 */
int recd_wav_probe(int fd, struct recd_wav_info *info, char *why, unsigned why_n);

#endif
