"""Runs over partitions: shared by workers, tracked in the database, resumable."""

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
from syncworker.app.sync import interleave, run_partitions, sync_streams
from syncworker.config import Settings
from syncworker.engine.fanout import PARENT_STREAMS, FanOut
from syncworker.engine.sync import SyncEngine
from syncworker.errors import PaginationLoopError, RunInProgressError, SourceAuthError
from syncworker.locks import StreamLeases
from syncworker.sources.streams import Stream
from syncworker.sources.workways.streams import WORKWAYS_ORGANIZATIONS, WORKWAYS_USERS
from syncworker.store.database import make_engine, session_factory
from syncworker.store.models import RunItem, RunPartition, SyncRun
from syncworker.store.partitions import Partitions
from syncworker.store.snapshots import SnapshotStore
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


def partitions_of(store: SnapshotStore, run_id: int) -> list[RunPartition]:
    with store.sessions() as session:
        query = select(RunPartition).where(RunPartition.run_id == run_id).order_by(RunPartition.seq)
        return list(session.scalars(query))


def test_interleave_alternates_groups() -> None:
    assert interleave([[1, 2, 3], ["a"], [], ["b", "c"]]) == [1, "a", "b", 2, "c", 3]


def test_a_run_is_planned_as_partitions_of_pages_and_finished_once(
    boxes: Sandboxes, database: str, database_store: SnapshotStore
) -> None:
    services = services_for(boxes, database)
    by_3 = dataclasses.replace(WORKWAYS_USERS, pages_per_partition=3)  # 8 pages of users
    results = sync_streams(services, (WORKWAYS_ORGANIZATIONS, by_3))
    assert [r.status for r in results] == ["succeeded", "succeeded"]
    assert [r.counts["created"] for r in results] == [40, 1500]
    orgs, users = runs(database_store)
    assert (orgs.partitions_total, users.partitions_total) == (1, 3)
    assert [
        (p.first_page, p.last_page, p.status) for p in partitions_of(database_store, users.id)
    ] == [
        (1, 3, "done"),
        (4, 6, "done"),
        (7, 8, "done"),
    ]
    assert users.finishing_at is not None and users.seen == 1500
    assert orgs.finished_at is not None and users.finishing_at >= orgs.finished_at
    assert boxes.hubspot.count(path_contains=CONTACT_UPSERTS) == math.ceil(1500 / 100)
    # Each run counts its own calls, though its partitions ran side by side in one process.
    assert (orgs.source_calls, users.source_calls) == (1 + 40, 8)  # page + details; pages
    assert orgs.hubspot_calls + users.hubspot_calls == boxes.hubspot.count()
    assert results[1].hubspot_calls["upsert"] == math.ceil(1500 / 100)
    with database_store.sessions() as session:
        assert session.scalars(select(RunItem)).first() is None  # hand-over items dropped
    assert_converged(boxes, database_store)
    services.db.dispose()


def test_changes_spread_over_many_partitions_still_go_in_full_batches(
    boxes: Sandboxes, database: str, database_store: SnapshotStore
) -> None:
    services = services_for(boxes, database)
    one_page_partitions: tuple[Stream, ...] = (
        WORKWAYS_ORGANIZATIONS,
        dataclasses.replace(WORKWAYS_USERS, pages_per_partition=1),
    )
    sync_streams(services, one_page_partitions)
    changed = [u for u in boxes.workways.users() if not u["isUserArchived"]][::9][:150]
    for user in changed:
        boxes.workways.update_user(user["_id"], title="Head of focus")
    boxes.hubspot.clear_log()
    _, users = sync_streams(services, one_page_partitions)
    assert users.counts["updated"] == len(changed)
    assert runs(database_store)[-1].partitions_total == 8  # every page its own partition
    # 150 changes over 8 partitions: 1 full batch from them, the rest handed over.
    assert boxes.hubspot.count(path_contains=CONTACT_UPDATES) == math.ceil(len(changed) / 100)
    assert_converged(boxes, database_store)
    services.db.dispose()


def linked_pairs(boxes: Sandboxes) -> int:
    return sum(
        len(boxes.hubspot.store.associations("contacts", c["id"], "companies"))
        for c in boxes.hubspot.store.objects("contacts")
    )


def test_partitions_link_their_records_to_companies_hubspot_holds_during_the_run(
    boxes: Sandboxes, database: str, database_store: SnapshotStore
) -> None:
    services = services_for(boxes, database)
    sync_streams(services, (WORKWAYS_ORGANIZATIONS,))  # every company is in HubSpot
    boxes.hubspot.clear_log()
    by_page = dataclasses.replace(WORKWAYS_USERS, pages_per_partition=1)  # 8 partitions
    (users,) = sync_streams(services, (by_page,))
    assert users.status == "succeeded"
    log = [e for e in boxes.hubspot.request_log if "/batch/" in e.path]
    links = [i for i, e in enumerate(log) if "/associate/" in e.path]
    upserts = [i for i, e in enumerate(log) if e.path == CONTACT_UPSERTS]
    assert links[0] < upserts[-1]  # linking began while contacts were still going out
    assert sum(log[i].batch_size or 0 for i in links) == linked_pairs(boxes) > 1000  # once each
    assert users.hubspot_calls["associate"] == len(links)
    with database_store.sessions() as session:
        assert session.scalars(select(RunItem)).first() is None
    assert_converged(boxes, database_store)
    services.db.dispose()


@pytest.mark.parametrize("users_first", [False, True], ids=["companies-first", "same-moment"])
def test_moves_to_companies_not_in_hubspot_yet_wait_for_the_companies_run(
    boxes: Sandboxes, database: str, database_store: SnapshotStore, users_first: bool
) -> None:
    """The users' partitions all end before any company is in HubSpot: their moves are
    handed over, and the users' run is finished after the companies' run. With
    ``users_first``, two workers planned both runs at the same moment, users first."""
    services = services_for(boxes, database)
    fanout = services.fanout
    by_page = dataclasses.replace(WORKWAYS_USERS, pages_per_partition=3)  # 8 pages: 3
    if users_first:
        users = fanout.start(by_page)
        orgs = fanout.start(WORKWAYS_ORGANIZATIONS)
    else:
        orgs = fanout.start(WORKWAYS_ORGANIZATIONS)
        users = fanout.start(by_page)
    assert users.run_first(fanout, keep_going=True, runs={users.run_id}) == []  # waits
    _, moves = fanout.partitions.handed_over(users.run_id)
    assert len(moves) > 1000  # every user with a company
    assert boxes.hubspot.count(path_contains="/associate/") == 0

    finished = orgs.run_first(fanout, keep_going=True, runs={orgs.run_id})
    assert [(r.stream, r.status) for r in finished] == [
        (WORKWAYS_ORGANIZATIONS.name, "succeeded"),
        (WORKWAYS_USERS.name, "succeeded"),  # finished by the companies' run's worker
    ]
    sent = [e.batch_size or 0 for e in boxes.hubspot.request_log if "/associate/" in e.path]
    assert sent == [len(moves)] and linked_pairs(boxes) == len(moves)  # one call, each once
    assert finished[1].hubspot_calls["associate"] == 1 and finished[1].counts["failed"] == 0
    (row,) = [r for r in runs(database_store) if r.stream == WORKWAYS_USERS.name]
    assert row.hubspot_calls == sum(finished[1].hubspot_calls.values()) >= 1 + 1500 // 100
    with database_store.sessions() as session:
        assert session.scalars(select(RunItem)).first() is None  # hand-over rows go with the run
    assert_converged(boxes, database_store)
    services.close()
    services.db.dispose()


def test_a_run_that_waited_for_its_parent_run_is_finished_when_the_parent_aborts(
    boxes: Sandboxes, database: str, database_store: SnapshotStore
) -> None:
    """The companies' run aborts (the Workways token is refused while it reads the
    organizations' details): the users' run that waited for it is finished then, its
    moves to companies not in HubSpot failed by name, not left "running"."""
    services = services_for(boxes, database)
    fanout = services.fanout
    orgs = fanout.start(WORKWAYS_ORGANIZATIONS)
    users = fanout.start(dataclasses.replace(WORKWAYS_USERS, pages_per_partition=3))
    assert users.run_first(fanout, keep_going=True, runs={users.run_id}) == []  # waits
    _, moves = fanout.partitions.handed_over(users.run_id)
    assert len(moves) > 1000
    boxes.workways.token = "another-token"  # the account's token was changed
    with pytest.raises(SourceAuthError):
        orgs.run_first(fanout, keep_going=True, runs={orgs.run_id})
    by_stream = {r.stream: r for r in runs(database_store)}
    assert by_stream[WORKWAYS_ORGANIZATIONS.name].status == "aborted"
    users_run = by_stream[WORKWAYS_USERS.name]
    assert users_run.status == "finished_with_failures"
    assert users_run.failed == len(moves) and users_run.created == 1500
    assert boxes.hubspot.count(path_contains="/associate/") == 0
    assert services.partitions.active_run(WORKWAYS_USERS.name) is None
    services.close()
    services.db.dispose()


@pytest.mark.parametrize("help_others", [False, True], ids=["cli", "worker"])
def test_a_worker_whose_runs_are_done_helps_with_the_runs_of_others(
    boxes: Sandboxes, database: str, database_store: SnapshotStore, help_others: bool
) -> None:
    """Two workers each planned one run (the second found the first's stream held).
    A worker's threads with nothing left of its own run take the other run's
    partitions; the CLI's (``help_others`` off) leave them to their owner."""
    services = services_for(boxes, database)
    by_3 = dataclasses.replace(WORKWAYS_USERS, pages_per_partition=3)  # 8 pages: 3
    users = services.fanout.start(by_3)  # planned by the other worker, not worked on yet
    orgs = services.fanout.start(WORKWAYS_ORGANIZATIONS)
    finished = services.fanout.run_partitions([orgs], width=3, help_others=help_others)
    by_stream = {r.stream: r.status for r in finished}
    if help_others:
        assert by_stream == {WORKWAYS_ORGANIZATIONS.name: "succeeded", by_3.name: "succeeded"}
        assert [p.status for p in partitions_of(database_store, users.run_id)] == ["done"] * 3
        assert_converged(boxes, database_store)
    else:
        assert by_stream == {WORKWAYS_ORGANIZATIONS.name: "succeeded"}
        assert [p.status for p in partitions_of(database_store, users.run_id)] == ["pending"] * 3
    services.close()
    services.db.dispose()


def test_idle_workers_take_partitions_of_runs_others_wait_for_first(
    boxes: Sandboxes, database: str
) -> None:
    services = services_for(boxes, database)
    users = services.fanout.start(WORKWAYS_USERS, trigger="beat")  # the older run
    orgs = services.fanout.start(WORKWAYS_ORGANIZATIONS, trigger="beat")
    assert PARENT_STREAMS[0] == WORKWAYS_ORGANIZATIONS.name
    claim = services.partitions.claim_next(None, None, PARENT_STREAMS)
    assert claim is not None and claim.run_id == orgs.run_id
    claim = services.partitions.claim_next(None, {users.run_id}, PARENT_STREAMS)
    assert claim is not None and claim.run_id == users.run_id  # limited to the runs given
    services.close()
    services.db.dispose()


def test_heartbeats_are_written_sparingly_and_a_silent_partition_is_claimed_again(
    database_store: SnapshotStore,
) -> None:
    now = [datetime(2026, 1, 1, tzinfo=UTC)]
    parts = Partitions(database_store.sessions, clock=lambda: now[0], stale_after=timedelta(100))
    _, (unit,) = parts.create(
        "workways.users",
        [(1, 5)],
        trigger="beat",
        mode="incremental",
        planned_pages=5,
        planned_total=1000,
    )

    def beat_at(days: float) -> datetime | None:
        now[0] = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(days)
        parts.heartbeat(unit)
        with database_store.sessions() as session:
            return session.get_one(RunPartition, unit).heartbeat_at

    assert parts.claim(unit) is not None
    written = beat_at(1)
    assert written is not None
    assert beat_at(5) == written  # within a tenth of the threshold: not written
    assert beat_at(12) != written
    now[0] += timedelta(99)
    assert parts.claim_next() is None  # still fresh
    now[0] += timedelta(2)
    claim = parts.claim_next()  # silent for longer than the threshold: claimed again
    assert claim is not None and claim.partition_id == unit


def test_an_interrupted_run_resumes_its_remaining_partitions_without_repeating_work(
    boxes: Sandboxes, database: str, database_store: SnapshotStore
) -> None:
    crashed = services_for(boxes, database)
    users_by_5 = dataclasses.replace(WORKWAYS_USERS, pages_per_partition=5)  # 8 pages: 2
    started = [
        crashed.fanout.start(stream, trigger="beat")
        for stream in (WORKWAYS_ORGANIZATIONS, users_by_5)
    ]
    for run in started:
        run.run_first(crashed.fanout)  # then the process dies: users' 2nd partition never ran
    crashed.close()
    crashed.db.dispose()
    assert len(hubspot_by_key(boxes, "contacts", "workways_user_id")) == 1000
    assert [r.status for r in runs(database_store)] == ["succeeded", "running"]

    results = sync_streams(services_for(boxes, database), "all")
    assert results[1].run_id == started[1].run_id  # the same run, resumed
    users = next(r for r in runs(database_store) if r.id == started[1].run_id)
    assert users.status == "succeeded" and users.seen == 1500 and users.created == 1500
    assert [u.attempts for u in partitions_of(database_store, users.id)] == [1, 1]
    # Every contact written once: no partition ran twice.
    assert boxes.hubspot.count(path_contains=CONTACT_UPSERTS) == math.ceil(1500 / 100)
    assert_converged(boxes, database_store)


def test_a_partition_delivered_twice_runs_once(
    boxes: Sandboxes, database: str, database_store: SnapshotStore
) -> None:
    services = services_for(boxes, database)
    sync_streams(services, "all")
    users = runs(database_store)[-1]
    calls = boxes.hubspot.count()
    for part in partitions_of(database_store, users.id):
        assert services.fanout.run_partition(part.id) == []  # done: nothing to do
    assert boxes.hubspot.count() == calls
    first = partitions_of(database_store, users.id)[0].id
    assert Partitions(database_store.sessions).claim(first) is None
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
    assert run_partitions(first, [run])[0].status == "succeeded"
    second.fanout.start(WORKWAYS_ORGANIZATIONS)  # the finish freed the lock
    first.db.dispose()
    second.db.dispose()


def archived_contacts(boxes: Sandboxes) -> set[str]:
    contacts = hubspot_by_key(boxes, "contacts", "workways_user_id")
    return {k for k, c in contacts.items() if c["properties"].get("workways_archived") == "true"}


def test_a_run_whose_first_page_hubspot_holds_already_is_planned_in_larger_partitions(
    boxes: Sandboxes, database: str, database_store: SnapshotStore
) -> None:
    services = services_for(boxes, database)
    by_page = dataclasses.replace(WORKWAYS_USERS, pages_per_partition=1)  # 8 pages of users
    sync_streams(services, (WORKWAYS_ORGANIZATIONS,))
    sync_streams(services, (by_page,))  # everything new: one page per partition
    (unchanged,) = sync_streams(services, (by_page,))
    (full,) = sync_streams(
        services, (by_page,), full=True
    )  # everything pushed again: small partitions
    boxes.workways.update_user(boxes.workways.users()[0]["_id"], title="One change")
    (one_change,) = sync_streams(services, (by_page,))
    planned = [r.partitions_total for r in runs(database_store)[1:]]
    assert planned == [8, 2, 8, 2]  # 8 pages by 1, or by 4 when page 1 is unchanged
    assert unchanged.counts["unchanged"] == 1500 and full.counts["updated"] == 1500
    assert one_change.counts["updated"] == 1 and one_change.counts["unchanged"] == 1499
    services.db.dispose()


def test_what_no_partition_saw_is_archived_and_the_sightings_go_with_the_run(
    boxes: Sandboxes, database: str, database_store: SnapshotStore
) -> None:
    services = services_for(boxes, database)
    by_page = dataclasses.replace(WORKWAYS_USERS, pages_per_partition=1)  # 8 partitions
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
    assert runs(database_store)[-1].partitions_total == 2  # page 1 unchanged: by 4 pages
    with database_store.sessions() as session:  # hand-over rows lived until the finish
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


def test_a_source_repeating_pages_across_partitions_archives_nothing(
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
        database_store, Partitions(database_store.sessions), StreamLeases(None), engine_for
    )
    run = fanout.start(dataclasses.replace(WORKWAYS_USERS, pages_per_partition=5))
    with pytest.raises(PaginationLoopError, match=r"same (200 )?record ids"):
        for part in [run.first_partition, *run.partitions]:
            assert part is not None
            fanout.run_partition(part, run.first_page if part == run.first_partition else None)
    last = runs(database_store)[-1]
    assert last.status == "aborted" and last.archived == 0
    assert archived_contacts(boxes) == before
    services.close()
    services.db.dispose()


def test_two_worker_processes_share_the_partitions_of_one_run(broker: str, database: str) -> None:
    store = SnapshotStore(session_factory(make_engine(database)))
    with Sandboxes(users=6000, orgs=60, seed=8, latency_ms=25) as boxes:
        # One partition at a time per worker; users' pages after the first wait until
        # two workers are each in the middle of a partition, so neither takes them all.
        env = {
            **boxes.environment(database),
            "REDIS_URL": broker,
            "SYNC_PARTITION_CONCURRENCY": "1",
        }
        boxes.workways.hold_pages("user-info", from_page=2)
        with (
            celery_process(worker_args("fan1"), env),
            celery_process(worker_args("fan2"), env),
        ):
            wait_until(lambda: workers_ready(broker) == 2, 60, "both workers to be ready")
            send_task(broker, "syncworker.sync_stream", entity="all", trigger="cli")
            send_task(broker, "syncworker.sync_stream", entity="all", trigger="cli")  # a duplicate

            def users_partitions_running() -> set[str | None]:
                users = [r for r in runs(store) if r.stream == WORKWAYS_USERS.name]
                return {
                    p.worker
                    for r in users
                    for p in partitions_of(store, r.id)
                    if p.status == "running"
                }

            wait_until(lambda: len(users_partitions_running()) == 2, 60, "two workers on users")
            boxes.workways.release_pages()

            def finished() -> bool:
                done = [r for r in runs(store) if r.status != "running"]
                return len(done) == 2 and holds(lambda: assert_converged(boxes, store))()

            wait_until(finished, 120, "both runs to finish and HubSpot to converge")
        by_stream = {r.stream: r for r in runs(store)}
        assert len(runs(store)) == 2  # the duplicate order started no second run
        orgs, users = by_stream[WORKWAYS_ORGANIZATIONS.name], by_stream[WORKWAYS_USERS.name]
        assert (orgs.status, users.status) == ("succeeded", "succeeded")
        workers = {p.worker for p in partitions_of(store, users.id)}
        assert len(workers) == 2, workers  # 6,000 users = 30 pages = 3 partitions, on both
        assert boxes.hubspot.count(path_contains=CONTACT_UPSERTS) == 60


def test_a_sync_unit_message_queued_before_the_upgrade_runs_its_partition(
    broker: str, database: str
) -> None:
    """``syncworker.sync_unit`` was the task's name before units became partitions
    (migration 0015 kept their ids): such a message still in the queue runs."""
    store = SnapshotStore(session_factory(make_engine(database)))
    with Sandboxes(users=30, orgs=5, seed=9) as boxes:
        env = {**boxes.environment(database), "REDIS_URL": broker}
        services = Container(Settings.from_env(env))
        run = services.fanout.start(WORKWAYS_ORGANIZATIONS)
        with celery_process(worker_args("unit1"), env):
            wait_until(lambda: workers_ready(broker) == 1, 60, "the worker to be ready")
            send_task(broker, "syncworker.sync_unit", unit_id=run.first_partition)
            wait_until(lambda: runs(store)[0].status != "running", 60, "the run to end")
        assert runs(store)[0].status == "succeeded"
        assert len(hubspot_by_key(boxes, "companies", "workways_org_id")) == 5
        services.close()
        services.db.dispose()
