#include "service/retention.h"

#include "core/error.h"
#include "core/log.h"

#include <string.h>

int recd_expiry_batch(struct recd_ctx *ctx, const struct recd_expiry_query *q, int batch, int64_t *n,
                      int *more, recd_deleted_cb cb, void *arg)
{
    struct recd_store *st = ctx->store;
    char sids[RECD_RETENTION_BATCH][RECD_SID_LEN + 1];
    int found = 0;
    *n = 0;
    *more = 0;
    if (batch < 1 || batch > RECD_RETENTION_BATCH)
        return RECD_E_BAD_INPUT;
    int rc = st->ops->recording_expired(st, q, sids, batch, &found);
    for (int i = 0; rc == 0 && i < found; i++) {
        struct recd_recording r;
        /* The row as it was, for the caller's record (the audit names the account); a
         * recording that went since the batch was read is someone else's delete. */
        rc = st->ops->recording_get(st, sids[i], &r);
        if (rc == 0 && (r.deleted_us || recd_recording_in_progress(&r)))
            rc = RECD_E_NOT_FOUND;
        if (rc == 0)
            rc = recd_recording_delete(st, ctx->blob, sids[i]);
        if (rc == RECD_E_NOT_FOUND) {
            rc = 0;
            continue;
        }
        if (rc < 0)
            break;
        (*n)++;
        if (cb)
            cb(arg, &r);
    }
    if (rc < 0)
        recd_log_error("retention: a delete failed (%s); the next pass takes it up", recd_err_name(rc));
    /* Rows skipped above still count as found: when the batch was full there may be more. */
    *more = found == batch;
    return rc;
}

int recd_expiry_run(struct recd_ctx *ctx, const struct recd_expiry_query *q, int64_t *n, recd_deleted_cb cb,
                    void *arg)
{
    *n = 0;
    for (;;) {
        int64_t k = 0;
        int more = 0;
        int rc = recd_expiry_batch(ctx, q, RECD_RETENTION_BATCH, &k, &more, cb, arg);
        *n += k;
        if (rc < 0 || !more)
            return rc;
    }
}
