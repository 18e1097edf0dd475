#include "api/limiter.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define SLOTS 4096 /* a power of two */
#define PROBE 8

struct slot {
    unsigned char addr[16];
    unsigned char len; /* 0: free */
    double tokens;
    int64_t last_us;
};

struct recd_limiter {
    pthread_mutex_t lock;
    double burst;
    double per_us; /* tokens regained per microsecond */
    struct slot slots[SLOTS];
};

struct recd_limiter *recd_limiter_new(unsigned per_minute)
{
    if (per_minute == 0)
        return NULL;
    struct recd_limiter *l = calloc(1, sizeof *l);
    if (!l)
        abort();
    pthread_mutex_init(&l->lock, NULL);
    l->burst = per_minute;
    l->per_us = per_minute / 60e6;
    return l;
}

void recd_limiter_free(struct recd_limiter *l)
{
    if (!l)
        return;
    pthread_mutex_destroy(&l->lock);
    free(l);
}

static uint32_t hash(const unsigned char *a, size_t n)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (size_t i = 0; i < n; i++)
        h = (h ^ a[i]) * 16777619u;
    return h;
}

/* Finds the slot of `addr`, refilled to `now`; with `create`, claims one (the quietest of the
 * probe window) when absent. Called with the lock held. */
static struct slot *find(struct recd_limiter *l, const unsigned char *a, size_t n, int64_t now, int create)
{
    uint32_t h = hash(a, n);
    struct slot *victim = NULL;
    for (int i = 0; i < PROBE; i++) {
        struct slot *s = &l->slots[(h + (uint32_t)i) & (SLOTS - 1)];
        if (s->len == n && memcmp(s->addr, a, n) == 0) {
            s->tokens += (double)(now - s->last_us) * l->per_us;
            if (s->tokens > l->burst)
                s->tokens = l->burst;
            s->last_us = now;
            return s;
        }
        if (!victim || s->len == 0 || (victim->len && s->last_us < victim->last_us))
            victim = s;
    }
    if (!create)
        return NULL;
    memcpy(victim->addr, a, n);
    victim->len = (unsigned char)n;
    victim->tokens = l->burst;
    victim->last_us = now;
    return victim;
}

int64_t recd_limiter_wait(struct recd_limiter *l, const void *addr, size_t n, int64_t now_us)
{
    if (!l || n == 0 || n > 16)
        return 0;
    pthread_mutex_lock(&l->lock);
    struct slot *s = find(l, addr, n, now_us, 0);
    int64_t wait = 0;
    if (s && s->tokens < 1.0)
        wait = (int64_t)((1.0 - s->tokens) / l->per_us / 1e6) + 1;
    pthread_mutex_unlock(&l->lock);
    return wait;
}

void recd_limiter_fail(struct recd_limiter *l, const void *addr, size_t n, int64_t now_us)
{
    if (!l || n == 0 || n > 16)
        return;
    pthread_mutex_lock(&l->lock);
    struct slot *s = find(l, addr, n, now_us, 1);
    s->tokens -= 1.0;
    if (s->tokens < 0)
        s->tokens = 0;
    pthread_mutex_unlock(&l->lock);
}
