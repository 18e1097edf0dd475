#ifndef RECD_SERVICE_MIGRATE_INTERNAL_H
#define RECD_SERVICE_MIGRATE_INTERNAL_H

#include "core/sid.h"
#include "service/migrate.h"

#include <libpq-fe.h>
#include <sqlite3.h>

/*
 * Between migrate.c (the run: source lock, targets, journal, media) and migrate_tables.c (the
 * rows). A migration copies tables as tables, below the store interface, which has no way to
 * insert a row as it is (a finished job, a deleted recording's tombstone) and need not have one:
 * the two schemas are the same by construction (store_*_schema.c), and migrate checks that they
 * are before it copies.
 */

/* --- migrate_tables.c: the rows, SQLite to PostgreSQL. ------------------------------------ */

/** The tables recd's schema has, in the order that keeps foreign keys satisfied; NULL-ended. */
extern const char *const recd_migrate_tables[];

/**
 * Checks that every table of the source is one migrate copies and that the target has the same
 * columns for each: 0, or RECD_E_BAD_INPUT with `why` (a schema this recd does not know).
 */
int recd_migrate_tables_check(sqlite3 *src, PGconn *dst, char *why, size_t why_n);

/** 1 when some table of the target holds a row, 0 when all are empty, negative on error. */
int recd_migrate_tables_any(PGconn *dst, char *why, size_t why_n);

/** Copies what is left of every table (resuming from recd_migrate's marks), `batch` rows per
 * transaction; `progress` is called after each batch. 0 or RECD_E_* with `why`. */
int recd_migrate_tables_copy(sqlite3 *src, PGconn *dst, int batch, struct recd_migrate_stats *st,
                             void (*progress)(void *ctx, const char *table, int64_t rows), void *ctx,
                             char *why, size_t why_n);

/** Compares each table's row count and highest sid in source and target: 0 when all agree,
 *  RECD_E_IO with `why` naming the first that differs. */
int recd_migrate_tables_verify(sqlite3 *src, PGconn *dst, char *why, size_t why_n);

/** Runs `sql` on the target, expecting no rows: 0 or RECD_E_IO with `why`. */
int recd_migrate_pg_exec(PGconn *dst, const char *sql, char *why, size_t why_n);

/* --- migrate_journal.c: DATA/migrate.journal's parse (the file's I/O is migrate.c's). ------ */

#define RECD_MIGRATE_MAGIC       "recd-migrate 1"
#define RECD_MIGRATE_TARGETS_MAX 2048

/* The journal's header line: "recd-migrate 1 RUN FINGERPRINT TARGETS". */
struct recd_migrate_journal_head {
    char run[RECD_SID_LEN + 1]; /* "MG…", the run id */
    char fingerprint[65];       /* the source's, 64 lowercase hex digits */
    char targets[RECD_MIGRATE_TARGETS_MAX];
};

/**
 * Parses the header, the first line of p[0..n) (p need not end in a NUL): 0 with `h` filled and
 * `*next` the offset of the line after it, or RECD_E_BAD_INPUT when it is not one recd wrote (no
 * whole first line, another magic, a run id, fingerprint or targets of another shape).
 */
int recd_migrate_journal_head(const char *p, size_t n, struct recd_migrate_journal_head *h, size_t *next);

/**
 * Walks the object lines of p[0..n) (the journal after its header), calling `add` with the key
 * and size of each "KEY SIZE SHA256" line of the shape recd writes (a media key recd makes, a
 * decimal size, a lowercase SHA-256); a line of another shape is skipped (its object is checked
 * again), a last line with no newline is a write a crash cut short. `*good` is the offset after
 * the last whole line: the journal is truncated there before it is appended to. 0, or the first
 * negative value `add` returned.
 */
int recd_migrate_journal_lines(const char *p, size_t n, int (*add)(void *ctx, const char *key, int64_t size),
                               void *ctx, size_t *good);

#endif
