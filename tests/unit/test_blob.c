#include "media/blob.h"

#include "core/error.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>

/*
 * The filesystem blob store, against a fresh directory per test. The assertions look at the
 * directory itself too (where the bytes landed, what is left in tmp/), since that is what a
 * crash or an operator would find.
 */

#define K1 "RE0123456789abcdef0123456789abcdef"
#define K2 "REfedcba9876543210fedcba9876543210"

struct fixture {
    char dir[64];
    struct recd_blob *b;
};

/* Removes `path` and everything under it (the test's own files only). */
static void rm_tree(int at, const char *path)
{
    int fd = openat(at, path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        unlinkat(at, path, 0);
        return;
    }
    DIR *d = fdopendir(fd);
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        rm_tree(dirfd(d), de->d_name);
    }
    closedir(d);
    unlinkat(at, path, AT_REMOVEDIR);
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    if (f == NULL)
        return -1;
    strcpy(f->dir, "/tmp/recd-test-blob-XXXXXX");
    if (mkdtemp(f->dir) == NULL)
        return -1;
    /* The store creates its root itself. */
    strcat(f->dir, "/media");
    if (recd_blob_fs_open(f->dir, &f->b) != 0)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    f->b->ops->close(f->b);
    *strrchr(f->dir, '/') = '\0';
    rm_tree(AT_FDCWD, f->dir);
    free(f);
    return 0;
}

/* Reads the whole of `fd` from offset 0 into a new buffer; *n gets the length. */
static char *slurp(int fd, size_t *n)
{
    struct stat st;
    assert_int_equal(fstat(fd, &st), 0);
    char *p = malloc((size_t)st.st_size + 1);
    assert_non_null(p);
    assert_int_equal(pread(fd, p, (size_t)st.st_size, 0), st.st_size);
    *n = (size_t)st.st_size;
    return p;
}

/* Asserts that `key` reads back as exactly the `n` bytes at `p`. */
static void expect_blob(struct recd_blob *b, const char *key, const void *p, size_t n)
{
    int fd = -1;
    int64_t size = -1;
    assert_int_equal(b->ops->open(b, key, &fd, &size), 0);
    assert_true(fd >= 0);
    assert_int_equal(size, (int64_t)n);
    size_t got_n;
    char *got = slurp(fd, &got_n);
    assert_int_equal(got_n, n);
    assert_memory_equal(got, p, n);
    free(got);
    close(fd);
}

/* The number of entries in `dir`/`sub`, "." and ".." aside; -1 if it cannot be opened. */
static int count_entries(const char *dir, const char *sub)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, sub);
    DIR *d = opendir(path);
    if (d == NULL)
        return -1;
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
            n++;
    closedir(d);
    return n;
}

/* Writes `n` bytes to a new file `name` in the fixture's parent directory; returns an O_RDONLY fd. */
static int source_file(struct fixture *f, const char *name, const void *p, size_t n)
{
    char path[256];
    snprintf(path, sizeof path, "%.*s/%s", (int)(strrchr(f->dir, '/') - f->dir), f->dir, name);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, p, n), (ssize_t)n);
    close(fd);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    return fd;
}

/* Collects what a scan reports, as "name=size" lines, in any order. */
struct seen {
    char names[16][96];
    int64_t sizes[16];
    int n;
};

static int collect(void *ctx, const char *key, int64_t size)
{
    struct seen *s = ctx;
    assert_true(s->n < 16);
    snprintf(s->names[s->n], sizeof s->names[0], "%s", key);
    s->sizes[s->n] = size;
    s->n++;
    return 0;
}

static int find(const struct seen *s, const char *name)
{
    for (int i = 0; i < s->n; i++)
        if (strcmp(s->names[i], name) == 0)
            return i;
    return -1;
}

static void test_key_valid(void **state)
{
    (void)state;
    assert_int_equal(recd_blob_key_valid(K1 ".wav"), 1);
    assert_int_equal(recd_blob_key_valid(K1 ".mp3"), 1);
    assert_int_equal(recd_blob_key_valid(K1 ".mono.wav"), 1);
    assert_int_equal(recd_blob_key_valid(K1 ".mono.mp3"), 1);

    assert_int_equal(recd_blob_key_valid(NULL), 0);
    assert_int_equal(recd_blob_key_valid(""), 0);
    assert_int_equal(recd_blob_key_valid("../x"), 0);
    assert_int_equal(recd_blob_key_valid("RE0123456789abcdef0123456789ABCDEF.wav"), 0);
    assert_int_equal(recd_blob_key_valid("CA0123456789abcdef0123456789abcdef.wav"), 0);
    assert_int_equal(recd_blob_key_valid(K1), 0);
    assert_int_equal(recd_blob_key_valid(K1 ".WAV"), 0);
    assert_int_equal(recd_blob_key_valid(K1 ".ogg"), 0);
    assert_int_equal(recd_blob_key_valid(K1 ".wav.tmp"), 0);
    assert_int_equal(recd_blob_key_valid(K1 ".wav/"), 0);
    assert_int_equal(recd_blob_key_valid(K1 ".stereo.wav"), 0);
    assert_int_equal(recd_blob_key_valid("RE0123456789abcdef0123456789abcde.wav"), 0);   /* 31 hex */
    assert_int_equal(recd_blob_key_valid("RE0123456789abcdef0123456789abcdef0.wav"), 0); /* 33 hex */
    assert_int_equal(recd_blob_key_valid("RE01/../../../../../../etc/passwd.wav"), 0);
    assert_int_equal(recd_blob_key_valid(K1 ".wav" K1 ".wav" K1 ".wav"), 0); /* too long */
    /* Waveform peaks: one key per SamplesPerPixel within media/peaks.h's range, two formats. */
    assert_int_equal(recd_blob_key_valid(K1 ".peaks256.dat"), 1);
    assert_int_equal(recd_blob_key_valid(K1 ".peaks256.json"), 1);
    assert_int_equal(recd_blob_key_valid(K1 ".peaks32.dat"), 1);
    assert_int_equal(recd_blob_key_valid(K1 ".peaks65536.json"), 1);
    assert_int_equal(recd_blob_key_valid(K1 ".peaks31.dat"), 0);
    assert_int_equal(recd_blob_key_valid(K1 ".peaks65537.dat"), 0);
    assert_int_equal(recd_blob_key_valid(K1 ".peaks0256.dat"), 0);
    assert_int_equal(recd_blob_key_valid(K1 ".peaks.dat"), 0);
    assert_int_equal(recd_blob_key_valid(K1 ".peaks256.png"), 0);
    assert_int_equal(recd_blob_key_valid(K1 ".peaks256.dat.tmp"), 0);
    assert_int_equal(recd_blob_key_valid(K1 ".peaks-256.dat"), 0);
    assert_int_equal(recd_blob_key_valid(K1 ".peaks256/../x.dat"), 0);
}

static void test_bad_keys_rejected_by_every_op(void **state)
{
    struct fixture *f = *state;
    struct recd_blob *b = f->b;
    static const char *const bad[] = {"", "../x", "RE0123456789ABCDEF0123456789abcdef.wav", K1 ".txt",
                                      K1 ".wav" K1 ".wav" K1 ".wav" K1 ".wav"};
    int fd = source_file(f, "src", "abc", 3);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int out = -1;
        int64_t size = -1;
        assert_int_equal(b->ops->put_mem(b, bad[i], "abc", 3), RECD_E_BAD_INPUT);
        assert_int_equal(b->ops->put_fd(b, bad[i], fd, 3), RECD_E_BAD_INPUT);
        assert_int_equal(b->ops->open(b, bad[i], &out, &size), RECD_E_BAD_INPUT);
        assert_int_equal(out, -1);
        assert_int_equal(b->ops->remove(b, bad[i]), RECD_E_BAD_INPUT);
    }
    close(fd);
    /* Nothing was created: only the empty tmp/ directory and the repair guard's .lock. */
    assert_int_equal(count_entries(f->dir, "."), 2);
    assert_int_equal(count_entries(f->dir, "tmp"), 0);
}

static void test_put_mem_and_read_back(void **state)
{
    struct fixture *f = *state;
    struct recd_blob *b = f->b;
    static const char bytes[] = "RIFF\x24\0\0\0WAVE and some\0binary\xff bytes";

    assert_int_equal(b->ops->put_mem(b, K1 ".wav", bytes, sizeof bytes), 0);
    expect_blob(b, K1 ".wav", bytes, sizeof bytes);

    /* Where the contract says it lives: root/01/23/<key>, mode 0600, with 0700 directories. */
    char path[256];
    struct stat st;
    snprintf(path, sizeof path, "%s/01/23/" K1 ".wav", f->dir);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_size, (off_t)sizeof bytes);
    assert_int_equal(st.st_mode & 0777, 0600);
    snprintf(path, sizeof path, "%s/01/23", f->dir);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    assert_int_equal(stat(f->dir, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    assert_int_equal(count_entries(f->dir, "tmp"), 0);

    /* Other suffixes of the same sid sit beside it. */
    assert_int_equal(b->ops->put_mem(b, K1 ".mono.mp3", "ID3", 3), 0);
    expect_blob(b, K1 ".mono.mp3", "ID3", 3);
    expect_blob(b, K1 ".wav", bytes, sizeof bytes);
    assert_int_equal(count_entries(f->dir, "01/23"), 2);

    /* An empty blob is a blob. */
    assert_int_equal(b->ops->put_mem(b, K2 ".mp3", NULL, 0), 0);
    expect_blob(b, K2 ".mp3", "", 0);
}

/* Batch mode: puts land where they belong, the temp folder stays clean, sync and leaving batch
 * mode succeed, and later puts are durable one by one again. (Whether the bytes reach the disk
 * is the kernel's side of syncfs; the crash tests cover the protocol end to end.) */
static void test_deferred_sync_batch(void **state)
{
    struct fixture *f = *state;
    struct recd_blob *b = f->b;
    assert_int_equal(b->ops->sync(b), 0); /* nothing to do */
    assert_int_equal(b->ops->defer_sync(b, 1), 0);
    assert_int_equal(b->ops->put_mem(b, K1 ".wav", "one", 3), 0);
    assert_int_equal(b->ops->put_mem(b, K2 ".wav", "two", 3), 0);
    expect_blob(b, K1 ".wav", "one", 3);
    expect_blob(b, K2 ".wav", "two", 3);
    assert_int_equal(count_entries(f->dir, "tmp"), 0);
    assert_int_equal(b->ops->sync(b), 0);
    assert_int_equal(b->ops->defer_sync(b, 0), 0);
    assert_int_equal(b->ops->put_mem(b, K1 ".mp3", "three", 5), 0);
    expect_blob(b, K1 ".mp3", "three", 5);
    /* A bad key is refused in batch mode too. */
    assert_int_equal(b->ops->defer_sync(b, 1), 0);
    assert_int_equal(b->ops->put_mem(b, "../" K1 ".wav", "x", 1), RECD_E_BAD_INPUT);
    assert_int_equal(b->ops->defer_sync(b, 0), 0);
}

static void test_put_fd_from_file(void **state)
{
    struct fixture *f = *state;
    struct recd_blob *b = f->b;
    size_t n = 3 * 1024 * 1024 + 17; /* more than one copy chunk */
    unsigned char *p = malloc(n);
    assert_non_null(p);
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char)(i * 31 + (i >> 11));
    int fd = source_file(f, "src.wav", p, n);

    assert_int_equal(b->ops->put_fd(b, K2 ".wav", fd, (int64_t)n), 0);
    expect_blob(b, K2 ".wav", p, n);
    /* The source was read from its offset to the end. */
    assert_int_equal(lseek(fd, 0, SEEK_CUR), (off_t)n);

    /* From the current offset, `size` bytes: the middle of the file. */
    assert_int_equal(lseek(fd, 1000, SEEK_SET), 1000);
    assert_int_equal(b->ops->put_fd(b, K1 ".wav", fd, 5000), 0);
    expect_blob(b, K1 ".wav", p + 1000, 5000);
    assert_int_equal(lseek(fd, 0, SEEK_CUR), 6000);
    close(fd);
    free(p);
    assert_int_equal(count_entries(f->dir, "tmp"), 0);
}

/* The SHA-256 of `n` bytes at `p`, as 64 lowercase hex digits. */
static void sha256_hex(const void *p, size_t n, char hex[65])
{
    unsigned char md[32];
    assert_int_equal(EVP_Digest(p, n, md, NULL, EVP_sha256(), NULL), 1);
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

static void test_put_fd_sha256(void **state)
{
    struct fixture *f = *state;
    struct recd_blob *b = f->b;
    size_t n = 200 * 1024 + 5; /* several hashed copy chunks and a short last one */
    unsigned char *p = malloc(n);
    assert_non_null(p);
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char)(i * 7 + (i >> 9));
    char want[65], got[65];
    int fd = source_file(f, "hashed.wav", p, n);

    /* The digest is of exactly the bytes stored: from the source's offset, `size` of them. */
    assert_int_equal(b->ops->put_fd_sha256(b, K1 ".wav", fd, (int64_t)n, 0, got), 0);
    sha256_hex(p, n, want);
    assert_string_equal(got, want);
    expect_blob(b, K1 ".wav", p, n);
    assert_int_equal(lseek(fd, 100, SEEK_SET), 100);
    assert_int_equal(b->ops->put_fd_sha256(b, K2 ".wav", fd, 1000, 0, got), 0);
    sha256_hex(p + 100, 1000, want);
    assert_string_equal(got, want);
    expect_blob(b, K2 ".wav", p + 100, 1000);

    /* An empty source has the empty digest. */
    assert_int_equal(b->ops->put_fd_sha256(b, K1 ".mp3", fd, 0, 0, got), 0);
    assert_string_equal(got, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");

    /* A short source stores nothing and leaves no temp file. */
    assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
    assert_int_equal(b->ops->put_fd_sha256(b, K1 ".mono.wav", fd, (int64_t)n + 1, 0, got), RECD_E_IO);
    int out = -1;
    int64_t size = -1;
    assert_int_equal(b->ops->open(b, K1 ".mono.wav", &out, &size), RECD_E_NOT_FOUND);
    assert_int_equal(count_entries(f->dir, "tmp"), 0);
    assert_int_equal(count_entries(f->dir, "01/23"), 2);
    assert_int_equal(b->ops->put_fd_sha256(b, K1 ".wav", fd, 1, 0, NULL), RECD_E_BAD_INPUT);
    close(fd);
    free(p);
}

/* RECD_BLOB_PUT_NEW stores a key only where there is none: a second writer of it gets
 * RECD_E_EXISTS and changes nothing, in either mode, and leaves no temp file behind. */
static void test_put_new_never_replaces(void **state)
{
    struct fixture *f = *state;
    struct recd_blob *b = f->b;
    char got[65], want[65];
    int first = source_file(f, "first.wav", "first bytes", 11);
    int second = source_file(f, "second.wav", "second, longer bytes", 20);
    assert_int_equal(b->ops->put_fd_sha256(b, K1 ".wav", first, 11, RECD_BLOB_PUT_NEW, got), 0);
    sha256_hex("first bytes", 11, want);
    assert_string_equal(got, want);
    assert_int_equal(b->ops->put_fd_sha256(b, K1 ".wav", second, 20, RECD_BLOB_PUT_NEW, got), RECD_E_EXISTS);
    expect_blob(b, K1 ".wav", "first bytes", 11);
    assert_int_equal(count_entries(f->dir, "tmp"), 0);
    assert_int_equal(count_entries(f->dir, "01/23"), 1);
    /* In batch mode too, where the temp file is made in the shard directory. */
    assert_int_equal(b->ops->defer_sync(b, 1), 0);
    assert_int_equal(lseek(second, 0, SEEK_SET), 0);
    assert_int_equal(b->ops->put_fd_sha256(b, K1 ".wav", second, 20, RECD_BLOB_PUT_NEW, got), RECD_E_EXISTS);
    assert_int_equal(b->ops->defer_sync(b, 0), 0);
    expect_blob(b, K1 ".wav", "first bytes", 11);
    assert_int_equal(count_entries(f->dir, "01/23"), 1);
    /* Without the flag a put replaces, as before; an unknown flag is refused. */
    assert_int_equal(lseek(second, 0, SEEK_SET), 0);
    assert_int_equal(b->ops->put_fd_sha256(b, K1 ".wav", second, 20, 0, got), 0);
    expect_blob(b, K1 ".wav", "second, longer bytes", 20);
    assert_int_equal(b->ops->put_fd_sha256(b, K1 ".wav", second, 0, 2u, got), RECD_E_BAD_INPUT);
    close(first);
    close(second);
}

/*
 * In batch mode a put makes its temp file in the key's own shard directory (parallel puts share
 * no directory): a failed one leaves nothing there, and a leftover there (a crash between create
 * and rename) is reported and removed like one in tmp/.
 */
static void test_batch_temp_in_shard(void **state)
{
    struct fixture *f = *state;
    struct recd_blob *b = f->b;
    char got[65];
    assert_int_equal(b->ops->defer_sync(b, 1), 0);
    int fd = source_file(f, "short.wav", "0123456789", 10);
    assert_int_equal(b->ops->put_fd_sha256(b, K1 ".wav", fd, 11, 0, got), RECD_E_IO);
    assert_int_equal(count_entries(f->dir, "01/23"), 0);
    assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
    assert_int_equal(b->ops->put_fd_sha256(b, K1 ".wav", fd, 10, 0, got), 0);
    close(fd);
    assert_int_equal(b->ops->sync(b), 0);
    assert_int_equal(b->ops->defer_sync(b, 0), 0);
    assert_int_equal(count_entries(f->dir, "01/23"), 1);
    assert_int_equal(count_entries(f->dir, "tmp"), 0);
    expect_blob(b, K1 ".wav", "0123456789", 10);

    char path[256];
    snprintf(path, sizeof path, "%s/01/23/%s", f->dir, K1 ".wav.a1b2c3d4e5f60718.tmp");
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    assert_true(fd >= 0);
    close(fd);
    struct seen s = {0};
    assert_int_equal(b->ops->scan_leftovers(b, collect, &s), 0);
    assert_int_equal(s.n, 1);
    assert_string_equal(s.names[0], "01/23/" K1 ".wav.a1b2c3d4e5f60718.tmp");
    int64_t n = -1;
    assert_int_equal(b->ops->remove_leftovers(b, 0, &n), 0);
    assert_int_equal(n, 1);
    expect_blob(b, K1 ".wav", "0123456789", 10);
}

static void test_put_fd_from_pipe(void **state)
{
    struct fixture *f = *state;
    struct recd_blob *b = f->b;
    int p[2];
    assert_int_equal(pipe(p), 0);
    assert_int_equal(write(p[1], "hello from a pipe", 17), 17);
    close(p[1]);
    assert_int_equal(b->ops->put_fd(b, K1 ".wav", p[0], 17), 0);
    close(p[0]);
    expect_blob(b, K1 ".wav", "hello from a pipe", 17);
}

static void test_put_fd_short_source(void **state)
{
    struct fixture *f = *state;
    struct recd_blob *b = f->b;
    int fd = source_file(f, "short.wav", "only ten b", 10);

    assert_int_equal(b->ops->put_fd(b, K1 ".wav", fd, 11), RECD_E_IO);
    close(fd);
    int out = -1;
    int64_t size = -1;
    assert_int_equal(b->ops->open(b, K1 ".wav", &out, &size), RECD_E_NOT_FOUND);
    assert_int_equal(count_entries(f->dir, "tmp"), 0);
    char path[256];
    struct stat st;
    snprintf(path, sizeof path, "%s/01/23/" K1 ".wav", f->dir);
    assert_int_equal(stat(path, &st), -1);

    /* A short source does not clobber what was there either. */
    assert_int_equal(b->ops->put_mem(b, K1 ".wav", "original", 8), 0);
    fd = source_file(f, "short2.wav", "abc", 3);
    assert_int_equal(b->ops->put_fd(b, K1 ".wav", fd, 4), RECD_E_IO);
    close(fd);
    expect_blob(b, K1 ".wav", "original", 8);
    assert_int_equal(count_entries(f->dir, "tmp"), 0);

    /* Same with a pipe, where the read/write fallback does the copying. */
    int p[2];
    assert_int_equal(pipe(p), 0);
    assert_int_equal(write(p[1], "xy", 2), 2);
    close(p[1]);
    assert_int_equal(b->ops->put_fd(b, K1 ".wav", p[0], 3), RECD_E_IO);
    close(p[0]);
    expect_blob(b, K1 ".wav", "original", 8);
    assert_int_equal(count_entries(f->dir, "tmp"), 0);

    /* A negative size or descriptor is refused outright. */
    assert_int_equal(b->ops->put_fd(b, K1 ".wav", 0, -1), RECD_E_BAD_INPUT);
    assert_int_equal(b->ops->put_fd(b, K1 ".wav", -1, 1), RECD_E_BAD_INPUT);
}

static void test_replace(void **state)
{
    struct fixture *f = *state;
    struct recd_blob *b = f->b;

    assert_int_equal(b->ops->put_mem(b, K1 ".wav", "first version, longer", 21), 0);
    int old_fd = -1;
    int64_t size = -1;
    assert_int_equal(b->ops->open(b, K1 ".wav", &old_fd, &size), 0);
    assert_int_equal(b->ops->put_mem(b, K1 ".wav", "second", 6), 0);
    expect_blob(b, K1 ".wav", "second", 6);
    assert_int_equal(count_entries(f->dir, "01/23"), 1);

    /* A reader that opened the old blob keeps reading the old bytes (rename, not rewrite). */
    size_t n;
    char *got = slurp(old_fd, &n);
    assert_int_equal(n, 21);
    assert_memory_equal(got, "first version, longer", 21);
    free(got);
    close(old_fd);
}

static void test_remove_twice(void **state)
{
    struct fixture *f = *state;
    struct recd_blob *b = f->b;
    int fd = -1;
    int64_t size = -1;

    assert_int_equal(b->ops->put_mem(b, K1 ".wav", "abc", 3), 0);
    assert_int_equal(b->ops->put_mem(b, K1 ".mp3", "def", 3), 0);
    assert_int_equal(b->ops->remove(b, K1 ".wav"), 0);
    assert_int_equal(b->ops->open(b, K1 ".wav", &fd, &size), RECD_E_NOT_FOUND);
    assert_int_equal(fd, -1);
    assert_int_equal(b->ops->remove(b, K1 ".wav"), 0);
    expect_blob(b, K1 ".mp3", "def", 3);
    assert_int_equal(count_entries(f->dir, "01/23"), 1);

    /* Absent keys in shards that were never created. */
    assert_int_equal(b->ops->remove(b, K2 ".wav"), 0);
    assert_int_equal(b->ops->open(b, K2 ".wav", &fd, &size), RECD_E_NOT_FOUND);
}

static void test_scan(void **state)
{
    struct fixture *f = *state;
    struct recd_blob *b = f->b;
    struct seen s = {0};

    assert_int_equal(b->ops->scan(b, collect, &s), 0);
    assert_int_equal(s.n, 0);

    assert_int_equal(b->ops->put_mem(b, K1 ".wav", "1234", 4), 0);
    assert_int_equal(b->ops->put_mem(b, K1 ".mp3", "12", 2), 0);
    assert_int_equal(b->ops->put_mem(b, K2 ".wav", "123456", 6), 0);
    assert_int_equal(b->ops->put_mem(b, "REaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.wav", "", 0), 0);
    assert_int_equal(b->ops->remove(b, "REaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.wav"), 0);

    /* Debris that is not a blob: a stray name, a key in the wrong shard, a temp file. */
    char path[256];
    snprintf(path, sizeof path, "%s/01/23/notes.txt", f->dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    assert_true(fd >= 0);
    close(fd);
    snprintf(path, sizeof path, "%s/01/23/" K2 ".wav", f->dir);
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    assert_true(fd >= 0);
    close(fd);
    snprintf(path, sizeof path, "%s/tmp/" K1 ".wav.0011223344556677.tmp", f->dir);
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    assert_true(fd >= 0);
    close(fd);

    memset(&s, 0, sizeof s);
    assert_int_equal(b->ops->scan(b, collect, &s), 0);
    assert_int_equal(s.n, 3);
    int i;
    assert_true((i = find(&s, K1 ".wav")) >= 0);
    assert_int_equal(s.sizes[i], 4);
    assert_true((i = find(&s, K1 ".mp3")) >= 0);
    assert_int_equal(s.sizes[i], 2);
    assert_true((i = find(&s, K2 ".wav")) >= 0);
    assert_int_equal(s.sizes[i], 6);

    memset(&s, 0, sizeof s);
    assert_int_equal(b->ops->scan_leftovers(b, collect, &s), 0);
    assert_int_equal(s.n, 3);
    assert_true(find(&s, "01/23/notes.txt") >= 0);
    assert_true(find(&s, "01/23/" K2 ".wav") >= 0);
    assert_true(find(&s, "tmp/" K1 ".wav.0011223344556677.tmp") >= 0);
}

/* scan_sid finds one recording's keys, whatever their suffix, and nothing else in its shard. */
static void test_scan_sid(void **state)
{
    struct fixture *f = *state;
    struct recd_blob *b = f->b;
    struct seen s = {0};
    /* Same shard as K1 (the first four hex digits), another recording. */
    const char *neighbour = "RE0123aaaaaaaaaaaaaaaaaaaaaaaaaaaa.wav";

    assert_int_equal(b->ops->scan_sid(b, K1, collect, &s), 0); /* no shard yet */
    assert_int_equal(s.n, 0);
    assert_int_equal(b->ops->put_mem(b, K1 ".wav", "1234", 4), 0);
    assert_int_equal(b->ops->put_mem(b, K1 ".peaks256.dat", "12", 2), 0);
    assert_int_equal(b->ops->put_mem(b, K1 ".peaks1000.json", "123", 3), 0);
    assert_int_equal(b->ops->put_mem(b, neighbour, "1", 1), 0);
    assert_int_equal(b->ops->put_mem(b, K2 ".wav", "1", 1), 0);
    char path[256];
    snprintf(path, sizeof path, "%s/01/23/" K1 ".peaks256.dat.junk", f->dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    assert_true(fd >= 0);
    close(fd);

    assert_int_equal(b->ops->scan_sid(b, K1, collect, &s), 0);
    assert_int_equal(s.n, 3);
    int i;
    assert_true((i = find(&s, K1 ".wav")) >= 0);
    assert_int_equal(s.sizes[i], 4);
    assert_true((i = find(&s, K1 ".peaks256.dat")) >= 0);
    assert_int_equal(s.sizes[i], 2);
    assert_true((i = find(&s, K1 ".peaks1000.json")) >= 0);
    assert_int_equal(s.sizes[i], 3);

    assert_int_equal(b->ops->scan_sid(b, "RE0123", collect, &s), RECD_E_BAD_INPUT);
    assert_int_equal(b->ops->scan_sid(b, "../../../etc/passwd", collect, &s), RECD_E_BAD_INPUT);
}

static int stop_after_one(void *ctx, const char *key, int64_t size)
{
    (void)key;
    (void)size;
    (*(int *)ctx)++;
    return 1;
}

static void test_scan_stops(void **state)
{
    struct fixture *f = *state;
    struct recd_blob *b = f->b;
    int calls = 0;
    assert_int_equal(b->ops->put_mem(b, K1 ".wav", "a", 1), 0);
    assert_int_equal(b->ops->put_mem(b, K2 ".wav", "b", 1), 0);
    assert_int_equal(b->ops->put_mem(b, K2 ".mp3", "c", 1), 0);
    assert_int_equal(b->ops->scan(b, stop_after_one, &calls), 0);
    assert_int_equal(calls, 1);
}

static void test_leftovers(void **state)
{
    struct fixture *f = *state;
    struct recd_blob *b = f->b;
    char path[256];
    static const char tmpname[] = K1 ".wav.a1b2c3d4e5f60718.tmp";

    assert_int_equal(b->ops->put_mem(b, K1 ".wav", "kept", 4), 0);
    snprintf(path, sizeof path, "%s/tmp/%s", f->dir, tmpname);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "partial", 7), 7);
    close(fd);

    struct seen s = {0};
    assert_int_equal(b->ops->scan_leftovers(b, collect, &s), 0);
    assert_int_equal(s.n, 1);
    assert_string_equal(s.names[0], "tmp/" K1 ".wav.a1b2c3d4e5f60718.tmp");
    assert_int_equal(s.sizes[0], 7);

    /* A fresh temp file may be a write in progress: an hour's grace spares it. */
    int64_t n = -1;
    assert_int_equal(b->ops->remove_leftovers(b, 3600, &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(count_entries(f->dir, "tmp"), 1);

    /* Once it is old enough, it goes. */
    struct timeval old[2] = {{.tv_sec = time(NULL) - 7200}, {.tv_sec = time(NULL) - 7200}};
    assert_int_equal(utimes(path, old), 0);
    snprintf(path, sizeof path, "%s/01/23/stray", f->dir);
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(b->ops->remove_leftovers(b, 3600, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(count_entries(f->dir, "tmp"), 0);
    assert_int_equal(count_entries(f->dir, "01/23"), 2);

    /* With no grace at all, everything that is not a blob goes; blobs stay. */
    assert_int_equal(b->ops->remove_leftovers(b, 0, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(count_entries(f->dir, "01/23"), 1);
    expect_blob(b, K1 ".wav", "kept", 4);
    memset(&s, 0, sizeof s);
    assert_int_equal(b->ops->scan_leftovers(b, collect, &s), 0);
    assert_int_equal(s.n, 0);
}

static void test_leftover_removed_with_zero_age(void **state)
{
    struct fixture *f = *state;
    struct recd_blob *b = f->b;
    char path[256];
    snprintf(path, sizeof path, "%s/tmp/" K2 ".mp3.ffffffffffffffff.tmp", f->dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    assert_true(fd >= 0);
    close(fd);

    int64_t n = -1;
    assert_int_equal(b->ops->remove_leftovers(b, 3600, &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(count_entries(f->dir, "tmp"), 1);
    assert_int_equal(b->ops->remove_leftovers(b, 0, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(count_entries(f->dir, "tmp"), 0);
}

static void test_reopen_existing_store(void **state)
{
    struct fixture *f = *state;
    struct recd_blob *b2 = NULL;

    assert_int_equal(f->b->ops->put_mem(f->b, K1 ".wav", "persist", 7), 0);
    assert_int_equal(recd_blob_fs_open(f->dir, &b2), 0);
    expect_blob(b2, K1 ".wav", "persist", 7);
    /* A second handle on the same directory writes into the same shard without trouble. */
    assert_int_equal(b2->ops->put_mem(b2, K1 ".mp3", "mp3", 3), 0);
    expect_blob(f->b, K1 ".mp3", "mp3", 3);
    b2->ops->close(b2);

    /* A root that is a file cannot be a store. */
    char path[256];
    snprintf(path, sizeof path, "%s/01/23/" K1 ".wav", f->dir);
    assert_int_equal(recd_blob_fs_open(path, &b2), RECD_E_IO);
}

static int count_keys(void *ctx, const char *key, int64_t size)
{
    (void)key;
    (void)size;
    ++*(int *)ctx;
    return 0;
}

/* Whether a process other than this handle could take the repair guard's lock as `op` now. */
static int lock_free(const char *dir, int op)
{
    char path[256];
    snprintf(path, sizeof path, "%s/.lock", dir);
    int fd = open(path, O_RDWR | O_CLOEXEC);
    assert_true(fd >= 0);
    int ok = flock(fd, op | LOCK_NB) == 0;
    close(fd);
    return ok;
}

static void test_repair_guard(void **state)
{
    struct fixture *f = *state;
    struct recd_blob *b2 = NULL;
    assert_int_equal(recd_blob_fs_open(f->dir, &b2), 0);
    /* Writers share the guard with each other, and keep a repair out until both are done. */
    assert_int_equal(f->b->ops->guard(f->b, RECD_BLOB_WRITING), 0);
    assert_int_equal(b2->ops->guard(b2, RECD_BLOB_WRITING), 0);
    assert_true(lock_free(f->dir, LOCK_SH));
    assert_false(lock_free(f->dir, LOCK_EX));
    assert_int_equal(f->b->ops->guard(f->b, RECD_BLOB_RELEASE), 0);
    assert_false(lock_free(f->dir, LOCK_EX));
    assert_int_equal(b2->ops->guard(b2, RECD_BLOB_RELEASE), 0);
    assert_true(lock_free(f->dir, LOCK_EX));
    /* A repair keeps every writer out. */
    assert_int_equal(b2->ops->guard(b2, RECD_BLOB_REPAIRING), 0);
    assert_false(lock_free(f->dir, LOCK_SH));
    assert_int_equal(b2->ops->guard(b2, RECD_BLOB_RELEASE), 0);
    assert_true(lock_free(f->dir, LOCK_SH));
    b2->ops->close(b2);
    /* The lock file is no key: a scan does not see it. */
    int keys = 0;
    assert_int_equal(f->b->ops->scan(f->b, count_keys, &keys), 0);
    assert_int_equal(keys, 0);
}

/* stat gives the size without reading; open_range gives a range of the file, whole, from off. */
static void test_stat_and_open_range(void **state)
{
    struct fixture *f = *state;
    struct recd_blob *b = f->b;
    int64_t size = -1, off = -1;
    int fd = -1, whole = 0;
    char got[4];
    assert_int_equal(b->ops->stat(b, K1 ".wav", &size), RECD_E_NOT_FOUND);
    assert_int_equal(b->ops->open_range(b, K1 ".wav", 0, 1, &fd, &off, &whole), RECD_E_NOT_FOUND);
    assert_int_equal(b->ops->put_mem(b, K1 ".wav", "0123456789", 10), 0);
    assert_int_equal(b->ops->stat(b, K1 ".wav", &size), 0);
    assert_int_equal(size, 10);
    assert_int_equal(b->ops->open_range(b, K1 ".wav", 6, 4, &fd, &off, &whole), 0);
    assert_int_equal(off, 6);
    assert_int_equal(whole, 1);
    assert_int_equal(pread(fd, got, 4, off), 4);
    assert_memory_equal(got, "6789", 4);
    close(fd);
    assert_int_equal(b->ops->open_range(b, K1 ".wav", 6, 5, &fd, &off, &whole), RECD_E_RANGE);
    assert_int_equal(b->ops->open_range(b, K1 ".wav", -1, 1, &fd, &off, &whole), RECD_E_BAD_INPUT);
    assert_int_equal(b->ops->open_range(b, K1 ".wav", 0, 0, &fd, &off, &whole), RECD_E_BAD_INPUT);
    assert_int_equal(b->ops->stat(b, "../" K1 ".wav", &size), RECD_E_BAD_INPUT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_key_valid),
        cmocka_unit_test_setup_teardown(test_bad_keys_rejected_by_every_op, setup, teardown),
        cmocka_unit_test_setup_teardown(test_put_mem_and_read_back, setup, teardown),
        cmocka_unit_test_setup_teardown(test_put_fd_from_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_put_fd_from_pipe, setup, teardown),
        cmocka_unit_test_setup_teardown(test_put_fd_sha256, setup, teardown),
        cmocka_unit_test_setup_teardown(test_put_new_never_replaces, setup, teardown),
        cmocka_unit_test_setup_teardown(test_batch_temp_in_shard, setup, teardown),
        cmocka_unit_test_setup_teardown(test_put_fd_short_source, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replace, setup, teardown),
        cmocka_unit_test_setup_teardown(test_remove_twice, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scan, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scan_stops, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scan_sid, setup, teardown),
        cmocka_unit_test_setup_teardown(test_leftovers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_leftover_removed_with_zero_age, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reopen_existing_store, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deferred_sync_batch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_repair_guard, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stat_and_open_range, setup, teardown),
    };
    return cmocka_run_group_tests_name("blob", tests, NULL, NULL);
}
