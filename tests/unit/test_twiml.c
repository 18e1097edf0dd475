#include "voice/twiml.h"

#include "core/error.h"

#include "unit.h"

static struct recd_twiml_error err;

/* Parses `xml`, which must be accepted; the caller frees the document. */
static struct recd_twiml_doc *ok(const char *xml)
{
    struct recd_twiml_doc *d = NULL;
    int rc = recd_twiml_parse(xml, strlen(xml), &d, &err);
    if (rc != 0)
        print_error("refused (%d, %u:%u %s): %.200s\n", err.code, err.line, err.column, err.message, xml);
    assert_int_equal(rc, 0);
    assert_non_null(d);
    assert_int_equal(err.code, 0);
    return d;
}

/* Parses `n` bytes that must be refused with Twilio code `code`; returns the message. */
static const char *bad_n(const char *xml, size_t n, int code)
{
    struct recd_twiml_doc *d = (struct recd_twiml_doc *)&err; /* must be reset to NULL */
    int rc = recd_twiml_parse(xml, n, &d, &err);
    if (rc != RECD_E_BAD_INPUT || err.code != code)
        print_error("got rc %d code %d (%s), want %d: %.200s\n", rc, err.code, err.message, code, xml);
    assert_int_equal(rc, RECD_E_BAD_INPUT);
    assert_int_equal(err.code, code);
    assert_null(d);
    assert_true(strlen(err.message) > 0);
    assert_null(strchr(err.message, '\n'));
    return err.message;
}

static const char *bad(const char *xml, int code)
{
    return bad_n(xml, strlen(xml), code);
}

/* Evaluates `s` twice: pass a variable, not a call. */
#define assert_str(s, want) assert_bytes((s).p, (s).n, (want))

/* The one verb of `<Response>X</Response>`, in a document kept for the test's duration. */
static struct recd_twiml_doc *one_doc;
static const struct recd_twiml_verb *one(const char *inner)
{
    char xml[8192];
    snprintf(xml, sizeof xml, "<Response>%s</Response>", inner);
    recd_twiml_free(one_doc);
    one_doc = ok(xml);
    assert_int_equal(one_doc->n_verbs, 1);
    return &one_doc->verbs[0];
}

static const char *bad_one(const char *inner, int code)
{
    char xml[8192];
    snprintf(xml, sizeof xml, "<Response>%s</Response>", inner);
    return bad(xml, code);
}

static int teardown(void **state)
{
    (void)state;
    recd_twiml_free(one_doc);
    one_doc = NULL;
    return 0;
}

/* Twilio's voicemail example (docs/voice/twiml/record): say, record, say. */
static void test_voicemail_example(void **state)
{
    (void)state;
    struct recd_twiml_doc *d = ok("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                                  "<Response>\n"
                                  "    <Say>\n        Please leave a message at the beep.\n"
                                  "        Press the star key when finished.\n    </Say>\n"
                                  "    <Record maxLength=\"30\" action=\"/handle\" />\n"
                                  "    <Say>I did not receive a recording</Say>\n"
                                  "</Response>\n");
    assert_int_equal(d->n_verbs, 3);
    assert_int_equal(d->verbs[0].type, RECD_TWIML_SAY);
    assert_str(d->verbs[0].u.say.text, "Please leave a message at the beep.\n"
                                       "        Press the star key when finished.");
    assert_int_equal(d->verbs[0].line, 3);
    const struct recd_twiml_record *r = &d->verbs[1].u.record;
    assert_int_equal(d->verbs[1].type, RECD_TWIML_RECORD);
    assert_int_equal(d->verbs[1].line, 7);
    assert_int_equal(r->max_length, 30);
    assert_str(r->action, "/handle");
    assert_int_equal(r->method, RECD_TWIML_POST);
    assert_int_equal(r->timeout, 5);
    assert_str(r->finish_on_key, "1234567890*#");
    assert_true(r->play_beep);
    assert_int_equal(r->trim, RECD_TWIML_TRIM_SILENCE);
    assert_int_equal(d->verbs[2].type, RECD_TWIML_SAY);
    assert_str(d->verbs[2].u.say.text, "I did not receive a recording");
    recd_twiml_free(d);
}

static void test_record_defaults(void **state)
{
    (void)state;
    const struct recd_twiml_record *r = &one("<Record/>")->u.record;
    assert_int_equal(r->action.n, 0);
    assert_int_equal(r->method, RECD_TWIML_POST);
    assert_int_equal(r->timeout, 5);
    assert_str(r->finish_on_key, "1234567890*#");
    assert_int_equal(r->max_length, 3600);
    assert_true(r->play_beep);
    assert_int_equal(r->trim, RECD_TWIML_TRIM_SILENCE);
    assert_int_equal(r->recording_status_callback.n, 0);
    assert_int_equal(r->recording_status_callback_method, RECD_TWIML_POST);
    assert_int_equal(r->recording_status_callback_event, RECD_TWIML_EVENT_COMPLETED);
    assert_false(r->transcribe);
    assert_int_equal(r->transcribe_callback.n, 0);
    /* An element with an end tag and only white space inside is the same verb. */
    r = &one("<Record>\n  </Record>")->u.record;
    assert_int_equal(r->max_length, 3600);
}

static void test_record_every_attribute(void **state)
{
    (void)state;
    const struct recd_twiml_record *r =
        &one("<Record action=\"https://example.com/done?a=1&amp;b=2\" method=\"GET\" timeout=\"0\" "
             "finishOnKey=\"#*0\" maxLength=\"14400\" playBeep=\"false\" trim=\"do-not-trim\" "
             "recordingStatusCallback=\"../status\" recordingStatusCallbackMethod=\"GET\" "
             "recordingStatusCallbackEvent=\"in-progress completed absent\" transcribe=\"true\" "
             "transcribeCallback=\"//cb.example.com/t\"/>")
             ->u.record;
    assert_str(r->action, "https://example.com/done?a=1&b=2");
    assert_int_equal(r->method, RECD_TWIML_GET);
    assert_int_equal(r->timeout, 0);
    assert_str(r->finish_on_key, "#*0");
    assert_int_equal(r->max_length, 14400);
    assert_false(r->play_beep);
    assert_int_equal(r->trim, RECD_TWIML_DO_NOT_TRIM);
    assert_str(r->recording_status_callback, "../status");
    assert_int_equal(r->recording_status_callback_method, RECD_TWIML_GET);
    assert_int_equal(r->recording_status_callback_event,
                     RECD_TWIML_EVENT_IN_PROGRESS | RECD_TWIML_EVENT_COMPLETED | RECD_TWIML_EVENT_ABSENT);
    assert_true(r->transcribe);
    assert_str(r->transcribe_callback, "//cb.example.com/t");

    /* The other spellings of each value. */
    r = &one("<Record method=\"POST\" playBeep=\"true\" trim=\"trim-silence\" transcribe=\"false\" "
             "recordingStatusCallbackMethod=\"POST\" maxLength=\"2\" timeout=\"14400\"/>")
             ->u.record;
    assert_int_equal(r->method, RECD_TWIML_POST);
    assert_true(r->play_beep);
    assert_int_equal(r->trim, RECD_TWIML_TRIM_SILENCE);
    assert_false(r->transcribe);
    assert_int_equal(r->max_length, 2);
    assert_int_equal(r->timeout, 14400);
    /* Empty URLs are the same as none: action="" resolves to the document itself anyway. */
    r = &one("<Record action=\"\" recordingStatusCallback=\"\"/>")->u.record;
    assert_int_equal(r->action.n, 0);
    assert_int_equal(r->recording_status_callback.n, 0);
}

/* "The defaults are 3600 seconds (one hour) for a normal recording, and 120 seconds (two minutes)
 * for a transcribed recording." An explicit maxLength wins either way. */
static void test_record_transcribe_max_length(void **state)
{
    (void)state;
    assert_int_equal(one("<Record transcribe=\"true\"/>")->u.record.max_length, 120);
    assert_int_equal(one("<Record transcribe=\"false\"/>")->u.record.max_length, 3600);
    assert_int_equal(one("<Record transcribe=\"true\" maxLength=\"300\"/>")->u.record.max_length, 300);
    assert_int_equal(one("<Record maxLength=\"300\" transcribe=\"true\"/>")->u.record.max_length, 300);
    assert_int_equal(one("<Record maxLength=\"3600\" transcribe=\"true\"/>")->u.record.max_length, 3600);
    /* transcribeCallback alone does not turn transcription on ("it is no longer implicit"). */
    const struct recd_twiml_record *r = &one("<Record transcribeCallback=\"/t\"/>")->u.record;
    assert_false(r->transcribe);
    assert_int_equal(r->max_length, 3600);
}

static void test_record_events(void **state)
{
    (void)state;
    static const struct {
        const char *v;
        unsigned want;
    } cases[] = {
        {"completed", RECD_TWIML_EVENT_COMPLETED},
        {"in-progress", RECD_TWIML_EVENT_IN_PROGRESS},
        {"absent", RECD_TWIML_EVENT_ABSENT},
        {"in-progress,completed", RECD_TWIML_EVENT_IN_PROGRESS | RECD_TWIML_EVENT_COMPLETED},
        {"absent, completed", RECD_TWIML_EVENT_ABSENT | RECD_TWIML_EVENT_COMPLETED},
        {" absent  absent ", RECD_TWIML_EVENT_ABSENT},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char x[256];
        snprintf(x, sizeof x, "<Record recordingStatusCallbackEvent=\"%s\"/>", cases[i].v);
        assert_int_equal(one(x)->u.record.recording_status_callback_event, cases[i].want);
    }
    bad_one("<Record recordingStatusCallbackEvent=\"\"/>", 13621);
    bad_one("<Record recordingStatusCallbackEvent=\" , \"/>", 13621);
    bad_one("<Record recordingStatusCallbackEvent=\"completed failed\"/>", 13621);
    bad_one("<Record recordingStatusCallbackEvent=\"Completed\"/>", 13621);
    bad_one("<Record recordingStatusCallbackEvent=\"completed;absent\"/>", 13621);
}

static void test_record_invalid(void **state)
{
    (void)state;
    static const struct {
        const char *attr;
        int code;
    } cases[] = {
        {"method=\"PUT\"", 13610},
        {"method=\"get\"", 13610},
        {"method=\"\"", 13610},
        {"timeout=\"-1\"", 13611},
        {"timeout=\"5s\"", 13611},
        {"timeout=\" 5\"", 13611},
        {"timeout=\"\"", 13611},
        {"timeout=\"14401\"", 13611},
        {"timeout=\"99999999999999999999\"", 13611},
        {"maxLength=\"1\"", 13612},
        {"maxLength=\"0\"", 13612},
        {"maxLength=\"14401\"", 13612},
        {"maxLength=\"3600.5\"", 13612},
        {"finishOnKey=\"\"", 13613},
        {"finishOnKey=\"A\"", 13613},
        {"finishOnKey=\"1 2\"", 13613},
        {"transcribe=\"yes\"", 13614},
        {"transcribe=\"TRUE\"", 13614},
        {"playBeep=\"1\"", 13616},
        {"playBeep=\"\"", 13616},
        {"trim=\"all\"", 13699},
        {"trim=\"Trim-silence\"", 13699},
        {"recordingStatusCallbackMethod=\"DELETE\"", 13610},
        {"action=\"ftp://example.com/x\"", 11100},
        {"action=\"http://\"", 11100},
        {"action=\"has space\"", 11100},
        {"action=\"1x:y\"", 11100},
        {"recordingStatusCallback=\"mailto:a@b\"", 13256},
        {"transcribeCallback=\"javascript:alert(1)\"", 13257},
        {"recordingConfigurationId=\"CF123\"", 12200},
        {"maxlength=\"30\"", 12200},
        {"recordingChannels=\"dual\"", 12200},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char x[256];
        snprintf(x, sizeof x, "<Record %s/>", cases[i].attr);
        bad_one(x, cases[i].code);
    }
    assert_string_equal(bad_one("<Record maxLength=\"1\"/>", 13612),
                        "<Record maxLength=\"1\">: want a whole number from 2 to 14400");
    assert_string_equal(bad_one("<Record method=\"PUT\"/>", 13610), "<Record method=\"PUT\">: invalid value");
    assert_string_equal(bad_one("<Record maxlength=\"30\"/>", 12200), "<Record> has no attribute maxlength");
    assert_string_equal(bad_one("<Record recordingConfigurationId=\"CF1\"/>", 12200),
                        "<Record recordingConfigurationId>: recd does not do recording configurations");
    /* Nothing may be nested in <Record>. */
    bad_one("<Record>text</Record>", 12200);
    assert_string_equal(bad_one("<Record><Say>x</Say></Record>", 12200), "<Record> cannot contain <Say>");
}

static void test_say(void **state)
{
    (void)state;
    const struct recd_twiml_say *s = &one("<Say>Hello World</Say>")->u.say;
    assert_str(s->text, "Hello World");
    assert_str(s->voice, "man");
    assert_str(s->language, "en");
    assert_int_equal(s->loop, 1);

    s = &one("<Say voice=\"woman\" language=\"fr\" loop=\"2\">Chapeau!</Say>")->u.say;
    assert_str(s->voice, "woman");
    assert_str(s->language, "fr");
    assert_int_equal(s->loop, 2);

    /* Voices other than man and woman default to en-US. */
    s = &one("<Say voice=\"alice\">Hi</Say>")->u.say;
    assert_str(s->language, "en-US");
    s = &one("<Say voice=\"Polly.Joanna-Neural\" language=\"en-GB\" loop=\"0\">Hi</Say>")->u.say;
    assert_str(s->voice, "Polly.Joanna-Neural");
    assert_str(s->language, "en-GB");
    assert_int_equal(s->loop, 0);
    s = &one("<Say voice=\"Google.en-US-Standard-C\" language=\"cmn-Hans-CN\">Hi</Say>")->u.say;
    assert_str(s->voice, "Google.en-US-Standard-C");
    assert_str(s->language, "cmn-Hans-CN");

    /* Escapes, character references and CDATA are decoded; comments are not text; only the ends
     * are trimmed. */
    s = &one("<Say>  a &amp; b &lt;c&gt; &#233;&#x263A; <![CDATA[<raw> & ]]>x<!-- no -->y\n</Say>")->u.say;
    assert_str(s->text, "a & b <c> \xc3\xa9\xe2\x98\xba <raw> & xy");

    bad_one("<Say></Say>", 13520);
    bad_one("<Say/>", 13520);
    assert_string_equal(bad_one("<Say> \n\t </Say>", 13520), "<Say> has no text to say");
    bad_one("<Say voice=\"robot\">x</Say>", 13511);
    bad_one("<Say voice=\"Polly.\">x</Say>", 13511);
    bad_one("<Say voice=\"Polly.a b\">x</Say>", 13511);
    bad_one("<Say voice=\"MAN\">x</Say>", 13511);
    bad_one("<Say loop=\"-1\">x</Say>", 13510);
    bad_one("<Say loop=\"1001\">x</Say>", 13510);
    assert_int_equal(one("<Say loop=\"1000\">x</Say>")->u.say.loop, 1000);
    bad_one("<Say language=\"english\">x</Say>", 12200);
    bad_one("<Say language=\"e\">x</Say>", 12200);
    bad_one("<Say language=\"en-\">x</Say>", 12200);
    bad_one("<Say language=\"en_US\">x</Say>", 12200);
    bad_one("<Say rate=\"fast\">x</Say>", 12200);
    /* SSML is not read: an element inside <Say> is refused, not dropped. */
    assert_string_equal(bad_one("<Say>Hello <break time=\"1s\"/> there</Say>", 12200),
                        "<Say> cannot contain <break>");
}

/* "Limited to 4KB": recd counts characters, so 4096 two-byte characters are fine. */
static void test_say_length(void **state)
{
    (void)state;
    static char xml[4 * RECD_TWIML_MAX_SAY + 64];
    size_t n = (size_t)sprintf(xml, "<Response><Say>");
    for (int i = 0; i < RECD_TWIML_MAX_SAY; i++)
        n += (size_t)sprintf(xml + n, "\xc3\xa9");
    strcpy(xml + n, "</Say></Response>");
    struct recd_twiml_doc *d = ok(xml);
    assert_int_equal(d->verbs[0].u.say.text.n, 2 * RECD_TWIML_MAX_SAY);
    recd_twiml_free(d);
    n += (size_t)sprintf(xml + n, "a");
    strcpy(xml + n, "</Say></Response>");
    assert_string_equal(bad(xml, 13521), "<Say> text is longer than 4096 characters");
}

static void test_play(void **state)
{
    (void)state;
    const struct recd_twiml_play *p = &one("<Play>https://api.twilio.com/cowbell.mp3</Play>")->u.play;
    assert_str(p->url, "https://api.twilio.com/cowbell.mp3");
    assert_int_equal(p->loop, 1);
    assert_int_equal(p->digits.n, 0);

    p = &one("<Play loop=\"10\">\n   /media/hold.wav?x=1&amp;y=2\n</Play>")->u.play;
    assert_str(p->url, "/media/hold.wav?x=1&y=2");
    assert_int_equal(p->loop, 10);
    p = &one("<Play loop=\"0\">HTTP://Example.COM/a.mp3</Play>")->u.play;
    assert_int_equal(p->loop, 0);

    /* Twilio's example: digits with "w" for half a second's pause, no URL. */
    p = &one("<Play digits=\"wwww3\"></Play>")->u.play;
    assert_str(p->digits, "wwww3");
    assert_int_equal(p->url.n, 0);
    p = &one("<Play digits=\"0123456789*#w\"/>")->u.play;
    assert_str(p->digits, "0123456789*#w");

    bad_one("<Play/>", 11100);
    bad_one("<Play>  </Play>", 11100);
    bad_one("<Play digits=\"\"></Play>", 11100);
    assert_string_equal(bad_one("<Play digits=\"1\">a.mp3</Play>", 12200),
                        "<Play> takes a URL or digits, not both");
    bad_one("<Play digits=\"1W2\"/>", 13430);
    bad_one("<Play digits=\"A\"/>", 13430);
    bad_one("<Play loop=\"x\">a.mp3</Play>", 13410);
    bad_one("<Play loop=\"1001\">a.mp3</Play>", 13410);
    bad_one("<Play>ftp://example.com/a.mp3</Play>", 11100);
    bad_one("<Play>http://exa mple.com/a.mp3</Play>", 11100);
    bad_one("<Play>http:///a.mp3</Play>", 11100);
    bad_one("<Play>///a.mp3</Play>", 11100);
    bad_one("<Play>file:/etc/passwd</Play>", 11100);
    bad_one("<Play voice=\"man\">a.mp3</Play>", 12200);
}

static void test_pause(void **state)
{
    (void)state;
    assert_int_equal(one("<Pause/>")->u.pause.length, 1);
    assert_int_equal(one("<Pause length=\"10\"/>")->u.pause.length, 10);
    assert_int_equal(one("<Pause length=\"14400\"></Pause>")->u.pause.length, 14400);
    bad_one("<Pause length=\"0\"/>", 13910);
    bad_one("<Pause length=\"1.5\"/>", 13910);
    bad_one("<Pause length=\"14401\"/>", 13910);
    bad_one("<Pause>5</Pause>", 12200);
    bad_one("<Pause time=\"5\"/>", 12200);
}

static void test_gather(void **state)
{
    (void)state;
    const struct recd_twiml_gather *g = &one("<Gather/>")->u.gather;
    assert_int_equal(g->action.n, 0);
    assert_int_equal(g->method, RECD_TWIML_POST);
    assert_int_equal(g->timeout, 5);
    assert_int_equal(g->finish_on_key, '#');
    assert_int_equal(g->num_digits, 0);
    assert_false(g->action_on_empty_result);
    assert_int_equal(g->n_nested, 0);

    g = &one("<Gather action=\"/process_gather.php\" method=\"GET\" timeout=\"10\" finishOnKey=\"*\" "
             "numDigits=\"5\" actionOnEmptyResult=\"true\" input=\"dtmf\">\n"
             "  <Say voice=\"alice\" loop=\"2\">Please enter your account number</Say>\n"
             "  <Pause length=\"2\"/>\n"
             "  <Play>/beep.wav</Play>\n"
             "</Gather>")
             ->u.gather;
    assert_str(g->action, "/process_gather.php");
    assert_int_equal(g->method, RECD_TWIML_GET);
    assert_int_equal(g->timeout, 10);
    assert_int_equal(g->finish_on_key, '*');
    assert_int_equal(g->num_digits, 5);
    assert_true(g->action_on_empty_result);
    assert_int_equal(g->n_nested, 3);
    assert_int_equal(g->nested[0].type, RECD_TWIML_SAY);
    assert_str(g->nested[0].u.say.text, "Please enter your account number");
    assert_int_equal(g->nested[0].u.say.loop, 2);
    assert_int_equal(g->nested[0].line, 2);
    assert_int_equal(g->nested[1].type, RECD_TWIML_PAUSE);
    assert_int_equal(g->nested[1].u.pause.length, 2);
    assert_int_equal(g->nested[2].type, RECD_TWIML_PLAY);
    assert_str(g->nested[2].u.play.url, "/beep.wav");

    /* "If you set this attribute to an empty string, <Gather> captures all caller input." */
    assert_int_equal(one("<Gather finishOnKey=\"\"/>")->u.gather.finish_on_key, '\0');
    assert_int_equal(one("<Gather actionOnEmptyResult=\"false\" numDigits=\"128\"/>")->u.gather.num_digits,
                     128);

    bad_one("<Gather method=\"PUT\"/>", 13312);
    bad_one("<Gather timeout=\"0\"/>", 13313);
    bad_one("<Gather timeout=\"abc\"/>", 13313);
    bad_one("<Gather finishOnKey=\"#*\"/>", 13310);
    bad_one("<Gather finishOnKey=\"x\"/>", 13310);
    bad_one("<Gather numDigits=\"0\"/>", 13314);
    bad_one("<Gather numDigits=\"129\"/>", 13314);
    bad_one("<Gather actionOnEmptyResult=\"1\"/>", 13338);
    bad_one("<Gather action=\"gopher://x/\"/>", 11100);
    assert_string_equal(bad_one("<Gather input=\"speech\"/>", 13326),
                        "<Gather input=\"speech\">: recd gathers DTMF only");
    bad_one("<Gather input=\"dtmf speech\"/>", 13326);
    bad_one("<Gather input=\"keys\"/>", 13326);
    assert_string_equal(bad_one("<Gather hints=\"sales\"/>", 12200),
                        "<Gather hints>: recd does not do speech recognition");
    bad_one("<Gather language=\"en-US\"/>", 12200);
    bad_one("<Gather speechTimeout=\"auto\"/>", 12200);
    bad_one("<Gather bogus=\"1\"/>", 12200);

    /* Nesting: <Say>, <Play>, <Pause> only, with <Gather>'s own codes for nested <Say> values. */
    assert_string_equal(bad_one("<Gather><Record/></Gather>", 13320),
                        "<Gather> cannot contain <Record>, only <Say>, <Play> and <Pause>");
    bad_one("<Gather><Gather/></Gather>", 13320);
    bad_one("<Gather><Hangup/></Gather>", 13320);
    bad_one("<Gather><Redirect>/x</Redirect></Gather>", 13320);
    bad_one("<Gather><Response/></Gather>", 13320);
    bad_one("<Gather><say>x</say></Gather>", 13320);
    bad_one("<Gather><Say voice=\"robot\">x</Say></Gather>", 13321);
    bad_one("<Gather><Say loop=\"x\">x</Say></Gather>", 13322);
    bad_one("<Gather><Play loop=\"x\">a.mp3</Play></Gather>", 13410);
    bad_one("<Gather>Press 1</Gather>", 12200);
}

/* Verbs nested in one <Gather> stay with it; verbs after it are top-level again. */
static void test_gather_order(void **state)
{
    (void)state;
    struct recd_twiml_doc *d = ok("<Response><Say>a</Say><Gather><Say>b</Say></Gather><Gather/>"
                                  "<Gather><Pause/><Play>c</Play></Gather><Say>d</Say></Response>");
    assert_int_equal(d->n_verbs, 5);
    assert_int_equal(d->verbs[1].u.gather.n_nested, 1);
    assert_str(d->verbs[1].u.gather.nested[0].u.say.text, "b");
    assert_int_equal(d->verbs[2].u.gather.n_nested, 0);
    assert_null(d->verbs[2].u.gather.nested);
    assert_int_equal(d->verbs[3].u.gather.n_nested, 2);
    assert_int_equal(d->verbs[3].u.gather.nested[0].type, RECD_TWIML_PAUSE);
    assert_str(d->verbs[3].u.gather.nested[1].u.play.url, "c");
    assert_str(d->verbs[4].u.say.text, "d");
    recd_twiml_free(d);
}

static void test_hangup_redirect_reject(void **state)
{
    (void)state;
    assert_int_equal(one("<Hangup/>")->type, RECD_TWIML_HANGUP);
    assert_int_equal(one("<Hangup></Hangup>")->type, RECD_TWIML_HANGUP);
    bad_one("<Hangup reason=\"x\"/>", 12200);
    bad_one("<Hangup>bye</Hangup>", 12200);

    const struct recd_twiml_redirect *r =
        &one("<Redirect>http://pigeons.com/twiml.xml</Redirect>")->u.redirect;
    assert_str(r->url, "http://pigeons.com/twiml.xml");
    assert_int_equal(r->method, RECD_TWIML_POST);
    r = &one("<Redirect method=\"GET\">\n  ../next.xml\n</Redirect>")->u.redirect;
    assert_str(r->url, "../next.xml");
    assert_int_equal(r->method, RECD_TWIML_GET);
    bad_one("<Redirect method=\"PATCH\">/x</Redirect>", 13710);
    bad_one("<Redirect/>", 11100);
    bad_one("<Redirect> </Redirect>", 11100);
    bad_one("<Redirect>tel:+15551234567</Redirect>", 11100);

    assert_int_equal(one("<Reject/>")->u.reject, RECD_TWIML_REJECTED);
    assert_int_equal(one("<Reject reason=\"rejected\"/>")->u.reject, RECD_TWIML_REJECTED);
    assert_int_equal(one("<Reject reason=\"busy\"/>")->u.reject, RECD_TWIML_BUSY);
    bad_one("<Reject reason=\"no-answer\"/>", 13810);
    bad_one("<Reject reason=\"Busy\"/>", 13810);
    bad_one("<Reject>busy</Reject>", 12200);
}

static void test_structure(void **state)
{
    (void)state;
    struct recd_twiml_doc *d = ok("<Response/>");
    assert_int_equal(d->n_verbs, 0);
    recd_twiml_free(d);
    d = ok("<Response>\n\t<!-- nothing -->\r\n</Response>\n");
    assert_int_equal(d->n_verbs, 0);
    recd_twiml_free(d);

    assert_string_equal(bad("<response><Say>x</Say></response>", 12102),
                        "the root element must be <Response>, not <response>");
    bad("<Say>x</Say>", 12102);
    bad("<Response xmlns=\"urn:x\"/>", 12200);
    bad("<Response version=\"2010-04-01\"/>", 12200);

    /* "TwiML is case-sensitive, so <Say> works, but <say> will not." (Twilio's 12200; recd's 12100, contract
     * §7) */
    assert_string_equal(bad_one("<say>x</say>", 12100),
                        "unknown verb <say>: TwiML is case-sensitive, the verb is <Say>");
    assert_string_equal(bad_one("<HANGUP/>", 12100),
                        "unknown verb <HANGUP>: TwiML is case-sensitive, the verb is <Hangup>");
    assert_string_equal(bad_one("<Dial>+15551234567</Dial>", 12100), "recd does not support <Dial>");
    assert_string_equal(bad_one("<Foo/>", 12100), "unknown verb <Foo>");
    assert_string_equal(bad_one("Hello", 12200), "<Response> cannot contain text");
    assert_string_equal(bad_one("<Say>a<Say>b</Say></Say>", 12200), "<Say> cannot contain <Say>");
    bad_one("<Play><Say>x</Say></Play>", 12200);
    bad_one("<Response/>", 12100); /* not a verb */
    assert_string_equal(bad_one("<Gather><Say><a/></Say></Gather>", 12200), "<a> is nested more than 3 deep");

    /* The position of the first offending element, 1-based. */
    bad("<Response>\n  <Say>ok</Say>\n  <Foo/>\n  <Bar/>\n</Response>", 12100);
    assert_int_equal(err.line, 3);
    assert_int_equal(err.column, 3);
    assert_string_equal(err.message, "unknown verb <Foo>");

    /* Values shown in messages stay on one line and are cut short. */
    const char *m = bad_one("<Record method=\"a&#10;b&#34;c\"/>", 13610);
    assert_string_equal(m, "<Record method=\"a?b?c\">: invalid value");
    m = bad_one("<Record method=\"0123456789012345678901234567890123456789XYZ\"/>", 13610);
    assert_string_equal(m, "<Record method=\"0123456789012345678901234567890123456789...\">: invalid value");
}

static void test_malformed(void **state)
{
    (void)state;
    assert_string_equal(bad("<Response><Say>unclosed</Response>", 12100), "malformed XML: mismatched tag");
    bad("<Response>", 12100);
    bad("<Response><Say a=b>x</Say></Response>", 12100);
    bad("<Response><Say a=\"1\" a=\"2\">x</Say></Response>", 12100);
    bad("<Response/><Response/>", 12100);
    bad("<Response/>junk", 12100);
    bad("   ", 12100);
    bad("not xml", 12100);
    bad("<Response>&</Response>", 12100);
    bad_n("<Response>\0</Response>", 22, 12100);
    bad("<Response><Say>\xff\xfe</Say></Response>", 12100);
    /* "There is a leading space, or an empty line, before the XML type header." */
    bad(" <?xml version=\"1.0\" encoding=\"UTF-8\"?><Response/>", 12100);
    bad("\n<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response/>", 12100);
    bad("<?xml version=\"1.0\" encoding=\"EBCDIC-XYZ\"?><Response/>", 12100);
    /* Malformed XML is a parse failure even after an invalid verb: the whole body is not XML. */
    bad("<Response><Foo/><Say>x</Response>", 12100);
    bad("<Response><Record method=\"PUT\"/>", 12100);
    /* An empty body is Twilio's "Empty response body". */
    assert_string_equal(bad("", 11770), "the response body is empty");
    assert_int_equal(err.line, 0);
}

/* No DTD is ever read, so no entity is declared, expanded or fetched. */
static void test_doctype_and_entities(void **state)
{
    (void)state;
    const char *laughs = "<?xml version=\"1.0\"?>\n"
                         "<!DOCTYPE lolz [\n"
                         " <!ENTITY lol \"lol\">\n"
                         " <!ENTITY lol1 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">\n"
                         " <!ENTITY lol2 \"&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;\">\n"
                         " <!ENTITY lol3 \"&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;\">\n"
                         "]>\n<Response><Say>&lol3;</Say></Response>";
    assert_string_equal(bad(laughs, 12100), "a DOCTYPE is not allowed in TwiML");
    assert_int_equal(err.line, 2);
    bad("<!DOCTYPE r [<!ENTITY x SYSTEM \"file:///etc/passwd\">]><Response><Say>&x;</Say></Response>", 12100);
    bad("<!DOCTYPE Response SYSTEM \"http://example.com/twiml.dtd\"><Response/>", 12100);
    bad("<!DOCTYPE Response><Response/>", 12100);
    bad("<!DOCTYPE r [<!ENTITY % p SYSTEM \"http://x/\"> %p;]><Response/>", 12100);
    /* Without a DTD an unknown entity is just malformed. */
    assert_string_equal(bad("<Response><Say>&nbsp;</Say></Response>", 12100),
                        "malformed XML: undefined entity");
    bad("<Response><Say>&xxe;</Say></Response>", 12100);
    /* The five predefined entities and character references are fine. */
    const struct recd_twiml_say *s = &one("<Say>&lt;&gt;&amp;&apos;&quot;&#65;&#x42;</Say>")->u.say;
    assert_str(s->text, "<>&'\"AB");
}

static void test_encodings(void **state)
{
    (void)state;
    /* UTF-16 with a byte order mark, as Windows tools write it. */
    static const char u16[] =
        "\xff\xfe<\0R\0e\0s\0p\0o\0n\0s\0e\0>\0<\0S\0a\0y\0>\0\xe9\0t\0\xe9\0<\0/\0S\0a\0y\0>\0"
        "<\0/\0R\0e\0s\0p\0o\0n\0s\0e\0>\0";
    struct recd_twiml_doc *d = NULL;
    assert_int_equal(recd_twiml_parse(u16, sizeof u16 - 1, &d, &err), 0);
    assert_str(d->verbs[0].u.say.text, "\xc3\xa9t\xc3\xa9");
    recd_twiml_free(d);
    /* ISO-8859-1 by declaration; the document's strings are UTF-8 either way. */
    d = ok("<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><Response><Say>\xe9t\xe9</Say></Response>");
    assert_str(d->verbs[0].u.say.text, "\xc3\xa9t\xc3\xa9");
    recd_twiml_free(d);
    /* UTF-8 with a byte order mark. */
    d = ok("\xef\xbb\xbf<Response><Hangup/></Response>");
    assert_int_equal(d->n_verbs, 1);
    recd_twiml_free(d);
}

static void test_bounds(void **state)
{
    (void)state;
    static char xml[RECD_TWIML_MAX_BYTES + 16];
    const char *head = "<Response><!--", *tail = "--><Hangup/></Response>";
    /* Exactly 64 KiB is accepted; one byte more is Twilio's 11750, without being parsed. */
    size_t fill = RECD_TWIML_MAX_BYTES - strlen(head) - strlen(tail);
    size_t n = (size_t)sprintf(xml, "%s", head);
    memset(xml + n, 'x', fill);
    n += fill;
    n += (size_t)sprintf(xml + n, "%s", tail);
    assert_int_equal(n, RECD_TWIML_MAX_BYTES);
    struct recd_twiml_doc *d = ok(xml);
    assert_int_equal(d->n_verbs, 1);
    recd_twiml_free(d);
    memmove(xml + strlen(head) + 1, xml + strlen(head), n - strlen(head) + 1);
    assert_string_equal(bad_n(xml, n + 1, 11750), "the TwiML document is 65537 bytes, more than 65536");

    /* Element count: <Response> and 1023 verbs is the most; one more stops the parse. */
    n = (size_t)sprintf(xml, "<Response>");
    for (int i = 0; i < RECD_TWIML_MAX_ELEMENTS - 1; i++)
        n += (size_t)sprintf(xml + n, "<Pause/>");
    strcpy(xml + n, "</Response>");
    d = ok(xml);
    assert_int_equal(d->n_verbs, RECD_TWIML_MAX_ELEMENTS - 1);
    recd_twiml_free(d);
    n += (size_t)sprintf(xml + n, "<Pause/>");
    strcpy(xml + n, "</Response>");
    assert_string_equal(bad(xml, 12100), "more than 1024 elements");
    /* Nested <Gather> verbs count too. */
    n = (size_t)sprintf(xml, "<Response><Gather>");
    for (int i = 0; i < RECD_TWIML_MAX_ELEMENTS - 1; i++)
        n += (size_t)sprintf(xml + n, "<Pause/>");
    strcpy(xml + n, "</Gather></Response>");
    bad(xml, 12100);

    /* Nesting stops the parse at once, even past an earlier schema error. */
    n = (size_t)sprintf(xml, "<Response>");
    for (int i = 0; i < 100; i++)
        n += (size_t)sprintf(xml + n, "<a>");
    for (int i = 0; i < 100; i++)
        n += (size_t)sprintf(xml + n, "</a>");
    strcpy(xml + n, "</Response>");
    assert_string_equal(bad(xml, 12100), "elements nested more than 32 deep");

    /* A URL of 4096 bytes is kept; 4097 is refused. */
    n = (size_t)sprintf(xml, "<Response><Redirect>/");
    memset(xml + n, 'a', RECD_TWIML_MAX_URL - 1);
    n += RECD_TWIML_MAX_URL - 1;
    strcpy(xml + n, "</Redirect></Response>");
    d = ok(xml);
    assert_int_equal(d->verbs[0].u.redirect.url.n, RECD_TWIML_MAX_URL);
    recd_twiml_free(d);
    memmove(xml + n + 1, xml + n, strlen(xml + n) + 1);
    xml[n] = 'a';
    bad(xml, 11100);
}

static void test_parse_contract(void **state)
{
    (void)state;
    /* A success clears an earlier error; a refusal leaves *out NULL (checked in bad()). */
    bad("<x/>", 12102);
    struct recd_twiml_doc *d = ok("<Response><Hangup/></Response>");
    assert_int_equal(err.code, 0);
    assert_int_equal(err.message[0], '\0');
    recd_twiml_free(d);
    recd_twiml_free(NULL);
    assert_string_equal(recd_twiml_verb_name(RECD_TWIML_SAY), "Say");
    assert_string_equal(recd_twiml_verb_name(RECD_TWIML_REJECT), "Reject");
    assert_string_equal(recd_twiml_verb_name((enum recd_twiml_verb_type)0), "?");
    assert_string_equal(recd_twiml_verb_name((enum recd_twiml_verb_type)99), "?");
}

/* RFC 3986 section 5.4, every example, against its base "http://a/b/c/d;p?q". */
static void test_resolve_rfc3986(void **state)
{
    (void)state;
    static const char *const cases[][2] = {
        /* 5.4.1 normal examples ("g:h" is below: not http) */
        {"g", "http://a/b/c/g"},
        {"./g", "http://a/b/c/g"},
        {"g/", "http://a/b/c/g/"},
        {"/g", "http://a/g"},
        {"//g", "http://g"},
        {"?y", "http://a/b/c/d;p?y"},
        {"g?y", "http://a/b/c/g?y"},
        {"#s", "http://a/b/c/d;p?q#s"},
        {"g#s", "http://a/b/c/g#s"},
        {"g?y#s", "http://a/b/c/g?y#s"},
        {";x", "http://a/b/c/;x"},
        {"g;x", "http://a/b/c/g;x"},
        {"g;x?y#s", "http://a/b/c/g;x?y#s"},
        {"", "http://a/b/c/d;p?q"},
        {".", "http://a/b/c/"},
        {"./", "http://a/b/c/"},
        {"..", "http://a/b/"},
        {"../", "http://a/b/"},
        {"../g", "http://a/b/g"},
        {"../..", "http://a/"},
        {"../../", "http://a/"},
        {"../../g", "http://a/g"},
        /* 5.4.2 abnormal examples */
        {"../../../g", "http://a/g"},
        {"../../../../g", "http://a/g"},
        {"/./g", "http://a/g"},
        {"/../g", "http://a/g"},
        {"g.", "http://a/b/c/g."},
        {".g", "http://a/b/c/.g"},
        {"g..", "http://a/b/c/g.."},
        {"..g", "http://a/b/c/..g"},
        {"./../g", "http://a/b/g"},
        {"./g/.", "http://a/b/c/g/"},
        {"g/./h", "http://a/b/c/g/h"},
        {"g/../h", "http://a/b/c/h"},
        {"g;x=1/./y", "http://a/b/c/g;x=1/y"},
        {"g;x=1/../y", "http://a/b/c/y"},
        {"g?y/./x", "http://a/b/c/g?y/./x"},
        {"g?y/../x", "http://a/b/c/g?y/../x"},
        {"g#s/./x", "http://a/b/c/g#s/./x"},
        {"g#s/../x", "http://a/b/c/g#s/../x"},
    };
    char out[256];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int n = recd_twiml_resolve_url("http://a/b/c/d;p?q", cases[i][0], out, sizeof out);
        if (n < 0 || strcmp(out, cases[i][1]) != 0)
            print_error("resolve(\"%s\") = %d \"%s\", want \"%s\"\n", cases[i][0], n, out, cases[i][1]);
        assert_string_equal(out, cases[i][1]);
        assert_int_equal(n, (int)strlen(cases[i][1]));
    }
    /* "g:h" resolves to "g:h" and strict "http:g" to "http:g": neither is an http URL with a host. */
    assert_int_equal(recd_twiml_resolve_url("http://a/b/c/d;p?q", "g:h", out, sizeof out), RECD_E_BAD_INPUT);
    assert_string_equal(out, "");
    assert_int_equal(recd_twiml_resolve_url("http://a/b/c/d;p?q", "http:g", out, sizeof out),
                     RECD_E_BAD_INPUT);
}

static void test_resolve_more(void **state)
{
    (void)state;
    char out[64];
    /* Absolute references keep their scheme and host, with dot segments removed. */
    assert_int_equal(recd_twiml_resolve_url("https://app.example.com/voice/start",
                                            "HTTPS://Other.example/x/../y?z", out, sizeof out),
                     (int)strlen("HTTPS://Other.example/y?z"));
    assert_string_equal(out, "HTTPS://Other.example/y?z");
    recd_twiml_resolve_url("https://app.example.com/voice/start.xml?step=1", "/handle", out, sizeof out);
    assert_string_equal(out, "https://app.example.com/handle");
    recd_twiml_resolve_url("https://app.example.com/voice/start.xml?step=1", "next.xml", out, sizeof out);
    assert_string_equal(out, "https://app.example.com/voice/next.xml");
    recd_twiml_resolve_url("http://h:8080", "a", out, sizeof out);
    assert_string_equal(out, "http://h:8080/a");
    recd_twiml_resolve_url("http://h:8080", "?q", out, sizeof out);
    assert_string_equal(out, "http://h:8080?q");
    recd_twiml_resolve_url("http://user@h/a/b", "//other/c", out, sizeof out);
    assert_string_equal(out, "http://other/c");

    /* The base must be an absolute http(s) URL with a host. */
    assert_int_equal(recd_twiml_resolve_url("/relative/base", "g", out, sizeof out), RECD_E_BAD_INPUT);
    assert_int_equal(recd_twiml_resolve_url("ftp://a/b", "g", out, sizeof out), RECD_E_BAD_INPUT);
    assert_int_equal(recd_twiml_resolve_url("http:///b", "g", out, sizeof out), RECD_E_BAD_INPUT);
    assert_int_equal(recd_twiml_resolve_url("http://a/b c", "g", out, sizeof out), RECD_E_BAD_INPUT);
    /* References with spaces or control bytes, other schemes, or no host are refused. */
    assert_int_equal(recd_twiml_resolve_url("http://a/b", "g h", out, sizeof out), RECD_E_BAD_INPUT);
    assert_int_equal(recd_twiml_resolve_url("http://a/b", "g\th", out, sizeof out), RECD_E_BAD_INPUT);
    assert_int_equal(recd_twiml_resolve_url("http://a/b", "javascript:x", out, sizeof out), RECD_E_BAD_INPUT);
    assert_int_equal(recd_twiml_resolve_url("http://a/b", "1a:b", out, sizeof out), RECD_E_BAD_INPUT);
    assert_int_equal(recd_twiml_resolve_url("http://a/b", ":b", out, sizeof out), RECD_E_BAD_INPUT);
    assert_int_equal(recd_twiml_resolve_url("http://a/b", "//", out, sizeof out), RECD_E_BAD_INPUT);
    assert_int_equal(recd_twiml_resolve_url("http://a/b", "https:///x", out, sizeof out), RECD_E_BAD_INPUT);

    /* The result must fit, NUL included: 14 bytes need a cap of 15. */
    assert_int_equal(recd_twiml_resolve_url("http://a/b/c/d", "g", out, 15), 14);
    assert_string_equal(out, "http://a/b/c/g");
    assert_int_equal(recd_twiml_resolve_url("http://a/b/c/d", "g", out, 14), RECD_E_URI_TOO_LONG);
    assert_string_equal(out, "");
    assert_int_equal(recd_twiml_resolve_url("http://a/b/c/d", "g", out, 0), RECD_E_URI_TOO_LONG);

    /* Long inputs: 4096 bytes each is the most. */
    static char base[RECD_TWIML_MAX_URL + 2], ref[RECD_TWIML_MAX_URL + 2], big[3 * RECD_TWIML_MAX_URL];
    strcpy(base, "http://a/");
    memset(base + 9, 'b', RECD_TWIML_MAX_URL - 9);
    memset(ref, 'r', RECD_TWIML_MAX_URL);
    assert_int_equal(recd_twiml_resolve_url(base, ref, big, sizeof big), 9 + RECD_TWIML_MAX_URL);
    ref[RECD_TWIML_MAX_URL] = 'r';
    assert_int_equal(recd_twiml_resolve_url(base, ref, big, sizeof big), RECD_E_BAD_INPUT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_voicemail_example, teardown),
        cmocka_unit_test_teardown(test_record_defaults, teardown),
        cmocka_unit_test_teardown(test_record_every_attribute, teardown),
        cmocka_unit_test_teardown(test_record_transcribe_max_length, teardown),
        cmocka_unit_test_teardown(test_record_events, teardown),
        cmocka_unit_test_teardown(test_record_invalid, teardown),
        cmocka_unit_test_teardown(test_say, teardown),
        cmocka_unit_test_teardown(test_say_length, teardown),
        cmocka_unit_test_teardown(test_play, teardown),
        cmocka_unit_test_teardown(test_pause, teardown),
        cmocka_unit_test_teardown(test_gather, teardown),
        cmocka_unit_test_teardown(test_gather_order, teardown),
        cmocka_unit_test_teardown(test_hangup_redirect_reject, teardown),
        cmocka_unit_test_teardown(test_structure, teardown),
        cmocka_unit_test_teardown(test_malformed, teardown),
        cmocka_unit_test_teardown(test_doctype_and_entities, teardown),
        cmocka_unit_test_teardown(test_encodings, teardown),
        cmocka_unit_test_teardown(test_bounds, teardown),
        cmocka_unit_test_teardown(test_parse_contract, teardown),
        cmocka_unit_test_teardown(test_resolve_rfc3986, teardown),
        cmocka_unit_test_teardown(test_resolve_more, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
