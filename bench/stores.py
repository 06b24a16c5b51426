"""Fresh, migrated snapshot stores for each scenario: SQLite files or PostgreSQL databases."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]


class Stores:
    """``new(name)`` gives the URL of an empty, migrated store.

    Default: SQLite files in a temporary folder. With ``postgres_url`` (a server
    URL whose user may create databases), one scratch database per store named
    ``syncworker_bench_<pid>_<name>``, dropped by ``cleanup()``.
    """

    def __init__(self, postgres_url: str | None = None) -> None:
        self.postgres_url = postgres_url
        self.folder = Path(tempfile.mkdtemp(prefix="syncworker-bench-"))
        self.created: list[str] = []

    @property
    def kind(self) -> str:
        if self.postgres_url:
            url = make_url(self.postgres_url)
            return f"PostgreSQL ({url.host}:{url.port or 5432})"
        return "SQLite (WAL) in a temporary folder"

    def _admin_url(self) -> str:
        assert self.postgres_url is not None
        url = make_url(self.postgres_url)
        if url.drivername == "postgresql":
            url = url.set(drivername="postgresql+psycopg")
        return url.render_as_string(hide_password=False)

    def new(self, name: str) -> str:
        if self.postgres_url:
            db = f"syncworker_bench_{os.getpid()}_{name}"
            admin = create_engine(self._admin_url(), isolation_level="AUTOCOMMIT")
            try:
                with admin.connect() as conn:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)'))
                    conn.execute(text(f'CREATE DATABASE "{db}"'))
            finally:
                admin.dispose()
            self.created.append(db)
            url = make_url(self._admin_url()).set(database=db).render_as_string(False)
        else:
            url = f"sqlite:///{self.folder / (name + '.db')}"
        subprocess.run(
            [sys.executable, "-m", "syncworker", "db", "upgrade"],
            cwd=ROOT,
            env={**os.environ, "DATABASE_URL": url},
            check=True,
            capture_output=True,
        )
        return url

    def cleanup(self, keep_files: bool = False) -> None:
        if self.postgres_url and self.created:
            admin = create_engine(self._admin_url(), isolation_level="AUTOCOMMIT")
            try:
                with admin.connect() as conn:
                    for db in self.created:
                        conn.execute(text(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)'))
            finally:
                admin.dispose()
        if not keep_files:
            shutil.rmtree(self.folder, ignore_errors=True)
