"""Readiness checks (``/readyz``, ``syncworker health``) and the worker heartbeat.

Readiness: the database answers, Redis answers (when ``REDIS_URL`` is set) and
the schema is at the newest migration. Each check names itself when it fails;
error texts are exception class names only (a driver's message may hold a URL).

Liveness of a Celery worker: its main process touches a file from its event
loop every ``WORKER_HEARTBEAT_SECONDS``; ``syncworker health --worker`` reads
the file's age without asking the broker (``celery inspect ping`` goes through
the broker: slow, and a broker hiccup would restart healthy workers).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from sqlalchemy import Engine, text

from syncworker.store.database import pending_migrations

log = logging.getLogger(__name__)


SKIPPED = "skipped (database unreachable)"  # not a failure of its own
PASSING = ("ok", SKIPPED)


@dataclass
class Readiness:
    checks: dict[str, str] = field(default_factory=dict)  # name -> "ok" | reason

    @property
    def failing(self) -> list[str]:
        return [name for name, outcome in self.checks.items() if outcome not in PASSING]

    @property
    def ready(self) -> bool:
        return not self.failing

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"status": "ready" if self.ready else "unready"}
        if self.failing:
            body["failing"] = self.failing
        body["checks"] = self.checks
        return body


def readiness(engine: Engine, redis_url: str | None) -> Readiness:
    result = Readiness()
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        result.checks["database"] = "ok"
    except Exception as exc:  # noqa: BLE001 - the check reports it
        result.checks["database"] = f"unreachable ({type(exc).__name__})"
    if redis_url:
        client: redis.Redis[bytes] = redis.Redis.from_url(
            redis_url, socket_timeout=2, socket_connect_timeout=2, retry=Retry(NoBackoff(), 0)
        )
        try:
            client.ping()
            result.checks["redis"] = "ok"
        except Exception as exc:  # noqa: BLE001 - the check reports it
            result.checks["redis"] = f"unreachable ({type(exc).__name__})"
        finally:
            client.close()
    if result.checks["database"] == "ok":
        try:
            pending = pending_migrations(engine)
            result.checks["migrations"] = (
                "pending: run `syncworker db upgrade`" if pending else "ok"
            )
        except Exception as exc:  # noqa: BLE001 - the check reports it
            result.checks["migrations"] = f"unknown ({type(exc).__name__})"
    else:
        result.checks["migrations"] = SKIPPED
    return result


# ------------------------------------------------------------------ heartbeat


def touch(path: str | os.PathLike[str]) -> None:
    """Stamp ``path`` with the current time (creating it and its folder)."""
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.touch()
        os.utime(target)
    except OSError as exc:
        log.warning("worker heartbeat not written (%s)", type(exc).__name__)


def heartbeat_age(
    path: str | os.PathLike[str], clock: Callable[[], float] = time.time
) -> float | None:
    """Seconds since the heartbeat file was touched; None when it does not exist."""
    try:
        return max(0.0, clock() - Path(path).stat().st_mtime)
    except FileNotFoundError:
        return None


def worker_alive(path: str | os.PathLike[str], max_age: float) -> tuple[bool, str]:
    age = heartbeat_age(path)
    if age is None:
        return False, f"no heartbeat at {path}"
    if age > max_age:
        return False, f"heartbeat {age:.0f} s old (more than {max_age:.0f} s)"
    return True, f"heartbeat {age:.0f} s old"
