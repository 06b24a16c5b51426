"""The sync engine: source pages in, only what changed out to HubSpot.

No Celery here: the CLI and the Celery tasks run this same code. One call to
:meth:`SyncEngine.run` syncs one stream:

1. page through the source; compare each record, property by property, with
   its snapshot; queue what changed and push it in batches of 100;
2. write a snapshot row only after HubSpot confirmed that record (a rejected
   record stays as it was and is tried again next run);
3. associate records with their parent (a user who moved organization loses
   the old association and gains the new one);
4. after a complete pass, flag what disappeared as ``workways_archived``.
"""

from __future__ import annotations

import contextlib
import logging
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

from syncworker.engine.links import link_records
from syncworker.engine.merge import merge_by_email
from syncworker.engine.plan import CREATE, PlannedChange, plan_record
from syncworker.engine.state import (
    COUNTERS,
    ConflictPolicy,
    Pending,
    Progress,
    RunResult,
    RunState,
)
from syncworker.errors import SourceError
from syncworker.hubspot.gateway import BATCH_LIMIT, HubSpotGateway
from syncworker.hubspot.responses import UpsertRecord
from syncworker.hubspot.schema import ensure_schema
from syncworker.logs import log_context
from syncworker.mapping import ARCHIVED_PROPERTY, custom_properties
from syncworker.redaction import redact
from syncworker.store.snapshots import Confirmation, Snapshot, SnapshotStore
from syncworker.streams import Record, SourcePage, Stream
from syncworker.tally import carried

log = logging.getLogger(__name__)


class SyncEngine:
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
    ) -> None:
        self.store = store
        self.source = source
        self.gateway = gateway
        self.max_attempts = max_attempts
        self.progress = progress
        self.conflicts = conflicts
        self.source_concurrency = max(1, source_concurrency)
        self.detail_concurrency = max(1, detail_concurrency or source_concurrency)
        self.push_concurrency = max(1, push_concurrency)
        self._pushers: ThreadPoolExecutor | None = None

    # ------------------------------------------------------------------- runs
    def run(
        self,
        stream: Stream,
        *,
        full: bool = False,
        dry_run: bool = False,
        trigger: str = "cli",
        fence: int | None = None,
    ) -> RunResult:
        """Sync one stream. ``fence`` is the lock's fencing token: snapshot writes
        are refused once a newer lock holder has claimed the stream."""
        mode = "full" if full else "incremental"
        result = RunResult(stream.name, mode=mode, dry_run=dry_run)
        if not dry_run:
            if self.gateway is None:
                raise ValueError("a HubSpot gateway is needed unless dry_run is set")
            if fence is not None:
                self.store.claim_fence(stream.name, fence)
            result.run_id = self.store.start_run(stream.name, trigger, mode)
        state = RunState(stream, result, full, dry_run, fence=fence)
        calls_before = self.calls()
        with log_context(run_id=result.run_id, stream=stream.name), self.pushing(dry_run):
            self._run(state, calls_before)
        return result

    @contextlib.contextmanager
    def pushing(self, dry_run: bool = False) -> Iterator[None]:
        """Batches go out ``push_concurrency`` at a time while this is open."""
        if self.push_concurrency <= 1 or dry_run:
            yield
            return
        with ThreadPoolExecutor(self.push_concurrency, "push") as self._pushers:
            try:
                yield
            finally:
                self._pushers = None

    def _run(self, state: RunState, calls_before: tuple[Counter[str], int]) -> None:
        stream, result = state.stream, state.result
        try:
            if stream.prepare is not None:
                state.enrich = stream.prepare(self.source)
            for page in stream.pages(self.source):
                self.process_page(state, page)
            self.flush(state, everything=True)
            if stream.association is not None:
                self.associate(state)
            if state.complete:
                self.archive_missing(state)
            result.status = "finished_with_failures" if result.counts["failed"] else "succeeded"
        except BaseException as exc:  # a failure, or an interruption (Ctrl-C, shutdown)
            result.status = "aborted"
            result.error = redact(f"{type(exc).__name__}: {exc}")
            raise
        finally:
            self._finish(state, calls_before)

    def calls(self) -> tuple[Counter[str], int]:
        """HubSpot calls by kind and source calls made so far through this engine."""
        hubspot = Counter(self.gateway.calls) if self.gateway else Counter[str]()
        return hubspot, int(getattr(self.source, "calls", 0))

    def _finish(self, state: RunState, before: tuple[Counter[str], int]) -> None:
        result = state.result
        hubspot, source = self.calls()
        result.hubspot_calls = hubspot - before[0]
        result.source_calls = source - before[1]
        if result.run_id is not None:
            counts = {name: result.counts[name] for name in COUNTERS if name != "quarantined"}
            counts["hubspot_calls"] = sum(result.hubspot_calls.values())
            counts["source_calls"] = result.source_calls
            self.store.finish_run(result.run_id, result.status, counts, result.error)
        log.info(
            "run %s of %s: %s %s", result.run_id, result.stream, result.status, dict(result.counts)
        )

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
        key_field = stream.mapping.key.source
        flat = map(stream.flatten, page.items)
        if state.enrich is not None:
            flat = map(state.enrich, flat)
        records = {str(rec[key_field]): rec for rec in flat}
        state.seen.update(records)
        counts["seen"] += len(records)
        snapshots = self.store.load(stream.name, records)
        if state.holds_quarantined is None:  # asked once per run (or unit), not per page
            state.holds_quarantined = self.store.has_quarantined(stream.name)
        held = self.store.quarantined(stream.name, records) if state.holds_quarantined else set()
        passengers = stream.mapping.passenger_properties()
        yielding = stream.mapping.yielding_properties()
        wanted = {sid: rec for sid, rec in records.items() if sid not in held}
        counts["quarantined"] += len(records) - len(wanted)
        listed = {sid: stream.mapping.to_properties(rec) for sid, rec in wanted.items()}
        details = self._details(state, listed, snapshots)
        for source_id, record in wanted.items():
            snapshot = snapshots.get(source_id)
            desired = self._desired(state, source_id, record, listed[source_id], snapshot, details)
            if desired is None:
                continue
            if snapshot is not None and snapshot.merged:  # another source owns identity
                desired = {k: v for k, v in desired.items() if k not in yielding}
            change = plan_record(
                stream.name, source_id, desired, snapshot, full=state.full, passengers=passengers
            )
            if change is None:
                counts["unchanged"] += 1
            else:
                state.pending.append(Pending(change, snapshot.hubspot_id if snapshot else None))
            if stream.association is not None:
                parent = desired.get(stream.association.parent_property) or None
                current = snapshot.associated_to if snapshot else None
                if parent != current or (state.full and parent):
                    state.moves[source_id] = (current, parent)
        if not state.dry_run:
            named = [r.record_id for r in page.rejected if r.record_id]
            self.store.mark_seen(stream.name, [*records, *named], run_id=state.result.run_id)
        self.flush(state)
        if self.progress:
            self.progress(Progress(stream.name, page.page, page.pages, counts, len(state.pending)))

    def _listed_changed(
        self, state: RunState, desired: dict[str, str], snapshot: Snapshot | None
    ) -> bool:
        return (
            snapshot is None
            or state.full
            or any(snapshot.properties.get(k) != v for k, v in desired.items())
        )

    def _details(
        self, state: RunState, listed: dict[str, dict[str, str]], snapshots: dict[str, Snapshot]
    ) -> dict[str, Mapping[str, Any] | None]:
        """Detail records, fetched only for records whose listed fields changed
        (one call each, ``detail_concurrency`` at a time); None where unavailable."""
        stream = state.stream
        fetch = stream.detail
        if fetch is None or not stream.mapping.detail_fields:
            return {}
        needed = [
            sid
            for sid, desired in listed.items()
            if self._listed_changed(state, desired, snapshots.get(sid))
        ]

        def one(source_id: str) -> Mapping[str, Any] | None:
            try:
                return fetch(self.source, source_id)
            except SourceError as exc:
                if exc.retriable:
                    raise
                self._fail(state, source_id, "source", f"details unavailable: {exc}")
                return None

        with ThreadPoolExecutor(self.detail_concurrency, thread_name_prefix="details") as pool:
            found = dict(zip(needed, pool.map(carried(one), needed), strict=True))
        state.result.counts["failed"] += sum(1 for d in found.values() if d is None)
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
        return None if detail is None else mapping.to_properties(record, detail)

    # ----------------------------------------------------------------- pushes
    def flush(self, state: RunState, everything: bool = False) -> None:
        while len(state.pending) >= BATCH_LIMIT or (everything and state.pending):
            batch, state.pending = state.pending[:BATCH_LIMIT], state.pending[BATCH_LIMIT:]
            if state.dry_run:
                self._plan_only(state, [p.change for p in batch])
                continue
            batch = self._prepare(state, batch)
            if not batch:
                continue
            if self._pushers is None:
                state.result.counts.update(self._upsert(state, batch))
                continue
            while len(state.in_flight) >= self.push_concurrency:
                state.result.counts.update(state.in_flight.popleft().result())
            state.in_flight.append(self._pushers.submit(carried(self._upsert), state, batch))
        if everything:
            self.drain(state)

    def drain(self, state: RunState) -> None:
        """Wait for every batch in flight; the first failure aborts the run."""
        while state.in_flight:
            state.result.counts.update(state.in_flight.popleft().result())

    def _plan_only(self, state: RunState, changes: list[PlannedChange]) -> None:
        state.result.planned.extend(changes)
        for change in changes:
            name = {"create": "created", "update": "updated", "archive": "archived"}
            state.result.counts[name[change.action]] += 1

    def _prepare(self, state: RunState, batch: list[Pending]) -> list[Pending]:
        """Main-thread work before a batch goes out: schema, conflicts, merges."""
        assert self.gateway is not None
        stream, counts = state.stream, state.result.counts
        if stream.name not in self.gateway.schema_ready:
            with self.gateway.schema_lock:
                if stream.name not in self.gateway.schema_ready:
                    ensure_schema(self.gateway, custom_properties(stream.mapping))
                    self.gateway.schema_ready.add(stream.name)
        if self.conflicts is not None and stream.mapping.writeback_fields():
            ids = {p.change.source_id: p.hubspot_id for p in batch if p.hubspot_id}
            changes, found = self.conflicts.resolve(stream, [p.change for p in batch], ids)
            counts["conflicts"] += found
            kept = {c.source_id: c for c in changes}
            counts["unchanged"] += len(batch) - len(kept)
            batch = [
                Pending(kept[p.change.source_id], p.hubspot_id)
                for p in batch
                if p.change.source_id in kept
            ]
        if batch and stream.merge_by_email:
            batch = merge_by_email(
                self.store, self.gateway, state, batch, partial(self._fail, state)
            )
        return batch

    def _upsert(self, state: RunState, batch: list[Pending]) -> Counter[str]:
        """One upsert call and its confirmations (safe on a worker thread): the counts."""
        assert self.gateway is not None
        stream, counts = state.stream, Counter[str]()
        by_key = {p.change.source_id: p.change for p in batch}
        known = {p.hubspot_id: p.change.source_id for p in batch if p.hubspot_id}
        outcomes = self.gateway.upsert(
            stream.object_type,
            stream.id_property,
            [UpsertRecord(p.change.source_id, p.change.properties) for p in batch],
            key_by_hubspot_id=known,
        )
        confirmations = []
        for outcome in outcomes:
            change = by_key[outcome.key]
            if not outcome.ok or outcome.hubspot_id is None:
                counts["failed"] += 1
                self._fail(
                    state,
                    outcome.key,
                    "upsert",
                    outcome.message or "rejected",
                    category=outcome.category,
                    existing_id=outcome.existing_id,
                )
                continue
            newly_archived = change.properties.get(ARCHIVED_PROPERTY) == "true" and (
                change.previous.get(ARCHIVED_PROPERTY) != "true"
            )
            if change.action == "archive" or newly_archived:
                counts["archived"] += 1
            if change.action != "archive":
                counts["created" if outcome.created else "updated"] += 1
            # HubSpot created anew a record we thought it had: keep only what we sent,
            # so the next run sends the rest.
            confirmations.append(
                Confirmation(
                    outcome.key,
                    outcome.hubspot_id,
                    change.properties,
                    replace=outcome.created and change.action != CREATE,
                )
            )
        self.store.confirm(
            stream.name, confirmations, fence=state.fence, seen_run=state.result.run_id
        )
        return counts

    def _fail(
        self,
        state: RunState,
        source_id: str,
        stage: str,
        message: str,
        category: str | None = None,
        existing_id: str | None = None,
    ) -> None:
        log.warning("%s %s failed at %s: %s", state.stream.name, source_id, stage, message)
        if state.dry_run:
            return
        self.store.record_failure(
            state.stream.name,
            source_id,
            stage=stage,
            message=message,
            category=category,
            existing_id=existing_id,
            run_id=state.result.run_id,
            max_attempts=self.max_attempts,
        )

    # ----------------------------------------------------------- associations
    def associate(self, state: RunState) -> None:
        link_records(
            self.store, self.gateway, state, partial(self._fail, state), self.push_concurrency
        )

    # ---------------------------------------------------------------- archive
    def archive_missing(self, state: RunState, gone: list[str] | None = None) -> None:
        if gone is None:
            gone = self.store.unseen_active(state.stream.name, state.seen)
        if not gone:
            return
        known = self.store.hubspot_ids(state.stream.name, gone)
        state.pending = [
            Pending(
                PlannedChange(state.stream.name, sid, "archive", {ARCHIVED_PROPERTY: "true"}),
                known[sid],
            )
            for sid in gone
            if sid in known
        ]
        self.flush(state, everything=True)
