"""The HubSpot sandbox answers in HubSpot's shapes.

Every response body is validated against the response schema that HubSpot's
official OpenAPI specs (``/work/shared/specs/hubspot-openapi``) give for that
path, method and status; the official SDK (hubspot-api-client 12) must
deserialize the answers into its models.
"""

from __future__ import annotations

import copy
import json
import os
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

SPEC_DIR = Path(__file__).resolve().parents[2] / "shared" / "specs" / "hubspot-openapi"
AUTH = {"Authorization": f"Bearer {SANDBOX_HUBSPOT_TOKEN}"}
SPEC_OF = {
    "contacts": "crm-contacts-v3.json",
    "companies": "crm-companies-v3.json",
    "properties": "crm-properties-v3.json",
    "associations": "crm-associations-v4.json",
}
# HubSpot sends null for a requested property that has no value; the specs
# declare property maps as string-valued without `nullable`. Only these maps
# are widened; everything else is checked as published.
NULLABLE_VALUE_MAPS = (
    "SimplePublicObject",
    "SimplePublicObjectWithAssociations",
    "SimplePublicUpsertObject",
)
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
    return json.loads((SPEC_DIR / SPEC_OF[name]).read_text())


@cache
def components(name: str) -> dict[str, Any]:
    schemas = {k: _schema(v) for k, v in spec(name)["components"]["schemas"].items()}
    for model in NULLABLE_VALUE_MAPS:
        if model in schemas:
            props = schemas[model]["properties"]["properties"]
            props["additionalProperties"] = {"type": ["string", "null"]}
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


def response_schema(name: str, template: str, method: str, status: int) -> str | None:
    """The component a spec names for this answer (``default`` for undeclared errors)."""
    responses = spec(name)["paths"][template][method.lower()]["responses"]
    entry = responses.get(str(status))
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


def conforms(
    name: str, template: str, response: httpx.Response, as_status: int | None = None
) -> Any:
    """Assert the body matches the spec's schema for this status; return the JSON."""
    model = response_schema(
        name, template, response.request.method, as_status or response.status_code
    )
    if model is None:
        assert response.content == b""
        return None
    body = response.json()
    validator = Draft202012Validator(
        {"$ref": f"#/components/schemas/{model}", "components": components(name)},
        format_checker=FORMATS,
    )
    problems = sorted(validator.iter_errors(body), key=str)
    assert not problems, f"{template} {response.status_code} vs {model}: {problems[0]}"
    return body


@pytest.fixture(scope="module")
def specs_present() -> None:
    if not SPEC_DIR.is_dir():
        reason = f"HubSpot OpenAPI specs not found at {SPEC_DIR}"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)


@pytest.fixture
def hub() -> Iterator[tuple[HubSpotSandbox, httpx.Client]]:
    sandbox = HubSpotSandbox(rate_limit_per_10s=1000, daily_limit=100_000)
    with (
        ServerThread(sandbox.app) as server,
        httpx.Client(base_url=server.url, headers=AUTH, timeout=5) as client,
    ):
        yield sandbox, client


PROP = "/crm/v3/properties/{objectType}"
ASSOC = "/crm/v4/associations/{fromObjectType}/{toObjectType}"


# ------------------------------------------------------------------- schema checks


@pytest.mark.usefixtures("specs_present")
def test_properties_api_conforms(hub: tuple[HubSpotSandbox, httpx.Client]) -> None:
    _, http = hub
    p = "properties"
    conforms(p, PROP, http.get("/crm/v3/properties/contacts"))
    conforms(p, PROP, http.get("/crm/v3/properties/companies?archived=false"))
    new = {
        "name": "ww_id",
        "label": "Workways id",
        "type": "string",
        "fieldType": "text",
        "groupName": "contactinformation",
        "hasUniqueValue": True,
    }
    created = conforms(p, PROP, http.post("/crm/v3/properties/contacts", json=new))
    assert created["name"] == "ww_id"
    r = http.post("/crm/v3/properties/contacts", json=new)
    assert r.status_code == 409
    conforms(p, PROP, r)
    r = http.post("/crm/v3/properties/contacts", json={**new, "name": "x", "groupName": "zz"})
    assert r.status_code == 400
    conforms(p, PROP, r)
    one = f"{PROP}/{{propertyName}}"
    conforms(p, one, http.get("/crm/v3/properties/contacts/hs_language"))
    r = http.get("/crm/v3/properties/contacts/nope")
    assert r.status_code == 404
    conforms(p, one, r)
    conforms(p, one, http.patch("/crm/v3/properties/contacts/ww_id", json={"label": "WW"}))
    r = http.patch("/crm/v3/properties/contacts/ww_id", json={"hasUniqueValue": False})
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
    r = http.post("/crm/v3/properties/contacts/batch/create", json={"inputs": [enum]})
    assert r.status_code == 201
    conforms(p, f"{PROP}/batch/create", r)
    r = http.post("/crm/v3/properties/contacts/batch/create", json={"inputs": [enum]})
    assert r.status_code == 207
    conforms(p, f"{PROP}/batch/create", r)
    read = {"inputs": [{"name": "plan"}], "archived": False, "dataSensitivity": "non_sensitive"}
    conforms(
        p, f"{PROP}/batch/read", http.post("/crm/v3/properties/contacts/batch/read", json=read)
    )
    read["inputs"].append({"name": "missing"})
    r = http.post("/crm/v3/properties/contacts/batch/read", json=read)
    assert r.status_code == 207
    conforms(p, f"{PROP}/batch/read", r)

    groups = f"{PROP}/groups"
    conforms(p, groups, http.get("/crm/v3/properties/contacts/groups"))
    r = http.post("/crm/v3/properties/contacts/groups", json={"name": "ww", "label": "WW"})
    assert r.status_code == 201
    conforms(p, groups, r)
    conforms(p, f"{groups}/{{groupName}}", http.get("/crm/v3/properties/contacts/groups/ww"))
    conforms(p, f"{groups}/{{groupName}}", http.get("/crm/v3/properties/contacts/groups/no"))


@pytest.mark.usefixtures("specs_present")
@pytest.mark.parametrize("kind", ["contacts", "companies"])
def test_objects_api_conforms(hub: tuple[HubSpotSandbox, httpx.Client], kind: str) -> None:
    _, http = hub
    base = f"/crm/v3/objects/{kind}"
    group = "contactinformation" if kind == "contacts" else "companyinformation"
    http.post(
        f"/crm/v3/properties/{kind}",
        json={
            "name": "ext_id",
            "label": "x",
            "type": "string",
            "fieldType": "text",
            "groupName": group,
            "hasUniqueValue": True,
        },
    )
    name_prop = "firstname" if kind == "contacts" else "name"

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

    single = f"{base}/{{{'contactId' if kind == 'contacts' else 'companyId'}}}"
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


@pytest.mark.usefixtures("specs_present")
def test_associations_api_conforms(hub: tuple[HubSpotSandbox, httpx.Client]) -> None:
    _, http = hub
    a = "associations"
    contact = http.post(
        "/crm/v3/objects/contacts/batch/create",
        json={"inputs": [{"properties": {"firstname": "A"}}]},
    ).json()["results"][0]["id"]
    company = http.post(
        "/crm/v3/objects/companies/batch/create", json={"inputs": [{"properties": {"name": "A"}}]}
    ).json()["results"][0]["id"]
    path = "/crm/v4/associations/contacts/companies/batch"
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
    assert r.status_code == 201
    conforms(a, f"{ASSOC}/batch/create", r)
    r = http.post(f"{path}/create", json={"inputs": [primary, {**primary, "to": {"id": "6"}}]})
    assert r.status_code == 207
    conforms(a, f"{ASSOC}/batch/create", r)
    conforms(
        a, f"{ASSOC}/batch/read", http.post(f"{path}/read", json={"inputs": [{"id": contact}]})
    )
    r = http.post(
        "/crm/v4/associations/companies/contacts/batch/read",
        json={"inputs": [{"id": company}, {"id": "7"}]},
    )
    assert r.status_code == 207
    conforms(a, f"{ASSOC}/batch/read", r)
    listed = "/crm/v4/objects/{objectType}/{objectId}/associations/{toObjectType}"
    conforms(a, listed, http.get(f"/crm/v4/objects/companies/{company}/associations/contacts"))
    r = http.post(
        f"{path}/archive", json={"inputs": [{"from": {"id": contact}, "to": [{"id": company}]}]}
    )
    assert r.status_code == 204
    conforms(a, f"{ASSOC}/batch/archive", r)
    r = http.post(f"{path}/create", json={"inputs": [primary] * 2001})
    assert r.status_code == 400
    conforms(a, f"{ASSOC}/batch/create", r)


@pytest.mark.usefixtures("specs_present")
def test_error_answers_conform(hub: tuple[HubSpotSandbox, httpx.Client]) -> None:
    sandbox, http = hub
    r = httpx.post(f"{str(http.base_url).rstrip('/')}/crm/v3/objects/contacts/search", json={})
    assert r.status_code == 401
    conforms("contacts", "/crm/v3/objects/contacts/search", r)
    r = http.post("/crm/v3/objects/contacts/batch/upsert", content=b"{nope")
    assert r.status_code == 400
    conforms("contacts", "/crm/v3/objects/contacts/batch/upsert", r)
    sandbox.set_fault(fail_next=1, fail_status=503)
    r = http.post("/crm/v3/objects/contacts/batch/read", json={"inputs": [{"id": "1"}]})
    assert r.status_code == 503
    conforms("contacts", "/crm/v3/objects/contacts/batch/read", r)
    # A 429 is not an Error body: HubSpot sends errorType/policyName, no category.
    sandbox.set_rate_limit(1)
    http.get("/crm/v3/properties/contacts")
    r = http.get("/crm/v3/properties/contacts")
    assert r.status_code == 429
    assert set(r.json()) == {
        "status",
        "message",
        "errorType",
        "correlationId",
        "policyName",
        "requestId",
    }


# ------------------------------------------------------------------------- the SDK


@pytest.fixture
def sdk() -> Iterator[tuple[HubSpotSandbox, Any]]:
    from hubspot import HubSpot

    sandbox = HubSpotSandbox()
    with ServerThread(sandbox.app) as server:
        yield sandbox, HubSpot(access_token=SANDBOX_HUBSPOT_TOKEN, host=server.url)


def test_sdk_deserializes_properties_and_upserts(sdk: tuple[HubSpotSandbox, Any]) -> None:
    from hubspot.crm import contacts as c
    from hubspot.crm import properties as p

    sandbox, client = sdk
    core = client.crm.properties.core_api
    made = core.create(
        object_type="contacts",
        property_create=p.PropertyCreate(
            name="ww_id",
            label="Workways id",
            type="string",
            field_type="text",
            group_name="contactinformation",
            has_unique_value=True,
        ),
    )
    assert isinstance(made, p.ModelProperty) and made.has_unique_value is True
    with pytest.raises(p.ApiException) as conflict:
        core.create(
            object_type="contacts",
            property_create=p.PropertyCreate(
                name="ww_id",
                label="x",
                type="string",
                field_type="text",
                group_name="contactinformation",
            ),
        )
    assert conflict.value.status == 409 and json.loads(conflict.value.body)["status"] == "error"
    group = client.crm.properties.groups_api.create(
        object_type="contacts", property_group_create=p.PropertyGroupCreate(name="ww", label="WW")
    )
    assert isinstance(group, p.PropertyGroup) and group.name == "ww"
    everything = core.get_all(object_type="contacts")
    assert "hs_language" in {x.name for x in everything.results}

    batch = client.crm.contacts.batch_api
    answer = batch.upsert(
        batch_input_simple_public_object_batch_input_upsert=(
            c.BatchInputSimplePublicObjectBatchInputUpsert(
                inputs=[
                    c.SimplePublicObjectBatchInputUpsert(
                        id="w1", id_property="ww_id", properties={"email": "w1@x.io"}
                    ),
                    c.SimplePublicObjectBatchInputUpsert(
                        id="w2", id_property="ww_id", properties={"email": "not-an-email"}
                    ),
                ]
            )
        )
    )
    assert isinstance(answer, c.BatchResponseSimplePublicUpsertObjectWithErrors)
    assert answer.num_errors == 1 and answer.errors[0].category == "VALIDATION_ERROR"
    assert answer.results[0].new is True and answer.results[0].properties["ww_id"] == "w1"
    again = batch.upsert(
        batch_input_simple_public_object_batch_input_upsert=(
            c.BatchInputSimplePublicObjectBatchInputUpsert(
                inputs=[
                    c.SimplePublicObjectBatchInputUpsert(
                        id="w1", id_property="ww_id", properties={"firstname": "W"}
                    )
                ]
            )
        )
    )
    assert isinstance(again, c.BatchResponseSimplePublicUpsertObject)
    assert again.results[0].new is False
    with pytest.raises(c.ApiException) as bad:
        batch.upsert(
            batch_input_simple_public_object_batch_input_upsert=(
                c.BatchInputSimplePublicObjectBatchInputUpsert(
                    inputs=[
                        c.SimplePublicObjectBatchInputUpsert(
                            id="w3", id_property="ww_id", properties={"hs_object_id": "1"}
                        )
                    ]
                )
            )
        )
    assert bad.value.status == 400
    assert json.loads(bad.value.body)["errors"][0]["code"] == "READ_ONLY_VALUE"

    read = batch.read(
        batch_read_input_simple_public_object_id=c.BatchReadInputSimplePublicObjectId(
            inputs=[
                c.SimplePublicObjectId(id=answer.results[0].id),
                c.SimplePublicObjectId(id="1"),
            ],
            properties=["email", "phone"],
            properties_with_history=[],
        )
    )
    assert isinstance(read, c.BatchResponseSimplePublicObjectWithErrors)
    assert read.results[0].properties["phone"] is None
    one = client.crm.contacts.basic_api.get_by_id(
        contact_id="w1", id_property="ww_id", properties=["email"]
    )
    assert isinstance(one, c.SimplePublicObjectWithAssociations)
    assert one.properties["email"] == "w1@x.io"
    assert sandbox.count(path_contains="/batch/upsert") == 3


def test_sdk_deserializes_search_and_associations(sdk: tuple[HubSpotSandbox, Any]) -> None:
    from hubspot.crm import companies as co
    from hubspot.crm import contacts as c
    from hubspot.crm.associations import v4

    sandbox, client = sdk
    made = client.crm.contacts.batch_api.create(
        batch_input_simple_public_object_batch_input_for_create=(
            c.BatchInputSimplePublicObjectBatchInputForCreate(
                inputs=[
                    c.SimplePublicObjectBatchInputForCreate(
                        properties={"email": f"s{i}@x.io"}, associations=[]
                    )
                    for i in range(3)
                ]
            )
        )
    )
    assert isinstance(made, c.BatchResponseSimplePublicObject)
    company = client.crm.companies.batch_api.create(
        batch_input_simple_public_object_batch_input_for_create=(
            co.BatchInputSimplePublicObjectBatchInputForCreate(
                inputs=[
                    co.SimplePublicObjectBatchInputForCreate(
                        properties={"name": "Acme"}, associations=[]
                    )
                ]
            )
        )
    ).results[0]

    found = client.crm.contacts.search_api.do_search(
        public_object_search_request=(
            c.PublicObjectSearchRequest(
                filter_groups=[
                    c.FilterGroup(
                        filters=[
                            c.Filter(
                                property_name="email", operator="CONTAINS_TOKEN", value="*@x.io"
                            )
                        ]
                    )
                ],
                sorts=["createdate"],
                properties=["email"],
                limit=2,
                after="0",
            )
        )
    )
    assert isinstance(found, c.CollectionResponseWithTotalSimplePublicObjectForwardPaging)
    assert found.total == 3 and found.paging.next.after == "2"
    assert found.results[0].properties["email"] == "s0@x.io"

    batch = client.crm.associations.v4.batch_api
    linked = batch.create_default(
        from_object_type="contacts",
        to_object_type="companies",
        batch_input_public_default_association_multi_post=(
            v4.BatchInputPublicDefaultAssociationMultiPost(
                inputs=[
                    v4.PublicDefaultAssociationMultiPost(
                        _from=v4.PublicObjectId(id=r.id), to=v4.PublicObjectId(id=company.id)
                    )
                    for r in made.results
                ]
            )
        ),
    )
    assert isinstance(linked, v4.BatchResponsePublicDefaultAssociation)
    assert linked.results[0].association_spec.association_type_id == 279
    labelled = batch.create(
        from_object_type="companies",
        to_object_type="contacts",
        batch_input_public_association_multi_post=v4.BatchInputPublicAssociationMultiPost(
            inputs=[
                v4.PublicAssociationMultiPost(
                    _from=v4.PublicObjectId(id=company.id),
                    to=v4.PublicObjectId(id=made.results[0].id),
                    types=[
                        v4.AssociationSpec(
                            association_category="HUBSPOT_DEFINED", association_type_id=2
                        )
                    ],
                )
            ]
        ),
    )
    assert isinstance(labelled, v4.BatchResponseLabelsBetweenObjectPair)
    assert labelled.results[0].labels == ["Primary"]
    page = batch.get_page(
        from_object_type="companies",
        to_object_type="contacts",
        batch_input_public_fetch_associations_batch_request=(
            v4.BatchInputPublicFetchAssociationsBatchRequest(
                inputs=[v4.PublicFetchAssociationsBatchRequest(id=company.id)]
            )
        ),
    )
    assert isinstance(page, v4.BatchResponsePublicAssociationMultiWithLabel)
    assert {x.to_object_id for x in page.results[0].to} == {r.id for r in made.results}
    listing = client.crm.associations.v4.basic_api.get_page(
        object_type="contacts", object_id=made.results[0].id, to_object_type="companies"
    )
    assert {t.type_id for t in listing.results[0].association_types} == {279, 1}
    assert sandbox.store.associations("companies", company.id, "contacts")


def test_sdk_raises_api_exception_on_auth_and_rate_limit(sdk: tuple[HubSpotSandbox, Any]) -> None:
    from hubspot import HubSpot
    from hubspot.crm import properties as p

    sandbox, client = sdk
    host = client.crm.properties.core_api.api_client.configuration.host
    stranger = HubSpot(access_token="pat-na1-wrong", host=host)
    with pytest.raises(p.ApiException) as denied:
        stranger.crm.properties.core_api.get_all(object_type="contacts")
    assert denied.value.status == 401
    assert json.loads(denied.value.body)["category"] == "INVALID_AUTHENTICATION"
    sandbox.set_rate_limit(1)
    api = client.crm.properties.core_api
    api.get_all(object_type="contacts")
    with pytest.raises(p.ApiException) as limited:
        api.get_all(object_type="contacts")
    assert limited.value.status == 429
    assert limited.value.headers["X-HubSpot-RateLimit-Remaining"] == "0"
    assert json.loads(limited.value.body)["policyName"] == "TEN_SECONDLY_ROLLING"


def test_validator_rejects_a_wrong_shape(specs_present: None) -> None:
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
