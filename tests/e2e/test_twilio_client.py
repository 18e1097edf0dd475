"""The official Python helper library (twilio 7.7.1) against recd."""

import datetime as dt
import json

import pytest
from twilio.base.exceptions import TwilioException, TwilioRestException

from conftest import rand_sid

UTC = dt.timezone.utc


@pytest.fixture(scope="module")
def many(server, make_account, import_wavs, twilio_client):
    acct = make_account()
    recs = import_wavs(acct, 120, seconds=0.02)
    return acct, [r["sid"] for r in reversed(recs)], twilio_client(acct.sid, acct.auth_token)


def test_base_url_is_used(server, many):
    _, _, client = many
    assert client.api.base_url == server.url
    assert client.api.v2010.domain.absolute_url("/x") == server.url + "/x"


def test_list_auto_pages_default_page_size(server, many):
    acct, order, client = many
    off = server.log_size()
    got = [r.sid for r in client.recordings.list()]
    assert got == order                      # 120 > 50: needs next_page_uri, three pages
    # and the pages really came from this server: three list requests in its access log
    lines = server.log_lines_since(
        off, lambda ls: len([l for l in ls if acct.sid + "/Recordings.json" in l]) >= 3)
    assert len([l for l in lines if acct.sid + "/Recordings.json" in l]) == 3, lines


def test_list_page_size_and_limit(many):
    acct, order, client = many
    assert [r.sid for r in client.recordings.list(page_size=7)] == order
    assert [r.sid for r in client.recordings.list(page_size=7, limit=30)] == order[:30]
    assert [r.sid for r in client.recordings.list(limit=55)] == order[:55]
    page = client.recordings.page(page_size=7)
    assert [r.sid for r in page] == order[:7]
    nxt = page.next_page()
    assert [r.sid for r in nxt] == order[7:14]
    prev = nxt.previous_page()
    assert [r.sid for r in prev] == order[:7]


def test_stream(many):
    _, order, client = many
    assert [r.sid for r in client.recordings.stream(page_size=13)] == order


@pytest.fixture(scope="module")
def small(server, make_account, make_wav, import_wavs, twilio_client):
    acct = make_account()
    call = rand_sid("CA")
    a = import_wavs(acct, [make_wav(1.4)], call=call, transcription_text="library text",
                    date_created="2015-03-04T05:06:07Z")[0]
    b = import_wavs(acct, [make_wav(0.6, rate=16000, channels=2)])[0]
    return acct, call, a, b, twilio_client(acct.sid, acct.auth_token)


def test_fetch(server, small):
    acct, call, a, b, client = small
    r = client.recordings(a["sid"]).fetch()
    assert r.sid == a["sid"]
    assert r.account_sid == acct.sid
    assert r.call_sid == call
    assert r.conference_sid is None
    assert r.duration == "1"
    assert r.channels == 1
    assert r.status == "completed"
    assert r.source == "RecordVerb"
    assert r.api_version == "2010-04-01"
    assert r.price is None and r.price_unit == "USD"
    assert r.date_created == dt.datetime(2015, 3, 4, 5, 6, 7, tzinfo=UTC)
    assert isinstance(r.date_updated, dt.datetime)
    assert r.uri == "%s/Recordings/%s.json" % (acct.path, a["sid"])
    rb = client.recordings(b["sid"]).fetch()
    assert rb.channels == 2 and rb.duration == "1"


def test_fetch_unknown_is_404(small):
    client = small[-1]
    with pytest.raises(TwilioRestException) as ei:
        client.recordings(rand_sid("RE")).fetch()
    assert ei.value.status == 404
    assert ei.value.code == 20404


def test_call_recordings(small):
    acct, call, a, b, client = small
    assert [r.sid for r in client.calls(call).recordings.list()] == [a["sid"]]
    assert client.calls(rand_sid("CA")).recordings.list() == []
    r = client.calls(call).recordings(a["sid"]).fetch()
    assert r.sid == a["sid"] and r.call_sid == call
    assert [r.sid for r in client.recordings.list(call_sid=call)] == [a["sid"]]


def test_transcriptions(small):
    acct, call, a, b, client = small
    ts = client.recordings(a["sid"]).transcriptions.list()
    assert len(ts) == 1
    t = ts[0]
    assert t.transcription_text == "library text"
    assert t.recording_sid == a["sid"]
    assert t.status == "completed"
    assert client.recordings(b["sid"]).transcriptions.list() == []
    all_t = client.transcriptions.list()
    assert [x.sid for x in all_t] == [t.sid]
    assert client.transcriptions(t.sid).fetch().transcription_text == "library text"
    assert client.recordings(a["sid"]).transcriptions(t.sid).fetch().sid == t.sid


def test_add_on_results(small):
    acct, call, a, b, client = small
    assert client.recordings(a["sid"]).add_on_results.list() == []


def test_delete(server, make_account, make_wav, import_wavs, twilio_client):
    acct = make_account()
    keep, gone = import_wavs(acct, [make_wav(0.1), make_wav(0.1)])
    client = twilio_client(acct.sid, acct.auth_token)
    assert client.recordings(gone["sid"]).delete() is True
    assert [r.sid for r in client.recordings.list()] == [keep["sid"]]
    assert server.get("%s/Recordings/%s" % (acct.path, gone["sid"])).status_code == 404
    soft = client.recordings.list(include_soft_deleted=True)
    assert {r.sid: r.status for r in soft} == {keep["sid"]: "completed", gone["sid"]: "deleted"}


@pytest.fixture(scope="module")
def dated(make_account, make_wav, import_wavs, twilio_client):
    acct = make_account()
    dates = {
        "r1": "2009-07-04T10:00:00Z",
        "r2": "2009-07-05T23:59:59Z",
        "r3": "2009-07-06T00:00:00Z",
        "r4": "2009-07-06T12:00:00Z",
        "r5": "2009-07-06T23:59:59Z",
        "r6": "2009-07-07T00:00:00Z",
        "r7": "2009-07-08T08:00:00Z",
    }
    sids = {n: import_wavs(acct, [make_wav(0.05)], date_created=d)[0]["sid"] for n, d in dates.items()}
    return sids, twilio_client(acct.sid, acct.auth_token)


def _names(sids, recs):
    inv = {v: k for k, v in sids.items()}
    return [inv[r.sid] for r in recs]


def test_date_filters_with_datetimes(dated):
    sids, client = dated
    ts = dt.datetime(2009, 7, 6, 12, 0, 0)
    # the library sends DateCreated%3E=2009-07-06T12:00:00Z etc.
    assert _names(sids, client.recordings.list(date_created_after=ts)) == ["r7", "r6", "r5", "r4"]
    assert _names(sids, client.recordings.list(date_created_before=ts)) == ["r4", "r3", "r2", "r1"]
    assert _names(sids, client.recordings.list(
        date_created_after=dt.datetime(2009, 7, 5), date_created_before=ts)) == ["r4", "r3", "r2"]
    # date_created with a datetime: the only recording at that instant on that day... and the day
    # of r7 has no other recording, so both "the day of T" and "exactly T" give r7
    assert _names(sids, client.recordings.list(
        date_created=dt.datetime(2009, 7, 8, 8, 0, 0))) == ["r7"]


def test_date_filters_with_dates(dated):
    sids, client = dated
    # a date object goes out as midnight: DateCreated<=2009-07-06T00:00:00Z
    assert _names(sids, client.recordings.list(date_created_before=dt.date(2009, 7, 6))) == \
        ["r3", "r2", "r1"]
    assert _names(sids, client.recordings.list(date_created_after=dt.date(2009, 7, 7))) == ["r7", "r6"]
    assert _names(sids, client.recordings.list(date_created_after=dt.date(2009, 7, 5),
                                               date_created_before=dt.date(2009, 7, 6))) == ["r3", "r2"]


def test_date_created_with_date_means_that_day(dated):
    """client.recordings.list(date_created=date(2009, 7, 6)) sends DateCreated=2009-07-06T00:00:00Z.
    A user asks for that day; we expect all of it (see the report: contract is silent on
    DateCreated=<timestamp>)."""
    sids, client = dated
    assert _names(sids, client.recordings.list(date_created=dt.date(2009, 7, 6))) == ["r5", "r4", "r3"]


def _list_fails_401(list_call):
    """List pages go through Page.process_response, which raises a plain TwilioException
    carrying the response (not TwilioRestException) when the status is not 200."""
    with pytest.raises(TwilioException) as ei:
        list_call()
    resp = ei.value.args[1]
    assert resp.status_code == 401
    assert json.loads(resp.text)["code"] == 20003


def test_api_key_auth(server, make_account, make_wav, import_wavs, twilio_client):
    acct = make_account()
    other = make_account()
    rec = import_wavs(acct, [make_wav(0.1)], transcription_text="k")[0]
    orec = import_wavs(other, [make_wav(0.1)])[0]
    key = server.cli.key_create(acct.sid, name="lib")
    client = twilio_client(key["sid"], key["secret"], acct.sid)
    assert [r.sid for r in client.recordings.list()] == [rec["sid"]]
    t = client.transcriptions.list()[0]
    assert client.transcriptions(t.sid).fetch().transcription_text == "k"
    # the key acts for its own account only
    other_client = twilio_client(key["sid"], key["secret"], other.sid)
    _list_fails_401(other_client.recordings.list)
    with pytest.raises(TwilioRestException) as ei:
        other_client.recordings(orec["sid"]).delete()
    assert ei.value.status == 401
    assert ei.value.code == 20003
    assert server.get("%s/Recordings/%s" % (other.path, orec["sid"])).status_code == 200
    # wrong secret
    bad = twilio_client(key["sid"], key["secret"] + "x", acct.sid)
    _list_fails_401(bad.recordings.list)
    with pytest.raises(TwilioRestException) as ei:
        bad.transcriptions(t.sid).fetch()
    assert ei.value.status == 401 and ei.value.code == 20003


@pytest.mark.parametrize("which", ["token", "sid"])
def test_bad_credentials(server, make_account, make_wav, import_wavs, twilio_client, which):
    acct = make_account()
    rec = import_wavs(acct, [make_wav(0.1)], transcription_text="secret words")[0]
    tsid = server.get_json(acct.path + "/Transcriptions.json", auth=acct.auth)["transcriptions"][0]["sid"]
    if which == "token":
        client = twilio_client(acct.sid, "0" * 32)
    else:
        client = twilio_client(rand_sid("AC"), acct.auth_token, acct.sid)
    with pytest.raises(TwilioRestException) as ei:
        client.transcriptions(tsid).fetch()
    assert ei.value.status == 401
    assert ei.value.code == 20003
    with pytest.raises(TwilioRestException) as ei:
        client.recordings(rec["sid"]).delete()
    assert ei.value.status == 401 and ei.value.code == 20003
    _list_fails_401(client.recordings.list)
    _list_fails_401(client.transcriptions.list)
    # nothing was deleted
    assert server.get("%s/Recordings/%s" % (acct.path, rec["sid"])).content == rec["_bytes"]
