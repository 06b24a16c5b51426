"""CRM object batch writes of the HubSpot sandbox (upsert, create, update).

Every write batch is planned in full before anything is committed, so a batch
that HubSpot rejects as a whole (400 strictness, 409 conflict) leaves no trace.
All functions expect the caller to hold ``store.lock``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from syncworker_sandbox.hubspot_assoc import TYPES
from syncworker_sandbox.hubspot_common import (
    JSON,
    PORTAL_RULE,
    SINGULAR,
    ApiError,
    BatchOutcome,
    Problem,
    invalid_json,
    missing_attributes,
    portal_rule_error,
    problems_message,
    standard_error,
    validation_error,
)
from syncworker_sandbox.hubspot_objects import (
    batch_inputs,
    id_property,
    input_id,
    input_properties,
    not_found,
)
from syncworker_sandbox.hubspot_schema import check_value, coerce_value
from syncworker_sandbox.hubspot_store import HubSpotStore, Record


@dataclass
class _Write:
    record: Record | None
    changes: dict[str, str]
    problems: list[Problem]
    input_id: str | None = None
    trace: str | None = None
    new: bool = False
    target: str = ""
    links: list[tuple[str, str, str]] = field(default_factory=list)  # (to type, to id, kind)


def _check(
    store: HubSpotStore, object_type: str, raw: dict[str, Any]
) -> tuple[dict[str, str], list[Problem]]:
    defs = store.props[object_type]
    changes: dict[str, str] = {}
    problems: list[Problem] = []
    for name, raw_value in raw.items():
        value = coerce_value(raw_value)
        if value is None:
            raise invalid_json(
                f"Cannot deserialize value of type `java.lang.String` from "
                f"Object value for property '{name}'"
            )
        definition = defs.get(name)
        if definition is None or definition["archived"]:
            problems.append(
                Problem(name, "PROPERTY_DOESNT_EXIST", f'Property "{name}" does not exist')
            )
            continue
        if definition["modificationMetadata"]["readOnlyValue"]:
            problems.append(
                Problem(
                    name,
                    "READ_ONLY_VALUE",
                    f"{name} is a read only property; its value cannot be set.",
                )
            )
            continue
        normal, problem = check_value(object_type, definition, value)
        if problem is not None:
            problems.append(problem)
        changes[name] = normal
    return changes, problems


def _reject_duplicates(keys: list[tuple[str, str]], shown: list[str]) -> None:
    seen: set[tuple[str, str]] = set()
    dupes: list[str] = []
    for key, label in zip(keys, shown, strict=True):
        if key in seen and label not in dupes:
            dupes.append(label)
        seen.add(key)
    if dupes:
        raise ApiError(
            400,
            f"Duplicate IDs found in batch input: [{', '.join(dupes)}]. IDs must be unique",
            context={"ids": dupes},
        )


def _settle_problems(store: HubSpotStore, writes: list[_Write]) -> list[JSON]:
    """400 for any strictness problem; invalid e-mails per ``invalid_email_mode``.

    Returns the per-input errors of a multi-status answer and drops those writes.
    """
    every = [p for w in writes for p in w.problems]
    if not every:
        return []
    portal = [p for p in every if p.code == PORTAL_RULE]
    if portal:  # the portal's own rules refuse the whole batch
        raise portal_rule_error(portal)
    if any(p.code != "INVALID_EMAIL" for p in every) or store.invalid_email_mode != "multi-status":
        raise validation_error(every)
    errors: list[JSON] = []
    for write in [w for w in writes if w.problems]:
        context: dict[str, list[str]] = {"propertyName": [p.name for p in write.problems]}
        if write.input_id is not None:
            context["ids"] = [write.input_id]
        if write.trace is not None:
            context["objectWriteTraceId"] = [write.trace]
        errors.append(
            standard_error(
                problems_message(write.problems),
                "VALIDATION_ERROR",
                context,
                [p.as_detail() for p in write.problems],
            )
        )
        writes.remove(write)
    return errors


def _reject_conflicts(store: HubSpotStore, object_type: str, writes: list[_Write]) -> None:
    claimed: dict[tuple[str, str], str] = {}
    for write in writes:
        for name in store.unique_names(object_type):
            value = write.changes.get(name, "")
            if not value:
                continue
            key = (name, store.fold(object_type, name, value))
            owner = store.owner(object_type, name, value) or claimed.get(key)
            if owner is not None and owner != write.target:
                message = (
                    f"{SINGULAR[object_type].capitalize()} already exists. Existing ID: {owner}"
                )
                if name != "email":
                    message = (
                        f"A {SINGULAR[object_type]} with the same value of unique "
                        f"property {name} already exists. Existing ID: {owner}"
                    )
                raise ApiError(409, message, "CONFLICT")
            claimed[key] = write.target


def _commit(store: HubSpotStore, object_type: str, writes: list[_Write]) -> None:
    for write in writes:
        if write.record is None:
            write.record = store.create(object_type, write.target, write.changes)
        else:
            store.write(object_type, write.record, write.changes, "API")
        for to_type, to_id, kind in write.links:
            store.assoc.add(object_type, write.target, to_type, to_id, kind)


def _result(store: HubSpotStore, object_type: str, write: _Write, upsert: bool) -> JSON:
    assert write.record is not None
    out = store.render(object_type, write.record, list(write.changes), nulls=False)
    for name in write.changes:
        out["properties"].setdefault(name, "")
    if upsert:
        out["new"] = write.new
    if write.trace is not None:
        out["objectWriteTraceId"] = write.trace
    return out


def _trace(item: JSON) -> str | None:
    trace = item.get("objectWriteTraceId")
    return str(trace) if trace is not None else None


def upsert(store: HubSpotStore, object_type: str, body: Any) -> BatchOutcome:
    model = "SimplePublicObjectBatchInputUpsert"
    writes: list[_Write] = []
    keys: list[tuple[str, str]] = []
    for item in batch_inputs(body, "BatchInputSimplePublicObjectBatchInputUpsert"):
        raw_id, props = input_id(item, model), input_properties(item, model)
        id_prop = id_property(store, object_type, item.get("idProperty"))
        changes, problems = _check(store, object_type, props)
        id_value, id_problem = check_value(object_type, store.props[object_type][id_prop], raw_id)
        if id_problem is not None:
            problems.insert(0, id_problem)
        keys.append((id_prop, store.fold(object_type, id_prop, raw_id)))
        record = store.lookup(object_type, id_prop, id_value) if id_problem is None else None
        if record is None:
            changes[id_prop] = id_value
        else:
            changes.setdefault(id_prop, id_value)
        current = record.props if record is not None else {}
        store.object_rules(object_type, current, changes, problems, new=record is None)
        writes.append(_Write(record, changes, problems, raw_id, _trace(item), new=record is None))
    _reject_duplicates(keys, [k[1] for k in keys])
    outcome = BatchOutcome(errors=_settle_problems(store, writes))
    for write in writes:
        write.target = write.record.id if write.record else store.new_id()
    _reject_conflicts(store, object_type, writes)
    _commit(store, object_type, writes)
    outcome.results = [_result(store, object_type, w, True) for w in writes]
    return outcome


def _links(store: HubSpotStore, object_type: str, raw: Any) -> list[tuple[str, str, str]]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise invalid_json(
            "Cannot deserialize value of type `java.util.ArrayList` for 'associations'"
        )
    links: list[tuple[str, str, str]] = []
    for assoc in raw:
        to = assoc.get("to") if isinstance(assoc, dict) else None
        types = assoc.get("types") if isinstance(assoc, dict) else None
        if not isinstance(to, dict) or to.get("id") is None or not isinstance(types, list):
            raise missing_attributes("PublicAssociationsForObject", ["to", "types"])
        for spec in types:
            type_id = spec.get("associationTypeId") if isinstance(spec, dict) else None
            match = [
                (pair[1], label)
                for pair, table in TYPES.items()
                if pair[0] == object_type
                for t, label in table.items()
                if t == type_id
            ]
            if not match or spec.get("associationCategory") != "HUBSPOT_DEFINED":
                raise ApiError(
                    400,
                    f"Invalid association type {type_id} for {object_type}",
                    context={"associationTypeId": [str(type_id)]},
                )
            to_type, label = match[0]
            if not store.exists(to_type, str(to["id"])):
                raise ApiError(
                    400,
                    f"{SINGULAR[to_type].capitalize()} {to['id']} does not exist.",
                    context={"toObjectId": [str(to["id"])]},
                )
            links.append((to_type, str(to["id"]), "default" if label is None else "primary"))
    return links


def create(store: HubSpotStore, object_type: str, body: Any) -> BatchOutcome:
    model = "SimplePublicObjectBatchInputForCreate"
    writes: list[_Write] = []
    for item in batch_inputs(body, "BatchInputSimplePublicObjectBatchInputForCreate"):
        changes, problems = _check(store, object_type, input_properties(item, model))
        store.object_rules(object_type, {}, changes, problems, new=True)
        writes.append(
            _Write(
                None,
                changes,
                problems,
                None,
                _trace(item),
                new=True,
                links=_links(store, object_type, item.get("associations")),
            )
        )
    outcome = BatchOutcome(errors=_settle_problems(store, writes))
    for write in writes:
        write.target = store.new_id()
    _reject_conflicts(store, object_type, writes)
    _commit(store, object_type, writes)
    outcome.results = [_result(store, object_type, w, False) for w in writes]
    return outcome


def update(store: HubSpotStore, object_type: str, body: Any) -> BatchOutcome:
    model = "SimplePublicObjectBatchInput"
    writes: list[_Write] = []
    keys: list[tuple[str, str]] = []
    for item in batch_inputs(body, "BatchInputSimplePublicObjectBatchInput"):
        raw_id, props = input_id(item, model), input_properties(item, model)
        id_prop = "hs_object_id"
        if item.get("idProperty") not in (None, ""):
            id_prop = id_property(store, object_type, item.get("idProperty"))
        changes, problems = _check(store, object_type, props)
        keys.append((id_prop, store.fold(object_type, id_prop, raw_id)))
        record = store.lookup(object_type, id_prop, raw_id)
        if record is not None:
            store.object_rules(object_type, record.props, changes, problems, new=False)
        writes.append(
            _Write(
                record, changes, problems, raw_id, _trace(item), target=record.id if record else ""
            )
        )
    _reject_duplicates(keys, [k[1] for k in keys])
    outcome = BatchOutcome(errors=_settle_problems(store, writes))
    missing = [w.input_id or "" for w in writes if w.record is None]
    writes = [w for w in writes if w.record is not None]
    if missing:
        outcome.errors.append(not_found(object_type, missing))
    _reject_conflicts(store, object_type, writes)
    _commit(store, object_type, writes)
    outcome.results = [_result(store, object_type, w, False) for w in writes]
    return outcome
