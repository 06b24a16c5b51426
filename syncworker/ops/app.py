"""The ops HTTP app (``syncworker serve``): webhooks, metrics, probes and the ops page.

Routes: ``POST /webhooks/hubspot`` (the receiver, when ``HUBSPOT_CLIENT_SECRET``
is set), ``GET /healthz`` (200 while serving), ``GET /readyz`` (database,
Redis, migrations; 503 naming what fails), ``GET /metrics`` and ``/ops`` (behind
``OPS_TOKEN``, see :mod:`syncworker.ops.auth`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from urllib.parse import parse_qs

from prometheus_client import CONTENT_TYPE_LATEST
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from syncworker.app.container import Container
from syncworker.ops import alerts, instruments, page, queries
from syncworker.ops.auth import COOKIE, Access, OpsAuth, is_loopback
from syncworker.ops.health import Readiness, readiness
from syncworker.ops.metrics import exposition
from syncworker.sources.registry import STREAMS
from syncworker.webhooks.app import DEFAULT_PATH

log = logging.getLogger("syncworker.ops")

READINESS_TIMEOUT_SECONDS = 5.0
MAX_FORM_BYTES = 10_000


class CountDeliveries:
    """Counts the receiver's answers to webhook deliveries by result."""

    def __init__(self, app: ASGIApp, path: str = DEFAULT_PATH) -> None:
        self.app = app
        self.path = path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") != self.path:
            await self.app(scope, receive, send)
            return

        async def counting_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                instruments.webhook_delivery(int(message["status"]))
            await send(message)

        await self.app(scope, receive, counting_send)


DailyBudget = Callable[[], tuple[float, float] | None]


def snapshot(services: Container, daily_budget: DailyBudget = alerts.daily_budget) -> page.Snapshot:
    sessions = services.store.sessions
    now = datetime.now(UTC)
    last_runs = queries.last_run_per_stream(sessions)
    known = [name for name in STREAMS if name in last_runs or _configured(services, name)]
    streams = known + sorted(set(last_runs) - set(known))
    return page.Snapshot(
        now=now,
        streams=streams,
        last_runs=last_runs,
        fresh_as_of=queries.last_success_started(sessions),
        runs=queries.recent_runs(sessions, 50),
        failures=queries.failures(sessions),
        outbox=queries.outbox(sessions),
        outbox_counts=queries.outbox_counts(sessions),
        rate_budget=services.settings.rate_budget,
        daily_headers=daily_budget(),
        calls_today=queries.hubspot_calls_since(
            sessions, now.replace(hour=0, minute=0, second=0, microsecond=0)
        ),
        last_calls_run=queries.last_run_with_calls(sessions),
        consent_runs=queries.consent_runs(sessions),
        consent_audit=queries.consent_audit(sessions),
        last_reconcile=queries.last_reconcile(sessions),
        repairs_total=queries.repairs_total(sessions),
        suppressed=queries.suppressed_counts(sessions),
    )


def _configured(services: Container, stream: str) -> bool:
    source = stream.split(".")[0]
    settings = services.settings
    if source == "workways":
        return bool(settings.workways_base_url)
    if source == "workadu":
        return bool(settings.workadu_base_url)
    return False


async def _form(request: Request) -> dict[str, str]:
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        return {}
    fields = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    return {k: v[-1] for k, v in fields.items()}


def ops_routes(
    services: Container, auth: OpsAuth, daily_budget: DailyBudget = alerts.daily_budget
) -> list[BaseRoute]:
    def refused(request: Request, *, html: bool) -> Response:
        if auth.closed:
            text = "OPS_TOKEN is not set: /ops and /metrics are open on a loopback address only"
            if html:
                return HTMLResponse(page.document("syncworker ops", f"<p>{text}</p>"), 403)
            return Response(text + "\n", 403, media_type="text/plain")
        if html:
            return HTMLResponse(page.login_page(), 401)
        return Response(
            "unauthorized\n", 401, {"WWW-Authenticate": "Bearer"}, media_type="text/plain"
        )

    def guarded(
        handler: Callable[[Request, Access], Awaitable[Response]], *, html: bool
    ) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            access = auth.access(request)
            if access is None:
                return refused(request, html=html)
            return await handler(request, access)

        return endpoint

    async def metrics(request: Request, access: Access) -> Response:
        body = await run_in_threadpool(exposition, services.store.sessions)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    async def ops_page(request: Request, access: Access) -> Response:
        snap = await run_in_threadpool(snapshot, services, daily_budget)
        html = page.page(snap, auth.csrf_token(), logout=access is Access.COOKIE)
        return HTMLResponse(html, headers=_no_store())

    async def fragment(request: Request, access: Access) -> Response:
        snap = await run_in_threadpool(snapshot, services, daily_budget)
        return HTMLResponse(page.main_content(snap, auth.csrf_token()), headers=_no_store())

    def release(
        action: Callable[[list[int] | None], int], what: str
    ) -> Callable[[Request, Access], Awaitable[Response]]:
        async def handler(request: Request, access: Access) -> Response:
            form = await _form(request)
            if not auth.csrf_ok(request, access, form.get("csrf")):
                log.warning("ops: %s release refused (CSRF check failed)", what)
                return Response("forbidden: CSRF check failed\n", 403, media_type="text/plain")
            ids: list[int] | None
            if form.get("all") == "1":
                ids = None
            else:
                try:
                    ids = [int(form["id"])]
                except (KeyError, ValueError):
                    return Response("bad request: id\n", 400, media_type="text/plain")
            released = await run_in_threadpool(action, ids)
            log.info("ops: released %d %s(s) from the page", released, what)
            return RedirectResponse(f"/ops#{what}s" if what == "failure" else "/ops#outbox", 303)

        return handler

    async def login_form(request: Request) -> Response:
        if auth.closed:
            return refused(request, html=True)
        if auth.access(request) is not None:
            return RedirectResponse("/ops", 303)
        return HTMLResponse(page.login_page())

    async def login(request: Request) -> Response:
        if auth.closed:
            return refused(request, html=True)
        if request.headers.get("sec-fetch-site") == "cross-site":
            return Response("forbidden\n", 403, media_type="text/plain")
        form = await _form(request)
        if not auth.needs_token:
            return RedirectResponse("/ops", 303)
        if not auth.token_matches(form.get("token", "")):
            log.warning("ops: login refused (wrong token)")
            return HTMLResponse(page.login_page("That is not the ops token."), 401)
        response = RedirectResponse("/ops", 303)
        response.set_cookie(
            COOKIE,
            auth.session_cookie(),
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
            path="/",
        )
        return response

    async def logout(request: Request, access: Access) -> Response:
        form = await _form(request)
        if not auth.csrf_ok(request, access, form.get("csrf")):
            return Response("forbidden: CSRF check failed\n", 403, media_type="text/plain")
        response = RedirectResponse("/ops/login", 303)
        response.delete_cookie(COOKIE, path="/")
        return response

    return [
        Route("/metrics", guarded(metrics, html=False), methods=["GET"]),
        Route("/ops", guarded(ops_page, html=True), methods=["GET"]),
        Route("/ops/fragment", guarded(fragment, html=True), methods=["GET"]),
        Route("/ops/login", login_form, methods=["GET"]),
        Route("/ops/login", login, methods=["POST"]),
        Route("/ops/logout", guarded(logout, html=True), methods=["POST"]),
        Route(
            "/ops/failures/release",
            guarded(release(services.store.failures.release, "failure"), html=True),
            methods=["POST"],
        ),
        Route(
            "/ops/outbox/release",
            guarded(release(services.outbox.release, "intent"), html=True),
            methods=["POST"],
        ),
    ]


def _no_store() -> dict[str, str]:
    return {"Cache-Control": "no-store"}


def probe_routes(services: Container) -> list[BaseRoute]:
    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        try:
            result = await asyncio.wait_for(
                run_in_threadpool(readiness, services.db, services.settings.redis_url),
                READINESS_TIMEOUT_SECONDS,
            )
        except TimeoutError:
            result = Readiness({"database": "no answer in time"})
        if not result.ready:
            log.warning("not ready: %s", ", ".join(result.failing))
        return JSONResponse(result.as_json(), status_code=200 if result.ready else 503)

    return [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
    ]


def ops_app(
    services: Container,
    *,
    host: str,
    receiver: ASGIApp | None = None,
    daily_budget: DailyBudget = alerts.daily_budget,
) -> Starlette:
    """The ops app bound to ``host``; ``receiver``: the webhook receiver, mounted at the root;
    ``daily_budget``: reads HubSpot's last daily-budget headers (``(remaining, limit)``)."""
    auth = OpsAuth(services.settings.ops_token, is_loopback(host))
    if auth.closed:
        log.warning(
            "OPS_TOKEN is not set and %s is not a loopback address: /ops and /metrics refuse "
            "every request",
            host,
        )
    routes = probe_routes(services) + ops_routes(services, auth, daily_budget)
    if receiver is not None:
        routes.append(Mount("", app=CountDeliveries(receiver)))
    return Starlette(routes=routes)
