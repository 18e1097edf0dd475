"""`recd migrate` (issue 14, contract section 9): an embedded data folder (SQLite and media files)
moved to the throwaway PostgreSQL cluster and the S3 test server.  The migrated service must answer
every API request and serve every media byte as the folder did; the tables must be row for row the
same; a run killed with SIGKILL must go on where it stopped; targets that are not empty, a source
in use and bad locations are refused with exit 2 and one line."""

import json
import os
import signal
import sqlite3
import subprocess
import time
import uuid

import pytest

from conftest import (RECD_BIN, S3_BUCKET, S3_CREDS, Recd, Server, acct_path, pg_admin_url, pg_sql,
                      s3_location)

from test_s3 import Bucket, new_pg_store

pytest.importorskip("botocore")

TABLES = ["accounts", "api_keys", "numbers", "recordings", "transcriptions", "transcription_jobs",
          "transcribe_requests", "calls"]


def env():
    e = dict(os.environ)
    for k in ("RECD_MEDIA", "RECD_STORE"):
        e.pop(k, None)
    e.update(S3_CREDS)
    return e


def run(*args, timeout=300):
    return subprocess.run([str(RECD_BIN)] + [str(a) for a in args], capture_output=True, text=True,
                          timeout=timeout, env=env())


def ok(*args, timeout=300):
    r = run(*args, timeout=timeout)
    assert r.returncode == 0, (args, r.stdout, r.stderr)
    return r


class Plain(Recd):
    """A data folder's own CLI: its recd.db and media/, whatever the suite's store and media."""

    def cmd(self, *args):
        return [str(RECD_BIN)] + [str(a) for a in args] + ["--data", str(self.data)]

    def run(self, *args, timeout=60, env=None):
        return subprocess.run(self.cmd(*args), capture_output=True, text=True, timeout=timeout,
                              env=globals()["env"]())


def serve(tmp_path, data, name, store=None, media=None):
    # Transcription jobs stay in progress on both sides: the engine does not answer, retried in an hour.
    args = ["--stt", "http://127.0.0.1:9", "--transcribe-retry-seconds", "3600"] + (["--store", store] if store else []) + (
        ["--media", media] if media else [])
    # One base URL for both sides, so that media_url is the same whichever port serves it.
    srv = Server(data, tmp_path / ("%s.log" % name), base_url="https://recd.example.com", serve_args=args, env=env())
    srv.cli = Plain(data)
    if store or media:
        srv.cli.cmd = lambda *a: ([str(RECD_BIN)] + [str(x) for x in a] + ["--data", str(data)]
                                  + (["--store", store] if store else []) + (["--media", media] if media else []))
    return srv.start()


def prefix_of(media):
    return media.split("?")[0][len("s3://%s/" % S3_BUCKET):]


def pg_rows(store, table):
    """Every row of `table` in the target, as JSON objects in sid order (bytea as \\x hex)."""
    opts = store.split("options=")[1] if "options=" in store else ""
    schema = opts.split("%3D")[1] if opts else "public"
    out = pg_sql("SELECT row_to_json(t) FROM %s.%s t ORDER BY sid COLLATE \"C\"" % (schema, table))
    return [json.loads(l) for l in out.splitlines() if l.strip()]


def sqlite_rows(data, table):
    db = sqlite3.connect(str(data / "recd.db"))
    db.row_factory = sqlite3.Row
    rows = []
    for r in db.execute("SELECT * FROM %s ORDER BY sid" % table):
        rows.append({k: ("\\x" + r[k].hex() if isinstance(r[k], bytes) else r[k]) for k in r.keys()})
    db.close()
    return rows


def assert_tables_equal(data, store):
    for t in TABLES:
        a, b = sqlite_rows(data, t), pg_rows(store, t)
        assert a == b, (t, len(a), len(b))


def media_files(data):
    return {p.name: p.read_bytes() for p in (data / "media").rglob("RE*") if p.is_file()}


def add_calls(data, acc, number_sid, rec_sid):
    """Rows the voice engine writes (the test has no SIP call to make them): two ended calls, and a
    transcribeCallback kept with a recording."""
    db = sqlite3.connect(str(data / "recd.db"))
    now = int(time.time() * 1e6)
    for i, status in enumerate(("completed", "no-answer")):
        db.execute("INSERT INTO calls (sid, account_sid, number_sid, parent_call_sid, from_addr, to_addr,"
                   " caller_name, status, direction, answered_by, created_us, updated_us, start_us, end_us,"
                   " duration_ms, error_code) VALUES (?, ?, ?, NULL, ?, ?, '', ?, 'inbound', '', ?, ?, ?, ?, ?, ?)",
                   ("CA" + uuid.uuid4().hex, acc, number_sid, "+1555000100%d" % i, "+15550009999", status,
                    now + i, now + i + 5, now + i + 1 if status == "completed" else None, now + i + 5,
                    4000 if status == "completed" else 0, None if status == "completed" else 11200))
    db.execute("INSERT INTO transcribe_requests (sid, callback_url, callback_method, created_us)"
               " VALUES (?, 'https://example.com/cb', 'POST', ?)", (rec_sid, now))
    db.commit()
    db.close()


def answers(srv, acc, sub, recs, deleted):
    """What the service says about everything in the folder: lists, instances, media bytes."""
    out = {}
    base = acct_path(acc.sid)
    for who in (acc, sub):
        for res in ("Recordings", "Transcriptions", "Calls", "IncomingPhoneNumbers"):
            r = srv.get("%s/%s.json" % (acct_path(who.sid), res), auth=who.auth, params={"PageSize": 2})
            out[(who.sid, res)] = (r.status_code, r.text)
    for sid in recs + [deleted]:
        for suffix in (".json", ".wav", ".mp3", ".wav?RequestedChannels=1", "/Transcriptions.json"):
            r = srv.get("%s/Recordings/%s%s" % (base, sid, suffix), auth=acc.auth)
            out[(sid, suffix)] = (r.status_code, r.headers.get("Content-Type"), r.content)
        for fmt in ("json", "dat"):
            r = srv.get("/recd/Accounts/%s/Recordings/%s/Peaks.%s?SamplesPerPixel=100" % (acc.sid, sid, fmt),
                        auth=acc.auth)
            out[(sid, fmt)] = (r.status_code, r.content)
    r = srv.get("%s/Recordings/%s.wav" % (base, recs[1]), headers={"Range": "bytes=44-1043"}, auth=acc.auth)
    out["range"] = (r.status_code, r.content)
    return out


@pytest.fixture(scope="module")
def folder(tmp_path_factory, wav_dir):
    """A data folder with everything a store holds: an account and a subaccount, an API key, a
    number, mono and stereo recordings (one with a transcription, one with a queued transcription
    job), an MP3, a mono downmix and waveforms made, a deleted recording, calls, a kept
    transcribeCallback."""
    from conftest import wav_bytes
    tmp = tmp_path_factory.mktemp("migrate")
    data = tmp / "data"
    cli = Plain(data)
    acc = cli.account_create(name="main")
    sub = cli.account_create(name="sub", parent=acc.sid)
    cli.key_create(acc.sid, name="k")
    num = json.loads(cli.ok("number", "add", "--account", acc.sid, "--number", "+15550009999", "--voice-url",
                            "https://example.com/voice").stdout)
    files = []
    for i, ch in enumerate((1, 2, 1)):
        p = wav_dir / ("m%d.wav" % i)
        p.write_bytes(wav_bytes(0.8, channels=ch))
        files.append(p)
    recs = [json.loads(l)["sid"] for l in cli.ok("import", "--account", acc.sid, "--transcription-text",
                                                   "hello there", *files).stdout.splitlines()]
    sub_wav = wav_dir / "sub.wav"
    sub_wav.write_bytes(wav_bytes(0.5))
    cli.ok("import", "--account", sub.sid, sub_wav)
    srv = serve(tmp, data, "made")
    try:
        base = acct_path(acc.sid) + "/Recordings/"
        assert srv.get(base + recs[1] + ".mp3", auth=acc.auth).status_code == 200
        assert srv.get(base + recs[1] + ".wav?RequestedChannels=1", auth=acc.auth).status_code == 200
        for fmt in ("json", "dat"):
            assert srv.get("/recd/Accounts/%s/Recordings/%s/Peaks.%s?SamplesPerPixel=100" % (acc.sid, recs[0], fmt),
                           auth=acc.auth).status_code == 200
        cli.ok("transcribe", recs[1])
        assert srv.request("DELETE", base + recs[2] + ".json", auth=acc.auth).status_code == 204
    finally:
        srv.stop()
    add_calls(data, acc.sid, num["sid"], recs[0])
    srv = serve(tmp, data, "source")
    try:
        before = answers(srv, acc, sub, recs[:2], recs[2])
    finally:
        srv.stop()
    return {"tmp": tmp, "data": data, "acc": acc, "sub": sub, "recs": recs, "answers": before}


def test_migrated_service_answers_as_the_folder_did(folder):
    """Every table row for row, every media object byte for byte, every API answer the same from
    postgres+s3 as from the folder; a second run copies nothing; a delete on S3 finds a
    recording's waveforms by one prefix listing (scan_sid) and removes them all."""
    data, tmp = folder["data"], folder["tmp"]
    store, media = new_pg_store(), s3_location()
    r = ok("migrate", "--data", data, "--to-store", store, "--to-media", media)
    assert r.stdout.count("\n") == 1 and r.stdout.rstrip().endswith(": done"), r.stdout
    assert_tables_equal(data, store)
    bucket = Bucket(S3_CREDS)
    files = media_files(data)
    assert bucket.keys(prefix_of(media)) == set(files)
    for k, v in files.items():
        assert bucket.get(prefix_of(media) + "/" + k) == v
    assert [t for t in TABLES if pg_rows(store, t)] == TABLES, "a table of the source was empty"

    again = ok("migrate", "--data", data, "--to-store", store, "--to-media", media)
    assert again.stdout.startswith("migrate: 0 rows copied") and " 0 objects copied" in again.stdout, again.stdout

    srv = serve(tmp, data, "target", store=store, media=media)
    try:
        acc, recs = folder["acc"], folder["recs"]
        after = answers(srv, acc, folder["sub"], recs[:2], recs[2])
        assert after.keys() == folder["answers"].keys()
        for k in after:
            assert after[k] == folder["answers"][k], k
        # scan_sid on S3: the waveforms of recs[0] go with it.
        assert any(k.startswith(recs[0] + ".peaks") for k in bucket.keys(prefix_of(media)))
        assert srv.request("DELETE", acct_path(acc.sid) + "/Recordings/%s.json" % recs[0],
                           auth=acc.auth).status_code == 204
        assert not [k for k in bucket.keys(prefix_of(media)) if k.startswith(recs[0])]
    finally:
        srv.stop()
    r = ok("fsck", "--data", data, "--store", store, "--media", media)
    assert "0 damaged, 0 orphan media" in r.stdout, r.stdout


def test_refuses_a_source_in_use(folder):
    """A folder that a server has open is not migrated: its writes would be lost."""
    srv = serve(folder["tmp"], folder["data"], "busy")
    try:
        r = run("migrate", "--data", folder["data"], "--to-store", new_pg_store())
    finally:
        srv.stop()
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    assert "open in process %d" % srv.proc.pid in r.stderr, r.stderr
    assert r.stdout == ""


def test_bad_targets_exit_2_with_one_line(folder, tmp_path):
    data = folder["data"]
    full = new_pg_store()
    ok("account", "create", "--data", tmp_path / "other", "--store", full)
    r = run("migrate", "--data", data, "--to-store", full)
    assert r.returncode == 2 and "is not empty" in r.stderr and r.stderr.count("\n") == 1, r.stderr
    media = s3_location()
    Bucket(S3_CREDS).put(prefix_of(media) + "/RE" + uuid.uuid4().hex + ".wav", b"not ours")
    r = run("migrate", "--data", data, "--to-media", media)
    assert r.returncode == 2 and "bucket is not empty" in r.stderr and r.stderr.count("\n") == 1, r.stderr
    for args, why in ((["--to-store", "mysql://x/y"], "--to-store"), (["--to-media", "/tmp/m"], "--to-media"),
                      ([], "migrate needs"), (["--to-store", new_pg_store(), "--batch", "0"], "--batch"),
                      (["--to-media", "s3://b?endpoint=ftp://h&region=r"], "--to-media")):
        r = run("migrate", "--data", data, *args)
        assert r.returncode == 2 and why in r.stderr and r.stderr.count("\n") == 1, (args, r.stderr)
    r = run("migrate", "--data", tmp_path / "none", "--to-store", new_pg_store())
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    # A database that does not answer is a failure (1), not bad usage; nothing is written.
    r = run("migrate", "--data", data, "--to-store", "postgres://recd@127.0.0.1:1/postgres?connect_timeout=2")
    assert r.returncode == 1 and "does not answer" in r.stderr, r.stderr


def test_kill_9_mid_migrate_then_resume(tmp_path, wav_dir):
    """SIGKILL while rows are copied, then again while objects are: the third run ends the
    migration; no row was inserted twice (a second insert of a sid would fail), every object was
    checked once, and target and folder are identical."""
    from conftest import wav_bytes
    data = tmp_path / "data"
    cli = Plain(data)
    acc = cli.account_create()
    files = []
    for i in range(120):
        p = wav_dir / ("k%d.wav" % i)
        p.write_bytes(wav_bytes(0.3))
        files.append(p)
    cli.ok("import", "--account", acc.sid, "--transcription-text", "words", *files, timeout=300)
    store, media = new_pg_store(), s3_location()
    cmd = [str(RECD_BIN), "migrate", "--data", str(data), "--to-store", store, "--to-media", media, "--batch", "1"]
    schema = store.split("%3D")[1]

    def killed_when(ready):
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env())
        deadline = time.monotonic() + 120
        while p.poll() is None and time.monotonic() < deadline and not ready():
            time.sleep(0.01)
        assert p.poll() is None, ("ended before it could be killed", p.communicate())
        p.send_signal(signal.SIGKILL)
        p.wait()

    def rows():  # 0 until migrate has made the schema
        r = subprocess.run(["psql", pg_admin_url(), "-qAtc", "SELECT count(*) FROM %s.recordings" % schema],
                           capture_output=True, text=True, timeout=60)
        return int(r.stdout.strip()) if r.returncode == 0 else 0

    journal = data / "migrate.journal"
    killed_when(lambda: rows() >= 10)
    assert 10 <= rows() < len(files) + 1
    killed_when(lambda: journal.exists() and len(journal.read_text().splitlines()) > 20)
    done_before = len(journal.read_text().splitlines()) - 1
    r = ok(*cmd[1:])
    assert r.stdout.rstrip().endswith(": done"), r.stdout
    nums = [int(w) for w in r.stdout.replace("(", " ").split() if w.isdigit()]
    rows_now, rows_before, objects, found, before = nums[0], nums[1], nums[3], nums[4], nums[5]
    total_rows = sum(len(sqlite_rows(data, t)) for t in TABLES)
    assert rows_now + rows_before == total_rows and rows_before > 0, r.stdout
    # The journal kept every object checked before the kill (a line cut short is dropped); those put
    # but not yet journaled (at most one per worker, 4) are found and checked in place, not copied again.
    assert before >= done_before - 1 and objects + found + before == len(files), r.stdout
    assert found <= 4, r.stdout
    assert_tables_equal(data, store)
    files_now = media_files(data)
    bucket = Bucket(S3_CREDS)
    assert bucket.keys(prefix_of(media)) == set(files_now)
    r = ok("fsck", "--data", data, "--store", store, "--media", media)
    assert "%d recordings checked, 0 damaged, 0 orphan media" % len(files) in r.stdout, r.stdout
