#ifndef RECD_CORE_FILE_H
#define RECD_CORE_FILE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/*
 * File helpers shared by everything that writes to disk: the sealing key, the blob store, and
 * later the streaming audio writer. The low-level calls wrap one system call each and follow
 * its convention (0, or -1 with errno set), so that the caller can log strerror(errno) for the
 * step it was doing; recd_err_from_errno() (core/error.h) turns that errno into a RECD_E_* code.
 *
 * The durable publish is the order of contract §5, written once:
 *
 *     recd_tmpfile_create()   a fresh, exclusively created temporary name in a directory
 *     write to t.fd           (recd_write_all, copy_file_range, an encoder: anything)
 *     recd_tmpfile_publish()  fsync the file, close it, rename (or link) it to its final name,
 *                             fsync the directory that holds the final name
 *     recd_tmpfile_discard()  on any failure: close and unlink the temporary name
 *
 * Only after publish returns 0 is the file durable under its name, and only then may metadata
 * that refers to it commit.
 */

/** write(2) until all `n` bytes are written, retrying EINTR. 0, or -1 with errno set (ENOSPC when
 * the device accepts no more bytes without saying why). */
int recd_write_all(int fd, const void *p, size_t n);

/** read(2) exactly `n` bytes, retrying EINTR. 0, or -1 with errno set (EIO when the file ends
 * before `n` bytes). */
int recd_read_exact(int fd, void *p, size_t n);

/** fsync(2), retrying EINTR. 0, or -1 with errno set. */
int recd_fsync(int fd);

/**
 * SHA-256 of the first `size` bytes of the file open at `fd`, read with pread from offset 0 (the
 * file offset is left alone), as 64 lowercase hex digits and a NUL in `hex`. 0, or RECD_E_IO
 * when the file cannot be read or is shorter than `size`.
 */
int recd_file_sha256(int fd, int64_t size, char hex[65]);

/** Room for a temporary name: the stem, ".", 16 hex digits, ".tmp" and a NUL. */
#define RECD_TMPFILE_STEM_MAX 64
#define RECD_TMPFILE_NAME_MAX (RECD_TMPFILE_STEM_MAX + 22)

/** A temporary file being written. The fields are read-only for callers, except that they write
 * to `fd`. */
struct recd_tmpfile {
    int fd;    /* open for writing; -1 once closed by publish or discard */
    int dirfd; /* the directory holding `name` (borrowed, not closed here) */
    int named; /* 1 while `name` exists in `dirfd` */
    char name[RECD_TMPFILE_NAME_MAX];
};

/**
 * Creates "<stem>.<16 random hex>.tmp" in the directory `dirfd` with O_CREAT|O_EXCL|O_NOFOLLOW
 * and `mode` (less the umask), retrying a few names on the rare collision, and fills *t. `stem`
 * is at most RECD_TMPFILE_STEM_MAX bytes and must not contain '/'. Returns 0, RECD_E_BAD_INPUT
 * for a bad stem, RECD_E_INTERNAL when the kernel gives no randomness, or RECD_E_NO_SPACE /
 * RECD_E_IO with errno set. On failure *t holds nothing to discard (discarding it is harmless).
 */
int recd_tmpfile_create(struct recd_tmpfile *t, int dirfd, const char *stem, mode_t mode);

/** Skip both fsyncs: the caller makes the file durable later (syncfs) and must not acknowledge
 * it before then. For batch imports. */
#define RECD_PUBLISH_NOSYNC 0x1u
/** Never replace: publish with link(2) (renameat2 RENAME_NOREPLACE where there are no hard
 * links), so that of several racing writers the first wins. */
#define RECD_PUBLISH_NOREPLACE 0x2u

/**
 * Publishes `t` durably as `name` in the directory `dirfd` (any directory on the same filesystem
 * as t->dirfd): fsync the file, close it, rename it over `name` (or link it, with
 * RECD_PUBLISH_NOREPLACE, then remove the temporary name), fsync `dirfd`. The temporary
 * directory is not fsynced: a temporary name brought back by a crash is a leftover that fsck
 * removes.
 *
 * Returns 0 when the bytes and the name are on stable storage. With RECD_PUBLISH_NOREPLACE and
 * `name` already there, returns RECD_E_EXISTS after removing the temporary name and fsyncing
 * `dirfd`, so the existing file, which the caller will use instead, is durable too. Otherwise
 * RECD_E_NO_SPACE or RECD_E_IO with errno set and *step (if not NULL) naming the step that
 * failed ("fsync", "close", "rename", "link", "unlink temp", "fsync dir"), for the caller's log;
 * the caller then discards `t`. If only the final directory fsync failed, the new file is in
 * place but not known durable: it must not be acknowledged. With RECD_PUBLISH_NOREPLACE a failure
 * after the link leaves nothing of `t` under `name` (the link is removed here), so that the caller
 * never has to remove `name`, which may be another writer's.
 */
int recd_tmpfile_publish(struct recd_tmpfile *t, int dirfd, const char *name, unsigned flags,
                         const char **step);

/** Closes t->fd if open and unlinks the temporary name if it still exists. Keeps errno. Safe to
 * call after a failed create or a successful publish (then it does nothing). */
void recd_tmpfile_discard(struct recd_tmpfile *t);

#endif
