#include "store/sql_list.h"

#include "core/error.h"

#include <string.h>

#define FLAGS_OF(combo) ((combo) & ((1u << RECD_SQL_LIST_DIR_SHIFT) - 1))

unsigned recd_sql_list_flags(enum recd_sql_list_kind kind)
{
    switch (kind) {
    case RECD_SQL_LIST_RECORDINGS:
        return RECD_SQL_LF_CALL | RECD_SQL_LF_CONFERENCE | RECD_SQL_LF_GE | RECD_SQL_LF_LT |
               RECD_SQL_LF_DELETED;
    case RECD_SQL_LIST_TRANSCRIPTIONS: return RECD_SQL_LF_RECORDING | RECD_SQL_LF_GE | RECD_SQL_LF_LT;
    case RECD_SQL_LIST_CALLS:
        return RECD_SQL_LF_TO | RECD_SQL_LF_FROM | RECD_SQL_LF_STATUS | RECD_SQL_LF_START_GE |
               RECD_SQL_LF_START_LT | RECD_SQL_LF_END_GE | RECD_SQL_LF_END_LT;
    default: return 0;
    }
}

unsigned recd_sql_list_slot(enum recd_sql_list_kind kind, unsigned combo)
{
    unsigned mask = recd_sql_list_flags(kind), slot = 0, width = 0;
    for (unsigned bit = 1; bit < (1u << RECD_SQL_LIST_DIR_SHIFT); bit <<= 1) {
        if (!(mask & bit))
            continue;
        if (combo & bit)
            slot |= 1u << width;
        width++;
    }
    return slot | (combo >> RECD_SQL_LIST_DIR_SHIFT) << width;
}

static const struct recd_sql_table *table_of(enum recd_sql_list_kind kind)
{
    return kind == RECD_SQL_LIST_RECORDINGS ? &recd_sql_recordings
           : kind == RECD_SQL_LIST_CALLS    ? &recd_sql_calls
                                            : &recd_sql_transcriptions;
}

/* Appends " <sql> <param n>", as in " AND call_sid = ?2". */
static void put_eq(struct recd_sqlbuf *b, enum recd_sql_dialect d, const char *sql, int n)
{
    recd_sqlbuf_put(b, sql);
    recd_sqlbuf_param(b, d, n);
}

/* The filters of a list query; the list and count statements share them. */
static void put_where(struct recd_sqlbuf *b, enum recd_sql_dialect d, enum recd_sql_list_kind kind,
                      unsigned flags)
{
    put_eq(b, d, " WHERE account_sid = ", 1);
    if (flags & RECD_SQL_LF_CALL)
        put_eq(b, d, " AND call_sid = ", 2);
    if (flags & RECD_SQL_LF_CONFERENCE)
        put_eq(b, d, " AND conference_sid = ", 3);
    if (flags & RECD_SQL_LF_RECORDING)
        put_eq(b, d, " AND recording_sid = ", 4);
    if (flags & RECD_SQL_LF_GE)
        put_eq(b, d, " AND created_us >= ", 5);
    if (flags & RECD_SQL_LF_LT)
        put_eq(b, d, " AND created_us < ", 6);
    if (flags & RECD_SQL_LF_TO)
        put_eq(b, d, " AND to_addr = ", 11);
    if (flags & RECD_SQL_LF_FROM)
        put_eq(b, d, " AND from_addr = ", 12);
    if (flags & RECD_SQL_LF_STATUS)
        put_eq(b, d, " AND status = ", 13);
    if (flags & RECD_SQL_LF_START_GE)
        put_eq(b, d, " AND start_us >= ", 14);
    if (flags & RECD_SQL_LF_START_LT)
        put_eq(b, d, " AND start_us < ", 15);
    if (flags & RECD_SQL_LF_END_GE)
        put_eq(b, d, " AND end_us >= ", 16);
    if (flags & RECD_SQL_LF_END_LT)
        put_eq(b, d, " AND end_us < ", 17);
    if (kind == RECD_SQL_LIST_RECORDINGS && !(flags & RECD_SQL_LF_DELETED))
        recd_sqlbuf_put(b, " AND deleted_us = 0");
}

/* 1 when (`kind`, `combo`) is a combination that exists (see the header). */
static int combo_valid(enum recd_sql_list_kind kind, unsigned combo)
{
    unsigned flags = FLAGS_OF(combo);
    unsigned dir = combo >> RECD_SQL_LIST_DIR_SHIFT;
    return (kind == RECD_SQL_LIST_RECORDINGS || kind == RECD_SQL_LIST_TRANSCRIPTIONS ||
            kind == RECD_SQL_LIST_CALLS) &&
           dir <= RECD_ANCHOR_BEFORE && !(flags & ~recd_sql_list_flags(kind)) &&
           !(dir == RECD_ANCHOR_AFTER && (flags & RECD_SQL_LF_LT)) &&
           !(dir == RECD_ANCHOR_BEFORE && (flags & RECD_SQL_LF_GE));
}

int recd_sql_list_text(enum recd_sql_dialect d, enum recd_sql_list_kind kind, unsigned combo, char *buf,
                       size_t cap)
{
    unsigned flags = FLAGS_OF(combo);
    unsigned dir = combo >> RECD_SQL_LIST_DIR_SHIFT;
    struct recd_sqlbuf b;
    if (!combo_valid(kind, combo))
        return RECD_E_BAD_INPUT;
    recd_sqlbuf_init(&b, buf, cap);
    recd_sql_select(&b, table_of(kind));
    put_where(&b, d, kind, flags);
    /* Keyset bounds by value, so an anchor that was deleted meanwhile still marks its place. */
    if (dir == RECD_ANCHOR_AFTER)
        recd_sqlbuf_put(&b, " AND (created_us, sid) < (");
    else if (dir == RECD_ANCHOR_BEFORE)
        recd_sqlbuf_put(&b, " AND (created_us, sid) > (");
    if (dir != RECD_ANCHOR_NONE) {
        recd_sqlbuf_param(&b, d, 7);
        recd_sqlbuf_put(&b, ", ");
        recd_sqlbuf_param(&b, d, 8);
        recd_sqlbuf_put(&b, ")");
    }
    recd_sqlbuf_put(&b, dir == RECD_ANCHOR_BEFORE ? " ORDER BY created_us ASC, sid ASC LIMIT "
                                                  : " ORDER BY created_us DESC, sid DESC LIMIT ");
    recd_sqlbuf_param(&b, d, 9);
    if (dir == RECD_ANCHOR_NONE)
        put_eq(&b, d, " OFFSET ", 10);
    return b.over ? RECD_E_INTERNAL : (int)b.len;
}

int recd_sql_count_text(enum recd_sql_dialect d, enum recd_sql_list_kind kind, unsigned combo, char *buf,
                        size_t cap)
{
    struct recd_sqlbuf b;
    if (!combo_valid(kind, combo) || (combo >> RECD_SQL_LIST_DIR_SHIFT) != RECD_ANCHOR_NONE)
        return RECD_E_BAD_INPUT;
    recd_sqlbuf_init(&b, buf, cap);
    recd_sqlbuf_put(&b, "SELECT count(*) FROM ");
    recd_sqlbuf_put(&b, table_of(kind)->name);
    put_where(&b, d, kind, combo);
    return b.over ? RECD_E_INTERNAL : (int)b.len;
}

/*
 * A date limit on the same side as the anchor is folded into the bound: (created_us, sid) <
 * (lt, '') is exactly created_us < lt, and (created_us, sid) > (ge, '') is created_us >= ge,
 * since no sid is empty. SQLite seeks an index with at most one bound per side; given both
 * `created_us < ?` and `(created_us, sid) < (?, ?)` it may seek by the date and filter by the
 * anchor row by row, so a deep page would cost as much as the rows before it. Folding leaves
 * one bound per side, always the anchor's, and every page costs the same.
 */
int recd_sql_list_combo(enum recd_sql_list_kind kind, const struct recd_list_query *q, unsigned *combo,
                        struct recd_sql_bound *b)
{
    unsigned f = 0;
    if (!q->account_sid || q->limit < 1 || q->limit > RECD_LIST_LIMIT_MAX || q->offset < 0 ||
        (q->anchor_dir != RECD_ANCHOR_NONE && q->anchor_dir != RECD_ANCHOR_AFTER &&
         q->anchor_dir != RECD_ANCHOR_BEFORE) ||
        (q->anchor_dir != RECD_ANCHOR_NONE &&
         strnlen(q->anchor_sid, sizeof q->anchor_sid) == sizeof q->anchor_sid))
        return RECD_E_BAD_INPUT;
    if (q->call_sid && q->call_sid[0])
        f |= RECD_SQL_LF_CALL;
    if (q->conference_sid && q->conference_sid[0])
        f |= RECD_SQL_LF_CONFERENCE;
    if (q->recording_sid && q->recording_sid[0])
        f |= RECD_SQL_LF_RECORDING;
    if (q->created_ge_us != INT64_MIN)
        f |= RECD_SQL_LF_GE;
    if (q->created_lt_us != INT64_MAX)
        f |= RECD_SQL_LF_LT;
    if (q->include_deleted)
        f |= RECD_SQL_LF_DELETED;
    if (q->to && q->to[0])
        f |= RECD_SQL_LF_TO;
    if (q->from && q->from[0])
        f |= RECD_SQL_LF_FROM;
    if (q->status && q->status[0])
        f |= RECD_SQL_LF_STATUS;
    if (q->start_ge_us != INT64_MIN)
        f |= RECD_SQL_LF_START_GE;
    if (q->start_lt_us != INT64_MAX)
        f |= RECD_SQL_LF_START_LT;
    if (q->end_ge_us != INT64_MIN)
        f |= RECD_SQL_LF_END_GE;
    if (q->end_lt_us != INT64_MAX)
        f |= RECD_SQL_LF_END_LT;
    /* Filters a kind does not have are not part of its query (the header says which it uses). */
    f &= recd_sql_list_flags(kind);
    b->us = q->anchor_us;
    b->sid = q->anchor_sid;
    if (q->anchor_dir == RECD_ANCHOR_AFTER && (f & RECD_SQL_LF_LT)) {
        f &= ~RECD_SQL_LF_LT;
        if (q->created_lt_us <= q->anchor_us)
            *b = (struct recd_sql_bound){q->created_lt_us, ""};
    }
    if (q->anchor_dir == RECD_ANCHOR_BEFORE && (f & RECD_SQL_LF_GE)) {
        f &= ~RECD_SQL_LF_GE;
        if (q->created_ge_us > q->anchor_us)
            *b = (struct recd_sql_bound){q->created_ge_us, ""};
    }
    *combo = f | ((unsigned)q->anchor_dir << RECD_SQL_LIST_DIR_SHIFT);
    return 0;
}
