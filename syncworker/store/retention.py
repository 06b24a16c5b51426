"""Retention: rows kept only to explain the past are deleted after ``RETENTION_DAYS``.

What goes, once older than the cut-off (now minus ``RETENTION_DAYS``):

- processed webhook events (by ``processed_at``); pending ones stay whatever their age;
- done and superseded write-back intents (by ``done_at``, else ``updated_at``);
  pending and quarantined ones stay;
- task delivery counts (``task_deliveries``, by ``last_at``): a finished task's row
  is deleted when it finishes, so what is left is a quarantined or abandoned task.

Resolved record failures need no purge: a failure's row is deleted when its
record syncs (``SnapshotStore.confirm``); failing and quarantined ones stay.

Run daily by the Celery beat task ``syncworker.purge`` and by ``syncworker purge``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, func, or_, select
from sqlalchemy.orm import Session, sessionmaker

from syncworker.store.models import TaskDelivery, WebhookEvent, WritebackIntent, utcnow

PURGED_INTENT_STATUSES = ("done", "superseded")


@dataclass(frozen=True)
class PurgeReport:
    """How many rows of each kind were deleted (or would be, on a dry run)."""

    cutoff: datetime
    webhook_events: int
    writeback_intents: int
    task_deliveries: int
    dry_run: bool = False

    @property
    def total(self) -> int:
        return self.webhook_events + self.writeback_intents + self.task_deliveries

    def as_dict(self) -> dict[str, Any]:
        return {
            "cutoff": self.cutoff.isoformat(),
            "webhook_events": self.webhook_events,
            "writeback_intents": self.writeback_intents,
            "task_deliveries": self.task_deliveries,
            "dry_run": self.dry_run,
        }


def _conditions(cutoff: datetime) -> list[tuple[Any, ColumnElement[bool]]]:
    return [
        (
            WebhookEvent,
            and_(WebhookEvent.processed_at.is_not(None), WebhookEvent.processed_at < cutoff),
        ),
        (
            WritebackIntent,
            and_(
                WritebackIntent.status.in_(PURGED_INTENT_STATUSES),
                or_(
                    and_(WritebackIntent.done_at.is_not(None), WritebackIntent.done_at < cutoff),
                    and_(WritebackIntent.done_at.is_(None), WritebackIntent.updated_at < cutoff),
                ),
            ),
        ),
        (TaskDelivery, TaskDelivery.last_at < cutoff),
    ]


def purge(
    sessions: sessionmaker[Session],
    retention_days: int,
    *,
    dry_run: bool = False,
    clock: Callable[[], datetime] = utcnow,
) -> PurgeReport:
    """Delete (or, on a dry run, count) the rows older than ``retention_days``."""
    if retention_days < 1:
        raise ValueError("retention_days must be at least 1")
    cutoff = clock() - timedelta(days=retention_days)
    counts: list[int] = []
    with sessions.begin() as session:
        for model, condition in _conditions(cutoff):
            if dry_run:
                found = session.scalar(select(func.count()).select_from(model).where(condition))
                counts.append(int(found or 0))
            else:
                result = session.execute(delete(model).where(condition))
                counts.append(int(getattr(result, "rowcount", 0) or 0))
    events, intents, deliveries = counts
    return PurgeReport(cutoff, events, intents, deliveries, dry_run=dry_run)
