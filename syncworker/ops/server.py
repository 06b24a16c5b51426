"""How ``syncworker serve`` runs uvicorn: bounded, with timeouts, logging through ours.

* ``limit_concurrency``: beyond ``SERVE_LIMIT_CONCURRENCY`` connections and requests
  at once, a request is answered 503 at once instead of queueing;
* a new connection must send its request headers within ``SERVE_READ_TIMEOUT_SECONDS``
  (uvicorn only times out idle keep-alive connections: a client that connects and
  trickles its headers would otherwise hold a connection for ever); the webhook
  receiver bounds the body read by the same number of seconds (webhooks/app.py);
* idle keep-alive connections are closed after ``SERVE_KEEPALIVE_SECONDS``;
* uvicorn's loggers have no handlers of their own: their records go through the
  root handler and its redaction filter (logs.py).
"""

from __future__ import annotations

import asyncio
from typing import Any

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from syncworker.config import Settings
from syncworker.logs import route_server_logs


def header_timeout_protocol(seconds: float) -> type[H11Protocol]:
    """uvicorn's h11 protocol, closing a connection that has not sent a request's
    headers within ``seconds`` of connecting or of its previous response (uvicorn's
    own keep-alive timer stops at the first byte, however slowly the rest comes)."""

    class HeaderTimeoutH11(H11Protocol):
        _headers_timer: asyncio.TimerHandle | None = None

        def _arm(self) -> None:
            self._disarm()
            self._headers_timer = self.loop.call_later(seconds, self._headers_late)

        def _disarm(self) -> None:
            if self._headers_timer is not None:
                self._headers_timer.cancel()
                self._headers_timer = None

        def _headers_late(self) -> None:
            self._headers_timer = None
            if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
                self.transport.close()

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def handle_events(self) -> None:
            super().handle_events()
            if self.conn.their_state is not h11.IDLE:
                self._disarm()  # a request's headers are in

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing():
                self._arm()  # the next request's headers, on a kept-alive connection

    return HeaderTimeoutH11


def server_config(app: Any, host: str, port: int, settings: Settings) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        http=header_timeout_protocol(settings.serve_read_timeout_seconds),
        limit_concurrency=settings.serve_limit_concurrency,
        timeout_keep_alive=settings.serve_keepalive_seconds,
        log_config=None,
        log_level="warning",
        access_log=False,
    )


def run_server(app: Any, host: str, port: int, settings: Settings) -> None:
    config = server_config(app, host, port, settings)
    route_server_logs()
    uvicorn.Server(config).run()
