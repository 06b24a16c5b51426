"""Request budgets for the sandboxes: a rolling window and a calendar-day counter.

Both read time from an injectable clock so tests can move time without sleeping.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from collections.abc import Callable


class RollingWindow:
    """At most ``limit`` admitted events in any ``window`` seconds."""

    def __init__(self, limit: int, window: float, clock: Callable[[], float]) -> None:
        self.limit = limit
        self.window = window
        self._clock = clock
        self._events: deque[float] = deque()
        self._lock = threading.Lock()

    def _expire(self, now: float) -> None:
        while self._events and self._events[0] <= now - self.window:
            self._events.popleft()

    def try_acquire(self) -> bool:
        with self._lock:
            now = self._clock()
            self._expire(now)
            if len(self._events) >= self.limit:
                return False
            self._events.append(now)
            return True

    def remaining(self) -> int:
        with self._lock:
            self._expire(self._clock())
            return max(0, self.limit - len(self._events))

    def retry_after(self) -> float:
        """Seconds until the next event would be admitted (0 when one would be now)."""
        with self._lock:
            now = self._clock()
            self._expire(now)
            if len(self._events) < self.limit or not self._events:
                return 0.0
            return max(0.0, self._events[0] + self.window - now)


class DailyCounter:
    """At most ``limit`` admitted events per UTC calendar day."""

    def __init__(self, limit: int, clock: Callable[[], float]) -> None:
        self.limit = limit
        self._clock = clock
        self._day = -1
        self._count = 0
        self._lock = threading.Lock()

    def _roll(self) -> float:
        now = self._clock()
        day = math.floor(now / 86_400)
        if day != self._day:
            self._day, self._count = day, 0
        return now

    def try_acquire(self) -> bool:
        with self._lock:
            self._roll()
            if self._count >= self.limit:
                return False
            self._count += 1
            return True

    def remaining(self) -> int:
        with self._lock:
            self._roll()
            return max(0, self.limit - self._count)

    def seconds_to_reset(self) -> float:
        with self._lock:
            now = self._roll()
            return (self._day + 1) * 86_400 - now
