#include "store/store_pg_internal.h"

#include "core/error.h"
#include "core/log.h"

#include <libpq-fe.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/*
 * One row in or out of the PostgreSQL store: a struct's fields as a statement's parameters and
 * read back from its binary result, both driven by the table's columns (store/sql_tables.c), and
 * the operations on single rows and the scans.
 *
 * Scans walk in pages of SCAN_PAGE rows by sid rather than in one statement: memory stays
 * bounded however many rows there are (fsck reads every recording), and the connection is free
 * while the callback runs, so a callback may use the store.
 */

#define SCAN_PAGE 500

int recd_pg_bind_cols(struct pg_params *p, const struct recd_sql_table *t, const void *row)
{
    for (size_t i = 0; i < t->ncols; i++) {
        const struct recd_col *c = &t->cols[i];
        const char *f = (const char *)row + c->off;
        int idx = (int)i + 1;
        const char *text;
        size_t len;
        int null;
        int64_t v64;
        int v;
        switch (c->kind) {
        case RECD_COL_TEXT:
        case RECD_COL_SID:
        case RECD_COL_SID_NULL:
            if (recd_sql_col_text(c, row, &text, &len, &null) < 0)
                return RECD_E_BAD_INPUT;
            if (null)
                recd_pg_param_null(p, idx);
            else
                recd_pg_param_text(p, idx, text, len);
            break;
        case RECD_COL_I64:
        case RECD_COL_I64_NULL:
            memcpy(&v64, f, sizeof v64);
            if (c->kind == RECD_COL_I64_NULL && v64 == 0)
                recd_pg_param_null(p, idx);
            else
                recd_pg_param_i64(p, idx, v64);
            break;
        case RECD_COL_INT:
        case RECD_COL_INT_NULL:
            memcpy(&v, f, sizeof v);
            if (c->kind == RECD_COL_INT_NULL && v == 0)
                recd_pg_param_null(p, idx);
            else
                recd_pg_param_i64(p, idx, v);
            break;
        case RECD_COL_BLOB: recd_pg_param_bytes(p, idx, f, c->size); break;
        }
    }
    return 0;
}

static uint64_t be(const char *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = v << 8 | (unsigned char)p[i];
    return v;
}

/* Binary results: each column must have the type and width the schema gives it. Anything else
 * means the database was changed by something other than recd: RECD_E_IO. */
int recd_pg_read_cols(const PGresult *res, int r, int first, const struct recd_sql_table *t, void *row)
{
    if (PQnfields(res) < first + (int)t->ncols)
        goto bad_shape;
    for (size_t i = 0; i < t->ncols; i++) {
        const struct recd_col *c = &t->cols[i];
        char *f = (char *)row + c->off;
        int col = first + (int)i;
        int null = PQgetisnull(res, r, col);
        const char *v = PQgetvalue(res, r, col);
        size_t len = (size_t)PQgetlength(res, r, col);
        Oid type = PQftype(res, col);
        int64_t v64;
        int v32;
        switch (c->kind) {
        case RECD_COL_TEXT:
        case RECD_COL_SID:
        case RECD_COL_SID_NULL:
            if (type != RECD_PG_TEXT || (null && c->kind != RECD_COL_SID_NULL) || len >= c->size)
                goto bad;
            memcpy(f, v, len);
            f[len] = '\0';
            break;
        case RECD_COL_I64:
        case RECD_COL_I64_NULL:
            if (type != RECD_PG_INT8 || (null ? c->kind != RECD_COL_I64_NULL : len != 8))
                goto bad;
            v64 = null ? 0 : (int64_t)be(v, 8);
            memcpy(f, &v64, sizeof v64);
            break;
        case RECD_COL_INT:
        case RECD_COL_INT_NULL:
            if (type != RECD_PG_INT4 || (null ? c->kind != RECD_COL_INT_NULL : len != 4))
                goto bad;
            v32 = null ? 0 : (int)(int32_t)(uint32_t)be(v, 4);
            memcpy(f, &v32, sizeof v32);
            break;
        case RECD_COL_BLOB:
            if (type != RECD_PG_BYTEA || null || len != c->size)
                goto bad;
            memcpy(f, v, c->size);
            break;
        }
        continue;
    bad:
        recd_log_error("store: column %s holds a value recd cannot have written", c->name);
        return RECD_E_IO;
    }
    return 0;
bad_shape:
    recd_log_error("store: a result of %d columns where %zu were expected", PQnfields(res), t->ncols);
    return RECD_E_IO;
}

int recd_pg_read_text(const PGresult *res, int r, int col, const char **p, size_t *n)
{
    *p = NULL;
    *n = 0;
    if (PQnfields(res) <= col || PQftype(res, col) != RECD_PG_TEXT) {
        recd_log_error("store: a transcription text column of the wrong type");
        return RECD_E_IO;
    }
    if (PQgetisnull(res, r, col))
        return 0;
    size_t len = (size_t)PQgetlength(res, r, col);
    if (len > RECD_TEXT_MAX) {
        recd_log_error("store: a transcription text is longer than recd writes");
        return RECD_E_IO;
    }
    *p = PQgetvalue(res, r, col);
    *n = len;
    return 0;
}

int64_t recd_pg_read_count(const PGresult *res, int r, int col)
{
    if (PQntuples(res) <= r || PQnfields(res) <= col || PQftype(res, col) != RECD_PG_INT8 ||
        PQgetisnull(res, r, col) || PQgetlength(res, r, col) != 8)
        return -1;
    return (int64_t)be(PQgetvalue(res, r, col), 8);
}

/* The rows a statement changed. */
static long changed(const PGresult *res)
{
    return strtol(PQcmdTuples((PGresult *)res), NULL, 10);
}

/* One-statement insert of a struct; `extra` adds parameters after the columns (a text). */
static int insert_row(struct pg_store *s, enum recd_pg_stmt id, const struct recd_sql_table *t,
                      const void *row)
{
    struct pg_params p;
    PGresult *res = NULL;
    recd_pg_params_init(&p);
    int rc = recd_pg_bind_cols(&p, t, row);
    if (rc == 0)
        rc = recd_pg_write(s, id, &p, &res);
    PQclear(res);
    return rc;
}

/* Looks a row up by `key` (a sid, or a phone number) and reads it into `out`; *res keeps the
 * result for extra columns (the caller clears it). 0, RECD_E_NOT_FOUND or RECD_E_*. */
static int get_row(struct pg_store *s, enum recd_pg_stmt id, const char *key, const struct recd_sql_table *t,
                   void *out, PGresult **res)
{
    struct pg_params p;
    *res = NULL;
    if (!key)
        return RECD_E_BAD_INPUT;
    recd_pg_params_init(&p);
    recd_pg_param_text(&p, 1, key, strlen(key));
    int rc = recd_pg_exec(s, id, &p, res);
    if (rc < 0)
        return rc;
    if (PQntuples(*res) == 0)
        return RECD_E_NOT_FOUND;
    return recd_pg_read_cols(*res, 0, 0, t, out);
}

static int get_one(struct pg_store *s, enum recd_pg_stmt id, const char *key, const struct recd_sql_table *t,
                   void *out)
{
    PGresult *res = NULL;
    int rc = get_row(s, id, key, t, out, &res);
    PQclear(res);
    return rc;
}

/* Runs a write bound to `p` that names one row; RECD_E_NOT_FOUND when it changed none. */
static int change_one(struct pg_store *s, enum recd_pg_stmt id, struct pg_params *p)
{
    PGresult *res = NULL;
    int rc = recd_pg_write(s, id, p, &res);
    if (rc == 0 && changed(res) == 0)
        rc = RECD_E_NOT_FOUND;
    PQclear(res);
    return rc;
}

static int delete_by_sid(struct pg_store *s, enum recd_pg_stmt id, const char *sid)
{
    struct pg_params p;
    if (!sid)
        return RECD_E_BAD_INPUT;
    recd_pg_params_init(&p);
    recd_pg_param_text(&p, 1, sid, strlen(sid));
    return change_one(s, id, &p);
}

int recd_pg_op_account_insert(struct recd_store *st, const struct recd_account *a)
{
    return insert_row(PG(st), P_ACCOUNT_INSERT, &recd_sql_accounts, a);
}

int recd_pg_op_account_get(struct recd_store *st, const char *sid, struct recd_account *out)
{
    return get_one(PG(st), P_ACCOUNT_GET, sid, &recd_sql_accounts, out);
}

int recd_pg_op_account_set_media_auth(struct recd_store *st, const char *sid, int on, int64_t now_us)
{
    struct pg_params p;
    if (!sid)
        return RECD_E_BAD_INPUT;
    recd_pg_params_init(&p);
    recd_pg_param_text(&p, 1, sid, strlen(sid));
    recd_pg_param_i64(&p, 2, on != 0);
    recd_pg_param_i64(&p, 3, now_us);
    return change_one(PG(st), P_ACCOUNT_SET_MEDIA_AUTH, &p);
}

int recd_pg_op_key_insert(struct recd_store *st, const struct recd_key *k)
{
    return insert_row(PG(st), P_KEY_INSERT, &recd_sql_api_keys, k);
}

int recd_pg_op_key_get(struct recd_store *st, const char *sid, struct recd_key *out)
{
    return get_one(PG(st), P_KEY_GET, sid, &recd_sql_api_keys, out);
}

int recd_pg_op_recording_insert(struct recd_store *st, const struct recd_recording *r)
{
    return insert_row(PG(st), P_RECORDING_INSERT, &recd_sql_recordings, r);
}

int recd_pg_op_recording_get(struct recd_store *st, const char *sid, struct recd_recording *out)
{
    return get_one(PG(st), P_RECORDING_GET, sid, &recd_sql_recordings, out);
}

/* Runs a one-statement change whose result is one row of counts (store_pg_internal.h). */
static int write_counts(struct pg_store *s, enum recd_pg_stmt id, struct pg_params *p, int64_t c[2], int n)
{
    PGresult *res = NULL;
    int rc = recd_pg_write(s, id, p, &res);
    for (int i = 0; rc == 0 && i < n; i++)
        if ((c[i] = recd_pg_read_count(res, 0, i)) < 0) {
            recd_log_error("store: %s: no count in its result", recd_pg_stmt_name[id]);
            rc = RECD_E_IO;
        }
    PQclear(res);
    return rc;
}

/*
 * The recording and its transcriptions, in two statements of one unit. The first locks the
 * recording, waiting for any transaction that holds it: a transcription being queued holds it
 * FOR SHARE (store_pg_jobs.c) until it commits. The second is the delete itself, and in READ
 * COMMITTED each statement reads a fresh snapshot, so it sees that transcription and its job
 * and removes them. Done in one statement, the delete would wait for the same lock but then
 * work from the snapshot it took before waiting, and leave them behind until purge.
 */
int recd_pg_op_recording_mark_deleted(struct recd_store *st, const char *sid, int64_t now_us)
{
    struct pg_store *s = PG(st);
    struct pg_params p;
    PGresult *res = NULL;
    int own;
    /* deleted_us = 0 means "not deleted", so the deletion needs a real instant. */
    if (!sid || now_us <= 0)
        return RECD_E_BAD_INPUT;
    recd_pg_params_init(&p);
    recd_pg_param_text(&p, 1, sid, strlen(sid));
    int rc = recd_pg_unit_begin(s, &own);
    if (rc < 0)
        return rc;
    rc = recd_pg_exec(s, P_RECORDING_LOCK_DELETE, &p, &res);
    if (rc == 0 && PQntuples(res) == 0)
        rc = RECD_E_NOT_FOUND;
    PQclear(res);
    res = NULL;
    if (rc == 0) {
        recd_pg_param_i64(&p, 2, now_us);
        rc = recd_pg_exec(s, P_RECORDING_MARK_DELETED, &p, &res);
        s->own_writes++;
        int64_t n = rc == 0 ? recd_pg_read_count(res, 0, 0) : 0;
        if (rc == 0 && n < 0) {
            recd_log_error("store: RECORDING_MARK_DELETED: no count in its result");
            rc = RECD_E_IO;
        } else if (rc == 0 && n == 0) {
            rc = RECD_E_NOT_FOUND;
        }
        PQclear(res);
    }
    return recd_pg_unit_end(s, own, rc);
}

int recd_pg_op_purge_deleted(struct recd_store *st, int64_t before_us, int64_t *n)
{
    struct pg_params p;
    int64_t c[2] = {0, 0};
    *n = 0;
    recd_pg_params_init(&p);
    recd_pg_param_i64(&p, 1, before_us);
    int rc = write_counts(PG(st), P_PURGE, &p, c, 1);
    if (rc == 0)
        *n = c[0];
    return rc;
}

int recd_pg_op_recording_finish(struct recd_store *st, const struct recd_recording *r)
{
    struct pg_params p;
    if (recd_sql_finish_check(r) < 0)
        return RECD_E_BAD_INPUT;
    recd_pg_params_init(&p);
    recd_pg_param_text(&p, 1, r->sid, strlen(r->sid));
    recd_pg_param_text(&p, 2, r->status, strlen(r->status));
    recd_pg_param_i64(&p, 3, r->duration_ms);
    recd_pg_param_i64(&p, 4, r->media_size);
    recd_pg_param_text(&p, 5, r->media_sha256, strlen(r->media_sha256));
    recd_pg_param_i64(&p, 6, r->channels);
    recd_pg_param_i64(&p, 7, r->sample_rate);
    /* As the column table stores them: 0 is null. */
    if (r->error_code)
        recd_pg_param_i64(&p, 8, r->error_code);
    else
        recd_pg_param_null(&p, 8);
    if (r->start_us)
        recd_pg_param_i64(&p, 9, r->start_us);
    else
        recd_pg_param_null(&p, 9);
    recd_pg_param_i64(&p, 10, r->updated_us);
    return change_one(PG(st), P_RECORDING_FINISH, &p);
}

int recd_pg_op_transcription_insert(struct recd_store *st, const struct recd_transcription *t)
{
    struct pg_params p;
    PGresult *res = NULL;
    int idx = (int)recd_sql_transcriptions.ncols + 1;
    /* Refused here, for every backend alike (recd_sql_text_check says why). */
    if (recd_sql_text_check(t) < 0)
        return RECD_E_BAD_INPUT;
    recd_pg_params_init(&p);
    int rc = recd_pg_bind_cols(&p, &recd_sql_transcriptions, t);
    if (rc < 0)
        return rc;
    if (t->text_null)
        recd_pg_param_null(&p, idx);
    else
        recd_pg_param_text(&p, idx, t->text ? t->text : "", t->text_len);
    rc = recd_pg_write(PG(st), P_TRANSCRIPTION_INSERT, &p, &res);
    PQclear(res);
    return rc;
}

int recd_pg_op_transcription_get(struct recd_store *st, const char *sid, struct recd_transcription *out,
                                 struct recd_buf *text)
{
    PGresult *res = NULL;
    const char *p = NULL;
    size_t n = 0;
    recd_buf_reset(text);
    int rc = get_row(PG(st), P_TRANSCRIPTION_GET, sid, &recd_sql_transcriptions, out, &res);
    if (rc == 0)
        rc = recd_pg_read_text(res, 0, (int)recd_sql_transcriptions.ncols, &p, &n);
    if (rc == 0) {
        out->text_null = p == NULL;
        out->text_len = n;
        recd_buf_add(text, p ? p : "", n);
        out->text = text->p ? text->p : "";
    }
    PQclear(res);
    return rc;
}

int recd_pg_op_transcription_delete(struct recd_store *st, const char *sid)
{
    return delete_by_sid(PG(st), P_TRANSCRIPTION_DELETE, sid);
}

/* What a scan hands each row to: one of the three callbacks, the one its table's rows are for. */
struct scan_cb {
    recd_recording_cb recording;
    recd_number_cb number;
    recd_call_cb call;
    void *ctx;
};

/*
 * Walks the rows of `t` that scan statement `id` returns, page by page: parameter 1 is the sid
 * after which a page starts, 2 the page's size, 3 the caller's filter (`filter`, or none).
 */
static int scan_rows(struct pg_store *s, enum recd_pg_stmt id, const struct recd_sql_table *t,
                     const char *filter, const struct scan_cb *cb)
{
    char after[RECD_SID_LEN + 1] = "";
    union {
        struct recd_recording r;
        struct recd_number n;
        struct recd_call c;
    } row;
    for (;;) {
        struct pg_params p;
        PGresult *res = NULL;
        recd_pg_params_init(&p);
        recd_pg_param_text(&p, 1, after, strlen(after));
        recd_pg_param_i64(&p, 2, SCAN_PAGE);
        if (filter)
            recd_pg_param_text(&p, 3, filter, strlen(filter));
        int rc = recd_pg_exec(s, id, &p, &res);
        if (rc < 0)
            return rc;
        int n = PQntuples(res), stop = 0;
        for (int i = 0; i < n && !stop && rc == 0; i++) {
            rc = recd_pg_read_cols(res, i, 0, t, &row);
            if (rc < 0)
                break;
            memcpy(after, (const char *)&row, RECD_SID_LEN + 1); /* sid is every struct's first field */
            stop = cb->recording ? cb->recording(cb->ctx, &row.r)
                   : cb->number  ? cb->number(cb->ctx, &row.n)
                                 : cb->call(cb->ctx, &row.c);
        }
        PQclear(res);
        if (rc < 0 || stop || n < SCAN_PAGE)
            return rc;
    }
}

_Static_assert(offsetof(struct recd_recording, sid) == 0 && offsetof(struct recd_number, sid) == 0 &&
                   offsetof(struct recd_call, sid) == 0,
               "scan_rows reads the sid at the start of each row");

int recd_pg_op_recording_scan(struct recd_store *st, recd_recording_cb cb, void *ctx)
{
    struct scan_cb sc = {.recording = cb, .ctx = ctx};
    return scan_rows(PG(st), P_RECORDING_SCAN, &recd_sql_recordings, NULL, &sc);
}

int recd_pg_op_recording_scan_status(struct recd_store *st, const char *status, recd_recording_cb cb,
                                     void *ctx)
{
    struct scan_cb sc = {.recording = cb, .ctx = ctx};
    if (!status)
        return RECD_E_BAD_INPUT;
    return scan_rows(PG(st), P_RECORDING_SCAN_STATUS, &recd_sql_recordings, status, &sc);
}

int recd_pg_op_number_insert(struct recd_store *st, const struct recd_number *n)
{
    /* Refused here, for every backend alike (recd_sql_number_check says what). */
    if (recd_sql_number_check(n) < 0)
        return RECD_E_BAD_INPUT;
    return insert_row(PG(st), P_NUMBER_INSERT, &recd_sql_numbers, n);
}

int recd_pg_op_number_get(struct recd_store *st, const char *sid, struct recd_number *out)
{
    return get_one(PG(st), P_NUMBER_GET, sid, &recd_sql_numbers, out);
}

int recd_pg_op_number_get_by_number(struct recd_store *st, const char *number, struct recd_number *out)
{
    return get_one(PG(st), P_NUMBER_GET_BY_NUMBER, number, &recd_sql_numbers, out);
}

int recd_pg_op_number_list(struct recd_store *st, const char *account_sid, recd_number_cb cb, void *ctx)
{
    struct scan_cb sc = {.number = cb, .ctx = ctx};
    return scan_rows(PG(st), account_sid ? P_NUMBER_LIST_ACCOUNT : P_NUMBER_LIST_ALL, &recd_sql_numbers,
                     account_sid, &sc);
}

int recd_pg_op_number_delete(struct recd_store *st, const char *sid)
{
    return delete_by_sid(PG(st), P_NUMBER_DELETE, sid);
}

int recd_pg_op_call_insert(struct recd_store *st, const struct recd_call *c)
{
    if (recd_sql_call_check(c) < 0)
        return RECD_E_BAD_INPUT;
    return insert_row(PG(st), P_CALL_INSERT, &recd_sql_calls, c);
}

int recd_pg_op_call_get(struct recd_store *st, const char *sid, struct recd_call *out)
{
    return get_one(PG(st), P_CALL_GET, sid, &recd_sql_calls, out);
}

/* The text values of a call that change as it goes, checked like an insert's. */
static int call_text(const struct recd_call *c, const char *name, struct pg_params *p, int idx)
{
    const char *text;
    size_t len;
    int null;
    for (size_t j = 0; j < recd_sql_calls.ncols; j++)
        if (strcmp(recd_sql_calls.cols[j].name, name) == 0) {
            if (recd_sql_col_text(&recd_sql_calls.cols[j], c, &text, &len, &null) < 0)
                return RECD_E_BAD_INPUT;
            recd_pg_param_text(p, idx, text, len);
            return 0;
        }
    return RECD_E_INTERNAL;
}

int recd_pg_op_call_update(struct recd_store *st, const struct recd_call *c)
{
    struct pg_params p;
    if (recd_sql_call_check(c) < 0)
        return RECD_E_BAD_INPUT;
    recd_pg_params_init(&p);
    int rc = call_text(c, "sid", &p, 1);
    if (rc == 0)
        rc = call_text(c, "status", &p, 2);
    if (rc == 0)
        rc = call_text(c, "caller_name", &p, 3);
    if (rc == 0)
        rc = call_text(c, "answered_by", &p, 4);
    if (rc < 0)
        return rc;
    /* As the column table stores them: 0 is null. */
    if (c->start_us)
        recd_pg_param_i64(&p, 5, c->start_us);
    else
        recd_pg_param_null(&p, 5);
    if (c->end_us)
        recd_pg_param_i64(&p, 6, c->end_us);
    else
        recd_pg_param_null(&p, 6);
    recd_pg_param_i64(&p, 7, c->duration_ms);
    if (c->error_code)
        recd_pg_param_i64(&p, 8, c->error_code);
    else
        recd_pg_param_null(&p, 8);
    recd_pg_param_i64(&p, 9, c->updated_us);
    return change_one(PG(st), P_CALL_UPDATE, &p);
}

/* One statement deletes an ended call and says whether the row exists at all, so that "no such
 * call" and "still live" are told apart about the same row. */
int recd_pg_op_call_delete(struct recd_store *st, const char *sid)
{
    struct pg_params p;
    int64_t c[2] = {0, 0};
    if (!sid)
        return RECD_E_BAD_INPUT;
    recd_pg_params_init(&p);
    recd_pg_param_text(&p, 1, sid, strlen(sid));
    int rc = write_counts(PG(st), P_CALL_DELETE, &p, c, 2);
    return rc < 0 ? rc : c[0] ? 0 : c[1] ? RECD_E_IN_PROGRESS : RECD_E_NOT_FOUND;
}

int recd_pg_op_call_scan_live(struct recd_store *st, recd_call_cb cb, void *ctx)
{
    struct scan_cb sc = {.call = cb, .ctx = ctx};
    return scan_rows(PG(st), P_CALL_SCAN_LIVE, &recd_sql_calls, NULL, &sc);
}
