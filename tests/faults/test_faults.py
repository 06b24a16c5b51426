"""Fault injection on real worker processes, Redis and PostgreSQL, and the sandboxes.

Every scenario ends with the same three checks: HubSpot equals Workways, no
duplicates, snapshot equals HubSpot.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select
from syncworker_sandbox.runner import Sandboxes

from syncworker.app.container import Container
from syncworker.app.sync import sync_streams
from syncworker.config import Settings
from syncworker.store.ledger import TaskLedger
from syncworker.store.models import TaskDelivery
from syncworker.store.snapshots import SnapshotStore
from tests.checks import assert_converged
from tests.integration import celery_process, holds, send_task, stop, wait_until, worker_args

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_hubspot_answering_500_to_30_percent(database: str, database_store: SnapshotStore) -> None:
    store = database_store
    with Sandboxes(users=400, orgs=40, seed=8) as boxes:
        services = Container(Settings.from_env(boxes.environment(database)))
        services.hubspot._sleep = lambda seconds: None  # backoff without waiting
        boxes.hubspot.set_fault(error_rate=0.3, error_status=500, seed=1234)
        results = sync_streams(services, "all", trigger="cli")
        # Five tries per call (the gateway's max_attempts) get through a 30% error
        # rate: every record is created on the first run, none left failed.
        assert [(r.stream, r.status) for r in results] == [
            ("workways.organizations", "succeeded"),
            ("workways.users", "succeeded"),
        ]
        assert [(r.counts["created"], r.counts["failed"]) for r in results] == [(40, 0), (400, 0)]
        assert boxes.hubspot.count(status=500) > 0
        boxes.hubspot.set_fault(error_rate=0.0)
        assert all(r.status == "succeeded" for r in sync_streams(services, "all", trigger="cli"))
        assert_converged(boxes, store)
        services.db.dispose()


def test_sigkill_mid_initial_sync_of_10000_contacts(
    broker: str, database: str, database_store: SnapshotStore
) -> None:
    store = database_store
    with Sandboxes(users=10_000, orgs=300, seed=10, latency_ms=25) as boxes:
        env = {
            **boxes.environment(database),
            "REDIS_URL": broker,
            "CELERY_VISIBILITY_TIMEOUT": "15",
            "CELERY_RESTORE_INTERVAL": "1",
            "SYNC_LOCK_TTL_SECONDS": "4",
        }
        services = Container(Settings.from_env(env))
        with celery_process(worker_args("victim"), env) as victim:
            send_task(broker, "syncworker.sync_all", trigger="cli")
            wait_until(
                lambda: len(boxes.hubspot.store.objects("contacts")) >= 2500,
                120,
                "the initial sync to be well under way",
            )
            stop(victim, sig=9)  # SIGKILL the whole worker, mid-push
        assert 2500 <= len(boxes.hubspot.store.objects("contacts")) < 10_000
        with celery_process(worker_args("survivor"), env):
            wait_until(
                holds(lambda: assert_converged(boxes, store)), 180, "the redelivered sync to finish"
            )
        services.db.dispose()


def test_poison_task_is_quarantined_not_redelivered_forever(
    broker: str, database: str, database_store: SnapshotStore
) -> None:
    store = database_store
    env = {"DATABASE_URL": database, "REDIS_URL": broker}
    task_id = send_task(broker, "tests.poison")
    ledger = TaskLedger(store.sessions)
    with celery_process(worker_args("poison"), env, app="tests.faults.poison_app"):
        wait_until(lambda: ledger.quarantined_count() == 1, 90, "the poison task quarantined")
    with store.sessions() as session:
        row = session.scalars(select(TaskDelivery)).one()
    assert row.task_id == task_id and row.task_name == "tests.poison"
    assert row.deliveries == 4 and row.quarantined_at is not None
