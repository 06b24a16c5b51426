"""Reads and writes of the snapshot store, one short transaction each.

The engine calls these between HubSpot calls; a snapshot row only moves in
:meth:`SnapshotStore.confirm`, after HubSpot confirmed that record.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple, cast

from sqlalchemy import Table, bindparam, delete, func, select
from sqlalchemy.orm import Session, sessionmaker

from syncworker.errors import LeaseLostError
from syncworker.mapping import ARCHIVE_PROPERTIES, content_hash
from syncworker.store.chunks import id_chunks
from syncworker.store.failures import RecordFailures
from syncworker.store.models import RecordFailure, StreamFence, SyncedRecord, SyncRun, utcnow
from syncworker.store.reports import IdentityReports


class Snapshot(NamedTuple):
    """A detached, read-only view of one snapshot row (a tuple: every record of
    every run makes one, and a frozen dataclass costs several times more)."""

    source_id: str
    hubspot_id: str | None
    properties: Mapping[str, str]
    content_hash: str
    associated_to: str | None
    archived: bool
    merged: bool = False  # merged into a contact another source owns
    source_digest: str | None = None  # of the source record HubSpot holds


@dataclass(frozen=True)
class Confirmation:
    """What HubSpot confirmed for one record: the properties it now holds."""

    source_id: str
    hubspot_id: str
    properties: Mapping[str, str]
    replace: bool = False  # HubSpot created it anew: forget older values
    merged: bool = False  # merged into a contact another source owns
    # The digest of the source record these properties came from, when HubSpot now
    # holds all its properties (None: unknown, the next run maps the record again).
    source_digest: str | None = None
    # The properties hold the record's details as just fetched (details_at moves).
    details: bool = False


_RECORDS = cast(Table, SyncedRecord.__table__)
# Every page of every run loads its records' snapshots: a Core statement (table
# columns, no ORM loading), compiled once, with the ids as one expanding parameter.
_LOAD = select(
    _RECORDS.c.source_id,
    _RECORDS.c.hubspot_id,
    _RECORDS.c.properties,
    _RECORDS.c.content_hash,
    _RECORDS.c.associated_to,
    _RECORDS.c.archived,
    _RECORDS.c.merged,
    _RECORDS.c.source_digest,
).where(
    _RECORDS.c.stream == bindparam("stream"),
    _RECORDS.c.source_id.in_(bindparam("ids", expanding=True)),
)
# The records whose source digest is the one given: (id, digest, parent) only.
_CURRENT = select(_RECORDS.c.source_id, _RECORDS.c.source_digest, _RECORDS.c.associated_to).where(
    _RECORDS.c.stream == bindparam("stream"),
    _RECORDS.c.source_id.in_(bindparam("ids", expanding=True)),
    _RECORDS.c.hubspot_id.is_not(None),
    _RECORDS.c.source_digest.is_not(None),
)

# The same for a stream whose records have details: with every row HubSpot holds,
# and when its details were last found as HubSpot holds them.
_CURRENT_AGES = select(
    _RECORDS.c.source_id,
    _RECORDS.c.source_digest,
    _RECORDS.c.associated_to,
    _RECORDS.c.details_at,
).where(
    _RECORDS.c.stream == bindparam("stream"),
    _RECORDS.c.source_id.in_(bindparam("ids", expanding=True)),
    _RECORDS.c.hubspot_id.is_not(None),
)


class SnapshotStore:
    def __init__(self, sessions: sessionmaker[Session], clock: Callable[[], datetime] = utcnow):
        self.sessions = sessions
        self._clock = clock
        self.failures = RecordFailures(sessions, clock)  # records that could not be synced
        self.reports = IdentityReports(sessions, clock)  # clashes reported once

    def now(self) -> datetime:
        """The store's clock (injectable: tests move time without sleeping)."""
        return self._clock()

    # ---------------------------------------------------------------- snapshots
    def load(self, stream: str, source_ids: Collection[str]) -> dict[str, Snapshot]:
        found: dict[str, Snapshot] = {}
        with self.sessions() as session:
            for chunk in id_chunks(source_ids):
                rows = session.execute(_LOAD, {"stream": stream, "ids": chunk})
                for sid, hid, props, digest, parent, archived, merged, source in rows:
                    found[sid] = Snapshot(
                        sid, hid, props or {}, digest, parent, archived, merged, source
                    )
        return found

    def current(self, stream: str, digests: Mapping[str, str]) -> dict[str, str | None]:
        """Of ``digests`` (source id → digest of the record just read), the records
        HubSpot holds as of that very source record, with the parent each is
        associated to: nothing of theirs needs mapping or comparing."""
        found: dict[str, str | None] = {}
        with self.sessions() as session:
            for chunk in id_chunks(digests):
                rows = session.execute(_CURRENT, {"stream": stream, "ids": chunk})
                found.update((sid, parent) for sid, held, parent in rows if digests[sid] == held)
        return found

    def current_and_ages(
        self, stream: str, digests: Mapping[str, str], ids: Collection[str]
    ) -> tuple[dict[str, str | None], dict[str, datetime | None]]:
        """:meth:`current` for ``digests``, and of ``ids`` (a page's records), those
        HubSpot holds with when their details were last found as it holds them (None:
        not known), in one query."""
        current: dict[str, str | None] = {}
        ages: dict[str, datetime | None] = {}
        with self.sessions() as session:
            for chunk in id_chunks(ids):
                rows = session.execute(_CURRENT_AGES, {"stream": stream, "ids": chunk})
                for sid, held, parent, at in rows:
                    ages[sid] = at  # UTC-aware: the column's type converts it
                    if held is not None and digests.get(sid) == held:
                        current[sid] = parent
        return current, ages

    def record_details(
        self, stream: str, hashes: Mapping[str, str], fence: int | None = None
    ) -> None:
        """Note that the details of these records (source id → content hash read) were
        just fetched and found as HubSpot holds them; a row whose properties moved since
        is left alone."""
        rows = [{"b_sid": sid, "b_hash": read} for sid, read in hashes.items()]
        self._note_unmoved(stream, fence, {"details_at": self._clock()}, rows)

    def record_digests(
        self, stream: str, digests: Mapping[str, tuple[str, str]], fence: int | None = None
    ) -> None:
        """Note the source digest of records found unchanged (source id → (digest,
        content hash read)); a row whose properties moved since is left alone."""
        rows = [
            {"b_sid": sid, "b_digest": digest, "b_hash": read}
            for sid, (digest, read) in digests.items()
        ]
        self._note_unmoved(stream, fence, {"source_digest": bindparam("b_digest")}, rows)

    def _note_unmoved(
        self, stream: str, fence: int | None, values: dict[str, Any], rows: list[dict[str, Any]]
    ) -> None:
        """Write ``values`` on the rows (``b_sid``) whose properties are still as read
        (``b_hash``): a row that moved meanwhile is left alone."""
        if not rows:
            return
        with self.sessions.begin() as session:
            self._check_fence(session, stream, fence)
            session.execute(
                _RECORDS.update()
                .where(
                    _RECORDS.c.stream == stream,
                    _RECORDS.c.source_id == bindparam("b_sid"),
                    _RECORDS.c.content_hash == bindparam("b_hash"),
                )
                .values(**values),
                rows,
            )

    def hubspot_ids(self, stream: str, source_ids: Collection[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        with self.sessions() as session:
            for chunk in id_chunks(source_ids):
                rows = session.execute(
                    select(SyncedRecord.source_id, SyncedRecord.hubspot_id).where(
                        SyncedRecord.stream == stream,
                        SyncedRecord.source_id.in_(chunk),
                        SyncedRecord.hubspot_id.is_not(None),
                    )
                )
                found.update({sid: hid for sid, hid in rows if hid})
        return found

    def claim_fence(self, stream: str, token: int) -> None:
        """Start writing as lock holder ``token``; refuse if a newer holder exists."""
        with self.sessions.begin() as session:
            row = session.get(StreamFence, stream, with_for_update=True)
            if row is None:
                session.add(StreamFence(stream=stream, token=token))
            elif row.token > token:
                raise LeaseLostError(f"a newer run of {stream} holds the stream")
            else:
                row.token = token

    def next_fence(self, stream: str, proposed: int) -> int:
        """The fencing token of a holder that has just taken the stream's lock.

        ``proposed`` comes from Redis; if Redis lost its counter (restarted
        empty), the token still goes up: it is at least one more than any token
        the database has seen, so every older holder is refused."""
        with self.sessions.begin() as session:
            row = session.get(StreamFence, stream, with_for_update=True)
            if row is None:
                session.add(StreamFence(stream=stream, token=proposed))
                return proposed
            row.token = max(proposed, row.token + 1)
            return row.token

    def _check_fence(self, session: Session, stream: str, token: int | None) -> None:
        if token is None:
            return
        current = session.scalar(
            select(StreamFence.token).where(StreamFence.stream == stream).with_for_update()
        )
        if current is not None and current > token:
            raise LeaseLostError(
                f"the lock of {stream} expired and a newer run took over; stopping without "
                "writing the snapshot"
            )

    def confirm(
        self,
        stream: str,
        confirmations: Iterable[Confirmation],
        fence: int | None = None,
    ) -> None:
        """Record what HubSpot confirmed, in one transaction (fenced by the lock token)."""
        now = self._clock()
        items = {c.source_id: c for c in confirmations}
        if not items:
            return
        table = cast(Table, SyncedRecord.__table__)
        cols = table.c
        with self.sessions.begin() as session:
            self._check_fence(session, stream, fence)
            rows = {
                sid: (pk, props, merged, details_at)
                for chunk in id_chunks(items)
                for sid, pk, props, merged, details_at in session.execute(
                    select(
                        cols.source_id, cols.id, cols.properties, cols.merged, cols.details_at
                    ).where(cols.stream == stream, cols.source_id.in_(chunk))
                )
            }
            inserts: list[dict[str, object]] = []
            updates: list[dict[str, object]] = []
            for sid, item in items.items():
                row = rows.get(sid)
                old = row[1] if row is not None else None
                merged = (
                    dict(item.properties) if item.replace else {**(old or {}), **item.properties}
                )
                values: dict[str, object] = {
                    "properties": merged,
                    "content_hash": content_hash(merged),
                    "hubspot_id": item.hubspot_id,
                    "archived": any(merged.get(p) == "true" for p in ARCHIVE_PROPERTIES),
                    "last_pushed_at": now,
                    "source_digest": item.source_digest,
                    # (every row of one executemany names the same columns)
                    "details_at": now if item.details else (row[3] if row is not None else None),
                }
                if row is None:
                    values.update(
                        stream=stream,
                        source_id=sid,
                        first_seen_at=now,
                        merged=bool(item.merged),
                    )
                    inserts.append(values)
                else:
                    values["merged"] = bool(row[2] or item.merged)
                    values["_pk"] = row[0]
                    updates.append(values)
            if inserts:
                session.execute(table.insert(), inserts)
            if updates:
                session.execute(
                    table.update().where(cols.id == bindparam("_pk")),
                    updates,
                )
            session.execute(
                delete(RecordFailure).where(
                    RecordFailure.stream == stream, RecordFailure.source_id.in_(list(items))
                )
            )

    def apply_writeback(self, stream: str, source_id: str, values: Mapping[str, str]) -> None:
        """Workways took HubSpot's values: the snapshot holds them now (no echo)."""
        with self.sessions.begin() as session:
            row = session.scalars(
                select(SyncedRecord).where(
                    SyncedRecord.stream == stream, SyncedRecord.source_id == source_id
                )
            ).first()
            if row is not None:
                merged = {**(row.properties or {}), **values}
                row.properties = merged
                row.content_hash = content_hash(merged)
                row.source_digest = None  # the next run compares the record again

    def set_associations(
        self, stream: str, associated: Mapping[str, str | None], fence: int | None = None
    ) -> None:
        with self.sessions.begin() as session:
            self._check_fence(session, stream, fence)
            if not associated:
                return
            table = cast(Table, SyncedRecord.__table__)
            statement = (
                table.update()
                .where(table.c.stream == stream, table.c.source_id == bindparam("b_sid"))
                .values(associated_to=bindparam("b_parent"))
            )
            # one statement, executed for many rows (executemany), not one round trip each
            session.execute(
                statement, [{"b_sid": sid, "b_parent": p} for sid, p in associated.items()]
            )

    def unseen_active(self, stream: str, seen: Collection[str]) -> list[str]:
        """Ids in the snapshot, not flagged archived, that a complete pass did not see."""
        seen_set = set(seen)
        with self.sessions() as session:
            ids = session.scalars(
                select(SyncedRecord.source_id).where(
                    SyncedRecord.stream == stream,
                    SyncedRecord.archived.is_(False),
                    SyncedRecord.suppressed.is_(None),  # never pushed again (reconcile)
                )
            )
            return [sid for sid in ids if sid not in seen_set]

    def active_count(self, stream: str) -> int:
        """How many of the stream's synced records are not flagged archived."""
        with self.sessions() as session:
            return int(
                session.scalar(
                    select(func.count())
                    .select_from(SyncedRecord)
                    .where(SyncedRecord.stream == stream, SyncedRecord.archived.is_(False))
                )
                or 0
            )

    def stats(self) -> dict[str, dict[str, int]]:
        with self.sessions() as session:
            rows = session.execute(
                select(
                    SyncedRecord.stream,
                    func.count(),
                    func.count(SyncedRecord.hubspot_id),
                    func.sum(func.cast(SyncedRecord.archived, type_=SyncRun.seen.type)),
                ).group_by(SyncedRecord.stream)
            )
            return {
                s: {"records": n, "in_hubspot": h, "archived": int(a or 0)} for s, n, h, a in rows
            }

    # --------------------------------------------------------------------- runs
    def recent_runs(self, limit: int = 10, stream: str | None = None) -> list[SyncRun]:
        with self.sessions() as session:
            query = select(SyncRun).order_by(SyncRun.id.desc()).limit(limit)
            if stream:
                query = query.where(SyncRun.stream == stream)
            return list(session.scalars(query))
