"""The write-back use cases: HubSpot edits back to Workways, found by polling or
named by stored webhook events. The CLI and the Celery tasks call these alike."""

from __future__ import annotations

from collections.abc import Iterable

from syncworker.app.container import Container
from syncworker.consent.writeback import ConsentWatch
from syncworker.locks import StreamLeases
from syncworker.writeback.service import WRITEBACK_STREAM, WritebackResult, WritebackService


def write_back(
    container: Container, objects: Iterable[tuple[str, str]] | None = None, trigger: str = "poll"
) -> WritebackResult:
    """Write HubSpot edits back to Workways: ``objects`` given, or found by polling."""
    container.check_database()
    settings = container.settings
    with (
        container.workways() as workways,
        StreamLeases(container.redis, settings.lock_ttl_seconds).hold(WRITEBACK_STREAM),
    ):
        service = WritebackService(
            container.store,
            container.outbox,
            container.hubspot,
            workways,
            max_attempts=settings.max_record_attempts,
            consent=consent_watch(container),
        )
        if objects is None:
            return service.poll(trigger)
        return service.run(objects, trigger)


def consent_watch(container: Container) -> ConsentWatch | None:
    """What the write-back watches of consent (None: HUBSPOT_NEWSLETTER_SUBSCRIPTION unset)."""
    subscription = container.subscription
    if subscription is None:
        return None
    return ConsentWatch(container.hubspot, container.consent_audit, subscription)


def process_events(container: Container, event_ids: list[int]) -> WritebackResult:
    """The objects named by stored webhook events, re-read and written back."""
    events = container.webhook_events.get(event_ids)
    objects = {(e.object_type, e.object_id) for e in events}
    result = write_back(container, objects, trigger="webhook")
    container.webhook_events.mark_processed([e.id for e in events])
    return result
