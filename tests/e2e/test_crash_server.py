"""Issue 5, crash consistency of the server (contract section 5): `recd serve` is SIGKILLed at
random moments (seeded: the seed is printed, RECD_CRASH_SEED replays a run) while it

1. answers bursts of concurrent DELETEs: every delete acknowledged with 204 stays deleted after
   the restart (404 on media and JSON, `status: deleted` with IncludeSoftDeleted=true); every
   listed recording is fetchable with its exact bytes; nothing else vanished (recordings are
   imported between a kill and the restart as the rounds need them);
2. runs beside concurrent `recd import`s and derives MP3s (first .mp3 GETs in flight): every
   import that exited 0 is listed with its exact bytes; every .mp3 after the restart is a
   complete MP3 that mpg123 decodes to the recording's duration (served from disk if it was
   kept, or derived again).

After the rounds `recd fsck` exits 0, `fsck --repair` exits 0 and a final `fsck` exits 0 with
no temporary file left in media/tmp.
"""

import http.client
import json
import subprocess
import threading
import time

from conftest import Recd, noise_wav_bytes, wav_bytes
from reliability_util import ExtServer, decode_mp3, figures, seeded_rng, sanitizer_lines, sha

DELETE_ROUNDS = 30
# A loaded machine (CI shares its cores) makes bursts take longer or shorter than calibrated, so
# rounds go on past the minimum until enough kills landed mid-burst, up to these bounds.
MAX_DELETE_ROUNDS = 60
PER_ROUND = 12
THREADS = 6
IMPORT_ROUNDS = 12
MAX_IMPORT_ROUNDS = 24
# Recordings are imported as the delete rounds need them, TOP_UP_ROUNDS rounds' worth at a time,
# and BYSTANDERS more stay in the pool untouched. Importing the most any run could need up front
# (740 files) cost a minute and more through S3 at load 30, and most runs use half of it. An
# import's deadline grows with its file count: 60 s, plus a second a file (S3 at load ~30 took
# ~0.1 s a file; a deadline is a hang detector, not a speed test).
TOP_UP_ROUNDS = 10
BYSTANDERS = 20


def import_deadline(n_files):
    return 60 + n_files


def http_call(port, method, path, auth_header=None, timeout=10):
    """One request on its own connection: (status, body) or (None, error) if the server died."""
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        hdrs = {"Connection": "close"}
        if auth_header:
            hdrs["Authorization"] = auth_header
        c.request(method, path, headers=hdrs)
        r = c.getresponse()
        body = r.read()
        c.close()
        return r.status, body
    except (OSError, http.client.HTTPException) as e:
        return None, repr(e)


def basic_header(acct):
    import base64
    return "Basic " + base64.b64encode(("%s:%s" % acct.auth).encode()).decode()


def fsck_all(cli):
    out = []
    for args in (("fsck",), ("fsck", "--repair"), ("fsck",)):
        r = cli.run(*args, timeout=180)
        out.append((args, r.returncode, (r.stdout + r.stderr).strip()[-400:]))
        assert r.returncode == 0, "recd %s -> %d\n%s%s" % (" ".join(args), r.returncode, r.stdout, r.stderr)
    return out


def tmp_leftovers(data):
    t = data / "media" / "tmp"
    return sorted(p.name for p in t.iterdir()) if t.exists() else []


def test_sigkill_server_during_deletes(tmp_path, recd_bin):
    seed, rng = seeded_rng("crash-server deletes")
    data = tmp_path / "data"
    cli = Recd(data)
    acct = cli.account_create(name="crash-deletes")
    media = {}   # every recording imported: sid -> its bytes
    pool = []    # sids no round has deleted yet, in random order

    def top_up(n):
        """Imports n more recordings (while no server runs: after a kill, before the restart)."""
        files = []
        for i in range(len(media), len(media) + n):
            f = tmp_path / ("d%03d.wav" % i)
            f.write_bytes(wav_bytes(0.1))
            files.append(f)
        recs = cli.import_ok(acct.sid, files, transcription_text="words", timeout=import_deadline(n))
        sids = [r["sid"] for r in recs]
        media.update((sid, f.read_bytes()) for sid, f in zip(sids, files))
        rng.shuffle(sids)
        pool[:0] = sids   # rounds take from the end: the newest are taken last

    top_up(TOP_UP_ROUNDS * PER_ROUND + BYSTANDERS)
    srv = ExtServer(data, tmp_path / "server.log", serve_args=["--auth-fail-limit", "0"])
    auth = basic_header(acct)
    ap = acct.path

    acked, attempted = set(), set()
    stats = {"rounds": 0, "killed_mid_burst": 0, "deletes_sent": 0, "acked_204": 0,
             "unacked_but_deleted": 0, "errors_after_kill": 0, "non_204_answers": 0}
    burst_times = []

    def verify_acked(tag):
        every = {r["sid"]: r["status"] for r in srv.list_all(acct, params={"IncludeSoftDeleted": "true"})}
        for sid in acked:
            assert every.get(sid) == "deleted", "%s: acknowledged delete of %s undone (%s)" % (tag, sid, every.get(sid))
            for ext in ("", ".json", ".mp3"):
                st, _ = http_call(srv.port, "GET", "%s/Recordings/%s%s" % (ap, sid, ext))
                assert st == 404, "%s: %s%s after an acknowledged delete -> %s" % (tag, sid, ext, st)
        return every

    try:
        for rnd in range(MAX_DELETE_ROUNDS):
            if rnd >= DELETE_ROUNDS and stats["killed_mid_burst"] >= DELETE_ROUNDS // 3:
                break
            if len(pool) < PER_ROUND + BYSTANDERS:
                top_up(TOP_UP_ROUNDS * PER_ROUND)
            srv.start()
            stats["rounds"] += 1
            if rnd:
                verify_acked("round %d" % rnd)
            batch = [pool.pop() for _ in range(PER_ROUND)]
            attempted.update(batch)
            results = {}
            ended = []   # when each worker sent its last delete
            lock = threading.Lock()

            def worker(sids):
                for sid in sids:
                    ext = rng.choice(("", ".json", ".xml", ".mp3"))
                    st, body = http_call(srv.port, "DELETE", "%s/Recordings/%s%s" % (ap, sid, ext), auth)
                    with lock:
                        results[sid] = st
                with lock:
                    ended.append(time.monotonic())

            threads = [threading.Thread(target=worker, args=(batch[i::THREADS],)) for i in range(THREADS)]
            t0 = time.monotonic()
            for t in threads:
                t.start()
            if rnd == 0:
                for t in threads:            # the first burst runs to completion: it calibrates
                    t.join()
                burst_times.append(time.monotonic() - t0)
                srv.kill()
            else:
                # Within the recent bursts' length: when the machine's load falls during the run,
                # bursts get shorter than the first, and kills timed by it alone came after them.
                time.sleep(rng.uniform(0, min(burst_times[-3:]) * 0.8))
                if any(t.is_alive() for t in threads):
                    stats["killed_mid_burst"] += 1
                else:
                    burst_times.append(max(ended) - t0)   # a whole burst: it calibrates too
                srv.kill()
                for t in threads:
                    t.join(30)
            stats["deletes_sent"] += len(results)
            for sid, st in results.items():
                if st == 204:
                    acked.add(sid)
                elif st is None:
                    stats["errors_after_kill"] += 1
                else:
                    stats["non_204_answers"] += 1
                    assert st in (204,), "DELETE %s answered %s before the kill" % (sid, st)
        stats["acked_204"] = len(acked)

        # the final restart: every acknowledged delete held, every listed recording intact
        srv.start()
        every = verify_acked("final")
        live = [s for s, st in every.items() if st != "deleted"]
        listed = [r["sid"] for r in srv.list_all(acct)]
        assert sorted(listed) == sorted(live)
        assert set(media) - set(every) == set(), "recordings vanished from the store"
        for sid in listed:
            st, body = http_call(srv.port, "GET", "%s/Recordings/%s" % (ap, sid))
            assert st == 200, "listed %s -> %s" % (sid, st)
            assert body == media[sid], "media of %s changed" % sid
            st, body = http_call(srv.port, "GET", "%s/Recordings/%s.json" % (ap, sid))
            assert st == 200 and json.loads(body)["status"] == "completed"
        never_tried = set(media) - attempted
        assert len(never_tried) >= BYSTANDERS and never_tried <= set(listed), "recordings nobody deleted are gone"
        stats["unacked_but_deleted"] = len([s for s in attempted - acked if every.get(s) == "deleted"])
        # transcriptions of deleted recordings are gone too
        trs = srv.list_all(acct, "Transcriptions")
        assert {t["recording_sid"] for t in trs} == set(listed)
        srv.stop()
        log = srv.log_text()
        assert not sanitizer_lines(log), sanitizer_lines(log)[:5]
        fs = fsck_all(cli)
        assert not tmp_leftovers(data)
    finally:
        srv.kill()
    figures("crash_server_deletes", seed=seed, burst_seconds=round(burst_times[0], 3),
            fsck=[rc for _, rc, _ in fs], **stats)
    assert stats["killed_mid_burst"] >= DELETE_ROUNDS // 3, "too few kills landed mid-burst: %s" % stats


def test_sigkill_server_during_imports_and_mp3(tmp_path, recd_bin):
    seed, rng = seeded_rng("crash-server imports+mp3")
    data = tmp_path / "data"
    cli = Recd(data)
    acct = cli.account_create(name="crash-imports")
    # recordings whose MP3 is asked for the first time while the server is killed: 2 s, 8 kHz
    n_mp3 = MAX_IMPORT_ROUNDS * 3 + 3
    mfiles = []
    for i in range(n_mp3):
        f = tmp_path / ("m%03d.wav" % i)
        f.write_bytes(wav_bytes(2.0, rate=8000))
        mfiles.append(f)
    mrecs = cli.import_ok(acct.sid, mfiles)
    mp3_pool = [r["sid"] for r in mrecs]
    offered = {sha(f.read_bytes()) for f in mfiles}
    acked = {}                 # sid -> sha of its bytes (imports that exited 0)
    for r, f in zip(mrecs, mfiles):
        acked[r["sid"]] = sha(f.read_bytes())

    srv = ExtServer(data, tmp_path / "server.log", serve_args=["--auth-fail-limit", "0"])
    ap = acct.path
    stats = {"rounds": 0, "imports_run": 0, "imports_ok": 0, "imports_failed": 0,
             "mp3_requests": 0, "mp3_complete_before_kill": 0, "killed_with_mp3_in_flight": 0,
             "mp3_checked_after_restart": 0}
    mp3_times = []
    touched = []

    def import_batch(tag):
        files = []
        for i in range(3):
            f = tmp_path / ("%s-%d.wav" % (tag, i))
            f.write_bytes(noise_wav_bytes(rng, rng.choice((40_000, 120_000)), rate=16000, channels=2))
            offered.add(sha(f.read_bytes()))
            files.append(f)
        return files, subprocess.Popen(cli.cmd(*Recd.import_args(acct.sid, files)),
                                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    try:
        for rnd in range(MAX_IMPORT_ROUNDS):
            if rnd >= IMPORT_ROUNDS and stats["killed_with_mp3_in_flight"] >= IMPORT_ROUNDS // 3:
                break
            srv.start()
            stats["rounds"] += 1
            imports = [import_batch("r%02d-%d" % (rnd, k)) for k in range(2)]
            stats["imports_run"] += len(imports)
            sids = [mp3_pool.pop() for _ in range(3)]
            touched.extend(sids)
            done = {}

            def fetch(sid):
                t0 = time.monotonic()
                st, body = http_call(srv.port, "GET", "%s/Recordings/%s.mp3" % (ap, sid), timeout=60)
                done[sid] = (st, time.monotonic() - t0)

            threads = [threading.Thread(target=fetch, args=(s,)) for s in sids for _ in range(2)]
            stats["mp3_requests"] += len(threads)
            for t in threads:
                t.start()
            if rnd == 0:
                for t in threads:
                    t.join()
                mp3_times.extend(d for _, d in done.values())
            else:
                time.sleep(rng.uniform(0, min(mp3_times) * 0.8))
            if any(t.is_alive() for t in threads):
                stats["killed_with_mp3_in_flight"] += 1
            srv.kill()
            for t in threads:
                t.join(60)
            stats["mp3_complete_before_kill"] += sum(1 for st, _ in done.values() if st == 200)
            for files, p in imports:
                out, err = p.communicate(timeout=120)
                if p.returncode == 0:
                    stats["imports_ok"] += 1
                    lines = [json.loads(l) for l in out.decode().splitlines() if l.strip()]
                    assert len(lines) == len(files), out
                    for rec, f in zip(lines, files):
                        acked[rec["sid"]] = sha(f.read_bytes())
                else:
                    stats["imports_failed"] += 1
                    # the server's death is no reason for an import to fail
                    raise AssertionError("import exited %d while the server was killed: %s" % (
                        p.returncode, err.decode()[-500:]))

        srv.start()
        listed = {r["sid"] for r in srv.list_all(acct)}
        missing = set(acked) - listed
        assert not missing, "imports that exited 0 are gone: %s" % sorted(missing)
        for sid in sorted(listed):
            st, body = http_call(srv.port, "GET", "%s/Recordings/%s" % (ap, sid))
            assert st == 200, (sid, st)
            assert sha(body) in offered, "%s: media matches no imported file" % sid
            if sid in acked:
                assert sha(body) == acked[sid], "%s: media is not what was imported" % sid
        # every MP3 whose first derivation was cut short: complete and of the right duration
        for sid in touched:
            st, body = http_call(srv.port, "GET", "%s/Recordings/%s.mp3" % (ap, sid), timeout=60)
            assert st == 200, (sid, st)
            rc, err, ch, rate, nframes = decode_mp3(tmp_path, body)
            assert rc == 0, "%s.mp3 does not decode: %s" % (sid, err)
            assert (ch, rate) == (1, 8000), (sid, ch, rate)
            assert abs(nframes - 16000) <= 1152, "%s.mp3 decodes to %d samples, want 16000" % (sid, nframes)
            # and the same bytes again (kept, not half-written)
            st2, body2 = http_call(srv.port, "GET", "%s/Recordings/%s.mp3" % (ap, sid), timeout=60)
            assert st2 == 200 and body2 == body
            stats["mp3_checked_after_restart"] += 1
        srv.stop()
        assert not sanitizer_lines(srv.log_text())
        leftovers_before = tmp_leftovers(data)
        fs = fsck_all(cli)
        assert not tmp_leftovers(data), tmp_leftovers(data)
    finally:
        srv.kill()
    figures("crash_server_imports_mp3", seed=seed, acked_recordings=len(acked),
            mp3_first_seconds=round(max(mp3_times), 3), tmp_leftovers_before_repair=len(leftovers_before),
            **stats)
    assert stats["killed_with_mp3_in_flight"] >= IMPORT_ROUNDS // 3, stats
