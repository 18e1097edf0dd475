"""Contract section 5: an acknowledged import survives a crash at any instant; fsck proves the
store consistent.  `recd import` is SIGKILLed at random moments (seeded; set RECD_CRASH_SEED to
replay a run), interleaved with imports that are allowed to finish."""

import hashlib
import json
import os
import random
import signal
import subprocess
import time

import pytest

from conftest import Recd, noise_wav_bytes

KILLS = 30
FINISH_EVERY = 3          # after every 3rd killed import, one import runs to completion


def sha(b):
    return hashlib.sha256(b).hexdigest()


def make_batch(rng, directory, tag):
    """Four WAV files: two of ~100 KB (16 kHz stereo), two small (8 kHz mono)."""
    specs = [(100_000, 16000, 2), (rng.randrange(1600, 4800), 8000, 1),
             (100_000, 16000, 2), (rng.randrange(1600, 4800), 8000, 1)]
    rng.shuffle(specs)
    files = []
    for i, (n, rate, ch) in enumerate(specs):
        p = directory / ("%s-%d.wav" % (tag, i))
        p.write_bytes(noise_wav_bytes(rng, n, rate=rate, channels=ch))
        files.append(p)
    return files


def acknowledged_lines(stdout):
    """Complete JSON lines printed before the process ended: each is an acknowledged recording."""
    out = []
    for line in stdout.split(b"\n")[:-1]:          # the last piece has no newline: not complete
        if line.strip():
            out.append(json.loads(line)["sid"])
    return out


# One batch of four files, and four batches of one: then each file's media is written while the
# file before it syncs and commits, so a kill also lands between two batches in flight.
@pytest.mark.parametrize("batch", [None, 1], ids=["one-batch", "batch-of-1"])
def test_sigkill_during_imports(start_server, recd_bin, tmp_path, batch):
    seed = int(os.environ.get("RECD_CRASH_SEED", random.SystemRandom().randrange(2 ** 32)))
    print("crash test seed: %d (replay with RECD_CRASH_SEED=%d)" % (seed, seed))
    rng = random.Random(seed)
    data = tmp_path / "data"
    wavs = tmp_path / "wavs"
    wavs.mkdir()
    cli = Recd(data)
    acct = cli.account_create(name="crash")

    hashes = {}        # sha256 -> file name, every file ever offered to import
    acked = {}         # sid -> sha256 of one of its batch's files (set of candidates)
    stats = {"killed": 0, "finished_before_kill": 0, "completed": 0, "acked_from_killed": 0}

    durations = []     # wall time of imports that ran to completion

    def run_batch(tag, kill):
        files = make_batch(rng, wavs, tag)
        batch_hashes = {sha(f.read_bytes()) for f in files}
        for f in files:
            hashes[sha(f.read_bytes())] = f.name
        args = Recd.import_args(acct.sid, files)
        if batch:
            args[3:3] = ["--batch", str(batch)]
        cmd = cli.cmd(*args)
        t0 = time.monotonic()
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        if kill:
            # a random moment in 0-200 ms, within the time a whole import takes here, so that
            # most kills land while the import is running rather than after it finished
            window = min(0.2, min(durations) if durations else 0.2)
            time.sleep(rng.uniform(0, window))
            if p.poll() is None:
                p.send_signal(signal.SIGKILL)
                stats["killed"] += 1
            else:
                stats["finished_before_kill"] += 1
        out, err = p.communicate(timeout=60)
        if kill:
            assert p.returncode in (0, -signal.SIGKILL), (tag, p.returncode, err)
        else:
            assert p.returncode == 0, (tag, p.returncode, err)
        sids = acknowledged_lines(out)
        if p.returncode == 0:
            assert len(sids) == len(files), (tag, out)
        elif sids:
            stats["acked_from_killed"] += len(sids)
        for s in sids:
            acked[s] = batch_hashes
        if not kill:
            stats["completed"] += 1
            durations.append(time.monotonic() - t0)

    run_batch("calibrate", kill=False)
    for i in range(KILLS):
        run_batch("k%02d" % i, kill=True)
        if (i + 1) % FINISH_EVERY == 0:
            run_batch("f%02d" % i, kill=False)
    print("crash test:", stats, "acknowledged recordings:", len(acked))
    assert stats["completed"] == 1 + KILLS // FINISH_EVERY
    assert stats["killed"] >= KILLS // 3, "too few imports were killed mid-flight: %s" % stats

    # the store is consistent: plain fsck passes even with leftovers of unacknowledged writes
    for args in (("fsck",), ("fsck", "--repair"), ("fsck",)):
        r = cli.run(*args, timeout=120)
        print("$ recd %s\n%s%s" % (" ".join(args), r.stdout, r.stderr))
        assert r.returncode == 0, (args, r.returncode, r.stdout, r.stderr)
    # the repair found every leftover: a batch's temp files are made in the shard folders, not
    # only in media/tmp
    assert " 0 leftovers" in r.stdout, r.stdout
    temps = [os.path.join(d, n) for d, _, names in os.walk(data / "media") for n in names if n.endswith(".tmp")]
    assert not temps, temps

    srv = start_server(data=data, bootstrap=False)
    items = srv.list_all(acct)
    listed = [i["sid"] for i in items]
    assert len(listed) == len(set(listed)), "duplicate recordings listed"
    missing = set(acked) - set(listed)
    assert not missing, "acknowledged imports lost: %s" % sorted(missing)
    # every listed recording (acknowledged or not) has intact media, equal to a file we offered
    media = []
    for sid in listed:
        r = srv.get("%s/Recordings/%s" % (acct.path, sid))
        assert r.status_code == 200, (sid, r.status_code)
        h = sha(r.content)
        assert h in hashes, "media of %s matches no imported file" % sid
        if sid in acked:
            assert h in acked[sid], "media of %s is not from its own batch" % sid
        media.append(h)
    # distinct recordings have distinct media (nothing stored twice, nothing mixed up)
    assert len(media) == len(set(media))
