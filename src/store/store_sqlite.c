#include "store/store.h"
#include "store/store_sqlite_internal.h"

#include "core/error.h"
#include "core/log.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * The SQLite backend of the metadata store: opening and closing a handle, its statements and
 * transactions, and the table of operations. The schema, the row operations and the lists live
 * in the store_sqlite_*.c files beside this one (store_sqlite_internal.h lists them).
 *
 * One handle is one connection, used by one thread (SQLITE_OPEN_NOMUTEX): the server opens one
 * per worker. WAL lets readers proceed while one writer commits, and the busy timeout makes a
 * second process (`recd import`, `recd fsck`) wait for the write lock instead of failing.
 * Every statement is prepared once and reused; values are always bound, never spliced into SQL.
 */

#define BUSY_TIMEOUT_MS 10000

static const char *const stmt_sql[S_COUNT] = {
#define STMT_SQL(id, sql) sql,
    RECD_SQLITE_STATEMENTS(STMT_SQL)
#undef STMT_SQL
};

const char *const recd_sqlite_stmt_name[S_COUNT] = {
#define STMT_NAME(id, sql) #id,
    RECD_SQLITE_STATEMENTS(STMT_NAME)
#undef STMT_NAME
};

/* Maps an SQLite result to a RECD_E_* code. Backend failures are logged with the step that
 * failed and SQLite's message; the message stays here, since callers render errors for HTTP
 * clients. Outcomes a caller expects (a duplicate, a missing parent) are not logged. */
int recd_sqlite_fail(struct sqlite_store *s, int rc, const char *step)
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

void recd_sqlite_done(sqlite3_stmt *st)
{
    /* reset's return repeats the step's error, which the caller has already handled. */
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
}

int recd_sqlite_run(struct sqlite_store *s, enum recd_sqlite_stmt id)
{
    sqlite3_stmt *st = s->stmt[id];
    int rc = sqlite3_step(st);
    int e = rc == SQLITE_DONE ? 0 : recd_sqlite_fail(s, rc, recd_sqlite_stmt_name[id]);
    recd_sqlite_done(st);
    return e;
}

/* The caller's transaction, if it opened one, must still be open. */
int recd_sqlite_txn_alive(struct sqlite_store *s)
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
int recd_sqlite_call_begin(struct sqlite_store *s)
{
    if (s->in_txn) {
        int rc = recd_sqlite_txn_alive(s);
        return rc < 0 ? rc : recd_sqlite_run(s, S_SAVEPOINT);
    }
    return recd_sqlite_run(s, S_BEGIN);
}

int recd_sqlite_call_end(struct sqlite_store *s, int rc)
{
    if (rc == 0) {
        rc = recd_sqlite_run(s, s->in_txn ? S_RELEASE : S_COMMIT);
        if (rc == 0)
            return 0;
    }
    if (sqlite3_get_autocommit(s->db))
        return rc;
    if (s->in_txn) {
        recd_sqlite_run(s, S_ROLLBACK_TO);
        recd_sqlite_run(s, S_RELEASE);
    } else {
        recd_sqlite_run(s, S_ROLLBACK);
    }
    return rc;
}

static void op_close(struct recd_store *st)
{
    struct sqlite_store *s = S(st);
    if (!s)
        return;
    if (s->in_txn && !sqlite3_get_autocommit(s->db))
        recd_sqlite_run(s, S_ROLLBACK);
    recd_sqlite_warm_close(s);
    for (int i = 0; i < S_COUNT; i++)
        sqlite3_finalize(s->stmt[i]);
    for (int k = 0; k < RECD_SQL_LIST_KINDS; k++)
        for (unsigned c = 0; c < RECD_SQL_LIST_SLOTS; c++) {
            sqlite3_finalize(s->list[k][c]);
            sqlite3_finalize(s->count[k][c]);
        }
    if (s->db && sqlite3_close(s->db) != SQLITE_OK)
        recd_log_error("store: close: %s", sqlite3_errmsg(s->db));
    free(s);
}

static int op_begin(struct recd_store *st)
{
    struct sqlite_store *s = S(st);
    if (s->in_txn) {
        recd_log_error("store: begin: a transaction is already open");
        return RECD_E_INTERNAL;
    }
    int rc = recd_sqlite_run(s, S_BEGIN);
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
    int rc = recd_sqlite_txn_alive(s);
    if (rc == 0)
        rc = recd_sqlite_run(s, S_COMMIT);
    /* A commit that failed is undone here, so the caller's rollback has nothing left to do. */
    if (rc < 0 && !sqlite3_get_autocommit(s->db))
        recd_sqlite_run(s, S_ROLLBACK);
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
    return recd_sqlite_run(s, S_ROLLBACK);
}

/*
 * Finds the WAL index (the -shm file's first region) where this connection's SQLite has mapped
 * it, once, through the VFS's own xShmMap: no descriptor of our own. Opening and closing the -shm
 * file here would drop every POSIX lock this process holds on it (fcntl locks belong to the
 * process and go with any close of the file), SQLite's DMS lock included; another process would
 * then take the WAL index for unused, truncate it and rebuild it under our mapping (SIGBUS).
 * The region stays mapped while the connection is open: SQLite unmaps it only when it closes.
 */
static void shm_open_map(struct sqlite_store *s)
{
    s->shm_tried = 1;
    sqlite3_file *f = NULL;
    if (sqlite3_file_control(s->db, "main", SQLITE_FCNTL_FILE_POINTER, &f) != SQLITE_OK || !f ||
        !f->pMethods || f->pMethods->iVersion < 2 || !f->pMethods->xShmMap)
        return;
    volatile void *region = NULL;
    /* Region 0, of SQLite's region size (32 KiB), not extended: it exists once a read ran. */
    if (f->pMethods->xShmMap(f, 0, 32768, 0, &region) == SQLITE_OK && region)
        s->shm = (const volatile unsigned char *)region;
}

/*
 * Copies the WAL-index header into `hdr`: 1 when it was read whole, 0 when it cannot be read
 * (no mapping, or a writer was changing it). Its layout is SQLite's documented WAL-index format
 * (sqlite.org/walformat.html, "The WAL-Index Header"): two 48-byte copies, which a writer
 * updates second copy first, so a reader that reads the first, then the second, and finds them
 * equal holds a header no commit was halfway through; SQLite's own readers do exactly this.
 */
static int shm_header(struct sqlite_store *s, unsigned char hdr[RECD_SQLITE_WAL_HDR])
{
    if (!s->shm)
        return 0;
    unsigned char second[RECD_SQLITE_WAL_HDR];
    for (int i = 0; i < RECD_SQLITE_WAL_HDR; i++)
        hdr[i] = s->shm[i];
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    for (int i = 0; i < RECD_SQLITE_WAL_HDR; i++)
        second[i] = s->shm[RECD_SQLITE_WAL_HDR + i];
    return memcmp(hdr, second, sizeof second) == 0 && hdr[12] == 1; /* isInit */
}

/*
 * PRAGMA data_version changes when another connection commits; this connection's own changes
 * are counted by sqlite3_total_changes64. Together they change whenever what a read can see may
 * have changed.
 *
 * The pragma costs a read transaction: POSIX locks (fcntl), fstats and SQLite's process-wide
 * mutex, which the server's worker threads contend for, on every cached request (a third of a
 * cached list page's user time). But every commit, by any connection in any process, rewrites
 * the WAL-index header in the shared -shm file (its change counter goes up by one), so a header
 * byte for byte as it was before the last pragma means nothing was committed since, and that
 * pragma's answer still holds. Anything else (a changed or half-written header, no mapping, a
 * transaction of our own open) asks SQLite. The header is sampled before the pragma runs, so a
 * commit between the two only makes the next call ask again.
 */
static int op_version(struct recd_store *base, int64_t v[2])
{
    struct sqlite_store *s = S(base);
    unsigned char hdr[RECD_SQLITE_WAL_HDR];
    int have = !s->in_txn && shm_header(s, hdr);
    if (have && s->seen_valid && memcmp(hdr, s->seen_hdr, sizeof hdr) == 0) {
        v[0] = s->seen_version;
        v[1] = sqlite3_total_changes64(s->db);
        return 0;
    }
    sqlite3_stmt *st = s->stmt[S_DATA_VERSION];
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        rc = recd_sqlite_fail(s, rc, "data_version");
        recd_sqlite_done(st);
        s->seen_valid = 0;
        return rc;
    }
    v[0] = sqlite3_column_int64(st, 0);
    v[1] = sqlite3_total_changes64(s->db);
    recd_sqlite_done(st);
    s->seen_valid = have;
    if (have) {
        memcpy(s->seen_hdr, hdr, sizeof hdr);
        s->seen_version = v[0];
    } else if (!s->shm_tried && !s->in_txn)
        shm_open_map(s); /* after a read, when the -shm file surely exists */
    return 0;
}

static _Atomic uint64_t busy_retries;

uint64_t recd_store_sqlite_busy_retries(void)
{
    return atomic_load_explicit(&busy_retries, memory_order_relaxed);
}

/*
 * SQLite's own busy timeout, with the same backoff (1, 2, 5 … 100 ms), plus a count of the waits
 * for the metrics and a budget the readiness probe can shorten. `count` is how many times this
 * lock has been waited for already.
 */
static int busy_wait(void *arg, int count)
{
    static const int delays[] = {1, 2, 5, 10, 15, 20, 25, 25, 25, 50, 50, 100};
    static const int before[] = {0, 1, 3, 8, 18, 33, 53, 78, 103, 128, 178, 228};
    const int n = (int)(sizeof delays / sizeof delays[0]);
    struct sqlite_store *s = arg;
    int delay = count < n ? delays[count] : delays[n - 1];
    int waited = count < n ? before[count] : before[n - 1] + delays[n - 1] * (count - (n - 1));
    if (waited + delay > s->busy_ms)
        delay = s->busy_ms - waited;
    if (delay <= 0)
        return 0;
    atomic_fetch_add_explicit(&busy_retries, 1, memory_order_relaxed);
    sqlite3_sleep(delay);
    return 1;
}

/*
 * Readiness: the write lock taken (so another connection that holds it, or a read-only file,
 * makes the store not ready: calls could not be recorded) and a row read, then nothing written.
 * Its own statements and quiet failures: a probe every few seconds must not fill the log, so the
 * cause is logged when it changes.
 */
static int op_ready(struct recd_store *base, int timeout_ms)
{
    static _Atomic int last;
    struct sqlite_store *s = S(base);
    if (s->in_txn)
        return 0; /* the handle is busy with its own work, which says it answers */
    int saved = s->busy_ms;
    s->busy_ms = timeout_ms;
    int rc = sqlite3_exec(s->db, "BEGIN IMMEDIATE; SELECT 1 FROM accounts LIMIT 1", NULL, NULL, NULL);
    const char *why = rc == SQLITE_OK ? NULL : sqlite3_errmsg(s->db);
    if (!sqlite3_get_autocommit(s->db))
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    s->busy_ms = saved;
    if (atomic_exchange(&last, rc) != rc && rc != SQLITE_OK)
        recd_log_warn("store: not ready: %s (sqlite %d)", why, rc);
    switch (rc & 0xff) {
    case SQLITE_OK: return 0;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_READONLY: return RECD_E_UNAVAILABLE;
    default: return RECD_E_IO;
    }
}

static const struct recd_store_ops sqlite_ops = {
    .ready = op_ready,
    .close = op_close,
    .begin = op_begin,
    .commit = op_commit,
    .rollback = op_rollback,
    .account_insert = recd_sqlite_op_account_insert,
    .account_get = recd_sqlite_op_account_get,
    .account_set_media_auth = recd_sqlite_op_account_set_media_auth,
    .key_insert = recd_sqlite_op_key_insert,
    .key_get = recd_sqlite_op_key_get,
    .recording_insert = recd_sqlite_op_recording_insert,
    .recording_warm = recd_sqlite_op_recording_warm,
    .recording_get = recd_sqlite_op_recording_get,
    .recording_mark_deleted = recd_sqlite_op_recording_mark_deleted,
    .recording_page = recd_sqlite_op_recording_page,
    .recording_scan = recd_sqlite_op_recording_scan,
    .recording_finish = recd_sqlite_op_recording_finish,
    .recording_scan_status = recd_sqlite_op_recording_scan_status,
    .purge_deleted = recd_sqlite_op_purge_deleted,
    .transcription_insert = recd_sqlite_op_transcription_insert,
    .transcription_get = recd_sqlite_op_transcription_get,
    .transcription_delete = recd_sqlite_op_transcription_delete,
    .transcription_page = recd_sqlite_op_transcription_page,
    .recording_count = recd_sqlite_op_recording_count,
    .transcription_count = recd_sqlite_op_transcription_count,
    .number_insert = recd_sqlite_op_number_insert,
    .number_get = recd_sqlite_op_number_get,
    .number_get_by_number = recd_sqlite_op_number_get_by_number,
    .number_list = recd_sqlite_op_number_list,
    .number_delete = recd_sqlite_op_number_delete,
    .call_insert = recd_sqlite_op_call_insert,
    .call_get = recd_sqlite_op_call_get,
    .call_update = recd_sqlite_op_call_update,
    .call_page = recd_sqlite_op_call_page,
    .call_count = recd_sqlite_op_call_count,
    .call_delete = recd_sqlite_op_call_delete,
    .call_scan_live = recd_sqlite_op_call_scan_live,
    .account_set_transcribe = recd_sqlite_op_account_set_transcribe,
    .account_set_retention = recd_sqlite_op_account_set_retention,
    .recording_expired = recd_sqlite_op_recording_expired,
    .recording_expired_count = recd_sqlite_op_recording_expired_count,
    .transcription_enqueue = recd_sqlite_op_transcription_enqueue,
    .job_claim = recd_sqlite_op_job_claim,
    .job_renew = recd_sqlite_op_job_renew,
    .job_finish = recd_sqlite_op_job_finish,
    .job_retry = recd_sqlite_op_job_retry,
    .job_get = recd_sqlite_op_job_get,
    .job_count = recd_sqlite_op_job_count,
    .transcribe_request_put = recd_sqlite_op_transcribe_request_put,
    .transcribe_request_get = recd_sqlite_op_transcribe_request_get,
    .version = op_version,
};

/* Writes the text of statement `id` into `b`: its constant SQL, or the SQL generated from a
 * table's columns, so that the column lists are written once (store/sql_tables.c). */
static void stmt_text(enum recd_sqlite_stmt id, struct recd_sqlbuf *b)
{
    const struct recd_sql_table *t = NULL;
    int insert = 0;
    const char *tail = " WHERE sid = ?1";
    switch (id) {
    case S_ACCOUNT_INSERT: insert = 1; /* fall through */
    case S_ACCOUNT_GET: t = &recd_sql_accounts; break;
    case S_KEY_INSERT: insert = 1; /* fall through */
    case S_KEY_GET: t = &recd_sql_api_keys; break;
    case S_RECORDING_INSERT: insert = 1; /* fall through */
    case S_RECORDING_GET: t = &recd_sql_recordings; break;
    case S_RECORDING_SCAN:
        t = &recd_sql_recordings;
        tail = " ORDER BY sid";
        break;
    case S_RECORDING_SCAN_STATUS:
        t = &recd_sql_recordings;
        tail = " WHERE status = ?1 ORDER BY sid";
        break;
    case S_TRANSCRIPTION_INSERT: insert = 1; /* fall through */
    case S_TRANSCRIPTION_GET: t = &recd_sql_transcriptions; break;
    case S_NUMBER_INSERT: insert = 1; /* fall through */
    case S_NUMBER_GET: t = &recd_sql_numbers; break;
    case S_NUMBER_GET_BY_NUMBER:
        t = &recd_sql_numbers;
        tail = " WHERE phone_number = ?1";
        break;
    case S_NUMBER_LIST_ACCOUNT:
        t = &recd_sql_numbers;
        tail = " WHERE account_sid = ?1 ORDER BY sid";
        break;
    case S_NUMBER_LIST_ALL:
        t = &recd_sql_numbers;
        tail = " ORDER BY sid";
        break;
    case S_CALL_INSERT: insert = 1; /* fall through */
    case S_CALL_GET: t = &recd_sql_calls; break;
    case S_CALL_SCAN_LIVE:
        t = &recd_sql_calls;
        tail = " WHERE " RECD_SQLITE_CALL_LIVE " ORDER BY sid";
        break;
    case S_JOB_INSERT: insert = 1; /* fall through */
    case S_JOB_GET: t = &recd_sql_jobs; break;
    case S_REQUEST_INSERT: insert = 1; /* fall through */
    case S_REQUEST_GET: t = &recd_sql_transcribe_requests; break;
    case S_JOB_NEXT:
        t = &recd_sql_jobs;
        tail = " WHERE " RECD_SQLITE_JOB_OPEN " AND ready_us <= ?1 ORDER BY ready_us, sid LIMIT 1";
        break;
    default: recd_sqlbuf_put(b, stmt_sql[id]); return;
    }
    if (insert) {
        recd_sql_insert(b, RECD_SQL_SQLITE, t);
    } else {
        recd_sql_select(b, t);
        recd_sqlbuf_put(b, tail);
    }
}

/* Prepares every statement of RECD_SQLITE_STATEMENTS, kept for the life of the handle. */
static int prepare_all(struct sqlite_store *s)
{
    for (int i = 0; i < S_COUNT; i++) {
        char sql[1024];
        struct recd_sqlbuf b;
        recd_sqlbuf_init(&b, sql, sizeof sql);
        stmt_text((enum recd_sqlite_stmt)i, &b);
        if (b.over) {
            recd_log_error("store: the SQL of %s does not fit", recd_sqlite_stmt_name[i]);
            return RECD_E_INTERNAL;
        }
        int rc = sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s->stmt[i], NULL);
        if (rc != SQLITE_OK)
            return recd_sqlite_fail(s, rc, recd_sqlite_stmt_name[i]);
    }
    return 0;
}

/*
 * Settings for the whole library, made before its first use. Memory statistics off: with them on
 * (the default), every allocation SQLite makes takes one process-wide mutex, which the workers'
 * connections contend for although they share nothing else; recd never reads the statistics.
 * Debian's build has no lookaside allocator, so that is every row a statement touches.
 */
static pthread_once_t library_once = PTHREAD_ONCE_INIT;

static void library_init(void)
{
    /* SQLITE_MISUSE when something in the process used SQLite first: then it stays as it was. */
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    sqlite3_initialize();
}

int recd_store_sqlite_open(const char *path, struct recd_store **out)
{
    struct sqlite_store *s = calloc(1, sizeof *s);
    char mode[16];
    int rc;
    *out = NULL;
    if (!s)
        return RECD_E_INTERNAL;
    pthread_once(&library_once, library_init);
    s->base.ops = &sqlite_ops;
    rc =
        sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        if (s->db)
            rc = recd_sqlite_fail(s, rc, "open");
        else
            rc = RECD_E_IO;
        goto fail;
    }
    sqlite3_extended_result_codes(s->db, 1);
    s->busy_ms = BUSY_TIMEOUT_MS;
    sqlite3_busy_handler(s->db, busy_wait, s);
    /* The schema is ours alone: no SQL may corrupt it, and no function in it runs with privilege. */
    sqlite3_db_config(s->db, SQLITE_DBCONFIG_DEFENSIVE, 1, (int *)NULL);
    sqlite3_db_config(s->db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, (int *)NULL);
    if ((rc = recd_sqlite_exec(s, "PRAGMA foreign_keys = ON", "foreign_keys")) < 0)
        goto fail;
    if ((rc = recd_sqlite_pragma(s, "PRAGMA journal_mode = WAL", NULL, mode, sizeof mode)) < 0)
        goto fail;
    if (strcmp(mode, "wal") != 0) {
        recd_log_error("store: %s: cannot use WAL (journal mode is %s)", path, mode);
        rc = RECD_E_IO;
        goto fail;
    }
    /* FULL in WAL mode syncs the log at every commit: an acknowledged write survives power loss. */
    if ((rc = recd_sqlite_exec(s, "PRAGMA synchronous = FULL", "synchronous")) < 0)
        goto fail;
    if ((rc = recd_sqlite_migrate(s)) < 0)
        goto fail;
    if ((rc = prepare_all(s)) < 0)
        goto fail;
    *out = &s->base;
    return 0;
fail:
    op_close(&s->base);
    return rc;
}
