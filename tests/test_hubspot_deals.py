"""Deals in the HubSpot sandbox, over real HTTP (httpx against ServerThread).

Deals are HubSpot object type ``deals`` (``0-3``): the same batch, search and
property endpoints as contacts and companies, plus pipelines (a ``dealstage``
must be a stage of the deal's ``pipeline``) and associations with contacts and
companies. The deals spec of HubSpot's version 2026-09 checks the answers' shapes.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from syncworker_sandbox import SANDBOX_HUBSPOT_TOKEN
from syncworker_sandbox.hubspot_app import HubSpotSandbox
from syncworker_sandbox.server import ServerThread

from tests import test_hubspot_conformance as published
from tests.garbage import GARBAGE

AUTH = {"Authorization": f"Bearer {SANDBOX_HUBSPOT_TOKEN}"}
DEFAULT_STAGES = [
    "appointmentscheduled",
    "qualifiedtobuy",
    "presentationscheduled",
    "decisionmakerboughtin",
    "contractsent",
    "closedwon",
    "closedlost",
]


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

    def post(self, path: str, body: Any) -> httpx.Response:
        return self.http.post(path, json=body)

    def unique_prop(self, name: str = "wa_order_id", object_type: str = "deals") -> None:
        group = {"deals": "dealinformation", "contacts": "contactinformation"}[object_type]
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

    def upsert(self, inputs: list[dict[str, Any]], object_type: str = "deals") -> httpx.Response:
        return self.post(f"/crm/v3/objects/{object_type}/batch/upsert", {"inputs": inputs})

    def deals(self, *inputs: dict[str, Any]) -> list[str]:
        """Upsert deals by ``wa_order_id``; their HubSpot ids, in input order."""
        r = self.upsert(list(inputs))
        assert r.status_code == 200, r.text
        by_key = {x["properties"]["wa_order_id"]: x["id"] for x in r.json()["results"]}
        return [by_key[i["id"]] for i in inputs]

    def contacts(self, *emails: str) -> list[str]:
        r = self.post(
            "/crm/v3/objects/contacts/batch/create",
            {"inputs": [{"properties": {"email": e}} for e in emails]},
        )
        assert r.status_code == 201, r.text
        return [x["id"] for x in r.json()["results"]]

    def companies(self, *names: str) -> list[str]:
        r = self.post(
            "/crm/v3/objects/companies/batch/create",
            {"inputs": [{"properties": {"name": n}} for n in names]},
        )
        assert r.status_code == 201, r.text
        return [x["id"] for x in r.json()["results"]]


def order(key: str, **props: Any) -> dict[str, Any]:
    return {"id": key, "idProperty": "wa_order_id", "properties": props}


@pytest.fixture
def start() -> Iterator[Callable[..., Hub]]:
    running: list[tuple[ServerThread, httpx.Client]] = []

    def _start(**kwargs: Any) -> Hub:
        clock = FakeClock()
        sandbox = HubSpotSandbox(clock=clock, **kwargs)
        server = ServerThread(sandbox.app).start()
        client = httpx.Client(base_url=server.url, headers=AUTH, timeout=5)
        running.append((server, client))
        return Hub(sandbox, client, clock)

    yield _start
    for server, client in running:
        client.close()
        server.stop()


@pytest.fixture
def hub(start: Callable[..., Hub]) -> Hub:
    hub = start()
    hub.unique_prop()
    return hub


def problem_codes(response: httpx.Response) -> dict[str, str]:
    return {e["context"]["propertyName"][0]: e["code"] for e in response.json()["errors"]}


# ----------------------------------------------------------------- properties


def test_deal_properties_groups_and_type_aliases(start: Callable[..., Hub]) -> None:
    hub = start()
    found = hub.http.get("/crm/v3/properties/deals").json()["results"]
    by_name = {p["name"]: p for p in found}
    expected = {
        "dealname": "string",
        "amount": "number",
        "closedate": "datetime",
        "dealstage": "enumeration",
        "pipeline": "enumeration",
        "dealtype": "enumeration",
        "description": "string",
        "createdate": "datetime",
        "hs_lastmodifieddate": "datetime",
        "hs_object_id": "number",
    }
    assert {n: by_name[n]["type"] for n in expected} == expected
    for name in ("hs_object_id", "createdate", "hs_lastmodifieddate", "hs_is_closed"):
        assert by_name[name]["modificationMetadata"]["readOnlyValue"] is True
    for name in ("dealname", "amount", "closedate", "dealstage", "pipeline"):
        assert by_name[name]["modificationMetadata"]["readOnlyValue"] is False
    assert [o["value"] for o in by_name["dealstage"]["options"]] == DEFAULT_STAGES
    assert [o["value"] for o in by_name["pipeline"]["options"]] == ["default"]
    assert [o["value"] for o in by_name["dealtype"]["options"]] == [
        "newbusiness",
        "existingbusiness",
    ]
    for alias in ("0-3", "deal"):
        r = hub.http.get(f"/crm/v3/properties/{alias}/dealname")
        assert r.status_code == 200 and r.json()["label"] == "Deal Name"

    groups = {g["name"] for g in hub.http.get("/crm/v3/properties/deals/groups").json()["results"]}
    assert "dealinformation" in groups
    r = hub.post("/crm/v3/properties/deals/groups", {"name": "workadu", "label": "Workadu"})
    assert r.status_code == 201
    r = hub.post(
        "/crm/v3/properties/deals/batch/create",
        {
            "inputs": [
                {
                    "name": "wa_currency",
                    "label": "Currency",
                    "type": "string",
                    "fieldType": "text",
                    "groupName": "workadu",
                },
                {
                    "name": "wa_status",
                    "label": "Status",
                    "type": "enumeration",
                    "fieldType": "select",
                    "groupName": "workadu",
                    "options": [{"label": "Paid", "value": "PAID"}],
                },
            ]
        },
    )
    assert r.status_code == 201 and len(r.json()["results"]) == 2
    assert "wa_currency" in hub.sandbox.store.property_definitions("deals")
    # A contact group is not a deal group.
    r = hub.post(
        "/crm/v3/properties/deals",
        {
            "name": "x",
            "label": "x",
            "type": "string",
            "fieldType": "text",
            "groupName": "contactinformation",
        },
    )
    assert r.status_code == 400


# --------------------------------------------------------------------- upsert


def test_upsert_by_unique_property_creates_then_updates(hub: Hub) -> None:
    r = hub.upsert(
        [
            order("o-1", dealname="Booking 1", amount=120.5, dealstage="appointmentscheduled"),
            order("o-2", dealname="Booking 2", amount="80", dealstage="closedwon"),
        ]
    )
    assert r.status_code == 200, r.text
    first = {x["properties"]["wa_order_id"]: x for x in r.json()["results"]}
    assert all(x["new"] is True for x in first.values())
    one = first["o-1"]["properties"]
    assert one["amount"] == "120.5" and one["dealname"] == "Booking 1"
    assert one["pipeline"] == "default"  # HubSpot puts a deal without pipeline in "default"
    assert one["hs_object_id"] == first["o-1"]["id"]
    won = first["o-2"]["properties"]
    assert won["hs_is_closed_won"] == "true" and won["hs_deal_stage_probability"] == "1.0"

    hub.clock.advance(5)
    r = hub.upsert([order("o-1", dealstage="contractsent", description="Desk for 3 months")])
    assert r.status_code == 200
    again = r.json()["results"][0]
    assert again["new"] is False and again["id"] == first["o-1"]["id"]
    stored = hub.sandbox.store.get("deals", again["id"])
    assert stored is not None
    assert stored["properties"]["dealstage"] == "contractsent"
    assert stored["properties"]["dealname"] == "Booking 1"
    assert stored["properties"]["hs_deal_stage_probability"] == "0.9"
    assert stored["updatedAt"] != stored["createdAt"]
    assert len(hub.sandbox.store.objects("deals")) == 2
    assert (
        hub.sandbox.store.find_by_property("0-3", "wa_order_id", "o-2")[0]["id"]
        == (first["o-2"]["id"])
    )


def test_upsert_strictness_is_per_batch(hub: Hub) -> None:
    r = hub.upsert(
        [
            order("ok", dealname="fine"),
            order("bad", amount="12 EUR", nope="x", hs_object_id="1", dealtype="renewal"),
        ]
    )
    assert r.status_code == 400 and r.json()["category"] == "VALIDATION_ERROR"
    assert problem_codes(r) == {
        "amount": "INVALID_INTEGER",
        "nope": "PROPERTY_DOESNT_EXIST",
        "hs_object_id": "READ_ONLY_VALUE",
        "dealtype": "INVALID_OPTION",
    }
    assert hub.sandbox.store.objects("deals") == []  # the valid input was not written either
    r = hub.upsert([order(f"o{i}", dealname="x") for i in range(101)])
    assert r.status_code == 400 and "Too many inputs" in r.json()["message"]
    r = hub.upsert([order("same"), order("same")])
    assert r.status_code == 400 and "Duplicate IDs" in r.json()["message"]
    r = hub.upsert([{"id": "x", "idProperty": "dealname", "properties": {}}])
    assert r.status_code == 400
    assert r.json()["message"].startswith("Unable to perform update/upsert by non-unique 0-3")
    # A unique value belongs to one deal: batch/create with a taken key is a 409.
    hub.deals(order("taken", dealname="first"))
    r = hub.post(
        "/crm/v3/objects/deals/batch/create",
        {"inputs": [{"properties": {"wa_order_id": "taken", "dealname": "dup"}}]},
    )
    assert r.status_code == 409 and r.json()["category"] == "CONFLICT"
    assert "Existing ID" in r.json()["message"]
    assert len(hub.sandbox.store.objects("deals")) == 1


# ------------------------------------------------------------ stage and pipeline


def test_stage_must_belong_to_the_deals_pipeline(hub: Hub) -> None:
    r = hub.upsert([order("a", dealstage="won")])
    assert r.status_code == 400 and problem_codes(r) == {"dealstage": "INVALID_OPTION"}
    assert "was not one of the allowed options" in r.json()["errors"][0]["message"]
    r = hub.upsert([order("a", pipeline="renewals", dealstage="closedwon")])
    assert r.status_code == 400 and problem_codes(r) == {"pipeline": "INVALID_OPTION"}
    r = hub.upsert([order("a", dealstage=" closedwon")])
    assert r.status_code == 400 and problem_codes(r) == {"dealstage": "LEADING_TRAILING_WHITESPACE"}
    assert hub.sandbox.store.objects("deals") == []

    created = hub.sandbox.store.add_pipeline(
        "renewals",
        "Renewals",
        [("renewalopen", "Open", 0.5), ("renewalwon", "Renewed", 1.0, True)],
    )
    assert [s["id"] for s in created["stages"]] == ["renewalopen", "renewalwon"]
    # A stage of another pipeline: refused whether the pipeline is named or defaulted.
    r = hub.upsert([order("a", dealstage="renewalopen")])
    assert r.status_code == 400 and problem_codes(r) == {"dealstage": "INVALID_OPTION"}
    r = hub.upsert([order("a", pipeline="default", dealstage="renewalwon")])
    assert r.status_code == 400 and problem_codes(r) == {"dealstage": "INVALID_OPTION"}
    r = hub.upsert([order("a", pipeline="renewals", dealstage="closedwon")])
    assert r.status_code == 400 and problem_codes(r) == {"dealstage": "INVALID_OPTION"}

    [deal] = hub.deals(order("a", pipeline="renewals", dealstage="renewalwon"))
    stored = hub.sandbox.store.get("deals", deal)
    assert stored is not None and stored["properties"]["hs_is_closed_won"] == "true"
    # The stored pipeline counts when a later write sends only a stage ...
    r = hub.upsert([order("a", dealstage="appointmentscheduled")])
    assert r.status_code == 400 and problem_codes(r) == {"dealstage": "INVALID_OPTION"}
    assert hub.upsert([order("a", dealstage="renewalopen")]).status_code == 200
    # ... and the stored stage when it sends only a pipeline.
    r = hub.post(
        "/crm/v3/objects/deals/batch/update",
        {"inputs": [{"id": deal, "properties": {"pipeline": "default"}}]},
    )
    assert r.status_code == 400 and problem_codes(r) == {"dealstage": "INVALID_OPTION"}
    r = hub.post(
        "/crm/v3/objects/deals/batch/update",
        {
            "inputs": [
                {"id": deal, "properties": {"pipeline": "default", "dealstage": "closedlost"}}
            ]
        },
    )
    assert r.status_code == 200
    assert r.json()["results"][0]["properties"]["hs_is_closed"] == "true"
    assert r.json()["results"][0]["properties"]["hs_is_closed_won"] == "false"
    # The UI follows the same rule.
    with pytest.raises(ValueError, match="allowed options"):
        hub.sandbox.store.edit_property("deals", deal, "dealstage", "renewalopen")
    hub.sandbox.store.edit_property("deals", deal, "dealstage", "qualifiedtobuy")
    stored = hub.sandbox.store.get("deals", deal)
    assert stored is not None and stored["properties"]["hs_deal_stage_probability"] == "0.4"
    with pytest.raises(ValueError):
        hub.sandbox.store.add_pipeline("renewals", "Again", [("x", "X", 0.1)])
    with pytest.raises(ValueError):
        hub.sandbox.store.add_pipeline("other", "Other", [("closedwon", "Clash", 1.0, True)])


def test_create_without_stage_and_clearing_the_stage(hub: Hub) -> None:
    r = hub.post(
        "/crm/v3/objects/deals/batch/create",
        {"inputs": [{"properties": {"dealname": "No stage yet"}}]},
    )
    assert r.status_code == 201
    made = r.json()["results"][0]
    assert made["properties"]["pipeline"] == "default"
    assert "dealstage" not in made["properties"]
    r = hub.post(
        "/crm/v3/objects/deals/batch/update",
        {"inputs": [{"id": made["id"], "properties": {"dealstage": "qualifiedtobuy"}}]},
    )
    assert r.status_code == 200
    r = hub.post(
        "/crm/v3/objects/deals/batch/update",
        {"inputs": [{"id": made["id"], "properties": {"dealstage": ""}}]},
    )
    assert r.status_code == 200
    stored = hub.sandbox.store.get("deals", made["id"])
    assert stored is not None
    assert "dealstage" not in stored["properties"]
    assert "hs_deal_stage_probability" not in stored["properties"]


# ------------------------------------------------------------------ closedate


@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        ("2024-05-01", "2024-05-01T00:00:00Z"),
        ("2024-05-01T10:30:00Z", "2024-05-01T10:30:00Z"),
        ("2024-05-01T10:30:00.250+02:00", "2024-05-01T08:30:00.250Z"),
        ("2024-05-01T10:30:00", "2024-05-01T10:30:00Z"),
        (1714521600000, "2024-05-01T00:00:00Z"),  # midnight UTC, as a JSON number
        ("1714559400123", "2024-05-01T10:30:00.123Z"),  # not midnight: fine for a datetime
    ],
)
def test_closedate_is_coerced_to_an_iso_datetime(hub: Hub, sent: Any, stored: str) -> None:
    [deal] = hub.deals(order("c", closedate=sent))
    got = hub.http.get(f"/crm/v3/objects/deals/{deal}", params={"properties": "closedate"})
    assert got.status_code == 200 and got.json()["properties"]["closedate"] == stored


def test_bad_closedate_is_refused(hub: Hub) -> None:
    for bad in ("01/05/2024", "2024-13-01", "tomorrow", " 2024-05-01"):
        r = hub.upsert([order("c", closedate=bad)])
        assert r.status_code == 400, bad
        code = problem_codes(r)["closedate"]
        assert code in ("INVALID_DATE", "LEADING_TRAILING_WHITESPACE"), bad


# ------------------------------------------------------------------ pipelines


def test_pipelines_endpoints(start: Callable[..., Hub]) -> None:
    hub = start()
    r = hub.http.get("/crm/v3/pipelines/deals")
    assert r.status_code == 200
    [pipeline] = r.json()["results"]
    assert pipeline["id"] == "default" and pipeline["label"] == "Sales Pipeline"
    assert pipeline["displayOrder"] == 0 and pipeline["archived"] is False
    assert {"createdAt", "updatedAt"} <= set(pipeline)
    assert [s["id"] for s in pipeline["stages"]] == DEFAULT_STAGES
    assert [s["displayOrder"] for s in pipeline["stages"]] == list(range(7))
    stages = {s["id"]: s for s in pipeline["stages"]}
    assert stages["appointmentscheduled"]["metadata"] == {"isClosed": "false", "probability": "0.2"}
    assert stages["closedwon"]["metadata"] == {"isClosed": "true", "probability": "1.0"}
    assert stages["closedlost"]["metadata"] == {"isClosed": "true", "probability": "0.0"}
    assert stages["closedwon"]["label"] == "Closed Won"

    assert hub.http.get("/crm/v3/pipelines/0-3/default").json() == pipeline
    r = hub.http.get("/crm/v3/pipelines/deals/default/stages")
    assert r.status_code == 200 and r.json()["results"] == pipeline["stages"]
    r = hub.http.get("/crm/v3/pipelines/deals/default/stages/contractsent")
    assert r.status_code == 200 and r.json()["metadata"]["probability"] == "0.9"
    r = hub.http.get("/crm/v3/pipelines/deals/nope")
    assert r.status_code == 404 and r.json()["category"] == "OBJECT_NOT_FOUND"
    r = hub.http.get("/crm/v3/pipelines/deals/default/stages/nope")
    assert r.status_code == 404
    assert hub.http.get("/crm/v3/pipelines/contacts").status_code == 400
    assert hub.http.get("/crm/v3/pipelines/tickets").status_code == 400
    anonymous = str(hub.http.base_url).rstrip("/") + "/crm/v3/pipelines/deals"
    assert httpx.get(anonymous).status_code == 401

    hub.sandbox.store.add_pipeline("renewals", "Renewals", [("renewalopen", "Open", 0.5)])
    found = hub.http.get("/crm/v3/pipelines/deals").json()["results"]
    assert [p["id"] for p in found] == ["default", "renewals"]
    options = hub.http.get("/crm/v3/properties/deals/pipeline").json()["options"]
    assert [o["value"] for o in options] == ["default", "renewals"]
    options = hub.http.get("/crm/v3/properties/deals/dealstage").json()["options"]
    assert [o["value"] for o in options] == [*DEFAULT_STAGES, "renewalopen"]


# --------------------------------------------------------------- associations


def test_deal_contact_associations(hub: Hub) -> None:
    deal_a, deal_b = hub.deals(order("a", dealname="A"), order("b", dealname="B"))
    ann, bob = hub.contacts("ann@x.io", "bob@x.io")
    r = hub.post(
        "/crm/v4/associations/deals/contacts/batch/associate/default",
        {
            "inputs": [
                {"from": {"id": deal_a}, "to": {"id": ann}},
                {"from": {"id": deal_a}, "to": {"id": "999999"}},
            ]
        },
    )
    assert r.status_code == 207 and r.json()["numErrors"] == 1
    spec = r.json()["results"][0]["associationSpec"]
    assert spec == {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 3}
    r = hub.post(
        "/crm/v4/associations/contacts/deals/batch/associate/default",
        {"inputs": [{"from": {"id": bob}, "to": {"id": deal_a}}]},
    )
    assert r.json()["results"][0]["associationSpec"]["associationTypeId"] == 4
    r = hub.post(
        "/crm/v4/associations/contact/0-3/batch/create",
        {
            "inputs": [
                {
                    "from": {"id": ann},
                    "to": {"id": deal_b},
                    "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 4}],
                },
                {
                    "from": {"id": ann},
                    "to": {"id": deal_b},
                    "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 3}],
                },
            ]
        },
    )
    assert r.status_code == 207 and r.json()["numErrors"] == 1  # 3 is deal->contact only
    created = r.json()["results"][0]
    assert created["fromObjectTypeId"] == "0-1" and created["toObjectTypeId"] == "0-3"
    assert created["labels"] == []

    store = hub.sandbox.store
    assert store.associations("deals", deal_a, "contacts") == [ann, bob]
    assert store.associations("contacts", ann, "deals") == [deal_a, deal_b]
    assert store.associations("0-3", deal_b, "0-1") == [ann]
    assert store.associations("deals", deal_a, "companies") == []

    r = hub.post(
        "/crm/v4/associations/deals/contacts/batch/read",
        {"inputs": [{"id": deal_a}, {"id": "424242"}]},
    )
    assert r.status_code == 207
    linked = r.json()["results"][0]["to"]
    assert [(x["toObjectId"], x["associationTypes"]) for x in linked] == [
        (ann, [{"category": "HUBSPOT_DEFINED", "typeId": 3}]),
        (bob, [{"category": "HUBSPOT_DEFINED", "typeId": 3}]),
    ]
    r = hub.http.get(f"/crm/v4/objects/contacts/{ann}/associations/deals")
    assert r.status_code == 200
    assert [x["toObjectId"] for x in r.json()["results"]] == [deal_a, deal_b]
    assert r.json()["results"][0]["associationTypes"] == [
        {"category": "HUBSPOT_DEFINED", "typeId": 4}
    ]
    r = hub.http.get(f"/crm/v3/objects/deals/{deal_a}", params={"associations": "contacts"})
    assert r.json()["associations"]["contacts"]["results"] == [
        {"id": ann, "type": "deal_to_contact"},
        {"id": bob, "type": "deal_to_contact"},
    ]

    r = hub.post(
        "/crm/v4/associations/contacts/deals/batch/archive",
        {"inputs": [{"from": {"id": ann}, "to": [{"id": deal_a}]}]},
    )
    assert r.status_code == 204
    assert store.associations("deals", deal_a, "contacts") == [bob]
    assert store.associations("contacts", ann, "deals") == [deal_b]
    # An archived deal drops out of every listing.
    r = hub.post("/crm/v3/objects/deals/batch/archive", {"inputs": [{"id": deal_b}]})
    assert r.status_code == 204
    assert store.associations("contacts", ann, "deals") == []


def test_deal_company_associations_and_inline_create(hub: Hub) -> None:
    acme, globex = hub.companies("Acme", "Globex")
    ann = hub.contacts("ann@x.io")[0]
    [deal] = hub.deals(order("a", dealname="A"))
    r = hub.post(
        "/crm/v4/associations/deals/companies/batch/associate/default",
        {"inputs": [{"from": {"id": deal}, "to": {"id": acme}}]},
    )
    assert r.status_code == 200
    assert r.json()["results"][0]["associationSpec"]["associationTypeId"] == 341
    r = hub.post(
        "/crm/v4/associations/companies/deals/batch/create",
        {
            "inputs": [
                {
                    "from": {"id": globex},
                    "to": {"id": deal},
                    "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 6}],
                }
            ]
        },
    )
    assert r.status_code == 201 and r.json()["results"][0]["labels"] == ["Primary"]
    listing = hub.http.get(f"/crm/v4/objects/deals/{deal}/associations/companies").json()
    types = {
        x["toObjectId"]: {t["typeId"] for t in x["associationTypes"]} for x in listing["results"]
    }
    assert types == {acme: {341}, globex: {341, 5}}
    # A deal has one primary company: typeId 5 to Acme moves it from Globex.
    r = hub.post(
        "/crm/v4/associations/deals/companies/batch/create",
        {
            "inputs": [
                {
                    "from": {"id": deal},
                    "to": {"id": acme},
                    "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 5}],
                }
            ]
        },
    )
    assert r.status_code == 201
    listing = hub.http.get(f"/crm/v4/objects/companies/{globex}/associations/deals").json()
    assert listing["results"][0]["associationTypes"] == [
        {"category": "HUBSPOT_DEFINED", "typeId": 342}
    ]
    assert hub.sandbox.store.associations("companies", acme, "deals") == [deal]

    r = hub.post(
        "/crm/v3/objects/deals/batch/create",
        {
            "inputs": [
                {
                    "properties": {"dealname": "Inline", "dealstage": "qualifiedtobuy"},
                    "associations": [
                        {
                            "to": {"id": ann},
                            "types": [
                                {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 3}
                            ],
                        },
                        {
                            "to": {"id": globex},
                            "types": [
                                {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 5}
                            ],
                        },
                    ],
                }
            ]
        },
    )
    assert r.status_code == 201, r.text
    inline = r.json()["results"][0]["id"]
    assert hub.sandbox.store.associations("deals", inline, "contacts") == [ann]
    assert hub.sandbox.store.associations("deals", inline, "companies") == [globex]
    r = hub.post(
        "/crm/v3/objects/deals/batch/create",
        {
            "inputs": [
                {
                    "properties": {"dealname": "Wrong type"},
                    "associations": [
                        {
                            "to": {"id": ann},
                            "types": [
                                {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 279}
                            ],
                        }
                    ],
                }
            ]
        },
    )
    assert r.status_code == 400


# ---------------------------------------------------------------------- search


def test_search_deals(hub: Hub) -> None:
    hub.deals(
        order(
            "s1", dealname="Desk Athens", amount=100, dealstage="closedwon", closedate="2024-03-01"
        ),
        order("s2", dealname="Office Patras", amount=900, dealstage="closedwon"),
        order("s3", dealname="Desk Thessaloniki", amount=300, dealstage="qualifiedtobuy"),
    )
    r = hub.post(
        "/crm/v3/objects/deals/search",
        {
            "filterGroups": [
                {
                    "filters": [
                        {"propertyName": "dealstage", "operator": "EQ", "value": "closedwon"},
                        {"propertyName": "amount", "operator": "GTE", "value": "50"},
                    ]
                }
            ],
            "sorts": [{"propertyName": "amount", "direction": "DESCENDING"}],
            "properties": ["dealname", "amount"],
        },
    )
    assert r.status_code == 200
    body = r.json()
    assert body["total"] == 2
    assert [x["properties"]["dealname"] for x in body["results"]] == [
        "Office Patras",
        "Desk Athens",
    ]
    assert set(body["results"][0]["properties"]) == {
        "dealname",
        "amount",
        "createdate",
        "hs_object_id",
        "hs_lastmodifieddate",
    }
    r = hub.post("/crm/v3/objects/deals/search", {"query": "desk"})
    assert r.json()["total"] == 2
    default = r.json()["results"][0]["properties"]
    assert set(default) == {
        "amount",
        "closedate",
        "createdate",
        "dealname",
        "dealstage",
        "hs_lastmodifieddate",
        "hs_object_id",
        "pipeline",
    }
    r = hub.post(
        "/crm/v3/objects/deals/search",
        {
            "filterGroups": [
                {
                    "filters": [
                        {
                            "propertyName": "closedate",
                            "operator": "LT",
                            "value": "2024-06-01T00:00:00Z",
                        }
                    ]
                }
            ]
        },
    )
    assert [x["properties"]["dealname"] for x in r.json()["results"]] == ["Desk Athens"]
    r = hub.post(
        "/crm/v3/objects/deals/search",
        {"filterGroups": [{"filters": [{"propertyName": "email", "operator": "HAS_PROPERTY"}]}]},
    )
    assert r.status_code == 400  # email is a contact property


def test_get_by_id_property_and_batch_read(hub: Hub) -> None:
    [deal] = hub.deals(order("g", dealname="Get me", amount=5))
    r = hub.http.get(
        "/crm/v3/objects/deals/g", params={"idProperty": "wa_order_id", "properties": "amount"}
    )
    assert r.status_code == 200 and r.json()["id"] == deal
    assert r.json()["properties"]["amount"] == "5"
    r = hub.http.get("/crm/v3/objects/deals/g", params={"idProperty": "dealname"})
    assert r.status_code == 400
    r = hub.post(
        "/crm/v3/objects/deals/batch/read",
        {"idProperty": "wa_order_id", "inputs": [{"id": "g"}, {"id": "missing"}]},
    )
    assert r.status_code == 207
    assert r.json()["results"][0]["id"] == deal
    assert r.json()["errors"][0]["context"]["ids"] == ["missing"]
    assert "DEAL objects" in r.json()["errors"][0]["message"]
    assert hub.http.get("/crm/v3/objects/deals/99999").status_code == 404


def test_no_input_crashes_the_deal_endpoints(hub: Hub) -> None:
    paths = [
        "/crm/v3/objects/deals/batch/upsert",
        "/crm/v3/objects/deals/batch/create",
        "/crm/v3/objects/deals/batch/update",
        "/crm/v3/objects/deals/batch/read",
        "/crm/v3/objects/deals/batch/archive",
        "/crm/v3/objects/deals/search",
        "/crm/v3/properties/deals",
        "/crm/v4/associations/deals/contacts/batch/associate/default",
        "/crm/v4/associations/deals/companies/batch/create",
        "/crm/v4/associations/contacts/deals/batch/read",
        "/crm/v4/associations/companies/deals/batch/archive",
    ]
    for path in paths:
        for body in GARBAGE:
            if isinstance(body, bytes):
                raw = body
            else:
                raw = body.encode() if isinstance(body, str) else json.dumps(body).encode()
            r = hub.http.post(path, content=raw)
            assert r.status_code < 500, (path, body, r.text)
    for path in (
        "/crm/v3/pipelines/deals/%00",
        "/crm/v3/pipelines/deals/default/stages/%20",
        "/crm/v3/pipelines/0-1/default",
        "/crm/v4/objects/deals/x/associations/contacts?limit=0",
    ):
        assert hub.http.get(path).status_code in (400, 404), path
    assert hub.http.post("/crm/v3/pipelines/deals", json={}).status_code == 405


# --------------------------------------------------------------- published shapes


def test_deal_answers_match_the_published_schemas(hub: Hub) -> None:
    """The deals spec of 2026-09 checks the sandbox's deal answers at the dated paths."""

    def check(name: str, template: str, response: httpx.Response) -> Any:
        return published.conforms(name, template, response)

    v = published.VERSION
    base, obj = f"/crm/objects/{v}/deals", published.OBJ
    up = f"{base}/batch/upsert"
    r = hub.post(
        up, {"inputs": [order("a", dealname="A", closedate="2024-05-01", dealstage="closedwon")]}
    )
    deal = check("deals", f"{obj}/batch/upsert", r)["results"][0]["id"]
    r = hub.post(up, {"inputs": [order("b", dealstage="nope")]})
    assert r.status_code == 400
    check("deals", f"{obj}/batch/upsert", r)
    r = hub.post(f"{base}/batch/create", {"inputs": [{"properties": {"dealname": "C"}}]})
    check("deals", f"{obj}/batch/create", r)
    r = hub.post(f"{base}/batch/update", {"inputs": [{"id": deal, "properties": {"amount": "10"}}]})
    check("deals", f"{obj}/batch/update", r)
    r = hub.post(f"{base}/batch/read", {"inputs": [{"id": deal}, {"id": "404"}]})
    assert r.status_code == 207
    check("deals", f"{obj}/batch/read", r)
    r = hub.post(f"{base}/search", {"properties": ["dealname"], "limit": 1})
    check("deals", f"{obj}/search", r)
    ann = hub.contacts("ann@x.io")[0]
    links = published.ASSOC
    r = hub.post(
        f"/crm/associations/{v}/deals/contacts/batch/associate/default",
        {"inputs": [{"from": {"id": deal}, "to": {"id": ann}}]},
    )
    check("associations", f"{links}/batch/associate/default", r)
    r = hub.post(f"/crm/associations/{v}/deals/contacts/batch/read", {"inputs": [{"id": deal}]})
    check("associations", f"{links}/batch/read", r)
    r = hub.http.get(f"{base}/{deal}", params={"associations": "contacts"})
    check("deals", f"{obj}/{{objectId}}", r)
    r = hub.http.get(f"/crm/properties/{v}/deals")
    check("properties", published.PROP, r)
    r = hub.http.get(f"/crm/properties/{v}/deals/groups")
    check("properties", f"{published.PROP}/groups", r)
    pipes = published.PIPE
    check("pipelines", pipes, hub.http.get(f"/crm/pipelines/{v}/deals"))
    check("pipelines", f"{pipes}/{{pipelineId}}", hub.http.get(f"/crm/pipelines/{v}/deals/default"))
    r = hub.http.get(f"/crm/pipelines/{v}/deals/default/stages")
    check("pipelines", f"{pipes}/{{pipelineId}}/stages", r)
    r = hub.http.get(f"/crm/pipelines/{v}/deals/default/stages/closedwon")
    check("pipelines", f"{pipes}/{{pipelineId}}/stages/{{stageId}}", r)
