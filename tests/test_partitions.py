"""Partitions in the database: claimed once, completed once under the stream's
fencing token, and what they hand over (two kinds of rows) read back by the finish."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import select

from syncworker.errors import LeaseLostError
from syncworker.store.database import make_engine, session_factory
from syncworker.store.models import RunItem, StreamFence
from syncworker.store.partitions import Partitions, RunView
from syncworker.store.runs import RunRecords

pytestmark = pytest.mark.integration

CHANGE_A = {
    "action": "update",
    "properties": {"jobtitle": "Head of focus"},
    "previous": {"jobtitle": "Focus lead"},
    "hubspot_id": "101",
    "digest": "d1",
}
CHANGE_B = {**CHANGE_A, "properties": {"jobtitle": "Chief of focus"}, "digest": "d2"}


@pytest.fixture
def partitions(either_database: str) -> Iterator[Partitions]:
    engine = make_engine(either_database)
    yield Partitions(session_factory(engine))
    engine.dispose()


def plan(partitions: Partitions, ranges: list[tuple[int, int]], fence: int | None = None) -> int:
    run_id, _ = partitions.create(
        "workways.users", ranges, trigger="cli", mode="incremental", fence=fence
    )
    return run_id


def rows(partitions: Partitions, run_id: int) -> list[tuple[str, str]]:
    with partitions.sessions() as session:
        query = select(RunItem.kind, RunItem.source_id).where(RunItem.run_id == run_id)
        return sorted((kind, sid) for kind, sid in session.execute(query))


def test_the_last_partition_completed_says_so_and_the_handed_over_rows_read_back(
    partitions: Partitions,
) -> None:
    run_id = plan(partitions, [(1, 2), (3, 4)])
    first, second = (partitions.claim_next(), partitions.claim_next())
    assert first is not None and second is not None and partitions.claim_next() is None
    assert (first.first_page, first.last_page, second.first_page) == (1, 2, 3)
    done = partitions.complete(
        first,
        counts={"seen": 2},
        fingerprints={},
        changes={"u1": CHANGE_A},
        moves={"u1": (None, "o1"), "u2": ("o1", "o2")},
        incomplete=False,
        seen={"u1", "u2"},
    )
    assert done is False  # the second partition is still going
    last = partitions.complete(
        second,
        counts={"seen": 1},
        fingerprints={},
        changes={"u3": CHANGE_B},
        moves={"u3": (None, "o3")},
        incomplete=False,
        seen={"u3"},
    )
    assert last is True
    # One row per handed-over change, one per partition's moves: two kinds, no more.
    assert rows(partitions, run_id) == [
        ("change", "u1"),
        ("change", "u3"),
        ("move", f"partition-{first.partition_id}"),
        ("move", f"partition-{second.partition_id}"),
    ]
    changes, moves = partitions.handed_over(run_id)
    assert changes == {"u1": CHANGE_A, "u3": CHANGE_B}
    assert moves == {"u1": (None, "o1"), "u2": ("o1", "o2"), "u3": (None, "o3")}
    assert partitions.seen_ids(run_id) == {"u1", "u2", "u3"}
    assert partitions.get(run_id).counts["seen"] == 3
    # Finished once: the first caller gets it, the next one does not.
    assert partitions.claim_finish(run_id, None, lambda run: True) is True
    assert partitions.claim_finish(run_id, None, lambda run: True) is False
    RunRecords(partitions.sessions).finish(run_id, "succeeded", {"seen": 3})
    assert rows(partitions, run_id) == []  # the run's end drops its rows


def test_a_record_handed_over_by_two_partitions_keeps_the_later_change(
    partitions: Partitions,
) -> None:
    run_id = plan(partitions, [(1, 1), (2, 2)])
    for change in (CHANGE_A, CHANGE_B):  # the source moved the record to a later page
        claim = partitions.claim_next()
        assert claim is not None
        partitions.complete(
            claim, counts={}, fingerprints={}, changes={"u1": change}, moves={}, incomplete=False
        )
    assert partitions.handed_over(run_id)[0] == {"u1": CHANGE_B}


def test_a_partition_completed_twice_counts_once(partitions: Partitions) -> None:
    run_id = plan(partitions, [(1, 1), (2, 2)])
    claim = partitions.claim_next()
    assert claim is not None
    results = [
        partitions.complete(  # a redelivered task completing the same claim again
            claim, counts={"seen": 200}, fingerprints={}, changes={}, moves={}, incomplete=False
        )
        for _ in range(2)
    ]
    assert results == [False, False]
    assert partitions.get(run_id).counts["seen"] == 200
    assert partitions.claim(claim.partition_id) is None  # done: nobody claims it again


def test_a_partition_of_a_run_a_newer_run_took_over_writes_nothing(
    partitions: Partitions,
) -> None:
    run_id = plan(partitions, [(1, 1)], fence=7)
    claim = partitions.claim_next()
    assert claim is not None and claim.fence == 7
    with partitions.sessions.begin() as session:  # a newer holder of the stream's lock
        session.add(StreamFence(stream="workways.users", token=8))
    with pytest.raises(LeaseLostError, match=r"a newer run of workways\.users"):
        partitions.complete(
            claim,
            counts={"seen": 1},
            fingerprints={},
            changes={"u1": CHANGE_A},
            moves={},
            incomplete=False,
        )
    assert rows(partitions, run_id) == [] and partitions.get(run_id).counts["seen"] == 0


def test_a_run_waits_to_finish_while_a_live_run_of_its_parent_stream_goes(
    partitions: Partitions,
) -> None:
    parent_id, _ = partitions.create(
        "workways.organizations", [(1, 1)], trigger="cli", mode="incremental"
    )
    run_id = plan(partitions, [(1, 1)])
    claim = partitions.claim_next(runs={run_id})
    assert claim is not None
    partitions.complete(claim, counts={}, fingerprints={}, changes={}, moves={}, incomplete=False)
    asked: list[int] = []

    def alive(run: RunView) -> bool:
        asked.append(run.run_id)
        return True

    assert partitions.claim_finish(run_id, "workways.organizations", alive) is False
    assert asked == [parent_id]
    # A parent run marked going whose worker died (its lock is free) holds nothing up.
    assert partitions.claim_finish(run_id, "workways.organizations", lambda run: False) is True
