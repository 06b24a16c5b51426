"""Retention: processed events, done write-backs and old task rows go after RETENTION_DAYS.

Rows are written through the stores with a moved clock (no sleeps); the purge
runs with its own clock.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from syncworker.cli.main import main
from syncworker.config import Settings
from syncworker.errors import ConfigError
from syncworker.store.database import make_engine, session_factory, upgrade
from syncworker.store.failures import RecordFailures
from syncworker.store.ledger import TaskLedger
from syncworker.store.models import RecordFailure, TaskDelivery, WebhookEvent, WritebackIntent
from syncworker.store.retention import purge
from syncworker.webhooks.events import WebhookEventStore, parse_events
from syncworker.writeback.outbox import Outbox

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
OLD = NOW - timedelta(days=31)  # beyond the default 30 days
RECENT = NOW - timedelta(days=29)


def seed(sessions: sessionmaker[Session]) -> None:
    """Of each kind: old and recent, done and still open."""

    def events(at: datetime, *, processed: bool) -> None:
        store = WebhookEventStore(sessions, clock=lambda: at)
        body = b'[{"subscriptionType":"contact.creation","objectId":1}]'
        ids = store.add(parse_events(body))
        if processed:
            store.mark_processed(ids)

    events(OLD, processed=True)  # goes
    events(RECENT, processed=True)  # stays: recent
    events(OLD, processed=False)  # stays: pending, however old

    def intent(at: datetime, source_id: str, outcome: str) -> None:
        outbox = Outbox(sessions, clock=lambda: at)
        made = outbox.record(
            stream="workways.users",
            source_id=source_id,
            hubspot_id="9" + source_id,
            prop="phone",
            parameter="phone",
            value="x",
        )
        if outcome == "done":
            outbox.complete([made])
        elif outcome == "superseded":
            outbox.supersede("workways.users", source_id, "phone")
        elif outcome == "quarantined":
            outbox.fail([made], "refused", retriable=False, max_attempts=5)

    intent(OLD, "1", "done")  # goes
    intent(OLD, "2", "superseded")  # goes
    intent(RECENT, "3", "done")  # stays: recent
    intent(OLD, "4", "pending")  # stays: pending
    intent(OLD, "5", "quarantined")  # stays: needs a person

    TaskLedger(sessions, clock=lambda: OLD).deliver("old-task", "syncworker.sync_all")  # goes
    TaskLedger(sessions, clock=lambda: RECENT).deliver("new-task", "syncworker.sync_all")

    RecordFailures(sessions, clock=lambda: OLD).record(
        "workways.users", "6", stage="upsert", message="refused"
    )  # an unresolved failure: stays


def remaining(sessions: sessionmaker[Session]) -> dict[str, list[str]]:
    with sessions() as session:
        return {
            "events": sorted(
                f"{e.received_at:%d}:{'processed' if e.processed_at else 'pending'}"
                for e in session.scalars(select(WebhookEvent))
            ),
            "intents": sorted(
                f"{i.source_id}:{i.status}" for i in session.scalars(select(WritebackIntent))
            ),
            "tasks": sorted(session.scalars(select(TaskDelivery.task_id))),
            "failures": sorted(session.scalars(select(RecordFailure.source_id))),
        }


BEFORE = {
    "events": ["01:pending", "01:processed", "03:processed"],
    "intents": ["1:done", "2:superseded", "3:done", "4:pending", "5:quarantined"],
    "tasks": ["new-task", "old-task"],
    "failures": ["6"],
}
AFTER = {
    "events": ["01:pending", "03:processed"],
    "intents": ["3:done", "4:pending", "5:quarantined"],
    "tasks": ["new-task"],
    "failures": ["6"],
}


def test_old_processed_rows_go_recent_and_pending_ones_stay(
    sessions: sessionmaker[Session],
) -> None:
    seed(sessions)
    assert remaining(sessions) == BEFORE

    dry = purge(sessions, 30, dry_run=True, clock=lambda: NOW)
    assert (dry.webhook_events, dry.writeback_intents, dry.task_deliveries) == (1, 2, 1)
    assert dry.cutoff == datetime(2026, 5, 2, 12, 0, tzinfo=UTC)
    assert remaining(sessions) == BEFORE  # a dry run deletes nothing

    report = purge(sessions, 30, clock=lambda: NOW)
    assert (report.webhook_events, report.writeback_intents, report.task_deliveries) == (1, 2, 1)
    assert report.total == 4
    assert remaining(sessions) == AFTER

    again = purge(sessions, 30, clock=lambda: NOW)
    assert again.total == 0


def test_a_shorter_retention_takes_the_recent_rows_too(sessions: sessionmaker[Session]) -> None:
    seed(sessions)
    report = purge(sessions, 28, clock=lambda: NOW)
    assert (report.webhook_events, report.writeback_intents, report.task_deliveries) == (2, 3, 2)
    assert remaining(sessions) == {
        "events": ["01:pending"],
        "intents": ["4:pending", "5:quarantined"],
        "tasks": [],
        "failures": ["6"],
    }


def test_a_clock_moved_forward_ages_the_rows(sessions: sessionmaker[Session]) -> None:
    seed(sessions)
    assert purge(sessions, 30, clock=lambda: OLD + timedelta(days=29)).total == 0
    assert purge(sessions, 30, clock=lambda: RECENT + timedelta(days=31)).total == 7
    assert remaining(sessions)["intents"] == ["4:pending", "5:quarantined"]


def test_retention_days_setting() -> None:
    assert Settings.from_env({}).retention_days == 30
    assert Settings.from_env({"RETENTION_DAYS": "7"}).retention_days == 7
    for bad in ("0", "-1", "2.5", "soon"):
        with pytest.raises(ConfigError) as caught:
            Settings.from_env({"RETENTION_DAYS": bad})
        assert caught.value.variable == "RETENTION_DAYS"


def test_purge_command_and_beat_task(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'purge.db'}"
    engine = make_engine(url)
    upgrade(engine)
    sessions = session_factory(engine)
    old = datetime.now(UTC) - timedelta(days=40)  # the command reads the real clock
    store = WebhookEventStore(sessions, clock=lambda: old)
    body = b'[{"subscriptionType":"contact.creation","objectId":1}]'
    store.mark_processed(store.add(parse_events(body)))
    store.add(parse_events(body))  # pending: stays
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.delenv("RETENTION_DAYS", raising=False)
    monkeypatch.delenv("LOG_LEVEL", raising=False)

    assert main(["purge", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("purge (dry run): would delete 1 processed webhook event(s), 0 ")
    assert "older than 30 day(s)" in out
    assert len(store.pending(10)) == 1 and len(store.get([1, 2])) == 2

    assert main(["purge"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("purge: deleted 1 processed webhook event(s), 0 ")
    assert [e.processed_at for e in store.get([1, 2])] == [None]

    from syncworker import celery_defaults, tasks

    assert celery_defaults.beat_schedule["purge-old-rows"] == {
        "task": "syncworker.purge",
        "schedule": 86_400.0,
        "options": {"expires": 86_400.0},
    }
    store.mark_processed(store.add(parse_events(body)))  # id 3, processed 40 days ago: goes
    fresh = WebhookEventStore(sessions)
    fresh.mark_processed(fresh.add(parse_events(body)))  # id 4, processed now: stays
    tasks.services.cache_clear()
    try:
        result = tasks.purge_task()
    finally:
        tasks.services.cache_clear()
    assert result["webhook_events"] == 1 and result["dry_run"] is False
    assert [e.id for e in store.get([1, 2, 3, 4])] == [2, 4]
    engine.dispose()
