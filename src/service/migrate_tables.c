#include "service/migrate_internal.h"

#include "core/buf.h"
#include "core/error.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * The rows of a migration: every table of the SQLite store into the same table of a PostgreSQL
 * store, value for value (integers as decimal text, texts as they are, byte arrays in binary),
 * in sid order, `batch` rows per transaction. Each transaction also moves the table's mark in
 * recd_migrate (the last sid copied), so a run killed between two batches goes on after the
 * last one that committed and no row is inserted twice (a second insert of a sid would fail on
 * the primary key, not pass silently).
 */

/* The order keeps every foreign key satisfied: accounts before what they own, recordings before
 * transcriptions, transcriptions before their jobs. */
const char *const recd_migrate_tables[] = {"accounts",
                                           "api_keys",
                                           "numbers",
                                           "recordings",
                                           "transcriptions",
                                           "transcription_jobs",
                                           "transcribe_requests",
                                           "calls",
                                           NULL};

/* A table is copied in phases: accounts in two (top-level ones first, as a subaccount refers to
 * its parent, and recd's subaccounts are one level deep), every other table in one. */
struct phase {
    const char *name; /* the mark's name in recd_migrate */
    const char *table;
    const char *cond; /* NULL or a condition on the source's rows */
};

static const struct phase phases[] = {
    {"accounts", "accounts", "parent_sid IS NULL"},
    {"accounts.sub", "accounts", "parent_sid IS NOT NULL"},
    {"api_keys", "api_keys", NULL},
    {"numbers", "numbers", NULL},
    {"recordings", "recordings", NULL},
    {"transcriptions", "transcriptions", NULL},
    {"transcription_jobs", "transcription_jobs", NULL},
    {"transcribe_requests", "transcribe_requests", NULL},
    {"calls", "calls", NULL},
};

#define NPHASES (sizeof phases / sizeof phases[0])

static int pg_fail(PGresult *res, PGconn *dst, const char *step, char *why, size_t why_n)
{
    const char *m = res ? PQresultErrorMessage(res) : PQerrorMessage(dst);
    char msg[300];
    snprintf(msg, sizeof msg, "%s", m && *m ? m : "no answer");
    msg[strcspn(msg, "\n")] = '\0';
    snprintf(why, why_n, "target store: %s: %s", step, msg);
    if (res)
        PQclear(res);
    return PQstatus(dst) == CONNECTION_OK ? RECD_E_IO : RECD_E_UNAVAILABLE;
}

int recd_migrate_pg_exec(PGconn *dst, const char *sql, char *why, size_t why_n)
{
    PGresult *res = PQexec(dst, sql);
    if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK)
        return pg_fail(res, dst, sql, why, why_n);
    PQclear(res);
    return 0;
}

static int src_fail(sqlite3 *src, const char *step, char *why, size_t why_n)
{
    snprintf(why, why_n, "source store: %s: %s", step, sqlite3_errmsg(src));
    return RECD_E_IO;
}

/* The column names of `table` in the source, in its order, comma-separated; and sorted, one per
 * line (to compare with the target's). */
static int src_columns(sqlite3 *src, const char *table, struct recd_buf *list, struct recd_buf *sorted,
                       char *why, size_t why_n)
{
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT name FROM pragma_table_info('%s') ORDER BY cid", table);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(src, sql, -1, &st, NULL) != SQLITE_OK)
        return src_fail(src, "columns", why, why_n);
    recd_buf_reset(list);
    while (sqlite3_step(st) == SQLITE_ROW) {
        if (list->len)
            recd_buf_addc(list, ',');
        recd_buf_adds(list, (const char *)sqlite3_column_text(st, 0));
    }
    sqlite3_finalize(st);
    if (sorted) {
        snprintf(sql, sizeof sql, "SELECT name FROM pragma_table_info('%s') ORDER BY name", table);
        if (sqlite3_prepare_v2(src, sql, -1, &st, NULL) != SQLITE_OK)
            return src_fail(src, "columns", why, why_n);
        recd_buf_reset(sorted);
        while (sqlite3_step(st) == SQLITE_ROW) {
            recd_buf_adds(sorted, (const char *)sqlite3_column_text(st, 0));
            recd_buf_addc(sorted, '\n');
        }
        sqlite3_finalize(st);
    }
    return 0;
}

static int known_table(const char *name)
{
    for (int i = 0; recd_migrate_tables[i]; i++)
        if (strcmp(recd_migrate_tables[i], name) == 0)
            return 1;
    return 0;
}

int recd_migrate_tables_check(sqlite3 *src, PGconn *dst, char *why, size_t why_n)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(src,
                           "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite%'",
                           -1, &st, NULL) != SQLITE_OK)
        return src_fail(src, "tables", why, why_n);
    int rc = 0;
    while (rc == 0 && sqlite3_step(st) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(st, 0);
        if (!known_table(name)) {
            snprintf(why, why_n, "the source has a table this recd does not migrate: %s", name);
            rc = RECD_E_BAD_INPUT;
        }
    }
    sqlite3_finalize(st);
    struct recd_buf list, mine, theirs;
    recd_buf_init(&list, 256);
    recd_buf_init(&mine, 256);
    recd_buf_init(&theirs, 256);
    for (int i = 0; rc == 0 && recd_migrate_tables[i]; i++) {
        const char *t = recd_migrate_tables[i];
        if ((rc = src_columns(src, t, &list, &mine, why, why_n)) < 0)
            break;
        const char *pv[1] = {t};
        PGresult *res =
            PQexecParams(dst,
                         "SELECT column_name FROM information_schema.columns WHERE table_schema ="
                         " current_schema() AND table_name = $1 ORDER BY column_name COLLATE \"C\"",
                         1, NULL, pv, NULL, NULL, 0);
        if (PQresultStatus(res) != PGRES_TUPLES_OK) {
            rc = pg_fail(res, dst, "columns", why, why_n);
            break;
        }
        recd_buf_reset(&theirs);
        for (int r = 0; r < PQntuples(res); r++) {
            recd_buf_adds(&theirs, PQgetvalue(res, r, 0));
            recd_buf_addc(&theirs, '\n');
        }
        PQclear(res);
        if (mine.len != theirs.len || (mine.len && memcmp(mine.p, theirs.p, mine.len) != 0)) {
            snprintf(why, why_n, "the table %s has other columns in the source than in the target", t);
            rc = RECD_E_BAD_INPUT;
        }
    }
    recd_buf_free(&list);
    recd_buf_free(&mine);
    recd_buf_free(&theirs);
    return rc;
}

int recd_migrate_tables_any(PGconn *dst, char *why, size_t why_n)
{
    for (int i = 0; recd_migrate_tables[i]; i++) {
        char sql[128];
        snprintf(sql, sizeof sql, "SELECT 1 FROM %s LIMIT 1", recd_migrate_tables[i]);
        PGresult *res = PQexec(dst, sql);
        if (PQresultStatus(res) != PGRES_TUPLES_OK)
            return pg_fail(res, dst, "is it empty", why, why_n);
        int n = PQntuples(res);
        PQclear(res);
        if (n)
            return 1;
    }
    return 0;
}

/* The value of mark `k` in recd_migrate into `out` ("" when absent). */
static int mark_get(PGconn *dst, const char *k, char *out, size_t cap, char *why, size_t why_n)
{
    const char *pv[1] = {k};
    PGresult *res = PQexecParams(dst, "SELECT v FROM recd_migrate WHERE k = $1", 1, NULL, pv, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        return pg_fail(res, dst, "progress", why, why_n);
    snprintf(out, cap, "%s", PQntuples(res) ? PQgetvalue(res, 0, 0) : "");
    PQclear(res);
    return 0;
}

static int mark_set(PGconn *dst, const char *k, const char *v, char *why, size_t why_n)
{
    const char *pv[2] = {k, v};
    PGresult *res = PQexecParams(dst,
                                 "INSERT INTO recd_migrate (k, v) VALUES ($1, $2)"
                                 " ON CONFLICT (k) DO UPDATE SET v = excluded.v",
                                 2, NULL, pv, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        return pg_fail(res, dst, "progress", why, why_n);
    PQclear(res);
    return 0;
}

/* One batch read from the source: every value copied into `arena` (texts NUL-terminated), with
 * its offset, length and format; -1 offset = NULL. */
struct batch {
    struct recd_buf arena;
    int64_t *off;
    int *len, *fmt;
    const char **val;
    size_t cap;
    int rows, cols;
    char last_sid[64];
};

static void batch_value(struct batch *b, size_t i, sqlite3_stmt *st, int c)
{
    char num[32];
    int type = sqlite3_column_type(st, c);
    b->fmt[i] = 0;
    b->off[i] = (int64_t)b->arena.len;
    switch (type) {
    case SQLITE_NULL:
        b->off[i] = -1;
        b->len[i] = 0;
        return;
    case SQLITE_INTEGER:
        b->len[i] = snprintf(num, sizeof num, "%" PRId64, (int64_t)sqlite3_column_int64(st, c));
        recd_buf_add(&b->arena, num, (size_t)b->len[i]);
        break;
    case SQLITE_FLOAT:
        b->len[i] = snprintf(num, sizeof num, "%.17g", sqlite3_column_double(st, c));
        recd_buf_add(&b->arena, num, (size_t)b->len[i]);
        break;
    case SQLITE_BLOB:
        b->fmt[i] = 1;
        b->len[i] = sqlite3_column_bytes(st, c);
        recd_buf_add(&b->arena, sqlite3_column_blob(st, c), (size_t)b->len[i]);
        break;
    default:
        b->len[i] = sqlite3_column_bytes(st, c);
        recd_buf_add(&b->arena, sqlite3_column_text(st, c), (size_t)b->len[i]);
        break;
    }
    recd_buf_addc(&b->arena, '\0');
}

/* Reads up to `limit` rows after b->last_sid. The sid is column 0 of every table. */
static int batch_read(struct batch *b, sqlite3_stmt *st, int limit, char *why, size_t why_n)
{
    sqlite3_reset(st);
    sqlite3_bind_text(st, 1, b->last_sid, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(st, 2, limit);
    recd_buf_reset(&b->arena);
    b->rows = 0;
    b->cols = sqlite3_column_count(st);
    size_t need = (size_t)limit * (size_t)b->cols;
    if (need > b->cap) {
        b->off = realloc(b->off, need * sizeof *b->off);
        b->len = realloc(b->len, need * sizeof *b->len);
        b->fmt = realloc(b->fmt, need * sizeof *b->fmt);
        b->val = realloc(b->val, need * sizeof *b->val);
        if (!b->off || !b->len || !b->fmt || !b->val) {
            snprintf(why, why_n, "out of memory");
            return RECD_E_INTERNAL;
        }
        b->cap = need;
    }
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        for (int c = 0; c < b->cols; c++)
            batch_value(b, (size_t)b->rows * (size_t)b->cols + (size_t)c, st, c);
        snprintf(b->last_sid, sizeof b->last_sid, "%s", (const char *)sqlite3_column_text(st, 0));
        b->rows++;
    }
    if (rc != SQLITE_DONE)
        return src_fail(sqlite3_db_handle(st), "read", why, why_n);
    for (size_t i = 0; i < (size_t)b->rows * (size_t)b->cols; i++)
        b->val[i] = b->off[i] < 0 ? NULL : b->arena.p + b->off[i];
    return 0;
}

/* Inserts the batch and moves the phase's mark, in one transaction. */
static int batch_write(PGconn *dst, const struct phase *ph, const char *cols, struct batch *b, int last,
                       struct recd_buf *sql, char *why, size_t why_n)
{
    recd_buf_reset(sql);
    recd_buf_adds(sql, "INSERT INTO ");
    recd_buf_adds(sql, ph->table);
    recd_buf_adds(sql, " (");
    recd_buf_adds(sql, cols);
    recd_buf_adds(sql, ") VALUES ");
    int n = 0;
    for (int r = 0; r < b->rows; r++) {
        recd_buf_adds(sql, r ? ",(" : "(");
        for (int c = 0; c < b->cols; c++) {
            if (c)
                recd_buf_addc(sql, ',');
            recd_buf_addc(sql, '$');
            recd_buf_addi(sql, ++n);
        }
        recd_buf_addc(sql, ')');
    }
    int rc = recd_migrate_pg_exec(dst, "BEGIN", why, why_n);
    if (rc < 0)
        return rc;
    PGresult *res = PQexecParams(dst, sql->p, n, NULL, b->val, b->len, b->fmt, 0);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        char step[80];
        snprintf(step, sizeof step, "insert into %s", ph->table);
        rc = pg_fail(res, dst, step, why, why_n);
        goto fail;
    }
    PQclear(res);
    char k[64];
    snprintf(k, sizeof k, "last:%s", ph->name);
    if ((rc = mark_set(dst, k, b->last_sid, why, why_n)) < 0)
        goto fail;
    snprintf(k, sizeof k, "done:%s", ph->name);
    if (last && (rc = mark_set(dst, k, "1", why, why_n)) < 0)
        goto fail;
    return recd_migrate_pg_exec(dst, "COMMIT", why, why_n);
fail:
    PQclear(PQexec(dst, "ROLLBACK"));
    return rc;
}

static int count_rows(PGconn *dst, const char *table, int64_t *n, char *why, size_t why_n)
{
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM %s", table);
    PGresult *res = PQexec(dst, sql);
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        return pg_fail(res, dst, "count", why, why_n);
    *n = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return 0;
}

int recd_migrate_tables_copy(sqlite3 *src, PGconn *dst, int batch, struct recd_migrate_stats *st,
                             void (*progress)(void *ctx, const char *table, int64_t rows), void *ctx,
                             char *why, size_t why_n)
{
    struct batch b = {0};
    struct recd_buf cols, sql;
    recd_buf_init(&b.arena, 1 << 16);
    recd_buf_init(&cols, 256);
    recd_buf_init(&sql, 1 << 12);
    int rc = 0;
    for (int i = 0; recd_migrate_tables[i]; i++) {
        int64_t n = 0;
        if ((rc = count_rows(dst, recd_migrate_tables[i], &n, why, why_n)) < 0)
            goto out;
        st->rows_before += n;
        st->tables++;
    }
    for (size_t p = 0; p < NPHASES && rc == 0; p++) {
        const struct phase *ph = &phases[p];
        char k[64], done[8];
        snprintf(k, sizeof k, "done:%s", ph->name);
        if ((rc = mark_get(dst, k, done, sizeof done, why, why_n)) < 0)
            break;
        if (done[0])
            continue;
        snprintf(k, sizeof k, "last:%s", ph->name);
        if ((rc = mark_get(dst, k, b.last_sid, sizeof b.last_sid, why, why_n)) < 0)
            break;
        if ((rc = src_columns(src, ph->table, &cols, NULL, why, why_n)) < 0)
            break;
        recd_buf_reset(&sql);
        recd_buf_adds(&sql, "SELECT ");
        recd_buf_adds(&sql, cols.p);
        recd_buf_adds(&sql, " FROM ");
        recd_buf_adds(&sql, ph->table);
        recd_buf_adds(&sql, " WHERE sid > ?1");
        if (ph->cond) {
            recd_buf_adds(&sql, " AND ");
            recd_buf_adds(&sql, ph->cond);
        }
        recd_buf_adds(&sql, " ORDER BY sid LIMIT ?2");
        sqlite3_stmt *sel;
        if (sqlite3_prepare_v2(src, sql.p, -1, &sel, NULL) != SQLITE_OK) {
            rc = src_fail(src, "select", why, why_n);
            break;
        }
        int64_t copied = 0;
        for (;;) {
            if ((rc = batch_read(&b, sel, batch, why, why_n)) < 0)
                break;
            if (b.rows == 0) {
                snprintf(k, sizeof k, "done:%s", ph->name);
                rc = mark_set(dst, k, "1", why, why_n);
                break;
            }
            if ((rc = batch_write(dst, ph, cols.p, &b, b.rows < batch, &sql, why, why_n)) < 0)
                break;
            copied += b.rows;
            st->rows += b.rows;
            if (progress)
                progress(ctx, ph->table, copied);
            if (b.rows < batch)
                break;
        }
        sqlite3_finalize(sel);
    }
out:
    free(b.off);
    free(b.len);
    free(b.fmt);
    free(b.val);
    recd_buf_free(&b.arena);
    recd_buf_free(&cols);
    recd_buf_free(&sql);
    return rc;
}

int recd_migrate_tables_verify(sqlite3 *src, PGconn *dst, char *why, size_t why_n)
{
    for (int i = 0; recd_migrate_tables[i]; i++) {
        const char *t = recd_migrate_tables[i];
        char sql[160], theirs[128], mine[128];
        snprintf(sql, sizeof sql, "SELECT count(*), coalesce(max(sid), '') FROM %s", t);
        PGresult *res = PQexec(dst, sql);
        if (PQresultStatus(res) != PGRES_TUPLES_OK)
            return pg_fail(res, dst, "verify", why, why_n);
        snprintf(theirs, sizeof theirs, "%s %s", PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1));
        PQclear(res);
        sqlite3_stmt *st;
        if (sqlite3_prepare_v2(src, sql, -1, &st, NULL) != SQLITE_OK)
            return src_fail(src, "verify", why, why_n);
        if (sqlite3_step(st) != SQLITE_ROW) {
            sqlite3_finalize(st);
            return src_fail(src, "verify", why, why_n);
        }
        snprintf(mine, sizeof mine, "%lld %s", (long long)sqlite3_column_int64(st, 0),
                 (const char *)sqlite3_column_text(st, 1));
        sqlite3_finalize(st);
        if (strcmp(mine, theirs) != 0) {
            snprintf(why, why_n, "the table %s differs after the copy (source: %s rows, target: %s)", t, mine,
                     theirs);
            return RECD_E_IO;
        }
    }
    return 0;
}
