"""Runs split into units of work that any number of workers share.

No Celery here: the Celery tasks hand units to workers, the CLI runs them on a
few threads of its own; both call this code. A run of a stream that can fetch
a page by number (``Stream.page``) goes:

1. :meth:`FanOut.start` takes the stream's lock (a lease the run holds, not a
   process), reads the first page to learn how many there are, and records
   the run and its units (ranges of pages) in the database. A run of the same
   stream left unfinished by a dead worker is resumed instead: its units not
   done are handed out again under a new lock and fencing token.
2. :meth:`FanOut.run_unit` (any worker, any order) fetches its pages with
   bounded concurrency, checks each against what the first page announced,
   diffs and pushes full batches of 100 at once; the changes short of a full
   batch and the parent moves are handed over to the run as items.
3. The unit that completes the run's last unit finishes it (once): it pushes
   the handed-over changes in full batches, associates records with their
   parents (after the parent stream's run has ended), flags what a complete
   pass did not see as archived, sums the units' counts and frees the lock
   (see engine/finish.py, which also links a child run's moves early).

Snapshots move only after HubSpot confirmed, and every write checks the lock's
fencing token, so a repeated or resumed unit repeats no effect.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
from collections.abc import Callable, Collection, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from syncworker.engine.finish import LocalRuns, RunFinisher
from syncworker.engine.state import Progress, RunResult, RunState
from syncworker.engine.sync import SyncEngine
from syncworker.engine.unit_pages import page_fingerprint, unit_pages
from syncworker.errors import LeaseLostError
from syncworker.locks import StreamLeases
from syncworker.logs import log_context
from syncworker.redaction import redact
from syncworker.sources.registry import STREAMS
from syncworker.sources.streams import SourcePage, Stream, records_as_sent
from syncworker.store.items import CHANGE, MOVE, RunItems, moves_payload
from syncworker.store.run_views import UnitClaim
from syncworker.store.snapshots import SnapshotStore
from syncworker.store.units import WHOLE, RunUnits
from syncworker.tally import tallying

log = logging.getLogger(__name__)

# A run whose first page HubSpot holds already (at least this share of its records,
# by source digest) has little to push: it is planned in units this many times
# larger, which saves their bookkeeping; a run with much to push keeps small units,
# which spread its pushes better.
UNCHANGED_SHARE = 0.9
UNCHANGED_UNIT_FACTOR = 4
# Streams whose runs others wait for (to associate with them): their units go first.
PARENT_STREAMS = tuple(
    dict.fromkeys(s.association.parent_stream for s in STREAMS.values() if s.association)
)


@dataclass
class StartedRun:
    """A run planned (or resumed): the units to hand out, and the first one with its page."""

    stream: Stream
    run_id: int
    units: list[int]
    first_unit: int | None = None
    first_page: SourcePage | None = None
    resumed: bool = False

    def run_first(
        self,
        fanout: FanOut,
        progress: Any = None,
        *,
        keep_going: bool = False,
        runs: Collection[int] | None = None,
    ) -> list[RunResult]:
        """Work on the first unit here (it holds the first page, read already)."""
        if self.first_unit is None:
            return []
        return fanout.run_unit(
            self.first_unit,
            self.first_page,
            progress,
            keep_going=keep_going,
            runs=runs,
        )


class FanOut:
    """Plans, runs and finishes runs split into units (see the module's text)."""

    def __init__(
        self,
        store: SnapshotStore,
        units: RunUnits,
        leases: StreamLeases,
        engine_for: Callable[[Stream], SyncEngine],
        *,
        dry_run: bool = False,
        archive_guard_percent: int = 100,
    ) -> None:
        self.store = store
        self.units = units
        self.items = RunItems(units.sessions)
        self.leases = leases
        self.engine_for = engine_for
        self.local = LocalRuns(dry_run)
        self.finisher = RunFinisher(store, units, self.items, leases, engine_for, self.local)
        self.finisher.archive_guard_percent = archive_guard_percent

    # ------------------------------------------------------------------ start
    def start(
        self,
        stream: Stream,
        *,
        full: bool = False,
        trigger: str = "cli",
        allow_mass_archive: bool = False,
    ) -> StartedRun:
        """Plan a run of ``stream`` (or resume an unfinished one) under its lock.

        A stream that cannot be split (no page by number, or a ``prepare`` step
        that reads the whole source first) is one unit: all of its pages.

        Raises :class:`RunInProgressError` when another run holds the stream."""
        lease = self.leases.acquire(stream.name)
        self.local.streams[stream.name] = stream
        try:
            if lease.token is not None:
                lease = dataclasses.replace(
                    lease, token=self.store.next_fence(stream.name, lease.token)
                )
            unfinished = self.units.active_run(stream.name)
            if unfinished is not None:
                ids = self.units.take_over(unfinished.run_id, lease.token, lease.value)
                self.local.started.add(unfinished.run_id)
                log.info(
                    "resuming run %s of %s: %d of %d units to go",
                    unfinished.run_id,
                    stream.name,
                    len(ids),
                    unfinished.units_total,
                )
                if not ids:  # every unit done: only its finish is missing
                    self.finisher.finish_ready(unfinished.run_id, stream)
                return StartedRun(stream, unfinished.run_id, ids, resumed=True)
            first: SourcePage | None = None
            ranges = [(1, WHOLE)]
            with tallying() as first_calls:
                if stream.splits:
                    assert stream.page is not None
                    first = stream.page(self.engine_for(stream).source, 1)
            if first is not None:
                size = max(1, stream.pages_per_unit)
                if not full and self._first_page_unchanged(stream, first):
                    size *= UNCHANGED_UNIT_FACTOR
                last_page = max(1, first.pages)
                ranges = [(a, min(a + size - 1, last_page)) for a in range(1, last_page + 1, size)]
            parent = None
            if stream.association is not None:
                parent = self.units.active_run(stream.association.parent_stream)
            run_id, ids = self.units.create(
                stream.name,
                trigger=trigger,
                mode="full" if full else "incremental",
                ranges=ranges,
                pages=first.pages if first else None,
                total=first.total if first else None,
                fence=lease.token,
                lease=lease.value,
                after_run_id=parent.run_id if parent is not None else None,
                allow_mass_archive=allow_mass_archive,
            )
        except BaseException:
            self.leases.release(stream.name, lease.value)
            raise
        self.local.started.add(run_id)
        log.info("run %s of %s: %d units", run_id, stream.name, len(ids))
        if first_calls:  # reading page 1 is the run's work, whichever unit uses the page
            source = first_calls.pop("source", 0)
            self.units.add_outside_counts(run_id, {"source_calls": source, **first_calls})
        return StartedRun(stream, run_id, ids[1:], ids[0], first)

    def _first_page_unchanged(self, stream: Stream, first: SourcePage) -> bool:
        """Whether HubSpot holds nearly every record of the first page as read (by
        source digest): such a run has little to push and is bound by the source."""
        raw = records_as_sent(stream, first)
        if not raw:
            return False
        key, mapping = stream.mapping.key.source, stream.mapping
        digests = {str(record[key]): mapping.source_digest(record) for record in raw}
        current = self.store.current(stream.name, digests)
        return len(current) >= UNCHANGED_SHARE * len(digests)

    # ------------------------------------------------------------ in one process
    def run_here(
        self,
        streams: Sequence[Stream],
        full: bool = False,
        trigger: str = "cli",
        progress: Callable[[Progress], None] | None = None,
        width: int = 1,
        allow_mass_archive: bool = False,
    ) -> list[RunResult]:
        """Run ``streams`` here, their units on ``width`` threads: the runs of each
        source's streams side by side, one source after the other (Workways before
        Workadu: Workadu customers merge into Workways contacts)."""
        results: dict[str, RunResult] = {}
        for _, group in itertools.groupby(streams, key=lambda s: s.source):
            started: list[StartedRun] = []
            try:
                for stream in group:
                    started.append(
                        self.start(
                            stream,
                            full=full,
                            trigger=trigger,
                            allow_mass_archive=allow_mass_archive,
                        )
                    )
            finally:  # a stream held by another run: the runs started still go to the end
                for result in self.run_units(started, progress, width):
                    results[result.stream] = result
                for run in started:
                    if run.stream.name not in results:  # finished by another worker
                        results[run.stream.name] = self.finisher.result_of(run.run_id)
        return [results[s.name] for s in streams]

    def run_units(
        self,
        started: Sequence[StartedRun],
        progress: Callable[[Progress], None] | None = None,
        width: int = 1,
    ) -> list[RunResult]:
        """Every unit of ``started``, here on ``width`` threads; the runs they finished."""
        first = [run for run in started if run.first_unit is not None]
        ids = {run.run_id for run in started}
        alongside = width >= len(first)  # every first unit gets a thread of its own
        finished: list[RunResult] = []
        with ThreadPoolExecutor(width, "unit") as pool:
            futures = [
                pool.submit(run.run_first, self, progress, keep_going=alongside, runs=ids)
                for run in first
            ]
            futures += [
                pool.submit(self.run_unit, None, None, progress, runs=ids)
                for _ in range((width - len(first) if alongside else 1) if ids else 0)
            ]
            try:
                for future in futures:
                    finished.extend(future.result())
            except BaseException:
                for future in futures:
                    future.cancel()
                raise
        return finished

    # ------------------------------------------------------------------- units
    def run_unit(
        self,
        unit_id: int | None,
        first_page: SourcePage | None = None,
        progress: Callable[[Any], None] | None = None,
        *,
        keep_going: bool = True,
        runs: Collection[int] | None = None,
    ) -> list[RunResult]:
        """Work on unit ``unit_id`` (if nobody else is), then, with ``keep_going``, on
        any unit still to do (of the same run first; of ``runs`` only, when given)
        until none is left. Returns the runs this call finished.

        Units are claimed in the database, so a worker keeps a run going even if
        the broker lost the tasks naming its units, and a task whose unit is
        taken helps with another one."""
        finished: list[RunResult] = []
        claim = self.units.claim(unit_id) if unit_id is not None else None
        prefer = claim.run_id if claim is not None else None
        while True:
            if claim is None:
                if not keep_going:
                    return finished
                claim = self.units.claim_next(prefer, runs, PARENT_STREAMS)
                first_page = None
                if claim is None:
                    return finished
            finished.extend(self._run_claimed(claim, first_page, progress))
            prefer, claim = claim.run_id, None

    def _run_claimed(
        self,
        claim: UnitClaim,
        first_page: SourcePage | None,
        progress: Callable[[Any], None] | None,
    ) -> list[RunResult]:
        stream = self.local.stream(claim.stream)
        engine = self.engine_for(stream)
        engine.progress = progress
        result = RunResult(stream.name, run_id=claim.run_id, dry_run=self.local.dry_run)
        state = RunState(stream, result, claim.full, self.local.dry_run, fence=claim.fence)
        fingerprints: dict[int, str] = {}
        unit_id = claim.unit_id
        try:
            if claim.fence is not None:  # refused at once when a newer holder took the stream
                self.store.claim_fence(stream.name, claim.fence)
            with (
                log_context(run_id=claim.run_id, stream=stream.name, unit=unit_id),
                tallying() as calls,
            ):
                with engine.pushing():
                    if stream.prepare is not None:
                        state.enrich = stream.prepare(engine.source)
                    pages = (
                        iter(stream.pages(engine.source))
                        if claim.last_page == WHOLE
                        else unit_pages(engine, stream, claim, first_page)
                    )
                    for page in pages:
                        self.leases.renew(stream.name, claim.lease)
                        self.units.heartbeat(unit_id)
                        fingerprints[page.page] = page_fingerprint(page)
                        engine.process_page(state, page)
                    engine.drain(state)
                    if state.moves and stream.association is not None:
                        self.finisher.link_early(engine, state, claim)
                if self.local.dry_run:
                    self.local.planned.setdefault(claim.run_id, []).extend(result.planned)
                counts: dict[str, int] = {k: v for k, v in result.counts.items() if v}
                counts["source_calls"] = calls.pop("source", 0)
                counts.update(calls)  # hubspot:<kind>
                last = self.units.complete(
                    claim,
                    counts=counts,
                    fingerprints=fingerprints,
                    items=self._hand_over(state, unit_id),
                    incomplete=not state.complete,
                    seen=state.seen,
                )
        except LeaseLostError:
            log.warning("unit %s of run %s: a newer run holds the stream", unit_id, claim.run_id)
            raise
        except (KeyboardInterrupt, SystemExit):
            self.units.release(unit_id)  # resumed by the next run of the stream
            raise
        except BaseException as exc:
            # As in a one-process run, the first failure ends the run; what it confirmed
            # stays confirmed and the next run does the rest.
            error = redact(f"{type(exc).__name__}: {exc}")
            self.units.close(claim.run_id, "aborted", error)
            self.leases.release(stream.name, claim.lease)
            log.error(
                "run %s of %s aborted in unit %s: %s", claim.run_id, stream.name, unit_id, error
            )
            raise
        return self.finisher.finish_ready(claim.run_id, stream) if last else []

    @staticmethod
    def _hand_over(state: RunState, unit_id: int) -> list[tuple[str, str, dict[str, Any]]]:
        items: list[tuple[str, str, dict[str, Any]]] = []
        for pending in state.pending:
            change = pending.change
            payload = {
                "action": change.action,
                "properties": dict(change.properties),
                "previous": dict(change.previous),
                "hubspot_id": pending.hubspot_id,
                "digest": pending.digest,
            }
            items.append((CHANGE, change.source_id, payload))
        if state.moves:  # its moves, as one item too
            items.append((MOVE, f"unit-{unit_id}", moves_payload(state.moves)))
        return items
