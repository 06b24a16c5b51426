"""One run per stream at a time, across every machine of a deployment.

A Redis lock per stream, with an expiry (a dead worker cannot hold it forever)
that the running sync keeps extending while it makes progress, and a fencing
token that goes up with every new holder. Without Redis (one laptop, SQLite)
runs are serialised by the single process running them.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import redis
from redis.exceptions import LockError

from syncworker.errors import RunInProgressError

LOCK_TTL_SECONDS = 300  # renewed on every page; SYNC_LOCK_TTL_SECONDS overrides


def lock_key(stream: str) -> str:
    return f"syncworker:lock:{stream}"


@dataclass(frozen=True)
class RunLease:
    """A held stream lock. ``value`` is the lock's random value (not a secret):
    whichever worker works on the run renews or releases the lock with it, so a
    run, not a process, holds it. ``token`` fences writes."""

    stream: str
    value: str
    token: int | None


class StreamLeases:
    """The stream locks: one run per stream at a time, across every machine.

    Without Redis, leases are local: the one process running the partitions
    serialises them."""

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

    @contextlib.contextmanager
    def hold(self, stream: str) -> Iterator[RunLease]:
        """The lock of ``stream`` for the code inside (the write-back's pass)."""
        lease = self.acquire(stream)
        try:
            yield lease
        finally:
            self.release(stream, lease.value)

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
