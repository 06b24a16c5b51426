"""Alert state in the database: one row per condition, moved by compare-and-set.

Every worker (and beat, and the CLI) evaluates the same conditions; the row
decides which of them speaks. A condition's row changes state only through
``UPDATE ... WHERE version = :seen`` (or one ``INSERT`` of its first firing), so
of two evaluators that see the same change, one wins and the other does nothing.
Sending is claimed the same way (``sending_until``) and confirmed with the
version it was claimed for: a message goes out once, and a failed delivery is
retried by whichever evaluator comes next after its back-off.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Boolean, CursorResult, Integer, String, Text, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from syncworker.store.models import Base

# A claim to send lasts this long; an evaluator that died mid-send is replaced after it.
SENDING_LEASE = timedelta(seconds=60)
FIRST_RETRY = timedelta(seconds=60)
LAST_RETRY = timedelta(hours=1)


class AlertState(Base):
    """Whether a condition fires, and whether its latest message went out."""

    __tablename__ = "alert_states"

    key: Mapped[str] = mapped_column(String(128), primary_key=True)  # "stale:workways.users"
    firing: Mapped[bool] = mapped_column(Boolean)
    version: Mapped[int] = mapped_column(Integer, default=1)  # +1 on every change of state
    summary: Mapped[str] = mapped_column(Text, default="")  # no personal data
    changed_at: Mapped[datetime]
    delivered: Mapped[bool] = mapped_column(Boolean, default=False)
    attempts: Mapped[int] = mapped_column(Integer, default=0)  # failed deliveries of this version
    sending_until: Mapped[datetime | None]  # claimed by a sender, or backing off, until then
    last_error: Mapped[str | None] = mapped_column(Text)


@dataclass(frozen=True)
class Outgoing:
    """A message this evaluator claimed and must send (then ``sent`` or ``failed``)."""

    key: str
    firing: bool
    version: int
    summary: str
    changed_at: datetime
    attempts: int


class AlertStates:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

    def all(self) -> dict[str, AlertState]:
        with self.sessions() as session:
            return {row.key: row for row in session.scalars(select(AlertState))}

    def transition(self, key: str, firing: bool, summary: str, now: datetime) -> bool:
        """Move ``key`` to ``firing`` (True) or resolved (False); True if this call moved it.

        A first firing inserts the row; a resolved condition with no row stays
        without one. Resolving a firing whose message never went out (nor is
        being sent) needs no message: there is nothing to resolve for the reader."""
        with self.sessions() as session:
            row = session.get(AlertState, key)
            if row is None:
                if not firing:
                    return False
                session.add(AlertState(key=key, firing=True, summary=summary, changed_at=now))
                try:
                    session.commit()
                except IntegrityError:  # another evaluator inserted it first
                    session.rollback()
                    return False
                return True
            if row.firing == firing:
                return False
            in_flight = row.sending_until is not None and row.sending_until > now
            announced = row.delivered or (in_flight and row.attempts == 0)
            moved = session.execute(
                update(AlertState)
                .where(AlertState.key == key, AlertState.version == row.version)
                .values(
                    firing=firing,
                    version=row.version + 1,
                    summary=summary,
                    changed_at=now,
                    delivered=False if firing else not announced,
                    attempts=0,
                    sending_until=None,
                    last_error=None,
                )
                .execution_options(synchronize_session=False)
            )
            session.commit()
            return _rowcount(moved) == 1

    def claim_due(self, now: datetime) -> list[Outgoing]:
        """Messages not yet delivered and not being sent (or backing off): claimed for us."""
        with self.sessions() as session:
            due = list(
                session.scalars(
                    select(AlertState).where(
                        AlertState.delivered.is_(False),
                        or_(AlertState.sending_until.is_(None), AlertState.sending_until <= now),
                    )
                )
            )
        claimed = []
        for row in due:
            with self.sessions.begin() as session:
                won = session.execute(
                    update(AlertState)
                    .where(
                        AlertState.key == row.key,
                        AlertState.version == row.version,
                        AlertState.delivered.is_(False),
                        or_(AlertState.sending_until.is_(None), AlertState.sending_until <= now),
                    )
                    .values(sending_until=now + SENDING_LEASE)
                    .execution_options(synchronize_session=False)
                )
            if _rowcount(won) == 1:
                claimed.append(
                    Outgoing(
                        row.key, row.firing, row.version, row.summary, row.changed_at, row.attempts
                    )
                )
        return claimed

    def sent(self, message: Outgoing) -> None:
        with self.sessions.begin() as session:
            session.execute(
                update(AlertState)
                .where(AlertState.key == message.key, AlertState.version == message.version)
                .values(delivered=True, sending_until=None, last_error=None)
                .execution_options(synchronize_session=False)
            )

    def failed(self, message: Outgoing, error: str, now: datetime) -> datetime:
        """Back off (doubling from a minute up to an hour); returns when to try again."""
        wait: timedelta = min(FIRST_RETRY * (2**message.attempts), LAST_RETRY)
        with self.sessions.begin() as session:
            session.execute(
                update(AlertState)
                .where(AlertState.key == message.key, AlertState.version == message.version)
                .values(
                    attempts=message.attempts + 1, sending_until=now + wait, last_error=error[:500]
                )
                .execution_options(synchronize_session=False)
            )
        return now + wait


def _rowcount(result: Any) -> int:
    """Rows an UPDATE matched (the compare-and-set won when 1)."""
    assert isinstance(result, CursorResult)
    return int(result.rowcount)
