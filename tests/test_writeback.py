"""HubSpot → Workways write-back, in-process, on PostgreSQL and the sandboxes."""

from __future__ import annotations

import random
from typing import Any

import pytest

from syncworker.sources.workways.client import WorkwaysClient
from syncworker.writeback.conflicts import ConflictResolver
from syncworker.writeback.outbox import Outbox
from syncworker.writeback.service import WritebackService
from tests.checks import assert_converged, hubspot_by_key
from tests.conftest import Wired
from tests.test_sync import write_calls


class RecordingWorkways(WorkwaysClient):
    """The real client, remembering each write it makes (a spy, not a mock)."""

    writes: list[tuple[str, str, dict[str, Any]]]

    def set_optin(self, user_id: str, optin: bool) -> Any:
        self.writes.append(("set-optin", user_id, {"optin": optin}))
        return super().set_optin(user_id, optin)

    def merge_contract(self, organization_id: str, **fields: object) -> Any:
        self.writes.append(("merge-contract", organization_id, dict(fields)))
        return super().merge_contract(organization_id, **fields)


@pytest.fixture
def wb(wired: Wired) -> Wired:
    base_url, token = wired.settings.require_workways()
    client = RecordingWorkways(base_url, token)
    client.writes = []
    wired.workways = client
    wired.sync_all()
    return wired


def service(wired: Wired, **kw: Any) -> WritebackService:
    outbox = Outbox(wired.store.sessions, retry_seconds=0.001)
    return WritebackService(wired.store, outbox, wired.gateway, wired.workways, **kw)


def writes(wired: Wired) -> list[tuple[str, str, dict[str, Any]]]:
    return wired.workways.writes  # type: ignore[attr-defined, no-any-return]


def workways_writes(wired: Wired) -> int:
    return wired.boxes.workways.count(method="POST")


def sync_with_conflicts(wired: Wired, policy: str = "hubspot") -> list[Any]:
    resolver = ConflictResolver(wired.gateway, Outbox(wired.store.sessions), policy)
    return wired.sync_all(conflicts=resolver)


def contact_of(wired: Wired, user_id: str) -> dict[str, Any]:
    return hubspot_by_key(wired.boxes, "contacts", "workways_user_id")[user_id]


def company_of(wired: Wired, org_id: str) -> dict[str, Any]:
    return hubspot_by_key(wired.boxes, "companies", "workways_org_id")[org_id]


def test_optin_flipped_in_hubspot_reaches_workways_without_echo(wb: Wired) -> None:
    user = next(u for u in wb.boxes.workways.users() if not u["isUserArchived"])
    contact = contact_of(wb, user["_id"])
    flipped = "false" if user["newsOptin"] else "true"
    wb.boxes.hubspot.store.edit_property(
        "contacts", contact["id"], "workways_newsletter_optin", flipped
    )
    result = service(wb).run([("contacts", contact["id"])], trigger="webhook")
    assert result.written == 1
    assert wb.boxes.workways.get_user(user["_id"])["newsOptin"] is (flipped == "true")
    assert writes(wb) == [("set-optin", user["_id"], {"optin": flipped == "true"})]
    wb.boxes.hubspot.clear_log()
    wb.boxes.workways.clear_log()
    for _ in range(10):
        sync_with_conflicts(wb)
    assert write_calls(wb) == 0 and workways_writes(wb) == 0
    assert_converged(wb.boxes, wb.store)


def test_polling_finds_the_same_change_without_webhooks(wb: Wired) -> None:
    user = next(u for u in wb.boxes.workways.users() if not u["isUserArchived"])
    contact = contact_of(wb, user["_id"])
    flipped = "false" if user["newsOptin"] else "true"
    wb.boxes.hubspot.store.edit_property(
        "contacts", contact["id"], "workways_newsletter_optin", flipped
    )
    result = service(wb).poll()
    assert result.written == 1 and result.examined >= 1
    assert wb.boxes.workways.get_user(user["_id"])["newsOptin"] is (flipped == "true")
    assert service(wb).poll().written == 0  # nothing new since the checkpoint


def test_contract_change_is_one_merge_contract_with_exactly_those_fields(wb: Wired) -> None:
    org = next(o for o in wb.boxes.workways.organizations() if not o["isArchived"])
    company = company_of(wb, org["_id"])
    edit = wb.boxes.hubspot.store.edit_property
    edit("companies", company["id"], "workways_contract_end_date", "2031-06-30")
    edit("companies", company["id"], "workways_renewal_months", "18")
    service(wb).run([("companies", company["id"])] * 3, trigger="webhook")
    assert writes(wb) == [
        ("merge-contract", org["_id"], {"rentalEndAt": "2031-06-30", "rentalRenewal": 18})
    ]
    after = wb.boxes.workways.get_organization(org["_id"])
    assert after["contractEndDate"] == "2031-06-30" and after["renewalMonths"] == 18
    wb.boxes.hubspot.clear_log()
    sync_with_conflicts(wb)
    assert write_calls(wb) == 0  # Workways' new updatedAt aside, nothing to push back


def test_duplicate_and_shuffled_events_write_back_the_latest_value_once(wb: Wired) -> None:
    org = next(o for o in wb.boxes.workways.organizations() if not o["isArchived"])
    company = company_of(wb, org["_id"])
    edit = wb.boxes.hubspot.store.edit_property
    edit("companies", company["id"], "workways_contract_end_date", "2030-01-31")
    edit("companies", company["id"], "workways_contract_end_date", "2032-12-31")
    deliveries = [[("companies", company["id"])] for _ in range(3)]
    random.Random(4).shuffle(deliveries)
    for delivery in deliveries:  # three deliveries, each processed on its own
        service(wb).run(delivery, trigger="webhook")
    assert writes(wb) == [("merge-contract", org["_id"], {"rentalEndAt": "2032-12-31"})]
    assert wb.boxes.workways.get_organization(org["_id"])["contractEndDate"] == "2032-12-31"


def test_conflict_hubspot_wins_by_default(wb: Wired) -> None:
    org = next(o for o in wb.boxes.workways.organizations() if not o["isArchived"])
    company = company_of(wb, org["_id"])
    wb.boxes.hubspot.store.edit_property(
        "companies", company["id"], "workways_contract_end_date", "2030-01-01"
    )
    wb.boxes.workways.update_organization(
        org["_id"], contractEndDate="2029-05-05", vatNumber="FR99999999999"
    )  # both sides changed
    orgs_run = sync_with_conflicts(wb)[0]
    assert orgs_run.counts["conflicts"] == 1
    pushed = company_of(wb, org["_id"])["properties"]
    assert pushed["workways_vat_number"] == "FR99999999999"  # the rest still synced
    assert pushed["workways_contract_end_date"] == "2030-01-01"  # HubSpot's edit kept
    service(wb).run([], trigger="poll")  # delivers the intent the conflict recorded
    assert wb.boxes.workways.get_organization(org["_id"])["contractEndDate"] == "2030-01-01"
    (run,) = [r for r in wb.store.recent_runs(20) if r.id == orgs_run.run_id]
    assert run.conflicts == 1
    wb.boxes.hubspot.clear_log()
    sync_with_conflicts(wb)
    assert write_calls(wb) == 0


def test_conflict_policy_workways_pushes_workways_value(wb: Wired) -> None:
    org = next(o for o in wb.boxes.workways.organizations() if not o["isArchived"])
    company = company_of(wb, org["_id"])
    wb.boxes.hubspot.store.edit_property(
        "companies", company["id"], "workways_renewal_months", "24"
    )
    service(wb).examine([("companies", company["id"])], result=_Result())  # intent open
    wb.boxes.workways.update_organization(org["_id"], renewalMonths=36)
    orgs_run = sync_with_conflicts(wb, policy="workways")[0]
    assert orgs_run.counts["conflicts"] == 1
    assert company_of(wb, org["_id"])["properties"]["workways_renewal_months"] == "36"
    assert service(wb).run([], trigger="poll").written == 0  # the intent was superseded
    assert writes(wb) == []


def test_workways_down_keeps_the_intent_then_lands(wb: Wired) -> None:
    user = next(u for u in wb.boxes.workways.users() if not u["isUserArchived"])
    contact = contact_of(wb, user["_id"])
    flipped = "false" if user["newsOptin"] else "true"
    wb.boxes.hubspot.store.edit_property(
        "contacts", contact["id"], "workways_newsletter_optin", flipped
    )
    wb.boxes.workways.set_fault(error_rate=1.0, status=503)
    wb.workways._retry = wb.workways._retry.no_retry()  # type: ignore[attr-defined]
    first = service(wb, max_attempts=3).run([("contacts", contact["id"])], trigger="webhook")
    assert first.failed == 1 and first.written == 0
    (intent,) = Outbox(wb.store.sessions).listing()
    assert intent.status == "pending" and intent.attempts == 1 and intent.last_error
    wb.boxes.workways.set_fault(error_rate=0.0)
    later = service(wb, max_attempts=3).run([], trigger="poll")  # a new process, later
    assert later.written == 1
    assert wb.boxes.workways.get_user(user["_id"])["newsOptin"] is (flipped == "true")


def test_refused_writeback_is_quarantined_at_once(wb: Wired) -> None:
    user = next(u for u in wb.boxes.workways.users() if not u["isUserArchived"])
    contact = contact_of(wb, user["_id"])
    wb.boxes.hubspot.store.edit_property(
        "contacts",
        contact["id"],
        "workways_newsletter_optin",
        "false" if user["newsOptin"] else "true",
    )
    wb.boxes.workways.remove_user(user["_id"])
    result = service(wb).run([("contacts", contact["id"])], trigger="webhook")
    assert result.quarantined == 1
    (intent,) = Outbox(wb.store.sessions).listing()
    assert intent.status == "quarantined" and "not found" in (intent.last_error or "").lower()
    assert Outbox(wb.store.sessions).release() == 1


class _Result:
    examined = intents = written = failed = quarantined = 0


def test_a_wrongly_shaped_value_quarantines_that_intent_alone(wb: Wired) -> None:
    """A number property holding text (left by an import) cannot be written back: that
    intent is quarantined with the reason; the pass writes every other intent, the
    same organization's other edit included (issue 17, point 2)."""
    first, second = (o["_id"] for o in wb.boxes.workways.organizations()[:2])
    spoiled, other = company_of(wb, first), company_of(wb, second)
    wb.boxes.hubspot.store.force_property(
        "companies", spoiled["id"], "workways_renewal_months", "ten"
    )
    wb.boxes.hubspot.store.edit_property(
        "companies", spoiled["id"], "workways_contract_end_date", "2031-06-30"
    )
    wb.boxes.hubspot.store.edit_property(
        "companies", other["id"], "workways_contract_start_date", "2024-02-01"
    )
    result = service(wb).run(
        [("companies", spoiled["id"]), ("companies", other["id"])], trigger="webhook"
    )
    assert (result.intents, result.written, result.quarantined) == (3, 2, 1)
    assert sorted(writes(wb)) == [
        ("merge-contract", first, {"rentalEndAt": "2031-06-30"}),
        ("merge-contract", second, {"rentalStartAt": "2024-02-01"}),
    ]
    (held,) = Outbox(wb.store.sessions).listing("quarantined")
    assert (held.source_id, held.parameter) == (first, "rentalRenewal")
    assert held.last_error == "rentalRenewal: HubSpot holds a value that is not a number"
    assert wb.boxes.workways.get_organization(first)["contractEndDate"] == "2031-06-30"
    again = service(wb).run([("companies", spoiled["id"])], trigger="webhook")
    assert again.written == 0 and writes(wb)[2:] == []  # quarantined: not tried again


def test_a_key_found_on_another_record_is_never_written_back(wb: Wired) -> None:
    """A deleted contact's ``workways_user_id`` put on another contact with another
    opt-in: zero Workways writes for that user (issue 17, point 4)."""
    user = next(u for u in wb.boxes.workways.users() if not u["isUserArchived"])
    deleted = contact_of(wb, user["_id"])
    hubspot = wb.boxes.hubspot.store
    hubspot.delete_object("contacts", deleted["id"])
    impostor = hubspot.add_object(
        "contacts",
        {
            "firstname": "Someone",
            "workways_user_id": user["_id"],
            "workways_newsletter_optin": "false" if user["newsOptin"] else "true",
        },
    )
    before = workways_writes(wb)
    result = service(wb).run([("contacts", impostor)], trigger="webhook")
    polled = service(wb).poll()
    assert (result.examined, result.intents, result.stray_keys) == (1, 0, 1)
    assert polled.intents == 0 and polled.written == 0
    assert workways_writes(wb) == before and writes(wb) == []
    assert wb.boxes.workways.get_user(user["_id"])["newsOptin"] is user["newsOptin"]
    assert Outbox(wb.store.sessions).listing() == []
