#include "core/file.h"

#include "core/error.h"
#include "core/sid.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

int recd_write_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n) {
        ssize_t w = write(fd, c, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (w == 0) {
            /* write() returning 0 for a non-empty buffer means the device accepts no more. */
            errno = ENOSPC;
            return -1;
        }
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

int recd_read_exact(int fd, void *p, size_t n)
{
    char *c = p;
    while (n) {
        ssize_t r = read(fd, c, n);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (r == 0) {
            errno = EIO;
            return -1;
        }
        c += r;
        n -= (size_t)r;
    }
    return 0;
}

int recd_fsync(int fd)
{
    int r;
    do
        r = fsync(fd);
    while (r < 0 && errno == EINTR);
    return r;
}

int recd_file_sha256(int fd, int64_t size, char hex[65])
{
    unsigned char buf[65536], md[32];
    unsigned int mdlen = 32;
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    /* A small fixed allocation: failure means the machine is out of memory (house style). */
    if (!c)
        abort();
    EVP_DigestInit_ex(c, EVP_sha256(), NULL);
    int64_t off = 0;
    while (off < size) {
        ssize_t r = pread(fd, buf, sizeof buf, off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            EVP_MD_CTX_free(c);
            return RECD_E_IO;
        }
        EVP_DigestUpdate(c, buf, (size_t)r);
        off += r;
    }
    EVP_DigestFinal_ex(c, md, &mdlen);
    EVP_MD_CTX_free(c);
    recd_hex(hex, md, 32);
    return 0;
}

int recd_tmpfile_create(struct recd_tmpfile *t, int dirfd, const char *stem, mode_t mode)
{
    t->fd = -1;
    t->dirfd = dirfd;
    t->named = 0;
    t->name[0] = '\0';
    if (!stem || strnlen(stem, RECD_TMPFILE_STEM_MAX + 1) > RECD_TMPFILE_STEM_MAX || strchr(stem, '/'))
        return RECD_E_BAD_INPUT;
    /* A random name rather than mkstemp's: the same scheme in every directory, and a name that a
     * leftover scan can recognise by its ".tmp" end. */
    for (int attempt = 0; attempt < 8; attempt++) {
        unsigned char rnd[8];
        char hex[17];
        if (recd_random(rnd, sizeof rnd) < 0)
            return RECD_E_INTERNAL;
        recd_hex(hex, rnd, sizeof rnd);
        snprintf(t->name, sizeof t->name, "%s.%s.tmp", stem, hex);
        do
            t->fd = openat(dirfd, t->name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
        while (t->fd < 0 && errno == EINTR);
        if (t->fd >= 0) {
            t->named = 1;
            return 0;
        }
        if (errno != EEXIST)
            return recd_err_from_errno(errno);
    }
    errno = EEXIST;
    return RECD_E_IO;
}

/* Links `t` to `name` without replacing an existing file: 0, 1 when `name` exists, -1 with errno. */
static int link_noreplace(struct recd_tmpfile *t, int dirfd, const char *name, const char **step)
{
    *step = "link";
    if (linkat(t->dirfd, t->name, dirfd, name, 0) == 0)
        return 0;
    if (errno == EEXIST)
        return 1;
    if (errno != EPERM && errno != EOPNOTSUPP && errno != ENOSYS)
        return -1;
    /* No hard links on this filesystem: renameat2 has the same first-wins semantics. */
    *step = "rename";
    if (renameat2(t->dirfd, t->name, dirfd, name, RENAME_NOREPLACE) == 0) {
        t->named = 0;
        return 0;
    }
    return errno == EEXIST ? 1 : -1;
}

int recd_tmpfile_publish(struct recd_tmpfile *t, int dirfd, const char *name, unsigned flags,
                         const char **step)
{
    const char *dummy;
    const int sync = !(flags & RECD_PUBLISH_NOSYNC);
    int exists = 0, linked = 0;
    struct stat own = {0};
    if (!step)
        step = &dummy;
    *step = "fsync";
    if (sync && recd_fsync(t->fd) < 0)
        goto fail;
    /* Which file is this writer's, should a no-replace publish have to take its name back. */
    *step = "stat";
    if ((flags & RECD_PUBLISH_NOREPLACE) && fstat(t->fd, &own) < 0)
        goto fail;
    *step = "close";
    int c = close(t->fd);
    t->fd = -1;
    /* Linux closes the descriptor even when close() says EINTR, and the data is already synced. */
    if (c < 0 && errno != EINTR)
        goto fail;
    if (flags & RECD_PUBLISH_NOREPLACE) {
        int l = link_noreplace(t, dirfd, name, step);
        if (l < 0)
            goto fail;
        exists = l == 1;
        linked = !exists;
        if (t->named) {
            *step = "unlink temp";
            if (unlinkat(t->dirfd, t->name, 0) < 0)
                goto fail;
            t->named = 0;
        }
    } else {
        *step = "rename";
        if (renameat(t->dirfd, t->name, dirfd, name) < 0)
            goto fail;
        t->named = 0;
    }
    /* Winner or loser of a no-replace race, the name is about to be used: make it durable. */
    *step = "fsync dir";
    if (sync && recd_fsync(dirfd) < 0)
        goto fail;
    return exists ? RECD_E_EXISTS : 0;
fail:;
    int e = errno;
    /*
     * A no-replace publish that fails after its link took the name gives the name back: the
     * caller may not remove what is under it after a failure (that could be another writer's),
     * so a failed put must leave none of its bytes there. Only this writer's file is unlinked; no
     * other writer replaces a name that a no-replace writer may hold.
     */
    struct stat now;
    if (linked && fstatat(dirfd, name, &now, AT_SYMLINK_NOFOLLOW) == 0 && now.st_dev == own.st_dev &&
        now.st_ino == own.st_ino)
        unlinkat(dirfd, name, 0);
    return recd_err_from_errno(e);
}

void recd_tmpfile_discard(struct recd_tmpfile *t)
{
    int e = errno;
    if (t->fd >= 0)
        close(t->fd);
    t->fd = -1;
    if (t->named)
        unlinkat(t->dirfd, t->name, 0);
    t->named = 0;
    errno = e;
}
