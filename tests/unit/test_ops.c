#include "core/buf.h"
#include "core/cidr.h"
#include "core/error.h"
#include "media/blob.h"
#include "ops/health.h"
#include "ops/meter.h"
#include "ops/metrics.h"
#include "ops/notify.h"
#include "store/store.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "unit.h"

/*
 * src/ops without a server: address lists, the metrics registry (counting from several threads,
 * threads that exit, the exposition's exact lines), the storage meter on a real SQLite store and
 * media folder, and the notify protocol over a socket the test owns. The registry is one per
 * process, so each test looks at how its own series move.
 */

/* The value of the exposition line that starts with `series` (name and labels), or -1. */
static double value_of(const char *text, const char *series)
{
    size_t n = strlen(series);
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
        if (strncmp(p, series, n) == 0 && p[n] == ' ')
            return strtod(p + n + 1, NULL);
    return -1;
}

static char *render(void)
{
    struct recd_buf b;
    recd_buf_init(&b, 4096);
    recd_metrics_render(&b, NULL);
    size_t n;
    return recd_buf_steal(&b, &n);
}

/* --- Address lists ------------------------------------------------------------------------- */

static void test_cidr(void **state)
{
    (void)state;
    struct recd_cidr_list l;
    unsigned char v4[4], v6[16], mapped[16];
    assert_int_equal(recd_cidr_list_parse("127.0.0.0/8,::1,10.1.2.3", &l), 0);
    assert_int_equal(l.n, 3);
    inet_pton(AF_INET, "127.4.5.6", v4);
    assert_true(recd_cidr_list_match(&l, v4, 4));
    inet_pton(AF_INET, "10.1.2.3", v4);
    assert_true(recd_cidr_list_match(&l, v4, 4));
    inet_pton(AF_INET, "10.1.2.4", v4);
    assert_false(recd_cidr_list_match(&l, v4, 4));
    inet_pton(AF_INET6, "::1", v6);
    assert_true(recd_cidr_list_match(&l, v6, 16));
    inet_pton(AF_INET6, "::2", v6);
    assert_false(recd_cidr_list_match(&l, v6, 16));
    inet_pton(AF_INET6, "::ffff:127.0.0.1", mapped);
    assert_true(recd_cidr_list_match(&l, mapped, 16));
    assert_false(recd_cidr_list_match(&l, v4, 3));

    assert_int_equal(recd_cidr_list_parse("192.168.0.0/23", &l), 0);
    inet_pton(AF_INET, "192.168.1.255", v4);
    assert_true(recd_cidr_list_match(&l, v4, 4));
    inet_pton(AF_INET, "192.168.2.0", v4);
    assert_false(recd_cidr_list_match(&l, v4, 4));

    assert_int_equal(recd_cidr_list_parse("any", &l), 0);
    assert_true(recd_cidr_list_match(&l, v4, 4));
    assert_int_equal(recd_cidr_list_parse("none", &l), 0);
    assert_false(recd_cidr_list_match(&l, v4, 4));
    assert_int_equal(recd_cidr_list_parse("0.0.0.0/0", &l), 0);
    assert_true(recd_cidr_list_match(&l, v4, 4));

    static const char *const bad[] = {"",        ",",          "127.0.0.1,", "1.2.3.4/33",
                                      "::1/129", "1.2.3.4/-1", "1.2.3.4/ 8", "1.2.3.4/+8",
                                      "host",    "1.2.3",      "1.2.3.4/",   "any,1.2.3.4"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(recd_cidr_list_parse(bad[i], &l), -1);
    char many[40 * 12] = "";
    for (int i = 0; i < RECD_CIDR_LIST_MAX + 1; i++)
        strcat(many, i ? ",10.0.0.1" : "10.0.0.1");
    assert_int_equal(recd_cidr_list_parse(many, &l), -1);
}

/* --- The registry -------------------------------------------------------------------------- */

static void *count_and_exit(void *arg)
{
    (void)arg;
    recd_metric_add(RECD_MET_RTP_PACKETS, RECD_RTP_SENT, 5);
    recd_metric_gauge_add(RECD_MET_CALLS_ACTIVE, 0, -1); /* one thread starts a call, another ends it */
    recd_metrics_http("/route/b", 1, 200, 10, 300);
    return NULL;
}

static void test_metrics_counting(void **state)
{
    (void)state;
    assert_true(recd_metrics_enabled());
    char *before = render();
    double sent0 = value_of(before, "recd_rtp_packets_total{direction=\"sent\"}");
    free(before);

    recd_metric_add(RECD_MET_RTP_PACKETS, RECD_RTP_SENT, 2);
    recd_metric_add(RECD_MET_RTP_PACKETS, 99, 1000); /* out of range: not counted anywhere */
    recd_metric_gauge_add(RECD_MET_CALLS_ACTIVE, 0, 1);
    recd_metric_add(RECD_MET_SIP_RESPONSES, 200 - 100, 3);
    recd_metric_add(RECD_MET_CALLS, (unsigned)recd_metric_call_status("no-answer"), 1);
    recd_metrics_http("/route/b", 1, 200, 7, 100);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, count_and_exit, NULL), 0);
    pthread_join(t, NULL); /* its shard is retired: what it counted stays */

    char *text = render();
    assert_true(value_of(text, "recd_rtp_packets_total{direction=\"sent\"}") == sent0 + 7);
    assert_true(value_of(text, "recd_calls_active") == 0);
    assert_true(value_of(text, "recd_sip_responses_total{code=\"200\"}") == 3);
    assert_true(value_of(text, "recd_sip_responses_total{code=\"404\"}") == -1); /* sparse: never moved */
    assert_true(value_of(text, "recd_calls_total{status=\"no-answer\"}") == 1);
    assert_true(value_of(text, "recd_calls_total{status=\"busy\"}") == 0); /* small sets: every value */
    /* Both threads' requests in one series; their durations in one histogram. */
    assert_true(value_of(text, "recd_http_requests_total{method=\"GET\",route=\"/route/b\",code=\"200\"}") ==
                2);
    assert_true(value_of(text, "recd_http_response_bytes_total{method=\"GET\",route=\"/route/b\"}") == 17);
    assert_true(value_of(text, "recd_http_request_duration_seconds_bucket{method=\"GET\",route=\"/route/b\","
                               "le=\"0.0001\"}") == 1);
    assert_true(value_of(text, "recd_http_request_duration_seconds_bucket{method=\"GET\",route=\"/route/b\","
                               "le=\"0.0005\"}") == 2);
    assert_true(value_of(text, "recd_http_request_duration_seconds_sum{method=\"GET\",route=\"/route/b\"}") ==
                0.0004);
    assert_true(
        value_of(text, "recd_http_request_duration_seconds_count{method=\"GET\",route=\"/route/b\"}") == 2);
    assert_non_null(strstr(text, "# TYPE recd_http_request_duration_seconds histogram\n"));
    assert_non_null(strstr(text, "recd_build_info{version=\""));
    assert_non_null(strstr(text, "\nprocess_cpu_seconds_total "));
    free(text);
}

static void test_metrics_histogram_edges(void **state)
{
    (void)state;
    /* A value on a bound is in that bound's bucket (le: less or equal). */
    recd_metric_observe(RECD_MET_RTP_JITTER, 0, 1000);
    recd_metric_observe(RECD_MET_RTP_JITTER, 0, 1001);
    recd_metric_observe(RECD_MET_RTP_JITTER, 0, 999999999);
    recd_metric_observe(RECD_MET_RTP_JITTER, 0, -5); /* a clock that stepped back counts as zero */
    char *text = render();
    assert_true(value_of(text, "recd_rtp_jitter_seconds_bucket{le=\"0.0005\"}") == 1);
    assert_true(value_of(text, "recd_rtp_jitter_seconds_bucket{le=\"0.001\"}") == 2);
    assert_true(value_of(text, "recd_rtp_jitter_seconds_bucket{le=\"0.002\"}") == 3);
    assert_true(value_of(text, "recd_rtp_jitter_seconds_bucket{le=\"0.16\"}") == 3);
    assert_true(value_of(text, "recd_rtp_jitter_seconds_bucket{le=\"+Inf\"}") == 4);
    assert_true(value_of(text, "recd_rtp_jitter_seconds_count") == 4);
    assert_non_null(strstr(text, "\nrecd_rtp_jitter_seconds_sum 1000.002\n"));
    free(text);
}

/* --- The storage meter --------------------------------------------------------------------- */

/* Every operation the backend has is replaced in the metered table, but close: an operation
 * added to store.h or blob.h and not to meter.h's lists shows up here. */
static void assert_all_metered(const void *inner, const void *metered, size_t size, size_t close_at)
{
    typedef void (*fn)(void);
    for (size_t off = 0; off + sizeof(fn) <= size; off += sizeof(fn)) {
        fn a, b;
        memcpy(&a, (const char *)inner + off, sizeof a);
        memcpy(&b, (const char *)metered + off, sizeof b);
        if (off == close_at || a == NULL)
            assert_true(a == b);
        else if (a == b)
            fail_msg("the operation at offset %zu is not metered: add it to ops/meter.h", off);
    }
}

static void test_meter(void **state)
{
    (void)state;
    char dir[] = "/tmp/recd-test-ops-XXXXXX", path[64];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/recd.db", dir);
    struct recd_store *st;
    assert_int_equal(recd_store_sqlite_open(path, &st), 0);
    const struct recd_store_ops *inner = st->ops;
    recd_meter_store(st, RECD_METER_SQLITE);
    assert_true(st->ops != inner);
    assert_all_metered(inner, st->ops, sizeof *inner, offsetof(struct recd_store_ops, close));
    const struct recd_store_ops *metered = st->ops;
    recd_meter_store(st, RECD_METER_SQLITE); /* twice: no metering of the metering */
    assert_true(st->ops == metered);

    struct recd_account a;
    int64_t v[2];
    assert_int_equal(st->ops->account_get(st, "AC0123456789abcdef0123456789abcdef", &a), RECD_E_NOT_FOUND);
    assert_int_equal(st->ops->version(st, v), 0);
    assert_int_equal(st->ops->ready(st, 100), 0);
    assert_int_equal(st->ops->commit(st), RECD_E_INTERNAL); /* no transaction: a real failure */

    snprintf(path, sizeof path, "%s/media", dir);
    struct recd_blob *b;
    assert_int_equal(recd_blob_fs_open(path, &b), 0);
    const struct recd_blob_ops *binner = b->ops;
    recd_meter_media(b, RECD_METER_FS);
    assert_all_metered(binner, b->ops, sizeof *binner, offsetof(struct recd_blob_ops, close));
    assert_int_equal(b->ops->put_mem(b, "RE0123456789abcdef0123456789abcdef.wav", "abc", 3), 0);
    int fd;
    int64_t size;
    assert_int_equal(b->ops->open(b, "REfedcba9876543210fedcba9876543210.wav", &fd, &size), RECD_E_NOT_FOUND);
    assert_int_equal(b->ops->ready(b), 0);

    char *text = render();
    assert_true(
        value_of(text,
                 "recd_store_operation_duration_seconds_count{backend=\"sqlite\",op=\"account_get\"}") == 1);
    assert_true(
        value_of(text, "recd_store_operation_duration_seconds_count{backend=\"sqlite\",op=\"version\"}") ==
        1);
    assert_true(value_of(text, "recd_store_operation_errors_total{backend=\"sqlite\",op=\"account_get\"}") ==
                -1);
    assert_true(value_of(text, "recd_store_operation_errors_total{backend=\"sqlite\",op=\"commit\"}") == 1);
    assert_true(
        value_of(text, "recd_media_operation_duration_seconds_count{backend=\"fs\",op=\"put_mem\"}") == 1);
    assert_true(value_of(text, "recd_media_operation_duration_seconds_count{backend=\"fs\",op=\"open\"}") ==
                1);
    assert_true(value_of(text, "recd_media_operation_errors_total{backend=\"fs\",op=\"open\"}") == -1);
    free(text);

    b->ops->remove(b, "RE0123456789abcdef0123456789abcdef.wav");
    b->ops->close(b);
    st->ops->close(st);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

/* A SQLite store whose write lock another connection holds is not ready, and says so in time. */
static void test_sqlite_ready_locked(void **state)
{
    (void)state;
    char dir[] = "/tmp/recd-test-ops-XXXXXX", path[64];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/recd.db", dir);
    struct recd_store *st, *other;
    assert_int_equal(recd_store_sqlite_open(path, &st), 0);
    assert_int_equal(recd_store_sqlite_open(path, &other), 0);
    uint64_t retries = recd_store_sqlite_busy_retries();
    assert_int_equal(st->ops->ready(st, 200), 0);
    assert_int_equal(other->ops->begin(other), 0);
    assert_int_equal(st->ops->ready(st, 200), RECD_E_UNAVAILABLE);
    assert_true(recd_store_sqlite_busy_retries() > retries);
    assert_int_equal(other->ops->rollback(other), 0);
    assert_int_equal(st->ops->ready(st, 200), 0);
    other->ops->close(other);
    st->ops->close(st);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

/* --- The endpoints ----------------------------------------------------------------------- */

/* Runs one request through the endpoints; returns what the handler returned, the response in rs. */
static int call_ep(const struct recd_ops_endpoints *e, struct recd_store *st, struct recd_blob *b, int method,
                   const char *target, const char *client, struct recd_response *rs)
{
    struct recd_request rq = {.method = (enum recd_method)method, .target = recd_str_c(target)};
    rq.client_len = inet_pton(AF_INET, client, rq.client) == 1 ? 4 : 0;
    recd_response_init(rs);
    return recd_ops_endpoints_handle(e, st, b, &rq, rs);
}

static void test_endpoints(void **state)
{
    (void)state;
    char dir[] = "/tmp/recd-test-ops-XXXXXX", path[64];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/recd.db", dir);
    struct recd_store *st;
    struct recd_blob *b;
    assert_int_equal(recd_store_sqlite_open(path, &st), 0);
    snprintf(path, sizeof path, "%s/media", dir);
    assert_int_equal(recd_blob_fs_open(path, &b), 0);
    _Atomic int stopping = 0;
    struct recd_ops_endpoints e = {.metrics = 1, .stopping = &stopping, .sqlite = 1};
    assert_int_equal(recd_cidr_list_parse("127.0.0.0/8", &e.allow), 0);
    struct recd_response rs;

    assert_int_equal(call_ep(&e, st, b, RECD_M_GET, "/livez", "10.9.9.9", &rs), 1);
    assert_int_equal(rs.status, 200);
    assert_buf(&rs.body, "{\"status\":\"alive\"}\n");
    assert_string_equal(rs.route, "/livez");
    recd_response_free(&rs);

    assert_int_equal(call_ep(&e, st, b, RECD_M_GET, "/readyz?verbose=1", "10.9.9.9", &rs), 1);
    assert_int_equal(rs.status, 200);
    assert_buf(&rs.body, "{\"status\":\"ready\",\"checks\":{\"store\":\"ok\",\"media\":\"ok\"}}\n");
    recd_response_free(&rs);
    stopping = 1;
    assert_int_equal(call_ep(&e, st, b, RECD_M_HEAD, "/readyz", "10.9.9.9", &rs), 1);
    assert_int_equal(rs.status, 503);
    assert_buf(&rs.body, "{\"status\":\"stopping\",\"checks\":{\"store\":\"ok\",\"media\":\"ok\"}}\n");
    recd_response_free(&rs);

    /* Who may read the metrics: the allow list, by the client's address. */
    assert_int_equal(call_ep(&e, st, b, RECD_M_GET, "/metrics", "10.9.9.9", &rs), 1);
    assert_int_equal(rs.status, 403);
    recd_response_free(&rs);
    assert_int_equal(call_ep(&e, st, b, RECD_M_GET, "/metrics", "127.0.0.1", &rs), 1);
    assert_int_equal(rs.status, 200);
    assert_string_equal(rs.content_type, RECD_METRICS_CONTENT_TYPE);
    assert_non_null(strstr(rs.body.p, "\nrecd_sqlite_busy_retries_total "));
    assert_non_null(strstr(rs.body.p, "\nrecd_transcription_queue_jobs{state=\"queued\"} 0\n"));
    recd_response_free(&rs);
    e.metrics = 0; /* served on another listener: here it is the API's path */
    assert_int_equal(call_ep(&e, st, b, RECD_M_GET, "/metrics", "127.0.0.1", &rs), 0);
    recd_response_free(&rs);

    assert_int_equal(call_ep(&e, st, b, RECD_M_POST, "/livez", "127.0.0.1", &rs), 1);
    assert_int_equal(rs.status, 405);
    assert_string_equal(rs.allow, "GET, HEAD");
    recd_response_free(&rs);
    static const char *const not_ours[] = {
        "/",       "/live",  "/livezz",
        "/livez/", "/LIVEZ", "/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Recordings.json"};
    for (size_t i = 0; i < sizeof not_ours / sizeof not_ours[0]; i++) {
        assert_int_equal(call_ep(&e, st, b, RECD_M_GET, not_ours[i], "127.0.0.1", &rs), 0);
        assert_null(rs.route);
        recd_response_free(&rs);
    }
    b->ops->close(b);
    st->ops->close(st);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

/* --- The notify protocol -------------------------------------------------------------------- */

static void test_notify(void **state)
{
    (void)state;
    unsetenv("NOTIFY_SOCKET");
    assert_int_equal(recd_notify("READY=1"), 0); /* not under systemd: nothing to do */

    /* An abstract socket ("@name"), as systemd's own tests use. */
    char name[64];
    snprintf(name, sizeof name, "@recd-test-notify-%ld", (long)getpid());
    int s = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    size_t n = strlen(name);
    memcpy(sa.sun_path, name, n);
    sa.sun_path[0] = '\0';
    assert_int_equal(bind(s, (struct sockaddr *)&sa, (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n)),
                     0);
    setenv("NOTIFY_SOCKET", name, 1);
    assert_int_equal(recd_notify("READY=1\nSTATUS=up"), 0);
    char got[64];
    ssize_t r = recv(s, got, sizeof got, 0);
    assert_bytes(got, r, "READY=1\nSTATUS=up");
    close(s);

    /* A path. */
    char path[64];
    snprintf(path, sizeof path, "/tmp/recd-test-notify-%ld", (long)getpid());
    unlink(path);
    s = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sp = {.sun_family = AF_UNIX};
    snprintf(sp.sun_path, sizeof sp.sun_path, "%s", path);
    assert_int_equal(bind(s, (struct sockaddr *)&sp, sizeof sp), 0);
    setenv("NOTIFY_SOCKET", path, 1);
    assert_int_equal(recd_notify("WATCHDOG=1"), 0);
    r = recv(s, got, sizeof got, 0);
    assert_bytes(got, r, "WATCHDOG=1");
    close(s);
    unlink(path);
    assert_int_equal(recd_notify("STOPPING=1"), -1); /* nobody listens any more */
    setenv("NOTIFY_SOCKET", "relative/path", 1);
    assert_int_equal(recd_notify("READY=1"), -1);
    unsetenv("NOTIFY_SOCKET");
}

static void test_watchdog_env(void **state)
{
    (void)state;
    char pid[32];
    unsetenv("WATCHDOG_USEC");
    unsetenv("WATCHDOG_PID");
    assert_int_equal(recd_notify_watchdog_us(), 0);
    setenv("WATCHDOG_USEC", "3000000", 1);
    assert_int_equal(recd_notify_watchdog_us(), 3000000);
    snprintf(pid, sizeof pid, "%ld", (long)getpid());
    setenv("WATCHDOG_PID", pid, 1);
    assert_int_equal(recd_notify_watchdog_us(), 3000000);
    snprintf(pid, sizeof pid, "%ld", (long)getpid() + 1);
    setenv("WATCHDOG_PID", pid, 1); /* meant for another process */
    assert_int_equal(recd_notify_watchdog_us(), 0);
    unsetenv("WATCHDOG_PID");
    setenv("WATCHDOG_USEC", "soon", 1);
    assert_int_equal(recd_notify_watchdog_us(), 0);
    setenv("WATCHDOG_USEC", "-5", 1);
    assert_int_equal(recd_notify_watchdog_us(), 0);
    unsetenv("WATCHDOG_USEC");
}

int main(void)
{
    recd_metrics_init(1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cidr),
        cmocka_unit_test(test_metrics_counting),
        cmocka_unit_test(test_metrics_histogram_edges),
        cmocka_unit_test(test_meter),
        cmocka_unit_test(test_sqlite_ready_locked),
        cmocka_unit_test(test_endpoints),
        cmocka_unit_test(test_notify),
        cmocka_unit_test(test_watchdog_env),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
