#ifndef RECD_VOICE_ENGINE_H
#define RECD_VOICE_ENGINE_H

/*
 * The call engine: one state machine per call that turns a SIP call into a Twilio call. It asks
 * the number's web application for TwiML, runs the verbs (src/voice/twiml.h), records, writes the
 * call's row as its state changes and sends Twilio's callbacks.
 *
 * The state machine does no I/O and keeps no thread. Events go in through the recd_engine_*
 * functions below (the INVITE, the answer, a fetched document, a digit, audio, a finished play or
 * recording, the end of the call, a live-recording command, a clock tick); what the call must do
 * comes out through the callbacks of struct recd_engine_io, called synchronously from inside the
 * event function. The adapter that joins it to SIP, the webhook client, the recorder and the store
 * runs every event of a call on one thread; the unit tests drive it with a fake io and a fake
 * clock. An io callback must not call back into the engine for the same call.
 *
 * Asynchronous work (a fetch, a play, a recording) carries a token; the event that reports its end
 * passes the token back, and a stale one (a play cleared by a key, a fetch that returns after the
 * caller hung up) is recognised and ignored.
 *
 * Choices Twilio's documentation leaves open are listed in docs/voice.md ("The call engine").
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/sid.h"

struct recd_engine_call;

/* Limits and constants (docs/voice.md lists them). */
#define RECD_ENGINE_MAX_REDIRECTS 20         /* <Redirect>s in a row with no verb that takes time between */
#define RECD_ENGINE_MAX_CALL_MS   14400000LL /* Twilio's default time limit of a call, 4 h */
#define RECD_ENGINE_MAX_LIVE      4          /* recordings started over the API at once, per call */
#define RECD_ENGINE_TONE_DROP_MS  100        /* audio dropped before a finishOnKey key (its tone) */
#define RECD_ENGINE_E_REDIRECTS   11215      /* too many redirects (a <Redirect> loop) */
#define RECD_ENGINE_E_HTTP        11200      /* HTTP retrieval failure */
#define RECD_ENGINE_ERROR_TEXT    "We are sorry, an application error has occurred. Goodbye."

/** The recording slot of the <Record> verb; slots 1..RECD_ENGINE_MAX_LIVE are the API's. */
#define RECD_ENGINE_SLOT_VERB 0

/** One request parameter; the array of them is valid during the callback only. */
struct recd_engine_param {
    const char *name;
    const char *value;
};

enum recd_engine_fetch_kind {
    RECD_ENGINE_FETCH_DOCUMENT = 1, /**< a TwiML document: answer with recd_engine_fetched */
    RECD_ENGINE_FETCH_NOTIFY = 2,   /**< a callback whose answer is ignored: fire and forget */
};

/** An HTTP request the call makes; every pointer is valid during the callback only. */
struct recd_engine_request {
    enum recd_engine_fetch_kind kind;
    uint64_t token;  /**< for a document: pass it back to recd_engine_fetched */
    const char *url; /**< absolute, resolved */
    bool method_get; /**< GET with the parameters in the query, else a POST form */
    const struct recd_engine_param *params;
    size_t n_params;
};

enum recd_engine_play_kind {
    RECD_ENGINE_PLAY_SAY = 1, /**< text in voice and language */
    RECD_ENGINE_PLAY_URL,     /**< a WAV or MP3 at url */
    RECD_ENGINE_PLAY_BEEP,    /**< <Record>'s beep */
    RECD_ENGINE_PLAY_SILENCE, /**< ms of silence (<Pause>) */
    RECD_ENGINE_PLAY_DIGITS,  /**< digits as RFC 4733 events (<Play digits>) */
};

/** Something to play to the caller; report its end with recd_engine_play_done(token). */
struct recd_engine_play {
    enum recd_engine_play_kind kind;
    uint64_t token;
    const char *text, *voice, *language; /**< SAY */
    const char *url;                     /**< URL, resolved */
    const char *digits;                  /**< DIGITS */
    unsigned ms;                         /**< SILENCE */
};

/** What a recording is started with. */
struct recd_engine_rec_opts {
    unsigned slot;      /**< RECD_ENGINE_SLOT_VERB or an API slot */
    const char *source; /**< "RecordVerb" or "StartCallRecordingAPI" */
    bool trim_silence;
    bool transcribe;
    const char *transcribe_callback; /**< resolved URL or NULL */
    /**
     * <Record finishOnKey>, or NULL (API recordings): the adapter stops passing audio to the
     * recording the moment one of these keys arrives, before the engine hears of it.
     */
    const char *finish_on_key;
    /** 1, or 2 for a dual recording (the caller, and what recd sent); <Record> is always 1. */
    unsigned channels;
    /** RecordingTrack, RECD_ENGINE_TRACK_*: <Record> hears the caller (0). */
    unsigned track;
};

/** A recording's end, as the recorder reports it. */
struct recd_engine_rec_result {
    const char *status; /**< "completed", "absent" or "failed" */
    int error_code;     /**< 16101 too short, 16102 silent, or 0 */
    int64_t duration_ms;
    int64_t start_us; /**< when its first audio came (wall clock) */
    int channels;
};

/** The call's row, as written to the store. */
struct recd_engine_row {
    const char *status;        /**< ringing, in-progress, completed, busy, failed, no-answer */
    int64_t start_us;          /**< when answered, 0 until then */
    int64_t end_us;            /**< when ended, 0 until then */
    int64_t duration_ms;       /**< answered to ended */
    int error_code;            /**< Twilio's code of the last application error, or 0 */
    const char *error_message; /**< one line, or "" */
};

/** What the state machine asks of the world. `arg` is recd_engine_io.arg. */
struct recd_engine_io {
    void *arg;
    /** Wall clock and monotonic clock. */
    int64_t (*now_us)(void *arg);
    int64_t (*mono_ms)(void *arg);
    /** Writes the call's row: insert once (ringing), then updates. */
    void (*row)(void *arg, const struct recd_engine_row *row, bool insert);
    void (*fetch)(void *arg, const struct recd_engine_request *req);
    void (*answer)(void *arg);
    /** reject: 486 busy or 603 rejected, before the answer. */
    void (*reject)(void *arg, bool busy);
    void (*hangup)(void *arg);
    void (*play)(void *arg, const struct recd_engine_play *p);
    /** Drops what is queued to play (a key interrupted a <Gather>'s prompt). */
    void (*play_clear)(void *arg);
    /**
     * Starts a recording in `o->slot`: the in-progress row exists (or will before any audio) and
     * its sid is written to `sid` at once. Returns 0 or a negative RECD_E_*. Audio goes to it
     * from now on until rec_pause, rec_finish.
     */
    int (*rec_start)(void *arg, const struct recd_engine_rec_opts *o, char sid[RECD_SID_LEN + 1]);
    /** skip: leave the pause out of the file, else silence for it. Audio meanwhile is dropped. */
    void (*rec_pause)(void *arg, unsigned slot, bool skip);
    void (*rec_resume)(void *arg, unsigned slot);
    /** Drops the last `ms` of what the slot has recorded (the tone of a finishOnKey key). */
    void (*rec_drop_tail)(void *arg, unsigned slot, unsigned ms);
    /** Ends the slot's recording; report with recd_engine_rec_done once it is durable. */
    void (*rec_finish)(void *arg, unsigned slot);
    /** An application warning or error for the call's log (code is Twilio's). */
    void (*log)(void *arg, int code, const char *message);
    /** The state machine is done: nothing more will be asked; the adapter may free the call. */
    void (*finished)(void *arg);
};

/** The facts of a new call; strings are copied. */
struct recd_engine_call_info {
    const char *account_sid, *call_sid;
    const char *from, *to;
    const char *voice_url;
    bool voice_get;
    const char *fallback_url; /**< "" or NULL: none */
    bool fallback_get;
    const char *status_callback; /**< "" or NULL: none */
    bool status_callback_get;
    const char *base_url; /**< public base of the API, for RecordingUrl ("http://host:port") */
};

/**
 * Creates a call's state machine for a new INVITE and starts it: inserts the ringing row and
 * fetches the voice URL. The call is not answered until the document says what to do (so that
 * <Reject> can refuse it). Returns 0 and *out, or RECD_E_BAD_INPUT (a missing field or a voice
 * URL that is not absolute http(s)); then nothing was asked of io.
 */
int recd_engine_call_new(const struct recd_engine_call_info *info, const struct recd_engine_io *io,
                         struct recd_engine_call **out);

/** Frees the state machine. Call it after io->finished (or at shutdown, at any time). */
void recd_engine_call_free(struct recd_engine_call *c);

/** The 200 OK was acknowledged: the call is in progress. */
void recd_engine_answered(struct recd_engine_call *c);

/**
 * A document fetch ended. `err` is 0 when an HTTP answer came, else a negative RECD_E_*
 * (no connection, timeout); `http_status` is the answer's status; `twilio_code` the webhook
 * client's code for a failure (0: 11200); `url` is the URL that answered (relative URLs in the
 * document resolve against it). The body is parsed here and need not outlive the call.
 */
void recd_engine_fetched(struct recd_engine_call *c, uint64_t token, int err, long http_status,
                         int twilio_code, const char *body, size_t len, const char *url);

/** A key press, once per press. */
void recd_engine_digit(struct recd_engine_call *c, char digit);

/** `ms` of received audio (the adapter may batch frames), all silent or all not. */
void recd_engine_audio(struct recd_engine_call *c, unsigned ms, bool silent);

/** A play ended; err is 0, or negative when it could not be played (a <Play> URL that failed). */
void recd_engine_play_done(struct recd_engine_call *c, uint64_t token, int err);

/** A recording of `slot` is final: its row is written and its media fetchable. */
void recd_engine_rec_done(struct recd_engine_call *c, unsigned slot, const struct recd_engine_rec_result *r);

/** The SIP call ended (either side, or the endpoint stopped). Exactly once. */
void recd_engine_ended(struct recd_engine_call *c);

/** Time passed: timers due at or before io->mono_ms() fire. */
void recd_engine_tick(struct recd_engine_call *c);

/** When recd_engine_tick should next be called (monotonic ms), or INT64_MAX for never. */
int64_t recd_engine_deadline(const struct recd_engine_call *c);

/** The parameters of POST /Calls/{CallSid}/Recordings. */
struct recd_engine_live_opts {
    const char *status_callback; /**< resolved URL or NULL */
    bool status_callback_get;
    unsigned events; /**< RECD_TWIML_EVENT_* set; 0 means completed */
    bool trim_silence;
    unsigned channels; /**< RecordingChannels: 1 mono (0 too), 2 dual */
    unsigned track;    /**< RecordingTrack: RECD_ENGINE_TRACK_* */
};

/** RecordingTrack: what the caller sent, what recd sent, or both (Twilio's default). */
enum { RECD_ENGINE_TRACK_INBOUND = 0, RECD_ENGINE_TRACK_OUTBOUND = 1, RECD_ENGINE_TRACK_BOTH = 2 };

/** The RecordingTrack of the API recording `sid` ("Twilio.CURRENT" too) still recording or
 * paused, or -1 when there is none. */
int recd_engine_live_track(const struct recd_engine_call *c, const char *sid);

/**
 * Starts recording the call (POST /Calls/{Sid}/Recordings). Returns the new slot (>= 1) and the
 * recording's sid; RECD_E_CALL_STATE (Twilio's 21220) when the call is not in progress,
 * RECD_E_RATE_LIMITED when RECD_ENGINE_MAX_LIVE are already recording, or what
 * io->rec_start returned.
 */
int recd_engine_live_start(struct recd_engine_call *c, const struct recd_engine_live_opts *o,
                           char sid[RECD_SID_LEN + 1]);

enum recd_engine_live_cmd { RECD_ENGINE_LIVE_PAUSE = 1, RECD_ENGINE_LIVE_RESUME, RECD_ENGINE_LIVE_STOP };

/**
 * Pauses, resumes or stops the API recording `sid` ("Twilio.CURRENT": the newest one still
 * recording or paused). `skip` is PauseBehavior=skip. Returns 0, RECD_E_NOT_FOUND (no such
 * recording of this call, or it has stopped), or RECD_E_CALL_STATE (21220) when the call is not
 * in progress. Pausing a paused recording or resuming a running one is a no-op.
 */
int recd_engine_live_cmd(struct recd_engine_call *c, const char *sid, enum recd_engine_live_cmd cmd,
                         bool skip);

/** The sid of the newest API recording not yet stopped (Twilio.CURRENT), or NULL. */
const char *recd_engine_live_current(const struct recd_engine_call *c);

/** The status of a live recording by sid ("in-progress", "paused", "stopped"), NULL if unknown. */
const char *recd_engine_live_status(const struct recd_engine_call *c, const char *sid);

/** The call's current CallStatus ("ringing", "in-progress", "completed", …). */
const char *recd_engine_call_status(const struct recd_engine_call *c);

#endif
