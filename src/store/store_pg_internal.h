#ifndef RECD_STORE_STORE_PG_INTERNAL_H
#define RECD_STORE_STORE_PG_INTERNAL_H

#include "store/sql_list.h"
#include "store/sql_tables.h"
#include "store/store.h"

#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Internals of the PostgreSQL store, shared by its files and not by anything above it:
 *
 *   store_pg.c         open and close, the connection and its recovery, statements, errors,
 *                      transactions, version, the ops table
 *   store_pg_schema.c  the schema and its migrations, by version, under an advisory lock
 *   store_pg_rows.c    one row in or out: parameters and columns, the point operations, scans
 *   store_pg_list.c    lists and counts: statements per filter combination, paging
 *   store_pg_jobs.c    the transcription queue: enqueue, claim, lease, finish, retry
 *
 * The SQL is the shared text of store/sql_tables.c and store/sql_list.c in PostgreSQL's
 * spelling; only what PostgreSQL does better in one statement (a delete and its dependants as
 * one command with data-modifying WITH) is written here.
 */

/* Unfinished transcription jobs, as the partial index transcription_jobs_ready and the claim spell
 * them (PostgreSQL uses a partial index only for a query that implies its condition). */
#define RECD_PG_JOB_OPEN "state IN ('queued', 'running')"

/* Statements prepared on first use in each connection. NULL text: generated from the column
 * tables (store_pg.c, stmt_text). Multi-row changes are one statement each, so that a call is
 * atomic without a transaction of its own and costs one round trip. */
#define RECD_PG_STATEMENTS(X)                                                                                \
    X(ACCOUNT_INSERT, NULL)                                                                                  \
    X(ACCOUNT_GET, NULL)                                                                                     \
    X(ACCOUNT_SET_MEDIA_AUTH, RECD_SQL_ACCOUNT_SET_MEDIA_AUTH)                                               \
    X(KEY_INSERT, NULL)                                                                                      \
    X(KEY_GET, NULL)                                                                                         \
    X(RECORDING_INSERT, NULL)                                                                                \
    X(RECORDING_GET, NULL)                                                                                   \
    X(RECORDING_LOCK_DELETE,                                                                                 \
      "SELECT sid FROM recordings WHERE sid = ?1 AND deleted_us = 0 FOR NO KEY UPDATE")                      \
    X(RECORDING_MARK_DELETED,                                                                                \
      "WITH d AS (UPDATE recordings SET status = 'deleted', deleted_us = ?2,"                                \
      " updated_us = ?2 WHERE sid = ?1 AND deleted_us = 0 RETURNING sid),"                                   \
      " j AS (DELETE FROM transcription_jobs WHERE recording_sid IN (SELECT sid FROM d)),"                   \
      " t AS (DELETE FROM transcriptions WHERE recording_sid IN (SELECT sid FROM d)),"                       \
      " r AS (DELETE FROM transcribe_requests WHERE sid IN (SELECT sid FROM d))"                             \
      " SELECT count(*) FROM d")                                                                             \
    X(RECORDING_SCAN, NULL)                                                                                  \
    X(RECORDING_SCAN_STATUS, NULL)                                                                           \
    X(RECORDING_FINISH, RECD_SQL_RECORDING_FINISH)                                                           \
    X(PURGE, "WITH r AS (DELETE FROM recordings WHERE deleted_us <> 0 AND deleted_us < ?1 RETURNING sid),"   \
             " j AS (DELETE FROM transcription_jobs WHERE recording_sid IN (SELECT sid FROM r)),"            \
             " t AS (DELETE FROM transcriptions WHERE recording_sid IN (SELECT sid FROM r))"                 \
             " SELECT count(*) FROM r")                                                                      \
    X(TRANSCRIPTION_INSERT, NULL)                                                                            \
    X(TRANSCRIPTION_GET, NULL)                                                                               \
    X(TRANSCRIPTION_DELETE, "WITH j AS (DELETE FROM transcription_jobs WHERE sid = ?1)"                      \
                            " DELETE FROM transcriptions WHERE sid = ?1")                                    \
    X(NUMBER_INSERT, NULL)                                                                                   \
    X(NUMBER_GET, NULL)                                                                                      \
    X(NUMBER_GET_BY_NUMBER, NULL)                                                                            \
    X(NUMBER_LIST_ACCOUNT, NULL)                                                                             \
    X(NUMBER_LIST_ALL, NULL)                                                                                 \
    X(NUMBER_DELETE, RECD_SQL_NUMBER_DELETE)                                                                 \
    X(CALL_INSERT, NULL)                                                                                     \
    X(CALL_GET, NULL)                                                                                        \
    X(CALL_UPDATE, RECD_SQL_CALL_UPDATE)                                                                     \
    X(CALL_DELETE, "WITH d AS (DELETE FROM calls WHERE sid = ?1 AND NOT " RECD_SQL_CALL_LIVE " RETURNING 1)" \
                   " SELECT (SELECT count(*) FROM d), (SELECT count(*) FROM calls WHERE sid = ?1)")          \
    X(CALL_SCAN_LIVE, NULL)                                                                                  \
    X(ACCOUNT_SET_RETENTION, RECD_SQL_ACCOUNT_SET_RETENTION)                                                 \
    X(RETENTION_DUE, RECD_SQL_RETENTION_DUE)                                                                 \
    X(RETENTION_DUE_COUNT, RECD_SQL_RETENTION_DUE_COUNT)                                                     \
    X(DELETE_MATCH, RECD_SQL_DELETE_MATCH)                                                                   \
    X(DELETE_MATCH_COUNT, RECD_SQL_DELETE_MATCH_COUNT)                                                       \
    X(ACCOUNT_SET_TRANSCRIBE, "UPDATE accounts SET transcribe = ?2, updated_us = ?3 WHERE sid = ?1")         \
    X(RECORDING_LOCK, NULL)                                                                                  \
    X(JOB_INSERT, NULL)                                                                                      \
    X(JOB_GET, NULL)                                                                                         \
    X(JOB_CLAIM, NULL)                                                                                       \
    X(JOB_RENEW, "UPDATE transcription_jobs SET ready_us = ?3"                                               \
                 " WHERE sid = ?1 AND state = 'running' AND lease = ?2")                                     \
    X(JOB_FINISH,                                                                                            \
      "WITH j AS (UPDATE transcription_jobs SET state = ?3, lease = '', error_code = ?4, reason = ?5,"       \
      " updated_us = ?6 WHERE sid = ?1 AND state = 'running' AND lease = ?2 AND EXISTS"                      \
      " (SELECT 1 FROM transcriptions WHERE sid = ?1 AND status = 'in-progress') RETURNING sid),"            \
      " t AS (UPDATE transcriptions SET status = ?7, text = ?8, duration_ms = ?9, updated_us = ?6"           \
      " WHERE sid IN (SELECT sid FROM j) AND status = 'in-progress' RETURNING sid)"                          \
      " SELECT (SELECT count(*) FROM j), (SELECT count(*) FROM t)")                                          \
    X(JOB_RETRY, "UPDATE transcription_jobs SET state = 'queued', lease = '', ready_us = ?3, reason = ?4,"   \
                 " updated_us = ?5 WHERE sid = ?1 AND state = 'running' AND lease = ?2")                     \
    X(JOB_COUNT, "SELECT state, count(*) FROM transcription_jobs WHERE " RECD_PG_JOB_OPEN " GROUP BY state") \
    X(REQUEST_INSERT, NULL)                                                                                  \
    X(REQUEST_GET, NULL)                                                                                     \
    X(VERSION, "SELECT pg_current_snapshot()::text")

enum recd_pg_stmt {
#define RECD_PG_STMT_ENUM(id, sql) P_##id,
    RECD_PG_STATEMENTS(RECD_PG_STMT_ENUM)
#undef RECD_PG_STMT_ENUM
        P_COUNT
};

/** The statement's name, for logs. */
extern const char *const recd_pg_stmt_name[P_COUNT];

/* PostgreSQL's type OIDs (catalog/pg_type.h is a server header) for the types recd uses. */
#define RECD_PG_BYTEA 17
#define RECD_PG_INT8  20
#define RECD_PG_INT4  23
#define RECD_PG_TEXT  25

/* The most parameters a statement has (recordings: 17 columns; lists: 17). */
#define RECD_PG_PARAMS_MAX 20

/** A statement's parameters, in text format (numbers in decimal) except byte arrays (binary). */
struct pg_params {
    int n;
    const char *v[RECD_PG_PARAMS_MAX];
    int len[RECD_PG_PARAMS_MAX];
    int fmt[RECD_PG_PARAMS_MAX];
    char num[RECD_PG_PARAMS_MAX][24];
};

struct pg_store {
    struct recd_store base;
    PGconn *conn;
    /* 1 between the caller's begin and its commit or rollback. */
    int in_txn;
    /* The connection was lost inside the caller's transaction: everything until its rollback
     * fails, rather than running outside the transaction the caller thinks it is in. */
    int txn_lost;
    /* The server said goodbye (a FATAL message) while the connection was idle: it is closing it,
     * though the end of the stream may not have arrived yet (see notice_close). */
    int goodbye;
    /* Writes this handle has made, for version(): its own changes inside a transaction are not
     * yet in any snapshot. */
    int64_t own_writes;
    /* The media repair guard this connection holds: 0 none, 1 shared, 2 exclusive (media_guard). */
    int guard;
    /* After a reconnect that ran into its timeout, calls fail at once until then (monotonic µs). */
    int64_t retry_at_us;
    /* Which statements this connection has prepared; cleared when it is replaced. */
    unsigned char ready[P_COUNT];
    unsigned char list_ready[RECD_SQL_LIST_KINDS][RECD_SQL_LIST_SLOTS];
    unsigned char count_ready[RECD_SQL_LIST_KINDS][RECD_SQL_LIST_SLOTS];
};

static inline struct pg_store *PG(struct recd_store *st)
{
    return (struct pg_store *)st;
}

/* store_pg.c: connection, statements, errors, transactions. */

/** Maps a failed result (or NULL) to a RECD_E_* code, logging backend failures with `step`.
 * RECD_E_UNAVAILABLE when the connection is gone or the server cannot serve now. */
int recd_pg_fail(struct pg_store *s, const PGresult *res, const char *step);
/** Makes sure the connection is usable, reconnecting when it was lost outside a transaction.
 * 0, or RECD_E_UNAVAILABLE (the server is unreachable, or the caller's transaction was lost). */
int recd_pg_ready(struct pg_store *s);
/** Runs statement `id` with `p` (NULL: none) and gives its result in *res (PQclear it) when it
 * succeeded. Results are binary. 0 or RECD_E_*. */
int recd_pg_exec(struct pg_store *s, enum recd_pg_stmt id, const struct pg_params *p, PGresult **res);
/** Runs a named statement of the lists, preparing it with `sql` and the list parameter types
 * if this connection has not yet; `*ready` is its prepared flag. 0 or RECD_E_*. */
int recd_pg_exec_named(struct pg_store *s, const char *name, const char *sql, unsigned char *ready,
                       const struct pg_params *p, PGresult **res);
/** Runs a write statement as one unit: inside the caller's transaction, under a savepoint, so
 * that a failure undoes only this call (PostgreSQL would otherwise abort the whole
 * transaction). Gives the result as recd_pg_exec. */
int recd_pg_write(struct pg_store *s, enum recd_pg_stmt id, const struct pg_params *p, PGresult **res);
/**
 * A unit of several statements: its own transaction, or a savepoint inside the caller's, so
 * that a failure undoes the unit alone and leaves the caller's transaction usable. While the
 * unit owns a transaction the handle counts as in one, so that a connection lost halfway fails
 * the rest of the unit instead of reconnecting and running it outside any transaction; inside
 * a unit, run statements with recd_pg_exec (recd_pg_write would add a savepoint of its own).
 * *own is 1 when the unit began the transaction. recd_pg_unit_end commits (or releases) on
 * rc == 0, else undoes the unit; it returns rc, or the commit's failure.
 */
int recd_pg_unit_begin(struct pg_store *s, int *own);
int recd_pg_unit_end(struct pg_store *s, int own, int rc);
/** Runs one command of constant SQL with no parameters (transaction control, schema) through
 * the simple query protocol. 0 or RECD_E_*. */
int recd_pg_command(struct pg_store *s, const char *sql, const char *step);

/* Parameters. */
void recd_pg_params_init(struct pg_params *p);
void recd_pg_param_text(struct pg_params *p, int idx, const char *v, size_t len);
void recd_pg_param_null(struct pg_params *p, int idx);
void recd_pg_param_i64(struct pg_params *p, int idx, int64_t v);
void recd_pg_param_bytes(struct pg_params *p, int idx, const void *v, size_t len);

/* store_pg_schema.c. */

/** Creates the schema, or migrates it to the version this build knows, under an advisory lock
 * so that nodes starting together migrate once. 0 or RECD_E_*. */
int recd_pg_migrate(struct pg_store *s);
/** The schema version this build writes. */
int recd_pg_schema_version(void);

/* store_pg_rows.c: columns and the operations on one row. */

/** Sets the parameters 1…n of `p` from the columns of `t` in `row`, after the checks every
 * backend makes (recd_sql_col_text). 0 or RECD_E_BAD_INPUT. */
int recd_pg_bind_cols(struct pg_params *p, const struct recd_sql_table *t, const void *row);
/** Reads the columns of `t` from row `r`, columns first…, of binary result `res` into `row`.
 * 0 or RECD_E_IO for a value or type recd cannot have written. */
int recd_pg_read_cols(const PGresult *res, int r, int first, const struct recd_sql_table *t, void *row);
/** Reads a transcription's text from column `col` of row `r`: *p points into the result, NULL
 * for a null text. 0 or RECD_E_IO. */
int recd_pg_read_text(const PGresult *res, int r, int col, const char **p, size_t *n);
/** The int8 in column `col` of row `r` (count(*)), or -1 when it is not one. */
int64_t recd_pg_read_count(const PGresult *res, int r, int col);

int recd_pg_op_account_insert(struct recd_store *st, const struct recd_account *a);
int recd_pg_op_account_get(struct recd_store *st, const char *sid, struct recd_account *out);
int recd_pg_op_account_set_media_auth(struct recd_store *st, const char *sid, int on, int64_t now_us);
int recd_pg_op_key_insert(struct recd_store *st, const struct recd_key *k);
int recd_pg_op_key_get(struct recd_store *st, const char *sid, struct recd_key *out);
int recd_pg_op_recording_insert(struct recd_store *st, const struct recd_recording *r);
int recd_pg_op_recording_get(struct recd_store *st, const char *sid, struct recd_recording *out);
int recd_pg_op_recording_mark_deleted(struct recd_store *st, const char *sid, int64_t now_us);
int recd_pg_op_recording_scan(struct recd_store *st, recd_recording_cb cb, void *ctx);
int recd_pg_op_recording_scan_status(struct recd_store *st, const char *status, recd_recording_cb cb,
                                     void *ctx);
int recd_pg_op_recording_finish(struct recd_store *st, const struct recd_recording *r);
int recd_pg_op_purge_deleted(struct recd_store *st, int64_t before_us, int64_t *n);
int recd_pg_op_transcription_insert(struct recd_store *st, const struct recd_transcription *t);
int recd_pg_op_transcription_get(struct recd_store *st, const char *sid, struct recd_transcription *out,
                                 struct recd_buf *text);
int recd_pg_op_transcription_delete(struct recd_store *st, const char *sid);
int recd_pg_op_number_insert(struct recd_store *st, const struct recd_number *n);
int recd_pg_op_number_get(struct recd_store *st, const char *sid, struct recd_number *out);
int recd_pg_op_number_get_by_number(struct recd_store *st, const char *number, struct recd_number *out);
int recd_pg_op_number_list(struct recd_store *st, const char *account_sid, recd_number_cb cb, void *ctx);
int recd_pg_op_number_delete(struct recd_store *st, const char *sid);
int recd_pg_op_call_insert(struct recd_store *st, const struct recd_call *c);
int recd_pg_op_call_get(struct recd_store *st, const char *sid, struct recd_call *out);
int recd_pg_op_call_update(struct recd_store *st, const struct recd_call *c);
int recd_pg_op_call_delete(struct recd_store *st, const char *sid);
int recd_pg_op_call_scan_live(struct recd_store *st, recd_call_cb cb, void *ctx);

/* store_pg_expiry.c: retention and bulk delete. */

int recd_pg_op_account_set_retention(struct recd_store *st, const char *sid, int days, int64_t now_us);
int recd_pg_op_recording_expired(struct recd_store *st, const struct recd_expiry_query *q,
                                 char (*sids)[RECD_SID_LEN + 1], int cap, int *n);
int recd_pg_op_recording_expired_count(struct recd_store *st, const struct recd_expiry_query *q, int64_t *n);

/* store_pg_jobs.c: the transcription queue. */

int recd_pg_op_account_set_transcribe(struct recd_store *st, const char *sid, int on, int64_t now_us);
int recd_pg_op_transcription_enqueue(struct recd_store *st, const struct recd_transcription *t,
                                     const struct recd_transcription_job *j);
int recd_pg_op_job_claim(struct recd_store *st, int64_t now_us, int64_t lease_us, const char *lease,
                         struct recd_transcription_job *out);
int recd_pg_op_job_renew(struct recd_store *st, const char *sid, const char *lease, int64_t now_us,
                         int64_t lease_us);
int recd_pg_op_job_finish(struct recd_store *st, const struct recd_transcription *t, const char *lease,
                          int error_code, const char *reason);
int recd_pg_op_job_retry(struct recd_store *st, const char *sid, const char *lease, int64_t ready_us,
                         const char *reason, int64_t now_us);
int recd_pg_op_job_get(struct recd_store *st, const char *sid, struct recd_transcription_job *out);
int recd_pg_op_job_count(struct recd_store *st, int64_t *queued, int64_t *running);
int recd_pg_op_transcribe_request_put(struct recd_store *st, const struct recd_transcribe_request *r);
int recd_pg_op_transcribe_request_get(struct recd_store *st, const char *sid,
                                      struct recd_transcribe_request *out);

/* store_pg_list.c: lists and counts. */

int recd_pg_op_recording_page(struct recd_store *st, const struct recd_list_query *q, struct recd_page *pg);
int recd_pg_op_transcription_page(struct recd_store *st, const struct recd_list_query *q,
                                  struct recd_page *pg);
int recd_pg_op_call_page(struct recd_store *st, const struct recd_list_query *q, struct recd_page *pg);
int recd_pg_op_recording_count(struct recd_store *st, const struct recd_list_query *q, int64_t *n);
int recd_pg_op_transcription_count(struct recd_store *st, const struct recd_list_query *q, int64_t *n);
int recd_pg_op_call_count(struct recd_store *st, const struct recd_list_query *q, int64_t *n);

#endif
