#!/usr/bin/python3
"""How fast recd makes waveform peaks, in times real time (contract §10; src/media/peaks.c).

    make bench-peaks [QUICK=1]      (also the last part of `make bench`)
    /usr/bin/python3 bench/peaks.py [--seconds S] [--passes P] [--quick] [--no-write]

Runs build/bench/peaks (bench/peaks.c, the release build against build/librecd.a), which times
PASSES computations of the peaks of an S-second 8 kHz 16-bit WAV, mono and 2-channel, and prints
a table; then writes it, with the date, commit, cores and load average, into the results file
between its markers (the notes around them survive a re-run). Times real time is the audio's
length over the CPU time of one pass (the median pass; CPU time because other work shares the
cores), with the same over wall time beside it. The goal, >= 10,000x for an 8 kHz recording
(one pass over 16 KB a second of audio a channel), is judged on the rows that read a WAV, as
recd does when a recording's peaks are first asked for.

Environment: RECD_BENCH_RESULTS (default bench/RESULTS.md). Nothing here asserts on timings; the
exit status is non-zero only when the harness itself failed.
"""

import argparse
import datetime as dt
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import REPO, RESULTS, commit, loadavg, results_writer  # noqa: E402

BIN = os.path.join(REPO, "build", "bench", "peaks")
write_results = results_writer("bench-peaks", "bench/peaks.py")
GOAL = 10000
WHAT = {"wav": "WAV file -> .dat + .json", "feed": "samples in memory -> .dat + .json"}


def run(seconds, passes):
    out = subprocess.run([BIN, str(seconds), str(passes)], capture_output=True, text=True, check=True).stdout
    rows = []
    for line in out.splitlines():
        m = re.match(r"^peaks (\w+?)(\d)-(\d+) (.*)$", line)
        if not m:
            continue
        r = {k: float(v) for k, v in (kv.split("=") for kv in m.group(4).split())}
        r["kind"] = m.group(1)
        rows.append(r)
    if len(rows) != 5:
        raise RuntimeError("build/bench/peaks printed %d cases, not 5:\n%s" % (len(rows), out))
    return rows


def table(rows):
    head = ["case", "channels", "SamplesPerPixel", "CPU per pass", "x real time (CPU)", "PCM MB/s (CPU)",
            "wall per pass", "x real time (wall)", ".dat / .json bytes", "goal", "result"]
    body = []
    for r in rows:
        # A clock tick's floor, so that a pass too short to measure reads as very fast, not infinite.
        r["cpu_ms"], r["wall_ms"] = max(r["cpu_ms"], 1e-3), max(r["wall_ms"], 1e-3)
        x_cpu = r["seconds"] * 1000 / r["cpu_ms"]
        x_wall = r["seconds"] * 1000 / r["wall_ms"]
        pcm_mb = r["seconds"] * r["rate"] * r["channels"] * 2 / 1e6
        judged = r["kind"] == "wav"
        body.append([WHAT[r["kind"]], "%d" % r["channels"], "%d" % r["spp"], "%.2f ms" % r["cpu_ms"],
                     "%.0fx" % x_cpu, "%.0f" % (pcm_mb * 1000 / r["cpu_ms"]),
                     "%.2f ms" % r["wall_ms"], "%.0fx" % x_wall, "%d / %d" % (r["dat"], r["json"]),
                     ">= %dx" % GOAL if judged else "-",
                     ("PASS" if x_cpu >= GOAL else "FAIL") if judged else "-"])
    return head, body


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=int, default=1800, help="length of the recording (default 1800)")
    ap.add_argument("--passes", type=int, default=20, help="timed passes per case (default 20)")
    ap.add_argument("--quick", action="store_true", help="a check of the harness: 60 s, 3 passes")
    ap.add_argument("--no-write", action="store_true", help="print the table, leave RESULTS.md alone")
    args = ap.parse_args()
    if args.quick:
        args.seconds, args.passes = 60, 3
    if not os.path.exists(BIN):
        raise SystemExit("bench-peaks: %s missing (make build/bench/peaks)" % BIN)
    date = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    load_before = loadavg()
    try:
        rows = run(args.seconds, args.passes)
    except (subprocess.CalledProcessError, RuntimeError, OSError) as e:
        print("bench-peaks: FAILED: %s" % e, file=sys.stderr)
        return 1
    head, body = table(rows)
    key = "quick" if args.quick else "S=%d" % args.seconds
    lines = ["## Waveform peaks, %d s of 8 kHz 16-bit audio%s, %s" % (args.seconds, " (QUICK)" if args.quick else "",
                                                                       date), "",
             "- commit `%s`, %d cores (`nproc`), release build (`build/bench/peaks`, bench/peaks.c); load "
             "average before: %s, after: %s" % (commit(), os.cpu_count(), load_before, loadavg()),
             "- per case the median of %d passes; x real time = audio length / time per pass; the goal "
             "(>= %dx for an 8 kHz recording) is judged on CPU time, which other work on the cores does "
             "not inflate; the WAV is in memory (a memfd), as a recording in the page cache" % (args.passes, GOAL),
             ""]
    lines.append("| " + " | ".join(head) + " |")
    lines.append("|" + "---|" * len(head))
    lines += ["| " + " | ".join(r) + " |" for r in body]
    text = "\n".join(lines) + "\n"
    print(text)
    if not args.no_write:
        write_results(RESULTS, key, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
