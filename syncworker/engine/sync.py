"""The sync engine: source pages in, only what changed out to HubSpot.

No Celery here. A run (see ``engine/fanout.py``, the one way every stream runs)
hands each page of each of its partitions to :meth:`SyncEngine.process_page`:

1. compare each record, property by property, with its snapshot; queue what
   changed and push it in batches of 100;
2. write a snapshot row only after HubSpot confirmed that record (a rejected
   record stays as it was and is tried again next run);
3. associate records with their parent (a user who moved organization loses
   the old association and gains the new one): :meth:`associate`;
4. after a complete pass, flag what disappeared as archived: :meth:`archive_missing`.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Collection, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import TYPE_CHECKING, Any

from syncworker.engine.details import DetailRefresh
from syncworker.engine.links import link_records
from syncworker.engine.plan import PlannedChange, plan_record
from syncworker.engine.pushes import BatchPusher
from syncworker.engine.state import (
    ConflictPolicy,
    Pending,
    Progress,
    RunState,
)
from syncworker.errors import SourceError, is_credential_refusal
from syncworker.hubspot.gateway import HubSpotGateway
from syncworker.hubspot.schema import SharedSchemaMemo
from syncworker.mapping import FieldValueError
from syncworker.sources.streams import Record, SourcePage, records_as_sent
from syncworker.store.drift import has_suppressed, suppressed
from syncworker.store.snapshots import Snapshot, SnapshotStore
from syncworker.tally import carried

if TYPE_CHECKING:
    from syncworker.consent.sync import ConsentSync

log = logging.getLogger(__name__)


class SyncEngine:
    """Pages of one stream in, changes out: it has a :class:`BatchPusher` for the
    batches to HubSpot."""

    def __init__(
        self,
        store: SnapshotStore,
        source: Any,
        gateway: HubSpotGateway | None,
        *,
        max_attempts: int = 5,
        progress: Callable[[Progress], None] | None = None,
        conflicts: ConflictPolicy | None = None,
        source_concurrency: int = 1,
        detail_concurrency: int | None = None,
        push_concurrency: int = 1,
        schema_memo: SharedSchemaMemo | None = None,
        consent: ConsentSync | None = None,
        adopt_by_name: bool = False,
        detail_refresh: DetailRefresh | None = None,
    ) -> None:
        self.store = store
        # DETAIL_REFRESH_HOURS: details fetched again, a few per run (engine/details.py)
        self.detail_refresh = detail_refresh or DetailRefresh()
        self.source = source
        self.gateway = gateway
        self.progress = progress
        self.source_concurrency = max(1, source_concurrency)
        self.detail_concurrency = max(1, detail_concurrency or source_concurrency)
        self.pusher = BatchPusher(
            store,
            gateway,
            conflicts,
            max_attempts=max_attempts,
            push_concurrency=push_concurrency,
            schema_memo=schema_memo,
            consent=consent,
            adopt_by_name=adopt_by_name,
        )
        self.consent = consent  # newsletter consent as a subscription status (consent/)

    # ---------------------------------------------------------------- pushing
    def pushing(self) -> contextlib.AbstractContextManager[None]:
        """Batches go out ``push_concurrency`` at a time while this is open."""
        return self.pusher.pushing()

    def flush(self, state: RunState, everything: bool = False) -> None:
        """Push every full batch waiting (and the rest too, with ``everything``)."""
        self.pusher.flush(state, everything)

    def drain(self, state: RunState) -> None:
        """Wait for every batch in flight; the first failure aborts the run."""
        self.pusher.drain(state)

    def _fail(self, state: RunState, source_id: str, stage: str, message: str, **kw: Any) -> None:
        self.pusher.fail(state, source_id, stage, message, **kw)

    # ------------------------------------------------------------------ pages
    def process_page(self, state: RunState, page: SourcePage) -> None:
        stream, counts = state.stream, state.result.counts
        for rejected in page.rejected:
            counts["failed"] += 1
            if rejected.record_id:
                state.seen.add(rejected.record_id)
            else:
                state.complete = False  # a record we cannot name: do not archive anything
            self._fail(state, rejected.record_id or f"page-{page.page}", "source", str(rejected))
        mapping = stream.mapping
        records, as_sent = self._records(state, page)
        state.seen.update(records)
        counts["seen"] += len(records)
        if state.holds_quarantined is None:  # asked once per partition, not per page
            state.holds_quarantined = self.store.failures.has_quarantined(stream.name)
        held = (
            self.store.failures.quarantined(stream.name, records)
            if state.holds_quarantined
            else set()
        )
        if state.holds_suppressed is None:  # deleted for privacy, merged away: never pushed
            state.holds_suppressed = has_suppressed(self.store.sessions, stream.name)
        if state.holds_suppressed:
            skipped = suppressed(self.store.sessions, stream.name, records)
            records = {sid: rec for sid, rec in records.items() if sid not in skipped}
        passengers = mapping.passenger_properties()
        yielding = mapping.yielding_properties()
        wanted = {sid: rec for sid, rec in records.items() if sid not in held}
        counts["quarantined"] += len(records) - len(wanted)
        # A record read exactly as when HubSpot last confirmed it needs no mapping.
        digests = {sid: mapping.source_digest(r) for sid, r in wanted.items()} if as_sent else {}
        consent = self.consent if self.consent and self.consent.covers(stream.name) else None
        if consent is not None:
            digests = {sid: consent.salt(d) for sid, d in digests.items()}
        due: set[str] = set()  # records whose details are old: fetched again
        if self._refreshes(state) and wanted:
            current, ages = self.store.current_and_ages(stream.name, digests, wanted)
            due = self.detail_refresh.due(ages, len(wanted), self.store.now())
            current = {sid: parent for sid, parent in current.items() if sid not in due}
        elif digests and not state.full:
            current = self.store.current(stream.name, digests)
        else:
            current = {}
        if current:
            counts["unchanged"] += len(current)
            self._moves_as_sent(state, wanted, current)
            wanted = {sid: rec for sid, rec in wanted.items() if sid not in current}
        listed = self._mapped(state, wanted)
        wanted = {sid: rec for sid, rec in wanted.items() if sid in listed}
        snapshots = self.store.load(stream.name, wanted) if wanted else {}
        details = self._details(state, listed, snapshots, due)
        detail_targets = mapping.detail_properties()
        fresh: dict[str, str] = {}  # details fetched, HubSpot holds them: content hash read
        noted: dict[str, tuple[str, str]] = {}  # unchanged, digest not noted yet
        for source_id, record in wanted.items():
            snapshot = snapshots.get(source_id)
            digest = digests.get(source_id)
            desired = self._desired(state, source_id, record, listed[source_id], snapshot, details)
            if desired is None:
                continue
            if consent is not None:
                desired = consent.desire(desired, snapshot.properties if snapshot else None)
            if snapshot is not None and snapshot.merged:  # another source owns identity
                desired = {k: v for k, v in desired.items() if k not in yielding}
            change = plan_record(
                stream.name, source_id, desired, snapshot, full=state.full, passengers=passengers
            )
            if details.get(source_id) is not None and snapshot is not None:
                if change is None or detail_targets.isdisjoint(change.properties):
                    fresh[source_id] = snapshot.content_hash  # (else confirm notes it)
                elif source_id in due:
                    counts["details_changed"] += 1
            if change is None:
                counts["unchanged"] += 1
                if digest and snapshot is not None and snapshot.source_digest != digest:
                    noted[source_id] = (digest, snapshot.content_hash)
            else:
                hubspot_id = snapshot.hubspot_id if snapshot else None
                state.pending.append(Pending(change, hubspot_id, digest))
            if stream.association is not None:
                parent = desired.get(stream.association.parent_property) or None
                current_parent = snapshot.associated_to if snapshot else None
                if parent != current_parent or (state.full and parent):
                    state.moves[source_id] = (current_parent, parent)
        if noted and not state.dry_run:
            self.store.record_digests(stream.name, noted, fence=state.fence)
        if fresh and not state.dry_run:
            self.store.record_details(stream.name, fresh, fence=state.fence)
        self.flush(state)
        if self.progress:
            self.progress(Progress(stream.name, page.page, page.pages, counts, len(state.pending)))

    @staticmethod
    def _records(state: RunState, page: SourcePage) -> tuple[dict[str, Record], bool]:
        """The page's records by source id, and whether they are as the API sent them."""
        stream = state.stream
        raw = records_as_sent(stream, page) if state.enrich is None else None
        flat: Iterable[Record] = raw if raw is not None else map(stream.flatten, page.items)
        if state.enrich is not None:
            flat = map(state.enrich, flat)
        key_field = stream.mapping.key.source
        return {str(rec[key_field]): rec for rec in flat}, raw is not None

    def _mapped(self, state: RunState, records: Mapping[str, Record]) -> dict[str, dict[str, str]]:
        """Each record's listed properties; a record holding a value its mapping cannot
        normalise fails alone (stage ``mapping``, naming the field) and is left out."""
        to_properties = state.stream.mapping.to_properties
        listed: dict[str, dict[str, str]] = {}
        for source_id, record in records.items():
            try:
                listed[source_id] = to_properties(record)
            except FieldValueError as exc:
                self._mapping_failed(state, source_id, exc)
        return listed

    def _mapping_failed(self, state: RunState, source_id: str, exc: FieldValueError) -> None:
        state.result.counts["failed"] += 1
        self._fail(state, source_id, "mapping", str(exc), category="BAD_VALUE")

    def _moves_as_sent(
        self, state: RunState, records: Mapping[str, Record], parents: Mapping[str, str | None]
    ) -> None:
        """Parent moves of records that need no mapping (``parents``: associated to)."""
        association = state.stream.association
        if association is None:
            return
        for source_id, associated in parents.items():
            try:
                parent = state.stream.mapping.value_of(
                    records[source_id], association.parent_property
                )
            except FieldValueError as exc:
                self._mapping_failed(state, source_id, exc)
                continue
            if (parent or None) != associated:
                state.moves[source_id] = (associated, parent or None)

    def _listed_changed(
        self, state: RunState, desired: dict[str, str], snapshot: Snapshot | None
    ) -> bool:
        return (
            snapshot is None
            or state.full
            or any(snapshot.properties.get(k) != v for k, v in desired.items())
        )

    @staticmethod
    def _refreshes(state: RunState) -> bool:
        """Whether the run fetches old details again (a full run fetches them all)."""
        stream = state.stream
        return stream.detail is not None and bool(stream.mapping.detail_fields) and not state.full

    def _details(
        self,
        state: RunState,
        listed: dict[str, dict[str, str]],
        snapshots: dict[str, Snapshot],
        due: Collection[str] = (),
    ) -> dict[str, Mapping[str, Any] | None]:
        """Detail records, fetched only for records whose listed fields changed and
        those ``due`` (old details, see engine/details.py): one call each,
        ``detail_concurrency`` at a time; None where unavailable."""
        stream = state.stream
        fetch = stream.detail
        if fetch is None or not stream.mapping.detail_fields:
            return {}
        needed = [
            sid
            for sid, desired in listed.items()
            if sid in due or self._listed_changed(state, desired, snapshots.get(sid))
        ]

        def one(source_id: str) -> Mapping[str, Any] | None:
            try:
                return fetch(self.source, source_id)
            except SourceError as exc:
                if exc.retriable or is_credential_refusal(exc):
                    raise  # the run aborts; no record is failed for a refused token
                self._fail(state, source_id, "source", f"details unavailable: {exc}")
                return None

        with ThreadPoolExecutor(self.detail_concurrency, thread_name_prefix="details") as pool:
            found = dict(zip(needed, pool.map(carried(one), needed), strict=True))
        state.result.counts["failed"] += sum(1 for d in found.values() if d is None)
        state.result.counts["details_refreshed"] += sum(
            1 for sid in due if found.get(sid) is not None
        )
        return found

    def _desired(
        self,
        state: RunState,
        source_id: str,
        record: Record,
        desired: dict[str, str],
        snapshot: Snapshot | None,
        details: dict[str, Mapping[str, Any] | None],
    ) -> dict[str, str] | None:
        """The record's HubSpot properties: ``desired`` (its listed fields) plus details."""
        mapping = state.stream.mapping
        if not mapping.detail_fields or state.stream.detail is None:
            return desired
        if source_id not in details:
            # Listed fields unchanged: keep the details HubSpot already has.
            return desired | {
                f.target: (snapshot.properties.get(f.target, "") if snapshot else "")
                for f in mapping.detail_fields
            }
        detail = details[source_id]
        if detail is None:
            return None
        try:
            return mapping.to_properties(record, detail)
        except FieldValueError as exc:
            self._mapping_failed(state, source_id, exc)
            return None

    # ----------------------------------------------------------- associations
    def associate(self, state: RunState) -> None:
        link_records(
            self.store,
            self.gateway,
            state,
            partial(self.pusher.fail, state),
            self.pusher.push_concurrency,
        )

    # ---------------------------------------------------------------- archive
    def archive_missing(self, state: RunState, gone: list[str] | None = None) -> None:
        if gone is None:
            gone = self.store.unseen_active(state.stream.name, state.seen)
        if not gone:
            return
        known = self.store.hubspot_ids(state.stream.name, gone)
        flag = state.stream.mapping.archived_property  # the source's own, on this object type
        state.pending = [
            Pending(
                PlannedChange(state.stream.name, sid, "archive", {flag: "true"}),
                known[sid],
            )
            for sid in gone
            if sid in known
        ]
        self.flush(state, everything=True)
