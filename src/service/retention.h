#ifndef RECD_SERVICE_RETENTION_H
#define RECD_SERVICE_RETENTION_H

#include "service/service.h"

#include <stdint.h>

/*
 * Retention and bulk delete (contract §11, docs/operations.md "Retention"): recordings past their
 * account's retention_days, or those a `recd delete` filter names, deleted exactly as DELETE does
 * (recd_recording_delete: the row becomes "deleted" with its transcriptions gone, then the media
 * and every derived file go; the row itself is purged 40 days later). In batches, each recording
 * its own transaction, so that a server's requests wait for at most one delete at a time and a
 * pass cut short (a restart) is taken up again by the next one.
 */

/** The most recordings one batch reads and deletes. */
#define RECD_RETENTION_BATCH 100

/** Called after each recording a batch deleted (its row as it was just before). */
typedef void (*recd_deleted_cb)(void *arg, const struct recd_recording *r);

/**
 * Deletes up to `batch` (1…RECD_RETENTION_BATCH) recordings that `q` matches; *n gets how many
 * went, *more 1 when the batch was full (more may match), else 0. A recording deleted meanwhile
 * by someone else is skipped, not counted. `cb` (may be NULL) is called for each deleted. 0 or
 * RECD_E_*: a failure stops the batch; what went before it stays deleted.
 */
int recd_expiry_batch(struct recd_ctx *ctx, const struct recd_expiry_query *q, int batch, int64_t *n,
                      int *more, recd_deleted_cb cb, void *arg);

/** Deletes everything `q` matches, batch after batch; *n gets the total. Otherwise as above. */
int recd_expiry_run(struct recd_ctx *ctx, const struct recd_expiry_query *q, int64_t *n, recd_deleted_cb cb,
                    void *arg);

#endif
