"""Conflicts: the same two-way field changed on both sides since the last sync.

The Workways → HubSpot sync asks this resolver before pushing a change to a
two-way property. HubSpot changed it too when HubSpot's current value differs
from the snapshot, or an open write-back intent exists for it. The policy
(``WRITEBACK_CONFLICT_POLICY``) decides:

- ``hubspot`` (default): HubSpot is where people edit consent and contracts;
  the sync leaves the property alone and the write-back carries HubSpot's value
  to Workways;
- ``workways``: the sync pushes Workways' value and drops the open intent.
"""

from __future__ import annotations

from dataclasses import replace

from syncworker.engine.plan import PlannedChange
from syncworker.hubspot.gateway import HubSpotGateway
from syncworker.sources.streams import Stream
from syncworker.writeback.outbox import Outbox
from syncworker.writeback.values import hubspot_value

POLICIES = ("hubspot", "workways")


class ConflictResolver:
    def __init__(self, gateway: HubSpotGateway, outbox: Outbox, policy: str = "hubspot") -> None:
        if policy not in POLICIES:
            raise ValueError(f"conflict policy must be one of {', '.join(POLICIES)}")
        self.gateway = gateway
        self.outbox = outbox
        self.policy = policy

    def resolve(
        self, stream: Stream, changes: list[PlannedChange], hubspot_ids: dict[str, str]
    ) -> tuple[list[PlannedChange], int]:
        """The changes to push after applying the policy, and how many conflicts."""
        fields = {f.target: f for f in stream.mapping.writeback_fields()}
        touched = {
            c.source_id: [p for p in c.properties if p in fields and c.previous.get(p) is not None]
            for c in changes
            if c.action == "update"
        }
        touched = {sid: props for sid, props in touched.items() if props}
        if not touched:
            return changes, 0
        current = self.gateway.read(
            stream.object_type, stream.id_property, list(touched), list(fields)
        )
        open_intents = self.outbox.open_for(stream.name, touched)
        conflicts = 0
        resolved: list[PlannedChange] = []
        for change in changes:
            props = touched.get(change.source_id)
            if not props:
                resolved.append(change)
                continue
            live = (current.get(change.source_id) or {}).get("properties") or {}
            keep = dict(change.properties)
            for prop in props:
                theirs = hubspot_value(fields[prop].kind, live.get(prop))
                edited = theirs != change.previous.get(prop, "") or (
                    (change.source_id, prop) in open_intents
                )
                if not edited or theirs == change.properties[prop]:
                    continue  # only Workways changed it, or both agree
                conflicts += 1
                if self.policy == "hubspot":
                    del keep[prop]
                    self.outbox.record(
                        stream=stream.name,
                        source_id=change.source_id,
                        hubspot_id=hubspot_ids.get(change.source_id, ""),
                        prop=prop,
                        parameter=fields[prop].writeback or "",
                        value=theirs,
                    )
                else:
                    self.outbox.supersede(stream.name, change.source_id, prop)
            if keep:
                resolved.append(replace(change, properties=keep))
        return resolved, conflicts
