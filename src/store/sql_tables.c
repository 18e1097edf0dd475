#include "store/sql_tables.h"

#include "core/error.h"
#include "core/sid.h"
#include "core/utf8.h"

#include <stdio.h>
#include <string.h>

/*
 * Each table's columns, one a line, in the order of the INSERT and SELECT lists. A column is
 * named after its struct field, so the name, offset and size all come from one entry.
 */
/* The formatter would pack these lists; one column a line is what makes them readable. */
/* clang-format off */
#define ACCOUNT_COLS(X) \
    X(sid, SID, "AC") \
    X(parent_sid, SID_NULL, "AC") \
    X(friendly_name, TEXT, NULL) \
    X(token_salt, BLOB, NULL) \
    X(token_hash, BLOB, NULL) \
    X(token_sealed, BLOB, NULL) \
    X(media_auth, INT, NULL) \
    X(created_us, I64, NULL) \
    X(updated_us, I64, NULL) \
    X(transcribe, INT, NULL) \
    X(retention_days, INT, NULL)

#define KEY_COLS(X) \
    X(sid, SID, "SK") \
    X(account_sid, SID, "AC") \
    X(friendly_name, TEXT, NULL) \
    X(secret_salt, BLOB, NULL) \
    X(secret_hash, BLOB, NULL) \
    X(secret_sealed, BLOB, NULL) \
    X(created_us, I64, NULL)

#define RECORDING_COLS(X) \
    X(sid, SID, "RE") \
    X(account_sid, SID, "AC") \
    X(call_sid, SID_NULL, "CA") \
    X(conference_sid, SID_NULL, "CF") \
    X(created_us, I64, NULL) \
    X(updated_us, I64, NULL) \
    X(start_us, I64_NULL, NULL) \
    X(deleted_us, I64, NULL) \
    X(duration_ms, I64, NULL) \
    X(media_size, I64, NULL) \
    X(channels, INT, NULL) \
    X(sample_rate, INT, NULL) \
    X(error_code, INT_NULL, NULL) \
    X(status, TEXT, NULL) \
    X(source, TEXT, NULL) \
    X(media_sha256, TEXT, NULL) \
    X(transcribe, INT, NULL)

#define NUMBER_COLS(X) \
    X(sid, SID, "PN") \
    X(account_sid, SID, "AC") \
    X(phone_number, TEXT, NULL) \
    X(friendly_name, TEXT, NULL) \
    X(voice_url, TEXT, NULL) \
    X(voice_method, TEXT, NULL) \
    X(voice_fallback_url, TEXT, NULL) \
    X(voice_fallback_method, TEXT, NULL) \
    X(status_callback, TEXT, NULL) \
    X(status_callback_method, TEXT, NULL) \
    X(created_us, I64, NULL) \
    X(updated_us, I64, NULL)

#define CALL_COLS(X) \
    X(sid, SID, "CA") \
    X(account_sid, SID, "AC") \
    X(number_sid, SID_NULL, "PN") \
    X(parent_call_sid, SID_NULL, "CA") \
    X(from_addr, TEXT, NULL) \
    X(to_addr, TEXT, NULL) \
    X(caller_name, TEXT, NULL) \
    X(status, TEXT, NULL) \
    X(direction, TEXT, NULL) \
    X(answered_by, TEXT, NULL) \
    X(created_us, I64, NULL) \
    X(updated_us, I64, NULL) \
    X(start_us, I64_NULL, NULL) \
    X(end_us, I64_NULL, NULL) \
    X(duration_ms, I64, NULL) \
    X(error_code, INT_NULL, NULL)

/* The text column of a transcription is not a fixed array: it is the table's extra column. */
#define TRANSCRIPTION_COLS(X) \
    X(sid, SID, "TR") \
    X(account_sid, SID, "AC") \
    X(recording_sid, SID, "RE") \
    X(created_us, I64, NULL) \
    X(updated_us, I64, NULL) \
    X(duration_ms, I64, NULL) \
    X(status, TEXT, NULL) \
    X(type, TEXT, NULL)

#define JOB_COLS(X) \
    X(sid, SID, "TR") \
    X(account_sid, SID, "AC") \
    X(recording_sid, SID, "RE") \
    X(callback_url, TEXT, NULL) \
    X(callback_method, TEXT, NULL) \
    X(state, TEXT, NULL) \
    X(lease, TEXT, NULL) \
    X(reason, TEXT, NULL) \
    X(attempts, INT, NULL) \
    X(error_code, INT, NULL) \
    X(ready_us, I64, NULL) \
    X(created_us, I64, NULL) \
    X(updated_us, I64, NULL)

#define REQUEST_COLS(X) \
    X(sid, SID, "RE") \
    X(callback_url, TEXT, NULL) \
    X(callback_method, TEXT, NULL) \
    X(created_us, I64, NULL)
/* clang-format on */

#define COL(T, f, k, p)            {#f, RECD_COL_##k, offsetof(T, f), sizeof(((T *)0)->f), p},
#define ACCOUNT_COL(f, k, p)       COL(struct recd_account, f, k, p)
#define KEY_COL(f, k, p)           COL(struct recd_key, f, k, p)
#define RECORDING_COL(f, k, p)     COL(struct recd_recording, f, k, p)
#define TRANSCRIPTION_COL(f, k, p) COL(struct recd_transcription, f, k, p)
#define NUMBER_COL(f, k, p)        COL(struct recd_number, f, k, p)
#define CALL_COL(f, k, p)          COL(struct recd_call, f, k, p)
#define JOB_COL(f, k, p)           COL(struct recd_transcription_job, f, k, p)
#define REQUEST_COL(f, k, p)       COL(struct recd_transcribe_request, f, k, p)
#define NCOLS(a)                   (sizeof(a) / sizeof((a)[0]))

static const struct recd_col account_cols[] = {ACCOUNT_COLS(ACCOUNT_COL)};
static const struct recd_col key_cols[] = {KEY_COLS(KEY_COL)};
static const struct recd_col recording_cols[] = {RECORDING_COLS(RECORDING_COL)};
static const struct recd_col transcription_cols[] = {TRANSCRIPTION_COLS(TRANSCRIPTION_COL)};
static const struct recd_col number_cols[] = {NUMBER_COLS(NUMBER_COL)};
static const struct recd_col call_cols[] = {CALL_COLS(CALL_COL)};
static const struct recd_col job_cols[] = {JOB_COLS(JOB_COL)};
static const struct recd_col request_cols[] = {REQUEST_COLS(REQUEST_COL)};

const struct recd_sql_table recd_sql_accounts = {"accounts", account_cols, NCOLS(account_cols), NULL};
const struct recd_sql_table recd_sql_api_keys = {"api_keys", key_cols, NCOLS(key_cols), NULL};
const struct recd_sql_table recd_sql_recordings = {"recordings", recording_cols, NCOLS(recording_cols), NULL};
const struct recd_sql_table recd_sql_transcriptions = {"transcriptions", transcription_cols,
                                                       NCOLS(transcription_cols), "text"};
const struct recd_sql_table recd_sql_numbers = {"numbers", number_cols, NCOLS(number_cols), NULL};
const struct recd_sql_table recd_sql_calls = {"calls", call_cols, NCOLS(call_cols), NULL};
const struct recd_sql_table recd_sql_jobs = {"transcription_jobs", job_cols, NCOLS(job_cols), NULL};
const struct recd_sql_table recd_sql_transcribe_requests = {"transcribe_requests", request_cols,
                                                            NCOLS(request_cols), NULL};

void recd_sqlbuf_init(struct recd_sqlbuf *b, char *buf, size_t cap)
{
    b->p = buf;
    b->len = 0;
    b->cap = cap;
    b->over = cap == 0;
    if (cap)
        buf[0] = '\0';
}

void recd_sqlbuf_put(struct recd_sqlbuf *b, const char *s)
{
    size_t n = strlen(s);
    if (b->over || b->len + n >= b->cap) {
        b->over = 1;
        return;
    }
    memcpy(b->p + b->len, s, n + 1);
    b->len += n;
}

void recd_sqlbuf_param(struct recd_sqlbuf *b, enum recd_sql_dialect d, int n)
{
    char p[16];
    snprintf(p, sizeof p, "%c%d", d == RECD_SQL_POSTGRES ? '$' : '?', n);
    recd_sqlbuf_put(b, p);
}

void recd_sqlbuf_put_sql(struct recd_sqlbuf *b, enum recd_sql_dialect d, const char *sql)
{
    char one[2] = {0, 0};
    for (const char *p = sql; *p; p++) {
        if (*p == '?' && d == RECD_SQL_POSTGRES) {
            recd_sqlbuf_put(b, "$");
            continue;
        }
        one[0] = *p;
        recd_sqlbuf_put(b, one);
    }
}

/* Appends the column names of `t`, comma-separated, the extra column last. */
static void put_names(struct recd_sqlbuf *b, const struct recd_sql_table *t)
{
    for (size_t i = 0; i < t->ncols; i++) {
        if (i)
            recd_sqlbuf_put(b, ", ");
        recd_sqlbuf_put(b, t->cols[i].name);
    }
    if (t->extra) {
        recd_sqlbuf_put(b, ", ");
        recd_sqlbuf_put(b, t->extra);
    }
}

void recd_sql_select(struct recd_sqlbuf *b, const struct recd_sql_table *t)
{
    recd_sqlbuf_put(b, "SELECT ");
    put_names(b, t);
    recd_sqlbuf_put(b, " FROM ");
    recd_sqlbuf_put(b, t->name);
}

void recd_sql_insert(struct recd_sqlbuf *b, enum recd_sql_dialect d, const struct recd_sql_table *t)
{
    size_t n = t->ncols + (t->extra != NULL);
    recd_sqlbuf_put(b, "INSERT INTO ");
    recd_sqlbuf_put(b, t->name);
    recd_sqlbuf_put(b, " (");
    put_names(b, t);
    recd_sqlbuf_put(b, ") VALUES (");
    for (size_t i = 0; i < n; i++) {
        if (i)
            recd_sqlbuf_put(b, ", ");
        recd_sqlbuf_param(b, d, (int)i + 1);
    }
    recd_sqlbuf_put(b, ")");
}

/* Values the schema would accept but that are not what the struct promises (an unterminated
 * string, a malformed sid) are refused here, so that every backend stores the same things. */
int recd_sql_col_text(const struct recd_col *c, const void *row, const char **p, size_t *len, int *null)
{
    const char *s = (const char *)row + c->off;
    size_t n = strnlen(s, c->size);
    if (n == c->size || !recd_utf8_valid(s, n))
        return RECD_E_BAD_INPUT;
    *p = s;
    *len = n;
    *null = c->kind == RECD_COL_SID_NULL && n == 0;
    if (!*null && c->kind != RECD_COL_TEXT && !recd_sid_valid(s, n, c->prefix, 1))
        return RECD_E_BAD_INPUT;
    return 0;
}

int recd_sql_text_check(const struct recd_transcription *t)
{
    if (t->text_null)
        return 0;
    if (t->text_len > RECD_TEXT_MAX || (!t->text && t->text_len) ||
        (t->text_len && memchr(t->text, '\0', t->text_len)) || !recd_utf8_valid(t->text, t->text_len))
        return RECD_E_BAD_INPUT;
    return 0;
}

static const char *const call_statuses[] = {RECD_CALL_QUEUED,    RECD_CALL_RINGING, RECD_CALL_IN_PROGRESS,
                                            RECD_CALL_COMPLETED, RECD_CALL_BUSY,    RECD_CALL_FAILED,
                                            RECD_CALL_NO_ANSWER, RECD_CALL_CANCELED};

int recd_call_status_valid(const char *status)
{
    for (size_t i = 0; i < NCOLS(call_statuses); i++)
        if (strcmp(status, call_statuses[i]) == 0)
            return 1;
    return 0;
}

/* The first three statuses are the live ones (store.h). */
int recd_call_status_live(const char *status)
{
    for (size_t i = 0; i < 3; i++)
        if (strcmp(status, call_statuses[i]) == 0)
            return 1;
    return 0;
}

static int method_valid(const char *m)
{
    return strcmp(m, "GET") == 0 || strcmp(m, "POST") == 0;
}

int recd_sql_number_check(const struct recd_number *n)
{
    if (!n->phone_number[0] || !n->voice_url[0] || !method_valid(n->voice_method) ||
        !method_valid(n->voice_fallback_method) || !method_valid(n->status_callback_method))
        return RECD_E_BAD_INPUT;
    return 0;
}

int recd_sql_call_check(const struct recd_call *c)
{
    if (strnlen(c->status, sizeof c->status) == sizeof c->status || !recd_call_status_valid(c->status) ||
        c->duration_ms < 0)
        return RECD_E_BAD_INPUT;
    return 0;
}

/* The values a finished recording may hold: one of the three end states, and for a completed one
 * the digest of its media (what fsck and the ETag rely on). */
static int finish_valid(const struct recd_recording *r)
{
    size_t n = strnlen(r->media_sha256, sizeof r->media_sha256);
    if (n == sizeof r->media_sha256 || strnlen(r->sid, sizeof r->sid) != RECD_SID_LEN || r->duration_ms < 0 ||
        r->media_size < 0)
        return 0;
    if (strcmp(r->status, RECD_REC_COMPLETED) == 0) {
        if (n != 64 || r->media_size == 0)
            return 0;
        for (size_t i = 0; i < n; i++)
            if (!((r->media_sha256[i] >= '0' && r->media_sha256[i] <= '9') ||
                  (r->media_sha256[i] >= 'a' && r->media_sha256[i] <= 'f')))
                return 0;
        return 1;
    }
    return strcmp(r->status, RECD_REC_ABSENT) == 0 || strcmp(r->status, RECD_REC_FAILED) == 0;
}

int recd_sql_finish_check(const struct recd_recording *r)
{
    return finish_valid(r) ? 0 : RECD_E_BAD_INPUT;
}
