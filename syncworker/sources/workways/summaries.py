"""Detail arrays of an organization (rooms, sites, options) as readable text.

One line per item, ending with the ids Workways knows the item by (in square
brackets, named by kind), so a line read in HubSpot can be traced back:
``Bureau Premium A12 (until 2025-12-31), 850 €/month [room 507f…, site 507f…]``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from syncworker.normalise import Kind, normalise


def _summary(items: Any, render: Callable[[Mapping[str, Any]], str]) -> str:
    if not isinstance(items, Sequence) or isinstance(items, str):
        return ""
    return "\n".join(render(item) for item in items if isinstance(item, Mapping))


def _price(value: Any) -> str:
    return "" if value is None else f", {normalise(Kind.NUMBER, value)} €/month"


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _ids(*parts: tuple[str, str]) -> str:
    """`` [room 1, site 2]``: the parts whose id is known ("" when none is)."""
    named = [f"{kind} {value}" for kind, value in parts if value]
    return f" [{', '.join(named)}]" if named else ""


def summarise_rooms(items: Any) -> str:
    """a line per room: `name (until end date), price €/month [room <_id>, site <siteId>]`"""

    def line(room: Mapping[str, Any]) -> str:
        until = room.get("contractEndDate") or ""
        return (
            f"{room.get('name', '')}"
            + (f" (until {until})" if until else "")
            + _price(room.get("price"))
            + _ids(("room", _text(room.get("_id"))), ("site", _text(room.get("siteId"))))
        )

    return _summary(items, line)


def summarise_sites(items: Any) -> str:
    """a line per site: `name (COUNTRY) [site <_id>]`"""
    return _summary(
        items,
        lambda s: (
            f"{s.get('name', '')} ({str(s.get('country') or '').upper()})"
            + _ids(("site", _text(s.get("_id"))))
        ),
    )


def summarise_options(items: Any) -> str:
    """a line per option: `name ×quantity, price €/month [start → end] [option <key> #<id>]`"""

    def line(option: Mapping[str, Any]) -> str:
        text = f"{option.get('name', '')} ×{option.get('quantity', 1)}"
        text += _price(option.get("price"))
        start, end = option.get("startDate") or "", option.get("endDate") or ""
        if start or end:
            text += f" [{start} → {end}]" if end else f" [from {start}]"
        number = option.get("id")  # unique within the organization only: with the key
        label = (_text(option.get("key")), "" if number is None else f"#{number}")
        key = " ".join(part for part in label if part)
        return text + _ids(("option", key))

    return _summary(items, line)
