"""Calls counted per partition of a run, across the threads the partition uses.

Partitions of several runs may share one process (and its clients) at once, so a
client's own counter cannot say which run a call belonged to. Clients call
:func:`count` for each request sent; :func:`tallying` collects the counts of
the code it wraps, including work it hands to threads through :func:`carried`.
"""

from __future__ import annotations

import contextlib
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextvars import ContextVar, copy_context
from typing import ParamSpec, TypeVar

_current: ContextVar[Counter[str] | None] = ContextVar("syncworker_call_tally", default=None)
_lock = threading.Lock()
HUBSPOT = "hubspot:"  # prefix of HubSpot call kinds: "hubspot:upsert"

P = ParamSpec("P")
T = TypeVar("T")


def count(kind: str) -> None:
    """One request of ``kind`` (``source``, or ``hubspot:<kind>``) was sent."""
    tally = _current.get()
    if tally is not None:
        with _lock:
            tally[kind] += 1


@contextlib.contextmanager
def tallying() -> Iterator[Counter[str]]:
    """Count the requests sent by the code inside (and the threads it carries to)."""
    tally: Counter[str] = Counter()
    token = _current.set(tally)
    try:
        yield tally
    finally:
        _current.reset(token)


def carried(fn: Callable[P, T]) -> Callable[P, T]:
    """``fn`` to run on another thread, counting into the caller's tally."""
    tally = _current.get()
    if tally is None:
        return fn

    def run(*args: P.args, **kwargs: P.kwargs) -> T:
        return copy_context().run(_with(tally, fn), *args, **kwargs)

    return run


def _with(tally: Counter[str], fn: Callable[P, T]) -> Callable[P, T]:
    def inner(*args: P.args, **kwargs: P.kwargs) -> T:
        _current.set(tally)
        return fn(*args, **kwargs)

    return inner
