"""Identity questions reported once (``store.reports``).

A clash (two Workways users with one e-mail) or an ambiguous adoption (several
HubSpot companies with an organization's name) would otherwise be reported by
every run that meets it. The first run records it here and logs it; later runs
find it and stay quiet. Ids only, never a value.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, sessionmaker

from syncworker.store.models import IdentityReport, utcnow

CLASH, AMBIGUOUS = "clash", "ambiguous"


class IdentityReports:
    def __init__(
        self, sessions: sessionmaker[Session], clock: Callable[[], datetime] = utcnow
    ) -> None:
        self.sessions = sessions
        self._clock = clock

    def first_time(self, stream: str, source_id: str, kind: str, other: str) -> bool:
        """Record the report; True when it was not recorded before (report it now)."""
        values = {
            "stream": stream,
            "source_id": source_id,
            "kind": kind,
            "other": other[:200],
            "reported_at": self._clock(),
        }
        with self.sessions.begin() as session:
            dialect = session.get_bind().dialect.name
            insert = pg_insert if dialect == "postgresql" else sqlite_insert
            statement = (
                insert(IdentityReport)
                .values(**values)
                .on_conflict_do_nothing(index_elements=["stream", "source_id", "kind", "other"])
                .returning(IdentityReport.id)
            )
            return session.execute(statement).first() is not None

    def listed(self, stream: str | None = None) -> list[IdentityReport]:
        """Every report (of ``stream``), oldest first."""
        with self.sessions() as session:
            query = select(IdentityReport).order_by(IdentityReport.id)
            if stream is not None:
                query = query.where(IdentityReport.stream == stream)
            return list(session.scalars(query))
