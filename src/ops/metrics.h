#ifndef RECD_OPS_METRICS_H
#define RECD_OPS_METRICS_H

#include "core/buf.h"

#include <stdint.h>

/*
 * The metrics registry behind GET /metrics (contract §11, docs/operations.md): counters, gauges
 * and histograms in Prometheus's text format 0.0.4.
 *
 * Counting costs the hot paths no lock and no shared atomic: every thread that counts gets its
 * own slots (a shard, found through a thread-local pointer), which only it writes, with relaxed
 * loads and stores (plain moves on x86); a scrape sums the shards under the registry's lock.
 * A thread that exits folds its shard into a retired one, so counters never go back.
 *
 * Label values are never taken from outside input: they are fixed lists below (a call's status,
 * a SIP status code, a storage operation's name) or static strings from the code (an HTTP route
 * template), so a sid, a number or an address can never become a label.
 *
 * Every function here is a no-op until recd_metrics_init(1): `recd serve --metrics off` and the
 * one-shot commands count nothing.
 */

enum recd_metric_type { RECD_MT_COUNTER, RECD_MT_GAUGE, RECD_MT_HISTOGRAM };

/* Label sets (the first label, or the only one; see metrics.c for their values). */
enum recd_mlabels {
    RECD_ML_NONE = 0,
    RECD_ML_CALL_STATUS, /* status: completed, busy, failed, no-answer, canceled */
    RECD_ML_SIP_METHOD,  /* method: INVITE, ACK, BYE, CANCEL, OPTIONS, other */
    RECD_ML_SIP_CODE,    /* code: 100 … 699 */
    RECD_ML_RTP_DIR,     /* direction: received, sent */
    RECD_ML_REC_RESULT,  /* result: completed, absent, failed */
    RECD_ML_HOOK_KIND,   /* kind: twiml, status_callback, media */
    RECD_ML_HOOK_RESULT, /* kind × outcome: delivered, failed */
    RECD_ML_STT_OUTCOME, /* outcome: completed, failed, retried */
    RECD_ML_STORE_OP,    /* backend (sqlite, postgres) × op (store.h's operations) */
    RECD_ML_MEDIA_OP,    /* backend (fs, s3) × op (blob.h's operations) */
    RECD_ML_COUNT_
};

/* Bucket sets of the histograms, in microseconds of the observed value. */
enum recd_mbuckets { RECD_MB_NONE = 0, RECD_MB_LATENCY, RECD_MB_STORAGE, RECD_MB_JITTER, RECD_MB_REC_LENGTH };

/*
 * Every metric family but the HTTP ones (which are keyed by route, below), the build info and
 * the process_* set: X(ID, TYPE, NAME, LABELS, BUCKETS, HELP).
 */
#define RECD_METRICS(X)                                                                                      \
    X(HTTP_IN_FLIGHT, GAUGE, "recd_http_requests_in_flight", NONE, NONE,                                     \
      "HTTP requests received and not yet answered in full.")                                                \
    X(HTTP_CONNECTIONS, GAUGE, "recd_http_connections", NONE, NONE, "Open HTTP connections.")                \
    X(CALLS_ACTIVE, GAUGE, "recd_calls_active", NONE, NONE, "Calls ringing or in progress.")                 \
    X(CALLS, COUNTER, "recd_calls_total", CALL_STATUS, NONE, "Calls ended, by their final status.")          \
    X(SIP_REQUESTS, COUNTER, "recd_sip_requests_total", SIP_METHOD, NONE,                                    \
      "SIP requests received, by method (retransmissions included).")                                        \
    X(SIP_RESPONSES, COUNTER, "recd_sip_responses_total", SIP_CODE, NONE,                                    \
      "SIP responses sent, by status code (retransmissions included).")                                      \
    X(RTP_PACKETS, COUNTER, "recd_rtp_packets_total", RTP_DIR, NONE,                                         \
      "RTP packets received from callers (accepted for a call) and sent to them.")                           \
    X(RTP_LOST, COUNTER, "recd_rtp_packets_lost_total", NONE, NONE,                                          \
      "RTP packets that never arrived in time to be played out (silence stands in).")                        \
    X(RTP_JITTER, HISTOGRAM, "recd_rtp_jitter_seconds", NONE, JITTER,                                        \
      "Interarrival jitter (RFC 3550) of each answered call's received audio, at its end.")                  \
    X(RTP_PORTS_FREE, GAUGE, "recd_rtp_ports_free", NONE, NONE,                                              \
      "Ports of the RTP range not held by a call of this server (a call holds two: RTP and RTCP).")          \
    X(RECORDINGS_ACTIVE, GAUGE, "recd_recordings_active", NONE, NONE, "Recordings being made.")              \
    X(RECORDINGS, COUNTER, "recd_recordings_total", REC_RESULT, NONE,                                        \
      "Recordings of calls finished, by result.")                                                            \
    X(RECORDING_LENGTH, HISTOGRAM, "recd_recording_duration_seconds", NONE, REC_LENGTH,                      \
      "Length of the audio of each completed recording of a call.")                                          \
    X(RECORDING_FINALIZE, HISTOGRAM, "recd_recording_finalize_seconds", NONE, LATENCY,                       \
      "Time from the end of a recording to its media being durable and its row final.")                      \
    X(WEBHOOKS, COUNTER, "recd_webhook_requests_total", HOOK_RESULT, NONE,                                   \
      "Requests to customers' applications (TwiML, status callbacks, <Play> media), by kind and final "      \
      "outcome (after retries and the fallback URL).")                                                       \
    X(WEBHOOK_RETRIES, COUNTER, "recd_webhook_retries_total", HOOK_KIND, NONE,                               \
      "Status callbacks tried again after a failed attempt.")                                                \
    X(WEBHOOK_DURATION, HISTOGRAM, "recd_webhook_request_duration_seconds", HOOK_KIND, LATENCY,              \
      "Time of each attempt of a request to a customer's application, redirects included.")                  \
    X(STT_JOBS, COUNTER, "recd_transcription_jobs_total", STT_OUTCOME, NONE,                                 \
      "Transcription job attempts, by outcome (retried: failed and queued again).")                          \
    X(STORE_OPS, HISTOGRAM, "recd_store_operation_duration_seconds", STORE_OP, STORAGE,                      \
      "Metadata store operations and their duration, by backend and operation.")                             \
    X(STORE_ERRORS, COUNTER, "recd_store_operation_errors_total", STORE_OP, NONE,                            \
      "Metadata store operations that failed (not counting a row not found or already there).")              \
    X(MEDIA_OPS, HISTOGRAM, "recd_media_operation_duration_seconds", MEDIA_OP, STORAGE,                      \
      "Media store operations and their duration, by backend and operation.")                                \
    X(MEDIA_ERRORS, COUNTER, "recd_media_operation_errors_total", MEDIA_OP, NONE,                            \
      "Media store operations that failed (not counting a key not found).")                                  \
    X(RETENTION_DELETES, COUNTER, "recd_retention_deletes_total", NONE, NONE,                                \
      "Recordings the server deleted because their account's retention period had passed.")

enum recd_metric {
#define RECD_METRIC_ENUM(id, type, name, labels, buckets, help) RECD_MET_##id,
    RECD_METRICS(RECD_METRIC_ENUM)
#undef RECD_METRIC_ENUM
        RECD_MET_COUNT_
};

/* Label indexes of the fixed sets that callers name directly. */
enum { RECD_RTP_RECEIVED = 0, RECD_RTP_SENT = 1 };
enum { RECD_HOOK_TWIML = 0, RECD_HOOK_STATUS_CALLBACK = 1, RECD_HOOK_MEDIA = 2 };
enum { RECD_HOOK_DELIVERED = 0, RECD_HOOK_FAILED = 1 };
enum { RECD_STT_COMPLETED = 0, RECD_STT_FAILED = 1, RECD_STT_RETRIED = 2 };

/**
 * Switches counting on (1) or leaves it off (0, the default), and sizes the shards. Call once,
 * before any thread counts.
 */
void recd_metrics_init(int on);

/** 1 when counting is on. */
int recd_metrics_enabled(void);

/** Adds `n` to counter `m` at label index `label` (out of range: nothing is counted). */
void recd_metric_add(enum recd_metric m, unsigned label, uint64_t n);

/** Adds `delta` (may be negative) to gauge `m` at `label`. */
void recd_metric_gauge_add(enum recd_metric m, unsigned label, int64_t delta);

/** Observes `us` microseconds (of seconds, the base unit) in histogram `m` at `label`. */
void recd_metric_observe(enum recd_metric m, unsigned label, int64_t us);

/* Label indexes of the sets that have names outside the code: -1 (nothing counted) when the
 * value is not one of the set. */
int recd_metric_call_status(const char *status);
int recd_metric_rec_result(const char *status);
int recd_metric_sip_method(const char *method, size_t len);

/**
 * One HTTP request answered (or abandoned): `route` is the matched route template, a static
 * string (NULL: none matched), `method` a recd_method value (api.h), `code` the status sent,
 * `bytes` the body's length, `us` the time from its first byte to its last byte sent.
 */
void recd_metrics_http(const char *route, unsigned method, int code, uint64_t bytes, int64_t us);

/** Values a scrape reads from elsewhere; -1 where unknown (the series is left out). */
/* The mirror tally's fields (core/tally.h), in the order recd_metrics_render expects them. */
#define RECD_METRICS_MIRROR_FIELDS(X)                                                                        \
    X(copied) X(skipped) X(failed) X(throttled) X(bytes) X(runs) X(last_success)

struct recd_metrics_extra {
    int64_t jobs_queued, jobs_running; /* the transcription queue */
    uint64_t sqlite_busy_retries;
    int have_sqlite;
    int have_mirror;       /* a `recd mirror` run has counted into this data folder */
    int64_t mirror[7];     /* RECD_METRICS_MIRROR_FIELDS' values */
    int64_t backup_last_s; /* the last successful backup, Unix seconds; 0 never; -1 not reported */
};

/** Appends the whole exposition (text format 0.0.4) to `out`. */
void recd_metrics_render(struct recd_buf *out, const struct recd_metrics_extra *x);

/** The Content-Type of the exposition. */
#define RECD_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

#endif
