"""What drift repair (``syncworker reconcile``) reads and writes in the snapshot.

Short transactions, like the rest of the store. A snapshot row repaired here is
either *forgotten* (its HubSpot object is gone: the next sync creates it again,
whole), *re-pointed* (its object was merged into another), *unlinked* (its
association was removed in HubSpot: the next sync links it again) or
*suppressed* (never pushed again: ``privacy``, or ``merged`` into the object of
another record of its stream).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, bindparam, func, select
from sqlalchemy.orm import Session, sessionmaker

from syncworker.store.chunks import id_chunks
from syncworker.store.models import SyncedRecord, SyncRun
from syncworker.store.runs import RunRecords

PRIVACY, MERGED = "privacy", "merged"
RECONCILE_STREAM = "reconcile"  # the stream name of a reconcile run's record

_RECORDS = cast(Table, SyncedRecord.__table__)


@dataclass(frozen=True)
class SyncedRow:
    """A snapshot row HubSpot confirmed: what drift repair checks."""

    source_id: str
    hubspot_id: str
    associated_to: str | None


def has_suppressed(sessions: sessionmaker[Session], stream: str) -> bool:
    with sessions() as session:
        found = session.scalar(
            select(_RECORDS.c.id)
            .where(_RECORDS.c.stream == stream, _RECORDS.c.suppressed.is_not(None))
            .limit(1)
        )
        return found is not None


def suppressed(
    sessions: sessionmaker[Session], stream: str, source_ids: Collection[str]
) -> set[str]:
    """Of ``source_ids``, the records the sync must skip."""
    found: set[str] = set()
    with sessions() as session:
        for chunk in id_chunks(source_ids):
            found.update(
                session.scalars(
                    select(_RECORDS.c.source_id).where(
                        _RECORDS.c.stream == stream,
                        _RECORDS.c.source_id.in_(chunk),
                        _RECORDS.c.suppressed.is_not(None),
                    )
                )
            )
    return found


class DriftStore:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

    def synced(self, stream: str) -> list[SyncedRow]:
        """Every row of ``stream`` HubSpot confirmed and not suppressed, by source id."""
        with self.sessions() as session:
            rows = session.execute(
                select(_RECORDS.c.source_id, _RECORDS.c.hubspot_id, _RECORDS.c.associated_to)
                .where(
                    _RECORDS.c.stream == stream,
                    _RECORDS.c.hubspot_id.is_not(None),
                    _RECORDS.c.suppressed.is_(None),
                )
                .order_by(_RECORDS.c.source_id)
            )
            return [SyncedRow(sid, hid, parent) for sid, hid, parent in rows]

    def by_hubspot_id(self, stream: str, hubspot_ids: Collection[str]) -> dict[str, str]:
        """{HubSpot id: source id} of the rows (suppressed or not) holding these ids."""
        found: dict[str, str] = {}
        with self.sessions() as session:
            for chunk in id_chunks(hubspot_ids):
                rows = session.execute(
                    select(_RECORDS.c.hubspot_id, _RECORDS.c.source_id).where(
                        _RECORDS.c.stream == stream, _RECORDS.c.hubspot_id.in_(chunk)
                    )
                )
                found.update({hid: sid for hid, sid in rows})
        return found

    def children_of(self, stream: str, parents: Collection[str]) -> list[str]:
        """Rows of ``stream`` associated to one of ``parents`` (source ids)."""
        found: list[str] = []
        with self.sessions() as session:
            for chunk in id_chunks(parents):
                found += session.scalars(
                    select(_RECORDS.c.source_id).where(
                        _RECORDS.c.stream == stream,
                        _RECORDS.c.associated_to.in_(chunk),
                        _RECORDS.c.suppressed.is_(None),
                    )
                )
        return found

    def repair(
        self,
        stream: str,
        *,
        forget: Collection[str] = (),
        follow: Mapping[str, tuple[str, str | None]] = {},
        unlink: Collection[str] = (),
        suppress: Collection[str] = (),
    ) -> None:
        """One transaction: ``forget`` rows (created again by the next sync, whole),
        re-point ``follow`` rows ({source id: (surviving HubSpot id, suppressed or
        None)}; a row that stays in use sends all its properties again), ``unlink``
        rows (linked again by the next sync) and ``suppress`` rows for privacy (their
        stored properties are dropped: nothing about that person is kept)."""
        table, cols = _RECORDS, _RECORDS.c
        where = (cols.stream == stream, cols.source_id == bindparam("b_sid"))
        with self.sessions.begin() as session:
            if forget:
                session.execute(
                    table.update()
                    .where(*where)
                    .values(
                        hubspot_id=None,
                        properties={},
                        content_hash="",
                        source_digest=None,
                        associated_to=None,
                        archived=False,
                    ),
                    [{"b_sid": sid} for sid in forget],
                )
            if follow:
                session.execute(
                    table.update()
                    .where(*where)
                    .values(
                        hubspot_id=bindparam("b_hid"),
                        suppressed=bindparam("b_why"),
                        properties={},
                        content_hash="",
                        source_digest=None,
                        associated_to=None,
                    ),
                    [
                        {"b_sid": sid, "b_hid": hid, "b_why": why}
                        for sid, (hid, why) in follow.items()
                    ],
                )
            if unlink:
                session.execute(
                    table.update().where(*where).values(associated_to=None),
                    [{"b_sid": sid} for sid in unlink],
                )
            if suppress:
                session.execute(
                    table.update()
                    .where(*where)
                    .values(
                        hubspot_id=None,
                        suppressed=PRIVACY,
                        properties={},
                        content_hash="",
                        source_digest=None,
                        associated_to=None,
                    ),
                    [{"b_sid": sid} for sid in suppress],
                )

    def suppressed_counts(self) -> Counter[str]:
        """Suppressed rows by reason (``privacy``, ``merged``), over every stream."""
        with self.sessions() as session:
            rows = session.execute(
                select(_RECORDS.c.suppressed, func.count())
                .where(_RECORDS.c.suppressed.is_not(None))
                .group_by(_RECORDS.c.suppressed)
            )
            return Counter({str(why): int(n) for why, n in rows})

    def record_run(
        self,
        trigger: str,
        repairs: Mapping[str, int],
        *,
        status: str,
        checked: int,
        hubspot_calls: int,
        error: str | None = None,
    ) -> int:
        """A reconcile run's record (``stream`` ``reconcile``): its repairs by kind."""
        runs = RunRecords(self.sessions)
        run_id = runs.start(RECONCILE_STREAM, trigger, "reconcile")
        counts = {"seen": checked, "hubspot_calls": hubspot_calls}
        runs.finish(run_id, status, counts, error, repairs=dict(repairs))
        return run_id

    def last_run(self) -> dict[str, Any] | None:
        with self.sessions() as session:
            run = session.scalars(
                select(SyncRun)
                .where(SyncRun.stream == RECONCILE_STREAM)
                .order_by(SyncRun.id.desc())
                .limit(1)
            ).first()
            if run is None:
                return None
            return {"id": run.id, "started_at": run.started_at, "repairs": run.repairs or {}}
