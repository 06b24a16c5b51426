"""Detail arrays of an organization (rooms, sites, options) as readable text."""

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


def summarise_rooms(items: Any) -> str:
    def line(room: Mapping[str, Any]) -> str:
        until = room.get("contractEndDate") or ""
        return (
            f"{room.get('name', '')}"
            + (f" (until {until})" if until else "")
            + _price(room.get("price"))
        )

    return _summary(items, line)


def summarise_sites(items: Any) -> str:
    return _summary(items, lambda s: f"{s.get('name', '')} ({str(s.get('country') or '').upper()})")


def summarise_options(items: Any) -> str:
    def line(option: Mapping[str, Any]) -> str:
        text = f"{option.get('name', '')} ×{option.get('quantity', 1)}"
        text += _price(option.get("price"))
        start, end = option.get("startDate") or "", option.get("endDate") or ""
        if start or end:
            text += f" [{start} → {end}]" if end else f" [from {start}]"
        return text

    return _summary(items, line)
