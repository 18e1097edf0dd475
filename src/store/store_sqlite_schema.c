#include "store/store_sqlite_internal.h"
#include "store/sqlite_snapshot.h"

#include "core/error.h"
#include "core/log.h"

#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>

/*
 * The schema of the SQLite store, by version. migrations[v] takes a database from version v to
 * v + 1; PRAGMA user_version records where a file is. A new field is one entry in its table's
 * columns (store/sql_tables.c) and one migration here ("ALTER TABLE … ADD COLUMN …") that
 * bumps SCHEMA_VERSION; a file written by an older recd is brought up to date when opened, and
 * one written by a newer recd is refused.
 */

/*
 * Schema version 1. STRICT tables so that a column holds only its declared type whatever writes
 * it. Indexes: one per list shape, each ending in (created_us, sid) so that the ORDER BY and the
 * keyset bounds are a walk along the index; transcriptions_recording also serves the deletes by
 * recording and the foreign-key checks when a recording row goes; recordings_deleted (partial,
 * so it costs nothing for live rows) finds what purge removes.
 */
static const char schema_v1[] =
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
    " ON transcriptions(recording_sid, account_sid, created_us, sid);";

/*
 * Version 2: recordings that calls make (contract §7). A row is inserted "in-progress" and
 * finished later, so a recording remembers whether a transcription was asked for; and restart
 * recovery finds the unfinished ones by status without reading every row.
 */
static const char schema_v2[] = "ALTER TABLE recordings ADD COLUMN transcribe INTEGER NOT NULL DEFAULT 0;"
                                "CREATE INDEX IF NOT EXISTS recordings_status ON recordings(status, sid);";

/*
 * Version 3: numbers that answer calls, and the calls (contract §7). A phone number routes calls,
 * so it is unique across the store. Calls are listed like recordings, newest first, through
 * calls_account; calls_to and calls_from serve the To and From filters the same way (a number's
 * calls). calls_live (partial: it holds only calls not yet ended, a handful) is what a
 * restarting server scans.
 */
static const char schema_v3[] =
    "CREATE TABLE IF NOT EXISTS numbers ("
    " sid TEXT PRIMARY KEY NOT NULL,"
    " account_sid TEXT NOT NULL REFERENCES accounts(sid),"
    " phone_number TEXT NOT NULL UNIQUE,"
    " friendly_name TEXT NOT NULL,"
    " voice_url TEXT NOT NULL,"
    " voice_method TEXT NOT NULL,"
    " voice_fallback_url TEXT NOT NULL,"
    " voice_fallback_method TEXT NOT NULL,"
    " status_callback TEXT NOT NULL,"
    " status_callback_method TEXT NOT NULL,"
    " created_us INTEGER NOT NULL,"
    " updated_us INTEGER NOT NULL"
    ") STRICT;"
    "CREATE INDEX IF NOT EXISTS numbers_account ON numbers(account_sid, sid);"
    "CREATE TABLE IF NOT EXISTS calls ("
    " sid TEXT PRIMARY KEY NOT NULL,"
    " account_sid TEXT NOT NULL REFERENCES accounts(sid),"
    " number_sid TEXT,"
    " parent_call_sid TEXT,"
    " from_addr TEXT NOT NULL,"
    " to_addr TEXT NOT NULL,"
    " caller_name TEXT NOT NULL,"
    " status TEXT NOT NULL,"
    " direction TEXT NOT NULL,"
    " answered_by TEXT NOT NULL,"
    " created_us INTEGER NOT NULL,"
    " updated_us INTEGER NOT NULL,"
    " start_us INTEGER,"
    " end_us INTEGER,"
    " duration_ms INTEGER NOT NULL,"
    " error_code INTEGER"
    ") STRICT;"
    "CREATE INDEX IF NOT EXISTS calls_account ON calls(account_sid, created_us, sid);"
    "CREATE INDEX IF NOT EXISTS calls_to ON calls(account_sid, to_addr, created_us, sid);"
    "CREATE INDEX IF NOT EXISTS calls_from ON calls(account_sid, from_addr, created_us, sid);"
    "CREATE INDEX IF NOT EXISTS calls_live ON calls(sid) WHERE " RECD_SQLITE_CALL_LIVE ";";

/*
 * Version 4: transcriptions that recd makes (contract §8). The account's switch for transcribing
 * every new recording, and the durable queue: one job per transcription it makes (sid = the
 * transcription's), referencing it so that neither outlives the other. transcription_jobs_ready
 * (partial: only unfinished jobs) is the claim's walk, oldest due first;
 * transcription_jobs_recording serves the cancel when a recording is deleted.
 */
static const char schema_v4[] =
    "ALTER TABLE accounts ADD COLUMN transcribe INTEGER NOT NULL DEFAULT 0;"
    "CREATE TABLE IF NOT EXISTS transcription_jobs ("
    " sid TEXT PRIMARY KEY NOT NULL REFERENCES transcriptions(sid),"
    " account_sid TEXT NOT NULL REFERENCES accounts(sid),"
    " recording_sid TEXT NOT NULL REFERENCES recordings(sid),"
    " callback_url TEXT NOT NULL,"
    " callback_method TEXT NOT NULL,"
    " state TEXT NOT NULL,"
    " lease TEXT NOT NULL,"
    " reason TEXT NOT NULL,"
    " attempts INTEGER NOT NULL,"
    " error_code INTEGER NOT NULL,"
    " ready_us INTEGER NOT NULL,"
    " created_us INTEGER NOT NULL,"
    " updated_us INTEGER NOT NULL"
    ") STRICT;"
    "CREATE INDEX IF NOT EXISTS transcription_jobs_ready ON transcription_jobs(ready_us, sid) "
    "WHERE " RECD_SQLITE_JOB_OPEN ";"
    "CREATE INDEX IF NOT EXISTS transcription_jobs_recording ON transcription_jobs(recording_sid);";

/*
 * Version 5: the transcribeCallback of a transcription asked for with a recording still being
 * made (contract §8), kept from the recording's start so that a recording finished after a crash
 * still calls back. Keyed by the recording's sid; ON DELETE CASCADE so that purge takes it along
 * (a delete removes it at once, store_sqlite_rows.c).
 */
static const char schema_v5[] = "CREATE TABLE IF NOT EXISTS transcribe_requests ("
                                " sid TEXT PRIMARY KEY NOT NULL REFERENCES recordings(sid) ON DELETE CASCADE,"
                                " callback_url TEXT NOT NULL,"
                                " callback_method TEXT NOT NULL,"
                                " created_us INTEGER NOT NULL"
                                ") STRICT;";

/* Version 6: an account's retention in days (contract §11); 0, keep forever, for every account
 * there was. */
static const char schema_v6[] = "ALTER TABLE accounts ADD COLUMN retention_days INTEGER NOT NULL DEFAULT 0;";

static const char *const migrations[] = {
    schema_v1, /* 0 → 1: everything */
    schema_v2, /* 1 → 2: recordings in progress */
    schema_v3, /* 2 → 3: numbers and calls */
    schema_v4, /* 3 → 4: transcription jobs */
    schema_v5, /* 4 → 5: transcription requests of recordings in progress */
    schema_v6, /* 5 → 6: retention */
};

#define SCHEMA_VERSION ((int64_t)(sizeof migrations / sizeof migrations[0]))

int recd_sqlite_exec(struct sqlite_store *s, const char *sql, const char *step)
{
    int rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? 0 : recd_sqlite_fail(s, rc, step);
}

int recd_sqlite_pragma(struct sqlite_store *s, const char *sql, int64_t *num, char *text, size_t cap)
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
    int e = rc == SQLITE_OK ? 0 : recd_sqlite_fail(s, rc, sql);
    sqlite3_finalize(st);
    return e;
}

/* Runs the migrations from `version` up, each recorded in user_version, in the caller's
 * transaction so that a file is never left between two versions. */
static int migrate_from(struct sqlite_store *s, int64_t version)
{
    for (int64_t v = version; v < SCHEMA_VERSION; v++) {
        char step[64], pragma[64];
        snprintf(step, sizeof step, "schema %lld to %lld", (long long)v, (long long)v + 1);
        int rc = recd_sqlite_exec(s, migrations[v], step);
        if (rc < 0)
            return rc;
        snprintf(pragma, sizeof pragma, "PRAGMA user_version = %lld", (long long)v + 1);
        if ((rc = recd_sqlite_exec(s, pragma, "schema version")) < 0)
            return rc;
    }
    return 0;
}

int recd_sqlite_migrate(struct sqlite_store *s)
{
    int64_t version = 0;
    int rc = recd_sqlite_pragma(s, "PRAGMA user_version", &version, NULL, 0);
    if (rc < 0 || version == SCHEMA_VERSION)
        return rc;
    /* Re-read under the write lock: another process may be creating the schema right now. */
    if ((rc = recd_sqlite_exec(s, "BEGIN IMMEDIATE", "schema begin")) < 0)
        return rc;
    rc = recd_sqlite_pragma(s, "PRAGMA user_version", &version, NULL, 0);
    if (rc < 0)
        goto fail;
    /* No recd writes a negative version; like 0, it gets the whole schema (all IF NOT EXISTS). */
    if (version < 0)
        version = 0;
    if (version > SCHEMA_VERSION) {
        recd_log_error("store: the database has schema version %lld; this recd knows up to %lld",
                       (long long)version, (long long)SCHEMA_VERSION);
        rc = RECD_E_IO;
        goto fail;
    }
    if ((rc = migrate_from(s, version)) < 0)
        goto fail;
    return recd_sqlite_exec(s, "COMMIT", "schema commit");
fail:
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

int64_t recd_store_sqlite_schema_version(void)
{
    return SCHEMA_VERSION;
}
