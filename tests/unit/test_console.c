/* The console's serving (src/console): which paths are its own, the embedded files, the headers
 * on every answer, conditional requests, gzip negotiation. */
#include "console/assets.h"
#include "console/console.h"
#include "core/error.h"

#include "unit.h"

#include <strings.h>

static void test_owns(void **state)
{
    (void)state;
    assert_int_equal(recd_console_owns(LIT("/console")), 1);
    assert_int_equal(recd_console_owns(LIT("/console/")), 1);
    assert_int_equal(recd_console_owns(LIT("/console/console.js")), 1);
    assert_int_equal(recd_console_owns(LIT("/console/../2010-04-01")), 1); /* its own 404 */
    assert_int_equal(recd_console_owns(LIT("/consoles")), 0);
    assert_int_equal(recd_console_owns(LIT("/consol")), 0);
    assert_int_equal(recd_console_owns(LIT("/Console/")), 0);
    assert_int_equal(recd_console_owns(LIT("")), 0);
    assert_int_equal(recd_console_owns(LIT("/2010-04-01/Accounts")), 0);
}

struct gz_case {
    const char *hdr;
    int want;
};

static void test_accepts_gzip(void **state)
{
    (void)state;
    static const struct gz_case cases[] = {
        {NULL, 0},
        {"", 0},
        {"gzip", 1},
        {"GZip", 1},
        {"x-gzip", 1},
        {"gzip, deflate, br", 1},
        {"br,gzip", 1},
        {"deflate, br", 0},
        {"*", 1},
        {"*;q=0", 0},
        {"gzip;q=0", 0},
        {"gzip; q=0.000", 0},
        {"gzip;q=0.001", 1},
        {"gzip;q=1", 1},
        {"gzip;q=1.000", 1},
        {"gzip;Q=0.5", 1},
        {"gzip ; q=0.5", 1},
        {"gzip;q=0, *", 0}, /* the explicit refusal decides */
        {"*, gzip;q=0", 0},
        {"gzip;q=0.5, *;q=0", 1},
        {"identity, *;q=0", 0},
        {"gzip;q=1.001", 0}, /* malformed: skipped */
        {"gzip;q=2", 0},
        {"gzip;q=", 0},
        {"gzip;q=0.0000", 0},
        {"gzip;q=.5", 0},
        {"gzip;level=9", 1}, /* another parameter is not ours to judge */
        {"gzip;;q=0", 0},
        {"gzipx", 0},
        {"gzip deflate", 0},
        {",,gzip,,", 1},
        {" \t gzip \t ", 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int got = recd_http_accepts_gzip(cases[i].hdr);
        if (got != cases[i].want) {
            print_error("Accept-Encoding \"%s\": got %d, want %d\n", cases[i].hdr ? cases[i].hdr : "(none)",
                        got, cases[i].want);
            fail();
        }
    }
}

/* A request with up to two headers, as the HTTP layer would fill it. */
struct fake {
    struct recd_request rq;
    const char *names[2], *values[2];
};

static const char *fake_header(const struct recd_request *rq, const char *name)
{
    const struct fake *f = (const struct fake *)rq;
    for (int i = 0; i < 2; i++)
        if (f->names[i] && strcasecmp(f->names[i], name) == 0)
            return f->values[i];
    return NULL;
}

static void serve(struct recd_response *rs, enum recd_method m, const char *target, const char *h0,
                  const char *v0, const char *h1, const char *v1)
{
    struct fake f;
    memset(&f, 0, sizeof f);
    f.rq.method = m;
    f.rq.target = recd_str_c(target);
    f.rq.header = fake_header;
    f.names[0] = h0;
    f.values[0] = v0;
    f.names[1] = h1;
    f.values[1] = v1;
    recd_response_init(rs);
    recd_console_handle(&f.rq, rs);
}

static const struct recd_console_asset *asset(const char *name)
{
    for (size_t i = 0; i < recd_console_asset_count; i++)
        if (strcmp(recd_console_assets[i].name, name) == 0)
            return &recd_console_assets[i];
    return NULL;
}

static void assert_security_headers(const struct recd_response *rs)
{
    assert_non_null(rs->headers);
    assert_true(strlen(rs->headers) < RECD_RESPONSE_HEADERS_MAX);
    assert_non_null(strstr(rs->headers, "Content-Security-Policy: default-src 'none'; script-src 'self';"));
    assert_non_null(strstr(rs->headers, "frame-ancestors 'none'"));
    assert_non_null(strstr(rs->headers, "\r\nReferrer-Policy: no-referrer\r\n"));
    assert_non_null(strstr(rs->headers, "\r\nX-Content-Type-Options: nosniff\r\n"));
    assert_null(strstr(rs->headers, "unsafe-inline"));
}

static void test_files(void **state)
{
    (void)state;
    const char *names[] = {"index.html", "console.js", "console.css", "icon.svg"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const struct recd_console_asset *a = asset(names[i]);
        assert_non_null(a);
        assert_true(a->len > 0);
        assert_int_equal(strlen(a->etag), 34);
        assert_int_equal(strncmp(a->gz_etag, a->etag, 33), 0);
        assert_string_equal(a->gz_etag + 33, "-gz\"");
    }
    assert_string_equal(asset("index.html")->content_type, "text/html; charset=utf-8");
    assert_string_equal(asset("console.js")->content_type, "text/javascript; charset=utf-8");
    assert_non_null(asset("console.js")->gz);
}

static void test_page(void **state)
{
    (void)state;
    struct recd_response rs;
    const struct recd_console_asset *idx = asset("index.html");
    serve(&rs, RECD_M_GET, "/console/", NULL, NULL, NULL, NULL);
    assert_int_equal(rs.status, 200);
    assert_string_equal(rs.content_type, "text/html; charset=utf-8");
    assert_ptr_equal(rs.shared, idx->data); /* sent from the binary, not copied */
    assert_int_equal(rs.shared_len, idx->len);
    assert_string_equal(rs.etag, idx->etag);
    assert_security_headers(&rs);
    assert_non_null(strstr(rs.headers, "Cache-Control: no-cache\r\n"));
    assert_null(strstr(rs.headers, "Content-Encoding"));
    recd_response_free(&rs);

    serve(&rs, RECD_M_GET, "/console/index.html?x=1", "Accept-Encoding", "gzip, br", NULL, NULL);
    assert_int_equal(rs.status, 200);
    assert_ptr_equal(rs.shared, idx->gz);
    assert_int_equal(rs.shared_len, idx->gz_len);
    assert_string_equal(rs.etag, idx->gz_etag);
    assert_non_null(strstr(rs.headers, "Content-Encoding: gzip\r\n"));
    assert_non_null(strstr(rs.headers, "Vary: Accept-Encoding\r\n"));
    recd_response_free(&rs);

    serve(&rs, RECD_M_HEAD, "/console/", "If-None-Match", idx->etag, NULL, NULL);
    assert_int_equal(rs.status, 304);
    assert_null(rs.shared);
    assert_string_equal(rs.etag, idx->etag);
    assert_security_headers(&rs);
    recd_response_free(&rs);

    /* The compressed form's tag does not validate the plain one. */
    serve(&rs, RECD_M_GET, "/console/", "If-None-Match", idx->gz_etag, NULL, NULL);
    assert_int_equal(rs.status, 200);
    recd_response_free(&rs);
    serve(&rs, RECD_M_GET, "/console/", "If-None-Match", idx->gz_etag, "Accept-Encoding", "gzip");
    assert_int_equal(rs.status, 304);
    recd_response_free(&rs);
}

static void test_other_answers(void **state)
{
    (void)state;
    struct recd_response rs;
    serve(&rs, RECD_M_GET, "/console", NULL, NULL, NULL, NULL);
    assert_int_equal(rs.status, 308);
    assert_non_null(strstr(rs.headers, "\r\nLocation: console/\r\n"));
    assert_security_headers(&rs);
    recd_response_free(&rs);

    serve(&rs, RECD_M_GET, "/console/nope.js", NULL, NULL, NULL, NULL);
    assert_int_equal(rs.status, 404);
    assert_non_null(strstr(rs.body.p, "<Code>20404</Code>"));
    assert_non_null(strstr(rs.body.p, "/console/nope.js"));
    assert_security_headers(&rs);
    recd_response_free(&rs);

    serve(&rs, RECD_M_GET, "/console/console.js/", NULL, NULL, NULL, NULL);
    assert_int_equal(rs.status, 404);
    recd_response_free(&rs);

    serve(&rs, RECD_M_DELETE, "/console/", NULL, NULL, NULL, NULL);
    assert_int_equal(rs.status, 405);
    assert_string_equal(rs.allow, "GET, HEAD, OPTIONS");
    recd_response_free(&rs);

    serve(&rs, RECD_M_OPTIONS, "/console/", NULL, NULL, NULL, NULL);
    assert_int_equal(rs.status, 204);
    recd_response_free(&rs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_owns), cmocka_unit_test(test_accepts_gzip),  cmocka_unit_test(test_files),
        cmocka_unit_test(test_page), cmocka_unit_test(test_other_answers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
