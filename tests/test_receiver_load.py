"""The webhook receiver under abuse, on a real ``syncworker serve`` process (issue
19, point 3). Loopback only; counts and durations bounded. Its load (200 concurrent
deliveries of 100 events, handled by Celery workers) is tested end to end in
``test_writeback_worker.py``."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from sqlalchemy import func, select
from syncworker_sandbox.runner import Sandboxes

from syncworker.config import Secret
from syncworker.logs import configure
from syncworker.store.database import make_engine, session_factory
from syncworker.store.models import WebhookEvent
from syncworker.webhooks import sign_v3
from syncworker.webhooks.signature import SIGNATURE_HEADER, TIMESTAMP_HEADER
from tests.conftest import fresh_database
from tests.integration import wait_until
from tests.opsproc import serve_process

SLOW_CLIENTS = 50  # issue 19: 50 slow clients


@dataclass
class Served:
    base: str
    secret: Secret
    database_url: str

    def stored(self) -> list[WebhookEvent]:
        engine = make_engine(self.database_url)
        try:
            with session_factory(engine)() as session:
                return list(session.scalars(select(WebhookEvent)))
        finally:
            engine.dispose()

    def count(self) -> int:
        engine = make_engine(self.database_url)
        try:
            with session_factory(engine)() as session:
                return int(session.scalar(select(func.count()).select_from(WebhookEvent)) or 0)
        finally:
            engine.dispose()

    def post(self, client: httpx.Client, items: list[dict[str, Any]]) -> httpx.Response:
        body = json.dumps(items).encode()
        now = time.time_ns() // 1_000_000
        uri = f"{self.base}/webhooks/hubspot"
        headers = {
            SIGNATURE_HEADER: sign_v3("POST", uri, body, now, self.secret),
            TIMESTAMP_HEADER: str(now),
            "content-type": "application/json",
        }
        return client.post(uri, content=body, headers=headers)


def events(first: int, n: int) -> list[dict[str, Any]]:
    now = time.time_ns() // 1_000_000
    return [
        {
            "eventId": first + i,
            "subscriptionId": 7,
            "portalId": 62515,
            "occurredAt": now - 1_000,
            "subscriptionType": "contact.propertyChange",
            "attemptNumber": 0,
            "objectId": 900_000 + first + i,
            "propertyName": "workways_newsletter_optin",
            "propertyValue": "true",
        }
        for i in range(n)
    ]


@pytest.fixture
def served() -> Iterator[Served]:
    with (
        fresh_database("syncworker_recv_load") as url,
        Sandboxes(users=10, orgs=3, seed=3) as boxes,
    ):
        env = {**boxes.environment(url), "SERVE_READ_TIMEOUT_SECONDS": "1"}
        secret = Secret(env["HUBSPOT_CLIENT_SECRET"])
        saved = os.environ.pop("REDIS_URL", None)  # events go to the local thread
        try:
            with serve_process(env) as base:
                yield Served(base, secret, url)
        finally:
            if saved is not None:
                os.environ["REDIS_URL"] = saved


def closed_by_server(sock: socket.socket) -> bool:
    """True once the server has closed (or answered and closed) this connection."""
    try:
        data = sock.recv(4096)
    except BlockingIOError:
        return False
    except OSError:
        return True
    if not data:
        return True
    return b"408" in data.split(b"\r\n", 1)[0] or closed_by_server(sock)


def test_slow_clients_do_not_stop_a_signed_delivery_and_are_cut_off(served: Served) -> None:
    host, port = urlsplit(served.base).hostname, urlsplit(served.base).port
    assert host == "127.0.0.1" and port is not None
    body_trickles, header_trickles = [], []
    for _ in range(SLOW_CLIENTS):
        s = socket.create_connection((host, port), timeout=5)
        s.sendall(
            b"POST /webhooks/hubspot HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 1000\r\n\r\n["
        )
        body_trickles.append(s)
    for _ in range(5):
        s = socket.create_connection((host, port), timeout=5)
        s.sendall(b"POST /webhooks/hub")
        header_trickles.append(s)
    slow = body_trickles + header_trickles
    stop = threading.Event()

    def trickle() -> None:  # one byte per connection at a time, 10 s at most
        deadline = time.monotonic() + 10
        while not stop.is_set() and time.monotonic() < deadline:
            for s in slow:
                with contextlib.suppress(OSError):
                    s.send(b" ")
            stop.wait(0.1)

    sender = threading.Thread(target=trickle, daemon=True)
    sender.start()
    try:
        with httpx.Client(timeout=10) as client:
            answer = served.post(client, events(1, 1))
        assert answer.status_code == 200 and answer.json() == {"received": 1, "stored": 1}

        def processed() -> bool:
            rows = served.stored()
            return len(rows) == 1 and rows[0].processed_at is not None

        wait_until(processed, 30, "the signed delivery to be processed")
        for s in slow:
            s.setblocking(False)
        cut: set[int] = set()

        def all_cut() -> bool:
            cut.update(i for i, s in enumerate(slow) if i not in cut and closed_by_server(s))
            return len(cut) == len(slow)

        try:
            wait_until(all_cut, 20, "slow clients cut off")
        except AssertionError:
            raise AssertionError(f"still open: {sorted(set(range(len(slow))) - cut)}") from None
    finally:
        stop.set()
        sender.join(timeout=5)
        for s in slow:
            s.close()
    assert served.count() == 1  # nothing half-sent was stored


def test_uvicorn_logs_go_through_the_redacting_handler() -> None:
    own = logging.StreamHandler(io.StringIO())
    server_log = logging.getLogger("uvicorn.error")
    server_log.addHandler(own)
    server_log.propagate = False
    out = io.StringIO()
    root = logging.getLogger()
    before = list(root.handlers), root.level
    try:
        configure("INFO", "text", stream=out)
        assert server_log.handlers == [] and server_log.propagate
        server_log.warning("connecting to redis://:hunter2pass@127.0.0.1:6379/0")
        assert "uvicorn.error" in out.getvalue()
        assert "hunter2pass" not in out.getvalue()
    finally:
        root.handlers[:] = before[0]
        root.setLevel(before[1])
