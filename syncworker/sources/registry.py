"""Which streams exist, by source, in run order."""

from __future__ import annotations

from syncworker.errors import UsageError
from syncworker.sources.streams import Stream
from syncworker.sources.workadu.streams import WORKADU_STREAMS
from syncworker.sources.workways.streams import WORKWAYS_STREAMS

SOURCES: dict[str, tuple[Stream, ...]] = {"workways": WORKWAYS_STREAMS, "workadu": WORKADU_STREAMS}
STREAMS: dict[str, Stream] = {s.name: s for group in SOURCES.values() for s in group}


def select_streams(entity: str = "all", source: str = "all") -> tuple[Stream, ...]:
    """Streams by entity and source, in run order (Workways before Workadu)."""
    if source != "all" and source not in SOURCES:
        raise UsageError(f"unknown source {source!r}; choose one of all, {', '.join(SOURCES)}")
    pool = [s for name, group in SOURCES.items() if source in ("all", name) for s in group]
    chosen = tuple(s for s in pool if entity == "all" or entity in (s.entity, s.name))
    if not chosen:
        names = ", ".join(["all", *(s.entity for s in pool)])
        raise UsageError(f"unknown entity {entity!r} for source {source}; choose one of {names}")
    return chosen
