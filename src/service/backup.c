#include "service/backup.h"

#include "core/buf.h"
#include "core/error.h"
#include "core/file.h"
#include "core/log.h"
#include "core/sid.h"
#include "core/tally.h"
#include "core/time.h"
#include "ops/build_info.h"
#include "service/audit.h"
#include "service/backup_internal.h"
#include "service/service.h"
#include "store/sqlite_snapshot.h"
#include "store/store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/evp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/*
 * `recd backup`. The order is what makes it consistent without stopping the server:
 *
 *  1. The store is snapshot first, in one read transaction: every recording acknowledged before
 *     the command started is in it (an import's rows commit only after its media is durable).
 *  2. Then the media of every recording the snapshot says has some is linked (or copied) from the
 *     data folder. Published media files are never written again (blob_fs.c: a put writes a new
 *     file and renames it over the name, a delete unlinks), so a hard link is a frozen copy.
 *  3. A recording deleted after the snapshot may have lost its media before step 2 reached it;
 *     the live store then says it is deleted, and the backup's copy of the row is marked deleted
 *     too, as if the snapshot had been taken a moment later. Nothing else is changed in it.
 *  4. Everything is made durable (syncfs of the target), and only then is the manifest written
 *     under a temporary name, fsynced, renamed and its folder fsynced: the mark of a finished
 *     backup. A backup killed at any point before has no manifest, and restore refuses it.
 */

#define PROGRESS_US 200000 /* how often the progress line is redrawn */

struct run {
    const struct recd_backup_opts *o;
    struct recd_backup_stats *st;
    struct recd_ctx live;
    struct recd_store *snap;
    int live_media; /* the data folder's media/ */
    int to;         /* the backup folder */
    int to_media;   /* its media/ */
    FILE *man;      /* the manifest being written, under its temporary name */
    EVP_MD_CTX *md; /* digest of every manifest byte written so far */
    int64_t total;  /* recordings with media in the snapshot */
    int64_t done;
    int64_t last_draw_us;
    int64_t stop_after; /* test hook, see below; 0 = off */
    int err;            /* what stopped the scan of the snapshot, or 0 */
    char (*deleted)[RECD_SID_LEN + 1];
    size_t ndeleted, cap_deleted;
    char *why;
    size_t why_n;
};

static int failf(struct run *r, int rc, const char *fmt, const char *arg)
{
    snprintf(r->why, r->why_n, fmt, arg);
    return rc;
}

/* Appends one line to the manifest and to its running digest. */
static int man_line(struct run *r, const char *line, size_t n)
{
    if (fwrite(line, 1, n, r->man) != n)
        return RECD_E_IO;
    EVP_DigestUpdate(r->md, line, n);
    return 0;
}

static int man_file(struct run *r, const char *path, int64_t size, const char *sha)
{
    char line[256];
    int n = snprintf(line, sizeof line, "{\"path\":\"%s\",\"size\":%lld,\"sha256\":\"%s\"}\n", path,
                     (long long)size, sha);
    r->st->files++;
    r->st->bytes += size;
    return man_line(r, line, (size_t)n);
}

int recd_backup_progress_due(const void *out, int64_t *last_draw_us, int last)
{
    if (!out)
        return 0;
    int64_t now = recd_now_us();
    if (!last && now - *last_draw_us < PROGRESS_US)
        return 0;
    *last_draw_us = now;
    return 1;
}

static void draw(struct run *r, int last)
{
    if (!recd_backup_progress_due(r->o->progress, &r->last_draw_us, last))
        return;
    int pct = r->total ? (int)(r->done * 100 / r->total) : 100;
    fprintf(r->o->progress, "\rbackup: %lld/%lld recordings (%d%%), %lld files, %.1f MB%s",
            (long long)r->done, (long long)r->total, pct, (long long)r->st->files, (double)r->st->bytes / 1e6,
            last ? "\n" : "");
    fflush(r->o->progress);
}

/* mkdirat that accepts an existing directory. */
static int ensure_dir(int at, const char *name)
{
    return mkdirat(at, name, 0700) == 0 || errno == EEXIST ? 0 : -1;
}

/*
 * Puts the media file `key` of the data folder into the backup: a hard link, or a copy when the
 * file systems differ (or links are refused, or --copy). Returns 0; 1 when the file is not there
 * (deleted meanwhile); or -1 with errno set.
 */
static int take_file(struct run *r, const char *key)
{
    char rel[RECD_MEDIA_KEY_MAX + 8], l1[3] = {key[2], key[3], 0},
                                      l12[6] = {key[2], key[3], '/', key[4], key[5], 0};
    snprintf(rel, sizeof rel, "%s/%s", l12, key);
    if (ensure_dir(r->to_media, l1) < 0 || ensure_dir(r->to_media, l12) < 0)
        return -1;
    if (!r->o->copy) {
        if (linkat(r->live_media, rel, r->to_media, rel, 0) == 0) {
            r->st->linked++;
            return 0;
        }
        if (errno == ENOENT)
            return 1;
        if (errno != EXDEV && errno != EPERM && errno != EMLINK && errno != EOPNOTSUPP)
            return -1;
    }
    int in = openat(r->live_media, rel, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return errno == ENOENT ? 1 : -1;
    int out = openat(r->to_media, rel, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    int rc = out < 0 ? -1 : recd_backup_copy_fd(in, out);
    int e = errno;
    close(in);
    if (out >= 0)
        close(out);
    errno = e;
    if (rc == 0)
        r->st->copied++;
    return rc;
}

/* A recording's keys, collected first: scan_sid must not be walked while files are being made.
 * A recording has a handful (its WAV, MP3s, downmix, a waveform per SamplesPerPixel asked). */
struct keys {
    char (*k)[RECD_MEDIA_KEY_MAX];
    int n, cap, oom;
};

static int collect_key(void *ctx, const char *key, int64_t size)
{
    (void)size;
    struct keys *ks = ctx;
    if (ks->n == ks->cap) {
        int cap = ks->cap ? ks->cap * 2 : 16;
        void *p = realloc(ks->k, (size_t)cap * sizeof *ks->k);
        if (!p) {
            ks->oom = 1;
            return 1;
        }
        ks->k = p;
        ks->cap = cap;
    }
    snprintf(ks->k[ks->n++], RECD_MEDIA_KEY_MAX, "%s", key);
    return 0;
}

static int remember_deleted(struct run *r, const char *sid)
{
    if (r->ndeleted == r->cap_deleted) {
        size_t cap = r->cap_deleted ? r->cap_deleted * 2 : 16;
        void *p = realloc(r->deleted, cap * sizeof *r->deleted);
        if (!p)
            return RECD_E_INTERNAL;
        r->deleted = p;
        r->cap_deleted = cap;
    }
    snprintf(r->deleted[r->ndeleted++], RECD_SID_LEN + 1, "%s", sid);
    return 0;
}

/* Hashes the backup's copy of `key` and lists it; `want` (the WAV's digest in its row) or NULL. */
static int list_media(struct run *r, const char *key, const char *want)
{
    char rel[RECD_MEDIA_KEY_MAX + 16], hex[65];
    snprintf(rel, sizeof rel, "%.2s/%.2s/%s", key + 2, key + 4, key);
    int fd = openat(r->to_media, rel, O_RDONLY | O_CLOEXEC);
    struct stat sb;
    if (fd < 0 || fstat(fd, &sb) < 0 || recd_file_sha256(fd, (int64_t)sb.st_size, hex) < 0) {
        if (fd >= 0)
            close(fd);
        return failf(r, RECD_E_IO, "cannot read back media/%s in the backup", rel);
    }
    close(fd);
    if (want && strcmp(hex, want) != 0) {
        r->st->damaged++;
        fprintf(stderr,
                "recd: backup: media %s differs from what its recording stored (as in the data folder; "
                "see recd fsck)\n",
                key);
    }
    char path[RECD_MEDIA_KEY_MAX + 24];
    snprintf(path, sizeof path, "media/%s", rel);
    return man_file(r, path, (int64_t)sb.st_size, hex) < 0
               ? failf(r, RECD_E_IO, "%s", "cannot write the manifest")
               : 0;
}

/*
 * One recording of the snapshot with media: its WAV first (without it the recording cannot be
 * in the backup as it is), then every derived file the data folder holds for it.
 */
static int take_recording(void *ctx, const struct recd_recording *rec)
{
    struct run *r = ctx;
    if (!recd_recording_has_media(rec))
        return 0;
    char wav[RECD_MEDIA_KEY_MAX];
    recd_media_key(wav, rec->sid, ".wav");
    int t = take_file(r, wav);
    if (t < 0) {
        r->err = failf(r, RECD_E_IO, "cannot link or copy media of %s", rec->sid);
        return 1;
    }
    if (t == 1) {
        /* Gone since the snapshot: deleted meanwhile (step 3 above), or missing in the data
         * folder too, which the backup keeps as it is (fsck reports it there and here). */
        struct recd_recording now;
        int g = r->live.store->ops->recording_get(r->live.store, rec->sid, &now);
        if (g == RECD_E_NOT_FOUND || (g == 0 && !recd_recording_has_media(&now))) {
            r->st->deleted++;
            r->err = remember_deleted(r, rec->sid);
            return r->err != 0;
        }
        if (g < 0) {
            r->err = failf(r, RECD_E_IO, "cannot read recording %s in the store", rec->sid);
            return 1;
        }
        r->st->damaged++;
        fprintf(stderr, "recd: backup: recording %s has no media in the data folder (see recd fsck)\n",
                rec->sid);
        return 0;
    }
    int rc = list_media(r, wav, rec->media_sha256);
    struct keys ks = {.n = 0};
    if (rc == 0 && (r->live.blob->ops->scan_sid(r->live.blob, rec->sid, collect_key, &ks) < 0 || ks.oom))
        rc = failf(r, RECD_E_IO, "cannot list the media of %s", rec->sid);
    for (int i = 0; rc == 0 && i < ks.n; i++) {
        if (strcmp(ks.k[i], wav) == 0)
            continue;
        t = take_file(r, ks.k[i]);
        if (t < 0)
            rc = failf(r, RECD_E_IO, "cannot link or copy media %s", ks.k[i]);
        else if (t == 0) /* a derived file removed meanwhile is made again when asked for */
            rc = list_media(r, ks.k[i], NULL);
    }
    free(ks.k);
    r->st->recordings++;
    r->done++;
    draw(r, 0);
    /* A test hook: the process stops itself here, so that a test can kill it mid-backup at a
     * known point without timing anything (tests/e2e/test_backup.py). */
    if (r->stop_after && r->done == r->stop_after)
        raise(SIGSTOP);
    /* A scan ends quietly when its callback says stop, so the error waits in the run. */
    r->err = rc;
    return rc != 0;
}

static int count_recording(void *ctx, const struct recd_recording *rec)
{
    struct run *r = ctx;
    r->total += recd_recording_has_media(rec);
    return 0;
}

/* Copies the data folder's seal.key into the backup and lists it; absent: nothing to list. */
static int take_seal_key(struct run *r)
{
    char src[PATH_MAX];
    snprintf(src, sizeof src, "%s/seal.key", r->o->data_dir);
    int in = open(src, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (in < 0)
        return errno == ENOENT ? 0 : failf(r, RECD_E_IO, "cannot read %s", src);
    int out = openat(r->to, "seal.key", O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    char hex[65];
    struct stat sb;
    int rc = out < 0 || recd_backup_copy_fd(in, out) < 0 || fstat(out, &sb) < 0 ||
                     recd_file_sha256(out, (int64_t)sb.st_size, hex) < 0
                 ? -1
                 : 0;
    close(in);
    if (out >= 0)
        close(out);
    if (rc < 0)
        return failf(r, RECD_E_IO, "%s", "cannot copy seal.key into the backup");
    return man_file(r, "seal.key", (int64_t)sb.st_size, hex);
}

/*
 * Copies the audit record (DATA/audit/, service/audit.h) into the backup and lists it: who read
 * and deleted what must outlive the node as the recordings do. Copied, never linked, since the
 * current file is still being appended to; it is taken as far as it is written now (a line cut
 * at the end is one `recd audit` skips, and the next backup has it whole). No folder: nothing.
 */
static int take_audit(struct run *r)
{
    char src[PATH_MAX];
    snprintf(src, sizeof src, "%s/audit", r->o->data_dir);
    DIR *d = opendir(src);
    if (!d)
        return errno == ENOENT ? 0 : failf(r, RECD_E_IO, "cannot read %s", src);
    int dfd = dirfd(d), rc = 0, made = 0;
    struct dirent *e;
    while (rc == 0 && (e = readdir(d)) != NULL) {
        if (!recd_audit_file_name_ok(e->d_name))
            continue;
        if (!made && ensure_dir(r->to, "audit") < 0) {
            rc = failf(r, RECD_E_IO, "%s", "cannot make audit/ in the backup");
            break;
        }
        made = 1;
        char path[sizeof "audit/" + sizeof e->d_name], hex[65]; /* the name is checked shorter */
        snprintf(path, sizeof path, "audit/%s", e->d_name);
        int in = openat(dfd, e->d_name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (in < 0 && errno == ENOENT)
            continue; /* removed by the writer's sweep meanwhile */
        int out = in < 0 ? -1 : openat(r->to, path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        struct stat sb;
        int ok = out >= 0 && recd_backup_copy_fd(in, out) == 0 && fstat(out, &sb) == 0 &&
                 recd_file_sha256(out, (int64_t)sb.st_size, hex) == 0;
        if (in >= 0)
            close(in);
        if (out >= 0)
            close(out);
        rc = ok ? man_file(r, path, (int64_t)sb.st_size, hex)
                : failf(r, RECD_E_IO, "cannot copy the data folder's %s into the backup", path);
    }
    closedir(d);
    return rc;
}

/* Lists the snapshot, once it is final. */
static int list_db(struct run *r)
{
    char hex[65];
    struct stat sb;
    int fd = openat(r->to, "recd.db", O_RDONLY | O_CLOEXEC);
    int ok = fd >= 0 && fstat(fd, &sb) == 0 && recd_file_sha256(fd, (int64_t)sb.st_size, hex) == 0;
    if (fd >= 0)
        close(fd);
    if (!ok || faccessat(r->to, "recd.db-wal", F_OK, 0) == 0)
        return failf(r, RECD_E_IO, "%s", "cannot read back the store's snapshot");
    return man_file(r, "recd.db", (int64_t)sb.st_size, hex);
}

/* Checks the target: absent (created here) or an empty directory. 0 or RECD_E_BAD_INPUT. */
static int prepare_target(struct run *r)
{
    const char *to = r->o->to;
    if (mkdir(to, 0700) < 0) {
        if (errno != EEXIST)
            return failf(r, RECD_E_BAD_INPUT, "cannot create the backup folder %s", to);
        DIR *d = opendir(to);
        if (!d)
            return failf(r, RECD_E_BAD_INPUT, "%s is not a folder recd can write", to);
        struct dirent *de;
        int empty = 1;
        while ((de = readdir(d)))
            if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
                empty = 0;
        closedir(d);
        if (!empty)
            return failf(r, RECD_E_BAD_INPUT, "the backup folder %s is not empty", to);
    }
    r->to = open(to, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (r->to < 0 || ensure_dir(r->to, "media") < 0 ||
        (r->to_media = openat(r->to, "media", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
        return failf(r, RECD_E_IO, "cannot write in the backup folder %s", to);
    return 0;
}

/* The manifest's head, as the snapshot gives it. */
static int start_manifest(struct run *r)
{
    int fd = openat(r->to, RECD_BACKUP_MANIFEST ".tmp", O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                    0600);
    if (fd < 0 || !(r->man = fdopen(fd, "w")) || !(r->md = EVP_MD_CTX_new()) ||
        !EVP_DigestInit_ex(r->md, EVP_sha256(), NULL)) {
        if (fd >= 0 && !r->man)
            close(fd);
        return failf(r, RECD_E_IO, "%s", "cannot create the manifest");
    }
    char created[32], line[512];
    time_t now = time(NULL);
    struct tm tm;
    strftime(created, sizeof created, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
    int n = snprintf(line, sizeof line,
                     "{\"recd_backup\":%d,\"recd_version\":\"%s\",\"commit\":\"%s\",\"schema_version\":%lld,"
                     "\"created\":\"%s\",\"store\":\"sqlite\",\"media\":\"files\"}\n",
                     RECD_BACKUP_FORMAT, RECD_BUILD_VERSION, RECD_BUILD_COMMIT,
                     (long long)r->st->schema_version, created);
    return man_line(r, line, (size_t)n);
}

/* The end line, then the manifest made durable under its own name: the backup is finished. */
static int finish_manifest(struct run *r)
{
    unsigned char d[32];
    unsigned dn = 0;
    char hex[65], line[256];
    EVP_DigestFinal_ex(r->md, d, &dn);
    recd_hex(hex, d, sizeof d);
    int n = snprintf(line, sizeof line, "{\"end\":true,\"files\":%lld,\"bytes\":%lld,\"sha256\":\"%s\"}\n",
                     (long long)r->st->files, (long long)r->st->bytes, hex);
    int bad = fwrite(line, 1, (size_t)n, r->man) != (size_t)n || fflush(r->man) != 0 ||
              recd_fsync(fileno(r->man)) < 0;
    bad |= fclose(r->man) != 0;
    r->man = NULL;
    if (bad || renameat(r->to, RECD_BACKUP_MANIFEST ".tmp", r->to, RECD_BACKUP_MANIFEST) < 0 ||
        recd_fsync(r->to) < 0)
        return failf(r, RECD_E_IO, "%s", "cannot write the manifest");
    return 0;
}

/* The data folder's "backup" tally: its last_success is what /metrics reports. Best effort: the
 * backup itself is finished, and a failure here is only logged (by the tally). */
static void note_success(struct run *r)
{
    struct recd_tally_field f[] = {{"last_success", (int64_t)time(NULL), 1}, {"runs", 1, 0}};
    recd_tally_add(r->o->data_dir, RECD_BACKUP_TALLY, f, sizeof f / sizeof f[0]);
}

/* Long because it is the backup's whole order (see the top of the file), step after step, with
 * one way out that releases whatever was taken. */
int recd_backup_run(const struct recd_backup_opts *o, struct recd_backup_stats *st, char *why, size_t why_n)
{
    struct run r = {.o = o, .st = st, .live_media = -1, .to = -1, .to_media = -1, .why = why, .why_n = why_n};
    char db[PATH_MAX], snap[PATH_MAX];
    int rc;
    memset(st, 0, sizeof *st);
    why[0] = '\0';
    const char *hook = getenv("RECD_TEST_BACKUP_STOP_AFTER");
    r.stop_after = hook ? atoll(hook) : 0;

    if (o->store && recd_store_is_pg(o->store))
        return failf(
            &r, RECD_E_BAD_INPUT, "%s",
            "backup: the store is PostgreSQL: back it up with pg_dump or base backups and WAL archiving "
            "(point-in-time recovery), the media bucket with versioning or replication "
            "(docs/operations.md)");
    snprintf(db, sizeof db, "%s", o->store ? o->store : "");
    if (!o->store && snprintf(db, sizeof db, "%s/recd.db", o->data_dir) >= (int)sizeof db)
        return failf(&r, RECD_E_BAD_INPUT, "%s", "the data folder's path is too long");
    struct stat sb;
    if (stat(db, &sb) < 0 || !S_ISREG(sb.st_mode))
        return failf(&r, RECD_E_BAD_INPUT, "no store at %s: is --data the data folder?", db);
    if ((rc = prepare_target(&r)) < 0)
        goto out;
    /* Opened only now, with the store known to exist: opening never creates a data folder here. */
    if (recd_ctx_open_store(o->data_dir, o->store, &r.live) < 0) {
        rc = failf(&r, RECD_E_IO, "cannot open the data folder %s", o->data_dir);
        goto out;
    }
    snprintf(snap, sizeof snap, "%s/media", o->data_dir);
    if ((r.live_media = open(snap, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
        rc = failf(&r, RECD_E_IO, "cannot open %s", snap);
        goto out;
    }

    snprintf(snap, sizeof snap, "%s/recd.db", o->to);
    if ((rc = recd_store_sqlite_snapshot(db, snap, &st->schema_version)) < 0) {
        failf(&r, rc, "cannot take a snapshot of the store %s", db);
        goto out;
    }
    if ((rc = start_manifest(&r)) < 0)
        goto out;
    if ((rc = recd_store_sqlite_open(snap, &r.snap)) < 0) {
        failf(&r, rc, "%s", "cannot open the store's snapshot");
        goto out;
    }
    rc = r.snap->ops->recording_scan(r.snap, count_recording, &r);
    if (rc == 0)
        rc = r.snap->ops->recording_scan(r.snap, take_recording, &r);
    if (rc == 0)
        rc = r.err;
    if (rc < 0) {
        if (!why[0])
            failf(&r, rc, "%s", "cannot read the store's snapshot");
        goto out;
    }
    draw(&r, 1);
    for (size_t i = 0; i < r.ndeleted && rc == 0; i++) {
        rc = r.snap->ops->recording_mark_deleted(r.snap, r.deleted[i], recd_now_us());
        if (rc == RECD_E_NOT_FOUND)
            rc = 0;
    }
    r.snap->ops->close(r.snap);
    r.snap = NULL;
    if (rc < 0) {
        failf(&r, rc, "%s", "cannot mark in the snapshot the recordings deleted meanwhile");
        goto out;
    }
    if ((rc = list_db(&r)) < 0 || (rc = take_seal_key(&r)) < 0 || (rc = take_audit(&r)) < 0)
        goto out;
    /* One flush of the target's file system makes every link, copy and folder durable. */
    if (syncfs(r.to) < 0) {
        rc = failf(&r, RECD_E_IO, "cannot flush the backup folder %s", o->to);
        goto out;
    }
    if ((rc = finish_manifest(&r)) < 0)
        goto out;
    note_success(&r);
out:
    if (r.snap)
        r.snap->ops->close(r.snap);
    if (r.man)
        fclose(r.man);
    EVP_MD_CTX_free(r.md);
    free(r.deleted);
    if (r.live.store || r.live.blob)
        recd_ctx_close(&r.live);
    if (r.live_media >= 0)
        close(r.live_media);
    if (r.to_media >= 0)
        close(r.to_media);
    if (r.to >= 0)
        close(r.to);
    return rc;
}
