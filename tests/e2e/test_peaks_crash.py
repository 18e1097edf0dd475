"""Issue 16, contract sections 5 and 10: `recd serve` is SIGKILLed while it computes and stores
waveform peaks (first requests for new SamplesPerPixel values in flight, at seeded random
moments: the seed is printed, RECD_CRASH_SEED replays a run).

Afterwards nothing is half-written under a key: plain `recd fsck` exits 0 and, recomputing every
kept waveform from its recording, finds none that differs (leftover temporary files may be
reported, and `fsck --repair` removes them); every waveform asked for during the rounds is then
served whole, its two formats holding the same values.
"""

import json
import struct
import threading
import time

from conftest import noise_wav_bytes
from reliability_util import ext_server, figures, sanitizer_lines, seeded_rng  # noqa: F401
from test_crash_server import tmp_leftovers

ROUNDS = 6
MAX_ROUNDS = 12


def peaks(port, auth, acct_sid, sid, fmt, spp, timeout=60):
    import requests
    try:
        r = requests.get("http://127.0.0.1:%d/recd/Accounts/%s/Recordings/%s/Peaks.%s?SamplesPerPixel=%d"
                         % (port, acct_sid, sid, fmt, spp), auth=auth, timeout=timeout)
        return r.status_code, r.content
    except Exception as exc:  # noqa: BLE001 - the server was killed under it
        return None, repr(exc)


def test_sigkill_during_peaks(tmp_path, ext_server):
    seed, rng = seeded_rng("crash peaks")
    srv = ext_server(serve_args=["--auth-fail-limit", "0"])
    acct = srv.cli.account_create(name="crash-peaks")
    f = tmp_path / "long.wav"
    f.write_bytes(noise_wav_bytes(rng, 48000 * 4 * 60, rate=48000, channels=2))  # 1 min, 48 kHz stereo
    rec = srv.cli.import_ok(acct.sid, [f])[0]
    sid = rec["sid"]

    # calibrate: how long do the first requests of one SamplesPerPixel take here?
    t0 = time.monotonic()
    assert peaks(srv.port, acct.auth, acct.sid, sid, "dat", 32)[0] == 200
    calib = time.monotonic() - t0

    asked = [32]
    stats = {"rounds": 0, "killed_in_flight": 0, "answered_before_kill": 0}
    try:
        for rnd in range(MAX_ROUNDS):
            if rnd >= ROUNDS and stats["killed_in_flight"] >= ROUNDS // 2:
                break
            if rnd:
                srv.start()
            stats["rounds"] += 1
            spps = [33 + rnd]
            asked += spps
            done = []
            # both formats of one value, twice each: one pass must serve all four
            threads = [threading.Thread(target=lambda a=(fmt, s): done.append(
                peaks(srv.port, acct.auth, acct.sid, sid, a[0], a[1])))
                for s in spps for fmt in ("dat", "json", "dat", "json")]
            for t in threads:
                t.start()
            time.sleep(rng.uniform(0, calib * 1.1))
            if any(t.is_alive() for t in threads):
                stats["killed_in_flight"] += 1
            srv.kill()
            for t in threads:
                t.join(60)
            stats["answered_before_kill"] += sum(1 for st, _ in done if st == 200)

        # nothing kept under a key differs from what its recording gives (fsck recomputes)
        r = srv.cli.run("fsck", timeout=300)
        assert r.returncode == 0, r.stdout + r.stderr
        assert "damaged" not in r.stdout.replace(" 0 damaged", ""), r.stdout
        leftovers = len(tmp_leftovers(srv.data))
        r = srv.cli.run("fsck", "--repair", timeout=300)
        assert r.returncode == 0, r.stdout + r.stderr
        r = srv.cli.run("fsck", timeout=300)
        assert r.returncode == 0 and r.stdout.strip().endswith("0 leftovers, 0 removed: clean"), r.stdout
        assert tmp_leftovers(srv.data) == []

        # every waveform asked for is served whole, both formats with the same values
        srv.start()
        for spp in asked:
            st, dat = peaks(srv.port, acct.auth, acct.sid, sid, "dat", spp)
            assert st == 200, (spp, st)
            version, flags, rate, got_spp, length, channels = struct.unpack("<iIiiIi", dat[:24])
            assert (version, flags, rate, got_spp, channels) == (2, 1, 48000, spp, 2)
            assert length == -(-48000 * 60 // spp) and len(dat) == 24 + 4 * length
            st, js = peaks(srv.port, acct.auth, acct.sid, sid, "json", spp)
            assert st == 200, (spp, st)
            j = json.loads(js)
            assert j["length"] == length
            assert j["data"] == list(struct.unpack("<%db" % (4 * length), dat[24:]))
        srv.stop()
        assert not sanitizer_lines(srv.log_text())
    finally:
        srv.kill()
    figures("crash_peaks", seed=seed, first_request_seconds=round(calib, 3),
            tmp_leftovers_before_repair=leftovers, **stats)
    assert stats["killed_in_flight"] >= ROUNDS // 2, stats
