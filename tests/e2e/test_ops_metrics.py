"""GET /metrics (contract section 11, docs/operations.md): Prometheus's text format 0.0.4 that
Prometheus's own checker (`promtool check metrics`, Debian's prometheus package) passes, counters
that move with exactly the requests this test makes, storage operations by backend, a call's
voice metrics, and who may read it (--metrics-allow, --metrics-listen, --metrics off).
"""

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import requests

from conftest import MEDIA, REPO, STORE, Recd, Server, free_port

# The backend labels of the storage series for the store and media the suite runs on.
STORE_BACKEND = "postgres" if STORE == "postgres" else "sqlite"
MEDIA_BACKEND = "s3" if MEDIA == "s3" else "fs"

PROMTOOL = os.environ.get("RECD_PROMTOOL") or str(REPO / "build" / "tools" / "promtool")
CT = "text/plain; version=0.0.4; charset=utf-8"
SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')


def parse(text):
    """{(name, frozenset of label pairs): value} of every sample line."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        assert m, "not a sample line: %r" % line
        labels = frozenset(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(3) or ""))
        out[(m.group(1), labels)] = float(m.group(4))
    return out


def val(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())), 0.0)


def promtool_check(text):
    if not Path(PROMTOOL).exists() and not shutil.which("promtool"):
        pytest.fail("promtool not found at %s (make build/tools/promtool)" % PROMTOOL, pytrace=False)
    tool = PROMTOOL if Path(PROMTOOL).exists() else shutil.which("promtool")
    r = subprocess.run([tool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, "promtool check metrics:\n%s%s" % (r.stdout, r.stderr)


def start(tmp, *serve_args):
    srv = Server(tmp / "data", tmp / "server.log", serve_args=serve_args)
    srv.cli.account_create(name="bootstrap")
    return srv.start()


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    s = start(tmp_path_factory.mktemp("ops-metrics"))
    yield s
    s.stop()


def scrape(srv):
    r = requests.get(srv.url + "/metrics", timeout=30)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"] == CT
    return r.text


def test_exposition_passes_promtool_and_leaks_nothing(srv, make_wav):
    acct = srv.cli.account_create(name="leak check")
    rec = srv.cli.import_ok(acct.sid, [make_wav()])[0]
    srv.get(acct.path + "/Recordings/%s.json" % rec["sid"])
    srv.get(acct.path + "/Recordings/%s.wav" % rec["sid"])
    srv.get(acct.path + "/Recordings.json", auth=acct.auth)
    srv.get("/no/such/path?secret=1")
    text = scrape(srv)
    promtool_check(text)
    # Never a sid, an address or a path as a label value (contract section 11).
    for bad in (acct.sid, rec["sid"], "127.0.0.1", "/no/such", "secret", str(srv.data)):
        assert bad not in text, bad
    assert re.search(r'^recd_build_info\{version="[^"]+",commit="[^"]+"\} 1$', text, re.M), text[:300]
    for name in ("process_cpu_seconds_total", "process_resident_memory_bytes", "process_virtual_memory_bytes",
                 "process_open_fds", "process_max_fds", "process_start_time_seconds"):
        assert re.search(r"^%s \d" % name, text, re.M), name
    s = parse(text)
    assert val(s, "process_start_time_seconds") <= time.time() + 1
    assert val(s, "recd_http_requests_total", method="GET", route="unmatched", code="404") >= 1
    # Every name is recd_ or process_, counters end in _total, durations are in seconds.
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            assert name.startswith(("recd_", "process_")), name
            assert (kind == "counter") == name.endswith("_total"), line
            if kind == "histogram":
                assert name.endswith("_seconds"), name


def test_counters_move_with_requests(srv, make_wav):
    acct = srv.cli.account_create(name="counting")
    rec = srv.cli.import_ok(acct.sid, [make_wav(seconds=0.5)])[0]
    list_route = "/2010-04-01/Accounts/{AccountSid}/Recordings.json"
    wav_route = "/2010-04-01/Accounts/{AccountSid}/Recordings/{RecordingSid}.wav"
    before = parse(scrape(srv))
    n, sizes = 7, 0
    for _ in range(n):
        r = srv.get(acct.path + "/Recordings.json", auth=acct.auth)
        assert r.status_code == 200
        sizes += len(r.content)
    wrong = srv.get(acct.path + "/Recordings.json", auth=(acct.sid, "0" * 32))
    assert wrong.status_code == 401
    media = srv.get(acct.path + "/Recordings/%s.wav" % rec["sid"])
    assert media.status_code == 200
    head = srv.request("HEAD", acct.path + "/Recordings/%s.wav" % rec["sid"])
    assert head.status_code == 200
    peaks = srv.get("/recd/Accounts/%s/Recordings/%s/Peaks.json" % (acct.sid, rec["sid"]), auth=acct.auth)
    assert peaks.status_code == 200, peaks.text
    after = parse(scrape(srv))

    def delta(name, **labels):
        return val(after, name, **labels) - val(before, name, **labels)

    assert delta("recd_http_requests_total", method="GET", route=list_route, code="200") == n
    assert delta("recd_http_requests_total", method="GET", route=list_route, code="401") == 1
    assert delta("recd_http_requests_total", method="GET", route=wav_route, code="200") == 1
    assert delta("recd_http_requests_total", method="HEAD", route=wav_route, code="200") == 1
    assert delta("recd_http_requests_total", method="GET", code="200",
                 route="/recd/Accounts/{AccountSid}/Recordings/{RecordingSid}/Peaks.json") == 1
    assert delta("recd_http_request_duration_seconds_count", method="GET", route=list_route) == n + 1
    assert delta("recd_http_request_duration_seconds_bucket", method="GET", route=list_route, le="+Inf") == n + 1
    assert delta("recd_http_request_duration_seconds_sum", method="GET", route=list_route) > 0
    wrong_len = len(wrong.content)
    assert delta("recd_http_response_bytes_total", method="GET", route=list_route) == sizes + wrong_len
    assert delta("recd_http_response_bytes_total", method="GET", route=wav_route) == len(media.content)
    # The scrape itself is in flight while it is rendered.
    assert val(after, "recd_http_requests_in_flight") >= 1
    assert val(after, "recd_http_connections") >= 1
    # Storage: every request reads the store's version; the media was opened from the folder.
    assert delta("recd_store_operation_duration_seconds_count", backend=STORE_BACKEND, op="version") >= n
    assert delta("recd_media_operation_duration_seconds_count", backend=MEDIA_BACKEND, op="open") >= 1
    if STORE_BACKEND == "sqlite":
        assert ("recd_sqlite_busy_retries_total", frozenset()) in after
    assert val(after, "recd_transcription_queue_jobs", state="queued") == 0


def test_who_may_read(tmp_path):
    """--metrics-listen: /metrics only there (the API port says 404), health on both; --metrics
    off: no /metrics anywhere. (--metrics-allow's 403 is tests/unit/test_ops.c's.)"""
    port = free_port()
    apart = start(tmp_path / "b", "--metrics-listen", "127.0.0.1:%d" % port)
    try:
        assert requests.get(apart.url + "/metrics", timeout=30).status_code == 404
        assert requests.get(apart.url + "/readyz", timeout=30).status_code == 200
        other = "http://127.0.0.1:%d" % port
        r = requests.get(other + "/metrics", timeout=30)
        assert r.status_code == 200 and r.headers["Content-Type"] == CT
        assert requests.get(other + "/readyz", timeout=30).status_code == 200
        assert requests.get(other + "/livez", timeout=30).status_code == 200
        assert requests.get(other + "/2010-04-01/Accounts", timeout=30).status_code == 404
        r = requests.post(other + "/metrics", timeout=30)
        assert r.status_code == 405 and r.headers["Allow"] == "GET, HEAD"
    finally:
        apart.stop()

    off = start(tmp_path / "c", "--metrics", "off")
    try:
        assert requests.get(off.url + "/metrics", timeout=30).status_code == 404
        assert requests.get(off.url + "/readyz", timeout=30).status_code == 200
    finally:
        off.stop()

    cli = Recd(tmp_path / "d")
    r = cli.run("serve", "--listen", "127.0.0.1:%d" % free_port(), "--metrics-allow", "10.0.0.0/99")
    assert r.returncode == 2 and "--metrics-allow" in r.stderr, r.stderr
    r = cli.run("serve", "--metrics", "maybe")
    assert r.returncode == 2 and "--metrics" in r.stderr, r.stderr


def test_a_call_moves_the_voice_metrics(tmp_path, recd_bin):
    """One recorded call (SIPp, a TwiML app) and one to an unknown number, then the SIP, RTP,
    call, recording, webhook and storage series say so, and the gauges are back to rest."""
    from test_voice_calls import App, Voice, answered_call, pcap_of, play, run_sipp, twiml
    from sipp_util import PROVISIONAL, ack_error, invite, scenario, tones

    voice, app = Voice(tmp_path, recd_bin), App()
    try:
        before = parse(scrape(voice.server))
        rest = val(before, "recd_rtp_ports_free")
        assert rest == 200  # the test's --rtp-ports range, all free
        app.route("/voice", twiml('<Record playBeep="false" action="/done"/>'))
        app.route("/done", twiml("<Hangup/>"))
        number = voice.number(app.url + "/voice")
        pcap, ms = pcap_of(tmp_path, "m.pcap", [("pcm", tones([(0.3, []), (1.2, [1000]), (0.2, [])])),
                                                 ("dtmf", "#", 160), ("pcm", tones([(0.5, [])]))])
        run_sipp(voice, tmp_path, answered_call(play(pcap, 0)), number)
        run_sipp(voice, tmp_path, scenario(invite(), PROVISIONAL, '<recv response="404"/>\n', ack_error()),
                 "5550000")
        app.wait("/done")

        def settled(s):
            return (val(s, "recd_calls_total", status="completed") >= 1 and val(s, "recd_calls_active") == 0
                    and val(s, "recd_recordings_total", result="completed") >= 1
                    and val(s, "recd_rtp_ports_free") == rest)

        deadline = time.monotonic() + 30
        while True:
            text = scrape(voice.server)
            after = parse(text)
            if settled(after) or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert settled(after), text
        promtool_check(text)
        # Two INVITEs, plus any SIPp retransmitted because recd's 100 came after T1 on a loaded
        # machine: every message received is counted, as it should be.
        assert 2 <= val(after, "recd_sip_requests_total", method="INVITE") <= 8
        assert val(after, "recd_sip_requests_total", method="ACK") >= 2
        assert val(after, "recd_sip_responses_total", code="200") >= 1
        assert val(after, "recd_sip_responses_total", code="404") == 1
        assert val(after, "recd_rtp_packets_total", direction="received") >= 80  # 2 s of 20 ms packets
        assert val(after, "recd_rtp_packets_total", direction="sent") >= 1
        assert val(after, "recd_rtp_jitter_seconds_count") == 1
        assert val(after, "recd_recordings_active") == 0
        assert val(after, "recd_recording_duration_seconds_count") == 1
        assert 1 <= val(after, "recd_recording_duration_seconds_sum") <= 3
        assert val(after, "recd_recording_finalize_seconds_count") == 1
        assert val(after, "recd_webhook_requests_total", kind="twiml", outcome="delivered") >= 2
        assert val(after, "recd_webhook_request_duration_seconds_count", kind="twiml") >= 2
        assert val(after, "recd_store_operation_duration_seconds_count", backend=STORE_BACKEND, op="call_insert") == 1
        assert val(after, "recd_store_operation_duration_seconds_count", backend=STORE_BACKEND,
                   op="recording_finish") == 1
        assert val(after, "recd_media_operation_duration_seconds_count", backend=MEDIA_BACKEND, op="put_fd") + \
            val(after, "recd_media_operation_duration_seconds_count", backend=MEDIA_BACKEND, op="put_mem") >= 1
        for bad in (voice.account.sid, number, '"caller"'):
            assert bad not in text, bad
    finally:
        app.stop()
        voice.stop()
