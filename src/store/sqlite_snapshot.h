#ifndef RECD_STORE_SQLITE_SNAPSHOT_H
#define RECD_STORE_SQLITE_SNAPSHOT_H

#include <stdint.h>

/*
 * A consistent copy of a live SQLite store, for `recd backup` (service/backup.h). Kept apart
 * from store.h because only the backup needs it and only SQLite has it: PostgreSQL is backed up
 * with its own tools (pg_dump, base backups and WAL archiving).
 */

/**
 * Copies the SQLite store at `src_path` to `dst_path` (which must not exist; created 0600) with
 * SQLite's online backup API, in one read transaction: the copy holds exactly the transactions
 * committed before that transaction began, and writers (the server, imports) are not blocked
 * while it runs (WAL mode). The copy is then made durable (fsync of the file and of its
 * directory). *schema_version gets the copy's PRAGMA user_version. 0, RECD_E_EXISTS when
 * `dst_path` exists, RECD_E_NOT_FOUND when `src_path` does not, or RECD_E_IO (logged).
 */
int recd_store_sqlite_snapshot(const char *src_path, const char *dst_path, int64_t *schema_version);

/** The schema version this build writes (and the newest it opens). */
int64_t recd_store_sqlite_schema_version(void);

#endif
