/*
 * The built-in speech engine's speed, for bench/stt.py: loads PocketSphinx once (as a
 * transcription worker does), then transcribes each WAV named on the command line, each one
 * `repeat` times, and prints one line per transcription:
 *
 *   LOAD cpu_s=.. wall_s=..
 *   FILE <path> audio_s=.. rate=.. cpu_s=.. wall_s=.. words=..
 *   TEXT <the words, as the engine gave them>
 *
 * cpu_s is the process's CPU time (user + system, every thread: libsoxr may use more than one),
 * wall_s the elapsed time. Reading the WAV is outside both (a worker reads it before the engine
 * runs); resampling is inside, as in a worker. Exit 1 with a line on stderr if anything fails.
 *
 *   stt_speed [--repeat N] FILE.wav…
 */
#include "core/error.h"
#include "stt/stt.h"

#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double seconds(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static size_t words(const struct recd_buf *text)
{
    size_t n = 0;
    for (size_t i = 0; i < text->len; i++)
        if (text->p[i] != ' ' && (i == 0 || text->p[i - 1] == ' '))
            n++;
    return n;
}

int main(int argc, char **argv)
{
    int first = 1, repeat = 1, idle = 0, bad = 0;
    while (first + 1 < argc && strncmp(argv[first], "--", 2) == 0) {
        if (strcmp(argv[first], "--repeat") == 0)
            repeat = atoi(argv[first + 1]);
        else if (strcmp(argv[first], "--sched") == 0 && strcmp(argv[first + 1], "idle") == 0)
            idle = 1;
        else if (strcmp(argv[first], "--sched") != 0 || strcmp(argv[first + 1], "normal") != 0)
            bad = 1;
        first += 2;
    }
    if (bad || first >= argc || repeat < 1) {
        fprintf(stderr, "usage: stt_speed [--sched idle|normal] [--repeat N] FILE.wav…\n");
        return 2;
    }
    struct sched_param sp = {0};
    if (idle && sched_setscheduler(0, SCHED_IDLE, &sp) < 0) {
        perror("stt_speed: SCHED_IDLE");
        return 1;
    }
    struct recd_stt_config cfg = {0};
    struct recd_stt_engine *e = NULL;
    char why[256] = "";
    double c0 = seconds(CLOCK_PROCESS_CPUTIME_ID), w0 = seconds(CLOCK_MONOTONIC);
    if (recd_stt_open(&cfg, &e, why, sizeof why) < 0) {
        fprintf(stderr, "stt_speed: %s\n", why);
        return 1;
    }
    printf("LOAD cpu_s=%.3f wall_s=%.3f\n", seconds(CLOCK_PROCESS_CPUTIME_ID) - c0,
           seconds(CLOCK_MONOTONIC) - w0);
    struct recd_stt_result res;
    recd_stt_result_init(&res);
    int rc = 0;
    for (int i = first; i < argc && rc == 0; i++) {
        struct recd_stt_pcm pcm;
        int fd = open(argv[i], O_RDONLY | O_CLOEXEC);
        if (fd < 0 || recd_stt_read_wav(fd, 0, &pcm, why, sizeof why) < 0) {
            fprintf(stderr, "stt_speed: %s: %s\n", argv[i], fd < 0 ? "cannot open" : why);
            rc = 1;
        }
        if (fd >= 0)
            close(fd);
        for (int k = 0; k < repeat && rc == 0; k++) {
            c0 = seconds(CLOCK_PROCESS_CPUTIME_ID);
            w0 = seconds(CLOCK_MONOTONIC);
            if (e->ops->transcribe(e, pcm.samples, pcm.n, pcm.rate, NULL, NULL, &res, why, sizeof why) < 0) {
                fprintf(stderr, "stt_speed: %s: %s\n", argv[i], why);
                rc = 1;
                break;
            }
            printf("FILE %s audio_s=%.3f rate=%d cpu_s=%.3f wall_s=%.3f words=%zu\n", argv[i],
                   (double)pcm.n / pcm.rate, pcm.rate, seconds(CLOCK_PROCESS_CPUTIME_ID) - c0,
                   seconds(CLOCK_MONOTONIC) - w0, words(&res.text));
            printf("TEXT %.*s\n", (int)res.text.len, res.text.p ? res.text.p : "");
            fflush(stdout);
        }
        if (rc == 0)
            free(pcm.samples);
    }
    recd_stt_result_free(&res);
    e->ops->close(e);
    return rc;
}
