"""The drift-repair use case (``syncworker reconcile``, the daily beat task, and the
deletion / merge / privacy-deletion webhook events): check, repair the snapshot,
then let a sync of the streams concerned create and link again what people
deleted or unlinked in HubSpot. The CLI and the Celery tasks call this alike."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field

from syncworker.app.container import Container
from syncworker.app.sync import select, sync_streams
from syncworker.engine.reconcile import Reconciler, Report, privacy_ids
from syncworker.engine.state import RunResult
from syncworker.locks import StreamLeases
from syncworker.sources.streams import Stream
from syncworker.store.drift import RECONCILE_STREAM, DriftStore
from syncworker.store.models import WebhookEvent

# The webhook events drift repair handles (the write-back handles the others).
LIFECYCLE_CHANGES = ("deletion", "merge", "restore", "privacyDeletion")
CHECKED_TYPES = ("contacts", "companies")


@dataclass
class ReconcileOutcome:
    report: Report
    run_id: int | None = None
    syncs: list[RunResult] = field(default_factory=list)


def is_lifecycle(event: WebhookEvent) -> bool:
    return event.subscription_type.rsplit(".", 1)[-1] in LIFECYCLE_CHANGES


def event_scope(
    events: Sequence[WebhookEvent],
) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """({object type: ids to check}, {object type: ids deleted for privacy}) of
    stored events; a merge event names its survivor and the merged ids."""
    only: dict[str, set[str]] = {}
    for event in events:
        only.setdefault(event.object_type, set()).add(event.object_id)
        raw = event.raw or {}
        merged = raw.get("mergedObjectIds")
        for other in merged if isinstance(merged, list) else []:
            only[event.object_type].add(str(other))
    privacy = privacy_ids((e.subscription_type, e.object_type, e.object_id) for e in events)
    return only, privacy


def checked_streams(container: Container) -> tuple[Stream, ...]:
    """The configured streams whose records are contacts or companies, parents first."""
    return tuple(s for s in select(container.settings).streams if s.object_type in CHECKED_TYPES)


def reconcile(
    container: Container,
    *,
    dry_run: bool = False,
    trigger: str = "cli",
    events: Sequence[WebhookEvent] | None = None,
) -> ReconcileOutcome:
    """Check the snapshot against HubSpot and repair it (nothing written on a dry
    run); with ``events``, only the objects they name."""
    container.check_database()
    streams = checked_streams(container)
    drift = DriftStore(container.store.sessions)
    gateway = container.hubspot
    only, privacy = event_scope(events) if events is not None else (None, {})
    return run_reconcile(
        Reconciler(drift, gateway, streams),
        StreamLeases(container.redis, container.settings.lock_ttl_seconds),
        lambda again: sync_streams(container, again, trigger="reconcile"),
        dry_run=dry_run,
        trigger=trigger,
        only=only,
        privacy=privacy,
    )


def run_reconcile(
    reconciler: Reconciler,
    leases: StreamLeases,
    resync: Callable[[tuple[Stream, ...]], list[RunResult]],
    *,
    dry_run: bool = False,
    trigger: str = "cli",
    only: Mapping[str, Collection[str]] | None = None,
    privacy: Mapping[str, Collection[str]] | None = None,
) -> ReconcileOutcome:
    """Check; unless a dry run, repair under the ``reconcile`` lock, record the run,
    then ``resync`` the streams the repairs left work for (parents first)."""
    if dry_run:
        return ReconcileOutcome(reconciler.check(only, privacy))
    gateway, drift = reconciler.gateway, reconciler.drift
    calls_before = gateway.total_calls
    with leases.hold(RECONCILE_STREAM):
        report = reconciler.check(only, privacy)
        reconciler.apply(report)
        run_id = drift.record_run(
            trigger,
            report.counts,
            status="finished_with_failures" if report.failed else "succeeded",
            checked=report.checked,
            hubspot_calls=gateway.total_calls - calls_before,
        )
    outcome = ReconcileOutcome(report, run_id)
    again = report.resync_streams()
    if again:
        outcome.syncs = resync(tuple(s for s in reconciler.streams if s in again))
    return outcome


def repair_events(container: Container, events: Sequence[WebhookEvent]) -> ReconcileOutcome | None:
    """The deletion, merge, restore and privacy-deletion events among ``events``,
    repaired as ``reconcile`` would (just their objects); None when there are none."""
    lifecycle = [e for e in events if is_lifecycle(e)]
    if not lifecycle:
        return None
    return reconcile(container, trigger="webhook", events=lifecycle)
