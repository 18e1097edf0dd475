"""`recd mirror` (contract section 11): recordings, their two-channel media and transcriptions
copied from one recd to another through a proxy that injects 429 (Retry-After in seconds and as an
HTTP date), 500, connection resets, a cut-off body and slow answers; the same sids, dates and
bytes arrive; a kill -9 midway and a second run give everything once; bad input exits 2.

The proxy also checks the client: every request carries Basic auth (the source's account has
media auth on), and every page URL past the first is exactly a next_page_uri the source gave.
"""

import email.utils
import hashlib
import http.client
import json
import os
import re
import socket
import struct
import subprocess
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from conftest import REPO, RECD_BIN, Recd, rand_sid, wav_bytes

ROWS_BIN = Path(os.environ.get("RECD_STORE_ROWS", str(REPO / "build" / "test" / "harness" / "store_rows")))
PAGE_SIZE = 4


class Proxy:
    """A forwarding proxy in front of `upstream` (host, port). `faults` maps a request kind
    ('page', 'trans', 'media') to a list of faults, each used once by the next request of that
    kind: ('429', '1'), ('429date', 1), ('500',), ('reset',), ('partial',), ('slow', seconds).
    `delay` slows every media answer by that many seconds."""

    def __init__(self, upstream, faults=None, delay=0.0):
        self.upstream = upstream
        self.faults = {k: list(v) for k, v in (faults or {}).items()}
        self.delay = delay
        self.lock = threading.Lock()
        self.given = set()        # every next_page_uri the source has answered with
        self.violations = []      # page URLs asked that the source never gave
        self.unauthenticated = []
        self.injected = []
        self.requests = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_GET(self):
                proxy.handle(self)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = "http://127.0.0.1:%d" % self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()

    @staticmethod
    def kind(path):
        if path.endswith("/Transcriptions.json"):
            return "trans"
        if path.endswith("/Recordings.json"):
            return "page"
        return "media"

    def handle(self, h):
        path, _, query = h.path.partition("?")
        kind = self.kind(path)
        q = urllib.parse.parse_qs(query)
        with self.lock:
            self.requests.append(h.path)
            if not h.headers.get("Authorization", "").startswith("Basic "):
                self.unauthenticated.append(h.path)
            if kind != "media" and ("PageToken" in q or "Page" in q) and h.path not in self.given:
                self.violations.append(h.path)
            todo = self.faults.get(kind) or []
            fault = todo.pop(0) if todo else None
            if fault:
                self.injected.append((kind, fault[0]))
        if fault and fault[0] == "slow":
            time.sleep(fault[1])
        if kind == "media" and self.delay:
            time.sleep(self.delay)
        if fault and fault[0] in ("429", "429date", "500"):
            status = 500 if fault[0] == "500" else 429
            body = b'{"code": 20429, "message": "Too Many Requests", "status": 429}'
            h.send_response(status)
            if fault[0] == "429":
                h.send_header("Retry-After", fault[1])
            elif fault[0] == "429date":
                h.send_header("Retry-After", email.utils.formatdate(time.time() + fault[1], usegmt=True))
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Length", str(len(body)))
            h.end_headers()
            h.wfile.write(body)
            return
        if fault and fault[0] == "reset":
            self.reset(h)
            return
        conn = http.client.HTTPConnection(*self.upstream, timeout=30)
        hdrs = {k: v for k, v in h.headers.items() if k.lower() in ("authorization", "if-none-match")}
        conn.request("GET", h.path, headers=hdrs)
        r = conn.getresponse()
        body = r.read()
        conn.close()
        if kind != "media" and r.status == 200:
            nxt = json.loads(body).get("next_page_uri")
            if nxt:
                with self.lock:
                    self.given.add(nxt)
        h.send_response(r.status)
        for k, v in r.getheaders():
            if k.lower() in ("content-type", "etag", "last-modified", "www-authenticate"):
                h.send_header(k, v)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        if fault and fault[0] == "partial":
            h.wfile.write(body[: len(body) // 2])
            h.wfile.flush()
            self.reset(h)
            return
        h.wfile.write(body)

    @staticmethod
    def reset(h):
        h.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        h.close_connection = True
        h.connection.close()


def rows(data, kind, **fields):
    if not ROWS_BIN.exists():
        pytest.fail("%s not built (make build/test/harness/store_rows)" % ROWS_BIN, pytrace=False)
    args = [str(ROWS_BIN), str(data), kind] + ["%s=%s" % kv for kv in fields.items()]
    store = Recd(data).store
    env = dict(os.environ, RECD_STORE=store) if store else None
    r = subprocess.run(args, capture_output=True, text=True, timeout=30, env=env)
    assert r.returncode == 0, (args, r.stdout, r.stderr)
    return r.stdout.strip()


@pytest.fixture(scope="module")
def source(server, make_account, make_wav):
    """An account on the shared server with media auth on: nine completed recordings (four
    two-channel, two with transcriptions), one deleted, one in progress, one absent."""
    acct = make_account()
    cli = server.cli
    specs = [  # channels, seconds, source, transcription
        (2, 1.5, "DialVerb", "hello from the left and the right"),
        (2, 2.2, "StartCallRecordingAPI", None),
        (2, 1.0, "Conference", None),
        (2, 3.0, "OutboundAPI", "caf\u00e9 \u2014 two words"),
        (1, 0.6, "RecordVerb", None),
        (1, 1.4, "RecordVerb", "mono text"),
        (1, 2.0, "Trunking", None),
        (1, 0.3, "RecordVerb", None),
        (1, 1.1, "StartConferenceRecordingAPI", None),
        (1, 0.5, "RecordVerb", None),  # deleted below
    ]
    sids = []
    for i, (ch, secs, src, text) in enumerate(specs):
        f = make_wav(seconds=secs, channels=ch)
        opts = {"call": rand_sid("CA"), "source": src,
                "date_created": "2021-03-%02dT10:%02d:00Z" % (i + 1, i),
                "start_time": "2021-03-%02dT09:59:%02dZ" % (i + 1, i)}
        if src.startswith("Conference") or src == "StartConferenceRecordingAPI":
            opts["conference"] = rand_sid("CF")
        if text:
            opts["transcription_text"] = text
        sids.append(cli.import_ok(acct.sid, [f], **opts)[0]["sid"])
    r = server.request("DELETE", "%s/Recordings/%s.json" % (acct.path, sids[-1]), auth=acct.auth)
    assert r.status_code == 204
    live = rows(server.data, "recording", account_sid=acct.sid, call_sid=rand_sid("CA"))
    absent = rows(server.data, "recording", account_sid=acct.sid, call_sid=rand_sid("CA"))
    rows(server.data, "finish", sid=absent, status="absent", error_code=16102)
    cli.media_auth(acct.sid, True)
    cred = server.data.parent / ("cred-%s" % acct.sid)
    cred.write_text("# the source's account\nusername=%s\npassword=%s\n" % acct.auth)
    cred.chmod(0o600)
    return {"acct": acct, "completed": sids[:-1], "deleted": sids[-1], "live": live, "absent": absent,
            "cred": cred, "server": server}


def mirror_cmd(target_data, src, url, into, *extra):
    return Recd(target_data).cmd("mirror", "--from", url, "--account", src["acct"].sid,
                                 "--credentials-file", src["cred"], "--into", into, *extra)


def run_mirror(target_data, src, url, into, *extra, timeout=120):
    return subprocess.run(mirror_cmd(target_data, src, url, into, *extra), capture_output=True, text=True,
                          timeout=timeout)


def on_tty(cmd):
    """Runs cmd with stdout and stderr on a pseudo-terminal; returns what it wrote."""
    import pty
    master, slave = pty.openpty()
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=slave, stderr=slave)
    os.close(slave)
    out = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the other end is closed
            break
        if not chunk:
            break
        out += chunk
    os.close(master)
    assert p.wait(60) == 0, out
    return out.decode("utf-8", "replace")


def summary(stdout):
    last = [l for l in stdout.splitlines() if l.startswith("mirror: ")]
    assert last, stdout
    words = last[-1].replace(",", "").replace(";", "").split()
    return {words[i + 1]: int(words[i]) for i in range(1, 11, 2)}


def strip(rec):
    """What a copy keeps, without what names the server or the account."""
    return {k: v for k, v in rec.items() if k not in ("account_sid", "uri", "media_url", "subresource_uris")}


def assert_same(src, target, into):
    """Every completed recording of the source is in the target once, with the same fields,
    bytes and transcriptions; nothing else is."""
    s_srv, acct = src["server"], src["acct"]
    s_recs = {r["sid"]: r for r in s_srv.list_all(acct) if r["status"] == "completed"}
    t_recs = target.list_all(into)
    assert sorted(r["sid"] for r in t_recs) == sorted(src["completed"])
    assert len({r["sid"] for r in t_recs}) == len(t_recs)
    for t in t_recs:
        s = s_recs[t["sid"]]
        assert strip(t) == strip(s), (t, s)
        assert t["account_sid"] == into.sid
        s_media = s_srv.get("%s/Recordings/%s.wav" % (acct.path, t["sid"]), auth=acct.auth)
        t_media = target.get("%s/Recordings/%s.wav" % (into.path, t["sid"]))
        assert s_media.status_code == 200 and t_media.status_code == 200
        assert hashlib.sha256(t_media.content).digest() == hashlib.sha256(s_media.content).digest()
    s_trs = sorted((strip(t) for t in s_srv.list_all(acct, "Transcriptions")), key=lambda t: t["sid"])
    t_trs = sorted((strip(t) for t in target.list_all(into, "Transcriptions")), key=lambda t: t["sid"])
    assert len(s_trs) == 3
    assert t_trs == s_trs


def test_mirror_through_faults_then_again(source, start_server):
    target = start_server()
    into = target.cli.account_create(name="mirror target")
    faults = {
        "page": [("429", "1"), ("slow", 1.0), ("500",)],
        "trans": [("reset",), ("429date", 1)],
        "media": [("500",), ("partial",), ("reset",), ("slow", 1.0), ("429", "1")],
    }
    proxy = Proxy(("127.0.0.1", source["server"].port), faults)
    try:
        r = run_mirror(target.data, source, proxy.url, into.sid, "--concurrency", "3", "--page-size",
                       str(PAGE_SIZE))
        assert r.returncode == 0, (r.stdout, r.stderr)
        s = summary(r.stdout)
        assert s == {"listed": 11, "copied": 9, "skipped": 2, "failed": 0, "throttled": 3}, r.stdout
        assert "skipped %s: status in-progress at the source" % source["live"] in r.stdout
        assert "skipped %s: status absent at the source" % source["absent"] in r.stdout
        assert sorted(k for k, _ in proxy.injected) == sorted(k for k, v in faults.items() for _ in v)
        assert not any(proxy.faults.values())
        assert len(proxy.given) == 2, proxy.given  # three pages: two next_page_uri followed
        assert proxy.violations == []
        assert proxy.unauthenticated == []
        two = [p for p in proxy.requests if "RequestedChannels=2" in p]
        assert len({p.split("?")[0] for p in two}) == 4
        assert_same(source, target, into)

        # Again: everything is here with the same bytes (a recd source answers 304).
        before = len(proxy.requests)
        r = run_mirror(target.data, source, proxy.url, into.sid, "--page-size", str(PAGE_SIZE))
        assert r.returncode == 0, (r.stdout, r.stderr)
        assert summary(r.stdout) == {"listed": 11, "copied": 0, "skipped": 11, "failed": 0, "throttled": 0}
        assert r.stdout.count("here already with the same bytes") == 9
        assert proxy.violations == []
        assert len(proxy.requests) - before == 3 + 9 + 9
        assert_same(source, target, into)
        assert "clean" in target.cli.ok("fsck").stdout
        # On a terminal: a bar with the counts and the rate instead of a line per recording.
        out = on_tty(mirror_cmd(target.data, source, proxy.url, into.sid))
        assert "[########################] 11/11 · copied 0 · skipped 11 · failed 0 · throttled 0 · " in out, out
        assert "rec/s" in out and "mirror: 11 listed, 0 copied, 11 skipped" in out, out
        assert "here already" not in out, out
        # The three runs' counts reach the target's /metrics: the mirror is a process of its own,
        # so it keeps them in the data folder (core/tally.h) and the server reads them there.
        m = target.get("/metrics").text
        assert 'recd_mirror_recordings_total{result="copied"} 9\n' in m, m
        assert 'recd_mirror_recordings_total{result="skipped"} 24\n' in m, m
        assert 'recd_mirror_recordings_total{result="failed"} 0\n' in m, m
        assert "recd_mirror_throttled_total 3\n" in m and "recd_mirror_runs_total 3\n" in m, m
        last = re.search(r"^recd_mirror_last_success_timestamp_seconds (\d+)$", m, re.M)
        assert last and abs(int(last.group(1)) - time.time()) < 600, m
    finally:
        proxy.close()


def test_mirror_kill_9_then_resume(source, start_server, tmp_path):
    target = start_server()
    into = target.cli.account_create(name="mirror target")
    proxy = Proxy(("127.0.0.1", source["server"].port), delay=0.3)
    try:
        p = subprocess.Popen(mirror_cmd(target.data, source, proxy.url, into.sid, "--concurrency", "2",
                                        "--page-size", str(PAGE_SIZE)),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        copied = []
        for line in p.stdout:
            if line.startswith("copied "):
                copied.append(line.split()[1])
                if len(copied) == 3:
                    p.kill()
                    break
        p.wait(30)
        p.stdout.close()
        p.stderr.close()
        assert p.returncode == -9, p.returncode
        here = target.list_sids(into)
        assert set(copied) <= set(here) and len(here) < 9
        proxy.delay = 0
        r = run_mirror(target.data, source, proxy.url, into.sid, "--page-size", str(PAGE_SIZE))
        assert r.returncode == 0, (r.stdout, r.stderr)
        s = summary(r.stdout)
        assert s["copied"] == 9 - len(here) and s["failed"] == 0, r.stdout
        for sid in here:
            assert "skipped %s: here already with the same bytes" % sid in r.stdout
        assert_same(source, target, into)
        # The blob store's own temporary file of the killed write may be left (a leftover, which
        # fsck reports and --repair removes); the mirror's own download file never is.
        fsck = target.cli.ok("fsck").stdout
        assert "0 damaged, 0 orphan media" in fsck and fsck.rstrip().endswith("clean"), fsck
        assert not list(Path(target.data).glob(".mirror-*"))
        assert proxy.violations == []
    finally:
        proxy.close()


def test_mirror_conflict_and_window(source, start_server, make_wav):
    """A sid here with other bytes is reported and left alone; --since/--until bound the copy."""
    target = start_server()
    into = target.cli.account_create(name="mirror target")
    clash = source["completed"][4]
    target.cli.import_ok(into.sid, [make_wav(seconds=0.6)], sid=clash)
    mine = target.get("%s/Recordings/%s.wav" % (into.path, clash)).content
    url = source["server"].url
    r = run_mirror(target.data, source, url, into.sid, "--since", "2021-03-04", "--until",
                   "2021-03-06T00:00:00Z")
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert summary(r.stdout) == {"listed": 2, "copied": 1, "skipped": 0, "failed": 1, "throttled": 0}
    assert "failed %s: here already with different media bytes; not overwritten" % clash in r.stdout
    assert sorted(target.list_sids(into)) == sorted([clash, source["completed"][3]])
    assert target.get("%s/Recordings/%s.wav" % (into.path, clash)).content == mine


def test_mirror_bad_input(source, start_server, tmp_path):
    target = start_server()
    into = target.cli.account_create(name="mirror target")
    acct = source["acct"]
    url = source["server"].url
    cli = Recd(target.data)

    def bad(*args, why):
        r = cli.run("mirror", *args)
        assert r.returncode == 2, (args, r.stdout, r.stderr)
        assert why in r.stderr, r.stderr
        assert len(r.stderr.strip().splitlines()) == 1, r.stderr

    cred = str(source["cred"])
    base = ["--account", acct.sid, "--credentials-file", cred, "--into", into.sid]
    bad(*base, why="--from")
    bad("--from", url + "/?x=1", *base, why="--from")
    bad("--from", url, "--account", "AC1", "--credentials-file", cred, why="--account")
    bad("--from", url, *base, "--concurrency", "0", why="--concurrency")
    bad("--from", url, *base, "--since", "2021-02-30", why="--since")
    bad("--from", url, *base, "--since", "2021-03-05", "--until", "2021-03-01", why="after --until")
    loose = tmp_path / "loose"
    loose.write_text(source["cred"].read_text())
    loose.chmod(0o644)
    bad("--from", url, "--account", acct.sid, "--credentials-file", str(loose), "--into", into.sid,
        why="chmod 600")
    odd = tmp_path / "odd"
    odd.write_text("user=%s\n" % acct.sid)
    odd.chmod(0o600)
    bad("--from", url, "--account", acct.sid, "--credentials-file", str(odd), "--into", into.sid,
        why="username=")
    wrong = tmp_path / "wrong"
    wrong.write_text("username=%s\npassword=%s\n" % (acct.sid, "0" * 32))
    wrong.chmod(0o600)
    bad("--from", url, "--account", acct.sid, "--credentials-file", str(wrong), "--into", into.sid,
        why="refused the credentials")
    bad("--from", url, "--account", acct.sid, "--credentials-file", cred, "--into", rand_sid("AC"),
        why="no account")
    # Nothing was written by any of them.
    assert target.list_sids(into) == []
