#!/usr/bin/python3
"""The voicemail application of `make run` (scripts/run-demo.sh), and the files of its test call.

recd does not serve TwiML: like Twilio, it asks the number's web application what to do. This is
the smallest such application, Python's http.server on 127.0.0.1:

    POST /voice  ->  <Say>…leave a message after the beep</Say><Record maxLength="10" action="/done"/>
    POST /done   ->  <Say>Thank you, goodbye.</Say><Hangup/>

It prints each recording's URL as its action arrives.

    demo-voicemail.py serve HOST:PORT     serves the application until killed
    demo-voicemail.py wait HOST:PORT      waits (at most 10 s) until the application answers
    demo-voicemail.py call-files DIR      writes DIR/demo-call.xml (a SIPp scenario) and
                                          DIR/demo-call.pcap (G.711 tones it plays: 440, 660 and
                                          880 Hz, 2 s each, twice), for the demo's test call
"""

import math
import os
import socket
import time
import struct
import sys
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

VOICE = """<?xml version="1.0" encoding="UTF-8"?>
<Response>
  <Say>Hello. This is the recd demo voicemail. Please leave a message after the beep.</Say>
  <Record maxLength="10" timeout="3" action="/done"/>
</Response>
"""

DONE = """<?xml version="1.0" encoding="UTF-8"?>
<Response>
  <Say>Thank you, goodbye.</Say>
  <Hangup/>
</Response>
"""


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        sys.stderr.write("demo app: %s\n" % (fmt % args))

    def _serve(self):
        n = int(self.headers.get("Content-Length") or 0)
        if n > 65536:
            self.send_error(413)
            return
        form = dict(urllib.parse.parse_qsl(self.rfile.read(n).decode(errors="replace")))
        path = self.path.partition("?")[0]
        body = {"/voice": VOICE, "/done": DONE}.get(path)
        if body is None:
            self.send_error(404)
            return
        if path == "/done" and form.get("RecordingUrl"):
            sys.stderr.write("demo app: call %s left a %s s message: %s.wav\n" % (
                form.get("CallSid"), form.get("RecordingDuration"), form["RecordingUrl"]))
        data = body.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/xml")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = _serve
    do_POST = _serve


def serve(addr):
    host, _, port = addr.rpartition(":")
    httpd = ThreadingHTTPServer((host, int(port)), Handler)
    httpd.daemon_threads = True
    httpd.serve_forever()


def wait(addr):
    host, _, port = addr.rpartition(":")
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection((host, int(port)), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                sys.stderr.write("demo app: nothing answers on %s\n" % addr)
                sys.exit(1)
            time.sleep(0.05)


def ulaw(sample):
    """G.711 mu-law of a 16-bit sample."""
    mask = 0xFF
    if sample < 0:
        sample, mask = -sample, 0x7F
    sample = min(sample + 0x84, 0x7FFF)
    seg = max(0, sample.bit_length() - 8)
    return ((seg << 4) | ((sample >> (seg + 3)) & 0x0F)) ^ mask


def write_pcap(path, freqs, secs_each):
    """PCMU RTP, 20 ms packets, as Ethernet/IPv4/UDP frames that SIPp's play_pcap_audio replays."""
    pcm = []
    for f in freqs:
        pcm += [int(8000 * math.sin(2 * math.pi * f * i / 8000)) for i in range(int(secs_each * 8000))]
    with open(path, "wb") as out:
        out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for k in range(len(pcm) // 160):
            rtp = struct.pack("!BBHII", 0x80, 0x80 if k == 0 else 0, k & 0xFFFF, (160 * k) & 0xFFFFFFFF, 0xDE70)
            rtp += bytes(ulaw(s) for s in pcm[160 * k:160 * k + 160])
            udp = struct.pack("!HHHH", 6000, 6000, 8 + len(rtp), 0) + rtp
            ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0,
                             bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2])) + udp
            eth = b"\x00\x11\x22\x33\x44\x55\x66\x77\x88\x99\xaa\xbb\x08\x00" + ip
            t = 0.02 * k
            out.write(struct.pack("<IIII", int(t), int(round((t - int(t)) * 1e6)), len(eth), len(eth)))
            out.write(eth)


# A call that sends the tones and waits for recd to hang up (after the message and the goodbye).
SCENARIO = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="recd demo call">
<send retrans="500"><![CDATA[
INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: demo <sip:caller@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: 1 INVITE
Contact: <sip:caller@[local_ip]:[local_port];transport=[transport]>
Max-Forwards: 70
Content-Type: application/sdp
Content-Length: [len]

v=0
o=demo 1 1 IN IP[local_ip_type] [local_ip]
s=-
c=IN IP[media_ip_type] [media_ip]
t=0 0
m=audio [media_port] RTP/AVP 0
a=rtpmap:0 PCMU/8000
a=sendrecv
]]></send>
<recv response="100" optional="true"/>
<recv response="180" optional="true"/>
<recv response="200" rrs="true"/>
<send><![CDATA[
ACK sip:recd@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: demo <sip:caller@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: 1 ACK
Contact: <sip:caller@[local_ip]:[local_port];transport=[transport]>
Max-Forwards: 70
Content-Length: 0

]]></send>
<nop><action><exec play_pcap_audio="%s"/></action></nop>
<recv request="BYE"/>
<send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:caller@[local_ip]:[local_port];transport=[transport]>
Content-Length: 0

]]></send>
</scenario>
"""


def call_files(folder):
    pcap = os.path.abspath(os.path.join(folder, "demo-call.pcap"))
    write_pcap(pcap, [440, 660, 880, 440, 660, 880], 2.0)
    with open(os.path.join(folder, "demo-call.xml"), "w") as f:
        f.write(SCENARIO % pcap)


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "serve":
        serve(sys.argv[2])
    elif len(sys.argv) == 3 and sys.argv[1] == "wait":
        wait(sys.argv[2])
    elif len(sys.argv) == 3 and sys.argv[1] == "call-files":
        call_files(sys.argv[2])
    else:
        sys.stderr.write("usage: demo-voicemail.py serve|wait HOST:PORT | call-files DIR\n")
        sys.exit(2)


if __name__ == "__main__":
    main()
