"""Contract section 11, Backup: `recd backup --to DIR` beside a serving node, `recd restore --from DIR
--data NEWDIR` into an empty folder, the manifest checked; an unfinished or altered backup refused."""

import hashlib
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import threading
import time
from pathlib import Path

import pytest

from conftest import API, MEDIA, RECD_BIN, STORE, Recd, wav_bytes

FILES_ONLY = pytest.mark.skipif(STORE != "sqlite" or MEDIA != "files",
                                reason="backup covers a data folder's own store and media; "
                                       "PostgreSQL and S3 are refused (test_refused_elsewhere)")


def sha(b):
    return hashlib.sha256(b).hexdigest()


def run(*args, env=None, timeout=120):
    full = dict(os.environ)
    full.update(env or {})
    return subprocess.run([str(RECD_BIN)] + [str(a) for a in args], capture_output=True, text=True,
                          timeout=timeout, env=full)


def one_line_error(r, code, *words):
    assert r.returncode == code, (r.returncode, r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    for w in words:
        assert w in lines[0], (w, lines[0])
    return lines[0]


def tree(d):
    """Every media file under d (names and bytes) and the store's rows: what "untouched" means.
    SQLite's -wal and -shm files come and go with connections, so the store is compared by its
    content."""
    out = {}
    for p in sorted(Path(d).rglob("*")):
        if p.is_file() and p.name != ".lock" and not p.name.startswith("recd.db"):
            out[str(p.relative_to(d))] = sha(p.read_bytes())
    db = sqlite3.connect("file:%s?mode=ro" % (Path(d) / "recd.db"), uri=True)
    out["recd.db rows"] = sha("\n".join(db.iterdump()).encode())
    db.close()
    return out


def import_files(cli, acct, tmp, n, tag):
    paths = []
    for i in range(n):
        p = tmp / ("%s-%d.wav" % (tag, i))
        p.write_bytes(wav_bytes(0.2))
        paths.append(p)
    recs = cli.import_ok(acct.sid, paths)
    return {r["sid"]: p.read_bytes() for r, p in zip(recs, paths)}


def rec_path(acct, sid, ext=".json"):
    return "%s/Accounts/%s/Recordings/%s%s" % (API, acct.sid, sid, ext)


@FILES_ONLY
def test_backup_under_load_restored_and_served(start_server, tmp_path):
    srv = start_server()
    cli = srv.cli
    acct = cli.account_create(name="backup")
    wavs = tmp_path / "wavs"
    wavs.mkdir()
    base = import_files(cli, acct, wavs, 120, "base")
    sids = sorted(base)
    # Derived files exist for some: the backup carries them, so the restored node serves the same
    # bytes without making them again.
    doomed = set(sids[::4])          # deleted while the backup runs, spread over the sid order
    kept = [s for s in sids if s not in doomed]
    mp3 = {}
    for sid in kept[:3]:
        r = srv.get(rec_path(acct, sid, ".mp3"), auth=acct.auth)
        assert r.status_code == 200
        mp3[sid] = r.content
    before = {s: srv.get_json(rec_path(acct, s), auth=acct.auth) for s in kept}
    m = srv.get("/metrics").text
    assert "recd_backup_last_success_timestamp_seconds 0\n" in m

    stop = threading.Event()
    errors = []
    counts = {"imported": 0, "deleted": 0}
    acked = set(sids)                # every recording the source ever acknowledged

    def importer():
        i = 0
        try:
            while not stop.is_set():
                new = import_files(cli, acct, wavs, 2, "load%d" % i)
                i += 1
                counts["imported"] += len(new)
                acked.update(new)
                for sid in list(new)[:1]:    # and delete some of the new ones again
                    r = srv.request("DELETE", rec_path(acct, sid), auth=acct.auth)
                    assert r.status_code == 204, r.text
        except Exception as e:  # reported by the test, not lost in the thread
            errors.append(e)

    def deleter():
        try:
            for sid in sorted(doomed):
                if stop.is_set():
                    break
                r = srv.request("DELETE", rec_path(acct, sid), auth=acct.auth)
                assert r.status_code == 204, r.text
                counts["deleted"] += 1
        except Exception as e:
            errors.append(e)

    threads = [threading.Thread(target=importer), threading.Thread(target=deleter)]
    for t in threads:
        t.start()
    # The backup starts once the load has begun, and the load goes on until it ends.
    deadline = time.monotonic() + 60
    while (counts["imported"] == 0 or counts["deleted"] == 0) and not errors and time.monotonic() < deadline:
        time.sleep(0.02)
    target = tmp_path / "backup"
    try:
        b = run("backup", "--data", srv.data, "--to", target)
    finally:
        stop.set()
        for t in threads:
            t.join(120)
    assert not errors, errors
    assert b.returncode == 0, (b.stdout, b.stderr)
    print(b.stdout.strip(), "| load:", counts)
    assert "damaged" in b.stdout and " 0 damaged" in b.stdout, b.stdout
    assert (target / "manifest.jsonl").exists() and not (target / "manifest.jsonl.tmp").exists()
    m = srv.get("/metrics").text
    last = [l for l in m.splitlines() if l.startswith("recd_backup_last_success_timestamp_seconds ")]
    assert len(last) == 1 and abs(float(last[0].split()[1]) - time.time()) < 600, last

    restored = tmp_path / "restored"
    r = run("restore", "--from", target, "--data", restored)
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert "damaged: clean" in r.stdout or ", 0 damaged: clean" in r.stdout, r.stdout
    f = Recd(restored).ok("fsck")
    assert f.stdout.strip().splitlines()[-1].endswith("clean"), f.stdout
    # The audit record came along (copied as far as it was written): the MP3 fetches made before
    # the backup are in the restored folder's, once each.
    audit = [json.loads(l) for l in Recd(restored).ok("audit", "--account", acct.sid).stdout.splitlines()
             if l.strip()]
    for sid in mp3:
        assert [l["method"] for l in audit if l["path"].endswith(sid + ".mp3")] == ["GET"], sid

    new = start_server(data=restored, base_url=srv.base_url, bootstrap=False)  # same media_url
    for sid in kept:   # acknowledged before the backup started and not deleted: all there
        assert new.get_json(rec_path(acct, sid), auth=acct.auth) == before[sid]
        got = new.get(rec_path(acct, sid, ".wav"), auth=acct.auth)
        assert got.status_code == 200 and got.content == base[sid], sid
    for sid, body in mp3.items():
        got = new.get(rec_path(acct, sid, ".mp3"), auth=acct.auth)
        assert got.status_code == 200 and got.content == body, sid
    for sid in doomed:  # deleted during the backup: either there whole, or deleted
        got = new.get(rec_path(acct, sid, ".wav"), auth=acct.auth)
        assert got.status_code in (200, 404), got.status_code
        if got.status_code == 200:
            assert got.content == base[sid]
            assert new.get_json(rec_path(acct, sid), auth=acct.auth)["status"] == "completed"
    # The restored list holds no recording the source never acknowledged.
    listed = set(new.list_sids(acct))
    assert set(kept) <= listed <= acked


def start_stopped_backup(data, target, after):
    """Starts `recd backup` with the test hook that stops it (SIGSTOP) after `after` recordings,
    and returns the process once it has stopped there."""
    env = dict(os.environ, RECD_TEST_BACKUP_STOP_AFTER=str(after))
    p = subprocess.Popen([str(RECD_BIN), "backup", "--data", str(data), "--to", str(target)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.monotonic() + 60
    state = None
    while time.monotonic() < deadline and p.poll() is None:
        with open("/proc/%d/stat" % p.pid) as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        if state == "T":
            break
        time.sleep(0.01)
    assert state == "T", "the backup did not stop at the hook"
    return p


@FILES_ONLY
def test_recording_deleted_during_backup_is_deleted_in_it(start_server, tmp_path):
    """The snapshot names a recording whose media a DELETE removes before the backup reaches it:
    the backup marks it deleted in its copy of the store rather than keep a row without media."""
    srv = start_server()
    acct = srv.cli.account_create(name="race")
    wavs = tmp_path / "wavs"
    wavs.mkdir()
    base = import_files(srv.cli, acct, wavs, 4, "r")
    sids = sorted(base)              # the backup walks the snapshot in sid order
    target = tmp_path / "backup"
    p = start_stopped_backup(srv.data, target, 1)
    r = srv.request("DELETE", rec_path(acct, sids[-1]), auth=acct.auth)
    assert r.status_code == 204
    os.kill(p.pid, signal.SIGCONT)
    out, err = p.communicate(timeout=120)
    assert p.returncode == 0, (out, err)
    assert "1 deleted meanwhile" in out, out
    new = tmp_path / "restored"
    r = run("restore", "--from", target, "--data", new)
    assert r.returncode == 0 and "0 damaged: clean" in r.stdout, (r.stdout, r.stderr)
    restored = start_server(data=new, base_url=srv.base_url, bootstrap=False)
    for sid in sids[:-1]:
        got = restored.get(rec_path(acct, sid, ".wav"), auth=acct.auth)
        assert got.status_code == 200 and got.content == base[sid]
    assert restored.get(rec_path(acct, sids[-1], ".wav"), auth=acct.auth).status_code == 404
    soft = restored.get_json("%s/Accounts/%s/Recordings.json?IncludeSoftDeleted=true" % (API, acct.sid),
                             auth=acct.auth)
    status = {r["sid"]: r["status"] for r in soft["recordings"]}
    assert status[sids[-1]] == "deleted", status


@FILES_ONLY
def test_kill_midway_leaves_source_untouched_and_target_refused(tmp_path):
    data = tmp_path / "data"
    cli = Recd(data)
    acct = cli.account_create(name="kill")
    wavs = tmp_path / "wavs"
    wavs.mkdir()
    import_files(cli, acct, wavs, 12, "k")
    src_before = tree(data)
    target = tmp_path / "backup"
    # The test hook stops the backup after 5 recordings, so it is killed mid-way for sure.
    p = start_stopped_backup(data, target, 5)
    os.kill(p.pid, signal.SIGKILL)
    p.wait(30)
    p.stdout.close()
    p.stderr.close()
    assert p.returncode == -signal.SIGKILL
    assert tree(data) == src_before
    assert not (target / "manifest.jsonl").exists()
    assert list((target / "media").rglob("*.wav")), "killed before it linked anything"
    f = cli.ok("fsck")
    assert f.stdout.strip().endswith("clean"), f.stdout

    new = tmp_path / "restored"
    r = run("restore", "--from", target, "--data", new)
    one_line_error(r, 1, "not a finished backup", "manifest.jsonl")
    assert not new.exists()
    # The same backup run to the end is accepted.
    target2 = tmp_path / "backup2"
    run("backup", "--data", data, "--to", target2).check_returncode()
    r = run("restore", "--from", target2, "--data", new)
    assert r.returncode == 0, r.stderr


@pytest.fixture(scope="module")
def small_backup(tmp_path_factory):
    if STORE != "sqlite" or MEDIA != "files":
        pytest.skip("files only")
    d = tmp_path_factory.mktemp("small")
    data = d / "data"
    cli = Recd(data)
    acct = cli.account_create(name="small")
    wavs = d / "wavs"
    wavs.mkdir()
    import_files(cli, acct, wavs, 3, "s")
    target = d / "backup"
    # Copied, not linked: the tests below alter files of this backup, which must not reach the
    # data folder (a hard link would share them).
    r = run("backup", "--data", data, "--to", target, "--copy")
    assert r.returncode == 0, r.stderr
    assert "0 linked, 3 copied" in r.stdout, r.stdout
    return target


def copy_of(backup, tmp_path):
    dst = tmp_path / "copy"
    shutil.copytree(backup, dst)
    return dst


def test_altered_media_refused(small_backup, tmp_path):
    b = copy_of(small_backup, tmp_path)
    wav = sorted((b / "media").rglob("*.wav"))[0]
    body = bytearray(wav.read_bytes())
    body[-1] ^= 1                         # same size, one bit different
    wav.write_bytes(bytes(body))
    new = tmp_path / "new"
    line = one_line_error(run("restore", "--from", b, "--data", new), 1, "altered",
                          str(wav.relative_to(b)))
    assert "SHA-256" in line
    assert not new.exists()


def test_truncated_media_and_missing_db_refused(small_backup, tmp_path):
    b = copy_of(small_backup, tmp_path)
    wav = sorted((b / "media").rglob("*.wav"))[1]
    wav.write_bytes(wav.read_bytes()[:-10])
    one_line_error(run("restore", "--from", b, "--data", tmp_path / "n1"), 1, str(wav.relative_to(b)),
                   "bytes, the manifest says")
    b2 = tmp_path / "copy2"
    shutil.copytree(small_backup, b2)
    (b2 / "recd.db").unlink()
    one_line_error(run("restore", "--from", b2, "--data", tmp_path / "n2"), 1, "recd.db is missing")


def test_altered_manifest_refused(small_backup, tmp_path):
    b = copy_of(small_backup, tmp_path)
    man = b / "manifest.jsonl"
    lines = man.read_text().splitlines(keepends=True)
    wav = next(l for l in lines if ".wav" in l)
    j = json.loads(wav)
    j["sha256"] = sha(b"other")
    man.write_text("".join(json.dumps(j, separators=(",", ":")) + "\n" if l == wav else l for l in lines))
    one_line_error(run("restore", "--from", b, "--data", tmp_path / "n1"), 1, "digest")
    man.write_text("".join(lines[:-1]))   # no end line: cut short
    one_line_error(run("restore", "--from", b, "--data", tmp_path / "n2"), 1, "did not finish")
    # A path outside the backup, with the manifest's digest made right again: still refused, as a
    # path a backup never writes, and nothing outside is opened.
    j = json.loads(wav)
    j["path"] = "../outside.wav"
    body = "".join(json.dumps(j, separators=(",", ":")) + "\n" if l == wav else l for l in lines[:-1])
    end = json.loads(lines[-1])
    end["sha256"] = sha(body.encode())
    man.write_text(body + json.dumps(end, separators=(",", ":")) + "\n")
    one_line_error(run("restore", "--from", b, "--data", tmp_path / "n3"), 1, "a path a backup does not write")
    assert not (tmp_path / "n3").exists()


def test_restore_target_must_be_new_or_empty(small_backup, tmp_path):
    full = tmp_path / "full"
    full.mkdir()
    (full / "x").write_text("mine")
    one_line_error(run("restore", "--from", small_backup, "--data", full), 2, "not empty")
    assert (full / "x").read_text() == "mine" and len(list(full.iterdir())) == 1
    empty = tmp_path / "empty"
    empty.mkdir()
    r = run("restore", "--from", small_backup, "--data", empty)
    assert r.returncode == 0, r.stderr
    assert (empty / "recd.db").exists() and (empty / "seal.key").stat().st_mode & 0o077 == 0


def test_bad_arguments(tmp_path):
    data = tmp_path / "nodata"
    one_line_error(run("backup", "--data", data), 2, "--to")
    one_line_error(run("backup", "--data", data, "--to", tmp_path / "b"), 2, "no store")
    assert not data.exists() and not (tmp_path / "b").exists()
    one_line_error(run("backup", "--data", data, "--to", tmp_path / "b", "extra"), 2, "extra")
    one_line_error(run("backup", "--bogus"), 2, "--bogus")
    one_line_error(run("restore", "--data", tmp_path / "n"), 2, "--from")
    one_line_error(run("restore", "--from", tmp_path), 2, "--data")
    one_line_error(run("restore", "--from", tmp_path / "absent", "--data", tmp_path / "n"), 2,
                   "not a folder")
    assert not (tmp_path / "n").exists()
    notempty = tmp_path / "ne"
    notempty.mkdir()
    (notempty / "f").write_text("x")
    real = tmp_path / "real"
    # A folder with its own store and media whatever the suite runs on: backup takes only those.
    assert run("account", "create", "--data", real).returncode == 0
    one_line_error(run("backup", "--data", real, "--to", notempty), 2, "not empty")


def test_refused_elsewhere(tmp_path):
    """PostgreSQL and S3 have their own backup tools: recd says which, and exits 2."""
    line = one_line_error(run("backup", "--data", tmp_path / "d", "--to", tmp_path / "b",
                              "--store", "postgresql://recd@127.0.0.1:1/recd"), 2, "pg_dump")
    assert "WAL" in line
    env = {"AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "x" * 40}
    line = one_line_error(run("backup", "--data", tmp_path / "d", "--to", tmp_path / "b", "--media",
                              "s3://bucket?endpoint=http://127.0.0.1:1&region=us-east-1", env=env),
                          2, "versioning")
    assert not (tmp_path / "b").exists() and not (tmp_path / "d").exists()
