"""The receiver app wired to the database and to the workers (or a local thread)."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from starlette.applications import Starlette

from syncworker.app.container import Container
from syncworker.app.writeback import process_events
from syncworker.webhooks.app import build_app
from syncworker.webhooks.replay import MemoryReplayGuard, RedisReplayGuard, ReplayGuard

log = logging.getLogger(__name__)


def receiver_app(services: Container) -> Starlette:
    """With REDIS_URL, events go to the Celery workers; without, to a local thread."""
    settings = services.settings
    secret = settings.require_client_secret()
    services.check_database()
    replay: ReplayGuard
    if settings.redis_url:
        # Short timeouts and no retries: HubSpot gives up on us after 5 seconds.
        client: redis.Redis[bytes] = redis.Redis.from_url(
            settings.redis_url,
            socket_timeout=1,
            socket_connect_timeout=1,
            retry=Retry(NoBackoff(), 0),
        )
        replay = RedisReplayGuard(client)

        def dispatch(ids: list[int]) -> None:
            from syncworker.tasks import process_webhook_events

            process_webhook_events.delay(ids)
    else:
        replay = MemoryReplayGuard()
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="writeback")

        def dispatch(ids: list[int]) -> None:
            future = pool.submit(process_events, services, ids)
            future.add_done_callback(_log_failure)

    return build_app(
        secret=secret,
        public_url=settings.webhook_public_url,
        events=services.webhook_events,
        dispatch=dispatch,
        replay=replay,
        body_timeout=settings.serve_read_timeout_seconds,
    )


def _log_failure(future: object) -> None:
    exc = future.exception()  # type: ignore[attr-defined]
    if exc is not None:
        log.warning(
            "write-back of webhook events failed (%s); the next poll retries", type(exc).__name__
        )
