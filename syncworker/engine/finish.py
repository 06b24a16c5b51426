"""The end of a run: its finish, once every partition is done.

The worker that completes a run's last partition finishes it, once: it pushes
the changes the partitions handed over in full batches, links the records whose
parents HubSpot did not hold during their partition (so a child stream's run
finishes after the run of its parent stream), flags what a complete pass did
not see as archived (unless that is a mass archive no person confirmed), sums
the partitions' counts into the run's record and frees the stream's lock. The
parent run's end (its finish, or its abort) then finishes the child runs that
waited for it.
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
from syncworker.locks import StreamLeases
from syncworker.logs import log_context
from syncworker.redaction import redact
from syncworker.sources.registry import STREAMS
from syncworker.sources.streams import Stream
from syncworker.store.partitions import Partitions, RunView
from syncworker.store.runs import RunRecords
from syncworker.store.snapshots import SnapshotStore
from syncworker.tally import HUBSPOT, tallying

log = logging.getLogger(__name__)
# The streams whose runs wait for a stream's run, to link to its records.
CHILDREN = {
    name: [
        s.name for s in STREAMS.values() if s.association and s.association.parent_stream == name
    ]
    for name in STREAMS
}


@dataclass
class LocalRuns:
    """What this process knows of the runs it works on: shared by the starting,
    the partitions and the finish of :class:`~syncworker.engine.fanout.FanOut`."""

    dry_run: bool = False  # plan only (the run tables are then a scratch database)
    started: set[int] = field(default_factory=set)  # runs this process started (no Redis)
    streams: dict[str, Stream] = field(default_factory=dict)  # as given to start
    planned: dict[int, list[PlannedChange]] = field(default_factory=dict)  # dry runs

    def stream(self, name: str) -> Stream:
        """The stream of that name: as this process started it, else the registry's."""
        return self.streams.get(name) or STREAMS[name]


class RunFinisher:
    """Finishes runs once their partitions are done."""

    def __init__(
        self,
        store: SnapshotStore,
        partitions: Partitions,
        runs: RunRecords,
        leases: StreamLeases,
        engine_for: Callable[[Stream], SyncEngine],
        local: LocalRuns,
    ) -> None:
        self.store = store
        self.partitions = partitions
        self.runs = runs
        self.leases = leases
        self.engine_for = engine_for
        self.local = local
        # A complete pass that would archive more than this share of a stream's synced
        # records archives nothing, unless a person confirmed it (100: no guard).
        self.archive_guard_percent = 100

    def finish_ready(self, run_id: int, stream: Stream) -> list[RunResult]:
        """Finish ``run_id`` (of ``stream``) if it is ready, then the runs of child
        streams that waited for it."""
        parent = stream.association.parent_stream if stream.association else None
        if not self.partitions.claim_finish(run_id, parent, self._alive):
            return []
        try:
            finished = self._finish(run_id)
        except BaseException:
            self.finish_children_after_abort(stream.name)
            raise
        return [finished, *self.finish_children(stream.name)]

    def finish_children(self, stream_name: str) -> list[RunResult]:
        """Finish the runs of child streams that waited for a run of ``stream_name``,
        now that it has ended."""
        finished: list[RunResult] = []
        for name in CHILDREN.get(stream_name, ()):
            child = self.partitions.active_run(name)
            if child is not None:
                finished.extend(self.finish_ready(child.run_id, self.local.stream(name)))
        return finished

    def finish_children_after_abort(self, stream_name: str) -> None:
        """:meth:`finish_children` once a run of ``stream_name`` aborted: the children
        must not wait for it, and a child's own failure is logged (and recorded on its
        run), so that the parent's error is the one raised."""
        try:
            self.finish_children(stream_name)
        except Exception:
            log.exception("%s: the finish of a run that waited for it failed", stream_name)

    def result_of(self, run_id: int) -> RunResult:
        """What a run did, read back from the database (a run another worker finished)."""
        run = self.runs.get(run_id)
        result = RunResult(run.stream, run_id=run.id, mode=run.mode, status=run.status)
        for name in COUNTERS:
            result.counts[name] = int(getattr(run, name, 0) or 0)
        result.hubspot_calls = self.partitions.get(run_id).hubspot_calls
        result.source_calls, result.error = run.source_calls, run.error
        return result

    def _alive(self, run: RunView) -> bool:
        """Whether a run still marked going is alive: its lock is held (without Redis:
        this process started it)."""
        if self.leases.client is None:
            return run.run_id in self.local.started
        return self.leases.held(run.stream, run.lease)

    def _finish(self, run_id: int) -> RunResult:
        view = self.partitions.get(run_id)
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
            self.runs.finish(run_id, result.status, totals, result.error)
            self.leases.release(stream.name, view.lease)
            self.local.started.discard(run_id)
            log.info("run %s of %s: %s %s", run_id, stream.name, result.status, dict(result.counts))
        return result

    def _push_handed_over(self, engine: SyncEngine, state: RunState, view: RunView) -> None:
        """The finish's own work: the last batches, associations, what disappeared."""
        stream, run_id = state.stream, view.run_id
        changes, moves = self.partitions.handed_over(run_id)
        with engine.pushing():
            state.pending = [Pending.handed_over(stream.name, s, p) for s, p in changes.items()]
            engine.flush(state, everything=True)
            state.moves = moves
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
                seen = self.partitions.seen_ids(run_id)
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
