#include "voice/engine.h"

#include "core/error.h"
#include "voice/twiml.h"

#include "unit.h"

/*
 * The call engine driven as a state machine: a fake io writes every action as one line of text
 * ("fetch POST http://app/voice |AccountSid=…|…|"), the tests feed events and assert on the lines
 * in order, byte for byte, so a reordered callback or a missing parameter fails.
 */

#define MAX_ACTS 256

static struct fake {
    char acts[MAX_ACTS][2048];
    size_t n, rd;
    int64_t now_ms;
    uint64_t fetch_token, play_token;
    char fetch_url[1024];
    unsigned sids;
    int rec_start_rc;
    int err; /* the error code the call's row should carry */
    bool finished;
} F;

static void add(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void add(const char *fmt, ...)
{
    assert_true(F.n < MAX_ACTS);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(F.acts[F.n++], sizeof F.acts[0], fmt, ap);
    va_end(ap);
}

static int64_t f_now_us(void *arg)
{
    (void)arg;
    return INT64_C(1700000000000000) + F.now_ms * 1000;
}

static int64_t f_mono_ms(void *arg)
{
    (void)arg;
    return F.now_ms;
}

static void f_row(void *arg, const struct recd_engine_row *r, bool insert)
{
    (void)arg;
    add("row %s %s start=%lld end=%lld dur=%lld err=%d", insert ? "insert" : "update", r->status,
        (long long)(r->start_us ? (r->start_us - INT64_C(1700000000000000)) / 1000 : -1),
        (long long)(r->end_us ? (r->end_us - INT64_C(1700000000000000)) / 1000 : -1),
        (long long)r->duration_ms, r->error_code);
}

static void f_fetch(void *arg, const struct recd_engine_request *req)
{
    (void)arg;
    char line[2048];
    int k = snprintf(line, sizeof line, "%s %s %s |",
                     req->kind == RECD_ENGINE_FETCH_DOCUMENT ? "fetch" : "notify",
                     req->method_get ? "GET" : "POST", req->url);
    for (size_t i = 0; i < req->n_params; i++)
        k += snprintf(line + k, sizeof line - (size_t)k, "%s=%s|", req->params[i].name, req->params[i].value);
    add("%s", line);
    if (req->kind == RECD_ENGINE_FETCH_DOCUMENT) {
        F.fetch_token = req->token;
        snprintf(F.fetch_url, sizeof F.fetch_url, "%s", req->url);
    }
}

static void f_answer(void *arg)
{
    (void)arg;
    add("answer");
}

static void f_reject(void *arg, bool busy)
{
    (void)arg;
    add("reject %s", busy ? "busy" : "rejected");
}

static void f_hangup(void *arg)
{
    (void)arg;
    add("hangup");
}

static void f_play(void *arg, const struct recd_engine_play *p)
{
    (void)arg;
    F.play_token = p->token;
    switch (p->kind) {
    case RECD_ENGINE_PLAY_SAY: add("say %s/%s %s", p->voice, p->language, p->text); break;
    case RECD_ENGINE_PLAY_URL: add("play %s", p->url); break;
    case RECD_ENGINE_PLAY_BEEP: add("beep"); break;
    case RECD_ENGINE_PLAY_SILENCE: add("silence %u", p->ms); break;
    case RECD_ENGINE_PLAY_DIGITS: add("digits %s", p->digits); break;
    }
}

static void f_play_clear(void *arg)
{
    (void)arg;
    add("play_clear");
}

static int f_rec_start(void *arg, const struct recd_engine_rec_opts *o, char sid[RECD_SID_LEN + 1])
{
    (void)arg;
    if (F.rec_start_rc)
        return F.rec_start_rc;
    snprintf(sid, RECD_SID_LEN + 1, "RE%032u", ++F.sids);
    if (o->slot == RECD_ENGINE_SLOT_VERB)
        assert_non_null(o->finish_on_key);
    else
        assert_null(o->finish_on_key);
    add("rec_start %u %s trim=%d transcribe=%d%s%s", o->slot, o->source, o->trim_silence, o->transcribe,
        o->transcribe_callback ? " " : "", o->transcribe_callback ? o->transcribe_callback : "");
    return 0;
}

static void f_rec_pause(void *arg, unsigned slot, bool skip)
{
    (void)arg;
    add("rec_pause %u skip=%d", slot, skip);
}

static void f_rec_resume(void *arg, unsigned slot)
{
    (void)arg;
    add("rec_resume %u", slot);
}

static void f_rec_drop_tail(void *arg, unsigned slot, unsigned ms)
{
    (void)arg;
    add("rec_drop_tail %u %u", slot, ms);
}

static void f_rec_finish(void *arg, unsigned slot)
{
    (void)arg;
    add("rec_finish %u", slot);
}

static void f_log(void *arg, int code, const char *msg)
{
    (void)arg;
    add("log %d %s", code, msg);
}

static void f_finished(void *arg)
{
    (void)arg;
    assert_false(F.finished);
    F.finished = true;
    add("finished");
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
    .rec_resume = f_rec_resume,
    .rec_drop_tail = f_rec_drop_tail,
    .rec_finish = f_rec_finish,
    .log = f_log,
    .finished = f_finished,
};

#define AC        "AC0123456789abcdef0123456789abcdef"
#define CA        "CA0123456789abcdef0123456789abcdef"
#define BASE      "|AccountSid=" AC "|ApiVersion=2010-04-01|CallSid=" CA "|CallStatus="
#define WHO       "|Called=+15550001|Caller=+15559999|Direction=inbound|From=+15559999|To=+15550001|"
#define P_RINGING BASE "ringing" WHO
#define P_IN      BASE "in-progress" WHO
#define P_DONE    BASE "completed" WHO
#define RE1       "RE00000000000000000000000000000001"
#define RURL1     "http://rec.example:8080/2010-04-01/Accounts/" AC "/Recordings/" RE1

static struct recd_engine_call *C;

static int setup(void **state)
{
    (void)state;
    memset(&F, 0, sizeof F);
    F.now_ms = 1000;
    C = NULL;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    recd_engine_call_free(C);
    C = NULL;
    return 0;
}

/* The next action, which must be `want`. */
static void expect(const char *want)
{
    if (F.rd >= F.n) {
        print_error("no more actions, want \"%s\"\n", want);
        fail();
    }
    const char *got = F.acts[F.rd++];
    if (strcmp(got, want) != 0) {
        print_error("action %zu\ngot  %s\nwant %s\n", F.rd - 1, got, want);
        fail();
    }
    if (F.rd == F.n) /* all read: start again, so that long loops fit */
        F.rd = F.n = 0;
}

static void expect_none(void)
{
    if (F.rd < F.n) {
        print_error("unexpected action: %s\n", F.acts[F.rd]);
        fail();
    }
}

static void start_with(const char *fallback, const char *status_cb)
{
    struct recd_engine_call_info info = {
        .account_sid = AC,
        .call_sid = CA,
        .from = "+15559999",
        .to = "+15550001",
        .voice_url = "http://app.example/ivr/voice",
        .fallback_url = fallback,
        .fallback_get = true,
        .status_callback = status_cb,
        .base_url = "http://rec.example:8080/",
    };
    assert_int_equal(recd_engine_call_new(&info, &IO, &C), 0);
    expect("row insert ringing start=-1 end=-1 dur=0 err=0");
    expect("fetch POST http://app.example/ivr/voice " P_RINGING);
}

static void start(void)
{
    start_with(NULL, "http://app.example/status");
}

/* Answers the outstanding fetch with `xml` from the URL it was sent to. */
static void doc(const char *xml)
{
    recd_engine_fetched(C, F.fetch_token, 0, 200, 0, xml, strlen(xml), F.fetch_url);
}

/* The answer is acknowledged; the row says in-progress with the call's error code so far
 * (F.err, which a test sets when it expects an application error). */
static void answered(void)
{
    expect("answer");
    recd_engine_answered(C);
    char want[128];
    snprintf(want, sizeof want, "row update in-progress start=%lld end=-1 dur=0 err=%d", (long long)F.now_ms,
             F.err);
    expect(want);
}

static void play_done(void)
{
    recd_engine_play_done(C, F.play_token, 0);
}

static void rec_done(unsigned slot, const char *status, int code, int64_t ms)
{
    struct recd_engine_rec_result r = {.status = status,
                                       .error_code = code,
                                       .duration_ms = ms,
                                       .start_us = INT64_C(1700000000000000),
                                       .channels = 1};
    recd_engine_rec_done(C, slot, &r);
}

/* The caller hangs up at now; the row says so. */
static void ended(const char *status, long long start, long long dur)
{
    recd_engine_ended(C);
    char want[128];
    snprintf(want, sizeof want, "row update %s start=%lld end=%lld dur=%lld err=%d", status, start,
             (long long)F.now_ms, dur, F.err);
    expect(want);
}

static void expect_status_cb(const char *status, const char *dur)
{
    char want[1024];
    snprintf(
        want, sizeof want,
        "notify POST http://app.example/status " BASE "%s" WHO
        "CallDuration=%s|Timestamp=Tue, 14 Nov 2023 22:13:%02lld +0000|CallbackSource=call-progress-events|"
        "SequenceNumber=0|",
        status, dur, (long long)(20 + F.now_ms / 1000));
    expect(want);
    expect("finished");
    assert_true(F.finished);
}

/* A voicemail: <Say>, beep, <Record> ended by '#', the action with every parameter, callbacks
 * for in-progress and completed, then the caller hangs up. */
static void test_voicemail(void **state)
{
    (void)state;
    start();
    doc("<Response><Say>Leave a message</Say><Record action=\"done\" recordingStatusCallback=\"/rsc\" "
        "recordingStatusCallbackEvent=\"in-progress completed absent\"/></Response>");
    answered();
    expect("say man/en Leave a message");
    expect_none();
    play_done();
    expect("beep");
    play_done();
    expect("rec_start 0 RecordVerb trim=1 transcribe=0");
    expect("notify POST http://app.example/rsc " P_IN "RecordingSid=" RE1 "|RecordingUrl=" RURL1
           "|RecordingStatus=in-progress|RecordingSource=RecordVerb|RecordingChannels=1|");
    for (int i = 0; i < 3; i++)
        recd_engine_audio(C, 1000, false);
    recd_engine_digit(C, '5'); /* not finishOnKey? it is: the default is every key */
    expect("rec_drop_tail 0 100");
    expect("rec_finish 0");
    recd_engine_digit(C, '#'); /* keys after the end do nothing */
    recd_engine_audio(C, 1000, false);
    expect_none();
    rec_done(0, "completed", 0, 3020);
    expect("notify POST http://app.example/rsc " P_IN "RecordingSid=" RE1 "|RecordingUrl=" RURL1
           "|RecordingStatus=completed|RecordingSource=RecordVerb|RecordingChannels=1|RecordingDuration=3|"
           "RecordingStartTime=Tue, 14 Nov 2023 22:13:20 +0000|ErrorCode=0|");
    expect("fetch POST http://app.example/ivr/done " P_IN "RecordingUrl=" RURL1 "|RecordingSid=" RE1
           "|RecordingDuration=3|Digits=5|");
    doc("<Response><Say voice=\"alice\" loop=\"2\">Bye</Say></Response>");
    expect("say alice/en-US Bye");
    play_done();
    expect("say alice/en-US Bye");
    play_done();
    expect("hangup"); /* the end of the document */
    F.now_ms = 9000;
    ended("completed", 1000, 8000);
    expect_status_cb("completed", "8");
    expect_none();
}

/* Silence ends it after `timeout` seconds of silence in a row; no Digits; no beep. */
static void test_record_silence(void **state)
{
    (void)state;
    start();
    doc("<Response><Record timeout=\"2\" playBeep=\"false\" finishOnKey=\"*\"/><Hangup/></Response>");
    answered();
    expect("rec_start 0 RecordVerb trim=1 transcribe=0");
    recd_engine_audio(C, 1500, true);
    recd_engine_audio(C, 20, false); /* speech resets the count */
    recd_engine_digit(C, '1');       /* not a finishOnKey: recorded */
    recd_engine_audio(C, 1980, true);
    expect_none();
    recd_engine_audio(C, 20, true);
    expect("rec_finish 0");
    rec_done(0, "completed", 0, 3520);
    expect("fetch POST http://app.example/ivr/voice " P_IN "RecordingUrl=" RURL1 "|RecordingSid=" RE1
           "|RecordingDuration=4|");
    doc("<Response/>");
    expect("hangup");
    ended("completed", 1000, 0);
    expect_status_cb("completed", "0");
}

/* maxLength ends it by audio length; trim and transcribe are passed to the recorder. */
static void test_record_max_length(void **state)
{
    (void)state;
    start();
    doc("<Response><Record maxLength=\"2\" playBeep=\"false\" trim=\"do-not-trim\" transcribe=\"true\" "
        "transcribeCallback=\"t\" timeout=\"0\" method=\"GET\"/></Response>");
    answered();
    expect("rec_start 0 RecordVerb trim=0 transcribe=1 http://app.example/ivr/t");
    recd_engine_audio(C, 1000, true);
    recd_engine_audio(C, 980, true); /* timeout="0": silence never ends it */
    expect_none();
    recd_engine_audio(C, 20, true);
    expect("rec_finish 0");
    rec_done(0, "completed", 0, 2000);
    expect("fetch GET http://app.example/ivr/voice " P_IN "RecordingUrl=" RURL1 "|RecordingSid=" RE1
           "|RecordingDuration=2|");
}

/* A caller who sends no audio: the clock ends the recording at maxLength plus a margin. */
static void test_record_clock_backstop(void **state)
{
    (void)state;
    start();
    doc("<Response><Record maxLength=\"10\" playBeep=\"false\"/></Response>");
    answered();
    expect("rec_start 0 RecordVerb trim=1 transcribe=0");
    assert_int_equal(recd_engine_deadline(C), 1000 + 12000);
    F.now_ms = 12999;
    recd_engine_tick(C);
    expect_none();
    F.now_ms = 13000;
    recd_engine_tick(C);
    expect("rec_finish 0");
}

/* Hangup mid-record: the recording is finished, action still requested with Digits=hangup and
 * CallStatus=completed, its TwiML ignored, then the status callback. */
static void test_record_hangup(void **state)
{
    (void)state;
    start();
    doc("<Response><Record playBeep=\"false\" action=\"http://other.example/a?x=1\"/><Say>never</Say>"
        "</Response>");
    answered();
    expect("rec_start 0 RecordVerb trim=1 transcribe=0");
    recd_engine_audio(C, 2000, false);
    F.now_ms = 3000;
    ended("completed", 1000, 2000);
    expect("rec_finish 0");
    expect_none();
    assert_false(F.finished);
    rec_done(0, "completed", 0, 2000);
    expect("fetch POST http://other.example/a?x=1 " P_DONE "RecordingUrl=" RURL1 "|RecordingSid=" RE1
           "|RecordingDuration=2|Digits=hangup|");
    assert_false(F.finished);
    doc("<Response><Say>ignored</Say></Response>");
    expect_status_cb("completed", "2");
    expect_none();
}

/* An absent recording: the absent callback with its code, no action, on to the next verb. */
static void test_record_absent(void **state)
{
    (void)state;
    start();
    doc("<Response><Record playBeep=\"false\" timeout=\"1\" recordingStatusCallback=\"http://cb.example/r\" "
        "recordingStatusCallbackMethod=\"GET\" recordingStatusCallbackEvent=\"absent\"/><Say>after</Say>"
        "</Response>");
    answered();
    expect("rec_start 0 RecordVerb trim=1 transcribe=0");
    recd_engine_audio(C, 1000, true);
    expect("rec_finish 0");
    rec_done(0, "absent", 16102, 0);
    expect("notify GET http://cb.example/r " P_IN "RecordingSid=" RE1 "|RecordingUrl=" RURL1
           "|RecordingStatus=absent|RecordingSource=RecordVerb|RecordingChannels=1|RecordingDuration=0|"
           "RecordingStartTime=Tue, 14 Nov 2023 22:13:20 +0000|ErrorCode=16102|");
    expect("say man/en after");
}

/* Absent after a hangup: no action at all, the call just ends. The default callback event
 * (completed) does not include absent. */
static void test_record_absent_hangup(void **state)
{
    (void)state;
    start();
    doc("<Response><Record recordingStatusCallback=\"/r\"/></Response>");
    answered();
    expect("beep");
    play_done();
    expect("rec_start 0 RecordVerb trim=1 transcribe=0");
    ended("completed", 1000, 0);
    expect("rec_finish 0");
    rec_done(0, "absent", 16101, 0);
    expect_status_cb("completed", "0");
}

/* A hangup during the beep: nothing was recorded, nothing to ask. */
static void test_record_hangup_in_beep(void **state)
{
    (void)state;
    start();
    doc("<Response><Record/></Response>");
    answered();
    expect("beep");
    ended("completed", 1000, 0);
    expect_status_cb("completed", "0");
    play_done(); /* late */
    expect_none();
}

/* The recorder cannot start: logged on the call, the document goes on. */
static void test_record_start_fails(void **state)
{
    (void)state;
    start();
    doc("<Response><Record playBeep=\"false\"/><Say>next</Say></Response>");
    F.rec_start_rc = RECD_E_NO_SPACE;
    answered();
    expect("log 12400 <Record> could not start a recording (NO_SPACE)");
    expect("row update in-progress start=1000 end=-1 dur=0 err=12400");
    expect("say man/en next");
}

/* The caller hangs up while the first document is being fetched: no answer, no-answer row, the
 * late document is ignored, and the status callback waits for it. */
static void test_hangup_mid_fetch(void **state)
{
    (void)state;
    start();
    ended("no-answer", -1, 0);
    expect_none();
    assert_false(F.finished);
    doc("<Response><Say>late</Say></Response>");
    expect_status_cb("no-answer", "0");
    expect_none();
}

/* A <Redirect> loop ends with 11215 and the error message. */
static void test_redirect_loop(void **state)
{
    (void)state;
    start();
    doc("<Response><Say>hi</Say><Redirect method=\"GET\">loop</Redirect></Response>");
    answered();
    expect("say man/en hi");
    play_done();
    for (int i = 0; i < RECD_ENGINE_MAX_REDIRECTS; i++) {
        expect("fetch GET http://app.example/ivr/loop " P_IN);
        doc("<Response><Redirect method=\"GET\">loop</Redirect></Response>");
    }
    expect("log 11215 too many <Redirect>s in a row without a verb between");
    expect("row update in-progress start=1000 end=-1 dur=0 err=11215");
    expect("say man/en " RECD_ENGINE_ERROR_TEXT);
    play_done();
    expect("hangup");
}

/* Redirects with a verb between are not a loop; relative URLs resolve against the URL that
 * answered, and POST is the default. A document that begins with <Redirect> answers the call
 * (only <Reject> first does not, as on Twilio). */
static void test_redirect_relative(void **state)
{
    (void)state;
    start();
    doc("<Response><Redirect>../menu/x.xml?a=1</Redirect></Response>");
    answered();
    expect("fetch POST http://app.example/menu/x.xml?a=1 " P_IN);
    recd_engine_fetched(C, F.fetch_token, 0, 200, 0, LIT("<Response><Redirect>y</Redirect></Response>"),
                        "https://moved.example/p/q");
    expect("fetch POST https://moved.example/p/y " P_IN);
    doc("<Response><Pause length=\"2\"/><Redirect>/z</Redirect></Response>");
    expect("silence 2000");
    play_done();
    expect("fetch POST https://moved.example/z " P_IN);
}

/* Invalid TwiML: 12100 on the row, the fallback URL asked (its method, ErrorCode, ErrorUrl), and
 * its document runs. */
static void test_bad_twiml_fallback(void **state)
{
    (void)state;
    start_with("http://fb.example/fallback", NULL);
    doc("<Response><Say>unclosed</Response>");
    expect("log 12100 http://app.example/ivr/voice (line 1): malformed XML: mismatched tag");
    expect("row update ringing start=-1 end=-1 dur=0 err=12100");
    expect("fetch GET http://fb.example/fallback " P_RINGING
           "ErrorCode=12100|ErrorUrl=http://app.example/ivr/voice|");
    doc("<Response><Reject reason=\"busy\"/></Response>");
    expect("reject busy");
    F.err = 12100;
    ended("busy", -1, 0);
    expect("finished"); /* no statusCallback configured */
}

/* An unknown verb is 12100 too; the fallback fails (500): the error message, then hangup. */
static void test_unknown_verb_fallback_fails(void **state)
{
    (void)state;
    start_with("http://fb.example/fallback", NULL);
    doc("<Response><Dance/></Response>");
    F.rd = F.n - 1; /* skip the log and row lines, checked above */
    expect("fetch GET http://fb.example/fallback " P_RINGING
           "ErrorCode=12100|ErrorUrl=http://app.example/ivr/voice|");
    recd_engine_fetched(C, F.fetch_token, 0, 500, 0, LIT("oops"), "http://fb.example/fallback");
    expect("log 11200 HTTP retrieval failure: http://fb.example/fallback answered 500");
    expect("row update ringing start=-1 end=-1 dur=0 err=11200");
    F.err = 11200;
    answered();
    expect("say man/en " RECD_ENGINE_ERROR_TEXT);
    play_done();
    expect("hangup");
    ended("completed", 1000, 0);
    expect("finished");
}

/* A timeout (the webhook client's code) with no fallback: the error message at once. */
static void test_fetch_timeout_no_fallback(void **state)
{
    (void)state;
    start();
    recd_engine_fetched(C, F.fetch_token, RECD_E_UNAVAILABLE, 0, 11205, NULL, 0, NULL);
    expect("log 11205 HTTP retrieval failure: http://app.example/ivr/voice (UNAVAILABLE)");
    expect("row update ringing start=-1 end=-1 dur=0 err=11205");
    F.err = 11205;
    answered();
    expect("say man/en " RECD_ENGINE_ERROR_TEXT);
    /* A stale token and a duplicate are ignored. */
    recd_engine_fetched(C, F.fetch_token, 0, 200, 0, LIT("<Response/>"), "http://x.example/");
    recd_engine_play_done(C, F.play_token + 1, 0);
    expect_none();
}

/* Errors after the answer go to the fallback too; an empty body is 11770. */
static void test_action_empty_body(void **state)
{
    (void)state;
    start_with("http://fb.example/fallback", NULL);
    doc("<Response><Gather numDigits=\"1\"/></Response>");
    answered();
    recd_engine_digit(C, '7');
    expect("fetch POST http://app.example/ivr/voice " P_IN "Digits=7|FinishedOnKey=|");
    doc("");
    expect("log 11770 http://app.example/ivr/voice (line 0): the response body is empty");
    expect("row update in-progress start=1000 end=-1 dur=0 err=11770");
    expect("fetch GET http://fb.example/fallback " P_IN "Digits=7|FinishedOnKey=|ErrorCode=11770|"
           "ErrorUrl=http://app.example/ivr/voice|");
}

/* <Reject>: rejected is 603 and no-answer; busy is 486 and busy; after an answer it hangs up. */
static void test_reject(void **state)
{
    (void)state;
    start();
    doc("<Response><Reject/><Say>unreachable</Say></Response>");
    expect("reject rejected");
    ended("no-answer", -1, 0);
    expect_status_cb("no-answer", "0");
    recd_engine_call_free(C);
    C = NULL;
    memset(&F, 0, sizeof F);
    F.now_ms = 1000;
    start();
    doc("<Response><Say>hi</Say><Reject reason=\"busy\"/></Response>");
    answered();
    expect("say man/en hi");
    play_done();
    expect("hangup");
}

/* <Gather>: the first key interrupts the nested prompt (and a late play end is ignored); keys
 * collect until finishOnKey, which is not among the Digits. */
static void test_gather_finish_key(void **state)
{
    (void)state;
    start();
    doc("<Response><Gather action=\"/menu\" method=\"GET\" timeout=\"3\"><Say loop=\"2\">Press</Say>"
        "<Play>a.wav</Play><Pause/></Gather><Say>no input</Say></Response>");
    answered();
    expect("say man/en Press");
    play_done();
    expect("say man/en Press");
    uint64_t stale = F.play_token;
    recd_engine_digit(C, '4');
    expect("play_clear");
    recd_engine_play_done(C, stale, 0);
    expect_none();
    assert_int_equal(recd_engine_deadline(C), 1000 + 3000);
    F.now_ms = 3500;
    recd_engine_tick(C);
    recd_engine_digit(C, '2'); /* restarts the timeout */
    assert_int_equal(recd_engine_deadline(C), 3500 + 3000);
    recd_engine_digit(C, '#');
    expect("fetch GET http://app.example/menu " P_IN "Digits=42|FinishedOnKey=#|");
}

/* The whole prompt plays in order; then the timeout with no key goes on to the next verb. */
static void test_gather_timeout_empty(void **state)
{
    (void)state;
    start();
    doc("<Response><Gather><Play loop=\"1\">a.wav</Play><Pause length=\"1\"/></Gather><Say>no input</Say>"
        "</Response>");
    answered();
    expect("play http://app.example/ivr/a.wav");
    play_done();
    expect("silence 1000");
    play_done();
    assert_int_equal(recd_engine_deadline(C), 1000 + 5000);
    F.now_ms = 6000;
    recd_engine_tick(C);
    expect("say man/en no input");
}

/* actionOnEmptyResult: the action with empty Digits; numDigits ends it without a key. */
static void test_gather_empty_result_and_num_digits(void **state)
{
    (void)state;
    start();
    doc("<Response><Gather actionOnEmptyResult=\"true\" timeout=\"1\"/></Response>");
    answered();
    F.now_ms = 2000;
    recd_engine_tick(C);
    expect("fetch POST http://app.example/ivr/voice " P_IN "Digits=|FinishedOnKey=|");
    doc("<Response><Gather numDigits=\"3\" finishOnKey=\"\"/></Response>");
    recd_engine_digit(C, '#'); /* finishOnKey="" : '#' is a digit like any other */
    recd_engine_digit(C, '1');
    expect_none();
    recd_engine_digit(C, '9');
    expect("fetch POST http://app.example/ivr/voice " P_IN "Digits=#19|FinishedOnKey=|");
}

/* <Say>, <Play> loops, a <Play> that fails (logged, next verb), <Play digits>, loop="0". */
static void test_play_verbs(void **state)
{
    (void)state;
    start();
    doc("<Response><Play loop=\"2\">http://media.example/x.mp3</Play><Play loop=\"3\">bad.wav</Play>"
        "<Play digits=\"12w#\"/><Say loop=\"0\" language=\"fr-FR\" voice=\"woman\">encore</Say></Response>");
    answered();
    expect("play http://media.example/x.mp3");
    play_done();
    expect("play http://media.example/x.mp3");
    play_done();
    expect("play http://app.example/ivr/bad.wav");
    recd_engine_play_done(C, F.play_token, RECD_E_NOT_FOUND);
    expect("log 11200 <Play> on line 1 could not be played (NOT_FOUND)");
    expect("digits 12w#");
    play_done();
    for (int i = 0; i < RECD_TWIML_MAX_LOOP; i++) {
        expect("say woman/fr-FR encore");
        play_done();
    }
    expect("hangup");
}

/* Keys outside <Gather> and <Record> are ignored, as on Twilio. */
static void test_digits_ignored(void **state)
{
    (void)state;
    start();
    doc("<Response><Say>hi</Say></Response>");
    answered();
    expect("say man/en hi");
    recd_engine_digit(C, '1');
    recd_engine_audio(C, 20, false);
    expect_none();
}

/* Live recording over the API: refused before the answer, then start, pause (skip), resume,
 * stop by Twilio.CURRENT, callbacks; one still running at hangup is finished first. */
static void test_live_recording(void **state)
{
    (void)state;
    char sid[RECD_SID_LEN + 1], sid2[RECD_SID_LEN + 1];
    struct recd_engine_live_opts o = {.status_callback = "http://cb.example/live",
                                      .events = RECD_TWIML_EVENT_IN_PROGRESS | RECD_TWIML_EVENT_COMPLETED,
                                      .trim_silence = false};
    start();
    assert_int_equal(recd_engine_live_start(C, &o, sid), RECD_E_CALL_STATE);
    assert_int_equal(recd_engine_live_cmd(C, "Twilio.CURRENT", RECD_ENGINE_LIVE_STOP, false),
                     RECD_E_NOT_FOUND);
    doc("<Response><Pause length=\"60\"/></Response>");
    answered();
    expect("silence 60000");
    assert_int_equal(recd_engine_live_start(C, &o, sid), 1);
    assert_string_equal(sid, RE1);
    expect("rec_start 1 StartCallRecordingAPI trim=0 transcribe=0");
    expect("notify POST http://cb.example/live " P_IN "RecordingSid=" RE1 "|RecordingUrl=" RURL1
           "|RecordingStatus=in-progress|RecordingSource=StartCallRecordingAPI|RecordingChannels=1|");
    assert_int_equal(recd_engine_live_cmd(C, sid, RECD_ENGINE_LIVE_PAUSE, true), 0);
    expect("rec_pause 1 skip=1");
    assert_string_equal(recd_engine_live_status(C, sid), "paused");
    assert_int_equal(recd_engine_live_cmd(C, sid, RECD_ENGINE_LIVE_PAUSE, true), 0); /* no-op */
    assert_int_equal(recd_engine_live_cmd(C, "Twilio.CURRENT", RECD_ENGINE_LIVE_RESUME, false), 0);
    expect("rec_resume 1");
    expect_none();
    assert_string_equal(recd_engine_live_current(C), RE1);
    assert_int_equal(recd_engine_live_track(C, sid), RECD_ENGINE_TRACK_INBOUND); /* zero: the caller's */
    struct recd_engine_live_opts o2 = {.track = RECD_ENGINE_TRACK_OUTBOUND};
    assert_int_equal(recd_engine_live_start(C, &o2, sid2), 2);
    expect("rec_start 2 StartCallRecordingAPI trim=0 transcribe=0");
    assert_int_equal(recd_engine_live_track(C, "Twilio.CURRENT"), RECD_ENGINE_TRACK_OUTBOUND);
    assert_int_equal(recd_engine_live_cmd(C, "Twilio.CURRENT", RECD_ENGINE_LIVE_STOP, false), 0);
    assert_int_equal(recd_engine_live_track(C, sid2), -1); /* stopped: no longer live */
    expect("rec_finish 2");                                /* CURRENT is the newest */
    assert_string_equal(recd_engine_live_status(C, sid2), "stopped");
    assert_int_equal(recd_engine_live_cmd(C, sid2, RECD_ENGINE_LIVE_PAUSE, false), RECD_E_NOT_FOUND);
    rec_done(2, "completed", 0, 1000);
    expect_none(); /* no callback URL */
    assert_null(recd_engine_live_status(C, sid2));
    F.now_ms = 5000;
    ended("completed", 1000, 4000);
    expect("rec_finish 1");
    assert_int_equal(recd_engine_live_cmd(C, sid, RECD_ENGINE_LIVE_STOP, false), RECD_E_NOT_FOUND);
    assert_false(F.finished);
    rec_done(1, "completed", 0, 4000);
    expect("notify POST http://cb.example/live " P_DONE "RecordingSid=" RE1 "|RecordingUrl=" RURL1
           "|RecordingStatus=completed|RecordingSource=StartCallRecordingAPI|RecordingChannels=1|"
           "RecordingDuration=4|RecordingStartTime=Tue, 14 Nov 2023 22:13:20 +0000|ErrorCode=0|");
    expect_status_cb("completed", "4");
}

/* At most RECD_ENGINE_MAX_LIVE at once. */
static void test_live_limit(void **state)
{
    (void)state;
    char sid[RECD_SID_LEN + 1];
    struct recd_engine_live_opts o = {0};
    start();
    doc("<Response><Pause/></Response>");
    answered();
    for (int i = 1; i <= RECD_ENGINE_MAX_LIVE; i++)
        assert_int_equal(recd_engine_live_start(C, &o, sid), i);
    assert_int_equal(recd_engine_live_start(C, &o, sid), RECD_E_RATE_LIMITED);
}

/* Four hours: the call is hung up (a recording in progress is finished first). */
static void test_call_time_limit(void **state)
{
    (void)state;
    start();
    doc("<Response><Record playBeep=\"false\" timeout=\"0\" maxLength=\"14400\"/></Response>");
    answered();
    expect("rec_start 0 RecordVerb trim=1 transcribe=0");
    F.now_ms = 1000 + RECD_ENGINE_MAX_CALL_MS;
    assert_int_equal(recd_engine_deadline(C), F.now_ms);
    recd_engine_tick(C);
    expect("log 0 the call reached recd's time limit of 4 hours");
    expect("rec_finish 0");
}

/* A bad voice URL is refused before anything happens. */
static void test_new_refuses(void **state)
{
    (void)state;
    struct recd_engine_call_info info = {
        .account_sid = AC, .call_sid = CA, .voice_url = "/relative", .base_url = "http://x"};
    assert_int_equal(recd_engine_call_new(&info, &IO, &C), RECD_E_BAD_INPUT);
    assert_null(C);
    expect_none();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_voicemail, setup, teardown),
        cmocka_unit_test_setup_teardown(test_record_silence, setup, teardown),
        cmocka_unit_test_setup_teardown(test_record_max_length, setup, teardown),
        cmocka_unit_test_setup_teardown(test_record_clock_backstop, setup, teardown),
        cmocka_unit_test_setup_teardown(test_record_hangup, setup, teardown),
        cmocka_unit_test_setup_teardown(test_record_absent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_record_absent_hangup, setup, teardown),
        cmocka_unit_test_setup_teardown(test_record_hangup_in_beep, setup, teardown),
        cmocka_unit_test_setup_teardown(test_record_start_fails, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hangup_mid_fetch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_redirect_loop, setup, teardown),
        cmocka_unit_test_setup_teardown(test_redirect_relative, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_twiml_fallback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_verb_fallback_fails, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fetch_timeout_no_fallback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_action_empty_body, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reject, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gather_finish_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gather_timeout_empty, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gather_empty_result_and_num_digits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_play_verbs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_digits_ignored, setup, teardown),
        cmocka_unit_test_setup_teardown(test_live_recording, setup, teardown),
        cmocka_unit_test_setup_teardown(test_live_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_call_time_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_new_refuses, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
