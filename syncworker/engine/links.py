"""Associations: each record linked to its parent's HubSpot object.

A record whose parent changed loses the old association and gains the new
one; the snapshot remembers the parent HubSpot confirmed.
"""

from __future__ import annotations

from syncworker.engine.plan import PlannedChange
from syncworker.engine.state import Fail, RunState
from syncworker.errors import HubSpotError, is_credential_refusal
from syncworker.hubspot.gateway import HubSpotGateway
from syncworker.sources.registry import STREAMS
from syncworker.store.snapshots import SnapshotStore

SINGULAR = {"companies": "company", "contacts": "contact", "deals": "deal"}


def link_records(
    store: SnapshotStore,
    gateway: HubSpotGateway | None,
    state: RunState,
    fail: Fail,
    parallel: int = 1,
) -> None:
    """Send the run's parent moves: removals first, then additions, ``parallel``
    batches at a time."""
    link = state.stream.association
    if link is None or not state.moves:
        return
    if state.dry_run:
        # Nothing was created: a record or parent not in HubSpot yet would be by then.
        for source_id, (_, new) in state.moves.items():
            state.result.planned.append(
                PlannedChange(
                    state.stream.name, source_id, "associate", {link.parent_property: new or ""}
                )
            )
        return
    from_type, to_type = state.stream.object_type, STREAMS[link.parent_stream].object_type
    children = store.hubspot_ids(state.stream.name, state.moves)
    parents = store.hubspot_ids(
        link.parent_stream, {p for move in state.moves.values() for p in move if p}
    )
    counts = state.result.counts
    removals: list[tuple[str, str]] = []
    additions: dict[str, tuple[str, str]] = {}
    settled: dict[str, str | None] = {}
    for source_id, (old, new) in state.moves.items():
        child = children.get(source_id)
        if child is None:
            continue  # not in HubSpot yet: its own failure is recorded already
        if old and old != new and old in parents:
            removals.append((child, parents[old]))
        if new is None:
            settled[source_id] = None
        elif new in parents:
            additions[source_id] = (child, parents[new])
        else:
            counts["failed"] += 1
            fail(
                source_id,
                "associate",
                f"its {SINGULAR.get(to_type, to_type)} ({link.parent_stream} {new}) "
                "is not in HubSpot yet",
            )
    assert gateway is not None
    try:
        if removals:
            gateway.remove_associations(removals, from_type, to_type)
        confirmed = (
            gateway.associate(list(additions.values()), from_type, to_type, parallel=parallel)
            if additions
            else set()
        )
    except HubSpotError as exc:
        if exc.retriable or is_credential_refusal(exc):
            raise  # the run aborts; no record is failed for a refused token
        for source_id in additions:
            fail(source_id, "associate", str(exc), exc.category)
        counts["failed"] += len(additions)
        return
    for source_id, pair in additions.items():
        if pair in confirmed:
            settled[source_id] = state.moves[source_id][1]
        else:
            counts["failed"] += 1
            fail(source_id, "associate", "HubSpot did not confirm the association")
    store.set_associations(state.stream.name, settled, fence=state.fence)
