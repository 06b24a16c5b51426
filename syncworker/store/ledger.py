"""Counts Celery task deliveries in the database, to stop poison tasks.

A task that kills its worker (out of memory, a crash in a C library) is
redelivered because tasks are late-acknowledged. Each delivery is counted
here before the task runs; past the limit the task is quarantined instead of
run again, and listed by ``syncworker status``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, sessionmaker

from syncworker.store.models import TaskDelivery, utcnow

MAX_DELIVERIES = 3


class TaskLedger:
    def __init__(self, sessions: sessionmaker[Session], clock: Callable[[], datetime] = utcnow):
        self._sessions = sessions
        self._clock = clock

    def deliver(self, task_id: str, task_name: str, limit: int = MAX_DELIVERIES) -> bool:
        """Count one delivery; False when the task must not run (quarantined)."""
        now = self._clock()
        with self._sessions.begin() as session:
            row = session.get(TaskDelivery, task_id, with_for_update=True)
            if row is None:
                session.add(
                    TaskDelivery(
                        task_id=task_id,
                        task_name=task_name,
                        deliveries=1,
                        first_at=now,
                        last_at=now,
                    )
                )
                return True
            row.deliveries += 1
            row.last_at = now
            if row.quarantined_at is None and row.deliveries > limit:
                row.quarantined_at = now
            return row.quarantined_at is None

    def finished(self, task_id: str) -> None:
        """The task ran to its end (success or a handled failure): forget it."""
        with self._sessions.begin() as session:
            session.execute(
                delete(TaskDelivery).where(
                    TaskDelivery.task_id == task_id, TaskDelivery.quarantined_at.is_(None)
                )
            )

    def quarantined(self) -> list[TaskDelivery]:
        with self._sessions() as session:
            return list(
                session.scalars(
                    select(TaskDelivery)
                    .where(TaskDelivery.quarantined_at.is_not(None))
                    .order_by(TaskDelivery.last_at.desc())
                )
            )

    def quarantined_count(self) -> int:
        with self._sessions() as session:
            return int(
                session.scalar(
                    select(func.count())
                    .select_from(TaskDelivery)
                    .where(TaskDelivery.quarantined_at.is_not(None))
                )
                or 0
            )
