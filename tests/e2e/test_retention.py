"""Retention and bulk delete (contract section 11, docs/operations.md "Retention").

`recd account set --retention-days N` makes the server delete the account's recordings older than
N days exactly as DELETE does (media and derived files gone, transcriptions gone, the row kept as
"deleted"), younger ones and other accounts untouched, every --retention-interval while serving
and at start, so across a restart; counted in recd_retention_deletes_total.  Time is simulated by
importing with an old --date-created.
`recd delete` deletes by account, date and call; its dry run and its real run agree.
"""

import json
import re
import time
from datetime import datetime, timedelta, timezone

import pytest

from conftest import MEDIA, Recd, Server, acct_path

OLD = "2020-01-01T00:00:00Z"


def ago(days):
    return (datetime.now(timezone.utc) - timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")


def rec_json(srv, acc, sid):
    r = srv.session.get(srv.url + acct_path(acc.sid) + "/Recordings.json",
                        params={"IncludeSoftDeleted": "true", "PageSize": 1000}, auth=acc.auth, timeout=30)
    assert r.status_code == 200, r.text
    return {x["sid"]: x for x in r.json()["recordings"]}.get(sid)


def wait_deleted(srv, acc, sids, timeout=60):
    deadline = time.monotonic() + timeout
    while True:
        left = [s for s in sids if rec_json(srv, acc, s)["status"] != "deleted"]
        if not left:
            return
        assert time.monotonic() < deadline, "not deleted by retention: %s\n%s" % (left, srv.log_text()[-2000:])
        time.sleep(0.1)


def retention_total(srv):
    r = srv.session.get(srv.url + "/metrics", timeout=30)
    assert r.status_code == 200, r.text
    m = re.search(r"^recd_retention_deletes_total (\S+)$", r.text, re.M)
    assert m, "recd_retention_deletes_total missing"
    return float(m.group(1))


def wait_retention_total(srv, n, timeout=60):
    """Waits for the counter to reach n: a pass counts its deletes when its batch ends, after the
    media of each is removed, so a row is seen deleted before it is counted (with the media on S3,
    a few requests to the bucket before)."""
    deadline = time.monotonic() + timeout
    while retention_total(srv) != n:
        assert time.monotonic() < deadline, "recd_retention_deletes_total is %s, not %s" % (retention_total(srv), n)
        time.sleep(0.1)


def transcribed(srv, acc):
    """The recordings of the account that have a transcription."""
    r = srv.session.get(srv.url + acct_path(acc.sid) + "/Transcriptions.json", auth=acc.auth, timeout=30)
    assert r.status_code == 200, r.text
    return {t["recording_sid"] for t in r.json()["transcriptions"]}


def media_files(data, sid):
    return sorted(p.name for p in (data / "media").rglob(sid + "*"))


def test_retention_across_restart(tmp_path, make_wav):
    # --retention-interval 1: a pass every second, so a retention set while serving takes effect
    # without a restart; the restart below checks the pass at start.
    srv = Server(tmp_path / "data", tmp_path / "server.log", serve_args=["--retention-interval", "1"])
    cli = srv.cli
    for bad in ("0", "x", "86401", "1.5"):
        r = cli.run("serve", "--listen", "127.0.0.1:1", "--retention-interval", bad)
        assert r.returncode == 2 and r.stderr.count("\n") == 1, (bad, r.returncode, r.stderr)
    a = cli.account_create(name="kept 30 days")
    b = cli.account_create(name="kept forever")
    old = cli.import_ok(a.sid, [make_wav(), make_wav()], date_created=OLD,
                       transcription_text="private words")
    old += cli.import_ok(a.sid, [make_wav()], date_created=ago(31))
    young = cli.import_ok(a.sid, [make_wav()], date_created=ago(29))
    other = cli.import_ok(b.sid, [make_wav()], date_created=OLD)
    # Served with no retention: the old ones get a derived file (their MP3), and stay.
    srv.start()
    try:
        for r in old + young:
            m = srv.session.get(srv.url + acct_path(a.sid) + "/Recordings/%s.mp3" % r["sid"], timeout=60)
            assert m.status_code == 200, m.text
        if MEDIA != "s3":
            assert all(len(media_files(srv.data, r["sid"])) == 2 for r in old)
        assert transcribed(srv, a) == {r["sid"] for r in old[:2]}
        assert retention_total(srv) == 0

        cli.ok("account", "set", a.sid, "--retention-days", "30")
        # Bad values change nothing.
        for bad in ("-1", "x", "100001", "1.5"):
            r = cli.run("account", "set", a.sid, "--retention-days", bad)
            assert r.returncode == 2 and r.stderr.count("\n") == 1, (bad, r.returncode, r.stderr)

        # The next pass, within a second, while serving.
        wait_deleted(srv, a, [r["sid"] for r in old])
        for r in old:
            media = srv.session.get(srv.url + acct_path(a.sid) + "/Recordings/%s.wav" % r["sid"], timeout=30)
            assert media.status_code == 404
            if MEDIA != "s3":
                assert media_files(srv.data, r["sid"]) == []  # the WAV and the MP3
        for acc, r in ((a, young[0]), (b, other[0])):
            assert rec_json(srv, acc, r["sid"])["status"] == "completed"
            m = srv.session.get(srv.url + acct_path(acc.sid) + "/Recordings/%s.wav" % r["sid"], timeout=60)
            assert m.status_code == 200 and m.content[:4] == b"RIFF"
        assert transcribed(srv, a) == set()  # their text went with them
        wait_retention_total(srv, len(old))
    finally:
        srv.stop()

    # Older recordings arriving while it is down go at the next start (default interval: the
    # pass at start is the only one this test can see).
    late = cli.import_ok(a.sid, [make_wav()], date_created=ago(400))
    srv.serve_args = []
    srv.start()
    try:
        wait_deleted(srv, a, [late[0]["sid"]])
        wait_retention_total(srv, 1)
        assert rec_json(srv, a, young[0]["sid"])["status"] == "completed"
        assert rec_json(srv, b, other[0]["sid"])["status"] == "completed"
    finally:
        srv.stop()
    lines = [json.loads(l) for l in cli.ok("audit", "--account", a.sid).stdout.splitlines()]
    deletes = [l for l in lines if l["event"] == "delete"]
    assert sorted(l["recording_sid"] for l in deletes) == sorted(r["sid"] for r in old + late)
    assert {l["credential"] for l in deletes} == {"server"}
    assert cli.ok("fsck").returncode == 0


def count_of(out):
    m = re.match(r"^(\d+) recordings (would be )?deleted", out)
    assert m, out
    return int(m.group(1))


def test_bulk_delete_dry_run_agrees(tmp_path, make_wav):
    cli = Recd(tmp_path / "data")
    a = cli.account_create()
    b = cli.account_create()
    call1, call2 = "CA" + "1" * 32, "CA" + "2" * 32
    cli.import_ok(a.sid, [make_wav(), make_wav(), make_wav()], call=call1, date_created=OLD)
    cli.import_ok(a.sid, [make_wav()], call=call2, date_created=OLD)
    cli.import_ok(a.sid, [make_wav()], call=call1)  # new
    cli.import_ok(b.sid, [make_wav()], call=call1, date_created=OLD)

    # Neither or both flags, bad sids and dates: exit 2, one line, nothing changed.
    for args in ([], ["--dry-run", "--yes"], ["--yes", "--call", "CA123"], ["--yes", "--before", "soon"]):
        r = cli.run("delete", "--account", a.sid, *args)
        assert r.returncode == 2 and r.stderr.count("\n") == 1, (args, r.stderr)
    r = cli.run("delete", "--account", "AC" + "0" * 32, "--yes")
    assert r.returncode == 2, r.stderr

    filt = ["--account", a.sid, "--before", "2021-01-01T00:00:00Z", "--call", call1]
    dry = count_of(cli.ok("delete", *filt, "--dry-run").stdout)
    assert dry == 3
    assert count_of(cli.ok("delete", *filt, "--dry-run").stdout) == 3  # the dry run changed nothing
    assert count_of(cli.ok("delete", *filt, "--yes").stdout) == dry
    assert count_of(cli.ok("delete", *filt, "--dry-run").stdout) == 0
    # What is left: call2's old one and call1's new one of a; b's untouched.
    assert count_of(cli.ok("delete", "--account", a.sid, "--dry-run").stdout) == 2
    assert count_of(cli.ok("delete", "--account", b.sid, "--dry-run").stdout) == 1
    # Each delete is in the audit record, once, by the command line.
    lines = [json.loads(l) for l in cli.ok("audit", "--account", a.sid).stdout.splitlines()]
    assert len(lines) == 3 and {l["event"] for l in lines} == {"delete"}, lines
    assert {l["credential"] for l in lines} == {"cli"}
    assert len({l["recording_sid"] for l in lines}) == 3
    assert cli.ok("fsck").returncode == 0
