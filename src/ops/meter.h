#ifndef RECD_OPS_METER_H
#define RECD_OPS_METER_H

#include "media/blob.h"
#include "store/store.h"

/*
 * Storage metering: the count, the duration and the failures of every metadata and media
 * operation, by backend (recd_store_operation_duration_seconds and its kin, metrics.h).
 *
 * It works by swapping a handle's table of operations for a metered copy of its backend's
 * table: each metered operation reads the clock, calls the backend's own function on the same
 * handle, and counts. The backends know nothing of it. An operation added to store.h or blob.h
 * after this list was written stays in the copy unmetered, so it still works; add it to the
 * lists below to meter it (tests/unit/test_meter.c says which are missing).
 */

/* X(NAME, PARAMETERS, ARGUMENTS) for each metered store operation. */
#define RECD_METER_STORE_OPS(X)                                                                              \
    X(begin, (struct recd_store * st), (st))                                                                 \
    X(commit, (struct recd_store * st), (st))                                                                \
    X(rollback, (struct recd_store * st), (st))                                                              \
    X(account_insert, (struct recd_store * st, const struct recd_account *a), (st, a))                       \
    X(account_get, (struct recd_store * st, const char *sid, struct recd_account *out), (st, sid, out))      \
    X(account_set_media_auth, (struct recd_store * st, const char *sid, int on, int64_t now_us),             \
      (st, sid, on, now_us))                                                                                 \
    X(key_insert, (struct recd_store * st, const struct recd_key *k), (st, k))                               \
    X(key_get, (struct recd_store * st, const char *sid, struct recd_key *out), (st, sid, out))              \
    X(recording_insert, (struct recd_store * st, const struct recd_recording *r), (st, r))                   \
    X(recording_get, (struct recd_store * st, const char *sid, struct recd_recording *out), (st, sid, out))  \
    X(recording_mark_deleted, (struct recd_store * st, const char *sid, int64_t now_us), (st, sid, now_us))  \
    X(recording_page, (struct recd_store * st, const struct recd_list_query *q, struct recd_page *pg),       \
      (st, q, pg))                                                                                           \
    X(recording_scan, (struct recd_store * st, recd_recording_cb cb, void *ctx), (st, cb, ctx))              \
    X(recording_finish, (struct recd_store * st, const struct recd_recording *r), (st, r))                   \
    X(recording_scan_status, (struct recd_store * st, const char *status, recd_recording_cb cb, void *ctx),  \
      (st, status, cb, ctx))                                                                                 \
    X(purge_deleted, (struct recd_store * st, int64_t before_us, int64_t * n), (st, before_us, n))           \
    X(transcription_insert, (struct recd_store * st, const struct recd_transcription *t), (st, t))           \
    X(transcription_get,                                                                                     \
      (struct recd_store * st, const char *sid, struct recd_transcription *out, struct recd_buf *text),      \
      (st, sid, out, text))                                                                                  \
    X(transcription_delete, (struct recd_store * st, const char *sid), (st, sid))                            \
    X(transcription_page, (struct recd_store * st, const struct recd_list_query *q, struct recd_page *pg),   \
      (st, q, pg))                                                                                           \
    X(recording_count, (struct recd_store * st, const struct recd_list_query *q, int64_t *n), (st, q, n))    \
    X(transcription_count, (struct recd_store * st, const struct recd_list_query *q, int64_t *n),            \
      (st, q, n))                                                                                            \
    X(number_insert, (struct recd_store * st, const struct recd_number *n), (st, n))                         \
    X(number_get, (struct recd_store * st, const char *sid, struct recd_number *out), (st, sid, out))        \
    X(number_get_by_number, (struct recd_store * st, const char *number, struct recd_number *out),           \
      (st, number, out))                                                                                     \
    X(number_list, (struct recd_store * st, const char *account_sid, recd_number_cb cb, void *ctx),          \
      (st, account_sid, cb, ctx))                                                                            \
    X(number_delete, (struct recd_store * st, const char *sid), (st, sid))                                   \
    X(call_insert, (struct recd_store * st, const struct recd_call *c), (st, c))                             \
    X(call_get, (struct recd_store * st, const char *sid, struct recd_call *out), (st, sid, out))            \
    X(call_update, (struct recd_store * st, const struct recd_call *c), (st, c))                             \
    X(call_page, (struct recd_store * st, const struct recd_list_query *q, struct recd_page *pg),            \
      (st, q, pg))                                                                                           \
    X(call_count, (struct recd_store * st, const struct recd_list_query *q, int64_t *n), (st, q, n))         \
    X(call_delete, (struct recd_store * st, const char *sid), (st, sid))                                     \
    X(call_scan_live, (struct recd_store * st, recd_call_cb cb, void *ctx), (st, cb, ctx))                   \
    X(account_set_transcribe, (struct recd_store * st, const char *sid, int on, int64_t now_us),             \
      (st, sid, on, now_us))                                                                                 \
    X(transcription_enqueue,                                                                                 \
      (struct recd_store * st, const struct recd_transcription *t, const struct recd_transcription_job *j),  \
      (st, t, j))                                                                                            \
    X(job_claim,                                                                                             \
      (struct recd_store * st, int64_t now_us, int64_t lease_us, const char *lease,                          \
       struct recd_transcription_job *out),                                                                  \
      (st, now_us, lease_us, lease, out))                                                                    \
    X(job_renew,                                                                                             \
      (struct recd_store * st, const char *sid, const char *lease, int64_t now_us, int64_t lease_us),        \
      (st, sid, lease, now_us, lease_us))                                                                    \
    X(job_finish,                                                                                            \
      (struct recd_store * st, const struct recd_transcription *t, const char *lease, int error_code,        \
       const char *reason),                                                                                  \
      (st, t, lease, error_code, reason))                                                                    \
    X(job_retry,                                                                                             \
      (struct recd_store * st, const char *sid, const char *lease, int64_t ready_us, const char *reason,     \
       int64_t now_us),                                                                                      \
      (st, sid, lease, ready_us, reason, now_us))                                                            \
    X(job_get, (struct recd_store * st, const char *sid, struct recd_transcription_job *out),                \
      (st, sid, out))                                                                                        \
    X(job_count, (struct recd_store * st, int64_t * queued, int64_t * running), (st, queued, running))       \
    X(version, (struct recd_store * st, int64_t v[2]), (st, v))                                              \
    X(ready, (struct recd_store * st, int timeout_ms), (st, timeout_ms))                                     \
    X(transcribe_request_put, (struct recd_store * st, const struct recd_transcribe_request *r), (st, r))    \
    X(transcribe_request_get,                                                                                \
      (struct recd_store * st, const char *sid, struct recd_transcribe_request *out), (st, sid, out))        \
    X(media_guard, (struct recd_store * st, enum recd_store_guard how), (st, how))                           \
    X(account_set_retention, (struct recd_store * st, const char *sid, int days, int64_t now_us),            \
      (st, sid, days, now_us))                                                                               \
    X(recording_expired,                                                                                     \
      (struct recd_store * st, const struct recd_expiry_query *q, char(*sids)[RECD_SID_LEN + 1], int cap,    \
       int *n),                                                                                              \
      (st, q, sids, cap, n))                                                                                 \
    X(recording_expired_count, (struct recd_store * st, const struct recd_expiry_query *q, int64_t *n),      \
      (st, q, n))                                                                                            \
    X(recording_warm, (struct recd_store * st, const struct recd_recording *recs, int n), (st, recs, n))

/* X(NAME, PARAMETERS, ARGUMENTS) for each metered media operation. */
#define RECD_METER_MEDIA_OPS(X)                                                                              \
    X(put_fd, (struct recd_blob * b, const char *key, int fd, int64_t size), (b, key, fd, size))             \
    X(put_fd_sha256,                                                                                         \
      (struct recd_blob * b, const char *key, int fd, int64_t size, unsigned flags, char sha256_hex[65]),    \
      (b, key, fd, size, flags, sha256_hex))                                                                 \
    X(put_mem, (struct recd_blob * b, const char *key, const void *p, size_t n), (b, key, p, n))             \
    X(open, (struct recd_blob * b, const char *key, int *fd, int64_t *size), (b, key, fd, size))             \
    X(remove, (struct recd_blob * b, const char *key), (b, key))                                             \
    X(scan, (struct recd_blob * b, recd_blob_key_cb cb, void *ctx), (b, cb, ctx))                            \
    X(scan_sid, (struct recd_blob * b, const char *sid, recd_blob_key_cb cb, void *ctx), (b, sid, cb, ctx))  \
    X(scan_leftovers, (struct recd_blob * b, recd_blob_key_cb cb, void *ctx), (b, cb, ctx))                  \
    X(remove_leftovers, (struct recd_blob * b, int64_t min_age_s, int64_t * n), (b, min_age_s, n))           \
    X(defer_sync, (struct recd_blob * b, int on), (b, on))                                                   \
    X(sync, (struct recd_blob * b), (b))                                                                     \
    X(guard, (struct recd_blob * b, enum recd_blob_guard how), (b, how))                                     \
    X(ready, (struct recd_blob * b), (b))                                                                    \
    X(stat, (struct recd_blob * b, const char *key, int64_t *size), (b, key, size))                          \
    X(open_range,                                                                                            \
      (struct recd_blob * b, const char *key, int64_t off, int64_t len, int *fd, int64_t *fd_off,            \
       int *whole),                                                                                          \
      (b, key, off, len, fd, fd_off, whole))

enum recd_meter_store_op {
#define RECD_METER_STORE_ENUM(name, params, args) RECD_METER_STORE_##name,
    RECD_METER_STORE_OPS(RECD_METER_STORE_ENUM) RECD_METER_STORE_COUNT_
#undef RECD_METER_STORE_ENUM
};
enum recd_meter_media_op {
#define RECD_METER_MEDIA_ENUM(name, params, args) RECD_METER_MEDIA_##name,
    RECD_METER_MEDIA_OPS(RECD_METER_MEDIA_ENUM) RECD_METER_MEDIA_COUNT_
#undef RECD_METER_MEDIA_ENUM
};

/* The backends, as the `backend` label names them. */
enum { RECD_METER_SQLITE = 0, RECD_METER_POSTGRES = 1, RECD_METER_STORE_BACKENDS_ };
enum { RECD_METER_FS = 0, RECD_METER_S3 = 1, RECD_METER_MEDIA_BACKENDS_ };

/** The operation names, in the lists' order (the `op` label's values). */
extern const char *const recd_meter_store_op_names[RECD_METER_STORE_COUNT_];
extern const char *const recd_meter_media_op_names[RECD_METER_MEDIA_COUNT_];
extern const char *const recd_meter_store_backends[RECD_METER_STORE_BACKENDS_];
extern const char *const recd_meter_media_backends[RECD_METER_MEDIA_BACKENDS_];

/**
 * Meters store handle `st` as backend `backend` (RECD_METER_SQLITE or _POSTGRES) from now on.
 * Every handle of one backend shares one metered table; call before the handle is shared with
 * another thread. A no-op while metrics are off.
 */
void recd_meter_store(struct recd_store *st, int backend);

/** The same for media handle `b` (RECD_METER_FS or _S3). */
void recd_meter_media(struct recd_blob *b, int backend);

#endif
