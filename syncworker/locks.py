"""One run per stream at a time, across every machine of a deployment.

A Redis lock per stream, with an expiry (a dead worker cannot hold it forever)
that the running sync keeps extending while it makes progress. Without Redis
(one laptop, SQLite) runs are serialised by the single process running them.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import redis
from redis.exceptions import LockError

from syncworker.errors import RunInProgressError

LOCK_TTL_SECONDS = 300  # renewed on every page; SYNC_LOCK_TTL_SECONDS overrides


def lock_key(stream: str) -> str:
    return f"syncworker:lock:{stream}"


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
    lock = client.lock(lock_key(stream), timeout=ttl, blocking=False)
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


@dataclass(frozen=True)
class RunLease:
    """A stream lock held by a run rather than a process (runs split into units).

    ``value`` is the lock's random value (not a secret): whichever worker works
    on the run renews or releases the lock with it. ``token`` fences writes.
    """

    stream: str
    value: str
    token: int | None


class StreamLeases:
    """The stream locks of runs whose units many workers share.

    Same keys as :func:`stream_lock`, so a run split into units and a run held
    by one process exclude each other. Without Redis, leases are local: the one
    process running the units serialises them.
    """

    def __init__(self, client: redis.Redis[bytes] | None, ttl: int = LOCK_TTL_SECONDS) -> None:
        self.client = client
        self.ttl = ttl

    def _lock(self, stream: str, value: str | None = None) -> Any:
        assert self.client is not None
        lock = self.client.lock(lock_key(stream), timeout=self.ttl, blocking=False)
        if value is not None:
            lock.local.token = value.encode()
        return lock

    def acquire(self, stream: str) -> RunLease:
        """Take the lock of ``stream`` (:class:`RunInProgressError` when held)."""
        if self.client is None:
            return RunLease(stream, "local", None)
        value = uuid.uuid4().hex
        if not self._lock(stream).acquire(token=value):
            raise RunInProgressError(f"a run of {stream} is already in progress; try again later")
        token = int(self.client.incr(f"syncworker:fence:{stream}"))
        return RunLease(stream, value, token)

    def renew(self, stream: str, value: str | None) -> None:
        """Extend the lock's expiry, if ``value`` still holds it (Redis away: no-op)."""
        if self.client is None or not value:
            return
        with contextlib.suppress(LockError, redis.RedisError):
            self._lock(stream, value).reacquire()

    def held(self, stream: str, value: str | None) -> bool:
        """Whether ``value`` still holds the lock (always, without Redis)."""
        if self.client is None or not value:
            return True
        try:
            return self.client.get(lock_key(stream)) == value.encode()
        except redis.RedisError:
            return True  # cannot tell: assume the run lives on until its lock expires

    def release(self, stream: str, value: str | None) -> None:
        if self.client is None or not value:
            return
        with contextlib.suppress(LockError, redis.RedisError):
            self._lock(stream, value).release()
