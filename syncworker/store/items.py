"""What units hand to their run (``run_items``), of two kinds: changes short of
a full batch (``change``, one item per record) and parent moves (``move``:
records whose HubSpot parent must change; one item per unit).

Moves wait while the parent run is still going (the parent's HubSpot ids are
not all known yet). Once it has ended, the parent's finisher and each unit
that ends later link every *whole* batch waiting, so most associations go out
during the run instead of all at its end, and each call is still full. Taking
moves is a compare-and-set: the ``move`` items taken are deleted (another
worker that took them first makes the count differ) and replaced by one
item labelled ``taken-…`` with the whole batches and one with the rest, so two
workers never take the same move. A taken item is dropped once linked; one
left by a worker that died is linked by the finish (creating an association
twice is harmless).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session, sessionmaker

from syncworker.store.chunks import id_chunks
from syncworker.store.models import RunItem

CHANGE, MOVE = "change", "move"
TAKEN = "taken-"  # the label of moves a worker is linking
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


def moves_payload(moves: Mapping[str, Move]) -> dict[str, Any]:
    """The payload of an item holding ``moves``."""
    return {"moves": {sid: [old, new] for sid, (old, new) in moves.items()}}


def move_item(run_id: int, label: str, moves: Mapping[str, Move]) -> dict[str, Any]:
    return {"run_id": run_id, "kind": MOVE, "source_id": label, "payload": moves_payload(moves)}


def _moves(payloads: Iterable[Mapping[str, Any]]) -> dict[str, Move]:
    """The moves the items' payloads hold; a later item's move of a record wins."""
    found: dict[str, Move] = {}
    for payload in payloads:
        found.update({sid: (old, new) for sid, (old, new) in payload["moves"].items()})
    return found


class RunItems:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

    def get(self, run_id: int, *kinds: str) -> dict[str, dict[str, Any]]:
        with self.sessions() as session:
            rows = session.execute(
                select(RunItem.source_id, RunItem.payload)
                .where(RunItem.run_id == run_id, RunItem.kind.in_(kinds))
                .order_by(RunItem.kind, RunItem.source_id)  # "taken-" before "unit-": newer wins
            )
            return {sid: dict(payload or {}) for sid, payload in rows}

    def moves(self, run_id: int) -> dict[str, Move]:
        """Every move still to link (taken ones a dead worker left included)."""
        return _moves(self.get(run_id, MOVE).values())

    def hand_over_moves(self, run_id: int, label: str, moves: Mapping[str, Move]) -> None:
        """``moves`` wait for linking as one item, ``label`` (a unit's own): a repeated
        unit replaces what it handed over before."""
        if moves:
            with self.sessions.begin() as session:
                replace_items(session, run_id, [move_item(run_id, label, moves)])

    def take_moves(self, run_id: int, batch: int) -> tuple[str, dict[str, Move]] | None:
        """Whole batches of waiting moves, taken for linking, and the label to drop
        once linked; None when under one batch waits or another worker took some
        of them first."""
        try:
            with self.sessions.begin() as session:
                items = session.execute(
                    select(RunItem.source_id, RunItem.payload).where(
                        RunItem.run_id == run_id,
                        RunItem.kind == MOVE,
                        RunItem.source_id.not_like(f"{TAKEN}%"),
                    )
                ).all()
                waiting = _moves(payload for _, payload in items)
                if len(waiting) < batch:
                    return None
                ids = sorted(waiting)
                whole = len(ids) // batch * batch
                labels = [label for label, _ in items]
                result: Any = session.execute(
                    delete(RunItem).where(
                        RunItem.run_id == run_id,
                        RunItem.kind == MOVE,
                        RunItem.source_id.in_(labels),
                    )
                )
                if result.rowcount != len(labels):
                    raise _Raced
                taken = {sid: waiting[sid] for sid in ids[:whole]}
                rest = {sid: waiting[sid] for sid in ids[whole:]}
                label = f"{TAKEN}{uuid.uuid4().hex}"
                rows = [move_item(run_id, label, taken)]
                if rest:
                    rows.append(move_item(run_id, f"rest-{uuid.uuid4().hex}", rest))
                session.execute(insert(RunItem), rows)
        except _Raced:
            return None
        return label, taken

    def drop(self, run_id: int, kind: str, ids: Iterable[str]) -> None:
        with self.sessions.begin() as session:
            _delete(session, run_id, kind, ids)

    def drop_all(self, run_id: int) -> None:
        with self.sessions.begin() as session:
            session.execute(delete(RunItem).where(RunItem.run_id == run_id))
