/*
 * A test harness around the webhook client, for tests/e2e/test_webhook.py. It reads commands on
 * stdin, one a line, fields separated by tabs, names and values percent-decoded:
 *
 *   fetch  <id> GET|POST <url> <fallback-url|-> GET|POST <token|-> [name=value]...
 *   notify <id> GET|POST <url> <token|-> [name=value]...
 *   media  <id> <url> <max-bytes>
 *   wait       (prints IDLE once every callback so far has run)
 *   stop       (recd_webhook_stop with whatever is in flight; prints STOPPED)
 *
 * and prints one line per callback on stdout:
 *
 *   RESULT <id> err=<OK|NAME> status=<n> code=<n> fallback=<0|1> len=<n> ct=<type|-> url=<url> body=<hex>
 *
 * or "REFUSED <id> <NAME>" when the client refuses a request. End of input stops the client and
 * exits 0. Options: --timeout-ms, --connect-timeout-ms, --max-body, --max-inflight, --max-queued,
 * --retries, --backoff-ms, --ca-file.
 */
#include "voice/webhook.h"

#include "core/codec.h"
#include "core/error.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int outstanding;

static void on_result(void *arg, const struct recd_webhook_result *r)
{
    char *id = arg;
    flockfile(stdout);
    printf("RESULT %s err=%s status=%ld code=%d fallback=%d len=%zu ct=%s url=%s body=", id,
           r->err ? recd_err_name(r->err) : "OK", r->status, r->twilio_code, r->used_fallback, r->body_len,
           r->content_type ? r->content_type : "-", r->url ? r->url : "-");
    for (size_t i = 0; r->body && i < r->body_len; i++)
        printf("%02x", (unsigned char)r->body[i]);
    printf("\n");
    fflush(stdout);
    funlockfile(stdout);
    free(id);
    pthread_mutex_lock(&mu);
    outstanding--;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
}

/* Percent-decodes `s` in place; 0 or -1. */
static int decode(char *s)
{
    long n = recd_pct_decode(s, strlen(s), s, 0);
    if (n < 0)
        return -1;
    s[n] = '\0';
    return 0;
}

/* Fills `f` from fields "name=value". */
static int params(struct recd_form *f, char **fields, int n)
{
    for (int i = 0; i < n; i++) {
        char *eq = strchr(fields[i], '=');
        if (!eq)
            return -1;
        *eq = '\0';
        if (decode(fields[i]) || decode(eq + 1) || recd_form_add(f, fields[i], eq + 1))
            return -1;
    }
    return 0;
}

static int is_get(const char *m)
{
    return !strcmp(m, "GET");
}

/* Runs one command line; returns 1 when it was "stop". */
static int command(struct recd_webhook *wh, char *line)
{
    char *f[256];
    int n = 0;
    for (char *save = NULL, *t = strtok_r(line, "\t", &save); t && n < 256; t = strtok_r(NULL, "\t", &save))
        f[n++] = t;
    if (n == 0)
        return 0;
    if (!strcmp(f[0], "wait")) {
        pthread_mutex_lock(&mu);
        while (outstanding > 0)
            pthread_cond_wait(&cv, &mu);
        pthread_mutex_unlock(&mu);
        printf("IDLE\n");
        fflush(stdout);
        return 0;
    }
    if (!strcmp(f[0], "stop"))
        return 1;

    struct recd_form form;
    recd_form_init(&form);
    char *id = strdup(f[1]); /* the callback's argument; freed by it, or below when refused */
    int r;
    if (!strcmp(f[0], "fetch") && n >= 7) {
        struct recd_webhook_req req = {.url = f[3], .method_get = is_get(f[2]), .params = &form};
        if (strcmp(f[4], "-"))
            req.fallback_url = f[4], req.fallback_get = is_get(f[5]);
        if (strcmp(f[6], "-"))
            req.token = f[6], req.token_len = strlen(f[6]);
        pthread_mutex_lock(&mu);
        outstanding++;
        pthread_mutex_unlock(&mu);
        r = params(&form, f + 7, n - 7) ? RECD_E_BAD_INPUT : recd_webhook_fetch(wh, &req, on_result, id);
    } else if (!strcmp(f[0], "notify") && n >= 5) {
        struct recd_webhook_req req = {.url = f[3], .method_get = is_get(f[2]), .params = &form};
        if (strcmp(f[4], "-"))
            req.token = f[4], req.token_len = strlen(f[4]);
        r = params(&form, f + 5, n - 5) ? RECD_E_BAD_INPUT : recd_webhook_notify(wh, &req);
        if (r == 0) {
            printf("QUEUED %s\n", f[1]);
            fflush(stdout);
        }
        recd_form_free(&form);
        free(id);
        goto refused;
    } else if (!strcmp(f[0], "media") && n == 4) {
        pthread_mutex_lock(&mu);
        outstanding++;
        pthread_mutex_unlock(&mu);
        r = recd_webhook_get_media(wh, f[2], strtoul(f[3], NULL, 10), on_result, id);
    } else {
        fprintf(stderr, "webhook_client: bad command %s\n", f[0]);
        exit(2);
    }
    recd_form_free(&form);
    if (r < 0) {
        pthread_mutex_lock(&mu);
        outstanding--; /* the callback will not run */
        pthread_mutex_unlock(&mu);
        free(id);
    }
refused:
    if (r < 0) {
        printf("REFUSED %s %s\n", f[1], recd_err_name(r));
        fflush(stdout);
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct recd_webhook_opts o = {0};
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *k = argv[i], *v = argv[i + 1];
        unsigned long x = strtoul(v, NULL, 10);
        if (!strcmp(k, "--timeout-ms"))
            o.timeout_ms = (unsigned)x;
        else if (!strcmp(k, "--connect-timeout-ms"))
            o.connect_timeout_ms = (unsigned)x;
        else if (!strcmp(k, "--max-body"))
            o.max_body = x;
        else if (!strcmp(k, "--max-inflight"))
            o.max_inflight = (unsigned)x;
        else if (!strcmp(k, "--max-queued"))
            o.max_queued = (unsigned)x;
        else if (!strcmp(k, "--retries"))
            o.notify_retries = (unsigned)x;
        else if (!strcmp(k, "--backoff-ms"))
            o.notify_backoff_ms = (unsigned)x;
        else if (!strcmp(k, "--ca-file"))
            o.ca_file = v;
        else {
            fprintf(stderr, "webhook_client: unknown option %s\n", k);
            return 2;
        }
    }
    struct recd_webhook *wh;
    int r = recd_webhook_start(&o, &wh);
    if (r < 0) {
        fprintf(stderr, "webhook_client: start: %s\n", recd_err_name(r));
        return 1;
    }
    printf("READY\n");
    fflush(stdout);
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int stopped = 0;
    while ((len = getline(&line, &cap, stdin)) > 0) {
        if (line[len - 1] == '\n')
            line[len - 1] = '\0';
        if (command(wh, line)) {
            recd_webhook_stop(wh);
            stopped = 1;
            printf("STOPPED\n");
            fflush(stdout);
            break;
        }
    }
    free(line);
    if (!stopped)
        recd_webhook_stop(wh);
    return 0;
}
