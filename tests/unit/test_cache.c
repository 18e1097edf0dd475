/* The per-worker cache: rendered pages (hits, version changes, eviction and size bounds), valid
 * credentials and open media files. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "api/cache.h"

static const int64_t v1[2] = {1, 10}, v2[2] = {1, 11}, v3[2] = {2, 10};

static void test_hit_and_miss(void **state)
{
    (void)state;
    struct recd_api_cache *c = recd_api_cache_new(1 << 20);
    size_t len;
    const char *ct;
    recd_api_cache_validate(c, v1);
    assert_null(recd_api_cache_get(c, "/a", 2, &len, &ct));
    recd_api_cache_put(c, "/a", 2, "body-a", 6, "application/json");
    const char *hit = recd_api_cache_get(c, "/a", 2, &len, &ct);
    assert_non_null(hit);
    assert_int_equal(len, 6);
    assert_memory_equal(hit, "body-a", 6);
    assert_string_equal(ct, "application/json");
    /* Keys are compared whole: a prefix or an extension is another key. */
    assert_null(recd_api_cache_get(c, "/", 1, &len, &ct));
    assert_null(recd_api_cache_get(c, "/ab", 3, &len, &ct));
    recd_api_cache_free(c);
}

static void test_version_change_empties(void **state)
{
    (void)state;
    struct recd_api_cache *c = recd_api_cache_new(1 << 20);
    size_t len;
    const char *ct;
    recd_api_cache_validate(c, v1);
    recd_api_cache_put(c, "/a", 2, "x", 1, "t");
    recd_api_cache_validate(c, v1);
    assert_non_null(recd_api_cache_get(c, "/a", 2, &len, &ct));
    /* Either number changing means the data may have changed. */
    recd_api_cache_validate(c, v2);
    assert_null(recd_api_cache_get(c, "/a", 2, &len, &ct));
    recd_api_cache_put(c, "/a", 2, "y", 1, "t");
    recd_api_cache_validate(c, v3);
    assert_null(recd_api_cache_get(c, "/a", 2, &len, &ct));
    recd_api_cache_free(c);
}

/* Before the first validate the cache does not know which version a page was rendered at, so a
 * put must store nothing: not visible at once, nor after a validate with any version (a fresh
 * cache's zeroed version included). */
static void test_nothing_stored_before_validate(void **state)
{
    (void)state;
    static const int64_t zero[2] = {0, 0};
    struct recd_api_cache *c = recd_api_cache_new(1 << 20);
    size_t len;
    const char *ct;
    recd_api_cache_put(c, "/a", 2, "x", 1, "t");
    assert_null(recd_api_cache_get(c, "/a", 2, &len, &ct));
    recd_api_cache_validate(c, zero);
    assert_null(recd_api_cache_get(c, "/a", 2, &len, &ct));
    /* Validated, the same put is stored: the nulls above are about the order, not the put. */
    recd_api_cache_put(c, "/a", 2, "x", 1, "t");
    assert_non_null(recd_api_cache_get(c, "/a", 2, &len, &ct));
    recd_api_cache_free(c);
}

static void test_bounds_and_eviction(void **state)
{
    (void)state;
    char body[1000];
    memset(body, 'b', sizeof body);
    struct recd_api_cache *c = recd_api_cache_new(4000);
    size_t len;
    const char *ct;
    recd_api_cache_validate(c, v1);
    /* Over a quarter of the budget: never stored. */
    recd_api_cache_put(c, "/big", 4, body, 1000, "t");
    assert_null(recd_api_cache_get(c, "/big", 4, &len, &ct));
    /* Five entries of ~900 bytes in a 4000-byte budget: the least recently used goes. */
    const char *keys[] = {"/1", "/2", "/3", "/4", "/5"};
    for (int i = 0; i < 4; i++)
        recd_api_cache_put(c, keys[i], 2, body, 900, "t");
    assert_non_null(recd_api_cache_get(c, "/1", 2, &len, &ct)); /* /2 is now the oldest */
    recd_api_cache_put(c, "/5", 2, body, 900, "t");
    assert_null(recd_api_cache_get(c, "/2", 2, &len, &ct));
    assert_non_null(recd_api_cache_get(c, "/1", 2, &len, &ct));
    assert_non_null(recd_api_cache_get(c, "/5", 2, &len, &ct));
    /* More keys than slots: still bounded and still answering. */
    for (int i = 0; i < 200; i++) {
        char k[16];
        int n = snprintf(k, sizeof k, "/k%d", i);
        recd_api_cache_put(c, k, (size_t)n, "v", 1, "t");
    }
    assert_non_null(recd_api_cache_get(c, "/k199", 5, &len, &ct));
    recd_api_cache_free(c);
}

/* A shared body outlives its entry: emptied by a version change, evicted, or the whole cache
 * freed, it stays readable until released (ASan reports a use after free or a leak). */
static void test_shared_body_outlives_entry(void **state)
{
    (void)state;
    struct recd_api_cache *c = recd_api_cache_new(1 << 20);
    size_t len = 0;
    const char *ct = NULL;
    struct recd_api_cache_ref *a = NULL, *b = NULL;
    recd_api_cache_validate(c, v1);
    assert_null(recd_api_cache_share(c, "/a", 2, &len, &ct, &a));
    recd_api_cache_put(c, "/a", 2, "page-a", 6, "application/json");
    const char *pa = recd_api_cache_share(c, "/a", 2, &len, &ct, &a);
    assert_non_null(pa);
    assert_int_equal(len, 6);
    assert_string_equal(ct, "application/json");
    const char *pb = recd_api_cache_share(c, "/a", 2, &len, &ct, &b);
    assert_ptr_equal(pa, pb);
    recd_api_cache_validate(c, v2); /* the entry goes; both holders keep the bytes */
    assert_null(recd_api_cache_get(c, "/a", 2, &len, &ct));
    assert_memory_equal(pa, "page-a", 6);
    recd_api_cache_release(a);
    assert_memory_equal(pb, "page-a", 6);
    recd_api_cache_release(b);
    recd_api_cache_put(c, "/b", 2, "page-b", 6, "t");
    pb = recd_api_cache_share(c, "/b", 2, &len, &ct, &b);
    recd_api_cache_free(c);
    assert_memory_equal(pb, "page-b", 6);
    recd_api_cache_release(b);
    recd_api_cache_release(NULL);
}

static struct recd_account account(const char *sid, int media_auth)
{
    struct recd_account a;
    memset(&a, 0, sizeof a);
    strcpy(a.sid, sid);
    a.media_auth = media_auth;
    return a;
}

static const char acc1[] = "AC00000000000000000000000000000001",
                  acc2[] = "AC00000000000000000000000000000002";

/* Valid credentials are remembered per account by the header's digest, with the account's row,
 * until the version changes. */
static void test_auth_entries(void **state)
{
    (void)state;
    struct recd_api_cache *c = recd_api_cache_new(1 << 20);
    unsigned char d1[32], d2[32];
    memset(d1, 1, sizeof d1);
    memset(d2, 1, sizeof d2);
    d2[31] = 2; /* differs in the last byte only */
    struct recd_account a1 = account(acc1, 1), got;
    recd_api_cache_auth_put(c, d1, &a1); /* not validated yet: not stored */
    recd_api_cache_validate(c, v1);
    assert_int_equal(recd_api_cache_auth_get(c, acc1, d1, &got), 0);
    recd_api_cache_auth_put(c, d1, &a1);
    memset(&got, 0, sizeof got);
    assert_int_equal(recd_api_cache_auth_get(c, acc1, d1, &got), 1);
    assert_string_equal(got.sid, acc1);
    assert_int_equal(got.media_auth, 1);
    /* Another header, or the same header for another account, is not known. */
    assert_int_equal(recd_api_cache_auth_get(c, acc1, d2, &got), 0);
    assert_int_equal(recd_api_cache_auth_get(c, acc2, d1, &got), 0);
    /* Any commit forgets them. */
    recd_api_cache_validate(c, v1);
    assert_int_equal(recd_api_cache_auth_get(c, acc1, d1, &got), 1);
    recd_api_cache_validate(c, v2);
    assert_int_equal(recd_api_cache_auth_get(c, acc1, d1, &got), 0);
    /* Bounded: many credentials, the most recent still known, the first long gone. */
    struct recd_account a2 = account(acc2, 0);
    for (int i = 0; i < 100; i++) {
        unsigned char d[32] = {0};
        d[0] = (unsigned char)i;
        recd_api_cache_auth_put(c, d, &a2);
    }
    unsigned char last[32] = {99}, first[32] = {0};
    assert_int_equal(recd_api_cache_auth_get(c, acc2, last, &got), 1);
    assert_int_equal(recd_api_cache_auth_get(c, acc2, first, &got), 0);
    recd_api_cache_free(c);
}

static int open_count(void)
{
    int n = 0;
    for (int fd = 0; fd < 1024; fd++)
        if (fcntl(fd, F_GETFD) >= 0)
            n++;
    return n;
}

/* Open media files: each get is a new descriptor of the same file; the cache keeps a bounded
 * number and closes them all when the version changes or the cache is freed. */
static void test_file_entries(void **state)
{
    (void)state;
    char path[] = "/tmp/test_cache_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    unlink(path);
    assert_int_equal(write(fd, "media", 5), 5);
    int before = open_count();
    struct recd_api_cache *c = recd_api_cache_new(1 << 20);
    int64_t size = 0;
    recd_api_cache_file_put(c, "RE1.mp3", fd, 5); /* not validated yet: not stored */
    recd_api_cache_validate(c, v1);
    assert_int_equal(recd_api_cache_file_get(c, "RE1.mp3", &size), -1);
    recd_api_cache_file_put(c, "RE1.mp3", fd, 5);
    int got = recd_api_cache_file_get(c, "RE1.mp3", &size);
    assert_true(got >= 0 && got != fd);
    assert_int_equal(size, 5);
    char buf[8];
    assert_int_equal(pread(got, buf, sizeof buf, 0), 5);
    assert_memory_equal(buf, "media", 5);
    close(got);
    assert_int_equal(recd_api_cache_file_get(c, "RE1.wav", &size), -1);
    /* A bounded number of files is kept, however many are put. */
    for (int i = 0; i < 100; i++) {
        char k[24];
        snprintf(k, sizeof k, "RE%d.wav", i);
        recd_api_cache_file_put(c, k, fd, 5);
    }
    assert_true(open_count() - before <= 16);
    got = recd_api_cache_file_get(c, "RE99.wav", &size);
    assert_true(got >= 0);
    close(got);
    recd_api_cache_validate(c, v3);
    assert_int_equal(open_count(), before);
    assert_int_equal(recd_api_cache_file_get(c, "RE99.wav", &size), -1);
    recd_api_cache_file_put(c, "RE1.mp3", fd, 5);
    recd_api_cache_free(c);
    assert_int_equal(open_count(), before);
    close(fd);
}

/* A lent file stays open while a response holds it, whatever the cache does meanwhile (eviction,
 * a version change, being freed), and is closed by the last release. */
static void test_file_shared_outlives_entry(void **state)
{
    (void)state;
    char path[] = "/tmp/test_cache_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    unlink(path);
    assert_int_equal(write(fd, "media", 5), 5);
    int before = open_count();
    struct recd_api_cache *c = recd_api_cache_new(1 << 20);
    recd_api_cache_validate(c, v1);
    int64_t size = 0;
    struct recd_api_cache_file *ref = NULL, *ref2 = NULL;
    assert_int_equal(recd_api_cache_file_share(c, "RE1.mp3", &size, &ref), -1);
    recd_api_cache_file_put(c, "RE1.mp3", fd, 5);
    int lent = recd_api_cache_file_share(c, "RE1.mp3", &size, &ref);
    assert_true(lent >= 0 && lent != fd && ref != NULL);
    assert_int_equal(size, 5);
    /* Two responses at once share the one descriptor: no new one per request. */
    assert_int_equal(recd_api_cache_file_share(c, "RE1.mp3", &size, &ref2), lent);
    assert_int_equal(open_count(), before + 1);
    recd_api_cache_file_release(ref2);
    /* The cache forgets it (a commit): still open for the response that holds it. */
    recd_api_cache_validate(c, v2);
    assert_int_equal(recd_api_cache_file_share(c, "RE1.mp3", &size, &ref2), -1);
    char buf[8];
    assert_int_equal(pread(lent, buf, sizeof buf, 0), 5);
    assert_memory_equal(buf, "media", 5);
    recd_api_cache_free(c);
    assert_int_equal(open_count(), before + 1);
    recd_api_cache_file_release(ref);
    assert_int_equal(open_count(), before);
    recd_api_cache_file_release(NULL);
    close(fd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hit_and_miss),
        cmocka_unit_test(test_version_change_empties),
        cmocka_unit_test(test_nothing_stored_before_validate),
        cmocka_unit_test(test_bounds_and_eviction),
        cmocka_unit_test(test_shared_body_outlives_entry),
        cmocka_unit_test(test_auth_entries),
        cmocka_unit_test(test_file_entries),
        cmocka_unit_test(test_file_shared_outlives_entry),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
