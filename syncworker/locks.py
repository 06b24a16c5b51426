"""One run per stream at a time, across every machine of a deployment.

A Redis lock per stream, with an expiry (a dead worker cannot hold it forever)
that the running sync keeps extending while it makes progress. Without Redis
(one laptop, SQLite) runs are serialised by the single process running them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import redis
from redis.exceptions import LockError

from syncworker.errors import RunInProgressError

LOCK_TTL_SECONDS = 300  # renewed on every page; SYNC_LOCK_TTL_SECONDS overrides


@dataclass(frozen=True)
class Lease:
    """A held stream lock: ``heartbeat()`` extends it; ``token`` fences writes."""

    heartbeat: Callable[[], None]
    token: int | None  # increases with every new holder; None without Redis


def _noop() -> None:
    return None


@contextlib.contextmanager
def stream_lock(
    client: redis.Redis[bytes] | None, stream: str, ttl: int = LOCK_TTL_SECONDS
) -> Iterator[Lease]:
    """Hold the lock of ``stream``; yields its lease.

    Raises :class:`RunInProgressError` at once when another run holds it. The
    lease's fencing token lets the store refuse writes from a holder whose lock
    expired while it stalled (see ``SnapshotStore.claim_fence``).
    """
    if client is None:
        yield Lease(_noop, None)
        return
    lock = client.lock(f"syncworker:lock:{stream}", timeout=ttl, blocking=False)
    if not lock.acquire():
        raise RunInProgressError(f"a run of {stream} is already in progress; try again later")
    token = int(client.incr(f"syncworker:fence:{stream}"))

    def heartbeat() -> None:
        # Redis briefly away: the lock lives on until its expiry; the run goes on.
        with contextlib.suppress(LockError, redis.RedisError):
            lock.reacquire()

    try:
        yield Lease(heartbeat, token)
    finally:
        with contextlib.suppress(LockError, redis.RedisError):
            lock.release()
