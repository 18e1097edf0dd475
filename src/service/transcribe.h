#ifndef RECD_SERVICE_TRANSCRIBE_H
#define RECD_SERVICE_TRANSCRIBE_H

#include "store/store.h"

#include <stdint.h>

/*
 * Asking for a transcription (contract §8): what <Record transcribe="true">, `recd transcribe`
 * and an account's switch have in common. A request creates a Transcription "in-progress" (TR…,
 * Twilio's field set, text null until it is made) and its job in the durable queue, in one unit;
 * a worker of `recd serve` (src/stt/worker.c) does the rest.
 */

/** Who gets told when the transcription ends: transcribeCallback and its method. */
struct recd_transcribe_req {
    const char *callback_url;    /* NULL or "" = no callback; else an absolute http(s) URL */
    const char *callback_method; /* NULL = "POST"; "GET" or "POST", any case */
};

/**
 * 1 when a recording that has just been made should be transcribed: it was asked for
 * (r->transcribe, from <Record transcribe="true">) or its account's switch is on
 * (`recd account set AC… --transcribe on`). 0 otherwise, or when the account cannot be read.
 */
int recd_transcribe_wanted(struct recd_store *st, const struct recd_recording *r);

/**
 * Queues a transcription of recording `r` (which must be completed, with media). Runs as one
 * unit inside the caller's transaction if one is open, so a caller may commit it together with
 * the recording's finish:
 *
 *     st->ops->begin(st);
 *     st->ops->recording_finish(st, &r);
 *     if (recd_transcribe_wanted(st, &r))
 *         recd_transcribe_enqueue(st, &r, &req, now_us, tr_sid);
 *     st->ops->commit(st);
 *
 * `sid_out` (may be NULL) gets the new TR sid. RECD_E_BAD_INPUT for a bad callback URL or method,
 * RECD_E_NOT_FOUND when the recording has no media (in progress, absent, deleted), else what the
 * store returns.
 */
int recd_transcribe_enqueue(struct recd_store *st, const struct recd_recording *r,
                            const struct recd_transcribe_req *req, int64_t now_us,
                            char sid_out[RECD_SID_LEN + 1]);

/**
 * For a recording that is being made and asks for a transcription with a callback (<Record
 * transcribe="true" transcribeCallback="…">): keeps the callback with the recording in the store,
 * so that when the recording is finished, by its recorder or by the recovery after a crash,
 * recd_transcribe_finished queues the job with it. Call it in the transaction that inserts the
 * recording. Nothing is kept for a NULL or empty URL. RECD_E_BAD_INPUT for a bad URL or method,
 * else what the store returns.
 */
int recd_transcribe_remember(struct recd_store *st, const struct recd_recording *r,
                             const struct recd_transcribe_req *req, int64_t now_us);

/**
 * Queues the transcription of a recording that has just been finished, when one is wanted
 * (recd_transcribe_wanted), with the callback kept by recd_transcribe_remember if any. Call it in
 * the transaction of the recording's finish, as recd_transcribe_enqueue. 0 when nothing is wanted
 * or the recording has no media (absent, failed); else as recd_transcribe_enqueue.
 */
int recd_transcribe_finished(struct recd_store *st, const struct recd_recording *r, int64_t now_us,
                             char sid_out[RECD_SID_LEN + 1]);

#endif
