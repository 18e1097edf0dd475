"""`recd number add|list|remove` (contract sections 6 and 7): the numbers that answer SIP calls."""

import json
import re

import pytest

from conftest import RFC2822_RE, Recd

NUMBER_KEYS = {"account_sid", "api_version", "date_created", "date_updated", "friendly_name", "phone_number",
               "sid", "status_callback", "status_callback_method", "voice_fallback_method",
               "voice_fallback_url", "voice_method", "voice_url"}


@pytest.fixture
def cli(tmp_path):
    return Recd(tmp_path / "data")


def add(cli, *args):
    r = cli.ok("number", "add", *args)
    lines = r.stdout.strip().splitlines()
    assert len(lines) == 1 and r.stderr == "", (r.stdout, r.stderr)
    return json.loads(lines[0])


def listed(cli, *args):
    r = cli.ok("number", "list", *args)
    return [json.loads(l) for l in r.stdout.splitlines()]


def test_add_prints_the_number(cli):
    acct = cli.account_create()
    n = add(cli, "--account", acct.sid, "--number", "+15005550006", "--voice-url",
            "https://app.example/voice?a=1&b=%20")
    assert set(n) == NUMBER_KEYS
    assert re.match(r"^PN[0-9a-f]{32}$", n["sid"]), n["sid"]
    assert (n["account_sid"], n["phone_number"], n["friendly_name"]) == (acct.sid, "+15005550006", "+15005550006")
    assert (n["voice_url"], n["voice_method"]) == ("https://app.example/voice?a=1&b=%20", "POST")
    assert (n["voice_fallback_url"], n["voice_fallback_method"]) == (None, "POST")
    assert (n["status_callback"], n["status_callback_method"]) == (None, "POST")
    assert RFC2822_RE.match(n["date_created"]) and n["date_created"] == n["date_updated"]
    assert n["api_version"] == "2010-04-01"
    assert listed(cli) == [n]


def test_add_every_option(cli):
    acct = cli.account_create()
    n = add(cli, "--account", acct.sid, "--number", "alice", "--voice-url", "http://127.0.0.1:9/twiml",
            "--voice-method", "get", "--voice-fallback-url", "https://user:pw@fallback.example/x",
            "--voice-fallback-method", "GET", "--status-callback", "https://cb.example/status",
            "--status-callback-method=POST", "--name", "Front desk ☎")
    assert (n["phone_number"], n["friendly_name"]) == ("alice", "Front desk ☎")
    assert (n["voice_url"], n["voice_method"]) == ("http://127.0.0.1:9/twiml", "GET")
    assert (n["voice_fallback_url"], n["voice_fallback_method"]) == ("https://user:pw@fallback.example/x", "GET")
    assert (n["status_callback"], n["status_callback_method"]) == ("https://cb.example/status", "POST")


def test_list_and_remove(cli):
    a, b = cli.account_create(), cli.account_create()
    na = [add(cli, "--account", a.sid, "--number", "+1555000%d" % i, "--voice-url", "https://x.example/")
          for i in range(3)]
    nb = add(cli, "--account", b.sid, "--number", "+15559999", "--voice-url", "https://y.example/")
    assert [n["sid"] for n in listed(cli, "--account", a.sid)] == sorted(n["sid"] for n in na)
    assert [n["sid"] for n in listed(cli, "--account", b.sid)] == [nb["sid"]]
    assert sorted(n["sid"] for n in listed(cli)) == sorted([n["sid"] for n in na] + [nb["sid"]])
    r = cli.ok("number", "remove", na[1]["sid"])
    assert r.stdout == "" and r.stderr == ""
    assert [n["sid"] for n in listed(cli, "--account", a.sid)] == sorted([na[0]["sid"], na[2]["sid"]])
    # once only
    r = cli.run("number", "remove", na[1]["sid"])
    assert r.returncode == 2 and r.stderr.strip().count("\n") == 0 and na[1]["sid"] in r.stderr
    # its number is free again
    add(cli, "--account", b.sid, "--number", "+15550001", "--voice-url", "https://z.example/")
    # an account with none lists nothing
    c = cli.account_create()
    assert listed(cli, "--account", c.sid) == []


def test_a_number_is_taken_once(cli):
    a, b = cli.account_create(), cli.account_create()
    add(cli, "--account", a.sid, "--number", "+15005550006", "--voice-url", "https://x.example/")
    for acct in (a, b):
        r = cli.run("number", "add", "--account", acct.sid, "--number", "+15005550006", "--voice-url",
                    "https://other.example/")
        assert r.returncode == 2, r
        assert r.stdout == "" and len(r.stderr.strip().splitlines()) == 1 and "in use" in r.stderr
    assert len(listed(cli)) == 1


@pytest.mark.parametrize("args,why", [
    ([], "needs"),
    (["--number", "+1"], "needs"),
    (["--voice-url", "https://x.example/"], "needs"),
    (["--number", "+1", "--voice-url", "ftp://x.example/"], "voice-url"),
    (["--number", "+1", "--voice-url", "x.example/voice"], "voice-url"),
    (["--number", "+1", "--voice-url", "https://"], "voice-url"),
    (["--number", "+1", "--voice-url", "https:///path"], "voice-url"),
    (["--number", "+1", "--voice-url", "https://:8080/"], "voice-url"),
    (["--number", "+1", "--voice-url", "https://x.example/a b"], "voice-url"),
    (["--number", "+1", "--voice-url", "https://x.example/\u00e9"], "voice-url"),
    (["--number", "+1", "--voice-url", "https://x.example/" + "a" * 1010], "voice-url"),
    (["--number", "+1", "--voice-url", "https://x.example/", "--voice-fallback-url", "nope"], "fallback"),
    (["--number", "+1", "--voice-url", "https://x.example/", "--status-callback", "javascript:x"], "status-callback"),
    (["--number", "+1", "--voice-url", "https://x.example/", "--voice-method", "PUT"], "GET or POST"),
    (["--number", "+1", "--voice-url", "https://x.example/", "--status-callback-method", ""], "GET or POST"),
    (["--number", "", "--voice-url", "https://x.example/"], "--number"),
    (["--number", "+1 555", "--voice-url", "https://x.example/"], "--number"),
    (["--number", "a;b", "--voice-url", "https://x.example/"], "--number"),
    (["--number", "1" * 257, "--voice-url", "https://x.example/"], "--number"),
    (["--number", "+1", "--voice-url", "https://x.example/", "--name", "n" * 65], "--name"),
])
def test_bad_input_is_exit_2_one_line_nothing_stored(cli, args, why):
    acct = cli.account_create()
    has_account = [] if args == [] else ["--account", acct.sid]
    r = cli.run("number", "add", *(has_account + args))
    assert r.returncode == 2, (args, r.stdout, r.stderr)
    assert r.stdout == "" and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert why in r.stderr, r.stderr
    assert listed(cli) == []


def test_bad_account_and_sids(cli):
    cli.account_create()
    r = cli.run("number", "add", "--account", "AC" + "0" * 32, "--number", "+1", "--voice-url", "https://x/")
    assert r.returncode == 2 and "no account" in r.stderr
    r = cli.run("number", "add", "--account", "ACnope", "--number", "+1", "--voice-url", "https://x/")
    assert r.returncode == 2 and "account" in r.stderr
    for bad in ("PNnope", "RE" + "0" * 32, "PN" + "A" * 32):
        r = cli.run("number", "remove", bad)
        assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, (bad, r.stderr)
    r = cli.run("number", "list", "--account", "nope")
    assert r.returncode == 2
    r = cli.run("number", "frobnicate")
    assert r.returncode == 2 and "unknown number command" in r.stderr
    r = cli.run("number", "add", "extra", "--account", "AC" + "0" * 32)
    assert r.returncode == 2
    r = cli.run("number", "remove")
    assert r.returncode == 2


def test_help(cli):
    r = cli.ok("number", "--help")
    assert "recd number add" in r.stdout and "--voice-url" in r.stdout
    r = cli.run("number")
    assert r.returncode == 2 and "usage: recd number" in r.stderr
    assert "number" in cli.ok("--help").stdout
