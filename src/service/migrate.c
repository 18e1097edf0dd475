#include "service/migrate_internal.h"

#include "core/buf.h"
#include "core/error.h"
#include "core/file.h"
#include "core/sid.h"
#include "core/time.h"
#include "media/blob.h"
#include "media/blob_s3.h"
#include "service/service.h"
#include "store/store.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/*
 * A migration run (migrate.h): the source locked, the targets opened and judged, the rows
 * (migrate_tables.c), then the media object by object with the journal. The journal,
 * DATA/migrate.journal, is a header line (run id, the source's fingerprint, the targets) and one
 * line per object copied and checked ("KEY SIZE SHA256"); it is what makes a run resumable
 * without copying an object twice, and the run id in it is what tells this folder's earlier run
 * from somebody else's data in a target.
 */

#define JOURNAL    "migrate.journal"
#define BATCH_DEF  500
#define JOBS_DEF   4
#define SYNC_EVERY 16
#define DMS_OFFSET 128 /* SQLite's unix VFS: the -shm byte every WAL connection holds shared */
#define HEADER_MAX RECD_MIGRATE_TARGETS_MAX

struct obj {
    char key[RECD_MEDIA_KEY_MAX];
    int64_t size;
};

/* A sorted set of keys (with sizes), for the source, the target and the journal. */
struct keys {
    struct obj *v;
    size_t n, cap;
};

struct run {
    const struct recd_migrate_opts *o;
    struct recd_migrate_stats *st;
    char *why;
    size_t why_n;
    sqlite3 *src;
    int shm_fd;
    PGconn *dst;
    struct recd_blob *from, *to;
    char run_id[RECD_SID_LEN + 1];
    char fingerprint[65];
    char header[HEADER_MAX];
    int resume; /* the journal is this run's, from an earlier attempt */
    int journal_fd;
    int unsynced;
    struct keys journal, source, target;
    int64_t last_bar_us;
    int64_t media_total, media_done;
    const char *table;
    int64_t table_rows;
    struct recd_s3_config cfg; /* the target bucket's, for each worker's handle; zeroed at the end */
    pthread_mutex_t mu;        /* the media workers': journal, counters, next, failed */
    size_t next;               /* the next source key to take */
    int failed;                /* the first worker's error, or 0 */
};

static int key_cmp(const void *a, const void *b)
{
    return strcmp(((const struct obj *)a)->key, ((const struct obj *)b)->key);
}

static int keys_add(struct keys *k, const char *key, int64_t size)
{
    if (strlen(key) >= sizeof k->v[0].key)
        return 0; /* longer than any key recd makes: not one of ours */
    if (k->n == k->cap) {
        size_t cap = k->cap ? 2 * k->cap : 256;
        struct obj *v = realloc(k->v, cap * sizeof *v);
        if (!v)
            return RECD_E_INTERNAL;
        k->v = v;
        k->cap = cap;
    }
    snprintf(k->v[k->n].key, sizeof k->v[k->n].key, "%s", key);
    k->v[k->n++].size = size;
    return 0;
}

static void keys_sort(struct keys *k)
{
    if (k->n)
        qsort(k->v, k->n, sizeof *k->v, key_cmp);
}

static const struct obj *keys_find(const struct keys *k, const char *key)
{
    struct obj probe;
    snprintf(probe.key, sizeof probe.key, "%s", key);
    return k->n ? bsearch(&probe, k->v, k->n, sizeof *k->v, key_cmp) : NULL;
}

static int keys_cb(void *ctx, const char *key, int64_t size)
{
    return keys_add(ctx, key, size) < 0;
}

static int keys_cb_add(void *ctx, const char *key, int64_t size)
{
    return keys_add(ctx, key, size);
}

static int fail(struct run *r, int rc, const char *fmt, const char *a, const char *b)
{
    snprintf(r->why, r->why_n, fmt, a, b);
    return rc;
}

/* --- Progress ------------------------------------------------------------------------------- */

static void bar(struct run *r, int force)
{
    if (!r->o->bar || !r->o->err)
        return;
    int64_t now = recd_now_us();
    if (!force && now - r->last_bar_us < 100000)
        return;
    r->last_bar_us = now;
    if (r->media_total)
        fprintf(r->o->err, "\rmigrate: media %" PRId64 "/%" PRId64 " objects, %.1f MB   ", r->media_done,
                r->media_total, (double)r->st->bytes / 1e6);
    else
        fprintf(r->o->err, "\rmigrate: rows: %-20s %" PRId64 "   ", r->table ? r->table : "", r->table_rows);
    fflush(r->o->err);
}

static void rows_progress(void *ctx, const char *table, int64_t rows)
{
    struct run *r = ctx;
    r->table = table;
    r->table_rows = rows;
    bar(r, 0);
}

/* --- The source ----------------------------------------------------------------------------- */

/*
 * Opens the source and holds its write lock for the whole run: nothing can commit to it until
 * migrate ends, so the rows and the media it copies are one state. Then refuses if any other
 * process has the database open (a server would go on taking requests that fail, or serve a
 * folder that is about to be left): every SQLite connection in WAL mode holds a shared lock on
 * the -shm file's DMS byte, and F_GETLK shows another process's lock (never this process's own).
 * The -shm descriptor stays open until the end: closing a descriptor drops every POSIX lock this
 * process holds on the file, SQLite's included.
 */
static int source_open(struct run *r, const char *path)
{
    struct recd_store *s;
    if (access(path, F_OK) < 0)
        return fail(r, RECD_E_BAD_INPUT, "no store to migrate at %s%s", path, "");
    int rc = recd_store_sqlite_open(path, &s); /* brings an older schema up to date */
    if (rc < 0)
        return fail(r, RECD_E_IO, "cannot open the source store %s%s", path, "");
    s->ops->close(s);
    if (sqlite3_open_v2(path, &r->src, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK)
        return fail(r, RECD_E_IO, "cannot open the source store %s%s", path, "");
    sqlite3_busy_timeout(r->src, 5000);
    if (sqlite3_exec(r->src, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        return fail(r, RECD_E_BAD_INPUT, "the source store %s is in use (busy): stop recd serve first%s",
                    path, "");
    char shm[PATH_MAX + 8];
    snprintf(shm, sizeof shm, "%s-shm", path);
    r->shm_fd = open(shm, O_RDONLY | O_CLOEXEC);
    if (r->shm_fd >= 0) {
        struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = DMS_OFFSET, .l_len = 1};
        if (fcntl(r->shm_fd, F_GETLK, &fl) == 0 && fl.l_type != F_UNLCK) {
            char pid[24];
            snprintf(pid, sizeof pid, "%d", (int)fl.l_pid);
            return fail(r, RECD_E_BAD_INPUT,
                        "the source store is open in process %s (recd serve?): stop it first, migrate "
                        "copies a folder nothing else uses%s",
                        pid, "");
        }
    }
    return 0;
}

/* A digest of the source's state: each table's row count, highest sid and sum of change times.
 * A resumed run must find the same, or the rows copied before would no longer be the source's. */
static int source_fingerprint(struct run *r)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned char d[32];
    unsigned dl = 0;
    if (!md)
        return fail(r, RECD_E_INTERNAL, "out of memory%s%s", "", "");
    EVP_DigestInit_ex(md, EVP_sha256(), NULL);
    int rc = 0;
    for (int i = 0; recd_migrate_tables[i] && rc == 0; i++) {
        char sql[200];
        sqlite3_stmt *st = NULL;
        snprintf(sql, sizeof sql, "SELECT count(*), coalesce(max(sid), ''), total(updated_us) FROM %s",
                 recd_migrate_tables[i]);
        if (sqlite3_prepare_v2(r->src, sql, -1, &st, NULL) != SQLITE_OK) {
            snprintf(sql, sizeof sql, "SELECT count(*), coalesce(max(sid), ''), total(created_us) FROM %s",
                     recd_migrate_tables[i]);
            if (sqlite3_prepare_v2(r->src, sql, -1, &st, NULL) != SQLITE_OK) {
                rc = fail(r, RECD_E_IO, "source store: %s: %s", recd_migrate_tables[i],
                          sqlite3_errmsg(r->src));
                break;
            }
        }
        if (sqlite3_step(st) == SQLITE_ROW) {
            char line[160];
            int n = snprintf(line, sizeof line, "%s %lld %s %.0f\n", recd_migrate_tables[i],
                             (long long)sqlite3_column_int64(st, 0), (const char *)sqlite3_column_text(st, 1),
                             sqlite3_column_double(st, 2));
            EVP_DigestUpdate(md, line, (size_t)n);
        } else {
            rc = fail(r, RECD_E_IO, "source store: %s: %s", recd_migrate_tables[i], sqlite3_errmsg(r->src));
        }
        sqlite3_finalize(st);
    }
    EVP_DigestFinal_ex(md, d, &dl);
    EVP_MD_CTX_free(md);
    for (unsigned i = 0; i < 32; i++)
        snprintf(r->fingerprint + 2 * i, 3, "%02x", d[i]);
    return rc;
}

/* --- The journal ---------------------------------------------------------------------------- */

/*
 * Reads DATA/migrate.journal, if any. Its header names the run, the source's fingerprint and the
 * targets; when the targets are this run's, the run is resumed (the fingerprint must match) and
 * the objects it lists were checked in the target already. A last line cut short by a crash is
 * dropped (truncated away before anything is appended).
 */
static int journal_read(struct run *r, int dirfd, const char *targets)
{
    int fd = openat(dirfd, JOURNAL, O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? 0 : fail(r, RECD_E_IO, "cannot open %s: %s", JOURNAL, strerror(errno));
    struct recd_buf b;
    recd_buf_init(&b, 1 << 16);
    char chunk[1 << 16];
    ssize_t n;
    while ((n = read(fd, chunk, sizeof chunk)) > 0)
        recd_buf_add(&b, chunk, (size_t)n);
    struct recd_migrate_journal_head h;
    size_t at = 0, good = 0;
    if (recd_migrate_journal_head(b.p, b.len, &h, &at) < 0 || strcmp(h.targets, targets) != 0) {
        close(fd); /* another run's journal (other targets) or not one: a new run replaces it */
        recd_buf_free(&b);
        return 0;
    }
    if (strcmp(h.fingerprint, r->fingerprint) != 0) {
        close(fd);
        recd_buf_free(&b);
        return fail(r, RECD_E_BAD_INPUT,
                    "the source changed since the interrupted migration to these targets; empty the "
                    "targets and remove %s/" JOURNAL " to start over%s",
                    r->o->data_dir, "");
    }
    snprintf(r->run_id, sizeof r->run_id, "%s", h.run);
    r->resume = 1;
    int rc = recd_migrate_journal_lines(b.p + at, b.len - at, keys_cb_add, &r->journal, &good);
    good += at;
    if (rc < 0)
        rc = fail(r, rc, "cannot read %s: out of memory%s", JOURNAL, "");
    if (rc == 0 && good < b.len && ftruncate(fd, (off_t)good) < 0)
        rc = fail(r, RECD_E_IO, "cannot repair %s: %s", JOURNAL, strerror(errno));
    if (rc == 0 && lseek(fd, 0, SEEK_END) < 0)
        rc = fail(r, RECD_E_IO, "cannot append to %s: %s", JOURNAL, strerror(errno));
    recd_buf_free(&b);
    keys_sort(&r->journal);
    if (rc < 0) {
        close(fd);
        return rc;
    }
    r->journal_fd = fd;
    return 0;
}

/* A new journal for a new run: its header, durable before any target is written. */
static int journal_create(struct run *r, int dirfd, const char *targets)
{
    int rc = recd_sid_new(r->run_id, "MG");
    if (rc < 0)
        return fail(r, rc, "cannot draw a run id%s%s", "", "");
    int fd = openat(dirfd, JOURNAL, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return fail(r, RECD_E_IO, "cannot create %s: %s", JOURNAL, strerror(errno));
    char line[HEADER_MAX + 128];
    int n = snprintf(line, sizeof line, RECD_MIGRATE_MAGIC " %s %s %s\n", r->run_id, r->fingerprint, targets);
    if (recd_write_all(fd, line, (size_t)n) < 0 || recd_fsync(fd) < 0 || recd_fsync(dirfd) < 0) {
        rc = fail(r, RECD_E_IO, "cannot write %s: %s", JOURNAL, strerror(errno));
        close(fd);
        return rc;
    }
    r->journal_fd = fd;
    return 0;
}

static int journal_add(struct run *r, const char *key, int64_t size, const char *sha)
{
    char line[160];
    int n = snprintf(line, sizeof line, "%s %" PRId64 " %s\n", key, size, sha);
    if (recd_write_all(r->journal_fd, line, (size_t)n) < 0)
        return fail(r, RECD_E_IO, "cannot write %s: %s", JOURNAL, strerror(errno));
    /* Durable in groups: an object checked but not yet in the journal when the run dies is found
     * in the target and checked in place next time, not copied again. */
    if (++r->unsynced >= SYNC_EVERY) {
        r->unsynced = 0;
        if (fdatasync(r->journal_fd) < 0)
            return fail(r, RECD_E_IO, "cannot write %s: %s", JOURNAL, strerror(errno));
    }
    return 0;
}

/* --- The targets ---------------------------------------------------------------------------- */

/* The target store: schema created or brought up to date by the store itself, then judged: it
 * must be empty, or hold this run's mark. */
static int store_target(struct run *r)
{
    char shown[512];
    recd_store_url_redact(r->o->to_store, shown, sizeof shown);
    struct recd_store *s;
    int rc = recd_store_pg_open(r->o->to_store, &s);
    if (rc == RECD_E_UNAVAILABLE)
        return fail(r, rc, "the target store %s does not answer%s", shown, "");
    if (rc < 0)
        return fail(r, rc == RECD_E_BAD_INPUT ? rc : RECD_E_IO, "cannot open the target store %s%s", shown,
                    "");
    s->ops->close(s);
    r->dst = PQconnectdb(r->o->to_store);
    if (PQstatus(r->dst) != CONNECTION_OK)
        return fail(r, RECD_E_UNAVAILABLE, "the target store %s does not answer%s", shown, "");
    PQclear(PQexec(r->dst, "SET client_min_messages = warning"));
    if ((rc = recd_migrate_tables_check(r->src, r->dst, r->why, r->why_n)) < 0)
        return rc;
    PGresult *res = PQexec(r->dst, "SELECT v FROM recd_migrate WHERE k = 'run'");
    const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    int marked = PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1;
    char theirs[64] = "";
    if (marked)
        snprintf(theirs, sizeof theirs, "%s", PQgetvalue(res, 0, 0));
    int absent = !marked && state && strcmp(state, "42P01") == 0; /* undefined_table */
    int bad = PQresultStatus(res) != PGRES_TUPLES_OK && !absent;
    PQclear(res);
    if (bad)
        return fail(r, RECD_E_IO, "the target store %s cannot be read: %s", shown, PQerrorMessage(r->dst));
    if (marked) {
        if (r->resume && strcmp(theirs, r->run_id) == 0)
            return 0;
        return fail(r, RECD_E_BAD_INPUT,
                    "the target store %s holds another migration (run %s), not this folder's: give an empty "
                    "one",
                    shown, theirs);
    }
    int any = recd_migrate_tables_any(r->dst, r->why, r->why_n);
    if (any < 0)
        return any;
    if (any)
        return fail(r, RECD_E_BAD_INPUT, "the target store %s is not empty: give an empty one%s", shown, "");
    return 0;
}

/* The target store's mark: this run's id, committed before any row. */
static int store_mark(struct run *r)
{
    int rc = recd_migrate_pg_exec(r->dst,
                                  "CREATE TABLE IF NOT EXISTS recd_migrate (k text COLLATE \"C\" PRIMARY KEY,"
                                  " v text COLLATE \"C\" NOT NULL)",
                                  r->why, r->why_n);
    if (rc < 0)
        return rc;
    const char *pv[1] = {r->run_id};
    PGresult *res =
        PQexecParams(r->dst, "INSERT INTO recd_migrate (k, v) VALUES ('run', $1) ON CONFLICT DO NOTHING", 1,
                     NULL, pv, NULL, NULL, 0);
    rc = PQresultStatus(res) == PGRES_COMMAND_OK
             ? 0
             : fail(r, RECD_E_IO, "target store: %s%s", PQresultErrorMessage(res), "");
    PQclear(res);
    return rc;
}

/* The target bucket: its keys listed once; it must be empty, or (resuming) hold only keys that
 * this folder's media has. */
static int media_target(struct run *r)
{
    char reason[400];
    if (recd_s3_parse_location(r->o->to_media, &r->cfg, reason, sizeof reason) < 0 ||
        recd_s3_load_credentials(&r->cfg, r->o->credentials_file, reason, sizeof reason) < 0)
        return fail(r, RECD_E_BAD_INPUT, "--to-media: %s%s", reason, "");
    int rc = recd_blob_s3_open(&r->cfg, r->o->data_dir, &r->to);
    if (rc < 0)
        return fail(r, rc, "cannot open the target bucket%s%s", "", "");
    if ((rc = r->to->ops->scan(r->to, keys_cb, &r->target)) < 0)
        return fail(r, rc, "the target bucket cannot be listed (%s)%s", recd_err_name(rc), "");
    keys_sort(&r->target);
    if (!r->target.n)
        return 0;
    if (!r->resume)
        return fail(r, RECD_E_BAD_INPUT, "the target bucket is not empty (%s …): give an empty one%s",
                    r->target.v[0].key, "");
    for (size_t i = 0; i < r->target.n; i++)
        if (!keys_find(&r->source, r->target.v[i].key))
            return fail(r, RECD_E_BAD_INPUT,
                        "the target bucket holds %s, which this folder does not: it is not this "
                        "folder's earlier run%s",
                        r->target.v[i].key, "");
    return 0;
}

/* --- Media ---------------------------------------------------------------------------------- */

struct live {
    char sid[RECD_SID_LEN + 1];
    int64_t size;
    char sha[65];
};

static int live_cmp(const void *a, const void *b)
{
    return strcmp(((const struct live *)a)->sid, ((const struct live *)b)->sid);
}

/* The recordings whose media is stored (completed, not deleted), sorted by sid. */
static int live_read(struct run *r, struct live **out, size_t *n)
{
    sqlite3_stmt *st;
    *out = NULL;
    *n = 0;
    if (sqlite3_prepare_v2(r->src,
                           "SELECT sid, media_size, media_sha256 FROM recordings WHERE deleted_us = 0 AND"
                           " status = '" RECD_REC_COMPLETED "' ORDER BY sid",
                           -1, &st, NULL) != SQLITE_OK)
        return fail(r, RECD_E_IO, "source store: %s%s", sqlite3_errmsg(r->src), "");
    size_t cap = 0;
    int rc = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap ? 2 * cap : 256;
            struct live *v = realloc(*out, cap * sizeof *v);
            if (!v) {
                rc = fail(r, RECD_E_INTERNAL, "out of memory%s%s", "", "");
                break;
            }
            *out = v;
        }
        struct live *l = &(*out)[(*n)++];
        snprintf(l->sid, sizeof l->sid, "%s", (const char *)sqlite3_column_text(st, 0));
        l->size = sqlite3_column_int64(st, 1);
        snprintf(l->sha, sizeof l->sha, "%s", (const char *)sqlite3_column_text(st, 2));
    }
    sqlite3_finalize(st);
    return rc;
}

/*
 * The media are copied by `jobs` workers at once (an object store's latency, not its bandwidth,
 * bounds one worker), each with its own handles (a blob handle is one thread's). They take the
 * source's keys in order from a shared index; the journal, the counters and the first error are
 * under the run's lock. A worker stops at the first error any of them met.
 */
struct worker {
    struct run *r;
    struct recd_blob *from, *to;
    const struct live *lv;
    size_t nlive;
    pthread_t thread;
};

/* Records the first failure of any worker; later ones are dropped (the first says where). */
static int worker_fail(struct worker *w, int rc, const char *fmt, const char *a, const char *b)
{
    struct run *r = w->r;
    pthread_mutex_lock(&r->mu);
    if (r->failed == 0) {
        r->failed = rc;
        fail(r, rc, fmt, a, b);
    }
    pthread_mutex_unlock(&r->mu);
    return rc;
}

/* Reads `key` back from the target and compares its size and SHA-256 with the source's. */
static int check_target(struct worker *w, const char *key, int64_t size, const char *sha)
{
    int fd;
    int64_t got;
    char hex[65];
    int rc = w->to->ops->open(w->to, key, &fd, &got);
    if (rc < 0)
        return rc;
    rc = got != size ? RECD_E_IO : recd_file_sha256(fd, size, hex);
    close(fd);
    if (rc == 0 && strcmp(hex, sha) != 0)
        rc = RECD_E_IO;
    return rc;
}

/* Counts an object done (how: 0 copied, 1 found in place) and journals it. */
static int object_done(struct worker *w, const char *key, int64_t size, const char *sha, int how)
{
    struct run *r = w->r;
    pthread_mutex_lock(&r->mu);
    if (how == 0) {
        r->st->objects++;
        r->st->bytes += size;
    } else {
        r->st->objects_found++;
    }
    int rc = journal_add(r, key, size, sha);
    if (rc < 0 && r->failed == 0)
        r->failed = rc;
    pthread_mutex_unlock(&r->mu);
    return rc;
}

/* One object: checked in place when the target has it already (copied by a run that died before
 * its journal line was written), else copied and checked. */
static int copy_object(struct worker *w, const struct obj *o, const struct live *l)
{
    int fd;
    int64_t size;
    char sha[65];
    int rc = w->from->ops->open(w->from, o->key, &fd, &size);
    if (rc < 0)
        return worker_fail(w, rc, "cannot read %s from the source (%s)", o->key, recd_err_name(rc));
    if ((rc = recd_file_sha256(fd, size, sha)) < 0) {
        close(fd);
        return worker_fail(w, rc, "cannot read %s from the source%s", o->key, "");
    }
    size_t klen = strlen(o->key);
    if (klen == RECD_SID_LEN + 4 && strcmp(o->key + RECD_SID_LEN, ".wav") == 0 &&
        (size != l->size || strcmp(sha, l->sha) != 0)) {
        close(fd);
        return worker_fail(w, RECD_E_IO,
                           "the source's %s is damaged (its digest is not the recording's): run recd fsck%s",
                           o->key, "");
    }
    const struct obj *there = keys_find(&w->r->target, o->key);
    if (there && there->size == size && check_target(w, o->key, size, sha) == 0) {
        close(fd);
        return object_done(w, o->key, size, sha, 1);
    }
    rc = w->to->ops->put_fd(w->to, o->key, fd, size);
    close(fd);
    if (rc < 0)
        return worker_fail(w, rc, "cannot write %s to the target bucket (%s)", o->key, recd_err_name(rc));
    if ((rc = check_target(w, o->key, size, sha)) < 0)
        return worker_fail(w, RECD_E_IO, "%s read back from the target bucket differs from the source (%s)",
                           o->key, recd_err_name(rc));
    return object_done(w, o->key, size, sha, 0);
}

/* Done by an earlier run: in the journal, and still in the bucket with that size (a journal is
 * not trusted over a bucket that was emptied since). */
static int journaled(const struct run *r, const char *key)
{
    const struct obj *j = keys_find(&r->journal, key), *t = keys_find(&r->target, key);
    return j && t && j->size == t->size;
}

static void *worker_main(void *p)
{
    struct worker *w = p;
    struct run *r = w->r;
    for (;;) {
        pthread_mutex_lock(&r->mu);
        size_t i = r->next++;
        int stop = r->failed != 0 || i >= r->source.n;
        if (!stop) {
            r->media_done++;
            bar(r, 0);
        }
        pthread_mutex_unlock(&r->mu);
        if (stop)
            break;
        const struct obj *o = &r->source.v[i];
        struct live probe;
        snprintf(probe.sid, sizeof probe.sid, "%.*s", RECD_SID_LEN, o->key);
        const struct live *l = w->nlive ? bsearch(&probe, w->lv, w->nlive, sizeof *w->lv, live_cmp) : NULL;
        int rc = 0;
        if (!l) {
            pthread_mutex_lock(&r->mu);
            r->st->orphans++;
            pthread_mutex_unlock(&r->mu);
        } else if (journaled(r, o->key)) {
            pthread_mutex_lock(&r->mu);
            r->st->objects_before++;
            pthread_mutex_unlock(&r->mu);
        } else {
            rc = copy_object(w, o, l);
        }
        if (rc < 0)
            break;
    }
    return NULL;
}

/* Every object of every live recording, in key order; files no live recording names (orphans
 * of interrupted writes, fsck's to remove) are counted and left. */
static int copy_media(struct run *r, int jobs)
{
    struct live *lv = NULL;
    size_t nlive = 0;
    int rc = live_read(r, &lv, &nlive);
    for (size_t i = 0; rc == 0 && i < nlive; i++) {
        char key[RECD_MEDIA_KEY_MAX];
        snprintf(key, sizeof key, "%s.wav", lv[i].sid);
        if (!keys_find(&r->source, key))
            rc = fail(r, RECD_E_IO, "the source has no media for recording %s: run recd fsck%s", lv[i].sid,
                      "");
    }
    r->media_total = (int64_t)r->source.n;
    struct worker *ws = calloc((size_t)jobs, sizeof *ws);
    if (rc == 0 && !ws)
        rc = fail(r, RECD_E_INTERNAL, "out of memory%s%s", "", "");
    int started = 0;
    char media[PATH_MAX];
    snprintf(media, sizeof media, "%s/media", r->o->data_dir);
    for (int i = 0; rc == 0 && i < jobs; i++) {
        struct worker *w = &ws[i];
        *w = (struct worker){.r = r, .lv = lv, .nlive = nlive};
        if ((rc = recd_blob_fs_open(media, &w->from)) < 0)
            fail(r, rc, "cannot open the source media %s%s", media, "");
        else if ((rc = recd_blob_s3_open(&r->cfg, r->o->data_dir, &w->to)) < 0)
            fail(r, rc, "cannot open the target bucket%s%s", "", "");
        else if (pthread_create(&w->thread, NULL, worker_main, w) != 0)
            rc = fail(r, RECD_E_INTERNAL, "cannot start a worker%s%s", "", "");
        else
            started++;
    }
    if (rc < 0) { /* the workers that run stop at once */
        pthread_mutex_lock(&r->mu);
        r->failed = rc;
        pthread_mutex_unlock(&r->mu);
    }
    for (int i = 0; i < started; i++)
        pthread_join(ws[i].thread, NULL);
    for (int i = 0; ws && i < jobs; i++) {
        if (ws[i].from)
            ws[i].from->ops->close(ws[i].from);
        if (ws[i].to)
            ws[i].to->ops->close(ws[i].to);
    }
    free(ws);
    free(lv);
    if (rc == 0)
        rc = r->failed;
    if (rc == 0 && r->journal_fd >= 0 && fdatasync(r->journal_fd) < 0)
        rc = fail(r, RECD_E_IO, "cannot write %s: %s", JOURNAL, strerror(errno));
    return rc;
}

/* --- The run -------------------------------------------------------------------------------- */

static void run_close(struct run *r)
{
    if (r->src) {
        sqlite3_exec(r->src, "ROLLBACK", NULL, NULL, NULL);
        sqlite3_close(r->src);
    }
    if (r->shm_fd >= 0)
        close(r->shm_fd); /* after SQLite's own descriptor: see source_open */
    if (r->dst)
        PQfinish(r->dst);
    if (r->from)
        r->from->ops->close(r->from);
    if (r->to)
        r->to->ops->close(r->to);
    if (r->journal_fd >= 0)
        close(r->journal_fd);
    free(r->journal.v);
    free(r->source.v);
    free(r->target.v);
    memset(&r->cfg, 0, sizeof r->cfg); /* the secret goes with the run */
    pthread_mutex_destroy(&r->mu);
}

/*
 * The steps in their order; long because each one's failure is reported here once. The order
 * matters: the source is locked before anything is read; both targets are judged before either
 * is written; the journal (with the run id) is durable before the target store gets its mark.
 */
int recd_migrate_run(const struct recd_migrate_opts *o, struct recd_migrate_stats *st, char *why,
                     size_t why_n)
{
    struct run r = {.o = o, .st = st, .why = why, .why_n = why_n, .shm_fd = -1, .journal_fd = -1};
    pthread_mutex_init(&r.mu, NULL);
    memset(st, 0, sizeof *st);
    why[0] = '\0';
    if (!o->to_store && !o->to_media)
        return fail(&r, RECD_E_BAD_INPUT,
                    "migrate needs --to-store postgres://… and/or --to-media s3://…%s%s", "", "");
    char path[PATH_MAX], media[PATH_MAX], targets[HEADER_MAX], shown[512] = "-";
    snprintf(path, sizeof path, "%s/recd.db", o->data_dir);
    snprintf(media, sizeof media, "%s/media", o->data_dir);
    if (o->to_store)
        recd_store_url_redact(o->to_store, shown, sizeof shown);
    snprintf(targets, sizeof targets, "store=%s media=%s", shown, o->to_media ? o->to_media : "-");
    if (strpbrk(targets, "\n"))
        return fail(&r, RECD_E_BAD_INPUT, "a target has a line break in it%s%s", "", "");
    int batch = o->batch > 0 ? o->batch : BATCH_DEF;
    int dirfd = open(o->data_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dirfd < 0)
        return fail(&r, RECD_E_BAD_INPUT, "no data folder %s: %s", o->data_dir, strerror(errno));
    int rc = source_open(&r, o->store ? o->store : path);
    if (rc == 0)
        rc = source_fingerprint(&r);
    if (rc == 0 && (rc = recd_blob_fs_open(media, &r.from)) < 0)
        fail(&r, rc, "cannot open the source media %s%s", media, "");
    if (rc == 0 && (rc = r.from->ops->scan(r.from, keys_cb, &r.source)) < 0)
        fail(&r, rc, "cannot list the source media %s%s", media, "");
    keys_sort(&r.source);
    if (rc == 0)
        rc = journal_read(&r, dirfd, targets);
    if (rc == 0 && o->to_store)
        rc = store_target(&r);
    if (rc == 0 && o->to_media)
        rc = media_target(&r);
    if (rc == 0 && !r.resume)
        rc = journal_create(&r, dirfd, targets);
    if (rc == 0 && o->to_store)
        rc = store_mark(&r);
    if (rc == 0 && o->to_store)
        rc = recd_migrate_tables_copy(r.src, r.dst, batch, st, rows_progress, &r, why, why_n);
    if (rc == 0 && o->to_store)
        rc = recd_migrate_tables_verify(r.src, r.dst, why, why_n);
    if (rc == 0 && o->to_media)
        rc = copy_media(&r, o->jobs > 0 ? o->jobs : JOBS_DEF);
    bar(&r, 1);
    if (o->bar && o->err)
        fputc('\n', o->err);
    close(dirfd);
    run_close(&r);
    return rc;
}
