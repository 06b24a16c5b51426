"""Alerts: one message to ``ALERT_WEBHOOK_URL`` when a condition starts, one when it clears.

Conditions, read from the database (:mod:`syncworker.ops.queries`) and HubSpot's
daily-budget headers (:mod:`syncworker.ops.instruments`):

- ``stale:<stream>``: no completed run for ``ALERT_STALE_AFTER_SECONDS``
  (default: 3 x the stream's interval);
- ``run_failed:<stream>``: the stream's latest finished run aborted (or died);
- ``quarantine:<stream>``: records of the stream are quarantined;
- ``daily_budget``: more than 80 % of HubSpot's daily request budget is used;
- ``outbox_age``: a write-back intent has been pending for more than an hour.

Any process may evaluate (the ``syncworker.check_alerts`` beat task every
minute, and every sync and write-back task after its run); the state lives in
the ``alert_states`` table (:mod:`syncworker.store.alert_state`), so each
change is announced once however many workers see it. A delivery that fails is
logged and retried with back-off; nothing here ever fails a sync.

Messages name streams, counts, run ids and ages only: never a record's data,
an error text from an API, or the webhook's URL.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import httpx
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from syncworker.ops import instruments, queries
from syncworker.store.alert_state import AlertStates, Outgoing
from syncworker.store.models import SyncRun
from syncworker.writeback.service import WRITEBACK_STREAM

if TYPE_CHECKING:
    from syncworker.app.container import Container
    from syncworker.config import Settings

log = logging.getLogger("syncworker.alerts")

BUDGET_USED_THRESHOLD = 0.8
OUTBOX_MAX_AGE = timedelta(hours=1)
STALE_INTERVALS = 3
CHECK_EVERY_SECONDS = 60.0  # the beat task's schedule
DELIVERY_TIMEOUT_SECONDS = 10.0
# Statuses of a run that did not complete (``interrupted``: its worker died).
NOT_COMPLETED = ("aborted", "interrupted")
KINDS = ("stale", "run_failed", "quarantine", "daily_budget", "outbox_age")

Clock = Callable[[], datetime]
Deliver = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class Condition:
    key: str  # "<kind>" or "<kind>:<stream>"
    firing: bool
    summary: str  # the message's text, for this state


@dataclass
class Report:
    """What one evaluation did (for logs and tests)."""

    firing: list[str] = field(default_factory=list)  # keys firing now
    changed: list[str] = field(default_factory=list)  # keys this evaluator moved
    sent: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


def _ago(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    if minutes < 120:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if hours < 48 else f"{hours // 24} days"


def _at(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _runs_per_stream(sessions: sessionmaker[Session]) -> tuple[dict[str, datetime], dict[str, Any]]:
    """Per stream: when its first run started, and its newest finished run (id, status)."""
    with sessions() as session:
        first = {
            stream: at
            for stream, at in session.execute(
                select(SyncRun.stream, func.min(SyncRun.started_at)).group_by(SyncRun.stream)
            )
            if at is not None
        }
        newest = (
            select(SyncRun.stream, func.max(SyncRun.id).label("id"))
            .where(SyncRun.status != "running")
            .group_by(SyncRun.stream)
            .subquery()
        )
        finished = {
            stream: (run_id, status)
            for stream, run_id, status in session.execute(
                select(SyncRun.stream, SyncRun.id, SyncRun.status).join(
                    newest, SyncRun.id == newest.c.id
                )
            )
        }
    return first, finished


def daily_budget() -> tuple[float, float] | None:
    """``(remaining, limit)`` as HubSpot's latest daily headers said, if any process saw them.

    In multiprocess mode the newest value any process wrote; else this process's."""
    directory = instruments.multiprocess_dir()
    values: dict[str, float] = {}
    if directory:
        from prometheus_client import multiprocess

        collector = multiprocess.MultiProcessCollector(None, path=directory)  # type: ignore[no-untyped-call]
        for metric in collector.collect():  # type: ignore[no-untyped-call]
            for sample in metric.samples:
                values[sample.name] = sample.value
    else:
        for lazy in (instruments.HUBSPOT_DAILY_REMAINING, instruments.HUBSPOT_DAILY_LIMIT):
            if lazy.gauge is not None:
                for metric in lazy.gauge.collect():
                    for sample in metric.samples:
                        values[sample.name] = sample.value
    remaining = values.get(instruments.HUBSPOT_DAILY_REMAINING.name)
    limit = values.get(instruments.HUBSPOT_DAILY_LIMIT.name)
    if remaining is None or not limit:
        return None
    return remaining, limit


class AlertEvaluator:
    """Evaluates every condition, moves their rows, sends what is due."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        settings: Settings,
        deliver: Deliver,
        *,
        clock: Clock = lambda: datetime.now(UTC),
        budget: Callable[[], tuple[float, float] | None] = daily_budget,
    ) -> None:
        self.sessions = sessions
        self.settings = settings
        self.deliver = deliver
        self.clock = clock
        self.budget = budget
        self.states = AlertStates(sessions)

    # ------------------------------------------------------------ conditions
    def stale_after(self, stream: str) -> timedelta:
        if self.settings.alert_stale_after_seconds is not None:
            return timedelta(seconds=self.settings.alert_stale_after_seconds)
        interval = (
            self.settings.writeback_interval_seconds
            if stream == WRITEBACK_STREAM
            else self.settings.sync_interval_seconds
        )
        return timedelta(seconds=STALE_INTERVALS * interval)

    def conditions(self, now: datetime) -> tuple[list[Condition], set[str]]:
        """The conditions known now, and the kinds evaluated in full (their other
        keys are clear); a kind that could not be read keeps its state."""
        sessions = self.sessions
        found: list[Condition] = []
        first_run, finished = _runs_per_stream(sessions)
        last_success = queries.last_success(sessions)
        for stream, first in sorted(first_run.items()):
            limit = self.stale_after(stream)
            success = last_success.get(stream)
            since = success or first
            if now - since > limit:
                what = f"last success {_at(success)}" if success else "no run has completed yet"
                found.append(
                    Condition(
                        f"stale:{stream}",
                        True,
                        f"Stream {stream} has not synced successfully for {_ago(now - since)} "
                        f"(alert after {_ago(limit)}; {what}).",
                    )
                )
            elif success is not None:
                found.append(
                    Condition(
                        f"stale:{stream}",
                        False,
                        f"Stream {stream} synced successfully again (last success {_at(success)}).",
                    )
                )
        for stream, (run_id, status) in sorted(finished.items()):
            failed = status in NOT_COMPLETED
            text = (
                f"The latest run of {stream} (run #{run_id}) ended {status}."
                if failed
                else f"Stream {stream}: a later run (run #{run_id}) ended {status}."
            )
            found.append(Condition(f"run_failed:{stream}", failed, text))
        for (stream, state), count in sorted(queries.failure_counts(sessions).items()):
            if state == "quarantined" and count:
                found.append(
                    Condition(
                        f"quarantine:{stream}",
                        True,
                        f"{count} record(s) of {stream} are quarantined: see the ops page or "
                        "`syncworker failures list`.",
                    )
                )
        kinds = {"stale", "run_failed", "quarantine", "outbox_age"}

        oldest = queries.oldest_pending(sessions)
        age = timedelta(0) if oldest is None else now - oldest
        pending = queries.outbox_counts(sessions).get("pending", 0)
        found.append(
            Condition(
                "outbox_age",
                age > OUTBOX_MAX_AGE,
                f"A write-back intent has been pending for {_ago(age)} ({pending} pending): see "
                "the ops page or `syncworker writeback list --status pending`."
                if age > OUTBOX_MAX_AGE
                else f"No write-back intent has been pending for more than {_ago(OUTBOX_MAX_AGE)}.",
            )
        )

        reading = self.budget()
        if reading is not None:
            remaining, budget = reading
            used = 1 - remaining / budget
            kinds.add("daily_budget")
            found.append(
                Condition(
                    "daily_budget",
                    used > BUDGET_USED_THRESHOLD,
                    f"HubSpot's daily API budget is {used:.0%} used ({remaining:,.0f} of "
                    f"{budget:,.0f} requests left today).",
                )
            )
        return found, kinds

    # ------------------------------------------------------------ evaluation
    def evaluate(self) -> Report:
        """One evaluation: move what changed, then send what is due (including retries)."""
        now = self.clock()
        report = Report()
        found, kinds = self.conditions(now)
        known = {c.key for c in found}
        for key, row in self.states.all().items():
            kind = key.split(":", 1)[0]
            if row.firing and kind in kinds and key not in known:  # its subject is gone
                found.append(Condition(key, False, f"Cleared: {row.summary}"))
        for condition in found:
            if condition.firing:
                report.firing.append(condition.key)
            if self.states.transition(condition.key, condition.firing, condition.summary, now):
                report.changed.append(condition.key)
                log.info("alert %s %s", condition.key, "firing" if condition.firing else "resolved")
        for message in self.states.claim_due(now):
            try:
                self.deliver(self.payload(message))
            except Exception as exc:  # noqa: BLE001 - a delivery never fails the caller
                reason = _reason(exc)
                retry_at = self.states.failed(message, reason, now)
                report.failed.append(message.key)
                log.warning(
                    "alert %s not delivered (%s); retrying after %s",
                    message.key,
                    reason,
                    _at(retry_at),
                )
            else:
                self.states.sent(message)
                report.sent.append(message.key)
        return report

    def payload(self, message: Outgoing) -> dict[str, Any]:
        status = "firing" if message.firing else "resolved"
        kind, _, stream = message.key.partition(":")
        if self.settings.alert_format == "json":
            return {
                "source": "syncworker",
                "status": status,
                "condition": kind,
                "key": message.key,
                "stream": stream or None,
                "summary": message.summary,
                "since": message.changed_at.astimezone(UTC).isoformat(),
            }
        mark = ":rotating_light: FIRING" if message.firing else ":white_check_mark: RESOLVED"
        return {"text": f"{mark} [syncworker] {message.key}: {message.summary}"}


def _reason(exc: Exception) -> str:
    """Why a delivery failed, without the URL (a Slack webhook's path is its credential)."""
    if isinstance(exc, httpx.HTTPStatusError):
        return f"HTTP {exc.response.status_code}"
    return type(exc).__name__


def http_delivery(url: str, timeout: float = DELIVERY_TIMEOUT_SECONDS) -> Deliver:
    def deliver(payload: dict[str, Any]) -> None:
        answer = httpx.post(url, json=payload, timeout=timeout, follow_redirects=False)
        answer.raise_for_status()

    return deliver


def evaluator(services: Container, *, clock: Clock | None = None) -> AlertEvaluator | None:
    """The evaluator for ``services``' settings; None when ``ALERT_WEBHOOK_URL`` is not set."""
    url = services.settings.alert_webhook_url
    if not url:
        return None
    deliver = http_delivery(url.reveal())
    if clock is None:
        return AlertEvaluator(services.store.sessions, services.settings, deliver)
    return AlertEvaluator(services.store.sessions, services.settings, deliver, clock=clock)


def check_alerts(services: Container) -> Report | None:
    """Evaluate the alerts if configured; logs and swallows every error (never fails a sync)."""
    try:
        found = evaluator(services)
        return None if found is None else found.evaluate()
    except Exception as exc:  # noqa: BLE001 - alerts never break the work they watch
        log.warning("alerts not evaluated: %s", type(exc).__name__)
        return None
