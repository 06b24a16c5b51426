"""Drift repair: the snapshot checked against HubSpot, and what people changed there
repaired (issue 17, point 3). No Celery, no CLI: ``app/reconcile.py`` drives it.

For every synced stream (parents first), the HubSpot ids the snapshot holds are
read back in batch reads (100 ids a call) with the stream's key and
``hs_merged_object_ids``. Each record falls in one case:

- **present**, holding its own key: fine; a child record's association with its
  parent is then checked (associations batch read, 1,000 a call). One removed by
  hand is restored (``relinked``); one added by hand is left alone.
- **merged** into another object (the survivor lists its id in
  ``hs_merged_object_ids``; a read of the merged-away id answers either the
  survivor or nothing, HubSpot does not say which: both are handled, and when
  nothing answers the survivor is looked for by search). Every record whose
  object ended in one survivor follows it: the *keeper* (the record whose object
  survived, else the smallest source id) stays in use and sends all its
  properties again; the others are **suppressed** (``merged``): never pushed
  again, so no duplicate is created. The survivor carries the keeper's key
  (``rekeyed`` when HubSpot left another key on it).
- **deleted** (in the recycle bin: an archived read finds it): the snapshot row
  is forgotten, so the next sync creates the record again, whole
  (``recreated``); a re-created parent's children are linked again.
- **gone for good** (no read finds it, not even among archived objects, or a
  ``privacyDeletion`` event named it): a contact was deleted for privacy; its
  row is **suppressed** (``privacy``) and its stored values dropped: that person
  is never brought back. (HubSpot also purges its recycle bin after 90 days: such
  a contact is treated the same way, on the side of privacy.) A company gone for
  good is created again.

Then every checked record's key is looked up (batch read by the key, 100 a call):
a key found on an object that is neither the record's own nor its merge's
survivor is a **stray key** (copied, imported, typed by hand; ``stray``). The
real run takes the key off that object (it is Workways', and left there it
would steer a re-creation or a re-key onto the wrong object); nothing else of
that object is touched, and the write-back and the sync never act on it.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from syncworker.errors import HubSpotError, is_credential_refusal
from syncworker.hubspot.gateway import MERGED_IDS_PROPERTY, HubSpotGateway
from syncworker.sources.streams import Stream
from syncworker.store.drift import MERGED, DriftStore, SyncedRow

log = logging.getLogger(__name__)

RECREATED, MERGED_KIND, REKEYED, RELINKED, SUPPRESSED, STRAY = (
    "recreated",
    "merged",
    "rekeyed",
    "relinked",
    "suppressed",
    "stray",
)
KINDS = (RECREATED, MERGED_KIND, REKEYED, RELINKED, SUPPRESSED, STRAY)
PRIVACY_OBJECT_TYPES = frozenset({"contacts"})


@dataclass(frozen=True)
class Repair:
    """One repair: what happened in HubSpot to one record, and what is done about it.
    Ids only: never a value."""

    kind: str
    stream: str
    source_id: str
    hubspot_id: str | None
    note: str = ""

    def describe(self) -> str:
        where = f" (HubSpot {self.hubspot_id})" if self.hubspot_id else ""
        return f"{self.kind} {self.stream} {self.source_id}{where}" + (
            f": {self.note}" if self.note else ""
        )


@dataclass
class StreamPlan:
    """The repairs of one stream, as snapshot writes and HubSpot writes."""

    stream: Stream
    forget: list[str] = field(default_factory=list)
    follow: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    unlink: list[str] = field(default_factory=list)
    suppress: list[str] = field(default_factory=list)
    rekey: dict[str, str] = field(default_factory=dict)  # HubSpot id -> its source id
    unkey: list[str] = field(default_factory=list)  # objects holding a stray key

    @property
    def resync(self) -> bool:
        """Whether the next sync of the stream has work the repairs left for it."""
        kept = any(why is None for _, why in self.follow.values())
        return bool(self.forget or self.unlink or kept or self.rekey)


@dataclass
class Report:
    """What a check found (and, once applied, did)."""

    repairs: list[Repair] = field(default_factory=list)
    plans: list[StreamPlan] = field(default_factory=list)
    checked: int = 0
    failed: int = 0

    @property
    def counts(self) -> Counter[str]:
        return Counter(r.kind for r in self.repairs)

    def resync_streams(self) -> list[Stream]:
        return [p.stream for p in self.plans if p.resync]


def _merged_ids(props: Mapping[str, object]) -> list[str]:
    return [i for i in str(props.get(MERGED_IDS_PROPERTY) or "").split(";") if i]


def _order(source_id: str) -> tuple[int, str]:
    return (len(source_id), source_id)  # numeric-looking ids in numeric order


class Reconciler:
    def __init__(
        self, drift: DriftStore, gateway: HubSpotGateway, streams: Sequence[Stream]
    ) -> None:
        self.drift = drift
        self.gateway = gateway
        self.streams = list(streams)

    # ------------------------------------------------------------------ check
    def check(
        self,
        only: Mapping[str, Collection[str]] | None = None,
        privacy: Mapping[str, Collection[str]] | None = None,
    ) -> Report:
        """Compare the snapshot with HubSpot; writes nothing.

        ``only``: check just these HubSpot ids ({object type: ids}, from webhook
        events); ``privacy``: ids HubSpot said were deleted for privacy."""
        report = Report()
        forgotten: dict[str, set[str]] = {}  # stream -> source ids created again
        for stream in self.streams:
            plan = StreamPlan(stream)
            rows = self.drift.synced(stream.name)
            if only is not None:
                wanted = set(only.get(stream.object_type, ()))
                rows = [r for r in rows if r.hubspot_id in wanted]
            report.checked += len(rows)
            erased = set((privacy or {}).get(stream.object_type, ()))
            self._check_objects(stream, rows, erased, plan, report)
            forgotten[stream.name] = set(plan.forget)
            link = stream.association
            if link is not None:
                self._check_links(stream, rows, plan, report, forgotten.get(link.parent_stream))
            report.plans.append(plan)
        return report

    def _check_objects(
        self,
        stream: Stream,
        rows: list[SyncedRow],
        erased: set[str],
        plan: StreamPlan,
        report: Report,
    ) -> None:
        kind, key = stream.object_type, stream.id_property
        name = stream.name
        for row in rows:
            if row.hubspot_id in erased and kind in PRIVACY_OBJECT_TYPES:
                plan.suppress.append(row.source_id)
                report.repairs.append(
                    Repair(SUPPRESSED, name, row.source_id, row.hubspot_id, "deleted for privacy")
                )
        rows = [r for r in rows if r.source_id not in set(plan.suppress)]
        if not rows:
            return
        found = self.gateway.read_objects(
            kind, [r.hubspot_id for r in rows], [key, MERGED_IDS_PROPERTY]
        )
        present = {o["id"]: o["properties"] for o in found}
        survivor_of = {m: o["id"] for o in found for m in _merged_ids(o["properties"])}
        missing = [r for r in rows if r.hubspot_id not in present]
        for row in missing:
            if row.hubspot_id in survivor_of:
                continue
            try:  # the merged-away id answered nothing: look for its survivor
                survivor = self.gateway.merged_into(kind, row.hubspot_id)
            except HubSpotError as exc:
                if exc.retriable or is_credential_refusal(exc):
                    raise
                survivor = None
            if survivor is not None:
                survivor_of[row.hubspot_id] = survivor
                if survivor not in present:
                    for read in self.gateway.read_objects(kind, [survivor], [key]):
                        present[read["id"]] = read["properties"]
        gone = [r for r in missing if r.hubspot_id not in survivor_of]
        binned = {
            o["id"]
            for o in (
                self.gateway.read_objects(kind, [r.hubspot_id for r in gone], [key], archived=True)
                if gone
                else []
            )
        }
        for row in gone:
            if row.hubspot_id in binned or kind not in PRIVACY_OBJECT_TYPES:
                plan.forget.append(row.source_id)
                report.repairs.append(
                    Repair(RECREATED, name, row.source_id, row.hubspot_id, "deleted in HubSpot")
                )
            else:
                plan.suppress.append(row.source_id)
                report.repairs.append(
                    Repair(
                        SUPPRESSED,
                        name,
                        row.source_id,
                        row.hubspot_id,
                        "gone for good from HubSpot (deleted for privacy)",
                    )
                )
        # every record whose object is (or was merged into) a present object
        groups: dict[str, list[SyncedRow]] = {}
        for row in rows:
            target = survivor_of.get(row.hubspot_id) or (
                row.hubspot_id if row.hubspot_id in present else None
            )
            if target is not None:
                groups.setdefault(target, []).append(row)
        for survivor, members in groups.items():
            self._settle(stream, survivor, members, present.get(survivor, {}), plan, report)
        self._check_keys(stream, rows, survivor_of, plan, report)

    def _check_keys(
        self,
        stream: Stream,
        rows: list[SyncedRow],
        survivor_of: Mapping[str, str],
        plan: StreamPlan,
        report: Report,
    ) -> None:
        """Stray keys: a record's key on an object that is not the record's own."""
        key, name = stream.id_property, stream.name
        holders = self.gateway.read(stream.object_type, key, [r.source_id for r in rows], [key])
        for row in rows:
            holder = holders.get(row.source_id)
            if holder is None or holder["id"] in (row.hubspot_id, survivor_of.get(row.hubspot_id)):
                continue
            if holder["id"] in plan.unkey:
                continue
            plan.unkey.append(holder["id"])
            report.repairs.append(
                Repair(
                    STRAY,
                    name,
                    row.source_id,
                    holder["id"],
                    f"holds the key of {name} {row.source_id}, whose object is "
                    f"{row.hubspot_id}: the key is taken off it",
                )
            )

    def _settle(
        self,
        stream: Stream,
        survivor: str,
        members: list[SyncedRow],
        props: Mapping[str, object],
        plan: StreamPlan,
        report: Report,
    ) -> None:
        name, key = stream.name, stream.id_property
        own = [m for m in members if m.hubspot_id == survivor]
        keeper = own[0] if own else min(members, key=lambda m: _order(m.source_id))
        for member in members:
            if member is keeper:
                continue
            plan.follow[member.source_id] = (survivor, MERGED)
            report.repairs.append(
                Repair(
                    MERGED_KIND,
                    name,
                    member.source_id,
                    survivor,
                    f"merged into the object of {name} {keeper.source_id}; not pushed again",
                )
            )
        if len(members) > 1 or keeper.hubspot_id != survivor:
            # the merge may have filled the survivor with the others' values: send all again
            plan.follow[keeper.source_id] = (survivor, None)
        if keeper.hubspot_id != survivor:
            report.repairs.append(
                Repair(
                    MERGED_KIND,
                    name,
                    keeper.source_id,
                    survivor,
                    f"its object {keeper.hubspot_id} was merged; follows the survivor",
                )
            )
        held = str(props.get(key) or "")
        if held != keeper.source_id:
            plan.rekey[survivor] = keeper.source_id
            note = f"held the key of {name} {held}" if held else "held no key"
            report.repairs.append(Repair(REKEYED, name, keeper.source_id, survivor, note))

    def _check_links(
        self,
        stream: Stream,
        rows: list[SyncedRow],
        plan: StreamPlan,
        report: Report,
        parents_forgotten: set[str] | None,
    ) -> None:
        link = stream.association
        assert link is not None
        name = stream.name
        changed = set(plan.forget) | set(plan.follow) | set(plan.suppress)
        relinked: set[str] = set()
        if parents_forgotten:  # a parent created again: its children are linked again
            for source_id in self.drift.children_of(name, parents_forgotten):
                if source_id not in changed:
                    relinked.add(source_id)
                    report.repairs.append(
                        Repair(RELINKED, name, source_id, None, "its parent is created again")
                    )
        linked = [r for r in rows if r.associated_to and r.source_id not in changed | relinked]
        if linked:
            parent_stream = self._stream(link.parent_stream)
            parents = {
                r.source_id: r.hubspot_id
                for r in self.drift.synced(link.parent_stream)
                if r.source_id in {row.associated_to for row in linked}
            }
            held = self.gateway.associated(
                [r.hubspot_id for r in linked],
                stream.object_type,
                parent_stream.object_type if parent_stream else "companies",
            )
            for row in linked:
                expected = parents.get(row.associated_to or "")
                if expected is None or expected in held.get(row.hubspot_id, set()):
                    continue  # its parent is being repaired, or the link is there
                relinked.add(row.source_id)
                report.repairs.append(
                    Repair(
                        RELINKED,
                        name,
                        row.source_id,
                        row.hubspot_id,
                        f"its association with {link.parent_stream} {row.associated_to} "
                        "was removed",
                    )
                )
        plan.unlink.extend(sorted(relinked, key=_order))

    def _stream(self, name: str) -> Stream | None:
        return next((s for s in self.streams if s.name == name), None)

    # ------------------------------------------------------------------ apply
    def apply(self, report: Report) -> None:
        """HubSpot first (re-keys), then the snapshot, stream by stream."""
        for plan in report.plans:
            stream = plan.stream
            if plan.unkey:  # first: a stray key would make the re-keys below refused
                outcomes = self.gateway.update_by_id(
                    stream.object_type, [(hid, {stream.id_property: ""}) for hid in plan.unkey]
                )
                for hid in plan.unkey:
                    outcome = outcomes.get(hid)
                    if outcome is None or not outcome.ok:
                        report.failed += 1
                        log.warning(
                            "%s: HubSpot refused to take a stray key off object %s (%s)",
                            stream.name,
                            hid,
                            (outcome.category if outcome else None) or "not confirmed",
                        )
            if plan.rekey:
                outcomes = self.gateway.update_by_id(
                    stream.object_type,
                    [(hid, {stream.id_property: sid}) for hid, sid in plan.rekey.items()],
                )
                for hid, sid in list(plan.rekey.items()):
                    outcome = outcomes.get(hid)
                    if outcome is None or not outcome.ok:
                        report.failed += 1
                        log.warning(
                            "%s %s: HubSpot refused its key on object %s (%s)",
                            stream.name,
                            sid,
                            hid,
                            (outcome.category if outcome else None) or "not confirmed",
                        )
            if plan.forget or plan.follow or plan.unlink or plan.suppress:
                self.drift.repair(
                    stream.name,
                    forget=plan.forget,
                    follow=plan.follow,
                    unlink=plan.unlink,
                    suppress=plan.suppress,
                )


def privacy_ids(events: Iterable[tuple[str, str, str]]) -> dict[str, set[str]]:
    """{object type: ids} of ``(subscription type, object type, object id)`` events
    that say an object was deleted for privacy."""
    found: dict[str, set[str]] = {}
    for subscription, object_type, object_id in events:
        if subscription.endswith(".privacyDeletion"):
            found.setdefault(object_type, set()).add(object_id)
    return found
