"""Issue 3 in a real browser: headless Chromium plays a recording's MP3 and WAV from recd in an
<audio> element and seeks to 80 % of it, which works only because recd answers byte ranges.

Needs Debian's chromium, chromium-driver and python3-selenium; skipped (with the reason) only
when they are absent.
"""

import http.server
import json
import shutil
import tempfile
import threading
import time
from pathlib import Path

import pytest

from conftest import access_entries, free_port

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
SECONDS = 20.0

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>recd seek</title></head><body>
<audio id="a" preload="metadata" src="%s"></audio>
<script>
window.st = {meta: false, seeked: false, error: null, duration: null, t: null};
var a = document.getElementById("a");
a.addEventListener("loadedmetadata", function () { st.meta = true; st.duration = a.duration; });
a.addEventListener("seeked", function () { st.seeked = true; st.t = a.currentTime; });
a.addEventListener("error", function () {
  st.error = a.error ? (a.error.code + " " + a.error.message) : "error";
});
</script></body></html>
"""

STATE_JS = """
var a = document.getElementById("a"), s = [];
for (var i = 0; i < a.seekable.length; i++) s.push([a.seekable.start(i), a.seekable.end(i)]);
return JSON.stringify({st: window.st, readyState: a.readyState, seekable: s,
                       currentTime: a.currentTime});
"""


@pytest.fixture(scope="module")
def driver():
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    if missing:
        pytest.skip("headless browser test needs %s (Debian packages chromium and "
                    "chromium-driver)" % ", ".join(missing))
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.skip("headless browser test needs selenium (Debian package python3-selenium)")
    profile = tempfile.mkdtemp(prefix="recd-chromium-")
    opts = webdriver.ChromeOptions()
    opts.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync",
                "--autoplay-policy=no-user-gesture-required", "--user-data-dir=" + profile):
        opts.add_argument(arg)
    d = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=opts)
    d.set_script_timeout(30)
    try:
        yield d
    finally:
        d.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="module")
def page_server():
    """A loopback HTTP server for the test page: page_server(html) -> URL of that page."""
    pages = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = pages.get(self.path)
            if body is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    port = free_port()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()

    def add(html):
        path = "/page-%d.html" % len(pages)
        pages[path] = html.encode("utf-8")
        return "http://127.0.0.1:%d%s" % (port, path)

    yield add
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def long_rec(server, make_account, make_wav, import_wavs):
    acct = make_account()
    rec = import_wavs(acct, [make_wav(SECONDS)])[0]       # 20 s, 8 kHz mono: 320 KB
    return acct, rec


def state(d):
    return json.loads(d.execute_script(STATE_JS))


def wait_for(d, pred, timeout, what):
    deadline = time.monotonic() + timeout
    while True:
        s = state(d)
        if s["st"]["error"]:
            pytest.fail("the <audio> element failed (%s) while waiting for %s; state %r"
                        % (s["st"]["error"], what, s))
        if pred(s):
            return s
        if time.monotonic() > deadline:
            pytest.fail("timed out waiting for %s; state %r" % (what, s))
        time.sleep(0.05)


@pytest.mark.parametrize("ext", [".mp3", ".wav"])
def test_audio_element_seeks_with_ranges(server, driver, page_server, long_rec, ext):
    acct, rec = long_rec
    path = "%s/Recordings/%s%s" % (acct.path, rec["sid"], ext)
    url = page_server(PAGE % (server.url + path))
    off = server.log_size()
    driver.get(url)

    s = wait_for(driver, lambda s: s["st"]["meta"], 20, "loadedmetadata")
    dur = s["st"]["duration"]
    assert dur is not None and abs(dur - SECONDS) <= 0.5, "duration %r" % dur
    target = 0.8 * dur
    s = wait_for(driver, lambda s: s["seekable"] and s["seekable"][-1][1] >= target, 10,
                 "a seekable range covering 80 %")

    driver.execute_script("var a = document.getElementById('a'); a.currentTime = arguments[0];",
                          target)
    s = wait_for(driver, lambda s: s["st"]["seeked"], 20, "the seeked event")
    assert abs(s["st"]["t"] - target) <= 0.5, s
    # let the element fetch data at the new position (it has not been played)
    wait_for(driver, lambda s: s["readyState"] >= 2, 20, "data at the new position")

    lines = server.log_lines_since(
        off, want=lambda ls: any(e["path"] == path and e["status"] == 206
                                 for e in access_entries(ls)))
    entries = [e for e in access_entries(lines) if e["path"] == path]
    assert entries, "the browser never fetched %s; log: %r" % (path, lines[-20:])
    assert any(e["method"] == "GET" and e["status"] == 206 for e in entries), entries
    assert all(e["status"] in (200, 206, 304) for e in entries), entries
