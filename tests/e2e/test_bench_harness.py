"""`make bench QUICK=1` works: it builds its data set, runs recd and nginx side by side, prints the
table and writes the results file. It checks the harness, never the timings: no number it prints
can fail this test, only a missing row, a failed step or a malformed results file."""

import os
import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

CASES = ["instance .json", "60 s .wav", "cached .mp3", "list page 0", "page 20 deep", "CallSid filter",
         "DateCreated range", "first MP3 encode, 60 s", "import --batch 64", "errors, all wrk runs",
         "recd peak RSS"]


def test_make_bench_quick(tmp_path):
    results = tmp_path / "RESULTS.md"
    # A results file with notes outside the markers: a run must keep them.
    results.write_text("# notes\n\nkept above\n")
    env = dict(os.environ, RECD_BENCH_DIR=str(tmp_path / "bench"), RECD_BENCH_RESULTS=str(results))
    before = (REPO / "bench" / "RESULTS.md").read_bytes() if (REPO / "bench" / "RESULTS.md").exists() else None
    out = subprocess.run(["make", "-s", "-C", str(REPO), "bench", "QUICK=1"], env=env, capture_output=True,
                         text=True, timeout=600)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]

    m = re.search(r"^recd bench: N=2000, .*, commit \S+, (\d+) cores$", out.stdout, re.M)
    assert m and int(m.group(1)) == os.cpu_count(), out.stdout
    assert re.search(r"^case\s+recd \(req/s  p50 / p99  cpu/req\)\s+baseline", out.stdout, re.M)
    for case in CASES:
        row = re.search(r"^%s\s+(.*)\s+(PASS|FAIL)$" % re.escape(case), out.stdout, re.M)
        assert row, "no row for %r in:\n%s" % (case, out.stdout)
    # Every throughput row carries a measured rate for recd.
    for case in CASES[:7]:
        row = re.search(r"^%s\s+(\d+)/s\s+[\d.]+ / [\d.]+ ms\s+\d+ us" % re.escape(case), out.stdout, re.M)
        assert row and int(row.group(1)) > 0, case
    assert re.search(r"^\d+ of 11 targets met$", out.stdout, re.M)
    assert (tmp_path / "bench" / "N2000" / "READY").exists()

    text = results.read_text()
    assert text.startswith("# notes\n\nkept above\n")
    assert text.count("<!-- bench:begin N=2000 QUICK") == 1 and text.count("<!-- bench:end N=2000 QUICK -->") == 1
    assert "## N = 2000 (QUICK)" in text
    for case in CASES:
        assert "| %s |" % case in text
    # The list case's floor (build/bench/pageserve on the same bytes) is in the notes.
    assert re.search(r"^- list page 0 floor .* p99 [\d.]+ ms \(the worse of two\)", text, re.M), text
    # The concurrent-calls section (bench/calls.py, QUICK: 10 and 40 calls, setups at 20/s): every
    # row present with its counts, whatever they are.
    for n in (10, 40):
        assert re.search(r"^\| %d \| \d+/s \| %d \| \d+ \| \d+ \| \d+ \| \d+/%d \|" % (n, n * 300, n), text, re.M), text
    assert re.search(r"^\| 20/s \| \d+/s \| \d+ \| \d+ \|", text, re.M), text
    assert text.count("<!-- bench-calls:begin quick") == 1 and text.count("<!-- bench-calls:end quick -->") == 1
    # The peaks section (bench/peaks.py, QUICK: 60 s of audio): the three WAV rows judged against
    # the goal and the two in-memory rows, each with its times and output sizes.
    for ch, spp in ((1, 256), (1, 32), (2, 256)):
        assert re.search(r"^\| WAV file -> \.dat \+ \.json \| %d \| %d \| [\d.]+ ms \| \d+x \| \d+ \| [\d.]+ ms "
                         r"\| \d+x \| \d+ / \d+ \| >= 10000x \| (PASS|FAIL) \|$" % (ch, spp), text, re.M), text
    for ch in (1, 2):
        assert re.search(r"^\| samples in memory -> \.dat \+ \.json \| %d \| 256 \| [\d.]+ ms \|" % ch, text, re.M)
    assert text.count("<!-- bench-peaks:begin quick") == 1 and text.count("<!-- bench-peaks:end quick -->") == 1
    # The transcription section (bench/stt.py, QUICK): the engine's speed on both kinds of audio,
    # and the list page with the workers idle and busy, every row present whatever its numbers.
    assert text.count("<!-- bench-stt:begin quick") == 1 and text.count("<!-- bench-stt:end quick -->") == 1
    for audio in ("16 kHz speech", "8 kHz telephone speech"):
        assert re.search(r"^\| %s .*\| 2 x 1 \| [\d.]+ \| [\d.]+ \| [\d.]+ \| [\d.]+ \|" % audio, text, re.M), text
    for phase in ("A idle", "B busy"):
        assert re.search(r"^\| %s \| idle \| \d+ \| [\d.]+ \| [\d.]+ \| [\d.]+ \| [\d.]+ \| \d+ \|" % phase, text, re.M), text
    # The verdict is the median of the rounds' busy/idle p99 ratios, with every round and the range.
    assert re.search(r"^\| list p99 B / A, median of 1 round \(decoders idle\) \| [\d.]+x \(range [\d.]+x-[\d.]+x; "
                     r"rounds: [\d.]+x\) \| <= 1\.2x \| (PASS|FAIL|INVALID[^|]*) \|$", text, re.M), text
    # The console section (bench/console.py in headless Chromium): its rows, whatever the times.
    assert text.count("<!-- bench-console:begin N=2000 QUICK") == 1, text
    for case in ("first list render, first load", "waveform drawn, first open (peaks made)",
                 "page weight (HTML+JS+CSS)"):
        assert "| %s " % case in text, case
    # The repository's results file is left alone.
    after = (REPO / "bench" / "RESULTS.md").read_bytes() if (REPO / "bench" / "RESULTS.md").exists() else None
    assert after == before
    # recd and nginx were stopped.
    for pidfile in (tmp_path / "bench" / "run" / "nginx" / "nginx.pid",):
        assert not pidfile.exists() or not Path("/proc/%s" % pidfile.read_text().strip()).exists()
