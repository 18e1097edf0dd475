"""GET /livez and /readyz (contract section 11, docs/operations.md). Readiness follows the store and
the media and comes back by itself: 503 while another connection holds the database's write lock,
while the media folder is on a file system gone read-only, or (on PostgreSQL) while the database
is down; 200 again after, with no restart. Liveness answers all along, never asking either.
"""

import sqlite3
import subprocess
import time

import pytest
import requests

from conftest import MEDIA, S3_CREDS, STORE, Recd, Server, needs_local_media, pg_cluster, s3_location


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    """One server for the module. Its media/tmp, where every media write starts, is a tmpfs of its
    own when the test may mount one (root), so that a test can make it read-only."""
    tmp = tmp_path_factory.mktemp("ops-health")
    s = Server(tmp / "data", tmp / "server.log")
    s.cli.account_create(name="bootstrap")
    where = s.data / "media" / "tmp"
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs", str(where)],
                       capture_output=True, text=True) if MEDIA != "s3" else None
    s.tmpfs = where if r and r.returncode == 0 else None
    s.tmpfs_why = r.stderr.strip() if r else "media on S3"
    s.start()
    yield s
    s.stop()
    if s.tmpfs:
        subprocess.run(["umount", "-l", str(where)], capture_output=True)


def ready(srv):
    r = requests.get(srv.url + "/readyz", timeout=30)
    assert r.headers["Content-Type"] == "application/json"
    body = r.json()
    assert set(body) == {"status", "checks"} and set(body["checks"]) == {"store", "media"}, body
    assert (r.status_code == 200) == (body["status"] == "ready"), (r.status_code, body)
    return r.status_code, body


def live(srv):
    t0 = time.monotonic()
    r = requests.get(srv.url + "/livez", timeout=30)
    assert r.status_code == 200 and r.json() == {"status": "alive"}
    return time.monotonic() - t0


def test_live_and_ready(srv):
    live(srv)
    assert ready(srv) == (200, {"status": "ready", "checks": {"store": "ok", "media": "ok"}})
    head = requests.head(srv.url + "/readyz", timeout=30)
    assert head.status_code == 200 and head.content == b""
    for path in ("/livez", "/readyz"):
        r = requests.post(srv.url + path, timeout=30)
        assert r.status_code == 405 and r.headers["Allow"] == "GET, HEAD", r.text
    # No auth, no Twilio envelope; a query is ignored; neighbours are not ours.
    assert requests.get(srv.url + "/livez?probe=1", timeout=30).status_code == 200
    assert requests.get(srv.url + "/livez/", timeout=30).status_code == 404


@pytest.mark.skipif(STORE == "postgres", reason="the write lock of SQLite's own file")
def test_store_locked_out(srv):
    """Another process holds the SQLite write lock: readiness says the store is unavailable (in
    its short timeout, not the 10 s a write would wait), liveness is unmoved; then ready again."""
    db = sqlite3.connect(str(srv.data / "recd.db"), timeout=30, isolation_level=None)
    try:
        db.execute("BEGIN IMMEDIATE")
        t0 = time.monotonic()
        status, body = ready(srv)
        took = time.monotonic() - t0
        assert status == 503, body
        assert body == {"status": "not ready", "checks": {"store": "unavailable", "media": "ok"}}
        assert took < 5, took  # the check's own budget is 0.5 s; a write would wait 10 s
        live(srv)
    finally:
        db.execute("ROLLBACK")
        db.close()
    assert ready(srv)[0] == 200
    log = srv.log_text()
    assert "not ready: store unavailable, media ok" in log and "ready again" in log, log[-2000:]
    metrics = requests.get(srv.url + "/metrics", timeout=30).text
    busy = [l for l in metrics.splitlines() if l.startswith("recd_sqlite_busy_retries_total ")]
    assert busy and float(busy[0].split()[1]) > 0, busy


@needs_local_media
def test_media_read_only(srv):
    """The media's file system goes read-only (media/tmp's tmpfs remounted): not ready; writable
    again: ready, without a restart."""
    if not srv.tmpfs:
        pytest.skip("cannot mount a tmpfs (needs root): %s" % srv.tmpfs_why)
    assert ready(srv)[0] == 200
    subprocess.run(["mount", "-o", "remount,ro", str(srv.tmpfs)], check=True)
    try:
        status, body = ready(srv)
        assert status == 503 and body["checks"] == {"store": "ok", "media": "not writable"}, body
        live(srv)
    finally:
        subprocess.run(["mount", "-o", "remount,rw", str(srv.tmpfs)], check=True)
    assert ready(srv) == (200, {"status": "ready", "checks": {"store": "ok", "media": "ok"}})
    assert "Read-only file system" in srv.log_text()


@pytest.mark.skipif(STORE == "postgres", reason="runs once, in the SQLite pass, on a cluster of its own")
def test_readyz_follows_postgres(own_pg_cluster, tmp_path):
    """The database goes down: not ready within the check's timeout, alive all along; back up:
    ready again on the same connection pool, without a restart. (A cluster of the test's own:
    the suite's serves other workers' tests meanwhile.)"""
    url, cluster = own_pg_cluster
    s = Server(tmp_path / "data", tmp_path / "server.log", serve_args=["--store", url])
    assert s.cli.run("account", "create", "--store", url).returncode == 0
    s.start()
    try:
        assert ready(s)[0] == 200
        pg_cluster("pause", cluster)
        try:
            status, body = ready(s)
            assert status == 503 and body["checks"]["store"] == "unavailable", body
            live(s)
        finally:
            pg_cluster("resume", cluster)
        deadline = time.monotonic() + 30
        while ready(s)[0] != 200:
            assert time.monotonic() < deadline, ready(s)
            time.sleep(0.2)
    finally:
        s.stop()


@pytest.mark.skipif(STORE == "postgres" or MEDIA == "s3", reason="runs once, in the plain pass")
def test_readyz_asks_s3(tmp_path):
    """Media on S3 whose bucket refuses recd's credentials: not ready, the media unavailable; the
    check is one request to the bucket, metered as the s3 backend's `ready`."""
    media = s3_location()
    cli = Recd(tmp_path / "data")
    wrong = {"AWS_ACCESS_KEY_ID": "S3RVER", "AWS_SECRET_ACCESS_KEY": "not-the-secret"}
    s = Server(tmp_path / "data", tmp_path / "server.log", serve_args=["--media", media], env=wrong)
    r = cli.run("account", "create", "--media", media, env=S3_CREDS)
    assert r.returncode == 0, r.stderr
    s.start()
    try:
        status, body = ready(s)
        assert status == 503 and body["checks"]["media"] == "unavailable", body
        metrics = requests.get(s.url + "/metrics", timeout=30).text
        assert 'recd_media_operation_errors_total{backend="s3",op="ready"} ' in metrics, metrics[-2000:]
    finally:
        s.stop()
    assert "not-the-secret" not in s.log_text()
