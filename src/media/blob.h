#ifndef RECD_MEDIA_BLOB_H
#define RECD_MEDIA_BLOB_H

#include <stddef.h>
#include <stdint.h>

/*
 * The blob store: media bytes by key. One interface, a table of function pointers, so that the
 * filesystem (now) and object storage (later) are interchangeable.
 *
 * Keys are built by recd, never taken from a request: a recording sid and a suffix,
 * "RE<32 hex>.wav", ".mp3", ".mono.wav", ".mono.mp3", or a waveform's ".peaks<N>.dat" and
 * ".peaks<N>.json" (media/peaks.h). Every backend rejects any other shape with
 * RECD_E_BAD_INPUT, so no path is ever built from unvalidated input.
 *
 * Durability (contract §5): put() returns 0 only when the bytes and the name are on stable
 * storage (temp file, fsync, rename, fsync of the directory), or, in batch mode (defer_sync),
 * once sync() has returned 0. A crash before that leaves at most
 * a temporary file, which scan_leftovers() reports and remove_leftovers() deletes.
 */

struct recd_blob;

/** put_fd_sha256's flag: only a key that does not exist yet is stored. */
#define RECD_BLOB_PUT_NEW 1u

/**
 * The repair guard. Media written before the metadata that refers to it has committed (an
 * import, a derived file) looks like an orphan to fsck; so a writer holds the guard shared while
 * such media exists, and `fsck --repair`, which deletes orphans, holds it exclusive. Across the
 * processes that share the store.
 */
enum recd_blob_guard { RECD_BLOB_RELEASE = 0, RECD_BLOB_WRITING, RECD_BLOB_REPAIRING };

/** Called for each key found by scan(); returning non-zero stops the walk. */
typedef int (*recd_blob_key_cb)(void *ctx, const char *key, int64_t size);

struct recd_blob_ops {
    void (*close)(struct recd_blob *b);
    /** Stores `size` bytes read from `fd` (from its current offset) under `key`, durably. Replaces an
     * existing key. */
    int (*put_fd)(struct recd_blob *b, const char *key, int fd, int64_t size);
    /**
     * As put_fd, and fills `sha256_hex` with the SHA-256 (64 lowercase hex digits and a NUL) of
     * exactly the bytes stored, taken as they are written (no read back). With RECD_BLOB_PUT_NEW
     * in `flags`, stores only if `key` does not exist: RECD_E_EXISTS, with nothing of this call
     * left behind, when it does (on S3, `If-None-Match: *`, which a store without conditional
     * writes ignores). For a key the caller chose rather than drew at random (`import --sid`),
     * so that two writers of it cannot replace each other's bytes. NULL in a backend that
     * cannot: then the caller reads the stored object back.
     */
    int (*put_fd_sha256)(struct recd_blob *b, const char *key, int fd, int64_t size, unsigned flags,
                         char sha256_hex[65]);
    /** Stores `n` bytes from memory under `key`, durably. */
    int (*put_mem)(struct recd_blob *b, const char *key, const void *p, size_t n);
    /** Opens `key` for reading: *fd (caller closes) and *size. RECD_E_NOT_FOUND if absent. */
    int (*open)(struct recd_blob *b, const char *key, int *fd, int64_t *size);
    /** The size of `key` without reading it (an object store asks for its head only).
     * RECD_E_NOT_FOUND if absent. */
    int (*stat)(struct recd_blob *b, const char *key, int64_t *size);
    /**
     * Opens the bytes [off, off + len) of `key` (len >= 1, within its size) for reading, without
     * reading the rest: an object store fetches only that range. *fd (caller closes) holds them
     * from offset *fd_off on. *whole is 1 when *fd is the whole object from offset 0 (a file), so
     * that it may be kept and read for other ranges too; 0 when it holds only the part asked.
     * RECD_E_NOT_FOUND if absent, RECD_E_RANGE when the object is shorter than off + len.
     */
    int (*open_range)(struct recd_blob *b, const char *key, int64_t off, int64_t len, int *fd,
                      int64_t *fd_off, int *whole);
    /** Removes `key` durably (unlink, fsync the directory). 0 also when it was already absent. */
    int (*remove)(struct recd_blob *b, const char *key);
    /** Every stored key (fsck), in no particular order; a callback that stops the walk still gives 0. */
    int (*scan)(struct recd_blob *b, recd_blob_key_cb cb, void *ctx);
    /** Every stored key of the recording `sid` (its WAV and what was derived from it: a delete
     * must find waveforms of any SamplesPerPixel), in no particular order. The callback must not
     * remove keys; collect them first. 0 or RECD_E_*. */
    int (*scan_sid)(struct recd_blob *b, const char *sid, recd_blob_key_cb cb, void *ctx);
    /** Leftovers of interrupted writes (temporary files), by a display name; 0 or an error. */
    int (*scan_leftovers)(struct recd_blob *b, recd_blob_key_cb cb, void *ctx);
    /** Deletes leftovers older than `min_age_s` seconds (so a write in progress elsewhere is spared); *n gets
     * the count. */
    int (*remove_leftovers)(struct recd_blob *b, int64_t min_age_s, int64_t *n);
    /**
     * Batch mode for bulk writes (imports): with `on`, put() no longer makes each file durable by
     * itself; nothing put since is durable until sync() returns 0, which the caller must see
     * before it commits any metadata that refers to those files. Turning it off syncs first.
     */
    int (*defer_sync)(struct recd_blob *b, int on);
    /** Makes every put() since the last sync durable. 0 or RECD_E_*. */
    int (*sync)(struct recd_blob *b);
    /** Takes (waiting for it) or releases the repair guard, as `how` says. 0 or RECD_E_*. */
    int (*guard)(struct recd_blob *b, enum recd_blob_guard how);
    /**
     * Readiness (GET /readyz): 0 when media can be written now (the filesystem backend creates
     * and writes an unnamed file in its folder), else a RECD_E_* value, the cause logged. Leaves
     * nothing behind. NULL in a backend that cannot tell: then it counts as ready.
     */
    int (*ready)(struct recd_blob *b);
};

struct recd_blob {
    const struct recd_blob_ops *ops;
    /** 1 when this handle's put_fd, put_fd_sha256, open, stat and remove may run on several
     * threads at once (the filesystem backend: a batch import writes its files in parallel, so
     * that their directory lookups wait on the disk together); 0 when calls come one at a time. */
    int threads_ok;
};

/** 1 when `key` has a shape recd builds: "RE" + 32 lowercase hex + one of the known suffixes (or a
 * peaks suffix that recd_peaks_suffix_parse accepts). */
int recd_blob_key_valid(const char *key);

/**
 * Opens the filesystem blob store rooted at `dir` (created if missing, mode 0700). Layout:
 * `dir/ab/cd/REabcd….wav`, sharded by the first four hex digits after the prefix (random), so
 * that no directory holds more than a few hundred files at a million recordings; temporary files
 * live in `dir/tmp/` on the same filesystem so that rename() is atomic. The repair guard is an
 * flock on `dir/.lock`.
 */
int recd_blob_fs_open(const char *dir, struct recd_blob **out);

/**
 * Bulk loading (benchmark data sets, migrations of many files): hard-links the file `src_name`
 * in the directory `src_dirfd` under `key`, without the per-file fsyncs of put(). Nothing is
 * durable until the caller syncs the filesystem (syncfs) and then commits the metadata.
 * Filesystem backend only. 0 or RECD_E_*.
 */
int recd_blob_fs_bulk_link(struct recd_blob *b, const char *key, int src_dirfd, const char *src_name);

#endif
