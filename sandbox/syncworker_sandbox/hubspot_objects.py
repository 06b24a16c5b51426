"""CRM object reads of the HubSpot sandbox (v3 objects API) and shared input parsing.

All functions expect the caller to hold ``store.lock``.
"""

from __future__ import annotations

from typing import Any

from syncworker_sandbox.hubspot_assoc import TYPES
from syncworker_sandbox.hubspot_common import (
    JSON,
    MAX_BATCH_OBJECTS,
    OBJECT_TYPE_IDS,
    PORTAL_ID,
    SINGULAR,
    UPPER,
    ApiError,
    BatchOutcome,
    invalid_json,
    missing_attributes,
    object_type_or_none,
    standard_error,
)
from syncworker_sandbox.hubspot_store import HubSpotStore, Record


def batch_inputs(body: Any, model: str) -> list[JSON]:
    if not isinstance(body, dict) or not isinstance(body.get("inputs"), list):
        raise missing_attributes(model, ["inputs"])
    inputs: list[Any] = body["inputs"]
    if not inputs:
        raise ApiError(
            400, f"No inputs were provided; a batch needs between 1 and {MAX_BATCH_OBJECTS} inputs."
        )
    if len(inputs) > MAX_BATCH_OBJECTS:
        raise ApiError(
            400,
            f"Too many inputs: {len(inputs)} inputs were provided, the maximum "
            f"is {MAX_BATCH_OBJECTS}.",
            context={"inputs": [str(len(inputs))], "limit": [str(MAX_BATCH_OBJECTS)]},
        )
    for item in inputs:
        if not isinstance(item, dict):
            raise invalid_json(f"Cannot deserialize value of type `{model}` item from non-object")
    return inputs


def input_id(item: JSON, model: str) -> str:
    raw = item.get("id")
    if raw is None:
        raise missing_attributes(model, ["id"])
    if isinstance(raw, bool) or not isinstance(raw, str | int):
        raise invalid_json("Cannot deserialize value of type `java.lang.String` for 'id'")
    if str(raw).strip() == "":
        raise ApiError(400, f"{model}.id must not be empty", context={"id": [str(raw)]})
    return str(raw)


def input_properties(item: JSON, model: str) -> dict[str, Any]:
    raw = item.get("properties")
    if raw is None:
        raise missing_attributes(model, ["properties"])
    if not isinstance(raw, dict):
        raise invalid_json(
            "Cannot deserialize value of type `java.util.LinkedHashMap` for 'properties'"
        )
    return raw


def id_property(store: HubSpotStore, object_type: str, raw: Any) -> str:
    name: str = raw if isinstance(raw, str) and raw else "hs_object_id"
    definition = store.props[object_type].get(name)
    unique = definition is not None and (
        definition["hasUniqueValue"] or (object_type == "contacts" and name == "email")
    )
    if not unique:
        raise ApiError(
            400,
            f"Unable to perform update/upsert by non-unique "
            f"{OBJECT_TYPE_IDS[object_type]} property {name} in portal ID "
            f"{PORTAL_ID}",
            context={"idProperty": [name]},
        )
    return name


def not_found(object_type: str, ids: list[str]) -> JSON:
    return standard_error(
        f"Could not get some {UPPER[object_type]} objects, they may be "
        "deleted or not exist. Check that ids are valid.",
        "OBJECT_NOT_FOUND",
        {"ids": ids},
    )


def _names(body: JSON, key: str) -> list[str] | None:
    raw = body.get(key)
    if raw is None:
        return None
    if not isinstance(raw, list) or not all(isinstance(n, str) for n in raw):
        raise invalid_json(f"Cannot deserialize value of type `java.util.ArrayList` for '{key}'")
    return list(raw)


def read(store: HubSpotStore, object_type: str, body: Any, archived: bool) -> BatchOutcome:
    inputs = batch_inputs(body, "BatchReadInputSimplePublicObjectId")
    id_prop = "hs_object_id"
    if body.get("idProperty") not in (None, ""):
        id_prop = id_property(store, object_type, body.get("idProperty"))
    names = _names(body, "properties") or None
    history = _names(body, "propertiesWithHistory")
    outcome = BatchOutcome()
    missing: list[str] = []
    seen: set[str] = set()
    for item in inputs:
        raw_id = input_id(item, "SimplePublicObjectId")
        if raw_id in seen:
            continue
        seen.add(raw_id)
        if archived:
            found = store.records[object_type].get(raw_id) if id_prop == "hs_object_id" else None
            record = found if found is not None and found.archived else None
        else:
            record = store.lookup(object_type, id_prop, raw_id)
        if record is None:
            missing.append(raw_id)
            continue
        outcome.results.append(store.render(object_type, record, names, history))
    if missing:
        outcome.errors.append(not_found(object_type, missing))
    return outcome


def archive(store: HubSpotStore, object_type: str, body: Any) -> None:
    for item in batch_inputs(body, "BatchInputSimplePublicObjectId"):
        store.archive(object_type, input_id(item, "SimplePublicObjectId"))


def get_one(
    store: HubSpotStore, object_type: str, object_id: str, query: dict[str, list[str]]
) -> JSON:
    def listed(key: str) -> list[str]:
        return [n for raw in query.get(key, []) for n in raw.split(",") if n]

    id_prop = "hs_object_id"
    if (query.get("idProperty") or [""])[0] not in ("", "hs_object_id"):
        id_prop = id_property(store, object_type, query["idProperty"][0])
    archived = (query.get("archived") or ["false"])[0].lower() == "true"
    record: Record | None
    if archived:
        found = store.records[object_type].get(object_id)
        record = found if found is not None and found.archived else None
    else:
        record = store.lookup(object_type, id_prop, object_id)
    if record is None:
        if id_prop == "hs_object_id" and not object_id.isdigit():
            raise ApiError(
                404,
                "Object not found.  objectId are usually numeric.",
                "OBJECT_NOT_FOUND",
                context={"id": [object_id]},
            )
        raise ApiError(404, "resource not found", "OBJECT_NOT_FOUND", context={"id": [object_id]})
    out = store.render(
        object_type, record, listed("properties") or None, listed("propertiesWithHistory")
    )
    associated: JSON = {}
    for to_raw in listed("associations"):
        to_type = object_type_or_none(to_raw)
        if to_type is None or (object_type, to_type) not in TYPES:
            continue
        ids = store.associations(object_type, record.id, to_type)
        if ids:
            kind = f"{SINGULAR[object_type]}_to_{SINGULAR[to_type]}"
            associated[to_type] = {"results": [{"id": i, "type": kind} for i in ids]}
    if associated:
        out["associations"] = associated
    return out
