#ifndef RECD_VOICE_ENGINE_SERVE_H
#define RECD_VOICE_ENGINE_SERVE_H

/*
 * The call engine at work: joins the SIP endpoint (sip.h), the state machine of each call
 * (engine.h), the webhook client (webhook.h), the recorder (recorder.h), <Say> and the store.
 *
 * Threads. The SIP thread only enqueues events and does O(1) work: it passes audio to the
 * recordings of the call and measures silence, and it looks the called number up in the store
 * (one indexed read on its own handle; SQLite readers in WAL mode do not wait for writers). One
 * engine thread owns a store handle and every call's state machine; it takes events from one
 * queue (SIP, webhook results, worker results, recorder results, API commands), queues audio to
 * SIP and writes call rows. It never waits on slow work: two worker threads speak <Say> (espeak-ng,
 * whose cache answers repeated texts) and decode fetched <Play> files, and a bounded cache keeps
 * decoded <Play> audio by URL for five minutes (docs/voice.md). The webhook client, the workers
 * and the recorder report back through the same queue, each result carrying its play's token.
 */

#include "voice/engine.h"
#include "voice/sip.h"

#include <stdbool.h>
#include <stdint.h>

struct recd_engine_serve;

struct recd_engine_serve_opts {
    const char *data_dir;        /**< each thread opens its own store handle here */
    const char *store;           /**< the metadata store (recd_ctx_open_store); NULL: the data folder's */
    const char *base_url;        /**< public base URL of the API, for RecordingUrl */
    struct recd_sip_opts sip;    /**< the SIP endpoint */
    unsigned webhook_timeout_ms; /**< 0: the webhook client's default (15 s) */
    const char *webhook_ca_file; /**< NULL: the system's CAs */
};

/**
 * Finishes what a previous run left (recordings in progress are completed from their spool,
 * calls still live are ended), then starts the recorder, the webhook client, the engine thread
 * and the SIP endpoint. Returns 0 and *out, or a negative RECD_E_* with the failing step logged.
 */
int recd_engine_serve_start(const struct recd_engine_serve_opts *o, struct recd_engine_serve **out);

/**
 * Stops cleanly: every call is hung up, recordings are finished and their callbacks sent where
 * possible (bounded by a few seconds), then everything is freed. NULL is fine.
 */
void recd_engine_serve_stop(struct recd_engine_serve *s);

/** The SIP port bound. */
uint16_t recd_engine_serve_sip_port(const struct recd_engine_serve *s);

/**
 * POST /Calls/{CallSid}/Recordings for the call `call_sid` of `account_sid`, from any thread
 * (it waits for the engine thread, at most a few seconds). Returns the slot (>= 1) with the
 * recording's sid in `sid`, RECD_E_NOT_FOUND for a call this server is not running (or of
 * another account), or what recd_engine_live_start returns.
 */
int recd_engine_serve_live_start(struct recd_engine_serve *s, const char *account_sid, const char *call_sid,
                                 const struct recd_engine_live_opts *o, char sid[RECD_SID_LEN + 1]);

/**
 * POST /Calls/{CallSid}/Recordings/{Sid} (Status=paused|in-progress|stopped), from any thread.
 * `rec_sid` may be "Twilio.CURRENT"; the sid acted on is written to `sid_out`, its
 * RecordingTrack to `track`. Returns 0, RECD_E_NOT_FOUND, or what recd_engine_live_cmd returns.
 */
int recd_engine_serve_live_cmd(struct recd_engine_serve *s, const char *account_sid, const char *call_sid,
                               const char *rec_sid, enum recd_engine_live_cmd cmd, bool skip,
                               char sid_out[RECD_SID_LEN + 1], unsigned *track);

#endif
