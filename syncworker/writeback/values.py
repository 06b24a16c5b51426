"""HubSpot property values → Workways write-back parameters."""

from __future__ import annotations

from datetime import UTC, datetime

from syncworker.mapping import Kind, normalise


class UnwritableValue(ValueError):
    """The value cannot be expressed in Workways (e.g. clearing a number)."""


def hubspot_value(kind: Kind, raw: object) -> str:
    """A HubSpot property value in the snapshot's normal form."""
    if raw is None or raw == "":
        return ""
    text = str(raw).strip()
    if kind is Kind.DATE and text.isdigit():  # HubSpot may answer epoch ms at midnight UTC
        return datetime.fromtimestamp(int(text) / 1000, UTC).date().isoformat()
    if kind is Kind.BOOL:
        return "true" if text.lower() in ("true", "1", "yes") else "false"
    if kind is Kind.NUMBER:
        try:
            return normalise(kind, text)
        except ValueError:
            return text
    return normalise(kind, text)


def workways_argument(parameter: str, value: str) -> object:
    """The argument Workways takes for ``parameter``, from a normalised value."""
    if parameter == "optin":
        return value == "true"
    if parameter in ("rentalStartAt", "rentalEndAt"):
        return value  # YYYY-MM-DD, or "" to clear
    if parameter == "rentalRenewal":
        if not value:
            raise UnwritableValue("Workways cannot clear the renewal months")
        number = float(value)
        if not number.is_integer() or number < 0:
            raise UnwritableValue("renewal months must be a whole number")
        return int(number)
    if parameter == "rentalPrice":
        if not value:
            raise UnwritableValue("Workways cannot clear the rental price")
        return value
    return value  # rentalComment, rentalUrl
