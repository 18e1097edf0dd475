#!/usr/bin/python3
"""Concurrent calls against recd's SIP/RTP path, with SIPp as the caller on the same machine.

    make bench-calls [LEVELS=50,100,...] [SECONDS=60] [QUICK=1]
    /usr/bin/python3 bench/calls.py [--levels L] [--seconds S] [--rates R] [--quick] [--no-write]

Two ramps:

1. Concurrency. For each level N, a fresh endpoint and one SIPp run place N calls (bench/uac_rtp.xml)
   at a setup rate that has them all up within the first part of the call. Every call streams
   S seconds of G.711 u-law (SIPp's rtp_stream, one loop of a file of exactly S*50 packets, so SIPp
   sends S*50 packets per call), and hangs up after S + 10 s. While all N calls are up, the bench
   samples /proc: the endpoint's CPU (whole process and its busiest thread, the one running
   libre's loop), its RSS, SIPp's CPU, and the kernel's drop counter of every UDP socket in the
   endpoint's RTP range. When SIPp is done the endpoint stops and reports each call's counters: a
   call is complete when it received every packet sent (received == S*50, lost == 0, nothing late
   or duplicated) and delivered S*8000 samples, the length its recording would have.
   The ramp stops at the first level with a lost packet, an incomplete call or a failed SIPp call.

2. Setup rate. Short calls (bench/uac_setup.xml: INVITE, 200, ACK, 1 s, BYE) at increasing rates
   for 10 s each, until SIPp reports a failed call or cannot reach the rate; the INVITE-to-200
   time is SIPp's response time.

The endpoint is build/bench/sip_sink (bench/sip_sink.c): the SIP endpoint and RTP path of recd
(src/voice/sip.c, rtp_rx.c) with a handler that counts audio and records nothing.

Environment: RECD_BENCH_DIR (run folder, default /var/tmp/recd-bench), RECD_BENCH_RESULTS (default
bench/RESULTS.md). Nothing here asserts on timings; the exit status is non-zero only when the
harness itself failed.
"""

import argparse
import csv
import datetime as dt
import math
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SINK = os.path.join(REPO, "build", "bench", "sip_sink")
MARK_BEGIN = "<!-- bench-calls:begin %s (written by bench/calls.py; edit outside the markers) -->"
MARK_END = "<!-- bench-calls:end %s -->"
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
RTP_LO, RTP_HI = 20000, 29999
MEDIA_PORT = 6000
# SIPp hangs up this long after the stream's nominal end: rtp_stream sends late packets in a burst
# when its threads were kept off the CPU, and a BYE before the last of them would cut the stream.
HANGUP_MARGIN_S = 10.0
# Scheduling priority of the endpoint and SIPp (see --nice), and the SCHED_FIFO priority of the
# endpoint's media thread (see --rt, 0 for none), and whether calls are recorded (--record).
NICE = 0
RT = 0
RECORD = False


def realtime(pid):
    """Puts the process's media thread (recd-sip) in SCHED_FIFO at RT, as Asterisk's -p and
    FreeSWITCH's -rp do for theirs. On this shared machine the load from other sessions (8 to 12 on
    2 cores) kept the thread waiting on the run queue 0.5 to 1 s in every second whatever its nice
    value (/proc/PID/task/TID/schedstat), until its sockets overflowed; with SCHED_FIFO it waits
    under 10 ms per second. Only that thread is raised: it never blocks and needs under a core."""
    if not RT:
        return
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            name = open("/proc/%d/task/%s/comm" % (pid, tid)).read().strip()
        except OSError:
            continue
        if name == "recd-sip":
            subprocess.run(["chrt", "-f", "-p", str(RT), tid], check=True, stdout=subprocess.DEVNULL)
            return
    raise RuntimeError("no recd-sip thread in %d" % pid)


def niced(cmd, rt=0):
    """`cmd` run in SCHED_FIFO at `rt` when given, else at NICE: other sessions' builds share these 2 cores, and at the default priority a
    media loop that needs half a core gets a fair share of a machine with a load of 8 (a quarter of
    a core) and its sockets overflow. The priority only matters when the machine is oversubscribed."""
    if rt:
        return ["chrt", "-f", str(rt)] + cmd
    return ["nice", "-n", str(NICE)] + cmd if NICE else cmd


def log(msg):
    print("bench-calls: " + msg, file=sys.stderr, flush=True)


def free_port():
    """A port free for UDP and TCP on 127.0.0.1."""
    for _ in range(50):
        t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        t.bind(("127.0.0.1", 0))
        port = t.getsockname()[1]
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            u.bind(("127.0.0.1", port))
        except OSError:
            continue
        finally:
            u.close()
            t.close()
        return port
    raise RuntimeError("no free port")


def free_udp_pair():
    """An even UDP port whose successor is free too (SIPp's media socket, and +2 for video)."""
    for _ in range(100):
        p = free_port() & ~1
        socks = []
        try:
            for q in (p, p + 1, p + 2, p + 3):
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                socks.append(s)
                s.bind(("127.0.0.1", q))
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
        return p
    raise RuntimeError("no free media port")


# --------------------------------------------------------------------------- /proc

def proc_cpu(pid):
    """User + system CPU seconds of a process (all its threads), or None when it is gone."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK
    except (OSError, IndexError):
        return None


def thread_cpu(pid):
    """{tid: (name, cpu seconds)} for every thread of pid."""
    out = {}
    try:
        tids = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return out
    for tid in tids:
        try:
            with open("/proc/%d/task/%s/stat" % (pid, tid)) as f:
                raw = f.read()
            name = raw[raw.index("(") + 1:raw.rindex(")")]
            fields = raw.rsplit(")", 1)[1].split()
            out[int(tid)] = (name, (int(fields[11]) + int(fields[12])) / CLK_TCK)
        except (OSError, ValueError, IndexError):
            pass
    return out


def proc_rss(pid):
    """Resident set size in bytes."""
    try:
        with open("/proc/%d/statm" % pid) as f:
            return int(f.read().split()[1]) * PAGE
    except (OSError, IndexError):
        return None


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def udp_drops(lo, hi):
    """{(port, inode): drops} for every IPv4 UDP socket bound to a port in lo..hi."""
    out = {}
    with open("/proc/net/udp") as f:
        next(f)
        for line in f:
            parts = line.split()
            if len(parts) < 13:
                continue
            port = int(parts[1].split(":")[1], 16)
            if lo <= port <= hi:
                out[(port, parts[9])] = int(parts[12])
    return out


def udp_snmp():
    """The kernel's UDP counters (system-wide: other processes' drops show here too)."""
    with open("/proc/net/snmp") as f:
        rows = [line.split() for line in f if line.startswith("Udp:")]
    return dict(zip(rows[0][1:], (int(v) for v in rows[1][1:])))


# --------------------------------------------------------------------------- the endpoint

class Sink:
    """build/bench/sip_sink on free ports; its END lines parsed when it stops."""

    def __init__(self, run_dir, max_calls):
        self.port = free_port()
        record = ["--record", os.path.join(run_dir, "data")] if RECORD else []
        self.out_path = os.path.join(run_dir, "sink.out")
        self.err_path = os.path.join(run_dir, "sink.err")
        self.proc = subprocess.Popen(niced(
            [SINK, "--port", str(self.port), "--rtp", "%d-%d" % (RTP_LO, RTP_HI), "--number", "bench",
             "--max-calls", str(max_calls), "--invite-rate", "100000", "--invite-burst", "100000"] + record),
            stdout=open(self.out_path, "w"), stderr=open(self.err_path, "w"))
        deadline = time.time() + 10
        while time.time() < deadline:
            if open(self.out_path).read().startswith("READY"):
                realtime(self.pid)
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        else:
            self.proc.kill()
        raise RuntimeError("sip_sink did not start: " + open(self.err_path).read()[-2000:])

    @property
    def pid(self):
        return self.proc.pid

    def stop(self):
        """Stops the endpoint and returns one dict of counters per ended call."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                # Recorded calls are finished (WAV written and synced, row completed) after they end.
                self.proc.wait(timeout=600 if RECORD else 30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise RuntimeError("sip_sink did not stop on SIGTERM")
        calls = []
        recs = []
        for line in open(self.out_path):
            parts = line.split()
            if line.startswith("END "):
                c = {k: int(v) for k, v in (p.split("=") for p in parts[2:])}
                c["reason"] = int(parts[1])
                calls.append(c)
            elif line.startswith("REC "):
                recs.append((parts[1], int(parts[2].split("=")[1])))
        # The recorder logs a recording whose ring overflowed (audio replaced by silence).
        self.overflows = sum(1 for line in open(self.err_path) if "faster than the disk" in line)
        self.recs = recs
        return calls


# --------------------------------------------------------------------------- SIPp

def ulaw(sample):
    """G.711 u-law of a 16-bit sample."""
    bias = 0x84
    if sample < 0:
        sample, mask = -sample, 0x7F
    else:
        mask = 0xFF
    sample = min(sample + bias, 0x7FFF)
    seg = max(0, sample.bit_length() - 8)
    return ((seg << 4) | ((sample >> (seg + 3)) & 0x0F)) ^ mask


def write_audio(path, seconds):
    """`seconds` of u-law: a tone that steps through 8 frequencies, one per second, repeating."""
    table = {}
    out = bytearray()
    for i in range(seconds * 8000):
        f = (400, 500, 630, 800, 1000, 1250, 1600, 2000)[(i // 8000) % 8]
        key = (f, i % 8000)
        if key not in table:
            table[key] = ulaw(int(8000 * math.sin(2 * math.pi * f * (i % 8000) / 8000)))
        out.append(table[key])
    with open(path, "wb") as fh:
        fh.write(out)


def sipp_cmd(scenario, sink_port, rate, limit, total, pause_ms, run_dir, timeout_s):
    # SIPp's stream threads need the CPU on time as much as recd's media thread does; below it.
    return niced(["sipp", "127.0.0.1:%d" % sink_port, "-sf", os.path.join(REPO, "bench", scenario), "-s", "bench",
            "-i", "127.0.0.1", "-mi", "127.0.0.1", "-p", str(free_port()), "-mp", str(free_udp_pair()),
            "-t", "u1", "-r", str(rate), "-l", str(limit), "-m", str(total), "-d", str(pause_ms),
            "-rtp_threadtasks", "50", "-max_socket", "65000",
            "-nostdin", "-timeout", "%ds" % timeout_s, "-timeout_error",
            "-trace_stat", "-fd", "1", "-stf", os.path.join(run_dir, "sipp.csv"),
            "-trace_err", "-error_file", os.path.join(run_dir, "sipp.err"),
            "-trace_screen", "-screen_file", os.path.join(run_dir, "sipp.screen")], rt=RT // 2)


def sipp_stats(run_dir):
    """The last row of SIPp's statistics CSV as a dict."""
    path = os.path.join(run_dir, "sipp.csv")
    if not os.path.exists(path):
        return {}
    with open(path) as f:
        rows = list(csv.reader(f, delimiter=";"))
    if len(rows) < 2:
        return {}
    return dict(zip(rows[0], rows[-1]))


def rtt_p99(st):
    """The bucket bound under which 99 % of INVITE-to-200 times fell (SIPp's repartition), in ms."""
    buckets = []
    for k, v in st.items():
        m = re.match(r"ResponseTimeRepartition1_(<|>=)(\d+)$", k)
        if m and v:
            buckets.append((int(m.group(2)) + (1 if m.group(1) == ">=" else 0), int(v), m.group(1) + m.group(2)))
    total = sum(b[1] for b in buckets)
    seen = 0
    for bound, count, label in sorted(buckets):
        seen += count
        if total and seen >= 0.99 * total:
            return label
    return "-"


def hms_ms(v):
    """SIPp's 'HH:MM:SS:uuuuuu' response times, in ms."""
    try:
        h, m, s, us = (int(x) for x in v.split(":"))
        return ((h * 60 + m) * 60 + s) * 1000 + us / 1000
    except (ValueError, AttributeError):
        return float("nan")


# --------------------------------------------------------------------------- one level

def run_level(n, seconds, run_dir, audio):
    """N concurrent calls of `seconds`; returns the measurements as a dict."""
    shutil.rmtree(run_dir, ignore_errors=True)
    os.makedirs(run_dir)
    shutil.copy(audio, os.path.join(run_dir, "bench.ulaw"))
    rate = max(50, math.ceil(n / (seconds * 0.4)))
    ramp_s = n / rate
    sink = Sink(run_dir, max_calls=n + 100)
    time.sleep(0.5)
    rss0 = proc_rss(sink.pid)
    snmp0 = udp_snmp()
    pause_ms = int((seconds + HANGUP_MARGIN_S) * 1000)
    cmd = sipp_cmd("uac_rtp.xml", sink.port, rate, n, n, pause_ms, run_dir, int(seconds + ramp_s + 120))
    t0 = time.time()
    sipp = subprocess.Popen(cmd, cwd=run_dir, stdout=open(os.path.join(run_dir, "sipp.out"), "w"),
                            stderr=subprocess.STDOUT)
    # The window in which every call is up: after the last setup, before the first BYE.
    w_begin = t0 + ramp_s + 2.0
    w_end = t0 + seconds - 1.0
    load = []
    drops = {}
    first = last = None
    rss_peak = 0
    while sipp.poll() is None:
        now = time.time()
        if w_begin <= now <= w_end:
            sample = (now, proc_cpu(sink.pid), thread_cpu(sink.pid), proc_cpu(sipp.pid), proc_rss(sink.pid))
            if first is None:
                first = sample
                load.append(loadavg())
            last = sample
            rss_peak = max(rss_peak, sample[4] or 0)
        for k, v in udp_drops(RTP_LO, RTP_HI + 1).items():
            drops[k] = max(drops.get(k, 0), v)
        time.sleep(0.5)
    load.append(loadavg())
    t_done = time.time()
    calls = sink.stop()
    recs = sink.recs
    overflows = sink.overflows
    data_mb = 0
    if RECORD:
        for root, _, files in os.walk(os.path.join(run_dir, "data")):
            data_mb += sum(os.path.getsize(os.path.join(root, f)) for f in files) / 1e6
        shutil.rmtree(os.path.join(run_dir, "data"), ignore_errors=True)
    snmp1 = udp_snmp()
    st = sipp_stats(run_dir)
    res = {"n": n, "rate": rate, "seconds": seconds, "calls": calls, "sipp": st, "load": load,
           "elapsed": t_done - t0, "rss0": rss0, "rss_peak": rss_peak,
           "kernel_drops": sum(drops.values()),
           "rcvbuf_errors": snmp1.get("RcvbufErrors", 0) - snmp0.get("RcvbufErrors", 0),
           "sipp_rc": sipp.returncode, "recs": recs, "overflows": overflows, "data_mb": data_mb}
    if first and last and last[0] - first[0] >= 2:
        span = last[0] - first[0]
        res["window"] = span
        res["cpu"] = (last[1] - first[1]) / span
        res["sipp_cpu"] = (last[3] - first[3]) / span
        busiest = max(last[2], key=lambda t: last[2][t][1] - first[2].get(t, ("", 0))[1])
        res["thread"] = last[2][busiest][0]
        res["thread_cpu"] = (last[2][busiest][1] - first[2].get(busiest, ("", 0))[1]) / span
    return res


def judge(res):
    """Adds the per-level verdict: packets expected, received, lost; complete calls."""
    per_call = res["seconds"] * 50
    calls = res["calls"]
    res["sent"] = per_call * res["n"]
    res["received"] = sum(c["received"] for c in calls)
    res["lost"] = sum(c["lost"] + c["late"] for c in calls)
    res["missing"] = sum(max(0, per_call - c["received"] + c["duplicates"]) for c in calls) + \
        per_call * max(0, res["n"] - len(calls))
    res["complete"] = sum(1 for c in calls if c["received"] == per_call and c["lost"] == 0 and c["late"] == 0
                          and c["duplicates"] == 0 and c["samples"] == res["seconds"] * 8000)
    res["ok_sipp"] = int(res["sipp"].get("SuccessfulCall(C)", 0) or 0)
    res["failed_sipp"] = int(res["sipp"].get("FailedCall(C)", 0) or 0)
    res["recorded"] = sum(1 for st, ms in res["recs"] if st == "completed" and ms == res["seconds"] * 1000)
    res["pass"] = (res["complete"] == res["n"] and res["lost"] == 0 and res["missing"] == 0
                   and res["failed_sipp"] == 0 and res["ok_sipp"] == res["n"]
                   and (not RECORD or (res["recorded"] == res["n"] and res["overflows"] == 0)))
    return res


# --------------------------------------------------------------------------- setup rate

def run_rate(rate, run_dir, seconds=10):
    shutil.rmtree(run_dir, ignore_errors=True)
    os.makedirs(run_dir)
    total = rate * seconds
    sink = Sink(run_dir, max_calls=rate * 4 + 100)
    time.sleep(0.3)
    cmd = sipp_cmd("uac_setup.xml", sink.port, rate, rate * 4, total, 1000, run_dir, seconds + 60)
    t0 = time.time()
    cpu0 = proc_cpu(sink.pid)
    p = subprocess.run(cmd, cwd=run_dir, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    elapsed = time.time() - t0
    cpu1 = proc_cpu(sink.pid)
    calls = sink.stop()
    st = sipp_stats(run_dir)
    ok = int(st.get("SuccessfulCall(C)", 0) or 0)
    failed = int(st.get("FailedCall(C)", 0) or 0)
    # The calls took `seconds` to place plus one call's length (1 s) to finish, when SIPp kept up.
    achieved = ok / max(0.001, elapsed - 1.0)
    return {"rate": rate, "ok": ok, "failed": failed, "ended": len(calls), "elapsed": elapsed,
            "achieved": achieved, "rtt_ms": hms_ms(st.get("ResponseTime1(C)")), "rtt_p99": rtt_p99(st),
            "rc": p.returncode,
            "cpu_per_call_ms": (cpu1 - cpu0) * 1000 / max(1, ok) if cpu0 is not None and cpu1 is not None else None,
            "pass": failed == 0 and ok == total and achieved >= 0.9 * rate}


# --------------------------------------------------------------------------- report

def fmt_level(r):
    per_call = r["seconds"] * 50
    cpu = r.get("cpu")
    pkts_s = r["n"] * 50
    row = "| %d | %d/s | %d | %d | %d | %d | %d/%d | %s | %s | %s | %s | %s | %s | %s | %s |" % (
        r["n"], r["rate"], r["sent"], r["received"], r["lost"], r["missing"], r["complete"], r["n"],
        "%d/%d" % (r["recorded"], r["n"]) if RECORD else "-",
        "%.0f %%" % (100 * cpu) if cpu is not None else "-",
        "%.0f %% (%s)" % (100 * r["thread_cpu"], r["thread"]) if cpu is not None else "-",
        "%.2f ms/s" % (1000 * cpu / r["n"]) if cpu is not None else "-",
        "%.1f us" % (1e6 * cpu / pkts_s) if cpu is not None else "-",
        "%.1f KB" % ((r["rss_peak"] - r["rss0"]) / 1024 / r["n"]) if r["rss_peak"] else "-",
        "%.0f %%" % (100 * r["sipp_cpu"]) if cpu is not None else "-",
        "PASS" if r["pass"] else "FAIL")
    return row


def report(levels, rates, seconds, started, load_before, load_after, nice, rt, rate_s):
    commit = subprocess.run(["git", "-C", REPO, "describe", "--always", "--dirty"], stdout=subprocess.PIPE,
                            text=True).stdout.strip()
    kernel = os.uname().release
    sipp_v = subprocess.run(["sipp", "-v"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True).stdout.strip().splitlines()
    sipp_v = next((l.strip() for l in sipp_v if "SIPp" in l), "SIPp")
    lines = ["## Concurrent calls, %s" % started.strftime("%Y-%m-%d %H:%M UTC"), "",
             "- commit `%s`, %d cores (`nproc`), Linux %s, %s" % (commit, os.cpu_count(), kernel, sipp_v),
             "- endpoint: `build/bench/sip_sink` (recd's SIP endpoint and RTP path, %s); caller: SIPp on the "
             "same cores, %d s calls of G.711 u-law via `rtp_stream`" % (
                 "every call recorded to disk by recd's recorder" if RECORD else "audio counted, nothing recorded",
                 seconds),
             "- load average before: %s, after: %s (other sessions share the machine); the endpoint and "
             "SIPp ran at nice %d%s" % (
                 load_before, load_after, nice,
                 ", except the endpoint's media thread, in SCHED_FIFO %d, and SIPp, in SCHED_FIFO %d (see "
                 "the method)" % (rt, rt // 2) if rt else ""),
             "",
             "| calls | setup rate | pkts SIPp sent | pkts recd got | lost/late | missing | complete | recorded "
             "| recd CPU | busiest thread | CPU per call | CPU per packet in | RSS per call | SIPp CPU | result |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    lines += [fmt_level(r) for r in levels]
    lines += ["", "Per level: load average at the window's start and end; kernel drops on recd's RTP sockets "
              "(`/proc/net/udp`); system-wide UDP receive-buffer errors (SIPp does not read the RTP recd "
              "sends it, so these count SIPp's socket too); SIPp's own counts.", ""]
    for r in levels:
        lines.append("- %d calls: load %s; window %.0f s; kernel drops on recd's sockets %d; UDP RcvbufErrors "
                     "(all sockets) %d; SIPp successful %d, failed %d, exit %d; recd RSS %.1f MB idle, %.1f MB "
                     "with every call up%s" % (
                         r["n"], " -> ".join(r["load"]), r.get("window", 0), r["kernel_drops"],
                         r["rcvbuf_errors"], r["ok_sipp"], r["failed_sipp"], r["sipp_rc"],
                         (r["rss0"] or 0) / 1e6, r["rss_peak"] / 1e6,
                         "; recordings: %d finished, %d completed at exactly %d s, %d ring overflows, %.0f MB "
                         "written" % (len(r["recs"]), r["recorded"], r["seconds"], r["overflows"], r["data_mb"])
                         if RECORD else ""))
    if rates:
        lines += ["", "Call setups (INVITE, 200, ACK, 1 s, BYE; %d s at each rate):" % rate_s, "",
                  "| target rate | achieved | successful | failed | INVITE->200 mean, 99 % | recd CPU per call | result |",
                  "|---|---|---|---|---|---|---|"]
        for r in rates:
            lines.append("| %d/s | %.0f/s | %d | %d | %.0f ms, %s ms | %s | %s |" % (
                r["rate"], r["achieved"], r["ok"], r["failed"], r["rtt_ms"], r["rtt_p99"],
                "%.2f ms" % r["cpu_per_call_ms"] if r["cpu_per_call_ms"] is not None else "-",
                "PASS" if r["pass"] else "FAIL"))
    return "\n".join(lines) + "\n"


def write_results(path, key, body):
    begin, end = MARK_BEGIN % key, MARK_END % key
    text = open(path).read() if os.path.exists(path) else "# recd benchmark results\n"
    block = begin + "\n" + body + end + "\n"
    if begin in text and end in text:
        a = text.index(begin)
        b = text.index(end) + len(end) + 1
        text = text[:a] + block + text[b:]
    else:
        text = text.rstrip("\n") + "\n\n" + block
    with open(path, "w") as f:
        f.write(text)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--levels", default="50,100,200,400,700,1000,1300,1600,2000")
    ap.add_argument("--seconds", type=int, default=60)
    ap.add_argument("--rates", default="25,50,100,200,400,800")
    ap.add_argument("--quick", action="store_true",
                    help="a check of the harness: 10 and 40 calls of 6 s hung up 4 s after the stream, setups at 20/s, "
                    "every level run whatever the one before gave")
    ap.add_argument("--no-write", action="store_true", help="print the table, leave RESULTS.md alone")
    ap.add_argument("--nice", type=int, default=-10 if os.geteuid() == 0 else 0,
                    help="nice value for the endpoint and SIPp (default -10 as root, else 0)")
    ap.add_argument("--rt", type=int, default=10 if os.geteuid() == 0 else 0,
                    help="SCHED_FIFO priority of the endpoint's media thread (default 10 as root; 0: none)")
    ap.add_argument("--record", action="store_true",
                    help="record every call with recd's recorder into a store in the run folder")
    ap.add_argument("--keep-going", action="store_true", help="run every level even after one fails")
    args = ap.parse_args()
    global HANGUP_MARGIN_S
    if args.quick:
        # A check of the harness (tests/e2e/test_bench_harness.py), not a measurement: every
        # level runs, so a loaded machine cannot leave a row out, and the shorter margin (a late
        # burst cut by the BYE shows as missing packets, nothing worse) saves 12 s of `make test`.
        args.levels, args.seconds, args.rates = "10,40", 6, "20"
        args.keep_going = True
        HANGUP_MARGIN_S = 4.0
    global NICE
    NICE = args.nice
    global RT, RECORD
    RT = args.rt
    RECORD = args.record
    levels = [int(x) for x in args.levels.split(",") if x]
    rates = [int(x) for x in args.rates.split(",") if x]
    if not os.path.exists(SINK):
        raise SystemExit("bench-calls: %s missing (make build/bench/sip_sink)" % SINK)
    base = os.path.join(os.environ.get("RECD_BENCH_DIR", "/var/tmp/recd-bench"), "calls")
    os.makedirs(base, exist_ok=True)
    audio = os.path.join(base, "bench-%ds.ulaw" % args.seconds)
    if not os.path.exists(audio):
        write_audio(audio, args.seconds)
    started = dt.datetime.now(dt.timezone.utc)
    load_before = loadavg()
    done = []
    for n in levels:
        log("%d concurrent calls of %d s (load %s)" % (n, args.seconds, loadavg()))
        r = judge(run_level(n, args.seconds, os.path.join(base, "level-%d" % n), audio))
        log(fmt_level(r))
        done.append(r)
        if not r["pass"] and not args.keep_going:
            break
    rate_res = []
    for rate in rates:
        log("call setups at %d/s (load %s)" % (rate, loadavg()))
        r = run_rate(rate, os.path.join(base, "rate-%d" % rate), seconds=3 if args.quick else 10)
        log("%d/s: achieved %.0f/s, %d ok, %d failed, INVITE->200 %.1f ms" % (
            rate, r["achieved"], r["ok"], r["failed"], r["rtt_ms"]))
        rate_res.append(r)
        if not r["pass"] and not args.keep_going:
            break
    body = report(done, rate_res, args.seconds, started, load_before, loadavg(), args.nice, args.rt,
                  3 if args.quick else 10)
    print(body)
    if not args.no_write:
        key = ("quick" if args.quick else "S=%d" % args.seconds) + (" RECORD" if args.record else "")
        write_results(os.environ.get("RECD_BENCH_RESULTS", os.path.join(REPO, "bench", "RESULTS.md")), key, body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
