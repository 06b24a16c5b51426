"""The write-back outbox and polling checkpoints, in the database."""

from __future__ import annotations

from collections.abc import Callable, Collection
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from syncworker.redaction import redact
from syncworker.store.models import Checkpoint, WritebackIntent, utcnow

OPEN = "pending"


class Outbox:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        clock: Callable[[], datetime] = utcnow,
        retry_seconds: float = 30.0,
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._retry_seconds = retry_seconds  # first retry delay; doubles per attempt

    def record(
        self, *, stream: str, source_id: str, hubspot_id: str, prop: str, parameter: str, value: str
    ) -> int:
        """One open intent per record and property: a newer value replaces an older one."""
        now = self._clock()
        with self._sessions.begin() as session:
            intent = session.scalars(
                select(WritebackIntent)
                .where(
                    WritebackIntent.stream == stream,
                    WritebackIntent.source_id == source_id,
                    WritebackIntent.property == prop,
                    WritebackIntent.status == OPEN,
                )
                .with_for_update()
            ).first()
            if intent is None:
                intent = WritebackIntent(
                    stream=stream,
                    source_id=source_id,
                    hubspot_id=hubspot_id,
                    property=prop,
                    parameter=parameter,
                    value=value,
                    status=OPEN,
                    attempts=0,
                    created_at=now,
                )
                session.add(intent)
            elif intent.value != value:
                intent.value, intent.next_attempt_at = value, now
            intent.updated_at = now
            session.flush()
            return intent.id

    def due(self, limit: int = 1000) -> list[WritebackIntent]:
        with self._sessions() as session:
            return list(
                session.scalars(
                    select(WritebackIntent)
                    .where(
                        WritebackIntent.status == OPEN,
                        WritebackIntent.next_attempt_at <= self._clock(),
                    )
                    .order_by(WritebackIntent.id)
                    .limit(limit)
                )
            )

    def open_for(self, stream: str, source_ids: Collection[str]) -> dict[tuple[str, str], str]:
        """``{(source id, property): value}`` of the open intents of these records."""
        with self._sessions() as session:
            rows = session.execute(
                select(
                    WritebackIntent.source_id,
                    WritebackIntent.property,
                    WritebackIntent.value,
                ).where(
                    WritebackIntent.stream == stream,
                    WritebackIntent.status == OPEN,
                    WritebackIntent.source_id.in_(list(source_ids)),
                )
            )
            return {(sid, prop): value for sid, prop, value in rows}

    def _set(self, ids: Collection[int], **values: object) -> None:
        if ids:
            with self._sessions.begin() as session:
                session.execute(
                    update(WritebackIntent)
                    .where(WritebackIntent.id.in_(list(ids)))
                    .values(updated_at=self._clock(), **values)
                )

    def complete(self, ids: Collection[int]) -> None:
        self._set(ids, status="done", done_at=self._clock())

    def supersede(self, stream: str, source_id: str, prop: str) -> None:
        with self._sessions.begin() as session:
            session.execute(
                update(WritebackIntent)
                .where(
                    WritebackIntent.stream == stream,
                    WritebackIntent.source_id == source_id,
                    WritebackIntent.property == prop,
                    WritebackIntent.status == OPEN,
                )
                .values(status="superseded", updated_at=self._clock())
            )

    def fail(self, ids: Collection[int], error: str, *, retriable: bool, max_attempts: int) -> int:
        """Count a failed attempt; quarantine when it cannot succeed or tried too often."""
        now, text, held = self._clock(), redact(error)[:2000], 0
        with self._sessions.begin() as session:
            for intent in session.scalars(
                select(WritebackIntent).where(WritebackIntent.id.in_(list(ids)))
            ):
                intent.attempts += 1
                intent.last_error, intent.updated_at = text, now
                if not retriable or intent.attempts >= max_attempts:
                    intent.status = "quarantined"
                    held += 1
                else:
                    delay = min(3600.0, self._retry_seconds * 2 ** (intent.attempts - 1))
                    intent.next_attempt_at = now + timedelta(seconds=delay)
        return held

    def listing(self, status: str | None = None, limit: int = 200) -> list[WritebackIntent]:
        with self._sessions() as session:
            query = select(WritebackIntent).order_by(WritebackIntent.id.desc()).limit(limit)
            if status:
                query = query.where(WritebackIntent.status == status)
            return list(session.scalars(query))

    def release(self, ids: Collection[int] | None = None) -> int:
        """Quarantined intents back to pending, due now."""
        with self._sessions.begin() as session:
            query = update(WritebackIntent).where(WritebackIntent.status == "quarantined")
            if ids is not None:
                query = query.where(WritebackIntent.id.in_(list(ids)))
            result = session.execute(
                query.values(status=OPEN, attempts=0, next_attempt_at=self._clock())
            )
            return int(result.rowcount or 0)  # type: ignore[attr-defined]

    def counts(self) -> dict[str, int]:
        from sqlalchemy import func

        with self._sessions() as session:
            rows = session.execute(
                select(WritebackIntent.status, func.count()).group_by(WritebackIntent.status)
            )
            return {status: int(n) for status, n in rows}

    def checkpoint(self, name: str) -> int | None:
        with self._sessions() as session:
            row = session.get(Checkpoint, name)
            return None if row is None else row.value

    def set_checkpoint(self, name: str, value: int) -> None:
        with self._sessions.begin() as session:
            row = session.get(Checkpoint, name)
            if row is None:
                session.add(Checkpoint(name=name, value=value, updated_at=self._clock()))
            elif value > row.value:
                row.value, row.updated_at = value, self._clock()
