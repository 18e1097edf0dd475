#ifndef RECD_TESTS_TONE_H
#define RECD_TESTS_TONE_H

/*
 * Tones for the audio tests: making them, and measuring one frequency's strength with the
 * Goertzel algorithm, so that a test checks what a listener would hear rather than bytes that
 * a resampler or codec legitimately changes.
 */

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

/* Fills `n` samples at `rate` with a sine of `freq` Hz and peak `amp`, starting at phase
 * sample `t0` (so consecutive blocks join without a click). */
static inline void tone_fill(int16_t *p, size_t n, double freq, double amp, unsigned rate, size_t t0)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (int16_t)lrint(amp * sin(2 * M_PI * freq * (double)(t0 + i) / rate));
}

/* The amplitude of `freq` in the `n` samples (a pure sine of peak A gives about A). */
static inline double goertzel(const int16_t *p, size_t n, double freq, unsigned rate)
{
    double w = 2 * M_PI * freq / rate, c = 2 * cos(w), s1 = 0, s2 = 0;
    for (size_t i = 0; i < n; i++) {
        double s0 = p[i] + c * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    double power = s1 * s1 + s2 * s2 - c * s1 * s2;
    return n ? 2 * sqrt(power > 0 ? power : 0) / (double)n : 0;
}

/* The strongest of `k` candidate frequencies in the samples; its index. */
static inline int strongest(const int16_t *p, size_t n, const double *freqs, int k, unsigned rate)
{
    int best = 0;
    double bv = -1;
    for (int i = 0; i < k; i++) {
        double v = goertzel(p, n, freqs[i], rate);
        if (v > bv) {
            bv = v;
            best = i;
        }
    }
    return best;
}

#endif
