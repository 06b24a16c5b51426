"""One run per stream at a time, across every machine of a deployment.

A Redis lock per stream, with an expiry (a dead worker cannot hold it forever)
that the running sync keeps extending while it makes progress. Without Redis
(one laptop, SQLite) runs are serialised by the single process running them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Protocol

import redis
from redis.exceptions import LockError

from syncworker.errors import RunInProgressError

LOCK_TTL_SECONDS = 300  # renewed on every page; SYNC_LOCK_TTL_SECONDS overrides


class Heartbeat(Protocol):
    def __call__(self) -> None: ...


def _noop() -> None:
    return None


@contextlib.contextmanager
def stream_lock(
    client: redis.Redis[bytes] | None, stream: str, ttl: int = LOCK_TTL_SECONDS
) -> Iterator[Heartbeat]:
    """Hold the lock of ``stream``; yields a heartbeat that extends it.

    Raises :class:`RunInProgressError` at once when another run holds it.
    """
    if client is None:
        yield _noop
        return
    lock = client.lock(f"syncworker:lock:{stream}", timeout=ttl, blocking=False)
    if not lock.acquire():
        raise RunInProgressError(f"a run of {stream} is already in progress; try again later")

    def heartbeat() -> None:
        # Redis briefly away: the lock lives on until its expiry; the run goes on.
        with contextlib.suppress(LockError, redis.RedisError):
            lock.reacquire()

    try:
        yield heartbeat
    finally:
        with contextlib.suppress(LockError, redis.RedisError):
            lock.release()
