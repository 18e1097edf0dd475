#include "store/store_sqlite_internal.h"

#include "core/error.h"
#include "core/log.h"

#include <sqlite3.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/*
 * Lists and counts in the SQLite store. The SQL of each filter combination comes from
 * store/sql_list.c; here it is prepared on first use, bound, and walked, and a BEFORE page,
 * which SQLite fetches oldest first, is handed out newest first like every other page.
 */

unsigned recd_store_sqlite_list_flags(enum recd_sqlite_list_kind kind)
{
    return recd_sql_list_flags((enum recd_sql_list_kind)kind);
}

int recd_store_sqlite_list_sql(enum recd_sqlite_list_kind kind, unsigned combo, char *buf, size_t cap)
{
    return recd_sql_list_text(RECD_SQL_SQLITE, (enum recd_sql_list_kind)kind, combo, buf, cap);
}

/* Binds the filter parameters (?1 to ?6) that combination `combo` uses. */
static int bind_filters(sqlite3_stmt *st, unsigned combo, const struct recd_list_query *q)
{
    unsigned f = combo & ((1u << RECD_SQL_LIST_DIR_SHIFT) - 1);
    int rc = sqlite3_bind_text(st, 1, q->account_sid, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK && (f & RECD_SQL_LF_CALL))
        rc = sqlite3_bind_text(st, 2, q->call_sid, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK && (f & RECD_SQL_LF_CONFERENCE))
        rc = sqlite3_bind_text(st, 3, q->conference_sid, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK && (f & RECD_SQL_LF_RECORDING))
        rc = sqlite3_bind_text(st, 4, q->recording_sid, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK && (f & RECD_SQL_LF_GE))
        rc = sqlite3_bind_int64(st, 5, q->created_ge_us);
    if (rc == SQLITE_OK && (f & RECD_SQL_LF_LT))
        rc = sqlite3_bind_int64(st, 6, q->created_lt_us);
    return rc;
}

/* The statement of a combination, prepared on first use and kept for the life of the handle;
 * bound with the query's values. */
static int list_prepare(struct sqlite_store *s, enum recd_sql_list_kind kind, unsigned combo,
                        const struct recd_list_query *q, const struct recd_sql_bound *b, sqlite3_stmt **out)
{
    sqlite3_stmt *st = s->list[kind][combo];
    int rc = SQLITE_OK;
    if (!st) {
        char sql[1024];
        if (recd_sql_list_text(RECD_SQL_SQLITE, kind, combo, sql, sizeof sql) < 0) {
            recd_log_error("store: list: no SQL for combination %u", combo);
            return RECD_E_INTERNAL;
        }
        rc = sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL);
        if (rc != SQLITE_OK)
            return recd_sqlite_fail(s, rc, "list prepare");
        s->list[kind][combo] = st;
    }
    unsigned dir = combo >> RECD_SQL_LIST_DIR_SHIFT;
    rc = bind_filters(st, combo, q);
    if (rc == SQLITE_OK && dir != RECD_ANCHOR_NONE)
        rc = sqlite3_bind_int64(st, 7, b->us);
    if (rc == SQLITE_OK && dir != RECD_ANCHOR_NONE)
        rc = sqlite3_bind_text(st, 8, b->sid, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int(st, 9, q->limit);
    if (rc == SQLITE_OK && dir == RECD_ANCHOR_NONE)
        rc = sqlite3_bind_int64(st, 10, q->offset);
    if (rc != SQLITE_OK) {
        recd_sqlite_done(st);
        return recd_sqlite_fail(s, rc, "list bind");
    }
    *out = st;
    return 0;
}

int recd_sqlite_op_recording_list(struct recd_store *base, const struct recd_list_query *q,
                                  recd_recording_cb cb, void *ctx)
{
    struct sqlite_store *s = S(base);
    enum recd_sql_list_kind kind = RECD_SQL_LIST_RECORDINGS;
    sqlite3_stmt *st = NULL;
    struct recd_sql_bound b;
    unsigned combo;
    int rc = recd_sql_list_combo(kind, q, &combo, &b);
    if (rc < 0)
        return rc;
    if (s->walking[kind]) {
        recd_log_error("store: recording_list called from its own callback");
        return RECD_E_INTERNAL;
    }
    if (q->anchor_dir == RECD_ANCHOR_BEFORE && !s->rev &&
        !(s->rev = calloc(RECD_SQL_LIST_MAX, sizeof *s->rev)))
        return RECD_E_INTERNAL;
    rc = list_prepare(s, kind, combo, q, &b, &st);
    if (rc < 0)
        return rc;
    s->walking[kind] = 1;
    int n = 0, stop = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (q->anchor_dir == RECD_ANCHOR_BEFORE) {
            /* LIMIT keeps n below RECD_SQL_LIST_MAX; the test guards the array all the same. */
            if (n == RECD_SQL_LIST_MAX)
                break;
            rc = recd_sqlite_read_cols(st, 0, &recd_sql_recordings, &s->rev[n++]);
        } else {
            struct recd_recording r;
            rc = recd_sqlite_read_cols(st, 0, &recd_sql_recordings, &r);
            if (rc == 0)
                stop = cb(ctx, &r);
        }
        if (rc < 0 || stop)
            break;
    }
    if (rc == SQLITE_DONE || rc == SQLITE_ROW)
        rc = 0;
    else if (rc > 0)
        rc = recd_sqlite_fail(s, rc, "recording_list");
    recd_sqlite_done(st);
    /* Fetched oldest first; handed out newest first, like every other page. */
    for (int i = n - 1; rc == 0 && i >= 0; i--)
        if (cb(ctx, &s->rev[i]))
            break;
    s->walking[kind] = 0;
    return rc;
}

/* A BEFORE page of transcriptions: the sids oldest first, then each row read again by sid and
 * handed out newest first, all in one read transaction so the page is one snapshot. */
static int transcription_list_before(struct sqlite_store *s, sqlite3_stmt *st, recd_transcription_cb cb,
                                     void *ctx)
{
    sqlite3_stmt *get = s->stmt[S_TRANSCRIPTION_GET];
    int own = !s->in_txn, n = 0;
    int rc = own ? recd_sqlite_run(s, S_BEGIN_READ) : recd_sqlite_txn_alive(s);
    if (rc < 0) {
        recd_sqlite_done(st);
        return rc;
    }
    while (n < RECD_SQL_LIST_MAX && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        const unsigned char *sid = sqlite3_column_text(st, 0);
        if (!sid || (size_t)sqlite3_column_bytes(st, 0) != RECD_SID_LEN) {
            rc = RECD_E_IO;
            recd_log_error("store: a transcription sid is malformed");
            break;
        }
        memcpy(s->rev_sids[n++], sid, RECD_SID_LEN + 1);
    }
    if (rc == SQLITE_DONE || rc == SQLITE_ROW)
        rc = 0;
    else if (rc > 0)
        rc = recd_sqlite_fail(s, rc, "transcription_list");
    recd_sqlite_done(st);
    for (int i = n - 1; rc == 0 && i >= 0; i--) {
        rc = recd_sqlite_get_row(s, S_TRANSCRIPTION_GET, s->rev_sids[i], &recd_sql_transcriptions, s->tr);
        if (rc > 0)
            rc = recd_sqlite_read_text(get, (int)recd_sql_transcriptions.ncols, s->tr, 1);
        recd_sqlite_done(get);
        if (rc < 0)
            break;
        if (cb(ctx, s->tr))
            break;
    }
    if (own) {
        /* Nothing was written; ending the read cannot lose anything, but its error is reported. */
        int end = recd_sqlite_run(s, S_COMMIT);
        if (end < 0 && !sqlite3_get_autocommit(s->db))
            recd_sqlite_run(s, S_ROLLBACK);
        if (rc == 0)
            rc = end;
    }
    return rc;
}

int recd_sqlite_op_transcription_list(struct recd_store *base, const struct recd_list_query *q,
                                      recd_transcription_cb cb, void *ctx)
{
    struct sqlite_store *s = S(base);
    enum recd_sql_list_kind kind = RECD_SQL_LIST_TRANSCRIPTIONS;
    sqlite3_stmt *st = NULL;
    struct recd_sql_bound b;
    unsigned combo;
    int rc = recd_sql_list_combo(kind, q, &combo, &b);
    if (rc < 0)
        return rc;
    if (s->walking[kind]) {
        recd_log_error("store: transcription_list called from its own callback");
        return RECD_E_INTERNAL;
    }
    if (!s->tr && !(s->tr = malloc(sizeof *s->tr)))
        return RECD_E_INTERNAL;
    if (q->anchor_dir == RECD_ANCHOR_BEFORE && !s->rev_sids &&
        !(s->rev_sids = calloc(RECD_SQL_LIST_MAX, sizeof *s->rev_sids)))
        return RECD_E_INTERNAL;
    rc = list_prepare(s, kind, combo, q, &b, &st);
    if (rc < 0)
        return rc;
    s->walking[kind] = 1;
    if (q->anchor_dir == RECD_ANCHOR_BEFORE) {
        rc = transcription_list_before(s, st, cb, ctx);
        s->walking[kind] = 0;
        return rc;
    }
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        rc = recd_sqlite_read_cols(st, 0, &recd_sql_transcriptions, s->tr);
        if (rc == 0)
            rc = recd_sqlite_read_text(st, (int)recd_sql_transcriptions.ncols, s->tr, 0);
        if (rc < 0 || cb(ctx, s->tr))
            break;
    }
    if (rc == SQLITE_DONE || rc == SQLITE_ROW)
        rc = 0;
    else if (rc > 0)
        rc = recd_sqlite_fail(s, rc, "transcription_list");
    recd_sqlite_done(st);
    s->walking[kind] = 0;
    return rc;
}

/* Counts what a list query's filters match, for the legacy XML envelope's total. The anchor,
 * offset and limit play no part, so the statement is the list's WHERE clause alone. */
static int list_count(struct recd_store *base, enum recd_sql_list_kind kind, const struct recd_list_query *q,
                      int64_t *n)
{
    struct sqlite_store *s = S(base);
    struct recd_list_query cq = *q;
    struct recd_sql_bound b;
    unsigned combo;
    cq.anchor_dir = RECD_ANCHOR_NONE;
    cq.offset = 0;
    cq.limit = 1;
    int rc = recd_sql_list_combo(kind, &cq, &combo, &b);
    if (rc < 0)
        return rc;
    sqlite3_stmt *st = s->count[kind][combo];
    if (!st) {
        char sql[1024];
        if (recd_sql_count_text(RECD_SQL_SQLITE, kind, combo, sql, sizeof sql) < 0)
            return RECD_E_INTERNAL;
        rc = sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL);
        if (rc != SQLITE_OK)
            return recd_sqlite_fail(s, rc, "count prepare");
        s->count[kind][combo] = st;
    }
    rc = bind_filters(st, combo, q);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *n = sqlite3_column_int64(st, 0);
        rc = 0;
    } else {
        rc = recd_sqlite_fail(s, rc, "count");
    }
    recd_sqlite_done(st);
    return rc;
}

int recd_sqlite_op_recording_count(struct recd_store *base, const struct recd_list_query *q, int64_t *n)
{
    return list_count(base, RECD_SQL_LIST_RECORDINGS, q, n);
}

int recd_sqlite_op_transcription_count(struct recd_store *base, const struct recd_list_query *q, int64_t *n)
{
    return list_count(base, RECD_SQL_LIST_TRANSCRIPTIONS, q, n);
}
