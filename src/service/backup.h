#ifndef RECD_SERVICE_BACKUP_H
#define RECD_SERVICE_BACKUP_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/*
 * Online backup and restore of a data folder (contract §11; docs/operations.md, "Backup and
 * restore"). A backup folder holds
 *
 *     recd.db          a consistent snapshot of the SQLite store (store/sqlite_snapshot.h)
 *     seal.key         the sealing key (without it, signed links of restored accounts fail)
 *     media/ab/cd/…    every media file of the recordings the snapshot says have media: the WAV
 *                      and the derived files (MP3, downmix, waveforms) that existed, hard-linked
 *                      from the data folder where the file system allows, copied otherwise
 *     manifest.jsonl   written last, under a temporary name, fsynced and renamed: a folder
 *                      without it is an unfinished backup that restore refuses
 *
 * The manifest is JSON lines: a head {"recd_backup":1, "recd_version", "commit",
 * "schema_version", "created"}, one {"path","size","sha256"} per file, and an end
 * {"end":true,"files","bytes","sha256"} whose digest covers every byte before that line.
 */

/** Name of the manifest in a backup folder. */
#define RECD_BACKUP_MANIFEST "manifest.jsonl"
/** The tally (core/tally.h) in the data folder whose field "last_success" (Unix seconds) is when
 * the last backup finished: what /metrics reports. */
#define RECD_BACKUP_TALLY "backup"
/** The manifest format this build writes and reads. */
#define RECD_BACKUP_FORMAT 1

struct recd_backup_opts {
    const char *data_dir; /* the live data folder */
    const char *store;    /* NULL: data_dir/recd.db; a PostgreSQL URL is refused */
    const char *to;       /* the backup folder: absent or empty */
    int copy;             /* 1: copy every file, even where a hard link would do */
    FILE *progress;       /* NULL: none; else a progress line redrawn there (a terminal) */
};

struct recd_backup_stats {
    int64_t recordings; /* recordings with media in the backup */
    int64_t files;      /* files in the manifest */
    int64_t bytes;      /* their bytes */
    int64_t linked;     /* media files hard-linked */
    int64_t copied;     /* media files copied */
    int64_t deleted;    /* recordings deleted while the backup ran: marked deleted in it */
    int64_t damaged;    /* media whose bytes differ from their row, copied as they are */
    int64_t schema_version;
};

/**
 * Takes a backup of a serving (or stopped) data folder into `o->to`. 0 when the backup is
 * complete (its manifest is on disk, and the data folder's "backup" tally is updated); RECD_E_BAD_INPUT
 * with a one-line reason in `why` when the request is wrong and nothing was written (a target
 * that is not empty, a folder with no store, a PostgreSQL store); another RECD_E_* with `why` when
 * it failed (the target then has no manifest). Damaged media in the source (st->damaged) does not
 * fail it: the backup is as faithful as the source, and says so.
 */
int recd_backup_run(const struct recd_backup_opts *o, struct recd_backup_stats *st, char *why, size_t why_n);

struct recd_restore_opts {
    const char *from;     /* a backup folder */
    const char *data_dir; /* the new data folder: absent or empty */
    FILE *progress;       /* as in recd_backup_opts */
    FILE *out;            /* where fsck's findings go */
};

struct recd_restore_stats {
    int64_t files, bytes;
    int64_t recordings; /* live recordings fsck checked in the restored folder */
    int64_t damaged;    /* what fsck found damaged there (0 after a good restore) */
};

/**
 * Restores the backup `o->from` into the new data folder `o->data_dir`: checks every file of the
 * backup against its manifest, copies them, makes them durable, checks the copies again, and runs
 * fsck on the result. 0 on success; RECD_E_BAD_INPUT (`why`) when the target is not absent or
 * empty, or the backup is of a newer schema than this recd, nothing written; RECD_E_IO with `why`
 * naming the file when the backup is unfinished or altered (nothing written), or when the copy
 * failed.
 */
int recd_restore_run(const struct recd_restore_opts *o, struct recd_restore_stats *st, char *why,
                     size_t why_n);

/* The manifest reader, apart so that it can be fuzzed (fuzz/fuzz_backup_manifest.c). */

struct recd_manifest_head {
    int64_t format;
    int64_t schema_version;
    char recd_version[64];
    char created[40];
};

struct recd_manifest_file {
    char path[80]; /* "recd.db", "seal.key" or "media/ab/cd/<key>" with a valid key of that shard */
    int64_t size;
    char sha256[65];
};

/** Called for each file line, in order; returning non-zero stops the walk with that value. */
typedef int (*recd_manifest_file_cb)(void *ctx, const struct recd_manifest_file *f);

/**
 * Reads a whole manifest p[0…n): the head, the file lines (each passed to `cb`, which may be NULL),
 * the end line, nothing after it; checks the end's count, byte total and digest, that every path
 * is one a backup writes (no other path is ever opened), that recd.db appears once and seal.key at
 * most once. 0, a non-zero value `cb` returned, or RECD_E_BAD_INPUT with the reason (and line) in
 * `why`.
 */
int recd_backup_manifest_parse(const char *p, size_t n, struct recd_manifest_head *head,
                               recd_manifest_file_cb cb, void *ctx, char *why, size_t why_n);

#endif
