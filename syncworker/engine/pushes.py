"""Batches out to HubSpot: the :class:`BatchPusher` that a sync engine has.

Changes wait in ``state.pending`` until a full batch of 100 is ready (or the
run ends); ``push_concurrency`` batches are in flight at a time. Before a batch
goes out, the main thread makes sure the schema exists, settles conflicts with
HubSpot edits and merges by e-mail; a worker thread then sends the upsert and
confirms what HubSpot accepted in the snapshot store.
"""

from __future__ import annotations

import contextlib
import logging
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import TYPE_CHECKING

from syncworker.engine.adopt import EMAIL, adopt_by_email, adopt_by_name, adoptable
from syncworker.engine.merge import merge_by_email
from syncworker.engine.plan import CREATE, PlannedChange
from syncworker.engine.state import ConflictPolicy, Pending, RunState
from syncworker.hubspot.gateway import BATCH_LIMIT, MERGED_IDS_PROPERTY, HubSpotGateway
from syncworker.hubspot.responses import RecordOutcome, UpsertRecord
from syncworker.hubspot.schema import SharedSchemaMemo, ensure_schema
from syncworker.mapping import custom_properties
from syncworker.store.snapshots import Confirmation, SnapshotStore
from syncworker.tally import carried

if TYPE_CHECKING:
    from syncworker.consent.sync import ConsentSync

log = logging.getLogger("syncworker.engine.sync")  # the engine's own log

STRAY_KEY = "STRAY_KEY"  # a record's key on an object the snapshot does not hold
# An update by id that found no object (deleted, or merged away and not answered).
LOST = frozenset({"OBJECT_NOT_FOUND"})


class BatchPusher:
    """Sends a run's changes in batches and confirms what HubSpot accepted."""

    def __init__(
        self,
        store: SnapshotStore,
        gateway: HubSpotGateway | None,
        conflicts: ConflictPolicy | None,
        *,
        max_attempts: int = 5,
        push_concurrency: int = 1,
        schema_memo: SharedSchemaMemo | None = None,
        consent: ConsentSync | None = None,
        adopt_by_name: bool = False,
    ) -> None:
        self.store = store
        # ADOPT_COMPANIES_BY_NAME: streams declaring adopt_by_name adopt by exact name
        self.adopt_by_name = adopt_by_name
        self.consent = consent  # newsletter consent as a subscription status (consent/)
        self.gateway = gateway
        self.conflicts = conflicts
        self.max_attempts = max_attempts
        self.push_concurrency = max(1, push_concurrency)
        self.schema_memo = schema_memo
        self._pushers: ThreadPoolExecutor | None = None

    @contextlib.contextmanager
    def pushing(self) -> Iterator[None]:
        """Batches go out ``push_concurrency`` at a time while this is open."""
        if self.push_concurrency <= 1:
            yield
            return
        with ThreadPoolExecutor(self.push_concurrency, "push") as self._pushers:
            try:
                yield
            finally:
                self._pushers = None

    def fail(
        self,
        state: RunState,
        source_id: str,
        stage: str,
        message: str,
        category: str | None = None,
        existing_id: str | None = None,
    ) -> None:
        """A record that failed: logged, and kept for retries (not in a dry run)."""
        log.warning("%s %s failed at %s: %s", state.stream.name, source_id, stage, message)
        if state.dry_run:
            return
        self.store.failures.record(
            state.stream.name,
            source_id,
            stage=stage,
            message=message,
            category=category,
            existing_id=existing_id,
            run_id=state.result.run_id,
            max_attempts=self.max_attempts,
        )

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

    def _adopts(self, state: RunState) -> bool:
        stream = state.stream
        return stream.adopt_by_email or (stream.adopt_by_name and self.adopt_by_name)

    def _plan_only(self, state: RunState, changes: list[PlannedChange]) -> None:
        if self._adopts(state):  # a read: shows which records would be adopted
            changes = adoptable(self.gateway, state, changes)
        state.result.planned.extend(changes)
        name = {"create": "created", "update": "updated", "archive": "archived", "adopt": "adopted"}
        for change in changes:
            state.result.counts[name[change.action]] += 1

    def _prepare(self, state: RunState, batch: list[Pending]) -> list[Pending]:
        """Main-thread work before a batch goes out: schema, conflicts, merges."""
        assert self.gateway is not None
        stream, counts = state.stream, state.result.counts
        if stream.name not in self.gateway.schema_ready:
            with self.gateway.schema_lock:
                if stream.name not in self.gateway.schema_ready:
                    definitions = custom_properties(stream.mapping)
                    if self.schema_memo is not None:  # other processes may have done it
                        self.schema_memo.ensure(self.gateway, definitions)
                    else:
                        ensure_schema(self.gateway, definitions)
                    self.gateway.schema_ready.add(stream.name)
        if self.conflicts is not None and stream.mapping.writeback_fields():
            ids = {p.change.source_id: p.hubspot_id for p in batch if p.hubspot_id}
            changes, found = self.conflicts.resolve(stream, [p.change for p in batch], ids)
            counts["conflicts"] += found
            kept = {c.source_id: c for c in changes}
            counts["unchanged"] += len(batch) - len(kept)
            resolved = []
            for p in batch:
                change = kept.get(p.change.source_id)
                if change is None:
                    continue
                # A change cut short by a conflict leaves HubSpot short of the source record.
                whole = change.properties == p.change.properties
                resolved.append(Pending(change, p.hubspot_id, p.digest if whole else None))
            batch = resolved
        if batch and stream.adopt_by_name and self.adopt_by_name:
            batch = adopt_by_name(self.store, self.gateway, state, batch, partial(self.fail, state))
        if batch and stream.merge_by_email:
            batch = merge_by_email(
                self.store, self.gateway, state, batch, partial(self.fail, state)
            )
        return batch

    def _upsert(self, state: RunState, batch: list[Pending]) -> Counter[str]:
        """One upsert call and its confirmations (safe on a worker thread): the counts."""
        assert self.gateway is not None
        stream, counts = state.stream, Counter[str]()
        consent = self.consent if self.consent and self.consent.covers(stream.name) else None
        only: list[Pending] = []
        wanted: dict[str, str] = {}
        if consent is not None:  # subscription statuses go their own way (consent/)
            batch, only, wanted = consent.split(batch)
        if stream.adopt_by_email:
            batch = self._settle_new_emails(state, batch, counts)
        by_key = {p.change.source_id: p.change for p in batch}
        digests = {p.change.source_id: p.digest for p in batch}
        # Keys stay with their records: a record HubSpot holds is updated by the id the
        # snapshot has for it, never by its key (which a copied or imported key on
        # another object would steer there). Only new records are upserted by key.
        held = [p for p in batch if p.hubspot_id]
        outcomes, lost = self._update_held(state, held) if held else ([], [])
        rehomed = {o.key for o in outcomes if o.ok and o.hubspot_id != _held_id(held, o.key)}
        fresh = [p for p in batch if not p.hubspot_id] + lost
        outcomes += self._upsert_new(state, fresh, counts) if fresh else []
        # A change carrying a detail property carries the details as just fetched.
        details = stream.mapping.detail_properties()
        confirmations = []
        for outcome in outcomes:
            change = by_key[outcome.key]
            if not outcome.ok or outcome.hubspot_id is None:
                counts["failed"] += 1
                self.fail(
                    state,
                    outcome.key,
                    "upsert",
                    outcome.message or "rejected",
                    category=outcome.category,
                    existing_id=outcome.existing_id,
                )
                continue
            flag = stream.mapping.archived_property
            newly_archived = change.properties.get(flag) == "true" and (
                change.previous.get(flag) != "true"
            )
            if change.action == "archive" or newly_archived:
                counts["archived"] += 1
            if change.action != "archive":
                counts["created" if outcome.created else "updated"] += 1
            # HubSpot created anew a record we thought it had: keep only what we sent
            # (and no source digest), so the next run sends the rest.
            anew = (outcome.created and change.action != CREATE) or outcome.key in rehomed
            confirmations.append(
                Confirmation(
                    outcome.key,
                    outcome.hubspot_id,
                    change.properties,
                    replace=anew,
                    source_digest=None if anew else digests[outcome.key],
                    details=not details.isdisjoint(change.properties),
                )
            )
        refused: dict[str, str] = {}
        if consent is not None:
            confirmations, refused = consent.settle(state, wanted, only, confirmations, counts)
        self.store.confirm(stream.name, confirmations, fence=state.fence)
        for source_id, message in refused.items():  # after confirm, which clears failures
            counts["failed"] += 1
            self.fail(state, source_id, "consent", message, category="CONSENT")
        return counts

    def _settle_new_emails(
        self, state: RunState, batch: list[Pending], counts: Counter[str]
    ) -> list[Pending]:
        """Known records whose e-mail changed: a contact may hold the new e-mail
        already (a clash, see engine/adopt.py), so those few are looked up first."""
        moving = [p for p in batch if p.hubspot_id and p.change.properties.get(EMAIL)]
        if not moving:
            return batch
        fail = partial(self.fail, state)
        settled = adopt_by_email(self.store, self.gateway, state, moving, fail, counts)
        others = [p for p in batch if not (p.hubspot_id and p.change.properties.get(EMAIL))]
        return others + settled

    def _upsert_new(
        self, state: RunState, fresh: list[Pending], counts: Counter[str]
    ) -> list[RecordOutcome]:
        """Upsert records HubSpot holds no object for. A stream that adopts by e-mail
        sends them as they are; only a batch HubSpot refuses for an e-mail it holds
        already (409) costs a look-up (see engine/adopt.py), then the rest goes again."""
        assert self.gateway is not None
        stream = state.stream

        def upsert(pendings: list[Pending], *, split_conflicts: bool = True) -> list[RecordOutcome]:
            assert self.gateway is not None
            records = [UpsertRecord(p.change.source_id, p.change.properties) for p in pendings]
            return self.gateway.upsert(
                stream.object_type, stream.id_property, records, split_conflicts=split_conflicts
            )

        if not stream.adopt_by_email:
            return upsert(fresh)
        outcomes: list[RecordOutcome] = upsert(fresh, split_conflicts=False)
        if not outcomes or not all(o.category == "CONFLICT" for o in outcomes):
            return outcomes
        fail = partial(self.fail, state)
        rest = adopt_by_email(self.store, self.gateway, state, fresh, fail, counts)
        return upsert(rest) if rest else []

    def _update_held(
        self, state: RunState, held: list[Pending]
    ) -> tuple[list[RecordOutcome], list[Pending]]:
        """Update by id the records the snapshot holds an object for: (their outcomes,
        the records whose object is gone and whose key no other object holds: the
        upsert creates them again). A gone object's key found on a merge's survivor
        follows the survivor; found on any other object, it is a stray key (copied,
        imported): the record fails, nothing is written there."""
        assert self.gateway is not None
        stream = state.stream
        outcomes = self.gateway.update_records(
            stream.object_type,
            [
                (p.hubspot_id or "", UpsertRecord(p.change.source_id, p.change.properties))
                for p in held
            ],
        )
        missing = {o.key for o in outcomes if not o.ok and o.category in LOST}
        if not missing:
            return outcomes, []
        kept = [o for o in outcomes if o.key not in missing]
        pending = {p.change.source_id: p for p in held if p.change.source_id in missing}
        holders = self.gateway.read(
            stream.object_type, stream.id_property, sorted(missing), [MERGED_IDS_PROPERTY]
        )
        lost: list[Pending] = []
        survivors: list[tuple[str, UpsertRecord]] = []
        for source_id, p in pending.items():
            holder = holders.get(source_id)
            if holder is None:
                lost.append(p)
                continue
            merged = str(holder["properties"].get(MERGED_IDS_PROPERTY) or "").split(";")
            if p.hubspot_id in merged:
                survivors.append((holder["id"], UpsertRecord(source_id, p.change.properties)))
                continue
            kept.append(
                RecordOutcome.failed(
                    source_id,
                    f"its HubSpot object {p.hubspot_id} is gone and object {holder['id']} "
                    "holds its key (copied or imported): nothing written there; see "
                    "syncworker reconcile --dry-run",
                    STRAY_KEY,
                )
            )
        if survivors:
            kept += self.gateway.update_records(stream.object_type, survivors)
        return kept, lost


def _held_id(held: list[Pending], key: str) -> str | None:
    return next((p.hubspot_id for p in held if p.change.source_id == key), None)
