#ifndef RECD_OPS_HEALTH_H
#define RECD_OPS_HEALTH_H

#include "api/api.h"
#include "core/cidr.h"

#include <stdatomic.h>

/*
 * recd's operations endpoints (contract §11, docs/operations.md), outside Twilio's namespace and
 * without its envelope or auth:
 *
 *  - GET /livez: 200 while the process answers HTTP at all. It touches nothing else, so a
 *    database outage never makes a supervisor restart a node that would be fine once the
 *    database is back.
 *  - GET /readyz: 200 when the metadata store takes reads and writes and the media can be
 *    written, each asked with a short timeout; else 503. Either way a JSON body says which.
 *  - GET /metrics: the registry (metrics.h), to the addresses allowed to read it.
 */

/** How long each readiness check may take (ms): well inside a load balancer's probe timeout. */
#define RECD_READY_TIMEOUT_MS 500

struct recd_ops_endpoints {
    int metrics;                 /* serve /metrics on this listener */
    struct recd_cidr_list allow; /* who may read it here */
    const _Atomic int *stopping; /* set once shutting down: /readyz answers 503 (may be NULL) */
    int sqlite;                  /* the store is SQLite: report its busy retries */
    /* The data folder: where the tallies of recd's other commands are (core/tally.h), and, with
     * SQLite, the time of the last successful `recd backup` (its tally, service/backup.h); with
     * PostgreSQL backups are made with other tools and that time is not reported. */
    const char *data_dir;
};

/**
 * Answers rq when its path is /livez, /readyz or /metrics (and /metrics is served here) and
 * returns 1; returns 0 for any other path. `store` and `blob` are the worker's own handles, for
 * the readiness checks and the metrics read from the store.
 */
int recd_ops_endpoints_handle(const struct recd_ops_endpoints *e, struct recd_store *store,
                              struct recd_blob *blob, const struct recd_request *rq,
                              struct recd_response *rs);

#endif
