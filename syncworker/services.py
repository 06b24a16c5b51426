"""The composition root: builds clients, gateway, store and engine from settings.

The CLI and the Celery tasks both come through here, so they run the same code.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import redis
from sqlalchemy import Engine

from syncworker.config import Settings
from syncworker.engine.state import Progress, RunResult
from syncworker.engine.sync import SyncEngine
from syncworker.errors import ConfigError
from syncworker.hubspot.gateway import HubSpotGateway
from syncworker.hubspot.ratelimit import RedisSlidingWindowLimiter
from syncworker.locks import stream_lock
from syncworker.redaction import register_secret
from syncworker.store.database import make_engine, pending_migrations, session_factory
from syncworker.store.snapshots import SnapshotStore
from syncworker.streams import SOURCES, Stream, select_streams
from syncworker.webhooks.events import WebhookEventStore
from syncworker.workadu.client import WorkaduClient
from syncworker.workways.client import WorkwaysClient
from syncworker.writeback.conflicts import ConflictResolver
from syncworker.writeback.outbox import Outbox
from syncworker.writeback.service import WRITEBACK_STREAM, WritebackResult, WritebackService


@dataclass
class Services:
    settings: Settings
    skipped: list[str] = field(default_factory=list)  # sources the last sync skipped

    def __post_init__(self) -> None:
        for secret in (
            self.settings.workways_api_token,
            self.settings.hubspot_access_token,
            self.settings.hubspot_client_secret,
            self.settings.workadu_api_key,
        ):
            if secret:
                register_secret(secret.reveal())

    @cached_property
    def db(self) -> Engine:
        return make_engine(self.settings.database_url)

    @cached_property
    def store(self) -> SnapshotStore:
        return SnapshotStore(session_factory(self.db))

    @cached_property
    def redis(self) -> redis.Redis[bytes] | None:
        url = self.settings.redis_url
        return (
            redis.Redis.from_url(url, socket_timeout=10, socket_connect_timeout=5) if url else None
        )

    def workways(self) -> WorkwaysClient:
        base_url, token = self.settings.require_workways()
        return WorkwaysClient(
            base_url,
            token,
            timeout=self.settings.http_timeout_seconds,
            page_concurrency=self.settings.source_concurrency,
        )

    @cached_property
    def hubspot(self) -> HubSpotGateway:
        """One gateway per process: it keeps its connection pools and rate window."""
        return self.gateway()

    def gateway(self) -> HubSpotGateway:
        base_url, token = self.settings.require_hubspot()
        budget = self.settings.rate_budget
        limiter = None
        if self.redis is not None:
            limiter = RedisSlidingWindowLimiter(
                self.redis, budget.per_window, budget.window_seconds
            )
        return HubSpotGateway(
            base_url,
            token,
            limiter=limiter,
            budget=budget,
            timeout=self.settings.http_timeout_seconds,
        )

    @cached_property
    def outbox(self) -> Outbox:
        return Outbox(self.store.sessions, retry_seconds=self.settings.writeback_retry_seconds)

    @cached_property
    def webhook_events(self) -> WebhookEventStore:
        return WebhookEventStore(self.store.sessions)

    def conflicts(self) -> ConflictResolver:
        return ConflictResolver(self.hubspot, self.outbox, self.settings.conflict_policy)

    def writeback(
        self, objects: Iterable[tuple[str, str]] | None = None, trigger: str = "poll"
    ) -> WritebackResult:
        """Write HubSpot edits back to Workways: ``objects`` given, or found by polling."""
        self.check_database()
        with (
            self.workways() as workways,
            stream_lock(self.redis, WRITEBACK_STREAM, self.settings.lock_ttl_seconds),
        ):
            service = WritebackService(
                self.store,
                self.outbox,
                self.hubspot,
                workways,
                max_attempts=self.settings.max_record_attempts,
            )
            if objects is None:
                return service.poll(trigger)
            return service.run(objects, trigger)

    def process_webhook_events(self, event_ids: list[int]) -> WritebackResult:
        """The objects named by stored webhook events, re-read and written back."""
        events = self.webhook_events.get(event_ids)
        objects = {(e.object_type, e.object_id) for e in events}
        result = self.writeback(objects, trigger="webhook")
        self.webhook_events.mark_processed([e.id for e in events])
        return result

    def check_database(self) -> None:
        if pending_migrations(self.db):
            raise ConfigError(
                "DATABASE_URL", "the database is not migrated; run `syncworker db upgrade`"
            )

    def source_client(self, source: str) -> Any:
        """A client for ``source`` (raises ConfigError naming a missing setting)."""
        timeout = self.settings.http_timeout_seconds
        if source == "workadu":
            base_url, key = self.settings.require_workadu()
            return WorkaduClient(base_url, key, timeout=timeout)
        return self.workways()

    def configured_sources(self, wanted: str = "all") -> tuple[list[str], list[str]]:
        """(sources to run, one line per configured-out source skipped)."""
        names = list(SOURCES) if wanted == "all" else [wanted]
        run, skipped, errors = [], [], []
        for name in names:
            try:
                (
                    self.settings.require_workadu
                    if name == "workadu"
                    else self.settings.require_workways
                )()
            except ConfigError as exc:
                if wanted != "all":
                    raise
                skipped.append(f"{name}: skipped, not configured ({exc.variable} is not set)")
                errors.append(exc)
                continue
            run.append(name)
        if not run:
            raise errors[0]  # nothing to sync: say what the first source lacks
        return run, skipped

    def sync(
        self,
        streams: tuple[Stream, ...] | str = "all",
        *,
        source: str = "all",
        full: bool = False,
        dry_run: bool = False,
        trigger: str = "cli",
        progress: Callable[[Progress], None] | None = None,
    ) -> list[RunResult]:
        """Run ``streams`` in order, each under its cluster-wide lock."""
        if isinstance(streams, str):
            sources, self.skipped = self.configured_sources(source)
            chosen = tuple(s for s in select_streams(streams, source) if s.source in sources)
        else:
            chosen, self.skipped = streams, []
        self.check_database()
        gateway = None if dry_run else self.hubspot
        results = []
        with contextlib.ExitStack() as stack:
            clients: dict[str, Any] = {}
            for stream in chosen:
                if stream.source not in clients:
                    clients[stream.source] = stack.enter_context(self.source_client(stream.source))
                lock_client = None if dry_run else self.redis
                ttl = self.settings.lock_ttl_seconds
                with stream_lock(lock_client, stream.name, ttl) as lease:

                    def on_page(
                        event: Progress, beat: Callable[[], None] = lease.heartbeat
                    ) -> None:
                        beat()
                        if progress:
                            progress(event)

                    engine = SyncEngine(
                        self.store,
                        clients[stream.source],
                        gateway,
                        max_attempts=self.settings.max_record_attempts,
                        progress=on_page,
                        conflicts=None if dry_run else self.conflicts(),
                        source_concurrency=self.settings.source_concurrency,
                        push_concurrency=self.settings.push_concurrency,
                    )
                    results.append(
                        engine.run(
                            stream, full=full, dry_run=dry_run, trigger=trigger, fence=lease.token
                        )
                    )
        return results
