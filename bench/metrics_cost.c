/*
 * What counting costs one request, measured alone (issue 17: metrics may not cost the hot paths
 * measurably). The same-run A/B (`make bench-metrics`) shows the sum on a loaded machine, where a
 * few percent drown in noise; this prints the parts in nanoseconds of this thread's CPU time:
 *
 *   build/bench/metrics_cost DIR
 *
 *  - what the HTTP layer counts per request: recd_metrics_http and the in-flight gauge up and down;
 *  - what metering adds to one store operation (a SQLite store in DIR, created): version(), the
 *    read every request makes, metered against not;
 *  - the same with metrics off (every count a no-op), the floor.
 */
#include "ops/meter.h"
#include "ops/metrics.h"
#include "store/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define ROUNDS 5

static double cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static const char route[] = "/2010-04-01/Accounts/{AccountSid}/Recordings.json";

/* The least over ROUNDS of the mean per iteration: the run least disturbed by the machine. */
static double count_requests(long n)
{
    double best = 1e18;
    for (int r = 0; r < ROUNDS; r++) {
        double t0 = cpu_ns();
        for (long i = 0; i < n; i++) {
            recd_metric_gauge_add(RECD_MET_HTTP_IN_FLIGHT, 0, 1);
            recd_metrics_http(route, 1, 200, 12345, 40 + (i & 63));
            recd_metric_gauge_add(RECD_MET_HTTP_IN_FLIGHT, 0, -1);
        }
        double per = (cpu_ns() - t0) / (double)n;
        best = per < best ? per : best;
    }
    return best;
}

/* version() calls through the plain and the metered table in alternate rounds (so that the
 * machine's moods fall on both); the least mean per call of each. */
static void version_calls(struct recd_store *st, const struct recd_store_ops *tables[2], long n,
                          double out[2])
{
    int64_t v[2];
    out[0] = out[1] = 1e18;
    for (int r = 0; r < 2 * ROUNDS; r++) {
        st->ops = tables[r & 1];
        double t0 = cpu_ns();
        for (long i = 0; i < n; i++)
            if (st->ops->version(st, v) < 0)
                exit(1);
        double per = (cpu_ns() - t0) / (double)n;
        out[r & 1] = per < out[r & 1] ? per : out[r & 1];
    }
    st->ops = tables[0];
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: metrics_cost DIR\n");
        return 2;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/recd.db", argv[1]);
    struct recd_store *st;
    if (recd_store_sqlite_open(path, &st) < 0) {
        fprintf(stderr, "metrics_cost: cannot open %s\n", path);
        return 1;
    }
    long n = 2000000, m = 100000;
    double off_req = count_requests(n);
    recd_metrics_init(1);
    double on_req = count_requests(n);
    const struct recd_store_ops *tables[2] = {st->ops, NULL};
    recd_meter_store(st, RECD_METER_SQLITE);
    tables[1] = st->ops;
    double v[2];
    version_calls(st, tables, m, v);
    printf("metrics off, one request's counts:   %6.1f ns\n", off_req);
    printf("metrics on, one request's counts:    %6.1f ns\n", on_req);
    printf("store version(), plain:              %6.1f ns\n", v[0]);
    printf("store version(), metered:            %6.1f ns (+%.1f ns)\n", v[1], v[1] - v[0]);
    st->ops->close(st);
    return 0;
}
