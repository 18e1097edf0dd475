#!/usr/bin/python3
"""The web console in headless Chromium, on a store of N recordings (issue 16).

    make bench-console [N=100000] [QUICK=1]      (also the last part of `make bench`)
    /usr/bin/python3 bench/console.py [--n N] [--dir DIR] [--results PATH] [--quick]

Measures, against build/recd on bench.py's data set (build/bench/gen; one account, N recordings,
20 of them 60 s long):

- first list render: from the navigation start to /console/ (signed in already in the tab, so the
  page signs in from sessionStorage) to the first page of 50 rows on the screen: the page's own
  performance mark `recd:list-rendered`, set after the frame that drew them. Its time origin is
  the navigation's start, as the Performance API defines it, so Chromium's own start-up is never
  in it. Two figures:
  - the first load: the page's very first load in a fresh Chromium (new profile: empty HTTP
    cache, no V8 code cache), in each of 5 Chromiums, median. Before it each browser has shown
    about:blank and finished its own start-up work (its CPU settles; headless Chromium builds its
    WebUI pages for seconds after launch) and has opened recd's 404 page for a name the console
    does not have (the origin's sessionStorage needs a page of that origin; it runs no script of
    the console's). A user's browser is running already; a load of the console itself before the
    measured one would not be a first load.
  - later loads: the page loaded again in the same tab (HTTP cache answers 304, code cache warm).
  Each load's steps (navigation and resource timing, paint timing, the page's marks
  `recd:script-start`, `api-sent`, `api-answered`, `rows-drawn`) are printed as medians.
- waveform drawn: from the click that opens a 60 s recording to its waveform on the canvas
  (`recd:open` to `recd:wave-drawn`): the first open of each recording (recd computes its peaks
  on that request) and a second open (peaks kept).
- page weight: the bytes of index.html, console.js, player.js and console.css as served, plain and
  gzip, and the first screen's share (all but player.js, which is imported later).
- CPU: recd's and Chromium's (every process of it) CPU time per operation, which stays honest on
  a busy machine where the elapsed times do not.

Goals: each time under 300 ms, page weight under 60 KB. Nothing asserts on a timing; the exit
status is non-zero only when the harness itself fails. Results go to the results file between
this script's own markers.
"""

import argparse
import base64
import datetime as dt
import http.client
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import (BENCH_DIR, REPO, RESULTS, children, commit, cpu_seconds, dataset, logger,  # noqa: E402
                    results_writer, start_recd, terminate)

GOAL_MS = 300.0
GOAL_WEIGHT = 60 * 1024
log = logger("bench-console")
write_results = results_writer("bench-console", "bench/console.py", log)


def browser(profile):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--window-size=1280,1000", "--force-device-scale-factor=1", "--user-data-dir=" + profile):
        opts.add_argument(arg)
    service = Service("/usr/bin/chromedriver")
    d = webdriver.Chrome(service=service, options=opts)
    d.set_script_timeout(60)
    return d, service.process.pid


def wait(d, script, what, timeout=60.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = d.execute_script(script)
        if v:
            return v
        time.sleep(0.01)
    raise RuntimeError("timed out waiting for " + what)


# One load's steps, in ms from its navigation start (the Performance API's time origin): the
# navigation and resource timing entries, the paint entries and the page's own marks.
BREAKDOWN_JS = """
const out = {}, nav = performance.getEntriesByType('navigation')[0];
const mark = (n) => { const e = performance.getEntriesByName(n); return e.length ? e[e.length - 1].startTime : null; };
out['html: request sent'] = nav.requestStart;
out['html: first byte'] = nav.responseStart;
out['html: last byte'] = nav.responseEnd;
for (const r of performance.getEntriesByType('resource')) {
  const name = new URL(r.name).pathname.replace(/.*\\//, '').replace(/[.]json$/, '.json (API)');
  if (out[name + ': asked'] !== undefined) continue;
  out[name + ': asked'] = r.startTime;
  out[name + ': answered'] = r.responseEnd;
}
for (const p of performance.getEntriesByType('paint')) out['paint: ' + p.name] = p.startTime;
out['DOM interactive'] = nav.domInteractive;
out['DOMContentLoaded end'] = nav.domContentLoadedEventEnd;
for (const n of ['script-start', 'api-sent', 'api-answered', 'rows-drawn', 'list-rendered'])
  out['mark: ' + n] = mark('recd:' + n);
return out;
"""


def mark(d, name):
    return d.execute_script("var e = performance.getEntriesByName(arguments[0]); "
                            "return e.length ? e[e.length - 1].startTime : null", name)


class Run:
    def __init__(self, a):
        self.a = a
        self.quick = a.quick
        self.n = a.n or (2000 if a.quick else 100000)
        self.renders = a.renders or (3 if a.quick else 14)
        self.fresh = a.fresh or (1 if a.quick else 5)
        self.waves = a.waves or (2 if a.quick else 10)
        self.recd_bin = os.path.abspath(a.recd or os.path.join(REPO, "build", "recd"))
        self.base = os.path.abspath(a.dir)
        self.rows = []
        self.steps = []

    def get(self, path, headers=None):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            c.request("GET", path, headers=headers or {})
            r = c.getresponse()
            return r.status, dict(r.getheaders()), r.read()
        finally:
            c.close()

    def cpu(self):
        return cpu_seconds([self.recd.pid]), cpu_seconds(self.chrome_pids())

    def chrome_pids(self):
        # chromedriver's children are Chromium's browser process; its children are the rest.
        out, todo = [], [self.driver_pid]
        while todo:
            p = todo.pop()
            kids = children(p)
            out += kids
            todo += kids
        return out

    def weight(self):
        """Every file's bytes as served, plain and gzip; and the first screen's (all but the
        player's code, which is imported later). A file an older build lacks (--recd) is skipped."""
        plain = gz = first = 0
        for name in ("", "console.js", "player.js", "console.css"):
            st, h, body = self.get("/console/" + name)
            if st == 404 and name == "player.js":
                continue
            assert st == 200, (name, st)
            plain += len(body)
            if name != "player.js":
                first += len(body)
            st, h, body = self.get("/console/" + name, {"Accept-Encoding": "gzip"})
            assert st == 200 and h.get("Content-Encoding") == "gzip", name
            gz += len(body)
        self.weight_first = first
        self.weight_plain, self.weight_gz = plain, gz

    def sign_in_storage(self, d):
        d.get(self.url + "/console/blank")
        d.execute_script("sessionStorage.setItem('recd.console', JSON.stringify(arguments[0]))",
                         {"account": self.meta["account_sid"], "key": "", "secret": self.meta["auth_token"]})

    def settle(self, d):
        """The warm-up a user's browser has had: Chromium started, an about:blank page shown, and
        its own start-up work (profile, caches, GPU process) over: until a quarter second passes
        in which all of Chromium's processes use under 10 ms of CPU (at most 10 s; 2 s for QUICK,
        which checks the harness, not the figures, inside make test's time)."""
        d.get("about:blank")
        end = time.monotonic() + (2 if self.quick else 10)
        last = cpu_seconds(self.chrome_pids())
        while time.monotonic() < end:
            time.sleep(0.25)
            now = cpu_seconds(self.chrome_pids())
            if now - last < 0.010:
                break
            last = now

    def load(self, d):
        """One navigation to the page, signed in from sessionStorage, to 50 rows on the screen: the
        page's own mark `recd:list-rendered` (ms from the navigation start), and its steps."""
        d.get(self.url + "/console/")
        wait(d, "return document.querySelectorAll('#rec-rows tr').length === 50 && "
                "performance.getEntriesByName('recd:list-rendered').length", "the first page drawn")
        t = mark(d, "recd:list-rendered")
        if t is None:
            raise RuntimeError("no recd:list-rendered mark")
        return t, d.execute_script(BREAKDOWN_JS)

    def first_loads(self, profile_base):
        """The page's first load in each of `fresh` new Chromiums (new profile: empty HTTP cache,
        no code cache). Browser start-up is not in the figure: the Performance API's times start at
        the navigation, and each browser settles (see settle) before it. The last browser stays
        open for the rest of the bench."""
        self.first_ms, self.first_steps, self.launch_ms, self.first_cpu = [], [], [], []
        d = None
        for i in range(self.fresh):
            if d is not None:
                d.quit()
            profile = os.path.join(profile_base, "p%d" % i)
            t0 = time.monotonic()
            d, self.driver_pid = browser(profile)
            self.launch_ms.append((time.monotonic() - t0) * 1000)
            self.settle(d)
            # The page's origin, for sessionStorage: recd's 404 for a name the console does not
            # have (JSON, no script; not the console's page or files).
            self.sign_in_storage(d)
            c0 = self.cpu()
            t, steps = self.load(d)
            c1 = self.cpu()
            self.first_cpu.append([(c1[k] - c0[k]) * 1000 for k in (0, 1)])
            self.first_ms.append(t)
            self.first_steps.append(steps)
        return d

    def list_renders(self, d):
        """The page loaded again in the same tab, `renders` times: the HTTP cache (answers 304)
        and V8's code cache warm, as for someone who comes back to the console."""
        times, c0 = [], self.cpu()
        for i in range(self.renders):
            t, steps = self.load(d)
            times.append(t)
            self.steps.append(steps)
        c1 = self.cpu()
        self.list_ms = times
        self.list_cpu = [(c1[k] - c0[k]) * 1000 / self.renders for k in (0, 1)]

    def open_by_filter(self, d, sid, call, day):
        """Shows the one recording (its call on its day) in the list, ready to be clicked."""
        d.execute_script("""
            for (const [id, v] of Object.entries(arguments[0])) document.getElementById(id).value = v;
            document.getElementById('rec-rows').dataset.page = '';
            document.getElementById('f-apply').click();""", {"f-call": call, "f-from": day, "f-to": day})
        wait(d, "return document.querySelector(\"#rec-rows tr[data-sid='%s']\")" % sid, "row " + sid)

    def waveforms(self, d):
        """Each: the click on a 60 s recording's row to its waveform drawn; first and second open."""
        auth = "Basic " + base64.b64encode(("%s:%s" % (self.meta["account_sid"], self.meta["auth_token"]))
                                           .encode()).decode()
        sids = self.meta["long_sids"][:self.waves]
        targets = []
        for sid in sids:
            st, _, body = self.get("/2010-04-01/Accounts/%s/Recordings/%s.json" % (self.meta["account_sid"], sid),
                                   {"Authorization": auth})
            r = json.loads(body)
            day = dt.datetime.strptime(r["date_created"], "%a, %d %b %Y %H:%M:%S %z").strftime("%Y-%m-%d")
            targets.append((sid, r["call_sid"], day))
        self.sign_in_storage(d)
        d.get(self.url + "/console/")
        wait(d, "return document.querySelectorAll('#rec-rows tr').length === 50", "the first page")
        first, again, cpu_first, cpu_again = [], [], [0.0, 0.0], [0.0, 0.0]
        for rnd, out, cpu in ((0, first, cpu_first), (1, again, cpu_again)):
            for sid, call, day in targets:
                self.open_by_filter(d, sid, call, day)
                c0 = self.cpu()
                d.execute_script("document.querySelector(\"#rec-rows tr[data-sid='%s']\").click()" % sid)
                wait(d, "return document.getElementById('wave-canvas').dataset.drawn === '%s'" % sid, "waveform")
                c1 = self.cpu()
                for k in (0, 1):
                    cpu[k] += (c1[k] - c0[k]) * 1000 / len(targets)
                ms = d.execute_script("var m = performance.getEntriesByName('recd:wave');"
                                      "return m.length ? m[m.length - 1].duration : null")
                out.append(ms)
                d.execute_script("document.getElementById('p-close').click()")
        self.wave_first, self.wave_again = first, again
        self.wave_cpu_first, self.wave_cpu_again = cpu_first, cpu_again

    def main(self):
        self.ds, self.meta = dataset(self.base, self.n, log)
        run_dir = os.path.join(self.base, "run")
        os.makedirs(run_dir, exist_ok=True)
        recd_log = open(os.path.join(run_dir, "recd-console.log"), "wb")
        self.recd, self.port = start_recd(self.recd_bin, os.path.join(self.ds, "data"), recd_log, what="recd")
        self.url = "http://127.0.0.1:%d" % self.port
        profile = tempfile.mkdtemp(prefix="recd-bench-chromium-")
        d = None
        try:
            self.weight()
            d = self.first_loads(profile)
            self.list_renders(d)
            self.waveforms(d)
        finally:
            if d is not None:
                d.quit()
            shutil.rmtree(profile, ignore_errors=True)
            terminate(self.recd, 15)
        self.report()

    def report(self):
        med = statistics.median
        rows = [
            ("first list render, first load (median of %d Chromiums)" % len(self.first_ms), med(self.first_ms),
             [med(c[k] for c in self.first_cpu) for k in (0, 1)]),
            ("first list render, later loads (median of %d)" % len(self.list_ms), med(self.list_ms), self.list_cpu),
            ("waveform drawn, first open (peaks made)", med(self.wave_first), self.wave_cpu_first),
            ("waveform drawn, again (peaks kept)", med(self.wave_again), self.wave_cpu_again),
        ]
        date = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        chrome = subprocess.run(["/usr/bin/chromium", "--version"], capture_output=True, text=True).stdout.strip()
        load = os.getloadavg()[0]
        head = "console bench: N=%d%s, %s, commit %s, %d cores, load %.1f, %s" % (
            self.n, " QUICK" if self.quick else "", date, commit(), os.cpu_count(), load, chrome)
        print(head)
        print("%-52s %10s %22s %8s" % ("case", "time", "CPU recd / chromium", "goal"))
        lines = ["## Console, N = %d%s" % (self.n, " (QUICK)" if self.quick else ""), "",
                 "%s; `make bench-console`." % head.replace("console bench: ", ""), "",
                 "| case | time | CPU per operation: recd / Chromium | goal < 300 ms |", "|---|---|---|---|"]
        met = 0
        for name, ms, cpu in rows:
            ok = ms < GOAL_MS
            met += ok
            c = "%.1f / %.0f ms" % (cpu[0], cpu[1]) if cpu else "-"
            print("%-52s %8.0f ms %22s %8s" % (name, ms, c, "PASS" if ok else "FAIL"))
            lines.append("| %s | %.0f ms | %s | %s |" % (name, ms, c, "PASS" if ok else "FAIL"))
        ok = self.weight_plain < GOAL_WEIGHT
        met += ok
        print("%-52s %8.1f KB %22s %8s" % ("page weight (HTML+JS+CSS)", self.weight_plain / 1024,
                                          "gzip %.1f KB" % (self.weight_gz / 1024), "PASS" if ok else "FAIL"))
        print("%-52s %8.1f KB" % ("  of which the first screen's", self.weight_first / 1024))
        lines.append("| page weight (HTML+JS+CSS) | %.1f KB (gzip %.1f KB); the first screen's %.1f KB | - | %s (< 60 KB) |" % (
            self.weight_plain / 1024, self.weight_gz / 1024, self.weight_first / 1024, "PASS" if ok else "FAIL"))
        print("%d of %d targets met" % (met, len(rows) + 1))
        steps = self.breakdown()
        for line in steps:
            print(line)
        each = "First loads, one per fresh Chromium: %s ms (Chromium's start-up before each, not counted: %s ms). " \
            "Later loads: %s ms. Waveforms, first opens: %s ms; again: %s ms." % (
                ", ".join("%.0f" % t for t in self.first_ms), ", ".join("%.0f" % t for t in self.launch_ms),
                ", ".join("%.0f" % t for t in self.list_ms), ", ".join("%.0f" % t for t in self.wave_first),
                ", ".join("%.0f" % t for t in self.wave_again))
        print(each)
        lines += ["", each, ""]
        lines += ["The list render step by step, in ms from the navigation start (Performance API: navigation and "
                  "resource timing, paint timing, the page's marks), medians of the first loads and of the later "
                  "loads:", "", "```"] + steps + ["```", ""]
        if not self.a.no_write:
            write_results(self.a.results, "N=%d%s" % (self.n, " QUICK" if self.quick else ""), "\n".join(lines))


    def breakdown(self):
        """The list loads' steps: the median time of each in the first loads and in the later ones."""
        def medians(loads):
            keys = {k for s in loads for k, v in s.items() if v is not None}
            return {k: statistics.median([s[k] for s in loads if s.get(k) is not None]) for k in keys}
        first, later = medians(self.first_steps), medians(self.steps)
        out = ["%-34s %8s %8s" % ("step", "first", "later")]
        for k in sorted(set(first) | set(later), key=lambda k: first.get(k, later.get(k))):
            f, l = first.get(k), later.get(k)
            out.append("%-34s %8s %8s" % (k, "-" if f is None else "%.1f" % f, "-" if l is None else "%.1f" % l))
        return out


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=0, help="recordings in the data set (default 100000; QUICK 2000)")
    p.add_argument("--dir", default=BENCH_DIR,
                   help="data sets and the run folder")
    p.add_argument("--results", default=RESULTS, help="the results file")
    p.add_argument("--fresh", type=int, default=0, help="fresh Chromiums for the first-load figure (default 5; QUICK 1)")
    p.add_argument("--renders", type=int, default=0, help="later loads of the list (default 14; QUICK 3)")
    p.add_argument("--waves", type=int, default=0, help="recordings opened for the waveform (default 10; QUICK 2)")
    p.add_argument("--quick", action="store_true", help="a small run that checks the harness")
    p.add_argument("--no-write", action="store_true", help="print the table, leave the results file alone")
    p.add_argument("--recd", default=None, help="the recd binary (default build/recd)")
    Run(p.parse_args()).main()


if __name__ == "__main__":
    main()
