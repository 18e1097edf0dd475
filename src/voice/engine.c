#include "voice/engine.h"

#include "core/error.h"
#include "core/time.h"
#include "voice/twiml.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * One call is a program counter over the current TwiML document and one "wait": the thing the
 * current verb is waiting for. Every event checks that it is what the call waits for (and that
 * its token is current) before acting, so late or repeated events are harmless. The rest of the
 * state is what one verb needs while it runs (a <Gather>'s digits, a <Record>'s silence count).
 */

enum wait {
    W_NONE = 0,   /* ready to run the next verb */
    W_FETCH,      /* a document request is out (token fetch_token) */
    W_ANSWER,     /* the answer was sent; the verb at pc runs when it is acknowledged */
    W_PLAY,       /* a top-level <Say>, <Play> or <Pause> is playing (token play_token) */
    W_GATHER,     /* a <Gather>: prompt playing (gather_prompt) or waiting for keys */
    W_REC_BEEP,   /* <Record>'s beep is playing */
    W_RECORDING,  /* <Record> is recording */
    W_REC_RESULT, /* <Record> was finished; waiting for the recorder's result */
    W_HANGUP,     /* hangup or reject sent; waiting for the SIP end */
    W_DONE,       /* the call ended and nothing of the document remains */
};

enum live_state { LIVE_FREE = 0, LIVE_RECORDING, LIVE_PAUSED, LIVE_STOPPING };

struct live {
    enum live_state state;
    char sid[RECD_SID_LEN + 1];
    char *callback;
    bool callback_get;
    unsigned events;
    uint64_t order; /* start order, for Twilio.CURRENT */
    unsigned channels;
    unsigned track;
};

#define MAX_EXTRA 8

struct kv {
    const char *name;
    char *value;
};

struct recd_engine_call {
    struct recd_engine_io io;
    char *account_sid, *call_sid, *from, *to;
    char *voice_url, *fallback_url, *status_callback, *base_url;
    bool voice_get, fallback_get, status_callback_get;

    enum wait wait;
    bool answered, answer_sent, sip_ended, finished;
    const char *status; /* CallStatus */
    int64_t start_us, end_us, answered_ms;
    int error_code;
    char error_message[192];

    struct recd_twiml_doc *doc;
    char *doc_url;
    size_t pc;
    unsigned redirects;

    /* The last document request, kept to repeat it to the fallback URL. */
    uint64_t seq, fetch_token;
    char *fetch_url;
    bool fetch_get, fetch_is_fallback, fetch_ignore;
    struct kv extra[MAX_EXTRA];
    size_t n_extra;

    /* The running verb. */
    uint64_t play_token;
    unsigned loop_i;
    size_t nested_i;
    bool gather_prompt;
    char digits[RECD_TWIML_MAX_DIGITS + 1];
    size_t n_digits;
    int64_t deadline_ms;
    unsigned rec_ms, rec_silent_ms;
    char rec_sid[RECD_SID_LEN + 1];
    const char *rec_digits; /* "hangup", a key (rec_key) or NULL */
    char rec_key[2];
    /* What <Record>'s callbacks need after its document may have been replaced. */
    char *rec_action, *rec_callback;
    bool rec_action_get, rec_callback_get;
    unsigned rec_events;

    struct live live[RECD_ENGINE_MAX_LIVE];
    uint64_t live_order;
};

static void run(struct recd_engine_call *c);
static void finish_if_done(struct recd_engine_call *c);

static char *dup_or_empty(const char *s)
{
    char *d = strdup(s ? s : "");
    if (!d)
        abort(); /* a few bytes per call: out of memory here means the machine is */
    return d;
}

static void set_str(char **dst, const char *s)
{
    free(*dst);
    *dst = s ? dup_or_empty(s) : NULL;
}

static int64_t mono(struct recd_engine_call *c)
{
    return c->io.mono_ms(c->io.arg);
}

static void log_app(struct recd_engine_call *c, int code, const char *msg)
{
    if (c->io.log)
        c->io.log(c->io.arg, code, msg);
}

static void write_row(struct recd_engine_call *c, bool insert)
{
    struct recd_engine_row r = {
        .status = c->status,
        .start_us = c->start_us,
        .end_us = c->end_us,
        .duration_ms = c->answered && c->end_us ? (c->end_us - c->start_us) / 1000 : 0,
        .error_code = c->error_code,
        .error_message = c->error_message,
    };
    c->io.row(c->io.arg, &r, insert);
}

/* An application error: on the row and in the log. */
static void app_error(struct recd_engine_call *c, int code, const char *msg)
{
    c->error_code = code;
    snprintf(c->error_message, sizeof c->error_message, "%s", msg);
    log_app(c, code, msg);
    write_row(c, false);
}

/* The voice request's parameters (Twilio's, in its order) followed by `extra`. */
#define MAX_PARAMS (16 + MAX_EXTRA)
static size_t base_params(struct recd_engine_call *c, struct recd_engine_param *p)
{
    size_t n = 0;
    p[n++] = (struct recd_engine_param){"AccountSid", c->account_sid};
    p[n++] = (struct recd_engine_param){"ApiVersion", "2010-04-01"};
    p[n++] = (struct recd_engine_param){"CallSid", c->call_sid};
    p[n++] = (struct recd_engine_param){"CallStatus", c->status};
    p[n++] = (struct recd_engine_param){"Called", c->to};
    p[n++] = (struct recd_engine_param){"Caller", c->from};
    p[n++] = (struct recd_engine_param){"Direction", "inbound"};
    p[n++] = (struct recd_engine_param){"From", c->from};
    p[n++] = (struct recd_engine_param){"To", c->to};
    return n;
}

static void clear_extra(struct recd_engine_call *c)
{
    for (size_t i = 0; i < c->n_extra; i++)
        free(c->extra[i].value);
    c->n_extra = 0;
}

static void add_extra(struct recd_engine_call *c, const char *name, const char *value)
{
    if (c->n_extra == MAX_EXTRA)
        abort(); /* the engine's own callers add at most five */
    c->extra[c->n_extra].name = name;
    c->extra[c->n_extra].value = dup_or_empty(value);
    c->n_extra++;
}

/* Sends the kept request (fetch_url, extra) as a document request. */
static void send_fetch(struct recd_engine_call *c)
{
    struct recd_engine_param p[MAX_PARAMS];
    size_t n = base_params(c, p);
    for (size_t i = 0; i < c->n_extra; i++)
        p[n++] = (struct recd_engine_param){c->extra[i].name, c->extra[i].value};
    c->fetch_token = ++c->seq;
    c->wait = W_FETCH;
    struct recd_engine_request req = {
        .kind = RECD_ENGINE_FETCH_DOCUMENT,
        .token = c->fetch_token,
        .url = c->fetch_url,
        .method_get = c->fetch_get,
        .params = p,
        .n_params = n,
    };
    c->io.fetch(c->io.arg, &req);
}

/* Requests a document from `url` with the call's parameters and the extra ones already added. */
static void fetch_doc(struct recd_engine_call *c, const char *url, bool get)
{
    set_str(&c->fetch_url, url);
    c->fetch_get = get;
    c->fetch_is_fallback = false;
    c->fetch_ignore = c->sip_ended;
    send_fetch(c);
}

static void notify(struct recd_engine_call *c, const char *url, bool get,
                   const struct recd_engine_param *extra, size_t n_extra)
{
    struct recd_engine_param p[MAX_PARAMS];
    size_t n = base_params(c, p);
    for (size_t i = 0; i < n_extra && n < MAX_PARAMS; i++)
        p[n++] = extra[i];
    struct recd_engine_request req = {
        .kind = RECD_ENGINE_FETCH_NOTIFY, .url = url, .method_get = get, .params = p, .n_params = n};
    c->io.fetch(c->io.arg, &req);
}

/* Resolves `ref` (may be empty: the document itself) against the current document's URL. */
static int resolve(struct recd_engine_call *c, struct recd_str ref, char *out, size_t cap)
{
    const char *base = c->doc_url ? c->doc_url : c->voice_url;
    if (ref.n == 0) {
        if (strlen(base) >= cap)
            return RECD_E_URI_TOO_LONG;
        strcpy(out, base);
        return 0;
    }
    int rc = recd_twiml_resolve_url(base, ref.p, out, cap);
    return rc < 0 ? rc : 0;
}

static void hangup(struct recd_engine_call *c)
{
    c->deadline_ms = INT64_MAX;
    c->wait = W_HANGUP;
    c->io.hangup(c->io.arg);
}

/* The caller hears recd's error message and the call ends: a document of its own. */
static void run_error_doc(struct recd_engine_call *c)
{
    static const char xml[] = "<Response><Say>" RECD_ENGINE_ERROR_TEXT "</Say><Hangup/></Response>";
    struct recd_twiml_error perr;
    struct recd_twiml_doc *d = NULL;
    recd_twiml_free(c->doc);
    c->doc = NULL;
    c->pc = 0;
    if (c->sip_ended) {
        c->wait = W_DONE;
        finish_if_done(c);
        return;
    }
    if (recd_twiml_parse(xml, sizeof xml - 1, &d, &perr) == 0)
        c->doc = d;
    c->wait = W_NONE;
    if (!c->doc) { /* out of memory: still end the call */
        hangup(c);
        return;
    }
    run(c);
}

/* A document could not be had or used: try the fallback URL once, else the error message. */
static void doc_failed(struct recd_engine_call *c, int code, const char *msg)
{
    app_error(c, code, msg);
    if (!c->fetch_is_fallback && c->fallback_url[0] && !c->sip_ended) {
        char codebuf[16];
        snprintf(codebuf, sizeof codebuf, "%d", code);
        char *failed_url = dup_or_empty(c->fetch_url);
        add_extra(c, "ErrorCode", codebuf);
        add_extra(c, "ErrorUrl", failed_url);
        free(failed_url);
        set_str(&c->fetch_url, c->fallback_url);
        c->fetch_get = c->fallback_get;
        c->fetch_is_fallback = true;
        send_fetch(c);
        return;
    }
    run_error_doc(c);
}

void recd_engine_fetched(struct recd_engine_call *c, uint64_t token, int err, long http_status,
                         int twilio_code, const char *body, size_t len, const char *url)
{
    if (c->wait != W_FETCH || token != c->fetch_token)
        return;
    c->fetch_token = 0;
    if (c->fetch_ignore || c->sip_ended) {
        /* An action requested after the caller hung up: Twilio ignores its TwiML too. */
        c->wait = W_DONE;
        finish_if_done(c);
        return;
    }
    char msg[256];
    if (err < 0 || http_status < 200 || http_status > 299) {
        int code = twilio_code ? twilio_code : RECD_ENGINE_E_HTTP;
        if (err < 0)
            snprintf(msg, sizeof msg, "HTTP retrieval failure: %s (%s)", c->fetch_url, recd_err_name(err));
        else
            snprintf(msg, sizeof msg, "HTTP retrieval failure: %s answered %ld", c->fetch_url, http_status);
        doc_failed(c, code, msg);
        return;
    }
    struct recd_twiml_error perr;
    struct recd_twiml_doc *d = NULL;
    if (recd_twiml_parse(body ? body : "", body ? len : 0, &d, &perr) != 0) {
        snprintf(msg, sizeof msg, "%s (line %u): %s", c->fetch_url, perr.line, perr.message);
        doc_failed(c, perr.code ? perr.code : RECD_TWIML_E_PARSE, msg);
        return;
    }
    recd_twiml_free(c->doc);
    c->doc = d;
    c->pc = 0;
    set_str(&c->doc_url, url && url[0] ? url : c->fetch_url);
    clear_extra(c);
    c->wait = W_NONE;
    run(c);
}

static unsigned loops(const struct recd_twiml_verb *v)
{
    unsigned l = 1;
    if (v->type == RECD_TWIML_SAY)
        l = v->u.say.loop;
    else if (v->type == RECD_TWIML_PLAY)
        l = v->u.play.loop;
    return l == 0 ? RECD_TWIML_MAX_LOOP : l;
}

/* Emits the play item for one iteration of a <Say>, <Play> or <Pause>. */
static void play_verb(struct recd_engine_call *c, const struct recd_twiml_verb *v)
{
    char url[RECD_TWIML_MAX_URL + 1];
    struct recd_engine_play p = {.token = ++c->seq};
    c->play_token = p.token;
    switch (v->type) {
    case RECD_TWIML_SAY:
        p.kind = RECD_ENGINE_PLAY_SAY;
        p.text = v->u.say.text.p;
        p.voice = v->u.say.voice.p;
        p.language = v->u.say.language.p;
        break;
    case RECD_TWIML_PLAY:
        if (v->u.play.digits.n) {
            p.kind = RECD_ENGINE_PLAY_DIGITS;
            p.digits = v->u.play.digits.p;
        } else {
            p.kind = RECD_ENGINE_PLAY_URL;
            if (resolve(c, v->u.play.url, url, sizeof url) < 0) {
                /* The parser checked its shape; only a base it cannot join fails here. Play
                 * nothing and report the play as failed, as an unreachable URL would be. */
                url[0] = '\0';
            }
            p.url = url;
        }
        break;
    default: /* RECD_TWIML_PAUSE */
        p.kind = RECD_ENGINE_PLAY_SILENCE;
        p.ms = v->u.pause.length * 1000u;
        break;
    }
    c->io.play(c->io.arg, &p);
}

static void gather_input_wait(struct recd_engine_call *c)
{
    c->gather_prompt = false;
    c->deadline_ms = mono(c) + (int64_t)c->doc->verbs[c->pc].u.gather.timeout * 1000;
}

static void gather_start(struct recd_engine_call *c, const struct recd_twiml_gather *g)
{
    c->wait = W_GATHER;
    c->n_digits = 0;
    c->digits[0] = '\0';
    c->nested_i = 0;
    c->loop_i = 0;
    c->deadline_ms = INT64_MAX;
    if (g->n_nested) {
        c->gather_prompt = true;
        play_verb(c, &g->nested[0]);
    } else {
        gather_input_wait(c);
    }
}

/* The <Gather> is over: request its action, or go on when nothing was entered. */
static void gather_end(struct recd_engine_call *c, char finished_on)
{
    const struct recd_twiml_gather *g = &c->doc->verbs[c->pc].u.gather;
    c->deadline_ms = INT64_MAX;
    c->gather_prompt = false;
    c->play_token = 0;
    if (c->n_digits == 0 && !g->action_on_empty_result) {
        c->wait = W_NONE;
        c->pc++;
        run(c);
        return;
    }
    char url[RECD_TWIML_MAX_URL + 1];
    if (resolve(c, g->action, url, sizeof url) < 0) {
        c->wait = W_NONE;
        doc_failed(c, RECD_TWIML_E_URL, "<Gather action> cannot be resolved against the document's URL");
        return;
    }
    char key[2] = {finished_on, '\0'};
    clear_extra(c);
    add_extra(c, "Digits", c->digits);
    add_extra(c, "FinishedOnKey", key);
    fetch_doc(c, url, g->method == RECD_TWIML_GET);
}

static void rec_params(struct recd_engine_call *c, const char *sid, const char *status, const char *source,
                       unsigned channels, const struct recd_engine_rec_result *r, struct recd_engine_param *p,
                       size_t *n, char *url, size_t url_cap, char *dur, char *start, char *code)
{
    snprintf(url, url_cap, "%s/2010-04-01/Accounts/%s/Recordings/%s", c->base_url, c->account_sid, sid);
    size_t k = 0;
    p[k++] = (struct recd_engine_param){"RecordingSid", sid};
    p[k++] = (struct recd_engine_param){"RecordingUrl", url};
    p[k++] = (struct recd_engine_param){"RecordingStatus", status};
    p[k++] = (struct recd_engine_param){"RecordingSource", source};
    p[k++] = (struct recd_engine_param){"RecordingChannels", channels == 2 ? "2" : "1"};
    if (r) {
        snprintf(dur, 24, "%lld", (long long)((r->duration_ms + 500) / 1000));
        snprintf(code, 16, "%d", r->error_code);
        recd_time_rfc2822(r->start_us, start);
        p[k++] = (struct recd_engine_param){"RecordingDuration", dur};
        p[k++] = (struct recd_engine_param){"RecordingStartTime", start};
        p[k++] = (struct recd_engine_param){"ErrorCode", code};
    }
    *n = k;
}

/* A recording status callback for `events` (RECD_TWIML_EVENT_*), if that event is wanted. */
static void rec_status_callback(struct recd_engine_call *c, const char *cb, bool get, unsigned events,
                                const char *sid, const char *source, unsigned channels, const char *status,
                                const struct recd_engine_rec_result *r)
{
    unsigned ev = RECD_TWIML_EVENT_COMPLETED;
    if (strcmp(status, "in-progress") == 0)
        ev = RECD_TWIML_EVENT_IN_PROGRESS;
    else if (strcmp(status, "absent") == 0)
        ev = RECD_TWIML_EVENT_ABSENT;
    if (!cb || !cb[0] || !(events & ev))
        return;
    struct recd_engine_param p[8];
    size_t n;
    char url[1024], dur[24], start[32], code[16];
    rec_params(c, sid, status, source, channels, r, p, &n, url, sizeof url, dur, start, code);
    notify(c, cb, get, p, n);
}

static void record_begin(struct recd_engine_call *c)
{
    const struct recd_twiml_record *rv = &c->doc->verbs[c->pc].u.record;
    char tcb[RECD_TWIML_MAX_URL + 1] = "";
    if (rv->transcribe && rv->transcribe_callback.n &&
        resolve(c, rv->transcribe_callback, tcb, sizeof tcb) < 0)
        tcb[0] = '\0';
    struct recd_engine_rec_opts o = {
        .slot = RECD_ENGINE_SLOT_VERB,
        .source = "RecordVerb",
        .trim_silence = rv->trim == RECD_TWIML_TRIM_SILENCE,
        .transcribe = rv->transcribe,
        .transcribe_callback = tcb[0] ? tcb : NULL,
        .finish_on_key = rv->finish_on_key.p,
    };
    int rc = c->io.rec_start(c->io.arg, &o, c->rec_sid);
    if (rc < 0) {
        char msg[128];
        snprintf(msg, sizeof msg, "<Record> could not start a recording (%s)", recd_err_name(rc));
        app_error(c, RECD_TWIML_E_INTERNAL, msg);
        c->wait = W_NONE;
        c->pc++;
        run(c);
        return;
    }
    c->wait = W_RECORDING;
    c->rec_ms = 0;
    c->rec_silent_ms = 0;
    c->rec_digits = NULL;
    /* Audio counts the length; the clock is a backstop for a caller who sends no audio at all. */
    c->deadline_ms = mono(c) + (int64_t)rv->max_length * 1000 + 2000;
    rec_status_callback(c, c->rec_callback, c->rec_callback_get, c->rec_events, c->rec_sid, "RecordVerb", 1,
                        "in-progress", NULL);
}

static void record_start(struct recd_engine_call *c, const struct recd_twiml_record *rv)
{
    char url[RECD_TWIML_MAX_URL + 1];
    if (resolve(c, rv->action, url, sizeof url) < 0) {
        doc_failed(c, RECD_TWIML_E_URL, "<Record action> cannot be resolved against the document's URL");
        return;
    }
    set_str(&c->rec_action, url);
    c->rec_action_get = rv->method == RECD_TWIML_GET;
    if (rv->recording_status_callback.n && resolve(c, rv->recording_status_callback, url, sizeof url) == 0) {
        set_str(&c->rec_callback, url);
    } else {
        set_str(&c->rec_callback, NULL);
    }
    c->rec_callback_get = rv->recording_status_callback_method == RECD_TWIML_GET;
    c->rec_events = rv->recording_status_callback_event;
    if (rv->play_beep) {
        c->wait = W_REC_BEEP;
        struct recd_engine_play p = {.kind = RECD_ENGINE_PLAY_BEEP, .token = ++c->seq};
        c->play_token = p.token;
        c->io.play(c->io.arg, &p);
        return;
    }
    record_begin(c);
}

/* Ends <Record>'s recording; `digits` is the key that ended it, "hangup" or NULL. */
static void record_end(struct recd_engine_call *c, const char *digits)
{
    c->rec_digits = digits;
    c->deadline_ms = INT64_MAX;
    c->wait = W_REC_RESULT;
    c->io.rec_finish(c->io.arg, RECD_ENGINE_SLOT_VERB);
}

static void record_done(struct recd_engine_call *c, const struct recd_engine_rec_result *r)
{
    if (c->wait != W_REC_RESULT)
        return;
    rec_status_callback(c, c->rec_callback, c->rec_callback_get, c->rec_events, c->rec_sid, "RecordVerb", 1,
                        r->status, r);
    if (strcmp(r->status, "completed") != 0) {
        /* Twilio: an empty recording moves on to the next verb without requesting action. */
        if (strcmp(r->status, "failed") == 0)
            log_app(c, RECD_TWIML_E_INTERNAL, "<Record>: the recording failed");
        if (c->sip_ended) {
            c->wait = W_DONE;
            finish_if_done(c);
            return;
        }
        c->wait = W_NONE;
        c->pc++;
        run(c);
        return;
    }
    char url[1024], dur[24];
    snprintf(url, sizeof url, "%s/2010-04-01/Accounts/%s/Recordings/%s", c->base_url, c->account_sid,
             c->rec_sid);
    snprintf(dur, sizeof dur, "%lld", (long long)((r->duration_ms + 500) / 1000));
    clear_extra(c);
    add_extra(c, "RecordingUrl", url);
    add_extra(c, "RecordingSid", c->rec_sid);
    add_extra(c, "RecordingDuration", dur);
    if (c->rec_digits)
        add_extra(c, "Digits", c->rec_digits);
    char *action = dup_or_empty(c->rec_action);
    fetch_doc(c, action, c->rec_action_get);
    free(action);
}

/* Runs verbs until one waits. Long because it is the one switch over every verb. */
static void run(struct recd_engine_call *c)
{
    while (c->wait == W_NONE && !c->sip_ended) {
        if (!c->doc || c->pc >= c->doc->n_verbs) {
            hangup(c); /* the end of the document ends the call, as on Twilio */
            return;
        }
        const struct recd_twiml_verb *v = &c->doc->verbs[c->pc];
        if (!c->answered && v->type != RECD_TWIML_REJECT) {
            if (!c->answer_sent) {
                c->answer_sent = true;
                c->io.answer(c->io.arg);
            }
            c->wait = W_ANSWER;
            return;
        }
        switch (v->type) {
        case RECD_TWIML_SAY:
        case RECD_TWIML_PLAY:
        case RECD_TWIML_PAUSE:
            c->redirects = 0;
            c->loop_i = 0;
            c->wait = W_PLAY;
            play_verb(c, v);
            break;
        case RECD_TWIML_GATHER:
            c->redirects = 0;
            gather_start(c, &v->u.gather);
            break;
        case RECD_TWIML_RECORD:
            c->redirects = 0;
            record_start(c, &v->u.record);
            break;
        case RECD_TWIML_HANGUP: hangup(c); break;
        case RECD_TWIML_REJECT:
            if (c->answered) {
                hangup(c); /* after the answer it can only end the call */
                break;
            }
            c->status = v->u.reject == RECD_TWIML_BUSY ? "busy" : "no-answer";
            c->wait = W_HANGUP;
            c->io.reject(c->io.arg, v->u.reject == RECD_TWIML_BUSY);
            break;
        case RECD_TWIML_REDIRECT: {
            if (++c->redirects > RECD_ENGINE_MAX_REDIRECTS) {
                app_error(c, RECD_ENGINE_E_REDIRECTS, "too many <Redirect>s in a row without a verb between");
                run_error_doc(c);
                return;
            }
            char url[RECD_TWIML_MAX_URL + 1];
            if (resolve(c, v->u.redirect.url, url, sizeof url) < 0) {
                doc_failed(c, RECD_TWIML_E_URL,
                           "<Redirect> URL cannot be resolved against the document's URL");
                return;
            }
            clear_extra(c);
            fetch_doc(c, url, v->u.redirect.method == RECD_TWIML_GET);
            break;
        }
        default: c->pc++; break;
        }
    }
}

int recd_engine_call_new(const struct recd_engine_call_info *info, const struct recd_engine_io *io,
                         struct recd_engine_call **out)
{
    *out = NULL;
    if (!info->account_sid || !info->call_sid || !info->voice_url || !info->base_url || !io->row ||
        !io->fetch || !io->answer || !io->reject || !io->hangup || !io->play || !io->play_clear ||
        !io->rec_start || !io->rec_pause || !io->rec_resume || !io->rec_drop_tail || !io->rec_finish ||
        !io->finished || !io->now_us || !io->mono_ms)
        return RECD_E_BAD_INPUT;
    char probe[RECD_TWIML_MAX_URL + 1];
    if (recd_twiml_resolve_url(info->voice_url, info->voice_url, probe, sizeof probe) < 0)
        return RECD_E_BAD_INPUT;
    struct recd_engine_call *c = calloc(1, sizeof *c);
    if (!c)
        return RECD_E_INTERNAL;
    c->io = *io;
    c->account_sid = dup_or_empty(info->account_sid);
    c->call_sid = dup_or_empty(info->call_sid);
    c->from = dup_or_empty(info->from);
    c->to = dup_or_empty(info->to);
    c->voice_url = dup_or_empty(info->voice_url);
    c->voice_get = info->voice_get;
    c->fallback_url = dup_or_empty(info->fallback_url);
    c->fallback_get = info->fallback_get;
    c->status_callback = dup_or_empty(info->status_callback);
    c->status_callback_get = info->status_callback_get;
    c->base_url = dup_or_empty(info->base_url);
    size_t bl = strlen(c->base_url);
    while (bl && c->base_url[bl - 1] == '/')
        c->base_url[--bl] = '\0';
    c->status = "ringing";
    c->deadline_ms = INT64_MAX;
    *out = c;
    write_row(c, true);
    fetch_doc(c, c->voice_url, c->voice_get);
    return 0;
}

void recd_engine_call_free(struct recd_engine_call *c)
{
    if (!c)
        return;
    clear_extra(c);
    recd_twiml_free(c->doc);
    for (size_t i = 0; i < RECD_ENGINE_MAX_LIVE; i++)
        free(c->live[i].callback);
    free(c->account_sid);
    free(c->call_sid);
    free(c->from);
    free(c->to);
    free(c->voice_url);
    free(c->fallback_url);
    free(c->status_callback);
    free(c->base_url);
    free(c->doc_url);
    free(c->fetch_url);
    free(c->rec_action);
    free(c->rec_callback);
    free(c);
}

void recd_engine_answered(struct recd_engine_call *c)
{
    if (c->answered || c->sip_ended || !c->answer_sent)
        return;
    c->answered = true;
    c->status = "in-progress";
    c->start_us = c->io.now_us(c->io.arg);
    c->answered_ms = mono(c);
    write_row(c, false);
    if (c->wait == W_ANSWER) {
        c->wait = W_NONE;
        run(c);
    }
}

void recd_engine_digit(struct recd_engine_call *c, char digit)
{
    if (c->sip_ended)
        return;
    if (c->wait == W_GATHER) {
        const struct recd_twiml_gather *g = &c->doc->verbs[c->pc].u.gather;
        if (c->gather_prompt) {
            /* The first key interrupts the prompt, as Twilio's bargeIn does for DTMF. */
            c->play_token = 0;
            c->io.play_clear(c->io.arg);
        }
        c->gather_prompt = false;
        if (g->finish_on_key && digit == g->finish_on_key) {
            gather_end(c, digit);
            return;
        }
        if (c->n_digits < RECD_TWIML_MAX_DIGITS) {
            c->digits[c->n_digits++] = digit;
            c->digits[c->n_digits] = '\0';
        }
        if ((g->num_digits && c->n_digits >= g->num_digits) || c->n_digits == RECD_TWIML_MAX_DIGITS) {
            gather_end(c, '\0');
            return;
        }
        gather_input_wait(c);
        return;
    }
    if (c->wait == W_RECORDING) {
        const struct recd_twiml_record *rv = &c->doc->verbs[c->pc].u.record;
        if (!memchr(rv->finish_on_key.p, digit, rv->finish_on_key.n))
            return; /* other keys are part of what is recorded */
        c->io.rec_drop_tail(c->io.arg, RECD_ENGINE_SLOT_VERB, RECD_ENGINE_TONE_DROP_MS);
        c->rec_key[0] = digit;
        c->rec_key[1] = '\0';
        record_end(c, c->rec_key);
    }
    /* Anywhere else Twilio ignores keys. */
}

void recd_engine_audio(struct recd_engine_call *c, unsigned ms, bool silent)
{
    if (c->wait != W_RECORDING || c->sip_ended)
        return;
    const struct recd_twiml_record *rv = &c->doc->verbs[c->pc].u.record;
    c->rec_ms += ms;
    c->rec_silent_ms = silent ? c->rec_silent_ms + ms : 0;
    if (rv->timeout && c->rec_silent_ms >= rv->timeout * 1000u)
        record_end(c, NULL);
    else if (c->rec_ms >= rv->max_length * 1000u)
        record_end(c, NULL);
}

void recd_engine_play_done(struct recd_engine_call *c, uint64_t token, int err)
{
    if (token == 0 || token != c->play_token || c->sip_ended)
        return;
    c->play_token = 0;
    if (c->wait == W_REC_BEEP) {
        record_begin(c);
        return;
    }
    const struct recd_twiml_verb *v;
    if (c->wait == W_PLAY)
        v = &c->doc->verbs[c->pc];
    else if (c->wait == W_GATHER && c->gather_prompt)
        v = &c->doc->verbs[c->pc].u.gather.nested[c->nested_i];
    else
        return;
    if (err < 0) {
        char msg[160];
        snprintf(msg, sizeof msg, "<%s> on line %u could not be played (%s)", recd_twiml_verb_name(v->type),
                 v->line, recd_err_name(err));
        log_app(c, RECD_ENGINE_E_HTTP, msg);
    }
    c->loop_i++;
    bool more = err == 0 && c->loop_i < loops(v);
    if (c->wait == W_PLAY) {
        if (more) {
            play_verb(c, v);
            return;
        }
        c->wait = W_NONE;
        c->pc++;
        run(c);
        return;
    }
    const struct recd_twiml_gather *g = &c->doc->verbs[c->pc].u.gather;
    if (!more) {
        c->loop_i = 0;
        if (++c->nested_i == g->n_nested) {
            gather_input_wait(c);
            return;
        }
    }
    play_verb(c, &g->nested[c->nested_i]);
}

static void live_done(struct recd_engine_call *c, unsigned slot, const struct recd_engine_rec_result *r)
{
    struct live *l = &c->live[slot - 1];
    if (l->state == LIVE_FREE)
        return;
    rec_status_callback(c, l->callback, l->callback_get, l->events, l->sid, "StartCallRecordingAPI",
                        l->channels, r->status, r);
    l->state = LIVE_FREE;
    finish_if_done(c);
}

void recd_engine_rec_done(struct recd_engine_call *c, unsigned slot, const struct recd_engine_rec_result *r)
{
    if (slot == RECD_ENGINE_SLOT_VERB)
        record_done(c, r);
    else if (slot <= RECD_ENGINE_MAX_LIVE)
        live_done(c, slot, r);
}

void recd_engine_ended(struct recd_engine_call *c)
{
    if (c->sip_ended)
        return;
    c->sip_ended = true;
    c->end_us = c->io.now_us(c->io.arg);
    if (c->answered)
        c->status = "completed";
    else if (strcmp(c->status, "ringing") == 0)
        c->status = "no-answer"; /* the caller gave up before the document answered */
    write_row(c, false);
    c->deadline_ms = INT64_MAX;
    c->play_token = 0;
    for (unsigned i = 0; i < RECD_ENGINE_MAX_LIVE; i++) {
        if (c->live[i].state == LIVE_RECORDING || c->live[i].state == LIVE_PAUSED) {
            c->live[i].state = LIVE_STOPPING;
            c->io.rec_finish(c->io.arg, i + 1);
        }
    }
    switch (c->wait) {
    case W_RECORDING:
        /* Twilio still requests action, with Digits=hangup; its answer is ignored. */
        record_end(c, "hangup");
        break;
    case W_FETCH: c->fetch_ignore = true; break;
    case W_REC_RESULT: break;
    default: c->wait = W_DONE; break;
    }
    finish_if_done(c);
}

/* Once the SIP call is over and no request or recording is outstanding: the status callback. */
static void finish_if_done(struct recd_engine_call *c)
{
    if (c->finished || !c->sip_ended || c->wait != W_DONE)
        return;
    for (unsigned i = 0; i < RECD_ENGINE_MAX_LIVE; i++)
        if (c->live[i].state != LIVE_FREE)
            return;
    c->finished = true;
    if (c->status_callback[0]) {
        char dur[24], ts[32];
        int64_t ms = c->answered ? (c->end_us - c->start_us) / 1000 : 0;
        snprintf(dur, sizeof dur, "%lld", (long long)((ms + 500) / 1000));
        recd_time_rfc2822(c->end_us, ts);
        struct recd_engine_param p[] = {
            {"CallDuration", dur},
            {"Timestamp", ts},
            {"CallbackSource", "call-progress-events"},
            {"SequenceNumber", "0"},
        };
        notify(c, c->status_callback, c->status_callback_get, p, sizeof p / sizeof p[0]);
    }
    c->io.finished(c->io.arg);
}

void recd_engine_tick(struct recd_engine_call *c)
{
    if (c->sip_ended)
        return;
    int64_t now = mono(c);
    if (c->answered && c->wait != W_HANGUP && now >= c->answered_ms + RECD_ENGINE_MAX_CALL_MS) {
        log_app(c, 0, "the call reached recd's time limit of 4 hours");
        if (c->wait == W_RECORDING) {
            record_end(c, NULL);
            return;
        }
        if (c->wait == W_PLAY || c->wait == W_GATHER || c->wait == W_REC_BEEP)
            c->io.play_clear(c->io.arg);
        c->play_token = 0;
        hangup(c);
        return;
    }
    if (now < c->deadline_ms)
        return;
    if (c->wait == W_GATHER && !c->gather_prompt)
        gather_end(c, '\0');
    else if (c->wait == W_RECORDING)
        record_end(c, NULL);
}

int64_t recd_engine_deadline(const struct recd_engine_call *c)
{
    if (c->sip_ended)
        return INT64_MAX;
    int64_t d = c->deadline_ms;
    if (c->answered && c->wait != W_HANGUP && c->answered_ms + RECD_ENGINE_MAX_CALL_MS < d)
        d = c->answered_ms + RECD_ENGINE_MAX_CALL_MS;
    return d;
}

static bool in_progress(const struct recd_engine_call *c)
{
    return c->answered && !c->sip_ended && c->wait != W_HANGUP;
}

int recd_engine_live_start(struct recd_engine_call *c, const struct recd_engine_live_opts *o,
                           char sid[RECD_SID_LEN + 1])
{
    if (!in_progress(c))
        return RECD_E_CALL_STATE;
    unsigned i = 0;
    while (i < RECD_ENGINE_MAX_LIVE && c->live[i].state != LIVE_FREE)
        i++;
    if (i == RECD_ENGINE_MAX_LIVE)
        return RECD_E_RATE_LIMITED;
    unsigned track = o->track <= RECD_ENGINE_TRACK_BOTH ? o->track : RECD_ENGINE_TRACK_BOTH;
    /* One track is one channel, whatever RecordingChannels says: there is no second side. */
    struct recd_engine_rec_opts ro = {.slot = i + 1,
                                      .source = "StartCallRecordingAPI",
                                      .trim_silence = o->trim_silence,
                                      .channels = o->channels == 2 && track == RECD_ENGINE_TRACK_BOTH ? 2 : 1,
                                      .track = track};
    struct live *l = &c->live[i];
    int rc = c->io.rec_start(c->io.arg, &ro, l->sid);
    if (rc < 0)
        return rc;
    l->state = LIVE_RECORDING;
    set_str(&l->callback, o->status_callback && o->status_callback[0] ? o->status_callback : NULL);
    l->callback_get = o->status_callback_get;
    l->events = o->events ? o->events : RECD_TWIML_EVENT_COMPLETED;
    l->order = ++c->live_order;
    l->channels = ro.channels;
    l->track = track;
    memcpy(sid, l->sid, RECD_SID_LEN + 1);
    rec_status_callback(c, l->callback, l->callback_get, l->events, l->sid, "StartCallRecordingAPI",
                        l->channels, "in-progress", NULL);
    return (int)ro.slot;
}

static struct live *live_find(const struct recd_engine_call *c, const char *sid)
{
    const struct live *best = NULL;
    bool current = strcmp(sid, "Twilio.CURRENT") == 0;
    for (unsigned i = 0; i < RECD_ENGINE_MAX_LIVE; i++) {
        const struct live *l = &c->live[i];
        if (l->state != LIVE_RECORDING && l->state != LIVE_PAUSED)
            continue;
        if (current ? (!best || l->order > best->order) : strcmp(l->sid, sid) == 0)
            best = l;
    }
    return (struct live *)best; /* the caller's constness decides */
}

int recd_engine_live_track(const struct recd_engine_call *c, const char *sid)
{
    const struct live *l = live_find(c, sid);
    return l ? (int)l->track : -1;
}

const char *recd_engine_live_current(const struct recd_engine_call *c)
{
    const struct live *l = live_find(c, "Twilio.CURRENT");
    return l ? l->sid : NULL;
}

int recd_engine_live_cmd(struct recd_engine_call *c, const char *sid, enum recd_engine_live_cmd cmd,
                         bool skip)
{
    struct live *l = live_find(c, sid);
    if (!l)
        return RECD_E_NOT_FOUND;
    if (!in_progress(c))
        return RECD_E_CALL_STATE;
    unsigned slot = (unsigned)(l - c->live) + 1;
    switch (cmd) {
    case RECD_ENGINE_LIVE_PAUSE:
        if (l->state == LIVE_RECORDING) {
            l->state = LIVE_PAUSED;
            c->io.rec_pause(c->io.arg, slot, skip);
        }
        return 0;
    case RECD_ENGINE_LIVE_RESUME:
        if (l->state == LIVE_PAUSED) {
            l->state = LIVE_RECORDING;
            c->io.rec_resume(c->io.arg, slot);
        }
        return 0;
    case RECD_ENGINE_LIVE_STOP:
        l->state = LIVE_STOPPING;
        c->io.rec_finish(c->io.arg, slot);
        return 0;
    }
    return RECD_E_BAD_INPUT;
}

const char *recd_engine_live_status(const struct recd_engine_call *c, const char *sid)
{
    for (unsigned i = 0; i < RECD_ENGINE_MAX_LIVE; i++) {
        const struct live *l = &c->live[i];
        if (l->state == LIVE_FREE || strcmp(l->sid, sid) != 0)
            continue;
        return l->state == LIVE_RECORDING ? "in-progress" : l->state == LIVE_PAUSED ? "paused" : "stopped";
    }
    return NULL;
}

const char *recd_engine_call_status(const struct recd_engine_call *c)
{
    return c->status;
}
