#ifndef RECD_CORE_CPU_WAIT_H
#define RECD_CORE_CPU_WAIT_H

#include <stdint.h>
#include <sys/types.h>

/*
 * How long the threads that serve people (the HTTP loops, the SIP media loop, the call engine and
 * its workers that fetch and synthesise prompts) have waited for a CPU: the run_delay of
 * /proc/self/task/TID/schedstat. Background work that should only use what they leave (the transcription
 * decoders, src/stt/worker.c's step_aside, which says why SCHED_IDLE alone is not enough) reads it to see
 * whether it is in their way.
 */

/** At most this many threads are watched; more are ignored (the first ones give the signal). */
#define RECD_CPU_WAIT_WATCH_MAX 64

/** Adds the calling thread to the watched set; a no-op when it is full. */
void recd_cpu_wait_watch_self(void);

/** Takes the calling thread out of the watched set (before it ends). */
void recd_cpu_wait_unwatch_self(void);

/**
 * A reader's memory of what each watched thread had waited at its last look, so that a thread
 * that comes, goes or cannot be read for a moment counts only what it waited in between. One
 * per reader (a decoder), zeroed before the first look; not shared between threads.
 */
struct recd_cpu_wait_probe {
    pid_t tid[RECD_CPU_WAIT_WATCH_MAX];
    int64_t wait_us[RECD_CPU_WAIT_WATCH_MAX];
};

/**
 * Looks again: the largest wait for a CPU, in microseconds, of any watched thread since the
 * probe's last look at it (a thread seen for the first time counts 0). -1 when no thread could
 * be read: none is watched (no server in this process), or the kernel gives no schedstat
 * (/proc not mounted; on a kernel without schedstat the figures stay 0, so nothing is seen).
 */
int64_t recd_cpu_wait_look(struct recd_cpu_wait_probe *p);

#endif
