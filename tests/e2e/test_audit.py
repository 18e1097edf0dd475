"""The audit record (contract section 11, docs/operations.md "Audit").

Media fetched by auth token, API key, signed link and public URL, a DELETE, a credential that
failed and one that passed each appear exactly once in `recd audit`, with the right account,
credential kind, principal, client address, method, path (never a link's signature) and status;
`--account` and `--since` filter; `--audit off` records nothing; `--audit-sync` on (the default)
fdatasyncs each batch written, off never.
"""

import json
import os
import shutil
import signal
import subprocess
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from conftest import Recd, Server, acct_path


@pytest.fixture(scope="module")
def world(tmp_path_factory, make_wav):
    tmp = tmp_path_factory.mktemp("audit")
    srv = Server(tmp / "data", tmp / "server.log")
    cli = srv.cli
    pub = cli.account_create(name="public media")
    priv = cli.account_create(name="media auth")
    cli.media_auth(priv.sid, True)
    key = cli.key_create(priv.sid)
    rp, rd = [r["sid"] for r in cli.import_ok(pub.sid, [make_wav(), make_wav()])]
    rm1, rm2 = [r["sid"] for r in cli.import_ok(priv.sid, [make_wav(), make_wav()])]
    srv.start()
    yield srv, cli, pub, priv, key, rp, rd, rm1, rm2
    srv.stop()


def audit_lines(cli, *args, want=None, timeout=30):
    """`recd audit ARGS` as parsed lines; with `want`, polled until that many are there (the
    writer appends every 100 ms)."""
    deadline = time.monotonic() + timeout
    while True:
        r = cli.ok("audit", *args)
        assert r.stderr == "", r.stderr
        lines = [json.loads(l) for l in r.stdout.splitlines()]
        if want is None or len(lines) >= want or time.monotonic() > deadline:
            return lines
        time.sleep(0.1)


def test_each_access_recorded_once(world):
    srv, cli, pub, priv, key, rp, rd, rm1, rm2 = world
    s = srv.session
    before = datetime.now(timezone.utc) - timedelta(seconds=1)
    base = srv.url + "%s/Recordings/%s"
    made = []  # (event, credential, auth, account, principal, recording, method, path, status)

    r = s.get(base % (acct_path(pub.sid), rp) + ".wav", timeout=30)
    assert r.status_code == 200
    made.append(("media", "public_url", "unchecked", pub.sid, "", rp, "GET",
                 base.replace(srv.url, "") % (acct_path(pub.sid), rp) + ".wav", 200))

    r = s.get(base % (acct_path(priv.sid), rm1) + ".wav", auth=priv.auth, timeout=30)
    assert r.status_code == 200
    made.append(("media", "auth_token", "ok", priv.sid, priv.sid, rm1, "GET",
                 "%s/Recordings/%s.wav" % (acct_path(priv.sid), rm1), 200))

    r = s.get(base % (acct_path(priv.sid), rm2) + ".mp3", auth=(key["sid"], key["secret"]), timeout=60)
    assert r.status_code == 200
    made.append(("media", "api_key", "ok", priv.sid, key["sid"], rm2, "GET",
                 "%s/Recordings/%s.mp3" % (acct_path(priv.sid), rm2), 200))

    link = cli.sign(priv.sid, rm1, base_url=srv.url)
    r = s.get(link, timeout=30)
    assert r.status_code == 200
    made.append(("media", "signed_link", "ok", priv.sid, priv.sid, rm1, "GET",
                 "%s/Recordings/%s.wav" % (acct_path(priv.sid), rm1), 200))

    r = s.delete(base % (acct_path(pub.sid), rd), auth=pub.auth, timeout=30)
    assert r.status_code == 204
    made.append(("delete", "auth_token", "ok", pub.sid, pub.sid, rd, "DELETE",
                 "%s/Recordings/%s" % (acct_path(pub.sid), rd), 204))

    r = s.get(srv.url + acct_path(pub.sid) + "/Recordings.json", auth=(pub.sid, "0" * 32), timeout=30)
    assert r.status_code == 401
    made.append(("auth", "auth_token", "failed", pub.sid, pub.sid, "", "GET",
                 acct_path(pub.sid) + "/Recordings.json", 401))

    r = s.get(srv.url + acct_path(pub.sid) + "/Recordings.json", auth=pub.auth, timeout=30)
    assert r.status_code == 200
    made.append(("auth", "auth_token", "ok", pub.sid, pub.sid, "", "GET",
                 acct_path(pub.sid) + "/Recordings.json", 200))

    lines = audit_lines(cli, want=len(made))
    got = [(l["event"], l["credential"], l["auth"], l["account_sid"], l["principal"], l["recording_sid"],
            l["method"], l["path"], l["status"]) for l in lines]
    assert sorted(got) == sorted(made), "\n".join(map(str, got))
    assert {l["address"] for l in lines} == {"127.0.0.1"}
    for l in lines:
        t = datetime.strptime(l["time"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
        assert before <= t <= datetime.now(timezone.utc) + timedelta(seconds=1)
    assert all("Signature" not in l["path"] and "?" not in l["path"] for l in lines)

    # Filters: one account's, and by time.
    only = audit_lines(cli, "--account", priv.sid)
    assert len(only) == 3 and {l["account_sid"] for l in only} == {priv.sid}
    assert audit_lines(cli, "--since", (datetime.now(timezone.utc) + timedelta(hours=1)).isoformat()) == []
    assert len(audit_lines(cli, "--since", before.strftime("%Y-%m-%dT%H:%M:%SZ"))) == len(made)
    assert len(audit_lines(cli, "--since", before.strftime("%Y-%m-%d"))) == len(made)
    for bad in (["--since", "yesterday"], ["--account", "AC123"], ["extra"]):
        r = cli.run("audit", *bad)
        assert r.returncode == 2 and r.stderr.count("\n") == 1, (bad, r.stderr)


def test_audit_off_and_cut_line(tmp_path, make_wav):
    """--audit off writes nothing; a line cut by a crash is skipped by the reader, with a note."""
    srv = Server(tmp_path / "data", tmp_path / "server.log", serve_args=["--audit", "off"])
    acc = srv.cli.account_create()
    sid = srv.cli.import_ok(acc.sid, [make_wav()])[0]["sid"]
    srv.start()
    try:
        r = srv.session.get(srv.url + acct_path(acc.sid) + "/Recordings/%s.wav" % sid, timeout=30)
        assert r.status_code == 200
    finally:
        srv.stop()
    assert not (srv.data / "audit").exists()
    assert srv.cli.ok("audit").stdout == ""
    (srv.data / "audit").mkdir()
    (srv.data / "audit" / "audit-20260101T000000.000000Z-1.jsonl").write_text(
        '{"time":"2026-01-01T00:00:00.000000Z","event":"media","credential":"public_url","auth":"unchecked",'
        '"account_sid":"%s","principal":"","recording_sid":"%s","address":"::1","method":"GET",'
        '"path":"/x.wav","status":200}\n{"time":"2026-01-01T00:00:01' % (acc.sid, sid))
    r = srv.cli.ok("audit")
    assert [json.loads(l)["address"] for l in r.stdout.splitlines()] == ["::1"]
    assert "skipped" in r.stderr and r.stderr.count("\n") == 1


def audit_syncs(trace):
    """fdatasync calls on an audit file in an `strace -y` output."""
    return sum(1 for l in trace.read_text().splitlines() if "fdatasync(" in l and "/audit/audit-" in l)


def test_audit_sync(tmp_path, make_wav):
    """--audit-sync: bad values exit 2 with one line; by default the writer fdatasyncs the file
    after a batch it wrote, and with `off` never (seen with strace where it is installed and may
    trace; the unit test counts the syncs either way)."""
    for bad in ("maybe", ""):
        r = Recd(tmp_path / "bad").run("serve", "--listen", "127.0.0.1:1", "--audit-sync", bad)
        assert r.returncode == 2 and r.stderr.count("\n") == 1, (bad, r.stderr)
    strace = shutil.which("strace")
    if not strace or subprocess.run([strace, "-qq", "-o", "/dev/null", "true"]).returncode != 0:
        pytest.skip("strace is not installed or may not trace here")
    trace = tmp_path / "trace"

    class Traced(Recd):
        def cmd(self, *args):
            # --seccomp-bpf: only fdatasync stops the process, not every system call.
            return [strace, "-f", "--seccomp-bpf", "-qq", "-y", "-e", "trace=fdatasync", "-o", str(trace)] + \
                super().cmd(*args)

    srv = Server(tmp_path / "data", tmp_path / "server.log",
                 env={"ASAN_OPTIONS": "detect_leaks=0"})  # LeakSanitizer cannot run under ptrace
    cli = srv.cli
    acc = cli.account_create()
    sid = cli.import_ok(acc.sid, [make_wav()])[0]["sid"]
    srv.cli = Traced(srv.data)
    for i, mode in enumerate(("on", "off")):
        srv.serve_args = ["--audit-sync", mode]
        srv.start()
        try:
            r = srv.session.get(srv.url + acct_path(acc.sid) + "/Recordings/%s.wav" % sid, timeout=60)
            assert r.status_code == 200
            assert len(audit_lines(cli, want=i + 1)) == i + 1
            # The line is read back once written; the sync follows the write in the same batch.
            deadline = time.monotonic() + 30
            while mode == "on" and audit_syncs(trace) == 0 and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            # SIGTERM to strace would detach it and leave recd running: stop recd, strace follows.
            kids = Path("/proc/%d/task/%d/children" % (srv.proc.pid, srv.proc.pid)).read_text().split()
            for k in kids:
                os.kill(int(k), signal.SIGTERM)
            srv.proc.wait(60)
            srv.stop()
        n = audit_syncs(trace)  # strace -o starts the file afresh each run
        assert (n >= 1) if mode == "on" else (n == 0), (mode, n, trace.read_text()[-2000:])
