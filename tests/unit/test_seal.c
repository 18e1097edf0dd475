#include "core/seal.h"

#include "core/error.h"
#include "core/log.h"

#include "unit.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define AD1    "AC0123456789abcdef0123456789abcdef"
#define AD2    "AC0123456789abcdef0123456789abcdee"
#define SECRET "0123456789abcdef0123456789abcdef"

static const unsigned char KEY[32] = {1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15, 16,
                                      17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32};

/* A fresh empty directory under $TMPDIR; the caller removes it with rm_dir. */
static void mk_dir(char path[64])
{
    const char *t = getenv("TMPDIR");
    snprintf(path, 64, "%s/recd-seal-XXXXXX", t && strlen(t) < 40 ? t : "/tmp");
    assert_non_null(mkdtemp(path));
}

/* Removes every entry of `path` (flat) and the directory itself. */
static void rm_dir(const char *path)
{
    DIR *d = opendir(path);
    assert_non_null(d);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        char p[512];
        snprintf(p, sizeof p, "%s/%s", path, e->d_name);
        assert_int_equal(unlink(p), 0);
    }
    closedir(d);
    assert_int_equal(rmdir(path), 0);
}

/* The number of entries in `path` other than . and .. */
static int count_entries(const char *path)
{
    DIR *d = opendir(path);
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            n++;
    closedir(d);
    return n;
}

static void write_file(const char *dir, const char *name, const void *p, size_t n, mode_t mode)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, p, n), (ssize_t)n);
    assert_int_equal(fchmod(fd, mode), 0);
    close(fd);
}

static size_t read_file(const char *dir, const char *name, unsigned char *p, size_t cap)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    ssize_t r = read(fd, p, cap);
    assert_true(r >= 0);
    close(fd);
    return (size_t)r;
}

static void test_round_trip(void **state)
{
    (void)state;
    unsigned char a[sizeof SECRET - 1 + RECD_SEAL_OVERHEAD], b[sizeof a];
    unsigned char out[64];
    size_t n = 999;
    assert_int_equal(recd_seal(KEY, AD1, (const unsigned char *)SECRET, LIT_LEN(SECRET), a), 0);
    assert_int_equal(recd_unseal(KEY, AD1, a, sizeof a, out, &n), 0);
    assert_int_equal(n, LIT_LEN(SECRET));
    assert_bytes(out, n, SECRET);
    /* The plaintext is not visible in the blob. */
    assert_null(memmem(a, sizeof a, "0123456789", 10));
    /* A fresh nonce per seal: the same input seals differently, and both open. */
    assert_int_equal(recd_seal(KEY, AD1, (const unsigned char *)SECRET, LIT_LEN(SECRET), b), 0);
    assert_memory_not_equal(a, b, RECD_SEAL_NONCE_LEN);
    assert_memory_not_equal(a + RECD_SEAL_NONCE_LEN, b + RECD_SEAL_NONCE_LEN, LIT_LEN(SECRET));
    assert_int_equal(recd_unseal(KEY, AD1, b, sizeof b, out, &n), 0);
    assert_bytes(out, n, SECRET);
}

static void test_round_trip_empty(void **state)
{
    (void)state;
    unsigned char blob[RECD_SEAL_OVERHEAD], out[1] = {0x5a};
    size_t n = 999;
    assert_int_equal(recd_seal(KEY, NULL, (const unsigned char *)"", 0, blob), 0);
    assert_int_equal(recd_unseal(KEY, NULL, blob, sizeof blob, out, &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(out[0], 0x5a);
    /* NULL and "" are the same (empty) associated data; anything else is not. */
    assert_int_equal(recd_unseal(KEY, "", blob, sizeof blob, out, &n), 0);
    assert_int_equal(recd_unseal(KEY, AD1, blob, sizeof blob, out, &n), RECD_E_INTERNAL);
}

/* Every single-bit change anywhere (nonce, ciphertext, tag) is caught, and leaves no plaintext. */
static void test_tamper_each_byte(void **state)
{
    (void)state;
    enum { M = sizeof SECRET - 1, N = M + RECD_SEAL_OVERHEAD };
    unsigned char blob[N], bad[N], out[M + 8];
    assert_int_equal(recd_seal(KEY, AD1, (const unsigned char *)SECRET, M, blob), 0);
    static const unsigned char flips[] = {0x01, 0x80, 0xff};
    for (size_t i = 0; i < N; i++) {
        for (size_t f = 0; f < sizeof flips; f++) {
            memcpy(bad, blob, N);
            bad[i] ^= flips[f];
            memset(out, 0xaa, sizeof out);
            size_t n = 999;
            assert_int_equal(recd_unseal(KEY, AD1, bad, N, out, &n), RECD_E_INTERNAL);
            assert_int_equal(n, 0);
            for (size_t k = 0; k < M; k++)
                assert_int_equal(out[k], 0); /* wiped: no unauthenticated plaintext */
            for (size_t k = M; k < sizeof out; k++)
                assert_int_equal(out[k], 0xaa); /* nothing written past out */
        }
    }
    /* Truncated or extended blobs fail too. */
    size_t n = 999;
    assert_int_equal(recd_unseal(KEY, AD1, blob, N - 1, out, &n), RECD_E_INTERNAL);
    assert_int_equal(recd_unseal(KEY, AD1, blob, RECD_SEAL_OVERHEAD - 1, out, &n), RECD_E_INTERNAL);
    assert_int_equal(recd_unseal(KEY, AD1, blob, 0, out, &n), RECD_E_INTERNAL);
    assert_int_equal(n, 0);
    /* The untouched blob still opens: the failures above were the tampering. */
    assert_int_equal(recd_unseal(KEY, AD1, blob, N, out, &n), 0);
    assert_bytes(out, n, SECRET);
}

static void test_wrong_ad(void **state)
{
    (void)state;
    enum { M = sizeof SECRET - 1 };
    unsigned char blob[M + RECD_SEAL_OVERHEAD], out[M];
    size_t n = 999;
    assert_int_equal(recd_seal(KEY, AD1, (const unsigned char *)SECRET, M, blob), 0);
    assert_int_equal(recd_unseal(KEY, AD2, blob, sizeof blob, out, &n), RECD_E_INTERNAL);
    assert_int_equal(recd_unseal(KEY, NULL, blob, sizeof blob, out, &n), RECD_E_INTERNAL);
    assert_int_equal(recd_unseal(KEY, AD1 "x", blob, sizeof blob, out, &n), RECD_E_INTERNAL);
    assert_int_equal(n, 0);
}

static void test_wrong_key(void **state)
{
    (void)state;
    enum { M = sizeof SECRET - 1 };
    unsigned char blob[M + RECD_SEAL_OVERHEAD], out[M], key2[32];
    size_t n = 999;
    assert_int_equal(recd_seal(KEY, AD1, (const unsigned char *)SECRET, M, blob), 0);
    for (size_t i = 0; i < 32; i += 31) {
        memcpy(key2, KEY, 32);
        key2[i] ^= 1;
        assert_int_equal(recd_unseal(key2, AD1, blob, sizeof blob, out, &n), RECD_E_INTERNAL);
        assert_int_equal(n, 0);
    }
}

static void test_key_create_reload(void **state)
{
    (void)state;
    char dir[64];
    mk_dir(dir);
    /* A umask that would strip the owner's read bit: the file must still come out 0600. */
    mode_t old = umask(0277);
    unsigned char k1[32], k2[32], disk[64];
    memset(k1, 0, sizeof k1);
    assert_int_equal(recd_seal_key_load(dir, k1), 0);
    umask(old);
    char path[128];
    snprintf(path, sizeof path, "%s/seal.key", dir);
    struct stat st;
    assert_int_equal(lstat(path, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(st.st_mode & 07777, 0600);
    assert_int_equal(st.st_size, 32);
    assert_int_equal(count_entries(dir), 1); /* no temp file left behind */
    assert_int_equal(read_file(dir, "seal.key", disk, sizeof disk), 32);
    assert_memory_equal(disk, k1, 32);
    static const unsigned char zero[32];
    assert_memory_not_equal(k1, zero, 32);

    memset(k2, 0, sizeof k2);
    assert_int_equal(recd_seal_key_load(dir, k2), 0);
    assert_memory_equal(k1, k2, 32);

    /* Sealed under the loaded key, opened under the reloaded one. */
    unsigned char blob[LIT_LEN(SECRET) + RECD_SEAL_OVERHEAD], out[LIT_LEN(SECRET)];
    size_t n;
    assert_int_equal(recd_seal(k1, AD1, (const unsigned char *)SECRET, LIT_LEN(SECRET), blob), 0);
    assert_int_equal(recd_unseal(k2, AD1, blob, sizeof blob, out, &n), 0);
    assert_bytes(out, n, SECRET);
    rm_dir(dir);
}

/* A key file anyone but its owner may read or write is refused, and left as it was. */
static void test_key_bad_mode(void **state)
{
    (void)state;
    static const mode_t modes[] = {0644, 0640, 0604, 0620, 0602, 0610, 0601, 0660, 0666, 0700 | 0004};
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
        char dir[64];
        mk_dir(dir);
        write_file(dir, "seal.key", KEY, 32, modes[i]);
        unsigned char k[32], disk[64];
        memset(k, 0x77, sizeof k);
        assert_int_equal(recd_seal_key_load(dir, k), RECD_E_IO);
        for (size_t j = 0; j < 32; j++)
            assert_int_equal(k[j], 0x77); /* not written */
        assert_int_equal(read_file(dir, "seal.key", disk, sizeof disk), 32);
        assert_memory_equal(disk, KEY, 32); /* not replaced */
        assert_int_equal(count_entries(dir), 1);
        rm_dir(dir);
    }
    /* The same bytes with mode 0600 (and 0400) are accepted: the mode was the reason. */
    static const mode_t good[] = {0600, 0400};
    for (size_t i = 0; i < 2; i++) {
        char dir[64];
        mk_dir(dir);
        write_file(dir, "seal.key", KEY, 32, good[i]);
        unsigned char k[32];
        assert_int_equal(recd_seal_key_load(dir, k), 0);
        assert_memory_equal(k, KEY, 32);
        rm_dir(dir);
    }
}

static void test_key_bad_size(void **state)
{
    (void)state;
    static const size_t sizes[] = {0, 1, 31, 33, 64};
    unsigned char big[64];
    memset(big, 0x42, sizeof big);
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        char dir[64];
        mk_dir(dir);
        write_file(dir, "seal.key", big, sizes[i], 0600);
        unsigned char k[32];
        assert_int_equal(recd_seal_key_load(dir, k), RECD_E_IO);
        unsigned char disk[80];
        assert_int_equal(read_file(dir, "seal.key", disk, sizeof disk), sizes[i]); /* not replaced */
        rm_dir(dir);
    }
}

static void test_key_not_regular(void **state)
{
    (void)state;
    char dir[64], path[128], target[128];
    unsigned char k[32];
    /* A symlink, even to a good 0600 key, is refused. */
    mk_dir(dir);
    write_file(dir, "real.key", KEY, 32, 0600);
    snprintf(path, sizeof path, "%s/seal.key", dir);
    snprintf(target, sizeof target, "%s/real.key", dir);
    assert_int_equal(symlink(target, path), 0);
    assert_int_equal(recd_seal_key_load(dir, k), RECD_E_IO);
    rm_dir(dir);
    /* A directory in its place. */
    mk_dir(dir);
    snprintf(path, sizeof path, "%s/seal.key", dir);
    assert_int_equal(mkdir(path, 0700), 0);
    assert_int_equal(recd_seal_key_load(dir, k), RECD_E_IO);
    assert_int_equal(rmdir(path), 0);
    rm_dir(dir);
    /* A missing directory is an error, not something to create. */
    assert_int_equal(recd_seal_key_load("/nonexistent/recd-seal-test", k), RECD_E_IO);
}

/*
 * Several processes start at once on an empty directory (released together through a pipe
 * they all block on): they must all come away with the one key that ends up on disk.
 */
static void test_key_concurrent_create(void **state)
{
    (void)state;
    enum { ROUNDS = 20, KIDS = 8 };
    for (int round = 0; round < ROUNDS; round++) {
        char dir[64];
        mk_dir(dir);
        int gate[2], res[KIDS][2];
        pid_t pid[KIDS];
        assert_int_equal(pipe(gate), 0);
        for (int i = 0; i < KIDS; i++) {
            assert_int_equal(pipe(res[i]), 0);
            pid[i] = fork();
            assert_true(pid[i] >= 0);
            if (pid[i] == 0) {
                char c;
                close(gate[1]);
                close(res[i][0]);
                while (read(gate[0], &c, 1) < 0 && errno == EINTR)
                    ;
                unsigned char k[33];
                k[0] = recd_seal_key_load(dir, k + 1) == 0 ? 1 : 0;
                _exit(write(res[i][1], k, sizeof k) == (ssize_t)sizeof k ? 0 : 1);
            }
            close(res[i][1]);
        }
        close(gate[0]);
        close(gate[1]); /* every child's read returns 0 now */
        unsigned char disk[64], got[KIDS][33];
        for (int i = 0; i < KIDS; i++) {
            int status;
            assert_int_equal(read(res[i][0], got[i], 33), 33);
            close(res[i][0]);
            assert_int_equal(waitpid(pid[i], &status, 0), pid[i]);
            assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
            assert_int_equal(got[i][0], 1);
        }
        assert_int_equal(read_file(dir, "seal.key", disk, sizeof disk), 32);
        for (int i = 0; i < KIDS; i++)
            assert_memory_equal(got[i] + 1, disk, 32);
        assert_int_equal(count_entries(dir), 1); /* losers removed their temp files */
        rm_dir(dir);
    }
}

int main(void)
{
    recd_log_quiet(1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),       cmocka_unit_test(test_round_trip_empty),
        cmocka_unit_test(test_tamper_each_byte), cmocka_unit_test(test_wrong_ad),
        cmocka_unit_test(test_wrong_key),        cmocka_unit_test(test_key_create_reload),
        cmocka_unit_test(test_key_bad_mode),     cmocka_unit_test(test_key_bad_size),
        cmocka_unit_test(test_key_not_regular),  cmocka_unit_test(test_key_concurrent_create),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
