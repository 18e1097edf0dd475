#ifndef RECD_VOICE_AUDIO_H
#define RECD_VOICE_AUDIO_H

#include <stddef.h>
#include <stdint.h>

/*
 * The audio a call hears and records: 8 kHz mono signed 16-bit PCM, the rate of G.711, in
 * buffers that their owner frees with recd_pcm_free. Decoding takes outside bytes (a <Play>
 * URL's body), so it is bounded and never trusts a header.
 */

/** The one rate of every buffer here. */
#define RECD_AUDIO_RATE 8000

/** The longest audio decode, silence and <Say> produce: 10 minutes (9.6 MB of PCM). */
#define RECD_AUDIO_MAX_SAMPLES ((size_t)RECD_AUDIO_RATE * 600)

/** Samples per analysis window of recd_audio_is_silent: 20 ms, one RTP packet. */
#define RECD_AUDIO_WINDOW 160

/**
 * The RMS level at or below which a window counts as silence: 200 of 32767, about -44 dBFS.
 * Idle G.711 lines and comfort noise sit near -60 to -70 dBm0 (a few tens), and µ-law's own
 * quantisation noise on a quiet line is under 50; speech at a normal level averages -20 to
 * -30 dBFS (1,000 to 3,300) and soft speech stays above -40 dBFS (330). The gap either side is
 * more than 4 dB.
 */
#define RECD_AUDIO_SILENCE_RMS 200

/** An owned buffer of `n` samples (8 kHz, mono). samples is NULL when n is 0. */
struct recd_pcm {
    int16_t *samples;
    size_t n;
};

/** Frees what `p` owns and empties it; safe on an empty or already freed buffer. */
void recd_pcm_free(struct recd_pcm *p);

/**
 * Decodes `len` bytes of an audio file to 8 kHz mono into *out (which the caller frees).
 * MP3 (MPEG audio, with or without an ID3 tag) goes to libmpg123; anything else to libsndfile
 * (WAV of any sample format, AIFF, AU, FLAC, Ogg…). The bytes decide first (RIFF, ID3, an MPEG
 * frame sync); `content_type` (may be NULL) decides only when they do not. Channels are mixed
 * to mono by their mean; the rate is converted with libsoxr (high quality).
 *
 * Returns 0; RECD_E_BAD_INPUT for bytes that are not audio either library decodes, hold no
 * samples, or have an absurd rate (under 1 kHz or over 384 kHz) or channel count (over 64);
 * RECD_E_TOO_LARGE when the audio is longer than RECD_AUDIO_MAX_SAMPLES; RECD_E_INTERNAL when
 * memory runs out. On failure *out is empty.
 */
int recd_audio_decode(const void *bytes, size_t len, const char *content_type, struct recd_pcm *out);

/**
 * Converts `n` samples of mono 16-bit PCM at `rate` Hz (1 kHz to 384 kHz) to 8 kHz into *out,
 * with the same resampler as decoding. For audio recd makes itself at another rate (espeak-ng
 * speaks at 22,050 Hz). Same returns as recd_audio_decode; n = 0 gives RECD_E_BAD_INPUT.
 */
int recd_audio_resample(const int16_t *pcm, size_t n, unsigned rate, struct recd_pcm *out);

/**
 * The beep <Record playBeep="true"> plays before recording: 1 kHz for 500 ms at -10 dBFS, with
 * 5 ms ramps so that it starts and stops without a click. Twilio does not document its own
 * beep; this is the usual answering-machine tone. 0 or RECD_E_INTERNAL.
 */
int recd_audio_beep(struct recd_pcm *out);

/** `ms` milliseconds of digital silence (zeros). 0, RECD_E_TOO_LARGE past
 * RECD_AUDIO_MAX_SAMPLES, or RECD_E_INTERNAL. ms = 0 gives an empty buffer. */
int recd_audio_silence(unsigned ms, struct recd_pcm *out);

/**
 * 1 when no 20 ms window of the `n` samples has an RMS level above RECD_AUDIO_SILENCE_RMS
 * (a last, shorter window counts as one), else 0. Empty input is silent. Windows rather than
 * the whole: a short word in a long quiet stretch is sound, which an average would hide. This
 * is what <Record timeout> (a run of silent frames) and absent detection (16102) both use.
 */
int recd_audio_is_silent(const int16_t *pcm, size_t n);

/**
 * Where the sound is: *first is the offset of the first window of `pcm` that is not silent,
 * *end the end of the last (at most n); both 0 when all of it is silent. For <Record trim>.
 * Windows are aligned on multiples of RECD_AUDIO_WINDOW from pcm[0].
 */
void recd_audio_sound_span(const int16_t *pcm, size_t n, size_t *first, size_t *end);

#endif
