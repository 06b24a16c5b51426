"""The pages of one unit of work, fetched with bounded concurrency and each
checked against what the run's first page announced (see pagination.py)."""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from syncworker.engine.sync import SyncEngine
from syncworker.errors import PaginationLoopError, RecordValidationError, SourceDataError
from syncworker.sources.pages import fingerprint
from syncworker.sources.streams import SourcePage, Stream
from syncworker.store.run_views import UnitClaim
from syncworker.tally import carried

log = logging.getLogger(__name__)


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


def unit_pages(
    engine: SyncEngine, stream: Stream, claim: UnitClaim, first: SourcePage | None
) -> Iterator[SourcePage]:
    """The unit's pages in order, fetched ``source_concurrency`` at a time."""
    assert stream.page is not None
    fetch_page = stream.page
    source = engine.source

    def fetch(number: int) -> SourcePage:
        if number == 1 and first is not None:
            return first
        try:
            return fetch_page(source, number)
        except PaginationLoopError:
            raise
        except SourceDataError as exc:
            log.warning("%s page %d unreadable, skipped: %s", stream.name, number, exc)
            rejection = RecordValidationError(str(exc), record_id=None, page=number)
            return _UnreadablePage(
                number, claim.planned_pages, claim.planned_total, [], [rejection]
            )

    numbers = iter(range(claim.first_page, claim.last_page + 1))
    width = max(1, min(engine.source_concurrency, claim.last_page - claim.first_page + 1))
    with ThreadPoolExecutor(width, thread_name_prefix="unit-pages") as pool:
        in_flight: deque[tuple[int, Future[SourcePage]]] = deque()
        for number in numbers:
            in_flight.append((number, pool.submit(carried(fetch), number)))
            if len(in_flight) >= width:
                break
        while in_flight:
            number, future = in_flight.popleft()
            page = future.result()
            _check(stream, claim, number, page)
            yield page
            for following in numbers:
                in_flight.append((following, pool.submit(carried(fetch), following)))
                break


def _check(stream: Stream, claim: UnitClaim, number: int, page: SourcePage) -> None:
    """Each page against what the run's first page announced (see pagination.py).

    Repeated record ids are checked across all units of the run when it finishes
    (``page_fingerprint``), not here."""
    where = f"{stream.name} page {number}"
    if page.page != number:
        raise PaginationLoopError(
            f"{where}: the source answered with page {page.page} instead; pagination would loop"
        )
    if page.pages != claim.planned_pages:
        raise PaginationLoopError(
            f"{where}: page count changed mid-run from {claim.planned_pages} to {page.pages}; "
            "pagination would loop or skip"
        )
    if page.total < claim.planned_total:
        raise PaginationLoopError(
            f"{where}: total went down mid-run from {claim.planned_total} to {page.total}; "
            "records would be skipped"
        )
