"""Reads of the database for ``/metrics`` and ``/ops``: runs, failures, the outbox,
consent decisions, drift repairs and suppressed people.

Values come from the database at scrape time, so they are the same whichever
process (worker, CLI, beat) did the work, and they survive restarts.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from syncworker.store.drift import RECONCILE_STREAM, DriftStore
from syncworker.store.models import ConsentEvent, RecordFailure, SyncRun, WritebackIntent

# A run that ended with every record handled (record failures are counted apart).
COMPLETED = ("succeeded", "finished_with_failures")
# What a run did to records, as the runs table counts it.
OUTCOMES = ("created", "updated", "unchanged", "archived", "failed")
FAILURE_STATES = ("retrying", "quarantined")
OUTBOX_STATUSES = ("pending", "done", "superseded", "quarantined")
# Consent decisions a sync run counts (sync_runs.consent_*), by the name shown.
CONSENT_DECISIONS = ("subscribed", "unsubscribed", "conflict")
_CONSENT_COLUMNS = (
    SyncRun.consent_subscribed,
    SyncRun.consent_unsubscribed,
    SyncRun.consent_conflicts,
)
# Buckets of syncworker_run_duration_seconds: a few seconds to a few hours.
DURATION_BUCKETS = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0)


@dataclass(frozen=True)
class DurationHistogram:
    buckets: tuple[tuple[float, int], ...]  # (upper bound, cumulative count); +Inf last
    count: int
    total: float


def last_success(sessions: sessionmaker[Session]) -> dict[str, datetime]:
    """Per stream, when its last completed run finished."""
    with sessions() as session:
        rows = session.execute(
            select(SyncRun.stream, func.max(SyncRun.finished_at))
            .where(SyncRun.status.in_(COMPLETED), SyncRun.finished_at.is_not(None))
            .group_by(SyncRun.stream)
        )
        return {stream: at for stream, at in rows if at is not None}


def last_success_started(sessions: sessionmaker[Session]) -> dict[str, datetime]:
    """Per stream, when its last completed run started: HubSpot reflects the source as of then."""
    with sessions() as session:
        rows = session.execute(
            select(SyncRun.stream, func.max(SyncRun.started_at))
            .where(SyncRun.status.in_(COMPLETED))
            .group_by(SyncRun.stream)
        )
        return {stream: at for stream, at in rows if at is not None}


def run_durations(sessions: sessionmaker[Session]) -> dict[str, DurationHistogram]:
    """Per stream, a histogram of the durations of its finished runs."""
    per_stream: dict[str, list[float]] = defaultdict(list)
    with sessions() as session:
        rows = session.execute(
            select(SyncRun.stream, SyncRun.started_at, SyncRun.finished_at).where(
                SyncRun.finished_at.is_not(None)
            )
        )
        for stream, started, finished in rows:
            if finished is None:
                continue
            per_stream[stream].append(max(0.0, (finished - started).total_seconds()))
    histograms = {}
    for stream, durations in per_stream.items():
        below = [(bound, sum(1 for d in durations if d <= bound)) for bound in DURATION_BUCKETS]
        buckets = (*below, (float("inf"), len(durations)))
        histograms[stream] = DurationHistogram(buckets, len(durations), sum(durations))
    return histograms


def records_by_outcome(sessions: sessionmaker[Session]) -> dict[tuple[str, str], int]:
    """``(stream, outcome) -> records``, summed over every run of the runs table."""
    columns = [getattr(SyncRun, outcome) for outcome in OUTCOMES]
    with sessions() as session:
        rows = session.execute(
            select(SyncRun.stream, *(func.coalesce(func.sum(c), 0) for c in columns)).group_by(
                SyncRun.stream
            )
        )
        return {
            (row[0], outcome): int(row[i + 1]) for row in rows for i, outcome in enumerate(OUTCOMES)
        }


def failure_counts(sessions: sessionmaker[Session]) -> dict[tuple[str, str], int]:
    """``(stream, retrying|quarantined) -> records``."""
    state = RecordFailure.quarantined_at.is_(None)
    with sessions() as session:
        rows = session.execute(
            select(RecordFailure.stream, state, func.count()).group_by(RecordFailure.stream, state)
        )
        counts: dict[tuple[str, str], int] = {}
        for stream, retrying, n in rows:
            counts[(stream, "retrying" if retrying else "quarantined")] = int(n)
        return counts


def outbox_counts(sessions: sessionmaker[Session]) -> dict[str, int]:
    with sessions() as session:
        rows = session.execute(
            select(WritebackIntent.status, func.count()).group_by(WritebackIntent.status)
        )
        return {status: int(n) for status, n in rows}


def oldest_pending(sessions: sessionmaker[Session]) -> datetime | None:
    """When the oldest write-back still pending was written."""
    with sessions() as session:
        return session.scalar(
            select(func.min(WritebackIntent.created_at)).where(WritebackIntent.status == "pending")
        )


def recent_runs(sessions: sessionmaker[Session], limit: int = 50) -> list[SyncRun]:
    with sessions() as session:
        return list(
            session.scalars(select(SyncRun).order_by(SyncRun.started_at.desc()).limit(limit))
        )


def last_run_per_stream(sessions: sessionmaker[Session]) -> dict[str, SyncRun]:
    with sessions() as session:
        newest = (
            select(SyncRun.stream, func.max(SyncRun.id).label("id"))
            .group_by(SyncRun.stream)
            .subquery()
        )
        runs = session.scalars(select(SyncRun).join(newest, SyncRun.id == newest.c.id))
        return {run.stream: run for run in runs}


def failures(sessions: sessionmaker[Session], limit: int = 200) -> list[RecordFailure]:
    with sessions() as session:
        return list(
            session.scalars(
                select(RecordFailure)
                .order_by(RecordFailure.quarantined_at.is_(None), RecordFailure.id)
                .limit(limit)
            )
        )


def outbox(sessions: sessionmaker[Session], limit: int = 100) -> list[WritebackIntent]:
    """Open intents first (pending, quarantined), then the newest others."""
    with sessions() as session:
        open_first = WritebackIntent.status.not_in(("pending", "quarantined"))
        return list(
            session.scalars(
                select(WritebackIntent).order_by(open_first, WritebackIntent.id.desc()).limit(limit)
            )
        )


def consent_runs(sessions: sessionmaker[Session], limit: int = 10) -> list[SyncRun]:
    """The newest runs that made or left alone a consent decision."""
    any_decision = (
        SyncRun.consent_subscribed + SyncRun.consent_unsubscribed + SyncRun.consent_conflicts
    ) > 0
    with sessions() as session:
        return list(
            session.scalars(
                select(SyncRun)
                .where(any_decision)
                .order_by(SyncRun.started_at.desc(), SyncRun.id.desc())
                .limit(limit)
            )
        )


def consent_by_stream(sessions: sessionmaker[Session]) -> dict[tuple[str, str], int]:
    """``(stream, subscribed|unsubscribed|conflict) -> decisions``, summed over every run."""
    with sessions() as session:
        rows = session.execute(
            select(SyncRun.stream, *(func.coalesce(func.sum(c), 0) for c in _CONSENT_COLUMNS))
            .where(SyncRun.stream != RECONCILE_STREAM)
            .group_by(SyncRun.stream)
        )
        return {
            (row[0], decision): int(row[i + 1])
            for row in rows
            for i, decision in enumerate(CONSENT_DECISIONS)
        }


def consent_audit(sessions: sessionmaker[Session]) -> dict[tuple[str, str], int]:
    """``(direction, action) -> events`` of the consent audit (``consent_events``)."""
    with sessions() as session:
        rows = session.execute(
            select(ConsentEvent.direction, ConsentEvent.action, func.count()).group_by(
                ConsentEvent.direction, ConsentEvent.action
            )
        )
        return {(direction, action): int(n) for direction, action, n in rows}


def last_reconcile(sessions: sessionmaker[Session]) -> SyncRun | None:
    """The newest drift-repair run (stream ``reconcile``)."""
    with sessions() as session:
        return session.scalar(
            select(SyncRun)
            .where(SyncRun.stream == RECONCILE_STREAM)
            .order_by(SyncRun.started_at.desc(), SyncRun.id.desc())
            .limit(1)
        )


def repairs_total(sessions: sessionmaker[Session]) -> dict[str, int]:
    """Drift repairs by kind, summed over the ``repairs`` of every reconcile run."""
    totals: dict[str, int] = defaultdict(int)
    with sessions() as session:
        for repairs in session.scalars(
            select(SyncRun.repairs).where(
                SyncRun.stream == RECONCILE_STREAM, SyncRun.repairs.is_not(None)
            )
        ):
            for kind, n in (repairs or {}).items():
                if isinstance(n, int) and not isinstance(n, bool):
                    totals[str(kind)] += n
    return dict(totals)


def suppressed_counts(sessions: sessionmaker[Session]) -> dict[str, int]:
    """Suppressed people by reason (``privacy``, ``merged``), as ``syncworker status`` counts."""
    return dict(DriftStore(sessions).suppressed_counts())


def hubspot_calls_since(sessions: sessionmaker[Session], since: datetime) -> int:
    """HubSpot calls recorded by runs started at or after ``since``."""
    with sessions() as session:
        total = session.scalar(
            select(func.coalesce(func.sum(SyncRun.hubspot_calls), 0)).where(
                SyncRun.started_at >= since
            )
        )
        return int(total or 0)


def last_run_with_calls(sessions: sessionmaker[Session]) -> SyncRun | None:
    """The newest finished run that called HubSpot."""
    with sessions() as session:
        return session.scalar(
            select(SyncRun)
            .where(SyncRun.finished_at.is_not(None), SyncRun.hubspot_calls > 0)
            .order_by(SyncRun.finished_at.desc(), SyncRun.id.desc())
            .limit(1)
        )
