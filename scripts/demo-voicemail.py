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

import os
import socket
import sys
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# The demo runs from the repository (`make run`); its test call is built with the voice tests'
# SIPp helpers, so that the call a person places is the one the tests place.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "e2e"))
import sipp_util  # noqa: E402

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


def call_files(folder):
    """A call that offers G.711 u-law, sends the tones and waits for recd to hang up (after the
    message and the goodbye): the scenario and RTP the voice tests' calls are made of."""
    pcap = os.path.abspath(os.path.join(folder, "demo-call.pcap"))
    sipp_util.write_pcap(pcap, sipp_util.rtp_packets(sipp_util.tones([(2.0, [f]) for f in (440, 660, 880) * 2])))
    with open(os.path.join(folder, "demo-call.xml"), "w") as f:
        f.write(sipp_util.scenario(sipp_util.invite(codecs=("0", "a=rtpmap:0 PCMU/8000\n")), sipp_util.PROVISIONAL,
                                   '<recv response="200" rrs="true"/>\n', sipp_util.ack(), sipp_util.play(pcap, 0),
                                   sipp_util.OK_TO_BYE))


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
