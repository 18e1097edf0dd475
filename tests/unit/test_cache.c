/* The per-worker cache of rendered pages: hits, version changes, eviction and size bounds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hit_and_miss),
        cmocka_unit_test(test_version_change_empties),
        cmocka_unit_test(test_nothing_stored_before_validate),
        cmocka_unit_test(test_bounds_and_eviction),
        cmocka_unit_test(test_shared_body_outlives_entry),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
