#include "voice/webhook.h"

#include "core/error.h"

#include "unit.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

/*
 * The webhook client's pure parts (forms, signatures, URLs) and its queue, without an HTTP server:
 * tests/e2e/test_webhook.py drives it against a real one.
 *
 * The known signatures were computed outside recd with the official twilio Python library
 * (python3-twilio 7.7.1):
 *
 *   from twilio.request_validator import RequestValidator as R
 *   r = R('12345')
 *   r.compute_signature('https://mycompany.com/myapp.php?foo=1&bar=2',
 *       {'CallSid': 'CA1234567890ABCDE', 'Caller': '+12349013030', 'Digits': '1234',
 *        'From': '+12349013030', 'To': '+18005551212'})          -> 0/KCTR6DLpKmkAf8muzZqo1nDgQ=
 *   r.compute_signature('https://mycompany.com/myapp.php?foo=1&bar=2&CallSid=CA1234567890ABCDE'
 *       '&Digits=1%202', {})                                     -> R5REBk3fcGNFNbiRri1GT8Q0UIo=
 *   r.compute_signature('http://example.com/x',
 *       {'b': '2', 'B': '1', 'a': 'é ü', '_x': ''})              -> aWQNlyc/+ccH36lbiCwQ8ntHIBI=
 *
 * The first is also the example in Twilio's own security documentation.
 */

static void form_of(struct recd_form *f, const char *const *kv)
{
    recd_form_init(f);
    for (; kv[0]; kv += 2)
        assert_int_equal(recd_form_add(f, kv[0], kv[1]), 0);
}

static void test_sign_known(void **state)
{
    (void)state;
    static const char *const kv[] = {"To",      "+18005551212",      "Caller", "+12349013030",
                                     "From",    "+12349013030",      "Digits", "1234",
                                     "CallSid", "CA1234567890ABCDE", NULL};
    struct recd_form f;
    form_of(&f, kv); /* not in name order: signing sorts */
    char sig[RECD_WEBHOOK_SIG_LEN + 2];
    memset(sig, 'X', sizeof sig);
    assert_int_equal(recd_webhook_sign(LIT("12345"), "https://mycompany.com/myapp.php?foo=1&bar=2", &f, sig),
                     0);
    assert_bytes(sig, strlen(sig), "0/KCTR6DLpKmkAf8muzZqo1nDgQ=");
    assert_int_equal(sig[RECD_WEBHOOK_SIG_LEN + 1], 'X');
    /* The caller's order is untouched. */
    assert_string_equal(f.v[0].name, "To");
    recd_form_free(&f);

    assert_int_equal(recd_webhook_sign(LIT("12345"),
                                       "https://mycompany.com/myapp.php?foo=1&bar=2&CallSid=CA1234567890ABCDE"
                                       "&Digits=1%202",
                                       NULL, sig),
                     0);
    assert_string_equal(sig, "R5REBk3fcGNFNbiRri1GT8Q0UIo=");

    /* Byte order: upper case before '_' before lower case; UTF-8 values signed as bytes. */
    static const char *const kv2[] = {"b", "2", "a", "\xc3\xa9 \xc3\xbc", "_x", "", "B", "1", NULL};
    form_of(&f, kv2);
    assert_int_equal(recd_webhook_sign(LIT("12345"), "http://example.com/x", &f, sig), 0);
    assert_string_equal(sig, "aWQNlyc/+ccH36lbiCwQ8ntHIBI=");
    recd_form_free(&f);

    /* An empty form signs the URL alone, like a GET. */
    char sig2[RECD_WEBHOOK_SIG_LEN + 1];
    recd_form_init(&f);
    assert_int_equal(recd_webhook_sign(LIT("12345"), "http://example.com/x", &f, sig), 0);
    assert_int_equal(recd_webhook_sign(LIT("12345"), "http://example.com/x", NULL, sig2), 0);
    assert_string_equal(sig, sig2);
    assert_int_equal(recd_webhook_sign(NULL, 0, "http://example.com/x", NULL, sig), RECD_E_BAD_INPUT);
    assert_int_equal(recd_webhook_sign(LIT("k"), NULL, NULL, sig), RECD_E_BAD_INPUT);
}

/* Repeated names sort by value too, and the token is used with its length (it may hold a NUL):
 * checked against OpenSSL's HMAC over the string written out by hand. */
static void test_sign_repeated(void **state)
{
    (void)state;
    static const char *const kv[] = {"Digits", "9", "Digits", "1", "A", "x", NULL};
    struct recd_form f;
    form_of(&f, kv);
    static const char token[] = "ab\0cd";
    static const char msg[] = "https://h/p?q=1"
                              "A"
                              "x"
                              "Digits"
                              "1"
                              "Digits"
                              "9";
    unsigned char mac[20];
    unsigned len = 0;
    assert_non_null(
        HMAC(EVP_sha1(), token, (int)LIT_LEN(token), (const unsigned char *)msg, LIT_LEN(msg), mac, &len));
    char want[29];
    EVP_EncodeBlock((unsigned char *)want, mac, 20);
    char sig[RECD_WEBHOOK_SIG_LEN + 1];
    assert_int_equal(recd_webhook_sign(token, LIT_LEN(token), "https://h/p?q=1", &f, sig), 0);
    assert_string_equal(sig, want);
    recd_form_free(&f);
}

static void test_form(void **state)
{
    (void)state;
    struct recd_form f;
    recd_form_init(&f);
    struct recd_buf b;
    recd_buf_init(&b, 0);
    assert_int_equal(recd_form_encode(&f, &b), 0);
    assert_buf(&b, "");
    assert_int_equal(recd_form_add(&f, "From", "+1 555/0100"), 0);
    assert_int_equal(recd_form_add(&f, "Say", "a&b=c%d\xc3\xa9~_.-"), 0);
    assert_int_equal(recd_form_add(&f, "Empty", ""), 0);
    assert_int_equal(recd_form_add(&f, "From", "again"), 0);
    assert_int_equal(recd_form_add(&f, "", "x"), RECD_E_BAD_INPUT);
    assert_int_equal(recd_form_add(&f, NULL, "x"), RECD_E_BAD_INPUT);
    assert_int_equal(recd_form_add(&f, "x", NULL), RECD_E_BAD_INPUT);
    assert_int_equal(f.n, 4);
    assert_string_equal(recd_form_get(&f, "From"), "+1 555/0100");
    assert_null(recd_form_get(&f, "from"));
    recd_buf_reset(&b);
    assert_int_equal(recd_form_encode(&f, &b), 0);
    assert_buf(&b, "From=%2B1%20555%2F0100&Say=a%26b%3Dc%25d%C3%A9~_.-&Empty=&From=again");
    recd_form_free(&f);
    assert_int_equal(f.n, 0);
    recd_form_free(&f); /* twice is fine */
    recd_buf_free(&b);
}

static void resolves(const char *base, const char *ref, const char *want)
{
    char out[256];
    int r = recd_webhook_resolve_url(base, ref, out, sizeof out);
    if (r != 0) {
        print_error("resolve(%s, %s) = %d\n", base, ref, r);
        fail();
    }
    assert_string_equal(out, want);
}

static void test_resolve(void **state)
{
    (void)state;
    const char *base = "https://app.example.com/voice/menu/start.xml?step=1";
    resolves(base, "next.xml", "https://app.example.com/voice/menu/next.xml");
    resolves(base, "../record", "https://app.example.com/voice/record");
    resolves(base, "../../../../x", "https://app.example.com/x");
    resolves(base, "./a/./b/../c", "https://app.example.com/voice/menu/a/c");
    resolves(base, "?step=2", "https://app.example.com/voice/menu/start.xml?step=2");
    resolves(base, "/abs?x=1", "https://app.example.com/abs?x=1");
    resolves(base, "//other.example.org/p", "https://other.example.org/p");
    resolves(base, "http://x.example/y", "http://x.example/y");
    resolves(base, "", "https://app.example.com/voice/menu/start.xml?step=1");
    resolves("http://h:8080", "a", "http://h:8080/a");

    char out[64];
    assert_int_equal(recd_webhook_resolve_url(base, "mailto:a@b", out, sizeof out), RECD_E_BAD_INPUT);
    assert_int_equal(recd_webhook_resolve_url(base, "http:g", out, sizeof out), RECD_E_BAD_INPUT);
    assert_int_equal(recd_webhook_resolve_url(base, "http://u@/p", out, sizeof out), RECD_E_BAD_INPUT);
    assert_int_equal(recd_webhook_resolve_url(base, "a b", out, sizeof out), RECD_E_BAD_INPUT);
    assert_int_equal(recd_webhook_resolve_url(base, "a\nb", out, sizeof out), RECD_E_BAD_INPUT);
    assert_int_equal(recd_webhook_resolve_url("/relative/base", "a", out, sizeof out), RECD_E_BAD_INPUT);
    assert_int_equal(recd_webhook_resolve_url("ftp://h/", "a", out, sizeof out), RECD_E_BAD_INPUT);
    assert_int_equal(recd_webhook_resolve_url(base, "a", out, 8), RECD_E_BAD_INPUT); /* does not fit */
    assert_int_equal(recd_webhook_resolve_url(NULL, "a", out, sizeof out), RECD_E_BAD_INPUT);
}

static void request_url(const char *url, int get, const struct recd_form *f, const char *want,
                        const char *want_signed)
{
    struct recd_buf b, s;
    recd_buf_init(&b, 0);
    recd_buf_init(&s, 0);
    int r = recd_webhook_request_url(url, get, f, &b, &s);
    if (r != 0) {
        print_error("request_url(%s) = %d\n", url, r);
        fail();
    }
    assert_buf(&b, want);
    assert_buf(&s, want_signed ? want_signed : want);
    recd_buf_free(&b);
    recd_buf_free(&s);
}

static void test_request_url(void **state)
{
    (void)state;
    static const char *const kv[] = {"CallSid", "CA1", "From", "+1 5", NULL};
    struct recd_form f;
    form_of(&f, kv);
    request_url("http://h/p", 0, &f, "http://h/p", NULL);
    request_url("http://h", 0, &f, "http://h/", NULL);
    request_url("http://h:81?x", 0, &f, "http://h:81/?x", NULL);
    request_url("https://h/p#frag", 0, &f, "https://h/p", NULL);
    request_url("http://h/p", 1, &f, "http://h/p?CallSid=CA1&From=%2B1%205", NULL);
    request_url("http://h/p?a=1#f", 1, &f, "http://h/p?a=1&CallSid=CA1&From=%2B1%205", NULL);
    request_url("http://h/p?", 1, &f, "http://h/p?CallSid=CA1&From=%2B1%205", NULL);
    request_url("http://h/p", 1, NULL, "http://h/p", NULL);
    request_url("http://u:p%40ss@h/a@b", 0, &f, "http://u:p%40ss@h/a@b", "http://h/a@b");
    request_url("http://u@h", 1, &f, "http://u@h/?CallSid=CA1&From=%2B1%205",
                "http://h/?CallSid=CA1&From=%2B1%205");

    struct recd_buf b;
    recd_buf_init(&b, 0);
    static const char *const bad[] = {
        "ftp://h/p",  "/relative",    "h/p", "http:///p",          "http://h/a b", "http://h/\x01",
        "mailto:x@y", "javascript:1", "",    "file:///etc/passwd", "http://[::1/"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        if (recd_webhook_request_url(bad[i], 0, &f, &b, NULL) != RECD_E_BAD_INPUT) {
            print_error("accepted %s\n", bad[i]);
            fail();
        }
    assert_int_equal(recd_webhook_request_url(NULL, 0, &f, &b, NULL), RECD_E_BAD_INPUT);

    /* Too long, as given or once the parameters are appended. */
    char *big = malloc(RECD_WEBHOOK_MAX_URL + 16);
    strcpy(big, "http://h/");
    memset(big + 9, 'a', RECD_WEBHOOK_MAX_URL - 9);
    big[RECD_WEBHOOK_MAX_URL] = '\0';
    assert_int_equal(recd_webhook_request_url(big, 0, &f, &b, NULL), 0);
    assert_int_equal(recd_webhook_request_url(big, 1, &f, &b, NULL), RECD_E_BAD_INPUT);
    strcat(big, "a");
    assert_int_equal(recd_webhook_request_url(big, 0, &f, &b, NULL), RECD_E_BAD_INPUT);
    free(big);
    recd_buf_free(&b);
    recd_form_free(&f);
}

/* A callback that records what it got and wakes the test. */
struct seen {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int calls, err, code;
    long status;
    char url[256];
};

static void on_result(void *arg, const struct recd_webhook_result *res)
{
    struct seen *s = arg;
    pthread_mutex_lock(&s->mu);
    s->calls++;
    s->err = res->err;
    s->code = res->twilio_code;
    s->status = res->status;
    snprintf(s->url, sizeof s->url, "%s", res->url ? res->url : "");
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

static void wait_calls(struct seen *s, int n)
{
    pthread_mutex_lock(&s->mu);
    while (s->calls < n)
        pthread_cond_wait(&s->cv, &s->mu);
    pthread_mutex_unlock(&s->mu);
}

#define SEEN_INIT                                                                                            \
    {                                                                                                        \
        PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0, 0,                                     \
        {                                                                                                    \
            0                                                                                                \
        }                                                                                                    \
    }

/* A bad URL (and a bad fallback) comes back through the callback as 11100, from the thread. */
static void test_fetch_bad_url(void **state)
{
    (void)state;
    struct recd_webhook *wh;
    assert_int_equal(recd_webhook_start(NULL, &wh), 0);
    struct seen s = SEEN_INIT;
    struct recd_webhook_req req = {.url = "ftp://example.com/x", .fallback_url = "not a url"};
    assert_int_equal(recd_webhook_fetch(wh, &req, on_result, &s), 0);
    wait_calls(&s, 1);
    assert_int_equal(s.err, RECD_E_BAD_INPUT);
    assert_int_equal(s.code, RECD_WEBHOOK_E_URL);
    assert_int_equal(s.status, 0);
    assert_string_equal(s.url, "not a url");

    assert_int_equal(recd_webhook_fetch(wh, &req, NULL, NULL), RECD_E_BAD_INPUT);
    req.url = NULL;
    assert_int_equal(recd_webhook_fetch(wh, &req, on_result, &s), RECD_E_BAD_INPUT);
    assert_int_equal(recd_webhook_notify(wh, &req), RECD_E_BAD_INPUT);
    recd_webhook_stop(wh);
    recd_webhook_stop(NULL);
    assert_int_equal(s.calls, 1);
}

/*
 * A listening socket that never accepts: the kernel completes the connection, the request is
 * sent and no answer ever comes, so the request stays in flight. A queue of one is then full, and
 * stopping cancels the request with RECD_E_UNAVAILABLE.
 */
static void test_queue_full_and_stop(void **state)
{
    (void)state;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(fd, 8), 0);
    socklen_t al = sizeof a;
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &al), 0);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%u/hang", (unsigned)ntohs(a.sin_port));

    struct recd_webhook *wh;
    struct recd_webhook_opts o = {.max_queued = 1};
    assert_int_equal(recd_webhook_start(&o, &wh), 0);
    struct seen s = SEEN_INIT;
    struct recd_webhook_req req = {.url = url, .token = "t", .token_len = 1};
    assert_int_equal(recd_webhook_fetch(wh, &req, on_result, &s), 0);
    assert_int_equal(recd_webhook_fetch(wh, &req, on_result, &s), RECD_E_UNAVAILABLE);
    assert_int_equal(recd_webhook_notify(wh, &req), RECD_E_UNAVAILABLE);
    recd_webhook_stop(wh);
    assert_int_equal(s.calls, 1);
    assert_int_equal(s.err, RECD_E_UNAVAILABLE);
    assert_int_equal(s.status, 0);
    assert_string_equal(s.url, url);
    close(fd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sign_known),
        cmocka_unit_test(test_sign_repeated),
        cmocka_unit_test(test_form),
        cmocka_unit_test(test_resolve),
        cmocka_unit_test(test_request_url),
        cmocka_unit_test(test_fetch_bad_url),
        cmocka_unit_test(test_queue_full_and_stop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
