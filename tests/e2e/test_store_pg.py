"""The metadata store on PostgreSQL (contract section 9) from the outside: the database down at
start (a clear error, no password shown) and mid-request (503 with Twilio's code 20503, then 200
again once it is back, without restarting recd).  The rest of the suite runs against PostgreSQL
too with RECD_TEST_STORE=postgres; these tests need a cluster they may stop, so they run only
then."""

import subprocess

import pytest

from conftest import (RECD_BIN, STORE, assert_json_error, assert_xml_error, free_port, pg_cluster,
                      use_store, wav_bytes)

needs_pg = pytest.mark.skipif(STORE != "postgres", reason="RECD_TEST_STORE=postgres runs these")

DOWN_URL = "postgres://recd:s3cret-pw@127.0.0.1:%d/recd"


def test_database_down_at_start(tmp_path):
    """Nothing listens where the store should be: serve and the commands stop at once with one
    line that names the store (its password hidden), and nothing serves."""
    url = DOWN_URL % free_port()
    port = free_port()
    r = subprocess.run([str(RECD_BIN), "serve", "--listen", "127.0.0.1:%d" % port, "--data",
                        str(tmp_path / "d"), "--store", url], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 1, r
    assert "the database does not answer" in r.stderr, r.stderr
    assert "postgres://recd:***@127.0.0.1" in r.stderr, r.stderr
    assert "s3cret-pw" not in r.stderr + r.stdout
    r = subprocess.run([str(RECD_BIN), "account", "create", "--data", str(tmp_path / "d")],
                       capture_output=True, text=True, timeout=60, env={"RECD_STORE": url})
    assert r.returncode == 1, r
    assert r.stderr.count("\n") == 1 and "the database does not answer" in r.stderr, r.stderr
    assert "s3cret-pw" not in r.stderr + r.stdout


def test_unknown_store_is_bad_usage(tmp_path):
    r = subprocess.run([str(RECD_BIN), "account", "create", "--data", str(tmp_path / "d"),
                        "--store", "mysql://u:pw1@127.0.0.1/recd"], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 2, r
    assert "pw1" not in r.stderr and "postgres://" in r.stderr, r.stderr
    assert not (tmp_path / "d").exists()


@needs_pg
def test_database_down_mid_request(start_server, own_pg_cluster, tmp_path):
    url, cluster = own_pg_cluster
    data = tmp_path / "data"
    use_store(data, url)
    srv = start_server(data=data)
    acct = srv.cli.account_create(name="down")
    wav = tmp_path / "down.wav"
    wav.write_bytes(wav_bytes(0.5))
    rec = srv.cli.import_ok(acct.sid, [wav])[0]
    lst = "%s/Recordings.json" % acct.path
    inst = "%s/Recordings/%s.json" % (acct.path, rec["sid"])
    before = srv.get(lst, auth=acct.auth)
    assert before.status_code == 200 and len(before.json()["recordings"]) == 1
    pid = srv.proc.pid
    pg_cluster("pause", cluster)
    try:
        # Every worker finds its connection gone; each answers 503 with Twilio's error body.
        for _ in range(4):
            assert_json_error(srv.get(lst, auth=acct.auth), 503, 20503)
            assert_json_error(srv.get(inst), 503, 20503)
        assert_xml_error(srv.get("%s/Recordings" % acct.path, auth=acct.auth), 503, 20503)
        assert srv.request("DELETE", inst, auth=acct.auth).status_code == 503
    finally:
        pg_cluster("resume", cluster)
    # Back without a restart: the same process serves the same data, and the failed DELETE
    # changed nothing.
    for _ in range(4):
        after = srv.get(lst, auth=acct.auth)
        assert after.status_code == 200, after.text
        assert after.json()["recordings"] == before.json()["recordings"]
    assert srv.get(inst).json()["status"] == "completed"
    assert srv.proc.pid == pid and srv.proc.poll() is None
    assert srv.request("DELETE", inst, auth=acct.auth).status_code == 204
    assert srv.get(lst, auth=acct.auth).json()["recordings"] == []
    srv.stop()  # before its cluster goes



def test_two_nodes_one_store(start_server, tmp_path):
    """Two servers on one store (and, until the S3 media store, one data folder): what one
    imports the other lists, and a delete through one is seen by the other on its next request,
    though the other had the page and the recording in its cache."""
    a = start_server()
    b = start_server(data=a.data, bootstrap=False)
    acct = a.cli.account_create(name="nodes")
    wavs = []
    for i in range(3):
        w = tmp_path / ("n%d.wav" % i)
        w.write_bytes(wav_bytes(0.3))
        wavs.append(w)
    recs = a.cli.import_ok(acct.sid, wavs)
    lst = "%s/Recordings.json" % acct.path
    sids = sorted(r["sid"] for r in recs)
    for _ in range(3):  # every worker of b renders and caches the page and the instances
        assert sorted(r["sid"] for r in b.get(lst, auth=acct.auth).json()["recordings"]) == sids
        for s in sids:
            assert b.get("%s/Recordings/%s.json" % (acct.path, s)).status_code == 200
    gone = sids[0]
    assert a.request("DELETE", "%s/Recordings/%s.json" % (acct.path, gone),
                     auth=acct.auth).status_code == 204
    for _ in range(3):
        assert sorted(r["sid"] for r in b.get(lst, auth=acct.auth).json()["recordings"]) == sids[1:]
        assert b.get("%s/Recordings/%s.json" % (acct.path, gone)).status_code == 404
        assert b.get("%s/Recordings/%s.wav" % (acct.path, gone)).status_code == 404
    # And the other way round.
    assert b.request("DELETE", "%s/Recordings/%s.json" % (acct.path, sids[1]),
                     auth=acct.auth).status_code == 204
    assert [r["sid"] for r in a.get(lst, auth=acct.auth).json()["recordings"]] == [sids[2]]
