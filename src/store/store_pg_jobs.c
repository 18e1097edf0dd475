#include "store/store_pg_internal.h"

#include "core/error.h"
#include "core/log.h"
#include "core/utf8.h"

#include <libpq-fe.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * The transcription queue of the PostgreSQL store (store.h says what each operation promises;
 * store_sqlite_jobs.c is the same queue on SQLite).
 *
 * Every change a worker makes names the job and its lease token in the WHERE clause, so the
 * database decides who owns a job: an update that matches no row means the lease was lost or the
 * job cancelled, and the caller gets RECD_E_NOT_FOUND with nothing changed. The claim is one
 * statement (P_JOB_CLAIM): it picks the oldest ready job with FOR UPDATE SKIP LOCKED and takes
 * it, so workers on any number of nodes never take the same job, and never wait on each other's
 * row locks. The finish is one statement too (the job and its transcription), so it needs no
 * transaction of its own; only the enqueue, which checks the recording before inserting two
 * rows, is a unit of three statements.
 */

/* The rows a statement changed. */
static long changed(const PGresult *res)
{
    return strtol(PQcmdTuples((PGresult *)res), NULL, 10);
}

static void param_str(struct pg_params *p, int idx, const char *v)
{
    recd_pg_param_text(p, idx, v, strlen(v));
}

/* Runs a write that names one job; RECD_E_NOT_FOUND when it changed none. */
static int change_one(struct pg_store *s, enum recd_pg_stmt id, struct pg_params *p)
{
    PGresult *res = NULL;
    int rc = recd_pg_write(s, id, p, &res);
    if (rc == 0 && changed(res) == 0)
        rc = RECD_E_NOT_FOUND;
    PQclear(res);
    return rc;
}

/* A value the worker hands in: bounded, UTF-8 where the schema stores text. */
static int text_ok(const char *p, size_t max)
{
    size_t n = strnlen(p, max + 1);
    return n <= max && recd_utf8_valid(p, n);
}

static int lease_ok(const char *lease)
{
    if (!lease || strlen(lease) != RECD_LEASE_LEN)
        return 0;
    for (size_t i = 0; i < RECD_LEASE_LEN; i++)
        if (!((lease[i] >= '0' && lease[i] <= '9') || (lease[i] >= 'a' && lease[i] <= 'f')))
            return 0;
    return 1;
}

int recd_pg_op_account_set_transcribe(struct recd_store *st, const char *sid, int on, int64_t now_us)
{
    struct pg_params p;
    if (!sid)
        return RECD_E_BAD_INPUT;
    recd_pg_params_init(&p);
    param_str(&p, 1, sid);
    recd_pg_param_i64(&p, 2, on != 0);
    recd_pg_param_i64(&p, 3, now_us);
    return change_one(PG(st), P_ACCOUNT_SET_TRANSCRIBE, &p);
}

static int insert_row(struct pg_store *s, enum recd_pg_stmt id, const struct recd_sql_table *t,
                      const void *row, const char *extra, size_t extra_len, int extra_null)
{
    struct pg_params p;
    PGresult *res = NULL;
    recd_pg_params_init(&p);
    int rc = recd_pg_bind_cols(&p, t, row);
    if (rc < 0)
        return rc;
    if (t->extra) {
        if (extra_null)
            recd_pg_param_null(&p, (int)t->ncols + 1);
        else
            recd_pg_param_text(&p, (int)t->ncols + 1, extra, extra_len);
    }
    rc = recd_pg_exec(s, id, &p, &res);
    s->own_writes++;
    PQclear(res);
    return rc;
}

/* Reads recording `sid` into *r and locks it FOR SHARE until the unit ends, so that it cannot be
 * deleted between this check and the inserts that depend on it (a delete waits, then sees them:
 * recd_pg_op_recording_mark_deleted). */
static int lock_recording(struct pg_store *s, const char *sid, struct recd_recording *r)
{
    struct pg_params p;
    PGresult *res = NULL;
    recd_pg_params_init(&p);
    param_str(&p, 1, sid);
    int rc = recd_pg_exec(s, P_RECORDING_LOCK, &p, &res);
    if (rc == 0)
        rc = PQntuples(res) == 1 ? recd_pg_read_cols(res, 0, 0, &recd_sql_recordings, r) : RECD_E_NOT_FOUND;
    PQclear(res);
    return rc;
}

/* The recording must have media and belong to the account. */
static int check_recording(struct pg_store *s, const struct recd_transcription *t)
{
    struct recd_recording r;
    int rc = lock_recording(s, t->recording_sid, &r);
    if (rc == 0 && (!recd_recording_has_media(&r) || strcmp(r.account_sid, t->account_sid) != 0))
        rc = RECD_E_NOT_FOUND;
    return rc;
}

int recd_pg_op_transcription_enqueue(struct recd_store *st, const struct recd_transcription *t,
                                     const struct recd_transcription_job *j)
{
    struct pg_store *s = PG(st);
    if (strcmp(t->status, "in-progress") != 0 || !t->text_null || strcmp(j->state, RECD_JOB_QUEUED) != 0 ||
        strcmp(t->sid, j->sid) != 0 || strcmp(t->recording_sid, j->recording_sid) != 0 ||
        strcmp(t->account_sid, j->account_sid) != 0 ||
        (strcmp(j->callback_method, "POST") != 0 && strcmp(j->callback_method, "GET") != 0) ||
        j->lease[0] != '\0' || recd_sql_text_check(t) < 0)
        return RECD_E_BAD_INPUT;
    int own;
    int rc = recd_pg_unit_begin(s, &own);
    if (rc < 0)
        return rc;
    rc = check_recording(s, t);
    if (rc == 0)
        rc = insert_row(s, P_TRANSCRIPTION_INSERT, &recd_sql_transcriptions, t, NULL, 0, 1);
    if (rc == 0)
        rc = insert_row(s, P_JOB_INSERT, &recd_sql_jobs, j, NULL, 0, 1);
    return recd_pg_unit_end(s, own, rc);
}

int recd_pg_op_job_get(struct recd_store *st, const char *sid, struct recd_transcription_job *out)
{
    struct pg_params p;
    PGresult *res = NULL;
    if (!sid)
        return RECD_E_BAD_INPUT;
    recd_pg_params_init(&p);
    param_str(&p, 1, sid);
    int rc = recd_pg_exec(PG(st), P_JOB_GET, &p, &res);
    if (rc == 0)
        rc = PQntuples(res) == 0 ? RECD_E_NOT_FOUND : recd_pg_read_cols(res, 0, 0, &recd_sql_jobs, out);
    PQclear(res);
    return rc;
}

int recd_pg_op_job_claim(struct recd_store *st, int64_t now_us, int64_t lease_us, const char *lease,
                         struct recd_transcription_job *out)
{
    struct pg_params p;
    PGresult *res = NULL;
    if (!lease_ok(lease) || lease_us <= 0)
        return RECD_E_BAD_INPUT;
    recd_pg_params_init(&p);
    recd_pg_param_i64(&p, 1, now_us);
    param_str(&p, 2, lease);
    recd_pg_param_i64(&p, 3, now_us + lease_us);
    int rc = recd_pg_write(PG(st), P_JOB_CLAIM, &p, &res);
    if (rc == 0)
        rc = PQntuples(res) == 0 ? RECD_E_NOT_FOUND : recd_pg_read_cols(res, 0, 0, &recd_sql_jobs, out);
    PQclear(res);
    return rc;
}

int recd_pg_op_job_renew(struct recd_store *st, const char *sid, const char *lease, int64_t now_us,
                         int64_t lease_us)
{
    struct pg_params p;
    if (!sid || !lease_ok(lease) || lease_us <= 0)
        return RECD_E_BAD_INPUT;
    recd_pg_params_init(&p);
    param_str(&p, 1, sid);
    param_str(&p, 2, lease);
    recd_pg_param_i64(&p, 3, now_us + lease_us);
    return change_one(PG(st), P_JOB_RENEW, &p);
}

/* The job and its transcription in one statement (P_JOB_FINISH): the job changes only if its
 * transcription is still in progress, so both change or neither. */
int recd_pg_op_job_finish(struct recd_store *st, const struct recd_transcription *t, const char *lease,
                          int error_code, const char *reason)
{
    struct pg_params p;
    PGresult *res = NULL;
    int completed = strcmp(t->status, "completed") == 0;
    if ((!completed && strcmp(t->status, "failed") != 0) || !lease_ok(lease) || !reason ||
        !text_ok(reason, RECD_REASON_MAX) || recd_sql_text_check(t) < 0 || t->duration_ms < 0)
        return RECD_E_BAD_INPUT;
    recd_pg_params_init(&p);
    param_str(&p, 1, t->sid);
    param_str(&p, 2, lease);
    param_str(&p, 3, completed ? RECD_JOB_DONE : RECD_JOB_FAILED);
    recd_pg_param_i64(&p, 4, error_code);
    param_str(&p, 5, reason);
    recd_pg_param_i64(&p, 6, t->updated_us);
    param_str(&p, 7, t->status);
    if (t->text_null)
        recd_pg_param_null(&p, 8);
    else
        recd_pg_param_text(&p, 8, t->text ? t->text : "", t->text_len);
    recd_pg_param_i64(&p, 9, t->duration_ms);
    int rc = recd_pg_write(PG(st), P_JOB_FINISH, &p, &res);
    if (rc == 0) {
        int64_t jobs = recd_pg_read_count(res, 0, 0), texts = recd_pg_read_count(res, 0, 1);
        if (jobs < 0 || texts < 0) {
            recd_log_error("store: JOB_FINISH: no count in its result");
            rc = RECD_E_IO;
        } else if (jobs == 0) {
            rc = RECD_E_NOT_FOUND;
        }
    }
    PQclear(res);
    return rc;
}

int recd_pg_op_job_retry(struct recd_store *st, const char *sid, const char *lease, int64_t ready_us,
                         const char *reason, int64_t now_us)
{
    struct pg_params p;
    if (!sid || !lease_ok(lease) || !reason || !text_ok(reason, RECD_REASON_MAX))
        return RECD_E_BAD_INPUT;
    recd_pg_params_init(&p);
    param_str(&p, 1, sid);
    param_str(&p, 2, lease);
    recd_pg_param_i64(&p, 3, ready_us);
    param_str(&p, 4, reason);
    recd_pg_param_i64(&p, 5, now_us);
    return change_one(PG(st), P_JOB_RETRY, &p);
}

int recd_pg_op_job_count(struct recd_store *st, int64_t *queued, int64_t *running)
{
    PGresult *res = NULL;
    *queued = *running = 0;
    int rc = recd_pg_exec(PG(st), P_JOB_COUNT, NULL, &res);
    for (int i = 0; rc == 0 && i < PQntuples(res); i++) {
        int64_t n = recd_pg_read_count(res, i, 1);
        const char *state = PQgetvalue(res, i, 0);
        int len = PQgetlength(res, i, 0);
        if (n < 0 || PQftype(res, 0) != RECD_PG_TEXT) {
            recd_log_error("store: JOB_COUNT: a result recd cannot have asked for");
            rc = RECD_E_IO;
        } else if (len == (int)strlen(RECD_JOB_QUEUED) && memcmp(state, RECD_JOB_QUEUED, (size_t)len) == 0) {
            *queued = n;
        } else if (len == (int)strlen(RECD_JOB_RUNNING) &&
                   memcmp(state, RECD_JOB_RUNNING, (size_t)len) == 0) {
            *running = n;
        }
    }
    PQclear(res);
    return rc;
}

int recd_pg_op_transcribe_request_put(struct recd_store *st, const struct recd_transcribe_request *r)
{
    struct pg_store *s = PG(st);
    struct recd_recording rec;
    if (strcmp(r->callback_method, "POST") != 0 && strcmp(r->callback_method, "GET") != 0)
        return RECD_E_BAD_INPUT;
    int own;
    int rc = recd_pg_unit_begin(s, &own);
    if (rc < 0)
        return rc;
    rc = lock_recording(s, r->sid, &rec);
    if (rc == 0 && rec.deleted_us)
        rc = RECD_E_NOT_FOUND;
    if (rc == 0)
        rc = insert_row(s, P_REQUEST_INSERT, &recd_sql_transcribe_requests, r, NULL, 0, 1);
    return recd_pg_unit_end(s, own, rc);
}

int recd_pg_op_transcribe_request_get(struct recd_store *st, const char *sid,
                                      struct recd_transcribe_request *out)
{
    struct pg_params p;
    PGresult *res = NULL;
    if (!sid)
        return RECD_E_BAD_INPUT;
    recd_pg_params_init(&p);
    param_str(&p, 1, sid);
    int rc = recd_pg_exec(PG(st), P_REQUEST_GET, &p, &res);
    if (rc == 0)
        rc = PQntuples(res) == 0 ? RECD_E_NOT_FOUND
                                 : recd_pg_read_cols(res, 0, 0, &recd_sql_transcribe_requests, out);
    PQclear(res);
    return rc;
}
