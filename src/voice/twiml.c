#include "voice/twiml.h"

#include "core/error.h"

#include <expat.h>
#include <stdalign.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * The document's memory: a list of blocks that only grows and is freed in one call. Strings from
 * expat are transient, so every value the document keeps is copied here once.
 */
struct block {
    struct block *next;
    size_t used, cap;
    alignas(max_align_t) unsigned char data[];
};

struct arena {
    struct block *head;
};

#define BLOCK_SIZE 16384

static void *arena_alloc(struct arena *a, size_t n)
{
    size_t align = alignof(max_align_t);
    n = (n + align - 1) & ~(align - 1);
    struct block *b = a->head;
    if (!b || b->cap - b->used < n) {
        size_t cap = n > BLOCK_SIZE ? n : BLOCK_SIZE;
        b = malloc(sizeof *b + cap);
        if (!b)
            return NULL;
        b->next = a->head;
        b->used = 0;
        b->cap = cap;
        a->head = b;
    }
    void *p = b->data + b->used;
    b->used += n;
    return p;
}

static void arena_free(struct arena *a)
{
    struct block *b = a->head;
    while (b) {
        struct block *next = b->next;
        free(b);
        b = next;
    }
    a->head = NULL;
}

/* What the caller holds: the public document first, so recd_twiml_free can find the arena. */
struct doc_impl {
    struct recd_twiml_doc pub;
    struct arena arena;
};

/* An open element. RESPONSE and SKIP are not verbs; the rest are enum recd_twiml_verb_type. */
enum { ELEM_SKIP = 0, ELEM_RESPONSE = 100 };

struct open_elem {
    int kind;
    long verb; /* index into st.verbs, or -1 */
};

struct st {
    XML_Parser xp;
    struct arena arena;
    struct recd_twiml_error *err;
    int fatal;   /* the parse was stopped: a limit, a DOCTYPE, or no memory */
    int invalid; /* a schema error was recorded; the rest is only checked for well-formedness */
    unsigned depth, n_elements;
    struct open_elem stack[RECD_TWIML_MAX_NESTING + 1];
    /* Verbs in document order, each with the index of its <Gather> (or -1); flattened at the end
     * into the arrays the caller sees. */
    struct recd_twiml_verb *verbs;
    long *parent;
    size_t n, cap;
    struct recd_buf text; /* the content of the open <Say>, <Play> or <Redirect> */
};

/* Records why the document is refused. The first schema error is the one reported (later ones are
 * often its consequences); a fatal error replaces it, because then the document was not read. */
__attribute__((format(printf, 4, 5))) static void fail(struct st *s, int fatal, int code, const char *fmt,
                                                       ...)
{
    if (s->fatal || (!fatal && s->invalid))
        return;
    struct recd_twiml_error *e = s->err;
    e->code = code;
    XML_Size line = XML_GetCurrentLineNumber(s->xp), col = XML_GetCurrentColumnNumber(s->xp);
    e->line = line > UINT32_MAX ? UINT32_MAX : (unsigned)line;
    e->column = col >= UINT32_MAX ? UINT32_MAX : (unsigned)col + 1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
    if (fatal) {
        s->fatal = 1;
        XML_StopParser(s->xp, XML_FALSE);
    } else {
        s->invalid = 1;
    }
}

/* A value from the document, shown in a message: at most 40 bytes, anything that could break the
 * one-line log (control bytes, quotes) replaced by '?'. */
static const char *shown(const char *v, char buf[48])
{
    size_t i = 0;
    for (; v[i] && i < 40; i++) {
        unsigned char c = (unsigned char)v[i];
        buf[i] = (c < 0x20 || c == 0x7f || c == '"') ? '?' : (char)c;
    }
    if (v[i]) {
        memcpy(buf + i, "...", 3);
        i += 3;
    }
    buf[i] = '\0';
    return buf;
}

static int is_xml_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static struct recd_str trim(const char *p, size_t n)
{
    while (n && is_xml_space(p[0])) {
        p++;
        n--;
    }
    while (n && is_xml_space(p[n - 1]))
        n--;
    return (struct recd_str){p, n};
}

static int copy_str(struct st *s, const char *p, size_t n, struct recd_str *out)
{
    char *q = arena_alloc(&s->arena, n + 1);
    if (!q) {
        fail(s, 1, RECD_TWIML_E_INTERNAL, "out of memory");
        return -1;
    }
    if (n)
        memcpy(q, p, n);
    q[n] = '\0';
    *out = (struct recd_str){q, n};
    return 0;
}

static const char *const verb_names[] = {
    [RECD_TWIML_SAY] = "Say",           [RECD_TWIML_PLAY] = "Play",     [RECD_TWIML_PAUSE] = "Pause",
    [RECD_TWIML_GATHER] = "Gather",     [RECD_TWIML_RECORD] = "Record", [RECD_TWIML_HANGUP] = "Hangup",
    [RECD_TWIML_REDIRECT] = "Redirect", [RECD_TWIML_REJECT] = "Reject",
};

const char *recd_twiml_verb_name(enum recd_twiml_verb_type type)
{
    if ((int)type < RECD_TWIML_SAY || (int)type > RECD_TWIML_REJECT)
        return "?";
    return verb_names[type];
}

static int verb_of(const char *name)
{
    for (int t = RECD_TWIML_SAY; t <= RECD_TWIML_REJECT; t++)
        if (strcmp(name, verb_names[t]) == 0)
            return t;
    return 0;
}

static const char *name_of_kind(int kind)
{
    return kind == ELEM_RESPONSE ? "Response" : recd_twiml_verb_name((enum recd_twiml_verb_type)kind);
}

/* Twilio's other voice verbs and nouns: recd names them in the error instead of calling them
 * unknown, so a customer sees at once that the document is fine for Twilio but not for recd. */
static const char *const twilio_only[] = {
    "Dial",   "Enqueue",    "Leave",       "Connect",      "Start",    "Stop",   "Pay",
    "Prompt", "Refer",      "Sms",         "Message",      "Echo",     "Queue",  "Number",
    "Client", "Conference", "Sip",         "Sim",          "Stream",   "Siprec", "Transcription",
    "Config", "Parameter",  "Application", "VirtualAgent", "Autopilot"};

/* An element that is no verb of recd's: contract §7 makes it an application error, 12100, the
 * code the call's log and fallback see for any document recd cannot run (Twilio itself logs a
 * 12200 warning and skips the element). */
static void unknown_verb(struct st *s, const char *name)
{
    char b[48];
    for (int t = RECD_TWIML_SAY; t <= RECD_TWIML_REJECT; t++)
        if (strcasecmp(name, verb_names[t]) == 0) {
            fail(s, 0, RECD_TWIML_E_PARSE, "unknown verb <%s>: TwiML is case-sensitive, the verb is <%s>",
                 shown(name, b), verb_names[t]);
            return;
        }
    for (size_t i = 0; i < sizeof twilio_only / sizeof twilio_only[0]; i++)
        if (strcmp(name, twilio_only[i]) == 0) {
            fail(s, 0, RECD_TWIML_E_PARSE, "recd does not support <%s>", twilio_only[i]);
            return;
        }
    fail(s, 0, RECD_TWIML_E_PARSE, "unknown verb <%s>", shown(name, b));
}

/* ---- Attribute values ---- */

/* A whole number of decimal digits, nothing else (no sign, no spaces), within [min, max]. */
static int parse_uint(const char *v, unsigned min, unsigned max, unsigned *out)
{
    unsigned long x = 0;
    size_t i = 0;
    for (; v[i]; i++) {
        if (v[i] < '0' || v[i] > '9' || i >= 9)
            return -1;
        x = x * 10 + (unsigned long)(v[i] - '0');
    }
    if (i == 0 || x < min || x > max)
        return -1;
    *out = (unsigned)x;
    return 0;
}

static int is_scheme_char(char c, int first)
{
    int alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    return first ? alpha : (alpha || (c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.');
}

/* A URL as the document may write it: an absolute http or https URL with a host, or a relative
 * reference (RFC 3986 section 4.2) that the engine resolves against the document's URL. Spaces and
 * control bytes are refused rather than guessed at. */
static int url_ok(const char *v, size_t n)
{
    if (n == 0 || n > RECD_TWIML_MAX_URL)
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)v[i] <= 0x20 || v[i] == 0x7f)
            return 0;
    size_t j = 0;
    while (j < n && v[j] != ':' && v[j] != '/' && v[j] != '?' && v[j] != '#')
        j++;
    if (j == n || v[j] != ':') /* relative: no scheme, and a host if it starts with "//" */
        return !(n >= 2 && v[0] == '/' && v[1] == '/') ||
               (n > 2 && v[2] != '/' && v[2] != '?' && v[2] != '#');
    for (size_t i = 0; i < j; i++)
        if (!is_scheme_char(v[i], i == 0))
            return 0; /* a colon in a first path segment is not a relative reference either */
    if (!((j == 4 && strncasecmp(v, "http", 4) == 0) || (j == 5 && strncasecmp(v, "https", 5) == 0)))
        return 0;
    return n - j > 3 && v[j + 1] == '/' && v[j + 2] == '/' && v[j + 3] != '/' && v[j + 3] != '?' &&
           v[j + 3] != '#';
}

static int voice_ok(const char *v)
{
    if (!strcmp(v, "man") || !strcmp(v, "woman") || !strcmp(v, "alice"))
        return 1;
    const char *name = NULL;
    if (!strncmp(v, "Polly.", 6))
        name = v + 6;
    else if (!strncmp(v, "Google.", 7))
        name = v + 7;
    if (!name || !*name || strlen(name) > 64)
        return 0;
    for (; *name; name++)
        if (!is_scheme_char(*name, 0) && *name != '_')
            return 0;
    return 1;
}

/* A BCP 47-shaped tag: 2-3 letters, then subtags of 1-8 letters or digits ("en", "en-GB",
 * "cmn-Hans-CN"); case is not checked, as BCP 47 ignores it. */
static int language_ok(const char *v)
{
    size_t i = 0, n = strlen(v);
    if (n > 35)
        return 0;
    while (i < n && ((v[i] | 0x20) >= 'a' && (v[i] | 0x20) <= 'z'))
        i++;
    if (i < 2 || i > 3)
        return 0;
    while (i < n) {
        if (v[i++] != '-')
            return 0;
        size_t k = 0;
        while (i < n && v[i] != '-') {
            char c = (char)(v[i] | 0x20);
            if (!((c >= 'a' && c <= 'z') || (v[i] >= '0' && v[i] <= '9')))
                return 0;
            i++;
            k++;
        }
        if (k < 1 || k > 8)
            return 0;
    }
    return 1;
}

static int keys_ok(const char *v, int allow_w)
{
    for (; *v; v++)
        if (!((*v >= '0' && *v <= '9') || *v == '*' || *v == '#' || (allow_w && *v == 'w')))
            return 0;
    return 1;
}

/* recordingStatusCallbackEvent: Twilio separates values with spaces; commas are accepted too,
 * as its REST API's list parameters use them. */
static int events_of(const char *v, unsigned *out)
{
    unsigned set = 0;
    while (*v) {
        if (*v == ' ' || *v == ',') {
            v++;
            continue;
        }
        size_t k = strcspn(v, " ,");
        if (k == 11 && !strncmp(v, "in-progress", k))
            set |= RECD_TWIML_EVENT_IN_PROGRESS;
        else if (k == 9 && !strncmp(v, "completed", k))
            set |= RECD_TWIML_EVENT_COMPLETED;
        else if (k == 6 && !strncmp(v, "absent", k))
            set |= RECD_TWIML_EVENT_ABSENT;
        else
            return -1;
        v += k;
    }
    if (!set)
        return -1;
    *out = set;
    return 0;
}

/*
 * Every attribute recd reads, with where it goes and the code for a bad value (Twilio's error
 * pages, https://www.twilio.com/docs/api/errors/N). `in_gather` is the code Twilio gives the same
 * mistake in a verb nested in <Gather>, when it has one.
 */
enum akind {
    A_URL,
    A_METHOD,
    A_UINT,
    A_BOOL,
    A_RECORD_KEYS,
    A_GATHER_KEY,
    A_DIGITS,
    A_VOICE,
    A_LANGUAGE,
    A_TRIM,
    A_EVENTS,
    A_INPUT,
    A_REASON
};

struct attr_rule {
    int verb;
    const char *name;
    enum akind kind;
    size_t off;
    unsigned min, max;
    int code, in_gather;
};

#define AT(member) offsetof(struct recd_twiml_verb, u.member)

static const struct attr_rule rules[] = {
    {RECD_TWIML_SAY, "voice", A_VOICE, AT(say.voice), 0, 0, RECD_TWIML_E_SAY_VOICE,
     RECD_TWIML_E_GATHER_SAY_VOICE},
    {RECD_TWIML_SAY, "language", A_LANGUAGE, AT(say.language), 0, 0, RECD_TWIML_E_SCHEMA, 0},
    {RECD_TWIML_SAY, "loop", A_UINT, AT(say.loop), 0, RECD_TWIML_MAX_LOOP, RECD_TWIML_E_SAY_LOOP,
     RECD_TWIML_E_GATHER_SAY_LOOP},
    {RECD_TWIML_PLAY, "loop", A_UINT, AT(play.loop), 0, RECD_TWIML_MAX_LOOP, RECD_TWIML_E_PLAY_LOOP, 0},
    {RECD_TWIML_PLAY, "digits", A_DIGITS, AT(play.digits), 0, 0, RECD_TWIML_E_PLAY_DIGITS, 0},
    {RECD_TWIML_PAUSE, "length", A_UINT, AT(pause.length), 1, RECD_TWIML_MAX_SECONDS,
     RECD_TWIML_E_PAUSE_LENGTH, 0},
    {RECD_TWIML_GATHER, "action", A_URL, AT(gather.action), 0, 0, RECD_TWIML_E_URL, 0},
    {RECD_TWIML_GATHER, "method", A_METHOD, AT(gather.method), 0, 0, RECD_TWIML_E_GATHER_METHOD, 0},
    {RECD_TWIML_GATHER, "timeout", A_UINT, AT(gather.timeout), 1, RECD_TWIML_MAX_SECONDS,
     RECD_TWIML_E_GATHER_TIMEOUT, 0},
    {RECD_TWIML_GATHER, "finishOnKey", A_GATHER_KEY, AT(gather.finish_on_key), 0, 0,
     RECD_TWIML_E_GATHER_FINISH, 0},
    {RECD_TWIML_GATHER, "numDigits", A_UINT, AT(gather.num_digits), 1, RECD_TWIML_MAX_DIGITS,
     RECD_TWIML_E_GATHER_DIGITS, 0},
    {RECD_TWIML_GATHER, "input", A_INPUT, 0, 0, 0, RECD_TWIML_E_GATHER_INPUT, 0},
    {RECD_TWIML_GATHER, "actionOnEmptyResult", A_BOOL, AT(gather.action_on_empty_result), 0, 0,
     RECD_TWIML_E_GATHER_EMPTY, 0},
    {RECD_TWIML_RECORD, "action", A_URL, AT(record.action), 0, 0, RECD_TWIML_E_URL, 0},
    {RECD_TWIML_RECORD, "method", A_METHOD, AT(record.method), 0, 0, RECD_TWIML_E_RECORD_METHOD, 0},
    {RECD_TWIML_RECORD, "timeout", A_UINT, AT(record.timeout), 0, RECD_TWIML_MAX_SECONDS,
     RECD_TWIML_E_RECORD_TIMEOUT, 0},
    {RECD_TWIML_RECORD, "finishOnKey", A_RECORD_KEYS, AT(record.finish_on_key), 0, 0,
     RECD_TWIML_E_RECORD_FINISH, 0},
    {RECD_TWIML_RECORD, "maxLength", A_UINT, AT(record.max_length), 2, RECD_TWIML_MAX_SECONDS,
     RECD_TWIML_E_RECORD_MAX_LENGTH, 0},
    {RECD_TWIML_RECORD, "playBeep", A_BOOL, AT(record.play_beep), 0, 0, RECD_TWIML_E_RECORD_BEEP, 0},
    {RECD_TWIML_RECORD, "trim", A_TRIM, AT(record.trim), 0, 0, RECD_TWIML_E_RECORD_TRIM, 0},
    {RECD_TWIML_RECORD, "recordingStatusCallback", A_URL, AT(record.recording_status_callback), 0, 0,
     RECD_TWIML_E_RSC_URL, 0},
    {RECD_TWIML_RECORD, "recordingStatusCallbackMethod", A_METHOD,
     AT(record.recording_status_callback_method), 0, 0, RECD_TWIML_E_RECORD_METHOD, 0},
    {RECD_TWIML_RECORD, "recordingStatusCallbackEvent", A_EVENTS, AT(record.recording_status_callback_event),
     0, 0, RECD_TWIML_E_RECORD_EVENT, 0},
    {RECD_TWIML_RECORD, "transcribe", A_BOOL, AT(record.transcribe), 0, 0, RECD_TWIML_E_RECORD_TRANSCRIBE, 0},
    {RECD_TWIML_RECORD, "transcribeCallback", A_URL, AT(record.transcribe_callback), 0, 0,
     RECD_TWIML_E_TRANSCRIBE_URL, 0},
    {RECD_TWIML_REDIRECT, "method", A_METHOD, AT(redirect.method), 0, 0, RECD_TWIML_E_REDIRECT_METHOD, 0},
    {RECD_TWIML_REJECT, "reason", A_REASON, AT(reject), 0, 0, RECD_TWIML_E_REJECT_REASON, 0},
};

/* set_attr notes which rules a verb used in a 32-bit set. */
_Static_assert(sizeof rules / sizeof rules[0] <= 32, "too many attribute rules for the seen set");

/* Attributes Twilio documents that only matter to something recd does not do. Refused with a
 * message that says so, rather than as unknown or, worse, accepted and ignored. */
static const struct {
    int verb;
    const char *name, *why;
} unsupported[] = {
    {RECD_TWIML_GATHER, "speechTimeout", "speech recognition"},
    {RECD_TWIML_GATHER, "maxSpeechTime", "speech recognition"},
    {RECD_TWIML_GATHER, "speechModel", "speech recognition"},
    {RECD_TWIML_GATHER, "enhanced", "speech recognition"},
    {RECD_TWIML_GATHER, "hints", "speech recognition"},
    {RECD_TWIML_GATHER, "language", "speech recognition"},
    {RECD_TWIML_GATHER, "profanityFilter", "speech recognition"},
    {RECD_TWIML_GATHER, "partialResultCallback", "speech recognition"},
    {RECD_TWIML_GATHER, "partialResultCallbackMethod", "speech recognition"},
    {RECD_TWIML_GATHER, "bargeIn", "speech recognition"},
    {RECD_TWIML_RECORD, "recordingConfigurationId", "recording configurations"},
};

/* Stores attribute value `v` by rule `r` into `field`. Returns 1 when stored, or when it refused the
 * value with an error of its own; 0 for a value the caller refuses as invalid. One case per kind
 * of value TwiML has, each a few lines: it is long because the kinds are many, and kept in one
 * switch so that the compiler checks every kind is handled. */
static int set_value(struct st *s, const struct attr_rule *r, int code, const char *vn, void *field,
                     const char *v)
{
    char b[48];
    size_t n = strlen(v);
    switch (r->kind) {
    case A_URL:
        /* An empty action is the current document (what RFC 3986 resolves "" to); an empty callback
         * is no callback. Either way, the same as leaving the attribute out. */
        if (n && !url_ok(v, n))
            return 0;
        copy_str(s, v, n, field);
        return 1;
    case A_METHOD:
        if (strcmp(v, "GET") == 0)
            *(enum recd_twiml_method *)field = RECD_TWIML_GET;
        else if (strcmp(v, "POST") == 0)
            *(enum recd_twiml_method *)field = RECD_TWIML_POST;
        else
            return 0;
        return 1;
    case A_UINT:
        if (parse_uint(v, r->min, r->max, field) < 0) {
            fail(s, 0, code, "<%s %s=\"%s\">: want a whole number from %u to %u", vn, r->name, shown(v, b),
                 r->min, r->max);
            return 1;
        }
        return 1;
    case A_BOOL:
        if (strcmp(v, "true") == 0)
            *(bool *)field = true;
        else if (strcmp(v, "false") == 0)
            *(bool *)field = false;
        else
            return 0;
        return 1;
    case A_RECORD_KEYS:
        if (n == 0 || n > RECD_TWIML_MAX_DIGITS || !keys_ok(v, 0))
            return 0;
        copy_str(s, v, n, field);
        return 1;
    case A_GATHER_KEY:
        if (n > 1 || !keys_ok(v, 0))
            return 0;
        *(char *)field = v[0];
        return 1;
    case A_DIGITS:
        if (n > RECD_TWIML_MAX_DIGITS || !keys_ok(v, 1))
            return 0;
        copy_str(s, v, n, field);
        return 1;
    case A_VOICE:
        if (!voice_ok(v))
            return 0;
        copy_str(s, v, n, field);
        return 1;
    case A_LANGUAGE:
        if (!language_ok(v))
            return 0;
        copy_str(s, v, n, field);
        return 1;
    case A_TRIM:
        if (strcmp(v, "trim-silence") == 0)
            *(enum recd_twiml_trim *)field = RECD_TWIML_TRIM_SILENCE;
        else if (strcmp(v, "do-not-trim") == 0)
            *(enum recd_twiml_trim *)field = RECD_TWIML_DO_NOT_TRIM;
        else
            return 0;
        return 1;
    case A_EVENTS:
        if (events_of(v, field) < 0)
            return 0;
        return 1;
    case A_INPUT:
        if (strcmp(v, "dtmf") == 0)
            return 1;
        if (strstr(v, "speech")) {
            fail(s, 0, code, "<Gather input=\"%s\">: recd gathers DTMF only", shown(v, b));
            return 1;
        }
        return 0;
    case A_REASON:
        if (strcmp(v, "rejected") == 0)
            *(enum recd_twiml_reject_reason *)field = RECD_TWIML_REJECTED;
        else if (strcmp(v, "busy") == 0)
            *(enum recd_twiml_reject_reason *)field = RECD_TWIML_BUSY;
        else
            return 0;
        return 1;
    }
    return 0;
}

/* Sets attribute `name` of verb `vb` (in a <Gather> when `nested`) from its text `v`, or fails the
 * document with the code Twilio gives that attribute. */
static void set_attr(struct st *s, struct recd_twiml_verb *vb, int nested, const char *name, const char *v,
                     unsigned *seen)
{
    char b[48];
    const char *vn = recd_twiml_verb_name(vb->type);
    const struct attr_rule *r = NULL;
    for (size_t i = 0; i < sizeof rules / sizeof rules[0]; i++)
        if (rules[i].verb == (int)vb->type && strcmp(rules[i].name, name) == 0) {
            r = &rules[i];
            *seen |= 1u << (i & 31);
            break;
        }
    if (!r) {
        for (size_t i = 0; i < sizeof unsupported / sizeof unsupported[0]; i++)
            if (unsupported[i].verb == (int)vb->type && strcmp(unsupported[i].name, name) == 0) {
                fail(s, 0, RECD_TWIML_E_SCHEMA, "<%s %s>: recd does not do %s", vn, unsupported[i].name,
                     unsupported[i].why);
                return;
            }
        fail(s, 0, RECD_TWIML_E_SCHEMA, "<%s> has no attribute %s", vn, shown(name, b));
        return;
    }
    int code = nested && r->in_gather ? r->in_gather : r->code;
    if (!set_value(s, r, code, vn, (char *)vb + r->off, v))
        fail(s, 0, code, "<%s %s=\"%s\">: invalid value", vn, r->name, shown(v, b));
}

static size_t rule_index(int verb, const char *name)
{
    for (size_t i = 0; i < sizeof rules / sizeof rules[0]; i++)
        if (rules[i].verb == verb && strcmp(rules[i].name, name) == 0)
            return i;
    return 0;
}

/* Twilio's defaults, from each verb's page under https://www.twilio.com/docs/voice/twiml. */
static void set_defaults(struct recd_twiml_verb *vb)
{
    switch (vb->type) {
    case RECD_TWIML_SAY:
        vb->u.say.voice = RECD_STR("man");
        vb->u.say.loop = 1;
        break;
    case RECD_TWIML_PLAY: vb->u.play.loop = 1; break;
    case RECD_TWIML_PAUSE: vb->u.pause.length = 1; break;
    case RECD_TWIML_GATHER:
        vb->u.gather.timeout = 5;
        vb->u.gather.finish_on_key = '#';
        break;
    case RECD_TWIML_RECORD:
        vb->u.record.timeout = 5;
        vb->u.record.finish_on_key = RECD_STR("1234567890*#");
        vb->u.record.max_length = 3600;
        vb->u.record.play_beep = true;
        vb->u.record.recording_status_callback_event = RECD_TWIML_EVENT_COMPLETED;
        break;
    default: break;
    }
}

/* Defaults that depend on another attribute, once all of them are read. */
static void set_late_defaults(struct recd_twiml_verb *vb, unsigned seen)
{
    if (vb->type == RECD_TWIML_RECORD && vb->u.record.transcribe &&
        !(seen & (1u << (rule_index(RECD_TWIML_RECORD, "maxLength") & 31))))
        vb->u.record.max_length = 120; /* "120 seconds (two minutes) for a transcribed recording" */
    if (vb->type == RECD_TWIML_SAY && !(seen & (1u << (rule_index(RECD_TWIML_SAY, "language") & 31)))) {
        const char *v = vb->u.say.voice.p;
        /* The basic voices' default is "en"; every other voice's default is "en-US". */
        vb->u.say.language = (!strcmp(v, "man") || !strcmp(v, "woman")) ? RECD_STR("en") : RECD_STR("en-US");
    }
}

static struct recd_twiml_verb *new_verb(struct st *s, long parent)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16;
        struct recd_twiml_verb *v = realloc(s->verbs, cap * sizeof *v);
        if (!v) {
            fail(s, 1, RECD_TWIML_E_INTERNAL, "out of memory");
            return NULL;
        }
        s->verbs = v;
        long *p = realloc(s->parent, cap * sizeof *p);
        if (!p) {
            fail(s, 1, RECD_TWIML_E_INTERNAL, "out of memory");
            return NULL;
        }
        s->parent = p;
        s->cap = cap;
    }
    struct recd_twiml_verb *vb = &s->verbs[s->n];
    memset(vb, 0, sizeof *vb);
    s->parent[s->n] = parent;
    s->n++;
    return vb;
}

/* ---- expat callbacks ---- */

static void XMLCALL on_start(void *ud, const XML_Char *name, const XML_Char **atts)
{
    struct st *s = ud;
    char b[48];
    if (s->fatal)
        return;
    if (++s->n_elements > RECD_TWIML_MAX_ELEMENTS) {
        fail(s, 1, RECD_TWIML_E_PARSE, "more than %d elements", RECD_TWIML_MAX_ELEMENTS);
        return;
    }
    if (s->depth >= RECD_TWIML_MAX_NESTING) {
        fail(s, 1, RECD_TWIML_E_PARSE, "elements nested more than %d deep", RECD_TWIML_MAX_NESTING);
        return;
    }
    struct open_elem *e = &s->stack[++s->depth];
    e->kind = ELEM_SKIP;
    e->verb = -1;
    if (s->invalid)
        return;
    if (s->depth == 1) {
        if (strcmp(name, "Response") != 0)
            fail(s, 0, RECD_TWIML_E_ROOT, "the root element must be <Response>, not <%s>", shown(name, b));
        else if (atts[0])
            fail(s, 0, RECD_TWIML_E_SCHEMA, "<Response> has no attribute %s", shown(atts[0], b));
        else
            e->kind = ELEM_RESPONSE;
        return;
    }
    struct open_elem *up = &s->stack[s->depth - 1];
    int type = verb_of(name);
    if (up->kind == ELEM_RESPONSE) {
        if (!type) {
            unknown_verb(s, name);
            return;
        }
    } else if (up->kind == RECD_TWIML_GATHER) {
        if (type != RECD_TWIML_SAY && type != RECD_TWIML_PLAY && type != RECD_TWIML_PAUSE) {
            fail(s, 0, RECD_TWIML_E_GATHER_NESTED,
                 "<Gather> cannot contain <%s>, only <Say>, <Play> and <Pause>", shown(name, b));
            return;
        }
    } else if (s->depth > RECD_TWIML_MAX_DEPTH) {
        fail(s, 0, RECD_TWIML_E_SCHEMA, "<%s> is nested more than %d deep", shown(name, b),
             RECD_TWIML_MAX_DEPTH);
        return;
    } else {
        fail(s, 0, RECD_TWIML_E_SCHEMA, "<%s> cannot contain <%s>", name_of_kind(up->kind), shown(name, b));
        return;
    }
    struct recd_twiml_verb *vb = new_verb(s, up->kind == RECD_TWIML_GATHER ? up->verb : -1);
    if (!vb)
        return;
    vb->type = (enum recd_twiml_verb_type)type;
    XML_Size line = XML_GetCurrentLineNumber(s->xp);
    vb->line = line > UINT32_MAX ? UINT32_MAX : (unsigned)line;
    set_defaults(vb);
    unsigned seen = 0;
    for (size_t i = 0; atts[i] && !s->invalid && !s->fatal; i += 2)
        set_attr(s, vb, up->kind == RECD_TWIML_GATHER, atts[i], atts[i + 1], &seen);
    set_late_defaults(vb, seen);
    e->kind = type;
    e->verb = (long)(s->n - 1);
    recd_buf_reset(&s->text);
}

static void XMLCALL on_text(void *ud, const XML_Char *p, int len)
{
    struct st *s = ud;
    if (s->fatal || s->invalid || len <= 0)
        return;
    struct open_elem *e = &s->stack[s->depth];
    if (e->kind == RECD_TWIML_SAY || e->kind == RECD_TWIML_PLAY || e->kind == RECD_TWIML_REDIRECT) {
        /* Bounded by the body: at most RECD_TWIML_MAX_BYTES in, three bytes out per byte in. */
        recd_buf_add(&s->text, p, (size_t)len);
        return;
    }
    for (int i = 0; i < len; i++)
        if (!is_xml_space(p[i])) {
            fail(s, 0, RECD_TWIML_E_SCHEMA, "<%s> cannot contain text", name_of_kind(e->kind));
            return;
        }
}

static size_t utf8_chars(struct recd_str t)
{
    size_t c = 0;
    for (size_t i = 0; i < t.n; i++)
        c += ((unsigned char)t.p[i] & 0xc0) != 0x80;
    return c;
}

/* The content of <Say>, <Play> and <Redirect>, checked and kept once the element closes. */
static void finish_content(struct st *s, struct recd_twiml_verb *vb)
{
    struct recd_str t = trim(s->text.p ? s->text.p : "", s->text.len);
    char b[48];
    switch (vb->type) {
    case RECD_TWIML_SAY:
        if (t.n == 0)
            fail(s, 0, RECD_TWIML_E_SAY_TEXT, "<Say> has no text to say");
        else if (utf8_chars(t) > RECD_TWIML_MAX_SAY)
            fail(s, 0, RECD_TWIML_E_SAY_TOO_LONG, "<Say> text is longer than %d characters",
                 RECD_TWIML_MAX_SAY);
        else
            copy_str(s, t.p, t.n, &vb->u.say.text);
        return;
    case RECD_TWIML_PLAY:
        if (t.n == 0 && vb->u.play.digits.n == 0)
            fail(s, 0, RECD_TWIML_E_URL, "<Play> has neither a URL nor digits");
        else if (t.n && vb->u.play.digits.n)
            fail(s, 0, RECD_TWIML_E_SCHEMA, "<Play> takes a URL or digits, not both");
        else if (t.n && !url_ok(t.p, t.n))
            fail(s, 0, RECD_TWIML_E_URL, "<Play> URL \"%s\" is not an http(s) URL or a relative reference",
                 shown(t.p, b));
        else
            copy_str(s, t.p, t.n, &vb->u.play.url);
        return;
    case RECD_TWIML_REDIRECT:
        if (!url_ok(t.p, t.n))
            fail(s, 0, RECD_TWIML_E_URL,
                 "<Redirect> URL \"%s\" is not an http(s) URL or a relative reference",
                 shown(t.n ? t.p : "", b));
        else
            copy_str(s, t.p, t.n, &vb->u.redirect.url);
        return;
    default: return;
    }
}

static void XMLCALL on_end(void *ud, const XML_Char *name)
{
    struct st *s = ud;
    (void)name; /* expat has already matched it with the start tag */
    if (s->fatal || s->depth == 0)
        return;
    struct open_elem *e = &s->stack[s->depth];
    if (!s->invalid && e->verb >= 0)
        finish_content(s, &s->verbs[e->verb]);
    s->depth--;
}

static void XMLCALL on_doctype(void *ud, const XML_Char *name, const XML_Char *sysid, const XML_Char *pubid,
                               int has_internal_subset)
{
    (void)name;
    (void)sysid;
    (void)pubid;
    (void)has_internal_subset;
    /* No DTD is ever read: refusing at the DOCTYPE means no entity is declared, so none can be
     * expanded (billion laughs) or fetched (external entities). */
    fail(ud, 1, RECD_TWIML_E_PARSE, "a DOCTYPE is not allowed in TwiML");
}

static void XMLCALL on_entity_decl(void *ud, const XML_Char *name, int is_param, const XML_Char *value,
                                   int value_len, const XML_Char *base, const XML_Char *sysid,
                                   const XML_Char *pubid, const XML_Char *notation)
{
    (void)name, (void)is_param, (void)value, (void)value_len, (void)base, (void)sysid, (void)pubid,
        (void)notation;
    fail(ud, 1, RECD_TWIML_E_PARSE, "entity declarations are not allowed in TwiML");
}

static int XMLCALL on_external_entity(XML_Parser p, const XML_Char *context, const XML_Char *base,
                                      const XML_Char *sysid, const XML_Char *pubid)
{
    (void)p, (void)context, (void)base, (void)sysid, (void)pubid;
    return XML_STATUS_ERROR;
}

static void set_error(struct recd_twiml_error *err, int code, const char *msg)
{
    err->code = code;
    err->line = err->column = 0;
    snprintf(err->message, sizeof err->message, "%s", msg);
}

/* The verbs in document order, turned into the caller's arrays: top-level verbs in one, each
 * <Gather>'s nested verbs (which follow it directly) in another. */
static struct doc_impl *flatten(struct st *s)
{
    struct doc_impl *d = arena_alloc(&s->arena, sizeof *d);
    size_t top = 0;
    for (size_t i = 0; i < s->n; i++)
        top += s->parent[i] < 0;
    struct recd_twiml_verb *out = top ? arena_alloc(&s->arena, top * sizeof *out) : NULL;
    if (!d || (top && !out))
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < s->n; i++) {
        if (s->parent[i] >= 0)
            continue;
        struct recd_twiml_verb *vb = &out[k++];
        *vb = s->verbs[i];
        if (vb->type != RECD_TWIML_GATHER)
            continue;
        size_t m = 0;
        while (i + 1 + m < s->n && s->parent[i + 1 + m] == (long)i)
            m++;
        if (m) {
            struct recd_twiml_verb *nested = arena_alloc(&s->arena, m * sizeof *nested);
            if (!nested)
                return NULL;
            memcpy(nested, &s->verbs[i + 1], m * sizeof *nested);
            vb->u.gather.nested = nested;
            vb->u.gather.n_nested = m;
        }
    }
    d->pub.verbs = out;
    d->pub.n_verbs = top;
    return d;
}

int recd_twiml_parse(const char *body, size_t len, struct recd_twiml_doc **out, struct recd_twiml_error *err)
{
    *out = NULL;
    memset(err, 0, sizeof *err);
    if (len == 0) {
        set_error(err, RECD_TWIML_E_EMPTY, "the response body is empty");
        return RECD_E_BAD_INPUT;
    }
    if (len > RECD_TWIML_MAX_BYTES) {
        snprintf(err->message, sizeof err->message, "the TwiML document is %zu bytes, more than %d", len,
                 RECD_TWIML_MAX_BYTES);
        err->code = RECD_TWIML_E_TOO_LARGE;
        return RECD_E_BAD_INPUT;
    }
    struct st s = {.err = err};
    s.xp = XML_ParserCreate(NULL);
    if (!s.xp) {
        set_error(err, RECD_TWIML_E_INTERNAL, "out of memory");
        return RECD_E_INTERNAL;
    }
    recd_buf_init(&s.text, 0);
    XML_SetUserData(s.xp, &s);
    XML_SetElementHandler(s.xp, on_start, on_end);
    XML_SetCharacterDataHandler(s.xp, on_text);
    XML_SetStartDoctypeDeclHandler(s.xp, on_doctype);
    XML_SetEntityDeclHandler(s.xp, on_entity_decl);
    XML_SetExternalEntityRefHandler(s.xp, on_external_entity);
    XML_SetParamEntityParsing(s.xp, XML_PARAM_ENTITY_PARSING_NEVER);

    int rc = RECD_E_BAD_INPUT;
    if (XML_Parse(s.xp, body, (int)len, XML_TRUE) == XML_STATUS_ERROR) {
        enum XML_Error xe = XML_GetErrorCode(s.xp);
        if (xe == XML_ERROR_NO_MEMORY) {
            set_error(err, RECD_TWIML_E_INTERNAL, "out of memory");
            s.fatal = 1;
        } else if (xe != XML_ERROR_ABORTED) {
            /* Malformed XML is 12100 even after a schema error: the document as a whole is not XML. */
            XML_Size line = XML_GetCurrentLineNumber(s.xp), col = XML_GetCurrentColumnNumber(s.xp);
            err->code = RECD_TWIML_E_PARSE;
            err->line = line > UINT32_MAX ? UINT32_MAX : (unsigned)line;
            err->column = col >= UINT32_MAX ? UINT32_MAX : (unsigned)col + 1;
            snprintf(err->message, sizeof err->message, "malformed XML: %s", XML_ErrorString(xe));
            s.fatal = 1;
        }
    }
    if (!s.fatal && !s.invalid) {
        struct doc_impl *d = flatten(&s);
        if (d) {
            d->arena = s.arena;
            s.arena.head = NULL;
            *out = &d->pub;
            rc = 0;
        } else {
            set_error(err, RECD_TWIML_E_INTERNAL, "out of memory");
        }
    }
    if (rc != 0 && err->code == RECD_TWIML_E_INTERNAL)
        rc = RECD_E_INTERNAL;
    if (rc == 0)
        memset(err, 0, sizeof *err);
    XML_ParserFree(s.xp);
    recd_buf_free(&s.text);
    free(s.verbs);
    free(s.parent);
    arena_free(&s.arena);
    return rc;
}

void recd_twiml_free(struct recd_twiml_doc *doc)
{
    if (!doc)
        return;
    struct doc_impl *d = (struct doc_impl *)doc;
    struct arena a = d->arena; /* d lives in one of the blocks: copy the head out first */
    arena_free(&a);
}

/* ---- RFC 3986 reference resolution ---- */

struct uref {
    const char *scheme, *auth, *path, *query, *frag;
    size_t scheme_n, auth_n, path_n, query_n, frag_n;
    int has_scheme, has_auth, has_query, has_frag;
};

/* Splits a reference the way RFC 3986 appendix B does, checking the scheme's characters. */
static int split_ref(const char *v, size_t n, struct uref *r)
{
    memset(r, 0, sizeof *r);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)v[i] <= 0x20 || v[i] == 0x7f)
            return -1;
    size_t i = 0;
    while (i < n && v[i] != ':' && v[i] != '/' && v[i] != '?' && v[i] != '#')
        i++;
    if (i < n && v[i] == ':') {
        for (size_t k = 0; k < i; k++)
            if (!is_scheme_char(v[k], k == 0))
                return -1;
        if (i == 0)
            return -1;
        r->has_scheme = 1;
        r->scheme = v;
        r->scheme_n = i;
        i++;
    } else {
        i = 0;
    }
    if (n - i >= 2 && v[i] == '/' && v[i + 1] == '/') {
        i += 2;
        size_t a = i;
        while (i < n && v[i] != '/' && v[i] != '?' && v[i] != '#')
            i++;
        r->has_auth = 1;
        r->auth = v + a;
        r->auth_n = i - a;
    }
    size_t p = i;
    while (i < n && v[i] != '?' && v[i] != '#')
        i++;
    r->path = v + p;
    r->path_n = i - p;
    if (i < n && v[i] == '?') {
        size_t q = ++i;
        while (i < n && v[i] != '#')
            i++;
        r->has_query = 1;
        r->query = v + q;
        r->query_n = i - q;
    }
    if (i < n && v[i] == '#') {
        r->has_frag = 1;
        r->frag = v + i + 1;
        r->frag_n = n - i - 1;
    }
    return 0;
}

/* Removes the last segment and its "/" from the output, as step 2C of section 5.2.4 says. */
static size_t pop_segment(const char *out, size_t o)
{
    while (o > 0 && out[o - 1] != '/')
        o--;
    return o > 0 ? o - 1 : 0;
}

/* RFC 3986 section 5.2.4; `out` needs `n` bytes (the result is never longer). */
static size_t remove_dot_segments(const char *in, size_t n, char *out)
{
    size_t i = 0, o = 0;
    while (i < n) {
        const char *p = in + i;
        size_t rest = n - i;
        if (rest >= 3 && !memcmp(p, "../", 3)) {
            i += 3;
        } else if (rest >= 2 && !memcmp(p, "./", 2)) {
            i += 2;
        } else if (rest >= 3 && !memcmp(p, "/./", 3)) {
            i += 2;
        } else if (rest == 2 && !memcmp(p, "/.", 2)) {
            out[o++] = '/';
            i = n;
        } else if (rest >= 4 && !memcmp(p, "/../", 4)) {
            i += 3;
            o = pop_segment(out, o);
        } else if (rest == 3 && !memcmp(p, "/..", 3)) {
            o = pop_segment(out, o);
            out[o++] = '/';
            i = n;
        } else if ((rest == 1 && p[0] == '.') || (rest == 2 && !memcmp(p, "..", 2))) {
            i = n;
        } else {
            size_t k = p[0] == '/';
            while (k < rest && p[k] != '/')
                k++;
            memcpy(out + o, p, k);
            o += k;
            i += k;
        }
    }
    return o;
}

static int http_with_host(const struct uref *r)
{
    int http = (r->scheme_n == 4 && strncasecmp(r->scheme, "http", 4) == 0) ||
               (r->scheme_n == 5 && strncasecmp(r->scheme, "https", 5) == 0);
    return r->has_scheme && http && r->has_auth && r->auth_n > 0;
}

static int put(char *out, size_t cap, size_t *o, const char *p, size_t n)
{
    if (cap - *o <= n)
        return -1;
    memcpy(out + *o, p, n);
    *o += n;
    return 0;
}

int recd_twiml_resolve_url(const char *base, const char *ref, char *out, size_t cap)
{
    char mbuf[2 * RECD_TWIML_MAX_URL + 2], pbuf[2 * RECD_TWIML_MAX_URL + 2];
    size_t bn = strlen(base), rn = strlen(ref);
    struct uref b, r, t;
    if (cap > 0)
        out[0] = '\0';
    if (bn > RECD_TWIML_MAX_URL || rn > RECD_TWIML_MAX_URL || split_ref(base, bn, &b) < 0 ||
        split_ref(ref, rn, &r) < 0 || !http_with_host(&b))
        return RECD_E_BAD_INPUT;

    /* Section 5.2.2, strict. The path goes through pbuf when dot segments are removed. */
    const char *tp;
    size_t tpn;
    t = r;
    if (r.has_scheme) {
        tpn = remove_dot_segments(r.path, r.path_n, pbuf);
        tp = pbuf;
    } else {
        t.has_scheme = 1;
        t.scheme = b.scheme;
        t.scheme_n = b.scheme_n;
        if (r.has_auth) {
            tpn = remove_dot_segments(r.path, r.path_n, pbuf);
            tp = pbuf;
        } else {
            t.has_auth = 1;
            t.auth = b.auth;
            t.auth_n = b.auth_n;
            if (r.path_n == 0) {
                tp = b.path;
                tpn = b.path_n;
                if (!r.has_query) {
                    t.has_query = b.has_query;
                    t.query = b.query;
                    t.query_n = b.query_n;
                }
            } else if (r.path[0] == '/') {
                tpn = remove_dot_segments(r.path, r.path_n, pbuf);
                tp = pbuf;
            } else {
                /* Section 5.2.3: the base path up to its last "/", or "/" when it is empty. */
                size_t m = 0;
                if (b.path_n == 0) {
                    mbuf[m++] = '/';
                } else {
                    size_t k = b.path_n;
                    while (k > 0 && b.path[k - 1] != '/')
                        k--;
                    memcpy(mbuf, b.path, k);
                    m = k;
                }
                memcpy(mbuf + m, r.path, r.path_n);
                m += r.path_n;
                tpn = remove_dot_segments(mbuf, m, pbuf);
                tp = pbuf;
            }
        }
    }
    if (!http_with_host(&t))
        return RECD_E_BAD_INPUT;

    size_t o = 0;
    if (cap == 0 || put(out, cap, &o, t.scheme, t.scheme_n) < 0 || put(out, cap, &o, "://", 3) < 0 ||
        put(out, cap, &o, t.auth, t.auth_n) < 0 || put(out, cap, &o, tp, tpn) < 0 ||
        (t.has_query && (put(out, cap, &o, "?", 1) < 0 || put(out, cap, &o, t.query, t.query_n) < 0)) ||
        (t.has_frag && (put(out, cap, &o, "#", 1) < 0 || put(out, cap, &o, t.frag, t.frag_n) < 0))) {
        if (cap > 0)
            out[0] = '\0';
        return RECD_E_URI_TOO_LONG;
    }
    out[o] = '\0';
    return (int)o;
}
