"""Write-back end to end: signed webhook → receiver process → Celery worker → Workways."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import httpx
import pytest
import redis
from sqlalchemy import func, select
from syncworker_sandbox import SANDBOX_HUBSPOT_CLIENT_SECRET
from syncworker_sandbox.runner import Sandboxes
from syncworker_sandbox.server import free_port

from syncworker.app.container import Container
from syncworker.app.sync import sync_streams
from syncworker.config import Secret, Settings
from syncworker.locks import StreamLeases
from syncworker.store.models import WebhookEvent
from syncworker.webhooks.signature import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign_v3
from syncworker.writeback.service import WRITEBACK_STREAM
from tests.checks import hubspot_by_key
from tests.integration import (
    celery_process,
    inspect,
    send_task,
    spawn,
    stop,
    wait_until,
    worker_args,
    workers_ready,
)
from tests.test_sync import WRITE_PATHS

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@contextmanager
def receiver(env: dict[str, str]) -> Iterator[str]:
    port = free_port()
    process = spawn(
        [sys.executable, "-m", "syncworker", "webhooks", "serve", "--port", str(port)], env
    )
    url = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        try:
            return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return process.poll() is not None  # died: stop waiting, fail below

    try:
        wait_until(healthy, 30, "the webhook receiver to listen")
        assert process.poll() is None, stop(process)
        yield url
    finally:
        stop(process)


def deliver(url: str, events: list[dict[str, object]]) -> httpx.Response:
    body = json.dumps(events).encode()
    stamp = str(int(time.time() * 1000))
    uri = f"{url}/webhooks/hubspot"
    signature = sign_v3("POST", uri, body, stamp, Secret(SANDBOX_HUBSPOT_CLIENT_SECRET))
    return httpx.post(
        uri,
        content=body,
        timeout=5,
        headers={
            "Content-Type": "application/json",
            SIGNATURE_HEADER: signature,
            TIMESTAMP_HEADER: stamp,
        },
    )


def optin_event(contact_id: str, value: str, event_id: int) -> dict[str, object]:
    return {
        "eventId": event_id,
        "subscriptionId": 1,
        "portalId": 42,
        "appId": 7,
        "occurredAt": int(time.time() * 1000),
        "subscriptionType": "contact.propertyChange",
        "attemptNumber": 0,
        "objectId": int(contact_id),
        "propertyName": "workways_newsletter_optin",
        "propertyValue": value,
        "changeSource": "CRM_UI",
    }


def flip_optin(boxes: Sandboxes, user: dict[str, object]) -> tuple[str, str]:
    contact = hubspot_by_key(boxes, "contacts", "workways_user_id")[str(user["_id"])]
    value = "false" if user["newsOptin"] else "true"
    boxes.hubspot.store.edit_property("contacts", contact["id"], "workways_newsletter_optin", value)
    return contact["id"], value


def test_webhook_to_workways_and_survival_of_an_outage(broker: str, database: str) -> None:
    with Sandboxes(users=60, orgs=8, seed=17) as boxes:
        env = {**boxes.environment(database), "REDIS_URL": broker, "WRITEBACK_RETRY_SECONDS": "1"}
        services = Container(Settings.from_env(env))
        sync_streams(services, "all", trigger="cli")
        users = [u for u in boxes.workways.users() if not u["isUserArchived"]]

        with celery_process(worker_args("wb1"), env) as worker, receiver(env) as url:
            wait_until(lambda: workers_ready(broker) == 1, 60, "the worker to be ready")
            contact_id, value = flip_optin(boxes, users[0])
            assert deliver(url, [optin_event(contact_id, value, 1)]).status_code == 200
            # The event is marked processed once the write-back is complete.
            wait_until(
                lambda: (
                    boxes.workways.get_user(users[0]["_id"])["newsOptin"] is (value == "true")
                    and services.webhook_events.pending() == []
                ),
                30,
                "the opt-in to reach Workways",
            )

            boxes.hubspot.clear_log()
            boxes.workways.clear_log()
            for _ in range(10):
                sync_streams(services, "all", trigger="cli")
            assert (
                sum(boxes.hubspot.count(method="POST", path_contains=p) for p in WRITE_PATHS) == 0
            )
            assert boxes.workways.count(method="POST") == 0

            # Workways goes down during the next write-back; the worker dies too.
            boxes.workways.set_fault(error_rate=1.0, status=503)
            contact_id, value = flip_optin(boxes, users[1])
            assert deliver(url, [optin_event(contact_id, value, 2)]).status_code == 200
            # Killed after the attempt and the release of the write-back lock (a worker
            # killed holding it would block write-backs until the lock expires).
            wait_until(
                lambda: (
                    any(i.attempts >= 1 for i in services.outbox.listing())
                    and services.webhook_events.pending() == []
                ),
                60,
                "a failed write-back attempt",
            )
            stop(worker, sig=9)
        assert boxes.workways.get_user(users[1]["_id"])["newsOptin"] is not (value == "true")
        (intent,) = services.outbox.listing(status="pending")
        assert intent.source_id == users[1]["_id"]

        boxes.workways.set_fault(error_rate=0.0)
        with celery_process(worker_args("wb2"), env):
            send_task(broker, "syncworker.writeback_poll", trigger="beat")
            # The worker marks the intent done once Workways has answered: wait for both.
            wait_until(
                lambda: (
                    boxes.workways.get_user(users[1]["_id"])["newsOptin"] is (value == "true")
                    and services.outbox.listing(status="pending") == []
                ),
                60,
                "the intent to land after the restart",
            )
        done = [i.source_id for i in services.outbox.listing(status="done")]
        assert users[1]["_id"] in done
        services.db.dispose()


def scheduled_tasks(broker: str) -> list[str]:
    """Names of the tasks the workers hold for later (a retry's countdown)."""
    by_worker = inspect(broker, "scheduled")
    return [entry["request"]["name"] for entries in by_worker.values() for entry in entries]


def test_a_delivery_finding_the_write_back_lock_taken_is_tried_again_shortly(
    broker: str, database: str
) -> None:
    """No poll runs here (no beat): only the delivery's own retry can write it back."""
    with Sandboxes(users=20, orgs=4, seed=23) as boxes:
        env = {**boxes.environment(database), "REDIS_URL": broker}
        services = Container(Settings.from_env(env))
        sync_streams(services, "all", trigger="cli")
        user = next(u for u in boxes.workways.users() if not u["isUserArchived"])
        # Another write-back pass holds the lock (as a concurrent delivery would).
        leases = StreamLeases(redis.Redis.from_url(broker))
        lease = leases.acquire(WRITEBACK_STREAM)
        with celery_process(worker_args("busy1"), env), receiver(env) as url:
            wait_until(lambda: workers_ready(broker) == 1, 60, "the worker to be ready")
            contact_id, value = flip_optin(boxes, user)
            assert deliver(url, [optin_event(contact_id, value, 1)]).status_code == 200
            wait_until(
                lambda: "syncworker.process_webhook_events" in scheduled_tasks(broker),
                30,
                "the delivery to find the lock taken and be queued again",
            )
            assert boxes.workways.get_user(user["_id"])["newsOptin"] is not (value == "true")
            assert len(services.webhook_events.pending()) == 1
            leases.release(WRITEBACK_STREAM, lease.value)
            wait_until(
                lambda: (
                    boxes.workways.get_user(user["_id"])["newsOptin"] is (value == "true")
                    and services.webhook_events.pending() == []
                ),
                30,
                "the retried delivery to write the opt-in back",
            )
        services.db.dispose()


DELIVERIES, EVENTS_EACH = 200, 100


def test_200_concurrent_deliveries_of_100_events_are_all_stored_and_written_back_once(
    broker: str, database: str
) -> None:
    """Issue 19, point 3: 200 signed deliveries of 100 events each, sent 25 at a time to
    a real receiver, handled by two worker processes that contend for the write-back
    lock. Every event is stored and processed, and every opt-in flipped in HubSpot
    reaches Workways with one `set-optin` call, however many events name it."""
    with Sandboxes(users=300, orgs=10, seed=29) as boxes:
        env = {**boxes.environment(database), "REDIS_URL": broker}
        services = Container(Settings.from_env(env))
        sync_streams(services, "all", trigger="cli")
        contacts = hubspot_by_key(boxes, "contacts", "workways_user_id")
        users = [u for u in boxes.workways.users() if str(u["_id"]) in contacts]
        assert len(users) > 200
        flipped = {str(u["_id"]): flip_optin(boxes, u) for u in users}
        ids = [contact_id for contact_id, _ in flipped.values()]
        boxes.workways.clear_log()

        def send(k: int) -> int:
            batch = [
                optin_event(ids[(k * EVENTS_EACH + i) % len(ids)], "true", k * EVENTS_EACH + i + 1)
                for i in range(EVENTS_EACH)
            ]
            return deliver(url, batch).status_code

        with (
            celery_process(worker_args("many1", concurrency=2), env),
            receiver(env) as url,
        ):
            wait_until(lambda: workers_ready(broker) == 1, 60, "the worker to be ready")
            with ThreadPoolExecutor(25) as pool:
                answers = list(pool.map(send, range(DELIVERIES)))
            assert answers == [200] * DELIVERIES

            def landed() -> bool:
                now = {str(u["_id"]): u["newsOptin"] for u in boxes.workways.users()}
                return services.webhook_events.pending() == [] and all(
                    now[uid] is (value == "true") for uid, (_, value) in flipped.items()
                )

            wait_until(landed, 240, "every event processed and every opt-in in Workways")
        with services.store.sessions() as session:
            stored = session.scalar(select(func.count()).select_from(WebhookEvent))
        assert stored == DELIVERIES * EVENTS_EACH
        assert boxes.workways.count(method="POST", path="/api/set-optin") == len(flipped)
        services.db.dispose()
