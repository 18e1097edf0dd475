#include "store/store_pg_internal.h"

#include "core/error.h"
#include "core/log.h"

#include <libpq-fe.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/*
 * Lists and counts in the PostgreSQL store. The SQL of each filter combination comes from
 * store/sql_list.c in PostgreSQL's spelling; here it is prepared on a connection's first use
 * (named by kind and slot), bound, and read into a page (store/page.c puts a BEFORE page, which
 * comes oldest first, newest first like every other page).
 */

/* Binds every parameter a list or count statement declares (1…17, store/sql_list.h): those the
 * combination uses get the query's values, the others stay null and are never read. */
static void bind_list(struct pg_params *p, unsigned combo, const struct recd_list_query *q,
                      const struct recd_sql_bound *b, int count)
{
    unsigned f = combo & ((1u << RECD_SQL_LIST_DIR_SHIFT) - 1);
    unsigned dir = combo >> RECD_SQL_LIST_DIR_SHIFT;
    recd_pg_params_init(p);
    recd_pg_param_text(p, 1, q->account_sid, strlen(q->account_sid));
    if (f & RECD_SQL_LF_CALL)
        recd_pg_param_text(p, 2, q->call_sid, strlen(q->call_sid));
    if (f & RECD_SQL_LF_CONFERENCE)
        recd_pg_param_text(p, 3, q->conference_sid, strlen(q->conference_sid));
    if (f & RECD_SQL_LF_RECORDING)
        recd_pg_param_text(p, 4, q->recording_sid, strlen(q->recording_sid));
    if (f & RECD_SQL_LF_GE)
        recd_pg_param_i64(p, 5, q->created_ge_us);
    if (f & RECD_SQL_LF_LT)
        recd_pg_param_i64(p, 6, q->created_lt_us);
    if (!count && dir != RECD_ANCHOR_NONE) {
        recd_pg_param_i64(p, 7, b->us);
        recd_pg_param_text(p, 8, b->sid, strlen(b->sid));
    }
    if (!count)
        recd_pg_param_i64(p, 9, q->limit + 1); /* one more: does another page follow? */
    if (!count && dir == RECD_ANCHOR_NONE)
        recd_pg_param_i64(p, 10, q->offset);
    if (f & RECD_SQL_LF_TO)
        recd_pg_param_text(p, 11, q->to, strlen(q->to));
    if (f & RECD_SQL_LF_FROM)
        recd_pg_param_text(p, 12, q->from, strlen(q->from));
    if (f & RECD_SQL_LF_STATUS)
        recd_pg_param_text(p, 13, q->status, strlen(q->status));
    if (f & RECD_SQL_LF_START_GE)
        recd_pg_param_i64(p, 14, q->start_ge_us);
    if (f & RECD_SQL_LF_START_LT)
        recd_pg_param_i64(p, 15, q->start_lt_us);
    if (f & RECD_SQL_LF_END_GE)
        recd_pg_param_i64(p, 16, q->end_ge_us);
    if (f & RECD_SQL_LF_END_LT)
        recd_pg_param_i64(p, 17, q->end_lt_us);
    p->n = 17;
}

/* Runs the list (or count) statement of (`kind`, `combo`), preparing it on first use. */
static int run_list(struct pg_store *s, enum recd_sql_list_kind kind, unsigned combo, int count,
                    const struct pg_params *p, PGresult **res)
{
    unsigned slot = recd_sql_list_slot(kind, combo);
    unsigned char *ready = count ? &s->count_ready[kind][slot] : &s->list_ready[kind][slot];
    char name[32], sql[1024];
    snprintf(name, sizeof name, "%c%d_%u", count ? 'c' : 'l', (int)kind, slot);
    sql[0] = '\0';
    if (!*ready) {
        int len = count ? recd_sql_count_text(RECD_SQL_POSTGRES, kind, combo, sql, sizeof sql)
                        : recd_sql_list_text(RECD_SQL_POSTGRES, kind, combo, sql, sizeof sql);
        if (len < 0) {
            recd_log_error("store: list: no SQL for combination %u", combo);
            return RECD_E_INTERNAL;
        }
    }
    return recd_pg_exec_named(s, name, sql, ready, p, res);
}

/* Fills a page: up to limit + 1 rows in the walk's order (the extra one says whether more
 * follow), which recd_page_finish puts in display order. */
static int list_page(struct recd_store *base, enum recd_sql_list_kind kind, const struct recd_list_query *q,
                     struct recd_page *pg)
{
    static const struct {
        const struct recd_sql_table *t;
        enum recd_page_kind page;
    } kinds[RECD_SQL_LIST_KINDS] = {
        [RECD_SQL_LIST_RECORDINGS] = {&recd_sql_recordings, RECD_PAGE_RECORDINGS},
        [RECD_SQL_LIST_TRANSCRIPTIONS] = {&recd_sql_transcriptions, RECD_PAGE_TRANSCRIPTIONS},
        [RECD_SQL_LIST_CALLS] = {&recd_sql_calls, RECD_PAGE_CALLS},
    };
    struct pg_store *s = PG(base);
    const struct recd_sql_table *t = kinds[kind].t;
    struct recd_sql_bound b;
    struct pg_params p;
    PGresult *res = NULL;
    unsigned combo;
    int rc = recd_sql_list_combo(kind, q, &combo, &b);
    if (rc < 0)
        return rc;
    rc = recd_page_start(pg, kinds[kind].page, q->limit + 1);
    if (rc < 0)
        return rc;
    bind_list(&p, combo, q, &b, 0);
    rc = run_list(s, kind, combo, 0, &p, &res);
    if (rc < 0)
        return rc;
    int n = PQntuples(res);
    if (n > q->limit + 1) /* LIMIT keeps n within the slots; this guards them all the same */
        n = q->limit + 1;
    for (int i = 0; i < n && rc == 0; i++) {
        rc = recd_pg_read_cols(res, i, 0, t, recd_page_slot(pg, i));
        if (rc == 0 && kind == RECD_SQL_LIST_TRANSCRIPTIONS) {
            const char *text;
            size_t len;
            rc = recd_pg_read_text(res, i, (int)t->ncols, &text, &len);
            if (rc == 0)
                recd_page_set_text(pg, i, text, len);
        }
    }
    PQclear(res);
    if (rc < 0)
        return rc;
    recd_page_finish(pg, n, q->limit, q->anchor_dir);
    return 0;
}

/* Counts what a list query's filters match, for the legacy XML envelope's total. */
static int list_count(struct recd_store *base, enum recd_sql_list_kind kind, const struct recd_list_query *q,
                      int64_t *n)
{
    struct pg_store *s = PG(base);
    struct recd_list_query cq = *q;
    struct recd_sql_bound b;
    struct pg_params p;
    PGresult *res = NULL;
    unsigned combo;
    cq.anchor_dir = RECD_ANCHOR_NONE;
    cq.offset = 0;
    cq.limit = 1;
    int rc = recd_sql_list_combo(kind, &cq, &combo, &b);
    if (rc < 0)
        return rc;
    bind_list(&p, combo, &cq, &b, 1);
    rc = run_list(s, kind, combo, 1, &p, &res);
    if (rc < 0)
        return rc;
    int64_t c = recd_pg_read_count(res, 0, 0);
    PQclear(res);
    if (c < 0) {
        recd_log_error("store: count: no count in its result");
        return RECD_E_IO;
    }
    *n = c;
    return 0;
}

int recd_pg_op_recording_page(struct recd_store *st, const struct recd_list_query *q, struct recd_page *pg)
{
    return list_page(st, RECD_SQL_LIST_RECORDINGS, q, pg);
}

int recd_pg_op_transcription_page(struct recd_store *st, const struct recd_list_query *q,
                                  struct recd_page *pg)
{
    return list_page(st, RECD_SQL_LIST_TRANSCRIPTIONS, q, pg);
}

int recd_pg_op_call_page(struct recd_store *st, const struct recd_list_query *q, struct recd_page *pg)
{
    return list_page(st, RECD_SQL_LIST_CALLS, q, pg);
}

int recd_pg_op_recording_count(struct recd_store *st, const struct recd_list_query *q, int64_t *n)
{
    return list_count(st, RECD_SQL_LIST_RECORDINGS, q, n);
}

int recd_pg_op_transcription_count(struct recd_store *st, const struct recd_list_query *q, int64_t *n)
{
    return list_count(st, RECD_SQL_LIST_TRANSCRIPTIONS, q, n);
}

int recd_pg_op_call_count(struct recd_store *st, const struct recd_list_query *q, int64_t *n)
{
    return list_count(st, RECD_SQL_LIST_CALLS, q, n);
}
