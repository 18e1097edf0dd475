"""Calls that record (contract section 7), from the store and API side.

Recordings that a call makes exist while they are being made (`in-progress`) and may end without
media (`absent`, `failed`). Those states come only from a live call, so the rows are written by
the test harness build/test/harness/store_rows (through the store's own operations) and then
read through the real server and command line.
"""

import json
import os
import subprocess
from pathlib import Path

import pytest

from conftest import (REPO, RECORDING_KEYS, Recd, assert_json_error, assert_xml_error, rand_sid,
                      xml_root)
from test_schema import check, spec  # noqa: F401  (the OpenAPI fixture)

A = "/2010-04-01/Accounts/{AccountSid}"
ROWS_BIN = Path(os.environ.get("RECD_STORE_ROWS", str(REPO / "build" / "test" / "harness" / "store_rows")))


def rows(data, kind, **fields):
    """Writes a row with the harness; returns the sid it printed."""
    if not ROWS_BIN.exists():
        pytest.fail("%s not built (make build/test/harness/store_rows)" % ROWS_BIN, pytrace=False)
    args = [str(ROWS_BIN), str(data), kind] + ["%s=%s" % kv for kv in fields.items()]
    r = subprocess.run(args, capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, (args, r.stdout, r.stderr)
    return r.stdout.strip()


# --------------------------------------------------------------------------- recordings in progress

@pytest.fixture(scope="module")
def live(server, make_account):
    acct = make_account()
    call = rand_sid("CA")
    sid = rows(server.data, "recording", account_sid=acct.sid, call_sid=call, transcribe=1,
               start_us=1249519200000000)
    return {"acct": acct, "call": call, "sid": sid}


def test_in_progress_json(server, spec, live):  # noqa: F811
    acct = live["acct"]
    body = server.get_json("%s/Recordings/%s.json" % (acct.path, live["sid"]))
    check(spec, A + "/Recordings/{Sid}.json", body)
    assert set(body) == RECORDING_KEYS
    assert body["status"] == "in-progress"
    assert body["duration"] == "-1"
    assert body["media_url"] is None
    assert body["error_code"] is None
    assert body["call_sid"] == live["call"]
    assert body["source"] == "RecordVerb"
    assert body["start_time"] == "Thu, 06 Aug 2009 00:40:00 +0000"
    assert body["uri"] == "%s/Recordings/%s.json" % (acct.path, live["sid"])


def test_in_progress_xml(server, live):
    r = server.get("%s/Recordings/%s.xml" % (live["acct"].path, live["sid"]))
    assert r.status_code == 200
    rec = xml_root(r.content).find("Recording")
    assert rec.findtext("Status") == "in-progress"
    assert rec.findtext("Duration") == "-1"
    assert rec.find("MediaUrl") is not None and rec.findtext("MediaUrl") == ""


def test_in_progress_in_lists(server, live):
    acct = live["acct"]
    for path in ("/Recordings.json", "/Calls/%s/Recordings.json" % live["call"]):
        body = server.get_json(acct.path + path, auth=acct.auth)
        assert [(i["sid"], i["status"], i["duration"]) for i in body["recordings"]] == \
            [(live["sid"], "in-progress", "-1")], path


@pytest.mark.parametrize("ext", ["", ".wav", ".mp3"])
@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_in_progress_media_is_404(server, live, ext, method):
    for prefix in ("", "/Calls/%s" % live["call"]):
        path = "%s%s/Recordings/%s%s" % (live["acct"].path, prefix, live["sid"], ext)
        r = server.request(method, path)
        assert r.status_code == 404, (path, r.status_code)
        if method == "GET":
            assert_xml_error(r, 404, 20404)
    # RequestedChannels does not change that
    r = server.get("%s/Recordings/%s.mp3" % (live["acct"].path, live["sid"]),
                   params={"RequestedChannels": "1"})
    assert r.status_code == 404


def test_in_progress_delete_is_refused(server, live):
    acct = live["acct"]
    r = server.request("DELETE", "%s/Recordings/%s.json" % (acct.path, live["sid"]), auth=acct.auth)
    body = assert_json_error(r, 400, 20009)
    assert "in progress" in body["message"]
    r = server.request("DELETE", "%s/Calls/%s/Recordings/%s" % (acct.path, live["call"], live["sid"]),
                       auth=acct.auth)
    assert_xml_error(r, 400, 20009)
    # credentials still come first; and the row is untouched
    r = server.request("DELETE", "%s/Recordings/%s.json" % (acct.path, live["sid"]))
    assert_json_error(r, 401, 20003)
    assert server.get_json("%s/Recordings/%s.json" % (acct.path, live["sid"]))["status"] == "in-progress"


def test_absent_recording(server, spec, make_account):  # noqa: F811
    acct = make_account()
    sid = rows(server.data, "recording", account_sid=acct.sid, call_sid=rand_sid("CA"))
    path = "%s/Recordings/%s" % (acct.path, sid)
    assert server.get_json(path + ".json")["status"] == "in-progress"
    rows(server.data, "finish", sid=sid, status="absent", error_code=16101, duration_ms=300)
    body = server.get_json(path + ".json")
    check(spec, A + "/Recordings/{Sid}.json", body)
    assert (body["status"], body["error_code"], body["duration"], body["media_url"]) == \
        ("absent", 16101, "0", None)
    for ext in ("", ".wav", ".mp3"):
        assert server.get(path + ext).status_code == 404, ext
    # finished once: a second finish is refused by the store
    r = subprocess.run([str(ROWS_BIN), str(server.data), "finish", "sid=" + sid, "status=failed"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 1 and "NOT_FOUND" in r.stderr
    # an ended recording without media may be deleted
    r = server.request("DELETE", path + ".json", auth=acct.auth)
    assert r.status_code == 204
    assert server.get(path + ".json").status_code == 404


def test_failed_recording(server, make_account):
    acct = make_account()
    sid = rows(server.data, "recording", account_sid=acct.sid)
    rows(server.data, "finish", sid=sid, status="failed")
    body = server.get_json("%s/Recordings/%s.json" % (acct.path, sid))
    assert (body["status"], body["media_url"], body["duration"]) == ("failed", None, "0")
    assert server.get("%s/Recordings/%s.wav" % (acct.path, sid)).status_code == 404


def test_fsck_ignores_recordings_without_media(tmp_path, make_wav):
    """fsck expects no media of a recording in progress, absent or failed; media already written
    for one in progress is its own (not an orphan), while media left beside an absent one is."""
    cli = Recd(tmp_path / "data")
    acct = cli.account_create()
    done = cli.import_ok(acct.sid, [make_wav(0.2)])[0]
    live = rows(cli.data, "recording", account_sid=acct.sid)
    gone = rows(cli.data, "recording", account_sid=acct.sid)
    rows(cli.data, "finish", sid=gone, status="absent", error_code=16102)
    rows(cli.data, "recording", account_sid=acct.sid, status="failed")

    def media(sid):
        p = cli.data / "media" / sid[2:4] / sid[4:6] / (sid + ".wav")
        p.parent.mkdir(parents=True, exist_ok=True)
        return p

    media(live).write_bytes(b"RIFF partial audio")
    media(gone).write_bytes(b"RIFF stray")
    r = cli.run("fsck")
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert "damaged" not in r.stdout.replace("0 damaged", "")
    assert live not in r.stdout
    assert "orphan: media %s.wav" % gone in r.stdout
    r = cli.ok("fsck", "--repair")
    assert media(live).exists()
    assert not media(gone).exists()
    assert done["sid"] not in r.stdout
