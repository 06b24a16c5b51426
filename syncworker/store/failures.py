"""Records that could not be synced: retried on every run, then quarantined.

A :class:`~syncworker.store.snapshots.SnapshotStore` has one (``store.failures``):
the engine records a failure where it confirms a snapshot.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from syncworker.redaction import redact
from syncworker.store.chunks import id_chunks
from syncworker.store.models import RecordFailure, utcnow


class RecordFailures:
    def __init__(
        self, sessions: sessionmaker[Session], clock: Callable[[], datetime] = utcnow
    ) -> None:
        self.sessions = sessions
        self._clock = clock

    def record(
        self,
        stream: str,
        source_id: str,
        *,
        stage: str,
        message: str,
        category: str | None = None,
        existing_id: str | None = None,
        run_id: int | None = None,
        max_attempts: int = 5,
    ) -> RecordFailure:
        now, text = self._clock(), redact(message)[:2000]
        with self.sessions.begin() as session:
            row = session.scalars(
                select(RecordFailure).where(
                    RecordFailure.stream == stream, RecordFailure.source_id == source_id
                )
            ).first()
            if row is None:
                row = RecordFailure(
                    stream=stream,
                    source_id=source_id,
                    stage=stage,
                    attempts=0,
                    first_error=text,
                    last_error=text,
                    first_failed_at=now,
                )
                session.add(row)
            row.attempts += 1
            row.stage, row.category, row.last_error, row.last_failed_at = stage, category, text, now
            row.existing_hubspot_id = existing_id or row.existing_hubspot_id
            row.last_run_id = run_id
            if row.attempts >= max_attempts:
                row.quarantined_at = row.quarantined_at or now
                row.next_retry_at = None
            else:
                row.next_retry_at = now + timedelta(minutes=min(60, 2**row.attempts))
            session.flush()
            session.expunge(row)
            return row

    def has_quarantined(self, stream: str) -> bool:
        with self.sessions() as session:
            found = session.scalar(
                select(RecordFailure.id)
                .where(RecordFailure.stream == stream, RecordFailure.quarantined_at.is_not(None))
                .limit(1)
            )
            return found is not None

    def quarantined(self, stream: str, source_ids: Collection[str]) -> set[str]:
        found: set[str] = set()
        with self.sessions() as session:
            for chunk in id_chunks(source_ids):
                found.update(
                    session.scalars(
                        select(RecordFailure.source_id).where(
                            RecordFailure.stream == stream,
                            RecordFailure.source_id.in_(chunk),
                            RecordFailure.quarantined_at.is_not(None),
                        )
                    )
                )
        return found

    def rows(self, *, quarantined: bool | None = None) -> list[RecordFailure]:
        with self.sessions() as session:
            query = select(RecordFailure).order_by(RecordFailure.last_failed_at.desc())
            if quarantined is not None:
                query = query.where(
                    RecordFailure.quarantined_at.is_not(None)
                    if quarantined
                    else RecordFailure.quarantined_at.is_(None)
                )
            return list(session.scalars(query))

    def of_run(self, run_id: int, limit: int = 10) -> list[RecordFailure]:
        """The records that failed in run ``run_id`` (their latest failure), oldest first."""
        with self.sessions() as session:
            return list(
                session.scalars(
                    select(RecordFailure)
                    .where(RecordFailure.last_run_id == run_id)
                    .order_by(RecordFailure.id)
                    .limit(limit)
                )
            )

    def release(self, ids: Collection[int] | None = None) -> int:
        """Un-quarantine failures (all when ``ids`` is None) so the next run retries them."""
        with self.sessions.begin() as session:
            query = update(RecordFailure).values(
                quarantined_at=None, attempts=0, next_retry_at=self._clock()
            )
            if ids is not None:
                query = query.where(RecordFailure.id.in_(list(ids)))
            return int(session.execute(query).rowcount or 0)  # type: ignore[attr-defined]

    def counts(self) -> dict[str, int]:
        with self.sessions() as session:
            total = session.scalar(select(func.count()).select_from(RecordFailure)) or 0
            held = (
                session.scalar(
                    select(func.count())
                    .select_from(RecordFailure)
                    .where(RecordFailure.quarantined_at.is_not(None))
                )
                or 0
            )
            return {"failing": int(total) - int(held), "quarantined": int(held)}
