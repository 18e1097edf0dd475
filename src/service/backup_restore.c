#include "core/error.h"
#include "core/file.h"
#include "core/log.h"
#include "core/time.h"
#include "service/backup.h"
#include "service/backup_internal.h"
#include "service/service.h"
#include "store/sqlite_snapshot.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/*
 * `recd restore`. Three passes over the manifest's files, so that a backup that is unfinished or
 * altered is refused before anything is written, and a copy that went wrong is caught before the
 * folder is called restored:
 *
 *  1. check: every file of the backup has the size and SHA-256 the manifest says;
 *  2. copy: each file into the new folder (the store last, under a temporary name), then one
 *     syncfs makes them all durable;
 *  3. verify: every copy read back from the new folder against the manifest; then the store is
 *     renamed to recd.db, and fsck runs on the result.
 *
 * A restore killed midway leaves a new folder without recd.db: not empty, so a second restore
 * refuses it until it is removed, and never mistaken for a data folder with an empty store.
 */

#define MANIFEST_MAX (INT64_C(1) << 31) /* ~15 million files; far beyond any real backup */
#define DB_TMP       "recd.db.restoring"

int recd_backup_copy_fd(int in, int out)
{
    char *buf = NULL;
    for (;;) {
        ssize_t r = copy_file_range(in, NULL, out, NULL, 1 << 30, 0);
        if (r > 0)
            continue;
        if (r == 0)
            return 0;
        if (errno == EINTR)
            continue;
        if (errno != EXDEV && errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP)
            return -1;
        break;
    }
    /* copy_file_range cannot work here (another file system on an old kernel): read and write. */
    if (!(buf = malloc(1 << 20)))
        return -1;
    for (;;) {
        ssize_t r = read(in, buf, 1 << 20);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0 || recd_write_all(out, buf, (size_t)r) < 0) {
            int e = errno;
            free(buf);
            errno = e;
            return r == 0 ? 0 : -1;
        }
    }
}

enum pass { CHECK, COPY, VERIFY };

struct rst {
    const struct recd_restore_opts *o;
    struct recd_restore_stats *st;
    enum pass pass;
    int from, to;
    int64_t files, total, last_draw_us;
    char *why;
    size_t why_n;
};

static void draw(struct rst *r, int last)
{
    if (!recd_backup_progress_due(r->o->progress, &r->last_draw_us, last))
        return;
    static const char *const names[] = {"checking the backup", "copying", "verifying the copy"};
    fprintf(r->o->progress, "\rrestore: %s: %lld/%lld files%s", names[r->pass], (long long)r->files,
            (long long)r->total, last ? "\n" : "");
    fflush(r->o->progress);
}

/* Whether the file `path` under `dirfd` has the size and digest `f` says. 0 or RECD_E_IO with `why`. */
static int check_file(struct rst *r, int dirfd, const char *path, const struct recd_manifest_file *f,
                      const char *where)
{
    char hex[65];
    struct stat sb;
    int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        snprintf(r->why, r->why_n, "%s: %s is missing", where, f->path);
        return RECD_E_IO;
    }
    int rc = 0;
    if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode) || (int64_t)sb.st_size != f->size) {
        snprintf(r->why, r->why_n, "%s: %s is %lld bytes, the manifest says %lld", where, f->path,
                 (long long)sb.st_size, (long long)f->size);
        rc = RECD_E_IO;
    } else if (recd_file_sha256(fd, f->size, hex) < 0 || strcmp(hex, f->sha256) != 0) {
        snprintf(r->why, r->why_n, "%s: %s does not have the SHA-256 the manifest says: it was altered",
                 where, f->path);
        rc = RECD_E_IO;
    }
    close(fd);
    return rc;
}

static int copy_file(struct rst *r, const struct recd_manifest_file *f)
{
    const char *dst = strcmp(f->path, "recd.db") == 0 ? DB_TMP : f->path;
    if (strncmp(f->path, "audit/", 6) == 0 && mkdirat(r->to, "audit", 0700) < 0 && errno != EEXIST)
        goto fail;
    if (strncmp(f->path, "media/", 6) == 0) {
        char d[16];
        snprintf(d, sizeof d, "%.8s", f->path); /* media/ab */
        if ((mkdirat(r->to, d, 0700) < 0 && errno != EEXIST))
            goto fail;
        snprintf(d, sizeof d, "%.11s", f->path); /* media/ab/cd */
        if ((mkdirat(r->to, d, 0700) < 0 && errno != EEXIST))
            goto fail;
    }
    int in = openat(r->from, f->path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (in < 0)
        goto fail;
    int out = openat(r->to, dst, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    int rc = out < 0 ? -1 : recd_backup_copy_fd(in, out);
    close(in);
    if (out >= 0)
        close(out);
    if (rc == 0)
        return 0;
fail:
    snprintf(r->why, r->why_n, "cannot copy %s into %s: %s", f->path, r->o->data_dir, strerror(errno));
    return RECD_E_IO;
}

static int on_file(void *ctx, const struct recd_manifest_file *f)
{
    struct rst *r = ctx;
    int rc;
    if (r->pass == CHECK)
        rc = check_file(r, r->from, f->path, f, "the backup is damaged");
    else if (r->pass == COPY)
        rc = copy_file(r, f);
    else
        rc = check_file(r, r->to, strcmp(f->path, "recd.db") == 0 ? DB_TMP : f->path, f,
                        "the restored copy differs from the backup");
    if (rc == 0 && r->pass == VERIFY) {
        r->st->files++;
        r->st->bytes += f->size;
    }
    r->files++;
    draw(r, 0);
    return rc;
}

/* Reads the manifest of the backup folder whole. 0, or RECD_E_IO with `why`. */
static int read_manifest(struct rst *r, char **text, size_t *n)
{
    struct stat sb;
    int fd = openat(r->from, RECD_BACKUP_MANIFEST, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        snprintf(r->why, r->why_n, "%s is not a finished backup: it has no %s (was the backup stopped?)",
                 r->o->from, RECD_BACKUP_MANIFEST);
        return RECD_E_IO;
    }
    int rc = RECD_E_IO;
    *text = NULL;
    if (fstat(fd, &sb) == 0 && sb.st_size < MANIFEST_MAX && (*text = malloc((size_t)sb.st_size + 1)) &&
        recd_read_exact(fd, *text, (size_t)sb.st_size) == 0) {
        *n = (size_t)sb.st_size;
        rc = 0;
    } else {
        snprintf(r->why, r->why_n, "cannot read %s/%s", r->o->from, RECD_BACKUP_MANIFEST);
    }
    close(fd);
    return rc;
}

/* The new data folder: absent (created) or empty. 0 or RECD_E_BAD_INPUT with `why`. */
static int check_target(struct rst *r, int create)
{
    const char *dir = r->o->data_dir;
    DIR *d = opendir(dir);
    if (!d && errno == ENOENT) {
        if (!create)
            return 0;
        if (mkdir(dir, 0700) < 0) {
            snprintf(r->why, r->why_n, "cannot create the data folder %s: %s", dir, strerror(errno));
            return RECD_E_BAD_INPUT;
        }
        return 0;
    }
    if (!d) {
        snprintf(r->why, r->why_n, "%s is not a folder recd can write", dir);
        return RECD_E_BAD_INPUT;
    }
    struct dirent *de;
    int empty = 1;
    while ((de = readdir(d)))
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
            empty = 0;
    closedir(d);
    if (!empty) {
        snprintf(r->why, r->why_n, "the data folder %s is not empty: restore only into a new or empty folder",
                 dir);
        return RECD_E_BAD_INPUT;
    }
    return 0;
}

/* Long because it is the restore's three passes and the fsck after them, in order, with one way
 * out. */
int recd_restore_run(const struct recd_restore_opts *o, struct recd_restore_stats *st, char *why,
                     size_t why_n)
{
    struct rst r = {.o = o, .st = st, .from = -1, .to = -1, .why = why, .why_n = why_n};
    struct recd_manifest_head head;
    char *text = NULL;
    size_t n = 0;
    int rc;
    memset(st, 0, sizeof *st);
    why[0] = '\0';

    if ((rc = check_target(&r, 0)) < 0)
        return rc;
    r.from = open(o->from, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (r.from < 0) {
        snprintf(why, why_n, "%s is not a folder recd can read", o->from);
        return RECD_E_BAD_INPUT;
    }
    if ((rc = read_manifest(&r, &text, &n)) < 0)
        goto out;
    /* A first parse, without files, checks the manifest whole (its end and its digest) and counts. */
    char mwhy[200];
    rc = recd_backup_manifest_parse(text, n, &head, NULL, NULL, mwhy, sizeof mwhy);
    if (rc < 0) {
        snprintf(why, why_n, "%s is not a usable backup: %s", o->from, mwhy);
        rc = RECD_E_IO;
        goto out;
    }
    if (head.schema_version > recd_store_sqlite_schema_version()) {
        snprintf(why, why_n,
                 "the backup's store has schema version %lld; this recd knows up to %lld: restore it "
                 "with recd %s or newer",
                 (long long)head.schema_version, (long long)recd_store_sqlite_schema_version(),
                 head.recd_version);
        rc = RECD_E_BAD_INPUT;
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        r.total += text[i] == '\n';
    r.total -= 2; /* the head and the end */

    for (int p = CHECK; p <= VERIFY; p++) {
        r.pass = (enum pass)p;
        r.files = 0;
        if (p == COPY) {
            if ((rc = check_target(&r, 1)) < 0)
                goto out;
            r.to = open(o->data_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
            if (r.to < 0 || mkdirat(r.to, "media", 0700) < 0) {
                snprintf(why, why_n, "cannot write in %s", o->data_dir);
                rc = RECD_E_IO;
                goto out;
            }
        }
        rc = recd_backup_manifest_parse(text, n, &head, on_file, &r, mwhy, sizeof mwhy);
        draw(&r, 1);
        if (rc < 0)
            goto out;
        if (p == COPY && syncfs(r.to) < 0) {
            snprintf(why, why_n, "cannot flush %s: %s", o->data_dir, strerror(errno));
            rc = RECD_E_IO;
            goto out;
        }
    }
    if (renameat(r.to, DB_TMP, r.to, "recd.db") < 0 || recd_fsync(r.to) < 0) {
        snprintf(why, why_n, "cannot put recd.db in place in %s", o->data_dir);
        rc = RECD_E_IO;
        goto out;
    }

    struct recd_ctx ctx;
    if (recd_ctx_open(o->data_dir, &ctx) < 0) {
        snprintf(why, why_n, "the restored folder %s does not open", o->data_dir);
        rc = RECD_E_IO;
        goto out;
    }
    struct recd_fsck_report rep;
    rc = recd_fsck(&ctx, 0, o->out, &rep);
    recd_ctx_close(&ctx);
    if (rc < 0) {
        snprintf(why, why_n, "fsck of the restored folder %s could not run", o->data_dir);
        goto out;
    }
    st->recordings = rep.recordings;
    st->damaged = rep.damaged;
out:
    free(text);
    if (r.from >= 0)
        close(r.from);
    if (r.to >= 0)
        close(r.to);
    return rc;
}
