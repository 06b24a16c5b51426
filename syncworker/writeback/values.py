"""HubSpot property values → Workways write-back parameters.

A value read from HubSpot is never trusted to have its property's shape: a
number property holding ``ten`` (an import, another integration) is kept as
read, recorded as an intent like any edit, and refused at delivery with
:class:`UnwritableValue`, which quarantines that one intent with the reason;
the other intents of the pass are written.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from syncworker.normalise import BadValue, Kind, normalise


class UnwritableValue(ValueError):
    """The value cannot be expressed in Workways (e.g. clearing a number, or a
    number property holding text). The message never carries the value."""


_TRUE, _FALSE = frozenset(("true", "1", "yes")), frozenset(("false", "0", "no"))


def hubspot_value(kind: Kind, raw: object) -> str:
    """A HubSpot property value in the snapshot's normal form; a value that does not
    have its kind's shape is returned as read (trimmed), never raised on."""
    if raw is None or raw == "":
        return ""
    text = str(raw).strip()
    if kind in (Kind.DATE, Kind.DATETIME) and text.isdigit():
        # HubSpot may answer epoch ms at midnight UTC
        try:
            day = datetime.fromtimestamp(int(text) / 1000, UTC).date().isoformat()
        except (OverflowError, OSError, ValueError):
            return text
        return normalise(kind, day)
    if kind is Kind.BOOL:
        lowered = text.lower()
        return "true" if lowered in _TRUE else "false" if lowered in _FALSE else text
    try:
        return normalise(kind, text)
    except BadValue:
        return text


def workways_argument(parameter: str, value: str) -> object:
    """The argument Workways takes for ``parameter``, from a normalised value
    (:class:`UnwritableValue` when the value cannot be one)."""
    if parameter == "optin":
        if value not in ("true", "false"):
            raise UnwritableValue("the opt-in HubSpot holds is not true or false")
        return value == "true"
    if parameter in ("rentalStartAt", "rentalEndAt"):
        if value:
            try:
                date.fromisoformat(value)
            except ValueError:
                raise UnwritableValue(f"{parameter}: HubSpot holds no YYYY-MM-DD date") from None
        return value  # YYYY-MM-DD, or "" to clear
    if parameter == "rentalRenewal":
        if not value:
            raise UnwritableValue("Workways cannot clear the renewal months")
        number = _number(parameter, value)
        if not number.is_integer() or number < 0:
            raise UnwritableValue("renewal months must be a whole number")
        return int(number)
    if parameter == "rentalPrice":
        if not value:
            raise UnwritableValue("Workways cannot clear the rental price")
        _number(parameter, value)
        return value
    return value  # rentalComment, rentalUrl


def _number(parameter: str, value: str) -> float:
    try:
        return float(normalise(Kind.NUMBER, value))
    except BadValue:
        raise UnwritableValue(f"{parameter}: HubSpot holds a value that is not a number") from None
