"""The sync engine against the sandboxes, with the snapshot store on real PostgreSQL."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

import pytest
from sqlalchemy import Connection, event, update

from syncworker.hubspot.gateway import HubSpotGateway
from syncworker.hubspot.responses import RecordOutcome, UpsertRecord
from syncworker.mapping import ObjectMapping
from syncworker.sources.workways.mapping import CONTACT_MAPPING
from syncworker.sources.workways.streams import WORKWAYS_ORGANIZATIONS, WORKWAYS_USERS
from syncworker.store.models import SyncedRecord
from tests.checks import assert_converged, hubspot_by_key
from tests.conftest import Wired

WRITE_PATHS = (
    "/batch/upsert",
    "/batch/associate",
    "/batch/archive",
    "/batch/create",
    "/batch/update",
)


def write_calls(wired: Wired) -> int:
    return sum(wired.boxes.hubspot.count(method="POST", path_contains=p) for p in WRITE_PATHS)


class RecordingGateway(HubSpotGateway):
    """The real gateway, remembering what each write carried (a spy, not a mock):
    upserts (new records) and updates by id (records the snapshot holds)."""

    sent: list[tuple[str, UpsertRecord]]

    def upsert(
        self, object_type: str, id_property: str, records: Sequence[UpsertRecord], **kw: Any
    ) -> list[RecordOutcome]:
        self.sent.extend((object_type, r) for r in records)
        return super().upsert(object_type, id_property, records, **kw)

    def update_records(
        self, object_type: str, records: Sequence[tuple[str, UpsertRecord]]
    ) -> list[RecordOutcome]:
        self.sent.extend((object_type, r) for _, r in records)
        return super().update_records(object_type, records)


@pytest.fixture
def spy(wired: Wired) -> RecordingGateway:
    gateway = RecordingGateway(wired.boxes.hubspot_url, wired.settings.require_hubspot()[1])
    gateway.sent = []
    wired.gateway = gateway
    return gateway


def test_first_sync_creates_everything_in_full_batches(wired: Wired) -> None:
    users, orgs = wired.boxes.workways.users(), wired.boxes.workways.organizations()
    results = wired.sync_all()
    assert [r.status for r in results] == ["succeeded", "succeeded"]
    assert results[0].counts["created"] == len(orgs)
    assert results[1].counts["created"] == len(users)
    hubspot = wired.boxes.hubspot
    assert hubspot.count(path_contains="/companies/batch/upsert") == math.ceil(len(orgs) / 100)
    assert hubspot.count(path_contains="/contacts/batch/upsert") == math.ceil(len(users) / 100)
    assert_converged(wired.boxes, wired.store)


def test_second_sync_with_nothing_changed_makes_no_hubspot_call(wired: Wired) -> None:
    wired.sync_all()
    wired.boxes.hubspot.clear_log()
    results = wired.sync_all()
    assert sum(r.counts["unchanged"] for r in results) == sum(r.counts["seen"] for r in results)
    assert len(wired.boxes.hubspot.request_log) == 0


def test_changes_push_exactly_the_changed_records_and_properties(
    wired: Wired, spy: RecordingGateway
) -> None:
    wired.sync_all()
    spy.sent.clear()
    ww = wired.boxes.workways
    active = [u for u in ww.users() if not u["isUserArchived"]]
    changed_users = {u["_id"]: u for u in active[:7]}
    for n, user_id in enumerate(changed_users):
        ww.update_user(user_id, title=f"Head of plants {n}")
    org = ww.organizations()[0]
    ww.update_organization(org["_id"], renewalMonths=(org["renewalMonths"] or 0) + 6)

    results = wired.sync_all()

    assert results[0].counts["updated"] == 1 and results[1].counts["updated"] == 7
    sent_users = {r.key: r.properties for kind, r in spy.sent if kind == "contacts"}
    assert set(sent_users) == set(changed_users)
    for props in sent_users.values():
        # the title and Workways' own "last update" date, nothing else
        assert set(props) <= {"jobtitle", "workways_updated_at"} and "jobtitle" in props
    sent_orgs = {r.key: r.properties for kind, r in spy.sent if kind == "companies"}
    assert set(sent_orgs) == {org["_id"]}
    assert "workways_renewal_months" in sent_orgs[org["_id"]]
    assert "name" not in sent_orgs[org["_id"]]
    assert_converged(wired.boxes, wired.store)


def test_changed_email_keeps_the_same_contact(wired: Wired) -> None:
    wired.sync_all()
    user = wired.boxes.workways.users()[0]
    before = hubspot_by_key(wired.boxes, "contacts", "workways_user_id")[user["_id"]]
    wired.boxes.workways.update_user(user["_id"], email="  New.Address@Example.ORG ")
    wired.sync_all()
    after = hubspot_by_key(wired.boxes, "contacts", "workways_user_id")[user["_id"]]
    assert after["id"] == before["id"]
    assert after["properties"]["email"] == "new.address@example.org"
    assert_converged(wired.boxes, wired.store)


def test_user_moving_organization_changes_association(wired: Wired) -> None:
    wired.sync_all()
    ww = wired.boxes.workways
    user = next(u for u in ww.users() if u["organizationId"])
    target = next(o for o in ww.organizations() if o["_id"] != user["organizationId"])
    ww.update_user(user["_id"], organizationId=target["_id"])
    wired.sync_all()
    contact = hubspot_by_key(wired.boxes, "contacts", "workways_user_id")[user["_id"]]
    company = hubspot_by_key(wired.boxes, "companies", "workways_org_id")[target["_id"]]
    assert wired.boxes.hubspot.store.associations("contacts", contact["id"], "companies") == [
        company["id"]
    ]
    assert_converged(wired.boxes, wired.store)


def test_removed_and_archived_records_are_flagged_never_deleted(wired: Wired) -> None:
    wired.sync_all()
    ww = wired.boxes.workways
    active = [u for u in ww.users() if not u["isUserArchived"]]
    gone, archived = active[0], active[1]
    ww.remove_user(gone["_id"])
    ww.update_user(archived["_id"], isUserArchived=True)
    results = wired.sync_all()
    assert results[1].counts["archived"] == 2
    contacts = hubspot_by_key(wired.boxes, "contacts", "workways_user_id")
    assert contacts[gone["_id"]]["properties"]["workways_archived"] == "true"
    assert contacts[archived["_id"]]["properties"]["workways_archived"] == "true"
    assert not contacts[gone["_id"]]["archived"]
    wired.boxes.hubspot.clear_log()
    assert wired.sync_all()[1].counts["archived"] == 0  # flagged once only
    assert write_calls(wired) == 0


def test_a_pass_that_would_archive_a_third_of_the_users_archives_nothing_until_confirmed(
    wired: Wired,
) -> None:
    wired.sync_all()
    ww = wired.boxes.workways
    active = [u for u in ww.users() if not u["isUserArchived"]]
    removed = active[: len(active) // 3]  # 30% and more: far over the 10% guard
    for user in removed:
        ww.remove_user(user["_id"])
    orgs, users = wired.sync_all(archive_guard_percent=10)
    assert orgs.status == "succeeded"
    assert (users.status, users.counts["archived"], users.counts["failed"]) == (
        "finished_with_failures",
        0,
        0,
    )
    assert users.error is not None
    assert f"{len(removed)} of {len(active)} synced records would be archived" in users.error
    assert "--allow-mass-archive" in users.error
    contacts = hubspot_by_key(wired.boxes, "contacts", "workways_user_id")
    assert all(contacts[u["_id"]]["properties"]["workways_archived"] == "false" for u in removed)
    (recorded,) = wired.store.recent_runs(stream=WORKWAYS_USERS.name, limit=1)
    assert recorded.status == "finished_with_failures" and recorded.error == users.error

    _, confirmed = wired.sync_all(archive_guard_percent=10, allow_mass_archive=True)
    assert (confirmed.status, confirmed.counts["archived"]) == ("succeeded", len(removed))
    contacts = hubspot_by_key(wired.boxes, "contacts", "workways_user_id")
    assert all(contacts[u["_id"]]["properties"]["workways_archived"] == "true" for u in removed)


def test_dry_run_writes_nothing_anywhere(wired: Wired) -> None:
    result = wired.run(WORKWAYS_ORGANIZATIONS, dry_run=True)
    assert result.counts["created"] == len(wired.boxes.workways.organizations())
    assert {c.action for c in result.planned} == {"create"}
    assert len(wired.boxes.hubspot.request_log) == 0
    assert wired.store.recent_runs() == []
    assert (
        wired.store.load(WORKWAYS_ORGANIZATIONS.name, [c.source_id for c in result.planned]) == {}
    )


def test_dry_run_lists_changed_fields(wired: Wired) -> None:
    wired.sync_all()
    user = wired.boxes.workways.users()[3]
    wired.boxes.workways.update_user(user["_id"], title="Barista", phone="+33 6 11 22 33 44")
    result = wired.run(WORKWAYS_USERS, dry_run=True)
    (change,) = result.planned
    line = change.describe(WORKWAYS_USERS.mapping.personal_properties())
    assert "jobtitle" in line and "'Barista'" in line
    assert "phone (changed)" in line and "11 22 33" not in line


def test_dry_run_plans_a_move_to_a_new_company_without_calling_it_a_failure(
    wired: Wired,
) -> None:
    """A real run creates the company before it links the user: the dry run, which
    creates nothing, plans the link instead of failing it."""
    wired.sync_all()
    ww = wired.boxes.workways
    org_id = ww.add_organization(name="Atelier Nouveau")
    user = next(u for u in ww.users() if not u["isUserArchived"] and u.get("organizationId"))
    ww.update_user(user["_id"], organizationId=org_id)
    orgs, users = wired.sync_all(dry_run=True)
    assert [(c.source_id, c.action) for c in orgs.planned] == [(org_id, "create")]
    assert users.counts["failed"] == 0 and users.status == "succeeded"
    assert ("associate", {"workways_organization_id": org_id}) in [
        (c.action, c.properties) for c in users.planned if c.source_id == user["_id"]
    ]
    assert wired.store.failures.rows() == []


def test_full_resync_rewrites_every_record(wired: Wired) -> None:
    wired.sync_all()
    results = wired.sync_all(full=True)
    assert sum(r.counts["updated"] for r in results) == sum(r.counts["seen"] for r in results)
    assert_converged(wired.boxes, wired.store)


def test_record_rejected_by_hubspot_is_retried_next_run(wired: Wired) -> None:
    ww = wired.boxes.workways
    bad = next(u for u in ww.users() if not u["isUserArchived"])
    ww.update_user(bad["_id"], email="not-an-email")
    results = wired.sync_all()
    assert results[1].counts["failed"] == 1
    assert results[1].status == "finished_with_failures"
    (failure,) = wired.store.failures.rows()
    assert failure.source_id == bad["_id"] and failure.stage == "upsert"
    assert "not-an-email" not in failure.last_error
    assert wired.store.load(WORKWAYS_USERS.name, [bad["_id"]]) == {}
    ww.update_user(bad["_id"], email="fixed@example.com")
    results = wired.sync_all()
    assert results[1].counts["created"] == 1 and results[1].counts["failed"] == 0
    assert wired.store.failures.rows() == []
    assert_converged(wired.boxes, wired.store)


def test_interrupted_sync_converges_on_rerun(wired: Wired, spy: RecordingGateway) -> None:
    def crash_on(page: int) -> Any:
        def progress(event: Any) -> None:
            if event.page == page:
                raise KeyboardInterrupt  # as a killed process would stop, mid-run

        return progress

    wired.workways.page_size = 8  # 3 pages of organizations, 15 of users
    users = dataclasses.replace(
        WORKWAYS_USERS, pages_per_partition=15
    )  # one partition of 120 users
    with pytest.raises(KeyboardInterrupt):
        wired.run(WORKWAYS_ORGANIZATIONS, progress=crash_on(2))
    wired.run(WORKWAYS_ORGANIZATIONS)  # resumes and completes, so users find their companies
    with pytest.raises(KeyboardInterrupt):
        wired.run(users, progress=crash_on(14))  # after one batch of 100
    assert any(kind == "contacts" for kind, _ in spy.sent), "the crash came after a push"
    (interrupted,) = wired.store.recent_runs(stream=users.name)
    assert interrupted.status == "running"  # left for the next run to resume
    spy.sent.clear()
    resumed = wired.run(users)
    assert resumed.run_id == interrupted.id and resumed.status == "succeeded"
    resent = [r.key for kind, r in spy.sent if kind == "contacts"]
    assert len(resent) == len(set(resent)) <= 20  # only what the crash left unconfirmed
    assert_converged(wired.boxes, wired.store)


# ----------------------------------------------------------------- source digests


def user_snapshots(wired: Wired) -> dict[str, Any]:
    ids = [u["_id"] for u in wired.boxes.workways.users()]
    return wired.store.load(WORKWAYS_USERS.name, ids)


@dataclasses.dataclass(frozen=True)
class CountingMapping(ObjectMapping):
    """The real mapping, counting the records it maps (a spy, not a mock)."""

    mapped: list[str] = dataclasses.field(default_factory=list, compare=False)

    def to_properties(self, record: Any, detail: Any = None) -> dict[str, str]:
        self.mapped.append(record["_id"])
        return super().to_properties(record, detail)


def test_a_record_read_as_hubspot_confirmed_it_is_not_compared_again_until_it_changes(
    wired: Wired, pg_connection: Connection
) -> None:
    fields = {f.name: getattr(CONTACT_MAPPING, f.name) for f in dataclasses.fields(ObjectMapping)}
    counting = CountingMapping(**fields)
    users = dataclasses.replace(WORKWAYS_USERS, mapping=counting)
    assert counting.version == CONTACT_MAPPING.version
    wired.sync_all()
    assert len(counting.mapped) == 0 and wired.run(users).counts["unchanged"] > 0
    assert len(counting.mapped) == 0  # every user read as HubSpot confirmed it
    snapshots = user_snapshots(wired)
    assert all(s.source_digest for s in snapshots.values())  # noted with every confirmation
    writes: list[str] = []

    @event.listens_for(pg_connection, "before_cursor_execute")
    def watch(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith(("UPDATE", "INSERT", "DELETE")):
            writes.append(statement)

    results = wired.sync_all()  # nothing changed: nothing mapped, nothing written
    assert sum(r.counts["unchanged"] for r in results) == sum(r.counts["seen"] for r in results)
    assert not [w for w in writes if "synced_records" in w]
    event.remove(pg_connection, "before_cursor_execute", watch)

    # Changed on the Workways side: a new digest, compared and pushed.
    ww = wired.boxes.workways
    moved = next(u for u in ww.users() if not u["isUserArchived"])
    ww.update_user(moved["_id"], title="Head of Benchmarks")
    wired.boxes.hubspot.clear_log()
    assert wired.run(users).counts["updated"] == 1
    assert counting.mapped == [moved["_id"]]  # the one record read differently
    after = wired.store.load(WORKWAYS_USERS.name, [moved["_id"]])[moved["_id"]]
    assert after.source_digest not in (None, snapshots[moved["_id"]].source_digest)
    assert after.properties["jobtitle"] == "Head of Benchmarks"


def test_a_snapshot_edited_since_is_compared_again_and_a_missing_digest_is_noted_once(
    wired: Wired,
) -> None:
    wired.sync_all()
    ww_user = next(u for u in wired.boxes.workways.users() if u.get("title"))
    sid = ww_user["_id"]
    # A write-back moved the snapshot (HubSpot's value, Workways not updated yet):
    # the record is compared again, and the source's value goes out.
    wired.store.apply_writeback(WORKWAYS_USERS.name, sid, {"jobtitle": "Set in HubSpot"})
    assert user_snapshots(wired)[sid].source_digest is None
    # Digests forgotten (as right after the upgrade that added them): noted, not pushed.
    with wired.store.sessions.begin() as session:
        session.execute(
            update(SyncedRecord)
            .where(SyncedRecord.stream == WORKWAYS_USERS.name, SyncedRecord.source_id != sid)
            .values(source_digest=None)
        )
    wired.boxes.hubspot.clear_log()
    results = wired.sync_all()
    assert results[1].counts["updated"] == 1 and results[1].counts["failed"] == 0
    # the record HubSpot holds is updated by its id (keys stay with their records)
    assert wired.boxes.hubspot.count(path_contains="/contacts/batch/update") == 1
    assert wired.boxes.hubspot.count(path_contains="/contacts/batch/upsert") == 0
    assert (
        hubspot_by_key(wired.boxes, "contacts", "workways_user_id")[sid]["properties"]["jobtitle"]
        == ww_user["title"].strip()
    )
    assert all(s.source_digest for s in user_snapshots(wired).values())
    assert_converged(wired.boxes, wired.store)


def test_a_source_digest_depends_on_the_record_and_the_mapping_not_on_key_order() -> None:
    record = {"_id": "a1", "firstName": "Ada", "email": "ada@example.com", "newsOptin": True}
    digest = CONTACT_MAPPING.source_digest(record)
    assert CONTACT_MAPPING.source_digest(dict(reversed(record.items()))) == digest
    assert CONTACT_MAPPING.source_digest({**record, "newsOptin": False}) != digest
    assert CONTACT_MAPPING.source_digest({**record, "newsOptin": 1}) != digest
    renamed = dataclasses.replace(
        CONTACT_MAPPING,
        fields=tuple(
            dataclasses.replace(f, target="jobtitle_2") if f.target == "jobtitle" else f
            for f in CONTACT_MAPPING.fields
        ),
    )
    assert renamed.source_digest(record) != digest  # another table: compare everything again


def test_a_record_read_as_confirmed_still_gets_the_association_it_lacks(wired: Wired) -> None:
    wired.sync_all()
    member = next(u for u in wired.boxes.workways.users() if u.get("organizationId"))
    sid = member["_id"]
    # Its association was never confirmed (say the call failed): the record itself
    # is read as HubSpot holds it, so only the association is missing.
    wired.store.set_associations(WORKWAYS_USERS.name, {sid: None})
    wired.boxes.hubspot.clear_log()
    results = wired.sync_all()
    assert results[1].counts["unchanged"] == results[1].counts["seen"]
    assert wired.boxes.hubspot.count(path_contains="/associations/") >= 1
    assert wired.boxes.hubspot.count(path_contains="/batch/upsert") == 0
    assert wired.boxes.hubspot.count(path_contains="/batch/update") == 0
    after = wired.store.load(WORKWAYS_USERS.name, [sid])[sid]
    assert after.associated_to == member["organizationId"]
