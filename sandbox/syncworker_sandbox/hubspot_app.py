"""The HubSpot sandbox: a stateful stand-in for api.hubapi.com.

``HubSpotSandbox().app`` is an ASGI app serving the CRM endpoints the worker
uses, with HubSpot's auth, rate limits (10-second rolling window, daily budget,
search's own per-second limit), error bodies and batch semantics. Tests drive
it through :class:`~syncworker_sandbox.server.ServerThread` and inspect
``store`` and ``request_log``; faults and latency can be injected at run time.
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from syncworker_sandbox import SANDBOX_HUBSPOT_TOKEN
from syncworker_sandbox.hubspot_common import ApiError
from syncworker_sandbox.hubspot_routes import build_routes, error_response
from syncworker_sandbox.hubspot_scopes import (
    missing_scopes,
    missing_scopes_error,
    required_scopes,
)
from syncworker_sandbox.hubspot_store import HubSpotStore, ValidationRule
from syncworker_sandbox.ratelimit import DailyCounter, RollingWindow

WINDOW_SECONDS = 10.0
NOMINAL_PER_10S = 190  # what the headers show when no limit is configured
NOMINAL_DAILY = 625_000
_SEARCH_PATH = re.compile(r"^/crm/(v3/objects|objects/\d{4}-\d{2})/[^/]+/search/?$")
_AUTH_MESSAGE = (
    "Authentication credentials not found. This API supports OAuth 2.0 "
    "authentication and you can find more details at "
    "https://developers.hubspot.com/docs/methods/auth/oauth-overview"
)
_FAULT_BODIES: dict[int, tuple[str, str]] = {
    422: ("VALIDATION_ERROR", "The request could not be processed."),
    423: ("LOCKED", "The resource is locked. Please retry in a few seconds."),
    500: ("INTERNAL_ERROR", "internal error"),
    502: ("BAD_GATEWAY", "Bad gateway"),
    503: ("SERVICE_UNAVAILABLE", "Service unavailable, please try again later"),
    504: ("GATEWAY_TIMEOUT", "Gateway timeout"),
}


@dataclass(frozen=True)
class RequestRecord:
    method: str
    path: str
    status: int
    batch_size: int | None
    at: float


@dataclass
class _Faults:
    error_rate: float = 0.0
    error_status: int = 500
    timeout_rate: float = 0.0
    timeout_seconds: float = 35.0
    fail_next: int = 0
    fail_status: int = 500
    garbled_next: int = 0


def _batch_size(body: bytes) -> int | None:
    if not body:
        return None
    try:
        parsed = json.loads(body)
    except (ValueError, RecursionError):
        return None
    inputs = parsed.get("inputs") if isinstance(parsed, dict) else None
    return len(inputs) if isinstance(inputs, list) else None


class HubSpotSandbox:
    """State, ASGI app and knobs of one sandboxed HubSpot account."""

    def __init__(
        self,
        *,
        token: str = SANDBOX_HUBSPOT_TOKEN,
        rate_limit_per_10s: int | None = None,
        daily_limit: int | None = None,
        search_rate_per_second: int = 5,
        latency_ms: float = 0,
        invalid_email_mode: str = "multi-status",
        search_index_lag_seconds: float = 0.0,
        seed: int = 0,
        send_retry_after: bool = False,
        dated_only: bool = False,
        granted_scopes: Iterable[str] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """``dated_only``: serve only the dated paths (``/crm/objects/2026-09/...``);
        the numeric ones (``/crm/v3/...``, ``/crm/v4/...``) answer 404.
        ``granted_scopes``: the token's scopes (see :meth:`set_scopes`); None: all."""
        self.token = token
        self.granted_scopes: frozenset[str] | None = None
        self.set_scopes(granted_scopes)
        self.latency_ms = latency_ms
        self.send_retry_after = send_retry_after
        self.clock = clock
        self.seed = seed
        self.dated_only = dated_only
        self.store = HubSpotStore(
            clock=clock,
            invalid_email_mode=invalid_email_mode,
            search_index_lag_seconds=search_index_lag_seconds,
        )
        self.request_log: list[RequestRecord] = []
        self._log_lock = threading.Lock()
        self._faults = _Faults()
        self._rng = random.Random(seed)
        self.search_window = RollingWindow(search_rate_per_second, 1.0, clock)
        self.set_rate_limit(rate_limit_per_10s, daily_limit)
        self.app = Starlette(
            routes=build_routes(self.store, dated_only=dated_only),
            exception_handlers={404: self._http_error, 405: self._http_error},
        )
        self.app.add_middleware(_Gate, sandbox=self)

    # ------------------------------------------------------------------ knobs
    @property
    def invalid_email_mode(self) -> str:
        return self.store.invalid_email_mode

    @invalid_email_mode.setter
    def invalid_email_mode(self, mode: str) -> None:
        if mode not in ("multi-status", "reject-batch"):
            raise ValueError("invalid_email_mode must be 'multi-status' or 'reject-batch'")
        self.store.invalid_email_mode = mode

    @property
    def search_index_lag_seconds(self) -> float:
        return self.store.search_index_lag_seconds

    @search_index_lag_seconds.setter
    def search_index_lag_seconds(self, seconds: float) -> None:
        self.store.search_index_lag_seconds = seconds

    def set_rate_limit(self, per_10s: int | None, daily: int | None = None) -> None:
        self.rate_limit_per_10s, self.daily_limit = per_10s, daily
        self.window = RollingWindow(
            per_10s if per_10s is not None else NOMINAL_PER_10S, WINDOW_SECONDS, self.clock
        )
        self.daily = DailyCounter(daily if daily is not None else NOMINAL_DAILY, self.clock)

    def set_scopes(self, scopes: Iterable[str] | None) -> None:
        """Grant the token only ``scopes`` (None: every scope). A call needing a
        scope not granted answers HubSpot's 403 ``MISSING_SCOPES`` naming it."""
        self.granted_scopes = None if scopes is None else frozenset(scopes)

    def set_token(self, token: str) -> None:
        """The only token the sandbox accepts from now on (others answer 401)."""
        self.token = token

    def set_search_rate(self, per_second: int) -> None:
        self.search_window = RollingWindow(per_second, 1.0, self.clock)

    def add_validation_rule(
        self,
        object_type: str,
        required: str,
        *,
        when_property: str,
        when_value: str,
        name: str | None = None,
    ) -> ValidationRule:
        """Give the portal a conditional required property, as an admin would in
        HubSpot's settings: a write leaving ``required`` empty while
        ``when_property`` is ``when_value`` gets a 400 for its whole batch."""
        rule = ValidationRule(
            object_type,
            required,
            when_property,
            when_value,
            name or f"{required} required when {when_property} is {when_value}",
        )
        with self.store.lock:
            self.store.validation_rules.append(rule)
        return rule

    def seed_portal(self, emails: Sequence[str], unrelated: int = 0) -> list[str]:
        """Contacts a real portal holds before any sync (leads, imports, form fills):
        one per e-mail in ``emails`` (every other one in upper case, as people type
        them), then ``unrelated`` more at addresses of their own. Each has a
        lifecycle stage, as a marketing team sets it. Returns the ids, in order."""
        rng = random.Random(self.seed)
        stages = ("subscriber", "lead", "marketingqualifiedlead", "customer")
        addresses = [e.strip().upper() if i % 2 else e.strip() for i, e in enumerate(emails)]
        addresses += [f"prospect{n}@portal-seed.example" for n in range(1, unrelated + 1)]
        return [
            self.store.add_object(
                "contacts",
                {
                    "email": address,
                    "firstname": f"Lead {n}",
                    "lifecyclestage": rng.choice(stages),
                },
                source="IMPORT",
            )
            for n, address in enumerate(addresses, start=1)
        ]

    def set_fault(
        self,
        *,
        error_rate: float = 0.0,
        error_status: int = 500,
        timeout_rate: float = 0.0,
        timeout_seconds: float = 35.0,
        fail_next: int = 0,
        fail_status: int = 500,
        garbled_next: int = 0,
        seed: int | None = None,
    ) -> None:
        """Inject failures into /crm/* calls; ``set_fault()`` with no argument clears them.

        ``garbled_next``: the next calls answer 200 with a body that is not JSON
        (as a proxy's error page might)."""
        self._faults = _Faults(
            error_rate,
            error_status,
            timeout_rate,
            timeout_seconds,
            fail_next,
            fail_status,
            garbled_next,
        )
        if seed is not None:
            self._rng = random.Random(seed)

    # ------------------------------------------------------------------- log
    def record(self, entry: RequestRecord) -> None:
        with self._log_lock:
            self.request_log.append(entry)

    def clear_log(self) -> None:
        with self._log_lock:
            self.request_log.clear()

    def count(
        self, method: str | None = None, path_contains: str | None = None, status: int | None = None
    ) -> int:
        with self._log_lock:
            entries = list(self.request_log)
        return sum(
            1
            for e in entries
            if (method is None or e.method == method.upper())
            and (path_contains is None or path_contains in e.path)
            and (status is None or e.status == status)
        )

    # --------------------------------------------------------------- internals
    async def _http_error(self, request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 404
        if status == 405:
            return error_response(
                ApiError(
                    405,
                    f"HTTP 405 Method Not Allowed: {request.method} is not supported for "
                    f"{request.url.path}",
                    "VALIDATION_ERROR",
                )
            )
        return error_response(
            ApiError(
                404,
                f"Unable to route {request.method} request to {request.url.path}",
                "OBJECT_NOT_FOUND",
            )
        )

    def draw_fault(self) -> tuple[str, int] | None:
        faults = self._faults
        if faults.garbled_next > 0:
            faults.garbled_next -= 1
            return "garbled", 200
        if faults.fail_next > 0:
            faults.fail_next -= 1
            return "error", faults.fail_status
        if faults.error_rate > 0 and self._rng.random() < faults.error_rate:
            return "error", faults.error_status
        if faults.timeout_rate > 0 and self._rng.random() < faults.timeout_rate:
            return "timeout", 0
        return None

    def fault_seconds(self) -> float:
        return self._faults.timeout_seconds

    def rate_headers(self) -> dict[str, str]:
        configured = self.rate_limit_per_10s is not None
        daily_configured = self.daily_limit is not None
        return {
            "X-HubSpot-RateLimit-Max": str(self.window.limit),
            "X-HubSpot-RateLimit-Remaining": str(
                self.window.remaining() if configured else self.window.limit
            ),
            "X-HubSpot-RateLimit-Interval-Milliseconds": str(int(WINDOW_SECONDS * 1000)),
            "X-HubSpot-RateLimit-Daily": str(self.daily.limit),
            "X-HubSpot-RateLimit-Daily-Remaining": str(
                self.daily.remaining() if daily_configured else self.daily.limit
            ),
        }

    def admit(self) -> str | None:
        """Count one non-search call; the policy name that refuses it, or None."""
        if self.daily_limit is not None and self.daily.remaining() <= 0:
            return "DAILY"
        if self.rate_limit_per_10s is not None and self.window.remaining() <= 0:
            return "TEN_SECONDLY_ROLLING"
        if self.rate_limit_per_10s is not None:
            self.window.try_acquire()
        if self.daily_limit is not None:
            self.daily.try_acquire()
        return None

    def too_many(self, policy: str, headers: dict[str, str]) -> JSONResponse:
        label = {
            "DAILY": "daily",
            "TEN_SECONDLY_ROLLING": "ten_secondly_rolling",
            "SECONDLY": "secondly",
        }[policy]
        body = {
            "status": "error",
            "message": f"You have reached your {label} limit.",
            "errorType": "RATE_LIMIT",
            "correlationId": str(uuid.uuid4()),
            "policyName": policy,
            "requestId": uuid.uuid4().hex,
        }
        if self.send_retry_after:
            wait = {
                "DAILY": self.daily.seconds_to_reset,
                "TEN_SECONDLY_ROLLING": self.window.retry_after,
                "SECONDLY": self.search_window.retry_after,
            }[policy]()
            headers = {**headers, "Retry-After": str(max(1, math.ceil(wait)))}
        return JSONResponse(body, status_code=429, headers=headers)

    def fault_response(self, status: int, headers: dict[str, str]) -> Response:
        if status == 429:
            return self.too_many("TEN_SECONDLY_ROLLING", headers)
        category, message = _FAULT_BODIES.get(status, ("INTERNAL_ERROR", "internal error"))
        return error_response(ApiError(status, message, category), headers)


class _Gate:
    """ASGI middleware: latency, auth, rate limits, injected faults and the request log."""

    def __init__(self, app: ASGIApp, sandbox: HubSpotSandbox) -> None:
        self.app = app
        self.sandbox = sandbox

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        sandbox = self.sandbox
        method, path = scope["method"], scope["path"]
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        extra: dict[str, str] = {}
        delay = 0.0

        logged = False

        def log(status: int) -> None:
            nonlocal logged
            if not logged:
                logged = True
                sandbox.record(
                    RequestRecord(method, path, status, _batch_size(body), sandbox.clock())
                )

        async def tracked_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                if extra:
                    headers = list(message.get("headers", []))
                    headers += [(k.lower().encode(), v.encode()) for k, v in extra.items()]
                    message = {**message, "headers": headers}
                if delay:
                    await asyncio.sleep(delay)
                log(message["status"])  # before the client can see the answer
            await send(message)

        try:
            if not path.startswith("/crm/"):
                await self.app(scope, replay, tracked_send)
                return
            if sandbox.latency_ms > 0:
                await asyncio.sleep(sandbox.latency_ms / 1000)
            is_search = method == "POST" and _SEARCH_PATH.match(path) is not None
            response = self._gatekeep(scope, is_search)
            if response is None:
                if not is_search:
                    extra.update(sandbox.rate_headers())
                fault = sandbox.draw_fault()
                if fault is not None and fault[0] == "error":
                    response = sandbox.fault_response(fault[1], dict(extra))
                    extra.clear()
                elif fault is not None and fault[0] == "garbled":
                    response = Response(
                        b"<html>upstream hiccup</html>", 200, media_type="text/html"
                    )
                elif fault is not None:
                    delay = sandbox.fault_seconds()
            if response is not None:
                await response(scope, replay, tracked_send)
            else:
                await self.app(scope, replay, tracked_send)
        finally:
            log(500)  # only if no answer was started

    def _gatekeep(self, scope: Scope, is_search: bool) -> Response | None:
        sandbox = self.sandbox
        headers = {
            k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])
        }
        scheme, _, token = headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or token.strip() != sandbox.token:
            return error_response(
                ApiError(401, _AUTH_MESSAGE, "INVALID_AUTHENTICATION"),
                {"X-HubSpot-Auth-Failure": "401 Unauthorized"},
            )
        granted = sandbox.granted_scopes
        if granted is not None:
            lacking = missing_scopes(required_scopes(scope["method"], scope["path"]), granted)
            if lacking:
                return error_response(missing_scopes_error(lacking))
        if is_search:
            if not sandbox.search_window.try_acquire():
                return sandbox.too_many("SECONDLY", {})
            return None
        policy = sandbox.admit()
        if policy is not None:
            return sandbox.too_many(policy, sandbox.rate_headers())
        return None


__all__ = ["HubSpotSandbox", "HubSpotStore", "RequestRecord"]
