#include "store/store.h"
#include "store/store_pg_internal.h"

#include "core/error.h"
#include "core/log.h"

#include <libpq-fe.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/*
 * The PostgreSQL backend of the metadata store (contract §9): opening and closing a handle, its
 * connection and the recovery of a lost one, statements, errors, transactions and the version
 * that page caches compare. The schema, rows and lists live in the store_pg_*.c files beside
 * this one (store_pg_internal.h lists them).
 *
 * One handle is one connection, used by one thread: the server opens one per worker, which is
 * its pool. Statements are prepared on a connection's first use of each and reused; values are
 * always parameters, never spliced into SQL.
 *
 * A lost connection (the server restarted, the network failed) fails the call that finds it with
 * RECD_E_UNAVAILABLE, which the API answers 503; the next call reconnects. A connection that the
 * server closed while the handle was idle is noticed before the next statement is sent (the
 * socket is readable), so after a database restart the first request reconnects rather than
 * failing.
 */

#define CONNECT_TIMEOUT_S "10"
#define SLOW_CONNECT_US   INT64_C(1000000) /* a reconnect that took longer timed out, or nearly */
#define RETRY_SLOW_US     INT64_C(5000000) /* then the next attempt waits this long */

static const char *const stmt_sql[P_COUNT] = {
#define STMT_SQL(id, sql) sql,
    RECD_PG_STATEMENTS(STMT_SQL)
#undef STMT_SQL
};

const char *const recd_pg_stmt_name[P_COUNT] = {
#define STMT_NAME(id, sql) #id,
    RECD_PG_STATEMENTS(STMT_NAME)
#undef STMT_NAME
};

/* Logs libpq's message `m` after `step` on one line: its messages span lines ("…failed:
 * Connection refused\n\tIs the server running…") and end in a newline. */
static void log_pq(const char *step, const char *m, const char *state)
{
    char line[1024];
    size_t n = 0;
    for (const char *p = m; *p && n + 1 < sizeof line; p++) {
        int space = *p == '\n' || *p == '\t' || *p == '\r' || *p == ' ';
        if (space && (n == 0 || line[n - 1] == ' '))
            continue;
        line[n++] = space ? ' ' : *p;
    }
    while (n && line[n - 1] == ' ')
        n--;
    line[n] = '\0';
    if (state)
        recd_log_error("store: %s: %s (sqlstate %s)", step, line, state);
    else
        recd_log_error("store: %s: %s", step, line);
}

static void log_conn_error(struct pg_store *s, const char *step)
{
    log_pq(step, s->conn ? PQerrorMessage(s->conn) : "out of memory", NULL);
}

/* The connection is gone: a transaction the caller had open went with it. */
static int lost(struct pg_store *s, const char *step)
{
    log_conn_error(s, step);
    if (s->in_txn)
        s->txn_lost = 1;
    return RECD_E_UNAVAILABLE;
}

/*
 * Maps a failure to a RECD_E_* code by its SQLSTATE. Outcomes a caller expects (a duplicate, a
 * missing parent) are not logged; backend failures are, with the step and the server's message,
 * which stays here: callers render errors for HTTP clients.
 */
int recd_pg_fail(struct pg_store *s, const PGresult *res, const char *step)
{
    if (PQstatus(s->conn) != CONNECTION_OK)
        return lost(s, step);
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    int e = RECD_E_IO;
    if (state) {
        if (strcmp(state, "23505") == 0) /* unique_violation */
            return RECD_E_EXISTS;
        if (strcmp(state, "23503") == 0) /* foreign_key_violation: no such account or recording */
            return RECD_E_NOT_FOUND;
        if (strncmp(state, "23", 2) == 0 || strncmp(state, "22", 2) == 0)
            e = RECD_E_BAD_INPUT; /* integrity or data exception: a value the schema refuses */
        else if (strcmp(state, "53100") == 0)
            e = RECD_E_NO_SPACE; /* disk_full */
        else if (strncmp(state, "08", 2) == 0 || strncmp(state, "57P", 3) == 0 ||
                 strncmp(state, "53", 2) == 0 || strncmp(state, "40", 2) == 0 ||
                 strcmp(state, "55P03") == 0 || strcmp(state, "57014") == 0)
            /* Connection, shutdown, resources, serialization or lock timeouts, a cancelled
             * statement: the server cannot serve this now, and a retry later may succeed. */
            e = RECD_E_UNAVAILABLE;
    }
    log_pq(step, res ? PQresultErrorMessage(res) : PQerrorMessage(s->conn), state ? state : "none");
    return e;
}

static int64_t mono_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000 + t.tv_nsec / 1000;
}

/* Forgets what the old connection had prepared (and its goodbye: a reset makes a new one). */
static void forget_prepared(struct pg_store *s)
{
    s->goodbye = 0;
    memset(s->ready, 0, sizeof s->ready);
    memset(s->list_ready, 0, sizeof s->list_ready);
    memset(s->count_ready, 0, sizeof s->count_ready);
}

/*
 * A server that closed the connection while the handle was idle (a restart, an administrator's
 * pg_terminate_backend) has left its goodbye, or the end of the stream, in the socket: reading it
 * marks the connection bad (the end of the stream), or sets s->goodbye (the FATAL message, which
 * libpq hands to on_notice and which may come before the end of the stream by a moment), and the
 * caller reconnects before sending anything. A poll with no wait costs a system call, not a
 * round trip.
 */
static void notice_close(struct pg_store *s)
{
    /* The goodbye (a FATAL message) and the end of the stream may come in separate reads. */
    for (int i = 0; i < 4 && PQstatus(s->conn) == CONNECTION_OK; i++) {
        struct pollfd p = {.fd = PQsocket(s->conn), .events = POLLIN};
        if (p.fd < 0 || poll(&p, 1, 0) <= 0 || !PQconsumeInput(s->conn))
            break;
        PGnotify *n;
        while ((n = PQnotifies(s->conn)) != NULL)
            PQfreemem(n);
    }
}

/* The connection can take a statement: libpq has not seen it end, nor the server say goodbye. */
static int conn_usable(struct pg_store *s)
{
    return PQstatus(s->conn) == CONNECTION_OK && !s->goodbye;
}

int recd_pg_ready(struct pg_store *s)
{
    if (s->txn_lost)
        return RECD_E_UNAVAILABLE;
    if (PQstatus(s->conn) == CONNECTION_OK && !s->in_txn)
        notice_close(s);
    if (conn_usable(s))
        return 0;
    if (s->in_txn) {
        s->txn_lost = 1;
        recd_log_error("store: the connection to the database was lost inside a transaction");
        return RECD_E_UNAVAILABLE;
    }
    /* A server that refuses at once is tried again by the next call; one that let the attempt
     * run into its timeout is left alone for a while, so that requests do not each wait for it. */
    int64_t now = mono_us();
    if (now < s->retry_at_us)
        return RECD_E_UNAVAILABLE;
    forget_prepared(s);
    PQreset(s->conn);
    if (PQstatus(s->conn) != CONNECTION_OK) {
        log_conn_error(s, "reconnect");
        if (mono_us() - now > SLOW_CONNECT_US)
            s->retry_at_us = mono_us() + RETRY_SLOW_US;
        return RECD_E_UNAVAILABLE;
    }
    s->retry_at_us = 0;
    recd_log_info("store: reconnected to the database");
    return 0;
}

/* Prepares `sql` as `name` on this connection. List statements give their parameters' types
 * (some numbers are unused in a combination, so the server could not infer them); the others
 * let the server infer them from the columns. */
static int prepare(struct pg_store *s, const char *name, const char *step, const char *sql, int ntypes,
                   const Oid *types)
{
    PGresult *res = PQprepare(s->conn, name, sql, ntypes, types);
    int rc = PQresultStatus(res) == PGRES_COMMAND_OK ? 0 : recd_pg_fail(s, res, step);
    PQclear(res);
    return rc;
}

/* Runs a prepared statement; binary results. */
static int run_prepared(struct pg_store *s, const char *name, const char *step, const struct pg_params *p,
                        PGresult **out)
{
    static const struct pg_params none = {0};
    if (!p)
        p = &none;
    PGresult *res = PQexecPrepared(s->conn, name, p->n, p->v, p->len, p->fmt, 1);
    ExecStatusType st = PQresultStatus(res);
    if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) {
        *out = res;
        return 0;
    }
    int rc = recd_pg_fail(s, res, step);
    PQclear(res);
    return rc;
}

/* Writes the text of statement `id`: its constant SQL, or the SQL generated from a table's
 * columns, in PostgreSQL's spelling. Scans walk in pages by sid (store_pg_rows.c says why). */
static void stmt_text(enum recd_pg_stmt id, struct recd_sqlbuf *b)
{
    const struct recd_sql_table *t = NULL;
    int insert = 0;
    const char *tail = " WHERE sid = ?1";
    switch (id) {
    case P_ACCOUNT_INSERT: insert = 1; /* fall through */
    case P_ACCOUNT_GET: t = &recd_sql_accounts; break;
    case P_KEY_INSERT: insert = 1; /* fall through */
    case P_KEY_GET: t = &recd_sql_api_keys; break;
    case P_RECORDING_INSERT: insert = 1; /* fall through */
    case P_RECORDING_GET: t = &recd_sql_recordings; break;
    case P_RECORDING_SCAN:
        t = &recd_sql_recordings;
        tail = " WHERE sid > ?1 ORDER BY sid LIMIT ?2";
        break;
    case P_RECORDING_SCAN_STATUS:
        t = &recd_sql_recordings;
        tail = " WHERE status = ?3 AND sid > ?1 ORDER BY sid LIMIT ?2";
        break;
    case P_TRANSCRIPTION_INSERT: insert = 1; /* fall through */
    case P_TRANSCRIPTION_GET: t = &recd_sql_transcriptions; break;
    case P_NUMBER_INSERT: insert = 1; /* fall through */
    case P_NUMBER_GET: t = &recd_sql_numbers; break;
    case P_NUMBER_GET_BY_NUMBER:
        t = &recd_sql_numbers;
        tail = " WHERE phone_number = ?1";
        break;
    case P_NUMBER_LIST_ACCOUNT:
        t = &recd_sql_numbers;
        tail = " WHERE account_sid = ?3 AND sid > ?1 ORDER BY sid LIMIT ?2";
        break;
    case P_NUMBER_LIST_ALL:
        t = &recd_sql_numbers;
        tail = " WHERE sid > ?1 ORDER BY sid LIMIT ?2";
        break;
    case P_CALL_INSERT: insert = 1; /* fall through */
    case P_CALL_GET: t = &recd_sql_calls; break;
    case P_CALL_SCAN_LIVE:
        t = &recd_sql_calls;
        tail = " WHERE " RECD_SQL_CALL_LIVE " AND sid > ?1 ORDER BY sid LIMIT ?2";
        break;
    case P_RECORDING_LOCK:
        /* The enqueue's check: the recording stays as read (not deleted) until it commits. */
        t = &recd_sql_recordings;
        tail = " WHERE sid = ?1 FOR SHARE";
        break;
    case P_JOB_INSERT: insert = 1; /* fall through */
    case P_JOB_GET: t = &recd_sql_jobs; break;
    case P_REQUEST_INSERT: insert = 1; /* fall through */
    case P_REQUEST_GET: t = &recd_sql_transcribe_requests; break;
    case P_JOB_CLAIM: {
        /* One statement: the oldest ready job that no other worker holds locked right now
         * (SKIP LOCKED: concurrent claimers take different jobs instead of queueing on one),
         * taken with the caller's lease and read back as it now is. */
        static const struct recd_sql_table taken = {"u", NULL, 0, NULL};
        struct recd_sql_table u = taken;
        u.cols = recd_sql_jobs.cols;
        u.ncols = recd_sql_jobs.ncols;
        recd_sqlbuf_put_sql(
            b, RECD_SQL_POSTGRES,
            "WITH c AS (SELECT sid FROM transcription_jobs WHERE " RECD_PG_JOB_OPEN
            " AND ready_us <= ?1 ORDER BY ready_us, sid LIMIT 1 FOR UPDATE SKIP LOCKED),"
            " u AS (UPDATE transcription_jobs SET state = 'running', lease = ?2, ready_us = ?3,"
            " attempts = attempts + 1, updated_us = ?1 WHERE sid IN (SELECT sid FROM c)"
            " RETURNING *) ");
        recd_sql_select(b, &u);
        return;
    }
    default: recd_sqlbuf_put_sql(b, RECD_SQL_POSTGRES, stmt_sql[id]); return;
    }
    if (insert) {
        recd_sql_insert(b, RECD_SQL_POSTGRES, t);
    } else {
        recd_sql_select(b, t);
        recd_sqlbuf_put_sql(b, RECD_SQL_POSTGRES, tail);
    }
}

/* Runs statement `id`, prepared on first use. `notice` 0 skips looking for a goodbye from the
 * server before sending (recd_pg_ready): for a statement whose failure costs the caller nothing
 * (the page caches' version), the next statement notices a closed connection instead. */
static int exec_stmt(struct pg_store *s, enum recd_pg_stmt id, const struct pg_params *p, PGresult **res,
                     int notice)
{
    char name[16];
    int rc = notice || s->txn_lost || PQstatus(s->conn) != CONNECTION_OK ? recd_pg_ready(s) : 0;
    if (rc < 0)
        return rc;
    snprintf(name, sizeof name, "p%d", (int)id);
    if (!s->ready[id]) {
        char sql[1024];
        struct recd_sqlbuf b;
        recd_sqlbuf_init(&b, sql, sizeof sql);
        stmt_text(id, &b);
        if (b.over) {
            recd_log_error("store: the SQL of %s does not fit", recd_pg_stmt_name[id]);
            return RECD_E_INTERNAL;
        }
        if ((rc = prepare(s, name, recd_pg_stmt_name[id], sql, 0, NULL)) < 0)
            return rc;
        s->ready[id] = 1;
    }
    return run_prepared(s, name, recd_pg_stmt_name[id], p, res);
}

int recd_pg_exec(struct pg_store *s, enum recd_pg_stmt id, const struct pg_params *p, PGresult **res)
{
    return exec_stmt(s, id, p, res, 1);
}

/* The types of the list parameters 1…17, as store/sql_list.h numbers them. */
static const Oid list_types[17] = {
    RECD_PG_TEXT, RECD_PG_TEXT, RECD_PG_TEXT, RECD_PG_TEXT, RECD_PG_INT8, RECD_PG_INT8,
    RECD_PG_INT8, RECD_PG_TEXT, RECD_PG_INT8, RECD_PG_INT8, RECD_PG_TEXT, RECD_PG_TEXT,
    RECD_PG_TEXT, RECD_PG_INT8, RECD_PG_INT8, RECD_PG_INT8, RECD_PG_INT8,
};

int recd_pg_exec_named(struct pg_store *s, const char *name, const char *sql, unsigned char *ready,
                       const struct pg_params *p, PGresult **res)
{
    int rc = recd_pg_ready(s);
    if (rc < 0)
        return rc;
    if (!*ready) {
        if ((rc = prepare(s, name, "list", sql, 17, list_types)) < 0)
            return rc;
        *ready = 1;
    }
    return run_prepared(s, name, "list", p, res);
}

int recd_pg_command(struct pg_store *s, const char *sql, const char *step)
{
    PGresult *res = PQexec(s->conn, sql);
    int rc = PQresultStatus(res) == PGRES_COMMAND_OK ? 0 : recd_pg_fail(s, res, step);
    PQclear(res);
    return rc;
}

int recd_pg_write(struct pg_store *s, enum recd_pg_stmt id, const struct pg_params *p, PGresult **res)
{
    if (!s->in_txn) {
        int rc = recd_pg_exec(s, id, p, res);
        s->own_writes++;
        return rc;
    }
    int rc = recd_pg_ready(s);
    if (rc == 0)
        rc = recd_pg_command(s, "SAVEPOINT recd_op", "savepoint");
    if (rc < 0)
        return rc;
    rc = recd_pg_exec(s, id, p, res);
    s->own_writes++;
    if (rc == 0)
        return recd_pg_command(s, "RELEASE SAVEPOINT recd_op", "release");
    /* Undo this call alone; the caller's earlier work stays for it to commit or roll back. */
    if (!s->txn_lost && recd_pg_command(s, "ROLLBACK TO SAVEPOINT recd_op", "rollback to") == 0)
        recd_pg_command(s, "RELEASE SAVEPOINT recd_op", "release");
    return rc;
}

/* The unit's transaction is counted as the caller's (in_txn) while it is open: see the header. */
int recd_pg_unit_begin(struct pg_store *s, int *own)
{
    *own = !s->in_txn;
    int rc = recd_pg_ready(s);
    if (rc == 0)
        rc = recd_pg_command(s, *own ? "BEGIN" : "SAVEPOINT recd_unit", "unit begin");
    if (rc == 0 && *own) {
        s->in_txn = 1;
        s->txn_lost = 0;
    }
    return rc;
}

int recd_pg_unit_end(struct pg_store *s, int own, int rc)
{
    int gone = s->txn_lost || PQstatus(s->conn) != CONNECTION_OK;
    if (own) {
        s->in_txn = 0;
        s->txn_lost = 0;
    }
    if (rc == 0 && gone)
        rc = RECD_E_UNAVAILABLE;
    if (rc == 0) {
        if (!own)
            return recd_pg_command(s, "RELEASE SAVEPOINT recd_unit", "unit release");
        PGresult *res = PQexec(s->conn, "COMMIT");
        if (PQresultStatus(res) != PGRES_COMMAND_OK)
            rc = recd_pg_fail(s, res, "unit commit");
        else if (strcmp(PQcmdStatus(res), "COMMIT") != 0)
            rc = RECD_E_IO; /* the transaction had failed: the server rolled it back */
        PQclear(res);
        return rc;
    }
    if (gone)
        return rc;
    if (own) {
        recd_pg_command(s, "ROLLBACK", "unit rollback");
    } else if (recd_pg_command(s, "ROLLBACK TO SAVEPOINT recd_unit", "unit rollback to") == 0) {
        recd_pg_command(s, "RELEASE SAVEPOINT recd_unit", "unit release");
    }
    return rc;
}

void recd_pg_params_init(struct pg_params *p)
{
    memset(p, 0, sizeof *p);
}

/* Parameters are numbered from 1 as in the SQL; p->n covers the highest one set. */
static int slot(struct pg_params *p, int idx)
{
    int i = idx - 1;
    if (idx > p->n)
        p->n = idx;
    return i;
}

void recd_pg_param_text(struct pg_params *p, int idx, const char *v, size_t len)
{
    int i = slot(p, idx);
    p->v[i] = v;
    p->len[i] = (int)len;
    p->fmt[i] = 1; /* text's binary form is its bytes: no NUL needed */
}

void recd_pg_param_null(struct pg_params *p, int idx)
{
    int i = slot(p, idx);
    p->v[i] = NULL;
}

void recd_pg_param_i64(struct pg_params *p, int idx, int64_t v)
{
    int i = slot(p, idx);
    snprintf(p->num[i], sizeof p->num[i], "%lld", (long long)v);
    p->v[i] = p->num[i];
    p->fmt[i] = 0; /* decimal text: the server converts it to the column's integer type */
}

void recd_pg_param_bytes(struct pg_params *p, int idx, const void *v, size_t len)
{
    int i = slot(p, idx);
    p->v[i] = v;
    p->len[i] = (int)len;
    p->fmt[i] = 1;
}

static void op_close(struct recd_store *st)
{
    struct pg_store *s = PG(st);
    if (!s)
        return;
    /* Closing the connection ends an open transaction without committing it. */
    if (s->conn)
        PQfinish(s->conn);
    free(s);
}

static int op_begin(struct recd_store *st)
{
    struct pg_store *s = PG(st);
    if (s->in_txn) {
        recd_log_error("store: begin: a transaction is already open");
        return RECD_E_INTERNAL;
    }
    int rc = recd_pg_ready(s);
    if (rc == 0)
        rc = recd_pg_command(s, "BEGIN", "begin");
    if (rc == 0) {
        s->in_txn = 1;
        s->txn_lost = 0;
    }
    return rc;
}

/* A COMMIT of a transaction that had failed answers "ROLLBACK": that is a failure too. Every
 * write runs under a savepoint, so it does not happen unless something is badly wrong. A
 * connection lost during the COMMIT leaves its outcome unknown: UNAVAILABLE, and the caller
 * does not acknowledge. */
static int op_commit(struct recd_store *st)
{
    struct pg_store *s = PG(st);
    if (!s->in_txn) {
        recd_log_error("store: commit: no transaction is open");
        return RECD_E_INTERNAL;
    }
    int rc = s->txn_lost ? RECD_E_UNAVAILABLE : 0;
    if (rc == 0) {
        PGresult *res = PQexec(s->conn, "COMMIT");
        if (PQresultStatus(res) != PGRES_COMMAND_OK) {
            rc = recd_pg_fail(s, res, "commit");
        } else if (strcmp(PQcmdStatus(res), "COMMIT") != 0) {
            recd_log_error("store: commit: the transaction had failed and was rolled back");
            rc = RECD_E_IO;
        }
        PQclear(res);
    }
    s->in_txn = 0;
    s->txn_lost = 0;
    return rc;
}

static int op_rollback(struct recd_store *st)
{
    struct pg_store *s = PG(st);
    /* Harmless without a transaction, so that cleanup paths may call it unconditionally. */
    int was = s->in_txn, gone = s->txn_lost;
    s->in_txn = 0;
    s->txn_lost = 0;
    if (!was || gone || PQstatus(s->conn) != CONNECTION_OK)
        return 0;
    return recd_pg_command(s, "ROLLBACK", "rollback");
}

/* 64-bit FNV-1a: a digest of the snapshot text, not a defence against anyone. */
static int64_t fnv1a(const char *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325u;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)p[i];
        h *= 0x100000001b3u;
    }
    return (int64_t)h;
}

/*
 * What "no commit happened since" means across nodes. The current snapshot (xmin:xmax:xip…)
 * names every transaction that has finished: any transaction that commits between two calls,
 * from any node, either leaves the list of running ones or moves xmax, so equal snapshots mean
 * nothing was committed in between. It costs one round trip and no write: the alternatives were a
 * counter row bumped by every write transaction (one more write each, and every writer of every
 * node queued on one row lock) or LISTEN/NOTIFY (no round trip, but a notification may arrive
 * after the writer's client has been answered, so a node could serve a deleted recording from its
 * cache for a moment). The snapshot also moves for writes of other databases in the cluster,
 * which only empties caches more often than needed. This handle's own writes count too: inside
 * its transaction they are in no snapshot yet.
 */
static int op_version(struct recd_store *st, int64_t v[2])
{
    struct pg_store *s = PG(st);
    PGresult *res = NULL;
    /* Asked before every cached request: no poll for a closed connection first (one system call
     * of the six a cached list page costs). A version that fails leaves the request uncached, and
     * its next statement reconnects. */
    int rc = exec_stmt(s, P_VERSION, NULL, &res, 0);
    if (rc < 0)
        return rc;
    if (PQntuples(res) != 1 || PQgetisnull(res, 0, 0)) {
        PQclear(res);
        recd_log_error("store: version: no snapshot");
        return RECD_E_IO;
    }
    v[0] = fnv1a(PQgetvalue(res, 0, 0), (size_t)PQgetlength(res, 0, 0));
    v[1] = s->own_writes;
    PQclear(res);
    return 0;
}

/*
 * The media repair guard across nodes: a PostgreSQL advisory lock (session level, so it lasts
 * across transactions and goes with the connection), shared by writers and exclusive for a
 * repair. Its key is a constant of recd's ("recdmedi"); a schema per installation in one database
 * would share it, which only makes a repair wait for another installation's imports.
 */
#define MEDIA_GUARD_KEY "8243103975954801769"

static int op_media_guard(struct recd_store *st, enum recd_store_guard how)
{
    struct pg_store *s = PG(st);
    const char *sql;
    if (how == RECD_STORE_GUARD_RELEASE) {
        if (!s->guard)
            return 0;
        sql = s->guard == 2 ? "SELECT pg_advisory_unlock(" MEDIA_GUARD_KEY ")"
                            : "SELECT pg_advisory_unlock_shared(" MEDIA_GUARD_KEY ")";
    } else {
        if (s->guard)
            return RECD_E_INTERNAL; /* taken twice: the callers pair take and release */
        sql = how == RECD_STORE_GUARD_EXCLUSIVE       ? "SELECT pg_advisory_lock(" MEDIA_GUARD_KEY ")"
              : how == RECD_STORE_GUARD_EXCLUSIVE_NOW ? "SELECT pg_try_advisory_lock(" MEDIA_GUARD_KEY ")"
                                                      : "SELECT pg_advisory_lock_shared(" MEDIA_GUARD_KEY ")";
    }
    int rc = recd_pg_ready(s);
    if (rc < 0)
        return rc;
    PGresult *res = PQexec(s->conn, sql);
    rc = PQresultStatus(res) == PGRES_TUPLES_OK ? 0 : recd_pg_fail(s, res, "media guard");
    /* pg_try_advisory_lock answers false, never waiting, while another session holds the key. */
    if (rc == 0 && how == RECD_STORE_GUARD_EXCLUSIVE_NOW &&
        !(PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "t") == 0))
        rc = RECD_E_IN_PROGRESS;
    PQclear(res);
    if (rc == 0 || how == RECD_STORE_GUARD_RELEASE)
        s->guard = how == RECD_STORE_GUARD_RELEASE ? 0 : how == RECD_STORE_GUARD_SHARED ? 1 : 2;
    return rc;
}

/* Waits until the connection's socket is readable (`in`) or writable, or `deadline` (monotonic
 * µs) passes. 1: ready; 0: the time is up or the socket is gone. */
static int wait_socket(struct pg_store *s, int in, int64_t deadline)
{
    struct pollfd p = {.fd = PQsocket(s->conn), .events = in ? POLLIN : POLLOUT};
    for (;;) {
        int64_t left = deadline - mono_us();
        if (p.fd < 0 || left <= 0)
            return 0;
        int r = poll(&p, 1, (int)((left + 999) / 1000));
        if (r > 0)
            return 1;
        if (r == 0)
            return 0;
    }
}

/*
 * Connects again without waiting past `deadline`, where recd_pg_ready would wait for libpq's
 * whole connect timeout. 0, or RECD_E_UNAVAILABLE (then the connection is left unusable and the
 * next ordinary call reconnects as usual).
 */
static int reconnect_by(struct pg_store *s, int64_t deadline)
{
    if (mono_us() < s->retry_at_us || !PQresetStart(s->conn))
        return RECD_E_UNAVAILABLE;
    forget_prepared(s);
    PostgresPollingStatusType ps = PGRES_POLLING_WRITING;
    while (ps != PGRES_POLLING_OK) {
        if (ps == PGRES_POLLING_FAILED || !wait_socket(s, ps == PGRES_POLLING_READING, deadline))
            return RECD_E_UNAVAILABLE;
        ps = PQresetPoll(s->conn);
    }
    recd_log_info("store: reconnected to the database");
    return 0;
}

/*
 * Readiness: one round trip, SELECT pg_is_in_recovery(), sent without blocking and given
 * `timeout_ms` to answer; a standby (read-only) is not ready. A query that does not answer in
 * time leaves the connection with a command in flight: it is dropped (reset started), so the next
 * call reconnects. A probe every few seconds must not fill the log: the cause is logged when it
 * changes.
 */
static int op_ready(struct recd_store *st, int timeout_ms)
{
    static _Atomic int last;
    struct pg_store *s = PG(st);
    if (s->in_txn)
        return 0; /* the handle is busy with its own work, which says it answers */
    int64_t deadline = mono_us() + (int64_t)timeout_ms * 1000;
    const char *why = NULL;
    int rc = 0;
    if (PQstatus(s->conn) == CONNECTION_OK)
        notice_close(s);
    if (!conn_usable(s) && reconnect_by(s, deadline) < 0) {
        why = "the database does not answer";
        rc = RECD_E_UNAVAILABLE;
    } else if (!PQsendQuery(s->conn, "SELECT pg_is_in_recovery()")) {
        why = "the connection failed";
        rc = RECD_E_UNAVAILABLE;
    } else {
        PGresult *res;
        char standby = 0;
        int failed = 0;
        for (;;) {
            while (PQisBusy(s->conn) && rc == 0) {
                if (!wait_socket(s, 1, deadline) || !PQconsumeInput(s->conn)) {
                    why = "the database did not answer in time";
                    rc = RECD_E_UNAVAILABLE;
                    PQresetStart(s->conn); /* drops the command in flight with the socket */
                    forget_prepared(s);
                }
            }
            if (rc < 0 || (res = PQgetResult(s->conn)) == NULL)
                break;
            if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
                standby = PQgetvalue(res, 0, 0)[0];
            else
                failed = 1;
            PQclear(res);
        }
        if (rc == 0 && failed) {
            why = "the query failed";
            rc = RECD_E_UNAVAILABLE;
        } else if (rc == 0 && standby == 't') {
            why = "the database is a read-only standby";
            rc = RECD_E_UNAVAILABLE;
        }
    }
    if (atomic_exchange(&last, rc) != rc && why)
        recd_log_warn("store: not ready: %s", why);
    return rc;
}

static const struct recd_store_ops pg_ops = {
    .media_guard = op_media_guard,
    .ready = op_ready,
    .close = op_close,
    .begin = op_begin,
    .commit = op_commit,
    .rollback = op_rollback,
    .account_insert = recd_pg_op_account_insert,
    .account_get = recd_pg_op_account_get,
    .account_set_media_auth = recd_pg_op_account_set_media_auth,
    .key_insert = recd_pg_op_key_insert,
    .key_get = recd_pg_op_key_get,
    .recording_insert = recd_pg_op_recording_insert,
    .recording_get = recd_pg_op_recording_get,
    .recording_mark_deleted = recd_pg_op_recording_mark_deleted,
    .recording_page = recd_pg_op_recording_page,
    .recording_scan = recd_pg_op_recording_scan,
    .recording_finish = recd_pg_op_recording_finish,
    .recording_scan_status = recd_pg_op_recording_scan_status,
    .purge_deleted = recd_pg_op_purge_deleted,
    .transcription_insert = recd_pg_op_transcription_insert,
    .transcription_get = recd_pg_op_transcription_get,
    .transcription_delete = recd_pg_op_transcription_delete,
    .transcription_page = recd_pg_op_transcription_page,
    .recording_count = recd_pg_op_recording_count,
    .transcription_count = recd_pg_op_transcription_count,
    .number_insert = recd_pg_op_number_insert,
    .number_get = recd_pg_op_number_get,
    .number_get_by_number = recd_pg_op_number_get_by_number,
    .number_list = recd_pg_op_number_list,
    .number_delete = recd_pg_op_number_delete,
    .call_insert = recd_pg_op_call_insert,
    .call_get = recd_pg_op_call_get,
    .call_update = recd_pg_op_call_update,
    .call_page = recd_pg_op_call_page,
    .call_count = recd_pg_op_call_count,
    .call_delete = recd_pg_op_call_delete,
    .call_scan_live = recd_pg_op_call_scan_live,
    .account_set_transcribe = recd_pg_op_account_set_transcribe,
    .account_set_retention = recd_pg_op_account_set_retention,
    .recording_expired = recd_pg_op_recording_expired,
    .recording_expired_count = recd_pg_op_recording_expired_count,
    .transcription_enqueue = recd_pg_op_transcription_enqueue,
    .job_claim = recd_pg_op_job_claim,
    .job_renew = recd_pg_op_job_renew,
    .job_finish = recd_pg_op_job_finish,
    .job_retry = recd_pg_op_job_retry,
    .job_get = recd_pg_op_job_get,
    .job_count = recd_pg_op_job_count,
    .transcribe_request_put = recd_pg_op_transcribe_request_put,
    .transcribe_request_get = recd_pg_op_transcribe_request_get,
    .version = op_version,
};

/*
 * Connects with recd's defaults: a bounded connect time, its name in pg_stat_activity, and UTF-8
 * on the wire whatever the client's locale says. The URL comes after the first two, so that it
 * may set its own (libpq keeps the last value of a repeated key), and before the encoding, which
 * recd relies on.
 */
/* Notices (such as "relation … already exists, skipping") are for people typing SQL; libpq
 * would print them on stderr. One kind matters: an error that arrives while no statement runs is
 * the server's goodbye before it closes the connection (libpq passes it here as a notice). */
static void on_notice(void *arg, const PGresult *r)
{
    struct pg_store *s = arg;
    const char *sev = PQresultErrorField(r, PG_DIAG_SEVERITY_NONLOCALIZED);
    if (sev && (strcmp(sev, "FATAL") == 0 || strcmp(sev, "PANIC") == 0))
        s->goodbye = 1;
}

static PGconn *connect_url(const char *url)
{
    const char *const keys[] = {"connect_timeout", "application_name", "dbname", "client_encoding", NULL};
    const char *const vals[] = {CONNECT_TIMEOUT_S, "recd", url, "UTF8", NULL};
    return PQconnectdbParams(keys, vals, 1);
}

int recd_store_pg_open(const char *url, struct recd_store **out)
{
    char shown[512];
    struct pg_store *s = calloc(1, sizeof *s);
    int rc;
    *out = NULL;
    if (!s)
        return RECD_E_INTERNAL;
    s->base.ops = &pg_ops;
    recd_store_url_redact(url, shown, sizeof shown);
    s->conn = connect_url(url);
    if (!s->conn) {
        rc = RECD_E_INTERNAL;
        goto fail;
    }
    PQsetNoticeReceiver(s->conn, on_notice, s);
    if (PQstatus(s->conn) != CONNECTION_OK) {
        char step[600];
        snprintf(step, sizeof step, "cannot connect to %s", shown);
        log_conn_error(s, step);
        rc = RECD_E_UNAVAILABLE;
        goto fail;
    }
    /* Texts are stored as UTF-8 and compared byte for byte; another server encoding would
     * convert, or refuse, what recd has already checked. */
    const char *enc = PQparameterStatus(s->conn, "server_encoding");
    if (!enc || strcmp(enc, "UTF8") != 0) {
        recd_log_error("store: %s: the database's encoding is %s; recd needs UTF8", shown,
                       enc ? enc : "unknown");
        rc = RECD_E_IO;
        goto fail;
    }
    if ((rc = recd_pg_migrate(s)) < 0)
        goto fail;
    *out = &s->base;
    return 0;
fail:
    op_close(&s->base);
    return rc;
}
