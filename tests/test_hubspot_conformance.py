"""The gateway and the HubSpot sandbox speak HubSpot's API version 2026-09.

Every request the gateway sends and every answer the sandbox gives for those
operations is validated against HubSpot's official OpenAPI specs for 2026-09
(``/work/shared/specs/hubspot-openapi/2026-09``): the request body against the
operation's ``requestBody`` schema, the answer against the schema the spec
gives for that path, method and status. The specs must be present: a missing
spec fails these tests, it never skips them.

Where a published spec is known to be wrong, HubSpot's documented behaviour
wins; every such exception is listed once, in :data:`SPEC_EXCEPTIONS`, with why.
"""

from __future__ import annotations

import copy
import json
import re
import uuid
from collections.abc import Iterator
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import pytest
from jsonschema import Draft202012Validator, FormatChecker
from syncworker_sandbox import SANDBOX_HUBSPOT_TOKEN
from syncworker_sandbox.hubspot_app import HubSpotSandbox
from syncworker_sandbox.server import ServerThread

from syncworker.config import Secret
from syncworker.errors import HubSpotAuthError
from syncworker.hubspot.gateway import HubSpotGateway
from syncworker.hubspot.responses import UpsertRecord
from syncworker.hubspot.schema import ensure_schema
from syncworker.mapping import custom_properties
from syncworker.sources.workadu.mapping import ORDER_MAPPING
from syncworker.sources.workways.mapping import COMPANY_MAPPING, CONTACT_MAPPING

SPEC_DIR = Path(__file__).resolve().parents[2] / "shared" / "specs" / "hubspot-openapi" / "2026-09"
VERSION = "2026-09"
AUTH = {"Authorization": f"Bearer {SANDBOX_HUBSPOT_TOKEN}"}
SPEC_OF = {
    "contacts": "crm-contacts.json",
    "companies": "crm-companies.json",
    "deals": "crm-deals.json",
    "properties": "crm-properties.json",
    "associations": "crm-associations.json",
    "pipelines": "crm-pipelines.json",
}

# ------------------------------------------------------------ known spec errors
# The one list of places where HubSpot's published 2026-09 specs disagree with
# HubSpot's documented (and observed) behaviour. Each entry: where, what is
# changed before validating, and why.
SPEC_EXCEPTIONS: dict[str, str] = {
    "PublicObjectSearchRequest.sorts": (
        "typed as an array of strings; HubSpot's search guide takes objects "
        '{"propertyName": ..., "direction": "ASCENDING"|"DESCENDING"} (a bare property '
        "name is accepted too): both shapes are allowed"
    ),
    "PublicObjectSearchRequest.required.after": (
        "marked required, but the first page of a search has no paging cursor; the "
        "search guide sends `after` only from the second page on: made optional"
    ),
    "BatchReadInputSimplePublicObjectId.required.propertiesWithHistory": (
        "marked required; the batch read guide lists it as optional and the gateway "
        "never needs property history: made optional"
    ),
    "SimplePublicObject*.properties values": (
        "declared string-valued without `nullable`; HubSpot answers null for a "
        "requested property that has no value: null allowed in these maps only"
    ),
    "207 Multi-Status": (
        "batch endpoints declare only their 200/201; HubSpot answers 207 with the same body "
        "(plus `errors`/`numErrors`) when some inputs failed: validated as the declared 2xx body"
    ),
    "429 body": (
        "not the spec's Error: HubSpot's rate-limit answer carries "
        "status/message/errorType/correlationId/policyName/requestId and no category "
        "(rate-limit docs): checked by its documented key set instead"
    ),
}
NULLABLE_VALUE_MAPS = (
    "SimplePublicObject",
    "SimplePublicObjectWithAssociations",
    "SimplePublicUpsertObject",
)
_SORT_OBJECT = {
    "type": "object",
    "required": ["propertyName"],
    "properties": {
        "propertyName": {"type": "string"},
        "direction": {"enum": ["ASCENDING", "DESCENDING"]},
    },
}


def _apply_exceptions(schemas: dict[str, Any]) -> None:
    search = schemas.get("PublicObjectSearchRequest")
    if search is not None:
        search["properties"]["sorts"]["items"] = {"anyOf": [{"type": "string"}, _SORT_OBJECT]}
        search["required"] = [r for r in search["required"] if r != "after"]
    read = schemas.get("BatchReadInputSimplePublicObjectId")
    if read is not None:
        read["required"] = [r for r in read["required"] if r != "propertiesWithHistory"]
    for model in NULLABLE_VALUE_MAPS:
        if model in schemas:
            props = schemas[model]["properties"]["properties"]
            props["additionalProperties"] = {"type": ["string", "null"]}


_NON_SCHEMA_KEYS = {
    "example",
    "examples",
    "nullable",
    "xml",
    "externalDocs",
    "deprecated",
    "discriminator",
    "readOnly",
    "writeOnly",
}


# ----------------------------------------------------------------- spec loading


def _schema(node: Any) -> Any:
    """OpenAPI 3.0 schema object -> JSON Schema (nullable becomes a null type)."""
    if isinstance(node, list):
        return [_schema(n) for n in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _NON_SCHEMA_KEYS:
            continue
        if key == "properties" and isinstance(value, dict):
            out[key] = {name: _schema(sub) for name, sub in value.items()}
        else:
            out[key] = _schema(value)
    if node.get("nullable") is True:
        if isinstance(out.get("type"), str):
            out["type"] = [out["type"], "null"]
            if "enum" in out:
                out["enum"] = [*out["enum"], None]
        else:
            out = {"anyOf": [out, {"type": "null"}]}
    return out


@cache
def spec(name: str) -> dict[str, Any]:
    path = SPEC_DIR / SPEC_OF[name]
    if not path.is_file():
        pytest.fail(f"HubSpot OpenAPI spec {path} is missing: the conformance tests need it")
    return json.loads(path.read_text())  # type: ignore[no-any-return]


@cache
def components(name: str) -> dict[str, Any]:
    schemas = {k: _schema(v) for k, v in spec(name)["components"]["schemas"].items()}
    _apply_exceptions(schemas)
    return {"schemas": schemas}


FORMATS = FormatChecker(formats=())


@FORMATS.checks("date-time", raises=ValueError)
def _is_datetime(value: object) -> bool:
    if not isinstance(value, str) or "T" not in value:
        return False
    datetime.fromisoformat(value.replace("Z", "+00:00"))
    return True


@FORMATS.checks("uuid", raises=ValueError)
def _is_uuid(value: object) -> bool:
    return not isinstance(value, str) or bool(uuid.UUID(value))


def _operation(name: str, template: str, method: str) -> dict[str, Any]:
    paths = spec(name)["paths"]
    assert template in paths, f"{template} is not a path of {SPEC_OF[name]}"
    operation = paths[template].get(method.lower())
    assert operation is not None, f"{SPEC_OF[name]} has no {method} {template}"
    return operation  # type: ignore[no-any-return]


def response_schema(name: str, template: str, method: str, status: int) -> str | None:
    """The component a spec names for this answer (``default`` for undeclared errors)."""
    responses = _operation(name, template, method)["responses"]
    entry = responses.get(str(status))
    if entry is None and status == 207:  # SPEC_EXCEPTIONS["207 Multi-Status"]
        entry = next((v for k, v in responses.items() if k.startswith("20")), None)
    if entry is None and status >= 400:
        entry = responses["default"]
    assert entry is not None, f"{method} {template} declares no {status} answer"
    if "$ref" in entry:  # e.g. #/components/responses/Error
        entry = spec(name)["components"]["responses"][entry["$ref"].rsplit("/", 1)[1]]
    content = entry.get("content")
    if not content:
        return None
    ref: str = next(iter(content.values()))["schema"]["$ref"]
    return ref.rsplit("/", 1)[1]


def request_schema(name: str, template: str, method: str) -> str | None:
    body = _operation(name, template, method).get("requestBody")
    if body is None:
        return None
    ref: str = body["content"]["application/json"]["schema"]["$ref"]
    return ref.rsplit("/", 1)[1]


def problems(name: str, model: str, body: Any) -> list[str]:
    validator = Draft202012Validator(
        {"$ref": f"#/components/schemas/{model}", "components": components(name)},
        format_checker=FORMATS,
    )
    return sorted(str(e.message) for e in validator.iter_errors(body))


def conforms(
    name: str, template: str, response: httpx.Response, as_status: int | None = None
) -> Any:
    """Assert the body matches the spec's schema for this status; return the JSON.

    ``template`` may also be the request's own path: its operation is looked up."""
    if template not in spec(name)["paths"]:
        found_name, template = operation_of(response.request.method, response.request.url.path)
        assert found_name == name, f"{response.request.url.path} is in {found_name}'s spec"
    model = response_schema(
        name, template, response.request.method, as_status or response.status_code
    )
    if model is None:
        assert response.content == b""
        return None
    body = response.json()
    found = problems(name, model, body)
    assert not found, f"{template} {response.status_code} vs {model}: {found[0]}"
    return body


def sent_conforms(name: str, template: str, method: str, payload: Any) -> None:
    """Assert a request body matches the operation's requestBody schema."""
    model = request_schema(name, template, method)
    if model is None:
        assert payload is None, f"{method} {template} takes no body"
        return
    found = problems(name, model, payload)
    assert not found, f"request {method} {template} vs {model}: {found[0]}"


# --------------------------------------------------- which operation a path is


def _pattern(template: str) -> re.Pattern[str]:
    parts = re.split(r"(\{[^}]+\})", template)
    return re.compile(
        "^" + "".join("[^/]+" if p.startswith("{") else re.escape(p) for p in parts) + "$"
    )


def operation_of(method: str, path: str) -> tuple[str, str]:
    """(spec name, path template) of a dated request; the most literal template wins."""
    if path.startswith(f"/crm/objects/{VERSION}/"):
        names = [path.split("/")[4]]  # the object type picks the spec
        if "/associations/" in path:
            names = ["associations"]
    else:
        names = [path.split("/")[2]]  # properties, associations, pipelines
    candidates = [
        (name, template)
        for name in names
        for template, ops in spec(name)["paths"].items()
        if method.lower() in ops and _pattern(template).match(path)
    ]
    assert candidates, f"{method} {path} is no operation of the 2026-09 specs"
    return max(candidates, key=lambda c: len(re.sub(r"\{[^}]+\}", "", c[1])))


@pytest.fixture
def hub() -> Iterator[tuple[HubSpotSandbox, httpx.Client]]:
    sandbox = HubSpotSandbox(rate_limit_per_10s=1000, daily_limit=100_000, dated_only=True)
    with (
        ServerThread(sandbox.app) as server,
        httpx.Client(base_url=server.url, headers=AUTH, timeout=5) as client,
    ):
        yield sandbox, client


PROP = f"/crm/properties/{VERSION}/{{objectType}}"
OBJ = f"/crm/objects/{VERSION}/{{objectType}}"
ASSOC = f"/crm/associations/{VERSION}/{{fromObjectType}}/{{toObjectType}}"
PIPE = f"/crm/pipelines/{VERSION}/{{objectType}}"


# ------------------------------------------------------------------- schema checks


def test_properties_api_conforms(hub: tuple[HubSpotSandbox, httpx.Client]) -> None:
    _, http = hub
    p = "properties"
    conforms(p, PROP, http.get(f"/crm/properties/{VERSION}/contacts"))
    conforms(p, PROP, http.get(f"/crm/properties/{VERSION}/companies?archived=false"))
    new = {
        "name": "ww_id",
        "label": "Workways id",
        "type": "string",
        "fieldType": "text",
        "groupName": "contactinformation",
        "hasUniqueValue": True,
    }
    created = conforms(p, PROP, http.post(f"/crm/properties/{VERSION}/contacts", json=new))
    assert created["name"] == "ww_id"
    r = http.post(f"/crm/properties/{VERSION}/contacts", json=new)
    assert r.status_code == 409
    conforms(p, PROP, r)
    r = http.post(
        f"/crm/properties/{VERSION}/contacts", json={**new, "name": "x", "groupName": "zz"}
    )
    assert r.status_code == 400
    conforms(p, PROP, r)
    one = f"{PROP}/{{propertyName}}"
    conforms(p, one, http.get(f"/crm/properties/{VERSION}/contacts/hs_language"))
    r = http.get(f"/crm/properties/{VERSION}/contacts/nope")
    assert r.status_code == 404
    conforms(p, one, r)
    conforms(p, one, http.patch(f"/crm/properties/{VERSION}/contacts/ww_id", json={"label": "WW"}))
    r = http.patch(f"/crm/properties/{VERSION}/contacts/ww_id", json={"hasUniqueValue": False})
    assert r.status_code == 400
    conforms(p, one, r)

    enum = {
        "name": "plan",
        "label": "Plan",
        "type": "enumeration",
        "fieldType": "select",
        "groupName": "contactinformation",
        "options": [{"label": "Hot desk", "value": "hot", "hidden": False, "displayOrder": 0}],
    }
    r = http.post(f"/crm/properties/{VERSION}/contacts/batch/create", json={"inputs": [enum]})
    assert r.status_code == 200  # 2026-09: 200 (v3 answered 201)
    conforms(p, f"{PROP}/batch/create", r)
    r = http.post(f"/crm/properties/{VERSION}/contacts/batch/create", json={"inputs": [enum]})
    assert r.status_code == 207
    conforms(p, f"{PROP}/batch/create", r)
    read = {"inputs": [{"name": "plan"}], "archived": False, "dataSensitivity": "non_sensitive"}
    conforms(
        p,
        f"{PROP}/batch/read",
        http.post(f"/crm/properties/{VERSION}/contacts/batch/read", json=read),
    )
    read["inputs"].append({"name": "missing"})
    r = http.post(f"/crm/properties/{VERSION}/contacts/batch/read", json=read)
    assert r.status_code == 207
    conforms(p, f"{PROP}/batch/read", r)

    groups = f"{PROP}/groups"
    conforms(p, groups, http.get(f"/crm/properties/{VERSION}/contacts/groups"))
    r = http.post(f"/crm/properties/{VERSION}/contacts/groups", json={"name": "ww", "label": "WW"})
    assert r.status_code == 201
    conforms(p, groups, r)
    conforms(
        p, f"{groups}/{{groupName}}", http.get(f"/crm/properties/{VERSION}/contacts/groups/ww")
    )
    conforms(
        p, f"{groups}/{{groupName}}", http.get(f"/crm/properties/{VERSION}/contacts/groups/no")
    )


@pytest.mark.parametrize("kind", ["contacts", "companies", "deals"])
def test_objects_api_conforms(hub: tuple[HubSpotSandbox, httpx.Client], kind: str) -> None:
    _, http = hub
    base = f"/crm/objects/{VERSION}/{kind}"
    group = {"contacts": "contactinformation", "companies": "companyinformation"}.get(
        kind, "dealinformation"
    )
    http.post(
        f"/crm/properties/{VERSION}/{kind}",
        json={
            "name": "ext_id",
            "label": "x",
            "type": "string",
            "fieldType": "text",
            "groupName": group,
            "hasUniqueValue": True,
        },
    )
    name_prop = {"contacts": "firstname", "companies": "name"}.get(kind, "dealname")

    def up(value: str, **props: str) -> dict[str, Any]:
        return {"id": value, "idProperty": "ext_id", "properties": {name_prop: "N", **props}}

    r = http.post(f"{base}/batch/upsert", json={"inputs": [up("a"), up("b")]})
    assert r.status_code == 200
    ids = [x["id"] for x in conforms(kind, f"{base}/batch/upsert", r)["results"]]
    r = http.post(f"{base}/batch/upsert", json={"inputs": [up("a", nope="1")]})
    assert r.status_code == 400
    conforms(kind, f"{base}/batch/upsert", r)
    if kind == "contacts":
        r = http.post(
            f"{base}/batch/upsert",
            json={"inputs": [up("c", email="c@x.io"), up("d", email="broken")]},
        )
        assert r.status_code == 207
        conforms(kind, f"{base}/batch/upsert", r)
        r = http.post(f"{base}/batch/upsert", json={"inputs": [up("e", email="C@X.io")]})
        assert r.status_code == 409
        conforms(kind, f"{base}/batch/upsert", r)

    r = http.post(f"{base}/batch/create", json={"inputs": [{"properties": {name_prop: "C"}}]})
    assert r.status_code == 201
    conforms(kind, f"{base}/batch/create", r)
    if kind == "contacts":
        r = http.post(
            f"{base}/batch/create",
            json={
                "inputs": [
                    {"properties": {"email": "ok@x.io"}},
                    {"properties": {"email": "x y@z.io"}},
                ]
            },
        )
        assert r.status_code == 207
        conforms(kind, f"{base}/batch/create", r)

    update = {"inputs": [{"id": ids[0], "properties": {name_prop: "Z"}}]}
    conforms(kind, f"{base}/batch/update", http.post(f"{base}/batch/update", json=update))
    update["inputs"].append({"id": "77777777", "properties": {}})
    r = http.post(f"{base}/batch/update", json=update)
    assert r.status_code == 207
    conforms(kind, f"{base}/batch/update", r)

    read: dict[str, Any] = {
        "inputs": [{"id": ids[0]}],
        "properties": [name_prop, "phone"],
        "propertiesWithHistory": [name_prop],
    }
    conforms(kind, f"{base}/batch/read", http.post(f"{base}/batch/read", json=read))
    read["inputs"].append({"id": "88888888"})
    r = http.post(f"{base}/batch/read", json=read)
    assert r.status_code == 207
    conforms(kind, f"{base}/batch/read", r)

    single = f"{OBJ}/{{objectId}}"
    body = conforms(
        kind, single, http.get(f"{base}/{ids[0]}", params={"properties": f"{name_prop},ext_id"})
    )
    assert body["properties"]["ext_id"] == "a"
    conforms(kind, single, http.get(f"{base}/b", params={"idProperty": "ext_id"}))
    r = http.get(f"{base}/99999999")
    assert r.status_code == 404
    conforms(kind, single, r)

    search = {
        "filterGroups": [
            {"filters": [{"propertyName": "ext_id", "operator": "IN", "values": ["a", "b"]}]}
        ],
        "sorts": [{"propertyName": "createdate", "direction": "ASCENDING"}],
        "properties": [name_prop, "ext_id"],
        "limit": 1,
    }
    found = conforms(kind, f"{base}/search", http.post(f"{base}/search", json=search))
    assert found["total"] == 2 and found["paging"]["next"]["after"] == "1"
    r = http.post(f"{base}/search", json={"limit": 500})
    assert r.status_code == 400
    conforms(kind, f"{base}/search", r)

    r = http.post(f"{base}/batch/archive", json={"inputs": [{"id": ids[1]}]})
    assert r.status_code == 204
    conforms(kind, f"{base}/batch/archive", r)
    r = http.post(f"{base}/batch/archive", json={"inputs": [{"id": "1"}] * 101})
    assert r.status_code == 400
    conforms(kind, f"{base}/batch/archive", r)


def test_associations_api_conforms(hub: tuple[HubSpotSandbox, httpx.Client]) -> None:
    _, http = hub
    a = "associations"
    contact = http.post(
        f"/crm/objects/{VERSION}/contacts/batch/create",
        json={"inputs": [{"properties": {"firstname": "A"}}]},
    ).json()["results"][0]["id"]
    company = http.post(
        f"/crm/objects/{VERSION}/companies/batch/create",
        json={"inputs": [{"properties": {"name": "A"}}]},
    ).json()["results"][0]["id"]
    path = f"/crm/associations/{VERSION}/contacts/companies/batch"
    pair = {"from": {"id": contact}, "to": {"id": company}}
    conforms(
        a,
        f"{ASSOC}/batch/associate/default",
        http.post(f"{path}/associate/default", json={"inputs": [pair]}),
    )
    r = http.post(
        f"{path}/associate/default",
        json={"inputs": [pair, {"from": {"id": contact}, "to": {"id": "5"}}]},
    )
    assert r.status_code == 207  # the spec only declares 200; its body shape carries errors
    conforms(a, f"{ASSOC}/batch/associate/default", r, as_status=200)
    primary = {
        **pair,
        "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 1}],
    }
    r = http.post(f"{path}/create", json={"inputs": [primary]})
    assert r.status_code == 200  # 2026-09: 200 (v4 answered 201)
    conforms(a, f"{ASSOC}/batch/create", r)
    r = http.post(f"{path}/create", json={"inputs": [primary, {**primary, "to": {"id": "6"}}]})
    assert r.status_code == 207
    conforms(a, f"{ASSOC}/batch/create", r)
    conforms(
        a, f"{ASSOC}/batch/read", http.post(f"{path}/read", json={"inputs": [{"id": contact}]})
    )
    r = http.post(
        f"/crm/associations/{VERSION}/companies/contacts/batch/read",
        json={"inputs": [{"id": company}, {"id": "7"}]},
    )
    assert r.status_code == 207
    conforms(a, f"{ASSOC}/batch/read", r)
    r = http.post(
        f"{path}/archive", json={"inputs": [{"from": {"id": contact}, "to": [{"id": company}]}]}
    )
    assert r.status_code == 200  # 2026-09: a BatchResponseVoid (v4 answered 204)
    assert r.json()["status"] == "COMPLETE"
    conforms(a, f"{ASSOC}/batch/archive", r)
    r = http.post(f"{path}/create", json={"inputs": [primary] * 2001})
    assert r.status_code == 400
    conforms(a, f"{ASSOC}/batch/create", r)


def test_error_answers_conform(hub: tuple[HubSpotSandbox, httpx.Client]) -> None:
    sandbox, http = hub
    r = httpx.post(
        f"{str(http.base_url).rstrip('/')}/crm/objects/{VERSION}/contacts/search", json={}
    )
    assert r.status_code == 401
    conforms("contacts", f"/crm/objects/{VERSION}/contacts/search", r)
    r = http.post(f"/crm/objects/{VERSION}/contacts/batch/upsert", content=b"{nope")
    assert r.status_code == 400
    conforms("contacts", f"/crm/objects/{VERSION}/contacts/batch/upsert", r)
    sandbox.set_fault(fail_next=1, fail_status=503)
    r = http.post(f"/crm/objects/{VERSION}/contacts/batch/read", json={"inputs": [{"id": "1"}]})
    assert r.status_code == 503
    conforms("contacts", f"/crm/objects/{VERSION}/contacts/batch/read", r)
    # A 429 is not an Error body: HubSpot sends errorType/policyName, no category.
    sandbox.set_rate_limit(1)
    http.get(f"/crm/properties/{VERSION}/contacts")
    r = http.get(f"/crm/properties/{VERSION}/contacts")
    assert r.status_code == 429
    assert set(r.json()) == {
        "status",
        "message",
        "errorType",
        "correlationId",
        "policyName",
        "requestId",
    }


# ------------------------------------------------------ the gateway, both ways


class Recorder(httpx.BaseTransport):
    """The real HTTP transport, keeping every request and answer it carried."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.exchanges: list[tuple[httpx.Request, httpx.Response]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        response.read()
        self.exchanges.append((request, response))
        return response

    def close(self) -> None:
        self.inner.close()


def _record(key: str, **props: str) -> UpsertRecord:
    return UpsertRecord(key, props)


def test_every_request_the_gateway_sends_and_every_answer_conform() -> None:
    """Drive each gateway operation the engine uses (deals included), with the
    answers that matter (200, 207, 400 split, 409, 401), and validate both ways."""
    sandbox = HubSpotSandbox(dated_only=True)
    recorder = Recorder()
    with ServerThread(sandbox.app) as server:
        gateway = HubSpotGateway(
            server.url,
            Secret(SANDBOX_HUBSPOT_TOKEN),
            transport=recorder,
            sleep=lambda seconds: None,
        )
        schema = custom_properties(CONTACT_MAPPING, COMPANY_MAPPING, ORDER_MAPPING)
        ensure_schema(gateway, schema[:-1])
        ensure_schema(gateway, schema)  # the group exists: a 409 body
        people = [
            _record("u1", workways_user_id="u1", email="ann@example.com", firstname="Ann"),
            _record("u2", workways_user_id="u2", email="not-an-email"),  # a 207
        ]
        outcomes = gateway.upsert("contacts", "workways_user_id", people)
        assert [o.ok for o in outcomes] == [True, False]
        sandbox.invalid_email_mode = "reject-batch"  # a 400, split to isolate u4
        split = gateway.upsert(
            "contacts",
            "workways_user_id",
            [_record("u3", workways_user_id="u3"), _record("u4", email="bad@@x")],
        )
        assert sorted((o.key, o.ok) for o in split) == [("u3", True), ("u4", False)]
        (conflict,) = gateway.upsert(  # ann's e-mail on another contact: a 409
            "contacts", "workways_user_id", [_record("u5", email="ann@example.com")]
        )
        assert conflict.category == "CONFLICT"
        sandbox.add_validation_rule(  # a portal rule refusing the whole batch: a 400
            "contacts", "jobtitle", when_property="lifecyclestage", when_value="customer"
        )
        (refused,) = gateway.upsert(
            "contacts", "workways_user_id", [_record("u6", lifecyclestage="customer")]
        )
        assert not refused.ok and refused.category == "VALIDATION_ERROR"
        (org,) = gateway.upsert("companies", "workways_org_id", [_record("o1", name="Org")])
        (deal,) = gateway.upsert("deals", "workadu_order_id", [_record("d1", dealname="D")])
        ann = outcomes[0].hubspot_id or ""
        assert set(gateway.read("contacts", "workways_user_id", ["u1"], ["email"])) == {"u1"}
        assert set(gateway.read_by_ids("deals", [deal.hubspot_id or ""], ["dealname"])) == {
            deal.hubspot_id
        }
        updated = gateway.update_by_id("contacts", [(ann, {"firstname": "A"}), ("99999", {})])
        assert updated[ann].ok and not updated["99999"].ok  # a 207
        assert [o["id"] for o in gateway.search_modified_since("companies", 0, ["name"])] == [
            org.hubspot_id
        ]
        assert gateway.associate([(ann, org.hubspot_id or "")]) == {(ann, org.hubspot_id)}
        gateway.associate([(deal.hubspot_id or "", ann)], "deals", "contacts")
        gateway.remove_associations([(ann, org.hubspot_id or "")])
        stranger = HubSpotGateway(
            server.url, Secret("pat-na1-wrong"), transport=recorder, sleep=lambda s: None
        )
        with pytest.raises(HubSpotAuthError):
            stranger.list_properties("contacts")

    seen: set[tuple[str, str, int]] = set()
    for request, response in recorder.exchanges:
        name, template = operation_of(request.method, request.url.path)
        payload = json.loads(request.content) if request.content else None
        sent_conforms(name, template, request.method, payload)
        response.request = request
        conforms(name, template, response)
        seen.add((request.method, template.replace(f"/{VERSION}/", "/{v}/"), response.status_code))
    assert seen == {
        ("GET", "/crm/properties/{v}/{objectType}", 200),
        ("GET", "/crm/properties/{v}/{objectType}", 401),
        ("POST", "/crm/properties/{v}/{objectType}/groups", 201),
        ("POST", "/crm/properties/{v}/{objectType}/groups", 409),
        ("POST", "/crm/properties/{v}/{objectType}/batch/create", 200),
        ("POST", "/crm/objects/{v}/{objectType}/batch/upsert", 200),
        ("POST", "/crm/objects/{v}/{objectType}/batch/upsert", 207),
        ("POST", "/crm/objects/{v}/{objectType}/batch/upsert", 400),
        ("POST", "/crm/objects/{v}/{objectType}/batch/upsert", 409),
        ("POST", "/crm/objects/{v}/{objectType}/batch/read", 200),
        ("POST", "/crm/objects/{v}/{objectType}/batch/update", 207),
        ("POST", "/crm/objects/{v}/{objectType}/search", 200),
        (
            "POST",
            "/crm/associations/{v}/{fromObjectType}/{toObjectType}/batch/associate/default",
            200,
        ),
        ("POST", "/crm/associations/{v}/{fromObjectType}/{toObjectType}/batch/archive", 200),
    }
    assert not [r for r, _ in recorder.exchanges if re.search(r"/v\d+/", r.url.path)]


def test_validator_rejects_a_wrong_shape() -> None:
    """The checker itself bites: a body missing required fields fails."""
    validator = Draft202012Validator(
        {
            "$ref": "#/components/schemas/BatchResponseSimplePublicUpsertObject",
            "components": copy.deepcopy(components("contacts")),
        },
        format_checker=FORMATS,
    )
    good = {
        "status": "COMPLETE",
        "results": [],
        "startedAt": "2024-01-01T00:00:00.000Z",
        "completedAt": "2024-01-01T00:00:00.000Z",
    }
    assert validator.is_valid(good)
    assert not validator.is_valid({**good, "startedAt": "yesterday"})
    assert not validator.is_valid({**good, "results": [{"id": "1", "properties": {}}]})
    assert not validator.is_valid({k: v for k, v in good.items() if k != "status"})


def test_request_checks_bite_and_the_exceptions_stay_narrow() -> None:
    search = f"{OBJ}/search"
    ok = {
        "filterGroups": [{"filters": [{"propertyName": "x", "operator": "GTE", "value": "1"}]}],
        "sorts": [{"propertyName": "x", "direction": "ASCENDING"}],
        "properties": ["x"],
        "limit": 200,
    }
    assert problems("contacts", "PublicObjectSearchRequest", ok) == []
    assert problems("contacts", "PublicObjectSearchRequest", {**ok, "sorts": ["x"]}) == []
    bad_sort = {**ok, "sorts": [{"propertyName": "x", "direction": "UP"}]}
    assert problems("contacts", "PublicObjectSearchRequest", bad_sort)
    assert problems("contacts", "PublicObjectSearchRequest", {**ok, "limit": "200"})
    with pytest.raises(AssertionError):
        sent_conforms("contacts", search, "POST", {k: v for k, v in ok.items() if k != "limit"})
    link = f"{ASSOC}/batch/associate/default"
    sent_conforms(
        "associations", link, "POST", {"inputs": [{"from": {"id": "1"}, "to": {"id": "2"}}]}
    )
    with pytest.raises(AssertionError):  # v4's labelled shape is not the default endpoint's
        sent_conforms(
            "associations", link, "POST", {"inputs": [{"from": {"id": "1"}, "to": [{"id": "2"}]}]}
        )
    read = {"inputs": [{"id": "1"}], "properties": ["email"]}
    sent_conforms("contacts", f"{OBJ}/batch/read", "POST", read)
    with pytest.raises(AssertionError):
        sent_conforms("contacts", f"{OBJ}/batch/read", "POST", {"inputs": [{"id": "1"}]})
    assert operation_of("POST", "/crm/objects/2026-09/deals/batch/upsert") == (
        "deals",
        "/crm/objects/2026-09/{objectType}/batch/upsert",
    )
