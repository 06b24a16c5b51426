"""Run items: moves handed over per unit and taken in whole batches; work done for
a run outside its units, counted in until its finish begins."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import delete, event, select
from sqlalchemy.orm import Session

from syncworker.store.database import make_engine, session_factory
from syncworker.store.items import MOVE, Move, RunItems
from syncworker.store.models import RunItem, SyncRun
from syncworker.store.units import RunUnits

pytestmark = pytest.mark.integration


@pytest.fixture
def items(either_database: str) -> Iterator[RunItems]:
    engine = make_engine(either_database)
    yield RunItems(session_factory(engine))
    engine.dispose()


def new_run(items: RunItems) -> int:
    with items.sessions.begin() as session:
        run = SyncRun(stream="workways.users", trigger="cli", mode="incremental")
        session.add(run)
        session.flush()
        return run.id


def some_moves(first: int, count: int) -> dict[str, Move]:
    return {f"{n:024x}": (None, f"org-{n % 7}") for n in range(first, first + count)}


def kinds(items: RunItems, run_id: int) -> list[str]:
    """The run's items as kind:label-prefix, sorted."""
    with items.sessions() as session:
        query = select(RunItem.kind, RunItem.source_id).where(RunItem.run_id == run_id)
        return sorted(f"{kind}:{label.split('-')[0]}" for kind, label in session.execute(query))


def test_moves_wait_as_one_item_per_unit_and_go_in_whole_batches(items: RunItems) -> None:
    run_id = new_run(items)
    handed = {}
    for unit, (first, count) in enumerate([(0, 250), (250, 250), (500, 130)]):
        moves = some_moves(first, count)
        items.hand_over_moves(run_id, f"unit-{unit}", moves)
        handed.update(moves)
    assert kinds(items, run_id) == ["move:unit"] * 3  # one item per unit, not per record
    assert items.moves(run_id) == handed

    taken = items.take_moves(run_id, 200)
    assert taken is not None
    label, batch = taken
    assert len(batch) == 600 and batch == {sid: handed[sid] for sid in sorted(handed)[:600]}
    assert kinds(items, run_id) == ["move:rest", "move:taken"]  # the batch, and the rest of 30
    assert items.moves(run_id) == handed  # a worker dying now leaves them to the finish
    assert items.take_moves(run_id, 200) is None  # under one batch waits
    items.drop(run_id, MOVE, [label])
    assert items.moves(run_id) == {sid: handed[sid] for sid in sorted(handed)[600:]}


def test_a_repeated_unit_replaces_the_moves_it_handed_over(items: RunItems) -> None:
    run_id = new_run(items)
    items.hand_over_moves(run_id, "unit-1", some_moves(0, 10))
    items.hand_over_moves(run_id, "unit-1", some_moves(0, 4))
    items.hand_over_moves(run_id, "unit-2", {})  # nothing to hand over: no item
    assert items.moves(run_id) == some_moves(0, 4) and kinds(items, run_id) == ["move:unit"]


def test_a_take_raced_by_another_worker_takes_nothing(items: RunItems) -> None:
    run_id = new_run(items)
    items.hand_over_moves(run_id, "unit-1", some_moves(0, 100))
    items.hand_over_moves(run_id, "unit-2", some_moves(100, 100))
    engine = items.sessions.kw["bind"]

    raced: list[bool] = []

    def other_worker_takes_one(conn: Any, clauseelement: Any, *_: Any) -> None:
        # Between our read and our delete, another worker takes one of the items.
        if getattr(clauseelement, "is_delete", False) and not raced:
            raced.append(True)
            with Session(engine) as other, other.begin():
                other.execute(delete(RunItem).where(RunItem.source_id == "unit-2"))

    event.listen(engine, "before_execute", other_worker_takes_one)
    try:
        assert items.take_moves(run_id, 50) is None
    finally:
        event.remove(engine, "before_execute", other_worker_takes_one)
    assert raced
    assert items.moves(run_id) == some_moves(0, 100)  # rolled back: still waiting
    assert kinds(items, run_id) == ["move:unit"]


def test_outside_counts_add_up_until_the_finish_begins(items: RunItems) -> None:
    run_id = new_run(items)
    units = RunUnits(items.sessions)
    assert units.add_outside_counts(run_id, {"failed": 2, "hubspot:associate": 1})
    assert units.add_outside_counts(run_id, {"hubspot:associate": 3})
    assert units.get_run(run_id).outside_counts == {"failed": 2, "hubspot:associate": 4}
    with items.sessions.begin() as session:
        session.get_one(SyncRun, run_id).finishing_at = session.scalar(select(SyncRun.started_at))
    assert not units.add_outside_counts(run_id, {"failed": 1})
    assert units.get_run(run_id).outside_counts == {"failed": 2, "hubspot:associate": 4}
