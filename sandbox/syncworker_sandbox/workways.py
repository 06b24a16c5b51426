"""A stateful stand-in for the Workways public API (the four endpoints syncworker uses).

Served by Starlette, faithful to ``workways-public-api.txt``: same paths, Bearer auth
with the spec's six 401 bodies, ``{"retcode", "message", "data"}`` envelopes, the
spec's error messages, 400 for bad parameters, 404 for unknown records, 500 for
"Internal server error". Where the spec is silent the sandbox chooses, and says so:

* ``language=fr`` (query or body) is accepted and ignored: messages stay English.
* An empty parameter (``?id=``) counts as absent, as in the JavaScript original.
* ``page``/``limit`` must be positive integers (400 otherwise); ``limit`` is capped at
  200; a page past the end is empty; ``pages`` is 0 when nothing matches.
* The ``Authorization`` scheme must be exactly ``Bearer``.
* ``set-optin`` takes query parameters and/or a JSON (or form) body, the body winning;
  it answers GET too. ``updatedAt`` moves only when the value changes.
* A malformed JSON body is 400 ``Invalid JSON body``; unknown routes are 404 ``Not found``.
* ``merge-contract`` rules: see :mod:`syncworker_sandbox.workways_contract`. Its
  ``rentalComment``/``rentalUrl`` show up in organization-info once set; real Workways
  does not return them.
* An e-mail lookup ignores case and surrounding whitespace on both sides.
* Renaming or archiving an organization changes its users' ``organizationName`` /
  ``isOrganizationArchived`` but not their ``updatedAt`` (they are different records).

Control surface (tests, demo): the methods of :class:`WorkwaysSandbox`, and the same
over HTTP under ``/_sandbox/`` (see :mod:`syncworker_sandbox.workways_control`).
Control requests are neither authenticated, delayed, faulted nor logged.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import random
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from syncworker_sandbox import SANDBOX_WORKWAYS_TOKEN
from syncworker_sandbox import population as pop
from syncworker_sandbox.population import JsonDict
from syncworker_sandbox.requestlog import RequestLog
from syncworker_sandbox.workways_api import (
    AUTH_FORMAT,
    AUTH_INVALID,
    AUTH_MISSING,
    AUTH_SPECIAL,
    CORRUPTION_KINDS,
    INTERNAL_ERROR,
    SANDBOX_ARCHIVED_ACCOUNT_TOKEN,
    SANDBOX_ARCHIVED_USER_TOKEN,
    SANDBOX_EXPIRED_TOKEN,
    corrupted,
    envelope_error,
    fault_response,
    merge_contract,
    norm_endpoint,
    ok,
    organization_info,
    set_optin,
    sleep_while_connected,
    user_info,
)
from syncworker_sandbox.workways_control import control_routes
from syncworker_sandbox.workways_store import ApiError, WorkwaysStore

__all__ = [
    "SANDBOX_ARCHIVED_ACCOUNT_TOKEN",
    "SANDBOX_ARCHIVED_USER_TOKEN",
    "SANDBOX_EXPIRED_TOKEN",
    "SANDBOX_WORKWAYS_TOKEN",
    "RequestRecord",
    "WorkwaysSandbox",
]

log = logging.getLogger(__name__)

Endpoint = Callable[[WorkwaysStore, Request, bytes], Awaitable[JsonDict]]


@dataclass(frozen=True)
class RequestRecord:
    method: str
    path: str
    query: dict[str, str]
    status: int
    at: float  # time.time() when the answer was ready


@dataclass
class _Faults:
    fail_next: int = 0
    status: int = 500
    error_rate: float = 0.0
    timeout_seconds: float = 0.0
    selective: bool = False  # timeout only for failing requests (fail_next/error_rate set)
    rng: random.Random = field(default_factory=random.Random)


def _answer(future: asyncio.Future[None]) -> None:
    if not future.done():  # the client may have hung up meanwhile
        future.set_result(None)


class WorkwaysSandbox:
    """The sandbox: ``app`` to serve, plus an in-process control surface."""

    def __init__(
        self,
        *,
        users: int = 200,
        orgs: int = 30,
        seed: int = 42,
        token: str = SANDBOX_WORKWAYS_TOKEN,
        latency_ms: float = 0,
        today: dt.date | None = None,
    ) -> None:
        self.token = token
        self.latency_ms = latency_ms
        self._fixed_today = today
        population = pop.generate(users, orgs, seed, today or dt.date.today())
        self._store = WorkwaysStore(population, seed, self._today)
        self._lock = threading.Lock()
        self._log: RequestLog[RequestRecord] = RequestLog()
        self._faults = _Faults()
        self._corrupt: dict[tuple[str, int], str] = {}
        self._held_from: dict[str, int] = {}  # endpoint -> first list page held back
        self._held: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []
        api = [
            Route("/api/user-info", self._api(user_info, "user-info"), methods=["GET"]),
            Route("/api/set-optin", self._api(set_optin), methods=["GET", "POST"]),
            Route(
                "/api/organization-info",
                self._api(organization_info, "organization-info"),
                methods=["GET"],
            ),
            Route("/api/merge-contract", self._api(merge_contract), methods=["POST"]),
        ]
        fallback = Route(
            "/{path:path}",
            self._not_found,
            methods=["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
        )
        self.app = Starlette(routes=[*api, *control_routes(self), fallback])

    def _today(self) -> dt.date:
        return self._fixed_today or dt.date.today()

    # ---------------------------------------------------------------- request log

    @property
    def request_log(self) -> list[RequestRecord]:
        """A snapshot of the API requests served (control requests are not logged)."""
        return self._log.snapshot()

    def clear_log(self) -> None:
        self._log.clear()

    def count(self, method: str | None = None, path: str | None = None) -> int:
        """Requests served, optionally only those of one method and/or path."""
        return self._log.count(method, path)

    def _record(self, request: Request, status: int) -> None:
        record = RequestRecord(
            request.method, request.url.path, dict(request.query_params), status, time.time()
        )
        self._log.append(record)

    # -------------------------------------------------------------- control surface

    def users(self) -> list[JsonDict]:
        return self._store.users()

    def organizations(self) -> list[JsonDict]:
        return self._store.organizations()

    def sites(self) -> list[JsonDict]:
        return [dict(s) for s in self._store.sites]

    def rooms(self) -> list[JsonDict]:
        """The room catalog: ids that merge-contract accepts in rooms/roomsToAdd."""
        return self._store.rooms()

    def get_user(self, user_id: str) -> JsonDict:
        return self._store.get_user(user_id)

    def get_organization(self, org_id: str) -> JsonDict:
        return self._store.get_organization(org_id)

    def allow_duplicate_emails(self, allowed: bool = True) -> None:
        """Let two users share an e-mail (the spec does not forbid it); off by default."""
        self._store.duplicate_emails = allowed

    def update_user(self, user_id: str, **fields: Any) -> None:
        self._store.update_user(user_id, fields)

    def update_organization(self, org_id: str, **fields: Any) -> None:
        self._store.update_organization(org_id, fields)

    def add_user(self, **fields: Any) -> str:
        return self._store.add_user(fields)

    def add_organization(self, **fields: Any) -> str:
        return self._store.add_organization(fields)

    def remove_user(self, user_id: str) -> None:
        self._store.remove_user(user_id)

    def remove_organization(self, org_id: str) -> None:
        self._store.remove_organization(org_id)

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
        fail with ``status``: 500 answers the spec's "Internal server error" body,
        502/503/504 an nginx HTML page, any other status an envelope with the HTTP
        reason. ``timeout_seconds`` makes the failing requests wait that long first
        or, when nothing else is set, every request (then answered normally). The
        wait ends early if the client hangs up.
        """
        if fail_next < 0 or not 0.0 <= error_rate <= 1.0 or timeout_seconds < 0:
            raise ValueError("fail_next and timeout_seconds must be >= 0, error_rate in [0, 1]")
        if not 400 <= status <= 599:
            raise ValueError("status must be an HTTP error status (400-599)")
        with self._lock:
            self._faults = _Faults(
                fail_next,
                status,
                error_rate,
                timeout_seconds,
                fail_next > 0 or error_rate > 0,
                random.Random(seed),
            )

    def hold_pages(self, endpoint: str, from_page: int) -> None:
        """Keep back the answers to list pages ``from_page`` and later of ``endpoint``
        ("user-info" or "organization-info") until ``release_pages()``.

        For tests that must see several clients in the middle of their work at once.
        """
        if from_page < 1:
            raise ValueError("from_page must be >= 1")
        with self._lock:
            self._held_from[norm_endpoint(endpoint)] = from_page

    def held(self) -> int:
        """How many answers are held back now."""
        with self._lock:
            return sum(not future.done() for _, future in self._held)

    def release_pages(self) -> None:
        """Answer every held page, and hold no more."""
        with self._lock:
            self._held_from.clear()
            waiting, self._held = self._held, []
        for loop, future in waiting:
            loop.call_soon_threadsafe(_answer, future)

    async def _wait_if_held(self, endpoint: str, page: int) -> None:
        with self._lock:
            if page < self._held_from.get(endpoint, page + 1):
                return
            loop = asyncio.get_running_loop()
            future: asyncio.Future[None] = loop.create_future()
            self._held.append((loop, future))
        await future

    def corrupt_page(self, endpoint: str, page: int, kind: str) -> None:
        """Spoil the next successful answer for list page ``page`` of ``endpoint``.

        ``endpoint`` is "user-info" or "organization-info" ("/api/..." accepted). Kinds:
        malformed-json (truncated body), html-200 (an HTML page), retcode-error-200
        (``retcode: -1`` with status 200), missing-id (one record loses ``_id``),
        wrong-type (one record's ``email``, or an organization's ``name``, becomes a
        number), items-not-list (``items`` is an object keyed by id). The broken record
        is the one at index ``len(items) // 2``; the others stay valid.
        """
        if kind not in CORRUPTION_KINDS:
            raise ValueError(f"kind must be one of {sorted(CORRUPTION_KINDS)}")
        if page < 1:
            raise ValueError("page must be >= 1")
        with self._lock:
            self._corrupt[(norm_endpoint(endpoint), page)] = kind

    # ------------------------------------------------------------------ serving

    def _api(
        self, handler: Endpoint, list_name: str | None = None
    ) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            response = await self._serve(request, handler, list_name)
            self._record(request, response.status_code)
            return response

        return endpoint

    async def _serve(self, request: Request, handler: Endpoint, list_name: str | None) -> Response:
        try:
            body = await request.body()
            if self.latency_ms > 0:
                await asyncio.sleep(self.latency_ms / 1000)
            failing, delay, status = self._draw_fault()
            if delay > 0:
                await sleep_while_connected(request, delay)
            if failing:
                return fault_response(status)
            problem = self._auth_problem(request.headers.get("authorization"))
            if problem:
                return envelope_error(401, problem)
            data = await handler(self._store, request, body)
            if list_name is not None and "items" in data:
                await self._wait_if_held(list_name, data["page"])
                return self._list_response(list_name, data)
            return ok(data)
        except ApiError as exc:
            return envelope_error(exc.status, exc.message)
        except Exception:  # no input may escape as a bare traceback
            log.exception("workways sandbox: unexpected error on %s", request.url.path)
            return envelope_error(500, INTERNAL_ERROR)

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

    def _auth_problem(self, header: str | None) -> str | None:
        if header is None or not header.strip():
            return AUTH_MISSING
        scheme, _, token = header.strip().partition(" ")
        token = token.strip()
        if scheme != "Bearer" or not token or " " in token:
            return AUTH_FORMAT
        if token == self.token:
            return None
        return AUTH_SPECIAL.get(token, AUTH_INVALID)

    async def _not_found(self, request: Request) -> Response:
        if not request.url.path.startswith("/_sandbox/"):
            self._record(request, 404)
        return envelope_error(404, "Not found")

    def _list_response(self, endpoint: str, data: JsonDict) -> Response:
        with self._lock:
            kind = self._corrupt.pop((endpoint, data["page"]), None)
        return corrupted(kind, endpoint, data)
