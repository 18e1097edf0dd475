#include "store/store_pg_internal.h"

#include "core/error.h"
#include "core/log.h"

#include <libpq-fe.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * The schema of the PostgreSQL store, by version, numbered as the SQLite store's: migrations[v]
 * takes a database from version v to v + 1, so a field added to a resource is one migration of
 * the same number in each backend. The version is a row of the table schema_version.
 *
 * Several nodes may start at once on an empty database: each migrates inside one transaction
 * holding a transaction-level advisory lock, and reads the version again under it, so the first
 * migrates and the others find the work done. DDL is transactional in PostgreSQL, so a failed
 * migration leaves the database at the version it had.
 *
 * Types: sids and every other text are `text COLLATE "C"`, so that order and equality are byte
 * order whatever the database's locale (keyset paging compares sids, and SQLite compares
 * bytes); byte arrays are bytea; times and sizes bigint; small numbers integer. Indexes are
 * those of the SQLite schema, for the same list shapes.
 */

#define T "text COLLATE \"C\""

static const char schema_v1[] =
    "CREATE TABLE accounts ("
    " sid " T " PRIMARY KEY,"
    " parent_sid " T " REFERENCES accounts(sid),"
    " friendly_name " T " NOT NULL,"
    " token_salt bytea NOT NULL,"
    " token_hash bytea NOT NULL,"
    " token_sealed bytea NOT NULL,"
    " media_auth integer NOT NULL,"
    " created_us bigint NOT NULL,"
    " updated_us bigint NOT NULL);"
    "CREATE TABLE api_keys ("
    " sid " T " PRIMARY KEY,"
    " account_sid " T " NOT NULL REFERENCES accounts(sid),"
    " friendly_name " T " NOT NULL,"
    " secret_salt bytea NOT NULL,"
    " secret_hash bytea NOT NULL,"
    " secret_sealed bytea NOT NULL,"
    " created_us bigint NOT NULL);"
    "CREATE INDEX api_keys_account ON api_keys(account_sid);"
    "CREATE TABLE recordings ("
    " sid " T " PRIMARY KEY,"
    " account_sid " T " NOT NULL REFERENCES accounts(sid),"
    " call_sid " T ","
    " conference_sid " T ","
    " created_us bigint NOT NULL,"
    " updated_us bigint NOT NULL,"
    " start_us bigint,"
    " deleted_us bigint NOT NULL DEFAULT 0,"
    " duration_ms bigint NOT NULL,"
    " media_size bigint NOT NULL,"
    " channels integer NOT NULL,"
    " sample_rate integer NOT NULL,"
    " error_code integer,"
    " status " T " NOT NULL,"
    " source " T " NOT NULL,"
    " media_sha256 " T " NOT NULL);"
    "CREATE INDEX recordings_account ON recordings(account_sid, created_us, sid);"
    "CREATE INDEX recordings_call ON recordings(account_sid, call_sid, created_us, sid);"
    "CREATE INDEX recordings_conference ON recordings(account_sid, conference_sid, created_us, sid);"
    "CREATE INDEX recordings_deleted ON recordings(deleted_us) WHERE deleted_us <> 0;"
    "CREATE TABLE transcriptions ("
    " sid " T " PRIMARY KEY,"
    " account_sid " T " NOT NULL REFERENCES accounts(sid),"
    " recording_sid " T " NOT NULL REFERENCES recordings(sid),"
    " created_us bigint NOT NULL,"
    " updated_us bigint NOT NULL,"
    " duration_ms bigint NOT NULL,"
    " status " T " NOT NULL,"
    " type " T " NOT NULL,"
    " text " T ");"
    "CREATE INDEX transcriptions_account ON transcriptions(account_sid, created_us, sid);"
    "CREATE INDEX transcriptions_recording ON transcriptions(recording_sid, account_sid, created_us, sid);";

/* Version 2: recordings that calls make (contract §7), as in the SQLite schema. */
static const char schema_v2[] = "ALTER TABLE recordings ADD COLUMN transcribe integer NOT NULL DEFAULT 0;"
                                "CREATE INDEX recordings_status ON recordings(status, sid);";

/* Version 3: numbers that answer calls, and the calls (contract §7), as in the SQLite schema. */
static const char schema_v3[] = "CREATE TABLE numbers ("
                                " sid " T " PRIMARY KEY,"
                                " account_sid " T " NOT NULL REFERENCES accounts(sid),"
                                " phone_number " T " NOT NULL UNIQUE,"
                                " friendly_name " T " NOT NULL,"
                                " voice_url " T " NOT NULL,"
                                " voice_method " T " NOT NULL,"
                                " voice_fallback_url " T " NOT NULL,"
                                " voice_fallback_method " T " NOT NULL,"
                                " status_callback " T " NOT NULL,"
                                " status_callback_method " T " NOT NULL,"
                                " created_us bigint NOT NULL,"
                                " updated_us bigint NOT NULL);"
                                "CREATE INDEX numbers_account ON numbers(account_sid, sid);"
                                "CREATE TABLE calls ("
                                " sid " T " PRIMARY KEY,"
                                " account_sid " T " NOT NULL REFERENCES accounts(sid),"
                                " number_sid " T ","
                                " parent_call_sid " T ","
                                " from_addr " T " NOT NULL,"
                                " to_addr " T " NOT NULL,"
                                " caller_name " T " NOT NULL,"
                                " status " T " NOT NULL,"
                                " direction " T " NOT NULL,"
                                " answered_by " T " NOT NULL,"
                                " created_us bigint NOT NULL,"
                                " updated_us bigint NOT NULL,"
                                " start_us bigint,"
                                " end_us bigint,"
                                " duration_ms bigint NOT NULL,"
                                " error_code integer);"
                                "CREATE INDEX calls_account ON calls(account_sid, created_us, sid);"
                                "CREATE INDEX calls_to ON calls(account_sid, to_addr, created_us, sid);"
                                "CREATE INDEX calls_from ON calls(account_sid, from_addr, created_us, sid);"
                                "CREATE INDEX calls_live ON calls(sid) WHERE " RECD_SQL_CALL_LIVE ";";

/*
 * Version 4: transcriptions that recd makes (contract §8), as in the SQLite schema: the account's
 * switch, and the durable queue, one job per transcription (sid = the transcription's).
 * transcription_jobs_ready (partial: only unfinished jobs) is the claim's walk, oldest due first;
 * transcription_jobs_recording serves the deletes by recording.
 */
static const char schema_v4[] =
    "ALTER TABLE accounts ADD COLUMN transcribe integer NOT NULL DEFAULT 0;"
    "CREATE TABLE transcription_jobs ("
    " sid " T " PRIMARY KEY REFERENCES transcriptions(sid),"
    " account_sid " T " NOT NULL REFERENCES accounts(sid),"
    " recording_sid " T " NOT NULL REFERENCES recordings(sid),"
    " callback_url " T " NOT NULL,"
    " callback_method " T " NOT NULL,"
    " state " T " NOT NULL,"
    " lease " T " NOT NULL,"
    " reason " T " NOT NULL,"
    " attempts integer NOT NULL,"
    " error_code integer NOT NULL,"
    " ready_us bigint NOT NULL,"
    " created_us bigint NOT NULL,"
    " updated_us bigint NOT NULL);"
    "CREATE INDEX transcription_jobs_ready ON transcription_jobs(ready_us, sid)"
    " WHERE " RECD_PG_JOB_OPEN ";"
    "CREATE INDEX transcription_jobs_recording ON transcription_jobs(recording_sid);";

/* Version 5: transcription requests of recordings still being made, as in the SQLite schema. */
static const char schema_v5[] = "CREATE TABLE transcribe_requests ("
                                " sid " T " PRIMARY KEY REFERENCES recordings(sid) ON DELETE CASCADE,"
                                " callback_url " T " NOT NULL,"
                                " callback_method " T " NOT NULL,"
                                " created_us bigint NOT NULL);";

/* Version 6: an account's retention in days, as in the SQLite schema. */
static const char schema_v6[] = "ALTER TABLE accounts ADD COLUMN retention_days integer NOT NULL DEFAULT 0;";

static const char *const migrations[] = {
    schema_v1, /* 0 → 1: everything */
    schema_v2, /* 1 → 2: recordings in progress */
    schema_v3, /* 2 → 3: numbers and calls */
    schema_v4, /* 3 → 4: transcription jobs */
    schema_v5, /* 4 → 5: transcription requests of recordings in progress */
    schema_v6, /* 5 → 6: retention */
};

#define SCHEMA_VERSION ((int)(sizeof migrations / sizeof migrations[0]))

/* "recd" and 1: the key of the migration lock, unlikely to be another program's. */
#define MIGRATE_LOCK "7305237049628016641"

int recd_pg_schema_version(void)
{
    return SCHEMA_VERSION;
}

/* The version the database is at: 0 when it has no schema_version table (an empty database),
 * -1 when it cannot be read. */
static int read_version(struct pg_store *s, int *version)
{
    PGresult *res = PQexec(s->conn, "SELECT version FROM schema_version");
    ExecStatusType st = PQresultStatus(res);
    const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    int rc = 0;
    if (st == PGRES_TUPLES_OK && PQntuples(res) == 1) {
        *version = atoi(PQgetvalue(res, 0, 0));
    } else if (st == PGRES_TUPLES_OK && PQntuples(res) == 0) {
        *version = 0;
    } else if (state && strcmp(state, "42P01") == 0) { /* undefined_table */
        *version = 0;
    } else {
        rc = recd_pg_fail(s, res, "schema version");
    }
    PQclear(res);
    return rc;
}

/* Runs the migrations from the database's version up, under the lock, in one transaction. */
static int migrate_locked(struct pg_store *s)
{
    char sql[160], step[64];
    int version = 0;
    int rc = recd_pg_command(s, "CREATE TABLE IF NOT EXISTS schema_version (version integer NOT NULL)",
                             "schema version table");
    if (rc == 0)
        rc = read_version(s, &version);
    if (rc < 0)
        return rc;
    if (version > SCHEMA_VERSION) {
        recd_log_error("store: the database has schema version %d; this recd knows up to %d", version,
                       SCHEMA_VERSION);
        return RECD_E_IO;
    }
    if (version < 0)
        version = 0;
    for (int v = version; v < SCHEMA_VERSION; v++) {
        snprintf(step, sizeof step, "schema %d to %d", v, v + 1);
        if ((rc = recd_pg_command(s, migrations[v], step)) < 0)
            return rc;
    }
    snprintf(sql, sizeof sql, "DELETE FROM schema_version; INSERT INTO schema_version (version) VALUES (%d)",
             SCHEMA_VERSION);
    return version == SCHEMA_VERSION ? 0 : recd_pg_command(s, sql, "schema version");
}

int recd_pg_migrate(struct pg_store *s)
{
    int version = 0;
    int rc = read_version(s, &version);
    if (rc < 0 || version == SCHEMA_VERSION)
        return rc;
    if ((rc = recd_pg_command(s, "BEGIN", "schema begin")) < 0)
        return rc;
    PGresult *res = PQexec(s->conn, "SELECT pg_advisory_xact_lock(" MIGRATE_LOCK ")");
    rc = PQresultStatus(res) == PGRES_TUPLES_OK ? 0 : recd_pg_fail(s, res, "schema lock");
    PQclear(res);
    if (rc == 0)
        rc = migrate_locked(s);
    if (rc == 0)
        rc = recd_pg_command(s, "COMMIT", "schema commit");
    if (rc < 0 && PQstatus(s->conn) == CONNECTION_OK)
        recd_pg_command(s, "ROLLBACK", "schema rollback");
    return rc;
}
