"""Outages of the store: PostgreSQL drops every connection in the middle of a run."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from syncworker_sandbox.runner import Sandboxes

from syncworker.app.container import Container
from syncworker.app.sync import sync_streams
from syncworker.config import Settings
from syncworker.store.snapshots import SnapshotStore
from tests.checks import assert_converged
from tests.conftest import POSTGRES_ADMIN_URL

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def drop_connections(database_url: str) -> int:
    """What a PostgreSQL restart looks like to its clients: every connection gone."""
    name = make_url(database_url).database
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        killed = conn.execute(
            text(
                "select count(pg_terminate_backend(pid)) from pg_stat_activity "
                "where datname = :name and pid <> pg_backend_pid()"
            ),
            {"name": name},
        ).scalar()
    admin.dispose()
    return int(killed or 0)


def test_postgres_connections_dropped_mid_run(database: str, database_store: SnapshotStore) -> None:
    with Sandboxes(users=600, orgs=30, seed=12) as boxes:
        services = Container(Settings.from_env(boxes.environment(database)))
        dropped: list[int] = []

        def restart_on_page_2(event: Any) -> None:
            if event.stream == "workways.users" and event.page == 2 and not dropped:
                dropped.append(drop_connections(database))

        services.settings = Settings.from_env(
            {**boxes.environment(database), "SOURCE_CONCURRENCY": "1"}
        )
        try:
            results = sync_streams(services, "all", trigger="cli", progress=restart_on_page_2)
        except OperationalError as exc:  # a query cut off mid-flight fails the run
            outcome = [f"failed: {type(exc.orig).__name__}"]
        else:  # the drop fell between queries: the pool reconnected (pre-ping)
            outcome = [r.status for r in results]
            assert outcome == ["succeeded", "succeeded"]
        assert dropped and dropped[0] >= 1, "connections were dropped mid-run"
        again = sync_streams(services, "all", trigger="retry")  # the next scheduled run
        assert all(r.status == "succeeded" for r in again), outcome
        assert_converged(boxes, database_store)
        services.db.dispose()
