"""Partitions of a run, shared by any number of workers: the coordination.

A run of a stream is planned as partitions, ranges of source pages (a stream
that cannot split is one partition of all its pages), in ``run_partitions``.
Any worker claims a partition that is pending, or one whose worker has sent no
heartbeat for ``stale_after`` (that worker died), processes it, and completes
it in one transaction: the stream's fencing token is checked (a run a newer one
took over writes nothing), the partition's counts, page fingerprints and the
source ids it saw are recorded, and what must wait for the whole run is handed
over as ``run_items`` of two kinds: ``change`` (a change short of a full batch,
one row per record) and ``move`` (parent moves that cannot be linked yet: the
parent or the record itself is not in HubSpot yet; one row per partition). The
completion that leaves no partition to do marks the run ready, and the run is
finished exactly once (:meth:`Partitions.claim_finish`), never while a live run
of its parent stream may still create the parents its moves need. Every step is
one short transaction, so a worker killed anywhere leaves a state another
worker resumes, and a partition repeated repeats no effect: HubSpot writes go
by key or id, snapshots move only once HubSpot confirmed, and hand-over rows
are keyed.
"""

from __future__ import annotations

import dataclasses
import os
import socket
from collections import Counter
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, delete, insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from syncworker.errors import LeaseLostError
from syncworker.store.chunks import id_chunks
from syncworker.store.models import RunItem, RunPartition, StreamFence, SyncRun, utcnow
from syncworker.store.runs import ACTIVE, new_run
from syncworker.tally import HUBSPOT

WHOLE = 0  # a partition's last page when it is every page of a stream that cannot split
STALE = timedelta(minutes=5)  # no heartbeat for this long: the partition's worker died
CHANGE, MOVE = "change", "move"  # the two kinds of hand-over rows
Move = tuple[str | None, str | None]  # (old parent, new parent)


@dataclass(frozen=True)
class Claim:
    """A partition claimed by a worker, with what it needs to know of its run."""

    partition_id: int
    run_id: int
    stream: str
    first_page: int
    last_page: int
    full: bool
    fence: int | None
    lease: str | None
    planned_pages: int
    planned_total: int


@dataclass(frozen=True)
class RunView:
    """A run with its partitions' counts added up (detached from the database)."""

    run_id: int
    stream: str
    full: bool
    fence: int | None
    lease: str | None
    incomplete: bool
    partitions_total: int
    allow_mass_archive: bool = False  # a person confirmed a mass archive
    counts: Counter[str] = field(default_factory=Counter)
    hubspot_calls: Counter[str] = field(default_factory=Counter)
    duplicate_pages: tuple[tuple[int, int], ...] = ()  # (page, earlier page) with equal ids

    def add(self, recorded: Mapping[str, int]) -> None:
        for name, value in recorded.items():
            if name.startswith(HUBSPOT):
                self.hubspot_calls[name.removeprefix(HUBSPOT)] += int(value)
            else:
                self.counts[name] += int(value)


def _view(session: Session, run: SyncRun) -> RunView:
    view = RunView(
        run.id,
        run.stream,
        run.mode == "full",
        run.fence,
        run.lease,
        run.incomplete,
        run.partitions_total,
        run.allow_mass_archive,
    )
    view.add(run.outside_counts or {})  # reading page 1, before any partition
    first_seen: dict[str, int] = {}
    duplicates = []
    rows = session.scalars(
        select(RunPartition).where(RunPartition.run_id == run.id).order_by(RunPartition.seq)
    )
    for partition in rows:
        view.add(partition.counts or {})
        for page, digest in sorted(
            (partition.fingerprints or {}).items(), key=lambda kv: int(kv[0])
        ):
            if digest in first_seen:
                duplicates.append((int(page), first_seen[digest]))
            else:
                first_seen[digest] = int(page)
    return dataclasses.replace(view, duplicate_pages=tuple(duplicates))


def _claimable(now: datetime, stale_after: timedelta) -> Any:
    return (RunPartition.status == "pending") | (
        (RunPartition.status == "running") & (RunPartition.heartbeat_at < now - stale_after)
    )


class Partitions:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        clock: Callable[[], datetime] = utcnow,
        stale_after: timedelta = STALE,
    ) -> None:
        self.sessions = sessions
        self._clock = clock
        self.stale_after = stale_after
        self._beats: dict[int, datetime] = {}  # partition -> last heartbeat written here

    # ---------------------------------------------------------------- planning
    def create(
        self,
        stream: str,
        ranges: Sequence[tuple[int, int]],
        **run: Any,
    ) -> tuple[int, list[int]]:
        """A new run of ``stream`` (``run``: its row's fields) with one partition per
        page range: (run id, partition ids)."""
        with self.sessions.begin() as session:
            run_id = new_run(session, stream, self._clock(), partitions_total=len(ranges), **run)
            rows = [
                RunPartition(run_id=run_id, seq=seq, first_page=first, last_page=last, counts={})
                for seq, (first, last) in enumerate(ranges, start=1)
            ]
            session.add_all(rows)
            session.flush()
            return run_id, [p.id for p in rows]

    def active_run(self, stream: str) -> RunView | None:
        """The partitioned run of ``stream`` that has not ended, if any."""
        with self.sessions() as session:
            run = session.scalars(
                select(SyncRun)
                .where(
                    SyncRun.stream == stream,
                    SyncRun.status == ACTIVE,
                    SyncRun.partitions_total > 0,
                )
                .order_by(SyncRun.id.desc())
            ).first()
            return _view(session, run) if run is not None else None

    def take_over(self, run_id: int, fence: int | None, lease: str | None) -> list[int]:
        """Resume an interrupted run under a new lock: the ids of its partitions not done."""
        with self.sessions.begin() as session:
            run = session.get_one(SyncRun, run_id, with_for_update=True)
            run.fence, run.lease, run.finishing_at = fence, lease, None
            not_done = RunPartition.run_id == run_id, RunPartition.status != "done"
            session.execute(update(RunPartition).where(*not_done).values(status="pending"))
            return list(
                session.scalars(select(RunPartition.id).where(*not_done).order_by(RunPartition.seq))
            )

    def get(self, run_id: int) -> RunView:
        with self.sessions() as session:
            return _view(session, session.get_one(SyncRun, run_id))

    # -------------------------------------------------------------- partitions
    def claim(self, partition_id: int) -> Claim | None:
        """Start a partition; None when it is done, its run has ended, or a live
        worker is on it."""
        now = self._clock()
        with self.sessions.begin() as session:
            taken: Any = session.execute(
                update(RunPartition)
                .where(RunPartition.id == partition_id, _claimable(now, self.stale_after))
                .values(
                    status="running",
                    started_at=now,
                    heartbeat_at=now,
                    attempts=RunPartition.attempts + 1,
                    worker=f"{socket.gethostname()}:{os.getpid()}"[:128],
                )
            )
            if not taken.rowcount:
                return None
            part = session.get_one(RunPartition, partition_id)
            run = session.get_one(SyncRun, part.run_id)
            if run.status != ACTIVE:
                session.rollback()
                return None
            return Claim(
                part.id,
                run.id,
                run.stream,
                part.first_page,
                part.last_page,
                run.mode == "full",
                run.fence,
                run.lease,
                run.planned_pages or 0,
                run.planned_total or 0,
            )

    def claim_next(
        self,
        prefer_run: int | None = None,
        runs: Collection[int] | None = None,
        first_streams: Sequence[str] = (),
    ) -> Claim | None:
        """Claim any partition still to do, or None: of ``prefer_run`` first, then of
        ``first_streams`` (runs that others wait for), oldest first; of ``runs`` only."""
        rank = case(
            {name: rank for rank, name in enumerate(first_streams)},
            value=SyncRun.stream,
            else_=len(first_streams),
        )
        query = (
            select(RunPartition.id, RunPartition.run_id)
            .join(SyncRun, SyncRun.id == RunPartition.run_id)
            .where(SyncRun.status == ACTIVE, _claimable(self._clock(), self.stale_after))
            .order_by(rank if first_streams else RunPartition.run_id, RunPartition.run_id)
            .order_by(RunPartition.seq)
            .limit(50)
        )
        if runs is not None:
            query = query.where(RunPartition.run_id.in_(list(runs)))
        with self.sessions() as session:
            candidates = list(session.execute(query))
        candidates.sort(key=lambda row: row[1] != prefer_run)
        for partition_id, _ in candidates:
            if (claim := self.claim(partition_id)) is not None:
                return claim
        return None

    def heartbeat(self, partition_id: int) -> None:
        """The partition's worker is alive (called on every page; written at most
        every tenth of the staleness threshold, which is plenty to stay fresh)."""
        now = self._clock()
        last = self._beats.get(partition_id)
        if last is not None and now - last < self.stale_after / 10:
            return
        self._beats[partition_id] = now
        with self.sessions.begin() as session:
            session.execute(
                update(RunPartition).where(RunPartition.id == partition_id).values(heartbeat_at=now)
            )

    def release(self, partition_id: int) -> None:
        """Put back a partition its worker gave up on (claimed again on resume)."""
        with self.sessions.begin() as session:
            session.execute(
                update(RunPartition).where(RunPartition.id == partition_id).values(status="pending")
            )

    def complete(
        self,
        claim: Claim,
        *,
        counts: Mapping[str, int],
        fingerprints: Mapping[int, str],
        changes: Mapping[str, Mapping[str, Any]],
        moves: Mapping[str, Move],
        incomplete: bool,
        seen: Collection[str] = (),
    ) -> bool:
        """Record a done partition and what it hands over; True when it was the run's
        last. Refused (:class:`LeaseLostError`) when a newer run took the stream."""
        now = self._clock()
        with self.sessions.begin() as session:
            # The run's row first: the partitions of one run complete one at a time.
            session.execute(
                update(SyncRun)
                .where(SyncRun.id == claim.run_id)
                .values(incomplete=SyncRun.incomplete | incomplete)
            )
            current = session.scalar(
                select(StreamFence.token).where(StreamFence.stream == claim.stream)
            )
            if claim.fence is not None and current is not None and current > claim.fence:
                raise LeaseLostError(f"a newer run of {claim.stream} holds the stream")
            done: Any = session.execute(
                update(RunPartition)
                .where(RunPartition.id == claim.partition_id, RunPartition.status != "done")
                .values(
                    status="done",
                    finished_at=now,
                    counts=dict(counts),
                    fingerprints={str(page): digest for page, digest in fingerprints.items()},
                    seen=sorted(seen),
                )
            )
            if not done.rowcount:
                session.rollback()
                return False  # completed by another copy of this partition
            rows = [(CHANGE, sid, dict(payload)) for sid, payload in changes.items()]
            if moves:
                payload = {"moves": {sid: [old, new] for sid, (old, new) in moves.items()}}
                rows.append((MOVE, f"partition-{claim.partition_id}", payload))
            for kind in {kind for kind, _, _ in rows}:  # a repeated partition replaces its rows
                for chunk in id_chunks([sid for k, sid, _ in rows if k == kind]):
                    session.execute(
                        delete(RunItem).where(
                            RunItem.run_id == claim.run_id,
                            RunItem.kind == kind,
                            RunItem.source_id.in_(chunk),
                        )
                    )
            if rows:
                session.execute(
                    insert(RunItem),
                    [
                        {"run_id": claim.run_id, "kind": k, "source_id": s, "payload": p}
                        for k, s, p in rows
                    ],
                )
            left = session.scalar(
                select(RunPartition.id).where(
                    RunPartition.run_id == claim.run_id, RunPartition.status != "done"
                )
            )
            if left is not None:
                return False
            last: Any = session.execute(
                update(SyncRun)
                .where(SyncRun.id == claim.run_id, SyncRun.partitions_done_at.is_(None))
                .values(partitions_done_at=now)
            )
            return bool(last.rowcount)

    # --------------------------------------------------------------- finishing
    def claim_finish(
        self, run_id: int, parent_stream: str | None, parent_alive: Callable[[RunView], bool]
    ) -> bool:
        """Whether the caller is the one to finish ``run_id`` now: yes once, when its
        partitions are done, nobody is finishing it, and no run of ``parent_stream``
        (whose records its moves need) is going (``parent_alive`` tells whether a run
        still marked going is alive: its lock is held)."""
        parent = self.active_run(parent_stream) if parent_stream else None
        if parent is not None and parent_alive(parent):
            return False
        with self.sessions.begin() as session:
            claimed: Any = session.execute(
                update(SyncRun)
                .where(
                    SyncRun.id == run_id,
                    SyncRun.status == ACTIVE,
                    SyncRun.partitions_done_at.is_not(None),
                    SyncRun.finishing_at.is_(None),
                )
                .values(finishing_at=self._clock())
            )
            return bool(claimed.rowcount)

    def seen_ids(self, run_id: int) -> set[str]:
        """Every source id the run's completed partitions saw."""
        with self.sessions() as session:
            rows = session.scalars(select(RunPartition.seen).where(RunPartition.run_id == run_id))
            return {source_id for seen in rows for source_id in seen or ()}

    def handed_over(self, run_id: int) -> tuple[dict[str, dict[str, Any]], dict[str, Move]]:
        """What the run's partitions handed over: (changes by record, moves by record)."""
        with self.sessions() as session:
            rows = session.execute(
                select(RunItem.kind, RunItem.source_id, RunItem.payload)
                .where(RunItem.run_id == run_id)
                .order_by(RunItem.source_id)
            )
            changes: dict[str, dict[str, Any]] = {}
            moves: dict[str, Move] = {}
            for kind, source_id, payload in rows:
                if kind == CHANGE:
                    changes[source_id] = dict(payload or {})
                else:
                    moves.update({sid: (old, new) for sid, (old, new) in payload["moves"].items()})
            return changes, moves
