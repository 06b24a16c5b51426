"""The sync use case: which streams run (configuration decides), and running them.

The CLI and the Celery tasks both come through here, so they run the same code.
"""

from __future__ import annotations

import itertools
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from syncworker.app.container import Container
from syncworker.config import Settings
from syncworker.engine.fanout import StartedRun
from syncworker.engine.state import Progress, RunResult
from syncworker.errors import ConfigError, RunInProgressError
from syncworker.locks import stream_lock
from syncworker.sources.registry import SOURCES, select_streams
from syncworker.sources.streams import Stream


@dataclass(frozen=True)
class Selection:
    """The streams a sync runs, and one line per source configured out of it."""

    streams: tuple[Stream, ...]
    skipped: list[str] = field(default_factory=list)


def configured_sources(settings: Settings, wanted: str = "all") -> tuple[list[str], list[str]]:
    """(sources to run, one line per configured-out source skipped)."""
    names = list(SOURCES) if wanted == "all" else [wanted]
    run, skipped, errors = [], [], []
    for name in names:
        try:
            (settings.require_workadu if name == "workadu" else settings.require_workways)()
        except ConfigError as exc:
            if wanted != "all":
                raise
            skipped.append(f"{name}: skipped, not configured ({exc.variable} is not set)")
            errors.append(exc)
            continue
        run.append(name)
    if not run:
        raise errors[0]  # nothing to sync: say what the first source lacks
    return run, skipped


def select(settings: Settings, entity: str = "all", source: str = "all") -> Selection:
    """The streams of ``entity`` from configured sources."""
    sources, skipped = configured_sources(settings, source)
    streams = tuple(s for s in select_streams(entity, source) if s.source in sources)
    return Selection(streams, skipped)


def sync_streams(
    container: Container,
    streams: tuple[Stream, ...] | str = "all",
    *,
    source: str = "all",
    full: bool = False,
    dry_run: bool = False,
    trigger: str = "cli",
    progress: Callable[[Progress], None] | None = None,
) -> list[RunResult]:
    """Run ``streams`` (or the streams of an entity name) here, in order, each
    under its cluster-wide lock.

    Streams that split into units run their units on ``SYNC_UNIT_CONCURRENCY``
    threads (interleaved, so one stream's source reads overlap another's
    HubSpot writes); the others run in one piece after them."""
    if isinstance(streams, str):
        streams = select(container.settings, streams, source).streams
    container.check_database()
    try:
        return _sync(container, streams, full, dry_run, trigger, progress)
    finally:
        container.close()


def _sync(
    container: Container,
    chosen: tuple[Stream, ...],
    full: bool,
    dry_run: bool,
    trigger: str,
    progress: Callable[[Progress], None] | None,
) -> list[RunResult]:
    split = [s for s in chosen if s.splits and not dry_run]
    results: dict[str, RunResult] = {}
    in_progress: RunInProgressError | None = None
    started: list[StartedRun] = []
    for stream in split:
        try:
            started.append(container.fanout.start(stream, full=full, trigger=trigger))
        except RunInProgressError as exc:
            in_progress = exc
            break
    for result in run_units(container, started, ProgressTotals(progress) if progress else None):
        results[result.stream] = result
    for run in started:
        if run.stream.name not in results:
            results[run.stream.name] = container.fanout.result_of(run.run_id)
    if in_progress is not None:
        raise in_progress
    for stream in chosen:
        if stream.name not in results:
            results[stream.name] = _run_whole(container, stream, full, dry_run, trigger, progress)
    return [results[s.name] for s in chosen]


def run_units(
    container: Container,
    started: list[StartedRun],
    progress: Callable[[Progress], None] | None = None,
) -> list[RunResult]:
    """Every unit of ``started`` runs, here; the runs they finished."""
    first = [run for run in started if run.first_unit is not None]
    ids = {run.run_id for run in started}
    width = container.settings.unit_concurrency
    alongside = width >= len(first)  # every first unit gets a thread of its own
    finished: list[RunResult] = []
    with ThreadPoolExecutor(width, "unit") as pool:
        futures = [
            pool.submit(run.run_first, container.fanout, progress, keep_going=alongside, runs=ids)
            for run in first
        ]
        futures += [
            pool.submit(container.fanout.run_unit, None, None, progress, runs=ids)
            for _ in range((width - len(first) if alongside else 1) if ids else 0)
        ]
        try:
            for future in futures:
                finished.extend(future.result())
        except BaseException:
            for future in futures:
                future.cancel()
            raise
    return finished


def _run_whole(
    container: Container,
    stream: Stream,
    full: bool,
    dry_run: bool,
    trigger: str,
    progress: Callable[[Progress], None] | None,
) -> RunResult:
    """One run of ``stream`` in this process, from first page to last."""
    lock_client = None if dry_run else container.redis
    with stream_lock(lock_client, stream.name, container.settings.lock_ttl_seconds) as lease:

        def on_page(event: Progress, beat: Callable[[], None] = lease.heartbeat) -> None:
            beat()
            if progress:
                progress(event)

        engine = container.engine_for(stream, dry_run=dry_run)
        engine.progress = on_page
        fence = lease.token
        if fence is not None:
            fence = container.store.next_fence(stream.name, fence)
        return engine.run(stream, full=full, dry_run=dry_run, trigger=trigger, fence=fence)


T = TypeVar("T")


def interleave(groups: Iterable[Iterable[T]]) -> list[T]:
    """Round-robin over ``groups``: [a1, b1, a2, b2, a3, ...]."""
    columns = itertools.zip_longest(*(list(g) for g in groups), fillvalue=_GAP)
    return [item for column in columns for item in column if item is not _GAP]


_GAP: Any = object()


class ProgressTotals:
    """Progress of units running side by side, summed per stream for one printer."""

    def __init__(self, printer: Callable[[Progress], None]) -> None:
        self.printer = printer
        self.lock = threading.Lock()
        self.units: dict[str, dict[int, Counter[str]]] = {}
        self.pages: Counter[str] = Counter()

    def __call__(self, event: Progress) -> None:
        with self.lock:
            self.units.setdefault(event.stream, {})[id(event.counts)] = Counter(event.counts)
            self.pages[event.stream] += 1
            total = sum(self.units[event.stream].values(), Counter[str]())
            self.printer(
                Progress(event.stream, self.pages[event.stream], event.pages, total, event.queued)
            )
