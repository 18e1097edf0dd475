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

from conftest import (REPO, RECORDING_KEYS, Recd, assert_json_error, assert_xml_error, needs_local_media, rand_sid,
                      xml_root)
from test_schema import check, spec  # noqa: F401  (the OpenAPI fixture)

A = "/2010-04-01/Accounts/{AccountSid}"
ROWS_BIN = Path(os.environ.get("RECD_STORE_ROWS", str(REPO / "build" / "test" / "harness" / "store_rows")))


def rows(data, kind, **fields):
    """Writes a row with the harness; returns the sid it printed."""
    if not ROWS_BIN.exists():
        pytest.fail("%s not built (make build/test/harness/store_rows)" % ROWS_BIN, pytrace=False)
    args = [str(ROWS_BIN), str(data), kind] + ["%s=%s" % kv for kv in fields.items()]
    store = Recd(data).store
    env = dict(os.environ, RECD_STORE=store) if store else None
    r = subprocess.run(args, capture_output=True, text=True, timeout=30, env=env)
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


@needs_local_media
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


# --------------------------------------------------------------------------- the Calls resource

CALL_KEYS = {"sid", "date_created", "date_updated", "parent_call_sid", "account_sid", "to", "to_formatted",
             "from", "from_formatted", "phone_number_sid", "status", "start_time", "end_time", "duration",
             "price", "price_unit", "direction", "answered_by", "api_version", "forwarded_from", "group_sid",
             "caller_name", "queue_time", "trunk_sid", "uri", "subresource_uris"}
DAY = 86400 * 1000000
T0 = 1249516800 * 1000000  # Thu, 06 Aug 2009 00:00:00 GMT


def us_rfc(us):
    import datetime as dt
    import email.utils
    return email.utils.format_datetime(dt.datetime.fromtimestamp(us / 1e6, dt.timezone.utc))


@pytest.fixture(scope="module")
def calls(server, make_account):
    """Eight calls of one account (and one of another), in every state, oldest first:
    (sid, to, from, status, start_us, end_us)."""
    acct, other = make_account(), make_account()
    rows_ = []
    spec_ = [  # to, from, status, start (days after T0, 0 = none), length s
        ("+15550001", "+15557770", "completed", 0.5, 61.6),
        ("+15550001", "+15557771", "busy", 0, 0),
        ("+15550002", "sip:alice@example.org", "completed", 1.25, 5),
        ("+15550001", "+15557770", "no-answer", 0, 0),
        ("+15550002", "+15557771", "in-progress", 2.5, None),
        ("+15550001", "+15557770", "ringing", 0, None),
        ("+15550002", "+15557770", "failed", 0, 0),
        ("+15550001", "+15557771", "completed", 3.5, 0.4),
    ]
    for i, (to, frm, status, start, length) in enumerate(spec_):
        fields = dict(account_sid=acct.sid, to_addr=to, from_addr=frm, status=status,
                      created_us=T0 + i * 1000, updated_us=T0 + i * 1000 + 5)
        start_us = int(T0 + start * DAY) if start else 0
        end_us = 0
        if start_us:
            fields["start_us"] = start_us
        if length is not None and status != "ringing":
            end_us = (start_us or T0 + i * 1000) + int(length * 1e6)
            fields["end_us"] = end_us
            if start_us:
                fields["duration_ms"] = int(length * 1000)
        sid = rows(server.data, "call", **fields)
        rows_.append((sid, to, frm, status, start_us, end_us))
    other_sid = rows(server.data, "call", account_sid=other.sid, to_addr="+15550001", status="completed")
    return {"acct": acct, "other": other, "rows": rows_, "other_sid": other_sid}


def sids(body):
    return [c["sid"] for c in body["calls"]]


def newest_first(calls, pred=lambda r: True):
    return [r[0] for r in reversed(calls["rows"]) if pred(r)]


def test_calls_list_json(server, spec, calls):  # noqa: F811
    acct = calls["acct"]
    body = server.get_json(acct.path + "/Calls.json", auth=acct.auth)
    items = check(spec, A + "/Calls.json", body)
    assert [c["sid"] for c in items] == newest_first(calls)
    for c in items:
        assert set(c) == CALL_KEYS
    assert body["uri"] == acct.path + "/Calls.json?PageSize=50&Page=0"
    assert body["next_page_uri"] is None and body["previous_page_uri"] is None
    assert (body["start"], body["end"], body["page"], body["page_size"]) == (0, 7, 0, 50)


def test_calls_list_xml(server, calls):
    acct = calls["acct"]
    r = server.get(acct.path + "/Calls", auth=acct.auth)
    assert r.status_code == 200
    lst = xml_root(r.content).find("Calls")
    assert lst.get("total") == "8" and lst.get("pagesize") == "50"
    assert [c.findtext("Sid") for c in lst.findall("Call")] == newest_first(calls)


@pytest.mark.parametrize("params,pred", [
    ({"To": "+15550002"}, lambda r: r[1] == "+15550002"),
    ({"From": "+15557770"}, lambda r: r[2] == "+15557770"),
    ({"From": "sip:alice@example.org"}, lambda r: r[2] == "sip:alice@example.org"),
    ({"Status": "completed"}, lambda r: r[3] == "completed"),
    ({"To": "+15550001", "Status": "completed"}, lambda r: r[1] == "+15550001" and r[3] == "completed"),
    ({"To": "+15550001", "From": "+15557771"}, lambda r: r[1] == "+15550001" and r[2] == "+15557771"),
    ({"StartTime": "2009-08-07"}, lambda r: r[4] and T0 + DAY <= r[4] < T0 + 2 * DAY),
    ({"StartTime>": "2009-08-07"}, lambda r: r[4] and r[4] >= T0 + DAY),
    ({"StartTime<": "2009-08-07"}, lambda r: r[4] and r[4] < T0 + 2 * DAY),
    ({"StartTime>": "2009-08-07", "StartTime<": "2009-08-08"},
     lambda r: r[4] and T0 + DAY <= r[4] < T0 + 3 * DAY),
    ({"StartTime>": "2009-08-07T06:00:00Z"}, lambda r: r[4] and r[4] >= T0 + DAY + DAY // 4),
    ({"EndTime": "2009-08-06"}, lambda r: r[5] and T0 <= r[5] < T0 + DAY),
    ({"EndTime>": "2009-08-08"}, lambda r: r[5] and r[5] >= T0 + 2 * DAY),
    ({"Status": "queued"}, lambda r: False),
    ({"To": "+19999999"}, lambda r: False),
])
def test_calls_list_filters(server, calls, params, pred):
    acct = calls["acct"]
    body = server.get_json(acct.path + "/Calls.json", auth=acct.auth, params=params)
    assert sids(body) == newest_first(calls, pred), params
    # the libraries' spelling of the operators (%3C, %3E) means the same
    enc = {k.replace("<", "%3C").replace(">", "%3E"): v for k, v in params.items()}
    q = "&".join("%s=%s" % (k, requests_quote(v)) for k, v in enc.items())
    r = server.get("%s/Calls.json?%s" % (acct.path, q), auth=acct.auth)
    assert sids(r.json()) == sids(body)


def requests_quote(v):
    import urllib.parse
    return urllib.parse.quote(v, safe="")


@pytest.mark.parametrize("params", [{"Status": "done"}, {"Status": ""}, {"StartTime": "2009-02-30"},
                                    {"EndTime<": "yesterday"}, {"To": "x" * 300}])
def test_calls_list_bad_filters(server, calls, params):
    acct = calls["acct"]
    r = server.get(acct.path + "/Calls.json", auth=acct.auth, params=params)
    assert_json_error(r, 400, 20001)


def test_calls_paging(server, calls):
    acct = calls["acct"]
    want = newest_first(calls)
    seen, pages = [], 0
    body = server.get_json(acct.path + "/Calls.json", auth=acct.auth, params={"PageSize": 3})
    while True:
        pages += 1
        seen += sids(body)
        if not body["next_page_uri"]:
            break
        assert "PageToken=PA" in body["next_page_uri"] and body["next_page_uri"].startswith(acct.path)
        body = server.get_json(body["next_page_uri"], auth=acct.auth)
    assert seen == want and pages == 3
    # and back, by previous_page_uri
    back = []
    while body["previous_page_uri"]:
        body = server.get_json(body["previous_page_uri"], auth=acct.auth)
        back = sids(body) + back
    assert back == want[:6]
    # filters are kept in the page URIs
    body = server.get_json(acct.path + "/Calls.json", auth=acct.auth,
                           params={"To": "+15550001", "PageSize": 2})
    assert "To=%2B15550001" in body["next_page_uri"]
    got = sids(body)
    while body["next_page_uri"]:
        body = server.get_json(body["next_page_uri"], auth=acct.auth)
        got += sids(body)
    assert got == newest_first(calls, lambda r: r[1] == "+15550001")
    # a token from a recordings list is not a call anchor, and garbage is 400
    r = server.get(acct.path + "/Calls.json", auth=acct.auth, params={"PageToken": "PAnotatoken"})
    assert_json_error(r, 400, 21481)
    r = server.get(acct.path + "/Calls.json", auth=acct.auth, params={"PageSize": 1001})
    assert_json_error(r, 400, 20007)


def test_call_instance_json(server, spec, calls):  # noqa: F811
    acct = calls["acct"]
    by = {r[3] + str(i): r for i, r in enumerate(calls["rows"])}
    sid, to, frm, status, start, end = by["completed0"]
    body = server.get_json("%s/Calls/%s.json" % (acct.path, sid), auth=acct.auth)
    check(spec, A + "/Calls/{Sid}.json", body)
    assert set(body) == CALL_KEYS
    assert body["sid"] == sid and body["account_sid"] == acct.sid
    assert (body["to"], body["to_formatted"], body["from"], body["from_formatted"]) == (to, to, frm, frm)
    assert (body["status"], body["direction"], body["duration"]) == ("completed", "inbound", "62")
    assert body["start_time"] == us_rfc(start) == "Thu, 06 Aug 2009 12:00:00 +0000"
    assert body["end_time"] == us_rfc(end)
    assert body["date_created"] == "Thu, 06 Aug 2009 00:00:00 +0000"
    assert body["uri"] == "%s/Calls/%s.json" % (acct.path, sid)
    assert body["subresource_uris"] == {"recordings": "%s/Calls/%s/Recordings.json" % (acct.path, sid)}
    assert (body["api_version"], body["price"], body["price_unit"], body["queue_time"]) == \
        ("2010-04-01", None, "USD", "0")
    for k in ("parent_call_sid", "phone_number_sid", "answered_by", "caller_name", "forwarded_from",
              "group_sid", "trunk_sid"):
        assert body[k] is None, k
    # not answered, not ended, or ended without being answered: no duration, as Twilio
    for key in ("busy1", "in-progress4", "ringing5", "failed6"):
        b = server.get_json("%s/Calls/%s.json" % (acct.path, by[key][0]), auth=acct.auth)
        check(spec, A + "/Calls/{Sid}.json", b)
        assert b["duration"] is None, key
        assert b["status"] == by[key][3]
    b = server.get_json("%s/Calls/%s.json" % (acct.path, by["in-progress4"][0]), auth=acct.auth)
    assert b["end_time"] is None and b["start_time"] is not None
    b = server.get_json("%s/Calls/%s.json" % (acct.path, by["busy1"][0]), auth=acct.auth)
    assert b["start_time"] is None


def test_call_instance_xml(server, calls):
    acct = calls["acct"]
    sid = calls["rows"][0][0]
    r = server.get("%s/Calls/%s.xml" % (acct.path, sid), auth=acct.auth)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("application/xml")
    call = xml_root(r.content).find("Call")
    assert [c.tag for c in call] == [
        "Sid", "DateCreated", "DateUpdated", "ParentCallSid", "AccountSid", "To", "ToFormatted", "From",
        "FromFormatted", "PhoneNumberSid", "Status", "StartTime", "EndTime", "Duration", "Price", "PriceUnit",
        "Direction", "AnsweredBy", "ApiVersion", "ForwardedFrom", "GroupSid", "CallerName", "QueueTime",
        "TrunkSid", "Uri", "SubresourceUris"]
    assert call.findtext("Sid") == sid and call.findtext("Duration") == "62"
    assert call.findtext("Uri") == "%s/Calls/%s.xml" % (acct.path, sid)
    assert call.find("SubresourceUris").findtext("Recordings") == "%s/Calls/%s/Recordings.json" % (acct.path, sid)
    assert call.findtext("ParentCallSid") == ""
    # no extension is XML too
    r2 = server.get("%s/Calls/%s" % (acct.path, sid), auth=acct.auth)
    assert r2.content == r.content.replace(b".xml</Uri>", b".xml</Uri>")


def test_call_text_escaped(server, make_account):
    acct = make_account()
    sid = rows(server.data, "call", account_sid=acct.sid, from_addr='sip:"a<b>&c"@x', caller_name="Ann & <Bo>",
               status="completed")
    j = server.get_json("%s/Calls/%s.json" % (acct.path, sid), auth=acct.auth)
    assert (j["from"], j["caller_name"]) == ('sip:"a<b>&c"@x', "Ann & <Bo>")
    r = server.get("%s/Calls/%s.xml" % (acct.path, sid), auth=acct.auth)
    call = xml_root(r.content).find("Call")
    assert (call.findtext("From"), call.findtext("CallerName")) == ('sip:"a<b>&c"@x', "Ann & <Bo>")


def test_calls_auth(server, calls):
    acct, other = calls["acct"], calls["other"]
    sid = calls["rows"][0][0]
    for path in ("/Calls.json", "/Calls/%s.json" % sid):
        assert_json_error(server.get(acct.path + path), 401, 20003)
        assert_json_error(server.get(acct.path + path, auth=other.auth), 401, 20003)
        assert_json_error(server.get(acct.path + path, auth=(acct.sid, "0" * 32)), 401, 20003)
    # another account's call under one's own path is not there
    r = server.get("%s/Calls/%s.json" % (other.path, sid), auth=other.auth)
    assert_json_error(r, 404, 20404)
    r = server.request("DELETE", "%s/Calls/%s.json" % (other.path, sid), auth=other.auth)
    assert_json_error(r, 404, 20404)
    assert calls["other_sid"] not in sids(server.get_json(acct.path + "/Calls.json", auth=acct.auth))
    # an API key of the account works like its token
    key = server.cli.key_create(acct.sid)
    assert server.get_json("%s/Calls/%s.json" % (acct.path, sid), auth=(key["sid"], key["secret"]))["sid"] == sid


def test_calls_not_found_and_methods(server, calls):
    acct = calls["acct"]
    assert_json_error(server.get("%s/Calls/%s.json" % (acct.path, rand_sid("CA")), auth=acct.auth), 404, 20404)
    assert_json_error(server.get("%s/Calls/%s.json" % (acct.path, rand_sid("RE")), auth=acct.auth), 404, 20404)
    assert_xml_error(server.get("%s/Calls/%s" % (acct.path, rand_sid("CA")), auth=acct.auth), 404, 20404)
    for ext in (".wav", ".mp3", ".txt"):
        assert server.get("%s/Calls/%s%s" % (acct.path, calls["rows"][0][0], ext),
                          auth=acct.auth).status_code == 404
    for method in ("POST", "PUT"):
        r = server.request(method, acct.path + "/Calls.json", auth=acct.auth)
        assert_json_error(r, 405, 20004)
        r = server.request(method, "%s/Calls/%s.json" % (acct.path, calls["rows"][0][0]), auth=acct.auth)
        assert_json_error(r, 405, 20004)
        assert "DELETE" in r.headers["Allow"]
    r = server.request("DELETE", acct.path + "/Calls.json", auth=acct.auth)
    assert_json_error(r, 405, 20004)
    r = server.request("HEAD", "%s/Calls/%s.json" % (acct.path, calls["rows"][0][0]), auth=acct.auth)
    assert r.status_code == 200 and r.content == b""


def test_call_delete(server, make_account):
    acct = make_account()
    live = rows(server.data, "call", account_sid=acct.sid, status="in-progress", start_us=T0)
    done = rows(server.data, "call", account_sid=acct.sid, status="completed", start_us=T0, end_us=T0 + 10**6)
    path = acct.path + "/Calls/%s.json"
    r = server.request("DELETE", path % live, auth=acct.auth)
    body = assert_json_error(r, 400, 20009)
    assert "call" in body["message"] and "in progress" in body["message"]
    assert server.get_json(path % live, auth=acct.auth)["status"] == "in-progress"
    assert_json_error(server.request("DELETE", path % done), 401, 20003)
    r = server.request("DELETE", path % done, auth=acct.auth)
    assert r.status_code == 204 and r.content == b""
    assert_json_error(server.get(path % done, auth=acct.auth), 404, 20404)
    assert_json_error(server.request("DELETE", path % done, auth=acct.auth), 404, 20404)
    assert sids(server.get_json(acct.path + "/Calls.json", auth=acct.auth)) == [live]
    # once it has ended it may go
    rows(server.data, "call-update", sid=live, status="completed", end_us=T0 + 5 * 10**6, duration_ms=5000)
    assert server.get_json(path % live, auth=acct.auth)["duration"] == "5"
    assert server.request("DELETE", path % live, auth=acct.auth).status_code == 204


def test_call_recordings(server, make_account):
    """Every recording a call makes has its call_sid, so /Calls/CA…/Recordings lists them."""
    acct = make_account()
    call = rows(server.data, "call", account_sid=acct.sid, status="in-progress", start_us=T0)
    other = rows(server.data, "call", account_sid=acct.sid, status="in-progress", start_us=T0)
    rec = rows(server.data, "recording", account_sid=acct.sid, call_sid=call)
    rows(server.data, "recording", account_sid=acct.sid, call_sid=other)
    body = server.get_json("%s/Calls/%s/Recordings.json" % (acct.path, call), auth=acct.auth)
    assert [(r["sid"], r["call_sid"], r["status"]) for r in body["recordings"]] == [(rec, call, "in-progress")]
    sub = server.get_json("%s/Calls/%s.json" % (acct.path, call), auth=acct.auth)["subresource_uris"]
    assert [r["sid"] for r in server.get_json(sub["recordings"], auth=acct.auth)["recordings"]] == [rec]


def test_twilio_library_reads_calls(server, calls, twilio_client):
    acct = calls["acct"]
    client = twilio_client(acct.sid, acct.auth_token)
    got = client.calls.list(page_size=3)
    assert [c.sid for c in got] == newest_first(calls)
    got = client.calls.list(to="+15550002", status="completed")
    assert [c.sid for c in got] == newest_first(calls, lambda r: r[1] == "+15550002" and r[3] == "completed")
    import datetime as dt
    after = dt.datetime(2009, 8, 7, tzinfo=dt.timezone.utc)
    got = client.calls.list(start_time_after=after)
    assert [c.sid for c in got] == newest_first(calls, lambda r: r[4] and r[4] >= T0 + DAY)
    c = client.calls(calls["rows"][0][0]).fetch()
    assert (c.status, c.duration, c.direction, c.to) == ("completed", "62", "inbound", "+15550001")
    assert c.start_time == dt.datetime(2009, 8, 6, 12, tzinfo=dt.timezone.utc)
