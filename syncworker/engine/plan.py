"""Deciding what to push: pure functions over a record and its snapshot."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from syncworker.mapping import content_hash
from syncworker.store.snapshots import Snapshot

CREATE, UPDATE, UNCHANGED = "create", "update", "unchanged"


@dataclass(frozen=True)
class PlannedChange:
    """What one record needs: the action and the properties to send."""

    stream: str
    source_id: str
    action: str  # create | update | archive
    properties: Mapping[str, str]  # what will be sent
    previous: Mapping[str, str] = field(default_factory=dict)  # values before, for dry-run

    def describe(self, personal: frozenset[str]) -> str:
        """A line for people: changed fields, personal values masked."""
        parts = []
        for name, value in sorted(self.properties.items()):
            if name in personal:
                parts.append(f"{name} (changed)")
            else:
                before = None if self.action == "adopt" else self.previous.get(name)
                parts.append(
                    f"{name}: {before!r} → {value!r}" if before is not None else f"{name}={value!r}"
                )
        if self.action == "adopt":  # an existing contact takes the record's key
            held = self.previous.get("hs_object_id", "?")
            return f"adopt {self.stream} {self.source_id} (HubSpot {held}): " + ", ".join(parts)
        return f"{self.action} {self.stream} {self.source_id}: " + ", ".join(parts)


def plan_record(
    stream: str,
    source_id: str,
    desired: Mapping[str, str],
    snapshot: Snapshot | None,
    *,
    full: bool = False,
    passengers: frozenset[str] = frozenset(),
) -> PlannedChange | None:
    """The change a record needs, or None when HubSpot already holds ``desired``.

    A record HubSpot never confirmed is sent whole. A full resync sends every
    property of every record. Otherwise only the properties whose value
    differs from the last confirmed one are sent; ``passengers`` change
    nothing on their own.
    """
    if snapshot is None or snapshot.hubspot_id is None:
        return PlannedChange(stream, source_id, CREATE, dict(desired))
    if full:
        return PlannedChange(stream, source_id, UPDATE, dict(desired), snapshot.properties)
    # Nothing changed means no change whatever the stored digest says, so the
    # digest is only computed (and can only veto) when something differs.
    before = snapshot.properties
    if before == desired:  # the common case, compared in C
        return None
    changed = {k: v for k, v in desired.items() if before.get(k) != v}
    if not changed or snapshot.content_hash == content_hash(desired):
        return None
    if set(changed) <= passengers:
        return None
    previous = {k: snapshot.properties.get(k, "") for k in changed}
    return PlannedChange(stream, source_id, UPDATE, changed, previous)
