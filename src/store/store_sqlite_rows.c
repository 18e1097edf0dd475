#include "store/store_sqlite_internal.h"

#include "core/error.h"
#include "core/log.h"

#include <sqlite3.h>
#include <stdint.h>
#include <string.h>

/*
 * One row in or out of the SQLite store: binding a struct's fields to a statement and reading
 * them back, both driven by the table's columns (store/sql_tables.c), and the operations that
 * insert, get, update or delete single rows, plus the fsck scan.
 */

/* Binds the fields of `row` to parameters 1…n, after the checks every backend makes
 * (recd_sql_col_text). */
int recd_sqlite_bind_cols(struct sqlite_store *s, sqlite3_stmt *st, const struct recd_sql_table *t,
                          const void *row)
{
    int rc = SQLITE_OK;
    for (size_t i = 0; i < t->ncols && rc == SQLITE_OK; i++) {
        const struct recd_col *c = &t->cols[i];
        const char *p = (const char *)row + c->off;
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
            rc =
                null ? sqlite3_bind_null(st, idx) : sqlite3_bind_text(st, idx, text, (int)len, SQLITE_STATIC);
            break;
        case RECD_COL_I64:
        case RECD_COL_I64_NULL:
            memcpy(&v64, p, sizeof v64);
            rc = c->kind == RECD_COL_I64_NULL && v64 == 0 ? sqlite3_bind_null(st, idx)
                                                          : sqlite3_bind_int64(st, idx, v64);
            break;
        case RECD_COL_INT:
        case RECD_COL_INT_NULL:
            memcpy(&v, p, sizeof v);
            rc = c->kind == RECD_COL_INT_NULL && v == 0 ? sqlite3_bind_null(st, idx)
                                                        : sqlite3_bind_int(st, idx, v);
            break;
        case RECD_COL_BLOB: rc = sqlite3_bind_blob(st, idx, p, (int)c->size, SQLITE_STATIC); break;
        }
    }
    return rc == SQLITE_OK ? 0 : recd_sqlite_fail(s, rc, "bind");
}

/* Reads the columns of `t`, found from result column `first` on, of the current row into `row`.
 * A value that cannot have been written through recd_sqlite_bind_cols means the file was damaged
 * or edited: RECD_E_IO. */
int recd_sqlite_read_cols(sqlite3_stmt *st, int first, const struct recd_sql_table *t, void *row)
{
    for (size_t i = 0; i < t->ncols; i++) {
        const struct recd_col *c = &t->cols[i];
        char *p = (char *)row + c->off;
        int idx = first + (int)i;
        int null = sqlite3_column_type(st, idx) == SQLITE_NULL;
        int64_t v64;
        int v;
        switch (c->kind) {
        case RECD_COL_TEXT:
        case RECD_COL_SID:
        case RECD_COL_SID_NULL: {
            const unsigned char *v_text = sqlite3_column_text(st, idx);
            size_t len = (size_t)sqlite3_column_bytes(st, idx);
            if (null) {
                p[0] = '\0';
                break;
            }
            if (!v_text || len >= c->size)
                goto bad;
            memcpy(p, v_text, len);
            p[len] = '\0';
            break;
        }
        case RECD_COL_I64:
        case RECD_COL_I64_NULL:
            v64 = sqlite3_column_int64(st, idx);
            memcpy(p, &v64, sizeof v64);
            break;
        case RECD_COL_INT:
        case RECD_COL_INT_NULL:
            v64 = sqlite3_column_int64(st, idx);
            if (v64 < INT32_MIN || v64 > INT32_MAX)
                goto bad;
            v = (int)v64;
            memcpy(p, &v, sizeof v);
            break;
        case RECD_COL_BLOB: {
            const void *b = sqlite3_column_blob(st, idx);
            if (null || !b || (size_t)sqlite3_column_bytes(st, idx) != c->size)
                goto bad;
            memcpy(p, b, c->size);
            break;
        }
        }
        continue;
    bad:
        recd_log_error("store: column %s holds a value recd cannot have written", c->name);
        return RECD_E_IO;
    }
    return 0;
}

/* A transcription's text stays in SQLite's memory: the caller copies it where it must outlive the
 * statement (the caller's buffer for get, the page for lists). */
int recd_sqlite_read_text(sqlite3_stmt *st, int idx, const char **p, size_t *n)
{
    *p = NULL;
    *n = 0;
    if (sqlite3_column_type(st, idx) == SQLITE_NULL)
        return 0;
    const char *t = (const char *)sqlite3_column_text(st, idx);
    size_t len = (size_t)sqlite3_column_bytes(st, idx);
    if (len > RECD_TEXT_MAX || (!t && len)) {
        recd_log_error("store: a transcription text is unreadable or longer than recd writes");
        return RECD_E_IO;
    }
    *p = t ? t : "";
    *n = len;
    return 0;
}

static int changes(struct sqlite_store *s)
{
    return sqlite3_changes64(s->db) > 0;
}

/* One-statement insert of a struct. */
static int insert_row(struct sqlite_store *s, enum recd_sqlite_stmt id, const struct recd_sql_table *t,
                      const void *row)
{
    int rc = recd_sqlite_txn_alive(s);
    if (rc < 0)
        return rc;
    rc = recd_sqlite_bind_cols(s, s->stmt[id], t, row);
    if (rc < 0) {
        recd_sqlite_done(s->stmt[id]);
        return rc;
    }
    return recd_sqlite_run(s, id);
}

/* Looks a row up by sid and reads it into `out`; leaves the statement on the row (the caller
 * reads any extra columns, then calls recd_sqlite_done()). Returns 1 on a row. */
int recd_sqlite_get_row(struct sqlite_store *s, enum recd_sqlite_stmt id, const char *sid,
                        const struct recd_sql_table *t, void *out)
{
    sqlite3_stmt *st = s->stmt[id];
    if (!sid)
        return RECD_E_BAD_INPUT;
    int rc = sqlite3_bind_text(st, 1, sid, -1, SQLITE_STATIC);
    if (rc != SQLITE_OK)
        return recd_sqlite_fail(s, rc, recd_sqlite_stmt_name[id]);
    rc = sqlite3_step(st);
    if (rc == SQLITE_DONE)
        return RECD_E_NOT_FOUND;
    if (rc != SQLITE_ROW)
        return recd_sqlite_fail(s, rc, recd_sqlite_stmt_name[id]);
    rc = recd_sqlite_read_cols(st, 0, t, out);
    return rc < 0 ? rc : 1;
}

int recd_sqlite_op_account_insert(struct recd_store *st, const struct recd_account *a)
{
    return insert_row(S(st), S_ACCOUNT_INSERT, &recd_sql_accounts, a);
}

int recd_sqlite_op_account_get(struct recd_store *st, const char *sid, struct recd_account *out)
{
    struct sqlite_store *s = S(st);
    int rc = recd_sqlite_get_row(s, S_ACCOUNT_GET, sid, &recd_sql_accounts, out);
    recd_sqlite_done(s->stmt[S_ACCOUNT_GET]);
    return rc < 0 ? rc : 0;
}

int recd_sqlite_op_account_set_media_auth(struct recd_store *st, const char *sid, int on, int64_t now_us)
{
    struct sqlite_store *s = S(st);
    sqlite3_stmt *q = s->stmt[S_ACCOUNT_SET_MEDIA_AUTH];
    int rc = recd_sqlite_txn_alive(s);
    if (rc < 0)
        return rc;
    if (!sid)
        return RECD_E_BAD_INPUT;
    if (sqlite3_bind_text(q, 1, sid, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_int(q, 2, on != 0) != SQLITE_OK || sqlite3_bind_int64(q, 3, now_us) != SQLITE_OK) {
        rc = recd_sqlite_fail(s, sqlite3_extended_errcode(s->db), "bind");
        recd_sqlite_done(q);
        return rc;
    }
    rc = recd_sqlite_run(s, S_ACCOUNT_SET_MEDIA_AUTH);
    if (rc == 0 && !changes(s))
        rc = RECD_E_NOT_FOUND;
    return rc;
}

int recd_sqlite_op_key_insert(struct recd_store *st, const struct recd_key *k)
{
    return insert_row(S(st), S_KEY_INSERT, &recd_sql_api_keys, k);
}

int recd_sqlite_op_key_get(struct recd_store *st, const char *sid, struct recd_key *out)
{
    struct sqlite_store *s = S(st);
    int rc = recd_sqlite_get_row(s, S_KEY_GET, sid, &recd_sql_api_keys, out);
    recd_sqlite_done(s->stmt[S_KEY_GET]);
    return rc < 0 ? rc : 0;
}

int recd_sqlite_op_recording_insert(struct recd_store *st, const struct recd_recording *r)
{
    return insert_row(S(st), S_RECORDING_INSERT, &recd_sql_recordings, r);
}

int recd_sqlite_op_recording_get(struct recd_store *st, const char *sid, struct recd_recording *out)
{
    struct sqlite_store *s = S(st);
    int rc = recd_sqlite_get_row(s, S_RECORDING_GET, sid, &recd_sql_recordings, out);
    recd_sqlite_done(s->stmt[S_RECORDING_GET]);
    return rc < 0 ? rc : 0;
}

static int bind_sid_run(struct sqlite_store *s, enum recd_sqlite_stmt id, const char *sid)
{
    int rc = sqlite3_bind_text(s->stmt[id], 1, sid, -1, SQLITE_STATIC);
    if (rc != SQLITE_OK) {
        recd_sqlite_done(s->stmt[id]);
        return recd_sqlite_fail(s, rc, recd_sqlite_stmt_name[id]);
    }
    return recd_sqlite_run(s, id);
}

int recd_sqlite_op_recording_mark_deleted(struct recd_store *st, const char *sid, int64_t now_us)
{
    struct sqlite_store *s = S(st);
    sqlite3_stmt *q = s->stmt[S_RECORDING_MARK_DELETED];
    /* deleted_us = 0 means "not deleted", so the deletion needs a real instant. */
    if (!sid || now_us <= 0)
        return RECD_E_BAD_INPUT;
    int rc = recd_sqlite_call_begin(s);
    if (rc < 0)
        return rc;
    if (sqlite3_bind_text(q, 1, sid, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_int64(q, 2, now_us) != SQLITE_OK) {
        rc = recd_sqlite_fail(s, sqlite3_extended_errcode(s->db), "bind");
        recd_sqlite_done(q);
        goto fail;
    }
    rc = recd_sqlite_run(s, S_RECORDING_MARK_DELETED);
    if (rc < 0)
        goto fail;
    if (!changes(s)) {
        rc = RECD_E_NOT_FOUND;
        goto fail;
    }
    /* Its transcription jobs go first (they refer to the transcriptions): a queued job is
     * cancelled, and a running one finds its job gone and writes nothing. A transcription being
     * queued at this moment cannot be missed: its transaction holds the write lock (BEGIN
     * IMMEDIATE) until it commits, so this one began after it and reads what it wrote. */
    rc = bind_sid_run(s, S_JOB_DELETE_RECORDING, sid);
    if (rc == 0)
        rc = bind_sid_run(s, S_RECORDING_DELETE_TRANSCRIPTIONS, sid);
    if (rc == 0)
        rc = bind_sid_run(s, S_REQUEST_DELETE_RECORDING, sid);
fail:
    return recd_sqlite_call_end(s, rc);
}

int recd_sqlite_op_purge_deleted(struct recd_store *st, int64_t before_us, int64_t *n)
{
    struct sqlite_store *s = S(st);
    int64_t purged = 0;
    *n = 0;
    int rc = recd_sqlite_call_begin(s);
    if (rc < 0)
        return rc;
    /* Jobs, then transcriptions, then recordings: each refers to the next. */
    static const enum recd_sqlite_stmt steps[] = {S_PURGE_JOBS, S_PURGE_TRANSCRIPTIONS, S_PURGE_RECORDINGS};
    for (size_t i = 0; i < 3; i++) {
        rc = sqlite3_bind_int64(s->stmt[steps[i]], 1, before_us);
        if (rc != SQLITE_OK) {
            rc = recd_sqlite_fail(s, rc, recd_sqlite_stmt_name[steps[i]]);
            recd_sqlite_done(s->stmt[steps[i]]);
            goto fail;
        }
        rc = recd_sqlite_run(s, steps[i]);
        if (rc < 0)
            goto fail;
    }
    purged = sqlite3_changes64(s->db);
fail:
    rc = recd_sqlite_call_end(s, rc);
    if (rc == 0)
        *n = purged;
    return rc;
}

int recd_sqlite_op_transcription_insert(struct recd_store *st, const struct recd_transcription *t)
{
    struct sqlite_store *s = S(st);
    sqlite3_stmt *q = s->stmt[S_TRANSCRIPTION_INSERT];
    int idx = (int)recd_sql_transcriptions.ncols + 1;
    int rc = recd_sqlite_txn_alive(s);
    if (rc < 0)
        return rc;
    /* Refused here, for every backend alike (recd_sql_text_check says why). */
    if (recd_sql_text_check(t) < 0)
        return RECD_E_BAD_INPUT;
    rc = recd_sqlite_bind_cols(s, q, &recd_sql_transcriptions, t);
    if (rc == 0) {
        int brc = t->text_null
                      ? sqlite3_bind_null(q, idx)
                      : sqlite3_bind_text(q, idx, t->text ? t->text : "", (int)t->text_len, SQLITE_STATIC);
        if (brc != SQLITE_OK)
            rc = recd_sqlite_fail(s, brc, "bind");
    }
    if (rc < 0) {
        recd_sqlite_done(q);
        return rc;
    }
    return recd_sqlite_run(s, S_TRANSCRIPTION_INSERT);
}

int recd_sqlite_op_transcription_get(struct recd_store *st, const char *sid, struct recd_transcription *out,
                                     struct recd_buf *text)
{
    struct sqlite_store *s = S(st);
    sqlite3_stmt *q = s->stmt[S_TRANSCRIPTION_GET];
    const char *p = NULL;
    size_t n = 0;
    recd_buf_reset(text);
    int rc = recd_sqlite_get_row(s, S_TRANSCRIPTION_GET, sid, &recd_sql_transcriptions, out);
    if (rc > 0)
        rc = recd_sqlite_read_text(q, (int)recd_sql_transcriptions.ncols, &p, &n);
    if (rc >= 0) {
        out->text_null = p == NULL;
        out->text_len = n;
        recd_buf_add(text, p ? p : "", n);
        out->text = text->p ? text->p : "";
    }
    recd_sqlite_done(q);
    return rc < 0 ? rc : 0;
}

/* A transcription that recd is making has a job: both go in one unit, the job first. */
int recd_sqlite_op_transcription_delete(struct recd_store *st, const char *sid)
{
    struct sqlite_store *s = S(st);
    if (!sid)
        return RECD_E_BAD_INPUT;
    int rc = recd_sqlite_call_begin(s);
    if (rc < 0)
        return rc;
    rc = bind_sid_run(s, S_JOB_DELETE, sid);
    if (rc == 0)
        rc = bind_sid_run(s, S_TRANSCRIPTION_DELETE, sid);
    if (rc == 0 && !changes(s))
        rc = RECD_E_NOT_FOUND;
    return recd_sqlite_call_end(s, rc);
}

/* What a scan hands each row to: one of the three callbacks, the one its table's rows are for. */
struct scan_cb {
    recd_recording_cb recording;
    recd_number_cb number;
    recd_call_cb call;
    void *ctx;
};

/* Walks the rows of `t` that scan statement `id` (bound by the caller) returns, through `cb`. */
static int scan_rows(struct sqlite_store *s, enum recd_sqlite_stmt id, const struct recd_sql_table *t,
                     const struct scan_cb *cb)
{
    sqlite3_stmt *st = s->stmt[id];
    union {
        struct recd_recording r;
        struct recd_number n;
        struct recd_call c;
    } row;
    int rc;
    s->scanning = 1;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        rc = recd_sqlite_read_cols(st, 0, t, &row);
        if (rc < 0)
            break;
        if (cb->recording ? cb->recording(cb->ctx, &row.r)
            : cb->number  ? cb->number(cb->ctx, &row.n)
                          : cb->call(cb->ctx, &row.c))
            break;
    }
    if (rc == SQLITE_DONE || rc == SQLITE_ROW)
        rc = 0;
    else if (rc > 0)
        rc = recd_sqlite_fail(s, rc, recd_sqlite_stmt_name[id]);
    recd_sqlite_done(st);
    s->scanning = 0;
    return rc;
}

/* A scan's callback must not start another scan: the statement is in use. */
static int scan_busy(struct sqlite_store *s, const char *op)
{
    if (!s->scanning)
        return 0;
    recd_log_error("store: %s called from a scan's callback", op);
    return RECD_E_INTERNAL;
}

/* Binds text parameter 1 of statement `id`; on failure the statement is reset. */
static int bind_text1(struct sqlite_store *s, enum recd_sqlite_stmt id, const char *v)
{
    int rc = sqlite3_bind_text(s->stmt[id], 1, v, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        return 0;
    recd_sqlite_done(s->stmt[id]);
    return recd_sqlite_fail(s, rc, recd_sqlite_stmt_name[id]);
}

int recd_sqlite_op_recording_scan(struct recd_store *base, recd_recording_cb cb, void *ctx)
{
    struct sqlite_store *s = S(base);
    struct scan_cb sc = {.recording = cb, .ctx = ctx};
    int rc = scan_busy(s, "recording_scan");
    return rc < 0 ? rc : scan_rows(s, S_RECORDING_SCAN, &recd_sql_recordings, &sc);
}

int recd_sqlite_op_recording_scan_status(struct recd_store *base, const char *status, recd_recording_cb cb,
                                         void *ctx)
{
    struct sqlite_store *s = S(base);
    struct scan_cb sc = {.recording = cb, .ctx = ctx};
    if (!status)
        return RECD_E_BAD_INPUT;
    int rc = scan_busy(s, "recording_scan_status");
    if (rc == 0)
        rc = bind_text1(s, S_RECORDING_SCAN_STATUS, status);
    return rc < 0 ? rc : scan_rows(s, S_RECORDING_SCAN_STATUS, &recd_sql_recordings, &sc);
}

int recd_sqlite_op_recording_finish(struct recd_store *st, const struct recd_recording *r)
{
    struct sqlite_store *s = S(st);
    sqlite3_stmt *q = s->stmt[S_RECORDING_FINISH];
    int rc = recd_sqlite_txn_alive(s);
    if (rc < 0)
        return rc;
    if (recd_sql_finish_check(r) < 0)
        return RECD_E_BAD_INPUT;
    int b = sqlite3_bind_text(q, 1, r->sid, -1, SQLITE_STATIC);
    if (b == SQLITE_OK)
        b = sqlite3_bind_text(q, 2, r->status, -1, SQLITE_STATIC);
    if (b == SQLITE_OK)
        b = sqlite3_bind_int64(q, 3, r->duration_ms);
    if (b == SQLITE_OK)
        b = sqlite3_bind_int64(q, 4, r->media_size);
    if (b == SQLITE_OK)
        b = sqlite3_bind_text(q, 5, r->media_sha256, -1, SQLITE_STATIC);
    if (b == SQLITE_OK)
        b = sqlite3_bind_int(q, 6, r->channels);
    if (b == SQLITE_OK)
        b = sqlite3_bind_int(q, 7, r->sample_rate);
    /* As the column table stores them: 0 is null. */
    if (b == SQLITE_OK)
        b = r->error_code ? sqlite3_bind_int(q, 8, r->error_code) : sqlite3_bind_null(q, 8);
    if (b == SQLITE_OK)
        b = r->start_us ? sqlite3_bind_int64(q, 9, r->start_us) : sqlite3_bind_null(q, 9);
    if (b == SQLITE_OK)
        b = sqlite3_bind_int64(q, 10, r->updated_us);
    if (b != SQLITE_OK) {
        recd_sqlite_done(q);
        return recd_sqlite_fail(s, b, "bind");
    }
    rc = recd_sqlite_run(s, S_RECORDING_FINISH);
    if (rc == 0 && !changes(s))
        rc = RECD_E_NOT_FOUND;
    return rc;
}

int recd_sqlite_op_number_insert(struct recd_store *st, const struct recd_number *n)
{
    /* Refused here, for every backend alike (recd_sql_number_check says what). */
    if (recd_sql_number_check(n) < 0)
        return RECD_E_BAD_INPUT;
    return insert_row(S(st), S_NUMBER_INSERT, &recd_sql_numbers, n);
}

int recd_sqlite_op_number_get(struct recd_store *st, const char *sid, struct recd_number *out)
{
    struct sqlite_store *s = S(st);
    int rc = recd_sqlite_get_row(s, S_NUMBER_GET, sid, &recd_sql_numbers, out);
    recd_sqlite_done(s->stmt[S_NUMBER_GET]);
    return rc < 0 ? rc : 0;
}

int recd_sqlite_op_number_get_by_number(struct recd_store *st, const char *number, struct recd_number *out)
{
    struct sqlite_store *s = S(st);
    int rc = recd_sqlite_get_row(s, S_NUMBER_GET_BY_NUMBER, number, &recd_sql_numbers, out);
    recd_sqlite_done(s->stmt[S_NUMBER_GET_BY_NUMBER]);
    return rc < 0 ? rc : 0;
}

int recd_sqlite_op_number_list(struct recd_store *st, const char *account_sid, recd_number_cb cb, void *ctx)
{
    struct sqlite_store *s = S(st);
    struct scan_cb sc = {.number = cb, .ctx = ctx};
    enum recd_sqlite_stmt id = account_sid ? S_NUMBER_LIST_ACCOUNT : S_NUMBER_LIST_ALL;
    int rc = scan_busy(s, "number_list");
    if (rc == 0 && account_sid)
        rc = bind_text1(s, id, account_sid);
    return rc < 0 ? rc : scan_rows(s, id, &recd_sql_numbers, &sc);
}

int recd_sqlite_op_number_delete(struct recd_store *st, const char *sid)
{
    struct sqlite_store *s = S(st);
    int rc = recd_sqlite_txn_alive(s);
    if (rc < 0)
        return rc;
    if (!sid)
        return RECD_E_BAD_INPUT;
    rc = bind_sid_run(s, S_NUMBER_DELETE, sid);
    if (rc == 0 && !changes(s))
        rc = RECD_E_NOT_FOUND;
    return rc;
}

int recd_sqlite_op_call_insert(struct recd_store *st, const struct recd_call *c)
{
    if (recd_sql_call_check(c) < 0)
        return RECD_E_BAD_INPUT;
    return insert_row(S(st), S_CALL_INSERT, &recd_sql_calls, c);
}

int recd_sqlite_op_call_get(struct recd_store *st, const char *sid, struct recd_call *out)
{
    struct sqlite_store *s = S(st);
    int rc = recd_sqlite_get_row(s, S_CALL_GET, sid, &recd_sql_calls, out);
    recd_sqlite_done(s->stmt[S_CALL_GET]);
    return rc < 0 ? rc : 0;
}

/* The values of a call that change as it goes, checked like an insert's (recd_sql_col_text). */
static int bind_call_state(struct sqlite_store *s, sqlite3_stmt *q, const struct recd_call *c)
{
    static const char *const text_cols[] = {"sid", "status", "caller_name", "answered_by"};
    const char *text[4];
    size_t len[4];
    int null;
    for (size_t i = 0; i < 4; i++) {
        const struct recd_col *col = NULL;
        for (size_t j = 0; j < recd_sql_calls.ncols && !col; j++)
            if (strcmp(recd_sql_calls.cols[j].name, text_cols[i]) == 0)
                col = &recd_sql_calls.cols[j];
        if (!col || recd_sql_col_text(col, c, &text[i], &len[i], &null) < 0)
            return RECD_E_BAD_INPUT;
    }
    int b = SQLITE_OK;
    for (int i = 0; i < 4 && b == SQLITE_OK; i++)
        b = sqlite3_bind_text(q, i + 1, text[i], (int)len[i], SQLITE_STATIC);
    /* As the column table stores them: 0 is null. */
    if (b == SQLITE_OK)
        b = c->start_us ? sqlite3_bind_int64(q, 5, c->start_us) : sqlite3_bind_null(q, 5);
    if (b == SQLITE_OK)
        b = c->end_us ? sqlite3_bind_int64(q, 6, c->end_us) : sqlite3_bind_null(q, 6);
    if (b == SQLITE_OK)
        b = sqlite3_bind_int64(q, 7, c->duration_ms);
    if (b == SQLITE_OK)
        b = c->error_code ? sqlite3_bind_int(q, 8, c->error_code) : sqlite3_bind_null(q, 8);
    if (b == SQLITE_OK)
        b = sqlite3_bind_int64(q, 9, c->updated_us);
    return b == SQLITE_OK ? 0 : recd_sqlite_fail(s, b, "bind");
}

int recd_sqlite_op_call_update(struct recd_store *st, const struct recd_call *c)
{
    struct sqlite_store *s = S(st);
    sqlite3_stmt *q = s->stmt[S_CALL_UPDATE];
    int rc = recd_sqlite_txn_alive(s);
    if (rc < 0)
        return rc;
    if (recd_sql_call_check(c) < 0)
        return RECD_E_BAD_INPUT;
    rc = bind_call_state(s, q, c);
    if (rc < 0) {
        recd_sqlite_done(q);
        return rc;
    }
    rc = recd_sqlite_run(s, S_CALL_UPDATE);
    if (rc == 0 && !changes(s))
        rc = RECD_E_NOT_FOUND;
    return rc;
}

/* The delete removes only an ended call; when it removes nothing, a lookup tells "no such call"
 * from "still live", inside one unit so that the answer is about the same row. */
int recd_sqlite_op_call_delete(struct recd_store *st, const char *sid)
{
    struct sqlite_store *s = S(st);
    struct recd_call c;
    if (!sid)
        return RECD_E_BAD_INPUT;
    int rc = recd_sqlite_call_begin(s);
    if (rc < 0)
        return rc;
    rc = bind_sid_run(s, S_CALL_DELETE, sid);
    if (rc == 0 && !changes(s)) {
        rc = recd_sqlite_get_row(s, S_CALL_GET, sid, &recd_sql_calls, &c);
        recd_sqlite_done(s->stmt[S_CALL_GET]);
        rc = rc == 1 ? RECD_E_IN_PROGRESS : rc < 0 ? rc : RECD_E_NOT_FOUND;
    }
    return recd_sqlite_call_end(s, rc);
}

int recd_sqlite_op_call_scan_live(struct recd_store *st, recd_call_cb cb, void *ctx)
{
    struct sqlite_store *s = S(st);
    struct scan_cb sc = {.call = cb, .ctx = ctx};
    int rc = scan_busy(s, "call_scan_live");
    return rc < 0 ? rc : scan_rows(s, S_CALL_SCAN_LIVE, &recd_sql_calls, &sc);
}
