"""Every JSON body (errors excluded) validates against Twilio's OpenAPI file and carries exactly
its schema's properties."""

import copy
import json
from pathlib import Path

import jsonschema
import pytest

from conftest import REPO, rand_sid

A = "/2010-04-01/Accounts/{AccountSid}"


def spec_path():
    for p in (REPO.parent / "shared" / "spec" / "twilio_api_v2010.json",
              Path("/work/shared/spec/twilio_api_v2010.json")):
        if p.exists():
            return p
    pytest.fail("twilio_api_v2010.json not found", pytrace=False)


def openapi_to_jsonschema(node):
    """OpenAPI 3.0 `nullable: true` -> JSON Schema type [T, "null"] (or anyOf for $ref)."""
    if isinstance(node, list):
        return [openapi_to_jsonschema(n) for n in node]
    if not isinstance(node, dict):
        return node
    node = {k: openapi_to_jsonschema(v) for k, v in node.items()}
    if node.pop("nullable", False):
        if "$ref" in node:
            ref = node.pop("$ref")
            node["anyOf"] = [{"$ref": ref}, {"type": "null"}]
        elif "type" in node:
            t = node["type"]
            node["type"] = (t if isinstance(t, list) else [t]) + ["null"]
            if "enum" in node:
                node["enum"] = list(node["enum"]) + [None]
        # no type at all (encryption_details): already accepts null
    return node


@pytest.fixture(scope="module")
def spec():
    raw = json.loads(spec_path().read_text())
    return {"components": openapi_to_jsonschema(raw["components"]),
            "paths": openapi_to_jsonschema(raw["paths"])}


def test_nullable_translation():
    s = openapi_to_jsonschema({"type": "object", "properties": {
        "a": {"type": "string", "nullable": True}, "b": {"type": "integer"},
        "c": {"$ref": "#/x", "nullable": True}}})
    assert s["properties"]["a"]["type"] == ["string", "null"]
    assert s["properties"]["b"]["type"] == "integer"
    assert s["properties"]["c"] == {"anyOf": [{"$ref": "#/x"}, {"type": "null"}]}


def resolve(spec, schema):
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = spec["components"]["schemas"][name]
    return schema


def response_schema(spec, template):
    return spec["paths"][template]["get"]["responses"]["200"]["content"]["application/json"]["schema"]


def validate(spec, schema, body):
    resolver = jsonschema.RefResolver(base_uri="", referrer=spec)
    jsonschema.Draft7Validator(schema, resolver=resolver).validate(body)


def check(spec, template, body, alt_item_schemas=()):
    """Validate body against the 200 schema of the OpenAPI path `template`, then demand that
    every object carries exactly its schema's properties (all present, no extra).
    alt_item_schemas: other component names whose property set is also accepted for items."""
    schema = response_schema(spec, template)
    validate(spec, schema, body)
    top = resolve(spec, schema)
    props = top["properties"]

    def allowed(own):
        return [set(own)] + [set(spec["components"]["schemas"][n]["properties"])
                             for n in alt_item_schemas]
    arrays = [k for k, v in props.items() if v.get("type") == "array"]
    if arrays:                                            # a list: exact envelope
        assert set(body) == set(props), (template, sorted(set(body) ^ set(props)))
        assert len(arrays) == 1
        item_props = resolve(spec, props[arrays[0]]["items"])["properties"]
        for item in body[arrays[0]]:
            assert set(item) in allowed(item_props), (template, sorted(set(item) ^ set(item_props)))
        return body[arrays[0]]
    assert set(body) in allowed(props), (template, sorted(set(body) ^ set(props)))
    return body


@pytest.fixture(scope="module")
def data(server, make_account, make_wav, import_wavs):
    acct = make_account()
    call, conf = rand_sid("CA"), rand_sid("CF")
    d = {"acct": acct, "call": call, "conf": conf}
    d["rec"] = import_wavs(acct, [make_wav(0.4)], call=call, transcription_text="schema <text>",
                           start_time="2009-07-06T12:00:00Z", source="DialVerb")[0]
    d["conf_rec"] = import_wavs(acct, [make_wav(0.4, rate=16000, channels=2)], conference=conf,
                                call=rand_sid("CA"))[0]
    d["plain"] = import_wavs(acct, [make_wav(0.2)])[0]
    d["gone"] = import_wavs(acct, [make_wav(0.2)])[0]
    r = server.request("DELETE", "%s/Recordings/%s.json" % (acct.path, d["gone"]["sid"]), auth=acct.auth)
    assert r.status_code == 204
    body = server.get_json(acct.path + "/Transcriptions.json", auth=acct.auth)
    d["tr"] = body["transcriptions"][0]["sid"]
    return d


def _get(server, d, path, params=None):
    return server.get_json(d["acct"].path + path, auth=d["acct"].auth, params=params)


def test_recording_instance(server, spec, data):
    for key in ("rec", "conf_rec", "plain"):
        body = _get(server, data, "/Recordings/%s.json" % data[key]["sid"])
        check(spec, A + "/Recordings/{Sid}.json", body)


def test_recordings_list(server, spec, data):
    items = check(spec, A + "/Recordings.json", _get(server, data, "/Recordings.json"))
    assert len(items) == 3
    items = check(spec, A + "/Recordings.json",
                  _get(server, data, "/Recordings.json", {"IncludeSoftDeleted": "true"}))
    assert {i["status"] for i in items} == {"completed", "deleted"}
    items = check(spec, A + "/Recordings.json", _get(server, data, "/Recordings.json", {"PageSize": 1}))
    assert len(items) == 1


def test_recordings_list_empty(server, spec, data):
    items = check(spec, A + "/Recordings.json",
                  _get(server, data, "/Recordings.json", {"DateCreated": "2001-01-01"}))
    assert items == []


def test_call_recordings(server, spec, data):
    alt = ["api.v2010.account.recording"]
    items = check(spec, A + "/Calls/{CallSid}/Recordings.json",
                  _get(server, data, "/Calls/%s/Recordings.json" % data["call"]), alt)
    assert [i["sid"] for i in items] == [data["rec"]["sid"]]
    body = _get(server, data, "/Calls/%s/Recordings/%s.json" % (data["call"], data["rec"]["sid"]))
    check(spec, A + "/Calls/{CallSid}/Recordings/{Sid}.json", body, alt)


def test_conference_recordings(server, spec, data):
    alt = ["api.v2010.account.recording"]
    items = check(spec, A + "/Conferences/{ConferenceSid}/Recordings.json",
                  _get(server, data, "/Conferences/%s/Recordings.json" % data["conf"]), alt)
    assert [i["sid"] for i in items] == [data["conf_rec"]["sid"]]
    body = _get(server, data, "/Conferences/%s/Recordings/%s.json" % (data["conf"], data["conf_rec"]["sid"]))
    check(spec, A + "/Conferences/{ConferenceSid}/Recordings/{Sid}.json", body, alt)


def test_recording_transcriptions(server, spec, data):
    rs = data["rec"]["sid"]
    items = check(spec, A + "/Recordings/{RecordingSid}/Transcriptions.json",
                  _get(server, data, "/Recordings/%s/Transcriptions.json" % rs))
    assert [i["sid"] for i in items] == [data["tr"]]
    check(spec, A + "/Recordings/{RecordingSid}/Transcriptions/{Sid}.json",
          _get(server, data, "/Recordings/%s/Transcriptions/%s.json" % (rs, data["tr"])))
    items = check(spec, A + "/Recordings/{RecordingSid}/Transcriptions.json",
                  _get(server, data, "/Recordings/%s/Transcriptions.json" % data["plain"]["sid"]))
    assert items == []


def test_transcriptions(server, spec, data):
    items = check(spec, A + "/Transcriptions.json", _get(server, data, "/Transcriptions.json"))
    assert [i["sid"] for i in items] == [data["tr"]]
    body = check(spec, A + "/Transcriptions/{Sid}.json",
                 _get(server, data, "/Transcriptions/%s.json" % data["tr"]))
    assert body["transcription_text"] == "schema <text>"


def test_add_on_results(server, spec, data):
    items = check(spec, A + "/Recordings/{ReferenceSid}/AddOnResults.json",
                  _get(server, data, "/Recordings/%s/AddOnResults.json" % data["rec"]["sid"]))
    assert items == []


def test_schema_check_can_fail(spec, server, data):
    """Guard against a vacuous validator: a doctored body must be rejected."""
    body = _get(server, data, "/Recordings/%s.json" % data["rec"]["sid"])
    for mutate in (lambda b: b.update(duration=int(b["duration"])),
                   lambda b: b.update(channels=str(b["channels"])),
                   lambda b: b.update(status="finished"),
                   lambda b: b.update(sid="XX" + b["sid"][2:]),
                   lambda b: b.pop("media_url"),
                   lambda b: b.update(extra=1)):
        bad = copy.deepcopy(body)
        mutate(bad)
        with pytest.raises((jsonschema.ValidationError, AssertionError)):
            check(spec, A + "/Recordings/{Sid}.json", bad)
