#include "voice/webhook.h"

#include "core/error.h"
#include "core/log.h"
#include "core/sid.h"
#include "ops/metrics.h"
#include "voice/twiml.h"

#include <curl/curl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/x509_vfy.h>

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_UA "TwilioProxy/1.1 (recd)"

/* ---------------------------------------------------------------------------------- forms */

void recd_form_init(struct recd_form *f)
{
    f->v = NULL;
    f->n = f->cap = 0;
}

void recd_form_free(struct recd_form *f)
{
    for (size_t i = 0; i < f->n; i++) {
        free(f->v[i].name);
        free(f->v[i].value);
    }
    free(f->v);
    recd_form_init(f);
}

static char *xstrdup(const char *s)
{
    char *d = strdup(s);
    if (!d)
        abort(); /* small and bounded by the caller: out of memory means the machine is */
    return d;
}

int recd_form_add(struct recd_form *f, const char *name, const char *value)
{
    if (!name || !*name || !value)
        return RECD_E_BAD_INPUT;
    if (f->n == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 16;
        struct recd_form_param *v = realloc(f->v, cap * sizeof *v);
        if (!v)
            abort();
        f->v = v;
        f->cap = cap;
    }
    f->v[f->n].name = xstrdup(name);
    f->v[f->n].value = xstrdup(value);
    f->n++;
    return 0;
}

const char *recd_form_get(const struct recd_form *f, const char *name)
{
    for (size_t i = 0; f && i < f->n; i++)
        if (!strcmp(f->v[i].name, name))
            return f->v[i].value;
    return NULL;
}

int recd_form_encode(const struct recd_form *f, struct recd_buf *out)
{
    for (size_t i = 0; f && i < f->n; i++) {
        if (i)
            recd_buf_addc(out, '&');
        recd_buf_url_enc(out, recd_str_c(f->v[i].name));
        recd_buf_addc(out, '=');
        recd_buf_url_enc(out, recd_str_c(f->v[i].value));
    }
    if (!out->p)
        recd_buf_add(out, "", 0); /* an empty form is still a string */
    return 0;
}

static void form_copy(struct recd_form *dst, const struct recd_form *src)
{
    recd_form_init(dst);
    for (size_t i = 0; src && i < src->n; i++)
        recd_form_add(dst, src->v[i].name, src->v[i].value);
}

/* ---------------------------------------------------------------------------------- signature */

static int param_cmp(const void *a, const void *b)
{
    const struct recd_form_param *x = *(const struct recd_form_param *const *)a;
    const struct recd_form_param *y = *(const struct recd_form_param *const *)b;
    int c = strcmp(x->name, y->name);
    return c ? c : strcmp(x->value, y->value);
}

int recd_webhook_sign(const char *token, size_t token_len, const char *url,
                      const struct recd_form *post_params, char out[RECD_WEBHOOK_SIG_LEN + 1])
{
    if (!token || !url || token_len > INT32_MAX)
        return RECD_E_BAD_INPUT;
    struct recd_buf s;
    recd_buf_init(&s, 256);
    recd_buf_adds(&s, url);
    size_t n = post_params ? post_params->n : 0;
    if (n) {
        /* Sorted through pointers: the caller's form keeps its order, which is the body's. */
        const struct recd_form_param **sorted = malloc(n * sizeof *sorted);
        if (!sorted)
            abort();
        for (size_t i = 0; i < n; i++)
            sorted[i] = &post_params->v[i];
        qsort(sorted, n, sizeof *sorted, param_cmp);
        for (size_t i = 0; i < n; i++) {
            recd_buf_adds(&s, sorted[i]->name);
            recd_buf_adds(&s, sorted[i]->value);
        }
        free(sorted);
    }
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned mac_len = 0;
    int ok =
        HMAC(EVP_sha1(), token, (int)token_len, (const unsigned char *)s.p, s.len, mac, &mac_len) != NULL;
    recd_buf_free(&s);
    if (!ok || mac_len != 20)
        return RECD_E_INTERNAL;
    EVP_EncodeBlock((unsigned char *)out, mac, 20); /* 28 characters and a NUL */
    return 0;
}

/* ---------------------------------------------------------------------------------- URLs */

int recd_webhook_resolve_url(const char *base, const char *ref, char *out, size_t cap)
{
    if (!base || !ref || !out || !cap)
        return RECD_E_BAD_INPUT;
    int n = recd_twiml_resolve_url(base, ref, out, cap);
    if (n < 0)
        return RECD_E_BAD_INPUT;
    /* RFC 3986 allows what no request can go to ("http://u@/p"): refuse it here, not at fetch time. */
    struct recd_buf b;
    recd_buf_init(&b, 0);
    int r = recd_webhook_request_url(out, 0, NULL, &b, NULL);
    recd_buf_free(&b);
    if (r < 0)
        out[0] = '\0';
    return r;
}

/* Checks `url` with libcurl's own parser, which is what will request it: an absolute http or https
 * URL with a host, no spaces or control bytes. */
static int url_usable(const char *url)
{
    for (const unsigned char *p = (const unsigned char *)url; *p; p++)
        if (*p <= ' ' || *p == 0x7f)
            return 0;
    CURLU *u = curl_url();
    if (!u)
        return 0;
    char *scheme = NULL, *host = NULL;
    int ok = curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
             curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
             curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK && host && *host &&
             (!strcasecmp(scheme, "http") || !strcasecmp(scheme, "https"));
    curl_free(scheme);
    curl_free(host);
    curl_url_cleanup(u);
    return ok;
}

int recd_webhook_request_url(const char *url, int get, const struct recd_form *params, struct recd_buf *out,
                             struct recd_buf *out_signed)
{
    if (!url || strlen(url) > RECD_WEBHOOK_MAX_URL || !url_usable(url))
        return RECD_E_BAD_INPUT;
    /* libcurl is lenient ("http:/h" is "http://h" to it); recd takes only the strict form, where
     * the authority is where RFC 3986 puts it. */
    const char *auth;
    if (!strncasecmp(url, "http://", 7))
        auth = url + 7;
    else if (!strncasecmp(url, "https://", 8))
        auth = url + 8;
    else
        return RECD_E_BAD_INPUT;
    size_t end = strcspn(url, "#"); /* the fragment never reaches the server */
    size_t auth_len = strcspn(auth, "/?#");
    size_t rest = (size_t)(auth - url) + auth_len; /* where the path (or query) starts */
    /* The userinfo ends at the authority's last '@'; a '@' further on is in the path. */
    const char *at = NULL;
    for (const char *p = auth; p < auth + auth_len; p++)
        if (*p == '@')
            at = p;
    /* libcurl reads "http:///p" as host "p"; recd wants the host where RFC 3986 puts it. */
    if (auth_len == 0 || (at && at + 1 == auth + auth_len))
        return RECD_E_BAD_INPUT;

    for (int pass = 0; pass < 2; pass++) {
        struct recd_buf *b = pass ? out_signed : out;
        if (!b)
            continue;
        recd_buf_reset(b);
        if (pass && at) {
            recd_buf_add(b, url, (size_t)(auth - url));
            recd_buf_add(b, at + 1, (size_t)(auth + auth_len - (at + 1)));
        } else {
            recd_buf_add(b, url, rest);
        }
        if (rest >= end || url[rest] != '/')
            recd_buf_addc(b, '/');
        if (rest < end)
            recd_buf_add(b, url + rest, end - rest);
        if (get && params && params->n) {
            recd_buf_addc(b, memchr(url + rest, '?', end - rest) ? '&' : '?');
            if (b->p[b->len - 2] == '?' && b->p[b->len - 1] == '&')
                b->len--, b->p[b->len] = '\0'; /* "http://h/p?" already ends its query */
            recd_form_encode(params, b);
        }
        if (b->len > RECD_WEBHOOK_MAX_URL)
            return RECD_E_BAD_INPUT;
    }
    return 0;
}

/* The URL for a log line: without its userinfo (a password) or its query (the call's details). */
static void url_for_log(const char *url, char *out, size_t cap)
{
    struct recd_buf b;
    recd_buf_init(&b, 256);
    const char *auth = strstr(url, "://");
    if (auth) {
        auth += 3;
        size_t auth_len = strcspn(auth, "/?#");
        const char *host = auth;
        for (const char *p = auth; p < auth + auth_len; p++)
            if (*p == '@')
                host = p + 1;
        recd_buf_add(&b, url, (size_t)(auth - url));
        recd_buf_add(&b, host, strcspn(host, "?#"));
    } else {
        recd_buf_add(&b, url, strcspn(url, "?#"));
    }
    snprintf(out, cap, "%s", b.p ? b.p : "");
    recd_buf_free(&b);
}

/* ---------------------------------------------------------------------------------- the client */

enum job_kind { JOB_FETCH, JOB_NOTIFY, JOB_MEDIA };

/*
 * One request as the caller asked for it, and the state of its current attempt. A job moves
 * through the lists of the client: `incoming` (filled by callers under the lock), then, on the
 * webhook thread only, `ready` (waiting for a slot), `active` (an easy handle in the multi
 * handle) and, for a notify waiting to retry, `delayed`.
 */
struct job {
    struct job *next, *prev;
    enum job_kind kind;
    char *url, *fallback_url;
    int get, fallback_get;
    struct recd_form params;
    char *token;
    size_t token_len;
    recd_webhook_cb cb;
    void *arg;
    size_t max_body;
    char idem[33]; /* I-Twilio-Idempotency-Token: one per job, the same on every try */

    int stage;          /* 0: url, 1: fallback_url */
    int cur_get;        /* the attempt on the wire is a GET */
    unsigned tries;     /* failed tries of this stage (notify) */
    unsigned redirects; /* hops followed in this stage */
    int64_t due_ms;     /* delayed: when the retry may start */
    int64_t attempt_us; /* when the attempt on the wire began (redirects included), or 0 */

    /* The attempt on the wire. */
    CURL *easy;
    struct curl_slist *hdrs;
    struct recd_buf req_url;
    struct recd_buf post;
    struct recd_buf body;
    int too_large;
    char *content_type;
    char errbuf[CURL_ERROR_SIZE];
};

struct list {
    struct job *head, *tail;
};

struct recd_webhook {
    struct recd_webhook_opts o;
    char *user_agent, *ca_file;
    CURLM *multi;
    pthread_t thread;

    pthread_mutex_t mu; /* guards incoming, stopping, pending */
    struct list incoming;
    int stopping;
    unsigned pending; /* jobs accepted and not yet freed */

    /* The webhook thread's own. */
    struct list ready, active, delayed;
    unsigned running;
};

static void list_push(struct list *l, struct job *j)
{
    j->next = NULL;
    j->prev = l->tail;
    if (l->tail)
        l->tail->next = j;
    else
        l->head = j;
    l->tail = j;
}

static void list_remove(struct list *l, struct job *j)
{
    if (j->prev)
        j->prev->next = j->next;
    else
        l->head = j->next;
    if (j->next)
        j->next->prev = j->prev;
    else
        l->tail = j->prev;
    j->next = j->prev = NULL;
}

static struct job *list_pop(struct list *l)
{
    struct job *j = l->head;
    if (j)
        list_remove(l, j);
    return j;
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void attempt_reset(struct job *j)
{
    if (j->easy)
        curl_easy_cleanup(j->easy);
    j->easy = NULL;
    curl_slist_free_all(j->hdrs);
    j->hdrs = NULL;
    recd_buf_reset(&j->post);
    recd_buf_reset(&j->body);
    j->too_large = 0;
    free(j->content_type);
    j->content_type = NULL;
    j->errbuf[0] = '\0';
}

static void job_destroy(struct job *j)
{
    attempt_reset(j);
    recd_buf_free(&j->req_url);
    recd_buf_free(&j->post);
    recd_buf_free(&j->body);
    free(j->url);
    free(j->fallback_url);
    recd_form_free(&j->params);
    if (j->token) {
        OPENSSL_cleanse(j->token, j->token_len);
        free(j->token);
    }
    free(j);
}

/* Frees a job the client accepted, making room in the queue. */
static void job_free(struct recd_webhook *wh, struct job *j)
{
    job_destroy(j);
    pthread_mutex_lock(&wh->mu);
    wh->pending--;
    pthread_mutex_unlock(&wh->mu);
}

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
    struct job *j = arg;
    size_t len = size * n;
    if (j->body.len + len > j->max_body) {
        j->too_large = 1;
        return 0; /* curl stops with CURLE_WRITE_ERROR */
    }
    recd_buf_add(&j->body, p, len);
    return len;
}

static struct curl_slist *add_header(struct curl_slist *h, const char *line)
{
    struct curl_slist *n = curl_slist_append(h, line);
    if (!n)
        abort();
    return n;
}

/*
 * Puts one HTTP request of job `j` on the wire: to `url` with `get`, the job's parameters in the
 * body (POST) or, when `with_params`, in the query (GET). Returns 0, or RECD_E_BAD_INPUT when
 * `url` is not a usable URL (nothing is started then).
 */
static int attempt_start(struct recd_webhook *wh, struct job *j, const char *url, int get, int with_params)
{
    attempt_reset(j);
    struct recd_buf signed_url;
    recd_buf_init(&signed_url, 256);
    const struct recd_form *params = (with_params || !get) ? &j->params : NULL;
    int r = recd_webhook_request_url(url, get, params, &j->req_url, &signed_url);
    if (r < 0) {
        /* Keep the URL for the result, as given. */
        recd_buf_reset(&j->req_url);
        recd_buf_add(&j->req_url, url, strnlen(url, RECD_WEBHOOK_MAX_URL));
        recd_buf_free(&signed_url);
        return r;
    }
    j->cur_get = get;
    if (!get)
        recd_form_encode(&j->params, &j->post);

    struct curl_slist *h = NULL;
    char line[128];
    if (j->token) {
        char sig[RECD_WEBHOOK_SIG_LEN + 1];
        if (recd_webhook_sign(j->token, j->token_len, signed_url.p, get ? NULL : &j->params, sig) == 0) {
            snprintf(line, sizeof line, "X-Twilio-Signature: %s", sig);
            h = add_header(h, line);
        }
    }
    recd_buf_free(&signed_url);
    if (j->kind != JOB_MEDIA) {
        snprintf(line, sizeof line, "I-Twilio-Idempotency-Token: %s", j->idem);
        h = add_header(h, line);
    }
    if (!get)
        h = add_header(h, "Content-Type: application/x-www-form-urlencoded");
    h = add_header(h, "Expect:"); /* no 100-continue round trip for a large form */
    j->hdrs = h;

    CURL *e = curl_easy_init();
    if (!e)
        return RECD_E_INTERNAL;
    j->easy = e;
    curl_easy_setopt(e, CURLOPT_PRIVATE, j);
    curl_easy_setopt(e, CURLOPT_URL, j->req_url.p);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L); /* followed here: each hop is signed for its URL */
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)wh->o.timeout_ms);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)wh->o.connect_timeout_ms);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
    if (wh->ca_file)
        curl_easy_setopt(e, CURLOPT_CAINFO, wh->ca_file);
    curl_easy_setopt(e, CURLOPT_USERAGENT, wh->user_agent);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, j->hdrs);
    curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)j->max_body);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, j);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, j->errbuf);
    if (get) {
        curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    } else {
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, j->post.p);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)j->post.len);
    }
    if (curl_multi_add_handle(wh->multi, e) != CURLM_OK)
        return RECD_E_INTERNAL;
    if (!j->attempt_us)
        j->attempt_us = mono_us();
    list_push(&wh->active, j);
    wh->running++;
    return 0;
}

/* What one attempt came to. */
struct outcome {
    int err;
    long status;
    int code;
    int retryable; /* a notify may try again */
    char detail[CURL_ERROR_SIZE + 32];
};

static void outcome_set(struct outcome *o, int err, long status, int code, int retryable, const char *detail)
{
    o->err = err;
    o->status = status;
    o->code = code;
    o->retryable = retryable;
    snprintf(o->detail, sizeof o->detail, "%s", detail);
}

/* The metrics' kind label of a job. */
static unsigned kind_label(const struct job *j)
{
    return j->kind == JOB_NOTIFY  ? RECD_HOOK_STATUS_CALLBACK
           : j->kind == JOB_MEDIA ? RECD_HOOK_MEDIA
                                  : RECD_HOOK_TWIML;
}

static void deliver(struct recd_webhook *wh, struct job *j, const struct outcome *o)
{
    recd_metric_add(RECD_MET_WEBHOOKS,
                    kind_label(j) * 2 + (o->err == 0 ? RECD_HOOK_DELIVERED : RECD_HOOK_FAILED), 1);
    if (j->kind == JOB_NOTIFY) {
        char u[512];
        url_for_log(j->req_url.p ? j->req_url.p : j->url, u, sizeof u);
        if (o->err == 0)
            recd_log_info("webhook: status callback %s answered %ld", u, o->status);
        else
            recd_log_warn("webhook: status callback %s failed (%d): %s", u, o->code, o->detail);
    } else {
        int code = o->code;
        if (j->kind == JOB_MEDIA && code == RECD_WEBHOOK_E_TOO_LARGE)
            code = RECD_WEBHOOK_E_HTTP; /* 11750 is about TwiML documents */
        struct recd_webhook_result res = {
            .err = o->err,
            .status = o->status,
            .twilio_code = code,
            .content_type = j->content_type,
            .body = j->body.len || o->status ? (j->body.p ? j->body.p : "") : NULL,
            .body_len = j->body.len,
            .url = j->req_url.p ? j->req_url.p : j->url,
            .detail = o->detail,
            .used_fallback = j->stage == 1,
        };
        j->cb(j->arg, &res);
    }
    job_free(wh, j);
}

/*
 * Moves job `j`, whose attempt has just ended with `o` (its easy handle out of the multi handle),
 * on: delivered, delayed for a retry, or started again at its fallback URL. A fallback that cannot
 * even start (a bad URL) ends the job with that failure.
 */
static void attempt_done(struct recd_webhook *wh, struct job *j, struct outcome *o)
{
    if (j->attempt_us) {
        recd_metric_observe(RECD_MET_WEBHOOK_DURATION, kind_label(j), mono_us() - j->attempt_us);
        j->attempt_us = 0;
    }
    for (;;) {
        if (o->err == 0) {
            deliver(wh, j, o);
            return;
        }
        if (j->kind == JOB_NOTIFY && o->retryable && j->tries < wh->o.notify_retries) {
            uint64_t delay = (uint64_t)wh->o.notify_backoff_ms << (j->tries < 16 ? j->tries : 16);
            j->tries++;
            recd_metric_add(RECD_MET_WEBHOOK_RETRIES, kind_label(j), 1);
            j->due_ms = mono_ms() + (int64_t)delay;
            char u[512];
            url_for_log(j->req_url.p ? j->req_url.p : j->url, u, sizeof u);
            recd_log_info("webhook: status callback %s failed (%s), retry %u in %llu ms", u, o->detail,
                          j->tries, (unsigned long long)delay);
            attempt_reset(j);
            /* Kept in due order: retries are few, so a linear insert is fine. */
            struct job *at = wh->delayed.head;
            while (at && at->due_ms <= j->due_ms)
                at = at->next;
            if (!at) {
                list_push(&wh->delayed, j);
            } else {
                j->next = at;
                j->prev = at->prev;
                if (at->prev)
                    at->prev->next = j;
                else
                    wh->delayed.head = j;
                at->prev = j;
            }
            return;
        }
        if (j->stage == 0 && j->fallback_url) {
            j->stage = 1;
            j->tries = 0;
            j->redirects = 0;
            int r = attempt_start(wh, j, j->fallback_url, j->fallback_get, 1);
            if (r == 0)
                return;
            outcome_set(o, r, 0, r == RECD_E_BAD_INPUT ? RECD_WEBHOOK_E_URL : RECD_WEBHOOK_E_HTTP, 0,
                        r == RECD_E_BAD_INPUT ? "not an http or https URL" : "could not start the request");
            continue;
        }
        deliver(wh, j, o);
        return;
    }
}

/* Starts job `j` at its current stage (a new job, or a notify whose retry is due). */
static void job_begin(struct recd_webhook *wh, struct job *j)
{
    j->redirects = 0;
    const char *url = j->stage ? j->fallback_url : j->url;
    int get = j->stage ? j->fallback_get : j->get;
    int r = attempt_start(wh, j, url, get, 1);
    if (r == 0)
        return;
    struct outcome o;
    outcome_set(&o, r, 0, r == RECD_E_BAD_INPUT ? RECD_WEBHOOK_E_URL : RECD_WEBHOOK_E_HTTP, 0,
                r == RECD_E_BAD_INPUT ? "not an http or https URL" : "could not start the request");
    attempt_done(wh, j, &o);
}

/* Which certificate check failed. libcurl checks the host name itself once OpenSSL has accepted the
 * chain, and then reports X509_V_OK or (libcurl 7.88) X509_V_ERR_UNSPECIFIED: both are a name
 * mismatch; any other value is OpenSSL's verdict on the chain. */
static int tls_code(CURL *e)
{
    long v = -1;
    if (curl_easy_getinfo(e, CURLINFO_SSL_VERIFYRESULT, &v) != CURLE_OK)
        return RECD_WEBHOOK_E_CERT_UNTRUSTED;
    if (v == X509_V_ERR_CERT_HAS_EXPIRED)
        return RECD_WEBHOOK_E_CERT_EXPIRED;
    if (v == X509_V_ERR_HOSTNAME_MISMATCH || v == X509_V_OK || v == X509_V_ERR_UNSPECIFIED)
        return RECD_WEBHOOK_E_CERT_NAME;
    return RECD_WEBHOOK_E_CERT_UNTRUSTED;
}

/* Twilio's code for a transport failure. */
static int transport_code(CURLcode rc, CURL *e)
{
    switch (rc) {
    case CURLE_COULDNT_RESOLVE_HOST: return RECD_WEBHOOK_E_DNS;
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT: return RECD_WEBHOOK_E_CONNECT;
    case CURLE_PEER_FAILED_VERIFICATION: return tls_code(e);
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE: return RECD_WEBHOOK_E_TLS;
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_HTTP2:
    case CURLE_BAD_CONTENT_ENCODING: return RECD_WEBHOOK_E_PROTOCOL;
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL: return RECD_WEBHOOK_E_URL;
    default: return RECD_WEBHOOK_E_HTTP;
    }
}

/*
 * An easy handle finished: classify it, follow a redirect, or hand the outcome on. Long because
 * it is the one place where curl's result, the status and the redirect rules meet.
 */
static void on_done(struct recd_webhook *wh, CURL *e, CURLcode rc)
{
    struct job *j = NULL;
    curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&j);
    curl_multi_remove_handle(wh->multi, e);
    list_remove(&wh->active, j);
    wh->running--;

    long status = 0;
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    char *ct = NULL;
    curl_easy_getinfo(e, CURLINFO_CONTENT_TYPE, &ct);
    free(j->content_type);
    j->content_type = ct ? xstrdup(ct) : NULL;

    struct outcome o;
    if (j->too_large || rc == CURLE_FILESIZE_EXCEEDED) {
        outcome_set(&o, RECD_E_TOO_LARGE, status, RECD_WEBHOOK_E_TOO_LARGE, 0, "response body too large");
    } else if (rc != CURLE_OK) {
        int code = transport_code(rc, e);
        int retry = code != RECD_WEBHOOK_E_URL && code != RECD_WEBHOOK_E_CERT_NAME &&
                    code != RECD_WEBHOOK_E_CERT_EXPIRED && code != RECD_WEBHOOK_E_CERT_UNTRUSTED;
        outcome_set(&o, code == RECD_WEBHOOK_E_URL ? RECD_E_BAD_INPUT : RECD_E_UNAVAILABLE, status, code,
                    retry, j->errbuf[0] ? j->errbuf : curl_easy_strerror(rc));
    } else if (status >= 300 && status < 400) {
        /* Twilio follows 301, 302, 303 and 307 and nothing else (its error 11216). */
        char *loc = NULL;
        curl_easy_getinfo(e, CURLINFO_REDIRECT_URL, &loc);
        int followable = status == 301 || status == 302 || status == 303 || status == 307;
        if (!followable || !loc || !url_usable(loc)) {
            char d[64];
            snprintf(d, sizeof d, "HTTP %ld without a usable redirect", status);
            outcome_set(&o, RECD_E_UNAVAILABLE, status, RECD_WEBHOOK_E_BAD_REDIRECT, 0, d);
        } else if (j->redirects >= RECD_WEBHOOK_MAX_REDIRECTS) {
            outcome_set(&o, RECD_E_UNAVAILABLE, status, RECD_WEBHOOK_E_REDIRECTS, 0, "too many redirects");
        } else {
            j->redirects++;
            /* A GET goes to the Location as given (the server built its query); a POST stays a POST
             * with its form, except after 303, which says "GET this". */
            int get = j->cur_get || status == 303;
            char *next = xstrdup(loc);
            curl_easy_cleanup(j->easy);
            j->easy = NULL;
            int r = attempt_start(wh, j, next, get, !get);
            free(next);
            if (r == 0)
                return;
            outcome_set(&o, RECD_E_UNAVAILABLE, status, RECD_WEBHOOK_E_BAD_REDIRECT, 0,
                        "redirect not followed");
        }
    } else if (status < 200 || status >= 300) {
        char d[32];
        snprintf(d, sizeof d, "HTTP %ld", status);
        outcome_set(&o, RECD_E_UNAVAILABLE, status, RECD_WEBHOOK_E_HTTP, status >= 500, d);
    } else {
        char d[32];
        snprintf(d, sizeof d, "HTTP %ld", status);
        outcome_set(&o, 0, status, 0, 0, d);
    }
    curl_easy_cleanup(j->easy);
    j->easy = NULL;
    attempt_done(wh, j, &o);
}

static void cancel(struct recd_webhook *wh, struct job *j)
{
    struct outcome o;
    outcome_set(&o, RECD_E_UNAVAILABLE, 0, 0, 0, "the webhook client stopped");
    if (j->kind == JOB_NOTIFY) {
        char u[512];
        url_for_log(j->url, u, sizeof u);
        recd_log_warn("webhook: status callback %s dropped: the webhook client stopped", u);
        recd_metric_add(RECD_MET_WEBHOOKS, kind_label(j) * 2 + RECD_HOOK_FAILED, 1);
        job_free(wh, j);
        return;
    }
    /* The result carries no answer: it names the URL asked for. */
    recd_buf_reset(&j->body);
    free(j->content_type);
    j->content_type = NULL;
    if (!j->req_url.p)
        recd_buf_adds(&j->req_url, j->stage ? j->fallback_url : j->url);
    j->stage = 0;
    deliver(wh, j, &o);
}

static void *run(void *arg)
{
    struct recd_webhook *wh = arg;
    (void)pthread_setname_np(pthread_self(), "recd-webhook"); /* for top -H, perf and bench/calls.py */
    for (;;) {
        pthread_mutex_lock(&wh->mu);
        int stopping = wh->stopping;
        if (wh->incoming.head) {
            if (wh->ready.tail) {
                wh->ready.tail->next = wh->incoming.head;
                wh->incoming.head->prev = wh->ready.tail;
            } else {
                wh->ready.head = wh->incoming.head;
            }
            wh->ready.tail = wh->incoming.tail;
            wh->incoming.head = wh->incoming.tail = NULL;
        }
        pthread_mutex_unlock(&wh->mu);
        if (stopping)
            break;

        int64_t now = mono_ms();
        while (wh->delayed.head && wh->delayed.head->due_ms <= now)
            list_push(&wh->ready, list_pop(&wh->delayed));
        struct job *j;
        while (wh->running < wh->o.max_inflight && (j = list_pop(&wh->ready)))
            job_begin(wh, j);

        int still = 0;
        curl_multi_perform(wh->multi, &still);
        CURLMsg *m;
        int left;
        while ((m = curl_multi_info_read(wh->multi, &left)))
            if (m->msg == CURLMSG_DONE)
                on_done(wh, m->easy_handle, m->data.result);

        long wait = -1;
        curl_multi_timeout(wh->multi, &wait);
        if (wait < 0 || wait > 1000)
            wait = 1000;
        if (wh->delayed.head) {
            int64_t d = wh->delayed.head->due_ms - mono_ms();
            if (d < wait)
                wait = d < 0 ? 0 : (long)d;
        }
        if (wh->ready.head && wh->running < wh->o.max_inflight)
            wait = 0;
        curl_multi_poll(wh->multi, NULL, 0, (int)wait, NULL);
    }

    /* Stopping: every job still here ends now, in flight first. */
    struct job *j;
    while ((j = wh->active.head)) {
        list_remove(&wh->active, j);
        curl_multi_remove_handle(wh->multi, j->easy);
        wh->running--;
        cancel(wh, j);
    }
    for (;;) {
        pthread_mutex_lock(&wh->mu);
        j = list_pop(&wh->incoming);
        pthread_mutex_unlock(&wh->mu);
        if (!j && !(j = list_pop(&wh->ready)) && !(j = list_pop(&wh->delayed)))
            break;
        cancel(wh, j);
    }
    return NULL;
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void curl_init(void)
{
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

int recd_webhook_start(const struct recd_webhook_opts *o, struct recd_webhook **out)
{
    *out = NULL;
    pthread_once(&curl_once, curl_init);
    if (curl_init_rc != CURLE_OK) {
        recd_log_error("webhook: libcurl did not initialise: %s", curl_easy_strerror(curl_init_rc));
        return RECD_E_INTERNAL;
    }
    if (o && o->ca_file && access(o->ca_file, R_OK) != 0) {
        recd_log_error("webhook: CA file %s: %s", o->ca_file, strerror(errno));
        return RECD_E_BAD_INPUT;
    }
    struct recd_webhook *wh = calloc(1, sizeof *wh);
    if (!wh)
        return RECD_E_INTERNAL;
    if (o)
        wh->o = *o;
    if (!wh->o.timeout_ms)
        wh->o.timeout_ms = 15000;
    if (!wh->o.connect_timeout_ms)
        wh->o.connect_timeout_ms = 5000;
    if (!wh->o.max_body)
        wh->o.max_body = RECD_TWIML_MAX_BYTES;
    if (!wh->o.max_inflight)
        wh->o.max_inflight = 256;
    if (!wh->o.max_queued)
        wh->o.max_queued = 4096;
    if (!wh->o.notify_retries)
        wh->o.notify_retries = 3;
    if (!wh->o.notify_backoff_ms)
        wh->o.notify_backoff_ms = 1000;
    wh->user_agent = xstrdup(wh->o.user_agent ? wh->o.user_agent : DEFAULT_UA);
    wh->ca_file = wh->o.ca_file ? xstrdup(wh->o.ca_file) : NULL;
    wh->o.user_agent = wh->o.ca_file = NULL; /* the copies above are the ones in use */
    pthread_mutex_init(&wh->mu, NULL);
    wh->multi = curl_multi_init();
    if (!wh->multi)
        goto fail;
    /* Idle connections kept for reuse: a call makes several requests to the same application. */
    curl_multi_setopt(wh->multi, CURLMOPT_MAXCONNECTS, (long)wh->o.max_inflight);
    int err = pthread_create(&wh->thread, NULL, run, wh);
    if (err) {
        recd_log_error("webhook: cannot start the thread: %s", strerror(err));
        goto fail;
    }
    *out = wh;
    return 0;

fail:
    if (wh->multi)
        curl_multi_cleanup(wh->multi);
    pthread_mutex_destroy(&wh->mu);
    free(wh->user_agent);
    free(wh->ca_file);
    free(wh);
    return RECD_E_INTERNAL;
}

void recd_webhook_stop(struct recd_webhook *wh)
{
    if (!wh)
        return;
    pthread_mutex_lock(&wh->mu);
    wh->stopping = 1;
    pthread_mutex_unlock(&wh->mu);
    curl_multi_wakeup(wh->multi);
    pthread_join(wh->thread, NULL);
    curl_multi_cleanup(wh->multi);
    pthread_mutex_destroy(&wh->mu);
    free(wh->user_agent);
    free(wh->ca_file);
    free(wh);
}

static int enqueue(struct recd_webhook *wh, struct job *j)
{
    pthread_mutex_lock(&wh->mu);
    if (wh->stopping || wh->pending >= wh->o.max_queued) {
        int stopping = wh->stopping;
        pthread_mutex_unlock(&wh->mu);
        if (!stopping)
            recd_log_warn("webhook: queue full (%u requests), request refused", wh->o.max_queued);
        job_destroy(j);
        return RECD_E_UNAVAILABLE;
    }
    wh->pending++;
    list_push(&wh->incoming, j);
    pthread_mutex_unlock(&wh->mu);
    curl_multi_wakeup(wh->multi);
    return 0;
}

static struct job *job_new(enum job_kind kind, const char *url, int get, size_t max_body)
{
    struct job *j = calloc(1, sizeof *j);
    if (!j)
        abort();
    j->kind = kind;
    j->url = xstrdup(url);
    j->get = get;
    j->max_body = max_body;
    recd_form_init(&j->params);
    recd_buf_init(&j->req_url, 0);
    recd_buf_init(&j->post, 0);
    recd_buf_init(&j->body, 0);
    unsigned char rnd[16];
    if (recd_random(rnd, sizeof rnd) == 0)
        recd_hex(j->idem, rnd, sizeof rnd);
    else
        snprintf(j->idem, sizeof j->idem, "%p", (void *)j); /* still unique among live jobs */
    return j;
}

static struct job *job_from_req(struct recd_webhook *wh, enum job_kind kind,
                                const struct recd_webhook_req *req)
{
    struct job *j = job_new(kind, req->url, req->method_get, wh->o.max_body);
    form_copy(&j->params, req->params);
    if (req->token) {
        j->token = malloc(req->token_len + 1);
        if (!j->token)
            abort();
        memcpy(j->token, req->token, req->token_len);
        j->token[req->token_len] = '\0';
        j->token_len = req->token_len;
    }
    if (req->fallback_url) {
        j->fallback_url = xstrdup(req->fallback_url);
        j->fallback_get = req->fallback_get;
    }
    return j;
}

int recd_webhook_fetch(struct recd_webhook *wh, const struct recd_webhook_req *req, recd_webhook_cb cb,
                       void *arg)
{
    if (!wh || !req || !req->url || !cb)
        return RECD_E_BAD_INPUT;
    struct job *j = job_from_req(wh, JOB_FETCH, req);
    j->cb = cb;
    j->arg = arg;
    return enqueue(wh, j);
}

int recd_webhook_notify(struct recd_webhook *wh, const struct recd_webhook_req *req)
{
    if (!wh || !req || !req->url)
        return RECD_E_BAD_INPUT;
    return enqueue(wh, job_from_req(wh, JOB_NOTIFY, req));
}

int recd_webhook_get_media(struct recd_webhook *wh, const char *url, size_t max_bytes, recd_webhook_cb cb,
                           void *arg)
{
    if (!wh || !url || !cb)
        return RECD_E_BAD_INPUT;
    struct job *j = job_new(JOB_MEDIA, url, 1, max_bytes ? max_bytes : RECD_WEBHOOK_MEDIA_MAX);
    j->cb = cb;
    j->arg = arg;
    return enqueue(wh, j);
}
