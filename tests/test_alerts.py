"""Alerts: one message per change of a condition, at a real HTTP receiver on loopback.

The clock is injected (moved by hand); the receiver is a tiny HTTP server in a
thread that records what it gets and answers the status it is told to.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from syncworker.app.container import Container
from syncworker.config import Settings
from syncworker.ops.alerts import AlertEvaluator, check_alerts, http_delivery
from syncworker.store.database import make_engine, session_factory, upgrade
from syncworker.store.models import SyncRun, WritebackIntent
from syncworker.store.snapshots import SnapshotStore
from tests.conftest import fresh_database

T0 = datetime(2026, 12, 12, 9, 0, tzinfo=UTC)
USERS = "workways.users"


class Receiver:
    """An alert webhook on 127.0.0.1: keeps every body; answers ``statuses`` in turn, then 200."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.statuses: list[int] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with receiver.lock:
                    receiver.bodies.append(body)
                    status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/T000/B000/secretpath"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def texts(self) -> list[str]:
        with self.lock:
            return [b["text"] for b in self.bodies]

    def heads(self) -> list[str]:
        """Each text up to its summary: ``:mark: STATE [syncworker] key``."""
        return [
            t.split("]", 1)[0] + "] " + t.split("] ", 1)[1].split(": ", 1)[0] for t in self.texts()
        ]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    r.thread.start()
    try:
        yield r
    finally:
        r.server.shutdown()
        r.server.server_close()


@pytest.fixture
def sessions(tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(f"sqlite:///{tmp_path / 'alerts.db'}")
    upgrade(engine)
    yield session_factory(engine)
    engine.dispose()


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def add_run(
    sessions: sessionmaker[Session], status: str, started: datetime, minutes: int = 1
) -> int:
    with sessions.begin() as session:
        run = SyncRun(
            stream=USERS,
            trigger="beat",
            mode="incremental",
            status=status,
            started_at=started,
            finished_at=started + timedelta(minutes=minutes),
        )
        session.add(run)
        session.flush()
        return run.id


def evaluator(
    sessions: sessionmaker[Session],
    receiver: Receiver,
    clock: Clock,
    budget: tuple[float, float] | None = None,
    **settings: Any,
) -> AlertEvaluator:
    return AlertEvaluator(
        sessions,
        Settings(sync_interval_seconds=900, **settings),
        http_delivery(receiver.url),
        clock=clock,
        budget=lambda: budget,
    )


def test_a_stale_stream_alerts_once_then_resolves_once(
    sessions: sessionmaker[Session], receiver: Receiver
) -> None:
    clock = Clock(T0 + timedelta(minutes=10))
    alerts = evaluator(sessions, receiver, clock)
    add_run(sessions, "succeeded", T0)  # finished 09:01
    alerts.evaluate()
    assert receiver.texts() == []  # 9 min since the last success: fresh (alert after 45)

    clock.now = T0 + timedelta(minutes=50)
    assert alerts.evaluate().sent == [f"stale:{USERS}"]
    for minutes in (51, 52, 70):  # still stale: nothing more
        clock.now = T0 + timedelta(minutes=minutes)
        assert alerts.evaluate().sent == []
    add_run(sessions, "succeeded", T0 + timedelta(minutes=71))  # Workways is back
    clock.now = T0 + timedelta(minutes=73)
    assert alerts.evaluate().sent == [f"stale:{USERS}"]
    clock.now = T0 + timedelta(minutes=74)
    assert alerts.evaluate().sent == []

    assert receiver.texts() == [
        ":rotating_light: FIRING [syncworker] stale:workways.users: Stream workways.users has "
        "not synced successfully for 49 min (alert after 45 min; last success "
        "2026-12-12 09:01 UTC).",
        ":white_check_mark: RESOLVED [syncworker] stale:workways.users: Stream workways.users "
        "synced successfully again (last success 2026-12-12 10:12 UTC).",
    ]


def test_alert_stale_after_seconds_overrides_three_intervals(
    sessions: sessionmaker[Session], receiver: Receiver
) -> None:
    clock = Clock(T0 + timedelta(minutes=12))
    add_run(sessions, "succeeded", T0)
    evaluator(sessions, receiver, clock, alert_stale_after_seconds=600).evaluate()
    assert receiver.heads() == [":rotating_light: FIRING [syncworker] stale:workways.users"]


def test_an_aborted_run_alerts_and_a_later_completed_run_resolves(
    sessions: sessionmaker[Session], receiver: Receiver
) -> None:
    clock = Clock(T0 + timedelta(minutes=5))
    alerts = evaluator(sessions, receiver, clock)
    add_run(sessions, "succeeded", T0)
    aborted = add_run(sessions, "aborted", T0 + timedelta(minutes=2))
    alerts.evaluate()
    running = add_run(sessions, "running", T0 + timedelta(minutes=6))
    clock.now = T0 + timedelta(minutes=7)
    alerts.evaluate()  # a run in progress neither resolves nor repeats it
    with sessions.begin() as session:
        run = session.get(SyncRun, running)
        assert run is not None
        run.status = "finished_with_failures"
    alerts.evaluate()
    assert receiver.texts() == [
        f":rotating_light: FIRING [syncworker] run_failed:workways.users: The latest run of "
        f"workways.users (run #{aborted}) ended aborted.",
        f":white_check_mark: RESOLVED [syncworker] run_failed:workways.users: Stream "
        f"workways.users: a later run (run #{running}) ended finished_with_failures.",
    ]


def test_quarantine_outbox_age_and_daily_budget(
    sessions: sessionmaker[Session], receiver: Receiver
) -> None:
    clock = Clock(T0)
    store = SnapshotStore(sessions)
    failure = store.failures.record(
        USERS, "u-secret-1", stage="upsert", message="bad e-mail jane@example.com", max_attempts=1
    )
    with sessions.begin() as session:
        session.add(
            WritebackIntent(
                stream=USERS,
                source_id="u-2",
                hubspot_id="901",
                property="workways_news_optin",
                parameter="optin",
                value="true",
                created_at=T0 - timedelta(minutes=61),
            )
        )
    alerts = evaluator(sessions, receiver, clock, budget=(100_000, 625_000))
    alerts.evaluate()
    assert sorted(receiver.texts()) == [
        ":rotating_light: FIRING [syncworker] daily_budget: HubSpot's daily API budget is 84% "
        "used (100,000 of 625,000 requests left today).",
        ":rotating_light: FIRING [syncworker] outbox_age: A write-back intent has been pending "
        "for 61 min (1 pending): see the ops page or `syncworker writeback list --status "
        "pending`.",
        ":rotating_light: FIRING [syncworker] quarantine:workways.users: 1 record(s) of "
        "workways.users are quarantined: see the ops page or `syncworker failures list`.",
    ]
    assert all("u-secret-1" not in t and "jane" not in t for t in receiver.texts())

    store.failures.release([failure.id])
    with sessions.begin() as session:
        for intent in session.query(WritebackIntent):
            intent.status = "done"
    alerts.budget = lambda: (600_000, 625_000)  # a new day
    alerts.evaluate()
    assert sorted(receiver.texts()[3:]) == [
        ":white_check_mark: RESOLVED [syncworker] daily_budget: HubSpot's daily API budget is "
        "4% used (600,000 of 625,000 requests left today).",
        ":white_check_mark: RESOLVED [syncworker] outbox_age: No write-back intent has been "
        "pending for more than 60 min.",
        ":white_check_mark: RESOLVED [syncworker] quarantine:workways.users: Cleared: 1 record(s) "
        "of workways.users are quarantined: see the ops page or `syncworker failures list`.",
    ]


def test_json_format(sessions: sessionmaker[Session], receiver: Receiver) -> None:
    add_run(sessions, "succeeded", T0)
    clock = Clock(T0 + timedelta(hours=2))
    evaluator(sessions, receiver, clock, alert_format="json").evaluate()
    assert receiver.bodies == [
        {
            "source": "syncworker",
            "status": "firing",
            "condition": "stale",
            "key": "stale:workways.users",
            "stream": "workways.users",
            "summary": "Stream workways.users has not synced successfully for 119 min "
            "(alert after 45 min; last success 2026-12-12 09:01 UTC).",
            "since": "2026-12-12T11:00:00+00:00",
        }
    ]


def test_a_failing_receiver_is_retried_later_and_never_breaks_the_evaluation(
    sessions: sessionmaker[Session], receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    add_run(sessions, "succeeded", T0)
    clock = Clock(T0 + timedelta(hours=1))
    alerts = evaluator(sessions, receiver, clock)
    receiver.statuses = [500, 500]
    first = alerts.evaluate()
    assert first.failed == [f"stale:{USERS}"] and first.sent == []
    assert "HTTP 500" in caplog.text and "secretpath" not in caplog.text
    clock.now += timedelta(seconds=30)
    assert alerts.evaluate().failed == []  # backing off: not tried again yet
    clock.now += timedelta(seconds=31)  # a minute after the first try
    assert alerts.evaluate().failed == [f"stale:{USERS}"]
    clock.now += timedelta(seconds=61)  # the second back-off is two minutes
    assert alerts.evaluate().sent == []
    clock.now += timedelta(seconds=60)
    assert alerts.evaluate().sent == [f"stale:{USERS}"]
    clock.now += timedelta(minutes=10)
    assert alerts.evaluate().sent == []
    assert receiver.heads() == [":rotating_light: FIRING [syncworker] stale:workways.users"] * 3


def test_check_alerts_swallows_a_database_that_is_away(receiver: Receiver) -> None:
    settings = Settings.from_env(
        {
            "DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:1/none",
            "ALERT_WEBHOOK_URL": receiver.url,
        }
    )
    assert check_alerts(Container(settings)) is None
    assert receiver.bodies == []


def test_the_webhook_url_is_a_secret_never_echoed() -> None:
    settings = Settings.from_env({"ALERT_WEBHOOK_URL": "https://hooks.example/T1/B2/xyz"})
    assert "xyz" not in repr(settings)
    from syncworker.errors import ConfigError

    with pytest.raises(ConfigError) as error:
        Settings.from_env({"ALERT_WEBHOOK_URL": "hooks.example/T1/B2/xyz"})
    assert "xyz" not in str(error.value) and "ALERT_WEBHOOK_URL" in str(error.value)


@pytest.mark.integration
def test_evaluators_racing_on_postgresql_announce_each_change_once(receiver: Receiver) -> None:
    """Four evaluators (each with its own engine, as workers have) run at once, released
    together by a barrier, through five changes of one condition."""
    with fresh_database("syncworker_alerts_race") as url:
        engines = [make_engine(url) for _ in range(4)]
        try:
            clock = Clock(T0)
            evaluators = [evaluator(session_factory(e), receiver, clock) for e in engines]
            writer = session_factory(engines[0])
            barrier = threading.Barrier(len(evaluators))
            errors: list[BaseException] = []

            def race(alerts: AlertEvaluator) -> None:
                try:
                    barrier.wait()
                    alerts.evaluate()
                except BaseException as exc:
                    errors.append(exc)

            for round_ in range(5):
                start = T0 + timedelta(hours=2 * round_)
                if round_ % 2 == 0:  # stale: the last success is an hour old
                    add_run(writer, "succeeded", start - timedelta(minutes=61), minutes=0)
                    clock.now = start
                else:  # fresh: a run just succeeded
                    add_run(writer, "succeeded", start - timedelta(minutes=2))
                    clock.now = start
                threads = [threading.Thread(target=race, args=(a,)) for a in evaluators]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join()
                assert errors == []
            marks = [t.split(" [", 1)[0] for t in receiver.texts()]
            assert marks == [
                ":rotating_light: FIRING",
                ":white_check_mark: RESOLVED",
                ":rotating_light: FIRING",
                ":white_check_mark: RESOLVED",
                ":rotating_light: FIRING",
            ]
        finally:
            for e in engines:
                e.dispose()


def test_the_beat_task_evaluates_every_minute_from_the_settings(
    tmp_path: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    from syncworker import celery_defaults, tasks

    assert celery_defaults.beat_schedule["check-alerts"] == {
        "task": "syncworker.check_alerts",
        "schedule": 60.0,
        "options": {"expires": 60.0},
    }
    url = f"sqlite:///{tmp_path / 'beat.db'}"
    engine = make_engine(url)
    upgrade(engine)
    # an hour ago (the real clock: the task runs as beat runs it): stale after 45 min
    add_run(session_factory(engine), "succeeded", datetime.now(UTC) - timedelta(hours=1))
    engine.dispose()
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.delenv("ALERT_WEBHOOK_URL", raising=False)
    tasks.services.cache_clear()
    try:
        assert tasks.check_alerts_task() == {"evaluated": False}
        monkeypatch.setenv("ALERT_WEBHOOK_URL", receiver.url)
        tasks.services.cache_clear()
        first = tasks.check_alerts_task()
        assert first["sent"] == ["stale:workways.users"], first
        assert tasks.check_alerts_task()["sent"] == []
    finally:
        tasks.services().db.dispose()
        tasks.services.cache_clear()
    assert receiver.heads() == [":rotating_light: FIRING [syncworker] stale:workways.users"]
