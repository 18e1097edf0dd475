"""Contract section 1: every resource path, its methods and representations, field values."""

import datetime as dt
import json

import pytest

from conftest import (ENVELOPE_KEYS, RECORDING_KEYS, RECORDING_XML_ORDER, SID_RE, TRANSCRIPTION_KEYS,
                      assert_json_error, basic, media_type, parse_rfc2822, rand_sid,
                      rfc2822, xml_root)

TEXT = "Hello wörld & <friends> \"quoted\" 'single' — ok"


@pytest.fixture(scope="module")
def env(server, make_account, make_wav, import_wavs):
    acct = make_account()
    call = rand_sid("CA")
    other_call = rand_sid("CA")
    conf = rand_sid("CF")
    e = {"acct": acct, "call": call, "other_call": other_call, "conf": conf}
    e["plain"] = import_wavs(acct, [make_wav(0.6)])[0]
    e["call_rec"] = import_wavs(acct, [make_wav(1.4)], call=call, transcription_text=TEXT)[0]
    e["other_call_rec"] = import_wavs(acct, [make_wav(0.2)], call=other_call)[0]
    e["conf_rec"] = import_wavs(acct, [make_wav(1.6, rate=16000, channels=2)], conference=conf)[0]
    e["dial"] = import_wavs(acct, [make_wav(0.2)], source="DialVerb",
                            start_time="2009-07-06T12:00:00Z")[0]
    return e


def rec_path(e, rec, ext=""):
    return "%s/Recordings/%s%s" % (e["acct"].path, rec["sid"], ext)


# --------------------------------------------------------------------------- representations

@pytest.mark.parametrize("ext", ["", ".wav"])
def test_media_is_exact_wav_bytes_without_auth(server, env, ext):
    for key in ("plain", "call_rec", "conf_rec"):
        rec = env[key]
        r = server.get(rec_path(env, rec, ext))
        assert r.status_code == 200, r.text[:300]
        assert media_type(r) == "audio/x-wav"
        assert r.content == rec["_bytes"]


def test_json_instance_fields(server, env):
    rec = env["call_rec"]
    acct = env["acct"]
    j = server.get_json(rec_path(env, rec, ".json"))
    assert set(j) == RECORDING_KEYS
    base = "%s/Recordings/%s" % (acct.path, rec["sid"])
    assert j["sid"] == rec["sid"]
    assert j["account_sid"] == acct.sid
    assert j["call_sid"] == env["call"]
    assert j["conference_sid"] is None
    assert j["duration"] == "1"            # 1.4 s rounds to 1
    assert j["channels"] == 1
    assert j["api_version"] == "2010-04-01"
    assert j["price"] is None
    assert j["price_unit"] == "USD"
    assert j["status"] == "completed"
    assert j["source"] == "RecordVerb"
    assert j["error_code"] is None
    assert j["encryption_details"] is None
    assert j["uri"] == base + ".json"
    assert j["media_url"] == server.url + base
    sub = j["subresource_uris"]
    assert sub["transcriptions"] == base + "/Transcriptions.json"
    assert sub["add_on_results"] == base + "/AddOnResults.json"
    created = parse_rfc2822(j["date_created"])
    parse_rfc2822(j["date_updated"])
    now = dt.datetime.now(dt.timezone.utc)
    assert abs((now - created).total_seconds()) < 600, j["date_created"]


def test_duration_rounding_and_channels(server, env):
    plain = server.get_json(rec_path(env, env["plain"], ".json"))
    assert plain["duration"] == "1" and plain["channels"] == 1          # 0.6 s -> 1
    conf = server.get_json(rec_path(env, env["conf_rec"], ".json"))
    assert conf["duration"] == "2" and conf["channels"] == 2            # 1.6 s stereo -> 2
    assert conf["conference_sid"] == env["conf"]


def test_source_and_start_time_as_stored(server, env):
    j = server.get_json(rec_path(env, env["dial"], ".json"))
    assert j["source"] == "DialVerb"
    assert j["start_time"] == "Mon, 06 Jul 2009 12:00:00 +0000"


def test_import_output_matches_api(server, env):
    rec = env["conf_rec"]
    j = server.get_json(rec_path(env, rec, ".json"))
    for k in ("sid", "account_sid", "call_sid", "conference_sid", "duration", "channels",
              "date_created", "status", "source", "api_version"):
        assert rec[k] == j[k], k


def test_xml_instance(server, env):
    rec = env["call_rec"]
    acct = env["acct"]
    r = server.get(rec_path(env, rec, ".xml"))
    assert r.status_code == 200
    assert media_type(r) == "application/xml"
    root = xml_root(r.content)
    assert [c.tag for c in root] == ["Recording"]
    el = root.find("Recording")
    tags = [c.tag for c in el]
    assert tags[:len(RECORDING_XML_ORDER)] == RECORDING_XML_ORDER, tags
    expected_all = {"".join(p.capitalize() for p in k.split("_")) for k in RECORDING_KEYS}
    assert sorted(tags) == sorted(expected_all), tags   # one child per property, no duplicates
    j = server.get_json(rec_path(env, rec, ".json"))
    assert el.findtext("Sid") == rec["sid"]
    assert el.findtext("AccountSid") == acct.sid
    assert el.findtext("CallSid") == env["call"]
    assert el.findtext("Duration") == "1"
    assert el.findtext("ApiVersion") == "2010-04-01"
    assert el.findtext("DateCreated") == j["date_created"]
    assert el.findtext("DateUpdated") == j["date_updated"]
    assert el.findtext("Uri") == "%s/Recordings/%s.xml" % (acct.path, rec["sid"])
    assert j["uri"] == "%s/Recordings/%s.json" % (acct.path, rec["sid"])
    assert el.findtext("Status") == "completed"
    assert el.findtext("Channels") == "1"
    assert el.findtext("Source") == "RecordVerb"
    assert el.findtext("PriceUnit") == "USD"
    assert el.findtext("MediaUrl") == j["media_url"]
    # empty values are empty elements
    for empty in ("ConferenceSid", "Price", "ErrorCode"):
        e = el.find(empty)
        assert len(e) == 0 and not (e.text or "").strip(), empty


@pytest.mark.parametrize("ext", [".txt", ".foo", ".json.xml", ".", ".wav.json", ".csv"])
def test_unknown_or_wrong_extension_is_404(server, env, ext):
    r = server.get(rec_path(env, env["plain"], ext))
    assert r.status_code == 404


# --------------------------------------------------------------------------- lists

def test_account_list_json_and_xml(server, env):
    acct = env["acct"]
    body = server.get_json(acct.path + "/Recordings.json", auth=acct.auth)
    assert set(body) == ENVELOPE_KEYS | {"recordings"}
    sids = {r["sid"] for r in body["recordings"]}
    assert sids == {env[k]["sid"] for k in ("plain", "call_rec", "other_call_rec", "conf_rec", "dial")}
    for ext in ("", ".xml"):
        r = server.get(acct.path + "/Recordings" + ext, auth=acct.auth)
        assert r.status_code == 200
        assert media_type(r) == "application/xml"
        lst = xml_root(r.content).find("Recordings")
        assert {e.findtext("Sid") for e in lst.findall("Recording")} == sids


def test_list_wav_extension_is_404(server, env):
    acct = env["acct"]
    r = server.get(acct.path + "/Recordings.wav", auth=acct.auth)
    assert r.status_code == 404


def test_call_scoped_list_and_instance(server, env):
    acct, call = env["acct"], env["call"]
    base = "%s/Calls/%s/Recordings" % (acct.path, call)
    body = server.get_json(base + ".json", auth=acct.auth)
    assert set(body) == ENVELOPE_KEYS | {"recordings"}
    assert [r["sid"] for r in body["recordings"]] == [env["call_rec"]["sid"]]
    assert body["recordings"][0]["call_sid"] == call
    # instance: public like the account-level one
    inst = server.get_json("%s/%s.json" % (base, env["call_rec"]["sid"]))
    assert inst["sid"] == env["call_rec"]["sid"] and inst["call_sid"] == call
    assert inst["uri"].endswith("/Recordings/%s.json" % env["call_rec"]["sid"])
    wav = server.get("%s/%s" % (base, env["call_rec"]["sid"]))
    assert wav.status_code == 200 and media_type(wav) == "audio/x-wav"
    assert wav.content == env["call_rec"]["_bytes"]
    x = server.get("%s/%s.xml" % (base, env["call_rec"]["sid"]))
    assert x.status_code == 200
    assert xml_root(x.content).find("Recording").findtext("Sid") == env["call_rec"]["sid"]
    # recordings that are not of this call
    for other in ("other_call_rec", "plain", "conf_rec"):
        for ext in (".json", "", ".wav", ".xml"):
            r = server.get("%s/%s%s" % (base, env[other]["sid"], ext))
            assert r.status_code == 404, (other, ext, r.status_code)
    # a call with no recordings: empty list
    body = server.get_json("%s/Calls/%s/Recordings.json" % (acct.path, rand_sid("CA")), auth=acct.auth)
    assert body["recordings"] == []


def test_conference_scoped_list_and_instance(server, env):
    acct, conf = env["acct"], env["conf"]
    base = "%s/Conferences/%s/Recordings" % (acct.path, conf)
    body = server.get_json(base + ".json", auth=acct.auth)
    assert set(body) == ENVELOPE_KEYS | {"recordings"}
    assert [r["sid"] for r in body["recordings"]] == [env["conf_rec"]["sid"]]
    inst = server.get_json("%s/%s.json" % (base, env["conf_rec"]["sid"]))
    assert inst["conference_sid"] == conf
    wav = server.get("%s/%s.wav" % (base, env["conf_rec"]["sid"]))
    assert wav.status_code == 200 and wav.content == env["conf_rec"]["_bytes"]
    for other in ("call_rec", "plain"):
        r = server.get("%s/%s.json" % (base, env[other]["sid"]))
        assert r.status_code == 404


# --------------------------------------------------------------------------- transcriptions

@pytest.fixture(scope="module")
def transcription(server, env):
    acct, rec = env["acct"], env["call_rec"]
    body = server.get_json("%s/Recordings/%s/Transcriptions.json" % (acct.path, rec["sid"]),
                           auth=acct.auth)
    assert set(body) == ENVELOPE_KEYS | {"transcriptions"}
    assert len(body["transcriptions"]) == 1, body
    return body["transcriptions"][0]


def test_transcription_list_under_recording(server, env, transcription):
    t = transcription
    assert set(t) == TRANSCRIPTION_KEYS
    assert SID_RE["TR"].match(t["sid"])
    assert t["recording_sid"] == env["call_rec"]["sid"]
    assert t["account_sid"] == env["acct"].sid
    assert t["transcription_text"] == TEXT
    assert t["status"] == "completed"
    assert t["api_version"] == "2010-04-01"
    assert t["uri"].endswith("/Transcriptions/%s.json" % t["sid"])
    assert t["uri"].startswith(env["acct"].path + "/")
    parse_rfc2822(t["date_created"])
    # a recording without transcriptions
    acct = env["acct"]
    body = server.get_json("%s/Recordings/%s/Transcriptions.json" % (acct.path, env["plain"]["sid"]),
                           auth=acct.auth)
    assert body["transcriptions"] == []


def test_transcription_account_list(server, env, transcription):
    acct = env["acct"]
    body = server.get_json(acct.path + "/Transcriptions.json", auth=acct.auth)
    assert set(body) == ENVELOPE_KEYS | {"transcriptions"}
    assert [t["sid"] for t in body["transcriptions"]] == [transcription["sid"]]
    r = server.get(acct.path + "/Transcriptions", auth=acct.auth)
    assert r.status_code == 200 and media_type(r) == "application/xml"
    lst = xml_root(r.content).find("Transcriptions")
    assert [e.findtext("Sid") for e in lst.findall("Transcription")] == [transcription["sid"]]


@pytest.mark.parametrize("scope", ["account", "recording"])
def test_transcription_instance_representations(server, env, transcription, scope):
    acct = env["acct"]
    tsid = transcription["sid"]
    if scope == "account":
        base = "%s/Transcriptions/%s" % (acct.path, tsid)
    else:
        base = "%s/Recordings/%s/Transcriptions/%s" % (acct.path, env["call_rec"]["sid"], tsid)
    j = server.get_json(base + ".json", auth=acct.auth)
    assert j["sid"] == tsid and j["transcription_text"] == TEXT
    assert set(j) == TRANSCRIPTION_KEYS
    for ext in (".xml", ""):
        r = server.get(base + ext, auth=acct.auth)
        assert r.status_code == 200 and media_type(r) == "application/xml", ext
        el = xml_root(r.content).find("Transcription")
        assert el.findtext("Sid") == tsid
        assert el.findtext("TranscriptionText") == TEXT       # escaped and round-trips
        assert el.findtext("RecordingSid") == env["call_rec"]["sid"]
        assert el.findtext("Uri").endswith("/Transcriptions/%s.xml" % tsid)
    r = server.get(base + ".txt", auth=acct.auth)
    assert r.status_code == 200
    assert r.headers["Content-Type"].replace(" ", "").lower() == "text/plain;charset=utf-8"
    assert r.content == TEXT.encode("utf-8")
    for ext in (".wav", ".mp4", ".foo"):
        assert server.get(base + ext, auth=acct.auth).status_code == 404
    # Basic auth is required for transcriptions
    assert server.get(base + ".json").status_code == 401
    assert server.get(base + ".txt").status_code == 401


def test_transcription_of_wrong_recording_is_404(server, env, transcription):
    acct = env["acct"]
    r = server.get("%s/Recordings/%s/Transcriptions/%s.json"
                   % (acct.path, env["plain"]["sid"], transcription["sid"]), auth=acct.auth)
    assert r.status_code == 404
    r = server.get("%s/Transcriptions/%s.json" % (acct.path, rand_sid("TR")), auth=acct.auth)
    assert r.status_code == 404


def test_delete_transcription(server, make_account, make_wav, import_wavs):
    acct = make_account()
    rec = import_wavs(acct, [make_wav(0.2)], transcription_text="bye")[0]
    body = server.get_json("%s/Transcriptions.json" % acct.path, auth=acct.auth)
    tsid = body["transcriptions"][0]["sid"]
    assert server.request("DELETE", "%s/Transcriptions/%s.json" % (acct.path, tsid)).status_code == 401
    r = server.request("DELETE", "%s/Transcriptions/%s.json" % (acct.path, tsid), auth=acct.auth)
    assert r.status_code == 204 and r.content == b""
    assert server.get("%s/Transcriptions/%s.json" % (acct.path, tsid), auth=acct.auth).status_code == 404
    body = server.get_json("%s/Recordings/%s/Transcriptions.json" % (acct.path, rec["sid"]),
                           auth=acct.auth)
    assert body["transcriptions"] == []
    # the recording itself is untouched
    assert server.get("%s/Recordings/%s" % (acct.path, rec["sid"])).content == rec["_bytes"]


def test_delete_transcription_under_recording(server, make_account, make_wav, import_wavs):
    acct = make_account()
    rec = import_wavs(acct, [make_wav(0.2)], transcription_text="two")[0]
    tsid = server.get_json("%s/Transcriptions.json" % acct.path, auth=acct.auth)["transcriptions"][0]["sid"]
    path = "%s/Recordings/%s/Transcriptions/%s.json" % (acct.path, rec["sid"], tsid)
    assert server.request("DELETE", path, auth=acct.auth).status_code == 204
    assert server.get(path, auth=acct.auth).status_code == 404
    assert server.get_json("%s/Transcriptions.json" % acct.path, auth=acct.auth)["transcriptions"] == []


# --------------------------------------------------------------------------- add-on results

def test_add_on_results_empty_list(server, env):
    acct = env["acct"]
    base = "%s/Recordings/%s/AddOnResults" % (acct.path, env["plain"]["sid"])
    body = server.get_json(base + ".json", auth=acct.auth)
    assert set(body) == ENVELOPE_KEYS | {"add_on_results"}
    assert body["add_on_results"] == []
    assert body["next_page_uri"] is None and body["previous_page_uri"] is None
    assert body["start"] == 0 and body["end"] == 0
    r = server.get(base, auth=acct.auth)
    assert r.status_code == 200 and media_type(r) == "application/xml"
    assert server.get(base + ".json").status_code == 401
    # unknown recording
    r = server.get("%s/Recordings/%s/AddOnResults.json" % (acct.path, rand_sid("RE")), auth=acct.auth)
    assert r.status_code == 404


# --------------------------------------------------------------------------- methods

def _paths(env, tsid):
    a = env["acct"].path
    re_ = env["call_rec"]["sid"]
    return {
        "recordings": ("%s/Recordings.json" % a, False),
        "recording": ("%s/Recordings/%s.json" % (a, re_), True),
        "rec_transcriptions": ("%s/Recordings/%s/Transcriptions.json" % (a, re_), False),
        "rec_transcription": ("%s/Recordings/%s/Transcriptions/%s.json" % (a, re_, tsid), True),
        "addons": ("%s/Recordings/%s/AddOnResults.json" % (a, re_), False),
        "call_recordings": ("%s/Calls/%s/Recordings.json" % (a, env["call"]), False),
        "call_recording": ("%s/Calls/%s/Recordings/%s.json" % (a, env["call"], re_), True),
        "conf_recordings": ("%s/Conferences/%s/Recordings.json" % (a, env["conf"]), False),
        "conf_recording": ("%s/Conferences/%s/Recordings/%s.json"
                           % (a, env["conf"], env["conf_rec"]["sid"]), True),
        "transcriptions": ("%s/Transcriptions.json" % a, False),
        "transcription": ("%s/Transcriptions/%s.json" % (a, tsid), True),
    }


PATH_NAMES = ["recordings", "recording", "rec_transcriptions", "rec_transcription", "addons",
              "call_recordings", "call_recording", "conf_recordings", "conf_recording",
              "transcriptions", "transcription"]


def _allow(resp):
    return {m.strip().upper() for m in resp.headers.get("Allow", "").split(",") if m.strip()}


@pytest.mark.parametrize("name", PATH_NAMES)
def test_get_and_head(server, env, transcription, name):
    path, _ = _paths(env, transcription["sid"])[name]
    auth = env["acct"].auth
    g = server.get(path, auth=auth)
    assert g.status_code == 200, (path, g.status_code, g.text[:300])
    h = server.request("HEAD", path, auth=auth)
    assert h.status_code == 200
    assert h.content == b""
    assert media_type(h) == media_type(g)
    if "Content-Length" in h.headers:
        assert int(h.headers["Content-Length"]) == len(g.content)


def test_head_on_media_and_missing(server, env):
    path = rec_path(env, env["plain"])
    h = server.request("HEAD", path)
    assert h.status_code == 200 and h.content == b""
    assert media_type(h) == "audio/x-wav"
    assert int(h.headers["Content-Length"]) == len(env["plain"]["_bytes"])
    h = server.request("HEAD", "%s/Recordings/%s" % (env["acct"].path, rand_sid("RE")))
    assert h.status_code == 404 and h.content == b""


@pytest.mark.parametrize("name", ["recordings", "rec_transcriptions", "addons", "call_recordings",
                                  "conf_recordings", "transcriptions"])
def test_delete_on_lists_is_405(server, env, transcription, name):
    path, is_instance = _paths(env, transcription["sid"])[name]
    assert not is_instance
    r = server.request("DELETE", path, auth=env["acct"].auth)
    assert_json_error(r, 405, 20004)
    allow = _allow(r)
    # A call's recordings take POST too (live-call recording, contract section 7).
    assert "GET" in allow and "DELETE" not in allow and ("POST" in allow) == (name == "call_recordings"), allow


# Contract section 1: POST and PUT are 405 everywhere, except the live-call forms of section 7:
# POST on Calls/{CallSid}/Recordings[/{Sid}] (tests/e2e/test_voice_calls.py), which a server
# without --sip answers 21220 (no call of its is in progress).
@pytest.mark.parametrize("method", ["POST", "PUT"])
@pytest.mark.parametrize("name", PATH_NAMES)
def test_post_put_are_405_with_allow(server, env, transcription, name, method):
    path, is_instance = _paths(env, transcription["sid"])[name]
    live = name in ("call_recordings", "call_recording")
    r = server.request(method, path, auth=env["acct"].auth, data={"Status": "stopped"})
    if live and method == "POST":
        assert_json_error(r, 400, 21220)
        return
    assert_json_error(r, 405, 20004)
    allow = _allow(r)
    assert "GET" in allow and ("POST" in allow) == live and "PUT" not in allow, allow
    assert ("DELETE" in allow) == is_instance, allow


@pytest.mark.parametrize("path", [
    "/",
    "/2010-04-01",
    "/2010-04-01/Accounts",
    "/2010-04-01/Accounts/{ac}",
    "/2010-04-01/Accounts/{ac}.json",
    "/2010-04-01/Accounts/{ac}/Foo.json",
    "/2010-04-01/Accounts/{ac}/Recordings/{re}/Foo.json",
    "/2010-04-01/Accounts/{ac}/Recordings/{re}/AddOnResults/XR" + "0" * 32 + "/Bar.json",
    "/2010-04-01/Accounts/{ac}/Calls/{ca}/Foo.json",
    "/2010-04-01/Accounts/{ac}/recordings.json",
    "/2011-01-01/Accounts/{ac}/Recordings.json",
])
def test_other_paths_are_404(server, env, path):
    acct = env["acct"]
    target = path.format(ac=acct.sid, re=env["plain"]["sid"], ca=env["call"])
    status, headers, body = server.raw("GET", target, headers={
        "Authorization": basic(acct.sid, acct.auth_token)})
    assert status == 404, (target, status, body[:200])


# --------------------------------------------------------------------------- delete

def test_delete_recording(server, make_account, make_wav, import_wavs):
    acct = make_account()
    keep, gone = import_wavs(acct, [make_wav(0.3), make_wav(0.3)])
    path = "%s/Recordings/%s" % (acct.path, gone["sid"])
    r = server.request("DELETE", path + ".json", auth=acct.auth)
    assert r.status_code == 204 and r.content == b""
    for ext in ("", ".wav"):
        assert server.get(path + ext).status_code == 404, ext
    assert server.list_sids(acct) == [keep["sid"]]
    # soft delete: visible with IncludeSoftDeleted=true, as status "deleted"
    items = server.list_all(acct, params={"IncludeSoftDeleted": "true"})
    by_sid = {i["sid"]: i for i in items}
    assert set(by_sid) == {keep["sid"], gone["sid"]}
    assert by_sid[gone["sid"]]["status"] == "deleted"
    assert by_sid[keep["sid"]]["status"] == "completed"
    # the other recording is untouched
    assert server.get("%s/Recordings/%s" % (acct.path, keep["sid"])).content == keep["_bytes"]


@pytest.mark.parametrize("scope", ["call", "conference"])
def test_delete_via_scoped_path(server, make_account, make_wav, import_wavs, scope):
    acct = make_account()
    parent = rand_sid("CA" if scope == "call" else "CF")
    opts = {"call": parent} if scope == "call" else {"conference": parent}
    rec = import_wavs(acct, [make_wav(0.2)], **opts)[0]
    other = import_wavs(acct, [make_wav(0.2)])[0]
    seg = "Calls" if scope == "call" else "Conferences"
    # a recording not of this call/conference cannot be deleted through it
    r = server.request("DELETE", "%s/%s/%s/Recordings/%s.json" % (acct.path, seg, parent, other["sid"]),
                       auth=acct.auth)
    assert r.status_code == 404
    assert server.get("%s/Recordings/%s" % (acct.path, other["sid"])).status_code == 200
    r = server.request("DELETE", "%s/%s/%s/Recordings/%s.json" % (acct.path, seg, parent, rec["sid"]),
                       auth=acct.auth)
    assert r.status_code == 204
    assert server.get("%s/Recordings/%s" % (acct.path, rec["sid"])).status_code == 404
    assert server.list_sids(acct) == [other["sid"]]


# --------------------------------------------------------------------------- CORS, base URL

def test_options_cors_preflight(server, env):
    acct = env["acct"]
    for path, allow in ((rec_path(env, env["plain"], ".json"), "GET, HEAD, DELETE, OPTIONS"),
                        (acct.path + "/Recordings.json", "GET, HEAD, OPTIONS")):
        r = server.request("OPTIONS", path, headers={
            "Origin": "https://app.example.com",
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization",
        })
        # docs/api.md: 204 with Allow and the preflight headers; every response has Origin "*"
        assert r.status_code == 204, (path, r.status_code)
        assert r.content == b""
        assert r.headers.get("Allow") == allow, r.headers
        assert r.headers.get("Access-Control-Allow-Origin") == "*", r.headers
        assert r.headers.get("Access-Control-Allow-Methods") == allow, r.headers
        hdrs = {h.strip().lower() for h in r.headers.get("Access-Control-Allow-Headers", "").split(",")}
        assert {"authorization", "range"} <= hdrs, r.headers


def test_base_url_setting(start_server, make_wav):
    srv = start_server(base_url="https://recordings.example.com")
    acct = srv.cli.account_create(name="baseurl")
    rec = srv.cli.import_ok(acct.sid, [make_wav(0.2)])[0]
    j = srv.get_json("%s/Recordings/%s.json" % (acct.path, rec["sid"]))
    assert j["media_url"] == "https://recordings.example.com%s/Recordings/%s" % (acct.path, rec["sid"])
    # URIs stay relative regardless of the base URL
    assert j["uri"] == "%s/Recordings/%s.json" % (acct.path, rec["sid"])
    body = srv.get_json(acct.path + "/Recordings.json", auth=acct.auth)
    assert body["uri"].startswith(acct.path + "/Recordings.json")


def test_serve_on_empty_data_dir(start_server, tmp_path):
    srv = start_server(data=tmp_path / "fresh", bootstrap=False)
    # docs/api.md: an account that does not exist is 401 on an authenticated route
    r = srv.get("/2010-04-01/Accounts/AC%s/Recordings.json" % ("0" * 32))
    assert_json_error(r, 401, 20003)
    assert r.headers.get("WWW-Authenticate") == 'Basic realm="Twilio API"'
    acct = srv.cli.account_create(name="late")
    body = srv.get_json(acct.path + "/Recordings.json", auth=acct.auth)
    assert body["recordings"] == []
