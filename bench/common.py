"""Helpers every bench/*.py harness shares: its log line, the load average, a free port, the
commit measured, and its own section of bench/RESULTS.md between markers.

Each harness used to carry its own copy of these; one copy keeps their reports alike (the same
commit spelling, the same markers' handling) and lets a fix reach all of them."""

import os
import socket
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLK_TCK = os.sysconf("SC_CLK_TCK")


def logger(name):
    """A log function that prints "NAME: msg" on stderr at once (the harnesses run for minutes,
    and their progress is what a person watches)."""
    def log(msg):
        print(name + ": " + msg, file=sys.stderr, flush=True)
    return log


def loadavg():
    """The 1, 5 and 15 minute load averages, as /proc/loadavg spells them."""
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def commit():
    """The checkout's short commit, "-dirty" when tracked files differ from it; "unknown" outside
    a git checkout."""
    try:
        c = subprocess.run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                           check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", REPO, "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True).stdout.strip()
        return c + ("-dirty" if dirty else "")
    except (subprocess.CalledProcessError, FileNotFoundError):
        return "unknown"


def results_writer(mark_begin, mark_end):
    """write_results(path, key, body) for one harness: replaces the block between its markers
    (mark_begin % key, mark_end % key) in the results file, or appends one, through a temporary
    file and a rename, so that a run that dies leaves the file as it was."""
    def write_results(path, key, body):
        begin, end = mark_begin % key, mark_end % key
        text = open(path).read() if os.path.exists(path) else "# recd benchmark results\n"
        block = begin + "\n" + body + end + "\n"
        if begin in text and end in text:
            i, j = text.index(begin), text.index(end) + len(end) + 1
            text = text[:i] + block + text[j:]
        else:
            text = text.rstrip("\n") + "\n\n" + block
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    return write_results
