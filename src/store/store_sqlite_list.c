#include "store/store_sqlite_internal.h"

#include "core/error.h"
#include "core/log.h"

#include <sqlite3.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/*
 * Lists and counts in the SQLite store. The SQL of each filter combination comes from
 * store/sql_list.c; here it is prepared on first use, bound, and walked into a page (store/page.c
 * puts a BEFORE page, which SQLite fetches oldest first, newest first like every other page).
 */

unsigned recd_store_sqlite_list_flags(enum recd_sqlite_list_kind kind)
{
    return recd_sql_list_flags((enum recd_sql_list_kind)kind);
}

int recd_store_sqlite_list_sql(enum recd_sqlite_list_kind kind, unsigned combo, char *buf, size_t cap)
{
    return recd_sql_list_text(RECD_SQL_SQLITE, (enum recd_sql_list_kind)kind, combo, buf, cap);
}

/* Binds the filter parameters (?1 to ?6, ?11 to ?17) that combination `combo` uses. */
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
    if (rc == SQLITE_OK && (f & RECD_SQL_LF_TO))
        rc = sqlite3_bind_text(st, 11, q->to, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK && (f & RECD_SQL_LF_FROM))
        rc = sqlite3_bind_text(st, 12, q->from, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK && (f & RECD_SQL_LF_STATUS))
        rc = sqlite3_bind_text(st, 13, q->status, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK && (f & RECD_SQL_LF_START_GE))
        rc = sqlite3_bind_int64(st, 14, q->start_ge_us);
    if (rc == SQLITE_OK && (f & RECD_SQL_LF_START_LT))
        rc = sqlite3_bind_int64(st, 15, q->start_lt_us);
    if (rc == SQLITE_OK && (f & RECD_SQL_LF_END_GE))
        rc = sqlite3_bind_int64(st, 16, q->end_ge_us);
    if (rc == SQLITE_OK && (f & RECD_SQL_LF_END_LT))
        rc = sqlite3_bind_int64(st, 17, q->end_lt_us);
    return rc;
}

/* The statement of a combination, prepared on first use and kept for the life of the handle;
 * bound with the query's values. */
static int list_prepare(struct sqlite_store *s, enum recd_sql_list_kind kind, unsigned combo,
                        const struct recd_list_query *q, const struct recd_sql_bound *b, sqlite3_stmt **out)
{
    unsigned slot = recd_sql_list_slot(kind, combo);
    sqlite3_stmt *st = s->list[kind][slot];
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
        s->list[kind][slot] = st;
    }
    unsigned dir = combo >> RECD_SQL_LIST_DIR_SHIFT;
    rc = bind_filters(st, combo, q);
    if (rc == SQLITE_OK && dir != RECD_ANCHOR_NONE)
        rc = sqlite3_bind_int64(st, 7, b->us);
    if (rc == SQLITE_OK && dir != RECD_ANCHOR_NONE)
        rc = sqlite3_bind_text(st, 8, b->sid, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int(st, 9, q->limit + 1); /* one more: does another page follow? */
    if (rc == SQLITE_OK && dir == RECD_ANCHOR_NONE)
        rc = sqlite3_bind_int64(st, 10, q->offset);
    if (rc != SQLITE_OK) {
        recd_sqlite_done(st);
        return recd_sqlite_fail(s, rc, "list bind");
    }
    *out = st;
    return 0;
}

/* Fills a page: up to limit + 1 rows in the walk's order (the extra one says whether more
 * follow), which recd_page_finish puts in display order. */
static int list_page(struct recd_store *base, enum recd_sql_list_kind kind, const struct recd_list_query *q,
                     struct recd_page *pg)
{
    struct sqlite_store *s = S(base);
    static const struct {
        const struct recd_sql_table *t;
        enum recd_page_kind page;
        const char *op;
    } kinds[RECD_SQL_LIST_KINDS] = {
        [RECD_SQL_LIST_RECORDINGS] = {&recd_sql_recordings, RECD_PAGE_RECORDINGS, "recording_page"},
        [RECD_SQL_LIST_TRANSCRIPTIONS] = {&recd_sql_transcriptions, RECD_PAGE_TRANSCRIPTIONS,
                                          "transcription_page"},
        [RECD_SQL_LIST_CALLS] = {&recd_sql_calls, RECD_PAGE_CALLS, "call_page"},
    };
    const struct recd_sql_table *t = kinds[kind].t;
    int texts = kind == RECD_SQL_LIST_TRANSCRIPTIONS; /* rows with a text column */
    sqlite3_stmt *st = NULL;
    struct recd_sql_bound b;
    unsigned combo;
    int rc = recd_sql_list_combo(kind, q, &combo, &b);
    if (rc < 0)
        return rc;
    rc = recd_page_start(pg, kinds[kind].page, q->limit + 1);
    if (rc < 0)
        return rc;
    rc = list_prepare(s, kind, combo, q, &b, &st);
    if (rc < 0)
        return rc;
    int n = 0;
    /* LIMIT keeps n within the slots; the test guards them all the same. */
    while (n <= q->limit && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        rc = recd_sqlite_read_cols(st, 0, t, recd_page_slot(pg, n));
        if (rc == 0 && texts) {
            const char *p;
            size_t len;
            rc = recd_sqlite_read_text(st, (int)t->ncols, &p, &len);
            if (rc == 0)
                recd_page_set_text(pg, n, p, len);
        }
        if (rc < 0)
            break;
        n++;
    }
    if (rc == SQLITE_DONE || rc == SQLITE_ROW)
        rc = 0;
    else if (rc > 0)
        rc = recd_sqlite_fail(s, rc, kinds[kind].op);
    recd_sqlite_done(st);
    if (rc < 0)
        return rc;
    recd_page_finish(pg, n, q->limit, q->anchor_dir);
    return 0;
}

int recd_sqlite_op_recording_page(struct recd_store *base, const struct recd_list_query *q,
                                  struct recd_page *pg)
{
    return list_page(base, RECD_SQL_LIST_RECORDINGS, q, pg);
}

int recd_sqlite_op_transcription_page(struct recd_store *base, const struct recd_list_query *q,
                                      struct recd_page *pg)
{
    return list_page(base, RECD_SQL_LIST_TRANSCRIPTIONS, q, pg);
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
    unsigned slot = recd_sql_list_slot(kind, combo);
    sqlite3_stmt *st = s->count[kind][slot];
    if (!st) {
        char sql[1024];
        if (recd_sql_count_text(RECD_SQL_SQLITE, kind, combo, sql, sizeof sql) < 0)
            return RECD_E_INTERNAL;
        rc = sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL);
        if (rc != SQLITE_OK)
            return recd_sqlite_fail(s, rc, "count prepare");
        s->count[kind][slot] = st;
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

int recd_sqlite_op_call_page(struct recd_store *base, const struct recd_list_query *q, struct recd_page *pg)
{
    return list_page(base, RECD_SQL_LIST_CALLS, q, pg);
}

int recd_sqlite_op_call_count(struct recd_store *base, const struct recd_list_query *q, int64_t *n)
{
    return list_count(base, RECD_SQL_LIST_CALLS, q, n);
}
