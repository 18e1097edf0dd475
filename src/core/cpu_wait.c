#include "core/cpu_wait.h"

#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* Slots of thread ids, 0 = free. Set and cleared by the threads themselves, read by anyone: a
 * reader may see a thread that has just left (its file is gone: skipped). */
static _Atomic pid_t watched[RECD_CPU_WAIT_WATCH_MAX];

void recd_cpu_wait_watch_self(void)
{
    pid_t me = gettid();
    for (int i = 0; i < RECD_CPU_WAIT_WATCH_MAX; i++) {
        pid_t free_slot = 0;
        if (atomic_compare_exchange_strong(&watched[i], &free_slot, me))
            return;
    }
}

void recd_cpu_wait_unwatch_self(void)
{
    pid_t me = gettid();
    for (int i = 0; i < RECD_CPU_WAIT_WATCH_MAX; i++) {
        pid_t mine = me;
        if (atomic_compare_exchange_strong(&watched[i], &mine, 0))
            return;
    }
}

/* The second field of /proc/self/task/TID/schedstat ("cpu_ns run_delay_ns timeslices"), in us;
 * -1 when the thread is gone or the file is not there. */
static int64_t run_delay_us(pid_t tid)
{
    char path[64], buf[96];
    snprintf(path, sizeof path, "/proc/self/task/%d/schedstat", (int)tid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    char *end;
    (void)strtoull(buf, &end, 10);
    if (end == buf || *end != ' ')
        return -1;
    char *p = end + 1;
    unsigned long long d = strtoull(p, &end, 10);
    if (end == p)
        return -1;
    return (int64_t)(d / 1000);
}

int64_t recd_cpu_wait_look(struct recd_cpu_wait_probe *p)
{
    int64_t most = -1;
    for (int i = 0; i < RECD_CPU_WAIT_WATCH_MAX; i++) {
        pid_t t = atomic_load_explicit(&watched[i], memory_order_relaxed);
        int64_t us = t ? run_delay_us(t) : -1;
        if (us < 0) {
            p->tid[i] = 0; /* gone, or unreadable now: a fresh start when it is back */
            continue;
        }
        int64_t d = p->tid[i] == t && us >= p->wait_us[i] ? us - p->wait_us[i] : 0;
        p->tid[i] = t;
        p->wait_us[i] = us;
        if (d > most)
            most = d;
    }
    return most;
}
