#include "stt/stt.h"

#include "core/error.h"
#include "core/log.h"
#include "core/time.h"
#include "store/store.h"
#include "stt/stt_internal.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * The external engine: POST {url}/v1/audio/transcriptions, multipart/form-data with `file` (the
 * audio as a 16-bit mono WAV at its own rate), `model` and `response_format=json`, answered by
 * `{"text": "…"}`. That is OpenAI's wire format, which whisper.cpp's server, faster-whisper
 * servers and LocalAI speak.
 *
 * Everything the server sends is outside input: the body is bounded (max_response), parsed
 * strictly (stt/json.c), and the text must fit a transcription (RECD_TEXT_MAX). Redirects are
 * not followed, and only http and https are spoken.
 */

#define ENDPOINT_PATH "/v1/audio/transcriptions"

struct openai {
    struct recd_stt_engine base;
    CURL *curl;
    char url[RECD_URL_MAX + 64];
    char model[128];
    char auth[600]; /* "Authorization: Bearer …", or "" */
    unsigned timeout_ms, connect_timeout_ms;
    size_t max_response;
};

/* One transfer's state, seen by libcurl's callbacks. */
struct xfer {
    struct recd_buf body;
    size_t max;
    int too_big;
    recd_stt_tick_fn tick;
    void *tick_arg;
    int tick_rc;
    int64_t next_tick_us;
};

static size_t on_body(char *p, size_t size, size_t nmemb, void *arg)
{
    struct xfer *x = arg;
    size_t n = size * nmemb;
    if (x->body.len + n > x->max) {
        x->too_big = 1;
        return 0; /* libcurl stops the transfer: CURLE_WRITE_ERROR */
    }
    recd_buf_add(&x->body, p, n);
    return n;
}

/* Called by libcurl about once a second even while nothing moves, so the tick runs while the
 * server thinks. */
static int on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
    (void)dltotal;
    (void)dlnow;
    (void)ultotal;
    (void)ulnow;
    struct xfer *x = arg;
    if (!x->tick)
        return 0;
    int64_t now = recd_now_us();
    if (now < x->next_tick_us)
        return 0;
    x->next_tick_us = now + 1000000;
    int rc = x->tick(x->tick_arg);
    if (rc < 0) {
        x->tick_rc = rc;
        return 1; /* CURLE_ABORTED_BY_CALLBACK */
    }
    return 0;
}

static void put_le(unsigned char *p, uint32_t v, int bytes)
{
    for (int i = 0; i < bytes; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

/* A canonical 44-byte-header WAV of the samples, in memory: what the server's decoder reads best. */
static unsigned char *wav_of(const int16_t *pcm, size_t n, int rate, size_t *len)
{
    size_t data = n * 2;
    if (data > UINT32_MAX - 36)
        return NULL;
    unsigned char *w = malloc(44 + data);
    if (!w)
        return NULL;
    memcpy(w, "RIFF", 4);
    put_le(w + 4, (uint32_t)(36 + data), 4);
    memcpy(w + 8, "WAVEfmt ", 8);
    put_le(w + 16, 16, 4);
    put_le(w + 20, 1, 2); /* PCM */
    put_le(w + 22, 1, 2); /* mono */
    put_le(w + 24, (uint32_t)rate, 4);
    put_le(w + 28, (uint32_t)rate * 2, 4);
    put_le(w + 32, 2, 2);
    put_le(w + 34, 16, 2);
    memcpy(w + 36, "data", 4);
    put_le(w + 40, (uint32_t)data, 4);
    for (size_t i = 0; i < n; i++)
        put_le(w + 44 + 2 * i, (uint16_t)pcm[i], 2);
    *len = 44 + data;
    return w;
}

/* The failure of a transfer that did not produce an HTTP answer, mapped to retry or not. */
static int curl_failure(const struct xfer *x, CURLcode cc, const char *errbuf, char *why, size_t why_n)
{
    if (x->tick_rc < 0)
        return recd_stt_fail(why, why_n, x->tick_rc, "stopped");
    if (x->too_big)
        return recd_stt_fail(why, why_n, RECD_E_BAD_INPUT, "the engine's answer is larger than %zu bytes",
                             x->max);
    const char *what = errbuf[0] ? errbuf : curl_easy_strerror(cc);
    switch (cc) {
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
        return recd_stt_fail(why, why_n, RECD_E_BAD_INPUT, "engine URL refused: %s", what);
    case CURLE_OPERATION_TIMEDOUT:
        return recd_stt_fail(why, why_n, RECD_E_UNAVAILABLE, "engine timed out: %s", what);
    default: return recd_stt_fail(why, why_n, RECD_E_UNAVAILABLE, "engine unreachable: %s", what);
    }
}

/* One request, start to answer. Long because it is one libcurl transfer set up step by step, each
 * step's failure going to the same cleanup. */
static int openai_transcribe(struct recd_stt_engine *e, const int16_t *pcm, size_t n, int rate,
                             recd_stt_tick_fn tick, void *tick_arg, struct recd_stt_result *out, char *why,
                             size_t why_n)
{
    struct openai *o = (struct openai *)e;
    struct xfer x = {.max = o->max_response, .tick = tick, .tick_arg = tick_arg};
    struct curl_slist *hdrs = NULL;
    curl_mime *mime = NULL;
    char errbuf[CURL_ERROR_SIZE] = "";
    size_t wav_len = 0;
    int rc = 0;
    recd_buf_reset(&out->text);
    out->confidence = 0;
    recd_buf_init(&x.body, 0);
    unsigned char *wav = wav_of(pcm, n, rate, &wav_len);
    if (!wav)
        return recd_stt_fail(why, why_n, RECD_E_INTERNAL, "out of memory");

    CURL *c = o->curl;
    curl_easy_reset(c);
    mime = curl_mime_init(c);
    curl_mimepart *part = curl_mime_addpart(mime);
    curl_mime_name(part, "file");
    curl_mime_data(part, (const char *)wav, wav_len);
    curl_mime_filename(part, "audio.wav");
    curl_mime_type(part, "audio/wav");
    part = curl_mime_addpart(mime);
    curl_mime_name(part, "model");
    curl_mime_data(part, o->model, CURL_ZERO_TERMINATED);
    part = curl_mime_addpart(mime);
    curl_mime_name(part, "response_format");
    curl_mime_data(part, "json", CURL_ZERO_TERMINATED);

    hdrs = curl_slist_append(hdrs, "Accept: application/json");
    /* libcurl would send "Expect: 100-continue" for a large body and wait for the server. */
    hdrs = curl_slist_append(hdrs, "Expect:");
    if (o->auth[0])
        hdrs = curl_slist_append(hdrs, o->auth);

    curl_easy_setopt(c, CURLOPT_URL, o->url);
    curl_easy_setopt(c, CURLOPT_MIMEPOST, mime);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "recd-stt/1");
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)o->timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)o->connect_timeout_ms);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &x);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, &x);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);

    CURLcode cc = curl_easy_perform(c);
    if (cc != CURLE_OK) {
        rc = curl_failure(&x, cc, errbuf, why, why_n);
        goto out;
    }
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    if (status == 408 || status == 429 || status >= 500) {
        rc = recd_stt_fail(why, why_n, RECD_E_UNAVAILABLE, "engine answered HTTP %ld", status);
        goto out;
    }
    if (status < 200 || status > 299) {
        rc = recd_stt_fail(why, why_n, RECD_E_BAD_INPUT, "engine refused the audio: HTTP %ld", status);
        goto out;
    }
    if (recd_stt_json_text(x.body.p ? x.body.p : "", x.body.len, RECD_TEXT_MAX, &out->text) < 0) {
        rc = recd_stt_fail(
            why, why_n, RECD_E_BAD_INPUT,
            "engine answered something other than a JSON object with a text of at most %d bytes",
            RECD_TEXT_MAX);
        goto out;
    }
    /* The format carries no confidence; a server that answered is taken at its word. */
    out->confidence = 1.0;
out:
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, NULL);
    curl_slist_free_all(hdrs);
    curl_mime_free(mime);
    recd_buf_free(&x.body);
    free(wav);
    return rc;
}

static void openai_close(struct recd_stt_engine *e)
{
    struct openai *o = (struct openai *)e;
    if (!o)
        return;
    if (o->curl)
        curl_easy_cleanup(o->curl);
    free(o);
}

static const struct recd_stt_engine_ops openai_ops = {
    .name = "openai",
    .transcribe = openai_transcribe,
    .close = openai_close,
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* The URL must be an http(s) URL of printable ASCII; a base URL gets the endpoint's path. */
static int url_of(const char *in, char *out, size_t cap)
{
    size_t n = strlen(in);
    if (n == 0 || n > RECD_URL_MAX || (strncmp(in, "http://", 7) != 0 && strncmp(in, "https://", 8) != 0))
        return -1;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)in[i] <= 0x20 || (unsigned char)in[i] >= 0x7f)
            return -1;
    size_t host = in[4] == 's' ? 8 : 7;
    if (host >= n || in[host] == '/' || in[host] == ':')
        return -1;
    while (n > host && in[n - 1] == '/')
        n--;
    size_t pl = strlen(ENDPOINT_PATH);
    if (n >= pl && memcmp(in + n - pl, ENDPOINT_PATH, pl) == 0)
        snprintf(out, cap, "%.*s", (int)n, in);
    else
        snprintf(out, cap, "%.*s%s", (int)n, in, ENDPOINT_PATH);
    return 0;
}

int recd_stt_openai_check(const struct recd_stt_config *c, char *why, size_t why_n)
{
    char url[RECD_URL_MAX + 64];
    if (url_of(c->url, url, sizeof url) < 0)
        return recd_stt_fail(why, why_n, RECD_E_BAD_INPUT,
                             "--stt %s: want an http:// or https:// URL of at most %d bytes", c->url,
                             RECD_URL_MAX);
    return 0;
}

int recd_stt_openai_open(const struct recd_stt_config *c, struct recd_stt_engine **out, char *why,
                         size_t why_n)
{
    *out = NULL;
    struct openai *o = calloc(1, sizeof *o);
    if (!o)
        return recd_stt_fail(why, why_n, RECD_E_INTERNAL, "out of memory");
    o->base.ops = &openai_ops;
    if (url_of(c->url, o->url, sizeof o->url) < 0) {
        free(o);
        return recd_stt_fail(why, why_n, RECD_E_BAD_INPUT,
                             "--stt %s: want an http:// or https:// URL of at most %d bytes", c->url,
                             RECD_URL_MAX);
    }
    const char *model = c->model && c->model[0] ? c->model : "whisper-1";
    const char *key = c->key && c->key[0] ? c->key : NULL;
    if (strlen(model) >= sizeof o->model || (key && strlen(key) > 512)) {
        free(o);
        return recd_stt_fail(why, why_n, RECD_E_BAD_INPUT, "--stt-model or the key is too long");
    }
    for (const char *k = key; k && *k; k++)
        if ((unsigned char)*k < 0x21 || (unsigned char)*k > 0x7e) {
            free(o);
            return recd_stt_fail(why, why_n, RECD_E_BAD_INPUT,
                                 "the engine's key must be printable ASCII without spaces");
        }
    snprintf(o->model, sizeof o->model, "%s", model);
    if (key)
        snprintf(o->auth, sizeof o->auth, "Authorization: Bearer %s", key);
    o->timeout_ms = c->timeout_ms ? c->timeout_ms : 300000;
    o->connect_timeout_ms = c->connect_timeout_ms ? c->connect_timeout_ms : 10000;
    o->max_response = c->max_response ? c->max_response : (1u << 20);
    pthread_once(&curl_once, curl_init_once);
    o->curl = curl_easy_init();
    if (!o->curl) {
        free(o);
        return recd_stt_fail(why, why_n, RECD_E_IO, "libcurl failed to start");
    }
    *out = &o->base;
    return 0;
}
