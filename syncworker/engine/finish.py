"""The end of a run split into units: its finish, and its links to a parent stream.

The unit that completes a run's last unit finishes it, once: it pushes the
changes the units handed over, associates the records with their parents (once
the parent stream's run has ended), flags what a complete pass did not see as
archived, sums the units' counts and frees the stream's lock.

Associations cannot be made before the parent's HubSpot ids are known, so the
moves of a child run (users, whose parents are organizations) wait for the
parent run. As soon as that run's finish has pushed its last batches, and before
it lets go of its stream, its finisher links every whole batch the child's units
have handed over so far, while the child's last units still run; the child's
units that end later link theirs themselves. So the associations go out beside
the child's last upserts, not all after them. Work done for a run outside its
units is added to the run's row (``outside_counts``), which its finish counts in.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from syncworker.engine.plan import PlannedChange
from syncworker.engine.state import COUNTERS, Pending, RunResult, RunState
from syncworker.engine.sync import SyncEngine
from syncworker.errors import PaginationLoopError
from syncworker.hubspot.gateway import ASSOCIATION_BATCH_LIMIT
from syncworker.locks import StreamLeases
from syncworker.logs import log_context
from syncworker.redaction import redact
from syncworker.sources.registry import STREAMS
from syncworker.sources.streams import Stream
from syncworker.store.items import CHANGE, MOVE, RunItems
from syncworker.store.run_views import RunView, UnitClaim
from syncworker.store.snapshots import SnapshotStore
from syncworker.store.units import RunUnits
from syncworker.tally import HUBSPOT, tallying

log = logging.getLogger(__name__)


@dataclass
class LocalRuns:
    """What this process knows of the runs it works on: shared by the starting,
    the units and the finish of :class:`~syncworker.engine.fanout.FanOut`."""

    dry_run: bool = False  # plan only (the run tables are then a scratch database)
    started: set[int] = field(default_factory=set)  # runs this process started (no Redis)
    streams: dict[str, Stream] = field(default_factory=dict)  # as given to start
    planned: dict[int, list[PlannedChange]] = field(default_factory=dict)  # dry runs

    def stream(self, name: str) -> Stream:
        """The stream of that name: as this process started it, else the registry's."""
        return self.streams.get(name) or STREAMS[name]


class RunFinisher:
    """Finishes runs once their units are done, and links a child run's moves early."""

    def __init__(
        self,
        store: SnapshotStore,
        units: RunUnits,
        items: RunItems,
        leases: StreamLeases,
        engine_for: Callable[[Stream], SyncEngine],
        local: LocalRuns,
    ) -> None:
        self.store = store
        self.units = units
        self.items = items
        self.leases = leases
        self.engine_for = engine_for
        self.local = local
        self.link_batch = ASSOCIATION_BATCH_LIMIT  # moves linked during a run: whole batches
        # A complete pass that would archive more than this share of a stream's synced
        # records archives nothing, unless a person confirmed it (100: no guard).
        self.archive_guard_percent = 100

    # ------------------------------------------------------------------ links
    def link_early(self, engine: SyncEngine, state: RunState, claim: UnitClaim) -> None:
        """Once the parent run has ended, moves need not wait for the finish: hand
        them over now and link every whole batch waiting (see store/items.py)."""
        assert state.stream.association is not None
        self.units.adopt_parent(claim.run_id, state.stream.association.parent_stream)
        if not self.units.parent_ended(claim.run_id):
            return
        self.items.hand_over_moves(claim.run_id, f"unit-{claim.unit_id}", state.moves)
        self._link_whole_batches(engine, state, claim.run_id)

    def _link_whole_batches(self, engine: SyncEngine, state: RunState, run_id: int) -> None:
        while taken := self.items.take_moves(run_id, self.link_batch):
            label, state.moves = taken
            engine.associate(state)
            self.items.drop(run_id, MOVE, [label])
        state.moves = {}

    def _link_for_child(self, run_id: int) -> None:
        """Link the whole batches a child run still going has handed over while it
        waited for its parent (finishing now); its finish links what is left.

        Best effort: on a failure the batches taken stay for the child's finish."""
        view = self.units.get(run_id)
        stream = self.local.stream(view.stream)
        result = RunResult(stream.name, run_id=run_id, dry_run=self.local.dry_run)
        state = RunState(stream, result, view.full, self.local.dry_run, fence=view.fence)
        engine = self.engine_for(stream)
        with log_context(run_id=run_id, stream=stream.name), tallying() as calls:
            try:
                with engine.pushing():
                    self._link_whole_batches(engine, state, run_id)
            except Exception as exc:  # noqa: BLE001 - the child's finish links them
                log.warning(
                    "run %s: linking left to its finish: %s",
                    run_id,
                    redact(f"{type(exc).__name__}: {exc}"),
                )
            finally:
                tally = result.counts + calls  # (adding Counters drops the zeros)
                if tally and not self.units.add_outside_counts(run_id, tally):
                    log.warning("run %s: finishing already; not counted: %s", run_id, tally)

    # ----------------------------------------------------------------- finish
    def finish_ready(self, run_id: int, stream: Stream | None = None) -> list[RunResult]:
        """Finish ``run_id`` (of ``stream``) if it is ready, then the runs that waited
        for it (those know their parent run already, so need no ``stream``)."""
        if stream is not None and stream.association is not None:
            self.units.adopt_parent(run_id, stream.association.parent_stream)
        if not self.units.claim_finish(run_id, self._parent_active):
            return []
        finished = [self._finish(run_id)]
        for child, units_done in self.units.children(run_id):
            if units_done:
                finished.extend(self.finish_ready(child))
        return finished

    def result_of(self, run_id: int) -> RunResult:
        """What a run did, read back from the database (a run another worker finished)."""
        run = self.units.get_run(run_id)
        result = RunResult(run.stream, run_id=run.id, mode=run.mode, status=run.status)
        for name in COUNTERS:
            result.counts[name] = int(getattr(run, name, 0) or 0)
        result.hubspot_calls = self.units.get(run_id).hubspot_calls
        result.source_calls, result.error = run.source_calls, run.error
        return result

    def _parent_active(self, parent: RunView) -> bool:
        if self.leases.client is None:
            return parent.run_id in self.local.started
        return self.leases.held(parent.stream, parent.lease)

    def _finish(self, run_id: int) -> RunResult:
        view = self.units.get(run_id)
        stream = self.local.stream(view.stream)
        engine = self.engine_for(stream)
        result = RunResult(
            stream.name,
            run_id=run_id,
            mode="full" if view.full else "incremental",
            dry_run=self.local.dry_run,
            planned=self.local.planned.pop(run_id, []),
        )
        state = RunState(stream, result, view.full, self.local.dry_run, fence=view.fence)
        try:
            with log_context(run_id=run_id, stream=stream.name), tallying() as calls:
                self._push_handed_over(engine, state, view)
            # Every parent id is known now; the run still holds its stream, so no child
            # run can begin its finish (and link the same moves) meanwhile.
            for child, units_done in self.units.children(run_id):
                if not units_done:
                    self._link_for_child(child)
            failed = view.counts["failed"] + result.counts["failed"]
            held = result.error is not None  # a mass archive waits for a person
            result.status = "finished_with_failures" if failed or held else "succeeded"
        except BaseException as exc:
            result.status = "aborted"
            result.error = redact(f"{type(exc).__name__}: {exc}")
            raise
        finally:
            result.counts.update(view.counts)
            result.hubspot_calls = view.hubspot_calls + Counter(
                {k.removeprefix(HUBSPOT): n for k, n in calls.items() if k.startswith(HUBSPOT)}
            )
            result.source_calls = result.counts.pop("source_calls", 0)
            totals = {name: result.counts[name] for name in COUNTERS if name != "quarantined"}
            totals["hubspot_calls"] = sum(result.hubspot_calls.values())
            totals["source_calls"] = result.source_calls
            self.units.finish(run_id, result.status, totals, result.error)
            self.items.drop_all(run_id)
            self.leases.release(stream.name, view.lease)
            self.local.started.discard(run_id)
            log.info("run %s of %s: %s %s", run_id, stream.name, result.status, dict(result.counts))
        return result

    def _push_handed_over(self, engine: SyncEngine, state: RunState, view: RunView) -> None:
        """The finish's own work: the last batches, associations, what disappeared."""
        stream, run_id = state.stream, view.run_id
        with engine.pushing():
            state.pending = [
                Pending(
                    PlannedChange(stream.name, sid, p["action"], p["properties"], p["previous"]),
                    p["hubspot_id"],
                    p.get("digest"),
                )
                for sid, p in self.items.get(run_id, CHANGE).items()
            ]
            engine.flush(state, everything=True)
            state.moves = self.items.moves(run_id)
            if stream.association is not None:
                engine.associate(state)
            if view.duplicate_pages:
                page, earlier = view.duplicate_pages[0]
                raise PaginationLoopError(
                    f"{stream.name} page {page}: same record ids as page {earlier}; "
                    "the source ignores the page number; nothing archived"
                )
            if view.incomplete:
                log.warning("%s: a page was unreadable; nothing archived", stream.name)
            else:
                seen = self.units.seen_ids(run_id)
                gone = self.store.unseen_active(stream.name, seen)
                held = self._mass_archive(stream, len(gone), view)
                if held:
                    log.warning("%s", held)
                    state.result.error = held
                else:
                    engine.archive_missing(state, gone)

    def _mass_archive(self, stream: Stream, gone: int, view: RunView) -> str | None:
        """Why archiving ``gone`` records of ``stream`` must wait for a person, if so."""
        if not gone or view.allow_mass_archive or self.archive_guard_percent >= 100:
            return None
        synced = self.store.active_count(stream.name)
        if gone * 100 <= self.archive_guard_percent * synced:
            return None
        return (
            f"{stream.name}: {gone} of {synced} synced records would be archived, more than "
            f"ARCHIVE_GUARD_PERCENT={self.archive_guard_percent}%; nothing archived. If the "
            "source really lost them, run `syncworker sync --allow-mass-archive`"
        )
