#include "core/file.h"

#include "core/error.h"
#include "core/log.h"

#include "unit.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

/* A fresh empty directory under $TMPDIR; removed with rm_dir. */
static void mk_dir(char path[64])
{
    const char *t = getenv("TMPDIR");
    snprintf(path, 64, "%s/recd-file-XXXXXX", t && strlen(t) < 40 ? t : "/tmp");
    assert_non_null(mkdtemp(path));
}

/* The number of entries of `path` other than "." and "..". */
static int entries(const char *path)
{
    DIR *d = opendir(path);
    int n = 0;
    assert_non_null(d);
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    closedir(d);
    return n;
}

static void rm_dir(const char *path)
{
    DIR *d = opendir(path);
    assert_non_null(d);
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        char p[512];
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        snprintf(p, sizeof p, "%s/%s", path, e->d_name);
        assert_int_equal(unlink(p), 0);
    }
    closedir(d);
    assert_int_equal(rmdir(path), 0);
}

/* Reads the whole file `dir`/`name` into `out` (NUL-terminated); returns its length. */
static size_t slurp(const char *dir, const char *name, char *out, size_t cap)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    int fd = open(p, O_RDONLY);
    assert_true(fd >= 0);
    ssize_t n = read(fd, out, cap - 1);
    assert_true(n >= 0);
    out[n] = '\0';
    close(fd);
    return (size_t)n;
}

static void test_publish_replaces(void **state)
{
    (void)state;
    char dir[64], got[64];
    struct recd_tmpfile t;
    mk_dir(dir);
    int dfd = open(dir, O_RDONLY | O_DIRECTORY);
    assert_true(dfd >= 0);

    assert_int_equal(recd_tmpfile_create(&t, dfd, "out", 0600), 0);
    /* The temporary name is the stem, 16 hex digits and ".tmp". */
    assert_int_equal(strlen(t.name), 3 + 1 + 16 + 4);
    assert_memory_equal(t.name, "out.", 4);
    assert_string_equal(t.name + 20, ".tmp");
    assert_int_equal(recd_write_all(t.fd, "first", 5), 0);
    assert_int_equal(recd_tmpfile_publish(&t, dfd, "final", 0, NULL), 0);
    recd_tmpfile_discard(&t); /* nothing left to do after a publish */
    assert_int_equal(slurp(dir, "final", got, sizeof got), 5);
    assert_string_equal(got, "first");
    assert_int_equal(entries(dir), 1);

    /* Without NOREPLACE a second publish replaces the file. */
    assert_int_equal(recd_tmpfile_create(&t, dfd, "out", 0600), 0);
    assert_int_equal(recd_write_all(t.fd, "second", 6), 0);
    assert_int_equal(recd_tmpfile_publish(&t, dfd, "final", RECD_PUBLISH_NOSYNC, NULL), 0);
    assert_int_equal(slurp(dir, "final", got, sizeof got), 6);
    assert_string_equal(got, "second");
    assert_int_equal(entries(dir), 1);
    close(dfd);
    rm_dir(dir);
}

static void test_publish_noreplace(void **state)
{
    (void)state;
    char dir[64], got[64];
    struct recd_tmpfile a, b;
    mk_dir(dir);
    int dfd = open(dir, O_RDONLY | O_DIRECTORY);
    assert_true(dfd >= 0);

    /* Two racing writers: the first to publish wins, the second is told and leaves nothing. */
    assert_int_equal(recd_tmpfile_create(&a, dfd, "key", 0600), 0);
    assert_int_equal(recd_tmpfile_create(&b, dfd, "key", 0600), 0);
    assert_string_not_equal(a.name, b.name);
    assert_int_equal(recd_write_all(a.fd, "aaaa", 4), 0);
    assert_int_equal(recd_write_all(b.fd, "bb", 2), 0);
    assert_int_equal(recd_tmpfile_publish(&a, dfd, "key", RECD_PUBLISH_NOREPLACE, NULL), 0);
    assert_int_equal(recd_tmpfile_publish(&b, dfd, "key", RECD_PUBLISH_NOREPLACE, NULL), RECD_E_EXISTS);
    recd_tmpfile_discard(&b);
    assert_int_equal(slurp(dir, "key", got, sizeof got), 4);
    assert_string_equal(got, "aaaa");
    assert_int_equal(entries(dir), 1);
    close(dfd);
    rm_dir(dir);
}

static void test_discard_and_failures(void **state)
{
    (void)state;
    char dir[64];
    struct recd_tmpfile t;
    const char *step = NULL;
    mk_dir(dir);
    int dfd = open(dir, O_RDONLY | O_DIRECTORY);
    assert_true(dfd >= 0);

    assert_int_equal(recd_tmpfile_create(&t, dfd, "gone", 0600), 0);
    assert_int_equal(entries(dir), 1);
    recd_tmpfile_discard(&t);
    assert_int_equal(t.fd, -1);
    assert_int_equal(entries(dir), 0);

    /* A stem with a slash, or too long, is refused before anything is created. */
    assert_int_equal(recd_tmpfile_create(&t, dfd, "a/b", 0600), RECD_E_BAD_INPUT);
    char longstem[RECD_TMPFILE_STEM_MAX + 2];
    memset(longstem, 'x', sizeof longstem - 1);
    longstem[sizeof longstem - 1] = '\0';
    assert_int_equal(recd_tmpfile_create(&t, dfd, longstem, 0600), RECD_E_BAD_INPUT);
    recd_tmpfile_discard(&t);

    /* Publishing into a directory that is gone names the failing step; discard cleans up. */
    assert_int_equal(recd_tmpfile_create(&t, dfd, "x", 0600), 0);
    assert_int_equal(recd_tmpfile_publish(&t, dfd, "no/such/dir", 0, &step), RECD_E_IO);
    assert_string_equal(step, "rename");
    recd_tmpfile_discard(&t);
    assert_int_equal(entries(dir), 0);
    close(dfd);
    rm_dir(dir);
}

static void test_read_write_exact(void **state)
{
    (void)state;
    int p[2];
    char buf[8];
    assert_int_equal(pipe(p), 0);
    assert_int_equal(recd_write_all(p[1], "abcdef", 6), 0);
    close(p[1]);
    assert_int_equal(recd_read_exact(p[0], buf, 4), 0);
    assert_memory_equal(buf, "abcd", 4);
    /* Two bytes are left; asking for three is EIO, the early end of the file. */
    errno = 0;
    assert_int_equal(recd_read_exact(p[0], buf, 3), -1);
    assert_int_equal(errno, EIO);
    close(p[0]);
    assert_int_equal(recd_fsync(-1), -1);
    assert_int_equal(errno, EBADF);
    assert_int_equal(recd_err_from_errno(ENOSPC), RECD_E_NO_SPACE);
    assert_int_equal(recd_err_from_errno(EDQUOT), RECD_E_NO_SPACE);
    assert_int_equal(recd_err_from_errno(EIO), RECD_E_IO);
}

static void test_sha256(void **state)
{
    (void)state;
    char dir[64], path[128], hex[65];
    mk_dir(dir);
    snprintf(path, sizeof path, "%s/f", dir);
    int fd = open(path, O_RDWR | O_CREAT, 0600);
    assert_true(fd >= 0);
    assert_int_equal(recd_write_all(fd, "abc", 3), 0);
    /* The digest of "abc" (FIPS 180-2's first example), whatever the file offset is. */
    assert_int_equal(recd_file_sha256(fd, 3, hex), 0);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    assert_int_equal(recd_file_sha256(fd, 4, hex), RECD_E_IO);
    close(fd);
    rm_dir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_publish_replaces),
        cmocka_unit_test(test_publish_noreplace),
        cmocka_unit_test(test_discard_and_failures),
        cmocka_unit_test(test_read_write_exact),
        cmocka_unit_test(test_sha256),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
