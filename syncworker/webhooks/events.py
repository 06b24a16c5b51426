"""HubSpot webhook deliveries: parsing, validation and the ``webhook_events`` store.

A delivery is a JSON array of event objects. Every event needs an ``objectId``
and a ``subscriptionType`` (older payloads: ``eventType``) of the form
``<object>.<change>``: ``contact.propertyChange`` from legacy apps and
``legacyCrmObjects`` subscriptions, ``object.propertyChange`` (with an
``objectTypeId``, ``0-1`` for contacts) from developer-platform apps'
``crmObjects`` subscriptions. Contact and company events are stored raw, one row each;
events of other object types (deal, ticket…) are parsed but never stored.
A stored event keeps its ids, type and property name but no value: the value a
property changed to is personal data, and the worker re-reads HubSpot anyway
(:func:`without_values`).
HubSpot promises no order and no uniqueness: every event is stored as received,
duplicates included, and the worker re-reads current state before acting.

Error messages name the event index and the field, never a value.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from syncworker.errors import SyncWorkerError
from syncworker.store.chunks import id_chunks
from syncworker.store.models import WebhookEvent, utcnow

MAX_EVENTS = 1_000  # HubSpot sends at most 100 per delivery
MAX_DEPTH = 16  # HubSpot's events are flat objects

OBJECT_TYPES: Mapping[str, str] = {"contact": "contacts", "company": "companies"}
# Developer-platform apps (``crmObjects`` subscriptions) send ``object.<change>``
# events whose ``objectTypeId`` names the type: 0-1 contacts, 0-2 companies…
OBJECT_TYPE_IDS: Mapping[str, str] = {"0-1": "contacts", "0-2": "companies"}
GENERIC_PREFIX = "object"
_OBJECT_TYPE_ID = re.compile(r"[0-9]{1,4}-[0-9]{1,12}")

_SUBSCRIPTION = re.compile(r"([a-z][a-z_]{0,31})\.([A-Za-z][A-Za-z_]{0,47})")
_DIGITS = re.compile(r"[0-9]{1,32}")
_MAX_OBJECT_ID = 10**20  # HubSpot ids are 64-bit; the column holds 32 characters
_MAX_BIGINT = 2**63 - 1
# Characters PostgreSQL text cannot hold (NUL) or UTF-8 cannot encode (lone surrogates).
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


class EventFormatError(SyncWorkerError):
    """The delivery is not a well-formed array of HubSpot events (answered with 400)."""


@dataclass(frozen=True)
class ParsedEvent:
    """One validated event. ``object_type`` is None for object types not synced."""

    subscription_type: str  # "contact.propertyChange"
    object_type: str | None  # "contacts" | "companies" | None
    object_id: str  # canonical decimal
    event_id: str | None
    occurred_at: int | None  # epoch ms
    property_name: str | None
    property_value: str | None
    change_source: str | None
    source_id: str | None
    attempt_number: int | None
    portal_id: int | None
    app_id: int | None
    subscription_id: int | None
    raw: Mapping[str, Any]  # the event object as received

    @property
    def stored(self) -> bool:
        """True for the object types the worker keeps (contacts, companies)."""
        return self.object_type is not None


# ----------------------------------------------------------------------- parsing


def _reject_constant(name: str) -> Any:
    raise ValueError("non-finite number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError("non-finite number")
    return value


def _check_storable(document: Any) -> None:
    """Depth limit, and no string (key or value) PostgreSQL could not store."""
    stack: list[tuple[Any, int]] = [(document, 0)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, str):
            if _UNSTORABLE.search(value):
                raise EventFormatError("a string holds NUL or an unpaired surrogate")
        elif isinstance(value, list | dict):
            if depth >= MAX_DEPTH:
                raise EventFormatError("the body nests too deeply")
            if isinstance(value, dict):
                stack.extend((key, depth + 1) for key in value)
                stack.extend((item, depth + 1) for item in value.values())
            else:
                stack.extend((item, depth + 1) for item in value)


def _int(value: Any, where: str, *, low: int = 0, high: int = _MAX_BIGINT) -> int | None:
    if value is None:
        return None
    if isinstance(value, str) and _DIGITS.fullmatch(value):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise EventFormatError(f"{where} must be an integer from {low} to {high}")
    return value


def _text(value: Any, where: str, max_length: int | None = None) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise EventFormatError(f"{where} must be a string")
    if max_length is not None and len(value) > max_length:
        raise EventFormatError(f"{where} is longer than {max_length} characters")
    return value


def _scalar_text(value: Any, where: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return json.dumps(value)
    raise EventFormatError(f"{where} must be a string")


def _event(item: Any, index: int) -> ParsedEvent:
    where = f"event {index}"
    if not isinstance(item, dict):
        raise EventFormatError(f"{where} is not an object")
    kind = item.get("subscriptionType")
    if kind is None:
        kind = item.get("eventType")
    if kind is None:
        raise EventFormatError(f"{where}: subscriptionType missing")
    match = _SUBSCRIPTION.fullmatch(kind) if isinstance(kind, str) else None
    if match is None:
        raise EventFormatError(f"{where}: subscriptionType is not <object>.<change>")
    if "objectId" not in item or item["objectId"] is None:
        raise EventFormatError(f"{where}: objectId missing")
    object_id = _int(item["objectId"], f"{where}: objectId", low=1, high=_MAX_OBJECT_ID)
    if match.group(1) == GENERIC_PREFIX:
        type_id = item.get("objectTypeId")
        if not isinstance(type_id, str) or not _OBJECT_TYPE_ID.fullmatch(type_id):
            raise EventFormatError(f"{where}: objectTypeId missing or not <n>-<n>")
        object_type = OBJECT_TYPE_IDS.get(type_id)
    else:
        object_type = OBJECT_TYPES.get(match.group(1))
    event_id = item.get("eventId")
    if isinstance(event_id, int) and not isinstance(event_id, bool):
        event_id = str(event_id)
    return ParsedEvent(
        subscription_type=kind,
        object_type=object_type,
        object_id=str(object_id),
        event_id=_text(event_id, f"{where}: eventId", 64),
        occurred_at=_int(item.get("occurredAt"), f"{where}: occurredAt"),
        property_name=_text(item.get("propertyName"), f"{where}: propertyName", 128),
        property_value=_scalar_text(item.get("propertyValue"), f"{where}: propertyValue"),
        change_source=_text(item.get("changeSource"), f"{where}: changeSource"),
        source_id=_scalar_text(item.get("sourceId"), f"{where}: sourceId"),
        attempt_number=_int(item.get("attemptNumber"), f"{where}: attemptNumber"),
        portal_id=_int(item.get("portalId"), f"{where}: portalId"),
        app_id=_int(item.get("appId"), f"{where}: appId"),
        subscription_id=_int(item.get("subscriptionId"), f"{where}: subscriptionId"),
        raw=item,
    )


def parse_events(body: bytes) -> list[ParsedEvent]:
    """Every event of a delivery, validated; :class:`EventFormatError` if any is malformed."""
    try:
        text = body.decode("utf-8")
        document = json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float)
    except (ValueError, RecursionError):  # UnicodeDecodeError and JSONDecodeError included
        raise EventFormatError("the body is not JSON") from None
    if not isinstance(document, list):
        raise EventFormatError("the body is not a JSON array")
    if len(document) > MAX_EVENTS:
        raise EventFormatError(f"more than {MAX_EVENTS} events")
    _check_storable(document)
    return [_event(item, index) for index, item in enumerate(document)]


# ------------------------------------------------------------------------- store


def is_value_key(key: str) -> bool:
    """Whether a key names a value (``propertyValue``, ``newValue``, ``value``…)."""
    return "value" in key.lower()


def without_values(document: Any) -> Any:
    """``document`` without the keys :func:`is_value_key` names, at any depth.

    What is stored of an event: its ids, type and property name, not what the
    property changed to (personal data the write-back re-reads from HubSpot)."""
    if isinstance(document, dict):
        return {
            key: without_values(item)
            for key, item in document.items()
            if not (isinstance(key, str) and is_value_key(key))
        }
    if isinstance(document, list):
        return [without_values(item) for item in document]
    return document


class WebhookEventStore:
    """The ``webhook_events`` table: one short transaction per call."""

    def __init__(
        self, sessions: sessionmaker[Session], clock: Callable[[], datetime] = utcnow
    ) -> None:
        self._sessions = sessions
        self._clock = clock

    def add(self, events: Iterable[ParsedEvent]) -> list[int]:
        """Store the contact and company events (others are skipped), committed on return.

        Returns the new rows' ids, in the order of ``events``.
        """
        now = self._clock()
        rows = [
            WebhookEvent(
                received_at=now,
                event_id=e.event_id,
                subscription_type=e.subscription_type,
                object_type=e.object_type,
                object_id=e.object_id,
                property_name=e.property_name,
                occurred_at=e.occurred_at,
                raw=without_values(dict(e.raw)),
            )
            for e in events
            if e.object_type is not None
        ]
        if not rows:
            return []
        with self._sessions.begin() as session:
            session.add_all(rows)
            session.flush()
            return [row.id for row in rows]

    def pending(self, limit: int = 500) -> list[WebhookEvent]:
        """The oldest events not processed yet, by id."""
        with self._sessions() as session:
            return list(
                session.scalars(
                    select(WebhookEvent)
                    .where(WebhookEvent.processed_at.is_(None))
                    .order_by(WebhookEvent.id)
                    .limit(limit)
                )
            )

    def get(self, ids: Sequence[int]) -> list[WebhookEvent]:
        """The events with these ids (unknown ids are skipped), by id."""
        found: list[WebhookEvent] = []
        with self._sessions() as session:
            for chunk in id_chunks(set(ids)):
                found.extend(
                    session.scalars(select(WebhookEvent).where(WebhookEvent.id.in_(chunk)))
                )
        return sorted(found, key=lambda row: row.id)

    def mark_processed(self, ids: Collection[int]) -> int:
        """Mark these events processed (already processed ones keep their time)."""
        now = self._clock()
        marked = 0
        with self._sessions.begin() as session:
            for chunk in id_chunks(set(ids)):
                result = session.execute(
                    update(WebhookEvent)
                    .where(WebhookEvent.id.in_(chunk), WebhookEvent.processed_at.is_(None))
                    .values(processed_at=now)
                )
                marked += int(getattr(result, "rowcount", 0) or 0)
        return marked
