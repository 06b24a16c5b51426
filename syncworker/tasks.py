"""Celery tasks: thin wrappers that call the same services the CLI uses.

Task arguments are entity names, flags and database ids only: never personal
data or credentials. Tasks are late-acknowledged and idempotent: a redelivered
sync pushes at most what was not confirmed yet. Retries of failed HTTP calls
happen in one layer only, the clients; a run that still fails is recorded as
aborted and the next scheduled run starts over. A task that keeps killing its
worker is counted in the database and quarantined after a few deliveries.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from typing import Any

from celery import Task, chain

from syncworker.celery_app import app
from syncworker.config import Settings
from syncworker.errors import RunInProgressError
from syncworker.logs import log_context
from syncworker.services import Services
from syncworker.store.ledger import TaskLedger
from syncworker.streams import select_streams

log = logging.getLogger(__name__)


@lru_cache(maxsize=1)
def services() -> Services:
    """One set of clients and connection pools per worker process."""
    return Services(Settings.from_env())


class SyncWorkerTask(Task):  # type: ignore[misc]
    """Base of every task: log context, late acks, poison-task quarantine."""

    acks_late = True
    reject_on_worker_lost = True

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        task_id = self.request.id
        with log_context(task_id=task_id, task=self.name):
            if task_id is None:  # called directly, not delivered by a broker
                return super().__call__(*args, **kwargs)
            ledger = TaskLedger(services().store.sessions)
            if not ledger.deliver(task_id, self.name):
                log.error(
                    "task %s quarantined: delivered too many times without finishing", task_id
                )
                return {"quarantined": task_id}
            try:
                return super().__call__(*args, **kwargs)
            finally:
                ledger.finished(task_id)


@app.task(base=SyncWorkerTask, bind=True, name="syncworker.sync_stream")
def sync_stream(
    self: SyncWorkerTask,
    entity: str,
    full: bool = False,
    trigger: str = "beat",
    source: str = "workways",
) -> dict[str, Any]:
    """Sync one entity of one source (organizations, users, customers, orders, all)."""
    try:
        results = services().sync(entity, source=source, full=full, trigger=trigger)
    except RunInProgressError as exc:
        log.info("skipped: %s", exc)
        return {"entity": entity, "skipped": "run in progress"}
    return {r.stream: {"run_id": r.run_id, "status": r.status, **r.counts} for r in results}


@app.task(base=SyncWorkerTask, bind=True, name="syncworker.sync_all")
def sync_all(
    self: SyncWorkerTask, full: bool = False, trigger: str = "beat", source: str = "all"
) -> str:
    """Every stream of every configured source, in order (parents before children)."""
    sources, skipped = services().configured_sources(source)
    for line in skipped:
        log.info(line)
    flow = chain(
        sync_stream.si(stream.entity, full=full, trigger=trigger, source=stream.source)
        for stream in select_streams("all", source)
        if stream.source in sources
    )
    return str(flow.apply_async().id)


def enqueue_sync(
    entity: str, *, source: str = "all", full: bool = False, trigger: str = "cli"
) -> str:
    if entity == "all":
        return str(sync_all.delay(full=full, trigger=trigger, source=source).id)
    return str(sync_stream.delay(entity, full=full, trigger=trigger, source=source).id)


@app.task(base=SyncWorkerTask, bind=True, name="syncworker.process_webhook_events")
def process_webhook_events(self: SyncWorkerTask, event_ids: list[int]) -> dict[str, int]:
    """Re-read the objects these stored events name; write their changes back."""
    try:
        result = services().process_webhook_events(event_ids)
    except RunInProgressError:
        # Another write-back is running; the events stay pending for the next poll.
        return {"skipped": len(event_ids)}
    return {"written": result.written, "failed": result.failed}


@app.task(base=SyncWorkerTask, bind=True, name="syncworker.writeback_poll")
def writeback_poll(self: SyncWorkerTask, trigger: str = "beat") -> dict[str, int]:
    """The polling fallback: HubSpot objects modified since the checkpoint, plus retries."""
    svc = services()
    try:
        pending = [e.id for e in svc.webhook_events.pending()]
        if pending:  # events whose dispatch was lost
            svc.process_webhook_events(pending)
        result = svc.writeback(trigger=trigger)
    except RunInProgressError:
        return {"skipped": 1}
    return {"written": result.written, "failed": result.failed}
