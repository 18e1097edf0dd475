"""The webhook client (src/voice/webhook.c) against a real HTTP server, through the harness
build/test/voice/webhook_client (see its header for the line protocol).

The server here is the customer's web application: it records every request it gets and checks
X-Twilio-Signature with the official twilio library's RequestValidator, the way an application
would. It binds 127.0.0.1 on a free port and is stopped by the fixture that started it.
"""

import os
import ssl
import subprocess
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from twilio.request_validator import RequestValidator

REPO = Path(__file__).resolve().parents[2]
CLIENT_BIN = Path(os.environ.get("RECD_WEBHOOK_CLIENT",
                                 str(REPO / "build" / "test" / "voice" / "webhook_client")))
TOKEN = "0123456789abcdef0123456789abcdef"
TWIML = b'<?xml version="1.0" encoding="UTF-8"?><Response><Say>hello</Say></Response>'

pytestmark = pytest.mark.skipif(not CLIENT_BIN.exists(), reason="build/test/voice/webhook_client not built")

# Every wait below is a safety net against a hang, never a measurement.
DEADLINE = 30


# --------------------------------------------------------------------------- the application

class App:
    """What the web application saw, and knobs for how it answers."""

    def __init__(self, scheme="http"):
        self.scheme = scheme
        self.lock = threading.Lock()
        self.requests = []
        self.counts = {}
        self.release = threading.Event()  # ends /hang requests

    def record(self, req):
        with self.lock:
            self.requests.append(req)

    def seen(self, path_prefix):
        with self.lock:
            return [r for r in self.requests if r["path"].startswith(path_prefix)]

    def wait_seen(self, path_prefix, n):
        end = time.monotonic() + DEADLINE
        while time.monotonic() < end:
            got = self.seen(path_prefix)
            if len(got) >= n:
                return got
            time.sleep(0.02)
        raise AssertionError(f"{path_prefix}: {len(self.seen(path_prefix))} requests, wanted {n}")

    def hit(self, key):
        with self.lock:
            self.counts[key] = self.counts.get(key, 0) + 1
            return self.counts[key]


def make_handler(app):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def answer(self, status, body=b"", ctype="text/xml", headers=(), chunked=False):
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            for k, v in headers:
                self.send_header(k, v)
            if chunked:
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                for i in range(0, len(body), 1000):
                    part = body[i:i + 1000]
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
                self.wfile.write(b"0\r\n\r\n")
            else:
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        def handle_any(self):
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            url = f"{app.scheme}://127.0.0.1:{self.server.server_address[1]}{self.path}"
            params = dict(urllib.parse.parse_qsl(raw.decode(), keep_blank_values=True)) \
                if self.command == "POST" else {}
            sig = self.headers.get("X-Twilio-Signature")
            req = {
                "method": self.command, "url": url, "path": self.path, "raw": raw, "params": params,
                "headers": dict(self.headers), "signature": sig,
                "valid": sig is not None and RequestValidator(TOKEN).validate(url, params, sig),
            }
            app.record(req)
            u = urllib.parse.urlsplit(self.path)
            q = dict(urllib.parse.parse_qsl(u.query))
            p = u.path
            if p.startswith("/twiml"):
                self.answer(200, TWIML)
            elif p.startswith("/status/"):
                self.answer(int(p.split("/")[2]), b"<error/>", ctype="text/html")
            elif p == "/slow":
                time.sleep(float(q["s"]))
                self.answer(200, TWIML)
            elif p == "/big":
                n = int(q["n"])
                self.answer(200, b"x" * n, chunked="chunked" in q)
            elif p == "/bytes":
                self.answer(200, bytes(range(256)) * int(q["k"]), ctype="audio/wav")
            elif p == "/redirect":
                self.answer(int(q["code"]), headers=[("Location", q["to"])])
            elif p == "/loop":
                self.answer(302, headers=[("Location", "/loop")])
            elif p.startswith("/flaky/"):
                n = app.hit(p)
                self.answer(500 if n <= int(q["fail"]) else 200, TWIML)
            elif p == "/hang":
                app.release.wait(DEADLINE)
                self.answer(200, TWIML)
            else:
                self.answer(404)

        do_GET = handle_any
        do_POST = handle_any

    return Handler


def serve(app, tls_context=None):
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(app))
    server.daemon_threads = True
    if tls_context:
        server.socket = tls_context.wrap_socket(server.socket, server_side=True)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    return server


@pytest.fixture
def app():
    a = App()
    server = serve(a)
    a.base = f"http://127.0.0.1:{server.server_address[1]}"
    yield a
    a.release.set()
    server.shutdown()
    server.server_close()


# --------------------------------------------------------------------------- the harness

class Client:
    def __init__(self, *opts):
        self.p = subprocess.Popen([str(CLIENT_BIN), *map(str, opts)], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines = []
        self.cond = threading.Condition()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        self.expect(lambda l: l == "READY")

    def _read(self):
        for line in self.p.stdout:
            with self.cond:
                self.lines.append(line.rstrip("\n"))
                self.cond.notify_all()
        with self.cond:
            self.lines.append(None)
            self.cond.notify_all()

    def send(self, *fields):
        self.p.stdin.write("\t".join(map(str, fields)) + "\n")
        self.p.stdin.flush()

    def expect(self, pred):
        end = time.monotonic() + DEADLINE
        with self.cond:
            while True:
                for i, l in enumerate(self.lines):
                    if l is not None and pred(l):
                        return self.lines.pop(i)
                left = end - time.monotonic()
                assert left > 0 and None not in self.lines, f"no such line; have {self.lines}"
                self.cond.wait(left)

    def result(self, rid):
        line = self.expect(lambda l: l.startswith(f"RESULT {rid} "))
        fields = dict(f.split("=", 1) for f in line.split(" ")[2:])
        fields["body"] = bytes.fromhex(fields["body"])
        for k in ("status", "code", "fallback", "len"):
            fields[k] = int(fields[k])
        return fields

    def fetch(self, rid, url, method="POST", fallback="-", fallback_method="POST", token=TOKEN, **params):
        self.send("fetch", rid, method, url, fallback, fallback_method, token,
                  *(f"{enc(k)}={enc(v)}" for k, v in params.items()))

    def close(self):
        """Ends input (the client stops) and checks a clean exit: ASan reports leaks as an error."""
        self.p.stdin.close()
        rc = self.p.wait(DEADLINE)
        err = self.p.stderr.read()
        assert rc == 0, err
        return err


def enc(s):
    return urllib.parse.quote(s, safe="")


@pytest.fixture
def client_factory():
    made = []

    def make(*opts):
        c = Client(*opts)
        made.append(c)
        return c

    yield make
    for c in made:
        if c.p.poll() is None:
            c.p.kill()
            c.p.wait()


CALL = {"AccountSid": "AC" + "1" * 32, "CallSid": "CA" + "2" * 32, "From": "+1 (555) 010-0199",
        "To": "+15550100200", "CallStatus": "ringing", "Direction": "inbound",
        "ApiVersion": "2010-04-01", "Caller": "Zoë & Co = \"x\"", "Empty": ""}


# --------------------------------------------------------------------------- tests

def test_post_parameters_and_signature(app, client_factory):
    c = client_factory()
    c.fetch(1, app.base + "/twiml/voice?x=1&y=a%20b", **CALL)
    res = c.result(1)
    assert res["err"] == "OK" and res["status"] == 200 and res["code"] == 0
    assert res["body"] == TWIML and res["ct"] == "text/xml"
    assert res["url"] == app.base + "/twiml/voice?x=1&y=a%20b"
    [req] = app.seen("/twiml/voice")
    assert req["method"] == "POST"
    assert req["params"] == CALL
    assert req["headers"]["Content-Type"] == "application/x-www-form-urlencoded"
    assert "TwilioProxy" in req["headers"]["User-Agent"]
    assert len(req["headers"]["I-Twilio-Idempotency-Token"]) == 32
    assert req["valid"], req
    # The check can fail: another token, or a changed parameter, is refused.
    assert not RequestValidator("x" * 32).validate(req["url"], req["params"], req["signature"])
    assert not RequestValidator(TOKEN).validate(req["url"], {**req["params"], "To": "+1"}, req["signature"])
    c.close()


def test_get_signature_with_query(app, client_factory):
    c = client_factory()
    c.fetch(1, app.base + "/twiml/get?fixed=1#frag", method="GET", **CALL)
    res = c.result(1)
    assert res["err"] == "OK", res
    [req] = app.seen("/twiml/get")
    assert req["method"] == "GET" and req["raw"] == b""
    q = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(req["path"]).query, keep_blank_values=True))
    assert q == {"fixed": "1", **CALL}
    assert req["valid"], req
    assert "Content-Type" not in req["headers"]
    assert res["url"] == req["url"]
    c.close()


def test_unsigned_without_token(app, client_factory):
    c = client_factory()
    c.fetch(1, app.base + "/twiml/nosig", token="-", A="1")
    assert c.result(1)["err"] == "OK"
    [req] = app.seen("/twiml/nosig")
    assert req["signature"] is None and req["params"] == {"A": "1"}
    c.close()


def test_timeout_then_fallback(app, client_factory):
    c = client_factory("--timeout-ms", 300)
    c.fetch(1, app.base + "/slow?s=3")
    res = c.result(1)
    assert res["err"] == "UNAVAILABLE" and res["status"] == 0 and res["code"] == 11205
    c.fetch(2, app.base + "/slow?s=3", fallback=app.base + "/twiml/fb", **CALL)
    res = c.result(2)
    assert res["err"] == "OK" and res["fallback"] == 1 and res["url"] == app.base + "/twiml/fb"
    [fb] = app.seen("/twiml/fb")
    assert fb["valid"] and fb["params"] == CALL
    c.close()


def test_500_uses_fallback(app, client_factory):
    c = client_factory()
    c.fetch(1, app.base + "/status/500", fallback=app.base + "/twiml/fallback", fallback_method="GET", **CALL)
    res = c.result(1)
    assert res["err"] == "OK" and res["status"] == 200 and res["fallback"] == 1
    assert res["body"] == TWIML
    [primary] = app.seen("/status/500")
    [fallback] = app.seen("/twiml/fallback")
    assert primary["valid"] and primary["params"] == CALL
    assert fallback["method"] == "GET" and fallback["valid"]
    # Both requests of one webhook carry the same idempotency token.
    assert primary["headers"]["I-Twilio-Idempotency-Token"] == fallback["headers"]["I-Twilio-Idempotency-Token"]

    # Without a fallback, a 404 is the answer, body and all, with Twilio's 11200.
    c.fetch(2, app.base + "/status/404")
    res = c.result(2)
    assert res["err"] == "UNAVAILABLE" and res["status"] == 404 and res["code"] == 11200
    assert res["body"] == b"<error/>" and res["ct"] == "text/html"
    # A failing fallback reports the fallback's failure.
    c.fetch(3, app.base + "/status/500", fallback=app.base + "/status/503")
    res = c.result(3)
    assert res["status"] == 503 and res["fallback"] == 1
    c.close()


@pytest.mark.parametrize("chunked", [False, True])
def test_oversize_body(app, client_factory, chunked):
    c = client_factory("--max-body", 1000)
    extra = "&chunked=1" if chunked else ""
    c.fetch(1, app.base + "/big?n=1000" + extra)
    res = c.result(1)
    assert res["err"] == "OK" and res["len"] == 1000
    c.fetch(2, app.base + "/big?n=5000" + extra)
    res = c.result(2)
    assert res["err"] == "TOO_LARGE" and res["code"] == 11750 and res["len"] <= 1000
    c.close()


@pytest.mark.parametrize("code", [301, 302, 307])
def test_redirect_keeps_post(app, client_factory, code):
    c = client_factory()
    to = urllib.parse.quote(f"/twiml/moved{code}?k=v", safe="")
    c.fetch(1, f"{app.base}/redirect?code={code}&to={to}", **CALL)
    res = c.result(1)
    assert res["err"] == "OK" and res["url"] == f"{app.base}/twiml/moved{code}?k=v"
    [req] = app.seen(f"/twiml/moved{code}")
    assert req["method"] == "POST" and req["params"] == CALL
    assert req["valid"], "each hop is signed for its own URL"
    c.close()


def test_redirect_303_and_limits(app, client_factory):
    c = client_factory()
    c.fetch(1, f"{app.base}/redirect?code=303&to=%2Ftwiml%2Fsee", **CALL)
    res = c.result(1)
    assert res["err"] == "OK"
    [req] = app.seen("/twiml/see")
    assert req["method"] == "GET" and req["path"] == "/twiml/see" and req["valid"]

    c.fetch(2, app.base + "/loop")
    res = c.result(2)
    assert res["err"] == "UNAVAILABLE" and res["code"] == 11215 and res["status"] == 302
    assert len(app.seen("/loop")) == 11  # the first request and 10 redirects

    c.fetch(3, f"{app.base}/redirect?code=308&to=%2Ftwiml")
    assert c.result(3)["code"] == 11216
    c.fetch(4, f"{app.base}/redirect?code=302&to=ftp%3A%2F%2Fx%2F")
    assert c.result(4)["code"] == 11216
    c.close()


def test_notify_retried_until_success(app, client_factory):
    c = client_factory("--backoff-ms", 20)
    c.send("notify", 1, "POST", app.base + "/flaky/a?fail=2", TOKEN, "CallStatus=completed", "CallDuration=7")
    c.expect(lambda l: l == "QUEUED 1")
    reqs = app.wait_seen("/flaky/a", 3)
    assert all(r["valid"] and r["params"] == {"CallStatus": "completed", "CallDuration": "7"} for r in reqs)
    assert len({r["headers"]["I-Twilio-Idempotency-Token"] for r in reqs}) == 1
    # A 4xx is not retried; a notify that keeps failing gives up after the retries.
    c.send("notify", 2, "POST", app.base + "/status/404", TOKEN)
    c.send("notify", 3, "POST", app.base + "/flaky/b?fail=99", TOKEN)
    app.wait_seen("/flaky/b", 4)
    c.send("fetch", 9, "POST", app.base + "/twiml/after", "-", "POST", TOKEN)  # a marker behind them
    c.result(9)
    err = c.close()
    assert len(app.seen("/flaky/b")) == 4 and len(app.seen("/status/404")) == 1
    assert "status callback http://127.0.0.1" in err and "answered 200" in err
    assert "failed (11200): HTTP 500" in err
    assert "CallStatus" not in err, "logs leave the query and parameters out"


def test_media(app, client_factory):
    c = client_factory()
    c.send("media", 1, app.base + "/bytes?k=300", 0)
    res = c.result(1)
    assert res["err"] == "OK" and res["ct"] == "audio/wav" and res["body"] == bytes(range(256)) * 300
    [req] = app.seen("/bytes")
    assert req["method"] == "GET" and req["signature"] is None
    c.send("media", 2, app.base + "/bytes?k=300", 1000)
    res = c.result(2)
    assert res["err"] == "TOO_LARGE" and res["code"] == 11200
    c.close()


def test_connection_refused(client_factory):
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    c = client_factory()
    c.fetch(1, f"http://127.0.0.1:{port}/x")
    res = c.result(1)
    assert res["err"] == "UNAVAILABLE" and res["code"] == 11205 and res["status"] == 0
    c.close()


def test_stop_with_requests_in_flight(app, client_factory):
    c = client_factory("--max-inflight", 2)
    for i in range(5):
        c.fetch(i, app.base + "/hang", **CALL)
    c.send("notify", 9, "POST", app.base + "/hang", TOKEN)
    app.wait_seen("/hang", 2)  # two on the wire, four queued
    c.send("stop")
    for i in range(5):
        res = c.result(i)
        assert res["err"] == "UNAVAILABLE" and res["status"] == 0 and res["code"] == 0
    c.expect(lambda l: l == "STOPPED")
    err = c.close()
    assert "dropped" in err
    assert len(app.seen("/hang")) == 2


# --------------------------------------------------------------------------- TLS

def make_cert(tmp_path, name, san):
    key, crt = tmp_path / f"{name}.key", tmp_path / f"{name}.crt"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
                    "-out", str(crt), "-days", "2", "-subj", f"/CN={name}", "-addext",
                    f"subjectAltName={san}"], check=True, capture_output=True)
    return key, crt


@pytest.fixture
def tls_app(tmp_path):
    servers = []

    def make(san):
        key, crt = make_cert(tmp_path, f"cert{len(servers)}", san)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(str(crt), str(key))
        a = App(scheme="https")
        s = serve(a, ctx)
        servers.append((a, s))
        a.base = f"https://127.0.0.1:{s.server_address[1]}"
        return a, crt

    yield make
    for a, s in servers:
        a.release.set()
        s.shutdown()
        s.server_close()


def test_tls_verified(tls_app, client_factory):
    app, crt = tls_app("IP:127.0.0.1")
    # The system's CAs do not know this certificate: refused, Twilio's 11237.
    c = client_factory()
    c.fetch(1, app.base + "/twiml/tls", **CALL)
    res = c.result(1)
    assert res["err"] == "UNAVAILABLE" and res["code"] == 11237, res
    c.close()
    # Trusted, it works, and the https URL is signed.
    c = client_factory("--ca-file", crt)
    c.fetch(2, app.base + "/twiml/tls", **CALL)
    res = c.result(2)
    assert res["err"] == "OK", res
    [req] = app.seen("/twiml/tls")
    assert req["valid"] and req["url"].startswith("https://")
    c.close()


def test_tls_name_mismatch(tls_app, client_factory):
    app, crt = tls_app("DNS:elsewhere.example")
    c = client_factory("--ca-file", crt)
    c.fetch(1, app.base + "/twiml/tls")
    res = c.result(1)
    assert res["err"] == "UNAVAILABLE" and res["code"] == 11235, res
    c.close()
    assert app.seen("/") == []


def test_many_requests_through_a_small_window(app, client_factory):
    """60 requests through 4 slots: each answered once, with its own parameters and signature."""
    c = client_factory("--max-inflight", 4)
    for i in range(60):
        c.fetch(i, f"{app.base}/twiml/many/{i}", method="GET" if i % 2 else "POST", N=str(i))
    c.send("wait")
    c.expect(lambda l: l == "IDLE")
    for i in range(60):
        res = c.result(i)
        assert res["err"] == "OK" and res["url"].startswith(f"{app.base}/twiml/many/{i}")
    reqs = app.seen("/twiml/many/")
    assert len(reqs) == 60 and all(r["valid"] for r in reqs)
    for r in reqs:
        n = urllib.parse.urlsplit(r["path"]).path.rsplit("/", 1)[1]
        got = r["params"] if r["method"] == "POST" else dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(r["path"]).query))
        assert got == {"N": n}
    c.close()
