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
extern const struct recd_sql_table recd_sql_transcribe_requests;

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

/**
 * Appends `sql`, written with SQLite's parameters ("?n"), in dialect `d`'s spelling: the
 * statements below are written once for every backend. `sql` must hold no other '?'.
 */
void recd_sqlbuf_put_sql(struct recd_sqlbuf *b, enum recd_sql_dialect d, const char *sql);

/* Statements that are the same SQL in every backend (parameters as recd_sqlbuf_put_sql takes
 * them). The live calls are spelled as the partial index calls_live spells them: SQLite uses a
 * partial index only for a query that repeats its condition. */
#define RECD_SQL_CALL_LIVE              "status IN ('queued', 'ringing', 'in-progress')"
#define RECD_SQL_ACCOUNT_SET_MEDIA_AUTH "UPDATE accounts SET media_auth = ?2, updated_us = ?3 WHERE sid = ?1"
#define RECD_SQL_RECORDING_FINISH                                                                            \
    "UPDATE recordings SET status = ?2, duration_ms = ?3, media_size = ?4,"                                  \
    " media_sha256 = ?5, channels = ?6, sample_rate = ?7, error_code = ?8,"                                  \
    " start_us = ?9, updated_us = ?10"                                                                       \
    " WHERE sid = ?1 AND status = 'in-progress' AND deleted_us = 0"
/* The call engine's update per state change. Its live test is spelled with ORs, not as
 * RECD_SQL_CALL_LIVE's IN list: SQLite 3.40 evaluates an IN list of three or more constants through
 * an ephemeral table built on every execution (a page cache allocated, freed and trimmed back to
 * the kernel each time), which made this UPDATE cost about 500 us of CPU instead of 35 (measured,
 * docs/voice.md, "Call setup CPU"); the row is found by its primary key either way. */
#define RECD_SQL_CALL_UPDATE                                                                                 \
    "UPDATE calls SET status = ?2, caller_name = ?3, answered_by = ?4, start_us = ?5,"                       \
    " end_us = ?6, duration_ms = ?7, error_code = ?8, updated_us = ?9"                                       \
    " WHERE sid = ?1 AND (status = 'queued' OR status = 'ringing' OR status = 'in-progress')"
/* Retention and bulk delete (store.h, recd_expiry_query): a recording goes unless it is deleted
 * already or still being made. Without ORDER BY, so that a batch reads only the index entries it
 * takes (recordings_account) and never sorts the whole backlog; each batch deletes what it read,
 * so the next finds the rest. The retention pass walks the (few) accounts that keep a limit. */
#define RECD_SQL_DELETABLE "r.deleted_us = 0 AND r.status <> 'in-progress'"
#define RECD_SQL_RETENTION_WHERE                                                                             \
    " FROM accounts a JOIN recordings r ON r.account_sid = a.sid WHERE a.retention_days > 0"                 \
    " AND r.created_us < ?1 - a.retention_days * 86400000000 AND " RECD_SQL_DELETABLE
#define RECD_SQL_RETENTION_DUE       "SELECT r.sid" RECD_SQL_RETENTION_WHERE " LIMIT ?2"
#define RECD_SQL_RETENTION_DUE_COUNT "SELECT count(*)" RECD_SQL_RETENTION_WHERE
#define RECD_SQL_DELETE_MATCH_WHERE                                                                          \
    " FROM recordings r WHERE r.account_sid = ?1 AND (?2 = '' OR r.call_sid = ?2) AND r.created_us < ?3"     \
    " AND " RECD_SQL_DELETABLE
#define RECD_SQL_DELETE_MATCH       "SELECT r.sid" RECD_SQL_DELETE_MATCH_WHERE " LIMIT ?4"
#define RECD_SQL_DELETE_MATCH_COUNT "SELECT count(*)" RECD_SQL_DELETE_MATCH_WHERE
#define RECD_SQL_ACCOUNT_SET_RETENTION                                                                       \
    "UPDATE accounts SET retention_days = ?2, updated_us = ?3 WHERE sid = ?1"
#define RECD_SQL_TRANSCRIPTION_DELETE "DELETE FROM transcriptions WHERE sid = ?1"
#define RECD_SQL_NUMBER_DELETE        "DELETE FROM numbers WHERE sid = ?1"

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

/** Checks the values recording_finish writes (store.h): a final status, and for a completed
 * recording its media's size and SHA-256 in lowercase hex. 0 or RECD_E_BAD_INPUT. */
int recd_sql_finish_check(const struct recd_recording *r);

/** Checks a call's status (one of Twilio's) and duration before it is stored. 0 or
 * RECD_E_BAD_INPUT. */
int recd_sql_call_check(const struct recd_call *c);

#endif
