#include "serve/serve.h"

#include "api/api.h"
#include "api/cache.h"
#include "api/limiter.h"
#include "console/console.h"
#include "core/error.h"
#include "core/log.h"
#include "core/time.h"
#include "http/server.h"
#include "ops/health.h"
#include "ops/meter.h"
#include "ops/metrics.h"
#include "ops/notify.h"
#include "service/audit.h"
#include "service/retention.h"
#include "service/service.h"
#include "voice/engine_serve.h"
#include "stt/worker.h"
#include "voice/webhook.h"

#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* 8 MiB of rendered pages per worker: a few hundred pages of 50, well inside the memory budget. */
#define PAGE_CACHE_BYTES (8u << 20)

/* What every worker shares. */
struct app {
    const char *data_dir;
    const char *store;
    struct recd_engine_serve *voice; /* NULL without --sip */
    char base_url[512];
    struct recd_limiter *limiter;
    struct recd_ops_endpoints ops;        /* /livez, /readyz, /metrics on --listen */
    struct recd_ops_endpoints ops_listen; /* the same on --metrics-listen */
    _Atomic int stopping;                 /* SIGTERM came: /readyz says so */
    int store_backend, media_backend;     /* for the storage metrics' backend label */
    struct recd_audit *audit;             /* NULL with --audit off */
};

/* One HTTP worker thread's own store handle and page cache (SQLite handles are per thread). */
struct worker {
    struct recd_ctx ctx;
    struct recd_api_cache *cache;
    struct recd_audit_buf *audit; /* this worker's audit lines, or NULL */
};

static void *worker_open(void *cls)
{
    struct app *app = cls;
    struct worker *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    int rc = recd_ctx_open_store(app->data_dir, app->store, &w->ctx);
    if (rc < 0) {
        /* The loop answers 503 until a later request's open succeeds; say why once per try. */
        recd_log_error("serve: a worker cannot open the store and media: %s", recd_err_name(rc));
        free(w);
        return NULL;
    }
    w->cache = recd_api_cache_new(PAGE_CACHE_BYTES);
    if (app->audit)
        w->audit = recd_audit_buf_new(app->audit);
    return w;
}

static void worker_close(void *cls, void *ts)
{
    (void)cls;
    struct worker *w = ts;
    recd_ctx_close(&w->ctx);
    recd_api_cache_free(w->cache);
    recd_audit_buf_free(w->audit);
    free(w);
}

/* "203.0.113.7" into out (16 bytes). */
static void format_ipv4(const unsigned char a[4], char *out)
{
    for (int i = 0; i < 4; i++) {
        unsigned v = a[i];
        if (v >= 100)
            *out++ = (char)('0' + v / 100);
        if (v >= 10)
            *out++ = (char)('0' + v / 10 % 10);
        *out++ = (char)('0' + v % 10);
        *out++ = i < 3 ? '.' : '\0';
    }
}

static const char *const method_names[] = {"OTHER", "GET", "HEAD", "DELETE", "POST", "PUT", "OPTIONS"};

/* The request's audit record, from what the API noted (service/audit.h): formatted into the
 * worker's buffer here, written by the audit thread. */
static void audit_request(struct worker *w, const struct recd_request *rq, const struct recd_response *rs)
{
    struct recd_audit_entry e;
    const struct recd_audit_note *n = &rs->audit;
    e.time_us = rq->now_us;
    e.event = n->event;
    e.cred = n->cred;
    e.result = n->result;
    memcpy(e.account_sid, n->account_sid, sizeof e.account_sid);
    memcpy(e.principal, n->principal, sizeof e.principal);
    memcpy(e.recording_sid, n->recording_sid, sizeof e.recording_sid);
    e.address[0] = '\0';
    if (rq->client_len == 4) /* by hand: glibc's inet_ntop formats with sprintf, a tenth of the cost */
        format_ipv4(rq->client, e.address);
    else if (rq->client_len == 16)
        inet_ntop(AF_INET6, rq->client, e.address, sizeof e.address);
    const char *m = (unsigned)rq->method < sizeof method_names / sizeof method_names[0]
                        ? method_names[rq->method]
                        : "OTHER";
    memcpy(e.method, m, strlen(m) + 1); /* at most "OPTIONS" and its NUL: 8 bytes */
    /* The path only: a signed link's query holds its signature. */
    const char *qm = memchr(rq->target.p, '?', rq->target.n);
    size_t plen = qm ? (size_t)(qm - rq->target.p) : rq->target.n;
    if (plen > RECD_AUDIT_PATH_MAX)
        plen = RECD_AUDIT_PATH_MAX;
    memcpy(e.path, rq->target.p, plen);
    e.path[plen] = '\0';
    e.status = rs->status;
    recd_audit_add(w->audit, &e);
}

/* POST /Calls/CA…/Recordings[/RE…] reaches the call engine here. */
static int live_recording(void *arg, struct recd_live_recording *lr)
{
    struct recd_engine_serve *voice = arg;
    if (!lr->recording_sid) {
        struct recd_engine_live_opts o = {
            .status_callback = lr->callback,
            .status_callback_get = lr->callback_get,
            .events = lr->events,
            .trim_silence = lr->trim,
            .channels = lr->channels == 2 ? 2 : 1,
            .track = (unsigned)lr->track,
        };
        return recd_engine_serve_live_start(voice, lr->account_sid, lr->call_sid, &o, lr->sid);
    }
    unsigned track = RECD_ENGINE_TRACK_BOTH;
    int rc = recd_engine_serve_live_cmd(voice, lr->account_sid, lr->call_sid, lr->recording_sid,
                                        (enum recd_engine_live_cmd)lr->cmd, lr->skip, lr->sid, &track);
    lr->track = (int)track;
    return rc;
}

static void handle(void *cls, void *ts, struct recd_request *rq, struct recd_response *rs)
{
    struct app *app = cls;
    struct worker *w = ts;
    if (recd_ops_endpoints_handle(&app->ops, w->ctx.store, w->ctx.blob, rq, rs))
        return;
    rq->store = w->ctx.store;
    rq->blob = w->ctx.blob;
    rq->seal_key = w->ctx.seal_key;
    rq->base_url = app->base_url;
    rq->cache = w->cache;
    rq->limiter = app->limiter;
    rq->live = app->voice ? live_recording : NULL;
    rq->live_arg = app->voice;
    rq->audit = w->audit != NULL;
    /* The console's page is not part of the API: its paths are sent to it before routing. */
    const char *qm = memchr(rq->target.p, '?', rq->target.n);
    if (recd_console_owns(rq->target.p, qm ? (size_t)(qm - rq->target.p) : rq->target.n)) {
        rs->route = "/console/"; /* the page and its assets, one label for the metrics */
        recd_console_handle(rq, rs);
        return;
    }
    recd_api_handle(rq, rs);
    if (rs->audit.event != RECD_AUDIT_NONE && w->audit)
        audit_request(w, rq, rs);
}

/* The --metrics-listen listener: the operations endpoints, nothing else. */
static void handle_ops(void *cls, void *ts, struct recd_request *rq, struct recd_response *rs)
{
    struct app *app = cls;
    struct worker *w = ts;
    if (recd_ops_endpoints_handle(&app->ops_listen, w->ctx.store, w->ctx.blob, rq, rs))
        return;
    rs->status = 404;
    rs->content_type = "application/json";
    recd_buf_adds(&rs->body,
                  "{\"error\":\"not found: this listener serves /metrics, /livez and /readyz\"}\n");
}

/* Every store and media handle the server opens, on any thread, is metered (ops/meter.h). */
static void meter_ctx(struct recd_ctx *ctx, void *arg)
{
    struct app *app = arg;
    recd_meter_store(ctx->store, app->store_backend);
    recd_meter_media(ctx->blob, app->media_backend);
}

/* --metrics, --metrics-listen and --metrics-allow into the app. */
static int ops_opts_of(const struct recd_serve_opts *o, struct app *app)
{
    const char *allow = o->metrics_allow ? o->metrics_allow : "127.0.0.0/8,::1";
    if (recd_cidr_list_parse(allow, &app->ops.allow) < 0) {
        recd_log_error("--metrics-allow %s: want CIDR,… (up to %d), \"any\" or \"none\"", allow,
                       RECD_CIDR_LIST_MAX);
        return RECD_E_BAD_INPUT;
    }
    app->ops.metrics = !o->metrics_off && !o->metrics_listen;
    app->ops.stopping = &app->stopping;
    app->ops.sqlite = !recd_store_is_pg(o->store ? o->store : "");
    app->ops.data_dir = o->data_dir;
    app->ops_listen = app->ops;
    app->ops_listen.metrics = !o->metrics_off;
    app->ops_listen.allow.any = 1; /* whoever reaches that address may read */
    app->store_backend = app->ops.sqlite ? RECD_METER_SQLITE : RECD_METER_POSTGRES;
    app->media_backend = recd_ctx_media_is_s3() ? RECD_METER_S3 : RECD_METER_FS;
    return 0;
}

/* Tells systemd the worker loops still come round (ops/notify.h): nothing is sent when one is stuck,
 * so that the watchdog restarts the service. A loop ticks once a second, hence the floor. */
static void watchdog_ping(struct recd_http *http, struct recd_http *ops_http, int64_t interval_us)
{
    int64_t age = interval_us > 2 * RECD_US_PER_SEC ? interval_us : 2 * RECD_US_PER_SEC;
    if (recd_http_alive(http, age) && (!ops_http || recd_http_alive(ops_http, age)))
        recd_notify("WATCHDOG=1");
}

/* A finished transcription's transcribeCallback: signed and retried by the webhook client, on its
 * own thread, so a slow callback never holds up a worker. */
static void stt_notify(void *arg, const struct recd_stt_outcome *o)
{
    struct recd_webhook *wh = arg;
    struct recd_form f;
    recd_form_init(&f);
    int rc = 0;
    for (size_t i = 0; i < o->nparams && rc == 0; i++)
        rc = recd_form_add(&f, o->params[i].name, o->params[i].value);
    struct recd_webhook_req req = {.url = o->job->callback_url,
                                   .method_get = strcmp(o->job->callback_method, "GET") == 0,
                                   .params = &f,
                                   .token = o->token,
                                   .token_len = o->token_len};
    if (rc == 0)
        rc = recd_webhook_notify(wh, &req);
    if (rc < 0)
        recd_log_error("transcription %s: cannot send its callback (%s)", o->job->sid, recd_err_name(rc));
    recd_form_free(&f);
}

/* How often the server looks for recordings past their account's retention, and how long it
 * rests between two full batches of a backlog: requests meanwhile wait for at most one delete. */
#define RETENTION_EVERY (600 * RECD_US_PER_SEC)
#define RETENTION_REST  (100 * 1000)

/* A retention delete's audit record: the server acted, under no credential. */
static void audit_retention(void *arg, const struct recd_recording *r)
{
    struct recd_audit_entry e = {.time_us = recd_now_us(),
                                 .event = RECD_AUDIT_DELETE,
                                 .cred = RECD_AUDIT_SERVER,
                                 .method = "DELETE",
                                 .path = "retention",
                                 .status = 204};
    memcpy(e.account_sid, r->account_sid, sizeof e.account_sid);
    memcpy(e.recording_sid, r->sid, sizeof e.recording_sid);
    recd_audit_add(arg, &e);
}

/* One batch of the retention pass (service/retention.h); returns when the next is due. */
static int64_t retention_batch(struct recd_ctx *ctx, struct recd_audit_buf *audit)
{
    int64_t now = recd_now_us(), n = 0;
    int more = 0;
    struct recd_expiry_query q = {.now_us = now};
    int rc =
        recd_expiry_batch(ctx, &q, RECD_RETENTION_BATCH, &n, &more, audit ? audit_retention : NULL, audit);
    if (n) {
        recd_metric_add(RECD_MET_RETENTION_DELETES, 0, (uint64_t)n);
        recd_log_info("retention: deleted %lld recordings past their account's retention", (long long)n);
    }
    return recd_now_us() + (rc == 0 && more ? RETENTION_REST : RETENTION_EVERY);
}

/* The public base URL: --base-url without trailing slashes, or http://LISTEN. */
static int base_url_of(const struct recd_serve_opts *o, char *out, size_t cap)
{
    const char *base = o->base_url;
    if (!base) {
        snprintf(out, cap, "http://%s", o->listen);
        return 0;
    }
    size_t n = strlen(base);
    if ((strncmp(base, "http://", 7) != 0 && strncmp(base, "https://", 8) != 0) || n >= cap ||
        strpbrk(base, " \"<>\\^`{|}") != NULL) {
        recd_log_error("--base-url %s: want an http:// or https:// URL", base);
        return RECD_E_BAD_INPUT;
    }
    snprintf(out, cap, "%s", base);
    while (n && out[n - 1] == '/')
        out[--n] = '\0';
    return 0;
}

/* --sip HOST:PORT, --rtp-ports LO-HI, --sip-allow CIDR,… and the limits into the endpoint's options. */
static int sip_opts_of(const struct recd_serve_opts *o, struct recd_sip_opts *so)
{
    memset(so, 0, sizeof *so);
    static char host[64];
    const char *colon = strrchr(o->sip, ':');
    char *end;
    long port = colon ? strtol(colon + 1, &end, 10) : 0;
    size_t hl = colon ? (size_t)(colon - o->sip) : 0;
    if (!colon || colon[1] == '\0' || *end || port < 1 || port > 65535 || hl == 0 || hl >= sizeof host) {
        recd_log_error("--sip %s: want HOST:PORT", o->sip);
        return RECD_E_BAD_INPUT;
    }
    const char *h = o->sip;
    if (h[0] == '[' && hl >= 2 && h[hl - 1] == ']') { /* [V6]:PORT */
        h++;
        hl -= 2;
    }
    memcpy(host, h, hl);
    host[hl] = '\0';
    so->host = host;
    so->port = (uint16_t)port;
    so->max_calls = o->sip_max_calls;
    so->invite_rate = o->sip_invite_rate;
    so->invite_burst = o->sip_invite_burst;
    so->min_se_s = o->sip_min_se;
    if (o->rtp_ports && recd_sip_port_range_parse(o->rtp_ports, &so->rtp_lo, &so->rtp_hi) < 0) {
        recd_log_error("--rtp-ports %s: want LO-HI, 1024 to 65535", o->rtp_ports);
        return RECD_E_BAD_INPUT;
    }
    const char *p = o->sip_allow;
    while (p && *p) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        char item[96];
        if (n == 0 || n >= sizeof item || so->nallow == RECD_SIP_MAX_ALLOW) {
            recd_log_error("--sip-allow %s: want up to %d CIDR, separated by commas", o->sip_allow,
                           RECD_SIP_MAX_ALLOW);
            return RECD_E_BAD_INPUT;
        }
        memcpy(item, p, n);
        item[n] = '\0';
        if (recd_sip_cidr_parse(item, &so->allow[so->nallow]) < 0) {
            recd_log_error("--sip-allow: %s is not an address or CIDR", item);
            return RECD_E_BAD_INPUT;
        }
        so->nallow++;
        p = comma ? comma + 1 : p + n;
    }
    return 0;
}

/* Starts the transcription workers and the webhook client their callbacks go through. */
static int start_transcription(const struct recd_serve_opts *o, const char *base_url,
                               struct recd_webhook **wh, struct recd_stt_workers **stt)
{
    struct recd_webhook_opts wo = {0};
    int rc = recd_webhook_start(&wo, wh);
    if (rc < 0) {
        recd_log_error("cannot start the webhook client");
        return rc;
    }
    struct recd_stt_worker_opts so = {
        .data_dir = o->data_dir,
        .store = o->store,
        .base_url = base_url,
        .engine = {.url = o->stt_url,
                   .model = o->stt_model,
                   .key = o->stt_key,
                   .timeout_ms = o->stt_timeout_ms},
        .workers = o->transcribe_workers,
        .max_ms = o->transcribe_max_ms,
        .lease_ms = o->transcribe_lease_ms,
        .retry_base_ms = o->transcribe_retry_ms,
        .nice = o->transcribe_nice,
        .notify = stt_notify,
        .notify_arg = *wh,
    };
    char why[256] = "";
    if ((rc = recd_stt_workers_start(&so, stt, why, sizeof why)) < 0)
        recd_log_error("transcription: %s", why);
    return rc;
}

/*
 * The start-up and shut-down order, in one place and read top to bottom on purpose: store (and
 * purge), transcription, signal mask, calls (which finish what a crash left), HTTP; then the
 * reverse. Split up, the order that makes a restart safe would be spread over several functions.
 */
int recd_serve(const struct recd_serve_opts *o)
{
    recd_log_set_json(o->log_json);
    struct app app = {.data_dir = o->data_dir, .store = o->store};
    int rc = base_url_of(o, app.base_url, sizeof app.base_url);
    if (rc < 0)
        return rc;
    struct recd_engine_serve_opts vo = {.data_dir = o->data_dir,
                                        .store = o->store,
                                        .base_url = app.base_url,
                                        .webhook_timeout_ms = o->webhook_timeout_ms};
    if (o->sip) {
        rc = sip_opts_of(o, &vo.sip);
        if (rc < 0)
            return rc;
    }
    struct recd_engine_serve *voice = NULL;
    if ((rc = ops_opts_of(o, &app)) < 0)
        return rc;
    recd_metrics_init(!o->metrics_off);
    recd_ctx_set_open_hook(meter_ctx, &app);

    /* Open the store once up front: a bad data folder fails here, not on the first request;
     * it also purges what is past the retention period. */
    struct recd_ctx main_ctx;
    rc = recd_ctx_open_store(o->data_dir, o->store, &main_ctx);
    if (rc < 0) {
        char shown[512];
        recd_store_url_redact(o->store ? o->store : o->data_dir, shown, sizeof shown);
        recd_log_error("cannot open %s %s%s", o->store ? "the store" : "the data folder", shown,
                       rc == RECD_E_UNAVAILABLE ? ": the database does not answer" : "");
        recd_ctx_set_open_hook(NULL, NULL);
        return rc;
    }
    /* Threads started from here on (the audit writer, transcription workers, the webhook client,
     * HTTP) inherit this mask, so only this thread takes SIGINT/SIGTERM, even while it is busy
     * with a retention batch rather than waiting for them. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    int64_t purged = 0;
    recd_purge(&main_ctx, recd_now_us(), &purged);
    app.limiter = recd_limiter_new(o->auth_fail_limit);
    struct recd_webhook *wh = NULL;
    struct recd_stt_workers *stt = NULL;
    /* The audit record before any thread that writes to it (docs/operations.md, "Audit"). */
    struct recd_audit_buf *main_audit = NULL;
    if (!o->audit_off) {
        struct recd_audit_opts ao = {
            .data_dir = o->data_dir, .rotate_bytes = o->audit_rotate_bytes, .keep_days = o->audit_keep_days};
        if ((rc = recd_audit_open(&ao, &app.audit)) < 0)
            goto out;
        main_audit = recd_audit_buf_new(app.audit);
    }

    /* Transcription workers, their engine checked now: a missing model or a bad --stt URL is a
     * startup error, not a surprise at the first job. */
    if ((rc = start_transcription(o, app.base_url, &wh, &stt)) < 0)
        goto out;

    struct recd_http_opts ho = {
        .listen = o->listen,
        .threads = o->threads,
        .thread_open = worker_open,
        .thread_close = worker_close,
        .handle = handle,
        .cls = &app,
    };
    struct recd_http *http, *ops_http = NULL;
    struct recd_http_opts oo = ho;
    oo.listen = o->metrics_listen;
    oo.threads = 1;
    oo.handle = handle_ops;
    /* Calls first: their start-up finishes what a crash left (recordings, live calls), so that
     * by the time the API answers, nothing from the last run is still in progress. */
    if (o->sip) {
        rc = recd_engine_serve_start(&vo, &voice);
        if (rc < 0)
            goto out;
        app.voice = voice;
        recd_log_info("answering calls on SIP %s (UDP and TCP)", o->sip);
    }
    rc = recd_http_start(&ho, &http);
    if (rc < 0) {
        recd_engine_serve_stop(voice);
        goto out;
    }
    if (o->metrics_listen && (rc = recd_http_start(&oo, &ops_http)) < 0) {
        recd_engine_serve_stop(voice);
        recd_http_stop(http);
        goto out;
    }
    {
        char shown[512];
        recd_store_url_redact(o->store ? o->store : "its recd.db", shown, sizeof shown);
        recd_log_info("serving %s (metadata in %s), public base URL %s", o->data_dir, shown, app.base_url);
    }

    /* Every listener is open (accepting into its backlog): systemd may send traffic. */
    {
        char status[600];
        snprintf(status, sizeof status, "READY=1\nSTATUS=serving HTTP on %s%s%s", o->listen,
                 o->sip ? ", SIP on " : "", o->sip ? o->sip : "");
        recd_notify(status);
    }
    int64_t watchdog_us = recd_notify_watchdog_us();
    int64_t next_purge = recd_now_us() + 3600 * RECD_US_PER_SEC;
    /* Retention runs now (a pass a restart cut short goes on at once), then every RETENTION_EVERY,
     * and batch after batch while a backlog lasts. */
    int64_t next_retention = recd_now_us();
    for (;;) {
        int64_t now = recd_now_us(), wait = (next_retention < next_purge ? next_retention : next_purge) - now;
        if (watchdog_us && wait > watchdog_us / 2)
            wait = watchdog_us / 2;
        if (wait < 1000)
            wait = 1000;
        struct timespec ts = {(time_t)(wait / RECD_US_PER_SEC), (long)(wait % RECD_US_PER_SEC) * 1000};
        int sig = sigtimedwait(&sigs, NULL, &ts);
        if (sig == SIGINT || sig == SIGTERM)
            break;
        if (watchdog_us)
            watchdog_ping(http, ops_http, watchdog_us);
        if (recd_now_us() >= next_retention)
            next_retention = retention_batch(&main_ctx, main_audit);
        if (recd_now_us() >= next_purge) {
            next_purge += 3600 * RECD_US_PER_SEC;
            if (recd_purge(&main_ctx, recd_now_us(), &purged) == 0 && purged)
                recd_log_info("purged %lld recordings deleted more than 40 days ago", (long long)purged);
        }
    }
    atomic_store(&app.stopping, 1);
    recd_notify("STOPPING=1\nSTATUS=stopping: finishing calls and requests in flight");
    recd_log_info("stopping");
    recd_engine_serve_stop(voice);
    recd_http_stop(ops_http);
    recd_http_stop(http);
out:
    /* Workers first: their last callbacks are queued before the webhook client stops. */
    recd_stt_workers_stop(stt);
    recd_webhook_stop(wh);
    recd_limiter_free(app.limiter);
    recd_audit_buf_free(main_audit);
    recd_audit_close(app.audit);
    recd_ctx_close(&main_ctx);
    recd_ctx_set_open_hook(NULL, NULL);
    return rc;
}
