"""Client-side pacing of HubSpot calls.

HubSpot counts requests in a rolling 10-second window per app, plus a daily
budget per account. The limiter keeps the request rate close to the budget
without crossing it: it holds a slot for each request sent in the last window,
learns the real budget from ``X-HubSpot-RateLimit-*`` headers, and stops every
caller for a while after a 429.

:class:`SlidingWindowLimiter` serves one process. :class:`RedisSlidingWindowLimiter`
shares one budget between every worker of a deployment.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Mapping
from typing import Protocol

import redis

log = logging.getLogger(__name__)

# A request counts against the window from when it is sent until HubSpot's
# clock says it has aged out; leave room for the clocks to differ and for a
# request that reaches HubSpot late (a busy process, a new connection). At
# 0.15 s, a 100,000-user sync on a loaded 2-core machine still drew 9 429s.
SAFETY_MARGIN_SECONDS = 0.3


class RateLimiter(Protocol):
    def acquire(self) -> None:
        """Block until one more request may be sent."""

    def observe(self, headers: Mapping[str, str]) -> None:
        """Learn from a response's rate-limit headers."""

    def pause(self, seconds: float) -> None:
        """Nobody sends for ``seconds`` (after a 429)."""


def budget_from_headers(headers: Mapping[str, str]) -> tuple[int, float] | None:
    """``(max requests, window seconds)`` announced by HubSpot, if present."""
    lowered = {k.lower(): v for k, v in headers.items()}
    try:
        limit = int(lowered["x-hubspot-ratelimit-max"])
        window = int(lowered["x-hubspot-ratelimit-interval-milliseconds"]) / 1000
    except (KeyError, ValueError):
        return None
    return (limit, window) if limit > 0 and window > 0 else None


class SlidingWindowLimiter:
    """At most ``limit`` requests in any ``window`` seconds, in this process."""

    def __init__(
        self,
        limit: int,
        window: float = 10.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.limit = limit
        self.window = window
        self._clock = clock
        self._sleep = sleep
        self._sent: deque[float] = deque()
        self._paused_until = 0.0
        self._lock = threading.Lock()

    def _wait_time(self, now: float) -> float:
        horizon = self.window + SAFETY_MARGIN_SECONDS
        while self._sent and self._sent[0] <= now - horizon:
            self._sent.popleft()
        wait = max(0.0, self._paused_until - now)
        if len(self._sent) >= self.limit:
            wait = max(wait, self._sent[len(self._sent) - self.limit] + horizon - now)
        return wait

    def acquire(self) -> None:
        while True:
            with self._lock:
                now = self._clock()
                wait = self._wait_time(now)
                if wait <= 0:
                    self._sent.append(now)
                    return
            self._sleep(wait)

    def observe(self, headers: Mapping[str, str]) -> None:
        announced = budget_from_headers(headers)
        if announced is None:
            return
        limit, window = announced
        with self._lock:
            # Never exceed what the server announces; never exceed our configuration.
            if limit < self.limit or window > self.window:
                self.limit, self.window = min(limit, self.limit), max(window, self.window)

    def pause(self, seconds: float) -> None:
        with self._lock:
            self._paused_until = max(self._paused_until, self._clock() + seconds)


# KEYS[1] = window zset, KEYS[2] = pause key; ARGV = limit, window_ms, member.
# Uses the Redis server's clock so that every worker agrees on time.
_ACQUIRE_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local paused = tonumber(redis.call('GET', KEYS[2]) or '0')
if paused > now then return paused - now end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local count = redis.call('ZCARD', KEYS[1])
if count < limit then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], window + 1000)
  return 0
end
local oldest = redis.call('ZRANGE', KEYS[1], count - limit, count - limit, 'WITHSCORES')
return math.max(1, tonumber(oldest[2]) + window - now)
"""


class RedisSlidingWindowLimiter:
    """The same rolling window, shared by every process through Redis."""

    def __init__(
        self,
        client: redis.Redis[bytes],
        limit: int,
        window: float = 10.0,
        *,
        key: str = "syncworker:hubspot:ratelimit",
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.limit = limit
        self.window = window
        self._redis = client
        self._key = key
        self._sleep = sleep
        self._script = client.register_script(_ACQUIRE_SCRIPT)
        self._local = SlidingWindowLimiter(limit, window, sleep=sleep)
        self._degraded = False

    def acquire(self) -> None:
        window_ms = int((self.window + SAFETY_MARGIN_SECONDS) * 1000)
        while True:
            member = uuid.uuid4().hex
            try:
                wait_ms = int(
                    self._script(
                        keys=[self._key, f"{self._key}:pause"],
                        args=[self.limit, window_ms, member],
                    )
                )
            except redis.RedisError as exc:
                # Redis away: pace this process alone until it is back (HubSpot's
                # own 429s, honoured by the gateway, cover the rest).
                if not self._degraded:
                    log.warning(
                        "shared rate limiter unreachable (%s); pacing locally", type(exc).__name__
                    )
                self._degraded = True
                self._local.limit, self._local.window = self.limit, self.window
                self._local.acquire()
                return
            if self._degraded:
                log.warning("shared rate limiter reachable again")
                self._degraded = False
            if wait_ms <= 0:
                return
            self._sleep(wait_ms / 1000)

    def observe(self, headers: Mapping[str, str]) -> None:
        announced = budget_from_headers(headers)
        if announced is not None:
            limit, window = announced
            self.limit, self.window = min(limit, self.limit), max(window, self.window)

    def pause(self, seconds: float) -> None:
        self._local.pause(seconds)
        try:
            ms = int(seconds * 1000)
            now_s, now_us = self._redis.time()
            until = now_s * 1000 + now_us // 1000 + ms
            self._redis.set(f"{self._key}:pause", until, px=ms + 1000)
        except redis.RedisError:
            pass  # paced locally meanwhile
