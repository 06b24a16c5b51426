"""Which HubSpot subscription type the newsletter opt-in stands for."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from syncworker.errors import ConfigError

VARIABLE = "HUBSPOT_NEWSLETTER_SUBSCRIPTION"


class Definitions(Protocol):
    def subscription_definitions(self) -> list[dict[str, Any]]: ...


@dataclass(frozen=True)
class Subscription:
    id: str
    name: str


def resolve_subscription(gateway: Definitions, wanted: str) -> Subscription:
    """The one subscription type whose id, or name (case and spaces aside), is
    ``wanted``; :class:`ConfigError` naming the setting when none or several are."""
    definitions = gateway.subscription_definitions()
    by_id = [d for d in definitions if str(d.get("id")) == wanted.strip()]
    folded = " ".join(wanted.split()).casefold()
    by_name = [
        d for d in definitions if " ".join(str(d.get("name", "")).split()).casefold() == folded
    ]
    found = by_id or by_name
    if len(found) == 1:
        return Subscription(str(found[0].get("id")), str(found[0].get("name", "")))
    names = ", ".join(f"{d.get('name')!s} ({d.get('id')!s})" for d in definitions) or "none"
    if not found:
        raise ConfigError(
            VARIABLE, f"no subscription type has the name or id {wanted!r} (HubSpot has: {names})"
        )
    ids = ", ".join(str(d.get("id")) for d in found)
    raise ConfigError(
        VARIABLE, f"{len(found)} subscription types are named {wanted!r} (ids {ids}): give the id"
    )
