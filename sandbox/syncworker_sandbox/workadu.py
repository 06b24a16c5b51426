"""A stateful stand-in for the Workadu API v2: customers, orders, invoices, payments (GET).

Served by Starlette, faithful to ``workadu-api-v2.txt``: ``GET /api/customers``,
``/api/orders``, ``/api/invoices``, ``/api/payments`` and
``/api/<resource>/{id},{id},...`` (not payments: they have no id; with or
without the trailing slash), ``{"data": ...}`` bodies in the spec's shapes, the
spec's filtering and sorting (rules in :mod:`syncworker_sandbox.workadu_store`),
the spec's 400 messages. Where the spec is silent the sandbox chooses, and says so:

* Errors are ``{"message": ..., "status_code": N}`` (dingo/api, the framework behind
  ``Accept: application/vnd.rengine.v2+json``). Unknown routes: 404 "404 Not Found".
* Auth is HTTP Basic with the API key as user name and an empty password; anything
  else (missing, other scheme, wrong key, a password) is 401 "Failed to
  authenticate because of bad credentials or an invalid authorization header."
  with ``WWW-Authenticate: Basic``.
* ``Accept``: with ``strict_accept`` (the default) a request without
  ``application/vnd.rengine.v2+json`` is 400 "Accept header could not be properly
  parsed because of a strict matching process." (dingo's strict mode); another
  version (``...v1+json``) is 400 too. ``strict_accept=False`` serves v2 to a
  request without a vnd Accept header. Checked before auth, as dingo does.
* Lists are arrays, even of one record (the spec's customer and invoice list
  examples show a bare object; its order list an array). By id: customers and
  invoices answer one id with an object and several with an array; orders always
  with an array, as the spec shows. Unknown ids are 400 with the spec's "No
  customers could be found."; "No orders could be found." and "The invoice is not
  valid or exist" for the others. A non-numeric id is 400 with the spec's
  "Please provide a customer_id!" / "You must provide the order ID(s)" / "You
  didn't specify a correct invoice ID.".
* Pagination: the spec shows none, so a list request without ``page`` or
  ``per_page`` gets the whole list and no metadata. With either (positive
  integers, else 400; ``per_page`` defaults to 15 and is capped at 100) the
  answer is one page plus Fractal's ``meta.pagination`` (total, count, per_page,
  current_page, total_pages, links; ``links`` is ``[]`` when empty, as PHP
  encodes it). A page past the end is empty. ``paginate=False`` ignores both
  parameters: every answer is then exactly the spec's shape. ``page_meta=False``
  honours both but sends no metadata (the spec's shape, cut at ``per_page``): a
  list exactly ``per_page`` long may then have more pages.

Control surface (tests, demo): the methods of :class:`WorkaduSandbox`. Control calls
are not HTTP requests: they are neither authenticated, delayed, faulted nor logged.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import random
import threading
import time
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from syncworker_sandbox import workadu_population as wpop
from syncworker_sandbox.requestlog import RequestLog
from syncworker_sandbox.workadu_store import ApiError, WorkaduStore
from syncworker_sandbox.workways_api import GATEWAY_PAGE, sleep_while_connected

__all__ = ["SANDBOX_WORKADU_KEY", "RequestRecord", "WorkaduSandbox"]

log = logging.getLogger(__name__)

# The sandbox's well-known API key: it opens nothing but the local sandbox.
SANDBOX_WORKADU_KEY = "wk_sandbox_" + "3f9a1c7e5b2d8046" * 3
ACCEPT_V2 = "application/vnd.rengine.v2+json"
AUTH_FAILED = (
    "Failed to authenticate because of bad credentials or an invalid authorization header."
)
ACCEPT_STRICT = "Accept header could not be properly parsed because of a strict matching process."
SERVER_ERROR = "Server Error"
DEFAULT_PER_PAGE, MAX_PER_PAGE = 15, 100
KINDS = ("customers", "orders", "invoices")  # lists and by id
LISTS = (*KINDS, "payments")  # a payment has no id: a list only


@dataclass(frozen=True)
class RequestRecord:
    method: str
    path: str
    query: dict[str, str]
    status: int
    at: float  # time.time() when the answer was ready
    accept: str | None = None


@dataclass
class _Faults:
    fail_next: int = 0
    status: int = 500
    error_rate: float = 0.0
    timeout_seconds: float = 0.0
    selective: bool = False  # timeout only for failing requests (fail_next/error_rate set)
    rng: random.Random = field(default_factory=random.Random)


def error(status: int, message: str, **headers: str) -> JSONResponse:
    body = {"message": message, "status_code": status}
    return JSONResponse(body, status_code=status, headers=headers or None)


class WorkaduSandbox:
    """The sandbox: ``app`` to serve, plus an in-process control surface."""

    def __init__(
        self,
        *,
        customers: int = 100,
        orders: int = 200,
        invoices: int = 150,
        seed: int = 42,
        api_key: str = SANDBOX_WORKADU_KEY,
        latency_ms: float = 0,
        shared_people: list[tuple[str, str]] | None = None,
        paginate: bool = True,
        strict_accept: bool = True,
        page_meta: bool = True,
    ) -> None:
        if not api_key or ":" in api_key:
            raise ValueError("api_key must be non-empty and without ':'")
        self.api_key = api_key
        self.latency_ms = latency_ms
        self.paginate = paginate
        self.page_meta = page_meta
        self.strict_accept = strict_accept
        people = wpop.make_customers(customers, seed, shared_people)
        sold = wpop.make_orders(orders, seed, people)
        billed = wpop.make_invoices(invoices, seed, people, sold)
        paid = wpop.make_payments(seed, people, billed)
        self._store = WorkaduStore(people, sold, billed, seed, paid)
        self._lock = threading.Lock()
        self._log: RequestLog[RequestRecord] = RequestLog()
        self._faults = _Faults()
        routes = []
        for kind in LISTS:
            for path in (f"/api/{kind}", f"/api/{kind}/"):
                routes.append(Route(path, self._endpoint(kind, by_id=False), methods=["GET"]))
        for kind in KINDS:
            routes.append(Route(f"/api/{kind}/{{ids}}", self._endpoint(kind, by_id=True)))
        fallback = Route("/{path:path}", self._not_found, methods=["GET", "POST", "PATCH"])
        self.app = Starlette(routes=[*routes, fallback])

    # ---------------------------------------------------------------- request log
    @property
    def request_log(self) -> list[RequestRecord]:
        """A snapshot of the API requests served."""
        return self._log.snapshot()

    def clear_log(self) -> None:
        self._log.clear()

    def count(self, method: str | None = None, path: str | None = None) -> int:
        """Requests served, optionally only those of one method and/or path."""
        return self._log.count(method, path)

    def _record(self, request: Request, status: int) -> None:
        accept = request.headers.get("accept")
        query = dict(request.query_params)
        record = RequestRecord(request.method, request.url.path, query, status, time.time(), accept)
        self._log.append(record)

    # -------------------------------------------------------------- control surface
    def customers(self) -> list[dict[str, Any]]:
        return self._store.all("customers")

    def orders(self) -> list[dict[str, Any]]:
        return self._store.all("orders")

    def invoices(self) -> list[dict[str, Any]]:
        return self._store.all("invoices")

    def payments(self, customer_id: int | None = None) -> list[dict[str, Any]]:
        """Every payment (``GET /api/payments``), or one customer's."""
        found = self._store.all("payments")
        return [p for p in found if customer_id is None or p["customer_id"] == customer_id]

    def add_payment(
        self,
        customer_id: int,
        amount: float,
        *,
        order_id: int | None = None,
        issue_date: str = wpop.BASE_DAY.isoformat(),
        currency: str = "€",
        series: str = "Cash",
        comments: str | None = None,
    ) -> int:
        """A payment, as the spec's three POST /api/payments make them: for an order
        (``order_id``: listed in the order's ``payments`` too, in its currency), or
        general / for invoices (no order); a negative amount discards. Returns its
        ``transaction_num,``."""
        return self._store.add_payment(
            customer_id,
            amount,
            order_id=order_id,
            issue_date=issue_date,
            currency=currency,
            series=series,
            comments=comments,
        )

    def get_customer(self, customer_id: int) -> dict[str, Any]:
        return self._store.get("customers", customer_id)

    def get_order(self, order_id: int) -> dict[str, Any]:
        return self._store.get("orders", order_id)

    def get_invoice(self, invoice_id: int) -> dict[str, Any]:
        return self._store.get("invoices", invoice_id)

    def update_customer(self, customer_id: int, **fields: Any) -> None:
        """Set fields by API name (``email=...``); values are served as given."""
        self._store.update("customers", customer_id, fields)

    def update_order(self, order_id: int, **fields: Any) -> None:
        self._store.update("orders", order_id, fields)

    def update_invoice(self, invoice_id: int, **fields: Any) -> None:
        self._store.update("invoices", invoice_id, fields)

    def add_customer(self, **fields: Any) -> int:
        """A new customer (``fullname`` required); returns its id."""
        return self._store.add_customer(fields)

    def add_order(self, customer_id: int, **fields: Any) -> int:
        """A new order of a customer, generated, then ``fields`` applied; returns its id."""
        return self._store.add_order(customer_id, fields)

    def add_invoice(self, customer_id: int, **fields: Any) -> int:
        return self._store.add_invoice(customer_id, fields)

    def remove_customer(self, customer_id: int) -> None:
        """Removes the customer only: its orders and invoices stay (as in the real API)."""
        self._store.remove("customers", customer_id)

    def remove_order(self, order_id: int) -> None:
        self._store.remove("orders", order_id)

    def remove_invoice(self, invoice_id: int) -> None:
        self._store.remove("invoices", invoice_id)

    def set_fault(
        self,
        *,
        fail_next: int = 0,
        status: int = 500,
        error_rate: float = 0.0,
        timeout_seconds: float = 0.0,
        seed: int | None = None,
    ) -> None:
        """Replace the fault plan; ``set_fault()`` clears it.

        The next ``fail_next`` API requests, then a share ``error_rate`` of the others,
        fail with ``status``: 502/503/504 an nginx HTML page, any other status the
        error body (500: "Server Error"). ``timeout_seconds`` makes the failing
        requests wait that long first or, when nothing else is set, every request
        (then answered normally). The wait ends early if the client hangs up.
        """
        if fail_next < 0 or not 0.0 <= error_rate <= 1.0 or timeout_seconds < 0:
            raise ValueError("fail_next and timeout_seconds must be >= 0, error_rate in [0, 1]")
        if not 400 <= status <= 599:
            raise ValueError("status must be an HTTP error status (400-599)")
        selective = fail_next > 0 or error_rate > 0
        plan = _Faults(fail_next, status, error_rate, timeout_seconds, selective)
        plan.rng = random.Random(seed)
        with self._lock:
            self._faults = plan

    # ------------------------------------------------------------------ serving
    def _endpoint(self, kind: str, *, by_id: bool) -> Any:
        async def endpoint(request: Request) -> Response:
            response = await self._serve(request, kind, by_id)
            self._record(request, response.status_code)
            return response

        return endpoint

    async def _serve(self, request: Request, kind: str, by_id: bool) -> Response:
        try:
            if self.latency_ms > 0:
                await asyncio.sleep(self.latency_ms / 1000)
            failing, delay, status = self._draw_fault()
            if delay > 0:
                await sleep_while_connected(request, delay)
            if failing:
                return _fault_response(status)
            problem = self._accept_problem(request.headers.get("accept"))
            if problem:
                return error(400, problem)
            if not self._authorized(request.headers.get("authorization")):
                return error(401, AUTH_FAILED, **{"WWW-Authenticate": 'Basic realm="Workadu"'})
            if by_id:
                return self._by_ids(kind, request.path_params["ids"])
            return self._list(request, kind)
        except ApiError as exc:
            return error(exc.status, exc.message)
        except Exception:  # no input may escape as a bare traceback
            log.exception("workadu sandbox: unexpected error on %s", request.url.path)
            return error(500, SERVER_ERROR)

    def _by_ids(self, kind: str, ids: str) -> Response:
        records = self._store.api_by_ids(kind, ids)
        if len(records) == 1 and "," not in ids and kind != "orders":
            return JSONResponse({"data": records[0]})
        return JSONResponse({"data": records})

    def _list(self, request: Request, kind: str) -> Response:
        params = request.query_params.multi_items()
        records = self._store.api_list(kind, params)
        query = request.query_params
        if not self.paginate or ("page" not in query and "per_page" not in query):
            return JSONResponse({"data": records})
        page = _positive(query.get("page"), 1, "page")
        per_page = min(_positive(query.get("per_page"), DEFAULT_PER_PAGE, "per_page"), MAX_PER_PAGE)
        total = len(records)
        pages = max(1, -(-total // per_page))  # Laravel's lastPage() is never 0
        chunk = records[(page - 1) * per_page : page * per_page]
        if not self.page_meta:
            return JSONResponse({"data": chunk})
        links: dict[str, str] = {}
        if page > 1:
            links["previous"] = str(request.url.include_query_params(page=page - 1))
        if page < pages:
            links["next"] = str(request.url.include_query_params(page=page + 1))
        pagination: dict[str, Any] = {
            "total": total,
            "count": len(chunk),
            "per_page": per_page,
            "current_page": page,
            "total_pages": pages,
            "links": links or [],  # PHP encodes an empty array as []
        }
        return JSONResponse({"data": chunk, "meta": {"pagination": pagination}})

    def _draw_fault(self) -> tuple[bool, float, int]:
        with self._lock:
            plan = self._faults
            failing = False
            if plan.fail_next > 0:
                plan.fail_next -= 1
                failing = True
            elif plan.error_rate > 0 and plan.rng.random() < plan.error_rate:
                failing = True
            delay = plan.timeout_seconds if failing or not plan.selective else 0.0
            return failing, delay, plan.status

    def _accept_problem(self, header: str | None) -> str | None:
        types = [part.split(";")[0].strip().lower() for part in (header or "").split(",")]
        if ACCEPT_V2 in types:
            return None
        if any(t.startswith("application/vnd.rengine.") for t in types):
            return "This sandbox serves API version v2 only (application/vnd.rengine.v2+json)."
        return ACCEPT_STRICT if self.strict_accept else None

    def _authorized(self, header: str | None) -> bool:
        scheme, _, encoded = (header or "").strip().partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return False
        user, sep, password = decoded.partition(":")
        return bool(sep) and user == self.api_key and password == ""

    async def _not_found(self, request: Request) -> Response:
        self._record(request, 404)
        return error(404, "404 Not Found")


def _positive(raw: str | None, default: int, name: str) -> int:
    if raw is None or raw == "":
        return default
    if not (raw.isascii() and raw.isdigit()) or int(raw[:19]) < 1:
        raise ApiError(400, f"The {name} parameter must be a positive integer.")
    return int(raw[:19])


def _fault_response(status: int) -> Response:
    phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
    if status in (502, 503, 504):
        return HTMLResponse(GATEWAY_PAGE.format(code=status, phrase=phrase), status_code=status)
    return error(status, SERVER_ERROR if status == 500 else phrase)
