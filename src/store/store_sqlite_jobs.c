#include "store/store_sqlite_internal.h"

#include "core/error.h"
#include "core/log.h"
#include "core/utf8.h"

#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/*
 * The transcription queue of the SQLite store (store.h says what each operation promises).
 *
 * Every change a worker makes names the job and its lease token in the WHERE clause, so the
 * database itself decides who owns a job: an update that matches no row means the lease was lost
 * or the job cancelled, and the caller is told RECD_E_NOT_FOUND with nothing changed. The claim
 * reads the next ready job and takes it in one transaction (BEGIN IMMEDIATE holds the write lock
 * from the start), so two workers, in one process or several, never take the same job at once.
 */

static int changed(struct sqlite_store *s)
{
    return sqlite3_changes64(s->db) > 0;
}

/* Binds parameters from a list of typed values; on failure the statement is reset. */
struct val {
    enum { V_TEXT, V_I64, V_NULL } kind;
    const char *text;
    int64_t i;
};
#define T(s)    ((struct val){V_TEXT, (s), 0})
#define I(v)    ((struct val){V_I64, NULL, (int64_t)(v)})
#define NUL     ((struct val){V_NULL, NULL, 0})
#define NVAL(a) (sizeof(a) / sizeof((a)[0]))

static int bind_vals(struct sqlite_store *s, enum recd_sqlite_stmt id, const struct val *v, size_t n)
{
    sqlite3_stmt *q = s->stmt[id];
    int b = SQLITE_OK;
    for (size_t i = 0; i < n && b == SQLITE_OK; i++) {
        int idx = (int)i + 1;
        switch (v[i].kind) {
        case V_TEXT: b = sqlite3_bind_text(q, idx, v[i].text, -1, SQLITE_STATIC); break;
        case V_I64: b = sqlite3_bind_int64(q, idx, v[i].i); break;
        case V_NULL: b = sqlite3_bind_null(q, idx); break;
        }
    }
    if (b == SQLITE_OK)
        return 0;
    recd_sqlite_done(q);
    return recd_sqlite_fail(s, b, recd_sqlite_stmt_name[id]);
}

/* Runs statement `id` with values `v`; RECD_E_NOT_FOUND when it changed no row. */
static int run_vals(struct sqlite_store *s, enum recd_sqlite_stmt id, const struct val *v, size_t n)
{
    int rc = bind_vals(s, id, v, n);
    if (rc == 0)
        rc = recd_sqlite_run(s, id);
    if (rc == 0 && !changed(s))
        rc = RECD_E_NOT_FOUND;
    return rc;
}

/* A value the worker hands in: bounded, printable where the schema stores text. */
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

int recd_sqlite_op_account_set_transcribe(struct recd_store *st, const char *sid, int on, int64_t now_us)
{
    struct sqlite_store *s = S(st);
    int rc = recd_sqlite_txn_alive(s);
    if (rc < 0)
        return rc;
    if (!sid)
        return RECD_E_BAD_INPUT;
    struct val v[] = {T(sid), I(on ? 1 : 0), I(now_us)};
    return run_vals(s, S_ACCOUNT_SET_TRANSCRIBE, v, NVAL(v));
}

int recd_sqlite_op_transcription_enqueue(struct recd_store *st, const struct recd_transcription *t,
                                         const struct recd_transcription_job *j)
{
    struct sqlite_store *s = S(st);
    struct recd_recording r;
    if (strcmp(t->status, "in-progress") != 0 || !t->text_null || strcmp(j->state, RECD_JOB_QUEUED) != 0 ||
        strcmp(t->sid, j->sid) != 0 || strcmp(t->recording_sid, j->recording_sid) != 0 ||
        strcmp(t->account_sid, j->account_sid) != 0 ||
        (strcmp(j->callback_method, "POST") != 0 && strcmp(j->callback_method, "GET") != 0) ||
        j->lease[0] != '\0')
        return RECD_E_BAD_INPUT;
    int rc = recd_sqlite_call_begin(s);
    if (rc < 0)
        return rc;
    rc = recd_sqlite_get_row(s, S_RECORDING_GET, t->recording_sid, &recd_sql_recordings, &r);
    recd_sqlite_done(s->stmt[S_RECORDING_GET]);
    if (rc == 1)
        rc =
            recd_recording_has_media(&r) && strcmp(r.account_sid, t->account_sid) == 0 ? 0 : RECD_E_NOT_FOUND;
    if (rc == 0)
        rc = recd_sqlite_op_transcription_insert(st, t);
    if (rc == 0) {
        rc = recd_sqlite_bind_cols(s, s->stmt[S_JOB_INSERT], &recd_sql_jobs, j);
        if (rc < 0)
            recd_sqlite_done(s->stmt[S_JOB_INSERT]);
        else
            rc = recd_sqlite_run(s, S_JOB_INSERT);
    }
    return recd_sqlite_call_end(s, rc);
}

int recd_sqlite_op_job_get(struct recd_store *st, const char *sid, struct recd_transcription_job *out)
{
    struct sqlite_store *s = S(st);
    int rc = recd_sqlite_get_row(s, S_JOB_GET, sid, &recd_sql_jobs, out);
    recd_sqlite_done(s->stmt[S_JOB_GET]);
    return rc < 0 ? rc : 0;
}

int recd_sqlite_op_job_claim(struct recd_store *st, int64_t now_us, int64_t lease_us, const char *lease,
                             struct recd_transcription_job *out)
{
    struct sqlite_store *s = S(st);
    if (!lease_ok(lease) || lease_us <= 0)
        return RECD_E_BAD_INPUT;
    int rc = recd_sqlite_call_begin(s);
    if (rc < 0)
        return rc;
    sqlite3_stmt *q = s->stmt[S_JOB_NEXT];
    struct val now[] = {I(now_us)};
    rc = bind_vals(s, S_JOB_NEXT, now, 1);
    if (rc == 0) {
        int step = sqlite3_step(q);
        if (step == SQLITE_ROW)
            rc = recd_sqlite_read_cols(q, 0, &recd_sql_jobs, out);
        else if (step == SQLITE_DONE)
            rc = RECD_E_NOT_FOUND;
        else
            rc = recd_sqlite_fail(s, step, "JOB_NEXT");
        recd_sqlite_done(q);
    }
    if (rc == 0) {
        struct val v[] = {T(out->sid), T(lease), I(now_us + lease_us), I(now_us)};
        rc = run_vals(s, S_JOB_TAKE, v, NVAL(v));
    }
    if (rc == 0) {
        snprintf(out->state, sizeof out->state, "%s", RECD_JOB_RUNNING);
        snprintf(out->lease, sizeof out->lease, "%s", lease);
        out->ready_us = now_us + lease_us;
        out->attempts++;
        out->updated_us = now_us;
    }
    return recd_sqlite_call_end(s, rc);
}

int recd_sqlite_op_job_renew(struct recd_store *st, const char *sid, const char *lease, int64_t now_us,
                             int64_t lease_us)
{
    struct sqlite_store *s = S(st);
    int rc = recd_sqlite_txn_alive(s);
    if (rc < 0)
        return rc;
    if (!sid || !lease_ok(lease) || lease_us <= 0)
        return RECD_E_BAD_INPUT;
    struct val v[] = {T(sid), T(lease), I(now_us + lease_us)};
    return run_vals(s, S_JOB_RENEW, v, NVAL(v));
}

int recd_sqlite_op_job_finish(struct recd_store *st, const struct recd_transcription *t, const char *lease,
                              int error_code, const char *reason)
{
    struct sqlite_store *s = S(st);
    int completed = strcmp(t->status, "completed") == 0;
    if ((!completed && strcmp(t->status, "failed") != 0) || !lease_ok(lease) || !reason ||
        !text_ok(reason, RECD_REASON_MAX) || recd_sql_text_check(t) < 0 || t->duration_ms < 0)
        return RECD_E_BAD_INPUT;
    int rc = recd_sqlite_call_begin(s);
    if (rc < 0)
        return rc;
    struct val v[] = {T(t->sid),     T(lease),  T(completed ? RECD_JOB_DONE : RECD_JOB_FAILED),
                      I(error_code), T(reason), I(t->updated_us)};
    rc = run_vals(s, S_JOB_END, v, NVAL(v));
    if (rc == 0) {
        sqlite3_stmt *q = s->stmt[S_JOB_TRANSCRIPTION_END];
        struct val w[] = {T(t->sid), NUL, I(t->duration_ms), I(t->updated_us)};
        /* The text is a slice, not a C string: bound on its own. */
        rc = bind_vals(s, S_JOB_TRANSCRIPTION_END, w, 1);
        if (rc == 0) {
            int b = t->text_null
                        ? sqlite3_bind_null(q, 3)
                        : sqlite3_bind_text(q, 3, t->text ? t->text : "", (int)t->text_len, SQLITE_STATIC);
            if (b == SQLITE_OK)
                b = sqlite3_bind_text(q, 2, t->status, -1, SQLITE_STATIC);
            if (b == SQLITE_OK)
                b = sqlite3_bind_int64(q, 4, w[2].i);
            if (b == SQLITE_OK)
                b = sqlite3_bind_int64(q, 5, w[3].i);
            if (b != SQLITE_OK) {
                recd_sqlite_done(q);
                rc = recd_sqlite_fail(s, b, "JOB_TRANSCRIPTION_END");
            } else {
                rc = recd_sqlite_run(s, S_JOB_TRANSCRIPTION_END);
                if (rc == 0 && !changed(s))
                    rc = RECD_E_NOT_FOUND;
            }
        }
    }
    return recd_sqlite_call_end(s, rc);
}

int recd_sqlite_op_job_retry(struct recd_store *st, const char *sid, const char *lease, int64_t ready_us,
                             const char *reason, int64_t now_us)
{
    struct sqlite_store *s = S(st);
    int rc = recd_sqlite_txn_alive(s);
    if (rc < 0)
        return rc;
    if (!sid || !lease_ok(lease) || !reason || !text_ok(reason, RECD_REASON_MAX))
        return RECD_E_BAD_INPUT;
    struct val v[] = {T(sid), T(lease), I(ready_us), T(reason), I(now_us)};
    return run_vals(s, S_JOB_RETRY, v, NVAL(v));
}

int recd_sqlite_op_job_count(struct recd_store *st, int64_t *queued, int64_t *running)
{
    struct sqlite_store *s = S(st);
    sqlite3_stmt *q = s->stmt[S_JOB_COUNT];
    int step;
    *queued = *running = 0;
    while ((step = sqlite3_step(q)) == SQLITE_ROW) {
        const char *state = (const char *)sqlite3_column_text(q, 0);
        int64_t n = sqlite3_column_int64(q, 1);
        if (state && strcmp(state, RECD_JOB_QUEUED) == 0)
            *queued = n;
        else if (state && strcmp(state, RECD_JOB_RUNNING) == 0)
            *running = n;
    }
    int rc = step == SQLITE_DONE ? 0 : recd_sqlite_fail(s, step, "JOB_COUNT");
    recd_sqlite_done(q);
    return rc;
}

/* The recording is read and the request inserted in one unit, so a delete cannot come between. */
int recd_sqlite_op_transcribe_request_put(struct recd_store *st, const struct recd_transcribe_request *r)
{
    struct sqlite_store *s = S(st);
    struct recd_recording rec;
    if (strcmp(r->callback_method, "POST") != 0 && strcmp(r->callback_method, "GET") != 0)
        return RECD_E_BAD_INPUT;
    int rc = recd_sqlite_call_begin(s);
    if (rc < 0)
        return rc;
    rc = recd_sqlite_get_row(s, S_RECORDING_GET, r->sid, &recd_sql_recordings, &rec);
    recd_sqlite_done(s->stmt[S_RECORDING_GET]);
    if (rc == 1)
        rc = rec.deleted_us ? RECD_E_NOT_FOUND : 0;
    if (rc == 0) {
        rc = recd_sqlite_bind_cols(s, s->stmt[S_REQUEST_INSERT], &recd_sql_transcribe_requests, r);
        if (rc < 0)
            recd_sqlite_done(s->stmt[S_REQUEST_INSERT]);
        else
            rc = recd_sqlite_run(s, S_REQUEST_INSERT);
    }
    return recd_sqlite_call_end(s, rc);
}

int recd_sqlite_op_transcribe_request_get(struct recd_store *st, const char *sid,
                                          struct recd_transcribe_request *out)
{
    struct sqlite_store *s = S(st);
    int rc = recd_sqlite_get_row(s, S_REQUEST_GET, sid, &recd_sql_transcribe_requests, out);
    recd_sqlite_done(s->stmt[S_REQUEST_GET]);
    return rc < 0 ? rc : 0;
}
