#ifndef RECD_STT_STT_H
#define RECD_STT_STT_H

#include "core/buf.h"

#include <stddef.h>
#include <stdint.h>

/*
 * Speech to text (contract §8): one interface, two engines.
 *
 *  - Built in: PocketSphinx (Debian 12's 5prealpha library) with Debian's en-us model. The model
 *    is 16 kHz only (its feat.params fixes upperf at 6800 Hz, so the library refuses to decode
 *    8 kHz audio natively with it); audio at another rate is resampled with libsoxr.
 *  - External: any server speaking the OpenAI-compatible POST /v1/audio/transcriptions
 *    (whisper.cpp's server, faster-whisper servers, LocalAI), over libcurl.
 *
 * An engine handle is used by one thread at a time: each transcription worker opens its own
 * (PocketSphinx's decoder and a curl handle are not shareable). Opening the built-in engine
 * loads its model, about a second; do it once per worker, not per job.
 */

struct recd_stt_config {
    /* NULL or "": the built-in engine. Else the external server: a base URL ("http://host:port",
     * to which /v1/audio/transcriptions is appended) or the endpoint's full URL. */
    const char *url;
    const char *model;           /* external: the form's `model`; NULL = "whisper-1" */
    const char *key;             /* external: sent as "Authorization: Bearer KEY"; NULL = none */
    unsigned timeout_ms;         /* external: the whole request; 0 = 300000 */
    unsigned connect_timeout_ms; /* external: 0 = 10000 */
    size_t max_response;         /* external: bytes of a response body; 0 = 1 MiB */
    const char *model_dir;       /* built-in: NULL = /usr/share/pocketsphinx/model/en-us */
};

/**
 * Called by an engine between pieces of work (every fraction of a second of audio decoded, or
 * while waiting on the network), on the transcribing thread. Returning a negative RECD_E_* stops
 * the transcription, which then returns that value: how a worker abandons a job whose recording
 * was deleted, or whose lease it lost.
 */
typedef int (*recd_stt_tick_fn)(void *arg);

struct recd_stt_engine;

/** What a transcription produced: the text (UTF-8, trimmed) and a confidence in [0, 1]. */
struct recd_stt_result {
    struct recd_buf text;
    double confidence;
};

struct recd_stt_engine_ops {
    const char *name; /* "pocketsphinx", "openai" */
    /**
     * Transcribes `n` samples of mono 16-bit PCM at `rate` Hz (8000…48000) into `out` (its text
     * is reset first). 0 on success (silence gives an empty text); RECD_E_UNAVAILABLE when the
     * engine failed in a way worth retrying (unreachable, timed out, overloaded, 5xx);
     * RECD_E_BAD_INPUT when it refused or answered something unusable (4xx, not JSON, too much
     * text); the tick's code when the tick stopped it. `why` gets a one-line reason on failure.
     */
    int (*transcribe)(struct recd_stt_engine *e, const int16_t *pcm, size_t n, int rate,
                      recd_stt_tick_fn tick, void *tick_arg, struct recd_stt_result *out, char *why,
                      size_t why_n);
    void (*close)(struct recd_stt_engine *e);
};

struct recd_stt_engine {
    const struct recd_stt_engine_ops *ops;
};

/**
 * Opens the engine `c` names. Errors are what an operator must fix before serving, with a one-line
 * reason in `why`: RECD_E_BAD_INPUT for a bad URL, RECD_E_NOT_FOUND when the built-in
 * model is missing, RECD_E_IO when the library fails. *out is closed with its ops->close.
 */
int recd_stt_open(const struct recd_stt_config *c, struct recd_stt_engine **out, char *why, size_t why_n);

/**
 * Checks `c` without loading anything (the model's files exist; the URL is well formed): what a
 * server checks at startup before its workers load their engines in the background. 0, or the
 * error recd_stt_open would give, with its reason in `why`.
 */
int recd_stt_check(const struct recd_stt_config *c, char *why, size_t why_n);

/** Opens the built-in engine (recd_stt_open with no URL). */
int recd_stt_sphinx_open(const struct recd_stt_config *c, struct recd_stt_engine **out, char *why,
                         size_t why_n);

/** Opens the external engine (recd_stt_open with a URL). */
int recd_stt_openai_open(const struct recd_stt_config *c, struct recd_stt_engine **out, char *why,
                         size_t why_n);

void recd_stt_result_init(struct recd_stt_result *r);
void recd_stt_result_free(struct recd_stt_result *r);

/** Audio decoded for an engine: mono 16-bit PCM, owned (free() samples). */
struct recd_stt_pcm {
    int16_t *samples;
    size_t n;
    int rate;
    int64_t duration_ms;
};

/**
 * Reads the WAV open at `fd` (any WAV recd stores: 1–2 channels, 8–48 kHz, integer PCM; see
 * recd_wav_probe) into mono 16-bit PCM at its own rate, stereo averaged. At most `max_ms` of
 * audio is accepted (0 = no limit): a longer file is RECD_E_TOO_LARGE before any sample is read.
 * RECD_E_BAD_INPUT for a file that is not such a WAV. `why` gets a reason on failure.
 */
int recd_stt_read_wav(int fd, int64_t max_ms, struct recd_stt_pcm *out, char *why, size_t why_n);

/** Transcribes the WAV open at `fd`: recd_stt_read_wav, then the engine. */
int recd_stt_transcribe_wav(struct recd_stt_engine *e, int fd, recd_stt_tick_fn tick, void *tick_arg,
                            struct recd_stt_result *out, char *why, size_t why_n);

/**
 * Resamples mono 16-bit PCM from `in_rate` to `out_rate` with libsoxr (high quality). *out is
 * malloc'd (the caller frees it), *out_n its samples. 0, or RECD_E_INTERNAL (no memory, soxr
 * failed).
 */
int recd_stt_resample(const int16_t *in, size_t n, int in_rate, int out_rate, int16_t **out, size_t *out_n);

/** For engines: writes the formatted reason into `why` (if given) and returns `rc`. */
int recd_stt_fail(char *why, size_t why_n, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
