"""The passwords of DATABASE_URL and REDIS_URL are found nowhere (issue 19,
point 4): not in the repr of the settings or of the container, not in the CLI's
output (at LOG_LEVEL=debug) when a sync succeeds, when Redis or the database
cannot be reached or when the URL is malformed, and not in the stored rows.

PostgreSQL accepts any password on this machine (trust auth), so the database
URL really carries one; the Redis URL's port is closed."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.engine import make_url
from syncworker_sandbox.runner import Sandboxes

from syncworker.app.container import Container
from syncworker.config import Settings
from syncworker.store.database import make_engine
from tests.integration import ROOT

pytestmark = pytest.mark.integration


def closed_port() -> int:
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    port: int = holder.getsockname()[1]
    holder.close()
    return port


def passwords() -> tuple[str, str]:
    tag = uuid.uuid4().hex[:10]
    return f"Pg{tag}Secret", f"Rd{tag}Secret"


def with_password(url: str, password: str) -> str:
    return make_url(url).set(password=password).render_as_string(hide_password=False)


def cli(env: dict[str, str], *argv: str) -> tuple[int, str]:
    done = subprocess.run(
        [sys.executable, "-m", "syncworker", *argv],
        cwd=ROOT,
        env={**os.environ, "LOG_LEVEL": "debug", **env},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    return done.returncode, done.stdout + done.stderr


def test_reprs_hide_both_passwords() -> None:
    db_pw, redis_pw = passwords()
    settings = Settings.from_env(
        {
            "DATABASE_URL": f"postgresql://syncworker:{db_pw}@db.internal:5432/syncworker",
            "REDIS_URL": f"redis://:{redis_pw}@redis.internal:6379/0",
        }
    )
    container = Container(settings)
    shown = [repr(settings), str(settings), repr(container), repr(container.db), str(container.db)]
    shown.append(repr(container.redis))
    for text_ in shown:
        assert db_pw not in text_ and redis_pw not in text_, text_
    # what is hidden is only the password
    assert "postgresql://syncworker:***@db.internal:5432/syncworker" in repr(settings)
    assert "redis://:***@redis.internal:6379/0" in repr(settings)
    # the real values are still there for the code that connects
    assert db_pw in settings.database_url and redis_pw in (settings.redis_url or "")


def test_no_password_in_cli_output_or_stored_rows(database: str, tmp_path: Path) -> None:
    db_pw, redis_pw = passwords()
    db_url = with_password(database, db_pw)
    with Sandboxes(users=40, orgs=6, seed=3) as boxes:
        env = boxes.environment(db_url)
        # a sync that succeeds, logging at DEBUG
        code, output = cli({**env, "REDIS_URL": ""}, "sync", "--source", "workways", "--quiet")
        assert code == 0, output
        runs: list[tuple[int, str]] = [(code, output)]
        # Redis unreachable, with a password
        redis_url = f"redis://:{redis_pw}@127.0.0.1:{closed_port()}/0"
        runs.append(cli({**env, "REDIS_URL": redis_url}, "sync", "--source", "workways"))
        assert runs[-1][0] == 3, runs[-1][1]
        # the database unreachable, with a password
        down = f"postgresql://syncworker:{db_pw}@127.0.0.1:{closed_port()}/syncworker"
        runs.append(cli({**env, "DATABASE_URL": down, "REDIS_URL": redis_url}, "status"))
        assert runs[-1][0] == 3, runs[-1][1]
        # malformed URLs that hold the passwords
        runs.append(cli({"DATABASE_URL": f"postgresql:syncworker:{db_pw}@db"}, "status"))
        runs.append(cli({"REDIS_URL": f"http://:{redis_pw}@127.0.0.1:1/0"}, "status"))
        runs.append(cli({"DATABASE_URL": f"nosuchdb://u:{db_pw}@db/x"}, "status"))
        assert [code for code, _ in runs[-3:]] == [2, 2, 2]
        # the status of the good database, with both passwords in the settings
        runs.append(cli({**env, "REDIS_URL": redis_url}, "status"))
        assert runs[-1][0] == 0, runs[-1][1]
    for _, output in runs:
        assert db_pw not in output and redis_pw not in output, output
    assert "Traceback" not in "".join(output for _, output in runs)

    engine = make_engine(database)
    try:
        with engine.connect() as connection:
            tables = inspect(connection).get_table_names()
            assert "sync_runs" in tables or len(tables) > 5
            stored = 0
            for table in tables:
                for row in connection.execute(text(f'SELECT * FROM "{table}"')):
                    stored += 1
                    flat = repr(tuple(row))
                    assert db_pw not in flat and redis_pw not in flat, (table, flat)
            assert stored > 40  # the sync stored its snapshot rows
    finally:
        engine.dispose()
