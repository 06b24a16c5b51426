"""Issue 20, webhook path end to end: a contact unsubscribes in HubSpot by the e-mail
link, HubSpot's signed event for the per-type property reaches the receiver process,
a Celery worker process reads the status and writes ``set-optin false`` to Workways;
the next sync sends nothing back. Real PostgreSQL, Redis (its own database: 3)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import redis
from syncworker_sandbox.runner import Sandboxes

from syncworker.app.container import Container
from syncworker.app.sync import sync_streams
from syncworker.config import Settings
from syncworker.normalise import Kind, normalise
from tests.checks import hubspot_by_key
from tests.conftest import service_missing
from tests.integration import celery_process, stop, wait_until, worker_args, workers_ready
from tests.test_writeback_worker import deliver, receiver

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CONSENT_BROKER_URL = "redis://127.0.0.1:6379/3"  # this test's own Redis database


@pytest.fixture
def consent_broker() -> Iterator[str]:
    client: redis.Redis[bytes] = redis.Redis.from_url(CONSENT_BROKER_URL)
    try:
        client.ping()
    except redis.RedisError as exc:
        service_missing("Redis at 127.0.0.1:6379", exc)
    client.flushdb()
    yield CONSENT_BROKER_URL
    client.flushdb()
    client.close()


def test_email_link_unsubscribe_reaches_workways_through_receiver_and_worker(
    consent_broker: str, database: str
) -> None:
    with Sandboxes(users=30, orgs=5, seed=23) as boxes:
        env = {
            **boxes.environment(database),
            "REDIS_URL": consent_broker,
            "HUBSPOT_NEWSLETTER_SUBSCRIPTION": "Newsletter",  # id 101 in the sandbox
        }
        services = Container(Settings.from_env(env))
        sync_streams(services, "all", trigger="cli")
        user = next(u for u in boxes.workways.users() if u["newsOptin"] and not u["isUserArchived"])
        email = normalise(Kind.EMAIL, user["email"])
        assert boxes.hubspot.store.consent.status(email, "101") == "SUBSCRIBED"
        contact = hubspot_by_key(boxes, "contacts", "workways_user_id")[user["_id"]]
        boxes.hubspot.store.consent.unsubscribe_by_link(email, "101")

        with celery_process(worker_args("consent1"), env) as worker, receiver(env) as url:
            wait_until(lambda: workers_ready(consent_broker) == 1, 60, "the worker to be ready")
            event = {
                "eventId": 7_001,
                "subscriptionId": 4_102,
                "portalId": 42,
                "appId": 7,
                "occurredAt": int(time.time() * 1000),
                "subscriptionType": "contact.propertyChange",
                "attemptNumber": 0,
                "objectId": int(contact["id"]),
                "propertyName": "hs_email_optout_101",
                "propertyValue": "true",
            }
            answer = deliver(url, [event])
            assert answer.status_code == 200, answer.text
            wait_until(
                lambda: (
                    boxes.workways.get_user(user["_id"])["newsOptin"] is False
                    and services.webhook_events.pending() == []
                ),
                60,
                "the unsubscribe to reach Workways",
            )
            assert worker.poll() is None, stop(worker)

        assert boxes.workways.count(method="POST", path="/api/set-optin") == 1
        (latest, *_) = services.consent_audit.listing(user["_id"])
        assert (latest.direction, latest.action, latest.new_status, latest.trigger) == (
            "to-workways",
            "opted-out",
            "UNSUBSCRIBED",
            "write-back (webhook)",
        )
        # Nothing echoes: the next sync makes no consent call and writes nothing.
        boxes.hubspot.clear_log()
        (users_run,) = [
            r for r in sync_streams(services, "all", trigger="cli") if r.stream == "workways.users"
        ]
        assert boxes.hubspot.count(path_contains="/communication-preferences/") == 0
        assert (users_run.counts["updated"], users_run.counts["consent_unsubscribed"]) == (0, 0)
