"""Contract section 2: list order, paging (keyset tokens and legacy Page), envelopes, filters."""

import base64
import json
import math
import re

import pytest

from conftest import (ENVELOPE_KEYS, assert_json_error, assert_xml_error, basic, media_type,
                      parse_rfc2822, query_dict, rand_sid, split_uri, xml_root)

TOKEN_RE = re.compile(r"^P[AB][A-Za-z0-9_\-.~=]+$")


def get_list(server, acct, params=None, resource="Recordings", ext=".json"):
    return server.get_json("%s/%s%s" % (acct.path, resource, ext), auth=acct.auth, params=params)


def follow(server, acct, uri):
    assert uri.startswith(acct.path + "/"), "URIs must be relative paths: %r" % uri
    return server.get_json(uri, auth=acct.auth)


def raw_json(server, acct, query, resource="Recordings.json"):
    """GET with the query string sent byte-for-byte (raw '<' and '>' allowed)."""
    status, headers, body = server.raw(
        "GET", "%s/%s?%s" % (acct.path, resource, query),
        headers={"Authorization": basic(acct.sid, acct.auth_token)})
    return status, headers, body


def sids(body, key="recordings"):
    return [r["sid"] for r in body[key]]


def check_page_arith(body, n, key="recordings"):
    assert body["start"] == body["page"] * body["page_size"], body
    if n:
        assert body["end"] == body["start"] + n - 1, body
    else:
        assert body["end"] == body["start"], body
    assert len(body[key]) == n


# --------------------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def twenty(make_account, import_wavs):
    acct = make_account()
    recs = import_wavs(acct, 20, seconds=0.05)
    return acct, [r["sid"] for r in reversed(recs)]      # newest first


@pytest.fixture(scope="module")
def dated(make_account, make_wav, import_wavs):
    """Seven recordings with known creation dates, some on a call / conference."""
    acct = make_account()
    call, conf = rand_sid("CA"), rand_sid("CF")
    spec = [
        ("r1", "2009-07-04T10:00:00Z", {}),
        ("r2", "2009-07-05T23:59:59Z", {"call": call}),
        ("r3", "2009-07-06T00:00:00Z", {}),
        ("r4", "2009-07-06T12:00:00Z", {"call": call}),
        ("r5", "2009-07-06T23:59:59Z", {"conference": conf}),
        ("r6", "2009-07-07T00:00:00Z", {}),
        ("r7", "2009-07-08T08:00:00Z", {}),
    ]
    recs = {}
    for name, date, opts in spec:
        recs[name] = import_wavs(acct, [make_wav(0.05)], date_created=date, **opts)[0]["sid"]
    return acct, recs, call, conf


def names(recs, body):
    inv = {v: k for k, v in recs.items()}
    return [inv.get(s, s) for s in sids(body)]


# --------------------------------------------------------------------------- order

def test_newest_first_matches_import_order(server, twenty):
    acct, order = twenty
    body = get_list(server, acct)
    assert sids(body) == order
    dates = [parse_rfc2822(r["date_created"]) for r in body["recordings"]]
    assert dates == sorted(dates, reverse=True)


def test_newest_first_by_date_created_then_sid(server, make_account, make_wav, import_wavs):
    acct = make_account()
    # imported oldest-last, so insertion order disagrees with date order
    a = import_wavs(acct, [make_wav(0.05)], date_created="2012-01-03T00:00:00Z")[0]["sid"]
    b = import_wavs(acct, [make_wav(0.05)], date_created="2012-01-01T00:00:00Z")[0]["sid"]
    c = import_wavs(acct, [make_wav(0.05)], date_created="2012-01-02T00:00:00Z")[0]["sid"]
    # two with the same date: ties broken by sid descending
    same = [r["sid"] for r in import_wavs(acct, [make_wav(0.05), make_wav(0.05)],
                                          date_created="2012-01-02T00:00:00Z")]
    body = get_list(server, acct)
    mid = sorted(same + [c], reverse=True)
    assert sids(body) == [a] + mid + [b]


# --------------------------------------------------------------------------- envelope & paging

def test_envelope_keys_and_first_page(server, twenty):
    acct, order = twenty
    body = get_list(server, acct, {"PageSize": 7})
    assert set(body) == ENVELOPE_KEYS | {"recordings"}
    assert body["page"] == 0 and body["page_size"] == 7
    check_page_arith(body, 7)
    assert body["start"] == 0 and body["end"] == 6
    assert body["previous_page_uri"] is None
    assert body["next_page_uri"] is not None
    for k in ("uri", "first_page_uri", "next_page_uri"):
        path, q = split_uri(body[k])
        assert path == acct.path + "/Recordings.json", body[k]
        assert dict(q).get("PageSize") == "7", body[k]
    tok = query_dict(body["next_page_uri"]).get("PageToken")
    assert tok and TOKEN_RE.match(tok) and tok.startswith("PA"), body["next_page_uri"]
    assert sids(body) == order[:7]


def test_walk_forward_and_back(server, twenty):
    acct, order = twenty
    pages = [get_list(server, acct, {"PageSize": 7})]
    while pages[-1]["next_page_uri"]:
        pages.append(follow(server, acct, pages[-1]["next_page_uri"]))
        assert len(pages) < 10
    assert [len(p["recordings"]) for p in pages] == [7, 7, 6]
    assert [p["page"] for p in pages] == [0, 1, 2]
    assert [(p["start"], p["end"]) for p in pages] == [(0, 6), (7, 13), (14, 19)]
    for p in pages:
        check_page_arith(p, len(p["recordings"]))
        assert p["page_size"] == 7
    assert sum((sids(p) for p in pages), []) == order
    assert pages[-1]["next_page_uri"] is None
    assert pages[1]["previous_page_uri"] is not None and pages[2]["previous_page_uri"] is not None
    tok = query_dict(pages[2]["previous_page_uri"]).get("PageToken")
    assert tok and TOKEN_RE.match(tok) and tok.startswith("PB"), pages[2]["previous_page_uri"]

    # uri reproduces the page, first_page_uri goes to the first page
    for p in pages:
        assert sids(follow(server, acct, p["uri"])) == sids(p)
        assert sids(follow(server, acct, p["first_page_uri"])) == order[:7]

    # walk back with previous_page_uri
    back1 = follow(server, acct, pages[2]["previous_page_uri"])
    assert sids(back1) == sids(pages[1])
    assert back1["page"] == 1 and back1["start"] == 7 and back1["end"] == 13
    assert back1["next_page_uri"] is not None and back1["previous_page_uri"] is not None
    back0 = follow(server, acct, back1["previous_page_uri"])
    assert sids(back0) == order[:7]
    assert back0["page"] == 0 and back0["start"] == 0
    assert back0["previous_page_uri"] is None
    # and forward again from a page reached backwards
    fwd = follow(server, acct, back0["next_page_uri"])
    assert sids(fwd) == sids(pages[1])


def test_page_is_only_echoed_with_token(server, twenty):
    acct, order = twenty
    p0 = get_list(server, acct, {"PageSize": 7})
    tok = query_dict(p0["next_page_uri"])["PageToken"]
    body = get_list(server, acct, {"PageSize": 7, "Page": 1, "PageToken": tok})
    assert sids(body) == order[7:14]
    body5 = get_list(server, acct, {"PageSize": 7, "Page": 5, "PageToken": tok})
    assert sids(body5) == order[7:14]
    assert body5["page"] == 5


def test_last_page_exact_multiple_has_no_next(server, make_account, import_wavs):
    acct = make_account()
    order = [r["sid"] for r in reversed(import_wavs(acct, 14, seconds=0.05))]
    p0 = get_list(server, acct, {"PageSize": 7})
    p1 = follow(server, acct, p0["next_page_uri"])
    assert sids(p0) + sids(p1) == order
    assert p1["next_page_uri"] is None
    body = get_list(server, acct, {"PageSize": 14})
    assert sids(body) == order and body["next_page_uri"] is None


def test_empty_list(server, make_account):
    acct = make_account()
    for resource, key in (("Recordings", "recordings"), ("Transcriptions", "transcriptions"),
                          ("Calls/%s/Recordings" % rand_sid("CA"), "recordings"),
                          ("Conferences/%s/Recordings" % rand_sid("CF"), "recordings")):
        body = get_list(server, acct, resource=resource)
        assert set(body) == ENVELOPE_KEYS | {key}, resource
        assert body[key] == []
        assert body["start"] == 0 and body["end"] == 0 and body["page"] == 0
        assert body["page_size"] == 50
        assert body["next_page_uri"] is None and body["previous_page_uri"] is None
        assert split_uri(body["first_page_uri"])[0] == "%s/%s.json" % (acct.path, resource)


def test_legacy_page_offset(server, twenty):
    acct, order = twenty
    body = get_list(server, acct, {"PageSize": 7, "Page": 1})
    assert sids(body) == order[7:14]
    assert body["page"] == 1 and body["start"] == 7 and body["end"] == 13
    assert body["previous_page_uri"] is not None
    assert sids(follow(server, acct, body["next_page_uri"])) == order[14:]
    assert sids(follow(server, acct, body["previous_page_uri"])) == order[:7]
    body = get_list(server, acct, {"PageSize": 7, "Page": 2})
    assert sids(body) == order[14:] and body["next_page_uri"] is None
    body = get_list(server, acct, {"PageSize": 7, "Page": 5})
    assert body["recordings"] == []
    assert body["start"] == 35 and body["end"] == 35
    assert body["next_page_uri"] is None


def test_page_size_default_and_max(server, make_account, import_wavs):
    acct = make_account()
    order = [r["sid"] for r in reversed(import_wavs(acct, 52, seconds=0.02))]
    body = get_list(server, acct)
    assert body["page_size"] == 50 and sids(body) == order[:50]
    assert body["end"] == 49
    assert sids(follow(server, acct, body["next_page_uri"])) == order[50:]
    body = get_list(server, acct, {"PageSize": 1000})
    assert body["page_size"] == 1000 and sids(body) == order and body["next_page_uri"] is None
    body = get_list(server, acct, {"PageSize": 1})
    assert sids(body) == order[:1]


@pytest.mark.parametrize("value,code", [("1001", 20007), ("100000", 20007), ("0", None),
                                        ("-1", None), ("abc", None), ("1.5", None), ("", None),
                                        ("7abc", None)])
def test_bad_page_size(server, twenty, value, code):
    acct, _ = twenty
    r = server.get(acct.path + "/Recordings.json", auth=acct.auth, params={"PageSize": value})
    assert_json_error(r, 400, code)


def test_bad_page_size_xml(server, twenty):
    acct, _ = twenty
    r = server.get(acct.path + "/Recordings", auth=acct.auth, params={"PageSize": "1001"})
    assert_xml_error(r, 400, 20007)


@pytest.mark.parametrize("params", [{"Page": "-1"}, {"Page": "abc"}, {"Page": "1x"},
                                    {"PageToken": "garbage"}, {"PageToken": "PA"},
                                    {"PageToken": "PB"}, {"PageToken": "PAnot-a-token!"},
                                    {"PageToken": "PX" + "A" * 40}, {"PageToken": "PA" + "%" * 3}])
def test_bad_page_and_token(server, twenty, params):
    acct, _ = twenty
    r = server.get(acct.path + "/Recordings.json", auth=acct.auth, params=dict(params, PageSize=7))
    assert_json_error(r, 400)


def _b64url(raw):
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def test_tampered_token_is_handled(server, twenty):
    """A token that no longer decodes is 400 (code 21481). One that still decodes names an anchor
    (src/api/paging.h: "PA"/"PB", then base64url of the anchor's creation time, 8 bytes
    big-endian us, and its sid's 16 bytes), and the walk resumes by value where it points."""
    acct, order = twenty
    p0 = get_list(server, acct, {"PageSize": 7})
    tok = query_dict(p0["next_page_uri"])["PageToken"]
    assert len(tok) == 34 and tok.startswith("PA"), tok
    raw = base64.urlsafe_b64decode(tok[2:] + "==")
    assert raw[8:].hex() == order[6][2:], "the token names the page's last item"
    us = raw[:8]

    for bad in (tok[:-3], tok[:-1], tok + "AA", tok + "!!", tok[:2] + "~" + tok[3:],
                tok[:2] + "." + tok[3:], "PC" + tok[2:], "pa" + tok[2:], tok[:-1] + "="):
        r = server.get(acct.path + "/Recordings.json", auth=acct.auth,
                       params={"PageSize": 7, "PageToken": bad})
        body = assert_json_error(r, 400, 21481)
        assert body["message"] == "Invalid PageToken", (bad, body)

    def page(token):
        return get_list(server, acct, {"PageSize": 7, "PageToken": token})

    # the same place, another sid: the items are ordered by (date_created, sid), so an anchor sid
    # above the real one puts that item after the anchor, one below it does not
    assert sids(page("PA" + _b64url(us + b"\xff" * 16))) == order[6:13]
    assert sids(page("PA" + _b64url(us + b"\x00" * 16))) == order[7:14]
    # the direction flipped: the page before the anchor (only six items are before it)
    body = page("PB" + tok[2:])
    assert sids(body) == order[:6]
    assert body["previous_page_uri"] is None and body["next_page_uri"] is not None
    # an anchor time before every item: nothing after it; after every item: the first page
    body = page("PA" + _b64url(bytes(8) + raw[8:]))
    assert body["recordings"] == [] and body["next_page_uri"] is None
    assert sids(page("PA" + _b64url(b"\x7f" + b"\xff" * 7 + raw[8:]))) == order[:7]


def test_unknown_query_params_ignored(server, twenty):
    acct, order = twenty
    body = get_list(server, acct, {"PageSize": 7, "Foo": "bar", "pagesize": "3", "callsid": "x"})
    assert sids(body) == order[:7]
    assert body["page_size"] == 7


# --------------------------------------------------------------------------- XML envelope

XML_ATTRS = {"page", "numpages", "pagesize", "total", "start", "end", "uri", "firstpageuri",
             "previouspageuri", "nextpageuri", "lastpageuri"}


def _no_ext(uri):
    path = uri.split("?")[0]
    assert not path.endswith((".xml", ".json")), uri
    return path


@pytest.mark.parametrize("ext", ["", ".xml"])
def test_xml_list_envelope(server, twenty, ext):
    acct, order = twenty
    r = server.get(acct.path + "/Recordings" + ext, auth=acct.auth, params={"PageSize": 7})
    assert r.status_code == 200 and media_type(r) == "application/xml"
    root = xml_root(r.content)
    lst = root.find("Recordings")
    assert lst is not None, r.text[:300]
    assert set(lst.attrib) == XML_ATTRS, lst.attrib
    a = lst.attrib
    assert (a["page"], a["pagesize"], a["start"], a["end"]) == ("0", "7", "0", "6")
    assert a["total"] == "20" and a["numpages"] == str(math.ceil(20 / 7))
    assert a["previouspageuri"] == ""
    for k in ("uri", "firstpageuri", "nextpageuri"):
        assert a[k].startswith(acct.path + "/Recordings"), (k, a[k])
        assert _no_ext(a[k]) == acct.path + "/Recordings", (k, a[k])
    if a["lastpageuri"]:
        _no_ext(a["lastpageuri"])
    assert [e.findtext("Sid") for e in lst.findall("Recording")] == order[:7]
    # item URIs inside XML are .xml
    assert lst.find("Recording").findtext("Uri").endswith(".xml")

    # follow nextpageuri to the end, through XML
    seen = [e.findtext("Sid") for e in lst.findall("Recording")]
    nxt = a["nextpageuri"]
    hops = 0
    while nxt:
        r = server.get(nxt, auth=acct.auth)
        assert r.status_code == 200 and media_type(r) == "application/xml"
        lst = xml_root(r.content).find("Recordings")
        seen += [e.findtext("Sid") for e in lst.findall("Recording")]
        assert lst.attrib["previouspageuri"] != ""
        nxt = lst.attrib["nextpageuri"]
        hops += 1
        assert hops < 5
    assert seen == order
    assert lst.attrib["page"] == "2" and lst.attrib["start"] == "14" and lst.attrib["end"] == "19"


# --------------------------------------------------------------------------- filters

def test_filter_call_and_conference(server, dated):
    acct, recs, call, conf = dated
    assert names(recs, get_list(server, acct, {"CallSid": call})) == ["r4", "r2"]
    assert names(recs, get_list(server, acct, {"ConferenceSid": conf})) == ["r5"]
    assert get_list(server, acct, {"CallSid": rand_sid("CA")})["recordings"] == []
    assert names(recs, get_list(server, acct, {"CallSid": call, "DateCreated>": "2009-07-06"})) == ["r4"]
    # the same filter through the scoped list
    body = get_list(server, acct, resource="Calls/%s/Recordings" % call)
    assert names(recs, body) == ["r4", "r2"]


ALL = ["r7", "r6", "r5", "r4", "r3", "r2", "r1"]


def _only(*keep):
    return [n for n in ALL if n in keep]


DATE_CASES = [
    ("DateCreated=2009-07-06", _only("r3", "r4", "r5")),
    ("DateCreated<=2009-07-06", _only("r1", "r2", "r3", "r4", "r5")),
    ("DateCreated%3C=2009-07-06", _only("r1", "r2", "r3", "r4", "r5")),
    ("DateCreated>=2009-07-06", _only("r3", "r4", "r5", "r6", "r7")),
    ("DateCreated%3E=2009-07-06", _only("r3", "r4", "r5", "r6", "r7")),
    ("DateCreated>=2009-07-04&DateCreated<=2009-07-06", _only("r1", "r2", "r3", "r4", "r5")),
    ("DateCreated%3E=2009-07-05&DateCreated%3C=2009-07-05", _only("r2")),
    ("DateCreated>=2009-07-06T12:00:00Z", _only("r4", "r5", "r6", "r7")),
    ("DateCreated<=2009-07-06T12:00:00Z", _only("r1", "r2", "r3", "r4")),
    ("DateCreated%3E=2009-07-06T12%3A00%3A00Z", _only("r4", "r5", "r6", "r7")),
    ("DateCreated>=2009-07-06T14:00:00%2B02:00", _only("r4", "r5", "r6", "r7")),
    ("DateCreated<=2009-07-06T07:00:00-05:00", _only("r1", "r2", "r3", "r4")),
    ("DateCreated<=2009-07-06T11:59:59Z", _only("r1", "r2", "r3")),
    ("DateCreated>=2009-07-06T12:00:01Z&DateCreated<=2009-07-07T00:00:00Z", _only("r5", "r6")),
    ("DateCreated=2009-07-09", []),
    ("DateCreated<=2009-07-03", []),
    ("DateCreated>=2009-07-09", []),
]


@pytest.mark.parametrize("query,expected", DATE_CASES)
def test_date_filters(server, dated, query, expected):
    acct, recs, _, _ = dated
    status, _, body = raw_json(server, acct, query)
    assert status == 200, (query, body[:300])
    got = names(recs, json.loads(body))
    assert got == expected, query


def test_date_filters_via_requests_encoding(server, dated):
    acct, recs, _, _ = dated
    body = get_list(server, acct, {"DateCreated>": "2009-07-05", "DateCreated<": "2009-07-06"})
    assert names(recs, body) == _only("r2", "r3", "r4", "r5")


def test_filters_survive_paging(server, dated):
    acct, recs, _, _ = dated
    pages = [get_list(server, acct, {"DateCreated>": "2009-07-05", "PageSize": 2})]
    while pages[-1]["next_page_uri"]:
        pages.append(follow(server, acct, pages[-1]["next_page_uri"]))
        assert len(pages) < 6
    got = sum((names(recs, p) for p in pages), [])
    assert got == _only("r2", "r3", "r4", "r5", "r6", "r7")
    for p in pages:
        for k in ("uri", "first_page_uri", "next_page_uri", "previous_page_uri"):
            if p[k] is None:
                continue
            q = query_dict(p[k])
            assert q.get("DateCreated>") == "2009-07-05", (k, p[k])
            assert q.get("PageSize") == "2", (k, p[k])
    back = follow(server, acct, pages[-1]["previous_page_uri"])
    assert names(recs, back) == names(recs, pages[-2])
    # CallSid too
    _, _, call, _ = dated
    body = get_list(server, acct, {"CallSid": call, "PageSize": 1})
    assert query_dict(body["next_page_uri"]).get("CallSid") == call
    assert names(recs, follow(server, acct, body["next_page_uri"])) == ["r2"]


@pytest.mark.parametrize("query", [
    "DateCreated=2009-02-30", "DateCreated<=2009-02-30", "DateCreated>=2009-02-29",
    "DateCreated=2009-13-01", "DateCreated=yesterday", "DateCreated=07/06/2009",
    "DateCreated>=2009-07-06T25:00:00Z", "DateCreated%3E=2009-7-6x",
    "DateCreated=2009-07-06T12:00:00Zjunk",
])
def test_bad_dates_are_400(server, dated, query):
    acct = dated[0]
    status, headers, body = raw_json(server, acct, query)
    assert status == 400, (query, status, body[:200])


# --------------------------------------------------------------------------- the walk

def test_walk_while_recordings_arrive(server, make_account, make_wav, import_wavs):
    acct = make_account()
    orig = import_wavs(acct, 60, seconds=0.02)
    orig_sids = {r["sid"] for r in orig}
    body = get_list(server, acct, {"PageSize": 7})
    seen, new_sids, page_no = [], set(), 0
    while True:
        assert body["page"] == page_no and body["page_size"] == 7
        check_page_arith(body, len(body["recordings"]))
        assert 0 < len(body["recordings"]) <= 7
        seen += sids(body)
        if not body["next_page_uri"]:
            break
        # new recordings arrive between pages (CLI writing while the server runs)
        new_sids |= {r["sid"] for r in import_wavs(acct, [make_wav(0.02), make_wav(0.02)])}
        body = follow(server, acct, body["next_page_uri"])
        page_no += 1
        assert page_no < 30
    assert len(seen) == len(set(seen)), "duplicates in the walk"
    originals_seen = [s for s in seen if s in orig_sids]
    assert set(originals_seen) == orig_sids
    assert len(originals_seen) == 60
    assert [s for s in seen if s in orig_sids] == [r["sid"] for r in reversed(orig)]
    assert set(seen) <= orig_sids | new_sids
    # all arrivals are really there
    assert set(server.list_sids(acct)) == orig_sids | new_sids


@pytest.mark.parametrize("also_delete_next", [False, True])
def test_deleting_anchor_keeps_walk_exact(server, make_account, import_wavs, also_delete_next):
    acct = make_account()
    order = [r["sid"] for r in reversed(import_wavs(acct, 20, seconds=0.02))]
    p0 = get_list(server, acct, {"PageSize": 7})
    assert sids(p0) == order[:7]
    deleted = [order[6]]                        # the anchor: last item of the page
    if also_delete_next:
        deleted.append(order[7])                # and the first item of the next page
    for s in deleted:
        r = server.request("DELETE", "%s/Recordings/%s.json" % (acct.path, s), auth=acct.auth)
        assert r.status_code == 204
    rest = []
    body = follow(server, acct, p0["next_page_uri"])
    while True:
        rest += sids(body)
        if not body["next_page_uri"]:
            break
        body = follow(server, acct, body["next_page_uri"])
    expected = [s for s in order[7:] if s not in deleted]
    assert rest == expected
