"""Value kinds and their normalisers: each turns a source value into the exact
string HubSpot stores, so that an unchanged record never looks changed."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
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


def normalise(kind: Kind, value: Any) -> str:
    """The string HubSpot stores for ``value``; ``""`` (clears the property) for null."""
    return NORMALISERS.get(kind, _text)(value)


# One function per kind (null included), so that mapping a record does not
# re-dispatch on the kind for every field of every record.


def _text(value: Any) -> str:
    if value is None:
        return ""
    if type(value) is str:
        return value.strip()
    return str(value).strip()


def _email(value: Any) -> str:
    if value is None:
        return ""
    if type(value) is str:
        return value.strip().lower()
    return str(value).strip().lower()


def _bool(value: Any) -> str:
    if value is None:
        return ""
    return "true" if value else "false"


def _number(value: Any) -> str:
    if value is None:
        return ""
    number = float(value)
    return str(int(number)) if number.is_integer() else repr(number)


@lru_cache(maxsize=4096)
def _day(text: str) -> str:
    """A stripped, non-empty date text as HubSpot's ``YYYY-MM-DD`` (ValueError if no date)."""
    return date.fromisoformat(text[:10]).isoformat()


def _date(value: Any) -> str:
    if value is None:
        return ""
    if type(value) is str:
        text = value.strip()
    else:
        text = value.isoformat() if isinstance(value, date) else str(value).strip()
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
