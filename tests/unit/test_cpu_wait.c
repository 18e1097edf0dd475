/*
 * The request threads' wait for a CPU (src/core/cpu_wait.c): what the transcription decoders
 * read to step aside. It must count a watched thread's time runnable but not running, and only
 * the watched threads'.
 */
#include "core/cpu_wait.h"

#include "unit.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <time.h>

static int64_t cpu_us(clockid_t c)
{
    struct timespec ts;
    clock_gettime(c, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Keeps the CPU it is pinned to busy until told to stop. */
static atomic_int spin_stop;

static void *spinner(void *arg)
{
    cpu_set_t *one = arg;
    if (sched_setaffinity(0, sizeof *one, one) != 0)
        return (void *)1;
    while (!atomic_load_explicit(&spin_stop, memory_order_relaxed))
        ;
    return NULL;
}

static void test_nothing_watched(void **state)
{
    (void)state;
    struct recd_cpu_wait_probe p = {0};
    assert_int_equal(recd_cpu_wait_look(&p), -1);
}

/* Two threads that both want the one CPU they are pinned to: the watched one waits about half
 * of the time it is runnable, and the look says so; once unwatched it says nothing. */
static void test_counts_the_wait(void **state)
{
    (void)state;
    cpu_set_t old, one;
    assert_int_equal(sched_getaffinity(0, sizeof old, &old), 0);
    CPU_ZERO(&one);
    for (int c = 0; c < CPU_SETSIZE; c++)
        if (CPU_ISSET(c, &old)) {
            CPU_SET(c, &one);
            break;
        }
    assert_int_equal(sched_setaffinity(0, sizeof one, &one), 0);

    recd_cpu_wait_watch_self();
    struct recd_cpu_wait_probe p = {0};
    int64_t w0 = recd_cpu_wait_look(&p);
    if (w0 < 0) {
        recd_cpu_wait_unwatch_self();
        assert_int_equal(sched_setaffinity(0, sizeof old, &old), 0);
        skip(); /* no /proc, or no schedstat: what the decoders then do without (worker.c) */
    }
    assert_int_equal(w0, 0); /* a thread seen for the first time counts nothing yet */

    atomic_store(&spin_stop, 0);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, spinner, &one), 0);
    /* 100 ms of this thread's own CPU: with the spinner beside it, at least as long again
     * waiting (a loaded machine only adds to it). */
    int64_t c0 = cpu_us(CLOCK_THREAD_CPUTIME_ID);
    volatile unsigned long x = 0;
    while (cpu_us(CLOCK_THREAD_CPUTIME_ID) - c0 < 100000)
        x++;
    atomic_store(&spin_stop, 1);
    void *rc;
    assert_int_equal(pthread_join(t, &rc), 0);
    assert_null(rc);

    int64_t w1 = recd_cpu_wait_look(&p);
    print_message("waited %lld us for a CPU beside the spinner\n", (long long)w1);
    assert_true(w1 >= 20000);
    assert_true(recd_cpu_wait_look(&p) < w1); /* only what was waited since the last look */

    recd_cpu_wait_unwatch_self();
    assert_int_equal(recd_cpu_wait_look(&p), -1);
    assert_int_equal(sched_setaffinity(0, sizeof old, &old), 0);
}

/* A full set ignores more threads, and unwatching one that was never watched changes nothing. */
static void test_full_set(void **state)
{
    (void)state;
    struct recd_cpu_wait_probe p = {0};
    recd_cpu_wait_unwatch_self();
    assert_int_equal(recd_cpu_wait_look(&p), -1);
    for (int i = 0; i < RECD_CPU_WAIT_WATCH_MAX + 3; i++)
        recd_cpu_wait_watch_self();
    assert_true(recd_cpu_wait_look(&p) >= 0);
    for (int i = 0; i < RECD_CPU_WAIT_WATCH_MAX; i++)
        recd_cpu_wait_unwatch_self();
    assert_int_equal(recd_cpu_wait_look(&p), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nothing_watched),
        cmocka_unit_test(test_counts_the_wait),
        cmocka_unit_test(test_full_set),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
