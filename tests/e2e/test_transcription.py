"""Transcriptions that recd makes (contract section 8, issue 13).

Real speech: Debian's pocketsphinx-testdata (LibriVox and "cards" recordings with reference
transcripts), imported, transcribed by `recd serve`'s workers and read back through the API; the
word error rate is computed and compared with `pocketsphinx_continuous` (the same engine) on the
same files, at 16 kHz and band-limited to telephone quality.

The external engine is tested against a small HTTP server in this file that speaks the
OpenAI-compatible wire format exactly (multipart in, JSON out), including its errors, slowness and
garbage; callbacks go to another small server and are checked with twilio's RequestValidator.
"""

import base64
import concurrent.futures
import email.parser
import email.policy
import http.client
import json
import os
import platform
import shutil
import signal
import sqlite3
import struct
import subprocess
import sys
import threading
import time
import urllib.parse
import wave
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from twilio.request_validator import RequestValidator

from conftest import SID_RE, TRANSCRIPTION_KEYS, Recd, Server, free_port, store_url

TESTDATA = Path("/usr/share/pocketsphinx/test/data")


def references():
    """(wav path, reference words) for every testdata file that has a transcript."""
    out = []
    for folder, trans in (("librivox", "transcription"), ("cards", "cards.transcription")):
        for line in (TESTDATA / folder / trans).read_text().splitlines():
            line = line.strip()
            if not line:
                continue
            text, _, fid = line.rpartition("(")
            fid = fid.rstrip(")").strip()
            words = [w for w in text.split() if w not in ("<s>", "</s>")]
            out.append((TESTDATA / folder / (fid + ".wav"), words))
    return out


def wer(ref, hyp):
    """Word error rate: Levenshtein distance over words / reference length."""
    d = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, d[0] = d[0], i
        for j, h in enumerate(hyp, 1):
            cur = min(d[j] + 1, d[j - 1] + 1, prev + (r != h))
            prev, d[j] = d[j], cur
    return d[len(hyp)]


def corpus_wer(pairs):
    errors = sum(wer(ref, hyp) for ref, hyp in pairs)
    return errors / sum(len(ref) for ref, _ in pairs)


def continuous(path, *extra):
    """pocketsphinx_continuous on one file: its words."""
    r = subprocess.run(["pocketsphinx_continuous", "-infile", str(path)] + list(extra),
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    return r.stdout.split()


def telephone(src, dst):
    """Band-limited to telephone quality: 300-3400 Hz, 8 kHz, through G.711 mu-law and back to
    16-bit PCM (recd stores PCM WAV). Without sox's dither (-D), which is seeded from the clock:
    the same clips every run."""
    mulaw = str(dst) + ".ul.wav"
    subprocess.run(["sox", "-D", str(src), "-r", "8000", "-e", "u-law", mulaw, "sinc", "300-3400"],
                   check=True, capture_output=True)
    subprocess.run(["sox", "-D", mulaw, "-e", "signed-integer", "-b", "16", str(dst)], check=True,
                   capture_output=True)
    os.unlink(mulaw)


def write_wav(path, seconds, rate=8000, sample=b"\x00\x00"):
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        chunk = sample * rate
        for _ in range(int(seconds)):
            w.writeframes(chunk)
    return path


# ------------------------------------------------------------------ servers the test runs

class Callbacks:
    """Records every transcribeCallback request, with its signature checked."""

    def __init__(self):
        self.got = []
        self.lock = threading.Lock()
        self.tokens = {}
        outer = self

        class H(BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n).decode()
                params = dict(urllib.parse.parse_qsl(body, keep_blank_values=True))
                url = "http://127.0.0.1:%d%s" % (outer.port, self.path)
                token = outer.tokens.get(params.get("AccountSid"), "")
                sig = self.headers.get("X-Twilio-Signature")
                valid = bool(sig) and RequestValidator(token).validate(url, params, sig)
                with outer.lock:
                    outer.got.append({"path": self.path, "params": params, "valid": valid})
                self.send_response(204)
                self.end_headers()

            def log_message(self, *a):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def url(self, path="/cb"):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def for_sid(self, tr_sid):
        with self.lock:
            return [g for g in self.got if g["params"].get("TranscriptionSid") == tr_sid]

    def wait_for(self, tr_sid, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.for_sid(tr_sid)
            if got:
                return got
            time.sleep(0.05)
        raise AssertionError("no callback for %s" % tr_sid)

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class FakeWhisper:
    """POST /v1/audio/transcriptions as OpenAI documents it: multipart/form-data with file, model
    and response_format; answers {"text": ...}. `script` is a list of behaviours used in order
    (the last one repeats): "ok", "500", "400", "garbage", "huge", "slow", "hang"."""

    def __init__(self, key="sk-test-key", model="whisper-test"):
        self.key = key
        self.model = model
        self.script = ["ok"]
        self.requests = []
        self.lock = threading.Lock()
        self.release = threading.Event()
        self.entered = threading.Event()
        outer = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n)
                problem = outer.check(self.path, self.headers, body)
                with outer.lock:
                    i = len(outer.requests)
                    outer.requests.append(problem)
                    act = outer.script[min(i, len(outer.script) - 1)]
                if problem:
                    return self.answer(400, json.dumps({"error": {"message": problem}}).encode())
                if act == "500":
                    return self.answer(500, b'{"error": {"message": "overloaded"}}')
                if act == "400":
                    return self.answer(400, b'{"error": {"message": "unsupported audio"}}')
                if act == "garbage":
                    return self.answer(200, b"<html>this is not json</html>", "text/html")
                if act == "huge":
                    return self.answer(200, b'{"text": "' + b"a" * (10 << 20) + b'"}')
                if act == "slow":
                    time.sleep(3)
                if act == "hang":
                    outer.entered.set()
                    outer.release.wait(60)
                text = "hello from the external engine number %d" % i
                self.answer(200, json.dumps({"text": " " + text}).encode())

            def answer(self, status, body, ctype="application/json"):
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", ctype)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, *a):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.url = "http://127.0.0.1:%d" % self.port
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def check(self, path, headers, body):
        """The request as the wire format wants it, or what is wrong with it."""
        if path != "/v1/audio/transcriptions":
            return "path %s" % path
        if headers.get("Authorization") != "Bearer " + self.key:
            return "authorization %r" % headers.get("Authorization")
        ctype = headers.get("Content-Type", "")
        if not ctype.startswith("multipart/form-data; boundary="):
            return "content type %r" % ctype
        msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            b"Content-Type: " + ctype.encode() + b"\r\n\r\n" + body)
        fields = {}
        for part in msg.iter_parts():
            name = part.get_param("name", header="content-disposition")
            fields[name] = (part.get_filename(), part.get_content_type(), part.get_payload(decode=True))
        if set(fields) != {"file", "model", "response_format"}:
            return "fields %r" % sorted(fields)
        if fields["model"][2] != self.model.encode() or fields["response_format"][2] != b"json":
            return "model or response_format"
        fname, ftype, data = fields["file"]
        if not fname or not fname.endswith(".wav") or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
            return "file is not a WAV"
        return None

    def close(self):
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def callbacks():
    c = Callbacks()
    yield c
    c.close()


@pytest.fixture
def whisper():
    w = FakeWhisper()
    yield w
    w.close()


@pytest.fixture
def make_server(recd_bin, tmp_path):
    """make_server(*serve_args, data=None) -> a started Server, stopped after the test."""
    made = []

    def make(*serve_args, data=None, start=True):
        d = Path(data) if data else tmp_path / ("data%d" % len(made))
        srv = Server(d, tmp_path / ("serve%d.log" % len(made)), serve_args=serve_args)
        made.append(srv)
        if start:
            srv.cli.account_create(name="bootstrap")
            srv.start()
        return srv

    yield make
    for s in made:
        s.stop()


def whisper_args(w, tmp_path, *more):
    keyfile = tmp_path / "stt.key"
    keyfile.write_text(w.key + "\n")
    return ("--stt", w.url, "--stt-model", w.model, "--stt-key-file", str(keyfile),
            "--transcribe-retry-seconds", "0.2", "--transcribe-lease-seconds", "3") + tuple(more)


def transcribe(cli, sids, *args, wait=True, timeout=600):
    cmd = ["transcribe"] + list(args) + list(sids) + (["--wait"] if wait else [])
    r = cli.run(*cmd, timeout=timeout)
    lines = [json.loads(l) for l in r.stdout.splitlines() if l.strip()]
    return r, lines


def transcription_of(srv, account, rec_sid):
    """The one transcription of a recording, through the API."""
    body = srv.get_json("%s/Recordings/%s/Transcriptions.json" % (account.path, rec_sid),
                        auth=account.auth)
    assert len(body["transcriptions"]) == 1, body
    t = body["transcriptions"][0]
    assert set(t) == TRANSCRIPTION_KEYS, sorted(t)
    return t


def wait_status(srv, account, tr_sid, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        t = srv.get_json("%s/Transcriptions/%s.json" % (account.path, tr_sid), auth=account.auth)
        if t["status"] != "in-progress":
            return t
        time.sleep(0.1)
    raise AssertionError("%s still in progress" % tr_sid)


# ------------------------------------------------------------------ real speech, built-in engine

# The built-in engine's decoders run under SCHED_IDLE by default: a core only when nothing else
# wants it. The suite loads the machine (and on a shared one, so does everyone else), which can
# starve them for minutes; the tests whose subject is the words, the limits or the callbacks run
# them in the normal policy. test_starved_decoder_keeps_its_job runs the default.
NORMAL = ("--transcribe-priority", "normal")

def test_real_speech_wer(make_server, tmp_path):
    """Debian's test recordings through the API: the same words as pocketsphinx_continuous (the
    same engine), so a WER no worse; then the same clips at telephone quality."""
    refs = references()
    assert len(refs) == 10
    srv = make_server("--transcribe-workers", "2", *NORMAL)
    acct = srv.cli.account_create()
    tel = tmp_path / "tel"
    tel.mkdir()
    for p, _ in refs:
        telephone(p, tel / p.name)
    # The CLI's runs (two at a time) go on while recd transcribes: the test's wall time is about
    # half its CPU time rather than all of it.
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        cli16 = [pool.submit(continuous, p) for p, _ in refs]
        results = {}
        for label, files in (("16k", [p for p, _ in refs]), ("8k", [tel / p.name for p, _ in refs])):
            recs = srv.cli.import_ok(acct.sid, files)
            r, lines = transcribe(srv.cli, [x["sid"] for x in recs])
            assert r.returncode == 0, r.stderr
            assert "10/10 done, 0 failed" in r.stderr
            pairs, same = [], []
            for (path, ref), rec, cli in zip(refs, recs, cli16):
                t = transcription_of(srv, acct, rec["sid"])
                assert t["status"] == "completed", t
                assert t["duration"] == rec["duration"]
                txt = srv.get("%s/Transcriptions/%s.txt" % (acct.path, t["sid"]), auth=acct.auth)
                assert txt.status_code == 200 and txt.text == t["transcription_text"]
                hyp = t["transcription_text"].split()
                pairs.append((ref, hyp))
                if label == "16k":
                    same.append((hyp, cli.result()))
            results[label] = corpus_wer(pairs)
            for hyp, cli_words in same:
                assert hyp == cli_words, (hyp, cli_words)
    # The native 8 kHz configuration (the model's feat.params edited) is measured by make
    # bench-stt, for the documentation; it asserts nothing, so it is not run here.
    print("\nWER built-in engine: 16 kHz %.3f, telephone 8 kHz upsampled %.3f" % (results["16k"], results["8k"]))
    (tmp_path / "wer.json").write_text(json.dumps(results))
    # As measured (docs/transcription.md): the engine is deterministic, so the 16 kHz figure is
    # exact; at telephone quality the 16 kHz model recognises next to nothing, which the docs say
    # plainly (and point to the external engine for calls).
    assert results["16k"] <= 0.40
    assert results["8k"] > results["16k"]


def test_silence_and_limits(make_server, tmp_path, callbacks):
    srv = make_server("--transcribe-max-seconds", "5", *NORMAL)
    acct = srv.cli.account_create()
    callbacks.tokens[acct.sid] = acct.auth_token
    quiet = write_wav(tmp_path / "silence.wav", 3)
    long = write_wav(tmp_path / "long.wav", 6)
    recs = srv.cli.import_ok(acct.sid, [quiet, long])
    r, lines = transcribe(srv.cli, [x["sid"] for x in recs], "--callback", callbacks.url())
    assert r.returncode == 1, r.stderr  # one failed
    assert "2/2 done, 1 failed" in r.stderr
    assert [l["status"] for l in lines] == ["in-progress", "in-progress", "completed", "failed"]
    assert lines[2]["transcription_text"] == ""
    assert lines[3]["transcription_text"] is None
    assert "limited to 5 s" in srv.log_text()
    cb = callbacks.wait_for(lines[3]["sid"])
    assert cb[0]["valid"] and cb[0]["params"]["TranscriptionStatus"] == "failed"


def test_two_hour_recording_fails_fast(make_server, tmp_path):
    """Twilio's 2-minute limit, the default: a 2-hour recording fails at once with its reason, no
    audio decoded."""
    srv = make_server()
    acct = srv.cli.account_create()
    big = write_wav(tmp_path / "two-hours.wav", 7200, sample=b"\x10\x00")
    recs = srv.cli.import_ok(acct.sid, [big])
    os.unlink(big)
    start = time.monotonic()
    r, lines = transcribe(srv.cli, [recs[0]["sid"]])
    assert r.returncode == 1
    assert lines[-1]["status"] == "failed"
    assert time.monotonic() - start < 60
    assert "the recording is 7200 s long; transcription is limited to 120 s" in srv.log_text()


def test_account_switch(make_server, make_wav):
    srv = make_server(*NORMAL)
    acct = srv.cli.account_create()
    srv.cli.ok("account", "set", acct.sid, "--transcribe", "on")
    rec = srv.cli.import_ok(acct.sid, [TESTDATA / "cards" / "001.wav"])[0]
    t = transcription_of(srv, acct, rec["sid"])
    assert SID_RE["TR"].match(t["sid"]) and t["status"] in ("in-progress", "completed")
    t = wait_status(srv, acct, t["sid"])
    assert t["status"] == "completed" and t["transcription_text"]
    srv.cli.ok("account", "set", acct.sid, "--transcribe", "off")
    rec = srv.cli.import_ok(acct.sid, [TESTDATA / "cards" / "002.wav"])[0]
    body = srv.get_json("%s/Recordings/%s/Transcriptions.json" % (acct.path, rec["sid"]), auth=acct.auth)
    assert body["transcriptions"] == []
    bad = srv.cli.run("account", "set", acct.sid, "--transcribe", "maybe")
    assert bad.returncode == 2


def test_cli_bad_input(make_server, tmp_path):
    srv = make_server()
    acct = srv.cli.account_create()
    rec = srv.cli.import_ok(acct.sid, [TESTDATA / "cards" / "001.wav"])[0]
    for args in (["REnotasid"], ["RE" + "0" * 32], [rec["sid"], "--callback", "ftp://x/"],
                 [rec["sid"], "--callback-method", "PUT"], []):
        r = srv.cli.run("transcribe", *args)
        assert r.returncode == 2, (args, r.stderr)
        assert r.stderr.count("\n") == 1
    # Nothing was queued for the good sid in the failed batch.
    body = srv.get_json("%s/Transcriptions.json" % acct.path, auth=acct.auth)
    assert body["transcriptions"] == []
    for args in (["--stt", "ftp://example/"], ["--stt-key-file", str(tmp_path / "none")],
                 ["--stt", "http://127.0.0.1:9/", "--stt-key-file", str(tmp_path / "none")],
                 ["--transcribe-workers", "0"], ["--transcribe-max-seconds", "x"],
                 ["--transcribe-priority", "realtime"]):
        r = srv.cli.run("serve", "--listen", "127.0.0.1:%d" % free_port(), *args, timeout=30)
        assert r.returncode == 2, (args, r.stderr)


def job_row(data, tr_sid):
    """(state, lease, attempts) of a transcription's job, read from the store beside the server:
    the folder's recd.db, or its schema in PostgreSQL (make e2e-scale, make e2e-pg)."""
    url = store_url(data)
    if url:
        assert SID_RE["TR"].match(tr_sid), tr_sid  # spelled into the statement below
        r = subprocess.run(["psql", url, "-qAt", "-F", "\t", "-c", "SELECT state, lease, attempts FROM "
                            "transcription_jobs WHERE sid = '%s'" % tr_sid], capture_output=True, text=True,
                           timeout=60)
        assert r.returncode == 0, r.stderr
        if not r.stdout.strip():
            return None
        state, lease, attempts = r.stdout.strip().split("\t")
        return state, lease, int(attempts)
    db = sqlite3.connect("file:%s?mode=ro" % (data / "recd.db"), uri=True, timeout=30)
    try:
        return db.execute("SELECT state, lease, attempts FROM transcription_jobs WHERE sid = ?",
                          (tr_sid,)).fetchone()
    finally:
        db.close()


def thread_policies(pid):
    """{thread name: set of scheduling policies} of a process's threads (os.sched_getscheduler)."""
    out = {}
    for tid in os.listdir("/proc/%d/task" % pid):
        name = Path("/proc/%d/task/%s/comm" % (pid, tid)).read_text().strip()
        out.setdefault(name, set()).add(os.sched_getscheduler(int(tid)))
    return out


@pytest.mark.alone  # a busy loop on one core; and once it ends, the idle decoder needs a free core
def test_starved_decoder_keeps_its_job(make_server, callbacks, tmp_path):
    """The built-in engine decodes under SCHED_IDLE, so a busy machine starves it for as long as it
    stays busy; its job's lease is renewed by the worker's job thread, at normal priority, so no
    other worker takes the job meanwhile and it runs once.

    Server A is pinned to one core beside a busy loop of normal priority (there its decoder gets
    next to nothing: SCHED_IDLE's weight is 3 against the loop's 1024), with a 1 s lease. Server B,
    on the same store and free to use any core, would claim the job as soon as a lease lapsed.
    After four leases the job is still A's first claim; once the loop ends A completes it: one
    completion, one callback, and B never names it."""
    srv_a = make_server("--transcribe-lease-seconds", "1", "--transcribe-retry-seconds", "0.2")
    policies = thread_policies(srv_a.proc.pid)
    assert policies["recd-stt"] == {os.SCHED_IDLE}, policies
    assert policies["recd-stt-job"] == {os.SCHED_OTHER}, policies
    subprocess.run(["taskset", "-a", "-p", "-c", "0", str(srv_a.proc.pid)], check=True,
                   capture_output=True)
    hog = subprocess.Popen(["taskset", "-c", "0", sys.executable, "-c", "while True: pass"])
    srv_b = None
    try:
        acct = srv_a.cli.account_create()
        callbacks.tokens[acct.sid] = acct.auth_token
        rec = srv_a.cli.import_ok(acct.sid, [TESTDATA / "cards" / "005.wav"])[0]
        r, lines = transcribe(srv_a.cli, [rec["sid"]], "--callback", callbacks.url(), wait=False)
        tr = lines[0]["sid"]
        deadline = time.monotonic() + 60
        while (job_row(srv_a.data, tr) or ("",))[0] != "running":
            assert time.monotonic() < deadline, job_row(srv_a.data, tr)
            time.sleep(0.05)
        _, lease, attempts = job_row(srv_a.data, tr)
        assert attempts == 1
        srv_b = make_server("--transcribe-lease-seconds", "1", "--transcribe-retry-seconds", "0.2",
                            data=srv_a.data, start=False)
        srv_b.start()
        time.sleep(4)  # four leases: the decoder has had next to no CPU all along
        assert job_row(srv_a.data, tr) == ("running", lease, 1)
    finally:
        hog.kill()
        hog.wait()
    subprocess.run(["taskset", "-a", "-p", "-c", "0-%d" % (os.cpu_count() - 1), str(srv_a.proc.pid)], check=True,
                   capture_output=True)
    t = wait_status(srv_a, acct, tr, timeout=300)
    assert t["status"] == "completed" and t["transcription_text"], t
    cb = callbacks.wait_for(tr)
    time.sleep(0.5)
    assert len(callbacks.for_sid(tr)) == 1 and cb[0]["valid"], cb
    assert srv_a.log_text().count(": completed in ") == 1
    assert "attempt 1" in srv_a.log_text()
    assert tr not in srv_b.log_text()


# clock_nanosleep and nanosleep, by the numbers /proc/PID/task/TID/syscall shows.
SLEEP_SYSCALLS = {"x86_64": ("230", "35"), "aarch64": ("115", "101")}.get(platform.machine(), ())


def decoder_sleeping(pid):
    """True when the process's decoder thread (recd-stt) sits in nanosleep: stepping aside (it
    waits for work on a condition variable, a futex, and decodes in user space)."""
    for tid in os.listdir("/proc/%d/task" % pid):
        base = "/proc/%d/task/%s/" % (pid, tid)
        try:
            if Path(base + "comm").read_text().strip() != "recd-stt":
                continue
            nr = Path(base + "syscall").read_text().split()[0]
        except (OSError, IndexError):
            continue
        if nr in SLEEP_SYSCALLS:
            return True
    return False


@pytest.mark.alone  # a busy loop on one core, and a client keeping the server's loops busy on it
def test_decoder_steps_aside_for_requests(make_server, tmp_path):
    """At the default (idle) priority a decoder sleeps while the server's request threads wait for
    a CPU, rather than stay runnable: SCHED_IDLE alone still gives it a turn of a whole slice now
    and then on a saturated core, which lands on requests' tails (docs/transcription.md). Once
    they stop waiting it decodes on: the job completes once, and its log says how long the
    decoder stepped aside.

    The server is pinned to one core beside a busy loop of normal priority, and two clients keep
    its HTTP loops busy there; the decoder's engine was loaded before, while the cores were free."""
    if not SLEEP_SYSCALLS:
        pytest.skip("system call numbers of nanosleep not known for %s" % platform.machine())
    srv = make_server("--transcribe-workers", "1", "--threads", "2")
    acct = srv.cli.account_create()
    clips = [p for p, _ in references()]
    warm = srv.cli.import_ok(acct.sid, [clips[0]])[0]
    r, _ = transcribe(srv.cli, [warm["sid"]], timeout=300)
    assert r.returncode == 0, r.stderr
    frames = b""
    for p in clips[:6]:
        with wave.open(str(p), "rb") as w:
            assert (w.getframerate(), w.getnchannels()) == (16000, 1)
            frames += w.readframes(w.getnframes())
    speech = tmp_path / "speech.wav"
    with wave.open(str(speech), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(frames)
    rec = srv.cli.import_ok(acct.sid, [speech])[0]
    assert rec["duration"] and int(rec["duration"]) >= 10, rec

    subprocess.run(["taskset", "-a", "-p", "-c", "0", str(srv.proc.pid)], check=True, capture_output=True)
    hog = subprocess.Popen(["taskset", "-c", "0", sys.executable, "-c", "while True: pass"])
    stop = threading.Event()
    served, errors = [0, 0], []

    def client(i):
        auth = "Basic " + base64.b64encode(("%s:%s" % acct.auth).encode()).decode()
        c = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=60)
        try:
            while not stop.is_set():
                c.request("GET", "%s/Recordings.json?PageSize=5" % acct.path, headers={"Authorization": auth})
                resp = c.getresponse()
                resp.read()
                if resp.status != 200:
                    raise AssertionError("list page: HTTP %d" % resp.status)
                served[i] += 1
        except Exception as e:  # noqa: BLE001 (reported by the test's thread below)
            errors.append(repr(e))
        finally:
            c.close()

    clients = [threading.Thread(target=client, args=(i,)) for i in range(2)]
    for t in clients:
        t.start()
    try:
        r, lines = transcribe(srv.cli, [rec["sid"]], wait=False)
        assert r.returncode == 0, r.stderr
        tr = lines[0]["sid"]
        deadline = time.monotonic() + 120
        while not decoder_sleeping(srv.proc.pid):
            assert time.monotonic() < deadline, "the decoder never stepped aside"
            assert job_row(srv.data, tr)[0] in ("queued", "running"), job_row(srv.data, tr)
            time.sleep(0.05)
    finally:
        stop.set()
        for t in clients:
            t.join()
        hog.kill()
        hog.wait()
    assert not errors and min(served) > 0, (errors, served)
    subprocess.run(["taskset", "-a", "-p", "-c", "0-%d" % (os.cpu_count() - 1), str(srv.proc.pid)], check=True,
                   capture_output=True)
    t = wait_status(srv, acct, tr, timeout=300)
    assert t["status"] == "completed" and t["transcription_text"], t
    log = srv.log_text()
    assert "transcription %s of %s: its decoder stepped aside for requests for " % (tr, rec["sid"]) in log, log[-3000:]
    assert log.count("transcription %s of %s: completed in " % (tr, rec["sid"])) == 1


# ------------------------------------------------------------------ external engine

def test_external_engine(make_server, whisper, callbacks, tmp_path):
    srv = make_server(*whisper_args(whisper, tmp_path))
    acct = srv.cli.account_create()
    callbacks.tokens[acct.sid] = acct.auth_token
    rec = srv.cli.import_ok(acct.sid, [TESTDATA / "cards" / "003.wav"])[0]
    r, lines = transcribe(srv.cli, [rec["sid"]], "--callback", callbacks.url("/done?x=1"))
    assert r.returncode == 0, r.stderr
    t = lines[-1]
    assert t["status"] == "completed"
    assert t["transcription_text"] == "hello from the external engine number 0"
    assert whisper.requests == [None]
    cb = callbacks.wait_for(t["sid"])
    assert len(cb) == 1 and cb[0]["valid"] and cb[0]["path"] == "/done?x=1"
    p = cb[0]["params"]
    assert p["TranscriptionSid"] == t["sid"]
    assert p["TranscriptionText"] == t["transcription_text"]
    assert p["TranscriptionStatus"] == "completed"
    assert p["RecordingSid"] == rec["sid"]
    assert p["AccountSid"] == acct.sid
    assert p["TranscriptionUrl"] == "%s%s/Recordings/%s/Transcriptions/%s" % (
        srv.base_url, acct.path, rec["sid"], t["sid"])
    assert p["RecordingUrl"] == "%s%s/Recordings/%s" % (srv.base_url, acct.path, rec["sid"])
    # The TranscriptionUrl answers with the same transcription.
    got = srv.get_json(p["TranscriptionUrl"] + ".json", auth=acct.auth)
    assert got["sid"] == t["sid"] and got["transcription_text"] == t["transcription_text"]


@pytest.mark.parametrize("script,status,requests,reason", [
    (["500", "500", "ok"], "completed", 3, None),
    (["500"], "failed", 4, "gave up after 4 attempts: engine answered HTTP 500"),
    (["400"], "failed", 1, "engine refused the audio: HTTP 400"),
    (["garbage"], "failed", 1, "engine answered something other than a JSON object"),
    (["huge"], "failed", 1, "the engine's answer is larger than 1048576 bytes"),
    (["slow", "ok"], "completed", 2, None),
])
def test_external_engine_failures(make_server, whisper, callbacks, tmp_path, script, status,
                                  requests, reason):
    whisper.script = script
    # 1 s makes "slow" time out; the others get room to move 1 MiB on a loaded machine.
    timeout = "1" if "slow" in script else "20"
    srv = make_server(*whisper_args(whisper, tmp_path, "--stt-timeout-seconds", timeout))
    acct = srv.cli.account_create()
    callbacks.tokens[acct.sid] = acct.auth_token
    rec = srv.cli.import_ok(acct.sid, [TESTDATA / "cards" / "004.wav"])[0]
    r, lines = transcribe(srv.cli, [rec["sid"]], "--callback", callbacks.url())
    t = lines[-1]
    assert t["status"] == status, srv.log_text()[-2000:]
    assert r.returncode == (0 if status == "completed" else 1)
    assert len(whisper.requests) == requests
    assert all(p is None for p in whisper.requests)
    if reason:
        assert reason in srv.log_text()
        assert t["transcription_text"] is None
    cb = callbacks.wait_for(t["sid"])
    assert len(cb) == 1 and cb[0]["valid"] and cb[0]["params"]["TranscriptionStatus"] == status
    if script[0] == "slow":
        assert "engine timed out" in srv.log_text()


def test_restart_with_100_jobs(make_server, whisper, callbacks, tmp_path):
    """100 jobs queued while no server runs; a server starts, is stopped part way, starts again:
    every job completes, and none completes twice (one callback each, at most)."""
    data = tmp_path / "data-restart"
    cli = Recd(data)
    acct = cli.account_create()
    callbacks.tokens[acct.sid] = acct.auth_token
    clip = write_wav(tmp_path / "clip.wav", 1, sample=b"\x00\x10")
    files = []
    for i in range(100):
        f = tmp_path / ("clip%03d.wav" % i)
        shutil.copy(clip, f)
        files.append(f)
    recs = cli.import_ok(acct.sid, files)
    r, lines = transcribe(cli, [x["sid"] for x in recs], "--callback", callbacks.url(), wait=False)
    assert r.returncode == 0 and len(lines) == 100
    tr_sids = [l["sid"] for l in lines]
    srv = make_server(*whisper_args(whisper, tmp_path, "--transcribe-workers", "4"), data=data,
                      start=False)
    srv.start()
    deadline = time.monotonic() + 60
    while len(whisper.requests) < 30 and time.monotonic() < deadline:
        time.sleep(0.01)
    srv.stop()
    assert len(whisper.requests) < 100
    srv.start()
    deadline = time.monotonic() + 120
    for sid in tr_sids:
        t = wait_status(srv, acct, sid, timeout=max(1, deadline - time.monotonic()))
        assert t["status"] == "completed", t
    time.sleep(1)
    with callbacks.lock:
        counts = {}
        for g in callbacks.got:
            counts[g["params"]["TranscriptionSid"]] = counts.get(g["params"]["TranscriptionSid"], 0) + 1
            assert g["valid"]
    assert max(counts.values()) == 1
    assert set(counts) <= set(tr_sids)
    log = srv.log_text()
    assert log.count(": completed in ") == 100, log[-3000:]


def test_kill_mid_job_reruns(make_server, whisper, callbacks, tmp_path):
    whisper.script = ["hang", "ok"]
    srv = make_server(*whisper_args(whisper, tmp_path))
    acct = srv.cli.account_create()
    callbacks.tokens[acct.sid] = acct.auth_token
    rec = srv.cli.import_ok(acct.sid, [TESTDATA / "cards" / "005.wav"])[0]
    r, lines = transcribe(srv.cli, [rec["sid"]], "--callback", callbacks.url(), wait=False)
    tr = lines[0]["sid"]
    assert whisper.entered.wait(60)
    srv.proc.send_signal(signal.SIGKILL)
    srv.proc.wait(10)
    srv.stopped = True
    srv.start()
    t = wait_status(srv, acct, tr, timeout=120)
    assert t["status"] == "completed"
    assert t["transcription_text"] == "hello from the external engine number 1"
    whisper.release.set()
    time.sleep(1)
    cb = callbacks.wait_for(tr)
    assert len(cb) == 1 and cb[0]["valid"], cb
    assert cb[0]["params"]["TranscriptionText"] == "hello from the external engine number 1"
    assert "attempt 2" in srv.log_text()


def test_delete_cancels(make_server, whisper, callbacks, tmp_path):
    """A recording deleted while its job is queued or running: the job is cancelled, nothing is
    written, no callback is sent, and fsck is clean."""
    whisper.script = ["hang"]
    srv = make_server(*whisper_args(whisper, tmp_path))
    acct = srv.cli.account_create()
    recs = srv.cli.import_ok(acct.sid, [TESTDATA / "cards" / "001.wav", TESTDATA / "cards" / "002.wav"])
    r, lines = transcribe(srv.cli, [x["sid"] for x in recs], "--callback", callbacks.url(), wait=False)
    assert whisper.entered.wait(60)
    # One runs (hanging in the engine), the other waits behind it in the queue.
    for rec in recs:
        d = srv.request("DELETE", "%s/Recordings/%s.json" % (acct.path, rec["sid"]), auth=acct.auth)
        assert d.status_code == 204
    for l in lines:
        got = srv.get("%s/Transcriptions/%s.json" % (acct.path, l["sid"]), auth=acct.auth)
        assert got.status_code == 404
    whisper.release.set()
    deadline = time.monotonic() + 30
    while "abandoned" not in srv.log_text() and "dropped after" not in srv.log_text() \
            and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(1)
    assert callbacks.got == []
    for l in lines:
        assert srv.get("%s/Transcriptions/%s.json" % (acct.path, l["sid"]), auth=acct.auth).status_code == 404
    fsck = srv.cli.run("fsck")
    assert fsck.returncode == 0, fsck.stdout + fsck.stderr


# ------------------------------------------------------------------ a call's recording, after a crash

def speech_8k(path):
    """The samples of a speech clip at 8 kHz, 16-bit, as a list of ints (for an RTP stream)."""
    r = subprocess.run(["sox", str(path), "-r", "8000", "-b", "16", "-e", "signed-integer", "-t", "raw", "-"],
                       check=True, capture_output=True)
    return list(struct.unpack("<%dh" % (len(r.stdout) // 2), r.stdout))


def test_call_recording_recovered_after_kill_still_calls_back(tmp_path, recd_bin, whisper):
    """<Record transcribe="true" transcribeCallback>: the server is killed (-9) mid-recording. On
    restart the recording is finished from its spool and its transcription queued with the
    callback kept since the recording began (schema 5), so the callback still arrives: once,
    signed, naming the call. (The restarted server uses the external engine: it is the callback
    that is under test, and the fake engine's answer is exact.)"""
    from sipp_util import PROVISIONAL, ack, invite, play, scenario, sipp_cmd
    from test_voice_calls import App, Voice, pcap_of, twiml
    app = App()
    voice = Voice(tmp_path, recd_bin)
    try:
        app.route("/voice", twiml('<Record playBeep="false" timeout="0" transcribe="true" '
                                  'transcribeCallback="/tcb?k=1" recordingStatusCallback="/rsc" '
                                  'recordingStatusCallbackEvent="in-progress"/>'))
        app.route("/rsc", "")
        app.route("/tcb", "")
        number = voice.number(app.url + "/voice")
        speech = speech_8k(TESTDATA / "cards" / "001.wav")
        pcap, ms = pcap_of(tmp_path, "k.pcap", [("pcm", speech + speech + speech)])
        scen = tmp_path / "k.xml"
        scen.write_text(scenario(invite(), PROVISIONAL, '<recv response="200" rrs="true"/>\n', ack(),
                                 play(pcap, ms), '<recv request="BYE" optional="true" timeout="2000"/>\n'))
        sipp = subprocess.Popen(sipp_cmd(voice.sip_port, scen, number, 30, timeout_error=False), cwd=tmp_path,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            rec_sid = app.wait("/rsc")[0]["params"]["RecordingSid"]
            call_sid = app.wait("/voice")[0]["params"]["CallSid"]
            # Killed once the spool holds two seconds of speech (its header is 16 bytes).
            spool = voice.server.data / "spool" / (rec_sid + ".spool")
            deadline = time.monotonic() + 30
            while (not spool.exists() or spool.stat().st_size < 16 + 2 * 8000 * 2) and \
                    time.monotonic() < deadline:
                time.sleep(0.05)
            assert spool.stat().st_size >= 16 + 2 * 8000 * 2
            voice.server.proc.send_signal(signal.SIGKILL)
            voice.server.proc.wait()
        finally:
            sipp.kill()
            sipp.wait()
        assert app.to("/tcb") == []
        voice.server.serve_args += list(whisper_args(whisper, tmp_path))
        voice.server.restart()
        assert voice.recording(rec_sid)["status"] == "completed"
        cb = app.wait("/tcb", timeout=120)
        time.sleep(1)  # a second callback would be here by now
        assert len(app.to("/tcb")) == 1, app.to("/tcb")
        assert voice.signed(cb[0]) and cb[0]["query"] == {"k": "1"}, cb[0]
        p = cb[0]["params"]
        tr = voice.get("/Recordings/%s/Transcriptions.json" % rec_sid).json()["transcriptions"]
        assert len(tr) == 1 and tr[0]["status"] == "completed", tr
        assert p["TranscriptionSid"] == tr[0]["sid"] and p["TranscriptionStatus"] == "completed", p
        assert p["TranscriptionText"] == tr[0]["transcription_text"] == "hello from the external engine number 0", p
        assert whisper.requests == [None]
        assert p["RecordingSid"] == rec_sid and p["CallSid"] == call_sid, p
        assert p["AccountSid"] == voice.account.sid, p
    finally:
        voice.stop()
        app.stop()
