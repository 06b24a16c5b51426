"""The HubSpot rate limiters: in-process, and shared by many processes through Redis."""

from __future__ import annotations

import multiprocessing
import time

import pytest
import redis

from syncworker.hubspot.ratelimit import (
    RedisSlidingWindowLimiter,
    SlidingWindowLimiter,
    budget_from_headers,
)
from tests.conftest import REDIS_TEST_URL


class FakeClock:
    """Time that moves only when someone sleeps: no real waiting in these tests."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def max_in_window(stamps: list[float], window: float) -> int:
    stamps = sorted(stamps)
    best, start = 0, 0
    for end, stamp in enumerate(stamps):
        while stamp - stamps[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best


def test_in_process_limiter_keeps_to_the_budget_and_close_to_it() -> None:
    clock = FakeClock()
    limiter = SlidingWindowLimiter(10, 10.0, clock=clock, sleep=clock.sleep)
    stamps = []
    for _ in range(35):
        limiter.acquire()
        stamps.append(clock.now)
    assert max_in_window(stamps, 10.0) == 10
    assert stamps[-1] - stamps[0] < 3 * 10.0 + 1.0  # 35 requests in just over 3 windows


def test_limiter_learns_a_smaller_budget_from_hubspot_headers() -> None:
    clock = FakeClock()
    limiter = SlidingWindowLimiter(190, 10.0, clock=clock, sleep=clock.sleep)
    limiter.observe(
        {"X-HubSpot-RateLimit-Max": "10", "X-HubSpot-RateLimit-Interval-Milliseconds": "10000"}
    )
    assert (limiter.limit, limiter.window) == (10, 10.0)
    limiter.observe(
        {"X-HubSpot-RateLimit-Max": "250", "X-HubSpot-RateLimit-Interval-Milliseconds": "10000"}
    )
    assert limiter.limit == 10  # never above what was configured or announced
    assert budget_from_headers({"x-hubspot-ratelimit-max": "x"}) is None


def test_pause_after_a_429_stops_everyone() -> None:
    clock = FakeClock()
    limiter = SlidingWindowLimiter(100, 10.0, clock=clock, sleep=clock.sleep)
    limiter.acquire()
    limiter.pause(2.5)
    before = clock.now
    limiter.acquire()
    assert clock.now - before >= 2.5


def _hammer(url: str, key: str, count: int, queue: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    limiter = RedisSlidingWindowLimiter(redis.Redis.from_url(url), 6, 1.0, key=key)
    stamps = []
    for _ in range(count):
        limiter.acquire()
        stamps.append(time.time())
    queue.put(stamps)


@pytest.mark.integration
def test_processes_sharing_redis_never_exceed_the_budget(
    redis_client: redis.Redis[bytes],
) -> None:
    """Three processes, 6 requests per second between them, 10 requests each."""
    queue: multiprocessing.Queue = multiprocessing.Queue()  # type: ignore[type-arg]
    workers = [
        multiprocessing.Process(target=_hammer, args=(REDIS_TEST_URL, "t:rl", 10, queue))
        for _ in range(3)
    ]
    for worker in workers:
        worker.start()
    stamps = [s for _ in workers for s in queue.get(timeout=60)]
    for worker in workers:
        worker.join(timeout=10)
    assert len(stamps) == 30
    assert max_in_window(stamps, 1.0) <= 6


def test_a_slot_counts_from_the_answer_so_a_late_request_cannot_overlap_the_next_window() -> None:
    clock = FakeClock()
    limiter = SlidingWindowLimiter(2, 10.0, clock=clock, sleep=clock.sleep)
    start = clock.now
    slow = limiter.acquire()  # its answer takes 4 s: HubSpot admitted it anywhere up to then
    fast = limiter.acquire()
    limiter.answered(fast)
    clock.now += 4.0
    limiter.answered(slow)
    limiter.acquire()  # the fast one's slot ends first: about 10 s after the start
    assert 10.0 <= clock.now - start < 10.5
    limiter.acquire()  # the slow one's slot ends 10 s after its answer, not its sending
    assert clock.now - start >= 14.0


@pytest.mark.integration
def test_the_shared_limiter_moves_an_answered_slot_to_redis_time(
    redis_client: redis.Redis[bytes],
) -> None:
    limiter = RedisSlidingWindowLimiter(redis_client, 5, 10.0, key="t:answered")
    ticket = limiter.acquire()
    sent = redis_client.zscore("t:answered", str(ticket))
    assert sent is not None
    limiter.answered(ticket)
    now_s, now_us = redis_client.time()
    answered = redis_client.zscore("t:answered", str(ticket))
    assert answered is not None and sent <= answered <= now_s * 1000 + now_us // 1000
    limiter.answered("a ticket it never gave")  # nothing to move: nothing added
    assert redis_client.zcard("t:answered") == 1
