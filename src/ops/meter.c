#include "ops/meter.h"

#include "core/error.h"
#include "ops/metrics.h"

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

const char *const recd_meter_store_op_names[RECD_METER_STORE_COUNT_] = {
#define OP_NAME(name, params, args) #name,
    RECD_METER_STORE_OPS(OP_NAME)};
const char *const recd_meter_media_op_names[RECD_METER_MEDIA_COUNT_] = {RECD_METER_MEDIA_OPS(OP_NAME)};
#undef OP_NAME
const char *const recd_meter_store_backends[RECD_METER_STORE_BACKENDS_] = {"sqlite", "postgres"};
const char *const recd_meter_media_backends[RECD_METER_MEDIA_BACKENDS_] = {"fs", "s3"};

/*
 * A metered table and what it stands for. A handle's ops pointer points at `table`, so a
 * metered operation finds its entry (the backend's own table, the label) from the handle alone.
 * Entries are made once, under the lock, and never change after.
 */
#define TABLES 8

struct store_entry {
    struct recd_store_ops table;
    const struct recd_store_ops *inner;
    unsigned label; /* backend * RECD_METER_STORE_COUNT_: add the op */
};

struct media_entry {
    struct recd_blob_ops table;
    const struct recd_blob_ops *inner;
    unsigned label;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct store_entry store_tables[TABLES];
static struct media_entry media_tables[TABLES];
static unsigned nstore, nmedia;

static int64_t mono_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000 + t.tv_nsec / 1000;
}

static void count(enum recd_metric ops, enum recd_metric errors, unsigned label, int64_t t0, int rc)
{
    recd_metric_observe(ops, label, mono_us() - t0);
    if (rc < 0 && rc != RECD_E_NOT_FOUND && rc != RECD_E_EXISTS && rc != RECD_E_RANGE)
        recd_metric_add(errors, label, 1);
}

#define STORE_ENTRY(st)                                                                                      \
    ((const struct store_entry *)(const void *)((const char *)(st)->ops -                                    \
                                                offsetof(struct store_entry, table)))
#define MEDIA_ENTRY(b)                                                                                       \
    ((const struct media_entry *)(const void *)((const char *)(b)->ops - offsetof(struct media_entry, table)))

#define STORE_FWD(name, params, args)                                                                        \
    static int m_store_##name params                                                                         \
    {                                                                                                        \
        const struct store_entry *e = STORE_ENTRY(st);                                                       \
        int64_t t0 = mono_us();                                                                              \
        int rc = e->inner->name args;                                                                        \
        count(RECD_MET_STORE_OPS, RECD_MET_STORE_ERRORS, e->label + RECD_METER_STORE_##name, t0, rc);        \
        return rc;                                                                                           \
    }
RECD_METER_STORE_OPS(STORE_FWD)
#undef STORE_FWD

#define MEDIA_FWD(name, params, args)                                                                        \
    static int m_media_##name params                                                                         \
    {                                                                                                        \
        const struct media_entry *e = MEDIA_ENTRY(b);                                                        \
        int64_t t0 = mono_us();                                                                              \
        int rc = e->inner->name args;                                                                        \
        count(RECD_MET_MEDIA_OPS, RECD_MET_MEDIA_ERRORS, e->label + RECD_METER_MEDIA_##name, t0, rc);        \
        return rc;                                                                                           \
    }
RECD_METER_MEDIA_OPS(MEDIA_FWD)
#undef MEDIA_FWD

/* The entry metering `inner` as `backend`, made on first use; NULL when the tables are full. */
static const struct recd_store_ops *store_table(const struct recd_store_ops *inner, int backend)
{
    for (unsigned i = 0; i < nstore; i++)
        if (store_tables[i].inner == inner &&
            store_tables[i].label == (unsigned)backend * RECD_METER_STORE_COUNT_)
            return &store_tables[i].table;
    if (nstore == TABLES)
        return NULL;
    struct store_entry *e = &store_tables[nstore];
    e->inner = inner;
    e->label = (unsigned)backend * RECD_METER_STORE_COUNT_;
    /* Whatever the lists do not name is the backend's own function, so it still works. */
    e->table = *inner;
#define STORE_SET(name, params, args)                                                                        \
    if (inner->name)                                                                                         \
        e->table.name = m_store_##name;
    RECD_METER_STORE_OPS(STORE_SET)
#undef STORE_SET
    nstore++;
    return &e->table;
}

static const struct recd_blob_ops *media_table(const struct recd_blob_ops *inner, int backend)
{
    for (unsigned i = 0; i < nmedia; i++)
        if (media_tables[i].inner == inner &&
            media_tables[i].label == (unsigned)backend * RECD_METER_MEDIA_COUNT_)
            return &media_tables[i].table;
    if (nmedia == TABLES)
        return NULL;
    struct media_entry *e = &media_tables[nmedia];
    e->inner = inner;
    e->label = (unsigned)backend * RECD_METER_MEDIA_COUNT_;
    e->table = *inner;
#define MEDIA_SET(name, params, args)                                                                        \
    if (inner->name)                                                                                         \
        e->table.name = m_media_##name;
    RECD_METER_MEDIA_OPS(MEDIA_SET)
#undef MEDIA_SET
    nmedia++;
    return &e->table;
}

/* 1 when `p` lies inside the array [first, first + bytes). */
static int inside(const void *p, const void *first, size_t bytes)
{
    uintptr_t a = (uintptr_t)p, f = (uintptr_t)first;
    return a >= f && a < f + bytes;
}

static int is_metered_store(const struct recd_store_ops *ops)
{
    return inside(ops, store_tables, sizeof store_tables);
}

static int is_metered_media(const struct recd_blob_ops *ops)
{
    return inside(ops, media_tables, sizeof media_tables);
}

void recd_meter_store(struct recd_store *st, int backend)
{
    if (!st || !recd_metrics_enabled() || backend < 0 || backend >= RECD_METER_STORE_BACKENDS_)
        return;
    pthread_mutex_lock(&lock);
    const struct recd_store_ops *t = is_metered_store(st->ops) ? NULL : store_table(st->ops, backend);
    pthread_mutex_unlock(&lock);
    if (t)
        st->ops = t;
}

void recd_meter_media(struct recd_blob *b, int backend)
{
    if (!b || !recd_metrics_enabled() || backend < 0 || backend >= RECD_METER_MEDIA_BACKENDS_)
        return;
    pthread_mutex_lock(&lock);
    const struct recd_blob_ops *t = is_metered_media(b->ops) ? NULL : media_table(b->ops, backend);
    pthread_mutex_unlock(&lock);
    if (t)
        b->ops = t;
}
