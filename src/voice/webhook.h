#ifndef RECD_VOICE_WEBHOOK_H
#define RECD_VOICE_WEBHOOK_H

/*
 * The HTTP client the call engine talks to customers' web applications with: Twilio's voice
 * requests (TwiML fetches), status callbacks and <Play> audio. One thread runs a libcurl multi
 * handle; callers on any thread enqueue a request and return at once, so nothing here ever blocks
 * the SIP/RTP thread. Each request is signed as Twilio signs it (X-Twilio-Signature), so Twilio's
 * own RequestValidator accepts it. What recd does where Twilio's documentation is silent is listed
 * in docs/voice.md ("Webhooks").
 */

#include "core/buf.h"

#include <stddef.h>

/* Longest URL a request may go to, parameters of a GET included. */
#define RECD_WEBHOOK_MAX_URL 8192
/* Redirects followed per request (then Twilio's 11215). */
#define RECD_WEBHOOK_MAX_REDIRECTS 10
/* Default size limit of recd_webhook_get_media. */
#define RECD_WEBHOOK_MEDIA_MAX (16u << 20)
/* Length of an X-Twilio-Signature value: base64 of 20 bytes. */
#define RECD_WEBHOOK_SIG_LEN 28

/* Twilio's error codes for a failed request (https://www.twilio.com/docs/api/errors/N). */
#define RECD_WEBHOOK_E_URL            11100 /* Invalid URL format */
#define RECD_WEBHOOK_E_HTTP           11200 /* HTTP retrieval failure (also a 4xx or 5xx answer) */
#define RECD_WEBHOOK_E_CONNECT        11205 /* HTTP connection failure (refused, timed out) */
#define RECD_WEBHOOK_E_PROTOCOL       11206 /* HTTP protocol violation */
#define RECD_WEBHOOK_E_DNS            11210 /* HTTP bad host name */
#define RECD_WEBHOOK_E_REDIRECTS      11215 /* HTTP too many redirects */
#define RECD_WEBHOOK_E_BAD_REDIRECT   11216 /* HTTP invalid redirect */
#define RECD_WEBHOOK_E_TLS            11220 /* SSL/TLS handshake error */
#define RECD_WEBHOOK_E_CERT_NAME      11235 /* Certificate invalid - domain mismatch */
#define RECD_WEBHOOK_E_CERT_EXPIRED   11236 /* Certificate invalid - certificate expired */
#define RECD_WEBHOOK_E_CERT_UNTRUSTED 11237 /* Certificate invalid - could not find path to certificate */
#define RECD_WEBHOOK_E_TOO_LARGE      11750 /* TwiML response body too large */

/** The client: one thread and a curl multi handle. Opaque. */
struct recd_webhook;

/** Options of recd_webhook_start; zero (or NULL) in any field takes its default. */
struct recd_webhook_opts {
    unsigned timeout_ms;         /* one HTTP request, connecting included; default 15000 (Twilio's) */
    unsigned connect_timeout_ms; /* default 5000 (Twilio: two 5 s attempts) */
    size_t max_body;        /* response bytes kept; default RECD_TWIML_MAX_BYTES; more → RECD_E_TOO_LARGE */
    unsigned max_inflight;  /* requests on the wire at once; default 256; more wait in the queue */
    const char *user_agent; /* default "TwilioProxy/1.1 (recd)" */
    /* Added beside the brief's fields: */
    unsigned max_queued; /* requests accepted and not yet finished; default 4096; more → RECD_E_UNAVAILABLE */
    unsigned notify_retries;    /* retries of a recd_webhook_notify; default 3 */
    unsigned notify_backoff_ms; /* first retry's delay, doubled each time; default 1000 */
    const char *ca_file;        /* PEM bundle of trusted CAs instead of the system's (tests); copied */
};

/**
 * Starts the client's thread. Returns 0 and the client in *out, RECD_E_BAD_INPUT for a CA file
 * that is not readable, or RECD_E_INTERNAL when libcurl or the thread cannot be set up.
 */
int recd_webhook_start(const struct recd_webhook_opts *o, struct recd_webhook **out);

/**
 * Stops the thread and frees the client. Requests queued or in flight are cancelled: every
 * pending callback runs once, on the webhook thread before it ends, with RECD_E_UNAVAILABLE; a
 * pending notify is logged as dropped. Callbacks may still call recd_webhook_fetch (it answers
 * RECD_E_UNAVAILABLE) but never recd_webhook_stop. NULL is fine.
 */
void recd_webhook_stop(struct recd_webhook *wh);

/** One form parameter; both strings are owned by the form. */
struct recd_form_param {
    char *name;
    char *value;
};

/** An ordered list of form parameters (names may repeat), owned by whoever built it. */
struct recd_form {
    struct recd_form_param *v;
    size_t n, cap;
};

void recd_form_init(struct recd_form *f);
/** Frees every parameter; the form is empty and reusable afterwards. */
void recd_form_free(struct recd_form *f);
/** Appends a copy of (name, value). Returns 0, or RECD_E_BAD_INPUT for a NULL or empty name or a NULL value.
 */
int recd_form_add(struct recd_form *f, const char *name, const char *value);
/** The value of the first parameter called `name`, or NULL. */
const char *recd_form_get(const struct recd_form *f, const char *name);
/**
 * Appends the form to `out` as application/x-www-form-urlencoded ("a=1&b=x%20y"): every byte but
 * RFC 3986's unreserved ones percent-encoded, in the form's order. Returns 0.
 */
int recd_form_encode(const struct recd_form *f, struct recd_buf *out);

/**
 * Twilio's request signature: base64(HMAC-SHA1(token, url + name1 + value1 + name2 + ...)), the
 * POST parameters sorted by name and then value, byte by byte ("Unix-style case-sensitive"). For a
 * GET the parameters are in `url` already and `post_params` is NULL. `url` is the URL exactly as
 * requested (recd_webhook_request_url). Writes 28 characters and a NUL to `out`. Returns 0, or
 * RECD_E_BAD_INPUT for a NULL token or URL.
 */
int recd_webhook_sign(const char *token, size_t token_len, const char *url,
                      const struct recd_form *post_params, char out[RECD_WEBHOOK_SIG_LEN + 1]);

/**
 * Resolves `ref` (absolute, or relative as TwiML's action, <Redirect> and <Play> URLs may be)
 * against `base`, an absolute http or https URL, as RFC 3986 section 5.2 says (see
 * recd_twiml_resolve_url, which does the work). Writes the NUL-terminated result to `out` (`cap`
 * bytes). Returns 0, or RECD_E_BAD_INPUT when either is not a usable http(s) URL or the result
 * does not fit.
 */
int recd_webhook_resolve_url(const char *base, const char *ref, char *out, size_t cap);

/**
 * The URL a request to `url` goes to, which is also the URL it is signed with: `url` checked to be
 * an absolute http or https URL with a host (libcurl's parser), its fragment dropped (it never
 * reaches the server), "/" added when it has no path (the server sees "/"), and for a GET
 * (`get` 1) the encoded `params` appended to its query. Any "user:password@" stays in the URL (it
 * is HTTP Basic auth) but `out_signed` gets the URL without it, since the server never sees it.
 * Replaces the contents of both buffers (either may be NULL). Returns 0, or RECD_E_BAD_INPUT
 * when `url` is not such a URL or the result is longer than RECD_WEBHOOK_MAX_URL.
 */
int recd_webhook_request_url(const char *url, int get, const struct recd_form *params, struct recd_buf *out,
                             struct recd_buf *out_signed);

/** A request for recd_webhook_fetch and recd_webhook_notify. Everything is copied at enqueue. */
struct recd_webhook_req {
    const char *url;                /* absolute http(s) URL */
    int method_get;                 /* 0: POST form body; 1: GET with the params appended to the query */
    const struct recd_form *params; /* may be NULL */
    const char *token;              /* the account's auth token, for X-Twilio-Signature; NULL: unsigned */
    size_t token_len;
    const char *fallback_url; /* tried once when `url` fails (transport error, timeout, non-2xx, too
                                 large); may be NULL */
    int fallback_get;
};

/** What a request came to; every pointer is valid during the callback only. */
struct recd_webhook_result {
    int err;                  /* 0 (a 2xx answer within the size limit), RECD_E_UNAVAILABLE (transport error,
                                 timeout, a non-2xx answer, a bad redirect, or the client stopped),
                                 RECD_E_TOO_LARGE (body over the limit) or RECD_E_BAD_INPUT (not an http(s) URL) */
    long status;              /* HTTP status of the last answer, 0 if none */
    int twilio_code;          /* 0 on success, else a RECD_WEBHOOK_E_* code (0 when the client stopped) */
    const char *content_type; /* the answer's Content-Type, or NULL */
    const char *body;         /* the answer's body (NUL-terminated; also on a non-2xx), or NULL */
    size_t body_len;
    const char *url;    /* the URL that answered: the fallback's if used, the last one after redirects;
                           the base for relative URLs in the document */
    const char *detail; /* one line for logs: curl's message or "HTTP 500"; never NULL */
    int used_fallback;  /* 1 when the answer is the fallback URL's */
};

/** Runs on the webhook thread; must not block long (it holds up every other request). */
typedef void (*recd_webhook_cb)(void *arg, const struct recd_webhook_result *res);

/**
 * Enqueues a TwiML fetch and returns at once. `cb` runs exactly once if this returns 0, never
 * otherwise. Redirects 301, 302, 303 and 307 are followed (as Twilio does; each hop signed for its
 * own URL; a POST stays a POST with its parameters except after 303, which turns it into a GET).
 * Returns 0, RECD_E_BAD_INPUT for a NULL url or callback, or RECD_E_UNAVAILABLE when the client
 * is stopping or the queue is full.
 */
int recd_webhook_fetch(struct recd_webhook *wh, const struct recd_webhook_req *req, recd_webhook_cb cb,
                       void *arg);

/**
 * Fire and forget, for status callbacks: like fetch with no callback, but retried after a
 * transport error or a 5xx answer (notify_retries times, the delay doubling from
 * notify_backoff_ms), with the same I-Twilio-Idempotency-Token on every try; the outcome is
 * logged. Returns 0, RECD_E_BAD_INPUT or RECD_E_UNAVAILABLE as fetch does.
 */
int recd_webhook_notify(struct recd_webhook *wh, const struct recd_webhook_req *req);

/**
 * A binary GET for <Play> audio: unsigned, no parameters, no fallback, at most `max_bytes` bytes
 * of body (0: RECD_WEBHOOK_MEDIA_MAX). The callback gets the whole body. Returns as fetch does.
 */
int recd_webhook_get_media(struct recd_webhook *wh, const char *url, size_t max_bytes, recd_webhook_cb cb,
                           void *arg);

#endif
