"""``/metrics``: database-backed metrics read at scrape time, plus process counters.

The run, failure and outbox metrics are computed from the database on every
scrape (so they are right whichever process did the work); the request
counters come from :mod:`syncworker.ops.instruments` (summed over every
process's files in multiprocess mode).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import UTC, datetime

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client import multiprocess as prometheus_multiprocess
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import REGISTRY, Collector
from sqlalchemy.orm import Session, sessionmaker

from syncworker.engine.reconcile import KINDS as REPAIR_KINDS
from syncworker.ops import instruments, queries

log = logging.getLogger(__name__)

# Every metric name /metrics exports (Prometheus names, with _total for counters);
# deploy/prometheus/alerts.yml and the Grafana dashboard may use these only.
EXPORTED = (
    "syncworker_run_last_success_timestamp_seconds",
    "syncworker_run_duration_seconds",
    "syncworker_records_total",
    "syncworker_failures",
    "syncworker_writeback_outbox",
    "syncworker_writeback_oldest_pending_age_seconds",
    "syncworker_database_up",
    "syncworker_consent_decisions_total",
    "syncworker_drift_repairs_total",
    "syncworker_suppressed_records",
    "syncworker_hubspot_requests_total",
    "syncworker_hubspot_rate_limited_total",
    "syncworker_hubspot_daily_budget_remaining",
    "syncworker_hubspot_daily_budget_limit",
    "syncworker_webhook_deliveries_total",
    "syncworker_source_requests_total",
)


class DatabaseCollector(Collector):
    """Metrics of the runs table, the failures and the outbox, read when scraped."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.sessions = sessions
        self.clock = clock

    def collect(self) -> Iterable[Metric]:
        up = GaugeMetricFamily(
            "syncworker_database_up", "1 when the last scrape could read the database."
        )
        try:
            metrics = list(self._read())
        except Exception as exc:  # noqa: BLE001 - a scrape reports, never fails
            log.warning("metrics: database unreadable (%s)", type(exc).__name__)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from metrics

    def _read(self) -> Iterable[Metric]:
        sessions = self.sessions
        last = GaugeMetricFamily(
            "syncworker_run_last_success_timestamp_seconds",
            "When the stream's last completed run (succeeded or finished_with_failures) ended.",
            labels=["stream"],
        )
        for stream, at in sorted(queries.last_success(sessions).items()):
            last.add_metric([stream], at.timestamp())
        yield last

        durations = HistogramMetricFamily(
            "syncworker_run_duration_seconds",
            "Duration of finished runs, per stream (from the runs table).",
            labels=["stream"],
        )
        for stream, hist in sorted(queries.run_durations(sessions).items()):
            durations.add_metric(
                [stream],
                [(_bound(b), float(n)) for b, n in hist.buckets],
                sum_value=hist.total,
            )
        yield durations

        records = CounterMetricFamily(
            "syncworker_records",
            "Records handled by runs, per stream and outcome (from the runs table).",
            labels=["stream", "outcome"],
        )
        for (stream, outcome), n in sorted(queries.records_by_outcome(sessions).items()):
            records.add_metric([stream, outcome], n)
        yield records

        failures = GaugeMetricFamily(
            "syncworker_failures",
            "Records that failed to sync, per stream and state (retrying, quarantined).",
            labels=["stream", "state"],
        )
        for (stream, state), n in sorted(queries.failure_counts(sessions).items()):
            failures.add_metric([stream, state], n)
        yield failures

        outbox = GaugeMetricFamily(
            "syncworker_writeback_outbox",
            "Write-back intents (HubSpot to Workways) per status.",
            labels=["status"],
        )
        counts = queries.outbox_counts(sessions)
        for status in queries.OUTBOX_STATUSES:
            outbox.add_metric([status], counts.get(status, 0))
        yield outbox

        oldest = queries.oldest_pending(sessions)
        age = 0.0 if oldest is None else max(0.0, (self.clock() - oldest).total_seconds())
        yield GaugeMetricFamily(
            "syncworker_writeback_oldest_pending_age_seconds",
            "Age of the oldest pending write-back intent (0 when none is pending).",
            value=age,
        )

        consent = CounterMetricFamily(
            "syncworker_consent_decisions",
            "Newsletter consent decisions of sync runs, per stream and decision (subscribed, "
            "unsubscribed, conflict: left alone), from the runs table.",
            labels=["stream", "decision"],
        )
        for (stream, decision), n in sorted(queries.consent_by_stream(sessions).items()):
            consent.add_metric([stream, decision], n)
        yield consent

        repairs = CounterMetricFamily(
            "syncworker_drift_repairs",
            "Drift repairs of reconcile runs, per kind, from the runs table.",
            labels=["kind"],
        )
        totals = queries.repairs_total(sessions)
        for kind in sorted({*REPAIR_KINDS, *totals}):
            repairs.add_metric([kind], totals.get(kind, 0))
        yield repairs

        suppressed = GaugeMetricFamily(
            "syncworker_suppressed_records",
            "Records never pushed again, per reason (privacy: deleted for privacy in HubSpot; "
            "merged: merged into another record's object).",
            labels=["reason"],
        )
        held = queries.suppressed_counts(sessions)
        for reason in sorted({"privacy", "merged", *held}):
            suppressed.add_metric([reason], held.get(reason, 0))
        yield suppressed


def _bound(bound: float) -> str:
    return "+Inf" if bound == float("inf") else repr(bound)


def exposition(sessions: sessionmaker[Session]) -> bytes:
    """The text of ``/metrics``."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DatabaseCollector(sessions))
    directory = instruments.multiprocess_dir()
    if directory:
        prometheus_multiprocess.MultiProcessCollector(registry, path=directory)  # type: ignore[no-untyped-call]
        return generate_latest(registry)
    return generate_latest(registry) + _own_counters()


def _own_counters() -> bytes:
    """This process's request counters (no multiprocess directory configured)."""
    own = CollectorRegistry(auto_describe=False)
    gauges = (instruments.HUBSPOT_DAILY_REMAINING.gauge, instruments.HUBSPOT_DAILY_LIMIT.gauge)
    for metric in (
        instruments.HUBSPOT_REQUESTS,
        instruments.HUBSPOT_RATE_LIMITED,
        instruments.SOURCE_REQUESTS,
        instruments.WEBHOOK_DELIVERIES,
        *(g for g in gauges if g is not None),
    ):
        own.register(_Only(metric))
    return generate_latest(own)


class _Only(Collector):
    def __init__(self, metric: Collector) -> None:
        self.metric = metric

    def collect(self) -> Iterable[Metric]:
        return self.metric.collect()


__all__ = ["EXPORTED", "REGISTRY", "DatabaseCollector", "exposition"]
