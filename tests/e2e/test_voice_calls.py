"""Calls that record (contract section 7): `recd serve --sip` answers SIPp's calls, runs the TwiML
of a web application written here, records with <Record>, writes the Calls rows and sends Twilio's
callbacks, signed so that twilio's own RequestValidator accepts them.

Everything binds 127.0.0.1 on free ports; the web application is Python's http.server in a thread.
Audio goes in as G.711 RTP replayed by SIPp from pcap files built here (tones, and RFC 4733 events
in the same stream), and comes out as the recording's WAV over the API, checked by frequency.
"""

import email.utils
import json
import math
import re
import signal
import socket
import struct
import subprocess
import threading
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
from twilio.request_validator import RequestValidator

from conftest import SID_RE, Server, failed
from sipp_util import (OK_TO_BYE, PCMU_TE, PROVISIONAL, SDP, ack, ack_error, answer, bye, free_port, free_port_pair,
                       free_rtp_range, in_dialog, invite, play, scenario, sipp, sipp_cmd, tones, ulaw, write_pcap)
from test_sip_endpoint import BARESIP_CONFIG, dominant, goertzel

NUMBER_SEQ = iter(range(5551000, 5559999))


# --------------------------------------------------------------------------- the web application

class App:
    """A TwiML application: routes map a path to (status, body, delay seconds) or a function of the
    request returning that; every request is kept with its parameters and signature."""

    def __init__(self):
        self.routes = {}
        self.requests = []
        self.cv = threading.Condition()
        app = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def _serve(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n).decode() if n else ""
                path, _, query = self.path.partition("?")
                params = dict(urllib.parse.parse_qsl(query, keep_blank_values=True))
                form = dict(urllib.parse.parse_qsl(body, keep_blank_values=True))
                req = {"method": self.command, "path": path, "target": self.path, "query": params,
                       "form": form, "params": dict(params, **form),
                       "signature": self.headers.get("X-Twilio-Signature"),
                       "url": "http://127.0.0.1:%d%s" % (app.port, self.path)}
                route = app.routes.get(path, (404, "", 0))
                if callable(route):
                    route = route(req)
                status, text, delay = route
                if delay:
                    time.sleep(delay)
                data = text if isinstance(text, bytes) else text.encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "audio/wav" if isinstance(text, bytes) else "text/xml")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    pass  # recd gave up waiting (a timeout test)
                with app.cv:
                    app.requests.append(req)
                    app.cv.notify_all()

            do_GET = _serve
            do_POST = _serve

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.url = "http://127.0.0.1:%d" % self.port
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def route(self, path, body="", status=200, delay=0):
        self.routes[path] = (status, body, delay) if not callable(body) else body

    def wait(self, path, n=1, timeout=40, where=None):
        """The first n requests to path (and matching `where`), waiting for them."""
        deadline = time.monotonic() + timeout
        with self.cv:
            while True:
                got = [r for r in self.requests if r["path"] == path and (where is None or where(r))]
                if len(got) >= n:
                    return got[:n]
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("no %d requests to %s; got %r" % (
                        n, path, [(r["path"], r["params"]) for r in self.requests]))
                self.cv.wait(left)

    def to(self, path):
        return [r for r in self.requests if r["path"] == path]

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def app():
    a = App()
    yield a
    a.stop()


def twiml(inner):
    return '<?xml version="1.0" encoding="UTF-8"?><Response>%s</Response>' % inner


# --------------------------------------------------------------------------- recd with SIP

class Voice:
    """`recd serve --sip` on free ports, its own data folder, one account."""

    def __init__(self, tmp, recd_bin, serve_args=(), env=None):
        self.tmp = Path(tmp)
        self.sip_port = free_port()
        lo, hi = free_rtp_range(200)
        self.server = Server(self.tmp / "data", self.tmp / "server.log",
                             # Decoders at the requests' priority: under the suite's load,
                             # SCHED_IDLE ones (the default) can get no CPU for minutes, and
                             # test_record_transcribe_queues_a_transcription waits for one.
                             serve_args=["--sip", "127.0.0.1:%d" % self.sip_port, "--rtp-ports",
                                         "%d-%d" % (lo, hi), "--transcribe-priority", "normal"]
                             + list(serve_args), env=env)
        self.account = self.server.cli.account_create(name="voice")
        self.server.start()
        self.validator = RequestValidator(self.account.auth_token)

    @property
    def port(self):  # what test_sip_endpoint.sipp() calls
        return self.sip_port

    def number(self, voice_url, **kw):
        """Adds a new number with voice_url and the options given (--voice-method and so on)."""
        n = str(next(NUMBER_SEQ))
        args = ["number", "add", "--account", self.account.sid, "--number", n, "--voice-url", voice_url]
        for k, v in kw.items():
            args += ["--" + k.replace("_", "-"), v]
        j = json.loads(self.server.cli.ok(*args).stdout)
        assert re.match(r"^PN[0-9a-f]{32}$", j["sid"]) and j["phone_number"] == n, j
        return n

    def get(self, path, **kw):
        return self.server.get(self.account.path + path, auth=self.account.auth, **kw)

    def recording(self, sid):
        r = self.get("/Recordings/%s.json" % sid)
        assert r.status_code == 200, r.text
        return r.json()

    def call(self, sid):
        r = self.get("/Calls/%s.json" % sid)
        assert r.status_code == 200, r.text
        return r.json()

    def wav(self, url):
        r = requests.get(url + ".wav", timeout=30)
        assert r.status_code == 200, (url, r.status_code)
        return r.content

    def signed(self, req):
        """X-Twilio-Signature is what twilio's RequestValidator accepts."""
        params = req["form"] if req["method"] == "POST" else {}
        return self.validator.validate(req["url"], params, req["signature"] or "")

    def stop(self):
        """SIGTERM: the server stops cleanly, in time, with every call ended."""
        self.server.stop()
        log = self.server.log_text()
        assert self.server.proc.returncode == 0, log[-4000:]
        assert "AddressSanitizer" not in log and "runtime error" not in log, log[-4000:]


@pytest.fixture
def voice(request, tmp_path, recd_bin):
    v = Voice(tmp_path, recd_bin)
    yield v
    if failed(request):
        print("---- the server's log (last 6000 characters) ----\n" + v.server.log_text()[-6000:])
    v.stop()


# --------------------------------------------------------------------------- audio in and out

SSRC = 0x5EC0DE


def rtp_stream(parts):
    """One RTP stream (one SSRC, continuous sequence and timestamps) of 20 ms packets:
    parts are ("pcm", samples) or ("dtmf", key, ms) for an RFC 4733 event (payload type 101,
    no audio meanwhile, as most senders do)."""
    out, seq, ts, t = [], 1000, 5000, 0.0
    first = True
    for part in parts:
        if part[0] == "pcm":
            pcm = part[1]
            for i in range(0, len(pcm) - 159, 160):
                hdr = struct.pack("!BBHII", 0x80, (0x80 if first else 0) | 0, seq & 0xFFFF, ts & 0xFFFFFFFF, SSRC)
                out.append((t, hdr + bytes(ulaw(s) for s in pcm[i:i + 160])))
                first = False
                seq, ts, t = seq + 1, ts + 160, t + 0.02
        else:
            _, key, ms = part
            code = "0123456789*#".index(key)
            steps = ms // 20
            for k in range(1, steps + 1):
                end = k == steps
                payload = struct.pack("!BBH", code, (0x80 if end else 0) | 10, 160 * k)
                copies = 3 if end else 1
                for _ in range(copies):
                    hdr = struct.pack("!BBHII", 0x80, (0x80 if k == 1 else 0) | 101, seq & 0xFFFF,
                                      ts & 0xFFFFFFFF, SSRC)
                    out.append((t, hdr + payload))
                    seq += 1
                t += 0.02
            ts += 160 * steps
    return out


def pcap_of(tmp, name, parts):
    path = Path(tmp) / name
    write_pcap(path, rtp_stream(parts))
    total_ms = sum(len(p[1]) // 8 if p[0] == "pcm" else p[2] for p in parts)
    return path, total_ms


def wav_samples(data):
    """The samples of a mono 16-bit 8 kHz WAV (checking the header's format)."""
    assert data[:4] == b"RIFF" and data[8:12] == b"WAVE"
    pos, fmt, samples = 12, None, None
    while pos + 8 <= len(data):
        cid, size = data[pos:pos + 4], struct.unpack("<I", data[pos + 4:pos + 8])[0]
        body = data[pos + 8:pos + 8 + size]
        if cid == b"fmt ":
            fmt = struct.unpack("<HHIIHH", body[:16])
        elif cid == b"data":
            samples = list(struct.unpack("<%dh" % (len(body) // 2), body[:len(body) // 2 * 2]))
        pos += 8 + size + (size & 1)
    assert fmt and fmt[0] == 1 and fmt[1] == 1 and fmt[2] == 8000 and fmt[5] == 16, fmt
    return samples


def tone_sequence(samples, freqs, block=800):
    """The distinct tones heard in order, each at least 3 blocks of 100 ms long."""
    blocks = [dominant(samples[i:i + block], freqs) for i in range(0, len(samples) - block + 1, block)]
    seq, run, cur = [], 0, None
    for b in blocks + [None]:
        if b == cur:
            run += 1
            continue
        if cur is not None and run >= 3 and (not seq or seq[-1] != cur):
            seq.append(cur)
        cur, run = b, 1
    return seq


DTMF_FREQS = (697, 770, 852, 941, 1209, 1336, 1477)


def no_dtmf(samples):
    """No 20 ms window whose energy is mostly a DTMF pair."""
    for i in range(0, len(samples) - 159, 160):
        if dominant(samples[i:i + 160], DTMF_FREQS + (440, 1000, 660)) in DTMF_FREQS:
            return False
    return True


def answered_call(*parts, hangup_by_recd=True):
    """A SIPp scenario: INVITE, 200, ACK, then parts, then a BYE from recd (or one of its own).
    When recd hangs up, play audio with play(pcap, 0): SIPp keeps sending it while it waits for
    the BYE, which may come before the audio ends."""
    tail = OK_TO_BYE if hangup_by_recd else bye()
    return scenario(invite(), PROVISIONAL, '<recv response="200" rrs="true"/>\n', ack(), *parts, tail)


def run_sipp(voice, tmp_path, xml, number, timeout=60):
    rc, log = sipp(voice, tmp_path, xml, service=number, timeout=timeout)
    assert rc == 0, log[-3000:] + "\n--- recd:\n" + voice.server.log_text()[-3000:]
    return log


def voice_params_ok(voice, req, number, status):
    p = req["params"]
    assert SID_RE["CA"].match(p["CallSid"]), p
    assert p["AccountSid"] == voice.account.sid
    assert p["From"] == p["Caller"] == "caller"
    assert p["To"] == p["Called"] == number
    assert p["CallStatus"] == status
    assert p["Direction"] == "inbound"
    assert p["ApiVersion"] == "2010-04-01"
    assert voice.signed(req), req


# --------------------------------------------------------------------------- the tests

def test_voicemail_record_finish_on_key(voice, app, tmp_path):
    """<Say> + <Record>: in-progress while recording, completed after; the action carries every
    parameter and the WAV is fetchable when it comes; the audio is the tones sent, in order, with
    the '#' that ended it left out; the call row and status callback say completed."""
    seen = {}

    def rsc(req):
        if req["params"].get("RecordingStatus") == "in-progress":
            seen["during"] = voice.recording(req["params"]["RecordingSid"])["status"]
        return 200, "", 0

    def done(req):
        seen["wav_status"] = requests.get(req["params"]["RecordingUrl"], timeout=10).status_code
        return 200, twiml("<Hangup/>"), 0

    def voice_url(req):
        # The call's row is there when its application is first asked, and says so.
        seen["row_at_voice"] = voice.call(req["params"]["CallSid"])["status"]
        return 200, twiml('<Say>Hi</Say><Record action="/done" recordingStatusCallback="/rsc" '
                          'recordingStatusCallbackEvent="in-progress completed"/>'), 0

    def status_cb(req):
        seen["row_at_status"] = voice.call(req["params"]["CallSid"])["status"]
        return 200, "", 0

    app.route("/voice", voice_url)
    app.route("/done", done)
    app.route("/rsc", rsc)
    app.route("/status", status_cb)
    number = voice.number(app.url + "/voice", status_callback=app.url + "/status")
    # 3.5 s before the first tone: the TwiML fetch, the <Say> and the beep must be over by then, or
    # the tones (and the '#') go by before the recording starts; a loaded machine needs the margin.
    pcap, ms = pcap_of(tmp_path, "vm.pcap", [("pcm", tones([(3.5, []), (1.0, [440]), (1.0, [1000]),
                                                            (1.0, [660]), (0.3, [])])),
                                              ("dtmf", "#", 160), ("pcm", tones([(0.5, [])]))])
    run_sipp(voice, tmp_path, answered_call(play(pcap, 0)), number)

    first = app.wait("/voice")[0]
    voice_params_ok(voice, first, number, "ringing")
    assert first["method"] == "POST"
    action = app.wait("/done")[0]
    voice_params_ok(voice, action, number, "in-progress")
    p = action["params"]
    assert p["Digits"] == "#"
    assert SID_RE["RE"].match(p["RecordingSid"])
    assert p["RecordingUrl"] == "%s%s/Recordings/%s" % (voice.server.url, voice.account.path, p["RecordingSid"])
    assert 3 <= int(p["RecordingDuration"]) <= 8, p
    assert seen["wav_status"] == 200
    assert seen["during"] == "in-progress"
    completed = app.wait("/rsc", where=lambda r: r["params"]["RecordingStatus"] == "completed")[0]
    assert completed["params"]["RecordingSid"] == p["RecordingSid"]
    assert completed["params"]["RecordingSource"] == "RecordVerb"
    assert voice.signed(completed)

    rec = voice.recording(p["RecordingSid"])
    assert rec["status"] == "completed" and rec["source"] == "RecordVerb"
    assert rec["call_sid"] == p["CallSid"]
    samples = wav_samples(voice.wav(p["RecordingUrl"]))
    assert tone_sequence(samples, (440, 1000, 660)) == [440, 1000, 660]
    assert no_dtmf(samples)

    status = app.wait("/status")[0]
    assert status["params"]["CallStatus"] == "completed"
    assert seen["row_at_voice"] == "ringing" and seen["row_at_status"] == "completed", seen
    assert int(status["params"]["CallDuration"]) >= 4
    assert voice.signed(status)
    call = voice.call(p["CallSid"])
    assert call["status"] == "completed" and call["direction"] == "inbound"
    assert call["to"] == number and call["from"] == "caller"
    assert int(call["duration"]) >= 4


def test_record_silence_timeout_and_relative_get_action(voice, app, tmp_path):
    """Two seconds of silence end the recording; no Digits; a relative GET action."""
    app.route("/ivr/voice", twiml('<Record timeout="2" playBeep="false" action="next?x=1" method="GET"/>'))
    app.route("/ivr/next", twiml("<Hangup/>"))
    number = voice.number(app.url + "/ivr/voice")
    pcap, ms = pcap_of(tmp_path, "s.pcap", [("pcm", tones([(0.5, []), (1.0, [1000]), (4.0, [])]))])
    run_sipp(voice, tmp_path, answered_call(play(pcap, 0)), number)
    action = app.wait("/ivr/next")[0]
    assert action["method"] == "GET" and action["query"]["x"] == "1"
    assert "Digits" not in action["params"]
    assert voice.signed(action)
    samples = wav_samples(voice.wav(action["params"]["RecordingUrl"]))
    assert tone_sequence(samples, (440, 1000, 660)) == [1000]


def test_hangup_mid_record(voice, app, tmp_path):
    """The caller hangs up while recording: the action still comes, Digits=hangup,
    CallStatus=completed, with the audio so far."""
    app.route("/voice", twiml('<Record playBeep="false" action="/done"/><Say>never</Say>'))
    app.route("/done", twiml("<Say>ignored</Say>"))
    number = voice.number(app.url + "/voice")
    # SIPp plays from the ACK on, but recording starts only once recd has fetched the TwiML: the
    # leading silence gives a loaded machine 1.5 s for that, so the tone is never cut to nothing.
    pcap, ms = pcap_of(tmp_path, "h.pcap", [("pcm", tones([(1.5, []), (1.2, [660])]))])
    run_sipp(voice, tmp_path, answered_call(play(pcap, ms), hangup_by_recd=False), number)
    action = app.wait("/done")[0]
    p = action["params"]
    assert p["Digits"] == "hangup" and p["CallStatus"] == "completed", p
    samples = wav_samples(voice.wav(p["RecordingUrl"]))
    assert tone_sequence(samples, (440, 1000, 660)) == [660]


def test_absent_recording_goes_on_without_action(voice, app, tmp_path):
    """Silence only: absent (16102), the absent callback, no action request, the next verb runs."""
    app.route("/voice", twiml('<Record playBeep="false" timeout="1" action="/done" recordingStatusCallback="/rsc" '
                              'recordingStatusCallbackEvent="absent completed"/><Redirect>/after</Redirect>'))
    app.route("/after", twiml("<Hangup/>"))
    app.route("/rsc", "")
    number = voice.number(app.url + "/voice")
    pcap, ms = pcap_of(tmp_path, "a.pcap", [("pcm", tones([(3.0, [])]))])
    run_sipp(voice, tmp_path, answered_call(play(pcap, 0)), number)
    app.wait("/after")
    cb = app.wait("/rsc")[0]["params"]
    assert cb["RecordingStatus"] == "absent" and cb["ErrorCode"] in ("16101", "16102"), cb
    assert not app.to("/done")
    rec = voice.recording(cb["RecordingSid"])
    assert rec["status"] == "absent"


def test_unknown_number_404(voice, tmp_path):
    xml = scenario(invite(), PROVISIONAL, '<recv response="404"/>\n', ack_error())
    log = run_sipp(voice, tmp_path, xml, "5550000")
    assert "SIP/2.0 404" in log


@pytest.mark.parametrize("kind", ["500", "timeout", "invalid-xml", "unknown-verb"])
def test_bad_webhook_goes_to_fallback(voice, app, tmp_path, kind):
    """A failing voice URL: the fallback URL is asked with ErrorCode and ErrorUrl, and runs."""
    if kind == "500":
        app.route("/voice", "oops", status=500)
        code = "11200"
    elif kind == "timeout":
        # recd again with its webhook timeout (Twilio's 15 s) cut to 2 s, so the test waits 4 s.
        voice.server.stop()
        voice.server.serve_args += ["--webhook-timeout-seconds", "2"]
        voice.server.start()
        app.route("/voice", twiml("<Hangup/>"), delay=4)
        code = None  # the webhook client's code for a timeout
    elif kind == "invalid-xml":
        app.route("/voice", "<Response><Say>x</Response>")
        code = "12100"
    else:
        app.route("/voice", twiml("<Dance/>"))
        code = "12100"
    app.route("/fallback", twiml('<Reject reason="busy"/>'))
    number = voice.number(app.url + "/voice", voice_fallback_url=app.url + "/fallback")
    xml = scenario(invite(), PROVISIONAL, '<recv response="486"/>\n', ack_error())
    run_sipp(voice, tmp_path, xml, number)
    fb = app.wait("/fallback")[0]
    assert fb["params"]["ErrorUrl"] == app.url + "/voice"
    if code:
        assert fb["params"]["ErrorCode"] == code
    assert voice.signed(fb)


def test_bad_webhook_without_fallback_says_error_and_hangs_up(voice, app, tmp_path):
    app.route("/voice", "oops", status=500)
    number = voice.number(app.url + "/voice")
    run_sipp(voice, tmp_path, answered_call(), number)
    sid = app.wait("/voice")[0]["params"]["CallSid"]
    # SIPp returns when its side is done; the engine writes the final status just after.
    deadline = time.monotonic() + 10
    call = voice.call(sid)
    while call["status"] != "completed" and time.monotonic() < deadline:
        time.sleep(0.1)
        call = voice.call(sid)
    assert call["status"] == "completed"


def test_record_transcribe_queues_a_transcription(voice, app, tmp_path):
    """<Record transcribe="true" transcribeCallback>: the completed recording's Transcription is
    queued with it (contract §8), and the callback names both, signed like every webhook."""
    app.route("/voice", twiml('<Record timeout="2" playBeep="false" transcribe="true" '
                              'transcribeCallback="/tcb" action="/done"/>'))
    app.route("/done", twiml("<Hangup/>"))
    app.route("/tcb", "")
    number = voice.number(app.url + "/voice")
    pcap, ms = pcap_of(tmp_path, "t.pcap", [("pcm", tones([(0.3, []), (1.5, [440]), (3.0, [])]))])
    run_sipp(voice, tmp_path, answered_call(play(pcap, 0)), number)
    rec_sid = app.wait("/done")[0]["params"]["RecordingSid"]
    # The Transcription exists as soon as the recording is fetchable: same transaction.
    r = voice.get("/Recordings/%s/Transcriptions.json" % rec_sid)
    assert r.status_code == 200, r.text
    trs = r.json()["transcriptions"]
    assert len(trs) == 1 and trs[0]["recording_sid"] == rec_sid, trs
    assert trs[0]["status"] in ("in-progress", "completed"), trs
    cb = app.wait("/tcb", timeout=120)[0]
    p = cb["params"]
    assert p["TranscriptionSid"] == trs[0]["sid"] and p["RecordingSid"] == rec_sid, p
    assert p["TranscriptionStatus"] in ("completed", "failed"), p
    assert voice.signed(cb)


@pytest.mark.alone  # 20 real-time streams at once
def test_twenty_concurrent_calls_each_with_its_own_tone(voice, app, tmp_path):
    """Twenty calls at once, each sending its own frequency: every recording holds its own tone
    and only it."""
    freqs = [500 + 60 * i for i in range(20)]
    app.route("/voice", twiml('<Record playBeep="false" timeout="0" maxLength="3" action="/done"/>'))
    app.route("/done", twiml("<Hangup/>"))
    number = voice.number(app.url + "/voice")
    procs = []
    for i, f in enumerate(freqs):
        d = tmp_path / ("c%d" % i)
        d.mkdir()
        pcap, ms = pcap_of(d, "t.pcap", [("pcm", tones([(5.0, [f])]))])
        path = d / "s.xml"
        path.write_text(answered_call(play(pcap, 0)))
        procs.append(subprocess.Popen(sipp_cmd(voice.sip_port, path, number, 60), cwd=d, stdout=subprocess.PIPE,
                                      stderr=subprocess.STDOUT))
    for p in procs:
        out, _ = p.communicate(timeout=90)
        assert p.returncode == 0, out.decode(errors="replace")[-2000:]
    actions = app.wait("/done", n=20)
    heard = []
    for a in actions:
        samples = wav_samples(voice.wav(a["params"]["RecordingUrl"]))
        seq = tone_sequence(samples, freqs)
        assert len(seq) == 1, seq
        heard.append(seq[0])
    assert sorted(heard) == freqs


def test_kill_9_mid_call_then_restart(voice, app, tmp_path):
    """The server dies mid-recording; on restart the recording is completed from its spool with
    its true length, and the call is no longer live."""
    app.route("/voice", twiml('<Record playBeep="false" timeout="0" action="/done" '
                              'recordingStatusCallback="/rsc" recordingStatusCallbackEvent="in-progress"/>'))
    app.route("/rsc", "")
    number = voice.number(app.url + "/voice")
    pcap, ms = pcap_of(tmp_path, "k.pcap", [("pcm", tones([(6.0, [1000])]))])
    path = tmp_path / "k.xml"
    path.write_text(scenario(invite(), PROVISIONAL, '<recv response="200" rrs="true"/>\n', ack(),
                             play(pcap, ms), '<recv request="BYE" optional="true" timeout="2000"/>\n'))
    p = subprocess.Popen(sipp_cmd(voice.sip_port, path, number, 30, timeout_error=False), cwd=tmp_path,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        sid = app.wait("/rsc")[0]["params"]["RecordingSid"]
        call_sid = app.wait("/voice")[0]["params"]["CallSid"]
        time.sleep(3.5)  # let the spool hold a few seconds of audio (the assertion is on content)
        killed = time.time()
        voice.server.proc.send_signal(signal.SIGKILL)
        voice.server.proc.wait()
    finally:
        p.kill()
        p.wait()
    time.sleep(2.5)  # so that "when the server came back" is not a right answer for the call's end
    voice.server.restart()
    rec = voice.recording(sid)
    assert rec["status"] == "completed", rec
    assert int(rec["duration"]) >= 2
    samples = wav_samples(requests.get("%s%s/Recordings/%s.wav" % (voice.server.url, voice.account.path, sid),
                                       timeout=30).content)
    assert tone_sequence(samples, (440, 1000, 660)) == [1000]
    call = voice.call(call_sid)
    assert call["status"] == "completed"
    # The call ended when the server died, as its spool's last write tells (to the second, as
    # Twilio's dates go): not when the server came back.
    end = email.utils.parsedate_to_datetime(call["end_time"]).timestamp()
    assert killed - 1.5 <= end <= killed + 1, (call["end_time"], killed)


def test_gather_digits_interrupt_the_prompt(voice, app, tmp_path):
    """<Gather numDigits="2">: keys sent as RFC 4733 events during the prompt end it with
    Digits=42 at the action; the caller is then hung up by the action's document."""
    app.route("/voice", twiml('<Gather numDigits="2" action="/g"><Say loop="0">Press two keys</Say></Gather>'
                              '<Say>none</Say>'))
    app.route("/g", twiml("<Hangup/>"))
    number = voice.number(app.url + "/voice")
    pcap, ms = pcap_of(tmp_path, "g.pcap", [("pcm", tones([(1.0, [])])), ("dtmf", "4", 100),
                                             ("pcm", tones([(0.3, [])])), ("dtmf", "2", 100),
                                             ("pcm", tones([(2.0, [])]))])
    run_sipp(voice, tmp_path, answered_call(play(pcap, 0)), number)
    g = app.wait("/g")[0]
    assert g["params"]["Digits"] == "42" and g["params"]["FinishedOnKey"] == "", g["params"]
    assert voice.signed(g)


# --------------------------------------------------------------------------- live-call recording

class PyCaller:
    """A caller written here (SIP over UDP and paced RTP), so that the test can send audio in
    steps between API requests: what it sends after a request returns is what the server saw
    after the request took effect."""

    def __init__(self, sip_port, number):
        from test_sip_endpoint import raw_invite
        self.sip_port = sip_port
        self.sip = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sip.bind(("127.0.0.1", 0))
        self.local = self.sip.getsockname()[1]
        self.rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.rtp.bind(("127.0.0.1", free_rtp_range(2)[0]))
        self.call_id = uuid.uuid4().hex
        self.number = number
        self.seq, self.ts = 100, 1000
        self.sip.sendto(raw_invite(sip_port, self.local, number, self.call_id, self.rtp.getsockname()[1]),
                        ("127.0.0.1", sip_port))
        self.sip.settimeout(30)
        while True:
            msg = self.sip.recv(65535).decode(errors="replace")
            code = int(msg.split(" ", 2)[1])
            if code >= 200:
                break
        assert code == 200, msg
        self.to = re.search(r"\r\nTo: ([^\r\n]+)", msg).group(1)
        port = int(re.search(r"m=audio (\d+) ", msg).group(1))
        self.remote = ("127.0.0.1", port)
        self._send("ACK", 1)

    def _send(self, method, cseq):
        req = ("%s sip:%s@127.0.0.1:%d SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:%d;rport;branch=z9hG4bK%s\r\n"
               "From: <sip:py@127.0.0.1:%d>;tag=%s\r\nTo: %s\r\nCall-ID: %s\r\nCSeq: %d %s\r\n"
               "Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
               % (method, self.number, self.sip_port, self.local, uuid.uuid4().hex, self.local,
                  self.call_id[:8], self.to, self.call_id, cseq, method))
        self.sip.sendto(req.encode(), ("127.0.0.1", self.sip_port))

    def send(self, pcm):
        """Sends pcm as 20 ms PCMU packets, paced in real time."""
        t0 = time.monotonic()
        for k, i in enumerate(range(0, len(pcm) - 159, 160)):
            hdr = struct.pack("!BBHII", 0x80, 0, self.seq & 0xFFFF, self.ts & 0xFFFFFFFF, 0xCA11)
            self.rtp.sendto(hdr + bytes(ulaw(s) for s in pcm[i:i + 160]), self.remote)
            self.seq += 1
            self.ts += 160
            delay = t0 + 0.02 * (k + 1) - time.monotonic()
            if delay > 0:
                time.sleep(delay)

    def read_recd(self):
        """Reads every packet of recd's that waits on the socket; returns how many there were."""
        n = 0
        self.rtp.setblocking(False)
        try:
            while True:
                self.rtp.recv(2048)
                n += 1
        except BlockingIOError:
            pass
        finally:
            self.rtp.setblocking(True)
        return n

    def settle(self, event=None, timeout=60):
        """Keeps sending silence, as a phone does, until `event` (if given) is set and recd has
        taken in what this caller sent before, which is known by cause, not by time. recd's media
        loop (one thread: the RTP sockets and the 20 ms media clock) sends a packet a tick. One it
        sends after this caller's last packet was in its socket (loopback delivers on send) and
        after the socket here was emptied comes from a later turn of that loop; the turns read what
        waits (a datagram each, microseconds when no tick is due), and a packet read goes to the
        recording at once, or after at most RECD_RTP_RX_DEPTH (4) frames held for reordering. 25
        of recd's packets (half a second of its media clock) cover that many times over, however
        long they take on a loaded machine."""
        deadline = time.monotonic() + timeout
        self.read_recd()
        later = 0
        while (event is not None and not event.is_set()) or later < 25:
            assert time.monotonic() < deadline, "waited %d s" % timeout
            self.send(tones([(0.02, [])]))
            later += self.read_recd()

    def bye(self):
        self._send("BYE", 2)
        self.sip.close()
        self.rtp.close()


def test_live_call_recording_pause_resume_stop(voice, app, tmp_path):
    """POST /Calls/CA…/Recordings through twilio's own client: started in progress, paused with
    PauseBehavior=skip (what the caller says meanwhile is nowhere in the file), resumed through
    Twilio.CURRENT, stopped; the completed callback; then 21220 once the call is over."""
    from twilio.base.exceptions import TwilioRestException
    from twilio.rest import Client
    app.route("/voice", twiml('<Pause length="120"/>'))
    app.route("/live", "")
    number = voice.number(app.url + "/voice")
    client = Client(voice.account.sid, voice.account.auth_token, environment={})
    client.api.base_url = voice.server.url
    caller = PyCaller(voice.sip_port, number)
    try:
        call_sid = app.wait("/voice")[0]["params"]["CallSid"]
        caller.send(tones([(0.2, [])]))
        t_start = time.monotonic()
        rec = client.calls(call_sid).recordings.create(
            recording_status_callback=app.url + "/live",
            recording_status_callback_event=["in-progress", "completed"])
        assert SID_RE["RE"].match(rec.sid) and rec.status == "in-progress" and rec.call_sid == call_sid
        assert rec.source == "StartCallRecordingAPI" and rec.track == "both"  # Twilio's default
        caller.send(tones([(1.5, [440])]))
        caller.settle()
        r = client.calls(call_sid).recordings(rec.sid).update(status="paused", pause_behavior="skip")
        assert r.status == "paused" and r.sid == rec.sid
        t_paused = time.monotonic()
        caller.send(tones([(1.5, [1000])]))
        caller.settle()
        t_resume = time.monotonic()
        r = client.calls(call_sid).recordings("Twilio.CURRENT").update(status="in-progress")
        assert r.status == "in-progress" and r.sid == rec.sid
        caller.send(tones([(1.5, [660])]))
        caller.settle()
        r = client.calls(call_sid).recordings(rec.sid).update(status="stopped")
        assert r.status == "stopped"
        t_stop = time.monotonic()
        done = app.wait("/live", where=lambda q: q["params"]["RecordingStatus"] == "completed")[0]
        assert app.wait("/live")[0]["params"]["RecordingStatus"] == "in-progress"
        assert voice.signed(done)
        assert done["params"]["RecordingSource"] == "StartCallRecordingAPI"
        samples = wav_samples(voice.wav(done["params"]["RecordingUrl"]))
        assert tone_sequence(samples, (440, 1000, 660)) == [440, 660]
        blocks = [dominant(samples[i:i + 160], (440, 1000, 660)) for i in range(0, len(samples) - 159, 160)]
        assert 1000 not in blocks  # not one 20 ms of the paused speech
        # skip: the pause left out, not filled with silence. The file spans at most the time from
        # the start request to the stop's answer less the pause (at least from its answer to the
        # resume request: 1.5 s of tone and settling), give or take a few packets of jitter.
        assert len(samples) / 8000 < (t_stop - t_start) - (t_resume - t_paused) + 0.5, (
            len(samples) / 8000, t_stop - t_start, t_resume - t_paused)
    finally:
        caller.bye()
    sid = app.wait("/voice")[0]["params"]["CallSid"]
    deadline = time.monotonic() + 20
    while voice.call(sid)["status"] != "completed" and time.monotonic() < deadline:
        time.sleep(0.05)
    with pytest.raises(TwilioRestException) as e:
        client.calls(sid).recordings.create()
    assert e.value.code == 21220 and e.value.status == 400
    with pytest.raises(TwilioRestException) as e:
        client.calls("CA" + "0" * 32).recordings.create()
    assert e.value.status == 404


def wav_frames(data):
    """(channels, [channel 1 samples], [channel 2 samples or None]) of a 16-bit 8 kHz WAV."""
    assert data[:4] == b"RIFF" and data[8:12] == b"WAVE"
    pos, fmt, body = 12, None, b""
    while pos + 8 <= len(data):
        cid, size = data[pos:pos + 4], struct.unpack("<I", data[pos + 4:pos + 8])[0]
        if cid == b"fmt ":
            fmt = struct.unpack("<HHIIHH", data[pos + 8:pos + 24])
        elif cid == b"data":
            body = data[pos + 8:pos + 8 + size]
        pos += 8 + size + (size & 1)
    ch = fmt[1]
    assert fmt[0] == 1 and fmt[2] == 8000 and fmt[3] == 16000 * ch and fmt[4] == 2 * ch and fmt[5] == 16, fmt
    pcm = struct.unpack("<%dh" % (len(body) // 2), body[:len(body) // 2 * 2])
    return ch, list(pcm[0::ch]), (list(pcm[1::2]) if ch == 2 else None)


def route_play(app):
    """The app answers the call with a second's pause, then a <Play> of /b.wav (which the test
    routes) and a long pause; the event is set when recd asks for the <Play> document."""
    asked = threading.Event()

    def play(req):
        asked.set()
        return 200, twiml('<Play>/b.wav</Play><Pause length="60"/>'), 0

    app.route("/voice", twiml('<Pause length="1"/><Redirect>/play</Redirect>'))
    app.route("/play", play)
    return asked


def wait_for_play(caller, asked):
    """The caller keeps sending silence, as phones do, until it hears recd's <Play> begin (the WAV
    is fetched and decoded first), so that the two sides' tones run in step."""
    caller.rtp.setblocking(False)
    deadline = time.monotonic() + 20
    heard = False
    while not heard and time.monotonic() < deadline:
        caller.send(tones([(0.02, [])]))
        try:
            while not heard:
                pkt = caller.rtp.recv(2048)
                heard = asked.is_set() and any(b not in (0xFF, 0x7F, 0xFE, 0x7E) for b in pkt[12:])
        except BlockingIOError:
            pass
    caller.rtp.setblocking(True)
    assert heard, "recd never played /b.wav"


def gated_steps(app, steps):
    """Routes each (path, gate, document) of steps: the application answers `path` only once the
    test has set `gate` (None: at once). Returns, by path, an event set when recd asks for it.
    A step that ends its document with <Redirect> to the next path tells the test when recd has
    sent the last of its audio (a <Play> ends when its last packet has gone out), so that each
    side's audio can be put on the right side of an API request by cause, not by a clock."""
    asked = {}
    for path, gate, doc in steps:
        asked[path] = threading.Event()

        def answer(req, path=path, gate=gate, doc=doc):
            asked[path].set()
            if gate is not None and not gate.wait(60):
                return 500, "", 0  # never opened: answer as a broken application would
            return 200, twiml(doc), 0
        app.route(path, answer)
    return asked


def test_live_call_recording_dual_channels(voice, app, tmp_path):
    """RecordingChannels=dual: a 2-channel WAV, the caller's tones on channel 1 and what recd played
    (a <Play> of a WAV) on channel 2, neither in the other; a PauseBehavior=silence pause is
    silence on both channels, the tones of both sides meanwhile absent; channels 2 on the row and
    in the callbacks; the mono downmix, MP3 and peaks of the 2-channel file.

    Each side's audio is placed by cause, not by two clocks kept in step: recd plays its tone of
    each stage only after the API request that opens the stage has been answered (the application
    holds the next TwiML document until then), and the test sends the request that closes a stage
    only after recd has asked for the next document (so has sent all of its tone). The caller's
    tones are sent after a request's answer, and the next request waits until recd has taken
    them in (PyCaller.settle). Nothing here depends on how long a request, a store write or a
    turn of recd's media loop takes.
    """
    caller_tones = (440, 660, 880)
    played_tones = (1000, 1400, 1800)
    every = caller_tones + played_tones
    started, paused, resumed = threading.Event(), threading.Event(), threading.Event()
    # Each <Play> ends in 0.2 s of silence: its last packet is fed to the recording just after it
    # leaves the queue, which is what ends the <Play>.
    for f in played_tones:
        app.route("/%d.wav" % f, wav_bytes(tones([(1.5, [f]), (0.2, [])])))
    asked = gated_steps(app, [
        ("/play", started, '<Play>/1000.wav</Play><Redirect>/paused</Redirect>'),
        ("/paused", paused, '<Play>/1400.wav</Play><Redirect>/resumed</Redirect>'),
        ("/resumed", resumed, '<Play>/1800.wav</Play><Redirect>/end</Redirect>'),
        ("/end", None, '<Pause length="60"/>')])
    app.route("/voice", twiml('<Pause length="1"/><Redirect>/play</Redirect>'))
    app.route("/live", "")
    number = voice.number(app.url + "/voice")
    caller = PyCaller(voice.sip_port, number)

    def update(sid, status):
        r = voice.server.request("POST", voice.account.path + "/Calls/%s/Recordings/%s.json" % (call_sid, sid),
                                 auth=voice.account.auth, data={"Status": status})
        assert r.status_code == 200, r.text
        return r.json()

    try:
        call_sid = app.wait("/voice")[0]["params"]["CallSid"]
        caller.send(tones([(0.2, [])]))
        path = "/Calls/%s/Recordings.json" % call_sid
        r = voice.server.request("POST", voice.account.path + path, auth=voice.account.auth,
                                 data={"RecordingChannels": "dual", "RecordingStatusCallback": app.url + "/live",
                                       "RecordingStatusCallbackEvent": "in-progress completed"})
        assert r.status_code == 201, r.text
        rec = r.json()
        assert rec["channels"] == 2 and rec["status"] == "in-progress"
        started.set()
        caller.send(tones([(1.5, [440])]))
        caller.settle(asked["/paused"])
        r = update(rec["sid"], "paused")
        assert r["status"] == "paused" and r["channels"] == 2, r
        paused.set()
        caller.send(tones([(1.5, [660])]))
        caller.settle(asked["/resumed"])
        update("Twilio.CURRENT", "in-progress")
        resumed.set()
        caller.send(tones([(1.5, [880])]))
        caller.settle(asked["/end"])
        update(rec["sid"], "stopped")
        done = app.wait("/live", where=lambda q: q["params"]["RecordingStatus"] == "completed")[0]
    finally:
        for gate in (started, paused, resumed):
            gate.set()  # a failed test lets recd's requests go
        caller.bye()
    started = app.wait("/live")[0]["params"]
    assert started["RecordingStatus"] == "in-progress" and started["RecordingChannels"] == "2"
    assert done["params"]["RecordingChannels"] == "2" and voice.signed(done)
    assert voice.recording(rec["sid"])["channels"] == 2
    data = voice.wav(done["params"]["RecordingUrl"])
    ch, one, two = wav_frames(data)
    assert ch == 2
    assert tone_sequence(one, every) == [440, 880], tone_sequence(one, every)
    assert tone_sequence(two, every) == [1000, 1800], tone_sequence(two, every)
    # Not a 20 ms block of either side's paused tone, on either channel.
    for chan in (one, two):
        blocks = [dominant(chan[i:i + 160], every) for i in range(0, len(chan) - 159, 160)]
        assert 660 not in blocks and 1400 not in blocks
    # silence: the pause is in the file, as exact silence on both channels at once. It lasted at
    # least the caller's 1.5 s of 660 Hz, and recd's 1.7 s <Play> that followed it.
    run = best = 0
    for a, b in zip(one, two):
        run = run + 1 if a == 0 and b == 0 else 0
        best = max(best, run)
    assert best >= 8000 * 1.5, best
    assert len(one) >= 8000 * 5.5
    # What is derived from a 2-channel file: the downmix has both sides, the MP3 and peaks two.
    url = done["params"]["RecordingUrl"]
    mono = requests.get(url + ".wav?RequestedChannels=1", timeout=30)
    assert mono.status_code == 200
    ch, m, _ = wav_frames(mono.content)
    assert ch == 1 and m == [(x + y) // 2 for x, y in zip(one, two)]
    mp3 = requests.get(url + ".mp3", timeout=30)
    assert mp3.status_code == 200 and mp3.headers["Content-Type"] == "audio/mpeg"
    pk = voice.server.get("/recd/Accounts/%s/Recordings/%s/Peaks.json" % (voice.account.sid, rec["sid"]),
                          auth=voice.account.auth)
    assert pk.status_code == 200 and pk.json()["channels"] == 2, pk.text


def test_live_call_recording_tracks(voice, app, tmp_path):
    """RecordingTrack on one-channel recordings, three of one call at once: `both` (Twilio's
    default) holds the caller's tones and what recd played, summed; `outbound` what recd played
    only; `inbound` the caller only, and stays one channel even when dual is asked."""
    asked = route_play(app)
    app.route("/b.wav", wav_bytes(tones([(2.0, [1000]), (3.0, [])])))
    number = voice.number(app.url + "/voice")
    caller = PyCaller(voice.sip_port, number)
    recs = {}
    try:
        call_sid = app.wait("/voice")[0]["params"]["CallSid"]
        caller.send(tones([(0.2, [])]))
        for track, extra in ((None, {}), ("outbound", {}), ("inbound", {"RecordingChannels": "dual"})):
            data = dict(extra, **({"RecordingTrack": track} if track else {}))
            r = voice.server.request("POST", voice.account.path + "/Calls/%s/Recordings.json" % call_sid,
                                     auth=voice.account.auth, data=data)
            assert r.status_code == 201, r.text
            assert r.json()["track"] == (track or "both") and r.json()["channels"] == 1, r.text
            recs[track or "both"] = r.json()["sid"]
        wait_for_play(caller, asked)
        caller.send(tones([(1.5, [440]), (0.6, []), (1.5, [660]), (0.2, [])]))
        for track, sid in recs.items():
            r = voice.server.request("POST", voice.account.path + "/Calls/%s/Recordings/%s.json" % (call_sid, sid),
                                     auth=voice.account.auth, data={"Status": "stopped"})
            assert r.status_code == 200 and r.json()["track"] == track, r.text
    finally:
        caller.bye()
    got = {}
    for track, sid in recs.items():
        deadline = time.monotonic() + 20
        while voice.recording(sid)["status"] == "in-progress" and time.monotonic() < deadline:
            time.sleep(0.05)
        rec = voice.recording(sid)
        assert rec["status"] == "completed" and rec["channels"] == 1, rec
        url = "%s%s/Recordings/%s.wav" % (voice.server.url, voice.account.path, sid)
        ch, samples, _ = wav_frames(requests.get(url, timeout=30).content)
        assert ch == 1
        # The amplitude of each tone per 100 ms block: strong (a tone of 8000, through G.711) or not.
        blocks = [samples[i:i + 800] for i in range(0, len(samples) - 799, 800)]
        got[track] = {f: sum(1 for b in blocks if math.sqrt(goertzel(b, f)) * 2 / 800 > 3000)
                      for f in (440, 660, 1000)}
    # Each tone lasts 1.5 s or more: at least 10 strong blocks where it is heard, none elsewhere.
    assert min(got["both"].values()) >= 10, got
    assert got["outbound"][1000] >= 10 and got["outbound"][440] == got["outbound"][660] == 0, got
    assert got["inbound"][440] >= 10 and got["inbound"][660] >= 10 and got["inbound"][1000] == 0, got


def wav_bytes(samples):
    return (b"RIFF" + struct.pack("<I", 36 + 2 * len(samples)) + b"WAVEfmt " +
            struct.pack("<IHHIIHH", 16, 1, 1, 8000, 16000, 2, 16) + b"data" +
            struct.pack("<I", 2 * len(samples)) + struct.pack("<%dh" % len(samples), *samples))


def test_play_audio_is_fetched_once_for_two_calls(voice, app, tmp_path):
    """<Play> audio is decoded once and cached by URL: a second call playing the same URL within
    the cache's max-age does not fetch it again."""
    app.route("/tone.wav", wav_bytes(tones([(0.5, [440])])))
    app.route("/voice", twiml("<Play>%s/tone.wav</Play><Hangup/>" % app.url))
    number = voice.number(app.url + "/voice")
    for _ in range(2):
        run_sipp(voice, tmp_path, answered_call(), number)
    assert len(app.to("/voice")) == 2
    assert len(app.to("/tone.wav")) == 1, [r["path"] for r in app.requests]


@pytest.mark.alone  # a recording that must start within a second, beside three <Say>s
def test_long_first_say_does_not_stall_another_calls_record(voice, app, tmp_path):
    """Three calls each start a long <Say> never heard before (espeak-ng takes a second or more
    over each) while a fourth call waits out a <Pause length="2"/> and then records: the
    recording starts when the pause ends, so it holds the end of the caller's first tone and the
    start of the second, with no gap. (An engine thread busy speaking would notice the pause's
    end late, and the recording would miss the first tone.)"""
    release = threading.Event()
    waiting = []
    cv = threading.Condition()

    def say_route(req):
        with cv:
            waiting.append(req)
            cv.notify_all()
        release.wait(60)
        text = ("Message %s. " % uuid.uuid4().hex) + "This is a long message that nobody said before. " * 80
        return 200, twiml("<Say>%s</Say><Hangup/>" % text[:4000]), 0

    def rec_route(req):
        release.set()  # the <Say>s are spoken while this call pauses
        return 200, twiml('<Pause length="2"/><Record playBeep="false" timeout="0" maxLength="2" '
                          'action="/done"/>'), 0

    app.route("/say", say_route)
    app.route("/rec", rec_route)
    app.route("/done", twiml("<Hangup/>"))
    say_number = voice.number(app.url + "/say")
    rec_number = voice.number(app.url + "/rec")

    def caller(name, xml, number):
        d = tmp_path / name
        d.mkdir()
        path = d / "s.xml"
        path.write_text(xml)
        return subprocess.Popen(sipp_cmd(voice.sip_port, path, number, 60), cwd=d, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT)

    hang_up_soon = scenario(invite(), PROVISIONAL, '<recv response="200" rrs="true"/>\n', ack(),
                            '<pause milliseconds="1000"/>\n', bye())
    procs = [caller("say%d" % i, hang_up_soon, say_number) for i in range(3)]
    with cv:
        assert cv.wait_for(lambda: len(waiting) == 3, 40), waiting
    # 440 Hz through the pause and a second past it, then 660 Hz.
    pcap, _ = pcap_of(tmp_path, "t.pcap", [("pcm", tones([(3.0, [440]), (10.0, [660])]))])
    rec = caller("rec", answered_call(play(pcap, 0)), rec_number)
    for p in procs + [rec]:
        out, _ = p.communicate(timeout=90)
        assert p.returncode == 0, out.decode(errors="replace")[-2000:]
    p = app.wait("/done")[0]["params"]
    assert p["RecordingDuration"] == "2", p
    samples = wav_samples(voice.wav(p["RecordingUrl"]))
    assert tone_sequence(samples, (440, 660, 1000)) == [440, 660], p
    blocks = [dominant(samples[i:i + 800], (440, 660, 1000)) for i in range(0, len(samples) - 799, 800)]
    assert blocks.count(None) <= 1, blocks


@pytest.mark.skipif(not Path("/usr/bin/baresip").exists(), reason="baresip not installed")
def test_baresip_leaves_a_voicemail(voice, app, tmp_path):
    """A second, independent SIP stack: baresip calls a <Say>+<Record> number, sends its 440 Hz
    sine and hangs up after a while; the recording completes with that sine in it. Only what
    recd recorded is checked (baresip's own counters have read 0 bit/s on a loaded machine), and
    the call length is baresip's own -t, generous enough for a slow start."""
    app.route("/voice", twiml('<Say>Leave a message.</Say><Record timeout="30" action="/done" '
                              'recordingStatusCallback="/rsc"/>'))
    app.route("/done", twiml("<Hangup/>"))
    app.route("/rsc", "")
    number = voice.number(app.url + "/voice")
    conf = tmp_path / "baresip"
    conf.mkdir()
    lo, hi = free_rtp_range()
    (conf / "config").write_text(BARESIP_CONFIG.format(sip=free_port_pair(), lo=lo, hi=hi))
    (conf / "accounts").write_text("<sip:bs@127.0.0.1>;regint=0;audio_codecs=PCMU\n")
    (conf / "contacts").write_text("")
    p = subprocess.run(["baresip", "-f", str(conf), "-e", "/dial sip:%s@127.0.0.1:%d" % (number, voice.sip_port),
                        "-t", "8"], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=60)
    out = p.stdout.decode(errors="replace")
    where = "\n--- baresip:\n%s\n--- recd:\n%s" % (out[-2000:], voice.server.log_text()[-2000:])
    action = app.wait("/done", timeout=60)[0]["params"]
    assert action["Digits"] == "hangup" and action["CallStatus"] == "completed", (action, where)
    first = app.to("/voice")[0]
    assert first["params"]["To"] == number and first["params"]["From"] == "bs" and voice.signed(first), first
    rsc = app.wait("/rsc", timeout=60)[0]["params"]
    assert rsc["RecordingStatus"] == "completed" and rsc["RecordingSid"] == action["RecordingSid"], rsc
    rec = voice.recording(action["RecordingSid"])
    assert rec["status"] == "completed" and rec["call_sid"] == action["CallSid"], rec
    samples = wav_samples(voice.wav(action["RecordingUrl"]))
    blocks = [dominant(samples[i:i + 800], (440, 1000, 660)) for i in range(0, len(samples) - 799, 800)]
    # At least a second of baresip's sine, and nothing else (the beep is not recorded).
    assert blocks.count(440) >= 10 and 1000 not in blocks and 660 not in blocks, (blocks, where)
    call = voice.call(action["CallSid"])
    assert call["status"] == "completed" and int(call["duration"]) >= 1, call


# --------------------------------------------------------------------------- the endpoint's limits

def final_responses(sock, n, timeout=10):
    """The first final response to each of n INVITEs sent from `sock`, by Call-ID (unacknowledged
    ones are retransmitted, provisional ones skipped)."""
    final = {}
    sock.settimeout(0.2)
    deadline = time.monotonic() + timeout
    while len(final) < n and time.monotonic() < deadline:
        try:
            r = sock.recv(65535).decode(errors="replace")
        except socket.timeout:
            continue
        if not re.match(r"SIP/2.0 1\d\d ", r):
            final.setdefault(re.search(r"\r\nCall-ID: (\S+)", r).group(1), r)
    return final


def test_sip_limits_from_options_and_environment(tmp_path, recd_bin, app):
    """--sip-invite-rate/--sip-invite-burst and RECD_SIP_MAX_CALLS reach the endpoint: past the
    burst a source gets 503 with Retry-After (another source is not held back), and past the
    concurrent calls 503 with Retry-After: 5, until the call ends."""
    from test_sip_endpoint import raw_invite
    voice = Voice(tmp_path, recd_bin, serve_args=["--sip-invite-rate", "1", "--sip-invite-burst", "3"],
                  env={"RECD_SIP_MAX_CALLS": "1"})
    try:
        # A flood from 127.0.0.2 (loopback, so allowed): 3 get through (404: no such number), 3 do not.
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.2", 0))
        ids = [uuid.uuid4().hex for _ in range(6)]
        for cid in ids:
            s.sendto(raw_invite(voice.sip_port, s.getsockname()[1], "5550000", cid), ("127.0.0.1", voice.sip_port))
        final = final_responses(s, 6)
        s.close()
        firsts = [final.get(cid, "").split("\r\n", 1)[0] for cid in ids]
        assert firsts == ["SIP/2.0 404 Not Found"] * 3 + ["SIP/2.0 503 Service Unavailable"] * 3, firsts
        assert all(re.search(r"\r\nRetry-After: [1-9]\d*\r\n", final[cid]) for cid in ids[3:])

        # From 127.0.0.1 (its own bucket): one call up, the next INVITE is over max_calls.
        app.route("/voice", twiml('<Pause length="60"/>'))
        number = voice.number(app.url + "/voice")
        caller = PyCaller(voice.sip_port, number)
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", 0))
        try:
            cid = uuid.uuid4().hex
            s.sendto(raw_invite(voice.sip_port, s.getsockname()[1], number, cid), ("127.0.0.1", voice.sip_port))
            r = final_responses(s, 1)[cid]
            assert r.startswith("SIP/2.0 503 ") and "\r\nRetry-After: 5\r\n" in r, r
        finally:
            caller.bye()
        # Once the call is over, the next INVITE is past the limit again (404: unknown number).
        sid = app.wait("/voice")[0]["params"]["CallSid"]
        deadline = time.monotonic() + 20
        while voice.call(sid)["status"] != "completed" and time.monotonic() < deadline:
            time.sleep(0.05)
        cid = uuid.uuid4().hex
        s.sendto(raw_invite(voice.sip_port, s.getsockname()[1], "5550000", cid), ("127.0.0.1", voice.sip_port))
        r = final_responses(s, 1)[cid]
        s.close()
        assert r.startswith("SIP/2.0 404 "), r
    finally:
        voice.stop()


@pytest.mark.parametrize("args,env,why", [
    (["--sip-max-calls", "0"], {}, "--sip-max-calls 0"),
    (["--sip-invite-rate", "5x"], {}, "--sip-invite-rate 5x"),
    ([], {"RECD_SIP_INVITE_BURST": "-1"}, "$RECD_SIP_INVITE_BURST -1"),
    (["--sip-invite-burst", "20"], {"RECD_SIP": ""}, "need --sip"),
])
def test_sip_limit_options_refused(tmp_path, recd_bin, args, env, why):
    """A bad limit is exit 2 with a one-line reason naming it, before anything starts."""
    from conftest import Recd
    sip = [] if "RECD_SIP" in env else ["--sip", "127.0.0.1:%d" % free_port()]
    out = Recd(tmp_path / "data").run("serve", "--listen", "127.0.0.1:%d" % free_port(), *(sip + args),
                                      env=env, timeout=30)
    assert out.returncode == 2, out
    assert why in out.stderr and out.stderr.count("\n") == 1, out.stderr


# --------------------------------------------------------------------------- session timers (RFC 4028)

def with_headers(xml, method, cseq, headers):
    """Adds header lines to the request `cseq` `method` of a scenario."""
    mark = "CSeq: %d %s\n" % (cseq, method)
    assert mark in xml
    return xml.replace(mark, mark + "".join(h + "\n" for h in headers), 1)


def update(cseq, headers):
    return with_headers(in_dialog("UPDATE", cseq), "UPDATE", cseq, headers)


TIMER = ["Session-Expires: 4;refresher=uac", "Supported: timer", "Min-SE: 2"]


@pytest.fixture
def timed_voice(tmp_path, recd_bin):
    """recd with --sip-min-se 2, so that a test can let a 4 s session interval run out."""
    v = Voice(tmp_path, recd_bin, serve_args=["--sip-min-se", "2"])
    yield v
    v.stop()


def test_session_timer_expiry_ends_the_call_with_bye(timed_voice, app, tmp_path):
    """Session-Expires: 4 from a caller that supports timers: the 200 carries Session-Expires:
    4;refresher=uac and Require: timer; no refresh comes, so recd sends BYE before the interval
    ends (at 4 s less a third); the recording is finished (action with Digits=hangup, the WAV
    holds the tone), the call row is completed and its status callback sent."""
    voice = timed_voice
    app.route("/voice", twiml('<Record playBeep="false" action="/done" recordingStatusCallback="/rsc"/>'))
    app.route("/done", twiml("<Say>ignored</Say>"))
    app.route("/rsc", "")
    app.route("/status", "")
    number = voice.number(app.url + "/voice", status_callback=app.url + "/status")
    pcap, ms = pcap_of(tmp_path, "t.pcap", [("pcm", tones([(0.2, []), (8.0, [1000])]))])
    xml = with_headers(answered_call(play(pcap, 0)), "INVITE", 1, TIMER)
    log = run_sipp(voice, tmp_path, xml, number)
    ok = log[log.index("SIP/2.0 200 OK"):]
    ok = ok[:ok.index("\r\n\r\n") if "\r\n\r\n" in ok else len(ok)]
    assert re.search(r"^Session-Expires: 4;refresher=uac\r?$", ok, re.M), ok
    assert re.search(r"^Require: timer\r?$", ok, re.M), ok
    action = app.wait("/done")[0]["params"]
    assert action["Digits"] == "hangup" and action["CallStatus"] == "completed", action
    samples = wav_samples(voice.wav(action["RecordingUrl"]))
    assert tone_sequence(samples, (440, 1000, 660)) == [1000]
    assert len(samples) <= 3.0 * 8000, len(samples)  # the BYE came at 2.67 s, not when the audio ran out
    assert app.wait("/rsc")[0]["params"]["RecordingStatus"] == "completed"
    status = app.wait("/status")[0]["params"]
    assert status["CallStatus"] == "completed" and int(status["CallDuration"]) in (2, 3), status
    call = voice.call(action["CallSid"])
    assert call["status"] == "completed" and call["end_time"], call
    assert voice.recording(action["RecordingSid"])["status"] == "completed"
    assert "(session-expired)" in voice.server.log_text()


def test_session_timer_refreshed_by_update_and_reinvite(timed_voice, app, tmp_path):
    """A 4 s session kept past its interval by UPDATEs every 1.2 s, each answered 200 with Session-Expires
    (an UPDATE asking for 1 s gets 422 with Min-SE: 2), then a re-INVITE, after which the timer
    stops (libre answers it without Session-Expires); only the caller's BYE ends the call. An
    INVITE asking for 1 s gets 422 with Min-SE: 2; one requiring 100rel, 420."""
    voice = timed_voice
    app.route("/voice", twiml('<Pause length="30"/>'))
    number = voice.number(app.url + "/voice")
    parts = []
    for k in range(4):
        parts += ['<pause milliseconds="1200"/>\n', update(2 + k, TIMER), '<recv response="200"/>\n']
    parts += [update(6, ["Session-Expires: 1;refresher=uac", "Supported: timer"]), '<recv response="422"/>\n']
    reinvite = with_headers(invite(cseq=7, in_dialog=True), "INVITE", 7, TIMER)
    parts += [reinvite, '<recv response="200"/>\n', ack(cseq=7), '<pause milliseconds="4000"/>\n']
    xml = scenario(with_headers(invite(), "INVITE", 1, TIMER), PROVISIONAL, '<recv response="200" rrs="true"/>\n',
                   ack(), *parts, bye(cseq=8))
    log = run_sipp(voice, tmp_path, xml, number)
    assert len(re.findall(r"^Session-Expires: 4;refresher=uac\r?$", log, re.M)) >= 5, log[-3000:]
    assert re.search(r"^Min-SE: 2\r?$", log, re.M), log[-3000:]
    sid = app.wait("/voice")[0]["params"]["CallSid"]
    deadline = time.monotonic() + 20
    while voice.call(sid)["status"] != "completed" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "(bye)" in voice.server.log_text() and "(session-expired)" not in voice.server.log_text()
    xml = scenario(with_headers(invite(), "INVITE", 1, ["Session-Expires: 1", "Supported: timer"]), PROVISIONAL,
                   '<recv response="422"/>\n', ack_error())
    log = run_sipp(voice, tmp_path, xml, number)
    assert re.search(r"^Min-SE: 2\r?$", log, re.M), log[-3000:]
    xml = scenario(with_headers(invite(), "INVITE", 1, ["Require: 100rel, timer", "Session-Expires: 90"]),
                   PROVISIONAL, '<recv response="420"/>\n', ack_error())
    log = run_sipp(voice, tmp_path, xml, number)
    assert re.search(r"^Unsupported: 100rel\r?$", log, re.M), log[-3000:]


def test_session_timer_recd_refreshes_for_a_caller_without_timers(timed_voice, app, tmp_path):
    """Session-Expires: 4 from a caller without Supported: timer: recd is the refresher
    (refresher=uas, no Require) and sends a re-INVITE with its SDP at half the interval."""
    voice = timed_voice
    app.route("/voice", twiml('<Pause length="30"/>'))
    number = voice.number(app.url + "/voice")
    sdp = SDP.format(pts=PCMU_TE[0], rtpmaps=PCMU_TE[1], dir="sendrecv")
    answer_reinvite = answer("INVITE", sdp, timeout=8000) + '<recv request="ACK"/>\n'
    xml = scenario(with_headers(invite(), "INVITE", 1, ["Session-Expires: 4"]), PROVISIONAL,
                   '<recv response="200" rrs="true"/>\n', ack(), answer_reinvite, bye())
    log = run_sipp(voice, tmp_path, xml, number)
    ok = log[log.index("SIP/2.0 200 OK"):]
    ok = ok[:ok.index("\r\n\r\n") if "\r\n\r\n" in ok else len(ok)]
    assert re.search(r"^Session-Expires: 4;refresher=uas\r?$", ok, re.M), ok
    assert "Require:" not in ok, ok
