"""CRM search (POST /crm/v3/objects/{type}/search) of the HubSpot sandbox.

Faithful to HubSpot's documented limits: pages of at most 200, no paging past
10,000 results, request bodies of at most 3,000 characters, at most 5 filter
groups of 6 filters (18 in all), one sort. Archived records never show, and a
record is searched in the state it had ``search_index_lag_seconds`` ago.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any

from syncworker_sandbox.hubspot_common import (
    DEFAULT_PROPS,
    JSON,
    ApiError,
    always_props,
    invalid_json,
    iso_ms,
    parse_datetime_ms,
)
from syncworker_sandbox.hubspot_store import HubSpotStore, Record

MAX_LIMIT = 200
DEFAULT_LIMIT = 10
RESULT_CAP = 10_000
MAX_BODY_CHARS = 3000
MAX_GROUPS = 5
MAX_FILTERS_PER_GROUP = 6
MAX_FILTERS = 18
OPERATORS = frozenset(
    {
        "EQ",
        "NEQ",
        "LT",
        "LTE",
        "GT",
        "GTE",
        "BETWEEN",
        "IN",
        "NOT_IN",
        "HAS_PROPERTY",
        "NOT_HAS_PROPERTY",
        "CONTAINS_TOKEN",
        "NOT_CONTAINS_TOKEN",
    }
)
_QUERY_PROPS = {
    "contacts": ("firstname", "lastname", "email", "phone", "company", "website"),
    "companies": ("name", "domain", "website", "phone"),
    "deals": ("dealname", "pipeline", "dealstage", "description", "dealtype"),
}
_TOKEN_SPLIT = re.compile(r"[\s,;]+")

Key = Callable[[str], Any]
Snapshot = tuple[Record, dict[str, str], float]


def _key_for(definition: JSON) -> Key:
    """A function turning a stored or filter value into something comparable."""
    type_ = definition["type"]
    if type_ == "number":

        def number(value: str) -> Any:
            try:
                parsed = Decimal(value)
            except InvalidOperation:
                raise ValueError(value) from None
            if not parsed.is_finite():
                raise ValueError(value)
            return parsed

        return number
    if type_ in ("date", "datetime"):

        def moment(value: str) -> Any:
            millis = parse_datetime_ms(value)
            if millis is None:
                raise ValueError(value)
            return millis

        return moment
    return lambda value: value.lower()


def _token_match(pattern: str, value: str) -> bool:
    pattern = pattern.lower()
    tokens = [t for t in _TOKEN_SPLIT.split(value.lower()) if t] + [value.lower()]
    return any(fnmatch.fnmatchcase(t, pattern) for t in tokens)


def _matcher(defs: dict[str, JSON], raw: Any) -> Callable[[dict[str, str]], bool]:
    if not isinstance(raw, dict):
        raise invalid_json("Cannot deserialize value of type `Filter` from non-object")
    missing = [k for k in ("propertyName", "operator") if not isinstance(raw.get(k), str)]
    if missing:
        raise invalid_json(
            f"Cannot build Filter, some of required attributes are not set [{', '.join(missing)}]"
        )
    name, operator = raw["propertyName"], raw["operator"]
    if operator not in OPERATORS:
        raise invalid_json(
            f"Cannot deserialize value of type `FilterOperatorEnum` from String "
            f'"{operator}": not one of the values accepted for Enum class'
        )
    definition = defs.get(name)
    if definition is None:
        raise ApiError(
            400,
            f"There was a problem with the request: property {name} does not exist.",
            context={"propertyName": [name]},
        )
    if operator == "HAS_PROPERTY":
        return lambda props: props.get(name, "") != ""
    if operator == "NOT_HAS_PROPERTY":
        return lambda props: props.get(name, "") == ""
    key = _key_for(definition)

    def typed(value: Any, field: str) -> Any:
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise ApiError(
                400,
                f"Filter on {name} with operator {operator} requires '{field}'.",
                context={"propertyName": [name]},
            )
        try:
            return key(str(value))
        except ValueError:
            raise ApiError(
                400,
                f"Invalid filter value '{value}' for property {name} of type {definition['type']}.",
                context={"propertyName": [name]},
            ) from None

    def stored(props: dict[str, str]) -> Any:
        value = props.get(name, "")
        if value == "":
            return None
        try:
            return key(value)
        except ValueError:
            return None

    if operator in ("CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"):
        pattern = raw.get("value")
        if not isinstance(pattern, str) or not pattern:
            raise ApiError(400, f"Filter on {name} with operator {operator} requires 'value'.")
        negate = operator == "NOT_CONTAINS_TOKEN"
        return lambda props: _token_match(pattern, props.get(name, "")) != negate
    if operator in ("IN", "NOT_IN"):
        values = raw.get("values")
        if not isinstance(values, list) or not values:
            raise ApiError(400, f"Filter on {name} with operator {operator} requires 'values'.")
        wanted = [typed(v, "values") for v in values]
        if operator == "IN":
            return lambda props: stored(props) in wanted
        return lambda props: stored(props) not in wanted
    low = typed(raw.get("value"), "value")
    if operator == "BETWEEN":
        high = typed(raw.get("highValue"), "highValue")
        return lambda props: (v := stored(props)) is not None and low <= v <= high
    compare: dict[str, Callable[[Any], bool]] = {
        "EQ": lambda v: v == low,
        "NEQ": lambda v: v != low,
        "LT": lambda v: v < low,
        "LTE": lambda v: v <= low,
        "GT": lambda v: v > low,
        "GTE": lambda v: v >= low,
    }
    test = compare[operator]
    if operator == "NEQ":
        return lambda props: (v := stored(props)) is None or test(v)
    return lambda props: (v := stored(props)) is not None and test(v)


def _groups(defs: dict[str, JSON], raw: Any) -> list[list[Callable[[dict[str, str]], bool]]]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise invalid_json(
            "Cannot deserialize value of type `java.util.ArrayList` for 'filterGroups'"
        )
    if len(raw) > MAX_GROUPS:
        raise ApiError(400, f"Too many filter groups: {len(raw)}; the maximum is {MAX_GROUPS}.")
    groups: list[list[Callable[[dict[str, str]], bool]]] = []
    total = 0
    for group in raw:
        filters = group.get("filters") if isinstance(group, dict) else None
        if not isinstance(filters, list):
            raise invalid_json(
                "Cannot build FilterGroup, some of required attributes are not set [filters]"
            )
        if len(filters) > MAX_FILTERS_PER_GROUP:
            raise ApiError(
                400,
                f"Too many filters in a group: {len(filters)}; the maximum is "
                f"{MAX_FILTERS_PER_GROUP}.",
            )
        total += len(filters)
        groups.append([_matcher(defs, f) for f in filters])
    if total > MAX_FILTERS:
        raise ApiError(400, f"Too many filters: {total}; the maximum is {MAX_FILTERS}.")
    return groups


def _sort(defs: dict[str, JSON], raw: Any) -> tuple[str, bool] | None:
    if raw is None or raw == []:
        return None
    if not isinstance(raw, list):
        raise invalid_json("Cannot deserialize value of type `java.util.ArrayList` for 'sorts'")
    if len(raw) > 1:
        raise ApiError(400, "Only one sort is supported per search request.")
    item = raw[0]
    if isinstance(item, str):
        name, descending = item.removeprefix("-"), item.startswith("-")
    elif isinstance(item, dict) and isinstance(item.get("propertyName"), str):
        direction = item.get("direction", "ASCENDING")
        if direction not in ("ASCENDING", "DESCENDING"):
            raise invalid_json(f'Invalid sort direction "{direction}"')
        name, descending = item["propertyName"], direction == "DESCENDING"
    else:
        raise invalid_json("Cannot deserialize value of type `Sort`")
    if name not in defs:
        raise ApiError(
            400,
            f"There was a problem with the request: cannot sort by property "
            f"{name}, it does not exist.",
            context={"propertyName": [name]},
        )
    return name, descending


def _int(raw: Any, field: str, default: int) -> int:
    if raw is None or raw == "":
        return default
    if isinstance(raw, bool):
        raise invalid_json(f"Cannot deserialize value of type `int` for '{field}'")
    try:
        return int(raw)
    except (TypeError, ValueError, OverflowError):
        raise invalid_json(
            f"Cannot deserialize value of type `int` from \"{raw}\" for '{field}'"
        ) from None


def visible(record: Record, now: float, lag: float) -> tuple[dict[str, str], float] | None:
    if record.archived:
        return None
    for written, snapshot in reversed(record.versions):
        if written <= now - lag:
            return snapshot, written
    return None


def search(store: HubSpotStore, object_type: str, body: Any, body_chars: int) -> JSON:
    """Run one search request; the caller holds ``store.lock``."""
    if body_chars > MAX_BODY_CHARS:
        raise ApiError(
            400,
            f"The search request body is {body_chars} characters long; the "
            f"maximum is {MAX_BODY_CHARS}.",
            context={"limit": [str(MAX_BODY_CHARS)]},
        )
    if not isinstance(body, dict):
        raise invalid_json("Cannot deserialize value of type `PublicObjectSearchRequest`")
    defs = store.props[object_type]
    limit = _int(body.get("limit"), "limit", DEFAULT_LIMIT)
    if limit < 0 or limit > MAX_LIMIT:
        raise ApiError(
            400,
            f"limit must be between 0 and {MAX_LIMIT}, got {limit}.",
            context={"limit": [str(limit)]},
        )
    after = _int(body.get("after"), "after", 0)
    if after < 0:
        raise ApiError(400, f"Invalid paging cursor 'after': {after}")
    if after >= RESULT_CAP:
        raise ApiError(
            400,
            f"The search API cannot page past {RESULT_CAP} results "
            f"(after={after}). Narrow the query instead.",
            context={"after": [str(after)], "limit": [str(RESULT_CAP)]},
        )
    groups = _groups(defs, body.get("filterGroups"))
    order = _sort(defs, body.get("sorts"))
    names = body.get("properties")
    if names is not None and (
        not isinstance(names, list) or not all(isinstance(n, str) for n in names)
    ):
        raise invalid_json(
            "Cannot deserialize value of type `java.util.ArrayList` for 'properties'"
        )
    query = body.get("query")
    if query is not None and not isinstance(query, str):
        raise invalid_json("Cannot deserialize value of type `java.lang.String` for 'query'")

    now, lag = store.clock(), store.search_index_lag_seconds
    hits: list[Snapshot] = []
    for record in store.records[object_type].values():
        seen = visible(record, now, lag)
        if seen is None:
            continue
        props = seen[0]
        if groups and not any(all(test(props) for test in group) for group in groups):
            continue
        if query and not any(
            query.lower() in props.get(p, "").lower() for p in _QUERY_PROPS[object_type]
        ):
            continue
        hits.append((record, props, seen[1]))
    hits.sort(key=lambda h: int(h[0].id))
    if order is not None:
        name, descending = order
        key = _key_for(defs[name])

        def sort_key(hit: Snapshot) -> tuple[bool, Any]:
            value = hit[1].get(name, "")
            try:
                return (value == "", key(value) if value else 0)
            except ValueError:
                return (True, 0)

        present = [h for h in hits if not sort_key(h)[0]]
        absent = [h for h in hits if sort_key(h)[0]]
        present.sort(key=sort_key, reverse=descending)
        hits = present + absent

    wanted = list(names) if names else list(DEFAULT_PROPS[object_type])
    wanted += [n for n in always_props(object_type) if n not in wanted]
    page = hits[after : min(after + limit, RESULT_CAP)]
    results = [
        {
            "id": record.id,
            "properties": {n: props.get(n) for n in wanted if n in defs},
            "createdAt": iso_ms(record.created),
            "updatedAt": iso_ms(written),
            "archived": False,
        }
        for record, props, written in page
    ]
    out: JSON = {"total": len(hits), "results": results}
    if after + limit < len(hits) and limit > 0:
        out["paging"] = {"next": {"after": str(after + limit)}}
    return out
