#!/usr/bin/python3
"""More than one machine (contract section 9, issue 14) in `make bench`: recd on PostgreSQL and S3
against recd on SQLite and files, in the same run, on the same data.

    make bench-scale [N=5000] [QUICK=1]      (also the last part of a full `make bench`)
    /usr/bin/python3 bench/scale.py [--n N] [--quick] [--seconds S] [--files K] [--no-write]

Steps: build/bench/gen makes a data folder of N recordings (most 0.1 s, 20 of 60 s); a throwaway
PostgreSQL cluster (scripts/pg-test-cluster.sh) and the S3 test server (scripts/s3-test-server.sh,
@20minutes/s3rver on Node.js) are started; `recd migrate` moves the folder to them (timed: rows/s,
objects/s). Then, each for S seconds with wrk:

1. list page 0 (the account's Recordings.json, 50 items, Basic auth, -t2 -c64) on a node serving
   the folder (sqlite+files) and on a node serving the migrated copy (postgres+s3);
2. media with Range (a 60 s recording's .wav, `Range: bytes=44-16427`, -t2 -c64) on both;
3. two postgres+s3 nodes serving at once (wrk -t1 -c32 on each, at the same time): their combined
   rate.

And the import rate: `recd import --batch 64` of K one-second WAVs into a fresh folder
(sqlite+files) and into the postgres+s3 store.

CPU per request is reported beside every rate: the machine is shared (other builds and tests run on
its 2 cores), so rates move with the load while the CPU a request costs mostly does not. recd's CPU
is its process's (utime + stime from /proc); the backends' (PostgreSQL's server processes, the S3
server) are reported apart, since on a real deployment they run elsewhere. s3rver is a test server
written in JavaScript: its cost per request says nothing about S3's; the figures that matter are
recd's.

Environment: RECD_BENCH_DIR (run folder, default /var/tmp/recd-bench), RECD_BENCH_RESULTS (default
bench/RESULTS.md). Nothing here asserts on timings; the exit status is non-zero only when the
harness itself failed.
"""

import argparse
import base64
import datetime as dt
import json
import math
import os
import re
import resource
import shutil
import signal
import struct
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench import parse_wrk  # noqa: E402
from common import (BENCH_DIR, REPO, RESULTS, children, commit, cpu_seconds, loadavg, logger,  # noqa: E402
                    results_writer, start_recd)
log = logger("bench-scale")
write_results = results_writer("bench-scale", "bench/scale.py", log)
CREDS = {"AWS_ACCESS_KEY_ID": "S3RVER", "AWS_SECRET_ACCESS_KEY": "S3RVER"}
RANGE = "bytes=44-16427"


def run_wrk(url, seconds, auth, threads=2, conns=64, header=None):
    cmd = ["wrk", "-t%d" % threads, "-c%d" % conns, "-d%ds" % seconds, "--latency", "-H", "Authorization: " + auth]
    if header:
        cmd += ["-H", header]
    out = subprocess.run(cmd + [url], capture_output=True, text=True, timeout=seconds + 60)
    if out.returncode != 0:
        raise RuntimeError("wrk failed: %s" % out.stderr.strip())
    res = parse_wrk(out.stdout)
    res["errors"] = res["sock_err"] + res["non2xx"]
    return res


def wav_bytes(seconds, n):
    frames = int(8000 * seconds)
    data = b"".join(struct.pack("<h", int(6000 * math.sin(2 * math.pi * (300 + n % 500) * i / 8000)))
                    for i in range(frames))
    return (b"RIFF" + struct.pack("<I", 36 + len(data)) + b"WAVEfmt " + struct.pack("<IHHIIHH", 16, 1, 1, 8000, 16000, 2, 16)
            + b"data" + struct.pack("<I", len(data)) + data)


class Bench:
    def __init__(self, a):
        self.a = a
        self.bin = a.recd or os.path.join(REPO, "build", "recd")
        self.base = os.path.abspath(BENCH_DIR)
        self.run_dir = os.path.join(self.base, "scale")
        self.ds = os.path.join(self.base, "scale-ds-%d" % a.n)
        self.procs = []
        self.rows = []
        self.notes = []
        self.pg_dir = self.s3_dir = None

    def env(self):
        e = dict(os.environ)
        e.update(CREDS)
        for k in ("RECD_STORE", "RECD_MEDIA"):
            e.pop(k, None)
        return e

    def recd(self, *args, timeout=3600):
        t0, r0 = time.time(), resource.getrusage(resource.RUSAGE_CHILDREN)
        out = subprocess.run([self.bin] + [str(x) for x in args], capture_output=True, text=True, timeout=timeout,
                             env=self.env())
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        if out.returncode != 0:
            raise RuntimeError("recd %s: %s" % (args[0], out.stderr.strip()))
        return out.stdout, time.time() - t0, (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)

    # -- the parts
    def dataset(self):
        if os.path.exists(self.ds):
            shutil.rmtree(self.ds)  # migrate leaves its journal, and a fresh folder is cheap
        os.makedirs(self.base, exist_ok=True)
        log("data set: %d recordings" % self.a.n)
        subprocess.run([os.path.join(REPO, "build", "bench", "gen"), self.ds, str(self.a.n)], check=True,
                       stdout=subprocess.DEVNULL)
        with open(os.path.join(self.ds, "meta.json")) as f:
            self.meta = json.load(f)
        self.data = os.path.join(self.ds, "data")
        self.auth = "Basic " + base64.b64encode(("%s:%s" % (self.meta["account_sid"],
                                                            self.meta["auth_token"])).encode()).decode()

    def backends(self):
        self.pg_dir = os.path.join("/tmp", "recd-bench-pg-%d" % os.getpid())
        self.s3_dir = os.path.join(self.run_dir, "s3")
        self.pg = subprocess.run([os.path.join(REPO, "scripts", "pg-test-cluster.sh"), "start", self.pg_dir],
                                 capture_output=True, text=True, check=True).stdout.strip()
        self.s3 = subprocess.run([os.path.join(REPO, "scripts", "s3-test-server.sh"), "start", self.s3_dir],
                                 capture_output=True, text=True, check=True).stdout.strip()
        self.store = self.pg
        self.media = "s3://recd-test/bench?endpoint=%s&region=us-east-1" % self.s3
        with open(os.path.join(self.pg_dir, "data", "postmaster.pid")) as f:
            self.pg_pid = int(f.readline())
        with open(os.path.join(self.s3_dir, "pid")) as f:
            self.s3_pid = int(f.read().split()[0])

    def backend_cpu(self):
        return (cpu_seconds([self.pg_pid] + children(self.pg_pid)),
                cpu_seconds([self.s3_pid] + children(self.s3_pid)))

    def stop_backends(self):
        if self.pg_dir:
            subprocess.run([os.path.join(REPO, "scripts", "pg-test-cluster.sh"), "stop", self.pg_dir],
                           capture_output=True)
        if self.s3_dir:
            subprocess.run([os.path.join(REPO, "scripts", "s3-test-server.sh"), "stop", self.s3_dir],
                           capture_output=True)

    def migrate(self):
        log("recd migrate to postgres+s3")
        out, wall, cpu = self.recd("migrate", "--data", self.data, "--to-store", self.store, "--to-media", self.media)
        m = re.search(r"migrate: (\d+) rows copied .*?; (\d+) objects copied", out)
        rows, objs = int(m.group(1)), int(m.group(2))
        self.migration = {"rows": rows, "objects": objs, "wall": wall, "cpu": cpu, "line": out.strip()}

    def serve(self, name, pg):
        logf = open(os.path.join(self.run_dir, "%s.log" % name), "wb")
        p, port = start_recd(self.bin, self.data, logf, ["--store", self.store, "--media", self.media] if pg else [],
                             env=self.env(), what="recd serve (%s)" % name, timeout=60)
        self.procs.append(p)
        return p, port

    def measure(self, label, config, nodes, path, header=None):
        """wrk on every node at once (S seconds); one row: combined rate, worst p99, CPU per request."""
        for p, port in nodes:  # warm: first requests fill caches and open connections
            run_wrk("http://127.0.0.1:%d%s" % (port, path), 1, self.auth, 1, 4, header)
        c0 = cpu_seconds([p.pid for p, _ in nodes])
        b0 = self.backend_cpu()
        results = [None] * len(nodes)

        def one(i, port):
            results[i] = run_wrk("http://127.0.0.1:%d%s" % (port, path), self.seconds, self.auth,
                                 2 if len(nodes) == 1 else 1, 64 // len(nodes), header)
        threads = [threading.Thread(target=one, args=(i, port)) for i, (_, port) in enumerate(nodes)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        cpu = cpu_seconds([p.pid for p, _ in nodes]) - c0
        b1 = self.backend_cpu()
        reqs = sum(r["requests"] for r in results)
        row = {"label": label, "config": config, "nodes": len(nodes), "rps": sum(r["rps"] for r in results),
               "p99": max(r["p99"] for r in results), "errors": sum(r["errors"] for r in results),
               "cpu_us": 1e6 * cpu / max(reqs, 1), "pg_us": 1e6 * (b1[0] - b0[0]) / max(reqs, 1),
               "s3_us": 1e6 * (b1[1] - b0[1]) / max(reqs, 1), "load": loadavg().split()[0]}
        self.rows.append(row)
        log("%s, %s: %.0f req/s, p99 %.2f ms, recd %.0f us/req" % (label, config, row["rps"], row["p99"],
                                                                   row["cpu_us"]))

    def imports(self):
        k = self.a.files
        wavs = os.path.join(self.run_dir, "wavs")
        os.makedirs(wavs, exist_ok=True)
        files = []
        for i in range(k):
            p = os.path.join(wavs, "w%d.wav" % i)
            with open(p, "wb") as f:
                f.write(wav_bytes(1.0, i))
            files.append(p)
        self.import_rows = []
        fresh = os.path.join(self.run_dir, "import-files")
        acc = json.loads(self.recd("account", "create", "--data", fresh)[0])["sid"]
        for config, extra in (("sqlite+files", ["--data", fresh]),
                              ("postgres+s3", ["--data", self.data, "--store", self.store, "--media", self.media])):
            account = acc if config == "sqlite+files" else self.meta["scratch_sid"]
            b0 = self.backend_cpu()
            _, wall, cpu = self.recd("import", "--account", account, "--batch", "64", *extra, *files)
            b1 = self.backend_cpu()
            self.import_rows.append({"config": config, "files": k, "wall": wall, "rate": k / wall,
                                     "cpu_ms": 1e3 * cpu / k, "pg_ms": 1e3 * (b1[0] - b0[0]) / k,
                                     "s3_ms": 1e3 * (b1[1] - b0[1]) / k})
            log("import %s: %.0f files/s, recd %.1f ms CPU per file" % (config, k / wall, 1e3 * cpu / k))

    def run(self):
        if os.path.exists(self.run_dir):
            shutil.rmtree(self.run_dir)
        os.makedirs(self.run_dir)
        self.seconds = self.a.seconds or (2 if self.a.quick else 10)
        self.dataset()
        try:
            self.backends()
            self.migrate()
            acc = self.meta["account_sid"]
            lst = "/2010-04-01/Accounts/%s/Recordings.json" % acc
            wav = "/2010-04-01/Accounts/%s/Recordings/%s.wav" % (acc, self.meta["long_sids"][0])
            local = self.serve("sqlite-files", False)
            node1 = self.serve("pg-s3-1", True)
            self.measure("list page 0", "sqlite+files", [local], lst)
            self.measure("list page 0", "postgres+s3", [node1], lst)
            self.measure("media, Range 16 KB", "sqlite+files", [local], wav, "Range: " + RANGE)
            self.measure("media, Range 16 KB", "postgres+s3", [node1], wav, "Range: " + RANGE)
            node2 = self.serve("pg-s3-2", True)
            self.measure("list page 0", "postgres+s3, two nodes", [node1, node2], lst)
            self.measure("media, Range 16 KB", "postgres+s3, two nodes", [node1, node2], wav, "Range: " + RANGE)
            for p in self.procs:
                p.send_signal(signal.SIGTERM)
            for p in self.procs:
                p.wait(30)
            self.procs = []
            self.imports()
        finally:
            for p in self.procs:
                if p.poll() is None:
                    p.kill()
            self.stop_backends()


def report(b, started, load_before):
    a, m = b.a, b.migration
    lines = ["## postgres+s3 against sqlite+files%s, N = %d, %s" % (" (QUICK)" if a.quick else "", a.n,
                                                                      started.strftime("%Y-%m-%d %H:%M UTC")), "",
             "- commit `%s`, %d cores (`nproc`), Linux %s; release build; each `recd serve --threads 2`" %
             (commit(), os.cpu_count(), os.uname().release),
             "- load average before the run: %s, after: %s; run took %.0f s" %
             (load_before, loadavg(), (dt.datetime.now(dt.timezone.utc) - started).total_seconds()),
             "- backends on the same machine: PostgreSQL 15 (scripts/pg-test-cluster.sh, fsync on) and "
             "@20minutes/s3rver (Node.js, files on local disk); their CPU is apart from recd's", "",
             "`recd migrate` of the data set: %d rows and %d objects (each read back and checked) in %.1f s: "
             "%.0f rows/s with the objects, %.0f objects/s; recd %.2f s CPU (%.0f us per row + object)." %
             (m["rows"], m["objects"], m["wall"], m["rows"] / m["wall"], m["objects"] / m["wall"], m["cpu"],
              1e6 * m["cpu"] / max(m["rows"] + m["objects"], 1)), "",
             "wrk `-d%ds` (one node: -t2 -c64; two nodes: -t1 -c32 on each at once); CPU per request: recd "
             "(every node), PostgreSQL (postmaster and its backends), s3rver:" % b.seconds, "",
             "| request | configuration | req/s | p99 ms | recd CPU us/req | PostgreSQL us/req | s3rver us/req | "
             "errors | load |", "|---|---|---|---|---|---|---|---|---|"]
    for r in b.rows:
        lines.append("| %s | %s | %.0f | %.2f | %.1f | %.1f | %.1f | %d | %s |" %
                     (r["label"], r["config"], r["rps"], r["p99"], r["cpu_us"], r["pg_us"], r["s3_us"], r["errors"],
                      r["load"]))
    lines += ["", "`recd import --batch 64` of %d one-second 8 kHz WAVs (a fresh folder for sqlite+files; the "
              "migrated store and bucket for postgres+s3):" % a.files, "",
              "| configuration | files/s | recd CPU ms/file | PostgreSQL ms/file | s3rver ms/file |",
              "|---|---|---|---|---|"]
    for r in b.import_rows:
        lines.append("| %s | %.0f | %.2f | %.2f | %.2f |" % (r["config"], r["rate"], r["cpu_ms"], r["pg_ms"],
                                                            r["s3_ms"]))
    by = {(r["label"], r["config"]): r for r in b.rows}
    lp, ls = by[("list page 0", "postgres+s3")], by[("list page 0", "sqlite+files")]
    mp, ms_ = by[("media, Range 16 KB", "postgres+s3")], by[("media, Range 16 KB", "sqlite+files")]
    two = by[("list page 0", "postgres+s3, two nodes")]
    lines += ["", "| ratio (postgres+s3 / sqlite+files) | rate | recd CPU per request |", "|---|---|---|",
              "| list page 0 | %.2fx | %.2fx |" % (lp["rps"] / ls["rps"], lp["cpu_us"] / ls["cpu_us"]),
              "| media with Range | %.2fx | %.2fx |" % (mp["rps"] / ms_["rps"], mp["cpu_us"] / ms_["cpu_us"]),
              "| list page 0, two postgres+s3 nodes / one | %.2fx | %.2fx |" % (two["rps"] / lp["rps"],
                                                                                two["cpu_us"] / lp["cpu_us"])]
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=0, help="recordings in the data set (5000; quick 300)")
    ap.add_argument("--quick", action="store_true", help="a check of the harness: 300 recordings, 2 s runs")
    ap.add_argument("--seconds", type=int, default=0, help="wrk seconds per run (10; quick 2)")
    ap.add_argument("--files", type=int, default=0, help="WAVs per import (200; quick 20)")
    ap.add_argument("--recd", help="the recd binary (build/recd)")
    ap.add_argument("--no-write", action="store_true", help="print the report, leave RESULTS.md alone")
    a = ap.parse_args()
    a.n = a.n or (300 if a.quick else 5000)
    a.files = a.files or (20 if a.quick else 200)
    started = dt.datetime.now(dt.timezone.utc)
    load_before = loadavg()
    b = Bench(a)
    b.run()
    body = report(b, started, load_before)
    print(body)
    if not a.no_write:
        write_results(RESULTS, "quick" if a.quick else "full", body)


if __name__ == "__main__":
    main()
