/* Audio decoding (<Play> bodies): any bytes, as WAV/AIFF/FLAC… or as MP3 by their type. */
#include "voice/audio.h"

#include <stdint.h>

static void check(int rc, const struct recd_pcm *p)
{
    if (rc == 0 && (p->n == 0 || p->n > RECD_AUDIO_MAX_SAMPLES || !p->samples))
        __builtin_trap();
    if (rc != 0 && (p->n != 0 || p->samples))
        __builtin_trap();
    if (rc == 0) {
        size_t a, z;
        recd_audio_sound_span(p->samples, p->n, &a, &z);
        if (z > p->n || a > z || recd_audio_is_silent(p->samples, p->n) != (z == 0))
            __builtin_trap();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct recd_pcm p;
    check(recd_audio_decode(data, size, NULL, &p), &p);
    recd_pcm_free(&p);
    check(recd_audio_decode(data, size, "audio/mpeg", &p), &p);
    recd_pcm_free(&p);
    return 0;
}
