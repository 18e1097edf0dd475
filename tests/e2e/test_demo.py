"""`make run` (scripts/run-demo.sh): the demo serves the API and SIP, starts its voicemail TwiML
application, prints one command that makes a test call, and that command, run as printed, leaves
a completed recording of the tones it sent, which the printed list command shows.

The script runs as it would for a person, with its addresses moved to free ports on 127.0.0.1
(RECD_LISTEN, RECD_SIP, RECD_DEMO_APP) and its data in the test's folder; it is stopped with its
whole process group (recd and the application) by SIGTERM.
"""

import json
import os
import re
import signal
import subprocess
import time

import requests

from conftest import REPO, RECD_BIN, SID_RE, free_port
from test_voice_calls import tone_sequence, wav_samples


def read_until(proc, pattern, timeout=60):
    """The script's output up to the first line matching pattern."""
    out = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        out.append(line)
        if re.search(pattern, line):
            return "".join(out)
    raise AssertionError("no line matching %r in:\n%s" % (pattern, "".join(out)))


def test_make_run_prints_a_call_that_leaves_a_recording(tmp_path, recd_bin):
    data = tmp_path / "data"
    env = dict(os.environ, RECD=str(RECD_BIN), RECD_DATA=str(data),
               RECD_LISTEN="127.0.0.1:%d" % free_port(), RECD_SIP="127.0.0.1:%d" % free_port(),
               RECD_DEMO_APP="127.0.0.1:%d" % free_port())
    proc = subprocess.Popen([str(REPO / "scripts" / "run-demo.sh")], cwd=REPO, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        banner = read_until(proc, r"answering calls on SIP")
        calls = [ln.strip() for ln in banner.splitlines() if ln.strip().startswith("sipp ")]
        assert len(calls) == 1, banner
        lists = [ln.strip() for ln in banner.splitlines() if "/Recordings.json'" in ln]
        assert lists, banner
        # The one command, as printed, from another folder.
        p = subprocess.run(calls[0], shell=True, cwd=tmp_path, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=90)
        assert p.returncode == 0, p.stdout.decode(errors="replace")[-3000:]
        # recd hung up after the message: its recording is complete (the action has been sent,
        # and the recording is durable before that), and the printed list command shows it.
        listing = subprocess.run(lists[-1], shell=True, stdout=subprocess.PIPE, timeout=30, check=True)
        rows = json.loads(listing.stdout)["recordings"]
        msgs = [r for r in rows if r["call_sid"]]
        assert len(msgs) == 1, rows
        msg = msgs[0]
        assert SID_RE["CA"].match(msg["call_sid"]) and msg["status"] == "completed", msg
        assert int(msg["duration"]) >= 2, msg
        base = lists[-1].split("'")[1].rsplit("/", 1)[0]
        r = requests.get("%s/Recordings/%s.wav" % (base, msg["sid"]), timeout=30)
        assert r.status_code == 200
        heard = tone_sequence(wav_samples(r.content), (440, 660, 880))
        # The greeting and the beep cover the first tones; what was recorded is the tones in order.
        assert len(heard) >= 2 and all(heard[i + 1] == {440: 660, 660: 880, 880: 440}[heard[i]]
                                       for i in range(len(heard) - 1)), heard
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    assert "demo app: call CA" in out, out[-3000:]
    assert "AddressSanitizer" not in out and "runtime error" not in out, out[-4000:]
