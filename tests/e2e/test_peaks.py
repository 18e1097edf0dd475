"""Issue 16, contract section 10: recd's own endpoints under /recd/.

Waveform peaks (`…/Peaks.json`, `…/Peaks.dat`) in BBC audiowaveform's formats, checked against
the samples of WAVs made here (loud and silent stretches, a two-party recording), derived once
under concurrent first requests, kept, deleted with the recording and checked by fsck; signed
links (`…/Links`) that play with media auth on and expire.  The kill -9 test lives in
test_peaks_crash.py.
"""

import json
import math
import re
import struct
import threading
import time
import urllib.parse
from pathlib import Path

import pytest
import requests

from conftest import REPO, S3_CREDS, access_entries, assert_json_error, media_type, pcm16_wav
from test_calls_api import rows
from test_media import derived_lines, fsck_summary, sign_py

SPP_DEFAULT, SPP_MIN, SPP_MAX = 256, 32, 65536
MAX_TTL = 31 * 86400
JSON_KEYS = ["version", "channels", "sample_rate", "samples_per_pixel", "bits", "length", "data"]
RFC3339_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")


# --------------------------------------------------------------------------- expectations

def v8(v):
    """audiowaveform's 8-bit value of a 16-bit extreme: / 256, toward zero."""
    return int(v / 256)


def expected_peaks(frames, channels, spp):
    """The interleaved data array, computed by brute force: frames is a list of samples (mono)
    or of tuples (one per channel)."""
    if channels == 1:
        frames = [(s,) for s in frames]
    out = []
    for start in range(0, len(frames), spp):
        chunk = frames[start:start + spp]
        for c in range(channels):
            col = [f[c] for f in chunk]
            out += [v8(min(col)), v8(max(col))]
    return out


def parse_dat(body):
    """A .dat v2 file read at the documented offsets: (header dict, signed values)."""
    assert len(body) >= 24
    version, flags, rate, spp, length, channels = struct.unpack("<iIiiIi", body[:24])
    values = list(struct.unpack("<%db" % (len(body) - 24), body[24:]))
    return {"version": version, "flags": flags, "sample_rate": rate, "samples_per_pixel": spp,
            "length": length, "channels": channels}, values


def loud_then_silent(rate=8000, amp=16000, hz=440):
    """1 s of a sine at `amp`, then 1 s of silence, then 0.5 s of the sine again."""
    n = rate
    tone = [int(round(amp * math.sin(2 * math.pi * hz * i / rate))) for i in range(n)]
    return tone + [0] * n + tone[: n // 2]


def peaks_path(acct, sid, fmt="json", spp=None, acct_sid=None):
    p = "/recd/Accounts/%s/Recordings/%s/Peaks.%s" % (acct_sid or acct.sid, sid, fmt)
    return p + ("?SamplesPerPixel=%s" % spp if spp is not None else "")


def links_path(acct, sid):
    return "/recd/Accounts/%s/Recordings/%s/Links" % (acct.sid, sid)


def files_of(data, sid, part=""):
    return sorted(p.name for p in Path(data).rglob("*") if p.name.startswith(sid) and part in p.name)


def media_keys(srv, sid, part=""):
    """The media keys of recording `sid` that hold `part`, in the backend the server uses: the
    data folder's files, or the objects under its prefix of the test bucket."""
    if srv.cli.media is None:
        return files_of(srv.data, sid, part)
    from test_s3 import Bucket
    prefix = urllib.parse.urlsplit(srv.cli.media).path.strip("/")
    return sorted(k for k in Bucket(S3_CREDS).keys(prefix) if k.startswith(sid) and part in k)


def put_media(srv, key, body):
    """Overwrites media object `key` behind the server's back, in the backend it uses."""
    if srv.cli.media is None:
        (path,) = Path(srv.data).rglob(key)
        path.write_bytes(body)
        return
    from test_s3 import Bucket
    Bucket(S3_CREDS).put(urllib.parse.urlsplit(srv.cli.media).path.strip("/") + "/" + key, body)


# --------------------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def srv(start_server):
    """A server with a data folder of its own (fsck runs on it)."""
    return start_server()


@pytest.fixture(scope="module")
def env(srv, make_wav):
    acct = srv.cli.account_create(name="peaks")
    mono = loud_then_silent()
    left = [int(round(12000 * math.sin(2 * math.pi * 300 * i / 16000))) for i in range(16000)]
    right = [0] * 8000 + [int(round(-20000 * math.sin(2 * math.pi * 700 * i / 16000))) for i in range(8000)]
    stereo = list(zip(left, right))
    recs = srv.cli.import_ok(acct.sid, [make_wav(data=pcm16_wav(mono)),
                                        make_wav(data=pcm16_wav(stereo, rate=16000, channels=2))])
    return {"acct": acct, "mono": recs[0], "mono_pcm": mono, "stereo": recs[1], "stereo_pcm": stereo}


# --------------------------------------------------------------------------- the formats

def test_json_is_audiowaveform_v2(srv, env):
    acct, rec = env["acct"], env["mono"]
    r = srv.get(peaks_path(acct, rec["sid"]), auth=acct.auth)
    assert r.status_code == 200, r.text
    assert media_type(r) == "application/json"
    body = json.loads(r.content, object_pairs_hook=lambda kv: kv)
    assert [k for k, _ in body] == JSON_KEYS  # audiowaveform's order
    j = dict(body)
    n = len(env["mono_pcm"])
    assert j["version"] == 2 and j["channels"] == 1 and j["bits"] == 8
    assert j["sample_rate"] == 8000 and j["samples_per_pixel"] == SPP_DEFAULT
    assert j["length"] == math.ceil(n / SPP_DEFAULT)
    assert j["data"] == expected_peaks(env["mono_pcm"], 1, SPP_DEFAULT)
    # loud where the audio is loud, zero where it is silent: 16000 / 256 = 62.5
    per_s = 8000 / SPP_DEFAULT
    assert all(v == (-62, 62) for v in zip(j["data"][0:60:2], j["data"][1:60:2]))
    silent = j["data"][2 * math.ceil(per_s) + 2: 2 * int(2 * per_s) - 2]
    assert silent and set(silent) == {0}
    assert all(lo <= hi for lo, hi in zip(j["data"][0::2], j["data"][1::2]))


def test_dat_is_audiowaveform_v2_with_the_same_values(srv, env):
    acct, rec = env["acct"], env["mono"]
    for spp in (None, 1000, SPP_MIN, SPP_MAX):
        r = srv.get(peaks_path(acct, rec["sid"], "dat", spp), auth=acct.auth)
        assert r.status_code == 200, r.text
        assert media_type(r) == "application/octet-stream"
        h, values = parse_dat(r.content)
        want_spp = spp or SPP_DEFAULT
        n = len(env["mono_pcm"])
        assert h == {"version": 2, "flags": 1, "sample_rate": 8000, "samples_per_pixel": want_spp,
                     "length": math.ceil(n / want_spp), "channels": 1}
        assert values == expected_peaks(env["mono_pcm"], 1, want_spp)
        j = srv.get(peaks_path(acct, rec["sid"], "json", spp), auth=acct.auth).json()
        assert j["data"] == values and j["length"] == h["length"]


def test_two_channels_two_lanes(srv, env):
    acct, rec = env["acct"], env["stereo"]
    r = srv.get(peaks_path(acct, rec["sid"], "dat", 400), auth=acct.auth)
    h, values = parse_dat(r.content)
    assert h["channels"] == 2 and h["sample_rate"] == 16000 and h["length"] == 40
    assert values == expected_peaks(env["stereo_pcm"], 2, 400)
    lane0 = list(zip(values[0::4], values[1::4]))
    lane1 = list(zip(values[2::4], values[3::4]))
    assert all(p == (-46, 46) for p in lane0)           # 12000 / 256 = 46.9
    assert all(p == (0, 0) for p in lane1[:20])          # the second party is silent at first
    assert all(p == (-78, 78) for p in lane1[21:])       # then speaks: 20000 / 256 = 78.1


def test_samples_per_pixel_range(srv, env):
    acct, rec = env["acct"], env["mono"]
    for bad in ("31", "65537", "0", "-256", "+256", "256.0", "1e3", "abc", "", "99999999999999999999"):
        for fmt in ("json", "dat"):
            r = srv.get(peaks_path(acct, rec["sid"], fmt) + "?SamplesPerPixel=" + urllib.parse.quote(bad),
                        auth=acct.auth)
            body = assert_json_error(r, 400, 20001)
            assert "SamplesPerPixel" in body["message"] and "32 to 65536" in body["message"], body


# --------------------------------------------------------------------------- credentials

def test_basic_auth_always(srv, env, make_wav):
    acct, rec = env["acct"], env["mono"]
    path = peaks_path(acct, rec["sid"])
    r = srv.get(path)
    assert_json_error(r, 401, 20003)
    assert r.headers.get("WWW-Authenticate") == 'Basic realm="Twilio API"'
    assert_json_error(srv.get(path, auth=(acct.sid, "0" * 32)), 401, 20003)
    # a signed link's parameters are no credentials here
    assert_json_error(srv.get(path + "?Expires=1&KeySid=%s&Signature=%s" % (acct.sid, "A" * 43)), 401)
    # an API key of the account, and the parent of a subaccount, may read
    key = srv.cli.key_create(acct.sid)
    assert srv.get(path, auth=(key["sid"], key["secret"])).status_code == 200
    sub = srv.cli.account_create(name="sub", parent=acct.sid)
    sub_rec = srv.cli.import_ok(sub.sid, [make_wav(0.5)])[0]
    assert srv.get(peaks_path(sub, sub_rec["sid"]), auth=acct.auth).status_code == 200
    # another account's credentials: 401 on its path; its own path with our sid: 404, as for
    # a sid that does not exist
    other = srv.cli.account_create(name="other")
    assert_json_error(srv.get(path, auth=other.auth), 401, 20003)
    theirs = peaks_path(acct, rec["sid"], acct_sid=other.sid)
    assert_json_error(srv.get(theirs, auth=other.auth), 404, 20404)
    assert_json_error(srv.get(peaks_path(other, "RE" + "0" * 32), auth=other.auth), 404, 20404)
    # media auth on or off changes nothing here
    srv.cli.media_auth(acct.sid, True)
    try:
        assert srv.get(path, auth=acct.auth).status_code == 200
        assert_json_error(srv.get(path), 401)
    finally:
        srv.cli.media_auth(acct.sid, False)


def test_paths_methods_and_states(srv, env, make_wav):
    acct, rec = env["acct"], env["mono"]
    base = "/recd/Accounts/%s/Recordings/%s" % (acct.sid, rec["sid"])
    for p in (base + "/Peaks.xml", base + "/Peaks", base + "/peaks.json", base + "/Peaks.json/",
              base + "/Links/", base, "/recd/Accounts/%s/Recordings/RE123/Peaks.json" % acct.sid,
              "/recd/Accounts/%s/Recordings/%s/Peaks.json" % (acct.sid.upper(), rec["sid"]),
              "/recd/", "/recd/Accounts/%s/Calls/CA%s/Peaks.json" % (acct.sid, "0" * 32)):
        assert_json_error(srv.get(p, auth=acct.auth), 404, 20404)
    r = srv.request("POST", base + "/Peaks.json", auth=acct.auth)
    assert_json_error(r, 405, 20004)
    assert r.headers["Allow"] == "GET, HEAD, OPTIONS"
    for m in ("GET", "HEAD", "DELETE", "PUT"):
        r = srv.request(m, base + "/Links", auth=acct.auth)
        assert r.status_code == 405, (m, r.status_code)
        assert r.headers["Allow"] == "POST, OPTIONS"
    r = srv.request("OPTIONS", base + "/Peaks.dat")
    assert r.status_code == 204 and r.headers["Allow"] == "GET, HEAD, OPTIONS"
    # a recording still being made has no waveform yet; a deleted one has none any more
    live = rows(srv.data, "recording", account_sid=acct.sid)
    assert_json_error(srv.get(peaks_path(acct, live), auth=acct.auth), 404, 20404)
    gone = srv.cli.import_ok(acct.sid, [make_wav(0.3)])[0]
    assert srv.request("DELETE", "/2010-04-01/Accounts/%s/Recordings/%s.json" % (acct.sid, gone["sid"]),
                       auth=acct.auth).status_code == 204
    for fmt in ("json", "dat"):
        assert_json_error(srv.get(peaks_path(acct, gone["sid"], fmt), auth=acct.auth), 404, 20404)
    assert_json_error(srv.request("POST", links_path(acct, gone["sid"]), auth=acct.auth), 404, 20404)


# --------------------------------------------------------------------------- served like media

def test_validators_conditional_range_head(srv, env):
    acct, rec = env["acct"], env["mono"]
    tags = set()
    for fmt in ("json", "dat"):
        for spp in (None, 500):
            path = peaks_path(acct, rec["sid"], fmt, spp)
            full = srv.get(path, auth=acct.auth)
            etag = full.headers["ETag"]
            assert re.match(r'^"[0-9a-f]{32}-peaks\d+-(json|dat)"$', etag), etag
            tags.add(etag)
            assert full.headers["Accept-Ranges"] == "bytes"
            assert full.headers["Last-Modified"]
            assert int(full.headers["Content-Length"]) == len(full.content)
            r = srv.get(path, auth=acct.auth, headers={"If-None-Match": etag})
            assert r.status_code == 304 and r.content == b""
            r = srv.get(path, auth=acct.auth, headers={"If-Modified-Since": full.headers["Last-Modified"]})
            assert r.status_code == 304
            r = srv.get(path, auth=acct.auth, headers={"Range": "bytes=10-29"})
            assert r.status_code == 206 and r.content == full.content[10:30]
            assert r.headers["Content-Range"] == "bytes 10-29/%d" % len(full.content)
            r = srv.get(path, auth=acct.auth, headers={"Range": "bytes=%d-" % len(full.content)})
            assert_json_error(r, 416)
            h = srv.request("HEAD", path, auth=acct.auth)
            assert h.status_code == 200 and h.content == b""
            assert h.headers["ETag"] == etag and h.headers["Content-Length"] == str(len(full.content))
    assert len(tags) == 4, tags


# --------------------------------------------------------------------------- made once, kept, deleted

def test_concurrent_first_requests_make_it_once(srv, make_wav):
    """50 clients ask at once for a waveform nobody asked for before, in both formats: every
    answer is 200 with identical bytes per format, and the pass ran once for both."""
    acct = srv.cli.account_create(name="burst")
    rec = srv.cli.import_ok(acct.sid, [make_wav(20.0)])[0]
    off = srv.log_size()
    n = 50
    barrier = threading.Barrier(n)
    results = [None] * n

    def worker(i):
        fmt = "json" if i % 5 == 0 else "dat"
        try:
            barrier.wait(10)
            r = requests.get(srv.url + peaks_path(acct, rec["sid"], fmt, 300), auth=acct.auth, timeout=60)
            results[i] = (fmt, r.status_code, r.content)
        except Exception as exc:  # noqa: BLE001 - reported below
            results[i] = (fmt, "error", repr(exc))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(90)
    assert [r[1] for r in results] == [200] * n, [r[1:] for r in results if r[1] != 200][:3]
    for fmt in ("json", "dat"):
        bodies = {r[2] for r in results if r[0] == fmt}
        assert len(bodies) == 1, "%d different %s bodies" % (len(bodies), fmt)
    lines = srv.log_lines_since(off, want=lambda ls: len(access_entries(ls)) >= n)
    for suffix in (".peaks300.dat", ".peaks300.json"):
        found = derived_lines(lines, rec["sid"], suffix)
        assert len(found) == 1, (suffix, [m.group(0) for m in found])
    dat = next(r[2] for r in results if r[0] == "dat")
    assert int(derived_lines(lines, rec["sid"], ".peaks300.dat")[0].group(1)) == len(dat)
    # kept: asked again, nothing is derived
    off = srv.log_size()
    assert srv.get(peaks_path(acct, rec["sid"], "dat", 300), auth=acct.auth).content == dat
    time.sleep(0.2)
    assert not derived_lines(srv.log_lines_since(off), rec["sid"], ".peaks300.dat")


def test_delete_removes_every_waveform(srv, make_wav):
    acct = srv.cli.account_create(name="del")
    rec = srv.cli.import_ok(acct.sid, [make_wav(1.0)])[0]
    for spp in (None, 100, 4096):
        for fmt in ("json", "dat"):
            assert srv.get(peaks_path(acct, rec["sid"], fmt, spp), auth=acct.auth).status_code == 200
    assert srv.get("/2010-04-01/Accounts/%s/Recordings/%s.mp3" % (acct.sid, rec["sid"])).status_code == 200
    assert len(media_keys(srv, rec["sid"], ".peaks")) == 6, media_keys(srv, rec["sid"])
    rc, rep, out = fsck_summary(srv.cli)
    assert rc == 0 and rep["damaged"] == 0 and rep["orphans"] == 0 and "derived" not in out, out
    r = srv.request("DELETE", "/2010-04-01/Accounts/%s/Recordings/%s.json" % (acct.sid, rec["sid"]),
                    auth=acct.auth)
    assert r.status_code == 204
    assert media_keys(srv, rec["sid"]) == [], "left behind after DELETE"
    assert_json_error(srv.get(peaks_path(acct, rec["sid"]), auth=acct.auth), 404)
    rc, rep, out = fsck_summary(srv.cli)
    assert rc == 0 and rep["orphans"] == 0 and rep["state"] == "clean", out


def test_fsck_recomputes_kept_waveforms(srv, make_wav):
    """A kept waveform that no longer matches its recording is reported and, with --repair,
    removed; it is not acknowledged data, so fsck still exits 0, and the next request makes the
    same bytes again."""
    acct = srv.cli.account_create(name="fsck")
    rec = srv.cli.import_ok(acct.sid, [make_wav(1.0)])[0]
    good = srv.get(peaks_path(acct, rec["sid"], "dat", 64), auth=acct.auth).content
    jgood = srv.get(peaks_path(acct, rec["sid"], "json", 64), auth=acct.auth).content
    key = rec["sid"] + ".peaks64.dat"
    assert media_keys(srv, rec["sid"], ".peaks64.dat") == [key]
    bad = bytearray(good)
    bad[30] ^= 0x40
    put_media(srv, key, bytes(bad))
    r = srv.cli.run("fsck")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "damaged derived: media %s.peaks64.dat does not match its recording" % rec["sid"] in r.stdout, r.stdout
    assert rec["sid"] + ".peaks64.json" not in r.stdout
    r = srv.cli.run("fsck", "--repair")
    assert r.returncode == 0 and "(removed" in r.stdout, r.stdout
    assert media_keys(srv, rec["sid"], ".peaks64.dat") == []
    r = srv.cli.run("fsck")
    assert r.returncode == 0 and "derived" not in r.stdout, r.stdout
    assert srv.get(peaks_path(acct, rec["sid"], "dat", 64), auth=acct.auth).content == good
    assert srv.get(peaks_path(acct, rec["sid"], "json", 64), auth=acct.auth).content == jgood


# --------------------------------------------------------------------------- links

def post_link(srv, acct, sid, auth=None, **params):
    return srv.request("POST", links_path(acct, sid), auth=auth or acct.auth, data=params)


def check_link(srv, acct, r, ext, ttl, channels=None):
    """A 201 whose url is the documented signed link, expiring `ttl` s from now."""
    assert r.status_code == 201, r.text
    assert media_type(r) == "application/json"
    body = json.loads(r.content, object_pairs_hook=lambda kv: kv)
    assert [k for k, _ in body] == ["url", "expires_at"]
    body = dict(body)
    u = urllib.parse.urlsplit(body["url"])
    assert "%s://%s" % (u.scheme, u.netloc) == srv.base_url
    assert re.match(r"^/2010-04-01/Accounts/%s/Recordings/RE[0-9a-f]{32}\.%s$" % (acct.sid, ext), u.path)
    q = urllib.parse.parse_qs(u.query)
    assert set(q) == {"Expires", "KeySid", "Signature"} | ({"RequestedChannels"} if channels else set())
    expires = int(q["Expires"][0])
    assert abs(expires - (time.time() + ttl)) <= 5
    assert q["KeySid"] == [acct.sid]
    assert q["Signature"] == [sign_py(acct.auth_token, u.path, expires)]
    if channels:
        assert q["RequestedChannels"] == [str(channels)]
    assert RFC3339_RE.match(body["expires_at"])
    assert time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(expires)) == body["expires_at"]
    return body["url"][len(srv.base_url):], expires


def test_links_play_with_media_auth_on(srv, env):
    acct, mono, stereo = env["acct"], env["mono"], env["stereo"]
    srv.cli.media_auth(acct.sid, True)
    try:
        media = "/2010-04-01/Accounts/%s/Recordings/%s" % (acct.sid, mono["sid"])
        assert srv.get(media + ".wav").status_code == 401
        link, _ = check_link(srv, acct, post_link(srv, acct, mono["sid"]), "wav", 3600)
        r = srv.get(link)
        assert r.status_code == 200 and media_type(r) == "audio/x-wav"
        assert r.content == srv.get(media + ".wav", auth=acct.auth).content
        # an <audio> element seeks with Range
        r = srv.get(link, headers={"Range": "bytes=1000-1999"})
        assert r.status_code == 206 and len(r.content) == 1000
        link, _ = check_link(srv, acct, post_link(srv, acct, mono["sid"], Format="mp3", Ttl="60"), "mp3", 60)
        r = srv.get(link)
        assert r.status_code == 200 and media_type(r) == "audio/mpeg"
        assert r.content == srv.get(media + ".mp3", auth=acct.auth).content
        # the two-party recording as one mono lane, and as recorded
        smedia = "/2010-04-01/Accounts/%s/Recordings/%s" % (acct.sid, stereo["sid"])
        link, _ = check_link(srv, acct, post_link(srv, acct, stereo["sid"], RequestedChannels="1"), "wav",
                             3600, channels=1)
        assert srv.get(link).content == srv.get(smedia + ".wav?RequestedChannels=1", auth=acct.auth).content
        link, _ = check_link(srv, acct, post_link(srv, acct, stereo["sid"], Format="mp3", RequestedChannels="2"),
                             "mp3", 3600, channels=2)
        assert srv.get(link).content == srv.get(smedia + ".mp3", auth=acct.auth).content
        # a tampered link is refused
        assert srv.get(link.replace("Expires=", "Expires=1")).status_code == 401
        # the longest life allowed, given in the query string instead of the body
        r = srv.request("POST", links_path(acct, mono["sid"]) + "?Ttl=%d" % MAX_TTL, auth=acct.auth)
        link, _ = check_link(srv, acct, r, "wav", MAX_TTL)
        assert srv.get(link).status_code == 200
    finally:
        srv.cli.media_auth(acct.sid, False)


def test_links_expire(srv, env):
    acct, rec = env["acct"], env["mono"]
    link, expires = check_link(srv, acct, post_link(srv, acct, rec["sid"], Ttl="1"), "wav", 1)
    # valid through the second `expires`, refused after it: wait (polling the clock) until then
    deadline = time.monotonic() + 10
    while time.time() < expires + 1.05 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert srv.get(link).status_code == 401


def test_links_same_as_recd_sign(srv, env):
    """POST …/Links and `recd sign` make the same link (one maker): same path, signer and
    signature scheme; the command's link plays too."""
    acct, rec = env["acct"], env["mono"]
    cli_url = srv.cli.sign(acct.sid, rec["sid"], ttl=600, fmt="mp3", base_url=srv.base_url)
    api_url = post_link(srv, acct, rec["sid"], Format="mp3", Ttl="600").json()["url"]
    cu, au = urllib.parse.urlsplit(cli_url), urllib.parse.urlsplit(api_url)
    assert (cu.scheme, cu.netloc, cu.path) == (au.scheme, au.netloc, au.path)
    cq, aq = urllib.parse.parse_qs(cu.query), urllib.parse.parse_qs(au.query)
    assert cq["KeySid"] == aq["KeySid"] == [acct.sid]
    assert abs(int(cq["Expires"][0]) - int(aq["Expires"][0])) <= 5
    for q in (cq, aq):
        assert q["Signature"] == [sign_py(acct.auth_token, cu.path, int(q["Expires"][0]))]
    assert srv.get(cli_url[len(srv.base_url):]).status_code == 200


def test_link_errors(srv, env):
    acct, mono, stereo = env["acct"], env["mono"], env["stereo"]
    for params in ({"Format": "ogg"}, {"Format": ""}, {"Ttl": "0"}, {"Ttl": str(MAX_TTL + 1)},
                   {"Ttl": "-5"}, {"Ttl": "1.5"}, {"Ttl": "abc"}, {"RequestedChannels": "3"},
                   {"RequestedChannels": "mono"}):
        body = assert_json_error(post_link(srv, acct, stereo["sid"], **params), 400, 20001)
        assert list(params)[0] in body["message"], body
    assert_json_error(post_link(srv, acct, mono["sid"], RequestedChannels="2"), 400, 16113)
    assert_json_error(post_link(srv, acct, mono["sid"], auth=(acct.sid, "f" * 32)), 401, 20003)
    other = srv.cli.account_create(name="other-links")
    assert_json_error(post_link(srv, acct, mono["sid"], auth=other.auth), 401, 20003)
    r = srv.request("POST", links_path(acct, mono["sid"]), auth=acct.auth, data="Ttl=%zz",
                    headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert_json_error(r, 400, 20001)
