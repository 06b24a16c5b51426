"""Behaviour of the HubSpot sandbox, asserted over real HTTP (httpx against ServerThread).

Time is driven with a fake clock: no test sleeps to synchronise.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from syncworker_sandbox import SANDBOX_HUBSPOT_TOKEN
from syncworker_sandbox.hubspot_app import HubSpotSandbox, RequestRecord
from syncworker_sandbox.server import ServerThread

from tests.garbage import GARBAGE
from tests.integration import InFlight

AUTH = {"Authorization": f"Bearer {SANDBOX_HUBSPOT_TOKEN}"}
UPSERT = "/crm/v3/objects/contacts/batch/upsert"
SEARCH = "/crm/v3/objects/contacts/search"


class FakeClock:
    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Hub:
    sandbox: HubSpotSandbox
    http: httpx.Client
    clock: FakeClock
    url: str

    def post(self, path: str, body: Any) -> httpx.Response:
        return self.http.post(path, json=body)

    def unique_prop(self, object_type: str = "contacts", name: str = "ww_id") -> None:
        group = "contactinformation" if object_type == "contacts" else "companyinformation"
        r = self.post(
            f"/crm/v3/properties/{object_type}",
            {
                "name": name,
                "label": name,
                "type": "string",
                "fieldType": "text",
                "groupName": group,
                "hasUniqueValue": True,
            },
        )
        assert r.status_code == 201, r.text

    def upsert(self, inputs: list[dict[str, Any]], object_type: str = "contacts") -> httpx.Response:
        return self.post(f"/crm/v3/objects/{object_type}/batch/upsert", {"inputs": inputs})

    def search(self, body: dict[str, Any], object_type: str = "contacts") -> httpx.Response:
        return self.post(f"/crm/v3/objects/{object_type}/search", body)


def ww(value: str, **props: Any) -> dict[str, Any]:
    return {"id": value, "idProperty": "ww_id", "properties": props}


@pytest.fixture
def start() -> Iterator[Callable[..., Hub]]:
    running: list[tuple[ServerThread, httpx.Client]] = []

    def _start(**kwargs: Any) -> Hub:
        clock = kwargs.pop("clock", None) or FakeClock()
        sandbox = HubSpotSandbox(clock=clock, **kwargs)
        server = ServerThread(sandbox.app).start()
        client = httpx.Client(base_url=server.url, headers=AUTH, timeout=5)
        running.append((server, client))
        return Hub(sandbox, client, clock, server.url)

    yield _start
    for server, client in running:
        client.close()
        server.stop()


@pytest.fixture
def hub(start: Callable[..., Hub]) -> Hub:
    return start()


# --------------------------------------------------------------------- auth, routing


def test_a_scope_not_granted_is_403_missing_scopes_naming_it(hub: Hub) -> None:
    hub.sandbox.set_scopes(["crm.objects.contacts.read", "crm.schemas.contacts.read"])
    assert hub.http.get("/crm/properties/2026-09/contacts").status_code == 200
    assert hub.post("/crm/objects/2026-09/contacts/search", {"limit": 1}).status_code == 200
    r = hub.post(
        "/crm/objects/2026-09/contacts/batch/upsert",
        {"inputs": [{"id": "a@b.example", "idProperty": "email", "properties": {}}]},
    )
    assert r.status_code == 403
    body = r.json()
    assert body["category"] == "MISSING_SCOPES"
    assert body["context"] == {"missingScopes": ["crm.objects.contacts.write"]}
    assert body["errors"][0]["context"] == {
        "requiredGranularScopes": ["crm.objects.contacts.write"]
    }
    r = hub.http.get("/crm/properties/2026-09/companies")
    assert r.status_code == 403 and r.json()["context"] == {
        "missingScopes": ["crm.schemas.companies.read"]
    }
    assert hub.sandbox.store.objects("contacts") == []
    hub.sandbox.set_scopes(None)
    assert hub.http.get("/crm/properties/2026-09/companies").status_code == 200


def test_a_deleted_property_leaves_the_listing(hub: Hub) -> None:
    hub.unique_prop()
    assert hub.http.delete("/crm/properties/2026-09/contacts/ww_id").status_code == 204
    names = [p["name"] for p in hub.http.get("/crm/properties/2026-09/contacts").json()["results"]]
    assert "ww_id" not in names and "email" in names
    assert hub.http.get("/crm/properties/2026-09/contacts/ww_id").status_code == 404


def test_missing_or_wrong_token_is_401_with_hubspot_body(hub: Hub) -> None:
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": SANDBOX_HUBSPOT_TOKEN}):
        r = httpx.get(hub.url + "/crm/v3/properties/contacts", headers=headers)
        assert r.status_code == 401
        body = r.json()
        assert body["category"] == "INVALID_AUTHENTICATION"
        assert body["status"] == "error" and body["correlationId"]
        assert body["message"].startswith("Authentication credentials not found")
    assert hub.http.get("/crm/v3/properties/contacts").status_code == 200


def test_unknown_route_method_and_malformed_json(hub: Hub) -> None:
    r = hub.http.get("/crm/v3/nothing/here")
    assert r.status_code == 404 and r.json()["status"] == "error"
    assert hub.http.get("/elsewhere").status_code == 404
    r = hub.http.delete("/crm/v3/objects/contacts/search")
    assert r.status_code == 405 and r.json()["category"] == "VALIDATION_ERROR"
    r = hub.http.post(UPSERT, content=b'{"inputs": [')
    assert r.status_code == 400 and "Invalid input JSON" in r.json()["message"]
    r = hub.http.post(UPSERT, content=b"")
    assert r.status_code == 400 and "Invalid input JSON" in r.json()["message"]
    r = hub.http.get("/crm/v3/objects/tickets/1")
    assert r.status_code == 400 and "Unable to infer object type" in r.json()["message"]


POST_PATHS = [
    "/crm/v3/objects/contacts/batch/upsert",
    "/crm/v3/objects/contacts/batch/create",
    "/crm/v3/objects/companies/batch/update",
    "/crm/v3/objects/contacts/batch/read",
    "/crm/v3/objects/contacts/batch/archive",
    "/crm/v3/objects/contacts/search",
    "/crm/v3/properties/contacts",
    "/crm/v3/properties/contacts/batch/create",
    "/crm/v3/properties/contacts/batch/read",
    "/crm/v3/properties/contacts/groups",
    "/crm/v4/associations/contacts/companies/batch/associate/default",
    "/crm/v4/associations/contacts/companies/batch/create",
    "/crm/v4/associations/companies/contacts/batch/archive",
    "/crm/v4/associations/contacts/companies/batch/read",
]


def test_no_input_crashes_the_sandbox(hub: Hub) -> None:
    for path in POST_PATHS:
        for body in GARBAGE:
            if isinstance(body, bytes):
                raw = body
            else:
                raw = body.encode() if isinstance(body, str) else json.dumps(body).encode()
            r = hub.http.post(path, content=raw)
            assert r.status_code < 500, (path, body, r.text)
            assert r.status_code in (200, 201, 204, 207) or r.json()["status"] == "error"
    r = hub.http.patch("/crm/v3/properties/contacts/email", content=b"[1]")
    assert r.status_code == 400
    r = hub.http.get("/crm/v4/objects/contacts/1/associations/companies?limit=abc&after=x")
    assert r.status_code == 400
    r = hub.http.get("/crm/v3/objects/contacts/1?idProperty=firstname")
    assert r.status_code == 400


# ------------------------------------------------------------------------ properties


def test_seeded_properties_and_read_only_metadata(hub: Hub) -> None:
    results = hub.http.get("/crm/v3/properties/contacts").json()["results"]
    by_name = {p["name"]: p for p in results}
    for name in (
        "email",
        "firstname",
        "lastname",
        "jobtitle",
        "phone",
        "mobilephone",
        "hs_language",
        "company",
        "createdate",
        "lastmodifieddate",
        "hs_object_id",
    ):
        assert name in by_name
    assert by_name["hs_language"]["type"] == "enumeration" and by_name["hs_language"]["options"]
    for name in ("createdate", "lastmodifieddate", "hs_object_id"):
        assert by_name[name]["modificationMetadata"]["readOnlyValue"] is True
    assert by_name["email"]["modificationMetadata"]["readOnlyValue"] is False
    companies = {p["name"] for p in hub.http.get("/crm/v3/properties/companies").json()["results"]}
    assert {
        "name",
        "domain",
        "description",
        "phone",
        "address",
        "city",
        "country",
        "hs_lastmodifieddate",
        "createdate",
        "hs_object_id",
    } <= companies
    assert "createdate" in hub.sandbox.store.property_definitions("0-2")


def test_property_create_conflict_groups_and_type_checks(hub: Hub) -> None:
    base = {
        "name": "ww_id",
        "label": "Workways id",
        "type": "string",
        "fieldType": "text",
        "groupName": "contactinformation",
        "hasUniqueValue": True,
    }
    r = hub.post("/crm/v3/properties/contacts", base)
    assert r.status_code == 201 and r.json()["hasUniqueValue"] is True
    r = hub.post("/crm/v3/properties/contacts", base)
    assert r.status_code == 409 and r.json()["status"] == "error"
    r = hub.post("/crm/v3/properties/contacts", {**base, "name": "x1", "groupName": "nogroup"})
    assert r.status_code == 400 and "nogroup" in r.json()["message"]
    for type_, field_type in (
        ("bool", "text"),
        ("number", "select"),
        ("date", "number"),
        ("string", "date"),
        ("enumeration", "text"),
        ("bogus", "text"),
    ):
        r = hub.post(
            "/crm/v3/properties/contacts",
            {
                **base,
                "name": "x2",
                "type": type_,
                "fieldType": field_type,
                "options": [{"label": "A", "value": "a", "hidden": False}],
            },
        )
        assert r.status_code == 400, (type_, field_type)
    r = hub.post("/crm/v3/properties/contacts", {"name": "x3", "label": "x"})
    assert r.status_code == 400 and "required attributes" in r.json()["message"]
    r = hub.http.patch("/crm/v3/properties/contacts/ww_id", json={"hasUniqueValue": False})
    assert r.status_code == 400
    r = hub.http.patch("/crm/v3/properties/contacts/ww_id", json={"label": "WW"})
    assert r.status_code == 200 and r.json()["label"] == "WW"
    assert (
        hub.http.patch("/crm/v3/properties/contacts/email", json={"label": "E"}).status_code == 400
    )
    assert hub.http.get("/crm/v3/properties/contacts/ww_id").json()["label"] == "WW"
    assert hub.http.get("/crm/v3/properties/contacts/missing").status_code == 404

    r = hub.post("/crm/v3/properties/contacts/groups", {"name": "workways", "label": "Workways"})
    assert r.status_code == 201 and r.json()["name"] == "workways"
    assert (
        hub.post(
            "/crm/v3/properties/contacts/groups", {"name": "workways", "label": "W"}
        ).status_code
        == 409
    )
    assert hub.http.get("/crm/v3/properties/contacts/groups/workways").status_code == 200
    assert hub.http.get("/crm/v3/properties/contacts/groups/nope").status_code == 404
    names = [
        g["name"] for g in hub.http.get("/crm/v3/properties/contacts/groups").json()["results"]
    ]
    assert "workways" in names and "contactinformation" in names


def test_at_most_ten_unique_properties(hub: Hub) -> None:
    for i in range(10):
        hub.unique_prop("companies", f"uniq_{i}")
    r = hub.post(
        "/crm/v3/properties/companies",
        {
            "name": "uniq_10",
            "label": "u",
            "type": "string",
            "fieldType": "text",
            "groupName": "companyinformation",
            "hasUniqueValue": True,
        },
    )
    assert r.status_code == 400


def test_property_batch_create_and_read(hub: Hub) -> None:
    prop = {
        "label": "L",
        "type": "bool",
        "fieldType": "booleancheckbox",
        "groupName": "contactinformation",
    }
    r = hub.post(
        "/crm/v3/properties/contacts/batch/create",
        {"inputs": [{**prop, "name": "b1"}, {**prop, "name": "b2"}]},
    )
    assert r.status_code == 201 and len(r.json()["results"]) == 2
    r = hub.post(
        "/crm/v3/properties/contacts/batch/create",
        {"inputs": [{**prop, "name": "b1"}, {**prop, "name": "b3"}]},
    )
    assert r.status_code == 207 and r.json()["numErrors"] == 1
    r = hub.post(
        "/crm/v3/properties/contacts/batch/read",
        {
            "inputs": [{"name": "b1"}, {"name": "zz"}],
            "archived": False,
            "dataSensitivity": "non_sensitive",
        },
    )
    assert r.status_code == 207
    assert [p["name"] for p in r.json()["results"]] == ["b1"]
    assert r.json()["errors"][0]["context"]["propertyName"] == ["zz"]


# --------------------------------------------------------------------------- upsert


def test_upsert_creates_then_updates_with_string_values(hub: Hub) -> None:
    hub.unique_prop()
    r = hub.upsert([ww("w1", email="Ann@Example.com", firstname="Ann")])
    assert r.status_code == 200
    first = r.json()["results"][0]
    assert first["new"] is True and first["id"].isdigit()
    props = first["properties"]
    assert props["ww_id"] == "w1" and props["email"] == "ann@example.com"
    assert props["hs_object_id"] == first["id"]
    assert props["createdate"].endswith("Z") and props["lastmodifieddate"].endswith("Z")
    hub.clock.advance(5)
    r = hub.upsert([ww("w1", firstname="Anna"), ww("w2", firstname="Bob")])
    assert r.status_code == 200
    results = {x["properties"]["ww_id"]: x for x in r.json()["results"]}
    assert results["w1"]["new"] is False and results["w1"]["id"] == first["id"]
    assert results["w2"]["new"] is True and int(results["w2"]["id"]) > int(first["id"])
    stored = hub.sandbox.store.get("contacts", first["id"])
    assert stored is not None and stored["properties"]["firstname"] == "Anna"
    assert stored["properties"]["lastmodifieddate"] > props["lastmodifieddate"]
    # JSON numbers and booleans come back as strings; "" clears
    hub.post(
        "/crm/v3/properties/contacts",
        {
            "name": "desks",
            "label": "d",
            "type": "number",
            "fieldType": "number",
            "groupName": "contactinformation",
        },
    )
    r = hub.upsert([ww("w1", desks=3, firstname="")])
    assert r.json()["results"][0]["properties"]["desks"] == "3"
    stored = hub.sandbox.store.get("contacts", first["id"])
    assert stored is not None and "firstname" not in stored["properties"]
    assert stored["properties"]["desks"] == "3"


def test_upsert_by_email_and_id_property_rules(hub: Hub) -> None:
    r = hub.upsert([{"id": "x@y.io", "idProperty": "email", "properties": {"firstname": "X"}}])
    assert r.status_code == 200 and r.json()["results"][0]["new"] is True
    r = hub.upsert([{"id": "X@Y.IO", "idProperty": "email", "properties": {"lastname": "Z"}}])
    assert r.json()["results"][0]["new"] is False
    r = hub.upsert([{"id": "X", "idProperty": "firstname", "properties": {}}])
    assert r.status_code == 400 and "non-unique" in r.json()["message"]
    r = hub.upsert([{"id": "1", "properties": {}}])
    assert r.status_code == 400
    hub.unique_prop()
    r = hub.upsert([ww("d1"), ww("d2"), ww("d1")])
    assert r.status_code == 400 and "Duplicate IDs" in r.json()["message"]
    assert hub.sandbox.store.find_by_property("contacts", "ww_id", "d2") == []


def test_batch_size_limits(hub: Hub) -> None:
    hub.unique_prop()
    r = hub.upsert([ww(f"n{i}") for i in range(101)])
    assert r.status_code == 400 and r.json()["category"] == "VALIDATION_ERROR"
    assert hub.upsert([]).status_code == 400
    for action in ("create", "update", "read", "archive"):
        r = hub.post(
            f"/crm/v3/objects/companies/batch/{action}",
            {"inputs": [{"id": str(i), "properties": {}} for i in range(101)]},
        )
        assert r.status_code == 400, action
    assert hub.upsert([ww(f"n{i}") for i in range(100)]).status_code == 200
    assert len(hub.sandbox.store.objects("contacts")) == 100


@pytest.mark.parametrize(
    ("props", "code"),
    [
        ({"nope": "1"}, "PROPERTY_DOESNT_EXIST"),
        ({"createdate": "2024-01-01T00:00:00Z"}, "READ_ONLY_VALUE"),
        ({"hs_object_id": "5"}, "READ_ONLY_VALUE"),
        ({"flag": "yes"}, "INVALID_BOOLEAN"),
        ({"flag": "TRUE"}, "INVALID_BOOLEAN"),
        ({"desks": "three"}, "INVALID_INTEGER"),
        ({"joined": "2024-13-01"}, "INVALID_DATE"),
        ({"joined": "1700000000001"}, "INVALID_DATE"),
        ({"joined": "01/02/2024"}, "INVALID_DATE"),
        ({"seen": "yesterday"}, "INVALID_DATE"),
        ({"hs_language": "klingon"}, "INVALID_OPTION"),
        ({"desks": " 3"}, "LEADING_TRAILING_WHITESPACE"),
    ],
)
def test_strictness_rejects_whole_batch(
    start: Callable[..., Hub], props: dict[str, str], code: str
) -> None:
    hub = start()
    hub.unique_prop()
    for name, type_, field in (
        ("flag", "bool", "booleancheckbox"),
        ("desks", "number", "number"),
        ("joined", "date", "date"),
        ("seen", "datetime", "date"),
    ):
        r = hub.post(
            "/crm/v3/properties/contacts",
            {
                "name": name,
                "label": name,
                "type": type_,
                "fieldType": field,
                "groupName": "contactinformation",
            },
        )
        assert r.status_code == 201, r.text
    r = hub.upsert([ww("ok", firstname="Fine"), ww("bad", **props)])
    assert r.status_code == 400
    body = r.json()
    assert body["category"] == "VALIDATION_ERROR" and body["correlationId"]
    assert body["message"].startswith("Property values were not valid: [")
    assert json.loads(body["message"].split(": ", 1)[1])[0]["error"] == code
    assert body["errors"][0]["code"] == code
    assert body["errors"][0]["context"]["propertyName"] == [next(iter(props))]
    assert hub.sandbox.store.objects("contacts") == []


def test_valid_typed_values_are_normalised(hub: Hub) -> None:
    hub.unique_prop()
    for name, type_, field in (
        ("flag", "bool", "booleancheckbox"),
        ("joined", "date", "date"),
        ("seen", "datetime", "date"),
        ("desks", "number", "number"),
    ):
        hub.post(
            "/crm/v3/properties/contacts",
            {
                "name": name,
                "label": name,
                "type": type_,
                "fieldType": field,
                "groupName": "contactinformation",
            },
        )
    r = hub.upsert(
        [
            ww(
                "a",
                flag="true",
                joined="2024-02-29",
                seen="2024-03-01T10:00:00+01:00",
                desks="2.5",
                hs_language="fr",
            ),
            ww("b", joined="1704067200000", seen="1704067200123", flag=False),
        ]
    )
    assert r.status_code == 200, r.text
    by = {x["properties"]["ww_id"]: x["properties"] for x in r.json()["results"]}
    assert by["a"]["joined"] == "2024-02-29" and by["a"]["seen"] == "2024-03-01T09:00:00Z"
    assert by["b"]["joined"] == "2024-01-01" and by["b"]["seen"] == "2024-01-01T00:00:00.123Z"
    assert by["b"]["flag"] == "false" and by["a"]["desks"] == "2.5"


# ------------------------------------------------------------- e-mails and conflicts


def test_invalid_email_multi_status(hub: Hub) -> None:
    hub.unique_prop()
    r = hub.upsert([ww("a", email="a@x.io"), ww("b", email="not an email"), ww("c", email="c@x")])
    assert r.status_code == 207
    body = r.json()
    assert body["status"] == "COMPLETE" and body["numErrors"] == 2
    assert [x["properties"]["ww_id"] for x in body["results"]] == ["a"]
    error = body["errors"][0]
    assert error["status"] == "error" and error["category"] == "VALIDATION_ERROR"
    assert "INVALID_EMAIL" in error["message"] and error["context"]["ids"] == ["b"]
    assert body["startedAt"] and body["completedAt"]
    assert [c["properties"]["ww_id"] for c in hub.sandbox.store.objects("contacts")] == ["a"]


def test_invalid_email_reject_batch(start: Callable[..., Hub]) -> None:
    hub = start(invalid_email_mode="reject-batch")
    hub.unique_prop()
    r = hub.upsert([ww("a", email="a@x.io"), ww("b", email="b@@x.io")])
    assert r.status_code == 400 and "INVALID_EMAIL" in r.json()["message"]
    assert hub.sandbox.store.objects("contacts") == []
    hub.sandbox.invalid_email_mode = "multi-status"
    assert hub.upsert([ww("a", email="a@x.io"), ww("b", email="b@@x.io")]).status_code == 207


def test_duplicate_email_is_409_and_writes_nothing(hub: Hub) -> None:
    hub.unique_prop()
    owner = hub.upsert([ww("a", email="Owner@x.io")]).json()["results"][0]["id"]
    r = hub.upsert([ww("new1", email="n@x.io"), ww("new2", email="OWNER@X.IO")])
    assert r.status_code == 409
    body = r.json()
    assert body == {
        "status": "error",
        "message": f"Contact already exists. Existing ID: {owner}",
        "correlationId": body["correlationId"],
        "category": "CONFLICT",
    }
    assert hub.sandbox.store.find_by_property("contacts", "ww_id", "new1") == []
    r = hub.post(
        "/crm/v3/objects/contacts/batch/create",
        {"inputs": [{"properties": {"email": "z@x.io"}}, {"properties": {"email": "Z@x.io"}}]},
    )
    assert r.status_code == 409
    assert hub.sandbox.store.find_by_property("contacts", "email", "z@x.io") == []


def test_unique_property_values_belong_to_one_object(hub: Hub) -> None:
    hub.unique_prop("companies", "ext_id")
    r = hub.post(
        "/crm/v3/objects/companies/batch/create",
        {
            "inputs": [
                {"properties": {"name": "A", "ext_id": "E1"}},
                {"properties": {"name": "B", "ext_id": "E2"}},
            ]
        },
    )
    assert r.status_code == 201
    first, second = (x["id"] for x in r.json()["results"])
    r = hub.post(
        "/crm/v3/objects/companies/batch/create",
        {"inputs": [{"properties": {"name": "C", "ext_id": "E1"}}]},
    )
    assert r.status_code == 409 and r.json()["message"].endswith(f"Existing ID: {first}")
    r = hub.post(
        "/crm/v3/objects/companies/batch/update",
        {"inputs": [{"id": second, "properties": {"ext_id": "E1"}}]},
    )
    assert r.status_code == 409
    r = hub.upsert(
        [{"id": "E2", "idProperty": "ext_id", "properties": {"name": "B2"}}], "companies"
    )
    assert r.status_code == 200 and r.json()["results"][0]["id"] == second
    hub.post("/crm/v3/objects/companies/batch/archive", {"inputs": [{"id": first}]})
    r = hub.post(
        "/crm/v3/objects/companies/batch/create",
        {"inputs": [{"properties": {"name": "C", "ext_id": "E1"}}]},
    )
    assert r.status_code == 201  # archived records free their unique values


# ---------------------------------------------------------- read / update / archive / get


def test_batch_read_update_archive_and_get(hub: Hub) -> None:
    hub.unique_prop()
    ids = [x["id"] for x in hub.upsert([ww("a", email="a@x.io"), ww("b")]).json()["results"]]
    r = hub.post(
        "/crm/v3/objects/contacts/batch/read",
        {
            "inputs": [{"id": ids[0]}, {"id": "999999"}],
            "properties": ["email", "phone"],
            "propertiesWithHistory": [],
        },
    )
    assert r.status_code == 207
    body = r.json()
    assert body["results"][0]["properties"]["phone"] is None
    assert body["results"][0]["properties"]["email"] == "a@x.io"
    assert body["errors"][0]["category"] == "OBJECT_NOT_FOUND"
    assert body["errors"][0]["context"]["ids"] == ["999999"]
    r = hub.post(
        "/crm/v3/objects/contacts/batch/read",
        {
            "inputs": [{"id": "a"}, {"id": "b"}],
            "idProperty": "ww_id",
            "properties": ["ww_id"],
            "propertiesWithHistory": ["ww_id"],
        },
    )
    assert r.status_code == 200 and len(r.json()["results"]) == 2
    assert r.json()["results"][0]["propertiesWithHistory"]["ww_id"][0]["value"] in ("a", "b")

    r = hub.post(
        "/crm/v3/objects/contacts/batch/update",
        {
            "inputs": [
                {"id": ids[1], "properties": {"jobtitle": "CTO"}},
                {"id": "424242", "properties": {"jobtitle": "x"}},
            ]
        },
    )
    assert r.status_code == 207 and r.json()["results"][0]["properties"]["jobtitle"] == "CTO"
    r = hub.post(
        "/crm/v3/objects/contacts/batch/update",
        {"inputs": [{"id": "a@x.io", "idProperty": "email", "properties": {"jobtitle": "CEO"}}]},
    )
    assert r.status_code == 200 and r.json()["results"][0]["id"] == ids[0]
    r = hub.post(
        "/crm/v3/objects/contacts/batch/update",
        {"inputs": [{"id": ids[0], "idProperty": "hs_object_id", "properties": {}}]},
    )
    assert r.status_code == 400 and "non-unique 0-1 property hs_object_id" in r.json()["message"]

    r = hub.http.get(f"/crm/v3/objects/contacts/{ids[0]}", params={"properties": "jobtitle,ww_id"})
    assert r.status_code == 200 and r.json()["properties"]["jobtitle"] == "CEO"
    r = hub.http.get("/crm/v3/objects/contacts/b", params={"idProperty": "ww_id"})
    assert r.json()["id"] == ids[1]
    assert hub.http.get("/crm/v3/objects/contacts/abc").json()["category"] == "OBJECT_NOT_FOUND"

    r = hub.post(
        "/crm/v3/objects/contacts/batch/archive", {"inputs": [{"id": ids[0]}, {"id": "31337"}]}
    )
    assert r.status_code == 204 and r.content == b""
    assert hub.http.get(f"/crm/v3/objects/contacts/{ids[0]}").status_code == 404
    r = hub.http.get(f"/crm/v3/objects/contacts/{ids[0]}", params={"archived": "true"})
    assert r.status_code == 200 and r.json()["archived"] is True
    assert len(hub.sandbox.store.objects("contacts")) == 1
    assert len(hub.sandbox.store.objects("contacts", include_archived=True)) == 2


def test_edit_property_acts_like_the_ui(hub: Hub) -> None:
    hub.unique_prop()
    cid = hub.upsert([ww("a", firstname="A")]).json()["results"][0]["id"]
    before = hub.sandbox.store.get("contacts", cid)
    assert before is not None
    hub.clock.advance(60)
    hub.sandbox.store.edit_property("contacts", cid, "firstname", "Edited")
    after = hub.sandbox.store.get("contacts", cid)
    assert after is not None and after["properties"]["firstname"] == "Edited"
    assert after["properties"]["lastmodifieddate"] > before["properties"]["lastmodifieddate"]
    r = hub.post(
        "/crm/v3/objects/contacts/batch/read",
        {"inputs": [{"id": cid}], "properties": [], "propertiesWithHistory": ["firstname"]},
    )
    history = r.json()["results"][0]["propertiesWithHistory"]["firstname"]
    assert history[0] == {
        "value": "Edited",
        "timestamp": after["updatedAt"],
        "sourceType": "CRM_UI",
    }
    hub.sandbox.store.edit_property("contacts", cid, "firstname", None)
    cleared = hub.sandbox.store.get("contacts", cid)
    assert cleared is not None and "firstname" not in cleared["properties"]
    with pytest.raises(KeyError):
        hub.sandbox.store.edit_property("contacts", "1", "firstname", "x")
    with pytest.raises(ValueError):
        hub.sandbox.store.edit_property("contacts", cid, "hs_language", "xx")


# --------------------------------------------------------------------------- search


def seed_contacts(hub: Hub, count: int) -> list[str]:
    hub.unique_prop()
    ids: list[str] = []
    for start_at in range(0, count, 100):
        batch = [
            ww(f"c{i:05d}", firstname=f"N{i % 7}", email=f"c{i}@x.io")
            for i in range(start_at, min(count, start_at + 100))
        ]
        r = hub.upsert(batch)
        assert r.status_code == 200, r.text
        ids += [x["id"] for x in r.json()["results"]]
        hub.clock.advance(1)
    return ids


def test_search_filters_sort_and_paging(hub: Hub) -> None:
    ids = seed_contacts(hub, 250)
    eq = {
        "filterGroups": [
            {"filters": [{"propertyName": "firstname", "operator": "EQ", "value": "n3"}]}
        ],
        "limit": 200,
    }
    r = hub.search(eq)
    assert r.status_code == 200 and r.json()["total"] == len([i for i in range(250) if i % 7 == 3])
    assert "x-hubspot-ratelimit-max" not in r.headers
    hub.clock.advance(1)
    r = hub.search(
        {
            "filterGroups": [
                {
                    "filters": [
                        {"propertyName": "hs_object_id", "operator": "GTE", "value": ids[10]},
                        {"propertyName": "hs_object_id", "operator": "LT", "value": ids[20]},
                    ]
                }
            ],
            "sorts": [{"propertyName": "hs_object_id", "direction": "DESCENDING"}],
            "properties": ["email"],
        }
    )
    body = r.json()
    assert body["total"] == 10 and [x["id"] for x in body["results"]] == ids[19:9:-1]
    assert set(body["results"][0]["properties"]) >= {
        "email",
        "hs_object_id",
        "createdate",
        "lastmodifieddate",
    }
    hub.clock.advance(1)
    r = hub.search(
        {
            "filterGroups": [
                {
                    "filters": [
                        {
                            "propertyName": "email",
                            "operator": "IN",
                            "values": ["c1@x.io", "c2@x.io"],
                        }
                    ]
                },
                {"filters": [{"propertyName": "email", "operator": "EQ", "value": "C3@X.IO"}]},
            ]
        }
    )
    assert r.json()["total"] == 3
    r = hub.search(
        {
            "filterGroups": [
                {
                    "filters": [
                        {"propertyName": "jobtitle", "operator": "NOT_HAS_PROPERTY"},
                        {"propertyName": "email", "operator": "HAS_PROPERTY"},
                        {"propertyName": "firstname", "operator": "NEQ", "value": "N0"},
                    ]
                }
            ],
            "limit": 0,
        }
    )
    assert r.json()["total"] == 250 - 36 and r.json()["results"] == []
    hub.clock.advance(1)
    seen: list[str] = []
    after: str | None = None
    while True:
        body = {"sorts": ["createdate"], "limit": 100, **({"after": after} if after else {})}
        page = hub.search(body).json()
        hub.clock.advance(1)
        seen += [x["id"] for x in page["results"]]
        after = page.get("paging", {}).get("next", {}).get("after")
        if after is None:
            break
        assert isinstance(after, str)
    assert seen == ids


def test_search_limits(hub: Hub) -> None:
    assert hub.search({"limit": 201}).status_code == 400
    hub.clock.advance(1)
    huge = {
        "filterGroups": [
            {
                "filters": [
                    {
                        "propertyName": "email",
                        "operator": "IN",
                        "values": [f"user{i}@example.com" for i in range(200)],
                    }
                ]
            }
        ]
    }
    assert len(json.dumps(huge)) > 3000
    r = hub.search(huge)
    assert r.status_code == 400 and "3000" in r.json()["message"]
    hub.clock.advance(1)
    assert hub.search({"after": "10000"}).status_code == 400
    assert hub.search({"sorts": ["email", "firstname"]}).status_code == 400
    hub.clock.advance(1)
    six = [{"filters": [{"propertyName": "email", "operator": "HAS_PROPERTY"}]}] * 6
    assert hub.search({"filterGroups": six}).status_code == 400
    assert (
        hub.search(
            {
                "filterGroups": [
                    {"filters": [{"propertyName": "nope", "operator": "EQ", "value": "1"}]}
                ]
            }
        ).status_code
        == 400
    )


def test_search_caps_paging_at_ten_thousand(hub: Hub) -> None:
    store = hub.sandbox.store
    with store.lock:
        for _ in range(10_050):
            store.create("companies", store.new_id(), {"name": "Acme"})
    r = hub.search({"limit": 200, "after": "9800"}, "companies")
    body = r.json()
    assert r.status_code == 200 and body["total"] == 10_050 and len(body["results"]) == 200
    assert body["paging"]["next"]["after"] == "10000"
    hub.clock.advance(1)
    r = hub.search({"limit": 200, "after": "10000"}, "companies")
    assert r.status_code == 400


def test_search_rate_limit_is_separate_and_headerless(start: Callable[..., Hub]) -> None:
    hub = start(search_rate_per_second=5, rate_limit_per_10s=100)
    for _ in range(5):
        assert hub.search({}).status_code == 200
    r = hub.search({})
    assert r.status_code == 429
    assert r.json()["policyName"] == "SECONDLY" and r.json()["errorType"] == "RATE_LIMIT"
    assert not any(h.startswith("x-hubspot-ratelimit") for h in r.headers)
    remaining = hub.http.get("/crm/v3/properties/contacts").headers["x-hubspot-ratelimit-remaining"]
    assert remaining == "99"  # searches do not count against the 10-second budget
    hub.clock.advance(1.0)
    assert hub.search({}).status_code == 200


def test_search_hides_archived_and_lags_behind_writes(start: Callable[..., Hub]) -> None:
    hub = start(search_index_lag_seconds=5)
    hub.unique_prop()
    cid = hub.upsert([ww("a", firstname="Old")]).json()["results"][0]["id"]
    query = {
        "filterGroups": [{"filters": [{"propertyName": "ww_id", "operator": "EQ", "value": "a"}]}],
        "properties": ["firstname"],
    }
    assert hub.search(query).json()["total"] == 0
    hub.clock.advance(5)
    assert hub.search(query).json()["results"][0]["properties"]["firstname"] == "Old"
    hub.upsert([ww("a", firstname="New")])
    hub.clock.advance(2)
    assert hub.search(query).json()["results"][0]["properties"]["firstname"] == "Old"
    hub.clock.advance(3)
    assert hub.search(query).json()["results"][0]["properties"]["firstname"] == "New"
    hub.post("/crm/v3/objects/contacts/batch/archive", {"inputs": [{"id": cid}]})
    hub.clock.advance(1)
    assert hub.search(query).json()["total"] == 0


def test_polling_by_lastmodifieddate(hub: Hub) -> None:
    hub.unique_prop()
    hub.upsert([ww("a"), ww("b")])
    hub.clock.advance(10)
    mark = int(hub.clock() * 1000)
    cid = hub.upsert([ww("c")]).json()["results"][0]["id"]
    r = hub.search(
        {
            "filterGroups": [
                {
                    "filters": [
                        {"propertyName": "lastmodifieddate", "operator": "GTE", "value": str(mark)}
                    ]
                }
            ],
            "sorts": [{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}],
            "limit": 200,
        }
    )
    assert [x["id"] for x in r.json()["results"]] == [cid]


# ------------------------------------------------------------------------ rate limit


def test_ten_second_rolling_window(start: Callable[..., Hub]) -> None:
    hub = start(rate_limit_per_10s=3, daily_limit=1000)
    seen = []
    for _ in range(3):
        r = hub.http.get("/crm/v3/properties/contacts/email")
        assert r.status_code == 200
        seen.append(r.headers["x-hubspot-ratelimit-remaining"])
        assert r.headers["x-hubspot-ratelimit-max"] == "3"
        assert r.headers["x-hubspot-ratelimit-interval-milliseconds"] == "10000"
        assert r.headers["x-hubspot-ratelimit-daily"] == "1000"
        hub.clock.advance(1)
    assert seen == ["2", "1", "0"]
    r = hub.http.get("/crm/v3/properties/contacts/email")
    assert r.status_code == 429 and "retry-after" not in r.headers
    body = r.json()
    assert set(body) == {
        "status",
        "message",
        "errorType",
        "correlationId",
        "policyName",
        "requestId",
    }
    assert body["policyName"] == "TEN_SECONDLY_ROLLING" and body["errorType"] == "RATE_LIMIT"
    assert body["message"] == "You have reached your ten_secondly_rolling limit."
    assert r.headers["x-hubspot-ratelimit-daily-remaining"] == "997"
    hub.clock.advance(7.5)  # the first call leaves the window
    assert hub.http.get("/crm/v3/properties/contacts/email").status_code == 200
    assert hub.http.get("/crm/v3/properties/contacts/email").status_code == 429


def test_daily_limit_and_retry_after(start: Callable[..., Hub]) -> None:
    hub = start(daily_limit=2, send_retry_after=True)
    assert hub.http.get("/crm/v3/properties/contacts").status_code == 200
    assert hub.http.get("/crm/v3/properties/contacts").status_code == 200
    r = hub.http.get("/crm/v3/properties/contacts")
    assert r.status_code == 429 and r.json()["policyName"] == "DAILY"
    assert r.headers["x-hubspot-ratelimit-daily-remaining"] == "0"
    assert 0 < int(r.headers["retry-after"]) <= 86_400
    hub.sandbox.set_rate_limit(2, None)
    hub.sandbox.send_retry_after = False
    assert hub.http.get("/crm/v3/properties/contacts").status_code == 200
    hub.http.get("/crm/v3/properties/contacts")
    r = hub.http.get("/crm/v3/properties/contacts")
    assert r.status_code == 429 and r.json()["policyName"] == "TEN_SECONDLY_ROLLING"
    hub.sandbox.send_retry_after = True
    assert hub.http.get("/crm/v3/properties/contacts").headers["retry-after"] == "10"


def test_unconfigured_limits_still_send_headers(hub: Hub) -> None:
    for _ in range(3):
        r = hub.http.get("/crm/v3/properties/contacts")
        assert r.status_code == 200
        assert r.headers["x-hubspot-ratelimit-remaining"] == r.headers["x-hubspot-ratelimit-max"]


# ---------------------------------------------------------------------------- faults


def test_fail_next_and_error_rate(hub: Hub) -> None:
    hub.sandbox.set_fault(fail_next=2, fail_status=503)
    for _ in range(2):
        r = hub.http.get("/crm/v3/properties/contacts")
        assert r.status_code == 503
        assert r.json()["status"] == "error" and r.json()["correlationId"]
    assert hub.http.get("/crm/v3/properties/contacts").status_code == 200
    hub.sandbox.set_fault(error_rate=1.0, error_status=500)
    r = hub.upsert([{"id": "a@x.io", "idProperty": "email", "properties": {}}])
    assert r.status_code == 500 and r.json()["category"] == "INTERNAL_ERROR"
    assert hub.sandbox.store.objects("contacts") == []  # a failed call writes nothing
    hub.sandbox.set_fault(fail_next=1, fail_status=423)
    assert hub.http.get("/crm/v3/properties/contacts").status_code == 423
    hub.sandbox.set_fault()
    assert hub.http.get("/crm/v3/properties/contacts").status_code == 200
    hub.sandbox.set_fault(error_rate=0.5, seed=7)
    statuses = [hub.http.get("/crm/v3/properties/contacts").status_code for _ in range(40)]
    assert 5 < statuses.count(500) < 35 and statuses.count(200) + statuses.count(500) == 40
    hub.sandbox.set_fault(error_rate=1.0)
    assert hub.http.get("/elsewhere").status_code == 404  # only /crm/* calls fail


def test_timeout_fault_answers_late(hub: Hub) -> None:
    hub.sandbox.set_fault(timeout_rate=1.0, timeout_seconds=1.0)
    with pytest.raises(httpx.ReadTimeout):
        hub.http.post(
            "/crm/v3/objects/contacts/batch/create",
            json={"inputs": [{"properties": {"firstname": "Late"}}]},
            timeout=0.2,
        )
    hub.sandbox.set_fault()
    # the call was processed: a blind retry of batch/create would duplicate
    assert hub.sandbox.store.find_by_property("contacts", "firstname", "Late") != []


def test_latency_does_not_block_the_event_loop() -> None:
    sandbox = HubSpotSandbox(clock=FakeClock(), latency_ms=500)
    served = InFlight(sandbox.app)
    together = threading.Barrier(4)
    results: list[tuple[int, float]] = []

    def call(url: str) -> None:
        with httpx.Client(base_url=url, headers=AUTH, timeout=10) as client:
            together.wait(timeout=10)
            began = time.monotonic()
            status = client.get("/crm/v3/properties/contacts").status_code
            results.append((status, time.monotonic() - began))

    with ServerThread(served) as server:
        threads = [threading.Thread(target=call, args=(server.url,)) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert [status for status, _ in results] == [200] * 4
    assert min(waited for _, waited in results) >= 0.49  # each one waited out its latency
    # ... all at once: a latency that held the event loop serves them one by one
    assert served.most == 4


# ----------------------------------------------------------------------- request log


def test_request_log_records_batch_sizes(hub: Hub) -> None:
    hub.unique_prop()
    hub.upsert([ww("a"), ww("b"), ww("c")])
    hub.upsert([ww(f"x{i}") for i in range(101)])
    hub.search({})
    httpx.get(hub.url + "/crm/v3/properties/contacts")
    log = hub.sandbox.request_log
    assert all(isinstance(e, RequestRecord) for e in log)
    upserts = [e for e in log if e.path == UPSERT]
    assert [(e.status, e.batch_size) for e in upserts] == [(200, 3), (400, 101)]
    assert log[0].batch_size is None and log[0].at == hub.clock()
    assert hub.sandbox.count() == 5
    assert hub.sandbox.count(method="post") == 4
    assert hub.sandbox.count(path_contains="batch/upsert") == 2
    assert hub.sandbox.count(status=401) == 1
    assert hub.sandbox.count("POST", "/search", 200) == 1
    hub.sandbox.clear_log()
    assert hub.sandbox.request_log == [] and hub.sandbox.count() == 0


# ---------------------------------------------------------------------- associations


def test_associations_default_labelled_read_archive(hub: Hub) -> None:
    hub.unique_prop()
    contacts = [x["id"] for x in hub.upsert([ww("a"), ww("b")]).json()["results"]]
    companies = [
        x["id"]
        for x in hub.post(
            "/crm/v3/objects/companies/batch/create",
            {"inputs": [{"properties": {"name": "A"}}, {"properties": {"name": "B"}}]},
        ).json()["results"]
    ]
    r = hub.post(
        "/crm/v4/associations/contacts/companies/batch/associate/default",
        {"inputs": [{"from": {"id": contacts[0]}, "to": {"id": companies[0]}}]},
    )
    assert r.status_code == 200
    spec = r.json()["results"][0]["associationSpec"]
    assert spec == {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 279}
    r = hub.post(
        "/crm/v4/associations/contacts/companies/batch/create",
        {
            "inputs": [
                {
                    "from": {"id": contacts[1]},
                    "to": {"id": companies[0]},
                    "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 1}],
                }
            ]
        },
    )
    assert r.status_code == 201 and r.json()["results"][0]["labels"] == ["Primary"]
    assert r.json()["results"][0]["fromObjectTypeId"] == "0-1"
    store = hub.sandbox.store
    assert store.associations("contacts", contacts[0], "companies") == [companies[0]]
    assert sorted(store.associations("0-2", companies[0], "0-1")) == sorted(contacts)

    r = hub.post(
        "/crm/v4/associations/companies/contacts/batch/read",
        {"inputs": [{"id": companies[0]}, {"id": companies[1]}]},
    )
    assert r.status_code == 207
    linked = r.json()["results"][0]["to"]
    types = {x["toObjectId"]: {t["typeId"] for t in x["associationTypes"]} for x in linked}
    assert types == {contacts[0]: {280}, contacts[1]: {280, 2}}
    assert r.json()["errors"][0]["context"]["fromObjectId"] == [companies[1]]

    r = hub.http.get(f"/crm/v4/objects/contacts/{contacts[1]}/associations/companies")
    assert r.status_code == 200 and r.json()["results"][0]["toObjectId"] == companies[0]

    r = hub.post(
        "/crm/v4/associations/companies/contacts/batch/archive",
        {"inputs": [{"from": {"id": companies[0]}, "to": [{"id": contacts[0]}]}]},
    )
    assert r.status_code == 204
    assert store.associations("contacts", contacts[0], "companies") == []
    assert store.associations("contacts", contacts[1], "companies") == [companies[0]]


def test_association_errors_and_limits(hub: Hub) -> None:
    hub.unique_prop()
    contact = hub.upsert([ww("a")]).json()["results"][0]["id"]
    r = hub.post(
        "/crm/v4/associations/contacts/companies/batch/associate/default",
        {"inputs": [{"from": {"id": contact}, "to": {"id": "404404"}}]},
    )
    assert r.status_code == 207 and r.json()["numErrors"] == 1 and r.json()["results"] == []
    r = hub.post(
        "/crm/v4/associations/contacts/companies/batch/create",
        {
            "inputs": [
                {
                    "from": {"id": contact},
                    "to": {"id": "404404"},
                    "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 280}],
                }
            ]
        },
    )
    assert r.status_code == 207
    pair = {"from": {"id": contact}, "to": {"id": contact}}
    path = "/crm/v4/associations/contacts/companies/batch"
    assert hub.post(f"{path}/associate/default", {"inputs": [pair] * 2001}).status_code == 400
    assert hub.post(f"{path}/read", {"inputs": [{"id": contact}] * 1001}).status_code == 400
    assert hub.post(f"{path}/read", {"inputs": [{"id": contact}] * 1000}).status_code == 207
    assert hub.post(f"{path}/archive", {"inputs": []}).status_code == 400
    r = hub.post("/crm/v4/associations/contacts/tickets/batch/read", {"inputs": [{"id": "1"}]})
    assert r.status_code == 400
    r = hub.post("/crm/v4/associations/deals/deals/batch/read", {"inputs": [{"id": "1"}]})
    assert r.status_code == 400


def test_create_with_associations_and_primary_is_unique(hub: Hub) -> None:
    companies = [
        x["id"]
        for x in hub.post(
            "/crm/v3/objects/companies/batch/create",
            {"inputs": [{"properties": {"name": "A"}}, {"properties": {"name": "B"}}]},
        ).json()["results"]
    ]
    r = hub.post(
        "/crm/v3/objects/contacts/batch/create",
        {
            "inputs": [
                {
                    "properties": {"email": "p@x.io"},
                    "associations": [
                        {
                            "to": {"id": companies[0]},
                            "types": [
                                {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 1}
                            ],
                        }
                    ],
                }
            ]
        },
    )
    assert r.status_code == 201
    contact = r.json()["results"][0]["id"]
    hub.post(
        "/crm/v4/associations/contacts/companies/batch/create",
        {
            "inputs": [
                {
                    "from": {"id": contact},
                    "to": {"id": companies[1]},
                    "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 1}],
                }
            ]
        },
    )
    listed = hub.http.get(f"/crm/v4/objects/contacts/{contact}/associations/companies").json()
    primary = [
        x["toObjectId"]
        for x in listed["results"]
        if any(t["typeId"] == 1 for t in x["associationTypes"])
    ]
    assert primary == [companies[1]]
    assert len(listed["results"]) == 2
