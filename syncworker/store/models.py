"""The snapshot store: what HubSpot last confirmed, run history and failures.

Typed SQLAlchemy 2.0 models; the schema itself is owned by the Alembic
migrations in ``migrations/`` (``syncworker db upgrade``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores naive ones)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON(), dict[str, str]: JSON()}


class SyncedRecord(Base):
    """One source record and what HubSpot last confirmed for it."""

    __tablename__ = "synced_records"
    __table_args__ = (
        UniqueConstraint("stream", "source_id", name="uq_synced_records_key"),
        Index(
            "ix_synced_records_suppressed",
            "stream",
            "suppressed",
            postgresql_where=text("suppressed IS NOT NULL"),
            sqlite_where=text("suppressed IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    stream: Mapped[str] = mapped_column(String(64))
    source_id: Mapped[str] = mapped_column(String(64))
    hubspot_id: Mapped[str | None] = mapped_column(String(32))
    properties: Mapped[dict[str, str]] = mapped_column(default=dict)
    content_hash: Mapped[str] = mapped_column(String(64), default="")
    # users: the organization (source id) whose company HubSpot confirms as associated
    associated_to: Mapped[str | None] = mapped_column(String(64))
    archived: Mapped[bool] = mapped_column(default=False)  # flagged workways_archived in HubSpot
    merged: Mapped[bool] = mapped_column(default=False)  # into another source's contact
    # A digest of the source record whose properties HubSpot confirmed (see
    # ObjectMapping.source_digest); None when unknown. Equal digest: nothing to map.
    source_digest: Mapped[str | None] = mapped_column(String(32))
    # When the record's details (an organization's rooms, sites, options: one source
    # call each) were last fetched and found as HubSpot holds them; None: not known.
    # Records whose details are older are refreshed a few per run (engine/details.py).
    details_at: Mapped[datetime | None]
    first_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_pushed_at: Mapped[datetime | None]
    # Never pushed again (see syncworker.engine.reconcile): "privacy" (deleted in
    # HubSpot for privacy) or "merged" (merged in HubSpot into another record's object).
    suppressed: Mapped[str | None] = mapped_column(String(16))


class SyncRun(Base):
    """One run of one stream: when, why, and what it did."""

    __tablename__ = "sync_runs"
    __table_args__ = (
        Index("ix_sync_runs_stream_started", "stream", "started_at"),
        # workers look for the partitions of active runs: without it, every claim scans all
        Index("ix_sync_runs_status", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    stream: Mapped[str] = mapped_column(String(64))
    trigger: Mapped[str] = mapped_column(String(32))  # cli | beat | demo | retry | webhook
    mode: Mapped[str] = mapped_column(String(16))  # incremental | full
    status: Mapped[str] = mapped_column(String(32), default="running")
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
    seen: Mapped[int] = mapped_column(Integer, default=0)
    created: Mapped[int] = mapped_column(Integer, default=0)
    updated: Mapped[int] = mapped_column(Integer, default=0)
    unchanged: Mapped[int] = mapped_column(Integer, default=0)
    archived: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    conflicts: Mapped[int] = mapped_column(Integer, default=0)
    adopted: Mapped[int] = mapped_column(Integer, default=0)  # existing HubSpot records taken
    clashes: Mapped[int] = mapped_column(Integer, default=0)  # sent without a held e-mail
    # newsletter consent decisions (syncworker.consent): HubSpot subscription status
    # written, and conflicts left alone (unsubscribed in HubSpot, opted in in Workways)
    consent_subscribed: Mapped[int] = mapped_column(Integer, default=0)
    consent_unsubscribed: Mapped[int] = mapped_column(Integer, default=0)
    consent_conflicts: Mapped[int] = mapped_column(Integer, default=0)
    # records whose details were fetched again because they were old (not because a
    # listed field changed), and of those, the ones whose details had changed
    details_refreshed: Mapped[int] = mapped_column(Integer, default=0)
    details_changed: Mapped[int] = mapped_column(Integer, default=0)
    hubspot_calls: Mapped[int] = mapped_column(Integer, default=0)
    source_calls: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)  # redacted
    # Runs of a stream, split into partitions (see syncworker/store/partitions.py):
    partitions_total: Mapped[int] = mapped_column(Integer, default=0)
    planned_pages: Mapped[int | None]  # what the first source page announced
    planned_total: Mapped[int | None]
    fence: Mapped[int | None] = mapped_column(BigInteger)  # the stream lock's fencing token
    lease: Mapped[str | None] = mapped_column(String(64))  # the stream lock's value (no secret)
    incomplete: Mapped[bool] = mapped_column(default=False)  # a page was unreadable
    partitions_done_at: Mapped[datetime | None]
    finishing_at: Mapped[datetime | None]
    # work done for the run outside its partitions (reading page 1 to plan them)
    outside_counts: Mapped[dict[str, Any] | None]
    allow_mass_archive: Mapped[bool] = mapped_column(default=False)  # a person confirmed it
    repairs: Mapped[dict[str, Any] | None]  # a reconcile run's repairs, by kind


class RunPartition(Base):
    """A partition of a run: a range of source pages, processed by any worker."""

    __tablename__ = "run_partitions"
    __table_args__ = (UniqueConstraint("run_id", "seq", name="uq_run_partitions_seq"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(Integer, index=True)
    seq: Mapped[int] = mapped_column(Integer)
    first_page: Mapped[int] = mapped_column(Integer)
    last_page: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending|running|done
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    worker: Mapped[str | None] = mapped_column(String(128))  # host:pid of its last claim
    started_at: Mapped[datetime | None]
    heartbeat_at: Mapped[datetime | None]  # its worker was alive then (every page)
    finished_at: Mapped[datetime | None]
    counts: Mapped[dict[str, Any]] = mapped_column(default=dict)
    fingerprints: Mapped[dict[str, Any]] = mapped_column(default=dict)  # page -> record-id digest
    seen: Mapped[list[str] | None] = mapped_column(JSON)  # the source ids its pages held


class RunItem(Base):
    """What a partition hands to its run's finish: changes short of a full batch, and
    parent moves whose parent HubSpot does not hold yet."""

    __tablename__ = "run_items"

    run_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)  # change | move
    source_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)


class RecordFailure(Base):
    """A record that could not be synced: retried on every run, then quarantined."""

    __tablename__ = "record_failures"
    __table_args__ = (UniqueConstraint("stream", "source_id", name="uq_record_failures_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    stream: Mapped[str] = mapped_column(String(64))
    source_id: Mapped[str] = mapped_column(String(64))
    stage: Mapped[str] = mapped_column(String(32))  # source | upsert | associate | archive
    category: Mapped[str | None] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    first_error: Mapped[str] = mapped_column(Text)  # redacted
    last_error: Mapped[str] = mapped_column(Text)  # redacted
    existing_hubspot_id: Mapped[str | None] = mapped_column(String(32))
    first_failed_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_failed_at: Mapped[datetime] = mapped_column(default=utcnow)
    next_retry_at: Mapped[datetime | None]
    quarantined_at: Mapped[datetime | None]
    last_run_id: Mapped[int | None]


class WebhookEvent(Base):
    """One HubSpot webhook event, stored raw as received (after its signature checked)."""

    __tablename__ = "webhook_events"
    __table_args__ = (Index("ix_webhook_events_pending", "processed_at", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    event_id: Mapped[str | None] = mapped_column(String(64))  # not guaranteed unique by HubSpot
    subscription_type: Mapped[str] = mapped_column(String(64))  # "contact.propertyChange"
    object_type: Mapped[str] = mapped_column(String(32))  # "contacts" | "companies"
    object_id: Mapped[str] = mapped_column(String(32))  # HubSpot id
    property_name: Mapped[str | None] = mapped_column(String(128))
    occurred_at: Mapped[int | None] = mapped_column(BigInteger)  # epoch ms, as HubSpot sent it
    raw: Mapped[dict[str, Any]] = mapped_column(default=dict)
    processed_at: Mapped[datetime | None]


class WritebackIntent(Base):
    """The outbox: one HubSpot → Workways change to apply, written before calling Workways."""

    __tablename__ = "writeback_intents"
    __table_args__ = (Index("ix_writeback_intents_open", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    stream: Mapped[str] = mapped_column(String(64))  # "workways.users"
    source_id: Mapped[str] = mapped_column(String(64))
    hubspot_id: Mapped[str] = mapped_column(String(32))
    property: Mapped[str] = mapped_column(String(128))  # HubSpot property
    parameter: Mapped[str] = mapped_column(String(64))  # Workways name: "optin", "rentalEndAt"
    value: Mapped[str] = mapped_column(Text)  # as HubSpot stores it
    status: Mapped[str] = mapped_column(String(16), default="pending")
    # pending | done | superseded | quarantined
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)  # redacted
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    done_at: Mapped[datetime | None]


class Checkpoint(Base):
    """Where a polling stream stopped: HubSpot's last-modified stamp, epoch ms."""

    __tablename__ = "checkpoints"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class TaskDelivery(Base):
    """How many times a Celery task was delivered: stops a poison task looping forever."""

    __tablename__ = "task_deliveries"

    task_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    task_name: Mapped[str] = mapped_column(String(128))
    deliveries: Mapped[int] = mapped_column(Integer, default=1)
    first_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_at: Mapped[datetime] = mapped_column(default=utcnow)
    quarantined_at: Mapped[datetime | None]


class StreamFence(Base):
    """The newest fencing token of a stream's lock: older holders may not write."""

    __tablename__ = "stream_fences"

    stream: Mapped[str] = mapped_column(String(64), primary_key=True)
    token: Mapped[int] = mapped_column(BigInteger)


class ConsentEvent(Base):
    """One consent decision: a change made in HubSpot, one written back to Workways,
    or a conflict left alone. No e-mail address: the record is named by its ids."""

    __tablename__ = "consent_events"
    __table_args__ = (Index("ix_consent_events_source", "stream", "source_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    direction: Mapped[str] = mapped_column(String(16))  # to-hubspot | to-workways | none
    action: Mapped[str] = mapped_column(String(32))  # subscribed | unsubscribed | conflict
    stream: Mapped[str] = mapped_column(String(64))
    source_id: Mapped[str] = mapped_column(String(64))
    hubspot_id: Mapped[str | None] = mapped_column(String(32))
    subscription_id: Mapped[str] = mapped_column(String(32))
    old_status: Mapped[str] = mapped_column(String(16))
    new_status: Mapped[str] = mapped_column(String(16))
    legal_basis: Mapped[str | None] = mapped_column(String(32))
    trigger: Mapped[str] = mapped_column(String(128))  # what caused it (no personal data)
    run_id: Mapped[int | None] = mapped_column(Integer)


class IdentityReport(Base):
    """An identity question reported once: a clash (two records, one e-mail) or an
    ambiguous adoption (several HubSpot objects with a record's name). Ids only."""

    __tablename__ = "identity_reports"
    __table_args__ = (
        UniqueConstraint("stream", "source_id", "kind", "other", name="uq_identity_reports"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    stream: Mapped[str] = mapped_column(String(64))
    source_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))  # clash | ambiguous
    other: Mapped[str] = mapped_column(String(200))  # the other record's id, or HubSpot ids
    reported_at: Mapped[datetime] = mapped_column(default=utcnow)
