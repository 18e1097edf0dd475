#!/usr/bin/python3
"""Two builds of recd on the same data set, alternately: a same-run A/B of a change.

    make bench-ab [BASE=REV] [N=250000] [QUICK=1]
    /usr/bin/python3 bench/ab.py --base-bin OLD --new-bin NEW [--n N] [--quick] [--rounds R]
                                 [--duration S] [--cases mp3,wav] [--json FILE]
    make bench-metrics [N=…] [QUICK=1] [ROUNDS=R] [DURATION=S] [CASES=…]   (`--metrics off` against on)
    make bench-audit   [N=…] [QUICK=1] [ROUNDS=R] [DURATION=S] [CASES=…]   (`--audit off` against on)

Both servers serve one data set made by bench/bench.py (build/bench/gen), two worker threads
each, and wrk runs against them in turn, so that whatever else the machine does falls on both. The
order alternates (ABBA…): the base goes first in odd rounds, the new build in even ones, so that an
order effect (the first run of a pair warming a cache or a clock for the second) falls on both
sides alike and shows as the difference between the two kinds of round. The cases are the API's
hot paths: a cached list page, list pages the cache cannot hold (a wrk script walks 3,000 distinct
page URIs, so every request renders), a transcription-free instance .json, the cached .mp3 and the
60 s .wav (--cases picks some by name).

It prints each round (which build went first, req/s and the server's CPU per request from
/proc/PID/stat, read 0.5 s after wrk ends so that the run's last requests count in it, new/base of
both), then per case the median over rounds of the new/base ratios (robust on a shared machine:
the other load moves both runs of a round together), their range, the CPU ratio by who went first
and its order-balanced (geometric) mean, the means, p99 and errors. CPU per request is the figure to trust when other work shares the
cores; req/s moves with whatever else runs. Nothing is asserted.
"""

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402  (its wrk runs, HTTP client and figures' aggregation)
from common import BENCH_DIR, cpu_seconds, dataset, start_recd, terminate  # noqa: E402

SETTLE = 0.5  # seconds between a wrk run's end and the server's CPU time read

WALK_LUA = """
local uris = {}
for line in io.lines("%s") do uris[#uris + 1] = line end
local i = 0
request = function()
  i = i %% #uris + 1
  return wrk.format("GET", uris[i], {["Authorization"] = "%s"})
end
"""


def run_wrk_script(url, script, seconds):
    out = subprocess.run(["wrk", "-t2", "-c64", "-d%ds" % seconds, "--latency", "-s", script, url],
                         capture_output=True, text=True, timeout=seconds + 60)
    if out.returncode != 0:
        raise RuntimeError("wrk failed: %s" % out.stderr.strip())
    return bench.parse_wrk(out.stdout)


class Server:
    def __init__(self, name, binary, data, run_dir, args=()):
        self.name = name
        self.log = open(os.path.join(run_dir, name + ".log"), "wb")
        self.proc, self.port = start_recd(binary, data, self.log, args, what=name)

    def stop(self):
        terminate(self.proc, 15)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--base-bin", required=True, help="the build to compare against")
    p.add_argument("--new-bin", required=True, help="the build under test")
    p.add_argument("--base-args", default="", help="more `recd serve` options for the base (\"--metrics off\")")
    p.add_argument("--new-args", default="", help="more `recd serve` options for the new build")
    p.add_argument("--gen-bin", default="build/bench/gen", help="the data set generator (when none is cached)")
    p.add_argument("--n", type=int, default=0, help="recordings in the data set (default 250000; QUICK 2000)")
    p.add_argument("--dir", default=BENCH_DIR)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--rounds", type=int, default=0, help="A/B rounds per case (default 4; QUICK 2)")
    p.add_argument("--duration", type=int, default=0, help="seconds per wrk run (default 8; QUICK 1)")
    p.add_argument("--cases", default="", help="only the cases whose name holds one of these words (\"mp3,wav\")")
    p.add_argument("--json", default="", help="also write every run's figures to this file")
    a = p.parse_args()
    n = a.n or (2000 if a.quick else 250000)
    rounds = a.rounds or (2 if a.quick else 4)
    dur = a.duration or (1 if a.quick else 8)
    # The new build's generator makes the data set (as make bench does); both builds must be able
    # to open it, so an A/B across a schema change needs a base that migrates.
    ds, meta = dataset(os.path.abspath(a.dir), n, bench.log, a.gen_bin)
    run_dir = tempfile.mkdtemp(prefix="recd-ab-")
    auth = bench.basic(meta["account_sid"], meta["auth_token"])
    servers = []
    try:
        servers = [Server("base", a.base_bin, os.path.join(ds, "data"), run_dir, shlex.split(a.base_args)),
                   Server("new", a.new_bin, os.path.join(ds, "data"), run_dir, shlex.split(a.new_args))]
        c = bench.Client(servers[1].port, auth)
        lp = "%s/Accounts/%s/Recordings.json" % (bench.API, meta["account_sid"])
        doc = json.loads(c.get(lp))
        paths = {"list page 0 (cached)": lp,
                 "instance .json": "%s/Accounts/%s/Recordings/%s.json" % (bench.API, meta["account_sid"],
                                                                          doc["recordings"][0]["sid"]),
                 "60 s .wav": "%s/Accounts/%s/Recordings/%s.wav" % (bench.API, meta["account_sid"],
                                                                   meta["long_sids"][0]),
                 "cached .mp3": "%s/Accounts/%s/Recordings/%s.mp3" % (bench.API, meta["account_sid"],
                                                                     meta["long_sids"][0])}
        for s in servers:
            bench.Client(s.port).get(paths["cached .mp3"], auth=False)
        # Distinct pages, more than a worker's cache holds, so that every request renders.
        pages = 40 if a.quick else 3000
        bench.log("walking %d pages for the uncached case" % pages)
        uris, uri = [], lp
        while len(uris) < pages and uri:
            uris.append(uri)
            uri = json.loads(c.get(uri))["next_page_uri"]
        lst = os.path.join(run_dir, "pages.txt")
        with open(lst, "w") as f:
            f.write("\n".join(uris) + "\n")
        script = os.path.join(run_dir, "walk.lua")
        with open(script, "w") as f:
            f.write(WALK_LUA % (lst, auth))

        cases = [("list pages (uncached)", None)] + [(k, v) for k, v in paths.items()]
        if a.cases:
            want = [w.strip() for w in a.cases.split(",") if w.strip()]
            cases = [c for c in cases if any(w in c[0] for w in want)]
            if not cases:
                raise SystemExit("ab: --cases %s names no case" % a.cases)
        rows = []
        for label, path in cases:
            res = {"base": [], "new": []}
            for rnd in range(1, rounds + 1):
                # ABBA…: base first in odd rounds, new first in even ones.
                order = servers if rnd % 2 else servers[::-1]
                for s in order:
                    c0 = cpu_seconds([s.proc.pid])
                    url = "http://127.0.0.1:%d" % s.port
                    if path is None:
                        r = run_wrk_script(url + "/", script, dur)
                    else:
                        r = bench.run_wrk(url + path, dur, 64, 2, auth)
                    # The requests wrk left in flight and its connections' closing are this run's
                    # work, not the next one's: let the server finish them before reading its CPU.
                    time.sleep(SETTLE)
                    r["cpu_us"] = (cpu_seconds([s.proc.pid]) - c0) * 1e6 / max(1, r["requests"])
                    r["first"] = s is order[0]
                    res[s.name].append(r)
                    bench.log("  %-24s round %d %-4s%s %9.0f req/s  p99 %6.2f ms  cpu %6.1f us/req  errors %d" %
                              (label, rnd, s.name, " (first)" if r["first"] else "        ", r["rps"], r["p99"],
                               r["cpu_us"], r["sock_err"] + r["non2xx"]))
            rows.append((label, res))
        load = " ".join(open("/proc/loadavg").read().split()[:3])
        print("\n%d cores; load %s; %d rounds of %d s each per build, alternating: base first in odd rounds, "
              "new first in even ones; base: %s %s; new: %s %s" %
              (os.cpu_count(), load, rounds, dur, a.base_bin, a.base_args or "", a.new_bin, a.new_args or ""))
        print("\nPer round (CPU: recd's user+system time from /proc/PID/stat over the run, per request):\n")
        print("| case | round | first | base req/s | new req/s | new/base req/s | base CPU us/req | "
              "new CPU us/req | new/base CPU |")
        print("|---|---:|---|---:|---:|---:|---:|---:|---:|")
        for label, res in rows:
            for i, (A, B) in enumerate(zip(res["base"], res["new"])):
                print("| %s | %d | %s | %.0f | %.0f | %.3f | %.1f | %.1f | %.3f |" %
                      (label, i + 1, "base" if A["first"] else "new", A["rps"], B["rps"], B["rps"] / A["rps"],
                       A["cpu_us"], B["cpu_us"], B["cpu_us"] / A["cpu_us"]))
        print("\nOverall: the median of the rounds' new/base ratios [lowest, highest]; the CPU ratio's median "
              "over the rounds where the base went first and where the new build did, and their geometric "
              "mean, in which an order effect (the same factor on whichever goes first) cancels:\n")
        print("| case | new/base req/s | new/base CPU per req | CPU ratio: base first / new first | "
              "CPU ratio, order-balanced | base req/s | new req/s | base CPU us/req | new CPU us/req | "
              "p99 base/new ms | errors |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for label, res in rows:
            A, B = bench.Bench.agg(res["base"]), bench.Bench.agg(res["new"])
            rr = [y["rps"] / x["rps"] for x, y in zip(res["base"], res["new"])]
            cr = [y["cpu_us"] / x["cpu_us"] for x, y in zip(res["base"], res["new"])]
            bf = [c for c, x in zip(cr, res["base"]) if x["first"]]
            nf = [c for c, x in zip(cr, res["base"]) if not x["first"]]
            bal = "%.3f" % (statistics.median(bf) * statistics.median(nf)) ** 0.5 if bf and nf else "-"
            print("| %s | %.3f [%.3f, %.3f] | %.3f [%.3f, %.3f] | %s / %s | %s | %.0f | %.0f | %.1f | %.1f | "
                  "%.2f / %.2f | %d |" %
                  (label, statistics.median(rr), min(rr), max(rr), statistics.median(cr), min(cr), max(cr),
                   "%.3f" % statistics.median(bf) if bf else "-", "%.3f" % statistics.median(nf) if nf else "-",
                   bal, A["rps"], B["rps"], A["cpu"], B["cpu"], A["p99"], B["p99"], A["err"] + B["err"]))
        if a.json:
            with open(a.json, "w") as f:
                json.dump({"cores": os.cpu_count(), "load": load, "rounds": rounds, "seconds": dur,
                           "base": [a.base_bin, a.base_args], "new": [a.new_bin, a.new_args],
                           "cases": {label: res for label, res in rows}}, f, indent=1)
    finally:
        for s in servers:
            s.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
