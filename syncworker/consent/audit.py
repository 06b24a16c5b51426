"""The consent audit: every consent decision the worker made, in the database."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from syncworker.store.models import ConsentEvent, utcnow

TO_HUBSPOT, TO_WORKWAYS, NO_CHANGE = "to-hubspot", "to-workways", "none"


@dataclass(frozen=True)
class Decision:
    direction: str  # to-hubspot | to-workways | none (a conflict left alone)
    action: str  # subscribed | unsubscribed | opted-in | opted-out | conflict
    stream: str
    source_id: str
    hubspot_id: str | None
    subscription_id: str
    old_status: str
    new_status: str
    legal_basis: str | None
    trigger: str


class ConsentAudit:
    def __init__(
        self, sessions: sessionmaker[Session], clock: Callable[[], datetime] = utcnow
    ) -> None:
        self._sessions = sessions
        self._clock = clock

    def record(self, decisions: Iterable[Decision], run_id: int | None = None) -> None:
        rows = [
            ConsentEvent(
                at=self._clock(),
                direction=d.direction,
                action=d.action,
                stream=d.stream,
                source_id=d.source_id,
                hubspot_id=d.hubspot_id,
                subscription_id=d.subscription_id,
                old_status=d.old_status,
                new_status=d.new_status,
                legal_basis=d.legal_basis,
                trigger=d.trigger[:128],
                run_id=run_id,
            )
            for d in decisions
        ]
        if rows:
            with self._sessions.begin() as session:
                session.add_all(rows)

    def listing(
        self, source_id: str | None = None, limit: int = 200, action: str | None = None
    ) -> list[ConsentEvent]:
        """The newest ``limit`` decisions first; of one record, or of one action."""
        query = select(ConsentEvent).order_by(ConsentEvent.id.desc()).limit(limit)
        if source_id is not None:
            query = query.where(ConsentEvent.source_id == source_id)
        if action is not None:
            query = query.where(ConsentEvent.action == action)
        with self._sessions() as session:
            return list(session.scalars(query))

    def count(self, action: str) -> int:
        """How many decisions of ``action`` the audit holds."""
        query = select(func.count()).select_from(ConsentEvent).where(ConsentEvent.action == action)
        with self._sessions() as session:
            return int(session.scalar(query) or 0)
