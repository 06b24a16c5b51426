"""A small retry policy for HTTP calls: exponential backoff with full jitter.

The policy does not know about HTTP. It calls a function that either returns or
raises one of syncworker's typed errors, and tries again only when
:func:`syncworker.errors.is_retriable` says the error is worth it (5xx,
timeouts, connection failures). Anything else -- a 4xx, a data error, a
programming error -- propagates at once.

Delays follow "full jitter" (AWS architecture blog, "Exponential Backoff And
Jitter"): before retry *n* (1-based) the policy sleeps a uniformly random time
in ``[0, min(max_delay, base_delay * 2 ** (n - 1)))``. When the error carries a
``retry_after`` number of seconds (HubSpot's 429), the policy sleeps at least
that long, clamped by :func:`clamp_retry_after` to 0–60 s: a server asking for
an hour (or for ``inf``, or a negative time) is not obeyed to the letter.

``sleep`` and ``random`` are injectable so tests never really sleep::

    sleeps: list[float] = []
    policy = RetryPolicy(sleep=sleeps.append, random=lambda: 0.5)
"""

from __future__ import annotations

import logging
import math
import random as _random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from syncworker.errors import is_retriable

__all__ = ["MAX_RETRY_AFTER_SECONDS", "RetryPolicy", "clamp_retry_after"]

logger = logging.getLogger(__name__)

T = TypeVar("T")

# 2 ** 32 * base_delay is far beyond any sensible cap; keeps the power finite.
_MAX_EXPONENT = 32
# The longest wait a Retry-After header can impose on one call.
MAX_RETRY_AFTER_SECONDS = 60.0


def clamp_retry_after(seconds: object) -> float | None:
    """A Retry-After wait within ``[0, MAX_RETRY_AFTER_SECONDS]``; None when it is no number."""
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        return None
    if math.isnan(seconds):
        return None
    return min(max(float(seconds), 0.0), MAX_RETRY_AFTER_SECONDS)


@dataclass(frozen=True)
class RetryPolicy:
    """How many times to try, and how long to wait between tries.

    ``max_attempts`` counts the first try: 4 means one call and up to three
    retries. ``random`` must return a float in ``[0, 1)`` (like
    :func:`random.random`); ``sleep`` takes seconds (like :func:`time.sleep`).
    """

    max_attempts: int = 4
    base_delay: float = 0.5
    max_delay: float = 8.0
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False, compare=False)
    random: Callable[[], float] = field(default=_random.random, repr=False, compare=False)

    def __post_init__(self) -> None:
        if isinstance(self.max_attempts, bool) or not isinstance(self.max_attempts, int):
            raise TypeError("max_attempts must be an int")
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {self.max_attempts}")
        if self.base_delay < 0:
            raise ValueError(f"base_delay must not be negative, got {self.base_delay}")
        if self.max_delay < self.base_delay:
            raise ValueError(
                f"max_delay ({self.max_delay}) must not be below base_delay ({self.base_delay})"
            )

    @classmethod
    def no_retry(cls) -> RetryPolicy:
        """A policy that tries once and never sleeps."""
        return cls(max_attempts=1)

    def backoff(self, retry: int) -> float:
        """Seconds to wait before retry number ``retry`` (1 = the first retry)."""
        if retry < 1:
            raise ValueError(f"retry numbers start at 1, got {retry}")
        ceiling = min(self.max_delay, self.base_delay * 2.0 ** min(retry - 1, _MAX_EXPONENT))
        return ceiling * self.random()

    def call(
        self,
        fn: Callable[[], T],
        *,
        description: str = "call",
        retry_if: Callable[[BaseException], bool] | None = None,
    ) -> T:
        """Return ``fn()``, retrying it on retriable errors.

        ``retry_if`` can only narrow the decision (e.g. "retry a non-idempotent
        POST only if it never reached the server"); it is consulted after
        :func:`is_retriable`. ``description`` names the call in log lines: keep
        it free of personal data and secrets.
        """
        attempt = 1
        while True:
            try:
                return fn()
            except Exception as exc:
                if attempt >= self.max_attempts or not self._should_retry(exc, retry_if):
                    raise
                delay = self._delay(attempt, exc)
                logger.warning(
                    "%s failed (attempt %d of %d): %s: %s; retrying in %.2f s",
                    description,
                    attempt,
                    self.max_attempts,
                    type(exc).__name__,
                    exc,
                    delay,
                )
            self.sleep(delay)
            attempt += 1

    # ------------------------------------------------------------------ internals
    @staticmethod
    def _should_retry(exc: BaseException, retry_if: Callable[[BaseException], bool] | None) -> bool:
        if not is_retriable(exc):
            return False
        return retry_if is None or retry_if(exc)

    def _delay(self, attempt: int, exc: BaseException) -> float:
        delay = self.backoff(attempt)
        retry_after = clamp_retry_after(getattr(exc, "retry_after", None))
        if retry_after is not None and retry_after > delay:
            delay = retry_after
        return delay
