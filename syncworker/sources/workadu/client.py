"""HTTP client for the Workadu API v2: customers, orders, invoices, payments (reads).

* ``GET /api/customers``, ``/api/orders``, ``/api/invoices``, ``/api/payments``
  (lists) and ``GET /api/<resource>/{id}`` (not payments: they have no id).
* Every request carries the API key as HTTP Basic user name with an empty
  password (``curl -u $APIkey:``), ``Accept: application/vnd.rengine.v2+json``
  (the spec versions by Accept header) and ``Content-Type: application/json``.
* Filters and sorting as the spec's "Filtering"/"Sorting" sections say:
  ``filter[key]=value``, ``filter[key][op]=value`` (op from the spec's operator
  table) and ``sort=key`` / ``sort=-key``.
* Pagination: each request asks for ``page`` and ``per_page``. When the answer
  carries metadata (Fractal ``meta.pagination``, Laravel ``meta`` or a bare
  Laravel paginator, see :func:`~syncworker.sources.workadu.models.page_meta`),
  pages are walked with :class:`~syncworker.sources.pages.PageNumberPaginator`
  and its loop guard. The spec's list examples carry none: such an answer is the
  whole list when it holds fewer (or more) records than ``per_page``, but one
  holding exactly ``per_page`` may have been cut there, so the next page is
  fetched, until a short or empty one (see :func:`_walk`). A server that cuts
  lists below the ``per_page`` asked for, without metadata, cannot be detected.
* Errors: ``{"message": ...}`` bodies become typed
  :class:`~syncworker.errors.SourceError` subclasses; retriable ones (5xx,
  timeouts, connection failures) are retried by a
  :class:`~syncworker.http_retry.RetryPolicy`. A list whose first page answers
  "No customers could be found." is an empty list, not an error.

Error messages and log lines name endpoints, page numbers, record ids and field
names -- never the API key, e-mail addresses, phone numbers or filter values.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import hashlib
import logging
import math
import re
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from typing import Any, TypeVar

import httpx

from syncworker.config import Secret
from syncworker.errors import (
    PaginationLoopError,
    SourceAuthError,
    SourceDataError,
    SourceError,
    SourceInvalidParameterError,
    SourceNotFoundError,
    SourceServerError,
    SourceTimeoutError,
)
from syncworker.http_retry import RetryPolicy
from syncworker.sources.http_client import SourceClient, json_body
from syncworker.sources.pages import PageNumberPaginator
from syncworker.sources.workadu.models import (
    FILTER_OPERATORS,
    Customer,
    Invoice,
    ListedPayment,
    Order,
    Page,
    WorkaduModel,
    WorkaduRecord,
    parse_one,
    parse_page,
)

__all__ = ["ACCEPT_V2", "MAX_PAGE_SIZE", "FilterValue", "WorkaduClient"]

logger = logging.getLogger(__name__)

CUSTOMERS = "/api/customers"
ORDERS = "/api/orders"
INVOICES = "/api/invoices"
PAYMENTS = "/api/payments"
ACCEPT_V2 = "application/vnd.rengine.v2+json"
MAX_PAGE_SIZE = 1000

Scalar = str | int | float
# {"email": "a@b.c", "total_cost": (">=", 20), "start_date": ("<>", "2025-01-01,2025-01-31")}
FilterValue = Scalar | tuple[str, Scalar]

_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*\Z")
_SORT = re.compile(r"^-?[A-Za-z_][A-Za-z0-9_.]*\Z")
# 9+ digits, or "+" and 7+ digits, with the usual separators: phones, not dates or ids.
# "No customers could be found.", "No customer found!", "The invoice is not valid or exist"
_NOT_FOUND = re.compile(r"\bno\b[^.!?]*\b(?:found|results?)\b|\bnot valid or exist", re.I)

R = TypeVar("R", bound=WorkaduRecord)
M = TypeVar("M", bound=WorkaduModel)


class _ApiKeyAuth(httpx.Auth):
    """Basic auth with the key as user name; added at send time, never a default header."""

    def __init__(self, api_key: Secret) -> None:
        self._api_key = api_key

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        token = base64.b64encode(f"{self._api_key.reveal()}:".encode()).decode("ascii")
        request.headers["Authorization"] = f"Basic {token}"
        yield request


class WorkaduClient(SourceClient):
    """Synchronous client for the Workadu API v2."""

    name = "Workadu"
    page_parameter = "per_page"
    secret_label = "[api key]"  # noqa: S105  (a placeholder)

    def __init__(
        self,
        base_url: str,
        api_key: Secret,
        *,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
        retry: RetryPolicy | None = None,
        page_size: int = 100,
    ) -> None:
        if not isinstance(api_key, Secret) or not api_key:
            raise ValueError("api_key must be a non-empty Secret")
        if ":" in api_key.reveal():
            raise ValueError("api_key must not contain ':' (it is the Basic auth user name)")
        self._api_key = api_key
        super().__init__(
            base_url,
            auth=_ApiKeyAuth(api_key),
            headers={"Accept": ACCEPT_V2, "Content-Type": "application/json"},
            timeout=timeout,
            transport=transport,
            retry=retry,
            page_size=page_size,
            max_page_size=MAX_PAGE_SIZE,
        )

    # ------------------------------------------------------------------ lists
    def iter_customer_pages(
        self, *, filters: Mapping[str, FilterValue] | None = None, sort: str | None = None
    ) -> Iterator[Page[Customer]]:
        """Pages of ``GET /api/customers`` (filter keys: fullname, email, Country, ...)."""
        return self._pages(CUSTOMERS, Customer, _query(filters, sort))

    def iter_order_pages(
        self, *, filters: Mapping[str, FilterValue] | None = None, sort: str | None = None
    ) -> Iterator[Page[Order]]:
        """Pages of ``GET /api/orders`` (filter keys: customer_id, status, start_date, ...)."""
        return self._pages(ORDERS, Order, _query(filters, sort))

    def iter_invoice_pages(
        self,
        *,
        filters: Mapping[str, FilterValue] | None = None,
        sort: str | None = None,
        customer_id: int | str | None = None,
        series_id: int | str | None = None,
        status: str | None = None,
        issue_date_from: str | dt.date | None = None,
        issue_date_to: str | dt.date | None = None,
    ) -> Iterator[Page[Invoice]]:
        """Pages of ``GET /api/invoices``, with the spec's plain invoice parameters too."""
        params = _query(filters, sort)
        for name, value in (("customer_id", customer_id), ("series_id", series_id)):
            if value is not None:
                params.append((name, _record_id(name, value)))
        if status is not None:
            if not isinstance(status, str) or not status.strip():
                raise ValueError("status must be a non-empty str (valid, draft, cancelled)")
            params.append(("status", status))
        for name, day in (("issue_date_from", issue_date_from), ("issue_date_to", issue_date_to)):
            if day is not None:
                params.append((name, _date(name, day)))
        return self._pages(INVOICES, Invoice, params)

    def iter_payment_pages(
        self,
        *,
        customer_id: int | str | None = None,
        series_id: int | str | None = None,
        issue_date_from: str | dt.date | None = None,
        issue_date_to: str | dt.date | None = None,
    ) -> Iterator[Page[ListedPayment]]:
        """Pages of ``GET /api/payments``: every payment Workadu records (for orders,
        for invoices, general ones), or one customer's with ``customer_id``."""
        params: list[tuple[str, str]] = []
        for name, value in (("customer_id", customer_id), ("series_id", series_id)):
            if value is not None:
                params.append((name, _record_id(name, value)))
        for name, day in (("issue_date_from", issue_date_from), ("issue_date_to", issue_date_to)):
            if day is not None:
                params.append((name, _date(name, day)))
        return self._pages(PAYMENTS, ListedPayment, params)

    def iter_payments(self, **kwargs: Any) -> Iterator[ListedPayment]:
        """Valid payments; takes the keyword arguments of :meth:`iter_payment_pages`."""
        pages = self.iter_payment_pages(**kwargs)
        return (item for page in pages for item in page.items)

    def iter_customers(
        self, *, filters: Mapping[str, FilterValue] | None = None, sort: str | None = None
    ) -> Iterator[Customer]:
        """Valid customers, one page in memory at a time (rejected: see the pages)."""
        pages = self.iter_customer_pages(filters=filters, sort=sort)  # checks arguments now
        return (item for page in pages for item in page.items)

    def iter_orders(
        self, *, filters: Mapping[str, FilterValue] | None = None, sort: str | None = None
    ) -> Iterator[Order]:
        pages = self.iter_order_pages(filters=filters, sort=sort)
        return (item for page in pages for item in page.items)

    def iter_invoices(self, **kwargs: Any) -> Iterator[Invoice]:
        """Valid invoices; takes the keyword arguments of :meth:`iter_invoice_pages`."""
        pages = self.iter_invoice_pages(**kwargs)
        return (item for page in pages for item in page.items)

    # ------------------------------------------------------------------ single records
    def get_customer(self, customer_id: int | str) -> Customer:
        return self._one(CUSTOMERS, Customer, _record_id("customer_id", customer_id))

    def get_order(self, order_id: int | str) -> Order:
        return self._one(ORDERS, Order, _record_id("order_id", order_id))

    def get_invoice(self, invoice_id: int | str) -> Invoice:
        return self._one(INVOICES, Invoice, _record_id("invoice_id", invoice_id))

    # ------------------------------------------------------------------ internals
    def _one(self, path: str, model: type[R], record_id: str) -> R:
        where = f"Workadu GET {path}/{record_id}"
        body = self._call(f"{path}/{record_id}", where)
        return parse_one(body["data"], model, where=where, record_id=record_id)

    def _pages(self, path: str, model: type[M], params: list[tuple[str, str]]) -> Iterator[Page[M]]:
        source = f"Workadu GET {path}"

        def fetch(number: int, per_page: int) -> Page[M]:
            where = f"{source} page {number}"
            query = [*params, ("page", str(number)), ("per_page", str(per_page))]
            try:
                body = self._call(path, where, params=query, page=number)
            except SourceNotFoundError:
                if number > 1:
                    raise
                logger.debug("%s: nothing found; an empty list", where)
                return Page([], 0, 1, 1)
            return parse_page(body, model, where=where, number=number)

        return _walk(fetch, self.page_size, source)

    def _call(
        self,
        path: str,
        where: str,
        *,
        params: list[tuple[str, str]] | None = None,
        page: int | None = None,
    ) -> dict[str, Any]:
        """Send one logical GET (with retries); return the JSON object holding ``data``."""
        request = self._http.build_request("GET", path, params=tuple(params or ()))
        return self._retry.call(lambda: self._send(request, where, page), description=where)

    def _unwrap(self, response: httpx.Response, where: str) -> dict[str, Any]:
        status = response.status_code
        body = json_body(response)
        message = self._clean(_message_of(body))
        if not 200 <= status < 300:
            raise _status_error(status, message, where)
        if not isinstance(body, dict):
            raise self._not_json_object(response, body, where)
        if "data" not in body:
            if message and _NOT_FOUND.search(message):  # an error body sent with 200
                raise SourceNotFoundError(f"{where}: HTTP {status}: {message}", status=status)
            raise SourceDataError(f"{where}: HTTP {status} response has no 'data'", status=status)
        return body

    def _secret_forms(self) -> Sequence[str]:
        key = self._api_key.reveal()
        return (key, base64.b64encode(f"{key}:".encode()).decode("ascii"))


# ---------------------------------------------------------------------- helpers
def _walk(fetch: Callable[[int, int], Page[M]], page_size: int, source: str) -> Iterator[Page[M]]:
    """The pages of one listing, from page 1.

    With pagination metadata on page 1, :class:`PageNumberPaginator` walks the
    announced pages. Without it, an answer shorter (or longer: the server ignored
    ``per_page``) than the page size asked for is the whole list; one exactly at
    the page size may be a cut list, so the next page is asked for, and so on
    until a page comes back short or empty ("nothing found" past the end is an
    empty page). A page repeating an earlier one (a server that honours
    ``per_page`` but ignores ``page``) is a :class:`PaginationLoopError`: the list
    cannot be read whole, and nothing may be archived on the strength of it --
    unless page 1 asked with one more per page comes back the same: then the
    server ignores both parameters and page 1 was the whole list after all.
    """
    first = fetch(1, page_size)
    if first.paginated:
        handed: list[Page[M]] = [first]

        def again(number: int) -> Page[M]:
            return handed.pop() if number == 1 and handed else fetch(number, page_size)

        yield from PageNumberPaginator(again, source=source)
        return
    page, number = first, 1
    seen: dict[bytes, int] = {}
    while True:
        size = len(page.items) + len(page.rejected)
        if size != page_size:
            yield _numbered(page, number, number)
            return
        digest = _content(page)
        if digest in seen:
            if number == 2 and _content(fetch(1, page_size + 1)) == digest:
                logger.debug("%s: the server ignores page and per_page; one page", source)
                return
            raise PaginationLoopError(
                f"{source} page {number}: the same {size} records as page {seen[digest]}, and "
                f"no pagination metadata; the server ignores the page number, so the list "
                f"cannot be read whole"
            )
        seen[digest] = number
        yield _numbered(page, number, number + 1)  # a full page: maybe more after it
        number += 1
        try:
            page = fetch(number, page_size)
        except SourceNotFoundError:  # "No customers could be found." past the end
            yield _numbered(Page([], 0, 1, 1), number, number)
            return
        if page.paginated:
            raise PaginationLoopError(
                f"{source} page {number}: pagination metadata appeared mid-walk; "
                "pagination would loop or skip"
            )


def _numbered(page: Page[M], number: int, pages: int) -> Page[M]:
    """A metadata-less page as page ``number`` of (at least) ``pages``."""
    return dataclasses.replace(page, page=number, pages=pages)


def _content(page: Page[Any]) -> bytes:
    """A digest of a page's records (ids where they have them, else their content)."""
    digest = hashlib.sha256()
    for item in page.items:
        digest.update(item.model_dump_json().encode())
        digest.update(b"\x00")
    for err in page.rejected:
        digest.update(str(err).encode())
        digest.update(b"\x00")
    return digest.digest()


def _record_id(name: str, value: object) -> str:
    """A positive integer id, given as int or as a string of digits."""
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 1:
            raise ValueError(f"{name} must be a positive integer")
        return str(value)
    if not isinstance(value, str):
        raise TypeError(f"{name} must be an int or a str of digits")
    if not (value.isascii() and value.isdigit()) or int(value) < 1:
        raise ValueError(f"{name} must be a positive integer")
    return value


def _date(name: str, value: object) -> str:
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value).isoformat()
        except ValueError:
            pass
    raise ValueError(f"{name} must be a date or a YYYY-MM-DD string")


def _operand(key: str, value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, float) and math.isfinite(value):
        return repr(value)
    raise TypeError(f"filter {key}: the value must be a str, an int or a finite float")


def _query(filters: Mapping[str, FilterValue] | None, sort: str | None) -> list[tuple[str, str]]:
    """``filter[key]``/``filter[key][op]`` and ``sort`` parameters, checked before any request."""
    params: list[tuple[str, str]] = []
    for key, value in (filters or {}).items():
        if not isinstance(key, str) or not _KEY.match(key):
            raise ValueError(f"filter key {key!r} must be a response key such as 'email'")
        if isinstance(value, tuple):
            if len(value) != 2 or value[0] not in FILTER_OPERATORS:
                raise ValueError(
                    f"filter {key}: use (operator, value) with an operator among "
                    f"{' '.join(FILTER_OPERATORS)}"
                )
            params.append((f"filter[{key}][{value[0]}]", _operand(key, value[1])))
        else:
            params.append((f"filter[{key}]", _operand(key, value)))
    if sort is not None:
        if not isinstance(sort, str) or not _SORT.match(sort):
            raise ValueError(f"sort {sort!r} must be a response key, '-' first for descending")
        params.append(("sort", sort))
    return params


def _message_of(body: object) -> object:
    """``message`` of an error body (``{"message": ..., "status_code": 400}``), or ``error``."""
    if not isinstance(body, dict):
        return None
    message = body.get("message")
    if isinstance(message, str) and message.strip():
        return message
    error = body.get("error")
    if isinstance(error, dict):
        error = error.get("message")
    return error


def _status_error(status: int, message: str | None, where: str) -> SourceError:
    text = f"{where}: HTTP {status}" + (f": {message}" if message else "")
    if status in (401, 403):
        return SourceAuthError(text, status=status)
    if status == 408:
        return SourceTimeoutError(text, status=status)
    if status == 429 or status >= 500:  # the spec documents no rate limit
        return SourceServerError(text, status=status)
    if message and _NOT_FOUND.search(message):
        return SourceNotFoundError(text, status=status)
    if status == 404:  # no "nothing found" message: a wrong URL, not a missing record
        return SourceDataError(f"{text} (not a Workadu 'not found' answer)", status=status)
    if 400 <= status < 500:
        return SourceInvalidParameterError(text, status=status)
    return SourceDataError(f"{text} (unexpected status)", status=status)
