/* Libraries on first use (core/dl.c): a table loads once and resolves every name; a missing
 * library or symbol is reported, not a crash; and the stand-ins reach the real libraries. */
#include "unit.h"

#include "core/curl_dl.h"
#include "core/dl.h"
#include "core/error.h"
#include "store/pg_dl.h"
#include "stt/sphinx_dl.h"
#include "voice/voice_dl.h"

#include <curl/curl.h>
#include <libpq-fe.h>
#include <math.h>
#include <string.h>

static void test_loads_and_resolves(void **state)
{
    (void)state;
    static const char *const names[] = {"cos", "sqrt"};
    void *slots[2] = {NULL, NULL};
    struct recd_dl d = {"libm.so.6", "libc6", names, slots, 2, 0};
    assert_int_equal(recd_dl_load(&d), 0);
    double (*c)(double) = (double (*)(double))recd_dl_fn(&d, 0);
    double (*s)(double) = (double (*)(double))recd_dl_fn(&d, 1);
    assert_true(c(0.0) == 1.0);
    assert_true(s(16.0) == 4.0);
    /* Once: a second load is the first one's answer. */
    assert_int_equal(recd_dl_load(&d), 0);
}

static void test_missing_library_or_symbol(void **state)
{
    (void)state;
    static const char *const names[] = {"cos"};
    void *slots[1] = {NULL};
    struct recd_dl d = {"librecd-no-such-library.so.9", "recd-nothing", names, slots, 1, 0};
    assert_int_equal(recd_dl_load(&d), RECD_E_UNAVAILABLE);
    assert_int_equal(recd_dl_load(&d), RECD_E_UNAVAILABLE);

    static const char *const bad[] = {"cos", "recd_no_such_function"};
    void *slots2[2] = {NULL, NULL};
    struct recd_dl d2 = {"libm.so.6", "libc6", bad, slots2, 2, 0};
    assert_int_equal(recd_dl_load(&d2), RECD_E_UNAVAILABLE);
}

/* Each real table loads, and a stand-in answers as the library does. */
static void test_real_tables(void **state)
{
    (void)state;
    assert_int_equal(recd_curl_dl_load(), 0);
    assert_int_equal(recd_pg_dl_load(), 0);
    assert_int_equal(recd_voice_dl_load(), 0);
    assert_int_equal(recd_sphinx_dl_load(), 0);
    assert_string_equal(curl_easy_strerror(CURLE_OK), "No error");
    CURLU *u = curl_url();
    assert_non_null(u);
    assert_int_equal(curl_url_set(u, CURLUPART_URL, "http://127.0.0.1:8080/a?b=c", 0), CURLUE_OK);
    char *host = NULL;
    assert_int_equal(curl_url_get(u, CURLUPART_HOST, &host, 0), CURLUE_OK);
    assert_string_equal(host, "127.0.0.1");
    curl_free(host);
    curl_url_cleanup(u);
    /* The variadic ones pass each type of option on: a long, a pointer, a function, an off_t. */
    CURL *c = curl_easy_init();
    assert_non_null(c);
    assert_int_equal(curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 1000L), CURLE_OK);
    assert_int_equal(curl_easy_setopt(c, CURLOPT_URL, "http://127.0.0.1:1/"), CURLE_OK);
    assert_int_equal(curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, fwrite), CURLE_OK);
    assert_int_equal(curl_easy_setopt(c, CURLOPT_MAX_RECV_SPEED_LARGE, (curl_off_t)1 << 40), CURLE_OK);
    assert_int_equal(curl_easy_setopt(c, (CURLoption)99999, 0L), CURLE_UNKNOWN_OPTION);
    long code = -1;
    assert_int_equal(curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code), CURLE_OK);
    assert_int_equal(code, 0);
    curl_easy_cleanup(c);
    CURLM *m = curl_multi_init();
    assert_non_null(m);
    assert_int_equal(curl_multi_setopt(m, CURLMOPT_MAXCONNECTS, 4L), CURLM_OK);
    curl_multi_cleanup(m);
    /* libpq without a server: a connection object that says why it is bad. */
    PGconn *pg = PQconnectdb("host=/nonexistent-recd-socket-dir connect_timeout=1");
    assert_non_null(pg);
    assert_int_equal(PQstatus(pg), CONNECTION_BAD);
    assert_true(strlen(PQerrorMessage(pg)) > 0);
    PQfinish(pg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_loads_and_resolves),
        cmocka_unit_test(test_missing_library_or_symbol),
        cmocka_unit_test(test_real_tables),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
