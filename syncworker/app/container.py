"""The container: builds the clients, gateway, store and engine from settings.

It only builds and keeps objects (one set per process); what is done with them
is in the use cases beside it (``sync.py``, ``writeback.py``), which the CLI and
the Celery tasks call alike.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cached_property, partial
from typing import Any

import redis
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from syncworker.config import Settings, url_passwords
from syncworker.consent.audit import ConsentAudit
from syncworker.consent.subscription import Subscription, resolve_subscription
from syncworker.consent.sync import ConsentSync
from syncworker.engine.details import DetailRefresh
from syncworker.engine.fanout import FanOut
from syncworker.engine.sync import SyncEngine
from syncworker.errors import ConfigError
from syncworker.hubspot.gateway import HubSpotGateway
from syncworker.hubspot.ratelimit import RedisSlidingWindowLimiter
from syncworker.hubspot.schema import SharedSchemaMemo
from syncworker.locks import StreamLeases
from syncworker.redaction import register_secret
from syncworker.sources.streams import Stream
from syncworker.sources.workways.client import WorkwaysClient
from syncworker.store.database import make_engine, pending_migrations, session_factory
from syncworker.store.partitions import Partitions
from syncworker.store.snapshots import SnapshotStore
from syncworker.webhooks.events import WebhookEventStore
from syncworker.writeback.conflicts import ConflictResolver
from syncworker.writeback.outbox import Outbox


@dataclass
class Container:
    settings: Settings
    _clients: dict[str, Any] = field(default_factory=dict, repr=False)
    _clients_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        for secret in (
            self.settings.workways_api_token,
            self.settings.hubspot_access_token,
            self.settings.hubspot_client_secret,
            self.settings.workadu_api_key,
        ):
            if secret:
                register_secret(secret.reveal())
        for url in (self.settings.database_url, self.settings.redis_url):
            for password in url_passwords(url):
                register_secret(password)

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

    @cached_property
    def schema_memo(self) -> SharedSchemaMemo | None:
        """With Redis, worker processes share which HubSpot schemas they ensured."""
        if self.redis is None:
            return None
        base_url, token = self.settings.require_hubspot()
        account = hashlib.sha256(f"{base_url}\n{token.reveal()}".encode()).hexdigest()[:24]
        return SharedSchemaMemo(self.redis, account)

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
            api_version=self.settings.hubspot_api_version,
            timeout=self.settings.http_timeout_seconds,
            # every partition thread may have HUBSPOT_CONCURRENCY batches in flight
            max_connections=(
                self.settings.push_concurrency * self.settings.partition_concurrency + 4
            ),
        )

    @cached_property
    def outbox(self) -> Outbox:
        return Outbox(self.store.sessions, retry_seconds=self.settings.writeback_retry_seconds)

    @cached_property
    def webhook_events(self) -> WebhookEventStore:
        return WebhookEventStore(self.store.sessions)

    @cached_property
    def subscription(self) -> Subscription | None:
        """The subscription type the newsletter opt-in stands for (None: consent is not
        synced); ConfigError when HubSpot has none or several matching the setting."""
        wanted = self.settings.newsletter_subscription
        return None if wanted is None else resolve_subscription(self.hubspot, wanted)

    @cached_property
    def consent_audit(self) -> ConsentAudit:
        return ConsentAudit(self.store.sessions)

    def consent(self) -> ConsentSync | None:
        subscription = self.subscription
        if subscription is None:
            return None
        return ConsentSync(
            self.hubspot,
            self.store,
            self.outbox,
            self.consent_audit,
            subscription,
            legal_basis=self.settings.consent_legal_basis,
            explanation=self.settings.consent_explanation,
            resubscribe=self.settings.consent_resubscribe,
        )

    def conflicts(self) -> ConflictResolver:
        return ConflictResolver(self.hubspot, self.outbox, self.settings.conflict_policy)

    def check_database(self) -> None:
        if pending_migrations(self.db):
            raise ConfigError(
                "DATABASE_URL", "the database is not migrated; run `syncworker db upgrade`"
            )

    def source_client(self, source: str) -> Any:
        """A client for ``source`` (raises ConfigError naming a missing setting)."""
        timeout = self.settings.http_timeout_seconds
        if source == "workadu":
            from syncworker.sources.workadu.client import WorkaduClient  # only when Workadu runs

            base_url, key = self.settings.require_workadu()
            return WorkaduClient(base_url, key, timeout=timeout)
        return self.workways()

    @cached_property
    def partitions(self) -> Partitions:
        ttl = timedelta(seconds=self.settings.lock_ttl_seconds)
        return Partitions(self.store.sessions, stale_after=ttl)

    @cached_property
    def fanout(self) -> FanOut:
        """Runs over partitions (one per process: it knows the runs it started)."""
        leases = StreamLeases(self.redis, self.settings.lock_ttl_seconds)
        return FanOut(
            self.store,
            self.partitions,
            leases,
            self.engine_for,
            archive_guard_percent=self.settings.archive_guard_percent,
        )

    def dry_run_fanout(self, scratch: sessionmaker[Session]) -> FanOut:
        """Runs that plan only: no lock, their bookkeeping in ``scratch`` (see
        :func:`~syncworker.store.database.scratch_run_tables`)."""
        return FanOut(
            self.store,
            Partitions(scratch),
            StreamLeases(None),
            partial(self.engine_for, dry_run=True),
            dry_run=True,
            archive_guard_percent=self.settings.archive_guard_percent,
        )

    def client_for(self, source: str) -> Any:
        """This process's client of ``source``, kept open for its connection pool."""
        with self._clients_lock:
            if source not in self._clients:
                self._clients[source] = self.source_client(source)
            return self._clients[source]

    def close(self) -> None:
        """Close the source clients (they are opened again when needed)."""
        with self._clients_lock:
            for client in self._clients.values():
                client.close()
            self._clients.clear()

    def engine_for(self, stream: Stream, *, dry_run: bool = False) -> SyncEngine:
        return SyncEngine(
            self.store,
            self.client_for(stream.source),
            None if dry_run else self.hubspot,
            max_attempts=self.settings.max_record_attempts,
            conflicts=None if dry_run else self.conflicts(),
            source_concurrency=self.settings.source_concurrency,
            detail_concurrency=self.settings.detail_concurrency,
            push_concurrency=self.settings.push_concurrency,
            schema_memo=self.schema_memo,
            consent=None if dry_run else self.consent(),
            adopt_by_name=self.settings.adopt_companies_by_name,
            detail_refresh=DetailRefresh(
                every=timedelta(hours=self.settings.detail_refresh_hours),
                interval=timedelta(seconds=self.settings.sync_interval_seconds),
            ),
        )
