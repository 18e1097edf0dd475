#ifndef RECD_VOICE_SIP_H
#define RECD_VOICE_SIP_H

/*
 * The SIP endpoint and its RTP media: a user agent server on UDP and TCP that answers INVITEs for
 * the numbers a handler knows, negotiates G.711 (PCMU, PCMA) with RFC 4733 telephone-events, and
 * moves 8 kHz 16-bit PCM between the network and the handler in 20 ms frames.
 *
 * One thread runs libre's event loop for SIP and every call's RTP. The handler's callbacks run on
 * that thread and must not block: a callback that waits on the network, the disk or a lock held
 * across such waits stalls every call's audio. Hand work to another thread and return.
 *
 * The other functions (answer, reject, hangup, play, digits) may be called from any thread; they
 * are queued to the SIP thread. A call is reference-counted: the module holds one reference until
 * the end callback has returned; a handler that keeps the pointer past that takes its own with
 * recd_sip_call_ref. Any function on an ended call is a harmless no-op; the call engine must stop
 * calling them before it calls recd_sip_stop (which ends every call and frees the endpoint).
 *
 * Only one endpoint runs per process (libre keeps per-thread loop state and process-wide init).
 */

#include <stddef.h>
#include <stdint.h>

#include "voice/rtp_rx.h"

struct recd_sip;
struct recd_sip_call;

/** What the handler answers to a new INVITE. */
enum recd_sip_decision {
    RECD_SIP_ANSWER = 0,      /**< 200 OK now */
    RECD_SIP_RING = 1,        /**< 180 Ringing; the handler calls recd_sip_answer or _reject later */
    RECD_SIP_NOT_FOUND = 2,   /**< 404 Not Found: no such number */
    RECD_SIP_BUSY = 3,        /**< 486 Busy Here (TwiML <Reject reason="busy">) */
    RECD_SIP_REJECTED = 4,    /**< 603 Decline (TwiML <Reject reason="rejected">) */
    RECD_SIP_UNAVAILABLE = 5, /**< 503 Service Unavailable (e.g. the handler is overloaded) */
};

/** Why a call ended, as passed to the end callback. */
enum recd_sip_end_reason {
    RECD_SIP_END_REMOTE_BYE = 1,      /**< the caller hung up after the answer */
    RECD_SIP_END_LOCAL = 2,           /**< recd_sip_hangup or recd_sip_reject, or the endpoint stopped */
    RECD_SIP_END_CANCEL = 3,          /**< the caller gave up while it was ringing (CANCEL) */
    RECD_SIP_END_TIMEOUT = 4,         /**< no ACK, or no RTP from a sending peer for rtp_timeout_ms */
    RECD_SIP_END_ERROR = 5,           /**< a transport or protocol failure */
    RECD_SIP_END_SESSION_EXPIRED = 6, /**< no session refresh in time (RFC 4028): recd sent BYE */
};

/** The facts of a new call, valid during on_invite only (copy what you keep). */
struct recd_sip_call_info {
    const char *call_id; /**< SIP Call-ID */
    const char *number;  /**< Request-URI user part, else To's: the number called */
    const char *from;    /**< From's URI user part (the caller), may be "" */
    const char *to;      /**< To's URI user part, may be "" */
    const char *source;  /**< the INVITE's source address, "IP:port" */
    const char *codec;   /**< "PCMU" or "PCMA", the codec chosen */
};

/** Counters of a call's media. */
struct recd_sip_call_stats {
    struct recd_rtp_stats rx; /**< receive side, as in rtp_rx.h */
    uint64_t foreign;         /**< RTP packets dropped because they came from elsewhere */
    uint64_t latched;         /**< 1 when media was latched to the INVITE's source (see sip.c) */
    uint64_t sent;            /**< RTP packets sent */
    uint64_t digits;          /**< digits delivered to the handler */
};

/** The call engine's side. Every callback runs on the SIP thread and must not block. */
struct recd_sip_handler {
    /**
     * A new INVITE for info->number from an allowed source with an acceptable offer. Decide; when
     * answering or ringing, set *call_arg to the handler's per-call state (passed to the other
     * callbacks). For any other decision the call ends here and no other callback follows.
     */
    enum recd_sip_decision (*on_invite)(void *arg, struct recd_sip_call *call,
                                        const struct recd_sip_call_info *info, void **call_arg);
    /** 20 ms of received audio (RECD_RTP_FRAME samples, 8 kHz, 16-bit), gaps as silence. */
    void (*on_audio)(void *call_arg, const int16_t *pcm, size_t samples);
    /**
     * The 20 ms frame just sent to the caller (RECD_RTP_FRAME samples: what is played, silence
     * when nothing is, or while digits go as RFC 4733 events), for the second channel of a dual
     * recording. Every 20 ms while media runs, sent or not (a peer on hold). Optional.
     */
    void (*on_sent)(void *call_arg, const int16_t *pcm, size_t samples);
    /** A key press ('0'-'9', '*', '#', 'A'-'D'), from RFC 4733 or heard in-band, once per press. */
    void (*on_digit)(void *call_arg, char digit, enum recd_rtp_digit_source source);
    /** The 200 OK was acknowledged: media flows both ways. Optional. */
    void (*on_answered)(void *call_arg);
    /**
     * The call is over, exactly once for every call that was answered or rang. After it returns the
     * module drops its reference; `stats` is valid during the callback.
     */
    void (*on_end)(void *call_arg, enum recd_sip_end_reason reason, const struct recd_sip_call_stats *stats);
    void *arg; /**< passed to on_invite */
};

/** One allowed source network. */
struct recd_sip_cidr {
    uint8_t addr[16]; /**< network address; IPv4 in the first 4 bytes */
    uint8_t family;   /**< 4 or 6 */
    uint8_t prefix;   /**< prefix length */
};

#define RECD_SIP_MAX_ALLOW 32

/** Endpoint options. Zero means the default for every numeric field. */
struct recd_sip_opts {
    const char *host; /**< address to bind for SIP and RTP (numeric; default "127.0.0.1") */
    uint16_t port;    /**< SIP port, UDP and TCP (default 5060; 0 is not "any") */
    uint16_t rtp_lo;  /**< RTP port range (default 16384-32767); RTCP uses port + 1 */
    uint16_t rtp_hi;
    /** Sources that may send INVITEs; none given means loopback only (127.0.0.0/8, ::1). */
    struct recd_sip_cidr allow[RECD_SIP_MAX_ALLOW];
    unsigned nallow;
    unsigned invite_rate;     /**< INVITEs per second per source address, sustained (default 5) */
    unsigned invite_burst;    /**< ... and in a burst (default 20) */
    unsigned max_calls;       /**< concurrent calls; more get 503 (default 500) */
    unsigned rtp_timeout_ms;  /**< end a call whose sending peer sent no RTP for this long (default 60000) */
    unsigned ring_timeout_ms; /**< end a call left ringing this long (default 120000) */
    /**
     * The smallest session interval (RFC 4028 Min-SE) accepted, in seconds: an INVITE asking for
     * less gets 422 (default 90, the RFC's minimum; lower only for tests).
     */
    unsigned min_se_s;
};

/**
 * Parses "ADDR/PREFIX" or "ADDR" (a host) into `out`. Returns 0 or RECD_E_BAD_INPUT.
 */
int recd_sip_cidr_parse(const char *s, struct recd_sip_cidr *out);

/**
 * Parses "LO-HI" into a port range (LO < HI, both 1024..65535). Returns 0 or RECD_E_BAD_INPUT.
 */
int recd_sip_port_range_parse(const char *s, uint16_t *lo, uint16_t *hi);

/**
 * Starts the endpoint: binds UDP and TCP on host:port and starts the SIP thread. The handler is
 * copied; its callbacks start running before this returns. Returns 0 and *out, or a negative
 * RECD_E_* (RECD_E_BAD_INPUT for bad options, RECD_E_UNAVAILABLE when the port is taken or the
 * thread cannot start); the failing step is logged.
 */
int recd_sip_start(const struct recd_sip_opts *opts, const struct recd_sip_handler *handler,
                   struct recd_sip **out);

/**
 * Stops the endpoint: every call ends (BYE or a final response, each with its end callback, on the
 * SIP thread), then the thread exits and everything is freed. Blocks for at most about a second.
 * Must not be called from a handler callback. NULL is fine.
 */
void recd_sip_stop(struct recd_sip *sip);

/** The SIP port actually bound (useful when tests pass an ephemeral port). */
uint16_t recd_sip_port(const struct recd_sip *sip);

/** Answers a ringing call with 200 OK. Any thread. Returns 0, or RECD_E_NOT_FOUND if it ended. */
int recd_sip_answer(struct recd_sip_call *call);

/**
 * Rejects a ringing call with the decision's final response (404, 486, 603, 503), or hangs up an
 * answered one. Any thread. Returns 0, or RECD_E_NOT_FOUND if it ended.
 */
int recd_sip_reject(struct recd_sip_call *call, enum recd_sip_decision why);

/** Ends the call: BYE when answered, 480 while ringing. Any thread. Idempotent. */
int recd_sip_hangup(struct recd_sip_call *call);

/**
 * Queues `samples` of 8 kHz 16-bit PCM to send after what is already queued; the module sends
 * them paced at 20 ms and silence when the queue is empty. Any thread. The samples are copied.
 * Returns 0, RECD_E_TOO_LARGE when the queue would exceed 120 s, or RECD_E_NOT_FOUND if it ended.
 */
int recd_sip_play(struct recd_sip_call *call, const int16_t *pcm, size_t samples);

/** Drops whatever is queued to play (a <Gather> interrupted by a key). Any thread. */
void recd_sip_play_clear(struct recd_sip_call *call);

/** Samples still queued to play: 0 when <Play> has finished. Any thread. */
size_t recd_sip_play_pending(struct recd_sip_call *call);

/**
 * Queues digits ("0"-"9", "*", "#", "A"-"D"; "w" waits 500 ms, as Twilio's <Play digits>) to send
 * as RFC 4733 events, after queued audio. Returns 0, RECD_E_BAD_INPUT for another character or
 * when the peer did not offer telephone-event, or RECD_E_NOT_FOUND if it ended.
 */
int recd_sip_send_digits(struct recd_sip_call *call, const char *digits);

/** A copy of the call's counters so far. Any thread. */
void recd_sip_call_stats(struct recd_sip_call *call, struct recd_sip_call_stats *out);

/** Takes a reference on `call`. */
void recd_sip_call_ref(struct recd_sip_call *call);

/** Drops a reference; the last one frees the call. */
void recd_sip_call_unref(struct recd_sip_call *call);

/** The result of looking at an SDP offer: what recd would answer with. */
struct recd_sip_sdp_choice {
    int pt;       /**< 0 (PCMU) or 8 (PCMA) */
    int event_pt; /**< the offer's telephone-event payload type, or -1 */
    int hold;     /**< 1 when the peer will not send (sendonly from us, inactive, or port 0) */
    int send;     /**< 1 when we may send (the peer receives) */
};

/**
 * Decides the answer to an SDP offer (`sdp`, `len` bytes) the way the endpoint does, using libre's
 * decoder: the first of PCMU/PCMA in the offer's order, and telephone-event if offered. Returns 0,
 * or RECD_E_BAD_INPUT when the offer has no usable audio stream (the endpoint answers 488). Pure
 * apart from libre's allocator: the fuzz target and the tests call it directly.
 */
int recd_sip_sdp_offer(const uint8_t *sdp, size_t len, struct recd_sip_sdp_choice *out);

/**
 * The number a SIP request (`msg`, `len` bytes, as received) is for, by the endpoint's rule: the
 * Request-URI's user part, else To's, %-unescaped, no control characters, shorter than `cap`.
 * Writes it NUL-terminated to `out`. Returns 0, or RECD_E_BAD_INPUT (not a request, or no usable
 * number: the endpoint answers 404). For the fuzz target and the tests.
 */
int recd_sip_request_number(const uint8_t *msg, size_t len, char *out, size_t cap);

/** What an INVITE asks of RFC 4028 session timers, as the endpoint decides it. */
struct recd_sip_timer {
    int status;        /**< 0: accepted; else the answer: 400, 420 (a Require other than timer), 422 */
    unsigned interval; /**< the session interval in seconds; 0: no session timer */
    int refresher_uas; /**< recd refreshes */
    unsigned min_se;   /**< 422: the Min-SE sent */
    char headers[288]; /**< what the answer adds: Session-Expires and Require, or 420's Unsupported */
};

/**
 * Decides an INVITE's (`msg`, `len` bytes) session timer and Require as the endpoint does, with
 * `min_se` as --sip-min-se (0: 90). Returns 0 with *out, or RECD_E_BAD_INPUT (not a request). For
 * the fuzz target and the tests.
 */
int recd_sip_request_timer(const uint8_t *msg, size_t len, unsigned min_se, struct recd_sip_timer *out);

#endif
