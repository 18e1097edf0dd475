/* The audit record (src/service/audit.c): its line format read back, the writer's batching,
 * rotation by size and removal by age, the sync after each batch, and the reader's order and
 * filters. */
#include "unit.h"

#include "core/buf.h"
#include "core/error.h"
#include "core/time.h"
#include "service/audit.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#define ACC "AC0123456789abcdef0123456789abcdef"
#define KEY "SK0123456789abcdef0123456789abcdef"
#define REC "RE0123456789abcdef0123456789abcdef"

static void entry(struct recd_audit_entry *e, int64_t us)
{
    memset(e, 0, sizeof *e);
    e->time_us = us;
    e->event = RECD_AUDIT_MEDIA;
    e->cred = RECD_AUDIT_API_KEY;
    e->result = RECD_AUDIT_OK;
    strcpy(e->account_sid, ACC);
    strcpy(e->principal, KEY);
    strcpy(e->recording_sid, REC);
    strcpy(e->address, "2001:db8::1");
    strcpy(e->method, "GET");
    strcpy(e->path, "/2010-04-01/Accounts/" ACC "/Recordings/" REC ".mp3");
    e->status = 206;
}

static void test_line_round_trip(void **state)
{
    (void)state;
    struct recd_audit_entry e, got;
    struct recd_buf b;
    recd_buf_init(&b, 0);
    entry(&e, INT64_C(1796670776686735));
    recd_audit_format(&e, &b);
    assert_buf(&b, "{\"time\":\"2026-12-07T19:12:56.686735Z\",\"event\":\"media\",\"credential\":\"api_key\","
                   "\"auth\":\"ok\",\"account_sid\":\"" ACC "\",\"principal\":\"" KEY
                   "\",\"recording_sid\":\"" REC "\",\"address\":\"2001:db8::1\",\"method\":\"GET\","
                   "\"path\":\"/2010-04-01/Accounts/" ACC "/Recordings/" REC ".mp3\",\"status\":206}\n");
    assert_int_equal(recd_audit_parse(b.p, b.len - 1, &got), 0);
    assert_memory_equal(&got, &e, sizeof e);

    /* A client's raw bytes and quotes in a path: escaped, never a broken line. */
    recd_buf_reset(&b);
    strcpy(e.path, "/a\"b\\c\n\x01\xff");
    recd_audit_format(&e, &b);
    assert_non_null(strstr(b.p, "\"path\":\"/a\\\"b\\\\c???\""));
    assert_null(memchr(b.p, '\n', b.len - 1));
    assert_int_equal(recd_audit_parse(b.p, b.len - 1, &got), 0);
    assert_string_equal(got.path, "/a\"b\\c???");

    /* Not records: cut, wrong names, bad sids, a date without a time. */
    static const char *const bad[] = {
        "",
        "{}",
        "{\"time\":\"2026-12-07T19:12:56Z\"",
        "{\"time\":\"2026-12-07\",\"event\":\"media\",\"credential\":\"cli\",\"auth\":\"ok\",\"account_sid\":"
        "\"\","
        "\"principal\":\"\",\"recording_sid\":\"\",\"address\":\"\",\"method\":\"\",\"path\":\"\",\"status\":"
        "0}",
        "{\"time\":\"2026-12-07T19:12:56Z\",\"event\":\"none\",\"credential\":\"cli\",\"auth\":\"ok\","
        "\"account_sid\":\"\",\"principal\":\"\",\"recording_sid\":\"\",\"address\":\"\",\"method\":\"\","
        "\"path\":\"\",\"status\":0}",
        "{\"time\":\"2026-12-07T19:12:56Z\",\"event\":\"media\",\"credential\":\"cli\",\"auth\":\"ok\","
        "\"account_sid\":\"RE0123456789abcdef0123456789abcdef\",\"principal\":\"\",\"recording_sid\":\"\","
        "\"address\":\"\",\"method\":\"\",\"path\":\"\",\"status\":0}",
        "{\"time\":\"2026-12-07T19:12:56Z\",\"event\":\"media\",\"credential\":\"cli\",\"auth\":\"ok\","
        "\"account_sid\":\"\",\"principal\":\"\",\"recording_sid\":\"\",\"address\":\"\",\"method\":\"\","
        "\"path\":\"\",\"status\":1000}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(recd_audit_parse(bad[i], strlen(bad[i]), &got), -1);
    recd_buf_free(&b);
}

/* The files of DIR/audit, sorted; returns how many. */
static int files(const char *dir, char names[][64], int cap)
{
    char path[256];
    snprintf(path, sizeof path, "%s/audit", dir);
    DIR *d = opendir(path);
    assert_non_null(d);
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)))
        if (de->d_name[0] != '.' && n < cap)
            snprintf(names[n++], 64, "%.63s", de->d_name);
    closedir(d);
    qsort(names, (size_t)n, 64, (int (*)(const void *, const void *))strcmp);
    return n;
}

static void test_writer(void **state)
{
    (void)state;
    char dir[] = "/tmp/recd-audit-XXXXXX", path[256];
    assert_non_null(mkdtemp(dir));
    /* An old file of another process, removed at open; a recent one, kept. */
    snprintf(path, sizeof path, "%s/audit", dir);
    assert_int_equal(mkdir(path, 0700), 0);
    snprintf(path, sizeof path, "%s/audit/audit-20200101T000000.000000Z-7.jsonl", dir);
    int fd = open(path, O_WRONLY | O_CREAT, 0600);
    assert_true(fd >= 0);
    struct timespec old[2] = {{.tv_sec = 1577836800}, {.tv_sec = 1577836800}};
    assert_int_equal(futimens(fd, old), 0);
    close(fd);
    snprintf(path, sizeof path, "%s/audit/audit-20200101T000001.000000Z-8.jsonl", dir);
    fd = open(path, O_WRONLY | O_CREAT, 0600);
    assert_true(fd >= 0);
    close(fd);

    struct recd_audit *a;
    struct recd_audit_opts o = {.data_dir = dir, .rotate_bytes = 2000, .keep_days = 30, .flush_ms = 5};
    assert_int_equal(recd_audit_open(&o, &a), 0);
    struct recd_audit_buf *b1 = recd_audit_buf_new(a), *b2 = recd_audit_buf_new(a);
    struct recd_audit_entry e;
    int64_t t0 = recd_now_us();
    for (int i = 0; i < 20; i++) {
        entry(&e, t0 + i);
        if (i == 10)
            strcpy(e.account_sid, "AC00000000000000000000000000000000");
        recd_audit_add(i % 2 ? b2 : b1, &e);
        if (i % 5 == 4)
            usleep(20000); /* several ticks, so the file grows past the rotation size */
    }
    recd_audit_buf_free(b1); /* its last lines are still written */
    recd_audit_buf_free(b2);
    recd_audit_close(a);

    char n[16][64];
    int nf = files(dir, n, 16);
    /* The recent foreign file and at least two of ours (~370 bytes a line, 2000 a file). */
    assert_true(nf >= 3);
    assert_string_equal(n[0], "audit-20200101T000001.000000Z-8.jsonl");

    FILE *out = tmpfile();
    int64_t skipped = -1;
    assert_int_equal(recd_audit_print(dir, NULL, INT64_MIN, out, &skipped), 0);
    assert_int_equal(skipped, 0);
    long all = ftell(out);
    rewind(out);
    char line[1024];
    int lines = 0;
    while (fgets(line, sizeof line, out)) {
        struct recd_audit_entry got;
        assert_int_equal(recd_audit_parse(line, strlen(line) - 1, &got), 0);
        lines++;
    }
    assert_int_equal(lines, 20);
    assert_true(all > 0);
    fclose(out);

    /* Filters: one account, and a time. */
    out = tmpfile();
    assert_int_equal(recd_audit_print(dir, "AC00000000000000000000000000000000", INT64_MIN, out, &skipped),
                     0);
    rewind(out);
    lines = 0;
    while (fgets(line, sizeof line, out))
        lines++;
    assert_int_equal(lines, 1);
    fclose(out);
    out = tmpfile();
    assert_int_equal(recd_audit_print(dir, NULL, t0 + 15, out, &skipped), 0);
    rewind(out);
    lines = 0;
    while (fgets(line, sizeof line, out))
        lines++;
    assert_int_equal(lines, 5);
    fclose(out);

    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

/* Waits (polling, no timing asserted) until the writer has written `n` lines. */
static void wait_written(struct recd_audit *a, uint64_t n)
{
    uint64_t written = 0, dropped = 0;
    for (int i = 0; i < 3000 && written < n; i++) {
        recd_audit_counts(a, &written, &dropped);
        if (written < n)
            usleep(10000);
    }
    assert_true(written >= n);
    assert_int_equal(dropped, 0);
}

/* The sync policy: a batch written is fdatasynced by default, an idle tick syncs nothing, and
 * no_sync (--audit-sync off) never syncs. */
static void test_sync(void **state)
{
    (void)state;
    char dir[] = "/tmp/recd-audit-XXXXXX";
    assert_non_null(mkdtemp(dir));
    struct recd_audit_entry e;
    for (int no_sync = 0; no_sync <= 1; no_sync++) {
        struct recd_audit *a;
        struct recd_audit_opts o = {.data_dir = dir, .flush_ms = 5, .no_sync = no_sync};
        assert_int_equal(recd_audit_open(&o, &a), 0);
        struct recd_audit_buf *b = recd_audit_buf_new(a);
        assert_int_equal(recd_audit_syncs(a), 0);
        entry(&e, recd_now_us());
        recd_audit_add(b, &e);
        wait_written(a, 1);
        uint64_t after_one = recd_audit_syncs(a);
        assert_int_equal(after_one, no_sync ? 0 : 1);
        usleep(50000); /* ~10 idle ticks */
        assert_int_equal(recd_audit_syncs(a), after_one);
        recd_audit_add(b, &e);
        recd_audit_add(b, &e);
        wait_written(a, 3);
        /* Two records in one or two batches: a sync for each batch written. */
        uint64_t s = recd_audit_syncs(a);
        assert_true(no_sync ? s == 0 : s >= 2 && s <= 3);
        recd_audit_buf_free(b);
        recd_audit_close(a);
    }
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_line_round_trip),
        cmocka_unit_test(test_writer),
        cmocka_unit_test(test_sync),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
