"""Run records (``sync_runs``): one row per run of a stream, a write-back pass or a
reconcile, written here only. A run of a stream also has partitions
(``store/partitions.py``); its end drops what they handed over."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import delete, update
from sqlalchemy.orm import Session, sessionmaker

from syncworker.redaction import redact
from syncworker.store.models import RunItem, SyncRun, utcnow

ACTIVE = "running"


def new_run(session: Session, stream: str, now: datetime, **fields: Any) -> int:
    """Insert a run of ``stream``; earlier runs of it still marked running died
    unfinished."""
    session.execute(
        update(SyncRun)
        .where(SyncRun.stream == stream, SyncRun.status == ACTIVE)
        .values(status="interrupted", finished_at=now)
    )
    run = SyncRun(stream=stream, status=ACTIVE, started_at=now, **fields)
    session.add(run)
    session.flush()
    return run.id


class RunRecords:
    def __init__(
        self, sessions: sessionmaker[Session], clock: Callable[[], datetime] = utcnow
    ) -> None:
        self.sessions = sessions
        self._clock = clock

    def start(self, stream: str, trigger: str, mode: str) -> int:
        """Record a run with no partitions (a write-back pass, a reconcile)."""
        with self.sessions.begin() as session:
            return new_run(session, stream, self._clock(), trigger=trigger, mode=mode)

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
            session.execute(delete(RunItem).where(RunItem.run_id == run_id))

    def close(self, run_id: int, status: str, error: str | None = None) -> None:
        """End a run without its finish (a partition failed), if it is still going."""
        with self.sessions.begin() as session:
            run = session.get_one(SyncRun, run_id, with_for_update=True)
            if run.status == ACTIVE:
                run.status, run.finished_at = status, self._clock()
                run.error = redact(error) if error else None
            session.execute(delete(RunItem).where(RunItem.run_id == run_id))

    def get(self, run_id: int) -> SyncRun:
        with self.sessions() as session:
            return session.get_one(SyncRun, run_id)
