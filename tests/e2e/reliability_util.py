"""Helpers shared by the reliability tests (issue 5): test_crash_server.py, test_full_disk.py,
test_isolation.py, test_bad_input.py, test_hostile_clients.py.

conftest.py is reused as is; what it lacks lives here: a server started with extra `serve`
options that can be SIGKILLed and restarted on the same data folder, a raw-socket exchange
that tolerates a closed connection, the figures every test prints (and appends to
$RECD_FIGURES as one JSON line, for docs/reliability.md), and a sanitizer check of a log.
"""

import hashlib
import json
import os
import random
import signal
import socket
import subprocess
import time
import wave
from pathlib import Path

import pytest

from conftest import Server

SANITIZER_MARKS = ("AddressSanitizer", "runtime error", "LeakSanitizer", "UndefinedBehaviorSanitizer")


def sha(data):
    return hashlib.sha256(data).hexdigest()


def figures(test, **fig):
    """Prints a test's figures (visible with `pytest -s`) and appends them as one JSON line to
    the file named by $RECD_FIGURES, if set."""
    fig = dict(fig)
    line = {"test": test}
    line.update(fig)
    print("figures %s: %s" % (test, json.dumps(fig, sort_keys=True)))
    path = os.environ.get("RECD_FIGURES")
    if path:
        with open(path, "a") as f:
            f.write(json.dumps(line, sort_keys=True) + "\n")


def seeded_rng(label):
    """random.Random seeded from $RECD_CRASH_SEED or the OS; prints the seed to replay."""
    env = os.environ.get("RECD_CRASH_SEED")
    seed = int(env) if env else random.SystemRandom().randrange(2 ** 32)
    print("%s seed: %d (replay with RECD_CRASH_SEED=%d)" % (label, seed, seed))
    return seed, random.Random(seed)


def sanitizer_lines(text):
    return [l for l in text.splitlines() if any(m in l for m in SANITIZER_MARKS)]


class ExtServer(Server):
    """conftest.Server with extra `recd serve` options (e.g. --auth-fail-limit 5), extra
    environment, SIGKILL, and restart on the same data folder and port."""

    def __init__(self, data, log_path, serve_args=(), env=None, base_url=None):
        # Only the options given: no default failed-auth limit on top of them.
        super().__init__(data, log_path, base_url=base_url, auth_fail_limit=None, serve_args=serve_args,
                         env=env)

    def start(self, timeout=20):
        return super().start(timeout)

    def kill(self):
        """SIGKILL: no cleanup of any kind runs in the server."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
        if self._log:
            self._log.close()
            self._log = None
        self.stopped = True
        # connections of the old process are dead; do not reuse them
        self.session.close()
        import requests
        self.session = requests.Session()

    def alive(self):
        return self.proc is not None and self.proc.poll() is None


@pytest.fixture
def ext_server(recd_bin, tmp_path_factory):
    """ext_server(data=None, serve_args=(), env=None, bootstrap=True) -> started ExtServer;
    stopped (SIGTERM, then SIGKILL) when the test ends."""
    started = []

    def start(data=None, serve_args=(), env=None, bootstrap=True, base_url=None):
        d = Path(data) if data else tmp_path_factory.mktemp("recd-rel-data")
        log = tmp_path_factory.mktemp("recd-rel-log") / "server.log"
        srv = ExtServer(d, log, serve_args=serve_args, env=env, base_url=base_url)
        if bootstrap:
            srv.cli.account_create(name="bootstrap")
        started.append(srv)
        return srv.start()

    start.started = started
    yield start
    for s in started:
        s.stop()


# --------------------------------------------------------------------------- raw sockets

def read_response_head(sock, limit=1 << 20):
    """Reads until the end of the response head; returns (head bytes, rest) or (partial, None)
    if the peer closed first."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        try:
            chunk = sock.recv(65536)
        except (ConnectionResetError, BrokenPipeError):
            return buf, None
        if not chunk:
            return buf, None
        buf += chunk
        if len(buf) > limit:
            break
    head, _, rest = buf.partition(b"\r\n\r\n")
    return head, rest


def parse_status(head):
    """Status code from a response head, or None if it is not an HTTP/1.x status line."""
    line = head.split(b"\r\n", 1)[0].decode("latin-1")
    parts = line.split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
        return None
    return int(parts[1])


def raw_try(port, data, timeout=10, half_close=False):
    """Sends data (bytes, or a list of byte pieces sent one after another) on a new connection
    and reads one response: its head, then Content-Length bytes of body (or until EOF when
    there is no Content-Length).  Never raises for a reset or closed connection.
    Returns dict(status=int|None, head=str, headers=dict, body=bytes, raw=bytes,
    closed_without_response=bool, send_error=str|None)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    send_error = []
    raw = b""
    timed_out = False
    pieces = data if isinstance(data, list) else [data]

    def send_all():
        for p in pieces:
            try:
                s.sendall(p)
            except OSError as e:
                send_error.append(repr(e))
                break

    sender = None
    try:
        if sum(len(p) for p in pieces) > 256 * 1024:
            # a big request: read while sending, so that an early answer (413, 431) is seen
            # before the server closes and a reset could discard it
            import threading
            sender = threading.Thread(target=send_all, daemon=True)
            sender.start()
        else:
            send_all()
        if half_close:
            try:
                s.shutdown(socket.SHUT_WR)
            except OSError:
                pass
        deadline = time.monotonic() + timeout
        want = None
        while time.monotonic() < deadline:
            if want is None and b"\r\n\r\n" in raw:
                head = raw.split(b"\r\n\r\n", 1)[0].decode("latin-1")
                want = -1
                for line in head.split("\r\n")[1:]:
                    k, _, v = line.partition(":")
                    if k.strip().lower() == "content-length" and v.strip().isdigit():
                        want = len(head) + 4 + int(v.strip())
                if head.split(" ")[1:2] in (["204"], ["304"]) or head.startswith("HTTP/1.1 1"):
                    want = len(head) + 4
            if want is not None and want >= 0 and len(raw) >= want:
                break
            try:
                b = s.recv(65536)
            except socket.timeout:
                timed_out = True
                break
            except (ConnectionResetError, BrokenPipeError):
                break
            if not b:
                break
            raw += b
        else:
            timed_out = True
    finally:
        s.close()
        if sender is not None:
            sender.join(timeout)
    head, sep, body = raw.partition(b"\r\n\r\n")
    status = parse_status(head) if raw else None
    headers = {}
    for line in head.decode("latin-1").split("\r\n")[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    return {"status": status, "head": head.decode("latin-1"), "headers": headers, "body": body,
            "raw": raw, "closed_without_response": not raw and not timed_out,
            "timed_out": timed_out, "send_error": send_error[0] if send_error else None}


# --------------------------------------------------------------------------- audio

def decode_mp3(tmp_path, data):
    """Decodes with Debian's mpg123; returns (returncode, stderr, channels, rate, nframes)."""
    tag = "%08x" % random.getrandbits(32)
    src = Path(tmp_path) / ("rel-%s.mp3" % tag)
    out = Path(tmp_path) / ("rel-%s.wav" % tag)
    src.write_bytes(data)
    r = subprocess.run(["mpg123", "-q", "-w", str(out), str(src)], capture_output=True,
                       text=True, timeout=60)
    if r.returncode != 0 or not out.exists():
        return r.returncode or 1, r.stderr, 0, 0, 0
    with wave.open(str(out), "rb") as w:
        res = (0, r.stderr, w.getnchannels(), w.getframerate(), w.getnframes())
    src.unlink()
    out.unlink()
    return res


def media_files(data_dir):
    """Every file under data/media (relative names), tmp included."""
    root = Path(data_dir) / "media"
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
