"""Engines, sessions and migrations for the snapshot store.

Alembic is imported only to migrate: a sync checks the schema version by
reading ``alembic_version`` against :data:`SCHEMA_HEAD` (a test keeps that
constant equal to the newest migration in ``migrations/``).

The migrations live in the checkout's top-level ``migrations/`` folder; a wheel
ships them as package data, ``syncworker/migrations`` (see setup.py).
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError
from sqlalchemy.orm import Session, sessionmaker

from syncworker.errors import ConfigError
from syncworker.store.models import Base, RunItem, RunPartition, StreamFence, SyncRun

if TYPE_CHECKING:
    from alembic.config import Config


def _migrations_folder() -> Path:
    """The installed package's migrations, else the checkout's ``migrations/``.

    An installed wheel has them in ``syncworker/migrations``; a checkout (an
    editable install included) has no such folder and runs the top-level one.
    The package's own copy is looked for first so that an installed package
    never picks up an unrelated ``migrations`` folder beside it in site-packages.
    """
    packaged = Path(str(resources.files("syncworker") / "migrations"))
    if (packaged / "env.py").is_file():
        return packaged
    return Path(__file__).resolve().parents[2] / "migrations"


MIGRATIONS = _migrations_folder()
SCHEMA_HEAD = "0016"  # the newest revision in migrations/versions


def _json_text(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for ``url``; SQLite gets WAL and a busy timeout for concurrent readers.

    JSON columns (snapshot properties above all: every record of every run reads
    one) are encoded and decoded by orjson, several times faster than the
    standard library."""
    kwargs.setdefault("json_serializer", _json_text)
    kwargs.setdefault("json_deserializer", orjson.loads)
    try:
        parsed = make_url(url)
        if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        if parsed.get_backend_name() == "sqlite":
            kwargs.setdefault("connect_args", {"timeout": 30, "check_same_thread": False})
        else:
            kwargs.setdefault("pool_pre_ping", True)
        engine = create_engine(parsed, **kwargs)
    except (ArgumentError, NoSuchModuleError, ValueError) as exc:
        raise ConfigError("DATABASE_URL", f"cannot be used: {exc}") from None
    if parsed.get_backend_name() == "sqlite":

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            if parsed.database not in (None, "", ":memory:"):
                cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

    return engine


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def alembic_config(url: str) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply the migrations to ``engine``'s database (``syncworker db upgrade``)."""
    from alembic import command

    config = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def pending_migrations(engine: Engine) -> bool:
    """True when the database is not at the newest migration."""
    with engine.connect() as connection:
        if not inspect(connection).has_table("alembic_version"):
            return True
        current = connection.execute(text("SELECT version_num FROM alembic_version")).scalars()
        return set(current) != {SCHEMA_HEAD}


def migration_heads() -> set[str]:
    """The newest revisions in ``migrations/``, as Alembic reads them."""
    from alembic.script import ScriptDirectory

    return set(ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads())


@contextlib.contextmanager
def scratch_run_tables() -> Iterator[sessionmaker[Session]]:
    """A throwaway SQLite database holding only the tables that record runs.

    A dry run keeps its run, partitions and hand-over rows there: it goes through
    the very code of a real run and leaves nothing behind."""
    with tempfile.TemporaryDirectory(prefix="syncworker-dry-run-") as folder:
        engine = make_engine(f"sqlite:///{folder}/runs.db")
        names = (SyncRun, RunPartition, RunItem, StreamFence)
        tables = [Base.metadata.tables[model.__tablename__] for model in names]
        try:
            Base.metadata.create_all(engine, tables=tables)
            yield session_factory(engine)
        finally:
            engine.dispose()
