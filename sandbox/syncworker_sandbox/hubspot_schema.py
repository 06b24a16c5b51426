"""Property definitions of the HubSpot sandbox: seeds, definition checks, value checks."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from syncworker_sandbox.hubspot_common import (
    JSON,
    ApiError,
    Problem,
    invalid_json,
    iso_ms,
    midnight_note,
    missing_attributes,
    parse_date_value,
    parse_datetime_ms,
)
from syncworker_sandbox.hubspot_seeds import options_of

PROPERTY_TYPES = ("bool", "date", "datetime", "enumeration", "number", "phone_number", "string")
FIELD_TYPES = (
    "booleancheckbox",
    "calculation_equation",
    "checkbox",
    "date",
    "file",
    "html",
    "number",
    "phonenumber",
    "radio",
    "select",
    "text",
    "textarea",
)
# Which fieldType goes with which type (HubSpot's properties guide).
ALLOWED_FIELD_TYPES: dict[str, frozenset[str]] = {
    "bool": frozenset({"booleancheckbox", "calculation_equation"}),
    "enumeration": frozenset(
        {"booleancheckbox", "checkbox", "radio", "select", "calculation_equation"}
    ),
    "date": frozenset({"date"}),
    "datetime": frozenset({"date"}),
    "number": frozenset({"number", "calculation_equation"}),
    "phone_number": frozenset({"phonenumber"}),
    "string": frozenset({"text", "textarea", "file", "html", "phonenumber"}),
}
MAX_UNIQUE_PROPERTIES = 10
_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,99}$")

_CREATE_KEYS = frozenset(
    {
        "name",
        "label",
        "type",
        "fieldType",
        "groupName",
        "description",
        "options",
        "displayOrder",
        "hasUniqueValue",
        "hidden",
        "formField",
        "calculationFormula",
        "currencyPropertyName",
        "dataSensitivity",
        "externalOptions",
        "numberDisplayHint",
        "referencedObjectType",
        "showCurrencySymbol",
        "textDisplayHint",
    }
)
_UPDATE_KEYS = _CREATE_KEYS - {
    "name",
    "hasUniqueValue",
    "dataSensitivity",
    "externalOptions",
    "referencedObjectType",
}


# ---------------------------------------------------------------- definitions


def _need_str(body: JSON, key: str) -> str | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise invalid_json(f"Cannot deserialize value of type `java.lang.String` for '{key}'")
    return value


def _check_types(type_: Any, field_type: Any) -> None:
    if type_ not in PROPERTY_TYPES:
        raise invalid_json(
            f"Cannot deserialize value of type `PropertyType` from String "
            f'"{type_}": not one of the values accepted for Enum class: '
            f"[{', '.join(PROPERTY_TYPES)}]"
        )
    if field_type not in FIELD_TYPES:
        raise invalid_json(
            f"Cannot deserialize value of type `FieldType` from String "
            f'"{field_type}": not one of the values accepted for Enum class: '
            f"[{', '.join(FIELD_TYPES)}]"
        )
    if field_type not in ALLOWED_FIELD_TYPES[type_]:
        raise ApiError(
            400,
            f"Property type {type_} is not compatible with field type "
            f"{field_type}. Allowed field types: "
            f"{sorted(ALLOWED_FIELD_TYPES[type_])}",
        )


def _check_options(raw: Any) -> list[JSON]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise invalid_json("Cannot deserialize value of type `java.util.ArrayList` for 'options'")
    options: list[JSON] = []
    seen: set[str] = set()
    for i, item in enumerate(raw):
        if not isinstance(item, dict):
            raise invalid_json("Cannot deserialize value of type `OptionInput`")
        missing = [k for k in ("label", "value") if not isinstance(item.get(k), str)]
        if missing:
            raise missing_attributes("OptionInput", missing)
        value = item["value"]
        if value in seen:
            raise ApiError(400, f"Duplicate option value '{value}'")
        seen.add(value)
        order = item.get("displayOrder", i)
        options.append(
            {
                "label": item["label"],
                "value": value,
                "displayOrder": order if isinstance(order, int) else i,
                "hidden": bool(item.get("hidden", False)),
                "description": str(item.get("description", "")),
            }
        )
    return options


def build_property(body: Any, groups: dict[str, JSON], now: float) -> JSON:
    """Validate a PropertyCreate body and return the stored definition."""
    if not isinstance(body, dict):
        raise invalid_json("Cannot deserialize value of type `PropertyCreate`")
    missing = [
        k for k in ("name", "label", "type", "fieldType", "groupName") if _need_str(body, k) is None
    ]
    if missing:
        raise missing_attributes("PropertyCreate", missing)
    unknown = sorted(set(body) - _CREATE_KEYS)
    if unknown:
        raise invalid_json(
            f'Unrecognized field "{unknown[0]}" (class PropertyCreate), not marked as ignorable'
        )
    name = body["name"]
    if not _NAME_RE.match(name):
        raise ApiError(
            400,
            f"Property name '{name}' is invalid: use lowercase letters, digits "
            "and underscores, starting with a letter",
        )
    _check_types(body["type"], body["fieldType"])
    if body["groupName"] not in groups:
        raise ApiError(
            400,
            f"Property group {body['groupName']} does not exist.",
            context={"groupName": [body["groupName"]]},
        )
    options = _check_options(body.get("options"))
    if body["type"] == "enumeration" and not options:
        raise ApiError(400, f"Enumeration property {name} requires at least one option")
    if body["type"] == "bool" and not options:
        options = options_of(("true", "Yes"), ("false", "No"))
    stamp = iso_ms(now)
    return {
        "name": name,
        "label": body["label"],
        "type": body["type"],
        "fieldType": body["fieldType"],
        "description": str(body.get("description") or ""),
        "groupName": body["groupName"],
        "options": options,
        "displayOrder": body.get("displayOrder", -1)
        if isinstance(body.get("displayOrder"), int)
        else -1,
        "calculated": False,
        "externalOptions": bool(body.get("externalOptions", False)),
        "hasUniqueValue": bool(body.get("hasUniqueValue", False)),
        "hidden": bool(body.get("hidden", False)),
        "hubspotDefined": False,
        "modificationMetadata": {
            "archivable": True,
            "readOnlyDefinition": False,
            "readOnlyValue": False,
            "readOnlyOptions": False,
        },
        "formField": bool(body.get("formField", False)),
        "dataSensitivity": body.get("dataSensitivity") or "non_sensitive",
        "createdAt": stamp,
        "updatedAt": stamp,
        "archived": False,
    }


def patch_property(current: JSON, body: Any, groups: dict[str, JSON], now: float) -> JSON:
    """Apply a PropertyUpdate body to ``current`` and return the new definition."""
    if not isinstance(body, dict):
        raise invalid_json("Cannot deserialize value of type `PropertyUpdate`")
    if "hasUniqueValue" in body and body["hasUniqueValue"] != current["hasUniqueValue"]:
        raise ApiError(
            400,
            f"hasUniqueValue of property {current['name']} cannot be changed after it is created.",
        )
    unknown = sorted(set(body) - _UPDATE_KEYS - {"hasUniqueValue", "name"})
    if unknown:
        raise invalid_json(
            f'Unrecognized field "{unknown[0]}" (class PropertyUpdate), not marked as ignorable'
        )
    if "name" in body and body["name"] != current["name"]:
        raise ApiError(400, "The name of a property cannot be changed.")
    if current["modificationMetadata"]["readOnlyDefinition"]:
        raise ApiError(
            400,
            f"Property {current['name']} is a HubSpot-defined property whose "
            "definition cannot be modified.",
            category="READ_ONLY",
        )
    updated = dict(current)
    for key in ("label", "description", "groupName", "type", "fieldType"):
        value = _need_str(body, key)
        if value is not None:
            updated[key] = value
    for key in ("hidden", "formField"):
        if key in body:
            updated[key] = bool(body[key])
    if isinstance(body.get("displayOrder"), int):
        updated["displayOrder"] = body["displayOrder"]
    _check_types(updated["type"], updated["fieldType"])
    if updated["groupName"] not in groups:
        raise ApiError(
            400,
            f"Property group {updated['groupName']} does not exist.",
            context={"groupName": [updated["groupName"]]},
        )
    if "options" in body:
        updated["options"] = _check_options(body["options"])
    if updated["type"] == "enumeration" and not updated["options"]:
        raise ApiError(400, f"Enumeration property {current['name']} requires at least one option")
    updated["updatedAt"] = iso_ms(now)
    return updated


def build_group(body: Any) -> JSON:
    if not isinstance(body, dict):
        raise invalid_json("Cannot deserialize value of type `PropertyGroupCreate`")
    missing = [k for k in ("name", "label") if _need_str(body, k) is None]
    if missing:
        raise missing_attributes("PropertyGroupCreate", missing)
    if not _NAME_RE.match(body["name"]):
        raise ApiError(400, f"Property group name '{body['name']}' is invalid")
    order = body.get("displayOrder", -1)
    return {
        "name": body["name"],
        "label": body["label"],
        "displayOrder": order if isinstance(order, int) else -1,
        "archived": False,
    }


# ---------------------------------------------------------------------- values

_EMAIL_RE = re.compile(
    r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*"
    r"\.[A-Za-z]{2,63}$"
)
_NUMBER_RE = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")


def is_valid_email(value: str) -> bool:
    return len(value) <= 254 and _EMAIL_RE.match(value) is not None


def coerce_value(raw: Any) -> str | None:
    """A JSON property value as HubSpot reads it (strings; numbers and booleans coerced)."""
    if raw is None:
        return ""
    if isinstance(raw, bool):
        return "true" if raw else "false"
    if isinstance(raw, int | float):
        return repr(raw) if isinstance(raw, float) else str(raw)
    if isinstance(raw, str):
        return raw
    return None


def check_value(object_type: str, definition: JSON, value: str) -> tuple[str, Problem | None]:
    """Validate one value against its definition: (normalized value, problem or None).

    The empty string always passes: it clears the property.
    """
    name = definition["name"]
    if value == "":
        return "", None
    type_ = definition["type"]
    if object_type == "contacts" and name == "email":
        if not is_valid_email(value):
            return value, Problem(name, "INVALID_EMAIL", f"Email address {value} is invalid")
        return value.lower(), None
    if type_ in ("string", "phone_number"):
        return value, None
    if value != value.strip():
        return value, Problem(
            name,
            "LEADING_TRAILING_WHITESPACE",
            f'"{value}" includes leading or trailing whitespace.',
        )
    if type_ == "bool":
        if value not in ("true", "false"):
            return value, Problem(
                name, "INVALID_BOOLEAN", f"{value} is not a valid boolean value; use true or false."
            )
        return value, None
    if type_ == "number":
        try:
            ok = bool(_NUMBER_RE.match(value)) and Decimal(value).is_finite()
        except InvalidOperation:
            ok = False
        if not ok:
            return value, Problem(name, "INVALID_INTEGER", f"{value} was not a valid number.")
        return value, None
    if type_ == "date":
        normal = parse_date_value(value)
        if normal is None:
            detail = (
                midnight_note(value)
                if value.lstrip("-").isdigit()
                else f"{value} was not a valid date; use YYYY-MM-DD or a midnight UTC "
                "timestamp in milliseconds."
            )
            return value, Problem(name, "INVALID_DATE", detail)
        return normal, None
    if type_ == "datetime":
        millis = parse_datetime_ms(value)
        if millis is not None:
            try:
                return iso_ms(millis / 1000), None
            except (OverflowError, OSError, ValueError):
                pass
        return value, Problem(
            name,
            "INVALID_DATE",
            f"{value} was not a valid date-time; use ISO 8601 or a timestamp in milliseconds.",
        )
    # enumeration
    allowed = [o["value"] for o in definition["options"]]
    chosen = value.split(";") if definition["fieldType"] == "checkbox" else [value]
    for item in chosen:
        if item not in allowed:
            return value, Problem(
                name,
                "INVALID_OPTION",
                f"{item} was not one of the allowed options: [{', '.join(allowed)}]",
            )
    return value, None
