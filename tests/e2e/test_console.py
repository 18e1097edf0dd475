"""The web console (contract section 10, issue 16) in a real browser: headless Chromium (Debian's
chromium and chromium-driver, through python3-selenium) against the real recd serve.

One server (the session's) and one browser for the whole module; each test signs in with an
account of its own. What a user would see is asserted: rows in the table, text on the page,
pixels of the waveform canvas, the <audio> element's time, the files a download leaves, and the
requests recd logged.
"""

import base64
import gzip
import hashlib
import json
import math
import os
import re
import shutil
import struct
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

import random

from conftest import REPO, Recd, access_entries, noise_wav_bytes, pcm16_wav, rand_sid

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
CONSOLE = REPO / "console"
ROWS_BIN = Path(os.environ.get("RECD_STORE_ROWS", str(REPO / "build" / "test" / "harness" / "store_rows")))
XSS = "<img src=x onerror=alert(1)>"
RATE = 8000


# --------------------------------------------------------------------------- the browser

@pytest.fixture(scope="module")
def downloads():
    d = Path(tempfile.mkdtemp(prefix="recd-console-dl-"))
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def driver(downloads):
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    if missing:
        pytest.skip("browser tests need %s (Debian packages chromium and chromium-driver)"
                    % ", ".join(missing))
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.skip("browser tests need selenium (Debian package python3-selenium)")
    profile = tempfile.mkdtemp(prefix="recd-chromium-")
    opts = webdriver.ChromeOptions()
    opts.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                "--no-first-run", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--autoplay-policy=no-user-gesture-required",
                "--window-size=1280,1000", "--force-device-scale-factor=1",
                "--user-data-dir=" + profile):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    opts.add_experimental_option("prefs", {"download.default_directory": str(downloads),
                                           "download.prompt_for_download": False})
    d = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=opts)
    d.set_script_timeout(30)
    d.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow",
                                                     "downloadPath": str(downloads)})
    try:
        yield d
    finally:
        d.quit()
        shutil.rmtree(profile, ignore_errors=True)


def wait(what, pred, timeout=20.0, state=None):
    """Polls pred() until it returns something true (returned), or fails naming `what` (and
    showing state(), when given)."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            v = pred()
            if v:
                return v
            last = v
        except Exception as e:  # the page may be between states
            last = repr(e)
        if time.monotonic() > deadline:
            pytest.fail("timed out waiting for %s (last: %r%s)" % (
                what, last, "; state %r" % (state(),) if state else ""))
        time.sleep(0.05)


def js(d, script, *args):
    return d.execute_script(script, *args)


def el(d, id_):
    return d.find_element("id", id_)


def visible(d, id_):
    return js(d, "return !document.getElementById(arguments[0]).closest('[hidden]')", id_)


def severe(d):
    """The browser's error-level log entries since the last call (reading drains the log)."""
    return [e for e in d.get_log("browser") if e["level"] == "SEVERE"]


def rows(d, tbody="rec-rows"):
    return js(d, "return Array.from(document.querySelectorAll('#' + arguments[0] + ' tr'))"
                 ".map(tr => [tr.dataset.sid, Array.from(tr.cells).map(c => c.textContent)])", tbody)


def row_sids(d, tbody="rec-rows"):
    return [r[0] for r in rows(d, tbody)]


def sign_in(d, server, account, user=None, secret=None, expect_ok=True):
    """Opens the console fresh (nothing kept from an earlier test) and signs in with the form."""
    # Forget the last test's sign-in on a page of the same origin that runs no script (the
    # console itself could be signing in again from sessionStorage while it is cleared).
    d.get(server.url + "/console/blank")
    js(d, "sessionStorage.clear()")
    d.get(server.url + "/console/")
    wait("the sign-in form", lambda: visible(d, "signin"))
    el(d, "in-account").send_keys(account)
    if user and user != account:
        el(d, "in-key").send_keys(user)
    el(d, "in-secret").send_keys(secret)
    el(d, "signin-go").click()
    if expect_ok:
        wait("the recordings list", lambda: visible(d, "recordings") and
             js(d, "return document.getElementById('rec-rows').dataset.page") == "0")


def sign_in_acct(d, server, acct):
    sign_in(d, server, acct.sid, secret=acct.auth_token)


def open_row(d, sid, tbody="rec-rows"):
    d.find_element("css selector", "#%s tr[data-sid='%s']" % (tbody, sid)).click()
    wait("the player for %s" % sid, lambda: visible(d, "player") and el(d, "p-sid").text == sid)


def audio_state(d):
    return js(d, "var a = document.getElementById('audio'); return {t: a.currentTime, paused: a.paused,"
                 " rate: a.playbackRate, pitch: a.preservesPitch, duration: a.duration,"
                 " ready: a.readyState, src: a.currentSrc, error: a.error && a.error.message}")


def wait_drawn(d, sid):
    wait("the waveform of %s" % sid,
         lambda: js(d, "return document.getElementById('wave-canvas').dataset.drawn") == sid)


def lane_ink(d, x0, x1, lane=0, lanes=1):
    """Pixels with any ink in columns [x0, x1) (fractions of the width) of one lane."""
    return js(d, """
        var c = document.getElementById('wave-canvas'), g = c.getContext('2d');
        var x0 = Math.floor(arguments[0] * c.width), x1 = Math.floor(arguments[1] * c.width);
        var h = c.height / arguments[3], y0 = Math.floor(arguments[2] * h);
        var px = g.getImageData(x0, y0, x1 - x0, Math.floor(h)).data, n = 0;
        for (var i = 3; i < px.length; i += 4) if (px[i] > 0) n++;
        return n;""", x0, x1, lane, lanes)


def rows_harness(data, kind, **fields):
    if not ROWS_BIN.exists():
        pytest.fail("%s not built (make build/test/harness/store_rows)" % ROWS_BIN, pytrace=False)
    args = [str(ROWS_BIN), str(data), kind] + ["%s=%s" % kv for kv in fields.items()]
    store = Recd(data).store
    env = dict(os.environ, RECD_STORE=store) if store else None
    r = subprocess.run(args, capture_output=True, text=True, timeout=30, env=env)
    assert r.returncode == 0, (args, r.stdout, r.stderr)
    return r.stdout.strip()


def stretches_wav(pattern, rate=RATE):
    """A mono WAV of (seconds, loud) stretches: a 440 Hz tone at 3/4 of full scale, or digital
    silence."""
    frames = []
    for seconds, loud in pattern:
        n = int(seconds * rate)
        frames += [int(24000 * math.sin(2 * math.pi * 440 * (len(frames) + i) / rate)) if loud else 0
                   for i in range(n)]
    return pcm16_wav(frames, rate)


# --------------------------------------------------------------------------- data

@pytest.fixture(scope="module")
def acct(make_account):
    return make_account()


@pytest.fixture(scope="module")
def long_rec(acct, make_wav, import_wavs):
    """20 s: loud 0-5 s, silent 5-10 s, loud 10-15 s, silent 15-20 s."""
    f = make_wav(data=stretches_wav([(5, True), (5, False), (5, True), (5, False)]))
    return import_wavs(acct, [f])[0]


@pytest.fixture(scope="module")
def stereo_rec(acct, make_wav, import_wavs):
    """10 s, two channels: the first loud in its first half only, the second in its second half."""
    n = 10 * RATE
    tone = [int(20000 * math.sin(2 * math.pi * 500 * i / RATE)) for i in range(n)]
    frames = [(tone[i] if i < n // 2 else 0, tone[i] if i >= n // 2 else 0) for i in range(n)]
    f = make_wav(data=pcm16_wav(frames, RATE, channels=2))
    return import_wavs(acct, [f])[0]


# --------------------------------------------------------------------------- serving the page

def test_page_is_served_with_security_and_cache_headers(server):
    r = server.get("/console/")
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "text/html; charset=utf-8"
    csp = r.headers["Content-Security-Policy"]
    directives = {d.split()[0]: d.split()[1:] for d in csp.split("; ")}
    assert directives["default-src"] == ["'none'"]
    assert directives["script-src"] == ["'self'"]          # no 'unsafe-inline', no other host
    assert directives["frame-ancestors"] == ["'none'"]
    assert directives["form-action"] == ["'none'"]
    assert directives["trusted-types"] == ["'none'"]
    assert r.headers["Referrer-Policy"] == "no-referrer"
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["X-Frame-Options"] == "DENY"
    assert r.headers["Cache-Control"] == "no-cache"
    assert "Set-Cookie" not in r.headers
    html = (CONSOLE / "index.html").read_bytes()
    assert r.content == html                      # requests undoes the gzip
    assert r.headers["Content-Encoding"] == "gzip"
    etag = r.headers["ETag"]
    assert re.fullmatch(r'"[0-9a-f]{32}-gz"', etag)
    assert etag[1:33] == hashlib.sha256(html).hexdigest()[:32]

    st, h, body = server.raw("GET", "/console/", headers={"Accept-Encoding": "gzip;q=0, br"})
    assert st == 200 and body == html and "content-encoding" not in h
    assert h["etag"] == etag.replace("-gz", "") and h["vary"] == "Accept-Encoding"
    st, h, body = server.raw("GET", "/console/", headers={"Accept-Encoding": "gzip"})
    assert st == 200 and gzip.decompress(body) == html and h["content-encoding"] == "gzip"
    st, h, body = server.raw("GET", "/console/?x=1", headers={"If-None-Match": h["etag"],
                                                             "Accept-Encoding": "gzip"})
    assert st == 304 and body == b"" and "content-security-policy" in h
    st, h, body = server.raw("HEAD", "/console/console.js")
    assert st == 200 and body == b"" and h["content-type"] == "text/javascript; charset=utf-8"
    assert int(h["content-length"]) == (CONSOLE / "console.js").stat().st_size

    for path, ctype in (("console.js", "text/javascript"), ("player.js", "text/javascript"),
                        ("console.css", "text/css"), ("icon.svg", "image/svg+xml")):
        r = server.get("/console/" + path)
        assert r.status_code == 200 and r.headers["Content-Type"].startswith(ctype), path
        assert r.content == (CONSOLE / path).read_bytes(), path
        assert r.headers["Content-Security-Policy"] == csp

    st, h, _ = server.raw("GET", "/console")
    assert st == 308 and h["location"] == "console/" and "content-security-policy" in h
    r = server.get("/console/nothing.js")
    assert r.status_code == 404 and r.headers["X-Content-Type-Options"] == "nosniff"
    r = server.request("POST", "/console/", data={"a": "b"})
    assert r.status_code == 405 and r.headers["Allow"] == "GET, HEAD, OPTIONS"
    assert server.get("/consoles/").status_code == 404       # not the console's: the API's 404


def test_page_weight_and_no_markup_sinks():
    # console.js is the first screen's code, player.js the player's (imported when needed).
    files = [CONSOLE / n for n in ("index.html", "console.js", "player.js", "console.css")]
    total = sum(f.stat().st_size for f in files)
    assert total < 60 * 1024, "page weight %d bytes" % total
    src = (CONSOLE / "console.js").read_text() + (CONSOLE / "player.js").read_text()
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(",
                 "new Function"):
        assert sink not in src, sink
    html = (CONSOLE / "index.html").read_text()
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", html, re.S)
    assert scripts and all('src="' in attrs and not body.strip() for attrs, body in scripts), scripts
    assert not re.search(r"<[^>]+\son[a-z]+\s*=", html), "an inline handler in index.html"
    assert not re.search(r"https?://", html + src), "a reference to another host"


# --------------------------------------------------------------------------- sign-in

def test_wrong_token_shows_a_message_and_nothing_else(server, driver, acct, long_rec):
    d = driver
    sign_in(d, server, acct.sid, secret="0" * 32, expect_ok=False)
    msg = wait("the sign-in error", lambda: el(d, "signin-error").text)
    assert "refused" in msg
    assert not visible(d, "recordings") and not visible(d, "player") and not visible(d, "top")
    assert rows(d) == []
    assert long_rec["sid"] not in d.page_source
    assert js(d, "return sessionStorage.length") == 0


def test_sign_in_keeps_credentials_out_of_urls_cookies_and_logs(server, driver, acct, long_rec):
    d = driver
    off = server.log_size()
    sign_in_acct(d, server, acct)
    assert long_rec["sid"] in row_sids(d)
    assert acct.auth_token not in d.current_url
    assert js(d, "return document.cookie") == ""
    assert acct.auth_token not in server.log_text()[off:]
    assert el(d, "in-secret").get_attribute("value") == ""
    # Kept for this tab only: a reload signs in again without the form.
    d.refresh()
    wait("the list after a reload", lambda: visible(d, "recordings") and
         long_rec["sid"] in row_sids(d))


def test_sign_in_with_an_api_key(server, driver, acct, long_rec):
    key = server.cli.key_create(acct.sid)
    d = driver
    sign_in(d, server, acct.sid, user=key["sid"], secret=key["secret"])
    assert long_rec["sid"] in row_sids(d)
    assert key["sid"] in el(d, "who").text


# --------------------------------------------------------------------------- lists

@pytest.fixture(scope="module")
def many(server, make_account, make_wav):
    """120 recordings: 60 of one call, 60 of another; created on three days (40 each)."""
    a = make_account()
    calls = [rand_sid("CA"), rand_sid("CA")]
    days = ["2024-03-01", "2024-03-02", "2024-03-03"]
    files = [make_wav(0.1) for _ in range(120)]
    for i, day in enumerate(days):
        for j, call in enumerate(calls):
            chunk = files[i * 40 + j * 20:i * 40 + j * 20 + 20]
            server.cli.import_ok(a.sid, chunk, call=call, date_created=day + "T12:00:00Z")
    listed = server.list_sids(a)
    assert len(listed) == 120
    return {"acct": a, "calls": calls, "days": days, "sids": listed}


def test_120_recordings_over_three_pages_and_back(server, driver, many):
    d = driver
    sign_in_acct(d, server, many["acct"])
    pages = []
    for n, want in ((1, 50), (2, 50), (3, 20)):
        wait("page %d" % n, lambda: el(d, "rec-page").text == "Page %d" % n and len(row_sids(d)) == want)
        pages.append(row_sids(d))
        if n < 3:
            assert el(d, "rec-next").is_enabled()
            el(d, "rec-next").click()
    assert not el(d, "rec-next").is_enabled()
    assert sum(pages, []) == many["sids"]           # every one once, newest first
    r = rows(d)[0][1]
    assert r[0] == "2024-03-01 12:00:00" or r[0].startswith("2024-03-0"), r   # local time
    assert r[1:] == ["0:00", "1", r[3], "RecordVerb", "completed"] and r[3] in many["calls"], r
    for n in (2, 1):
        el(d, "rec-prev").click()
        wait("back to page %d" % n, lambda: el(d, "rec-page").text == "Page %d" % n and
             row_sids(d) == pages[n - 1])
    assert not el(d, "rec-prev").is_enabled()


def apply_filters(d, **values):
    js(d, """for (const [id, v] of Object.entries(arguments[0])) document.getElementById(id).value = v;
             document.getElementById('rec-rows').dataset.page = '';""", values)
    el(d, "f-apply").click()
    wait("the filtered list", lambda: js(d, "return document.getElementById('rec-rows').dataset.page") == "0")


def test_filter_by_call_sid_and_by_date(server, driver, many):
    d = driver
    sign_in_acct(d, server, many["acct"])
    call = many["calls"][1]
    apply_filters(d, **{"f-call": call})
    want = server.list_sids(many["acct"], {"CallSid": call})
    assert len(want) == 60
    got = row_sids(d)
    el(d, "rec-next").click()
    wait("page 2 of the call", lambda: el(d, "rec-page").text == "Page 2")
    got += row_sids(d)
    assert got == want and not el(d, "rec-next").is_enabled()
    assert {r[1][3] for r in rows(d)} == {call}

    apply_filters(d, **{"f-call": "", "f-from": "2024-03-02", "f-to": "2024-03-02"})
    want = server.list_sids(many["acct"], {"DateCreated": "2024-03-02"})
    assert len(want) == 40 and row_sids(d) == want
    apply_filters(d, **{"f-from": "2024-03-02", "f-to": ""})
    assert len(row_sids(d)) == 50 and not el(d, "rec-next").get_attribute("disabled")
    apply_filters(d, **{"f-from": "", "f-to": "2024-03-01", "f-call": many["calls"][0]})
    assert row_sids(d) == server.list_sids(many["acct"], {"DateCreated<": "2024-03-01",
                                                          "CallSid": many["calls"][0]})
    assert len(row_sids(d)) == 20


def test_filter_by_duration_and_status(server, driver, make_account, make_wav, import_wavs):
    d = driver
    a = make_account()
    short = import_wavs(a, [make_wav(1.0) for _ in range(3)])
    long_ = import_wavs(a, [make_wav(4.0) for _ in range(2)])
    live = rows_harness(server.data, "recording", account_sid=a.sid)     # in-progress
    sign_in_acct(d, server, a)
    assert len(row_sids(d)) == 6
    apply_filters(d, **{"f-dmin": "3"})
    assert sorted(row_sids(d)) == sorted(r["sid"] for r in long_)
    apply_filters(d, **{"f-dmin": "", "f-dmax": "2"})
    assert sorted(row_sids(d)) == sorted(r["sid"] for r in short)
    apply_filters(d, **{"f-dmax": "", "f-status": "in-progress"})
    assert row_sids(d) == [live]
    assert rows(d)[0][1][1] == "—"


# --------------------------------------------------------------------------- a recording's view

def test_waveform_is_drawn_where_loud_and_blank_where_silent(server, driver, acct, long_rec):
    d = driver
    sign_in_acct(d, server, acct)
    open_row(d, long_rec["sid"])
    wait_drawn(d, long_rec["sid"])
    assert js(d, "return document.querySelectorAll('#lanes .lane').length") == 1
    # Loud 0-5 s and 10-15 s of 20 s; a margin either side of each edge.
    for x0, x1 in ((0.02, 0.23), (0.52, 0.73)):
        assert lane_ink(d, x0, x1) > 1000, (x0, x1)
    for x0, x1 in ((0.27, 0.48), (0.77, 0.98)):
        assert lane_ink(d, x0, x1) == 0, (x0, x1)
    # The tone is at 3/4 of full scale: its bars reach well beyond the middle half of the lane.
    assert js(d, """var c = document.getElementById('wave-canvas'), g = c.getContext('2d');
        var px = g.getImageData(Math.floor(0.1 * c.width), 0, 1, c.height).data, top = -1;
        for (var y = 0; y < c.height; y++) if (px[4 * y + 3] > 0) { top = y; break; }
        return top / c.height;""") < 0.2


@pytest.fixture(scope="module")
def big_rec(acct, make_wav, import_wavs):
    """60 s of 48 kHz stereo (11.5 MB): far more than a browser loads before it is played."""
    f = make_wav(data=noise_wav_bytes(random.Random(16), 60 * 48000 * 4, rate=48000, channels=2))
    return import_wavs(acct, [f])[0]


def test_seek_at_75_percent_is_a_206_then_play(server, driver, acct, big_rec):
    from selenium.webdriver.common.action_chains import ActionChains
    d = driver
    sign_in_acct(d, server, acct)
    severe(d)
    open_row(d, big_rec["sid"])
    aud = lambda: audio_state(d)  # noqa: E731
    wait("the audio's metadata", lambda: aud()["ready"] >= 1, state=aud)
    assert abs(audio_state(d)["duration"] - 60.0) < 0.1
    # Before playing only the start of the file is loaded: a click at 75 % of the waveform asks
    # for the bytes there.
    path = "%s/Recordings/%s.wav" % (acct.path, big_rec["sid"])
    off = server.log_size()
    wave = el(d, "wave")
    ActionChains(d).move_to_element_with_offset(wave, int(wave.rect["width"] * 0.25), 0).click().perform()
    wait("the seek", lambda: abs(aud()["t"] - 45.0) < 0.3 and aud()["ready"] >= 2, state=aud)
    assert abs(float(js(d, "return parseFloat(document.getElementById('wave-head').style.left)")) - 75) < 2
    lines = server.log_lines_since(off, want=lambda ls: any(
        e["path"] == path and e["status"] == 206 for e in access_entries(ls)))
    hits = [e for e in access_entries(lines) if e["path"] == path]
    assert any(e["method"] == "GET" and e["status"] == 206 for e in hits), (hits, lines[-20:])

    el(d, "p-play").click()
    wait("playback from there", lambda: aud()["t"] > 45.4, state=aud)
    s = audio_state(d)
    assert not s["paused"] and s["error"] is None
    el(d, "p-play").click()
    wait("pause", lambda: aud()["paused"], state=aud)
    assert el(d, "p-play").text == "Play"
    assert severe(d) == [], "the page logged errors"


def test_speed_and_keyboard(server, driver, acct, long_rec, stereo_rec):
    d = driver
    from selenium.webdriver.common.keys import Keys
    sign_in_acct(d, server, acct)
    open_row(d, long_rec["sid"])
    body = d.find_element("tag name", "body")
    js(d, "document.activeElement.blur()")
    body.send_keys("]", "]")                       # 1 -> 1.25 -> 1.5
    s = audio_state(d)
    assert s["rate"] == 1.5 and s["pitch"] is True
    assert el(d, "p-speed").get_attribute("value") == "1.5"
    body.send_keys(Keys.SPACE)
    wait("playing at 1.5x", lambda: audio_state(d)["t"] > 0.2 and not audio_state(d)["paused"])
    body.send_keys(Keys.SPACE)
    wait("paused by space", lambda: audio_state(d)["paused"])
    t = audio_state(d)["t"]
    body.send_keys(Keys.ARROW_RIGHT)
    wait("5 s further", lambda: abs(audio_state(d)["t"] - (t + 5)) < 0.05)
    body.send_keys(Keys.ARROW_LEFT)
    wait("5 s back", lambda: abs(audio_state(d)["t"] - t) < 0.05)
    body.send_keys("[")
    assert audio_state(d)["rate"] == 1.25
    # j and k: the next and the previous row of the list (or the other way at the end of it).
    sids = row_sids(d)
    i = sids.index(long_rec["sid"])
    first, second, other = ("j", "k", i + 1) if i + 1 < len(sids) else ("k", "j", i - 1)
    body.send_keys(first)
    wait("the next recording", lambda: el(d, "p-sid").text == sids[other])
    body.send_keys(second)
    wait("the previous recording", lambda: el(d, "p-sid").text == sids[i])
    js(d, "var s = document.getElementById('p-speed'); s.value = '0.5';"
          "s.dispatchEvent(new Event('change'))")
    assert audio_state(d)["rate"] == 0.5
    js(d, "var s = document.getElementById('p-speed'); s.value = '1';"
          "s.dispatchEvent(new Event('change'))")


def test_two_channels_two_lanes(server, driver, acct, stereo_rec):
    d = driver
    sign_in_acct(d, server, acct)
    open_row(d, stereo_rec["sid"])
    wait_drawn(d, stereo_rec["sid"])
    lanes = js(d, "return Array.from(document.querySelectorAll('#lanes .lane')).map(b => b.textContent)")
    assert len(lanes) == 2, lanes
    # Channel 1 is loud in the first half only, channel 2 in the second half only.
    assert lane_ink(d, 0.02, 0.48, 0, 2) > 500 and lane_ink(d, 0.52, 0.98, 0, 2) == 0
    assert lane_ink(d, 0.02, 0.48, 1, 2) == 0 and lane_ink(d, 0.52, 0.98, 1, 2) > 500
    colour = """var c = document.getElementById('wave-canvas'), g = c.getContext('2d');
        var x = Math.floor(arguments[0] * c.width), h = c.height / 2, y0 = Math.floor(arguments[1] * h);
        var px = g.getImageData(x, y0, 1, Math.floor(h)).data;
        for (var i = 0; i < px.length; i += 4) if (px[i + 3] === 255) return [px[i], px[i + 1], px[i + 2]];
        return null;"""
    first, second = js(d, colour, 0.25, 0), js(d, colour, 0.75, 1)
    assert first and second and first != second, (first, second)   # one colour per party
    d.find_element("css selector", "#lanes .lane[data-lane='1']").click()
    wait("lane 2 muted", lambda: d.find_element("css selector", "#lanes .lane[data-lane='1']")
         .get_attribute("aria-pressed") == "true")
    assert js(d, colour, 0.75, 1) not in (second, None)              # drawn grey
    assert js(d, colour, 0.25, 0) == first


def download(d, folder, link):
    """Clicks a download link; returns the bytes of the one new file it leaves in `folder`."""
    before = set(folder.iterdir())
    link.click()

    def done():
        new = [p for p in set(folder.iterdir()) - before]
        if len(new) == 1 and not new[0].name.endswith(".crdownload") and new[0].stat().st_size:
            return new[0]
    return wait("a download", done).read_bytes()


def test_downloads_wav_and_mp3_mono_and_as_recorded(server, driver, downloads, acct, stereo_rec):
    d = driver
    sign_in_acct(d, server, acct)
    open_row(d, stereo_rec["sid"])
    links = js(d, "return Array.from(document.querySelectorAll('#p-downloads a'))"
                  ".map(a => [a.textContent, a.dataset.format, a.dataset.mono])")
    assert [l[1:] for l in links] == [["wav", "0"], ["mp3", "0"], ["wav", "1"], ["mp3", "1"]], links
    sid = stereo_rec["sid"]
    for i, (fmt, mono) in enumerate((("wav", False), ("mp3", False), ("wav", True), ("mp3", True))):
        got = download(d, downloads, d.find_elements("css selector", "#p-downloads a")[i])
        api = server.get("%s/Recordings/%s.%s" % (acct.path, sid, fmt),
                         params={"RequestedChannels": "1"} if mono else None)
        assert api.status_code == 200 and got == api.content, (fmt, mono)
        if fmt == "wav" and not mono:
            assert got == stereo_rec["_bytes"]
        if fmt == "mp3":
            assert got[:3] == b"ID3" or got[0] == 0xFF


def test_delete_with_confirmation(server, driver, make_account, make_wav, import_wavs):
    d = driver
    a = make_account()
    keep, gone = import_wavs(a, [make_wav(1.0), make_wav(1.0)])
    sign_in_acct(d, server, a)
    open_row(d, gone["sid"])
    el(d, "p-delete").click()
    wait("the confirmation", lambda: js(d, "return document.getElementById('confirm').open"))
    assert gone["sid"] in el(d, "confirm-text").text
    el(d, "confirm-cancel").click()
    assert not js(d, "return document.getElementById('confirm').open")
    assert server.get("%s/Recordings/%s.json" % (a.path, gone["sid"])).status_code == 200
    el(d, "p-delete").click()
    wait("the confirmation", lambda: js(d, "return document.getElementById('confirm').open"))
    el(d, "confirm-ok").click()
    wait("the row to go", lambda: gone["sid"] not in row_sids(d))
    assert row_sids(d) == [keep["sid"]] and not visible(d, "player")
    assert gone["sid"] in el(d, "notice").text
    for ext in (".json", ".wav"):
        assert server.get("%s/Recordings/%s%s" % (a.path, gone["sid"], ext),
                          auth=a.auth).status_code == 404
    el(d, "f-apply").click()                          # read again from the API: still gone
    wait("the list again", lambda: row_sids(d) == [keep["sid"]])


def test_media_auth_account_plays_through_a_signed_link(server, driver, make_account, make_wav,
                                                        import_wavs):
    d = driver
    a = make_account()
    rec = import_wavs(a, [make_wav(6.0)])[0]
    server.cli.media_auth(a.sid, True)
    path = "%s/Recordings/%s.wav" % (a.path, rec["sid"])
    assert server.get(path).status_code == 401
    sign_in_acct(d, server, a)
    off = server.log_size()
    open_row(d, rec["sid"])
    wait("a signed source", lambda: "Signature=" in (audio_state(d)["src"] or ""))
    el(d, "p-play").click()
    wait("playback", lambda: audio_state(d)["t"] > 0.3)
    assert audio_state(d)["error"] is None
    lines = server.log_lines_since(off, want=lambda ls: any(
        e["path"] == path and e["status"] in (200, 206) for e in access_entries(ls)))
    media = [e for e in access_entries(lines) if e["path"] == path]
    assert media and all(e["status"] in (200, 206) for e in media), media
    src = audio_state(d)["src"]
    assert a.auth_token not in src and src.startswith(server.url + path + "?")
    # The signed link is what plays: without its query the same path is refused.
    assert server.get(path).status_code == 401 and server.get(src).status_code == 200


def test_outside_values_are_text_and_nothing_runs(server, driver, make_account, make_wav):
    d = driver
    a = make_account()
    call = rows_harness(server.data, "call", account_sid=a.sid, from_addr=XSS, to_addr=XSS,
                        status="completed")
    rec = server.cli.import_ok(a.sid, [make_wav(1.0)], call=call, transcription_text=XSS)[0]
    sign_in_acct(d, server, a)
    js(d, "window.alert = function () { window.__alerted = true; };")
    open_row(d, rec["sid"])
    wait("the transcription", lambda: el(d, "p-text").text == XSS)
    el(d, "tab-calls").click()
    wait("the calls list", lambda: row_sids(d, "call-rows") == [call])
    r = rows(d, "call-rows")[0][1]
    assert r[1] == XSS and r[2] == XSS, r
    d.find_element("css selector", "#call-rows tr").click()
    wait("the call's recordings", lambda: row_sids(d, "cd-rows") == [rec["sid"]])
    assert XSS in el(d, "cd-fields").text
    assert js(d, "return document.querySelectorAll('img').length") == 0
    assert not js(d, "return window.__alerted === true")
    # The call's recording opens from the call too.
    d.find_element("css selector", "#cd-rows tr").click()
    wait("the player", lambda: el(d, "p-sid").text == rec["sid"])


def conversation_wav(seconds=24, rate=RATE):
    """Two parties taking turns, each turn syllable-like bursts of a voiced tone: a picture of a
    call for the docs."""
    rng = random.Random(7)
    n = seconds * rate
    lanes = [[0] * n, [0] * n]
    t, who = int(0.4 * rate), 0
    while t < n:
        turn = int(rng.uniform(2.0, 4.5) * rate)
        f0 = 140 if who == 0 else 210
        s = t
        while s < min(n, t + turn):
            syl = int(rng.uniform(0.12, 0.3) * rate)
            amp = rng.uniform(0.35, 0.95) * 26000
            for i in range(min(syl, n - s)):
                env = math.sin(math.pi * i / syl)
                x = 2 * math.pi * f0 * (s + i) / rate
                lanes[who][s + i] = int(amp * env * (0.6 * math.sin(x) + 0.3 * math.sin(3 * x)))
            s += syl + int(rng.uniform(0.03, 0.15) * rate)
        t += turn + int(rng.uniform(0.2, 0.8) * rate)
        who = 1 - who
    return pcm16_wav(list(zip(lanes[0], lanes[1])), rate, channels=2)


def test_screenshot_for_the_docs(server, driver, make_account, make_wav):
    """Leaves a picture of a recording's view for docs/console.md (RECD_CONSOLE_SCREENSHOT names
    the file; by default build/console.png)."""
    d = driver
    a = make_account()
    call = rand_sid("CA")
    server.cli.import_ok(a.sid, [make_wav(3.0), make_wav(41.0)], call=rand_sid("CA"))
    rec = server.cli.import_ok(a.sid, [make_wav(data=conversation_wav())], call=call,
                               transcription_text="Hello, thanks for calling. I'd like to move my "
                               "appointment to Thursday. Of course, Thursday at ten works.")[0]
    sign_in_acct(d, server, a)
    open_row(d, rec["sid"])
    wait_drawn(d, rec["sid"])
    wait("the transcription", lambda: el(d, "p-text").text)
    js(d, "document.getElementById('audio').currentTime = 9.5")
    wait("the playhead", lambda: el(d, "p-time").text.startswith("0:09"))
    out = Path(os.environ.get("RECD_CONSOLE_SCREENSHOT", str(REPO / "build" / "console.png")))
    out.parent.mkdir(parents=True, exist_ok=True)
    assert d.save_screenshot(str(out))
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
