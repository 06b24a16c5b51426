"""Runs of a stream over its partitions: the one way every stream runs.

No Celery here: the Celery tasks hand partitions to workers, the CLI runs them
on a few threads of its own; both call this code. A run goes:

1. :meth:`FanOut.start` takes the stream's lock (a lease the run holds, not a
   process), reads the first page to learn how many there are (a stream that
   cannot split is one partition of all its pages) and records the run and its
   partitions (``store/partitions.py``, the coordination between workers). A run
   of the same stream left unfinished by a dead worker is resumed instead: its
   partitions not done are handed out again under a new lock and fencing token.
2. :meth:`FanOut.run_partition` (any worker, any order) fetches its pages with
   bounded concurrency, checks each against what the first page announced,
   diffs and pushes full batches of 100 at once, then links its records to
   parents HubSpot holds. Changes short of a full batch, and moves to parents
   HubSpot does not hold yet, are handed over to the run.
3. The worker that completes the run's last partition finishes it, once
   (``engine/finish.py``): it pushes what was handed over, flags what a complete
   pass did not see as archived, sums the partitions' counts, frees the lock.

Snapshots move only after HubSpot confirmed, and every write checks the lock's
fencing token, so a repeated or resumed partition repeats no effect.
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
from syncworker.engine.partition_pages import page_fingerprint, partition_pages
from syncworker.engine.state import Progress, RunResult, RunState
from syncworker.engine.sync import SyncEngine
from syncworker.errors import LeaseLostError
from syncworker.locks import StreamLeases
from syncworker.logs import log_context
from syncworker.redaction import redact
from syncworker.sources.registry import STREAMS
from syncworker.sources.streams import SourcePage, Stream, records_as_sent
from syncworker.store.partitions import WHOLE, Claim, Move, Partitions
from syncworker.store.runs import RunRecords
from syncworker.store.snapshots import SnapshotStore
from syncworker.tally import tallying

log = logging.getLogger(__name__)

# A run whose first page HubSpot holds already (at least this share of its records,
# by source digest) has little to push: it is planned in partitions this many times
# larger, which saves their bookkeeping; a run with much to push keeps small ones,
# which spread its pushes better.
UNCHANGED_SHARE = 0.9
UNCHANGED_PARTITION_FACTOR = 4
# Streams whose runs others wait for (to associate with them): their partitions go first.
PARENT_STREAMS = tuple(
    dict.fromkeys(s.association.parent_stream for s in STREAMS.values() if s.association)
)


@dataclass
class StartedRun:
    """A run planned (or resumed): the partitions to hand out, and the first one with
    its page."""

    stream: Stream
    run_id: int
    partitions: list[int]
    first_partition: int | None = None
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
        """Work on the first partition here (it holds the first page, read already)."""
        if self.first_partition is None:
            return []
        return fanout.run_partition(
            self.first_partition,
            self.first_page,
            progress,
            keep_going=keep_going,
            runs=runs,
        )


class FanOut:
    """Plans, runs and finishes runs over partitions (see the module's text)."""

    def __init__(
        self,
        store: SnapshotStore,
        partitions: Partitions,
        leases: StreamLeases,
        engine_for: Callable[[Stream], SyncEngine],
        *,
        dry_run: bool = False,
        archive_guard_percent: int = 100,
    ) -> None:
        self.store = store
        self.partitions = partitions
        self.runs = RunRecords(partitions.sessions)
        self.leases = leases
        self.engine_for = engine_for
        self.local = LocalRuns(dry_run)
        self.finisher = RunFinisher(store, partitions, self.runs, leases, engine_for, self.local)
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
        that reads the whole source first) is one partition: all of its pages.

        Raises :class:`RunInProgressError` when another run holds the stream."""
        lease = self.leases.acquire(stream.name)
        self.local.streams[stream.name] = stream
        try:
            if lease.token is not None:
                lease = dataclasses.replace(
                    lease, token=self.store.next_fence(stream.name, lease.token)
                )
            unfinished = self.partitions.active_run(stream.name)
            if unfinished is not None:
                ids = self.partitions.take_over(unfinished.run_id, lease.token, lease.value)
                self.local.started.add(unfinished.run_id)
                log.info(
                    "resuming run %s of %s: %d of %d partitions to go",
                    unfinished.run_id,
                    stream.name,
                    len(ids),
                    unfinished.partitions_total,
                )
                if not ids:  # every partition done: only its finish is missing
                    self.finisher.finish_ready(unfinished.run_id, stream)
                return StartedRun(stream, unfinished.run_id, ids, resumed=True)
            first: SourcePage | None = None
            ranges = [(1, WHOLE)]
            with tallying() as first_calls:
                if stream.splits:
                    assert stream.page is not None
                    first = stream.page(self.engine_for(stream).source, 1)
            if first is not None:
                size = max(1, stream.pages_per_partition)
                if not full and self._first_page_unchanged(stream, first):
                    size *= UNCHANGED_PARTITION_FACTOR
                last_page = max(1, first.pages)
                ranges = [(a, min(a + size - 1, last_page)) for a in range(1, last_page + 1, size)]
            # Reading page 1 is the run's work, whichever partition uses the page.
            source = first_calls.pop("source", 0)
            run_id, ids = self.partitions.create(
                stream.name,
                ranges,
                trigger=trigger,
                mode="full" if full else "incremental",
                planned_pages=first.pages if first else None,
                planned_total=first.total if first else None,
                fence=lease.token,
                lease=lease.value,
                allow_mass_archive=allow_mass_archive,
                outside_counts={"source_calls": source, **first_calls} if source else None,
            )
        except BaseException:
            self.leases.release(stream.name, lease.value)
            raise
        self.local.started.add(run_id)
        log.info("run %s of %s: %d partitions", run_id, stream.name, len(ids))
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
        """Run ``streams`` here, their partitions on ``width`` threads: the runs of each
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
                for result in self.run_partitions(started, progress, width):
                    results[result.stream] = result
                for run in started:
                    if run.stream.name not in results:  # finished by another worker
                        results[run.stream.name] = self.finisher.result_of(run.run_id)
        return [results[s.name] for s in streams]

    def run_partitions(
        self,
        started: Sequence[StartedRun],
        progress: Callable[[Progress], None] | None = None,
        width: int = 1,
        *,
        help_others: bool = False,
    ) -> list[RunResult]:
        """Every partition of ``started``, here on ``width`` threads; the runs they
        finished. With ``help_others`` (a worker), threads with no partition of
        ``started`` left take those of any run, the runs others wait for first."""
        first = [run for run in started if run.first_partition is not None]
        own = {run.run_id for run in started}
        ids = None if help_others else own
        alongside = width >= len(first)  # every first partition gets a thread of its own
        finished: list[RunResult] = []
        with ThreadPoolExecutor(width, "partition") as pool:
            if alongside:
                # Claimed here, before a helper thread looks for work, so that each is
                # read by the thread holding its first page (read at planning).
                claims = [
                    (self.partitions.claim(r.first_partition), r)
                    for r in started
                    if r.first_partition is not None
                ]
                futures = [
                    pool.submit(self._work_from, claim, run.first_page, progress, runs=ids)
                    for claim, run in claims
                ]
            else:  # one after the other; the one helper thread queues behind them
                futures = [
                    pool.submit(run.run_first, self, progress, keep_going=False, runs=ids)
                    for run in first
                ]
            futures += [
                pool.submit(self.run_partition, None, None, progress, runs=ids)
                for _ in range((width - len(first) if alongside else 1) if own else 0)
            ]
            try:
                for future in futures:
                    finished.extend(future.result())
            except BaseException:
                for future in futures:
                    future.cancel()
                raise
        return finished

    # -------------------------------------------------------------- partitions
    def run_partition(
        self,
        partition_id: int | None,
        first_page: SourcePage | None = None,
        progress: Callable[[Any], None] | None = None,
        *,
        keep_going: bool = True,
        runs: Collection[int] | None = None,
    ) -> list[RunResult]:
        """Work on partition ``partition_id`` (if nobody else is), then, with
        ``keep_going``, on any partition still to do (of the same run first; of
        ``runs`` only, when given) until none is left. Returns the runs this call
        finished.

        Partitions are claimed in the database, so a worker keeps a run going even
        if the broker lost the tasks naming them, and a task whose partition is
        taken helps with another one."""
        claim = self.partitions.claim(partition_id) if partition_id is not None else None
        return self._work_from(claim, first_page, progress, keep_going=keep_going, runs=runs)

    def _work_from(
        self,
        claim: Claim | None,
        first_page: SourcePage | None,
        progress: Callable[[Any], None] | None,
        *,
        keep_going: bool = True,
        runs: Collection[int] | None = None,
    ) -> list[RunResult]:
        """Work on ``claim`` (when made), then as :meth:`run_partition` says."""
        finished: list[RunResult] = []
        prefer = claim.run_id if claim is not None else None
        while True:
            if claim is None:
                if not keep_going:
                    return finished
                claim = self.partitions.claim_next(prefer, runs, PARENT_STREAMS)
                first_page = None
                if claim is None:
                    return finished
            finished.extend(self._run_claimed(claim, first_page, progress))
            prefer, claim = claim.run_id, None

    def _run_claimed(
        self,
        claim: Claim,
        first_page: SourcePage | None,
        progress: Callable[[Any], None] | None,
    ) -> list[RunResult]:
        stream = self.local.stream(claim.stream)
        engine = self.engine_for(stream)
        engine.progress = progress
        result = RunResult(stream.name, run_id=claim.run_id, dry_run=self.local.dry_run)
        state = RunState(stream, result, claim.full, self.local.dry_run, fence=claim.fence)
        fingerprints: dict[int, str] = {}
        partition_id = claim.partition_id
        try:
            if claim.fence is not None:  # refused at once when a newer holder took the stream
                self.store.claim_fence(stream.name, claim.fence)
            with (
                log_context(run_id=claim.run_id, stream=stream.name, partition=partition_id),
                tallying() as calls,
            ):
                with engine.pushing():
                    if stream.prepare is not None:
                        state.enrich = stream.prepare(engine.source)
                    pages = (
                        iter(stream.pages(engine.source))
                        if claim.last_page == WHOLE
                        else partition_pages(engine, stream, claim, first_page)
                    )
                    for page in pages:
                        self.leases.renew(stream.name, claim.lease)
                        self.partitions.heartbeat(partition_id)
                        fingerprints[page.page] = page_fingerprint(page)
                        engine.process_page(state, page)
                    engine.drain(state)
                    waiting = self._link_what_hubspot_holds(engine, state)
                if self.local.dry_run:
                    self.local.planned.setdefault(claim.run_id, []).extend(result.planned)
                counts: dict[str, int] = {k: v for k, v in result.counts.items() if v}
                counts["source_calls"] = calls.pop("source", 0)
                counts.update(calls)  # hubspot:<kind>
                last = self.partitions.complete(
                    claim,
                    counts=counts,
                    fingerprints=fingerprints,
                    changes={p.change.source_id: p.hand_over() for p in state.pending},
                    moves=waiting,
                    incomplete=not state.complete,
                    seen=state.seen,
                )
        except LeaseLostError:
            log.warning(
                "partition %s of run %s: a newer run holds the stream", partition_id, claim.run_id
            )
            raise
        except (KeyboardInterrupt, SystemExit):
            self.partitions.release(partition_id)  # resumed by the next run of the stream
            raise
        except BaseException as exc:
            # The first failure ends the run; what it confirmed stays confirmed and the
            # next run does the rest.
            error = redact(f"{type(exc).__name__}: {exc}")
            self.runs.close(claim.run_id, "aborted", error)
            self.leases.release(stream.name, claim.lease)
            log.error(
                "run %s of %s aborted in partition %s: %s",
                claim.run_id,
                stream.name,
                partition_id,
                error,
            )
            self.finisher.finish_children_after_abort(stream.name)
            raise
        return self.finisher.finish_ready(claim.run_id, stream) if last else []

    def _link_what_hubspot_holds(self, engine: SyncEngine, state: RunState) -> dict[str, Move]:
        """Link the partition's records to their parents now where HubSpot holds both;
        the moves that must wait (a parent not created yet, a record still in a
        partial batch) are returned, for the run's finish."""
        link = state.stream.association
        if link is None or not state.moves:
            return {}
        unsent = {p.change.source_id for p in state.pending}
        parents = self.store.hubspot_ids(
            link.parent_stream, {n for _, n in state.moves.values() if n}
        )
        moves, waiting = state.moves, {}
        for source_id, move in moves.items():
            if source_id in unsent or (move[1] is not None and move[1] not in parents):
                waiting[source_id] = move
        state.moves = {sid: move for sid, move in moves.items() if sid not in waiting}
        engine.associate(state)
        state.moves = {}
        return waiting
