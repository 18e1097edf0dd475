#include "store/sql_list.h"
#include "store/sql_tables.h"

#include "core/error.h"

#include "unit.h"

/* The backend-neutral SQL: exact text in both dialects, so a PostgreSQL backend gets what
 * SQLite runs with only the parameter spelling changed. */

static void test_insert_select(void **state)
{
    (void)state;
    char sql[1024];
    struct recd_sqlbuf b;
    recd_sqlbuf_init(&b, sql, sizeof sql);
    recd_sql_insert(&b, RECD_SQL_POSTGRES, &recd_sql_api_keys);
    assert_false(b.over);
    assert_string_equal(sql,
                        "INSERT INTO api_keys (sid, account_sid, friendly_name, secret_salt, secret_hash,"
                        " secret_sealed, created_us) VALUES ($1, $2, $3, $4, $5, $6, $7)");
    recd_sqlbuf_init(&b, sql, sizeof sql);
    recd_sql_insert(&b, RECD_SQL_SQLITE, &recd_sql_transcriptions);
    assert_string_equal(sql,
                        "INSERT INTO transcriptions (sid, account_sid, recording_sid, created_us, updated_us,"
                        " duration_ms, status, type, text) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)");
    recd_sqlbuf_init(&b, sql, sizeof sql);
    recd_sql_select(&b, &recd_sql_accounts);
    assert_string_equal(sql, "SELECT sid, parent_sid, friendly_name, token_salt, token_hash, token_sealed,"
                             " media_auth, created_us, updated_us, transcribe, retention_days FROM accounts");
    /* A buffer too small says so and stays terminated. */
    recd_sqlbuf_init(&b, sql, 10);
    recd_sql_select(&b, &recd_sql_accounts);
    assert_true(b.over);
    assert_true(strlen(sql) < 10);
}

static void test_list_text(void **state)
{
    (void)state;
    char sql[1024];
    unsigned after = (unsigned)RECD_ANCHOR_AFTER << RECD_SQL_LIST_DIR_SHIFT;
    int n = recd_sql_list_text(RECD_SQL_POSTGRES, RECD_SQL_LIST_RECORDINGS, RECD_SQL_LF_CALL | after, sql,
                               sizeof sql);
    assert_int_equal(n, (int)strlen(sql));
    assert_string_equal(strstr(sql, " FROM"),
                        " FROM recordings WHERE account_sid = $1 AND call_sid = $2 AND deleted_us = 0"
                        " AND (created_us, sid) < ($7, $8) ORDER BY created_us DESC, sid DESC LIMIT $9");
    n = recd_sql_list_text(RECD_SQL_SQLITE, RECD_SQL_LIST_TRANSCRIPTIONS, RECD_SQL_LF_GE, sql, sizeof sql);
    assert_true(n > 0);
    assert_string_equal(strstr(sql, " FROM"),
                        " FROM transcriptions WHERE account_sid = ?1 AND created_us >= ?5"
                        " ORDER BY created_us DESC, sid DESC LIMIT ?9 OFFSET ?10");
    n = recd_sql_count_text(RECD_SQL_POSTGRES, RECD_SQL_LIST_RECORDINGS, RECD_SQL_LF_DELETED | RECD_SQL_LF_LT,
                            sql, sizeof sql);
    assert_true(n > 0);
    assert_string_equal(sql, "SELECT count(*) FROM recordings WHERE account_sid = $1 AND created_us < $6");
    /* Combinations that do not exist, and a buffer too small. */
    assert_int_equal(
        recd_sql_list_text(RECD_SQL_SQLITE, RECD_SQL_LIST_TRANSCRIPTIONS, RECD_SQL_LF_CALL, sql, sizeof sql),
        RECD_E_BAD_INPUT);
    assert_int_equal(recd_sql_list_text(RECD_SQL_SQLITE, RECD_SQL_LIST_RECORDINGS, RECD_SQL_LF_LT | after,
                                        sql, sizeof sql),
                     RECD_E_BAD_INPUT);
    assert_int_equal(recd_sql_count_text(RECD_SQL_SQLITE, RECD_SQL_LIST_RECORDINGS, after, sql, sizeof sql),
                     RECD_E_BAD_INPUT);
    assert_int_equal(recd_sql_list_text(RECD_SQL_SQLITE, RECD_SQL_LIST_RECORDINGS, 0, sql, 20),
                     RECD_E_INTERNAL);
}

static void test_col_checks(void **state)
{
    (void)state;
    struct recd_recording r;
    const char *p;
    size_t len;
    int null;
    memset(&r, 0, sizeof r);
    const struct recd_col *sid = &recd_sql_recordings.cols[0], *call = &recd_sql_recordings.cols[2];
    assert_string_equal(call->name, "call_sid");
    /* An empty nullable sid is NULL; an empty required one, or a wrong prefix, is refused. */
    assert_int_equal(recd_sql_col_text(call, &r, &p, &len, &null), 0);
    assert_int_equal(null, 1);
    assert_int_equal(recd_sql_col_text(sid, &r, &p, &len, &null), RECD_E_BAD_INPUT);
    memcpy(r.sid, "CA0123456789abcdef0123456789abcdef", RECD_SID_LEN + 1);
    assert_int_equal(recd_sql_col_text(sid, &r, &p, &len, &null), RECD_E_BAD_INPUT);
    memcpy(r.sid, "RE0123456789abcdef0123456789abcdef", RECD_SID_LEN + 1);
    assert_int_equal(recd_sql_col_text(sid, &r, &p, &len, &null), 0);
    assert_int_equal(null, 0);
    assert_int_equal(len, RECD_SID_LEN);
    /* Text must be terminated inside its array and strictly UTF-8. */
    const struct recd_col *status = NULL;
    for (size_t i = 0; i < recd_sql_recordings.ncols; i++)
        if (strcmp(recd_sql_recordings.cols[i].name, "status") == 0)
            status = &recd_sql_recordings.cols[i];
    assert_non_null(status);
    memset(r.status, 'x', sizeof r.status);
    assert_int_equal(recd_sql_col_text(status, &r, &p, &len, &null), RECD_E_BAD_INPUT);
    memcpy(r.status, "\xed\xa0\x80", 4);
    assert_int_equal(recd_sql_col_text(status, &r, &p, &len, &null), RECD_E_BAD_INPUT);

    struct recd_transcription t;
    memset(&t, 0, sizeof t);
    t.text = "a\0b";
    t.text_len = 3;
    assert_int_equal(recd_sql_text_check(&t), RECD_E_BAD_INPUT);
    t.text_len = 1;
    assert_int_equal(recd_sql_text_check(&t), 0);
    t.text_null = 1;
    t.text = NULL;
    t.text_len = 0;
    assert_int_equal(recd_sql_text_check(&t), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_insert_select),
        cmocka_unit_test(test_list_text),
        cmocka_unit_test(test_col_checks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
