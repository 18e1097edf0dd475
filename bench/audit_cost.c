/*
 * What the audit record costs one request, measured alone (issue 17: the media path within 5 % of
 * audit off). The same-run A/B (bench/ab.py with --base-args "--audit off") shows the sum on a
 * loaded machine, where a few percent drown in noise; this prints, in nanoseconds of CPU time:
 *
 *   build/bench/audit_cost DIR
 *
 *  - on the request's thread: recd_audit_add of a media fetch's record (formatting it into the
 *    worker's buffer under its lock), what serve's audit_request adds on top being a few copies;
 *  - on the writer thread: gathering and appending the lines to DIR/audit/, per record (the
 *    process's CPU time less the adding thread's).
 */
#include "core/time.h"
#include "service/audit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define N      10000 /* ~3.7 MB of lines: under a buffer's 4 MiB, so none is dropped */
#define ROUNDS 10

static double cpu_ns(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: audit_cost DIR\n");
        return 2;
    }
    struct recd_audit *a;
    struct recd_audit_opts o = {.data_dir = argv[1]};
    if (recd_audit_open(&o, &a) < 0)
        return 1;
    struct recd_audit_buf *b = recd_audit_buf_new(a);
    struct recd_audit_entry e = {.event = RECD_AUDIT_MEDIA, .cred = RECD_AUDIT_PUBLIC, .status = 200};
    strcpy(e.account_sid, "AC0123456789abcdef0123456789abcdef");
    strcpy(e.recording_sid, "RE0123456789abcdef0123456789abcdef");
    strcpy(e.address, "127.0.0.1");
    strcpy(e.method, "GET");
    snprintf(e.path, sizeof e.path, "/2010-04-01/Accounts/%s/Recordings/%s.mp3", e.account_sid,
             e.recording_sid);
    double best_add = 1e18, best_total = 1e18;
    for (int r = 0; r < ROUNDS; r++) {
        double p0 = cpu_ns(CLOCK_PROCESS_CPUTIME_ID), t0 = cpu_ns(CLOCK_THREAD_CPUTIME_ID);
        for (int i = 0; i < N; i++) {
            e.time_us = recd_now_us();
            recd_audit_add(b, &e);
        }
        double add = (cpu_ns(CLOCK_THREAD_CPUTIME_ID) - t0) / N;
        usleep(300000); /* the writer's last ticks */
        double total = (cpu_ns(CLOCK_PROCESS_CPUTIME_ID) - p0) / N;
        if (add < best_add)
            best_add = add;
        if (total < best_total)
            best_total = total;
    }
    recd_audit_buf_free(b);
    uint64_t written, dropped;
    recd_audit_counts(a, &written, &dropped);
    recd_audit_close(a);
    printf("audit record of a media fetch: %.0f ns on the request's thread (recd_now_us included), "
           "%.0f ns on the writer thread; %llu written, %llu dropped (best of %d rounds of %d)\n",
           best_add, best_total - best_add, (unsigned long long)written, (unsigned long long)dropped, ROUNDS,
           N);
    return dropped ? 1 : 0;
}
