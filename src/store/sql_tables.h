#ifndef RECD_STORE_SQL_TABLES_H
#define RECD_STORE_SQL_TABLES_H

#include "store/store.h"

#include <stddef.h>

/*
 * What every SQL backend of the store shares: how each struct of store.h maps to the columns of
 * its table, and the text of the statements that are the same SQL in SQLite and PostgreSQL,
 * with the one difference between them, the spelling of a numbered parameter, abstracted.
 *
 * One table of columns per resource is the single place a field is named: the INSERT and
 * SELECT column lists, the parameters, and the binding and reading of values are all derived
 * from it. Adding a field to a resource is one entry here plus one migration in each backend's
 * schema.
 */

/** How a backend spells parameter n: SQLite "?n", PostgreSQL "$n". */
enum recd_sql_dialect { RECD_SQL_SQLITE, RECD_SQL_POSTGRES };

/* How a struct field maps to a column. Sids are checked against their prefix on the way in, so
 * the tables only ever hold well-formed ones. */
enum recd_col_kind {
    RECD_COL_TEXT,     /* NUL-terminated UTF-8 in a fixed array; never NULL */
    RECD_COL_SID,      /* a sid with the column's prefix; never NULL */
    RECD_COL_SID_NULL, /* a sid, or "" stored as NULL */
    RECD_COL_I64,      /* int64_t */
    RECD_COL_I64_NULL, /* int64_t, 0 stored as NULL */
    RECD_COL_INT,      /* int */
    RECD_COL_INT_NULL, /* int, 0 stored as NULL */
    RECD_COL_BLOB,     /* a fixed-size byte array, stored whole */
};

struct recd_col {
    const char *name;
    enum recd_col_kind kind;
    size_t off;         /* of the field in its struct */
    size_t size;        /* of the field */
    const char *prefix; /* sids: the two letters every value starts with */
};

/** A table: its name and columns, in the order of the INSERT and SELECT lists. */
struct recd_sql_table {
    const char *name;
    const struct recd_col *cols;
    size_t ncols;
    /* A column that is not a fixed-size field (a transcription's text), always last, or NULL. */
    const char *extra;
};

extern const struct recd_sql_table recd_sql_accounts;
extern const struct recd_sql_table recd_sql_api_keys;
extern const struct recd_sql_table recd_sql_recordings;
extern const struct recd_sql_table recd_sql_transcriptions;
extern const struct recd_sql_table recd_sql_numbers;
extern const struct recd_sql_table recd_sql_calls;
extern const struct recd_sql_table recd_sql_jobs;

/** A fixed buffer that SQL text is appended to; `over` is set, and stays set, once it is full. */
struct recd_sqlbuf {
    char *p;
    size_t len, cap;
    int over;
};

/** Starts `b` on `buf` of `cap` bytes (an empty, NUL-terminated string when cap > 0). */
void recd_sqlbuf_init(struct recd_sqlbuf *b, char *buf, size_t cap);

/** Appends `s`. */
void recd_sqlbuf_put(struct recd_sqlbuf *b, const char *s);

/** Appends parameter `n` (1-based) in dialect `d`'s spelling. */
void recd_sqlbuf_param(struct recd_sqlbuf *b, enum recd_sql_dialect d, int n);

/** Appends "SELECT <every column of t> FROM <t>"; the caller adds the rest. */
void recd_sql_select(struct recd_sqlbuf *b, const struct recd_sql_table *t);

/** Appends "INSERT INTO <t> (<columns>) VALUES (<parameters 1…n>)", the extra column last. */
void recd_sql_insert(struct recd_sqlbuf *b, enum recd_sql_dialect d, const struct recd_sql_table *t);

/**
 * Checks the text or sid value of column `c` in `row` before it is stored, the same way for
 * every backend: a terminated, strictly UTF-8 string, and for sids a well-formed one with the
 * column's prefix (an empty one only where NULL is allowed). Sets *p, *len; *null is 1 when the
 * value is stored as NULL. Returns 0 or RECD_E_BAD_INPUT.
 */
int recd_sql_col_text(const struct recd_col *c, const void *row, const char **p, size_t *len, int *null);

/** Checks a transcription's text before it is stored: at most RECD_TEXT_MAX bytes, strictly
 * UTF-8, no NUL (it could not be served as text/plain, nor stored by PostgreSQL). 0 or
 * RECD_E_BAD_INPUT; a NULL text (text_null) is always fine. */
int recd_sql_text_check(const struct recd_transcription *t);

/** Checks what the columns cannot say of a number before it is stored: a phone number and a voice
 * URL, and methods GET or POST. 0 or RECD_E_BAD_INPUT. */
int recd_sql_number_check(const struct recd_number *n);

/** Checks a call's status (one of Twilio's) and duration before it is stored. 0 or
 * RECD_E_BAD_INPUT. */
int recd_sql_call_check(const struct recd_call *c);

#endif
