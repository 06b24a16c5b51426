"""Associations v4 of the HubSpot sandbox: contacts, companies and deals, both directions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from syncworker_sandbox.hubspot_common import (
    JSON,
    OBJECT_TYPE_IDS,
    SINGULAR,
    ApiError,
    BatchOutcome,
    invalid_json,
    missing_attributes,
    standard_error,
)

# associationTypeId -> label (None: the unlabelled default type), per direction
# (HubSpot-defined ids; a "Primary" label means "the primary company" of the other side).
TYPES: dict[tuple[str, str], dict[int, str | None]] = {
    ("contacts", "companies"): {279: None, 1: "Primary"},
    ("companies", "contacts"): {280: None, 2: "Primary"},
    ("deals", "contacts"): {3: None},
    ("contacts", "deals"): {4: None},
    ("deals", "companies"): {341: None, 5: "Primary"},
    ("companies", "deals"): {342: None, 6: "Primary"},
}
DEFAULT_TYPE: dict[tuple[str, str], int] = {
    pair: next(type_id for type_id, label in table.items() if label is None)
    for pair, table in TYPES.items()
}
MAX_CREATE = 2000
MAX_ARCHIVE = 2000
MAX_READ = 1000
PAGE_SIZE = 500

Exists = Callable[[str, str], bool]


Key = tuple[str, str, str, str]


class AssociationIndex:
    """Associated pairs of objects and their kinds ("default", "primary").

    A pair is stored once, whichever direction created it; "primary" marks the
    company as the primary company of the contact or deal on the other side.
    """

    def __init__(self) -> None:
        self._kinds: dict[Key, set[str]] = {}
        # (from type, to type) -> from id -> associated ids
        self._by: dict[tuple[str, str], dict[str, set[str]]] = {}

    @staticmethod
    def _key(from_type: str, from_id: str, to_type: str, to_id: str) -> Key:
        if from_type <= to_type:
            return (from_type, from_id, to_type, to_id)
        return (to_type, to_id, from_type, from_id)

    def add(self, from_type: str, from_id: str, to_type: str, to_id: str, kind: str) -> None:
        if kind == "primary":  # a contact or deal has at most one primary company
            owner_type, owner_id, company = (
                (to_type, to_id, from_id)
                if from_type == "companies"
                else (from_type, from_id, to_id)
            )
            for other in self._by.get((owner_type, "companies"), {}).get(owner_id, set()):
                if other != company:
                    self._kinds[self._key(owner_type, owner_id, "companies", other)].discard(
                        "primary"
                    )
        kinds = self._kinds.setdefault(self._key(from_type, from_id, to_type, to_id), set())
        kinds.update({"default", kind})
        self._by.setdefault((from_type, to_type), {}).setdefault(from_id, set()).add(to_id)
        self._by.setdefault((to_type, from_type), {}).setdefault(to_id, set()).add(from_id)

    def remove(self, from_type: str, from_id: str, to_type: str, to_id: str) -> None:
        if self._kinds.pop(self._key(from_type, from_id, to_type, to_id), None) is not None:
            self._by[(from_type, to_type)][from_id].discard(to_id)
            self._by[(to_type, from_type)][to_id].discard(from_id)

    def kinds(self, from_type: str, from_id: str, to_type: str, to_id: str) -> set[str]:
        return set(self._kinds.get(self._key(from_type, from_id, to_type, to_id), set()))

    def neighbors(self, from_type: str, from_id: str, to_type: str) -> list[str]:
        linked = self._by.get((from_type, to_type), {}).get(from_id, set())
        return sorted(linked, key=lambda i: (len(i), i))


def pair_types(from_type: str, to_type: str) -> tuple[str, str]:
    if (from_type, to_type) not in TYPES:
        raise ApiError(
            400,
            f"Associations from {from_type} to {to_type} are not supported by the sandbox",
            context={"fromObjectType": [from_type], "toObjectType": [to_type]},
        )
    return from_type, to_type


def _type_specs(from_type: str, to_type: str, kinds: set[str]) -> list[JSON]:
    specs: list[JSON] = []
    for type_id, label in TYPES[(from_type, to_type)].items():
        if ("default" if label is None else "primary") in kinds:
            spec: JSON = {"category": "HUBSPOT_DEFINED", "typeId": type_id}
            if label is not None:
                spec["label"] = label
            specs.append(spec)
    return specs


def _object_id(raw: Any, model: str, field: str) -> str:
    if not isinstance(raw, dict) or raw.get("id") is None:
        raise missing_attributes(model, [field])
    value = raw["id"]
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise invalid_json(f"Cannot deserialize value of type `java.lang.String` for '{field}'")
    return str(value)


def _inputs(body: Any, model: str, maximum: int) -> list[Any]:
    if not isinstance(body, dict) or not isinstance(body.get("inputs"), list):
        raise missing_attributes(model, ["inputs"])
    inputs: list[Any] = body["inputs"]
    if not inputs:
        raise ApiError(400, "Batch inputs must not be empty.")
    if len(inputs) > maximum:
        raise ApiError(
            400,
            f"Batch size {len(inputs)} exceeds the maximum of {maximum} inputs.",
            context={"limit": [str(maximum)]},
        )
    return inputs


def _missing(exists: Exists, from_type: str, to_type: str, from_id: str, to_id: str) -> JSON | None:
    if not exists(from_type, from_id):
        return standard_error(
            f"{SINGULAR[from_type].capitalize()} {from_id} does not exist.",
            "VALIDATION_ERROR",
            {"fromObjectId": [from_id]},
        )
    if not exists(to_type, to_id):
        return standard_error(
            f"{SINGULAR[to_type].capitalize()} {to_id} does not exist.",
            "VALIDATION_ERROR",
            {"toObjectId": [to_id]},
        )
    return None


def associate_default(
    index: AssociationIndex, exists: Exists, from_type: str, to_type: str, body: Any
) -> BatchOutcome:
    outcome = BatchOutcome()
    for item in _inputs(body, "BatchInputPublicDefaultAssociationMultiPost", MAX_CREATE):
        if not isinstance(item, dict):
            raise invalid_json(
                "Cannot deserialize value of type `PublicDefaultAssociationMultiPost`"
            )
        from_id = _object_id(item.get("from"), "PublicDefaultAssociationMultiPost", "from")
        to_id = _object_id(item.get("to"), "PublicDefaultAssociationMultiPost", "to")
        error = _missing(exists, from_type, to_type, from_id, to_id)
        if error:
            outcome.errors.append(error)
            continue
        index.add(from_type, from_id, to_type, to_id, "default")
        outcome.results.append(
            {
                "from": {"id": from_id},
                "to": {"id": to_id},
                "associationSpec": {
                    "associationCategory": "HUBSPOT_DEFINED",
                    "associationTypeId": DEFAULT_TYPE[(from_type, to_type)],
                },
            }
        )
    return outcome


def create_labelled(
    index: AssociationIndex, exists: Exists, from_type: str, to_type: str, body: Any
) -> BatchOutcome:
    outcome = BatchOutcome()
    allowed = TYPES[(from_type, to_type)]
    for item in _inputs(body, "BatchInputPublicAssociationMultiPost", MAX_CREATE):
        if not isinstance(item, dict):
            raise invalid_json("Cannot deserialize value of type `PublicAssociationMultiPost`")
        from_id = _object_id(item.get("from"), "PublicAssociationMultiPost", "from")
        to_id = _object_id(item.get("to"), "PublicAssociationMultiPost", "to")
        types = item.get("types")
        if not isinstance(types, list):
            raise missing_attributes("PublicAssociationMultiPost", ["types"])
        kinds: list[str] = []
        bad: list[str] = []
        for spec in types:
            if not isinstance(spec, dict):
                raise invalid_json("Cannot deserialize value of type `AssociationSpec`")
            type_id, category = spec.get("associationTypeId"), spec.get("associationCategory")
            if (
                isinstance(type_id, bool)
                or not isinstance(type_id, int)
                or type_id not in allowed
                or category != "HUBSPOT_DEFINED"
            ):
                bad.append(f"{category}:{type_id}")
                continue
            kinds.append("default" if allowed[type_id] is None else "primary")
        error = _missing(exists, from_type, to_type, from_id, to_id)
        if error is None and (bad or not kinds):
            error = standard_error(
                f"Invalid association type(s) {bad} from {from_type} to {to_type}.",
                "VALIDATION_ERROR",
                {"types": bad},
            )
        if error:
            outcome.errors.append(error)
            continue
        for kind in kinds:
            index.add(from_type, from_id, to_type, to_id, kind)
        labels = [
            label
            for label in allowed.values()
            if label is not None and "primary" in index.kinds(from_type, from_id, to_type, to_id)
        ]
        outcome.results.append(
            {
                "fromObjectTypeId": OBJECT_TYPE_IDS[from_type],
                "fromObjectId": from_id,
                "toObjectTypeId": OBJECT_TYPE_IDS[to_type],
                "toObjectId": to_id,
                "labels": labels,
            }
        )
    return outcome


def archive(index: AssociationIndex, from_type: str, to_type: str, body: Any) -> None:
    for item in _inputs(body, "BatchInputPublicAssociationMultiArchive", MAX_ARCHIVE):
        if not isinstance(item, dict):
            raise invalid_json("Cannot deserialize value of type `PublicAssociationMultiArchive`")
        from_id = _object_id(item.get("from"), "PublicAssociationMultiArchive", "from")
        targets = item.get("to")
        if not isinstance(targets, list):
            raise missing_attributes("PublicAssociationMultiArchive", ["to"])
        for target in targets:
            to_id = _object_id(target, "PublicAssociationMultiArchive", "to")
            index.remove(from_type, from_id, to_type, to_id)


def _page(ids: list[str], after: Any, limit: int) -> tuple[list[str], str | None]:
    try:
        start = int(after) if after not in (None, "") else 0
    except (TypeError, ValueError, OverflowError):
        raise ApiError(400, f"Invalid paging cursor 'after': {after}") from None
    if start < 0:
        raise ApiError(400, f"Invalid paging cursor 'after': {after}")
    chunk = ids[start : start + limit]
    return chunk, (str(start + limit) if start + limit < len(ids) else None)


def read(
    index: AssociationIndex, exists: Exists, from_type: str, to_type: str, body: Any
) -> BatchOutcome:
    outcome = BatchOutcome()
    for item in _inputs(body, "BatchInputPublicFetchAssociationsBatchRequest", MAX_READ):
        from_id = _object_id(item, "PublicFetchAssociationsBatchRequest", "id")
        after = item.get("after") if isinstance(item, dict) else None
        linked = [i for i in index.neighbors(from_type, from_id, to_type) if exists(to_type, i)]
        if not exists(from_type, from_id) or not linked:
            outcome.errors.append(
                standard_error(
                    f"No {to_type} are associated with {SINGULAR[from_type]} {from_id}.",
                    "OBJECT_NOT_FOUND",
                    {"fromObjectId": [from_id]},
                )
            )
            continue
        chunk, next_after = _page(linked, after, PAGE_SIZE)
        result: JSON = {
            "from": {"id": from_id},
            "to": [
                {
                    "toObjectId": to_id,
                    "associationTypes": _type_specs(
                        from_type, to_type, index.kinds(from_type, from_id, to_type, to_id)
                    ),
                }
                for to_id in chunk
            ],
        }
        if next_after is not None:
            result["paging"] = {"next": {"after": next_after}}
        outcome.results.append(result)
    return outcome


def list_for(
    index: AssociationIndex,
    exists: Exists,
    from_type: str,
    from_id: str,
    to_type: str,
    after: str | None,
    limit_raw: str | None,
) -> JSON:
    try:
        limit = int(limit_raw) if limit_raw else PAGE_SIZE
    except (ValueError, OverflowError):
        raise ApiError(400, f"Invalid limit: {limit_raw}") from None
    if not 1 <= limit <= PAGE_SIZE:
        raise ApiError(400, f"limit must be between 1 and {PAGE_SIZE}")
    linked = (
        [i for i in index.neighbors(from_type, from_id, to_type) if exists(to_type, i)]
        if exists(from_type, from_id)
        else []
    )
    chunk, next_after = _page(linked, after, limit)
    out: JSON = {
        "results": [
            {
                "toObjectId": to_id,
                "associationTypes": _type_specs(
                    from_type, to_type, index.kinds(from_type, from_id, to_type, to_id)
                ),
            }
            for to_id in chunk
        ]
    }
    if next_after is not None:
        out["paging"] = {
            "next": {"after": next_after, "link": f"?after={next_after}&limit={limit}"}
        }
    return out
