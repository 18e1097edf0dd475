"""Contract sections 3 and 4: error bodies, authentication, account isolation, sids, the log."""

import base64
import json
import re

import pytest

from conftest import (ERROR_KEYS, assert_json_error, assert_xml_error, basic, media_type,
                      rand_sid, xml_root)

WWW_AUTH = 'Basic realm="Twilio API"'


@pytest.fixture(scope="module")
def world(server, make_account, make_wav, import_wavs):
    a = make_account("alice")
    b = make_account("bob")
    child = make_account("alice-child", parent=a.sid)
    child2 = make_account("alice-child-2", parent=a.sid)
    w = {"a": a, "b": b, "child": child, "child2": child2}
    w["a_rec"] = import_wavs(a, [make_wav(0.3)], transcription_text="alice says")[0]
    w["b_rec"] = import_wavs(b, [make_wav(0.3)], transcription_text="bob says")[0]
    w["child_rec"] = import_wavs(child, [make_wav(0.3)], transcription_text="child says")[0]
    w["a_tr"] = server.get_json(a.path + "/Transcriptions.json", auth=a.auth)["transcriptions"][0]["sid"]
    w["child_tr"] = server.get_json(child.path + "/Transcriptions.json",
                                    auth=child.auth)["transcriptions"][0]["sid"]
    w["a_key"] = server.cli.key_create(a.sid, name="alice-key")
    return w


# --------------------------------------------------------------------------- error bodies

def test_401_json(server, world):
    a = world["a"]
    r = server.get(a.path + "/Recordings.json")
    assert_json_error(r, 401, 20003)
    assert r.headers.get("WWW-Authenticate") == WWW_AUTH


@pytest.mark.parametrize("ext", ["", ".xml"])
def test_401_xml(server, world, ext):
    a = world["a"]
    r = server.get(a.path + "/Recordings" + ext)
    assert_xml_error(r, 401, 20003)
    assert r.headers.get("WWW-Authenticate") == WWW_AUTH


def test_404_json_names_path(server, world):
    a = world["a"]
    path = "%s/Recordings/%s.json" % (a.path, rand_sid("RE"))
    body = assert_json_error(server.get(path), 404, 20404)
    assert path in body["message"]
    assert "type" not in body and "title" not in body


@pytest.mark.parametrize("prefix", ["/2008-08-01/Accounts/%s", "/%s", "/2010-04-01/Accounts/%s/Nope"])
def test_404_json_outside_the_api_is_json(server, world, prefix):
    # A .json request is answered in JSON even where no resource of ours could be (contract §3).
    path = (prefix % world["a"].sid) + "/Recordings/%s.json" % rand_sid("RE")
    body = assert_json_error(server.get(path), 404, 20404)
    assert path in body["message"]


@pytest.mark.parametrize("ext", ["", ".xml"])
def test_404_xml(server, world, ext):
    a = world["a"]
    path = "%s/Recordings/%s%s" % (a.path, rand_sid("RE"), ext)
    exc = assert_xml_error(server.get(path), 404, 20404)
    assert path in exc.findtext("Message")


def test_405_xml(server, world):
    a = world["a"]
    r = server.request("POST", a.path + "/Recordings", auth=a.auth, data={"x": "y"})
    assert_xml_error(r, 405, 20004)
    assert "GET" in r.headers.get("Allow", "")


# --------------------------------------------------------------------------- broken auth

def _b64(s):
    return base64.b64encode(s.encode()).decode()


def bad_headers(a):
    return {
        "garbage base64": "Basic !!!not-base64!!!",
        "no colon": "Basic " + _b64(a.sid + a.auth_token),
        "wrong token": basic(a.sid, "f" * 32),
        "token prefix": basic(a.sid, a.auth_token[:-1]),
        "token plus": basic(a.sid, a.auth_token + "0"),
        "uppercase token": basic(a.sid, a.auth_token.upper()) if a.auth_token != a.auth_token.upper() else basic(a.sid, "x"),
        "empty basic": "Basic ",
        "empty": "",
        "empty password": basic(a.sid, ""),
        "empty user": basic("", a.auth_token),
        "only colon": "Basic " + _b64(":"),
        "bearer": "Bearer " + a.auth_token,
        "scheme only": "Basic",
        "unknown account": basic(rand_sid("AC"), a.auth_token),
        "nul in token": "Basic " + base64.b64encode(("%s:%s\x00" % (a.sid, a.auth_token)).encode()).decode(),
    }


BAD_CASES = ["garbage base64", "no colon", "wrong token", "token prefix", "token plus",
             "uppercase token", "empty basic", "empty", "empty password", "empty user",
             "only colon", "bearer", "scheme only", "unknown account", "nul in token"]


@pytest.mark.parametrize("case", BAD_CASES)
def test_broken_authorization_is_401(server, world, case):
    a = world["a"]
    hdr = bad_headers(a)[case]
    status, headers, body = server.raw("GET", a.path + "/Recordings.json",
                                       headers={"Authorization": hdr})
    assert status == 401, (case, status, body[:200])
    assert headers.get("www-authenticate") == WWW_AUTH
    j = json.loads(body)
    assert set(j) == ERROR_KEYS and j["code"] == 20003
    # the same on a transcription instance and on a DELETE
    status, _, _ = server.raw("GET", "%s/Transcriptions/%s.json" % (a.path, world["a_tr"]),
                              headers={"Authorization": hdr})
    assert status == 401, case
    status, _, _ = server.raw("DELETE", "%s/Recordings/%s.json" % (a.path, world["a_rec"]["sid"]),
                              headers={"Authorization": hdr})
    assert status == 401, case
    assert server.get("%s/Recordings/%s" % (a.path, world["a_rec"]["sid"])).status_code == 200


def test_right_credentials_work(server, world):
    a = world["a"]
    status, _, body = server.raw("GET", a.path + "/Recordings.json",
                                 headers={"Authorization": basic(a.sid, a.auth_token)})
    assert status == 200
    assert [r["sid"] for r in json.loads(body)["recordings"]] == [world["a_rec"]["sid"]]


# --------------------------------------------------------------------------- isolation

def test_other_account_cannot_list(server, world):
    a, b = world["a"], world["b"]
    for res in ("Recordings.json", "Transcriptions.json", "Recordings",
                "Recordings/%s/Transcriptions.json" % world["a_rec"]["sid"],
                "Recordings/%s/AddOnResults.json" % world["a_rec"]["sid"],
                "Calls/%s/Recordings.json" % rand_sid("CA")):
        r = server.get("%s/%s" % (a.path, res), auth=b.auth)
        assert r.status_code == 401, (res, r.status_code)
        assert "alice says" not in r.text and world["a_rec"]["sid"] not in r.text


def test_other_account_cannot_read_or_delete(server, world):
    a, b = world["a"], world["b"]
    # B's credentials on A's path: 401 before any lookup, exactly as for sids that exist nowhere
    # (these resources need Basic auth, so the 401 reveals nothing)
    tr, rec, no_tr, no_rec = world["a_tr"], world["a_rec"]["sid"], rand_sid("TR"), rand_sid("RE")
    for tmpl, check in (("%s/Transcriptions/%s.json", assert_json_error),
                        ("%s/Transcriptions/%s.txt", assert_xml_error)):
        for sid in (tr, no_tr):
            r = server.get(tmpl % (a.path, sid), auth=b.auth)
            check(r, 401, 20003)
            assert r.headers.get("WWW-Authenticate") == WWW_AUTH
            assert "alice says" not in r.text
    for sub_rec, sid in ((rec, tr), (no_rec, no_tr)):
        r = server.get("%s/Recordings/%s/Transcriptions/%s.json" % (a.path, sub_rec, sid), auth=b.auth)
        assert_json_error(r, 401, 20003)
        assert "alice says" not in r.text
    for tmpl, sids in (("%s/Recordings/%s.json", (rec, no_rec)), ("%s/Transcriptions/%s.json", (tr, no_tr))):
        for sid in sids:
            r = server.request("DELETE", tmpl % (a.path, sid), auth=b.auth)
            assert_json_error(r, 401, 20003)
            assert r.headers.get("WWW-Authenticate") == WWW_AUTH
    # B's credentials on B's path naming A's objects: not found
    r = server.request("DELETE", "%s/Recordings/%s.json" % (b.path, world["a_rec"]["sid"]), auth=b.auth)
    assert r.status_code == 404
    r = server.get("%s/Transcriptions/%s.json" % (b.path, world["a_tr"]), auth=b.auth)
    assert r.status_code == 404
    # all still there
    assert server.get("%s/Recordings/%s" % (a.path, world["a_rec"]["sid"])).content == world["a_rec"]["_bytes"]
    assert server.get("%s/Transcriptions/%s.txt" % (a.path, world["a_tr"]), auth=a.auth).text == "alice says"


def test_recording_under_other_account_path_is_404(server, world):
    a, b = world["a"], world["b"]
    sid = world["a_rec"]["sid"]
    missing = rand_sid("RE")
    for ext in ("", ".wav", ".json", ".xml"):
        for auth in (None, b.auth):
            r = server.get("%s/Recordings/%s%s" % (b.path, sid, ext), auth=auth)
            assert r.status_code == 404, (ext, auth, r.status_code)
    # indistinguishable from a sid that exists nowhere (apart from the path in the message)
    p1 = "%s/Recordings/%s.json" % (b.path, sid)
    p2 = "%s/Recordings/%s.json" % (b.path, missing)
    e1 = assert_json_error(server.get(p1), 404, 20404)
    e2 = assert_json_error(server.get(p2), 404, 20404)
    assert e1["message"].replace(p1, "PATH") == e2["message"].replace(p2, "PATH")
    r1, r2 = server.get(p1), server.get(p2)
    assert set(r1.headers) - {"Date"} == set(r2.headers) - {"Date"}


def test_subaccount_access(server, world):
    a, child, child2, b = world["a"], world["child"], world["child2"], world["b"]
    # parent reads the child's lists
    body = server.get_json(child.path + "/Recordings.json", auth=a.auth)
    assert [r["sid"] for r in body["recordings"]] == [world["child_rec"]["sid"]]
    body = server.get_json(child.path + "/Transcriptions.json", auth=a.auth)
    assert [t["transcription_text"] for t in body["transcriptions"]] == ["child says"]
    r = server.get("%s/Transcriptions/%s.txt" % (child.path, world["child_tr"]), auth=a.auth)
    assert r.status_code == 200 and r.text == "child says"
    # the child cannot read the parent, a sibling or a stranger cannot read the child
    assert server.get(a.path + "/Recordings.json", auth=child.auth).status_code == 401
    assert server.get(a.path + "/Transcriptions.json", auth=child.auth).status_code == 401
    assert server.get(child.path + "/Recordings.json", auth=child2.auth).status_code == 401
    assert server.get(child.path + "/Recordings.json", auth=b.auth).status_code == 401
    # the child reads itself
    assert server.get(child.path + "/Recordings.json", auth=child.auth).status_code == 200


def test_parent_can_delete_child_recording(server, make_account, make_wav, import_wavs):
    parent = make_account()
    child = make_account(parent=parent.sid)
    rec = import_wavs(child, [make_wav(0.1)])[0]
    r = server.request("DELETE", "%s/Recordings/%s.json" % (child.path, rec["sid"]), auth=child.auth)
    assert r.status_code == 204
    rec = import_wavs(child, [make_wav(0.1)])[0]
    r = server.request("DELETE", "%s/Recordings/%s.json" % (child.path, rec["sid"]), auth=parent.auth)
    assert r.status_code == 204
    assert server.get("%s/Recordings/%s" % (child.path, rec["sid"])).status_code == 404
    # but the child cannot delete the parent's
    prec = import_wavs(parent, [make_wav(0.1)])[0]
    r = server.request("DELETE", "%s/Recordings/%s.json" % (parent.path, prec["sid"]), auth=child.auth)
    assert_json_error(r, 401, 20003)
    assert r.headers.get("WWW-Authenticate") == WWW_AUTH
    assert server.get("%s/Recordings/%s" % (parent.path, prec["sid"])).status_code == 200


def test_api_key(server, world):
    a, b, key = world["a"], world["b"], world["a_key"]
    auth = (key["sid"], key["secret"])
    body = server.get_json(a.path + "/Recordings.json", auth=auth)
    assert [r["sid"] for r in body["recordings"]] == [world["a_rec"]["sid"]]
    assert server.get("%s/Transcriptions/%s.txt" % (a.path, world["a_tr"]), auth=auth).text == "alice says"
    assert server.get(b.path + "/Recordings.json", auth=auth).status_code == 401
    assert server.get(a.path + "/Recordings.json", auth=(key["sid"], a.auth_token)).status_code == 401
    assert server.get(a.path + "/Recordings.json", auth=(a.sid, key["secret"])).status_code == 401
    assert server.get(a.path + "/Recordings.json", auth=(key["sid"], key["secret"][:-1])).status_code == 401
    assert server.get(a.path + "/Recordings.json", auth=(rand_sid("SK"), key["secret"])).status_code == 401


# --------------------------------------------------------------------------- public media

def test_recording_instance_get_is_public(server, world):
    a, rec = world["a"], world["a_rec"]
    base = "%s/Recordings/%s" % (a.path, rec["sid"])
    for ext, mt in (("", "audio/x-wav"), (".wav", "audio/x-wav"), (".json", "application/json"),
                    (".xml", "application/xml")):
        r = server.get(base + ext)
        assert r.status_code == 200, ext
        assert media_type(r) == mt
    assert server.get(base).content == rec["_bytes"]


def test_delete_needs_auth(server, world):
    a, rec = world["a"], world["a_rec"]
    path = "%s/Recordings/%s.json" % (a.path, rec["sid"])
    r = server.request("DELETE", path)
    assert_json_error(r, 401, 20003)
    assert r.headers.get("WWW-Authenticate") == WWW_AUTH
    r = server.request("DELETE", path, auth=(a.sid, "0" * 32))
    assert r.status_code == 401
    assert server.get(path).json()["status"] == "completed"
    assert server.get(path[:-5]).content == rec["_bytes"]


def test_media_auth_setting(server, make_account, make_wav, import_wavs):
    acct = make_account()
    rec = import_wavs(acct, [make_wav(0.1)])[0]
    base = "%s/Recordings/%s" % (acct.path, rec["sid"])
    server.cli.ok("account", "set", acct.sid, "--media-auth", "on")
    for ext in ("", ".wav", ".json", ".xml"):
        assert server.get(base + ext).status_code == 401, ext
        assert server.get(base + ext, auth=acct.auth).status_code == 200, ext
    assert server.get(base, auth=acct.auth).content == rec["_bytes"]
    server.cli.ok("account", "set", acct.sid, "--media-auth", "off")
    assert server.get(base).content == rec["_bytes"]


# --------------------------------------------------------------------------- malformed sids

def _malformed(sid):
    prefix, hexpart = sid[:2], sid[2:]
    return {
        "short": sid[:-1],
        "long": sid + "0",
        "uppercase hex": prefix + hexpart.upper(),
        "non hex": prefix + "g" + hexpart[1:],
        "lowercase prefix": prefix.lower() + hexpart,
        "wrong prefix": ("CA" if prefix != "CA" else "RE") + hexpart,
        "empty": "",
        "space": prefix + hexpart[:-1] + "%20",
        "encoded slash": prefix + hexpart[:-3] + "%2F",
    }


CASES = sorted(_malformed("RE" + "a" * 32))


@pytest.mark.parametrize("case", CASES)
def test_malformed_recording_sid_is_404(server, world, case):
    a, rec = world["a"], world["a_rec"]
    if case == "uppercase hex" and rec["sid"][2:] == rec["sid"][2:].upper():
        pytest.skip("sid has no letters")
    bad = _malformed(rec["sid"])[case]
    for ext in ("", ".json", ".wav"):
        status, _, body = server.raw("GET", "%s/Recordings/%s%s" % (a.path, bad, ext))
        assert status == 404, (case, ext, status)
    status, _, _ = server.raw("DELETE", "%s/Recordings/%s.json" % (a.path, bad),
                              headers={"Authorization": basic(a.sid, a.auth_token)})
    assert status == 404, (case, status)   # ".../Recordings/.json" (empty) is no resource at all
    assert server.get("%s/Recordings/%s" % (a.path, rec["sid"])).status_code == 200


@pytest.mark.parametrize("case", CASES)
def test_malformed_account_sid_is_404(server, world, case):
    a, rec = world["a"], world["a_rec"]
    bad = _malformed(a.sid)[case]
    status, _, _ = server.raw("GET", "/2010-04-01/Accounts/%s/Recordings/%s.json" % (bad, rec["sid"]))
    assert status == 404, (case, status)


@pytest.mark.parametrize("case", CASES)
def test_malformed_other_sids_are_404(server, world, case):
    a = world["a"]
    h = {"Authorization": basic(a.sid, a.auth_token)}
    for path in ("%s/Transcriptions/%s.json" % (a.path, _malformed(world["a_tr"])[case]),
                 "%s/Calls/%s/Recordings.json" % (a.path, _malformed(rand_sid("CA"))[case]),
                 "%s/Conferences/%s/Recordings.json" % (a.path, _malformed(rand_sid("CF"))[case]),
                 "%s/Recordings/%s/Transcriptions.json" % (a.path, _malformed(world["a_rec"]["sid"])[case])):
        status, _, _ = server.raw("GET", path, headers=h)
        assert status == 404, (case, path, status)


def test_wrong_prefix_of_real_sid(server, world):
    a = world["a"]
    h = {"Authorization": basic(a.sid, a.auth_token)}
    hexpart = world["a_tr"][2:]
    # a transcription sid in the recording slot, and the reverse
    assert server.raw("GET", "%s/Recordings/RE%s.json" % (a.path, hexpart))[0] == 404
    assert server.raw("GET", "%s/Transcriptions/TR%s.json" % (a.path, world["a_rec"]["sid"][2:]),
                      headers=h)[0] == 404
    assert server.raw("GET", "%s/Recordings/%s.json" % (a.path, world["a_tr"]))[0] == 404


# --------------------------------------------------------------------------- hostile requests

def test_overlong_url(server, world):
    """A request target over 8 KiB is 414 (code 20414) in the representation it asks for, whatever
    it names and however large the head; a head over 16 KiB with a short target is 431."""
    a = world["a"]
    lst = a.path + "/Recordings.json"
    # the limit is on the whole target, path and query: 8192 bytes pass, 8193 do not
    at_limit = "%s?Foo=%s" % (lst, "x" * (8192 - len(lst) - len("?Foo=")))
    assert len(at_limit) == 8192
    r = server.get(at_limit, auth=a.auth)
    assert r.status_code == 200, (r.status_code, r.text[:300])
    assert [x["sid"] for x in r.json()["recordings"]] == [world["a_rec"]["sid"]]
    assert_json_error(server.get(at_limit + "x", auth=a.auth), 414, 20414)
    # far over it (a 20,000-character query makes a head over 16 KiB too: still 414)
    long_query = "?Foo=" + "x" * 20000
    assert_json_error(server.get(lst + long_query, auth=a.auth), 414, 20414)
    assert_xml_error(server.get(a.path + "/Recordings" + long_query, auth=a.auth), 414, 20414)
    assert_json_error(server.get(lst + long_query), 414, 20414)
    assert_json_error(server.get("%s/Recordings/%s.json" % (a.path, "R" * 20000)), 414, 20414)
    # a short target in a head over 16 KiB
    r = server.get(a.path + "/Recordings", headers={"Authorization": "Basic " + "A" * 20000})
    assert_xml_error(r, 431, 20431)
    # still serving
    r = server.get("%s/Recordings/%s.json" % (a.path, world["a_rec"]["sid"]))
    assert r.status_code == 200 and r.json()["sid"] == world["a_rec"]["sid"]


@pytest.mark.parametrize("method", ["POST", "PUT"])
def test_post_put_with_body_change_nothing(server, make_account, make_wav, import_wavs, method):
    acct = make_account()
    rec = import_wavs(acct, [make_wav(0.2)], transcription_text="keep me")[0]
    inst = "%s/Recordings/%s.json" % (acct.path, rec["sid"])
    before = server.get_json(inst)
    before_list = server.get_json(acct.path + "/Recordings.json", auth=acct.auth)
    for path, data in ((inst, {"Status": "stopped", "Duration": "99"}),
                       (acct.path + "/Recordings.json", {"CallSid": rand_sid("CA")}),
                       (acct.path + "/Conferences/%s/Recordings.json" % rand_sid("CF"), {"Status": "paused"}),
                       (acct.path + "/Transcriptions.json", {"TranscriptionText": "evil"})):
        r = server.request(method, path, auth=acct.auth, data=data)
        assert_json_error(r, 405, 20004)
        assert r.headers.get("Allow")
    # a binary body too
    r = server.request(method, inst, auth=acct.auth, data=make_wav(0.1).read_bytes(),
                       headers={"Content-Type": "audio/x-wav"})
    assert_json_error(r, 405, 20004)
    after = server.get_json(inst)
    assert after == before
    assert server.get_json(acct.path + "/Recordings.json", auth=acct.auth) == before_list
    assert server.get(inst[:-5]).content == rec["_bytes"]
    t = server.get_json(acct.path + "/Transcriptions.json", auth=acct.auth)["transcriptions"]
    assert [x["transcription_text"] for x in t] == ["keep me"]


# --------------------------------------------------------------------------- access log

def test_access_log(server, make_account, make_wav, import_wavs):
    acct = make_account()
    rec, doomed = import_wavs(acct, [make_wav(0.1), make_wav(0.1)])
    key = server.cli.key_create(acct.sid)
    off = server.log_size()
    secrets = [acct.auth_token, key["secret"], basic(acct.sid, acct.auth_token).split()[1],
               basic(key["sid"], key["secret"]).split()[1], "f" * 32,
               basic(acct.sid, "f" * 32).split()[1]]
    assert server.get(acct.path + "/Recordings.json", auth=acct.auth).status_code == 200
    assert server.get(acct.path + "/Recordings.json", auth=(key["sid"], key["secret"])).status_code == 200
    assert server.get(acct.path + "/Recordings.json", auth=(acct.sid, "f" * 32)).status_code == 401
    missing = [rand_sid("RE") for _ in range(3)]
    for m in missing:
        assert server.get("%s/Recordings/%s.json" % (acct.path, m)).status_code == 404
    del_path = "%s/Recordings/%s.json" % (acct.path, doomed["sid"])
    assert server.request("DELETE", del_path, auth=acct.auth).status_code == 204
    assert server.request("HEAD", "%s/Recordings/%s" % (acct.path, rec["sid"])).status_code == 200

    head_path = "%s/Recordings/%s" % (acct.path, rec["sid"])

    def done(lines):
        return any(del_path in l for l in lines) and any(head_path in l for l in lines)
    lines = server.log_lines_since(off, done)
    text = "\n".join(lines)
    for s in secrets:
        assert s not in text, "secret material in the access log"
    assert acct.auth_token not in server.log_text()
    # the server may log other things on stderr too: access lines are those naming the path
    for m in missing:
        hits = [l for l in lines if "/Recordings/%s" % m in l]
        assert len(hits) == 1, (m, hits)
        assert "GET" in hits[0] and "404" in hits[0]
        assert "%s/Recordings/%s.json" % (acct.path, m) in hits[0]
    hits = [l for l in lines if del_path in l]
    assert len(hits) == 1 and "DELETE" in hits[0] and "204" in hits[0], hits
    hits = [l for l in lines if head_path in l]
    assert len(hits) == 1 and "HEAD" in hits[0] and "200" in hits[0]
    lists = [l for l in lines if acct.path + "/Recordings.json" in l]
    assert len(lists) == 3, lists
    assert sum(bool(re.search(r"\b401\b", l)) for l in lists) == 1, lists
    assert sum(bool(re.search(r"\b200\b", l)) for l in lists) >= 2, lists
    assert all("GET" in l for l in lists)
