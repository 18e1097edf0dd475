"""Helpers every bench/*.py harness shares: its log line, the load average, a free port, the
commit measured, CPU time read from /proc, starting and stopping a server, and its own section of
bench/RESULTS.md between markers.

Each harness used to carry its own copy of these; one copy keeps their reports alike (the same
commit spelling, the same markers' handling, the same CPU reading) and lets a fix reach all of them."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLK_TCK = os.sysconf("SC_CLK_TCK")
# Where the harnesses keep data sets and run folders, and the results file they write.
BENCH_DIR = os.environ.get("RECD_BENCH_DIR", "/var/tmp/recd-bench")
RESULTS = os.environ.get("RECD_BENCH_RESULTS", os.path.join(REPO, "bench", "RESULTS.md"))


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
    """A port on 127.0.0.1 that nothing uses now, for TCP and for UDP alike (a SIP endpoint binds
    both; an HTTP server only needs the first)."""
    for _ in range(50):
        t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            t.bind(("127.0.0.1", 0))
            port = t.getsockname()[1]
            u.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue
        finally:
            u.close()
            t.close()
    raise RuntimeError("no free port")


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


# ------------------------------------------------------------------------------- /proc

def _stat_cpu(raw):
    """User + system CPU seconds from a /proc stat line (the fields after the command's ")", which
    may itself hold spaces and parentheses)."""
    fields = raw.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def proc_cpu(pid):
    """User + system CPU seconds of a process (all its threads), or None when it is gone."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return _stat_cpu(f.read())
    except (OSError, IndexError, ValueError):
        return None


def cpu_seconds(pids):
    """User + system CPU seconds of the given processes together; those gone count nothing."""
    return sum(c for c in map(proc_cpu, pids) if c is not None)


def thread_cpu(pid):
    """{tid: (thread name, CPU seconds)} for every thread of pid ({} when it is gone)."""
    out = {}
    try:
        tids = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return out
    for tid in tids:
        try:
            with open("/proc/%d/task/%s/stat" % (pid, tid)) as f:
                raw = f.read()
            out[int(tid)] = (raw[raw.index("(") + 1:raw.rindex(")")], _stat_cpu(raw))
        except (OSError, IndexError, ValueError):
            pass  # a thread that ended meanwhile
    return out


def children(pid):
    """The processes whose parent is pid."""
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open("/proc/%s/stat" % d) as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        out.append(int(d))
            except (OSError, IndexError, ValueError):
                pass
    return out


# ----------------------------------------------------------------------------- servers

def wait_port(port, proc, what, timeout=20.0):
    """Returns once something accepts TCP connections on 127.0.0.1:port; raises when proc exits
    first or `timeout` passes."""
    end = time.time() + timeout
    while time.time() < end:
        if proc.poll() is not None:
            raise RuntimeError("%s exited with status %s before listening" % (what, proc.returncode))
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("%s did not listen on port %d" % (what, port))


def terminate(proc, timeout=30.0):
    """Stops a server the way its users would (SIGTERM, then waits `timeout` for it to finish its
    work), killing it only past that. True when it ended on SIGTERM (or had ended already)."""
    if proc is None or proc.poll() is not None:
        return True
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
        return True
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return False


def start_recd(binary, data, log, args=(), env=None, what="recd serve", timeout=20.0):
    """`binary serve --threads 2` on a free port of 127.0.0.1 over the data folder, its stderr to
    `log` (a file open for writing), `args` after; (process, port) once it accepts connections.
    Two worker threads, as every harness measures the server (the machine's 2 cores)."""
    port = free_port()
    proc = subprocess.Popen([binary, "serve", "--listen", "127.0.0.1:%d" % port, "--data", data, "--threads", "2"]
                            + list(args), stdout=subprocess.DEVNULL, stderr=log, env=env)
    try:
        wait_port(port, proc, what, timeout)
    except RuntimeError:
        terminate(proc, 5)
        raise
    return proc, port


def recd_cli(binary, data, *args, timeout=600):
    """`binary ARGS... --data DATA`: its standard output; raises with its stderr when it fails."""
    out = subprocess.run([binary] + list(args) + ["--data", data], capture_output=True, text=True, timeout=timeout)
    if out.returncode != 0:
        raise RuntimeError("recd %s: %s" % (args[0], out.stderr.strip()))
    return out.stdout


# ---------------------------------------------------------------------------- data sets

def dataset(base, n, log, gen=None):
    """bench.py's data set of n recordings under base (build/bench/gen makes it once, then it is
    kept: a folder without READY is a run that died and is made again): (its folder, meta.json)."""
    ds = os.path.join(base, "N%d" % n)
    if not os.path.exists(os.path.join(ds, "READY")):
        if os.path.exists(ds):
            shutil.rmtree(ds)
        os.makedirs(base, exist_ok=True)
        log("building the data set: %d recordings in %s" % (n, ds))
        subprocess.run([gen or os.path.join(REPO, "build", "bench", "gen"), ds, str(n)], check=True)
    with open(os.path.join(ds, "meta.json")) as f:
        return ds, json.load(f)


# ----------------------------------------------------------------------------- results

def results_writer(name, script, log=None):
    """write_results(path, key, body) for one harness: replaces the block between its markers
    (`<!-- NAME:begin KEY (written by SCRIPT; ...) -->` and `<!-- NAME:end KEY -->`) in the results
    file, or appends one, through a temporary file and a rename, so that a run that dies leaves the
    file as it was; then logs where it wrote. The end marker's own newline goes with the old block
    (and comes back with the new one); whatever follows it, notes written by hand included, stays
    as it was."""
    mark_begin = "<!-- %s:begin %%s (written by %s; edit outside the markers) -->" % (name, script)
    mark_end = "<!-- %s:end %%s -->" % name

    def write_results(path, key, body):
        begin, end = mark_begin % key, mark_end % key
        text = open(path).read() if os.path.exists(path) else \
            "# recd benchmark results\n\n`make bench` writes the blocks between the markers.\n"
        block = begin + "\n" + body + end + "\n"
        if begin in text and end in text:
            i, j = text.index(begin), text.index(end) + len(end)
            if text.startswith("\n", j):
                j += 1
            text = text[:i] + block + text[j:]
        else:
            text = text.rstrip("\n") + "\n\n" + block
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, path)
        if log:
            log("results written to %s" % path)
    return write_results
