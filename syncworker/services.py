"""The composition root: builds clients, gateway, store and engine from settings.

The CLI and the Celery tasks both come through here, so they run the same code.
"""

from __future__ import annotations

import hashlib
import itertools
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cached_property
from typing import Any, TypeVar

import redis
from sqlalchemy import Engine

from syncworker.config import Settings
from syncworker.engine.fanout import FanOut, StartedRun
from syncworker.engine.state import Progress, RunResult
from syncworker.engine.sync import SyncEngine
from syncworker.errors import ConfigError, RunInProgressError
from syncworker.hubspot.gateway import HubSpotGateway
from syncworker.hubspot.ratelimit import RedisSlidingWindowLimiter
from syncworker.hubspot.schema import SharedSchemaMemo
from syncworker.locks import StreamLeases, stream_lock
from syncworker.redaction import register_secret
from syncworker.store.database import make_engine, pending_migrations, session_factory
from syncworker.store.snapshots import SnapshotStore
from syncworker.store.units import RunUnits
from syncworker.streams import SOURCES, Stream, select_streams
from syncworker.webhooks.events import WebhookEventStore
from syncworker.workways.client import WorkwaysClient
from syncworker.writeback.conflicts import ConflictResolver
from syncworker.writeback.outbox import Outbox
from syncworker.writeback.service import WRITEBACK_STREAM, WritebackResult, WritebackService


@dataclass
class Services:
    settings: Settings
    skipped: list[str] = field(default_factory=list)  # sources the last sync skipped
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
            # every unit thread may have HUBSPOT_CONCURRENCY batches in flight
            max_connections=self.settings.push_concurrency * self.settings.unit_concurrency + 4,
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
            from syncworker.workadu.client import WorkaduClient  # only when Workadu runs

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

    @cached_property
    def units(self) -> RunUnits:
        ttl = timedelta(seconds=self.settings.lock_ttl_seconds)
        return RunUnits(self.store.sessions, stale_after=ttl)

    @cached_property
    def fanout(self) -> FanOut:
        """Runs split into units of work (one per process: it knows the runs it started)."""
        leases = StreamLeases(self.redis, self.settings.lock_ttl_seconds)
        return FanOut(self.store, self.units, leases, self.engine_for)

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
        )

    def chosen_streams(self, entity: str, source: str = "all") -> tuple[Stream, ...]:
        """The streams of ``entity`` from configured sources (records what was skipped)."""
        sources, self.skipped = self.configured_sources(source)
        return tuple(s for s in select_streams(entity, source) if s.source in sources)

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
        """Run ``streams`` here, in order, each under its cluster-wide lock.

        Streams that split into units run their units on ``SYNC_UNIT_CONCURRENCY``
        threads (interleaved, so one stream's source reads overlap another's
        HubSpot writes); the others run in one piece after them."""
        if isinstance(streams, str):
            chosen = self.chosen_streams(streams, source)
        else:
            chosen, self.skipped = streams, []
        self.check_database()
        try:
            return self._sync(chosen, full, dry_run, trigger, progress)
        finally:
            self.close()

    def _sync(
        self,
        chosen: tuple[Stream, ...],
        full: bool,
        dry_run: bool,
        trigger: str,
        progress: Callable[[Progress], None] | None,
    ) -> list[RunResult]:
        split = [s for s in chosen if s.splits and not dry_run]
        results: dict[str, RunResult] = {}
        in_progress: RunInProgressError | None = None
        started: list[StartedRun] = []
        for stream in split:
            try:
                started.append(self.fanout.start(stream, full=full, trigger=trigger))
            except RunInProgressError as exc:
                in_progress = exc
                break
        for result in self.run_units(started, ProgressTotals(progress) if progress else None):
            results[result.stream] = result
        for run in started:
            if run.stream.name not in results:
                results[run.stream.name] = self.fanout.result_of(run.run_id)
        if in_progress is not None:
            raise in_progress
        for stream in chosen:
            if stream.name not in results:
                results[stream.name] = self._run_whole(stream, full, dry_run, trigger, progress)
        return [results[s.name] for s in chosen]

    def run_units(
        self, started: list[StartedRun], progress: Callable[[Progress], None] | None = None
    ) -> list[RunResult]:
        """Every unit of ``started`` runs, here; the runs they finished."""
        first = [run for run in started if run.first_unit is not None]
        ids = {run.run_id for run in started}
        width = self.settings.unit_concurrency
        alongside = width >= len(first)  # every first unit gets a thread of its own
        finished: list[RunResult] = []
        with ThreadPoolExecutor(width, "unit") as pool:
            futures = [
                pool.submit(run.run_first, self.fanout, progress, keep_going=alongside, runs=ids)
                for run in first
            ]
            futures += [
                pool.submit(self.fanout.run_unit, None, None, progress, runs=ids)
                for _ in range((width - len(first) if alongside else 1) if ids else 0)
            ]
            try:
                for future in futures:
                    finished.extend(future.result())
            except BaseException:
                for future in futures:
                    future.cancel()
                raise
        return finished

    def _run_whole(
        self,
        stream: Stream,
        full: bool,
        dry_run: bool,
        trigger: str,
        progress: Callable[[Progress], None] | None,
    ) -> RunResult:
        """One run of ``stream`` in this process, from first page to last."""
        lock_client = None if dry_run else self.redis
        with stream_lock(lock_client, stream.name, self.settings.lock_ttl_seconds) as lease:

            def on_page(event: Progress, beat: Callable[[], None] = lease.heartbeat) -> None:
                beat()
                if progress:
                    progress(event)

            engine = self.engine_for(stream, dry_run=dry_run)
            engine.progress = on_page
            fence = lease.token
            if fence is not None:
                fence = self.store.next_fence(stream.name, fence)
            return engine.run(stream, full=full, dry_run=dry_run, trigger=trigger, fence=fence)


T = TypeVar("T")


def interleave(groups: Iterable[Iterable[T]]) -> list[T]:
    """Round-robin over ``groups``: [a1, b1, a2, b2, a3, ...]."""
    columns = itertools.zip_longest(*(list(g) for g in groups), fillvalue=_GAP)
    return [item for column in columns for item in column if item is not _GAP]


_GAP: Any = object()


class ProgressTotals:
    """Progress of units running side by side, summed per stream for one printer."""

    def __init__(self, printer: Callable[[Progress], None]) -> None:
        self.printer = printer
        self.lock = threading.Lock()
        self.units: dict[str, dict[int, Counter[str]]] = {}
        self.pages: Counter[str] = Counter()

    def __call__(self, event: Progress) -> None:
        with self.lock:
            self.units.setdefault(event.stream, {})[id(event.counts)] = Counter(event.counts)
            self.pages[event.stream] += 1
            total = sum(self.units[event.stream].values(), Counter[str]())
            self.printer(
                Progress(event.stream, self.pages[event.stream], event.pages, total, event.queued)
            )
