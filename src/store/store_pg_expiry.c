#include "store/store_pg_internal.h"

#include "core/error.h"
#include "core/log.h"
#include "core/sid.h"

#include <stdlib.h>
#include <string.h>

/*
 * Retention and bulk delete (contract §11), as in store_sqlite_expiry.c: an account's retention,
 * and the batches of recordings a retention pass or `recd delete` removes.
 */

int recd_pg_op_account_set_retention(struct recd_store *st, const char *sid, int days, int64_t now_us)
{
    struct pg_params p;
    PGresult *res = NULL;
    if (!sid || days < 0 || days > RECD_RETENTION_DAYS_MAX)
        return RECD_E_BAD_INPUT;
    recd_pg_params_init(&p);
    recd_pg_param_text(&p, 1, sid, strlen(sid));
    recd_pg_param_i64(&p, 2, days);
    recd_pg_param_i64(&p, 3, now_us);
    int rc = recd_pg_write(PG(st), P_ACCOUNT_SET_RETENTION, &p, &res);
    if (rc == 0 && strtol(PQcmdTuples(res), NULL, 10) == 0)
        rc = RECD_E_NOT_FOUND;
    PQclear(res);
    return rc;
}

/* Runs the statement the query uses (RETENTION_* or DELETE_MATCH*); a count has no limit. */
static int run_query(struct pg_store *s, const struct recd_expiry_query *q, int limit, int count,
                     PGresult **res)
{
    struct pg_params p;
    recd_pg_params_init(&p);
    enum recd_pg_stmt id;
    if (!q->account_sid) {
        id = count ? P_RETENTION_DUE_COUNT : P_RETENTION_DUE;
        recd_pg_param_i64(&p, 1, q->now_us);
        if (!count)
            recd_pg_param_i64(&p, 2, limit);
    } else {
        id = count ? P_DELETE_MATCH_COUNT : P_DELETE_MATCH;
        const char *call = q->call_sid ? q->call_sid : "";
        recd_pg_param_text(&p, 1, q->account_sid, strlen(q->account_sid));
        recd_pg_param_text(&p, 2, call, strlen(call));
        recd_pg_param_i64(&p, 3, q->before_us);
        if (!count)
            recd_pg_param_i64(&p, 4, limit);
    }
    return recd_pg_exec(s, id, &p, res);
}

int recd_pg_op_recording_expired(struct recd_store *st, const struct recd_expiry_query *q,
                                 char (*sids)[RECD_SID_LEN + 1], int cap, int *n)
{
    PGresult *res = NULL;
    *n = 0;
    if (!q || cap < 1 || cap > RECD_LIST_LIMIT_MAX)
        return RECD_E_BAD_INPUT;
    int rc = run_query(PG(st), q, cap, 0, &res);
    for (int i = 0; rc == 0 && i < PQntuples(res) && *n < cap; i++) {
        const char *sid = PQgetvalue(res, i, 0);
        if (PQgetlength(res, i, 0) != RECD_SID_LEN || !recd_sid_valid(sid, RECD_SID_LEN, "RE", 1)) {
            recd_log_error("store: expired recordings: a result recd cannot have asked for");
            rc = RECD_E_IO;
            break;
        }
        memcpy(sids[*n], sid, RECD_SID_LEN);
        sids[(*n)++][RECD_SID_LEN] = '\0';
    }
    PQclear(res);
    if (rc < 0)
        *n = 0;
    return rc;
}

int recd_pg_op_recording_expired_count(struct recd_store *st, const struct recd_expiry_query *q, int64_t *n)
{
    PGresult *res = NULL;
    *n = 0;
    if (!q)
        return RECD_E_BAD_INPUT;
    int rc = run_query(PG(st), q, 0, 1, &res);
    if (rc == 0) {
        int64_t c = recd_pg_read_count(res, 0, 0);
        if (c < 0) {
            recd_log_error("store: expired recordings: a count recd cannot have asked for");
            rc = RECD_E_IO;
        } else {
            *n = c;
        }
    }
    PQclear(res);
    return rc;
}
