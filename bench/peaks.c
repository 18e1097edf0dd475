/*
 * How fast recd makes a recording's waveform peaks (src/media/peaks.c, contract §10).
 *
 *   build/bench/peaks SECONDS PASSES
 *
 * Writes a 16-bit PCM WAV of SECONDS of 8 kHz audio (a tone under deterministic noise, so the
 * min/max branches are not predictable) into a memfd, once mono and once 2-channel, then times
 * PASSES runs of each case and prints one line per case:
 *
 *   peaks CASE channels=C rate=R spp=S seconds=T passes=P cpu_ms=X wall_ms=Y dat=B json=B
 *
 * cpu_ms is the median of the process's CPU time per pass (CLOCK_PROCESS_CPUTIME_ID: robust when
 * other work shares the cores), wall_ms the median of the elapsed time per pass. The cases:
 *
 *   wav      recd_peaks_from_wav, the call derived media makes: libsndfile reads the samples
 *            from the file (page cache, pread) and one pass makes both the .dat and the JSON.
 *   feed     recd_peaks_begin/feed/end over samples already in memory: the min/max and the
 *            formatting alone, to show what the WAV reading costs beside them.
 *
 * A memfd keeps the disk out of it: recd serves peaks from the blob store's file, which a
 * recording just written or just played is in the page cache anyway.
 */
#include "core/buf.h"
#include "media/peaks.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define RATE 8000

static void die(const char *what)
{
    fprintf(stderr, "peaks bench: %s: %s\n", what, errno ? strerror(errno) : "failed");
    exit(1);
}

static double clock_ms(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void put_le(unsigned char *p, uint32_t v, int n)
{
    for (int i = 0; i < n; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

/* Interleaved samples: a 440 Hz tone (the second channel 660 Hz) at about -12 dBFS under noise
 * from a fixed LCG, so every run measures the same audio. The caller frees. */
static int16_t *make_pcm(int64_t frames, int channels)
{
    int16_t *pcm = malloc(sizeof *pcm * (size_t)(frames * channels));
    if (pcm == NULL)
        die("malloc");
    uint32_t x = 12345;
    for (int64_t i = 0; i < frames; i++)
        for (int c = 0; c < channels; c++) {
            x = x * 1664525u + 1013904223u;
            double tone = 8000.0 * sin(2 * M_PI * (440.0 + 220.0 * c) * (double)i / RATE);
            pcm[i * channels + c] = (int16_t)(tone + (double)((int32_t)(x >> 16) - 32768) / 16.0);
        }
    return pcm;
}

/* A memfd holding a canonical 44-byte-header WAV of the samples. */
static int make_wav(const int16_t *pcm, int64_t frames, int channels)
{
    int fd = memfd_create("recd-bench-peaks", 0);
    if (fd < 0)
        die("memfd_create");
    uint32_t data = (uint32_t)(frames * channels * 2);
    unsigned char h[44];
    memcpy(h, "RIFF", 4);
    put_le(h + 4, 36 + data, 4);
    memcpy(h + 8, "WAVEfmt ", 8);
    put_le(h + 16, 16, 4);
    put_le(h + 20, 1, 2); /* PCM */
    put_le(h + 22, (uint32_t)channels, 2);
    put_le(h + 24, RATE, 4);
    put_le(h + 28, RATE * 2u * (uint32_t)channels, 4);
    put_le(h + 32, 2u * (uint32_t)channels, 2);
    put_le(h + 34, 16, 2);
    memcpy(h + 36, "data", 4);
    put_le(h + 40, data, 4);
    /* Little-endian host assumed, as everywhere recd runs (x86-64, arm64). */
    if (write(fd, h, sizeof h) != (ssize_t)sizeof h || write(fd, pcm, data) != (ssize_t)data)
        die("write memfd");
    return fd;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Times `passes` runs of one case and prints its line. `fd` >= 0: the wav case, else feed. */
static void run_case(const char *name, int fd, const int16_t *pcm, int64_t frames, int channels, int spp,
                     int seconds, int passes)
{
    double *cpu = malloc(sizeof *cpu * (size_t)passes), *wall = malloc(sizeof *wall * (size_t)passes);
    if (cpu == NULL || wall == NULL)
        die("malloc");
    size_t dat_n = 0, json_n = 0;
    for (int i = 0; i < passes; i++) {
        struct recd_buf dat = {0}, json = {0};
        double c0 = clock_ms(CLOCK_PROCESS_CPUTIME_ID), w0 = clock_ms(CLOCK_MONOTONIC);
        if (fd >= 0) {
            if (recd_peaks_from_wav(fd, spp, &dat, &json) < 0)
                die("recd_peaks_from_wav");
        } else {
            struct recd_peaks p;
            if (recd_peaks_begin(&p, channels, RATE, spp, frames, &dat, &json) < 0)
                die("recd_peaks_begin");
            recd_peaks_feed(&p, pcm, (size_t)frames);
            if (recd_peaks_end(&p) < 0)
                die("recd_peaks_end");
        }
        cpu[i] = clock_ms(CLOCK_PROCESS_CPUTIME_ID) - c0;
        wall[i] = clock_ms(CLOCK_MONOTONIC) - w0;
        dat_n = dat.len;
        json_n = json.len;
        recd_buf_free(&dat);
        recd_buf_free(&json);
    }
    printf("peaks %s channels=%d rate=%d spp=%d seconds=%d passes=%d cpu_ms=%.3f wall_ms=%.3f dat=%zu "
           "json=%zu\n",
           name, channels, RATE, spp, seconds, passes, median(cpu, passes), median(wall, passes), dat_n,
           json_n);
    fflush(stdout);
    free(cpu);
    free(wall);
}

int main(int argc, char **argv)
{
    int seconds = argc == 3 ? atoi(argv[1]) : 0, passes = argc == 3 ? atoi(argv[2]) : 0;
    if (seconds < 1 || seconds > 7200 || passes < 1 || passes > 1000) {
        fprintf(stderr, "usage: peaks SECONDS(1-7200) PASSES(1-1000)\n");
        return 2;
    }
    int64_t frames = (int64_t)seconds * RATE;
    for (int channels = 1; channels <= 2; channels++) {
        int16_t *pcm = make_pcm(frames, channels);
        int fd = make_wav(pcm, frames, channels);
        char name[32];
        snprintf(name, sizeof name, "wav%d-%d", channels, RECD_PEAKS_SPP_DEFAULT);
        run_case(name, fd, pcm, frames, channels, RECD_PEAKS_SPP_DEFAULT, seconds, passes);
        if (channels == 1) {
            /* The smallest SamplesPerPixel: the most output for the same audio. */
            snprintf(name, sizeof name, "wav1-%d", RECD_PEAKS_SPP_MIN);
            run_case(name, fd, pcm, frames, 1, RECD_PEAKS_SPP_MIN, seconds, passes);
        }
        snprintf(name, sizeof name, "feed%d-%d", channels, RECD_PEAKS_SPP_DEFAULT);
        run_case(name, -1, pcm, frames, channels, RECD_PEAKS_SPP_DEFAULT, seconds, passes);
        close(fd);
        free(pcm);
    }
    return 0;
}
