#include "store/store.h"
#include "store/store_sqlite_internal.h"

#include "core/error.h"
#include "core/log.h"
#include "core/sid.h"
#include "core/utf8.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * The SQLite backend of the metadata store.
 *
 * One handle is one connection, used by one thread (SQLITE_OPEN_NOMUTEX): the server opens one
 * per worker. WAL lets readers proceed while one writer commits, and the busy timeout makes a
 * second process (`recd import`, `recd fsck`) wait for the write lock instead of failing.
 * Every statement is prepared once and reused; values are always bound, never spliced into SQL.
 */

#define SCHEMA_VERSION  1
#define STR_(x)         #x
#define STR(x)          STR_(x)
#define BUSY_TIMEOUT_MS 10000
/* The largest `limit` of a list query: a page of 1000 and one more to see whether more follow. */
#define LIST_MAX 1001

/* How a struct field maps to a column. Sids are checked against their prefix on the way in, so
 * the tables only ever hold well-formed ones. */
enum col_kind {
    K_TEXT,     /* NUL-terminated UTF-8 in a fixed array; never NULL */
    K_SID,      /* a sid with the column's prefix; never NULL */
    K_SID_NULL, /* a sid, or "" stored as NULL */
    K_I64,      /* int64_t */
    K_I64_NULL, /* int64_t, 0 stored as NULL */
    K_INT,      /* int */
    K_INT_NULL, /* int, 0 stored as NULL */
    K_BLOB,     /* a fixed-size byte array, stored whole */
};

struct col {
    const char *name;
    enum col_kind kind;
    size_t off;
    size_t size;
    const char *prefix;
};

/*
 * Each table's columns are listed once. From a list come the descriptor array (for binding and
 * reading) and, at compile time, the column names and placeholders of the SQL, so the two
 * cannot disagree. F expands the first column, R each of the rest (they differ by a comma).
 */
/* One column a line; the formatter would pack them. */
/* clang-format off */
#define ACCOUNT_COLS(F, R) \
    F(sid, K_SID, "AC") \
    R(parent_sid, K_SID_NULL, "AC") \
    R(friendly_name, K_TEXT, NULL) \
    R(token_salt, K_BLOB, NULL) \
    R(token_hash, K_BLOB, NULL) \
    R(token_sealed, K_BLOB, NULL) \
    R(media_auth, K_INT, NULL) \
    R(created_us, K_I64, NULL) \
    R(updated_us, K_I64, NULL)

#define KEY_COLS(F, R) \
    F(sid, K_SID, "SK") \
    R(account_sid, K_SID, "AC") \
    R(friendly_name, K_TEXT, NULL) \
    R(secret_salt, K_BLOB, NULL) \
    R(secret_hash, K_BLOB, NULL) \
    R(secret_sealed, K_BLOB, NULL) \
    R(created_us, K_I64, NULL)

#define RECORDING_COLS(F, R) \
    F(sid, K_SID, "RE") \
    R(account_sid, K_SID, "AC") \
    R(call_sid, K_SID_NULL, "CA") \
    R(conference_sid, K_SID_NULL, "CF") \
    R(created_us, K_I64, NULL) \
    R(updated_us, K_I64, NULL) \
    R(start_us, K_I64_NULL, NULL) \
    R(deleted_us, K_I64, NULL) \
    R(duration_ms, K_I64, NULL) \
    R(media_size, K_I64, NULL) \
    R(channels, K_INT, NULL) \
    R(sample_rate, K_INT, NULL) \
    R(error_code, K_INT_NULL, NULL) \
    R(status, K_TEXT, NULL) \
    R(source, K_TEXT, NULL) \
    R(media_sha256, K_TEXT, NULL)

/* The text column of a transcription is not a fixed array and is handled apart, always last. */
#define TRANSCRIPTION_COLS(F, R) \
    F(sid, K_SID, "TR") \
    R(account_sid, K_SID, "AC") \
    R(recording_sid, K_SID, "RE") \
    R(created_us, K_I64, NULL) \
    R(updated_us, K_I64, NULL) \
    R(duration_ms, K_I64, NULL) \
    R(status, K_TEXT, NULL) \
    R(type, K_TEXT, NULL)

/* clang-format on */
#define NAME_F(f, k, p)            #f
#define NAME_R(f, k, p)            ", " #f
#define PARAM_F(f, k, p)           "?"
#define PARAM_R(f, k, p)           ", ?"
#define COL(T, f, k, p)            {#f, k, offsetof(T, f), sizeof(((T *)0)->f), p},
#define ACCOUNT_COL(f, k, p)       COL(struct recd_account, f, k, p)
#define KEY_COL(f, k, p)           COL(struct recd_key, f, k, p)
#define RECORDING_COL(f, k, p)     COL(struct recd_recording, f, k, p)
#define TRANSCRIPTION_COL(f, k, p) COL(struct recd_transcription, f, k, p)

static const struct col account_cols[] = {ACCOUNT_COLS(ACCOUNT_COL, ACCOUNT_COL)};
static const struct col key_cols[] = {KEY_COLS(KEY_COL, KEY_COL)};
static const struct col recording_cols[] = {RECORDING_COLS(RECORDING_COL, RECORDING_COL)};
static const struct col transcription_cols[] = {TRANSCRIPTION_COLS(TRANSCRIPTION_COL, TRANSCRIPTION_COL)};

#define NCOLS(a) (sizeof(a) / sizeof((a)[0]))

#define ACCOUNT_NAMES       ACCOUNT_COLS(NAME_F, NAME_R)
#define KEY_NAMES           KEY_COLS(NAME_F, NAME_R)
#define RECORDING_NAMES     RECORDING_COLS(NAME_F, NAME_R)
#define TRANSCRIPTION_NAMES TRANSCRIPTION_COLS(NAME_F, NAME_R) ", text"

/*
 * Schema version 1. STRICT tables so that a column holds only its declared type whatever writes
 * it. Indexes: one per list shape, each ending in (created_us, sid) so that the ORDER BY and the
 * keyset bounds are a walk along the index; transcriptions_recording also serves the deletes by
 * recording and the foreign-key checks when a recording row goes; recordings_deleted (partial,
 * so it costs nothing for live rows) finds what purge removes.
 */
static const char schema_sql[] =
    "CREATE TABLE IF NOT EXISTS accounts ("
    " sid TEXT PRIMARY KEY NOT NULL,"
    " parent_sid TEXT REFERENCES accounts(sid),"
    " friendly_name TEXT NOT NULL,"
    " token_salt BLOB NOT NULL,"
    " token_hash BLOB NOT NULL,"
    " token_sealed BLOB NOT NULL,"
    " media_auth INTEGER NOT NULL,"
    " created_us INTEGER NOT NULL,"
    " updated_us INTEGER NOT NULL"
    ") STRICT;"
    "CREATE TABLE IF NOT EXISTS api_keys ("
    " sid TEXT PRIMARY KEY NOT NULL,"
    " account_sid TEXT NOT NULL REFERENCES accounts(sid),"
    " friendly_name TEXT NOT NULL,"
    " secret_salt BLOB NOT NULL,"
    " secret_hash BLOB NOT NULL,"
    " secret_sealed BLOB NOT NULL,"
    " created_us INTEGER NOT NULL"
    ") STRICT;"
    "CREATE INDEX IF NOT EXISTS api_keys_account ON api_keys(account_sid);"
    "CREATE TABLE IF NOT EXISTS recordings ("
    " sid TEXT PRIMARY KEY NOT NULL,"
    " account_sid TEXT NOT NULL REFERENCES accounts(sid),"
    " call_sid TEXT,"
    " conference_sid TEXT,"
    " created_us INTEGER NOT NULL,"
    " updated_us INTEGER NOT NULL,"
    " start_us INTEGER,"
    " deleted_us INTEGER NOT NULL DEFAULT 0,"
    " duration_ms INTEGER NOT NULL,"
    " media_size INTEGER NOT NULL,"
    " channels INTEGER NOT NULL,"
    " sample_rate INTEGER NOT NULL,"
    " error_code INTEGER,"
    " status TEXT NOT NULL,"
    " source TEXT NOT NULL,"
    " media_sha256 TEXT NOT NULL"
    ") STRICT;"
    "CREATE INDEX IF NOT EXISTS recordings_account ON recordings(account_sid, created_us, sid);"
    "CREATE INDEX IF NOT EXISTS recordings_call ON recordings(account_sid, call_sid, created_us, sid);"
    "CREATE INDEX IF NOT EXISTS recordings_conference"
    " ON recordings(account_sid, conference_sid, created_us, sid);"
    "CREATE INDEX IF NOT EXISTS recordings_deleted ON recordings(deleted_us) WHERE deleted_us <> 0;"
    "CREATE TABLE IF NOT EXISTS transcriptions ("
    " sid TEXT PRIMARY KEY NOT NULL,"
    " account_sid TEXT NOT NULL REFERENCES accounts(sid),"
    " recording_sid TEXT NOT NULL REFERENCES recordings(sid),"
    " created_us INTEGER NOT NULL,"
    " updated_us INTEGER NOT NULL,"
    " duration_ms INTEGER NOT NULL,"
    " status TEXT NOT NULL,"
    " type TEXT NOT NULL,"
    " text TEXT"
    ") STRICT;"
    "CREATE INDEX IF NOT EXISTS transcriptions_account ON transcriptions(account_sid, created_us, sid);"
    /* account_sid second: a query naming both the recording and the account then matches two
     * equality columns here against one in transcriptions_account, so the planner picks this one
     * without statistics. */
    "CREATE INDEX IF NOT EXISTS transcriptions_recording"
    " ON transcriptions(recording_sid, account_sid, created_us, sid);"
    "PRAGMA user_version = " STR(SCHEMA_VERSION) ";";

/* Statements prepared at open. */
#define STATEMENTS(X)                                                                                        \
    X(BEGIN, "BEGIN IMMEDIATE")                                                                              \
    X(BEGIN_READ, "BEGIN")                                                                                   \
    X(COMMIT, "COMMIT")                                                                                      \
    X(ROLLBACK, "ROLLBACK")                                                                                  \
    X(SAVEPOINT, "SAVEPOINT recd_call")                                                                      \
    X(RELEASE, "RELEASE recd_call")                                                                          \
    X(ROLLBACK_TO, "ROLLBACK TO recd_call")                                                                  \
    X(ACCOUNT_INSERT,                                                                                        \
      "INSERT INTO accounts (" ACCOUNT_NAMES ") VALUES (" ACCOUNT_COLS(PARAM_F, PARAM_R) ")")                \
    X(ACCOUNT_GET, "SELECT " ACCOUNT_NAMES " FROM accounts WHERE sid = ?1")                                  \
    X(ACCOUNT_SET_MEDIA_AUTH, "UPDATE accounts SET media_auth = ?2, updated_us = ?3 WHERE sid = ?1")         \
    X(KEY_INSERT, "INSERT INTO api_keys (" KEY_NAMES ") VALUES (" KEY_COLS(PARAM_F, PARAM_R) ")")            \
    X(KEY_GET, "SELECT " KEY_NAMES " FROM api_keys WHERE sid = ?1")                                          \
    X(RECORDING_INSERT,                                                                                      \
      "INSERT INTO recordings (" RECORDING_NAMES ") VALUES (" RECORDING_COLS(PARAM_F, PARAM_R) ")")          \
    X(RECORDING_GET, "SELECT " RECORDING_NAMES " FROM recordings WHERE sid = ?1")                            \
    X(RECORDING_MARK_DELETED, "UPDATE recordings SET status = 'deleted', deleted_us = ?2, updated_us = ?2"   \
                              " WHERE sid = ?1 AND deleted_us = 0")                                          \
    X(RECORDING_DELETE_TRANSCRIPTIONS, "DELETE FROM transcriptions WHERE recording_sid = ?1")                \
    X(RECORDING_SCAN, "SELECT " RECORDING_NAMES " FROM recordings ORDER BY sid")                             \
    X(PURGE_TRANSCRIPTIONS, "DELETE FROM transcriptions WHERE recording_sid IN"                              \
                            " (SELECT sid FROM recordings WHERE deleted_us <> 0 AND deleted_us < ?1)")       \
    X(PURGE_RECORDINGS, "DELETE FROM recordings WHERE deleted_us <> 0 AND deleted_us < ?1")                  \
    X(TRANSCRIPTION_INSERT, "INSERT INTO transcriptions (" TRANSCRIPTION_NAMES                               \
                            ") VALUES (" TRANSCRIPTION_COLS(PARAM_F, PARAM_R) ", ?)")                        \
    X(TRANSCRIPTION_GET, "SELECT " TRANSCRIPTION_NAMES " FROM transcriptions WHERE sid = ?1")                \
    X(TRANSCRIPTION_DELETE, "DELETE FROM transcriptions WHERE sid = ?1")                                     \
    X(DATA_VERSION, "PRAGMA data_version")

enum stmt_id {
#define STMT_ENUM(id, sql) S_##id,
    STATEMENTS(STMT_ENUM)
#undef STMT_ENUM
        S_COUNT
};

static const char *const stmt_sql[S_COUNT] = {
#define STMT_SQL(id, sql) sql,
    STATEMENTS(STMT_SQL)
#undef STMT_SQL
};

static const char *const stmt_name[S_COUNT] = {
#define STMT_NAME(id, sql) #id,
    STATEMENTS(STMT_NAME)
#undef STMT_NAME
};

struct sqlite_store {
    struct recd_store base;
    sqlite3 *db;
    /* 1 between the caller's begin and its commit or rollback. SQLite may end a transaction by
     * itself after some errors (a full disk); sqlite3_get_autocommit tells us, and the caller's
     * later writes then fail rather than silently autocommit. */
    int in_txn;
    /* A list or scan in progress, per kind: its statement and scratch memory are in use, so a
     * callback must not start another of the same kind. */
    int walking[RECD_SQLITE_LIST_KINDS + 1];
    sqlite3_stmt *stmt[S_COUNT];
    sqlite3_stmt *list[RECD_SQLITE_LIST_KINDS][RECD_SQLITE_LIST_COMBOS];
    sqlite3_stmt *count[RECD_SQLITE_LIST_KINDS][RECD_SQLITE_LIST_COMBOS];
    /* Allocated on first use, then kept: a BEFORE page of recordings is fetched oldest first into
     * `rev` and handed out in reverse; a BEFORE page of transcriptions keeps only sids (a row
     * can carry 64 KiB of text) and reads each row again into `tr`, which also carries every
     * transcription handed to a list callback. */
    struct recd_recording *rev;
    char (*rev_sids)[RECD_SID_LEN + 1];
    struct recd_transcription *tr;
};

enum { WALK_SCAN = RECD_SQLITE_LIST_KINDS };

static struct sqlite_store *S(struct recd_store *st)
{
    return (struct sqlite_store *)st;
}

/* Maps an SQLite result to a RECD_E_* code. Backend failures are logged with the step that
 * failed and SQLite's message; the message stays here, since callers render errors for HTTP
 * clients. Outcomes a caller expects (a duplicate, a missing parent) are not logged. */
static int fail_with(struct sqlite_store *s, int rc, const char *step)
{
    int e;
    switch (rc & 0xff) {
    case SQLITE_CONSTRAINT:
        if (rc == SQLITE_CONSTRAINT_PRIMARYKEY || rc == SQLITE_CONSTRAINT_UNIQUE)
            return RECD_E_EXISTS;
        /* The row refers to an account or recording that does not exist. */
        if (rc == SQLITE_CONSTRAINT_FOREIGNKEY)
            return RECD_E_NOT_FOUND;
        e = RECD_E_BAD_INPUT;
        break;
    case SQLITE_FULL: e = RECD_E_NO_SPACE; break;
    case SQLITE_BUSY:
    case SQLITE_LOCKED: e = RECD_E_UNAVAILABLE; break;
    case SQLITE_IOERR: e = sqlite3_system_errno(s->db) == ENOSPC ? RECD_E_NO_SPACE : RECD_E_IO; break;
    default: e = RECD_E_IO; break;
    }
    recd_log_error("store: %s: %s (sqlite %d)", step, sqlite3_errmsg(s->db), rc);
    return e;
}

static void done(sqlite3_stmt *st)
{
    /* reset's return repeats the step's error, which the caller has already handled. */
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
}

/* Runs a statement that returns no rows, then resets it. */
static int run(struct sqlite_store *s, enum stmt_id id)
{
    sqlite3_stmt *st = s->stmt[id];
    int rc = sqlite3_step(st);
    int e = rc == SQLITE_DONE ? 0 : fail_with(s, rc, stmt_name[id]);
    done(st);
    return e;
}

/* Binds the fields of `row` to parameters 1…n. Values the schema would accept but that are not
 * what the struct promises (an unterminated string, a malformed sid) are refused here, so that
 * every backend stores the same things. */
static int bind_cols(struct sqlite_store *s, sqlite3_stmt *st, const struct col *cols, size_t n,
                     const void *row)
{
    int rc = SQLITE_OK;
    for (size_t i = 0; i < n && rc == SQLITE_OK; i++) {
        const struct col *c = &cols[i];
        const char *p = (const char *)row + c->off;
        int idx = (int)i + 1;
        size_t len;
        int64_t v64;
        int v;
        switch (c->kind) {
        case K_TEXT:
        case K_SID:
        case K_SID_NULL:
            len = strnlen(p, c->size);
            if (len == c->size || !recd_utf8_valid(p, len))
                return RECD_E_BAD_INPUT;
            if (c->kind == K_SID_NULL && len == 0) {
                rc = sqlite3_bind_null(st, idx);
                break;
            }
            if (c->kind != K_TEXT && !recd_sid_valid(p, len, c->prefix, 1))
                return RECD_E_BAD_INPUT;
            rc = sqlite3_bind_text(st, idx, p, (int)len, SQLITE_STATIC);
            break;
        case K_I64:
        case K_I64_NULL:
            memcpy(&v64, p, sizeof v64);
            rc = c->kind == K_I64_NULL && v64 == 0 ? sqlite3_bind_null(st, idx)
                                                   : sqlite3_bind_int64(st, idx, v64);
            break;
        case K_INT:
        case K_INT_NULL:
            memcpy(&v, p, sizeof v);
            rc = c->kind == K_INT_NULL && v == 0 ? sqlite3_bind_null(st, idx) : sqlite3_bind_int(st, idx, v);
            break;
        case K_BLOB: rc = sqlite3_bind_blob(st, idx, p, (int)c->size, SQLITE_STATIC); break;
        }
    }
    return rc == SQLITE_OK ? 0 : fail_with(s, rc, "bind");
}

/* Reads columns first…first+n-1 of the current row into `row`. A value that cannot have been
 * written through bind_cols means the file was damaged or edited: RECD_E_IO. */
static int read_cols(sqlite3_stmt *st, int first, const struct col *cols, size_t n, void *row)
{
    for (size_t i = 0; i < n; i++) {
        const struct col *c = &cols[i];
        char *p = (char *)row + c->off;
        int idx = first + (int)i;
        int null = sqlite3_column_type(st, idx) == SQLITE_NULL;
        int64_t v64;
        int v;
        switch (c->kind) {
        case K_TEXT:
        case K_SID:
        case K_SID_NULL: {
            const unsigned char *t = sqlite3_column_text(st, idx);
            size_t len = (size_t)sqlite3_column_bytes(st, idx);
            if (null) {
                p[0] = '\0';
                break;
            }
            if (!t || len >= c->size)
                goto bad;
            memcpy(p, t, len);
            p[len] = '\0';
            break;
        }
        case K_I64:
        case K_I64_NULL:
            v64 = sqlite3_column_int64(st, idx);
            memcpy(p, &v64, sizeof v64);
            break;
        case K_INT:
        case K_INT_NULL:
            v64 = sqlite3_column_int64(st, idx);
            if (v64 < INT32_MIN || v64 > INT32_MAX)
                goto bad;
            v = (int)v64;
            memcpy(p, &v, sizeof v);
            break;
        case K_BLOB: {
            const void *b = sqlite3_column_blob(st, idx);
            if (null || !b || (size_t)sqlite3_column_bytes(st, idx) != c->size)
                goto bad;
            memcpy(p, b, c->size);
            break;
        }
        }
        continue;
    bad:
        recd_log_error("store: column %s holds a value recd cannot have written", c->name);
        return RECD_E_IO;
    }
    return 0;
}

/* Reads the text column of a transcription. With `copy` it goes to text_buf (the row outlives
 * the statement); else `text` points at SQLite's memory, valid until the statement moves on. */
static int read_text(sqlite3_stmt *st, int idx, struct recd_transcription *t, int copy)
{
    if (sqlite3_column_type(st, idx) == SQLITE_NULL) {
        t->text_null = 1;
        t->text_len = 0;
        t->text_buf[0] = '\0';
        t->text = copy ? t->text_buf : "";
        return 0;
    }
    const char *p = (const char *)sqlite3_column_text(st, idx);
    size_t len = (size_t)sqlite3_column_bytes(st, idx);
    if (len > RECD_TEXT_MAX || (!p && len)) {
        recd_log_error("store: a transcription text is unreadable or longer than recd writes");
        return RECD_E_IO;
    }
    t->text_null = 0;
    t->text_len = len;
    if (!p)
        p = "";
    if (copy) {
        memcpy(t->text_buf, p, len);
        t->text_buf[len] = '\0';
        t->text = t->text_buf;
    } else {
        t->text = p;
    }
    return 0;
}

/* The caller's transaction, if it opened one, must still be open. */
static int txn_alive(struct sqlite_store *s)
{
    if (s->in_txn && sqlite3_get_autocommit(s->db)) {
        recd_log_error("store: the transaction was rolled back by an earlier failure");
        return RECD_E_IO;
    }
    return 0;
}

/*
 * A call that runs several statements makes them one unit: its own transaction when the caller
 * has none, else a savepoint inside the caller's, so that a failure undoes this call's part and
 * leaves the caller's earlier work for the caller to commit or roll back.
 */
static int call_begin(struct sqlite_store *s)
{
    if (s->in_txn) {
        int rc = txn_alive(s);
        return rc < 0 ? rc : run(s, S_SAVEPOINT);
    }
    return run(s, S_BEGIN);
}

static int call_end(struct sqlite_store *s, int rc)
{
    if (rc == 0) {
        rc = run(s, s->in_txn ? S_RELEASE : S_COMMIT);
        if (rc == 0)
            return 0;
    }
    if (sqlite3_get_autocommit(s->db))
        return rc;
    if (s->in_txn) {
        run(s, S_ROLLBACK_TO);
        run(s, S_RELEASE);
    } else {
        run(s, S_ROLLBACK);
    }
    return rc;
}

static int changes(struct sqlite_store *s)
{
    return sqlite3_changes64(s->db) > 0;
}

static void op_close(struct recd_store *st)
{
    struct sqlite_store *s = S(st);
    if (!s)
        return;
    if (s->in_txn && !sqlite3_get_autocommit(s->db))
        run(s, S_ROLLBACK);
    for (int i = 0; i < S_COUNT; i++)
        sqlite3_finalize(s->stmt[i]);
    for (int k = 0; k < RECD_SQLITE_LIST_KINDS; k++)
        for (unsigned c = 0; c < RECD_SQLITE_LIST_COMBOS; c++) {
            sqlite3_finalize(s->list[k][c]);
            sqlite3_finalize(s->count[k][c]);
        }
    if (s->db && sqlite3_close(s->db) != SQLITE_OK)
        recd_log_error("store: close: %s", sqlite3_errmsg(s->db));
    free(s->rev);
    free(s->rev_sids);
    free(s->tr);
    free(s);
}

static int op_begin(struct recd_store *st)
{
    struct sqlite_store *s = S(st);
    if (s->in_txn) {
        recd_log_error("store: begin: a transaction is already open");
        return RECD_E_INTERNAL;
    }
    int rc = run(s, S_BEGIN);
    if (rc == 0)
        s->in_txn = 1;
    return rc;
}

static int op_commit(struct recd_store *st)
{
    struct sqlite_store *s = S(st);
    if (!s->in_txn) {
        recd_log_error("store: commit: no transaction is open");
        return RECD_E_INTERNAL;
    }
    int rc = txn_alive(s);
    if (rc == 0)
        rc = run(s, S_COMMIT);
    /* A commit that failed is undone here, so the caller's rollback has nothing left to do. */
    if (rc < 0 && !sqlite3_get_autocommit(s->db))
        run(s, S_ROLLBACK);
    s->in_txn = 0;
    return rc;
}

static int op_rollback(struct recd_store *st)
{
    struct sqlite_store *s = S(st);
    /* Harmless without a transaction, so that cleanup paths may call it unconditionally. */
    int was = s->in_txn;
    s->in_txn = 0;
    if (!was || sqlite3_get_autocommit(s->db))
        return 0;
    return run(s, S_ROLLBACK);
}

/* One-statement insert of a struct. */
static int insert_row(struct sqlite_store *s, enum stmt_id id, const struct col *cols, size_t n,
                      const void *row)
{
    int rc = txn_alive(s);
    if (rc < 0)
        return rc;
    rc = bind_cols(s, s->stmt[id], cols, n, row);
    if (rc < 0) {
        done(s->stmt[id]);
        return rc;
    }
    return run(s, id);
}

/* Looks a row up by sid and reads it into `out`; leaves the statement on the row (the caller
 * reads any extra columns, then calls done()). Returns 1 on a row. */
static int get_row(struct sqlite_store *s, enum stmt_id id, const char *sid, const struct col *cols, size_t n,
                   void *out)
{
    sqlite3_stmt *st = s->stmt[id];
    if (!sid)
        return RECD_E_BAD_INPUT;
    int rc = sqlite3_bind_text(st, 1, sid, -1, SQLITE_STATIC);
    if (rc != SQLITE_OK)
        return fail_with(s, rc, stmt_name[id]);
    rc = sqlite3_step(st);
    if (rc == SQLITE_DONE)
        return RECD_E_NOT_FOUND;
    if (rc != SQLITE_ROW)
        return fail_with(s, rc, stmt_name[id]);
    rc = read_cols(st, 0, cols, n, out);
    return rc < 0 ? rc : 1;
}

static int op_account_insert(struct recd_store *st, const struct recd_account *a)
{
    return insert_row(S(st), S_ACCOUNT_INSERT, account_cols, NCOLS(account_cols), a);
}

static int op_account_get(struct recd_store *st, const char *sid, struct recd_account *out)
{
    struct sqlite_store *s = S(st);
    int rc = get_row(s, S_ACCOUNT_GET, sid, account_cols, NCOLS(account_cols), out);
    done(s->stmt[S_ACCOUNT_GET]);
    return rc < 0 ? rc : 0;
}

static int op_account_set_media_auth(struct recd_store *st, const char *sid, int on, int64_t now_us)
{
    struct sqlite_store *s = S(st);
    sqlite3_stmt *q = s->stmt[S_ACCOUNT_SET_MEDIA_AUTH];
    int rc = txn_alive(s);
    if (rc < 0)
        return rc;
    if (!sid)
        return RECD_E_BAD_INPUT;
    if (sqlite3_bind_text(q, 1, sid, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_int(q, 2, on != 0) != SQLITE_OK || sqlite3_bind_int64(q, 3, now_us) != SQLITE_OK) {
        rc = fail_with(s, sqlite3_extended_errcode(s->db), "bind");
        done(q);
        return rc;
    }
    rc = run(s, S_ACCOUNT_SET_MEDIA_AUTH);
    if (rc == 0 && !changes(s))
        rc = RECD_E_NOT_FOUND;
    return rc;
}

static int op_key_insert(struct recd_store *st, const struct recd_key *k)
{
    return insert_row(S(st), S_KEY_INSERT, key_cols, NCOLS(key_cols), k);
}

static int op_key_get(struct recd_store *st, const char *sid, struct recd_key *out)
{
    struct sqlite_store *s = S(st);
    int rc = get_row(s, S_KEY_GET, sid, key_cols, NCOLS(key_cols), out);
    done(s->stmt[S_KEY_GET]);
    return rc < 0 ? rc : 0;
}

static int op_recording_insert(struct recd_store *st, const struct recd_recording *r)
{
    return insert_row(S(st), S_RECORDING_INSERT, recording_cols, NCOLS(recording_cols), r);
}

static int op_recording_get(struct recd_store *st, const char *sid, struct recd_recording *out)
{
    struct sqlite_store *s = S(st);
    int rc = get_row(s, S_RECORDING_GET, sid, recording_cols, NCOLS(recording_cols), out);
    done(s->stmt[S_RECORDING_GET]);
    return rc < 0 ? rc : 0;
}

static int bind_sid_run(struct sqlite_store *s, enum stmt_id id, const char *sid)
{
    int rc = sqlite3_bind_text(s->stmt[id], 1, sid, -1, SQLITE_STATIC);
    if (rc != SQLITE_OK) {
        done(s->stmt[id]);
        return fail_with(s, rc, stmt_name[id]);
    }
    return run(s, id);
}

static int op_recording_mark_deleted(struct recd_store *st, const char *sid, int64_t now_us)
{
    struct sqlite_store *s = S(st);
    sqlite3_stmt *q = s->stmt[S_RECORDING_MARK_DELETED];
    /* deleted_us = 0 means "not deleted", so the deletion needs a real instant. */
    if (!sid || now_us <= 0)
        return RECD_E_BAD_INPUT;
    int rc = call_begin(s);
    if (rc < 0)
        return rc;
    if (sqlite3_bind_text(q, 1, sid, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_int64(q, 2, now_us) != SQLITE_OK) {
        rc = fail_with(s, sqlite3_extended_errcode(s->db), "bind");
        done(q);
        goto fail;
    }
    rc = run(s, S_RECORDING_MARK_DELETED);
    if (rc < 0)
        goto fail;
    if (!changes(s)) {
        rc = RECD_E_NOT_FOUND;
        goto fail;
    }
    rc = bind_sid_run(s, S_RECORDING_DELETE_TRANSCRIPTIONS, sid);
fail:
    return call_end(s, rc);
}

static int op_purge_deleted(struct recd_store *st, int64_t before_us, int64_t *n)
{
    struct sqlite_store *s = S(st);
    int64_t purged = 0;
    *n = 0;
    int rc = call_begin(s);
    if (rc < 0)
        return rc;
    /* Transcriptions first: they refer to the recordings. */
    static const enum stmt_id steps[] = {S_PURGE_TRANSCRIPTIONS, S_PURGE_RECORDINGS};
    for (size_t i = 0; i < 2; i++) {
        rc = sqlite3_bind_int64(s->stmt[steps[i]], 1, before_us);
        if (rc != SQLITE_OK) {
            rc = fail_with(s, rc, stmt_name[steps[i]]);
            done(s->stmt[steps[i]]);
            goto fail;
        }
        rc = run(s, steps[i]);
        if (rc < 0)
            goto fail;
    }
    purged = sqlite3_changes64(s->db);
fail:
    rc = call_end(s, rc);
    if (rc == 0)
        *n = purged;
    return rc;
}

static int op_transcription_insert(struct recd_store *st, const struct recd_transcription *t)
{
    struct sqlite_store *s = S(st);
    sqlite3_stmt *q = s->stmt[S_TRANSCRIPTION_INSERT];
    int idx = (int)NCOLS(transcription_cols) + 1;
    int rc = txn_alive(s);
    if (rc < 0)
        return rc;
    if (!t->text_null) {
        /* Text with a NUL or invalid UTF-8 could not be served as text/plain; charset=utf-8, nor
         * stored by PostgreSQL: refused here, for every backend alike. */
        if (t->text_len > RECD_TEXT_MAX || (!t->text && t->text_len) ||
            (t->text_len && memchr(t->text, '\0', t->text_len)) || !recd_utf8_valid(t->text, t->text_len))
            return RECD_E_BAD_INPUT;
    }
    rc = bind_cols(s, q, transcription_cols, NCOLS(transcription_cols), t);
    if (rc == 0) {
        int brc = t->text_null
                      ? sqlite3_bind_null(q, idx)
                      : sqlite3_bind_text(q, idx, t->text ? t->text : "", (int)t->text_len, SQLITE_STATIC);
        if (brc != SQLITE_OK)
            rc = fail_with(s, brc, "bind");
    }
    if (rc < 0) {
        done(q);
        return rc;
    }
    return run(s, S_TRANSCRIPTION_INSERT);
}

static int op_transcription_get(struct recd_store *st, const char *sid, struct recd_transcription *out)
{
    struct sqlite_store *s = S(st);
    sqlite3_stmt *q = s->stmt[S_TRANSCRIPTION_GET];
    int rc = get_row(s, S_TRANSCRIPTION_GET, sid, transcription_cols, NCOLS(transcription_cols), out);
    if (rc > 0)
        rc = read_text(q, (int)NCOLS(transcription_cols), out, 1);
    done(q);
    return rc < 0 ? rc : 0;
}

static int op_transcription_delete(struct recd_store *st, const char *sid)
{
    struct sqlite_store *s = S(st);
    int rc = txn_alive(s);
    if (rc < 0)
        return rc;
    if (!sid)
        return RECD_E_BAD_INPUT;
    rc = bind_sid_run(s, S_TRANSCRIPTION_DELETE, sid);
    if (rc == 0 && !changes(s))
        rc = RECD_E_NOT_FOUND;
    return rc;
}

/* Lists. */

unsigned recd_store_sqlite_list_flags(enum recd_sqlite_list_kind kind)
{
    switch (kind) {
    case RECD_SQLITE_LIST_RECORDINGS:
        return RECD_SQLITE_LF_CALL | RECD_SQLITE_LF_CONFERENCE | RECD_SQLITE_LF_GE | RECD_SQLITE_LF_LT |
               RECD_SQLITE_LF_DELETED;
    case RECD_SQLITE_LIST_TRANSCRIPTIONS:
        return RECD_SQLITE_LF_RECORDING | RECD_SQLITE_LF_GE | RECD_SQLITE_LF_LT;
    default: return 0;
    }
}

struct sqlbuf {
    char *p;
    size_t len, cap;
    int over;
};

static void put(struct sqlbuf *b, const char *s)
{
    size_t n = strlen(s);
    if (b->over || b->len + n >= b->cap) {
        b->over = 1;
        return;
    }
    memcpy(b->p + b->len, s, n + 1);
    b->len += n;
}

/* The filters of a list query; the list and count statements share them. */
static void put_where(struct sqlbuf *b, int rec, unsigned flags)
{
    put(b, " WHERE account_sid = ?1");
    if (flags & RECD_SQLITE_LF_CALL)
        put(b, " AND call_sid = ?2");
    if (flags & RECD_SQLITE_LF_CONFERENCE)
        put(b, " AND conference_sid = ?3");
    if (flags & RECD_SQLITE_LF_RECORDING)
        put(b, " AND recording_sid = ?4");
    if (flags & RECD_SQLITE_LF_GE)
        put(b, " AND created_us >= ?5");
    if (flags & RECD_SQLITE_LF_LT)
        put(b, " AND created_us < ?6");
    if (rec && !(flags & RECD_SQLITE_LF_DELETED))
        put(b, " AND deleted_us = 0");
}

int recd_store_sqlite_list_sql(enum recd_sqlite_list_kind kind, unsigned combo, char *buf, size_t cap)
{
    unsigned flags = combo & ((1u << RECD_SQLITE_LIST_DIR_SHIFT) - 1);
    unsigned dir = combo >> RECD_SQLITE_LIST_DIR_SHIFT;
    struct sqlbuf b = {buf, 0, cap, cap == 0};
    int rec = kind == RECD_SQLITE_LIST_RECORDINGS;
    if ((kind != RECD_SQLITE_LIST_RECORDINGS && kind != RECD_SQLITE_LIST_TRANSCRIPTIONS) ||
        dir > RECD_ANCHOR_BEFORE || (flags & ~recd_store_sqlite_list_flags(kind)) ||
        (dir == RECD_ANCHOR_AFTER && (flags & RECD_SQLITE_LF_LT)) ||
        (dir == RECD_ANCHOR_BEFORE && (flags & RECD_SQLITE_LF_GE)))
        return -1;
    if (rec)
        put(&b, "SELECT " RECORDING_NAMES " FROM recordings");
    else if (dir == RECD_ANCHOR_BEFORE)
        put(&b, "SELECT sid FROM transcriptions");
    else
        put(&b, "SELECT " TRANSCRIPTION_NAMES " FROM transcriptions");
    put_where(&b, rec, flags);
    /* Keyset bounds by value, so an anchor that was deleted meanwhile still marks its place. */
    if (dir == RECD_ANCHOR_AFTER)
        put(&b, " AND (created_us, sid) < (?7, ?8) ORDER BY created_us DESC, sid DESC LIMIT ?9");
    else if (dir == RECD_ANCHOR_BEFORE)
        put(&b, " AND (created_us, sid) > (?7, ?8) ORDER BY created_us ASC, sid ASC LIMIT ?9");
    else
        put(&b, " ORDER BY created_us DESC, sid DESC LIMIT ?9 OFFSET ?10");
    return b.over ? -1 : (int)b.len;
}

/* A keyset bound: the page holds items strictly older (AFTER) or newer (BEFORE) than it. */
struct bound {
    int64_t us;
    const char *sid;
};

/*
 * Checks a query and works out its combination and keyset bound.
 *
 * A date limit on the same side as the anchor is folded into the bound: (created_us, sid) <
 * (lt, '') is exactly created_us < lt, and (created_us, sid) > (ge, '') is created_us >= ge,
 * since no sid is empty. SQLite seeks an index with at most one bound per side; given both
 * `created_us < ?` and `(created_us, sid) < (?, ?)` it may seek by the date and filter by the
 * anchor row by row, so a deep page would cost as much as the rows before it. Folding leaves
 * one bound per side, always the anchor's, and every page costs the same.
 */
static int list_combo(enum recd_sqlite_list_kind kind, const struct recd_list_query *q, unsigned *combo,
                      struct bound *b)
{
    unsigned f = 0;
    if (!q->account_sid || q->limit < 1 || q->limit > LIST_MAX || q->offset < 0 ||
        (q->anchor_dir != RECD_ANCHOR_NONE && q->anchor_dir != RECD_ANCHOR_AFTER &&
         q->anchor_dir != RECD_ANCHOR_BEFORE) ||
        (q->anchor_dir != RECD_ANCHOR_NONE &&
         strnlen(q->anchor_sid, sizeof q->anchor_sid) == sizeof q->anchor_sid))
        return RECD_E_BAD_INPUT;
    if (q->call_sid && q->call_sid[0])
        f |= RECD_SQLITE_LF_CALL;
    if (q->conference_sid && q->conference_sid[0])
        f |= RECD_SQLITE_LF_CONFERENCE;
    if (q->recording_sid && q->recording_sid[0])
        f |= RECD_SQLITE_LF_RECORDING;
    if (q->created_ge_us != INT64_MIN)
        f |= RECD_SQLITE_LF_GE;
    if (q->created_lt_us != INT64_MAX)
        f |= RECD_SQLITE_LF_LT;
    if (q->include_deleted)
        f |= RECD_SQLITE_LF_DELETED;
    b->us = q->anchor_us;
    b->sid = q->anchor_sid;
    if (q->anchor_dir == RECD_ANCHOR_AFTER && (f & RECD_SQLITE_LF_LT)) {
        f &= ~RECD_SQLITE_LF_LT;
        if (q->created_lt_us <= q->anchor_us)
            *b = (struct bound){q->created_lt_us, ""};
    }
    if (q->anchor_dir == RECD_ANCHOR_BEFORE && (f & RECD_SQLITE_LF_GE)) {
        f &= ~RECD_SQLITE_LF_GE;
        if (q->created_ge_us > q->anchor_us)
            *b = (struct bound){q->created_ge_us, ""};
    }
    /* Filters a kind does not have are not part of its query (the header says which it uses). */
    *combo =
        (f & recd_store_sqlite_list_flags(kind)) | ((unsigned)q->anchor_dir << RECD_SQLITE_LIST_DIR_SHIFT);
    return 0;
}

/* Binds the filter parameters (?1 to ?6) that combination `combo` uses. */
static int bind_filters(sqlite3_stmt *st, unsigned combo, const struct recd_list_query *q)
{
    unsigned f = combo & ((1u << RECD_SQLITE_LIST_DIR_SHIFT) - 1);
    int rc = sqlite3_bind_text(st, 1, q->account_sid, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK && (f & RECD_SQLITE_LF_CALL))
        rc = sqlite3_bind_text(st, 2, q->call_sid, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK && (f & RECD_SQLITE_LF_CONFERENCE))
        rc = sqlite3_bind_text(st, 3, q->conference_sid, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK && (f & RECD_SQLITE_LF_RECORDING))
        rc = sqlite3_bind_text(st, 4, q->recording_sid, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK && (f & RECD_SQLITE_LF_GE))
        rc = sqlite3_bind_int64(st, 5, q->created_ge_us);
    if (rc == SQLITE_OK && (f & RECD_SQLITE_LF_LT))
        rc = sqlite3_bind_int64(st, 6, q->created_lt_us);
    return rc;
}

/* The statement of a combination, prepared on first use and kept for the life of the handle;
 * bound with the query's values. */
static int list_prepare(struct sqlite_store *s, enum recd_sqlite_list_kind kind, unsigned combo,
                        const struct recd_list_query *q, const struct bound *b, sqlite3_stmt **out)
{
    sqlite3_stmt *st = s->list[kind][combo];
    int rc = SQLITE_OK;
    if (!st) {
        char sql[1024];
        if (recd_store_sqlite_list_sql(kind, combo, sql, sizeof sql) < 0) {
            recd_log_error("store: list: no SQL for combination %u", combo);
            return RECD_E_INTERNAL;
        }
        rc = sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL);
        if (rc != SQLITE_OK)
            return fail_with(s, rc, "list prepare");
        s->list[kind][combo] = st;
    }
    unsigned dir = combo >> RECD_SQLITE_LIST_DIR_SHIFT;
    rc = bind_filters(st, combo, q);
    if (rc == SQLITE_OK && dir != RECD_ANCHOR_NONE)
        rc = sqlite3_bind_int64(st, 7, b->us);
    if (rc == SQLITE_OK && dir != RECD_ANCHOR_NONE)
        rc = sqlite3_bind_text(st, 8, b->sid, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int(st, 9, q->limit);
    if (rc == SQLITE_OK && dir == RECD_ANCHOR_NONE)
        rc = sqlite3_bind_int64(st, 10, q->offset);
    if (rc != SQLITE_OK) {
        done(st);
        return fail_with(s, rc, "list bind");
    }
    *out = st;
    return 0;
}

static int op_recording_list(struct recd_store *base, const struct recd_list_query *q, recd_recording_cb cb,
                             void *ctx)
{
    struct sqlite_store *s = S(base);
    enum recd_sqlite_list_kind kind = RECD_SQLITE_LIST_RECORDINGS;
    sqlite3_stmt *st = NULL;
    struct bound b;
    unsigned combo;
    int rc = list_combo(kind, q, &combo, &b);
    if (rc < 0)
        return rc;
    if (s->walking[kind]) {
        recd_log_error("store: recording_list called from its own callback");
        return RECD_E_INTERNAL;
    }
    if (q->anchor_dir == RECD_ANCHOR_BEFORE && !s->rev && !(s->rev = calloc(LIST_MAX, sizeof *s->rev)))
        return RECD_E_INTERNAL;
    rc = list_prepare(s, kind, combo, q, &b, &st);
    if (rc < 0)
        return rc;
    s->walking[kind] = 1;
    int n = 0, stop = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (q->anchor_dir == RECD_ANCHOR_BEFORE) {
            /* LIMIT keeps n below LIST_MAX; the test guards the array all the same. */
            if (n == LIST_MAX)
                break;
            rc = read_cols(st, 0, recording_cols, NCOLS(recording_cols), &s->rev[n++]);
        } else {
            struct recd_recording r;
            rc = read_cols(st, 0, recording_cols, NCOLS(recording_cols), &r);
            if (rc == 0)
                stop = cb(ctx, &r);
        }
        if (rc < 0 || stop)
            break;
    }
    if (rc == SQLITE_DONE || rc == SQLITE_ROW)
        rc = 0;
    else if (rc > 0)
        rc = fail_with(s, rc, "recording_list");
    done(st);
    /* Fetched oldest first; handed out newest first, like every other page. */
    for (int i = n - 1; rc == 0 && i >= 0; i--)
        if (cb(ctx, &s->rev[i]))
            break;
    s->walking[kind] = 0;
    return rc;
}

static int op_recording_scan(struct recd_store *base, recd_recording_cb cb, void *ctx)
{
    struct sqlite_store *s = S(base);
    sqlite3_stmt *st = s->stmt[S_RECORDING_SCAN];
    struct recd_recording r;
    int rc;
    if (s->walking[WALK_SCAN]) {
        recd_log_error("store: recording_scan called from its own callback");
        return RECD_E_INTERNAL;
    }
    s->walking[WALK_SCAN] = 1;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        rc = read_cols(st, 0, recording_cols, NCOLS(recording_cols), &r);
        if (rc < 0 || cb(ctx, &r))
            break;
    }
    if (rc == SQLITE_DONE || rc == SQLITE_ROW)
        rc = 0;
    else if (rc > 0)
        rc = fail_with(s, rc, "recording_scan");
    done(st);
    s->walking[WALK_SCAN] = 0;
    return rc;
}

/* A BEFORE page of transcriptions: the sids oldest first, then each row read again by sid and
 * handed out newest first, all in one read transaction so the page is one snapshot. */
static int transcription_list_before(struct sqlite_store *s, sqlite3_stmt *st, recd_transcription_cb cb,
                                     void *ctx)
{
    sqlite3_stmt *get = s->stmt[S_TRANSCRIPTION_GET];
    int own = !s->in_txn, n = 0;
    int rc = own ? run(s, S_BEGIN_READ) : txn_alive(s);
    if (rc < 0) {
        done(st);
        return rc;
    }
    while (n < LIST_MAX && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        const unsigned char *sid = sqlite3_column_text(st, 0);
        if (!sid || (size_t)sqlite3_column_bytes(st, 0) != RECD_SID_LEN) {
            rc = RECD_E_IO;
            recd_log_error("store: a transcription sid is malformed");
            break;
        }
        memcpy(s->rev_sids[n++], sid, RECD_SID_LEN + 1);
    }
    if (rc == SQLITE_DONE || rc == SQLITE_ROW)
        rc = 0;
    else if (rc > 0)
        rc = fail_with(s, rc, "transcription_list");
    done(st);
    for (int i = n - 1; rc == 0 && i >= 0; i--) {
        rc = get_row(s, S_TRANSCRIPTION_GET, s->rev_sids[i], transcription_cols, NCOLS(transcription_cols),
                     s->tr);
        if (rc > 0)
            rc = read_text(get, (int)NCOLS(transcription_cols), s->tr, 1);
        done(get);
        if (rc < 0)
            break;
        if (cb(ctx, s->tr))
            break;
    }
    if (own) {
        /* Nothing was written; ending the read cannot lose anything, but its error is reported. */
        int end = run(s, S_COMMIT);
        if (end < 0 && !sqlite3_get_autocommit(s->db))
            run(s, S_ROLLBACK);
        if (rc == 0)
            rc = end;
    }
    return rc;
}

static int op_transcription_list(struct recd_store *base, const struct recd_list_query *q,
                                 recd_transcription_cb cb, void *ctx)
{
    struct sqlite_store *s = S(base);
    enum recd_sqlite_list_kind kind = RECD_SQLITE_LIST_TRANSCRIPTIONS;
    sqlite3_stmt *st = NULL;
    struct bound b;
    unsigned combo;
    int rc = list_combo(kind, q, &combo, &b);
    if (rc < 0)
        return rc;
    if (s->walking[kind]) {
        recd_log_error("store: transcription_list called from its own callback");
        return RECD_E_INTERNAL;
    }
    if (!s->tr && !(s->tr = malloc(sizeof *s->tr)))
        return RECD_E_INTERNAL;
    if (q->anchor_dir == RECD_ANCHOR_BEFORE && !s->rev_sids &&
        !(s->rev_sids = calloc(LIST_MAX, sizeof *s->rev_sids)))
        return RECD_E_INTERNAL;
    rc = list_prepare(s, kind, combo, q, &b, &st);
    if (rc < 0)
        return rc;
    s->walking[kind] = 1;
    if (q->anchor_dir == RECD_ANCHOR_BEFORE) {
        rc = transcription_list_before(s, st, cb, ctx);
        s->walking[kind] = 0;
        return rc;
    }
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        rc = read_cols(st, 0, transcription_cols, NCOLS(transcription_cols), s->tr);
        if (rc == 0)
            rc = read_text(st, (int)NCOLS(transcription_cols), s->tr, 0);
        if (rc < 0 || cb(ctx, s->tr))
            break;
    }
    if (rc == SQLITE_DONE || rc == SQLITE_ROW)
        rc = 0;
    else if (rc > 0)
        rc = fail_with(s, rc, "transcription_list");
    done(st);
    s->walking[kind] = 0;
    return rc;
}

/* Counts what a list query's filters match, for the legacy XML envelope's total. The anchor,
 * offset and limit play no part, so the statement is the list's WHERE clause alone. */
static int list_count(struct recd_store *base, enum recd_sqlite_list_kind kind,
                      const struct recd_list_query *q, int64_t *n)
{
    struct sqlite_store *s = S(base);
    struct recd_list_query cq = *q;
    struct bound b;
    unsigned combo;
    cq.anchor_dir = RECD_ANCHOR_NONE;
    cq.offset = 0;
    cq.limit = 1;
    int rc = list_combo(kind, &cq, &combo, &b);
    if (rc < 0)
        return rc;
    sqlite3_stmt *st = s->count[kind][combo];
    if (!st) {
        char sql[1024];
        struct sqlbuf sb = {sql, 0, sizeof sql, 0};
        put(&sb, kind == RECD_SQLITE_LIST_RECORDINGS ? "SELECT count(*) FROM recordings"
                                                     : "SELECT count(*) FROM transcriptions");
        put_where(&sb, kind == RECD_SQLITE_LIST_RECORDINGS, combo);
        if (sb.over)
            return RECD_E_INTERNAL;
        rc = sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL);
        if (rc != SQLITE_OK)
            return fail_with(s, rc, "count prepare");
        s->count[kind][combo] = st;
    }
    rc = bind_filters(st, combo, q);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *n = sqlite3_column_int64(st, 0);
        rc = 0;
    } else {
        rc = fail_with(s, rc, "count");
    }
    done(st);
    return rc;
}

static int op_recording_count(struct recd_store *base, const struct recd_list_query *q, int64_t *n)
{
    return list_count(base, RECD_SQLITE_LIST_RECORDINGS, q, n);
}

static int op_transcription_count(struct recd_store *base, const struct recd_list_query *q, int64_t *n)
{
    return list_count(base, RECD_SQLITE_LIST_TRANSCRIPTIONS, q, n);
}

/* PRAGMA data_version changes when another connection commits; this connection's own changes
 * are counted by sqlite3_total_changes64. Together they change whenever what a read can see may
 * have changed. */
static int op_version(struct recd_store *base, int64_t v[2])
{
    struct sqlite_store *s = S(base);
    sqlite3_stmt *st = s->stmt[S_DATA_VERSION];
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        rc = fail_with(s, rc, "data_version");
        done(st);
        return rc;
    }
    v[0] = sqlite3_column_int64(st, 0);
    v[1] = sqlite3_total_changes64(s->db);
    done(st);
    return 0;
}

static const struct recd_store_ops sqlite_ops = {
    .close = op_close,
    .begin = op_begin,
    .commit = op_commit,
    .rollback = op_rollback,
    .account_insert = op_account_insert,
    .account_get = op_account_get,
    .account_set_media_auth = op_account_set_media_auth,
    .key_insert = op_key_insert,
    .key_get = op_key_get,
    .recording_insert = op_recording_insert,
    .recording_get = op_recording_get,
    .recording_mark_deleted = op_recording_mark_deleted,
    .recording_list = op_recording_list,
    .recording_scan = op_recording_scan,
    .purge_deleted = op_purge_deleted,
    .transcription_insert = op_transcription_insert,
    .transcription_get = op_transcription_get,
    .transcription_delete = op_transcription_delete,
    .transcription_list = op_transcription_list,
    .recording_count = op_recording_count,
    .transcription_count = op_transcription_count,
    .version = op_version,
};

/* Runs one constant statement (pragmas, schema) that needs no parameters. */
static int exec(struct sqlite_store *s, const char *sql, const char *step)
{
    int rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? 0 : fail_with(s, rc, step);
}

/* Runs a pragma that answers one row and returns its first column as an integer, or as text in
 * `text` (when not NULL). */
static int pragma_value(struct sqlite_store *s, const char *sql, int64_t *num, char *text, size_t cap)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            if (num)
                *num = sqlite3_column_int64(st, 0);
            if (text) {
                const char *t = (const char *)sqlite3_column_text(st, 0);
                snprintf(text, cap, "%s", t ? t : "");
            }
            rc = SQLITE_OK;
        }
    }
    int e = rc == SQLITE_OK ? 0 : fail_with(s, rc, sql);
    sqlite3_finalize(st);
    return e;
}

/* Creates the schema, or checks that the file is one this build understands. */
static int migrate(struct sqlite_store *s)
{
    int64_t version = 0;
    int rc = pragma_value(s, "PRAGMA user_version", &version, NULL, 0);
    if (rc < 0 || version == SCHEMA_VERSION)
        return rc;
    /* Re-read under the write lock: another process may be creating the schema right now. */
    if ((rc = exec(s, "BEGIN IMMEDIATE", "schema begin")) < 0)
        return rc;
    rc = pragma_value(s, "PRAGMA user_version", &version, NULL, 0);
    if (rc < 0)
        goto fail;
    if (version > SCHEMA_VERSION) {
        recd_log_error("store: the database has schema version %lld; this recd knows up to %d",
                       (long long)version, SCHEMA_VERSION);
        rc = RECD_E_IO;
        goto fail;
    }
    if (version < SCHEMA_VERSION && (rc = exec(s, schema_sql, "schema create")) < 0)
        goto fail;
    return exec(s, "COMMIT", "schema commit");
fail:
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

int recd_store_sqlite_open(const char *path, struct recd_store **out)
{
    struct sqlite_store *s = calloc(1, sizeof *s);
    char mode[16];
    int rc;
    *out = NULL;
    if (!s)
        return RECD_E_INTERNAL;
    s->base.ops = &sqlite_ops;
    rc =
        sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        if (s->db)
            rc = fail_with(s, rc, "open");
        else
            rc = RECD_E_IO;
        goto fail;
    }
    sqlite3_extended_result_codes(s->db, 1);
    sqlite3_busy_timeout(s->db, BUSY_TIMEOUT_MS);
    /* The schema is ours alone: no SQL may corrupt it, and no function in it runs with privilege. */
    sqlite3_db_config(s->db, SQLITE_DBCONFIG_DEFENSIVE, 1, (int *)NULL);
    sqlite3_db_config(s->db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, (int *)NULL);
    if ((rc = exec(s, "PRAGMA foreign_keys = ON", "foreign_keys")) < 0)
        goto fail;
    if ((rc = pragma_value(s, "PRAGMA journal_mode = WAL", NULL, mode, sizeof mode)) < 0)
        goto fail;
    if (strcmp(mode, "wal") != 0) {
        recd_log_error("store: %s: cannot use WAL (journal mode is %s)", path, mode);
        rc = RECD_E_IO;
        goto fail;
    }
    /* FULL in WAL mode syncs the log at every commit: an acknowledged write survives power loss. */
    if ((rc = exec(s, "PRAGMA synchronous = FULL", "synchronous")) < 0)
        goto fail;
    if ((rc = migrate(s)) < 0)
        goto fail;
    for (int i = 0; i < S_COUNT; i++) {
        int prc = sqlite3_prepare_v3(s->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &s->stmt[i], NULL);
        if (prc != SQLITE_OK) {
            rc = fail_with(s, prc, stmt_name[i]);
            goto fail;
        }
    }
    *out = &s->base;
    return 0;
fail:
    op_close(&s->base);
    return rc;
}
