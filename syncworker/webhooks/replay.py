"""Replay guard: a signature accepted once is refused for as long as it could be valid.

A v3 signature covers its timestamp, which must be within five minutes of now
in either direction, so a signature can be valid for up to ten minutes: the
receiver remembers each accepted one for that long. Keys are SHA-256 digests of
the signature, never the signature itself.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Protocol

import redis

from syncworker.errors import SyncWorkerError

REDIS_PREFIX = "syncworker:webhooks:seen:"


class ReplayStoreError(SyncWorkerError):
    """The replay store could not be reached: the delivery is refused for now (503)."""

    retriable = True


class ReplayGuard(Protocol):
    def first_time(self, signature: str, ttl_seconds: int) -> bool:
        """True the first time ``signature`` is offered within ``ttl_seconds``; False after."""
        ...

    def release(self, signature: str) -> None:
        """Forget ``signature``: its delivery was not stored, so the same request may retry."""
        ...


def _fingerprint(signature: str) -> str:
    return hashlib.sha256(signature.encode("utf-8", "surrogatepass")).hexdigest()


class RedisReplayGuard:
    """Shared by every receiver process: ``SET key 1 NX EX ttl`` is atomic."""

    def __init__(self, client: redis.Redis[Any], prefix: str = REDIS_PREFIX) -> None:
        self._client = client
        self._prefix = prefix

    def _key(self, signature: str) -> str:
        return self._prefix + _fingerprint(signature)

    def first_time(self, signature: str, ttl_seconds: int) -> bool:
        try:
            created = self._client.set(
                self._key(signature), b"1", nx=True, ex=max(1, int(ttl_seconds))
            )
        except redis.RedisError as exc:
            raise ReplayStoreError(f"replay store unavailable: {type(exc).__name__}") from None
        return bool(created)

    def release(self, signature: str) -> None:
        with contextlib.suppress(redis.RedisError):  # else the key expires on its own
            self._client.delete(self._key(signature))


class MemoryReplayGuard:
    """One process only (tests, single-process deployments): bounded and expiring.

    When ``max_entries`` unexpired signatures are held, the oldest is forgotten
    first; only HubSpot-signed requests ever get here, so the bound is a safety
    net, not a limit real traffic meets.
    """

    def __init__(
        self, clock: Callable[[], float] = time.monotonic, max_entries: int = 100_000
    ) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self._clock = clock
        self._max = max_entries
        self._expiry: OrderedDict[str, float] = OrderedDict()  # insertion order
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            self._purge(self._clock())
            return len(self._expiry)

    def _purge(self, now: float) -> None:
        # Entries are kept in insertion order; with one TTL that is expiry order.
        # With mixed TTLs a long-lived entry at the front only delays the purge of
        # the ones behind it: first_time checks each key's own expiry anyway.
        while self._expiry:
            key, expires = next(iter(self._expiry.items()))
            if expires > now:
                break
            del self._expiry[key]

    def first_time(self, signature: str, ttl_seconds: int) -> bool:
        key = _fingerprint(signature)
        with self._lock:
            now = self._clock()
            self._purge(now)
            expires = self._expiry.get(key)
            if expires is not None and expires > now:
                return False
            self._expiry.pop(key, None)
            while len(self._expiry) >= self._max:
                self._expiry.popitem(last=False)
            self._expiry[key] = now + max(1, int(ttl_seconds))
            return True

    def release(self, signature: str) -> None:
        with self._lock:
            self._expiry.pop(_fingerprint(signature), None)
