"""Adopt what HubSpot already has: existing contacts found by e-mail.

A real portal holds contacts before the first sync (marketing leads, imports,
form fills). A stream that declares ``adopt_by_email`` (Workways users) sends
its new records as usual; when HubSpot refuses such a batch because an e-mail
of it belongs to a contact already (409), one batch read by
``idProperty=email`` finds the contacts that hold the batch's e-mails (HubSpot
compares e-mails case-insensitively), and the rest of the batch goes again. A
batch HubSpot accepts costs nothing more, so a first sync into a clean portal
makes no extra call. A contact holding no key of this stream is **adopted**:
HubSpot's update by id gives it the record's key and mapped properties; it
keeps its id and every property the mapping does not own (lifecycle stage,
owner, lead status...). Adoption is counted (``adopted``), never a failure.

A contact holding the key of *another* record of this stream is a **clash**
(two Workways users with one e-mail, which HubSpot can hold on one contact
only): the user whose contact holds the e-mail keeps it; the other is created
(or updated) without the e-mail, so both people stay visible, and the clash is
logged naming both user ids and counted (``clashes``). Two new users of one
batch sharing an e-mail: the older (the smaller Workways id: ids grow with time)
gets it. E-mail values are never logged.

The same look-up serves ``--dry-run`` (a read, no write): :func:`adoptable`.

A clash is reported (logged, both user ids) once: ``store.reports`` remembers it,
so later runs that send the same user without its e-mail stay quiet.

Companies (``adopt_by_name``, on with ``ADOPT_COMPANIES_BY_NAME``): HubSpot
deduplicates companies by domain, which Workways does not provide. A new
organization adopts the HubSpot company holding exactly its name (trimmed, any
letter case) when there is exactly one such company and it holds no
``workways_org_id``; none or several: it is created as usual, and several are
reported once (the organization id and the companies' ids, never the name). The
look-up is one search per batch (an ``IN`` filter on ``name``).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from syncworker.engine.plan import CREATE, PlannedChange
from syncworker.engine.state import Fail, Pending, RunState
from syncworker.hubspot.gateway import HubSpotGateway
from syncworker.store.reports import AMBIGUOUS, CLASH
from syncworker.store.snapshots import Confirmation, SnapshotStore

log = logging.getLogger("syncworker.engine.sync")  # the engine's own log

EMAIL = "email"
NAME = "name"  # a company's name: what adoption by name compares
ADOPT = "adopt"  # the planned action of a dry run for a record that would be adopted


def _holders(
    gateway: HubSpotGateway, state: RunState, changes: Sequence[PlannedChange]
) -> tuple[dict[str, str], dict[str, dict[str, Any]]]:
    """({e-mail: source id} of the changes carrying one, {e-mail: contact holding it})."""
    stream = state.stream
    emails: dict[str, str] = {}
    for change in sorted(changes, key=lambda c: c.source_id):  # the older id first
        email = change.properties.get(EMAIL)
        if email:
            emails.setdefault(email, change.source_id)
    if not emails:
        return {}, {}
    found = gateway.read(stream.object_type, EMAIL, list(emails), [stream.id_property])
    return emails, found


def adopt_by_email(
    store: SnapshotStore,
    gateway: HubSpotGateway | None,
    state: RunState,
    batch: list[Pending],
    fail: Fail,
    counts: Counter[str] | None = None,
) -> list[Pending]:
    """Adopt the contacts that already hold the batch's new e-mails; settle clashes.
    Returns the rest of the batch for the upsert. ``counts`` (default: the run's)
    receives what was adopted, clashed or failed: a push thread passes its own."""
    assert gateway is not None
    stream = state.stream
    counts = state.result.counts if counts is None else counts
    carrying = [p for p in batch if p.change.properties.get(EMAIL)]
    if not carrying:
        return batch
    emails, found = _holders(gateway, state, [p.change for p in carrying])
    own = {p.change.source_id: p for p in carrying}
    targets: dict[str, str] = {}  # source id -> HubSpot id to adopt
    clashing: dict[str, str] = {}  # source id -> the user id keeping the e-mail
    for pending in carrying:
        change, source_id = pending.change, pending.change.source_id
        email = change.properties[EMAIL]
        holder = found.get(email)
        first = emails[email]
        if holder is None:
            if first != source_id:  # an older user of this batch gets it
                clashing[source_id] = first
            continue
        holder_key = str(holder["properties"].get(stream.id_property) or "")
        if holder_key == source_id or pending.hubspot_id == holder["id"]:
            continue  # its own contact: nothing to settle
        if holder_key:
            clashing[source_id] = holder_key
        elif change.action == CREATE and first == source_id:
            targets[source_id] = str(holder["id"])
        else:  # an unkeyed contact, wanted by an older user of this batch or by an update
            clashing[source_id] = first if first != source_id else f"HubSpot {holder['id']}"
    if targets:
        _adopt(store, gateway, state, {sid: own[sid] for sid in targets}, targets, fail, counts)
    rest = []
    for pending in batch:
        source_id = pending.change.source_id
        if source_id in targets:
            continue
        if source_id in clashing:
            counts["clashes"] += 1
            if store.reports.first_time(stream.name, source_id, CLASH, clashing[source_id]):
                log.warning(
                    "%s %s: its e-mail is held by %s %s in HubSpot; sent without the e-mail "
                    "(reported once)",
                    stream.name,
                    source_id,
                    stream.name,
                    clashing[source_id],
                )
            props = {k: v for k, v in pending.change.properties.items() if k != EMAIL}
            if not props:
                continue
            change = replace(pending.change, properties=props)
            pending = Pending(change, pending.hubspot_id, None)  # HubSpot lacks the e-mail
        rest.append(pending)
    return rest


def _folded(name: object) -> str:
    return str(name or "").strip().lower()


def _name_holders(
    gateway: HubSpotGateway, state: RunState, changes: Sequence[PlannedChange]
) -> tuple[dict[str, str], dict[str, list[dict[str, Any]]]]:
    """({source id: folded name} of the new records carrying one,
    {folded name: the HubSpot objects holding it}), by one search per batch."""
    names = {
        c.source_id: _folded(c.properties.get(NAME))
        for c in changes
        if c.action == CREATE and _folded(c.properties.get(NAME))
    }
    if not names:
        return {}, {}
    stream = state.stream
    found = gateway.search_equal(
        stream.object_type, NAME, list(set(names.values())), [stream.id_property]
    )
    holders: dict[str, list[dict[str, Any]]] = {}
    for obj in found:
        folded = _folded(obj["properties"].get(NAME))
        if folded:
            holders.setdefault(folded, []).append(obj)
    return names, holders


def _name_targets(
    store: SnapshotStore | None,
    state: RunState,
    names: dict[str, str],
    holders: dict[str, list[dict[str, Any]]],
) -> dict[str, str]:
    """{source id: HubSpot id to adopt}: one candidate without a key, and no older
    record of this batch wanting it. Several candidates are reported once (``store``)."""
    stream = state.stream
    targets: dict[str, str] = {}
    taken: set[str] = set()
    for source_id in sorted(names, key=lambda i: (len(i), i)):  # the older id first
        candidates = holders.get(names[source_id], [])
        if len(candidates) > 1:
            ids = ", ".join(sorted((c["id"] for c in candidates), key=lambda i: (len(i), i)))
            if store is not None and store.reports.first_time(
                stream.name, source_id, AMBIGUOUS, ids
            ):
                log.warning(
                    "%s %s: %d HubSpot objects hold its name (%s); none adopted, created "
                    "anew (reported once)",
                    stream.name,
                    source_id,
                    len(candidates),
                    ids,
                )
            continue
        if len(candidates) != 1:
            continue
        (holder,) = candidates
        if holder["properties"].get(stream.id_property) or holder["id"] in taken:
            continue  # another record's object: not ours to take
        taken.add(holder["id"])
        targets[source_id] = holder["id"]
    return targets


def adopt_by_name(
    store: SnapshotStore,
    gateway: HubSpotGateway | None,
    state: RunState,
    batch: list[Pending],
    fail: Fail,
) -> list[Pending]:
    """Adopt the one unkeyed object holding each new record's name (see the module's
    doc). Returns the rest of the batch for the upsert."""
    assert gateway is not None
    fresh = [p for p in batch if p.hubspot_id is None]
    names, holders = _name_holders(gateway, state, [p.change for p in fresh])
    targets = _name_targets(store, state, names, holders)
    if not targets:
        return batch
    own = {p.change.source_id: p for p in fresh}
    _adopt(store, gateway, state, {sid: own[sid] for sid in targets}, targets, fail)
    return [p for p in batch if p.change.source_id not in targets]


def _adopt(
    store: SnapshotStore,
    gateway: HubSpotGateway,
    state: RunState,
    adopted: dict[str, Pending],
    targets: dict[str, str],
    fail: Fail,
    counts: Counter[str] | None = None,
) -> None:
    stream = state.stream
    counts = state.result.counts if counts is None else counts
    outcomes = gateway.update_by_id(
        stream.object_type,
        [(targets[sid], dict(p.change.properties)) for sid, p in adopted.items()],
    )
    confirmations = []
    for source_id, pending in adopted.items():
        outcome = outcomes.get(targets[source_id])
        if outcome is None or not outcome.ok:
            counts["failed"] += 1
            fail(
                source_id,
                "adopt",
                (outcome.message if outcome else None) or "HubSpot did not confirm the adoption",
                outcome.category if outcome else None,
                targets[source_id],
            )
            continue
        counts["adopted"] += 1
        confirmations.append(
            Confirmation(
                source_id,
                targets[source_id],
                pending.change.properties,
                source_digest=pending.digest,
            )
        )
    store.confirm(stream.name, confirmations, fence=state.fence)


def adoptable(
    gateway: HubSpotGateway | None, state: RunState, changes: list[PlannedChange]
) -> list[PlannedChange]:
    """A dry run's changes, with each new record that would adopt a contact planned as
    ``adopt`` (its ``previous`` names the contact). Reads HubSpot; writes nothing."""
    if gateway is None:
        return changes
    if state.stream.adopt_by_name and not state.stream.adopt_by_email:
        names, holders = _name_holders(gateway, state, changes)
        targets = _name_targets(None, state, names, holders)
        return [
            replace(c, action=ADOPT, previous={"hs_object_id": targets[c.source_id]})
            if c.source_id in targets
            else c
            for c in changes
        ]
    fresh = [c for c in changes if c.action == CREATE and c.properties.get(EMAIL)]
    if not fresh:
        return changes
    emails, found = _holders(gateway, state, fresh)
    planned = []
    for change in changes:
        email = change.properties.get(EMAIL) if change.action == CREATE else None
        holder = found.get(email) if email else None
        if (
            holder is not None
            and emails.get(email or "") == change.source_id
            and not holder["properties"].get(state.stream.id_property)
        ):
            change = replace(change, action=ADOPT, previous={"hs_object_id": str(holder["id"])})
        planned.append(change)
    return planned
