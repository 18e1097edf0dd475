/*
 * TwiML documents from a customer's web application: the parser must refuse or accept every input
 * without a crash, a leak or unbounded work, and what it accepts must hold what the engine relies
 * on (known verbs, nesting only in <Gather>, values in range, NUL-terminated strings). Every URL
 * accepted is then resolved against a document URL, and the input's first line is resolved as a
 * reference of its own.
 */
#include "core/error.h"
#include "voice/twiml.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char base[] = "https://app.example.com/voice/start.xml?step=1";

static void check_str(struct recd_str s, size_t max)
{
    if (!s.p && s.n)
        __builtin_trap();
    if (s.p && s.p[s.n] != '\0')
        __builtin_trap();
    if (s.n > max)
        __builtin_trap();
}

static void check_url(struct recd_str s)
{
    char out[2 * RECD_TWIML_MAX_URL + 64];
    check_str(s, RECD_TWIML_MAX_URL);
    if (s.n == 0)
        return;
    /* The parser accepted it, so it is an http(s) URL or a relative reference: it must resolve. */
    int n = recd_twiml_resolve_url(base, s.p, out, sizeof out);
    if (n < 0 || (size_t)n != strlen(out) || strncasecmp(out, "http", 4) != 0)
        __builtin_trap();
}

static void check_verb(const struct recd_twiml_verb *v, int nested)
{
    switch (v->type) {
    case RECD_TWIML_SAY:
        check_str(v->u.say.text, 4 * RECD_TWIML_MAX_SAY);
        if (v->u.say.text.n == 0 || v->u.say.loop > RECD_TWIML_MAX_LOOP)
            __builtin_trap();
        check_str(v->u.say.voice, 80);
        check_str(v->u.say.language, 35);
        break;
    case RECD_TWIML_PLAY:
        check_url(v->u.play.url);
        check_str(v->u.play.digits, RECD_TWIML_MAX_DIGITS);
        if ((v->u.play.url.n == 0) == (v->u.play.digits.n == 0) || v->u.play.loop > RECD_TWIML_MAX_LOOP)
            __builtin_trap();
        break;
    case RECD_TWIML_PAUSE:
        if (v->u.pause.length < 1 || v->u.pause.length > RECD_TWIML_MAX_SECONDS)
            __builtin_trap();
        break;
    case RECD_TWIML_GATHER:
        if (nested || v->u.gather.timeout < 1 || v->u.gather.num_digits > RECD_TWIML_MAX_DIGITS)
            __builtin_trap();
        check_url(v->u.gather.action);
        for (size_t i = 0; i < v->u.gather.n_nested; i++) {
            enum recd_twiml_verb_type t = v->u.gather.nested[i].type;
            if (t != RECD_TWIML_SAY && t != RECD_TWIML_PLAY && t != RECD_TWIML_PAUSE)
                __builtin_trap();
            check_verb(&v->u.gather.nested[i], 1);
        }
        break;
    case RECD_TWIML_RECORD:
        if (nested || v->u.record.max_length < 2 || v->u.record.max_length > RECD_TWIML_MAX_SECONDS ||
            v->u.record.timeout > RECD_TWIML_MAX_SECONDS || v->u.record.finish_on_key.n == 0 ||
            v->u.record.recording_status_callback_event == 0 ||
            v->u.record.recording_status_callback_event > 7)
            __builtin_trap();
        check_url(v->u.record.action);
        check_url(v->u.record.recording_status_callback);
        check_url(v->u.record.transcribe_callback);
        check_str(v->u.record.finish_on_key, RECD_TWIML_MAX_DIGITS);
        break;
    case RECD_TWIML_REDIRECT:
        if (nested || v->u.redirect.url.n == 0)
            __builtin_trap();
        check_url(v->u.redirect.url);
        break;
    case RECD_TWIML_HANGUP:
    case RECD_TWIML_REJECT:
        if (nested)
            __builtin_trap();
        break;
    default: __builtin_trap();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct recd_twiml_doc *doc;
    struct recd_twiml_error err;
    int rc = recd_twiml_parse((const char *)data, size, &doc, &err);
    if (rc == 0) {
        if (!doc || err.code != 0 || doc->n_verbs > RECD_TWIML_MAX_ELEMENTS)
            __builtin_trap();
        for (size_t i = 0; i < doc->n_verbs; i++)
            check_verb(&doc->verbs[i], 0);
        recd_twiml_free(doc);
    } else {
        size_t n = strnlen(err.message, sizeof err.message);
        if (doc || rc != RECD_E_BAD_INPUT || err.code < 11100 || err.code > 13910 || n == 0 ||
            n == sizeof err.message || strchr(err.message, '\n'))
            __builtin_trap();
    }

    /* The first line, up to 4 KiB, as a reference against the fixed base. */
    char ref[RECD_TWIML_MAX_URL + 1], out[256];
    size_t n = 0;
    while (n < size && n < RECD_TWIML_MAX_URL && data[n] != '\n' && data[n] != '\0') {
        ref[n] = (char)data[n];
        n++;
    }
    ref[n] = '\0';
    int r = recd_twiml_resolve_url(base, ref, out, sizeof out);
    if (r >= 0 && ((size_t)r != strlen(out) || (size_t)r >= sizeof out || strncasecmp(out, "http", 4) != 0))
        __builtin_trap();
    if (r < 0 && r != RECD_E_BAD_INPUT && r != RECD_E_URI_TOO_LONG)
        __builtin_trap();
    return 0;
}
