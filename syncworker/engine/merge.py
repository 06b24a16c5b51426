"""One contact per person across sources: merge new records by e-mail.

A stream that declares ``merge_by_email`` looks up the e-mails of its new
records before creating them. Where a contact already holds the e-mail (synced
from another source, or typed in by hand) and does not belong to another
record of this stream, the record is merged into it: HubSpot's update by id
adds this stream's key and properties, leaving the identity properties the
mapping marks ``yields_to_owner`` to the contact's owner.
"""

from __future__ import annotations

from syncworker.engine.plan import CREATE
from syncworker.engine.state import Fail, Pending, RunState
from syncworker.hubspot.gateway import HubSpotGateway
from syncworker.store.snapshots import Confirmation, SnapshotStore


def merge_by_email(
    store: SnapshotStore,
    gateway: HubSpotGateway | None,
    state: RunState,
    batch: list[Pending],
    fail: Fail,
) -> list[Pending]:
    """Merge what can be merged; return the rest of the batch for the upsert."""
    assert gateway is not None
    stream = state.stream
    fresh = {
        p.change.source_id: p
        for p in batch
        if p.change.action == CREATE and p.change.properties.get("email")
    }
    if not fresh:
        return batch
    emails = {p.change.properties["email"]: sid for sid, p in fresh.items()}
    owners = gateway.read(stream.object_type, "email", list(emails), [stream.id_property])
    if not owners:
        return batch
    targets: dict[str, str] = {}
    for email, found in owners.items():
        source_id = emails[email]
        holder = str(found["properties"].get(stream.id_property) or "")
        if holder and holder != source_id:
            state.result.counts["failed"] += 1
            fail(
                source_id,
                "merge",
                f"its e-mail belongs to HubSpot contact {found['id']}, already linked to "
                f"{stream.name} {holder}",
                "CONFLICT",
                found["id"],
            )
            continue
        targets[source_id] = found["id"]
    yielding = stream.mapping.yielding_properties()
    updates = {
        sid: {k: v for k, v in fresh[sid].change.properties.items() if k not in yielding}
        for sid in targets
    }
    outcomes = gateway.update_by_id(
        stream.object_type, [(targets[sid], props) for sid, props in updates.items()]
    )
    confirmations = []
    for source_id, hubspot_id in targets.items():
        outcome = outcomes.get(hubspot_id)
        if outcome is None or not outcome.ok:
            state.result.counts["failed"] += 1
            fail(
                source_id,
                "merge",
                (outcome.message if outcome else None) or "HubSpot did not confirm the merge",
                outcome.category if outcome else None,
            )
            continue
        state.result.counts["updated"] += 1
        confirmations.append(Confirmation(source_id, hubspot_id, updates[source_id], merged=True))
    store.confirm(stream.name, confirmations, fence=state.fence)
    handled = set(targets) | {emails[e] for e in owners}
    return [p for p in batch if p.change.source_id not in handled]
