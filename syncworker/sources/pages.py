"""Page-number pagination with a loop guard, for any source.

A source that pages with ``page=1..pages`` hands :class:`PageNumberPaginator`
a ``fetch(page_number)`` function returning a page object (anything with
``page``, ``pages``, ``total`` and ``record_ids()``, see :class:`NumberedPage`).
The paginator asks for page 1, 2, ... and stops after page ``pages`` as
announced by the first page. It never holds more than one page, plus one
fixed-size fingerprint per page seen.

It raises :class:`~syncworker.errors.PaginationLoopError` instead of looping
or silently skipping records when:

* a page comes back numbered differently from the one asked for;
* a page holds exactly the same record ids as an earlier page (the source
  ignores ``page`` and serves the same records again);
* ``pages`` changes mid-run (records were added or removed: following the new
  count could loop, ignoring it could skip);
* ``total`` goes down mid-run (records removed: the following records shift
  to earlier pages, and one or more would be skipped).

``total`` going *up* with ``pages`` unchanged is tolerated: inserted records
shift the following ones to later pages, so a record may be seen twice but
none is skipped. It is logged.
"""

from __future__ import annotations

import hashlib
import logging
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from itertools import islice
from typing import Generic, Protocol, TypeVar

from syncworker.errors import PaginationLoopError, SourceDataError

__all__ = ["NumberedPage", "PageNumberPaginator", "fingerprint"]

logger = logging.getLogger(__name__)


class NumberedPage(Protocol):
    """What the paginator needs to know about one page."""

    @property
    def page(self) -> int: ...

    @property
    def pages(self) -> int: ...

    @property
    def total(self) -> int: ...

    def record_ids(self) -> Sequence[str]:
        """Ids of the records on this page (valid or not), in any order."""
        ...


P = TypeVar("P", bound=NumberedPage)


class PageNumberPaginator(Generic[P]):
    """Iterate pages ``1..pages`` of one listing, guarding against loops.

    ``source`` names the listing in error messages (e.g. ``"Workways GET
    /api/user-info"``); it must not contain secrets or personal data. Each
    iteration starts a fresh walk from page 1.
    """

    def __init__(
        self,
        fetch: Callable[[int], P],
        *,
        source: str,
        unreadable: Callable[[int, int, int, SourceDataError], P] | None = None,
        concurrency: int = 1,
        pages: range | None = None,
        announced: tuple[int, int] | None = None,
    ) -> None:
        """``unreadable(number, pages, total, error)``, when given, stands in for a page
        whose answer was malformed, once the walk knows how many pages there are,
        so the walk goes on. With ``concurrency`` > 1, pages are fetched that many
        at a time, and still yielded (and guarded) in order.

        By default the walk learns from page 1 how many pages there are and reads
        them all. A walk of ``pages`` only (a partition of a run) is
        guarded against what the run's first page ``announced`` (pages, total)."""
        self._fetch = fetch
        self._source = source
        self._unreadable = unreadable
        self._concurrency = max(1, concurrency)
        self._pages = pages
        self._announced = announced

    def _read(self, number: int, guard: _LoopGuard, outcome: Callable[[], P]) -> P:
        try:
            return outcome()
        except PaginationLoopError:
            raise
        except SourceDataError as exc:
            if self._unreadable is None or guard.pages is None or guard.total is None:
                raise
            logger.warning("%s page %d unreadable, skipped: %s", self._source, number, exc)
            return self._unreadable(number, guard.pages, guard.total, exc)

    def __iter__(self) -> Iterator[P]:
        guard = _LoopGuard(self._source, self._announced)
        numbers = self._pages
        if numbers is None:  # learn from page 1 how many there are
            first = self._read(1, guard, lambda: self._fetch(1))
            guard.check(1, first)
            yield first
            numbers = range(2, first.pages + 1)
        if not numbers:
            return
        pool = ThreadPoolExecutor(self._concurrency, thread_name_prefix="pages")
        in_flight: deque[tuple[int, Future[P]]] = deque()
        upcoming = iter(numbers)
        try:
            for number in islice(upcoming, self._concurrency):
                in_flight.append((number, pool.submit(self._fetch, number)))
            while in_flight:
                number, future = in_flight.popleft()
                page = self._read(number, guard, future.result)
                guard.check(number, page)
                yield page
                for following in islice(upcoming, 1):
                    in_flight.append((following, pool.submit(self._fetch, following)))
        finally:
            pool.shutdown(wait=True, cancel_futures=True)


class _LoopGuard:
    """State of one walk: what the first page announced, and what was seen."""

    def __init__(self, source: str, announced: tuple[int, int] | None = None) -> None:
        self._source = source
        self._pages: int | None = announced[0] if announced else None
        self._total: int | None = announced[1] if announced else None
        self._seen: dict[bytes, int] = {}

    @property
    def pages(self) -> int | None:
        """The page count the first page announced (None before it)."""
        return self._pages

    @property
    def total(self) -> int | None:
        return self._total

    def check(self, number: int, page: NumberedPage) -> None:
        where = f"{self._source} page {number}"
        if page.page != number:
            raise PaginationLoopError(
                f"{where}: the source answered with page {page.page} instead; pagination would loop"
            )
        if self._pages is None or self._total is None:
            self._pages, self._total = page.pages, page.total
        else:
            if page.pages != self._pages:
                raise PaginationLoopError(
                    f"{where}: page count changed mid-run from {self._pages} to {page.pages} "
                    f"(total {self._total} -> {page.total}); pagination would loop or skip"
                )
            if page.total < self._total:
                raise PaginationLoopError(
                    f"{where}: total went down mid-run from {self._total} to {page.total}; "
                    "records would be skipped"
                )
            if page.total > self._total:
                logger.info(
                    "%s: total went up mid-run from %d to %d; some records may repeat",
                    where,
                    self._total,
                    page.total,
                )
                self._total = page.total
        ids = page.record_ids()
        if not ids:
            return
        digest = fingerprint(ids)
        earlier = self._seen.get(digest)
        if earlier is not None:
            raise PaginationLoopError(
                f"{where}: same {len(ids)} record ids as page {earlier}; pagination would loop"
            )
        self._seen[digest] = number


def fingerprint(ids: Sequence[str]) -> bytes:
    digest = hashlib.sha256()
    for record_id in sorted(ids):
        digest.update(record_id.encode("utf-8", "surrogatepass"))
        digest.update(b"\x00")
    return digest.digest()
