#include "store/sqlite_snapshot.h"

#include "core/error.h"
#include "core/file.h"
#include "core/log.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* How long a snapshot waits, in all, for a source that is busy (WAL recovery by another process). */
#define SNAPSHOT_BUSY_MS 10000

static int fail(sqlite3 *db, const char *step, const char *path)
{
    recd_log_error("store snapshot: %s %s: %s", step, path, db ? sqlite3_errmsg(db) : "out of memory");
    return RECD_E_IO;
}

/* fsyncs the file `path` and the directory that holds it. 0 or RECD_E_IO (logged). */
static int sync_file_and_dir(const char *path)
{
    char dir[PATH_MAX];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || recd_fsync(fd) < 0) {
        recd_log_error("store snapshot: fsync %s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return RECD_E_IO;
    }
    close(fd);
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash == dir)
        slash[1] = '\0';
    else if (slash)
        *slash = '\0';
    else
        snprintf(dir, sizeof dir, ".");
    fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || recd_fsync(fd) < 0) {
        recd_log_error("store snapshot: fsync %s: %s", dir, strerror(errno));
        if (fd >= 0)
            close(fd);
        return RECD_E_IO;
    }
    close(fd);
    return 0;
}

/*
 * One backup step of -1 copies every page under a single read transaction of the source, which
 * is what makes the copy consistent; with WAL, writers go on meanwhile. BUSY or LOCKED means the
 * read transaction could not start yet (another connection runs WAL recovery): wait and retry.
 * The copy is then switched to a rollback journal, so that it is one self-contained file with no
 * -wal beside it, and its user_version read.
 */
int recd_store_sqlite_snapshot(const char *src_path, const char *dst_path, int64_t *schema_version)
{
    sqlite3 *src = NULL, *dst = NULL;
    sqlite3_backup *bk = NULL;
    struct stat st;
    int rc = RECD_E_IO;

    if (stat(src_path, &st) < 0)
        return errno == ENOENT ? RECD_E_NOT_FOUND : RECD_E_IO;
    /* Created here, exclusively, so that an existing file is never overwritten. */
    int fd = open(dst_path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        if (errno == EEXIST)
            return RECD_E_EXISTS;
        recd_log_error("store snapshot: create %s: %s", dst_path, strerror(errno));
        return RECD_E_IO;
    }
    close(fd);

    if (sqlite3_open_v2(src_path, &src, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
        rc = fail(src, "open", src_path);
        goto out;
    }
    sqlite3_busy_timeout(src, SNAPSHOT_BUSY_MS);
    if (sqlite3_open_v2(dst_path, &dst, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
        rc = fail(dst, "open", dst_path);
        goto out;
    }
    bk = sqlite3_backup_init(dst, "main", src, "main");
    if (!bk) {
        rc = fail(dst, "start backup of", src_path);
        goto out;
    }
    int step;
    for (int waited = 0;; waited += 50) {
        step = sqlite3_backup_step(bk, -1);
        if ((step != SQLITE_BUSY && step != SQLITE_LOCKED) || waited >= SNAPSHOT_BUSY_MS)
            break;
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    int fin = sqlite3_backup_finish(bk);
    if (step != SQLITE_DONE || fin != SQLITE_OK) {
        recd_log_error("store snapshot: copy %s: %s", src_path,
                       sqlite3_errstr(step != SQLITE_DONE ? step : fin));
        goto out;
    }
    if (sqlite3_exec(dst, "PRAGMA journal_mode = DELETE", NULL, NULL, NULL) != SQLITE_OK) {
        rc = fail(dst, "journal mode of", dst_path);
        goto out;
    }
    sqlite3_stmt *q = NULL;
    if (sqlite3_prepare_v2(dst, "PRAGMA user_version", -1, &q, NULL) != SQLITE_OK ||
        sqlite3_step(q) != SQLITE_ROW) {
        sqlite3_finalize(q);
        rc = fail(dst, "schema version of", dst_path);
        goto out;
    }
    *schema_version = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    rc = 0;
out:
    if (dst && sqlite3_close(dst) != SQLITE_OK && rc == 0)
        rc = fail(dst, "close", dst_path);
    if (src)
        sqlite3_close(src);
    if (rc == 0)
        rc = sync_file_and_dir(dst_path);
    return rc;
}
