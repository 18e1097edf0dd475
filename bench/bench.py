#!/usr/bin/python3
"""recd against nginx on the same bytes, and flat list cost at hundreds of thousands of recordings.

    make bench [N=250000] [QUICK=1]
    /usr/bin/python3 bench/bench.py [--n N] [--dir DIR] [--results PATH] [--quick]

Steps: make (or reuse) the data set of N recordings with build/bench/gen; start build/recd and an
nginx of our own on free loopback ports; copy the bodies recd serves into nginx's root, so both
serve the very same bytes; run wrk against both, alternately (A, B, B, A; the list page also
against build/bench/pageserve, the floor any server can reach on these cores); time first MP3 encodes,
batched imports against build/bench/rawwrite, read recd's peak RSS; print a table and write it,
with the date, commit and core count, into the results file (between the markers, so the notes
around it survive a re-run).

Environment: RECD_BENCH_DIR (data sets and the run folder, default /var/tmp/recd-bench),
RECD_BENCH_RESULTS (default bench/RESULTS.md). Nothing here asserts on timings: the targets are
reported PASS/FAIL, and the exit status is non-zero only when the harness itself failed.
"""

import argparse
import base64
import datetime as dt
import http.client
import json
import math
import os
import re
import resource
import shutil
import statistics
import struct
import subprocess
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import (REPO, children, commit, cpu_seconds, free_port, loadavg, logger, results_writer,  # noqa: E402
                    terminate, wait_port)

API = "/2010-04-01"
log = logger("bench")
# One block per data-set size (QUICK runs have their own), rewritten by each run of that size.
write_results = results_writer("bench", "bench/bench.py", log)


def wav_bytes(samples, rate=8000):
    """A PCM WAV, mono 16-bit, of the given integer samples."""
    data = struct.pack("<%dh" % len(samples), *samples)
    return (b"RIFF" + struct.pack("<I", 36 + len(data)) + b"WAVEfmt " +
            struct.pack("<IHHIIHH", 16, 1, 1, rate, rate * 2, 2, 16) + b"data" +
            struct.pack("<I", len(data)) + data)


def tone(seconds, hz, rate=8000, amp=8000):
    n = int(seconds * rate)
    w = 2 * math.pi * hz / rate
    return [int(amp * math.sin(w * i)) for i in range(n)]


class Client:
    """One keep-alive connection, for the calls the harness itself makes."""

    def __init__(self, port, auth=None):
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.auth = auth

    def request(self, method, path, auth=True):
        headers = {}
        if auth and self.auth:
            headers["Authorization"] = self.auth
        for attempt in range(2):
            try:
                self.conn.request(method, path, headers=headers)
                r = self.conn.getresponse()
                return r.status, r.read()
            except (http.client.HTTPException, ConnectionError):
                if attempt:
                    raise
                self.conn.close()
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)

    def get(self, path, auth=True, want=200):
        status, body = self.request("GET", path, auth)
        if status != want:
            raise RuntimeError("GET %s: %d %s" % (path, status, body[:200]))
        return body


def sched_seconds(pids):
    """(on CPU, runnable but waiting) seconds of every thread of the given processes, from
    /proc/PID/task/TID/schedstat: the second says how long the server waited for a core."""
    run = wait = 0
    for pid in pids:
        try:
            tids = os.listdir("/proc/%d/task" % pid)
        except OSError:
            continue
        for t in tids:
            try:
                with open("/proc/%d/task/%s/schedstat" % (pid, t)) as f:
                    a = f.read().split()
                run += int(a[0])
                wait += int(a[1])
            except (OSError, IndexError, ValueError):
                pass
    return run / 1e9, wait / 1e9


def basic(user, secret):
    return "Basic " + base64.b64encode(("%s:%s" % (user, secret)).encode()).decode()


# ------------------------------------------------------------------------------------ wrk

UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def ms(text):
    m = re.match(r"([\d.]+)(us|ms|s|m)$", text)
    return float(m.group(1)) * UNITS[m.group(2)]


def children_cpu():
    """User+system CPU seconds of this process's waited-for children so far."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run_wrk(url, seconds, conns, threads, auth=None):
    cmd = ["wrk", "-t%d" % threads, "-c%d" % conns, "-d%ds" % seconds, "--latency"]
    if auth:
        cmd += ["-H", "Authorization: " + auth]
    out = subprocess.run(cmd + [url], capture_output=True, text=True, timeout=seconds + 60)
    if out.returncode != 0:
        raise RuntimeError("wrk failed: %s" % out.stderr.strip())
    return parse_wrk(out.stdout)


def parse_wrk(t):
    """Requests/s, p50 and p99 (ms), request and error counts from wrk --latency's report."""
    res = {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", t).group(1)),
           "p50": ms(re.search(r"\s50%\s+(\S+)", t).group(1)),
           "p99": ms(re.search(r"\s99%\s+(\S+)", t).group(1)),
           "requests": int(re.search(r"(\d+) requests in", t).group(1))}
    se = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", t)
    res["sock_err"] = sum(int(x) for x in se.groups()) if se else 0
    nx = re.search(r"Non-2xx or 3xx responses: (\d+)", t)
    res["non2xx"] = int(nx.group(1)) if nx else 0
    return res


# ------------------------------------------------------------------------------- the bench

class Bench:
    def __init__(self, a):
        self.a = a
        self.quick = a.quick
        self.n = a.n or (2000 if a.quick else 250000)
        self.dur = a.duration or (1 if a.quick else 10)
        self.deep = a.deep or (20 if a.quick else (10000 if self.n >= 1000000 else 4000))
        self.k_mp3 = 2 if a.quick else 10
        self.m_import = 20 if a.quick else 200
        self.base = os.path.abspath(a.dir)
        self.ds = os.path.join(self.base, "N%d" % self.n)
        self.run_dir = os.path.join(self.base, "run")
        self.recd_bin = os.path.abspath(a.recd or os.path.join(REPO, "build", "recd"))
        self.gen_bin = os.path.join(REPO, "build", "bench", "gen")
        self.raw_bin = os.path.join(REPO, "build", "bench", "rawwrite")
        self.floor_bin = os.path.join(REPO, "build", "bench", "pageserve")
        self.recd = self.nginx = self.floor = None
        self.rows = []       # the table
        self.runs = []       # every wrk run, for the results file
        self.notes = []
        self.scratch_sids = []

    # -- data set
    def dataset(self):
        if os.path.exists(os.path.join(self.ds, "READY")):
            log("reusing the data set %s" % self.ds)
        else:
            if os.path.exists(self.ds):
                log("removing an incomplete data set %s" % self.ds)
                shutil.rmtree(self.ds)
            os.makedirs(self.base, exist_ok=True)
            log("building the data set: %d recordings in %s" % (self.n, self.ds))
            t0 = time.time()
            subprocess.run([self.gen_bin, self.ds, str(self.n)], check=True)
            self.notes.append("data set built in this run (%.0f s)" % (time.time() - t0))
        with open(os.path.join(self.ds, "meta.json")) as f:
            self.meta = json.load(f)

    # -- servers
    def start_recd(self):
        self.port = free_port()
        self.recd_log = open(os.path.join(self.run_dir, "recd.log"), "wb")
        self.recd = subprocess.Popen([self.recd_bin, "serve", "--listen", "127.0.0.1:%d" % self.port,
                                      "--data", os.path.join(self.ds, "data"), "--threads", "2"],
                                     stdout=subprocess.DEVNULL, stderr=self.recd_log)
        wait_port(self.port, self.recd, "recd")

    def start_nginx(self):
        self.nport = free_port()
        prefix = os.path.join(self.run_dir, "nginx")
        for d in ("tmp", "logs"):
            os.makedirs(os.path.join(prefix, d), exist_ok=True)
        conf = os.path.join(prefix, "nginx.conf")
        with open(os.path.join(REPO, "bench", "nginx.conf.in")) as f:
            text = f.read()
        text = (text.replace("@USER@", "user root;" if os.geteuid() == 0 else "")
                .replace("@PREFIX@", prefix).replace("@ROOT@", self.www)
                .replace("@LISTEN@", "127.0.0.1:%d" % self.nport))
        with open(conf, "w") as f:
            f.write(text)
        self.nginx = subprocess.Popen(["nginx", "-c", conf, "-p", prefix + "/", "-e", prefix + "/logs/error.log"],
                                      stdout=subprocess.DEVNULL, stderr=open(prefix + "/logs/stderr.log", "wb"))
        wait_port(self.nport, self.nginx, "nginx")

    def start_floor(self):
        """The floor for the list case: bench/pageserve, a trivial epoll server that answers every
        request with the list page's bytes, on recd's and nginx's two loops: its p99 under the same
        wrk is what the two cores shared with wrk allow any server."""
        self.fport = free_port()
        page = os.path.join(self.www, self.paths["list"].lstrip("/").split("?")[0])
        self.floor = subprocess.Popen([self.floor_bin, str(self.fport), page, "2"], stdout=subprocess.DEVNULL,
                                      stderr=open(os.path.join(self.run_dir, "pageserve.log"), "wb"))
        wait_port(self.fport, self.floor, "pageserve")

    def stop(self):
        for p in (self.floor, self.nginx, self.recd):
            terminate(p, 15)

    # -- the bodies nginx serves
    def mirror(self, path, body):
        dest = os.path.join(self.www, path.lstrip("/").split("?")[0])
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        with open(dest, "wb") as f:
            f.write(body)

    def prepare(self):
        m = self.meta
        self.acc = m["account_sid"]
        self.auth = basic(m["account_sid"], m["auth_token"])
        self.c = Client(self.port, self.auth)
        lp = "%s/Accounts/%s/Recordings.json" % (API, self.acc)
        page0 = self.c.get(lp)
        doc = json.loads(page0)
        if len(doc["recordings"]) != 50 or not doc["next_page_uri"]:
            raise RuntimeError("page 0 holds %d items" % len(doc["recordings"]))
        tiny = doc["recordings"][0]["sid"]
        self.paths = {"list": lp}
        self.paths["json"] = "%s/Accounts/%s/Recordings/%s.json" % (API, self.acc, tiny)
        self.paths["wav"] = "%s/Accounts/%s/Recordings/%s.wav" % (API, self.acc, m["long_sids"][0])
        self.paths["mp3"] = "%s/Accounts/%s/Recordings/%s.mp3" % (API, self.acc, m["long_sids"][0])
        self.c.get(self.paths["mp3"], auth=False)  # warm-up: the first request makes the MP3
        self.www = os.path.join(self.run_dir, "www")
        for k in ("json", "wav", "mp3"):
            body = self.c.get(self.paths[k], auth=False)
            self.mirror(self.paths[k], body)
            self.notes.append("%s body: %d bytes" % (k, len(body)))
        self.mirror(lp, self.c.get(lp))
        self.notes.append("list page 0 body: %d bytes" % len(self.c.get(lp)))

        # The deep page: walk next_page_uri from page 0, as a client would.
        log("walking %d pages by next_page_uri" % self.deep)
        t0 = time.time()
        uri = doc["next_page_uri"]
        for i in range(1, self.deep):
            d = json.loads(self.c.get(uri))
            uri = d["next_page_uri"]
            if not uri:
                raise RuntimeError("the list ended at page %d" % i)
            if i % max(1, self.deep // 10) == 0:
                log("  page %d of %d" % (i, self.deep))
        self.paths["deep"] = uri
        self.notes.append("walked %d pages in %.1f s" % (self.deep, time.time() - t0))

        call = m["calls"][0]
        self.paths["call"] = lp + "?CallSid=" + call
        first = dt.datetime.fromtimestamp(m["first_us"] / 1e6, dt.timezone.utc).date()
        lo = first + dt.timedelta(days=240)
        hi = lo + dt.timedelta(days=60)
        self.paths["dates"] = lp + "?DateCreated%3E=" + lo.isoformat() + "&DateCreated%3C=" + hi.isoformat()
        for k in ("deep", "call", "dates"):
            d = json.loads(self.c.get(self.paths[k]))
            if len(d["recordings"]) != 50 and not (self.quick and d["recordings"]):
                raise RuntimeError("%s: %d items, want 50" % (k, len(d["recordings"])))

    # -- throughput cases
    def url(self, port, path):
        return "http://127.0.0.1:%d%s" % (port, path)

    def wrk(self, label, server, port, path, auth=None):
        # CPU time the server spent, per request: unlike req/s, it does not depend on what else
        # the machine is running.
        pids = {"recd": [self.recd.pid], "floor": [self.floor.pid]}.get(server) or \
            [self.nginx.pid] + children(self.nginx.pid)
        c0 = cpu_seconds(pids)
        s0 = sched_seconds(pids)
        r = run_wrk(self.url(port, path), self.dur, 64, 2, auth)
        r["cpu_us"] = (cpu_seconds(pids) - c0) * 1e6 / max(1, r["requests"])
        # The share of the server threads' runnable time spent waiting for a core (wrk shares the
        # two): when it is high, a p99 measures the scheduler more than the server.
        s1 = sched_seconds(pids)
        ran, waited = s1[0] - s0[0], s1[1] - s0[1]
        r["runq"] = 100 * waited / (ran + waited) if ran + waited > 0 else 0.0
        r.update(case=label, server=server)
        self.runs.append(r)
        log("  %-17s %-6s %9.0f req/s  p50 %6.2f ms  p99 %6.2f ms  cpu %6.1f us/req  runq %3.0f %%  errors %d/%d" %
            (label, server, r["rps"], r["p50"], r["p99"], r["cpu_us"], r["runq"], r["sock_err"], r["non2xx"]))
        return r

    @staticmethod
    def agg(rs):
        return {"rps": statistics.mean(r["rps"] for r in rs), "p50": statistics.mean(r["p50"] for r in rs),
                "p99": max(r["p99"] for r in rs), "err": sum(r["sock_err"] + r["non2xx"] for r in rs),
                "cpu": statistics.mean(r["cpu_us"] for r in rs)}

    def versus_nginx(self, key, label, target, auth=None, floor=None):
        a, b = [], []
        # A B, then B A: whichever server runs first in a pair pays for the cold start (bench/ab.py
        # measured 5-10 % more CPU per request for the first), so each goes first once.
        for i in range(2):
            for who in (("recd", "nginx") if i == 0 else ("nginx", "recd")):
                if who == "recd":
                    a.append(self.wrk(label, "recd", self.port, self.paths[key], auth))
                else:
                    b.append(self.wrk(label, "nginx", self.nport, self.paths[key], auth))
            if floor is not None:
                floor.append(self.wrk(label, "floor", self.fport, self.paths[key], auth))
        A, B = self.agg(a), self.agg(b)
        ratio = A["rps"] / B["rps"]
        ok = ratio >= target and A["err"] == 0 and B["err"] == 0
        self.rows.append([label, A, B, "%.2f x nginx" % ratio, ">= %.1f x nginx" % target, ok])
        return A

    def versus_page0(self, key, label):
        a, b = [], []
        for _ in range(2):
            a.append(self.wrk("page 0", "recd", self.port, self.paths["list"], self.auth))
            b.append(self.wrk(label, "recd", self.port, self.paths[key], self.auth))
        A, B = self.agg(a), self.agg(b)
        cost = A["rps"] / B["rps"]
        ok = cost <= 1.2 and A["err"] == 0 and B["err"] == 0
        self.rows.append([label, B, A, "%.2f x page 0" % cost, "<= 1.2 x page 0", ok])

    def throughput(self):
        if not self.quick:
            log("warming up")
            for k in ("json", "wav", "mp3", "list"):
                run_wrk(self.url(self.port, self.paths[k]), 1, 64, 2, self.auth)
                run_wrk(self.url(self.nport, self.paths[k]), 1, 64, 2, self.auth)
            run_wrk(self.url(self.fport, self.paths["list"]), 1, 64, 2, self.auth)
        log("wrk -t2 -c64 -d%ds, recd (A) and nginx (B) alternately, A B then B A" % self.dur)
        # Issue 11's targets for the HTTP layer.
        self.versus_nginx("json", "instance .json", 1.1)
        self.versus_nginx("wav", "60 s .wav", 1.0)
        self.versus_nginx("mp3", "cached .mp3", 1.0)
        f = []
        A = self.versus_nginx("list", "list page 0", 0, self.auth, floor=f)
        # The list has its own absolute target; replace the placeholder row.
        row = self.rows[-1]
        ok = A["rps"] >= 25000 and A["p99"] < 5 and A["err"] == 0
        F = self.agg(f)
        row[3] = "%.0f pages/s, p99 %.1f ms (floor %.1f ms)" % (A["rps"], A["p99"], F["p99"])
        self.notes.append("list page 0 floor (build/bench/pageserve: two epoll loops that answer every request "
                          "with the page's bytes in one sendmsg, no parsing, auth, log or audit), run after recd "
                          "and nginx in each round: %.0f pages/s, p50 %.2f ms, p99 %.2f ms (the worse of two), "
                          "%.1f us CPU per page, %d errors" % (F["rps"], F["p50"], F["p99"], F["cpu"], F["err"]))
        row[4] = ">= 25,000 pages/s, p99 < 5 ms"
        row[5] = ok
        self.versus_page0("deep", "page %d deep" % self.deep)
        self.versus_page0("call", "CallSid filter")
        self.versus_page0("dates", "DateCreated range")

    # -- writes
    def recd_cli(self, *args, binary=None):
        out = subprocess.run([binary or self.recd_bin] + list(args) + ["--data", os.path.join(self.ds, "data")],
                             capture_output=True, text=True)
        if out.returncode != 0:
            raise RuntimeError("recd %s: %s" % (args[0], out.stderr.strip()))
        return out.stdout

    def import_files(self, files, batch=64, binary=None):
        out = self.recd_cli("import", "--account", self.meta["scratch_sid"], "--batch", str(batch), *files,
                            binary=binary)
        sids = re.findall(r'"sid":\s*"(RE[0-9a-f]{32})"', out)
        if len(sids) != len(files):
            raise RuntimeError("import printed %d sids for %d files" % (len(sids), len(files)))
        self.scratch_sids += sids
        return sids

    def mp3_encode(self):
        log("first MP3 encode of %d fresh 60 s recordings" % self.k_mp3)
        d = os.path.join(self.run_dir, "long")
        os.makedirs(d)
        files = []
        for i in range(self.k_mp3):
            p = os.path.join(d, "long%02d.wav" % i)
            with open(p, "wb") as f:
                f.write(wav_bytes(tone(60, 310.0 + 23.0 * i + (os.getpid() % 97))))
            files.append(p)
        sids = self.import_files(files)
        scratch = self.meta["scratch_sid"]
        times = []
        for sid in sids:
            c = Client(self.port)
            t0 = time.perf_counter()
            body = c.get("%s/Accounts/%s/Recordings/%s.mp3" % (API, scratch, sid), auth=False)
            times.append(time.perf_counter() - t0)
            if body[:3] not in (b"ID3", b"\xff\xfb", b"\xff\xf3") and body[0] != 0xFF:
                raise RuntimeError("not an MP3")
        med = statistics.median(times)
        x = 60.0 / med
        self.rows.append(["first MP3 encode, 60 s", {"v": "%.0f x realtime" % x},
                          {"v": "median %.0f ms of %d" % (med * 1000, len(times))},
                          "%.0f x realtime" % x, ">= 300 x realtime", x >= 300])

    def import_rate(self):
        """recd import against rawwrite (and, with --recd-base, a second recd build), in turns
        whose order rotates each round, so that the disk's slow moments fall on each alike."""
        rounds = self.a.rounds or 2
        log("recd import --batch 64 against rawwrite, %d files each, %d alternated rounds" % (self.m_import, rounds))
        d = os.path.join(self.run_dir, "imp")
        os.makedirs(d)
        files = []
        for i in range(self.m_import):
            p = os.path.join(d, "imp%04d.wav" % i)
            with open(p, "wb") as f:
                f.write(wav_bytes(tone(0.1, 200.0 + i, amp=4000 + i)))
            files.append(p)
        who = ["recd", "raw"] + (["base"] if self.a.recd_base else [])
        rate = {w: [] for w in who}
        cpu = {w: [] for w in who}
        for rep in range(rounds):
            order = who[rep % len(who):] + who[:rep % len(who)] if rounds > 2 else who
            for w in order:
                t0, c0 = time.perf_counter(), children_cpu()
                if w == "raw":
                    subprocess.run([self.raw_bin, os.path.join(self.run_dir, "raw%d" % rep)] + files, check=True,
                                   stdout=subprocess.DEVNULL)
                else:
                    self.import_files(files, binary=self.a.recd_base if w == "base" else None)
                rate[w].append(len(files) / (time.perf_counter() - t0))
                cpu[w].append(children_cpu() - c0)
            log("  round %d (%s first, load %s): %s" % (rep + 1, order[0], loadavg(), ", ".join(
                "%s %.0f files/s %.0f ms CPU" % (w, rate[w][-1], 1000 * cpu[w][-1]) for w in who)))
        A, B = statistics.mean(rate["recd"]), statistics.mean(rate["raw"])
        if rounds > 2:
            ratios = [a / b for a, b in zip(rate["recd"], rate["raw"])]
            self.notes.append("import, %d rounds: median ratio to raw %.0f %% (range %.0f-%.0f %%)" % (
                rounds, 100 * statistics.median(ratios), 100 * min(ratios), 100 * max(ratios)))
            if self.a.recd_base:
                rb = [a / b for a, b in zip(rate["recd"], rate["base"])]
                self.notes.append("import against --recd-base: median rate ratio %.2f (range %.2f-%.2f), "
                                  "CPU %.0f vs %.0f ms (medians)" % (
                                      statistics.median(rb), min(rb), max(rb), 1000 * statistics.median(cpu["recd"]),
                                      1000 * statistics.median(cpu["base"])))
        # The rates are wall clock, so they move with whatever else is writing to the disk (a
        # shared machine's builds and suites). The CPU time is steadier, and the part of it that is
        # only the starting of a recd process (dynamic loading) says what is left for the import.
        start = []
        for _ in range(5):
            c0 = children_cpu()
            subprocess.run([self.recd_bin, "--help"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            start.append(children_cpu() - c0)
        self.notes.append("import of %d files, CPU (user+system) per run: recd %s ms (a recd process that only "
                          "starts: %.0f ms), rawwrite %s ms; wall %s ms and %s ms"
                          % (len(files), " and ".join("%.0f" % (1000 * x) for x in cpu["recd"]),
                             1000 * statistics.median(start),
                             " and ".join("%.0f" % (1000 * x) for x in cpu["raw"]),
                             " and ".join("%.0f" % (1000 * len(files) / x) for x in rate["recd"]),
                             " and ".join("%.0f" % (1000 * len(files) / x) for x in rate["raw"])))
        self.rows.append(["import --batch 64", {"v": "%.0f files/s" % A}, {"v": "%.0f files/s" % B},
                          "%.0f %% of raw" % (100 * A / B), ">= 50 % of raw write+fsync", A / B >= 0.5])

    def rss(self):
        with open("/proc/%d/status" % self.recd.pid) as f:
            st = f.read()
        hwm = int(re.search(r"VmHWM:\s+(\d+) kB", st).group(1))
        self.rows.append(["recd peak RSS", {"v": "%.1f MB" % (hwm / 1024)}, {"v": "VmHWM"},
                          "%.1f MB" % (hwm / 1024), "<= 64 MB", hwm <= 64 * 1024])

    def errors_row(self):
        se = sum(r["sock_err"] for r in self.runs)
        nx = sum(r["non2xx"] for r in self.runs)
        reqs = sum(r["requests"] for r in self.runs)
        self.rows.append(["errors, all wrk runs", {"v": "%d socket" % se}, {"v": "%d non-2xx" % nx},
                          "of %d requests" % reqs, "zero", se == 0 and nx == 0])

    def cleanup_scratch(self):
        c = Client(self.port, basic(self.meta["scratch_sid"], self.meta["scratch_token"]))
        for sid in self.scratch_sids:
            c.request("DELETE", "%s/Accounts/%s/Recordings/%s.json" % (API, self.meta["scratch_sid"], sid))

    # -- output
    def table(self):
        def cell(m):
            if "v" in m:
                return m["v"]
            return "%.0f/s  %.2f / %.2f ms  %.0f us" % (m["rps"], m["p50"], m["p99"], m["cpu"])
        head = ["case", "recd (req/s  p50 / p99  cpu/req)", "baseline (req/s  p50 / p99  cpu/req)", "result",
                "target", ""]
        body = [[r[0], cell(r[1]), cell(r[2]), r[3], r[4], "PASS" if r[5] else "FAIL"] for r in self.rows]
        return head, body

    def print_table(self):
        head, body = self.table()
        w = [max(len(x[i]) for x in [head] + body) for i in range(len(head))]
        line = lambda r: "  ".join(c.ljust(w[i]) for i, c in enumerate(r))
        print()
        print("recd bench: N=%d, %s, commit %s, %d cores" % (self.n, self.date, self.commit, os.cpu_count()))
        print(line(head))
        print("  ".join("-" * x for x in w))
        for r in body:
            print(line(r))
        passed = sum(1 for r in self.rows if r[5])
        print("%d of %d targets met" % (passed, len(self.rows)))
        sys.stdout.flush()

    def markdown(self):
        head, body = self.table()
        out = ["## N = %d%s, %s" % (self.n, " (QUICK)" if self.quick else "", self.date), "",
               "- commit `%s`, %d cores (`nproc`), %s" % (self.commit, os.cpu_count(), self.kernel),
               "- %s; %s" % (self.wrk_version, self.nginx_version),
               "- wrk `-t2 -c64 -d%ds --latency` on the same 2 cores as the servers; recd `--threads 2`, "
               "nginx `worker_processes 2`; each case A (recd), B (nginx), B, A, so each goes first once (the list page "
               "A, B, floor, B, A, floor: see the notes; recd's own page 0 against the deep and filtered pages A, B, A, B); "
               "req/s and p50 are the mean of the two runs, p99 the worse of the two"
               % self.dur,
               "- load average before the run: %s, after: %s; run took %.0f s" %
               (self.load, loadavg(), time.time() - self.t_start),
               "- baselines: nginx serves the bytes recd served, from files (it does not check the Basic "
               "auth header wrk sends with the list case); the deep page and the filtered lists are "
               "compared with recd's own page 0, run alternately with them", ""]
        out.append("| " + " | ".join(head[:-1] + ["met"]) + " |")
        out.append("|" + "---|" * len(head))
        for r in body:
            out.append("| " + " | ".join(c.replace("|", "\\|") for c in r) + " |")
        out += ["", "Every wrk run, in order (cpu: the server's user+system CPU time per request; runq: the "
                "share of its threads' runnable time spent waiting for a core, from schedstat):", "",
                "| case | server | req/s | p50 ms | p99 ms | cpu us/req | runq % | socket errors | non-2xx |",
                "|---|---|---|---|---|---|---|---|---|"]
        for r in self.runs:
            out.append("| %s | %s | %.0f | %.2f | %.2f | %.1f | %.0f | %d | %d |" %
                       (r["case"], r["server"], r["rps"], r["p50"], r["p99"], r["cpu_us"], r.get("runq", 0),
                        r["sock_err"], r["non2xx"]))
        out += [""] + ["- " + n for n in self.notes]
        return "\n".join(out) + "\n"

    def write_results(self):
        write_results(self.a.results, "N=%d%s" % (self.n, " QUICK" if self.quick else ""), self.markdown())

    def environment(self):
        self.date = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        self.commit = commit()
        self.kernel = "Linux " + os.uname().release
        v = subprocess.run(["wrk", "-v"], capture_output=True, text=True)
        self.wrk_version = (v.stdout + v.stderr).splitlines()[0].split(" [")[0] if (v.stdout + v.stderr) else "wrk"
        v = subprocess.run(["nginx", "-v"], capture_output=True, text=True)
        self.nginx_version = (v.stderr.strip() or "nginx").replace("nginx version: ", "")
        self.load = loadavg()

    def main(self):
        self.t_start = time.time()
        self.environment()
        self.dataset()
        if os.path.exists(self.run_dir):
            shutil.rmtree(self.run_dir)
        os.makedirs(self.run_dir)
        if self.a.only == "import":
            # The import alone, beside a serving recd as in the whole run; the results file keeps
            # whole runs only, so this prints its table and notes.
            try:
                self.start_recd()
                self.import_rate()
                self.cleanup_scratch()
            finally:
                self.stop()
            self.print_table()
            for n in self.notes:
                print("- " + n)
            return
        try:
            self.start_recd()
            self.prepare()
            self.start_nginx()
            self.start_floor()
            self.throughput()
            self.mp3_encode()
            self.import_rate()
            self.errors_row()
            self.rss()
            self.cleanup_scratch()
        finally:
            self.stop()
        self.print_table()
        self.write_results()


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=0, help="recordings in the data set (default 250000; QUICK 2000)")
    p.add_argument("--dir", default=os.environ.get("RECD_BENCH_DIR", "/var/tmp/recd-bench"),
                   help="where data sets are cached and the run folder lives ($RECD_BENCH_DIR)")
    p.add_argument("--results", default=os.environ.get("RECD_BENCH_RESULTS", os.path.join(REPO, "bench", "RESULTS.md")),
                   help="results file ($RECD_BENCH_RESULTS)")
    p.add_argument("--quick", action="store_true", help="a small run that checks the harness (seconds)")
    p.add_argument("--duration", type=int, default=0, help="seconds per wrk run (default 10; QUICK 1)")
    p.add_argument("--deep", type=int, default=0, help="pages to walk for the deep page")
    p.add_argument("--recd", default=None, help="the recd binary (default build/recd)")
    p.add_argument("--only", choices=["import"], help="run one case alone (prints, does not write results)")
    p.add_argument("--rounds", type=int, default=0, help="import rounds (default 2); over 2 the order rotates")
    p.add_argument("--recd-base", default=None, help="a second recd binary whose import joins the rounds")
    a = p.parse_args()
    try:
        Bench(a).main()
    except (RuntimeError, subprocess.CalledProcessError, OSError) as e:
        log("FAILED: %s" % e)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
