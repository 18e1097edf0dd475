#include "ops/metrics.h"

#include "ops/build_info.h"
#include "ops/meter.h"

#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

/* --- Label sets and buckets ------------------------------------------------------------------- */

static const char *const call_statuses[] = {"completed", "busy", "failed", "no-answer", "canceled"};
static const char *const sip_methods[] = {"INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "other"};
static const char *const rtp_dirs[] = {"received", "sent"};
static const char *const rec_results[] = {"completed", "absent", "failed"};
static const char *const hook_kinds[] = {"twiml", "status_callback", "media"};
static const char *const hook_outcomes[] = {"delivered", "failed"};
static const char *const stt_outcomes[] = {"completed", "failed", "retried"};

#define N(a)           (unsigned)(sizeof(a) / sizeof((a)[0]))
#define SIP_CODE_FIRST 100
#define SIP_CODES      600 /* 100 … 699 */

/* A label set: one or two labels; values by name, or numbers from `first` (SIP codes). */
struct labels {
    const char *name[2];
    const char *const *values[2];
    unsigned n[2];
    unsigned first; /* numeric values: the first label is first, first + 1, …; 0 = named */
    int sparse;     /* render only series that moved (large sets) */
};

static const struct labels label_sets[RECD_ML_COUNT_] = {
    [RECD_ML_NONE] = {.n = {1, 1}},
    [RECD_ML_CALL_STATUS] = {{"status"}, {call_statuses}, {N(call_statuses), 1}, 0, 0},
    [RECD_ML_SIP_METHOD] = {{"method"}, {sip_methods}, {N(sip_methods), 1}, 0, 0},
    [RECD_ML_SIP_CODE] = {{"code"}, {NULL}, {SIP_CODES, 1}, SIP_CODE_FIRST, 1},
    [RECD_ML_RTP_DIR] = {{"direction"}, {rtp_dirs}, {N(rtp_dirs), 1}, 0, 0},
    [RECD_ML_REC_RESULT] = {{"result"}, {rec_results}, {N(rec_results), 1}, 0, 0},
    [RECD_ML_HOOK_KIND] = {{"kind"}, {hook_kinds}, {N(hook_kinds), 1}, 0, 0},
    [RECD_ML_HOOK_RESULT] =
        {{"kind", "outcome"}, {hook_kinds, hook_outcomes}, {N(hook_kinds), N(hook_outcomes)}, 0, 0},
    [RECD_ML_STT_OUTCOME] = {{"outcome"}, {stt_outcomes}, {N(stt_outcomes), 1}, 0, 0},
    [RECD_ML_STORE_OP] = {{"backend", "op"},
                          {recd_meter_store_backends, recd_meter_store_op_names},
                          {RECD_METER_STORE_BACKENDS_, RECD_METER_STORE_COUNT_},
                          0,
                          1},
    [RECD_ML_MEDIA_OP] = {{"backend", "op"},
                          {recd_meter_media_backends, recd_meter_media_op_names},
                          {RECD_METER_MEDIA_BACKENDS_, RECD_METER_MEDIA_COUNT_},
                          0,
                          1},
};

/* Upper bounds in microseconds; the +Inf bucket follows the last. */
#define MAX_BOUNDS 16
struct buckets {
    unsigned n;
    int64_t le[MAX_BOUNDS];
};

static const struct buckets bucket_sets[] = {
    [RECD_MB_NONE] = {0, {0}},
    /* A cached page is answered in tens of µs, a first MP3 in seconds. */
    [RECD_MB_LATENCY] = {16,
                         {100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000,
                          1000000, 2500000, 5000000, 10000000}},
    /* A SQLite read takes microseconds, an fsynced commit milliseconds. */
    [RECD_MB_STORAGE] = {14,
                         {10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 25000, 100000, 500000,
                          2500000}},
    /* G.711 packets come every 20 ms; jitter past a few packets is trouble. */
    [RECD_MB_JITTER] = {9, {500, 1000, 2000, 5000, 10000, 20000, 40000, 80000, 160000}},
    [RECD_MB_REC_LENGTH] = {10,
                            {1000000, 5000000, 10000000, 30000000, 60000000, 120000000, 300000000, 600000000,
                             1800000000, 3600000000}},
};

/* --- Families -------------------------------------------------------------------------------- */

struct family {
    const char *name, *help;
    enum recd_metric_type type;
    enum recd_mlabels labels;
    enum recd_mbuckets buckets;
    unsigned offset; /* first slot in a shard */
};

static struct family families[RECD_MET_COUNT_] = {
#define RECD_METRIC_FAMILY(id, type, name, labels, buckets, help)                                            \
    [RECD_MET_##id] = {name, help, RECD_MT_##type, RECD_ML_##labels, RECD_MB_##buckets, 0},
    RECD_METRICS(RECD_METRIC_FAMILY)
#undef RECD_METRIC_FAMILY
};

static unsigned series_of(const struct family *f)
{
    const struct labels *l = &label_sets[f->labels];
    return l->n[0] * l->n[1];
}

/* Slots per series: one, or a histogram's buckets (+Inf included, not cumulative) and its sum. */
static unsigned width_of(const struct family *f)
{
    return f->type == RECD_MT_HISTOGRAM ? bucket_sets[f->buckets].n + 2 : 1;
}

/* --- HTTP series ----------------------------------------------------------------------------- */

/*
 * HTTP requests are counted by (route, method, code), and the route is a static string the
 * handler chose, so the keys are not known in advance: each shard has a small open-addressed
 * table of them. Only the owning thread inserts; an entry is published by storing its route
 * last (release), so a scrape that sees the route sees the rest of the key.
 */
#define HTTP_SLOTS   512 /* distinct (route, method, code) a thread sees; more share one entry */
#define HTTP_BOUNDS  16  /* RECD_MB_LATENCY */
#define HTTP_METHODS 7   /* recd_method: other, GET, HEAD, DELETE, POST, PUT, OPTIONS */

static const char *const http_methods[HTTP_METHODS] = {"other", "GET", "HEAD",   "DELETE",
                                                       "POST",  "PUT", "OPTIONS"};
static const char unmatched[] = "unmatched";
static const char overflow[] = "overflow";

struct http_entry {
    _Atomic(const char *) route;
    unsigned method;
    int code;
    _Atomic uint64_t requests, bytes, sum_us;
    _Atomic uint64_t bucket[HTTP_BOUNDS + 1];
};

struct http_table {
    struct http_entry e[HTTP_SLOTS];
};

/* --- Shards ---------------------------------------------------------------------------------- */

struct shard {
    struct shard *next, *prev;
    struct http_table *http; /* made on the thread's first HTTP request */
    _Atomic uint64_t v[];
};

static int enabled;
static unsigned nslots;
static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct shard *shards;  /* live ones, under reg_lock */
static struct shard *retired; /* what exited threads counted, under reg_lock */
static pthread_key_t shard_key;
static _Thread_local struct shard *tls_shard;

static void add_slot(_Atomic uint64_t *p, uint64_t n)
{
    /* Only this thread writes the slot: a load and a store, no locked instruction. */
    atomic_store_explicit(p, atomic_load_explicit(p, memory_order_relaxed) + n, memory_order_relaxed);
}

static struct http_entry *http_find(struct http_table *t, const char *route, unsigned method, int code,
                                    int insert);

static struct shard *shard_alloc(void)
{
    return calloc(1, sizeof(struct shard) + nslots * sizeof(_Atomic uint64_t));
}

/* Folds `s` into the retired shard and frees it: its thread has exited. */
static void shard_retire(void *arg)
{
    struct shard *s = arg;
    if (!s)
        return;
    pthread_mutex_lock(&reg_lock);
    if (s->prev)
        s->prev->next = s->next;
    else
        shards = s->next;
    if (s->next)
        s->next->prev = s->prev;
    for (unsigned i = 0; i < nslots; i++)
        add_slot(&retired->v[i], atomic_load_explicit(&s->v[i], memory_order_relaxed));
    if (s->http) {
        if (!retired->http)
            retired->http = calloc(1, sizeof *retired->http);
        for (unsigned i = 0; retired->http && i < HTTP_SLOTS; i++) {
            struct http_entry *from = &s->http->e[i];
            const char *route = atomic_load_explicit(&from->route, memory_order_acquire);
            if (!route)
                continue;
            struct http_entry *to = http_find(retired->http, route, from->method, from->code, 1);
            add_slot(&to->requests, atomic_load_explicit(&from->requests, memory_order_relaxed));
            add_slot(&to->bytes, atomic_load_explicit(&from->bytes, memory_order_relaxed));
            add_slot(&to->sum_us, atomic_load_explicit(&from->sum_us, memory_order_relaxed));
            for (unsigned b = 0; b <= HTTP_BOUNDS; b++)
                add_slot(&to->bucket[b], atomic_load_explicit(&from->bucket[b], memory_order_relaxed));
        }
    }
    pthread_mutex_unlock(&reg_lock);
    free(s->http);
    free(s);
    tls_shard = NULL;
}

/* This thread's shard, made on its first count; NULL when memory is short (nothing is counted). */
static struct shard *shard(void)
{
    struct shard *s = tls_shard;
    if (__builtin_expect(s != NULL, 1))
        return s;
    s = shard_alloc();
    if (!s)
        return NULL;
    pthread_mutex_lock(&reg_lock);
    s->next = shards;
    if (shards)
        shards->prev = s;
    shards = s;
    pthread_mutex_unlock(&reg_lock);
    pthread_setspecific(shard_key, s);
    tls_shard = s;
    return s;
}

void recd_metrics_init(int on)
{
    if (enabled || !on)
        return;
    unsigned off = 0;
    for (unsigned i = 0; i < RECD_MET_COUNT_; i++) {
        families[i].offset = off;
        off += series_of(&families[i]) * width_of(&families[i]);
    }
    nslots = off;
    retired = shard_alloc();
    if (!retired || pthread_key_create(&shard_key, shard_retire) != 0)
        return;
    enabled = 1;
}

int recd_metrics_enabled(void)
{
    return enabled;
}

void recd_metric_add(enum recd_metric m, unsigned label, uint64_t n)
{
    if (!enabled || (unsigned)m >= RECD_MET_COUNT_ || label >= series_of(&families[m]))
        return;
    struct shard *s = shard();
    if (s)
        add_slot(&s->v[families[m].offset + label], n);
}

void recd_metric_gauge_add(enum recd_metric m, unsigned label, int64_t delta)
{
    /* A thread's share of a gauge may go below zero (one thread starts a call, another ends it);
     * the sum over the shards is right, in two's complement. */
    recd_metric_add(m, label, (uint64_t)delta);
}

/* The bucket `us` falls in: the first bound at or above it, or +Inf (n). */
static unsigned bucket_of(const struct buckets *b, int64_t us)
{
    unsigned i = 0;
    while (i < b->n && us > b->le[i])
        i++;
    return i;
}

void recd_metric_observe(enum recd_metric m, unsigned label, int64_t us)
{
    if (!enabled || (unsigned)m >= RECD_MET_COUNT_ || families[m].type != RECD_MT_HISTOGRAM ||
        label >= series_of(&families[m]))
        return;
    struct shard *s = shard();
    if (!s)
        return;
    const struct family *f = &families[m];
    const struct buckets *b = &bucket_sets[f->buckets];
    if (us < 0)
        us = 0;
    _Atomic uint64_t *base = &s->v[f->offset + label * width_of(f)];
    add_slot(&base[bucket_of(b, us)], 1);
    add_slot(&base[b->n + 1], (uint64_t)us);
}

static int index_of(const char *const *values, unsigned n, const char *s, size_t len)
{
    for (unsigned i = 0; i < n; i++)
        if (strlen(values[i]) == len && memcmp(values[i], s, len) == 0)
            return (int)i;
    return -1;
}

int recd_metric_call_status(const char *status)
{
    return index_of(call_statuses, N(call_statuses), status, strlen(status));
}

int recd_metric_rec_result(const char *status)
{
    return index_of(rec_results, N(rec_results), status, strlen(status));
}

int recd_metric_sip_method(const char *method, size_t len)
{
    int i = index_of(sip_methods, N(sip_methods) - 1, method, len);
    return i < 0 ? (int)N(sip_methods) - 1 : i;
}

/* --- HTTP ------------------------------------------------------------------------------------ */

static unsigned http_hash(const char *route, unsigned method, int code)
{
    uint64_t h = ((uintptr_t)route >> 3) * UINT64_C(0x9E3779B97F4A7C15);
    h ^= (uint64_t)method * 0x51ed27u + (uint64_t)(unsigned)code * 0x2545f491u;
    h *= UINT64_C(0xff51afd7ed558ccd);
    return (unsigned)(h >> 40) % HTTP_SLOTS;
}

/*
 * The entry of (route, method, code), inserted when `insert`; NULL when absent and not inserted.
 * A full table sends new keys to one entry labelled "overflow".
 */
static struct http_entry *http_find(struct http_table *t, const char *route, unsigned method, int code,
                                    int insert)
{
    unsigned h = http_hash(route, method, code);
    for (unsigned probe = 0; probe < HTTP_SLOTS - 1; probe++) {
        struct http_entry *e = &t->e[(h + probe) % HTTP_SLOTS];
        const char *r = atomic_load_explicit(&e->route, memory_order_relaxed);
        if (r == route && e->method == method && e->code == code)
            return e;
        if (!r) {
            if (!insert)
                return NULL;
            e->method = method;
            e->code = code;
            atomic_store_explicit(&e->route, route, memory_order_release);
            return e;
        }
    }
    /* The last slot is kept for the overflow. */
    struct http_entry *e = &t->e[HTTP_SLOTS - 1];
    if (!atomic_load_explicit(&e->route, memory_order_relaxed)) {
        e->method = 0;
        e->code = 0;
        atomic_store_explicit(&e->route, overflow, memory_order_release);
    }
    return e;
}

void recd_metrics_http(const char *route, unsigned method, int code, uint64_t bytes, int64_t us)
{
    if (!enabled)
        return;
    struct shard *s = shard();
    if (!s)
        return;
    if (__builtin_expect(!s->http, 0) && !(s->http = calloc(1, sizeof *s->http)))
        return;
    if (method >= HTTP_METHODS)
        method = 0;
    struct http_entry *e = http_find(s->http, route ? route : unmatched, method, code, 1);
    if (us < 0)
        us = 0;
    add_slot(&e->requests, 1);
    add_slot(&e->bytes, bytes);
    add_slot(&e->sum_us, (uint64_t)us);
    add_slot(&e->bucket[bucket_of(&bucket_sets[RECD_MB_LATENCY], us)], 1);
}

/* --- Rendering ------------------------------------------------------------------------------- */

/* One (route, method, code) summed over the shards, for a scrape. */
struct http_sum {
    const char *route;
    unsigned method;
    int code;
    uint64_t requests, bytes, sum_us;
    uint64_t bucket[HTTP_BOUNDS + 1];
};

struct http_sums {
    struct http_sum *v;
    size_t n, cap;
};

static void http_collect(struct http_sums *out, const struct http_table *t)
{
    for (unsigned i = 0; t && i < HTTP_SLOTS; i++) {
        const struct http_entry *e = &t->e[i];
        const char *route = atomic_load_explicit(&e->route, memory_order_acquire);
        if (!route)
            continue;
        if (out->n == out->cap) {
            size_t cap = out->cap ? out->cap * 2 : 64;
            struct http_sum *v = realloc(out->v, cap * sizeof *v);
            if (!v)
                return;
            out->v = v;
            out->cap = cap;
        }
        struct http_sum *s = &out->v[out->n++];
        s->route = route;
        s->method = e->method;
        s->code = e->code;
        s->requests = atomic_load_explicit(&e->requests, memory_order_relaxed);
        s->bytes = atomic_load_explicit(&e->bytes, memory_order_relaxed);
        s->sum_us = atomic_load_explicit(&e->sum_us, memory_order_relaxed);
        for (unsigned b = 0; b <= HTTP_BOUNDS; b++)
            s->bucket[b] = atomic_load_explicit(&e->bucket[b], memory_order_relaxed);
    }
}

static int http_cmp(const void *pa, const void *pb)
{
    const struct http_sum *a = pa, *b = pb;
    int c = strcmp(a->route, b->route);
    if (c)
        return c;
    if (a->method != b->method)
        return a->method < b->method ? -1 : 1;
    return a->code < b->code ? -1 : a->code > b->code;
}

/* Sorts by (route, method, code) and merges equal keys (shards saw the same ones). */
static void http_merge(struct http_sums *s)
{
    if (!s->n)
        return;
    qsort(s->v, s->n, sizeof *s->v, http_cmp);
    size_t w = 0;
    for (size_t r = 1; r < s->n; r++) {
        struct http_sum *a = &s->v[w], *b = &s->v[r];
        if (http_cmp(a, b) == 0) {
            a->requests += b->requests;
            a->bytes += b->bytes;
            a->sum_us += b->sum_us;
            for (unsigned k = 0; k <= HTTP_BOUNDS; k++)
                a->bucket[k] += b->bucket[k];
        } else {
            s->v[++w] = *b;
        }
    }
    s->n = w + 1;
}

/* Microseconds as decimal seconds, exactly: 2500 → "0.0025". */
static void add_seconds(struct recd_buf *b, uint64_t us)
{
    recd_buf_printf(b, "%llu", (unsigned long long)(us / 1000000));
    unsigned frac = (unsigned)(us % 1000000);
    if (!frac)
        return;
    char digits[8];
    snprintf(digits, sizeof digits, "%06u", frac);
    size_t n = 6;
    while (digits[n - 1] == '0')
        n--;
    recd_buf_addc(b, '.');
    recd_buf_add(b, digits, n);
}

/* Label values are the code's own strings; escaped anyway, as the format requires. */
static void add_label(struct recd_buf *b, const char *name, const char *value)
{
    recd_buf_adds(b, name);
    recd_buf_adds(b, "=\"");
    for (const char *p = value; *p; p++) {
        if (*p == '\\' || *p == '"')
            recd_buf_addc(b, '\\');
        if (*p == '\n')
            recd_buf_adds(b, "\\n");
        else
            recd_buf_addc(b, *p);
    }
    recd_buf_addc(b, '"');
}

static void add_head(struct recd_buf *b, const char *name, const char *type, const char *help)
{
    recd_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* The labels of series `i` of label set `ls`, without braces, into `lab`. */
static void series_labels(struct recd_buf *lab, const struct labels *ls, unsigned i)
{
    recd_buf_reset(lab);
    if (!ls->name[0])
        return;
    unsigned i0 = i / ls->n[1], i1 = i % ls->n[1];
    if (ls->first) {
        char num[16];
        snprintf(num, sizeof num, "%u", ls->first + i0);
        add_label(lab, ls->name[0], num);
    } else {
        add_label(lab, ls->name[0], ls->values[0][i0]);
    }
    if (ls->name[1]) {
        recd_buf_addc(lab, ',');
        add_label(lab, ls->name[1], ls->values[1][i1]);
    }
}

static void render_histogram(struct recd_buf *b, const char *name, const char *labels,
                             const struct buckets *bk, const uint64_t *counts, uint64_t sum_us)
{
    uint64_t cum = 0;
    const char *sep = labels[0] ? "," : "";
    for (unsigned k = 0; k <= bk->n; k++) {
        cum += counts[k];
        recd_buf_printf(b, "%s_bucket{%s%sle=\"", name, labels, sep);
        if (k < bk->n)
            add_seconds(b, (uint64_t)bk->le[k]);
        else
            recd_buf_adds(b, "+Inf");
        recd_buf_printf(b, "\"} %llu\n", (unsigned long long)cum);
    }
    recd_buf_printf(b, "%s_sum%s%s%s ", name, labels[0] ? "{" : "", labels, labels[0] ? "}" : "");
    add_seconds(b, sum_us);
    recd_buf_printf(b, "\n%s_count%s%s%s %llu\n", name, labels[0] ? "{" : "", labels, labels[0] ? "}" : "",
                    (unsigned long long)cum);
}

static void render_family(struct recd_buf *b, const struct family *f, const uint64_t *v, struct recd_buf *lab)
{
    static const char *const types[] = {"counter", "gauge", "histogram"};
    const struct labels *ls = &label_sets[f->labels];
    const struct buckets *bk = &bucket_sets[f->buckets];
    unsigned w = width_of(f);
    add_head(b, f->name, types[f->type], f->help);
    for (unsigned i = 0; i < series_of(f); i++) {
        const uint64_t *s = v + f->offset + i * w;
        if (ls->sparse) {
            int moved = 0;
            for (unsigned k = 0; k < w; k++)
                moved |= s[k] != 0;
            if (!moved)
                continue;
        }
        series_labels(lab, ls, i);
        if (f->type == RECD_MT_HISTOGRAM) {
            render_histogram(b, f->name, lab->p ? lab->p : "", bk, s, s[bk->n + 1]);
            continue;
        }
        recd_buf_adds(b, f->name);
        if (lab->len)
            recd_buf_printf(b, "{%s}", lab->p);
        if (f->type == RECD_MT_GAUGE)
            recd_buf_printf(b, " %lld\n", (long long)(int64_t)s[0]);
        else
            recd_buf_printf(b, " %llu\n", (unsigned long long)s[0]);
    }
}

static void render_http(struct recd_buf *b, struct http_sums *hs, struct recd_buf *lab)
{
    add_head(b, "recd_http_requests_total", "counter",
             "HTTP requests answered, by method, route template and status code.");
    for (size_t i = 0; i < hs->n; i++) {
        const struct http_sum *s = &hs->v[i];
        recd_buf_reset(lab);
        add_label(lab, "method", http_methods[s->method]);
        recd_buf_addc(lab, ',');
        add_label(lab, "route", s->route);
        recd_buf_printf(lab, ",code=\"%d\"", s->code);
        recd_buf_printf(b, "recd_http_requests_total{%s} %llu\n", lab->p, (unsigned long long)s->requests);
    }
    /* The duration and the bytes by (method, route): the codes of one pair are adjacent. */
    add_head(b, "recd_http_request_duration_seconds", "histogram",
             "Time from a request's first byte to its response's last byte, by method and route template.");
    for (size_t i = 0; i < hs->n;) {
        struct http_sum t = hs->v[i];
        size_t j = i + 1;
        for (; j < hs->n && hs->v[j].method == t.method && strcmp(hs->v[j].route, t.route) == 0; j++) {
            t.sum_us += hs->v[j].sum_us;
            for (unsigned k = 0; k <= HTTP_BOUNDS; k++)
                t.bucket[k] += hs->v[j].bucket[k];
        }
        recd_buf_reset(lab);
        add_label(lab, "method", http_methods[t.method]);
        recd_buf_addc(lab, ',');
        add_label(lab, "route", t.route);
        render_histogram(b, "recd_http_request_duration_seconds", lab->p, &bucket_sets[RECD_MB_LATENCY],
                         t.bucket, t.sum_us);
        i = j;
    }
    add_head(b, "recd_http_response_bytes_total", "counter",
             "Bytes of response bodies sent, by method and route template.");
    for (size_t i = 0; i < hs->n;) {
        uint64_t bytes = 0;
        size_t j = i;
        for (; j < hs->n && hs->v[j].method == hs->v[i].method && strcmp(hs->v[j].route, hs->v[i].route) == 0;
             j++)
            bytes += hs->v[j].bytes;
        recd_buf_reset(lab);
        add_label(lab, "method", http_methods[hs->v[i].method]);
        recd_buf_addc(lab, ',');
        add_label(lab, "route", hs->v[i].route);
        recd_buf_printf(b, "recd_http_response_bytes_total{%s} %llu\n", lab->p, (unsigned long long)bytes);
        i = j;
    }
}

/* The process_* set every Prometheus client exports, from /proc/self. */
static void render_process(struct recd_buf *b)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) == 0) {
        uint64_t us = (uint64_t)ru.ru_utime.tv_sec * 1000000 + (uint64_t)ru.ru_utime.tv_usec +
                      (uint64_t)ru.ru_stime.tv_sec * 1000000 + (uint64_t)ru.ru_stime.tv_usec;
        add_head(b, "process_cpu_seconds_total", "counter",
                 "Total user and system CPU time spent in seconds.");
        recd_buf_adds(b, "process_cpu_seconds_total ");
        add_seconds(b, us);
        recd_buf_addc(b, '\n');
    }
    long ticks = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
    char stat[1024];
    FILE *f = fopen("/proc/self/stat", "r");
    size_t n = f ? fread(stat, 1, sizeof stat - 1, f) : 0;
    if (f)
        fclose(f);
    stat[n] = '\0';
    /* The fields after the command name, which may hold spaces and parentheses itself. */
    const char *p = strrchr(stat, ')');
    unsigned long long start = 0, vsize = 0, rss = 0;
    if (p && ticks > 0 &&
        sscanf(p + 2,
               "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d %*d %llu %llu %llu",
               &start, &vsize, &rss) == 3) {
        unsigned long long btime = 0;
        char line[256];
        FILE *s = fopen("/proc/stat", "r");
        while (s && fgets(line, sizeof line, s))
            if (sscanf(line, "btime %llu", &btime) == 1)
                break;
        if (s)
            fclose(s);
        add_head(b, "process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.");
        recd_buf_printf(b, "process_virtual_memory_bytes %llu\n", vsize);
        add_head(b, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
        recd_buf_printf(b, "process_resident_memory_bytes %llu\n", rss * (unsigned long long)page);
        if (btime) {
            uint64_t us = (uint64_t)(btime * 1000000 + start * 1000000 / (unsigned long long)ticks);
            add_head(b, "process_start_time_seconds", "gauge",
                     "Start time of the process since unix epoch in seconds.");
            recd_buf_adds(b, "process_start_time_seconds ");
            add_seconds(b, us);
            recd_buf_addc(b, '\n');
        }
    }
    DIR *d = opendir("/proc/self/fd");
    if (d) {
        long fds = -1; /* the listing's own descriptor */
        while (readdir(d))
            fds++;
        closedir(d);
        add_head(b, "process_open_fds", "gauge", "Number of open file descriptors.");
        recd_buf_printf(b, "process_open_fds %ld\n", fds - 2); /* "." and ".." */
    }
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        add_head(b, "process_max_fds", "gauge", "Maximum number of open file descriptors.");
        recd_buf_printf(b, "process_max_fds %llu\n", (unsigned long long)rl.rlim_cur);
    }
}

/* The `recd mirror` runs' tally: counted by those processes, read from the data folder. */
static void render_mirror(struct recd_buf *b, const int64_t v[7])
{
    enum { COPIED, SKIPPED, FAILED, THROTTLED, BYTES, RUNS, LAST_SUCCESS };
    add_head(b, "recd_mirror_recordings_total", "counter",
             "Recordings `recd mirror` runs copied into this data folder, skipped, or failed to copy.");
    recd_buf_printf(b, "recd_mirror_recordings_total{result=\"copied\"} %lld\n", (long long)v[COPIED]);
    recd_buf_printf(b, "recd_mirror_recordings_total{result=\"skipped\"} %lld\n", (long long)v[SKIPPED]);
    recd_buf_printf(b, "recd_mirror_recordings_total{result=\"failed\"} %lld\n", (long long)v[FAILED]);
    add_head(b, "recd_mirror_throttled_total", "counter", "429 answers the mirror's sources gave.");
    recd_buf_printf(b, "recd_mirror_throttled_total %lld\n", (long long)v[THROTTLED]);
    add_head(b, "recd_mirror_bytes_total", "counter", "Media bytes the mirror stored.");
    recd_buf_printf(b, "recd_mirror_bytes_total %lld\n", (long long)v[BYTES]);
    add_head(b, "recd_mirror_runs_total", "counter",
             "`recd mirror` runs that counted into this data folder.");
    recd_buf_printf(b, "recd_mirror_runs_total %lld\n", (long long)v[RUNS]);
    add_head(b, "recd_mirror_last_success_timestamp_seconds", "gauge",
             "When a mirror run last walked its whole list with nothing failed (0: never).");
    recd_buf_printf(b, "recd_mirror_last_success_timestamp_seconds %lld\n", (long long)v[LAST_SUCCESS]);
}

/*
 * Sums every shard (the retired one included) under the registry's lock, then writes every
 * family. Long because the exposition is one list of families, written in one place in the
 * order a reader finds them.
 */
void recd_metrics_render(struct recd_buf *b, const struct recd_metrics_extra *x)
{
    struct recd_buf lab;
    recd_buf_init(&lab, 256);
    add_head(b, "recd_build_info", "gauge", "The version of recd that serves; always 1.");
    recd_buf_adds(b, "recd_build_info{");
    add_label(b, "version", RECD_BUILD_VERSION);
    recd_buf_addc(b, ',');
    add_label(b, "commit", RECD_BUILD_COMMIT);
    recd_buf_adds(b, "} 1\n");
    if (!enabled) {
        render_process(b);
        recd_buf_free(&lab);
        return;
    }
    uint64_t *sum = calloc(nslots ? nslots : 1, sizeof *sum);
    struct http_sums hs = {0};
    pthread_mutex_lock(&reg_lock);
    for (struct shard *s = retired; s; s = s == retired ? shards : s->next) {
        for (unsigned i = 0; sum && i < nslots; i++)
            sum[i] += atomic_load_explicit(&s->v[i], memory_order_relaxed);
        http_collect(&hs, s->http);
    }
    pthread_mutex_unlock(&reg_lock);
    http_merge(&hs);
    render_http(b, &hs, &lab);
    for (unsigned i = 0; sum && i < RECD_MET_COUNT_; i++)
        render_family(b, &families[i], sum, &lab);
    if (x && x->have_sqlite) {
        add_head(b, "recd_sqlite_busy_retries_total", "counter",
                 "Times a SQLite statement found the database locked by another connection and waited.");
        recd_buf_printf(b, "recd_sqlite_busy_retries_total %llu\n",
                        (unsigned long long)x->sqlite_busy_retries);
    }
    if (x && x->jobs_queued >= 0) {
        add_head(b, "recd_transcription_queue_jobs", "gauge", "Transcription jobs waiting and running.");
        recd_buf_printf(b, "recd_transcription_queue_jobs{state=\"queued\"} %lld\n",
                        (long long)x->jobs_queued);
        recd_buf_printf(b, "recd_transcription_queue_jobs{state=\"running\"} %lld\n",
                        (long long)x->jobs_running);
    }
    if (x && x->have_mirror)
        render_mirror(b, x->mirror);
    if (x && x->backup_last_s >= 0) {
        add_head(b, "recd_backup_last_success_timestamp_seconds", "gauge",
                 "When the last recd backup of this data folder finished, in Unix time; 0 if never.");
        recd_buf_printf(b, "recd_backup_last_success_timestamp_seconds %lld\n", (long long)x->backup_last_s);
    }
    render_process(b);
    free(sum);
    free(hs.v);
    recd_buf_free(&lab);
}
