"""recd under systemd (contract section 11, docs/operations.md): the notify protocol over a socket
this test owns, as systemd would hold it (READY=1 only once the listener accepts, WATCHDOG=1 at
half the interval asked for, STOPPING=1 on SIGTERM; WATCHDOG_PID is tests/unit/test_ops.c's), and contrib/recd.service as
`systemd-analyze verify` and `systemd-analyze security` judge it.
"""

import os
import shutil
import signal
import socket
import subprocess
import time

import pytest
import requests

from conftest import REPO, RECD_BIN, Recd, free_port

WATCHDOG_S = 2.0


class NotifySocket:
    """A datagram socket where recd sends its notifications, and what came, with arrival times."""

    def __init__(self, path):
        self.path = str(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.got = []

    def wait_for(self, what, timeout=30):
        """Reads until a message holding the line `what` arrives; returns (arrival time, message)."""
        deadline = time.monotonic() + timeout
        while True:
            for t, msg in self.got:
                if what in msg.split("\n"):
                    self.got.remove((t, msg))
                    return t, msg
            left = deadline - time.monotonic()
            assert left > 0, "no %s within %d s; got %r" % (what, timeout, self.got)
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(4096)
            except socket.timeout:
                continue
            self.got.append((time.monotonic(), data.decode()))

    def close(self):
        self.sock.close()


@pytest.mark.alone  # the pings' spacing is measured: not beside other workers' load
def test_notify_ready_watchdog_stopping(tmp_path):
    ns = NotifySocket(tmp_path / "notify")
    cli = Recd(tmp_path / "data")
    cli.account_create(name="bootstrap")
    port = free_port()
    env = dict(os.environ, NOTIFY_SOCKET=ns.path, WATCHDOG_USEC=str(int(WATCHDOG_S * 1e6)))
    env.pop("WATCHDOG_PID", None)
    log = open(tmp_path / "server.log", "wb")
    proc = subprocess.Popen(cli.cmd("serve", "--listen", "127.0.0.1:%d" % port), stdout=log, stderr=log,
                            stdin=subprocess.DEVNULL, env=env)
    try:
        _, ready = ns.wait_for("READY=1")
        assert ready == "READY=1\nSTATUS=serving HTTP on 127.0.0.1:%d" % port, ready
        # READY=1 means the listener accepts: the very next connection is answered.
        r = requests.get("http://127.0.0.1:%d/livez" % port, timeout=10)
        assert r.status_code == 200
        # Pings at half the interval: each within the interval of the last, so systemd never
        # times the service out, and not a busy loop either.
        pings = [ns.wait_for("WATCHDOG=1")[0] for _ in range(3)]
        gaps = [b - a for a, b in zip(pings, pings[1:])]
        assert all(0.1 < g < WATCHDOG_S for g in gaps), gaps
        proc.send_signal(signal.SIGTERM)
        ns.wait_for("STOPPING=1")
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()
        ns.close()
    text = (tmp_path / "server.log").read_text()
    assert "AddressSanitizer" not in text and "runtime error" not in text, text[-3000:]


def unit_for_test(tmp_path):
    """contrib/recd.service with ExecStart on the binary under test (verify wants it to exist)."""
    text = (REPO / "contrib" / "recd.service").read_text()
    assert "ExecStart=/usr/local/bin/recd serve\n" in text
    path = tmp_path / "recd.service"
    path.write_text(text.replace("/usr/local/bin/recd", str(RECD_BIN)))
    return path


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="systemd-analyze is not installed")
def test_unit_file(tmp_path):
    unit = unit_for_test(tmp_path)
    text = unit.read_text()
    for line in ("Type=notify", "WatchdogSec=30", "NoNewPrivileges=yes", "ProtectSystem=strict", "User=recd",
                 "ReadWritePaths=/var/lib/recd", "StateDirectory=recd"):
        assert line + "\n" in text, line
    r = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60)
    # Any warning (an unknown key, a bad value) fails the test, not only errors.
    assert r.returncode == 0 and not r.stderr.strip() and not r.stdout.strip(), r.stdout + r.stderr
    r = subprocess.run(["systemd-analyze", "security", "--offline=true", "--threshold=20", str(unit)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr
