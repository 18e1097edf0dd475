"""Shared fixtures and helpers for the recd end-to-end suite.

Run with Debian's interpreter (it has pytest, requests, twilio 7.7.1, jsonschema):

    /usr/bin/python3 -m pytest tests/e2e -q

The binary under test is $RECD_BIN, default <repo>/build/recd.  The suite talks to
it only through its public surfaces: the command line (contract section 6) and
HTTP (sections 1-4).
"""

import base64
import datetime as dt
import email.utils
import http.client
import io
import json
import math
import os
import re
import signal
import socket
import struct
import subprocess
import time
import urllib.parse
import uuid
import wave
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

REPO = Path(__file__).resolve().parents[2]
RECD_BIN = Path(os.environ.get("RECD_BIN", str(REPO / "build" / "recd")))
API = "/2010-04-01"

SID_RE = {p: re.compile(r"^%s[0-9a-f]{32}$" % p) for p in ("AC", "RE", "TR", "SK", "CA", "CF")}
RFC2822_RE = re.compile(
    r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) "
    r"\d{4} \d{2}:\d{2}:\d{2} \+0000$"
)

# Envelope keys every JSON list carries (contract section 2), without the array key.
ENVELOPE_KEYS = {"first_page_uri", "end", "previous_page_uri", "uri", "page_size", "start",
                 "next_page_uri", "page"}

# Children of <Recording> in the order contract section 1 gives them.
RECORDING_XML_ORDER = ["Sid", "AccountSid", "CallSid", "Duration", "DateCreated", "ApiVersion",
                       "DateUpdated", "Uri", "ConferenceSid", "StartTime", "Price", "PriceUnit",
                       "Status", "Channels", "Source", "ErrorCode", "MediaUrl", "SubresourceUris"]

RECORDING_KEYS = {"account_sid", "api_version", "call_sid", "channels", "conference_sid",
                  "date_created", "date_updated", "duration", "encryption_details", "error_code",
                  "media_url", "price", "price_unit", "sid", "source", "start_time", "status",
                  "subresource_uris", "uri"}
TRANSCRIPTION_KEYS = {"account_sid", "api_version", "date_created", "date_updated", "duration",
                      "price", "price_unit", "recording_sid", "sid", "status",
                      "transcription_text", "type", "uri"}
ERROR_KEYS = {"code", "message", "more_info", "status"}


# --------------------------------------------------------------------------- small helpers

def rand_sid(prefix):
    return prefix + uuid.uuid4().hex


def acct_path(account_sid):
    return "%s/Accounts/%s" % (API, account_sid)


def rfc2822(when):
    """RFC 2822 in GMT exactly as Twilio writes it: 'Mon, 06 Jul 2009 12:00:00 +0000'."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    return email.utils.format_datetime(when.astimezone(dt.timezone.utc))


def parse_rfc2822(text):
    assert RFC2822_RE.match(text), "not an RFC 2822 GMT date: %r" % text
    return email.utils.parsedate_to_datetime(text)


def media_type(resp):
    return resp.headers.get("Content-Type", "").split(";")[0].strip().lower()


def split_uri(uri):
    """'/a/b.json?X=1&Y%3C=2' -> ('/a/b.json', [('X','1'), ('Y<','2')]) (keys/values decoded)."""
    path, _, query = uri.partition("?")
    return path, urllib.parse.parse_qsl(query, keep_blank_values=True)


def query_dict(uri):
    return dict(split_uri(uri)[1])


def xml_root(body):
    if isinstance(body, str):
        body = body.encode("utf-8")
    assert body.startswith(b'<?xml version="1.0" encoding="UTF-8"?>'), body[:80]
    root = ET.fromstring(body)
    assert root.tag == "TwilioResponse", root.tag
    return root


def assert_json_error(resp, status, code=None):
    """A Twilio JSON error body (contract section 3)."""
    assert resp.status_code == status, (resp.status_code, resp.text[:500])
    assert media_type(resp) == "application/json", resp.headers.get("Content-Type")
    body = resp.json()
    assert set(body) == ERROR_KEYS, body
    assert body["status"] == status
    assert isinstance(body["code"], int)
    assert isinstance(body["message"], str) and body["message"]
    assert body["more_info"] == "https://www.twilio.com/docs/errors/%d" % body["code"]
    if code is not None:
        assert body["code"] == code, body
    return body


def assert_xml_error(resp, status, code=None):
    assert resp.status_code == status, (resp.status_code, resp.text[:500])
    assert media_type(resp) == "application/xml", resp.headers.get("Content-Type")
    root = xml_root(resp.content)
    exc = root.find("RestException")
    assert exc is not None, resp.text
    assert [c.tag for c in exc] == ["Code", "Message", "MoreInfo", "Status"], resp.text
    assert exc.findtext("Status") == str(status)
    c = int(exc.findtext("Code"))
    assert exc.findtext("MoreInfo") == "https://www.twilio.com/docs/errors/%d" % c
    assert exc.findtext("Message")
    if code is not None:
        assert c == code, resp.text
    return exc


# --------------------------------------------------------------------------- WAV generation

_wav_counter = [0]


def wav_bytes(seconds=1.0, rate=8000, channels=1, freq=None, unique=True):
    """16-bit PCM WAV: a sine tone.  Every call yields different bytes (unless unique=False),
    so that downloaded media can be matched to the file it came from."""
    _wav_counter[0] += 1
    n = int(round(seconds * rate))
    if freq is None:
        freq = 300.0 + (_wav_counter[0] * 37) % 900
    samples = [int(12000 * math.sin(2 * math.pi * freq * i / rate)) for i in range(n)]
    frames = io.BytesIO()
    for s in samples:
        frames.write(struct.pack("<h", s) * channels)
    data = bytearray(frames.getvalue())
    if unique and len(data) >= 16:
        data[0:16] = uuid.uuid4().bytes  # a unique 8-sample marker at the start
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(bytes(data))
    return buf.getvalue()


def noise_wav_bytes(rng, nbytes_audio, rate=16000, channels=2):
    """Fast random-noise 16-bit PCM WAV with about nbytes_audio bytes of audio."""
    frame = 2 * channels
    nbytes_audio -= nbytes_audio % frame
    data = rng.randbytes(nbytes_audio)
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(data)
    return buf.getvalue()


def riff_wav(fmt_tag, channels, rate, bits, data, data_size=None, extra_fmt=b""):
    """Hand-built RIFF/WAVE with any format tag (for non-PCM / lying headers)."""
    block_align = channels * bits // 8
    fmt = struct.pack("<HHIIHH", fmt_tag, channels, rate, rate * block_align, block_align, bits)
    fmt += extra_fmt
    if data_size is None:
        data_size = len(data)
    chunks = b"fmt " + struct.pack("<I", len(fmt)) + fmt
    if fmt_tag != 1:
        chunks += b"fact" + struct.pack("<II", 4, len(data) // max(block_align, 1))
    chunks += b"data" + struct.pack("<I", data_size) + data
    return b"RIFF" + struct.pack("<I", 4 + len(chunks)) + b"WAVE" + chunks


@pytest.fixture(scope="session")
def wav_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("wavs")


@pytest.fixture(scope="session")
def make_wav(wav_dir):
    """make_wav(seconds=1.0, rate=8000, channels=1) -> Path of a new, unique WAV file.
    make_wav(data=b'...') writes arbitrary bytes instead."""
    def make(seconds=1.0, rate=8000, channels=1, data=None, suffix=".wav"):
        p = wav_dir / ("%s%s" % (uuid.uuid4().hex, suffix))
        p.write_bytes(data if data is not None else wav_bytes(seconds, rate, channels))
        return p
    return make


# --------------------------------------------------------------------------- parallel runs

# `make test` runs the suite in pytest-xdist workers with --dist loadgroup (Makefile, E2E_JOBS).
# A test that uses a module-scoped fixture stays with the rest of its file on one worker, so the
# file's server and data are made once; any other test (its own server, its own folders) goes to
# whichever worker is free.  Tests marked `alone` (real-time streams that need the machine) are
# left out of the parallel run and run after it in one process (Makefile, E2E_RUN); run under
# xdist anyway, they share one group, so they never run at the same time.  FIRST are the longest tests (seconds of CPU, as measured for
# docs/testing.md): handed out first, they do not finish last, alone, after everything else.
FIRST = ["test_transcription.py::test_real_speech_wer", "test_bench_harness.py", "test_demo.py",
         "test_transcription.py", "test_crash_server.py", "test_crash_import.py"]


def pytest_configure(config):
    config.addinivalue_line("markers", "alone: never runs at the same time as another `alone` "
                            "test under pytest-xdist (timing-sensitive, or loads the machine)")


def _first_rank(item):
    name = item.nodeid.rsplit("/", 1)[-1]
    for i, prefix in enumerate(FIRST):
        if name.startswith(prefix):
            return i
    return len(FIRST)


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups
def pytest_collection_modifyitems(config, items):
    items.sort(key=_first_rank)  # stable: the rest keep their order
    for item in items:
        if item.get_closest_marker("xdist_group"):
            continue
        if item.get_closest_marker("alone"):
            item.add_marker(pytest.mark.xdist_group("alone"))
            continue
        defs = getattr(item, "_fixtureinfo", None)
        scopes = {d.scope for ds in (defs.name2fixturedefs.values() if defs else ()) for d in ds}
        if "module" in scopes:
            item.add_marker(pytest.mark.xdist_group(item.nodeid.split("::")[0]))


# --------------------------------------------------------------------------- the CLI

@dataclass
class Account:
    sid: str
    auth_token: str
    friendly_name: str

    @property
    def auth(self):
        return (self.sid, self.auth_token)

    @property
    def path(self):
        return acct_path(self.sid)


# --------------------------------------------------------------------------- the store under test

# RECD_TEST_STORE=postgres runs the whole suite with the metadata in PostgreSQL (contract section
# 9): every data folder gets its own schema in one throwaway cluster (scripts/pg-test-cluster.sh),
# and every recd command is given `--store URL`.  RECD_TEST_PG names a running cluster to use
# (`make test` starts one); without it the session starts its own and stops it at the end.
STORE = os.environ.get("RECD_TEST_STORE", "sqlite")
PG_CLUSTER = REPO / "scripts" / "pg-test-cluster.sh"
_pg = {"url": os.environ.get("RECD_TEST_PG"), "dir": None, "stores": {}, "own": False,
       "given_dir": os.environ.get("RECD_TEST_PG_DIR")}


def pg_admin_url():
    """The cluster's admin URL, starting a cluster for this session on first use."""
    if not _pg["url"]:
        d = Path("/tmp/recd-pg-e2e-%d-%s" % (os.getpid(), uuid.uuid4().hex[:8]))
        r = subprocess.run([str(PG_CLUSTER), "start", str(d)], capture_output=True, text=True,
                           timeout=120)
        assert r.returncode == 0, r.stderr
        _pg["url"], _pg["dir"], _pg["own"] = r.stdout.strip(), d, True
    return _pg["url"]


def pg_sql(sql):
    r = subprocess.run(["psql", pg_admin_url(), "-qAtc", sql], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, (sql, r.stderr)
    return r.stdout


def pg_cluster(action, d):
    """start | stop | pause | resume the cluster in folder d (scripts/pg-test-cluster.sh);
    returns what the script printed (start: the cluster's URL).  There is no way to name the
    suite's own cluster here: other pytest-xdist workers' tests run on it, and taking it down
    makes every store call of their servers answer 503 (a CI run once failed
    test_voicemail_record_finish_on_key that way, while test_readyz_follows_postgres paused the
    suite's cluster).  A test that takes its database down uses own_pg_cluster."""
    if d is None or (_pg["dir"] and Path(d) == Path(_pg["dir"])) or \
            (_pg["given_dir"] and Path(d) == Path(_pg["given_dir"])):
        pytest.fail("pg_cluster(%r) on the suite's own cluster: use own_pg_cluster" % action)
    r = subprocess.run([str(PG_CLUSTER), action, str(d)], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


@pytest.fixture
def own_pg_cluster():
    """A cluster of the test's own, stopped after it, for a test that takes its database down:
    the suite's cluster serves the tests that other pytest-xdist workers run meanwhile.  Yields
    (url, folder); use_store() gives a data folder a store on it.  The folder is not under
    pytest's (as root the cluster runs as `postgres`, which may not enter root's folders)."""
    d = Path("/tmp/recd-pg-own-%d-%s" % (os.getpid(), uuid.uuid4().hex[:8]))
    url = pg_cluster("start", d)
    yield url, d
    pg_cluster("stop", d)


def use_store(data, url):
    """Makes url the store of data folder `data` (instead of a schema on the suite's cluster)."""
    _pg["stores"][str(Path(data).resolve())] = url


def store_url(data):
    """The store of data folder `data`: None for SQLite (its own recd.db), else a PostgreSQL URL
    whose schema belongs to that folder alone."""
    if STORE != "postgres":
        return None
    key = str(Path(data).resolve())
    if key not in _pg["stores"]:
        schema = "recd_e2e_" + uuid.uuid4().hex[:16]
        pg_sql("CREATE SCHEMA %s" % schema)
        base = pg_admin_url()
        _pg["stores"][key] = "%s%soptions=-csearch_path%%3D%s" % (base, "&" if "?" in base else "?",
                                                                  schema)
    return _pg["stores"][key]


# RECD_TEST_MEDIA=s3 runs the suite with the media in an S3 bucket (contract section 9): the
# server of scripts/s3-test-server.sh (RECD_TEST_S3 names a running one's endpoint; without it the
# session starts its own), each data folder its own key prefix in the bucket recd-test, and every
# recd command is given `--media URL`, with the server's credentials in the environment.
MEDIA = os.environ.get("RECD_TEST_MEDIA", "files")
S3_SERVER = REPO / "scripts" / "s3-test-server.sh"
S3_BUCKET = "recd-test"
S3_CREDS = {"AWS_ACCESS_KEY_ID": "S3RVER", "AWS_SECRET_ACCESS_KEY": "S3RVER"}
_s3 = {"endpoint": os.environ.get("RECD_TEST_S3"), "dir": None, "own": False, "media": {},
       "given_dir": os.environ.get("RECD_TEST_S3_DIR")}


def s3_endpoint():
    """The test S3 server's endpoint, starting one for this session on first use."""
    if not _s3["endpoint"]:
        d = Path("/tmp/recd-s3-e2e-%d-%s" % (os.getpid(), uuid.uuid4().hex[:8]))
        r = subprocess.run([str(S3_SERVER), "start", str(d)], capture_output=True, text=True,
                           timeout=120)
        assert r.returncode == 0, r.stderr
        _s3["endpoint"], _s3["dir"], _s3["own"] = r.stdout.strip(), d, True
    return _s3["endpoint"]


def s3_server(action):
    """pause | resume the S3 server (the bucket unreachable, and back)."""
    s3_endpoint()
    d = _s3["dir"] or _s3["given_dir"]
    if d is None:
        pytest.skip("the S3 server of RECD_TEST_S3 is not ours to stop (set RECD_TEST_S3_DIR)")
    r = subprocess.run([str(S3_SERVER), action, str(d)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr


def s3_location(prefix=None, endpoint=None):
    """An s3:// media location in the test bucket, below `prefix` (a fresh one when None)."""
    prefix = prefix or "e2e-" + uuid.uuid4().hex[:16]
    return "s3://%s/%s?endpoint=%s&region=us-east-1" % (S3_BUCKET, prefix, endpoint or s3_endpoint())


def media_url(data):
    """The media location of data folder `data`: None for its own media/ folder, else a prefix
    of the test bucket that belongs to that folder alone."""
    if MEDIA != "s3":
        return None
    key = str(Path(data).resolve())
    if key not in _s3["media"]:
        _s3["media"][key] = s3_location()
    return _s3["media"][key]


if MEDIA == "s3":
    os.environ.update(S3_CREDS)

# A test that writes or inspects the data folder's media files itself runs only with the media there.
needs_local_media = pytest.mark.skipif(MEDIA == "s3", reason="looks at the data folder's media files")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Keeps each phase's report on the test item (item.rep_call), so that a fixture's teardown
    can tell a failed test and print what a server logged: a failure seen once in CI under load
    then says why, not only what."""
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


def failed(request):
    """Whether the test that `request` belongs to failed in its call phase."""
    rep = getattr(request.node, "rep_call", None)
    return rep is not None and rep.failed


def pytest_unconfigure(config):
    if _pg["own"]:
        subprocess.run([str(PG_CLUSTER), "stop", str(_pg["dir"])], capture_output=True, timeout=120)
    if _s3["own"]:
        subprocess.run([str(S3_SERVER), "stop", str(_s3["dir"])], capture_output=True, timeout=120)


class Recd:
    """Runs `recd <args> --data DIR` (and `--store URL`, `--media URL` when the suite runs against
    PostgreSQL, S3)."""

    def __init__(self, data):
        self.data = Path(data)

    @property
    def store(self):
        return store_url(self.data)

    @property
    def media(self):
        return media_url(self.data)

    def cmd(self, *args):
        store = ["--store", self.store] if self.store else []
        media = ["--media", self.media] if self.media else []
        return [str(RECD_BIN)] + [str(a) for a in args] + ["--data", str(self.data)] + store + media

    def run(self, *args, timeout=60, env=None):
        """env: extra environment variables for this one run (merged into os.environ)."""
        full_env = None
        if env:
            full_env = dict(os.environ)
            full_env.update(env)
        return subprocess.run(self.cmd(*args), capture_output=True, text=True, timeout=timeout,
                              env=full_env)

    def ok(self, *args, timeout=60, env=None):
        r = self.run(*args, timeout=timeout, env=env)
        assert r.returncode == 0, "recd %s -> %d\nstdout: %s\nstderr: %s" % (
            " ".join(map(str, args)), r.returncode, r.stdout, r.stderr)
        return r

    def account_create(self, name=None, parent=None):
        args = ["account", "create"]
        if name is not None:
            args += ["--name", name]
        if parent is not None:
            args += ["--parent", parent]
        out = self.ok(*args).stdout.strip().splitlines()
        assert len(out) == 1, out
        j = json.loads(out[0])
        assert SID_RE["AC"].match(j["sid"]), j
        assert re.match(r"^[0-9a-f]{32}$", j["auth_token"]), j
        return Account(j["sid"], j["auth_token"], j.get("friendly_name"))

    def key_create(self, account_sid, name=None):
        args = ["key", "create", "--account", account_sid]
        if name is not None:
            args += ["--name", name]
        out = self.ok(*args).stdout.strip().splitlines()
        assert len(out) == 1, out
        j = json.loads(out[0])
        assert SID_RE["SK"].match(j["sid"]), j
        assert j["secret"]
        return j

    @staticmethod
    def import_args(account_sid, files, call=None, conference=None, sid=None,
                    date_created=None, start_time=None, source=None, transcription_text=None):
        args = ["import", "--account", account_sid]
        for flag, val in (("--call", call), ("--conference", conference), ("--sid", sid),
                          ("--date-created", date_created), ("--start-time", start_time),
                          ("--source", source), ("--transcription-text", transcription_text)):
            if val is not None:
                args += [flag, val]
        return args + [str(f) for f in files]

    def media_auth(self, account_sid, on):
        self.ok("account", "set", account_sid, "--media-auth", "on" if on else "off")

    def sign(self, account_sid, recording_sid, ttl=None, fmt=None, base_url=None):
        """`recd sign`: returns the printed URL (one line).  base_url sets $RECD_BASE_URL."""
        args = ["sign", "--account", account_sid, "--recording", recording_sid]
        if ttl is not None:
            args += ["--ttl", ttl]
        if fmt is not None:
            args += ["--format", fmt]
        r = self.ok(*args, env={"RECD_BASE_URL": base_url} if base_url else None)
        lines = r.stdout.strip().splitlines()
        assert len(lines) == 1, r.stdout
        return lines[0]

    def import_run(self, account_sid, files, **opts):
        return self.run(*self.import_args(account_sid, files, **opts))

    def import_ok(self, account_sid, files, timeout=60, **opts):
        r = self.ok(*self.import_args(account_sid, files, **opts), timeout=timeout)
        lines = [l for l in r.stdout.splitlines() if l.strip()]
        assert len(lines) == len(files), "expected one JSON line per file: %r" % r.stdout
        recs = [json.loads(l) for l in lines]
        for rec in recs:
            assert SID_RE["RE"].match(rec["sid"]), rec
        return recs


# --------------------------------------------------------------------------- the server

def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Server:
    def __init__(self, data, log_path, base_url=None, auth_fail_limit=0, serve_args=(), env=None):
        # The suite sends many wrong credentials from one address on purpose, so its servers run
        # without the failed-auth limit unless a test asks for one.
        self.auth_fail_limit = auth_fail_limit
        self.serve_args = [str(a) for a in serve_args]
        self.env = env
        self.data = Path(data)
        self.data.mkdir(parents=True, exist_ok=True)
        self.cli = Recd(self.data)
        self.port = free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        self.base_url = base_url or self.url
        self.log_path = Path(log_path)
        self.session = requests.Session()
        self.proc = None
        self._log = None
        self.stopped = False

    def start(self, timeout=60):  # generous: a loaded machine has kept ASan recd from listening for over 10 s
        self.stopped = False
        args = ["serve", "--listen", "127.0.0.1:%d" % self.port] + self.serve_args
        if self.auth_fail_limit is not None:
            args += ["--auth-fail-limit", str(self.auth_fail_limit)]
        if self.base_url != self.url:
            args += ["--base-url", self.base_url]
        env = None
        if self.env is not None:
            env = dict(os.environ)
            env.update(self.env)
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.cli.cmd(*args), stdout=self._log, stderr=self._log,
                                     stdin=subprocess.DEVNULL, env=env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("recd serve exited with %s:\n%s" % (
                    self.proc.returncode, self.log_text()[-3000:]))
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self
            except OSError:
                time.sleep(0.02)
        self.stop()
        raise RuntimeError("recd serve did not accept connections within %d s:\n%s"
                           % (timeout, self.log_text()[-3000:]))

    def crashed(self):
        return self.proc is not None and not self.stopped and self.proc.poll() is not None

    def restart(self):
        """After a crash: start again on the same data folder (and port, if still free)."""
        if self._log:
            self._log.close()
            self._log = None
        self.proc = None
        try:
            return self.start()
        except RuntimeError:
            self.port = free_port()
            same = self.base_url == self.url
            self.url = "http://127.0.0.1:%d" % self.port
            if same:
                self.base_url = self.url
            return self.start()

    def stop(self):
        self.stopped = True
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                # A clean stop ends every call and joins every thread: on a loaded machine that
                # has been seen to take over 5 s under ASan.
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self._log:
            self._log.close()
            self._log = None
        self.session.close()

    def log_text(self):
        try:
            return self.log_path.read_bytes().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def log_size(self):
        try:
            return self.log_path.stat().st_size
        except FileNotFoundError:
            return 0

    def log_lines_since(self, offset, want=None, timeout=3.0):
        """Access-log lines written after byte offset.  If want(lines) is given, poll until it
        returns true (or timeout) to allow for the server's own buffering."""
        deadline = time.monotonic() + timeout
        while True:
            with open(self.log_path, "rb") as f:
                f.seek(offset)
                lines = f.read().decode("utf-8", "replace").splitlines()
            if want is None or want(lines) or time.monotonic() > deadline:
                return lines
            time.sleep(0.05)

    # HTTP -----------------------------------------------------------------
    def request(self, method, path, auth=None, **kw):
        kw.setdefault("timeout", 30)
        kw.setdefault("allow_redirects", False)
        url = path if path.startswith("http") else self.url + path
        return self.session.request(method, url, auth=auth, **kw)

    def get(self, path, auth=None, **kw):
        return self.request("GET", path, auth=auth, **kw)

    def get_json(self, path, auth=None, **kw):
        r = self.get(path, auth=auth, **kw)
        assert r.status_code == 200, (path, r.status_code, r.text[:500])
        assert media_type(r) == "application/json", (path, r.headers.get("Content-Type"))
        return r.json()

    def raw(self, method, target, headers=None, body=None, timeout=30):
        """Send a request line exactly as given (no client-side quoting).
        Returns (status, headers-dict-lowercase, body-bytes)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.putrequest(method, target, skip_accept_encoding=True)
            hdrs = dict(headers or {})
            if body is not None:
                hdrs.setdefault("Content-Length", str(len(body)))
            for k, v in hdrs.items():
                conn.putheader(k, v)
            conn.endheaders(body)
            resp = conn.getresponse()
            data = resp.read() if method != "HEAD" else b""
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data
        finally:
            conn.close()

    # convenience ------------------------------------------------------------
    def list_all(self, account, resource="Recordings", params=None, auth=None, key=None):
        """Every item of a JSON list, following next_page_uri."""
        key = key or resource.rsplit("/", 1)[-1].lower()
        auth = auth or account.auth
        p = {"PageSize": 1000}
        p.update(params or {})
        body = self.get_json("%s/%s.json" % (account.path, resource), auth=auth, params=p)
        items = list(body[key])
        while body["next_page_uri"]:
            body = self.get_json(body["next_page_uri"], auth=auth)
            items.extend(body[key])
        return items

    def list_sids(self, account, params=None, resource="Recordings"):
        return [r["sid"] for r in self.list_all(account, resource, params)]


def basic(user, password):
    return "Basic " + base64.b64encode(("%s:%s" % (user, password)).encode()).decode()


@pytest.fixture(scope="session")
def recd_bin():
    if not RECD_BIN.exists():
        pytest.fail("recd binary not found at %s (build it with `make`, or set RECD_BIN)"
                    % RECD_BIN, pytrace=False)
    return RECD_BIN


@pytest.fixture(scope="session")
def start_server(recd_bin, tmp_path_factory):
    """start_server(data_dir=None, base_url=None) -> started Server; stopped at session end."""
    started = []

    def start(data=None, base_url=None, bootstrap=True):
        d = Path(data) if data else tmp_path_factory.mktemp("recd-data")
        log = tmp_path_factory.mktemp("recd-log") / "server.log"
        srv = Server(d, log, base_url=base_url)
        if bootstrap:
            # make sure the store exists before the server opens it
            srv.cli.account_create(name="bootstrap")
        started.append(srv)
        return srv.start()

    start.started = started
    yield start
    for s in started:
        s.stop()



@pytest.fixture(autouse=True)
def _servers_survive(request):
    """A server that dies during a test fails that test (with its log tail) and is restarted,
    so that one crash does not turn every later test into a connection error."""
    yield
    if "start_server" not in request.fixturenames:
        return
    starter = request.getfixturevalue("start_server")
    dead = [s for s in starter.started if s.crashed()]
    for s in dead:
        rc = s.proc.returncode
        tail = s.log_text()[-2500:]
        s.restart()
        pytest.fail("recd serve died during this test (exit %s); log tail:\n%s" % (rc, tail),
                    pytrace=False)


@pytest.fixture(scope="session")
def server(start_server):
    """The shared server.  Tests share it but each uses its own account(s)."""
    return start_server()


@pytest.fixture(scope="session")
def cli(server):
    return server.cli


@pytest.fixture(scope="session")
def make_account(server):
    def make(name=None, parent=None):
        return server.cli.account_create(name=name or "acct-" + uuid.uuid4().hex[:8],
                                         parent=parent)
    return make


@pytest.fixture(scope="session")
def import_wavs(server, make_wav):
    """import_wavs(account, files_or_count, **opts) -> list of printed JSON dicts.
    Each dict gets an extra key '_file' (Path) and '_bytes' (the imported bytes)."""
    def imp(account, files=1, seconds=0.2, **opts):
        if isinstance(files, int):
            files = [make_wav(seconds) for _ in range(files)]
        sid = account.sid if isinstance(account, Account) else account
        recs = server.cli.import_ok(sid, files, **opts)
        for rec, f in zip(recs, files):
            rec["_file"] = Path(f)
            rec["_bytes"] = Path(f).read_bytes()
        return recs
    return imp


@pytest.fixture(scope="session")
def twilio_client(server):
    """twilio_client(username, password, account_sid=None) -> twilio.rest.Client at the server."""
    from twilio.rest import Client

    def make(username, password, account_sid=None):
        c = Client(username, password, account_sid, environment={})
        c.api.base_url = server.url  # Domain.absolute_url() is used for next_page_uri too
        return c
    return make


# --------------------------------------------------------------------------- media helpers (issue 3)

ACCESS_RE = re.compile(r"^access (\S+) (\S+) (\d{3}) (\d+) (\d+)us( aborted)?$")


def access_entries(lines):
    """Parsed access-log lines: dicts with method, path, status, bytes, aborted."""
    out = []
    for line in lines:
        m = ACCESS_RE.match(line.strip())
        if m:
            out.append({"method": m.group(1), "path": m.group(2), "status": int(m.group(3)),
                        "bytes": int(m.group(4)), "aborted": bool(m.group(6))})
    return out


def pcm16_wav(frames, rate=8000, channels=1):
    """A canonical 16-bit PCM WAV from a list of samples (mono) or of (L, R) tuples (stereo)."""
    if channels == 1:
        data = struct.pack("<%dh" % len(frames), *frames)
    else:
        flat = [s for fr in frames for s in fr]
        data = struct.pack("<%dh" % len(flat), *flat)
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(data)
    return buf.getvalue()


def raw_exchange(port, request, timeout=10):
    """Writes the request bytes on a new connection (which should say Connection: close) and
    reads until EOF.  Returns (status, headers-dict-lowercase, body-bytes) without interpreting
    Content-Length, so that a body where none belongs is seen."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(request)
        chunks = []
        while True:
            b = s.recv(65536)
            if not b:
                break
            chunks.append(b)
    finally:
        s.close()
    data = b"".join(chunks)
    head, sep, body = data.partition(b"\r\n\r\n")
    assert sep, "no end of headers in %r" % data[:300]
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for l in lines[1:]:
        k, _, v = l.partition(":")
        headers[k.strip().lower()] = v.strip()
    return status, headers, body

