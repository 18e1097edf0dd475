#ifndef RECD_VOICE_TWIML_H
#define RECD_VOICE_TWIML_H

/*
 * TwiML, the XML a customer's web application returns to the voice webhook, parsed into a list of
 * verbs the call engine runs in order. Parsing is bounded (size, nesting, element count), refuses
 * any DTD, validates every attribute and applies Twilio's documented defaults, so the engine never
 * sees a raw string where it expects a number or an enumeration. What recd accepts, and every
 * choice Twilio's documentation leaves open, is listed in docs/voice.md.
 */

#include "core/buf.h"

#include <stdbool.h>
#include <stddef.h>

/* Limits. Twilio refuses response bodies "larger than 64 kB" (error 11750); recd reads that as
 * 65,536 bytes. The others are recd's own: TwiML never nests deeper than Response > Gather > Say,
 * and a document with more elements than this is not a call flow anyone writes by hand. */
#define RECD_TWIML_MAX_BYTES    65536
#define RECD_TWIML_MAX_DEPTH    3     /* Response > Gather > Say: deeper is a schema error (12200) */
#define RECD_TWIML_MAX_NESTING  32    /* deeper than this stops the parse at once (12100) */
#define RECD_TWIML_MAX_ELEMENTS 1024  /* every element, Response and nested verbs included (12100) */
#define RECD_TWIML_MAX_SAY      4096  /* characters of <Say> text, as Twilio's error 13521 says */
#define RECD_TWIML_MAX_URL      4096  /* bytes of one URL, as written */
#define RECD_TWIML_MAX_SECONDS  14400 /* any duration: Twilio's default maximum call length, 4 h */
#define RECD_TWIML_MAX_LOOP     1000  /* Twilio: loop="0" repeats "until ... 1000 iterations" */
#define RECD_TWIML_MAX_DIGITS   128   /* numDigits, and the length of <Play digits> */

/* The Twilio error codes a document can earn (https://www.twilio.com/docs/api/errors/N). They go
 * in the call's log and in the ErrorCode of Twilio's callbacks; they are not recd_err values. */
#define RECD_TWIML_E_URL               11100 /* Invalid URL format */
#define RECD_TWIML_E_TOO_LARGE         11750 /* TwiML response body too large */
#define RECD_TWIML_E_EMPTY             11770 /* Empty response body */
#define RECD_TWIML_E_PARSE             12100 /* Document parse failure */
#define RECD_TWIML_E_ROOT              12102 /* The root element must be Response */
#define RECD_TWIML_E_SCHEMA            12200 /* Schema validation warning */
#define RECD_TWIML_E_INTERNAL          12400 /* Internal Failure */
#define RECD_TWIML_E_RSC_URL           13256 /* Invalid recordingStatusCallback URL */
#define RECD_TWIML_E_TRANSCRIBE_URL    13257 /* Invalid transcribeCallback URL */
#define RECD_TWIML_E_GATHER_FINISH     13310 /* Gather: Invalid finishOnKey value */
#define RECD_TWIML_E_GATHER_METHOD     13312 /* Gather: Invalid method value */
#define RECD_TWIML_E_GATHER_TIMEOUT    13313 /* Gather: Invalid timeout value */
#define RECD_TWIML_E_GATHER_DIGITS     13314 /* Gather: Invalid numDigits value */
#define RECD_TWIML_E_GATHER_NESTED     13320 /* Gather: Invalid nested verb */
#define RECD_TWIML_E_GATHER_SAY_VOICE  13321 /* Gather->Say: Invalid voice value */
#define RECD_TWIML_E_GATHER_SAY_LOOP   13322 /* Gather->Say: Invalid loop value */
#define RECD_TWIML_E_GATHER_INPUT      13326 /* Gather: Invalid input value */
#define RECD_TWIML_E_GATHER_EMPTY      13338 /* Gather: Invalid actionOnEmptyResult value */
#define RECD_TWIML_E_PLAY_LOOP         13410 /* Play: Invalid loop value */
#define RECD_TWIML_E_PLAY_DIGITS       13430 /* Play: Invalid DTMF String */
#define RECD_TWIML_E_SAY_LOOP          13510 /* Say: Invalid loop value */
#define RECD_TWIML_E_SAY_VOICE         13511 /* Say: Invalid voice value */
#define RECD_TWIML_E_SAY_TEXT          13520 /* Say: Invalid text */
#define RECD_TWIML_E_SAY_TOO_LONG      13521 /* <Say> element character limits exceeded */
#define RECD_TWIML_E_RECORD_METHOD     13610 /* Record: Invalid method value */
#define RECD_TWIML_E_RECORD_TIMEOUT    13611 /* Record: Invalid timeout value */
#define RECD_TWIML_E_RECORD_MAX_LENGTH 13612 /* Record: Invalid maxLength value */
#define RECD_TWIML_E_RECORD_FINISH     13613 /* Record: Invalid finishOnKey value */
#define RECD_TWIML_E_RECORD_TRANSCRIBE 13614 /* Record: Invalid transcribe value */
#define RECD_TWIML_E_RECORD_BEEP       13616 /* Record: playBeep must be true or false */
#define RECD_TWIML_E_RECORD_EVENT      13621 /* Invalid 'recordingStatusCallbackEvent' */
#define RECD_TWIML_E_RECORD_TRIM       13699 /* Record: Invalid trim value */
#define RECD_TWIML_E_REDIRECT_METHOD   13710 /* Redirect: Invalid method value */
#define RECD_TWIML_E_REJECT_REASON     13810 /* Reject: Invalid cause */
#define RECD_TWIML_E_PAUSE_LENGTH      13910 /* Pause: Invalid length value */

/** Why a document was refused: Twilio's code, where, and one line for a human. */
struct recd_twiml_error {
    int code;          /* one of RECD_TWIML_E_*; 0 when there was no error */
    unsigned line;     /* 1-based position in the document; 0 when it does not apply */
    unsigned column;   /* 1-based */
    char message[192]; /* one line, NUL-terminated, no newline; names the verb and attribute */
};

enum recd_twiml_verb_type {
    RECD_TWIML_SAY = 1,
    RECD_TWIML_PLAY,
    RECD_TWIML_PAUSE,
    RECD_TWIML_GATHER,
    RECD_TWIML_RECORD,
    RECD_TWIML_HANGUP,
    RECD_TWIML_REDIRECT,
    RECD_TWIML_REJECT,
};

enum recd_twiml_method { RECD_TWIML_POST = 0, RECD_TWIML_GET };

/* recordingStatusCallbackEvent, as a set. */
#define RECD_TWIML_EVENT_IN_PROGRESS 1u
#define RECD_TWIML_EVENT_COMPLETED   2u
#define RECD_TWIML_EVENT_ABSENT      4u

/*
 * Every string below is a slice into the document's memory, NUL-terminated after its `n` bytes,
 * UTF-8, with XML escapes already decoded. A URL is kept exactly as written (relative ones too:
 * the engine resolves them with recd_twiml_resolve_url against the document's URL). An absent
 * optional URL has n == 0 (for `action`, that means "the current document's URL", as Twilio does).
 */

struct recd_twiml_say {
    struct recd_str text;     /* leading and trailing XML white space removed; 1..4096 characters */
    struct recd_str voice;    /* default "man" */
    struct recd_str language; /* default "en" for man and woman, "en-US" for other voices */
    unsigned loop;            /* default 1; 0 means until hang-up, at most RECD_TWIML_MAX_LOOP times */
};

struct recd_twiml_play {
    struct recd_str url;    /* the content, trimmed; empty only when digits is set */
    struct recd_str digits; /* DTMF to send: 0-9 * # and w (half a second's pause); may be empty */
    unsigned loop;          /* default 1; 0 as for <Say> */
};

struct recd_twiml_pause {
    unsigned length; /* seconds, default 1 */
};

struct recd_twiml_verb;

struct recd_twiml_gather {
    struct recd_str action;               /* empty: the current document's URL */
    enum recd_twiml_method method;        /* default POST */
    unsigned timeout;                     /* seconds, default 5 */
    char finish_on_key;                   /* default '#'; '\0' when finishOnKey="" (no key ends it) */
    unsigned num_digits;                  /* 0: unlimited (the default) */
    bool action_on_empty_result;          /* default false */
    const struct recd_twiml_verb *nested; /* <Say>, <Play> and <Pause> only, in order */
    size_t n_nested;
};

enum recd_twiml_trim { RECD_TWIML_TRIM_SILENCE = 0, RECD_TWIML_DO_NOT_TRIM };

struct recd_twiml_record {
    struct recd_str action;        /* empty: the current document's URL */
    enum recd_twiml_method method; /* default POST */
    unsigned timeout;              /* seconds of silence that end it, default 5; 0 disables */
    struct recd_str finish_on_key; /* a set of 0-9 * #, default "1234567890*#" */
    unsigned max_length;           /* seconds, 2..14400; default 3600, or 120 when transcribing */
    bool play_beep;                /* default true */
    enum recd_twiml_trim trim;     /* default trim-silence */
    struct recd_str recording_status_callback;
    enum recd_twiml_method recording_status_callback_method; /* default POST */
    unsigned recording_status_callback_event;                /* RECD_TWIML_EVENT_* set, default COMPLETED */
    bool transcribe;                                         /* default false */
    struct recd_str transcribe_callback; /* only used when transcribe is true, as Twilio says */
};

struct recd_twiml_redirect {
    struct recd_str url;           /* the content, trimmed, never empty */
    enum recd_twiml_method method; /* default POST */
};

enum recd_twiml_reject_reason { RECD_TWIML_REJECTED = 0, RECD_TWIML_BUSY };

struct recd_twiml_verb {
    enum recd_twiml_verb_type type;
    unsigned line; /* where it starts in the document, for the call's log */
    union {
        struct recd_twiml_say say;
        struct recd_twiml_play play;
        struct recd_twiml_pause pause;
        struct recd_twiml_gather gather;
        struct recd_twiml_record record;
        struct recd_twiml_redirect redirect;
        enum recd_twiml_reject_reason reject;
    } u; /* <Hangup> has nothing */
};

/** A parsed document: the verbs of <Response>, in order. All of it is one arena. */
struct recd_twiml_doc {
    const struct recd_twiml_verb *verbs;
    size_t n_verbs;
};

/**
 * Parses the TwiML document `body` (`len` bytes, any encoding expat knows from the XML
 * declaration; UTF-8 if there is none). On success returns 0 and sets `*out` to a document the
 * caller owns and frees with recd_twiml_free. Returns RECD_E_BAD_INPUT when the document is
 * refused and RECD_E_INTERNAL when memory ran out (Twilio code 12400); either way `*out` is NULL
 * and `err` says why. A DOCTYPE is always refused, so no entity is ever declared or expanded.
 * A malformed document is 12100 even when an earlier element was also invalid, as a parser that
 * reads the whole document first would say. `err` may not be NULL; it is cleared on success.
 */
int recd_twiml_parse(const char *body, size_t len, struct recd_twiml_doc **out, struct recd_twiml_error *err);

/** Frees a document from recd_twiml_parse, every verb and string in it; NULL is fine. */
void recd_twiml_free(struct recd_twiml_doc *doc);

/** The element name of a verb type ("Record"); "?" for a value out of range. Static storage. */
const char *recd_twiml_verb_name(enum recd_twiml_verb_type type);

/**
 * Resolves the URL reference `ref` against the absolute URL `base` as RFC 3986 section 5.2 says
 * (strict: a reference with a scheme is taken as absolute), for the engine to fetch `action`,
 * `<Redirect>` and `<Play>` URLs written relative to the document's URL. Both are byte strings
 * of at most RECD_TWIML_MAX_URL bytes; nothing is percent-decoded or normalised beyond removing
 * dot segments. Writes the NUL-terminated result to `out` (`cap` bytes) and returns its length.
 * Returns RECD_E_BAD_INPUT when `base` is not an absolute http or https URL with a host, when
 * `ref` contains a space or control byte, or when the result is not http or https with a host
 * (so "mailto:x" and "http:g" are refused), and RECD_E_URI_TOO_LONG when the result does not fit.
 */
int recd_twiml_resolve_url(const char *base, const char *ref, char *out, size_t cap);

#endif
