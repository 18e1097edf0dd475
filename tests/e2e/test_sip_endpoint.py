"""The SIP endpoint (src/voice/sip.c) end to end, through the harness build/test/voice/sip_echo.

SIPp (Debian's sip-tester) places the calls, with scenarios written here and RTP replayed from
pcap files: SIPp's own RFC 2833 captures and tone sequences generated below. A few tests speak
SIP and RTP from Python directly where they need to look at the bytes recd sends back. Everything
binds 127.0.0.1 on free ports, and every process a test starts is stopped by it.
"""

import math
import os
import re
import signal
import socket
import struct
import subprocess
import time
import uuid
import wave
from pathlib import Path

import pytest

from sipp_util import (CANCEL, OK_TO_BYE, PROVISIONAL, ack, ack_error, bye, expect_final, free_port, free_port_pair,
                       free_rtp_range, invite, play, rtp_packets, scenario, sipp, sipp_cmd, tones, ulaw, unulaw,
                       write_pcap)

REPO = Path(__file__).resolve().parents[2]
ECHO_BIN = Path(os.environ.get("RECD_SIP_ECHO", str(REPO / "build" / "test" / "voice" / "sip_echo")))
SIPP_PCAPS = Path("/usr/share/sip-tester")

pytestmark = pytest.mark.skipif(not ECHO_BIN.exists(), reason="build/test/voice/sip_echo not built")


# --------------------------------------------------------------------------- the harness

class Echo:
    """The sip_echo harness: started on free ports, its stdout lines read as events."""

    def __init__(self, tmp, *args, rtp_ports=40):
        self.port = free_port()
        lo, hi = free_rtp_range(rtp_ports)
        self.rtp = (lo, hi)
        self.dir = Path(tmp)
        self.out = self.dir / "echo.out"
        self.err = self.dir / "echo.err"
        cmd = [str(ECHO_BIN), "--port", str(self.port), "--rtp", "%d-%d" % (lo, hi),
               "--wav-dir", str(self.dir)] + [str(a) for a in args]
        env = dict(os.environ, ASAN_OPTIONS="detect_leaks=1:abort_on_error=0")
        self.proc = subprocess.Popen(cmd, stdout=open(self.out, "w"), stderr=open(self.err, "w"), env=env)
        self.wait_for(r"^READY ")

    def lines(self):
        return self.out.read_text().splitlines()

    def wait_for(self, pattern, timeout=10.0):
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.lines():
                if rx.search(line):
                    return line
            if self.proc.poll() is not None:
                break
            time.sleep(0.02)
        raise AssertionError("no line matching %r; stdout:\n%s\nstderr:\n%s"
                             % (pattern, self.out.read_text(), self.err.read_text()[-3000:]))

    def end(self, n=1, timeout=10.0):
        """The END line of call n, parsed: (reason, {counter: value})."""
        line = self.wait_for(r"^END %d " % n, timeout)
        parts = line.split()
        return int(parts[2]), {k: int(v) for k, v in (p.split("=") for p in parts[3:])}

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("sip_echo did not stop on SIGTERM")
        err = self.err.read_text()
        assert self.proc.returncode == 0, err[-3000:]
        assert "ERROR: AddressSanitizer" not in err and "runtime error" not in err, err[-3000:]


@pytest.fixture
def echo(tmp_path):
    started = []

    def start(*args, **kw):
        e = Echo(tmp_path, *args, **kw)
        started.append(e)
        return e

    yield start
    for e in started:
        e.stop()


# --------------------------------------------------------------------------- audio helpers

def goertzel(samples, freq, rate=8000):
    w = 2 * math.pi * freq / rate
    c = 2 * math.cos(w)
    s1 = s2 = 0.0
    for x in samples:
        s1, s2 = x + c * s1 - s2, s1
    return s1 * s1 + s2 * s2 - c * s1 * s2


def read_wav(path):
    with wave.open(str(path)) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, 8000)
        data = w.readframes(w.getnframes())
    return list(struct.unpack("<%dh" % (len(data) // 2), data))


def dominant(block, freqs):
    """The frequency of `freqs` with the most energy in block, or None when it is near silence."""
    if sum(x * x for x in block) / max(1, len(block)) < 1000 ** 2 / 4:
        return None
    p = {f: goertzel(block, f) for f in freqs}
    best = max(p, key=p.get)
    others = [v for f, v in p.items() if f != best]
    return best if all(p[best] > 20 * v for v in others) else None


# --------------------------------------------------------------------------- the tests

def test_builtin_uac_scenario_over_udp_and_tcp(echo, tmp_path):
    e = echo("--number", "service")
    for n, transport in ((1, "u1"), (2, "t1")):
        p = subprocess.run(["sipp", "127.0.0.1:%d" % e.port, "-sn", "uac", "-s", "service", "-i", "127.0.0.1",
                            "-p", str(free_port()), "-t", transport, "-m", "1", "-l", "1", "-nostdin",
                            "-timeout", "20s", "-timeout_error"],
                           cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=40)
        assert p.returncode == 0, p.stdout.decode(errors="replace")[-2000:]
        assert e.wait_for(r"^INVITE service PCMU 127\.0\.0\.1:\d+ sipp$".replace("sipp$", "sipp"))
        reason, _ = e.end(n)
        assert reason == 1  # the caller's BYE


def test_unknown_number_404(echo, tmp_path):
    e = echo("--number", "5550100")
    rc, log = sipp(e, tmp_path, expect_final(404), service="5550199")
    assert rc == 0, log[-3000:]
    assert "SIP/2.0 404 Not Found" in log
    assert e.wait_for(r"^INVITE 5550199 ")
    assert not any(l.startswith("END") for l in e.lines())


def test_number_from_to_when_request_uri_has_no_user(echo, tmp_path):
    e = echo("--number", "5550100")
    xml = expect_final(200).replace("INVITE sip:[service]@", "INVITE sip:").replace(
        '<recv response="200"/>\n' + ack_error(), '<recv response="200" rrs="true"/>\n' + ack() + bye())
    rc, log = sipp(e, tmp_path, xml, service="5550100")
    assert rc == 0, log[-3000:]
    assert e.wait_for(r"^INVITE 5550100 PCMU ")


def test_busy_and_rejected(echo, tmp_path):
    e = echo("--busy-number", "5550486", "--reject-number", "5550603")
    rc, log = sipp(e, tmp_path, expect_final(486), service="5550486")
    assert rc == 0 and "SIP/2.0 486 Busy Here" in log, log[-3000:]
    rc, log = sipp(e, tmp_path, expect_final(603), service="5550603")
    assert rc == 0 and "SIP/2.0 603 Decline" in log, log[-3000:]


def test_unsupported_codec_488(echo, tmp_path):
    e = echo("--number", "5550100")
    g729 = ("18", "a=rtpmap:18 G729/8000\n")
    xml = scenario(invite(codecs=g729), PROVISIONAL, '<recv response="488"/>\n', ack_error())
    rc, log = sipp(e, tmp_path, xml)
    assert rc == 0, log[-3000:]
    assert "SIP/2.0 488" in log
    # telephone-event alone is no codec either.
    te = ("101", "a=rtpmap:101 telephone-event/8000\n")
    rc, log = sipp(e, tmp_path, scenario(invite(codecs=te), PROVISIONAL, '<recv response="488"/>\n', ack_error()))
    assert rc == 0, log[-3000:]
    assert not any(l.startswith("INVITE") for l in e.lines())  # the handler never heard of them


def test_pcma_is_chosen_when_offered_first(echo, tmp_path):
    e = echo("--number", "5550100")
    both = ("8 0 101", "a=rtpmap:8 PCMA/8000\na=rtpmap:0 PCMU/8000\na=rtpmap:101 telephone-event/8000\n")
    xml = scenario(invite(codecs=both), PROVISIONAL,
                   '<recv response="200" rrs="true"><action><ereg regexp="m=audio [0-9]+ RTP/AVP 8 101" '
                   'search_in="body" check_it="true" assign_to="m"/></action></recv>\n', ack(), bye(),
                   refs=("m",))
    rc, log = sipp(e, tmp_path, xml)
    assert rc == 0, log[-3000:]
    assert e.wait_for(r"^INVITE 5550100 PCMA ")


def test_disallowed_source_403(echo, tmp_path):
    e = echo("--number", "5550100", "--allow", "127.0.0.2/32")
    rc, log = sipp(e, tmp_path, expect_final(403))
    assert rc == 0, log[-3000:]
    assert "SIP/2.0 403 Forbidden" in log
    assert not any(l.startswith("INVITE") for l in e.lines())


def test_allowed_network_is_let_in(echo, tmp_path):
    e = echo("--number", "5550100", "--allow", "10.0.0.0/8", "--allow", "127.0.0.0/30")
    rc, log = sipp(e, tmp_path, scenario(invite(), PROVISIONAL, '<recv response="200" rrs="true"/>\n', ack(), bye()))
    assert rc == 0, log[-3000:]
    assert e.end(1)[0] == 1


def raw_invite(port, local_port, number, call_id, media_port=40000):
    sdp = ("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
           "m=audio %d RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n"
           % media_port)
    return ("INVITE sip:%s@127.0.0.1:%d SIP/2.0\r\n"
            "Via: SIP/2.0/UDP 127.0.0.1:%d;rport;branch=z9hG4bK%s\r\n"
            "From: <sip:py@127.0.0.1:%d>;tag=%s\r\nTo: <sip:%s@127.0.0.1:%d>\r\n"
            "Call-ID: %s\r\nCSeq: 1 INVITE\r\nContact: <sip:py@127.0.0.1:%d>\r\nMax-Forwards: 70\r\n"
            "Content-Type: application/sdp\r\nContent-Length: %d\r\n\r\n%s"
            % (number, port, local_port, call_id, local_port, call_id[:8], number, port, call_id, local_port,
               len(sdp), sdp)).encode()


def responses(sock, timeout):
    out = []
    sock.settimeout(0.2)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            out.append(sock.recv(65535).decode(errors="replace"))
        except socket.timeout:
            pass
    return out


def test_invite_flood_gets_503_with_retry_after(echo):
    e = echo("--number", "5550100", "--invite-rate", "1", "--invite-burst", "3")
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    lp = s.getsockname()[1]
    try:
        for i in range(10):
            s.sendto(raw_invite(e.port, lp, "5550199", uuid.uuid4().hex), ("127.0.0.1", e.port))
        got = responses(s, 1.5)
    finally:
        s.close()
    # One final response per INVITE (Call-ID); unacknowledged ones are retransmitted, so dedupe.
    final = {}
    for r in got:
        if not r.startswith("SIP/2.0 100"):
            final.setdefault(re.search(r"\r\nCall-ID: (\S+)", r).group(1), r)
    codes = [r.split("\r\n", 1)[0] for r in final.values()]
    assert len(final) == 10, codes
    assert codes.count("SIP/2.0 404 Not Found") == 3, codes
    limited = [r for r in final.values() if r.startswith("SIP/2.0 503")]
    assert len(limited) == 7, codes
    assert all(re.search(r"\r\nRetry-After: [1-9]\d*\r\n", r) for r in limited)


def test_call_audio_reaches_the_handler(echo, tmp_path):
    """A 440 Hz then 1000 Hz sequence replayed by SIPp comes out in the WAV, in order, true length."""
    e = echo("--number", "5550100")
    pcm = tones([(1.0, [440]), (1.0, [1000]), (0.6, [])])
    pcap = tmp_path / "tones.pcap"
    write_pcap(pcap, rtp_packets(pcm))
    xml = scenario(invite(), PROVISIONAL, '<recv response="200" rrs="true"/>\n', ack(), play(pcap, 3500), bye())
    rc, log = sipp(e, tmp_path, xml)
    assert rc == 0, log[-3000:]
    reason, st = e.end(1)
    assert reason == 1
    assert st["received"] == 130 and st["lost"] == 0 and st["duplicates"] == 0 and st["foreign"] == 0, st
    wav = read_wav(tmp_path / "call-1.wav")
    blocks = [dominant(wav[i:i + 800], (440, 1000)) for i in range(0, len(wav) - 799, 800)]
    heard = [b for b in blocks if b]
    assert heard.count(440) >= 9 and heard.count(1000) >= 9, blocks
    assert heard == sorted(heard), blocks  # all the 440 before all the 1000
    # Every 20 ms of the stream is in the file exactly once (the WAV holds whole frames).
    first = next(i for i, x in enumerate(wav) if abs(x) > 200)
    last = max(i for i, x in enumerate(wav) if abs(x) > 200)
    assert abs((last - first) - 16000) < 160, (first, last)


def test_reorder_loss_and_duplicates_keep_duration(echo, tmp_path):
    e = echo("--number", "5550100")
    pcm = tones([(1.0, [1000])])
    order = list(range(50))
    order[10], order[11] = order[11], order[10]  # reordered
    order.remove(20)                              # lost
    order.insert(31, 30)                          # duplicated
    pcap = tmp_path / "rough.pcap"
    write_pcap(pcap, rtp_packets(pcm, seq0=65530, ts0=0xFFFFFF00, order=order))  # both wrap too
    xml = scenario(invite(), PROVISIONAL, '<recv response="200" rrs="true"/>\n', ack(), play(pcap, 1800), bye())
    rc, log = sipp(e, tmp_path, xml)
    assert rc == 0, log[-3000:]
    _, st = e.end(1)
    assert (st["received"], st["lost"], st["duplicates"], st["late"]) == (50, 1, 1, 0), st
    wav = read_wav(tmp_path / "call-1.wav")
    loud = [i for i, x in enumerate(wav) if abs(x) > 200]
    # 50 packets' time from the first tone sample to the last: the lost one is silence, not a cut.
    assert abs((loud[-1] - loud[0]) - 8000) < 160
    gap = [i for i in range(loud[0], loud[-1]) if all(x == 0 for x in wav[i:i + 160])]
    assert gap, "the lost packet should be 20 ms of silence"


def test_rfc2833_digit_from_sipp_capture(echo, tmp_path):
    e = echo("--number", "5550100")
    xml = scenario(invite(), PROVISIONAL, '<recv response="200" rrs="true"/>\n', ack(),
                   play(SIPP_PCAPS / "dtmf_2833_1.pcap", 600), play(SIPP_PCAPS / "dtmf_2833_pound.pcap", 600),
                   bye())
    rc, log = sipp(e, tmp_path, xml)
    assert rc == 0, log[-3000:]
    _, st = e.end(1)
    digits = [l.split()[2:] for l in e.lines() if l.startswith("DIGIT 1 ")]
    assert digits == [["1", "rfc4733"], ["#", "rfc4733"]], e.lines()
    assert st["digits"] == 2


def dtmf_pcm(keys, on=0.12, off=0.12):
    low = {"1": 697, "2": 697, "3": 697, "4": 770, "5": 770, "6": 770, "7": 852, "8": 852, "9": 852,
           "*": 941, "0": 941, "#": 941}
    high = {"1": 1209, "4": 1209, "7": 1209, "*": 1209, "2": 1336, "5": 1336, "8": 1336, "0": 1336,
            "3": 1477, "6": 1477, "9": 1477, "#": 1477}
    spec = [(0.2, [])]
    for k in keys:
        spec += [(on, [low[k], high[k]]), (off, [])]
    return tones(spec, amp=6000)


def test_inband_dtmf_digits(echo, tmp_path):
    e = echo("--number", "5550100")
    pcap = tmp_path / "dtmf.pcap"
    write_pcap(pcap, rtp_packets(dtmf_pcm("59#")))
    xml = scenario(invite(), PROVISIONAL, '<recv response="200" rrs="true"/>\n', ack(), play(pcap, 1300), bye())
    rc, log = sipp(e, tmp_path, xml)
    assert rc == 0, log[-3000:]
    e.end(1)
    digits = [l.split()[2:] for l in e.lines() if l.startswith("DIGIT 1 ")]
    assert digits == [["5", "inband"], ["9", "inband"], ["#", "inband"]], e.lines()


def test_server_hangs_up_with_bye(echo, tmp_path):
    e = echo("--number", "5550100", "--hangup-ms", "800")
    xml = scenario(invite(), PROVISIONAL, '<recv response="200" rrs="true"/>\n', ack(), OK_TO_BYE)
    t0 = time.monotonic()
    rc, log = sipp(e, tmp_path, xml)
    assert rc == 0, log[-3000:]
    assert 0.6 < time.monotonic() - t0 < 15  # not before the hangup timer; SIPp start-up varies
    reason, st = e.end(1)
    assert reason == 2  # local
    # About 40 packets of 20 ms in 0.8 s; the pacer never bursts to catch up, so a loaded machine
    # can send fewer, but a sender that never started would send none.
    assert st["sent"] >= 20


def test_cancel_while_ringing(echo, tmp_path):
    e = echo("--ring-number", "5550100")  # rings and never answers
    xml = scenario(invite(), '<recv response="100" optional="true"/>\n<recv response="180"/>\n',
                   '<pause milliseconds="300"/>\n', CANCEL,
                   '<recv response="200"/>\n<recv response="487"/>\n', ack_error())
    rc, log = sipp(e, tmp_path, xml)
    assert rc == 0, log[-3000:]
    assert "SIP/2.0 487 Request Terminated" in log
    reason, _ = e.end(1)
    assert reason == 3  # CANCEL
    assert sum(1 for l in e.lines() if l.startswith("END")) == 1


def test_ringing_then_answer(echo, tmp_path):
    e = echo("--ring-number", "5550100", "--ring-ms", "300")
    xml = scenario(invite(), '<recv response="100" optional="true"/>\n<recv response="180"/>\n',
                   '<recv response="200" rrs="true"/>\n', ack(), bye())
    rc, log = sipp(e, tmp_path, xml)
    assert rc == 0, log[-3000:]
    assert e.wait_for(r"^ANSWERED 1$")
    assert e.end(1)[0] == 1


def test_reinvite_hold_and_unhold(echo, tmp_path):
    e = echo("--number", "5550100")
    ok = lambda rx, var: ('<recv response="200"><action><ereg regexp="%s" search_in="body" check_it="true" '
                          'assign_to="%s"/></action></recv>\n' % (rx, var))
    xml = scenario(invite(), PROVISIONAL, '<recv response="200" rrs="true"/>\n', ack(),
                   invite(direction="sendonly", cseq=2, in_dialog=True), PROVISIONAL.replace("180", "199"),
                   ok("a=recvonly", "h"), ack(2), '<pause milliseconds="200"/>\n',
                   invite(direction="sendrecv", cseq=3, in_dialog=True), PROVISIONAL.replace("180", "199"),
                   ok("a=sendrecv", "u"), ack(3), bye(4), refs=("h", "u"))
    rc, log = sipp(e, tmp_path, xml)
    assert rc == 0, log[-3000:]
    assert e.end(1)[0] == 1


def test_stop_ends_live_calls(echo, tmp_path):
    """SIGTERM to the harness stops the endpoint: the live call gets a BYE and one END."""
    e = echo("--number", "5550100")
    xml = scenario(invite(), PROVISIONAL, '<recv response="200" rrs="true"/>\n', ack(), OK_TO_BYE)
    path = tmp_path / "live.xml"
    path.write_text(xml)
    p = subprocess.Popen(sipp_cmd(e.port, path, "5550100", 20, media_port=False), cwd=tmp_path,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        e.wait_for(r"^ANSWERED 1$")
        e.stop()
        out, _ = p.communicate(timeout=20)
        assert p.returncode == 0, out.decode(errors="replace")[-2000:]
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert e.end(1)[0] == 2


class RawCall:
    """A call placed from Python, to see the RTP recd sends and to send RTP from anywhere."""

    def __init__(self, e, number="5550100"):
        self.e = e
        self.sip = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sip.bind(("127.0.0.1", 0))
        self.rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.rtp.bind(("127.0.0.1", 0))
        self.call_id = uuid.uuid4().hex
        lp = self.sip.getsockname()[1]
        self.sip.sendto(raw_invite(e.port, lp, number, self.call_id, self.rtp.getsockname()[1]),
                        ("127.0.0.1", e.port))
        self.sip.settimeout(5)
        while True:
            r = self.sip.recv(65535).decode()
            if not r.startswith("SIP/2.0 1"):
                break
        assert r.startswith("SIP/2.0 200 OK"), r
        self.ok = r
        self.to = re.search(r"\r\nTo: ([^\r]*)", r).group(1)
        self.media = ("127.0.0.1", int(re.search(r"m=audio (\d+) ", r).group(1)))
        self.lp = lp
        self.sip.sendto(self.dialog("ACK", 1), ("127.0.0.1", e.port))

    def dialog(self, method, cseq):
        return ("%s sip:recd@127.0.0.1:%d SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:%d;rport;branch=z9hG4bK%s\r\n"
                "From: <sip:py@127.0.0.1:%d>;tag=%s\r\nTo: %s\r\nCall-ID: %s\r\nCSeq: %d %s\r\n"
                "Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
                % (method, self.e.port, self.lp, uuid.uuid4().hex, self.lp, self.call_id[:8], self.to,
                   self.call_id, cseq, method)).encode()

    def bye(self):
        self.sip.sendto(self.dialog("BYE", 2), ("127.0.0.1", self.e.port))
        r = self.sip.recv(65535).decode()
        assert r.startswith("SIP/2.0 200"), r

    def close(self):
        self.sip.close()
        self.rtp.close()


def test_outbound_tone_is_paced_g711(echo):
    e = echo("--number", "5550100", "--tone", "800")
    c = RawCall(e)
    want = 75  # 1.5 s of 20 ms packets
    try:
        c.rtp.settimeout(5)
        pkts = []
        while len(pkts) < want:
            data, src = c.rtp.recvfrom(2048)
            pkts.append((time.monotonic(), data))
        c.bye()
    finally:
        c.close()
    hdrs = [struct.unpack("!BBHII", d[:12]) for _, d in pkts]
    assert all(h[0] == 0x80 and (h[1] & 0x7F) == 0 for h in hdrs)
    assert hdrs[0][1] & 0x80  # marker on the first packet
    assert len({h[4] for h in hdrs}) == 1
    for a, b in zip(hdrs, hdrs[1:]):
        assert (b[2] - a[2]) & 0xFFFF == 1 and (b[3] - a[3]) & 0xFFFFFFFF == 160
    pcm = [unulaw(x) for _, d in pkts[5:55] for x in d[12:]]
    assert len(pcm) == 50 * 160
    assert dominant(pcm, (800, 400, 1600)) == 800
    # Paced, not sent in a burst: 74 gaps of 20 ms are 1.48 s. The test reads the socket, so a
    # stall of this process shortens the span it sees by the stall: 0.5 s of margin below. Above,
    # a loaded machine stalls recd's media clock too (a stall over 100 ms is not made up, by
    # design), so the span only bounds a hang; the pace itself is the median gap, which a few
    # stalls do not move and a wrong clock (40 ms, or a burst) does.
    span = pkts[-1][0] - pkts[0][0]
    assert 0.98 < span < 6.0, span
    gaps = sorted(b[0] - a[0] for a, b in zip(pkts, pkts[1:]))
    assert 0.012 < gaps[len(gaps) // 2] < 0.028, gaps[len(gaps) // 2]
    _, st = e.end(1)
    assert st["sent"] >= len(pkts)


def test_rtp_from_elsewhere_is_dropped(echo):
    e = echo("--number", "5550100")
    c = RawCall(e)
    # A stranger on another address (127.0.0.2: not where the INVITE came from), and one on the
    # caller's own address but another port, who starts only after the caller's media did.
    other = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    other.bind(("127.0.0.2", 0))
    near = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    near.bind(("127.0.0.1", 0))
    try:
        loud = rtp_packets(tones([(0.4, [1000])], amp=12000), ssrc=0x99)
        quiet = rtp_packets([0] * 3200, seq0=1000, ssrc=0x42)
        # The stranger even sends first: it must not be latched onto.
        for (_, good), (_, bad) in zip(quiet, loud):
            other.sendto(bad, c.media)
            c.rtp.sendto(good, c.media)
            near.sendto(bad, c.media)
            time.sleep(0.02)
        c.bye()
    finally:
        other.close()
        near.close()
        c.close()
    _, st = e.end(1)
    assert st["foreign"] == 40 and st["received"] == 20 and st["latched"] == 0, st
    wav = read_wav(e.dir / "call-1.wav")
    assert max(abs(x) for x in wav) < 100


def test_digits_sent_as_rfc4733(echo):
    e = echo("--number", "5550100", "--digits", "12")
    c = RawCall(e)
    try:
        c.rtp.settimeout(2)
        events = []
        t0 = time.monotonic()
        while time.monotonic() - t0 < 1.5:
            d = c.rtp.recv(2048)
            if (d[1] & 0x7F) == 101:
                events.append((struct.unpack("!I", d[4:8])[0], d[12], bool(d[13] & 0x80), bool(d[1] & 0x80)))
        c.bye()
    finally:
        c.close()
    starts = {}
    for ts, ev, end, marker in events:
        starts.setdefault(ts, []).append((ev, end, marker))
    assert [v[0][0] for v in starts.values()] == [1, 2], events
    for v in starts.values():
        assert v[0][2]  # the first packet of each event carries the marker
        assert v[-1][1]  # and the last ends it
    e.end(1)


def test_silent_peer_is_hung_up(echo, tmp_path):
    """A peer that stops sending RTP (a caller gone without a BYE) is hung up after the timeout."""
    e = echo("--number", "5550100", "--rtp-timeout-ms", "700")
    xml = scenario(invite(), PROVISIONAL, '<recv response="200" rrs="true"/>\n', ack(), OK_TO_BYE)
    t0 = time.monotonic()
    rc, log = sipp(e, tmp_path, xml)
    assert rc == 0, log[-3000:]
    assert 0.6 < time.monotonic() - t0 < 15
    assert e.end(1)[0] == 4  # timeout


def test_held_call_is_not_timed_out(echo, tmp_path):
    """On hold (the peer sends nothing by design) the RTP timeout does not apply."""
    e = echo("--number", "5550100", "--rtp-timeout-ms", "500")
    ok = '<recv response="200"><action><ereg regexp="a=inactive" search_in="body" check_it="true" assign_to="h"/></action></recv>\n'
    xml = scenario(invite(), PROVISIONAL, '<recv response="200" rrs="true"/>\n', ack(),
                   invite(direction="inactive", cseq=2, in_dialog=True), PROVISIONAL.replace("180", "199"), ok,
                   ack(2), '<pause milliseconds="1500"/>\n', bye(3), refs=("h",))
    rc, log = sipp(e, tmp_path, xml)
    assert rc == 0, log[-3000:]
    assert e.end(1)[0] == 1  # the caller's BYE, not a timeout


BARESIP_CONFIG = """poll_method epoll
sip_listen 127.0.0.1:{sip}
sip_trans_def udp
audio_player aubridge,nowhere
audio_source ausine,440
audio_alert aubridge,nowhere
ausrc_srate 48000
auplay_srate 48000
ausrc_channels 2
auplay_channels 2
rtp_ports {lo}-{hi}
module_path /usr/lib/baresip/modules
module g711.so
module ausine.so
module aubridge.so
module menu.so
module_app account.so
"""


@pytest.mark.alone  # baresip's real-time audio threads: 4 s of its sine must reach us whole
@pytest.mark.skipif(not Path("/usr/bin/baresip").exists(), reason="baresip not installed")
def test_baresip_call(echo, tmp_path):
    """A real SIP stack calls: its 440 Hz sine is heard, it hears our 1000 Hz (its decoded audio,
    dumped by its sndfile module), and its BYE ends the call.
    baresip advertises its eth0 address in SDP but sends from loopback, which is the case the
    one-time latch to the INVITE's source address exists for."""
    e = echo("--number", "5550100", "--tone", "1000")
    conf = tmp_path / "baresip"
    conf.mkdir()
    lo, hi = free_rtp_range()
    dumps = tmp_path / "dumps"
    dumps.mkdir()
    # sndfile writes what baresip decoded from us to a WAV: what it heard, by frequency.
    (conf / "config").write_text(BARESIP_CONFIG.format(sip=free_port_pair(), lo=lo, hi=hi) +
                                 "module sndfile.so\nsnd_path %s\n" % dumps)
    (conf / "accounts").write_text("<sip:bs@127.0.0.1>;regint=0;audio_codecs=PCMU\n")
    (conf / "contacts").write_text("")
    p = subprocess.run(["baresip", "-f", str(conf), "-e", "/dial sip:5550100@127.0.0.1:%d" % e.port, "-t", "4"],
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30)
    out = p.stdout.decode(errors="replace")
    assert "Call established" in out, out[-2000:]
    reason, st = e.end(1)
    assert reason == 1, out[-2000:]
    assert st["received"] > 120 and st["lost"] == 0, st
    wav = read_wav(tmp_path / "call-1.wav")
    blocks = [dominant(wav[i:i + 800], (440, 1000)) for i in range(0, len(wav) - 799, 800)]
    assert blocks.count(440) >= 25 and 1000 not in blocks, blocks
    # What baresip decoded from us (its sndfile dump) is our 1000 Hz tone, and never its own
    # 440 Hz: it heard us. (Its bit/s counter, asserted here before, read 0 now and then when
    # the machine was loaded; the decoded audio does not depend on timing.)
    heard = sorted(dumps.glob("dump-*-dec.wav"))
    assert len(heard) == 1, sorted(p.name for p in dumps.iterdir())
    pcm = read_wav(heard[0])
    got = [dominant(pcm[i:i + 800], (440, 1000)) for i in range(0, len(pcm) - 799, 800)]
    assert got.count(1000) >= 20 and 440 not in got, got


def test_digit_sent_both_ways_is_delivered_once(echo, tmp_path):
    """A gateway that sends RFC 4733 events and leaves the tone in the audio too: one key press."""
    e = echo("--number", "5550100")
    pcm = dtmf_pcm("7", on=0.2, off=0.3)
    frames = [pcm[i:i + 160] for i in range(0, len(pcm) - 159, 160)]
    tone_frames = [i for i, f in enumerate(frames) if max(abs(x) for x in f) > 1000]
    packets, seq, t = [], 2000, 0.0
    for i, f in enumerate(frames):
        ts = 8000 + 160 * i
        packets.append((t, struct.pack("!BBHII", 0x80, 0, seq & 0xFFFF, ts, 0x77) + bytes(ulaw(s) for s in f)))
        seq += 1
        if i in tone_frames:
            dur = 160 * (i - tone_frames[0] + 1)
            end = i == tone_frames[-1]
            for _ in range(3 if end else 1):
                ev = bytes([7, (0x80 if end else 0) | 10]) + struct.pack("!H", dur)
                hdr = struct.pack("!BBHII", 0x80, (0x80 if i == tone_frames[0] else 0) | 101, seq & 0xFFFF,
                                  8000 + 160 * tone_frames[0], 0x77)
                packets.append((t + 0.001, hdr + ev))
                seq += 1
        t += 0.02
    pcap = tmp_path / "both.pcap"
    write_pcap(pcap, packets)
    xml = scenario(invite(), PROVISIONAL, '<recv response="200" rrs="true"/>\n', ack(), play(pcap, 1200), bye())
    rc, log = sipp(e, tmp_path, xml)
    assert rc == 0, log[-3000:]
    _, st = e.end(1)
    digits = [l.split()[2:] for l in e.lines() if l.startswith("DIGIT 1 ")]
    assert digits == [["7", "rfc4733"]], e.lines()
    assert st["lost"] == 0 and st["digits"] == 1, st


@pytest.mark.alone  # 40 real-time streams at once
def test_forty_concurrent_calls(echo, tmp_path):
    """40 calls at once, each replaying the tone sequence: every one is heard whole and ends once."""
    # 40 calls need 80 ports (RTP and RTCP); with 160, libre's random pick finds a free pair.
    e = echo("--number", "5550100", "--invite-burst", "100", "--invite-rate", "100", rtp_ports=160)
    pcap = tmp_path / "tones.pcap"
    write_pcap(pcap, rtp_packets(tones([(1.0, [440]), (1.0, [1000])])))
    # The BYE waits 2 s past the 2 s of audio: SIPp's pcap player falls behind on a loaded machine,
    # and a BYE that overtakes it cuts the stream short (received < 100).
    xml = scenario(invite(), PROVISIONAL, '<recv response="200" rrs="true"/>\n', ack(), play(pcap, 4000), bye())
    path = tmp_path / "many.xml"
    path.write_text(xml)
    p = subprocess.run(sipp_cmd(e.port, path, "5550100", 40, calls=40, rate=40), cwd=tmp_path,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
    assert p.returncode == 0, p.stdout.decode(errors="replace")[-2000:]
    for n in range(1, 41):
        reason, st = e.end(n)
        assert reason == 1 and st["received"] == 100 and st["lost"] == 0, (n, st)
        wav = read_wav(tmp_path / ("call-%d.wav" % n))
        blocks = [dominant(wav[i:i + 800], (440, 1000)) for i in range(0, len(wav) - 799, 800)]
        heard = [b for b in blocks if b]
        assert heard.count(440) >= 8 and heard.count(1000) >= 8 and heard == sorted(heard), (n, blocks)
    assert sum(1 for l in e.lines() if l.startswith("END")) == 40
