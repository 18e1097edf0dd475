#!/usr/bin/python3
"""Two builds of recd on one PostgreSQL store and one S3 bucket, alternately: a same-run A/B of a
change to the postgres+s3 media path (bench/scale.py's data set, backends and migration).

    /usr/bin/python3 bench/scale_ab.py --base-bin OLD --new-bin NEW [--n N] [--rounds R]
                                       [--seconds S] [--path mp3|wav] [--range bytes=A-B]

Both builds serve the migrated copy at once (`--threads 2` each, the same store and bucket), and
wrk (-t1 -c8: s3rver, not recd, bounds the rate) runs against one, then the other; the order
alternates (ABBA…) so that an order effect falls on both. The first ranged request of the .mp3
makes it (on each node); one warm-up run per node precedes the rounds. Per round: req/s and recd's
CPU per request (utime + stime of the server from /proc, read 0.5 s after wrk ends), new/base of
both; then the median ratio and its range. Nothing is asserted.
"""

import argparse
import os
import shutil
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import scale  # noqa: E402
from common import cpu_seconds, loadavg  # noqa: E402

SETTLE = 0.5


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--base-bin", required=True)
    ap.add_argument("--new-bin", required=True)
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--rounds", type=int, default=8)
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--path", choices=("mp3", "wav"), default="mp3")
    ap.add_argument("--range", default="bytes=0-16383")
    a = ap.parse_args()
    b = scale.Bench(argparse.Namespace(recd=a.base_bin, n=a.n, quick=False, seconds=a.seconds, files=0))
    if os.path.exists(b.run_dir):
        shutil.rmtree(b.run_dir)
    os.makedirs(b.run_dir)
    b.dataset()
    try:
        b.backends()
        b.migrate()
        acc = b.meta["account_sid"]
        path = "/2010-04-01/Accounts/%s/Recordings/%s.%s" % (acc, b.meta["long_sids"][0], a.path)
        nodes = {}
        for name, binary in (("base", a.base_bin), ("new", a.new_bin)):
            b.bin = binary
            nodes[name] = b.serve("ab-" + name, True)
        hdr = "Range: " + a.range
        for name, (p, port) in nodes.items():
            scale.run_wrk("http://127.0.0.1:%d%s" % (port, path), 2, b.auth, 1, 4, hdr)
        ratios, cpu_ratios, rows = [], [], []
        print("load before: %s" % loadavg(), flush=True)
        for r in range(a.rounds):
            order = ("base", "new") if r % 2 == 0 else ("new", "base")
            got = {}
            for name in order:
                p, port = nodes[name]
                c0 = cpu_seconds([p.pid])
                res = scale.run_wrk("http://127.0.0.1:%d%s" % (port, path), a.seconds, b.auth, 1, 8, hdr)
                time.sleep(SETTLE)
                cpu = cpu_seconds([p.pid]) - c0
                got[name] = (res["rps"], 1e6 * cpu / max(res["requests"], 1), res["errors"])
            ratios.append(got["new"][0] / got["base"][0])
            cpu_ratios.append(got["new"][1] / got["base"][1])
            rows.append(got)
            print("round %d (%s first): base %.0f req/s %.0f us/req, new %.0f req/s %.0f us/req, errors %d/%d, "
                  "req/s %.3f, CPU %.3f, load %s" % (r + 1, order[0], got["base"][0], got["base"][1], got["new"][0],
                                                     got["new"][1], got["base"][2], got["new"][2], ratios[-1],
                                                     cpu_ratios[-1], loadavg().split()[0]), flush=True)
        print("median new/base: req/s %.3f (%.3f-%.3f), CPU per request %.3f (%.3f-%.3f); "
              "median us/req base %.0f, new %.0f; load after: %s"
              % (statistics.median(ratios), min(ratios), max(ratios), statistics.median(cpu_ratios),
                 min(cpu_ratios), max(cpu_ratios), statistics.median(g["base"][1] for g in rows),
                 statistics.median(g["new"][1] for g in rows), loadavg()), flush=True)
    finally:
        for p in b.procs:
            p.terminate()
            p.wait()
        b.stop_backends()


if __name__ == "__main__":
    main()
