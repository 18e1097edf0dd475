/*
 * The call engine under any order of events: the input is a script of events (its first part)
 * and TwiML documents (the parts after each NUL byte) that the web application "returns". The
 * engine must never crash, leak or loop, must ask nothing of the world after it said it was
 * finished, must say so at most once, and must not answer, reject or hang up twice in a row
 * without an event between that allows it.
 */
#include "core/error.h"
#include "voice/engine.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static struct {
    int64_t now_ms;
    uint64_t fetch_token, play_token;
    int finished, answers;
    unsigned sids;
    unsigned live_slot_used;
} S;

static void guard(void)
{
    if (S.finished)
        __builtin_trap(); /* nothing may be asked after finished */
}

static int64_t f_now_us(void *a)
{
    (void)a;
    return INT64_C(1700000000000000) + S.now_ms * 1000;
}
static int64_t f_mono_ms(void *a)
{
    (void)a;
    return S.now_ms;
}
static void f_row(void *a, const struct recd_engine_row *r, bool insert)
{
    (void)a;
    (void)insert;
    guard();
    if (!r->status || r->duration_ms < 0)
        __builtin_trap();
}
static void f_fetch(void *a, const struct recd_engine_request *req)
{
    (void)a;
    guard();
    if (!req->url || strncmp(req->url, "http", 4) != 0)
        __builtin_trap();
    for (size_t i = 0; i < req->n_params; i++)
        if (!req->params[i].name || !req->params[i].value)
            __builtin_trap();
    if (req->kind == RECD_ENGINE_FETCH_DOCUMENT)
        S.fetch_token = req->token;
}
static void f_answer(void *a)
{
    (void)a;
    guard();
    if (++S.answers > 1)
        __builtin_trap();
}
static void f_reject(void *a, bool busy)
{
    (void)a;
    (void)busy;
    guard();
}
static void f_hangup(void *a)
{
    (void)a;
    guard();
}
static void f_play(void *a, const struct recd_engine_play *p)
{
    (void)a;
    guard();
    S.play_token = p->token;
}
static void f_play_clear(void *a)
{
    (void)a;
    guard();
}
static int f_rec_start(void *a, const struct recd_engine_rec_opts *o, char sid[RECD_SID_LEN + 1])
{
    (void)a;
    guard();
    if (o->slot > RECD_ENGINE_MAX_LIVE)
        __builtin_trap();
    for (int i = 0; i < RECD_SID_LEN; i++)
        sid[i] = i < 2 ? "RE"[i] : (char)('0' + (S.sids + (unsigned)i) % 10);
    sid[RECD_SID_LEN] = '\0';
    S.sids++;
    return 0;
}
static void f_rec_pause(void *a, unsigned slot, bool skip)
{
    (void)a;
    (void)slot;
    (void)skip;
    guard();
}
static void f_rec_slot(void *a, unsigned slot)
{
    (void)a;
    guard();
    if (slot > RECD_ENGINE_MAX_LIVE)
        __builtin_trap();
}
static void f_rec_drop_tail(void *a, unsigned slot, unsigned ms)
{
    (void)ms;
    f_rec_slot(a, slot);
}
static void f_log(void *a, int code, const char *m)
{
    (void)a;
    (void)code;
    guard();
    if (!m)
        __builtin_trap();
}
static void f_finished(void *a)
{
    (void)a;
    guard();
    S.finished = 1;
}

static const struct recd_engine_io IO = {
    .now_us = f_now_us,
    .mono_ms = f_mono_ms,
    .row = f_row,
    .fetch = f_fetch,
    .answer = f_answer,
    .reject = f_reject,
    .hangup = f_hangup,
    .play = f_play,
    .play_clear = f_play_clear,
    .rec_start = f_rec_start,
    .rec_pause = f_rec_pause,
    .rec_resume = f_rec_slot,
    .rec_drop_tail = f_rec_drop_tail,
    .rec_finish = f_rec_slot,
    .log = f_log,
    .finished = f_finished,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    memset(&S, 0, sizeof S);
    const uint8_t *end = data + size;
    const uint8_t *nul = memchr(data, 0, size);
    const uint8_t *script_end = nul ? nul : end;
    /* The documents: NUL-separated, used in turn. */
    const char *docs[16];
    size_t doc_len[16], ndocs = 0;
    for (const uint8_t *p = nul ? nul + 1 : end; p < end && ndocs < 16;) {
        const uint8_t *q = memchr(p, 0, (size_t)(end - p));
        if (!q)
            q = end;
        docs[ndocs] = (const char *)p;
        doc_len[ndocs++] = (size_t)(q - p);
        p = q + 1;
    }
    struct recd_engine_call_info info = {
        .account_sid = "AC0123456789abcdef0123456789abcdef",
        .call_sid = "CA0123456789abcdef0123456789abcdef",
        .from = "+1555",
        .to = "+1666",
        .voice_url = "http://app.example/a/voice",
        .fallback_url = "http://app.example/fallback",
        .status_callback = "http://app.example/status",
        .base_url = "http://rec.example",
    };
    struct recd_engine_call *c;
    if (recd_engine_call_new(&info, &IO, &c) != 0)
        __builtin_trap();
    size_t d = 0;
    int ended = 0;
    char sid[RECD_SID_LEN + 1];
    for (const uint8_t *p = data; p < script_end; p++) {
        uint8_t arg = p + 1 < script_end ? p[1] : 0;
        switch (*p % 16) {
        case 0: recd_engine_answered(c); break;
        case 1:
            if (ndocs) {
                recd_engine_fetched(c, S.fetch_token, 0, 200, 0, docs[d % ndocs], doc_len[d % ndocs],
                                    arg & 1 ? "https://other.example/x/y" : NULL);
                d++;
            }
            break;
        case 2: recd_engine_fetched(c, S.fetch_token, RECD_E_UNAVAILABLE, 0, 11205, NULL, 0, NULL); break;
        case 3: recd_engine_fetched(c, S.fetch_token, 0, 500, 0, "x", 1, "http://app.example/a/voice"); break;
        case 4: recd_engine_digit(c, "0123456789*#ABCD"[arg % 16]); break;
        case 5: recd_engine_audio(c, 10u * arg, true); break;
        case 6: recd_engine_audio(c, 10u * arg, false); break;
        case 7: recd_engine_play_done(c, S.play_token, 0); break;
        case 8: recd_engine_play_done(c, S.play_token, RECD_E_NOT_FOUND); break;
        case 9: {
            static const char *const st[] = {"completed", "absent", "failed"};
            struct recd_engine_rec_result r = {
                .status = st[arg % 3], .error_code = arg % 3 == 1 ? 16102 : 0, .duration_ms = 20 * arg};
            recd_engine_rec_done(c, arg % (RECD_ENGINE_MAX_LIVE + 1), &r);
            break;
        }
        case 10:
            if (!ended) {
                ended = 1;
                recd_engine_ended(c);
            }
            break;
        case 11:
            S.now_ms += 100 * (int64_t)arg;
            recd_engine_tick(c);
            break;
        case 12: {
            struct recd_engine_live_opts o = {.status_callback = arg & 1 ? "http://cb.example/l" : NULL,
                                              .events = arg & 7};
            recd_engine_live_start(c, &o, sid);
            break;
        }
        case 13:
            recd_engine_live_cmd(c, arg & 8 ? "Twilio.CURRENT" : sid,
                                 (enum recd_engine_live_cmd)(1 + arg % 3), arg & 16);
            break;
        case 14: recd_engine_fetched(c, S.fetch_token + 1, 0, 200, 0, "<Response/>", 11, NULL); break;
        default: /* 15: the clock jumps without a tick */ S.now_ms += 1000 * (int64_t)arg; break;
        }
        if (recd_engine_deadline(c) < 0)
            __builtin_trap();
    }
    recd_engine_call_free(c);
    return 0;
}
