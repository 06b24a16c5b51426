"""The request log every source sandbox keeps, for tests to read."""

from __future__ import annotations

import threading
from typing import Generic, Protocol, TypeVar


class Logged(Protocol):
    @property
    def method(self) -> str: ...

    @property
    def path(self) -> str: ...


R = TypeVar("R", bound=Logged)


class RequestLog(Generic[R]):
    """Thread-safe list of served requests."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: list[R] = []

    def append(self, record: R) -> None:
        with self._lock:
            self._records.append(record)

    def snapshot(self) -> list[R]:
        with self._lock:
            return list(self._records)

    def clear(self) -> None:
        with self._lock:
            self._records.clear()

    def count(self, method: str | None = None, path: str | None = None) -> int:
        """Requests served, optionally only those of one method and/or path."""
        with self._lock:
            return sum(
                1
                for r in self._records
                if (method is None or r.method == method.upper())
                and (path is None or r.path == path)
            )
