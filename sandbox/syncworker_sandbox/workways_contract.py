"""POST /api/merge-contract for the Workways sandbox: validate the body, then apply it.

Validation happens entirely before anything changes, so a refused request leaves the
organization untouched. What the sandbox does where the spec is silent:

* ``rentalPrice`` sets ``basePrice`` to the number found in the string ("1500€" -> 1500,
  "1 500,50 €" -> 1500.5; no number -> null). A bare JSON number is accepted too.
* ``rentalStartAt``/``rentalEndAt`` must be YYYY-MM-DD; ``""`` or null clear the date.
* ``rentalComment``/``rentalUrl`` are stored and shown as extra organization-info fields.
* Lists apply in this order: full replacement (``contractOptions``/``rooms``), then
  removals, then additions. Replacement renumbers option ids 1..n; additions take the
  next free ids. Unique option keys (parking, ...) may appear once per organization.
* Options need an ``optionModelId`` (ObjectId) and a known ``key``; a ``price`` or
  ``pricePromo`` of -1 (or absent) means the default rate, shown as null.
* Room ids must be ObjectIds of rooms that exist (``Room not found`` otherwise). A new
  allocation takes the room's name, site and price and the organization's end date;
  the principal site is recomputed (site with most allocated rooms).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from collections.abc import Callable
from typing import Any

from syncworker_sandbox.population import OBJECT_ID, JsonDict
from syncworker_sandbox.population_data import OPTION_CATALOG, OPTION_KEYS, UNIQUE_OPTION_KEYS
from syncworker_sandbox.workways_store import ApiError

DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}\Z")
DIGITS = re.compile(r"^[0-9]{1,9}\Z")
NUMBER_IN_TEXT = re.compile(r"[0-9][0-9\s\u00a0\u202f.,']*")
OPTION_NAMES = {key: name for key, name, _ in OPTION_CATALOG}
_UNSET = object()


def parse_price(text: str) -> int | float | None:
    """The amount in a free-form price: "1500€", "1 500,50 €", "€1,500.00", "1.500"."""
    match = NUMBER_IN_TEXT.search(text)
    if match is None:
        return None
    raw = re.sub(r"[\s\u00a0\u202f']", "", match.group()).rstrip(".,")
    if "," in raw and "." in raw:
        decimal = "," if raw.rfind(",") > raw.rfind(".") else "."
        raw = raw.replace("." if decimal == "," else ",", "").replace(decimal, ".")
    elif "," in raw or "." in raw:
        parts = raw.split("," if "," in raw else ".")
        raw = f"{parts[0]}.{parts[1]}" if len(parts) == 2 and len(parts[1]) != 3 else "".join(parts)
    value = float(raw)
    if not math.isfinite(value):
        return None
    return int(value) if value.is_integer() else value


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _date(value: Any, name: str, *, empty: str | None = None) -> str | None:
    if value is None or value == "":
        return empty
    if isinstance(value, str) and DATE.match(value):
        try:
            dt.date.fromisoformat(value)
            return value
        except ValueError:
            pass
    raise ApiError(400, f"Invalid {name} format. Use YYYY-MM-DD")


def _text(body: JsonDict, name: str) -> Any:
    value = body.get(name, _UNSET)
    if value is _UNSET or value is None or isinstance(value, str):
        return value
    raise ApiError(400, f"Invalid {name} value. Use a string")


def _renewal(value: Any) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, str) and DIGITS.match(value.strip()):
        return int(value)
    if _is_number(value) and float(value).is_integer() and value >= 0:
        return int(value)
    raise ApiError(400, "Invalid rentalRenewal value. Use a number of months")


def _price(value: Any, name: str) -> int | float | None:
    if value is None or value == -1:
        return None
    if _is_number(value) and value >= 0:
        return int(value) if float(value).is_integer() else float(value)
    raise ApiError(400, f"Invalid contract option {name}. Use a number (-1 for the default rate)")


def _option(raw: Any, field: str, today: dt.date) -> JsonDict:
    if not isinstance(raw, dict):
        raise ApiError(400, f"Invalid {field}: each option must be an object")
    model = raw.get("optionModelId")
    if not isinstance(model, str) or not OBJECT_ID.match(model):
        raise ApiError(400, f"Invalid {field}: optionModelId is required (MongoDB ObjectId)")
    key = raw.get("key")
    if key not in OPTION_KEYS:
        raise ApiError(400, f"Invalid contract option key: {json.dumps(key, ensure_ascii=False)}")
    name = raw.get("name")
    quantity = raw.get("quantity", 1)
    if not _is_number(quantity) or quantity < 0 or not float(quantity).is_integer():
        raise ApiError(400, "Invalid contract option quantity. Use a whole number")
    return {
        "name": name if isinstance(name, str) and name else OPTION_NAMES.get(key, key),
        "key": key,
        "quantity": int(quantity),
        "price": _price(raw.get("price"), "price"),
        "pricePromo": _price(raw.get("pricePromo"), "pricePromo"),
        "startDate": _date(raw.get("startAt"), "startAt", empty=today.isoformat()),
        "endDate": _date(raw.get("endAt"), "endAt", empty=""),
    }


def _list(body: JsonDict, field: str, what: str) -> list[Any] | None:
    value = body.get(field)
    if value is None:
        return None
    if not isinstance(value, list):
        raise ApiError(400, f"Invalid {field}: use a list of {what}")
    return value


def _room_ids(body: JsonDict, field: str, rooms: dict[str, JsonDict]) -> list[str] | None:
    values = _list(body, field, "room IDs")
    if values is None:
        return None
    for value in values:
        if not isinstance(value, str) or not OBJECT_ID.match(value):
            raise ApiError(400, "Invalid room ID format")
        if value.lower() not in rooms:
            raise ApiError(404, "Room not found")
    return [v.lower() for v in values]


def _option_ids(body: JsonDict) -> set[int] | None:
    values = _list(body, "contractOptionsToRemove", "option IDs")
    if values is None:
        return None
    ids = set()
    for value in values:
        if (isinstance(value, str) and DIGITS.match(value.strip())) or (
            _is_number(value) and float(value).is_integer()
        ):
            ids.add(int(value))
        else:
            raise ApiError(400, "Invalid contractOptionsToRemove: use a list of option IDs")
    return ids


def build_merge(
    body: JsonDict, rooms: dict[str, JsonDict], today: dt.date
) -> tuple[str, Callable[[JsonDict], None]]:
    """Validate a merge-contract body; return the organization id and the change to apply."""
    org_id = body.get("organizationId")
    if org_id is None or org_id == "":
        raise ApiError(400, "Missing required parameter: organizationId")
    if not isinstance(org_id, str) or not OBJECT_ID.match(org_id):
        raise ApiError(400, "Invalid organizationId format")

    scalars: JsonDict = {}
    if "rentalPrice" in body:
        price = body["rentalPrice"]
        if isinstance(price, str):
            scalars["basePrice"] = parse_price(price)
        elif price is None or _is_number(price):
            scalars["basePrice"] = price
        else:
            raise ApiError(400, 'Invalid rentalPrice value. Use a string such as "1500€"')
    if "rentalStartAt" in body:
        scalars["contractStartDate"] = _date(body["rentalStartAt"], "rentalStartAt")
    if "rentalEndAt" in body:
        scalars["contractEndDate"] = _date(body["rentalEndAt"], "rentalEndAt")
    if "rentalRenewal" in body:
        scalars["renewalMonths"] = _renewal(body["rentalRenewal"])
    for name in ("rentalComment", "rentalUrl"):
        value = _text(body, name)
        if value is not _UNSET:
            scalars[name] = value

    replace_options = _list(body, "contractOptions", "options")
    replacement = None
    if replace_options is not None:
        replacement = [_option(o, "contractOptions", today) for o in replace_options]
    to_remove = _option_ids(body)
    added = [
        _option(o, "contractOptionsToAdd", today)
        for o in _list(body, "contractOptionsToAdd", "options") or []
    ]
    replace_rooms = _room_ids(body, "rooms", rooms)
    rooms_to_remove = set(_room_ids(body, "roomsToRemove", rooms) or [])
    rooms_to_add = _room_ids(body, "roomsToAdd", rooms) or []

    def apply(org: JsonDict) -> None:
        org.update(scalars)
        options = org["contractOptions"]
        if replacement is not None:
            options = [{"id": n, **o} for n, o in enumerate(replacement, start=1)]
        if to_remove:
            options = [o for o in options if o.get("id") not in to_remove]
        next_id = max((o["id"] for o in options if _is_number(o.get("id"))), default=0) + 1
        for n, option in enumerate(added):
            options.append({"id": next_id + n, **option})
        keys = [o.get("key") for o in options]
        for key in UNIQUE_OPTION_KEYS:
            if keys.count(key) > 1:
                raise ApiError(
                    400, f'Contract option "{key}" can only be subscribed once per organization'
                )
        org["contractOptions"] = options

        allocated: list[JsonDict] = org["allocatedRooms"]
        if replace_rooms is not None:
            kept = {r["_id"]: r for r in allocated}
            allocated = [kept.get(rid) or _allocation(rooms[rid], org) for rid in replace_rooms]
        allocated = [r for r in allocated if r["_id"] not in rooms_to_remove]
        for rid in rooms_to_add:
            if all(r["_id"] != rid for r in allocated):
                allocated.append(_allocation(rooms[rid], org))
        org["allocatedRooms"] = _dedupe(allocated)

    return org_id, apply


def _allocation(room: JsonDict, org: JsonDict) -> JsonDict:
    return {
        "_id": room["_id"],
        "name": room["name"],
        "contractEndDate": org.get("contractEndDate") or "",
        "price": room["price"],
        "siteId": room["siteId"],
    }


def _dedupe(rooms: list[JsonDict]) -> list[JsonDict]:
    seen: set[str] = set()
    unique = []
    for room in rooms:
        if room["_id"] not in seen:
            seen.add(room["_id"])
            unique.append(room)
    return unique
