#ifndef RECD_SERVICE_MIGRATE_H
#define RECD_SERVICE_MIGRATE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/*
 * `recd migrate` (contract §9, docs/scale-out.md): moves an embedded data folder (its SQLite
 * recd.db and its media/ files) to a PostgreSQL store, an S3 bucket, or both.
 *
 * - The source is locked for the whole run: migrate holds SQLite's write lock (BEGIN IMMEDIATE),
 *   so nothing commits to it meanwhile, and it refuses to start while another process has the
 *   database open (a lock on the -shm file's "DMS" byte, which every SQLite connection in WAL
 *   mode holds shared: a running `recd serve`, `import` or `fsck`).
 * - Tables are copied row for row (every table of the schema, deleted recordings' tombstones
 *   included), in sid order, a batch per PostgreSQL transaction that also records how far it got
 *   in the target's table recd_migrate. Media objects (WAVs and everything derived from them)
 *   are copied, read back and checked (size and SHA-256) one by one, and each checked object is
 *   appended to DATA/migrate.journal. So a run killed at any point continues where it stopped:
 *   no row and no object is copied twice.
 * - A target that holds anything is refused unless it is this folder's own earlier run: the
 *   run id in the journal and in the target's recd_migrate must match; a bucket may hold only
 *   keys of this folder's recordings.
 */

struct recd_migrate_opts {
    const char *data_dir;         /* the source data folder */
    const char *store;            /* its SQLite file; NULL = data_dir/recd.db */
    const char *to_store;         /* postgres://… or NULL */
    const char *to_media;         /* s3://… or NULL */
    const char *credentials_file; /* the bucket's; NULL = the AWS_* environment */
    int batch;                    /* rows per transaction; 0 = 500 */
    int jobs;                     /* objects copied at once; 0 = 4 */
    int bar;                      /* 1: a progress line on `err` (a terminal) */
    FILE *err;
};

struct recd_migrate_stats {
    int64_t rows;           /* rows copied by this run */
    int64_t rows_before;    /* rows an earlier run had copied */
    int tables;             /* tables in the target */
    int64_t objects;        /* objects copied and checked by this run */
    int64_t objects_found;  /* objects an earlier run had copied: checked in place, not copied */
    int64_t objects_before; /* objects the journal says an earlier run checked */
    int64_t bytes;          /* bytes copied by this run */
    int64_t orphans;        /* source files that no live recording names: not copied */
};

/**
 * Runs a migration. 0 when every table and object is in the targets and checked;
 * RECD_E_BAD_INPUT (exit 2) when it cannot start (a bad target, a target that is not empty and
 * not this folder's earlier run, a source in use), with a one-line reason in `why`; another
 * RECD_E_* (exit 1) when it failed on the way, `why` saying where (run it again to go on).
 */
int recd_migrate_run(const struct recd_migrate_opts *o, struct recd_migrate_stats *st, char *why,
                     size_t why_n);

#endif
