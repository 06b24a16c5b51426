"""Value kinds and their normalisers: each turns a source value into the exact
string HubSpot stores, so that an unchanged record never looks changed."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from enum import Enum
from functools import lru_cache
from typing import Any

# Bump when a normaliser's output changes: every stored source digest then stops
# matching, and the next run maps and compares every record again.
NORMALISATION_VERSION = 1


class Kind(Enum):
    """Value kinds, with the HubSpot ``type`` / ``fieldType`` they are created as."""

    # (our name, HubSpot type, HubSpot fieldType): the first item keeps members distinct
    STRING = ("string", "string", "text")
    TEXT = ("text", "string", "textarea")
    EMAIL = ("email", "string", "text")
    PHONE = ("phone", "string", "phonenumber")
    BOOL = ("bool", "bool", "booleancheckbox")
    NUMBER = ("number", "number", "number")
    DATE = ("date", "date", "date")
    DATETIME = ("datetime", "datetime", "date")

    @property
    def hubspot_type(self) -> str:
        return self.value[1]

    @property
    def field_type(self) -> str:
        return self.value[2]


class BadValue(ValueError):
    """A value its normaliser cannot turn into what HubSpot stores.

    The message says what was expected, never the value itself (which may be
    personal data); :meth:`ObjectMapping.to_properties` adds the field."""


def normalise(kind: Kind, value: Any) -> str:
    """The string HubSpot stores for ``value``; ``""`` (clears the property) for null.

    :class:`BadValue` when the value has the wrong shape for its kind."""
    return NORMALISERS.get(kind, _text)(value)


def _shape(value: Any) -> str:
    """What a value is, without what it holds: "a string", "a list"..."""
    return f"a {type(value).__name__}"


# One function per kind (null included), so that mapping a record does not
# re-dispatch on the kind for every field of every record.


_SCALARS = (str, int, float)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if type(value) is str:
        return value.strip()
    if isinstance(value, _SCALARS):  # numbers sent where text belongs (Workadu's postcodes)
        return str(value).strip()
    raise BadValue(f"expected text, got {_shape(value)}")


def _email(value: Any) -> str:
    # Only the shape is judged here: whether an address is valid is HubSpot's call
    # (its refusal fails that one record; see the gateway's batch isolation).
    if value is None:
        return ""
    if type(value) is str:
        return value.strip().lower()
    raise BadValue(f"expected an e-mail address (text), got {_shape(value)}")


_TRUE, _FALSE = frozenset(("true", "1")), frozenset(("false", "0"))


def _bool(value: Any) -> str:
    if value is None:
        return ""
    if value is True or value is False:
        return "true" if value else "false"
    if type(value) is int and value in (0, 1):
        return "true" if value else "false"
    if type(value) is str:
        text = value.strip().lower()
        if text in _TRUE:
            return "true"
        if text in _FALSE:
            return "false"
        if not text:
            return ""
    raise BadValue("expected a boolean (true or false)")


def _number(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, (*_SCALARS, Decimal)):
        raise BadValue(f"expected a number, got {_shape(value)}")
    if type(value) is str:
        value = value.strip()
        if not value:
            return ""
    try:
        number = float(value)
    except (ValueError, OverflowError):
        raise BadValue("expected a number") from None
    if not math.isfinite(number):
        raise BadValue("expected a finite number")
    return str(int(number)) if number.is_integer() else repr(number)


@lru_cache(maxsize=4096)
def _day(text: str) -> str:
    """A stripped, non-empty date text as HubSpot's ``YYYY-MM-DD`` (BadValue if no date)."""
    try:
        return date.fromisoformat(text[:10]).isoformat()
    except ValueError:
        raise BadValue("expected a date as YYYY-MM-DD") from None


def _date(value: Any) -> str:
    if value is None:
        return ""
    if type(value) is str:
        text = value.strip()
    elif isinstance(value, date):
        text = value.isoformat()
    else:
        raise BadValue(f"expected a date as YYYY-MM-DD, got {_shape(value)}")
    return _day(text) if text else ""


def _datetime(value: Any) -> str:  # a day, at midnight UTC, as HubSpot prints it
    day = _date(value)
    return f"{day}T00:00:00Z" if day else ""


NORMALISERS: dict[Kind, Callable[[Any], str]] = {
    Kind.STRING: _text,
    Kind.TEXT: _text,
    Kind.EMAIL: _email,
    Kind.PHONE: _text,
    Kind.BOOL: _bool,
    Kind.NUMBER: _number,
    Kind.DATE: _date,
    Kind.DATETIME: _datetime,
}
