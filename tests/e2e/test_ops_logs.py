"""`recd serve --log-format json` (docs/operations.md): every line the server writes, its own
messages and the access log, is one JSON object a log shipper can take as it is, whatever bytes
the requests or the messages held.
"""

import json
import os
import socket
import subprocess

from conftest import Recd, Server


def raw(port, target):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(b"GET " + target + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    while s.recv(65536):
        pass
    s.close()


def test_json_lines(tmp_path):
    srv = Server(tmp_path / "data", tmp_path / "server.log", serve_args=["--log-format", "json"])
    acct = srv.cli.account_create(name="logs")
    srv.start()
    try:
        assert srv.get(acct.path + "/Recordings.json", auth=acct.auth).status_code == 200
        assert srv.get("/livez?token=secret").status_code == 200
        raw(srv.port, b'/odd/"quote"/back\\slash/%FF/\xff\xfe')
    finally:
        srv.stop()
    lines = srv.log_text().splitlines()
    objs = [json.loads(l) for l in lines]  # every line, or this fails
    for o in objs:
        assert o["time"].endswith("Z") and len(o["time"]) == 24 and o["level"] in ("info", "warning", "error"), o
    access = [o for o in objs if o.get("type") == "access"]
    msgs = [o["msg"] for o in objs if "msg" in o]
    assert any(m.startswith("listening on 127.0.0.1:%d" % srv.port) for m in msgs), msgs
    assert "stopping" in msgs
    by_path = {o["path"]: o for o in access}
    lst = by_path[acct.path + "/Recordings.json"]
    assert lst == dict(lst, method="GET", status=200, route="/2010-04-01/Accounts/{AccountSid}/Recordings.json",
                       remote="127.0.0.1", aborted=False), lst
    assert lst["bytes"] > 0 and lst["duration_us"] >= 0
    live = by_path["/livez"]  # never the query: signed links carry secrets there
    assert live["route"] == "/livez" and "secret" not in json.dumps(objs)
    odd = [o for o in access if o["path"].startswith("/odd/")]
    assert odd and odd[0]["path"] == "/odd/%22quote%22/back%5Cslash/%FF/%FF%FE", odd
    assert odd[0]["route"] is None and odd[0]["status"] == 404


def test_messages_with_any_bytes(tmp_path):
    """A message that quotes outside text (here a bad --base-url) stays one valid JSON line."""
    cli = Recd(tmp_path / "data")
    cli.account_create(name="logs")
    env = dict(os.environ, RECD_LOG_FORMAT="json")
    cmd = [os.fsencode(a) for a in cli.cmd("serve", "--base-url", "X")]
    cmd[cmd.index(b"X")] = b'ftp://\xff"x\\y'  # not UTF-8, a quote, a backslash
    r = subprocess.run(cmd, capture_output=True, env=env, timeout=60)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.decode("utf-8").splitlines()  # valid UTF-8, or this fails
    errors = [json.loads(l) for l in lines if '"error"' in l]
    assert errors and errors[0]["msg"] == '--base-url ftp://\ufffd"x\\y: want an http:// or https:// URL', lines
    r = subprocess.run(cli.cmd("serve", "--log-format", "xml"), capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "--log-format" in r.stderr, r.stderr
