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

from syncworker.app.container import Container
from syncworker.app.sync import interleave, run_partitions, select
from syncworker.app.writeback import process_events, write_back
from syncworker.celery_app import app
from syncworker.config import Settings
from syncworker.engine.fanout import StartedRun
from syncworker.engine.state import RunResult
from syncworker.errors import LeaseLostError, RunInProgressError
from syncworker.logs import log_context
from syncworker.ops.alerts import check_alerts
from syncworker.sources.registry import SOURCES
from syncworker.sources.streams import Stream
from syncworker.store.ledger import TaskLedger

log = logging.getLogger(__name__)


@lru_cache(maxsize=1)
def services() -> Container:
    """One set of clients and connection pools per worker process."""
    return Container(Settings.from_env())


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
    allow_mass_archive: bool = False,
) -> dict[str, Any]:
    """Sync one entity of one source (organizations, users, customers, orders, all).

    The runs of the first source's streams are planned here and their partitions
    handed to any worker (``sync_partition``); this task works on their first ones
    itself (side by side, on ``SYNC_PARTITION_CONCURRENCY`` threads) and then helps.
    Each later source goes the same way in a ``sync_source`` task, once the
    runs of the sources before it have ended."""
    return start_sync(
        entity, full=full, trigger=trigger, source=source, allow_mass_archive=allow_mass_archive
    )


def start_sync(
    entity: str, *, full: bool, trigger: str, source: str, allow_mass_archive: bool = False
) -> dict[str, Any]:
    svc = services()
    selection = select(svc.settings, entity, source)
    for line in selection.skipped:
        log.info(line)
    svc.check_database()
    sources = list(dict.fromkeys(s.source for s in selection.streams))
    first = [s for s in selection.streams if s.source == sources[0]]
    outcome, started = _start_runs(svc, first, full, trigger, allow_mass_archive)
    if sources[1:]:  # each later source once the runs of the ones before it ended
        chain(
            sync_source.si(entity, later, full, trigger, allow_mass_archive)
            for later in sources[1:]
        ).apply_async()
    try:
        return outcome | _work_on(svc, started)
    finally:
        check_alerts(svc)


def _start_runs(
    svc: Container, streams: list[Stream], full: bool, trigger: str, allow_mass_archive: bool
) -> tuple[dict[str, Any], list[StartedRun]]:
    """Plan a run of each stream and hand its partitions to any worker."""
    outcome: dict[str, Any] = {}
    started = []
    for stream in streams:
        try:
            run = svc.fanout.start(
                stream, full=full, trigger=trigger, allow_mass_archive=allow_mass_archive
            )
            started.append(run)
        except RunInProgressError as exc:
            log.info("skipped: %s", exc)
            outcome[stream.name] = {"skipped": "run in progress"}
    for partition in interleave([run.partitions for run in started]):
        sync_partition.delay(partition)  # each brings one more worker to the runs
    for run in started:
        count = len(run.partitions) + (run.first_partition is not None)
        outcome[run.stream.name] = {"run_id": run.run_id, "partitions": count}
    return outcome, started


def _work_on(svc: Container, started: list[StartedRun]) -> dict[str, Any]:
    """The first partitions (their pages are read already) side by side, as the CLI does,
    then help with what is left until the runs are done."""
    return {result.stream: _summary(result) for result in run_partitions(svc, started)}


@app.task(base=SyncWorkerTask, bind=True, name="syncworker.sync_partition")
def sync_partition(self: SyncWorkerTask, partition_id: int) -> dict[str, Any]:
    """One partition of a run (a range of source pages); may finish runs."""
    try:
        finished = services().fanout.run_partition(partition_id)
    except LeaseLostError as exc:
        log.warning("partition %s dropped: %s", partition_id, exc)
        return {"partition": partition_id, "dropped": "a newer run holds the stream"}
    if finished:  # this partition ended runs
        check_alerts(services())
    return {"partition": partition_id, **{r.stream: _summary(r) for r in finished}}


@app.task(base=SyncWorkerTask, bind=True, name="syncworker.sync_unit")
def sync_unit(self: SyncWorkerTask, unit_id: int) -> dict[str, Any]:
    """The earlier name of :func:`sync_partition`, for its messages still queued when
    a worker is upgraded (migration 0015 kept the ids of units as partition ids)."""
    return sync_partition(unit_id)  # type: ignore[no-any-return]


@app.task(base=SyncWorkerTask, bind=True, name="syncworker.sync_source", max_retries=720)
def sync_source(
    self: SyncWorkerTask,
    entity: str,
    source: str,
    full: bool = False,
    trigger: str = "beat",
    allow_mass_archive: bool = False,
) -> dict[str, Any]:
    """The streams of ``source``, once the runs of the sources before it have ended
    (Workways contacts first, so Workadu customers merge into them). Waits an hour
    at most: the next scheduled sync starts over."""
    svc = services()
    streams = [s for s in select(svc.settings, entity, source).streams]
    earlier = list(SOURCES)[: list(SOURCES).index(source)]
    if any(svc.partitions.active_run(s.name) for name in earlier for s in SOURCES[name]):
        raise self.retry(countdown=WAIT_FOR_EARLIER_RUNS_SECONDS)
    outcome, started = _start_runs(svc, streams, full, trigger, allow_mass_archive)
    try:
        return outcome | _work_on(svc, started)
    finally:
        check_alerts(svc)


WAIT_FOR_EARLIER_RUNS_SECONDS = 5


def _summary(result: RunResult) -> dict[str, Any]:
    return {"run_id": result.run_id, "status": result.status, **result.counts}


@app.task(base=SyncWorkerTask, bind=True, name="syncworker.sync_all")
def sync_all(
    self: SyncWorkerTask, full: bool = False, trigger: str = "beat", source: str = "all"
) -> dict[str, Any]:
    """Every stream of every configured source (parents' runs before children's)."""
    return start_sync("all", full=full, trigger=trigger, source=source)


def enqueue_sync(
    entity: str,
    *,
    source: str = "all",
    full: bool = False,
    trigger: str = "cli",
    allow_mass_archive: bool = False,
) -> str:
    task = sync_stream.delay(
        entity, full=full, trigger=trigger, source=source, allow_mass_archive=allow_mass_archive
    )
    return str(task.id)


@app.task(base=SyncWorkerTask, bind=True, name="syncworker.reconcile")
def reconcile(self: SyncWorkerTask, trigger: str = "beat") -> dict[str, Any]:
    """Drift repair: the snapshot checked against HubSpot, what people changed there
    repaired (daily by default, RECONCILE_INTERVAL_SECONDS)."""
    from syncworker.app.reconcile import reconcile as run

    try:
        outcome = run(services(), trigger=trigger)
    except RunInProgressError:
        return {"skipped": "reconcile in progress"}
    return {"run_id": outcome.run_id, **outcome.report.counts}


# A delivery whose write-back finds another one running is queued again shortly,
# a bounded number of times (then its events wait, pending, for the next poll).
WRITEBACK_BUSY_RETRY_SECONDS = 2
WRITEBACK_BUSY_RETRIES = 30


@app.task(
    base=SyncWorkerTask,
    bind=True,
    name="syncworker.process_webhook_events",
    max_retries=WRITEBACK_BUSY_RETRIES,
)
def process_webhook_events(self: SyncWorkerTask, event_ids: list[int]) -> dict[str, int]:
    """Re-read the objects these stored events name: deletions, merges, restores and
    privacy deletions go through drift repair; changes are written back."""
    try:
        _repair_events(event_ids)
        result = process_events(services(), event_ids)
    except RunInProgressError:
        # Another write-back is running (concurrent deliveries): try again in a moment.
        if self.request.retries >= WRITEBACK_BUSY_RETRIES:
            return {"skipped": len(event_ids)}  # pending: the next poll takes them
        raise self.retry(countdown=busy_countdown(self.request.retries)) from None
    return {"written": result.written, "failed": result.failed}


def busy_countdown(retries: int) -> float:
    """Seconds before a busy delivery's next try: short, spread so retries do not collide."""
    import random

    return WRITEBACK_BUSY_RETRY_SECONDS * (0.5 + random.random())


@app.task(base=SyncWorkerTask, bind=True, name="syncworker.writeback_poll")
def writeback_poll(self: SyncWorkerTask, trigger: str = "beat") -> dict[str, int]:
    """The polling fallback: HubSpot objects modified since the checkpoint, plus retries."""
    svc = services()
    try:
        pending = [e.id for e in svc.webhook_events.pending()]
        if pending:  # events whose dispatch was lost
            _repair_events(pending)
            process_events(svc, pending)
        result = write_back(svc, trigger=trigger)
    except RunInProgressError:
        return {"skipped": 1}
    finally:
        check_alerts(svc)
    return {"written": result.written, "failed": result.failed}


@app.task(base=SyncWorkerTask, bind=True, name="syncworker.check_alerts")
def check_alerts_task(self: SyncWorkerTask) -> dict[str, Any]:
    """Beat, every minute: evaluate the alert conditions and send (or retry) their messages
    (nothing without ALERT_WEBHOOK_URL). Never raises: see syncworker.ops.alerts."""
    report = check_alerts(services())
    if report is None:
        return {"evaluated": False}
    return {"evaluated": True, "firing": report.firing, "sent": report.sent}


@app.task(base=SyncWorkerTask, bind=True, name="syncworker.purge")
def purge_task(self: SyncWorkerTask) -> dict[str, Any]:
    """Beat, daily: delete the rows older than RETENTION_DAYS (syncworker.store.retention)."""
    from syncworker.store.retention import purge

    svc = services()
    report = purge(svc.store.sessions, svc.settings.retention_days)
    log.info("purged %d row(s) older than %s", report.total, report.cutoff.isoformat())
    return report.as_dict()


def _repair_events(event_ids: list[int]) -> None:
    """The lifecycle events (deletion, merge, restore, privacy deletion) among these,
    through drift repair, before the write-back marks them processed."""
    from syncworker.app.reconcile import repair_events

    svc = services()
    repair_events(svc, svc.webhook_events.get(event_ids))
