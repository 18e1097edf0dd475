/* The mirror's page reader and credentials file (service/mirror_page.c). */
#include "unit.h"

#include "core/error.h"
#include "core/time.h"
#include "service/mirror.h"

#include <sys/stat.h>
#include <unistd.h>

#define AC   "AC0123456789abcdef0123456789abcdef"
#define LIST "/2010-04-01/Accounts/" AC "/Recordings.json"
#define RE1  "RE0123456789abcdef0123456789abcdef"

static int read_page(const char *doc, enum recd_mirror_kind kind, struct recd_mirror_page *pg)
{
    char why[128];
    return recd_mirror_page_read(doc, strlen(doc), kind, LIST, pg, why, sizeof why);
}

static void test_recordings_page(void **state)
{
    (void)state;
    struct recd_mirror_page pg;
    recd_mirror_page_init(&pg);
    const char *doc =
        "{\"next_page_uri\": \"" LIST "?PageSize=2&Page=1&PageToken=PAREabc\", \"recordings\": ["
        "{\"sid\": \"" RE1 "\", \"account_sid\": \"" AC
        "\", \"call_sid\": \"CA0123456789abcdef0123456789abcdef\","
        " \"conference_sid\": null, \"date_created\": \"Fri, 17 Jul 2009 01:52:49 +0000\","
        " \"date_updated\": \"Fri, 17 Jul 2009 01:52:50 +0000\", \"start_time\": null, \"duration\": \"15\","
        " \"channels\": 2, \"status\": \"completed\", \"source\": \"DialVerb\"},"
        "{\"sid\": \"RE0123456789ABCDEF0123456789abcdef\", \"account_sid\": \"" AC "\"},"
        "{\"sid\": \"" RE1 "\", \"account_sid\": \"" AC "\", \"date_created\": \"2009-07-17T01:52:49Z\","
        " \"duration\": \"-1\", \"status\": \"in-progress\", \"channels\": 3}]}";
    assert_int_equal(read_page(doc, RECD_MIRROR_RECORDINGS, &pg), 0);
    assert_string_equal(pg.next, LIST "?PageSize=2&Page=1&PageToken=PAREabc");
    assert_int_equal(pg.count, 3);
    const struct recd_mirror_rec *r = &pg.recs[0];
    assert_string_equal(r->bad, "");
    assert_string_equal(r->sid, RE1);
    assert_string_equal(r->call_sid, "CA0123456789abcdef0123456789abcdef");
    assert_string_equal(r->conference_sid, "");
    assert_true(r->created_us == INT64_C(1247795569) * RECD_US_PER_SEC);
    assert_true(r->updated_us == INT64_C(1247795570) * RECD_US_PER_SEC);
    assert_true(r->start_us == 0);
    assert_int_equal(r->duration_s, 15);
    assert_int_equal(r->channels, 2);
    assert_string_equal(r->status, "completed");
    assert_string_equal(r->source, "DialVerb");
    /* An uppercase sid is not Twilio's; a bad item spoils only itself. */
    assert_string_equal(pg.recs[1].bad, "no valid sid");
    assert_string_equal(pg.recs[2].bad, "channels is not 1 or 2");
    recd_mirror_page_free(&pg);
}

static void test_next_refused(void **state)
{
    (void)state;
    struct recd_mirror_page pg;
    recd_mirror_page_init(&pg);
    /* Credentials go only to the list they were given for: never another host or path. */
    const char *bad[] = {
        "{\"recordings\": [], \"next_page_uri\": \"https://evil.example" LIST "?Page=1\"}",
        "{\"recordings\": [], \"next_page_uri\": \"//evil.example" LIST "\"}",
        "{\"recordings\": [], \"next_page_uri\": \"/2010-04-01/Accounts/" AC "/Calls.json?Page=1\"}",
        "{\"recordings\": [], \"next_page_uri\": \"" LIST "/../../x\"}",
        "{\"recordings\": [], \"next_page_uri\": \"" LIST "?a b\"}",
        "{\"recordings\": [], \"next_page_uri\": 5}",
        "{\"next_page_uri\": null}",
        "{\"recordings\": {}, \"next_page_uri\": null}",
        "[]",
        "<html>",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (read_page(bad[i], RECD_MIRROR_RECORDINGS, &pg) != -1)
            fail_msg("accepted %s", bad[i]);
    assert_int_equal(read_page("{\"recordings\": [], \"next_page_uri\": null}", RECD_MIRROR_RECORDINGS, &pg),
                     0);
    assert_string_equal(pg.next, "");
    recd_mirror_page_free(&pg);
}

static void test_transcriptions_page(void **state)
{
    (void)state;
    struct recd_mirror_page pg;
    recd_mirror_page_init(&pg);
    const char *doc =
        "{\"transcriptions\": ["
        "{\"sid\": \"TR0123456789abcdef0123456789abcdef\", \"account_sid\": \"" AC
        "\", \"recording_sid\": \"" RE1 "\", \"date_created\": \"Fri, 17 Jul 2009 01:52:49 +0000\","
        " \"duration\": \"3\", \"status\": \"completed\", \"type\": \"fast\","
        " \"transcription_text\": \"caf\\u00e9\"},"
        "{\"sid\": \"TR0123456789abcdef0123456789abcdee\", \"account_sid\": \"" AC
        "\", \"recording_sid\": \"" RE1 "\", \"date_created\": \"Fri, 17 Jul 2009 01:52:49 +0000\","
        " \"status\": \"failed\", \"transcription_text\": null}], \"next_page_uri\": null}";
    assert_int_equal(read_page(doc, RECD_MIRROR_TRANSCRIPTIONS, &pg), 0);
    assert_int_equal(pg.count, 2);
    const struct recd_transcription *t = &pg.trs[0].t;
    assert_string_equal(pg.trs[0].bad, "");
    assert_string_equal(t->text, "caf\xc3\xa9");
    assert_int_equal(t->text_len, 5);
    assert_int_equal(t->duration_ms, 3000);
    assert_true(t->updated_us == t->created_us);
    t = &pg.trs[1].t;
    assert_null(t->text);
    assert_int_equal(t->text_null, 1);
    assert_string_equal(t->type, "fast");
    recd_mirror_page_free(&pg);
}

static void test_credentials(void **state)
{
    (void)state;
    char dir[] = "/tmp/recd-test-mirror-XXXXXX", path[64], user[64], pass[64], why[256];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/cred", dir);
    FILE *f = fopen(path, "w");
    fputs("# mine\n\nusername=" AC "\r\npassword=0123456789abcdef0123456789abcdef\n", f);
    fclose(f);
    chmod(path, 0600);
    assert_int_equal(
        recd_mirror_credentials_read(path, user, sizeof user, pass, sizeof pass, why, sizeof why), 0);
    assert_string_equal(user, AC);
    assert_string_equal(pass, "0123456789abcdef0123456789abcdef");
    chmod(path, 0640);
    assert_int_equal(
        recd_mirror_credentials_read(path, user, sizeof user, pass, sizeof pass, why, sizeof why),
        RECD_E_BAD_INPUT);
    assert_non_null(strstr(why, "chmod 600"));
    assert_string_equal(pass, "");
    f = fopen(path, "w");
    fputs("username=SK0123456789abcdef0123456789abcdef\n", f);
    fclose(f);
    chmod(path, 0600);
    assert_int_equal(
        recd_mirror_credentials_read(path, user, sizeof user, pass, sizeof pass, why, sizeof why),
        RECD_E_BAD_INPUT);
    assert_non_null(strstr(why, "password= is missing"));
    char link[80];
    snprintf(link, sizeof link, "%s/link", dir);
    assert_int_equal(symlink(path, link), 0);
    assert_int_equal(
        recd_mirror_credentials_read(link, user, sizeof user, pass, sizeof pass, why, sizeof why),
        RECD_E_BAD_INPUT);
    unlink(link);
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_recordings_page), cmocka_unit_test(test_next_refused),
        cmocka_unit_test(test_transcriptions_page), cmocka_unit_test(test_credentials)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
