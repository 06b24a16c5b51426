"""Shared fixtures: real PostgreSQL and Redis, the sandboxes, and a wired engine.

PostgreSQL and Redis are the machine's real servers (127.0.0.1:5432 trust auth,
127.0.0.1:6379). When one is missing, tests that need it are skipped locally
and FAIL in CI (CI=true): a missing service is never a silent skip there.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import redis
from sqlalchemy import Connection, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker
from syncworker_sandbox.runner import Sandboxes

from syncworker.app.container import Container
from syncworker.config import Settings
from syncworker.engine.fanout import FanOut
from syncworker.engine.state import RunResult
from syncworker.engine.sync import SyncEngine
from syncworker.hubspot.gateway import HubSpotGateway
from syncworker.locks import StreamLeases
from syncworker.sources.streams import Stream
from syncworker.sources.workways.client import WorkwaysClient
from syncworker.store.database import make_engine, scratch_run_tables, session_factory, upgrade
from syncworker.store.partitions import Partitions
from syncworker.store.snapshots import SnapshotStore

IN_CI = os.environ.get("CI") == "true"
POSTGRES_ADMIN_URL = os.environ.get(
    "TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
REDIS_TEST_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
BROKER_URL = REDIS_TEST_URL.rsplit("/", 1)[0] + "/14"


def service_missing(what: str, exc: BaseException) -> None:
    message = f"{what} is not reachable: {type(exc).__name__}: {exc}"
    if IN_CI:
        pytest.fail(f"{message} (CI=true: a missing service is a failure)", pytrace=False)
    pytest.skip(message)


# ---------------------------------------------------------------------- postgres


def create_database(name: str) -> str:
    """A fresh, migrated PostgreSQL database; returns its URL."""
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()
    url = make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    return url


def drop_database(name: str) -> None:
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@contextmanager
def fresh_database(prefix: str) -> Iterator[str]:
    """A migrated database of its own, for code that runs in other processes or threads."""
    name = f"{prefix}_{os.getpid()}"
    try:
        url = create_database(name)
    except Exception as exc:
        service_missing("PostgreSQL at 127.0.0.1:5432", exc)
    try:
        yield url
    finally:
        drop_database(name)


@pytest.fixture
def database() -> Iterator[str]:
    with fresh_database("syncworker_it") as url:
        yield url


@pytest.fixture(params=["postgresql", "sqlite"])
def either_database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, migrated database: PostgreSQL, then a SQLite file."""
    if request.param == "postgresql":
        return str(request.getfixturevalue("database"))
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    return url


@pytest.fixture
def database_store(database: str) -> Iterator[SnapshotStore]:
    engine = make_engine(database)
    yield SnapshotStore(session_factory(engine))
    engine.dispose()


@pytest.fixture
def broker() -> Iterator[str]:
    """An empty Redis database for a Celery broker."""
    client: redis.Redis[bytes] = redis.Redis.from_url(BROKER_URL)
    try:
        client.ping()
    except redis.RedisError as exc:
        service_missing("Redis at 127.0.0.1:6379", exc)
    client.flushdb()
    yield BROKER_URL
    client.flushdb()
    client.close()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    name = f"syncworker_test_{os.getpid()}"
    try:
        url = create_database(name)
    except Exception as exc:
        service_missing("PostgreSQL at 127.0.0.1:5432", exc)
    yield url
    drop_database(name)


@pytest.fixture(scope="session")
def postgres_engine(postgres_url: str):  # type: ignore[no-untyped-def]
    engine = make_engine(postgres_url)
    yield engine
    engine.dispose()


@pytest.fixture
def pg_connection(postgres_engine) -> Iterator[Connection]:  # type: ignore[no-untyped-def]
    """One transaction per test, rolled back at the end (warehouse style)."""
    connection = postgres_engine.connect()
    transaction = connection.begin()
    yield connection
    transaction.rollback()
    connection.close()


@pytest.fixture
def sessions(pg_connection: Connection) -> sessionmaker[Session]:
    """Sessions bound to the test's transaction: their commits become savepoints."""
    return sessionmaker(
        bind=pg_connection, expire_on_commit=False, join_transaction_mode="create_savepoint"
    )


@pytest.fixture
def store(sessions: sessionmaker[Session]) -> SnapshotStore:
    return SnapshotStore(sessions)


# ------------------------------------------------------------------------- redis


@pytest.fixture
def redis_client() -> Iterator[redis.Redis[bytes]]:
    client: redis.Redis[bytes] = redis.Redis.from_url(REDIS_TEST_URL)
    try:
        client.ping()
    except redis.RedisError as exc:
        service_missing("Redis at 127.0.0.1:6379", exc)
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


# --------------------------------------------------------------------- sandboxes


@pytest.fixture
def sandboxes() -> Iterator[Sandboxes]:
    with Sandboxes(users=120, orgs=20, seed=11) as boxes:
        yield boxes


@dataclass
class Wired:
    """Everything a sync needs, pointed at the sandboxes and the test database."""

    boxes: Sandboxes
    store: SnapshotStore
    workways: WorkwaysClient
    gateway: HubSpotGateway
    settings: Settings

    engine_options: dict[str, object] = field(default_factory=dict)

    def engine(self, **kw: object) -> SyncEngine:
        options = {**self.engine_options, **kw}
        return SyncEngine(self.store, self.workways, self.gateway, **options)  # type: ignore[arg-type]

    def fanout(
        self,
        *,
        leases: StreamLeases | None = None,
        runs: sessionmaker[Session] | None = None,
        dry_run: bool = False,
        archive_guard_percent: int = 100,
        **kw: object,
    ) -> FanOut:
        """Runs as the product runs them, on the test's store and sandboxes."""
        return FanOut(
            self.store,
            Partitions(runs or self.store.sessions),
            leases or StreamLeases(None),
            lambda _stream: self.engine(**kw),
            dry_run=dry_run,
            archive_guard_percent=archive_guard_percent,
        )

    def run(self, stream: Stream, **kw: Any) -> RunResult:
        (result,) = self.run_streams((stream,), **kw)
        return result

    def run_streams(
        self,
        streams: Sequence[Stream],
        *,
        full: bool = False,
        dry_run: bool = False,
        progress: Any = None,
        allow_mass_archive: bool = False,
        **kw: Any,
    ) -> list[RunResult]:
        allowed = allow_mass_archive
        if dry_run:
            with scratch_run_tables() as scratch:
                runs = self.fanout(runs=scratch, dry_run=True, **kw)
                return runs.run_here(streams, full, progress=progress, allow_mass_archive=allowed)
        return self.fanout(**kw).run_here(
            streams, full, progress=progress, allow_mass_archive=allowed
        )

    def sync_all(self, **kw: Any) -> list[RunResult]:
        from syncworker.sources.workways.streams import WORKWAYS_STREAMS

        return self.run_streams(WORKWAYS_STREAMS, **kw)


@pytest.fixture
def wired(sandboxes: Sandboxes, store: SnapshotStore) -> Iterator[Wired]:
    settings = Settings.from_env(sandboxes.environment("sqlite://"))
    services = Container(settings)
    workways = services.workways()
    gateway = services.gateway()
    yield Wired(sandboxes, store, workways, gateway, settings)
    workways.close()


def unique_name(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"
