#ifndef RECD_STORE_STORE_SQLITE_INTERNAL_H
#define RECD_STORE_STORE_SQLITE_INTERNAL_H

#include <stddef.h>

/*
 * Internals of the SQLite store that its tests need: the text of the list queries, so that a
 * test can run EXPLAIN QUERY PLAN on exactly what the store prepares and prove that every
 * filter combination is served by an index, in order, without a temporary B-tree.
 *
 * A list query is identified by its kind and a "combination": which filters are present (the
 * RECD_SQLITE_LF_* bits) and the paging direction (an enum recd_anchor_dir, shifted left by
 * RECD_SQLITE_LIST_DIR_SHIFT). The store prepares one statement per combination, lazily, and
 * binds every value; no SQL text ever contains a value.
 */

enum recd_sqlite_list_kind {
    RECD_SQLITE_LIST_RECORDINGS = 0,
    RECD_SQLITE_LIST_TRANSCRIPTIONS,
    RECD_SQLITE_LIST_KINDS
};

#define RECD_SQLITE_LF_CALL        0x01u /* call_sid = ?2 */
#define RECD_SQLITE_LF_CONFERENCE  0x02u /* conference_sid = ?3 */
#define RECD_SQLITE_LF_RECORDING   0x04u /* recording_sid = ?4 (transcriptions) */
#define RECD_SQLITE_LF_GE          0x08u /* created_us >= ?5 */
#define RECD_SQLITE_LF_LT          0x10u /* created_us < ?6 */
#define RECD_SQLITE_LF_DELETED     0x20u /* include soft-deleted recordings */
#define RECD_SQLITE_LIST_DIR_SHIFT 6
/** One past the largest combination: flags below the shift, the direction (0…2) above it. */
#define RECD_SQLITE_LIST_COMBOS (3u << RECD_SQLITE_LIST_DIR_SHIFT)

/** The filter bits that make sense for `kind`; a combination with any other bit is invalid. */
unsigned recd_store_sqlite_list_flags(enum recd_sqlite_list_kind kind);

/**
 * Writes the SQL of list query (`kind`, `combo`) into `buf` (NUL-terminated). Parameters are
 * numbered by meaning: ?1 account_sid, ?2 call_sid, ?3 conference_sid, ?4 recording_sid,
 * ?5 created_ge_us, ?6 created_lt_us, ?7 anchor_us, ?8 anchor_sid, ?9 limit, ?10 offset; only
 * those the combination uses appear. With RECD_ANCHOR_BEFORE the rows come oldest first (the
 * store reverses them). A date limit on the
 * anchor's side (LT with AFTER, GE with BEFORE) is folded into the anchor by the store, so those
 * combinations do not exist. Returns the length, or -1 if the combination is invalid or `cap`
 * is too small.
 */
int recd_store_sqlite_list_sql(enum recd_sqlite_list_kind kind, unsigned combo, char *buf, size_t cap);

#endif
