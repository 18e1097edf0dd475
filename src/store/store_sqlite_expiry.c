#include "store/store_sqlite_internal.h"

#include "core/error.h"
#include "core/sid.h"

#include <string.h>

/*
 * Retention and bulk delete (contract §11): an account's retention, and the batches of recordings
 * that a retention pass or `recd delete` removes (store.h, recd_expiry_query). The deleting itself
 * is recording_mark_deleted's, one recording at a time, as DELETE does it.
 */

int recd_sqlite_op_account_set_retention(struct recd_store *st, const char *sid, int days, int64_t now_us)
{
    struct sqlite_store *s = S(st);
    sqlite3_stmt *q = s->stmt[S_ACCOUNT_SET_RETENTION];
    int rc = recd_sqlite_txn_alive(s);
    if (rc < 0)
        return rc;
    if (!sid || days < 0 || days > RECD_RETENTION_DAYS_MAX)
        return RECD_E_BAD_INPUT;
    int b = sqlite3_bind_text(q, 1, sid, -1, SQLITE_STATIC);
    if (b == SQLITE_OK)
        b = sqlite3_bind_int(q, 2, days);
    if (b == SQLITE_OK)
        b = sqlite3_bind_int64(q, 3, now_us);
    if (b != SQLITE_OK) {
        recd_sqlite_done(q);
        return recd_sqlite_fail(s, b, "ACCOUNT_SET_RETENTION");
    }
    rc = recd_sqlite_run(s, S_ACCOUNT_SET_RETENTION);
    if (rc == 0 && sqlite3_changes64(s->db) == 0)
        rc = RECD_E_NOT_FOUND;
    return rc;
}

/* Binds the query's parameters to the statement it uses (RETENTION_* or DELETE_MATCH*); `limit`
 * < 0 for a count, which has none. Returns the statement's id, or RECD_E_*. */
static int bind_query(struct sqlite_store *s, const struct recd_expiry_query *q, int limit, int count)
{
    enum recd_sqlite_stmt id;
    int b;
    if (!q->account_sid) {
        id = count ? S_RETENTION_DUE_COUNT : S_RETENTION_DUE;
        b = sqlite3_bind_int64(s->stmt[id], 1, q->now_us);
        if (b == SQLITE_OK && !count)
            b = sqlite3_bind_int(s->stmt[id], 2, limit);
    } else {
        id = count ? S_DELETE_MATCH_COUNT : S_DELETE_MATCH;
        sqlite3_stmt *st = s->stmt[id];
        b = sqlite3_bind_text(st, 1, q->account_sid, -1, SQLITE_STATIC);
        if (b == SQLITE_OK)
            b = sqlite3_bind_text(st, 2, q->call_sid ? q->call_sid : "", -1, SQLITE_STATIC);
        if (b == SQLITE_OK)
            b = sqlite3_bind_int64(st, 3, q->before_us);
        if (b == SQLITE_OK && !count)
            b = sqlite3_bind_int(st, 4, limit);
    }
    if (b != SQLITE_OK) {
        recd_sqlite_done(s->stmt[id]);
        return recd_sqlite_fail(s, b, recd_sqlite_stmt_name[id]);
    }
    return (int)id;
}

int recd_sqlite_op_recording_expired(struct recd_store *st, const struct recd_expiry_query *q,
                                     char (*sids)[RECD_SID_LEN + 1], int cap, int *n)
{
    struct sqlite_store *s = S(st);
    *n = 0;
    if (!q || cap < 1 || cap > RECD_LIST_LIMIT_MAX)
        return RECD_E_BAD_INPUT;
    int id = bind_query(s, q, cap, 0);
    if (id < 0)
        return id;
    sqlite3_stmt *stmt = s->stmt[id];
    int step = SQLITE_DONE, rc = 0;
    while (*n < cap && (step = sqlite3_step(stmt)) == SQLITE_ROW) {
        const char *sid = (const char *)sqlite3_column_text(stmt, 0);
        if (!sid || !recd_sid_valid(sid, strlen(sid), "RE", 1)) {
            rc = RECD_E_IO; /* not a value recd writes */
            break;
        }
        memcpy(sids[(*n)++], sid, RECD_SID_LEN + 1);
    }
    if (rc == 0 && *n < cap && step != SQLITE_DONE)
        rc = recd_sqlite_fail(s, step, recd_sqlite_stmt_name[id]);
    recd_sqlite_done(stmt);
    if (rc < 0)
        *n = 0;
    return rc;
}

int recd_sqlite_op_recording_expired_count(struct recd_store *st, const struct recd_expiry_query *q,
                                           int64_t *n)
{
    struct sqlite_store *s = S(st);
    *n = 0;
    if (!q)
        return RECD_E_BAD_INPUT;
    int id = bind_query(s, q, -1, 1);
    if (id < 0)
        return id;
    sqlite3_stmt *stmt = s->stmt[id];
    int step = sqlite3_step(stmt), rc = 0;
    if (step == SQLITE_ROW)
        *n = sqlite3_column_int64(stmt, 0);
    else
        rc = recd_sqlite_fail(s, step, recd_sqlite_stmt_name[id]);
    recd_sqlite_done(stmt);
    return rc;
}
