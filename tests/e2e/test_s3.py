"""Media on S3 (contract section 9, issue 14): recd's S3 backend against the real test server
(scripts/s3-test-server.sh, which checks Signature V4) and against tests/e2e/s3fake.py where a
test must see or bend what recd sends: libcurl's signatures recomputed by botocore, ranges passed
through, 500s.  Two `recd serve` nodes on one PostgreSQL database and one bucket, kill -9 mid
import, and the faults: an unreachable bucket, 500s, wrong credentials, bad locations."""

import datetime
import hashlib
import os
import signal
import struct
import subprocess
import threading
import time
import unittest.mock
import uuid
from urllib.parse import urlsplit

import pytest
import requests

from conftest import (RECD_BIN, S3_BUCKET, S3_CREDS, Recd, Server, acct_path, assert_xml_error, pg_admin_url,
                      pg_sql, s3_endpoint, s3_location)
from s3fake import FakeS3
from test_import_cli import race_same_sid

botocore = pytest.importorskip("botocore")
import botocore.auth  # noqa: E402
import botocore.awsrequest  # noqa: E402
import botocore.credentials  # noqa: E402

SECRET = "fake-secret-" + uuid.uuid4().hex  # distinctive, so a leak would be found in any log
FAKE_CREDS = {"AWS_ACCESS_KEY_ID": "AKIDRECDTEST", "AWS_SECRET_ACCESS_KEY": SECRET}


def run(args, env, timeout=120):
    full = dict(os.environ)
    full.pop("RECD_MEDIA", None)
    full.update(env)
    return subprocess.run([str(RECD_BIN)] + [str(a) for a in args], capture_output=True, text=True,
                          timeout=timeout, env=full)


def ok(args, env, timeout=120):
    r = run(args, env, timeout)
    assert r.returncode == 0, (args, r.stdout, r.stderr)
    return r


def account(data, media, env, store=None):
    extra = ["--store", store] if store else []
    import json
    r = ok(["account", "create", "--data", data, "--media", media] + extra, env)
    j = json.loads(r.stdout)
    return j["sid"], (j["sid"], j["auth_token"])


def import_files(data, media, env, acc, files, store=None):
    import json
    extra = ["--store", store] if store else []
    r = ok(["import", "--account", acc, "--data", data, "--media", media] + extra + [str(f) for f in files], env)
    return [json.loads(l) for l in r.stdout.splitlines() if l.strip()]


def serve(tmp_path, data, media, env, store=None, name="node"):
    args = ["--media", media] + (["--store", store] if store else [])
    srv = Server(data, tmp_path / ("%s.log" % name), serve_args=args, env=env)
    srv.cli = _Cli(data, media, store, env)
    return srv.start()


def one_on_fake(tmp_path, fake, name, wav):
    """A data folder whose media is the fake bucket's location `name`, one account, `wav` imported
    and a server started: (data, media, acc, creds, rec, srv)."""
    data = tmp_path / "d"
    media = fake.location(name)
    acc, creds = account(data, media, FAKE_CREDS)
    rec = import_files(data, media, FAKE_CREDS, acc, [wav])[0]
    return data, media, acc, creds, rec, serve(tmp_path, data, media, FAKE_CREDS, name=name)


class _Cli(Recd):
    """The server's CLI with its media (and store) location."""

    def __init__(self, data, media, store, env):
        super().__init__(data)
        self._media, self._store, self._env = media, store, env

    def cmd(self, *args):
        return ([str(RECD_BIN)] + [str(a) for a in args] + ["--data", str(self.data), "--media", self._media]
                + (["--store", self._store] if self._store else []))

    def run(self, *args, timeout=60, env=None):
        full = dict(os.environ)
        full.update(self._env)
        full.update(env or {})
        return subprocess.run(self.cmd(*args), capture_output=True, text=True, timeout=timeout, env=full)


def big_wav(path, nbytes):
    """A silent 8 kHz mono WAV of about nbytes (sizes are the header's, so it is valid)."""
    data = nbytes - 44
    hdr = (b"RIFF" + struct.pack("<I", 36 + data) + b"WAVEfmt " + struct.pack("<IHHIIHH", 16, 1, 1, 8000, 16000, 2, 16)
           + b"data" + struct.pack("<I", data))
    with open(path, "wb") as f:
        f.write(hdr)
        f.truncate(nbytes)
    return path


@pytest.fixture(scope="module")
def fake():
    f = FakeS3()
    yield f
    f.close()


@pytest.fixture(scope="module")
def real_env():
    return dict(S3_CREDS)


# --------------------------------------------------------------------------- signatures


def botocore_authorization(method, path, headers, body, region, key_id, secret):
    """The Authorization botocore's S3 signer gives the same request, signing the headers that
    libcurl signed (its SignedHeaders list), at the same instant (its X-Amz-Date)."""
    auth = headers["Authorization"]
    signed = auth.split("SignedHeaders=")[1].split(",")[0].split(";")
    lower = {k.lower(): v for k, v in headers.items()}
    hdrs = {k: lower[k] for k in signed if k != "host"}
    req = botocore.awsrequest.AWSRequest(method=method, url="http://%s%s" % (lower["host"], path), data=body,
                                         headers=hdrs)
    when = datetime.datetime.strptime(lower["x-amz-date"], "%Y%m%dT%H%M%SZ")
    signer = botocore.auth.S3SigV4Auth(botocore.credentials.Credentials(key_id, secret), "s3", region)
    with unittest.mock.patch("botocore.auth.datetime") as dtm:
        dtm.datetime.utcnow.return_value = when
        signer.add_auth(req)
    return req.headers["Authorization"]


def test_signatures_match_botocore(tmp_path, fake, make_wav):
    """Every kind of request recd makes (PUT with Content-MD5, multipart upload: initiate, parts,
    complete; GET, ranged GET, HEAD, DELETE, both listings) carries the Authorization header that
    botocore's signer computes for the same request: same canonical request, same signature."""
    data = tmp_path / "d"
    media = fake.location("sig")
    acc, creds = account(data, media, FAKE_CREDS)
    small = make_wav(0.5)
    large = big_wav(tmp_path / "large.wav", 17 << 20)  # over the multipart size: two parts
    recs = import_files(data, media, FAKE_CREDS, acc, [small, large])
    srv = serve(tmp_path, data, media, FAKE_CREDS, name="sig")
    try:
        sid = recs[0]["sid"]
        r = srv.get(acct_path(acc) + "/Recordings/%s.wav" % sid, headers={"Range": "bytes=10-99"})
        assert r.status_code == 206 and r.content == small.read_bytes()[10:100]
        assert srv.get(acct_path(acc) + "/Recordings/%s.mp3" % sid).status_code == 200
        assert srv.request("DELETE", acct_path(acc) + "/Recordings/%s.json" % sid, auth=creds).status_code == 204
    finally:
        srv.stop()
    ok(["fsck", "--repair", "--data", data, "--media", media], FAKE_CREDS)
    seen = fake.taken()
    kinds = set()
    for method, path, headers, body in seen:
        q = urlsplit(path).query
        kind = method + ("?" + "&".join(sorted(p.split("=")[0] for p in q.split("&"))) if q else "")
        kind += " Range" if "Range" in headers else ""
        kinds.add(kind)
        assert headers["Authorization"] == botocore_authorization(method, path, headers, body, "eu-west-3",
                                                                  FAKE_CREDS["AWS_ACCESS_KEY_ID"], SECRET), path
        assert "AWS4-HMAC-SHA256 Credential=AKIDRECDTEST/" in headers["Authorization"]
        assert "/eu-west-3/s3/aws4_request" in headers["Authorization"]
    for want in ("PUT", "POST?uploads", "PUT?partNumber&uploadId", "POST?uploadId", "GET", "GET Range", "HEAD",
                 "DELETE", "GET?list-type&max-keys&prefix", "GET?max-uploads&prefix&uploads"):
        assert want in kinds, (want, sorted(kinds))
    # The secret signs; it is never sent nor logged.
    assert all(SECRET not in str(h) for _, _, h, _ in seen)
    assert SECRET not in (tmp_path / "sig.log").read_text()


def test_import_takes_the_digest_of_what_it_sends(tmp_path, fake, make_wav):
    """An import hashes each WAV as it sends it (one PUT, or a multipart upload's parts, each
    checked by the bucket against its own digests) instead of reading every stored object back;
    fsck, which hashes what the bucket holds, finds every row's digest right."""
    data = tmp_path / "d"
    media = fake.location("digest")
    acc, creds = account(data, media, FAKE_CREDS)
    fake.taken()
    import_files(data, media, FAKE_CREDS, acc, [make_wav(0.5), big_wav(tmp_path / "large.wav", 17 << 20)])
    methods = sorted({m for m, p, h, b in fake.taken()})
    assert methods == ["POST", "PUT"], methods  # nothing read back
    r = ok(["fsck", "--data", data, "--media", media], FAKE_CREDS)
    assert "2 recordings checked, 0 damaged" in r.stdout and r.stdout.rstrip().endswith("clean"), r.stdout


def test_range_is_passed_through(tmp_path, fake):
    """A Range request reads only that range from the bucket (one ranged GET: the WAV's size is on
    its row, so no HEAD), never the whole object; a 304 and a 416 read nothing."""
    wav = big_wav(tmp_path / "r.wav", 300000)
    data, media, acc, creds, rec, srv = one_on_fake(tmp_path, fake, "range", wav)
    try:
        fake.taken()
        path = acct_path(acc) + "/Recordings/%s.wav" % rec["sid"]
        r = srv.get(path, headers={"Range": "bytes=-1000"})
        assert r.status_code == 206 and r.headers["Content-Range"] == "bytes 299000-299999/300000"
        assert r.content == wav.read_bytes()[-1000:]
        got = [(m, h.get("Range")) for m, p, h, _ in fake.taken()]
        assert got == [("GET", "bytes=299000-299999")], got
        etag = r.headers["ETag"]
        r = srv.get(path, headers={"If-None-Match": etag})
        assert r.status_code == 304
        assert fake.taken() == []
        r = srv.get(path, headers={"Range": "bytes=400000-"})
        assert r.status_code == 416 and r.headers["Content-Range"] == "bytes */300000"
        assert fake.taken() == []
    finally:
        srv.stop()


def test_a_derived_file_is_asked_its_size_once(tmp_path, fake, make_wav):
    """A derived file's size is learnt once (when it is made, or from one HEAD) and kept: later
    Range requests on it are one ranged GET each and a 304 asks the bucket nothing, as for the WAV.
    A derived object removed under a node that knows its size is made again (206, not a 500); a
    deleted recording's derived file is 404."""
    data = tmp_path / "d"
    media = fake.location("sizes")
    acc, creds = account(data, media, FAKE_CREDS)
    rec = import_files(data, media, FAKE_CREDS, acc, [make_wav(1.0, channels=2)])[0]
    srv = serve(tmp_path, data, media, FAKE_CREDS, name="sizes")
    try:
        for ext, suffix in ((".mp3", ".mp3"), (".wav?RequestedChannels=1", ".mono.wav")):
            url = acct_path(acc) + "/Recordings/" + rec["sid"] + ext
            first = srv.get(url, headers={"Range": "bytes=0-99"})
            assert first.status_code == 206, (ext, first.status_code)
            size = int(first.headers["Content-Range"].split("/")[1])
            fake.taken()
            for _ in range(3):
                r = srv.get(url, headers={"Range": "bytes=100-199"})
                assert r.status_code == 206 and r.headers["Content-Range"] == "bytes 100-199/%d" % size
            got = [(m, h.get("Range")) for m, p, h, _ in fake.taken()]
            assert got == [("GET", "bytes=100-199")] * 3, got
            r = srv.get(url, headers={"If-None-Match": first.headers["ETag"]})
            assert r.status_code == 304 and fake.taken() == []
            key = "sizes/" + rec["sid"] + suffix
            whole = fake.objects.pop(key)
            r = srv.get(url, headers={"Range": "bytes=0-99"})
            assert r.status_code == 206 and r.content == whole[:100], (ext, r.status_code)
            assert fake.objects[key] == whole
        assert srv.request("DELETE", acct_path(acc) + "/Recordings/%s.json" % rec["sid"],
                           auth=creds).status_code == 204
        r = srv.get(acct_path(acc) + "/Recordings/%s.mp3" % rec["sid"], headers={"Range": "bytes=0-99"})
        assert r.status_code == 404
    finally:
        srv.stop()


def test_a_timed_out_request_is_retried_then_503(tmp_path, fake, make_wav):
    """S3 answers "400 RequestTimeout" when a request's body came too slowly (a loaded node): recd
    tries again, as after a 5xx, and when every attempt timed out answers 503 with Retry-After (it
    used to answer 500); the next request after the bucket mends is served."""
    wav = make_wav(1.0)
    data, media, acc, creds, rec, srv = one_on_fake(tmp_path, fake, "timeout", wav)
    base = acct_path(acc) + "/Recordings/" + rec["sid"]
    try:
        fake.fail_status, fake.fail_code, fake.fail_left = 400, "RequestTimeout", 2
        r = srv.get(base + ".wav", headers={"Range": "bytes=0-99"})
        assert r.status_code == 206 and r.content == wav.read_bytes()[:100], (r.status_code, r.text[:300])
        fake.fail_status = 400
        r = srv.get(base + ".mp3")
        assert_xml_error(r, 503, 20503)
        assert r.headers.get("Retry-After") == "1", r.headers
        fake.fail_status = None
        r = srv.get(base + ".mp3")
        assert r.status_code == 200 and r.content[:1] == b"\xff", r.status_code
    finally:
        fake.fail_status, fake.fail_code, fake.fail_left = None, "InternalError", None
        srv.stop()
    assert "RequestTimeout" in srv.log_text()


# The four representations of a two-channel recording: the stored WAV, its MP3, and the mono
# downmix as WAV and as MP3 (the last two derived, like the MP3, on first request).
VARIANT_PATHS = [".wav", ".mp3", ".wav?RequestedChannels=1", ".mp3?RequestedChannels=1"]


def ranges_of(size):
    """(Range header, first, last) of a few single ranges of a file of `size` bytes."""
    return [("bytes=0-0", 0, 0), ("bytes=1-2", 1, 2), ("bytes=%d-%d" % (size // 2, size // 2 + 99),
            size // 2, size // 2 + 99), ("bytes=-1", size - 1, size - 1)]


def test_a_wider_range_answer_is_cut_to_the_range_asked(tmp_path, fake, make_wav):
    """A bucket may answer a ranged GET with a range that holds the one asked (the test server
    answers "bytes=0-0" with the whole object): recd sends exactly the bytes asked, with a Range as
    the very first request of every representation (so the derived ones are made by it). It used to
    answer 500."""
    data = tmp_path / "d"
    media = fake.location("wider")
    acc, creds = account(data, media, FAKE_CREDS)
    recs = import_files(data, media, FAKE_CREDS, acc, [make_wav(1.0, channels=2), make_wav(1.0, channels=2)])
    srv = serve(tmp_path, data, media, FAKE_CREDS, name="wider")
    try:
        for rec, answer in zip(recs, ("wider", "whole")):
            base = acct_path(acc) + "/Recordings/" + rec["sid"]
            for ext in VARIANT_PATHS:
                fake.range_answer = answer
                got = {}
                for hdr, a, b in ranges_of(1000):
                    r = srv.get(base + ext, headers={"Range": hdr})
                    assert r.status_code == 206, (answer, ext, hdr, r.status_code, r.text[:300])
                    got[hdr] = r
                fake.range_answer = "exact"
                full = srv.get(base + ext)
                assert full.status_code == 200, (ext, full.status_code)
                size = len(full.content)
                for hdr, a, b in ranges_of(size):
                    r = got.get(hdr) or srv.get(base + ext, headers={"Range": hdr})
                    assert r.headers["Content-Range"] == "bytes %d-%d/%d" % (a, b, size), (answer, ext, hdr)
                    assert r.content == full.content[a:b + 1], (answer, ext, hdr)
                    assert r.headers["ETag"] == full.headers["ETag"]
    finally:
        fake.range_answer = "exact"
        srv.stop()


def test_a_range_answer_without_the_bytes_asked_is_503(tmp_path, fake, make_wav):
    """A ranged GET answered with bytes other than those asked is the bucket failing: 503 with
    Twilio's body and Retry-After, never a 500 and never the wrong bytes; the next request after
    the bucket mends is served, without a restart."""
    wav = make_wav(1.0, channels=2)
    data, media, acc, creds, rec, srv = one_on_fake(tmp_path, fake, "other", wav)
    try:
        base = acct_path(acc) + "/Recordings/" + rec["sid"]
        for ext in VARIANT_PATHS:
            fake.range_answer = "other"
            r = srv.get(base + ext, headers={"Range": "bytes=0-0"})
            assert_xml_error(r, 503, 20503)
            assert r.headers.get("Retry-After") == "1", r.headers
            fake.range_answer = "exact"
            r = srv.get(base + ext, headers={"Range": "bytes=0-0"})
            assert r.status_code == 206 and len(r.content) == 1, (ext, r.status_code)
        assert r.content == srv.get(base + ext).content[:1]
    finally:
        fake.range_answer = "exact"
        srv.stop()



def test_a_range_on_an_object_cut_short_is_planned_again(tmp_path, fake, make_wav):
    """A Range is planned from the WAV's row; an object cut short behind recd's back is found so
    by the ranged GET, which S3 answers with the bytes there are (206 "bytes off-(total-1)/total").
    That is planned again from the size the bucket holds, as on a filesystem: the short 206, or
    416 with the new size past the end. It used to be "another range": 503 on every retry."""
    data = tmp_path / "d"
    media = fake.location("cut")
    acc, creds = account(data, media, FAKE_CREDS)
    rec = import_files(data, media, FAKE_CREDS, acc, [make_wav(1.0)])[0]
    key = [k for k in fake.objects if k.endswith(rec["sid"] + ".wav")]
    assert len(key) == 1, list(fake.objects)
    full = fake.objects[key[0]]
    cut = len(full) // 2
    fake.objects[key[0]] = full[:cut]
    srv = serve(tmp_path, data, media, FAKE_CREDS, name="cut")
    try:
        url = acct_path(acc) + "/Recordings/" + rec["sid"] + ".wav"
        r = srv.get(url, headers={"Range": "bytes=%d-%d" % (cut - 10, cut + 10)})
        assert r.status_code == 206, (r.status_code, r.text[:300])
        assert r.headers["Content-Range"] == "bytes %d-%d/%d" % (cut - 10, cut - 1, cut)
        assert r.content == full[cut - 10:cut]
        r = srv.get(url, headers={"Range": "bytes=%d-%d" % (cut + 10, cut + 20)})
        assert r.status_code == 416, (r.status_code, r.text[:300])
        assert r.headers.get("Content-Range") == "bytes */%d" % cut
    finally:
        srv.stop()


# --------------------------------------------------------------------------- the real server


def test_import_serve_delete_fsck_on_s3(tmp_path, real_env, make_wav):
    """Against the S3 server that checks signatures: import, the WAV whole and in ranges, an MP3
    and a mono downmix made once and stored as objects, DELETE removing every object, and fsck
    finding orphan and missing objects."""
    data = tmp_path / "d"
    prefix = "e2e-" + uuid.uuid4().hex[:12]
    media = s3_location(prefix)
    acc, creds = account(data, media, real_env)
    stereo = make_wav(1.0, channels=2)
    mono = make_wav(0.6)
    recs = import_files(data, media, real_env, acc, [stereo, mono])
    srv = serve(tmp_path, data, media, real_env, name="real")
    s3 = Bucket(real_env)
    try:
        base = acct_path(acc) + "/Recordings/"
        sid = recs[0]["sid"]
        assert srv.get(base + sid + ".wav").content == stereo.read_bytes()
        r = srv.get(base + sid, headers={"Range": "bytes=44-1043"})
        assert r.status_code == 206 and r.content == stereo.read_bytes()[44:1044]
        mp3 = srv.get(base + sid + ".mp3")
        assert mp3.status_code == 200 and mp3.headers["Content-Type"] == "audio/mpeg"
        down = srv.get(base + sid + ".wav?RequestedChannels=1")
        assert down.status_code == 200
        keys = s3.keys(prefix)
        assert keys == {sid + ".wav", sid + ".mp3", sid + ".mono.wav", recs[1]["sid"] + ".wav"}, keys
        assert s3.get(prefix + "/" + sid + ".mp3") == mp3.content
        assert srv.request("DELETE", base + sid + ".json", auth=creds).status_code == 204
        assert srv.get(base + sid + ".wav").status_code == 404
        assert s3.keys(prefix) == {recs[1]["sid"] + ".wav"}
    finally:
        srv.stop()
    fsck = ["fsck", "--data", data, "--media", media]
    assert "clean" in ok(fsck, real_env).stdout
    orphan = "RE" + uuid.uuid4().hex + ".wav"
    s3.put(prefix + "/" + orphan, b"stray")
    r = ok(fsck, real_env)
    assert "orphan: media %s" % orphan in r.stdout and "clean" in r.stdout
    ok(fsck + ["--repair"], real_env)
    assert orphan not in s3.keys(prefix)
    s3.delete(prefix + "/" + recs[1]["sid"] + ".wav")
    r = run(fsck, real_env)
    assert r.returncode == 1 and "damaged: recording %s: media missing" % recs[1]["sid"] in r.stdout


class Bucket:
    """The test bucket seen by botocore (signed requests with the test server's credentials)."""

    def __init__(self, env):
        self.creds = botocore.credentials.Credentials(env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"])
        self.endpoint = s3_endpoint()

    def call(self, method, key="", query="", body=b""):
        url = "%s/%s%s%s" % (self.endpoint, S3_BUCKET, "/" + key if key else "", "?" + query if query else "")
        req = botocore.awsrequest.AWSRequest(method=method, url=url, data=body,
                                             headers={"x-amz-content-sha256": hashlib.sha256(body).hexdigest()})
        botocore.auth.S3SigV4Auth(self.creds, "s3", "us-east-1").add_auth(req)
        r = requests.request(method, url, headers=dict(req.headers.items()), data=body, timeout=30)
        assert r.status_code < 300, (method, key, r.status_code, r.text)
        return r

    def keys(self, prefix):
        import re
        body = self.call("GET", query="list-type=2&prefix=%s%%2F" % prefix).text
        return {k[len(prefix) + 1:] for k in re.findall(r"<Key>([^<]+)</Key>", body)}

    def get(self, key):
        return self.call("GET", key).content

    def put(self, key, body):
        self.call("PUT", key, body=body)

    def delete(self, key):
        self.call("DELETE", key)


def new_pg_store():
    """A store of its own: a fresh schema in the test cluster."""
    schema = "recd_s3_" + uuid.uuid4().hex[:12]
    pg_sql("CREATE SCHEMA %s" % schema)
    base = pg_admin_url()
    return "%s%soptions=-csearch_path%%3D%s" % (base, "&" if "?" in base else "?", schema)


def test_a_range_first_on_the_test_server(tmp_path, real_env, make_wav):
    """The e2e-scale failure (a 500 on "Range: bytes=0-0" of a mono downmix): the test server answers
    that range with the whole object. A Range as the first request of each representation, which
    makes the derived ones, gets exactly its bytes."""
    data = tmp_path / "d"
    media = s3_location()
    acc, creds = account(data, media, real_env)
    rec, rec2 = import_files(data, media, real_env, acc, [make_wav(1.0, channels=2), make_wav(1.0, channels=2)])
    srv = serve(tmp_path, data, media, real_env, name="first")
    try:
        base = acct_path(acc) + "/Recordings/" + rec["sid"]
        for ext in VARIANT_PATHS:
            r = srv.get(base + ext, headers={"Range": "bytes=0-0"})
            assert r.status_code == 206, (ext, r.status_code, r.text[:300])
            full = srv.get(base + ext).content
            assert r.headers["Content-Range"] == "bytes 0-0/%d" % len(full) and r.content == full[:1], ext
        # Several first requests at once, each a range of the mono MP3 (made from the mono WAV,
        # itself made on the way): one derivation, every answer exact.
        url = acct_path(acc) + "/Recordings/" + rec2["sid"] + ".mp3?RequestedChannels=1"
        hdrs = ["bytes=0-0", "bytes=0-99", "bytes=1-2", "bytes=100-1099", "bytes=-1", "bytes=0-0"]
        got = [None] * len(hdrs)

        def one(i):
            got[i] = srv.get(url, headers={"Range": hdrs[i]})

        ts = [threading.Thread(target=one, args=(i,)) for i in range(len(hdrs))]
        [t.start() for t in ts]
        [t.join() for t in ts]
        full = srv.get(url).content
        for hdr, r in zip(hdrs, got):
            assert r.status_code == 206, (hdr, r.status_code, r.text[:300])
            a, b = (len(full) - 1, len(full) - 1) if hdr == "bytes=-1" else map(int, hdr[6:].split("-"))
            assert r.headers["Content-Range"] == "bytes %d-%d/%d" % (a, b, len(full)) and r.content == full[a:b + 1]
    finally:
        srv.stop()
    assert srv.log_text().count("derived %s.mono.mp3" % rec2["sid"]) == 1


def test_concurrent_imports_of_one_sid_on_s3(tmp_path, real_env, make_wav):
    """Two `recd import --sid` of one sid at once, on the test server (which honours
    `If-None-Match: *`, tests/s3/s3rver.js): the WAV served is the winner's every time and fsck is
    clean (test_import_cli.race_same_sid). Twenty rounds of small WAVs (one PUT each), then two of
    WAVs over the multipart size (the condition is on the completion)."""
    data = tmp_path / "d"
    media = s3_location()
    account(data, media, real_env)
    srv = serve(tmp_path, data, media, real_env, name="race")
    try:
        race_same_sid(srv, make_wav, env=real_env)
        big = lambda i: [big_wav(tmp_path / ("a%d.wav" % i), 17 << 20), big_wav(tmp_path / ("b%d.wav" % i), (17 << 20) + 2)]
        race_same_sid(srv, make_wav, rounds=2, env=real_env, pair=big)
    finally:
        srv.stop()


def test_repair_on_one_node_waits_for_an_import_on_another(tmp_path, real_env, make_wav):
    """An import uploads its media before its rows commit, so to `fsck --repair` on another
    machine those objects look like orphans. The store's guard (a PostgreSQL advisory lock, taken
    shared by the import and exclusively by the repair) makes the repair wait: it deletes nothing
    the import will acknowledge."""
    store = new_pg_store()
    media = s3_location()
    prefix = media.split("?")[0][len("s3://%s/" % S3_BUCKET):]
    da, db = tmp_path / "a", tmp_path / "b"  # two data folders: no local lock in common
    acc, _ = account(da, media, real_env, store=store)
    files = [make_wav(0.3) for _ in range(30)]
    env = dict(os.environ)
    env.update(real_env)
    imp = subprocess.Popen([str(RECD_BIN), "import", "--account", acc, "--data", str(da), "--media", media,
                            "--store", store, "--batch", "30"] + [str(f) for f in files],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    bucket = Bucket(real_env)
    deadline = time.monotonic() + 60
    while not bucket.keys(prefix) and imp.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert imp.poll() is None, "the import ended before the repair could start"
    rep = ok(["fsck", "--repair", "--data", db, "--media", media, "--store", store], real_env)
    out, err = imp.communicate(timeout=120)
    assert imp.returncode == 0, err
    assert len(out.splitlines()) == len(files)
    assert " 0 damaged" in rep.stdout, rep.stdout
    r = ok(["fsck", "--data", db, "--media", media, "--store", store], real_env)
    assert "%d recordings checked, 0 damaged, 0 orphan media" % len(files) in r.stdout, r.stdout


def test_two_nodes_one_database_one_bucket(tmp_path, real_env, make_wav):
    """Two `recd serve` nodes on one PostgreSQL database and one bucket behave as one service:
    what is imported beside one is fetched, paged and deleted through the other; concurrent
    deletes of one recording on both nodes succeed once; concurrent first MP3 requests on both
    give the same bytes, which are the bucket's."""
    store = new_pg_store()
    media = s3_location()
    da, db = tmp_path / "a", tmp_path / "b"
    acc, creds = account(da, media, real_env, store=store)
    files = [make_wav(0.4) for _ in range(5)]
    recs = import_files(da, media, real_env, acc, files, store=store)
    a = serve(tmp_path, da, media, real_env, store=store, name="a")
    b = serve(tmp_path, db, media, real_env, store=store, name="b")
    try:
        path = acct_path(acc) + "/Recordings"
        # Fetched and paged through the other node.
        for rec, f in zip(recs, files):
            assert b.get("%s/%s.wav" % (path, rec["sid"])).content == f.read_bytes()
        page = b.get_json(path + ".json?PageSize=2", auth=creds)
        seen = [r["sid"] for r in page["recordings"]]
        while page["next_page_uri"]:
            page = b.get_json(page["next_page_uri"], auth=creds)
            seen += [r["sid"] for r in page["recordings"]]
        assert sorted(seen) == sorted(r["sid"] for r in recs)
        # First MP3 requests on both nodes at once.
        mp3s = {}

        def fetch(node, sid, name):
            mp3s[name] = node.get("%s/%s.mp3" % (path, sid))

        for rec in recs[:3]:
            ts = [threading.Thread(target=fetch, args=(n, rec["sid"], (rec["sid"], i))) for i, n in enumerate((a, b))]
            [t.start() for t in ts]
            [t.join() for t in ts]
            ra, rb = mp3s[(rec["sid"], 0)], mp3s[(rec["sid"], 1)]
            assert ra.status_code == rb.status_code == 200
            assert ra.content == rb.content and ra.content[0] == 0xFF and ra.content[1] & 0xE0 == 0xE0  # MPEG sync
            assert Bucket(real_env).get(media.split("?")[0][len("s3://%s/" % S3_BUCKET):] + "/%s.mp3"
                                        % rec["sid"]) == ra.content
        # Concurrent deletes of one recording: one 204, one 404; gone on both, its MP3 too, though
        # both nodes had learnt that MP3's size (a Range asks the bucket no HEAD after that).
        sid = recs[0]["sid"]
        for node in (a, b):
            r = node.get("%s/%s.mp3" % (path, sid), headers={"Range": "bytes=0-99"})
            assert r.status_code == 206 and r.content == mp3s[(sid, 0)].content[:100]
        codes = {}

        def delete(node, i):
            codes[i] = node.request("DELETE", "%s/%s.json" % (path, sid), auth=creds).status_code

        ts = [threading.Thread(target=delete, args=(n, i)) for i, n in enumerate((a, b))]
        [t.start() for t in ts]
        [t.join() for t in ts]
        assert sorted(codes.values()) == [204, 404], codes
        for node in (a, b):
            assert node.get("%s/%s.wav" % (path, sid)).status_code == 404
            assert node.get("%s/%s.json" % (path, sid)).status_code == 404
            assert node.get("%s/%s.mp3" % (path, sid), headers={"Range": "bytes=0-99"}).status_code == 404
    finally:
        a.stop()
        b.stop()
    assert "clean" in ok(["fsck", "--data", da, "--media", media, "--store", store], real_env).stdout


def test_kill_9_mid_import_leaves_nothing_half_written(tmp_path, real_env, make_wav):
    """A `recd import` killed with SIGKILL while it uploads leaves no recording without its media:
    fsck is clean (what was written before the commit is at most an orphan, which --repair
    removes), and every recording it printed is whole."""
    data = tmp_path / "d"
    media = s3_location()
    acc, _ = account(data, media, real_env)
    files = [make_wav(0.5) for _ in range(60)]
    env = dict(os.environ)
    env.update(real_env)
    p = subprocess.Popen([str(RECD_BIN), "import", "--account", acc, "--data", str(data), "--media", media,
                          "--batch", "8"] + [str(f) for f in files], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, env=env)
    # Kill it once its first batch has committed and printed, while later batches upload.
    first = p.stdout.readline()
    assert first, p.stderr.read()
    p.send_signal(signal.SIGKILL)
    out = first + p.stdout.read()
    p.wait()
    printed = [l for l in out.splitlines() if l.strip()]
    r = ok(["fsck", "--data", data, "--media", media], real_env)
    assert " 0 damaged" in r.stdout and "clean" in r.stdout, r.stdout
    ok(["fsck", "--repair", "--data", data, "--media", media], real_env)
    r = ok(["fsck", "--data", data, "--media", media], real_env)
    assert "0 orphan media, 0 leftovers" in r.stdout and "clean" in r.stdout, r.stdout
    # Every acknowledged (printed) recording is there, and the import did not finish.
    checked = int(r.stdout.split("fsck: ")[1].split(" recordings")[0])
    assert len(printed) <= checked < len(files), (r.stdout, len(printed))


# --------------------------------------------------------------------------- faults


def test_faults_give_clear_errors_and_lose_nothing(tmp_path, fake, make_wav):
    """500s from the bucket: the API answers 503 with Twilio's 20503, the CLI exits 1 with one
    line, nothing is half-stored; once the bucket recovers every acknowledged recording is served
    (no restart)."""
    wav = make_wav(0.4)
    data, media, acc, creds, rec, srv = one_on_fake(tmp_path, fake, "faults", wav)
    try:
        path = acct_path(acc) + "/Recordings/%s" % rec["sid"]
        fake.fail_status = 500
        r = srv.get(path + ".json?x=1")
        assert r.status_code == 200  # metadata does not need the bucket
        r = srv.get(path + ".wav")
        assert r.status_code == 503 and "<Code>20503</Code>" in r.text
        r = srv.request("DELETE", path + ".json", auth=creds)
        # The delete commits first (contract section 5); the object is left to fsck --repair.
        assert r.status_code == 204
        imp = run(["import", "--account", acc, "--data", data, "--media", media, wav], FAKE_CREDS)
        assert imp.returncode == 1 and len(imp.stderr.strip().splitlines()) == 1, imp.stderr
        assert "media store is unavailable" in imp.stderr and "500" in imp.stderr, imp.stderr
        fake.fail_status = None
        # Nothing of the failed import was stored; the delete's object goes with --repair.
        r = ok(["fsck", "--repair", "--data", data, "--media", media], FAKE_CREDS)
        assert " 0 damaged" in r.stdout, r.stdout
        rec2 = import_files(data, media, FAKE_CREDS, acc, [wav])[0]
        assert srv.get(acct_path(acc) + "/Recordings/%s.wav" % rec2["sid"]).content == wav.read_bytes()
    finally:
        fake.fail_status = None
        srv.stop()
    log = (tmp_path / "faults.log").read_text()
    assert "InternalError" in log and SECRET not in log


def test_unreachable_bucket_and_wrong_credentials(tmp_path, real_env, make_wav):
    """An endpoint that does not answer and credentials the bucket refuses: 503 (20503) over HTTP,
    exit 1 with one line naming the cause on the command line."""
    data = tmp_path / "d"
    media = s3_location()
    acc, creds = account(data, media, real_env)
    rec = import_files(data, media, real_env, acc, [make_wav(0.3)])[0]
    wrong = {"AWS_ACCESS_KEY_ID": "S3RVER", "AWS_SECRET_ACCESS_KEY": "not-the-secret"}
    r = run(["import", "--account", acc, "--data", data, "--media", media, make_wav(0.3)], wrong)
    assert r.returncode == 1 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "refused recd's credentials" in r.stderr and "SignatureDoesNotMatch" in r.stderr
    assert "not-the-secret" not in r.stderr
    srv = serve(tmp_path, data, media, wrong, name="wrong")
    try:
        r = srv.get(acct_path(acc) + "/Recordings/%s.wav" % rec["sid"])
        assert r.status_code == 503 and "<Code>20503</Code>" in r.text
    finally:
        srv.stop()
    assert "not-the-secret" not in (tmp_path / "wrong.log").read_text()
    port = free_closed_port()
    dead = s3_location(endpoint="http://127.0.0.1:%d" % port)
    r = run(["fsck", "--data", data, "--media", dead], real_env)
    assert r.returncode == 1 and "connect" in r.stderr.lower() and len(r.stderr.strip().splitlines()) == 1, r.stderr
    srv = serve(tmp_path, data, dead, real_env, name="dead")
    try:
        r = srv.get(acct_path(acc) + "/Recordings/%s.wav" % rec["sid"])
        assert r.status_code == 503
    finally:
        srv.stop()


def free_closed_port():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@pytest.mark.parametrize("location,why", [
    ("s3://", "bucket name"),
    ("s3://Upper_Case", "bucket name"),
    ("s3://bucket?endpoint=ftp://x", "endpoint"),
    ("s3://bucket?endpoint=http://h/path", "endpoint"),
    ("s3://bucket?region=EU", "region"),
    ("s3://bucket?colour=blue", "unknown option"),
    ("s3://bucket/../up", "key prefix"),
    ("gs://bucket", "want s3://"),
])
def test_bad_media_locations_exit_2_with_one_line(tmp_path, location, why):
    r = run(["fsck", "--data", tmp_path / "d", "--media", location], S3_CREDS)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and why in r.stderr, r.stderr
    assert not (tmp_path / "d").exists()


def test_credentials_from_file_or_environment_only(tmp_path):
    loc = "s3://bucket?endpoint=http://127.0.0.1:9"
    env = {"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": ""}
    r = run(["fsck", "--data", tmp_path / "d", "--media", loc], env)
    assert r.returncode == 2 and "no S3 credentials" in r.stderr, r.stderr
    f = tmp_path / "creds"
    f.write_text("[other]\naws_access_key_id = X\naws_secret_access_key = Y\n")
    r = run(["fsck", "--data", tmp_path / "d", "--media", loc, "--s3-credentials", f], env)
    assert r.returncode == 2 and "[default]" in r.stderr, r.stderr
    f.write_text("# recd\n[default]\naws_access_key_id = AKID\naws_secret_access_key = s3cr3t-value\n")
    r = run(["fsck", "--data", tmp_path / "d", "--media", loc, "--s3-credentials", f], env)
    # Past the credentials: the endpoint does not answer (exit 1), and the secret is never shown.
    assert r.returncode == 1 and "s3cr3t-value" not in r.stderr + r.stdout, r.stderr
    r = run(["fsck", "--data", tmp_path / "d", "--s3-credentials", f], env)
    assert r.returncode == 2 and "--s3-credentials needs --media" in r.stderr
