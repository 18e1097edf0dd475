#ifndef RECD_STORE_STORE_SQLITE_INTERNAL_H
#define RECD_STORE_STORE_SQLITE_INTERNAL_H

#include "store/sql_list.h"
#include "store/sql_tables.h"
#include "store/store.h"

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Internals of the SQLite store, shared by its files and not by anything above it:
 *
 *   store_sqlite.c         open and close, transactions, statements, the ops table, version
 *   store_sqlite_schema.c  the schema and its migrations, by version
 *   store_sqlite_rows.c    one row in or out: binding and reading columns, the point operations
 *   store_sqlite_list.c    lists and counts: statements per filter combination, paging
 *
 * Its tests use the list part: the text of the list queries, so that a test can run EXPLAIN
 * QUERY PLAN on exactly what the store prepares and prove that every filter combination is
 * served by an index, in order, without a temporary B-tree. Those names (RECD_SQLITE_LIST_*,
 * RECD_SQLITE_LF_*) are the backend-neutral ones of store/sql_list.h under this backend's name.
 */

enum recd_sqlite_list_kind {
    RECD_SQLITE_LIST_RECORDINGS = RECD_SQL_LIST_RECORDINGS,
    RECD_SQLITE_LIST_TRANSCRIPTIONS = RECD_SQL_LIST_TRANSCRIPTIONS,
    RECD_SQLITE_LIST_CALLS = RECD_SQL_LIST_CALLS,
    RECD_SQLITE_LIST_KINDS = RECD_SQL_LIST_KINDS
};

#define RECD_SQLITE_LF_CALL        RECD_SQL_LF_CALL
#define RECD_SQLITE_LF_CONFERENCE  RECD_SQL_LF_CONFERENCE
#define RECD_SQLITE_LF_RECORDING   RECD_SQL_LF_RECORDING
#define RECD_SQLITE_LF_GE          RECD_SQL_LF_GE
#define RECD_SQLITE_LF_LT          RECD_SQL_LF_LT
#define RECD_SQLITE_LF_DELETED     RECD_SQL_LF_DELETED
#define RECD_SQLITE_LF_TO          RECD_SQL_LF_TO
#define RECD_SQLITE_LF_FROM        RECD_SQL_LF_FROM
#define RECD_SQLITE_LF_STATUS      RECD_SQL_LF_STATUS
#define RECD_SQLITE_LF_START_GE    RECD_SQL_LF_START_GE
#define RECD_SQLITE_LF_START_LT    RECD_SQL_LF_START_LT
#define RECD_SQLITE_LF_END_GE      RECD_SQL_LF_END_GE
#define RECD_SQLITE_LF_END_LT      RECD_SQL_LF_END_LT
#define RECD_SQLITE_LIST_DIR_SHIFT RECD_SQL_LIST_DIR_SHIFT
#define RECD_SQLITE_LIST_COMBOS    RECD_SQL_LIST_COMBOS

/** The filter bits that make sense for `kind`; a combination with any other bit is invalid. */
unsigned recd_store_sqlite_list_flags(enum recd_sqlite_list_kind kind);

/**
 * Writes the SQL that the store prepares for list query (`kind`, `combo`) into `buf`
 * (NUL-terminated): recd_sql_list_text in SQLite's spelling, parameters ?1 … ?10 as listed
 * there. Returns the length, RECD_E_BAD_INPUT if the combination does not exist, or
 * RECD_E_INTERNAL if `cap` is too small.
 */
int recd_store_sqlite_list_sql(enum recd_sqlite_list_kind kind, unsigned combo, char *buf, size_t cap);

/* The live calls, as the partial index calls_live and the statements that use it spell it. */
#define RECD_SQLITE_CALL_LIVE RECD_SQL_CALL_LIVE

/* Unfinished transcription jobs, as the partial index transcription_jobs_ready and the claim spell
 * them. */
#define RECD_SQLITE_JOB_OPEN "state IN ('queued', 'running')"

/* Statements prepared at open. Those with NULL text are generated from the column tables
 * (store_sqlite.c, stmt_text). */
#define RECD_SQLITE_STATEMENTS(X)                                                                            \
    X(BEGIN, "BEGIN IMMEDIATE")                                                                              \
    X(BEGIN_READ, "BEGIN")                                                                                   \
    X(COMMIT, "COMMIT")                                                                                      \
    X(ROLLBACK, "ROLLBACK")                                                                                  \
    X(SAVEPOINT, "SAVEPOINT recd_call")                                                                      \
    X(RELEASE, "RELEASE recd_call")                                                                          \
    X(ROLLBACK_TO, "ROLLBACK TO recd_call")                                                                  \
    X(ACCOUNT_INSERT, NULL)                                                                                  \
    X(ACCOUNT_GET, NULL)                                                                                     \
    X(ACCOUNT_SET_MEDIA_AUTH, RECD_SQL_ACCOUNT_SET_MEDIA_AUTH)                                               \
    X(KEY_INSERT, NULL)                                                                                      \
    X(KEY_GET, NULL)                                                                                         \
    X(RECORDING_INSERT, NULL)                                                                                \
    X(RECORDING_GET, NULL)                                                                                   \
    X(RECORDING_MARK_DELETED, "UPDATE recordings SET status = 'deleted', deleted_us = ?2, updated_us = ?2"   \
                              " WHERE sid = ?1 AND deleted_us = 0")                                          \
    X(RECORDING_DELETE_TRANSCRIPTIONS, "DELETE FROM transcriptions WHERE recording_sid = ?1")                \
    X(RECORDING_SCAN, NULL)                                                                                  \
    X(RECORDING_SCAN_STATUS, NULL)                                                                           \
    X(RECORDING_FINISH, RECD_SQL_RECORDING_FINISH)                                                           \
    X(PURGE_TRANSCRIPTIONS, "DELETE FROM transcriptions WHERE recording_sid IN"                              \
                            " (SELECT sid FROM recordings WHERE deleted_us <> 0 AND deleted_us < ?1)")       \
    X(PURGE_RECORDINGS, "DELETE FROM recordings WHERE deleted_us <> 0 AND deleted_us < ?1")                  \
    X(TRANSCRIPTION_INSERT, NULL)                                                                            \
    X(TRANSCRIPTION_GET, NULL)                                                                               \
    X(TRANSCRIPTION_DELETE, RECD_SQL_TRANSCRIPTION_DELETE)                                                   \
    X(NUMBER_INSERT, NULL)                                                                                   \
    X(NUMBER_GET, NULL)                                                                                      \
    X(NUMBER_GET_BY_NUMBER, NULL)                                                                            \
    X(NUMBER_LIST_ACCOUNT, NULL)                                                                             \
    X(NUMBER_LIST_ALL, NULL)                                                                                 \
    X(NUMBER_DELETE, RECD_SQL_NUMBER_DELETE)                                                                 \
    X(CALL_INSERT, NULL)                                                                                     \
    X(CALL_GET, NULL)                                                                                        \
    X(CALL_UPDATE, RECD_SQL_CALL_UPDATE)                                                                     \
    X(CALL_DELETE, "DELETE FROM calls WHERE sid = ?1 AND NOT " RECD_SQLITE_CALL_LIVE)                        \
    X(CALL_SCAN_LIVE, NULL)                                                                                  \
    X(ACCOUNT_SET_RETENTION, RECD_SQL_ACCOUNT_SET_RETENTION)                                                 \
    X(RETENTION_DUE, RECD_SQL_RETENTION_DUE)                                                                 \
    X(RETENTION_DUE_COUNT, RECD_SQL_RETENTION_DUE_COUNT)                                                     \
    X(DELETE_MATCH, RECD_SQL_DELETE_MATCH)                                                                   \
    X(DELETE_MATCH_COUNT, RECD_SQL_DELETE_MATCH_COUNT)                                                       \
    X(ACCOUNT_SET_TRANSCRIBE, "UPDATE accounts SET transcribe = ?2, updated_us = ?3 WHERE sid = ?1")         \
    X(JOB_INSERT, NULL)                                                                                      \
    X(JOB_GET, NULL)                                                                                         \
    X(JOB_NEXT, NULL)                                                                                        \
    X(JOB_TAKE, "UPDATE transcription_jobs SET state = 'running', lease = ?2, ready_us = ?3,"                \
                " attempts = attempts + 1, updated_us = ?4"                                                  \
                " WHERE sid = ?1 AND " RECD_SQLITE_JOB_OPEN " AND ready_us <= ?4")                           \
    X(JOB_RENEW, "UPDATE transcription_jobs SET ready_us = ?3"                                               \
                 " WHERE sid = ?1 AND state = 'running' AND lease = ?2")                                     \
    X(JOB_END, "UPDATE transcription_jobs SET state = ?3, lease = '', error_code = ?4, reason = ?5,"         \
               " updated_us = ?6 WHERE sid = ?1 AND state = 'running' AND lease = ?2")                       \
    X(JOB_RETRY, "UPDATE transcription_jobs SET state = 'queued', lease = '', ready_us = ?3, reason = ?4,"   \
                 " updated_us = ?5 WHERE sid = ?1 AND state = 'running' AND lease = ?2")                     \
    X(JOB_TRANSCRIPTION_END, "UPDATE transcriptions SET status = ?2, text = ?3, duration_ms = ?4,"           \
                             " updated_us = ?5 WHERE sid = ?1 AND status = 'in-progress'")                   \
    X(JOB_COUNT,                                                                                             \
      "SELECT state, count(*) FROM transcription_jobs WHERE " RECD_SQLITE_JOB_OPEN " GROUP BY state")        \
    X(JOB_DELETE, "DELETE FROM transcription_jobs WHERE sid = ?1")                                           \
    X(JOB_DELETE_RECORDING, "DELETE FROM transcription_jobs WHERE recording_sid = ?1")                       \
    X(PURGE_JOBS, "DELETE FROM transcription_jobs WHERE recording_sid IN"                                    \
                  " (SELECT sid FROM recordings WHERE deleted_us <> 0 AND deleted_us < ?1)")                 \
    X(REQUEST_INSERT, NULL)                                                                                  \
    X(REQUEST_GET, NULL)                                                                                     \
    X(REQUEST_DELETE_RECORDING, "DELETE FROM transcribe_requests WHERE sid = ?1")                            \
    X(DATA_VERSION, "PRAGMA data_version")

enum recd_sqlite_stmt {
#define RECD_SQLITE_STMT_ENUM(id, sql) S_##id,
    RECD_SQLITE_STATEMENTS(RECD_SQLITE_STMT_ENUM)
#undef RECD_SQLITE_STMT_ENUM
        S_COUNT
};

/** The statement's name, for logs. */
extern const char *const recd_sqlite_stmt_name[S_COUNT];

#define RECD_SQLITE_WAL_HDR 48 /* bytes in one copy of the WAL-index header */

struct sqlite_store {
    struct recd_store base;
    sqlite3 *db;
    /* 1 between the caller's begin and its commit or rollback. SQLite may end a transaction by
     * itself after some errors (a full disk); sqlite3_get_autocommit tells us, and the caller's
     * later writes then fail rather than silently autocommit. */
    int in_txn;
    /* A scan in progress: its statement is in use, so its callback must not start another. */
    int scanning;
    /* How long a statement waits for a lock another connection holds (the busy handler). */
    int busy_ms;
    sqlite3_stmt *stmt[S_COUNT];
    /* By recd_sql_list_slot: a kind's combinations, numbered densely. */
    sqlite3_stmt *list[RECD_SQL_LIST_KINDS][RECD_SQL_LIST_SLOTS];
    sqlite3_stmt *count[RECD_SQL_LIST_KINDS][RECD_SQL_LIST_SLOTS];
    /* The WAL-index header as op_version last saw it, and the version it read then: see there. */
    const volatile unsigned char *shm; /* the WAL index as SQLite maps it (read only here), or NULL */
    int shm_tried;
    int seen_valid;
    unsigned char seen_hdr[RECD_SQLITE_WAL_HDR];
    int64_t seen_version;
    /* recording_warm's read-only connections, opened on its first call (store_sqlite_warm.c). */
    struct sqlite_warm *warm;
};

/* store_sqlite_warm.c: reads ahead of a batch of inserts. */
int recd_sqlite_op_recording_warm(struct recd_store *st, const struct recd_recording *recs, int n);
void recd_sqlite_warm_close(struct sqlite_store *s);

static inline struct sqlite_store *S(struct recd_store *st)
{
    return (struct sqlite_store *)st;
}

/* store_sqlite.c: errors, statements, transactions. */

/** Maps SQLite result `rc` to a RECD_E_* code, logging backend failures with `step`. */
int recd_sqlite_fail(struct sqlite_store *s, int rc, const char *step);
/** Resets a statement and clears its bindings, ready for the next use. */
void recd_sqlite_done(sqlite3_stmt *st);
/** Runs a prepared statement that returns no rows, then resets it. 0 or RECD_E_*. */
int recd_sqlite_run(struct sqlite_store *s, enum recd_sqlite_stmt id);
/** RECD_E_IO when the caller opened a transaction that SQLite has since rolled back, else 0. */
int recd_sqlite_txn_alive(struct sqlite_store *s);
/** Makes a multi-statement call one unit: a transaction, or a savepoint in the caller's. */
int recd_sqlite_call_begin(struct sqlite_store *s);
/** Ends the unit of recd_sqlite_call_begin: commits on rc == 0, else undoes it. Returns rc or
 * the commit's error. */
int recd_sqlite_call_end(struct sqlite_store *s, int rc);

/* store_sqlite_schema.c. */

/** Runs constant SQL with no parameters (pragmas, schema). 0 or RECD_E_*. */
int recd_sqlite_exec(struct sqlite_store *s, const char *sql, const char *step);
/** Runs a pragma that answers one row: its first column into *num and/or `text` (either may be
 * NULL). 0 or RECD_E_*. */
int recd_sqlite_pragma(struct sqlite_store *s, const char *sql, int64_t *num, char *text, size_t cap);
/** Creates the schema, or migrates it to the version this build knows. 0 or RECD_E_*. */
int recd_sqlite_migrate(struct sqlite_store *s);

/* store_sqlite_rows.c: columns and the operations on one row. */

/** Binds the columns of `t` from `row` to parameters 1…n. 0 or RECD_E_* (BAD_INPUT for a value
 * the struct does not promise). */
int recd_sqlite_bind_cols(struct sqlite_store *s, sqlite3_stmt *st, const struct recd_sql_table *t,
                          const void *row);
/** Reads the columns of `t` from result columns first… of the current row into `row`. 0 or
 * RECD_E_IO for a value recd cannot have written. */
int recd_sqlite_read_cols(sqlite3_stmt *st, int first, const struct recd_sql_table *t, void *row);
/** Reads a transcription's text from column `idx`: *p points into SQLite's memory until the
 * statement moves on, NULL for a null text. 0 or RECD_E_IO. */
int recd_sqlite_read_text(sqlite3_stmt *st, int idx, const char **p, size_t *n);
/** Looks up `sid` with statement `id` and reads the row of `t` into `out`, leaving the statement
 * on the row (the caller reads extra columns, then calls recd_sqlite_done). 1 on a row, or
 * RECD_E_NOT_FOUND, RECD_E_*. */
int recd_sqlite_get_row(struct sqlite_store *s, enum recd_sqlite_stmt id, const char *sid,
                        const struct recd_sql_table *t, void *out);

int recd_sqlite_op_account_insert(struct recd_store *st, const struct recd_account *a);
int recd_sqlite_op_account_get(struct recd_store *st, const char *sid, struct recd_account *out);
int recd_sqlite_op_account_set_media_auth(struct recd_store *st, const char *sid, int on, int64_t now_us);
int recd_sqlite_op_key_insert(struct recd_store *st, const struct recd_key *k);
int recd_sqlite_op_key_get(struct recd_store *st, const char *sid, struct recd_key *out);
int recd_sqlite_op_recording_insert(struct recd_store *st, const struct recd_recording *r);
int recd_sqlite_op_recording_get(struct recd_store *st, const char *sid, struct recd_recording *out);
int recd_sqlite_op_recording_mark_deleted(struct recd_store *st, const char *sid, int64_t now_us);
int recd_sqlite_op_recording_scan(struct recd_store *st, recd_recording_cb cb, void *ctx);
int recd_sqlite_op_recording_scan_status(struct recd_store *st, const char *status, recd_recording_cb cb,
                                         void *ctx);
int recd_sqlite_op_recording_finish(struct recd_store *st, const struct recd_recording *r);
int recd_sqlite_op_purge_deleted(struct recd_store *st, int64_t before_us, int64_t *n);
int recd_sqlite_op_transcription_insert(struct recd_store *st, const struct recd_transcription *t);
int recd_sqlite_op_transcription_get(struct recd_store *st, const char *sid, struct recd_transcription *out,
                                     struct recd_buf *text);
int recd_sqlite_op_transcription_delete(struct recd_store *st, const char *sid);
int recd_sqlite_op_number_insert(struct recd_store *st, const struct recd_number *n);
int recd_sqlite_op_number_get(struct recd_store *st, const char *sid, struct recd_number *out);
int recd_sqlite_op_number_get_by_number(struct recd_store *st, const char *number, struct recd_number *out);
int recd_sqlite_op_number_list(struct recd_store *st, const char *account_sid, recd_number_cb cb, void *ctx);
int recd_sqlite_op_number_delete(struct recd_store *st, const char *sid);
int recd_sqlite_op_call_insert(struct recd_store *st, const struct recd_call *c);
int recd_sqlite_op_call_get(struct recd_store *st, const char *sid, struct recd_call *out);
int recd_sqlite_op_call_update(struct recd_store *st, const struct recd_call *c);
int recd_sqlite_op_call_delete(struct recd_store *st, const char *sid);
int recd_sqlite_op_call_scan_live(struct recd_store *st, recd_call_cb cb, void *ctx);

/* store_sqlite_expiry.c: retention and bulk delete. */

int recd_sqlite_op_account_set_retention(struct recd_store *st, const char *sid, int days, int64_t now_us);
int recd_sqlite_op_recording_expired(struct recd_store *st, const struct recd_expiry_query *q,
                                     char (*sids)[RECD_SID_LEN + 1], int cap, int *n);
int recd_sqlite_op_recording_expired_count(struct recd_store *st, const struct recd_expiry_query *q,
                                           int64_t *n);

/* store_sqlite_jobs.c: the transcription queue. */

int recd_sqlite_op_account_set_transcribe(struct recd_store *st, const char *sid, int on, int64_t now_us);
int recd_sqlite_op_transcription_enqueue(struct recd_store *st, const struct recd_transcription *t,
                                         const struct recd_transcription_job *j);
int recd_sqlite_op_job_claim(struct recd_store *st, int64_t now_us, int64_t lease_us, const char *lease,
                             struct recd_transcription_job *out);
int recd_sqlite_op_job_renew(struct recd_store *st, const char *sid, const char *lease, int64_t now_us,
                             int64_t lease_us);
int recd_sqlite_op_job_finish(struct recd_store *st, const struct recd_transcription *t, const char *lease,
                              int error_code, const char *reason);
int recd_sqlite_op_job_retry(struct recd_store *st, const char *sid, const char *lease, int64_t ready_us,
                             const char *reason, int64_t now_us);
int recd_sqlite_op_job_get(struct recd_store *st, const char *sid, struct recd_transcription_job *out);
int recd_sqlite_op_job_count(struct recd_store *st, int64_t *queued, int64_t *running);
int recd_sqlite_op_transcribe_request_put(struct recd_store *st, const struct recd_transcribe_request *r);
int recd_sqlite_op_transcribe_request_get(struct recd_store *st, const char *sid,
                                          struct recd_transcribe_request *out);

/* store_sqlite_list.c: lists and counts. */

int recd_sqlite_op_recording_page(struct recd_store *st, const struct recd_list_query *q,
                                  struct recd_page *pg);
int recd_sqlite_op_transcription_page(struct recd_store *st, const struct recd_list_query *q,
                                      struct recd_page *pg);
int recd_sqlite_op_recording_count(struct recd_store *st, const struct recd_list_query *q, int64_t *n);
int recd_sqlite_op_transcription_count(struct recd_store *st, const struct recd_list_query *q, int64_t *n);
int recd_sqlite_op_call_page(struct recd_store *st, const struct recd_list_query *q, struct recd_page *pg);
int recd_sqlite_op_call_count(struct recd_store *st, const struct recd_list_query *q, int64_t *n);

#endif
