#include "http/h1.h"

#include "core/error.h"
#include "core/query.h"

#include "unit.h"

/*
 * The request reader the server runs, driven here without sockets: bytes are appended to the
 * connection buffer in pieces of a chosen size, as reads would deliver them.
 */

struct conn {
    struct recd_h1 h;
    const char *in;
    size_t n, off, step;
};

static void open_conn(struct conn *c, const char *in, size_t n, size_t step)
{
    recd_h1_init(&c->h);
    c->h.buf = malloc(RECD_H1_BUF_SIZE);
    assert_non_null(c->h.buf);
    c->in = in;
    c->n = n;
    c->off = 0;
    c->step = step;
}

static void close_conn(struct conn *c)
{
    free(c->h.buf);
    recd_h1_free(&c->h);
}

/* Parses until a request, a refusal, or the input runs out (RECD_H1_MORE). */
static enum recd_h1_result next_result(struct conn *c)
{
    for (;;) {
        enum recd_h1_result r = recd_h1_parse(&c->h);
        if (r != RECD_H1_MORE || c->off == c->n)
            return r;
        size_t room = RECD_H1_BUF_SIZE - c->h.len;
        assert_true(room > 0);
        size_t k = c->n - c->off;
        if (k > c->step)
            k = c->step;
        if (k > room)
            k = room;
        memcpy(c->h.buf + c->h.len, c->in + c->off, k);
        c->h.len += k;
        c->off += k;
    }
}

/* One request parsed whole from a string literal, with every piece size given. */
#define ONE(c, lit, step) open_conn((c), (lit), LIT_LEN(lit), (step))

static void test_simple_get_any_split(void **state)
{
    (void)state;
    static const char req[] = "GET /2010-04-01/Accounts/AC1/Recordings.json?PageSize=5 HTTP/1.1\r\n"
                              "Host: x\r\nAuthorization: Basic abc \r\nRange: bytes=0-1\r\n\r\n";
    for (size_t step = 1; step <= LIT_LEN(req); step++) {
        struct conn c;
        ONE(&c, req, step);
        assert_int_equal(next_result(&c), RECD_H1_REQUEST);
        assert_int_equal(c.h.m, RECD_M_GET);
        assert_bytes(c.h.method, c.h.method_len, "GET");
        assert_bytes(c.h.target.p, c.h.target.n, "/2010-04-01/Accounts/AC1/Recordings.json?PageSize=5");
        assert_string_equal(recd_h1_header(&c.h, "authorization"), "Basic abc");
        assert_string_equal(recd_h1_header(&c.h, "RANGE"), "bytes=0-1");
        assert_null(recd_h1_header(&c.h, "Cookie"));
        assert_true(c.h.keep_alive);
        assert_false(c.h.http10);
        close_conn(&c);
    }
}

static void test_pipelined_requests_one_at_a_time(void **state)
{
    (void)state;
    static const char req[] = "GET /a HTTP/1.1\r\n\r\nHEAD /b HTTP/1.1\r\nContent-Length: 3\r\n\r\nxyz"
                              "DELETE /c HTTP/1.1\r\nConnection: close\r\n\r\n";
    for (size_t step = 1; step <= LIT_LEN(req); step += 7) {
        struct conn c;
        ONE(&c, req, step);
        assert_int_equal(next_result(&c), RECD_H1_REQUEST);
        assert_bytes(c.h.target.p, c.h.target.n, "/a");
        recd_h1_next(&c.h);
        assert_int_equal(next_result(&c), RECD_H1_REQUEST);
        assert_int_equal(c.h.m, RECD_M_HEAD);
        assert_bytes(c.h.target.p, c.h.target.n, "/b");
        assert_int_equal(c.h.body_bytes, 3);
        assert_int_equal(c.h.body.len, 0); /* not a form: counted, not kept */
        assert_true(c.h.keep_alive);
        recd_h1_next(&c.h);
        assert_int_equal(next_result(&c), RECD_H1_REQUEST);
        assert_int_equal(c.h.m, RECD_M_DELETE);
        assert_false(c.h.keep_alive);
        recd_h1_next(&c.h);
        assert_int_equal(next_result(&c), RECD_H1_MORE);
        assert_int_equal(c.h.len, 0);
        close_conn(&c);
    }
}

static void test_methods_http_parser_does_not_know(void **state)
{
    (void)state;
    static const struct {
        const char *req;
        enum recd_h1_result want;
        const char *method;
    } cases[] = {
        {"BREW /x HTTP/1.1\r\n\r\n", RECD_H1_REQUEST, "BREW"},
        {"get /x HTTP/1.1\r\n\r\n", RECD_H1_REQUEST, "get"},
        {"POSTX /x HTTP/1.1\r\n\r\n", RECD_H1_REQUEST, "POSTX"},
        {"\r\nPRI /x HTTP/1.1\r\n\r\n", RECD_H1_REQUEST, "PRI"},
        {"PATCH /x HTTP/1.1\r\n\r\n", RECD_H1_REQUEST, "PATCH"},
        {"CONNECT /x HTTP/1.1\r\n\r\n", RECD_H1_REQUEST, "CONNECT"},
        {"G@T /x HTTP/1.1\r\n\r\n", RECD_H1_REFUSE, NULL},
        {"GET\tX /x HTTP/1.1\r\n\r\n", RECD_H1_REFUSE, NULL},
        {"GE\0T /x HTTP/1.1\r\n\r\n", RECD_H1_REFUSE, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        for (size_t step = 1; step <= 3; step++) {
            struct conn c;
            size_t n = strlen(cases[i].req);
            if (strncmp(cases[i].req, "GE", 2) == 0 && cases[i].req[2] == '\0')
                n = LIT_LEN("GE\0T /x HTTP/1.1\r\n\r\n");
            open_conn(&c, cases[i].req, n, step);
            assert_int_equal(next_result(&c), cases[i].want);
            if (cases[i].method) {
                assert_int_equal(c.h.m, RECD_M_OTHER);
                assert_bytes(c.h.method, c.h.method_len, cases[i].method);
                assert_bytes(c.h.target.p, c.h.target.n, "/x");
            } else
                assert_int_equal(c.h.err, RECD_E_BAD_INPUT);
            close_conn(&c);
        }
}

/* Issue #5: a malformed Content-Length got a doubled 400 head; now it is one refusal. */
static void test_malformed_content_length_is_one_refusal(void **state)
{
    (void)state;
    static const char *const values[] = {"-1", "abc", "0, 5", "+5", "0x5", "5 0", "99999999999999999999999",
                                         ""};
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        char req[200];
        int n = snprintf(req, sizeof req, "GET /r.json HTTP/1.1\r\nContent-Length: %s\r\n\r\n", values[i]);
        struct conn c;
        open_conn(&c, req, (size_t)n, 4);
        assert_int_equal(next_result(&c), RECD_H1_REFUSE);
        assert_int_equal(c.h.err, RECD_E_BAD_INPUT);
        assert_false(c.h.keep_alive);
        assert_true(recd_h1_wants_json(c.h.target));
        close_conn(&c);
    }
}

static char *head_of_size(size_t total, const char *target)
{
    /* "GET <target> HTTP/1.1\r\n" + "X: aaa…\r\n" + "\r\n", exactly `total` bytes */
    char *s = malloc(total + 1);
    assert_non_null(s);
    int n = snprintf(s, total + 1, "GET %s HTTP/1.1\r\nX: ", target);
    size_t fill = total - (size_t)n - 4;
    memset(s + n, 'a', fill);
    memcpy(s + (size_t)n + fill, "\r\n\r\n", 4);
    s[total] = '\0';
    return s;
}

/* Issue #5: heads in a band near libmicrohttpd's pool got no answer; every size now gets one. */
static void test_head_limit_every_size(void **state)
{
    (void)state;
    static const size_t sizes[] = {100,
                                   RECD_H1_HEAD_LIMIT - 1,
                                   RECD_H1_HEAD_LIMIT,
                                   RECD_H1_HEAD_LIMIT + 1,
                                   RECD_H1_HEAD_LIMIT + 200,
                                   32449,
                                   32630,
                                   RECD_H1_BUF_SIZE - 1,
                                   RECD_H1_BUF_SIZE,
                                   RECD_H1_BUF_SIZE + 1,
                                   100000};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        for (size_t step = 4096; step <= 65536; step *= 16) {
            char *req = head_of_size(sizes[i], "/r.json");
            struct conn c;
            open_conn(&c, req, sizes[i], step);
            enum recd_h1_result r = next_result(&c);
            if (sizes[i] <= RECD_H1_HEAD_LIMIT) {
                assert_int_equal(r, RECD_H1_REQUEST);
            } else {
                assert_int_equal(r, RECD_H1_REFUSE);
                assert_int_equal(c.h.err, RECD_E_HEADERS_TOO_LARGE);
            }
            close_conn(&c);
            free(req);
        }
}

static void test_long_targets(void **state)
{
    (void)state;
    /* Over RECD_URI_MAX but inside the head limit: a request; the API answers its 414. */
    char *t = malloc(RECD_URI_MAX + 100);
    t[0] = '/';
    memset(t + 1, 'a', RECD_URI_MAX + 10);
    strcpy(t + RECD_URI_MAX + 11, ".json");
    char *req = head_of_size(RECD_URI_MAX + 200, t);
    struct conn c;
    open_conn(&c, req, strlen(req), 1000);
    assert_int_equal(next_result(&c), RECD_H1_REQUEST);
    assert_true(c.h.target.n > RECD_URI_MAX);
    close_conn(&c);
    free(req);
    /* The same target in a head over the limit: 414, JSON for its .json path. */
    req = head_of_size(RECD_H1_HEAD_LIMIT + 100, t);
    open_conn(&c, req, strlen(req), 1000);
    assert_int_equal(next_result(&c), RECD_H1_REFUSE);
    assert_int_equal(c.h.err, RECD_E_URI_TOO_LONG);
    assert_true(recd_h1_wants_json(c.h.target));
    close_conn(&c);
    free(req);
    free(t);
    /* A request line that never ends within the limit: 414. */
    size_t n = 100000;
    char *line = malloc(n);
    memcpy(line, "GET /", 5);
    memset(line + 5, 'b', n - 5);
    open_conn(&c, line, n, 8192);
    assert_int_equal(next_result(&c), RECD_H1_REFUSE);
    assert_int_equal(c.h.err, RECD_E_URI_TOO_LONG);
    close_conn(&c);
    free(line);
}

static void test_versions(void **state)
{
    (void)state;
    static const struct {
        const char *req;
        enum recd_h1_result want;
        int err, keep_alive;
    } cases[] = {
        {"GET / HTTP/1.0\r\n\r\n", RECD_H1_REQUEST, 0, 0},
        {"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", RECD_H1_REQUEST, 0, 1},
        {"GET / HTTP/1.1\r\nConnection: close\r\n\r\n", RECD_H1_REQUEST, 0, 0},
        {"GET / HTTP/2.0\r\n\r\n", RECD_H1_REFUSE, RECD_E_VERSION, 0},
        {"GET / HTTP/9.9\r\n\r\n", RECD_H1_REFUSE, RECD_E_VERSION, 0},
        {"GET / HTTP/1.11\r\n\r\n", RECD_H1_REFUSE, RECD_E_BAD_INPUT, 0},
        {"GET / HTTP/01.1\r\n\r\n", RECD_H1_REFUSE, RECD_E_BAD_INPUT, 0},
        {"GET / http/1.1\r\n\r\n", RECD_H1_REFUSE, RECD_E_BAD_INPUT, 0},
        {"GET /\r\n\r\n", RECD_H1_REFUSE, RECD_E_BAD_INPUT, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct conn c;
        open_conn(&c, cases[i].req, strlen(cases[i].req), 5);
        assert_int_equal(next_result(&c), cases[i].want);
        if (cases[i].want == RECD_H1_REFUSE)
            assert_int_equal(c.h.err, cases[i].err);
        assert_int_equal(c.h.keep_alive, cases[i].keep_alive);
        close_conn(&c);
    }
}

static void test_framing_refusals(void **state)
{
    (void)state;
    static const struct {
        const char *headers;
        int err;
    } cases[] = {
        {"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n", RECD_E_BAD_INPUT},
        {"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n", RECD_E_BAD_INPUT},
        {"Content-Length: 0\r\nContent-Length: 5\r\n", RECD_E_BAD_INPUT},
        {"Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n", RECD_E_BAD_INPUT},
        {"Transfer-Encoding: gzip, chunked\r\n", RECD_E_BAD_INPUT},
        {"Transfer-Encoding: gzip\r\n", RECD_E_BAD_INPUT},
        {"Transfer-Encoding : chunked\r\n", RECD_E_BAD_INPUT},
        {"X-A: a\r\n folded\r\n", RECD_E_BAD_INPUT},
        {"Content-Length: 1048577\r\n", RECD_E_TOO_LARGE},
        {"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 65537\r\n", RECD_E_TOO_LARGE},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char req[300];
        int n = snprintf(req, sizeof req, "POST /r HTTP/1.1\r\n%s\r\n0\r\n\r\n", cases[i].headers);
        struct conn c;
        open_conn(&c, req, (size_t)n, 3);
        assert_int_equal(next_result(&c), RECD_H1_REFUSE);
        assert_int_equal(c.h.err, cases[i].err);
        assert_false(recd_h1_wants_json(c.h.target));
        close_conn(&c);
    }
}

static void test_too_many_headers(void **state)
{
    (void)state;
    struct recd_buf b;
    recd_buf_init(&b, 0);
    recd_buf_adds(&b, "GET / HTTP/1.1\r\n");
    for (int i = 0; i <= RECD_H1_MAX_HEADERS; i++)
        recd_buf_printf(&b, "X-%d: v\r\n", i);
    recd_buf_adds(&b, "\r\n");
    struct conn c;
    open_conn(&c, b.p, b.len, 512);
    assert_int_equal(next_result(&c), RECD_H1_REFUSE);
    assert_int_equal(c.h.err, RECD_E_HEADERS_TOO_LARGE);
    close_conn(&c);
    recd_buf_free(&b);
}

static void test_form_bodies(void **state)
{
    (void)state;
    static const char req[] =
        "POST /c HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded; charset=utf-8\r\n"
        "Content-Length: 21\r\n\r\nStatus=paused&Pause=1"
        "POST /c HTTP/1.1\r\ncontent-type: Application/X-WWW-Form-Urlencoded\r\n"
        "Transfer-Encoding: chunked\r\n\r\n6\r\nStatus\r\n8;ext=1\r\n=stopped\r\n0\r\n\r\n"
        "GET /after HTTP/1.1\r\n\r\n";
    for (size_t step = 1; step <= LIT_LEN(req); step += 5) {
        struct conn c;
        ONE(&c, req, step);
        assert_int_equal(next_result(&c), RECD_H1_REQUEST);
        assert_true(c.h.form);
        assert_bytes(c.h.body.p, c.h.body.len, "Status=paused&Pause=1");
        recd_h1_next(&c.h);
        assert_int_equal(next_result(&c), RECD_H1_REQUEST);
        assert_true(c.h.form);
        assert_false(c.h.early);
        assert_bytes(c.h.body.p, c.h.body.len, "Status=stopped");
        recd_h1_next(&c.h);
        assert_int_equal(next_result(&c), RECD_H1_REQUEST);
        assert_false(c.h.form);
        assert_int_equal(c.h.body.len, 0);
        assert_bytes(c.h.target.p, c.h.target.n, "/after");
        close_conn(&c);
    }
}

static void test_chunked_form_over_limit(void **state)
{
    (void)state;
    struct recd_buf b;
    recd_buf_init(&b, 0);
    recd_buf_adds(&b, "POST /c HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                      "Transfer-Encoding: chunked\r\n\r\n");
    for (int i = 0; i < 70; i++) {
        recd_buf_adds(&b, "400\r\n");
        for (int k = 0; k < 1024; k++)
            recd_buf_addc(&b, 'a');
        recd_buf_adds(&b, "\r\n");
    }
    recd_buf_adds(&b, "0\r\n\r\n");
    struct conn c;
    open_conn(&c, b.p, b.len, 3000);
    assert_int_equal(next_result(&c), RECD_H1_REFUSE);
    assert_int_equal(c.h.err, RECD_E_TOO_LARGE);
    close_conn(&c);
    recd_buf_free(&b);
}

static void test_chunked_other_body_answered_early(void **state)
{
    (void)state;
    static const char req[] =
        "GET /r.json HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n"
        "GET /smuggled HTTP/1.1\r\n\r\n";
    struct conn c;
    ONE(&c, req, 1);
    assert_int_equal(next_result(&c), RECD_H1_REQUEST);
    assert_true(c.h.early);
    assert_false(c.h.keep_alive);
    assert_bytes(c.h.target.p, c.h.target.n, "/r.json");
    close_conn(&c);
}

static void test_large_discarded_body_keeps_the_head(void **state)
{
    (void)state;
    size_t body = 1024 * 1024;
    struct recd_buf b;
    recd_buf_init(&b, 0);
    recd_buf_printf(&b,
                    "DELETE /x HTTP/1.1\r\nAuthorization: Basic q\r\nExpect: 100-continue\r\n"
                    "Content-Length: %zu\r\n\r\n",
                    body);
    for (size_t i = 0; i < body; i++)
        recd_buf_addc(&b, (char)('a' + i % 26));
    recd_buf_adds(&b, "GET /next HTTP/1.1\r\n\r\n");
    struct conn c;
    open_conn(&c, b.p, b.len, 16384);
    assert_int_equal(next_result(&c), RECD_H1_REQUEST);
    assert_int_equal(c.h.body_bytes, body);
    assert_true(c.h.expect_continue);
    assert_string_equal(recd_h1_header(&c.h, "Authorization"), "Basic q");
    recd_h1_next(&c.h);
    assert_int_equal(next_result(&c), RECD_H1_REQUEST);
    assert_bytes(c.h.target.p, c.h.target.n, "/next");
    close_conn(&c);
    recd_buf_free(&b);
}

static void test_wants_json(void **state)
{
    (void)state;
    assert_true(recd_h1_wants_json((struct recd_str){LIT("/a/b.json")}));
    assert_true(recd_h1_wants_json((struct recd_str){LIT("/2008-08-01/x/RE1.json?a=b.xml")}));
    assert_false(recd_h1_wants_json((struct recd_str){LIT("/a/b.xml?x=.json")}));
    assert_false(recd_h1_wants_json((struct recd_str){LIT("/a/b")}));
    assert_false(recd_h1_wants_json((struct recd_str){NULL, 0}));
}

static void test_response_heads(void **state)
{
    (void)state;
    struct recd_response rs;
    recd_response_init(&rs);
    rs.status = 200;
    rs.content_type = "application/json";
    char out[RECD_H1_RESPONSE_HEAD_MAX];
    size_t n = recd_h1_response_head(out, sizeof out, &rs, 42, 1, 0, "Mon, 07 Dec 2026 12:00:00 GMT");
    assert_bytes(
        out, n,
        "HTTP/1.1 200 OK\r\nDate: Mon, 07 Dec 2026 12:00:00 GMT\r\nContent-Type: application/json\r\n"
        "Content-Length: 42\r\nAccess-Control-Allow-Origin: *\r\n\r\n");
    rs.status = 304;
    rs.content_type = NULL;
    snprintf(rs.etag, sizeof rs.etag, "\"e\"");
    n = recd_h1_response_head(out, sizeof out, &rs, 42, 0, 0, "D");
    assert_bytes(out, n,
                 "HTTP/1.1 304 Not Modified\r\nDate: D\r\nETag: \"e\"\r\nAccess-Control-Allow-Origin: *\r\n"
                 "Connection: close\r\n\r\n");
    recd_response_init(&rs);
    rs.status = 204;
    rs.allow = "GET, HEAD, OPTIONS";
    rs.cors_preflight = 1;
    n = recd_h1_response_head(out, sizeof out, &rs, 0, 1, 1, "D");
    assert_bytes(
        out, n,
        "HTTP/1.1 204 No Content\r\nDate: D\r\nAllow: GET, HEAD, OPTIONS\r\n"
        "Access-Control-Allow-Origin: *\r\nAccess-Control-Allow-Methods: GET, HEAD, OPTIONS\r\n"
        "Access-Control-Allow-Headers: Authorization, Range, If-None-Match, If-Modified-Since, If-Range\r\n"
        "Access-Control-Max-Age: 86400\r\nConnection: keep-alive\r\n\r\n");
    /* The largest head recd can write fits, and a buffer too small says so. */
    recd_response_init(&rs);
    rs.status = 206;
    rs.content_type = "audio/x-wav";
    rs.allow = "GET, HEAD, DELETE, OPTIONS";
    rs.www_authenticate = 1;
    rs.accept_ranges = 1;
    rs.retry_after = 1000000;
    rs.cors_preflight = 1;
    memset(rs.etag, 'e', sizeof rs.etag - 1);
    memset(rs.last_modified, 'l', sizeof rs.last_modified - 1);
    memset(rs.content_range, 'r', sizeof rs.content_range - 1);
    memset(rs.disposition, 'd', sizeof rs.disposition - 1);
    assert_true(
        recd_h1_response_head(out, sizeof out, &rs, UINT64_MAX, 0, 0, "Mon, 07 Dec 2026 12:00:00 GMT") > 0);
    assert_int_equal(recd_h1_response_head(out, 100, &rs, 1, 0, 0, "D"), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_simple_get_any_split),
        cmocka_unit_test(test_pipelined_requests_one_at_a_time),
        cmocka_unit_test(test_methods_http_parser_does_not_know),
        cmocka_unit_test(test_malformed_content_length_is_one_refusal),
        cmocka_unit_test(test_head_limit_every_size),
        cmocka_unit_test(test_long_targets),
        cmocka_unit_test(test_versions),
        cmocka_unit_test(test_framing_refusals),
        cmocka_unit_test(test_too_many_headers),
        cmocka_unit_test(test_form_bodies),
        cmocka_unit_test(test_chunked_form_over_limit),
        cmocka_unit_test(test_chunked_other_body_answered_early),
        cmocka_unit_test(test_large_discarded_body_keeps_the_head),
        cmocka_unit_test(test_wants_json),
        cmocka_unit_test(test_response_heads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
