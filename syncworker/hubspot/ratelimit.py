"""Client-side pacing of HubSpot calls.

HubSpot counts requests in a rolling 10-second window per app, plus a daily
budget per account. The limiter keeps the request rate close to the budget
without crossing it: it holds a slot for each request of the last window,
learns the real budget from ``X-HubSpot-RateLimit-*`` headers, and stops every
caller for a while after a 429.

A slot counts from when its request is sent and, once answered, from when the
answer came: HubSpot admitted the request somewhere in between, so however late
a request reached it (a busy process, a new connection), HubSpot never sees
more requests in a window than the limiter let out.

:class:`SlidingWindowLimiter` serves one process. :class:`RedisSlidingWindowLimiter`
shares one budget between every worker of a deployment.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

import redis

log = logging.getLogger(__name__)

# Added to the window: room for HubSpot's clock to run a little differently.
# (Requests that reach HubSpot late are covered by counting from the answer.)
SAFETY_MARGIN_SECONDS = 0.1
# How long an answer to wait for before a slot's time stops moving.
ANSWER_GRACE_SECONDS = 60.0


class RateLimiter(Protocol):
    def acquire(self) -> object:
        """Block until one more request may be sent; a ticket for :meth:`answered`."""

    def answered(self, ticket: object) -> None:
        """The request of ``ticket`` has its answer (or failed): its slot counts from now."""

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
        self._slots: dict[int, float] = {}  # ticket -> when its request counts from
        self._tickets = itertools.count()
        self._paused_until = 0.0
        self._lock = threading.Lock()

    def _wait_time(self, now: float) -> float:
        horizon = self.window + SAFETY_MARGIN_SECONDS
        for ticket in [t for t, at in self._slots.items() if at <= now - horizon]:
            del self._slots[ticket]
        wait = max(0.0, self._paused_until - now)
        if len(self._slots) >= self.limit:
            times = sorted(self._slots.values())
            wait = max(wait, times[len(times) - self.limit] + horizon - now)
        return wait

    def acquire(self) -> int:
        while True:
            with self._lock:
                now = self._clock()
                wait = self._wait_time(now)
                if wait <= 0:
                    ticket = next(self._tickets)
                    self._slots[ticket] = now
                    return ticket
            self._sleep(wait)

    def answered(self, ticket: object) -> None:
        if not isinstance(ticket, int):
            return
        with self._lock:
            sent = self._slots.get(ticket)
            now = self._clock()
            if sent is not None and now - sent < ANSWER_GRACE_SECONDS:
                self._slots[ticket] = now

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

# KEYS[1] = window zset; ARGV = member, grace_ms. The request was answered: its slot
# counts from now (Redis' clock), unless it has gone or waited past the grace.
_ANSWERED_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local sent = tonumber(redis.call('ZSCORE', KEYS[1], ARGV[1]) or '-1')
if sent >= 0 and now - sent < tonumber(ARGV[2]) then
  redis.call('ZADD', KEYS[1], 'XX', now, ARGV[1])
end
return 0
"""


@dataclass(frozen=True)
class _Local:
    """A ticket of the local limiter, taken while Redis was away."""

    ticket: int


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
        self._answered = client.register_script(_ANSWERED_SCRIPT)
        self._local = SlidingWindowLimiter(limit, window, sleep=sleep)
        self._degraded = False

    def acquire(self) -> object:
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
                return _Local(self._local.acquire())
            if self._degraded:
                log.warning("shared rate limiter reachable again")
                self._degraded = False
            if wait_ms <= 0:
                return member
            self._sleep(wait_ms / 1000)

    def answered(self, ticket: object) -> None:
        if isinstance(ticket, _Local):
            self._local.answered(ticket.ticket)
            return
        with contextlib.suppress(redis.RedisError):  # else the slot keeps its send time
            self._answered(keys=[self._key], args=[ticket, int(ANSWER_GRACE_SECONDS * 1000)])

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
