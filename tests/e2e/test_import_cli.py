"""Contract section 6, `recd import`: bad input is refused whole, migrations keep sids and dates."""

import json
import os
import re
import subprocess
import struct

import pytest

from conftest import RECORDING_KEYS, needs_local_media, rand_sid, riff_wav, wav_bytes


@pytest.fixture(scope="module")
def acct(server, make_account, make_wav, import_wavs):
    a = make_account()
    import_wavs(a, [make_wav(0.1)])          # one recording already there
    return a


def snapshot(server, acct):
    items = server.list_all(acct, params={"IncludeSoftDeleted": "true"})
    return sorted((i["sid"], i["status"]) for i in items)


def assert_refused(server, acct, result, before):
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    err = result.stderr.strip()
    assert err, "a one-line reason on stderr is required"
    assert len(err.splitlines()) == 1, result.stderr
    assert result.stdout.strip() == "", result.stdout
    assert snapshot(server, acct) == before


def _pcm(n=8000):
    return b"".join(struct.pack("<h", (i * 97) % 20000 - 10000) for i in range(n))


def bad_files():
    good = wav_bytes(0.5)
    return {
        "text file": b"this is not a wav file, just text\n" * 20,
        "empty file": b"",
        "truncated in header": good[:30],
        "truncated in data": good[:44 + (len(good) - 44) // 3],
        "header lies about data size": riff_wav(1, 1, 8000, 16, _pcm(4000), data_size=8000 * 2 * 10),
        "riff but not wave": b"RIFF" + struct.pack("<I", 4 + 8 + 16) + b"AVI " + good[12:44],
        "no data chunk": good[:36],
        "float32": riff_wav(3, 1, 8000, 32, b"\x00\x00\x80\x3f" * 4000),
        "a-law": riff_wav(6, 1, 8000, 8, b"\xd5" * 4000),
        "mu-law": riff_wav(7, 1, 8000, 8, b"\xff" * 4000),
        "adpcm": riff_wav(2, 1, 8000, 4, b"\x00" * 4000, extra_fmt=b"\x02\x00\xf4\x01"),
        "mp3 bytes named .wav": b"\xff\xfb\x90\x64" + b"\x00" * 2000,
    }


@pytest.mark.parametrize("case", sorted(bad_files()))
def test_bad_file_refused(server, acct, make_wav, case):
    before = snapshot(server, acct)
    f = make_wav(data=bad_files()[case])
    r = server.cli.import_run(acct.sid, [f])
    assert_refused(server, acct, r, before)


def test_missing_file(server, acct, wav_dir):
    before = snapshot(server, acct)
    r = server.cli.import_run(acct.sid, [wav_dir / "does-not-exist.wav"])
    assert_refused(server, acct, r, before)


@pytest.mark.parametrize("opts", [
    {"account": "unknown"}, {"account": "AC123"}, {"account": "ACXYZ"},
    {"sid": "RE123"}, {"sid": "CA" + "0" * 32}, {"sid": "RE" + "ABCDEF" * 5 + "AB"},
    {"sid": "RE" + "g" * 32}, {"sid": "re" + "0" * 32}, {"sid": "RE" + "0" * 33},
    {"call": "CA123"}, {"call": "RE" + "0" * 32}, {"conference": "CF12"},
    {"conference": "CA" + "0" * 32},
    {"date_created": "yesterday"}, {"date_created": "2009-02-30T00:00:00Z"},
    {"date_created": "2009-07-06T25:00:00Z"}, {"start_time": "not a date"},
], ids=lambda o: "-".join("%s=%s" % kv for kv in o.items()))
def test_bad_options_refused(server, acct, make_wav, opts):
    before = snapshot(server, acct)
    opts = dict(opts)
    account = opts.pop("account", acct.sid)
    if account == "unknown":
        account = rand_sid("AC")
    r = server.cli.import_run(account, [make_wav(0.1)], **opts)
    assert_refused(server, acct, r, before)


def test_no_files_is_usage_error(server, acct):
    before = snapshot(server, acct)
    r = server.cli.run("import", "--account", acct.sid)
    assert_refused(server, acct, r, before)


def test_duplicate_sid(server, acct, make_wav, import_wavs):
    sid = rand_sid("RE")
    first = import_wavs(acct, [make_wav(0.2)], sid=sid)[0]
    assert first["sid"] == sid
    before = snapshot(server, acct)
    r = server.cli.import_run(acct.sid, [make_wav(0.3)], sid=sid)
    assert_refused(server, acct, r, before)
    # the first one is intact
    assert server.get("%s/Recordings/%s" % (acct.path, sid)).content == first["_bytes"]
    assert [s for s, _ in snapshot(server, acct)].count(sid) == 1
    # the same sid under another account is refused too (sids are global)
    other = server.cli.account_create(name="dup-other")
    r = server.cli.import_run(other.sid, [make_wav(0.3)], sid=sid)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1
    assert server.get("%s/Recordings/%s" % (acct.path, sid)).content == first["_bytes"]


def race_same_sid(srv, make_wav, rounds=20, env=None, pair=None):
    """Starts two `recd import --sid` of one new sid with different audio at once, `rounds` times,
    against the server `srv` (its CLI, with its media location). Each time exactly one wins (exit
    0, its JSON) and the other exits 2 with one line and prints nothing; the WAV served is the
    winner's, byte for byte. Then fsck finds nothing damaged, orphaned or left over: the loser
    left nothing behind. (Before the media was stored only where none was, the loser's WAV could
    replace the winner's after the winner's row committed: fsck then saw damage.) `pair(i)` gives
    round i's two files, by default two short WAVs."""
    acct = srv.cli.account_create(name="race")
    full_env = dict(os.environ)
    full_env.update(env or {})
    for i in range(rounds):
        sid = rand_sid("RE")
        files = pair(i) if pair else [make_wav(0.5), make_wav(0.75)]
        procs = [subprocess.Popen(srv.cli.cmd(*srv.cli.import_args(acct.sid, [f], sid=sid)), stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True, env=full_env) for f in files]
        outs = [p.communicate(timeout=300) for p in procs]
        codes = [p.returncode for p in procs]
        assert sorted(codes) == [0, 2], (i, codes, outs)
        won = codes.index(0)
        out, err = outs[1 - won]
        assert out == "" and len(err.strip().splitlines()) == 1 and sid in err, (i, outs)
        assert json.loads(outs[won][0])["sid"] == sid
        r = srv.get("%s/Recordings/%s.wav" % (acct.path, sid))
        assert r.status_code == 200, (i, r.status_code)
        assert r.content == files[won].read_bytes(), "round %d: the WAV served is not the winner's" % i
    r = srv.cli.run("fsck")
    assert r.returncode == 0, (r.stdout, r.stderr)
    last = r.stdout.strip().splitlines()[-1]
    m = re.match(r"^fsck: (\d+) recordings checked, 0 damaged, 0 orphan media, 0 leftovers", last)
    assert m and int(m.group(1)) >= rounds, r.stdout


def test_concurrent_imports_of_one_sid(start_server, make_wav):
    """Contract section 5: two imports of one sid at once; a server of its own, so that fsck
    looks at this test's media alone (on S3 too, with RECD_TEST_MEDIA=s3; test_s3.py runs it
    against the test S3 server in every run)."""
    srv = start_server()
    race_same_sid(srv, make_wav)
    srv.stop()


@needs_local_media  # writes the orphan into the data folder itself
def test_import_sid_over_an_orphan(start_server, make_wav):
    """An interrupted `import --sid` leaves its WAV without a row (fsck's orphan). Importing the
    sid again is not refused for it: with no import of it under way (the repair guard, held
    exclusively, says so) the orphan goes, and the new audio is stored and served."""
    srv = start_server()
    acct = srv.cli.account_create(name="orphan")
    sid = rand_sid("RE")
    orphan = srv.data / "media" / sid[2:4] / sid[4:6] / (sid + ".wav")
    orphan.parent.mkdir(parents=True, exist_ok=True)
    orphan.write_bytes(wav_bytes(0.3))
    f = make_wav(0.4)
    assert srv.cli.import_ok(acct.sid, [f], sid=sid)[0]["sid"] == sid
    assert srv.get("%s/Recordings/%s.wav" % (acct.path, sid)).content == f.read_bytes()
    r = srv.cli.run("fsck")
    assert r.returncode == 0 and r.stdout.strip().endswith("clean"), (r.stdout, r.stderr)
    srv.stop()


# --------------------------------------------------------------------------- migrations

def test_migration_keeps_sid_and_dates(server, make_account, make_wav, import_wavs):
    a = make_account()
    sid, call, conf = rand_sid("RE"), rand_sid("CA"), rand_sid("CF")
    rec = import_wavs(a, [make_wav(1.4)], sid=sid, call=call, conference=conf,
                      date_created="2009-07-06T12:00:00Z", start_time="2009-07-06T11:59:58Z",
                      source="DialVerb")[0]
    assert set(rec) - {"_file", "_bytes"} == RECORDING_KEYS
    j = server.get_json("%s/Recordings/%s.json" % (a.path, sid))
    for got in (rec, j):
        assert got["sid"] == sid
        assert got["account_sid"] == a.sid
        assert got["call_sid"] == call
        assert got["conference_sid"] == conf
        assert got["date_created"] == "Mon, 06 Jul 2009 12:00:00 +0000"
        assert got["start_time"] == "Mon, 06 Jul 2009 11:59:58 +0000"
        assert got["source"] == "DialVerb"
        assert got["duration"] == "1"
        assert got["channels"] == 1
        assert got["status"] == "completed"
    assert server.get("%s/Recordings/%s.wav" % (a.path, sid)).content == rec["_bytes"]
    body = server.get_json(a.path + "/Recordings.json", auth=a.auth, params={"DateCreated": "2009-07-06"})
    assert [r["sid"] for r in body["recordings"]] == [sid]


@pytest.mark.parametrize("given,expected", [
    ("2009-07-06T12:00:00Z", "Mon, 06 Jul 2009 12:00:00 +0000"),
    ("2009-07-06T14:00:00+02:00", "Mon, 06 Jul 2009 12:00:00 +0000"),
    ("2009-07-06T07:00:00-05:00", "Mon, 06 Jul 2009 12:00:00 +0000"),
    ("2009-07-06T23:30:00-01:00", "Tue, 07 Jul 2009 00:30:00 +0000"),
    ("Fri, 17 Jul 2009 01:52:49 +0000", "Fri, 17 Jul 2009 01:52:49 +0000"),
    ("Fri, 17 Jul 2009 03:52:49 +0200", "Fri, 17 Jul 2009 01:52:49 +0000"),
    ("2016-02-29T00:00:00Z", "Mon, 29 Feb 2016 00:00:00 +0000"),
])
def test_date_formats(server, make_account, make_wav, import_wavs, given, expected):
    a = make_account()
    rec = import_wavs(a, [make_wav(0.1)], date_created=given)[0]
    assert rec["date_created"] == expected
    assert server.get_json("%s/Recordings/%s.json" % (a.path, rec["sid"]))["date_created"] == expected


def test_several_files_per_call(server, make_account, make_wav, import_wavs):
    a = make_account()
    files = [make_wav(0.2), make_wav(0.6, rate=16000, channels=2), make_wav(0.3, rate=48000),
             make_wav(0.4, rate=22050, channels=2), make_wav(1.6, rate=11025)]
    recs = import_wavs(a, files)
    assert len({r["sid"] for r in recs}) == 5
    assert [r["channels"] for r in recs] == [1, 2, 1, 2, 1]
    assert [r["duration"] for r in recs] == ["0", "1", "0", "0", "2"]
    for r, f in zip(recs, files):
        got = server.get("%s/Recordings/%s" % (a.path, r["sid"]))
        assert got.status_code == 200 and got.content == f.read_bytes()
        j = server.get_json("%s/Recordings/%s.json" % (a.path, r["sid"]))
        assert (j["channels"], j["duration"]) == (r["channels"], r["duration"])
    assert set(server.list_sids(a)) == {r["sid"] for r in recs}
    assert server.list_sids(a) == [r["sid"] for r in reversed(recs)]


def test_several_files_share_date_created(server, make_account, make_wav, import_wavs):
    a = make_account()
    recs = import_wavs(a, [make_wav(0.1) for _ in range(4)], date_created="2010-01-02T03:04:05Z")
    assert {r["date_created"] for r in recs} == {"Sat, 02 Jan 2010 03:04:05 +0000"}
    assert server.list_sids(a) == sorted((r["sid"] for r in recs), reverse=True)


def test_fsck_clean_after_refused_imports(server):
    r = server.cli.run("fsck")
    assert r.returncode == 0, (r.stdout, r.stderr)
