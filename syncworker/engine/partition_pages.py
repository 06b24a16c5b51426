"""The pages of one partition: the source's page walker (``sources/pages.py``, the
one loop guard) over the partition's range, checked against what the run's first
page announced. Repeated record ids across partitions are checked when the run
finishes (``page_fingerprint``)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from syncworker.engine.sync import SyncEngine
from syncworker.errors import RecordValidationError, SourceDataError
from syncworker.sources.pages import PageNumberPaginator, fingerprint
from syncworker.sources.streams import SourcePage, Stream
from syncworker.store.partitions import Claim
from syncworker.tally import carried


@dataclass
class _UnreadablePage:
    page: int
    pages: int
    total: int
    items: list[Any] = field(default_factory=list)
    rejected: list[Any] = field(default_factory=list)

    def record_ids(self) -> list[str]:
        return []


def page_fingerprint(page: SourcePage) -> str:
    """A digest of the record ids on a page: two pages with equal ids mean a loop."""
    ids = page.record_ids() if hasattr(page, "record_ids") else []
    return fingerprint(ids).hex()[:32] if ids else f"empty-{page.page}"


def partition_pages(
    engine: SyncEngine, stream: Stream, claim: Claim, first: SourcePage | None
) -> Iterator[SourcePage]:
    """The partition's pages in order, fetched ``source_concurrency`` at a time."""
    assert stream.page is not None
    fetch_page, source = stream.page, engine.source

    def fetch(number: int) -> Any:
        return first if number == 1 and first is not None else fetch_page(source, number)

    def unreadable(number: int, pages: int, total: int, exc: SourceDataError) -> Any:
        rejection = RecordValidationError(str(exc), record_id=None, page=number)
        return _UnreadablePage(number, pages, total, [], [rejection])

    numbers = range(claim.first_page, claim.last_page + 1)
    walker = PageNumberPaginator[Any](
        carried(fetch),
        source=stream.name,
        unreadable=unreadable,
        concurrency=min(engine.source_concurrency, len(numbers)),
        pages=numbers,
        announced=(claim.planned_pages, claim.planned_total),
    )
    return iter(walker)
