#ifndef RECD_VOICE_RECORDER_H
#define RECD_VOICE_RECORDER_H

#include "core/sid.h"

#include <stddef.h>
#include <stdint.h>

/*
 * The recorder: a writer thread that spools each recording's audio to disk as it arrives, and a
 * finisher thread that finishes recordings durably, sharing the recorder's own store handle one
 * at a time (contract §7, "Recording" and "Crash safety").
 *
 * Audio goes from the SIP thread into a per-recording ring (single producer, single consumer:
 * recd_rec_audio copies into it and never blocks, locks or allocates). The writer drains every
 * ring every RECD_REC_DRAIN_MS into the recording's spool file, `<spool_dir>/RE….spool`, and
 * makes the spools durable (syncfs) at least every flush_ms, so a crash loses at most that much
 * when the disk keeps up; the syncfs runs on a thread of its own, so a slow disk never stops the
 * draining.
 * Finishing a recording (on the finisher, so that a long WAV never stalls the rings) turns its
 * spool into the final WAV (8 kHz 16-bit PCM, mono, or two channels for a dual recording: the
 * caller's audio on the first, what recd sent to the caller on the second), published
 * through the blob store, then marks the row completed (or absent, or failed), and only then
 * reports the result, so the media can be fetched by the time anyone hears of it.
 *
 * Spool names come from the sids the recorder generates or reads back from the store and
 * validates, never from outside input. docs/data-layout.md describes the spool folder.
 */

struct recd_store;
struct recd_blob;

/** How often the writer moves audio from the rings to the spools. */
#define RECD_REC_DRAIN_MS 50
/** Samples a recording's ring holds (about 2 s): what the writer may fall behind by before
 * audio is lost (it is then replaced by silence of the same length, so durations stay true). */
#define RECD_REC_RING 16384

struct recd_recorder;
struct recd_recorder_opts {
    struct recd_store *store; /* used only by the recorder's threads (it owns it; closes it on stop) */
    struct recd_blob
        *blob;         /* media store (src/media/blob.h), borrowed; put_fd/open are used from the writer */
    unsigned flush_ms; /* spooled audio made durable at least this often; default (0) 250, max 1000 */
    const char *spool_dir; /* where spools live (created 0700 if missing), e.g. DATA/spool; required */
};

/**
 * Starts the writer. On success the recorder owns o->store (even if this fails later, the
 * caller keeps it only when this returns an error). 0, RECD_E_BAD_INPUT (no store, blob or
 * spool_dir; flush_ms over 1000), RECD_E_IO (the spool folder), RECD_E_INTERNAL.
 */
int recd_recorder_start(const struct recd_recorder_opts *o, struct recd_recorder **out);

/**
 * Finishes every open recording (as on hang-up, with no callback: their owners are gone), waits
 * for the writer and closes the store. No recd_rec_* call may run during or after it; stop the
 * SIP side first.
 */
void recd_recorder_stop(struct recd_recorder *rec);

/**
 * At start-up, before calls: finishes every "in-progress" recording from what its spool holds
 * (completed with its true duration, or absent), and removes orphan spools and temporary files.
 * Runs on the writer thread; the caller waits. *n gets how many rows were finished. 0 or
 * RECD_E_*.
 */
int recd_recorder_recover(struct recd_recorder *rec, int64_t *n);

struct recd_rec; /* one recording */
/** The sides of a call a recording holds (Twilio's RecordingTrack). */
enum recd_rec_track {
    RECD_REC_TRACK_INBOUND = 0, /* what the caller sent */
    RECD_REC_TRACK_OUTBOUND,    /* what recd sent to the caller */
    RECD_REC_TRACK_BOTH,        /* both: mixed into one channel, or one each (dual) */
};

struct recd_rec_params {
    const char *account_sid, *call_sid; /* call_sid may be NULL or "" */
    const char *source;                 /* "RecordVerb", "StartCallRecordingAPI" */
    int trim_silence;                   /* trim leading/trailing silence at finish */
    int transcribe;
    /* transcribeCallback: an absolute http(s) URL, or NULL; with its method (NULL = POST). Used
     * when the finished recording is queued for transcription (service/transcribe.h). */
    const char *transcribe_callback, *transcribe_callback_method;
    int channels; /* 1 (0 too): one channel, as `track` says; 2: the caller's, and what recd sent (dual) */
    /* RecordingTrack of a one-channel recording: which sides are heard (both: summed). Zero, the
     * <Record> verb's, is the caller's alone. A dual recording holds both, whatever this says. */
    enum recd_rec_track track;
};

/**
 * Starts a recording: generates its RE sid (in sid_out at once), and queues the in-progress row
 * and the spool file for the writer, which makes them before it writes any audio. Never blocks
 * on I/O (it allocates the ring and takes the recorder's lock briefly). 0, RECD_E_BAD_INPUT (a
 * malformed sid or source), RECD_E_UNAVAILABLE (stopping), RECD_E_INTERNAL.
 */
int recd_rec_begin(struct recd_recorder *rec, const struct recd_rec_params *p, struct recd_rec **out,
                   char sid_out[RECD_SID_LEN + 1]);

/**
 * Appends `samples` of 8 kHz 16-bit PCM (copied). One producer thread at a time (the SIP
 * thread); never blocks, locks or allocates. Audio that finds the ring full is replaced by
 * silence (counted, logged at finish).
 */
void recd_rec_audio(struct recd_rec *r, const int16_t *pcm, size_t samples);

/**
 * Appends `samples` of what recd sent to the caller to a recording that hears it (dual, or a
 * track of outbound or both); nothing for one of the caller alone. The same producer thread as
 * recd_rec_audio, and the same rules. Pauses apply to both sides alike.
 */
void recd_rec_audio_sent(struct recd_rec *r, const int16_t *pcm, size_t samples);

/** 2 when the recording takes what recd sent (recd_rec_audio_sent), else 1. Any thread. */
int recd_rec_channels(const struct recd_rec *r);

/** Samples given to recd_rec_audio that the writer has not yet taken (at most RECD_REC_RING).
 * Any thread; for metrics, and for tests that feed audio faster than a call would. */
size_t recd_rec_backlog(struct recd_rec *r);

/**
 * Pauses: skip=0 puts silence in the file for as long as the pause lasts; skip=1 leaves the
 * pause out. Either way audio given to recd_rec_audio after this returns is never written. Any
 * thread. No effect on a recording being finished.
 */
void recd_rec_pause(struct recd_rec *r, int skip);
void recd_rec_resume(struct recd_rec *r);

/** finishOnKey: the last `ms` of what was recorded so far are cut at finish (the key's tone). */
void recd_rec_drop_tail(struct recd_rec *r, unsigned ms);

struct recd_rec_result {
    char sid[RECD_SID_LEN + 1];
    const char *status; /* "completed" | "absent" | "failed" */
    int error_code;     /* 16101 too short, 16102 silent, 0 */
    int64_t duration_ms;
    int64_t start_us;
    int channels;
};
/** Called on the finisher thread, after the row is final and the media durable and fetchable. */
typedef void (*recd_rec_done_cb)(void *arg, const struct recd_rec_result *res);

/**
 * Ends the recording: audio from now on is ignored, and the writer drops the tail asked for,
 * trims silence when asked, decides absent (no sound at all: 16102 when it lasted a second or
 * more, else 16101; less than a second of audio, after trimming: 16101), publishes the WAV,
 * finishes the row, then calls `cb` (may be NULL). No call on `r` may start after this one has;
 * the recorder frees it.
 */
void recd_rec_finish(struct recd_rec *r, recd_rec_done_cb cb, void *arg);

/** Twilio's absent codes. */
#define RECD_REC_E_TOO_SHORT 16101
#define RECD_REC_E_SILENT    16102
/** The shortest recording kept: 1 s of audio. */
#define RECD_REC_MIN_SAMPLES 8000

#endif
