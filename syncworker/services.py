"""The composition root: builds clients, gateway, store and engine from settings.

The CLI and the Celery tasks both come through here, so they run the same code.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

import redis
from sqlalchemy import Engine

from syncworker.config import Settings
from syncworker.engine.sync import Progress, RunResult, SyncEngine
from syncworker.errors import ConfigError
from syncworker.hubspot.gateway import HubSpotGateway
from syncworker.hubspot.ratelimit import RedisSlidingWindowLimiter
from syncworker.locks import stream_lock
from syncworker.redaction import register_secret
from syncworker.store.database import make_engine, pending_migrations, session_factory
from syncworker.store.snapshots import SnapshotStore
from syncworker.streams import Stream, select_streams
from syncworker.workways.client import WorkwaysClient


@dataclass
class Services:
    settings: Settings

    def __post_init__(self) -> None:
        for secret in (
            self.settings.workways_api_token,
            self.settings.hubspot_access_token,
            self.settings.hubspot_client_secret,
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
        return WorkwaysClient(base_url, token, timeout=self.settings.http_timeout_seconds)

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

    def check_database(self) -> None:
        if pending_migrations(self.db):
            raise ConfigError(
                "DATABASE_URL", "the database is not migrated; run `syncworker db upgrade`"
            )

    def sync(
        self,
        streams: tuple[Stream, ...] | str = "all",
        *,
        full: bool = False,
        dry_run: bool = False,
        trigger: str = "cli",
        progress: Callable[[Progress], None] | None = None,
    ) -> list[RunResult]:
        """Run ``streams`` in order, each under its cluster-wide lock."""
        chosen = select_streams(streams) if isinstance(streams, str) else streams
        self.check_database()
        gateway = None if dry_run else self.hubspot
        results = []
        with self.workways() as source:
            for stream in chosen:
                lock_client = None if dry_run else self.redis
                ttl = self.settings.lock_ttl_seconds
                with stream_lock(lock_client, stream.name, ttl) as heartbeat:

                    def on_page(event: Progress, beat: Callable[[], None] = heartbeat) -> None:
                        beat()
                        if progress:
                            progress(event)

                    engine = SyncEngine(
                        self.store,
                        source,
                        gateway,
                        max_attempts=self.settings.max_record_attempts,
                        progress=on_page,
                    )
                    results.append(engine.run(stream, full=full, dry_run=dry_run, trigger=trigger))
        return results
