"""Issue 5, isolation matrix: every path of contract section 1, in every representation, GET and
DELETE, against every kind of principal, with the exact expected status; denied answers reveal
none of the target account's data; allowed deletes really delete and denied ones change nothing.

Principals, for a target account T (run for a parent P and for its subaccount C):
  none        no credentials                                   denied
  other       an unrelated account's sid and token             denied
  key_other   an API key of the unrelated account              denied
  self        T's own sid and token                            allowed
  key_same    an API key of T                                  allowed
  child       (T = P) P's subaccount C reading its parent      denied
  parent      (T = C) C's parent P reading its child           allowed (docs/api.md: read and delete)
  parent_key  (T = C) an API key of the parent                 allowed

Expected statuses: lists and transcriptions 200 allowed / 401 denied; DELETE on a list 405 for
everyone; recording instance GET (WAV, .wav, .mp3, .json, .xml) 200 for everyone while media
auth is off, 200 / 401 when it is on; recording and transcription DELETE 204 allowed / 401 denied.
"""

import json

import pytest

from conftest import acct_path, rand_sid, wav_bytes
from reliability_util import ExtServer, figures

LIST_EXTS = ["", ".json", ".xml"]
REC_EXTS = ["", ".wav", ".mp3", ".json", ".xml"]
TR_EXTS = ["", ".json", ".xml", ".txt"]


@pytest.fixture(scope="module")
def world(tmp_path_factory, recd_bin):
    d = tmp_path_factory.mktemp("isolation-data")
    srv = ExtServer(d, tmp_path_factory.mktemp("isolation-log") / "server.log",
                    serve_args=["--auth-fail-limit", "0"])
    cli = srv.cli
    P = cli.account_create(name="iso-parent")
    C = cli.account_create(name="iso-child", parent=P.sid)
    O = cli.account_create(name="iso-other")
    keys = {a.sid: cli.key_create(a.sid) for a in (P, C, O)}
    wdir = tmp_path_factory.mktemp("isolation-wavs")
    data = {}
    for acct, tag in ((P, "P"), (C, "C")):
        call, conf = rand_sid("CA"), rand_sid("CF")
        text = "private words of %s %s" % (tag, acct.sid[-6:])
        files = []
        for i in range(1 + 6 * 15 + 6 * 8):
            f = wdir / ("%s-%d.wav" % (tag, i))
            f.write_bytes(wav_bytes(0.1))
            files.append(f)
        recs = cli.import_ok(acct.sid, files, call=call, conference=conf, transcription_text=text)
        data[acct.sid] = {"acct": acct, "call": call, "conf": conf, "text": text,
                          "recs": [r["sid"] for r in recs],
                          "bytes": {r["sid"]: f.read_bytes() for r, f in zip(recs, files)}}
    srv.start()
    for sid, dd in data.items():
        trs = srv.list_all(dd["acct"], "Transcriptions")
        by_rec = {t["recording_sid"]: t["sid"] for t in trs}
        dd["tr_of"] = by_rec
        dd["main"] = dd["recs"][0]
        dd["main_tr"] = by_rec[dd["main"]]
        dd["fresh_recs"] = dd["recs"][1:1 + 6 * 15]
        dd["fresh_trs"] = [by_rec[r] for r in dd["recs"][1 + 6 * 15:]]
    w = {"srv": srv, "P": P, "C": C, "O": O, "keys": keys, "data": data}
    yield w
    srv.stop()


def principals(w, target):
    P, C, O, keys = w["P"], w["C"], w["O"], w["keys"]
    k = lambda a: (keys[a.sid]["sid"], keys[a.sid]["secret"])  # noqa: E731
    T = P if target == "P" else C
    out = [("none", None, False), ("other", O.auth, False), ("key_other", k(O), False),
           ("self", T.auth, True), ("key_same", k(T), True)]
    if target == "P":
        out.append(("child", C.auth, False))
    else:
        out += [("parent", P.auth, True), ("parent_key", k(P), True)]
    return out


def endpoints(dd):
    ap = acct_path(dd["acct"].sid)
    R, CA, CF, TR = dd["main"], dd["call"], dd["conf"], dd["main_tr"]
    lists = ["%s/Recordings" % ap, "%s/Recordings/%s/Transcriptions" % (ap, R),
             "%s/Recordings/%s/AddOnResults" % (ap, R), "%s/Calls/%s/Recordings" % (ap, CA),
             "%s/Conferences/%s/Recordings" % (ap, CF), "%s/Transcriptions" % ap]
    recs = ["%s/Recordings/%%s" % ap, "%s/Calls/%s/Recordings/%%s" % (ap, CA),
            "%s/Conferences/%s/Recordings/%%s" % (ap, CF)]
    trs = ["%s/Transcriptions/%%s" % ap, "%s/Recordings/%s/Transcriptions/%%s" % (ap, R)]
    return lists, recs, trs


def secrets_of(w, dd):
    """Strings of the target account that a denied answer must not contain (unless the
    request path itself carries them)."""
    out = set(dd["recs"]) | set(dd["tr_of"].values()) | {dd["call"], dd["conf"], dd["text"]}
    out.add(dd["acct"].auth_token)
    out.add(w["keys"][dd["acct"].sid]["secret"])
    return out


def check_denied_body(resp, path, secrets, wav):
    body = resp.content
    for s in secrets:
        if s in path:
            continue
        assert s.encode() not in body, "denied %s leaks %s: %r" % (path, s, body[:300])
    assert wav[44:80] not in body, "denied %s leaks media" % path


def test_isolation_matrix(world):
    w = world
    srv = w["srv"]
    counts = {"requests": 0, "denied": 0, "allowed": 0, "deletes_done": 0, "denied_deletes": 0}
    mismatches = []

    def expect(method, path, auth, want, denied, secrets, wav):
        r = srv.request(method, path, auth=auth)
        counts["requests"] += 1
        counts["denied" if denied else "allowed"] += 1
        if r.status_code != want:
            mismatches.append("%s %s as %s: want %d, got %d %s" % (
                method, path, auth[0][:6] if auth else "none", want, r.status_code, r.text[:120]))
        if denied:
            check_denied_body(r, path, secrets, wav)
        return r

    for media_auth in (False, True):
        for tgt in ("P", "C"):
            T = w[tgt]
            srv.cli.media_auth(T.sid, media_auth)
        for tgt in ("P", "C"):
            T = w[tgt]
            dd = w["data"][T.sid]
            lists, recs, trs = endpoints(dd)
            secrets = secrets_of(w, dd)
            wav = dd["bytes"][dd["main"]]
            for name, auth, allowed in principals(w, tgt):
                for lp in lists:
                    for ext in LIST_EXTS:
                        expect("GET", lp + ext, auth, 200 if allowed else 401, not allowed, secrets, wav)
                        if not media_auth:
                            expect("DELETE", lp + ext, auth, 405, not allowed, secrets, wav)
                for rp in recs:
                    for ext in REC_EXTS:
                        path = (rp % dd["main"]) + ext
                        want = 200 if (allowed or not media_auth) else 401
                        r = expect("GET", path, auth, want, want != 200, secrets, wav)
                        if r.status_code == 200 and ext in ("", ".wav"):
                            assert r.content == wav, path
                for tp in trs:
                    for ext in TR_EXTS:
                        path = (tp % dd["main_tr"]) + ext
                        r = expect("GET", path, auth, 200 if allowed else 401, not allowed, secrets, wav)
                        if r.status_code == 200 and ext == ".txt":
                            assert r.text == dd["text"]

    # DELETEs (media auth on or off does not matter to DELETE: it always needs credentials)
    for tgt in ("P", "C"):
        T = w[tgt]
        dd = w["data"][T.sid]
        lists, recs, trs = endpoints(dd)
        secrets = secrets_of(w, dd)
        wav = dd["bytes"][dd["main"]]
        fresh_recs = list(dd["fresh_recs"])
        fresh_trs = list(dd["fresh_trs"])
        deleted_recs, deleted_trs = [], []
        for name, auth, allowed in principals(w, tgt):
            for rp in recs:
                for ext in REC_EXTS:
                    if allowed:
                        sid = fresh_recs.pop()
                        expect("DELETE", (rp % sid) + ext, auth, 204, False, secrets, wav)
                        deleted_recs.append(sid)
                        counts["deletes_done"] += 1
                    else:
                        expect("DELETE", (rp % dd["main"]) + ext, auth, 401, True, secrets, wav)
                        counts["denied_deletes"] += 1
            for i, tp in enumerate(trs):
                for ext in TR_EXTS:
                    if allowed:
                        sid = fresh_trs.pop()
                        rec_of = [r for r, t in dd["tr_of"].items() if t == sid][0]
                        path = ("%s/Transcriptions/%s" % (acct_path(T.sid), sid) if i == 0 else
                                "%s/Recordings/%s/Transcriptions/%s" % (acct_path(T.sid), rec_of, sid))
                        expect("DELETE", path + ext, auth, 204, False, secrets, wav)
                        deleted_trs.append(sid)
                        counts["deletes_done"] += 1
                    else:
                        expect("DELETE", (tp % dd["main_tr"]) + ext, auth, 401, True, secrets, wav)
                        counts["denied_deletes"] += 1
        # allowed deletes really deleted; denied ones changed nothing
        ap = acct_path(T.sid)
        live = {r["sid"] for r in srv.list_all(T)}
        every = {r["sid"]: r["status"] for r in srv.list_all(T, params={"IncludeSoftDeleted": "true"})}
        for sid in deleted_recs:
            assert sid not in live, sid
            assert every.get(sid) == "deleted", (sid, every.get(sid))
            assert srv.get("%s/Recordings/%s.json" % (ap, sid), auth=T.auth).status_code == 404
            assert srv.get("%s/Recordings/%s" % (ap, sid), auth=T.auth).status_code == 404
        assert live == set(dd["recs"]) - set(deleted_recs), "recordings changed beyond the allowed deletes"
        live_trs = {t["sid"] for t in srv.list_all(T, "Transcriptions")}
        for sid in deleted_trs:
            assert sid not in live_trs, sid
            assert srv.get("%s/Transcriptions/%s.json" % (ap, sid), auth=T.auth).status_code == 404
        assert dd["main"] in live and dd["main_tr"] in live_trs
        r = srv.get("%s/Recordings/%s" % (ap, dd["main"]), auth=T.auth)
        assert r.status_code == 200 and r.content == wav
        r = srv.get("%s/Transcriptions/%s.txt" % (ap, dd["main_tr"]), auth=T.auth)
        assert r.status_code == 200 and r.text == dd["text"]

    figures("isolation_matrix", mismatches=len(mismatches), **counts)
    assert not mismatches, "%d of %d answers differ:\n%s" % (
        len(mismatches), counts["requests"], "\n".join(mismatches[:60]))


def test_foreign_sids_under_own_account(world):
    """The other account names P's recording, call, conference and transcription under its own
    account path: every answer is a 404 or an empty list, never P's data."""
    w = world
    srv, O, P = w["srv"], w["O"], w["P"]
    dd = w["data"][P.sid]
    ap = acct_path(O.sid)
    secrets = secrets_of(w, dd)
    wav = dd["bytes"][dd["main"]]
    R, TR, CA, CF = dd["main"], dd["main_tr"], dd["call"], dd["conf"]
    n = 0
    for path, kind in (["%s/Recordings/%s%s" % (ap, R, e), "inst"] for e in REC_EXTS):
        for auth in (O.auth, None):
            r = srv.get(path, auth=auth)
            n += 1
            assert r.status_code == 404, (path, r.status_code)
            check_denied_body(r, path, secrets, wav)
    for path in ["%s/Transcriptions/%s%s" % (ap, TR, e) for e in TR_EXTS] + \
                ["%s/Recordings/%s/Transcriptions/%s.json" % (ap, R, TR)]:
        r = srv.get(path, auth=O.auth)
        n += 1
        assert r.status_code == 404, (path, r.status_code)
        check_denied_body(r, path, secrets, wav)
    # a call or conference is only a filter (O has no recordings of it: an empty list); a list
    # under a recording exists only while the recording does in that account (404)
    for path, key in (("%s/Calls/%s/Recordings.json" % (ap, CA), "recordings"),
                      ("%s/Conferences/%s/Recordings.json" % (ap, CF), "recordings"),
                      ("%s/Recordings.json?CallSid=%s" % (ap, CA), "recordings"),
                      ("%s/Recordings/%s/Transcriptions.json" % (ap, R), None),
                      ("%s/Recordings/%s/AddOnResults.json" % (ap, R), None)):
        r = srv.get(path, auth=O.auth)
        n += 1
        if key:
            assert r.status_code == 200, (path, r.status_code)
            assert r.json()[key] == [], (path, r.text[:300])
        else:
            assert r.status_code == 404, (path, r.status_code)
            assert r.json()["code"] == 20404, (path, r.text[:300])
        check_denied_body(r, path, secrets, wav)
    for path in ["%s/Recordings/%s%s" % (ap, R, e) for e in (".json", "")] + \
                ["%s/Transcriptions/%s.json" % (ap, TR)]:
        r = srv.request("DELETE", path, auth=O.auth)
        n += 1
        assert r.status_code == 404, (path, r.status_code)
        check_denied_body(r, path, secrets, wav)
    # nothing of P changed
    assert srv.get("%s/Recordings/%s" % (acct_path(P.sid), R), auth=P.auth).content == wav
    assert srv.get("%s/Transcriptions/%s.txt" % (acct_path(P.sid), TR), auth=P.auth).text == dd["text"]
    figures("isolation_foreign_sids", requests=n)
