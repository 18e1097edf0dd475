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
(src/voice/sip.c, rtp_rx.c) with a handler that counts audio and records nothing (--record: and
records every call with recd's recorder). With --serve it is the real server instead: build/recd
serve --sip, whose number `bench` asks a TwiML application run by this script (a separate process,
so that its CPU is counted apart) and gets <Record playBeep="false" timeout="0" trim="do-not-trim"
maxLength="S+60">: every call goes through the call engine, the webhook client, the recorder and
the Calls rows, as a customer's would. SIPp waits 500 ms after its ACK before it streams, so that
the recording (which starts when the engine runs <Record>, after the ACK) holds every packet; a
call passes when recd's end-of-call log line counts every packet and S*8000 samples, the action
request came (Digits=hangup) with a WAV of exactly S*8000 samples, and the status callback said
completed.

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

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import (BENCH_DIR, REPO, RESULTS, commit, free_port, loadavg, logger, proc_cpu,  # noqa: E402
                    recd_cli, results_writer, terminate, thread_cpu, wait_port)

SINK = os.path.join(REPO, "build", "bench", "sip_sink")
RECD = os.path.join(REPO, "build", "recd")
log = logger("bench-calls")
write_results = results_writer("bench-calls", "bench/calls.py", log)
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
SERVE = False
KEEP_DATA = False  # --keep-data: leave each level's recordings in its run folder
# --serve: SIPp waits this long after its ACK before streaming (see the module's docstring).
SERVE_LEAD_MS = 500


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

def proc_rss(pid):
    """Resident set size in bytes."""
    try:
        with open("/proc/%d/statm" % pid) as f:
            return int(f.read().split()[1]) * PAGE
    except (OSError, IndexError):
        return None


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
        # Recorded calls are finished (WAV written and synced, row completed) after they end.
        if not terminate(self.proc, 600 if RECORD else 30):
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


def twiml_app(run_dir, seconds):
    """The TwiML application of --serve, run as its own process (`calls.py --twiml-app DIR`): the
    voice URL records, the action hangs up, every request is appended to DIR/app.jsonl as
    {"path", "params"} (one line, flushed), and the port is written to DIR/app.port once it listens."""
    import json
    import threading
    import urllib.parse
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    record = ('<?xml version="1.0" encoding="UTF-8"?><Response><Record playBeep="false" timeout="0" '
              'trim="do-not-trim" maxLength="%d" action="/done"/></Response>' % (seconds + 60)).encode()
    hangup = b'<?xml version="1.0" encoding="UTF-8"?><Response><Hangup/></Response>'
    log = open(os.path.join(run_dir, "app.jsonl"), "a")
    mu = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def do_POST(self):
            n = int(self.headers.get("Content-Length") or 0)
            params = dict(urllib.parse.parse_qsl(self.rfile.read(n).decode(), keep_blank_values=True))
            body = {"/voice": record, "/done": hangup}.get(self.path, b"")
            self.send_response(200)
            self.send_header("Content-Type", "text/xml")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            with mu:
                log.write(json.dumps({"path": self.path, "params": params}) + "\n")
                log.flush()

    ThreadingHTTPServer.request_queue_size = 1024
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    with open(os.path.join(run_dir, "app.port.tmp"), "w") as f:
        f.write(str(httpd.server_address[1]))
    os.rename(os.path.join(run_dir, "app.port.tmp"), os.path.join(run_dir, "app.port"))
    signal.signal(signal.SIGTERM, lambda *a: os._exit(0))
    httpd.serve_forever()


def app_requests(run_dir):
    """What the TwiML application has been asked so far: a list of {"path", "params"}."""
    import json
    path = os.path.join(run_dir, "app.jsonl")
    if not os.path.exists(path):
        return []
    out = []
    for line in open(path):
        if line.endswith("\n"):
            out.append(json.loads(line))
    return out


def wav_samples(path):
    """The samples in a mono 16-bit WAV's data chunk (from its header), or -1."""
    with open(path, "rb") as f:
        head = f.read(4096)
    pos = 12
    while pos + 8 <= len(head):
        cid, size = head[pos:pos + 4], int.from_bytes(head[pos + 4:pos + 8], "little")
        if cid == b"data":
            return size // 2
        pos += 8 + size + (size & 1)
    return -1


def first_tone_ms(path):
    """How long the stream's first tone (400 Hz, the first second of bench.ulaw) lasts at the start of
    a recording, in ms, to 20 ms: 1000 when the recording starts with the stream's first packet, less
    by what it missed at the start. Goertzel power at 400 and 500 Hz over each 20 ms packet."""
    import array
    with open(path, "rb") as f:
        f.seek(44)
        pcm = array.array("h", f.read(16000 * 2))

    def power(block, freq):
        k = 2 * math.cos(2 * math.pi * freq / 8000)
        s1 = s2 = 0.0
        for x in block:
            s1, s2 = x + k * s1 - s2, s1
        return s1 * s1 + s2 * s2 - k * s1 * s2
    for i in range(0, len(pcm) - 159, 160):
        block = pcm[i:i + 160]
        if power(block, 500) > power(block, 400):
            return i // 8
    return -1


def raise_nofile():
    """Three descriptors a call (RTP, RTCP, the recording's spool) and then some: up to the hard limit."""
    import resource
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


class Serve:
    """build/recd serve --sip on free ports, with its data folder in the run folder, one account and
    number `bench`, whose voice URL is the TwiML application (twiml_app) in its own process. The
    same interface as Sink: stop() returns each call's counters, from recd's end-of-call log lines."""

    def __init__(self, run_dir, max_calls, seconds):
        import json
        self.run_dir = run_dir
        self.seconds = seconds
        self.data = os.path.join(run_dir, "data")
        self.out_path = os.path.join(run_dir, "recd.out")
        self.err_path = os.path.join(run_dir, "recd.err")
        self.app = subprocess.Popen(niced([sys.executable, os.path.abspath(__file__), "--twiml-app", run_dir,
                                           "--seconds", str(seconds)]), stdin=subprocess.DEVNULL)
        port_file = os.path.join(run_dir, "app.port")
        deadline = time.time() + 10
        while not os.path.exists(port_file):
            if time.time() > deadline or self.app.poll() is not None:
                self.app.kill()
                raise RuntimeError("the TwiML application did not start")
            time.sleep(0.05)
        app_url = "http://127.0.0.1:%s" % open(port_file).read()
        acc = json.loads(recd_cli(RECD, self.data, "account", "create", "--name", "bench"))
        recd_cli(RECD, self.data, "number", "add", "--account", acc["sid"], "--number", "bench",
                 "--voice-url", app_url + "/voice", "--status-callback", app_url + "/status")
        self.port = free_port()
        self.http = free_port()
        self.proc = subprocess.Popen(niced(
            [RECD, "serve", "--listen", "127.0.0.1:%d" % self.http, "--data", self.data,
             "--sip", "127.0.0.1:%d" % self.port, "--rtp-ports", "%d-%d" % (RTP_LO, RTP_HI),
             "--sip-max-calls", str(max_calls), "--sip-invite-rate", "100000", "--sip-invite-burst", "100000"]),
            stdout=open(self.out_path, "w"), stderr=open(self.err_path, "w"), preexec_fn=raise_nofile)
        try:
            # The HTTP listener opens after the SIP endpoint: once it accepts, calls can come.
            wait_port(self.http, self.proc, "recd serve", timeout=30)
        except RuntimeError as e:
            self.kill()
            raise RuntimeError("%s: %s" % (e, open(self.err_path).read()[-2000:]))
        realtime(self.pid)

    @property
    def pid(self):
        return self.proc.pid

    def kill(self):
        for p in (self.proc, self.app):
            if p.poll() is None:
                p.kill()
                p.wait()

    def stop(self, expect_calls, expect_actions, timeout=600):
        """Waits until the application has heard the end of `expect_calls` calls (their status
        callbacks) and `expect_actions` <Record> actions, or `timeout`; stops recd (SIGTERM) and the
        application, and returns one dict of counters per ended call."""
        deadline = time.time() + timeout
        while time.time() < deadline and self.proc.poll() is None:
            reqs = app_requests(self.run_dir)
            if (sum(1 for r in reqs if r["path"] == "/status") >= expect_calls and
                    sum(1 for r in reqs if r["path"] == "/done") >= expect_actions):
                break
            time.sleep(0.5)
        # recd's CPU by thread over the whole run, every recording finished, before it stops.
        self.threads = thread_cpu(self.pid)
        self.cpu = proc_cpu(self.pid)
        self.app_cpu = proc_cpu(self.app.pid)
        if not terminate(self.proc, 120):
            self.kill()
            raise RuntimeError("recd serve did not stop on SIGTERM")
        terminate(self.app)
        calls = []
        pat = re.compile(r"voice: call (CA[0-9a-f]{32}) ended \((\w+)\): rtp (.*)$")
        for line in open(self.err_path):
            m = pat.search(line)
            if m:
                c = {k: int(v) for k, v in (p.split("=") for p in m.group(3).split())}
                c["sid"], c["reason"] = m.group(1), m.group(2)
                calls.append(c)
        self.overflows = sum(1 for line in open(self.err_path) if "faster than the disk" in line)
        reqs = app_requests(self.run_dir)
        self.statuses = [r["params"] for r in reqs if r["path"] == "/status"]
        self.actions = [r["params"] for r in reqs if r["path"] == "/done"]
        wavs = {}
        for root, _, files in os.walk(os.path.join(self.data, "media")):
            for f in files:
                if f.startswith("RE") and f.endswith(".wav"):
                    wavs[f[:-4]] = os.path.join(root, f)
        # What judge() counts: one (status, ms) per <Record> action, ms from the WAV's own length.
        self.recs = []
        # Of the recordings that are short, how much is missing at the start (the recording began
        # after the stream did) rather than elsewhere.
        self.short_at_start = []
        for a in self.actions:
            path = wavs.get(a.get("RecordingSid"))
            n = wav_samples(path) if path else -1
            self.recs.append(("completed" if n >= 0 and a.get("Digits") == "hangup" else "missing", n / 8))
            if 0 <= n < self.seconds * 8000:
                self.short_at_start.append((self.seconds * 1000 - n / 8, 1000 - first_tone_ms(path)))
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
    scenario, lead_s = "uac_rtp.xml", 0.0
    if SERVE:
        sink = Serve(run_dir, max_calls=n + 100, seconds=seconds)
        # The same call, with a pause between the ACK and the stream (see the module's docstring).
        scenario, lead_s = os.path.join(run_dir, "uac_record.xml"), SERVE_LEAD_MS / 1000
        with open(os.path.join(REPO, "bench", "uac_rtp.xml")) as f:
            xml = f.read()
        assert xml.count("  <nop>") == 1
        with open(scenario, "w") as f:
            f.write(xml.replace("  <nop>", '  <pause milliseconds="%d"/>\n  <nop>' % SERVE_LEAD_MS))
    else:
        sink = Sink(run_dir, max_calls=n + 100)
    time.sleep(0.5)
    rss0 = proc_rss(sink.pid)
    snmp0 = udp_snmp()
    pause_ms = int((seconds + HANGUP_MARGIN_S) * 1000)
    cmd = sipp_cmd(scenario, sink.port, rate, n, n, pause_ms, run_dir, int(seconds + ramp_s + 120))
    t0 = time.time()
    sipp = subprocess.Popen(cmd, cwd=run_dir, stdout=open(os.path.join(run_dir, "sipp.out"), "w"),
                            stderr=subprocess.STDOUT)
    # The window in which every call is up: after the last setup, before the first BYE.
    w_begin = t0 + ramp_s + lead_s + 2.0
    w_end = t0 + lead_s + seconds - 1.0
    load = []
    drops = {}
    first = last = None
    rss_peak = 0
    while sipp.poll() is None:
        now = time.time()
        if w_begin <= now <= w_end:
            sample = (now, proc_cpu(sink.pid), thread_cpu(sink.pid), proc_cpu(sipp.pid), proc_rss(sink.pid),
                      proc_cpu(sink.app.pid) if SERVE else None)
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
    calls = sink.stop(n, n) if SERVE else sink.stop()
    recs = sink.recs
    overflows = sink.overflows
    data_mb = 0
    if RECORD or SERVE:
        for root, _, files in os.walk(os.path.join(run_dir, "data")):
            data_mb += sum(os.path.getsize(os.path.join(root, f)) for f in files) / 1e6
        if not KEEP_DATA:
            shutil.rmtree(os.path.join(run_dir, "data"), ignore_errors=True)
    snmp1 = udp_snmp()
    st = sipp_stats(run_dir)
    res = {"n": n, "rate": rate, "seconds": seconds, "calls": calls, "sipp": st, "load": load,
           "elapsed": t_done - t0, "rss0": rss0, "rss_peak": rss_peak,
           "kernel_drops": sum(drops.values()),
           "rcvbuf_errors": snmp1.get("RcvbufErrors", 0) - snmp0.get("RcvbufErrors", 0),
           "sipp_rc": sipp.returncode, "recs": recs, "overflows": overflows, "data_mb": data_mb}
    if SERVE:
        res["statuses"] = sum(1 for p in sink.statuses if p.get("CallStatus") == "completed")
        # recd's CPU per thread over the whole run (setup, media, finishing), by thread name.
        res["short_at_start"] = sink.short_at_start
        res["threads_run"] = list(sink.threads.values())
        res["cpu_run"] = sink.cpu
        res["app_cpu_run"] = sink.app_cpu
    if first and last and last[0] - first[0] >= 2:
        span = last[0] - first[0]
        res["window"] = span
        res["cpu"] = (last[1] - first[1]) / span
        res["sipp_cpu"] = (last[3] - first[3]) / span
        if SERVE:
            res["app_cpu"] = (last[5] - first[5]) / span
            res["window_threads"] = sorted(
                ((last[2][t][0], last[2][t][1] - first[2].get(t, ("", 0))[1]) for t in last[2]),
                key=lambda kv: -kv[1])
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
                   and (not (RECORD or SERVE) or (res["recorded"] == res["n"] and res["overflows"] == 0))
                   and (not SERVE or res["statuses"] == res["n"]))
    return res


# --------------------------------------------------------------------------- setup rate

def run_rate(rate, run_dir, seconds=10):
    shutil.rmtree(run_dir, ignore_errors=True)
    os.makedirs(run_dir)
    total = rate * seconds
    sink = Serve(run_dir, max_calls=rate * 4 + 100, seconds=1) if SERVE else Sink(run_dir, max_calls=rate * 4 + 100)
    time.sleep(0.3)
    cmd = sipp_cmd("uac_setup.xml", sink.port, rate, rate * 4, total, 1000, run_dir, seconds + 60)
    t0 = time.time()
    cpu0, threads0 = proc_cpu(sink.pid), thread_cpu(sink.pid)
    app0 = proc_cpu(sink.app.pid) if SERVE else None
    p = subprocess.run(cmd, cwd=run_dir, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    elapsed = time.time() - t0
    cpu1, threads1 = proc_cpu(sink.pid), thread_cpu(sink.pid)
    app1 = proc_cpu(sink.app.pid) if SERVE else None
    threads = [(name, cpu - threads0.get(tid, ("", 0))[1]) for tid, (name, cpu) in threads1.items()]
    st = sipp_stats(run_dir)
    ok = int(st.get("SuccessfulCall(C)", 0) or 0)
    failed = int(st.get("FailedCall(C)", 0) or 0)
    # --serve: the calls carry no audio, so <Record> ends absent and asks no action; each call's
    # status callback is its end.
    calls = sink.stop(ok, 0, timeout=120) if SERVE else sink.stop()
    # The calls took `seconds` to place plus one call's length (1 s) to finish, when SIPp kept up.
    achieved = ok / max(0.001, elapsed - 1.0)
    return {"rate": rate, "ok": ok, "failed": failed, "ended": len(calls), "elapsed": elapsed,
            "threads": thread_shares(threads, elapsed),
            "app_cpu": (app1 - app0) / elapsed if app0 is not None and app1 is not None else None,
            "statuses": sum(1 for p in sink.statuses if p.get("CallStatus") == "completed") if SERVE else None,
            "achieved": achieved, "rtt_ms": hms_ms(st.get("ResponseTime1(C)")), "rtt_p99": rtt_p99(st),
            "rc": p.returncode,
            "cpu_per_call_ms": (cpu1 - cpu0) * 1000 / max(1, ok) if cpu0 is not None and cpu1 is not None else None,
            "pass": failed == 0 and ok == total and achieved >= 0.9 * rate and (not SERVE or len(calls) == total)}


# --------------------------------------------------------------------------- report

def fmt_level(r):
    cpu = r.get("cpu")
    pkts_s = r["n"] * 50
    row = "| %d | %d/s | %d | %d | %d | %d | %d/%d | %s | %s | %s | %s | %s | %s | %s | %s |" % (
        r["n"], r["rate"], r["sent"], r["received"], r["lost"], r["missing"], r["complete"], r["n"],
        "%d/%d" % (r["recorded"], r["n"]) if RECORD or SERVE else "-",
        "%.0f %%" % (100 * cpu) if cpu is not None else "-",
        "%.0f %% (%s)" % (100 * r["thread_cpu"], r["thread"]) if cpu is not None else "-",
        "%.2f ms/s" % (1000 * cpu / r["n"]) if cpu is not None else "-",
        "%.1f us" % (1e6 * cpu / pkts_s) if cpu is not None else "-",
        "%.1f KB" % ((r["rss_peak"] - r["rss0"]) / 1024 / r["n"]) if r["rss_peak"] else "-",
        "%.0f %%" % (100 * r["sipp_cpu"]) if cpu is not None else "-",
        "PASS" if r["pass"] else "FAIL")
    return row


def thread_shares(threads, span):
    """recd's CPU by thread name (threads of one name summed): a share of a core over `span`
    seconds, or CPU seconds when span is None; the busiest first, the idle ones left out."""
    by_name = {}
    for name, cpu in threads:
        by_name[name] = by_name.get(name, 0) + cpu
    items = sorted(by_name.items(), key=lambda kv: -kv[1])
    if span is None:
        return ", ".join("%s %.1f s" % (n, c) for n, c in items if c >= 0.05) or "-"
    if not span:
        return "-"
    return ", ".join("%s %.0f %%" % (n, 100 * c / span) for n, c in items if c / span >= 0.005) or "-"


def report(levels, rates, seconds, started, load_before, load_after, nice, rt, rate_s):
    kernel = os.uname().release
    sipp_v = subprocess.run(["sipp", "-v"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True).stdout.strip().splitlines()
    sipp_v = next((l.strip() for l in sipp_v if "SIPp" in l), "SIPp")
    lines = ["## Concurrent calls, %s" % started.strftime("%Y-%m-%d %H:%M UTC"), "",
             "- commit `%s`, %d cores (`nproc`), Linux %s, %s" % (commit(), os.cpu_count(), kernel, sipp_v),
             ("- endpoint: `build/recd serve --sip` (the whole server: SIP, the call engine, webhooks to a "
              "TwiML application in another process answering `<Record>`, the recorder, the Calls rows and "
              "status callbacks)" if SERVE else
              "- endpoint: `build/bench/sip_sink` (recd's SIP endpoint and RTP path, %s)" % (
                  "every call recorded to disk by recd's recorder" if RECORD else "audio counted, nothing recorded"))
             + "; caller: SIPp on the same cores, %d s calls of G.711 u-law via `rtp_stream`%s" % (
                 seconds, ", %d ms after the ACK" % SERVE_LEAD_MS if SERVE else ""),
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
                         if RECORD or SERVE else ""))
        short = sorted(r["seconds"] * 1000 - ms for st, ms in r["recs"] if st == "completed" and ms != r["seconds"] * 1000)
        if short:
            lines.append("  - %d recordings not exactly %d s: short by %.0f to %.0f ms (median %.0f)%s" % (
                len(short), r["seconds"], short[0], short[-1], short[len(short) // 2],
                "; of %d looked at, %d miss exactly that much at the start (they began after the stream)" % (
                    len(r["short_at_start"]), sum(1 for a, b in r["short_at_start"] if a == b))
                if r.get("short_at_start") else ""))
        if SERVE:
            lines.append("  - status callbacks `completed`: %d of %d; TwiML application CPU %s in the window; "
                         "recd's threads in the window: %s; over the whole run, until every recording was "
                         "finished, %.1f s of CPU (%.2f ms per call-second; the application %.1f s): %s" % (
                             r["statuses"], r["n"],
                             "%.0f %%" % (100 * r["app_cpu"]) if "app_cpu" in r else "-",
                             thread_shares(r.get("window_threads", []), r.get("window", 0)),
                             r["cpu_run"] or 0, 1000 * (r["cpu_run"] or 0) / (r["n"] * r["seconds"]),
                             r["app_cpu_run"] or 0, thread_shares(r["threads_run"], None)))
    if rates:
        lines += ["", "Call setups (INVITE, 200, ACK, 1 s, BYE; %d s at each rate):" % rate_s, "",
                  "| target rate | achieved | successful | failed | INVITE->200 mean, 99 % | recd CPU per call | result |",
                  "|---|---|---|---|---|---|---|"]
        for r in rates:
            lines.append("| %d/s | %.0f/s | %d | %d | %.0f ms, %s ms | %s | %s |" % (
                r["rate"], r["achieved"], r["ok"], r["failed"], r["rtt_ms"], r["rtt_p99"],
                "%.2f ms" % r["cpu_per_call_ms"] if r["cpu_per_call_ms"] is not None else "-",
                "PASS" if r["pass"] else "FAIL"))
        lines += ["", "recd's threads while SIPp placed the calls (share of one core)%s:" % (
            ", and the TwiML application's CPU" if SERVE else ""), ""]
        for r in rates:
            lines.append("- %d/s: %s%s" % (r["rate"], r["threads"],
                                           "; application %.0f %%" % (100 * r["app_cpu"]) if r.get("app_cpu") is not None
                                           else ""))
    return "\n".join(lines) + "\n"


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
    ap.add_argument("--serve", action="store_true",
                    help="the calls go to build/recd serve --sip and a TwiML application that records them")
    ap.add_argument("--keep-data", action="store_true", help="keep each level's data folder (recordings)")
    ap.add_argument("--keep-going", action="store_true", help="run every level even after one fails")
    ap.add_argument("--twiml-app", metavar="DIR", help=argparse.SUPPRESS)
    args = ap.parse_args()
    global HANGUP_MARGIN_S
    if args.twiml_app:
        twiml_app(args.twiml_app, args.seconds)
        return 0
    if args.quick:
        # A check of the harness (tests/e2e/test_bench_harness.py), not a measurement: every
        # level runs, so a loaded machine cannot leave a row out, and the shorter margin (a late
        # burst cut by the BYE shows as missing packets, nothing worse) saves 12 s of `make test`.
        args.levels, args.seconds, args.rates = "10,40", 6, "20"
        args.keep_going = True
        HANGUP_MARGIN_S = 4.0
    global NICE
    NICE = args.nice
    global RT, RECORD, SERVE
    RT = args.rt
    RECORD = args.record
    SERVE = args.serve
    global KEEP_DATA
    KEEP_DATA = args.keep_data
    levels = [int(x) for x in args.levels.split(",") if x]
    rates = [int(x) for x in args.rates.split(",") if x]
    if not os.path.exists(RECD if SERVE else SINK):
        raise SystemExit("bench-calls: %s missing (make %s)" % ((RECD, "build/recd") if SERVE else (SINK, SINK)))
    base = os.path.join(BENCH_DIR, "calls")
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
        key = ("quick" if args.quick else "S=%d" % args.seconds) + (" RECORD" if args.record else "") + \
            (" SERVE" if args.serve else "")
        write_results(RESULTS, key, body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
