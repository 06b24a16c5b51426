"""Runs split into units of work: shared by workers, tracked in the database, resumable."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis
from sqlalchemy import select
from syncworker_sandbox.runner import Sandboxes

from syncworker.app.container import Container
from syncworker.app.sync import interleave, run_units, sync_streams
from syncworker.config import Settings
from syncworker.engine.fanout import PARENT_STREAMS, FanOut, StartedRun
from syncworker.engine.state import RunResult
from syncworker.engine.sync import SyncEngine
from syncworker.errors import PaginationLoopError, RunInProgressError
from syncworker.locks import StreamLeases
from syncworker.sources.streams import Stream
from syncworker.sources.workways.streams import WORKWAYS_ORGANIZATIONS, WORKWAYS_USERS
from syncworker.store.database import make_engine, session_factory
from syncworker.store.models import RunItem, RunUnit, SyncRun
from syncworker.store.snapshots import SnapshotStore
from syncworker.store.units import RunUnits
from tests.checks import assert_converged, hubspot_by_key
from tests.integration import (
    celery_process,
    holds,
    send_task,
    wait_until,
    worker_args,
    workers_ready,
)

pytestmark = pytest.mark.integration

CONTACT_UPSERTS = "/crm/objects/2026-09/contacts/batch/upsert"
CONTACT_UPDATES = "/crm/objects/2026-09/contacts/batch/update"  # by id: records HubSpot holds


@pytest.fixture
def boxes() -> Iterator[Sandboxes]:
    with Sandboxes(users=1500, orgs=40, seed=5) as sandboxes:
        yield sandboxes


def services_for(boxes: Sandboxes, database: str, **env: str) -> Container:
    return Container(Settings.from_env({**boxes.environment(database), **env}))


def runs(store: SnapshotStore) -> list[SyncRun]:
    with store.sessions() as session:
        return list(session.scalars(select(SyncRun).order_by(SyncRun.id)))


def units_of(store: SnapshotStore, run_id: int) -> list[RunUnit]:
    with store.sessions() as session:
        query = select(RunUnit).where(RunUnit.run_id == run_id).order_by(RunUnit.seq)
        return list(session.scalars(query))


def test_interleave_alternates_groups() -> None:
    assert interleave([[1, 2, 3], ["a"], [], ["b", "c"]]) == [1, "a", "b", 2, "c", 3]


def test_a_run_is_planned_as_units_of_pages_and_finished_once(
    boxes: Sandboxes, database: str, database_store: SnapshotStore
) -> None:
    services = services_for(boxes, database)
    results = sync_streams(services, "all")
    assert [r.status for r in results] == ["succeeded", "succeeded"]
    assert [r.counts["created"] for r in results] == [40, 1500]
    orgs, users = runs(database_store)
    size = WORKWAYS_USERS.pages_per_unit  # 8 pages of users, in units of this many
    planned = [(first, min(first + size - 1, 8), "done") for first in range(1, 9, size)]
    assert (orgs.units_total, users.units_total) == (1, len(planned))
    assert [(u.first_page, u.last_page, u.status) for u in units_of(database_store, users.id)] == (
        planned
    )
    assert users.after_run_id == orgs.id  # associations waited for the companies
    assert users.finishing_at is not None and users.seen == 1500
    assert boxes.hubspot.count(path_contains=CONTACT_UPSERTS) == math.ceil(1500 / 100)
    # Each run counts its own calls, though its units ran side by side in one process.
    assert (orgs.source_calls, users.source_calls) == (1 + 40, 8)  # page + details; pages
    assert orgs.hubspot_calls + users.hubspot_calls == boxes.hubspot.count()
    assert results[1].hubspot_calls["upsert"] == math.ceil(1500 / 100)
    with database_store.sessions() as session:
        assert session.scalars(select(RunItem)).first() is None  # hand-over items dropped
    assert_converged(boxes, database_store)
    services.db.dispose()


def test_changes_spread_over_many_units_still_go_in_full_batches(
    boxes: Sandboxes, database: str, database_store: SnapshotStore
) -> None:
    services = services_for(boxes, database)
    one_page_units: tuple[Stream, ...] = (
        WORKWAYS_ORGANIZATIONS,
        dataclasses.replace(WORKWAYS_USERS, pages_per_unit=1),
    )
    sync_streams(services, one_page_units)
    changed = [u for u in boxes.workways.users() if not u["isUserArchived"]][::9][:150]
    for user in changed:
        boxes.workways.update_user(user["_id"], title="Head of focus")
    boxes.hubspot.clear_log()
    _, users = sync_streams(services, one_page_units)
    assert users.counts["updated"] == len(changed)
    assert runs(database_store)[-1].units_total == 8  # every page its own unit
    # 150 changes over 8 units: 1 full batch from the units, the rest handed over.
    assert boxes.hubspot.count(path_contains=CONTACT_UPDATES) == math.ceil(len(changed) / 100)
    assert_converged(boxes, database_store)
    services.db.dispose()


def test_once_the_parent_run_ended_units_link_whole_batches_during_the_run(
    boxes: Sandboxes, database: str, database_store: SnapshotStore
) -> None:
    services = services_for(boxes, database)
    services.fanout.finisher.link_batch = 100  # v4 takes 2,000; 100 lets 1,500 users show it
    sync_streams(services, (WORKWAYS_ORGANIZATIONS,))  # the parent run has ended
    boxes.hubspot.clear_log()
    (users,) = sync_streams(services, (dataclasses.replace(WORKWAYS_USERS, pages_per_unit=1),))
    assert users.status == "succeeded"
    log = [e for e in boxes.hubspot.request_log if "/batch/" in e.path]
    links = [i for i, e in enumerate(log) if "/associate/" in e.path]
    upserts = [i for i, e in enumerate(log) if e.path == CONTACT_UPSERTS]
    sizes = [log[i].batch_size or 0 for i in links]
    assert sum(1 for size in sizes if size % 100) <= 1  # whole batches, but the finish's rest
    linked = sum(
        len(boxes.hubspot.store.associations("contacts", c["id"], "companies"))
        for c in boxes.hubspot.store.objects("contacts")
    )
    assert sum(sizes) == linked > 1000  # each pair sent once
    assert links[0] < upserts[-1]  # linking began while contacts were still going out
    with database_store.sessions() as session:
        assert session.scalars(select(RunItem)).first() is None
    assert_converged(boxes, database_store)
    services.db.dispose()


def users_but_their_last_unit_while_companies_go(fanout: FanOut) -> tuple[StartedRun, ...]:
    """The companies' run planned; every unit of the users' run (one page each) but
    the last done meanwhile, so their moves wait for the companies."""
    fanout.finisher.link_batch = 100  # v4 takes 2,000; 100 lets 1,500 users show it
    orgs = fanout.start(WORKWAYS_ORGANIZATIONS)
    users = fanout.start(dataclasses.replace(WORKWAYS_USERS, pages_per_unit=1))
    assert users.first_unit is not None and len(users.units) == 7
    assert users.run_first(fanout) == []
    for unit in users.units[:-1]:
        assert fanout.run_unit(unit, keep_going=False) == []
    return orgs, users


def test_the_parent_runs_finish_links_what_a_child_run_still_going_handed_over(
    boxes: Sandboxes, database: str, database_store: SnapshotStore
) -> None:
    services = services_for(boxes, database)
    fanout = services.fanout
    orgs, users = users_but_their_last_unit_while_companies_go(fanout)
    waiting = fanout.items.moves(users.run_id)
    assert len(waiting) > 1000 and boxes.hubspot.count(path_contains="/associate/") == 0

    finished = orgs.run_first(fanout)  # the companies' run ends
    assert [r.stream for r in finished] == [WORKWAYS_ORGANIZATIONS.name]
    sent = [e.batch_size or 0 for e in boxes.hubspot.request_log if "/associate/" in e.path]
    links = len(sent)
    assert sum(sent) == len(waiting) // 100 * 100  # every whole batch, before the users' end
    assert len(fanout.items.moves(users.run_id)) == len(waiting) % 100
    outside = fanout.units.get_run(users.run_id).outside_counts
    assert outside == {"source_calls": 1, "hubspot:associate": links}  # page 1, the links

    (done,) = fanout.run_unit(users.units[-1], keep_going=False)
    assert (done.stream, done.status) == (WORKWAYS_USERS.name, "succeeded")
    contact_calls = boxes.hubspot.count(path_contains="/contacts/") + boxes.hubspot.count(
        path_contains="/associations/"
    )
    assert done.hubspot_calls["associate"] == boxes.hubspot.count(path_contains="/associate/")
    assert runs(database_store)[1].hubspot_calls == sum(done.hubspot_calls.values())
    assert contact_calls >= sum(done.hubspot_calls.values())
    with database_store.sessions() as session:
        assert session.scalars(select(RunItem)).first() is None  # hand-over items go with the run
    assert_converged(boxes, database_store)
    services.close()
    services.db.dispose()


def test_a_child_run_ending_while_its_parents_finish_links_waits_and_links_nothing_twice(
    boxes: Sandboxes, database: str, database_store: SnapshotStore
) -> None:
    services = services_for(boxes, database)
    fanout = services.fanout
    orgs, users = users_but_their_last_unit_while_companies_go(fanout)
    gateway = services.hubspot
    associate = gateway.associate
    ended_meanwhile: list[list[RunResult]] = []

    def associate_then_end_the_child(*args: Any, **kwargs: Any) -> set[tuple[str, str]]:
        if not ended_meanwhile:  # the users' last unit ends while the companies' finish links
            ended_meanwhile.append(fanout.run_unit(users.units[-1], keep_going=False))
        return associate(*args, **kwargs)

    gateway.associate = associate_then_end_the_child  # type: ignore[method-assign]
    finished = orgs.run_first(fanout)
    assert ended_meanwhile == [[]]  # its finish waited for the companies' run
    assert [(r.stream, r.status) for r in finished] == [
        (WORKWAYS_ORGANIZATIONS.name, "succeeded"),
        (WORKWAYS_USERS.name, "succeeded"),  # then it was finished
    ]
    sent = [e.batch_size or 0 for e in boxes.hubspot.request_log if "/associate/" in e.path]
    linked = sum(
        len(boxes.hubspot.store.associations("contacts", c["id"], "companies"))
        for c in boxes.hubspot.store.objects("contacts")
    )
    assert sum(sent) == linked  # each pair sent once
    assert finished[1].hubspot_calls["associate"] == len(sent)  # the early links counted
    assert_converged(boxes, database_store)
    services.close()
    services.db.dispose()


def test_outside_counts_for_a_run_whose_finish_began_are_refused(
    boxes: Sandboxes, either_database: str
) -> None:
    services = services_for(boxes, either_database)
    orgs = services.fanout.start(WORKWAYS_ORGANIZATIONS)
    units = services.fanout.units
    assert units.add_outside_counts(orgs.run_id, {"failed": 2, "hubspot:associate": 1})
    assert units.add_outside_counts(orgs.run_id, {"failed": 1})
    outside = units.get_run(orgs.run_id).outside_counts
    assert outside == {"source_calls": 1, "failed": 3, "hubspot:associate": 1}  # page 1 too
    (result,) = orgs.run_first(services.fanout)
    assert result.counts["failed"] == 3 and result.status == "finished_with_failures"
    assert result.hubspot_calls["associate"] == 1
    assert not units.add_outside_counts(orgs.run_id, {"failed": 1})  # finished: nothing written
    with services.store.sessions() as session:
        assert session.scalars(select(RunItem)).first() is None
    services.close()
    services.db.dispose()


def test_a_run_planned_at_the_same_moment_as_its_parent_run_still_waits_for_it(
    boxes: Sandboxes, database: str, database_store: SnapshotStore
) -> None:
    """Two workers planned both streams at once: the users' run saw no companies' run."""
    services = services_for(boxes, database)
    users = services.fanout.start(WORKWAYS_USERS, trigger="beat")
    orgs = services.fanout.start(WORKWAYS_ORGANIZATIONS, trigger="beat")
    assert users.run_first(services.fanout, keep_going=True, runs={users.run_id}) == []
    assert runs(database_store)[0].after_run_id == orgs.run_id  # it waits for the companies
    finished = orgs.run_first(services.fanout, keep_going=True, runs={orgs.run_id})
    assert [(r.stream, r.status) for r in finished] == [
        ("workways.organizations", "succeeded"),
        ("workways.users", "succeeded"),
    ]
    assert finished[1].counts["failed"] == 0
    assert_converged(boxes, database_store)
    services.close()
    services.db.dispose()


def test_idle_workers_take_units_of_runs_others_wait_for_first(
    boxes: Sandboxes, database: str
) -> None:
    services = services_for(boxes, database)
    users = services.fanout.start(WORKWAYS_USERS, trigger="beat")  # the older run
    orgs = services.fanout.start(WORKWAYS_ORGANIZATIONS, trigger="beat")
    assert PARENT_STREAMS[0] == WORKWAYS_ORGANIZATIONS.name
    claim = services.units.claim_next(None, None, PARENT_STREAMS)
    assert claim is not None and claim.run_id == orgs.run_id
    claim = services.units.claim_next(None, {users.run_id}, PARENT_STREAMS)
    assert claim is not None and claim.run_id == users.run_id  # limited to the runs given
    services.close()
    services.db.dispose()


def test_heartbeats_are_written_sparingly_and_a_silent_unit_is_claimed_again(
    database_store: SnapshotStore,
) -> None:
    now = [datetime(2026, 1, 1, tzinfo=UTC)]
    units = RunUnits(database_store.sessions, clock=lambda: now[0], stale_after=timedelta(100))
    _, (unit,) = units.create(
        "workways.users",
        trigger="beat",
        mode="incremental",
        ranges=[(1, 5)],
        pages=5,
        total=1000,
        fence=None,
        lease=None,
        after_run_id=None,
    )

    def beat_at(days: float) -> datetime | None:
        now[0] = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(days)
        units.heartbeat(unit)
        with database_store.sessions() as session:
            return session.get_one(RunUnit, unit).heartbeat_at

    assert units.claim(unit) is not None
    written = beat_at(1)
    assert written is not None
    assert beat_at(5) == written  # within a tenth of the threshold: not written
    assert beat_at(12) != written
    now[0] += timedelta(99)
    assert units.claim_next() is None  # still fresh
    now[0] += timedelta(2)
    claim = units.claim_next()  # silent for longer than the threshold: claimed again
    assert claim is not None and claim.unit_id == unit


def test_an_interrupted_run_resumes_its_remaining_units_without_repeating_work(
    boxes: Sandboxes, database: str, database_store: SnapshotStore
) -> None:
    crashed = services_for(boxes, database)
    users_by_5 = dataclasses.replace(WORKWAYS_USERS, pages_per_unit=5)  # 8 pages: 2 units
    started = [
        crashed.fanout.start(stream, trigger="beat")
        for stream in (WORKWAYS_ORGANIZATIONS, users_by_5)
    ]
    for run in started:
        run.run_first(crashed.fanout)  # then the process dies: users' 2nd unit never ran
    crashed.close()
    crashed.db.dispose()
    assert len(hubspot_by_key(boxes, "contacts", "workways_user_id")) == 1000
    assert [r.status for r in runs(database_store)] == ["succeeded", "running"]

    results = sync_streams(services_for(boxes, database), "all")
    assert results[1].run_id == started[1].run_id  # the same run, resumed
    users = next(r for r in runs(database_store) if r.id == started[1].run_id)
    assert users.status == "succeeded" and users.seen == 1500 and users.created == 1500
    assert [u.attempts for u in units_of(database_store, users.id)] == [1, 1]
    # Every contact written once: no unit ran twice.
    assert boxes.hubspot.count(path_contains=CONTACT_UPSERTS) == math.ceil(1500 / 100)
    assert_converged(boxes, database_store)


def test_a_unit_delivered_twice_runs_once(
    boxes: Sandboxes, database: str, database_store: SnapshotStore
) -> None:
    services = services_for(boxes, database)
    sync_streams(services, "all")
    users = runs(database_store)[-1]
    calls = boxes.hubspot.count()
    for unit in units_of(database_store, users.id):
        assert services.fanout.run_unit(unit.id) == []  # done: nothing to do
    assert boxes.hubspot.count() == calls
    assert RunUnits(database_store.sessions).claim(units_of(database_store, users.id)[0].id) is None
    services.db.dispose()


def test_second_start_of_a_stream_is_refused_while_its_run_holds_the_lock(
    boxes: Sandboxes, database: str, database_store: SnapshotStore, redis_client: redis.Redis[bytes]
) -> None:
    from tests.conftest import REDIS_TEST_URL

    first = services_for(boxes, database, REDIS_URL=REDIS_TEST_URL)
    second = services_for(boxes, database, REDIS_URL=REDIS_TEST_URL)
    run = first.fanout.start(WORKWAYS_ORGANIZATIONS)
    with pytest.raises(RunInProgressError, match="already in progress"):
        second.fanout.start(WORKWAYS_ORGANIZATIONS)
    assert run_units(first, [run])[0].status == "succeeded"
    second.fanout.start(WORKWAYS_ORGANIZATIONS)  # the finish freed the lock
    first.db.dispose()
    second.db.dispose()


def archived_contacts(boxes: Sandboxes) -> set[str]:
    contacts = hubspot_by_key(boxes, "contacts", "workways_user_id")
    return {k for k, c in contacts.items() if c["properties"].get("workways_archived") == "true"}


def test_a_run_whose_first_page_hubspot_holds_already_is_planned_in_larger_units(
    boxes: Sandboxes, database: str, database_store: SnapshotStore
) -> None:
    services = services_for(boxes, database)
    by_page = dataclasses.replace(WORKWAYS_USERS, pages_per_unit=1)  # 8 pages of users
    sync_streams(services, (WORKWAYS_ORGANIZATIONS,))
    sync_streams(services, (by_page,))  # everything new: one page per unit
    (unchanged,) = sync_streams(services, (by_page,))
    (full,) = sync_streams(services, (by_page,), full=True)  # everything pushed again: small units
    boxes.workways.update_user(boxes.workways.users()[0]["_id"], title="One change")
    (one_change,) = sync_streams(services, (by_page,))
    units = [r.units_total for r in runs(database_store)[1:]]
    assert units == [8, 2, 8, 2]  # 8 pages in units of 1, or of 4 when page 1 is unchanged
    assert unchanged.counts["unchanged"] == 1500 and full.counts["updated"] == 1500
    assert one_change.counts["updated"] == 1 and one_change.counts["unchanged"] == 1499
    services.db.dispose()


def test_what_no_unit_saw_is_archived_and_the_units_sightings_go_with_the_run(
    boxes: Sandboxes, database: str, database_store: SnapshotStore
) -> None:
    services = services_for(boxes, database)
    by_page = dataclasses.replace(WORKWAYS_USERS, pages_per_unit=1)  # 8 units
    sync_streams(services, (WORKWAYS_ORGANIZATIONS,))
    sync_streams(services, (by_page,))
    users = [u["_id"] for u in boxes.workways.users() if not u["isUserArchived"]]
    gone = {users[0], users[700], users[-1]}  # on the first, a middle and the last page
    for user_id in gone:
        boxes.workways.remove_user(user_id)
    before = archived_contacts(boxes)
    (result,) = sync_streams(services, (by_page,))
    assert result.status == "succeeded" and result.counts["archived"] == len(gone)
    assert archived_contacts(boxes) - before == gone
    assert runs(database_store)[-1].units_total == 2  # page 1 unchanged: units of 4 pages
    with database_store.sessions() as session:  # each unit's sightings lived until the finish
        assert session.scalars(select(RunItem).where(RunItem.run_id == result.run_id)).all() == []
    (again,) = sync_streams(services, (by_page,))  # archived already: nothing more to do
    assert again.counts["archived"] == 0 and sum(again.hubspot_calls.values()) == 0
    services.db.dispose()


class SamePageEverywhere:
    """A source that ignores the page number: every page holds page 1's records."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def user_page(self, number: int) -> Any:
        return dataclasses.replace(self.client.user_page(1), page=number)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)


def test_a_source_repeating_pages_across_units_archives_nothing(
    boxes: Sandboxes, database: str, database_store: SnapshotStore
) -> None:
    services = services_for(boxes, database)
    sync_streams(services, "all")
    boxes.workways.remove_user(boxes.workways.users()[-1]["_id"])  # gone: would be archived
    before = archived_contacts(boxes)
    looping = SamePageEverywhere(services.client_for("workways"))

    def engine_for(stream: Stream) -> SyncEngine:
        return SyncEngine(database_store, looping, services.hubspot)

    fanout = FanOut(
        database_store, RunUnits(database_store.sessions), StreamLeases(None), engine_for
    )
    run = fanout.start(WORKWAYS_USERS)
    with pytest.raises(PaginationLoopError, match=r"same (200 )?record ids"):
        for unit in [run.first_unit, *run.units]:
            assert unit is not None
            fanout.run_unit(unit, run.first_page if unit == run.first_unit else None)
    last = runs(database_store)[-1]
    assert last.status == "aborted" and last.archived == 0
    assert archived_contacts(boxes) == before
    services.close()
    services.db.dispose()


def test_two_worker_processes_share_the_units_of_one_run(broker: str, database: str) -> None:
    store = SnapshotStore(session_factory(make_engine(database)))
    with Sandboxes(users=6000, orgs=60, seed=8, latency_ms=25) as boxes:
        # One unit at a time per worker; users' pages after the first wait until two
        # workers are each in the middle of a unit, so neither can take them all.
        env = {**boxes.environment(database), "REDIS_URL": broker, "SYNC_UNIT_CONCURRENCY": "1"}
        boxes.workways.hold_pages("user-info", from_page=2)
        with (
            celery_process(worker_args("fan1"), env),
            celery_process(worker_args("fan2"), env),
        ):
            wait_until(lambda: workers_ready(broker) == 2, 60, "both workers to be ready")
            send_task(broker, "syncworker.sync_stream", entity="all", trigger="cli")
            send_task(broker, "syncworker.sync_stream", entity="all", trigger="cli")  # a duplicate

            def users_units_running() -> set[str | None]:
                users = [r for r in runs(store) if r.stream == WORKWAYS_USERS.name]
                return {
                    u.worker for r in users for u in units_of(store, r.id) if u.status == "running"
                }

            wait_until(lambda: len(users_units_running()) == 2, 60, "two workers on users' units")
            boxes.workways.release_pages()

            def finished() -> bool:
                done = [r for r in runs(store) if r.status != "running"]
                return len(done) == 2 and holds(lambda: assert_converged(boxes, store))()

            wait_until(finished, 120, "both runs to finish and HubSpot to converge")
        by_stream = {r.stream: r for r in runs(store)}
        assert len(runs(store)) == 2  # the duplicate order started no second run
        orgs, users = by_stream[WORKWAYS_ORGANIZATIONS.name], by_stream[WORKWAYS_USERS.name]
        assert (orgs.status, users.status) == ("succeeded", "succeeded")
        workers = {u.worker for u in units_of(store, users.id)}
        assert len(workers) == 2, workers  # 6,000 users = 30 pages = 6 units, on both workers
        assert boxes.hubspot.count(path_contains=CONTACT_UPSERTS) == 60
