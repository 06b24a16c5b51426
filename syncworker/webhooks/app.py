"""The HubSpot webhook receiver: an ASGI app (Starlette) that stores, then dispatches.

For each ``POST <path>``, in this order:

1. read the raw body, refusing more than 1 MB (413) before reading further, and
   cutting off a client that has not sent it all within ``body_timeout`` (408);
2. verify the v3 signature and its two-sided five-minute window (401);
3. refuse a signature already accepted (401, replay guard);
4. parse and validate the events (400);
5. store the contact and company events in one committed transaction
   (a storage failure is the only 503: HubSpot retries it);
6. ``dispatch(ids)``; if it fails the events stay pending for the sweep (still 200);
7. answer ``200 {"received": N, "stored": M}``.

The signed URI is ``public_url + path + query`` when ``public_url`` is set (the
receiver runs behind a proxy), else the URL the request itself came to. Nothing
here calls HubSpot or Workways, and nothing logs a body, a property value, a
signature or a secret: log lines carry counts and fixed reasons only.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from sqlalchemy.exc import DataError
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from syncworker.config import Secret
from syncworker.errors import ConfigError
from syncworker.webhooks.events import EventFormatError, WebhookEventStore, parse_events
from syncworker.webhooks.replay import ReplayGuard, ReplayStoreError
from syncworker.webhooks.signature import (
    MAX_SKEW_MS,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    SignatureError,
    verify_v3,
)

logger = logging.getLogger("syncworker.webhooks")

DEFAULT_PATH = "/webhooks/hubspot"
MAX_BODY_BYTES = 1_000_000
BODY_TIMEOUT_SECONDS = 10.0  # the whole body, however it trickles in
# A signature is valid while its timestamp is within the window on either side
# of now: remember it for the whole span it could be replayed in.
REPLAY_TTL_SECONDS = 2 * MAX_SKEW_MS // 1000


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


class _BodyTooLarge(Exception):
    pass


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise _BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def _own_uri(request: Request) -> str:
    """The URL this request came to, as sent: scheme, Host header, raw path, query."""
    scope = request.scope
    host = request.headers.get("host")
    if not host:
        server = scope.get("server") or ("localhost", None)
        host = server[0] if server[1] is None else f"{server[0]}:{server[1]}"
    raw_path = scope.get("raw_path")
    path = raw_path.decode("latin-1") if raw_path else scope.get("path", "/")
    query = scope.get("query_string", b"").decode("latin-1")
    return f"{scope.get('scheme', 'http')}://{host}{path}" + (f"?{query}" if query else "")


def build_app(
    *,
    secret: Secret,
    public_url: str | None,
    events: WebhookEventStore,
    dispatch: Callable[[list[int]], None],
    replay: ReplayGuard,
    path: str = DEFAULT_PATH,
    clock_ms: Callable[[], int] = _now_ms,
    max_body_bytes: int = MAX_BODY_BYTES,
    body_timeout: float = BODY_TIMEOUT_SECONDS,
) -> Starlette:
    """The receiver app. ``secret`` is the HubSpot app's client secret."""
    if not secret:
        raise ConfigError("HUBSPOT_CLIENT_SECRET", "is not set")
    if not path.startswith("/"):
        raise ValueError("path must start with '/'")
    public_base = public_url.rstrip("/") if public_url else None

    def signed_uri(request: Request) -> str:
        if public_base is None:
            return _own_uri(request)
        query = request.scope.get("query_string", b"").decode("latin-1")
        return f"{public_base}{path}" + (f"?{query}" if query else "")

    async def receive(request: Request) -> Response:
        # 1. the raw body, bounded
        try:
            body = await asyncio.wait_for(_read_body(request, max_body_bytes), body_timeout)
        except TimeoutError:
            # A body sent byte by byte holds a connection: cut it off.
            logger.warning("webhook refused: body not received within %gs", body_timeout)
            return JSONResponse(
                {"error": "body read timed out"}, status_code=408, headers={"Connection": "close"}
            )
        except _BodyTooLarge:
            logger.warning("webhook refused: body over %d bytes", max_body_bytes)
            return _error(413, "body too large")
        except ClientDisconnect:
            return _error(400, "client disconnected")

        # 2. signature
        try:
            verify_v3(
                method=request.method,
                uri=signed_uri(request),
                body=body,
                timestamp=request.headers.get(TIMESTAMP_HEADER),
                signature=request.headers.get(SIGNATURE_HEADER),
                secret=secret,
                now_ms=clock_ms(),
            )
        except SignatureError as exc:
            logger.warning("webhook refused: %s", exc.reason)
            return _error(401, "invalid signature")
        except Exception as exc:  # noqa: BLE001 - no input may turn into a 5xx
            logger.warning("webhook refused: signature unverifiable (%s)", type(exc).__name__)
            return _error(401, "invalid signature")
        signature = request.headers[SIGNATURE_HEADER]

        # 3. replay
        try:
            fresh = await run_in_threadpool(replay.first_time, signature, REPLAY_TTL_SECONDS)
        except ReplayStoreError as exc:
            logger.warning("webhook deferred: %s", exc)
            return _error(503, "temporarily unavailable")
        except Exception as exc:  # noqa: BLE001 - the guard's store, not the input
            logger.error("webhook deferred: replay guard failed (%s)", type(exc).__name__)
            return _error(503, "temporarily unavailable")
        if not fresh:
            logger.warning("webhook refused: signature already used")
            return _error(401, "invalid signature")

        # 4. parse
        try:
            parsed = parse_events(body)
        except EventFormatError as exc:
            logger.warning("webhook refused: %s", exc)
            return _error(400, f"malformed events: {exc}")
        except Exception as exc:  # noqa: BLE001 - no input may turn into a 5xx
            logger.warning("webhook refused: unparseable (%s)", type(exc).__name__)
            return _error(400, "malformed events")

        # 5. store, committed before answering
        try:
            ids = await run_in_threadpool(events.add, parsed)
        except DataError as exc:  # a value the database refuses: the input's fault
            logger.warning("webhook refused by the database: %s", type(exc.orig).__name__)
            return _error(400, "malformed events: refused by storage")
        except Exception as exc:  # noqa: BLE001 - storage failed: HubSpot retries a 503
            logger.error("webhook not stored: storage unavailable (%s)", type(exc).__name__)
            try:  # the same signed request may come again once storage is back
                await run_in_threadpool(replay.release, signature)
            except Exception as release_exc:  # noqa: BLE001
                logger.warning("replay guard release failed (%s)", type(release_exc).__name__)
            return _error(503, "storage unavailable")

        # 6. dispatch: best effort, the sweep picks up whatever is left pending
        if ids:
            try:
                await run_in_threadpool(dispatch, ids)
            except Exception as exc:  # noqa: BLE001 - stored already; never fail the delivery
                logger.warning(
                    "webhook events %d..%d stored but not dispatched (%s): left for the sweep",
                    ids[0],
                    ids[-1],
                    type(exc).__name__,
                )

        logger.info("webhook accepted: %d events, %d stored", len(parsed), len(ids))
        return JSONResponse({"received": len(parsed), "stored": len(ids)})

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def http_error(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 400
        headers = exc.headers if isinstance(exc, HTTPException) else None
        return JSONResponse({"error": str(status)}, status_code=status, headers=headers)

    return Starlette(
        routes=[
            Route(path, receive, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
        ],
        exception_handlers={HTTPException: http_error},
    )
