#include "media/blob.h"

#include "core/error.h"
#include "core/file.h"
#include "core/log.h"
#include "core/sid.h"
#include "media/peaks.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/*
 * The filesystem blob store. Every operation works relative to directory descriptors opened
 * once (the root and tmp/), and every name it builds comes from a key that passed
 * recd_blob_key_valid(), so no path is built from unvalidated input and the root may be
 * renamed or reached through a symlink without confusing an operation in flight.
 *
 * A handle is safe to share between threads: the descriptors are only read, and the
 * "directory entry known durable" bitmaps below are updated atomically.
 */

#define TMP_DIR        "tmp"
#define SHARD_L1       256   /* "00" … "ff" */
#define SHARD_L2       65536 /* "00/00" … "ff/ff" */
#define KEY_MAX        64    /* longer than any valid key */
#define COPY_CHUNK     (1 << 20)
#define MAX_ENTRY_NAME 256

struct blob_fs {
    struct recd_blob base;
    int root;
    int tmp;
    int lock; /* .lock in the root: the repair guard's flock */
    /* Batch mode (defer_sync): puts skip their fsyncs; sync() makes everything durable with one
     * syncfs. `unsynced` says a put has happened since the last sync (puts may run on several
     * threads; `deferred` changes only between batches, when no put runs). */
    int deferred;
    _Atomic int unsynced;
    /*
     * A shard directory's entry in its parent must be on stable storage before a blob in it
     * is acknowledged. The process that creates the directory fsyncs the parent, but another
     * process (or thread) may see the directory already there (EEXIST) before that fsync has
     * happened. So the first time this handle uses a shard directory, whoever created it, it
     * fsyncs the parent itself and remembers that here; afterwards a put costs no extra fsync.
     */
    _Atomic uint64_t l1_synced[SHARD_L1 / 64];
    _Atomic uint64_t l2_synced[SHARD_L2 / 64];
};

static const char *const key_suffixes[] = {".wav", ".mp3", ".mono.wav", ".mono.mp3"};

int recd_blob_key_valid(const char *key)
{
    if (key == NULL)
        return 0;
    size_t n = strnlen(key, KEY_MAX);
    if (n <= RECD_SID_LEN || n >= KEY_MAX)
        return 0;
    if (!recd_sid_valid(key, RECD_SID_LEN, "RE", 1))
        return 0;
    for (size_t i = 0; i < sizeof key_suffixes / sizeof key_suffixes[0]; i++)
        if (strcmp(key + RECD_SID_LEN, key_suffixes[i]) == 0)
            return 1;
    int spp, json;
    return recd_peaks_suffix_parse(key + RECD_SID_LEN, &spp, &json) == 0;
}

static void log_err(const char *step, const char *name, int err)
{
    recd_log_error("blob: %s %s: %s", step, name, strerror(err));
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* 1 when `name` is a shard directory name: exactly two lowercase hex digits. */
static int shard_name(const char *name)
{
    return hexval(name[0]) >= 0 && hexval(name[1]) >= 0 && name[2] == '\0';
}

static unsigned shard_index(const char *two)
{
    return (unsigned)(hexval(two[0]) * 16 + hexval(two[1]));
}

static int bit_test(_Atomic uint64_t *bits, unsigned i)
{
    return (atomic_load_explicit(&bits[i / 64], memory_order_acquire) >> (i % 64)) & 1;
}

static void bit_set(_Atomic uint64_t *bits, unsigned i)
{
    atomic_fetch_or_explicit(&bits[i / 64], UINT64_C(1) << (i % 64), memory_order_release);
}

static int open_dir_at(int at, const char *name)
{
    int fd;
    do
        fd = openat(at, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    while (fd < 0 && errno == EINTR);
    return fd;
}

/*
 * Opens the directory `name` under `parent`, creating it (mode 0700) if missing. When
 * `synced` is 0, fsyncs `parent` afterwards so that the entry is durable whoever created it.
 * Returns the descriptor or -1 with errno set.
 */
static int ensure_dir(int parent, const char *name, int synced, int deferred)
{
    int fd = open_dir_at(parent, name);
    if (fd < 0 && errno == ENOENT) {
        if (mkdirat(parent, name, 0700) < 0 && errno != EEXIST)
            return -1;
        synced = 0;
        fd = open_dir_at(parent, name);
    }
    if (fd < 0)
        return -1;
    if (!synced && !deferred && recd_fsync(parent) < 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

/*
 * Opens the shard directory of `key` (valid), creating both levels as needed when `create`.
 * Returns the descriptor, or -1 with errno set (ENOENT when absent and not `create`).
 */
static int shard_open(struct blob_fs *fs, const char *key, int create)
{
    char l1[3] = {key[2], key[3], '\0'};
    char l2[3] = {key[4], key[5], '\0'};
    char both[6] = {key[2], key[3], '/', key[4], key[5], '\0'};
    unsigned i1 = shard_index(l1);
    unsigned i2 = i1 * 256 + shard_index(l2);

    /*
     * In batch mode the batch's syncfs makes the entries durable, whoever made them, so a shard
     * that exists is used as it is: one openat, where walking the levels (open or make each, then
     * close the first) took four calls or more a put.
     */
    if (!create || fs->deferred || bit_test(fs->l2_synced, i2)) {
        int fd = open_dir_at(fs->root, both);
        if (fd >= 0 || !create || errno != ENOENT)
            return fd;
        /* Removed behind our back (by an operator): recreate it below, and sync again. */
    }
    /* Deferred: the entries are made durable by the batch's syncfs, so none is marked synced. */
    int d1 = ensure_dir(fs->root, l1, bit_test(fs->l1_synced, i1), fs->deferred);
    if (d1 < 0)
        return -1;
    if (!fs->deferred)
        bit_set(fs->l1_synced, i1);
    int d2 = ensure_dir(d1, l2, 0, fs->deferred);
    int e = errno;
    close(d1);
    if (d2 < 0) {
        errno = e;
        return -1;
    }
    if (!fs->deferred)
        bit_set(fs->l2_synced, i2);
    return d2;
}

/*
 * Copies exactly `size` bytes from `in` (its current offset) to `out`, feeding them to `md` too
 * when it is not NULL (then through a buffer: copy_file_range's bytes never pass by). Returns 0,
 * or -1 with errno set; a source that ends early sets *short_src and errno 0.
 */
static int copy_exact(int in, int out, int64_t size, int *short_src, EVP_MD_CTX *md)
{
    int64_t left = size;
    int use_cfr = md == NULL;
    char *buf = NULL;

    *short_src = 0;
    while (left > 0) {
        size_t want = left > COPY_CHUNK ? COPY_CHUNK : (size_t)left;
        if (use_cfr) {
            ssize_t r = copy_file_range(in, NULL, out, NULL, want, 0);
            if (r > 0) {
                left -= r;
                continue;
            }
            if (r < 0 && errno == EINTR)
                continue;
            if (r < 0 && errno != EXDEV && errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP &&
                errno != EBADF && errno != ETXTBSY && errno != EPERM)
                goto fail;
            /*
             * Unsupported here (a pipe, another filesystem, an old kernel), or 0: some
             * pseudo-filesystems report 0 rather than an error, so 0 is not trusted as the
             * end of the source; the read() below decides.
             */
            use_cfr = 0;
        }
        /* `want` never grows, so the first one sizes the buffer for every later read. */
        if (buf == NULL && (buf = malloc(want)) == NULL)
            goto fail;
        ssize_t r = read(in, buf, want);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            goto fail;
        }
        if (r == 0) {
            *short_src = 1;
            errno = 0;
            goto fail;
        }
        if (recd_write_all(out, buf, (size_t)r) < 0)
            goto fail;
        if (md)
            EVP_DigestUpdate(md, buf, (size_t)r);
        left -= r;
    }
    free(buf);
    return 0;
fail:;
    int e = errno;
    free(buf);
    errno = e;
    return -1;
}

/*
 * Copies exactly `size` bytes from `in` (its current offset) to `out` through a buffer, and puts
 * the SHA-256 of the bytes written in `hex`: the digest of what is stored, without reading the
 * stored copy back. Returns 0, or -1 with errno set; a source that ends early sets *short_src
 * and errno 0.
 */
static int copy_hashed(int in, int out, int64_t size, int *short_src, char hex[65])
{
    unsigned char md[32];
    unsigned int mdlen = sizeof md;
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    /* A small fixed allocation: failure means the machine is out of memory (house style). */
    if (!c)
        abort();
    EVP_DigestInit_ex(c, EVP_sha256(), NULL);
    int rc = copy_exact(in, out, size, short_src, c);
    if (rc == 0) {
        EVP_DigestFinal_ex(c, md, &mdlen);
        recd_hex(hex, md, sizeof md);
    }
    int e = errno;
    EVP_MD_CTX_free(c);
    errno = e;
    return rc;
}

/* Where a put's bytes come from: `fd` (>= 0) and `size`, or memory `p`, `n` when fd is -1. With
 * `sha256` set (fd only), the copy is hashed into it. */
struct fill_src {
    int fd;
    int64_t size;
    const void *p;
    size_t n;
    char *sha256;
    int new_only; /* RECD_BLOB_PUT_NEW: never replace an existing key */
};

/*
 * The one durable write path: a fresh temp file, filled from `src`, then published (core/file.h)
 * under the key in its shard directory: fsync, rename, fsync of the shard directory; in batch
 * mode the fsyncs wait for sync(). On failure the temp file is removed and nothing under the key
 * changed (unless the final directory fsync failed, in which case the new bytes are in place but
 * not known durable, and the caller must not acknowledge them).
 *
 * The temp file is made in tmp/, except in batch mode, where it is made in the shard directory
 * itself. A batch's puts run on several threads: in tmp/ every create and every rename out of it
 * waited for that one directory's lock (and a rename between two directories for the
 * filesystem's rename lock), where in the shard directory, chosen at random, nothing is shared. A
 * leftover there is found by the same walk as one in tmp/ (a name that is not a key).
 */
static int put_common(struct blob_fs *fs, const char *key, const struct fill_src *src)
{
    struct recd_tmpfile t;
    int shard = -1, ret;
    const char *step = "create temp";

    t.fd = -1;
    t.named = 0;
    if (fs->deferred) {
        step = "shard dir";
        if ((shard = shard_open(fs, key, 1)) < 0)
            goto fail_errno;
        step = "create temp";
    }
    ret = recd_tmpfile_create(&t, shard >= 0 ? shard : fs->tmp, key, 0600);
    if (ret == RECD_E_INTERNAL) {
        recd_log_error("blob: temp name for %s: getrandom failed", key);
        goto fail_logged;
    }
    if (ret < 0)
        goto fail;

    if (src->fd < 0) {
        step = "write";
        if (src->n && recd_write_all(t.fd, src->p, src->n) < 0)
            goto fail_errno;
    } else {
        int short_src;
        step = "copy";
        if ((src->sha256 ? copy_hashed(src->fd, t.fd, src->size, &short_src, src->sha256)
                         : copy_exact(src->fd, t.fd, src->size, &short_src, NULL)) < 0) {
            if (short_src) {
                recd_log_error("blob: copy %s: source ended before %lld bytes", key, (long long)src->size);
                ret = RECD_E_IO;
                goto fail_logged;
            }
            goto fail_errno;
        }
    }

    step = "shard dir";
    if (shard < 0 && (shard = shard_open(fs, key, 1)) < 0)
        goto fail_errno;
    ret = recd_tmpfile_publish(
        &t, shard, key,
        (fs->deferred ? RECD_PUBLISH_NOSYNC : 0) | (src->new_only ? RECD_PUBLISH_NOREPLACE : 0), &step);
    if (ret == RECD_E_EXISTS)
        goto fail_logged; /* the caller's answer, not a fault: the temp file is already gone */
    if (ret < 0)
        goto fail;
    close(shard);
    if (fs->deferred)
        atomic_store(&fs->unsynced, 1);
    return 0;

fail_errno:
    ret = recd_err_from_errno(errno);
fail:
    log_err(step, key, errno);
fail_logged:
    /* Before the shard is closed: the temp file may be named in it. */
    recd_tmpfile_discard(&t);
    if (shard >= 0)
        close(shard);
    return ret;
}

static int fs_put_fd(struct recd_blob *b, const char *key, int fd, int64_t size)
{
    if (!recd_blob_key_valid(key) || fd < 0 || size < 0)
        return RECD_E_BAD_INPUT;
    struct fill_src src = {.fd = fd, .size = size};
    return put_common((struct blob_fs *)b, key, &src);
}

static int fs_put_fd_sha256(struct recd_blob *b, const char *key, int fd, int64_t size, unsigned flags,
                            char sha256_hex[65])
{
    if (!recd_blob_key_valid(key) || fd < 0 || size < 0 || sha256_hex == NULL || (flags & ~RECD_BLOB_PUT_NEW))
        return RECD_E_BAD_INPUT;
    struct fill_src src = {
        .fd = fd, .size = size, .sha256 = sha256_hex, .new_only = !!(flags & RECD_BLOB_PUT_NEW)};
    return put_common((struct blob_fs *)b, key, &src);
}

static int fs_put_mem(struct recd_blob *b, const char *key, const void *p, size_t n)
{
    if (!recd_blob_key_valid(key) || (p == NULL && n != 0))
        return RECD_E_BAD_INPUT;
    struct fill_src src = {.fd = -1, .p = p, .n = n};
    return put_common((struct blob_fs *)b, key, &src);
}

static int fs_open(struct recd_blob *b, const char *key, int *fd_out, int64_t *size)
{
    struct blob_fs *fs = (struct blob_fs *)b;
    char rel[KEY_MAX + 8];
    struct stat st;

    if (!recd_blob_key_valid(key))
        return RECD_E_BAD_INPUT;
    int w = snprintf(rel, sizeof rel, "%.2s/%.2s/%s", key + 2, key + 4, key);
    if (w < 0 || (size_t)w >= sizeof rel)
        return RECD_E_INTERNAL;
    int fd;
    do
        fd = openat(fs->root, rel, O_RDONLY | O_CLOEXEC);
    while (fd < 0 && errno == EINTR);
    if (fd < 0) {
        if (errno == ENOENT || errno == ENOTDIR)
            return RECD_E_NOT_FOUND;
        log_err("open", key, errno);
        return RECD_E_IO;
    }
    errno = 0;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        log_err("fstat", key, errno ? errno : EINVAL);
        close(fd);
        return RECD_E_IO;
    }
    *fd_out = fd;
    *size = (int64_t)st.st_size;
    return 0;
}

static int fs_stat(struct recd_blob *b, const char *key, int64_t *size)
{
    int fd, rc = fs_open(b, key, &fd, size);
    if (rc == 0)
        close(fd);
    return rc;
}

/* A file is its own range: the whole file, read from `off`. */
static int fs_open_range(struct recd_blob *b, const char *key, int64_t off, int64_t len, int *fd,
                         int64_t *fd_off, int *whole)
{
    int64_t size;
    if (off < 0 || len < 1)
        return RECD_E_BAD_INPUT;
    int rc = fs_open(b, key, fd, &size);
    if (rc < 0)
        return rc;
    if (off > size - len) {
        close(*fd);
        return RECD_E_RANGE;
    }
    *fd_off = off;
    *whole = 1;
    return 0;
}

static int fs_remove(struct recd_blob *b, const char *key)
{
    struct blob_fs *fs = (struct blob_fs *)b;

    if (!recd_blob_key_valid(key))
        return RECD_E_BAD_INPUT;
    int shard = shard_open(fs, key, 0);
    if (shard < 0) {
        if (errno == ENOENT)
            return 0;
        log_err("open shard dir", key, errno);
        return RECD_E_IO;
    }
    if (unlinkat(shard, key, 0) < 0) {
        int e = errno;
        close(shard);
        if (e == ENOENT)
            return 0;
        log_err("unlink", key, e);
        return RECD_E_IO;
    }
    if (recd_fsync(shard) < 0) {
        int e = errno;
        close(shard);
        log_err("fsync dir", key, e);
        return RECD_E_IO;
    }
    close(shard);
    return 0;
}

/* What a walk does with what it finds. */
enum walk_mode { WALK_KEYS, WALK_LEFTOVERS, WALK_REMOVE };

struct walk {
    enum walk_mode mode;
    recd_blob_key_cb cb;
    void *ctx;
    int64_t min_age_s;
    int64_t now_s;
    int64_t removed;
    int stopped;
};

/*
 * Handles one non-directory leftover `name` in directory `dfd`, which is `dir` below the root
 * (reports name it "dir/name"): reports it (WALK_LEFTOVERS) or deletes it if old enough
 * (WALK_REMOVE). Returns 0 or an error.
 */
static int leftover(struct walk *w, int dfd, const char *dir, const char *name, const struct stat *st)
{
    char shown[MAX_ENTRY_NAME + 8];
    int n = snprintf(shown, sizeof shown, "%s/%s", dir, name);
    if (n < 0 || (size_t)n >= sizeof shown) {
        log_err("name", "shard entry", ENAMETOOLONG);
        return RECD_E_IO;
    }
    if (w->mode == WALK_LEFTOVERS) {
        if (w->cb(w->ctx, shown, (int64_t)st->st_size) != 0)
            w->stopped = 1;
        return 0;
    }
    if (w->min_age_s > 0 && w->now_s - (int64_t)st->st_mtime < w->min_age_s)
        return 0;
    /*
     * Leftovers hold no acknowledged data, so their removal need not be durable: if a crash
     * brings one back, the next fsck --repair removes it again.
     */
    if (unlinkat(dfd, name, 0) < 0) {
        if (errno == ENOENT) /* another repair, or a writer's own cleanup, got there first */
            return 0;
        log_err("unlink leftover", shown, errno);
        return RECD_E_IO;
    }
    w->removed++;
    return 0;
}

/* Opens `name` under `at` for listing; NULL with errno set on failure. */
static DIR *open_listing(int at, const char *name)
{
    int fd = open_dir_at(at, name);
    if (fd < 0)
        return NULL;
    DIR *d = fdopendir(fd);
    if (d == NULL) {
        int e = errno;
        close(fd);
        errno = e;
    }
    return d;
}

/*
 * The next entry of `d` other than "." and "..": 1 with *de set, 0 at the end, -1 with errno
 * set on a read error (readdir() reports those only through errno).
 */
static int next_entry(DIR *d, struct dirent **de)
{
    for (;;) {
        errno = 0;
        *de = readdir(d);
        if (*de == NULL)
            return errno ? -1 : 0;
        if (strcmp((*de)->d_name, ".") != 0 && strcmp((*de)->d_name, "..") != 0)
            return 1;
    }
}

/*
 * Reads the type and size of entry `name` in `dfd` without following symlinks. Returns 0,
 * 1 when it vanished meanwhile (skip it), or -1 with errno set.
 */
static int entry_stat(int dfd, const char *name, struct stat *st)
{
    if (fstatat(dfd, name, st, AT_SYMLINK_NOFOLLOW) == 0)
        return 0;
    return errno == ENOENT ? 1 : -1;
}

/* Walks tmp/: everything that is not a directory there is a leftover. */
static int walk_tmp(struct blob_fs *fs, struct walk *w)
{
    DIR *d = open_listing(fs->root, TMP_DIR);
    if (d == NULL) {
        if (errno == ENOENT)
            return 0;
        log_err("open", TMP_DIR, errno);
        return RECD_E_IO;
    }
    int ret = 0, more = 0;
    struct dirent *de;
    while (!w->stopped && (more = next_entry(d, &de)) > 0) {
        struct stat st;
        int s = entry_stat(dirfd(d), de->d_name, &st);
        if (s == 1 || (s == 0 && S_ISDIR(st.st_mode)))
            continue;
        if (s < 0) {
            log_err("stat", "tmp entry", errno);
            ret = RECD_E_IO;
            break;
        }
        if ((ret = leftover(w, dirfd(d), TMP_DIR, de->d_name, &st)) < 0)
            break;
    }
    if (ret == 0 && more < 0) {
        log_err("readdir", TMP_DIR, errno);
        ret = RECD_E_IO;
    }
    closedir(d);
    return ret;
}

/*
 * Walks the level-2 shard directory `l1/l2`. A regular file named by a valid key whose sid
 * belongs in this shard is a blob; any other non-directory entry is a leftover (a stray or
 * misplaced file that open() would never find).
 */
static int walk_l2(struct walk *w, int l1fd, const char *l1, const char *l2)
{
    DIR *d = open_listing(l1fd, l2);
    if (d == NULL) {
        if (errno == ENOENT)
            return 0;
        log_err("open shard", l2, errno);
        return RECD_E_IO;
    }
    int ret = 0, more = 0;
    struct dirent *de;
    while (!w->stopped && (more = next_entry(d, &de)) > 0) {
        struct stat st;
        const char *name = de->d_name;
        int s = entry_stat(dirfd(d), name, &st);
        if (s == 1 || (s == 0 && S_ISDIR(st.st_mode)))
            continue;
        if (s < 0) {
            log_err("stat", "shard entry", errno);
            ret = RECD_E_IO;
            break;
        }
        int is_key = S_ISREG(st.st_mode) && recd_blob_key_valid(name) && memcmp(name + 2, l1, 2) == 0 &&
                     memcmp(name + 4, l2, 2) == 0;
        if (w->mode == WALK_KEYS) {
            if (is_key && w->cb(w->ctx, name, (int64_t)st.st_size) != 0)
                w->stopped = 1;
            continue;
        }
        if (is_key)
            continue;
        char dir[8];
        snprintf(dir, sizeof dir, "%.2s/%.2s", l1, l2);
        if ((ret = leftover(w, dirfd(d), dir, name, &st)) < 0)
            break;
    }
    if (ret == 0 && more < 0) {
        log_err("readdir", l2, errno);
        ret = RECD_E_IO;
    }
    closedir(d);
    return ret;
}

/*
 * Walks the level-1 shard directory `l1`: its two-hex-digit subdirectories are level-2
 * shards; a non-directory entry here is a leftover.
 */
static int walk_l1(struct blob_fs *fs, struct walk *w, const char *l1)
{
    DIR *d = open_listing(fs->root, l1);
    if (d == NULL) {
        if (errno == ENOENT)
            return 0;
        log_err("open shard", l1, errno);
        return RECD_E_IO;
    }
    int ret = 0, more = 0;
    struct dirent *de;
    while (!w->stopped && (more = next_entry(d, &de)) > 0) {
        struct stat st;
        const char *name = de->d_name;
        int s = entry_stat(dirfd(d), name, &st);
        if (s == 1)
            continue;
        if (s < 0) {
            log_err("stat", "shard entry", errno);
            ret = RECD_E_IO;
            break;
        }
        if (S_ISDIR(st.st_mode)) {
            if (shard_name(name) && (ret = walk_l2(w, dirfd(d), l1, name)) < 0)
                break;
            continue;
        }
        if (w->mode == WALK_KEYS)
            continue;
        if ((ret = leftover(w, dirfd(d), l1, name, &st)) < 0)
            break;
    }
    if (ret == 0 && more < 0) {
        log_err("readdir", l1, errno);
        ret = RECD_E_IO;
    }
    closedir(d);
    return ret;
}

/*
 * Walks the whole store. Entries of the root other than tmp/ and the shard directories are
 * left alone: they are not ours to judge (an operator's notes, lost+found).
 */
static int walk_all(struct blob_fs *fs, struct walk *w)
{
    int ret = 0;
    if (w->mode != WALK_KEYS && (ret = walk_tmp(fs, w)) < 0)
        return ret;
    DIR *d = open_listing(fs->root, ".");
    if (d == NULL) {
        log_err("open", "store root", errno);
        return RECD_E_IO;
    }
    int more = 0;
    struct dirent *de;
    while (!w->stopped && (more = next_entry(d, &de)) > 0) {
        if (!shard_name(de->d_name))
            continue;
        if ((ret = walk_l1(fs, w, de->d_name)) < 0)
            break;
    }
    if (ret == 0 && more < 0) {
        log_err("readdir", "store root", errno);
        ret = RECD_E_IO;
    }
    closedir(d);
    return ret;
}

static int fs_scan(struct recd_blob *b, recd_blob_key_cb cb, void *ctx)
{
    if (cb == NULL)
        return RECD_E_BAD_INPUT;
    struct walk w = {.mode = WALK_KEYS, .cb = cb, .ctx = ctx};
    return walk_all((struct blob_fs *)b, &w);
}

static int fs_scan_leftovers(struct recd_blob *b, recd_blob_key_cb cb, void *ctx)
{
    if (cb == NULL)
        return RECD_E_BAD_INPUT;
    struct walk w = {.mode = WALK_LEFTOVERS, .cb = cb, .ctx = ctx};
    return walk_all((struct blob_fs *)b, &w);
}

static int fs_remove_leftovers(struct recd_blob *b, int64_t min_age_s, int64_t *n)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct walk w = {.mode = WALK_REMOVE, .min_age_s = min_age_s, .now_s = (int64_t)ts.tv_sec};
    int ret = walk_all((struct blob_fs *)b, &w);
    if (n)
        *n = w.removed;
    return ret;
}

static void fs_close(struct recd_blob *b)
{
    struct blob_fs *fs = (struct blob_fs *)b;
    if (fs == NULL)
        return;
    close(fs->tmp);
    close(fs->root);
    close(fs->lock);
    free(fs);
}

int recd_blob_fs_bulk_link(struct recd_blob *b, const char *key, int src_dirfd, const char *src_name)
{
    struct blob_fs *fs = (struct blob_fs *)b;
    if (!recd_blob_key_valid(key))
        return RECD_E_BAD_INPUT;
    int d = shard_open(fs, key, 1);
    if (d < 0)
        return recd_err_from_errno(errno);
    int rc = linkat(src_dirfd, src_name, d, key, 0) == 0 || errno == EEXIST ? 0 : recd_err_from_errno(errno);
    if (rc < 0)
        log_err("bulk link", key, errno);
    close(d);
    return rc;
}

static int fs_defer_sync(struct recd_blob *b, int on)
{
    struct blob_fs *fs = (struct blob_fs *)b;
    int rc = on ? 0 : b->ops->sync(b);
    fs->deferred = on != 0;
    return rc;
}

static int fs_sync(struct recd_blob *b)
{
    struct blob_fs *fs = (struct blob_fs *)b;
    /*
     * Cleared before the flush, not after: a put may finish on another thread while syncfs runs
     * (an import writes its next batch meanwhile), and that put's mark must survive for the next
     * sync, which is the one that covers it.
     */
    if (!atomic_exchange(&fs->unsynced, 0))
        return 0;
    /* One flush of the whole filesystem costs one journal commit, where per-file fsyncs of each
     * file, its shard and the shard's parent cost three each. */
    if (syncfs(fs->root) < 0) {
        int e = errno;
        atomic_store(&fs->unsynced, 1);
        log_err("syncfs", "media", e);
        return recd_err_from_errno(e);
    }
    return 0;
}

static int fs_guard(struct recd_blob *b, enum recd_blob_guard how)
{
    struct blob_fs *fs = (struct blob_fs *)b;
    int op = how == RECD_BLOB_REPAIRING ? LOCK_EX : how == RECD_BLOB_WRITING ? LOCK_SH : LOCK_UN;
    int r;
    while ((r = flock(fs->lock, op)) < 0 && errno == EINTR)
        ;
    if (r < 0) {
        log_err("lock", ".lock", errno);
        return recd_err_from_errno(errno);
    }
    return 0;
}

/*
 * Readiness: an unnamed file (O_TMPFILE) made and written in tmp/, where every put starts, then
 * closed, so nothing is left even by a crash; no fsync, so a probe costs no disk flush. A
 * filesystem without O_TMPFILE gets a named file unlinked at once (a crash in between leaves a
 * leftover that fsck removes). The cause is logged when it changes, not at every probe.
 */
static int fs_ready(struct recd_blob *b)
{
    static _Atomic int last_err;
    struct blob_fs *fs = (struct blob_fs *)b;
    int fd = openat(fs->tmp, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
    char name[64] = "";
    if (fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL)) {
        snprintf(name, sizeof name, "ready-%ld.probe", (long)getpid());
        fd = openat(fs->tmp, name, O_CREAT | O_WRONLY | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
    }
    int err = 0;
    if (fd < 0 || recd_write_all(fd, "r", 1) < 0)
        err = errno;
    if (fd >= 0)
        close(fd);
    if (name[0])
        unlinkat(fs->tmp, name, 0);
    if (atomic_exchange(&last_err, err) != err && err)
        log_err("write a file in", "media/tmp", err);
    return err ? recd_err_from_errno(err) : 0;
}

/*
 * A recording's keys all live in its shard directory (the shard is named by the sid), so
 * listing them reads one directory of a few dozen entries, not the store.
 */
static int fs_scan_sid(struct recd_blob *b, const char *sid, recd_blob_key_cb cb, void *ctx)
{
    struct blob_fs *fs = (struct blob_fs *)b;
    if (cb == NULL || sid == NULL || !recd_sid_valid(sid, strnlen(sid, RECD_SID_LEN + 1), "RE", 1))
        return RECD_E_BAD_INPUT;
    char both[6] = {sid[2], sid[3], '/', sid[4], sid[5], '\0'};
    DIR *d = open_listing(fs->root, both);
    if (d == NULL) {
        if (errno == ENOENT)
            return 0;
        log_err("open shard", both, errno);
        return RECD_E_IO;
    }
    int ret = 0, more;
    struct dirent *de;
    while ((more = next_entry(d, &de)) > 0) {
        struct stat st;
        const char *name = de->d_name;
        if (strncmp(name, sid, RECD_SID_LEN) != 0 || !recd_blob_key_valid(name))
            continue;
        int s = entry_stat(dirfd(d), name, &st);
        if (s == 1 || (s == 0 && !S_ISREG(st.st_mode)))
            continue;
        if (s < 0) {
            log_err("stat", "shard entry", errno);
            ret = RECD_E_IO;
            break;
        }
        if (cb(ctx, name, (int64_t)st.st_size) != 0)
            break;
    }
    if (ret == 0 && more < 0) {
        log_err("readdir", both, errno);
        ret = RECD_E_IO;
    }
    closedir(d);
    return ret;
}

static const struct recd_blob_ops fs_ops = {
    .ready = fs_ready,
    .guard = fs_guard,
    .defer_sync = fs_defer_sync,
    .sync = fs_sync,
    .close = fs_close,
    .put_fd = fs_put_fd,
    .put_fd_sha256 = fs_put_fd_sha256,
    .put_mem = fs_put_mem,
    .open = fs_open,
    .stat = fs_stat,
    .open_range = fs_open_range,
    .remove = fs_remove,
    .scan = fs_scan,
    .scan_sid = fs_scan_sid,
    .scan_leftovers = fs_scan_leftovers,
    .remove_leftovers = fs_remove_leftovers,
};

int recd_blob_fs_open(const char *dir, struct recd_blob **out)
{
    struct blob_fs *fs = NULL;
    const char *step = "create";
    int err;

    if (dir == NULL || dir[0] == '\0' || strnlen(dir, PATH_MAX) >= PATH_MAX || out == NULL)
        return RECD_E_BAD_INPUT;
    fs = calloc(1, sizeof *fs);
    if (fs == NULL)
        return RECD_E_INTERNAL;
    fs->base.ops = &fs_ops;
    fs->base.threads_ok = 1;
    fs->root = fs->tmp = fs->lock = -1;

    int created = mkdir(dir, 0700) == 0;
    if (!created && errno != EEXIST)
        goto fail_errno;
    step = "open";
    if ((fs->root = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
        goto fail_errno;
    if (created) {
        /* Make the new root's own entry durable: fsync its parent. */
        step = "fsync parent of";
        int parent = open_dir_at(fs->root, "..");
        if (parent < 0)
            goto fail_errno;
        int r = recd_fsync(parent);
        err = errno;
        close(parent);
        if (r < 0) {
            errno = err;
            goto fail_errno;
        }
    }
    step = "create tmp dir in";
    /* Made durable when this open creates it; one that exists is used as it is: tmp/ holds no
     * acknowledged data, and an fsync of the root at every open cost each command a journal
     * commit (one that waits for every other writer's metadata). */
    if ((fs->tmp = ensure_dir(fs->root, TMP_DIR, 1, 0)) < 0)
        goto fail_errno;
    step = "open .lock in";
    if ((fs->lock = openat(fs->root, ".lock", O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600)) < 0)
        goto fail_errno;
    *out = &fs->base;
    return 0;

fail_errno:
    err = errno;
    recd_log_error("blob: %s store %s: %s", step, dir, strerror(err));
    if (fs->tmp >= 0)
        close(fs->tmp);
    if (fs->root >= 0)
        close(fs->root);
    if (fs->lock >= 0)
        close(fs->lock);
    free(fs);
    return recd_err_from_errno(err);
}
