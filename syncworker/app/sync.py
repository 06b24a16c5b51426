"""The sync use case: which streams run (configuration decides), and running them.

The CLI and the Celery tasks both come through here, so they run the same code.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from syncworker.app.container import Container
from syncworker.config import Settings
from syncworker.engine.fanout import StartedRun
from syncworker.engine.state import Progress, RunResult
from syncworker.errors import ConfigError
from syncworker.sources.registry import SOURCES, select_streams
from syncworker.sources.streams import Stream
from syncworker.store.database import scratch_run_tables

log = logging.getLogger(__name__)


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
    allow_mass_archive: bool = False,
) -> list[RunResult]:
    """Run ``streams`` (or the streams of an entity name) here, in order, each
    under its cluster-wide lock.

    Every run's partitions go on ``SYNC_PARTITION_CONCURRENCY`` threads (side
    by side, so one stream's source reads overlap another's HubSpot writes)."""
    if isinstance(streams, str):
        streams = select(container.settings, streams, source).streams
    container.check_database()
    try:
        return _sync(container, streams, full, dry_run, trigger, progress, allow_mass_archive)
    finally:
        container.close()


def _sync(
    container: Container,
    chosen: tuple[Stream, ...],
    full: bool,
    dry_run: bool,
    trigger: str,
    progress: Callable[[Progress], None] | None,
    allow_mass_archive: bool = False,
) -> list[RunResult]:
    width = container.settings.partition_concurrency
    if container.settings.newsletter_subscription is None:
        log.info("newsletter consent is not synced (HUBSPOT_NEWSLETTER_SUBSCRIPTION is not set)")
    elif not dry_run:
        container.subscription  # noqa: B018 (looked up now: a bad setting stops the sync)
    totals = ProgressTotals(progress) if progress else None
    if not dry_run:
        runs = container.fanout
        return runs.run_here(chosen, full, trigger, totals, width, allow_mass_archive)
    with scratch_run_tables() as scratch:
        runs = container.dry_run_fanout(scratch)
        return runs.run_here(chosen, full, trigger, totals, width, allow_mass_archive)


def run_partitions(container: Container, started: list[StartedRun]) -> list[RunResult]:
    """Every partition of ``started`` runs, here (helped by any idle worker), then
    those of any other run still going; the runs they finished."""
    width = container.settings.partition_concurrency
    return container.fanout.run_partitions(started, width=width, help_others=True)


T = TypeVar("T")


def interleave(groups: Iterable[Iterable[T]]) -> list[T]:
    """Round-robin over ``groups``: [a1, b1, a2, b2, a3, ...]."""
    columns = itertools.zip_longest(*(list(g) for g in groups), fillvalue=_GAP)
    return [item for column in columns for item in column if item is not _GAP]


_GAP: Any = object()


class ProgressTotals:
    """Progress of partitions running side by side, summed per stream for one printer."""

    def __init__(self, printer: Callable[[Progress], None]) -> None:
        self.printer = printer
        self.lock = threading.Lock()
        self.parts: dict[str, dict[int, Counter[str]]] = {}
        self.pages: Counter[str] = Counter()

    def __call__(self, event: Progress) -> None:
        with self.lock:
            self.parts.setdefault(event.stream, {})[id(event.counts)] = Counter(event.counts)
            self.pages[event.stream] += 1
            total = sum(self.parts[event.stream].values(), Counter[str]())
            self.printer(
                Progress(event.stream, self.pages[event.stream], event.pages, total, event.queued)
            )
