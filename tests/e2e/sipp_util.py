"""SIPp for the voice tests: free ports for it, the pcap files of RTP it replays, the scenarios it
runs (built from parts: invite(), ack(), bye(), play(), ... in scenario()), and its command line.

test_sip_endpoint.py, test_voice_calls.py, test_ops_metrics.py, test_transcription.py and the demo's
test call (scripts/demo-voicemail.py) place their calls with these; each used to build SIPp's
command line itself. Standard library only: the demo script imports it outside pytest.
"""

import math
import socket
import struct
import subprocess
import uuid
from pathlib import Path


# --------------------------------------------------------------------------- ports

def free_port():
    """A port free for both UDP and TCP on 127.0.0.1 (SIP listens on both)."""
    for _ in range(50):
        t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        t.bind(("127.0.0.1", 0))
        port = t.getsockname()[1]
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            u.bind(("127.0.0.1", port))
        except OSError:
            continue
        finally:
            u.close()
            t.close()
        return port
    raise RuntimeError("no free port")


def port_free(port):
    for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
        s = socket.socket(socket.AF_INET, kind)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        finally:
            s.close()
    return True


def free_port_pair():
    """A port whose successor is free too, both for UDP and TCP (baresip takes port + 1 for TLS)."""
    for _ in range(50):
        port = free_port()
        if port < 65535 and port_free(port + 1):
            return port
    raise RuntimeError("no free port pair")


def free_rtp_range(count=40):
    """An even base with `count` free UDP ports above it (count/2 RTP/RTCP pairs)."""
    for _ in range(50):
        base = free_port() & ~1
        if base < 1024 or base + count > 65535:
            continue
        socks = []
        try:
            for p in range(base, base + count):
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                socks.append(s)
                s.bind(("127.0.0.1", p))
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
        return base, base + count - 1
    raise RuntimeError("no free RTP range")


# --------------------------------------------------------------------------- RTP in pcap files

def ulaw(sample):
    """G.711 mu-law of a 16-bit sample (ITU-T G.711, as spandsp does it)."""
    BIAS = 0x84
    if sample < 0:
        sample = -sample
        mask = 0x7F
    else:
        mask = 0xFF
    sample = min(sample + BIAS, 0x7FFF)
    seg = max(0, sample.bit_length() - 8)
    return ((seg << 4) | ((sample >> (seg + 3)) & 0x0F)) ^ mask


def unulaw(b):
    b = ~b & 0xFF
    t = (((b & 0x0F) << 3) + 0x84) << ((b & 0x70) >> 4)
    return (0x84 - t) if (b & 0x80) else (t - 0x84)


def tones(spec, amp=8000):
    """PCM for [(seconds, [freq, ...]), ...]; an empty list is silence."""
    out = []
    for secs, freqs in spec:
        for i in range(int(secs * 8000)):
            t = len(out) / 8000.0
            out.append(int(sum(amp * math.sin(2 * math.pi * f * t) for f in freqs)))
    return out


def write_pcap(path, packets):
    """packets: [(time_s, rtp_bytes)], as Ethernet/IPv4/UDP frames that SIPp can replay."""
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for t, rtp in packets:
            udp = struct.pack("!HHHH", 6000, 6000, 8 + len(rtp), 0) + rtp
            ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0,
                             bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2])) + udp
            eth = b"\x00\x11\x22\x33\x44\x55" + b"\x66\x77\x88\x99\xaa\xbb" + b"\x08\x00" + ip
            sec = int(t)
            f.write(struct.pack("<IIII", 1_000_000_000 + sec, int((t - sec) * 1e6), len(eth), len(eth)))
            f.write(eth)


def rtp_packets(pcm, seq0=1000, ts0=5000, ssrc=0x1234, pt=0, order=None):
    """20 ms PCMU packets for pcm; `order` lists packet indexes to send (reorder/drop/duplicate)."""
    frames = [pcm[i:i + 160] for i in range(0, len(pcm) - 159, 160)]
    idx = order if order is not None else range(len(frames))
    out = []
    for k, i in enumerate(idx):
        hdr = struct.pack("!BBHII", 0x80, (0x80 if i == 0 else 0) | pt, (seq0 + i) & 0xFFFF,
                          (ts0 + 160 * i) & 0xFFFFFFFF, ssrc)
        out.append((0.02 * k, hdr + bytes(ulaw(s) for s in frames[i])))
    return out


# --------------------------------------------------------------------------- SIPp scenarios

SDP = """v=0
o=user1 53655765 2353687637 IN IP[local_ip_type] [local_ip]
s=-
c=IN IP[media_ip_type] [media_ip]
t=0 0
m=audio [media_port] RTP/AVP {pts}
{rtpmaps}a={dir}
"""

PCMU_TE = ("0 101", "a=rtpmap:0 PCMU/8000\na=rtpmap:101 telephone-event/8000\na=fmtp:101 0-15\n")

FROM = "From: sipp <sip:caller@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]"
TO = "To: <sip:[service]@[remote_ip]:[remote_port]>"
DIALOG = "Call-ID: [call_id]\nContact: <sip:caller@[local_ip]:[local_port];transport=[transport]>\nMax-Forwards: 70"


def invite(codecs=PCMU_TE, direction="sendrecv", cseq=1, in_dialog=False):
    sdp = SDP.format(pts=codecs[0], rtpmaps=codecs[1], dir=direction)
    ruri = "sip:recd@[remote_ip]:[remote_port]" if in_dialog else "sip:[service]@[remote_ip]:[remote_port]"
    to = TO + ("[peer_tag_param]" if in_dialog else "")
    return """<send retrans="500"><![CDATA[
INVITE %s SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
%s
%s
CSeq: %d INVITE
%s
Content-Type: application/sdp
Content-Length: [len]

%s]]></send>
""" % (ruri, FROM, to, cseq, DIALOG, sdp)


def in_dialog(method, cseq, retrans=True):
    """A request of the caller's inside the call (after the 200): to recd's Contact, with its tag."""
    return """<send%s><![CDATA[
%s sip:recd@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
%s
%s[peer_tag_param]
CSeq: %d %s
%s
Content-Length: 0

]]></send>
""" % (' retrans="500"' if retrans else "", method, FROM, TO, cseq, method, DIALOG)


def ack(cseq=1):
    return in_dialog("ACK", cseq, retrans=False)


def ack_error():
    """ACK for a non-2xx final response: same transaction, so the INVITE's Via."""
    return """<send><![CDATA[
ACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0
[last_Via:]
%s
[last_To:]
CSeq: 1 ACK
%s
Content-Length: 0

]]></send>
""" % (FROM, DIALOG)


def bye(cseq=2):
    return in_dialog("BYE", cseq) + '<recv response="200" crlf="true"/>\n'


def answer(request, sdp=None, timeout=None):
    """Waits for recd's `request` in the call (up to `timeout` ms) and answers it 200 OK, with an
    SDP body when given one."""
    return """<recv request="%s"%s/>
<send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:caller@[local_ip]:[local_port];transport=[transport]>
%s
%s]]></send>
""" % (request, ' timeout="%d"' % timeout if timeout else "",
       "Content-Type: application/sdp\nContent-Length: [len]\n" if sdp else "Content-Length: 0\n", sdp or "")


OK_TO_BYE = answer("BYE")

CANCEL = """<send><![CDATA[
CANCEL sip:[service]@[remote_ip]:[remote_port] SIP/2.0
[last_Via:]
%s
%s
Call-ID: [call_id]
CSeq: 1 CANCEL
Max-Forwards: 70
Content-Length: 0

]]></send>
""" % (FROM, TO)

PROVISIONAL = '<recv response="100" optional="true"/>\n<recv response="180" optional="true"/>\n'


def play(pcap, ms):
    return ('<nop><action><exec play_pcap_audio="%s"/></action></nop>\n<pause milliseconds="%d"/>\n'
            % (pcap, ms))


def scenario(*parts, refs=()):
    body = "".join(parts)
    if refs:
        body += '<Reference variables="%s"/>\n' % ",".join(refs)
    return '<?xml version="1.0" encoding="ISO-8859-1" ?>\n<scenario name="recd">\n%s</scenario>\n' % body


def sipp_cmd(port, path, service, timeout, calls=1, rate=None, transport=None, local_ip="127.0.0.1",
             media_ip=False, media_port=True, timeout_error=True):
    """SIPp's command line for `calls` calls (at most that many at once; `rate` a second) of the
    scenario file `path` to number `service` at 127.0.0.1:port, from local_ip on a free SIP port
    and (media_port) a free media port, given up after `timeout` seconds (an error exit with
    timeout_error; tests that kill SIPp themselves leave it off)."""
    cmd = ["sipp", "127.0.0.1:%d" % port, "-sf", str(path), "-s", service, "-i", local_ip,
           "-p", str(free_port()), "-m", str(calls), "-l", str(calls), "-nostdin", "-timeout", "%ds" % timeout]
    if media_ip:
        cmd += ["-mi", local_ip]
    if media_port:
        cmd += ["-mp", str(free_rtp_range()[0])]
    if transport:
        cmd += ["-t", transport]
    if rate:
        cmd += ["-r", str(rate)]
    if timeout_error:
        cmd += ["-timeout_error"]
    return cmd


def sipp(echo, tmp_path, xml, service="5550100", transport="u1", local_ip="127.0.0.1", timeout=30):
    """Runs one call of `xml` against echo.port; returns (exit status, the message log)."""
    path = tmp_path / ("scen-%s.xml" % uuid.uuid4().hex[:8])
    path.write_text(xml)
    cmd = sipp_cmd(echo.port, path, service, timeout, transport=transport, local_ip=local_ip, media_ip=True) + \
        ["-trace_msg", "-message_file", str(path) + ".msg", "-trace_err", "-error_file", str(path) + ".err"]
    p = subprocess.run(cmd, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=timeout + 15)
    log = Path(str(path) + ".msg").read_text() if Path(str(path) + ".msg").exists() else ""
    return p.returncode, log + p.stdout.decode(errors="replace")


def expect_final(code):
    return scenario(invite(), PROVISIONAL, '<recv response="%d"/>\n' % code, ack_error())
