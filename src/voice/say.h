#ifndef RECD_VOICE_SAY_H
#define RECD_VOICE_SAY_H

#include "voice/audio.h"

#include <stddef.h>
#include <stdint.h>

/*
 * <Say>: text to speech with espeak-ng, as 8 kHz mono PCM, cached per (text, voice, language).
 * Synthesis is synchronous and slow (tens of milliseconds a sentence): call it from a thread
 * that may wait, never the SIP thread. espeak-ng keeps global state and is not re-entrant, so
 * every synthesis in the process takes one lock; cache hits do not.
 *
 * Voices (Twilio's names) map to espeak-ng voices as docs/voice.md tells: "man" and "woman"
 * (and "alice", a woman) speak the `language` attribute; "Polly.<Name>" and
 * "Google.<lang>-…" speak their own language with their own gender.
 */

/** Longest text recd_say_render takes, in bytes: Twilio's 4,096 characters of UTF-8. */
#define RECD_SAY_TEXT_MAX 16384

struct recd_say;

/**
 * Starts espeak-ng (once per process; later opens share it) and makes a cache that holds at
 * most `cache_bytes` of audio and keys (0: no caching). 0, or RECD_E_INTERNAL when espeak-ng
 * or its data (espeak-ng-data) cannot be loaded (logged).
 */
int recd_say_open(size_t cache_bytes, struct recd_say **out);

/** Frees the cache (espeak-ng stays loaded for the process's life). No render may be running. */
void recd_say_close(struct recd_say *s);

/**
 * Speaks `text` (UTF-8, plain text: '<' is read, not markup) with `voice` and `language` (each
 * NULL for Twilio's defaults, "man" and "en-US") into *out, a copy the caller frees. Any
 * thread. Empty text gives an empty buffer. Returns 0; RECD_E_BAD_INPUT for text that is not
 * UTF-8 or longer than RECD_SAY_TEXT_MAX; RECD_E_TOO_LARGE when the speech would pass
 * RECD_AUDIO_MAX_SAMPLES; RECD_E_INTERNAL when synthesis fails. An unknown voice or language
 * is not an error: it falls back as docs/voice.md says.
 */
int recd_say_render(struct recd_say *s, const char *text, const char *voice, const char *language,
                    struct recd_pcm *out);

/** What the cache has done: renders answered from it, and renders that synthesised. */
void recd_say_stats(struct recd_say *s, uint64_t *hits, uint64_t *misses);

/**
 * The espeak-ng voice that (voice, language) maps to, as "<language>" and a gender (0 none,
 * 1 male, 2 female): for docs, logs and tests. `lang` gets at most `cap` bytes.
 */
void recd_say_map(const char *voice, const char *language, char *lang, size_t cap, int *gender);

#endif
