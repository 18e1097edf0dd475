#ifndef RECD_STT_WORKER_H
#define RECD_STT_WORKER_H

#include "store/store.h"
#include "stt/stt.h"

#include <stdint.h>

/*
 * The transcription workers of `recd serve` (contract §8): a pool of workers, off the request
 * path, that work the durable queue in the store (store.h, "The transcription queue"). Each
 * worker is a job thread, with its own data-folder context, and a decoder thread with its own
 * engine (worker.c says why two). It claims a job with a fresh lease, renews the lease while the
 * engine works, and ends the attempt: completed, retried with exponential backoff when the engine
 * failed in a way worth retrying, or failed with a reason.
 * A job whose lease runs out (its worker was killed) is claimed again by any worker, in this
 * process or another one on the same store.
 */

/** Twilio's 13617, "Record: Recording length is out of range for transcription" (its range: more
 *  than 2 s, less than 120 s; recd applies only the upper bound, docs/transcription.md). */
#define RECD_STT_TOO_LONG_CODE 13617

/** One form parameter of a callback. */
struct recd_stt_param {
    const char *name;
    const char *value;
};

#define RECD_STT_PARAMS_MAX 16

/**
 * What a finished job with a transcribeCallback reports (valid during the call only): where to
 * send it, Twilio's parameters in order (TranscriptionSid, TranscriptionText, TranscriptionStatus,
 * TranscriptionUrl, RecordingSid, RecordingUrl, AccountSid, ApiVersion, and the call's CallSid,
 * From, To, CallStatus, Direction when the recording has a call), and the account's auth token to
 * sign them with (X-Twilio-Signature), as every webhook is.
 */
struct recd_stt_outcome {
    const struct recd_transcription_job *job; /* callback_url, callback_method */
    const struct recd_transcription *t;       /* final status ("completed" or "failed") and text */
    const struct recd_stt_param *params;
    size_t nparams;
    const char *token; /* NULL when the account's token cannot be opened: sent unsigned */
    size_t token_len;
};

/** Called on the worker's thread once the outcome is committed; must not block (queue work). */
typedef void (*recd_stt_notify_fn)(void *arg, const struct recd_stt_outcome *o);

/** Where the decoding runs (--transcribe-priority). */
enum recd_stt_priority {
    RECD_STT_PRIORITY_IDLE = 0, /* SCHED_IDLE: a core only when no other thread wants it (default) */
    RECD_STT_PRIORITY_NORMAL,   /* the normal policy, at `nice` */
};

struct recd_stt_worker_opts {
    const char *data_dir;
    const char *store;    /* the metadata store's URL (recd_store_open); NULL = the data folder's */
    const char *base_url; /* the public base URL: TranscriptionUrl and RecordingUrl start with it */
    struct recd_stt_config engine;
    unsigned workers;                /* threads; 0 = 1 */
    int64_t max_ms;                  /* longer recordings fail with RECD_STT_TOO_LONG_CODE; 0 = 120000 */
    int64_t lease_ms;                /* 0 = 30000; renewed every third of it while a job runs */
    int64_t retry_base_ms;           /* first backoff, doubled each attempt; 0 = 5000 */
    int max_attempts;                /* 0 = 4 */
    unsigned poll_ms;                /* how often an idle worker looks for due jobs; 0 = 1000 */
    enum recd_stt_priority priority; /* the built-in engine's decoding; the external one's is normal */
    int nice; /* 1…19: with the normal priority, decoding runs at least this nice; 0 = as the process */
    recd_stt_notify_fn notify;
    void *notify_arg;
};

struct recd_stt_workers;

/**
 * Opens every worker's engine and context, then starts the threads. An engine that cannot be
 * opened (model missing, bad URL) fails the start with its reason in `why`, before any thread
 * runs, so the server reports it at startup. *out is stopped with recd_stt_workers_stop.
 */
int recd_stt_workers_start(const struct recd_stt_worker_opts *o, struct recd_stt_workers **out, char *why,
                           size_t why_n);

/** Wakes idle workers to look for work now (after an enqueue in this process). */
void recd_stt_workers_wake(struct recd_stt_workers *w);

/**
 * Stops the pool: idle workers leave at once; a running job is abandoned at its next tick and
 * left to its lease, so another start (or another node) reruns it. Then frees everything.
 */
void recd_stt_workers_stop(struct recd_stt_workers *w);

#endif
