"""Celery tasks: thin wrappers that call the same services the CLI uses.

Task arguments are entity names and flags only: never personal data or
credentials. Tasks are late-acknowledged and idempotent (a redelivered sync
pushes at most what was not confirmed yet).
"""

from __future__ import annotations

import logging
from functools import lru_cache
from typing import Any

from celery import Task, chain

from syncworker.celery_app import app
from syncworker.config import Settings
from syncworker.errors import RunInProgressError, SyncWorkerError, is_retriable
from syncworker.logs import log_context
from syncworker.services import Services

log = logging.getLogger(__name__)


@lru_cache(maxsize=1)
def services() -> Services:
    """One set of clients and connection pools per worker process."""
    return Services(Settings.from_env())


class SyncWorkerTask(Task):  # type: ignore[misc]
    """Base of every task: log context, late acks, retries of retriable errors only."""

    acks_late = True
    reject_on_worker_lost = True
    max_retries = 5
    retry_backoff_base = 30

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        with log_context(task_id=self.request.id, task=self.name):
            try:
                return super().__call__(*args, **kwargs)
            except SyncWorkerError as exc:
                if is_retriable(exc) and self.request.retries < self.max_retries:
                    countdown = self.retry_backoff_base * 2**self.request.retries
                    log.warning(
                        "%s failed (%s); retrying in %ss", self.name, type(exc).__name__, countdown
                    )
                    raise self.retry(countdown=countdown, exc=None) from None
                raise


@app.task(base=SyncWorkerTask, bind=True, name="syncworker.sync_stream")
def sync_stream(
    self: SyncWorkerTask, entity: str, full: bool = False, trigger: str = "beat"
) -> dict[str, Any]:
    """Sync one entity (organizations | users | all)."""
    try:
        results = services().sync(entity, full=full, trigger=trigger)
    except RunInProgressError as exc:
        log.info("skipped: %s", exc)
        return {"entity": entity, "skipped": "run in progress"}
    return {r.stream: {"run_id": r.run_id, "status": r.status, **r.counts} for r in results}


@app.task(base=SyncWorkerTask, bind=True, name="syncworker.sync_all")
def sync_all(self: SyncWorkerTask, full: bool = False, trigger: str = "beat") -> str:
    """Organizations, then users (they associate with their company)."""
    flow = chain(
        sync_stream.si("organizations", full=full, trigger=trigger),
        sync_stream.si("users", full=full, trigger=trigger),
    )
    return str(flow.apply_async().id)


def enqueue_sync(entity: str, *, full: bool = False, trigger: str = "cli") -> str:
    if entity == "all":
        return str(sync_all.delay(full=full, trigger=trigger).id)
    return str(sync_stream.delay(entity, full=full, trigger=trigger).id)
