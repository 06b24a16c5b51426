"""Reads and writes of the snapshot store, one short transaction each.

The engine calls these between HubSpot calls; a snapshot row only moves in
:meth:`SnapshotStore.confirm`, after HubSpot confirmed that record.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import Table, bindparam, delete, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from syncworker.errors import LeaseLostError
from syncworker.mapping import content_hash
from syncworker.redaction import redact
from syncworker.store.models import RecordFailure, StreamFence, SyncedRecord, SyncRun, utcnow

LOOKUP_CHUNK = 500  # ids per IN (...) query


def id_chunks(ids: Collection[str]) -> Iterator[list[str]]:
    items = list(ids)
    for start in range(0, len(items), LOOKUP_CHUNK):
        yield items[start : start + LOOKUP_CHUNK]


@dataclass(frozen=True)
class Snapshot:
    """A detached, read-only view of one snapshot row."""

    source_id: str
    hubspot_id: str | None
    properties: Mapping[str, str]
    content_hash: str
    associated_to: str | None
    archived: bool
    merged: bool = False  # merged into a contact another source owns


@dataclass(frozen=True)
class Confirmation:
    """What HubSpot confirmed for one record: the properties it now holds."""

    source_id: str
    hubspot_id: str
    properties: Mapping[str, str]
    replace: bool = False  # HubSpot created it anew: forget older values
    merged: bool = False  # merged into a contact another source owns


class SnapshotStore:
    def __init__(self, sessions: sessionmaker[Session], clock: Callable[[], datetime] = utcnow):
        self.sessions = sessions
        self._clock = clock

    # ---------------------------------------------------------------- snapshots
    def load(self, stream: str, source_ids: Collection[str]) -> dict[str, Snapshot]:
        found: dict[str, Snapshot] = {}
        with self.sessions() as session:
            for chunk in id_chunks(source_ids):
                rows = session.execute(  # plain columns: no ORM identity map to build
                    select(
                        SyncedRecord.source_id,
                        SyncedRecord.hubspot_id,
                        SyncedRecord.properties,
                        SyncedRecord.content_hash,
                        SyncedRecord.associated_to,
                        SyncedRecord.archived,
                        SyncedRecord.merged,
                    ).where(SyncedRecord.stream == stream, SyncedRecord.source_id.in_(chunk))
                )
                for sid, hid, props, digest, parent, archived, merged in rows:
                    found[sid] = Snapshot(sid, hid, props or {}, digest, parent, archived, merged)
        return found

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
        seen_run: int | None = None,
    ) -> None:
        """Record what HubSpot confirmed, in one transaction (fenced by the lock token);
        new rows count as seen by run ``seen_run``."""
        now = self._clock()
        items = {c.source_id: c for c in confirmations}
        if not items:
            return
        table = cast(Table, SyncedRecord.__table__)
        cols = table.c
        with self.sessions.begin() as session:
            self._check_fence(session, stream, fence)
            rows = {
                sid: (pk, props, merged)
                for chunk in id_chunks(items)
                for sid, pk, props, merged in session.execute(
                    select(cols.source_id, cols.id, cols.properties, cols.merged).where(
                        cols.stream == stream, cols.source_id.in_(chunk)
                    )
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
                    "archived": merged.get("workways_archived") == "true",
                    "last_pushed_at": now,
                }
                if row is None:
                    values.update(
                        stream=stream,
                        source_id=sid,
                        first_seen_at=now,
                        last_seen_at=now,
                        last_seen_run=seen_run,
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

    def mark_seen(
        self, stream: str, source_ids: Collection[str], run_id: int | None = None
    ) -> None:
        now = self._clock()
        values: dict[str, object] = {"last_seen_at": now}
        if run_id is not None:
            values["last_seen_run"] = run_id
        with self.sessions.begin() as session:
            for chunk in id_chunks(source_ids):
                session.execute(
                    update(SyncedRecord)
                    .where(SyncedRecord.stream == stream, SyncedRecord.source_id.in_(chunk))
                    .values(values)
                    .execution_options(synchronize_session=False)
                )

    def unseen_in_run(self, stream: str, run_id: int) -> list[str]:
        """Ids in the snapshot, not flagged archived, that run ``run_id`` did not see."""
        with self.sessions() as session:
            return list(
                session.scalars(
                    select(SyncedRecord.source_id).where(
                        SyncedRecord.stream == stream,
                        SyncedRecord.archived.is_(False),
                        (SyncedRecord.last_seen_run.is_(None))
                        | (SyncedRecord.last_seen_run != run_id),
                    )
                )
            )

    def unseen_active(self, stream: str, seen: Collection[str]) -> list[str]:
        """Ids in the snapshot, not flagged archived, that a complete pass did not see."""
        seen_set = set(seen)
        with self.sessions() as session:
            ids = session.scalars(
                select(SyncedRecord.source_id).where(
                    SyncedRecord.stream == stream, SyncedRecord.archived.is_(False)
                )
            )
            return [sid for sid in ids if sid not in seen_set]

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
    def start_run(self, stream: str, trigger: str, mode: str) -> int:
        """Open a run; earlier runs of the stream still marked running died unfinished."""
        with self.sessions.begin() as session:
            session.execute(
                update(SyncRun)
                .where(SyncRun.stream == stream, SyncRun.status == "running")
                .values(status="interrupted", finished_at=self._clock())
            )
            run = SyncRun(
                stream=stream,
                trigger=trigger,
                mode=mode,
                status="running",
                started_at=self._clock(),
            )
            session.add(run)
            session.flush()
            return run.id

    def finish_run(
        self, run_id: int, status: str, counts: Mapping[str, int], error: str | None = None
    ) -> None:
        with self.sessions.begin() as session:
            run = session.get_one(SyncRun, run_id)
            run.status = status
            run.finished_at = self._clock()
            run.error = redact(error) if error else None
            for name, value in counts.items():
                setattr(run, name, value)

    def get_run(self, run_id: int) -> SyncRun:
        with self.sessions() as session:
            return session.get_one(SyncRun, run_id)

    def recent_runs(self, limit: int = 10, stream: str | None = None) -> list[SyncRun]:
        with self.sessions() as session:
            query = select(SyncRun).order_by(SyncRun.id.desc()).limit(limit)
            if stream:
                query = query.where(SyncRun.stream == stream)
            return list(session.scalars(query))

    # ----------------------------------------------------------------- failures
    def record_failure(
        self,
        stream: str,
        source_id: str,
        *,
        stage: str,
        message: str,
        category: str | None = None,
        existing_id: str | None = None,
        run_id: int | None = None,
        max_attempts: int = 5,
    ) -> RecordFailure:
        now, text = self._clock(), redact(message)[:2000]
        with self.sessions.begin() as session:
            row = session.scalars(
                select(RecordFailure).where(
                    RecordFailure.stream == stream, RecordFailure.source_id == source_id
                )
            ).first()
            if row is None:
                row = RecordFailure(
                    stream=stream,
                    source_id=source_id,
                    stage=stage,
                    attempts=0,
                    first_error=text,
                    last_error=text,
                    first_failed_at=now,
                )
                session.add(row)
            row.attempts += 1
            row.stage, row.category, row.last_error, row.last_failed_at = stage, category, text, now
            row.existing_hubspot_id = existing_id or row.existing_hubspot_id
            row.last_run_id = run_id
            if row.attempts >= max_attempts:
                row.quarantined_at = row.quarantined_at or now
                row.next_retry_at = None
            else:
                row.next_retry_at = now + timedelta(minutes=min(60, 2**row.attempts))
            session.flush()
            session.expunge(row)
            return row

    def has_quarantined(self, stream: str) -> bool:
        with self.sessions() as session:
            found = session.scalar(
                select(RecordFailure.id)
                .where(RecordFailure.stream == stream, RecordFailure.quarantined_at.is_not(None))
                .limit(1)
            )
            return found is not None

    def quarantined(self, stream: str, source_ids: Collection[str]) -> set[str]:
        found: set[str] = set()
        with self.sessions() as session:
            for chunk in id_chunks(source_ids):
                found.update(
                    session.scalars(
                        select(RecordFailure.source_id).where(
                            RecordFailure.stream == stream,
                            RecordFailure.source_id.in_(chunk),
                            RecordFailure.quarantined_at.is_not(None),
                        )
                    )
                )
        return found

    def failures(self, *, quarantined: bool | None = None) -> list[RecordFailure]:
        with self.sessions() as session:
            query = select(RecordFailure).order_by(RecordFailure.last_failed_at.desc())
            if quarantined is not None:
                query = query.where(
                    RecordFailure.quarantined_at.is_not(None)
                    if quarantined
                    else RecordFailure.quarantined_at.is_(None)
                )
            return list(session.scalars(query))

    def release_failures(self, ids: Collection[int] | None = None) -> int:
        """Un-quarantine failures (all when ``ids`` is None) so the next run retries them."""
        with self.sessions.begin() as session:
            query = update(RecordFailure).values(
                quarantined_at=None, attempts=0, next_retry_at=self._clock()
            )
            if ids is not None:
                query = query.where(RecordFailure.id.in_(list(ids)))
            return int(session.execute(query).rowcount or 0)  # type: ignore[attr-defined]

    def failure_counts(self) -> dict[str, int]:
        with self.sessions() as session:
            total = session.scalar(select(func.count()).select_from(RecordFailure)) or 0
            held = (
                session.scalar(
                    select(func.count())
                    .select_from(RecordFailure)
                    .where(RecordFailure.quarantined_at.is_not(None))
                )
                or 0
            )
            return {"failing": int(total) - int(held), "quarantined": int(held)}
