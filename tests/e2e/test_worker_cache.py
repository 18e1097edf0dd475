"""What each worker keeps between requests (valid credentials, open media files, rendered pages)
is forgotten on the next request after any commit, by this server or another process.

The changes below that recd has no command for (a token changed, a key revoked, an account
removed) are made with SQL on the server's own database, as another process would commit them:
with Python's sqlite3 on the data folder's recd.db, or with psql on the server's PostgreSQL store
when the suite runs against PostgreSQL (make e2e-pg, e2e-scale).
Each check runs over several connections, so that both worker threads are asked.
"""

import base64
import hashlib
import http.client
import os
import sqlite3
import subprocess

import pytest

CONNS = 8


def basic(user, secret):
    return "Basic " + base64.b64encode(("%s:%s" % (user, secret)).encode()).decode()


class Conns:
    """CONNS keep-alive connections to the server, each (most likely) on its own worker."""

    def __init__(self, server):
        self.c = [http.client.HTTPConnection("127.0.0.1", server.port, timeout=30) for _ in range(CONNS)]

    def statuses(self, path, auth=None, method="GET"):
        out = []
        for c in self.c:
            c.request(method, path, headers={"Authorization": auth} if auth else {})
            r = c.getresponse()
            r.read()
            out.append(r.status)
        return out

    def close(self):
        for c in self.c:
            c.close()


@pytest.fixture
def conns(server):
    c = Conns(server)
    yield c
    c.close()


def pg_literal(v):
    if isinstance(v, bytes):
        return "'\\x%s'::bytea" % v.hex()
    return "'%s'" % str(v).replace("'", "''")


def commit(server, sql, *args):
    """Runs `sql` (one row changed; `?` for each of args) in a process of its own."""
    store = server.cli.store
    if store:
        parts = sql.split("?")
        assert len(parts) == len(args) + 1, sql
        text = parts[0] + "".join(pg_literal(a) + p for a, p in zip(args, parts[1:]))
        r = subprocess.run(["psql", store, "-v", "ON_ERROR_STOP=1", "-Atc", text], capture_output=True,
                           text=True, timeout=60)
        assert r.returncode == 0 and r.stdout.split()[-1:] == ["1"], (text, r.stdout, r.stderr)
        return
    db = sqlite3.connect(str(server.data / "recd.db"), timeout=30)
    try:
        with db:
            cur = db.execute(sql, args)
            assert cur.rowcount == 1, sql
    finally:
        db.close()


def warm(conns, path, auth):
    # Twice on each connection: the second answer comes from the worker's cache.
    assert conns.statuses(path, auth) == [200] * CONNS
    assert conns.statuses(path, auth) == [200] * CONNS


def test_changed_token_is_seen_at_once(server, conns, make_account):
    acct = make_account()
    path = acct.path + "/Recordings.json"
    old = basic(acct.sid, acct.auth_token)
    warm(conns, path, old)
    token = os.urandom(16).hex()
    salt = os.urandom(16)
    commit(server, "UPDATE accounts SET token_salt = ?, token_hash = ? WHERE sid = ?", salt,
           hashlib.sha256(salt + token.encode()).digest(), acct.sid)
    assert conns.statuses(path, old) == [401] * CONNS
    assert conns.statuses(path, basic(acct.sid, token)) == [200] * CONNS
    assert conns.statuses(path, old) == [401] * CONNS


def test_revoked_key_is_seen_at_once(server, conns, make_account):
    acct = make_account()
    key = server.cli.key_create(acct.sid)
    path = acct.path + "/Recordings.json"
    warm(conns, path, basic(key["sid"], key["secret"]))
    warm(conns, path, basic(acct.sid, acct.auth_token))
    commit(server, "DELETE FROM api_keys WHERE sid = ?", key["sid"])
    assert conns.statuses(path, basic(key["sid"], key["secret"])) == [401] * CONNS
    assert conns.statuses(path, basic(acct.sid, acct.auth_token)) == [200] * CONNS


def test_removed_account_is_seen_at_once(server, conns, make_account):
    parent = make_account()
    child = make_account(parent=parent.sid)
    path = child.path + "/Recordings.json"
    warm(conns, path, basic(child.sid, child.auth_token))
    warm(conns, path, basic(parent.sid, parent.auth_token))
    commit(server, "DELETE FROM accounts WHERE sid = ?", child.sid)
    # Neither the account's own token nor its parent's opens a list that is no longer there.
    assert conns.statuses(path, basic(child.sid, child.auth_token)) == [401] * CONNS
    assert conns.statuses(path, basic(parent.sid, parent.auth_token)) == [401] * CONNS


def test_wrong_credentials_are_never_remembered(server, conns, make_account):
    acct = make_account()
    path = acct.path + "/Recordings.json"
    warm(conns, path, basic(acct.sid, acct.auth_token))
    wrong = basic(acct.sid, acct.auth_token[:-1] + ("0" if acct.auth_token[-1] != "0" else "1"))
    for _ in range(2):
        assert conns.statuses(path, wrong) == [401] * CONNS
    assert conns.statuses(path, None) == [401] * CONNS


def test_deleted_recording_media_is_gone_at_once(server, conns, make_account, make_wav, import_wavs):
    acct = make_account()
    rec = import_wavs(acct, [make_wav(0.3)])[0]
    base = "%s/Recordings/%s" % (acct.path, rec["sid"])
    for ext in (".mp3", ".wav", ".json"):
        assert conns.statuses(base + ext) == [200] * CONNS
        assert conns.statuses(base + ext) == [200] * CONNS
    assert conns.statuses(base + ".json", basic(acct.sid, acct.auth_token), "DELETE")[0] == 204
    for ext in (".mp3", ".wav", ".json"):
        assert conns.statuses(base + ext) == [404] * CONNS, ext


def test_media_auth_turned_on_is_seen_at_once(server, conns, make_account, make_wav, import_wavs):
    acct = make_account()
    rec = import_wavs(acct, [make_wav(0.3)])[0]
    base = "%s/Recordings/%s" % (acct.path, rec["sid"])
    for ext in (".mp3", ".wav"):
        assert conns.statuses(base + ext) == [200] * CONNS
        assert conns.statuses(base + ext) == [200] * CONNS
    server.cli.ok("account", "set", acct.sid, "--media-auth", "on")
    for ext in (".mp3", ".wav"):
        assert conns.statuses(base + ext) == [401] * CONNS, ext
        assert conns.statuses(base + ext, basic(acct.sid, acct.auth_token)) == [200] * CONNS, ext
