"""Shared pieces of the HubSpot sandbox: object types, errors, time formats.

Everything here mirrors HubSpot's public API (crm v3 objects/properties,
v4 associations) closely enough that a client cannot tell the difference on
the paths it uses.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

JSON = dict[str, Any]

OBJECT_TYPE_IDS: dict[str, str] = {"contacts": "0-1", "companies": "0-2", "deals": "0-3"}
_TYPE_ALIASES: dict[str, str] = {
    "contacts": "contacts",
    "contact": "contacts",
    "0-1": "contacts",
    "companies": "companies",
    "company": "companies",
    "0-2": "companies",
    "deals": "deals",
    "deal": "deals",
    "0-3": "deals",
}
SINGULAR: dict[str, str] = {"contacts": "contact", "companies": "company", "deals": "deal"}
UPPER: dict[str, str] = {"contacts": "CONTACT", "companies": "COMPANY", "deals": "DEAL"}
# The property that HubSpot bumps on every change, per object type.
MODIFIED_PROP: dict[str, str] = {
    "contacts": "lastmodifieddate",
    "companies": "hs_lastmodifieddate",
    "deals": "hs_lastmodifieddate",
}
# What an object read returns when the caller names no properties.
DEFAULT_PROPS: dict[str, tuple[str, ...]] = {
    "contacts": (
        "createdate",
        "email",
        "firstname",
        "hs_object_id",
        "lastmodifieddate",
        "lastname",
    ),
    "companies": ("createdate", "domain", "hs_lastmodifieddate", "hs_object_id", "name"),
    "deals": (
        "amount",
        "closedate",
        "createdate",
        "dealname",
        "dealstage",
        "hs_lastmodifieddate",
        "hs_object_id",
        "pipeline",
    ),
}
PORTAL_ID = 24_300_000
MAX_BATCH_OBJECTS = 100


def always_props(object_type: str) -> tuple[str, ...]:
    """Properties every object response carries, asked for or not."""
    return ("createdate", "hs_object_id", MODIFIED_PROP[object_type])


class ApiError(Exception):
    """An error answer, rendered with HubSpot's error body."""

    def __init__(
        self,
        status: int,
        message: str,
        category: str = "VALIDATION_ERROR",
        *,
        errors: list[JSON] | None = None,
        context: dict[str, list[str]] | None = None,
        extra: JSON | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.category = category
        self.errors = errors
        self.context = context
        self.extra = extra or {}

    def body(self, correlation_id: str) -> JSON:
        out: JSON = {"status": "error", "message": self.message, "correlationId": correlation_id}
        if self.context:
            out["context"] = self.context
        out["category"] = self.category
        if self.errors:
            out["errors"] = self.errors
        out.update(self.extra)
        return out


def invalid_json(detail: str) -> ApiError:
    return ApiError(400, f"Invalid input JSON on line 1, column 1: {detail}")


def missing_attributes(model: str, names: list[str]) -> ApiError:
    return invalid_json(
        f"Cannot build {model}, some of required attributes are not set [{', '.join(names)}]"
    )


def object_type_or_none(raw: str) -> str | None:
    """The sandbox's name for an object type (``deal``, ``0-3`` -> ``deals``), or None."""
    return _TYPE_ALIASES.get(raw.lower())


def normalize_type(raw: str) -> str:
    object_type = object_type_or_none(raw)
    if object_type is None:
        raise ApiError(400, f"Unable to infer object type from: {raw}")
    return object_type


@dataclass(frozen=True)
class Problem:
    """One invalid property value (HubSpot's PropertyValidationResult)."""

    name: str
    code: str
    message: str

    def as_result(self) -> JSON:
        return {
            "isValid": False,
            "message": self.message,
            "error": self.code,
            "name": self.name,
            "localizedErrorMessage": self.message,
        }

    def as_detail(self) -> JSON:
        return {
            "message": self.message,
            "code": self.code,
            "context": {"propertyName": [self.name]},
        }


# Code of a Problem raised by a portal's own validation rule (see ValidationRule).
PORTAL_RULE = "PORTAL_VALIDATION_RULE"


def portal_rule_error(problems: list[Problem]) -> ApiError:
    """The whole batch refused: 400 VALIDATION_ERROR naming each broken rule once."""
    messages = list(dict.fromkeys(p.message for p in problems))
    names = list(dict.fromkeys(p.name for p in problems))
    return ApiError(
        400,
        "; ".join(messages),
        errors=[{"message": m, "code": PORTAL_RULE} for m in messages],
        context={"propertyName": names},
    )


def problems_message(problems: list[Problem]) -> str:
    listed = json.dumps([p.as_result() for p in problems], separators=(",", ":"))
    return f"Property values were not valid: {listed}"


def validation_error(problems: list[Problem]) -> ApiError:
    return ApiError(400, problems_message(problems), errors=[p.as_detail() for p in problems])


def standard_error(
    message: str,
    category: str,
    context: dict[str, list[str]] | None = None,
    errors: list[JSON] | None = None,
) -> JSON:
    """A per-input error inside a batch answer (the spec's StandardError)."""
    return {
        "status": "error",
        "category": category,
        "message": message,
        "context": context or {},
        "errors": errors or [],
        "links": {},
    }


@dataclass
class BatchOutcome:
    """Per-input successes and failures of one batch call."""

    results: list[JSON] = field(default_factory=list)
    errors: list[JSON] = field(default_factory=list)


# ------------------------------------------------------------------------ time


def iso_ms(epoch_seconds: float) -> str:
    """UTC ISO-8601 at millisecond precision, printed like Java's ``Instant.toString``
    (which HubSpot uses): the fraction is left out when it is zero."""
    millis = round(epoch_seconds * 1000)
    moment = datetime.fromtimestamp(millis // 1000, tz=UTC)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    return f"{text}.{millis % 1000:03d}Z" if millis % 1000 else f"{text}Z"


_INT_RE = re.compile(r"^-?\d{1,16}$")
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def parse_date_value(value: str) -> str | None:
    """A HubSpot ``date`` value (YYYY-MM-DD or midnight-UTC epoch ms) as YYYY-MM-DD."""
    if _DATE_RE.match(value):
        try:
            return date.fromisoformat(value).isoformat()
        except ValueError:
            return None
    if _INT_RE.match(value):
        millis = int(value)
        if millis % 86_400_000:
            return None
        try:
            return datetime.fromtimestamp(millis / 1000, tz=UTC).date().isoformat()
        except (OverflowError, OSError, ValueError):
            return None
    return None


def parse_datetime_ms(value: str) -> int | None:
    """Epoch milliseconds of an ISO-8601 date-time, a YYYY-MM-DD date or epoch ms."""
    if _INT_RE.match(value):
        return int(value)
    text = value.strip()
    if not text or len(text) > 40 or text != value:
        return None
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        return round(moment.timestamp() * 1000)
    except (OverflowError, OSError, ValueError):
        return None


def midnight_note(value: str) -> str:
    """HubSpot's wording for a date timestamp that is not at midnight UTC."""
    millis = int(value) % 86_400_000
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, millis = divmod(rest, 1000)
    return f"{value} is at {hours}:{minutes}:{seconds}.{millis} UTC, not midnight!"
