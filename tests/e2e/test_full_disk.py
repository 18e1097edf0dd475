"""Issue 5, a full disk: the data folder is a 3 MB tmpfs.

- Imports of two ~200 KB files at a time until one fails: it exits 1 (an operational failure,
  not 2: the input was fine), with a one-line reason that mentions space; nothing of the failed
  batch is listed; `recd fsck` exits 0.
- With the disk filled to the last byte (a filler file beside the data), the first .mp3 request
  of a recording answers 500 with a Twilio error body (code 20500, no path, no "SQL", no errno
  text), leaves no partial file (no .mp3 in media, nothing in media/tmp) and fsck stays clean.
- After the filler is gone and a few recordings are deleted through the server (DELETE, 204),
  imports succeed again, and the MP3 is derived.
"""

import json
import os
import random
import re
import subprocess

import pytest

from conftest import Recd, needs_local_media, noise_wav_bytes
from reliability_util import ExtServer, decode_mp3, figures, media_files, sanitizer_lines

# A full data volume: with the media in a bucket, the volume holds none of it.
pytestmark = needs_local_media

SIZE = "3m"


@pytest.fixture
def small_disk(tmp_path):
    mnt = tmp_path / "disk"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%s,mode=0700" % SIZE, "tmpfs", str(mnt)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip("cannot mount a tmpfs (needs root): %s" % r.stderr.strip())
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def no_internals(text, data_dir):
    low = text.lower()
    for bad in ("sql", str(data_dir), "/media", "errno", "no space left", ".db", "/tmp/"):
        assert bad.lower() not in low, "error body leaks %r: %s" % (bad, text)


def test_full_disk(small_disk, tmp_path, recd_bin):
    rng = random.Random(7)
    data = small_disk / "data"
    cli = Recd(data)
    acct = cli.account_create(name="full-disk")
    filler = small_disk / "filler"
    filler.write_bytes(b"")            # created now: when the disk is full even a new name fails
    wavs = tmp_path / "wavs"
    wavs.mkdir()

    def batch(tag, n=2, size=200_000):
        fs = []
        for i in range(n):
            f = wavs / ("%s-%d.wav" % (tag, i))
            f.write_bytes(noise_wav_bytes(rng, size, rate=16000, channels=1))
            fs.append(f)
        return fs

    # a short recording imported first, for the MP3 test later
    small = wavs / "small.wav"
    small.write_bytes(noise_wav_bytes(rng, 32_000, rate=8000, channels=1))
    small_sid = cli.import_ok(acct.sid, [small])[0]["sid"]

    ok_sids, imports_ok = [small_sid], 0
    failed = None
    for i in range(40):
        files = batch("b%02d" % i)
        r = cli.import_run(acct.sid, files)
        if r.returncode == 0:
            imports_ok += 1
            ok_sids += [json.loads(l)["sid"] for l in r.stdout.splitlines() if l.strip()]
            continue
        failed = (files, r)
        break
    assert failed is not None, "the disk never filled"
    files, r = failed
    err_lines = [l for l in r.stderr.splitlines() if l.strip()]
    print("failing import: exit %d, stderr %r" % (r.returncode, r.stderr))
    assert r.returncode == 1, "a full disk is exit 1, got %d: %s" % (r.returncode, r.stderr)
    assert r.stdout.strip() == "", "a failed batch printed recordings: %r" % r.stdout
    assert re.search(r"space|full", r.stderr, re.I), r.stderr
    # checked at the end, so that the rest of the test still runs
    problems = []
    if len(err_lines) != 1:
        problems.append("want a one-line reason on stderr, got %d lines: %r" % (len(err_lines), r.stderr))
    fsck1 = cli.run("fsck")
    assert fsck1.returncode == 0, fsck1.stdout + fsck1.stderr

    srv = ExtServer(data, tmp_path / "server.log", serve_args=["--auth-fail-limit", "0"])
    srv.start()
    try:
        listed = [x["sid"] for x in srv.list_all(acct)]
        assert sorted(listed) == sorted(ok_sids), "the failed batch left recordings behind"
        for sid in listed[:5]:
            assert srv.get("%s/Recordings/%s" % (acct.path, sid)).status_code == 200

        # fill the rest of the disk, then ask for a first MP3
        fd = os.open(str(filler), os.O_WRONLY | os.O_APPEND)
        try:
            while True:
                os.write(fd, b"\0" * 4096)
        except OSError:
            pass
        try:
            while True:
                os.write(fd, b"\0")
        except OSError:
            pass
        os.close(fd)
        free_bytes = os.statvfs(small_disk).f_bavail * os.statvfs(small_disk).f_frsize
        mp3_answers = {}
        r_mp3 = srv.get("%s/Recordings/%s.mp3" % (acct.path, small_sid))
        mp3_answers["xml"] = r_mp3.status_code
        assert r_mp3.status_code == 500, (r_mp3.status_code, r_mp3.headers, r_mp3.content[:200])
        assert b"<Code>20500</Code>" in r_mp3.content, r_mp3.text
        no_internals(r_mp3.text, data)
        r_mono = srv.get("%s/Recordings/%s.mp3?RequestedChannels=1" % (acct.path, small_sid))
        mp3_answers["mono"] = r_mono.status_code
        # the recording's JSON still works (a read needs no space)
        assert srv.get("%s/Recordings/%s.json" % (acct.path, small_sid)).status_code == 200
        left = [m for m in media_files(data) if m.endswith(".mp3") or m.startswith("tmp/")]
        assert not left, "a failed MP3 left files behind: %s" % left
        fsck2 = cli.run("fsck")
        assert fsck2.returncode == 0, fsck2.stdout + fsck2.stderr

        # free the space: remove the filler, delete a few recordings through the server
        filler.unlink()
        deleted = ok_sids[1:4]
        for sid in deleted:
            d = srv.request("DELETE", "%s/Recordings/%s.json" % (acct.path, sid), auth=acct.auth)
            assert d.status_code == 204, (d.status_code, d.text)
        again = cli.import_ok(acct.sid, batch("again"))
        listed = {x["sid"] for x in srv.list_all(acct)}
        assert {x["sid"] for x in again} <= listed and not (set(deleted) & listed)
        r_mp3 = srv.get("%s/Recordings/%s.mp3" % (acct.path, small_sid))
        assert r_mp3.status_code == 200
        rc, err, ch, rate, nframes = decode_mp3(tmp_path, r_mp3.content)
        assert rc == 0 and (ch, rate) == (1, 8000) and abs(nframes - 16000) <= 1152, (rc, err, ch, rate, nframes)
        srv.stop()
        assert not sanitizer_lines(srv.log_text())
        fsck3 = cli.run("fsck")
        assert fsck3.returncode == 0, fsck3.stdout + fsck3.stderr
    finally:
        srv.kill()
    figures("full_disk", disk=SIZE, imports_ok_before_full=imports_ok, recordings_before_full=len(ok_sids),
            failing_import_exit=r.returncode, failing_import_reason=err_lines,
            free_bytes_after_filler=free_bytes, first_mp3_on_full_disk=mp3_answers,
            deleted_to_recover=len(deleted), fsck_exits=[fsck1.returncode, fsck2.returncode, fsck3.returncode])
    assert not problems, problems
