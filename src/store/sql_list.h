#ifndef RECD_STORE_SQL_LIST_H
#define RECD_STORE_SQL_LIST_H

#include "store/sql_tables.h"
#include "store/store.h"

#include <stddef.h>
#include <stdint.h>

/*
 * The list and count queries of every SQL backend. A list query is identified by its kind and a
 * "combination": which filters are present (the RECD_SQL_LF_* bits) and the paging direction
 * (an enum recd_anchor_dir, shifted left by RECD_SQL_LIST_DIR_SHIFT). A backend prepares one
 * statement per combination, lazily, and binds every value; no SQL text ever contains a value.
 * The text is standard SQL (row-value comparisons, LIMIT/OFFSET) that SQLite and PostgreSQL
 * both run; only the parameter spelling differs.
 */

enum recd_sql_list_kind {
    RECD_SQL_LIST_RECORDINGS = 0,
    RECD_SQL_LIST_TRANSCRIPTIONS,
    RECD_SQL_LIST_CALLS,
    RECD_SQL_LIST_KINDS
};

#define RECD_SQL_LF_CALL        0x01u   /* call_sid = $2 */
#define RECD_SQL_LF_CONFERENCE  0x02u   /* conference_sid = $3 */
#define RECD_SQL_LF_RECORDING   0x04u   /* recording_sid = $4 (transcriptions) */
#define RECD_SQL_LF_GE          0x08u   /* created_us >= $5 */
#define RECD_SQL_LF_LT          0x10u   /* created_us < $6 */
#define RECD_SQL_LF_DELETED     0x20u   /* include soft-deleted recordings */
#define RECD_SQL_LF_TO          0x40u   /* to_addr = $11 (calls) */
#define RECD_SQL_LF_FROM        0x80u   /* from_addr = $12 */
#define RECD_SQL_LF_STATUS      0x100u  /* status = $13 */
#define RECD_SQL_LF_START_GE    0x200u  /* start_us >= $14 */
#define RECD_SQL_LF_START_LT    0x400u  /* start_us < $15 */
#define RECD_SQL_LF_END_GE      0x800u  /* end_us >= $16 */
#define RECD_SQL_LF_END_LT      0x1000u /* end_us < $17 */
#define RECD_SQL_LIST_DIR_SHIFT 13
/** One past the largest combination: flags below the shift, the direction (0…2) above it. */
#define RECD_SQL_LIST_COMBOS (3u << RECD_SQL_LIST_DIR_SHIFT)
/** The most combinations one kind has (calls: 7 filters, 3 directions); see recd_sql_list_slot. */
#define RECD_SQL_LIST_SLOTS (3u << 7)

/** The filter bits that make sense for `kind`; a combination with any other bit is invalid. */
unsigned recd_sql_list_flags(enum recd_sql_list_kind kind);

/**
 * Numbers the combinations of one kind densely, from 0 to below RECD_SQL_LIST_SLOTS: the kind's
 * own flag bits packed together, then the direction. A backend keeps its statements by slot, so
 * its table is sized by what one kind can ask, not by every bit of every kind.
 */
unsigned recd_sql_list_slot(enum recd_sql_list_kind kind, unsigned combo);

/**
 * Writes the SQL of list query (`kind`, `combo`) in dialect `d` into `buf` (NUL-terminated).
 * Parameters are numbered by meaning: 1 account_sid, 2 call_sid, 3 conference_sid,
 * 4 recording_sid, 5 created_ge_us, 6 created_lt_us, 7 anchor_us, 8 anchor_sid, 9 limit (a
 * page and one more), 10 offset, and for calls 11 to, 12 from, 13 status, 14 start_ge_us,
 * 15 start_lt_us, 16 end_ge_us, 17 end_lt_us; only those the combination uses appear. With RECD_ANCHOR_BEFORE
 * the rows come oldest first (store/page.c reverses them). A date limit on the anchor's side (LT with AFTER,
 * GE with BEFORE) is folded into the anchor by recd_sql_list_combo, so those combinations do not exist.
 * Returns the length, or RECD_E_BAD_INPUT if the combination is invalid, RECD_E_INTERNAL if `cap` is too
 * small.
 */
int recd_sql_list_text(enum recd_sql_dialect d, enum recd_sql_list_kind kind, unsigned combo, char *buf,
                       size_t cap);

/** Writes "SELECT count(*) …" with the filters of (`kind`, `combo`); the direction bits must be 0.
 * Returns the length, RECD_E_BAD_INPUT or RECD_E_INTERNAL as recd_sql_list_text. */
int recd_sql_count_text(enum recd_sql_dialect d, enum recd_sql_list_kind kind, unsigned combo, char *buf,
                        size_t cap);

/** A keyset bound: the page holds items strictly older (AFTER) or newer (BEFORE) than it. */
struct recd_sql_bound {
    int64_t us;
    const char *sid; /* borrowed from the query, or "" */
};

/**
 * Checks query `q` of `kind` and works out its combination and keyset bound (parameters 7 and
 * 8). Returns 0, or RECD_E_BAD_INPUT for a query no backend can run (no account, a limit
 * outside 1…RECD_LIST_LIMIT_MAX, a negative offset, an unknown direction, an unterminated anchor).
 */
int recd_sql_list_combo(enum recd_sql_list_kind kind, const struct recd_list_query *q, unsigned *combo,
                        struct recd_sql_bound *b);

#endif
