"""Runs split into units of work: the database side.

A run of a stream is planned as units (ranges of source pages). Any worker
claims a unit, processes it, and hands over what must wait for the whole run
(changes short of a full batch, parent moves) as run items. The unit whose
completion leaves none pending marks the run's units done; the run is then
finished exactly once (:meth:`RunUnits.claim_finish`), after the run of its
parent stream, whose records its associations need, has ended.

Every step is one short transaction, so a worker killed anywhere leaves a
state the next worker can resume: a unit claimed but never completed is
claimed again, and repeating a unit repeats no effect (HubSpot upserts by
key, snapshots move only on confirmation, items are keyed by record or unit).
"""

from __future__ import annotations

import os
import socket
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, delete, select, update
from sqlalchemy.orm import Session, sessionmaker

from syncworker.errors import LeaseLostError
from syncworker.redaction import redact
from syncworker.store.items import replace_items
from syncworker.store.models import RunItem, RunUnit, StreamFence, SyncRun, utcnow
from syncworker.store.run_views import RunView, UnitClaim, run_view

ACTIVE = "running"
WHOLE = 0  # a unit's last page when it is every page of a stream that cannot split
STALE_UNIT = timedelta(minutes=5)  # no heartbeat for this long: the unit's worker died


def _changed(result: Any) -> bool:
    return bool(result.rowcount)


class RunUnits:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        clock: Callable[[], datetime] = utcnow,
        stale_after: timedelta = STALE_UNIT,
    ) -> None:
        self.sessions = sessions
        self._clock = clock
        self.stale_after = stale_after
        self._beats: dict[int, datetime] = {}  # unit -> last heartbeat written here

    # ---------------------------------------------------------------- planning
    def start(self, stream: str, trigger: str, mode: str) -> int:
        """Record a run with no units (a write-back pass); earlier runs of the stream
        still marked running died unfinished."""
        run_id, _ = self.create(
            stream,
            trigger=trigger,
            mode=mode,
            ranges=[],
            pages=None,
            total=None,
            fence=None,
            lease=None,
            after_run_id=None,
        )
        return run_id

    def create(
        self,
        stream: str,
        *,
        trigger: str,
        mode: str,
        ranges: Sequence[tuple[int, int]],
        pages: int | None,
        total: int | None,
        fence: int | None,
        lease: str | None,
        after_run_id: int | None,
        allow_mass_archive: bool = False,
    ) -> tuple[int, list[int]]:
        """A new run of ``stream`` with one unit per page range: (run id, unit ids).

        Earlier runs of the stream still marked running died unfinished."""
        now = self._clock()
        with self.sessions.begin() as session:
            session.execute(
                update(SyncRun)
                .where(SyncRun.stream == stream, SyncRun.status == ACTIVE)
                .values(status="interrupted", finished_at=now)
            )
            run = SyncRun(
                stream=stream,
                trigger=trigger,
                mode=mode,
                status=ACTIVE,
                started_at=now,
                units_total=len(ranges),
                planned_pages=pages,
                planned_total=total,
                fence=fence,
                lease=lease,
                after_run_id=after_run_id,
                allow_mass_archive=allow_mass_archive,
            )
            session.add(run)
            session.flush()
            units = [
                RunUnit(run_id=run.id, seq=seq, first_page=first, last_page=last, counts={})
                for seq, (first, last) in enumerate(ranges, start=1)
            ]
            session.add_all(units)
            session.flush()
            return run.id, [u.id for u in units]

    def active_run(self, stream: str) -> RunView | None:
        """The run of ``stream`` split into units that has not ended, if any."""
        with self.sessions() as session:
            run = session.scalars(
                select(SyncRun)
                .where(SyncRun.stream == stream, SyncRun.status == ACTIVE, SyncRun.units_total > 0)
                .order_by(SyncRun.id.desc())
            ).first()
            return run_view(session, run) if run is not None else None

    def take_over(self, run_id: int, fence: int | None, lease: str | None) -> list[int]:
        """Resume an interrupted run under a new lock: the ids of its units not done."""
        with self.sessions.begin() as session:
            run = session.get_one(SyncRun, run_id, with_for_update=True)
            run.fence, run.lease, run.finishing_at = fence, lease, None
            session.execute(
                update(RunUnit)
                .where(RunUnit.run_id == run_id, RunUnit.status != "done")
                .values(status="pending")
            )
            return list(
                session.scalars(
                    select(RunUnit.id)
                    .where(RunUnit.run_id == run_id, RunUnit.status != "done")
                    .order_by(RunUnit.seq)
                )
            )

    def get(self, run_id: int) -> RunView:
        with self.sessions() as session:
            return run_view(session, session.get_one(SyncRun, run_id))

    # ------------------------------------------------------------------- units
    def claim(self, unit_id: int) -> UnitClaim | None:
        """Start a unit; None when it is done, its run has ended, or another worker
        is on it (a unit whose worker showed no sign of life for ``stale_after``
        is claimed again: that worker died)."""
        now = self._clock()
        with self.sessions.begin() as session:
            taken = session.execute(
                update(RunUnit)
                .where(
                    RunUnit.id == unit_id,
                    (RunUnit.status == "pending")
                    | (
                        (RunUnit.status == "running")
                        & (RunUnit.heartbeat_at < now - self.stale_after)
                    ),
                )
                .values(
                    status="running",
                    started_at=now,
                    heartbeat_at=now,
                    attempts=RunUnit.attempts + 1,
                    worker=f"{socket.gethostname()}:{os.getpid()}"[:128],
                )
            )
            if not _changed(taken):
                return None
            unit = session.get_one(RunUnit, unit_id)
            run = session.get_one(SyncRun, unit.run_id)
            if run.status != ACTIVE:
                session.rollback()
                return None
            return UnitClaim(
                unit.id,
                run.id,
                run.stream,
                unit.first_page,
                unit.last_page,
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
    ) -> UnitClaim | None:
        """Claim any unit still to do, or None: of ``prefer_run`` first, then of
        ``first_streams`` (runs that others wait for), oldest first; of ``runs`` only."""
        now = self._clock()
        with self.sessions() as session:
            query = select(RunUnit.id, RunUnit.run_id).join(SyncRun, SyncRun.id == RunUnit.run_id)
            if runs is not None:
                query = query.where(RunUnit.run_id.in_(list(runs)))
            candidates = list(
                session.execute(
                    query.where(
                        SyncRun.status == ACTIVE,
                        (RunUnit.status == "pending")
                        | (
                            (RunUnit.status == "running")
                            & (RunUnit.heartbeat_at < now - self.stale_after)
                        ),
                    )
                    .order_by(
                        case(
                            {name: rank for rank, name in enumerate(first_streams)},
                            value=SyncRun.stream,
                            else_=len(first_streams),
                        )
                        if first_streams
                        else RunUnit.run_id,
                        RunUnit.run_id,
                        RunUnit.seq,
                    )
                    .limit(50)
                )
            )
        candidates.sort(key=lambda row: row[1] != prefer_run)
        for unit_id, _ in candidates:
            claim = self.claim(unit_id)
            if claim is not None:
                return claim
        return None

    def complete(
        self,
        claim: UnitClaim,
        *,
        counts: Mapping[str, int],
        fingerprints: Mapping[int, str],
        items: Iterable[tuple[str, str, dict[str, Any]]],
        incomplete: bool,
        seen: Collection[str] = (),
    ) -> bool:
        """Record a finished unit and its hand-over items; True when it was the run's last.

        Refused (:class:`LeaseLostError`) when a newer holder took the stream."""
        now = self._clock()
        with self.sessions.begin() as session:
            # The run's row first: units of one run complete one after another.
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
            done = session.execute(
                update(RunUnit)
                .where(RunUnit.id == claim.unit_id, RunUnit.status != "done")
                .values(
                    status="done",
                    finished_at=now,
                    counts=dict(counts),
                    fingerprints={str(page): digest for page, digest in fingerprints.items()},
                    seen=sorted(seen),
                )
            )
            if not _changed(done):
                session.rollback()
                return False  # completed by another copy of this unit
            rows = [
                {"run_id": claim.run_id, "kind": kind, "source_id": sid, "payload": payload}
                for kind, sid, payload in items
            ]
            replace_items(session, claim.run_id, rows)
            left = session.scalar(
                select(RunUnit.id).where(RunUnit.run_id == claim.run_id, RunUnit.status != "done")
            )
            if left is not None:
                return False
            last = session.execute(
                update(SyncRun)
                .where(SyncRun.id == claim.run_id, SyncRun.units_done_at.is_(None))
                .values(units_done_at=now)
            )
            return _changed(last)

    def seen_ids(self, run_id: int) -> set[str]:
        """Every source id the run's completed units saw."""
        with self.sessions() as session:
            rows = session.scalars(select(RunUnit.seen).where(RunUnit.run_id == run_id))
            return {source_id for seen in rows for source_id in seen or ()}

    def add_outside_counts(self, run_id: int, counts: Mapping[str, int]) -> bool:
        """Count in work done for a run outside its units; False (nothing written)
        when its finish has begun. The run's row is locked meanwhile, so a finish
        cannot begin between the check and the write."""
        with self.sessions.begin() as session:
            run = session.get_one(SyncRun, run_id, with_for_update=True)
            if run.status != ACTIVE or run.finishing_at is not None:
                return False
            total = Counter(run.outside_counts or {})
            total.update(counts)
            run.outside_counts = dict(total)
            return True

    def heartbeat(self, unit_id: int) -> None:
        """The unit's worker is alive (called on every page; written at most every
        tenth of the staleness threshold, which is plenty to stay fresh)."""
        now = self._clock()
        last = self._beats.get(unit_id)
        if last is not None and now - last < self.stale_after / 10:
            return
        self._beats[unit_id] = now
        with self.sessions.begin() as session:
            session.execute(update(RunUnit).where(RunUnit.id == unit_id).values(heartbeat_at=now))

    def release(self, unit_id: int) -> None:
        """Put back a unit its worker gave up on (it is tried again on resume)."""
        with self.sessions.begin() as session:
            session.execute(update(RunUnit).where(RunUnit.id == unit_id).values(status="pending"))

    # --------------------------------------------------------------- finishing
    def claim_finish(self, run_id: int, parent_active: Callable[[RunView], bool]) -> bool:
        """Whether the caller is the one to finish ``run_id`` now.

        Yes once: its units are done, nobody is finishing it, and the parent
        run its associations wait for has ended (``parent_active`` says whether
        a parent still marked running is alive)."""
        with self.sessions.begin() as session:
            run = session.get_one(SyncRun, run_id)
            parent = session.get(SyncRun, run.after_run_id) if run.after_run_id else None
            waiting = parent is not None and parent.status == ACTIVE
            if waiting and parent_active(run_view(session, parent)):  # type: ignore[arg-type]
                return False
            claimed = session.execute(
                update(SyncRun)
                .where(
                    SyncRun.id == run_id,
                    SyncRun.status == ACTIVE,
                    SyncRun.units_done_at.is_not(None),
                    SyncRun.finishing_at.is_(None),
                )
                .values(finishing_at=self._clock())
            )
            return _changed(claimed)

    def adopt_parent(self, run_id: int, parent_stream: str) -> None:
        """Make ``run_id`` wait for the running run of ``parent_stream`` when it was
        planned without one (two workers planned both streams at the same moment).

        Committed on its own, before anyone reads the parent's status, so a parent
        finishing at that moment either sees this run waiting or is seen ended."""
        with self.sessions.begin() as session:
            parent_id = session.scalar(
                select(SyncRun.id)
                .where(
                    SyncRun.stream == parent_stream,
                    SyncRun.status == ACTIVE,
                    SyncRun.units_total > 0,
                )
                .order_by(SyncRun.id.desc())
            )
            if parent_id is not None:
                session.execute(
                    update(SyncRun)
                    .where(SyncRun.id == run_id, SyncRun.after_run_id.is_(None))
                    .values(after_run_id=parent_id)
                )

    def parent_ended(self, run_id: int) -> bool:
        """Whether the run ``run_id``'s associations wait for has ended (or there is none)."""
        with self.sessions() as session:
            parent_id = session.scalar(select(SyncRun.after_run_id).where(SyncRun.id == run_id))
            if parent_id is None:
                return True
            return session.scalar(select(SyncRun.status).where(SyncRun.id == parent_id)) != ACTIVE

    def children(self, run_id: int) -> list[tuple[int, bool]]:
        """Runs going that wait for ``run_id`` (to associate), not being finished,
        each with whether its units are all done."""
        with self.sessions() as session:
            rows = session.execute(
                select(SyncRun.id, SyncRun.units_done_at.is_not(None)).where(
                    SyncRun.after_run_id == run_id,
                    SyncRun.status == ACTIVE,
                    SyncRun.finishing_at.is_(None),
                )
            )
            return [(child, bool(done)) for child, done in rows]

    def finish(
        self,
        run_id: int,
        status: str,
        counts: Mapping[str, int],
        error: str | None = None,
        *,
        repairs: Mapping[str, int] | None = None,
    ) -> None:
        """Record a run's end: its status, totals, (redacted) error and, for a
        reconcile run, its repairs by kind."""
        with self.sessions.begin() as session:
            run = session.get_one(SyncRun, run_id)
            run.status, run.finished_at = status, self._clock()
            run.error = redact(error) if error else None
            for name, value in counts.items():
                setattr(run, name, value)
            if repairs is not None:
                run.repairs = dict(repairs)

    def get_run(self, run_id: int) -> SyncRun:
        with self.sessions() as session:
            return session.get_one(SyncRun, run_id)

    def close(self, run_id: int, status: str, error: str | None = None) -> None:
        """End a run without its finish (a unit failed); its items are dropped."""
        with self.sessions.begin() as session:
            run = session.get_one(SyncRun, run_id, with_for_update=True)
            if run.status == ACTIVE:
                run.status, run.finished_at = status, self._clock()
                run.error = redact(error) if error else None
            session.execute(delete(RunItem).where(RunItem.run_id == run_id))
