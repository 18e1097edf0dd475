"""Issue 11: recd's own HTTP/1.1 core (src/http on http_parser), over raw sockets.

- The two libmicrohttpd defects left open by issue 5 are gone: a malformed Content-Length gets
  exactly one 400 (libmicrohttpd wrote its 400 head twice), and a request head of any size gets
  an answer (libmicrohttpd dropped heads within ~180 bytes of its 32 KiB pool unanswered).
- Errors answered before the API runs (400, 413, 431, 505) are JSON for a `.json` target and
  XML otherwise (contract §3).
- Keep-alive, pipelining, HTTP/1.0, HEAD, 100-continue, and bounded form bodies.
- SIGTERM lets a response that is being sent finish, then the server exits 0.
"""

import json
import signal
import socket
import time

import pytest

from conftest import wav_bytes
from reliability_util import ExtServer, raw_try, read_response_head, sanitizer_lines


def req(method, target, headers=(), body=b"", version="HTTP/1.1", close=True):
    lines = ["%s %s %s" % (method, target, version), "Host: 127.0.0.1"] + list(headers)
    if close:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def read_all(sock, timeout=5.0):
    sock.settimeout(timeout)
    out = b""
    while True:
        try:
            b = sock.recv(65536)
        except (ConnectionResetError, socket.timeout):
            break
        if not b:
            break
        out += b
    return out


def read_response(sock):
    """One response (head, body) from a keep-alive connection, by its Content-Length."""
    head, rest = read_response_head(sock)
    assert rest is not None, head
    n = int([l for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")][0].split(b":")[1])
    while len(rest) < n:
        b = sock.recv(65536)
        assert b, "closed mid-body"
        rest += b
    assert len(rest) == n, "more bytes than Content-Length"
    return head, rest


def exchange(port, data, timeout=5.0):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(data)
        return read_all(s, timeout)
    finally:
        s.close()


def responses(raw, heads=()):
    """Splits a byte stream into (status, headers, body) triples using Content-Length; the
    responses numbered in `heads` answer HEAD requests and have no body."""
    out = []
    while raw:
        head, sep, rest = raw.partition(b"\r\n\r\n")
        assert sep, raw[:200]
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ")[1])
        headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        n = 0 if len(out) in heads else int(headers.get("content-length", "0"))
        out.append((status, headers, rest[:n]))
        raw = rest[n:]
    return out


@pytest.fixture(scope="module")
def core(tmp_path_factory, recd_bin):
    d = tmp_path_factory.mktemp("http-core")
    srv = ExtServer(d, tmp_path_factory.mktemp("http-core-log") / "server.log",
                    serve_args=["--auth-fail-limit", "0"])
    acct = srv.cli.account_create(name="http-core")
    wav = wav_bytes(2.0)
    f = d.parent / "http-core.wav"
    f.write_bytes(wav)
    rec = srv.cli.import_ok(acct.sid, [f])[0]["sid"]
    srv.start()
    yield {"srv": srv, "acct": acct, "rec": rec, "wav": wav,
           "inst": "%s/Recordings/%s" % (acct.path, rec)}
    srv.stop()
    assert not sanitizer_lines(srv.log_text())


def assert_error_body(status, headers, body, want_status, json_body):
    assert status == want_status, (status, body[:200])
    if json_body:
        assert headers["content-type"].startswith("application/json"), headers
        e = json.loads(body)
        assert e["status"] == want_status and e["more_info"].endswith(str(e["code"])), e
        assert set(e) == {"code", "message", "more_info", "status"}
    else:
        assert headers["content-type"].startswith("application/xml"), headers
        assert body.startswith(b"<?xml") and b"<Status>%d</Status>" % want_status in body, body[:200]


# --------------------------------------------------------------------------- issue 5's defects

@pytest.mark.parametrize("value", ["-1", "abc", "0, 5", "+5", "0x5", "5 0", "99999999999999999999999"])
def test_malformed_content_length_gets_one_400(core, value):
    for target, js in ((core["inst"] + ".json", True), (core["inst"], False)):
        raw = exchange(core["srv"].port, req("GET", target, ["Content-Length: " + value]) + b"hello")
        assert raw.count(b"HTTP/1.1 ") == 1, raw[:300]
        [(status, headers, body)] = responses(raw)
        assert_error_body(status, headers, body, 400, js)
        assert headers.get("connection") == "close"


def test_every_head_size_gets_an_answer(core):
    """Heads from just under the 16 KiB limit to well past libmicrohttpd's 32 KiB pool,
    including the band 32,449-32,630 bytes that used to get no answer at all."""
    port = core["srv"].port
    sizes = [16000, 16384, 16385, 20000, 32000] + list(range(32400, 32700, 23)) + [32768, 40000, 70000]
    base = req("GET", core["inst"] + ".json", close=True)
    for size in sizes:
        pad = size - len(base) - len("X-Pad: \r\n")
        data = base[:-2] + b"X-Pad: " + b"p" * pad + b"\r\n\r\n"
        assert len(data) == size
        res = raw_try(port, data, timeout=5)
        assert res["status"] is not None, "no answer to a %d-byte head" % size
        if size <= 16384:
            assert res["status"] == 200, (size, res["status"])
        else:
            assert res["status"] == 431, (size, res["status"])
            e = json.loads(res["body"])
            assert e["code"] == 20431


# --------------------------------------------------------------------------- error representations

def test_errors_before_the_api_follow_the_extension(core):
    port, inst = core["srv"].port, core["inst"]
    big = "X-Big: " + "a" * 20000
    cases = [
        (lambda t: req("GET", t, [big]), 431),
        (lambda t: req("POST", t, ["Content-Length: 2000000"]), 413),
        (lambda t: req("POST", t, ["Content-Type: application/x-www-form-urlencoded",
                                    "Content-Length: 70000"]), 413),
        (lambda t: req("GET", t, ["Content-Length: 1", "Transfer-Encoding: chunked"]), 400),
        (lambda t: req("GET", t, ["Transfer-Encoding: gzip"]), 400),
        (lambda t: req("GET", t, ["X-A : b"]), 400),
        (lambda t: req("GET", t, ["X-A: a", " folded"]), 400),
        (lambda t: req("GET", t, version="HTTP/2.0"), 505),
        (lambda t: req("GET", t, version="HTTP/9.9"), 505),
    ]
    for make, status in cases:
        for target, js in ((inst + ".json", True), (inst + ".json?x=1", True), (inst + ".xml", False),
                           (inst, False), ("/2008-08-01/x/RE1.json", True)):
            res = raw_try(port, make(target), timeout=5)
            assert res["status"] is not None, (target, status)
            assert_error_body(res["status"], res["headers"], res["body"], status, js)
            assert res["headers"].get("connection") == "close"
    # a NUL in the target: 400; the target cannot be trusted, so XML unless it ends in .json
    res = raw_try(port, b"GET /a\x00b.json HTTP/1.1\r\nHost: x\r\n\r\n", timeout=5)
    assert res["status"] == 400


def test_unknown_methods_are_405_with_allow(core):
    port, inst = core["srv"].port, core["inst"]
    for m in ("BREW", "get", "PATCH", "CONNECT", "X" * 300):
        res = raw_try(port, req(m, inst + ".json"), timeout=5)
        assert res["status"] == 405, (m, res["status"])
        assert "DELETE" in res["headers"]["allow"]
        assert json.loads(res["body"])["code"] == 20004


# --------------------------------------------------------------------------- connections

def test_pipelined_requests_are_answered_in_order(core):
    port, inst, acct = core["srv"].port, core["inst"], core["acct"]
    data = (req("GET", inst + ".json", close=False) + req("HEAD", inst, close=False) +
            req("GET", "/nope.json", close=False) +
            req("DELETE", inst + ".json", ["Content-Length: 5"], body=b"abcde", close=False) +
            req("GET", inst + ".xml", close=True))
    out = responses(exchange(port, data), heads={1})
    assert [o[0] for o in out] == [200, 200, 404, 401, 200]
    assert json.loads(out[0][2])["sid"] == core["rec"]
    assert out[1][1]["content-length"] == str(len(core["wav"])) and out[1][2] == b""
    assert b"<Sid>%s</Sid>" % core["rec"].encode() in out[4][2]
    assert out[4][1]["connection"] == "close"


def test_keep_alive_many_requests_one_connection(core):
    port, inst = core["srv"].port, core["inst"]
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        for i in range(200):
            s.sendall(req("GET", inst + (".json" if i % 2 else ""), close=False))
            head, rest = read_response(s)
            assert head.startswith(b"HTTP/1.1 200 "), head[:100]
            if i % 2 == 0:
                assert rest == core["wav"]
    finally:
        s.close()


def test_http10_closes_unless_asked_to_keep_alive(core):
    port, inst = core["srv"].port, core["inst"]
    raw = exchange(port, req("GET", inst + ".json", version="HTTP/1.0", close=False))
    [(status, headers, body)] = responses(raw)
    assert status == 200 and headers["connection"] == "close"
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        for _ in range(3):
            s.sendall(req("GET", inst + ".json", ["Connection: keep-alive"], version="HTTP/1.0", close=False))
            head, body = read_response(s)
            assert b"\r\nConnection: keep-alive" in head, head
            assert json.loads(body)["sid"] == core["rec"]
    finally:
        s.close()


def test_expect_100_continue(core):
    port, inst = core["srv"].port, core["inst"]
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        s.sendall(req("POST", inst + ".json", ["Content-Type: application/x-www-form-urlencoded",
                                               "Content-Length: 9", "Expect: 100-continue"]))
        s.settimeout(5)
        first = s.recv(65536)
        assert first.startswith(b"HTTP/1.1 100 Continue\r\n\r\n"), first
        s.sendall(b"Status=ok")
        rest = first[len(b"HTTP/1.1 100 Continue\r\n\r\n"):] + read_all(s)
        [(status, headers, body)] = responses(rest)
        assert status == 405 and json.loads(body)["code"] == 20004
    finally:
        s.close()


def test_form_bodies_are_read_and_bounded(core):
    """A form body up to 64 KiB is read (the connection stays usable after it); past it, 413."""
    port, inst = core["srv"].port, core["inst"]
    form = b"Status=" + b"a" * (64 * 1024 - 7)
    data = (req("POST", inst + ".json", ["Content-Type: application/x-www-form-urlencoded",
                                         "Content-Length: %d" % len(form)], body=form, close=False) +
            req("POST", inst + ".json", ["Content-Type: application/x-www-form-urlencoded",
                                         "Transfer-Encoding: chunked"], body=b"4\r\nA=bc\r\n0\r\n\r\n",
                close=False) +
            req("GET", inst + ".json"))
    out = responses(exchange(port, data))
    assert [o[0] for o in out] == [405, 405, 200]
    res = raw_try(port, req("POST", inst + ".json", ["Content-Type: application/x-www-form-urlencoded",
                                                     "Content-Length: %d" % (len(form) + 1)],
                            body=form + b"a"), timeout=5)
    assert res["status"] == 413 and json.loads(res["body"])["code"] == 20413


def test_sigterm_lets_a_response_in_flight_finish(tmp_path_factory, recd_bin):
    d = tmp_path_factory.mktemp("http-core-stop")
    srv = ExtServer(d, tmp_path_factory.mktemp("http-core-stop-log") / "server.log")
    acct = srv.cli.account_create(name="stop")
    wav = wav_bytes(120.0)  # ~1.9 MB: more than the socket buffers hold
    f = d.parent / "stop.wav"
    f.write_bytes(wav)
    rec = srv.cli.import_ok(acct.sid, [f])[0]["sid"]
    srv.start()
    try:
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connect: a small window
        s.settimeout(10)
        s.connect(("127.0.0.1", srv.port))
        s.sendall(req("GET", "%s/Recordings/%s" % (acct.path, rec)))
        head, rest = read_response_head(s)
        assert head.startswith(b"HTTP/1.1 200 ")
        srv.proc.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        body = rest + read_all(s, timeout=10)
        s.close()
        assert body == wav, "got %d of %d bytes" % (len(body), len(wav))
        assert srv.proc.wait(15) == 0
        # and it no longer listens
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", srv.port), timeout=1).close()
    finally:
        srv.stop()
    assert not sanitizer_lines(srv.log_text())
