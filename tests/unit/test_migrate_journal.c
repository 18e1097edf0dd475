/* The parse of DATA/migrate.journal (service/migrate_journal.c): what migrate writes reads back
 * as it was, a line cut by a crash is left for the truncation, and anything of another shape is
 * refused (a header) or skipped (an object line), never taken. */
#include "unit.h"

#include "core/error.h"
#include "service/migrate_internal.h"

#include <stdio.h>
#include <string.h>

#define RUN    "MG0123456789abcdef0123456789abcdef"
#define FP     "2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881"
#define DIGEST "a1fce4363854ff888cff4b8e7875d600c2682390412a8cf79b37d0b11148b0fa"
#define SID    "RE0123456789abcdef0123456789abcdef"

struct got {
    char keys[8][64];
    long long sizes[8];
    int n;
};

static int add(void *ctx, const char *key, int64_t size)
{
    struct got *g = ctx;
    if (g->n == 8)
        return RECD_E_INTERNAL;
    snprintf(g->keys[g->n], sizeof g->keys[0], "%s", key);
    g->sizes[g->n++] = size;
    return 0;
}

static void test_header_round_trip(void **state)
{
    (void)state;
    /* As migrate.c's journal_create writes it. */
    const char *targets = "store=postgres://recd@db/recd media=s3://b/p?endpoint=http://s3:9000&region=r";
    char text[512];
    int n = snprintf(text, sizeof text, RECD_MIGRATE_MAGIC " %s %s %s\n" SID ".wav 44 " DIGEST "\n", RUN, FP,
                     targets);
    struct recd_migrate_journal_head h;
    size_t at = 0;
    assert_int_equal(recd_migrate_journal_head(text, (size_t)n, &h, &at), 0);
    assert_string_equal(h.run, RUN);
    assert_string_equal(h.fingerprint, FP);
    assert_string_equal(h.targets, targets);
    assert_int_equal(text[at - 1], '\n');
    assert_memory_equal(text + at, SID ".wav", 6);
}

static void test_header_refusals(void **state)
{
    (void)state;
    const char *bad[] = {
        "",
        RECD_MIGRATE_MAGIC " " RUN " " FP " store=- media=-",                      /* no newline: cut */
        "recd-migrate 2 " RUN " " FP " store=- media=-\n",                         /* another format */
        RECD_MIGRATE_MAGIC " " RUN "\n",                                           /* fields missing */
        RECD_MIGRATE_MAGIC " RE0123456789abcdef0123456789abcdef " FP " store=-\n", /* not a run id */
        RECD_MIGRATE_MAGIC " " RUN " " FP "00 store=-\n",                          /* fingerprint too long */
        RECD_MIGRATE_MAGIC " " RUN " 2D711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881 s\n",
        RECD_MIGRATE_MAGIC " " RUN " " FP " \n",         /* no targets */
        RECD_MIGRATE_MAGIC " " RUN " " FP " store=\t\n", /* a control character */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct recd_migrate_journal_head h;
        size_t at = 7;
        assert_int_equal(recd_migrate_journal_head(bad[i], strlen(bad[i]), &h, &at), RECD_E_BAD_INPUT);
        assert_int_equal(at, 7); /* untouched */
    }
    /* A NUL inside the header is not a shorter header. */
    char nul[] = RECD_MIGRATE_MAGIC " " RUN " " FP " store=x\n";
    nul[sizeof nul - 3] = '\0';
    struct recd_migrate_journal_head h;
    size_t at = 0;
    assert_int_equal(recd_migrate_journal_head(nul, sizeof nul - 1, &h, &at), RECD_E_BAD_INPUT);
}

static void test_lines(void **state)
{
    (void)state;
    const char text[] = SID ".wav 64044 " DIGEST "\n"          /* taken */
        SID ".peaks256.json 2044 " DIGEST "\n"                 /* taken */
                            "../../etc/passwd 12 " DIGEST "\n" /* not a media key */
        SID ".wav -5 " DIGEST "\n"                             /* not a size */
        SID ".wav 1234567890123456789 " DIGEST "\n"            /* 19 digits: too big */
        SID ".wav 1 " DIGEST " extra\n"                        /* a field more */
        SID ".wav 1 " DIGEST " \n"                             /* a trailing space */
        SID ".txt 1 " DIGEST "\n"                              /* not a suffix recd makes */
                            "\n"                               /* empty */
        SID ".mp3 8000 " DIGEST "\n"                           /* taken */
        SID ".mono.wav 99 abc";                                /* cut by a crash */
    struct got g = {0};
    size_t good = 0;
    assert_int_equal(recd_migrate_journal_lines(text, sizeof text - 1, add, &g, &good), 0);
    assert_int_equal(g.n, 3);
    assert_string_equal(g.keys[0], SID ".wav");
    assert_int_equal(g.sizes[0], 64044);
    assert_string_equal(g.keys[1], SID ".peaks256.json");
    assert_string_equal(g.keys[2], SID ".mp3");
    assert_int_equal(g.sizes[2], 8000);
    /* Everything up to the cut line is kept; the cut line is what the truncation removes. */
    assert_int_equal(good, strlen(text) - strlen(SID ".mono.wav 99 abc"));
}

static void test_add_failure_stops(void **state)
{
    (void)state;
    char text[2048] = "";
    for (int i = 0; i < 10; i++)
        strcat(text, SID ".wav 1 " DIGEST "\n");
    struct got g = {0};
    size_t good = 0;
    assert_int_equal(recd_migrate_journal_lines(text, strlen(text), add, &g, &good), RECD_E_INTERNAL);
    assert_int_equal(g.n, 8);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_header_round_trip),
        cmocka_unit_test(test_header_refusals),
        cmocka_unit_test(test_lines),
        cmocka_unit_test(test_add_failure_stops),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
