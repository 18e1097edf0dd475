/* Tallies (core/tally.c): counts that outlive the command that made them, added under a lock and
 * replaced whole; refusals of anything recd did not write. */
#include "unit.h"

#include "core/error.h"
#include "core/tally.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[64];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/recd-tally-XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void write_raw(const char *text)
{
    char path[128];
    snprintf(path, sizeof path, "%s/ops", dir);
    mkdir(path, 0700);
    snprintf(path, sizeof path, "%s/ops/mirror.json", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_adds_and_sets(void **state)
{
    (void)state;
    struct recd_tally_field r[] = {{"copied", 0, 0}, {"last", 0, 0}, {"absent", 0, 0}};
    /* No file yet: 0, values 0. */
    assert_int_equal(recd_tally_read(dir, "mirror", r, 3), 0);
    struct recd_tally_field a[] = {{"copied", 5, 0}, {"last", 100, 1}};
    assert_int_equal(recd_tally_add(dir, "mirror", a, 2), 0);
    struct recd_tally_field b[] = {{"copied", 7, 0}, {"last", 200, 1}};
    assert_int_equal(recd_tally_add(dir, "mirror", b, 2), 0);
    /* A field this run does not name is kept. */
    struct recd_tally_field c[] = {{"other", 1, 0}};
    assert_int_equal(recd_tally_add(dir, "mirror", c, 1), 0);
    assert_int_equal(recd_tally_read(dir, "mirror", r, 3), 1);
    assert_int_equal(r[0].value, 12);
    assert_int_equal(r[1].value, 200);
    assert_int_equal(r[2].value, 0);
    /* The folder and the file are the owner's alone. */
    char path[128];
    struct stat st;
    snprintf(path, sizeof path, "%s/ops/mirror.json", dir);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 077, 0);
}

static void test_refusals(void **state)
{
    (void)state;
    struct recd_tally_field bad_name[] = {{"Bad-Name", 1, 0}};
    assert_int_equal(recd_tally_add(dir, "mirror", bad_name, 1), RECD_E_BAD_INPUT);
    struct recd_tally_field ok[] = {{"copied", 1, 0}};
    assert_int_equal(recd_tally_add(dir, "../x", ok, 1), RECD_E_BAD_INPUT);
    assert_int_equal(recd_tally_add(dir, "", ok, 1), RECD_E_BAD_INPUT);
    struct recd_tally_field r[] = {{"copied", 9, 0}};
    const char *not_tallies[] = {"",
                                 "[]",
                                 "{\"copied\":1.5}",
                                 "{\"copied\":\"1\"}",
                                 "{\"copied\":{}}",
                                 "{\"Copied\":1}",
                                 "{\"copied\":99999999999999999999}",
                                 "{\"a\":1,}"};
    for (size_t i = 0; i < sizeof not_tallies / sizeof not_tallies[0]; i++) {
        write_raw(not_tallies[i]);
        if (recd_tally_read(dir, "mirror", r, 1) != -1)
            fail_msg("read %s", not_tallies[i]);
        assert_int_equal(r[0].value, 0);
    }
    /* Too large to be ours. */
    char big[RECD_TALLY_FILE_MAX + 64];
    memset(big, ' ', sizeof big - 1);
    big[0] = '{';
    memcpy(big + sizeof big - 4, "}\n", 3);
    write_raw(big);
    assert_int_equal(recd_tally_read(dir, "mirror", r, 1), -1);
    /* A file that is not a tally is started again by the next run. */
    write_raw("garbage");
    assert_int_equal(recd_tally_add(dir, "mirror", ok, 1), 0);
    assert_int_equal(recd_tally_read(dir, "mirror", r, 1), 1);
    assert_int_equal(r[0].value, 1);
}

static void test_saturates(void **state)
{
    (void)state;
    write_raw("{\"copied\":9223372036854775807}");
    struct recd_tally_field a[] = {{"copied", 5, 0}};
    assert_int_equal(recd_tally_add(dir, "mirror", a, 1), 0);
    struct recd_tally_field r[] = {{"copied", 0, 0}};
    assert_int_equal(recd_tally_read(dir, "mirror", r, 1), 1);
    assert_true(r[0].value == INT64_MAX);
}

static void test_full_file_makes_room(void **state)
{
    (void)state;
    char text[1024] = "{";
    for (int i = 0; i < RECD_TALLY_FIELDS_MAX; i++)
        snprintf(text + strlen(text), sizeof text - strlen(text), "%s\"f%d\":%d", i ? "," : "", i, i);
    strcat(text, "}");
    write_raw(text);
    struct recd_tally_field a[] = {{"copied", 3, 0}};
    assert_int_equal(recd_tally_add(dir, "mirror", a, 1), 0);
    struct recd_tally_field r[] = {{"copied", 0, 0}, {"f1", 0, 0}};
    assert_int_equal(recd_tally_read(dir, "mirror", r, 2), 1);
    assert_int_equal(r[0].value, 3);
    assert_int_equal(r[1].value, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_adds_and_sets, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_saturates, setup, teardown),
        cmocka_unit_test_setup_teardown(test_full_file_makes_room, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
