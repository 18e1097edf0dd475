#include "ops/health.h"

#include "core/error.h"
#include "core/log.h"
#include "core/tally.h"
#include "ops/metrics.h"

#include <string.h>

#define CT_JSON "application/json"
#define ALLOW   "GET, HEAD"

/* Readiness moves are logged once each way, not at every probe. */
static _Atomic int was_unready;

/* What a check came to, for the body: coarse words, never a path or an errno text. */
static const char *reason_of(int rc, int media)
{
    if (rc == 0)
        return "ok";
    if (rc == RECD_E_NO_SPACE)
        return "no space";
    if (rc == RECD_E_UNAVAILABLE)
        return "unavailable"; /* locked, unreachable, refusing our credentials, read-only standby */
    return media ? "not writable" : "failing";
}

static void readyz(const struct recd_ops_endpoints *e, struct recd_store *st, struct recd_blob *b,
                   struct recd_response *rs)
{
    int stopping = e->stopping && atomic_load(e->stopping);
    int64_t v[2];
    int src = !st              ? RECD_E_UNAVAILABLE
              : st->ops->ready ? st->ops->ready(st, RECD_READY_TIMEOUT_MS)
                               : st->ops->version(st, v);
    int mrc = !b ? RECD_E_UNAVAILABLE : b->ops->ready ? b->ops->ready(b) : 0;
    int ok = !stopping && src == 0 && mrc == 0;
    rs->status = ok ? 200 : 503;
    rs->content_type = CT_JSON;
    recd_buf_printf(&rs->body, "{\"status\":\"%s\",\"checks\":{\"store\":\"%s\",\"media\":\"%s\"}}\n",
                    ok         ? "ready"
                    : stopping ? "stopping"
                               : "not ready",
                    reason_of(src, 0), reason_of(mrc, 1));
    if (atomic_exchange(&was_unready, !ok) != !ok) {
        if (ok)
            recd_log_info("ready again");
        else if (!stopping)
            recd_log_warn("not ready: store %s, media %s", reason_of(src, 0), reason_of(mrc, 1));
    }
}

static void metrics(const struct recd_ops_endpoints *e, struct recd_store *st, struct recd_response *rs)
{
    struct recd_metrics_extra x = {.jobs_queued = -1, .jobs_running = -1, .backup_last_s = -1};
    if (st && st->ops->job_count && st->ops->job_count(st, &x.jobs_queued, &x.jobs_running) < 0)
        x.jobs_queued = x.jobs_running = -1;
    x.have_sqlite = e->sqlite;
    if (e->data_dir) {
#define MIRROR_FIELD(n) {#n, 0, 0},
        struct recd_tally_field f[] = {RECD_METRICS_MIRROR_FIELDS(MIRROR_FIELD)};
#undef MIRROR_FIELD
        _Static_assert(sizeof f / sizeof f[0] == sizeof x.mirror / sizeof x.mirror[0], "mirror fields");
        x.have_mirror = recd_tally_read(e->data_dir, "mirror", f, sizeof f / sizeof f[0]) == 1;
        for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
            x.mirror[i] = f[i].value;
    }
    x.sqlite_busy_retries = recd_store_sqlite_busy_retries();
    if (e->data_dir && e->sqlite) {
        /* `recd backup` sets the time in its tally when it finishes (service/backup.h). */
        struct recd_tally_field f[] = {{"last_success", 0, 0}};
        x.backup_last_s = recd_tally_read(e->data_dir, "backup", f, 1) == 1 ? f[0].value : 0;
    }
    rs->status = 200;
    rs->content_type = RECD_METRICS_CONTENT_TYPE;
    recd_metrics_render(&rs->body, &x);
}

int recd_ops_endpoints_handle(const struct recd_ops_endpoints *e, struct recd_store *store,
                              struct recd_blob *blob, const struct recd_request *rq, struct recd_response *rs)
{
    const char *p = rq->target.p;
    size_t n = rq->target.n;
    const char *q = memchr(p, '?', n);
    if (q)
        n = (size_t)(q - p);
    /* Every API path is longer and starts "/2010-04-01/": one compare sends them on. */
    if (n > 8 || n < 6)
        return 0;
    enum { LIVEZ, READYZ, METRICS } which;
    if (n == 6 && memcmp(p, "/livez", 6) == 0)
        which = LIVEZ;
    else if (n == 7 && memcmp(p, "/readyz", 7) == 0)
        which = READYZ;
    else if (n == 8 && memcmp(p, "/metrics", 8) == 0 && e->metrics)
        which = METRICS;
    else
        return 0;
    static const char *const routes[] = {"/livez", "/readyz", "/metrics"};
    rs->route = routes[which];
    if (rq->method != RECD_M_GET && rq->method != RECD_M_HEAD) {
        rs->status = 405;
        rs->allow = ALLOW;
        rs->content_type = CT_JSON;
        recd_buf_adds(&rs->body, "{\"error\":\"method not allowed\"}\n");
        return 1;
    }
    switch (which) {
    case LIVEZ:
        rs->status = 200;
        rs->content_type = CT_JSON;
        recd_buf_adds(&rs->body, "{\"status\":\"alive\"}\n");
        break;
    case READYZ: readyz(e, store, blob, rs); break;
    case METRICS:
        if (!recd_cidr_list_match(&e->allow, rq->client, rq->client_len)) {
            rs->status = 403;
            rs->content_type = "text/plain; charset=utf-8";
            recd_buf_adds(&rs->body,
                          "/metrics is not served to this address (see recd serve --metrics-allow)\n");
            break;
        }
        metrics(e, store, rs);
        break;
    }
    return 1;
}
