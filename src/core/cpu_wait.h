#ifndef RECD_CORE_CPU_WAIT_H
#define RECD_CORE_CPU_WAIT_H

#include <stdint.h>

/*
 * How long the threads that serve people (the HTTP loops, the voice engine) have waited for a
 * CPU: the run_delay of /proc/self/task/TID/schedstat, summed. Background work that should only
 * use what they leave (the transcription decoders) reads it to see whether it is in their way.
 *
 * Why not leave that to the scheduler: a SCHED_IDLE thread is preempted at once by a waking
 * thread of normal policy, but while the CPUs are oversubscribed (the loops runnable and waiting)
 * the kernel's fair scheduler still picks it now and then, and it then keeps the CPU for a whole
 * slice: milliseconds that land on requests' tails (bench/RESULTS.md, "Transcription").
 */

/** At most this many threads are watched; more are ignored (the first ones give the signal). */
#define RECD_CPU_WATCH_MAX 64

/** Adds the calling thread to the watched set; a no-op when it is full. */
void recd_cpu_watch_self(void);

/** Takes the calling thread out of the watched set (before it ends). */
void recd_cpu_unwatch_self(void);

/**
 * The watched threads' total time spent runnable and waiting for a CPU since they started, in
 * microseconds; -1 when no thread is watched or the kernel does not tell (no schedstat). Only
 * differences mean anything: a thread that ends takes its share with it.
 */
int64_t recd_cpu_watched_wait_us(void);

#endif
