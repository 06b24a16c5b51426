"""What units hand to their run (``run_items``): changes short of a full batch,
parent moves (a record whose HubSpot parent must change), and the source ids
each unit saw (one item per unit), from which the finish knows what disappeared.

Moves wait for the run's finish while the parent run is still going (the
parent's HubSpot ids are not all known yet). Once it has ended, a unit hands
its moves over at once and links every *whole* batch waiting, so most
associations go out during the run instead of all at its end, and each call
is still full. Taking a batch is a compare-and-set (kind ``move`` becomes
``linking``), so two workers never take the same move; linked moves are
dropped. A ``linking`` move left by a worker that died is linked by the finish
(creating an association twice is harmless).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from syncworker.store.chunks import id_chunks
from syncworker.store.models import RunItem

CHANGE, MOVE, LINKING, SEEN = "change", "move", "linking", "seen"
Move = tuple[str | None, str | None]  # (old parent, new parent)


class _Raced(Exception):
    """Another worker took some of the moves first."""


def _delete(session: Session, run_id: int, kind: str, ids: Iterable[str]) -> None:
    for chunk in id_chunks(list(ids)):
        session.execute(
            delete(RunItem).where(
                RunItem.run_id == run_id, RunItem.kind == kind, RunItem.source_id.in_(chunk)
            )
        )


def replace_items(session: Session, run_id: int, rows: Sequence[dict[str, Any]]) -> None:
    """Write ``rows`` (run_id, kind, source_id, payload), replacing earlier ones
    of the same kind and record (a repeated unit hands over again)."""
    for kind in {r["kind"] for r in rows}:
        _delete(session, run_id, kind, (r["source_id"] for r in rows if r["kind"] == kind))
    if rows:
        session.execute(insert(RunItem), list(rows))


class RunItems:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

    def get(self, run_id: int, *kinds: str) -> dict[str, dict[str, Any]]:
        with self.sessions() as session:
            rows = session.execute(
                select(RunItem.source_id, RunItem.payload)
                .where(RunItem.run_id == run_id, RunItem.kind.in_(kinds))
                .order_by(RunItem.kind)  # "linking" before "move": the newer wins
            )
            return {sid: dict(payload or {}) for sid, payload in rows}

    def seen_ids(self, run_id: int) -> set[str]:
        """Every source id the run's completed units saw."""
        seen: set[str] = set()
        for payload in self.get(run_id, SEEN).values():
            seen.update(payload["ids"])
        return seen

    def moves(self, run_id: int) -> dict[str, Move]:
        """Every move still to link (taken ones a dead worker left included)."""
        return {sid: (p["old"], p["new"]) for sid, p in self.get(run_id, LINKING, MOVE).items()}

    def hand_over_moves(self, run_id: int, moves: Mapping[str, Move]) -> None:
        rows = [
            {"run_id": run_id, "kind": MOVE, "source_id": sid, "payload": {"old": o, "new": n}}
            for sid, (o, n) in moves.items()
        ]
        with self.sessions.begin() as session:
            replace_items(session, run_id, rows)

    def take_moves(self, run_id: int, batch: int) -> dict[str, Move]:
        """Whole batches of waiting moves, taken for linking; {} when under one batch
        waits or another worker took them first."""
        try:
            with self.sessions.begin() as session:
                rows = session.execute(
                    select(RunItem.source_id, RunItem.payload)
                    .where(RunItem.run_id == run_id, RunItem.kind == MOVE)
                    .order_by(RunItem.source_id)
                ).all()
                taken = rows[: len(rows) // batch * batch]
                ids = [sid for sid, _ in taken]
                changed = 0
                for chunk in id_chunks(ids):
                    result: Any = session.execute(
                        update(RunItem)
                        .where(
                            RunItem.run_id == run_id,
                            RunItem.kind == MOVE,
                            RunItem.source_id.in_(chunk),
                        )
                        .values(kind=LINKING)
                    )
                    changed += result.rowcount
                if changed != len(ids):
                    raise _Raced
        except _Raced:
            return {}
        return {sid: (payload["old"], payload["new"]) for sid, payload in taken}

    def drop(self, run_id: int, kind: str, ids: Iterable[str]) -> None:
        with self.sessions.begin() as session:
            _delete(session, run_id, kind, ids)

    def drop_all(self, run_id: int) -> None:
        with self.sessions.begin() as session:
            session.execute(delete(RunItem).where(RunItem.run_id == run_id))
